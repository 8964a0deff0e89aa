//! The node's configuration file.

use serde::{Deserialize, Serialize};
use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
};
use veil_chain::{Genesis, GenesisError};

/// A validator's configuration (TOML). Relative paths are relative to the file's directory.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeConfig {
    /// Where the node keeps its blocks, certificates and state.
    pub data_dir: PathBuf,
    /// The genesis file.
    pub genesis: PathBuf,
    /// The validator's ed25519 identity key file (hex, mode 0600).
    pub identity_key: PathBuf,
    /// The validator's threshold share file (hex, mode 0600).
    pub share: PathBuf,
    /// The public polynomial of the validator set (hex): every validator holds the same one.
    pub polynomial: String,
    /// The p2p listening address; it must match this validator's address in genesis.
    pub p2p_listen: SocketAddr,
    /// The REST API's listening address.
    pub api_listen: SocketAddr,
    /// Worker threads of the runtime.
    #[serde(default = "default_threads")]
    pub worker_threads: usize,
}

fn default_threads() -> usize {
    2
}

/// Why a configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// Reading a file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// The configuration file is not valid.
    #[error("{path}: {message}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// The genesis file is not valid.
    #[error("{path}: {source}")]
    Genesis {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        source: GenesisError,
    },
}

/// A configuration with its paths resolved and its genesis loaded.
#[derive(Clone, Debug)]
pub struct Loaded {
    /// The configuration, paths made absolute.
    pub config: NodeConfig,
    /// The genesis.
    pub genesis: Genesis,
}

impl NodeConfig {
    /// Reads `path` and the genesis it names.
    pub fn load(path: &Path) -> Result<Loaded, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Io { path: path.to_owned(), source })?;
        let mut config: NodeConfig = toml::from_str(&text)
            .map_err(|error| ConfigError::Invalid { path: path.to_owned(), message: error.to_string() })?;
        let base = path.parent().unwrap_or(Path::new("."));
        for file in [&mut config.data_dir, &mut config.genesis, &mut config.identity_key, &mut config.share] {
            if file.is_relative() {
                *file = base.join(&*file);
            }
        }
        let genesis_text = std::fs::read_to_string(&config.genesis)
            .map_err(|source| ConfigError::Io { path: config.genesis.clone(), source })?;
        let genesis = Genesis::from_toml(&genesis_text)
            .map_err(|source| ConfigError::Genesis { path: config.genesis.clone(), source })?;
        Ok(Loaded { config, genesis })
    }

    /// The configuration file text.
    pub fn to_toml(&self) -> String {
        toml::to_string(self).unwrap_or_else(|error| format!("# cannot render configuration: {error}"))
    }
}
