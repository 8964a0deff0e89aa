//! Key rotation across two epochs, relayed in process against a generated chain: state stays
//! readable, commands sealed to a retired key are refused after the grace period, retired keys
//! leave every runtime's sealed state, and egress under a retired epoch is refused.
#![allow(clippy::unwrap_used)]

mod support;

use support::{NOTES, Scenario, ask, notes_query};
use veil_chain::{EgressError, state::Overlay, testing::egress};
use veil_chain::{EpochHistory as _, ReadState as _};
use veil_crypto::{ClusterKey, MasterKey, SecretBytes, confidential::AnswerResult};
use veil_primitives::{Call, ClusterId, EpochsCall, KeyEpoch, SenderId, SystemTopic, Topic, decode_strict};
use veil_worker::{contract::NoteList, runtime::Runtime};

fn notes(worker: &Runtime, scenario: &Scenario, by: &veil_crypto::AccountPair) -> Vec<Vec<u8>> {
    let (query, response) = notes_query(scenario, worker.identity(), by, by.public());
    match ask(worker, &query.sign(by), &response).unwrap().result {
        AnswerResult::Ok(bytes) => decode_strict::<NoteList>(&bytes).unwrap().iter().map(|n| n.to_vec()).collect(),
        AnswerResult::Refused(reason) => panic!("refused: {}", String::from_utf8_lossy(&reason)),
    }
}

fn rotate(scenario: &mut Scenario, gatekeeper: &mut Runtime, workers: &mut [Runtime]) {
    let bob = scenario.bob.clone();
    let (tx, _) = scenario.sign(&bob, Call::Epochs(EpochsCall::RotateKeys));
    scenario.block(vec![tx]);
    scenario.settle_all(gatekeeper, workers);
}

fn secrets_of(runtime: &Runtime, epoch: u32) -> Vec<[u8; 32]> {
    runtime.secret_keys().into_iter().filter(|(of, _)| *of == Some(KeyEpoch(epoch))).map(|(_, key)| key).collect()
}

fn contains(haystack: &[u8], needle: &[u8; 32]) -> bool {
    haystack.windows(32).any(|window| window == needle)
}

#[test]
fn keys_rotate_across_two_epochs_and_retired_keys_are_gone() {
    let (mut scenario, mut gatekeeper, mut workers) = Scenario::with_workers(2);
    // Each runtime's checkpoints go to disk after every batch, sealed, as the service writes them.
    let dir = std::env::temp_dir().join(format!("veil-rotation-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    for (index, runtime) in [&gatekeeper, &workers[0], &workers[1]].into_iter().enumerate() {
        scenario.keep_on_disk(runtime, &dir.join(index.to_string()));
    }
    let identities: Vec<[u8; 32]> = workers.iter().map(Runtime::identity).collect();
    scenario.assign(&identities);
    scenario.settle_all(&mut gatekeeper, &mut workers);
    let (charlie, dave) = (veil_chain::testing::pair("//Charlie"), veil_chain::testing::pair("//Dave"));
    let tx = scenario.note(&charlie, b"one");
    scenario.block(vec![tx]);
    scenario.settle_all(&mut gatekeeper, &mut workers);
    for worker in &workers {
        assert_eq!(notes(worker, &scenario, &charlie), vec![b"one".to_vec()]);
    }
    // Dave seals a command to the epoch-0 key now and sends it only after the grace period.
    let late = scenario.note(&dave, b"late");
    let old_secrets: Vec<[u8; 32]> =
        [&gatekeeper, &workers[0], &workers[1]].iter().flat_map(|runtime| secrets_of(runtime, 0)).collect();
    // The gatekeeper: the master key and its epoch key; each worker: its epoch key and the cluster
    // key.
    assert_eq!(old_secrets.len(), 2 + 2 * 2);

    // Epoch 1: the admin asks, the gatekeeper proposes, the chain opens it; the cluster and the
    // contract get new keys and the workers re-key the contract.
    rotate(&mut scenario, &mut gatekeeper, &mut workers);
    assert_eq!(scenario.epochs().epoch(), KeyEpoch(1));
    assert_eq!(scenario.contract_keys(NOTES).epoch, KeyEpoch(1));
    for worker in &workers {
        assert_eq!(worker.contracts()[0].2, KeyEpoch(1), "re-keyed");
    }
    let tx = scenario.note(&charlie, b"two");
    scenario.block(vec![tx]);
    scenario.settle_all(&mut gatekeeper, &mut workers);
    for worker in &workers {
        assert_eq!(notes(worker, &scenario, &charlie), vec![b"one".to_vec(), b"two".to_vec()]);
    }
    assert_eq!(workers[0].state_root(), workers[1].state_root());

    // After the grace period the command sealed to epoch 0 is refused with the reason.
    let grace = scenario.genesis.keys.grace_ms;
    scenario.wait(grace + 1);
    let built = scenario.chain.push_after(1, vec![late], Vec::new());
    assert!(built.transactions.is_empty());
    let reason = built.dropped[0].1.to_string();
    assert!(reason.contains("key epoch expired"), "{reason}");
    // Every runtime destroys the retired epoch's keys, and no file it wrote holds any of them: the
    // sealed checkpoint files on disk, unsealed here with the machine's sealing key (what an
    // operator who copied them and later got the key could read), checked right after the one
    // batch that passed the retirement: the fallback slot is overwritten at once.
    scenario.relay(&mut gatekeeper);
    for worker in workers.iter_mut() {
        scenario.relay(worker);
    }
    for runtime in [&gatekeeper, &workers[0], &workers[1]] {
        assert!(secrets_of(runtime, 0).is_empty());
        let files = scenario.files_on_disk(runtime);
        assert!(files.len() >= 2, "both checkpoint slots are on disk");
        for (path, plain) in &files {
            for secret in &old_secrets {
                assert!(!contains(plain, secret), "an epoch-0 key is still in {}", path.display());
            }
        }
    }

    // Epoch 2, with a transfer in between: the state is still readable.
    let epoch_one_contract = scenario.contract_keys(NOTES).signing;
    let epoch_one_set = scenario.chain.state.sender(&SenderId::GatekeeperSet).unwrap().unwrap().key;
    let epoch_one_worker = secrets_of(&workers[0], 1);
    let epoch_one_gatekeeper = secrets_of(&gatekeeper, 1);
    rotate(&mut scenario, &mut gatekeeper, &mut workers);
    assert_eq!(scenario.epochs().epoch(), KeyEpoch(2));
    let tx = scenario.note(&charlie, b"three");
    scenario.block(vec![tx]);
    scenario.settle_all(&mut gatekeeper, &mut workers);
    for worker in &workers {
        assert_eq!(notes(worker, &scenario, &charlie), vec![b"one".to_vec(), b"two".to_vec(), b"three".to_vec()]);
    }
    assert_eq!(workers[0].state_root(), workers[1].state_root());

    // Egress signed under the retired epoch is refused: the contract's epoch-1 key, and the
    // gatekeeper set's key derived from the epoch-1 master key.
    let state = &scenario.chain.state;
    let check = |copy| scenario.chain.chain.check_egress(&Overlay::new(state), &copy).unwrap_err();
    let old_contract_signer = epoch_one_worker
        .iter()
        .map(|secret| ClusterKey::from_secret(SecretBytes::new(*secret), ClusterId(1), KeyEpoch(1)))
        .map(|cluster_key| cluster_key.contract_key(NOTES).signer())
        .find(|signer| signer.public() == epoch_one_contract)
        .expect("the worker held the epoch-1 cluster key");
    let contract = SenderId::Contract(NOTES);
    let next = scenario.next_sequence(&contract);
    let forged = egress(&old_contract_signer, contract, 1, next, Topic::System(SystemTopic::Releases), &[]);
    assert!(matches!(check(forged), EgressError::OldEpoch { .. }));
    let old_set_signer = epoch_one_gatekeeper
        .iter()
        .map(|secret| MasterKey::from_secret(SecretBytes::new(*secret)).set_signer(KeyEpoch(1)))
        .find(|signer| signer.public() == epoch_one_set)
        .expect("the gatekeeper held the epoch-1 master key");
    let set = SenderId::GatekeeperSet;
    let forged =
        egress(&old_set_signer, set, 1, scenario.next_sequence(&set), Topic::System(SystemTopic::KeyEpochs), &[]);
    assert!(matches!(check(forged), EgressError::OldEpoch { .. }), "signed by an old master key");
    let _ = std::fs::remove_dir_all(&dir);
}
