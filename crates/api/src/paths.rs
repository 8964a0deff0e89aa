//! Every route of the node's and the worker's API: the template a server registers (`{name}` for a
//! path parameter) and the function a client builds a concrete path with. A test checks each
//! OpenAPI document lists exactly these routes.

/// Fills the `{…}` parameters of `template` with `values`, in order.
fn fill(template: &str, values: &[&dyn std::fmt::Display]) -> String {
    let mut values = values.iter();
    let filled: Vec<String> = template
        .split('/')
        .map(|part| match part.starts_with('{').then(|| values.next()).flatten() {
            Some(value) => value.to_string(),
            None => part.to_owned(),
        })
        .collect();
    filled.join("/")
}

/// The node's routes.
pub mod node {
    use super::fill;
    use std::fmt::Display;

    /// The chain's identity, validators and issuance.
    pub const CHAIN: &str = "/v1/chain";
    /// Submit a transaction.
    pub const TRANSACTIONS: &str = "/v1/transactions";
    /// Where a transaction stands.
    pub const TRANSACTION: &str = "/v1/transactions/{hash}";
    /// The newest finalized block, certified.
    pub const LATEST_BLOCK: &str = "/v1/blocks/latest";
    /// A finalized block by height.
    pub const BLOCK: &str = "/v1/blocks/{height}";
    /// A finalized block by hash.
    pub const BLOCK_BY_HASH: &str = "/v1/blocks/hash/{hash}";
    /// An account, proven.
    pub const ACCOUNT: &str = "/v1/accounts/{address}";
    /// A state key's value, proven.
    pub const STATE: &str = "/v1/state/{key}";
    /// Submit a runtime's signed egress.
    pub const EGRESS: &str = "/v1/egress";
    /// An egress sender's key and next sequence number.
    pub const SENDER: &str = "/v1/senders/{sender}";
    /// A registered worker.
    pub const WORKER: &str = "/v1/workers/{key}";
    /// A contract's record.
    pub const CONTRACT: &str = "/v1/contracts/{contract}";
    /// A contract's module and interface.
    pub const CONTRACT_MODULE: &str = "/v1/contracts/{contract}/module";
    /// A cluster's workers and their liveness.
    pub const CLUSTER: &str = "/v1/clusters/{cluster}";
    /// A cluster's newest sealed snapshot (get, put).
    pub const SNAPSHOT: &str = "/v1/snapshots/{cluster}";
    /// A topic's messages with a proof of completeness.
    pub const TOPIC_MESSAGES: &str = "/v1/topics/{topic}/messages";
    /// Finalized blocks as Server-Sent Events.
    pub const STREAM_BLOCKS: &str = "/v1/stream/blocks";
    /// The OpenAPI document.
    pub const OPENAPI: &str = "/openapi.json";
    /// Prometheus metrics.
    pub const METRICS: &str = "/metrics";
    /// Liveness.
    pub const HEALTH: &str = "/health";

    /// Every route the OpenAPI document describes (metrics, health and the document itself are
    /// not part of it).
    pub const DOCUMENTED: &[&str] = &[
        CHAIN,
        TRANSACTIONS,
        TRANSACTION,
        LATEST_BLOCK,
        BLOCK,
        BLOCK_BY_HASH,
        ACCOUNT,
        STATE,
        EGRESS,
        SENDER,
        WORKER,
        CONTRACT,
        CONTRACT_MODULE,
        CLUSTER,
        SNAPSHOT,
        TOPIC_MESSAGES,
        STREAM_BLOCKS,
    ];

    /// [`TRANSACTION`] of `hash`.
    pub fn transaction(hash: impl Display) -> String {
        fill(TRANSACTION, &[&hash])
    }

    /// [`BLOCK`] at `height`.
    pub fn block(height: u64) -> String {
        fill(BLOCK, &[&height])
    }

    /// [`BLOCK_BY_HASH`] of `hash`.
    pub fn block_by_hash(hash: impl Display) -> String {
        fill(BLOCK_BY_HASH, &[&hash])
    }

    /// [`ACCOUNT`] of `address` (SS58).
    pub fn account(address: impl Display) -> String {
        fill(ACCOUNT, &[&address])
    }

    /// [`STATE`] of a key (`0x` hex of its SCALE encoding).
    pub fn state(key_hex: impl Display) -> String {
        fill(STATE, &[&key_hex])
    }

    /// [`SENDER`] of `sender` (`worker:0x…`, `contract:0x…`, `gatekeepers`, …).
    pub fn sender(sender: impl Display) -> String {
        fill(SENDER, &[&sender])
    }

    /// [`WORKER`] of a signing key (`0x` hex).
    pub fn worker(key_hex: impl Display) -> String {
        fill(WORKER, &[&key_hex])
    }

    /// [`CONTRACT`] of `contract`.
    pub fn contract(contract: impl Display) -> String {
        fill(CONTRACT, &[&contract])
    }

    /// [`CONTRACT_MODULE`] of `contract`.
    pub fn contract_module(contract: impl Display) -> String {
        fill(CONTRACT_MODULE, &[&contract])
    }

    /// [`CLUSTER`] number `cluster`.
    pub fn cluster(cluster: u32) -> String {
        fill(CLUSTER, &[&cluster])
    }

    /// [`SNAPSHOT`] of cluster number `cluster`.
    pub fn snapshot(cluster: u32) -> String {
        fill(SNAPSHOT, &[&cluster])
    }

    /// [`TOPIC_MESSAGES`] of `topic` from index `from`, proven at `height` (the newest when `None`).
    pub fn topic_messages(topic: impl Display, from: u64, height: Option<u64>) -> String {
        topic_page(topic, &crate::node::TopicQuery { from, height, ..Default::default() })
    }

    /// [`TOPIC_MESSAGES`] of `topic` as `query` asks.
    pub fn topic_page(topic: impl Display, query: &crate::node::TopicQuery) -> String {
        let mut path = format!("{}?from={}", fill(TOPIC_MESSAGES, &[&topic]), query.from);
        if let Some(height) = query.height {
            path.push_str(&format!("&height={height}"));
        }
        if let Some(limit) = query.limit {
            path.push_str(&format!("&limit={limit}"));
        }
        if query.at_end {
            path.push_str("&at_end=true");
        }
        path
    }
}

/// The worker runtime's routes.
pub mod worker {
    use std::fmt::Display;

    /// What the runtime says about itself.
    pub const STATUS: &str = "/v1/status";
    /// What a registration binds, and the platform's quote over it.
    pub const REGISTRATION: &str = "/v1/registration";
    /// Apply a batch of proven messages.
    pub const SYNC: &str = "/v1/sync";
    /// Pending signed egress.
    pub const EGRESS: &str = "/v1/egress";
    /// Answer a sealed query.
    pub const QUERY: &str = "/v1/query";
    /// The cluster's sealed snapshot (get), or take one over (post).
    pub const SNAPSHOT: &str = "/v1/snapshot";

    /// Every route.
    pub const ALL: &[&str] = &[STATUS, REGISTRATION, SYNC, EGRESS, QUERY, SNAPSHOT];

    /// [`REGISTRATION`] for `operator` (SS58 or `0x` hex).
    pub fn registration(operator: impl Display) -> String {
        format!("{REGISTRATION}?operator={operator}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_are_filled_in_order_and_nothing_else_changes() {
        assert_eq!(node::block(7), "/v1/blocks/7");
        assert_eq!(node::contract_module("0xab"), "/v1/contracts/0xab/module");
        assert_eq!(node::topic_messages("contract:0x01", 3, None), "/v1/topics/contract:0x01/messages?from=3");
        assert_eq!(node::topic_messages("releases", 0, Some(9)), "/v1/topics/releases/messages?from=0&height=9");
        assert_eq!(node::block_by_hash("0xcd"), "/v1/blocks/hash/0xcd");
        assert_eq!(worker::registration("5Grw"), "/v1/registration?operator=5Grw");
    }
}
