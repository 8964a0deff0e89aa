//! The vocabulary of Veil's HTTP APIs, shared by the servers (the node, the worker runtime) and
//! every client (the Rust SDK, the relayer, the CLI), so a JSON shape is written once.
//!
//! - [`node`]: what `veil node` answers on its REST port;
//! - [`worker`]: what a worker runtime answers (status, sync results, registration, egress);
//! - [`paths`]: every route of both, as the server registers it and as a client builds it;
//! - [`ErrorBody`] and [`ErrorCode`]: every error answer of both, `{"code": …, "message": …}`,
//!   with the HTTP status each code is sent with.
//!
//! With the `openapi` feature the types also describe themselves to `utoipa`, and [`openapi`]
//! holds the worker API's document (the node's is generated from its handlers). The feature is for
//! the node and documentation tests only: the runtime inside the TEE links this crate without it.

pub mod node;
pub mod paths;
pub mod worker;

#[cfg(feature = "openapi")]
pub mod openapi;

use serde::{Deserialize, Serialize};

/// Declares [`ErrorCode`]: each code's variant, wire name and HTTP status, in one list.
macro_rules! error_codes {
    ($($(#[$doc:meta])* $variant:ident = $name:literal, $status:literal;)*) => {
        /// A stable, machine-readable error code. Clients branch on it; the message is for people.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
        #[serde(rename_all = "snake_case")]
        pub enum ErrorCode {
            $($(#[$doc])* $variant,)*
            /// A code this version does not know (a newer server's).
            #[serde(other)]
            Unknown,
        }

        impl ErrorCode {
            /// Every known code.
            pub const ALL: &'static [ErrorCode] = &[$(ErrorCode::$variant,)*];

            /// The wire name.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(ErrorCode::$variant => $name,)*
                    ErrorCode::Unknown => "unknown",
                }
            }

            /// The HTTP status a server answers with.
            pub fn status(self) -> u16 {
                match self {
                    $(ErrorCode::$variant => $status,)*
                    ErrorCode::Unknown => 500,
                }
            }
        }
    };
}

error_codes! {
    /// The request's body, query or path is not what the endpoint takes.
    BadRequest = "bad_request", 400;
    /// An account address that does not parse.
    BadAddress = "bad_address", 400;
    /// A cluster that is not a number.
    BadCluster = "bad_cluster", 400;
    /// A contract id that does not parse.
    BadContract = "bad_contract", 400;
    /// An egress copy that does not decode.
    BadEgress = "bad_egress", 400;
    /// A hash that does not parse.
    BadHash = "bad_hash", 400;
    /// A height that is not a number.
    BadHeight = "bad_height", 400;
    /// A state key that does not decode.
    BadKey = "bad_key", 400;
    /// A topic range the node cannot prove.
    BadRange = "bad_range", 400;
    /// A sender that does not parse.
    BadSender = "bad_sender", 400;
    /// A snapshot that does not decode, is of another cluster or is not signed by it.
    BadSnapshot = "bad_snapshot", 400;
    /// A topic that does not parse.
    BadTopic = "bad_topic", 400;
    /// A transaction that does not decode.
    BadTransaction = "bad_transaction", 400;
    /// A worker key that does not parse.
    BadWorker = "bad_worker", 400;
    /// An operator account that does not parse.
    BadOperator = "bad_operator", 400;
    /// The mempool or the chain refused a transaction or egress; the message says why.
    Rejected = "rejected", 400;
    /// A body that does not decode (a batch, a snapshot).
    Malformed = "malformed", 400;
    /// A batch or snapshot the runtime refuses; nothing changed.
    Refused = "refused", 400;
    /// A query not sealed to this worker, or altered.
    Unreadable = "unreadable", 400;
    /// A query addressed to another worker or chain.
    Misaddressed = "misaddressed", 400;
    /// A query whose validity window is over or too long.
    Validity = "validity", 400;
    /// A query whose signature or session certificate does not verify.
    Unauthenticated = "unauthenticated", 403;
    /// A query whose session certificate expired.
    SessionExpired = "session_expired", 403;
    /// A query whose session certificate spans too long, starts too far ahead, or was revoked.
    SessionRefused = "session_refused", 403;
    /// A registration quote for another operator than the one the runtime was started for.
    NotOperator = "not_operator", 403;
    /// Nothing there: no such endpoint, block, account, contract, worker, snapshot.
    NotFound = "not_found", 404;
    /// A query for a contract the worker does not run.
    UnknownContract = "unknown_contract", 404;
    /// Another transaction holds this account's nonce in the pool.
    Conflict = "conflict", 409;
    /// A snapshot as new or newer is stored.
    NotNewer = "not_newer", 409;
    /// A query answered before.
    Replayed = "replayed", 409;
    /// The runtime has no snapshot to give, or does not wait for one.
    Unavailable = "unavailable", 409;
    /// The server failed; the message says where.
    Internal = "internal", 500;
    /// The mempool is full: retry later.
    MempoolFull = "mempool_full", 503;
    /// The node's store is busy or the height is pruned: retry.
    NotReady = "not_ready", 503;
    /// The worker's view of the chain is too old to answer: retry.
    Stale = "stale", 503;
    /// The runtime could not write its checkpoint; the change lives in memory only.
    Checkpoint = "checkpoint", 503;
    /// The TEE platform could not produce a quote.
    Platform = "platform", 503;
    /// The server is handling all it allows at once (connections, buffered bytes, queued
    /// requests): retry shortly.
    Busy = "busy", 503;
    /// A request body over its endpoint's limit (the message names the limit).
    TooLarge = "too_large", 413;
}

/// How both APIs write binary values: `0x` and lowercase hex.
pub fn hex0x(bytes: impl AsRef<[u8]>) -> String {
    format!("0x{}", hex::encode(bytes))
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Every error answer of the node and the worker.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ErrorBody {
    /// What kind of error, for machines.
    pub code: ErrorCode,
    /// What went wrong, for people.
    pub message: String,
}

impl ErrorBody {
    /// An error answer.
    pub fn new(code: ErrorCode, message: impl std::fmt::Display) -> Self {
        Self { code, message: message.to_string() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_names_are_serde_names_and_distinct() {
        let mut seen = std::collections::BTreeSet::new();
        for code in ErrorCode::ALL {
            assert_eq!(serde_json::to_value(code).unwrap(), serde_json::Value::from(code.as_str()));
            assert_eq!(serde_json::from_value::<ErrorCode>(code.as_str().into()).unwrap(), *code);
            assert!(seen.insert(code.as_str()), "{code} twice");
            assert!((400..600).contains(&code.status()));
        }
    }

    #[test]
    fn an_unknown_code_from_a_newer_server_still_reads() {
        let body: ErrorBody = serde_json::from_str(r#"{"code":"brand_new","message":"m"}"#).unwrap();
        assert_eq!(body.code, ErrorCode::Unknown);
        assert!(serde_json::from_str::<ErrorBody>(r#"{"code":"not_found"}"#).is_err(), "the message is required");
    }
}
