//! `docs/quickstart.md`, run as written: its commands are extracted from the file, so the page
//! cannot drift from what the tools do.
//!
//! The page has three kinds of code blocks:
//! - ```` ```sh setup ````: building and starting the devnet. The test does the same itself (the
//!   binaries of this test build, `contracts/build.sh`, `veil devnet`) and checks the blocks say
//!   exactly that. Its one deviation: the devnet gets a fresh data directory and free ports (so
//!   tests run side by side), found by the commands through `VEIL_DEVNET`.
//! - ```` ```sh ````: run in order by one `bash -euo pipefail` session (variables carry over), in the
//!   repository root, with the built `veil` first on `PATH` and a temporary `HOME`.
//! - ```` ```text ```` after a `sh` block: lines its output must contain.
#![allow(clippy::unwrap_used)]

mod support;

use std::{path::Path, process::Command};
use support::{Process, temp_dir};

const PAGE: &str = include_str!("../../../docs/quickstart.md");

/// What the setup blocks must say, in order.
const SETUP: &[&str] = &[
    "cargo build --release -p veil-worker && cargo build --release -p veil-cli\nexport PATH=\"$PWD/target/release:$PATH\"\ncontracts/build.sh\n",
    "veil devnet\n",
];

/// A fenced block: its info string and its text.
struct Block {
    info: String,
    text: String,
}

fn blocks(page: &str) -> Vec<Block> {
    let mut blocks = Vec::new();
    let mut current: Option<Block> = None;
    for line in page.lines() {
        match (current.take(), line.strip_prefix("```")) {
            (None, Some(info)) => current = Some(Block { info: info.trim().to_owned(), text: String::new() }),
            (Some(block), Some("")) => blocks.push(block),
            (Some(mut block), _) => {
                block.text.push_str(line);
                block.text.push('\n');
                current = Some(block);
            }
            (None, None) => {}
        }
    }
    assert!(current.is_none(), "an unclosed code block in docs/quickstart.md");
    blocks
}

#[test]
fn the_quickstart_runs_as_written() {
    let blocks = blocks(PAGE);
    let setup: Vec<&str> = blocks.iter().filter(|b| b.info == "sh setup").map(|b| b.text.as_str()).collect();
    assert_eq!(setup, SETUP, "the setup blocks changed: make this test do what they say");

    // The setup: the binaries are this build's; the contracts and the devnet as the page says.
    veil_contract_engine::testing::contract_wasm("veil_secret_token");
    support::worker_binary();
    let dir = temp_dir("quickstart");
    let data = dir.join("devnet");
    let devnet = Process::start_until(
        &["devnet", "--data-dir", data.to_str().unwrap(), "--api-port", "0"],
        &dir.join("devnet.log"),
        "devnet ready",
    );

    // The commands, one bash session, each block's output marked so it can be checked alone.
    let mut script = String::new();
    let mut expected: Vec<(usize, String)> = Vec::new();
    let mut runs = 0;
    for block in &blocks {
        match block.info.as_str() {
            "sh" => {
                runs += 1;
                script.push_str(&format!("echo '::block {runs}::'\n{}", block.text));
            }
            "text" if runs > 0 => expected.push((runs, block.text.clone())),
            _ => {}
        }
    }
    assert!(runs >= 5, "the page lost its commands");
    let veil = Path::new(env!("CARGO_BIN_EXE_veil"));
    let path = format!("{}:{}", veil.parent().unwrap().display(), std::env::var("PATH").unwrap_or_default());
    let home = dir.join("home");
    std::fs::create_dir_all(&home).unwrap();
    let output = Command::new("bash")
        .args(["-euo", "pipefail", "-c", &format!("exec 2>&1\n{script}")])
        .current_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("../.."))
        .env("PATH", path)
        .env("HOME", &home)
        .env("VEIL_DEVNET", &data)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(output.status.success(), "the quickstart failed:\n{text}\n--- script ---\n{script}");

    let outputs: Vec<&str> = text.split("::block ").collect();
    for (block, lines) in expected {
        let produced = outputs.iter().find(|o| o.starts_with(&format!("{block}::"))).unwrap();
        for line in lines.lines().filter(|line| !line.trim().is_empty()) {
            assert!(produced.contains(line), "block {block} should print {line:?}, it printed:\n{produced}");
        }
    }
    drop(devnet);
}
