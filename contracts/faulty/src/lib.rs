//! A test contract that misbehaves on command, so tests can show that every kind of failure leaves
//! storage unchanged and still charges fuel. Each command first writes a marker to storage.

#![no_std]

extern crate alloc;

use alloc::vec::Vec;
use parity_scale_codec::{Decode, Encode};
use veil_contract_sdk::{storage, Contract, Env, Error};

/// A command.
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode)]
pub enum Command {
    /// Write `value` under `key` and succeed.
    #[codec(index = 0)]
    Write {
        /// The key.
        key: Vec<u8>,
        /// The value.
        value: Vec<u8>,
    },
    /// Loop forever (until the fuel runs out).
    #[codec(index = 1)]
    Spin,
    /// Allocate `megabytes` of memory.
    #[codec(index = 2)]
    Allocate {
        /// How much.
        megabytes: u32,
    },
    /// Panic.
    #[codec(index = 3)]
    Panic,
    /// Refuse with a reason.
    #[codec(index = 4)]
    Refuse,
}

/// The contract.
pub struct Faulty;

impl Contract for Faulty {
    type Init = ();
    type Command = Command;
    type Query = Vec<u8>;

    fn init(_env: &Env, (): ()) -> Result<(), Error> {
        Ok(())
    }

    fn execute(_env: &Env, command: Command) -> Result<(), Error> {
        storage::set_raw(b"touched", b"yes");
        match command {
            Command::Write { key, value } => storage::set_raw(&key, &value),
            Command::Spin => {
                let mut counter = 0u64;
                loop {
                    counter = core::hint::black_box(counter.wrapping_add(1));
                    storage::set_raw(b"spin", &counter.to_le_bytes());
                }
            }
            Command::Allocate { megabytes } => {
                let block: Vec<u8> = alloc::vec![1; megabytes as usize * 1024 * 1024];
                storage::set_raw(b"allocated", &block[..1]);
            }
            Command::Panic => panic!("the faulty contract panics as asked"),
            Command::Refuse => return Err("refused as asked".into()),
        }
        Ok(())
    }

    fn query(_env: &Env, key: Vec<u8>) -> Result<Vec<u8>, Error> {
        Ok(storage::get_raw(&key).unwrap_or_default())
    }
}

veil_contract_sdk::export!(Faulty);
