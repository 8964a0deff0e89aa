//! Running a validator process.

use commonware_runtime::{Runner as _, Supervisor as _, tokio};
use std::{net::SocketAddr, num::NonZeroU64};
use veil_chain::{Chain, GenesisError};
use veil_consensus::{
    dealer::{self, DealerError},
    engine::{EngineError, History, Timeouts, ValidatorConfig},
    network::{self, Peer},
};
use veil_mempool::Limits;

use crate::{
    api::{self, ApiState},
    config::Loaded,
    keys::{self, KeyFileError},
    snapshots::SnapshotStore,
};

/// Why a validator could not start or stopped.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    /// The cluster snapshots' directory cannot be used.
    #[error("{path}: {source}")]
    Snapshots {
        /// The directory.
        path: std::path::PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// A key file is missing, unreadable or not private.
    #[error(transparent)]
    KeyFile(#[from] KeyFileError),
    /// Key material that does not decode or does not match.
    #[error(transparent)]
    Keys(#[from] DealerError),
    /// The genesis is invalid.
    #[error(transparent)]
    Genesis(#[from] GenesisError),
    /// A genesis validator entry is malformed.
    #[error("genesis validator {index}: {message}")]
    Validator {
        /// Its position in genesis.
        index: usize,
        /// What is wrong.
        message: String,
    },
    /// This node's identity is not in the genesis validator set.
    #[error("this node's identity is not one of the genesis validators")]
    NotAValidator,
    /// The validator failed to start.
    #[error(transparent)]
    Engine(#[from] EngineError),
    /// The log file cannot be opened.
    #[error("cannot open the log file {}: {source}", path.display())]
    Log {
        /// The file.
        path: std::path::PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// The API could not listen.
    #[error("cannot serve the API on {address}: {source}")]
    Listen {
        /// The address.
        address: SocketAddr,
        /// The error.
        source: std::io::Error,
    },
}

/// Where a started node can be reached.
#[derive(Clone, Copy, Debug)]
pub struct Started {
    /// The REST API's address.
    pub api: SocketAddr,
    /// The height the node resumed at.
    pub height: u64,
}

/// Where a validator's log lines go.
#[derive(Clone, Debug)]
pub enum Logs {
    /// Standard output, as a service manager expects.
    Stdout,
    /// Appended to a file (created if needed), for a process whose terminal shows something else.
    File(std::path::PathBuf),
}

/// Runs the validator described by `loaded` until the process ends, logging to `logs`. `on_start`
/// is called once the API listens.
pub fn run(loaded: Loaded, logs: Logs, on_start: impl FnOnce(Started) + Send + 'static) -> Result<(), NodeError> {
    let Loaded { config, genesis } = loaded;
    let chain = Chain::new(genesis)?;
    let identity = dealer::decode_identity(&keys::read_secret(&config.identity_key)?)?;
    let share = dealer::decode_share(&keys::read_secret(&config.share)?)?;
    let mut peers = Vec::new();
    for (index, validator) in chain.genesis().validators.iter().enumerate() {
        let invalid = |message: String| NodeError::Validator { index, message };
        let identity = dealer::decode_public(&validator.identity).map_err(|e| invalid(e.to_string()))?;
        let address = validator
            .address
            .parse()
            .map_err(|_| invalid(format!("address {:?} is not host:port", validator.address)))?;
        peers.push(Peer { identity, address });
    }
    let me = dealer::public_bytes(&identity);
    if !chain.genesis().validators.iter().any(|v| v.identity == me) {
        return Err(NodeError::NotAValidator);
    }
    let identities: Vec<_> = peers.iter().map(|peer| peer.identity.clone()).collect();
    let polynomial_bytes = hex::decode(config.polynomial.trim_start_matches("0x"))
        .map_err(|_| DealerError::Decode("polynomial (not hex)"))?;
    let polynomial = dealer::decode_polynomial(&polynomial_bytes, identities.len())?;
    let namespace = chain.genesis().network.namespace.clone().into_bytes();
    if dealer::network_key_bytes(polynomial.public()) != chain.genesis().network.public_key {
        return Err(DealerError::Decode("polynomial: its network key differs from the genesis network key").into());
    }
    let scheme = dealer::signer(&namespace, &identities, polynomial, share)?;
    let validator_config = ValidatorConfig {
        chain,
        identity: dealer::public_key(&identity),
        scheme,
        partition_prefix: "veil".into(),
        mempool: Limits::default(),
        timeouts: Timeouts::default(),
        history: match config.keep_blocks.and_then(NonZeroU64::new) {
            Some(keep) => History::Recent(keep),
            None => History::Archive,
        },
    };

    let runtime = tokio::Config::new()
        .with_worker_threads(config.worker_threads.max(1))
        .with_storage_directory(config.data_dir.join("store"))
        .with_tcp_nodelay(Some(true))
        .with_catch_panics(false);
    tokio::Runner::new(runtime).start(|context| async move {
        match logs {
            Logs::Stdout => tokio::telemetry::init(
                context.child("telemetry"),
                tokio::telemetry::Logs { level: tracing::Level::INFO, json: false },
                None,
                None,
            ),
            Logs::File(path) => {
                let file = std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&path)
                    .map_err(|source| NodeError::Log { path: path.clone(), source })?;
                // Another subscriber may already be installed (tests run nodes in one process).
                let _ = tracing_subscriber::fmt()
                    .with_writer(std::sync::Mutex::new(file))
                    .with_ansi(false)
                    .with_max_level(tracing::Level::INFO)
                    .with_thread_ids(true)
                    .compact()
                    .try_init();
            }
        }
        let validator =
            network::start_validator(context.child("validator"), identity, config.p2p_listen, &peers, validator_config)
                .await?;
        let listener = ::tokio::net::TcpListener::bind(config.api_listen)
            .await
            .map_err(|source| NodeError::Listen { address: config.api_listen, source })?;
        let api = listener.local_addr().map_err(|source| NodeError::Listen { address: config.api_listen, source })?;
        let height = validator.node().lock().await.finalized_header().height;
        let snapshots_dir = config.data_dir.join("snapshots");
        let (snapshots, skipped) = SnapshotStore::open(&snapshots_dir)
            .map_err(|source| NodeError::Snapshots { path: snapshots_dir.clone(), source })?;
        for why in skipped {
            tracing::warn!("cluster snapshot skipped: {why}");
        }
        let router = api::router(ApiState::new(validator, context.child("api"), snapshots));
        on_start(Started { api, height });
        axum::serve(listener, router).await.map_err(|source| NodeError::Listen { address: api, source })
    })
}
