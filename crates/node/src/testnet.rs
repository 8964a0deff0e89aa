//! Local networks: generated genesis, keys and configuration.
//!
//! A local network of N validators on loopback gets: one genesis (a fresh network key from a
//! trusted dealer, the validators' identities and addresses, funded development accounts), and per
//! validator a directory with its identity key and share (0600) and a `node.toml`. `veil devnet` is
//! the one-validator case, generated once into its data directory and reused on every start.

use std::{
    net::{SocketAddr, TcpListener},
    path::{Path, PathBuf},
    time::{SystemTime, UNIX_EPOCH},
};
use veil_chain::{
    Genesis, GenesisSender, RegistrationRules,
    genesis::{Economics, GenesisBalance, GenesisValidator, Network},
};
use veil_consensus::dealer;
use veil_crypto::{AccountPair, RuntimeSigner, runtime_key::dev_gatekeeper_seed_at};
use veil_primitives::{AccountId, Balance, SenderId};

use crate::{config::NodeConfig, keys};

/// The development accounts, funded at genesis, with the secret URIs anyone can use.
pub const DEV_ACCOUNTS: [&str; 6] = ["//Alice", "//Bob", "//Charlie", "//Dave", "//Eve", "//Ferdie"];
/// Each development account's genesis balance, in tokens.
pub const DEV_BALANCE: u128 = 1_000_000;
/// The genesis supply, in tokens: what the development accounts do not hold sits in `//Treasury`.
pub const GENESIS_SUPPLY: u128 = 1_000_000_000;

pub use veil_chain::genesis::{KeyRules, Liveness};
pub use veil_crypto::runtime_key::dev_gatekeeper;

/// Choices for a local network's genesis.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LocalOptions {
    /// Whether software workers (no TEE) may register.
    pub allow_insecure_workers: bool,
    /// How long a software worker's registration lasts.
    pub insecure_lifetime_ms: u64,
    /// How many development gatekeepers genesis names (seeds from `dev_gatekeeper_seed_at`).
    pub gatekeepers: u8,
    /// Key rotation and grace.
    pub keys: KeyRules,
    /// Heartbeats and the offline window.
    pub liveness: Liveness,
}

impl Default for LocalOptions {
    /// Software workers allowed, for an hour at a time: local networks are for development. One
    /// gatekeeper, keys rotated daily with a minute's grace; heartbeats every 2 s, offline after 10 s.
    fn default() -> Self {
        Self {
            allow_insecure_workers: true,
            insecure_lifetime_ms: 3_600_000,
            gatekeepers: 1,
            keys: KeyRules { rotation_interval_ms: 86_400_000, rotation_admin: dev_admin(), grace_ms: 60_000 },
            liveness: Liveness { heartbeat_interval_ms: 2_000, offline_after_ms: 10_000 },
        }
    }
}

/// `//Alice`: the development registry and rotation admin.
fn dev_admin() -> AccountId {
    AccountPair::from_suri("//Alice", None).map(|a| a.public()).unwrap_or(AccountId([0; 32]))
}

/// Why a local network could not be written.
#[derive(Debug, thiserror::Error)]
pub enum TestnetError {
    /// Writing failed.
    #[error("{path}: {source}")]
    Io {
        /// The path.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// A key file could not be written.
    #[error(transparent)]
    Key(#[from] keys::KeyFileError),
    /// The dealer failed.
    #[error(transparent)]
    Dealer(#[from] dealer::DealerError),
    /// No free port on loopback.
    #[error("no free port on 127.0.0.1: {0}")]
    Port(std::io::Error),
    /// A validator count out of range.
    #[error("a local network has 1 to 64 validators, not {0}")]
    Validators(usize),
}

/// Ports of one validator.
#[derive(Clone, Copy, Debug)]
pub struct Ports {
    /// p2p.
    pub p2p: u16,
    /// REST API (0 lets the system pick one at each start).
    pub api: u16,
}

/// A free TCP port on loopback, for a listener that must keep its port across restarts.
pub fn free_port() -> Result<u16, TestnetError> {
    free_port_block(1)
}

/// The first port of the kernel's ephemeral range (Linux's default where it cannot be read).
fn ephemeral_low() -> u16 {
    std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|range| range.split_whitespace().next()?.parse::<u16>().ok())
        .unwrap_or(32_768)
}

/// The lowest port [`free_port_block`] hands out.
const LOWEST_PICKED_PORT: u16 = 10_000;

/// The first of `count` consecutive TCP ports free on loopback now, all below the kernel's
/// ephemeral range. A port from that range (what binding port 0 gives) can be taken as the source
/// port of any outgoing connection, such as another validator dialling out, while the process that
/// listens on it restarts; its listener then fails to bind. Concurrent callers start from
/// different places in the range, so they rarely pick the same block.
pub fn free_port_block(count: u16) -> Result<u16, TestnetError> {
    let ephemeral_low = ephemeral_low();
    let span = ephemeral_low.saturating_sub(LOWEST_PICKED_PORT).saturating_sub(count);
    let none = || {
        let reason = format!("no {count} consecutive free ports on 127.0.0.1 below {ephemeral_low}");
        TestnetError::Port(std::io::Error::new(std::io::ErrorKind::AddrNotAvailable, reason))
    };
    if span == 0 {
        return Err(none());
    }
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |t| t.subsec_nanos());
    let start = (std::process::id() ^ nanos) % u32::from(span);
    for attempt in 0..u32::from(span) {
        let base = LOWEST_PICKED_PORT + ((start + attempt) % u32::from(span)) as u16;
        // All held until all are checked, so the block is free as a whole.
        let held: Result<Vec<TcpListener>, _> =
            (base..base + count).map(|port| TcpListener::bind((std::net::Ipv4Addr::LOCALHOST, port))).collect();
        if held.is_ok() {
            return Ok(base);
        }
    }
    Err(none())
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> TestnetError + '_ {
    move |source| TestnetError::Io { path: path.to_owned(), source }
}

fn dev_balances() -> Vec<GenesisBalance> {
    let tokens = |n: u128| Balance(n * Balance::ONE.0);
    let mut balances: Vec<GenesisBalance> = DEV_ACCOUNTS
        .iter()
        .filter_map(|uri| AccountPair::from_suri(uri, None).ok())
        .map(|pair| GenesisBalance { account: pair.public(), amount: tokens(DEV_BALANCE) })
        .collect();
    let rest = GENESIS_SUPPLY - DEV_BALANCE * balances.len() as u128;
    if let Ok(treasury) = AccountPair::from_suri("//Treasury", None) {
        balances.push(GenesisBalance { account: treasury.public(), amount: tokens(rest) });
    }
    balances
}

/// Who a genesis names besides its validators: the gatekeepers (in order: the first generates the
/// first master key), the admin, the funded accounts, the software runtimes it lets in and the
/// measurements it allows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Members {
    /// The gatekeeper identities.
    pub gatekeepers: Vec<[u8; 32]>,
    /// The registry, parameters and rotation admin (until governance exists).
    pub admin: AccountId,
    /// Genesis balances.
    pub balances: Vec<GenesisBalance>,
    /// When not empty, the only runtimes that may register without a quote.
    pub insecure_identities: Vec<[u8; 32]>,
    /// Measurements allowed from genesis.
    pub measurements: Vec<veil_primitives::Measurement>,
}

impl Members {
    /// A development network's: `gatekeepers` development gatekeepers (public seeds), `//Alice`
    /// as admin, the funded development accounts, any software runtime.
    pub fn development(gatekeepers: u8) -> Self {
        Self {
            gatekeepers: (0..gatekeepers.max(1))
                .map(|index| RuntimeSigner::from_seed(&dev_gatekeeper_seed_at(index)).public())
                .collect(),
            admin: dev_admin(),
            balances: dev_balances(),
            insecure_identities: Vec::new(),
            measurements: Vec::new(),
        }
    }
}

/// Writes a local network of `ports.len()` validators into `out`: `genesis.toml` and
/// `validator-<i>/` directories, with the development members. Returns each validator's
/// `node.toml`.
pub fn write(
    out: &Path,
    chain_name: &str,
    ports: &[Ports],
    options: &LocalOptions,
) -> Result<Vec<PathBuf>, TestnetError> {
    write_with(out, chain_name, ports, options, &Members::development(options.gatekeepers))
}

/// [`write`] with the given members (the genesis ceremony's: identities from records, the
/// operators' own accounts). The validators' keys are generated here.
pub fn write_with(
    out: &Path,
    chain_name: &str,
    ports: &[Ports],
    options: &LocalOptions,
    members: &Members,
) -> Result<Vec<PathBuf>, TestnetError> {
    if ports.is_empty() || ports.len() > 64 {
        return Err(TestnetError::Validators(ports.len()));
    }
    std::fs::create_dir_all(out).map_err(io(out))?;
    let mut rng = rand::rng();
    let identities: Vec<_> = ports.iter().map(|_| dealer::generate_identity(&mut rng)).collect();
    let publics: Vec<_> = identities.iter().map(dealer::public_key).collect();
    let dealing = dealer::deal(&mut rng, &publics)?;
    let now_ms = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64);
    let genesis = Genesis {
        chain_name: chain_name.to_owned(),
        genesis_time_ms: now_ms,
        allow_insecure_workers: options.allow_insecure_workers,
        network: Network { namespace: format!("{chain_name}-{now_ms}"), public_key: dealing.network_key },
        validators: identities
            .iter()
            .zip(ports)
            .map(|(identity, ports)| GenesisValidator {
                identity: dealer::public_bytes(identity),
                address: SocketAddr::from(([127, 0, 0, 1], ports.p2p)).to_string(),
            })
            .collect(),
        gatekeepers: vec![members.admin],
        balances: members.balances.clone(),
        senders: members
            .gatekeepers
            .iter()
            .map(|identity| GenesisSender { sender: SenderId::Gatekeeper(*identity), key: *identity, epoch: 0 })
            .collect(),
        registration: RegistrationRules {
            measurement_admin: members.admin,
            measurements: members.measurements.clone(),
            insecure_lifetime_ms: options.insecure_lifetime_ms,
            attestation: Default::default(),
            insecure_identities: members.insecure_identities.clone(),
        },
        economics: Economics::default(),
        keys: KeyRules { rotation_admin: members.admin, ..options.keys.clone() },
        liveness: options.liveness.clone(),
        sessions: Default::default(),
    };
    let genesis_path = out.join("genesis.toml");
    std::fs::write(&genesis_path, genesis.to_toml()).map_err(io(&genesis_path))?;
    let polynomial = format!("0x{}", hex::encode(&dealing.polynomial));
    let mut configs = Vec::new();
    for (index, (identity, ports)) in identities.iter().zip(ports).enumerate() {
        let dir = out.join(format!("validator-{index}"));
        let public = dealer::public_key(identity);
        let share = dealing
            .shares
            .iter()
            .find(|(owner, _)| *owner == public)
            .map(|(_, share)| share.clone())
            .ok_or(dealer::DealerError::Deal("a validator has no share".into()))?;
        keys::write_secret(&dir.join("identity.key"), &dealer::identity_bytes(identity))?;
        keys::write_secret(&dir.join("share.key"), &share)?;
        let config = NodeConfig {
            data_dir: PathBuf::from("data"),
            genesis: PathBuf::from("../genesis.toml"),
            identity_key: PathBuf::from("identity.key"),
            share: PathBuf::from("share.key"),
            polynomial: polynomial.clone(),
            p2p_listen: SocketAddr::from(([127, 0, 0, 1], ports.p2p)),
            api_listen: SocketAddr::from(([127, 0, 0, 1], ports.api)),
            worker_threads: 2,
            keep_blocks: None,
        };
        let path = dir.join("node.toml");
        std::fs::write(&path, config.to_toml()).map_err(io(&path))?;
        configs.push(path);
    }
    Ok(configs)
}

/// The devnet's configuration under `data_dir`: generated on first use (or after `reset`, which
/// deletes everything there first) and reused afterwards, so the chain persists across restarts.
pub fn devnet(data_dir: &Path, reset: bool, api_port: u16, options: &LocalOptions) -> Result<PathBuf, TestnetError> {
    let config = data_dir.join("validator-0").join("node.toml");
    if reset && data_dir.exists() {
        std::fs::remove_dir_all(data_dir).map_err(io(data_dir))?;
    }
    if config.exists() {
        return Ok(config);
    }
    let ports = Ports { p2p: free_port()?, api: api_port };
    let mut configs = write(data_dir, "veil-devnet", &[ports], options)?;
    configs.pop().ok_or(TestnetError::Validators(0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::NodeConfig;

    /// Picked ports are free together and below the ephemeral range, where no outgoing connection
    /// can take one while its listener restarts.
    #[test]
    fn picked_ports_are_free_and_outside_the_ephemeral_range() {
        let base = free_port_block(8).unwrap();
        assert!(base >= LOWEST_PICKED_PORT && base + 8 <= ephemeral_low(), "{base}");
        let held: Vec<TcpListener> =
            (base..base + 8).map(|port| TcpListener::bind((std::net::Ipv4Addr::LOCALHOST, port)).unwrap()).collect();
        assert_eq!(held.len(), 8);
    }

    #[test]
    fn generated_network_loads_and_keys_match_genesis() {
        let out = std::env::temp_dir().join(format!("veil-testnet-{}", std::process::id()));
        let ports: Vec<Ports> = (0..4).map(|i| Ports { p2p: 40_000 + i, api: 0 }).collect();
        let configs = write(&out, "veil-test", &ports, &LocalOptions::default()).unwrap();
        assert_eq!(configs.len(), 4);
        for (index, path) in configs.iter().enumerate() {
            let loaded = NodeConfig::load(path).unwrap();
            let identity = dealer::decode_identity(&keys::read_secret(&loaded.config.identity_key).unwrap()).unwrap();
            assert_eq!(loaded.genesis.validators[index].identity, dealer::public_bytes(&identity));
            assert_eq!(loaded.genesis.total_supply(), Some(Balance(GENESIS_SUPPLY * Balance::ONE.0)));
        }
        std::fs::remove_dir_all(out).unwrap();
    }

    #[test]
    fn devnet_is_generated_once_and_reset_on_request() {
        let dir = std::env::temp_dir().join(format!("veil-devnet-{}", std::process::id()));
        let first = devnet(&dir, false, 0, &LocalOptions::default()).unwrap();
        let genesis = std::fs::read_to_string(dir.join("genesis.toml")).unwrap();
        assert_eq!(devnet(&dir, false, 0, &LocalOptions::default()).unwrap(), first);
        assert_eq!(std::fs::read_to_string(dir.join("genesis.toml")).unwrap(), genesis, "kept");
        devnet(&dir, true, 0, &LocalOptions::default()).unwrap();
        assert_ne!(std::fs::read_to_string(dir.join("genesis.toml")).unwrap(), genesis, "regenerated");
        std::fs::remove_dir_all(dir).unwrap();
    }
}
