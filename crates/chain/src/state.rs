//! The write side of the public state: the overlay that block execution buffers its writes in.
//!
//! Keys, records and reads are portable and live in `veil_types` (re-exported here). Execution
//! never writes to the store: it buffers writes in an [`Overlay`] and hands the resulting
//! [`ChangeSet`] to whoever owns the store.

use parity_scale_codec::Encode;
use veil_primitives::{
    AccountId, BoundedVec, ClusterId, ContractId, Hash, Measurement, Message, Parameters, SenderId, Topic,
    codec::BoundedBytes, contract::MAX_CODE_BYTES, epoch::MAX_GATEKEEPERS,
};
pub use veil_types::{
    epochs::EpochHistory,
    records::*,
    state::{ChangeSet, MemoryState, ReadState, Snapshot, StateError, StateKey, StateReader},
};

/// Committed state plus buffered writes; reads see the writes first.
///
/// Rolling back costs what was written since the checkpoint, not what the block wrote: while a
/// checkpoint is open every write records, in a journal, what it replaced.
pub struct Overlay<'a> {
    base: &'a dyn StateReader,
    writes: ChangeSet,
    /// Each write since the oldest open checkpoint, with what it replaced.
    journal: Vec<Replaced>,
    /// Checkpoints taken and not yet restored or released.
    open_checkpoints: usize,
}

/// A journalled write: its key and the buffered entry it replaced (`None`: the key had no buffered
/// write, so rolling back removes it).
type Replaced = (Vec<u8>, Option<Option<Vec<u8>>>);

/// A point to roll an [`Overlay`] back to: the journal's length when it was taken.
#[derive(Debug)]
#[must_use = "a checkpoint must be restored or released"]
pub struct Checkpoint(usize);

impl<'a> Overlay<'a> {
    /// An overlay with no writes yet.
    pub fn new(base: &'a dyn StateReader) -> Self {
        Self { base, writes: ChangeSet::new(), journal: Vec::new(), open_checkpoints: 0 }
    }

    /// The buffered writes.
    pub fn into_changes(self) -> ChangeSet {
        self.writes
    }

    /// Marks the current writes, to roll back to with [`Overlay::restore`] or keep with
    /// [`Overlay::release`]. Checkpoints nest: the last taken is restored or released first.
    pub fn checkpoint(&mut self) -> Checkpoint {
        self.open_checkpoints += 1;
        Checkpoint(self.journal.len())
    }

    /// Drops every write made since `checkpoint` was taken. Returns how many journal entries it
    /// undid: the writes since the checkpoint, whatever was written before it.
    pub fn restore(&mut self, checkpoint: Checkpoint) -> usize {
        let undone = self.journal.len().saturating_sub(checkpoint.0);
        for (key, replaced) in self.journal.drain(checkpoint.0..).rev() {
            match replaced {
                Some(entry) => self.writes.insert(key, entry),
                None => self.writes.remove(&key),
            };
        }
        self.close(checkpoint);
        undone
    }

    /// Keeps every write made since `checkpoint` was taken.
    pub fn release(&mut self, checkpoint: Checkpoint) {
        self.close(checkpoint);
    }

    fn close(&mut self, checkpoint: Checkpoint) {
        debug_assert!(checkpoint.0 <= self.journal.len(), "checkpoints close last taken, first");
        self.open_checkpoints = self.open_checkpoints.saturating_sub(1);
        // An outer checkpoint may still roll back what an inner one kept.
        if self.open_checkpoints == 0 {
            self.journal.clear();
        }
    }

    /// Buffers `entry` under `key`, journalled while a checkpoint is open.
    fn buffer(&mut self, key: Vec<u8>, entry: Option<Vec<u8>>) {
        if self.open_checkpoints == 0 {
            self.writes.insert(key, entry);
        } else {
            let replaced = self.writes.insert(key.clone(), entry);
            self.journal.push((key, replaced));
        }
    }

    fn write<T: Encode>(&mut self, key: StateKey, value: &T) {
        self.buffer(key.to_bytes(), Some(value.encode()));
    }

    /// Sets an account's state.
    pub fn set_account(&mut self, account: &AccountId, info: &AccountInfo) {
        self.write(StateKey::Account(*account), info);
    }

    /// Sets issuance accounting.
    pub fn set_issuance(&mut self, issuance: &Issuance) {
        self.write(StateKey::Issuance, issuance);
    }

    /// Sets the reward pots.
    pub fn set_reward_pots(&mut self, pots: &RewardPots) {
        self.write(StateKey::RewardPots, pots);
    }

    /// Registers a sender or updates its registration.
    pub fn set_sender(&mut self, sender: &SenderId, info: &SenderInfo) {
        self.write(StateKey::Sender(*sender), info);
    }

    /// Records (`Some`) or forgets (`None`) the copy accepted under `sequence`.
    pub fn set_egress_accepted(&mut self, sender: &SenderId, sequence: u64, copy: Option<&Hash>) {
        self.put(StateKey::EgressAccepted(*sender, sequence), copy);
    }

    /// Records a discrepancy under `sequence`.
    pub fn set_discrepancy(&mut self, sender: &SenderId, sequence: u64, copy: &Hash) {
        self.write(StateKey::Discrepancy(*sender, sequence), copy);
    }

    /// Sets the number of assigned topic slots.
    pub fn set_topic_count(&mut self, count: u32) {
        self.write(StateKey::TopicCount, &count);
    }

    /// Sets a topic's slot and log.
    pub fn set_topic(&mut self, topic: &Topic, info: &TopicInfo) {
        self.write(StateKey::Topic(*topic), info);
    }

    /// Records a worker.
    pub fn set_worker(&mut self, signing_key: &[u8; 32], info: &WorkerInfo) {
        self.write(StateKey::Worker(*signing_key), info);
    }

    /// Allows or disallows `measurement`.
    pub fn set_measurement_allowed(&mut self, measurement: &Measurement, allowed: bool) {
        self.put(StateKey::AllowedMeasurement(*measurement), allowed.then_some(&()));
    }

    /// Records a cluster.
    pub fn set_cluster(&mut self, cluster: ClusterId, info: &ClusterInfo) {
        self.write(StateKey::Cluster(cluster), info);
    }

    /// Stores code under its hash.
    pub fn set_code(&mut self, hash: &Hash, code: &BoundedBytes<MAX_CODE_BYTES>) {
        self.write(StateKey::Code(*hash), code);
    }

    /// Records the key epochs.
    pub fn set_epochs(&mut self, epochs: &EpochState) {
        self.write(StateKey::Epochs, epochs);
    }

    /// Records the chain's parameters.
    pub fn set_parameters(&mut self, parameters: &Parameters) {
        self.write(StateKey::Parameters, parameters);
    }

    /// Records that `identity` announced the X25519 epoch key `key` first.
    pub fn set_announced_key(&mut self, key: &[u8; 32], identity: &[u8; 32]) {
        self.write(StateKey::AnnouncedKey(*key), identity);
    }

    /// Records the gatekeeper set.
    pub fn set_gatekeepers(&mut self, gatekeepers: &BoundedVec<[u8; 32], MAX_GATEKEEPERS>) {
        self.write(StateKey::Gatekeepers, gatekeepers);
    }

    /// Records the workers registered with `measurement`.
    pub fn set_measurement_workers(
        &mut self,
        measurement: &Measurement,
        workers: &BoundedVec<[u8; 32], MAX_WORKERS_PER_MEASUREMENT>,
    ) {
        self.write(StateKey::MeasurementWorkers(*measurement), workers);
    }

    /// Records the standby list.
    pub fn set_standby(&mut self, standby: &BoundedVec<[u8; 32], MAX_STANDBY>) {
        self.write(StateKey::Standby, standby);
    }

    /// Records a contract.
    pub fn set_contract(&mut self, contract: &ContractId, info: &ContractInfo) {
        self.write(StateKey::Contract(*contract), info);
    }

    /// Stores message `index` of `topic`.
    pub fn set_topic_message(&mut self, topic: &Topic, index: u64, message: &Message) {
        self.write(StateKey::TopicMessage(*topic, index), message);
    }

    /// Keeps the root of the `index`-th subtree of `2^level` messages of `topic`'s log.
    pub fn set_topic_log_node(&mut self, topic: &Topic, level: u32, index: u64, root: &Hash) {
        self.write(StateKey::TopicLogNode(*topic, level.min(63) as u8, index), root);
    }

    /// Drops message `index` of `topic` from the state (it left the topic's window).
    pub fn remove_topic_message(&mut self, topic: &Topic, index: u64) {
        self.buffer(StateKey::TopicMessage(*topic, index).to_bytes(), None);
    }

    /// Drops the kept root of the `index`-th subtree of `2^level` messages of `topic`'s log.
    pub fn remove_topic_log_node(&mut self, topic: &Topic, level: u32, index: u64) {
        self.buffer(StateKey::TopicLogNode(*topic, level.min(63) as u8, index).to_bytes(), None);
    }

    /// Records the replacements waiting for the next block.
    pub fn set_pending_replacements(
        &mut self,
        pending: &BoundedVec<veil_types::PendingReplacement, { veil_types::MAX_PENDING_REPLACEMENTS }>,
    ) {
        self.write(StateKey::PendingReplacements, pending);
    }

    /// Records the latest round seed.
    pub fn set_seed(&mut self, record: &veil_primitives::SeedRecord) {
        self.write(StateKey::Seed, record);
    }

    /// Sets a topic-tree node.
    pub fn set_topic_node(&mut self, level: usize, index: u64, hash: &Hash) {
        self.write(StateKey::topic_node(level, index), hash);
    }

    fn put<T: Encode>(&mut self, key: StateKey, value: Option<&T>) {
        self.buffer(key.to_bytes(), value.map(Encode::encode));
    }
}

impl StateReader for Overlay<'_> {
    /// Reads see the overlay's writes first, then the committed state.
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StateError> {
        match self.writes.get(key) {
            Some(written) => Ok(written.clone()),
            None => self.base.get(key),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use veil_primitives::Balance;

    fn measurement(slot: u8) -> Measurement {
        Measurement::Sgx { mr_enclave: [slot; 32], mr_signer: [0; 32], isv_prod_id: 0, isv_svn: 0 }
    }

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
    fn a_rollback_undoes_its_own_writes_only() {
        let committed = MemoryState::default();
        let mut overlay = Overlay::new(&committed);
        let account = |i: u32| {
            let mut id = [0u8; 32];
            id[..4].copy_from_slice(&i.to_le_bytes());
            AccountId(id)
        };
        // A block that already wrote 10,000 keys, outside any checkpoint: nothing journalled.
        for i in 0..10_000 {
            overlay.set_account(&account(i), &AccountInfo { nonce: 1, balance: Balance(u128::from(i)) });
        }
        assert_eq!(overlay.journal.len(), 0);
        // A transaction that rewrites one of them, writes two new keys, then fails.
        let checkpoint = overlay.checkpoint();
        overlay.set_account(&account(7), &AccountInfo { nonce: 9, balance: Balance(0) });
        overlay.set_account(&account(7), &AccountInfo { nonce: 10, balance: Balance(0) });
        overlay.set_account(&account(20_000), &AccountInfo { nonce: 1, balance: Balance(1) });
        overlay.set_measurement_allowed(&measurement(5), true);
        assert_eq!(overlay.restore(checkpoint), 4, "the journal holds the transaction's four writes only");
        assert_eq!(overlay.account(&account(7)).unwrap(), AccountInfo { nonce: 1, balance: Balance(7) });
        assert_eq!(overlay.account(&account(20_000)).unwrap(), AccountInfo::default());
        assert!(!overlay.measurement_allowed(&measurement(5)).unwrap());
        assert_eq!(overlay.into_changes().len(), 10_000, "a rolled-back key leaves no deletion behind");
    }

    #[test]
    fn nested_checkpoints_roll_back_what_the_inner_one_kept() {
        let committed = MemoryState::default();
        let mut overlay = Overlay::new(&committed);
        let (alice, bob) = (AccountId([1; 32]), AccountId([2; 32]));
        let outer = overlay.checkpoint();
        overlay.set_account(&alice, &AccountInfo { nonce: 1, balance: Balance(1) });
        let inner = overlay.checkpoint();
        overlay.set_account(&bob, &AccountInfo { nonce: 1, balance: Balance(2) });
        overlay.release(inner);
        assert_eq!(overlay.account(&bob).unwrap().balance, Balance(2));
        assert_eq!(overlay.restore(outer), 2);
        assert_eq!(overlay.into_changes(), ChangeSet::new());
    }

    proptest::proptest! {
        /// Any writes, any failed checkpoints among them: the overlay ends as if only the kept
        /// writes had been made.
        #[test]
        fn restore_equals_never_writing(
            steps in proptest::collection::vec((0u8..8, proptest::option::of(0u128..4), proptest::bool::ANY), 0..64),
        ) {
            let committed = MemoryState::default();
            let mut overlay = Overlay::new(&committed);
            let mut expected = ChangeSet::new();
            for chunk in steps.chunks(4) {
                let checkpoint = overlay.checkpoint();
                let mut staged = expected.clone();
                for (slot, balance, _) in chunk {
                    let key = StateKey::AllowedMeasurement(measurement(*slot));
                    match balance {
                        Some(_) => overlay.set_measurement_allowed(&measurement(*slot), true),
                        None => overlay.set_measurement_allowed(&measurement(*slot), false),
                    }
                    staged.insert(key.to_bytes(), balance.map(|_| ().encode()));
                }
                if chunk.first().is_some_and(|(_, _, keep)| *keep) {
                    overlay.release(checkpoint);
                    expected = staged;
                } else {
                    overlay.restore(checkpoint);
                }
            }
            proptest::prop_assert_eq!(overlay.into_changes(), expected);
        }
    }
}
