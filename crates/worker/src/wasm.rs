//! A wasm contract as the runtime holds it: compiled code, storage, and the secrets derived from
//! its contract key, over [`veil_contract_engine`].
//!
//! Its sealed form ([`WasmContract::state`]) carries the module, the owner and the storage
//! encrypted under the contract's state key, deterministically, so every worker of the cluster
//! holds and commits to the same bytes and a checkpoint restores without the chain.

use parity_scale_codec::{Decode, DecodeAll, Encode};
use std::sync::Arc;
use veil_contract_engine::{
    Call, Code, CodeError, Engine, Failure, Peer, Peers, Secrets, Storage,
    abi::{AccountId as AbiAccount, Caller, ContractId as AbiContract, Entry, Env},
    commit,
};
use veil_crypto::{ContractKey, StateKey};
use veil_primitives::{AccountId, ContractId, Hash, contract::BlockStamp};

use crate::contract::{CommandContext, CommandRun, Contract};

/// The most fuel one query may use: queries are free to the requester, so this bounds the work
/// one answer costs a worker.
pub const QUERY_FUEL: u64 = 100_000_000;

/// The sealed form.
#[derive(Encode, Decode)]
struct Saved {
    module: Vec<u8>,
    owner: AccountId,
    storage: Vec<u8>,
}

/// A deployed wasm contract.
pub struct WasmContract {
    engine: Engine,
    module: Vec<u8>,
    code: Arc<Code>,
    storage: Arc<Storage>,
    secrets: Arc<Secrets>,
    state_key: StateKey,
    id: ContractId,
    owner: AccountId,
}

impl WasmContract {
    /// Compiles `module` as contract `key.contract()` owned by `owner`, with empty storage (the
    /// constructor has not run).
    pub fn deploy(engine: &Engine, module: &[u8], key: &ContractKey, owner: AccountId) -> Result<Self, CodeError> {
        let code = Arc::new(engine.compile(module)?);
        Ok(Self {
            engine: engine.clone(),
            module: module.to_vec(),
            code,
            storage: Arc::default(),
            secrets: Arc::new(Secrets::new(key.application_signer(), key.randomness_seed())),
            state_key: key.state_key(),
            id: key.contract(),
            owner,
        })
    }

    /// Restores a contract from [`WasmContract::state`]'s bytes.
    pub fn restore(engine: &Engine, bytes: &[u8], key: &ContractKey) -> Result<Self, String> {
        let saved = Saved::decode_all(&mut &bytes[..]).map_err(|error| format!("wasm contract state: {error}"))?;
        let mut contract = Self::deploy(engine, &saved.module, key, saved.owner).map_err(|error| error.to_string())?;
        let plain = contract
            .state_key
            .decrypt_state(&saved.storage)
            .ok_or("wasm contract storage does not open under the contract's state key")?;
        let storage =
            Storage::decode_all(&mut &plain[..]).map_err(|error| format!("wasm contract storage: {error}"))?;
        contract.storage = Arc::new(storage);
        Ok(contract)
    }

    /// The owner.
    pub fn owner(&self) -> AccountId {
        self.owner
    }

    fn env(&self, caller: Caller, block: BlockStamp, value: u128) -> Env {
        Env {
            contract: AbiContract(self.id.0),
            owner: AbiAccount(self.owner.0),
            caller,
            height: block.height,
            timestamp_ms: block.timestamp_ms,
            value,
        }
    }

    /// Runs the constructor with its opened `argument`; on success its writes are committed.
    pub fn init(&mut self, context: &CommandContext, argument: &[u8], peers: &Peers) -> CommandRun {
        self.run(Entry::Init, context, argument, peers)
    }

    /// Runs an init or a command; a success commits its writes.
    fn run(&mut self, entry: Entry, context: &CommandContext, payload: &[u8], peers: &Peers) -> CommandRun {
        let env = self.env(context.caller, context.block, context.value);
        let call = Call { entry, env, payload, fuel: context.fuel, call_id: context.call_id };
        let outcome = self.engine.execute(&self.code, &self.storage, &self.secrets, peers, call);
        let result = outcome.result.map(|completed| {
            commit(&mut self.storage, completed.writes);
            completed.effects
        });
        CommandRun { fuel_used: outcome.fuel_used, result }
    }
}

impl Contract for WasmContract {
    /// The SHA-256 of the module.
    fn code(&self) -> Hash {
        self.code.hash()
    }

    fn command(&mut self, context: &CommandContext, command: &[u8], peers: &Peers) -> CommandRun {
        self.run(Entry::Execute, context, command, peers)
    }

    fn query(&self, requester: &AccountId, block: BlockStamp, query: &[u8], peers: &Peers) -> Result<Vec<u8>, String> {
        let env = self.env(Caller::Account(AbiAccount(requester.0)), block, 0);
        // A query's randomness is bound to its requester and payload: the same question at the same
        // block gets the same answer.
        let call_id = veil_primitives::hashing::sha256(&(requester, query).encode()).0;
        let call = Call { entry: Entry::Query, env, payload: query, fuel: QUERY_FUEL, call_id };
        match self.engine.execute(&self.code, &self.storage, &self.secrets, peers, call).result {
            Ok(completed) => Ok(completed.output),
            // The contract's deliberate answer to this requester.
            Err(Failure::Refused(reason)) => Err(reason),
            // A panic's message was not meant as an answer and may quote anyone's state.
            Err(Failure::Panicked(_)) => Err("the query panicked (its message is confidential)".into()),
            Err(failure) => Err(format!("the query failed: {failure}")),
        }
    }

    /// The sealed form: module, owner, and the storage encrypted under the state key.
    fn state(&self) -> Vec<u8> {
        let storage = self.state_key.encrypt_state(&self.storage.encode());
        Saved { module: self.module.clone(), owner: self.owner, storage }.encode()
    }

    /// The storage stays; the state key, the signing key and the randomness seed become the new
    /// epoch's, so the next [`Contract::state`] is encrypted under the new key only.
    fn rekey(&mut self, key: &ContractKey) {
        self.secrets = Arc::new(Secrets::new(key.application_signer(), key.randomness_seed()));
        self.state_key = key.state_key();
    }

    fn peer(&self) -> Option<Peer> {
        Some(Peer {
            code: Arc::clone(&self.code),
            storage: Arc::clone(&self.storage),
            secrets: Arc::clone(&self.secrets),
            owner: AbiAccount(self.owner.0),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use veil_contract_engine::testing::contract_wasm;
    use veil_crypto::{MasterKey, SecretBytes};
    use veil_primitives::{ClusterId, KeyEpoch};

    fn key(contract: u8) -> ContractKey {
        let master = MasterKey::from_secret(SecretBytes::new([5; 32]));
        master.cluster_key(ClusterId(1), KeyEpoch(0)).contract_key(ContractId([contract; 32]))
    }

    fn context(caller: u8, value: u128) -> CommandContext {
        CommandContext {
            contract: ContractId([1; 32]),
            caller: Caller::Account(AbiAccount([caller; 32])),
            block: BlockStamp { height: 3, timestamp_ms: 3_000 },
            value,
            fuel: 50_000_000,
            call_id: [caller; 32],
        }
    }

    #[test]
    fn state_survives_a_restore_and_opens_only_under_its_own_key() {
        let engine = Engine::new();
        let module = contract_wasm("veil_secret_token");
        let mut token = WasmContract::deploy(&engine, &module, &key(1), AccountId([9; 32])).unwrap();
        let none = Peers::default();
        token.init(&context(9, 0), &().encode(), &none).result.unwrap();
        // Command::Deposit is variant 0 of the token's commands.
        token.command(&context(1, 700), &[0], &none).result.unwrap();
        let state = token.state();
        assert_eq!(state, token.state(), "deterministic");
        assert!(!state.windows(16).any(|w| w == 700u128.to_le_bytes()), "the balance is not in the clear");

        let restored = WasmContract::restore(&engine, &state, &key(1)).unwrap();
        assert_eq!(restored.state(), state);
        assert_eq!(restored.code(), veil_primitives::hashing::sha256(&module));
        // Query::Balance { owner, asset: Native } as the owner, and as someone else.
        let query = (0u8, AbiAccount([1; 32]), 0u8).encode();
        let answer = restored.query(&AccountId([1; 32]), BlockStamp::default(), &query, &none).unwrap();
        assert_eq!(u128::decode_all(&mut &answer[..]), Ok(700));
        assert!(restored.query(&AccountId([2; 32]), BlockStamp::default(), &query, &none).is_err());

        // Re-keyed: the same storage, encrypted under the new epoch's key only.
        let mut rekeyed = WasmContract::restore(&engine, &state, &key(1)).unwrap();
        let next = MasterKey::from_secret(SecretBytes::new([6; 32]))
            .cluster_key(ClusterId(1), KeyEpoch(1))
            .contract_key(ContractId([1; 32]));
        rekeyed.rekey(&next);
        let moved = rekeyed.state();
        assert_ne!(moved, state);
        assert!(WasmContract::restore(&engine, &moved, &key(1)).is_err(), "the old key no longer opens it");
        let reopened = WasmContract::restore(&engine, &moved, &next).unwrap();
        let answer = reopened.query(&AccountId([1; 32]), BlockStamp::default(), &query, &none).unwrap();
        assert_eq!(u128::decode_all(&mut &answer[..]), Ok(700));

        let error = WasmContract::restore(&engine, &state, &key(2)).err().unwrap();
        assert!(error.contains("does not open"), "{error}");
        assert!(WasmContract::restore(&engine, &state[1..], &key(1)).is_err());
    }
}
