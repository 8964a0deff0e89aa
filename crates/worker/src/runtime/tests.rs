//! Unit tests of each duty: messages handed to the runtime directly (the light client's checks
//! are `crate::sync`'s tests), with randomness from a seed so every run makes the same keys.
#![allow(clippy::unwrap_used)]

use parity_scale_codec::Encode;
use veil_consensus::testing::GeneratedChain;
use veil_crypto::{MasterKey, Sealable, SecretBytes};
use veil_primitives::{
    AccountId, Attestation, Balance, ClusterId, ContractId, KeyEpoch, Message, Origin, RegistrationInfo, SenderId,
    SystemTopic, Topic, WorkerRegistration,
    contract::{
        AssignedWorker, AssignmentMessage, BlockStamp, ClusterFormed, CommandMessage, ContractMessage, Deployment,
    },
    epoch::{EpochKey, EpochOpening, Replacement},
};

use super::*;
use crate::contract::Notes;

const GATEKEEPER_SEED: [u8; 32] = [0x6b; 32];
const CLUSTER: ClusterId = ClusterId(1);
const NOTES: ContractId = ContractId([0x17; 32]);

fn gatekeeper_identity() -> [u8; 32] {
    RuntimeSigner::from_seed(&SecretBytes::new(GATEKEEPER_SEED)).public()
}

fn genesis() -> Genesis {
    let chain = GeneratedChain::with_genesis(0, |genesis| {
        let gatekeeper = gatekeeper_identity();
        genesis.senders =
            vec![veil_genesis::GenesisSender { sender: SenderId::Gatekeeper(gatekeeper), key: gatekeeper, epoch: 0 }];
    });
    chain.chain.genesis().clone()
}

fn host(seed: u8) -> Host {
    Host { insecure: true, limits: QueryLimits::default(), randomness: Arc::new(SeededRandomness::new([seed; 32])) }
}

fn worker(genesis: &Genesis, seed: u8) -> Runtime {
    Runtime::new(genesis, host(seed), Role::Worker, None).unwrap()
}

fn gatekeeper(genesis: &Genesis) -> Runtime {
    Runtime::new(genesis, host(0), Role::Gatekeeper, Some(SecretBytes::new(GATEKEEPER_SEED))).unwrap()
}

fn message(topic: Topic, origin: Origin, payload: impl Encode) -> Message {
    Message { topic, origin, payload: payload.encode().try_into().unwrap() }
}

fn duty(payload: AssignmentMessage) -> Message {
    message(Topic::System(SystemTopic::Assignments), Origin::Chain, payload)
}

fn opening(epoch: u32, previous_grace_ends_at_ms: u64) -> EpochOpening {
    EpochOpening {
        epoch: KeyEpoch(epoch),
        master: [epoch as u8; 32],
        signing: [epoch as u8; 32],
        proposer: [9; 32],
        opened_at_ms: 1_000 * u64::from(epoch),
        previous_grace_ends_at_ms,
    }
}

/// The chain's registration message for `identity`, current over `[from_ms, until_ms)`.
fn register(
    runtime: &Runtime,
    identity: [u8; 32],
    measurement: Option<veil_primitives::Measurement>,
    from_ms: u64,
    until_ms: u64,
) -> Message {
    let info = RegistrationInfo {
        signing_key: identity,
        agreement_key: [4; 32],
        genesis: runtime.chain(),
        operator: AccountId([5; 32]),
    };
    let registration = WorkerRegistration {
        info,
        attestation: Attestation::InsecureSoftware,
        measurement,
        registered_at_ms: from_ms,
        expires_at_ms: until_ms,
    };
    message(Topic::System(SystemTopic::Registrations), Origin::Chain, registration)
}

/// The worker's own, signed key of `epoch`, as it announced it.
fn announced(runtime: &Runtime, epoch: KeyEpoch) -> AssignedWorker {
    AssignedWorker { identity: runtime.identity(), agreement: runtime.core.epoch_key(epoch).unwrap().public() }
}

fn worker_duties(runtime: &mut Runtime) -> &mut WorkerDuties {
    match &mut runtime.duties {
        Duties::Worker(worker) => worker,
        Duties::Gatekeeper(_) => panic!("not a worker"),
    }
}

fn gatekeeper_duties(runtime: &mut Runtime) -> &mut GatekeeperDuties {
    match &mut runtime.duties {
        Duties::Gatekeeper(gatekeeper) => gatekeeper,
        Duties::Worker(_) => panic!("not a gatekeeper"),
    }
}

/// A worker of [`CLUSTER`] holding the cluster key of epoch 0 and running the built-in notes
/// contract.
fn running_worker(genesis: &Genesis) -> Runtime {
    let mut runtime = worker(genesis, 1);
    let me = AssignedWorker { identity: runtime.identity(), agreement: [0; 32] };
    let cluster_key = MasterKey::from_secret(SecretBytes::new([5; 32])).cluster_key(CLUSTER, KeyEpoch(0));
    worker_duties(&mut runtime).cluster_keys.insert(KeyEpoch(0), Sealable(cluster_key));
    let formed =
        ClusterFormed { cluster: CLUSTER, epoch: KeyEpoch(0), workers: vec![me].try_into().unwrap(), at_ms: 0 };
    let assigned = veil_primitives::contract::Assignment {
        contract: NOTES,
        code: Notes::code_hash(),
        cluster: CLUSTER,
        epoch: KeyEpoch(0),
    };
    for (index, payload) in
        [AssignmentMessage::Cluster(formed), AssignmentMessage::Contract(assigned)].into_iter().enumerate()
    {
        let message = duty(payload);
        runtime.handle(message.topic, index as u64, &message, 0).unwrap();
    }
    assert_eq!(runtime.cluster(), Some((CLUSTER, false)));
    assert_eq!(runtime.contracts(), [(NOTES, Notes::code_hash(), KeyEpoch(0), true)]);
    runtime
}

// ---- sync: each message to the duty that handles it ----

#[test]
fn a_topic_the_role_does_not_handle_is_refused_with_its_code() {
    let genesis = genesis();
    let mut runtime = worker(&genesis, 1);
    let registration = message(Topic::System(SystemTopic::Registrations), Origin::Chain, 0u8);
    let refusal = runtime.handle(registration.topic, 0, &registration, 0).unwrap_err();
    assert_eq!((refusal.code(), refusal), ("unexpected_topic", Refusal::UnexpectedTopic));
    let mut gatekeeper = gatekeeper(&genesis);
    let release = message(Topic::System(SystemTopic::Releases), Origin::Chain, 0u8);
    assert_eq!(gatekeeper.handle(release.topic, 0, &release, 0), Err(Refusal::UnexpectedTopic));
}

#[test]
fn a_duty_that_does_not_decode_or_comes_from_an_account_is_refused_and_changes_nothing() {
    let genesis = genesis();
    let mut runtime = worker(&genesis, 1);
    let before = runtime.checkpoint();
    let garbage = message(Topic::System(SystemTopic::Assignments), Origin::Chain, vec![0xffu8; 3]);
    assert_eq!(runtime.handle(garbage.topic, 0, &garbage, 0).unwrap_err().code(), "malformed");
    let forged = message(
        Topic::System(SystemTopic::Assignments),
        Origin::Account(AccountId([4; 32])),
        AssignmentMessage::EpochOpened(opening(0, 0)),
    );
    assert_eq!(runtime.handle(forged.topic, 1, &forged, 0).unwrap_err().code(), "wrong_origin");
    assert_eq!(runtime.checkpoint(), before);
    let twice = duty(AssignmentMessage::EpochOpened(opening(0, 0)));
    runtime.handle(twice.topic, 2, &twice, 0).unwrap();
    assert_eq!(runtime.handle(twice.topic, 3, &twice, 0), Err(Refusal::EpochOpenedTwice(KeyEpoch(0))));
}

// ---- keys: identity, epoch keys, randomness, retirement ----

#[test]
fn the_same_seeded_randomness_makes_the_same_keys() {
    let genesis = genesis();
    let (one, again, other) = (worker(&genesis, 1), worker(&genesis, 1), worker(&genesis, 2));
    assert_eq!(one.identity(), again.identity());
    assert_eq!(one.agreement_key(), again.agreement_key());
    assert_ne!(one.identity(), other.identity());
    assert_ne!(one.identity(), one.agreement_key());
}

#[test]
fn epoch_keys_are_announced_once_each_and_destroyed_when_their_epoch_retires() {
    let genesis = genesis();
    let mut runtime = worker(&genesis, 1);
    runtime.core.announce_epoch_keys(&runtime.setting, Role::Worker);
    runtime.core.announce_epoch_keys(&runtime.setting, Role::Worker);
    assert_eq!(runtime.pending_egress().len(), 2, "epochs 0 and 1, once each");
    assert_eq!(runtime.core.epoch_secrets.keys().copied().collect::<Vec<_>>(), [KeyEpoch(0), KeyEpoch(1)]);
    for copy in runtime.pending_egress() {
        assert_eq!(copy.egress.sender, SenderId::Worker(runtime.identity()));
    }
    // Epoch 1 opens with a grace period to 5 000 ms; epoch 0 retires when the chain says so.
    runtime.core.epochs.record(opening(0, 0));
    runtime.core.epochs.record(opening(1, 5_000));
    assert!(!runtime.retire(4_999), "still in its grace period");
    assert!(!runtime.retire(9_000), "past it, but the chain has not retired the epoch");
    let retired = duty(AssignmentMessage::EpochRetired(veil_primitives::epoch::EpochRetirement {
        epoch: KeyEpoch(0),
        at_ms: 9_500,
    }));
    runtime.handle(retired.topic, 0, &retired, 9_500).unwrap();
    assert!(!runtime.retire(9_499), "not before the block that retired it");
    assert!(runtime.retire(9_500));
    assert_eq!(runtime.core.epoch_secrets.keys().copied().collect::<Vec<_>>(), [KeyEpoch(1)]);
    assert!(runtime.secret_keys().iter().all(|(epoch, _)| *epoch != Some(KeyEpoch(0))));
}

/// Whatever keys a checkpoint's contracts lost, the runtime starts: the contract it cannot open
/// stays sealed as it was (its state kept for a later snapshot or key), it is listed as not
/// available, and the runtime says why among its refusals.
#[test]
fn a_runtime_starts_whatever_keys_it_lost_and_says_what_it_cannot_serve() {
    let genesis = genesis();
    let mut runtime = worker(&genesis, 1);
    let lost = ContractId([5; 32]);
    let sealed = (Hash([7; 32]), KeyEpoch(0), Some(vec![1u8, 2, 3])).encode();
    let instance = super::execution::Instance::decode(&mut &sealed[..]).unwrap();
    worker_duties(&mut runtime).contracts.instances.insert(lost, instance);
    let restored = Runtime::restore(&genesis, host(1), &runtime.checkpoint()).expect("it starts");
    assert_eq!(restored.contracts(), vec![(lost, Hash([7; 32]), KeyEpoch(0), false)]);
    let said: Vec<String> = restored.refusals().map(|refused| refused.refusal.to_string()).collect();
    assert!(
        said.iter().any(|reason| reason.contains("cannot be served here") && reason.contains("no cluster key")),
        "{said:?}"
    );
    assert_eq!(restored.checkpoint(), runtime.checkpoint(), "its state is kept as it was");
}

// ---- gatekeeper duties ----

#[test]
fn a_gatekeeper_refuses_registrations_not_from_the_chain_or_of_another_chain() {
    let genesis = genesis();
    let mut runtime = gatekeeper(&genesis);
    let info = |chain| RegistrationInfo {
        signing_key: [3; 32],
        agreement_key: [4; 32],
        genesis: chain,
        operator: AccountId([5; 32]),
    };
    let registration = |chain| WorkerRegistration {
        info: info(chain),
        attestation: Attestation::InsecureSoftware,
        measurement: None,
        registered_at_ms: 0,
        expires_at_ms: u64::MAX,
    };
    let topic = Topic::System(SystemTopic::Registrations);
    let forged = message(topic, Origin::Account(AccountId([5; 32])), registration(genesis.hash()));
    assert_eq!(runtime.handle(topic, 0, &forged, 0).unwrap_err().code(), "wrong_origin");
    let foreign = message(topic, Origin::Chain, registration(Hash([1; 32])));
    assert_eq!(runtime.handle(topic, 1, &foreign, 0), Err(Refusal::ForeignChain(Hash([1; 32]))));
    assert!(gatekeeper_duties(&mut runtime).verified.is_empty());
    let honest = message(topic, Origin::Chain, registration(genesis.hash()));
    runtime.handle(topic, 2, &honest, 0).unwrap();
    assert!(gatekeeper_duties(&mut runtime).verified.verified(&[3; 32]), "software workers are allowed here");
}

#[test]
fn an_epoch_key_not_signed_by_its_runtime_is_refused_and_not_filed() {
    let genesis = genesis();
    let mut runtime = gatekeeper(&genesis);
    let mut announcer = worker(&genesis, 1);
    announcer.core.announce_epoch_keys(&announcer.setting, Role::Worker);
    let copy = announcer.pending_egress().remove(0);
    let AssignmentMessage::EpochKey(mut key) =
        parity_scale_codec::Decode::decode(&mut &copy.egress.payload[..]).unwrap()
    else {
        panic!("an epoch key")
    };
    let origin = Origin::Runtime(SenderId::Worker(announcer.identity()));
    let topic = Topic::System(SystemTopic::Assignments);
    let genuine = message(topic, origin, AssignmentMessage::EpochKey(key));
    key.agreement[0] ^= 1;
    let forged = message(topic, origin, AssignmentMessage::EpochKey(key));
    let refusal = runtime.handle(topic, 0, &forged, 0).unwrap_err();
    let not_signed = veil_crypto::EpochKeyError::NotSigned;
    assert_eq!(refusal, Refusal::EpochKeyRefused { runtime: announcer.identity(), error: not_signed });
    assert!(gatekeeper_duties(&mut runtime).runtime_keys.is_empty());
    runtime.handle(topic, 1, &genuine, 0).unwrap();
    assert_eq!(gatekeeper_duties(&mut runtime).runtime_keys.len(), 1);
}

#[test]
fn unverified_workers_get_no_cluster_key_and_every_gatekeeper_still_numbers_the_output() {
    let genesis = genesis();
    let mut runtime = gatekeeper(&genesis);
    let stranger = AssignedWorker { identity: [8; 32], agreement: [9; 32] };
    let formed =
        ClusterFormed { cluster: CLUSTER, epoch: KeyEpoch(0), workers: vec![stranger].try_into().unwrap(), at_ms: 0 };
    let message = duty(AssignmentMessage::Cluster(formed));
    let refusal = runtime.handle(message.topic, 0, &message, 0).unwrap_err();
    assert_eq!(refusal, Refusal::UnverifiedWorkers(vec![[8; 32]]));
    let gatekeeper = gatekeeper_duties(&mut runtime);
    assert_eq!(gatekeeper.set_next, 1, "numbered alike on every gatekeeper, held keys or not");
    assert!(gatekeeper.clusters[&CLUSTER].contains(&[8; 32]));
    assert!(runtime.pending_egress().is_empty(), "no master key yet: nothing signed");
}

#[test]
fn the_first_genesis_gatekeeper_proposes_the_first_master_key_once_and_only_once_attested() {
    let genesis = genesis();
    let mut runtime = gatekeeper(&genesis);
    let Runtime { setting, core, duties, .. } = &mut runtime;
    let Duties::Gatekeeper(gatekeeper) = duties else { unreachable!() };
    gatekeeper.generate_first_master(setting, core, 0);
    assert!(core.egress.pending().next().is_none(), "not before its own registration is on chain");
    let registration = register(&runtime, runtime.identity(), None, 0, u64::MAX);
    runtime.handle(registration.topic, 0, &registration, 0).unwrap();
    let Runtime { setting, core, duties, .. } = &mut runtime;
    let Duties::Gatekeeper(gatekeeper) = duties else { unreachable!() };
    gatekeeper.generate_first_master(setting, core, 0);
    gatekeeper.generate_first_master(setting, core, 0);
    assert_eq!(runtime.pending_egress().len(), 1, "one proposal");
    assert_eq!(runtime.pending_egress()[0].egress.topic, Topic::System(SystemTopic::KeyEpochs));
}

/// The attack of issue 21 (revocation that does not revoke), on the gatekeeper's side: a worker
/// whose measurement was disallowed, or whose registration lapsed, by a duty's block time gets no
/// key from that duty on, although this gatekeeper verified it once.
#[test]
fn a_gatekeeper_seals_nothing_to_a_worker_revoked_or_lapsed_by_the_duty_time() {
    let genesis = genesis();
    let mut gatekeeper = gatekeeper(&genesis);
    let release = |isv_svn| veil_primitives::Measurement::Sgx {
        mr_enclave: [1; 32],
        mr_signer: [2; 32],
        isv_prod_id: 0,
        isv_svn,
    };
    let (revoked_release, kept_release) = (release(1), release(2));
    let mut workers: Vec<Runtime> = (1..=4).map(|seed| worker(&genesis, seed)).collect();
    let standings = [(Some(revoked_release), 10_000), (Some(kept_release), 10_000), (None, 1_000), (None, 10_000)];
    for (index, (runtime, (measurement, until_ms))) in workers.iter().zip(standings).enumerate() {
        let registration = register(&gatekeeper, runtime.identity(), measurement, 0, until_ms);
        gatekeeper.handle(registration.topic, index as u64, &registration, 0).unwrap();
    }
    let topic = Topic::System(SystemTopic::Assignments);
    for (index, runtime) in workers.iter_mut().enumerate() {
        runtime.core.announce_epoch_keys(&runtime.setting, Role::Worker);
        let copy = runtime.pending_egress().remove(0);
        let key = Message { topic, origin: Origin::Runtime(copy.egress.sender), payload: copy.egress.payload };
        gatekeeper.handle(topic, index as u64, &key, 0).unwrap();
    }
    let duty_index = workers.len() as u64;
    let revocation = duty(AssignmentMessage::Revoked(veil_primitives::epoch::Revocation {
        measurement: revoked_release,
        at_ms: 500,
    }));
    gatekeeper.handle(topic, duty_index, &revocation, 0).unwrap();
    let mut members: Vec<AssignedWorker> = workers.iter().map(|runtime| announced(runtime, KeyEpoch(0))).collect();
    let standby = members.pop().unwrap();
    let [revoked, kept, lapsing] = [0, 1, 2].map(|i| workers[i].identity());

    // Formed at 600: the revoked worker gets nothing; the other two are current.
    let formed =
        ClusterFormed { cluster: CLUSTER, epoch: KeyEpoch(0), workers: members.try_into().unwrap(), at_ms: 600 };
    let refusal = gatekeeper.handle(topic, duty_index + 1, &duty(AssignmentMessage::Cluster(formed)), 0).unwrap_err();
    assert_eq!(refusal, Refusal::UnverifiedWorkers(vec![revoked]));
    // A replacement at 2 000 delivers the cluster key again: the lapsed worker is left out too.
    let replaced =
        Replacement { cluster: CLUSTER, epoch: KeyEpoch(0), removed: [7; 32], added: Some(standby), at_ms: 2_000 };
    let refusal = gatekeeper.handle(topic, duty_index + 2, &duty(AssignmentMessage::Replaced(replaced)), 0);
    let mut left_out = vec![revoked, lapsing];
    left_out.sort();
    assert_eq!(refusal, Err(Refusal::UnverifiedWorkers(left_out)));
    let duties = gatekeeper_duties(&mut gatekeeper);
    assert_eq!(duties.clusters[&CLUSTER].len(), 4, "membership follows the chain; only the keys are withheld");
    assert!(duties.current_at(&kept, 2_000));
}

// ---- worker duties ----

#[test]
fn parameters_only_from_the_chain_set_the_heartbeat_interval() {
    let genesis = genesis();
    let mut runtime = worker(&genesis, 1);
    let topic = Topic::System(SystemTopic::Parameters);
    let mut parameters = genesis.parameters();
    parameters.liveness.heartbeat_interval_ms = 10_000;
    let forged = message(topic, Origin::Account(AccountId([1; 32])), parameters.clone());
    assert_eq!(runtime.handle(topic, 0, &forged, 0).unwrap_err().code(), "wrong_origin");
    let garbage = message(topic, Origin::Chain, 7u8);
    assert_eq!(runtime.handle(topic, 1, &garbage, 0).unwrap_err().code(), "malformed");
    runtime.handle(topic, 2, &message(topic, Origin::Chain, parameters), 0).unwrap();
    runtime.core.beat(Role::Worker, 1, 10_000);
    runtime.core.beat(Role::Worker, 2, 19_999);
    runtime.core.beat(Role::Worker, 3, 20_000);
    assert_eq!(runtime.pending_egress().len(), 2, "beats at 10 000 and 20 000 ms only");
}

#[test]
fn a_worker_declared_offline_leaves_its_cluster_keys_and_contracts() {
    let genesis = genesis();
    let mut runtime = running_worker(&genesis);
    let me = runtime.identity();
    let replaced = duty(AssignmentMessage::Replaced(Replacement {
        cluster: CLUSTER,
        epoch: KeyEpoch(0),
        removed: me,
        added: None,
        at_ms: 0,
    }));
    runtime.handle(replaced.topic, 0, &replaced, 0).unwrap();
    assert_eq!(runtime.cluster(), None);
    assert!(runtime.contracts().is_empty());
    assert!(worker_duties(&mut runtime).cluster_keys.is_empty());
    assert!(!runtime.view().topics.contains_key(&Topic::Contract(NOTES)));
}

#[test]
fn a_worker_named_as_a_replacement_waits_for_a_snapshot() {
    let genesis = genesis();
    let mut runtime = worker(&genesis, 1);
    runtime.core.announce_epoch_keys(&runtime.setting, Role::Worker);
    let added = announced(&runtime, KeyEpoch(0));
    let replaced = duty(AssignmentMessage::Replaced(Replacement {
        cluster: CLUSTER,
        epoch: KeyEpoch(0),
        removed: [7; 32],
        added: Some(added),
        at_ms: 0,
    }));
    runtime.handle(replaced.topic, 0, &replaced, 0).unwrap();
    assert_eq!(runtime.cluster(), Some((CLUSTER, true)));
    assert!(matches!(runtime.snapshot(), Err(SnapshotError::Unavailable(_))), "it has none to give");
}

// ---- contract execution ----

#[test]
fn contract_messages_are_refused_by_kind_and_a_refused_command_returns_its_tokens() {
    let genesis = genesis();
    let mut runtime = running_worker(&genesis);
    let topic = Topic::Contract(NOTES);
    let block = BlockStamp { height: 1, timestamp_ms: 1 };
    let deployed = message(
        topic,
        Origin::Chain,
        ContractMessage::Deployed(Deployment {
            code: vec![0u8; 4].try_into().unwrap(),
            owner: AccountId([1; 32]),
            nonce: 0,
            argument: Vec::new().try_into().unwrap(),
            block,
            fuel: 0,
        }),
    );
    assert_eq!(runtime.handle(topic, 0, &deployed, 1), Err(Refusal::AlreadyDeployed), "built in: no deployment");
    let backwards = message(topic, Origin::Chain, ContractMessage::Rekeyed { epoch: KeyEpoch(0) });
    assert_eq!(
        runtime.handle(topic, 1, &backwards, 1),
        Err(Refusal::RekeyBackwards { to: KeyEpoch(0), current: KeyEpoch(0) })
    );
    let command = |value| CommandMessage {
        nonce: 3,
        block,
        fuel: 1_000,
        value: Balance(value),
        payload: vec![1u8, 2, 3].try_into().unwrap(),
    };
    let from_contract =
        message(topic, Origin::Runtime(SenderId::Contract(ContractId([2; 32]))), ContractMessage::Command(command(5)));
    assert_eq!(runtime.handle(topic, 2, &from_contract, 1), Err(Refusal::ValueBetweenContracts(ContractId([2; 32]))));
    assert!(runtime.pending_egress().is_empty());
    let sender = AccountId([6; 32]);
    let unsealed = message(topic, Origin::Account(sender), ContractMessage::Command(command(5)));
    let refusal = runtime.handle(topic, 3, &unsealed, 1).unwrap_err();
    assert!(matches!(&refusal, Refusal::Command { sender: s, nonce: 3, .. } if *s == sender), "{refusal}");
    assert_eq!(refusal.code(), "malformed", "not an envelope");
    let refund = runtime.pending_egress();
    assert_eq!(refund.len(), 1, "the tokens go back by a release");
    assert_eq!(refund[0].egress.topic, Topic::System(SystemTopic::Releases));
    let elsewhere =
        message(Topic::Contract(ContractId([3; 32])), Origin::Chain, ContractMessage::Rekeyed { epoch: KeyEpoch(1) });
    assert_eq!(runtime.handle(elsewhere.topic, 0, &elsewhere, 1), Err(Refusal::NotRunHere(ContractId([3; 32]))));
}

// ---- queries ----

#[test]
fn a_query_that_is_not_sealed_to_the_worker_is_unreadable() {
    let genesis = genesis();
    let runtime = running_worker(&genesis);
    let error = runtime.query(&[1, 2, 3], 0).unwrap_err();
    assert_eq!(error.code(), veil_api::ErrorCode::Unreadable);
    let gatekeeper = gatekeeper(&genesis);
    assert!(gatekeeper.query(b"", 0).is_err());
}

// ---- persistence ----

#[test]
fn a_checkpoint_restores_the_same_runtime_and_refuses_what_is_not_its_own() {
    let genesis = genesis();
    let runtime = running_worker(&genesis);
    let checkpoint = runtime.checkpoint();
    let restored = Runtime::restore(&genesis, host(9), &checkpoint).unwrap();
    assert_eq!(restored.identity(), runtime.identity());
    assert_eq!(restored.agreement_key(), runtime.agreement_key());
    assert_eq!(restored.state_root(), runtime.state_root());
    assert_eq!(restored.secret_keys(), runtime.secret_keys());
    assert_eq!(restored.contracts(), runtime.contracts());
    assert_eq!(restored.checkpoint(), checkpoint, "the encoding is the state");

    let mut trailing = checkpoint.to_vec();
    trailing.push(0);
    assert!(matches!(Runtime::restore(&genesis, host(9), &trailing), Err(RuntimeError::Checkpoint(_))));
    assert!(matches!(Runtime::restore(&genesis, host(9), &checkpoint[..10]), Err(RuntimeError::Checkpoint(_))));
    let mut other = genesis.clone();
    other.chain_name = "another".into();
    assert!(matches!(Runtime::restore(&other, host(9), &checkpoint), Err(RuntimeError::Checkpoint(_))));
}

#[test]
fn a_gatekeeper_checkpoint_keeps_its_master_key_and_needs_a_genesis_that_names_it() {
    let genesis = genesis();
    let mut runtime = gatekeeper(&genesis);
    gatekeeper_duties(&mut runtime)
        .masters
        .insert(KeyEpoch(0), Sealable(MasterKey::from_secret(SecretBytes::new([4; 32]))));
    let restored = Runtime::restore(&genesis, host(0), &runtime.checkpoint()).unwrap();
    assert_eq!(restored.master_public(), runtime.master_public());
    assert!(restored.master_public().is_some());
    let mut stranger = genesis.clone();
    stranger.senders.clear();
    assert!(matches!(Runtime::restore(&stranger, host(0), &runtime.checkpoint()), Err(RuntimeError::Checkpoint(_))));
    assert!(matches!(runtime.snapshot(), Err(SnapshotError::Unavailable(_))));
}

#[test]
fn a_checkpoint_whose_cluster_key_is_filed_under_another_cluster_or_epoch_is_refused() {
    let genesis = genesis();
    let master = MasterKey::from_secret(SecretBytes::new([5; 32]));
    for (filed_under, key) in [
        (KeyEpoch(1), master.cluster_key(ClusterId(2), KeyEpoch(1))),
        (KeyEpoch(1), master.cluster_key(CLUSTER, KeyEpoch(2))),
    ] {
        let mut runtime = running_worker(&genesis);
        worker_duties(&mut runtime).cluster_keys.insert(filed_under, Sealable(key));
        let refused = Runtime::restore(&genesis, host(9), &runtime.checkpoint());
        assert!(matches!(refused, Err(RuntimeError::Checkpoint(_))), "restored a mislabelled cluster key");
    }
}

/// The attack of issue 21, as a gatekeeper sees it: a worker's announcement of another runtime's
/// epoch key (its proof of possession copied, its identity's signature its own) is refused, and
/// the gatekeeper files no key for it, so no delivery is ever sealed to it.
#[test]
fn a_gatekeeper_refuses_an_epoch_key_announced_by_a_runtime_that_does_not_hold_it() {
    let genesis = genesis();
    let mut runtime = gatekeeper(&genesis);
    let (victim, copier) = (worker(&genesis, 1), worker(&genesis, 2));
    let seed = SecretBytes::new([3; 32]);
    let stolen =
        veil_crypto::EpochKeyPair::from_seed(&seed).announce(&genesis.hash(), victim.core.identity.key(), KeyEpoch(0));
    let signed = EpochKey::signing_payload(&genesis.hash(), &copier.identity(), KeyEpoch(0), &stolen.agreement);
    let copied = EpochKey { signature: copier.core.identity.key().sign(&signed), ..stolen };
    let topic = Topic::System(SystemTopic::Assignments);
    let origin = Origin::Runtime(SenderId::Worker(copier.identity()));
    let refusal =
        runtime.handle(topic, 0, &message(topic, origin, AssignmentMessage::EpochKey(copied)), 0).unwrap_err();
    assert_eq!(refusal.code(), "epoch_key_refused");
    assert!(refusal.to_string().contains("proof of possession"), "{refusal}");
    assert!(gatekeeper_duties(&mut runtime).runtime_keys.is_empty());
}

/// One party running two runtimes announces one epoch key from both (it holds the secret, so the
/// proof of possession verifies for each): only the first announcement counts, on chain and in
/// every gatekeeper, so no delivery goes to the second identity under that key.
#[test]
fn an_epoch_key_announced_by_two_runtimes_counts_for_the_first_only() {
    let genesis = genesis();
    let mut runtime = gatekeeper(&genesis);
    let (first, second) = (worker(&genesis, 1), worker(&genesis, 2));
    let pair = veil_crypto::EpochKeyPair::from_seed(&SecretBytes::new([3; 32]));
    let topic = Topic::System(SystemTopic::Assignments);
    for (index, announcer) in [&first, &second].into_iter().enumerate() {
        let key = pair.announce(&genesis.hash(), announcer.core.identity.key(), KeyEpoch(0));
        let origin = Origin::Runtime(SenderId::Worker(announcer.identity()));
        let handled = runtime.handle(topic, index as u64, &message(topic, origin, AssignmentMessage::EpochKey(key)), 0);
        if index == 0 {
            handled.unwrap();
        } else {
            assert_eq!(handled.unwrap_err().code(), "key_announced_before");
        }
    }
    let filed: Vec<_> = gatekeeper_duties(&mut runtime).runtime_keys.keys().map(|(identity, _)| *identity).collect();
    assert_eq!(filed, [first.identity()]);
}
