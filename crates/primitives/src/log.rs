//! Append-only message logs with proofs of complete delivery.
//!
//! Each topic's messages form a Merkle mountain range: a forest of perfect binary trees whose sizes
//! are the 1-bits of the log's length. The log is committed by its **peaks** (one root per tree,
//! largest first, at most 64 of them) and its length; [`LogPeaks::root`] hashes both.
//!
//! A reader that has verified the log up to index `i` (or that is given the peaks at `i` by an
//! untrusted host) checks messages `i..n` by appending them to the peaks itself and comparing the
//! result with the certified root and length ([`verify_range`]). Because the peaks at `i` and the
//! appended messages determine the root exactly, any message altered, reordered, inserted or left
//! out changes the root or the length: the proof is of completeness, not only of inclusion, and it
//! costs the reader work proportional to its own messages.
//!
//! Hashes: leaf `SHA-256(0x00 || message hash)`, inner node `SHA-256(0x01 || left || right)`, root
//! `SHA-256(0x02 || length as u64 LE || peaks)`.

use parity_scale_codec::{Decode, Encode, MaxEncodedLen};

use crate::{
    codec::BoundedVec,
    hashing::{Hash, sha256},
};

fn leaf(message: &Hash) -> Hash {
    let mut bytes = [0u8; 33];
    bytes[1..].copy_from_slice(message.as_bytes());
    sha256(&bytes)
}

fn parent(left: &Hash, right: &Hash) -> Hash {
    let mut bytes = [1u8; 65];
    bytes[1..33].copy_from_slice(left.as_bytes());
    bytes[33..].copy_from_slice(right.as_bytes());
    sha256(&bytes)
}

/// The commitment state of one log: its length and the roots of its perfect subtrees.
#[derive(Clone, Debug, Default, PartialEq, Eq, Encode, Decode, MaxEncodedLen)]
pub struct LogPeaks {
    /// Number of messages in the log.
    pub length: u64,
    /// Roots of the perfect subtrees, largest (oldest) first: one per 1-bit of `length`.
    pub peaks: BoundedVec<Hash, 64>,
}

impl LogPeaks {
    /// Appends the message whose hash is `message`.
    pub fn append(&mut self, message: &Hash) {
        self.append_with(message, |_, _, _| {});
    }

    /// Appends the message whose hash is `message`, calling `completed(level, index, root)` for
    /// every perfect subtree of two or more messages it completes (the `index`-th subtree of
    /// `2^level` messages), smallest first.
    pub fn append_with(&mut self, message: &Hash, completed: impl FnMut(u32, u64, &Hash)) {
        self.push_subtree(0, leaf(message), completed);
    }

    /// Appends a perfect subtree of `2^level` messages given by its root; the log's length must be
    /// a multiple of its size (as [`subtrees`] guarantees).
    fn push_subtree(&mut self, level: u32, root: Hash, mut completed: impl FnMut(u32, u64, &Hash)) {
        let mut peaks = std::mem::take(&mut self.peaks).into_inner();
        let mut node = root;
        let mut level = level;
        self.length += 1 << level;
        // Merge with an equal-sized tree for every 1-bit of the old length from `level` up.
        while (self.length >> level) & 1 == 0 {
            let left = peaks.pop().unwrap_or_default();
            node = parent(&left, &node);
            level += 1;
            completed(level, (self.length >> level) - 1, &node);
        }
        peaks.push(node);
        // At most one peak per bit of a u64 length: the bound always holds.
        self.peaks = BoundedVec::try_from_vec(peaks).unwrap_or_default();
    }

    /// Whether the peaks have the shape the length requires (one per 1-bit).
    pub fn is_well_formed(&self) -> bool {
        self.peaks.len() == self.length.count_ones() as usize
    }

    /// The log's commitment: length and peaks hashed together.
    pub fn root(&self) -> Hash {
        let mut bytes = Vec::with_capacity(9 + 32 * self.peaks.len());
        bytes.push(2);
        bytes.extend_from_slice(&self.length.to_le_bytes());
        for peak in self.peaks.iter() {
            bytes.extend_from_slice(peak.as_bytes());
        }
        sha256(&bytes)
    }
}

/// Why a range of messages does not check out against a certified log.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RangeError {
    /// The starting peaks do not have the shape their length requires.
    #[error("malformed proof: {peaks} peaks cannot describe a log of {length} messages")]
    MalformedPeaks {
        /// The claimed length.
        length: u64,
        /// The number of peaks given.
        peaks: usize,
    },
    /// The proof starts somewhere else than asked.
    #[error("the proof starts at message {found}, not at {expected}")]
    WrongStart {
        /// Where the reader stands.
        expected: u64,
        /// Where the proof starts.
        found: u64,
    },
    /// A message's index is not the next one.
    #[error(
        "message {position} of the range has index {found}, expected {expected}: a message was skipped or repeated"
    )]
    IndexGap {
        /// Its position in the range.
        position: usize,
        /// The index it should have.
        expected: u64,
        /// The index it has.
        found: u64,
    },
    /// The range ends before the certified length.
    #[error("the range ends at {found} messages, but the certified log has {expected}: messages were left out")]
    StopsShort {
        /// The certified length.
        expected: u64,
        /// Where the range ends.
        found: u64,
    },
    /// The range goes past the certified length.
    #[error("the range has {found} messages, but the certified log has only {expected}: messages were added")]
    TooLong {
        /// The certified length.
        expected: u64,
        /// Where the range ends.
        found: u64,
    },
    /// The proof of the log's rest names another number of subtrees than the positions require.
    #[error("the proof of the messages after the page has {found} subtree roots; the positions require {expected}")]
    RestMismatch {
        /// How many the positions require.
        expected: usize,
        /// How many were given.
        found: usize,
    },
    /// The messages do not rebuild the certified root.
    #[error("the messages do not rebuild the certified log root: one was altered, reordered, inserted or left out")]
    RootMismatch,
}

/// Subtrees of at least `2^KEPT_LEVEL` messages have their roots kept by the chain (one write per
/// 32 messages on average), so a proof that a page stops short of a log's end costs whoever builds
/// it at most 63 message reads, however long the log.
pub const KEPT_LEVEL: u32 = 6;

/// The most subtrees [`subtrees`] can name for any range: two per bit of a u64 length.
pub const MAX_SUBTREES: usize = 128;

/// The aligned perfect subtrees that together hold messages `from..to`, in order, as
/// `(level, first message)`: each the largest subtree that starts where the previous one ended
/// and fits. Reader and prover derive the same list from the two positions alone, so a proof of
/// the rest of a log ([`extend_to`]'s `rest`) is just their roots.
pub fn subtrees(from: u64, to: u64) -> impl Iterator<Item = (u32, u64)> {
    let mut position = from;
    std::iter::from_fn(move || {
        if position >= to {
            return None;
        }
        let mut level = position.trailing_zeros().min(63);
        while (1u64 << level) > to - position {
            level -= 1;
        }
        let subtree = (level, position);
        position += 1 << level;
        Some(subtree)
    })
}

/// The root of the perfect subtree over `messages` (their hashes, a power of two of them).
pub fn subtree_root(messages: &[Hash]) -> Option<Hash> {
    if !messages.len().is_power_of_two() {
        return None;
    }
    let mut peaks = LogPeaks::default();
    for message in messages {
        peaks.append(message);
    }
    peaks.peaks.first().copied()
}

/// Appends `messages` (each with its index and hash) to the log's peaks at `from`, checking the
/// peaks' shape, the start, and that indices run on without gaps; then appends `rest`, the roots of
/// the subtrees ([`subtrees`]) holding the log's remaining messages up to `length` (empty when the
/// messages reach it). Returns the peaks after the messages and the peaks at `length`; comparing
/// the latter's root with a certified one is the caller's last step. Because the subtrees' places
/// follow from the positions alone and the root commits to the length, a matching root proves the
/// messages are the log's, in place, even when the reader stops before the end (a page).
pub fn extend_to(
    from: u64,
    start: &LogPeaks,
    messages: &[(u64, Hash)],
    length: u64,
    rest: &[Hash],
) -> Result<(LogPeaks, LogPeaks), RangeError> {
    if !start.is_well_formed() {
        return Err(RangeError::MalformedPeaks { length: start.length, peaks: start.peaks.len() });
    }
    if start.length != from {
        return Err(RangeError::WrongStart { expected: from, found: start.length });
    }
    let mut peaks = start.clone();
    for (position, (index, message)) in messages.iter().enumerate() {
        if *index != peaks.length {
            return Err(RangeError::IndexGap { position, expected: peaks.length, found: *index });
        }
        peaks.append(message);
    }
    if peaks.length > length {
        return Err(RangeError::TooLong { expected: length, found: peaks.length });
    }
    let end = peaks.clone();
    let places: Vec<(u32, u64)> = subtrees(end.length, length).collect();
    if rest.is_empty() && !places.is_empty() {
        return Err(RangeError::StopsShort { expected: length, found: end.length });
    }
    if places.len() != rest.len() {
        return Err(RangeError::RestMismatch { expected: places.len(), found: rest.len() });
    }
    for ((level, _), root) in places.into_iter().zip(rest) {
        peaks.push_subtree(level, *root, |_, _, _| {});
    }
    Ok((end, peaks))
}

/// Checks that `messages` (each with its index and hash) are exactly messages `from..length` of the
/// log certified by `root` and `length`, given the log's peaks at `from`. Returns the peaks at
/// `length`, which the reader keeps to check the next range.
pub fn verify_range(
    from: u64,
    start: &LogPeaks,
    messages: &[(u64, Hash)],
    length: u64,
    root: &Hash,
) -> Result<LogPeaks, RangeError> {
    let (peaks, _) = extend_to(from, start, messages, length, &[])?;
    if peaks.root() != *root {
        return Err(RangeError::RootMismatch);
    }
    Ok(peaks)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::strict_check;
    use proptest::prelude::*;

    fn messages(n: u64) -> Vec<(u64, Hash)> {
        (0..n).map(|i| (i, sha256(&i.to_le_bytes()))).collect()
    }

    fn log(messages: &[(u64, Hash)]) -> LogPeaks {
        let mut peaks = LogPeaks::default();
        for (_, m) in messages {
            peaks.append(m);
        }
        peaks
    }

    #[test]
    fn peaks_follow_the_bits_of_the_length() {
        let all = messages(13);
        let peaks = log(&all);
        assert_eq!(peaks.length, 13);
        assert_eq!(peaks.peaks.len(), 3, "13 = 8 + 4 + 1");
        assert!(peaks.is_well_formed());
        // Two leaves: one peak, the parent of both leaves.
        let two = log(&all[..2]);
        assert_eq!(two.peaks.to_vec(), vec![parent(&leaf(&all[0].1), &leaf(&all[1].1))]);
    }

    /// The hashing, pinned: computed independently from the module documentation with Python's
    /// hashlib, for messages whose hashes are SHA-256 of 0, 1, 2 as u64 little-endian.
    #[test]
    fn known_answer_pins_the_hashing() {
        assert_eq!(
            log(&messages(3)).root().to_string(),
            "0xc7069b6ff1c9eadc080c759a4c3c31d1df09be158108f83e1da37f2722c27cb7"
        );
        assert_eq!(LogPeaks::default().root(), sha256(&[2, 0, 0, 0, 0, 0, 0, 0, 0]));
    }

    proptest! {
        /// Any split of a log into what a reader has and a range it receives verifies.
        #[test]
        fn every_honest_range_verifies(n in 0u64..200, split in 0u64..200) {
            let all = messages(n);
            let from = split.min(n);
            let certified = log(&all);
            let start = log(&all[..from as usize]);
            let end = verify_range(from, &start, &all[from as usize..], n, &certified.root()).unwrap();
            prop_assert_eq!(end, certified);
        }

        /// Altered, reordered, inserted or omitted messages are all refused.
        #[test]
        fn every_dishonest_range_is_refused(n in 2u64..120, split in 0u64..120, victim in 0usize..120, kind in 0u8..5) {
            let all = messages(n);
            let from = split.min(n - 2);
            let certified = log(&all);
            let start = log(&all[..from as usize]);
            let mut range = all[from as usize..].to_vec();
            let victim = victim % range.len();
            match kind {
                0 => range[victim].1 = sha256(b"altered"),
                1 => { let next = (victim + 1) % range.len(); let (a, b) = (range[victim].1, range[next].1); range[victim].1 = b; range[next].1 = a; }
                2 => range.insert(victim, (range[victim].0, sha256(b"inserted"))),
                3 => { range.remove(victim); }
                _ => { range.pop(); }
            }
            prop_assert!(verify_range(from, &start, &range, n, &certified.root()).is_err());
        }

        /// Any page of a log, with the roots of the subtrees after it, verifies and leaves the
        /// reader at the page's end; the subtrees are aligned, cover the rest exactly, and fit
        /// the proof's bound.
        #[test]
        fn every_honest_page_verifies(n in 0u64..300, from in 0u64..300, size in 0u64..300) {
            let all = messages(n);
            let from = from.min(n);
            let end = (from + size).min(n);
            let certified = log(&all);
            let start = log(&all[..from as usize]);
            let places: Vec<(u32, u64)> = subtrees(end, n).collect();
            prop_assert!(places.len() <= MAX_SUBTREES);
            let mut next = end;
            let mut rest = Vec::new();
            for (level, first) in places {
                prop_assert_eq!(first, next);
                prop_assert_eq!(first % (1 << level), 0);
                next += 1 << level;
                let hashes: Vec<Hash> = all[first as usize..next as usize].iter().map(|(_, h)| *h).collect();
                rest.push(subtree_root(&hashes).unwrap());
            }
            prop_assert_eq!(next.max(end), n);
            let (at_end, full) = extend_to(from, &start, &all[from as usize..end as usize], n, &rest).unwrap();
            prop_assert_eq!(at_end, log(&all[..end as usize]));
            prop_assert_eq!(full.root(), certified.root());
        }

        /// Appending reports exactly the subtrees it completes, with their roots.
        #[test]
        fn appends_report_the_subtrees_they_complete(n in 1u64..300) {
            let all = messages(n);
            let mut peaks = LogPeaks::default();
            let mut reported = Vec::new();
            for (_, message) in &all {
                peaks.append_with(message, |level, index, root| reported.push((level, index, *root)));
            }
            let mut expected = Vec::new();
            for length in 1..=n {
                for level in 1..=length.trailing_zeros() {
                    let index = (length >> level) - 1;
                    let first = (index << level) as usize;
                    let hashes: Vec<Hash> = all[first..first + (1 << level)].iter().map(|(_, h)| *h).collect();
                    expected.push((level, index, subtree_root(&hashes).unwrap()));
                }
            }
            prop_assert_eq!(reported, expected);
        }

        #[test]
        fn peaks_decode_strictly(n in 0u64..100, extra: u8, cut in 1usize..40, flip_at: usize, flip: u8) {
            prop_assert_eq!(strict_check::check(&log(&messages(n)), extra, cut, flip_at, flip), Ok(()));
        }
    }

    #[test]
    fn each_refusal_says_why() {
        let all = messages(10);
        let certified = log(&all);
        let start = log(&all[..4]);
        let root = certified.root();
        assert_eq!(
            verify_range(5, &start, &all[4..], 10, &root),
            Err(RangeError::WrongStart { expected: 5, found: 4 })
        );
        assert_eq!(
            verify_range(4, &start, &all[4..9], 10, &root),
            Err(RangeError::StopsShort { expected: 10, found: 9 })
        );
        let mut skipping = all[4..].to_vec();
        skipping.remove(2);
        assert!(matches!(verify_range(4, &start, &skipping, 10, &root), Err(RangeError::IndexGap { position: 2, .. })));
        let mut longer = all[4..].to_vec();
        longer.push((10, sha256(b"extra")));
        assert_eq!(verify_range(4, &start, &longer, 10, &root), Err(RangeError::TooLong { expected: 10, found: 11 }));
        let mut altered = all[4..].to_vec();
        altered[0].1 = sha256(b"x");
        assert_eq!(verify_range(4, &start, &altered, 10, &root), Err(RangeError::RootMismatch));
        let mut malformed = start.clone();
        malformed.peaks = BoundedVec::new();
        assert!(matches!(verify_range(4, &malformed, &all[4..], 10, &root), Err(RangeError::MalformedPeaks { .. })));
    }
}
