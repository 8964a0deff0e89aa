//! The message queue and its senders: topics' messages with proofs, egress submission, registered
//! senders and workers.

use super::*;

#[utoipa::path(post, path = "/v1/egress", request_body = SubmitEgressRequest,
    responses((status = 202, description = "`pending`, `parked`, or `duplicate` (an identical copy is pending or accepted: nothing to do, nothing charged)", body = SubmitResponse),
        (status = 400, description = "refused: malformed, too large, an unknown sender, a stale or old-epoch copy, a bad signature or a payload the chain does not take; `message` says which", body = ErrorBody), (status = 503, description = "the node cannot answer now (its store is busy or the height is pruned): retry", body = ErrorBody)))]
pub(super) async fn submit_egress(
    State(api): State<ApiState>,
    body: Result<Json<SubmitEgressRequest>, axum::extract::rejection::JsonRejection>,
) -> Result<(StatusCode, Json<SubmitResponse>), ApiError> {
    let Json(request) = body.map_err(|rejection| bad_request(ErrorCode::BadRequest, rejection.body_text()))?;
    let bytes = unhex(&request.egress, ErrorCode::BadEgress, "egress")?;
    let node = api.validator.node();
    let copy = node.lock().await.chain().decode_egress(&bytes).map_err(|e| bad_request(ErrorCode::BadEgress, e))?;
    let hash = copy.hash();
    let admitted = node.submit_egress(copy).await.map_err(|error| match &error {
        EgressAdmissionError::Full(_) => ApiError(ErrorCode::MempoolFull, error.to_string()),
        _ => bad_request(ErrorCode::Rejected, error),
    })?;
    Ok((
        StatusCode::ACCEPTED,
        Json(SubmitResponse { hash: hash.to_string(), status: admitted_status(admitted).into() }),
    ))
}

#[utoipa::path(get, path = "/v1/senders/{sender}", params(("sender" = String, Path, description = "the sender: worker:0x<key>, gatekeeper:0x<key>, contract:0x<id>, cluster:<number> or gatekeepers")),
    responses((status = 200, description = "the sender's key, epoch and next sequence number", body = SenderView), (status = 400, description = "the request is malformed: `code` says which part", body = ErrorBody), (status = 404, description = "the sender is not registered", body = ErrorBody)))]
pub(super) async fn sender(
    State(api): State<ApiState>,
    Path(sender): Path<String>,
) -> Result<Json<SenderView>, ApiError> {
    let sender = SenderId::from_str(&sender).map_err(|e| bad_request(ErrorCode::BadSender, e))?;
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

#[utoipa::path(get, path = "/v1/workers/{key}", params(("key" = String, Path, description = "the worker's signing key: 0x and 64 hex digits")),
    responses((status = 200, description = "the worker's registration", body = WorkerView), (status = 400, description = "the request is malformed: `code` says which part", body = ErrorBody), (status = 404, description = "no worker is registered under this key", body = ErrorBody)))]
pub(super) async fn worker(State(api): State<ApiState>, Path(key): Path<String>) -> Result<Json<WorkerView>, ApiError> {
    let key = parse_hash(&key)
        .map_err(|_| bad_request(ErrorCode::BadWorker, "a worker is its 0x signing key (64 hex digits)"))?
        .0;
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

#[utoipa::path(get, path = "/v1/topics/{topic}/messages",
    params(("topic" = String, Path, description = "the topic: registrations, assignments, key-epochs, deposits, contract-code, discrepancies, releases, heartbeats, parameters, sessions, seeds, or contract:0x<id>"), TopicQuery),
    responses((status = 200, description = "a page of the topic's messages from `from` (or from its end) with a proof of completeness against a certified header", body = TopicMessagesView), (status = 400, description = "the request is malformed: `code` says which part", body = ErrorBody), (status = 404, description = "the topic has no message at this height", body = ErrorBody), (status = 503, description = "the node cannot answer now (its store is busy or the height is pruned): retry", body = ErrorBody)))]
pub(super) async fn topic_messages(
    State(api): State<ApiState>,
    Path(topic): Path<String>,
    query: Result<Query<TopicQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<TopicMessagesView>, ApiError> {
    let Query(query) = query.map_err(|rejection| bad_request(ErrorCode::BadRequest, rejection.body_text()))?;
    let topic = Topic::from_str(&topic).map_err(|e| bad_request(ErrorCode::BadTopic, e))?;
    let answer = api
        .validator
        .node()
        .lock()
        .await
        .topic_messages(
            &topic,
            (!query.at_end).then_some(query.from),
            query.limit.unwrap_or(MAX_MESSAGES_PER_ANSWER).min(MAX_MESSAGES_PER_ANSWER),
            query.height,
        )
        .await
        .map_err(|e| bad_request(ErrorCode::BadRange, e))?
        .ok_or_else(|| not_found(format!("topic {topic} has no messages at this height")))?;
    let height = answer.height;
    let (block, finalization) = certified(&api, height).await?;
    Ok(Json(TopicMessagesView {
        topic: topic.to_string(),
        from: answer.start.as_ref().map_or(query.from, |start| start.length),
        length: answer.proof.length,
        height,
        header: hex0x(block.header.encode()),
        finalization: hex0x(finalization),
        proof: hex0x(answer.proof.encode()),
        messages: answer.messages.iter().map(|message| hex0x(message.encode())).collect(),
        start: answer.start.as_ref().map(|start| hex0x(start.encode())),
    }))
}
