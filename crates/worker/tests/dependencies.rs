//! The runtime's trust boundary, checked: its dependency tree holds no node, p2p, consensus-engine
//! or database crate.

use std::process::Command;

/// Crates that must never be linked into the runtime.
const FORBIDDEN: &[&str] = &[
    "veil-node",
    "veil-consensus",
    "veil-mempool",
    "veil-chain",
    "commonware-consensus",
    "commonware-p2p",
    "commonware-broadcast",
    "commonware-resolver",
    "commonware-storage",
    "commonware-runtime",
    "commonware-stream",
    "axum",
    "rocksdb",
    "sled",
];

#[test]
fn the_runtime_links_no_node_p2p_consensus_or_database_crate() {
    let output = Command::new(env!("CARGO"))
        .args([
            "tree",
            "--offline",
            "--locked",
            "-p",
            "veil-worker",
            "-e",
            "normal",
            "--prefix",
            "none",
            "--format",
            "{p}",
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo runs");
    assert!(output.status.success(), "cargo tree failed: {}", String::from_utf8_lossy(&output.stderr));
    let tree = String::from_utf8(output.stdout).expect("cargo tree prints UTF-8");
    let names: Vec<&str> = tree.lines().filter_map(|line| line.split_whitespace().next()).collect();
    assert!(names.contains(&"veil-light-client"), "the tree was not read: {tree}");
    for forbidden in FORBIDDEN {
        assert!(!names.contains(forbidden), "the runtime depends on {forbidden}:\n{tree}");
    }
}
