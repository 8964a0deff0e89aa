//! The commitment to every topic's log in a block header.
//!
//! Topics get a slot the first time a message is published to them, numbered in order. Slots are
//! the leaves of a sparse binary Merkle tree of fixed depth [`DEPTH`]; a used slot's leaf is
//! `SHA-256(0x03 || SCALE(topic) || log root)`, an unused one is all zeros, and an inner node is
//! `SHA-256(0x04 || left || right)`. The root is the header's `messages.root`.
//!
//! A reader proves its topic's messages against a certified header with a [`TopicProof`] (the slot,
//! the certified log length, and the [`DEPTH`] sibling hashes): it rebuilds the log root from the
//! peaks it holds plus the messages it receives ([`crate::log`]), then the path to the header's
//! root. One check covers membership of the topic and completeness of its messages.

use parity_scale_codec::{Decode, Encode, MaxEncodedLen};
use std::sync::OnceLock;

use crate::{
    codec::BoundedVec,
    hashing::{Hash, sha256},
    log::{LogPeaks, MAX_SUBTREES, RangeError, extend_to},
    message::Topic,
};

/// Depth of the topic tree: room for 2^32 topics.
pub const DEPTH: usize = 32;

/// The leaf of a used topic slot.
pub fn leaf(topic: &Topic, log_root: &Hash) -> Hash {
    let mut bytes = vec![3u8];
    topic.encode_to(&mut bytes);
    bytes.extend_from_slice(log_root.as_bytes());
    sha256(&bytes)
}

/// An inner node.
pub fn node(left: &Hash, right: &Hash) -> Hash {
    let mut bytes = [4u8; 65];
    bytes[1..33].copy_from_slice(left.as_bytes());
    bytes[33..].copy_from_slice(right.as_bytes());
    sha256(&bytes)
}

/// The root of an empty subtree of height `level` (0: an unused leaf).
pub fn empty(level: usize) -> Hash {
    static EMPTY: OnceLock<Vec<Hash>> = OnceLock::new();
    let table = EMPTY.get_or_init(|| {
        let mut table = vec![Hash::ZERO];
        for level in 0..DEPTH {
            let below = table[level];
            table.push(node(&below, &below));
        }
        table
    });
    table[level.min(DEPTH)]
}

/// Where a tree's nodes are kept: level 0 are leaves, level [`DEPTH`] the root. An absent node is
/// the empty subtree of its level.
pub trait TreeNodes {
    /// The node at `level` and `index`, if set.
    fn node(&self, level: usize, index: u64) -> Option<Hash>;
    /// Stores the node at `level` and `index`.
    fn set_node(&mut self, level: usize, index: u64, hash: Hash);
}

impl TreeNodes for std::collections::BTreeMap<(usize, u64), Hash> {
    fn node(&self, level: usize, index: u64) -> Option<Hash> {
        self.get(&(level, index)).copied()
    }
    fn set_node(&mut self, level: usize, index: u64, hash: Hash) {
        self.insert((level, index), hash);
    }
}

fn get(nodes: &impl TreeNodes, level: usize, index: u64) -> Hash {
    nodes.node(level, index).unwrap_or_else(|| empty(level))
}

/// Sets slot `slot`'s leaf and updates its path; returns the new root.
pub fn set_leaf(nodes: &mut impl TreeNodes, slot: u32, leaf: Hash) -> Hash {
    let mut index = u64::from(slot);
    let mut hash = leaf;
    nodes.set_node(0, index, hash);
    for level in 0..DEPTH {
        let sibling = get(nodes, level, index ^ 1);
        hash = if index & 1 == 0 { node(&hash, &sibling) } else { node(&sibling, &hash) };
        index >>= 1;
        nodes.set_node(level + 1, index, hash);
    }
    hash
}

/// The tree's root.
pub fn root(nodes: &impl TreeNodes) -> Hash {
    get(nodes, DEPTH, 0)
}

/// The sibling hashes of slot `slot`'s path, leaf level first.
pub fn siblings(nodes: &impl TreeNodes, slot: u32) -> BoundedVec<Hash, DEPTH> {
    let mut index = u64::from(slot);
    let mut siblings = Vec::with_capacity(DEPTH);
    for level in 0..DEPTH {
        siblings.push(get(nodes, level, index ^ 1));
        index >>= 1;
    }
    BoundedVec::try_from_vec(siblings).unwrap_or_default()
}

/// Proof that a topic's log, at a certified length, is committed by a header.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, MaxEncodedLen)]
pub struct TopicProof {
    /// The topic's slot.
    pub slot: u32,
    /// The log's length in the certified header.
    pub length: u64,
    /// The sibling hashes of the slot's path, leaf level first.
    pub siblings: BoundedVec<Hash, DEPTH>,
    /// For a page that stops before `length`: the roots of the subtrees holding the log's
    /// remaining messages ([`crate::log::subtrees`] from the page's end to `length`). Empty when
    /// the messages reach `length`.
    pub rest: BoundedVec<Hash, MAX_SUBTREES>,
}

/// Why a topic range does not check out against a header.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TopicError {
    /// The messages themselves do not form the range.
    #[error(transparent)]
    Range(#[from] RangeError),
    /// The proof does not have one sibling per level.
    #[error("malformed proof: {0} siblings, a path has {DEPTH}")]
    PathLength(usize),
    /// The rebuilt path does not reach the header's root.
    #[error("the topic's log does not match the header's message root: wrong topic, wrong slot, or altered messages")]
    RootMismatch,
}

/// Checks that `messages` are exactly messages `from..` of `topic` in the header whose message root
/// is `messages_root`, given the topic log's peaks at `from` (kept by the reader from its last
/// check, or `LogPeaks::default()` from the start): all of them up to the certified length, or a
/// page of them with the proof's `rest` standing for the others. Returns the peaks after the
/// messages, where the reader's next range starts.
pub fn verify_topic_range(
    messages_root: &Hash,
    topic: &Topic,
    from: u64,
    start: &LogPeaks,
    messages: &[(u64, Hash)],
    proof: &TopicProof,
) -> Result<LogPeaks, TopicError> {
    if proof.siblings.len() != DEPTH {
        return Err(TopicError::PathLength(proof.siblings.len()));
    }
    let (end, peaks) = extend_to(from, start, messages, proof.length, &proof.rest)?;
    let mut hash = leaf(topic, &peaks.root());
    let mut index = u64::from(proof.slot);
    for sibling in proof.siblings.iter() {
        hash = if index & 1 == 0 { node(&hash, sibling) } else { node(sibling, &hash) };
        index >>= 1;
    }
    if hash != *messages_root {
        return Err(TopicError::RootMismatch);
    }
    Ok(end)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ContractId, SystemTopic, codec::strict_check};
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    fn message(topic: u8, i: u64) -> Hash {
        sha256(&[&[topic][..], &i.to_le_bytes()].concat())
    }

    type Nodes = BTreeMap<(usize, u64), Hash>;

    /// Topics with logs of the given lengths, committed as the chain would commit them.
    fn chain_of(lengths: &[u64]) -> (Nodes, Vec<Topic>, Vec<LogPeaks>) {
        let topics: Vec<Topic> = (0..lengths.len())
            .map(|i| {
                if i == 0 {
                    Topic::System(SystemTopic::Registrations)
                } else {
                    Topic::Contract(ContractId([i as u8; 32]))
                }
            })
            .collect();
        let mut nodes = BTreeMap::new();
        let mut logs = Vec::new();
        for (slot, (topic, &n)) in topics.iter().zip(lengths).enumerate() {
            let mut log = LogPeaks::default();
            for i in 0..n {
                log.append(&message(slot as u8, i));
            }
            set_leaf(&mut nodes, slot as u32, leaf(topic, &log.root()));
            logs.push(log);
        }
        (nodes, topics, logs)
    }

    #[test]
    fn empty_tree_root_is_the_empty_subtree() {
        assert_eq!(root(&BTreeMap::new()), empty(DEPTH));
        assert_ne!(empty(DEPTH), Hash::ZERO);
    }

    proptest! {
        /// A reader of any topic, from any point, verifies its messages against the root.
        #[test]
        fn honest_topic_ranges_verify(lengths in proptest::collection::vec(0u64..40, 1..6), pick: usize, split: u64) {
            let (nodes, topics, logs) = chain_of(&lengths);
            let slot = pick % topics.len();
            let n = lengths[slot];
            let from = split % (n + 1);
            let mut start = LogPeaks::default();
            for i in 0..from { start.append(&message(slot as u8, i)); }
            let range: Vec<(u64, Hash)> = (from..n).map(|i| (i, message(slot as u8, i))).collect();
            let proof = TopicProof { slot: slot as u32, length: n, siblings: siblings(&nodes, slot as u32), rest: Default::default() };
            let end = verify_topic_range(&root(&nodes), &topics[slot], from, &start, &range, &proof).unwrap();
            prop_assert_eq!(&end, &logs[slot]);
        }

        #[test]
        fn proofs_decode_strictly(slot: u32, length: u64, extra: u8, cut in 1usize..100, flip_at: usize, flip: u8) {
            let proof = TopicProof { slot, length, siblings: siblings(&BTreeMap::new(), slot), rest: Default::default() };
            prop_assert_eq!(strict_check::check(&proof, extra, cut, flip_at, flip), Ok(()));
        }
    }

    #[test]
    fn dishonest_ranges_and_proofs_are_refused_with_reasons() {
        let (nodes, topics, _) = chain_of(&[5, 7, 3]);
        let root = root(&nodes);
        let range = |topic: u8, from: u64, to: u64| (from..to).map(|i| (i, message(topic, i))).collect::<Vec<_>>();
        let proof = TopicProof { slot: 1, length: 7, siblings: siblings(&nodes, 1), rest: Default::default() };
        let start = LogPeaks::default();
        assert!(verify_topic_range(&root, &topics[1], 0, &start, &range(1, 0, 7), &proof).is_ok());
        // Another topic's messages, or this topic claimed at another slot.
        assert_eq!(
            verify_topic_range(&root, &topics[2], 0, &start, &range(1, 0, 7), &proof),
            Err(TopicError::RootMismatch)
        );
        let wrong_slot = TopicProof { slot: 2, ..proof.clone() };
        assert_eq!(
            verify_topic_range(&root, &topics[1], 0, &start, &range(1, 0, 7), &wrong_slot),
            Err(TopicError::RootMismatch)
        );
        // An altered message, a reordering, the last one left out, one skipped.
        let mut altered = range(1, 0, 7);
        altered[3].1 = sha256(b"x");
        assert_eq!(verify_topic_range(&root, &topics[1], 0, &start, &altered, &proof), Err(TopicError::RootMismatch));
        let mut reordered = range(1, 0, 7);
        reordered.swap(1, 2);
        reordered[1].0 = 1;
        reordered[2].0 = 2;
        assert_eq!(verify_topic_range(&root, &topics[1], 0, &start, &reordered, &proof), Err(TopicError::RootMismatch));
        assert_eq!(
            verify_topic_range(&root, &topics[1], 0, &start, &range(1, 0, 6), &proof),
            Err(TopicError::Range(RangeError::StopsShort { expected: 7, found: 6 }))
        );
        let mut skipped = range(1, 0, 7);
        skipped.remove(4);
        assert!(matches!(
            verify_topic_range(&root, &topics[1], 0, &start, &skipped, &proof),
            Err(TopicError::Range(RangeError::IndexGap { .. }))
        ));
        // A proof that claims a shorter log to hide the tail.
        let shorter = TopicProof { length: 6, ..proof.clone() };
        assert_eq!(
            verify_topic_range(&root, &topics[1], 0, &start, &range(1, 0, 6), &shorter),
            Err(TopicError::RootMismatch)
        );
        // A path of the wrong length.
        let short_path = TopicProof { siblings: BoundedVec::try_from_vec(vec![Hash::ZERO; 3]).unwrap(), ..proof };
        assert_eq!(
            verify_topic_range(&root, &topics[1], 0, &start, &range(1, 0, 7), &short_path),
            Err(TopicError::PathLength(3))
        );
    }
}
