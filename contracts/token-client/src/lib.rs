//! A test contract for cross-contract calls: it reads its own balance in the secret token with a
//! synchronous query, and pays from that balance with an asynchronous message.

#![no_std]

extern crate alloc;

use alloc::vec::Vec;
use parity_scale_codec::{Decode, DecodeAll, Encode};
use veil_contract_sdk::{host, storage, AccountId, Contract, ContractId, Env, Error};
use veil_secret_token::{Asset, Command as TokenCommand, Query as TokenQuery};

/// Fuel each payment message carries to the token.
pub const PAYMENT_FUEL: u64 = 5_000_000;

/// A command.
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode)]
pub enum Command {
    /// Query `token` for this contract's native balance and remember it.
    #[codec(index = 0)]
    Observe {
        /// The secret token contract.
        token: ContractId,
    },
    /// Send `amount` of this contract's native balance in `token` to `to`, by message.
    #[codec(index = 1)]
    Pay {
        /// The secret token contract.
        token: ContractId,
        /// The recipient.
        to: AccountId,
        /// How much.
        amount: u128,
    },
}

/// A query.
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode)]
pub enum Query {
    /// The balance seen by the last `Observe` (a `u128`), public.
    #[codec(index = 0)]
    Seen,
}

const SEEN: &[u8] = b"seen";

/// The contract.
pub struct TokenClient;

impl Contract for TokenClient {
    type Init = ();
    type Command = Command;
    type Query = Query;

    fn init(_env: &Env, (): ()) -> Result<(), Error> {
        Ok(())
    }

    fn execute(env: &Env, command: Command) -> Result<(), Error> {
        let me = env.contract.account();
        match command {
            Command::Observe { token } => {
                let query = TokenQuery::Balance { owner: me, asset: Asset::Native };
                let answer = host::query(token, &query.encode())?;
                let balance = u128::decode_all(&mut &answer[..]).map_err(|_| "the token answered nonsense")?;
                storage::set(SEEN, &balance);
            }
            Command::Pay { token, to, amount } => {
                let memo = b"paid by token-client".to_vec();
                let transfer = TokenCommand::Transfer { asset: Asset::Native, to, amount, memo };
                host::send(token, &transfer.encode(), PAYMENT_FUEL);
            }
        }
        Ok(())
    }

    fn query(_env: &Env, Query::Seen: Query) -> Result<Vec<u8>, Error> {
        Ok(storage::get::<u128>(SEEN).unwrap_or(0).encode())
    }
}

veil_contract_sdk::export!(TokenClient);
