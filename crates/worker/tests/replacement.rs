//! A worker that falls silent is replaced, relayed in process against a generated chain: the chain
//! removes it on a report and assigns a standby worker, the gatekeeper seals the cluster key to the
//! replacement, and the replacement takes over a live worker's snapshot and continues with the same
//! state root. Snapshots that are not the cluster's, not recent enough or altered are refused.
#![allow(clippy::unwrap_used)]

mod support;

use support::{CLUSTER, NOTES, Scenario, ask, notes_query};
use veil_chain::{EpochHistory as _, ReadState as _};
use veil_crypto::confidential::AnswerResult;
use veil_primitives::{Call, ClusterId, EpochsCall, KeyEpoch, SenderId, decode_strict, epoch::SealedSnapshot};
use veil_worker::{
    contract::NoteList,
    runtime::{Runtime, SnapshotError},
};

fn notes(worker: &Runtime, scenario: &Scenario, by: &veil_crypto::AccountPair) -> Vec<Vec<u8>> {
    let (query, response) = notes_query(scenario, worker.identity(), by, by.public());
    match ask(worker, &query.sign(by), &response).unwrap().result {
        AnswerResult::Ok(bytes) => decode_strict::<NoteList>(&bytes).unwrap().iter().map(|n| n.to_vec()).collect(),
        AnswerResult::Refused(reason) => panic!("refused: {}", String::from_utf8_lossy(&reason)),
    }
}

fn refused(result: Result<(), SnapshotError>) -> String {
    match result {
        Err(SnapshotError::Refused(reason)) => reason,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

/// A gatekeeper, cluster [`CLUSTER`] of two workers (the first to fall silent, the second to stay
/// live) running the notes contract with Charlie's note "one", and a standby worker.
fn cluster_with_a_standby() -> (Scenario, [Runtime; 4]) {
    let (mut scenario, mut gatekeeper, workers) = Scenario::with_workers(3);
    let [mut silent, mut live, mut standby]: [Runtime; 3] = workers.try_into().ok().unwrap();
    scenario.assign(&[silent.identity(), live.identity()]);
    scenario.settle(&mut [&mut gatekeeper, &mut silent, &mut live, &mut standby], 3);
    let tx = scenario.note(&veil_chain::testing::pair("//Charlie"), b"one");
    scenario.block(vec![tx]);
    scenario.settle(&mut [&mut gatekeeper, &mut silent, &mut live, &mut standby], 2);
    (scenario, [gatekeeper, silent, live, standby])
}

/// Relays to `runtimes` (not to the one that falls silent) past the offline window.
fn outlive_the_offline_window(scenario: &mut Scenario, runtimes: &mut [&mut Runtime]) {
    let window = scenario.genesis.liveness.offline_after_ms;
    let beat = scenario.genesis.liveness.heartbeat_interval_ms;
    for _ in 0..window / beat + 2 {
        scenario.wait(beat);
        scenario.settle(runtimes, 1);
    }
}

#[test]
fn a_silent_worker_is_replaced_and_the_replacement_continues_from_a_snapshot() {
    let (mut scenario, [mut gatekeeper, mut silent, mut live, mut standby]) = cluster_with_a_standby();
    let charlie = veil_chain::testing::pair("//Charlie");
    assert_eq!(notes(&silent, &scenario, &charlie), vec![b"one".to_vec()]);

    // A report while the worker is alive is refused (anyone may report; Dave's nonce is spent).
    let (bob, dave) = (scenario.bob.clone(), veil_chain::testing::pair("//Dave"));
    let report = Call::Epochs(EpochsCall::ReportOffline { cluster: CLUSTER, worker: silent.identity() });
    let (tx, _) = scenario.sign(&dave, report.clone());
    let built = scenario.chain.push_after(1, vec![tx], Vec::new());
    assert!(built.dropped[0].1.to_string().contains("within the"), "{}", built.dropped[0].1);

    // `silent` stops; the others keep relaying (heartbeats) past the offline window.
    outlive_the_offline_window(&mut scenario, &mut [&mut gatekeeper, &mut live, &mut standby]);
    let before_joining = live.snapshot().unwrap();
    let (tx, _) = scenario.sign(&bob, report);
    let built = scenario.chain.push_after(1, vec![tx], Vec::new());
    assert!(built.dropped.is_empty(), "{:?}", built.dropped);
    scenario.wait(1); // The block after the report chooses the replacement, with its seed.
    let cluster = scenario.chain.state.cluster(CLUSTER).unwrap().unwrap();
    assert_eq!(cluster.workers.to_vec(), vec![live.identity(), standby.identity()], "the standby replaced the silent");

    // The gatekeeper seals the cluster key to the replacement, which waits for a snapshot.
    scenario.settle(&mut [&mut gatekeeper, &mut live, &mut standby], 2);
    assert_eq!(standby.cluster(), Some((CLUSTER, true)));
    assert!(standby.contracts().is_empty());
    assert!(matches!(standby.snapshot(), Err(SnapshotError::Unavailable(_))), "it has nothing to give yet");

    // Notes keep arriving while only `live` runs the contract.
    let tx = scenario.note(&charlie, b"two");
    scenario.block(vec![tx]);
    scenario.settle(&mut [&mut gatekeeper, &mut live, &mut standby], 1);
    assert_eq!(notes(&live, &scenario, &charlie), vec![b"one".to_vec(), b"two".to_vec()]);
    let snapshot = live.snapshot().unwrap();

    // Refusals change nothing.
    let wire = |snapshot: &SealedSnapshot| parity_scale_codec::Encode::encode(snapshot);
    let mut forged = snapshot.clone();
    forged.signature[0] ^= 1;
    assert!(refused(standby.import_snapshot(&forged)).contains("not signed by the cluster"));
    let mut altered = snapshot.clone();
    let mut sealed = altered.sealed.to_vec();
    sealed[20] ^= 1;
    altered.sealed = sealed.try_into().unwrap();
    assert!(refused(standby.import_snapshot(&altered)).contains("not signed"), "the signature covers the bytes");
    let mut other = snapshot.clone();
    other.cluster = ClusterId(9);
    assert!(refused(standby.import_snapshot(&other)).contains("is of cluster"));
    // A snapshot older than the worker's joining (it could replay a retired epoch's commands).
    assert!(refused(standby.import_snapshot(&before_joining)).contains("before this worker joined"));
    assert_eq!(standby.cluster(), Some((CLUSTER, true)));
    assert!(matches!(live.import_snapshot(&snapshot), Err(SnapshotError::Unavailable(_))), "only a replacement");
    assert_eq!(decode_strict::<SealedSnapshot>(&wire(&snapshot)).unwrap(), snapshot);

    // The replacement takes over and catches up: the same notes, the same state root.
    standby.import_snapshot(&snapshot).unwrap();
    assert_eq!(standby.cluster(), Some((CLUSTER, false)));
    let tx = scenario.note(&charlie, b"three");
    scenario.block(vec![tx]);
    scenario.settle(&mut [&mut gatekeeper, &mut live, &mut standby], 2);
    let all = vec![b"one".to_vec(), b"two".to_vec(), b"three".to_vec()];
    assert_eq!(notes(&standby, &scenario, &charlie), all);
    assert_eq!(notes(&live, &scenario, &charlie), all);
    assert_eq!(standby.view().height, live.view().height);
    assert_eq!(standby.state_root(), live.state_root());
    assert_eq!(standby.contract_state_hash(&NOTES), live.contract_state_hash(&NOTES));

    // The silent worker, back, learns it was removed and drops the cluster's keys and contracts.
    scenario.relay(&mut silent);
    assert_eq!(silent.cluster(), None);
    assert!(silent.contracts().is_empty());
    let contract_egress =
        silent.pending_egress().into_iter().filter(|c| matches!(c.egress.sender, SenderId::Contract(_)));
    assert_eq!(contract_egress.count(), 0, "it no longer sends the contracts' egress");
}

/// The epoch-`epoch` cluster key among `runtime`'s secrets: the one whose signer the chain recorded
/// for the cluster at that epoch (`signing`).
fn cluster_key_of(runtime: &Runtime, epoch: u32, signing: [u8; 32]) -> Option<veil_crypto::ClusterKey> {
    runtime
        .secret_keys()
        .into_iter()
        .filter(|(of, _)| *of == Some(KeyEpoch(epoch)))
        .map(|(_, secret)| {
            veil_crypto::ClusterKey::from_secret(veil_crypto::SecretBytes::new(secret), CLUSTER, KeyEpoch(epoch))
        })
        .find(|key| key.signer().public() == signing)
}

fn contains(haystack: &[u8], needle: &[u8; 32]) -> bool {
    haystack.windows(32).any(|window| window == needle)
}

/// Issue 21, item 6 (forward secrecy where it is claimed): once the cluster's contracts moved to a
/// new epoch, a worker keeps of the previous epoch only its agreement keys, and so does a snapshot
/// taken in the grace period (nothing of that epoch after it). A replacement restored from such a
/// snapshot opens a command sealed to the previous epoch during the grace period exactly as the
/// live worker does: the same state, the same egress.
#[test]
fn a_grace_period_snapshot_carries_only_the_previous_epochs_agreement_keys() {
    let (mut scenario, [mut gatekeeper, mut silent, mut live, mut standby]) = cluster_with_a_standby();
    let charlie = veil_chain::testing::pair("//Charlie");
    let signing_of = |scenario: &Scenario| scenario.chain.state.cluster(CLUSTER).unwrap().unwrap().signing.unwrap();
    let old = cluster_key_of(&live, 0, signing_of(&scenario)).expect("the live worker holds the epoch-0 cluster key");
    let old_agreement = *old.contract_key(NOTES).agreement().secret_bytes().expose();
    // Sealed to epoch 0 now, sent in the grace period of epoch 1.
    let late = scenario.note(&charlie, b"sealed to epoch 0");

    let bob = scenario.bob.clone();
    let (tx, _) = scenario.sign(&bob, Call::Epochs(EpochsCall::RotateKeys));
    scenario.block(vec![tx]);
    scenario.settle(&mut [&mut gatekeeper, &mut silent, &mut live, &mut standby], 3);
    assert_eq!(scenario.epochs().epoch(), KeyEpoch(1));
    assert!(cluster_key_of(&live, 0, old.signer().public()).is_none(), "the whole epoch-0 key is gone");
    let secrets: Vec<[u8; 32]> = live.secret_keys().into_iter().map(|(_, secret)| secret).collect();
    assert!(secrets.contains(&old_agreement), "its agreement key is kept for the grace period");

    // `silent` stops and is replaced; the replacement takes over a grace-period snapshot.
    outlive_the_offline_window(&mut scenario, &mut [&mut gatekeeper, &mut live, &mut standby]);
    let report = Call::Epochs(EpochsCall::ReportOffline { cluster: CLUSTER, worker: silent.identity() });
    let (tx, _) = scenario.sign(&bob, report);
    scenario.block(vec![tx]);
    scenario.wait(1); // The block after the report chooses the replacement.
    scenario.settle(&mut [&mut gatekeeper, &mut live, &mut standby], 2);
    let snapshot = live.snapshot().unwrap();
    let new = cluster_key_of(&live, 1, signing_of(&scenario)).unwrap();
    let plain = new.snapshot_key().decrypt_state(&snapshot.sealed).unwrap();
    assert!(!contains(&plain, old.secret().expose()), "the snapshot carries no whole epoch-0 key");
    assert!(contains(&plain, &old_agreement), "it carries the epoch-0 agreement key");
    standby.import_snapshot(&snapshot).unwrap();

    // The command sealed to epoch 0 lands in the grace period: both open it alike.
    let grace_ends = scenario.epochs().current.unwrap().previous_grace_ends_at_ms;
    scenario.block(vec![late]);
    assert!(scenario.chain.tip().timestamp_ms < grace_ends, "still in the grace period");
    scenario.settle(&mut [&mut gatekeeper, &mut live, &mut standby], 2);
    let expected = vec![b"one".to_vec(), b"sealed to epoch 0".to_vec()];
    assert_eq!(notes(&live, &scenario, &charlie), expected);
    assert_eq!(notes(&standby, &scenario, &charlie), expected);
    assert_eq!(standby.state_root(), live.state_root());
    assert_eq!(standby.pending_egress(), live.pending_egress(), "the same egress, byte for byte");

    // After the grace period nothing of epoch 0 is left, in the workers or a snapshot.
    scenario.wait(scenario.genesis.keys.grace_ms);
    scenario.settle(&mut [&mut gatekeeper, &mut live, &mut standby], 2);
    for worker in [&live, &standby] {
        assert!(worker.secret_keys().iter().all(|(epoch, _)| *epoch != Some(KeyEpoch(0))));
    }
    let plain = new.snapshot_key().decrypt_state(&live.snapshot().unwrap().sealed).unwrap();
    assert!(!contains(&plain, &old_agreement), "nothing of epoch 0 after the grace period");
}
