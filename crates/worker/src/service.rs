//! The runtime's HTTP API: what the relayer feeds it through and what clients query.
//!
//! The routes and JSON shapes are [`veil_api::worker`]'s; errors are [`veil_api::ErrorBody`].
//!
//! A batch is applied under the write lock and the sealed checkpoint is written before the answer
//! (into both slots when the batch destroyed a retired epoch's keys, so the fallback slot does not
//! keep them), so a relayer that saw `200` never has to send it again; a runtime killed before that answer
//! restarts from the previous checkpoint and the relayer sends the same messages again. Queries share
//! a read lock. Answers never include secrets; refusals name what was wrong.

use std::sync::{Arc, Mutex, RwLock};

use parity_scale_codec::Encode;
use veil_api::{
    ErrorCode, hex0x, paths,
    worker::{
        ClusterMembership, CommandRef, PendingEgress, RefusalView, RegistrationView, RuntimeContract, RuntimeRole,
        RuntimeStatus, SnapshotTaken, SyncResult,
    },
};
use veil_attestation::Platform;
use veil_http::{Request, Response};
use veil_primitives::{AccountId, decode_strict, epoch::SealedSnapshot};

use crate::{
    checkpoint::CheckpointStore,
    runtime::{Refusal, Refused, Role, Runtime},
    sync::Batch,
};

/// The largest request body: a batch.
pub const MAX_BODY: usize = crate::sync::MAX_BATCH_BYTES;

/// A running runtime with its checkpoint store and platform.
pub struct Service {
    runtime: RwLock<Runtime>,
    store: Mutex<CheckpointStore>,
    platform: Box<dyn Platform + Send + Sync>,
    /// The operator it was started for: it quotes registrations for no other account, so nobody
    /// else can register it as theirs.
    operator: AccountId,
    /// Fault injection for tests: abort the process (as `kill -9` would stop it) after this many
    /// messages of a batch, before its checkpoint is written.
    abort_after_messages: Option<u64>,
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX))
}

impl Service {
    /// A service over `runtime`, checkpointing to `store`, registering for `operator` only.
    pub fn new(
        runtime: Runtime,
        store: CheckpointStore,
        platform: Box<dyn Platform + Send + Sync>,
        operator: AccountId,
        abort_after_messages: Option<u64>,
    ) -> Self {
        Self { runtime: RwLock::new(runtime), store: Mutex::new(store), platform, operator, abort_after_messages }
    }

    /// Routes one request.
    pub fn handle(&self, request: Request) -> Response {
        match (request.method.as_str(), request.path.as_str()) {
            ("GET", paths::worker::STATUS) => self.status(),
            ("GET", paths::worker::REGISTRATION) => self.registration(&request),
            ("POST", paths::worker::SYNC) => self.sync(&request.body),
            ("GET", paths::worker::EGRESS) => self.egress(),
            ("POST", paths::worker::QUERY) => self.query(&request.body),
            ("GET", paths::worker::SNAPSHOT) => self.snapshot(),
            ("POST", paths::worker::SNAPSHOT) => self.import_snapshot(&request.body),
            _ => Response::error(
                ErrorCode::NotFound,
                format!("no such endpoint; the routes are {:?}", paths::worker::ALL),
            ),
        }
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Runtime> {
        self.runtime.read().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn status(&self) -> Response {
        let runtime = self.read();
        let view = runtime.view();
        let status = RuntimeStatus {
            chain: runtime.chain().to_string(),
            role: match runtime.role() {
                Role::Worker => RuntimeRole::Worker,
                Role::Gatekeeper => RuntimeRole::Gatekeeper,
            },
            platform: self.platform.kind().label().to_owned(),
            insecure: runtime.insecure(),
            identity: hex0x(runtime.identity()),
            agreement_key: hex0x(runtime.agreement_key()),
            master_public: runtime.master_public().map(hex0x),
            height: view.height,
            timestamp_ms: view.timestamp_ms,
            state_root: runtime.state_root().to_string(),
            topics: view.topics.iter().map(|(topic, peaks)| (topic.to_string(), peaks.length)).collect(),
            from_end: view
                .topics
                .iter()
                .filter(|(topic, peaks)| peaks.length == 0 && crate::sync::reads_from_end(topic))
                .map(|(topic, _)| topic.to_string())
                .collect(),
            contracts: runtime
                .contracts()
                .into_iter()
                .map(|(id, code, epoch, available)| RuntimeContract {
                    contract: id.to_string(),
                    code: code.to_string(),
                    epoch: epoch.0,
                    available,
                })
                .collect(),
            cluster: runtime
                .cluster()
                .map(|(cluster, awaiting_snapshot)| ClusterMembership { cluster: cluster.0, awaiting_snapshot }),
            pending_egress: runtime.pending_egress().len() as u64,
            refusals: runtime.refusals().map(refusal_view).collect(),
        };
        Response::json(200, &status)
    }

    fn registration(&self, request: &Request) -> Response {
        let Some(operator) = request.param("operator") else {
            return Response::error(ErrorCode::BadRequest, "give the operator account: ?operator=<SS58 or 0x hex>");
        };
        let operator: AccountId = match operator.parse() {
            Ok(account) => account,
            Err(error) => return Response::error(ErrorCode::BadOperator, format!("operator {operator:?}: {error}")),
        };
        if operator != self.operator {
            return Response::error(
                ErrorCode::NotOperator,
                format!("this runtime quotes registrations only for its operator {}", self.operator),
            );
        }
        let info = self.read().registration_info(operator);
        let quote = match self.platform.quote(&info.report_data()) {
            Ok(quote) => quote,
            Err(error) => return Response::error(ErrorCode::Platform, error),
        };
        let view = RegistrationView {
            info: hex0x(info.encode()),
            report_data: hex0x(info.report_data()),
            quote: quote.map(hex0x),
        };
        Response::json(200, &view)
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Runtime> {
        self.runtime.write().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Writes `runtime`'s checkpoint after a batch (both slots when it destroyed keys).
    fn save(&self, runtime: &Runtime, destroyed_keys: bool) -> Result<(), Response> {
        let checkpoint = runtime.checkpoint();
        let mut store = self.store.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        // On failure the change lives in memory only; a restart resumes from the previous checkpoint.
        store.record(&checkpoint, destroyed_keys).map_err(|error| Response::error(ErrorCode::Checkpoint, error))
    }

    fn snapshot(&self) -> Response {
        match self.read().snapshot() {
            Ok(snapshot) => Response::bytes(200, snapshot.encode()),
            Err(error) => Response::error(error.code(), error),
        }
    }

    fn import_snapshot(&self, body: &[u8]) -> Response {
        let snapshot: SealedSnapshot = match decode_strict(body) {
            Ok(snapshot) => snapshot,
            Err(error) => return Response::error(ErrorCode::Malformed, format!("not a sealed snapshot: {error}")),
        };
        let mut runtime = self.write();
        match runtime.import_snapshot(&snapshot) {
            Ok(()) => {}
            Err(error) => return Response::error(error.code(), error),
        }
        log(format_args!("took over the state of {} from a snapshot at height {}", snapshot.cluster, snapshot.height));
        if let Err(response) = self.save(&runtime, false) {
            return response;
        }
        Response::json(200, &SnapshotTaken { height: runtime.view().height })
    }

    fn sync(&self, body: &[u8]) -> Response {
        let batch = match Batch::decode_strict(body) {
            Ok(batch) => batch,
            Err(error) => return Response::error(ErrorCode::Malformed, error),
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
                return Response::error(ErrorCode::Refused, error);
            }
        };
        for refusal in &applied.refused {
            log(format_args!("message refused: {refusal}"));
        }
        // After keys were destroyed, both slots are written, so no fallback still holds them.
        if let Err(response) = self.save(&runtime, applied.destroyed_keys) {
            return response;
        }
        let result = SyncResult {
            height: applied.height,
            messages: applied.messages,
            refused: applied.refused.iter().map(refusal_view).collect(),
        };
        Response::json(200, &result)
    }

    fn egress(&self) -> Response {
        let egress = self.read().pending_egress().iter().map(|copy| hex0x(copy.encode())).collect();
        Response::json(200, &PendingEgress { egress })
    }

    fn query(&self, body: &[u8]) -> Response {
        match self.read().query(body, now_ms()) {
            Ok(sealed) => Response::bytes(200, sealed),
            Err(error) => Response::error(error.code(), error),
        }
    }
}

/// A refusal as the API shows it.
fn refusal_view(refused: &Refused) -> RefusalView {
    RefusalView {
        topic: refused.message.map(|(topic, _)| topic.to_string()),
        index: refused.message.map(|(_, index)| index),
        code: refused.refusal.code().to_owned(),
        command: match &refused.refusal {
            Refusal::Command { sender, nonce, .. } => Some(CommandRef { sender: sender.to_string(), nonce: *nonce }),
            _ => None,
        },
        reason: refused.refusal.to_string(),
    }
}

/// Writes one line to standard error, the runtime's log. Never give it a secret.
pub fn log(line: std::fmt::Arguments<'_>) {
    use std::io::Write as _;
    let _ = writeln!(std::io::stderr().lock(), "{line}");
}

/// The largest body of `POST /v1/query`: the largest sealed payload, its envelope and session
/// certificate.
pub const MAX_QUERY_BODY: usize = veil_crypto::confidential::MAX_QUERY_PAYLOAD + 16 * 1024;

/// The body limit of each route: a query's is tens of KiB, a sync batch's and a snapshot's
/// [`MAX_BODY`]; reads take none. Checked against `Content-Length` before a byte is read.
pub fn body_limit(method: &str, path: &str) -> usize {
    match (method, path) {
        ("POST", paths::worker::QUERY) => MAX_QUERY_BODY,
        ("POST", paths::worker::SYNC) | ("POST", paths::worker::SNAPSHOT) => MAX_BODY,
        _ => 0,
    }
}

/// Serves `service` on `listener` with `threads` handler threads, forever, under `limits`.
pub fn serve(
    service: Arc<Service>,
    listener: std::net::TcpListener,
    threads: usize,
    limits: veil_http::Limits,
) -> std::io::Result<()> {
    veil_http::serve(listener, threads, limits, Arc::new(body_limit), Arc::new(move |request| service.handle(request)))
}
