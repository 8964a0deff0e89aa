//! A parameter change, relayed in process against a generated chain: the admin's call applies on
//! chain from the next block (its own fee is still the old one), and the runtimes apply what they
//! share with the chain (the heartbeat interval) from the parameters topic, across a restart too.
#![allow(clippy::unwrap_used)]

mod support;

use parity_scale_codec::Encode as _;
use support::{Scenario, limits};
use veil_chain::{ReadState as _, fees};
use veil_primitives::{AccountsCall, Balance, Call, ParametersCall, SystemTopic, Topic};
use veil_worker::runtime::{Host, Runtime};

/// How many heartbeats the chain has accepted so far.
fn heartbeats(scenario: &Scenario) -> u64 {
    let topic = Topic::System(SystemTopic::Heartbeats);
    scenario.chain.state.topic(&topic).unwrap().map_or(0, |info| info.log.length)
}

/// Heartbeats accepted while `worker` is relayed once per `step_ms` of block time, `blocks` times.
fn heartbeats_over(scenario: &mut Scenario, worker: &mut Runtime, blocks: u64, step_ms: u64) -> u64 {
    let before = heartbeats(scenario);
    for _ in 0..blocks {
        scenario.wait(step_ms);
        scenario.relay(worker);
    }
    heartbeats(scenario) - before
}

#[test]
fn a_parameter_change_applies_from_the_next_block_on_chain_and_in_the_runtimes() {
    let (mut scenario, _gatekeeper, mut workers) = Scenario::with_workers(1);
    let mut worker = workers.pop().unwrap();
    let beat = scenario.genesis.liveness.heartbeat_interval_ms;
    assert_eq!(heartbeats_over(&mut scenario, &mut worker, 8, beat), 8, "one heartbeat per interval");

    // The admin (Bob) slows heartbeats fourfold (the offline window grows to keep twice the
    // interval) and triples the base fee.
    let old = scenario.chain.state.parameters().unwrap();
    let mut new = old.clone();
    new.liveness.heartbeat_interval_ms = 4 * beat;
    new.liveness.offline_after_ms = 10 * beat;
    new.economics.transaction_base_fee = Balance(3 * old.economics.transaction_base_fee.0);
    let bob = scenario.bob.clone();
    let (change, _) = scenario.sign(&bob, Call::Parameters(ParametersCall::Set(new.clone())));
    let balance = |scenario: &Scenario, account| scenario.chain.state.account(&account).unwrap().balance.0;
    let bob_before = balance(&scenario, bob.public());
    scenario.block(vec![change.clone()]);
    assert_eq!(scenario.chain.state.parameters().unwrap(), new);
    let paid = bob_before - balance(&scenario, bob.public());
    assert_eq!(paid, fees::fee(&old.economics, change.encoded_size()).unwrap().0, "its own block runs on the old fee");

    // The next block charges the new fee.
    let charlie = veil_chain::testing::pair("//Charlie");
    let amount = Balance::ONE;
    let (transfer, _) = scenario.sign(&charlie, Call::Accounts(AccountsCall::Transfer { to: bob.public(), amount }));
    let charlie_before = balance(&scenario, charlie.public());
    scenario.block(vec![transfer.clone()]);
    let paid = charlie_before - balance(&scenario, charlie.public()) - amount.0;
    assert_eq!(
        paid,
        fees::fee(&new.economics, transfer.encoded_size()).unwrap().0,
        "the next block's fee is the new one"
    );

    // The runtime reads the change on the parameters topic and beats at the new interval.
    scenario.relay(&mut worker);
    let beats = heartbeats_over(&mut scenario, &mut worker, 8, beat);
    assert!((1..=2).contains(&beats), "{beats} heartbeats in 8 old intervals at the new interval of 4");

    // A restarted runtime keeps the interval the chain set, not its genesis copy's.
    let mut restarted = Runtime::restore(&scenario.genesis, Host::new(true, limits()), &worker.checkpoint()).unwrap();
    let beats = heartbeats_over(&mut scenario, &mut restarted, 8, beat);
    assert!((1..=2).contains(&beats), "{beats} heartbeats after a restart");
}
