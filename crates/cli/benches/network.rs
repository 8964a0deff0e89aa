//! Finalized transfers per second and finality latency, on the single-validator devnet and on four
//! validators on loopback, beside the machine's sr25519 verification rate measured in the same run.
//! Real release-built `veil` processes, loaded over the REST API; finality is observed on the
//! Server-Sent Events stream of finalized blocks.
//!
//! `cargo bench -p veil-cli --bench network` (set `VEIL_BENCH_WAVES` to change the load; default 3
//! waves of 50 transfers from each of 64 accounts).
#![allow(clippy::unwrap_used, clippy::print_stderr, missing_docs)]

#[path = "../tests/support/mod.rs"]
mod support;

use std::time::{Duration, Instant};
use support::{Process, free_ports, pair, temp_dir, transfer, wait_all, watch_finality};
use veil_crypto::{AccountPair, verify_account_signature};

const ACCOUNTS: usize = 64;
const PER_WAVE: u64 = 50;

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

struct Report {
    idle_p50: Duration,
    idle_p99: Duration,
    transfers: usize,
    per_second: f64,
    load_p50: Duration,
    load_p99: Duration,
}

/// `waves` waves of `per_wave` transfers from each load account.
fn run_load(nodes: &[Process], waves: u64, per_wave: u64) -> Report {
    let chain = nodes[0].chain_id();
    let seen = watch_finality(&nodes[0].url);
    let treasury = pair("//Treasury");
    let accounts: Vec<AccountPair> = (0..ACCOUNTS).map(|i| pair(&format!("//bench//{i}"))).collect();

    // Fund the load accounts from the treasury.
    let funding: Vec<_> =
        accounts.iter().enumerate().map(|(n, a)| transfer(chain, &treasury, n as u64, a.public(), 10_000)).collect();
    for tx in &funding {
        assert_eq!(nodes[0].submit(tx).0, 202);
    }
    wait_all(&seen, &funding.iter().map(|t| t.hash()).collect::<Vec<_>>());

    // Idle finality: one transfer at a time.
    let recipient = pair("//Ferdie").public();
    let mut idle = Vec::new();
    for nonce in 0..20 {
        let tx = transfer(chain, &accounts[0], nonce, recipient, 1);
        let submitted = Instant::now();
        assert_eq!(nodes[0].submit(&tx).0, 202);
        wait_all(&seen, &[tx.hash()]);
        idle.push(seen.lock().unwrap()[&tx.hash().to_string()] - submitted);
    }
    idle.sort();

    // Load: waves of transfers from every account, each account through one node.
    let mut latencies = Vec::new();
    let mut nonces = vec![0u64; ACCOUNTS];
    nonces[0] = 20;
    let started = Instant::now();
    let mut last_final = started;
    let mut total = 0;
    for _ in 0..waves {
        let mut wave = Vec::new();
        for _ in 0..per_wave {
            for (index, account) in accounts.iter().enumerate() {
                let tx = transfer(chain, account, nonces[index], recipient, 1);
                nonces[index] += 1;
                let (status, body) = nodes[index % nodes.len()].submit(&tx);
                assert_eq!(status, 202, "{body:?}");
                wave.push((tx.hash(), Instant::now()));
            }
        }
        wait_all(&seen, &wave.iter().map(|(h, _)| *h).collect::<Vec<_>>());
        let seen = seen.lock().unwrap();
        for (hash, submitted) in &wave {
            let finalized = seen[&hash.to_string()];
            latencies.push(finalized - *submitted);
            last_final = last_final.max(finalized);
        }
        total += wave.len();
    }
    latencies.sort();
    Report {
        idle_p50: percentile(&idle, 0.5),
        idle_p99: percentile(&idle, 0.99),
        transfers: total,
        per_second: total as f64 / (last_final - started).as_secs_f64(),
        load_p50: percentile(&latencies, 0.5),
        load_p99: percentile(&latencies, 0.99),
    }
}

fn sr25519_verifications_per_second() -> f64 {
    let alice = pair("//Alice");
    let message = [7u8; 150];
    let signature = alice.sign(&message);
    let started = Instant::now();
    let mut count = 0u64;
    while started.elapsed() < Duration::from_secs(2) {
        for _ in 0..100 {
            verify_account_signature(&alice.public(), &message, &signature).unwrap();
        }
        count += 100;
    }
    count as f64 / started.elapsed().as_secs_f64()
}

fn print(name: &str, report: &Report) {
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "| {name} | {} | {:.0} | {:.0} ms | {:.0} ms | {:.0} ms | {:.0} ms |",
        report.transfers,
        report.per_second,
        ms(report.load_p50),
        ms(report.load_p99),
        ms(report.idle_p50),
        ms(report.idle_p99)
    );
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return; // `cargo test --benches` lists; nothing to list here.
    }
    // Run without `--bench` (by `cargo test --benches`), a smoke size: the bench runs, tiny.
    let smoke = !std::env::args().any(|arg| arg == "--bench");
    let default_waves = if smoke { 1 } else { 3 };
    let per_wave = if smoke { 1 } else { PER_WAVE };
    let waves: u64 = std::env::var("VEIL_BENCH_WAVES").ok().and_then(|w| w.parse().ok()).unwrap_or(default_waves);
    let verify = sr25519_verifications_per_second();

    let dir = temp_dir("bench");
    let devnet = {
        let data = dir.join("devnet");
        let node = Process::start(
            &["devnet", "--data-dir", data.to_str().unwrap(), "--api-port", "0", "--validator-only"],
            &dir.join("devnet.log"),
        );
        run_load(&[node], waves, per_wave)
    };

    let four = {
        let base = free_ports(8);
        let out = dir.join("net");
        let status = std::process::Command::new(env!("CARGO_BIN_EXE_veil"))
            .args(["testnet-config", "--validators", "4", "--out", out.to_str().unwrap()])
            .args(["--p2p-base-port", &base.to_string(), "--api-base-port", &(base + 4).to_string()])
            .output()
            .unwrap();
        assert!(status.status.success());
        let nodes: Vec<Process> = (0..4)
            .map(|i| {
                let config = out.join(format!("validator-{i}/node.toml"));
                Process::start(&["node", "--config", config.to_str().unwrap()], &dir.join(format!("v{i}.log")))
            })
            .collect();
        run_load(&nodes, waves, per_wave)
    };

    println!("\nsr25519 verifications, one core, same run: {verify:.0}/s");
    println!(
        "\n| network | transfers | finalized transfers/s | p50 finality (load) | p99 finality (load) | p50 finality (idle) | p99 finality (idle) |"
    );
    println!("|---|---|---|---|---|---|---|");
    print("devnet, 1 validator", &devnet);
    print("4 validators, loopback", &four);
    println!(
        "\nthroughput / verification ceiling: devnet {:.2}, 4 validators {:.2} (each transfer is verified at admission and again in the block)",
        devnet.per_second / verify,
        four.per_second / verify
    );
    let _ = std::fs::remove_dir_all(dir);
}
