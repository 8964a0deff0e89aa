//! The worker runtime: the program inside the TEE, as a library and the `veil-worker` binary.
//!
//! It trusts only its genesis file: the chain id it computes itself, and the network key and
//! namespace that verify finalization certificates. Everything it learns from the chain arrives
//! through an untrusted relayer as a [`sync::Batch`], checked with the light client (certificate,
//! header, and the complete, ordered range of each followed topic) before anything changes.
//!
//! - [`runtime`]: the state machine. Worker role: cluster keys from a genesis gatekeeper, contracts
//!   instantiated and their commands opened under their binding and executed; queries answered
//!   from the current state, signed and sealed. Gatekeeper role: the master key, its own check of
//!   every registration, deterministic contract keys and cluster-key deliveries as egress.
//! - [`contract`]: the [`contract::Contract`] trait and the built-in contracts.
//! - [`checkpoint`]: sealed state written atomically, two generations, the newest good one
//!   loaded, so a corrupted or half-written newest checkpoint falls back to the previous one.
//! - [`egress`]: outgoing messages signed with per-sender sequence numbers, kept until the chain
//!   is proven to have them, so a restart neither loses nor repeats a message.
//! - [`service`]: the API the relayer and clients use, on the small std HTTP server of `veil-http`.
//!
//! Trust boundary: this crate links no node, p2p, consensus-engine or database crate; the tree is
//! checked by `crates/cli/tests/boundaries.rs`.

pub mod checkpoint;
pub mod contract;
pub mod egress;
pub mod runtime;
pub mod service;
pub mod sync;
pub mod wasm;
