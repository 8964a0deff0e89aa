//! How fast `veil devnet` brings up a whole network, and how much memory the network holds:
//! release-built `veil` and `veil-worker` on loopback, one validator (in the devnet's process), the
//! development gatekeeper and two workers, each with its relayer.
//!
//! Five starts on a fresh data dir, then one restart of an existing one; each reads from the
//! devnet's JSON when the first block finalized and when the network was ready (cluster formed,
//! its key published, the workers in it). Resident memory is the sum of `VmRSS` over the devnet
//! and all its descendants, once ready and again after 30 s idle (first run).
//!
//! `cargo bench -p veil-cli --bench devnet`
#![allow(clippy::unwrap_used, clippy::print_stdout, missing_docs)]

#[path = "../tests/support/mod.rs"]
mod support;

use std::{path::Path, time::Duration};
use support::{Process, descendants, resident_mib, running, temp_dir, wait_until};
use veil_cli::DevnetRecord;

const FRESH_RUNS: usize = 5;
const IDLE: Duration = Duration::from_secs(30);

/// Starts `veil devnet --output json` on `data` and waits until it is ready; its ready object.
fn start(data: &Path, log: &Path) -> (Process, DevnetRecord) {
    let args = ["devnet", "--output", "json", "--data-dir", data.to_str().unwrap(), "--api-port", "0"];
    let devnet = Process::start_until(&args, log, "ready_after_ms");
    let ready = devnet.ready_json();
    (devnet, ready)
}

/// SIGKILLs the devnet and waits until its children followed it.
fn stop(mut devnet: Process) {
    let children = descendants(devnet.child.id());
    devnet.kill();
    wait_until("the devnet's children to exit", Duration::from_secs(10), || children.iter().all(|&pid| !running(pid)));
}

/// Resident memory of the devnet's process and of all of it with its descendants, in MiB, and how
/// many processes that is.
fn devnet_memory(pid: u32) -> Memory {
    let children = descendants(pid);
    let validator = resident_mib(pid);
    let total = validator + children.iter().map(|&child| resident_mib(child)).sum::<f64>();
    Memory { validator, total, processes: children.len() + 1 }
}

struct Memory {
    /// The devnet's own process: the validator and the orchestration.
    validator: f64,
    total: f64,
    processes: usize,
}

/// The time to its first finalized block, and the time until it was ready, in milliseconds.
fn millis(ready: &DevnetRecord) -> (u64, u64) {
    let first_block = ready.first_block_after_ms.unwrap_or_else(|| panic!("no first_block_after_ms in {ready:?}"));
    let ready_after = ready.ready_after_ms.unwrap_or_else(|| panic!("no ready_after_ms in {ready:?}"));
    (first_block, ready_after)
}

/// "min / median / max" of `values`, in seconds.
fn spread(values: &mut [u64]) -> String {
    values.sort_unstable();
    let seconds = |ms: u64| format!("{:.2} s", ms as f64 / 1000.0);
    format!(
        "| {} | {} | {} |",
        seconds(values[0]),
        seconds(values[values.len() / 2]),
        seconds(values[values.len() - 1])
    )
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return; // `cargo test --benches` lists; nothing to list here.
    }
    // Run without `--bench` (by `cargo test --benches`), a smoke size: the bench runs, tiny.
    let smoke = !std::env::args().any(|arg| arg == "--bench");
    let (fresh_runs, idle) = if smoke { (1, Duration::from_secs(1)) } else { (FRESH_RUNS, IDLE) };
    support::worker_binary();
    let dir = temp_dir("bench-devnet");
    let (mut first_block, mut ready) = (Vec::new(), Vec::new());
    let mut memory = None;
    for run in 0..fresh_runs {
        let (devnet, answer) = start(&dir.join(format!("run-{run}")), &dir.join(format!("run-{run}.log")));
        let (first_block_after, ready_after) = millis(&answer);
        first_block.push(first_block_after);
        ready.push(ready_after);
        if run == 0 {
            let at_ready = devnet_memory(devnet.child.id());
            std::thread::sleep(idle);
            memory = Some((at_ready, devnet_memory(devnet.child.id())));
        }
        stop(devnet);
    }
    let (devnet, restart) = start(&dir.join(format!("run-{}", fresh_runs - 1)), &dir.join("restart.log"));
    stop(devnet);

    println!("\n| `veil devnet` ({fresh_runs} fresh starts) | min | median | max |");
    println!("|---|---|---|---|");
    println!("| first finalized block {}", spread(&mut first_block));
    println!("| ready (cluster formed, key published) {}", spread(&mut ready));
    let (first_block_after, ready_after) = millis(&restart);
    let seconds = |ms: u64| ms as f64 / 1000.0;
    println!(
        "\nrestart of an existing data dir: first finalized block after {:.2} s, ready after {:.2} s",
        seconds(first_block_after),
        seconds(ready_after)
    );
    let (at_ready, after_idle) = memory.unwrap();
    println!(
        "resident memory of the whole devnet ({} processes): {:.0} MiB when ready ({:.0} MiB of it the \
         validator's process), {:.0} MiB after {} s idle ({:.0} MiB)",
        at_ready.processes,
        at_ready.total,
        at_ready.validator,
        after_idle.total,
        idle.as_secs(),
        after_idle.validator
    );
    let _ = std::fs::remove_dir_all(dir);
}
