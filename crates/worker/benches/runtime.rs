//! Worker runtime benchmarks, against the real `veil-worker` process over its HTTP API:
//!
//! - sync: a generated chain of N blocks (default 100,000), each with one sealed command to the
//!   built-in notes contract, fed as batches of 1,000 blocks (the relayer's catch-up), then the
//!   last 1,000 blocks one batch per block (following the tip); blocks/s and the process's peak
//!   resident memory (VmHWM). Every batch is verified (certificate, header, topic ranges), every
//!   command opened and executed, and a sealed checkpoint written before the answer.
//! - queries: sealed, signed notes queries over loopback HTTP: latency p50/p99 from one client,
//!   and queries/s from two clients; against the cost of the cryptography a query needs (an
//!   sr25519 verification, two X25519 agreements, an ed25519 signature) measured here.
//!
//! `cargo bench -p veil-worker --bench runtime [-- BLOCKS]`
#![allow(clippy::unwrap_used, clippy::print_stdout, missing_docs)]

#[path = "../tests/support/mod.rs"]
mod support;

use parity_scale_codec::Encode;
use std::{
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};
use support::{Scenario, notes_query};
use veil_api::{
    paths::worker as paths,
    worker::{PendingEgress, RuntimeStatus},
};
use veil_chain::testing::pair;
use veil_crypto::{
    AgreementSecret, RuntimeSigner, SecretBytes,
    confidential::{open_answer, seal_query},
    verify_account_signature,
};
use veil_http::request;
use veil_primitives::Topic;
use veil_worker::{contract::NotesCommand, sync::Batch};

struct WorkerProcess {
    child: Child,
    authority: String,
}

impl Drop for WorkerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl WorkerProcess {
    fn status(&self) -> RuntimeStatus {
        let (_, body) = request(&self.authority, "GET", paths::STATUS, "application/json", b"").unwrap();
        serde_json::from_slice(&body).unwrap()
    }

    fn sync(&self, batch: &Batch) {
        let (status, body) =
            request(&self.authority, "POST", paths::SYNC, "application/octet-stream", &batch.encode()).unwrap();
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    }

    /// The runtime's pending egress, as a relayer fetches it.
    fn egress(&self) -> Vec<veil_primitives::SignedEgress> {
        let (_, body) = request(&self.authority, "GET", paths::EGRESS, "application/json", b"").unwrap();
        let answer: PendingEgress = serde_json::from_slice(&body).unwrap();
        answer
            .egress
            .iter()
            .map(|copy| {
                let bytes = hex::decode(copy.trim_start_matches("0x")).unwrap();
                veil_primitives::decode_strict(&bytes).unwrap()
            })
            .collect()
    }

    fn peak_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        status
            .lines()
            .find(|line| line.starts_with("VmHWM:"))
            .and_then(|line| line.split_whitespace().nth(1)?.parse().ok())
            .unwrap()
    }
}

fn start_worker(scenario: &Scenario, dir: &std::path::Path) -> WorkerProcess {
    std::fs::create_dir_all(dir).unwrap();
    let genesis = dir.join("genesis.toml");
    std::fs::write(&genesis, scenario.genesis.to_toml()).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_veil-worker"))
        .args(["--genesis", genesis.to_str().unwrap(), "--data-dir", dir.join("data").to_str().unwrap()])
        .args(["--listen", "127.0.0.1:0", "--max-age-secs", "0", "--max-lag-blocks", "1000000"])
        .args(["--operator", &scenario.bob.public().to_string()])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(&mut std::io::BufReader::new(child.stdout.take().unwrap()), &mut line).unwrap();
    let url = line.split("listening on http://").nth(1).unwrap().split_whitespace().next().unwrap().to_owned();
    WorkerProcess { child, authority: url }
}

fn lengths_of(status: &RuntimeStatus) -> Vec<(Topic, u64)> {
    status.topics.iter().map(|(t, l)| (t.parse().unwrap(), *l)).collect()
}

/// A 32-byte key from its `0x` hex.
fn key32(text: &str) -> [u8; 32] {
    hex::decode(text.trim_start_matches("0x")).unwrap().try_into().unwrap()
}

fn per_second(count: u64, elapsed: Duration) -> f64 {
    count as f64 / elapsed.as_secs_f64()
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 * p) as usize).min(sorted.len() - 1)]
}

fn main() {
    // Run without `--bench` (by `cargo test --benches`), a smoke size: the bench runs, tiny.
    let smoke = !std::env::args().any(|arg| arg == "--bench");
    let default = if smoke { 10 } else { 100_000 };
    let blocks: u64 = std::env::args().skip(1).find_map(|arg| arg.parse().ok()).unwrap_or(default);
    let step = if smoke { 5 } else { 1_000u64 };
    let follow = step.min(blocks / 2);
    let dir = std::env::temp_dir().join(format!("veil-worker-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);

    // A chain where the worker process is registered and assigned, and has its keys.
    let mut scenario = Scenario::new();
    let worker = start_worker(&scenario, &dir);
    let mut gatekeeper = scenario.registered_gatekeeper();
    let status = worker.status();
    let (identity, agreement) = (key32(&status.identity), key32(&status.agreement_key));
    // The first key epoch opens, then the worker registers and announces its epoch keys, which a
    // cluster's workers must have.
    scenario.relay(&mut gatekeeper);
    scenario.relay(&mut gatekeeper);
    scenario.register(identity, agreement);
    worker.sync(&scenario.batch_from(lengths_of(&worker.status())));
    scenario.submit(worker.egress());
    scenario.assign(&[identity]);
    scenario.relay(&mut gatekeeper);
    scenario.relay(&mut gatekeeper);
    worker.sync(&scenario.batch_from(lengths_of(&worker.status())));
    worker.sync(&scenario.batch_from(lengths_of(&worker.status())));
    let status = worker.status();
    assert_eq!(status.contracts.len(), 1, "{status:?}");
    let keys = scenario.notes_keys();

    // The chain: one sealed command per block (Charlie adds a note, then clears, in turn).
    let charlie = pair("//Charlie");
    let mut lengths = lengths_of(&worker.status());
    let (mut steps, mut singles) = (Vec::new(), Vec::new());
    let generating = Instant::now();
    for i in 0..blocks {
        let command = if i % 2 == 0 { NotesCommand::Add(vec![7; 32].try_into().unwrap()) } else { NotesCommand::Clear };
        let tx = scenario.command(&keys, &charlie, &command);
        scenario.block(vec![tx]);
        let done = i + 1;
        if done > blocks - follow || done % step == 0 {
            let next = scenario.batch_from(lengths.iter().copied());
            for (topic, length) in &mut lengths {
                if let Some(delivered) = next.topics.iter().find(|t| t.topic == *topic) {
                    *length = delivered.proof.length;
                }
            }
            if done <= blocks - follow { steps.push(next) } else { singles.push(next) }
        }
    }
    println!("generated {blocks} blocks in {:.1?}", generating.elapsed());

    let idle_kib = worker.peak_kib();
    let start = Instant::now();
    for batch in &steps {
        worker.sync(batch);
    }
    let stepping = start.elapsed();
    let stepped_blocks = blocks - follow;
    let after_steps_kib = worker.peak_kib();
    let start = Instant::now();
    for batch in &singles {
        worker.sync(batch);
    }
    let following = start.elapsed();
    let status = worker.status();
    assert_eq!(status.height, scenario.chain.tip().height, "{status:?}");
    assert!(status.refusals.is_empty(), "{status:?}");
    println!("runtime process peak resident memory before syncing: {:.1} MiB", idle_kib as f64 / 1024.0);
    println!(
        "sync in steps of {step} blocks ({} batches): {stepping:.1?} = {:.0} blocks/s (one command each), peak {:.1} MiB",
        steps.len(),
        per_second(stepped_blocks, stepping),
        after_steps_kib as f64 / 1024.0
    );
    println!(
        "sync every block ({follow} batches): {following:.1?} = {:.0} blocks/s, peak {:.1} MiB",
        per_second(follow, following),
        worker.peak_kib() as f64 / 1024.0
    );

    // Queries.
    let client_query = |by: &veil_crypto::AccountPair| {
        let (query, response) = notes_query(&scenario, identity, by, by.public());
        let signed = query.sign(by);
        (seal_query(&agreement, &signed).unwrap(), signed.hash(), response)
    };
    let ask = |authority: &str, prepared: &(Vec<u8>, veil_primitives::Hash, AgreementSecret)| {
        let (status, body) = request(authority, "POST", paths::QUERY, "application/octet-stream", &prepared.0).unwrap();
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
        open_answer(&prepared.2, &prepared.1, &identity, &body).unwrap();
    };
    let count = if smoke { 10 } else { 2_000 };
    let prepared: Vec<_> = (0..count).map(|_| client_query(&charlie)).collect();
    let mut latencies: Vec<Duration> = prepared
        .iter()
        .map(|query| {
            let start = Instant::now();
            ask(&worker.authority, query);
            start.elapsed()
        })
        .collect();
    latencies.sort();
    println!(
        "query latency over loopback HTTP ({count} sequential): p50 {:.0?} p99 {:.0?}",
        percentile(&latencies, 0.50),
        percentile(&latencies, 0.99)
    );
    let prepared: Vec<_> = (0..2 * count).map(|_| client_query(&charlie)).collect();
    let start = Instant::now();
    std::thread::scope(|scope| {
        for half in prepared.chunks(count) {
            let authority = worker.authority.clone();
            scope.spawn(move || half.iter().for_each(|query| ask(&authority, query)));
        }
    });
    let elapsed = start.elapsed();
    let throughput = per_second(2 * count as u64, elapsed);
    println!("queries/s with two clients ({} queries): {throughput:.0}", 2 * count);

    // The cryptography a query needs, on this machine.
    let rounds = if smoke { 10 } else { 2_000 };
    let message = b"veil bench message";
    let signature = charlie.sign(message);
    let start = Instant::now();
    for _ in 0..rounds {
        verify_account_signature(&charlie.public(), message, &signature).unwrap();
    }
    let sr25519 = start.elapsed() / rounds;
    let secret = AgreementSecret::generate().unwrap();
    let start = Instant::now();
    for _ in 0..rounds {
        secret.agree(&agreement).unwrap();
    }
    let x25519 = start.elapsed() / rounds;
    let signer = RuntimeSigner::from_seed(&SecretBytes::new([1; 32]));
    let start = Instant::now();
    for _ in 0..rounds {
        signer.sign(message);
    }
    let ed25519 = start.elapsed() / rounds;
    let bound = sr25519 + 2 * x25519 + ed25519;
    println!(
        "query cryptography: sr25519 verify {sr25519:.1?}, X25519 {x25519:.1?} (x2), ed25519 sign {ed25519:.1?}: {bound:.1?} per query = {:.0}/s per core",
        1.0 / bound.as_secs_f64()
    );
    println!(
        "p50 latency = {:.1}x the cryptography; throughput = {:.2} of the two-core bound",
        percentile(&latencies, 0.5).as_secs_f64() / bound.as_secs_f64(),
        throughput / (2.0 / bound.as_secs_f64())
    );
    drop(worker);
    let _ = std::fs::remove_dir_all(&dir);
}
