//! Veil's shared vocabulary: the types that cross every boundary in the system.
//!
//! Everything here is plain data with a SCALE encoding. The chain hashes these encodings, the worker
//! runtime verifies them, and clients sign them, so three rules hold for every type:
//!
//! - **Strict decoding.** Bytes from outside are decoded with [`decode_strict`], which refuses
//!   inputs that are truncated, carry trailing bytes, declare a collection longer than its bound
//!   ([`BoundedVec`]), or exceed the type's size limit. Accepted encodings are canonical: re-encoding
//!   a decoded value gives back the same bytes.
//! - **Determinism.** No floats and no hash maps in anything hashed or executed in consensus.
//! - **One hash.** Content hashes are SHA-256 ([`hashing::sha256`]); BLAKE2b appears only where
//!   Substrate compatibility requires it (SS58 checksums, derivation junctions).
//!
//! The module layout follows the system's nouns: [`ids`] and [`balance`] for accounts and amounts,
//! [`transaction`] for what users sign, [`block`] for what consensus orders, and [`message`] for what
//! the chain and the runtimes say to each other; [`log`] commits each topic's messages so a reader
//! can prove it received all of them.

pub mod balance;
pub mod block;
pub mod codec;
pub mod contract;
pub mod epoch;
pub mod hashing;
pub mod ids;
pub mod log;
pub mod message;
pub mod parameters;
pub mod registration;
#[cfg(feature = "serde")]
pub mod serde_hex;
pub mod ss58;
pub mod topics;
pub mod transaction;

pub use balance::Balance;
pub use block::{Block, Header, MessageCommitments, RoundSeed, SeedRecord};
pub use codec::{BoundedVec, DecodeError, decode_strict};
pub use hashing::Hash;
pub use ids::{AccountId, BlockHeight, ClusterId, ContractId, KeyEpoch, Nonce};
pub use message::{Egress, Message, Origin, SenderId, SignedEgress, SystemTopic, Topic};
pub use parameters::{
    Advisory, AttestationRules, Economics, KeyRules, Liveness, ParameterError, Parameters, SessionRules, TcbStatus,
};
pub use registration::{Attestation, Measurement, RegistrationInfo, TeeKind, WorkerRegistration};
pub use ss58::{Ss58Error, Ss58Prefix};
pub use transaction::{
    AccountsCall, Call, CallSummary, Charges, ContractsCall, EpochsCall, ParametersCall, RegistryCall,
    SignedTransaction, Transaction,
};
