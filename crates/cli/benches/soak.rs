//! A soak: `veil devnet` (the validator, the development gatekeeper, two workers, their relayers)
//! under 80% of its measured peak load for a long time, with the resident memory of every process
//! and the data directory's size sampled each minute.
//!
//! First the peak: waves of transfers from 64 funded accounts as fast as the network finalizes
//! them (as `--bench network` measures). Then a paced load of 80% of that peak, for
//! `VEIL_SOAK_MINUTES` minutes (default 30), each account submitting its next transfer in turn;
//! every minute a line with the finalized height, the transfers accepted and refused so far, each
//! process's VmRSS and the data directory's size. The summary compares each process's memory at
//! the end with its memory after the first minute (the warm-up) and after the tenth (the
//! validator's bounded caches full), and gives the disk growth per
//! minute and per 1,000 blocks.
//!
//! `cargo bench -p veil-cli --bench soak` (not run in full by `./test`: there it runs once for a
//! few seconds at a smoke size).
#![allow(clippy::unwrap_used, clippy::print_stdout, missing_docs)]

#[path = "../tests/support/mod.rs"]
mod support;

use std::{
    collections::BTreeMap,
    path::Path,
    time::{Duration, Instant},
};
use support::{Process, descendants, pair, resident_mib, temp_dir, transfer, wait_all, watch_finality};
use veil_crypto::AccountPair;

const ACCOUNTS: usize = 64;

/// A readable name for a process of the devnet: its program and role.
fn name(pid: u32, data: &Path) -> String {
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    let args: Vec<String> =
        cmdline.split(|b| *b == 0).filter(|a| !a.is_empty()).map(|a| String::from_utf8_lossy(a).into_owned()).collect();
    let program = args.first().map(|p| Path::new(p).file_name().unwrap().to_string_lossy().into_owned());
    let program = program.unwrap_or_default();
    let value = |flag: &str| args.iter().position(|a| a == flag).and_then(|i| args.get(i + 1)).cloned();
    match program.as_str() {
        "veil" if args.get(1).map(String::as_str) == Some("relay") => {
            format!("relay {}", value("--worker").unwrap_or_default().rsplit(':').next().unwrap_or_default())
        }
        "veil" => "validator (veil devnet)".into(),
        "veil-worker" => {
            let dir = value("--data-dir").unwrap_or_default();
            let dir = dir.strip_prefix(data.to_str().unwrap()).unwrap_or(&dir).trim_start_matches('/').to_owned();
            format!("runtime {dir}")
        }
        other => other.to_owned(),
    }
}

/// Total size of the files under `dir`, in MiB.
fn disk_mib(dir: &Path) -> f64 {
    fn walk(dir: &Path) -> u64 {
        let Ok(entries) = std::fs::read_dir(dir) else { return 0 };
        entries
            .flatten()
            .map(|entry| match entry.metadata() {
                Ok(meta) if meta.is_dir() => walk(&entry.path()),
                Ok(meta) => meta.len(),
                Err(_) => 0,
            })
            .sum()
    }
    walk(dir) as f64 / (1024.0 * 1024.0)
}

/// Every process of the devnet with its resident memory.
fn memory(devnet: u32, data: &Path) -> BTreeMap<String, f64> {
    std::iter::once(devnet).chain(descendants(devnet)).map(|pid| (name(pid, data), resident_mib(pid))).collect()
}

/// Finalized transfers per second with every account sending `waves` waves of `per_wave`.
fn peak(node: &Process, accounts: &[AccountPair], nonces: &mut [u64], waves: u64, per_wave: u64) -> f64 {
    let chain = node.chain_id();
    let seen = watch_finality(&node.url);
    let recipient = pair("//Ferdie").public();
    let started = Instant::now();
    let mut count = 0;
    for _ in 0..waves {
        let mut hashes = Vec::new();
        for _ in 0..per_wave {
            for (index, account) in accounts.iter().enumerate() {
                let tx = transfer(chain, account, nonces[index], recipient, 1);
                nonces[index] += 1;
                assert_eq!(node.submit(&tx).0, 202);
                hashes.push(tx.hash());
            }
        }
        wait_all(&seen, &hashes);
        count += hashes.len();
    }
    count as f64 / started.elapsed().as_secs_f64()
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    // Run without `--bench` (by `cargo test --benches`), a smoke size: the soak runs, briefly.
    let smoke = !std::env::args().any(|arg| arg == "--bench");
    let minutes: f64 = std::env::var("VEIL_SOAK_MINUTES").ok().and_then(|m| m.parse().ok()).unwrap_or(30.0);
    let (duration, sample) = if smoke {
        (Duration::from_secs(6), Duration::from_secs(2))
    } else {
        (Duration::from_secs_f64(minutes * 60.0), Duration::from_secs(60))
    };
    // `veil devnet` starts the runtimes from the `veil-worker` beside it, in this profile.
    support::worker_binary();
    let dir = temp_dir("soak");
    let data = dir.join("devnet");
    let args = ["devnet", "--output", "json", "--data-dir", data.to_str().unwrap(), "--api-port", "0"];
    let devnet = Process::start_until(&args, &dir.join("devnet.log"), "ready_after_ms");
    let pid = devnet.child.id();

    // Fund the load accounts from the treasury.
    let chain = devnet.chain_id();
    let treasury = pair("//Treasury");
    let accounts: Vec<AccountPair> = (0..ACCOUNTS).map(|i| pair(&format!("//soak//{i}"))).collect();
    let seen = watch_finality(&devnet.url);
    let funding: Vec<_> = accounts
        .iter()
        .enumerate()
        .map(|(n, account)| transfer(chain, &treasury, n as u64, account.public(), 1_000_000))
        .collect();
    for tx in &funding {
        assert_eq!(devnet.submit(tx).0, 202);
    }
    wait_all(&seen, &funding.iter().map(|tx| tx.hash()).collect::<Vec<_>>());

    let mut nonces = vec![0u64; ACCOUNTS];
    let (waves, per_wave) = if smoke { (1, 1) } else { (3, 50) };
    let peak = peak(&devnet, &accounts, &mut nonces, waves, per_wave);
    let rate = 0.8 * peak;
    println!(
        "peak: {peak:.0} finalized transfers/s; soak at 80% = {rate:.0}/s for {duration:.0?}, sampled every {sample:.0?}"
    );

    let recipient = pair("//Ferdie").public();
    let (mut accepted, mut refused) = (0u64, 0u64);
    let mut samples: Vec<(Duration, u64, BTreeMap<String, f64>, f64)> = Vec::new();
    let started = Instant::now();
    let mut next_sample = started;
    let mut sent = 0u64;
    let mut turn = 0usize;
    while started.elapsed() < duration {
        if Instant::now() >= next_sample {
            let height = devnet.chain().finalized_height;
            let memory = memory(pid, &data);
            let disk = disk_mib(&data);
            let total: f64 = memory.values().sum();
            println!(
                "{:>6.0} s  height {height:>7}  accepted {accepted:>8}  refused {refused:>6}  memory {total:>7.1} MiB  disk {disk:>8.1} MiB",
                started.elapsed().as_secs_f64()
            );
            samples.push((started.elapsed(), height, memory, disk));
            next_sample += sample;
        }
        // Paced: as many transfers as the rate allows by now.
        let due = (started.elapsed().as_secs_f64() * rate) as u64;
        if sent >= due {
            std::thread::sleep(Duration::from_millis(5));
            continue;
        }
        let index = turn % ACCOUNTS;
        turn += 1;
        let tx = transfer(chain, &accounts[index], nonces[index], recipient, 1);
        sent += 1;
        if devnet.submit(&tx).0 == 202 {
            nonces[index] += 1;
            accepted += 1;
        } else {
            refused += 1;
        }
    }
    let height = devnet.chain().finalized_height;
    samples.push((started.elapsed(), height, memory(pid, &data), disk_mib(&data)));

    // After the warm-up (the first sample past the first interval) against the end, and once the
    // validator's bounded caches are full (marshal keeps 2,560 views: about 9 minutes at 5 blocks a
    // second), the sample at the tenth minute.
    let warm = samples.get(1).unwrap_or(&samples[0]);
    let full = samples.get(10).unwrap_or(warm);
    let last = samples.last().unwrap();
    let change = |start: f64, end: f64| if start > 0.0 { (end - start) / start * 100.0 } else { 0.0 };
    println!("\n| process | after warm-up (MiB) | caches full (MiB) | at the end (MiB) | change from each |");
    println!("|---|---|---|---|---|");
    for (process, end) in &last.2 {
        let start = warm.2.get(process).copied().unwrap_or(0.0);
        let filled = full.2.get(process).copied().unwrap_or(0.0);
        println!(
            "| {process} | {start:.1} | {filled:.1} | {end:.1} | {:+.1}%, {:+.1}% |",
            change(start, *end),
            change(filled, *end)
        );
    }
    let peak: f64 =
        samples[10.min(samples.len() - 1)..].iter().map(|sample| sample.2.values().sum::<f64>()).fold(0.0, f64::max);
    println!("highest total since the caches filled: {peak:.1} MiB");
    let (memory_start, memory_end): (f64, f64) = (warm.2.values().sum(), last.2.values().sum());
    let minutes_run = (last.0 - warm.0).as_secs_f64() / 60.0;
    let blocks = last.1.saturating_sub(warm.1).max(1);
    println!(
        "\nall processes: {memory_start:.1} -> {memory_end:.1} MiB ({:+.1}%); disk {:.1} -> {:.1} MiB: {:.2} MiB/minute, {:.2} MiB per 1,000 blocks ({} blocks, {accepted} transfers accepted, {refused} refused)",
        (memory_end - memory_start) / memory_start * 100.0,
        warm.3,
        last.3,
        (last.3 - warm.3) / minutes_run.max(1.0 / 60.0),
        (last.3 - warm.3) / blocks as f64 * 1000.0,
        last.1,
    );
    // A restart on the data the soak left: how long until the network is ready again, against the
    // first start (the node no longer reads every block at start).
    let first_ready = devnet.ready_json().ready_after_ms.unwrap_or_default();
    let children = descendants(pid);
    let mut devnet = devnet;
    devnet.kill();
    support::wait_until("the devnet's children to exit", Duration::from_secs(10), || {
        children.iter().all(|&child| !support::running(child))
    });
    let again = Process::start_until(&args, &dir.join("devnet-again.log"), "ready_after_ms");
    let restarted = again.chain().finalized_height;
    println!(
        "restart on the soaked data dir ({} blocks): ready after {} ms (the fresh start: {first_ready} ms), finalized height {restarted}",
        last.1,
        again.ready_json().ready_after_ms.unwrap_or_default(),
    );
    assert!(restarted >= last.1, "the restarted network lost blocks");
    drop(again);
    let _ = std::fs::remove_dir_all(dir);
}
