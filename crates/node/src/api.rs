//! The REST API.
//!
//! Every error is JSON `{"code": "...", "message": "..."}` with a fitting status. Binary values are
//! `0x` hex: transactions are submitted as their SCALE encoding, blocks carry theirs, so clients
//! hash and verify exactly what the chain did. The OpenAPI document is at `/openapi.json`.
//!
//! This file holds what every resource shares (the state handlers see, errors, parsing helpers),
//! the OpenAPI registry and the router; the handlers and their views are split by resource:
//! `chain` (identity, blocks, transactions, accounts, proven state, the block stream),
//! `contracts` (contracts, their modules, clusters, snapshots) and `messages` (topics, egress,
//! senders, workers).

use axum::{
    Json, Router,
    extract::DefaultBodyLimit,
    extract::{Path, Query, State},
    http::{StatusCode, header},
    response::{
        IntoResponse, Response,
        sse::{Event, KeepAlive, Sse},
    },
    routing::{get, post},
};
use commonware_runtime::{Metrics as _, tokio::Context};
use futures::StreamExt as _;
use parity_scale_codec::Encode as _;
use std::{collections::BTreeSet, convert::Infallible, str::FromStr as _, sync::Arc};
use utoipa::OpenApi;
use veil_api::{ErrorBody, ErrorCode, hex0x, node::*, paths::node as paths};
use veil_chain::ReadState as _;
use veil_chain::{StateKey, state::ContractInfo};
use veil_consensus::{
    application::{NodeState, TransactionStatus},
    engine::Validator,
    state::{QmdbState, StateProof},
};
use veil_mempool::{AdmissionError, Admitted, EgressAdmissionError};

use crate::snapshots::{SnapshotStore, SnapshotStoreError};
use veil_primitives::{
    AccountId, Block, ClusterId, ContractId, Hash, Header, SenderId, Topic,
    contract::{INTERFACE_SECTION, custom_section},
    decode_strict,
    epoch::{MAX_SNAPSHOT_BYTES, SealedSnapshot},
};

mod chain;
mod contracts;
mod messages;
use chain::*;
use contracts::*;
use messages::*;

/// What the handlers share.
#[derive(Clone)]
pub struct ApiState {
    validator: Validator<QmdbState<Context>>,
    metrics: Arc<Context>,
    /// The newest cluster snapshot uploaded per cluster, kept on disk too.
    snapshots: Arc<SnapshotStore>,
}

impl ApiState {
    /// The API over a running validator; `metrics` renders the runtime's registry; `snapshots`
    /// keeps the clusters' sealed snapshots.
    pub fn new(validator: Validator<QmdbState<Context>>, metrics: Context, snapshots: SnapshotStore) -> Self {
        Self { validator, metrics: Arc::new(metrics), snapshots: Arc::new(snapshots) }
    }
}

/// An error answer: its code decides the status ([`ErrorCode::status`]).
struct ApiError(ErrorCode, String);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.0.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        (status, Json(ErrorBody::new(self.0, self.1))).into_response()
    }
}

fn bad_request(code: ErrorCode, message: impl ToString) -> ApiError {
    ApiError(code, message.to_string())
}

fn not_found(message: impl ToString) -> ApiError {
    ApiError(ErrorCode::NotFound, message.to_string())
}

fn internal(message: impl ToString) -> ApiError {
    ApiError(ErrorCode::Internal, message.to_string())
}

/// The bytes of a `0x`-hex request field (the `0x` may be left out).
fn unhex(text: &str, code: ErrorCode, what: &str) -> Result<Vec<u8>, ApiError> {
    let digits = text.strip_prefix("0x").unwrap_or(text);
    hex::decode(digits).map_err(|_| bad_request(code, format!("{what} must be 0x-prefixed hex")))
}

/// A hash in a path, with or without its `0x`.
fn parse_hash(text: &str) -> Result<Hash, ApiError> {
    let digits = text.strip_prefix("0x").unwrap_or(text);
    format!("0x{digits}").parse().map_err(|error| bad_request(ErrorCode::BadHash, error))
}

async fn metrics(State(api): State<ApiState>) -> impl IntoResponse {
    let (height, mempool, egress) = {
        let node = api.validator.node().lock().await;
        (node.finalized_header().height, node.mempool_len(), node.mempool_egress_len())
    };
    let mut text = api.metrics.encode();
    let ours = format!(
        "# HELP veil_finalized_height Height of the latest finalized block.\n# TYPE veil_finalized_height gauge\nveil_finalized_height {height}\n\
         # HELP veil_mempool_transactions Transactions waiting in the mempool.\n# TYPE veil_mempool_transactions gauge\nveil_mempool_transactions {mempool}\n\
         # HELP veil_mempool_egress Egress copies waiting in the mempool.\n# TYPE veil_mempool_egress gauge\nveil_mempool_egress {egress}\n"
    );
    match text.rfind("# EOF") {
        Some(at) => text.insert_str(at, &ours),
        None => text.push_str(&ours),
    }
    ([(header::CONTENT_TYPE, "application/openmetrics-text; version=1.0.0; charset=utf-8")], text)
}

async fn health() -> &'static str {
    "ok"
}

/// The OpenAPI document.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Veil node API",
        description = "Transactions and egress, finalized blocks with certificates, accounts with state proofs, and topic messages with delivery proofs."
    ),
    paths(
        chain_info,
        submit,
        transaction,
        latest_block,
        block_by_height,
        block_by_hash,
        account,
        proven_state,
        submit_egress,
        sender,
        worker,
        contract,
        contract_module,
        cluster,
        put_snapshot,
        get_snapshot,
        topic_messages,
        stream_blocks
    ),
    components(schemas(
        ErrorBody,
        ProvenStateView,
        SubmitEgressRequest,
        SenderView,
        WorkerView,
        ContractView,
        ContractModuleView,
        ContractKeysView,
        ClusterView,
        ClusterMemberView,
        SnapshotBody,
        SnapshotView,
        IssuanceView,
        TopicMessagesView,
        EgressView,
        ChainInfo,
        SubmitRequest,
        SubmitResponse,
        TransactionStatusView,
        BlockView,
        TransactionView,
        CertifiedBlock,
        AccountView,
        ProofView,
        StreamedBlock
    ))
)]
pub struct ApiDoc;

async fn openapi() -> impl IntoResponse {
    Json(ApiDoc::openapi())
}

async fn fallback() -> ApiError {
    not_found("no such endpoint; the API is described at /openapi.json")
}

/// The API's routes.
pub fn router(state: ApiState) -> Router {
    Router::new()
        .route(paths::CHAIN, get(chain_info))
        .route(paths::TRANSACTIONS, post(submit))
        .route(paths::TRANSACTION, get(transaction))
        .route(paths::LATEST_BLOCK, get(latest_block))
        .route(paths::BLOCK, get(block_by_height))
        .route(paths::BLOCK_BY_HASH, get(block_by_hash))
        .route(paths::ACCOUNT, get(account))
        .route(paths::STATE, get(proven_state))
        .route(paths::EGRESS, post(submit_egress))
        .route(paths::SENDER, get(sender))
        .route(paths::WORKER, get(worker))
        .route(paths::CONTRACT, get(contract))
        .route(paths::CONTRACT_MODULE, get(contract_module))
        .route(paths::CLUSTER, get(cluster))
        .route(
            paths::SNAPSHOT,
            get(get_snapshot).put(put_snapshot).layer(DefaultBodyLimit::max(2 * MAX_SNAPSHOT_BYTES + 1024)),
        )
        .route(paths::TOPIC_MESSAGES, get(topic_messages))
        .route(paths::STREAM_BLOCKS, get(stream_blocks))
        .route(paths::OPENAPI, get(openapi))
        .route(paths::METRICS, get(metrics))
        .route(paths::HEALTH, get(health))
        .fallback(fallback)
        .with_state(state)
}
