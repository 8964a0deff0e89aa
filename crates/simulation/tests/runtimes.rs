//! The runtimes in the same process as the validators: a gatekeeper and workers, relayed through
//! whichever validator is up, registered by their operator; the gatekeeper makes the master key
//! and opens the first epoch, the workers announce their keys; validators and runtimes crash and
//! restart (runtimes from their last checkpoint) on the way.
#![allow(clippy::unwrap_used)]

use veil_simulation::{Scenario, Setup, run_twice};

#[test]
fn runtimes_register_and_open_the_first_epoch_on_a_quiet_network() {
    let scenario = Scenario { workers: 2, ..Scenario::quiet(4, 2) };
    let outcome = run_twice(&Setup::new(scenario, 11), 11);
    assert_eq!(outcome.runtimes.len(), 3, "{:?}", outcome.runtimes);
    assert!(outcome.runtimes.iter().all(|(_, height, _)| *height > 0), "{:?}", outcome.runtimes);
    assert!(outcome.runtimes[1..].iter().all(|(_, _, epoch)| epoch.is_some()), "{:?}", outcome.runtimes);
}

#[test]
fn runtimes_register_and_open_the_first_epoch_despite_lossy_links_and_crashes_of_both() {
    let scenario = Scenario { workers: 2, runtime_crashes: 3, ..Scenario::default() };
    let outcome = run_twice(&Setup::new(scenario, 12), 12);
    assert!(outcome.faults.iter().any(|fault| fault.contains("runtime")), "{:?}", outcome.faults);
    assert!(outcome.faults.len() >= 2, "{:?}", outcome.faults);
    assert!(outcome.runtimes[1..].iter().all(|(_, _, epoch)| epoch.is_some()), "{:?}", outcome.runtimes);
}
