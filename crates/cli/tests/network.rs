//! Four validators as real processes on loopback: Byzantine fault tolerance in practice.
#![allow(clippy::unwrap_used)]

mod support;

use std::{collections::BTreeMap, time::Duration};
use support::{Process, free_ports, pair, temp_dir, transfer};
use veil_client::api::{node::BlockView, paths::node as paths};
use veil_primitives::Hash;

const FINALITY: Duration = Duration::from_secs(60);

/// Transfers finalize on 4 validators; SIGKILL of one leaves the other three finalizing; the killed
/// one restarts and catches up; and every accepted transfer is in exactly one finalized block.
#[test]
fn four_validators_survive_a_kill_and_catch_up() {
    let dir = temp_dir("network");
    let p2p = free_ports(8);
    let api = p2p + 4;
    let out = dir.join("net");
    let written = std::process::Command::new(env!("CARGO_BIN_EXE_veil"))
        .args(["testnet-config", "--validators", "4", "--out", out.to_str().unwrap()])
        .args(["--p2p-base-port", &p2p.to_string(), "--api-base-port", &api.to_string()])
        .output()
        .unwrap();
    assert!(written.status.success(), "{}", String::from_utf8_lossy(&written.stderr));
    let start = |i: usize, run: &str| {
        let config = out.join(format!("validator-{i}/node.toml"));
        Process::start(&["node", "--config", config.to_str().unwrap()], &dir.join(format!("validator-{i}-{run}.log")))
    };
    let mut nodes: Vec<Process> = (0..4).map(|i| start(i, "first")).collect();
    let chain = nodes[0].chain_id();
    let senders = ["//Alice", "//Bob", "//Charlie", "//Dave"].map(pair);
    let recipient = pair("//Ferdie").public();
    let mut nonces = [0u64; 4];
    let mut accepted: Vec<Hash> = Vec::new();
    let mut highest = 0;
    let mut send = |nodes: &[Process], to_nodes: &[usize], rounds: usize| {
        let mut sent = Vec::new();
        for _ in 0..rounds {
            for &i in to_nodes {
                let tx = transfer(chain, &senders[i], nonces[i], recipient, 1);
                let (status, body) = nodes[i].submit(&tx);
                assert_eq!(status, 202, "{body:?}");
                nonces[i] += 1;
                sent.push((i, tx.hash()));
            }
        }
        sent
    };

    // Phase 1: all four validators, transfers through each.
    let sent = send(&nodes, &[0, 1, 2, 3], 3);
    for (i, hash) in &sent {
        highest = highest.max(nodes[*i].wait_finalized(hash, FINALITY));
        accepted.push(*hash);
    }

    // Phase 2: SIGKILL validator 3; the other three go on finalizing.
    nodes[3].kill();
    let before = nodes[0].height();
    let sent = send(&nodes, &[0, 1, 2], 3);
    for (i, hash) in &sent {
        highest = highest.max(nodes[*i].wait_finalized(hash, FINALITY));
        accepted.push(*hash);
    }
    assert!(nodes[0].height() > before, "finalization stopped without validator 3");

    // Phase 3: validator 3 restarts from its disk and catches up with the others.
    nodes[3] = start(3, "second");
    let target = nodes[0].height();
    let deadline = std::time::Instant::now() + FINALITY;
    while nodes[3].height() < target {
        assert!(std::time::Instant::now() < deadline, "validator 3 did not catch up to {target}");
        std::thread::sleep(Duration::from_millis(200));
    }
    let sent = send(&nodes, &[3], 2);
    for (i, hash) in &sent {
        highest = highest.max(nodes[*i].wait_finalized(hash, FINALITY));
        accepted.push(*hash);
    }

    // Every accepted transfer is in exactly one finalized block, and every validator agrees. The
    // validator that reported the last transfer may be a block ahead of the others: wait for all.
    let deadline = std::time::Instant::now() + FINALITY;
    while nodes.iter().map(Process::height).min().unwrap() < highest {
        assert!(std::time::Instant::now() < deadline, "validators did not all reach {highest}");
        std::thread::sleep(Duration::from_millis(100));
    }
    let top = highest;
    let mut seen: BTreeMap<String, Vec<u64>> = BTreeMap::new();
    for height in 1..=top {
        let block: BlockView = nodes[0].get_ok(&paths::block(height));
        for node in &nodes[1..] {
            assert_eq!(node.get_ok::<BlockView>(&paths::block(height)).hash, block.hash, "fork at {height}");
        }
        for tx in &block.transactions {
            seen.entry(tx.hash.clone()).or_default().push(height);
        }
    }
    for hash in &accepted {
        assert_eq!(
            seen.get(&hash.to_string()).map(Vec::len),
            Some(1),
            "transfer {hash} in {:?}",
            seen.get(&hash.to_string())
        );
    }
    assert_eq!(seen.len(), accepted.len(), "no transfer finalized that was not submitted");
    // Each validator serves certificates (3-of-4 threshold signatures) a light client accepts.
    for node in &nodes {
        assert!(node.verify_latest_certificate() >= 1);
    }
    let (_, ferdie) = nodes[1].account(&recipient);
    assert_eq!(ferdie, (1_000_000 + accepted.len() as u128) * 1_000_000_000_000);
    drop(nodes);
    std::fs::remove_dir_all(dir).unwrap();
}
