//! Confidential contract execution by one worker, in process: the wasm secret token deployed on a
//! generated chain, then N confidential transfers (default 5,000; 250 per block, each block its
//! own verified batch, as a relayer following the tip brings them). Reports transfers/s and fuel
//! per transfer, beside the per-core ceiling of opening one command (sr25519 signature check,
//! X25519, HKDF, AES-GCM) measured in the same run.
//!
//! `cargo bench -p veil-worker --bench contracts [-- TRANSFERS]`
#![allow(clippy::unwrap_used, clippy::print_stdout, missing_docs)]

#[path = "../tests/support/mod.rs"]
mod support;

use parity_scale_codec::{DecodeAll, Encode};
use std::time::Instant;
use support::{Scenario, ask, contract_query};
use veil_chain::testing::pair;
use veil_contract_engine::{
    abi::AccountId as AbiAccount,
    testing::{contract_wasm, open_command_cost},
};
use veil_crypto::confidential::AnswerResult;
use veil_primitives::Balance;
use veil_secret_token::{Asset, Command as Token, Query as TokenQuery};

const FUEL: u64 = 20_000_000;
const PER_BLOCK: u64 = 250;

fn main() {
    // Run without `--bench` (by `cargo test --benches`), a smoke size: the bench runs, tiny.
    let smoke = !std::env::args().any(|arg| arg == "--bench");
    let default = if smoke { 10 } else { 5_000 };
    let transfers: u64 = std::env::args().skip(1).find_map(|arg| arg.parse().ok()).unwrap_or(default);
    let blocks = transfers.div_ceil(PER_BLOCK);
    let (charlie, dave) = (pair("//Charlie"), pair("//Dave"));

    // A worker of cluster 1 that runs the token, with Charlie's deposit in it.
    let (mut scenario, mut gatekeeper, mut workers) = Scenario::with_workers(1);
    let mut worker = workers.pop().unwrap();
    scenario.form_cluster(&[worker.identity()]);
    scenario.relay(&mut gatekeeper);
    scenario.relay(&mut gatekeeper);
    let (token, transactions) = scenario.instantiate(&charlie, &contract_wasm("veil_secret_token"), &[], FUEL, 1);
    scenario.block(transactions.to_vec());
    scenario.relay(&mut gatekeeper);
    scenario.relay(&mut gatekeeper);
    scenario.relay(&mut worker);
    scenario.relay(&mut worker);
    let deposit = scenario.call(token, &charlie, &Token::Deposit.encode(), FUEL, 1_000 * Balance::ONE.0);
    scenario.block(vec![deposit]);
    scenario.relay(&mut worker);

    // The transfers, a batch per block, each carrying a 32-byte memo.
    let generating = Instant::now();
    let mut lengths: Vec<_> = worker.view().topics.iter().map(|(topic, peaks)| (*topic, peaks.length)).collect();
    let mut batches = Vec::new();
    for block in 0..blocks {
        let count = PER_BLOCK.min(transfers - block * PER_BLOCK);
        let transactions = (0..count)
            .map(|i| {
                let memo = (block * PER_BLOCK + i).to_le_bytes().repeat(4);
                let transfer =
                    Token::Transfer { asset: Asset::Native, to: AbiAccount(dave.public().0), amount: 1, memo };
                scenario.call(token, &charlie, &transfer.encode(), FUEL, 0)
            })
            .collect();
        scenario.block(transactions);
        let batch = scenario.batch_from(lengths.iter().copied());
        for (topic, length) in &mut lengths {
            if let Some(delivered) = batch.topics.iter().find(|t| t.topic == *topic) {
                *length = delivered.proof.length;
            }
        }
        batches.push(batch);
    }
    println!("generated {transfers} transfers in {blocks} blocks in {:.1?}", generating.elapsed());

    let start = Instant::now();
    let mut fuel = 0;
    for batch in &batches {
        let applied = worker.apply(batch).unwrap();
        assert!(applied.refused.is_empty(), "{:?}", applied.refused);
        fuel += applied.fuel_used;
    }
    let elapsed = start.elapsed();
    let query = TokenQuery::Balance { owner: AbiAccount(dave.public().0), asset: Asset::Native };
    let (asked, response) = contract_query(&scenario, worker.identity(), &dave, token, &query.encode());
    let AnswerResult::Ok(balance) = ask(&worker, &asked.sign(&dave), &response).unwrap().result else {
        panic!("Dave's balance refused")
    };
    assert_eq!(u128::decode_all(&mut &balance[..]).unwrap(), u128::from(transfers), "every transfer executed");

    let rate = transfers as f64 / elapsed.as_secs_f64();
    let ceiling = open_command_cost(2_000);
    let ceiling_rate = 1.0 / ceiling.as_secs_f64();
    println!(
        "confidential transfers executed by one worker: {transfers} in {elapsed:.2?} = {rate:.0}/s, {} fuel each",
        fuel / transfers
    );
    println!(
        "opening one command (sr25519 verify + X25519 + HKDF + AES-GCM): {ceiling:.1?} = {ceiling_rate:.0}/s per core; \
         transfers/s = {:.2} of that ceiling",
        rate / ceiling_rate
    );
}
