//! The workload: wallets that each send their transfers in nonce order, each to whichever
//! validator is up, again after a while until one of them has it final (a crashed validator's
//! mempool is lost with it, and a partition or a lossy link may keep a transfer from the leader).

use commonware_runtime::{Clock as _, Supervisor as _, deterministic};
use rand::RngExt as _;
use std::time::{Duration, SystemTime};
use veil_consensus::application::TransactionStatus;
use veil_primitives::{Hash, SignedTransaction};

use crate::network::{Net, SimValidator};

/// How often the wallets look and act.
pub const TICK: Duration = Duration::from_millis(100);

/// How long a wallet waits for its transfer to be final before sending it again.
pub const RESEND_AFTER: Duration = Duration::from_secs(3);

struct Wallet {
    transfers: Vec<SignedTransaction>,
    next: usize,
    sent: Option<SystemTime>,
    sends: u64,
}

/// Every wallet of a run.
pub struct Wallets {
    wallets: Vec<Wallet>,
}

impl Wallets {
    /// Wallets for these transfers (one list per sender, in nonce order).
    pub fn new(transfers: &[Vec<SignedTransaction>]) -> Self {
        let wallets =
            transfers.iter().map(|list| Wallet { transfers: list.clone(), next: 0, sent: None, sends: 0 }).collect();
        Self { wallets }
    }

    /// Adds a wallet with these transactions (in nonce order), from now on.
    pub fn add(&mut self, transactions: Vec<SignedTransaction>) {
        self.wallets.push(Wallet { transfers: transactions, next: 0, sent: None, sends: 0 });
    }

    /// Whether every transfer is final.
    pub fn done(&self) -> bool {
        self.wallets.iter().all(|wallet| wallet.next == wallet.transfers.len())
    }

    /// How many transfers are final so far.
    pub fn progress(&self) -> usize {
        self.wallets.iter().map(|wallet| wallet.next).sum()
    }

    /// Every transfer, in wallet then nonce order.
    pub fn transfers(&self) -> impl Iterator<Item = &SignedTransaction> {
        self.wallets.iter().flat_map(|wallet| wallet.transfers.iter())
    }

    /// How many times transfers were sent (more than there are transfers: resends).
    pub fn sends(&self) -> u64 {
        self.wallets.iter().map(|wallet| wallet.sends).sum()
    }

    /// Steps every [`TICK`] until every transfer is final (on a network without scheduled
    /// faults).
    pub async fn settle(&mut self, context: &deterministic::Context, net: &Net) {
        while !self.done() {
            self.step(context, net).await;
            context.sleep(TICK).await;
        }
    }

    /// One tick: each wallet moves past a transfer some running validator has final, and sends
    /// its current one if it has not, or not for [`RESEND_AFTER`].
    pub async fn step(&mut self, context: &deterministic::Context, net: &Net) {
        let now = context.current();
        let mut rng = context.child("wallets");
        let running: Vec<_> = net.running().map(|(_, validator)| validator).collect();
        if running.is_empty() {
            return;
        }
        for wallet in &mut self.wallets {
            let Some(transfer) = wallet.transfers.get(wallet.next) else { continue };
            if finalized_at(&running, &transfer.hash()).await.is_some() {
                wallet.next += 1;
                wallet.sent = None;
                continue;
            }
            let due = wallet.sent.is_none_or(|sent| now.duration_since(sent).unwrap_or_default() >= RESEND_AFTER);
            if due {
                let validator = running[rng.random_range(0..running.len())];
                // Refusals (already pending, or a validator behind on the sender's nonce) are
                // answered by sending again later.
                let _ = validator.node().submit(transfer.clone()).await;
                wallet.sent = Some(now);
                wallet.sends += 1;
            }
        }
    }
}

/// The height at which a transaction is final, on the first of `validators` that has it final.
pub async fn finalized_at(validators: &[&SimValidator], hash: &Hash) -> Option<u64> {
    for validator in validators {
        if let Ok(TransactionStatus::Finalized { height, .. }) =
            validator.node().lock().await.transaction_status(hash).await
        {
            return Some(height);
        }
    }
    None
}
