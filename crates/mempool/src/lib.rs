//! The mempool: transactions accepted by this node and not yet in a finalized block.
//!
//! Admission runs the chain's own checks, so nothing the chain would refuse for a reason visible
//! now gets in: size, chain id and signature; a nonce already used (refused as stale); a nonce
//! ahead of the account's next one (parked, up to [`Limits::max_nonce_gap`] ahead, until the gap
//! fills); and a balance that cannot pay this transaction after the account's earlier pending ones.
//! A transaction whose nonce another pending transaction of the same account already holds is
//! refused rather than replaced, so a pending transaction can only leave by inclusion or by going
//! stale.
//!
//! [`Mempool::ready`] hands the proposer, for each account, the run of consecutive nonces starting
//! at its next nonce, interleaved by arrival; the chain's `build` still re-checks each one against
//! the exact parent state. After each finalized block, [`Mempool::prune`] drops what the block made
//! stale.

use parity_scale_codec::Encode;
use std::collections::{BTreeMap, HashMap};
use veil_chain::{Chain, StateError, StateReader, TransactionError, state::Overlay};
use veil_primitives::{AccountId, Balance, Hash, Nonce, SignedTransaction};

/// Size limits of the pool.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Most transactions held.
    pub max_transactions: usize,
    /// Most encoded bytes held.
    pub max_bytes: usize,
    /// Most pending transactions of one account.
    pub max_per_account: usize,
    /// How far ahead of an account's next nonce a transaction may be parked.
    pub max_nonce_gap: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self { max_transactions: 50_000, max_bytes: 64 << 20, max_per_account: 256, max_nonce_gap: 64 }
    }
}

/// Why a transaction was not admitted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AdmissionError {
    /// The chain refuses it.
    #[error(transparent)]
    Invalid(#[from] TransactionError),
    /// This exact transaction is already pending.
    #[error("transaction {0} is already pending")]
    AlreadyPending(Hash),
    /// Another pending transaction holds this nonce.
    #[error("nonce {nonce} of {account} is already taken by pending transaction {pending}")]
    NonceTaken {
        /// The signer.
        account: AccountId,
        /// The nonce.
        nonce: Nonce,
        /// The pending transaction holding it.
        pending: Hash,
    },
    /// The nonce is too far ahead to park.
    #[error("nonce {found} is more than {max_gap} ahead of the account's next nonce {expected}")]
    NonceGapTooLarge {
        /// The account's next nonce.
        expected: Nonce,
        /// The transaction's nonce.
        found: Nonce,
        /// The limit.
        max_gap: u64,
    },
    /// The pool or the account's share of it is full.
    #[error("mempool is full ({0}); try again after the next block")]
    Full(&'static str),
}

/// How a transaction was admitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admitted {
    /// Its nonce is the account's next (or follows pending ones): it can go in the next block.
    Ready,
    /// Its nonce is ahead: it waits for the missing ones.
    Parked,
}

struct Pending {
    tx: SignedTransaction,
    hash: Hash,
    bytes: usize,
    cost: Balance,
    arrival: u64,
}

/// The pending transactions, by account and nonce.
pub struct Mempool {
    chain: Chain,
    limits: Limits,
    by_account: BTreeMap<AccountId, BTreeMap<Nonce, Pending>>,
    by_hash: HashMap<Hash, (AccountId, Nonce)>,
    bytes: usize,
    arrivals: u64,
}

impl Mempool {
    /// An empty pool for `chain`.
    pub fn new(chain: Chain, limits: Limits) -> Self {
        Self { chain, limits, by_account: BTreeMap::new(), by_hash: HashMap::new(), bytes: 0, arrivals: 0 }
    }

    /// Number of pending transactions.
    pub fn len(&self) -> usize {
        self.by_hash.len()
    }

    /// Whether nothing is pending.
    pub fn is_empty(&self) -> bool {
        self.by_hash.is_empty()
    }

    /// The accounts with pending transactions.
    pub fn pending_accounts(&self) -> impl Iterator<Item = &AccountId> {
        self.by_account.keys()
    }

    /// Whether `hash` is pending.
    pub fn contains(&self, hash: &Hash) -> bool {
        self.by_hash.contains_key(hash)
    }

    /// Checks `tx` against `state` (the latest finalized state) and admits it, or says why not.
    pub fn insert<R: StateReader + ?Sized>(
        &mut self,
        state: &R,
        tx: SignedTransaction,
    ) -> Result<Admitted, AdmissionError> {
        let hash = tx.hash();
        if self.by_hash.contains_key(&hash) {
            return Err(AdmissionError::AlreadyPending(hash));
        }
        self.chain.check_stateless(&tx)?;
        let bytes = tx.encoded_size();
        let cost = self.chain.cost(&tx)?.total;

        let signer = tx.transaction.signer;
        let nonce = tx.transaction.nonce;
        let account = Overlay::new(state).account(&signer).map_err(TransactionError::State)?;
        if nonce < account.nonce {
            return Err(TransactionError::StaleNonce { expected: account.nonce, found: nonce }.into());
        }
        if nonce - account.nonce > self.limits.max_nonce_gap {
            return Err(AdmissionError::NonceGapTooLarge {
                expected: account.nonce,
                found: nonce,
                max_gap: self.limits.max_nonce_gap,
            });
        }
        let pending = self.by_account.get(&signer);
        if let Some(holder) = pending.and_then(|p| p.get(&nonce)) {
            return Err(AdmissionError::NonceTaken { account: signer, nonce, pending: holder.hash });
        }
        // The balance must cover this and every earlier pending transaction of the account.
        let earlier: u128 = pending.map_or(0, |p| p.range(..nonce).map(|(_, e)| e.cost.0).sum());
        let needed = Balance(earlier.saturating_add(cost.0));
        if account.balance < needed {
            return Err(TransactionError::InsufficientBalance { needed, available: account.balance }.into());
        }
        if pending.map_or(0, BTreeMap::len) >= self.limits.max_per_account {
            return Err(AdmissionError::Full("this account's pending limit"));
        }
        if self.len() >= self.limits.max_transactions || self.bytes + bytes > self.limits.max_bytes {
            return Err(AdmissionError::Full("pool limit"));
        }

        let ready = (account.nonce..nonce).all(|n| pending.is_some_and(|p| p.contains_key(&n)));
        self.arrivals += 1;
        self.bytes += bytes;
        self.by_hash.insert(hash, (signer, nonce));
        self.by_account
            .entry(signer)
            .or_default()
            .insert(nonce, Pending { tx, hash, bytes, cost, arrival: self.arrivals });
        Ok(if ready { Admitted::Ready } else { Admitted::Parked })
    }

    /// Up to `max` transactions a proposer can include on top of `state`: per account, the
    /// consecutive nonces from its next nonce, interleaved across accounts by arrival.
    pub fn ready<R: StateReader + ?Sized>(&self, state: &R, max: usize) -> Result<Vec<SignedTransaction>, StateError> {
        let overlay = Overlay::new(state);
        let mut runs = Vec::new();
        for (account, pending) in &self.by_account {
            let mut next = overlay.account(account)?.nonce;
            let mut run = Vec::new();
            while let Some(entry) = pending.get(&next) {
                run.push(entry);
                next += 1;
            }
            if !run.is_empty() {
                runs.push(run);
            }
        }
        // Repeatedly take the earliest-arrived head among the accounts' runs: fair across accounts,
        // nonce order within each.
        let mut heads = vec![0usize; runs.len()];
        let mut chosen = Vec::new();
        while chosen.len() < max {
            let Some(best) =
                (0..runs.len()).filter(|&i| heads[i] < runs[i].len()).min_by_key(|&i| runs[i][heads[i]].arrival)
            else {
                break;
            };
            chosen.push(runs[best][heads[best]].tx.clone());
            heads[best] += 1;
        }
        Ok(chosen)
    }

    /// Drops what `state` (the newest finalized state) made stale: every pending transaction whose
    /// nonce its account has used. Returns the hashes dropped.
    pub fn prune<R: StateReader + ?Sized>(&mut self, state: &R) -> Result<Vec<Hash>, StateError> {
        let overlay = Overlay::new(state);
        let mut dropped = Vec::new();
        let accounts: Vec<AccountId> = self.by_account.keys().copied().collect();
        for account in accounts {
            let next = overlay.account(&account)?.nonce;
            let Some(pending) = self.by_account.get_mut(&account) else { continue };
            let keep = pending.split_off(&next);
            for (_, entry) in std::mem::replace(pending, keep) {
                self.bytes -= entry.bytes;
                self.by_hash.remove(&entry.hash);
                dropped.push(entry.hash);
            }
            if pending.is_empty() {
                self.by_account.remove(&account);
            }
        }
        Ok(dropped)
    }
}

#[cfg(test)]
mod tests;
