//! The wasm secret token end to end with real processes on loopback: a devnet node, the development
//! gatekeeper and a worker (software mode), each with its relayer. A cluster forms, the token is
//! uploaded and instantiated with a sealed constructor argument, tokens go in, move confidentially
//! and come out; afterwards the private fields of the transfers appear nowhere on disk or in any
//! log, while a marker in a public field is found by the same search.
#![allow(clippy::unwrap_used)]

mod support;

use parity_scale_codec::{DecodeAll as _, Encode as _};
use serde_json::Value;
use std::{path::Path, time::Duration};
use support::{Process, ask_worker, pair, relay, start_worker, status, submit, temp_dir, unhex, wait_until};
use veil_contract_engine::testing::contract_wasm;
use veil_crypto::{
    AccountPair, AgreementSecret,
    confidential::{AnswerResult, CommandBinding, seal_command},
};
use veil_primitives::{
    AccountId, Balance, Call, ClusterId, ContractId, KeyEpoch, SignedTransaction, Transaction, contract::contract_id,
    hashing::sha256,
};
use veil_secret_token::{Asset, Command as Token, Query as TokenQuery};

const ONE: u128 = Balance::ONE.0;
const FUEL: u64 = 20_000_000;
const CLUSTER: ClusterId = ClusterId(1);

fn units(value: &Value) -> u128 {
    value.as_str().unwrap().parse().unwrap()
}

fn marker() -> [u8; 16] {
    AgreementSecret::generate().unwrap().public()[..16].try_into().unwrap()
}

/// `from`'s transactions with consecutive nonces from its next one: `calls` get the nonce.
fn sign_all<'a>(
    node: &Process,
    from: &AccountPair,
    calls: Vec<Box<dyn FnOnce(u64) -> Call + 'a>>,
) -> Vec<SignedTransaction> {
    let (first, _) = node.account(&from.public());
    calls
        .into_iter()
        .enumerate()
        .map(|(i, call)| {
            let nonce = first + i as u64;
            let transaction = Transaction { genesis: node.chain_id(), signer: from.public(), nonce, call: call(nonce) };
            from.sign_transaction(transaction)
        })
        .collect()
}

/// A command to the token sealed to its published key for the transaction with `nonce`.
fn command(
    node: &Process,
    token: ContractId,
    agreement: &[u8; 32],
    from: &AccountPair,
    nonce: u64,
    token_command: &Token,
    value: u128,
) -> Call {
    let binding =
        CommandBinding { chain: node.chain_id(), contract: token, epoch: KeyEpoch(0), sender: from.public(), nonce };
    let payload = seal_command(agreement, &binding, &token_command.encode()).unwrap();
    Call::Command { contract: token, payload: payload.try_into().unwrap(), fuel: FUEL, value: Balance(value) }
}

/// Every file under `dir` that contains `needle` raw or as lowercase hex.
fn files_containing(dir: &Path, needle: &[u8]) -> Vec<String> {
    let hex = hex::encode(needle).into_bytes();
    let mut found = Vec::new();
    let mut pending = vec![dir.to_owned()];
    while let Some(path) = pending.pop() {
        if path.is_dir() {
            pending.extend(std::fs::read_dir(&path).unwrap().map(|entry| entry.unwrap().path()));
        } else if let Ok(bytes) = std::fs::read(&path) {
            let has = |n: &[u8]| bytes.windows(n.len()).any(|window| window == n);
            if has(needle) || has(&hex) {
                found.push(path.display().to_string());
            }
        }
    }
    found
}

fn balance_of(answer: AnswerResult) -> u128 {
    match answer {
        AnswerResult::Ok(bytes) => u128::decode_all(&mut &bytes[..]).unwrap(),
        AnswerResult::Refused(reason) => panic!("refused: {}", String::from_utf8_lossy(&reason)),
    }
}

#[test]
fn the_secret_token_runs_end_to_end_and_its_private_fields_stay_private() {
    let dir = temp_dir("contracts");
    let data = dir.join("node");
    let node =
        Process::start(&["devnet", "--data-dir", data.to_str().unwrap(), "--api-port", "0"], &dir.join("node.log"));
    let genesis = data.join("genesis.toml");
    let gatekeeper = start_worker(&dir, "gatekeeper", &genesis, &["--role", "gatekeeper", "--dev-gatekeeper"], &[]);
    let worker = start_worker(&dir, "worker", &genesis, &[], &[]);
    let relays =
        [relay(&dir, "gatekeeper", &node, &gatekeeper, None), relay(&dir, "worker", &node, &worker, Some("//Bob"))];
    let identity: [u8; 32] = unhex(&status(&worker)["identity"]).try_into().unwrap();
    node.wait_for(&format!("/v1/workers/0x{}", hex::encode(identity)), Duration::from_secs(60), |s, _| s == 200);

    // Alice, the devnet's registry admin, forms the cluster; the gatekeeper publishes its key.
    let (alice, charlie, dave, eve) = (pair("//Alice"), pair("//Charlie"), pair("//Dave"), pair("//Eve"));
    submit(&node, &alice, |_| Call::FormCluster { cluster: CLUSTER, workers: vec![identity].try_into().unwrap() });
    let cluster =
        node.wait_for("/v1/clusters/1", Duration::from_secs(60), |s, body| s == 200 && body["agreement"].is_string());
    let cluster_key: [u8; 32] = unhex(&cluster["agreement"]).try_into().unwrap();

    // Charlie uploads the token and instantiates it, the (empty) constructor argument sealed to the
    // cluster's key for that transaction.
    let wasm = contract_wasm("veil_secret_token");
    let code = sha256(&wasm);
    let salt = [1; 32];
    let token = contract_id(&charlie.public(), &code, &salt);
    submit(&node, &charlie, |_| Call::UploadCode { code: wasm.clone().try_into().unwrap() });
    submit(&node, &charlie, |nonce| {
        let binding = CommandBinding {
            chain: node.chain_id(),
            contract: token,
            epoch: KeyEpoch(0),
            sender: charlie.public(),
            nonce,
        };
        let argument = seal_command(&cluster_key, &binding, &().encode()).unwrap().try_into().unwrap();
        Call::Instantiate { code, cluster: CLUSTER, salt, fuel: FUEL, argument }
    });
    let path = format!("/v1/contracts/{token}");
    let view = node.wait_for(&path, Duration::from_secs(60), |s, body| s == 200 && body["keys"].is_object());
    assert_eq!((view["code"].as_str(), view["wasm"].as_bool()), (Some(code.to_string().as_str()), Some(true)));
    let agreement: [u8; 32] = unhex(&view["keys"]["agreement"]).try_into().unwrap();
    wait_until("the worker to deploy the token", Duration::from_secs(60), || {
        status(&worker)["contracts"].as_array().unwrap().iter().any(|c| c["available"] == true)
    });

    // Markers in the private fields of confidential transfers: a memo, a recipient, an amount.
    let (memo, recipient, amount) = (marker(), marker(), marker());
    let hidden = AccountId([recipient, [0; 16]].concat().try_into().unwrap());
    let abi = |account: AccountId| veil_contract_engine::abi::AccountId(account.0);
    let (native_transfer, issue, hidden_transfer) = (
        Token::Transfer { asset: Asset::Native, to: abi(dave.public()), amount: 300 * ONE, memo: memo.to_vec() },
        Token::Issue { symbol: b"MRK".to_vec(), supply: u128::MAX },
        Token::Transfer {
            asset: Asset::Token(0),
            to: abi(hidden),
            amount: u128::from_le_bytes(amount),
            memo: Vec::new(),
        },
    );
    let mut transactions = sign_all(
        &node,
        &charlie,
        vec![
            Box::new(|n| command(&node, token, &agreement, &charlie, n, &Token::Deposit, 1_000 * ONE)),
            Box::new(|n| command(&node, token, &agreement, &charlie, n, &native_transfer, 0)),
            Box::new(|n| command(&node, token, &agreement, &charlie, n, &issue, 0)),
            Box::new(|n| command(&node, token, &agreement, &charlie, n, &hidden_transfer, 0)),
        ],
    );
    // The positive control: a marker in a public field, a plain transfer's recipient.
    let public = marker();
    let visible = AccountId([public, [0; 16]].concat().try_into().unwrap());
    transactions.extend(sign_all(
        &node,
        &alice,
        vec![Box::new(|_| Call::Transfer { to: visible, amount: Balance(ONE) })],
    ));
    for transaction in &transactions {
        let (code, body) = node.submit(transaction);
        assert_eq!(code, 202, "{body}");
    }
    for transaction in &transactions {
        node.wait_finalized(&transaction.hash(), Duration::from_secs(60));
    }
    let withdraw = Token::Withdraw { amount: 100 * ONE, to: abi(eve.public()) };
    submit(&node, &dave, |n| command(&node, token, &agreement, &dave, n, &withdraw, 0));

    // The release reaches the chain: Eve holds exactly what Dave withdrew.
    let eve_before = node.account(&eve.public()).1;
    wait_until("the release to land", Duration::from_secs(60), || {
        node.account(&eve.public()).1 == eve_before + 100 * ONE
    });
    wait_until("the worker's egress to be acknowledged", Duration::from_secs(60), || {
        status(&worker)["pending_egress"] == 0
    });
    let refusals = status(&worker)["refusals"].clone();
    assert_eq!(refusals, Value::Array(Vec::new()), "nothing refused");

    // Owners read their balances; another account is refused; answers name the code.
    let ask = |by: &AccountPair, owner: &AccountPair| {
        let query = TokenQuery::Balance { owner: abi(owner.public()), asset: Asset::Native };
        ask_worker(&node, &worker, by, token, &query.encode()).unwrap()
    };
    let answer = ask(&charlie, &charlie);
    assert_eq!(answer.code, code, "every answer names the code hash");
    assert_eq!(balance_of(answer.result), 700 * ONE);
    assert_eq!(balance_of(ask(&dave, &dave).result), 200 * ONE);
    let refused = ask(&dave, &charlie).result;
    assert!(
        matches!(&refused, AnswerResult::Refused(reason) if String::from_utf8_lossy(reason).contains("only the owner")),
        "{refused:?}"
    );

    // Public balances: the chain locks what the confidential balances hold; issuance adds up.
    let locked = ask_worker(&node, &worker, &eve, token, &TokenQuery::Locked.encode()).unwrap();
    assert_eq!(balance_of(locked.result), 900 * ONE);
    assert_eq!(units(&node.get(&path).1["locked_units"]), 900 * ONE);
    let (_, chain) = node.get("/v1/chain");
    let issuance = &chain["issuance"];
    assert_eq!(
        units(&issuance["total"]),
        units(&issuance["genesis"]) + units(&issuance["minted"]) - units(&issuance["burned"])
    );

    // Stop everything (logs flushed), then search every byte the processes left behind.
    drop(relays);
    drop((worker, gatekeeper, node));
    for (name, needle) in [("memo", memo), ("recipient", recipient), ("amount", amount)] {
        let found = files_containing(&dir, &needle);
        assert!(found.is_empty(), "the {name} marker leaked into {found:?}");
    }
    let control = files_containing(&data, &public);
    assert!(!control.is_empty(), "the public marker is found in the node's data: the search works");
}
