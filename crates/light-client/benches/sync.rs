//! Light-client sync over a generated chain of 100k+ blocks.
//!
//! `cargo bench -p veil-light-client --bench sync [-- BLOCKS]` builds the chain with the chain's own
//! rules (one command per block, round-robin over 16 contracts, certificates signed by the
//! dealer's shares), then measures a light client that follows one contract's topic:
//!
//! - **catch-up**: from genesis to the tip in one step (the newest certificate, then the range proof
//!   of the topic's messages);
//! - **steps**: the same in steps of 1,000 blocks, as a runtime polling every few minutes would;
//! - **every block**: a certificate and a one-block range per block, over the last 1,000 blocks;
//! - the cost per certificate and per message of range proof, against SHA-256 and BLS
//!   verification measured in the same run (the hardware limits);
//! - the peak resident memory of a reader process doing each sync: the bench re-runs itself as a
//!   reader (`--reader FILE`) on the recorded input, so the generator's memory is not counted.

use parity_scale_codec::{Decode, Encode};
use std::{
    path::Path,
    process::Command,
    time::{Duration, Instant},
};
use veil_consensus::testing::GeneratedChain;
use veil_light_client::LightClient;
use veil_primitives::{Hash, Header, Message, Topic, hashing::sha256, log::LogPeaks, topics::TopicProof};

/// Runs `f`; returns its result and its time.
fn timed<T>(f: impl FnOnce() -> T) -> (T, Duration) {
    let start = Instant::now();
    let result = f();
    (result, start.elapsed())
}

/// One sync step as a runtime does it: hash the messages it received, check the certificate, the
/// header and the range. Returns the peaks to keep.
fn sync_step(
    client: &LightClient,
    certificate: &[u8],
    header: &Header,
    topic: &Topic,
    kept: &LogPeaks,
    messages: &[Message],
    proof: &TopicProof,
) -> LogPeaks {
    let hashes: Vec<(u64, Hash)> =
        messages.iter().enumerate().map(|(i, message)| (kept.length + i as u64, message.hash())).collect();
    client
        .verify_topic(certificate, header, topic, kept, &hashes, proof)
        .unwrap_or_else(|error| panic!("sync refused: {error}"))
}

/// What a reader receives for one step: the certificate, header, messages and proof.
#[derive(Clone, Encode, Decode)]
struct Step {
    certificate: Vec<u8>,
    header: Header,
    messages: Vec<Message>,
    proof: TopicProof,
}

/// Everything a reader process needs: the pinned network, its topic, where it stands, its steps.
#[derive(Encode, Decode)]
struct SyncInput {
    network_key: [u8; 96],
    namespace: String,
    topic: Topic,
    start: LogPeaks,
    steps: Vec<Step>,
}

/// The reader process: loads its input, syncs, prints its time and peak resident memory.
fn reader(path: &Path) {
    let bytes = std::fs::read(path).unwrap_or_else(|error| panic!("{}: {error}", path.display()));
    let input = SyncInput::decode(&mut &bytes[..]).unwrap_or_else(|error| panic!("input: {error}"));
    drop(bytes);
    let client =
        LightClient::new(&input.network_key, &input.namespace).unwrap_or_else(|error| panic!("client: {error}"));
    let (kept, elapsed) = timed(|| {
        let mut kept = input.start.clone();
        for step in &input.steps {
            kept =
                sync_step(&client, &step.certificate, &step.header, &input.topic, &kept, &step.messages, &step.proof);
        }
        kept
    });
    println!("elapsed_ns={} hwm_kib={} length={}", elapsed.as_nanos(), vm_hwm_kib(), kept.length);
}

/// Runs a reader process on `input`; returns its sync time and peak resident memory (KiB).
fn run_reader(input: &SyncInput) -> (Duration, u64) {
    let path = std::env::temp_dir().join(format!("veil-sync-{}.scale", std::process::id()));
    std::fs::write(&path, input.encode()).unwrap_or_else(|error| panic!("{}: {error}", path.display()));
    let exe = std::env::current_exe().unwrap_or_else(|error| panic!("current exe: {error}"));
    let output = Command::new(exe).arg("--reader").arg(&path).output().unwrap_or_else(|error| panic!("{error}"));
    let _ = std::fs::remove_file(&path);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "reader failed: {stdout} {}", String::from_utf8_lossy(&output.stderr));
    let field = |name: &str| -> u64 {
        stdout
            .split_whitespace()
            .find_map(|part| part.strip_prefix(name).and_then(|value| value.parse().ok()))
            .unwrap_or_else(|| panic!("reader printed {stdout}"))
    };
    (Duration::from_nanos(field("elapsed_ns=")), field("hwm_kib="))
}

fn vm_hwm_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find(|line| line.starts_with("VmHWM:"))
                .and_then(|line| line.split_whitespace().nth(1).and_then(|kib| kib.parse().ok()))
        })
        .unwrap_or(0)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(at) = args.iter().position(|arg| arg == "--reader") {
        return reader(Path::new(&args[at + 1]));
    }
    // Run without `--bench` (by `cargo test --benches`), a smoke size: the bench runs, tiny.
    let smoke = !std::env::args().any(|arg| arg == "--bench");
    let blocks: u64 = args.iter().skip(1).find_map(|arg| arg.parse().ok()).unwrap_or(if smoke { 20 } else { 100_000 });
    let step_blocks = if smoke { 5 } else { 1_000u64 };
    let follow_blocks = step_blocks.min(blocks / 2);

    let mut generated = GeneratedChain::new(16);
    let topic = generated.topic(0);
    let client = LightClient::new(&generated.network.network_key, &generated.network.namespace)
        .unwrap_or_else(|error| panic!("client: {error}"));

    // Build the chain, recording what a stepping reader and a block-by-block reader receive.
    let start = Instant::now();
    let mut steps: Vec<Step> = Vec::new();
    let mut follow: Vec<Step> = Vec::new();
    let mut stepped = 0u64;
    let mut followed = 0u64;
    let follow_from = blocks - follow_blocks;
    let mut signing = Duration::ZERO;
    for _ in 0..blocks {
        generated.extend();
        let height = generated.tip().height;
        let record = |from: u64, generated: &GeneratedChain, signing: &mut Duration| {
            let (messages, proof) = generated.topic_range(&topic, from);
            let signed = Instant::now();
            let certificate = generated.certify_tip();
            *signing += signed.elapsed();
            Step { certificate, header: generated.tip().clone(), messages, proof }
        };
        if height.is_multiple_of(step_blocks) {
            let step = record(stepped, &generated, &mut signing);
            stepped = step.proof.length;
            steps.push(step);
        }
        if height == follow_from {
            followed = generated.topic_range(&topic, 0).1.length;
        }
        if height > follow_from {
            let step = record(followed, &generated, &mut signing);
            followed = step.proof.length;
            follow.push(step);
        }
    }
    let generation = start.elapsed();
    let tip = generated.tip().clone();
    let (all, proof) = generated.topic_range(&topic, 0);
    let certificate = generated.certify_tip();
    println!(
        "generated {blocks} blocks ({} messages on the followed topic) in {:.1} s: {:.0} blocks/s including {:.1} s signing {} certificates",
        all.len(),
        generation.as_secs_f64(),
        blocks as f64 / generation.as_secs_f64(),
        signing.as_secs_f64(),
        steps.len() + follow.len(),
    );

    // Hardware limits in this run: BLS verification (one certificate) and SHA-256 of a message.
    let rounds = if smoke { 5 } else { 200 };
    let (_, bls) = timed(|| {
        for _ in 0..rounds {
            client.verify_header(&certificate, &tip).unwrap_or_else(|error| panic!("{error}"));
        }
    });
    let certificate_cost = bls / rounds;
    let hashes = if smoke { 1_000 } else { 100_000u32 };
    let (_, hashing) = timed(|| {
        let mut acc = Hash::ZERO;
        for i in 0..hashes {
            acc = sha256(&[acc.as_bytes().as_slice(), &i.to_le_bytes()].concat());
        }
        acc
    });
    let sha256_cost = hashing / hashes;

    // Range-proof cost per message, in process: catch-up less its one certificate.
    let (peaks, catch_up_in_process) =
        timed(|| sync_step(&client, &certificate, &tip, &topic, &LogPeaks::default(), &all, &proof));
    assert_eq!(peaks.length, all.len() as u64);
    let per_message = catch_up_in_process.saturating_sub(certificate_cost) / all.len().max(1) as u32;

    let network = &generated.network;
    let input = |start: LogPeaks, steps: Vec<Step>| SyncInput {
        network_key: network.network_key,
        namespace: network.namespace.clone(),
        topic,
        start,
        steps,
    };
    let whole = Step { certificate: certificate.clone(), header: tip.clone(), messages: all.clone(), proof };
    let (catch_up, catch_up_kib) = run_reader(&input(LogPeaks::default(), vec![whole]));
    let step_count = steps.len() as u64;
    let (stepping, stepping_kib) = run_reader(&input(LogPeaks::default(), steps));
    let start_peaks = {
        let mut peaks = LogPeaks::default();
        let first = follow.first().map_or(0, |step| step.proof.length - step.messages.len() as u64);
        for message in &all[..first as usize] {
            peaks.append(&message.hash());
        }
        peaks
    };
    let follow_count = follow.len() as u64;
    let (following, following_kib) = run_reader(&input(start_peaks, follow));
    let (_, idle_kib) = run_reader(&input(LogPeaks::default(), vec![]));

    let rate = |blocks: u64, time: Duration| blocks as f64 / time.as_secs_f64();
    println!("certificate + header: {certificate_cost:.1?} (BLS-bound); SHA-256 of 36 bytes: {sha256_cost:.1?}");
    println!(
        "range proof: {per_message:.1?} per message = {:.1} SHA-256s ({} messages)",
        per_message.as_secs_f64() / sha256_cost.as_secs_f64(),
        all.len()
    );
    println!("reader process peak resident memory with nothing to sync: {} MiB", idle_kib / 1024);
    println!(
        "catch-up {blocks} blocks in one step: {catch_up:.1?} = {:.0} blocks/s, reader peak {:.1} MiB",
        rate(blocks, catch_up),
        catch_up_kib as f64 / 1024.0
    );
    println!(
        "steps of {step_blocks} blocks ({step_count} steps): {stepping:.1?} = {:.0} blocks/s, reader peak {:.1} MiB",
        rate(step_count * step_blocks, stepping),
        stepping_kib as f64 / 1024.0
    );
    println!(
        "every block ({follow_count} blocks): {following:.1?} = {:.0} blocks/s ({:.2}x the certificate bound), reader peak {:.1} MiB",
        rate(follow_count, following),
        rate(follow_count, following) * certificate_cost.as_secs_f64(),
        following_kib as f64 / 1024.0
    );
    println!("bench process peak resident memory (generator included): {} MiB", vm_hwm_kib() / 1024);
}
