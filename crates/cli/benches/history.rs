//! Node start time and resident memory against the chain's length: a node holding 1,000,000
//! finalized blocks must start as fast and live in as little memory as one holding 10,000.
//!
//! The history is made by the real thing: a single-validator network (`veil testnet-config
//! --validators 1`) whose genesis sets the minimum block interval to 1 ms, so consensus finalizes
//! blocks as fast as this machine allows. The validator is a pruning node keeping 8,192 blocks
//! (fewer than the short chain's, so both chains are past the window): an archive node keeps
//! every block, and its start grows with them (decision 115). Its data directory is copied when it reaches 10,000
//! blocks, and the node runs on to 1,000,000. Both directories are kept under the target
//! directory (`bench-history/`) and reused by later runs (a run stopped while generating resumes
//! where it stopped); set `VEIL_HISTORY_FRESH=1` to make them again (they are made again anyway if
//! the node refuses to start on them).
//!
//! Then each directory is started `RUNS` times, alternating: a start is killed (SIGKILL, as an
//! operator's stop or a crash is; the node has no other shutdown) and measured from the spawn to
//! its "running at height" line (storage opened and recovered, the API bound), to its first 100
//! new finalized blocks (consensus running again), and its resident memory (VmRSS) 10 seconds
//! later. Medians, and the ratio of the long chain's to the short one's.
//!
//! `cargo bench -p veil-cli --bench history` (about 75 minutes the first time, at about 230 blocks
//! a second; a few minutes after). Run without `--bench` (by `./test`), a smoke size: 200 and
//! 1,000 blocks in a temporary directory, one start each.
#![allow(clippy::unwrap_used, clippy::print_stdout, missing_docs)]

#[path = "../tests/support/mod.rs"]
mod support;

use std::{
    path::{Path, PathBuf},
    process::Command,
    time::{Duration, Instant},
};
use support::{Process, free_ports, resident_mib, temp_dir};

/// What the stored histories were made with: a change to what a chain stores (its state's layout,
/// the archives) changes this, and the next run makes them again.
const HISTORY_FORMAT: &str = "2026-12-08: a pruning node, its transaction index pruned in sections of 16,384 entries";

/// The blocks the measured pruning node keeps.
const KEEP_BLOCKS: u64 = 8_192;

/// What one start took.
#[derive(Clone, Copy, Debug)]
struct Start {
    height: u64,
    ready: Duration,
    resumed: Duration,
    resident_mib: f64,
}

fn veil(args: &[&str]) {
    let status = Command::new(env!("CARGO_BIN_EXE_veil")).args(args).status().unwrap();
    assert!(status.success(), "veil {args:?} failed");
}

fn replace_line(path: &Path, prefix: &str, line: &str) {
    let text = std::fs::read_to_string(path).unwrap();
    assert!(text.lines().any(|l| l.starts_with(prefix)), "{} has no {prefix} line", path.display());
    let edited: Vec<&str> = text.lines().map(|l| if l.starts_with(prefix) { line } else { l }).collect();
    std::fs::write(path, edited.join("\n") + "\n").unwrap();
}

/// A single-validator network in `dir/network`: blocks as fast as consensus goes, the API on a
/// port the system picks.
fn configure(dir: &Path) -> PathBuf {
    let network = dir.join("network");
    let port = free_ports(1).to_string();
    veil(&[
        "testnet-config",
        "--quiet",
        "--validators",
        "1",
        "--out",
        network.to_str().unwrap(),
        "--p2p-base-port",
        &port,
    ]);
    replace_line(&network.join("genesis.toml"), "min_block_interval_ms", "min_block_interval_ms = 1");
    let config = network.join("validator-0/node.toml");
    replace_line(&config, "api_listen", "api_listen = \"127.0.0.1:0\"");
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(&config, format!("{text}keep_blocks = {KEEP_BLOCKS}\n")).unwrap();
    config
}

fn start(config: &Path, log: &Path) -> Process {
    Process::start(&["node", "--config", config.to_str().unwrap()], log)
}

fn wait_height(node: &Process, height: u64, every: Duration, mut progress: impl FnMut(u64)) {
    loop {
        let now = node.height();
        if now >= height {
            return;
        }
        progress(now);
        std::thread::sleep(every);
    }
}

fn copy_dir(from: &Path, to: &Path) {
    let _ = std::fs::remove_dir_all(to);
    let status = Command::new("cp").arg("-a").arg(from).arg(to).status().unwrap();
    assert!(status.success(), "cp -a {} {}", from.display(), to.display());
}

/// Makes (or finds) the network directories at `short` and at `long` blocks under `root`. A
/// generation cut short (a killed run) resumes where the node stopped.
fn history(root: &Path, short: u64, long: u64, fresh: bool) -> (PathBuf, PathBuf) {
    let (at_short, at_long) = (root.join(format!("at-{short}")), root.join(format!("at-{long}")));
    let done = root.join("complete");
    let stamp = root.join("format");
    let stamped = std::fs::read_to_string(&stamp).is_ok_and(|text| text.trim() == HISTORY_FORMAT);
    if fresh || !stamped {
        let _ = std::fs::remove_dir_all(root);
    }
    if done.exists() && at_short.exists() && at_long.exists() {
        println!("reusing the histories in {}", root.display());
        return (at_short, at_long);
    }
    let config = at_long.join("network/validator-0/node.toml");
    let log = root.join("generate.log");
    if !at_short.exists() {
        let _ = std::fs::remove_dir_all(root);
        std::fs::create_dir_all(root).unwrap();
        std::fs::write(&stamp, HISTORY_FORMAT).unwrap();
        configure(&at_long);
        let began = Instant::now();
        let mut node = start(&config, &log);
        wait_height(&node, short, Duration::from_millis(200), |_| {});
        node.kill();
        let rate = short as f64 / began.elapsed().as_secs_f64();
        copy_dir(&at_long, &at_short);
        println!("{short} blocks in {:.0} s ({rate:.0} blocks/s); on to {long}", began.elapsed().as_secs_f64());
    }
    let began = Instant::now();
    let mut node = start(&config, &log);
    let mut last = (Instant::now(), node.height());
    println!("generating from height {} to {long}", last.1);
    wait_height(&node, long, Duration::from_secs(5), |height| {
        if last.0.elapsed() >= Duration::from_secs(300) {
            let rate = (height - last.1) as f64 / last.0.elapsed().as_secs_f64();
            println!("  height {height} after {:.0} min: {rate:.0} blocks/s", began.elapsed().as_secs_f64() / 60.0);
            last = (Instant::now(), height);
        }
    });
    node.kill();
    println!("{long} blocks after {:.1} min more", began.elapsed().as_secs_f64() / 60.0);
    std::fs::write(&done, format!("{short} {long}\n")).unwrap();
    (at_short, at_long)
}

/// Starts the network in `dir` once and measures it (see the module documentation).
fn measure(dir: &Path, settle: Duration) -> Result<Start, String> {
    let config = dir.join("network/validator-0/node.toml");
    let log = dir.join("measure.log");
    let spawned = Instant::now();
    let file = std::fs::OpenOptions::new().create(true).append(true).open(&log).unwrap();
    let log_start = file.metadata().unwrap().len() as usize;
    drop(file);
    let mut node = Process::start_program(
        Path::new(env!("CARGO_BIN_EXE_veil")),
        &["node", "--config", config.to_str().unwrap()],
        &[],
        &log,
        None,
    );
    let height = loop {
        let output = std::fs::read_to_string(&log).unwrap_or_default();
        let output = output.get(log_start..).unwrap_or_default();
        if let Some((_, rest)) = output.split_once("running at height ")
            && let Some((height, rest)) = rest.split_once('\n')
            && let Some((_, url)) = rest.split_once("REST API: ")
            && url.contains('\n')
        {
            node.url = url.split_whitespace().next().unwrap().to_owned();
            break height.trim().parse::<u64>().unwrap();
        }
        if let Some(status) = node.child.try_wait().unwrap() {
            return Err(format!("the node exited ({status}):\n{output}"));
        }
        if spawned.elapsed() > Duration::from_secs(600) {
            return Err(format!("the node did not start in 10 minutes:\n{output}"));
        }
        std::thread::sleep(Duration::from_millis(2));
    };
    let ready = spawned.elapsed();
    wait_height(&node, height + 100, Duration::from_millis(10), |_| {});
    let resumed = spawned.elapsed();
    std::thread::sleep(settle);
    let resident_mib = resident_mib(node.child.id());
    node.kill();
    Ok(Start { height, ready, resumed, resident_mib })
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn main() {
    let smoke = !std::env::args().any(|arg| arg == "--bench");
    let fresh = std::env::var("VEIL_HISTORY_FRESH").is_ok_and(|v| v == "1");
    let (short, long, runs, settle) =
        if smoke { (200, 1_000, 1, Duration::from_secs(1)) } else { (10_000, 1_000_000, 3, Duration::from_secs(10)) };
    let root = if smoke {
        temp_dir("history")
    } else {
        let target = std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target"));
        target.join("bench-history")
    };
    let mut fresh = fresh;
    let results = loop {
        let (at_short, at_long) = history(&root, short, long, fresh);
        match measure_all(&at_short, &at_long, short, long, runs, settle) {
            Ok(results) => break results,
            // Made by an older build that this one cannot read: make them again, once.
            Err(error) if !fresh => {
                println!("the stored history does not start ({error}); making it again");
                fresh = true;
            }
            Err(error) => panic!("{error}"),
        }
    };
    report(&results);
}

/// Starts each directory `runs` times, alternating.
fn measure_all(
    at_short: &Path,
    at_long: &Path,
    short: u64,
    long: u64,
    runs: usize,
    settle: Duration,
) -> Result<Vec<(u64, Vec<Start>)>, String> {
    let mut results: Vec<(u64, Vec<Start>)> = vec![(short, Vec::new()), (long, Vec::new())];
    for run in 0..runs {
        for (index, dir) in [at_short, at_long].into_iter().enumerate() {
            let start = measure(dir, settle)?;
            println!(
                "start {} of the {}-block chain: at height {}, ready after {:.0} ms, 100 new blocks after {:.0} ms, \
                 {:.1} MiB resident",
                run + 1,
                results[index].0,
                start.height,
                start.ready.as_secs_f64() * 1e3,
                start.resumed.as_secs_f64() * 1e3,
                start.resident_mib
            );
            results[index].1.push(start);
        }
    }
    Ok(results)
}

fn report(results: &[(u64, Vec<Start>)]) {
    let summary: Vec<(u64, f64, f64, f64)> = results
        .iter()
        .map(|(blocks, starts)| {
            let ready = median(starts.iter().map(|s| s.ready.as_secs_f64() * 1e3).collect());
            let resumed = median(starts.iter().map(|s| s.resumed.as_secs_f64() * 1e3).collect());
            let resident = median(starts.iter().map(|s| s.resident_mib).collect());
            (*blocks, ready, resumed, resident)
        })
        .collect();
    println!("\nmedians | blocks | ready (ms) | 100 new blocks (ms) | resident (MiB)");
    for (blocks, ready, resumed, resident) in &summary {
        println!("        | {blocks} | {ready:.0} | {resumed:.0} | {resident:.1}");
    }
    let (short, long) = (summary[0], summary[1]);
    println!(
        "long / short: ready {:.2}, 100 new blocks {:.2}, resident {:.2} (flat within 10% is 0.90 to 1.10)",
        long.1 / short.1,
        long.2 / short.2,
        long.3 / short.3
    );
}
