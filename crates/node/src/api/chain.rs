//! The chain's resources: its identity and issuance, blocks (certified), transactions (submitted and
//! looked up), accounts, proven state and the stream of finalized blocks.

use super::*;

#[utoipa::path(get, path = "/v1/chain",
    responses((status = 200, description = "the chain's identity, its newest finalized height and its issuance", body = ChainInfo)))]
pub(super) async fn chain_info(State(api): State<ApiState>) -> Result<Json<ChainInfo>, ApiError> {
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

#[utoipa::path(post, path = "/v1/transactions", request_body = SubmitRequest,
    responses((status = 202, description = "admitted to the pool: `pending` (its nonce is next) or `parked` (earlier nonces are missing)", body = SubmitResponse),
        (status = 400, description = "refused: malformed, too large, wrong chain, bad signature, a used nonce, too little balance, or a call that cannot apply; `message` says which", body = ErrorBody),
        (status = 409, description = "another transaction holds this account's nonce in the pool", body = ErrorBody), (status = 503, description = "the node cannot answer now (its store is busy or the height is pruned): retry", body = ErrorBody)))]
pub(super) async fn submit(
    State(api): State<ApiState>,
    body: Result<Json<SubmitRequest>, axum::extract::rejection::JsonRejection>,
) -> Result<(StatusCode, Json<SubmitResponse>), ApiError> {
    let Json(request) = body.map_err(|rejection| bad_request(ErrorCode::BadRequest, rejection.body_text()))?;
    let bytes = unhex(&request.transaction, ErrorCode::BadTransaction, "transaction")?;
    let node = api.validator.node();
    let tx =
        node.lock().await.chain().decode_transaction(&bytes).map_err(|e| bad_request(ErrorCode::BadTransaction, e))?;
    let hash = tx.hash();
    let admitted = node.submit(tx).await.map_err(|error| match &error {
        AdmissionError::AlreadyPending(_) | AdmissionError::NonceTaken { .. } => {
            ApiError(ErrorCode::Conflict, error.to_string())
        }
        AdmissionError::Full(_) => ApiError(ErrorCode::MempoolFull, error.to_string()),
        _ => bad_request(ErrorCode::Rejected, error),
    })?;
    Ok((
        StatusCode::ACCEPTED,
        Json(SubmitResponse { hash: hash.to_string(), status: admitted_status(admitted).into() }),
    ))
}

pub(super) fn admitted_status(admitted: Admitted) -> &'static str {
    match admitted {
        Admitted::Ready => "pending",
        Admitted::Parked => "parked",
        Admitted::Duplicate => "duplicate",
    }
}

#[utoipa::path(get, path = "/v1/transactions/{hash}", params(("hash" = String, Path, description = "the transaction's hash: 0x and 64 hex digits")),
    responses((status = 200, description = "pending, or finalized at a height and position", body = TransactionStatusView), (status = 400, description = "the request is malformed: `code` says which part", body = ErrorBody), (status = 404, description = "the node knows no such transaction", body = ErrorBody)))]
pub(super) async fn transaction(
    State(api): State<ApiState>,
    Path(hash): Path<String>,
) -> Result<Json<TransactionStatusView>, ApiError> {
    let hash = parse_hash(&hash)?;
    let status = api.validator.node().lock().await.transaction_status(&hash).await.map_err(internal)?;
    let (status, height, index) = match status {
        TransactionStatus::Pending => ("pending", None, None),
        TransactionStatus::Finalized { height, index } => ("finalized", Some(height), Some(index)),
        TransactionStatus::Unknown => return Err(not_found(format!("transaction {hash} is unknown here"))),
    };
    Ok(Json(TransactionStatusView { hash: hash.to_string(), status: status.into(), height, index }))
}

#[utoipa::path(get, path = "/v1/blocks/latest",
    responses((status = 200, description = "the newest finalized block with its finalization certificate", body = CertifiedBlock), (status = 404, description = "no block is finalized yet", body = ErrorBody)))]
pub(super) async fn latest_block(State(api): State<ApiState>) -> Result<Json<CertifiedBlock>, ApiError> {
    let height = api.validator.node().lock().await.finalized_header().height;
    let (block, finalization) =
        api.validator.certified_block(height).await.ok_or_else(|| not_found("no certified block yet"))?;
    Ok(Json(CertifiedBlock { block: BlockView::from_block(&block), finalization: hex0x(finalization) }))
}

#[utoipa::path(get, path = "/v1/blocks/{height}", params(("height" = u64, Path, description = "the block's height")),
    responses((status = 200, description = "the finalized block at this height", body = BlockView), (status = 400, description = "the request is malformed: `code` says which part", body = ErrorBody), (status = 404, description = "no finalized block at this height", body = ErrorBody)))]
pub(super) async fn block_by_height(
    State(api): State<ApiState>,
    Path(height): Path<String>,
) -> Result<Json<BlockView>, ApiError> {
    let height: u64 = height.parse().map_err(|_| bad_request(ErrorCode::BadHeight, "a height is a whole number"))?;
    let block =
        api.validator.block(height).await.ok_or_else(|| not_found(format!("no finalized block at height {height}")))?;
    Ok(Json(BlockView::from_block(&block)))
}

#[utoipa::path(get, path = "/v1/blocks/hash/{hash}", params(("hash" = String, Path, description = "the block header's hash: 0x and 64 hex digits")),
    responses((status = 200, description = "the finalized block with this hash", body = BlockView), (status = 400, description = "the request is malformed: `code` says which part", body = ErrorBody), (status = 404, description = "no finalized block has this hash", body = ErrorBody)))]
pub(super) async fn block_by_hash(
    State(api): State<ApiState>,
    Path(hash): Path<String>,
) -> Result<Json<BlockView>, ApiError> {
    let hash = parse_hash(&hash)?;
    let block =
        api.validator.block_by_hash(&hash).await.ok_or_else(|| not_found(format!("no finalized block {hash}")))?;
    Ok(Json(BlockView::from_block(&block)))
}

#[utoipa::path(get, path = "/v1/accounts/{address}", params(("address" = String, Path, description = "the account's SS58 address")),
    responses((status = 200, description = "the account's nonce and balance at the newest finalized block", body = AccountView), (status = 400, description = "the request is malformed: `code` says which part", body = ErrorBody)))]
pub(super) async fn account(
    State(api): State<ApiState>,
    Path(address): Path<String>,
) -> Result<Json<AccountView>, ApiError> {
    let account =
        AccountId::from_str(&address).map_err(|e| bad_request(ErrorCode::BadAddress, format!("{address}: {e}")))?;
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
        proof: proof_view(proof),
    }))
}

/// The finalized block at `height` with its certificate; `503` while the certificate is not stored
/// (the genesis block has none, so a new chain answers `503` until its first block is final).
pub(super) async fn certified(api: &ApiState, height: u64) -> Result<(Block, Vec<u8>), ApiError> {
    api.validator.certified_block(height).await.ok_or_else(|| {
        let message = format!("the certificate of block {height} is not stored yet; retry");
        ApiError(ErrorCode::NotReady, message)
    })
}

/// Reads `key` from the committed state with its proof, and the finalized header whose state root
/// the proof is against: under one lock, so all three describe the same committed state.
pub(super) async fn read_proven(
    api: &ApiState,
    key: Vec<u8>,
) -> Result<(veil_chain::Snapshot, StateProof, Header), ApiError> {
    let node = api.validator.node().lock().await;
    let snapshot = node.read(&BTreeSet::from([key.clone()])).await.map_err(internal)?;
    let proof = node.prove(&key).await.map_err(internal)?;
    Ok((snapshot, proof, node.finalized_header().clone()))
}

/// A state proof as the API shows it.
fn proof_view(proof: StateProof) -> ProofView {
    match proof {
        StateProof::Inclusion { value, proof } => {
            ProofView { kind: "inclusion".into(), value: Some(hex0x(value)), proof: hex0x(proof) }
        }
        StateProof::Exclusion { proof } => ProofView { kind: "exclusion".into(), value: None, proof: hex0x(proof) },
    }
}

#[utoipa::path(get, path = "/v1/state/{key}", params(("key" = String, Path, description = "the state key's SCALE encoding, 0x hex")),
    responses((status = 200, description = "the value (or its absence) with a proof against a certified header", body = ProvenStateView), (status = 400, description = "the request is malformed: `code` says which part", body = ErrorBody), (status = 503, description = "the node cannot answer now (its store is busy or the height is pruned): retry", body = ErrorBody)))]
pub(super) async fn proven_state(
    State(api): State<ApiState>,
    Path(key): Path<String>,
) -> Result<Json<ProvenStateView>, ApiError> {
    let bytes = hex::decode(key.trim_start_matches("0x"))
        .map_err(|_| bad_request(ErrorCode::BadKey, "a state key is the 0x hex of its SCALE encoding"))?;
    decode_strict::<StateKey>(&bytes)
        .map_err(|e| bad_request(ErrorCode::BadKey, format!("{key} is not the SCALE encoding of a state key: {e}")))?;
    let (_, proof, header) = read_proven(&api, bytes.clone()).await?;
    let height = header.height;
    let (_, finalization) = certified(&api, height).await?;
    Ok(Json(ProvenStateView {
        key: hex0x(&bytes),
        height,
        header: hex0x(header.encode()),
        finalization: hex0x(finalization),
        proof: proof_view(proof),
    }))
}

#[utoipa::path(get, path = "/v1/stream/blocks", responses((status = 200, description = "Server-Sent Events: one `block` event per finalized block, data is a StreamedBlock")))]
pub(super) async fn stream_blocks(
    State(api): State<ApiState>,
) -> Result<Sse<impl futures::Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let Some(receiver) = api.validator.node().subscribe().await else {
        let message = format!(
            "{} block streams are open, the most this node serves; retry later",
            veil_consensus::application::MAX_SUBSCRIBERS
        );
        return Err(ApiError(ErrorCode::Busy, message));
    };
    let events = receiver.map(|finalized| {
        let summary = StreamedBlock {
            hash: finalized.hash.to_string(),
            height: finalized.block.header.height,
            timestamp_ms: finalized.block.header.timestamp_ms,
            transactions: finalized.block.transactions.iter().map(|tx| tx.hash().to_string()).collect(),
        };
        Ok(Event::default().event("block").data(serde_json::to_string(&summary).unwrap_or_default()))
    });
    Ok(Sse::new(events).keep_alive(KeepAlive::default()))
}
