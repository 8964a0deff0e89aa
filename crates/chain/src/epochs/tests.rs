//! Rotation, key distribution and liveness on chain: forged, replayed and misdirected messages are
//! refused or change nothing; offline reports follow the window and the standby list.

use super::*;
use crate::{
    registry::tests::{Net, announced_key, epoch_agreement, gatekeeper, master, net},
    testing::{egress, runtime_signer},
};
use veil_crypto::{MasterKey, SecretBytes, confidential::Proposal};
use veil_primitives::{Call, ContractsCall, EpochsCall, SignedEgress, contract::AssignmentMessage, epoch::EpochKey};

fn check(net: &Net, copy: &SignedEgress) -> Result<(), EgressError> {
    net.chain.check_egress(&Overlay::new(&net.state), copy).map(|_| ())
}

fn epoch_error(error: TransactionError) -> EpochError {
    match error {
        TransactionError::Epoch(error) => error,
        other => panic!("expected an epoch refusal, got {other}"),
    }
}

fn proposal_payload(master: &MasterKey, epoch: u32) -> Vec<u8> {
    KeyMessage::Proposal(Proposal::new(master, KeyEpoch(epoch), &[]).unwrap()).encode()
}

fn key_epochs() -> Topic {
    Topic::System(SystemTopic::KeyEpochs)
}

#[test]
fn forged_replayed_and_unrequested_rotation_messages_are_refused_or_change_nothing() {
    let mut net = net(true, "2026-01-01T00:00:00Z");
    net.open_first_epoch();
    let workers = net.register_workers(&[1]);
    let sender = SenderId::Gatekeeper(gatekeeper().public());
    let next = |net: &Net| net.next_sequence(sender);
    let second = MasterKey::from_secret(SecretBytes::new([0x5e; 32]));

    // Wrong signer: a proposal in the gatekeeper's name signed by another key.
    let forged = egress(&runtime_signer(99), sender, 0, next(&net), key_epochs(), &proposal_payload(&second, 1));
    assert_eq!(check(&net, &forged), Err(EgressError::BadSignature(sender)));
    // A worker may not propose, and the gatekeeper set (a master-derived key) may not either:
    // rotation messages are signed by a gatekeeper's identity only.
    let worker = SenderId::Worker(workers[0].public());
    let by_worker =
        egress(&workers[0], worker, 0, net.next_sequence(worker), key_epochs(), &proposal_payload(&second, 1));
    assert!(matches!(check(&net, &by_worker), Err(EgressError::TopicNotAllowed { .. })));
    let set_signer = master().set_signer(KeyEpoch(0));
    let by_master = egress(&set_signer, SenderId::GatekeeperSet, 0, 0, key_epochs(), &proposal_payload(&second, 1));
    let error = check(&net, &by_master).unwrap_err();
    assert!(error.to_string().contains("one gatekeeper's identity"), "{error}");

    // Unrequested: a genuine proposal before any rotation was asked for opens nothing.
    let early = egress(&gatekeeper(), sender, 0, next(&net), key_epochs(), &proposal_payload(&second, 1));
    assert_eq!(net.step(1, vec![], vec![early.clone()]).egress.len(), 1);
    assert_eq!(net.epochs().epoch(), KeyEpoch(0));
    // Replayed: the same copy again is a duplicate.
    assert!(matches!(check(&net, &early), Err(EgressError::Duplicate { .. })));

    // Only the rotation admin asks for a rotation; then the first proposal opens the epoch.
    let operator = net.operator.clone();
    assert!(matches!(
        epoch_error(net.refused(&operator, Call::Epochs(EpochsCall::RotateKeys))),
        EpochError::NotRotationAdmin { .. }
    ));
    let admin = net.admin.clone();
    let tx = net.sign(&admin, Call::Epochs(EpochsCall::RotateKeys));
    assert_eq!(net.step(1, vec![tx], vec![]).transactions.len(), 1);
    assert_eq!(net.epochs().requested, Some(KeyEpoch(1)));
    let genuine = net.proposal(&gatekeeper(), &second, 1);
    assert_eq!(net.step(1, vec![], vec![genuine]).egress.len(), 1);
    let opened = net.epochs().current.unwrap();
    assert_eq!((opened.epoch, opened.master, opened.proposer), (KeyEpoch(1), second.public(), gatekeeper().public()));

    // A later proposal for the open epoch (a replay of the race, or another master) changes nothing.
    let third = MasterKey::from_secret(SecretBytes::new([0x7f; 32]));
    let late = net.proposal(&gatekeeper(), &third, 1);
    assert_eq!(net.step(1, vec![], vec![late]).egress.len(), 1);
    assert_eq!(net.epochs().current.unwrap().master, second.public());

    // Signed by the old master key: the gatekeeper set's egress under epoch 0 is refused now.
    let keys = KeyMessage::MasterShare(
        veil_crypto::confidential::MasterShare::seal(
            &master(),
            KeyEpoch(0),
            &AssignedWorker { identity: workers[0].public(), agreement: [7; 32] },
            0,
        )
        .unwrap(),
    );
    let next_set = net.next_sequence(SenderId::GatekeeperSet);
    let old = egress(&set_signer, SenderId::GatekeeperSet, 0, next_set, key_epochs(), &keys.encode());
    assert!(matches!(check(&net, &old), Err(EgressError::OldEpoch { .. })), "{:?}", check(&net, &old));
    let new_signer = second.set_signer(KeyEpoch(1));
    let current = egress(&new_signer, SenderId::GatekeeperSet, 1, next_set, key_epochs(), &keys.encode());
    assert_eq!(check(&net, &current), Ok(()), "the same message under the current epoch's key passes");
}

#[test]
fn an_epoch_key_must_be_signed_by_the_runtime_that_announces_it() {
    let mut net = net(true, "2026-01-01T00:00:00Z");
    net.open_first_epoch();
    let workers = net.register_workers(&[1, 2]);
    let (one, two) = (&workers[0], &workers[1]);
    let sender = SenderId::Worker(one.public());
    let honest = announced_key(&net.chain.id(), one, 1);
    // Signed by another runtime.
    let signature =
        two.sign(&EpochKey::signing_payload(&net.chain.id(), &one.public(), KeyEpoch(1), &honest.agreement));
    let key = EpochKey { signature, ..honest };
    let payload = AssignmentMessage::EpochKey(key).encode();
    let forged = egress(one, sender, 0, net.next_sequence(sender), Topic::System(SystemTopic::Assignments), &payload);
    let error = check(&net, &forged).unwrap_err();
    assert!(error.to_string().contains("not signed by the announcing runtime's identity"), "{error}");
    // Its announced key stands.
    assert_eq!(net.worker(&one.public()).unwrap().epoch_key(KeyEpoch(1)), Some(epoch_agreement(&one.public(), 1)));
}

fn heartbeat(net: &Net, worker: &veil_crypto::RuntimeSigner) -> SignedEgress {
    let sender = SenderId::Worker(worker.public());
    let payload = Heartbeat { height: net.head.height }.encode();
    egress(worker, sender, 0, net.next_sequence(sender), Topic::System(SystemTopic::Heartbeats), &payload)
}

#[test]
fn a_silent_cluster_worker_is_reported_removed_and_replaced_from_the_standby_list() {
    let mut net = net(true, "2026-01-01T00:00:00Z");
    net.open_first_epoch();
    let workers = net.register_workers(&[1, 2, 3]);
    let [one, two, three] = [&workers[0], &workers[1], &workers[2]].map(|worker| worker.public());
    let admin = net.admin.clone();
    let cluster = ClusterId(1);
    let tx = net.sign(
        &admin,
        Call::Contracts(ContractsCall::FormCluster { cluster, workers: vec![one, two].try_into().unwrap() }),
    );
    assert_eq!(net.step(1, vec![tx], vec![]).transactions.len(), 1);
    assert_eq!(net.state.standby().unwrap().to_vec(), vec![three]);

    // Anyone may report, but only a member silent past the window.
    let reporter = net.operator.clone();
    let report = |worker| Call::Epochs(EpochsCall::ReportOffline { cluster, worker });
    let error = epoch_error(net.refused(&reporter, report(three)));
    assert!(matches!(error, EpochError::NotAMember { .. }), "{error}");
    let error = epoch_error(net.refused(&reporter, report(one)));
    assert!(matches!(error, EpochError::StillFit { .. }), "{error}");

    // Workers two and three beat; one is silent past the window.
    let window = net.chain.genesis().liveness.offline_after_ms;
    let beat = net.chain.genesis().liveness.heartbeat_interval_ms;
    for _ in 0..window / beat + 1 {
        let beats = vec![heartbeat(&net, &workers[1]), heartbeat(&net, &workers[2])];
        assert_eq!(net.step(beat, vec![], beats).egress.len(), 2);
    }
    let error = epoch_error(net.refused(&reporter, report(two)));
    assert!(matches!(error, EpochError::StillFit { .. }), "a beating member stays: {error}");
    let tx = net.sign(&reporter, report(one));
    let built = net.step(1, vec![tx], vec![]);
    assert_eq!(built.transactions.len(), 1, "{:?}", built.dropped);
    assert_eq!(net.state.cluster(cluster).unwrap().unwrap().workers.to_vec(), vec![two], "removed at once");
    // The next block chooses the replacement, with the seed of the report's round.
    let built = net.step(1, vec![], vec![]);
    let info = net.state.cluster(cluster).unwrap().unwrap();
    assert_eq!(info.workers.to_vec(), vec![two, three]);
    assert!(net.state.standby().unwrap().is_empty());
    assert_eq!(net.worker(&one).unwrap().cluster, None);
    let duty = built.messages.iter().find(|p| p.message.topic == Topic::System(SystemTopic::Assignments)).unwrap();
    let expected = Replacement {
        cluster,
        epoch: KeyEpoch(0),
        removed: one,
        added: Some(AssignedWorker { identity: three, agreement: epoch_agreement(&three, 0) }),
        at_ms: net.head.timestamp_ms,
    };
    assert_eq!(
        decode_strict::<AssignmentMessage>(&duty.message.payload).unwrap(),
        AssignmentMessage::Replaced(expected)
    );

    // Reported again: no longer a member. With no standby left, a silent member leaves unreplaced.
    let error = epoch_error(net.refused(&reporter, report(one)));
    assert!(matches!(error, EpochError::NotAMember { .. }), "{error}");
    for _ in 0..window / beat + 1 {
        assert_eq!(net.step(beat, vec![], vec![heartbeat(&net, &workers[2])]).egress.len(), 1);
    }
    let tx = net.sign(&reporter, report(two));
    let built = net.step(1, vec![tx], vec![]);
    assert_eq!(built.transactions.len(), 1, "{:?}", built.dropped);
    let built = net.step(1, vec![], vec![]);
    assert_eq!(net.state.cluster(cluster).unwrap().unwrap().workers.to_vec(), vec![three]);
    let duty = built.messages.iter().find(|p| p.message.topic == Topic::System(SystemTopic::Assignments)).unwrap();
    let AssignmentMessage::Replaced(replaced) = decode_strict(&duty.message.payload).unwrap() else { panic!() };
    assert_eq!((replaced.removed, replaced.added), (two, None));
}

#[test]
fn an_envelope_before_the_first_epoch_or_after_its_epoch_retired_is_refused() {
    use veil_crypto::confidential::{CommandBinding, seal_command};
    let net = net(true, "2026-01-01T00:00:00Z");
    let sealed_to = |epoch: u32| {
        let binding = CommandBinding {
            chain: net.chain.id(),
            contract: veil_primitives::ContractId([1; 32]),
            epoch: KeyEpoch(epoch),
            sender: veil_primitives::AccountId([2; 32]),
            nonce: 0,
        };
        seal_command(&[9; 32], &binding, b"command").unwrap()
    };
    // No epoch has opened: no key existed to seal to, whatever epoch the envelope names.
    let none = EpochState::default();
    assert_eq!(net.chain.check_envelope_epoch(&none, &sealed_to(0), 0), Err(EpochError::NoEpoch));
    // Epoch 1 is current, epoch 0 in its grace period until 500, then retired.
    let opening = |epoch: u32, opened_at_ms: u64, previous_grace_ends_at_ms: u64| EpochOpening {
        epoch: KeyEpoch(epoch),
        master: [0; 32],
        signing: [0; 32],
        proposer: [0; 32],
        opened_at_ms,
        previous_grace_ends_at_ms,
    };
    let epochs = EpochState { current: Some(opening(1, 100, 500)), previous: Some(opening(0, 0, 0)), ..none };
    assert_eq!(net.chain.check_envelope_epoch(&epochs, &sealed_to(0), 499), Ok(()));
    assert_eq!(net.chain.check_envelope_epoch(&epochs, &sealed_to(1), 499), Ok(()));
    let expired = EpochError::KeyEpochExpired { found: KeyEpoch(0), current: KeyEpoch(1) };
    assert_eq!(net.chain.check_envelope_epoch(&epochs, &sealed_to(0), 500), Err(expired));
    // Bytes that are not an envelope pass: the runtime refuses them and returns their tokens.
    assert_eq!(net.chain.check_envelope_epoch(&none, b"not an envelope", 0), Ok(()));
}

/// The attack of issue 21: a worker announces another runtime's epoch key as its own (copying its
/// X25519 and ed25519 forms and its proof of possession, signing with its own identity), so that
/// deliveries meant for the other runtime would also be sealed to "its" key. The chain refuses
/// the announcement: the proof of possession names the other runtime.
#[test]
fn a_runtime_cannot_announce_another_runtimes_epoch_key() {
    let mut net = net(true, "2026-01-01T00:00:00Z");
    net.open_first_epoch();
    let workers = net.register_workers(&[1, 2]);
    let (victim, copier) = (&workers[0], &workers[1]);
    let stolen = announced_key(&net.chain.id(), victim, 1);
    let signature =
        copier.sign(&EpochKey::signing_payload(&net.chain.id(), &copier.public(), KeyEpoch(1), &stolen.agreement));
    let sender = SenderId::Worker(copier.public());
    let payload = AssignmentMessage::EpochKey(EpochKey { signature, ..stolen }).encode();
    let copied =
        egress(copier, sender, 0, net.next_sequence(sender), Topic::System(SystemTopic::Assignments), &payload);
    let error = check(&net, &copied).unwrap_err();
    assert!(error.to_string().contains("proof of possession"), "{error}");
    assert_eq!(
        net.worker(&copier.public()).unwrap().epoch_key(KeyEpoch(1)),
        Some(epoch_agreement(&copier.public(), 1))
    );
}

/// One party announces one epoch key from two of its runtimes (it holds the secret, so both proofs
/// verify): the chain records the key for the first runtime only.
#[test]
fn an_epoch_key_counts_only_for_the_runtime_that_announced_it_first() {
    let mut net = net(true, "2026-01-01T00:00:00Z");
    net.open_first_epoch();
    let workers = net.register_silent(&[1, 2]);
    let (first, second) = (&workers[0], &workers[1]);
    let pair = veil_crypto::EpochKeyPair::from_seed(&veil_crypto::SecretBytes::new([0x33; 32]));
    for runtime in [first, second] {
        let key = pair.announce(&net.chain.id(), runtime, KeyEpoch(1));
        let sender = SenderId::Worker(runtime.public());
        let payload = AssignmentMessage::EpochKey(key).encode();
        let copy =
            egress(runtime, sender, 0, net.next_sequence(sender), Topic::System(SystemTopic::Assignments), &payload);
        assert_eq!(net.step(1, vec![], vec![copy]).egress.len(), 1, "the copy itself is accepted");
    }
    assert_eq!(net.worker(&first.public()).unwrap().epoch_key(KeyEpoch(1)), Some(pair.agreement_public()));
    assert_eq!(net.worker(&second.public()).unwrap().epoch_key(KeyEpoch(1)), None, "counted for the second runtime");
}

/// Epoch 0 open and cluster 1 formed of two software workers (seeds 1 and 2) with their keys of
/// epochs 0 and 1.
fn cluster_of_two() -> (Net, Vec<veil_crypto::RuntimeSigner>, ClusterId) {
    let mut net = net(true, "2026-01-01T00:00:00Z");
    net.open_first_epoch();
    let workers = net.register_workers(&[1, 2]);
    let identities = workers.iter().map(|worker| worker.public()).collect::<Vec<_>>();
    let admin = net.admin.clone();
    let cluster = ClusterId(1);
    let form = net
        .sign(&admin, Call::Contracts(ContractsCall::FormCluster { cluster, workers: identities.try_into().unwrap() }));
    assert_eq!(net.step(1, vec![form], vec![]).transactions.len(), 1);
    (net, workers, cluster)
}

/// The attack of issue 21 (a rotation held hostage): a cluster worker keeps beating but never
/// announces its key of the next epoch. A scheduled rotation waits for it one liveness window at
/// most, then proceeds without it; the worker, holding no key of the open epoch, is removable at
/// once although it still beats.
#[test]
fn a_worker_that_never_announces_its_next_key_cannot_hold_a_rotation_back() {
    let (mut net, workers, cluster) = cluster_of_two();
    let [one, two] = [&workers[0], &workers[1]].map(|worker| worker.public());
    let admin = net.admin.clone();
    let mut parameters = net.state.parameters().unwrap();
    parameters.keys.rotation_interval_ms = 15_000;
    let schedule = net.sign(&admin, Call::Parameters(veil_primitives::ParametersCall::Set(parameters.clone())));
    assert_eq!(net.step(1, vec![schedule], vec![]).transactions.len(), 1);

    // Epoch 1 opens on the admin's demand; only worker one announces its key of epoch 2.
    let rotate = net.sign(&admin, Call::Epochs(EpochsCall::RotateKeys));
    assert_eq!(net.step(1, vec![rotate], vec![]).transactions.len(), 1);
    let second = MasterKey::from_secret(SecretBytes::new([0x5e; 32]));
    let proposal = net.proposal(&gatekeeper(), &second, 1);
    assert_eq!(net.step(1, vec![], vec![proposal]).egress.len(), 1);
    let opened_at = net.epochs().current.unwrap().opened_at_ms;
    let key = net.epoch_key(&workers[0], 2);
    assert_eq!(net.step(1, vec![], vec![key]).egress.len(), 1);
    assert_eq!(net.epochs().lacking_next, 1);

    // Both beat. Past the schedule the chain waits one window for the missing key, then asks.
    let due = opened_at + parameters.keys.rotation_interval_ms;
    let window = parameters.liveness.offline_after_ms;
    while net.head.timestamp_ms < due + window {
        assert_eq!(net.epochs().requested, None, "asked at {} before {}", net.head.timestamp_ms, due + window);
        let beats = vec![heartbeat(&net, &workers[0]), heartbeat(&net, &workers[1])];
        assert_eq!(net.step(1_000, vec![], beats).egress.len(), 2);
    }
    net.step(1, vec![], vec![]);
    assert_eq!(net.epochs().requested, Some(KeyEpoch(2)), "the silent key held the rotation back");
    let third = MasterKey::from_secret(SecretBytes::new([0x7f; 32]));
    let proposal = net.proposal(&gatekeeper(), &third, 2);
    assert_eq!(net.step(1, vec![], vec![proposal]).egress.len(), 1);
    assert_eq!(net.epochs().epoch(), KeyEpoch(2));

    // Worker two beats but holds no key of epoch 2: a report removes it; worker one stays.
    let reporter = net.operator.clone();
    let error = epoch_error(net.refused(&reporter, Call::Epochs(EpochsCall::ReportOffline { cluster, worker: one })));
    assert!(matches!(error, EpochError::StillFit { .. }), "{error}");
    let report = net.sign(&reporter, Call::Epochs(EpochsCall::ReportOffline { cluster, worker: two }));
    let built = net.step(1, vec![report], vec![heartbeat(&net, &workers[1])]);
    assert_eq!(built.transactions.len(), 1, "{:?}", built.dropped);
    assert_eq!(net.state.cluster(cluster).unwrap().unwrap().workers.to_vec(), vec![one]);
}

/// The attack of issue 21 (an unattested gatekeeper): a genesis gatekeeper identity whose runtime
/// never attested (or whose registration lapsed) proposes a master key. The chain refuses the
/// proposal until the gatekeeper registers.
#[test]
fn a_gatekeeper_that_has_not_attested_cannot_propose_a_master_key() {
    let mut net = net(true, "2026-01-01T00:00:00Z");
    let proposal = net.proposal(&gatekeeper(), &master(), 0);
    let built = net.step(1, vec![], vec![proposal]);
    assert!(matches!(built.skipped_egress[0].1, EgressError::GatekeeperNotRegistered(_)), "{:?}", built.skipped_egress);
    assert_eq!(net.epochs().current, None);
    net.open_first_epoch();
    assert_eq!(net.epochs().epoch(), KeyEpoch(0));
}

/// Issue 21, item 4: a gatekeeper identity is replaced without a new genesis, by the rotation
/// admin only. The old identity is heard no more; the new one, registered, proposes.
#[test]
fn the_rotation_admin_replaces_a_gatekeeper_identity() {
    let mut net = net(true, "2026-01-01T00:00:00Z");
    net.open_first_epoch();
    let (admin, operator) = (net.admin.clone(), net.operator.clone());
    let (old, successor) = (gatekeeper(), runtime_signer(60));
    let replace = |old: [u8; 32], new: [u8; 32]| Call::Epochs(EpochsCall::ReplaceGatekeeper { old, new });

    let error = epoch_error(net.refused(&operator, replace(old.public(), successor.public())));
    assert!(matches!(error, EpochError::NotRotationAdmin { .. }), "{error}");
    let error = epoch_error(net.refused(&admin, replace([9; 32], successor.public())));
    assert_eq!(error, EpochError::NotAGatekeeper([9; 32]));
    let error = epoch_error(net.refused(&admin, replace(old.public(), old.public())));
    assert_eq!(error, EpochError::AlreadyAGatekeeper(old.public()));

    // Its relayer registered the successor at start, as a worker standing by; the replacement
    // makes it a gatekeeper.
    let successor_id = net.register_silent(&[60])[0].public();
    assert!(net.state.standby().unwrap().contains(&successor_id));
    let tx = net.sign(&admin, replace(old.public(), successor_id));
    let built = net.step(1, vec![tx], vec![]);
    assert_eq!(built.transactions.len(), 1, "{:?}", built.dropped);
    assert_eq!(net.state.gatekeepers().unwrap().to_vec(), vec![successor_id]);
    assert!(!net.state.standby().unwrap().contains(&successor_id));
    let duty = built.messages.iter().find(|p| p.message.topic == Topic::System(SystemTopic::Assignments)).unwrap();
    assert_eq!(
        decode_strict::<AssignmentMessage>(&duty.message.payload).unwrap(),
        AssignmentMessage::GatekeeperReplaced { old: old.public(), new: successor_id }
    );

    // A rotation: the old identity's proposal is refused, the successor's opens the epoch.
    let rotate = net.sign(&admin, Call::Epochs(EpochsCall::RotateKeys));
    assert_eq!(net.step(1, vec![rotate], vec![]).transactions.len(), 1);
    let second = MasterKey::from_secret(SecretBytes::new([0x5e; 32]));
    let stale = net.proposal(&old, &second, 1);
    let built = net.step(1, vec![], vec![stale]);
    assert_eq!(built.skipped_egress[0].1, EgressError::NotInGatekeeperSet(old.public()));
    let proposal = net.proposal(&successor, &second, 1);
    let built = net.step(1, vec![], vec![proposal]);
    assert_eq!(built.egress.len(), 1, "{:?}", built.skipped_egress);
    assert_eq!(net.epochs().current.unwrap().proposer, successor_id);
}

/// Issue 22, item 1: the chain's own downtime is nobody's silence. A network stopped for three
/// offline windows resumes; right after, a report of a cluster worker is refused (silence counts
/// from the resumption), and only a worker that then stays silent for a window is removable.
#[test]
fn the_chains_own_downtime_is_nobodys_silence() {
    let (mut net, workers, cluster) = cluster_of_two();
    let [one, two] = [&workers[0], &workers[1]].map(|worker| worker.public());

    // Down for three windows: of that gap, one block's counted gap is silence, the rest a stall.
    let window = net.chain.genesis().liveness.offline_after_ms;
    let counted = net.chain.genesis().liveness.counted_gap_ms(net.chain.genesis().validators.len());
    let stalled = net.epochs().stalled_ms;
    net.step(3 * window, vec![], vec![]);
    assert_eq!(net.epochs().stalled_ms, stalled + 3 * window - counted);
    let reporter = net.operator.clone();
    let report = |worker| Call::Epochs(EpochsCall::ReportOffline { cluster, worker });
    let error = epoch_error(net.refused(&reporter, report(one)));
    assert!(matches!(error, EpochError::StillFit { .. }), "a report right after the restart: {error}");

    // Worker two beats; worker one stays silent a whole window after the resumption.
    let beat = net.chain.genesis().liveness.heartbeat_interval_ms;
    for _ in 0..window / beat + 1 {
        assert_eq!(net.step(beat, vec![], vec![heartbeat(&net, &workers[1])]).egress.len(), 1);
    }
    let error = epoch_error(net.refused(&reporter, report(two)));
    assert!(matches!(error, EpochError::StillFit { .. }), "{error}");
    let tx = net.sign(&reporter, report(one));
    assert_eq!(net.step(1, vec![tx], vec![]).transactions.len(), 1);
}

/// Issue 23 (found by the simulation, seed 24): a chain that is slow but live, its blocks more than
/// a heartbeat interval apart, still counts a dead worker's silence, and a live worker whose
/// heartbeats land only every few blocks (egress is not gossiped) is never reportable. Before,
/// every gap longer than a heartbeat interval reset everyone's silence, so a worker gone for good
/// was never removable on such a chain and held its cluster place forever.
#[test]
fn a_slow_chain_still_counts_a_dead_workers_silence() {
    let (mut net, workers, cluster) = cluster_of_two();
    let [one, two] = [&workers[0], &workers[1]].map(|worker| worker.public());
    let liveness = net.chain.genesis().liveness.clone();
    let validators = net.chain.genesis().validators.len();
    let counted = liveness.counted_gap_ms(validators);
    // Blocks twice the heartbeat interval apart, longer than what counts.
    let gap = 2 * liveness.heartbeat_interval_ms;
    assert!(gap > counted, "the test needs blocks slower than the counted gap");
    let reporter = net.operator.clone();
    let report = |worker| Call::Epochs(EpochsCall::ReportOffline { cluster, worker });
    // Worker two's heartbeat lands every `validators + 1` blocks (when its relayer's validator
    // leads); worker one is gone.
    let blocks = liveness.offline_after_ms / counted + 1;
    for block in 0..blocks {
        let beats = if block % (validators as u64 + 1) == 0 { vec![heartbeat(&net, &workers[1])] } else { vec![] };
        net.step(gap, vec![], beats);
        let error = epoch_error(net.refused(&reporter, report(two)));
        assert!(matches!(error, EpochError::StillFit { .. }), "the live worker, block {block}: {error}");
    }
    let tx = net.sign(&reporter, report(one));
    assert_eq!(net.step(1, vec![tx], vec![]).transactions.len(), 1, "the dead worker is removable");
}

/// Issue 22, item 4 (in part): a replacement prunes the standby list of workers whose registration
/// lapsed, and takes the first live one; before, lapsed entries stayed forever and filled the list.
#[test]
fn a_replacement_prunes_lapsed_workers_from_the_standby_list() {
    let (mut net, workers, cluster) = cluster_of_two();
    let standbys = net.register_workers(&[3, 4]);
    let [lapsing, fresh] = [&standbys[0], &standbys[1]].map(|worker| worker.public());
    assert_eq!(net.state.standby().unwrap().to_vec(), vec![lapsing, fresh]);

    // Worker 3 never renews; worker 4 and cluster member 2 renew and beat; member 1 falls silent.
    let lifetime = net.chain.genesis().registration.insecure_lifetime_ms;
    let beat = net.chain.genesis().liveness.heartbeat_interval_ms;
    let operator = net.operator.clone();
    let renew = |net: &mut Net, worker: [u8; 32]| {
        let call = Call::Registry(veil_primitives::RegistryCall::RegisterWorker {
            info: net.info(worker),
            attestation: veil_primitives::Attestation::InsecureSoftware,
        });
        net.sign(&operator, call)
    };
    let mut elapsed = 0;
    while elapsed <= lifetime {
        let txs = if elapsed % (lifetime / 2) < beat {
            vec![renew(&mut net, fresh), renew(&mut net, workers[1].public())]
        } else {
            vec![]
        };
        let beats = vec![heartbeat(&net, &workers[1]), heartbeat(&net, &standbys[1])];
        net.step(beat, txs, beats);
        elapsed += beat;
    }
    assert!(net.worker(&lapsing).unwrap().expires_at_ms <= net.head.timestamp_ms, "worker 3 lapsed");
    let report = net.sign(&operator, Call::Epochs(EpochsCall::ReportOffline { cluster, worker: workers[0].public() }));
    let built = net.step(1, vec![report], vec![]);
    assert_eq!(built.transactions.len(), 1, "{:?}", built.dropped);
    net.step(1, vec![], vec![]);
    assert_eq!(net.state.cluster(cluster).unwrap().unwrap().workers.to_vec(), vec![workers[1].public(), fresh]);
    assert!(net.state.standby().unwrap().is_empty(), "the lapsed worker left the standby list");
}

/// Issue 22, item 4: one operator with 50 standby workers against one honest standby. The
/// replacement is drawn uniformly among the live, keyed standbys with the seed of the report's
/// round (recorded by the next block, which makes the choice), so registering first or many times
/// does not steer it: across seeds each draw is the seed's, the honest worker is drawn too, and
/// the lapsed entries leave the list.
#[test]
fn many_standbys_of_one_operator_cannot_steer_a_replacement() {
    let (mut net, workers, cluster) = cluster_of_two();
    // The operator registers its 50 first; the honest one comes last (the old rule took the first).
    // (Seed 50 is the genesis gatekeeper's.)
    let attackers = net.register_workers(&(100..150).collect::<Vec<u8>>());
    let honest = net.register_workers(&[160])[0].public();
    assert_eq!(net.state.standby().unwrap().len(), 51);

    // Twenty of the operator's registrations lapse; the others, the honest one and member 2 renew
    // and beat; member 1 falls silent.
    let kept: Vec<[u8; 32]> = attackers[20..].iter().map(|worker| worker.public()).chain([honest]).collect();
    let lifetime = net.chain.genesis().registration.insecure_lifetime_ms;
    let beat = net.chain.genesis().liveness.heartbeat_interval_ms;
    let operator = net.operator.clone();
    let mut beating: Vec<&veil_crypto::RuntimeSigner> = attackers[20..].iter().collect();
    let honest_signer = runtime_signer(160);
    beating.push(&honest_signer);
    beating.push(&workers[1]);
    let mut elapsed = 0;
    while elapsed <= lifetime {
        let txs = if elapsed % (lifetime / 2) < beat {
            beating
                .iter()
                .map(|worker| {
                    let info = net.info(worker.public());
                    let call = Call::Registry(veil_primitives::RegistryCall::RegisterWorker {
                        info,
                        attestation: veil_primitives::Attestation::InsecureSoftware,
                    });
                    net.sign(&operator, call)
                })
                .collect()
        } else {
            vec![]
        };
        let beats = beating.iter().map(|worker| heartbeat(&net, worker)).collect();
        let built = net.step(beat, txs, beats);
        assert!(built.skipped_egress.is_empty(), "{:?}", built.skipped_egress);
        elapsed += beat;
    }
    let removed = workers[0].public();
    let report = net.sign(&operator, Call::Epochs(EpochsCall::ReportOffline { cluster, worker: removed }));
    assert_eq!(net.step(1, vec![report], vec![]).transactions.len(), 1);
    let eligible: Vec<[u8; 32]> =
        net.state.standby().unwrap().iter().copied().filter(|identity| kept.contains(identity)).collect();
    assert_eq!(eligible.len(), 31);

    // The block after the report draws, with whatever seed the report's round turned out to have.
    let (state, head) = (net.state.clone(), net.head.clone());
    let mut drawn = std::collections::BTreeSet::new();
    for salt in 0..200 {
        (net.state, net.head, net.seed_salt) = (state.clone(), head.clone(), salt);
        let seed = net.seed();
        net.step(1, vec![], vec![]);
        let draw = veil_primitives::hashing::sha256(&(seed.randomness(), cluster, removed).encode());
        let index = u64::from_le_bytes(draw.as_bytes()[..8].try_into().unwrap()) % eligible.len() as u64;
        let members = net.state.cluster(cluster).unwrap().unwrap().workers.to_vec();
        assert_eq!(members, vec![workers[1].public(), eligible[index as usize]], "the seed's draw, salt {salt}");
        let left = net.state.standby().unwrap().to_vec();
        assert_eq!(left.len(), 30, "the lapsed twenty and the one drawn left the list");
        assert!(left.iter().all(|identity| kept.contains(identity)));
        drawn.insert(eligible[index as usize]);
    }
    assert!(drawn.contains(&honest), "the honest standby is drawn too");
    assert!(drawn.len() > 20, "draws spread over the standbys: {}", drawn.len());
}
