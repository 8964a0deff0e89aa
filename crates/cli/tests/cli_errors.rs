//! Bad input at the network commands: one line on standard error that says what was wrong and
//! what to do, a non-zero exit code scripts can rely on, never a panic or a stack trace, and no
//! change on chain.
#![allow(clippy::unwrap_used)]

mod support;

use std::process::Command;
use support::{free_ports, pair, start_validator, temp_dir};

/// Runs `veil ARGS` with the devnet defaults pointing at `devnet`; its exit code and stderr.
fn veil(devnet: &std::path::Path, args: &[&str]) -> (i32, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_veil"))
        .args(args)
        .env("VEIL_DEVNET", devnet)
        .env_remove("VEIL_NODE")
        .env_remove("VEIL_GENESIS")
        .env_remove("VEIL_WORKERS")
        .output()
        .unwrap();
    (output.status.code().unwrap(), String::from_utf8_lossy(&output.stderr).into_owned())
}

#[test]
fn bad_input_gets_one_line_and_a_clear_exit_code() {
    let dir = temp_dir("cli-errors");
    let (node, genesis) = start_validator(&dir);
    let data = genesis.parent().unwrap().to_owned();
    let alice = pair("//Alice");
    let (nonce_before, balance_before) = node.account(&alice.public());
    let url = node.url.as_str();
    let genesis = genesis.to_str().unwrap();
    let dead = format!("http://127.0.0.1:{}", free_ports(1));
    let no_contract = format!("0x{}", "ab".repeat(32));
    let good_ss58 = alice.public().to_string();
    let mut bad_ss58 = good_ss58.clone();
    bad_ss58.replace_range(bad_ss58.len() - 2.., if good_ss58.ends_with("aa") { "bb" } else { "aa" });

    let n = ["--node", url, "--genesis", genesis];
    let cases: Vec<(Vec<&str>, i32, &str)> = vec![
        // Unknown accounts and bad addresses: exit 2, saying what an account looks like.
        (vec!["account", "balance", "alice"], 2, "is not an account"),
        (vec!["account", "balance", &bad_ss58], 2, "is not an account"),
        (vec!["account", "transfer", "--from", "alice", "--to", "//Bob", "1"], 2, "is not a secret URI"),
        (vec!["account", "transfer", "--from", "//Alice", "--to", "//Bob", "ten"], 2, "amount"),
        // The chain says no: exit 1.
        (vec!["account", "transfer", "--from", "//Nobody", "--to", "//Bob", "1"], 1, "insufficient balance"),
        (vec!["contract", "info", &no_contract], 1, "no contract"),
        (vec!["contract", "query", &no_contract, "Locked", "--from", "//Bob"], 1, "no contract"),
        (vec!["contract", "call", &no_contract, "Deposit", "--from", "//Bob"], 1, "no contract"),
        (vec!["contract", "info", "0x1234"], 2, "is not a contract id"),
        (vec!["contract", "upload", "/nonexistent.wasm", "--from", "//Alice"], 2, "contracts/build.sh"),
        (vec!["tx", "0x00"], 2, "is not a transaction hash"),
        (vec!["tx", &no_contract], 1, "unknown"),
        (vec!["block", "999999"], 1, "no finalized block"),
        // Down: exit 3, with what to do.
        (vec!["worker", "info", &dead], 3, "cannot reach the worker"),
        (vec!["account", "balance", "//Alice", "--node", &dead, "--genesis", genesis], 3, "veil devnet"),
        // No trust anchor: exit 2.
        (
            vec!["account", "balance", "//Alice", "--node", url, "--genesis", "/nonexistent/genesis.toml"],
            2,
            "--genesis",
        ),
    ];
    for (args, code, expected) in cases {
        let mut full = args.clone();
        if !args.contains(&"--node") {
            full.extend_from_slice(&n);
        }
        let (exit, stderr) = veil(&data, &full);
        assert_eq!(exit, code, "veil {}: {stderr}", full.join(" "));
        assert!(stderr.contains(expected), "veil {}: expected {expected:?} in {stderr:?}", full.join(" "));
        assert_eq!(stderr.trim_end().lines().count(), 1, "one line: {stderr}");
        assert!(stderr.starts_with("error: "), "{stderr}");
        assert!(!stderr.contains("panicked") && !stderr.contains("RUST_BACKTRACE"), "{stderr}");
    }
    // Nothing changed on chain.
    assert_eq!(node.account(&alice.public()), (nonce_before, balance_before));
}
