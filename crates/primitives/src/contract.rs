//! Contracts as the chain sees them: which code runs where, and the messages on a contract's topic.
//!
//! A contract's topic starts with the chain's [`Assignment`] (origin `Chain`): the code hash, the
//! cluster and its workers' keys. Commands follow, one [`CommandMessage`] per `Command` transaction
//! (origin: the signer's account), carrying the transaction's nonce so the runtime can check that
//! the envelope inside was sealed by that signer for that nonce and no other.

use parity_scale_codec::{Decode, Encode, MaxEncodedLen};

use crate::{
    codec::{BoundedBytes, BoundedVec},
    hashing::{Hash, sha256},
    ids::{ClusterId, ContractId, KeyEpoch, Nonce},
};

/// The most workers one cluster runs a contract on.
pub const MAX_CLUSTER_WORKERS: usize = 16;

/// The largest command a transaction carries: a message payload less the nonce and length prefix.
pub const MAX_COMMAND_BYTES: usize = crate::message::MAX_MESSAGE_PAYLOAD - 16;

/// The code hash of a contract built into the runtime, by name: SHA-256 of `veil/builtin/<name>`.
/// Wasm contracts' code hashes are the SHA-256 of their code.
pub fn builtin_code_hash(name: &str) -> Hash {
    sha256(format!("veil/builtin/{name}").as_bytes())
}

/// A worker of a cluster, with the keys the gatekeeper needs to reach it.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Encode, Decode, MaxEncodedLen)]
pub struct AssignedWorker {
    /// Its ed25519 identity (its registration's signing key).
    pub identity: [u8; 32],
    /// Its X25519 key: the cluster key is sealed to it.
    pub agreement: [u8; 32],
}

/// The chain's record that a contract runs `code` on a cluster of workers, published on the
/// assignments topic and as the first message of the contract's own topic.
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode, MaxEncodedLen)]
pub struct Assignment {
    /// The contract.
    pub contract: ContractId,
    /// Its code hash.
    pub code: Hash,
    /// The cluster that runs it.
    pub cluster: ClusterId,
    /// The key epoch its keys are derived for.
    pub epoch: KeyEpoch,
    /// The cluster's workers, each registered and not lapsed when the assignment was made.
    pub workers: BoundedVec<AssignedWorker, MAX_CLUSTER_WORKERS>,
}

/// What the chain publishes on a contract's topic for a `Command` transaction.
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode, MaxEncodedLen)]
pub struct CommandMessage {
    /// The transaction's nonce (the signer is the message's origin).
    pub nonce: Nonce,
    /// The command: an envelope sealed to the contract's key, opaque to the chain.
    pub payload: BoundedBytes<MAX_COMMAND_BYTES>,
}

/// What a contract's topic carries.
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode, MaxEncodedLen)]
pub enum ContractMessage {
    /// The contract was assigned (origin `Chain`).
    #[codec(index = 0)]
    Assigned(Assignment),
    /// A command (origin: the signing account).
    #[codec(index = 1)]
    Command(CommandMessage),
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{codec::decode_strict, message::MAX_MESSAGE_PAYLOAD};

    #[test]
    fn the_largest_command_fits_a_message() {
        let message = ContractMessage::Command(CommandMessage {
            nonce: u64::MAX,
            payload: vec![0; MAX_COMMAND_BYTES].try_into().unwrap(),
        });
        assert!(message.encode().len() <= MAX_MESSAGE_PAYLOAD);
        assert_eq!(decode_strict::<ContractMessage>(&message.encode()).unwrap(), message);
    }

    #[test]
    fn builtin_code_hashes_differ_by_name() {
        assert_ne!(builtin_code_hash("notes"), builtin_code_hash("counter"));
    }
}
