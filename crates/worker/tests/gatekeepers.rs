//! Two gatekeepers, relayed in process against a generated chain. The second joins late: it
//! registers, the first checks its registration itself and seals it the master key (a master share)
//! to its epoch key. From then on both sign byte-identical outputs, so the chain takes one copy and
//! records no discrepancy; at a rotation both propose, the first proposal on chain wins, and the
//! other gatekeeper takes the winner's key from the proposal, sealed to its epoch key.
#![allow(clippy::unwrap_used)]

mod support;

use support::{NOTES, Scenario};
use veil_crypto::confidential::KeyMessage;
use veil_primitives::{
    Call, ContractId, ContractsCall, EpochsCall, SenderId, SignedEgress, SystemTopic, Topic,
    contract::builtin_code_hash, decode_strict,
};
use veil_worker::runtime::Runtime;

fn set_outputs(gatekeeper: &Runtime) -> Vec<SignedEgress> {
    gatekeeper.pending_egress().into_iter().filter(|copy| copy.egress.sender == SenderId::GatekeeperSet).collect()
}

fn own_outputs(gatekeeper: &Runtime) -> Vec<SignedEgress> {
    let own = SenderId::Gatekeeper(gatekeeper.identity());
    gatekeeper.pending_egress().into_iter().filter(|copy| copy.egress.sender == own).collect()
}

/// Applies the next batch to `runtime` without submitting what it sends.
fn apply(scenario: &Scenario, runtime: &mut Runtime) {
    runtime.apply(&scenario.batch_for(runtime)).unwrap();
}

fn discrepancies(scenario: &Scenario) -> usize {
    let topic = Topic::System(SystemTopic::Discrepancies);
    scenario.chain.try_topic_range(&topic, 0).map_or(0, |(messages, _)| messages.len())
}

#[test]
fn a_late_gatekeeper_gets_the_master_key_and_both_sign_identical_outputs() {
    let mut scenario = Scenario::with_gatekeepers(2);
    let (mut first, mut second) = (scenario.gatekeeper_at(0), scenario.gatekeeper_at(1));
    // The generating gatekeeper attests first: the chain takes nothing from an unregistered one.
    scenario.register(first.identity(), first.agreement_key());
    scenario.relay(&mut first); // checks its registration, generates and proposes the first master key
    scenario.relay(&mut first); // the epoch opened
    let mut workers: Vec<Runtime> = (0..2).map(|_| scenario.worker()).collect();
    for worker in &mut workers {
        scenario.register(worker.identity(), worker.agreement_key());
        scenario.relay(worker);
    }
    let identities: Vec<[u8; 32]> = workers.iter().map(Runtime::identity).collect();
    scenario.assign(&identities);
    let settle = |scenario: &mut Scenario, first: &mut Runtime, second: &mut Runtime, workers: &mut [Runtime]| {
        let [one, two] = workers else { unreachable!() };
        scenario.settle(&mut [first, second, one, two], 3);
    };
    settle(&mut scenario, &mut first, &mut second, &mut workers);
    // Unregistered, the second gatekeeper announces nothing and holds no key; it numbered the set's
    // outputs all the same.
    assert_eq!(second.master_public(), None);
    assert_eq!(second.key_epoch(), first.key_epoch());

    // The second registers; the first checks its quote and seals the master key to its epoch key.
    scenario.register(second.identity(), second.agreement_key());
    settle(&mut scenario, &mut first, &mut second, &mut workers);
    assert_eq!(second.master_public(), first.master_public());
    assert!(second.master_public().is_some());

    // One share, sealed to the second (the proposer needs none); a replayed copy of it is a
    // duplicate sequence number on chain and never reaches a runtime.
    let shares: Vec<_> = scenario
        .key_messages()
        .into_iter()
        .filter_map(|message| match message {
            KeyMessage::MasterShare(share) => Some(share),
            _ => None,
        })
        .collect();
    assert_eq!(shares.len(), 1);
    assert_eq!(shares[0].delivery.recipient, second.identity());

    // A new duty: both sign the same bytes under the same number.
    let bob = scenario.bob.clone();
    let other = ContractId([0x18; 32]);
    let assign = Call::Contracts(ContractsCall::AssignContract {
        contract: other,
        code: builtin_code_hash("notes"),
        cluster: support::CLUSTER,
    });
    let (tx, _) = scenario.sign(&bob, assign);
    scenario.block(vec![tx]);
    apply(&scenario, &mut first);
    apply(&scenario, &mut second);
    let (from_first, from_second) = (set_outputs(&first), set_outputs(&second));
    assert_eq!(from_first.len(), 1);
    assert_eq!(from_first, from_second, "byte-identical outputs");
    let built = scenario.chain.push_after(1, Vec::new(), [from_second, from_first].concat());
    assert_eq!(built.egress.len(), 1, "the chain takes the first copy");
    assert_eq!(built.skipped_egress.len(), 1, "and the identical second is a duplicate");
    assert_eq!(discrepancies(&scenario), 0);
    settle(&mut scenario, &mut first, &mut second, &mut workers);
    assert!(workers.iter().all(|worker| worker.contracts().len() == 2), "both contracts run");

    // Rotation: both propose; the second's proposal lands first and opens the epoch; the first
    // takes the winning key from the proposal, sealed to its epoch key.
    let (tx, _) = scenario.sign(&bob, Call::Epochs(EpochsCall::RotateKeys));
    scenario.block(vec![tx]);
    apply(&scenario, &mut first);
    apply(&scenario, &mut second);
    let proposals = [own_outputs(&second), own_outputs(&first)].concat();
    assert_eq!(proposals.len(), 2, "each proposes");
    scenario.chain.push_after(1, Vec::new(), proposals);
    settle(&mut scenario, &mut first, &mut second, &mut workers);
    let opening = scenario.epochs().current.unwrap();
    assert_eq!(opening.proposer, second.identity());
    assert_eq!(first.master_public(), Some(opening.master));
    assert_eq!(second.master_public(), Some(opening.master));
    assert_eq!(scenario.contract_keys(NOTES).epoch, opening.epoch);
    assert!(workers.iter().all(|worker| worker.contracts().iter().all(|c| c.2 == opening.epoch)), "re-keyed");
    assert_eq!(discrepancies(&scenario), 0, "every output was signed alike by both");
    let topic = Topic::System(SystemTopic::KeyEpochs);
    let (messages, _) = scenario.chain.try_topic_range(&topic, 0).unwrap();
    assert!(messages.iter().all(|message| decode_strict::<KeyMessage>(&message.payload).is_ok()));
}

/// Issue 21, item 4: the rotation admin replaces the only gatekeeper's identity without a new
/// genesis. The successor (an identity genesis never named) registers, the set (the replaced
/// gatekeeper still holds the epoch's master key) seals it the master key, and the next rotation
/// is the successor's alone: the replaced gatekeeper gets nothing of the new epoch.
#[test]
fn a_replaced_gatekeeper_hands_the_master_key_to_its_successor_and_the_next_epoch_leaves_it_out() {
    let (mut scenario, mut old, mut workers) = Scenario::with_workers(2);
    let identities: Vec<[u8; 32]> = workers.iter().map(Runtime::identity).collect();
    scenario.assign(&identities);
    scenario.settle_all(&mut old, &mut workers);
    let mut successor = Runtime::new(
        &scenario.genesis,
        veil_worker::runtime::Host::new(true, support::limits()),
        veil_worker::runtime::Role::Gatekeeper,
        None,
    )
    .unwrap();
    scenario.register(successor.identity(), successor.agreement_key());
    let bob = scenario.bob.clone();
    let replace = EpochsCall::ReplaceGatekeeper { old: old.identity(), new: successor.identity() };
    let (tx, _) = scenario.sign(&bob, Call::Epochs(replace));
    scenario.block(vec![tx]);
    let settle = |scenario: &mut Scenario, old: &mut Runtime, successor: &mut Runtime, workers: &mut [Runtime]| {
        let [one, two] = workers else { unreachable!() };
        scenario.settle(&mut [old, successor, one, two], 3);
    };
    settle(&mut scenario, &mut old, &mut successor, &mut workers);
    assert!(successor.master_public().is_some());
    assert_eq!(successor.master_public(), old.master_public(), "handed over");

    let (tx, _) = scenario.sign(&bob, Call::Epochs(EpochsCall::RotateKeys));
    scenario.block(vec![tx]);
    settle(&mut scenario, &mut old, &mut successor, &mut workers);
    let opening = scenario.epochs().current.unwrap();
    assert_eq!(opening.proposer, successor.identity());
    assert_eq!(successor.master_public(), Some(opening.master));
    assert_ne!(old.master_public(), Some(opening.master), "the replaced gatekeeper gets nothing of the new epoch");
    assert!(workers.iter().all(|worker| worker.contracts().iter().all(|c| c.2 == opening.epoch)), "re-keyed");
    assert_eq!(discrepancies(&scenario), 0);
}

/// The attack of issue 21 (a rotation that still feeds a revoked gatekeeper): the second
/// gatekeeper's registration lapses (as a revoked one's does), but it announced its key of the
/// next epoch while it was current. The first gatekeeper's proposal at the rotation is sealed only
/// to gatekeepers current at the rotation: the lapsed one gets nothing of the new epoch.
#[test]
fn a_lapsed_gatekeeper_gets_nothing_of_the_next_epoch() {
    let mut scenario = Scenario::with_gatekeepers(2);
    let (mut first, mut second) = (scenario.gatekeeper_at(0), scenario.gatekeeper_at(1));
    scenario.register(first.identity(), first.agreement_key());
    scenario.register(second.identity(), second.agreement_key());
    scenario.settle(&mut [&mut first, &mut second], 3);
    assert!(second.master_public().is_some(), "both hold epoch 0");
    assert_eq!(second.master_public(), first.master_public());

    // The second falls silent past its registration's lifetime; the first renews.
    let lifetime = scenario.genesis.registration.insecure_lifetime_ms;
    scenario.wait(lifetime / 2);
    scenario.register(first.identity(), first.agreement_key());
    scenario.wait(lifetime / 2 + 1);
    scenario.relay(&mut first);
    let bob = scenario.bob.clone();
    let (tx, _) = scenario.sign(&bob, Call::Epochs(EpochsCall::RotateKeys));
    scenario.block(vec![tx]);
    scenario.settle(&mut [&mut first], 3);
    let opening = scenario.epochs().current.unwrap();
    assert_eq!((opening.epoch.0, opening.proposer), (1, first.identity()));
    let proposal = scenario
        .key_messages()
        .into_iter()
        .find_map(|message| match message {
            KeyMessage::Proposal(proposal) if proposal.epoch == opening.epoch => Some(proposal),
            _ => None,
        })
        .unwrap();
    assert!(
        proposal.shares.iter().all(|share| share.recipient != second.identity()),
        "the new master key is sealed to a lapsed gatekeeper"
    );
}
