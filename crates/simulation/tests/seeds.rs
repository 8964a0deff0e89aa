//! Whole-network simulations with faults, each seed run twice: the same seed must end in the same
//! state.
#![allow(clippy::unwrap_used)]

use veil_simulation::{Scenario, Setup, run_twice};

/// Four validators on lossy, jittery links (75% delivery, 150 ms jitter), two unclean crashes and
/// a partition that heals, eight wallets: every invariant holds, for several seeds, each twice.
#[test]
fn lossy_links_crashes_and_a_partition_keep_every_invariant() {
    for seed in [1, 2, 3] {
        let outcome = run_twice(&Setup::new(Scenario::default(), seed), seed);
        assert!(!outcome.finalized.is_empty());
        assert!(outcome.faults.len() >= 2, "seed {seed}: {:?}", outcome.faults);
    }
}
