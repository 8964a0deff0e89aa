//! Contracts as the chain sees them: which code runs where, and the messages on a contract's topic.
//!
//! A contract's topic starts with the chain's [`Assignment`] (origin `Chain`): the code hash, the
//! cluster and its workers' keys. A wasm contract's [`Deployment`] follows (its code and its sealed
//! constructor argument). Commands follow, one [`CommandMessage`] per `Command` transaction (origin:
//! the signer's account), carrying the transaction's nonce so the runtime can check that the
//! envelope inside was sealed by that signer for that nonce and no other, and the block it was
//! included in, the fuel its sender prepaid and the native tokens it carries. Messages from other
//! contracts arrive as accepted egress (origin: the sending contract).
//!
//! Wasm contracts run on a cluster the chain formed ([`ClusterFormed`]); anyone uploads code and
//! instantiates it there. A contract's id is [`contract_id`] of the deployer, the code and a salt,
//! so a client knows it before the contract exists and can bind the sealed constructor argument to
//! it. The constructor argument is sealed to the cluster's key (its public half is published by the
//! gatekeeper when the cluster forms); commands are sealed to the contract's key.

use parity_scale_codec::{Decode, Encode, MaxEncodedLen};

use crate::{
    balance::Balance,
    codec::{BoundedBytes, BoundedVec},
    hashing::{Hash, sha256},
    ids::{AccountId, ClusterId, ContractId, KeyEpoch, Nonce},
};

/// The most workers one cluster runs a contract on.
pub const MAX_CLUSTER_WORKERS: usize = 16;

/// The largest command a transaction carries: a message payload less the command message's other
/// fields and length prefix.
pub const MAX_COMMAND_BYTES: usize = crate::message::MAX_MESSAGE_PAYLOAD - 64;

/// The largest contract module.
pub const MAX_CODE_BYTES: usize = 256 * 1024;

/// The largest sealed constructor argument.
pub const MAX_ARGUMENT_BYTES: usize = 64 * 1024;

/// A contract's id: SHA-256 of the domain `veil/contract/v1`, the deployer, the code hash and the
/// salt, SCALE-encoded.
pub fn contract_id(deployer: &AccountId, code: &Hash, salt: &[u8; 32]) -> ContractId {
    ContractId(sha256(&(b"veil/contract/v1", deployer, code, salt).encode()).0)
}

/// The code hash of a contract built into the runtime, by name: SHA-256 of `veil/builtin/<name>`.
/// Wasm contracts' code hashes are the SHA-256 of their code.
pub fn builtin_code_hash(name: &str) -> Hash {
    sha256(format!("veil/builtin/{name}").as_bytes())
}

/// The name of the wasm custom section holding a contract's interface (JSON; the contract SDK
/// writes it, clients read it to encode commands and decode answers).
pub const INTERFACE_SECTION: &str = "veil:interface";

/// Bytes that are not a framed wasm module.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("not a wasm module")]
pub struct NotWasm;

/// The content of the custom section `name` of a wasm module; `None` if it has none. Only the
/// section framing is read: the module's validity is the chain's and the engine's business.
pub fn custom_section<'a>(module: &'a [u8], name: &str) -> Result<Option<&'a [u8]>, NotWasm> {
    let mut rest = module.strip_prefix(b"\0asm").ok_or(NotWasm)?.get(4..).ok_or(NotWasm)?;
    while let Some((&id, after)) = rest.split_first() {
        let (size, after) = leb128(after).ok_or(NotWasm)?;
        let payload = after.get(..size).ok_or(NotWasm)?;
        rest = &after[size..];
        if id == 0 {
            let (length, after) = leb128(payload).ok_or(NotWasm)?;
            let section = after.get(..length).ok_or(NotWasm)?;
            if section == name.as_bytes() {
                return Ok(Some(&after[length..]));
            }
        }
    }
    Ok(None)
}

/// An unsigned LEB128 `u32` and the bytes after it.
fn leb128(bytes: &[u8]) -> Option<(usize, &[u8])> {
    let mut value: u64 = 0;
    for (i, &byte) in bytes.iter().enumerate().take(5) {
        value |= u64::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            return Some((usize::try_from(value).ok()?, &bytes[i + 1..]));
        }
    }
    None
}

/// A worker of a cluster, with the key the gatekeeper seals the cluster key to.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Encode, Decode, MaxEncodedLen)]
pub struct AssignedWorker {
    /// Its ed25519 identity (its registration's signing key).
    pub identity: [u8; 32],
    /// Its X25519 key of the epoch the record is for (see [`crate::epoch::EpochKey`]).
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
    /// The key epoch its first keys are derived for.
    pub epoch: KeyEpoch,
}

/// The chain's record that a cluster formed, published on the assignments topic: the gatekeepers
/// answer with the cluster's keys, sealed to each worker's key of the epoch.
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode, MaxEncodedLen)]
pub struct ClusterFormed {
    /// The cluster.
    pub cluster: ClusterId,
    /// The key epoch.
    pub epoch: KeyEpoch,
    /// Its workers.
    pub workers: BoundedVec<AssignedWorker, MAX_CLUSTER_WORKERS>,
    /// The block time it formed at, milliseconds since the Unix epoch: gatekeepers seal its key
    /// only to workers whose registration is current then.
    pub at_ms: u64,
}

/// What the assignments topic, the gatekeepers' duty log, carries. Everything but [`EpochKey`]
/// comes from the chain; epoch keys are runtimes' egress.
///
/// [`EpochKey`]: AssignmentMessage::EpochKey
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode, MaxEncodedLen)]
#[allow(
    clippy::large_enum_variant,
    reason = "a TDX measurement is 440 bytes: kept inline and `Copy`, it is decoded once and moved rarely"
)]
pub enum AssignmentMessage {
    /// A contract runs on a cluster.
    #[codec(index = 0)]
    Contract(Assignment),
    /// A cluster formed.
    #[codec(index = 1)]
    Cluster(ClusterFormed),
    /// A runtime's key for an epoch (origin: the runtime, as egress).
    #[codec(index = 2)]
    EpochKey(crate::epoch::EpochKey),
    /// The chain asks the gatekeepers for a new epoch: a schedule or the rotation admin said so.
    #[codec(index = 3)]
    Rotation {
        /// The epoch to open.
        epoch: KeyEpoch,
    },
    /// An epoch opened.
    #[codec(index = 4)]
    EpochOpened(crate::epoch::EpochOpening),
    /// A silent worker left a cluster, and a standby worker took its place.
    #[codec(index = 5)]
    Replaced(crate::epoch::Replacement),
    /// A measurement was taken off the allowlist: every registration with it lapsed then.
    #[codec(index = 6)]
    Revoked(crate::epoch::Revocation),
    /// The rotation admin replaced gatekeeper identity `old` with `new`, at its position in the set.
    #[codec(index = 7)]
    GatekeeperReplaced {
        /// The identity that left.
        old: [u8; 32],
        /// The identity that took its place.
        new: [u8; 32],
    },
    /// An epoch retired.
    #[codec(index = 8)]
    EpochRetired(crate::epoch::EpochRetirement),
}

/// The block a message was included in: what a contract sees as its height and time.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default, Encode, Decode, MaxEncodedLen)]
pub struct BlockStamp {
    /// The height.
    pub height: u64,
    /// The block time, milliseconds since the Unix epoch.
    pub timestamp_ms: u64,
}

/// What the chain publishes on a contract's topic for a `Command` transaction.
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode, MaxEncodedLen)]
pub struct CommandMessage {
    /// The transaction's nonce (the signer is the message's origin).
    pub nonce: Nonce,
    /// The block that included it.
    pub block: BlockStamp,
    /// The fuel its sender prepaid.
    pub fuel: u64,
    /// Native tokens it carries, locked in the contract by the chain.
    pub value: Balance,
    /// The command: an envelope sealed to the contract's key, opaque to the chain.
    pub payload: BoundedBytes<MAX_COMMAND_BYTES>,
}

/// What the chain publishes on a new wasm contract's topic after its assignment.
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode, MaxEncodedLen)]
pub struct Deployment {
    /// The deployer, who owns the contract.
    pub owner: AccountId,
    /// The instantiating transaction's nonce.
    pub nonce: Nonce,
    /// The block that included it.
    pub block: BlockStamp,
    /// The fuel the constructor may use, prepaid.
    pub fuel: u64,
    /// The module.
    pub code: BoundedBytes<MAX_CODE_BYTES>,
    /// The constructor argument, sealed to the cluster's key (bound to the deployer and nonce).
    pub argument: BoundedBytes<MAX_ARGUMENT_BYTES>,
}

/// What a contract asks of the chain, as egress on the releases topic.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Encode, Decode, MaxEncodedLen)]
pub struct Release {
    /// The account that receives the tokens.
    pub to: AccountId,
    /// How many, from the contract's locked balance.
    pub amount: Balance,
}

/// What a contract's topic carries.
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode, MaxEncodedLen)]
pub enum ContractMessage {
    /// The contract was assigned (origin `Chain`).
    #[codec(index = 0)]
    Assigned(Assignment),
    /// A command (origin: the signing account), or a message from another contract (origin: that
    /// contract, as egress; nonce, block and value are the sender's to choose and not vouched for).
    #[codec(index = 1)]
    Command(CommandMessage),
    /// A wasm contract's code and constructor (origin `Chain`).
    #[codec(index = 2)]
    Deployed(Deployment),
    /// The contract's keys of a new epoch were published (origin `Chain`): from here on its egress
    /// is signed, its state encrypted and new commands sealed under them. Commands sealed to the
    /// previous epoch's key still open until that epoch retires.
    #[codec(index = 3)]
    Rekeyed {
        /// The new epoch.
        epoch: KeyEpoch,
    },
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{codec::decode_strict, message::MAX_MESSAGE_PAYLOAD};

    #[test]
    fn the_largest_command_fits_a_message() {
        let message = ContractMessage::Command(CommandMessage {
            nonce: u64::MAX,
            block: BlockStamp { height: u64::MAX, timestamp_ms: u64::MAX },
            fuel: u64::MAX,
            value: Balance(u128::MAX),
            payload: vec![0; MAX_COMMAND_BYTES].try_into().unwrap(),
        });
        assert!(message.encode().len() <= MAX_MESSAGE_PAYLOAD);
        assert_eq!(decode_strict::<ContractMessage>(&message.encode()).unwrap(), message);
        let deployment = ContractMessage::Deployed(Deployment {
            owner: AccountId([1; 32]),
            nonce: u64::MAX,
            block: BlockStamp::default(),
            fuel: u64::MAX,
            code: vec![0; MAX_CODE_BYTES].try_into().unwrap(),
            argument: vec![0; MAX_ARGUMENT_BYTES].try_into().unwrap(),
        });
        assert!(deployment.encode().len() <= MAX_MESSAGE_PAYLOAD);
    }

    #[test]
    fn builtin_code_hashes_differ_by_name() {
        assert_ne!(builtin_code_hash("notes"), builtin_code_hash("counter"));
    }
}
