//! The worker runtime's OpenAPI document ([`WorkerApi`]). The runtime serves its API with a small
//! std server and links no OpenAPI code, so the document is described here, against the same types
//! the runtime answers with, and generated outside the TEE (`docs/openapi-worker.json`, kept
//! current by a test of the node crate).
//!
//! The functions below exist only to carry each route's description; nothing calls them.
#![allow(dead_code)]

use utoipa::OpenApi;

use crate::{
    ErrorBody, ErrorCode,
    worker::{
        ClusterMembership, CommandRef, PendingEgress, RefusalView, RegistrationView, RuntimeContract, RuntimeRole,
        RuntimeStatus, SnapshotTaken, SyncResult,
    },
};

#[utoipa::path(get, path = "/v1/status",
    responses((status = 200, description = "the runtime's identity, keys, view of the chain, contracts, pending egress and recent refusals", body = RuntimeStatus)))]
fn status() {}

#[utoipa::path(get, path = "/v1/registration",
    params(("operator" = String, Query, description = "the operator account that will register the runtime: SS58 or 0x hex")),
    responses((status = 200, description = "what a registration binds, its report data and the platform's quote over it (none in software mode)", body = RegistrationView),
        (status = 400, description = "no operator, or one that does not parse: `code` says which", body = ErrorBody),
        (status = 503, description = "the platform could not produce a quote", body = ErrorBody)))]
fn registration() {}

#[utoipa::path(post, path = "/v1/sync",
    request_body(content = Vec<u8>, content_type = "application/octet-stream", description = "a batch: a finalization certificate, its header and each followed topic's new messages with a proof of completeness, SCALE-encoded"),
    responses((status = 200, description = "the batch was verified and applied, and the sealed checkpoint written: the new height, messages handled and the messages refused", body = SyncResult),
        (status = 400, description = "the batch does not decode (`malformed`) or does not verify (`refused`); nothing changed", body = ErrorBody),
        (status = 503, description = "the checkpoint could not be written; the batch lives in memory only", body = ErrorBody)))]
fn sync() {}

#[utoipa::path(get, path = "/v1/egress",
    responses((status = 200, description = "the signed egress the chain has not accepted yet, in sequence order per sender", body = PendingEgress)))]
fn egress() {}

#[utoipa::path(post, path = "/v1/query",
    request_body(content = Vec<u8>, content_type = "application/octet-stream", description = "a signed query sealed to the runtime's agreement key"),
    responses((status = 200, description = "the answer, signed by the runtime and sealed to the query's response key", content_type = "application/octet-stream", body = Vec<u8>),
        (status = 400, description = "unreadable, misaddressed, or outside its validity window: `code` says which", body = ErrorBody),
        (status = 403, description = "the signature or session certificate does not verify, or the session expired", body = ErrorBody),
        (status = 404, description = "the runtime does not run the contract", body = ErrorBody),
        (status = 409, description = "the same requester and nonce were answered before", body = ErrorBody),
        (status = 500, description = "the answer could not be sealed", body = ErrorBody),
        (status = 503, description = "the runtime's view of the chain is too old to answer: retry", body = ErrorBody)))]
fn query() {}

#[utoipa::path(get, path = "/v1/snapshot",
    responses((status = 200, description = "the worker's cluster state, sealed under the cluster's snapshot key and signed by the cluster, SCALE-encoded", content_type = "application/octet-stream", body = Vec<u8>),
        (status = 409, description = "the runtime runs no cluster's contracts (or holds no cluster key yet)", body = ErrorBody)))]
fn get_snapshot() {}

#[utoipa::path(post, path = "/v1/snapshot",
    request_body(content = Vec<u8>, content_type = "application/octet-stream", description = "a sealed snapshot of the cluster this runtime joined as a replacement, SCALE-encoded"),
    responses((status = 200, description = "taken over: the height the runtime continues from", body = SnapshotTaken),
        (status = 400, description = "the snapshot does not decode (`malformed`) or is refused (`refused`: another cluster, older than the joining, not signed by the cluster, altered); nothing changed", body = ErrorBody),
        (status = 409, description = "the runtime does not wait for a snapshot", body = ErrorBody),
        (status = 503, description = "the checkpoint could not be written", body = ErrorBody)))]
fn post_snapshot() {}

/// The worker runtime's API.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Veil worker runtime API",
        description = "What a worker or gatekeeper runtime answers: the relayer feeds it proven batches and takes its egress; clients send it sealed queries. Everything but a query's sealed answer is the runtime's word: check it against the chain."
    ),
    paths(status, registration, sync, egress, query, get_snapshot, post_snapshot),
    components(schemas(
        ErrorBody,
        ErrorCode,
        RuntimeStatus,
        RuntimeRole,
        RuntimeContract,
        ClusterMembership,
        RefusalView,
        CommandRef,
        SyncResult,
        RegistrationView,
        PendingEgress,
        SnapshotTaken
    ))
)]
pub struct WorkerApi;
