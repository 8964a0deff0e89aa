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
        let mut peaks = std::mem::take(&mut self.peaks).into_inner();
        let mut node = leaf(message);
        // Merge with an equal-sized tree for every trailing 1-bit of the old length.
        let mut length = self.length;
        while length & 1 == 1 {
            let left = peaks.pop().unwrap_or_default();
            node = parent(&left, &node);
            length >>= 1;
        }
        peaks.push(node);
        self.length += 1;
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
    /// The messages do not rebuild the certified root.
    #[error("the messages do not rebuild the certified log root: one was altered, reordered, inserted or left out")]
    RootMismatch,
}

/// Appends `messages` (each with its index and hash) to the log's peaks at `from`, checking the
/// peaks' shape, the start, that indices run on without gaps, and that the log then has exactly
/// `length` messages. Returns the peaks at `length`; comparing their root with a certified one is
/// the caller's last step.
pub fn extend_to(from: u64, start: &LogPeaks, messages: &[(u64, Hash)], length: u64) -> Result<LogPeaks, RangeError> {
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
    if peaks.length < length {
        return Err(RangeError::StopsShort { expected: length, found: peaks.length });
    }
    if peaks.length > length {
        return Err(RangeError::TooLong { expected: length, found: peaks.length });
    }
    Ok(peaks)
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
    let peaks = extend_to(from, start, messages, length)?;
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
