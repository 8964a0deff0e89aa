//! Test support: the example contracts of `contracts/`, built to wasm on first use.

use std::{path::PathBuf, process::Command, sync::Mutex};

static BUILT: Mutex<bool> = Mutex::new(false);

/// The module of contract crate `name` (for example `veil_secret_token`), built by
/// `contracts/build.sh` once per process (cargo makes a rebuild without changes a no-op).
///
/// # Panics
/// If the build fails: the message says what to install.
pub fn contract_wasm(name: &str) -> Vec<u8> {
    let contracts = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../contracts");
    let mut built = BUILT.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    if !*built {
        let output = Command::new("bash")
            .arg(contracts.join("build.sh"))
            .output()
            .unwrap_or_else(|error| panic!("cannot run contracts/build.sh: {error}"));
        assert!(
            output.status.success(),
            "contracts/build.sh failed (on Debian: apt-get install rustc-web cargo-web rust-web-src lld):\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
        *built = true;
    }
    let path = contracts.join(format!("target/wasm32-unknown-unknown/release/{name}.wasm"));
    std::fs::read(&path).unwrap_or_else(|error| panic!("{}: {error}", path.display()))
}

/// The cryptography of receiving one command, per core on this machine: the transaction's sr25519
/// signature checked, then its envelope opened (X25519 agreement, HKDF, AES-256-GCM) under its
/// binding; the mean over `rounds`. Benchmarks report contract throughput against it.
///
/// # Panics
/// If the signature or the envelope does not verify (they are made here).
pub fn open_command_cost(rounds: u32) -> std::time::Duration {
    use veil_crypto::{
        AccountPair, MasterKey, SecretBytes,
        confidential::{CommandBinding, open_command, seal_command},
        verify_account_signature,
    };
    use veil_primitives::{ClusterId, ContractId, Hash, KeyEpoch};
    let sender = AccountPair::from_seed(&[3; 32]);
    let key = MasterKey::from_secret(SecretBytes::new([4; 32]))
        .cluster_key(ClusterId(1), KeyEpoch(0))
        .contract_key(ContractId([5; 32]));
    let binding = CommandBinding {
        chain: Hash([6; 32]),
        contract: key.contract(),
        epoch: key.epoch(),
        sender: sender.public(),
        nonce: 0,
    };
    // A confidential transfer's size: recipient, amount, a 32-byte memo.
    let envelope = seal_command(&key.agreement().public(), &binding, &[7; 90]).expect("seal");
    let signature = sender.sign(&envelope);
    let agreement = key.agreement();
    let start = std::time::Instant::now();
    for _ in 0..rounds {
        verify_account_signature(&sender.public(), &envelope, &signature).expect("signature");
        open_command(&agreement, &binding, &envelope).expect("open");
    }
    start.elapsed() / rounds.max(1)
}
