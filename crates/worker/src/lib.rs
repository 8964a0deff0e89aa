//! The worker runtime: the program inside the TEE.
//!
//! It trusts only its genesis configuration (the network key and namespace that verify
//! finalization certificates) and what it can prove: everything it learns from the chain arrives
//! through an untrusted relayer as [`sync::Delivery`] batches, each checked with the light client
//! (certificate, header, and the complete, ordered range of a topic's messages) before anything
//! changes. Its state lives in memory and in sealed checkpoints ([`checkpoint`]): written
//! atomically, two generations kept, the newest good one loaded, so a corrupted or half-written
//! newest checkpoint falls back to the previous one. What it tells the chain leaves as signed egress
//! with per-sender sequence numbers ([`egress`]), kept until the chain has accepted it, so a
//! restart neither loses nor repeats a message.
//!
//! Trust boundary: this crate links no node, p2p, consensus-engine or database crate; the tree is
//! checked by `tests/dependencies.rs`.

pub mod checkpoint;
pub mod contract;
pub mod egress;
pub mod http;
pub mod runtime;
pub mod service;
pub mod sync;
