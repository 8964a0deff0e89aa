//! End-to-end tests of `veil key`: the real binary, its output, its exit codes, and signatures that
//! an independent implementation (JavaScript `@scure/sr25519`) accepts in both directions.
#![allow(clippy::unwrap_used)]

use std::{
    io::Write,
    path::PathBuf,
    process::{Command, Output, Stdio},
};

const ALICE: &str = "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY";
const ALICE_HEX: &str = "0xd43593c715fdd31c61141abd04a99fd6822c8558854ccde39a5684e7a56da27d";
const BOB: &str = "5FHneW46xGXgs5mUiveU4sbTyGBzmstUspZC92UhjJM694ty";

fn veil(args: &[&str]) -> Output {
    veil_with_stdin(args, None)
}

fn veil_with_stdin(args: &[&str], stdin: Option<&[u8]>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_veil"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    if let Some(bytes) = stdin {
        input.write_all(bytes).unwrap();
    }
    drop(input);
    child.wait_with_output().unwrap()
}

fn stdout(output: &Output) -> String {
    String::from_utf8(output.stdout.clone()).unwrap()
}

fn json(output: &Output) -> serde_json::Value {
    serde_json::from_slice(&output.stdout).unwrap()
}

/// A failure: the given exit code, nothing on stdout, exactly one `error:` line on stderr.
fn assert_one_line_error(output: &Output, code: i32, contains: &str) {
    let stderr = String::from_utf8(output.stderr.clone()).unwrap();
    assert_eq!(output.status.code(), Some(code), "stderr: {stderr}");
    assert!(output.stdout.is_empty(), "stdout: {}", stdout(output));
    assert_eq!(stderr.lines().count(), 1, "stderr: {stderr}");
    assert!(stderr.starts_with("error: ") && stderr.contains(contains), "stderr: {stderr}");
}

#[test]
fn inspect_alice_prints_what_subkey_prints() {
    let output = veil(&["key", "inspect", "//Alice"]);
    assert!(output.status.success());
    assert_eq!(
        stdout(&output),
        format!(
            "Secret Key URI `//Alice` is account:\n  Network ID:        substrate\n  Secret seed:       0xe5be9a5092b81bca64be81d212e7f2f9eba183bb7a90954f7b76361f6edb5c0a\n  Public key (hex):  {ALICE_HEX}\n  Account ID:        {ALICE_HEX}\n  Public key (SS58): {ALICE}\n  SS58 Address:      {ALICE}\n"
        )
    );
    let output = veil(&["key", "inspect", "//Bob", "--output", "json"]);
    assert_eq!(json(&output)["ss58Address"], BOB);
}

#[test]
fn inspect_json_has_subkey_fields() {
    let phrase = "bottom drive obey lake curtain smoke basket hold race lonely fit walk";
    let value = json(&veil(&["key", "inspect", phrase, "-o", "json"]));
    assert_eq!(value["secretPhrase"], phrase);
    assert_eq!(value["ss58Address"], "5DfhGyQdFobKM8NsWvEeAKk5EQQgYe9AydgJ7rMB6E1EqRzV");
    assert_eq!(value["secretSeed"], "0xfac7959dbfe72f052e5a0c3c8d6530f202b02fd8f9f5ca3580ec8deb7797479e");
    // A soft junction leaves no seed, as subkey reports.
    let value = json(&veil(&["key", "inspect", "//Alice/soft", "-o", "json"]));
    assert_eq!(value["secretSeed"], "n/a");
    assert_eq!(value["secretKeyUri"], "//Alice/soft");
}

#[test]
fn inspect_public_inputs_and_networks() {
    let value = json(&veil(&["key", "inspect", ALICE_HEX, "--public", "-o", "json"]));
    assert_eq!(value["ss58Address"], ALICE);
    let value = json(&veil(&["key", "inspect", ALICE, "-o", "json"]));
    assert_eq!(value["publicKeyUri"], ALICE);
    assert_eq!(value["publicKey"], ALICE_HEX);
    let value = json(&veil(&["key", "inspect", "//Alice", "--network", "polkadot", "-o", "json"]));
    assert_eq!(value["ss58Address"], "15oF4uVJwmo4TdGW7VfQxNLavjCXviqxT9S1MgbjMNHr6Sp5");
    // Two-byte prefix (polkadot-js "subkey equality" vector for prefix 4242).
    let value = json(&veil(&[
        "key",
        "inspect",
        "--public",
        "0x44d5a3ac156335ea99d33a83c57c7146c40c8e2260a8a4adf4e7a86256454651",
        "-n",
        "4242",
        "-o",
        "json",
    ]));
    assert_eq!(value["ss58Address"], "mHm8k9Emsvyfp3piCauSH684iA6NakctF8dySQcX94GDdrJrE");
    // An address in another network's format is accepted and shown in the requested one.
    let value = json(&veil(&["key", "inspect", "15oF4uVJwmo4TdGW7VfQxNLavjCXviqxT9S1MgbjMNHr6Sp5", "-o", "json"]));
    assert_eq!(value["ss58Address"], ALICE);
}

#[test]
fn generate_gives_a_phrase_that_inspects_to_the_same_account() {
    let generated = json(&veil(&["key", "generate", "--words", "24", "-o", "json"]));
    let phrase = generated["secretPhrase"].as_str().unwrap();
    assert_eq!(phrase.split(' ').count(), 24);
    let inspected = json(&veil(&["key", "inspect", phrase, "-o", "json"]));
    assert_eq!(generated["ss58Address"], inspected["ss58Address"]);
}

#[test]
fn sign_and_verify_round_trip_with_exit_codes() {
    let signature = stdout(&veil(&["key", "sign", "--suri", "//Alice", "--message", "hello"])).trim().to_owned();
    assert_eq!(signature.len(), 130);
    let ok = veil(&["key", "verify", &signature, ALICE, "--message", "hello"]);
    assert_eq!(ok.status.code(), Some(0));
    assert_eq!(stdout(&ok), "Signature verifies correctly.\n");
    // The message from standard input, and the signer given as a secret URI.
    assert!(veil_with_stdin(&["key", "verify", &signature, "//Alice"], Some(b"hello")).status.success());
    // Hex messages: "hello" is 68656c6c6f.
    assert!(veil(&["key", "verify", &signature, ALICE, "--hex", "-m", "0x68656c6c6f"]).status.success());
    assert_one_line_error(&veil(&["key", "verify", &signature, BOB, "-m", "hello"]), 1, "signature invalid");
    assert_one_line_error(&veil(&["key", "verify", &signature, ALICE, "-m", "hellO"]), 1, "signature invalid");
    let refused = veil(&["key", "verify", &signature, BOB, "-m", "hello", "-o", "json"]);
    assert_eq!(refused.status.code(), Some(1));
    assert_eq!(json(&refused)["valid"], false);
}

#[test]
fn sign_reads_the_secret_uri_from_a_file() {
    let path = std::env::temp_dir().join(format!("veil-suri-{}", std::process::id()));
    std::fs::write(&path, "//Alice\n").unwrap();
    let signed = json(&veil(&["key", "sign", "--suri", path.to_str().unwrap(), "-m", "x", "-o", "json"]));
    std::fs::remove_file(&path).unwrap();
    assert_eq!(signed["signer"], ALICE);
    assert!(veil(&["key", "verify", signed["signature"].as_str().unwrap(), ALICE, "-m", "x"]).status.success());
}

#[test]
fn bad_input_gives_one_line_and_exit_two() {
    assert_one_line_error(
        &veil(&["key", "inspect", "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQX"]),
        2,
        "bad checksum",
    );
    assert_one_line_error(&veil(&["key", "inspect", "5Grwva"]), 2, "wrong length");
    assert_one_line_error(&veil(&["key", "inspect", "two words"]), 2, "not a secret phrase");
    assert_one_line_error(&veil(&["key", "inspect", "//Alice", "-n", "46"]), 2, "reserved");
    assert_one_line_error(&veil(&["key", "inspect", "//Alice", "-n", "mars"]), 2, "unknown network");
    assert_one_line_error(&veil(&["key", "inspect", "0x1234"]), 2, "0x followed by 64 hex digits");
    assert_one_line_error(&veil(&["key", "inspect", "--public", "//Alice"]), 2, "no address");
    assert_one_line_error(&veil(&["key", "inspect", &format!("{ALICE}//hard")]), 2, "soft junctions");
    assert_one_line_error(&veil(&["key", "generate", "--words", "13"]), 2, "13");
    assert_one_line_error(&veil(&["key", "verify", "0x12", ALICE, "-m", "x"]), 2, "128 hex digits");
    assert_one_line_error(&veil(&["key", "sign", "--suri", "//Alice", "--hex", "-m", "zz"]), 2, "not valid hex");
    let usage = veil(&["key", "frobnicate"]);
    assert_eq!(usage.status.code(), Some(2));
    assert!(!String::from_utf8(usage.stderr).unwrap().contains("panicked"));
}

/// The interop package's directory, with its dependencies installed from the committed lockfile.
fn interop_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../web/interop");
    if !dir.join("node_modules/@scure/sr25519").is_dir() {
        let status = Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund", "--silent"])
            .current_dir(&dir)
            .status()
            .expect("npm is needed for the JavaScript interop test (see README)");
        assert!(status.success(), "npm ci failed in {}", dir.display());
    }
    dir
}

fn node(args: &[&str]) -> Output {
    Command::new("node").arg("sr25519.mjs").args(args).current_dir(interop_dir()).output().expect("node is needed")
}

#[test]
fn signatures_interoperate_with_javascript_sr25519() {
    let seed = "fac7959dbfe72f052e5a0c3c8d6530f202b02fd8f9f5ca3580ec8deb7797479e";
    let message = "veil interop";

    // Signed by veil, verified by @scure/sr25519.
    let signature = stdout(&veil(&["key", "sign", "--suri", &format!("0x{seed}"), "-m", message])).trim().to_owned();
    let public =
        json(&veil(&["key", "inspect", &format!("0x{seed}"), "-o", "json"]))["publicKey"].as_str().unwrap().to_owned();
    let verified = node(&["verify", &public, message, &signature]);
    assert_eq!(verified.status.code(), Some(0), "{}", String::from_utf8_lossy(&verified.stdout));
    assert_eq!(node(&["verify", &public, "other message", &signature]).status.code(), Some(1));

    // Signed by @scure/sr25519, verified by veil.
    let signed = node(&["sign", seed, message]);
    assert!(signed.status.success());
    let signed = String::from_utf8(signed.stdout).unwrap();
    let (js_public, js_signature) = signed.trim().split_once(' ').unwrap();
    assert_eq!(format!("0x{js_public}"), public, "both implementations derive the same key from the seed");
    assert!(veil(&["key", "verify", js_signature, &public, "-m", message]).status.success());
    assert_eq!(veil(&["key", "verify", js_signature, &public, "-m", "other message"]).status.code(), Some(1));
}

/// The attack of issue 21: someone asks a user to "sign this message" with `veil key sign`, and
/// the message is a Veil transaction's signing payload (or a query session certificate's), raw or
/// wrapped in `<Bytes>…</Bytes>` as browser wallets wrap raw messages. The signature would be a
/// valid transaction or session. `veil key sign` refuses any message in a Veil signing domain.
#[test]
fn key_sign_refuses_to_sign_a_veil_transaction_or_session() {
    use parity_scale_codec::Encode as _;
    use veil_primitives::{AccountId, AccountsCall, Balance, Call, Hash, Transaction};
    let alice: AccountId = ALICE.parse().unwrap();
    let bob: AccountId = BOB.parse().unwrap();
    let transfer = Transaction {
        genesis: Hash([7; 32]),
        signer: alice,
        nonce: 0,
        call: Call::Accounts(AccountsCall::Transfer { to: bob, amount: Balance(1_000 * Balance::ONE.0) }),
    };
    let payload = transfer.signing_payload();
    let mut wrapped = b"<Bytes>".to_vec();
    wrapped.extend_from_slice(&payload);
    wrapped.extend_from_slice(b"</Bytes>");
    let session = [b"veil/query-session/v1".as_slice(), &(alice, [1u8; 32], Hash([7; 32]), 99u64).encode()].concat();
    for message in [&payload, &wrapped, &session] {
        let output = veil(&["key", "sign", "--suri", "//Alice", "--hex", "-m", &hex::encode(message)]);
        assert_one_line_error(&output, 2, "Veil signing domain");
    }
    // Ordinary messages still sign, including text that merely mentions veil.
    assert!(veil(&["key", "sign", "--suri", "//Alice", "-m", "I agree: veil/ is a fine name"]).status.success());
}

/// A mistyped secret (one wrong word of a phrase) is never echoed: errors go to terminals, logs
/// and CI output, and the typo is one word away from the real secret.
#[test]
fn a_mistyped_secret_is_never_echoed() {
    let typo = "bottom drive obey lake curtain smoke basket hold race lonely fit walkx";
    for args in [
        vec!["account", "transfer", "--from", typo, "--to", "//Bob", "1"],
        vec!["relay", "--operator", typo, "--node", "http://127.0.0.1:9", "--worker", "http://127.0.0.1:9"],
        vec!["key", "sign", "--suri", typo, "-m", "hello"],
        vec!["key", "inspect", typo],
    ] {
        let output = veil(&args);
        let said = format!("{}{}", stdout(&output), String::from_utf8_lossy(&output.stderr));
        assert_eq!(output.status.code(), Some(2), "{args:?}: {said}");
        for word in ["bottom", "lonely", "walkx"] {
            assert!(!said.contains(word), "{args:?} echoed the secret: {said}");
        }
    }
}
