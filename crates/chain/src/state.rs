//! The public state: typed keys and values, how execution reads it, and how it records writes.
//!
//! Keys are the SCALE encoding of [`StateKey`] (a variant index, then the id), values the SCALE
//! encoding of their type. Execution never writes to the store: it buffers writes in an
//! [`Overlay`] and hands the resulting [`ChangeSet`] to whoever owns the store.

use parity_scale_codec::{Decode, Encode, MaxEncodedLen};
use std::collections::BTreeMap;
use veil_primitives::{
    AccountId, Balance, BoundedVec, ClusterId, ContractId, Hash, KeyEpoch, Measurement, Message, Nonce, SenderId,
    TeeKind, Topic,
    codec::BoundedBytes,
    contract::{MAX_CLUSTER_WORKERS, MAX_CODE_BYTES},
    decode_strict,
    epoch::EpochOpening,
    log::LogPeaks,
    topics::DEPTH,
};

/// Where a value lives. Indices are fixed forever; new kinds of state are appended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Encode, Decode, MaxEncodedLen)]
pub enum StateKey {
    /// An account's nonce and balance.
    #[codec(index = 0)]
    Account(AccountId),
    /// Issuance accounting.
    #[codec(index = 1)]
    Issuance,
    /// The reward pots that fees and inflation fill.
    #[codec(index = 2)]
    RewardPots,
    /// A registered off-chain sender: its key, key epoch and next sequence number.
    #[codec(index = 3)]
    Sender(SenderId),
    /// The hash of the egress copy accepted under a sender's sequence number, kept for the last
    /// `egress_window` numbers so a differing copy can be recognised.
    #[codec(index = 4)]
    EgressAccepted(SenderId, u64),
    /// The hash of the differing copy recorded as a discrepancy under a sender's sequence number.
    #[codec(index = 5)]
    Discrepancy(SenderId, u64),
    /// How many topic slots are assigned.
    #[codec(index = 6)]
    TopicCount,
    /// A topic's slot and log commitment.
    #[codec(index = 7)]
    Topic(Topic),
    /// A node of the topic tree, by level (0: leaves) and index.
    #[codec(index = 8)]
    TopicNode(u8, u64),
    /// A message, by topic and position in the topic's log.
    #[codec(index = 9)]
    TopicMessage(Topic, u64),
    /// A registered worker, by its ed25519 signing key.
    #[codec(index = 10)]
    Worker([u8; 32]),
    /// A runtime measurement workers may register with (present = allowed).
    #[codec(index = 11)]
    AllowedMeasurement(Measurement),
    /// A formed cluster.
    #[codec(index = 12)]
    Cluster(ClusterId),
    /// Uploaded contract code, by its hash.
    #[codec(index = 13)]
    Code(Hash),
    /// A contract: its code, cluster, owner, keys and locked tokens.
    #[codec(index = 14)]
    Contract(ContractId),
    /// The key epochs: the current one, the previous one until it retires, a requested rotation.
    #[codec(index = 15)]
    Epochs,
    /// Registered workers in no cluster, in the order they became available: replacements are
    /// taken from the front.
    #[codec(index = 16)]
    Standby,
}

impl StateKey {
    /// The key's bytes in the store.
    pub fn to_bytes(self) -> Vec<u8> {
        self.encode()
    }
}

/// An account's public state.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Encode, Decode, MaxEncodedLen)]
pub struct AccountInfo {
    /// The nonce its next transaction must carry.
    pub nonce: Nonce,
    /// Its free balance.
    pub balance: Balance,
}

/// Issuance accounting: `total = genesis + minted − burned` at every block.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Encode, Decode, MaxEncodedLen)]
pub struct Issuance {
    /// Tokens in existence: every balance and pot added up.
    pub total: Balance,
    /// Supply at genesis.
    pub genesis: Balance,
    /// Minted by inflation since genesis.
    pub minted: Balance,
    /// Burned from fees since genesis.
    pub burned: Balance,
    /// The inflation year (0 is the first) that `year_start_total` belongs to.
    pub year: u32,
    /// Total issuance when the current inflation year began: inflation is a rate on it.
    pub year_start_total: Balance,
}

/// Tokens set aside for rewards until the reward logic pays them out.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Encode, Decode, MaxEncodedLen)]
pub struct RewardPots {
    /// For workers: their fee share and the decaying inflation subsidy.
    pub workers: Balance,
    /// For gatekeepers and their nominators: their fee share and the base inflation.
    pub gatekeepers: Balance,
}

/// A registered off-chain sender.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Encode, Decode, MaxEncodedLen)]
pub struct SenderInfo {
    /// The ed25519 key that signs its egress in the current epoch.
    pub key: [u8; 32],
    /// The current key epoch: egress must carry it.
    pub epoch: KeyEpoch,
    /// The sequence number its next accepted egress must carry.
    pub next_sequence: u64,
}

/// A registered worker.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, MaxEncodedLen)]
pub struct WorkerInfo {
    /// The account that operates it.
    pub operator: AccountId,
    /// Its X25519 key (queries are sealed to it).
    pub agreement_key: [u8; 32],
    /// How it attested: `None` for an insecure software worker.
    pub tee: Option<TeeKind>,
    /// Its code identity (none for software workers).
    pub measurement: Option<Measurement>,
    /// When its registration lapses, milliseconds since the Unix epoch; renewing re-attests.
    pub expires_at_ms: u64,
    /// Its announced keys of the current and the next epoch (older ones are dropped).
    pub epoch_keys: BoundedVec<(KeyEpoch, [u8; 32]), MAX_EPOCH_KEYS>,
    /// The cluster it works in, if any.
    pub cluster: Option<ClusterId>,
    /// The block time of its last accepted egress (a heartbeat or anything else).
    pub last_seen_ms: u64,
}

/// How many epoch keys a worker record keeps: the current and the next epoch's.
pub const MAX_EPOCH_KEYS: usize = 2;

impl WorkerInfo {
    /// Its announced key of `epoch`.
    pub fn epoch_key(&self, epoch: KeyEpoch) -> Option<[u8; 32]> {
        self.epoch_keys.iter().find(|(announced, _)| *announced == epoch).map(|(_, key)| *key)
    }

    /// Whether it counts as live at `now_ms`: seen within `window_ms` (genesis
    /// `liveness.offline_after_ms`) and its registration current. A cluster worker that is not may
    /// be reported offline.
    pub fn is_live(&self, now_ms: u64, window_ms: u64) -> bool {
        now_ms.saturating_sub(self.last_seen_ms) <= window_ms && self.expires_at_ms > now_ms
    }
}

/// The key epochs as the chain keeps them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Encode, Decode, MaxEncodedLen)]
pub struct EpochState {
    /// The newest opened epoch; `None` until the generating gatekeeper opens the first.
    pub current: Option<EpochOpening>,
    /// The epoch before `current`, while its grace period runs.
    pub previous: Option<KeyEpoch>,
    /// A rotation the chain asked the gatekeepers for.
    pub requested: Option<KeyEpoch>,
    /// How many workers are in clusters.
    pub cluster_workers: u32,
    /// How many of them have not announced a key for the epoch after `current`: a rotation waits
    /// until none are missing, so every worker can receive its cluster's new key at once.
    pub lacking_next: u32,
}

impl EpochState {
    /// The current epoch's number (0 before the first opens).
    pub fn epoch(&self) -> KeyEpoch {
        self.current.map_or(KeyEpoch(0), |opening| opening.epoch)
    }

    /// The epoch after the current one.
    pub fn next(&self) -> KeyEpoch {
        match self.current {
            Some(opening) => KeyEpoch(opening.epoch.0.saturating_add(1)),
            None => KeyEpoch(1),
        }
    }

    /// Whether commands and constructor arguments sealed to keys of `epoch` still open at `now_ms`:
    /// the current epoch, or the previous one during its grace period.
    pub fn usable(&self, epoch: KeyEpoch, now_ms: u64) -> bool {
        match self.current {
            Some(opening) if opening.epoch == epoch => true,
            Some(opening) => self.previous == Some(epoch) && now_ms < opening.previous_retires_at_ms,
            None => epoch == KeyEpoch(0),
        }
    }
}

/// The most workers waiting in the standby list.
pub const MAX_STANDBY: usize = 1024;

/// A formed cluster.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, MaxEncodedLen)]
pub struct ClusterInfo {
    /// Its workers' identities.
    pub workers: BoundedVec<[u8; 32], MAX_CLUSTER_WORKERS>,
    /// The epoch of its published keys.
    pub epoch: KeyEpoch,
    /// Its X25519 key (constructor arguments are sealed to it), once the gatekeepers published it.
    pub agreement: Option<[u8; 32]>,
    /// Its signing key (it signs the cluster's state snapshots), once published.
    pub signing: Option<[u8; 32]>,
}

/// A contract.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, MaxEncodedLen)]
pub struct ContractInfo {
    /// Its code hash.
    pub code: Hash,
    /// The cluster that runs it.
    pub cluster: ClusterId,
    /// Who instantiated it (the registry admin for built-in contracts).
    pub owner: AccountId,
    /// Wasm code (uploaded and instantiated), not a contract built into the runtime.
    pub wasm: bool,
    /// Native tokens it holds: commands' values, less what it released.
    pub locked: Balance,
    /// Its X25519 key (commands are sealed to it) and its egress key, once a gatekeeper published them.
    pub keys: Option<ContractPublicKeys>,
}

/// A contract's public keys for its epoch.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Encode, Decode, MaxEncodedLen)]
pub struct ContractPublicKeys {
    /// The key epoch.
    pub epoch: KeyEpoch,
    /// The X25519 key commands are sealed to.
    pub agreement: [u8; 32],
    /// The ed25519 key that signs its egress.
    pub signing: [u8; 32],
}

/// A topic's place in the topic tree and its log.
#[derive(Clone, Debug, Default, PartialEq, Eq, Encode, Decode, MaxEncodedLen)]
pub struct TopicInfo {
    /// Its slot, assigned when its first message was published.
    pub slot: u32,
    /// Its log's length and peaks.
    pub log: LogPeaks,
}

/// State could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StateError {
    /// The store failed.
    #[error("state store: {0}")]
    Store(String),
    /// A stored value does not decode: the store is corrupted.
    #[error("corrupted state under key 0x{key}: {reason}")]
    Corrupt {
        /// The key, in hex.
        key: String,
        /// What failed.
        reason: String,
    },
}

/// Read access to committed state.
pub trait StateReader {
    /// The value under `key`, if any.
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StateError>;
}

/// Writes produced by execution: `Some(value)` sets a key, `None` deletes it. Ordered by key, so
/// applying it is deterministic.
pub type ChangeSet = BTreeMap<Vec<u8>, Option<Vec<u8>>>;

/// Committed state plus buffered writes; reads see the writes first.
pub struct Overlay<'a, R: ?Sized> {
    base: &'a R,
    writes: ChangeSet,
}

impl<'a, R: StateReader + ?Sized> Overlay<'a, R> {
    /// An overlay with no writes yet.
    pub fn new(base: &'a R) -> Self {
        Self { base, writes: ChangeSet::new() }
    }

    /// The buffered writes.
    pub fn into_changes(self) -> ChangeSet {
        self.writes
    }

    /// A copy of the writes so far, to roll back to with [`Overlay::restore`].
    pub fn checkpoint(&self) -> ChangeSet {
        self.writes.clone()
    }

    /// Drops every write made since `checkpoint` was taken.
    pub fn restore(&mut self, checkpoint: ChangeSet) {
        self.writes = checkpoint;
    }

    fn read<T: Decode + MaxEncodedLen>(&self, key: StateKey) -> Result<Option<T>, StateError> {
        let key = key.to_bytes();
        let bytes = match self.writes.get(&key) {
            Some(written) => written.clone(),
            None => self.base.get(&key)?,
        };
        bytes
            .map(|bytes| {
                decode_strict::<T>(&bytes)
                    .map_err(|error| StateError::Corrupt { key: hex::encode(&key), reason: error.to_string() })
            })
            .transpose()
    }

    fn write<T: Encode>(&mut self, key: StateKey, value: &T) {
        self.writes.insert(key.to_bytes(), Some(value.encode()));
    }

    /// An account's state; a never-seen account has nonce 0 and no balance.
    pub fn account(&self, account: &AccountId) -> Result<AccountInfo, StateError> {
        Ok(self.read(StateKey::Account(*account))?.unwrap_or_default())
    }

    /// Sets an account's state.
    pub fn set_account(&mut self, account: &AccountId, info: &AccountInfo) {
        self.write(StateKey::Account(*account), info);
    }

    /// Issuance accounting.
    pub fn issuance(&self) -> Result<Issuance, StateError> {
        Ok(self.read(StateKey::Issuance)?.unwrap_or_default())
    }

    /// Sets issuance accounting.
    pub fn set_issuance(&mut self, issuance: &Issuance) {
        self.write(StateKey::Issuance, issuance);
    }

    /// The reward pots.
    pub fn reward_pots(&self) -> Result<RewardPots, StateError> {
        Ok(self.read(StateKey::RewardPots)?.unwrap_or_default())
    }

    /// Sets the reward pots.
    pub fn set_reward_pots(&mut self, pots: &RewardPots) {
        self.write(StateKey::RewardPots, pots);
    }

    /// A sender's registration, if it is registered.
    pub fn sender(&self, sender: &SenderId) -> Result<Option<SenderInfo>, StateError> {
        self.read(StateKey::Sender(*sender))
    }

    /// Registers a sender or updates its registration.
    pub fn set_sender(&mut self, sender: &SenderId, info: &SenderInfo) {
        self.write(StateKey::Sender(*sender), info);
    }

    /// The hash of the copy accepted under `sequence`, while it is inside the window.
    pub fn egress_accepted(&self, sender: &SenderId, sequence: u64) -> Result<Option<Hash>, StateError> {
        self.read(StateKey::EgressAccepted(*sender, sequence))
    }

    /// Records (`Some`) or forgets (`None`) the copy accepted under `sequence`.
    pub fn set_egress_accepted(&mut self, sender: &SenderId, sequence: u64, copy: Option<&Hash>) {
        self.put(StateKey::EgressAccepted(*sender, sequence), copy);
    }

    /// The hash of the differing copy recorded under `sequence`, if any.
    pub fn discrepancy(&self, sender: &SenderId, sequence: u64) -> Result<Option<Hash>, StateError> {
        self.read(StateKey::Discrepancy(*sender, sequence))
    }

    /// Records a discrepancy under `sequence`.
    pub fn set_discrepancy(&mut self, sender: &SenderId, sequence: u64, copy: &Hash) {
        self.write(StateKey::Discrepancy(*sender, sequence), copy);
    }

    /// How many topic slots are assigned.
    pub fn topic_count(&self) -> Result<u32, StateError> {
        Ok(self.read(StateKey::TopicCount)?.unwrap_or_default())
    }

    /// Sets the number of assigned topic slots.
    pub fn set_topic_count(&mut self, count: u32) {
        self.write(StateKey::TopicCount, &count);
    }

    /// A topic's slot and log, if it has had a message.
    pub fn topic(&self, topic: &Topic) -> Result<Option<TopicInfo>, StateError> {
        self.read(StateKey::Topic(*topic))
    }

    /// Sets a topic's slot and log.
    pub fn set_topic(&mut self, topic: &Topic, info: &TopicInfo) {
        self.write(StateKey::Topic(*topic), info);
    }

    /// A registered worker, by signing key.
    pub fn worker(&self, signing_key: &[u8; 32]) -> Result<Option<WorkerInfo>, StateError> {
        self.read(StateKey::Worker(*signing_key))
    }

    /// Records a worker.
    pub fn set_worker(&mut self, signing_key: &[u8; 32], info: &WorkerInfo) {
        self.write(StateKey::Worker(*signing_key), info);
    }

    /// Whether workers running `measurement` may register.
    pub fn measurement_allowed(&self, measurement: &Measurement) -> Result<bool, StateError> {
        Ok(self.read::<()>(StateKey::AllowedMeasurement(*measurement))?.is_some())
    }

    /// Allows or disallows `measurement`.
    pub fn set_measurement_allowed(&mut self, measurement: &Measurement, allowed: bool) {
        self.put(StateKey::AllowedMeasurement(*measurement), allowed.then_some(&()));
    }

    /// A formed cluster.
    pub fn cluster(&self, cluster: ClusterId) -> Result<Option<ClusterInfo>, StateError> {
        self.read(StateKey::Cluster(cluster))
    }

    /// Records a cluster.
    pub fn set_cluster(&mut self, cluster: ClusterId, info: &ClusterInfo) {
        self.write(StateKey::Cluster(cluster), info);
    }

    /// Uploaded code, by hash.
    pub fn code(&self, hash: &Hash) -> Result<Option<BoundedBytes<MAX_CODE_BYTES>>, StateError> {
        self.read(StateKey::Code(*hash))
    }

    /// Stores code under its hash.
    pub fn set_code(&mut self, hash: &Hash, code: &BoundedBytes<MAX_CODE_BYTES>) {
        self.write(StateKey::Code(*hash), code);
    }

    /// The key epochs.
    pub fn epochs(&self) -> Result<EpochState, StateError> {
        Ok(self.read(StateKey::Epochs)?.unwrap_or_default())
    }

    /// Records the key epochs.
    pub fn set_epochs(&mut self, epochs: &EpochState) {
        self.write(StateKey::Epochs, epochs);
    }

    /// The standby list.
    pub fn standby(&self) -> Result<BoundedVec<[u8; 32], MAX_STANDBY>, StateError> {
        Ok(self.read(StateKey::Standby)?.unwrap_or_default())
    }

    /// Records the standby list.
    pub fn set_standby(&mut self, standby: &BoundedVec<[u8; 32], MAX_STANDBY>) {
        self.write(StateKey::Standby, standby);
    }

    /// A contract.
    pub fn contract(&self, contract: &ContractId) -> Result<Option<ContractInfo>, StateError> {
        self.read(StateKey::Contract(*contract))
    }

    /// Records a contract.
    pub fn set_contract(&mut self, contract: &ContractId, info: &ContractInfo) {
        self.write(StateKey::Contract(*contract), info);
    }

    /// Message `index` of `topic`, if published.
    pub fn topic_message(&self, topic: &Topic, index: u64) -> Result<Option<Message>, StateError> {
        self.read(StateKey::TopicMessage(*topic, index))
    }

    /// Stores message `index` of `topic`.
    pub fn set_topic_message(&mut self, topic: &Topic, index: u64, message: &Message) {
        self.write(StateKey::TopicMessage(*topic, index), message);
    }

    /// A topic-tree node, if set.
    pub fn topic_node(&self, level: usize, index: u64) -> Result<Option<Hash>, StateError> {
        self.read(StateKey::TopicNode(tree_level(level), index))
    }

    /// Sets a topic-tree node.
    pub fn set_topic_node(&mut self, level: usize, index: u64, hash: &Hash) {
        self.write(StateKey::TopicNode(tree_level(level), index), hash);
    }

    fn put<T: Encode>(&mut self, key: StateKey, value: Option<&T>) {
        self.writes.insert(key.to_bytes(), value.map(Encode::encode));
    }
}

/// A tree level as stored: levels run from 0 to [`DEPTH`], which fits a byte.
fn tree_level(level: usize) -> u8 {
    debug_assert!(level <= DEPTH);
    level.min(DEPTH) as u8
}

impl StateKey {
    /// Whether `key` (in store form) is a topic's log commitment or a topic-tree node: the keys
    /// whose older values proofs against older headers need.
    pub fn is_topic_commitment(key: &[u8]) -> bool {
        matches!(key.first(), Some(7 | 8))
    }

    /// The key of a topic-tree node.
    pub fn topic_node(level: usize, index: u64) -> Self {
        Self::TopicNode(tree_level(level), index)
    }
}

/// The values of a known set of keys, read ahead from a store. Reading any other key is an error,
/// not an absent value: execution must never mistake "not fetched" for "does not exist".
#[derive(Clone, Debug, Default)]
pub struct Snapshot(BTreeMap<Vec<u8>, Option<Vec<u8>>>);

impl Snapshot {
    /// Records the value (or absence) of `key`.
    pub fn insert(&mut self, key: Vec<u8>, value: Option<Vec<u8>>) {
        self.0.insert(key, value);
    }

    /// Adds every value of `other`.
    pub fn extend(&mut self, other: Snapshot) {
        self.0.extend(other.0);
    }
}

impl StateReader for Snapshot {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StateError> {
        self.0
            .get(key)
            .cloned()
            .ok_or_else(|| StateError::Store(format!("key 0x{} was not read ahead", hex::encode(key))))
    }
}

/// Unauthenticated in-memory state, for tests and tools; the node keeps state in its authenticated
/// store.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MemoryState(BTreeMap<Vec<u8>, Vec<u8>>);

impl MemoryState {
    /// Applies a change set.
    pub fn apply(&mut self, changes: ChangeSet) {
        for (key, value) in changes {
            match value {
                Some(value) => self.0.insert(key, value),
                None => self.0.remove(&key),
            };
        }
    }

    /// Every account and its state, in key order.
    pub fn accounts(&self) -> impl Iterator<Item = (AccountId, AccountInfo)> + '_ {
        self.0.iter().filter_map(|(key, value)| {
            let (&index, id) = key.split_first()?;
            if index != 0 {
                return None;
            }
            let id: [u8; 32] = id.try_into().ok()?;
            Some((AccountId(id), decode_strict::<AccountInfo>(value).ok()?))
        })
    }

    /// Every contract with its record.
    pub fn contracts(&self) -> impl Iterator<Item = (ContractId, ContractInfo)> + '_ {
        let index = StateKey::Contract(ContractId([0; 32])).to_bytes()[0];
        self.0.iter().filter_map(move |(key, value)| {
            let (&found, id) = key.split_first()?;
            if found != index {
                return None;
            }
            let id: [u8; 32] = id.try_into().ok()?;
            Some((ContractId(id), decode_strict::<ContractInfo>(value).ok()?))
        })
    }
}

impl StateReader for MemoryState {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StateError> {
        Ok(self.0.get(key).cloned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overlay_reads_its_own_writes_and_rolls_back() {
        let mut committed = MemoryState::default();
        let alice = AccountId([1; 32]);
        let mut overlay = Overlay::new(&committed);
        assert_eq!(overlay.account(&alice).unwrap(), AccountInfo::default());
        let checkpoint = overlay.checkpoint();
        overlay.set_account(&alice, &AccountInfo { nonce: 1, balance: Balance(5) });
        assert_eq!(overlay.account(&alice).unwrap().balance, Balance(5));
        overlay.restore(checkpoint);
        assert_eq!(overlay.account(&alice).unwrap(), AccountInfo::default());
        overlay.set_account(&alice, &AccountInfo { nonce: 2, balance: Balance(7) });
        let changes = overlay.into_changes();
        committed.apply(changes);
        assert_eq!(
            committed.accounts().collect::<Vec<_>>(),
            vec![(alice, AccountInfo { nonce: 2, balance: Balance(7) })]
        );
    }

    #[test]
    fn topic_commitment_keys_are_recognised_by_their_index() {
        use veil_primitives::{ContractId, Topic};
        assert!(StateKey::is_topic_commitment(&StateKey::Topic(Topic::Contract(ContractId([1; 32]))).to_bytes()));
        assert!(StateKey::is_topic_commitment(&StateKey::topic_node(3, 9).to_bytes()));
        assert!(!StateKey::is_topic_commitment(&StateKey::TopicCount.to_bytes()));
        let message = StateKey::TopicMessage(Topic::Contract(ContractId([1; 32])), 0).to_bytes();
        assert!(!StateKey::is_topic_commitment(&message));
        assert!(!StateKey::is_topic_commitment(&StateKey::Account(AccountId([7; 32])).to_bytes()));
    }

    #[test]
    fn snapshot_refuses_keys_it_was_not_given() {
        let mut snapshot = Snapshot::default();
        let alice = AccountId([1; 32]);
        snapshot.insert(StateKey::Account(alice).to_bytes(), None);
        assert_eq!(Overlay::new(&snapshot).account(&alice).unwrap(), AccountInfo::default());
        assert!(matches!(Overlay::new(&snapshot).account(&AccountId([2; 32])), Err(StateError::Store(_))));
    }

    #[test]
    fn corrupted_values_are_reported_not_panicked() {
        let mut committed = MemoryState::default();
        let alice = AccountId([1; 32]);
        committed.apply(ChangeSet::from([(StateKey::Account(alice).to_bytes(), Some(vec![1, 2, 3]))]));
        let error = Overlay::new(&committed).account(&alice).unwrap_err();
        assert!(matches!(error, StateError::Corrupt { .. }), "{error}");
    }
}
