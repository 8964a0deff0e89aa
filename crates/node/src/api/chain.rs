//! The chain's resources: its identity and issuance, blocks (certified), transactions (submitted and
//! looked up), accounts, proven state and the stream of finalized blocks.

use super::*;

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
    let height: u64 = height.parse().map_err(|_| bad_request("bad_height", "a height is a whole number"))?;
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
pub(super) async fn certified(api: &ApiState, height: u64) -> Result<(Block, Vec<u8>), ApiError> {
    api.validator.certified_block(height).await.ok_or_else(|| {
        let message = format!("the certificate of block {height} is not stored yet; retry");
        ApiError(StatusCode::SERVICE_UNAVAILABLE, "not_ready", message)
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
pub(super) async fn proven_state(
    State(api): State<ApiState>,
    Path(key): Path<String>,
) -> Result<Json<ProvenStateView>, ApiError> {
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
pub(super) async fn stream_blocks(
    State(api): State<ApiState>,
) -> Sse<impl futures::Stream<Item = Result<Event, Infallible>>> {
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
