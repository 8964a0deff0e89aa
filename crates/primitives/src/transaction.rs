//! Transactions: what an account signs and the chain orders.

use parity_scale_codec::{Decode, Encode, MaxEncodedLen};

use crate::{
    balance::Balance,
    codec::{BoundedBytes, BoundedVec},
    contract::{MAX_ARGUMENT_BYTES, MAX_CLUSTER_WORKERS, MAX_CODE_BYTES, MAX_COMMAND_BYTES},
    hashing::{Hash, sha256},
    ids::{AccountId, ClusterId, ContractId, Nonce},
    parameters::Parameters,
    registration::{Attestation, Measurement, RegistrationInfo},
};

/// Domain separator prepended to a transaction's encoding before it is signed, so a transaction
/// signature can never be mistaken for a signature over anything else Veil signs.
pub const TRANSACTION_SIGNING_DOMAIN: &[u8] = b"veil/transaction/v1";

/// What a transaction asks the chain to do: one variant per chain module, carrying that module's
/// calls. New modules and new calls are appended; indices never change.
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode, MaxEncodedLen)]
pub enum Call {
    /// The native token.
    #[codec(index = 0)]
    Accounts(AccountsCall),
    /// The worker registry.
    #[codec(index = 1)]
    Registry(RegistryCall),
    /// Clusters, code and contracts.
    #[codec(index = 2)]
    Contracts(ContractsCall),
    /// Key epochs and worker liveness.
    #[codec(index = 3)]
    Epochs(EpochsCall),
    /// The chain's parameters.
    #[codec(index = 4)]
    Parameters(ParametersCall),
}

/// The accounts module's calls.
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode, MaxEncodedLen)]
pub enum AccountsCall {
    /// Move `amount` of the native token from the signer to `to`.
    #[codec(index = 0)]
    Transfer {
        /// The recipient.
        to: AccountId,
        /// The amount, in the smallest unit.
        amount: Balance,
    },
    /// Revoke the signer's query session with this ed25519 key: workers refuse every certificate
    /// of it issued at or before this block (published on the sessions topic).
    #[codec(index = 1)]
    RevokeSession {
        /// The session's public key.
        session_key: [u8; 32],
    },
}

/// The worker registry's calls.
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode, MaxEncodedLen)]
#[allow(
    clippy::large_enum_variant,
    reason = "a TDX measurement is 440 bytes: kept inline and `Copy`, it is decoded once and moved rarely"
)]
pub enum RegistryCall {
    /// Register or renew the signer's worker: its keys, bound to a hardware attestation.
    #[codec(index = 0)]
    RegisterWorker {
        /// What the attestation binds; `operator` must be the signer.
        info: RegistrationInfo,
        /// The proof.
        attestation: Attestation,
    },
    /// Allow or disallow a runtime measurement (only the genesis measurement admin may).
    #[codec(index = 1)]
    SetMeasurementAllowed {
        /// The measurement.
        measurement: Measurement,
        /// Whether workers running it may register.
        allowed: bool,
    },
}

/// The contracts module's calls.
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode, MaxEncodedLen)]
pub enum ContractsCall {
    /// Form cluster `cluster` of registered workers, for wasm contracts anyone may instantiate on
    /// it; only the genesis registry admin may, until clusters are formed by the chain itself.
    #[codec(index = 0)]
    FormCluster {
        /// The cluster's number (unused so far).
        cluster: ClusterId,
        /// The workers' identity keys.
        workers: BoundedVec<[u8; 32], MAX_CLUSTER_WORKERS>,
    },
    /// Store contract code on chain, by its SHA-256 hash, for anyone to instantiate.
    #[codec(index = 1)]
    UploadCode {
        /// The wasm module.
        code: BoundedBytes<MAX_CODE_BYTES>,
    },
    /// Instantiate uploaded code on a formed cluster as contract
    /// [`contract_id`](crate::contract::contract_id)`(signer, code, salt)`, owned by the signer.
    #[codec(index = 2)]
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
    /// Send a command to a contract: published on the contract's topic as a
    /// [`CommandMessage`](crate::contract::CommandMessage) with the signer as origin and the
    /// transaction's nonce. The payload is opaque to the chain (an envelope sealed to the contract's
    /// key, bound to the signer and nonce).
    #[codec(index = 3)]
    Command {
        /// The contract.
        contract: ContractId,
        /// The command.
        payload: BoundedBytes<MAX_COMMAND_BYTES>,
        /// The fuel the command may use, prepaid at the fuel price whether used or not (built-in
        /// contracts use none).
        fuel: u64,
        /// Native tokens sent along, locked in the contract (publicly: the amount is on chain). A
        /// contract that refuses the command returns them.
        value: Balance,
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
}

/// The key-epoch module's calls.
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode, MaxEncodedLen)]
pub enum EpochsCall {
    /// Ask the gatekeepers to rotate every key now (only the rotation admin may).
    #[codec(index = 0)]
    RotateKeys,
    /// Report that `worker` of `cluster` is unfit (silent past the liveness window, its
    /// registration lapsed or revoked, or without a key of the open epoch): anyone may, the chain
    /// checks it, removes the worker and assigns a standby worker.
    #[codec(index = 1)]
    ReportOffline {
        /// The cluster.
        cluster: ClusterId,
        /// The unfit worker's identity key.
        worker: [u8; 32],
    },
    /// Replace gatekeeper identity `old` with `new` in the gatekeeper set, at its position (only
    /// the rotation admin may, until governance exists): `old` is heard no more, `new` joins like
    /// a late genesis gatekeeper (it registers, and the set seals it the master key).
    #[codec(index = 2)]
    ReplaceGatekeeper {
        /// The identity leaving the set.
        old: [u8; 32],
        /// The identity taking its place.
        new: [u8; 32],
    },
}

/// The parameters module's calls.
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode, MaxEncodedLen)]
pub enum ParametersCall {
    /// Replace every parameter, from the next block on (only the genesis measurement admin may,
    /// until governance exists). The new values must pass [`Parameters::validate`].
    #[codec(index = 0)]
    Set(Parameters),
}

macro_rules! into_call {
    ($($module:ident($calls:ty)),* $(,)?) => {$(
        impl From<$calls> for Call {
            fn from(call: $calls) -> Self {
                Self::$module(call)
            }
        }
    )*};
}
into_call!(
    Accounts(AccountsCall),
    Registry(RegistryCall),
    Contracts(ContractsCall),
    Epochs(EpochsCall),
    Parameters(ParametersCall)
);

/// What a call moves from its signer besides the fee.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Charges {
    /// Fuel prepaid at the fuel price, used or not.
    pub fuel: u64,
    /// Native tokens moved (to an account or into a contract).
    pub amount: Balance,
}

/// What a call does, in the fields wallets, explorers and the CLI show: the node's API and the
/// CLI both describe a transaction from this, so a new call is described once, here.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CallSummary {
    /// The chain module the call belongs to: `accounts`, `registry`, `contracts`, `epochs` or
    /// `parameters`.
    pub module: &'static str,
    /// The call, in snake case (`transfer`, `command`, `set_parameters`, ...).
    pub name: &'static str,
    /// The recipient of a transfer.
    pub to: Option<AccountId>,
    /// Native tokens the call moves.
    pub amount: Option<Balance>,
    /// The contract it addresses or creates.
    pub contract: Option<ContractId>,
    /// The code hash it uploads, instantiates or assigns.
    pub code: Option<Hash>,
    /// The cluster it forms or addresses.
    pub cluster: Option<ClusterId>,
    /// The worker (signing key) it registers or reports.
    pub worker: Option<[u8; 32]>,
    /// Fuel it prepays.
    pub fuel: Option<u64>,
    /// A command's sealed payload.
    pub payload: Option<Vec<u8>>,
}

impl Call {
    /// The chain module the call belongs to.
    pub fn module(&self) -> &'static str {
        match self {
            Self::Accounts(_) => "accounts",
            Self::Registry(_) => "registry",
            Self::Contracts(_) => "contracts",
            Self::Epochs(_) => "epochs",
            Self::Parameters(_) => "parameters",
        }
    }

    /// What the call moves from its signer besides the fee.
    pub fn charges(&self) -> Charges {
        match self {
            Self::Accounts(AccountsCall::Transfer { amount, .. }) => Charges { fuel: 0, amount: *amount },
            Self::Contracts(ContractsCall::Command { fuel, value, .. }) => Charges { fuel: *fuel, amount: *value },
            Self::Contracts(ContractsCall::Instantiate { fuel, .. }) => Charges { fuel: *fuel, amount: Balance::ZERO },
            _ => Charges::default(),
        }
    }

    /// What the call does, for people; `signer` names the contract an instantiation creates.
    pub fn summary(&self, signer: &AccountId) -> CallSummary {
        let module = self.module();
        let named = |name| CallSummary { module, name, ..CallSummary::default() };
        match self {
            Self::Accounts(AccountsCall::Transfer { to, amount }) => {
                CallSummary { to: Some(*to), amount: Some(*amount), ..named("transfer") }
            }
            Self::Accounts(AccountsCall::RevokeSession { .. }) => named("revoke_session"),
            Self::Registry(RegistryCall::RegisterWorker { info, .. }) => {
                CallSummary { worker: Some(info.signing_key), ..named("register_worker") }
            }
            Self::Registry(RegistryCall::SetMeasurementAllowed { allowed: true, .. }) => named("allow_measurement"),
            Self::Registry(RegistryCall::SetMeasurementAllowed { allowed: false, .. }) => named("disallow_measurement"),
            Self::Contracts(ContractsCall::FormCluster { cluster, .. }) => {
                CallSummary { cluster: Some(*cluster), ..named("form_cluster") }
            }
            Self::Contracts(ContractsCall::UploadCode { code }) => {
                CallSummary { code: Some(sha256(code)), ..named("upload_code") }
            }
            Self::Contracts(ContractsCall::Instantiate { code, cluster, salt, fuel, .. }) => CallSummary {
                contract: Some(crate::contract::contract_id(signer, code, salt)),
                code: Some(*code),
                cluster: Some(*cluster),
                fuel: Some(*fuel),
                ..named("instantiate")
            },
            Self::Contracts(ContractsCall::Command { contract, payload, fuel, value }) => CallSummary {
                contract: Some(*contract),
                amount: Some(*value),
                fuel: Some(*fuel),
                payload: Some(payload.to_vec()),
                ..named("command")
            },
            Self::Contracts(ContractsCall::AssignContract { contract, code, cluster }) => CallSummary {
                contract: Some(*contract),
                code: Some(*code),
                cluster: Some(*cluster),
                ..named("assign_contract")
            },
            Self::Epochs(EpochsCall::RotateKeys) => named("rotate_keys"),
            Self::Epochs(EpochsCall::ReportOffline { cluster, worker }) => {
                CallSummary { cluster: Some(*cluster), worker: Some(*worker), ..named("report_offline") }
            }
            Self::Epochs(EpochsCall::ReplaceGatekeeper { new, .. }) => {
                CallSummary { worker: Some(*new), ..named("replace_gatekeeper") }
            }
            Self::Parameters(ParametersCall::Set(_)) => named("set_parameters"),
        }
    }
}

impl core::fmt::Display for CallSummary {
    /// One line: the call's name, then the fields it has, in parentheses
    /// (`command (contract 0x.., amount 0 VEIL, fuel 20000000, 112 sealed bytes)`).
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let mut fields = Vec::new();
        if let Some(contract) = &self.contract {
            fields.push(format!("contract {contract}"));
        }
        if let Some(to) = &self.to {
            fields.push(format!("to {to}"));
        }
        if let Some(worker) = &self.worker {
            fields.push(format!("worker 0x{}", hex::encode(worker)));
        }
        if let Some(code) = &self.code {
            fields.push(format!("code {code}"));
        }
        if let Some(cluster) = &self.cluster {
            fields.push(format!("cluster {}", cluster.0));
        }
        if let Some(amount) = &self.amount {
            fields.push(format!("amount {amount}"));
        }
        if let Some(fuel) = &self.fuel {
            fields.push(format!("fuel {fuel}"));
        }
        if let Some(payload) = &self.payload {
            fields.push(format!("{} sealed bytes", payload.len()));
        }
        f.write_str(&self.name.replace('_', " "))?;
        if !fields.is_empty() {
            write!(f, " ({})", fields.join(", "))?;
        }
        Ok(())
    }
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
                    call: Call::Accounts(AccountsCall::Transfer { to: AccountId(to), amount: Balance(amount) }),
                },
                signature: {
                    let mut s = [0u8; 64];
                    s[..32].copy_from_slice(&sig_half);
                    s
                },
            })
    }

    #[test]
    fn a_summary_reads_as_one_line() {
        let to = AccountId([2; 32]);
        let call = Call::Accounts(AccountsCall::Transfer { to, amount: Balance::ONE });
        let summary = call.summary(&AccountId([1; 32]));
        assert_eq!((summary.module, summary.name), ("accounts", "transfer"));
        assert_eq!(summary.to_string(), format!("transfer (to {to}, amount 1 VEIL)"));
        let rotate = Call::Epochs(EpochsCall::RotateKeys).summary(&AccountId([1; 32]));
        assert_eq!(rotate.to_string(), "rotate keys");
    }

    #[test]
    fn signing_payload_is_domain_separated() {
        let tx = Transaction {
            genesis: Hash::ZERO,
            signer: AccountId([1; 32]),
            nonce: 7,
            call: Call::Accounts(AccountsCall::Transfer { to: AccountId([2; 32]), amount: Balance(5) }),
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
                call: Call::Accounts(AccountsCall::Transfer { to: AccountId([2; 32]), amount: Balance(10) }),
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
