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
    /// A pruning node keeps only this many of the newest finalized blocks and their certificates
    /// (at least [`MIN_KEEP_BLOCKS`]); absent, the node is an archive node and keeps them all. The
    /// setting is fixed when the data directory is made: a node refuses to start on a directory
    /// made with the other kind.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keep_blocks: Option<u64>,
}

/// The fewest blocks a pruning node may keep: four times the span of recent heights the node
/// serves topic proofs at (`veil_consensus::application::TOPIC_HISTORY_BLOCKS`), and one section
/// of its archives.
pub const MIN_KEEP_BLOCKS: u64 = 4096;

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
        if let Some(keep) = config.keep_blocks
            && keep < MIN_KEEP_BLOCKS
        {
            return Err(ConfigError::Invalid {
                path: path.to_owned(),
                message: format!("keep_blocks is {keep}; a pruning node keeps at least {MIN_KEEP_BLOCKS} blocks"),
            });
        }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testnet::{self, LocalOptions, Ports};

    #[test]
    fn a_pruning_node_keeps_at_least_the_minimum_and_says_so() {
        let dir = std::env::temp_dir().join(format!("veil-config-keep-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let ports = [Ports { p2p: 40_100, api: 0 }];
        let configs = testnet::write(&dir, "veil-test", &ports, &LocalOptions::default()).unwrap();
        let path = &configs[0];
        let text = std::fs::read_to_string(path).unwrap();
        assert_eq!(NodeConfig::load(path).unwrap().config.keep_blocks, None, "archive by default");
        std::fs::write(path, format!("{text}keep_blocks = {}\n", MIN_KEEP_BLOCKS - 1)).unwrap();
        let error = NodeConfig::load(path).unwrap_err().to_string();
        assert!(error.contains("keep_blocks is 4095; a pruning node keeps at least 4096 blocks"), "{error}");
        std::fs::write(path, format!("{text}keep_blocks = 100000\n")).unwrap();
        assert_eq!(NodeConfig::load(path).unwrap().config.keep_blocks, Some(100_000));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
