//! The Merkle roots a header commits to over its block's body; clients recompute them to check a
//! block they were served.

use veil_primitives::{Hash, SignedEgress, SignedTransaction, hashing::sha256};

/// The Merkle root of a block's transactions: SHA-256 over transaction hashes, leaves and inner
/// nodes domain-separated (`0x00 || hash`, `0x01 || left || right`), an odd node carried up
/// unchanged; the empty list's root is SHA-256 of the empty string.
pub fn transactions_root(transactions: &[SignedTransaction]) -> Hash {
    merkle_root(transactions.iter().map(SignedTransaction::hash))
}

/// The Merkle root of a block's egress, built like [`transactions_root`] over the copies' hashes.
pub fn egress_root(egress: &[SignedEgress]) -> Hash {
    merkle_root(egress.iter().map(SignedEgress::hash))
}

fn merkle_root(hashes: impl ExactSizeIterator<Item = Hash>) -> Hash {
    if hashes.len() == 0 {
        return sha256(&[]);
    }
    let mut level: Vec<Hash> = hashes
        .map(|hash| {
            let mut leaf = vec![0u8];
            leaf.extend_from_slice(hash.as_bytes());
            sha256(&leaf)
        })
        .collect();
    while level.len() > 1 {
        level = level
            .chunks(2)
            .map(|pair| match pair {
                [left, right] => {
                    let mut node = vec![1u8];
                    node.extend_from_slice(left.as_bytes());
                    node.extend_from_slice(right.as_bytes());
                    sha256(&node)
                }
                [single] => *single,
                _ => unreachable!("chunks(2) yields one or two items"),
            })
            .collect();
    }
    level[0]
}
