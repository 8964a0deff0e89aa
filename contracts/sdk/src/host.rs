//! What a contract may ask of the runtime. In wasm these call the `veil` imports; natively they
//! act on the thread's [`crate::testing::TestHost`].

use crate::abi::{AccountId, ContractId};
use alloc::{string::String, vec::Vec};

#[cfg(not(target_arch = "wasm32"))]
use crate::testing as backend;
#[cfg(target_arch = "wasm32")]
use crate::wasm as backend;

/// The value under `key` in this contract's storage.
pub fn storage_get(key: &[u8]) -> Option<Vec<u8>> {
    backend::storage_get(key)
}

/// Stores `value` under `key`.
pub fn storage_set(key: &[u8], value: &[u8]) {
    backend::storage_set(key, value)
}

/// Removes `key`.
pub fn storage_remove(key: &[u8]) {
    backend::storage_remove(key)
}

/// Records an event: it goes into the receipt that the command's sender may query.
pub fn emit(event: &[u8]) {
    backend::emit(event)
}

/// Sends `message` to `contract` (decoded there as one of its commands, with this contract as
/// caller). It runs after this command, with `fuel` taken from this call now.
pub fn send(contract: ContractId, message: &[u8], fuel: u64) {
    backend::send(contract, message, fuel)
}

/// Releases `amount` native tokens held by this contract to `account`, on chain.
pub fn release(account: AccountId, amount: u128) {
    backend::release(account, amount)
}

/// Queries `contract` (of the same cluster) as this contract: its answer, or its refusal.
pub fn query(contract: ContractId, query: &[u8]) -> Result<Vec<u8>, String> {
    backend::query(contract, query)
}

/// This contract's ed25519 public key, derived from its contract key: what [`sign`] signs with.
pub fn signing_key() -> [u8; 32] {
    backend::signing_key()
}

/// An ed25519 signature of `message` by [`signing_key`].
pub fn sign(message: &[u8]) -> [u8; 64] {
    backend::sign(message)
}

/// 32 bytes that every worker derives alike from the contract's secret key, the block and the call
/// (each call to `random` in one call gives new bytes); unpredictable to anyone without the key.
pub fn random() -> [u8; 32] {
    backend::random()
}
