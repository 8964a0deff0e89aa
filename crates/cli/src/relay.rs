//! `veil relay`: the untrusted host half of a worker.
//!
//! Each round it asks the runtime where it stands (`/v1/status`), fetches from the node the new
//! messages of every topic the runtime follows, all proven against one finalized header, and posts
//! them as one batch (`/v1/sync`); then it submits the runtime's pending egress that the chain does
//! not have yet (the sender's next sequence number on chain decides, so nothing the chain already
//! accepted is sent again). With `--operator` it also registers the worker (and renews it when half
//! its registration's lifetime is gone).
//!
//! For a worker in a cluster it also keeps the cluster alive: it uploads the runtime's sealed
//! snapshot of the cluster state to the node (`PUT /v1/snapshots/{cluster}`) every
//! `--snapshot-interval-ms`; with `--operator` it reports members the node shows offline
//! (`ReportOffline`); and when its runtime joined as a replacement, it downloads the newest
//! snapshot and hands it over (`POST /v1/snapshot`). It keeps no state of its own: after either
//! side restarts, the next round starts from what the runtime and the chain say.

/// A line on standard error: the process's log.
macro_rules! log {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr().lock(), $($arg)*);
    }};
}

use clap::Args;
use parity_scale_codec::{Decode, DecodeAll, Encode};
use serde_json::{Value, json};
use std::{
    path::PathBuf,
    time::{Duration, Instant},
};
use veil_crypto::AccountPair;
use veil_primitives::{
    Attestation, Call, EpochsCall, Message, RegistrationInfo, RegistryCall, SignedEgress, decode_strict,
    topics::TopicProof,
};
use veil_worker::sync::{Batch, TopicDelivery};

use crate::{Failure, endpoint::Endpoint};

/// Arguments of `veil relay`.
#[derive(Args, Debug)]
pub(crate) struct RelayArgs {
    /// The node's API.
    #[arg(long, default_value = "http://127.0.0.1:9933")]
    node: String,
    /// The runtime's API.
    #[arg(long, default_value = "http://127.0.0.1:8090")]
    worker: String,
    /// Register the worker with this operator account (a secret URI such as `//Bob`).
    #[arg(long)]
    operator: Option<String>,
    /// Intel collateral (JSON) to submit with a hardware quote.
    #[arg(long)]
    collateral: Option<PathBuf>,
    /// Pause between rounds, in milliseconds.
    #[arg(long, default_value_t = 200)]
    interval_ms: u64,
    /// How often to upload the cluster's sealed state snapshot, in milliseconds.
    #[arg(long, default_value_t = 2_000)]
    snapshot_interval_ms: u64,
    /// Exit when standard input closes (`veil devnet` holds the other end).
    #[arg(long, hide = true)]
    exit_with_stdin: bool,
}

fn unhex(value: &Value) -> Result<Vec<u8>, String> {
    let text = value.as_str().ok_or_else(|| format!("expected a hex string, got {value}"))?;
    hex::decode(text.trim_start_matches("0x")).map_err(|e| format!("{text}: {e}"))
}

fn decode<T: Decode + parity_scale_codec::MaxEncodedLen>(value: &Value) -> Result<T, String> {
    decode_strict(&unhex(value)?).map_err(|e| e.to_string())
}

/// Runs the relayer until it is stopped.
pub(crate) fn relay(args: RelayArgs) -> Result<(), Failure> {
    if args.exit_with_stdin {
        exit_when_stdin_closes();
    }
    let node = Endpoint::new(&args.node)?;
    let worker = Endpoint::new(&args.worker)?;
    let operator = match &args.operator {
        Some(uri) => Some(AccountPair::from_suri(uri, None).map_err(|e| Failure::BadInput(format!("{uri}: {e}")))?),
        None => None,
    };
    let collateral = match &args.collateral {
        Some(path) => Some(std::fs::read(path).map_err(|e| Failure::BadInput(format!("{}: {e}", path.display())))?),
        None => None,
    };
    let mut relayer = Relayer {
        node,
        worker,
        operator,
        collateral,
        registration_sent: None,
        snapshot_interval: Duration::from_millis(args.snapshot_interval_ms),
        snapshot_sent: None,
        reported: std::collections::BTreeMap::new(),
    };
    loop {
        if let Err(error) = relayer.round() {
            log!("relay: {error}");
        }
        std::thread::sleep(Duration::from_millis(args.interval_ms));
    }
}

/// Ends the process once standard input reaches its end: a parent that holds the pipe's other end
/// takes this process with it whenever it ends, even by SIGKILL.
fn exit_when_stdin_closes() {
    std::thread::spawn(|| {
        let _ = std::io::copy(&mut std::io::stdin().lock(), &mut std::io::sink());
        std::process::exit(0);
    });
}

struct Relayer {
    node: Endpoint,
    worker: Endpoint,
    operator: Option<AccountPair>,
    collateral: Option<Vec<u8>>,
    /// When a registration was last submitted: wait for it to land before sending another.
    registration_sent: Option<Instant>,
    snapshot_interval: Duration,
    /// When a snapshot was last uploaded.
    snapshot_sent: Option<Instant>,
    /// When each silent cluster member was last reported: wait for the report to land.
    reported: std::collections::BTreeMap<String, Instant>,
}

/// How long to wait for a submitted registration or report to land before sending it again.
const RESUBMIT_AFTER: Duration = Duration::from_secs(10);

impl Relayer {
    fn round(&mut self) -> Result<(), String> {
        let (status, runtime) = self.worker.get("/v1/status")?;
        if status != 200 {
            return Err(format!("runtime status: {status} {runtime}"));
        }
        // A gatekeeper registers too: the others check its quote before they share the master key.
        if self.operator.is_some() {
            self.register(&runtime)?;
        }
        self.sync(&runtime)?;
        self.submit_egress()?;
        if let Some(cluster) = runtime["cluster"]["cluster"].as_u64() {
            if runtime["cluster"]["awaiting_snapshot"] == true {
                self.take_over_snapshot(cluster)?;
            } else {
                self.upload_snapshot(cluster)?;
                self.report_offline(cluster)?;
            }
        }
        Ok(())
    }

    /// Uploads the runtime's sealed cluster snapshot, at most once per interval.
    fn upload_snapshot(&mut self, cluster: u64) -> Result<(), String> {
        if self.snapshot_sent.is_some_and(|sent| sent.elapsed() < self.snapshot_interval) {
            return Ok(());
        }
        self.snapshot_sent = Some(Instant::now());
        let (status, body) = self.worker.bytes("GET", "/v1/snapshot", &[])?;
        if status != 200 {
            return Err(format!("runtime snapshot: {status} {}", String::from_utf8_lossy(&body)));
        }
        let upload = json!({ "snapshot": format!("0x{}", hex::encode(&body)) });
        let (status, answer) = self.node.json("PUT", &format!("/v1/snapshots/{cluster}"), Some(&upload))?;
        match status {
            // 409: another member's snapshot is as new; nothing to do.
            202 | 409 => Ok(()),
            _ => Err(format!("snapshot upload: {status} {answer}")),
        }
    }

    /// Hands the newest stored snapshot of the cluster to a runtime that joined as a replacement.
    fn take_over_snapshot(&self, cluster: u64) -> Result<(), String> {
        let (status, stored) = self.node.get(&format!("/v1/snapshots/{cluster}"))?;
        if status == 404 {
            return Ok(()); // No live member uploaded one yet.
        }
        if status != 200 {
            return Err(format!("snapshot download: {status} {stored}"));
        }
        let bytes = unhex(&stored["snapshot"])?;
        let (status, body) = self.worker.bytes("POST", "/v1/snapshot", &bytes)?;
        if status != 200 {
            return Err(format!(
                "the runtime refused the snapshot at height {}: {}",
                stored["height"],
                String::from_utf8_lossy(&body)
            ));
        }
        log!("relay: the runtime took over cluster {cluster}'s snapshot at height {}", stored["height"]);
        Ok(())
    }

    /// Reports members of the cluster that the node shows offline (needs `--operator`, who pays).
    fn report_offline(&mut self, cluster: u64) -> Result<(), String> {
        let Some(operator) = &self.operator else { return Ok(()) };
        let (status, view) = self.node.get(&format!("/v1/clusters/{cluster}"))?;
        if status != 200 {
            return Err(format!("cluster {cluster}: {status} {view}"));
        }
        for member in view["workers"].as_array().into_iter().flatten() {
            let worker = member["worker"].as_str().unwrap_or_default().to_owned();
            if member["offline"] != true || self.reported.get(&worker).is_some_and(|at| at.elapsed() < RESUBMIT_AFTER) {
                continue;
            }
            let identity: [u8; 32] =
                unhex(&member["worker"])?.try_into().map_err(|_| format!("worker {worker} is not 32 bytes"))?;
            let cluster_id =
                u32::try_from(cluster).map_err(|_| format!("cluster {cluster} is not a cluster number"))?;
            let call = Call::Epochs(EpochsCall::ReportOffline {
                cluster: veil_primitives::ClusterId(cluster_id),
                worker: identity,
            });
            let (status, answer) = self.node.submit_transaction(operator, call)?;
            log!("relay: reported worker {worker} of cluster {cluster} offline: {status} {answer}");
            self.reported.insert(worker, Instant::now());
        }
        Ok(())
    }

    fn register(&mut self, runtime: &Value) -> Result<(), String> {
        let Some(operator) = &self.operator else { return Ok(()) };
        let identity = runtime["identity"].as_str().unwrap_or_default();
        let (status, registered) = self.node.get(&format!("/v1/workers/{identity}"))?;
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis());
        let fresh = status == 200
            && registered["active"] == true
            && u128::from(registered["expires_at_ms"].as_u64().unwrap_or(0)) > now + 30_000;
        if fresh || self.registration_sent.is_some_and(|sent| sent.elapsed() < RESUBMIT_AFTER) {
            return Ok(());
        }
        let (status, answer) = self.worker.get(&format!("/v1/registration?operator={}", operator.public()))?;
        if status != 200 {
            return Err(format!("runtime registration: {status} {answer}"));
        }
        let info: RegistrationInfo = decode(&answer["info"])?;
        let attestation = match (&answer["quote"], &self.collateral) {
            (Value::Null, _) => Attestation::InsecureSoftware,
            (quote, Some(collateral)) => Attestation::Dcap {
                quote: unhex(quote)?.try_into().map_err(|_| "quote too large".to_string())?,
                collateral: collateral.clone().try_into().map_err(|_| "collateral too large".to_string())?,
            },
            (_, None) => return Err("the runtime produced a quote: pass --collateral".into()),
        };
        let (status, answer) = self
            .node
            .submit_transaction(operator, Call::Registry(RegistryCall::RegisterWorker { info, attestation }))?;
        // 409: another pending transaction of the operator (another relayer's registration) holds
        // the nonce, so nothing was submitted; the next round retries once that one finalizes.
        if status == 409 {
            return Ok(());
        }
        log!("relay: registration of worker {identity} submitted: {status} {answer}");
        self.registration_sent = Some(Instant::now());
        Ok(())
    }

    /// One batch: every followed topic from where the runtime stands, at one finalized height.
    fn sync(&self, runtime: &Value) -> Result<(), String> {
        let Some(topics) = runtime["topics"].as_object() else { return Err("runtime status lists no topics".into()) };
        let mut at: Option<(u64, Vec<u8>, Vec<u8>)> = None;
        let mut deliveries = Vec::new();
        for (topic, length) in topics {
            let from = length.as_u64().unwrap_or(0);
            let height = at.as_ref().map(|(height, _, _)| format!("&height={height}")).unwrap_or_default();
            let (status, answer) = self.node.get(&format!("/v1/topics/{topic}/messages?from={from}{height}"))?;
            if status == 404 && from == 0 {
                continue; // Nothing on this topic yet.
            }
            if status != 200 {
                return Err(format!("topic {topic} from {from}: {status} {answer}"));
            }
            if at.is_none() {
                at = Some((
                    answer["height"].as_u64().unwrap_or(0),
                    unhex(&answer["header"])?,
                    unhex(&answer["finalization"])?,
                ));
            }
            let messages =
                answer["messages"].as_array().into_iter().flatten().map(decode::<Message>).collect::<Result<_, _>>()?;
            let proof: TopicProof = decode(&answer["proof"])?;
            deliveries.push(TopicDelivery { topic: topic.parse().map_err(|e| format!("{e}"))?, messages, proof });
        }
        let Some((height, header, certificate)) = at else { return Ok(()) };
        if height <= runtime["height"].as_u64().unwrap_or(0) && deliveries.iter().all(|d| d.messages.is_empty()) {
            return Ok(());
        }
        let header = veil_primitives::Header::decode_all(&mut &header[..]).map_err(|e| format!("header: {e}"))?;
        let batch = Batch { certificate, header, topics: deliveries };
        let (status, body) = self.worker.bytes("POST", "/v1/sync", &batch.encode())?;
        if status != 200 {
            return Err(format!(
                "the runtime refused the batch at height {height}: {}",
                String::from_utf8_lossy(&body)
            ));
        }
        Ok(())
    }

    /// Submits pending egress the chain has not accepted yet.
    fn submit_egress(&self) -> Result<(), String> {
        let (status, answer) = self.worker.get("/v1/egress")?;
        if status != 200 {
            return Err(format!("runtime egress: {status} {answer}"));
        }
        let mut next_on_chain = std::collections::BTreeMap::new();
        for value in answer["egress"].as_array().into_iter().flatten() {
            let copy: SignedEgress = decode(value)?;
            let sender = copy.egress.sender;
            let next = match next_on_chain.get(&sender) {
                Some(next) => *next,
                None => {
                    let (status, info) = self.node.get(&format!("/v1/senders/{sender}"))?;
                    let next = if status == 200 { info["next_sequence"].as_u64().unwrap_or(0) } else { 0 };
                    next_on_chain.insert(sender, next);
                    next
                }
            };
            if copy.egress.sequence < next {
                continue; // The chain has it.
            }
            let body = json!({ "egress": format!("0x{}", hex::encode(copy.encode())) });
            let (status, answer) = self.node.json("POST", "/v1/egress", Some(&body))?;
            if status != 202 {
                log!("relay: egress {sender} #{} refused: {status} {answer}", copy.egress.sequence);
            }
        }
        Ok(())
    }
}
