//! Why the runtime refused a message it was given: a typed reason with a stable code.
//!
//! A refused message changes nothing but the fuel a command burned, and every worker refuses it
//! alike, so the reason is part of what replicas agree on. The code ([`Refusal::code`]) is what the
//! API returns for machines; the text says what was wrong for people. A contract's own refusal
//! reason may quote confidential state, so it never appears in either.

use veil_primitives::{AccountId, ContractId, Hash, KeyEpoch, Origin, Topic};

/// Why one message was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// A topic this runtime's role does not handle.
    #[error("not a topic this runtime handles")]
    UnexpectedTopic,
    /// The message came from a sender that may not send it.
    #[error("{what} may not come from {origin:?}")]
    Origin {
        /// What the message is.
        what: &'static str,
        /// Who sent it.
        origin: Origin,
    },
    /// The payload does not decode.
    #[error("{what} does not decode: {error}")]
    Malformed {
        /// What it should have been.
        what: &'static str,
        /// The decoder's reason.
        error: String,
    },
    /// A registration of another chain's runtime.
    #[error("registration for chain {0}")]
    ForeignChain(Hash),
    /// A registration whose attestation this gatekeeper does not accept.
    #[error("{0}")]
    Attestation(String),
    /// An epoch key its runtime did not sign, or whose possession it did not prove.
    #[error("the epoch key announced by 0x{} is refused: {error}", hex::encode(.runtime))]
    EpochKeyRefused {
        /// The announcing runtime.
        runtime: [u8; 32],
        /// Why.
        error: veil_crypto::EpochKeyError,
    },
    /// An epoch key another runtime announced first.
    #[error("the epoch key announced by 0x{} was announced before by 0x{}", hex::encode(.runtime), hex::encode(.first))]
    KeyAnnouncedBefore {
        /// The announcing runtime.
        runtime: [u8; 32],
        /// The runtime that announced it first.
        first: [u8; 32],
    },
    /// The chain opened an epoch it had opened before.
    #[error("{0} opened twice")]
    EpochOpenedTwice(KeyEpoch),
    /// A key for an epoch that has not opened.
    #[error("a key of unopened {0}")]
    UnopenedEpoch(KeyEpoch),
    /// This runtime holds no key of its own for the epoch a delivery is sealed to.
    #[error("this runtime holds no key of {0} to open a delivery with")]
    NoEpochKey(KeyEpoch),
    /// This worker holds no cluster key of the epoch the message needs.
    #[error("no cluster key of {0}")]
    NoClusterKey(KeyEpoch),
    /// A key delivered to this runtime does not open or does not match what the chain published.
    #[error("the {what} of {epoch} is refused: {error}")]
    KeyRefused {
        /// Which key.
        what: &'static str,
        /// Its epoch.
        epoch: KeyEpoch,
        /// Why.
        error: String,
    },
    /// Workers of a cluster whose attestation or epoch key this gatekeeper has not verified, or
    /// whose registration is not current (lapsed, or its measurement revoked), get no key.
    #[error(
        "no key for workers whose attestation or epoch key this gatekeeper has not verified, or whose registration lapsed or was revoked: {}",
        names(.0)
    )]
    UnverifiedWorkers(Vec<[u8; 32]>),
    /// A message for a contract this worker does not run.
    #[error("contract {0} does not run on this worker")]
    NotRunHere(ContractId),
    /// Code that differs from what the duty log assigned.
    #[error("code {got} differs from the assigned {assigned}")]
    CodeMismatch {
        /// The assigned code.
        assigned: Hash,
        /// The code in the message.
        got: Hash,
    },
    /// A re-keying to an epoch that is not newer than the contract's.
    #[error("re-keyed to {to}, but it already runs under {current}")]
    RekeyBackwards {
        /// The epoch of the message.
        to: KeyEpoch,
        /// The contract's epoch.
        current: KeyEpoch,
    },
    /// A second deployment.
    #[error("the contract is already deployed")]
    AlreadyDeployed,
    /// Code that does not compile.
    #[error("the code does not compile: {0}")]
    Compile(String),
    /// A constructor that failed; the contract stays undeployed.
    #[error("the constructor failed: {0}")]
    ConstructorFailed(String),
    /// Sealed to an epoch whose keys were retired at the message's block.
    #[error("key epoch expired: sealed to {0}, which was retired at that block")]
    EpochRetired(KeyEpoch),
    /// A sealed payload that does not open under the binding the chain published.
    #[error("{0}")]
    Unopened(String),
    /// A command that was not executed or failed; its tokens were returned.
    #[error("command of {sender} (nonce {nonce}) refused: {cause}")]
    Command {
        /// Its sender.
        sender: AccountId,
        /// Its nonce.
        nonce: u64,
        /// Why.
        cause: Box<Refusal>,
    },
    /// A command to a contract whose code is not deployed.
    #[error("the contract is not deployed")]
    NotDeployed,
    /// The contract's code failed (its own reason is never told: it may quote confidential state).
    #[error("failed after {fuel} fuel: {failure}")]
    ContractFailed {
        /// Fuel used.
        fuel: u64,
        /// The public kind of failure.
        failure: String,
    },
    /// Native tokens on a message between contracts.
    #[error("a message from contract {0} carries native tokens; none move between contracts")]
    ValueBetweenContracts(ContractId),
    /// A message to a contract outside this worker's cluster.
    #[error("a message to {0}, which does not run in this cluster")]
    UnknownTarget(ContractId),
    /// An output that exceeds its size bound.
    #[error("{0} exceeds its size bound")]
    TooLarge(&'static str),
    /// No randomness: a key could not be generated.
    #[error("no randomness: {0}")]
    Randomness(String),
    /// A contract whose sealed state this worker cannot open (its keys are gone): the worker
    /// keeps the state as it is, runs everything else, and answers nothing of this contract.
    #[error("contract {contract} cannot be served here: {reason}")]
    CannotServe {
        /// The contract.
        contract: ContractId,
        /// Why.
        reason: String,
    },
    /// Something that should not happen, said as precisely as possible.
    #[error("{0}")]
    Internal(String),
}

fn names(identities: &[[u8; 32]]) -> String {
    identities.iter().map(|identity| format!("0x{}", hex::encode(identity))).collect::<Vec<_>>().join(", ")
}

impl Refusal {
    /// A short, stable, machine-readable name (for a command, its cause's).
    pub fn code(&self) -> &'static str {
        match self {
            Self::UnexpectedTopic => "unexpected_topic",
            Self::Origin { .. } => "wrong_origin",
            Self::Malformed { .. } => "malformed",
            Self::ForeignChain(_) => "foreign_chain",
            Self::Attestation(_) => "attestation",
            Self::EpochKeyRefused { .. } => "epoch_key_refused",
            Self::KeyAnnouncedBefore { .. } => "key_announced_before",
            Self::EpochOpenedTwice(_) => "epoch_opened_twice",
            Self::UnopenedEpoch(_) => "unopened_epoch",
            Self::NoEpochKey(_) => "no_epoch_key",
            Self::NoClusterKey(_) => "no_cluster_key",
            Self::CannotServe { .. } => "cannot_serve",
            Self::KeyRefused { .. } => "key_refused",
            Self::UnverifiedWorkers(_) => "unverified_workers",
            Self::NotRunHere(_) => "not_run_here",
            Self::CodeMismatch { .. } => "code_mismatch",
            Self::RekeyBackwards { .. } => "rekey_backwards",
            Self::AlreadyDeployed => "already_deployed",
            Self::Compile(_) => "compile",
            Self::ConstructorFailed(_) => "constructor_failed",
            Self::EpochRetired(_) => "epoch_retired",
            Self::Unopened(_) => "unopened",
            Self::Command { cause, .. } => cause.code(),
            Self::NotDeployed => "not_deployed",
            Self::ContractFailed { .. } => "contract_failed",
            Self::ValueBetweenContracts(_) => "value_between_contracts",
            Self::UnknownTarget(_) => "unknown_target",
            Self::TooLarge(_) => "too_large",
            Self::Randomness(_) => "randomness",
            Self::Internal(_) => "internal",
        }
    }

    /// A decode failure of `what`.
    pub(crate) fn malformed(what: &'static str, error: impl std::fmt::Display) -> Self {
        Self::Malformed { what, error: error.to_string() }
    }
}

/// A refusal and where it happened: the message (topic and index) it refused, or none for a duty
/// the runtime could not carry out on its own (a key it could not generate).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    /// The refused message's topic and index on it.
    pub message: Option<(Topic, u64)>,
    /// Why.
    pub refusal: Refusal,
}

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.message {
            Some((topic, index)) => write!(f, "{topic} message {index}: {}", self.refusal),
            None => write!(f, "{}", self.refusal),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_command_refusal_carries_its_cause_code_and_says_whose_command() {
        let refusal = Refusal::Command { sender: AccountId([1; 32]), nonce: 4, cause: Box::new(Refusal::NotDeployed) };
        assert_eq!(refusal.code(), "not_deployed");
        let text = refusal.to_string();
        assert!(text.contains("nonce 4") && text.contains("not deployed"), "{text}");
    }

    #[test]
    fn where_a_refusal_happened_is_told() {
        let at =
            Refused { message: Some((Topic::Contract(ContractId([2; 32])), 7)), refusal: Refusal::AlreadyDeployed };
        assert!(at.to_string().ends_with("message 7: the contract is already deployed"), "{at}");
        let duty = Refused { message: None, refusal: Refusal::Randomness("no entropy".into()) };
        assert_eq!(duty.to_string(), "no randomness: no entropy");
    }

    #[test]
    fn codes_are_distinct() {
        let all = [
            Refusal::UnexpectedTopic,
            Refusal::Malformed { what: "x", error: String::new() },
            Refusal::AlreadyDeployed,
            Refusal::NotDeployed,
            Refusal::Compile(String::new()),
            Refusal::TooLarge("x"),
            Refusal::Internal(String::new()),
            Refusal::EpochRetired(KeyEpoch(0)),
            Refusal::NoClusterKey(KeyEpoch(0)),
            Refusal::NoEpochKey(KeyEpoch(0)),
            Refusal::CannotServe { contract: ContractId([0; 32]), reason: String::new() },
        ];
        let codes: std::collections::BTreeSet<_> = all.iter().map(Refusal::code).collect();
        assert_eq!(codes.len(), all.len());
    }
}
