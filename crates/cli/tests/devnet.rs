//! `veil devnet` as a user runs it: real processes on loopback, the validator alone or the whole network.
#![allow(clippy::unwrap_used)]

mod support;

use parity_scale_codec::Encode as _;
use std::{collections::BTreeMap, time::Duration};
use support::{Answer, Process, pair, start_validator, temp_dir, transfer, unhex, wait_until};
use veil_cli::{DevnetRecord, DevnetRuntime};
use veil_client::api::{
    ErrorCode,
    node::{
        AccountView, BlockView, ClusterView, SenderView, StreamedBlock, SubmitEgressRequest, SubmitResponse,
        TopicMessagesView, TransactionStatusView, WorkerView,
    },
    paths::node as paths,
    worker::RuntimeRole,
};
use veil_light_client::LightClientError;
use veil_primitives::{
    Attestation, Call, ContractId, ContractsCall, Hash, Header, KeyEpoch, Message, Origin, RegistrationInfo,
    RegistryCall, SenderId, SignedEgress, SystemTopic, Topic, Transaction,
    contract::{CommandMessage, ContractMessage},
    decode_strict,
    log::{LogPeaks, RangeError},
    message::Discrepancy,
    topics::{TopicError, TopicProof},
};

const ONE: u128 = 1_000_000_000_000;

/// Transfers finalize; every kind of bad transaction is refused with a clear error and changes no
/// state; the API's documents, metrics and stream work; and the chain survives a restart.
#[test]
fn devnet_transfers_refusals_and_restart() {
    let dir = temp_dir("devnet");
    let data = dir.join("data");
    let args = ["devnet", "--data-dir", data.to_str().unwrap(), "--api-port", "0", "--validator-only"];
    let node = Process::start(&args, &dir.join("first.log"));
    let chain = node.chain_id();
    let (alice, bob) = (pair("//Alice"), pair("//Bob"));

    let tx = transfer(chain, &alice, 0, bob.public(), 10);
    let (status, body) = node.submit(&tx);
    assert_eq!((status, submitted(&body)), (202, Some("pending")), "{body:?}");
    let height = node.wait_finalized(&tx.hash(), Duration::from_secs(30));
    assert!(height >= 1);
    let (alice_nonce, alice_balance) = node.account(&alice.public());
    let (_, bob_balance) = node.account(&bob.public());
    assert_eq!(alice_nonce, 1);
    assert_eq!(bob_balance, 1_000_010 * ONE);

    // Refusals: each names its reason, and the accounts stay exactly as they were.
    let mut wrong_signature = transfer(chain, &alice, 1, bob.public(), 1);
    wrong_signature.signature[5] ^= 1;
    let mut wrong_chain = transfer(chain, &alice, 1, bob.public(), 1);
    wrong_chain.transaction.genesis = veil_primitives::Hash([7; 32]);
    wrong_chain = alice.sign_transaction(wrong_chain.transaction);
    let oversized = alice.sign_transaction(Transaction {
        genesis: chain,
        signer: alice.public(),
        nonce: 1,
        call: Call::Contracts(ContractsCall::Command {
            contract: ContractId([1; 32]),
            payload: vec![0; 330_000].try_into().unwrap(),
            fuel: 0,
            value: veil_primitives::Balance::ZERO,
        }),
    });
    let post = |body: serde_json::Value| node.post_as::<SubmitResponse>(paths::TRANSACTIONS, &body);
    let cases = [
        (post(serde_json::json!({ "transaction": "0x00ff" })), "malformed transaction"),
        (post(serde_json::json!({ "transaction": format!("0x{}", "00".repeat(330_000)) })), "malformed transaction"),
        // Well formed, but larger than the chain's parameters allow.
        (node.submit(&oversized), "the limit is"),
        (post(serde_json::json!({ "nonsense": 1 })), "missing field"),
        (node.submit(&wrong_signature), "bad signature"),
        (node.submit(&wrong_chain), "is for chain"),
        (node.submit(&tx), "already used"),
        (node.submit(&transfer(chain, &alice, 0, bob.public(), 1)), "already used"),
        (node.submit(&transfer(chain, &pair("//Nobody"), 0, bob.public(), 1)), "insufficient balance"),
        (node.submit(&transfer(chain, &bob, 0, alice.public(), 2_000_000)), "insufficient balance"),
    ];
    for ((status, body), reason) in cases {
        assert_eq!(status, 400, "{body:?}");
        let error = body.unwrap_err();
        assert!(error.message.contains(reason), "expected {reason:?}: {error:?}");
        assert_ne!(error.code, ErrorCode::Unknown, "a code of the API: {error:?}");
    }
    assert_eq!(node.account(&alice.public()), (alice_nonce, alice_balance));
    assert_eq!(node.account(&bob.public()).1, bob_balance);

    // The account proof verifies against the state root of the header the API names, and proves
    // nothing about another account or a changed balance.
    let view: AccountView = node.get_ok(&paths::account(bob.public()));
    let root: veil_primitives::Hash = view.state_root.parse().unwrap();
    let value = unhex(view.proof.value.as_deref().unwrap());
    let proof = unhex(&view.proof.proof);
    let key = veil_chain::StateKey::Account(bob.public()).to_bytes();
    let inclusion = |value: Vec<u8>| veil_consensus::state::StateProof::Inclusion { value, proof: proof.clone() };
    assert!(veil_consensus::state::verify_proof(&root, &key, &inclusion(value.clone())));
    let mut richer = value.clone();
    richer[9] ^= 1;
    assert!(!veil_consensus::state::verify_proof(&root, &key, &inclusion(richer)));
    let alice_key = veil_chain::StateKey::Account(alice.public()).to_bytes();
    assert!(!veil_consensus::state::verify_proof(&root, &alice_key, &inclusion(value)));
    let header: BlockView = node.get_ok(&paths::block(view.height));
    assert_eq!(header.state_root, view.state_root, "the proof's root is the named header's");

    // An account that does not exist gets an exclusion proof; a bad address a clear error.
    let nobody: AccountView = node.get_ok(&paths::account(pair("//Nobody").public()));
    assert_eq!(nobody.proof.kind, "exclusion");
    let (status, body) = node.get_error("/v1/accounts/5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQX");
    assert_eq!(status, 400);
    assert!(body.message.contains("checksum"), "{body:?}");

    // Blocks, certificates, the OpenAPI document, metrics and the stream.
    let block: BlockView = node.get_ok(&paths::block(height));
    assert!(block.transactions.iter().any(|t| t.hash == tx.hash().to_string()));
    let by_hash: BlockView = node.get_ok(&paths::block_by_hash(&block.hash));
    assert_eq!(by_hash.height, height);
    assert!(node.verify_latest_certificate() >= height);
    /// What this test reads of the OpenAPI document (a generic JSON document, not an API object).
    #[derive(serde::Deserialize)]
    struct OpenApi {
        paths: BTreeMap<String, serde_json::Value>,
    }
    let (status, openapi) = node.get(paths::OPENAPI);
    assert_eq!(status, 200);
    let openapi: OpenApi = serde_json::from_value(openapi).unwrap();
    assert!(openapi.paths.get(paths::TRANSACTIONS).is_some_and(serde_json::Value::is_object));
    let (_, metrics) = node.get(paths::METRICS);
    assert!(metrics.as_str().unwrap().contains("veil_finalized_height"));
    let events: Vec<StreamedBlock> = support::sse(&node.url, paths::STREAM_BLOCKS, "block", 2);
    assert!(events[1].height > events[0].height);
    assert_eq!(node.get_as::<BlockView>(&paths::block(999999999)).0, 404);

    // Restart: same chain, same balances, still finalizing.
    let before = node.height();
    drop(node);
    let node = Process::start(&args, &dir.join("second.log"));
    assert_eq!(node.chain_id(), chain);
    assert!(node.height() >= before);
    assert_eq!(node.account(&bob.public()).1, bob_balance);
    assert_eq!(node.get_ok::<TransactionStatusView>(&paths::transaction(tx.hash())).status, "finalized");
    let next = transfer(chain, &alice, 1, bob.public(), 5);
    assert_eq!(node.submit(&next).0, 202);
    node.wait_finalized(&next.hash(), Duration::from_secs(30));
    drop(node);
    std::fs::remove_dir_all(dir).unwrap();
}

/// The status a submission was given (`pending`, `parked`, `duplicate`), when it was accepted.
fn submitted(answer: &Result<SubmitResponse, veil_client::api::ErrorBody>) -> Option<&str> {
    answer.as_ref().ok().map(|accepted| accepted.status.as_str())
}

/// What `/v1/topics/{topic}/messages` answered, decoded.
struct TopicAnswer {
    header: Header,
    certificate: Vec<u8>,
    proof: TopicProof,
    messages: Vec<Message>,
}

fn topic_answer(node: &Process, topic: &Topic, from: u64, height: Option<u64>) -> TopicAnswer {
    let body: TopicMessagesView = node.get_ok(&paths::topic_messages(topic, from, height));
    TopicAnswer {
        header: decode_strict(&unhex(&body.header)).unwrap(),
        certificate: unhex(&body.finalization),
        proof: decode_strict(&unhex(&body.proof)).unwrap(),
        messages: body.messages.iter().map(|m| decode_strict(&unhex(m)).unwrap()).collect(),
    }
}

fn hashes(from: u64, messages: &[Message]) -> Vec<(u64, Hash)> {
    messages.iter().enumerate().map(|(i, m)| (from + i as u64, m.hash())).collect()
}

/// Commands and egress reach a contract's topic; a light client that pins only the network key and
/// namespace verifies the node's answer (certificate, header, complete range) and refuses any
/// altered, reordered, inserted or omitted message; replicas' duplicates are free, a differing copy
/// lands on the discrepancies topic, and bad egress is refused with its reason.
#[test]
fn topic_messages_verify_with_the_light_client() {
    let dir = temp_dir("topics");
    let (node, _) = start_validator(&dir);
    let chain = node.chain_id();
    let alice = pair("//Alice");
    let contract = ContractId([0xc0; 32]);
    let topic = Topic::Contract(contract);

    let command = |nonce: u64, payload: &[u8]| {
        alice.sign_transaction(Transaction {
            genesis: chain,
            signer: alice.public(),
            nonce,
            call: Call::Contracts(ContractsCall::Command {
                contract,
                payload: payload.to_vec().try_into().unwrap(),
                fuel: 0,
                value: veil_primitives::Balance::ZERO,
            }),
        })
    };
    // Commands go to existing contracts only. The development gatekeeper registers (the chain takes
    // nothing from an unattested gatekeeper) and opens the first key epoch, a software worker
    // registers and announces its epoch keys, Alice forms a cluster of it and assigns it the notes
    // contract (the assignment opens the topic at index 0).
    let post = |copy: &SignedEgress| -> Answer<SubmitResponse> {
        node.post_as(paths::EGRESS, &SubmitEgressRequest { egress: format!("0x{}", hex::encode(copy.encode())) })
    };
    let dev = veil_node::testnet::dev_gatekeeper();
    let register_gatekeeper = Call::Registry(RegistryCall::RegisterWorker {
        info: RegistrationInfo {
            signing_key: dev.public(),
            agreement_key: [0x5c; 32],
            genesis: chain,
            operator: alice.public(),
        },
        attestation: Attestation::InsecureSoftware,
    });
    let tx = alice.sign_transaction(Transaction {
        genesis: chain,
        signer: alice.public(),
        nonce: 0,
        call: register_gatekeeper,
    });
    assert_eq!(node.submit(&tx).0, 202);
    node.wait_finalized(&tx.hash(), Duration::from_secs(30));
    let master = veil_crypto::MasterKey::from_secret(veil_crypto::SecretBytes::new([7; 32]));
    let proposal = veil_crypto::confidential::Proposal::new(&master, KeyEpoch(0), &[]).unwrap();
    let opening = veil_chain::testing::egress(
        &dev,
        SenderId::Gatekeeper(dev.public()),
        0,
        0,
        Topic::System(SystemTopic::KeyEpochs),
        &veil_crypto::confidential::KeyMessage::Proposal(proposal).encode(),
    );
    assert_eq!(post(&opening).0, 202);
    let worker_key = veil_crypto::RuntimeSigner::from_seed(&veil_crypto::SecretBytes::new([0x5a; 32]));
    let worker = worker_key.public();
    let register = Call::Registry(RegistryCall::RegisterWorker {
        info: RegistrationInfo {
            signing_key: worker,
            agreement_key: [0x5b; 32],
            genesis: chain,
            operator: alice.public(),
        },
        attestation: Attestation::InsecureSoftware,
    });
    let tx = alice.sign_transaction(Transaction { genesis: chain, signer: alice.public(), nonce: 1, call: register });
    assert_eq!(node.submit(&tx).0, 202);
    node.wait_finalized(&tx.hash(), Duration::from_secs(30));
    for epoch in 0..2u32 {
        let pair = veil_crypto::EpochKeyPair::from_seed(&veil_crypto::SecretBytes::new([0x60 + epoch as u8; 32]));
        let key =
            veil_primitives::contract::AssignmentMessage::EpochKey(pair.announce(&chain, &worker_key, KeyEpoch(epoch)));
        let sender = SenderId::Worker(worker);
        let copy = veil_chain::testing::egress(
            &worker_key,
            sender,
            0,
            u64::from(epoch),
            Topic::System(SystemTopic::Assignments),
            &key.encode(),
        );
        assert_eq!(post(&copy).0, 202);
    }
    node.wait_for(
        &paths::sender(format!("worker:0x{}", hex::encode(worker))),
        Duration::from_secs(30),
        |view: &SenderView| view.next_sequence == 2,
    );
    let setup = [
        Call::Contracts(ContractsCall::FormCluster {
            cluster: veil_primitives::ClusterId(1),
            workers: vec![worker].try_into().unwrap(),
        }),
        Call::Contracts(ContractsCall::AssignContract {
            contract,
            code: veil_primitives::contract::builtin_code_hash("notes"),
            cluster: veil_primitives::ClusterId(1),
        }),
    ];
    for (nonce, call) in setup.into_iter().enumerate() {
        let nonce = nonce as u64 + 2;
        let tx = alice.sign_transaction(Transaction { genesis: chain, signer: alice.public(), nonce, call });
        let (status, body) = node.submit(&tx);
        assert_eq!(status, 202, "{body:?}");
        node.wait_finalized(&tx.hash(), Duration::from_secs(30));
    }
    let commands = [command(4, b"command 0"), command(5, b"command 1")];
    for tx in &commands {
        let (status, body) = node.submit(tx);
        assert_eq!(status, 202, "{body:?}");
    }
    let command_height = node.wait_finalized(&commands[1].hash(), Duration::from_secs(30));

    // Egress from the development gatekeeper, after its proposal: two replicas send the same copy.
    let gatekeeper = SenderId::Gatekeeper(dev.public());
    let sign = |sequence: u64, epoch: u32, payload: &[u8]| {
        veil_chain::testing::egress(&dev, gatekeeper, epoch, sequence + 1, topic, payload)
    };
    let result = sign(0, 0, b"result");
    let (status, first) = post(&result);
    assert_eq!((status, submitted(&first)), (202, Some("pending")), "{first:?}");
    let (status, second) = post(&result);
    assert_eq!((status, submitted(&second)), (202, Some("duplicate")), "{second:?}");
    let sender_path = paths::sender(gatekeeper);
    node.wait_for(&sender_path, Duration::from_secs(30), |view: &SenderView| view.next_sequence == 2);
    // A block later, the replica's copy is still a free duplicate; a differing copy is evidence.
    let (_, late) = post(&result);
    assert_eq!(submitted(&late), Some("duplicate"), "{late:?}");
    let differing = sign(0, 0, b"another result");
    let (status, body) = post(&differing);
    assert_eq!((status, submitted(&body)), (202, Some("pending")), "{body:?}");
    let discrepancies = Topic::System(SystemTopic::Discrepancies);
    node.wait_for(&paths::topic_messages(discrepancies, 0, None), Duration::from_secs(30), |_: &TopicMessagesView| {
        true
    });
    let evidence = topic_answer(&node, &discrepancies, 0, None);
    let recorded: Discrepancy = decode_strict(&evidence.messages[0].payload).unwrap();
    assert_eq!(recorded, Discrepancy { accepted: result.egress.content_hash(), differing: differing.clone() });

    // Refused egress says why: wrong signer, old or unknown epoch, stale number, malformed bytes.
    let mut forged = sign(1, 0, b"x");
    forged.signature[0] ^= 1;
    let (_, alice_balance) = node.account(&alice.public());
    for (copy, reason) in [
        (forged, "bad signature"),
        (sign(1, 1, b"x"), "claims key epoch 1"),
        (sign(0, 0, b"third version"), "already recorded"),
    ] {
        let (status, body) = post(&copy);
        assert_eq!(status, 400, "{body:?}");
        let error = body.unwrap_err();
        assert!(error.message.contains(reason), "expected {reason:?}: {error:?}");
    }
    let (status, body) = node.post_as::<SubmitResponse>(paths::EGRESS, &serde_json::json!({ "egress": "0x0102" }));
    assert!(status == 400 && body.as_ref().is_err_and(|error| error.message.contains("malformed egress")), "{body:?}");
    assert_eq!(node.account(&alice.public()).1, alice_balance, "egress charges nobody");

    // The light client verifies the whole topic, then the rest from where it stands.
    let client = node.light_client();
    let answer = topic_answer(&node, &topic, 0, None);
    assert_eq!(answer.messages.len(), 4);
    assert_eq!(answer.messages[0].origin, Origin::Chain, "the assignment");
    assert_eq!(answer.messages[1].origin, Origin::Account(alice.public()));
    let ContractMessage::Command(CommandMessage { nonce, payload, block, .. }) =
        decode_strict::<ContractMessage>(&answer.messages[2].payload).unwrap()
    else {
        panic!("not a command")
    };
    assert_eq!((nonce, &payload[..], block.height), (5, &b"command 1"[..], command_height));
    assert_eq!(answer.messages[3].origin, Origin::Runtime(gatekeeper));
    let verify = |kept: &LogPeaks, messages: &[(u64, Hash)], proof: &TopicProof| {
        client.verify_topic(&answer.certificate, &answer.header, &topic, kept, messages, proof)
    };
    let all = hashes(0, &answer.messages);
    let peaks = verify(&LogPeaks::default(), &all, &answer.proof).unwrap();
    assert_eq!(peaks.length, 4);
    let mut kept = LogPeaks::default();
    kept.append(&all[0].1);
    let rest = topic_answer(&node, &topic, 1, None);
    let resumed =
        client.verify_topic(&rest.certificate, &rest.header, &topic, &kept, &hashes(1, &rest.messages), &rest.proof);
    assert_eq!(resumed.unwrap().length, 4);

    // Against an older finalized header: the log as it was then, the assignment and the commands only.
    let then = topic_answer(&node, &topic, 0, Some(command_height));
    assert_eq!((then.header.height, then.messages.len(), then.proof.length), (command_height, 3, 3));
    let old = client.verify_topic(
        &then.certificate,
        &then.header,
        &topic,
        &LogPeaks::default(),
        &hashes(0, &then.messages),
        &then.proof,
    );
    assert_eq!(old.unwrap().length, 3);
    // That proof does not stretch to the newer header.
    let stretched =
        client.verify_topic(&answer.certificate, &answer.header, &topic, &LogPeaks::default(), &all[..3], &then.proof);
    assert!(stretched.is_err());

    // Refusals, each with its reason.
    let mut altered = answer.messages.clone();
    altered[1].payload = b"command X".to_vec().try_into().unwrap();
    let error = verify(&LogPeaks::default(), &hashes(0, &altered), &answer.proof).unwrap_err();
    assert!(matches!(error, LightClientError::Topic(TopicError::RootMismatch)), "{error}");
    let mut reordered = all.clone();
    reordered.swap(0, 1);
    let error = verify(&LogPeaks::default(), &reordered, &answer.proof).unwrap_err();
    assert!(matches!(error, LightClientError::Topic(TopicError::Range(RangeError::IndexGap { .. }))), "{error}");
    let mut reordered = answer.messages.clone();
    reordered.swap(1, 2);
    let reordered = hashes(0, &reordered);
    let error = verify(&LogPeaks::default(), &reordered, &answer.proof).unwrap_err();
    assert!(matches!(error, LightClientError::Topic(TopicError::RootMismatch)), "{error}");
    let mut inserted = answer.messages.clone();
    inserted.insert(1, answer.messages[0].clone());
    let error = verify(&LogPeaks::default(), &hashes(0, &inserted), &answer.proof).unwrap_err();
    assert!(matches!(error, LightClientError::Topic(TopicError::Range(_))), "{error}");
    let error = verify(&LogPeaks::default(), &all[..2], &answer.proof).unwrap_err();
    assert!(matches!(error, LightClientError::Topic(TopicError::Range(RangeError::StopsShort { .. }))), "{error}");
    let skipped = [all[0], all[2]];
    let error = verify(&LogPeaks::default(), &skipped, &answer.proof).unwrap_err();
    assert!(matches!(error, LightClientError::Topic(TopicError::Range(RangeError::IndexGap { .. }))), "{error}");
    let mut forged = answer.certificate.clone();
    let last = forged.len() - 1;
    forged[last] ^= 1;
    let error = client.verify_topic(&forged, &answer.header, &topic, &LogPeaks::default(), &all, &answer.proof);
    assert!(error.is_err());
    let mut other_header = answer.header.clone();
    other_header.timestamp_ms += 1;
    let error =
        client.verify_topic(&answer.certificate, &other_header, &topic, &LogPeaks::default(), &all, &answer.proof);
    assert!(matches!(error, Err(LightClientError::HeaderMismatch { .. })), "{error:?}");

    // Bad queries say what is wrong.
    for (path, status, reason) in [
        (format!("/v1/topics/{topic}/messages?from=9"), 400, "cannot start at 9"),
        (format!("/v1/topics/{topic}/messages?height=99999999"), 400, "is outside"),
        (format!("/v1/topics/{topic}/messages?from=x"), 400, "from"),
        ("/v1/topics/nonsense/messages".to_owned(), 400, "unknown topic"),
        (format!("/v1/topics/{}/messages", Topic::Contract(ContractId([1; 32]))), 404, "no messages at this height"),
        ("/v1/senders/worker:0x12".to_owned(), 400, "unknown sender"),
    ] {
        let (found, body) = node.get_error(&path);
        assert_eq!(found, status, "{path}: {body:?}");
        assert!(body.message.contains(reason), "{path}: expected {reason:?}: {body:?}");
    }
}

/// A software worker registers on a devnet that allows insecure workers and is refused by one that
/// does not; mismatched registrations are refused with their reasons; a registration lapses at
/// the end of its lifetime and renewing restores it.
#[test]
fn worker_registration_on_devnets() {
    let dir = temp_dir("workers");
    let open = dir.join("open");
    let args = [
        "devnet",
        "--data-dir",
        open.to_str().unwrap(),
        "--api-port",
        "0",
        "--insecure-lifetime-secs",
        "3",
        "--validator-only",
    ];
    let node = Process::start(&args, &dir.join("open.log"));
    let closed = dir.join("closed");
    let args = [
        "devnet",
        "--data-dir",
        closed.to_str().unwrap(),
        "--api-port",
        "0",
        "--no-insecure-workers",
        "--validator-only",
    ];
    let strict = Process::start(&args, &dir.join("closed.log"));

    let alice = pair("//Alice");
    let worker = veil_crypto::RuntimeSigner::from_seed(&veil_crypto::SecretBytes::new([0x77; 32]));
    let info = |chain: Hash, operator: veil_primitives::AccountId| RegistrationInfo {
        signing_key: worker.public(),
        agreement_key: [0x55; 32],
        genesis: chain,
        operator,
    };
    let register = |chain: Hash, nonce: u64, info: RegistrationInfo, attestation: Attestation| {
        alice.sign_transaction(Transaction {
            genesis: chain,
            signer: alice.public(),
            nonce,
            call: Call::Registry(RegistryCall::RegisterWorker { info, attestation }),
        })
    };
    let chain = node.chain_id();

    // Refusals first (they use no nonce): another operator, another chain, an expired DCAP quote.
    let testdata = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../attestation/testdata");
    let dcap = Attestation::Dcap {
        quote: std::fs::read(testdata.join("sgx_quote")).unwrap().try_into().unwrap(),
        collateral: std::fs::read(testdata.join("sgx_quote_collateral.json")).unwrap().try_into().unwrap(),
    };
    for (tx, reason) in [
        (register(chain, 0, info(chain, pair("//Bob").public()), Attestation::InsecureSoftware), "names operator"),
        (
            register(chain, 0, info(Hash([9; 32]), alice.public()), Attestation::InsecureSoftware),
            "registration is for chain",
        ),
        (register(chain, 0, info(chain, alice.public()), dcap), "quote verification failed"),
    ] {
        let (status, body) = node.submit(&tx);
        assert_eq!(status, 400, "{body:?}");
        let error = body.unwrap_err();
        assert!(error.message.contains(reason), "expected {reason:?}: {error:?}");
    }
    let worker_path = paths::worker(format!("0x{}", hex::encode(worker.public())));
    assert_eq!(node.get_as::<WorkerView>(&worker_path).0, 404);

    // A chain that accepts only hardware-attested workers refuses the software registration.
    let strict_chain = strict.chain_id();
    let tx = register(strict_chain, 0, info(strict_chain, alice.public()), Attestation::InsecureSoftware);
    let (status, body) = strict.submit(&tx);
    assert_eq!(status, 400, "{body:?}");
    let error = body.unwrap_err();
    assert!(error.message.contains("only hardware-attested workers"), "{error:?}");
    assert_eq!(strict.get_as::<WorkerView>(&worker_path).0, 404);

    // The open devnet registers it, publishes it, and lets it lapse after its lifetime.
    let tx = register(chain, 0, info(chain, alice.public()), Attestation::InsecureSoftware);
    let (status, body) = node.submit(&tx);
    assert_eq!(status, 202, "{body:?}");
    node.wait_finalized(&tx.hash(), Duration::from_secs(30));
    let view: WorkerView = node.get_ok(&worker_path);
    assert_eq!(view.tee, "software (insecure)");
    assert_eq!(view.operator, alice.public().to_string());
    let registrations = topic_answer(&node, &Topic::System(SystemTopic::Registrations), 0, None);
    let record: veil_primitives::WorkerRegistration = decode_strict(&registrations.messages[0].payload).unwrap();
    assert_eq!(record.info, info(chain, alice.public()));
    node.wait_for(&worker_path, Duration::from_secs(30), |view: &WorkerView| !view.active);

    // Renewing re-registers it.
    let tx = register(chain, 1, info(chain, alice.public()), Attestation::InsecureSoftware);
    assert_eq!(node.submit(&tx).0, 202);
    node.wait_finalized(&tx.hash(), Duration::from_secs(30));
    assert!(node.get_ok::<WorkerView>(&worker_path).active);
}

/// The URLs the devnet's progress lines give for the runtimes named `prefix`N.
fn runtime_urls(output: &str, prefix: &str) -> Vec<String> {
    output
        .lines()
        .filter_map(|line| line.split_once("] ")?.1.strip_prefix(prefix)?.split_whitespace().nth(1).map(str::to_owned))
        .collect()
}

fn identities(runtimes: &[DevnetRuntime]) -> Vec<String> {
    runtimes.iter().map(|r| r.identity.clone()).collect()
}

/// SIGKILLs the devnet and waits until its children followed it. (Their ports are not checked:
/// under parallel tests another process may take one at once.)
fn kill_devnet(mut devnet: Process) {
    let children = support::descendants(devnet.child.id());
    assert_eq!(children.len(), 6, "1 gatekeeper and 2 workers, each with its relayer");
    devnet.kill();
    wait_until("the devnet's children to exit", Duration::from_secs(10), || {
        children.iter().all(|&pid| !support::running(pid))
    });
}

/// `veil devnet` alone runs a whole network: the validator, the development gatekeeper and two
/// workers in cluster 1, each runtime with its relayer, every child's log under the data dir. The
/// children die with the devnet even when it is SIGKILLed; a restart resumes the same network
/// without forming the cluster again; `--reset` starts a new one.
#[test]
fn a_single_command_runs_a_ready_network() {
    support::worker_binary();
    let dir = temp_dir("single-command");
    let data = dir.join("data");
    let args = ["devnet", "--data-dir", data.to_str().unwrap(), "--api-port", "0"];
    let devnet = Process::start_until(&args, &dir.join("first.log"), "devnet ready");
    let output = devnet.output();
    assert!(output.contains("INSECURE") && output.contains("//Alice"), "{output}");
    let chain = devnet.chain_id();
    let cluster: ClusterView = devnet.get_ok(&paths::cluster(1));
    let members: Vec<String> = cluster.workers.iter().map(|m| m.worker.clone()).collect();
    assert_eq!(members.len(), 2, "{cluster:?}");
    let workers = runtime_urls(&output, "worker-");
    assert_eq!(workers.len(), 2, "{output}");
    for url in &workers {
        let status = support::status_at(url);
        assert_eq!((status.role, status.cluster.map(|c| c.cluster)), (RuntimeRole::Worker, Some(1)));
        assert!(status.contracts.is_empty(), "{status:?}");
        assert!(members.contains(&status.identity));
    }
    let recorded: DevnetRecord =
        serde_json::from_str(&std::fs::read_to_string(data.join("devnet.json")).unwrap()).unwrap();
    assert_eq!(
        (recorded.rest_api.as_str(), recorded.workers.get(1).map(|w| w.url.as_str())),
        (&*devnet.url, Some(&*workers[1]))
    );
    for name in ["gatekeeper-0", "worker-1", "worker-2", "relay-gatekeeper-0", "relay-worker-1", "relay-worker-2"] {
        let log = data.join("logs").join(format!("{name}.log"));
        assert!(std::fs::metadata(&log).is_ok_and(|m| m.len() > 0), "{} is empty or missing", log.display());
    }
    let alice = pair("//Alice").public();
    let (alice_nonce, _) = devnet.account(&alice);
    let height = devnet.height();
    kill_devnet(devnet);

    // The same network again: chain, identities and cluster; Alice sends no second FormCluster.
    let json = ["--output", "json"];
    let devnet = Process::start_until(&[&args[..], &json[..]].concat(), &dir.join("second.log"), "ready_after_ms");
    let ready = devnet.ready_json();
    assert_eq!(devnet.chain_id(), chain);
    assert!(ready.height >= height, "{ready:?}");
    assert_eq!(identities(&ready.workers), members);
    assert_eq!(devnet.get_ok::<ClusterView>(&paths::cluster(1)).agreement, cluster.agreement);
    assert_eq!(devnet.account(&alice).0, alice_nonce);
    assert_eq!(ready.cluster, Some(1));
    assert!(ready.first_block_after_ms.unwrap() <= ready.ready_after_ms.unwrap(), "{ready:?}");
    kill_devnet(devnet);

    // --reset: a new chain and new runtimes.
    let reset = [&args[..], &json[..], &["--reset"][..]].concat();
    let devnet = Process::start_until(&reset, &dir.join("third.log"), "ready_after_ms");
    let ready = devnet.ready_json();
    assert_ne!(devnet.chain_id(), chain);
    assert!(identities(&ready.workers).iter().all(|identity| !members.contains(identity)), "{ready:?}");
    drop(devnet);
    std::fs::remove_dir_all(dir).unwrap();
}

/// Without `veil-worker` the devnet stops at once with one line that says how to fix it.
#[test]
fn a_missing_worker_binary_is_one_clear_error() {
    let dir = temp_dir("no-worker");
    let data = dir.join("data");
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_veil"))
        .args(["devnet", "--data-dir", data.to_str().unwrap(), "--api-port", "0"])
        .env("VEIL_WORKER_BIN", "/nonexistent")
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("veil-worker not found") && stderr.contains("cargo build"), "{stderr}");
    assert!(!stderr.contains("panic") && !stderr.contains("backtrace"), "{stderr}");
    assert!(!data.exists(), "nothing is written");
    std::fs::remove_dir_all(dir).unwrap();
}
