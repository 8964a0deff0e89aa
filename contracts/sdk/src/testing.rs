//! The native host: what [`crate::host`] acts on outside wasm, for contract unit tests.
//!
//! Each thread has one [`TestHost`]. [`TestHost::call`] runs a contract entry the way the runtime
//! does (a refused command leaves storage as it was) and returns the host effects it produced.

use crate::{
    abi::{AccountId, Caller, ContractId, Entry, Env, Input},
    Contract,
};
use alloc::{collections::BTreeMap, string::String, vec::Vec};
use core::cell::RefCell;
use parity_scale_codec::Encode;
use std::boxed::Box;

/// A query handler for other contracts: `(contract, caller, query) -> answer`.
pub type QueryHandler = Box<dyn Fn(ContractId, ContractId, &[u8]) -> Result<Vec<u8>, String>>;

/// What one call produced.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Effects {
    /// Events, in order.
    pub events: Vec<Vec<u8>>,
    /// Messages sent: (contract, message, fuel).
    pub sent: Vec<(ContractId, Vec<u8>, u64)>,
    /// Native tokens released: (account, amount).
    pub released: Vec<(AccountId, u128)>,
}

/// An in-memory host for one contract.
#[derive(Default)]
pub struct TestHost {
    /// The contract's storage.
    pub storage: BTreeMap<Vec<u8>, Vec<u8>>,
    effects: Effects,
    random_counter: u64,
    contract: ContractId,
    queries: Option<QueryHandler>,
}

std::thread_local! {
    static HOST: RefCell<TestHost> = RefCell::new(TestHost::default());
}

fn with<R>(f: impl FnOnce(&mut TestHost) -> R) -> R {
    HOST.with(|host| f(&mut host.borrow_mut()))
}

impl TestHost {
    /// Starts this thread over with empty storage.
    pub fn reset() {
        with(|host| *host = TestHost::default());
    }

    /// Answers the contract's queries of other contracts with `handler`.
    pub fn on_query(handler: QueryHandler) {
        with(|host| host.queries = Some(handler));
    }

    /// A copy of the storage.
    pub fn storage() -> BTreeMap<Vec<u8>, Vec<u8>> {
        with(|host| host.storage.clone())
    }

    /// Runs `entry` of `C` with `env` and the encoded `payload`; a refused call restores storage.
    pub fn call<C: Contract>(entry: Entry, env: Env, payload: &[u8]) -> Result<(Vec<u8>, Effects), String> {
        let before = with(|host| {
            host.contract = env.contract;
            host.effects = Effects::default();
            host.storage.clone()
        });
        let input = Input { entry, env, payload: payload.to_vec() }.encode();
        let result = crate::dispatch::<C>(&input);
        with(|host| {
            let effects = core::mem::take(&mut host.effects);
            match result {
                Ok(answer) => Ok((answer, effects)),
                Err(reason) => {
                    host.storage = before;
                    Err(reason)
                }
            }
        })
    }
}

/// An environment for tests: contract `[1; 32]`, owner `[9; 32]`, height 1.
pub fn env(caller: Caller) -> Env {
    Env { contract: ContractId([1; 32]), owner: AccountId([9; 32]), caller, height: 1, timestamp_ms: 1_000, value: 0 }
}

pub(crate) fn storage_get(key: &[u8]) -> Option<Vec<u8>> {
    with(|host| host.storage.get(key).cloned())
}

pub(crate) fn storage_set(key: &[u8], value: &[u8]) {
    with(|host| host.storage.insert(key.to_vec(), value.to_vec()));
}

pub(crate) fn storage_remove(key: &[u8]) {
    with(|host| host.storage.remove(key));
}

pub(crate) fn emit(event: &[u8]) {
    with(|host| host.effects.events.push(event.to_vec()));
}

pub(crate) fn send(contract: ContractId, message: &[u8], fuel: u64) {
    with(|host| host.effects.sent.push((contract, message.to_vec(), fuel)));
}

pub(crate) fn release(account: AccountId, amount: u128) {
    with(|host| host.effects.released.push((account, amount)));
}

pub(crate) fn query(contract: ContractId, query: &[u8]) -> Result<Vec<u8>, String> {
    let (me, handler) = with(|host| (host.contract, host.queries.take()));
    let handler = handler.ok_or_else(|| String::from("no query handler in this test"))?;
    let answer = handler(contract, me, query);
    with(|host| host.queries = Some(handler));
    answer
}

pub(crate) fn signing_key() -> [u8; 32] {
    with(|host| host.contract.0)
}

pub(crate) fn sign(message: &[u8]) -> [u8; 64] {
    // Not a signature: tests check the plumbing, the runtime signs for real.
    let mut fake = [0u8; 64];
    for (index, byte) in message.iter().enumerate() {
        fake[index % 64] ^= byte;
    }
    fake
}

pub(crate) fn random() -> [u8; 32] {
    with(|host| {
        host.random_counter += 1;
        let mut bytes = [0u8; 32];
        bytes[..8].copy_from_slice(&host.random_counter.to_le_bytes());
        bytes
    })
}
