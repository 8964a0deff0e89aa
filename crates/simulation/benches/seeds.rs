//! Many seeds of the whole-network simulation, each in the scenario [`Scenario::of_seed`] gives it
//! (four validators on lossy links with crashes and a partition, a gatekeeper and workers with
//! crashes of their own, eight wallets; by turns the notes contract with a rotation or a worker
//! replaced, and a byzantine validator): each run once, its invariants checked; a seed that
//! breaks one is named, with the panic, so it can be replayed (`veil_simulation::run` with that
//! seed runs the same again).
//!
//! `cargo bench -p veil-simulation --bench seeds` (`VEIL_SIM_SEEDS`, default 50, from
//! `VEIL_SIM_FIRST_SEED`, default 1000). Run without `--bench` (by `./test`), two seeds.
#![allow(clippy::unwrap_used, clippy::print_stdout, missing_docs)]

use std::time::{Duration, Instant};
use veil_simulation::{Scenario, Setup, run};

fn main() {
    let smoke = !std::env::args().any(|arg| arg == "--bench");
    let env = |name: &str, default: u64| std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default);
    let count = if smoke { 2 } else { env("VEIL_SIM_SEEDS", 50) };
    let first = env("VEIL_SIM_FIRST_SEED", 1_000);
    let began = Instant::now();
    let (mut simulated, mut blocks, mut faults, mut failed) = (Duration::ZERO, 0usize, 0usize, Vec::new());
    for seed in first..first + count {
        let setup = Setup::new(Scenario::of_seed(seed), seed);
        let outcome = std::panic::catch_unwind(|| run(&setup, seed));
        match outcome {
            Ok(outcome) => {
                simulated += outcome.simulated;
                blocks += outcome.finalized.len();
                faults += outcome.faults.len();
                println!(
                    "seed {seed}: {:.0} s simulated, {} blocks, {} faults, {} sends, {} answers checked",
                    outcome.simulated.as_secs_f64(),
                    outcome.finalized.len(),
                    outcome.faults.len(),
                    outcome.sends,
                    outcome.answers.0
                );
            }
            Err(panic) => {
                let message = panic
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                    .unwrap_or_default();
                println!("seed {seed}: FAILED: {message}");
                failed.push(seed);
            }
        }
    }
    println!(
        "{count} seeds ({first}..{}): {:.2} simulated hours, {blocks} blocks, {faults} faults, in {:.0} s; failed: {failed:?}",
        first + count,
        simulated.as_secs_f64() / 3600.0,
        began.elapsed().as_secs_f64()
    );
    assert!(failed.is_empty(), "seeds {failed:?} broke an invariant");
}
