//! Veil's chain: the deterministic state machine over public state.
//!
//! Same genesis and same blocks in, same state out, on every machine. The crate knows nothing of
//! consensus, networking or storage: it reads state through [`StateReader`], buffers every write in
//! an overlay, and returns a [`ChangeSet`] that the node applies to its authenticated store (which
//! computes the state root a header commits to). That split keeps execution pure, so it is tested
//! here without a node, and replayed by the node after a restart.
//!
//! - [`module`]: how each concern plugs into block execution, and the one list of modules that
//!   building and verifying a block walk.
//! - [`genesis`]: the genesis file (TOML), its validation, and the chain id: SHA-256 of the
//!   canonical SCALE encoding, which a worker runtime computes itself without any database.
//! - [`state`]: the write overlay execution buffers its writes in, with a journal so a failed
//!   transaction's rollback costs its own writes; keys, records and reads come from `veil_types`.
//! - [`execute`]: transaction checks (shared with the mempool) and the block lifecycle: header
//!   rules, limits, fees (split to the worker pot, the gatekeeper pot and burned), then each module.
//! - [`accounts`]: transfers and the inflation minted into the reward pots.
//! - [`parameters`]: the parameters in the state, and the admin's call that changes them.
//! - [`registry`]: workers join by attesting (DCAP quotes verified at the block time against the
//!   allowlist in the state; software workers where genesis allows them) and lapse with their
//!   collateral.
//! - [`contracts`]: clusters, uploaded code, contract instances, the tokens they hold (commands'
//!   values in, releases out) and their public keys as the gatekeeper publishes them.
//! - [`epochs`]: key epochs (the first opened by the generating gatekeeper, later ones on a schedule
//!   or on demand, each by the first gatekeeper proposal accepted), runtimes' signed per-epoch keys,
//!   worker liveness and the replacement of silent cluster workers from the standby list.
//! - [`messages`]: the message queue (topic logs and the topic tree the header commits to) and
//!   egress from off-chain senders, accepted exactly once per sequence number.
//!
//! Invariant, kept after every block and checked by property tests: total issuance = genesis +
//! minted − burned = the sum of all balances, contracts' locked balances and reward pots.

pub mod accounts;
pub mod contracts;
pub mod epochs;
pub mod execute;
/// The genesis file and the chain id (its own crate, so a worker runtime reads it without this one).
pub use veil_genesis as genesis;
pub mod messages;
pub mod module;
pub mod parameters;
pub mod registry;
pub mod state;
#[cfg(any(test, feature = "test-support"))]
pub mod testing;

pub use contracts::ContractError;
pub use epochs::EpochError;
pub use execute::{BlockError, Chain, Cost, Executed, Execution, FeeSplit, TransactionError};
pub use genesis::{Economics, Genesis, GenesisError, GenesisSender, GenesisValidator, Parameters, RegistrationRules};
pub use messages::{EgressError, EgressOutcome, Outbox, Published};
pub use module::Keys;
pub use registry::RegistrationError;
pub use state::Overlay;
/// The portable half of the state (keys, records, reads, the epoch rule), shared with the runtime
/// and the SDKs.
pub use veil_types::fees;
pub use veil_types::{
    AccountInfo, ChangeSet, EpochHistory, EpochState, Issuance, MemoryState, ReadState, RewardPots, SenderInfo,
    Snapshot, StateError, StateKey, StateReader, TopicInfo, WorkerInfo, egress_root, transactions_root,
};
