//! Transactions: what an account signs and the chain orders.

use parity_scale_codec::{Decode, Encode, MaxEncodedLen};

use crate::{
    balance::Balance,
    codec::{BoundedBytes, BoundedVec},
    contract::{MAX_ARGUMENT_BYTES, MAX_CLUSTER_WORKERS, MAX_CODE_BYTES, MAX_COMMAND_BYTES},
    hashing::{Hash, sha256},
    ids::{AccountId, ClusterId, ContractId, Nonce},
    registration::{Attestation, Measurement, RegistrationInfo},
};

/// Domain separator prepended to a transaction's encoding before it is signed, so a transaction
/// signature can never be mistaken for a signature over anything else Veil signs.
pub const TRANSACTION_SIGNING_DOMAIN: &[u8] = b"veil/transaction/v1";

/// What a transaction asks the chain to do. New calls are appended; indices never change.
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode, MaxEncodedLen)]
pub enum Call {
    /// Move `amount` of the native token from the signer to `to`.
    #[codec(index = 0)]
    Transfer {
        /// The recipient.
        to: AccountId,
        /// The amount, in the smallest unit.
        amount: Balance,
    },
    /// Send a command to a contract: published on the contract's topic as a
    /// [`CommandMessage`](crate::contract::CommandMessage) with the signer as origin and the
    /// transaction's nonce. The payload is opaque to the chain (an envelope sealed to the contract's
    /// key, bound to the signer and nonce).
    #[codec(index = 1)]
    Command {
        /// The contract.
        contract: ContractId,
        /// The command.
        payload: BoundedBytes<MAX_COMMAND_BYTES>,
        /// The fuel the command may use, prepaid at the genesis fuel price whether used or not
        /// (built-in contracts use none).
        fuel: u64,
        /// Native tokens sent along, locked in the contract (publicly: the amount is on chain). A
        /// contract that refuses the command returns them.
        value: Balance,
    },
    /// Register or renew the signer's worker: its keys, bound to a hardware attestation.
    #[codec(index = 2)]
    RegisterWorker {
        /// What the attestation binds; `operator` must be the signer.
        info: RegistrationInfo,
        /// The proof.
        attestation: Attestation,
    },
    /// Allow or disallow a runtime measurement (only the genesis measurement admin may).
    #[codec(index = 3)]
    SetMeasurementAllowed {
        /// The measurement.
        measurement: Measurement,
        /// Whether workers running it may register.
        allowed: bool,
    },
    /// Run built-in `contract` (code `code`) on a formed cluster; only the genesis registry admin
    /// may. Publishes the [`Assignment`](crate::contract::Assignment) on the assignments topic and
    /// the contract's topic.
    #[codec(index = 4)]
    AssignContract {
        /// The contract.
        contract: ContractId,
        /// Its code hash.
        code: Hash,
        /// The cluster.
        cluster: ClusterId,
    },
    /// Form cluster `cluster` of registered workers, for wasm contracts anyone may instantiate on
    /// it; only the genesis registry admin may, until clusters are formed by the chain itself.
    #[codec(index = 5)]
    FormCluster {
        /// The cluster's number (unused so far).
        cluster: ClusterId,
        /// The workers' identity keys.
        workers: BoundedVec<[u8; 32], MAX_CLUSTER_WORKERS>,
    },
    /// Store contract code on chain, by its SHA-256 hash, for anyone to instantiate.
    #[codec(index = 6)]
    UploadCode {
        /// The wasm module.
        code: BoundedBytes<MAX_CODE_BYTES>,
    },
    /// Instantiate uploaded code on a formed cluster as contract
    /// [`contract_id`](crate::contract::contract_id)`(signer, code, salt)`, owned by the signer.
    #[codec(index = 7)]
    Instantiate {
        /// The code's hash.
        code: Hash,
        /// The cluster.
        cluster: ClusterId,
        /// Makes the id unique among the signer's instances of the same code.
        salt: [u8; 32],
        /// Fuel for the constructor, prepaid.
        fuel: u64,
        /// The constructor argument, sealed to the cluster's key.
        argument: BoundedBytes<MAX_ARGUMENT_BYTES>,
    },
    /// Ask the gatekeepers to rotate every key now (only the genesis rotation admin may).
    #[codec(index = 8)]
    RotateKeys,
    /// Report that `worker` of `cluster` has sent no heartbeat for longer than the genesis
    /// window: anyone may, the chain checks it, removes the worker and assigns a standby worker.
    #[codec(index = 9)]
    ReportOffline {
        /// The cluster.
        cluster: ClusterId,
        /// The silent worker's identity key.
        worker: [u8; 32],
    },
}

/// An unsigned transaction.
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode, MaxEncodedLen)]
pub struct Transaction {
    /// Hash of the genesis block of the chain this transaction is for: a transaction signed for one
    /// network is invalid on every other.
    pub genesis: Hash,
    /// The account that signs and pays.
    pub signer: AccountId,
    /// Must equal the signer's next nonce; each nonce is used once.
    pub nonce: Nonce,
    /// What to do.
    pub call: Call,
}

impl Transaction {
    /// The exact bytes the signer signs: the domain separator, then the SCALE encoding.
    pub fn signing_payload(&self) -> Vec<u8> {
        let mut payload = TRANSACTION_SIGNING_DOMAIN.to_vec();
        self.encode_to(&mut payload);
        payload
    }
}

/// A transaction with the signer's sr25519 signature over [`Transaction::signing_payload`].
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode, MaxEncodedLen)]
pub struct SignedTransaction {
    /// The transaction.
    pub transaction: Transaction,
    /// The signer's signature (sr25519, context `substrate`).
    pub signature: [u8; 64],
}

impl SignedTransaction {
    /// The transaction's identity: SHA-256 of its full encoding, signature included.
    pub fn hash(&self) -> Hash {
        sha256(&self.encode())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::{DecodeError, decode_strict};
    use proptest::prelude::*;

    fn arb_signed_transaction() -> impl Strategy<Value = SignedTransaction> {
        (any::<[u8; 32]>(), any::<[u8; 32]>(), any::<u64>(), any::<[u8; 32]>(), any::<u128>(), any::<[u8; 32]>())
            .prop_map(|(genesis, signer, nonce, to, amount, sig_half)| SignedTransaction {
                transaction: Transaction {
                    genesis: Hash(genesis),
                    signer: AccountId(signer),
                    nonce,
                    call: Call::Transfer { to: AccountId(to), amount: Balance(amount) },
                },
                signature: {
                    let mut s = [0u8; 64];
                    s[..32].copy_from_slice(&sig_half);
                    s
                },
            })
    }

    #[test]
    fn signing_payload_is_domain_separated() {
        let tx = Transaction {
            genesis: Hash::ZERO,
            signer: AccountId([1; 32]),
            nonce: 7,
            call: Call::Transfer { to: AccountId([2; 32]), amount: Balance(5) },
        };
        let payload = tx.signing_payload();
        assert!(payload.starts_with(TRANSACTION_SIGNING_DOMAIN));
        assert_eq!(&payload[TRANSACTION_SIGNING_DOMAIN.len()..], tx.encode().as_slice());
    }

    #[test]
    fn unknown_call_index_is_refused() {
        let mut bytes = arb_signed_transaction_example().encode();
        // The call's variant index sits right after genesis (32), signer (32) and nonce (8).
        bytes[72] = 9;
        let error = decode_strict::<SignedTransaction>(&bytes).unwrap_err();
        assert!(matches!(error, DecodeError::Malformed { what: "SignedTransaction", .. }), "{error}");
    }

    fn arb_signed_transaction_example() -> SignedTransaction {
        SignedTransaction {
            transaction: Transaction {
                genesis: Hash([3; 32]),
                signer: AccountId([1; 32]),
                nonce: 1,
                call: Call::Transfer { to: AccountId([2; 32]), amount: Balance(10) },
            },
            signature: [4; 64],
        }
    }

    proptest! {
        #[test]
        fn signed_transaction_decodes_strictly(
            tx in arb_signed_transaction(), extra: u8, cut in 1usize..64, flip_at: usize, flip: u8,
        ) {
            prop_assert_eq!(crate::codec::strict_check::check(&tx, extra, cut, flip_at, flip), Ok(()));
        }
    }
}
