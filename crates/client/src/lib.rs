//! The Rust client SDK: everything a program (or the `veil` CLI, which is built on it) needs to use
//! a Veil network without trusting the machines it talks to.
//!
//! - [`Network`]: the trust anchor, read from the network's genesis file: the chain id, and the
//!   network key and namespace that verify finalization certificates.
//! - [`Node`]: a node's REST API. Reads of the public state come with a Merkle proof, a header and
//!   its finalization certificate, and are checked with the light client before they are returned
//!   ([`Proven`]); transactions are built, signed with an sr25519 account and submitted, and their
//!   finalization awaited.
//! - [`NodeApi`]: the same API as it answers, typed but unverified (what a relayer needs).
//! - [`Worker`]: a worker runtime's API: its status, batches and egress for a relayer, and
//!   confidential queries.
//! - [`api`]: the request and answer types, error codes and paths both APIs speak (`veil-api`).
//! - [`contracts`]: confidential contracts end to end: upload code, instantiate with an argument
//!   sealed to the cluster key, send commands sealed to the contract's current key, and ask
//!   queries signed under a [`contracts::Session`] certificate and sealed to the worker's registered
//!   key. Every answer is verified before it is returned: the worker's signature over the request
//!   hash, and, by state proofs against certified headers, that the worker is registered (with an
//!   allowlisted measurement, or as a software worker on a network that allows them and a client
//!   that accepts them), that it works in the contract's cluster, and that the answer's code hash
//!   and height match the chain.
//! - [`interface`]: a contract's interface description (JSON, embedded in its wasm as a custom
//!   section) and the JSON ↔ SCALE codec the CLI uses to speak to any contract.
//!
//! Blocking and dependency-light: HTTP/1.1 over std sockets (`veil-http`), no async runtime.

mod endpoint;
mod error;
mod network;
mod node;
mod worker;

pub mod contracts;
pub mod interface;

pub use error::Error;
pub use network::Network;
pub use node::{MAX_HASH_CHAIN, Node, NodeApi, Proven, Submitted, TransactionState};
/// The APIs' shared vocabulary: every request and answer type, error code and path.
pub use veil_api as api;
pub use worker::Worker;

/// Calls `check` every 100 ms until it gives a value, an error, or `timeout` passes
/// ([`Error::Timeout`] naming `what`).
pub(crate) fn poll<T>(
    what: impl FnOnce() -> String,
    timeout: std::time::Duration,
    mut check: impl FnMut() -> Result<Option<T>, Error>,
) -> Result<T, Error> {
    let start = std::time::Instant::now();
    loop {
        if let Some(value) = check()? {
            return Ok(value);
        }
        if start.elapsed() > timeout {
            return Err(Error::Timeout { what: what(), seconds: timeout.as_secs() });
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

pub use veil_api::hex0x;

/// Bytes from `0x`-prefixed (or bare) hex.
pub fn unhex(text: &str) -> Result<Vec<u8>, Error> {
    hex::decode(text.trim_start_matches("0x")).map_err(|e| Error::Malformed(format!("{text:?} is not hex: {e}")))
}
