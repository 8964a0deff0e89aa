//! Recent history of the topic tree, so topic proofs can be served against any recent finalized
//! header, not only the newest.
//!
//! QMDB keeps the current state. Messages never change once published, but a topic's log length and
//! the tree's nodes do, so a proof at an older height needs their older values. The finalizer
//! records, for every block, the values its topic entries and tree nodes had **before** the block
//! (an undo log). The value of such a key after block `h` is the value recorded by the first later
//! block that changed it, or the current value if none did. The log covers the last
//! [`TopicHistory::retain`] blocks since this node started; older heights are refused.

use std::collections::{BTreeMap, HashMap};
use veil_chain::{StateError, StateReader};

/// Undo log of the topic keys over recent finalized blocks.
#[derive(Debug)]
pub struct TopicHistory {
    retain: u64,
    start: u64,
    by_key: HashMap<Vec<u8>, BTreeMap<u64, Option<Vec<u8>>>>,
    by_height: BTreeMap<u64, Vec<Vec<u8>>>,
}

impl TopicHistory {
    /// A history that begins at `committed` (the state the node holds now) and keeps `retain` blocks.
    pub fn new(committed: u64, retain: u64) -> Self {
        Self { retain, start: committed, by_key: HashMap::new(), by_height: BTreeMap::new() }
    }

    /// How many blocks back proofs are served.
    pub fn retain(&self) -> u64 {
        self.retain
    }

    /// The oldest height whose topic state can be rebuilt when `committed` is the newest.
    pub fn oldest(&self, committed: u64) -> u64 {
        self.start.max(committed.saturating_sub(self.retain))
    }

    /// Records the values `before` had before block `height` changed them, then forgets what falls
    /// out of the window.
    pub fn record(&mut self, height: u64, before: Vec<(Vec<u8>, Option<Vec<u8>>)>) {
        let mut keys = Vec::with_capacity(before.len());
        for (key, value) in before {
            self.by_key.entry(key.clone()).or_default().insert(height, value);
            keys.push(key);
        }
        self.by_height.insert(height, keys);
        // Entries of blocks at or below the oldest servable height are never consulted again.
        let oldest = self.oldest(height);
        while let Some(entry) = self.by_height.first_entry() {
            if *entry.key() > oldest {
                break;
            }
            let (old_height, keys) = entry.remove_entry();
            for key in keys {
                if let Some(versions) = self.by_key.get_mut(&key) {
                    versions.remove(&old_height);
                    if versions.is_empty() {
                        self.by_key.remove(&key);
                    }
                }
            }
        }
    }

    /// The value of `key` after block `height`: `Some(value)` when a later block changed it, `None`
    /// when the current value still holds.
    pub fn value_at(&self, key: &[u8], height: u64) -> Option<Option<Vec<u8>>> {
        self.by_key.get(key)?.range(height + 1..).next().map(|(_, value)| value.clone())
    }
}

/// The state after an older block: the current values, with the history's older ones over them.
pub struct HistoricalState<'a, R: ?Sized> {
    /// The current values (at least of every key read).
    pub current: &'a R,
    /// The history.
    pub history: &'a TopicHistory,
    /// The block height whose post-state this is.
    pub height: u64,
}

impl<R: StateReader + ?Sized> StateReader for HistoricalState<'_, R> {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StateError> {
        match self.history.value_at(key, self.height) {
            Some(value) => Ok(value),
            None => self.current.get(key),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use veil_chain::MemoryState;

    #[test]
    fn values_come_back_as_they_were_after_each_block() {
        let key = vec![8, 1];
        let mut history = TopicHistory::new(10, 3);
        // Block 11 changed the key from "a" to "b", block 13 from "b" to "c".
        history.record(11, vec![(key.clone(), Some(b"a".to_vec()))]);
        history.record(12, vec![]);
        history.record(13, vec![(key.clone(), Some(b"b".to_vec()))]);
        let mut current = MemoryState::default();
        current.apply([(key.clone(), Some(b"c".to_vec()))].into());
        let at =
            |history: &TopicHistory, height| HistoricalState { current: &current, history, height }.get(&key).unwrap();
        assert_eq!(at(&history, 10), Some(b"a".to_vec()));
        assert_eq!(at(&history, 11), Some(b"b".to_vec()));
        assert_eq!(at(&history, 12), Some(b"b".to_vec()));
        assert_eq!(at(&history, 13), Some(b"c".to_vec()));
        assert_eq!(history.oldest(13), 10);
        // Two more blocks: the window (3) moves past block 11.
        history.record(14, vec![]);
        history.record(15, vec![]);
        assert_eq!(history.oldest(15), 12);
        assert_eq!(at(&history, 12), Some(b"b".to_vec()));
        assert!(history.by_height.keys().all(|&height| height > 12));
    }
}
