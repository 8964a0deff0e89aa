//! The secret token ("dark wallet"): confidential balances of the native token and of tokens anyone
//! issues.
//!
//! - **Deposit**: a `Deposit` command carrying native tokens (the chain locks them in the contract,
//!   publicly: sender and amount are visible) credits the sender's confidential balance.
//! - **Transfer**: moves a confidential balance of any asset to another account; the chain sees only
//!   ciphertext. An optional memo stays confidential too.
//! - **Withdraw**: debits the confidential native balance and releases that many locked tokens on
//!   chain to any account (publicly again: recipient and amount).
//! - **Issue / Destroy**: anyone issues a token (a symbol and a supply credited to the issuer) and
//!   destroys tokens they hold, reducing the supply.
//! - **Queries**: balances and history are answered to their owner only; token information and the
//!   total native amount locked (which the chain shows anyway) to anyone.
//!
//! Invariants: the sum of confidential native balances equals [`Query::Locked`], which equals the
//! contract's locked balance on chain; a token's balances sum to its supply.

#![no_std]

extern crate alloc;

use alloc::{format, string::String, vec::Vec};
use parity_scale_codec::{Decode, Encode};
use veil_contract_sdk::{
    host,
    storage::{self, Map},
    AccountId, Contract, Env, Error,
};

/// The longest token symbol.
pub const MAX_SYMBOL: usize = 12;
/// The longest memo, in bytes.
pub const MAX_MEMO: usize = 256;
/// The most history records one query returns.
pub const MAX_HISTORY_PAGE: u32 = 100;

/// What a balance is of.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug, Encode, Decode)]
pub enum Asset {
    /// The chain's native token, deposited into the contract.
    #[codec(index = 0)]
    Native,
    /// A token issued in this contract, by number.
    #[codec(index = 1)]
    Token(u32),
}

/// A command.
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode)]
pub enum Command {
    /// Credit the native tokens sent with this command to the sender.
    #[codec(index = 0)]
    Deposit,
    /// Move `amount` of `asset` from the sender to `to`.
    #[codec(index = 1)]
    Transfer {
        /// What.
        asset: Asset,
        /// To whom.
        to: AccountId,
        /// How much.
        amount: u128,
        /// A note for both parties' history (at most [`MAX_MEMO`] bytes).
        memo: Vec<u8>,
    },
    /// Debit `amount` native tokens from the sender and release them on chain to `to`.
    #[codec(index = 2)]
    Withdraw {
        /// How much.
        amount: u128,
        /// The public account that receives them.
        to: AccountId,
    },
    /// Issue a new token with `supply` credited to the sender.
    #[codec(index = 3)]
    Issue {
        /// 1 to [`MAX_SYMBOL`] characters `A`-`Z` and `0`-`9`.
        symbol: Vec<u8>,
        /// The supply.
        supply: u128,
    },
    /// Destroy `amount` of the sender's `token`, reducing its supply.
    #[codec(index = 4)]
    Destroy {
        /// The token.
        token: u32,
        /// How much.
        amount: u128,
    },
}

/// A query.
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode)]
pub enum Query {
    /// `owner`'s balance of `asset` (a `u128`): owner only.
    #[codec(index = 0)]
    Balance {
        /// Whose.
        owner: AccountId,
        /// Of what.
        asset: Asset,
    },
    /// `owner`'s history from record `from`, at most `limit` records (a `Vec<Record>`): owner only.
    #[codec(index = 1)]
    History {
        /// Whose.
        owner: AccountId,
        /// The first record.
        from: u32,
        /// How many, at most [`MAX_HISTORY_PAGE`].
        limit: u32,
    },
    /// A token's public information (a [`TokenInfo`]).
    #[codec(index = 2)]
    Token {
        /// The token.
        token: u32,
    },
    /// The native tokens the contract holds (a `u128`): public, the chain shows it anyway.
    #[codec(index = 3)]
    Locked,
}

/// An issued token.
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode)]
pub struct TokenInfo {
    /// Its symbol.
    pub symbol: Vec<u8>,
    /// Who issued it.
    pub issuer: AccountId,
    /// What exists of it.
    pub supply: u128,
}

/// What happened to a balance.
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode)]
pub enum Change {
    /// Native tokens deposited.
    #[codec(index = 0)]
    Deposited,
    /// Sent to an account.
    #[codec(index = 1)]
    Sent(AccountId),
    /// Received from an account.
    #[codec(index = 2)]
    Received(AccountId),
    /// Withdrawn to a public account.
    #[codec(index = 3)]
    Withdrawn(AccountId),
    /// Issued.
    #[codec(index = 4)]
    Issued,
    /// Destroyed.
    #[codec(index = 5)]
    Destroyed,
}

/// One entry of an account's history.
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode)]
pub struct Record {
    /// What happened.
    pub change: Change,
    /// Of what.
    pub asset: Asset,
    /// How much.
    pub amount: u128,
    /// The memo, for transfers.
    pub memo: Vec<u8>,
    /// The block height.
    pub height: u64,
}

/// The event every command emits, for its sender's receipt.
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode)]
pub struct Event {
    /// The sender's history record of this command.
    pub record: Record,
}

const BALANCES: Map<(Asset, AccountId), u128> = Map::new(b"b");
const HISTORY_LENGTH: Map<AccountId, u32> = Map::new(b"c");
const HISTORY: Map<(AccountId, u32), Record> = Map::new(b"h");
const TOKENS: Map<u32, TokenInfo> = Map::new(b"t");
const LOCKED: &[u8] = b"L";
const NEXT_TOKEN: &[u8] = b"I";

fn balance(asset: Asset, owner: &AccountId) -> u128 {
    BALANCES.get(&(asset, *owner)).unwrap_or(0)
}

fn set_balance(asset: Asset, owner: &AccountId, amount: u128) {
    if amount == 0 {
        BALANCES.remove(&(asset, *owner));
    } else {
        BALANCES.insert(&(asset, *owner), &amount);
    }
}

fn debit(asset: Asset, owner: &AccountId, amount: u128) -> Result<(), Error> {
    let has = balance(asset, owner);
    let left = has.checked_sub(amount).ok_or_else(|| format!("insufficient balance: has {has}, needs {amount}"))?;
    set_balance(asset, owner, left);
    Ok(())
}

fn credit(asset: Asset, owner: &AccountId, amount: u128) -> Result<(), Error> {
    let sum = balance(asset, owner).checked_add(amount).ok_or("balance overflow")?;
    set_balance(asset, owner, sum);
    Ok(())
}

fn record(owner: &AccountId, record: &Record) {
    let length = HISTORY_LENGTH.get(owner).unwrap_or(0);
    HISTORY.insert(&(*owner, length), record);
    HISTORY_LENGTH.insert(owner, &(length + 1));
}

fn locked() -> u128 {
    storage::get(LOCKED).unwrap_or(0)
}

/// The contract.
pub struct SecretToken;

impl Contract for SecretToken {
    type Init = ();
    type Command = Command;
    type Query = Query;

    fn init(_env: &Env, (): ()) -> Result<(), Error> {
        storage::set(LOCKED, &0u128);
        storage::set(NEXT_TOKEN, &0u32);
        Ok(())
    }

    fn execute(env: &Env, command: Command) -> Result<(), Error> {
        let sender = env.caller.account();
        if env.value != 0 && command != Command::Deposit {
            return Err("only Deposit takes native tokens".into());
        }
        let entry = |change, asset, amount, memo| Record { change, asset, amount, memo, height: env.height };
        let mine = match command {
            Command::Deposit => {
                if env.value == 0 {
                    return Err("a deposit must carry native tokens".into());
                }
                credit(Asset::Native, &sender, env.value)?;
                storage::set(LOCKED, &locked().checked_add(env.value).ok_or("locked overflow")?);
                entry(Change::Deposited, Asset::Native, env.value, Vec::new())
            }
            Command::Transfer { asset, to, amount, memo } => {
                if memo.len() > MAX_MEMO {
                    return Err(format!("a memo is at most {MAX_MEMO} bytes"));
                }
                if amount == 0 {
                    return Err("a transfer must move something".into());
                }
                debit(asset, &sender, amount)?;
                credit(asset, &to, amount)?;
                record(&to, &entry(Change::Received(sender), asset, amount, memo.clone()));
                entry(Change::Sent(to), asset, amount, memo)
            }
            Command::Withdraw { amount, to } => {
                if amount == 0 {
                    return Err("a withdrawal must move something".into());
                }
                debit(Asset::Native, &sender, amount)?;
                storage::set(LOCKED, &(locked() - amount));
                host::release(to, amount);
                entry(Change::Withdrawn(to), Asset::Native, amount, Vec::new())
            }
            Command::Issue { symbol, supply } => {
                let valid = |c: &u8| c.is_ascii_uppercase() || c.is_ascii_digit();
                if symbol.is_empty() || symbol.len() > MAX_SYMBOL || !symbol.iter().all(valid) {
                    return Err(format!("a symbol is 1 to {MAX_SYMBOL} characters A-Z and 0-9"));
                }
                if supply == 0 {
                    return Err("a token needs a supply".into());
                }
                let id: u32 = storage::get(NEXT_TOKEN).unwrap_or(0);
                storage::set(NEXT_TOKEN, &id.checked_add(1).ok_or("no token numbers left")?);
                TOKENS.insert(&id, &TokenInfo { symbol, issuer: sender, supply });
                credit(Asset::Token(id), &sender, supply)?;
                entry(Change::Issued, Asset::Token(id), supply, Vec::new())
            }
            Command::Destroy { token, amount } => {
                let mut info = TOKENS.get(&token).ok_or_else(|| format!("no token {token}"))?;
                debit(Asset::Token(token), &sender, amount)?;
                info.supply -= amount;
                TOKENS.insert(&token, &info);
                entry(Change::Destroyed, Asset::Token(token), amount, Vec::new())
            }
        };
        record(&sender, &mine);
        host::emit(&Event { record: mine }.encode());
        Ok(())
    }

    fn query(env: &Env, query: Query) -> Result<Vec<u8>, Error> {
        let owner_only = |owner: &AccountId| {
            if env.caller.account() == *owner {
                Ok(())
            } else {
                Err(String::from("only the owner may read this account"))
            }
        };
        match query {
            Query::Balance { owner, asset } => {
                owner_only(&owner)?;
                Ok(balance(asset, &owner).encode())
            }
            Query::History { owner, from, limit } => {
                owner_only(&owner)?;
                let length = HISTORY_LENGTH.get(&owner).unwrap_or(0);
                let end = from.saturating_add(limit.min(MAX_HISTORY_PAGE)).min(length);
                let records: Vec<Record> = (from..end).filter_map(|index| HISTORY.get(&(owner, index))).collect();
                Ok(records.encode())
            }
            Query::Token { token } => Ok(TOKENS.get(&token).ok_or_else(|| format!("no token {token}"))?.encode()),
            Query::Locked => Ok(locked().encode()),
        }
    }
}

#[cfg(feature = "entry")]
veil_contract_sdk::export!(SecretToken);
#[cfg(feature = "entry")]
veil_contract_sdk::interface!("../interface.json");

#[cfg(test)]
mod tests;
