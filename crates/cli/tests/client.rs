//! The Rust SDK (`veil-client`) against real processes: the secret token deployed, commanded and
//! queried through it, and every way a lying node or worker could mislead a client caught: a node
//! that alters a proven value, a node of another chain, a worker that is not in the contract's
//! cluster, and a worker that impersonates a registered one.
#![allow(clippy::unwrap_used)]

mod support;

use parity_scale_codec::{DecodeAll as _, Encode as _};
use std::{net::TcpListener, sync::Arc, time::Duration};
use support::{ContractNetwork, Layout, pair, temp_dir};
use veil_client::{
    Error, Network, Node, Worker,
    api::{
        ErrorBody,
        node::{BlockView, ProvenStateView},
        paths,
        worker::RuntimeStatus,
    },
    contracts::{self, Acceptance, CommandOutcome, Session},
};
use veil_contract_engine::testing::contract_wasm;
use veil_http::{Limits, Request, Response, request, serve};
use veil_primitives::{Balance, ClusterId};
use veil_secret_token::{Asset, Command as Token, Query as TokenQuery};

const FUEL: u64 = 20_000_000;

/// Serves on loopback, forwarding every request to `target` and passing the answer through
/// `alter`; returns its URL. The server lives as long as the test process.
fn proxy(target: &str, alter: impl Fn(&Request, Vec<u8>) -> Vec<u8> + Send + Sync + 'static) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let target = target.strip_prefix("http://").unwrap().to_owned();
    let handler: Arc<dyn Fn(Request) -> Response + Send + Sync> = Arc::new(move |req: Request| {
        let path = if req.query.is_empty() { req.path.clone() } else { format!("{}?{}", req.path, req.query) };
        let (status, body) = request(&target, &req.method, &path, "application/octet-stream", &req.body).unwrap();
        let body = alter(&req, body);
        Response { status, content_type: "application/json", body }
    });
    std::thread::spawn(move || serve(listener, 2, Limits::default(), Arc::new(|_: &str, _: &str| 1 << 20), handler));
    url
}

#[test]
fn the_sdk_deploys_commands_and_verifies_every_answer() {
    let dir = temp_dir("client");
    let network =
        ContractNetwork::start_with(&dir, &Layout { gatekeepers: 1, workers: 2, cluster_size: 1, devnet: &[] });
    let genesis = dir.join("node/genesis.toml");
    let trusted = Network::from_genesis_file(&genesis).unwrap();
    let node = Node::connect(&network.node.url, trusted.clone()).unwrap();
    let (alice, bob) = (pair("//Alice"), pair("//Bob"));
    let member = Worker::new(&network.workers[0].url).unwrap();
    let standby = Worker::new(&network.workers[1].url).unwrap();

    // Deploy and use the token through the SDK alone.
    let (code, upload) = contracts::upload(&node, &alice, &contract_wasm("veil_secret_token")).unwrap();
    node.wait_finalized(&upload.hash, Duration::from_secs(60)).unwrap();
    let (token, created) =
        contracts::instantiate(&node, &alice, code, ClusterId(1), [3; 32], &().encode(), FUEL).unwrap();
    node.wait_finalized(&created.hash, Duration::from_secs(60)).unwrap();
    let token = contracts::wait_for_keys(&node, &token, Duration::from_secs(60)).unwrap();
    assert_eq!(token.info.code, code);
    let deposit = contracts::command(&node, &alice, &token, &Token::Deposit.encode(), FUEL, Balance(500)).unwrap();
    let height = node.wait_finalized(&deposit.hash, Duration::from_secs(60)).unwrap();
    let outcome = contracts::outcome(&member, &alice.public(), deposit.nonce, height, Duration::from_secs(60)).unwrap();
    assert!(matches!(outcome, CommandOutcome::Executed { .. }), "{outcome:?}");
    let to = veil_contract_engine::abi::AccountId(bob.public().0);
    let transfer = Token::Transfer { asset: Asset::Native, to, amount: 200, memo: b"x".to_vec() };
    let sent = contracts::command(&node, &alice, &token, &transfer.encode(), FUEL, Balance(0)).unwrap();
    let height = node.wait_finalized(&sent.hash, Duration::from_secs(60)).unwrap();
    contracts::outcome(&member, &alice.public(), sent.nonce, height, Duration::from_secs(60)).unwrap();
    // A command the contract refuses is reported as refused.
    let overdraw = Token::Transfer { asset: Asset::Native, to, amount: 10_000, memo: Vec::new() };
    let refused = contracts::command(&node, &alice, &token, &overdraw.encode(), FUEL, Balance(0)).unwrap();
    let refused_at = node.wait_finalized(&refused.hash, Duration::from_secs(60)).unwrap();
    let outcome =
        contracts::outcome(&member, &alice.public(), refused.nonce, refused_at, Duration::from_secs(60)).unwrap();
    assert!(
        matches!(&outcome, CommandOutcome::Refused(reason) if reason.code == "contract_failed" && reason.reason.contains("refused by the contract")),
        "{outcome:?}"
    );

    // A verified query, through the session of Bob's account, asked of both workers: the standby
    // worker is skipped because the chain does not list it in the token's cluster.
    let height = node.finalized_height().unwrap();
    let session = Session::new(&bob, trusted.chain_id(), height, height + 500).unwrap();
    let balance = TokenQuery::Balance { owner: to, asset: Asset::Native }.encode();
    let dev = Acceptance { insecure_workers: true, ..Acceptance::default() };
    let workers = [standby.clone(), member.clone()];
    let answer = contracts::query(&node, &workers, &session, &token, &balance, dev).unwrap();
    assert_eq!(u128::decode_all(&mut &answer.result.unwrap()[..]).unwrap(), 200);
    assert_eq!((answer.code, answer.insecure), (code, true));
    // Alice may not read Bob's balance: the contract refuses, and the refusal is verified too.
    let alice_session = Session::new(&alice, trusted.chain_id(), height, height + 500).unwrap();
    let answer = contracts::query(&node, &workers, &alice_session, &token, &balance, dev).unwrap();
    assert!(answer.result.unwrap_err().contains("owner"));

    // A client that does not accept software workers refuses their answers.
    let strict = contracts::query(&node, &workers, &session, &token, &balance, Acceptance::default());
    assert!(matches!(strict, Err(Error::Unverified(ref m)) if m.contains("software worker")), "{strict:?}");
    // Only the standby worker: it is not in the cluster.
    let outsider = contracts::query(&node, std::slice::from_ref(&standby), &session, &token, &balance, dev);
    assert!(matches!(outsider, Err(Error::NotFound(ref m)) if m.contains("not in cluster 1")), "{outsider:?}");

    // A node that alters a proven value (one byte of any inclusion proof's value) is caught.
    let lying_node = proxy(&network.node.url, |req, body| {
        if !req.path.starts_with("/v1/state/") {
            return body;
        }
        let Ok(mut view) = serde_json::from_slice::<ProvenStateView>(&body) else {
            // An error answer passes as it is.
            serde_json::from_slice::<ErrorBody>(&body).unwrap();
            return body;
        };
        if let Some(text) = &mut view.proof.value {
            let mut bytes = hex::decode(&text[2..]).unwrap();
            bytes[0] ^= 1;
            *text = format!("0x{}", hex::encode(bytes));
        }
        serde_json::to_vec(&view).unwrap()
    });
    let lied_to = Node::connect(&lying_node, trusted.clone()).unwrap();
    let read = lied_to.account(&alice.public());
    assert!(matches!(read, Err(Error::Unverified(_))), "{read:?}");
    let contract = contracts::deployed(&lied_to, &token.id);
    assert!(matches!(contract, Err(Error::Unverified(_))), "{contract:?}");
    let query = contracts::query(&lied_to, &workers, &session, &token, &balance, dev);
    assert!(matches!(query, Err(Error::Unverified(_))), "{query:?}");

    // Older blocks are verified by the hash chain from the newest certified one: a node that
    // alters one (a byte of a transaction's signature) is caught.
    let verified = node.block(Some(refused_at)).unwrap();
    assert!(verified.transactions.iter().any(|tx| tx.hash() == refused.hash));
    let forging_node = proxy(&network.node.url, |req, body| {
        if req.path == "/v1/blocks/latest" || !req.path.starts_with("/v1/blocks/") {
            return body;
        }
        let mut block: BlockView = serde_json::from_slice(&body).unwrap();
        let mut bytes = hex::decode(&block.encoded[2..]).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        block.encoded = format!("0x{}", hex::encode(bytes));
        serde_json::to_vec(&block).unwrap()
    });
    let forged = Node::connect(&forging_node, trusted.clone()).unwrap().block(Some(height - 1));
    assert!(matches!(forged, Err(Error::Unverified(_) | Error::Malformed(_))), "{forged:?}");

    // A node of another chain is refused at connection.
    let mut other = trusted.genesis().clone();
    other.chain_name.push_str("-other");
    let wrong = Node::connect(&network.node.url, Network::new(other).unwrap());
    assert!(matches!(wrong, Err(Error::WrongChain { .. })), "{wrong:?}");

    // A worker impersonating the member: it claims the member's identity in its status but is the
    // standby runtime, which cannot open a query sealed to the member's registered key (and could
    // not sign as the member if it could): the query fails and nothing unverified is returned.
    let member_status = member.status().unwrap();
    let impostor = proxy(standby.url(), move |req, body| {
        if req.path != paths::worker::STATUS {
            return body;
        }
        let mut status: RuntimeStatus = serde_json::from_slice(&body).unwrap();
        status.identity.clone_from(&member_status.identity);
        serde_json::to_vec(&status).unwrap()
    });
    let impostor = Worker::new(&impostor).unwrap();
    let fooled = contracts::query(&node, &[impostor], &session, &token, &balance, dev);
    assert!(fooled.is_err(), "{fooled:?}");
    // A man in the middle that alters the member's sealed answer: the answer does not open.
    let tampering = proxy(member.url(), |req, mut body| {
        if req.path == "/v1/query" && !body.is_empty() {
            let last = body.len() - 1;
            body[last] ^= 1;
        }
        body
    });
    let tampered = contracts::query(&node, &[Worker::new(&tampering).unwrap()], &session, &token, &balance, dev);
    assert!(matches!(tampered, Err(Error::Unverified(_))), "{tampered:?}");
}
