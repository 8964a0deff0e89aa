//! The runtime against a generated chain, relayed in process: keys from the gatekeeper, commands
//! through the chain, queries, lying relayers, restarts.
#![allow(clippy::unwrap_used)]

mod support;

use support::{NOTES, Scenario, ask, notes_query};
use veil_chain::testing::pair;
use veil_crypto::{
    RuntimeSigner, Sealer, SecretBytes, SoftwareSealingKey,
    confidential::{AnswerResult, Query, SessionCertificate, seal_query},
};
use veil_primitives::{Balance, Call, ContractsCall, SenderId, contract::builtin_code_hash, decode_strict};
use veil_worker::{
    checkpoint::CheckpointStore,
    contract::NoteList,
    runtime::{Host, QueryError, QueryLimits, Runtime},
    sync::SyncError,
};

fn notes(answer: &AnswerResult) -> Vec<Vec<u8>> {
    match answer {
        AnswerResult::Ok(bytes) => decode_strict::<NoteList>(bytes).unwrap().iter().map(|n| n.to_vec()).collect(),
        AnswerResult::Refused(reason) => panic!("refused: {}", String::from_utf8_lossy(reason)),
    }
}

#[test]
fn keys_reach_only_verified_workers_and_the_owner_reads_their_notes() {
    let (mut scenario, gatekeeper, mut worker) = Scenario::with_worker();
    // The gatekeeper, registered, proposed the first master key as itself, announced its keys of
    // epochs 0 and 1 and beat once, then published the cluster's and the contract's keys as the
    // gatekeeper set, and saw all land.
    assert!(gatekeeper.pending_egress().is_empty(), "acknowledged from the chain's own record");
    assert_eq!(scenario.next_sequence(&SenderId::Gatekeeper(gatekeeper.identity())), 4);
    assert_eq!(scenario.next_sequence(&SenderId::GatekeeperSet), 2);
    let keys = scenario.notes_keys();
    assert_eq!(keys.code, builtin_code_hash("notes"));
    assert_eq!(worker.contracts(), vec![(NOTES, builtin_code_hash("notes"), keys.epoch, true)]);

    let (charlie, dave) = (pair("//Charlie"), pair("//Dave"));
    let first = scenario.note(&charlie, b"buy milk");
    let second = scenario.note(&charlie, b"call Dave");
    scenario.block(vec![first, second]);
    scenario.relay(&mut worker);

    let (query, response) = notes_query(&scenario, worker.identity(), &charlie, charlie.public());
    let answer = ask(&worker, &query.sign(&charlie), &response).unwrap();
    assert_eq!(notes(&answer.result), vec![b"buy milk".to_vec(), b"call Dave".to_vec()]);
    assert_eq!(
        (answer.height, answer.code, answer.worker),
        (scenario.chain.tip().height, keys.code, worker.identity())
    );
    assert!(answer.insecure, "a software worker says so");

    // Dave asks for Charlie's notes: the contract refuses, inside a signed answer.
    let (query, response) = notes_query(&scenario, worker.identity(), &dave, charlie.public());
    let answer = ask(&worker, &query.sign(&dave), &response).unwrap();
    assert!(matches!(answer.result, AnswerResult::Refused(_)), "{answer:?}");
}

#[test]
fn a_command_replayed_in_another_transaction_is_refused() {
    let (mut scenario, _, mut worker) = Scenario::with_worker();
    let (charlie, dave) = (pair("//Charlie"), pair("//Dave"));
    let original = scenario.note(&charlie, b"mine");
    let Call::Contracts(ContractsCall::Command { payload, .. }) = original.transaction.call.clone() else {
        unreachable!()
    };
    scenario.block(vec![original]);
    // Dave copies Charlie's ciphertext into his own transaction; Charlie resends it under a new nonce.
    let (by_dave, _) = scenario.sign(
        &dave,
        Call::Contracts(ContractsCall::Command {
            contract: NOTES,
            payload: payload.clone(),
            fuel: 0,
            value: Balance::ZERO,
        }),
    );
    let (again, _) = scenario.sign(
        &charlie,
        Call::Contracts(ContractsCall::Command { contract: NOTES, payload, fuel: 0, value: Balance::ZERO }),
    );
    scenario.block(vec![by_dave, again]);
    let batch = scenario.batch_for(&worker);
    let applied = worker.apply(&batch).unwrap();
    assert_eq!(applied.refused.len(), 2, "{:?}", applied.refused);
    assert!(
        applied.refused.iter().all(|reason| reason.to_string().contains("cannot open envelope")),
        "{:?}",
        applied.refused
    );

    let (query, response) = notes_query(&scenario, worker.identity(), &charlie, charlie.public());
    assert_eq!(notes(&ask(&worker, &query.sign(&charlie), &response).unwrap().result), vec![b"mine".to_vec()]);
    let (query, response) = notes_query(&scenario, worker.identity(), &dave, dave.public());
    assert!(notes(&ask(&worker, &query.sign(&dave), &response).unwrap().result).is_empty());
}

/// The attacks of issue 21 on sessions: a session key stolen from a browser is useless once its
/// account revokes it on chain, and a certificate cannot outlive the parameters' maximum (nor
/// escape it by starting far ahead of the chain).
#[test]
fn a_revoked_or_overlong_session_answers_nothing() {
    let (mut scenario, _, mut worker) = Scenario::with_worker();
    let charlie = pair("//Charlie");
    let tx = scenario.note(&charlie, b"secret");
    scenario.block(vec![tx]);
    scenario.relay(&mut worker);
    let height = worker.view().height;
    let max = scenario.genesis.parameters().sessions.max_lifetime_blocks;
    let session = RuntimeSigner::from_seed(&SecretBytes::new([3; 32]));
    let chain = scenario.genesis.hash();
    let certify = |issued_at, expires_at| {
        SessionCertificate { account: charlie.public(), session_key: session.public(), chain, issued_at, expires_at }
            .sign(&charlie)
    };
    let ask_as = |scenario: &Scenario, worker: &Runtime, certificate| {
        let (query, response) = notes_query(scenario, worker.identity(), &charlie, charlie.public());
        ask(worker, &query.sign_with_session(&session, certificate), &response)
    };
    let refused = |result: Result<_, String>| match result {
        Err(reason) if reason.contains("session certificate is refused") => reason,
        other => panic!("expected a refused session, got {other:?}"),
    };

    // Longer than the maximum, or starting far ahead so that it would outlive it.
    let reason = refused(ask_as(&scenario, &worker, certify(height, height + max + 1)));
    assert!(reason.contains(&format!("at most {max} blocks")), "{reason}");
    let lag = QueryLimits::default().max_lag_blocks;
    let reason = refused(ask_as(&scenario, &worker, certify(height + lag + 1, height + lag + 2)));
    assert!(reason.contains("ahead"), "{reason}");

    // A valid session answers; revoked on chain, the same certificate answers nothing.
    let certificate = certify(height, height + 100);
    assert_eq!(notes(&ask_as(&scenario, &worker, certificate).unwrap().result), vec![b"secret".to_vec()]);
    let (revoke, _) = scenario.sign(
        &charlie,
        veil_primitives::Call::Accounts(veil_primitives::AccountsCall::RevokeSession { session_key: session.public() }),
    );
    scenario.block(vec![revoke]);
    // A relayer that hides the sessions topic (to keep a stolen session alive) gets nothing in.
    let sessions = veil_primitives::Topic::System(veil_primitives::SystemTopic::Sessions);
    let mut hidden = scenario.batch_for(&worker);
    hidden.topics.retain(|delivery| delivery.topic != sessions);
    assert_eq!(worker.apply(&hidden).unwrap_err(), SyncError::Missing(sessions));
    scenario.relay(&mut worker);
    let revoked_at = worker.view().height;
    let reason = refused(ask_as(&scenario, &worker, certificate));
    assert!(reason.contains("revoked"), "{reason}");
    // The account may certify the key again later: a certificate issued after the revocation.
    scenario.block(vec![]);
    scenario.relay(&mut worker);
    let renewed = certify(revoked_at + 1, revoked_at + 100);
    assert_eq!(notes(&ask_as(&scenario, &worker, renewed).unwrap().result), vec![b"secret".to_vec()]);
}

#[test]
fn bad_queries_are_refused_with_reasons() {
    let (mut scenario, _, mut worker) = Scenario::with_worker();
    let (charlie, dave) = (pair("//Charlie"), pair("//Dave"));
    let tx = scenario.note(&charlie, b"secret");
    scenario.block(vec![tx]);
    scenario.relay(&mut worker);
    let height = worker.view().height;
    let refusal = |query: &veil_crypto::confidential::SignedQuery| {
        let body = seal_query(&worker.agreement_key(), query).unwrap();
        worker.query(&body, 0).unwrap_err()
    };

    // Signed by Dave, claiming to be Charlie.
    let (query, _) = notes_query(&scenario, worker.identity(), &charlie, charlie.public());
    assert!(matches!(refusal(&query.clone().sign(&dave)), QueryError::Unauthenticated(_)));

    // A session key certified until a height that has passed; then one that is still valid.
    let session = RuntimeSigner::from_seed(&SecretBytes::new([3; 32]));
    let certify = |expires_at| {
        SessionCertificate {
            account: charlie.public(),
            session_key: session.public(),
            chain: scenario.genesis.hash(),
            issued_at: height - 1,
            expires_at,
        }
        .sign(&charlie)
    };
    let expired = query.clone().sign_with_session(&session, certify(height - 1));
    assert_eq!(refusal(&expired), QueryError::SessionExpired { expired_at: height - 1, height });
    let (fresh, response) = notes_query(&scenario, worker.identity(), &charlie, charlie.public());
    let by_session = fresh.sign_with_session(&session, certify(height + 10));
    assert_eq!(notes(&ask(&worker, &by_session, &response).unwrap().result), vec![b"secret".to_vec()]);

    // The same query again.
    assert!(matches!(refusal(&by_session), QueryError::Replayed { .. }));

    // The client knows a height far past the worker's view.
    let (mut ahead, _) = notes_query(&scenario, worker.identity(), &charlie, charlie.public());
    ahead.known_height = height + QueryLimits::default().max_lag_blocks + 1;
    assert!(matches!(refusal(&ahead.sign(&charlie)), QueryError::Stale(_)));
    // By the clock: a worker whose newest block is older than the bound.
    let (query, _) = notes_query(&scenario, worker.identity(), &charlie, charlie.public());
    let body = seal_query(&worker.agreement_key(), &query.sign(&charlie)).unwrap();
    let strict =
        Runtime::restore(&scenario.genesis, Host::new(true, QueryLimits::default()), &worker.checkpoint()).unwrap();
    let now = worker.view().timestamp_ms + 31_000;
    assert!(matches!(strict.query(&body, now).unwrap_err(), QueryError::Stale(_)));

    // Validity window passed, or too long.
    let (mut late, _) = notes_query(&scenario, worker.identity(), &charlie, charlie.public());
    late.valid_until = height - 1;
    assert!(matches!(refusal(&late.sign(&charlie)), QueryError::Validity { .. }));
    // Another worker, another contract, garbage.
    let (misaddressed, _) = notes_query(&scenario, worker.identity(), &charlie, charlie.public());
    let misaddressed = Query { worker: [1; 32], ..misaddressed };
    assert!(matches!(refusal(&misaddressed.sign(&charlie)), QueryError::Misaddressed { .. }));
    let (elsewhere, _) = notes_query(&scenario, worker.identity(), &charlie, charlie.public());
    let elsewhere = Query { contract: veil_primitives::ContractId([2; 32]), ..elsewhere };
    assert!(matches!(refusal(&elsewhere.sign(&charlie)), QueryError::UnknownContract(_)));
    assert!(matches!(worker.query(b"not a query", 0).unwrap_err(), QueryError::Unreadable(_)));
}

/// The attack of issue 21 (a withheld topic): a relayer never delivers a built-in contract's topic.
/// A built-in contract needs no deployment message, so before the fix the worker ran it from empty
/// state and answered "no notes" at the newest height, as if current. A contract topic always has
/// its assignment as first message, so a batch without it is refused and the view stays behind.
#[test]
fn a_withheld_builtin_contract_topic_never_answers_as_if_current() {
    let (mut scenario, mut gatekeeper, mut workers) = Scenario::with_workers(1);
    let identities: Vec<[u8; 32]> = workers.iter().map(Runtime::identity).collect();
    scenario.assign(&identities);
    // The gatekeeper hands out the keys; the worker learns of the assignment from the duty log.
    for _ in 0..3 {
        scenario.relay(&mut gatekeeper);
        let mut batch = scenario.batch_for(&workers[0]);
        batch.topics.retain(|delivery| delivery.topic != veil_primitives::Topic::Contract(NOTES));
        let _ = workers[0].apply(&batch);
        scenario.submit(workers[0].pending_egress());
    }
    let charlie = pair("//Charlie");
    let tx = scenario.note(&charlie, b"withheld");
    scenario.block(vec![tx]);
    let worker = &mut workers[0];
    assert_eq!(worker.contracts().len(), 1, "it runs the contract");
    let mut withheld = scenario.batch_for(worker);
    withheld.topics.retain(|delivery| delivery.topic != veil_primitives::Topic::Contract(NOTES));
    let error = worker.apply(&withheld).unwrap_err();
    assert_eq!(error, SyncError::Missing(veil_primitives::Topic::Contract(NOTES)));
    assert!(worker.view().height < scenario.chain.tip().height, "its view stays behind, and says so");
    // Delivered, the note is there.
    scenario.relay(worker);
    let (query, response) = notes_query(&scenario, worker.identity(), &charlie, charlie.public());
    assert_eq!(notes(&ask(worker, &query.sign(&charlie), &response).unwrap().result), vec![b"withheld".to_vec()]);
}

#[test]
fn a_lying_relayer_changes_nothing() {
    let (mut scenario, _, mut worker) = Scenario::with_worker();
    let charlie = pair("//Charlie");
    let txs = vec![scenario.note(&charlie, b"one"), scenario.note(&charlie, b"two")];
    scenario.block(txs);
    let honest = scenario.batch_for(&worker);
    let (root, checkpoint) = (worker.state_root(), worker.checkpoint());
    let contract_topic = honest.topics.iter().position(|t| t.topic == veil_primitives::Topic::Contract(NOTES)).unwrap();

    let mut forged = honest.clone();
    *forged.certificate.last_mut().unwrap() ^= 1;
    let mut omitted = honest.clone();
    omitted.topics[contract_topic].messages.pop();
    let mut altered = honest.clone();
    altered.topics[contract_topic].messages[0].payload = b"x".to_vec().try_into().unwrap();
    let mut reordered = honest.clone();
    reordered.topics[contract_topic].messages.reverse();
    let mut hidden = honest.clone();
    hidden.topics.remove(contract_topic);
    for (what, batch) in
        [("forged", forged), ("omitted", omitted), ("altered", altered), ("reordered", reordered), ("hidden", hidden)]
    {
        let error = worker.apply(&batch).map(|a| format!("{what}: accepted {a:?}")).unwrap_err();
        let expected = match what {
            "forged" => matches!(error, SyncError::Header(_)),
            "hidden" => matches!(error, SyncError::Missing(_)),
            _ => matches!(error, SyncError::Verification { .. }),
        };
        assert!(expected, "{what}: {error}");
        assert_eq!(worker.state_root(), root, "{what} changed the state");
        assert_eq!(*worker.checkpoint(), *checkpoint, "{what} changed the checkpoint");
    }
    assert!(worker.apply(&honest).unwrap().refused.is_empty());
    assert_ne!(worker.state_root(), root);
}

#[test]
fn a_restarted_worker_matches_its_uninterrupted_twin_and_falls_back_past_a_corrupted_checkpoint() {
    let (mut scenario, _, mut twin) = Scenario::with_worker();
    let dir = std::env::temp_dir().join(format!("veil-worker-restart-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let sealer = || Sealer::new(&SoftwareSealingKey::open_or_create(&dir.join("sealing.key")).unwrap()).unwrap();
    let mut store = CheckpointStore::open(&dir.join("checkpoints"), sealer()).unwrap();
    let mut restarted =
        Runtime::restore(&scenario.genesis, Host::new(true, support::limits()), &twin.checkpoint()).unwrap();
    store.save(&restarted.checkpoint()).unwrap();

    let charlie = pair("//Charlie");
    for round in 0..4u8 {
        let txs = (0..3).map(|i| scenario.note(&charlie, &[round, i])).collect();
        scenario.block(txs);
        let batch = scenario.batch_for(&twin);
        twin.apply(&batch).unwrap();
        restarted.apply(&batch).unwrap();
        store.save(&restarted.checkpoint()).unwrap();
    }
    // Stopped mid-batch: the batch's effects were never saved; the restart loads the last
    // checkpoint and the relayer brings the same messages again from where it stands.
    let txs = (0..3).map(|i| scenario.note(&charlie, &[9, i])).collect();
    scenario.block(txs);
    let batch = scenario.batch_for(&twin);
    twin.apply(&batch).unwrap();
    restarted.apply_with(&batch, |_| {}).unwrap();
    drop(restarted);
    let mut store = CheckpointStore::open(&dir.join("checkpoints"), sealer()).unwrap();
    let loaded = store.load().unwrap().unwrap();
    let mut restarted = Runtime::restore(&scenario.genesis, Host::new(true, support::limits()), &loaded.state).unwrap();
    restarted.apply(&scenario.batch_for(&restarted)).unwrap();
    assert_eq!(restarted.state_root(), twin.state_root());
    assert_eq!(restarted.pending_egress(), twin.pending_egress());

    // The newest checkpoint corrupted on disk: the previous generation loads, and catching up from
    // it reaches the same state.
    store.save(&restarted.checkpoint()).unwrap();
    let newest = std::fs::read_dir(dir.join("checkpoints"))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .max_by_key(|path| std::fs::metadata(path).unwrap().modified().unwrap())
        .unwrap();
    let mut bytes = std::fs::read(&newest).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xff;
    std::fs::write(&newest, bytes).unwrap();
    let mut store = CheckpointStore::open(&dir.join("checkpoints"), sealer()).unwrap();
    let loaded = store.load().unwrap().unwrap();
    assert_eq!(loaded.skipped.len(), 1, "{:?}", loaded.skipped);
    let mut fallen_back =
        Runtime::restore(&scenario.genesis, Host::new(true, support::limits()), &loaded.state).unwrap();
    assert_ne!(fallen_back.state_root(), twin.state_root(), "the previous generation is older");
    fallen_back.apply(&scenario.batch_for(&fallen_back)).unwrap();
    assert_eq!(fallen_back.state_root(), twin.state_root());
    let _ = std::fs::remove_dir_all(&dir);
}
