//! What a failed transaction's rollback costs, beside the floor measured in the same run.
//!
//! - `overlay/N`: an overlay that already holds N writes (a block paying N accounts); a checkpoint,
//!   four writes, a rollback. It should cost what the four writes cost, whatever N is.
//! - `floor/N`: the same four keys inserted into and removed from a `BTreeMap` of N entries: the
//!   least any rollback of four writes can cost.
//! - `block`: a block of 1,000 transfers, each followed by a transfer its signer cannot pay (refused
//!   and rolled back), built by `Chain::build`; signature checks included.
//!
//! `cargo bench -p veil-chain --bench rollback`
#![allow(clippy::unwrap_used, missing_docs)]

use criterion::{BenchmarkId, Criterion, black_box, criterion_group, criterion_main};
use std::collections::BTreeMap;
use veil_chain::{
    AccountInfo, MemoryState,
    state::Overlay,
    testing::{self, pair},
};
use veil_primitives::{AccountId, Balance};

fn account(i: u32) -> AccountId {
    let mut id = [0u8; 32];
    id[..4].copy_from_slice(&i.to_le_bytes());
    AccountId(id)
}

fn smoke() -> bool {
    !std::env::args().any(|arg| arg == "--bench")
}

fn overlay(c: &mut Criterion) {
    let mut group = c.benchmark_group("rollback");
    let sizes: &[u32] = if smoke() { &[100] } else { &[1_000, 10_000] };
    for &written in sizes {
        let committed = MemoryState::default();
        let mut overlay = Overlay::new(&committed);
        for i in 0..written {
            overlay.set_account(&account(i), &AccountInfo { nonce: 1, balance: Balance(1) });
        }
        group.bench_function(BenchmarkId::new("overlay", written), |b| {
            b.iter(|| {
                let checkpoint = overlay.checkpoint();
                for i in 0..4 {
                    overlay.set_account(&account(1_000_000 + i), &AccountInfo { nonce: 1, balance: Balance(2) });
                }
                overlay.restore(black_box(checkpoint));
            })
        });
        let mut map: BTreeMap<Vec<u8>, Option<Vec<u8>>> =
            (0..written).map(|i| (account(i).0.to_vec(), Some(vec![0u8; 24]))).collect();
        group.bench_function(BenchmarkId::new("floor", written), |b| {
            b.iter(|| {
                for i in 0..4 {
                    map.insert(account(1_000_000 + i).0.to_vec(), Some(vec![1u8; 24]));
                }
                for i in 0..4 {
                    map.remove(black_box(&account(1_000_000 + i).0[..]));
                }
            })
        });
    }
    group.finish();
}

fn block(c: &mut Criterion) {
    let pairs = if smoke() { 10 } else { 1_000 };
    let alice = pair("//Alice");
    let broke = pair("//Broke");
    let test = testing::chain(&[alice.public()], 1_000_000_000);
    let mut candidates = Vec::new();
    for i in 0..pairs {
        candidates.push(testing::transfer(&test.chain, &alice, u64::from(i), account(i), Balance(1_000_000)));
        candidates.push(testing::transfer(&test.chain, &broke, 0, account(i), Balance(1)));
    }
    let mut group = c.benchmark_group("rollback");
    group.sample_size(10);
    group.bench_function(BenchmarkId::new("block", format!("{pairs}+{pairs} refused")), |b| {
        b.iter(|| {
            let built = test
                .chain
                .build(&test.state, &test.head, test.head.timestamp_ms + 1_000, None, candidates.clone(), [])
                .unwrap();
            assert_eq!(built.transactions.len(), pairs as usize);
            built
        })
    });
    group.finish();
}

criterion_group!(benches, overlay, block);
criterion_main!(benches);
