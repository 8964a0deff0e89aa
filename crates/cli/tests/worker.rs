//! End to end with real processes on loopback: a devnet node, the development gatekeeper and two
//! workers (`veil-worker`, software mode), each with its own relayer (`veil relay`).
#![allow(clippy::unwrap_used)]

mod support;

use parity_scale_codec::Encode as _;
use std::time::Duration;
use support::{
    CommandKey, Process, ask_worker, form_cluster, identity, pair, relay, relay_with, roots_at_one_height,
    start_validator, start_worker, status, submit, temp_dir, topic_messages, wait_until,
};
use veil_client::api::{
    ErrorBody, ErrorCode,
    node::{SenderView, WorkerView},
    paths,
    worker::RegistrationView,
};
use veil_crypto::{
    AccountPair,
    confidential::{AnswerResult, ContractKeys, KeyMessage},
};
use veil_primitives::{
    Call, ClusterId, ContractId, ContractsCall, Origin, SenderId, Transaction, contract::builtin_code_hash,
    decode_strict,
};
use veil_worker::contract::{NoteList, NotesCommand, NotesQuery};

const NOTES: ContractId = ContractId([0x17; 32]);

fn notes_keys(node: &Process) -> Option<ContractKeys> {
    topic_messages(node, &"key-epochs".parse().unwrap()).into_iter().find_map(|m| {
        match (m.origin, decode_strict::<KeyMessage>(&m.payload).ok()?) {
            (Origin::Runtime(SenderId::GatekeeperSet), KeyMessage::ContractKeys(keys)) if keys.contract == NOTES => {
                Some(keys)
            }
            _ => None,
        }
    })
}

fn add_note(node: &Process, keys: &ContractKeys, from: &AccountPair, notes: &[&[u8]]) {
    let chain = node.chain_id();
    let key = CommandKey { contract: NOTES, epoch: keys.epoch, agreement: keys.agreement };
    let (first, _) = node.account(&from.public());
    let txs: Vec<_> = notes
        .iter()
        .enumerate()
        .map(|(i, note)| {
            let nonce = first + i as u64;
            let command = NotesCommand::Add(note.to_vec().try_into().unwrap()).encode();
            let call = key.call(chain, from, nonce, &command, 0, 0);
            from.sign_transaction(Transaction { genesis: chain, signer: from.public(), nonce, call })
        })
        .collect();
    for tx in &txs {
        let (status, body) = node.submit(tx);
        assert_eq!(status, 202, "{body:?}");
    }
    node.wait_finalized(&txs.last().unwrap().hash(), Duration::from_secs(60));
}

/// Asks `worker` for `owner`'s notes as `by`; the answer is verified against the worker's identity.
fn ask_notes(
    node: &Process,
    worker: &Process,
    by: &AccountPair,
    owner: &AccountPair,
) -> Result<AnswerResult, (u16, ErrorBody)> {
    let payload = NotesQuery::Notes { owner: owner.public() }.encode();
    let answer = ask_worker(node, worker, by, NOTES, &payload)?;
    assert_eq!(answer.code, builtin_code_hash("notes"));
    Ok(answer.result)
}

fn notes(result: AnswerResult) -> Vec<Vec<u8>> {
    match result {
        AnswerResult::Ok(bytes) => decode_strict::<NoteList>(&bytes).unwrap().iter().map(|n| n.to_vec()).collect(),
        AnswerResult::Refused(reason) => panic!("refused: {}", String::from_utf8_lossy(&reason)),
    }
}

#[test]
fn a_confidential_contract_runs_end_to_end_and_survives_kill_9() {
    let dir = temp_dir("worker");
    let (node, genesis) = start_validator(&dir);
    assert!(genesis.exists(), "devnet writes {}", genesis.display());

    let mut gatekeeper = start_worker(&dir, "gatekeeper", &genesis, &["--role", "gatekeeper", "--dev-gatekeeper"], &[]);
    let mut first = start_worker(&dir, "first", &genesis, &[], &[]);
    let twin = start_worker(&dir, "twin", &genesis, &[], &[]);
    let _relays = [
        relay(&dir, "gatekeeper", &node, &gatekeeper, Some("//Bob")),
        relay(&dir, "first", &node, &first, Some("//Bob")),
        relay(&dir, "twin", &node, &twin, Some("//Bob")),
    ];
    let workers = [identity(&first), identity(&twin)];
    for worker in &workers {
        let path = paths::node::worker(format!("0x{}", hex::encode(worker)));
        node.wait_for(&path, Duration::from_secs(60), |_: &WorkerView| true);
    }

    // Alice (the devnet's registry admin) forms a cluster of both workers and assigns it the notes
    // contract; the gatekeeper is killed -9 meanwhile and restarted: its keys still arrive, once.
    let alice = pair("//Alice");
    form_cluster(&node, 1, &workers);
    submit(&node, &alice, |_| {
        Call::Contracts(ContractsCall::AssignContract {
            contract: NOTES,
            code: builtin_code_hash("notes"),
            cluster: ClusterId(1),
        })
    });
    gatekeeper.kill();
    let gatekeeper = start_worker(&dir, "gatekeeper", &genesis, &["--role", "gatekeeper", "--dev-gatekeeper"], &[]);
    let _gatekeeper_relay = relay(&dir, "gatekeeper-again", &node, &gatekeeper, Some("//Bob"));
    wait_until("the contract keys", Duration::from_secs(60), || notes_keys(&node).is_some());
    let keys = notes_keys(&node).unwrap();
    for worker in [&first, &twin] {
        wait_until("the worker to hold the contract", Duration::from_secs(60), || status(worker).contracts.len() == 1);
    }

    // Charlie's command, sealed to the published key, runs; only Charlie reads the result.
    let (charlie, dave) = (pair("//Charlie"), pair("//Dave"));
    add_note(&node, &keys, &charlie, &[b"the vault code is 1234"]);
    let contract_topic = format!("contract:{NOTES}");
    let length = |worker: &Process| status(worker).topics.get(&contract_topic).copied().unwrap_or(0);
    wait_until("the command to reach the worker", Duration::from_secs(60), || length(&first) >= 2);
    assert_eq!(notes(ask_notes(&node, &first, &charlie, &charlie).unwrap()), vec![b"the vault code is 1234".to_vec()]);
    let refused = ask_notes(&node, &first, &dave, &charlie).unwrap();
    assert!(
        matches!(&refused, AnswerResult::Refused(reason) if String::from_utf8_lossy(reason).contains("only")),
        "{refused:?}"
    );
    let authority = first.url.strip_prefix("http://").unwrap();
    let (code, body) =
        veil_http::request(authority, "POST", "/v1/query", "application/octet-stream", b"garbage").unwrap();
    assert_eq!(code, 400, "{}", String::from_utf8_lossy(&body));

    // kill -9 the first worker; restart it so that it stops itself mid-batch (after the second of
    // three commands, before its checkpoint), then once more normally.
    first.kill();
    let aborting = start_worker(&dir, "first", &genesis, &[], &[("VEIL_WORKER_ABORT_AFTER_MESSAGES", "2")]);
    let _first_relay = relay(&dir, "first-again", &node, &aborting, None);
    add_note(&node, &keys, &charlie, &[b"second", b"third", b"fourth"]);
    let log = dir.join("first.log");
    wait_until("the worker to stop mid-batch", Duration::from_secs(60), || {
        std::fs::read_to_string(&log).unwrap_or_default().contains("aborting after 2 messages")
    });
    drop(aborting);
    let first = start_worker(&dir, "first", &genesis, &[], &[]);
    let _first_relay = relay(&dir, "first-third", &node, &first, None);
    wait_until("both workers to handle every command", Duration::from_secs(60), || {
        length(&first) == 5 && length(&twin) == 5
    });
    let (first_root, twin_root) = roots_at_one_height(&first, &twin);
    assert_eq!(first_root, twin_root, "the restarted worker matches its twin");
    let expected: Vec<Vec<u8>> =
        [&b"the vault code is 1234"[..], b"second", b"third", b"fourth"].iter().map(|n| n.to_vec()).collect();
    assert_eq!(notes(ask_notes(&node, &first, &charlie, &charlie).unwrap()), expected, "none lost, none twice");
    assert_eq!(notes(ask_notes(&node, &twin, &charlie, &charlie).unwrap()), expected);

    // The gatekeeper's messages landed once each: as itself (registered first: the chain takes
    // nothing from an unattested gatekeeper), its proposal of the first master key and its keys of
    // epochs 0 and 1 (besides its heartbeats); as the gatekeeper set, the cluster's keys and the
    // contract's.
    let gatekeeper_id = SenderId::Gatekeeper(veil_crypto::runtime_key::dev_gatekeeper().public());
    let own = |topic: &str| {
        let messages = topic_messages(&node, &topic.parse().unwrap());
        messages.iter().filter(|message| message.origin == veil_primitives::Origin::Runtime(gatekeeper_id)).count()
    };
    assert_eq!((own("key-epochs"), own("assignments")), (1, 2), "one proposal, two epoch keys");
    let set: SenderView = node.get_ok(&paths::node::sender(SenderId::GatekeeperSet));
    assert_eq!(set.next_sequence, 2, "{set:?}");
    assert!(topic_messages(&node, &"discrepancies".parse().unwrap()).is_empty(), "no differing copies");
    drop(gatekeeper);
}

/// A relayer whose registration the chain refuses (the operator cannot pay the fee) still feeds
/// its runtime every round: a failing registration must never stall sync and egress, or the worker
/// would look silent and be reported offline.
#[test]
fn a_refused_registration_does_not_stop_the_relayer_from_syncing() {
    let dir = temp_dir("relay-refused-registration");
    let (node, genesis) = start_validator(&dir);
    // The gatekeeper's epoch keys on the duty log give the worker something to sync.
    let gatekeeper =
        start_worker(&dir, "gatekeeper", &genesis, &["--role", "gatekeeper", "--dev-gatekeeper", "0"], &[]);
    let _gatekeeper_relay = relay(&dir, "gatekeeper", &node, &gatekeeper, Some("//Bob"));
    // An account genesis never funded: its registration is refused for the fee.
    let nobody = pair("//NobodyFunded").public().to_string();
    let worker = start_worker(&dir, "worker", &genesis, &["--operator", &nobody], &[]);
    let relayer = relay(&dir, "worker", &node, &worker, Some("//NobodyFunded"));
    wait_until("the worker's runtime to sync the duty log", Duration::from_secs(60), || {
        status(&worker).topics.get("assignments").is_some_and(|length| *length > 0)
    });
    let refused = relayer.output();
    assert!(refused.contains("registration"), "the relayer says the registration was refused:\n{refused}");
    let identity = identity(&worker);
    let (code, _) = node.get_as::<WorkerView>(&paths::node::worker(format!("0x{}", hex::encode(identity))));
    assert_eq!(code, 404, "nothing was registered");
}

/// The attack of issue 21: anyone who reaches a worker asks it for a quote bound to their own
/// operator account, and registers the worker as theirs. A runtime quotes registrations only for
/// the operator it was started for.
#[test]
fn a_runtime_quotes_registrations_only_for_its_operator() {
    let dir = temp_dir("worker-operator");
    let (_node, genesis) = start_validator(&dir);
    let bob = pair("//Bob").public();
    let worker = start_worker(&dir, "worker", &genesis, &["--operator", &bob.to_string()], &[]);
    let eve = pair("//Eve").public();
    let (code, answer) = worker.get_as::<RegistrationView>(&paths::worker::registration(eve));
    assert_eq!(code, 403, "quoted for another operator: {answer:?}");
    assert_eq!(answer.unwrap_err().code, ErrorCode::NotOperator);
    let (code, answer) = worker.get_as::<RegistrationView>(&paths::worker::registration(bob));
    assert_eq!(code, 200, "{answer:?}");
}

/// Revokes `count` sessions (unknown keys: nothing is actually revoked), spread over `accounts`,
/// so that the sessions topic, which every worker follows from its first message, grows by
/// `count` messages.
fn fill_sessions_topic(node: &Process, accounts: &[AccountPair], count: usize) {
    let chain = node.chain_id();
    let mut left = count;
    let mut serial = 0u64;
    while left > 0 {
        let mut last = Vec::new();
        for account in accounts {
            let (first, _) = node.account(&account.public());
            // The mempool holds at most 64 nonces ahead of an account's next one.
            let batch = left.min(64);
            for nonce in first..first + batch as u64 {
                serial += 1;
                let mut session_key = [0u8; 32];
                session_key[..8].copy_from_slice(&serial.to_le_bytes());
                let call = Call::Accounts(veil_primitives::AccountsCall::RevokeSession { session_key });
                let tx =
                    account.sign_transaction(Transaction { genesis: chain, signer: account.public(), nonce, call });
                let (status, body) = node.submit(&tx);
                assert_eq!(status, 202, "{body:?}");
                last = vec![tx.hash()];
            }
            left -= batch;
            if left == 0 {
                break;
            }
        }
        for hash in last {
            node.wait_finalized(&hash, Duration::from_secs(60));
        }
    }
}

/// Issue 22: a worker that joins when a topic it follows from the start already holds 5,000
/// messages catches up in pages of 64 (each proven against a certified header by the rest of the
/// log's subtree roots), reads the heartbeats from where it joined, and then serves.
#[test]
fn a_worker_joining_five_thousand_messages_behind_syncs_in_pages_and_serves() {
    let dir = temp_dir("worker-paging");
    let (node, genesis) = start_validator(&dir);
    let gatekeeper =
        start_worker(&dir, "gatekeeper", &genesis, &["--role", "gatekeeper", "--dev-gatekeeper", "0"], &[]);
    let _gatekeeper_relay = relay(&dir, "gatekeeper", &node, &gatekeeper, Some("//Bob"));
    let accounts: Vec<AccountPair> = ["//Charlie", "//Dave", "//Eve", "//Ferdie"].map(pair).to_vec();
    fill_sessions_topic(&node, &accounts, 5_000);
    let sessions = topic_messages(&node, &"sessions".parse().unwrap()).len();
    assert!(sessions > 5_000, "genesis's message and the revocations: {sessions}");
    let heartbeats_then = topic_messages(&node, &"heartbeats".parse().unwrap()).len() as u64;

    let late = start_worker(&dir, "late", &genesis, &[], &[]);
    let late_relay = relay_with(&dir, "late", &node, &late, Some("//Bob"), &["--page-size", "64"]);
    wait_until("the late worker to catch up with the sessions topic", Duration::from_secs(120), || {
        status(&late).topics.get("sessions").is_some_and(|length| *length as usize >= sessions)
    });
    let heartbeats_joined = status(&late).topics["heartbeats"];
    assert!(heartbeats_joined >= heartbeats_then, "heartbeats are read from where the worker joined, not from 0");

    // Every page the relayer logged holds at most 64 messages; the catch-up took that many pages.
    let pages: Vec<u64> = late_relay
        .output()
        .lines()
        .filter_map(|line| line.strip_prefix("relay: catching up in pages: topic sessions to "))
        .map(|rest| rest.split(' ').next().unwrap().parse().unwrap())
        .collect();
    assert!(pages.len() as u64 >= 5_000 / 64 - 2, "{} pages for {sessions} messages", pages.len());
    for step in pages.windows(2) {
        assert!(step[1] > step[0] && step[1] - step[0] <= 64, "pages of at most 64: {step:?}");
    }

    // And it serves: formed into a cluster with the notes contract, it answers its owner.
    let alice = pair("//Alice");
    let path = paths::node::worker(format!("0x{}", hex::encode(identity(&late))));
    node.wait_for(&path, Duration::from_secs(60), |_: &WorkerView| true);
    form_cluster(&node, 1, &[identity(&late)]);
    submit(&node, &alice, |_| {
        Call::Contracts(ContractsCall::AssignContract {
            contract: NOTES,
            code: builtin_code_hash("notes"),
            cluster: ClusterId(1),
        })
    });
    wait_until("the contract keys", Duration::from_secs(60), || notes_keys(&node).is_some());
    let keys = notes_keys(&node).unwrap();
    let charlie = pair("//Charlie");
    add_note(&node, &keys, &charlie, &[b"after five thousand messages"]);
    let contract_topic = format!("contract:{NOTES}");
    wait_until("the command to reach the worker", Duration::from_secs(60), || {
        status(&late).topics.get(&contract_topic).copied().unwrap_or(0) >= 2
    });
    assert_eq!(
        notes(ask_notes(&node, &late, &charlie, &charlie).unwrap()),
        vec![b"after five thousand messages".to_vec()]
    );
}
