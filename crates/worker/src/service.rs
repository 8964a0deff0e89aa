//! The runtime's HTTP API: what the relayer feeds it through and what clients query.
//!
//! | route | body | answer |
//! |---|---|---|
//! | `GET /v1/status` | | JSON: role, keys, view, topics, contracts, pending egress, recent refusals |
//! | `GET /v1/registration?operator=…` | | JSON: the registration info (SCALE, hex), its report data, and the platform's quote (null in software mode) |
//! | `POST /v1/sync` | a SCALE [`Batch`] | JSON: height, messages handled, refusals; `400` with the reason if the batch does not verify (nothing changes) |
//! | `GET /v1/egress` | | JSON: pending signed egress, SCALE hex, in sequence order |
//! | `POST /v1/query` | a sealed query | the sealed, signed answer; `4xx` JSON with the reason on refusal |
//! | `GET /v1/snapshot` | | a SCALE [`SealedSnapshot`] of the worker's cluster state; `409` when it runs no cluster |
//! | `POST /v1/snapshot` | a SCALE [`SealedSnapshot`] | JSON: the height it continues from; `409` unless it joined as a replacement and waits for one, `400` with the reason if it is refused (nothing changes) |
//!
//! A batch is applied under the write lock and the sealed checkpoint is written before the answer
//! (into both slots when the batch destroyed a retired epoch's keys, so the fallback slot does not
//! keep them), so a relayer that saw `200` never has to send it again; a runtime killed before that answer
//! restarts from the previous checkpoint and the relayer sends the same messages again. Queries share
//! a read lock. Answers never include secrets; refusals name what was wrong.

use std::sync::{Arc, Mutex, RwLock};

use parity_scale_codec::Encode;
use serde_json::json;
use veil_attestation::Platform;
use veil_http::{Request, Response};
use veil_primitives::{AccountId, decode_strict, epoch::SealedSnapshot};

use crate::{
    checkpoint::CheckpointStore,
    runtime::{QueryError, Role, Runtime, SnapshotError},
    sync::Batch,
};

/// The largest request body: a batch.
pub const MAX_BODY: usize = crate::sync::MAX_BATCH_BYTES;

/// A running runtime with its checkpoint store and platform.
pub struct Service {
    runtime: RwLock<Runtime>,
    store: Mutex<CheckpointStore>,
    platform: Box<dyn Platform + Send + Sync>,
    /// Fault injection for tests: abort the process (as `kill -9` would stop it) after this many
    /// messages of a batch, before its checkpoint is written.
    abort_after_messages: Option<u64>,
}

fn hex0x(bytes: impl AsRef<[u8]>) -> String {
    format!("0x{}", hex::encode(bytes))
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX))
}

impl Service {
    /// A service over `runtime`, checkpointing to `store`.
    pub fn new(
        runtime: Runtime,
        store: CheckpointStore,
        platform: Box<dyn Platform + Send + Sync>,
        abort_after_messages: Option<u64>,
    ) -> Self {
        Self { runtime: RwLock::new(runtime), store: Mutex::new(store), platform, abort_after_messages }
    }

    /// Routes one request.
    pub fn handle(&self, request: Request) -> Response {
        match (request.method.as_str(), request.path.as_str()) {
            ("GET", "/v1/status") => self.status(),
            ("GET", "/v1/registration") => self.registration(&request),
            ("POST", "/v1/sync") => self.sync(&request.body),
            ("GET", "/v1/egress") => self.egress(),
            ("POST", "/v1/query") => self.query(&request.body),
            ("GET", "/v1/snapshot") => self.snapshot(),
            ("POST", "/v1/snapshot") => self.import_snapshot(&request.body),
            _ => Response::error(
                404,
                "not_found",
                "no such endpoint; see /v1/status, /v1/sync, /v1/egress, /v1/query, /v1/snapshot",
            ),
        }
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Runtime> {
        self.runtime.read().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn status(&self) -> Response {
        let runtime = self.read();
        let view = runtime.view();
        let topics: serde_json::Map<String, serde_json::Value> =
            view.topics.iter().map(|(topic, peaks)| (topic.to_string(), json!(peaks.length))).collect();
        let contracts: Vec<_> = runtime
            .contracts()
            .into_iter()
            .map(|(id, code, epoch, available)| {
                json!({ "contract": id.to_string(), "code": code.to_string(), "epoch": epoch.0, "available": available })
            })
            .collect();
        Response::json(
            200,
            &json!({
                "chain": runtime.chain().to_string(),
                "role": match runtime.role() { Role::Worker => "worker", Role::Gatekeeper => "gatekeeper" },
                "platform": self.platform.kind().label(),
                "insecure": runtime.insecure(),
                "identity": hex0x(runtime.identity()),
                "agreement_key": hex0x(runtime.agreement_key()),
                "master_public": runtime.master_public().map(hex0x),
                "height": view.height,
                "timestamp_ms": view.timestamp_ms,
                "state_root": runtime.state_root().to_string(),
                "topics": topics,
                "contracts": contracts,
                "cluster": runtime.cluster().map(|(cluster, awaiting)| json!({ "cluster": cluster.0, "awaiting_snapshot": awaiting })),
                "pending_egress": runtime.pending_egress().len(),
                "refusals": runtime.refusals().collect::<Vec<_>>(),
            }),
        )
    }

    fn registration(&self, request: &Request) -> Response {
        let Some(operator) = request.param("operator") else {
            return Response::error(400, "bad_request", "give the operator account: ?operator=<SS58 or 0x hex>");
        };
        let operator: AccountId = match operator.parse() {
            Ok(account) => account,
            Err(error) => return Response::error(400, "bad_operator", format!("operator {operator:?}: {error}")),
        };
        let info = self.read().registration_info(operator);
        let quote = match self.platform.quote(&info.report_data()) {
            Ok(quote) => quote,
            Err(error) => return Response::error(503, "platform", error),
        };
        Response::json(
            200,
            &json!({
                "info": hex0x(info.encode()),
                "report_data": hex0x(info.report_data()),
                "quote": quote.map(hex0x),
            }),
        )
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Runtime> {
        self.runtime.write().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Writes `runtime`'s checkpoint `times` times (twice overwrites the fallback slot too).
    fn save(&self, runtime: &Runtime, times: usize) -> Result<(), Response> {
        let checkpoint = runtime.checkpoint();
        let mut store = self.store.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        for _ in 0..times {
            // On failure the change lives in memory only; a restart resumes from the previous checkpoint.
            store.save(&checkpoint).map_err(|error| Response::error(503, "checkpoint", error))?;
        }
        Ok(())
    }

    fn snapshot(&self) -> Response {
        match self.read().snapshot() {
            Ok(snapshot) => Response::bytes(200, snapshot.encode()),
            Err(error) => Response::error(409, "unavailable", error),
        }
    }

    fn import_snapshot(&self, body: &[u8]) -> Response {
        let snapshot: SealedSnapshot = match decode_strict(body) {
            Ok(snapshot) => snapshot,
            Err(error) => return Response::error(400, "malformed", format!("not a sealed snapshot: {error}")),
        };
        let mut runtime = self.write();
        match runtime.import_snapshot(&snapshot) {
            Ok(()) => {}
            Err(error @ SnapshotError::Unavailable(_)) => return Response::error(409, "unavailable", error),
            Err(error) => return Response::error(400, "refused", error),
        }
        log(format_args!("took over the state of {} from a snapshot at height {}", snapshot.cluster, snapshot.height));
        if let Err(response) = self.save(&runtime, 1) {
            return response;
        }
        Response::json(200, &json!({ "height": runtime.view().height }))
    }

    fn sync(&self, body: &[u8]) -> Response {
        let batch = match Batch::decode_strict(body) {
            Ok(batch) => batch,
            Err(error) => return Response::error(400, "malformed", error),
        };
        let mut runtime = self.write();
        let abort_after = self.abort_after_messages;
        let applied = match runtime.apply_with(&batch, |count| {
            if abort_after == Some(count) {
                log(format_args!(
                    "fault injection: aborting after {count} messages of the batch, before its checkpoint"
                ));
                std::process::abort();
            }
        }) {
            Ok(applied) => applied,
            Err(error) => {
                log(format_args!("batch refused: {error}"));
                return Response::error(400, "refused", error);
            }
        };
        for refusal in &applied.refused {
            log(format_args!("message refused: {refusal}"));
        }
        // After keys were destroyed, both slots are written, so no fallback still holds them.
        if let Err(response) = self.save(&runtime, if applied.destroyed_keys { 2 } else { 1 }) {
            return response;
        }
        Response::json(
            200,
            &json!({ "height": applied.height, "messages": applied.messages, "refused": applied.refused }),
        )
    }

    fn egress(&self) -> Response {
        let pending: Vec<String> = self.read().pending_egress().iter().map(|copy| hex0x(copy.encode())).collect();
        Response::json(200, &json!({ "egress": pending }))
    }

    fn query(&self, body: &[u8]) -> Response {
        match self.read().query(body, now_ms()) {
            Ok(sealed) => Response::bytes(200, sealed),
            Err(error) => {
                let status = match error {
                    QueryError::Unauthenticated(_) | QueryError::SessionExpired { .. } => 403,
                    QueryError::Stale(_) => 503,
                    QueryError::Replayed { .. } => 409,
                    QueryError::UnknownContract(_) => 404,
                    QueryError::Seal(_) => 500,
                    QueryError::Unreadable(_) | QueryError::Misaddressed { .. } | QueryError::Validity { .. } => 400,
                };
                Response::error(status, error.code(), error)
            }
        }
    }
}

/// Writes one line to standard error, the runtime's log. Never give it a secret.
pub fn log(line: std::fmt::Arguments<'_>) {
    use std::io::Write as _;
    let _ = writeln!(std::io::stderr().lock(), "{line}");
}

/// Serves `service` on `listener` with `threads` threads, forever.
pub fn serve(service: Arc<Service>, listener: std::net::TcpListener, threads: usize) -> std::io::Result<()> {
    veil_http::serve(listener, threads, MAX_BODY, Arc::new(move |request| service.handle(request)))
}
