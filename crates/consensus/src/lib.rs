//! The one place Veil meets Commonware.
//!
//! Every import of Commonware's consensus, p2p, broadcast, resolver and storage crates lives in this
//! crate, and the long generic types are named once in [`alias`], so a monthly Commonware release
//! is an upgrade of this crate alone. Outside it, the node sees Veil types only.
//!
//! - [`block`]: Veil's block in Commonware's codec. Its digest is exactly the header hash, so what
//!   consensus certifies is what a light client hashes.
//! - [`state`]: the authenticated public state in QMDB (`current::ordered`), with one speculative
//!   batch per unfinalized block, inclusion and exclusion proofs, and the root each header commits.
//! - [`application`]: proposing and verifying blocks with the chain's rules, over the state of the
//!   proposed block's parent, and applying finalized blocks in order.
//! - [`engine`]: the wiring of simplex (BLS threshold certificates with round seeds), marshal, buffered broadcast,
//!   the backfill resolver and the archives, on any p2p network and runtime.
//! - [`network`]: a validator on real sockets, with authenticated p2p among the genesis validators.
//! - [`history`]: the recent values of the topic tree, for topic proofs against older headers.
//! - [`transactions`]: finalized transactions by hash, on disk.
//! - [`seeds`]: the round seeds of the threshold VRF, which each block carries for its parent.
//! - [`dealer`]: the trusted dealer that creates a network key and validator shares at genesis.

pub mod alias;
pub mod application;
pub mod block;
pub mod dealer;
pub mod engine;
pub mod history;
pub mod network;
pub mod seeds;
pub mod state;
#[cfg(any(test, feature = "test-support"))]
pub mod testing;
pub mod transactions;
