//! The runtime's state machine: keys, followed topics, contracts, gatekeeper duties, queries.
//!
//! [`Runtime::apply`] takes one [`Batch`] from the relayer. The whole batch is verified first
//! ([`Follower::accept`]); then its messages are handled in topic order (registrations,
//! assignments, key epochs, then contract topics), each message in log order:
//!
//! - **Gatekeeper** (role [`Role::Gatekeeper`]): a registration is checked again here, inside the
//!   TEE (the DCAP quote against Intel's roots, the TCB policy and the report data at the batch's
//!   block time; software workers only where genesis allows them), and remembered; an assignment
//!   gets the contract's public keys for the epoch and the cluster key sealed to each assigned
//!   worker this gatekeeper verified, as deterministic egress on the key-epochs topic. Its own
//!   messages seen on that topic acknowledge its egress queue.
//! - **Worker** (role [`Role::Worker`]): a key delivery from a genesis gatekeeper addressed to
//!   this worker gives it the cluster key; the contract's topic is followed (a built-in contract
//!   starts empty). A wasm contract's `Deployed` message brings its code (checked against the
//!   assigned hash, compiled) and its constructor argument, which opens under the cluster's key
//!   only for the deploying transaction; the constructor runs with the prepaid fuel. A command
//!   opens only under the binding the chain published (chain, contract, epoch, signer, nonce) and
//!   is executed with its block, fuel and native tokens; anything else is refused, logged without
//!   the contract's own reason (it may quote confidential state), and changes nothing but the fuel.
//!   A refused command's tokens go back to its sender by a release.
//! - **Contract egress**: releases go to the releases topic; messages to other contracts of the
//!   cluster are sealed to the target's key with an ephemeral key derived from the sender's
//!   contract key and its egress number (the nonce the target opens them under), so every worker
//!   emits the same bytes. Workers follow the releases topic and their cluster's contract topics,
//!   where all of a contract's egress lands, and count it to acknowledge their queue.
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
        Answer, AnswerResult, CommandBinding, ConfidentialError, ContractKeys, KeyMessage, open_command, open_query,
        seal_answer, seal_command_with,
    },
    random::random_bytes,
};
use veil_genesis::Genesis;
use veil_light_client::LightClient;
use veil_primitives::{
    AccountId, Attestation, Balance, ContractId, Hash, Message, Origin, RegistrationInfo, SenderId, SignedEgress,
    SystemTopic, Topic, WorkerRegistration,
    contract::{AssignedWorker, AssignmentMessage, BlockStamp, CommandMessage, ContractMessage, Deployment, Release},
    decode_strict,
    hashing::sha256,
};

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

/// A contract this runtime knows of.
struct Instance {
    code: Hash,
    keys: ClusterKey,
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
}

/// The sealed form of a runtime, written to checkpoints. Holds secrets: only ever sealed.
#[derive(Encode, Decode)]
struct Saved {
    chain: Hash,
    role: Role,
    identity: [u8; 32],
    agreement: [u8; 32],
    master: Option<[u8; 32]>,
    follower: FollowerState,
    verified: Vec<AssignedWorker>,
    contracts: Vec<SavedContract>,
    egress: EgressQueue,
    own_published: u64,
    contracts_published: Vec<(ContractId, u64)>,
    announced: bool,
}

#[derive(Encode, Decode)]
struct SavedContract {
    contract: ContractId,
    code: Hash,
    cluster: veil_primitives::ClusterId,
    epoch: veil_primitives::KeyEpoch,
    cluster_secret: [u8; 32],
    state: Option<Vec<u8>>,
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
    gatekeepers: BTreeSet<[u8; 32]>,
    limits: QueryLimits,
    identity_seed: SecretBytes<32>,
    identity: RuntimeSigner,
    agreement_seed: SecretBytes<32>,
    agreement: AgreementSecret,
    master: Option<MasterKey>,
    follower: Follower,
    verified: BTreeMap<[u8; 32], AssignedWorker>,
    contracts: BTreeMap<ContractId, Instance>,
    egress: EgressQueue,
    own_published: u64,
    /// How much of each contract's egress this worker saw accepted on chain (on the releases topic
    /// and on the contract topics of its cluster, where all of it lands).
    contracts_published: BTreeMap<ContractId, u64>,
    announced: bool,
    answered: Mutex<BTreeMap<(AccountId, [u8; 16]), u64>>,
    refusals: VecDeque<String>,
    engine: Engine,
    /// Fuel used by contract calls in the batch being applied.
    fuel_used: u64,
}

/// How many recent refusals the runtime remembers for its status.
const KEPT_REFUSALS: usize = 64;

impl Runtime {
    /// A fresh runtime for the chain of `genesis`: new random keys (or the given identity seed,
    /// for a development gatekeeper whose key genesis names), and for a gatekeeper a new master
    /// key. `insecure` says it runs without a TEE; answers say so.
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
        let master = match role {
            Role::Gatekeeper => Some(MasterKey::generate()?),
            Role::Worker => None,
        };
        let saved = Saved {
            chain: genesis.hash(),
            role,
            identity: *identity.expose(),
            agreement: random_bytes()?,
            master: master.map(|key| *key.secret().expose()),
            follower: FollowerState::default(),
            verified: Vec::new(),
            contracts: Vec::new(),
            egress: EgressQueue::default(),
            own_published: 0,
            contracts_published: Vec::new(),
            announced: false,
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
        let gatekeepers: BTreeSet<[u8; 32]> = genesis
            .senders
            .iter()
            .filter_map(|entry| match entry.sender {
                SenderId::Gatekeeper(key) if key == entry.key => Some(key),
                _ => None,
            })
            .collect();
        let identity_seed = SecretBytes::new(saved.identity);
        let identity = RuntimeSigner::from_seed(&identity_seed);
        if saved.role == Role::Gatekeeper && !gatekeepers.contains(&identity.public()) {
            return Err(RuntimeError::NotAGatekeeper(identity.public()));
        }
        let agreement_seed = SecretBytes::new(saved.agreement);
        let engine = Engine::new();
        let mut contracts = BTreeMap::new();
        for entry in saved.contracts {
            let keys = ClusterKey::from_secret(SecretBytes::new(entry.cluster_secret), entry.cluster, entry.epoch);
            let contract = match entry.state {
                None => None,
                Some(state) => Some(
                    restore_contract(&engine, &entry.code, &state, &keys.contract_key(entry.contract))
                        .map_err(RuntimeError::Checkpoint)?,
                ),
            };
            contracts.insert(entry.contract, Instance { code: entry.code, keys, contract });
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
            master: saved.master.map(|secret| MasterKey::from_secret(SecretBytes::new(secret))),
            follower: Follower::new(client, saved.follower),
            verified: saved.verified.into_iter().map(|worker| (worker.identity, worker)).collect(),
            contracts,
            egress: saved.egress,
            own_published: saved.own_published,
            contracts_published: saved.contracts_published.into_iter().collect(),
            announced: saved.announced,
            answered: Mutex::new(BTreeMap::new()),
            refusals: VecDeque::new(),
            engine,
            fuel_used: 0,
        };
        match runtime.role {
            Role::Worker => {
                // Releases: where the contracts' token releases land, acknowledging their egress.
                for topic in [SystemTopic::KeyEpochs, SystemTopic::Releases] {
                    runtime.follower.follow(Topic::System(topic));
                }
            }
            Role::Gatekeeper => {
                for topic in [SystemTopic::Registrations, SystemTopic::Assignments, SystemTopic::KeyEpochs] {
                    runtime.follower.follow(Topic::System(topic));
                }
            }
        }
        Ok(runtime)
    }

    /// The checkpoint bytes: everything needed to resume, secrets included. Seal before storing.
    pub fn checkpoint(&self) -> zeroize::Zeroizing<Vec<u8>> {
        let contracts = self
            .contracts
            .iter()
            .map(|(id, instance)| SavedContract {
                contract: *id,
                code: instance.code,
                cluster: instance.keys.cluster(),
                epoch: instance.keys.epoch(),
                cluster_secret: *instance.keys.secret().expose(),
                state: instance.contract.as_ref().map(|contract| contract.state()),
            })
            .collect();
        let saved = Saved {
            chain: self.chain,
            role: self.role,
            identity: *self.identity_seed.expose(),
            agreement: *self.agreement_seed.expose(),
            master: self.master.as_ref().map(|key| *key.secret().expose()),
            follower: self.follower.state().clone(),
            verified: self.verified.values().copied().collect(),
            contracts,
            egress: self.egress.clone(),
            own_published: self.own_published,
            contracts_published: self.contracts_published.iter().map(|(id, count)| (*id, *count)).collect(),
            announced: self.announced,
        };
        zeroize::Zeroizing::new(saved.encode())
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

    /// The X25519 key queries and key deliveries are sealed to.
    pub fn agreement_key(&self) -> [u8; 32] {
        self.agreement.public()
    }

    /// The master key's public half (gatekeepers only).
    pub fn master_public(&self) -> Option<[u8; 32]> {
        self.master.as_ref().map(MasterKey::public)
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
    pub fn contracts(&self) -> Vec<(ContractId, Hash, veil_primitives::KeyEpoch, bool)> {
        self.contracts
            .iter()
            .map(|(id, instance)| (*id, instance.code, instance.keys.epoch(), instance.contract.is_some()))
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
        if !self.announced
            && let Some(public) = self.master_public()
        {
            // After its first verified view of the key-epochs topic, a gatekeeper announces its
            // master key's public half once, numbered after whatever its identity already published.
            self.push_key_message(KeyMessage::MasterPublic(public));
            self.announced = true;
        }
        Ok(applied)
    }

    /// Queues a gatekeeper message; numbering continues after the messages of this identity proven
    /// on chain.
    fn push_key_message(&mut self, message: KeyMessage) {
        let sender = SenderId::Gatekeeper(self.identity());
        self.egress.resume(sender, self.own_published);
        let Ok(payload) = message.encode().try_into() else {
            self.refusals.push_back("a key message exceeds the message size".into());
            return;
        };
        let topic = Topic::System(SystemTopic::KeyEpochs);
        self.egress.push(&self.identity, sender, veil_primitives::KeyEpoch(0), topic, payload);
    }

    fn handle(&mut self, topic: Topic, index: u64, message: &Message, block_time_ms: u64) -> Result<(), String> {
        match (topic, self.role) {
            (Topic::System(SystemTopic::Registrations), Role::Gatekeeper) => {
                self.on_registration(message, block_time_ms)
            }
            (Topic::System(SystemTopic::Assignments), Role::Gatekeeper) => self.on_assignment(index, message),
            (Topic::System(SystemTopic::KeyEpochs), _) => self.on_key_message(message),
            (Topic::System(SystemTopic::Releases), Role::Worker) => {
                if let Origin::Runtime(SenderId::Contract(contract)) = message.origin {
                    self.acknowledge_contract(contract);
                }
                Ok(())
            }
            (Topic::Contract(contract), Role::Worker) => self.on_contract_message(contract, index, message),
            _ => Err("not a topic this runtime handles".into()),
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
        let worker = AssignedWorker { identity: info.signing_key, agreement: info.agreement_key };
        self.verified.insert(worker.identity, worker);
        Ok(())
    }

    fn on_assignment(&mut self, index: u64, message: &Message) -> Result<(), String> {
        if message.origin != Origin::Chain {
            return Err("assignments come from the chain only".into());
        }
        let Some(master) = &self.master else { return Err("no master key".into()) };
        let assignment = match decode_strict(&message.payload).map_err(|e| e.to_string())? {
            AssignmentMessage::Contract(assignment) => assignment,
            AssignmentMessage::Cluster(formed) => {
                // Publish the cluster's public key: clients seal constructor arguments to it.
                let agreement = master.cluster_key(formed.cluster, formed.epoch).agreement().public();
                let message = KeyMessage::ClusterPublic { cluster: formed.cluster, epoch: formed.epoch, agreement };
                self.push_key_message(message);
                return Ok(());
            }
        };
        // Only workers this gatekeeper verified itself, with the keys it verified.
        let (trusted, unverified): (Vec<AssignedWorker>, Vec<AssignedWorker>) =
            assignment.workers.iter().partition(|worker| self.verified.get(&worker.identity) == Some(worker));
        let cluster_key = master.cluster_key(assignment.cluster, assignment.epoch);
        let keys = ContractKeys::deliver(master, &cluster_key, index, assignment.contract, assignment.code, &trusted)
            .map_err(|e| e.to_string())?;
        self.push_key_message(KeyMessage::ContractKeys(keys));
        if unverified.is_empty() {
            Ok(())
        } else {
            let names: Vec<String> = unverified.iter().map(|w| format!("0x{}", hex::encode(w.identity))).collect();
            Err(format!("no key for workers this gatekeeper has not verified: {}", names.join(", ")))
        }
    }

    fn on_key_message(&mut self, message: &Message) -> Result<(), String> {
        let Origin::Runtime(SenderId::Gatekeeper(gatekeeper)) = message.origin else {
            return Err("key messages come from gatekeepers only".into());
        };
        if !self.gatekeepers.contains(&gatekeeper) {
            return Err(format!("0x{} is not a genesis gatekeeper", hex::encode(gatekeeper)));
        }
        if self.role == Role::Gatekeeper {
            if gatekeeper == self.identity() {
                // Proof that the chain accepted this much of our egress.
                self.own_published += 1;
                self.egress.acknowledge(SenderId::Gatekeeper(gatekeeper), self.own_published);
            }
            return Ok(());
        }
        let KeyMessage::ContractKeys(keys) = decode_strict(&message.payload).map_err(|e| e.to_string())? else {
            return Ok(());
        };
        let Some(opened) = keys.open(&self.identity(), &self.agreement) else {
            return Ok(()); // Not assigned to this worker.
        };
        let cluster_key = opened.map_err(|error: ConfidentialError| error.to_string())?;
        let contract = match self.contracts.remove(&keys.contract) {
            // A re-delivery keeps the contract's state.
            Some(existing) if existing.code == keys.code => existing.contract,
            // Built-in code starts empty; wasm code waits for its deployment on the contract's topic.
            _ => instantiate(&keys.code, None).transpose()?,
        };
        self.contracts.insert(keys.contract, Instance { code: keys.code, keys: cluster_key, contract });
        self.follower.follow(Topic::Contract(keys.contract));
        Ok(())
    }

    fn on_contract_message(&mut self, contract: ContractId, index: u64, message: &Message) -> Result<(), String> {
        let instance = self.contracts.get(&contract).ok_or("no keys for this contract")?;
        let parsed: ContractMessage = decode_strict(&message.payload).map_err(|e| e.to_string())?;
        match (parsed, message.origin) {
            (ContractMessage::Assigned(assignment), Origin::Chain) => {
                if assignment.code != instance.code {
                    return Err(format!("assigned code {} differs from the keys' {}", assignment.code, instance.code));
                }
                Ok(())
            }
            (ContractMessage::Deployed(deployment), Origin::Chain) => self.deploy(contract, index, deployment),
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

    /// One more message of `contract`'s egress is proven on chain.
    fn acknowledge_contract(&mut self, contract: ContractId) {
        if !self.contracts.contains_key(&contract) {
            return; // Another cluster's contract.
        }
        let published = self.contracts_published.entry(contract).or_default();
        *published += 1;
        self.egress.acknowledge(SenderId::Contract(contract), *published);
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
        let key = instance.keys.contract_key(contract);
        let argument = if deployment.argument.is_empty() {
            zeroize::Zeroizing::new(Vec::new())
        } else {
            let binding = CommandBinding {
                chain: self.chain,
                contract,
                epoch: key.epoch(),
                sender: deployment.owner,
                nonce: deployment.nonce,
            };
            open_command(&instance.keys.agreement(), &binding, &deployment.argument)
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
        let key = instance.keys.contract_key(contract);
        let sender = match caller {
            Caller::Account(account) => AccountId(account.0),
            Caller::Contract(from) => AccountId(from.0),
        };
        let who = format!("command of {sender} (nonce {})", command.nonce);
        let binding = CommandBinding { chain: self.chain, contract, epoch: key.epoch(), sender, nonce: command.nonce };
        let plain = match open_command(&key.agreement(), &binding, &command.payload) {
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
    /// topic, messages to contracts of the cluster sealed to their keys. Events stay inside.
    fn carry_out(&mut self, key: &ContractKey, block: BlockStamp, effects: Effects) -> Result<(), String> {
        let sender = SenderId::Contract(key.contract());
        let signer = key.signer();
        for (to, amount) in effects.released {
            self.release(key, Release { to: AccountId(to.0), amount: Balance(amount) })?;
        }
        for (target, message, fuel) in effects.sent {
            let target = ContractId(target.0);
            let target_keys = &self.contracts.get(&target).ok_or("a message to a contract without keys")?.keys;
            let target_key = target_keys.contract_key(target);
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

    /// The other deployed contracts of `contract`'s cluster, for its queries and messages.
    fn peers(&self, contract: ContractId) -> Peers {
        let Some(cluster) = self.contracts.get(&contract).map(|instance| instance.keys.cluster()) else {
            return Peers::default();
        };
        let peers = self
            .contracts
            .iter()
            .filter(|(id, instance)| **id != contract && instance.keys.cluster() == cluster)
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

/// A checkpointed contract: built in, or wasm (its sealed form opens under its own contract key).
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
