//! The wasm secret token end to end with real processes on loopback: a devnet node, the development
//! gatekeeper and a worker (software mode), each with its relayer. A cluster forms, the token is
//! uploaded and instantiated with a sealed constructor argument, tokens go in, move confidentially
//! and come out; afterwards the private fields of the transfers appear nowhere on disk or in any
//! log, while a marker in a public field is found by the same search.
#![allow(clippy::unwrap_used)]

mod support;

use parity_scale_codec::{DecodeAll as _, Encode as _};
use std::{path::Path, time::Duration};
use support::{ContractNetwork, Process, ask_worker, pair, status, submit, temp_dir, unhex, wait_until};
use veil_client::{
    api::{
        ErrorCode,
        node::{ContractModuleView, ContractView},
        paths::node as paths,
    },
    interface::Interface,
};
use veil_contract_engine::testing::contract_wasm;
use veil_crypto::{AccountPair, AgreementSecret, confidential::AnswerResult};
use veil_primitives::{AccountId, AccountsCall, Balance, Call, SignedTransaction, Transaction};
use veil_secret_token::{Asset, Command as Token, Query as TokenQuery};

const ONE: u128 = Balance::ONE.0;
const FUEL: u64 = 20_000_000;

fn units(value: &str) -> u128 {
    value.parse().unwrap()
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
    let network = ContractNetwork::start(&dir);
    let (node, worker) = (&network.node, network.worker());
    let (alice, charlie, dave, eve) = (pair("//Alice"), pair("//Charlie"), pair("//Dave"), pair("//Eve"));

    // Charlie uploads the token and instantiates it, the (empty) constructor argument sealed to the
    // cluster's key for that transaction.
    let wasm = contract_wasm("veil_secret_token");
    let (key, code) = network.deploy(&charlie, &wasm, &().encode(), FUEL);
    let token = key.contract;
    let command = |from: &AccountPair, nonce: u64, command: &Token, value: u128| {
        key.call(node.chain_id(), from, nonce, &command.encode(), FUEL, value)
    };
    let path = paths::contract(token);

    // The node serves the module and the interface it ships, for tools in any language.
    let served: ContractModuleView = node.get_ok(&paths::contract_module(token));
    assert_eq!(unhex(&served.module), wasm);
    assert_eq!(served.code, code.to_string());
    let interface = served.interface.as_ref().map(|document| Interface::from_json(&document.to_string()).unwrap());
    assert_eq!(interface.as_ref().map(|i| i.name.as_str()), Some("secret-token"), "{:?}", served.interface);
    let (missing, body) = node.get_error(&paths::contract_module(format!("0x{}", "00".repeat(32))));
    assert_eq!((missing, body.code), (404, ErrorCode::NotFound), "{body:?}");
    let (malformed, body) = node.get_error(&paths::contract_module("0x12"));
    assert_eq!((malformed, body.code), (400, ErrorCode::BadContract), "{body:?}");

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
        node,
        &charlie,
        vec![
            Box::new(|n| command(&charlie, n, &Token::Deposit, 1_000 * ONE)),
            Box::new(|n| command(&charlie, n, &native_transfer, 0)),
            Box::new(|n| command(&charlie, n, &issue, 0)),
            Box::new(|n| command(&charlie, n, &hidden_transfer, 0)),
        ],
    );
    // The positive control: a marker in a public field, a plain transfer's recipient.
    let public = marker();
    let visible = AccountId([public, [0; 16]].concat().try_into().unwrap());
    transactions.extend(sign_all(
        node,
        &alice,
        vec![Box::new(|_| Call::Accounts(AccountsCall::Transfer { to: visible, amount: Balance(ONE) }))],
    ));
    for transaction in &transactions {
        let (code, body) = node.submit(transaction);
        assert_eq!(code, 202, "{body:?}");
    }
    for transaction in &transactions {
        node.wait_finalized(&transaction.hash(), Duration::from_secs(60));
    }
    let withdraw = Token::Withdraw { amount: 100 * ONE, to: abi(eve.public()) };
    submit(node, &dave, |n| command(&dave, n, &withdraw, 0));

    // The release reaches the chain: Eve holds exactly what Dave withdrew.
    let eve_before = node.account(&eve.public()).1;
    wait_until("the release to land", Duration::from_secs(60), || {
        node.account(&eve.public()).1 == eve_before + 100 * ONE
    });
    wait_until("the worker's egress to be acknowledged", Duration::from_secs(60), || {
        status(worker).pending_egress == 0
    });
    let refusals = status(worker).refusals;
    assert!(refusals.is_empty(), "nothing refused: {refusals:?}");

    // Owners read their balances; another account is refused; answers name the code.
    let ask = |by: &AccountPair, owner: &AccountPair| {
        let query = TokenQuery::Balance { owner: abi(owner.public()), asset: Asset::Native };
        ask_worker(node, worker, by, token, &query.encode()).unwrap()
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
    let locked = ask_worker(node, worker, &eve, token, &TokenQuery::Locked.encode()).unwrap();
    assert_eq!(balance_of(locked.result), 900 * ONE);
    assert_eq!(units(&node.get_ok::<ContractView>(&path).locked_units), 900 * ONE);
    let issuance = node.chain().issuance;
    assert_eq!(units(&issuance.total), units(&issuance.genesis) + units(&issuance.minted) - units(&issuance.burned));

    // Stop everything (logs flushed), then search every byte the processes left behind.
    drop(network);
    for (name, needle) in [("memo", memo), ("recipient", recipient), ("amount", amount)] {
        let found = files_containing(&dir, &needle);
        assert!(found.is_empty(), "the {name} marker leaked into {found:?}");
    }
    let control = files_containing(&dir.join("node"), &public);
    assert!(!control.is_empty(), "the public marker is found in the node's data: the search works");
}
