//! The trust boundaries in the dependency graph, checked with `cargo tree`: the runtime links no
//! node, p2p, consensus-engine or database crate; the SDK links neither the state machine nor
//! attestation; the portable types link nothing but the primitives.

use std::process::Command;

/// The crates `package` links (normal dependencies, itself included).
fn linked(package: &str) -> Vec<String> {
    let output = Command::new(env!("CARGO"))
        .args(["tree", "--offline", "--locked", "-p", package, "-e", "normal", "--prefix", "none", "--format", "{p}"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo runs");
    assert!(output.status.success(), "cargo tree failed: {}", String::from_utf8_lossy(&output.stderr));
    let tree = String::from_utf8(output.stdout).expect("cargo tree prints UTF-8");
    let names: Vec<String> = tree.lines().filter_map(|line| Some(line.split_whitespace().next()?.to_owned())).collect();
    assert!(names.iter().any(|name| name == package), "the tree was not read: {tree}");
    names
}

fn assert_links_none(package: &str, forbidden: &[&str]) {
    let names = linked(package);
    for forbidden in forbidden {
        assert!(!names.iter().any(|name| name == forbidden), "{package} depends on {forbidden}: {names:?}");
    }
}

#[test]
fn the_runtime_links_no_node_p2p_consensus_database_or_openapi_crate() {
    assert!(linked("veil-worker").iter().any(|name| name == "veil-light-client"));
    assert_links_none(
        "veil-worker",
        &[
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
            // The worker's API document is generated outside the TCB, never by the runtime.
            "utoipa",
        ],
    );
}

#[test]
fn the_sdk_links_neither_the_state_machine_nor_attestation() {
    assert!(linked("veil-client").iter().any(|name| name == "veil-types"));
    assert_links_none(
        "veil-client",
        &["veil-chain", "veil-attestation", "dcap-qvl", "veil-mempool", "veil-consensus", "veil-node", "veil-worker"],
    );
}

#[test]
fn the_portable_types_link_only_the_primitives() {
    let veil: std::collections::BTreeSet<String> =
        linked("veil-types").into_iter().filter(|name| name.starts_with("veil-")).collect();
    assert_eq!(veil, ["veil-primitives".to_owned(), "veil-types".to_owned()].into());
}
