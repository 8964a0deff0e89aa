//! The Veil contract SDK: write a confidential contract as plain `no_std` Rust.
//!
//! A contract is a type implementing [`Contract`]: its constructor argument, commands and queries
//! are Rust types in SCALE encoding, its state lives in the contract's key-value [`storage`] (which
//! the runtime keeps encrypted under the contract's state key), and everything else it may touch is
//! a function of [`host`]: events, messages to other contracts, native tokens released to
//! accounts, read-only queries of other contracts in its cluster, a signing key derived from the
//! contract key, and randomness derived from the contract key and the block.
//!
//! The same source builds two ways:
//! - to `wasm32-unknown-unknown`, where [`export!`] emits the module's one entry point `call`, the
//!   SDK supplies the allocator and panic handler, and [`host`] calls the runtime's `veil` imports;
//! - natively, where [`host`] is an in-memory test host ([`testing`]) so unit tests run with
//!   `cargo test`.
//!
//! Execution is deterministic: every worker of a cluster runs the same calls and must reach the same
//! storage. There is no clock but the block's, no randomness but [`host::random`], and a command
//! that returns `Err` (or traps, or runs out of fuel) leaves storage exactly as it was.
//!
//! The ABI between module and runtime is [`abi`]: one export `call() -> i32` (0 success, 1 refusal),
//! the [`abi::Input`] read with `input_len`/`input_read`, and the answer or refusal reason written
//! with `output`.

#![no_std]
#![deny(missing_docs)]

extern crate alloc;
#[cfg(not(target_arch = "wasm32"))]
extern crate std;

pub mod abi;
pub mod host;
pub mod storage;
#[cfg(not(target_arch = "wasm32"))]
pub mod testing;
#[cfg(target_arch = "wasm32")]
#[doc(hidden)]
pub mod wasm;

pub use abi::{AccountId, Caller, ContractId, Entry, Env};
pub use parity_scale_codec as codec;

use alloc::{string::String, vec::Vec};
use parity_scale_codec::{Decode, DecodeAll};

/// A refusal: a reason for the caller. A command that returns one changes nothing.
pub type Error = String;

/// A confidential contract. Its state is in [`storage`]; the type itself holds nothing.
pub trait Contract {
    /// The constructor's argument.
    type Init: Decode;
    /// A command (changes state).
    type Command: Decode;
    /// A query (reads state; its answer is SCALE-encoded by the contract).
    type Query: Decode;

    /// Runs once, when the contract is instantiated.
    fn init(env: &Env, init: Self::Init) -> Result<(), Error>;

    /// Executes a command from an account or a message from another contract ([`Env::caller`]).
    /// Native tokens sent with it ([`Env::value`]) belong to the contract if it returns `Ok`; on
    /// `Err` the runtime returns them to the caller.
    fn execute(env: &Env, command: Self::Command) -> Result<(), Error>;

    /// Answers a query from [`Env::caller`] (the authenticated requester): the encoded answer, or a
    /// refusal. Queries cannot change storage.
    fn query(env: &Env, query: Self::Query) -> Result<Vec<u8>, Error>;
}

/// Runs one call of contract `C` on `input` (an encoded [`abi::Input`]): what the wasm entry point
/// and the native test host both do.
pub fn dispatch<C: Contract>(input: &[u8]) -> Result<Vec<u8>, Error> {
    let input = abi::Input::decode_all(&mut &input[..]).map_err(|_| String::from("malformed call input"))?;
    let payload = &mut &input.payload[..];
    match input.entry {
        Entry::Init => {
            let init =
                C::Init::decode_all(payload).map_err(|e| alloc::format!("malformed constructor argument: {e}"))?;
            C::init(&input.env, init).map(|()| Vec::new())
        }
        Entry::Execute => {
            let command = C::Command::decode_all(payload).map_err(|e| alloc::format!("malformed command: {e}"))?;
            C::execute(&input.env, command).map(|()| Vec::new())
        }
        Entry::Query => {
            let query = C::Query::decode_all(payload).map_err(|e| alloc::format!("malformed query: {e}"))?;
            C::query(&input.env, query)
        }
    }
}

/// Embeds the contract's interface description (JSON, at `path` relative to the invoking file) in
/// the wasm module as the custom section `veil:interface`, so it travels with the code: tools read
/// it from the uploaded code to encode commands and queries and decode answers as JSON (see
/// `veil_client::interface` for the format). Native builds embed nothing.
#[macro_export]
macro_rules! interface {
    ($path:literal) => {
        #[cfg(target_arch = "wasm32")]
        #[link_section = "veil:interface"]
        #[used]
        static VEIL_INTERFACE: [u8; include_bytes!($path).len()] = *include_bytes!($path);
    };
}

/// Exports contract type `$contract` as the wasm module's entry point (nothing in native builds,
/// where tests call [`testing::TestHost`] instead).
#[macro_export]
macro_rules! export {
    ($contract:ty) => {
        #[cfg(target_arch = "wasm32")]
        #[no_mangle]
        pub extern "C" fn call() -> i32 {
            $crate::wasm::run::<$contract>()
        }
    };
}
