#!/usr/bin/env bash
# Builds every contract here to wasm32-unknown-unknown: contracts/target/wasm32-unknown-unknown/release/*.wasm
#
# On Debian (these machines and CI) the toolchain is Debian's rustc-web with its library sources:
#   apt-get install rustc-web cargo-web rust-web-src lld
# With rustup instead: rustup target add wasm32-unknown-unknown, then VEIL_WASM_RUSTUP=1 ./build.sh
set -euo pipefail
cd "$(dirname "$0")"
export CARGO_TARGET_DIR="$PWD/target"
# One cargo run per contract: a contract that uses another's types (without its entry point) must not
# get that crate's `entry` feature unified in from the other contract's build.
contracts=(veil-secret-token veil-token-client veil-faulty)
if [ "${VEIL_WASM_RUSTUP:-}" = 1 ]; then
  for contract in "${contracts[@]}"; do
    cargo build --release --locked --target wasm32-unknown-unknown -p "$contract" "$@"
  done
  exit
fi
for tool in /usr/bin/cargo /usr/bin/rustc /usr/bin/wasm-ld; do
  [ -x "$tool" ] || { echo "build.sh: $tool is missing: apt-get install rustc-web cargo-web rust-web-src lld" >&2; exit 2; }
done
# Debian's rustc ships no wasm32 standard library: build core and alloc from rust-web-src.
for contract in "${contracts[@]}"; do
  RUSTC=/usr/bin/rustc RUSTC_BOOTSTRAP=1 CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_LINKER=wasm-ld \
    /usr/bin/cargo build --release --locked --target wasm32-unknown-unknown -Zbuild-std=core,alloc -p "$contract" "$@"
done
