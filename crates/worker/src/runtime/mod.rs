//! The runtime's state machine: keys, followed topics, contracts, gatekeeper duties, queries.
//!
//! [`Runtime::apply`] takes one [`Batch`] from the relayer. The whole batch is verified first
//! ([`Follower::accept`]); then its messages are handled in topic order (registrations, the duty
//! log, key epochs, releases, heartbeats, parameters, sessions, then contract topics), each message in log
//! order. A message that is refused does not stop the batch: the chain already ordered it, and
//! every runtime refuses it the same way ([`Refusal`], with a stable code), so states stay equal.
//! Contracts never see the batch height (a worker that syncs in bigger steps must reach the same
//! state).
//!
//! # Shape
//!
//! A runtime is [`Setting`] (genesis facts and what the host gives it, never sealed), the
//! [`Follower`] (its light-client view), [`Core`] (what both roles keep: identity, query key, the
//! epoch log and its own epoch keys, the duty log's contract assignments, egress) and its role's
//! [`Duties`]: [`WorkerDuties`] or [`GatekeeperDuties`], each owning its fields. The checkpoint is
//! the SCALE encoding of the core, the view and the duties, nothing else, so a new field is
//! written once. One file per duty:
//!
//! - `sync`: a batch in, each message to the duty that handles it, then the runtime's own
//!   announcements (epoch keys, heartbeats) and the retirement of old epochs' keys;
//! - `keys`: the identity and epoch keys, where randomness comes from, retirement;
//! - `gatekeeper`: registrations checked inside the TEE, the master key, cluster-key and
//!   contract-key deliveries as the gatekeeper set's egress;
//! - `worker`: cluster membership, cluster keys, replacement, heartbeats, parameters;
//! - `execution`: the contracts a worker runs: deployment, commands, re-keying, their egress;
//! - `query`: sealed queries answered from the current state;
//! - `sessions`: which query sessions are too long or revoked;
//! - `persistence`: checkpoints and cluster snapshots.
//!
//! The core does no I/O and reads no clock: block time comes with each batch, the query's local
//! time is an argument, and fresh secrets come from the host's [`Randomness`], so a network of
//! runtimes can run in one deterministic simulation.

mod execution;
mod gatekeeper;
mod keys;
mod persistence;
mod query;
mod refusal;
mod sessions;
mod standing;
mod sync;
mod worker;

use std::{
    collections::{BTreeMap, VecDeque},
    sync::{Arc, Mutex},
};
use veil_types::EpochHistory as _;

use parity_scale_codec::{Decode, Encode};
use veil_contract_engine::Engine;
use veil_crypto::{AgreementSecret, RuntimeSigner, Sealable, SecretBytes};
use veil_genesis::Genesis;
use veil_light_client::LightClient;
use veil_primitives::{
    AccountId, ClusterId, ContractId, Hash, KeyEpoch, RegistrationInfo, SenderId, SignedEgress, contract::Assignment,
};
use veil_types::EpochLog;

use crate::{
    egress::EgressQueue,
    sync::{Follower, FollowerState},
};
use gatekeeper::GatekeeperDuties;
use keys::Seeded;
use worker::WorkerDuties;

pub use keys::{OsRandomness, Randomness, SeededRandomness};
pub use persistence::SnapshotError;
pub use query::{QueryError, QueryLimits};
pub use refusal::{Refusal, Refused};

/// What this runtime does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// Runs contracts assigned to it.
    Worker,
    /// Holds the master key and hands out cluster keys.
    Gatekeeper,
}

/// What the host gives a runtime besides genesis: whether a TEE protects it, its query limits, and
/// where its fresh secrets come from.
#[derive(Clone)]
pub struct Host {
    /// True without a TEE; answers say so.
    pub insecure: bool,
    /// Limits of the query service.
    pub limits: QueryLimits,
    /// Every fresh secret the runtime makes (its keys, master keys) comes from here.
    pub randomness: Arc<dyn Randomness>,
}

impl Host {
    /// A host with the operating system's randomness.
    pub fn new(insecure: bool, limits: QueryLimits) -> Self {
        Self { insecure, limits, randomness: Arc::new(OsRandomness) }
    }
}

/// Why the runtime cannot start or restore.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// The genesis network key is unusable.
    #[error("genesis network key: {0}")]
    NetworkKey(String),
    /// The checkpoint is of another chain or role, or does not decode.
    #[error("checkpoint: {0}")]
    Checkpoint(String),
    /// No randomness.
    #[error(transparent)]
    Randomness(#[from] veil_crypto::random::RandomnessError),
}

/// What a runtime reports after a batch.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Applied {
    /// The view's height after the batch.
    pub height: u64,
    /// Whether every followed topic reached the batch's header (false for a page: the height did
    /// not move).
    pub complete: bool,
    /// Messages handled.
    pub messages: u64,
    /// Messages refused, each with its reason (the state is as if they were not there; a failed
    /// command's fuel is still used), and duties the runtime could not carry out.
    pub refused: Vec<Refused>,
    /// Fuel used by the contract calls of the batch, failed ones included: equal on every worker
    /// that handles the same batch.
    pub fuel_used: u64,
    /// Keys of a retired epoch were destroyed in this batch: older checkpoints that hold them must
    /// be overwritten, not kept as a fallback.
    pub destroyed_keys: bool,
}

/// Genesis facts and the host's gifts: fixed for the runtime's life, never sealed.
struct Setting {
    chain: Hash,
    allow_insecure: bool,
    /// Genesis's registration rules (which software runtimes it lets in).
    registration: veil_genesis::RegistrationRules,
    host: Host,
    engine: Engine,
}

/// What both roles keep. Holds secrets: its encoding is only ever sealed.
#[derive(Encode, Decode)]
struct Core {
    chain: Hash,
    identity: Seeded<RuntimeSigner>,
    /// The X25519 key queries are sealed to.
    query_key: Seeded<AgreementSecret>,
    epochs: EpochLog,
    /// The secret halves of this runtime's announced epoch keys; destroyed when the epoch retires.
    epoch_secrets: BTreeMap<KeyEpoch, Sealable<SecretBytes<32>>>,
    /// Every contract, as the duty log assigned it.
    assigned: BTreeMap<ContractId, Assignment>,
    /// The gatekeeper set, in order (the first generates the first master key): genesis's, then
    /// as the duty log replaced identities.
    gatekeepers: Vec<[u8; 32]>,
    egress: EgressQueue,
    /// How much of this runtime's own egress (its identity's) it saw accepted on chain.
    own_published: u64,
    /// Block time of its last heartbeat.
    last_heartbeat_ms: u64,
    /// The chain's heartbeat interval, as the parameters topic last said (genesis's before).
    heartbeat_interval_ms: u64,
    /// The most recent refusals, for the status; not sealed.
    #[codec(skip)]
    recent: VecDeque<Refused>,
    /// Refusals of duties (not of messages) during the batch being applied; not sealed.
    #[codec(skip)]
    noted: Vec<Refusal>,
}

/// How many recent refusals the runtime remembers for its status.
const KEPT_REFUSALS: usize = 64;

impl Core {
    fn identity(&self) -> [u8; 32] {
        self.identity.key().public()
    }

    /// A duty this runtime could not carry out; reported with the batch's refusals.
    fn note(&mut self, refusal: Refusal) {
        self.noted.push(refusal);
    }

    fn remember(&mut self, refused: Refused) {
        if self.recent.len() == KEPT_REFUSALS {
            self.recent.pop_front();
        }
        self.recent.push_back(refused);
    }
}

/// A role's own state.
#[derive(Encode, Decode)]
enum Duties {
    #[codec(index = 0)]
    Worker(WorkerDuties),
    #[codec(index = 1)]
    Gatekeeper(GatekeeperDuties),
}

impl Duties {
    fn role(&self) -> Role {
        match self {
            Self::Worker(_) => Role::Worker,
            Self::Gatekeeper(_) => Role::Gatekeeper,
        }
    }

    /// The topics a role follows from the start. Both follow their own heartbeats (to acknowledge
    /// them) and the parameters (the heartbeat interval). Workers follow releases, sessions and
    /// (once they run contracts) contract topics: where the contracts' egress lands.
    fn system_topics(&self) -> &'static [veil_primitives::SystemTopic] {
        use veil_primitives::SystemTopic::*;
        match self {
            Self::Worker(_) => &[Assignments, KeyEpochs, Releases, Heartbeats, Parameters, Sessions],
            Self::Gatekeeper(_) => &[Registrations, Assignments, KeyEpochs, Heartbeats, Parameters],
        }
    }
}

/// The runtime.
pub struct Runtime {
    setting: Setting,
    follower: Follower,
    core: Core,
    duties: Duties,
    /// Answered queries by (requester, nonce), until their last valid height: refuses replays.
    answered: Mutex<BTreeMap<(AccountId, [u8; 16]), u64>>,
}

impl Runtime {
    /// SHA-256 over the followed topics' logs and every contract's code and state: equal on every
    /// worker that handled the same messages, whatever restarts happened in between.
    pub fn state_root(&self) -> Hash {
        let contracts = match &self.duties {
            Duties::Worker(worker) => worker.contracts.committed(),
            Duties::Gatekeeper(_) => Vec::new(),
        };
        veil_primitives::hashing::sha256(&(&self.follower.state().topics, contracts).encode())
    }

    /// The chain id.
    pub fn chain(&self) -> Hash {
        self.setting.chain
    }

    /// Worker or gatekeeper.
    pub fn role(&self) -> Role {
        self.duties.role()
    }

    /// True without a TEE.
    pub fn insecure(&self) -> bool {
        self.setting.host.insecure
    }

    /// The ed25519 identity key (signs egress and answers).
    pub fn identity(&self) -> [u8; 32] {
        self.core.identity()
    }

    /// The X25519 key queries are sealed to.
    pub fn agreement_key(&self) -> [u8; 32] {
        self.core.query_key.key().public()
    }

    /// The current master key's public half (gatekeepers holding it only).
    pub fn master_public(&self) -> Option<[u8; 32]> {
        match &self.duties {
            Duties::Gatekeeper(gatekeeper) => gatekeeper.master_public(self.core.epochs.epoch()),
            Duties::Worker(_) => None,
        }
    }

    /// The current key epoch as this runtime read it (`None` before the first opened).
    pub fn key_epoch(&self) -> Option<KeyEpoch> {
        self.core.epochs.current().map(|opening| opening.epoch)
    }

    /// The cluster this worker is in, and whether it waits for a snapshot to join it.
    pub fn cluster(&self) -> Option<(ClusterId, bool)> {
        match &self.duties {
            Duties::Worker(worker) => worker.membership.map(|m| (m.cluster, m.awaiting_snapshot)),
            Duties::Gatekeeper(_) => None,
        }
    }

    /// What a registration of this runtime by `operator` binds: its report data goes into the quote.
    pub fn registration_info(&self, operator: AccountId) -> RegistrationInfo {
        RegistrationInfo {
            signing_key: self.identity(),
            agreement_key: self.agreement_key(),
            genesis: self.setting.chain,
            operator,
        }
    }

    /// Where it stands.
    pub fn view(&self) -> &FollowerState {
        self.follower.state()
    }

    /// The contracts it runs: id, code hash, key epoch, and whether the code is available here.
    pub fn contracts(&self) -> Vec<(ContractId, Hash, KeyEpoch, bool)> {
        match &self.duties {
            Duties::Worker(worker) => worker.contracts.listed(),
            Duties::Gatekeeper(_) => Vec::new(),
        }
    }

    /// SHA-256 of a deployed contract's sealed state (`None` when it is not deployed here): lets
    /// tests and operators compare replicas without seeing the state.
    pub fn contract_state_hash(&self, contract: &ContractId) -> Option<Hash> {
        match &self.duties {
            Duties::Worker(worker) => worker.contracts.state_hash(contract),
            Duties::Gatekeeper(_) => None,
        }
    }

    /// Egress not yet seen accepted on chain, in sequence order per sender.
    pub fn pending_egress(&self) -> Vec<SignedEgress> {
        self.core.egress.pending().cloned().collect()
    }

    /// The most recent refusals, newest last.
    pub fn refusals(&self) -> impl Iterator<Item = &Refused> {
        self.core.recent.iter()
    }

    /// Every secret key this runtime holds, with its epoch (`None`: not tied to an epoch: the
    /// identity and query keys). For tests that check a retired epoch's keys are gone from sealed
    /// state.
    pub fn secret_keys(&self) -> Vec<(Option<KeyEpoch>, [u8; 32])> {
        let mut keys = vec![(None, *self.core.identity.seed().expose()), (None, *self.core.query_key.seed().expose())];
        keys.extend(self.core.epoch_secrets.iter().map(|(epoch, secret)| (Some(*epoch), *secret.expose())));
        match &self.duties {
            Duties::Gatekeeper(gatekeeper) => keys.extend(gatekeeper.secret_keys()),
            Duties::Worker(worker) => keys.extend(worker.secret_keys()),
        }
        keys
    }
}

/// The sender id of a runtime's own egress.
fn own_sender(role: Role, identity: [u8; 32]) -> SenderId {
    match role {
        Role::Worker => SenderId::Worker(identity),
        Role::Gatekeeper => SenderId::Gatekeeper(identity),
    }
}

impl Setting {
    /// Whether genesis lets `identity` register without a quote (as the chain decides).
    fn allows_insecure(&self, identity: &[u8; 32]) -> bool {
        self.allow_insecure && self.registration.insecure_allowed(identity)
    }

    fn new(genesis: &Genesis, host: Host) -> Result<(Self, LightClient), RuntimeError> {
        let client = LightClient::new(&genesis.network.public_key, &genesis.network.namespace)
            .map_err(|error| RuntimeError::NetworkKey(error.to_string()))?;
        let setting = Self {
            chain: genesis.hash(),
            allow_insecure: genesis.allow_insecure_workers,
            registration: genesis.registration.clone(),
            host,
            engine: Engine::new(),
        };
        Ok((setting, client))
    }
}

#[cfg(test)]
mod tests;
