//! `veil devnet` as a user runs it: a real process serving the REST API on loopback.
#![allow(clippy::unwrap_used)]

mod support;

use std::time::Duration;
use support::{Process, pair, temp_dir, transfer};

const ONE: u128 = 1_000_000_000_000;

/// Transfers finalize; every kind of bad transaction is refused with a clear error and changes no
/// state; the API's documents, metrics and stream work; and the chain survives a restart.
#[test]
fn devnet_transfers_refusals_and_restart() {
    let dir = temp_dir("devnet");
    let data = dir.join("data");
    let args = ["devnet", "--data-dir", data.to_str().unwrap(), "--api-port", "0"];
    let node = Process::start(&args, &dir.join("first.log"));
    let chain = node.chain_id();
    let (alice, bob) = (pair("//Alice"), pair("//Bob"));

    let tx = transfer(chain, &alice, 0, bob.public(), 10);
    let (status, body) = node.submit(&tx);
    assert_eq!((status, body["status"].as_str()), (202, Some("pending")), "{body}");
    let height = node.wait_finalized(&tx.hash(), Duration::from_secs(30));
    assert!(height >= 1);
    let (alice_nonce, alice_balance) = node.account(&alice.public());
    let (_, bob_balance) = node.account(&bob.public());
    assert_eq!(alice_nonce, 1);
    assert_eq!(bob_balance, 1_000_010 * ONE);

    // Refusals: each names its reason, and the accounts stay exactly as they were.
    let mut wrong_signature = transfer(chain, &alice, 1, bob.public(), 1);
    wrong_signature.signature[5] ^= 1;
    let mut wrong_chain = transfer(chain, &alice, 1, bob.public(), 1);
    wrong_chain.transaction.genesis = veil_primitives::Hash([7; 32]);
    wrong_chain = alice.sign_transaction(wrong_chain.transaction);
    let cases = [
        (node.post("/v1/transactions", &serde_json::json!({ "transaction": "0x00ff" })), "malformed transaction"),
        (
            node.post("/v1/transactions", &serde_json::json!({ "transaction": format!("0x{}", "00".repeat(70_000)) })),
            "the limit is",
        ),
        (node.post("/v1/transactions", &serde_json::json!({ "nonsense": 1 })), "missing field"),
        (node.submit(&wrong_signature), "bad signature"),
        (node.submit(&wrong_chain), "is for chain"),
        (node.submit(&tx), "already used"),
        (node.submit(&transfer(chain, &alice, 0, bob.public(), 1)), "already used"),
        (node.submit(&transfer(chain, &pair("//Nobody"), 0, bob.public(), 1)), "insufficient balance"),
        (node.submit(&transfer(chain, &bob, 0, alice.public(), 2_000_000)), "insufficient balance"),
    ];
    for ((status, body), reason) in cases {
        assert_eq!(status, 400, "{body}");
        assert!(body["message"].as_str().unwrap().contains(reason), "expected {reason:?}: {body}");
        assert!(body["code"].is_string());
    }
    assert_eq!(node.account(&alice.public()), (alice_nonce, alice_balance));
    assert_eq!(node.account(&bob.public()).1, bob_balance);

    // The account proof verifies against the state root of the header the API names, and proves
    // nothing about another account or a changed balance.
    let (_, view) = node.get(&format!("/v1/accounts/{}", bob.public()));
    let unhex = |v: &serde_json::Value| hex::decode(&v.as_str().unwrap()[2..]).unwrap();
    let root: veil_primitives::Hash = view["state_root"].as_str().unwrap().parse().unwrap();
    let value = unhex(&view["proof"]["value"]);
    let proof = unhex(&view["proof"]["proof"]);
    let key = veil_chain::StateKey::Account(bob.public()).to_bytes();
    let inclusion = |value: Vec<u8>| veil_consensus::state::StateProof::Inclusion { value, proof: proof.clone() };
    assert!(veil_consensus::state::verify_proof(&root, &key, &inclusion(value.clone())));
    let mut richer = value.clone();
    richer[9] ^= 1;
    assert!(!veil_consensus::state::verify_proof(&root, &key, &inclusion(richer)));
    let alice_key = veil_chain::StateKey::Account(alice.public()).to_bytes();
    assert!(!veil_consensus::state::verify_proof(&root, &alice_key, &inclusion(value)));
    let (_, header) = node.get(&format!("/v1/blocks/{}", view["height"]));
    assert_eq!(header["state_root"], view["state_root"], "the proof's root is the named header's");

    // An account that does not exist gets an exclusion proof; a bad address a clear error.
    let (_, nobody) = node.get(&format!("/v1/accounts/{}", pair("//Nobody").public()));
    assert_eq!(nobody["proof"]["kind"], "exclusion");
    let (status, body) = node.get("/v1/accounts/5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQX");
    assert_eq!(status, 400);
    assert!(body["message"].as_str().unwrap().contains("checksum"), "{body}");

    // Blocks, certificates, the OpenAPI document, metrics and the stream.
    let (_, block) = node.get(&format!("/v1/blocks/{height}"));
    assert!(block["transactions"].as_array().unwrap().iter().any(|t| t["hash"] == tx.hash().to_string()));
    let (_, by_hash) = node.get(&format!("/v1/blocks/hash/{}", block["hash"].as_str().unwrap()));
    assert_eq!(by_hash["height"], height);
    assert!(node.verify_latest_certificate() >= height);
    let (status, openapi) = node.get("/openapi.json");
    assert_eq!(status, 200);
    assert!(openapi["paths"]["/v1/transactions"].is_object());
    let (_, metrics) = node.get("/metrics");
    assert!(metrics.as_str().unwrap().contains("veil_finalized_height"));
    let events = support::sse(&node.url, "/v1/stream/blocks", "block", 2);
    assert!(events[1]["height"].as_u64().unwrap() > events[0]["height"].as_u64().unwrap());
    assert_eq!(node.get("/v1/blocks/999999999").0, 404);

    // Restart: same chain, same balances, still finalizing.
    let before = node.height();
    drop(node);
    let node = Process::start(&args, &dir.join("second.log"));
    assert_eq!(node.chain_id(), chain);
    assert!(node.height() >= before);
    assert_eq!(node.account(&bob.public()).1, bob_balance);
    assert_eq!(node.get(&format!("/v1/transactions/{}", tx.hash())).1["status"], "finalized");
    let next = transfer(chain, &alice, 1, bob.public(), 5);
    assert_eq!(node.submit(&next).0, 202);
    node.wait_finalized(&next.hash(), Duration::from_secs(30));
    drop(node);
    std::fs::remove_dir_all(dir).unwrap();
}
