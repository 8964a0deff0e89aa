//! Veil's portable types: what the chain, the worker runtime and the SDKs must agree on about the
//! public state, in one crate with no I/O that also builds for `wasm32-unknown-unknown`.
//!
//! - [`state`]: where each value lives ([`StateKey`]), typed reads of any store ([`ReadState`]),
//!   and the store forms the node and tools hand around ([`Snapshot`], [`MemoryState`]).
//! - [`records`]: the values themselves: accounts, issuance, senders, workers, clusters,
//!   contracts, key epochs, topics.
//! - [`epochs`]: when a key epoch's keys open envelopes, the one rule the chain and every runtime
//!   apply ([`EpochHistory`]).
//! - [`fees`]: what a transaction costs and how its fee is split, for the chain and for wallets.
//! - [`roots`]: the Merkle roots a header commits to over its block's transactions and egress.
//!
//! Pure rules live here when more than one component applies them; what only the chain does (block
//! execution, its write overlay) stays in `veil-chain`. The state machine, the node, the runtime
//! and attestation are never dependencies: a browser links this crate.

pub mod epochs;
pub mod fees;
pub mod records;
pub mod roots;
pub mod state;

pub use epochs::{EpochHistory, EpochLog};
pub use fees::{Cost, CostError, FeeSplit};
pub use records::{
    AccountInfo, ClusterInfo, ContractInfo, ContractPublicKeys, EpochState, Issuance, MAX_EPOCH_KEYS,
    MAX_PENDING_REPLACEMENTS, MAX_STANDBY, MAX_WORKERS_PER_MEASUREMENT, PendingReplacement, RewardPots, SenderInfo,
    TopicInfo, Unfit, WorkerInfo,
};
pub use roots::{egress_root, transactions_root};
pub use state::{ChangeSet, MemoryState, ReadState, Snapshot, StateError, StateKey, StateReader};
