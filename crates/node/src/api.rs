//! The REST API.
//!
//! Every error is JSON `{"code": "...", "message": "..."}` with a fitting status. Binary values are
//! `0x` hex: transactions are submitted as their SCALE encoding, blocks carry theirs, so clients
//! hash and verify exactly what the chain did. The OpenAPI document is at `/openapi.json`.

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
use serde::{Deserialize, Serialize};
use std::{
    collections::{BTreeMap, BTreeSet},
    convert::Infallible,
    str::FromStr as _,
    sync::{Arc, Mutex},
};
use utoipa::{OpenApi, ToSchema};
use veil_chain::ReadState as _;
use veil_chain::{StateKey, state::ContractInfo};
use veil_consensus::{
    application::{NodeState, TransactionStatus},
    engine::Validator,
    state::{QmdbState, StateProof},
};
use veil_mempool::{AdmissionError, Admitted, EgressAdmissionError};
use veil_primitives::{
    AccountId, Block, ClusterId, ContractId, Hash, Header, SenderId, SignedTransaction, Topic,
    contract::{INTERFACE_SECTION, custom_section},
    decode_strict,
    epoch::{MAX_SNAPSHOT_BYTES, SealedSnapshot},
};

/// What the handlers share.
#[derive(Clone)]
pub struct ApiState {
    validator: Validator<QmdbState<Context>>,
    metrics: Arc<Context>,
    /// The newest cluster snapshot uploaded per cluster (kept in memory: the clusters' relayers
    /// upload again after a restart).
    snapshots: Arc<Mutex<BTreeMap<ClusterId, SealedSnapshot>>>,
}

impl ApiState {
    /// The API over a running validator; `metrics` renders the runtime's registry.
    pub fn new(validator: Validator<QmdbState<Context>>, metrics: Context) -> Self {
        Self { validator, metrics: Arc::new(metrics), snapshots: Arc::default() }
    }
}

/// An error answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    /// A stable, machine-readable code.
    pub code: &'static str,
    /// What went wrong, for people.
    pub message: String,
}

struct ApiError(StatusCode, &'static str, String);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.0, Json(ErrorBody { code: self.1, message: self.2 })).into_response()
    }
}

fn bad_request(code: &'static str, message: impl ToString) -> ApiError {
    ApiError(StatusCode::BAD_REQUEST, code, message.to_string())
}

fn not_found(message: impl ToString) -> ApiError {
    ApiError(StatusCode::NOT_FOUND, "not_found", message.to_string())
}

fn internal(message: impl ToString) -> ApiError {
    ApiError(StatusCode::INTERNAL_SERVER_ERROR, "internal", message.to_string())
}

fn hex0x(bytes: impl AsRef<[u8]>) -> String {
    format!("0x{}", hex::encode(bytes))
}

/// The bytes of a `0x`-hex request field (the `0x` may be left out).
fn unhex(text: &str, code: &'static str, what: &str) -> Result<Vec<u8>, ApiError> {
    let digits = text.strip_prefix("0x").unwrap_or(text);
    hex::decode(digits).map_err(|_| bad_request(code, format!("{what} must be 0x-prefixed hex")))
}

/// A hash in a path, with or without its `0x`.
fn parse_hash(text: &str) -> Result<Hash, ApiError> {
    let digits = text.strip_prefix("0x").unwrap_or(text);
    format!("0x{digits}").parse().map_err(|error| bad_request("bad_hash", error))
}

/// The chain and its validators.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ChainInfo {
    /// SHA-256 of the canonical genesis: what transactions bind to.
    pub chain_id: String,
    /// The chain's name.
    pub chain_name: String,
    /// The consensus namespace.
    pub namespace: String,
    /// The 96-byte BLS network key that verifies finalization certificates.
    pub network_key: String,
    /// Genesis time, milliseconds since the Unix epoch.
    pub genesis_time_ms: u64,
    /// Whether software-mode workers may register.
    pub allow_insecure_workers: bool,
    /// The latest finalized height.
    pub finalized_height: u64,
    /// Issuance accounting at that height.
    pub issuance: IssuanceView,
}

/// Issuance accounting: `total = genesis + minted − burned`, and `total` is every balance, every
/// contract's locked tokens and the reward pots together. Amounts in the smallest unit, as decimal
/// strings.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct IssuanceView {
    /// Tokens in existence.
    pub total: String,
    /// Supply at genesis.
    pub genesis: String,
    /// Minted by inflation since genesis.
    pub minted: String,
    /// Burned from fees since genesis.
    pub burned: String,
}

/// A contract as the chain records it: what a client needs to seal commands to it and to check
/// the tokens it holds.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ContractView {
    /// The contract id, `0x` hex.
    pub contract: String,
    /// Its code hash (SHA-256 of the module for wasm contracts).
    pub code: String,
    /// The cluster that runs it.
    pub cluster: u32,
    /// Its owner (the deployer).
    pub owner: String,
    /// Whether it is wasm code (else built into the runtime).
    pub wasm: bool,
    /// Native tokens locked in it, in the smallest unit, as a decimal string.
    pub locked_units: String,
    /// Its public keys, once the gatekeeper published them.
    pub keys: Option<ContractKeysView>,
    /// The finalized height this describes.
    pub height: u64,
}

/// A contract's public keys for one epoch.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ContractKeysView {
    /// The key epoch.
    pub epoch: u32,
    /// The X25519 key commands are sealed to, `0x` hex.
    pub agreement: String,
    /// The ed25519 key its egress is signed with, `0x` hex.
    pub signing: String,
}

/// A cluster of workers.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ClusterView {
    /// The cluster's number.
    pub cluster: u32,
    /// The key epoch.
    pub epoch: u32,
    /// Its workers.
    pub workers: Vec<ClusterMemberView>,
    /// The X25519 key constructor arguments are sealed to, once the gatekeeper published it.
    pub agreement: Option<String>,
    /// The ed25519 key its state snapshots are signed with, once the gatekeepers published it.
    pub signing: Option<String>,
    /// The finalized height this describes.
    pub height: u64,
}

/// A worker of a cluster, and whether the chain would take a report that it is offline.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ClusterMemberView {
    /// Its identity key, `0x` hex.
    pub worker: String,
    /// When the chain last saw its egress, milliseconds since the Unix epoch.
    pub last_seen_ms: u64,
    /// Silent past the parameters' offline window (or its registration lapsed) at the latest finalized block's
    /// time: a `ReportOffline` would remove it.
    pub offline: bool,
}

/// A transaction as the API shows it.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct TransactionView {
    /// Its hash.
    pub hash: String,
    /// The signer's SS58 address.
    pub signer: String,
    /// Its nonce.
    pub nonce: u64,
    /// The chain module the call belongs to: `accounts`, `registry`, `contracts`, `epochs` or
    /// `parameters`.
    pub module: String,
    /// The call: `transfer`, `command`, `register_worker`, `allow_measurement`,
    /// `disallow_measurement`, `form_cluster`, `upload_code`, `instantiate`, `assign_contract`,
    /// `rotate_keys`, `report_offline` or `set_parameters`.
    pub call: String,
    /// Recipient of a transfer.
    pub to: Option<String>,
    /// Native tokens moved (a transfer's amount, a command's value), in the smallest unit, as a
    /// decimal string.
    pub amount: Option<String>,
    /// Contract a command addresses, an instantiation creates or an assignment runs.
    pub contract: Option<String>,
    /// Payload of a command, `0x` hex.
    pub payload: Option<String>,
    /// The worker (signing key) a registration or an offline report is for.
    pub worker: Option<String>,
    /// Fuel prepaid by a command or instantiation.
    pub fuel: Option<u64>,
    /// Code hash of an upload, instantiation or assignment.
    pub code: Option<String>,
    /// Cluster of a formation, instantiation, assignment or offline report.
    pub cluster: Option<u32>,
}

impl TransactionView {
    fn from_transaction(tx: &SignedTransaction) -> Self {
        let summary = tx.transaction.call.summary(&tx.transaction.signer);
        Self {
            hash: tx.hash().to_string(),
            signer: tx.transaction.signer.to_string(),
            nonce: tx.transaction.nonce,
            module: summary.module.into(),
            call: summary.name.into(),
            to: summary.to.map(|to| to.to_string()),
            amount: summary.amount.map(|amount| amount.0.to_string()),
            contract: summary.contract.map(|contract| contract.to_string()),
            payload: summary.payload.map(hex0x),
            worker: summary.worker.map(hex0x),
            fuel: summary.fuel,
            code: summary.code.map(|code| code.to_string()),
            cluster: summary.cluster.map(|cluster| cluster.0),
        }
    }
}

/// An egress copy as the API shows it.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct EgressView {
    /// The copy's hash.
    pub hash: String,
    /// The sender, as `kind:id`.
    pub sender: String,
    /// The key epoch it is signed under.
    pub epoch: u32,
    /// The sender's sequence number.
    pub sequence: u64,
    /// The topic it publishes on.
    pub topic: String,
}

/// A finalized block.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct BlockView {
    /// The block hash (the header's SHA-256, the digest consensus certified).
    pub hash: String,
    /// Its height.
    pub height: u64,
    /// The parent's hash.
    pub parent: String,
    /// Its timestamp, milliseconds since the Unix epoch.
    pub timestamp_ms: u64,
    /// The state root after it.
    pub state_root: String,
    /// Its transactions' root.
    pub transactions_root: String,
    /// Its egress root.
    pub egress_root: String,
    /// The topic tree's root after it.
    pub messages_root: String,
    /// Its transactions.
    pub transactions: Vec<TransactionView>,
    /// Its egress.
    pub egress: Vec<EgressView>,
    /// The block's SCALE encoding, to hash and verify exactly.
    pub encoded: String,
}

impl BlockView {
    fn from_block(block: &Block) -> Self {
        let header = &block.header;
        Self {
            hash: header.hash().to_string(),
            height: header.height,
            parent: header.parent.to_string(),
            timestamp_ms: header.timestamp_ms,
            state_root: header.state_root.to_string(),
            transactions_root: header.transactions_root.to_string(),
            egress_root: header.egress_root.to_string(),
            messages_root: header.messages.root.to_string(),
            transactions: block.transactions.iter().map(TransactionView::from_transaction).collect(),
            egress: block
                .egress
                .iter()
                .map(|copy| EgressView {
                    hash: copy.hash().to_string(),
                    sender: copy.egress.sender.to_string(),
                    epoch: copy.egress.epoch.0,
                    sequence: copy.egress.sequence,
                    topic: copy.egress.topic.to_string(),
                })
                .collect(),
            encoded: hex0x(block.encode()),
        }
    }
}

/// A finalized block with the finalization certificate that certifies it.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct CertifiedBlock {
    /// The block.
    pub block: BlockView,
    /// The certificate: encoded proposal (epoch, view, parent view, block hash) then the 48-byte
    /// threshold signature, verifiable against the network key.
    pub finalization: String,
}

/// A transaction to submit.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct SubmitRequest {
    /// The signed transaction's SCALE encoding, `0x` hex.
    pub transaction: String,
}

/// The mempool's answer to a submission.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct SubmitResponse {
    /// The transaction hash.
    pub hash: String,
    /// `pending` (includable now) or `parked` (waits for earlier nonces).
    pub status: String,
}

/// Where a transaction stands.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct TransactionStatusView {
    /// The transaction hash.
    pub hash: String,
    /// `pending` or `finalized`.
    pub status: String,
    /// The block height, when finalized.
    pub height: Option<u64>,
    /// The position in the block, when finalized.
    pub index: Option<u32>,
}

/// A Merkle proof of one state key.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ProofView {
    /// `inclusion` (the key holds a value) or `exclusion` (it holds nothing).
    pub kind: String,
    /// The proven value (its SCALE encoding), for inclusion proofs.
    pub value: Option<String>,
    /// The encoded proof.
    pub proof: String,
}

/// An account with a proof against a finalized header's state root.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AccountView {
    /// The SS58 address.
    pub address: String,
    /// The next nonce.
    pub nonce: u64,
    /// The balance in tokens.
    pub balance: String,
    /// The balance in the smallest unit, as a decimal string.
    pub balance_units: String,
    /// The state root the proof is against.
    pub state_root: String,
    /// The finalized block whose header carries that root.
    pub height: u64,
    /// That block's hash.
    pub block_hash: String,
    /// The proof.
    pub proof: ProofView,
}

#[utoipa::path(get, path = "/v1/chain",
    responses((status = 200, description = "the chain's identity, its newest finalized height and its issuance", body = ChainInfo)))]
async fn chain_info(State(api): State<ApiState>) -> Result<Json<ChainInfo>, ApiError> {
    let node = api.validator.node().lock().await;
    let snapshot = node.read(&BTreeSet::from([StateKey::Issuance.to_bytes()])).await.map_err(internal)?;
    let issuance = snapshot.issuance().map_err(internal)?;
    let genesis = node.chain().genesis();
    Ok(Json(ChainInfo {
        chain_id: node.chain().id().to_string(),
        chain_name: genesis.chain_name.clone(),
        namespace: genesis.network.namespace.clone(),
        network_key: hex0x(genesis.network.public_key),
        genesis_time_ms: genesis.genesis_time_ms,
        allow_insecure_workers: genesis.allow_insecure_workers,
        finalized_height: node.finalized_header().height,
        issuance: IssuanceView {
            total: issuance.total.0.to_string(),
            genesis: issuance.genesis.0.to_string(),
            minted: issuance.minted.0.to_string(),
            burned: issuance.burned.0.to_string(),
        },
    }))
}

#[utoipa::path(get, path = "/v1/contracts/{contract}", params(("contract" = String, Path, description = "the contract's id: 0x and 64 hex digits")),
    responses((status = 200, description = "the contract's record at the newest finalized block", body = ContractView), (status = 400, description = "the request is malformed: `code` says which part", body = ErrorBody), (status = 404, description = "no such contract", body = ErrorBody)))]
async fn contract(State(api): State<ApiState>, Path(id): Path<String>) -> Result<Json<ContractView>, ApiError> {
    let id = parse_contract(&id)?;
    let node = api.validator.node().lock().await;
    let info = contract_record(&node, id).await?;
    Ok(Json(ContractView {
        contract: hex0x(id.0),
        code: info.code.to_string(),
        cluster: info.cluster.0,
        owner: info.owner.to_string(),
        wasm: info.wasm,
        locked_units: info.locked.0.to_string(),
        keys: info.keys.map(|keys| ContractKeysView {
            epoch: keys.epoch.0,
            agreement: hex0x(keys.agreement),
            signing: hex0x(keys.signing),
        }),
        height: node.finalized_header().height,
    }))
}

fn parse_contract(id: &str) -> Result<ContractId, ApiError> {
    let hash = parse_hash(id).map_err(|_| bad_request("bad_contract", "a contract is its 0x id (64 hex digits)"))?;
    Ok(ContractId(hash.0))
}

/// The node's state, locked.
type NodeGuard<'a> = futures::lock::MutexGuard<'a, NodeState<QmdbState<Context>>>;

/// A contract's record at the newest finalized block.
async fn contract_record(node: &NodeGuard<'_>, id: ContractId) -> Result<ContractInfo, ApiError> {
    let snapshot = node.read(&BTreeSet::from([StateKey::Contract(id).to_bytes()])).await.map_err(internal)?;
    snapshot
        .contract(&id)
        .map_err(internal)?
        .ok_or_else(|| not_found(format!("contract {} does not exist", hex0x(id.0))))
}

/// A wasm contract's module and the interface it ships, for tools that encode its commands and
/// decode its answers.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ContractModuleView {
    /// The contract, `0x` hex.
    pub contract: String,
    /// Its code hash: SHA-256 of the module.
    pub code: String,
    /// The wasm module, `0x` hex.
    pub module: String,
    /// The JSON interface in the module's `veil:interface` custom section; `null` when it ships
    /// none (or none that is JSON).
    #[schema(value_type = Option<Object>)]
    pub interface: Option<serde_json::Value>,
    /// The finalized height read at.
    pub height: u64,
}

#[utoipa::path(get, path = "/v1/contracts/{contract}/module", params(("contract" = String, Path, description = "the contract's id: 0x and 64 hex digits")),
    responses((status = 200, description = "the contract's wasm module and its interface", body = ContractModuleView), (status = 400, description = "the request is malformed: `code` says which part", body = ErrorBody), (status = 404, description = "no such contract, or a contract built into the runtime (it has no module)", body = ErrorBody)))]
async fn contract_module(
    State(api): State<ApiState>,
    Path(id): Path<String>,
) -> Result<Json<ContractModuleView>, ApiError> {
    let id = parse_contract(&id)?;
    let node = api.validator.node().lock().await;
    let info = contract_record(&node, id).await?;
    if !info.wasm {
        return Err(not_found(format!("contract {} is built into the runtime: it has no module", hex0x(id.0))));
    }
    let snapshot = node.read(&BTreeSet::from([StateKey::Code(info.code).to_bytes()])).await.map_err(internal)?;
    let module = snapshot
        .code(&info.code)
        .map_err(internal)?
        .ok_or_else(|| internal(format!("the code {} of contract {} is missing", info.code, hex0x(id.0))))?;
    let interface = custom_section(&module, INTERFACE_SECTION)
        .ok()
        .flatten()
        .and_then(|section| serde_json::from_slice(section).ok());
    Ok(Json(ContractModuleView {
        contract: hex0x(id.0),
        code: info.code.to_string(),
        module: hex0x(&module[..]),
        interface,
        height: node.finalized_header().height,
    }))
}

#[utoipa::path(get, path = "/v1/clusters/{cluster}", params(("cluster" = u32, Path, description = "the cluster's number")),
    responses((status = 200, description = "the cluster's workers and their liveness at the newest finalized block", body = ClusterView), (status = 400, description = "the request is malformed: `code` says which part", body = ErrorBody), (status = 404, description = "the cluster has not formed", body = ErrorBody)))]
async fn cluster(State(api): State<ApiState>, Path(number): Path<String>) -> Result<Json<ClusterView>, ApiError> {
    let id = parse_cluster(&number)?;
    let node = api.validator.node().lock().await;
    let snapshot = node.read(&BTreeSet::from([StateKey::Cluster(id).to_bytes()])).await.map_err(internal)?;
    let info =
        snapshot.cluster(id).map_err(internal)?.ok_or_else(|| not_found(format!("cluster {number} has not formed")))?;
    let mut keys: BTreeSet<Vec<u8>> = info.workers.iter().map(|worker| StateKey::Worker(*worker).to_bytes()).collect();
    keys.insert(StateKey::Parameters.to_bytes());
    let records = node.read(&keys).await.map_err(internal)?;
    let header = node.finalized_header();
    let window_ms = records.parameters().map_err(internal)?.liveness.offline_after_ms;
    let mut workers = Vec::new();
    for worker in info.workers.iter() {
        let record = records.worker(worker).map_err(internal)?;
        workers.push(ClusterMemberView {
            worker: hex0x(worker),
            last_seen_ms: record.as_ref().map_or(0, |record| record.last_seen_ms),
            offline: !record.is_some_and(|record| record.is_live(header.timestamp_ms, window_ms)),
        });
    }
    Ok(Json(ClusterView {
        cluster: id.0,
        epoch: info.epoch.0,
        workers,
        agreement: info.agreement.map(hex0x),
        signing: info.signing.map(hex0x),
        height: header.height,
    }))
}

/// A cluster snapshot, uploaded by a cluster worker's relayer or downloaded by a replacement's.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct SnapshotBody {
    /// The sealed snapshot's SCALE encoding, `0x` hex.
    pub snapshot: String,
}

/// A stored cluster snapshot.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct SnapshotView {
    /// The cluster.
    pub cluster: u32,
    /// The key epoch it is sealed and signed under.
    pub epoch: u32,
    /// The height of the view it captures.
    pub height: u64,
    /// Its SCALE encoding, `0x` hex.
    pub snapshot: String,
}

fn parse_cluster(number: &str) -> Result<ClusterId, ApiError> {
    Ok(ClusterId(number.parse().map_err(|_| bad_request("bad_cluster", "a cluster is its number"))?))
}

/// Stores a cluster's snapshot if the cluster's signing key of its current epoch signed it and it
/// is newer than the one stored. The node cannot read it; it only keeps it for a replacement.
#[utoipa::path(put, path = "/v1/snapshots/{cluster}", request_body = SnapshotBody,
    params(("cluster" = u32, Path, description = "the cluster's number")),
    responses((status = 202, description = "stored"), (status = 400, description = "the request is malformed: `code` says which part", body = ErrorBody), (status = 404, description = "the cluster has not formed", body = ErrorBody),
        (status = 409, description = "a snapshot as new or newer is stored", body = ErrorBody)))]
async fn put_snapshot(
    State(api): State<ApiState>,
    Path(number): Path<String>,
    body: Result<Json<SnapshotBody>, axum::extract::rejection::JsonRejection>,
) -> Result<StatusCode, ApiError> {
    let id = parse_cluster(&number)?;
    let Json(request) = body.map_err(|rejection| bad_request("bad_request", rejection.body_text()))?;
    let bytes = unhex(&request.snapshot, "bad_snapshot", "snapshot")?;
    let snapshot: SealedSnapshot = decode_strict(&bytes).map_err(|e| bad_request("bad_snapshot", e))?;
    if snapshot.cluster != id {
        return Err(bad_request("bad_snapshot", format!("the snapshot is of {}, not of {id}", snapshot.cluster)));
    }
    let node = api.validator.node().lock().await;
    let state = node.read(&BTreeSet::from([StateKey::Cluster(id).to_bytes()])).await.map_err(internal)?;
    let info =
        state.cluster(id).map_err(internal)?.ok_or_else(|| not_found(format!("cluster {number} has not formed")))?;
    let signing = info.signing.filter(|_| info.epoch == snapshot.epoch).ok_or_else(|| {
        bad_request(
            "bad_snapshot",
            format!("the snapshot is of {}; the cluster's keys are of {}", snapshot.epoch, info.epoch),
        )
    })?;
    veil_crypto::verify_runtime_signature(&signing, &snapshot.signing_payload(&node.chain().id()), &snapshot.signature)
        .map_err(|_| bad_request("bad_snapshot", "the snapshot is not signed by the cluster's key"))?;
    drop(node);
    let mut stored = api.snapshots.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some(kept) = stored.get(&id)
        && (kept.epoch, kept.height) >= (snapshot.epoch, snapshot.height)
    {
        let message = format!("a snapshot of {} at height {} is stored", kept.epoch, kept.height);
        return Err(ApiError(StatusCode::CONFLICT, "not_newer", message));
    }
    stored.insert(id, snapshot);
    Ok(StatusCode::ACCEPTED)
}

/// The newest snapshot stored for a cluster.
#[utoipa::path(get, path = "/v1/snapshots/{cluster}", params(("cluster" = u32, Path, description = "the cluster's number")),
    responses((status = 200, description = "the newest sealed snapshot stored for the cluster", body = SnapshotView), (status = 400, description = "the request is malformed: `code` says which part", body = ErrorBody), (status = 404, description = "no snapshot is stored for the cluster", body = ErrorBody)))]
async fn get_snapshot(State(api): State<ApiState>, Path(number): Path<String>) -> Result<Json<SnapshotView>, ApiError> {
    let id = parse_cluster(&number)?;
    let stored = api.snapshots.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let snapshot = stored.get(&id).ok_or_else(|| not_found(format!("no snapshot of cluster {number} is stored")))?;
    Ok(Json(SnapshotView {
        cluster: id.0,
        epoch: snapshot.epoch.0,
        height: snapshot.height,
        snapshot: hex0x(snapshot.encode()),
    }))
}

#[utoipa::path(post, path = "/v1/transactions", request_body = SubmitRequest,
    responses((status = 202, description = "admitted to the pool: `pending` (its nonce is next) or `parked` (earlier nonces are missing)", body = SubmitResponse),
        (status = 400, description = "refused: malformed, too large, wrong chain, bad signature, a used nonce, too little balance, or a call that cannot apply; `message` says which", body = ErrorBody),
        (status = 409, description = "another transaction holds this account's nonce in the pool", body = ErrorBody), (status = 503, description = "the node cannot answer now (its store is busy or the height is pruned): retry", body = ErrorBody)))]
async fn submit(
    State(api): State<ApiState>,
    body: Result<Json<SubmitRequest>, axum::extract::rejection::JsonRejection>,
) -> Result<(StatusCode, Json<SubmitResponse>), ApiError> {
    let Json(request) = body.map_err(|rejection| bad_request("bad_request", rejection.body_text()))?;
    let bytes = unhex(&request.transaction, "bad_transaction", "transaction")?;
    let node = api.validator.node();
    let tx = node.lock().await.chain().decode_transaction(&bytes).map_err(|e| bad_request("bad_transaction", e))?;
    let hash = tx.hash();
    let admitted = node.submit(tx).await.map_err(|error| match &error {
        AdmissionError::AlreadyPending(_) | AdmissionError::NonceTaken { .. } => {
            ApiError(StatusCode::CONFLICT, "conflict", error.to_string())
        }
        AdmissionError::Full(_) => ApiError(StatusCode::SERVICE_UNAVAILABLE, "mempool_full", error.to_string()),
        _ => bad_request("rejected", error),
    })?;
    Ok((
        StatusCode::ACCEPTED,
        Json(SubmitResponse { hash: hash.to_string(), status: admitted_status(admitted).into() }),
    ))
}

fn admitted_status(admitted: Admitted) -> &'static str {
    match admitted {
        Admitted::Ready => "pending",
        Admitted::Parked => "parked",
        Admitted::Duplicate => "duplicate",
    }
}

/// Egress to submit.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct SubmitEgressRequest {
    /// The signed egress's SCALE encoding, `0x` hex.
    pub egress: String,
}

#[utoipa::path(post, path = "/v1/egress", request_body = SubmitEgressRequest,
    responses((status = 202, description = "`pending`, `parked`, or `duplicate` (an identical copy is pending or accepted: nothing to do, nothing charged)", body = SubmitResponse),
        (status = 400, description = "refused: malformed, too large, an unknown sender, a stale or old-epoch copy, a bad signature or a payload the chain does not take; `message` says which", body = ErrorBody), (status = 503, description = "the node cannot answer now (its store is busy or the height is pruned): retry", body = ErrorBody)))]
async fn submit_egress(
    State(api): State<ApiState>,
    body: Result<Json<SubmitEgressRequest>, axum::extract::rejection::JsonRejection>,
) -> Result<(StatusCode, Json<SubmitResponse>), ApiError> {
    let Json(request) = body.map_err(|rejection| bad_request("bad_request", rejection.body_text()))?;
    let bytes = unhex(&request.egress, "bad_egress", "egress")?;
    let node = api.validator.node();
    let copy = node.lock().await.chain().decode_egress(&bytes).map_err(|e| bad_request("bad_egress", e))?;
    let hash = copy.hash();
    let admitted = node.submit_egress(copy).await.map_err(|error| match &error {
        EgressAdmissionError::Full(_) => ApiError(StatusCode::SERVICE_UNAVAILABLE, "mempool_full", error.to_string()),
        _ => bad_request("rejected", error),
    })?;
    Ok((
        StatusCode::ACCEPTED,
        Json(SubmitResponse { hash: hash.to_string(), status: admitted_status(admitted).into() }),
    ))
}

/// A registered off-chain sender.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct SenderView {
    /// The sender, as `kind:id`.
    pub sender: String,
    /// Its ed25519 key, `0x` hex.
    pub key: String,
    /// Its current key epoch.
    pub epoch: u32,
    /// The sequence number its next accepted egress must carry.
    pub next_sequence: u64,
    /// The finalized height this describes.
    pub height: u64,
}

#[utoipa::path(get, path = "/v1/senders/{sender}", params(("sender" = String, Path, description = "the sender: worker:0x<key>, gatekeeper:0x<key>, contract:0x<id>, cluster:<number> or gatekeepers")),
    responses((status = 200, description = "the sender's key, epoch and next sequence number", body = SenderView), (status = 400, description = "the request is malformed: `code` says which part", body = ErrorBody), (status = 404, description = "the sender is not registered", body = ErrorBody)))]
async fn sender(State(api): State<ApiState>, Path(sender): Path<String>) -> Result<Json<SenderView>, ApiError> {
    let sender = SenderId::from_str(&sender).map_err(|e| bad_request("bad_sender", e))?;
    let node = api.validator.node().lock().await;
    let snapshot = node.read(&BTreeSet::from([StateKey::Sender(sender).to_bytes()])).await.map_err(internal)?;
    let info = snapshot
        .sender(&sender)
        .map_err(internal)?
        .ok_or_else(|| not_found(format!("sender {sender} is not registered")))?;
    Ok(Json(SenderView {
        sender: sender.to_string(),
        key: hex0x(info.key),
        epoch: info.epoch.0,
        next_sequence: info.next_sequence,
        height: node.finalized_header().height,
    }))
}

/// A registered worker.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct WorkerView {
    /// Its ed25519 signing key, `0x` hex.
    pub worker: String,
    /// Its operator's SS58 address.
    pub operator: String,
    /// Its X25519 key, `0x` hex.
    pub agreement_key: String,
    /// `sgx`, `tdx`, or `software (insecure)`.
    pub tee: String,
    /// Its measurement (none for software workers).
    #[schema(value_type = Object)]
    pub measurement: Option<serde_json::Value>,
    /// When its registration lapses, milliseconds since the Unix epoch.
    pub expires_at_ms: u64,
    /// The same, RFC 3339.
    pub expires: String,
    /// Whether it is registered at the latest finalized block's time.
    pub active: bool,
    /// The finalized height this describes.
    pub height: u64,
}

#[utoipa::path(get, path = "/v1/workers/{key}", params(("key" = String, Path, description = "the worker's signing key: 0x and 64 hex digits")),
    responses((status = 200, description = "the worker's registration", body = WorkerView), (status = 400, description = "the request is malformed: `code` says which part", body = ErrorBody), (status = 404, description = "no worker is registered under this key", body = ErrorBody)))]
async fn worker(State(api): State<ApiState>, Path(key): Path<String>) -> Result<Json<WorkerView>, ApiError> {
    let key =
        parse_hash(&key).map_err(|_| bad_request("bad_worker", "a worker is its 0x signing key (64 hex digits)"))?.0;
    let node = api.validator.node().lock().await;
    let snapshot = node.read(&BTreeSet::from([StateKey::Worker(key).to_bytes()])).await.map_err(internal)?;
    let info = snapshot
        .worker(&key)
        .map_err(internal)?
        .ok_or_else(|| not_found(format!("worker {} is not registered", hex0x(key))))?;
    let header = node.finalized_header();
    Ok(Json(WorkerView {
        worker: hex0x(key),
        operator: info.operator.to_string(),
        agreement_key: hex0x(info.agreement_key),
        tee: info.tee.map_or_else(|| "software (insecure)".to_owned(), |kind| kind.to_string()),
        measurement: info.measurement.and_then(|m| serde_json::to_value(m).ok()),
        expires_at_ms: info.expires_at_ms,
        expires: veil_attestation::time::format_rfc3339(info.expires_at_ms / 1_000),
        active: header.timestamp_ms < info.expires_at_ms,
        height: header.height,
    }))
}

/// The most messages one answer carries.
pub const MAX_MESSAGES_PER_ANSWER: u64 = 10_000;

/// Where to start reading a topic.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TopicQuery {
    /// The index of the first message wanted (the length of the log the reader has verified).
    #[serde(default)]
    pub from: u64,
    /// The finalized height to prove against (the newest when left out); recent heights only.
    pub height: Option<u64>,
}

/// A topic's messages from an index to the length certified by a finalized header, with everything
/// a light client needs to verify them without trusting this node.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct TopicMessagesView {
    /// The topic.
    pub topic: String,
    /// The index of the first message.
    pub from: u64,
    /// The log's length in the header: `from` plus the number of messages.
    pub length: u64,
    /// The finalized header's height.
    pub height: u64,
    /// The header's SCALE encoding, `0x` hex.
    pub header: String,
    /// The finalization certificate of that header, `0x` hex.
    pub finalization: String,
    /// The topic proof (slot, length, siblings), SCALE, `0x` hex.
    pub proof: String,
    /// The messages, each its SCALE encoding, `0x` hex, in log order.
    pub messages: Vec<String>,
}

#[utoipa::path(get, path = "/v1/topics/{topic}/messages",
    params(("topic" = String, Path, description = "the topic: registrations, assignments, key-epochs, deposits, contract-code, discrepancies, releases, heartbeats, parameters, or contract:0x<id>"), TopicQuery),
    responses((status = 200, description = "the topic's messages from `from` with a proof of completeness against a certified header", body = TopicMessagesView), (status = 400, description = "the request is malformed: `code` says which part", body = ErrorBody), (status = 404, description = "the topic has no message at this height", body = ErrorBody), (status = 503, description = "the node cannot answer now (its store is busy or the height is pruned): retry", body = ErrorBody)))]
async fn topic_messages(
    State(api): State<ApiState>,
    Path(topic): Path<String>,
    query: Result<Query<TopicQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<TopicMessagesView>, ApiError> {
    let Query(query) = query.map_err(|rejection| bad_request("bad_request", rejection.body_text()))?;
    let topic = Topic::from_str(&topic).map_err(|e| bad_request("bad_topic", e))?;
    let answer = api
        .validator
        .node()
        .lock()
        .await
        .topic_messages(&topic, query.from, MAX_MESSAGES_PER_ANSWER, query.height)
        .await
        .map_err(|e| bad_request("bad_range", e))?
        .ok_or_else(|| not_found(format!("topic {topic} has no messages at this height")))?;
    let height = answer.height;
    let (block, finalization) = certified(&api, height).await?;
    Ok(Json(TopicMessagesView {
        topic: topic.to_string(),
        from: query.from,
        length: answer.proof.length,
        height,
        header: hex0x(block.header.encode()),
        finalization: hex0x(finalization),
        proof: hex0x(answer.proof.encode()),
        messages: answer.messages.iter().map(|message| hex0x(message.encode())).collect(),
    }))
}

#[utoipa::path(get, path = "/v1/transactions/{hash}", params(("hash" = String, Path, description = "the transaction's hash: 0x and 64 hex digits")),
    responses((status = 200, description = "pending, or finalized at a height and position", body = TransactionStatusView), (status = 400, description = "the request is malformed: `code` says which part", body = ErrorBody), (status = 404, description = "the node knows no such transaction", body = ErrorBody)))]
async fn transaction(
    State(api): State<ApiState>,
    Path(hash): Path<String>,
) -> Result<Json<TransactionStatusView>, ApiError> {
    let hash = parse_hash(&hash)?;
    let status = api.validator.node().lock().await.transaction_status(&hash);
    let (status, height, index) = match status {
        TransactionStatus::Pending => ("pending", None, None),
        TransactionStatus::Finalized { height, index } => ("finalized", Some(height), Some(index)),
        TransactionStatus::Unknown => return Err(not_found(format!("transaction {hash} is unknown here"))),
    };
    Ok(Json(TransactionStatusView { hash: hash.to_string(), status: status.into(), height, index }))
}

#[utoipa::path(get, path = "/v1/blocks/latest",
    responses((status = 200, description = "the newest finalized block with its finalization certificate", body = CertifiedBlock), (status = 404, description = "no block is finalized yet", body = ErrorBody)))]
async fn latest_block(State(api): State<ApiState>) -> Result<Json<CertifiedBlock>, ApiError> {
    let height = api.validator.node().lock().await.finalized_header().height;
    let (block, finalization) =
        api.validator.certified_block(height).await.ok_or_else(|| not_found("no certified block yet"))?;
    Ok(Json(CertifiedBlock { block: BlockView::from_block(&block), finalization: hex0x(finalization) }))
}

#[utoipa::path(get, path = "/v1/blocks/{height}", params(("height" = u64, Path, description = "the block's height")),
    responses((status = 200, description = "the finalized block at this height", body = BlockView), (status = 400, description = "the request is malformed: `code` says which part", body = ErrorBody), (status = 404, description = "no finalized block at this height", body = ErrorBody)))]
async fn block_by_height(State(api): State<ApiState>, Path(height): Path<String>) -> Result<Json<BlockView>, ApiError> {
    let height: u64 = height.parse().map_err(|_| bad_request("bad_height", "a height is a whole number"))?;
    let block =
        api.validator.block(height).await.ok_or_else(|| not_found(format!("no finalized block at height {height}")))?;
    Ok(Json(BlockView::from_block(&block)))
}

#[utoipa::path(get, path = "/v1/blocks/hash/{hash}", params(("hash" = String, Path, description = "the block header's hash: 0x and 64 hex digits")),
    responses((status = 200, description = "the finalized block with this hash", body = BlockView), (status = 400, description = "the request is malformed: `code` says which part", body = ErrorBody), (status = 404, description = "no finalized block has this hash", body = ErrorBody)))]
async fn block_by_hash(State(api): State<ApiState>, Path(hash): Path<String>) -> Result<Json<BlockView>, ApiError> {
    let hash = parse_hash(&hash)?;
    let block =
        api.validator.block_by_hash(&hash).await.ok_or_else(|| not_found(format!("no finalized block {hash}")))?;
    Ok(Json(BlockView::from_block(&block)))
}

#[utoipa::path(get, path = "/v1/accounts/{address}", params(("address" = String, Path, description = "the account's SS58 address")),
    responses((status = 200, description = "the account's nonce and balance at the newest finalized block", body = AccountView), (status = 400, description = "the request is malformed: `code` says which part", body = ErrorBody)))]
async fn account(State(api): State<ApiState>, Path(address): Path<String>) -> Result<Json<AccountView>, ApiError> {
    let account = AccountId::from_str(&address).map_err(|e| bad_request("bad_address", format!("{address}: {e}")))?;
    let key = StateKey::Account(account).to_bytes();
    let (snapshot, proof, header) = read_proven(&api, key).await?;
    let info = snapshot.account(&account).map_err(internal)?;
    Ok(Json(AccountView {
        address: account.to_string(),
        nonce: info.nonce,
        balance: info.balance.to_string(),
        balance_units: info.balance.0.to_string(),
        state_root: header.state_root.to_string(),
        height: header.height,
        block_hash: header.hash().to_string(),
        proof: ProofView::from(proof),
    }))
}

/// The finalized block at `height` with its certificate; `503` while the certificate is not stored
/// (the genesis block has none, so a new chain answers `503` until its first block is final).
async fn certified(api: &ApiState, height: u64) -> Result<(Block, Vec<u8>), ApiError> {
    api.validator.certified_block(height).await.ok_or_else(|| {
        let message = format!("the certificate of block {height} is not stored yet; retry");
        ApiError(StatusCode::SERVICE_UNAVAILABLE, "not_ready", message)
    })
}

/// Reads `key` from the committed state with its proof, and the finalized header whose state root
/// the proof is against: under one lock, so all three describe the same committed state.
async fn read_proven(api: &ApiState, key: Vec<u8>) -> Result<(veil_chain::Snapshot, StateProof, Header), ApiError> {
    let node = api.validator.node().lock().await;
    let snapshot = node.read(&BTreeSet::from([key.clone()])).await.map_err(internal)?;
    let proof = node.prove(&key).await.map_err(internal)?;
    Ok((snapshot, proof, node.finalized_header().clone()))
}

impl From<StateProof> for ProofView {
    fn from(proof: StateProof) -> Self {
        match proof {
            StateProof::Inclusion { value, proof } => {
                Self { kind: "inclusion".into(), value: Some(hex0x(value)), proof: hex0x(proof) }
            }
            StateProof::Exclusion { proof } => Self { kind: "exclusion".into(), value: None, proof: hex0x(proof) },
        }
    }
}

/// A state key's value (or absence) with everything a light client needs to check it without
/// trusting this node: the proof, the finalized header whose state root it is against, and that
/// header's finalization certificate.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ProvenStateView {
    /// The state key's SCALE encoding, `0x` hex.
    pub key: String,
    /// The finalized header's height.
    pub height: u64,
    /// The header's SCALE encoding, `0x` hex.
    pub header: String,
    /// The finalization certificate of that header, `0x` hex.
    pub finalization: String,
    /// The proof (its `value` is the SCALE-encoded state value, for inclusion).
    pub proof: ProofView,
}

#[utoipa::path(get, path = "/v1/state/{key}", params(("key" = String, Path, description = "the state key's SCALE encoding, 0x hex")),
    responses((status = 200, description = "the value (or its absence) with a proof against a certified header", body = ProvenStateView), (status = 400, description = "the request is malformed: `code` says which part", body = ErrorBody), (status = 503, description = "the node cannot answer now (its store is busy or the height is pruned): retry", body = ErrorBody)))]
async fn proven_state(State(api): State<ApiState>, Path(key): Path<String>) -> Result<Json<ProvenStateView>, ApiError> {
    let bytes = hex::decode(key.trim_start_matches("0x"))
        .map_err(|_| bad_request("bad_key", "a state key is the 0x hex of its SCALE encoding"))?;
    decode_strict::<StateKey>(&bytes)
        .map_err(|e| bad_request("bad_key", format!("{key} is not the SCALE encoding of a state key: {e}")))?;
    let (_, proof, header) = read_proven(&api, bytes.clone()).await?;
    let height = header.height;
    let (_, finalization) = certified(&api, height).await?;
    Ok(Json(ProvenStateView {
        key: hex0x(&bytes),
        height,
        header: hex0x(header.encode()),
        finalization: hex0x(finalization),
        proof: ProofView::from(proof),
    }))
}

/// A finalized block as streamed: its summary.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct StreamedBlock {
    /// Its hash.
    pub hash: String,
    /// Its height.
    pub height: u64,
    /// Its timestamp.
    pub timestamp_ms: u64,
    /// Its transactions' hashes.
    pub transactions: Vec<String>,
}

#[utoipa::path(get, path = "/v1/stream/blocks", responses((status = 200, description = "Server-Sent Events: one `block` event per finalized block, data is a StreamedBlock")))]
async fn stream_blocks(State(api): State<ApiState>) -> Sse<impl futures::Stream<Item = Result<Event, Infallible>>> {
    let receiver = api.validator.node().subscribe().await;
    let events = receiver.map(|finalized| {
        let summary = StreamedBlock {
            hash: finalized.hash.to_string(),
            height: finalized.block.header.height,
            timestamp_ms: finalized.block.header.timestamp_ms,
            transactions: finalized.block.transactions.iter().map(|tx| tx.hash().to_string()).collect(),
        };
        Ok(Event::default().event("block").data(serde_json::to_string(&summary).unwrap_or_default()))
    });
    Sse::new(events).keep_alive(KeepAlive::default())
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
        .route("/v1/chain", get(chain_info))
        .route("/v1/transactions", post(submit))
        .route("/v1/transactions/{hash}", get(transaction))
        .route("/v1/blocks/latest", get(latest_block))
        .route("/v1/blocks/{height}", get(block_by_height))
        .route("/v1/blocks/hash/{hash}", get(block_by_hash))
        .route("/v1/accounts/{address}", get(account))
        .route("/v1/state/{key}", get(proven_state))
        .route("/v1/egress", post(submit_egress))
        .route("/v1/senders/{sender}", get(sender))
        .route("/v1/workers/{key}", get(worker))
        .route("/v1/contracts/{contract}", get(contract))
        .route("/v1/contracts/{contract}/module", get(contract_module))
        .route("/v1/clusters/{cluster}", get(cluster))
        .route(
            "/v1/snapshots/{cluster}",
            get(get_snapshot).put(put_snapshot).layer(DefaultBodyLimit::max(2 * MAX_SNAPSHOT_BYTES + 1024)),
        )
        .route("/v1/topics/{topic}/messages", get(topic_messages))
        .route("/v1/stream/blocks", get(stream_blocks))
        .route("/openapi.json", get(openapi))
        .route("/metrics", get(metrics))
        .route("/health", get(health))
        .fallback(fallback)
        .with_state(state)
}
