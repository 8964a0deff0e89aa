//! `veil worker`: the registered workers and gatekeepers, proven from the chain, and what a
//! runtime says about itself.

use clap::Subcommand;
use parity_scale_codec::DecodeAll as _;
use serde_json::{Value, json};
use veil_chain::WorkerInfo;
use veil_client::{Node, Worker, hex0x, unhex};
use veil_primitives::{Header, SystemTopic, Topic, registration::WorkerRegistration};

use crate::{
    CommandError,
    connect::{Connection, Output, Report},
};

#[derive(Subcommand, Debug)]
pub(crate) enum WorkerCommand {
    /// Every registered worker and gatekeeper: its TEE, cluster, liveness and registration.
    List {
        #[command(flatten)]
        connection: Connection,
    },
    /// One worker's registration (proven) and, given its URL, its own status.
    Info {
        /// Its identity key (0x and 64 hex digits) or its API URL (http://...).
        worker: String,
        #[command(flatten)]
        connection: Connection,
    },
}

pub(crate) fn run(command: WorkerCommand, output: Output) -> Result<(), CommandError> {
    match command {
        WorkerCommand::List { connection } => list(&connection, output),
        WorkerCommand::Info { worker, connection } => info(&worker, &connection, output),
    }
}

/// Every identity that ever registered (the registrations topic, verified complete), and the
/// gatekeepers of the set, in first-seen order.
fn registered(node: &Node, gatekeepers: &[[u8; 32]]) -> Result<Vec<[u8; 32]>, CommandError> {
    let mut identities = gatekeepers.to_vec();
    for message in node.topic_messages(&Topic::System(SystemTopic::Registrations))? {
        let registration = WorkerRegistration::decode_all(&mut &message.payload[..])
            .map_err(|e| CommandError::Unavailable(format!("a registration message does not decode: {e}")))?;
        if !identities.contains(&registration.info.signing_key) {
            identities.push(registration.info.signing_key);
        }
    }
    Ok(identities)
}

/// The URLs of the known runtimes (the devnet's or `--worker`), by identity.
fn urls(connection: &Connection) -> Vec<([u8; 32], String)> {
    let workers = connection.workers().unwrap_or_default();
    workers
        .iter()
        .filter_map(|worker| {
            let identity = worker.status().and_then(|status| Worker::identity(&status)).ok()?;
            Some((identity, worker.url().to_owned()))
        })
        .collect()
}

fn describe(
    gatekeepers: &[[u8; 32]],
    identity: &[u8; 32],
    info: &WorkerInfo,
    header: &Header,
    (offline_after_ms, stalled_ms): (u64, u64),
    url: Option<&str>,
) -> (String, Value) {
    let role = if gatekeepers.contains(identity) { "gatekeeper" } else { "worker" };
    let tee = info.tee.map_or_else(|| "software (insecure)".to_owned(), |kind| kind.to_string());
    let live = info.is_live(header.timestamp_ms, offline_after_ms, stalled_ms);
    let cluster = info.cluster.map_or_else(|| "-".to_owned(), |c| c.0.to_string());
    let expires = veil_attestation::time::format_rfc3339(info.expires_at_ms / 1_000);
    let text = format!(
        "{} {role:<10} {tee:<20} cluster {cluster:<3} {:<7} expires {expires}{}",
        hex0x(identity),
        if live { "live" } else { "silent" },
        url.map_or_else(String::new, |url| format!("  {url}"))
    );
    let json = json!({
        "identity": hex0x(identity),
        "role": role,
        "tee": tee,
        "cluster": info.cluster.map(|c| c.0),
        "live": live,
        "operator": info.operator.to_string(),
        "agreement_key": hex0x(info.agreement_key),
        "expires_at_ms": info.expires_at_ms,
        "last_seen_ms": info.last_seen_ms,
        "url": url,
    });
    (text, json)
}

fn list(connection: &Connection, output: Output) -> Result<(), CommandError> {
    let node = connection.node()?;
    let urls = urls(connection);
    let mut lines = Vec::new();
    let mut rows = Vec::new();
    let mut height = 0;
    let liveness = (node.parameters()?.value.liveness.offline_after_ms, node.epochs()?.value.stalled_ms);
    let gatekeepers = node.gatekeepers()?.value;
    for identity in registered(&node, &gatekeepers)? {
        let proven = node.worker(&identity)?;
        height = height.max(proven.header.height);
        let Some(info) = proven.value else { continue };
        let url = urls.iter().find(|(id, _)| *id == identity).map(|(_, url)| url.as_str());
        let (line, row) = describe(&gatekeepers, &identity, &info, &proven.header, liveness, url);
        lines.push(line);
        rows.push(row);
    }
    let text = if lines.is_empty() {
        "No worker is registered yet.\n".to_owned()
    } else {
        format!("{} registered (proven at block {height}):\n  {}\n", lines.len(), lines.join("\n  "))
    };
    let quiet = rows.iter().filter_map(|row| row["identity"].as_str()).collect::<Vec<_>>().join("\n");
    output.emit(Report { text, json: json!({ "height": height, "workers": rows }), quiet })
}

fn info(worker: &str, connection: &Connection, output: Output) -> Result<(), CommandError> {
    let node = connection.node()?;
    let (identity, status) = if worker.starts_with("http") {
        let status = Worker::new(worker)?.status_on(&node.network().chain_id())?;
        (Worker::identity(&status)?, Some(status))
    } else {
        let identity = unhex(worker).ok().and_then(|bytes| <[u8; 32]>::try_from(bytes).ok()).ok_or_else(|| {
            CommandError::BadInput(format!("{worker:?} is neither a worker's URL nor its 0x identity key"))
        })?;
        (identity, None)
    };
    let proven = node.worker(&identity)?;
    let info = proven
        .value
        .ok_or_else(|| CommandError::Negative(format!("worker {} is not registered on this chain", hex0x(identity))))?;
    let url = status.as_ref().map(|_| worker);
    let offline_after_ms = node.parameters()?.value.liveness.offline_after_ms;
    let gatekeepers = node.gatekeepers()?.value;
    let liveness = (offline_after_ms, node.epochs()?.value.stalled_ms);
    let (line, mut json) = describe(&gatekeepers, &identity, &info, &proven.header, liveness, url);
    let mut text = format!("{line}\n  operator: {}\n  proven at block {}\n", info.operator, proven.header.height);
    if let Some(status) = &status {
        text.push_str(&format!(
            "  runtime: {} on {}, at block {}, {} contracts, state root {}\n",
            status.role,
            status.platform,
            status.height,
            status.contracts.len(),
            status.state_root
        ));
        for refusal in &status.refusals {
            text.push_str(&format!("  refused: {refusal}\n"));
        }
        // The runtime's own status, in the API's shape.
        json["runtime"] = json!(status);
    }
    output.emit(Report { text, json, quiet: hex0x(identity) })
}
