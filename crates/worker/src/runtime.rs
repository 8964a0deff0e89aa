//! The runtime's state machine: keys, followed topics, contracts, gatekeeper duties, queries.
//!
//! [`Runtime::apply`] takes one [`Batch`] from the relayer. The whole batch is verified first
//! ([`Follower::accept`]); then its messages are handled in topic order (registrations, the duty
//! log, key epochs, releases, heartbeats, then contract topics), each message in log order:
//!
//! - **Gatekeeper** (role [`Role::Gatekeeper`]): a registration is checked again here, inside the
//!   TEE (the DCAP quote against Intel's roots, the TCB policy and the report data at the batch's
//!   block time; software workers only where genesis allows them). The duty log (assignments topic)
//!   drives everything else, in one order for every gatekeeper: runtimes' epoch keys (signatures
//!   checked here), cluster formations and replacements (the cluster key sealed to each verified
//!   worker's key of the epoch), contract assignments (the contract's public keys), rotation
//!   requests (a proposal of a fresh master key, signed by this gatekeeper's identity) and epoch
//!   openings (every cluster's and contract's new keys). Outputs are the gatekeeper set's egress,
//!   numbered per duty whether this gatekeeper holds the epoch's master key or not, so all of them
//!   sign byte-identical copies. The first genesis gatekeeper generates the first master key; the
//!   others get it sealed to their epoch keys, from the winning proposal or a master share.
//! - **Worker** (role [`Role::Worker`]): it announces a key for the current and the next epoch,
//!   and a heartbeat at the interval in the chain's parameters (genesis's until the chain publishes
//!   a change on the parameters topic). A cluster key sealed to its epoch key gives it the
//!   cluster's keys of that epoch; it then runs the contracts assigned to its cluster. A wasm
//!   contract's `Deployed` message brings its code (checked against the assigned hash, compiled)
//!   and its constructor argument, which opens under the cluster's key only for the deploying
//!   transaction; the constructor runs with the prepaid fuel. A command opens only under the
//!   binding the chain published (chain, contract, epoch, signer, nonce), with the key of the epoch
//!   its envelope names if that epoch was usable at the command's block time, and is executed with
//!   its block, fuel and native tokens; anything else is refused, logged without the contract's
//!   own reason (it may quote confidential state), and changes nothing but the fuel. A refused
//!   command's tokens go back to its sender by a release. `Rekeyed` moves a contract to a new
//!   epoch: state encrypted, secrets derived and egress signed under the new keys.
//! - **Replacement**: a worker declared offline leaves its cluster, keys and contracts; a worker
//!   named as its replacement gets the cluster key and waits for a snapshot of a live member
//!   ([`Runtime::snapshot`], sealed under the cluster's snapshot key), which it takes over
//!   ([`Runtime::import_snapshot`]) if it is at least as recent as its joining: contracts' state,
//!   topic positions and egress queues. It then catches up like any worker.
//! - **Retirement**: once a batch's block time passes an epoch's retirement, every key of that
//!   epoch (master, epoch keys, cluster keys) is destroyed, and [`Applied::destroyed_keys`] tells
//!   the service to overwrite both checkpoint slots.
//! - **Contract egress**: releases go to the releases topic; messages to other contracts of the
//!   cluster are sealed to the target's key of the sender's epoch with an ephemeral key derived
//!   from the sender's contract key and its egress number (the nonce the target opens them under),
//!   so every worker emits the same bytes. Workers follow the releases topic and their cluster's
//!   contract topics, where all of a contract's egress lands, and count it to acknowledge their
//!   queue.
//!
//! A message that is refused does not stop the batch: the chain already ordered it, and every
//! worker refuses it the same way, so states stay equal. Contracts never see the batch height (a
//! worker that syncs in bigger steps must reach the same state).
//!
//! [`Runtime::query`] answers a sealed, signed query from the current state; see
//! [`QueryError`] for every refusal.

use parity_scale_codec::{Decode, DecodeAll, Encode};
use std::{
    collections::{BTreeMap, BTreeSet, VecDeque},
    sync::{Arc, Mutex},
};
use veil_attestation::{Collateral, Policy, verify_registration};
use veil_contract_engine::{
    Engine,
    abi::{AccountId as AbiAccount, ContractId as AbiContract},
};
use veil_crypto::{
    AgreementSecret, ClusterKey, ContractKey, MasterKey, RuntimeSigner, SecretBytes,
    confidential::{
        Answer, AnswerResult, ClusterKeys, CommandBinding, ConfidentialError, ContractKeys, KeyMessage, MasterShare,
        Proposal, open_command, open_query, seal_answer, seal_command_with,
    },
    random::random_bytes,
};
use veil_genesis::Genesis;
use veil_light_client::LightClient;
use veil_primitives::{
    AccountId, Attestation, Balance, ClusterId, ContractId, Hash, KeyEpoch, Message, Origin, Parameters,
    RegistrationInfo, SenderId, SignedEgress, SystemTopic, Topic, WorkerRegistration,
    contract::{AssignedWorker, AssignmentMessage, BlockStamp, CommandMessage, ContractMessage, Deployment, Release},
    decode_strict,
    epoch::{EpochKey, EpochOpening, Heartbeat, MAX_SNAPSHOT_BYTES, Replacement, SealedSnapshot},
    hashing::sha256,
};
use veil_types::{EpochHistory, EpochLog};

use crate::{
    contract::{Caller, CommandContext, Contract, Effects, Failure, Peers, instantiate},
    egress::EgressQueue,
    sync::{Batch, Follower, FollowerState, SyncError},
    wasm::WasmContract,
};

/// What this runtime does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Encode, Decode)]
pub enum Role {
    /// Runs contracts assigned to it.
    #[codec(index = 0)]
    Worker,
    /// Holds the master key and hands out cluster keys.
    #[codec(index = 1)]
    Gatekeeper,
}

/// Limits of the query service.
#[derive(Clone, Copy, Debug)]
pub struct QueryLimits {
    /// A query is refused when the client knows a height more than this many blocks past the
    /// runtime's view.
    pub max_lag_blocks: u64,
    /// A query is refused when the runtime's newest header is older than this by the local clock
    /// (`None` turns the check off, for replaying old chains in tests and benchmarks).
    pub max_age_ms: Option<u64>,
    /// The furthest a query's `valid_until` may lie past the runtime's height: bounds the memory
    /// that refuses replays.
    pub max_validity_blocks: u64,
}

impl Default for QueryLimits {
    fn default() -> Self {
        Self { max_lag_blocks: 20, max_age_ms: Some(30_000), max_validity_blocks: 600 }
    }
}

/// Why the runtime cannot start or restore.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// The genesis network key is unusable.
    #[error("genesis network key: {0}")]
    NetworkKey(String),
    /// A gatekeeper identity not registered as a gatekeeper sender in genesis.
    #[error("identity 0x{} is not a gatekeeper sender in genesis; this runtime cannot act as its gatekeeper", hex::encode(.0))]
    NotAGatekeeper([u8; 32]),
    /// The checkpoint is of another chain or role, or does not decode.
    #[error("checkpoint: {0}")]
    Checkpoint(String),
    /// No randomness.
    #[error(transparent)]
    Randomness(#[from] veil_crypto::random::RandomnessError),
}

/// Why a cluster snapshot cannot be taken or taken over; nothing changes either way.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SnapshotError {
    /// This runtime has no snapshot to give or does not wait for one (yet).
    #[error("{0}")]
    Unavailable(String),
    /// The snapshot is not one this runtime may take over.
    #[error("snapshot refused: {0}")]
    Refused(String),
}

/// Why a query is refused. None of these reveal anything of a contract's state.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QueryError {
    /// Not a query sealed to this worker's key, or altered.
    #[error("cannot open the query: {0}")]
    Unreadable(String),
    /// A signature or session certificate does not verify.
    #[error("{0}")]
    Unauthenticated(String),
    /// Addressed to another worker or chain.
    #[error("the query is addressed to worker 0x{} on chain {chain}, not to this worker", hex::encode(.worker))]
    Misaddressed {
        /// The worker it names.
        worker: [u8; 32],
        /// The chain it names.
        chain: Hash,
    },
    /// The session certificate expired.
    #[error("the session certificate expired at height {expired_at}; this worker stands at {height}")]
    SessionExpired {
        /// Its last valid height.
        expired_at: u64,
        /// The worker's height.
        height: u64,
    },
    /// The runtime's view is too old to answer.
    #[error("this worker's view of the chain is stale: {0}")]
    Stale(String),
    /// The query's validity window is over or too long.
    #[error(
        "the query is valid until height {valid_until}; this worker stands at {height} and accepts at most {max} blocks ahead"
    )]
    Validity {
        /// The query's last height.
        valid_until: u64,
        /// The worker's height.
        height: u64,
        /// The longest window accepted.
        max: u64,
    },
    /// The same (requester, nonce) was answered before.
    #[error("query nonce 0x{} of {requester} was already answered: replays are refused", hex::encode(.nonce))]
    Replayed {
        /// The requester.
        requester: AccountId,
        /// The nonce.
        nonce: [u8; 16],
    },
    /// This worker does not run the contract.
    #[error("contract {0} does not run on this worker")]
    UnknownContract(ContractId),
    /// The answer could not be sealed.
    #[error("cannot seal the answer: {0}")]
    Seal(String),
}

impl QueryError {
    /// A short machine-readable name for API errors.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Unreadable(_) => "unreadable",
            Self::Unauthenticated(_) => "unauthenticated",
            Self::Misaddressed { .. } => "misaddressed",
            Self::SessionExpired { .. } => "session_expired",
            Self::Stale(_) => "stale",
            Self::Validity { .. } => "validity",
            Self::Replayed { .. } => "replayed",
            Self::UnknownContract(_) => "unknown_contract",
            Self::Seal(_) => "internal",
        }
    }
}

/// A contract this runtime runs.
struct Instance {
    code: Hash,
    /// The epoch of its current keys (derived from the cluster key of that epoch).
    epoch: KeyEpoch,
    contract: Option<Box<dyn Contract>>,
}

/// What a runtime reports after a batch.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Applied {
    /// The new height.
    pub height: u64,
    /// Messages handled.
    pub messages: u64,
    /// Messages refused, each with its reason (the state is as if they were not there; a failed
    /// command's fuel is still used).
    pub refused: Vec<String>,
    /// Fuel used by the contract calls of the batch, failed ones included: equal on every worker
    /// that handles the same batch.
    pub fuel_used: u64,
    /// Keys of a retired epoch were destroyed in this batch: older checkpoints that hold them must
    /// be overwritten, not kept as a fallback.
    pub destroyed_keys: bool,
}

/// A runtime's identity and an epoch: what an announced epoch key is filed under.
type RuntimeEpoch = ([u8; 32], KeyEpoch);

/// This worker's place in a cluster.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Encode, Decode)]
struct Membership {
    cluster: ClusterId,
    /// It joined as a replacement: its contracts' state comes from a snapshot of a live worker.
    awaiting_snapshot: bool,
    /// The height at which it saw itself join: a snapshot must be at least this recent.
    since_height: u64,
}

/// The sealed form of a runtime, written to checkpoints. Holds secrets: only ever sealed.
#[derive(Encode, Decode)]
struct Saved {
    chain: Hash,
    role: Role,
    identity: [u8; 32],
    agreement: [u8; 32],
    epochs: EpochLog,
    epoch_secrets: Vec<(KeyEpoch, [u8; 32])>,
    masters: Vec<(KeyEpoch, [u8; 32])>,
    candidate: Option<(KeyEpoch, [u8; 32])>,
    follower: FollowerState,
    verified: Vec<[u8; 32]>,
    runtime_keys: Vec<(RuntimeEpoch, [u8; 32])>,
    clusters: Vec<(ClusterId, Vec<[u8; 32]>)>,
    assigned: Vec<(ContractId, (Hash, ClusterId, KeyEpoch))>,
    membership: Option<Membership>,
    cluster_keys: Vec<(KeyEpoch, [u8; 32])>,
    contracts: Vec<SavedContract>,
    egress: EgressQueue,
    own_published: u64,
    set_published: u64,
    set_next: u64,
    contracts_published: Vec<(ContractId, u64)>,
    last_heartbeat_ms: u64,
    heartbeat_interval_ms: u64,
}

#[derive(Encode, Decode)]
struct SavedContract {
    contract: ContractId,
    code: Hash,
    epoch: KeyEpoch,
    state: Option<Vec<u8>>,
}

/// What a cluster snapshot holds, sealed under the cluster's snapshot key: the contracts' state
/// and topic positions, their egress counts and queues, and the cluster keys the snapshot's
/// worker held. Holds secrets: only ever sealed.
#[derive(Encode, Decode)]
struct SnapshotContent {
    chain: Hash,
    cluster: ClusterId,
    height: u64,
    timestamp_ms: u64,
    /// The releases topic's position: the contracts' egress counts below count up to it.
    releases: veil_primitives::log::LogPeaks,
    cluster_keys: Vec<(KeyEpoch, [u8; 32])>,
    contracts: Vec<SnapshotContract>,
}

#[derive(Encode, Decode)]
struct SnapshotContract {
    saved: SavedContract,
    topic: veil_primitives::log::LogPeaks,
    published: u64,
    egress_next: u64,
    pending: Vec<SignedEgress>,
}

/// The public part of a runtime's state that its state root commits to: what every worker of a
/// cluster holds, byte for byte, once it has handled the same messages (whatever heights its
/// batches were proven at).
#[derive(Encode)]
struct Committed<'a> {
    topics: &'a BTreeMap<Topic, veil_primitives::log::LogPeaks>,
    contracts: Vec<(ContractId, Hash, Option<Vec<u8>>)>,
}

/// The runtime.
pub struct Runtime {
    chain: Hash,
    role: Role,
    allow_insecure: bool,
    insecure: bool,
    /// The genesis gatekeeper set, in genesis order (the first generates the first master key).
    gatekeepers: Vec<[u8; 32]>,
    limits: QueryLimits,
    identity_seed: SecretBytes<32>,
    identity: RuntimeSigner,
    agreement_seed: SecretBytes<32>,
    agreement: AgreementSecret,
    epochs: EpochLog,
    /// The secret halves of this runtime's announced epoch keys; destroyed when the epoch retires.
    epoch_secrets: BTreeMap<KeyEpoch, SecretBytes<32>>,
    /// Gatekeepers: the master keys of usable epochs.
    masters: BTreeMap<KeyEpoch, MasterKey>,
    /// Gatekeepers: a master key proposed for an epoch not yet opened.
    candidate: Option<(KeyEpoch, MasterKey)>,
    follower: Follower,
    /// Gatekeepers: runtimes whose attestation this gatekeeper checked itself.
    verified: BTreeSet<[u8; 32]>,
    /// Gatekeepers: every runtime's announced epoch keys, signatures checked here.
    runtime_keys: BTreeMap<RuntimeEpoch, [u8; 32]>,
    /// Every cluster's workers, as the duty log says.
    clusters: BTreeMap<ClusterId, BTreeSet<[u8; 32]>>,
    /// Every contract's code, cluster and first epoch, as the duty log says.
    assigned: BTreeMap<ContractId, (Hash, ClusterId, KeyEpoch)>,
    /// Workers: the cluster this worker is in.
    membership: Option<Membership>,
    /// Workers: its cluster's keys, by epoch.
    cluster_keys: BTreeMap<KeyEpoch, ClusterKey>,
    contracts: BTreeMap<ContractId, Instance>,
    egress: EgressQueue,
    /// How much of this runtime's own egress (its identity's) it saw accepted on chain.
    own_published: u64,
    /// Gatekeepers: how much of the gatekeeper set's egress it saw accepted on chain.
    set_published: u64,
    /// Gatekeepers: the sequence number of the set's next output; advanced for every duty, held
    /// keys or not, so every gatekeeper numbers the same outputs alike.
    set_next: u64,
    /// How much of each contract's egress this worker saw accepted on chain (on the releases topic
    /// and on the contract topics of its cluster, where all of it lands).
    contracts_published: BTreeMap<ContractId, u64>,
    last_heartbeat_ms: u64,
    heartbeat_interval_ms: u64,
    answered: Mutex<BTreeMap<(AccountId, [u8; 16]), u64>>,
    refusals: VecDeque<String>,
    engine: Engine,
    /// Fuel used by contract calls in the batch being applied.
    fuel_used: u64,
}

/// How many recent refusals the runtime remembers for its status.
const KEPT_REFUSALS: usize = 64;

fn secrets<K: Ord + Copy>(map: impl Iterator<Item = (K, [u8; 32])>) -> BTreeMap<K, SecretBytes<32>> {
    map.map(|(key, secret)| (key, SecretBytes::new(secret))).collect()
}

impl Runtime {
    /// A fresh runtime for the chain of `genesis`: new random keys (or the given identity seed,
    /// for a development gatekeeper whose key genesis names). `insecure` says it runs without a
    /// TEE; answers say so. The first genesis gatekeeper generates the first master key when it
    /// first sees the chain; the others receive it.
    pub fn new(
        genesis: &Genesis,
        role: Role,
        insecure: bool,
        limits: QueryLimits,
        identity_seed: Option<SecretBytes<32>>,
    ) -> Result<Self, RuntimeError> {
        let identity = match identity_seed {
            Some(seed) => seed,
            None => SecretBytes::new(random_bytes()?),
        };
        let saved = Saved {
            chain: genesis.hash(),
            role,
            identity: *identity.expose(),
            agreement: random_bytes()?,
            epochs: EpochLog::default(),
            epoch_secrets: Vec::new(),
            masters: Vec::new(),
            candidate: None,
            follower: FollowerState::default(),
            verified: Vec::new(),
            runtime_keys: Vec::new(),
            clusters: Vec::new(),
            assigned: Vec::new(),
            membership: None,
            cluster_keys: Vec::new(),
            contracts: Vec::new(),
            egress: EgressQueue::default(),
            own_published: 0,
            set_published: 0,
            set_next: 0,
            contracts_published: Vec::new(),
            last_heartbeat_ms: 0,
            // Until the chain publishes a change on the parameters topic.
            heartbeat_interval_ms: genesis.liveness.heartbeat_interval_ms,
        };
        Self::from_saved(genesis, saved, insecure, limits)
    }

    /// Restores a runtime from a checkpoint's bytes (see [`Runtime::checkpoint`]).
    pub fn restore(genesis: &Genesis, bytes: &[u8], insecure: bool, limits: QueryLimits) -> Result<Self, RuntimeError> {
        let saved = Saved::decode_all(&mut &bytes[..]).map_err(|error| RuntimeError::Checkpoint(error.to_string()))?;
        if saved.chain != genesis.hash() {
            return Err(RuntimeError::Checkpoint(format!(
                "it belongs to chain {}, this genesis is {}",
                saved.chain,
                genesis.hash()
            )));
        }
        Self::from_saved(genesis, saved, insecure, limits)
    }

    fn from_saved(genesis: &Genesis, saved: Saved, insecure: bool, limits: QueryLimits) -> Result<Self, RuntimeError> {
        let client = LightClient::new(&genesis.network.public_key, &genesis.network.namespace)
            .map_err(|error| RuntimeError::NetworkKey(error.to_string()))?;
        let gatekeepers = genesis.gatekeeper_identities();
        let identity_seed = SecretBytes::new(saved.identity);
        let identity = RuntimeSigner::from_seed(&identity_seed);
        if saved.role == Role::Gatekeeper && !gatekeepers.contains(&identity.public()) {
            return Err(RuntimeError::NotAGatekeeper(identity.public()));
        }
        let agreement_seed = SecretBytes::new(saved.agreement);
        let engine = Engine::new();
        let cluster = saved.membership.map(|membership| membership.cluster);
        let cluster_keys: BTreeMap<KeyEpoch, ClusterKey> = saved
            .cluster_keys
            .into_iter()
            .filter_map(|(epoch, secret)| {
                Some((epoch, ClusterKey::from_secret(SecretBytes::new(secret), cluster?, epoch)))
            })
            .collect();
        let mut contracts = BTreeMap::new();
        for entry in saved.contracts {
            let id = entry.contract;
            let instance = restore_instance(&engine, &cluster_keys, entry).map_err(RuntimeError::Checkpoint)?;
            contracts.insert(id, instance);
        }
        let mut runtime = Self {
            chain: saved.chain,
            role: saved.role,
            allow_insecure: genesis.allow_insecure_workers,
            insecure,
            gatekeepers,
            limits,
            agreement: AgreementSecret::from_bytes(&agreement_seed),
            agreement_seed,
            identity,
            identity_seed,
            epochs: saved.epochs,
            epoch_secrets: secrets(saved.epoch_secrets.into_iter()),
            masters: secrets(saved.masters.into_iter())
                .into_iter()
                .map(|(epoch, secret)| (epoch, MasterKey::from_secret(secret)))
                .collect(),
            candidate: saved.candidate.map(|(epoch, secret)| (epoch, MasterKey::from_secret(SecretBytes::new(secret)))),
            follower: Follower::new(client, saved.follower),
            verified: saved.verified.into_iter().collect(),
            runtime_keys: saved.runtime_keys.into_iter().collect(),
            clusters: saved.clusters.into_iter().map(|(id, workers)| (id, workers.into_iter().collect())).collect(),
            assigned: saved.assigned.into_iter().collect(),
            membership: saved.membership,
            cluster_keys,
            contracts,
            egress: saved.egress,
            own_published: saved.own_published,
            set_published: saved.set_published,
            set_next: saved.set_next,
            contracts_published: saved.contracts_published.into_iter().collect(),
            last_heartbeat_ms: saved.last_heartbeat_ms,
            heartbeat_interval_ms: saved.heartbeat_interval_ms,
            answered: Mutex::new(BTreeMap::new()),
            refusals: VecDeque::new(),
            engine,
            fuel_used: 0,
        };
        let topics: &[SystemTopic] = match runtime.role {
            // Releases and contract topics: where the contracts' egress lands, acknowledging it.
            Role::Worker => &[
                SystemTopic::Assignments,
                SystemTopic::KeyEpochs,
                SystemTopic::Releases,
                SystemTopic::Heartbeats,
                SystemTopic::Parameters,
            ],
            Role::Gatekeeper => &[SystemTopic::Registrations, SystemTopic::Assignments, SystemTopic::KeyEpochs],
        };
        for topic in topics {
            runtime.follower.follow(Topic::System(*topic));
        }
        Ok(runtime)
    }

    fn saved_contract(id: ContractId, instance: &Instance) -> SavedContract {
        SavedContract {
            contract: id,
            code: instance.code,
            epoch: instance.epoch,
            state: instance.contract.as_ref().map(|contract| contract.state()),
        }
    }

    /// The checkpoint bytes: everything needed to resume, secrets included. Seal before storing.
    pub fn checkpoint(&self) -> zeroize::Zeroizing<Vec<u8>> {
        let expose = |secret: &SecretBytes<32>| *secret.expose();
        let contracts = self.contracts.iter().map(|(id, instance)| Self::saved_contract(*id, instance)).collect();
        let saved = Saved {
            chain: self.chain,
            role: self.role,
            identity: expose(&self.identity_seed),
            agreement: expose(&self.agreement_seed),
            epochs: self.epochs.clone(),
            epoch_secrets: self.epoch_secrets.iter().map(|(epoch, secret)| (*epoch, expose(secret))).collect(),
            masters: self.masters.iter().map(|(epoch, master)| (*epoch, expose(master.secret()))).collect(),
            candidate: self.candidate.as_ref().map(|(epoch, master)| (*epoch, expose(master.secret()))),
            follower: self.follower.state().clone(),
            verified: self.verified.iter().copied().collect(),
            runtime_keys: self.runtime_keys.iter().map(|(key, value)| (*key, *value)).collect(),
            clusters: self.clusters.iter().map(|(id, workers)| (*id, workers.iter().copied().collect())).collect(),
            assigned: self.assigned.iter().map(|(id, entry)| (*id, *entry)).collect(),
            membership: self.membership,
            cluster_keys: self.cluster_keys.iter().map(|(epoch, key)| (*epoch, expose(key.secret()))).collect(),
            contracts,
            egress: self.egress.clone(),
            own_published: self.own_published,
            set_published: self.set_published,
            set_next: self.set_next,
            contracts_published: self.contracts_published.iter().map(|(id, count)| (*id, *count)).collect(),
            last_heartbeat_ms: self.last_heartbeat_ms,
            heartbeat_interval_ms: self.heartbeat_interval_ms,
        };
        zeroize::Zeroizing::new(saved.encode())
    }

    /// A snapshot of this worker's cluster state for a replacement worker: sealed under the cluster's
    /// snapshot key of the newest epoch it holds, signed by that epoch's cluster signing key.
    pub fn snapshot(&self) -> Result<SealedSnapshot, SnapshotError> {
        let membership = match self.membership {
            Some(membership) if self.role == Role::Worker && !membership.awaiting_snapshot => membership,
            _ => return Err(SnapshotError::Unavailable("this runtime runs no cluster's contracts".into())),
        };
        let Some((epoch, cluster_key)) = self.cluster_keys.last_key_value() else {
            return Err(SnapshotError::Unavailable("this worker holds no cluster key yet".into()));
        };
        let view = self.follower.state();
        let contracts = self
            .contracts
            .iter()
            .map(|(id, instance)| {
                let (egress_next, pending) = self.egress.of_sender(SenderId::Contract(*id));
                SnapshotContract {
                    saved: Self::saved_contract(*id, instance),
                    topic: view.topics.get(&Topic::Contract(*id)).cloned().unwrap_or_default(),
                    published: self.contracts_published.get(id).copied().unwrap_or_default(),
                    egress_next,
                    pending,
                }
            })
            .collect();
        let content = SnapshotContent {
            chain: self.chain,
            cluster: membership.cluster,
            height: view.height,
            timestamp_ms: view.timestamp_ms,
            releases: view.topics.get(&Topic::System(SystemTopic::Releases)).cloned().unwrap_or_default(),
            cluster_keys: self.cluster_keys.iter().map(|(epoch, key)| (*epoch, *key.secret().expose())).collect(),
            contracts,
        };
        let plain = zeroize::Zeroizing::new(content.encode());
        let sealed = cluster_key.snapshot_key().encrypt_state(&plain).try_into().map_err(|_| {
            SnapshotError::Unavailable(format!("the cluster's state exceeds a snapshot ({MAX_SNAPSHOT_BYTES} bytes)"))
        })?;
        let mut snapshot = SealedSnapshot {
            cluster: membership.cluster,
            epoch: *epoch,
            height: view.height,
            sealed,
            signature: [0; 64],
        };
        snapshot.signature = cluster_key.signer().sign(&snapshot.signing_payload(&self.chain));
        Ok(snapshot)
    }

    /// Takes over a snapshot of this worker's cluster, if it joined as a replacement and waits for
    /// one: the contracts continue from the snapshot's state and topic positions, with its egress
    /// queues. The snapshot must open under a cluster key this worker holds and be at least as
    /// recent as its joining. On `Err` nothing changed.
    pub fn import_snapshot(&mut self, snapshot: &SealedSnapshot) -> Result<(), SnapshotError> {
        let membership = match self.membership {
            Some(membership) if membership.awaiting_snapshot => membership,
            _ => return Err(SnapshotError::Unavailable("this runtime does not wait for a snapshot".into())),
        };
        let refused = SnapshotError::Refused;
        if snapshot.cluster != membership.cluster {
            return Err(refused(format!("it is of {}, this worker joined {}", snapshot.cluster, membership.cluster)));
        }
        if snapshot.height < membership.since_height {
            return Err(refused(format!(
                "it was taken at height {}, before this worker joined at {}",
                snapshot.height, membership.since_height
            )));
        }
        let cluster_key = self.cluster_keys.get(&snapshot.epoch).ok_or_else(|| {
            refused(format!(
                "it is sealed under the cluster key of {}, which this worker does not hold",
                snapshot.epoch
            ))
        })?;
        veil_crypto::verify_runtime_signature(
            &cluster_key.signer().public(),
            &snapshot.signing_payload(&self.chain),
            &snapshot.signature,
        )
        .map_err(|_| refused("it is not signed by the cluster's key".into()))?;
        let plain = cluster_key
            .snapshot_key()
            .decrypt_state(&snapshot.sealed)
            .ok_or_else(|| refused("it does not open under the cluster's snapshot key".into()))?;
        let content = SnapshotContent::decode_all(&mut &plain[..]).map_err(|error| refused(error.to_string()))?;
        if (content.chain, content.cluster, content.height) != (self.chain, snapshot.cluster, snapshot.height) {
            return Err(refused("its content is of another chain, cluster or height than its header".into()));
        }
        // Keys of epochs this worker already retired stay destroyed.
        let now_ms = self.follower.state().timestamp_ms;
        let mut cluster_keys = self.cluster_keys.clone();
        for (epoch, secret) in content.cluster_keys {
            if !self.epochs.retired(epoch, now_ms) {
                cluster_keys
                    .entry(epoch)
                    .or_insert_with(|| ClusterKey::from_secret(SecretBytes::new(secret), membership.cluster, epoch));
            }
        }
        let mut contracts = BTreeMap::new();
        let mut positions = Vec::new();
        for entry in content.contracts {
            let SnapshotContract { saved, topic, published, egress_next, pending } = entry;
            let id = saved.contract;
            contracts.insert(id, restore_instance(&self.engine, &cluster_keys, saved).map_err(refused)?);
            positions.push((id, topic, published, egress_next, pending));
        }
        // Nothing can fail from here on.
        self.cluster_keys = cluster_keys;
        let mut topics = vec![(Topic::System(SystemTopic::Releases), content.releases)];
        for (id, topic, published, egress_next, pending) in positions {
            topics.push((Topic::Contract(id), topic));
            self.contracts_published.insert(id, published);
            self.egress.adopt(SenderId::Contract(id), egress_next, pending);
        }
        self.contracts = contracts;
        self.follower.adopt(content.height, content.timestamp_ms, topics);
        self.membership = Some(Membership { awaiting_snapshot: false, ..membership });
        self.adopt_contracts();
        Ok(())
    }

    /// Every secret key this runtime holds, with its epoch (`None`: not tied to an epoch: the
    /// identity and query keys). For tests that check a retired epoch's keys are gone from sealed
    /// state.
    pub fn secret_keys(&self) -> Vec<(Option<KeyEpoch>, [u8; 32])> {
        let mut keys = vec![(None, *self.identity_seed.expose()), (None, *self.agreement_seed.expose())];
        keys.extend(self.epoch_secrets.iter().map(|(epoch, secret)| (Some(*epoch), *secret.expose())));
        keys.extend(self.masters.iter().map(|(epoch, master)| (Some(*epoch), *master.secret().expose())));
        keys.extend(self.cluster_keys.iter().map(|(epoch, key)| (Some(*epoch), *key.secret().expose())));
        keys
    }

    /// SHA-256 over the followed topics' logs and every contract's code and state: equal on every
    /// worker that handled the same messages, whatever restarts happened in between.
    pub fn state_root(&self) -> Hash {
        let committed = Committed {
            topics: &self.follower.state().topics,
            contracts: self
                .contracts
                .iter()
                .map(|(id, instance)| (*id, instance.code, instance.contract.as_ref().map(|c| c.state())))
                .collect(),
        };
        sha256(&committed.encode())
    }

    /// The chain id.
    pub fn chain(&self) -> Hash {
        self.chain
    }

    /// Worker or gatekeeper.
    pub fn role(&self) -> Role {
        self.role
    }

    /// True without a TEE.
    pub fn insecure(&self) -> bool {
        self.insecure
    }

    /// The ed25519 identity key (signs egress and answers).
    pub fn identity(&self) -> [u8; 32] {
        self.identity.public()
    }

    /// The X25519 key queries are sealed to.
    pub fn agreement_key(&self) -> [u8; 32] {
        self.agreement.public()
    }

    /// The current master key's public half (gatekeepers holding it only).
    pub fn master_public(&self) -> Option<[u8; 32]> {
        self.masters.get(&self.epochs.epoch()).map(MasterKey::public)
    }

    /// The current key epoch as this runtime read it (`None` before the first opened).
    pub fn key_epoch(&self) -> Option<KeyEpoch> {
        self.epochs.current().map(|opening| opening.epoch)
    }

    /// The cluster this worker is in, and whether it waits for a snapshot to join it.
    pub fn cluster(&self) -> Option<(ClusterId, bool)> {
        self.membership.map(|membership| (membership.cluster, membership.awaiting_snapshot))
    }

    /// What a registration of this runtime by `operator` binds: its report data goes into the quote.
    pub fn registration_info(&self, operator: AccountId) -> RegistrationInfo {
        RegistrationInfo {
            signing_key: self.identity(),
            agreement_key: self.agreement_key(),
            genesis: self.chain,
            operator,
        }
    }

    /// Where it stands.
    pub fn view(&self) -> &FollowerState {
        self.follower.state()
    }

    /// The contracts it runs: id, code hash, key epoch, and whether the code is available here.
    pub fn contracts(&self) -> Vec<(ContractId, Hash, KeyEpoch, bool)> {
        self.contracts
            .iter()
            .map(|(id, instance)| (*id, instance.code, instance.epoch, instance.contract.is_some()))
            .collect()
    }

    /// SHA-256 of a deployed contract's sealed state (`None` when it is not deployed here): lets
    /// tests and operators compare replicas without seeing the state.
    pub fn contract_state_hash(&self, contract: &ContractId) -> Option<Hash> {
        let state = self.contracts.get(contract)?.contract.as_ref()?.state();
        Some(sha256(&state))
    }

    /// Egress not yet seen accepted on chain, in sequence order per sender.
    pub fn pending_egress(&self) -> Vec<SignedEgress> {
        self.egress.pending().cloned().collect()
    }

    /// The most recent refusals, newest last.
    pub fn refusals(&self) -> impl Iterator<Item = &String> {
        self.refusals.iter()
    }

    fn own_sender(&self) -> SenderId {
        match self.role {
            Role::Worker => SenderId::Worker(self.identity()),
            Role::Gatekeeper => SenderId::Gatekeeper(self.identity()),
        }
    }

    /// Verifies `batch` and handles its messages; on `Err` nothing changed.
    pub fn apply(&mut self, batch: &Batch) -> Result<Applied, SyncError> {
        self.apply_with(batch, |_| {})
    }

    /// [`Runtime::apply`], calling `after_message` with the running count after each message (a
    /// hook for fault-injection tests that stop the process mid-batch).
    pub fn apply_with(&mut self, batch: &Batch, mut after_message: impl FnMut(u64)) -> Result<Applied, SyncError> {
        let delivered = self.follower.accept(batch)?;
        let mut applied = Applied { height: batch.header.height, ..Applied::default() };
        self.fuel_used = 0;
        for (topic, messages) in delivered {
            for (index, message) in messages {
                if let Err(reason) = self.handle(topic, index, &message, batch.header.timestamp_ms) {
                    let refusal = format!("{topic} message {index}: {reason}");
                    if self.refusals.len() == KEPT_REFUSALS {
                        self.refusals.pop_front();
                    }
                    self.refusals.push_back(refusal.clone());
                    applied.refused.push(refusal);
                }
                applied.messages += 1;
                after_message(applied.messages);
            }
        }
        applied.fuel_used = std::mem::take(&mut self.fuel_used);
        applied.destroyed_keys = self.retire(batch.header.timestamp_ms);
        self.generate_first_master();
        self.announce_epoch_keys();
        self.beat(batch.header.height, batch.header.timestamp_ms);
        Ok(applied)
    }

    /// The first genesis gatekeeper generates the first master key and proposes it, once.
    fn generate_first_master(&mut self) {
        if self.role != Role::Gatekeeper
            || self.gatekeepers.first() != Some(&self.identity())
            || self.epochs.current().is_some()
            || self.candidate.is_some()
        {
            return;
        }
        self.propose(KeyEpoch(0));
    }

    /// Generates a master key for `epoch` and proposes it, sealed to the other gatekeepers' keys
    /// of the epoch that this gatekeeper verified.
    fn propose(&mut self, epoch: KeyEpoch) {
        let master = match MasterKey::generate() {
            Ok(master) => master,
            Err(error) => return self.note(format!("cannot generate a master key: {error}")),
        };
        let others = self.verified_gatekeepers(epoch);
        match Proposal::new(&master, epoch, &others) {
            Ok(proposal) => {
                self.candidate = Some((epoch, master));
                self.push_own(Topic::System(SystemTopic::KeyEpochs), KeyMessage::Proposal(proposal).encode());
            }
            Err(error) => self.note(format!("cannot propose {epoch}: {error}")),
        }
    }

    /// The other genesis gatekeepers this one verified, with their keys of `epoch`.
    fn verified_gatekeepers(&self, epoch: KeyEpoch) -> Vec<AssignedWorker> {
        let others = self.gatekeepers.iter().filter(|id| **id != self.identity() && self.verified.contains(*id));
        self.with_keys(others, epoch)
    }

    /// Each of `identities` that announced a key of `epoch`, with that key.
    fn with_keys<'a>(
        &self,
        identities: impl IntoIterator<Item = &'a [u8; 32]>,
        epoch: KeyEpoch,
    ) -> Vec<AssignedWorker> {
        identities
            .into_iter()
            .filter_map(|identity| {
                let agreement = *self.runtime_keys.get(&(*identity, epoch))?;
                Some(AssignedWorker { identity: *identity, agreement })
            })
            .collect()
    }

    /// Announces this runtime's keys for the current and the next epoch, once each. A gatekeeper
    /// (the generating one too) announces only after its own registration is on chain, so every
    /// gatekeeper has checked its quote before it handles the key, and decides alike whether to
    /// seal the master key to it.
    fn announce_epoch_keys(&mut self) {
        if self.role == Role::Gatekeeper && !self.verified.contains(&self.identity()) {
            return;
        }
        for epoch in [self.epochs.epoch(), self.epochs.next()] {
            if self.epoch_secrets.contains_key(&epoch) {
                continue;
            }
            let secret = match random_bytes() {
                Ok(bytes) => SecretBytes::new(bytes),
                Err(error) => return self.note(format!("cannot generate an epoch key: {error}")),
            };
            let agreement = AgreementSecret::from_bytes(&secret).public();
            let signed = EpochKey::signing_payload(&self.chain, &self.identity(), epoch, &agreement);
            let key = EpochKey { epoch, agreement, signature: self.identity.sign(&signed) };
            self.epoch_secrets.insert(epoch, secret);
            self.push_own(Topic::System(SystemTopic::Assignments), AssignmentMessage::EpochKey(key).encode());
        }
    }

    /// A worker's heartbeat, when the interval has passed by block time.
    fn beat(&mut self, height: u64, now_ms: u64) {
        if self.role != Role::Worker || now_ms < self.last_heartbeat_ms.saturating_add(self.heartbeat_interval_ms) {
            return;
        }
        self.last_heartbeat_ms = now_ms;
        self.push_own(Topic::System(SystemTopic::Heartbeats), Heartbeat { height }.encode());
    }

    /// Destroys every key of epochs retired by `now_ms`: master keys, this runtime's epoch keys,
    /// cluster keys. Returns whether anything was destroyed.
    fn retire(&mut self, now_ms: u64) -> bool {
        let before = self.masters.len() + self.epoch_secrets.len() + self.cluster_keys.len();
        let epochs = &self.epochs;
        self.masters.retain(|epoch, _| !epochs.retired(*epoch, now_ms));
        self.epoch_secrets.retain(|epoch, _| !epochs.retired(*epoch, now_ms));
        self.cluster_keys.retain(|epoch, _| !epochs.retired(*epoch, now_ms));
        self.runtime_keys.retain(|(_, epoch), _| !epochs.retired(*epoch, now_ms));
        before != self.masters.len() + self.epoch_secrets.len() + self.cluster_keys.len()
    }

    fn note(&mut self, refusal: String) {
        if self.refusals.len() == KEPT_REFUSALS {
            self.refusals.pop_front();
        }
        self.refusals.push_back(refusal);
    }

    /// Queues egress of this runtime's own identity; numbering continues after its messages
    /// proven on chain.
    fn push_own(&mut self, topic: Topic, payload: Vec<u8>) {
        let sender = self.own_sender();
        self.egress.resume(sender, self.own_published);
        let Ok(payload) = payload.try_into() else {
            return self.note(format!("a message on {topic} exceeds the message size"));
        };
        self.egress.push(&self.identity, sender, KeyEpoch(0), topic, payload);
    }

    /// The gatekeeper set's next output: signed and queued when this gatekeeper holds the master
    /// key of `epoch`, skipped otherwise; numbered alike on every gatekeeper either way.
    /// `make` builds it from the master key and its sequence number, or says why this gatekeeper
    /// will not (the output is then skipped, still numbered).
    fn push_set(&mut self, epoch: KeyEpoch, make: impl FnOnce(&MasterKey, u64) -> Result<KeyMessage, String>) {
        let sequence = self.set_next;
        self.set_next += 1;
        let Some(master) = self.masters.get(&epoch) else { return };
        let signer = master.set_signer(epoch);
        let message = match make(master, sequence) {
            Ok(message) => message,
            Err(error) => return self.note(format!("gatekeeper set output {sequence}: {error}")),
        };
        let Ok(payload) = message.encode().try_into() else {
            return self.note("a key message exceeds the message size".into());
        };
        self.egress.resume(SenderId::GatekeeperSet, sequence);
        let copy =
            self.egress.push(&signer, SenderId::GatekeeperSet, epoch, Topic::System(SystemTopic::KeyEpochs), payload);
        debug_assert_eq!(copy.egress.sequence, sequence);
    }

    fn handle(&mut self, topic: Topic, index: u64, message: &Message, block_time_ms: u64) -> Result<(), String> {
        match (topic, self.role) {
            (Topic::System(SystemTopic::Registrations), Role::Gatekeeper) => {
                self.on_registration(message, block_time_ms)
            }
            (Topic::System(SystemTopic::Assignments), _) => self.on_duty(index, message),
            (Topic::System(SystemTopic::KeyEpochs), _) => self.on_key_message(message),
            (Topic::System(SystemTopic::Releases), Role::Worker) => {
                if let Origin::Runtime(SenderId::Contract(contract)) = message.origin {
                    self.acknowledge_contract(contract);
                }
                Ok(())
            }
            (Topic::System(SystemTopic::Heartbeats), Role::Worker) => {
                self.acknowledge_own(message);
                Ok(())
            }
            (Topic::System(SystemTopic::Parameters), Role::Worker) => self.on_parameters(message),
            (Topic::Contract(contract), Role::Worker) => self.on_contract_message(contract, index, message),
            _ => Err("not a topic this runtime handles".into()),
        }
    }

    /// Applies the chain's new parameters that a runtime shares with it: the heartbeat interval.
    fn on_parameters(&mut self, message: &Message) -> Result<(), String> {
        if message.origin != Origin::Chain {
            return Err("parameters come from the chain only".into());
        }
        let parameters: Parameters = decode_strict(&message.payload).map_err(|e| format!("parameters: {e}"))?;
        self.heartbeat_interval_ms = parameters.liveness.heartbeat_interval_ms;
        Ok(())
    }

    /// Counts this runtime's own messages proven on chain.
    fn acknowledge_own(&mut self, message: &Message) {
        if message.origin == Origin::Runtime(self.own_sender()) {
            self.own_published += 1;
            self.egress.acknowledge(self.own_sender(), self.own_published);
        }
    }

    fn on_registration(&mut self, message: &Message, block_time_ms: u64) -> Result<(), String> {
        if message.origin != Origin::Chain {
            return Err("registrations come from the chain only".into());
        }
        let registration: WorkerRegistration = decode_strict(&message.payload).map_err(|e| e.to_string())?;
        let info = registration.info;
        if info.genesis != self.chain {
            return Err(format!("registration for chain {}", info.genesis));
        }
        match &registration.attestation {
            Attestation::InsecureSoftware if self.allow_insecure => {}
            Attestation::InsecureSoftware => return Err("software worker on a chain that requires TEEs".into()),
            Attestation::Dcap { quote, collateral } => {
                let collateral = Collateral::from_json(collateral).map_err(|e| e.to_string())?;
                let measurements = registration.measurement.into_iter().collect();
                verify_registration(quote, &collateral, block_time_ms / 1_000, &Policy::allowing(measurements), &info)
                    .map_err(|error| format!("the gatekeeper's own check refuses the quote: {error}"))?;
            }
        }
        self.verified.insert(info.signing_key);
        Ok(())
    }

    /// One entry of the duty log, in order: the same on every runtime, whatever its batches.
    fn on_duty(&mut self, index: u64, message: &Message) -> Result<(), String> {
        let duty: AssignmentMessage = decode_strict(&message.payload).map_err(|e| e.to_string())?;
        match (message.origin, duty) {
            (
                Origin::Runtime(SenderId::Worker(identity) | SenderId::Gatekeeper(identity)),
                AssignmentMessage::EpochKey(key),
            ) => {
                self.acknowledge_own(message);
                self.on_epoch_key(identity, message.origin, key)
            }
            (Origin::Chain, AssignmentMessage::Cluster(formed)) => {
                let members = formed.workers.iter().map(|worker| worker.identity).collect();
                self.clusters.insert(formed.cluster, members);
                if formed.workers.iter().any(|worker| worker.identity == self.identity()) && self.role == Role::Worker {
                    self.membership =
                        Some(Membership { cluster: formed.cluster, awaiting_snapshot: false, since_height: 0 });
                }
                self.deliver_cluster(index, formed.cluster, formed.epoch, &formed.workers)
            }
            (Origin::Chain, AssignmentMessage::Contract(assignment)) => {
                self.assigned.insert(assignment.contract, (assignment.code, assignment.cluster, assignment.epoch));
                if self.role == Role::Gatekeeper {
                    let (epoch, cluster) = (assignment.epoch, assignment.cluster);
                    self.push_set(epoch, |master, _| {
                        let cluster_key = master.cluster_key(cluster, epoch);
                        Ok(KeyMessage::ContractKeys(ContractKeys::derive(
                            &cluster_key,
                            assignment.contract,
                            assignment.code,
                        )))
                    });
                }
                self.adopt_contracts();
                Ok(())
            }
            (Origin::Chain, AssignmentMessage::Replaced(replacement)) => self.on_replacement(index, replacement),
            (Origin::Chain, AssignmentMessage::Rotation { epoch }) => {
                if self.role == Role::Gatekeeper && self.masters.contains_key(&self.epochs.epoch()) {
                    self.propose(epoch);
                }
                Ok(())
            }
            (Origin::Chain, AssignmentMessage::EpochOpened(opening)) => self.on_epoch_opened(index, opening),
            (origin, _) => Err(format!("unexpected duty from {origin:?}")),
        }
    }

    /// A runtime's announced key: checked here (its identity's signature) and remembered. A
    /// verified gatekeeper's key for the current epoch gets the master key (one set output).
    fn on_epoch_key(&mut self, identity: [u8; 32], origin: Origin, key: EpochKey) -> Result<(), String> {
        if self.role != Role::Gatekeeper {
            return Ok(());
        }
        let signed = EpochKey::signing_payload(&self.chain, &identity, key.epoch, &key.agreement);
        veil_crypto::verify_runtime_signature(&identity, &signed, &key.signature)
            .map_err(|_| format!("the epoch key of 0x{} is not signed by it", hex::encode(identity)))?;
        if self.runtime_keys.contains_key(&(identity, key.epoch)) {
            return Ok(()); // The first announcement stands.
        }
        self.runtime_keys.insert((identity, key.epoch), key.agreement);
        // Every gatekeeper decides alike: a gatekeeper announces its keys only after its own
        // registration is on chain, so the registration is always handled before the key.
        let Some(opening) = self.epochs.current().copied() else { return Ok(()) };
        if matches!(origin, Origin::Runtime(SenderId::Gatekeeper(_)))
            && opening.epoch == key.epoch
            && opening.proposer != identity
            && self.verified.contains(&identity)
        {
            let recipient = AssignedWorker { identity, agreement: key.agreement };
            self.push_set(key.epoch, |master, sequence| {
                MasterShare::seal(master, key.epoch, &recipient, sequence)
                    .map(KeyMessage::MasterShare)
                    .map_err(|error| error.to_string())
            });
        }
        Ok(())
    }

    /// Gatekeepers: the cluster key of `epoch`, sealed to each worker of `workers` whose key of the
    /// epoch this gatekeeper checked, as one set output. The chain's record of a worker's key must
    /// be the key the worker itself signed.
    fn deliver_cluster(
        &mut self,
        duty: u64,
        cluster: ClusterId,
        epoch: KeyEpoch,
        workers: &[AssignedWorker],
    ) -> Result<(), String> {
        if self.role != Role::Gatekeeper {
            self.adopt_contracts();
            return Ok(());
        }
        let (trusted, unverified): (Vec<AssignedWorker>, Vec<AssignedWorker>) = workers.iter().partition(|worker| {
            self.verified.contains(&worker.identity)
                && self.runtime_keys.get(&(worker.identity, epoch)) == Some(&worker.agreement)
        });
        self.push_set(epoch, |master, _| {
            ClusterKeys::deliver(master, &master.cluster_key(cluster, epoch), duty, &trusted)
                .map(KeyMessage::ClusterKeys)
                .map_err(|error| error.to_string())
        });
        if unverified.is_empty() {
            Ok(())
        } else {
            let names: Vec<String> = unverified.iter().map(|w| format!("0x{}", hex::encode(w.identity))).collect();
            Err(format!(
                "no key for workers whose attestation or epoch key this gatekeeper has not verified: {}",
                names.join(", ")
            ))
        }
    }

    /// A cluster lost a silent worker and perhaps gained a replacement: gatekeepers deliver the
    /// current cluster key to the workers now in it; the replacement waits for a snapshot.
    fn on_replacement(&mut self, duty: u64, replacement: Replacement) -> Result<(), String> {
        let members = self.clusters.entry(replacement.cluster).or_default();
        members.remove(&replacement.removed);
        if let Some(added) = replacement.added {
            members.insert(added.identity);
        }
        let me = self.identity();
        if self.role == Role::Worker {
            if replacement.removed == me && self.membership.map(|m| m.cluster) == Some(replacement.cluster) {
                // Declared offline: it leaves the cluster, its keys and its contracts.
                self.membership = None;
                self.cluster_keys.clear();
                for (id, _) in std::mem::take(&mut self.contracts) {
                    self.follower.unfollow(&Topic::Contract(id));
                    self.egress.forget(SenderId::Contract(id));
                    self.contracts_published.remove(&id);
                }
                return Ok(());
            }
            if replacement.added.is_some_and(|added| added.identity == me) {
                let since_height = self.follower.state().height;
                self.membership =
                    Some(Membership { cluster: replacement.cluster, awaiting_snapshot: true, since_height });
            }
            return Ok(());
        }
        let Some(added) = replacement.added else { return Ok(()) };
        // Everyone in the cluster with a key of the epoch; the added worker is named with the key
        // the chain recorded, which `deliver_cluster` checks against the one it signed.
        let others = self.clusters[&replacement.cluster].iter().filter(|identity| **identity != added.identity);
        let mut workers = self.with_keys(others, replacement.epoch);
        workers.push(added);
        workers.sort_by_key(|worker| worker.identity);
        self.deliver_cluster(duty, replacement.cluster, replacement.epoch, &workers)
    }

    /// An epoch opened. Its proposer (if this gatekeeper) keeps its candidate as the master key
    /// and the set's keys move to it; every gatekeeper numbers the epoch's outputs: each cluster's
    /// new keys, then each contract's.
    fn on_epoch_opened(&mut self, duty: u64, opening: EpochOpening) -> Result<(), String> {
        if !self.epochs.record(opening) {
            return Err(format!("{} opened twice", opening.epoch));
        }
        if self.role != Role::Gatekeeper {
            return Ok(());
        }
        if let Some((epoch, candidate)) = self.candidate.take()
            && epoch == opening.epoch
            && opening.proposer == self.identity()
            && candidate.public() == opening.master
            && candidate.set_signer(epoch).public() == opening.signing
        {
            self.take_master(epoch, candidate);
        }
        let epoch = opening.epoch;
        let clusters: Vec<(ClusterId, Vec<[u8; 32]>)> =
            self.clusters.iter().map(|(id, workers)| (*id, workers.iter().copied().collect())).collect();
        for (cluster, identities) in clusters {
            let workers = self.with_keys(&identities, epoch);
            if let Err(error) = self.deliver_cluster(duty, cluster, epoch, &workers) {
                self.note(error);
            }
        }
        let contracts: Vec<(ContractId, Hash, ClusterId)> =
            self.assigned.iter().map(|(id, (code, cluster, _))| (*id, *code, *cluster)).collect();
        for (contract, code, cluster) in contracts {
            self.push_set(epoch, |master, _| {
                Ok(KeyMessage::ContractKeys(ContractKeys::derive(&master.cluster_key(cluster, epoch), contract, code)))
            });
        }
        Ok(())
    }

    /// A gatekeeper now holds the master key of `epoch`: the set's pending outputs are signed
    /// again with the epoch's key (the chain refuses the older epoch's signatures from now on).
    fn take_master(&mut self, epoch: KeyEpoch, master: MasterKey) {
        if epoch == self.epochs.epoch() {
            self.egress.resign(&master.set_signer(epoch), SenderId::GatekeeperSet, epoch);
        }
        self.masters.insert(epoch, master);
    }

    fn on_key_message(&mut self, message: &Message) -> Result<(), String> {
        let key_message: KeyMessage = decode_strict(&message.payload).map_err(|e| e.to_string())?;
        match (message.origin, key_message) {
            (Origin::Runtime(SenderId::Gatekeeper(proposer)), KeyMessage::Proposal(proposal)) => {
                if !self.gatekeepers.contains(&proposer) {
                    return Err(format!("0x{} is not a genesis gatekeeper", hex::encode(proposer)));
                }
                if proposer == self.identity() {
                    self.acknowledge_own(message);
                }
                if self.role != Role::Gatekeeper || self.masters.contains_key(&proposal.epoch) {
                    return Ok(());
                }
                // Only the proposal that opened its epoch counts; a later one lost the race.
                let Some(opening) = self.epochs.opening(proposal.epoch).copied() else { return Ok(()) };
                if opening.proposer != proposer || opening.master != proposal.master {
                    return Ok(());
                }
                let Some(secret) = self.epoch_secrets.get(&proposal.epoch) else { return Ok(()) };
                let key = AgreementSecret::from_bytes(secret);
                match proposal.open(&self.identity(), &key) {
                    None => Ok(()),
                    Some(Ok(master)) => {
                        self.take_master(proposal.epoch, master);
                        Ok(())
                    }
                    Some(Err(error)) => Err(format!("the master key of {} does not open: {error}", proposal.epoch)),
                }
            }
            (Origin::Runtime(SenderId::GatekeeperSet), message) => {
                if self.role == Role::Gatekeeper {
                    self.set_published += 1;
                    self.egress.acknowledge(SenderId::GatekeeperSet, self.set_published);
                }
                match message {
                    KeyMessage::MasterShare(share) if self.role == Role::Gatekeeper => self.on_master_share(share),
                    KeyMessage::ClusterKeys(keys) if self.role == Role::Worker => self.on_cluster_keys(keys),
                    _ => Ok(()),
                }
            }
            (origin, _) => Err(format!("key messages come from gatekeepers only, not {origin:?}")),
        }
    }

    fn on_master_share(&mut self, share: MasterShare) -> Result<(), String> {
        if share.delivery.recipient != self.identity() || self.masters.contains_key(&share.epoch) {
            return Ok(());
        }
        let opening =
            self.epochs.opening(share.epoch).copied().ok_or(format!("a share of unopened {}", share.epoch))?;
        let secret =
            self.epoch_secrets.get(&share.epoch).ok_or(format!("no key of {} to open a share", share.epoch))?;
        let master = share
            .open(&self.identity(), &AgreementSecret::from_bytes(secret), &opening.master, &opening.signing)
            .map_err(|error| format!("the master share of {} is refused: {error}", share.epoch))?;
        self.take_master(share.epoch, master);
        Ok(())
    }

    /// A worker's cluster key of an epoch, if addressed to it: checked against the published keys,
    /// for an epoch still usable. Contracts of the cluster waiting for that key start.
    fn on_cluster_keys(&mut self, keys: ClusterKeys) -> Result<(), String> {
        let Some(membership) = self.membership else { return Ok(()) };
        if keys.cluster != membership.cluster || self.cluster_keys.contains_key(&keys.epoch) {
            return Ok(());
        }
        let Some(secret) = self.epoch_secrets.get(&keys.epoch) else {
            if keys.deliveries.iter().any(|delivery| delivery.recipient == self.identity()) {
                return Err(format!("a cluster key of {} for which this worker holds no key", keys.epoch));
            }
            return Ok(());
        };
        let Some(opened) = keys.open(&self.identity(), &AgreementSecret::from_bytes(secret)) else {
            return Ok(()); // Not addressed to this worker.
        };
        let cluster_key = opened.map_err(|error: ConfidentialError| error.to_string())?;
        self.cluster_keys.insert(keys.epoch, cluster_key);
        self.adopt_contracts();
        Ok(())
    }

    /// Starts following every contract of this worker's cluster that it does not run yet and
    /// whose first epoch's cluster key it holds (not for a replacement: its contracts come with a
    /// snapshot). A built-in contract starts empty; wasm code waits for its deployment.
    fn adopt_contracts(&mut self) {
        let Some(membership) = self.membership else { return };
        if membership.awaiting_snapshot {
            return;
        }
        let waiting: Vec<(ContractId, Hash, KeyEpoch)> = self
            .assigned
            .iter()
            .filter(|(id, (_, cluster, epoch))| {
                *cluster == membership.cluster
                    && !self.contracts.contains_key(id)
                    && self.cluster_keys.contains_key(epoch)
            })
            .map(|(id, (code, _, epoch))| (*id, *code, *epoch))
            .collect();
        for (contract, code, epoch) in waiting {
            let runner = match instantiate(&code, None).transpose() {
                Ok(runner) => runner,
                Err(error) => {
                    self.note(format!("contract {contract}: {error}"));
                    None
                }
            };
            self.contracts.insert(contract, Instance { code, epoch, contract: runner });
            self.follower.follow(Topic::Contract(contract));
        }
    }

    fn on_contract_message(&mut self, contract: ContractId, index: u64, message: &Message) -> Result<(), String> {
        let instance = self.contracts.get(&contract).ok_or("no keys for this contract")?;
        let parsed: ContractMessage = decode_strict(&message.payload).map_err(|e| e.to_string())?;
        match (parsed, message.origin) {
            (ContractMessage::Assigned(assignment), Origin::Chain) => {
                if assignment.code != instance.code {
                    return Err(format!(
                        "assigned code {} differs from the duty log's {}",
                        assignment.code, instance.code
                    ));
                }
                Ok(())
            }
            (ContractMessage::Deployed(deployment), Origin::Chain) => self.deploy(contract, index, deployment),
            (ContractMessage::Rekeyed { epoch }, Origin::Chain) => self.rekey(contract, epoch),
            (ContractMessage::Command(command), Origin::Account(sender)) => {
                self.execute(contract, index, Caller::Account(AbiAccount(sender.0)), command)
            }
            (ContractMessage::Command(command), Origin::Runtime(SenderId::Contract(from))) => {
                self.acknowledge_contract(from);
                if command.value != Balance(0) {
                    return Err(format!(
                        "a message from contract {from} carries native tokens; none move between contracts"
                    ));
                }
                self.execute(contract, index, Caller::Contract(AbiContract(from.0)), command)
            }
            (_, origin) => Err(format!("unexpected message from {origin:?}")),
        }
    }

    /// The contract's keys move to `epoch`: its state is encrypted, its secrets derived and its
    /// egress signed under the new keys from here on; its pending egress is signed again.
    fn rekey(&mut self, contract: ContractId, epoch: KeyEpoch) -> Result<(), String> {
        let cluster_key = self.cluster_keys.get(&epoch).ok_or(format!("no cluster key of {epoch} to re-key with"))?;
        let key = cluster_key.contract_key(contract);
        let instance = self.contracts.get_mut(&contract).ok_or("no keys for this contract")?;
        if epoch <= instance.epoch {
            return Err(format!("re-keyed to {epoch}, but it already runs under {}", instance.epoch));
        }
        instance.epoch = epoch;
        if let Some(runner) = instance.contract.as_mut() {
            runner.rekey(&key);
        }
        self.egress.resign(&key.signer(), SenderId::Contract(contract), epoch);
        Ok(())
    }

    /// One more message of `contract`'s egress is proven on chain.
    fn acknowledge_contract(&mut self, contract: ContractId) {
        if !self.contracts.contains_key(&contract) {
            return; // Another cluster's contract.
        }
        let published = self.contracts_published.entry(contract).or_default();
        *published += 1;
        self.egress.acknowledge(SenderId::Contract(contract), *published);
    }

    /// The cluster key whose derived keys an envelope sealed for `contract` opens under: the epoch its
    /// header names, if that epoch's keys were usable at the message's block time.
    fn cluster_key_for(
        &self,
        contract: ContractId,
        sealed: &[u8],
        at_ms: u64,
    ) -> Result<(ClusterKey, KeyEpoch), String> {
        let epoch = decode_strict::<veil_crypto::Envelope>(sealed)
            .map(|envelope| envelope.header.key_epoch)
            .map_err(|error| format!("not an envelope: {error}"))?;
        if !self.epochs.usable(epoch, at_ms) {
            return Err(format!("key epoch expired: sealed to {epoch}, which was retired at that block"));
        }
        let key = self.cluster_keys.get(&epoch).ok_or(format!("no key of {epoch} for contract {contract}"))?;
        Ok((key.clone(), epoch))
    }

    /// Compiles a wasm contract's code, opens its constructor argument (sealed to the cluster's key
    /// under the deployer's transaction) and runs its constructor. If any step fails the contract
    /// stays undeployed: its commands are refused and their tokens returned.
    fn deploy(&mut self, contract: ContractId, index: u64, deployment: Deployment) -> Result<(), String> {
        let instance = self.contracts.get(&contract).ok_or("no keys for this contract")?;
        if instance.contract.is_some() {
            return Err("the contract is already deployed".into());
        }
        if sha256(&deployment.code) != instance.code {
            return Err(format!("the deployed code's hash differs from the assigned {}", instance.code));
        }
        let current = self.cluster_keys.get(&instance.epoch).ok_or("no cluster key of the contract's epoch")?;
        let key = current.contract_key(contract);
        let argument = if deployment.argument.is_empty() {
            zeroize::Zeroizing::new(Vec::new())
        } else {
            let (cluster_key, epoch) =
                self.cluster_key_for(contract, &deployment.argument, deployment.block.timestamp_ms)?;
            let binding = CommandBinding {
                chain: self.chain,
                contract,
                epoch,
                sender: deployment.owner,
                nonce: deployment.nonce,
            };
            open_command(&cluster_key.agreement(), &binding, &deployment.argument)
                .map_err(|error| format!("the constructor argument does not open: {error}"))?
        };
        let mut wasm = WasmContract::deploy(&self.engine, &deployment.code, &key, deployment.owner)
            .map_err(|error| format!("the code does not compile: {error}"))?;
        let context = CommandContext {
            contract,
            caller: Caller::Account(AbiAccount(deployment.owner.0)),
            block: deployment.block,
            fuel: deployment.fuel,
            value: 0,
            call_id: call_id(contract, index),
        };
        let executed = wasm.init(&context, &argument, &self.peers(contract));
        self.fuel_used = self.fuel_used.saturating_add(executed.fuel_used);
        let effects = executed.result.map_err(|failure| format!("the constructor failed: {}", public(&failure)))?;
        if let Some(instance) = self.contracts.get_mut(&contract) {
            instance.contract = Some(Box::new(wasm));
        }
        self.carry_out(&key, deployment.block, effects)
    }

    /// Opens a command under the binding the chain published and executes it. A command that does
    /// not open, reaches no deployed code or fails returns the native tokens it carried.
    fn execute(
        &mut self,
        contract: ContractId,
        index: u64,
        caller: Caller,
        command: CommandMessage,
    ) -> Result<(), String> {
        let instance = self.contracts.get(&contract).ok_or("no keys for this contract")?;
        let key = self
            .cluster_keys
            .get(&instance.epoch)
            .ok_or("no cluster key of the contract's epoch")?
            .contract_key(contract);
        let sender = match caller {
            Caller::Account(account) => AccountId(account.0),
            Caller::Contract(from) => AccountId(from.0),
        };
        let who = format!("command of {sender} (nonce {})", command.nonce);
        let opened = self.cluster_key_for(contract, &command.payload, command.block.timestamp_ms).and_then(
            |(sealed_to, epoch)| {
                let binding = CommandBinding { chain: self.chain, contract, epoch, sender, nonce: command.nonce };
                open_command(&sealed_to.contract_key(contract).agreement(), &binding, &command.payload)
                    .map_err(|error| error.to_string())
            },
        );
        let plain = match opened {
            Ok(plain) => plain,
            Err(error) => return self.refund(&key, sender, command.value, format!("{who} refused: {error}")),
        };
        let peers = self.peers(contract);
        let Some(runner) = self.contracts.get_mut(&contract).and_then(|instance| instance.contract.as_mut()) else {
            return self.refund(&key, sender, command.value, format!("{who} refused: the contract is not deployed"));
        };
        let context = CommandContext {
            contract,
            caller,
            block: command.block,
            fuel: command.fuel,
            value: command.value.0,
            call_id: call_id(contract, index),
        };
        let executed = runner.command(&context, &plain, &peers);
        self.fuel_used = self.fuel_used.saturating_add(executed.fuel_used);
        match executed.result {
            Ok(effects) => self.carry_out(&key, command.block, effects),
            Err(failure) => {
                let reason = format!("{who} failed after {} fuel: {}", executed.fuel_used, public(&failure));
                self.refund(&key, sender, command.value, reason)
            }
        }
    }

    /// Returns `value` to `to` by a release, then reports `reason` as the message's refusal.
    fn refund(&mut self, key: &ContractKey, to: AccountId, value: Balance, reason: String) -> Result<(), String> {
        if value != Balance(0) {
            self.release(key, Release { to, amount: value })?;
        }
        Err(reason)
    }

    /// Queues a release of the contract's locked tokens as its egress.
    fn release(&mut self, key: &ContractKey, release: Release) -> Result<(), String> {
        let payload = release.encode().try_into().map_err(|_| "a release exceeds a message".to_string())?;
        let topic = Topic::System(SystemTopic::Releases);
        self.egress.push(&key.signer(), SenderId::Contract(key.contract()), key.epoch(), topic, payload);
        Ok(())
    }

    /// Turns a successful call's effects into the contract's egress: releases on the releases
    /// topic, messages to contracts of the cluster sealed to their current keys. Events stay inside.
    fn carry_out(&mut self, key: &ContractKey, block: BlockStamp, effects: Effects) -> Result<(), String> {
        let sender = SenderId::Contract(key.contract());
        let signer = key.signer();
        for (to, amount) in effects.released {
            self.release(key, Release { to: AccountId(to.0), amount: Balance(amount) })?;
        }
        for (target, message, fuel) in effects.sent {
            let target = ContractId(target.0);
            if !self.contracts.contains_key(&target) {
                return Err(format!("a message to {target}, which does not run in this cluster"));
            }
            // Sealed to the target's key of the sender's epoch: decided by the sender's own topic,
            // so every worker seals alike whatever its batches.
            let target_key =
                self.cluster_keys.get(&key.epoch()).ok_or("no cluster key of the sender's epoch")?.contract_key(target);
            let nonce = self.egress.next(sender);
            let binding = CommandBinding {
                chain: self.chain,
                contract: target,
                epoch: target_key.epoch(),
                sender: AccountId(key.contract().0),
                nonce,
            };
            let recipient = target_key.agreement().public();
            let sealed = seal_command_with(&key.ephemeral_for(&recipient, nonce), &recipient, &binding, &message)
                .map_err(|error| format!("cannot seal a message to {target}: {error}"))?;
            let payload = sealed.try_into().map_err(|_| "a message to a contract exceeds a command".to_string())?;
            let command = CommandMessage { nonce, block, fuel, value: Balance(0), payload };
            let payload = ContractMessage::Command(command)
                .encode()
                .try_into()
                .map_err(|_| "a message to a contract exceeds a message".to_string())?;
            self.egress.push(&signer, sender, key.epoch(), Topic::Contract(target), payload);
        }
        Ok(())
    }

    /// The other deployed contracts of this worker's cluster, for `contract`'s queries and messages.
    fn peers(&self, contract: ContractId) -> Peers {
        let peers = self
            .contracts
            .iter()
            .filter(|(id, _)| **id != contract)
            .filter_map(|(id, instance)| Some((AbiContract(id.0), instance.contract.as_ref()?.peer()?)))
            .collect();
        Arc::new(peers)
    }

    /// Answers a sealed query (the body of `POST /v1/query`) at the current view; `now_ms` is the
    /// local clock, used only for the staleness bound.
    pub fn query(&self, body: &[u8], now_ms: u64) -> Result<Vec<u8>, QueryError> {
        let signed = open_query(&self.agreement, body).map_err(|e| QueryError::Unreadable(e.to_string()))?;
        let query = &signed.query;
        if query.chain != self.chain || query.worker != self.identity() {
            return Err(QueryError::Misaddressed { worker: query.worker, chain: query.chain });
        }
        let session_expiry = signed.verify().map_err(|e| QueryError::Unauthenticated(e.to_string()))?;
        let view = self.follower.state();
        let height = view.height;
        if let Some(expired_at) = session_expiry
            && expired_at < height
        {
            return Err(QueryError::SessionExpired { expired_at, height });
        }
        if query.known_height > height.saturating_add(self.limits.max_lag_blocks) {
            return Err(QueryError::Stale(format!(
                "it stands at height {height}, the client knows {} (at most {} blocks behind are allowed)",
                query.known_height, self.limits.max_lag_blocks
            )));
        }
        if let Some(max_age) = self.limits.max_age_ms
            && now_ms.saturating_sub(view.timestamp_ms) > max_age
        {
            return Err(QueryError::Stale(format!(
                "its newest block is {} ms old (at most {max_age} ms allowed)",
                now_ms.saturating_sub(view.timestamp_ms)
            )));
        }
        let max = self.limits.max_validity_blocks;
        if query.valid_until < height || query.valid_until > height.saturating_add(max) {
            return Err(QueryError::Validity { valid_until: query.valid_until, height, max });
        }
        let instance = self.contracts.get(&query.contract).ok_or(QueryError::UnknownContract(query.contract))?;
        let contract = instance.contract.as_ref().ok_or(QueryError::UnknownContract(query.contract))?;
        {
            let mut answered = self.answered.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            answered.retain(|_, valid_until| *valid_until >= height);
            if answered.insert((query.requester, query.nonce), query.valid_until).is_some() {
                return Err(QueryError::Replayed { requester: query.requester, nonce: query.nonce });
            }
        }
        let block = BlockStamp { height, timestamp_ms: view.timestamp_ms };
        let result = match contract.query(&query.requester, block, &query.payload, &self.peers(query.contract)) {
            Ok(bytes) => AnswerResult::Ok(bytes.try_into().map_err(|_| QueryError::Seal("answer too large".into()))?),
            Err(reason) => {
                let mut reason = reason.into_bytes();
                reason.truncate(veil_crypto::confidential::MAX_REASON);
                AnswerResult::Refused(reason.try_into().map_err(|_| QueryError::Seal("reason too long".into()))?)
            }
        };
        let answer = Answer {
            request: signed.hash(),
            height,
            code: instance.code,
            worker: self.identity(),
            insecure: self.insecure,
            result,
        };
        seal_answer(&self.identity, answer, &query.response_key).map_err(|e| QueryError::Seal(e.to_string()))
    }
}

/// A checkpointed or snapshotted contract, its state opened under its key of its epoch.
fn restore_instance(
    engine: &Engine,
    cluster_keys: &BTreeMap<KeyEpoch, ClusterKey>,
    saved: SavedContract,
) -> Result<Instance, String> {
    let contract = match saved.state {
        None => None,
        Some(state) => {
            let keys = cluster_keys
                .get(&saved.epoch)
                .ok_or_else(|| format!("no cluster key of {} for {}", saved.epoch, saved.contract))?;
            Some(restore_contract(engine, &saved.code, &state, &keys.contract_key(saved.contract))?)
        }
    };
    Ok(Instance { code: saved.code, epoch: saved.epoch, contract })
}

/// A contract's state: built in, or wasm (its sealed form opens under its own contract key).
fn restore_contract(
    engine: &Engine,
    code: &Hash,
    state: &[u8],
    key: &ContractKey,
) -> Result<Box<dyn Contract>, String> {
    if let Some(builtin) = instantiate(code, Some(state)) {
        return builtin;
    }
    let wasm = WasmContract::restore(engine, state, key)?;
    if wasm.code() != *code {
        return Err(format!("the checkpointed module of {} is not its code {code}", key.contract()));
    }
    Ok(Box::new(wasm))
}

/// A call's id: the contract and the message's index on its topic, unique forever.
fn call_id(contract: ContractId, index: u64) -> [u8; 32] {
    sha256(&(b"veil/call/v1", contract, index).encode()).0
}

/// What may be logged of a failure: a contract's own refusal reason may quote confidential state,
/// so only the kind is told.
fn public(failure: &Failure) -> String {
    match failure {
        Failure::Refused(_) => "refused by the contract (its reason is confidential)".into(),
        other => other.to_string(),
    }
}
