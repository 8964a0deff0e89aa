//! Confidential transfers end to end through a devnet of real processes on loopback: `veil devnet`,
//! the development gatekeeper and one worker (`veil-worker`, software mode), each with its relayer
//! (`veil relay --interval-ms 50`). The wasm secret token is deployed and Charlie deposits; then:
//!
//! - latency: N sequential transfers (default 40), each timed from submission to finalized (the
//!   node's transaction status), executed (the worker's view of the contract's topic includes it)
//!   and queryable (Dave's sealed balance query answers the new balance); p50 and p99 of each;
//! - throughput: M transfers (default 500) submitted as fast as the mempool takes them (at most
//!   64 nonces ahead of an account: 60 kept in flight), timed until Dave's balance shows them all;
//!
//! beside the per-core ceiling of opening one command (sr25519 verify, X25519, HKDF, AES-GCM)
//! measured in the same run.
//!
//! `cargo bench -p veil-cli --bench contracts [-- N M]`
#![allow(clippy::unwrap_used, clippy::print_stdout, clippy::print_stderr, missing_docs)]

#[path = "../tests/support/mod.rs"]
mod support;

use parity_scale_codec::{DecodeAll as _, Encode as _};
use std::time::{Duration, Instant};
use support::{CommandKey, ContractNetwork, Process, ask_worker, pair, status, temp_dir};
use veil_client::api::{node::TransactionStatusView, paths::node as paths};
use veil_contract_engine::{
    abi::AccountId as AbiAccount,
    testing::{contract_wasm, open_command_cost},
};
use veil_crypto::{AccountPair, confidential::AnswerResult};
use veil_primitives::{Balance, SignedTransaction, Transaction};
use veil_secret_token::{Asset, Command as Token, Query as TokenQuery};

const FUEL: u64 = 20_000_000;

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 * p) as usize).min(sorted.len() - 1)]
}

/// Polls `done` every millisecond; panics after a minute.
fn poll(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// The deployed token, by its published command key.
struct TokenContract(CommandKey);

impl TokenContract {
    fn transfer(&self, node: &Process, from: &AccountPair, nonce: u64, to: &AccountPair) -> SignedTransaction {
        let command =
            Token::Transfer { asset: Asset::Native, to: AbiAccount(to.public().0), amount: 1, memo: vec![0; 32] };
        self.signed(node, from, nonce, &command, 0)
    }

    fn signed(
        &self,
        node: &Process,
        from: &AccountPair,
        nonce: u64,
        command: &Token,
        value: u128,
    ) -> SignedTransaction {
        let call = self.0.call(node.chain_id(), from, nonce, &command.encode(), FUEL, value);
        from.sign_transaction(Transaction { genesis: node.chain_id(), signer: from.public(), nonce, call })
    }

    fn balance(&self, node: &Process, worker: &Process, owner: &AccountPair) -> u128 {
        let query = TokenQuery::Balance { owner: AbiAccount(owner.public().0), asset: Asset::Native };
        match ask_worker(node, worker, owner, self.0.contract, &query.encode()).unwrap().result {
            AnswerResult::Ok(bytes) => u128::decode_all(&mut &bytes[..]).unwrap(),
            AnswerResult::Refused(reason) => panic!("refused: {}", String::from_utf8_lossy(&reason)),
        }
    }
}

fn main() {
    // Run without `--bench` (by `cargo test --benches`), a smoke size: the bench runs, tiny.
    let smoke = !std::env::args().any(|arg| arg == "--bench");
    let numbers: Vec<usize> = std::env::args().skip(1).filter_map(|arg| arg.parse().ok()).collect();
    let (sequential, burst) = if smoke { (2, 5) } else { (40, 500) };
    let (sequential, burst) =
        (numbers.first().copied().unwrap_or(sequential), numbers.get(1).copied().unwrap_or(burst));
    let dir = temp_dir("bench-contracts");
    let network = ContractNetwork::start(&dir);
    let (node, worker) = (&network.node, network.worker());
    let (charlie, dave) = (pair("//Charlie"), pair("//Dave"));
    let (key, _) = network.deploy(&charlie, &contract_wasm("veil_secret_token"), &[], FUEL);
    let token = TokenContract(key);
    let (nonce, _) = node.account(&charlie.public());
    let deposit = token.signed(node, &charlie, nonce, &Token::Deposit, 10_000 * Balance::ONE.0);
    assert_eq!(node.submit(&deposit).0, 202);
    poll("the deposit", || token.balance(node, worker, &charlie) > 0);

    // Latency, one transfer at a time.
    let topic = format!("contract:{}", key.contract);
    let executed = |worker: &Process| status(worker).topics.get(&topic).copied().unwrap_or(0);
    let (mut finalized, mut run, mut queryable) = (Vec::new(), Vec::new(), Vec::new());
    for i in 0..sequential {
        let (nonce, _) = node.account(&charlie.public());
        let transfer = token.transfer(node, &charlie, nonce, &dave);
        let length = executed(worker);
        let start = Instant::now();
        assert_eq!(node.submit(&transfer).0, 202);
        let path = paths::transaction(transfer.hash());
        poll("finalization", || {
            node.get_as::<TransactionStatusView>(&path).1.is_ok_and(|view| view.status == "finalized")
        });
        finalized.push(start.elapsed());
        poll("execution", || executed(worker) > length);
        run.push(start.elapsed());
        poll("the new balance", || token.balance(node, worker, &dave) == i as u128 + 1);
        queryable.push(start.elapsed());
    }
    for list in [&mut finalized, &mut run, &mut queryable] {
        list.sort();
    }
    let show = |list: &[Duration]| format!("p50 {:.0?} p99 {:.0?}", percentile(list, 0.5), percentile(list, 0.99));
    println!("one transfer at a time ({sequential}): submit -> finalized {}", show(&finalized));
    println!("                                   submit -> executed  {}", show(&run));
    println!("                                   submit -> queryable {}", show(&queryable));

    // Throughput, a burst.
    let (first, _) = node.account(&charlie.public());
    let before = token.balance(node, worker, &dave);
    let transfers: Vec<_> = (0..burst as u64).map(|i| token.transfer(node, &charlie, first + i, &dave)).collect();
    let start = Instant::now();
    for (i, transfer) in transfers.iter().enumerate() {
        // The mempool takes nonces at most 64 ahead of the account's: keep 60 in flight.
        poll("room in the mempool", || node.account(&charlie.public()).0 + 60 > first + i as u64);
        let (code, body) = node.submit(transfer);
        assert_eq!(code, 202, "{body:?}");
    }
    let submitted = start.elapsed();
    poll("the burst", || token.balance(node, worker, &dave) == before + burst as u128);
    let elapsed = start.elapsed();
    let rate = burst as f64 / elapsed.as_secs_f64();
    println!(
        "a burst of {burst} transfers: submitted in {submitted:.2?}, all queryable after {elapsed:.2?} = {rate:.0} transfers/s end to end"
    );
    let ceiling = open_command_cost(2_000);
    let ceiling_rate = 1.0 / ceiling.as_secs_f64();
    println!(
        "opening one command (sr25519 verify + X25519 + HKDF + AES-GCM): {ceiling:.1?} = {ceiling_rate:.0}/s per core; \
         end to end = {:.3} of that ceiling",
        rate / ceiling_rate
    );
    let _ = std::fs::remove_dir_all(&dir);
}
