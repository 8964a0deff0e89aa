//! Blocks: what consensus orders and finalizes.

use parity_scale_codec::{Decode, Encode, MaxEncodedLen};

use crate::{
    codec::BoundedVec,
    hashing::{Hash, sha256},
    ids::BlockHeight,
    message::SignedEgress,
    transaction::SignedTransaction,
};

/// The most transactions one block may carry.
pub const MAX_BLOCK_TRANSACTIONS: usize = 4096;

/// The most egress messages one block may carry.
pub const MAX_BLOCK_EGRESS: usize = 4096;

/// The largest encoded block: what peers accept on the wire and proposers fill up to.
pub const MAX_BLOCK_BYTES: usize = 8 << 20;

/// Room for a block's transactions and egress: [`MAX_BLOCK_BYTES`] less the header and the two
/// list lengths.
pub const MAX_BLOCK_BODY_BYTES: usize = MAX_BLOCK_BYTES - 256;

/// What a header commits about the message queue, so runtimes can prove complete delivery of
/// their topics against a finalized header (see [`crate::topics`]).
#[derive(Clone, PartialEq, Eq, Debug, Default, Encode, Decode, MaxEncodedLen)]
pub struct MessageCommitments {
    /// Root of the topic tree: every topic's append-only log and its length.
    pub root: Hash,
}

/// The threshold seed of one consensus round: the network key's unique BLS signature (min-sig, in
/// G1) over `varint(epoch) || varint(view)` under the namespace `namespace || "_SEED"`. Nobody can
/// compute it before a quorum of validators signs the round, and nobody can choose it: there is
/// exactly one valid signature per round. Each block carries its parent's round seed, checked by
/// every validator and by light clients against the network key.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Encode, Decode, MaxEncodedLen)]
pub struct RoundSeed {
    /// The consensus epoch of the round.
    pub epoch: u64,
    /// The view of the round.
    pub view: u64,
    /// The threshold signature, compressed.
    pub signature: [u8; 48],
}

impl RoundSeed {
    /// The seed as 32 uniformly random bytes: SHA-256 of the signature.
    pub fn randomness(&self) -> Hash {
        sha256(&self.signature)
    }
}

/// The chain's record of a round seed: the seed a block's header carried, and that block's height.
/// Kept in state (the latest) and published on the seeds topic (every one).
#[derive(Clone, Copy, PartialEq, Eq, Debug, Encode, Decode, MaxEncodedLen)]
pub struct SeedRecord {
    /// The block that recorded it.
    pub height: BlockHeight,
    /// The seed of its parent's round.
    pub seed: RoundSeed,
}

/// A block header. Its SHA-256 is the block's identity, the digest consensus certifies.
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode, MaxEncodedLen)]
pub struct Header {
    /// Hash of the parent header ([`Hash::ZERO`] for genesis).
    pub parent: Hash,
    /// Parent height plus one; genesis is 0.
    pub height: BlockHeight,
    /// Milliseconds since the Unix epoch: strictly greater than the parent's, and not ahead of the
    /// validators' clocks by more than the parameters' bound. The chain's only notion of time.
    pub timestamp_ms: u64,
    /// Root of the authenticated public state after this block.
    pub state_root: Hash,
    /// Root of this block's transactions.
    pub transactions_root: Hash,
    /// Root of this block's egress, built like the transactions root over the copies' hashes.
    pub egress_root: Hash,
    /// The message-queue commitments after this block.
    pub messages: MessageCommitments,
    /// The seed of the parent's consensus round (`None` only when the parent is genesis, which no
    /// round certified).
    pub seed: Option<RoundSeed>,
}

impl Header {
    /// The block's identity: SHA-256 of the header's encoding.
    pub fn hash(&self) -> Hash {
        sha256(&self.encode())
    }
}

/// A header and the transactions and egress it commits to.
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode, MaxEncodedLen)]
pub struct Block {
    /// The header.
    pub header: Header,
    /// The transactions, in execution order.
    pub transactions: BoundedVec<SignedTransaction, MAX_BLOCK_TRANSACTIONS>,
    /// Egress from off-chain senders, executed after the transactions, in order.
    pub egress: BoundedVec<SignedEgress, MAX_BLOCK_EGRESS>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        AccountId, AccountsCall, Balance, Call, ClusterId, ContractId, Egress, KeyEpoch, SenderId, Topic, Transaction,
        codec::{DecodeError, decode_strict, strict_check},
    };
    use proptest::prelude::*;

    fn block(transactions: usize, seed: u8) -> Block {
        let tx = |i: usize| SignedTransaction {
            transaction: Transaction {
                genesis: Hash([seed; 32]),
                signer: AccountId([i as u8; 32]),
                nonce: i as u64,
                call: Call::Accounts(AccountsCall::Transfer { to: AccountId([seed; 32]), amount: Balance(i as u128) }),
            },
            signature: [seed; 64],
        };
        let egress = |i: usize| SignedEgress {
            egress: Egress {
                sender: SenderId::Cluster(ClusterId(i as u32)),
                epoch: KeyEpoch(1),
                sequence: i as u64,
                topic: Topic::Contract(ContractId([seed; 32])),
                payload: vec![seed; i].try_into().unwrap(),
            },
            signature: [i as u8; 64],
        };
        Block {
            header: Header {
                parent: Hash([seed; 32]),
                height: u64::from(seed),
                timestamp_ms: 1_700_000_000_000 + u64::from(seed),
                state_root: Hash([1; 32]),
                transactions_root: Hash([2; 32]),
                egress_root: Hash([3; 32]),
                messages: MessageCommitments::default(),
                seed: None,
            },
            transactions: (0..transactions).map(tx).collect::<Vec<_>>().try_into().unwrap(),
            egress: (0..transactions).map(egress).collect::<Vec<_>>().try_into().unwrap(),
        }
    }

    #[test]
    fn header_hash_changes_with_every_field() {
        let base = block(0, 1).header;
        let mut changed = base.clone();
        changed.timestamp_ms += 1;
        assert_ne!(base.hash(), changed.hash());
        let mut changed = base.clone();
        changed.messages.root = Hash([9; 32]);
        assert_ne!(base.hash(), changed.hash());
        let mut changed = base.clone();
        changed.egress_root = Hash([9; 32]);
        assert_ne!(base.hash(), changed.hash());
    }

    #[test]
    fn too_many_transactions_are_refused_before_decoding_them() {
        let mut bytes = block(0, 1).encode();
        // Replace the empty transaction list's length with one above the bound.
        bytes.truncate(bytes.len() - 2);
        bytes.extend(parity_scale_codec::Compact((MAX_BLOCK_TRANSACTIONS + 1) as u32).encode());
        bytes.push(0);
        let error = decode_strict::<Block>(&bytes).unwrap_err();
        assert!(matches!(error, DecodeError::Malformed { what: "Block", .. }), "{error}");
    }

    proptest! {
        #[test]
        fn block_decodes_strictly(
            count in 0usize..6, seed: u8, extra: u8, cut in 1usize..300, flip_at: usize, flip: u8,
        ) {
            prop_assert_eq!(strict_check::check(&block(count, seed), extra, cut, flip_at, flip), Ok(()));
        }
    }
}
