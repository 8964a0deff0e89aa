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

/// A seed's setup is itself a function of the seed (keys, genesis, signed transfers), so a failing
/// seed replays from its number alone.
#[test]
fn a_setup_is_a_function_of_its_seed() {
    let (one, again, other) =
        (Setup::new(Scenario::default(), 9), Setup::new(Scenario::default(), 9), Setup::new(Scenario::default(), 10));
    assert_eq!(one.wallets, again.wallets);
    assert_eq!(one.chain.id(), again.chain.id());
    assert_ne!(one.wallets, other.wallets);
}
