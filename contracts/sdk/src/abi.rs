//! The ABI between a contract module and the runtime: what a call receives, and the imports.
//!
//! Imports (module `veil`; pointers and lengths are i32 offsets into the module's memory; every
//! call charges fuel, a base plus a price per byte):
//!
//! | import | does |
//! |---|---|
//! | `input_len() -> i32`, `input_read(ptr)` | the encoded [`Input`] |
//! | `output(ptr, len)` | the answer (or the refusal reason when `call` returns 1) |
//! | `result_len() -> i32`, `result_read(ptr)` | the bytes the last `storage_get` / `query` produced |
//! | `storage_get(key, key_len) -> i32` | 1 and the value in the result, or 0 when absent |
//! | `storage_set(key, key_len, value, value_len)`, `storage_remove(key, key_len)` | write |
//! | `emit(ptr, len)` | an event, reported to the command's sender in its receipt |
//! | `send(contract, ptr, len, fuel: i64)` | a message to contract `contract` (32 bytes), run later with `fuel` taken from this call |
//! | `release(account, amount)` | native tokens (16 bytes LE at `amount`) from the contract to `account` |
//! | `query(contract, ptr, len) -> i32` | a read-only query of a contract of the same cluster: 0 and the answer in the result, or 1 and the refusal |
//! | `signing_key(out)`, `sign(ptr, len, out)` | the contract's derived ed25519 key (32 bytes) and a signature (64 bytes) |
//! | `random(out, len)` | bytes derived from the contract key, the block and the call |
//! | `fail(ptr, len)` | the reason of a trap that follows (the panic handler calls it) |

use alloc::vec::Vec;
use parity_scale_codec::{Decode, Encode};

/// An account: its 32-byte public key (the same bytes as the chain's account id).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Default, Encode, Decode)]
pub struct AccountId(pub [u8; 32]);

/// A contract's id.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Default, Encode, Decode)]
pub struct ContractId(pub [u8; 32]);

impl ContractId {
    /// The account a contract holds balances under in other contracts: the same 32 bytes.
    pub fn account(self) -> AccountId {
        AccountId(self.0)
    }
}

/// Who called.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Encode, Decode)]
pub enum Caller {
    /// An account, by a signed transaction (commands) or a signed query.
    #[codec(index = 0)]
    Account(AccountId),
    /// Another contract, by an asynchronous message or a synchronous query.
    #[codec(index = 1)]
    Contract(ContractId),
}

impl Caller {
    /// The account the caller holds balances under: a contract's id doubles as its account.
    pub fn account(self) -> AccountId {
        match self {
            Self::Account(account) => account,
            Self::Contract(contract) => contract.account(),
        }
    }
}

/// Which entry a call runs.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Encode, Decode)]
pub enum Entry {
    /// The constructor.
    #[codec(index = 0)]
    Init,
    /// A command or message.
    #[codec(index = 1)]
    Execute,
    /// A query.
    #[codec(index = 2)]
    Query,
}

/// What a call runs with. For commands it comes from the chain's block; for queries the height
/// and time are those of the worker's newest verified block.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Encode, Decode)]
pub struct Env {
    /// This contract.
    pub contract: ContractId,
    /// Its owner (the account that instantiated it).
    pub owner: AccountId,
    /// Who called.
    pub caller: Caller,
    /// The block height.
    pub height: u64,
    /// The block time, milliseconds since the Unix epoch.
    pub timestamp_ms: u64,
    /// Native tokens (smallest unit) that came with a command; 0 for everything else.
    pub value: u128,
}

/// A call's input, as the runtime encodes it.
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode)]
pub struct Input {
    /// The entry.
    pub entry: Entry,
    /// The context.
    pub env: Env,
    /// The encoded argument, command or query.
    pub payload: Vec<u8>,
}
