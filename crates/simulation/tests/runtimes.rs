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

/// The notes contract on a cluster of two workers: every note the client adds is answered by both
/// replicas, in order, at the heights they stand at.
#[test]
fn a_contract_answers_every_note_from_both_replicas_on_a_quiet_network() {
    let scenario = Scenario { workers: 2, notes: 4, ..Scenario::quiet(4, 2) };
    let outcome = run_twice(&Setup::new(scenario, 21), 21);
    assert!(outcome.answers.0 >= 2, "{:?}", outcome.answers);
}

/// The rotation admin rotates every key while the client adds notes: the gatekeeper makes the
/// next master key, every runtime reads epoch 1 open, the contract moves to it, and no note is lost.
#[test]
fn a_key_rotation_moves_the_contract_on_without_losing_a_note() {
    let scenario = Scenario { workers: 2, notes: 4, rotate: true, ..Scenario::quiet(4, 2) };
    let outcome = run_twice(&Setup::new(scenario, 22), 22);
    assert!(outcome.runtimes.iter().all(|(_, _, epoch)| *epoch == Some(1)), "{:?}", outcome.runtimes);
}

/// A cluster worker stops for good once a note is final: the other's relayer reports it, the
/// chain puts the standby in its place, and the standby takes over a snapshot and answers every
/// note.
#[test]
fn a_worker_gone_for_good_is_replaced_by_the_standby_which_answers_every_note() {
    let scenario = Scenario { workers: 3, notes: 4, replace_worker: true, ..Scenario::quiet(4, 2) };
    let outcome = run_twice(&Setup::new(scenario, 23), 23);
    assert!(outcome.faults.iter().any(|fault| fault.contains("worker-0 stopped for good")), "{:?}", outcome.faults);
    assert!(outcome.faults.iter().any(|fault| fault.contains("reported worker-0 unfit")), "{:?}", outcome.faults);
    assert!(!outcome.faults.iter().any(|fault| fault.contains("reported worker-1")), "{:?}", outcome.faults);
    assert!(outcome.runtimes.iter().all(|(name, _, _)| name != "worker-0"), "{:?}", outcome.runtimes);
}

/// Everything at once, on links that lose a quarter of the messages with crashes and a partition
/// of validators and crashes of runtimes: notes, a rotation and a worker replaced.
#[test]
fn notes_a_rotation_and_a_replacement_survive_lossy_links_and_crashes() {
    let scenario = Scenario {
        workers: 3,
        runtime_crashes: 3,
        notes: 6,
        rotate: true,
        replace_worker: true,
        ..Scenario::default()
    };
    let outcome = run_twice(&Setup::new(scenario, 24), 24);
    assert!(outcome.runtimes.iter().all(|(_, _, epoch)| *epoch == Some(1)), "{:?}", outcome.runtimes);
    assert!(outcome.faults.len() >= 5, "{:?}", outcome.faults);
}
