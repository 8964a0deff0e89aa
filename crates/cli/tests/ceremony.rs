//! The genesis ceremony with real processes on loopback, on the software platform, with no
//! development seed or account anywhere: three gatekeeper runtimes and two worker runtimes each
//! generate their identity (`veil-worker init`), `veil genesis assemble` writes the genesis from
//! their records and fresh accounts, the validator starts, epoch 0 opens (the first gatekeeper
//! generates the master key, the others receive it), the admin forms a cluster and the secret
//! token works. A software runtime the genesis does not list cannot register.
//!
//! What needs hardware to exercise: a record's quote (`veil genesis assemble` verifies it against
//! Intel's collateral and checks that its report data binds the identity); here every record is a
//! software one, so the genesis lets in exactly the runtimes it lists.
#![allow(clippy::unwrap_used)]

mod support;

use parity_scale_codec::{DecodeAll as _, Encode as _};
use std::{path::Path, process::Command, time::Duration};
use support::{
    ContractNetwork, Process, ask_worker, relay, start_worker, status, submit, temp_dir, wait_until, worker_binary,
};
use veil_client::api::worker::IdentityRecord;
use veil_contract_engine::testing::contract_wasm;
use veil_crypto::{AccountPair, AgreementSecret, confidential::AnswerResult};
use veil_primitives::{Attestation, Balance, Call, RegistrationInfo, RegistryCall, Transaction};
use veil_secret_token::{Asset, Command as Token, Query as TokenQuery};

const ONE: u128 = Balance::ONE.0;
const FUEL: u64 = 20_000_000;

/// `veil-worker init` for the runtime whose data lives in `dir/name`: its identity record.
fn init(dir: &Path, name: &str) -> IdentityRecord {
    let output =
        Command::new(worker_binary()).args(["init", "--data-dir", dir.join(name).to_str().unwrap()]).output().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    serde_json::from_slice(&output.stdout).unwrap()
}

/// A fresh account (a random mnemonic, never a development URI) and its secret phrase.
fn fresh_account() -> (String, AccountPair) {
    let (phrase, pair) = AccountPair::generate(12).unwrap();
    (phrase.to_string(), pair)
}

#[test]
fn three_gatekeepers_without_development_seeds_hold_a_genesis_ceremony_and_the_network_runs() {
    let dir = temp_dir("ceremony");
    let gatekeeper_names = ["gatekeeper0", "gatekeeper1", "gatekeeper2"];
    let worker_names = ["worker0", "worker1"];
    let records: Vec<IdentityRecord> =
        gatekeeper_names.iter().chain(&worker_names).map(|name| init(&dir, name)).collect();
    let (operator_phrase, operator) = fresh_account();
    let (_, admin) = fresh_account();

    let veil = Path::new(env!("CARGO_BIN_EXE_veil"));
    let net = dir.join("net");
    let record_path = |name: &str| dir.join(name).join("identity.json").to_str().unwrap().to_owned();
    let p2p = support::free_ports(1).to_string();
    let (admin_id, operator_id) = (admin.public().to_string(), operator.public().to_string());
    let (fund_admin, fund_operator) = (format!("{admin_id}=1000000"), format!("{operator_id}=1000000"));
    let mut args = vec![
        "genesis".to_owned(),
        "assemble".into(),
        "--out".into(),
        net.to_str().unwrap().into(),
        "--p2p-base-port".into(),
        p2p,
        "--api-base-port".into(),
        "0".into(),
        "--admin".into(),
        admin_id.clone(),
        "--fund".into(),
        fund_admin,
        "--fund".into(),
        fund_operator,
        "--heartbeat-ms".into(),
        "500".into(),
    ];
    for name in gatekeeper_names {
        args.extend(["--gatekeeper-record".into(), record_path(name)]);
    }
    for name in worker_names {
        args.extend(["--worker-record".into(), record_path(name)]);
    }
    let output = Command::new(veil).args(&args).output().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));

    // The genesis names exactly the records' identities, in order, and no development key.
    let genesis_path = net.join("genesis.toml");
    let genesis = veil_chain::Genesis::from_toml(&std::fs::read_to_string(&genesis_path).unwrap()).unwrap();
    let identities: Vec<String> = records.iter().map(|record| record.identity.clone()).collect();
    let named: Vec<String> =
        genesis.gatekeeper_identities().iter().map(|id| format!("0x{}", hex::encode(id))).collect();
    assert_eq!(named, identities[..3]);
    let listed: Vec<String> =
        genesis.registration.insecure_identities.iter().map(|id| format!("0x{}", hex::encode(id))).collect();
    assert_eq!(listed, identities);
    let development = veil_node::testnet::dev_gatekeeper().public();
    assert!(!genesis.gatekeeper_identities().contains(&development));
    assert_eq!((genesis.registration.measurement_admin, genesis.keys.rotation_admin), (admin.public(), admin.public()));
    let dev_accounts: Vec<_> = veil_node::testnet::DEV_ACCOUNTS
        .iter()
        .map(|uri| AccountPair::from_suri(uri, None).unwrap().public())
        .collect();
    assert!(genesis.balances.iter().all(|balance| !dev_accounts.contains(&balance.account)));

    // The validator, then each runtime from the data directory it was initialised in (its identity
    // is the sealed one), registered by the operator.
    let config = net.join("validator-0").join("node.toml");
    let node = Process::start(&["node", "--config", config.to_str().unwrap()], &dir.join("node.log"));
    let start = |name: &str, role: &[&str]| {
        let mut extra = role.to_vec();
        extra.extend(["--operator", &operator_id]);
        let runtime = start_worker(&dir, name, &genesis_path, &extra, &[]);
        let relayer = relay(&dir, name, &node, &runtime, Some(&operator_phrase));
        (runtime, relayer)
    };
    let mut relays = Vec::new();
    let gatekeepers: Vec<Process> = gatekeeper_names
        .iter()
        .map(|name| {
            let (runtime, relayer) = start(name, &["--role", "gatekeeper"]);
            relays.push(relayer);
            runtime
        })
        .collect();
    let workers: Vec<Process> = worker_names
        .iter()
        .map(|name| {
            let (runtime, relayer) = start(name, &[]);
            relays.push(relayer);
            runtime
        })
        .collect();
    for (runtime, record) in gatekeepers.iter().chain(&workers).zip(&records) {
        assert_eq!(status(runtime).identity, record.identity, "the runtime runs as its sealed identity");
    }

    // Epoch 0 opens: the first gatekeeper generates the master key, the others receive it.
    wait_until("every gatekeeper to hold the first master key", Duration::from_secs(90), || {
        let masters: Vec<Option<String>> = gatekeepers.iter().map(|g| status(g).master_public).collect();
        masters[0].is_some() && masters.iter().all(|master| *master == masters[0])
    });

    // A software runtime the genesis does not list cannot register.
    let stranger = veil_crypto::RuntimeSigner::from_seed(&veil_crypto::SecretBytes::new([0x42; 32]));
    let info = RegistrationInfo {
        signing_key: stranger.public(),
        agreement_key: AgreementSecret::generate().unwrap().public(),
        genesis: node.chain_id(),
        operator: operator.public(),
    };
    let (nonce, _) = node.account(&operator.public());
    let register = Call::Registry(RegistryCall::RegisterWorker { info, attestation: Attestation::InsecureSoftware });
    let tx = operator.sign_transaction(Transaction {
        genesis: node.chain_id(),
        signer: operator.public(),
        nonce,
        call: register,
    });
    let (status_code, body) = node.submit(&tx);
    let refusal = body.unwrap_err();
    assert_eq!(status_code, 400, "{refusal:?}");
    assert!(refusal.message.contains("insecure_identities"), "{refusal:?}");

    // The admin forms a cluster of both workers; the secret token works.
    let network = ContractNetwork::form(node, gatekeepers, workers, relays, &admin, 2);
    let wasm = contract_wasm("veil_secret_token");
    let (key, _) = network.deploy(&operator, &wasm, &().encode(), FUEL);
    let node = &network.node;
    submit(node, &operator, |nonce| {
        key.call(node.chain_id(), &operator, nonce, &Token::Deposit.encode(), FUEL, 500 * ONE)
    });
    let query =
        TokenQuery::Balance { owner: veil_contract_engine::abi::AccountId(operator.public().0), asset: Asset::Native };
    for worker in &network.workers {
        wait_until("the deposit to reach the worker", Duration::from_secs(60), || {
            match ask_worker(node, worker, &operator, key.contract, &query.encode()).unwrap().result {
                AnswerResult::Ok(bytes) => u128::decode_all(&mut &bytes[..]).unwrap() == 500 * ONE,
                AnswerResult::Refused(reason) => panic!("refused: {}", String::from_utf8_lossy(&reason)),
            }
        });
    }
}
