//! A wasm contract as the runtime holds it: compiled code, storage, and the secrets derived from
//! its contract key, over [`veil_contract_engine`].
//!
//! Its sealed form ([`WasmContract::state`]) carries the module, the owner and the storage
//! encrypted under the contract's state key, deterministically, so every worker of the cluster
//! holds and commits to the same bytes and a checkpoint restores without the chain.

use parity_scale_codec::{Decode, DecodeAll, Encode};
use std::sync::Arc;
use veil_contract_engine::{
    Call, Code, CodeError, Engine, Outcome, Peer, Peers, Secrets, Storage,
    abi::{AccountId as AbiAccount, Caller, ContractId as AbiContract, Entry, Env},
    commit,
};
use veil_crypto::{ContractKey, StateKey};
use veil_primitives::{AccountId, ContractId, Hash, contract::BlockStamp};

/// What a call runs with.
#[derive(Clone, Copy, Debug)]
pub struct CallContext {
    /// Who called.
    pub caller: Caller,
    /// The block (for queries: the worker's newest).
    pub block: BlockStamp,
    /// Native tokens sent along.
    pub value: u128,
    /// The fuel it may use.
    pub fuel: u64,
    /// Unique per call: separates the randomness of calls in one block.
    pub call_id: [u8; 32],
}

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

    /// The code hash: SHA-256 of the module.
    pub fn code_hash(&self) -> Hash {
        self.code.hash()
    }

    /// The owner.
    pub fn owner(&self) -> AccountId {
        self.owner
    }

    /// The sealed form: module, owner, and the storage encrypted under the state key.
    pub fn state(&self) -> Vec<u8> {
        let storage = self.state_key.encrypt_state(&self.storage.encode());
        Saved { module: self.module.clone(), owner: self.owner, storage }.encode()
    }

    /// What other contracts of the cluster query.
    pub fn peer(&self) -> Peer {
        Peer {
            code: Arc::clone(&self.code),
            storage: Arc::clone(&self.storage),
            secrets: Arc::clone(&self.secrets),
            owner: AbiAccount(self.owner.0),
        }
    }

    /// Runs `entry` with `payload`; a successful init or command commits its writes (taken out of
    /// the outcome, which then holds none).
    pub fn call(&mut self, entry: Entry, context: &CallContext, payload: &[u8], peers: &Peers) -> Outcome {
        let env = Env {
            contract: AbiContract(self.id.0),
            owner: AbiAccount(self.owner.0),
            caller: context.caller,
            height: context.block.height,
            timestamp_ms: context.block.timestamp_ms,
            value: context.value,
        };
        let call = Call { entry, env, payload, fuel: context.fuel, call_id: context.call_id };
        let mut outcome = self.engine.execute(&self.code, &self.storage, &self.secrets, peers, call);
        if entry != Entry::Query
            && let Ok(completed) = &mut outcome.result
        {
            commit(&mut self.storage, std::mem::take(&mut completed.writes));
        }
        outcome
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

    fn context(caller: u8, value: u128) -> CallContext {
        CallContext {
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
        token.call(Entry::Init, &context(9, 0), &().encode(), &none).result.unwrap();
        // Command::Deposit is variant 0 of the token's commands.
        token.call(Entry::Execute, &context(1, 700), &[0], &none).result.unwrap();
        let state = token.state();
        assert_eq!(state, token.state(), "deterministic");
        assert!(!state.windows(16).any(|w| w == 700u128.to_le_bytes()), "the balance is not in the clear");

        let mut restored = WasmContract::restore(&engine, &state, &key(1)).unwrap();
        assert_eq!(restored.state(), state);
        assert_eq!(restored.code_hash(), veil_primitives::hashing::sha256(&module));
        // Query::Balance { owner, asset: Native } as the owner.
        let query = (0u8, AbiAccount([1; 32]), 0u8).encode();
        let answer = restored.call(Entry::Query, &context(1, 0), &query, &none).result.unwrap();
        assert_eq!(u128::decode_all(&mut &answer.output[..]), Ok(700));

        let error = WasmContract::restore(&engine, &state, &key(2)).err().unwrap();
        assert!(error.contains("does not open"), "{error}");
        assert!(WasmContract::restore(&engine, &state[1..], &key(1)).is_err());
    }
}
