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
//!
//! Egress from off-chain senders has its own pool, with the chain's egress checks: a copy under the
//! sender's next sequence number (or following pending ones) is ready; one further ahead is parked
//! up to the same gap; a copy identical to one pending or already accepted is a replica's duplicate,
//! answered [`Admitted::Duplicate`] and not stored; a differing copy under an accepted number is
//! kept as discrepancy evidence; a stale one is refused. [`Mempool::ready_egress`] hands the proposer
//! at most the per-block quota of each sender; [`Mempool::prune`] re-checks every pending copy.

use parity_scale_codec::Encode;
use std::collections::BTreeSet;
use std::collections::{BTreeMap, HashMap};
use veil_chain::ReadState as _;
use veil_chain::{Chain, EgressError, StateError, StateKey, StateReader, TransactionError, fees, state::Overlay};
use veil_primitives::{AccountId, Balance, Hash, Nonce, SenderId, SignedEgress, SignedTransaction};

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

/// Why an egress copy was not admitted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EgressAdmissionError {
    /// The chain refuses it.
    #[error(transparent)]
    Invalid(#[from] EgressError),
    /// The sequence number is too far ahead to park.
    #[error("sequence number {found} is more than {max_gap} ahead of the sender's next number {next}")]
    SequenceGapTooLarge {
        /// The sender's next number.
        next: u64,
        /// The copy's number.
        found: u64,
        /// The limit.
        max_gap: u64,
    },
    /// The pool or the sender's share of it is full.
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
    /// An egress copy identical to one pending or already accepted (a replica's): nothing to do,
    /// nothing charged.
    Duplicate,
}

struct QueuedEgress {
    copy: SignedEgress,
    hash: Hash,
    bytes: usize,
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
    /// Pending egress by sender and sequence number; several differing copies may share a number.
    egress: BTreeMap<SenderId, BTreeMap<u64, Vec<QueuedEgress>>>,
    egress_hashes: HashMap<Hash, (SenderId, u64)>,
}

impl Mempool {
    /// An empty pool for `chain`.
    pub fn new(chain: Chain, limits: Limits) -> Self {
        Self {
            chain,
            limits,
            by_account: BTreeMap::new(),
            by_hash: HashMap::new(),
            bytes: 0,
            arrivals: 0,
            egress: BTreeMap::new(),
            egress_hashes: HashMap::new(),
        }
    }

    /// Number of pending transactions.
    pub fn len(&self) -> usize {
        self.by_hash.len()
    }

    /// Whether nothing is pending.
    pub fn is_empty(&self) -> bool {
        self.by_hash.is_empty()
    }

    /// Number of pending egress copies.
    pub fn egress_len(&self) -> usize {
        self.egress_hashes.len()
    }

    /// The state keys [`Mempool::ready`], [`Mempool::ready_egress`] and [`Mempool::prune`] read:
    /// the parameters, every account with pending transactions, and every pending egress copy's
    /// sender and records.
    pub fn pending_keys(&self) -> BTreeSet<Vec<u8>> {
        let accounts = self.by_account.keys().map(|account| StateKey::Account(*account).to_bytes());
        let egress = self.egress.values().flat_map(|numbers| numbers.values().flatten());
        let mut keys: BTreeSet<Vec<u8>> =
            accounts.chain(egress.flat_map(|pending| self.chain.egress_keys(&pending.copy))).collect();
        keys.insert(StateKey::Parameters.to_bytes());
        keys
    }

    /// Whether `hash` is pending.
    pub fn contains(&self, hash: &Hash) -> bool {
        self.by_hash.contains_key(hash)
    }

    /// Checks `tx` against `state` (the latest finalized state) and admits it, or says why not.
    pub fn insert(&mut self, state: &dyn StateReader, tx: SignedTransaction) -> Result<Admitted, AdmissionError> {
        let hash = tx.hash();
        if self.by_hash.contains_key(&hash) {
            return Err(AdmissionError::AlreadyPending(hash));
        }
        let parameters = state.parameters().map_err(TransactionError::State)?;
        Chain::check_size(&parameters, &tx)?;
        self.chain.check_stateless(&tx)?;
        let bytes = tx.encoded_size();
        let cost = fees::cost(&parameters.economics, &tx).map_err(TransactionError::from)?.total;

        let signer = tx.transaction.signer;
        let nonce = tx.transaction.nonce;
        let account = state.account(&signer).map_err(TransactionError::State)?;
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
    pub fn ready(&self, state: &dyn StateReader, max: usize) -> Result<Vec<SignedTransaction>, StateError> {
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

    /// Checks `copy` against `state` (the latest finalized state, holding at least
    /// `Chain::egress_keys`) and admits it, or says why not.
    pub fn insert_egress(
        &mut self,
        state: &dyn StateReader,
        copy: SignedEgress,
    ) -> Result<Admitted, EgressAdmissionError> {
        let hash = copy.hash();
        if self.egress_hashes.contains_key(&hash) {
            return Ok(Admitted::Duplicate);
        }
        let sender = copy.egress.sender;
        let sequence = copy.egress.sequence;
        let admitted = match self.chain.check_egress(&Overlay::new(state), &copy) {
            Ok(_) => Admitted::Ready,
            Err(EgressError::Duplicate { .. }) => return Ok(Admitted::Duplicate),
            Err(EgressError::FutureSequence { next, found, .. }) => {
                let max_gap = self.limits.max_nonce_gap;
                if found - next > max_gap {
                    return Err(EgressAdmissionError::SequenceGapTooLarge { next, found, max_gap });
                }
                let pending = self.egress.get(&sender);
                let ready = (next..found).all(|n| pending.is_some_and(|p| p.contains_key(&n)));
                if ready { Admitted::Ready } else { Admitted::Parked }
            }
            Err(error) => return Err(error.into()),
        };
        let pending = self.egress.get(&sender).map_or(0, |numbers| numbers.values().map(Vec::len).sum());
        if pending >= self.limits.max_per_account {
            return Err(EgressAdmissionError::Full("this sender's pending limit"));
        }
        let bytes = copy.encoded_size();
        if self.len() + self.egress_len() >= self.limits.max_transactions || self.bytes + bytes > self.limits.max_bytes
        {
            return Err(EgressAdmissionError::Full("pool limit"));
        }
        self.bytes += bytes;
        self.egress_hashes.insert(hash, (sender, sequence));
        self.egress.entry(sender).or_default().entry(sequence).or_default().push(QueuedEgress { copy, hash, bytes });
        Ok(admitted)
    }

    /// Up to `max` egress copies a proposer can include on top of `state`: per sender, at most its
    /// per-block quota, lowest sequence numbers first, copies of one number in arrival order (the
    /// chain accepts the first and records a differing later one as a discrepancy). Numbers after a
    /// gap wait.
    pub fn ready_egress(&self, state: &dyn StateReader, max: usize) -> Result<Vec<SignedEgress>, StateError> {
        let overlay = Overlay::new(state);
        let quota = overlay.parameters()?.economics.max_egress_per_sender_per_block as usize;
        let mut chosen = Vec::new();
        for (sender, numbers) in &self.egress {
            let Some(info) = overlay.sender(sender)? else { continue };
            let mut expected = info.next_sequence;
            let mut taken = 0;
            for (&sequence, copies) in numbers {
                if sequence > expected {
                    break;
                }
                expected = expected.max(sequence + 1);
                for pending in copies {
                    if taken == quota || chosen.len() == max {
                        break;
                    }
                    chosen.push(pending.copy.clone());
                    taken += 1;
                }
            }
        }
        Ok(chosen)
    }

    /// Drops what `state` (the newest finalized state) made stale: every pending transaction whose
    /// nonce its account has used, every one the current parameters or the account's balance no
    /// longer allow (with its account's later ones, which would wait on it forever), and every
    /// egress copy the chain would no longer take (parked
    /// ones stay). `state` holds at least [`Mempool::pending_keys`]. Returns the hashes dropped.
    pub fn prune(&mut self, state: &dyn StateReader) -> Result<Vec<Hash>, StateError> {
        let overlay = Overlay::new(state);
        let parameters = overlay.parameters()?;
        let mut dropped = Vec::new();
        let accounts: Vec<AccountId> = self.by_account.keys().copied().collect();
        for account in accounts {
            let info = overlay.account(&account)?;
            let Some(pending) = self.by_account.get_mut(&account) else { continue };
            let mut keep = pending.split_off(&info.nonce);
            let mut gone = std::mem::take(pending);
            // What the parameters (changed since admission) or the balance no longer allow can
            // never apply, and it would hold its nonce, and so every later one, forever.
            let mut total = 0u128;
            let mut cut = None;
            for (nonce, entry) in keep.iter_mut() {
                let cost = Chain::check_size(&parameters, &entry.tx)
                    .ok()
                    .and_then(|()| fees::cost(&parameters.economics, &entry.tx).ok())
                    .filter(|cost| total.saturating_add(cost.total.0) <= info.balance.0);
                let Some(cost) = cost else {
                    cut = Some(*nonce);
                    break;
                };
                total += cost.total.0;
                entry.cost = cost.total;
            }
            if let Some(cut) = cut {
                gone.extend(keep.split_off(&cut));
            }
            for (_, entry) in gone {
                self.bytes -= entry.bytes;
                self.by_hash.remove(&entry.hash);
                dropped.push(entry.hash);
            }
            if keep.is_empty() {
                self.by_account.remove(&account);
            } else {
                *pending = keep;
            }
        }
        // Decide first, then remove: a state error leaves the egress pool as it was.
        let mut stale = BTreeSet::new();
        for pending in self.egress.values().flat_map(|numbers| numbers.values().flatten()) {
            // Signatures were checked at admission: re-checking the state is enough.
            match self.chain.recheck_egress(&overlay, &parameters, &pending.copy) {
                Ok(_) | Err(EgressError::FutureSequence { .. }) => {}
                Err(EgressError::State(error)) => return Err(error),
                Err(_) => {
                    stale.insert(pending.hash);
                }
            }
        }
        for numbers in self.egress.values_mut() {
            for copies in numbers.values_mut() {
                copies.retain(|pending| {
                    let keep = !stale.contains(&pending.hash);
                    if !keep {
                        self.bytes -= pending.bytes;
                        self.egress_hashes.remove(&pending.hash);
                        dropped.push(pending.hash);
                    }
                    keep
                });
            }
            numbers.retain(|_, copies| !copies.is_empty());
        }
        self.egress.retain(|_, numbers| !numbers.is_empty());
        Ok(dropped)
    }
}

#[cfg(test)]
mod tests;
