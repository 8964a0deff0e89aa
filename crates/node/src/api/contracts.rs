//! Contracts and clusters: a contract's record and its module, a cluster's workers and their
//! liveness, and the sealed snapshots a replacement worker starts from.

use super::*;

#[utoipa::path(get, path = "/v1/contracts/{contract}", params(("contract" = String, Path, description = "the contract's id: 0x and 64 hex digits")),
    responses((status = 200, description = "the contract's record at the newest finalized block", body = ContractView), (status = 400, description = "the request is malformed: `code` says which part", body = ErrorBody), (status = 404, description = "no such contract", body = ErrorBody)))]
pub(super) async fn contract(
    State(api): State<ApiState>,
    Path(id): Path<String>,
) -> Result<Json<ContractView>, ApiError> {
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

pub(super) fn parse_contract(id: &str) -> Result<ContractId, ApiError> {
    let hash =
        parse_hash(id).map_err(|_| bad_request(ErrorCode::BadContract, "a contract is its 0x id (64 hex digits)"))?;
    Ok(ContractId(hash.0))
}

/// The node's state, locked.
pub(super) type NodeGuard<'a> = futures::lock::MutexGuard<'a, NodeState<QmdbState<Context>>>;

/// A contract's record at the newest finalized block.
pub(super) async fn contract_record(node: &NodeGuard<'_>, id: ContractId) -> Result<ContractInfo, ApiError> {
    let snapshot = node.read(&BTreeSet::from([StateKey::Contract(id).to_bytes()])).await.map_err(internal)?;
    snapshot
        .contract(&id)
        .map_err(internal)?
        .ok_or_else(|| not_found(format!("contract {} does not exist", hex0x(id.0))))
}

#[utoipa::path(get, path = "/v1/contracts/{contract}/module", params(("contract" = String, Path, description = "the contract's id: 0x and 64 hex digits")),
    responses((status = 200, description = "the contract's wasm module and its interface", body = ContractModuleView), (status = 400, description = "the request is malformed: `code` says which part", body = ErrorBody), (status = 404, description = "no such contract, or a contract built into the runtime (it has no module)", body = ErrorBody)))]
pub(super) async fn contract_module(
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
pub(super) async fn cluster(
    State(api): State<ApiState>,
    Path(number): Path<String>,
) -> Result<Json<ClusterView>, ApiError> {
    let id = parse_cluster(&number)?;
    let node = api.validator.node().lock().await;
    let snapshot = node.read(&BTreeSet::from([StateKey::Cluster(id).to_bytes()])).await.map_err(internal)?;
    let info =
        snapshot.cluster(id).map_err(internal)?.ok_or_else(|| not_found(format!("cluster {number} has not formed")))?;
    let mut keys: BTreeSet<Vec<u8>> = info.workers.iter().map(|worker| StateKey::Worker(*worker).to_bytes()).collect();
    keys.insert(StateKey::Parameters.to_bytes());
    keys.insert(StateKey::Epochs.to_bytes());
    let records = node.read(&keys).await.map_err(internal)?;
    let header = node.finalized_header();
    let window_ms = records.parameters().map_err(internal)?.liveness.offline_after_ms;
    let epochs = records.epochs().map_err(internal)?;
    let (current, stalled_ms) = (epochs.current.map(|opening| opening.epoch), epochs.stalled_ms);
    let mut workers = Vec::new();
    for worker in info.workers.iter() {
        let record = records.worker(worker).map_err(internal)?;
        workers.push(ClusterMemberView {
            worker: hex0x(worker),
            last_seen_ms: record.as_ref().map_or(0, |record| record.last_seen_ms),
            unfit: match &record {
                Some(record) => {
                    record.unfit(header.timestamp_ms, window_ms, stalled_ms, current).map(|unfit| unfit.to_string())
                }
                None => Some("it is not registered".to_owned()),
            },
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

pub(super) fn parse_cluster(number: &str) -> Result<ClusterId, ApiError> {
    Ok(ClusterId(number.parse().map_err(|_| bad_request(ErrorCode::BadCluster, "a cluster is its number"))?))
}

/// Stores a cluster's snapshot if the cluster's signing key of its current epoch signed it and it
/// is newer than the one stored. The node cannot read it; it only keeps it for a replacement.
#[utoipa::path(put, path = "/v1/snapshots/{cluster}", request_body = SnapshotBody,
    params(("cluster" = u32, Path, description = "the cluster's number")),
    responses((status = 202, description = "stored"), (status = 400, description = "the request is malformed: `code` says which part", body = ErrorBody), (status = 404, description = "the cluster has not formed", body = ErrorBody),
        (status = 409, description = "a snapshot as new or newer is stored", body = ErrorBody)))]
pub(super) async fn put_snapshot(
    State(api): State<ApiState>,
    Path(number): Path<String>,
    body: Result<Json<SnapshotBody>, axum::extract::rejection::JsonRejection>,
) -> Result<StatusCode, ApiError> {
    let id = parse_cluster(&number)?;
    let Json(request) = body.map_err(|rejection| bad_request(ErrorCode::BadRequest, rejection.body_text()))?;
    let bytes = unhex(&request.snapshot, ErrorCode::BadSnapshot, "snapshot")?;
    let snapshot: SealedSnapshot = decode_strict(&bytes).map_err(|e| bad_request(ErrorCode::BadSnapshot, e))?;
    if snapshot.cluster != id {
        return Err(bad_request(
            ErrorCode::BadSnapshot,
            format!("the snapshot is of {}, not of {id}", snapshot.cluster),
        ));
    }
    let node = api.validator.node().lock().await;
    let state = node.read(&BTreeSet::from([StateKey::Cluster(id).to_bytes()])).await.map_err(internal)?;
    let info =
        state.cluster(id).map_err(internal)?.ok_or_else(|| not_found(format!("cluster {number} has not formed")))?;
    let signing = info.signing.filter(|_| info.epoch == snapshot.epoch).ok_or_else(|| {
        bad_request(
            ErrorCode::BadSnapshot,
            format!("the snapshot is of {}; the cluster's keys are of {}", snapshot.epoch, info.epoch),
        )
    })?;
    veil_crypto::verify_runtime_signature(&signing, &snapshot.signing_payload(&node.chain().id()), &snapshot.signature)
        .map_err(|_| bad_request(ErrorCode::BadSnapshot, "the snapshot is not signed by the cluster's key"))?;
    drop(node);
    match api.snapshots.put(snapshot) {
        Ok(()) => Ok(StatusCode::ACCEPTED),
        Err(error @ SnapshotStoreError::NotNewer { .. }) => Err(ApiError(ErrorCode::NotNewer, error.to_string())),
        Err(error @ SnapshotStoreError::Io { .. }) => Err(internal(error)),
    }
}

/// The newest snapshot stored for a cluster.
#[utoipa::path(get, path = "/v1/snapshots/{cluster}", params(("cluster" = u32, Path, description = "the cluster's number")),
    responses((status = 200, description = "the newest sealed snapshot stored for the cluster", body = SnapshotView), (status = 400, description = "the request is malformed: `code` says which part", body = ErrorBody), (status = 404, description = "no snapshot is stored for the cluster", body = ErrorBody)))]
pub(super) async fn get_snapshot(
    State(api): State<ApiState>,
    Path(number): Path<String>,
) -> Result<Json<SnapshotView>, ApiError> {
    let id = parse_cluster(&number)?;
    let snapshot =
        api.snapshots.get(id).ok_or_else(|| not_found(format!("no snapshot of cluster {number} is stored")))?;
    Ok(Json(SnapshotView {
        cluster: id.0,
        epoch: snapshot.epoch.0,
        height: snapshot.height,
        snapshot: hex0x(snapshot.encode()),
    }))
}
