//! `veil attest verify` on real Intel quotes: what it prints, and its exit codes.
#![allow(clippy::unwrap_used)]

use std::{
    path::PathBuf,
    process::{Command, Output},
};

fn testdata(name: &str) -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../attestation/testdata").join(name).to_str().unwrap().to_owned()
}

fn veil(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_veil")).args(args).output().unwrap()
}

fn verify(quote: &str, collateral: &str, extra: &[&str]) -> Output {
    let (quote, collateral) = (testdata(quote), testdata(collateral));
    let mut args = vec!["attest", "verify", "--quote", &quote, "--collateral", &collateral];
    args.extend(extra);
    veil(&args)
}

fn temp_file(name: &str, contents: &[u8]) -> String {
    let path = std::env::temp_dir().join(format!("veil-attest-{}-{name}", std::process::id()));
    std::fs::write(&path, contents).unwrap();
    path.to_str().unwrap().to_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8(output.stderr.clone()).unwrap()
}

#[test]
fn passing_quotes_print_what_they_attest() {
    let output = verify("sgx_quote", "sgx_quote_collateral.json", &["--at", "2025-06-20T00:00:00Z"]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let text = String::from_utf8(output.stdout).unwrap();
    for expected in [
        "kind:               sgx",
        "TCB status:         ConfigurationAndSWHardeningNeeded",
        "INTEL-SA-00289, INTEL-SA-00615",
        "mr_enclave=0x33d8736d",
        "report_data:        0x48656c6c6f2c20776f726c6421",
        "not checked (no --policy)",
    ] {
        assert!(text.contains(expected), "{expected:?} missing from:\n{text}");
    }

    let output =
        verify("tdx_quote_td15ex", "tdx_quote_td15ex_collateral.json", &["--at", "2026-10-10T00:00:00Z", "-o", "json"]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!((json["valid"].as_bool(), json["kind"].as_str()), (Some(true), Some("tdx")));
    assert_eq!(json["status"], "UpToDate");
    assert!(json["measurement"]["mr_td"].as_str().unwrap().starts_with("0x"));
}

#[test]
fn the_policy_decides_and_refusals_say_why() {
    let at = ["--at", "2025-06-20T00:00:00Z"];
    // The measurement the quote attests, allowlisted: passes; another one: refused (exit 1).
    let allow = |isv_svn: u16| {
        format!(
            "[[measurements]]\nkind = \"sgx\"\nmr_enclave = \"0x33d8736db756ed4997e04ba358d27833188f1932ff7b1d156904d3f560452fbb\"\nmr_signer = \"0x815f42f11cf64430c30bab7816ba596a1da0130c3b028b673133a66cf9a3e0e6\"\nisv_prod_id = 0\nisv_svn = {isv_svn}\n"
        )
    };
    let allowed = temp_file("allowed.toml", allow(0).as_bytes());
    let output = verify("sgx_quote", "sgx_quote_collateral.json", &[&at[..], &["--policy", &allowed]].concat());
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert!(String::from_utf8(output.stdout).unwrap().contains("allowlisted"));
    let other = temp_file("other.toml", allow(1).as_bytes());
    let output = verify("sgx_quote", "sgx_quote_collateral.json", &[&at[..], &["--policy", &other]].concat());
    assert_eq!(output.status.code(), Some(1));
    assert!(stderr(&output).contains("measurement not allowlisted"), "{}", stderr(&output));

    let strict = temp_file("strict.toml", b"allowed_statuses = [\"UpToDate\"]\n");
    let output = verify("sgx_quote", "sgx_quote_collateral.json", &[&at[..], &["--policy", &strict]].concat());
    assert_eq!(output.status.code(), Some(1));
    assert!(stderr(&output).contains("TCB status ConfigurationAndSWHardeningNeeded is not accepted"));

    // Outside the collateral's window.
    let output = verify("tdx_quote", "tdx_quote_collateral.json", &["--at", "2025-08-20T00:00:00Z"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(stderr(&output).contains("quote verification failed"), "{}", stderr(&output));

    // Bad input exits 2: trailing bytes, a bad time, a bad policy file, a missing file.
    let mut extended = std::fs::read(testdata("sgx_quote")).unwrap();
    extended.push(1);
    let quote = temp_file("extended", &extended);
    let collateral = testdata("sgx_quote_collateral.json");
    let output = veil(&["attest", "verify", "--quote", &quote, "--collateral", &collateral]);
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("only zero padding may follow a quote"), "{}", stderr(&output));
    let output = verify("sgx_quote", "sgx_quote_collateral.json", &["--at", "yesterday"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("RFC 3339"));
    let bad_policy = temp_file("bad.toml", b"allowed = 1\n");
    let output = verify("sgx_quote", "sgx_quote_collateral.json", &["--policy", &bad_policy]);
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("policy file"));
    let output = verify("no_such_quote", "sgx_quote_collateral.json", &[]);
    assert_eq!(output.status.code(), Some(2));
}
