//! The deterministic wasm contract engine.
//!
//! Every worker of a cluster runs the same commands against the same storage and must reach the
//! same storage and charge the same fuel, on any machine. So the engine pins everything that
//! affects a result:
//!
//! - **Interpreter**: `wasmi` exactly [`WASMI_VERSION`], with its deterministic profile (canonical
//!   NaNs) and eager compilation (a module is validated and translated completely at upload, never
//!   lazily during a call).
//! - **Wasm proposals**: exactly those Rust's `wasm32-unknown-unknown` emits ([`ENGINE_VERSION`]
//!   names the set): mutable globals, sign extension, multi-value, reference types, bulk memory and
//!   saturating float-to-int. SIMD, threads, tail calls, memory64, multi-memory and the rest are
//!   refused at compile time. Floats are allowed: the deterministic profile makes them exact.
//! - **Fuel**: wasmi's per-instruction costs plus [`FuelSchedule::V1`] for every host call (a base
//!   plus a price per byte). A call that exhausts its fuel traps and changes nothing; the fuel is
//!   spent all the same.
//! - **Limits** ([`Limits`]): code size, memory, table elements, storage key and value sizes, output
//!   and effect counts, query nesting.
//!
//! A call runs in a fresh instance: memory is never carried from one call to the next, state lives
//! only in the contract's storage. The engine never writes storage itself: a successful call returns
//! its writes ([`Completed::writes`]) and the runtime commits them; a refusal, trap or exhaustion
//! returns none. The host interface is the SDK's ABI ([`veil_contract_sdk::abi`]).

use parity_scale_codec::Encode;
use std::{collections::BTreeMap, sync::Arc};
use veil_contract_sdk::abi::{AccountId, Caller as ContractCaller, ContractId, Entry, Env, Input};
use veil_crypto::{RuntimeSigner, SecretBytes, kdf::hkdf_sha256};
use veil_primitives::{Hash, hashing::sha256};
use wasmi::{
    Caller, CompilationMode, Config, Extern, Linker, Memory, Module, Store, StoreLimits, StoreLimitsBuilder, TrapCode,
};

pub use veil_contract_sdk::abi;

/// The interpreter version every worker runs.
pub const WASMI_VERSION: &str = "2.0.0";

/// The engine's version: interpreter, enabled proposals and fuel schedule. It changes whenever any
/// of them does, since any change can change a result.
pub const ENGINE_VERSION: &str = "veil-wasm/1 (wasmi 2.0.0 deterministic, eager; mvp+mutable-global+sign-ext+multi-value+reference-types+bulk-memory+sat-float-to-int; fuel schedule 1)";

/// A contract's storage: bytes under byte keys, ordered.
pub type Storage = BTreeMap<Vec<u8>, Vec<u8>>;

/// Writes of one call: `None` removes.
pub type Writes = BTreeMap<Vec<u8>, Option<Vec<u8>>>;

/// What host calls cost, in fuel, on top of wasmi's per-instruction costs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FuelSchedule {
    /// Every host call.
    pub host_call: u64,
    /// Every byte a host call reads from or writes to the module's memory.
    pub per_byte: u64,
    /// Every byte written to storage (key and value), on top of `per_byte`.
    pub storage_write_byte: u64,
    /// A signature.
    pub sign: u64,
    /// A query of another contract, on top of the fuel the queried contract uses.
    pub query: u64,
}

impl FuelSchedule {
    /// Schedule 1.
    pub const V1: Self = Self { host_call: 500, per_byte: 1, storage_write_byte: 20, sign: 50_000, query: 5_000 };
}

/// Hard limits of a call; exceeding one traps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// The largest module.
    pub max_code_bytes: usize,
    /// The most linear memory a call may have.
    pub max_memory_bytes: usize,
    /// The most table elements.
    pub max_table_elements: usize,
    /// The longest storage key.
    pub max_key_bytes: usize,
    /// The largest storage value.
    pub max_value_bytes: usize,
    /// The largest answer or refusal.
    pub max_output_bytes: usize,
    /// The largest event or message.
    pub max_effect_bytes: usize,
    /// The most events, messages and releases of one call, together.
    pub max_effects: usize,
    /// How deep contracts may query contracts that query contracts.
    pub max_query_depth: u32,
}

impl Limits {
    /// Limits 1.
    pub const V1: Self = Self {
        max_code_bytes: veil_primitives::contract::MAX_CODE_BYTES,
        max_memory_bytes: 16 << 20,
        max_table_elements: 4_096,
        max_key_bytes: 1_024,
        max_value_bytes: 64 * 1024,
        max_output_bytes: 60 * 1024,
        max_effect_bytes: 16 * 1024,
        max_effects: 64,
        max_query_depth: 4,
    };
}

/// Why code is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodeError {
    /// Larger than [`Limits::max_code_bytes`].
    #[error("contract code is {len} bytes; the limit is {limit}")]
    TooLarge {
        /// Its size.
        len: usize,
        /// The limit.
        limit: usize,
    },
    /// Not a valid module under the engine's proposals.
    #[error("not a valid contract module: {0}")]
    Invalid(String),
    /// A required export is missing or an import is not part of the host interface.
    #[error("contract module does not fit the host interface: {0}")]
    Interface(String),
}

/// Why a call failed. Whatever the reason, storage is unchanged and the fuel used is charged.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Failure {
    /// The contract refused (its entry returned an error).
    #[error("refused: {0}")]
    Refused(String),
    /// The fuel ran out.
    #[error("out of fuel")]
    OutOfFuel,
    /// The contract panicked (or called `fail`) with its own message, which may quote its
    /// confidential state: hosts must not publish it.
    #[error("panicked: {0}")]
    Panicked(String),
    /// The module trapped (an unreachable, a memory fault, a limit, a host call refused); the
    /// reason is the engine's.
    #[error("trapped: {0}")]
    Trapped(String),
}

/// Effects a successful command asks for.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Effects {
    /// Events, for the sender's receipt.
    pub events: Vec<Vec<u8>>,
    /// Messages to contracts: (contract, message, fuel).
    pub sent: Vec<(ContractId, Vec<u8>, u64)>,
    /// Native tokens to release to accounts.
    pub released: Vec<(AccountId, u128)>,
}

/// What a successful call returns.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Completed {
    /// The answer (queries) or nothing.
    pub output: Vec<u8>,
    /// Storage writes to commit.
    pub writes: Writes,
    /// Events, messages and releases.
    pub effects: Effects,
}

/// The outcome of a call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outcome {
    /// Fuel used (all of it when the fuel ran out).
    pub fuel_used: u64,
    /// What it did.
    pub result: Result<Completed, Failure>,
}

/// A contract's secrets, derived from its contract key.
pub struct Secrets {
    signer: RuntimeSigner,
    randomness: SecretBytes<32>,
}

impl Secrets {
    /// From the contract's application signing key and randomness seed.
    pub fn new(signer: RuntimeSigner, randomness: SecretBytes<32>) -> Self {
        Self { signer, randomness }
    }
}

/// Compiled contract code.
pub struct Code {
    module: Module,
    hash: Hash,
}

impl Code {
    /// SHA-256 of the module bytes.
    pub fn hash(&self) -> Hash {
        self.hash
    }
}

/// A contract another contract may query: its code, storage and secrets.
#[derive(Clone)]
pub struct Peer {
    /// Its code.
    pub code: Arc<Code>,
    /// Its storage.
    pub storage: Arc<Storage>,
    /// Its secrets.
    pub secrets: Arc<Secrets>,
    /// Its owner.
    pub owner: AccountId,
}

/// The contracts of a cluster that a call may query.
pub type Peers = Arc<BTreeMap<ContractId, Peer>>;

/// One call.
#[derive(Clone, Copy, Debug)]
pub struct Call<'a> {
    /// Which entry.
    pub entry: Entry,
    /// The context.
    pub env: Env,
    /// The encoded argument, command or query.
    pub payload: &'a [u8],
    /// The fuel it may use.
    pub fuel: u64,
    /// Unique per call (for example a hash of the chain message): it separates the randomness of
    /// calls in one block.
    pub call_id: [u8; 32],
}

/// The engine: a wasmi engine with Veil's configuration and the host interface. Cheap to clone.
#[derive(Clone)]
pub struct Engine(Arc<Inner>);

struct Inner {
    engine: wasmi::Engine,
    linker: Linker<HostState>,
    /// The names of the host functions (module `veil`): all a module may import.
    imports: Vec<&'static str>,
    limits: Limits,
    schedule: FuelSchedule,
}

impl Default for Engine {
    fn default() -> Self {
        Self::new()
    }
}

impl Engine {
    /// The engine with [`Limits::V1`] and [`FuelSchedule::V1`].
    pub fn new() -> Self {
        let mut config = Config::default();
        config
            .consume_fuel(true)
            .compilation_mode(CompilationMode::Eager)
            .wasm_mutable_global(true)
            .wasm_sign_extension(true)
            .wasm_multi_value(true)
            .wasm_reference_types(true)
            .wasm_bulk_memory(true)
            .wasm_saturating_float_to_int(true)
            .wasm_multi_memory(false)
            .wasm_tail_call(false)
            .wasm_extended_const(false)
            .wasm_custom_page_sizes(false)
            .wasm_wide_arithmetic(false)
            .floats(true)
            .allow_start_fn(false);
        let engine = wasmi::Engine::new(&config);
        let mut linker = Linker::new(&engine);
        let imports = host::define(&mut linker);
        Self(Arc::new(Inner { engine, linker, imports, limits: Limits::V1, schedule: FuelSchedule::V1 }))
    }

    /// The limits.
    pub fn limits(&self) -> &Limits {
        &self.0.limits
    }

    /// Validates and compiles `wasm` eagerly: it must export `call: () -> i32` and `memory`, and
    /// import only the host interface.
    pub fn compile(&self, wasm: &[u8]) -> Result<Code, CodeError> {
        let limit = self.0.limits.max_code_bytes;
        if wasm.len() > limit {
            return Err(CodeError::TooLarge { len: wasm.len(), limit });
        }
        let module = Module::new(&self.0.engine, wasm).map_err(|error| CodeError::Invalid(error.to_string()))?;
        for import in module.imports() {
            let known = import.module() == "veil" && self.0.imports.contains(&import.name());
            if !known {
                return Err(CodeError::Interface(format!("unknown import {}.{}", import.module(), import.name())));
            }
        }
        let exports: Vec<String> = module.exports().map(|export| export.name().to_owned()).collect();
        for required in ["call", "memory"] {
            if !exports.iter().any(|name| name == required) {
                return Err(CodeError::Interface(format!("no `{required}` export")));
            }
        }
        // Instantiating checks the import signatures against the host interface.
        let mut store = Store::new(&self.0.engine, HostState::idle(self.clone()));
        store.limiter(|host| &mut host.limits);
        self.0
            .linker
            .instantiate_and_start(&mut store, &module)
            .map_err(|error| CodeError::Interface(error.to_string()))?;
        Ok(Code { module, hash: sha256(wasm) })
    }

    /// Runs `call` on `code` with `storage` (read only: the writes come back in the outcome).
    pub fn execute(
        &self,
        code: &Code,
        storage: &Arc<Storage>,
        secrets: &Arc<Secrets>,
        peers: &Peers,
        call: Call<'_>,
    ) -> Outcome {
        self.execute_at(code, storage, secrets, peers, call, 0)
    }

    fn execute_at(
        &self,
        code: &Code,
        storage: &Arc<Storage>,
        secrets: &Arc<Secrets>,
        peers: &Peers,
        call: Call<'_>,
        depth: u32,
    ) -> Outcome {
        let input = Input { entry: call.entry, env: call.env, payload: call.payload.to_vec() }.encode();
        let mut host = HostState::new(self.clone(), call.env, input, storage, secrets, peers, call.call_id, depth);
        host.read_only = call.entry == Entry::Query;
        let mut store = Store::new(&self.0.engine, host);
        store.limiter(|host| &mut host.limits);
        let fuel_used = |store: &Store<HostState>| call.fuel.saturating_sub(store.get_fuel().unwrap_or(0));
        if store.set_fuel(call.fuel).is_err() {
            return Outcome { fuel_used: 0, result: Err(Failure::Trapped("fuel metering is off".into())) };
        }
        let run = self
            .0
            .linker
            .instantiate_and_start(&mut store, &code.module)
            .and_then(|instance| instance.get_typed_func::<(), i32>(&store, "call"))
            .and_then(|entry| entry.call(&mut store, ()));
        let used = fuel_used(&store);
        let host = store.into_data();
        let result = match run {
            Ok(0) => Ok(Completed { output: host.output, writes: host.writes, effects: host.effects }),
            Ok(_) => Err(Failure::Refused(String::from_utf8_lossy(&host.output).into_owned())),
            Err(error) if error.as_trap_code() == Some(TrapCode::OutOfFuel) => {
                return Outcome { fuel_used: call.fuel, result: Err(Failure::OutOfFuel) };
            }
            Err(error) => Err(match host.failure {
                Some(message) => Failure::Panicked(message),
                None => Failure::Trapped(error.to_string()),
            }),
        };
        Outcome { fuel_used: used, result }
    }
}

/// Commits `writes` to `storage` (copying it only if a query still holds the old version).
pub fn commit(storage: &mut Arc<Storage>, writes: Writes) {
    if writes.is_empty() {
        return;
    }
    let storage = Arc::make_mut(storage);
    for (key, value) in writes {
        match value {
            Some(value) => storage.insert(key, value),
            None => storage.remove(&key),
        };
    }
}

/// The state a call's host functions work on.
struct HostState {
    engine: Engine,
    limits: StoreLimits,
    input: Vec<u8>,
    output: Vec<u8>,
    result: Vec<u8>,
    failure: Option<String>,
    storage: Arc<Storage>,
    writes: Writes,
    read_only: bool,
    effects: Effects,
    effect_count: usize,
    secrets: Arc<Secrets>,
    peers: Peers,
    env: Env,
    call_id: [u8; 32],
    random_counter: u64,
    depth: u32,
}

impl HostState {
    #[allow(clippy::too_many_arguments)]
    fn new(
        engine: Engine,
        env: Env,
        input: Vec<u8>,
        storage: &Arc<Storage>,
        secrets: &Arc<Secrets>,
        peers: &Peers,
        call_id: [u8; 32],
        depth: u32,
    ) -> Self {
        let limits = engine.0.limits;
        Self {
            engine,
            limits: StoreLimitsBuilder::new()
                .memory_size(limits.max_memory_bytes)
                .table_elements(limits.max_table_elements)
                .instances(1)
                .memories(1)
                .tables(1)
                .build(),
            input,
            output: Vec::new(),
            result: Vec::new(),
            failure: None,
            storage: Arc::clone(storage),
            writes: Writes::new(),
            read_only: true,
            effects: Effects::default(),
            effect_count: 0,
            secrets: Arc::clone(secrets),
            peers: Arc::clone(peers),
            env,
            call_id,
            random_counter: 0,
            depth,
        }
    }

    /// A host for instantiating at compile time: no call runs.
    fn idle(engine: Engine) -> Self {
        let env = Env {
            contract: ContractId::default(),
            owner: AccountId::default(),
            caller: ContractCaller::Account(AccountId::default()),
            height: 0,
            timestamp_ms: 0,
            value: 0,
        };
        let secrets =
            Arc::new(Secrets::new(RuntimeSigner::from_seed(&SecretBytes::new([0; 32])), SecretBytes::new([0; 32])));
        Self::new(engine, env, Vec::new(), &Arc::default(), &secrets, &Arc::default(), [0; 32], 0)
    }

    fn read(&self, key: &[u8]) -> Option<&Vec<u8>> {
        match self.writes.get(key) {
            Some(written) => written.as_ref(),
            None => self.storage.get(key),
        }
    }
}

mod host;
#[cfg(any(test, feature = "test-support"))]
pub mod testing;

#[cfg(test)]
mod tests;
