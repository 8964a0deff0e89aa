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
