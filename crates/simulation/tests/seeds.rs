//! Whole-network simulations, each seed run twice: the same seed must end in the same state.
#![allow(clippy::unwrap_used)]

use veil_simulation::{Scenario, Setup, run};

fn twice(scenario: Scenario, seed: u64) {
    let setup = Setup::new(scenario, seed);
    let first = run(&setup, seed);
    assert!(!first.finalized.is_empty());
    let second = run(&setup, seed);
    assert_eq!(first.faults, second.faults, "seed {seed}: the same faults");
    assert_eq!(first.finalized, second.finalized, "seed {seed}: the same blocks");
    assert_eq!(first.balances, second.balances, "seed {seed}: the same balances");
    assert_eq!(first.audit, second.audit, "seed {seed}: the same run");
}

/// Four validators on lossy, jittery links (75% delivery, 150 ms jitter), two unclean crashes and
/// a partition that heals, eight wallets: every invariant holds, for several seeds, each twice.
#[test]
fn lossy_links_crashes_and_a_partition_keep_every_invariant() {
    for seed in [1, 2, 3] {
        twice(Scenario::default(), seed);
    }
}
