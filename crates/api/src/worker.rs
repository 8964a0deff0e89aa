//! The worker runtime's API: what the relayer feeds it through and what clients query.
//!
//! | route | body | answer |
//! |---|---|---|
//! | `GET /v1/status` | | [`RuntimeStatus`] |
//! | `GET /v1/registration?operator=…` | | [`RegistrationView`] |
//! | `POST /v1/sync` | a SCALE batch | [`SyncResult`]; `400` with the reason if the batch does not verify (nothing changes) |
//! | `GET /v1/egress` | | [`PendingEgress`] |
//! | `POST /v1/query` | a sealed query | the sealed, signed answer; an error answer on refusal |
//! | `GET /v1/snapshot` | | the SCALE sealed snapshot of the worker's cluster; `409` when it runs none |
//! | `POST /v1/snapshot` | a SCALE sealed snapshot | [`SnapshotTaken`]; `409` unless it waits for one, `400` if refused |
//!
//! Everything here is the runtime's word: clients use it to find a runtime and follow its
//! progress, and check everything they rely on against the chain or the signed answers.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// What a runtime does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum RuntimeRole {
    /// Runs the contracts of its cluster.
    Worker,
    /// Holds the master key and hands out cluster keys.
    Gatekeeper,
}

impl std::fmt::Display for RuntimeRole {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Worker => "worker",
            Self::Gatekeeper => "gatekeeper",
        })
    }
}

/// What a runtime says about itself (`GET /v1/status`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RuntimeStatus {
    /// The chain it follows, `0x` hex.
    pub chain: String,
    /// Worker or gatekeeper.
    pub role: RuntimeRole,
    /// Its platform: `software`, `gramine-sgx` or `tdx`.
    pub platform: String,
    /// True when it runs without a TEE.
    pub insecure: bool,
    /// Its ed25519 identity key, `0x` hex.
    pub identity: String,
    /// The X25519 key queries are sealed to, `0x` hex.
    pub agreement_key: String,
    /// The current master key's public half, `0x` hex (gatekeepers holding it only).
    pub master_public: Option<String>,
    /// The newest height it has processed.
    pub height: u64,
    /// That block's timestamp, milliseconds since the Unix epoch.
    pub timestamp_ms: u64,
    /// Its state root at that height, `0x` hex: equal on every worker of a cluster that handled
    /// the same messages.
    pub state_root: String,
    /// Each followed topic with how many of its messages the runtime has handled.
    pub topics: BTreeMap<String, u64>,
    /// Followed topics it has not started and reads from wherever it joins (the heartbeats): a
    /// relayer asks for them from the log's end.
    pub from_end: Vec<String>,
    /// The contracts it runs.
    pub contracts: Vec<RuntimeContract>,
    /// The cluster it works in, if any.
    pub cluster: Option<ClusterMembership>,
    /// How many of its egress copies the chain has not accepted yet.
    pub pending_egress: u64,
    /// Its most recent refusals, newest last.
    pub refusals: Vec<RefusalView>,
}

/// A contract as a runtime reports it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RuntimeContract {
    /// The contract id, `0x` hex.
    pub contract: String,
    /// Its code hash, `0x` hex.
    pub code: String,
    /// The key epoch the runtime holds it under.
    pub epoch: u32,
    /// Whether the runtime can run it (its code is deployed and its keys are there).
    pub available: bool,
}

/// A worker's cluster.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ClusterMembership {
    /// The cluster's number.
    pub cluster: u32,
    /// It joined as a replacement and waits for a snapshot of the cluster's state.
    pub awaiting_snapshot: bool,
}

/// A message the runtime refused, or a duty it could not carry out. Every worker refuses the same
/// message alike; a contract's own reason is never told (it may quote confidential state).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RefusalView {
    /// The refused message's topic (none for a duty).
    pub topic: Option<String>,
    /// Its index on the topic.
    pub index: Option<u64>,
    /// A stable, machine-readable code (`malformed`, `wrong_origin`, `not_deployed`,
    /// `contract_failed`, …).
    pub code: String,
    /// For a refused command: whose, and its nonce (its tokens were returned).
    pub command: Option<CommandRef>,
    /// What was wrong, for people.
    pub reason: String,
}

impl std::fmt::Display for RefusalView {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (&self.topic, self.index) {
            (Some(topic), Some(index)) => write!(f, "{topic} message {index}: {}", self.reason),
            _ => f.write_str(&self.reason),
        }
    }
}

/// A command, by its sender and nonce.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CommandRef {
    /// The sender: an SS58 account, or a contract's `0x` id.
    pub sender: String,
    /// The command's nonce.
    pub nonce: u64,
}

/// The runtime's answer to a batch (`POST /v1/sync`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SyncResult {
    /// The height it now stands at.
    pub height: u64,
    /// Messages handled.
    pub messages: u64,
    /// Messages refused (the state is as if they were not there).
    pub refused: Vec<RefusalView>,
}

/// What a registration of the runtime binds (`GET /v1/registration`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RegistrationView {
    /// The registration info's SCALE encoding, `0x` hex.
    pub info: String,
    /// Its report data (what the quote must carry), `0x` hex.
    pub report_data: String,
    /// The platform's quote over it, `0x` hex (none in software mode).
    pub quote: Option<String>,
}

/// A runtime's identity record, printed by `veil-worker init` before any genesis exists: its
/// identity key, generated inside its TEE, and the platform's quote over
/// `veil_primitives::registration::identity_report_data(identity)` (none in software mode). The
/// genesis ceremony (`veil genesis assemble`) checks each record and names the identities.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IdentityRecord {
    /// The ed25519 identity key, `0x` hex.
    pub identity: String,
    /// The report data the quote carries, `0x` hex.
    pub report_data: String,
    /// The quote, `0x` hex; none in software mode.
    pub quote: Option<String>,
}

/// Egress the chain has not accepted yet (`GET /v1/egress`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PendingEgress {
    /// Signed copies, each its SCALE encoding in `0x` hex, in sequence order per sender.
    pub egress: Vec<String>,
}

/// A snapshot taken over (`POST /v1/snapshot`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SnapshotTaken {
    /// The height the runtime continues from.
    pub height: u64,
}
