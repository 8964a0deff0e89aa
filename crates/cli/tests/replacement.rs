//! A cluster outlives a worker, end to end with real processes on loopback: one validator (the
//! devnet node), two gatekeepers and three workers (software mode), each behind `veil relay`. The
//! second gatekeeper registers, the first checks it and shares the master key, and both sign the
//! same deliveries (no discrepancy is ever recorded). The secret token runs on a 2-worker cluster;
//! after transfers one worker is killed, transfers and queries go on at the other, a relayer reports
//! the silent worker, the chain assigns the standby worker, which takes over a live worker's sealed
//! snapshot and serves queries with the same state root. A rotation then moves the token to new keys
//! on both replicas.
#![allow(clippy::unwrap_used)]

mod support;

use parity_scale_codec::{DecodeAll as _, Encode as _};
use std::time::Duration;
use support::{
    ContractNetwork, Layout, Process, ask_worker, identity, pair, roots_at_one_height, status, submit, temp_dir,
    wait_until,
};
use veil_client::api::{
    node::{ClusterView, ContractView, SnapshotView},
    paths::node as paths,
};
use veil_contract_engine::testing::contract_wasm;
use veil_crypto::{AccountPair, confidential::AnswerResult};
use veil_primitives::{Balance, SystemTopic, Topic};
use veil_secret_token::{Asset, Command as Token, Query as TokenQuery};

const ONE: u128 = Balance::ONE.0;
const FUEL: u64 = 20_000_000;

fn balance(node: &Process, worker: &Process, token: veil_primitives::ContractId, owner: &AccountPair) -> u128 {
    let abi = veil_contract_engine::abi::AccountId(owner.public().0);
    let query = TokenQuery::Balance { owner: abi, asset: Asset::Native };
    match ask_worker(node, worker, owner, token, &query.encode()).unwrap().result {
        AnswerResult::Ok(bytes) => u128::decode_all(&mut &bytes[..]).unwrap(),
        AnswerResult::Refused(reason) => panic!("refused: {}", String::from_utf8_lossy(&reason)),
    }
}

#[test]
fn a_killed_worker_is_replaced_and_the_token_goes_on() {
    let dir = temp_dir("replacement");
    let devnet = ["--heartbeat-ms", "300", "--offline-after-ms", "3000"];
    let mut network =
        ContractNetwork::start_with(&dir, &Layout { gatekeepers: 2, workers: 3, cluster_size: 2, devnet: &devnet });
    let node = &network.node;
    let (charlie, dave) = (pair("//Charlie"), pair("//Dave"));

    // The second gatekeeper got the master key from the first, after checking its registration.
    let master = |gatekeeper: &Process| status(gatekeeper).master_public;
    wait_until("the second gatekeeper to hold the master key", Duration::from_secs(60), || {
        master(&network.gatekeepers[1]).is_some()
    });
    assert_eq!(master(&network.gatekeepers[0]), master(&network.gatekeepers[1]));

    // The token on cluster 1 (workers 0 and 1); worker 2 stands by.
    let wasm = contract_wasm("veil_secret_token");
    let (key, _) = network.deploy(&charlie, &wasm, &().encode(), FUEL);
    let token = key.contract;
    let abi = |account: &AccountPair| veil_contract_engine::abi::AccountId(account.public().0);
    let send = |from: &AccountPair, command: Token, value: u128| {
        submit(node, from, |nonce| key.call(node.chain_id(), from, nonce, &command.encode(), FUEL, value));
    };
    send(&charlie, Token::Deposit, 1_000 * ONE);
    let transfer = |amount: u128| Token::Transfer { asset: Asset::Native, to: abi(&dave), amount, memo: Vec::new() };
    send(&charlie, transfer(100 * ONE), 0);
    for worker in &network.workers[..2] {
        wait_until("both replicas to execute", Duration::from_secs(60), || {
            balance(node, worker, token, &dave) == 100 * ONE
        });
    }

    // Worker 1 dies with its relayer (a machine lost). The contract goes on at worker 0.
    let killed = identity(&network.workers[1]);
    let (workers, relays) = (network.workers.len(), network.gatekeepers.len());
    network.relays[relays + 1].kill();
    network.workers[1].kill();
    let live = &network.workers[0];
    send(&charlie, transfer(50 * ONE), 0);
    wait_until("the live replica to execute", Duration::from_secs(60), || {
        balance(node, live, token, &dave) == 150 * ONE
    });
    assert_eq!(balance(node, live, token, &charlie), 850 * ONE);

    // Its relayer reports the silent worker; the chain assigns the standby worker.
    let standby = &network.workers[workers - 1];
    let replacement = format!("0x{}", hex::encode(identity(standby)));
    let cluster = node.wait_for(&paths::cluster(1), Duration::from_secs(60), |cluster: &ClusterView| {
        cluster.workers.iter().any(|member| member.worker == replacement)
    });
    let members: Vec<&str> = cluster.workers.iter().map(|m| m.worker.as_str()).collect();
    assert!(!members.contains(&format!("0x{}", hex::encode(killed)).as_str()), "{members:?}");
    assert_eq!(members.len(), 2);

    // The replacement takes over a snapshot and serves queries; transfers go on at both.
    wait_until("the replacement to take over the snapshot", Duration::from_secs(60), || {
        status(standby).cluster.is_some_and(|cluster| !cluster.awaiting_snapshot)
    });
    send(&charlie, transfer(25 * ONE), 0);
    for worker in [live, standby] {
        wait_until("both replicas to execute", Duration::from_secs(60), || {
            balance(node, worker, token, &dave) == 175 * ONE
        });
        assert_eq!(balance(node, worker, token, &charlie), 825 * ONE);
    }
    let (live_root, replacement_root) = roots_at_one_height(live, standby);
    assert_eq!(live_root, replacement_root, "the replacement holds the same state");
    for worker in [live, standby] {
        let refusals = status(worker).refusals;
        assert!(refusals.is_empty(), "nothing refused: {refusals:?}");
    }

    // A rotation by the admin: a fresh master key from either gatekeeper, new keys for the cluster
    // and the token; both replicas re-encrypt the token's state and take transfers sealed to the
    // new key, and a transfer sealed to the old key still works in the grace period.
    submit(node, &pair("//Alice"), |_| veil_primitives::Call::Epochs(veil_primitives::EpochsCall::RotateKeys));
    let path = paths::contract(token);
    let view = node.wait_for(&path, Duration::from_secs(60), |view: &ContractView| {
        view.keys.as_ref().is_some_and(|keys| keys.epoch == 1)
    });
    let rotated = support::CommandKey {
        contract: token,
        epoch: veil_primitives::KeyEpoch(1),
        agreement: support::unhex(&view.keys.unwrap().agreement).try_into().unwrap(),
    };
    for worker in [live, standby] {
        wait_until("both replicas to re-key the token", Duration::from_secs(60), || {
            status(worker).contracts.iter().all(|c| c.epoch == 1)
        });
    }
    submit(node, &charlie, |nonce| {
        rotated.call(node.chain_id(), &charlie, nonce, &transfer(5 * ONE).encode(), FUEL, 0)
    });
    send(&charlie, transfer(5 * ONE), 0);
    for worker in [live, standby] {
        wait_until("both replicas to execute", Duration::from_secs(60), || {
            balance(node, worker, token, &dave) == 185 * ONE
        });
    }
    let (live_root, replacement_root) = roots_at_one_height(live, standby);
    assert_eq!(live_root, replacement_root, "the same state after the rotation");
    let epoch_one_master = master(&network.gatekeepers[0]);
    wait_until("both gatekeepers to hold the new master key", Duration::from_secs(60), || {
        master(&network.gatekeepers[1]) == epoch_one_master
    });

    // Two gatekeepers signed every delivery alike: the chain never recorded a differing copy.
    let discrepancies = support::topic_messages(node, &Topic::System(SystemTopic::Discrepancies));
    assert!(discrepancies.is_empty(), "{} discrepancies", discrepancies.len());
}

/// Issue 22, item 1: a whole network stopped for three offline windows and started again keeps its
/// cluster. Before, relayers reported live members before their first heartbeat landed and the
/// chain removed them for good; now the chain counts silence from its own resumption, and a
/// relayer reports only once its runtime is synced, never its own.
#[test]
fn a_network_stopped_for_three_offline_windows_keeps_its_cluster() {
    let dir = temp_dir("downtime");
    let devnet = ["--heartbeat-ms", "300", "--offline-after-ms", "3000"];
    let mut network =
        ContractNetwork::start_with(&dir, &Layout { gatekeepers: 1, workers: 2, cluster_size: 2, devnet: &devnet });
    let (charlie, dave) = (pair("//Charlie"), pair("//Dave"));
    let wasm = contract_wasm("veil_secret_token");
    let (key, _) = network.deploy(&charlie, &wasm, &().encode(), FUEL);
    let token = key.contract;
    let abi = |account: &AccountPair| veil_contract_engine::abi::AccountId(account.public().0);
    let transfer = |amount: u128| Token::Transfer { asset: Asset::Native, to: abi(&dave), amount, memo: Vec::new() };
    let send = |node: &Process, command: Token, value: u128| {
        submit(node, &charlie, |nonce| key.call(node.chain_id(), &charlie, nonce, &command.encode(), FUEL, value));
    };
    send(&network.node, Token::Deposit, 1_000 * ONE);
    let members = |node: &Process| -> Vec<String> {
        node.get_ok::<ClusterView>(&paths::cluster(1)).workers.into_iter().map(|member| member.worker).collect()
    };
    let before = members(&network.node);
    assert_eq!(before.len(), 2);
    // A member's relayer uploads the cluster's sealed snapshot; the node keeps it on disk.
    let snapshot = network.node.wait_for(&paths::snapshot(1), Duration::from_secs(60), |_: &SnapshotView| true);

    // Everything stops: relayers, runtimes, the validator; three offline windows pass.
    for process in network.relays.iter_mut().chain(&mut network.workers).chain(&mut network.gatekeepers) {
        process.kill();
    }
    network.node.kill();
    std::thread::sleep(Duration::from_millis(3 * 3_000));

    // Everything starts again from its data.
    let data = dir.join("node");
    let mut args = vec!["devnet", "--data-dir", data.to_str().unwrap(), "--api-port", "0", "--validator-only"];
    args.extend_from_slice(&devnet);
    let node = Process::start(&args, &dir.join("node-again.log"));
    let kept: SnapshotView = node.get_ok(&paths::snapshot(1));
    assert_eq!(kept, snapshot, "the node kept the cluster's snapshot across its restart");
    let genesis = data.join("genesis.toml");
    let mut relays = Vec::new();
    let gatekeeper =
        support::start_worker(&dir, "gatekeeper0", &genesis, &["--role", "gatekeeper", "--dev-gatekeeper", "0"], &[]);
    relays.push(support::relay(&dir, "gatekeeper0-again", &node, &gatekeeper, Some("//Bob")));
    let workers: Vec<Process> = (0..2)
        .map(|index| {
            let name = format!("worker{index}");
            let worker = support::start_worker(&dir, &name, &genesis, &[], &[]);
            relays.push(support::relay(&dir, &format!("{name}-again"), &node, &worker, Some("//Bob")));
            worker
        })
        .collect();

    // Two offline windows after the restart, both members are still in the cluster, and the token
    // takes a transfer that both execute.
    std::thread::sleep(Duration::from_millis(2 * 3_000));
    assert_eq!(members(&node), before, "the restart removed a live member");
    send(&node, transfer(100 * ONE), 0);
    for worker in &workers {
        wait_until("both replicas to execute", Duration::from_secs(60), || {
            balance(&node, worker, token, &dave) == 100 * ONE
        });
    }
    assert_eq!(members(&node), before);
    drop((gatekeeper, relays));
}
