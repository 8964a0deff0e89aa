//! `veil relay`: the untrusted host half of a worker.
//!
//! Each round it asks the runtime where it stands (`/v1/status`), fetches from the node the new
//! messages of every topic the runtime follows, all proven against one finalized header, and posts
//! them as one batch (`/v1/sync`): topics in their canonical order, at most `--page-size` messages
//! in all, the last topic cut to a page when the budget runs out (the runtime catches up over as
//! many rounds as it takes); then it submits the runtime's pending egress that the chain does
//! not have yet (the sender's next sequence number on chain decides, so nothing the chain already
//! accepted is sent again). With `--operator` it also registers the worker (and renews it when half
//! its registration's lifetime is gone).
//!
//! For a worker in a cluster it also keeps the cluster alive: it uploads the runtime's sealed
//! snapshot of the cluster state to the node (`PUT /v1/snapshots/{cluster}`) every
//! `--snapshot-interval-ms`; with `--operator` it reports members the node shows unfit (silent,
//! lapsed or revoked, or without a key of the open epoch)
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
use std::{
    path::PathBuf,
    time::{Duration, Instant},
};
use veil_client::{
    Error as ClientError, NodeApi, Worker,
    api::{
        ErrorCode,
        node::{MAX_MESSAGES_PER_ANSWER, TopicQuery},
        worker::RuntimeStatus,
    },
};
use veil_crypto::AccountPair;
use veil_primitives::{
    Attestation, Call, ClusterId, EpochsCall, Message, RegistrationInfo, RegistryCall, Topic, decode_strict,
    log::LogPeaks, topics::TopicProof,
};
use veil_worker::sync::{Batch, TopicDelivery, assemble};

use crate::CommandError;

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
    /// The most messages one batch carries: a runtime further behind catches up in pages.
    #[arg(long, default_value_t = MAX_MESSAGES_PER_ANSWER, value_parser = clap::value_parser!(u64).range(1..=MAX_MESSAGES_PER_ANSWER))]
    page_size: u64,
    /// How often to upload the cluster's sealed state snapshot, in milliseconds.
    #[arg(long, default_value_t = 2_000)]
    snapshot_interval_ms: u64,
    /// Exit when standard input closes (`veil devnet` holds the other end).
    #[arg(long, hide = true)]
    exit_with_stdin: bool,
}

fn unhex(text: &str) -> Result<Vec<u8>, String> {
    veil_client::unhex(text).map_err(|e| e.to_string())
}

fn decode<T: Decode + parity_scale_codec::MaxEncodedLen>(text: &str) -> Result<T, String> {
    decode_strict(&unhex(text)?).map_err(|e| e.to_string())
}

/// Runs the relayer until it is stopped.
pub(crate) fn relay(args: RelayArgs) -> Result<(), CommandError> {
    if args.exit_with_stdin {
        exit_when_stdin_closes();
    }
    let node = NodeApi::new(&args.node)?;
    let worker = Worker::new(&args.worker)?;
    let operator = match &args.operator {
        Some(uri) => {
            // Never echo the input: a mistyped secret is one word away from the real one.
            Some(AccountPair::from_suri(uri, None).map_err(|e| CommandError::BadInput(format!("--operator: {e}")))?)
        }
        None => None,
    };
    let collateral = match &args.collateral {
        Some(path) => {
            Some(std::fs::read(path).map_err(|e| CommandError::BadInput(format!("{}: {e}", path.display())))?)
        }
        None => None,
    };
    let mut relayer = Relayer {
        node,
        worker,
        operator,
        collateral,
        registration_sent: None,
        page_size: args.page_size,
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
    node: NodeApi,
    worker: Worker,
    operator: Option<AccountPair>,
    collateral: Option<Vec<u8>>,
    /// When a registration was last submitted: wait for it to land before sending another.
    registration_sent: Option<Instant>,
    /// The most messages in one batch.
    page_size: u64,
    snapshot_interval: Duration,
    /// When a snapshot was last uploaded.
    snapshot_sent: Option<Instant>,
    /// When each silent cluster member was last reported: wait for the report to land.
    reported: std::collections::BTreeMap<String, Instant>,
}

/// How long to wait for a submitted registration or report to land before sending it again.
const RESUBMIT_AFTER: Duration = Duration::from_secs(10);

/// A runtime this many blocks behind the node's newest finalized block counts as synced.
const SYNCED_WITHIN_BLOCKS: u64 = 3;

impl Relayer {
    fn round(&mut self) -> Result<(), String> {
        let runtime = self.worker.status().map_err(|e| format!("runtime status: {e}"))?;
        // A gatekeeper registers too: the others check its quote before they share the master key.
        // A registration that fails is said and retried later; it never holds up sync and egress
        // (a runtime left without them would look silent and be reported offline).
        if let Err(error) = self.register(&runtime) {
            log!("relay: {error}");
        }
        self.sync(&runtime)?;
        self.submit_egress()?;
        if let Some(membership) = runtime.cluster {
            let cluster = ClusterId(membership.cluster);
            if membership.awaiting_snapshot {
                self.take_over_snapshot(cluster)?;
            } else {
                self.upload_snapshot(cluster)?;
                self.report_offline(cluster, &runtime)?;
            }
        }
        Ok(())
    }

    /// Uploads the runtime's sealed cluster snapshot, at most once per interval.
    fn upload_snapshot(&mut self, cluster: ClusterId) -> Result<(), String> {
        if self.snapshot_sent.is_some_and(|sent| sent.elapsed() < self.snapshot_interval) {
            return Ok(());
        }
        self.snapshot_sent = Some(Instant::now());
        let snapshot = self.worker.snapshot().map_err(|e| format!("runtime snapshot: {e}"))?;
        match self.node.put_snapshot(&snapshot) {
            // Another member's snapshot is as new: nothing to do.
            Ok(()) | Err(ClientError::Refused { code: ErrorCode::NotNewer, .. }) => Ok(()),
            Err(error) => Err(format!("snapshot upload of {cluster}: {error}")),
        }
    }

    /// Hands the newest stored snapshot of the cluster to a runtime that joined as a replacement.
    fn take_over_snapshot(&self, cluster: ClusterId) -> Result<(), String> {
        let stored = match self.node.snapshot(cluster) {
            Ok(stored) => stored,
            Err(ClientError::NotFound(_)) => return Ok(()), // No live member uploaded one yet.
            Err(error) => return Err(format!("snapshot download: {error}")),
        };
        let bytes = unhex(&stored.snapshot)?;
        self.worker
            .import_snapshot(&bytes)
            .map_err(|e| format!("the runtime refused the snapshot at height {}: {e}", stored.height))?;
        log!("relay: the runtime took over {cluster}'s snapshot at height {}", stored.height);
        Ok(())
    }

    /// Reports members of the cluster that the node shows unfit (needs `--operator`, who pays):
    /// never its own runtime, and only while that runtime is synced (just after a restart it
    /// would otherwise report the others before their first heartbeats land).
    fn report_offline(&mut self, cluster: ClusterId, runtime: &RuntimeStatus) -> Result<(), String> {
        let Some(operator) = &self.operator else { return Ok(()) };
        let view = self.node.cluster(cluster).map_err(|e| format!("{cluster}: {e}"))?;
        if runtime.height.saturating_add(SYNCED_WITHIN_BLOCKS) < view.height {
            return Ok(());
        }
        for member in view.workers {
            let worker = member.worker;
            if worker == runtime.identity {
                continue;
            }
            let Some(unfit) = &member.unfit else { continue };
            if self.reported.get(&worker).is_some_and(|at| at.elapsed() < RESUBMIT_AFTER) {
                continue;
            }
            let identity: [u8; 32] =
                unhex(&worker)?.try_into().map_err(|_| format!("worker {worker} is not 32 bytes"))?;
            let call = Call::Epochs(EpochsCall::ReportOffline { cluster, worker: identity });
            match self.node.sign_and_submit(operator, call) {
                Ok(submitted) => log!("relay: reported worker {worker} of {cluster} ({unfit}): {}", submitted.hash),
                Err(error) => log!("relay: the report of worker {worker} of {cluster} was refused: {error}"),
            }
            self.reported.insert(worker, Instant::now());
        }
        Ok(())
    }

    fn register(&mut self, runtime: &RuntimeStatus) -> Result<(), String> {
        let Some(operator) = &self.operator else { return Ok(()) };
        let identity = Worker::identity(runtime).map_err(|e| e.to_string())?;
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis());
        // Not registered, or not known to be: register (again).
        let fresh = self
            .node
            .worker(&identity)
            .is_ok_and(|registered| registered.active && u128::from(registered.expires_at_ms) > now + 30_000);
        if fresh || self.registration_sent.is_some_and(|sent| sent.elapsed() < RESUBMIT_AFTER) {
            return Ok(());
        }
        let answer = self
            .worker
            .registration(&operator.public().to_string())
            .map_err(|e| format!("runtime registration: {e}"))?;
        let info: RegistrationInfo = decode(&answer.info)?;
        let attestation = match (&answer.quote, &self.collateral) {
            (None, _) => Attestation::InsecureSoftware,
            (Some(quote), Some(collateral)) => Attestation::Dcap {
                quote: unhex(quote)?.try_into().map_err(|_| "quote too large".to_string())?,
                collateral: collateral.clone().try_into().map_err(|_| "collateral too large".to_string())?,
            },
            (Some(_), None) => return Err("the runtime produced a quote: pass --collateral".into()),
        };
        let call = Call::Registry(RegistryCall::RegisterWorker { info, attestation });
        let submitted = self.node.sign_and_submit(operator, call);
        match &submitted {
            // Another pending transaction of the operator (another relayer's registration) holds
            // the nonce, so nothing was submitted; the next round retries once that one finalizes.
            Err(ClientError::Refused { code: ErrorCode::Conflict, .. }) => return Ok(()),
            // Submitted or refused: wait before sending another either way.
            _ => self.registration_sent = Some(Instant::now()),
        }
        let submitted = submitted.map_err(|error| format!("registration of worker {}: {error}", runtime.identity))?;
        log!("relay: registration of worker {} submitted: {}", runtime.identity, submitted.hash);
        Ok(())
    }

    /// One batch: every followed topic from where the runtime stands, at one finalized height, in
    /// canonical order, up to the page size (the topic that exhausts it ends the batch as a page).
    fn sync(&self, runtime: &RuntimeStatus) -> Result<(), String> {
        let positions = runtime
            .topics
            .iter()
            .map(|(topic, from)| {
                Ok((topic.parse::<Topic>().map_err(|e| format!("runtime topic {topic}: {e}"))?, *from))
            })
            .collect::<Result<Vec<_>, String>>()?;
        let mut at: Option<(u64, Vec<u8>, Vec<u8>)> = None;
        let deliveries = assemble(positions, self.page_size, |topic, from, budget| {
            let query = TopicQuery {
                from: from.unwrap_or_default(),
                height: at.as_ref().map(|(height, _, _)| *height),
                limit: Some(budget),
                at_end: from.is_none(),
            };
            let answer = match self.node.topic_messages(topic, &query) {
                Ok(answer) => answer,
                Err(ClientError::NotFound(_)) if query.from == 0 => return Ok(None), // Nothing here yet.
                // On a windowed topic, the runtime's position may have left the window the chain
                // keeps: it moves on to the end (and refuses that unless its messages are gone).
                Err(ClientError::Refused { code: ErrorCode::BadRange, message, .. })
                    if topic.kept_messages().is_some() =>
                {
                    log!("relay: topic {topic} from {}: {message}; offering the runtime its end", query.from);
                    self.node
                        .topic_messages(topic, &TopicQuery { at_end: true, ..query })
                        .map_err(|error| format!("topic {topic} from its end: {error}"))?
                }
                Err(error) => return Err(format!("topic {topic} from {}: {error}", query.from)),
            };
            if at.is_none() {
                at = Some((answer.height, unhex(&answer.header)?, unhex(&answer.finalization)?));
            }
            let messages: Vec<Message> =
                answer.messages.iter().map(|message| decode::<Message>(message)).collect::<Result<_, _>>()?;
            let proof: TopicProof = decode(&answer.proof)?;
            let start = answer.start.as_deref().map(decode::<LogPeaks>).transpose()?;
            let end = answer.from + messages.len() as u64;
            if end < answer.length {
                log!("relay: catching up in pages: topic {topic} to {end} of {}", answer.length);
            }
            Ok(Some(TopicDelivery { topic: *topic, messages, proof, start }))
        })?;
        let Some((height, header, certificate)) = at else { return Ok(()) };
        if height <= runtime.height && deliveries.iter().all(|d| d.messages.is_empty() && d.start.is_none()) {
            return Ok(());
        }
        let header = veil_primitives::Header::decode_all(&mut &header[..]).map_err(|e| format!("header: {e}"))?;
        let batch = Batch { certificate, header, topics: deliveries };
        self.worker
            .sync(&batch.encode())
            .map_err(|e| format!("the runtime refused the batch at height {height}: {e}"))?;
        Ok(())
    }

    /// Submits pending egress the chain has not accepted yet.
    fn submit_egress(&self) -> Result<(), String> {
        let pending = self.worker.egress().map_err(|e| format!("runtime egress: {e}"))?;
        let mut next_on_chain = std::collections::BTreeMap::new();
        for copy in pending {
            let sender = copy.egress.sender;
            let next = match next_on_chain.get(&sender) {
                Some(next) => *next,
                None => {
                    let next = match self.node.sender(&sender) {
                        Ok(info) => info.next_sequence,
                        // Not a sender yet: the chain has none of its egress.
                        Err(ClientError::NotFound(_)) => 0,
                        Err(error) => return Err(format!("sender {sender}: {error}")),
                    };
                    next_on_chain.insert(sender, next);
                    next
                }
            };
            if copy.egress.sequence < next {
                continue; // The chain has it.
            }
            if let Err(error) = self.node.submit_egress(&copy) {
                log!("relay: egress {sender} #{} refused: {error}", copy.egress.sequence);
            }
        }
        Ok(())
    }
}
