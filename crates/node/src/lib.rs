//! A Veil validator process: what turns the libraries into a running node.
//!
//! - [`config`]: the node's configuration file (TOML) and the genesis it points at.
//! - [`keys`]: secret key files on disk, created 0600 and refused when others can read them.
//! - [`api`]: the REST API (axum): transactions, blocks with finalization certificates, accounts
//!   with state proofs, a stream of finalized blocks, the OpenAPI document and Prometheus metrics.
//! - [`run`]: the process: Commonware's tokio runtime, the validator on authenticated p2p, the API.
//! - [`testnet`]: configuration for local networks: one validator for `veil devnet`, or N for
//!   `veil testnet-config`, with dealer-issued shares and funded development accounts.
//!
//! Consensus, p2p and storage are reached only through `veil-consensus`.

pub mod api;
pub mod config;
pub mod keys;
pub mod run;
pub mod snapshots;
pub mod testnet;
