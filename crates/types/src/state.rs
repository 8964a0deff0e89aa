//! The public state as every component sees it: where each value lives ([`StateKey`]), how it is
//! read ([`StateReader`], typed by [`ReadState`]), and the key-value forms a store hands out
//! ([`Snapshot`], [`MemoryState`], [`ChangeSet`]).
//!
//! Keys are the SCALE encoding of [`StateKey`] (a variant index, then the id), values the SCALE
//! encoding of their record, decoded strictly: a value that does not decode is a corrupted store,
//! reported as [`StateError::Corrupt`], never a panic and never an absent value. The chain writes
//! through its own overlay; everything else only reads, so only reads live here.

use parity_scale_codec::{Decode, Encode, MaxEncodedLen};
use std::collections::BTreeMap;
use veil_primitives::{
    AccountId, BoundedVec, ClusterId, ContractId, Hash, Measurement, Message, Parameters, SenderId, Topic,
    codec::BoundedBytes, contract::MAX_CODE_BYTES, decode_strict, epoch::MAX_GATEKEEPERS, topics::DEPTH,
};

use crate::records::{
    AccountInfo, ClusterInfo, ContractInfo, EpochState, Issuance, MAX_STANDBY, MAX_WORKERS_PER_MEASUREMENT, RewardPots,
    SenderInfo, TopicInfo, WorkerInfo,
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
    /// The chain's parameters (written at genesis, changed by the parameters module).
    #[codec(index = 17)]
    Parameters,
    /// The runtime that first announced an X25519 epoch key: no other runtime's announcement of
    /// the same key counts.
    #[codec(index = 18)]
    AnnouncedKey([u8; 32]),
    /// Every worker whose registration attested a measurement: disallowing the measurement lapses
    /// them all.
    #[codec(index = 19)]
    MeasurementWorkers(Measurement),
    /// The gatekeeper set, in order (the first generates the first master key): genesis's, then
    /// as the rotation admin replaced identities.
    #[codec(index = 20)]
    Gatekeepers,
    /// The root of a perfect subtree of a topic's log, by level (at least
    /// [`veil_primitives::log::KEPT_LEVEL`]) and index: what page proofs are built from. Written
    /// once, when the subtree's last message is published.
    #[codec(index = 21)]
    TopicLogNode(Topic, u8, u64),
    /// The latest round seed the chain recorded ([`veil_primitives::SeedRecord`]).
    #[codec(index = 22)]
    Seed,
    /// Replacements the next block chooses ([`crate::records::PendingReplacement`]).
    #[codec(index = 23)]
    PendingReplacements,
}

impl StateKey {
    /// The key's bytes in the store.
    pub fn to_bytes(self) -> Vec<u8> {
        self.encode()
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

/// Typed reads of the public state, for anything that reads it: the chain's overlay, a node's
/// snapshot, a client's proven value. Absent records read as their documented default.
pub trait ReadState: StateReader {
    /// The record under `key`, decoded strictly; `None` when the key holds nothing.
    fn record<T: Decode + MaxEncodedLen>(&self, key: StateKey) -> Result<Option<T>, StateError> {
        let key = key.to_bytes();
        self.get(&key)?
            .map(|bytes| {
                decode_strict::<T>(&bytes)
                    .map_err(|error| StateError::Corrupt { key: hex::encode(&key), reason: error.to_string() })
            })
            .transpose()
    }

    /// An account's state; a never-seen account has nonce 0 and no balance.
    fn account(&self, account: &AccountId) -> Result<AccountInfo, StateError> {
        Ok(self.record(StateKey::Account(*account))?.unwrap_or_default())
    }

    /// Issuance accounting.
    fn issuance(&self) -> Result<Issuance, StateError> {
        Ok(self.record(StateKey::Issuance)?.unwrap_or_default())
    }

    /// The reward pots.
    fn reward_pots(&self) -> Result<RewardPots, StateError> {
        Ok(self.record(StateKey::RewardPots)?.unwrap_or_default())
    }

    /// A sender's registration, if it is registered.
    fn sender(&self, sender: &SenderId) -> Result<Option<SenderInfo>, StateError> {
        self.record(StateKey::Sender(*sender))
    }

    /// The hash of the copy accepted under `sequence`, while it is inside the window.
    fn egress_accepted(&self, sender: &SenderId, sequence: u64) -> Result<Option<Hash>, StateError> {
        self.record(StateKey::EgressAccepted(*sender, sequence))
    }

    /// The hash of the differing copy recorded under `sequence`, if any.
    fn discrepancy(&self, sender: &SenderId, sequence: u64) -> Result<Option<Hash>, StateError> {
        self.record(StateKey::Discrepancy(*sender, sequence))
    }

    /// How many topic slots are assigned.
    fn topic_count(&self) -> Result<u32, StateError> {
        Ok(self.record(StateKey::TopicCount)?.unwrap_or_default())
    }

    /// A topic's slot and log, if it has had a message.
    fn topic(&self, topic: &Topic) -> Result<Option<TopicInfo>, StateError> {
        self.record(StateKey::Topic(*topic))
    }

    /// Message `index` of `topic`, if published.
    fn topic_message(&self, topic: &Topic, index: u64) -> Result<Option<Message>, StateError> {
        self.record(StateKey::TopicMessage(*topic, index))
    }

    /// The root of the `index`-th subtree of `2^level` messages of `topic`'s log, if complete
    /// (kept for levels from [`veil_primitives::log::KEPT_LEVEL`] up).
    fn topic_log_node(&self, topic: &Topic, level: u32, index: u64) -> Result<Option<Hash>, StateError> {
        self.record(StateKey::TopicLogNode(*topic, level.min(63) as u8, index))
    }

    /// Replacements waiting for the next block's seed.
    fn pending_replacements(
        &self,
    ) -> Result<BoundedVec<crate::records::PendingReplacement, { crate::records::MAX_PENDING_REPLACEMENTS }>, StateError>
    {
        Ok(self.record(StateKey::PendingReplacements)?.unwrap_or_default())
    }

    /// The latest round seed the chain recorded, if any block carried one yet.
    fn seed(&self) -> Result<Option<veil_primitives::SeedRecord>, StateError> {
        self.record(StateKey::Seed)
    }

    /// A topic-tree node, if set.
    fn topic_node(&self, level: usize, index: u64) -> Result<Option<Hash>, StateError> {
        self.record(StateKey::topic_node(level, index))
    }

    /// A registered worker, by signing key.
    fn worker(&self, signing_key: &[u8; 32]) -> Result<Option<WorkerInfo>, StateError> {
        self.record(StateKey::Worker(*signing_key))
    }

    /// Whether workers running `measurement` may register.
    fn measurement_allowed(&self, measurement: &Measurement) -> Result<bool, StateError> {
        Ok(self.record::<()>(StateKey::AllowedMeasurement(*measurement))?.is_some())
    }

    /// A formed cluster.
    fn cluster(&self, cluster: ClusterId) -> Result<Option<ClusterInfo>, StateError> {
        self.record(StateKey::Cluster(cluster))
    }

    /// Uploaded code, by hash.
    fn code(&self, hash: &Hash) -> Result<Option<BoundedBytes<MAX_CODE_BYTES>>, StateError> {
        self.record(StateKey::Code(*hash))
    }

    /// A contract.
    fn contract(&self, contract: &ContractId) -> Result<Option<ContractInfo>, StateError> {
        self.record(StateKey::Contract(*contract))
    }

    /// The key epochs.
    fn epochs(&self) -> Result<EpochState, StateError> {
        Ok(self.record(StateKey::Epochs)?.unwrap_or_default())
    }

    /// The chain's parameters. Genesis writes them, so their absence means a corrupt store.
    fn parameters(&self) -> Result<Parameters, StateError> {
        self.record(StateKey::Parameters)?.ok_or_else(|| StateError::Corrupt {
            key: hex::encode(StateKey::Parameters.to_bytes()),
            reason: "the chain's parameters are missing".into(),
        })
    }

    /// The standby list.
    fn standby(&self) -> Result<BoundedVec<[u8; 32], MAX_STANDBY>, StateError> {
        Ok(self.record(StateKey::Standby)?.unwrap_or_default())
    }

    /// The gatekeeper set, in order.
    fn gatekeepers(&self) -> Result<BoundedVec<[u8; 32], MAX_GATEKEEPERS>, StateError> {
        Ok(self.record(StateKey::Gatekeepers)?.unwrap_or_default())
    }

    /// The workers registered with `measurement`.
    fn measurement_workers(
        &self,
        measurement: &Measurement,
    ) -> Result<BoundedVec<[u8; 32], MAX_WORKERS_PER_MEASUREMENT>, StateError> {
        Ok(self.record(StateKey::MeasurementWorkers(*measurement))?.unwrap_or_default())
    }

    /// The runtime that first announced the X25519 epoch key `key`, if any did.
    fn announced_key(&self, key: &[u8; 32]) -> Result<Option<[u8; 32]>, StateError> {
        self.record(StateKey::AnnouncedKey(*key))
    }
}

impl<R: StateReader + ?Sized> ReadState for R {}

#[cfg(test)]
mod tests {
    use super::*;
    use veil_primitives::Balance;

    #[test]
    fn topic_commitment_keys_are_recognised_by_their_index() {
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
        assert_eq!(snapshot.account(&alice).unwrap(), AccountInfo::default());
        assert!(matches!(snapshot.account(&AccountId([2; 32])), Err(StateError::Store(_))));
    }

    #[test]
    fn corrupted_values_are_reported_not_panicked() {
        let mut committed = MemoryState::default();
        let alice = AccountId([1; 32]);
        committed.apply(ChangeSet::from([(StateKey::Account(alice).to_bytes(), Some(vec![1, 2, 3]))]));
        let error = committed.account(&alice).unwrap_err();
        assert!(matches!(error, StateError::Corrupt { .. }), "{error}");
    }

    #[test]
    fn memory_state_lists_accounts_and_contracts() {
        let mut state = MemoryState::default();
        let alice = AccountId([1; 32]);
        let info = AccountInfo { nonce: 2, balance: Balance(7) };
        state.apply(ChangeSet::from([(StateKey::Account(alice).to_bytes(), Some(info.encode()))]));
        assert_eq!(state.accounts().collect::<Vec<_>>(), vec![(alice, info)]);
        assert_eq!(state.contracts().count(), 0);
    }
}
