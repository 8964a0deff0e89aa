//! Validators on perfect links: one and four finalize every transfer (four the same way twice), a
//! crash of the whole network recovers from storage and continues, and a pruning validator keeps
//! its newest blocks. The faulty scenarios are in `seeds.rs`.
#![allow(clippy::unwrap_used)]

use commonware_runtime::{Clock as _, Runner as _, deterministic};
use futures::StreamExt as _;
use std::{num::NonZeroU64, time::Duration};
use veil_consensus::{
    application::{MAX_SUBSCRIBERS, SUBSCRIBER_QUEUE, TransactionStatus},
    engine::{History, MIN_RECENT_BLOCKS},
};
use veil_simulation::{Scenario, Setup, invariants, network::Net, run, run_twice, workload::Wallets};

#[test]
fn one_validator_finalizes_transfers() {
    let outcome = run(&Setup::new(Scenario::quiet(1, 5), 1), 1);
    assert!(!outcome.finalized.is_empty());
}

#[test]
fn four_validators_agree_and_replay_deterministically() {
    let outcome = run_twice(&Setup::new(Scenario::quiet(4, 8), 7), 7);
    assert!(!outcome.finalized.is_empty());
}

/// The whole network stopped mid-run (every task simply ceases and unsynced writes are lost, as in
/// a crash) and started again from its storage resumes at the state it had committed, still knows
/// its finalized transactions, refuses their replay, and goes on finalizing new ones: nothing
/// applied twice, nothing lost.
#[test]
fn a_whole_network_crash_recovers_from_storage_and_continues() {
    let setup = &Setup::new(Scenario::quiet(1, 5), 3);
    let (first, rest) = setup.wallets[0].split_at(3);
    let config = deterministic::Config::default().with_seed(3).with_timeout(Some(Duration::from_secs(300)));
    let (height, checkpoint) = deterministic::Runner::new(config).start_and_recover(|context| async move {
        let net = Net::start(&context, setup).await.unwrap();
        Wallets::new(&[first.to_vec()]).settle(&context, &net).await;
        net.all()[0].node().lock().await.finalized_header().height
    });
    deterministic::Runner::from(checkpoint).start(|context| async move {
        let net = Net::start(&context, setup).await.unwrap();
        let node = net.all()[0].node().clone();
        assert!(node.lock().await.finalized_header().height >= height, "restarted below its committed height");
        for tx in first {
            let status = node.lock().await.transaction_status(&tx.hash()).await.unwrap();
            assert!(matches!(status, TransactionStatus::Finalized { .. }), "{status:?}");
        }
        let replay = node.submit(first[0].clone()).await.unwrap_err();
        assert!(replay.to_string().contains("already used"), "{replay}");
        Wallets::new(&[rest.to_vec()]).settle(&context, &net).await;
        invariants::check(&net, setup, &Wallets::new(&setup.wallets)).await;
    });
}

/// Issue 22, item 5: a pruning validator keeps its newest blocks and certificates and drops older
/// sections, finds the finalized transactions of the blocks it keeps (and no others: its index is
/// pruned with its blocks), restarts on its pruned archives, and refuses to start as an archive
/// node on them instead of losing its blocks.
#[test]
fn a_pruning_validator_keeps_its_newest_blocks_and_restarts_on_them() {
    let keep = NonZeroU64::new(16).unwrap();
    let setup = &Setup::new(Scenario { history: History::Recent(keep), ..Scenario::quiet(1, 2) }, 5);
    let config = deterministic::Config::default().with_seed(5).with_timeout(Some(Duration::from_secs(3_600)));
    let (height, checkpoint) = deterministic::Runner::new(config).start_and_recover(|context| async move {
        let net = Net::start(&context, setup).await.unwrap();
        let mut wallets = Wallets::new(&setup.wallets);
        wallets.settle(&context, &net).await;
        let validator = net.all()[0];
        let status = |hash| async move { validator.node().lock().await.transaction_status(&hash).await.unwrap() };
        let mut finalized_at = Vec::new();
        for transfer in wallets.transfers() {
            match status(transfer.hash()).await {
                TransactionStatus::Finalized { height, .. } => finalized_at.push((transfer.hash(), height)),
                other => panic!("transfer {} is not final: {other:?}", transfer.hash()),
            }
        }
        while validator.node().lock().await.finalized_header().height < 3 * MIN_RECENT_BLOCKS {
            context.sleep(Duration::from_millis(500)).await;
        }
        let height = validator.node().lock().await.finalized_header().height;
        let kept = History::kept(keep);
        assert_eq!(kept, MIN_RECENT_BLOCKS, "at least as many as the index may index again");
        assert!(validator.block(1).await.is_none(), "the first section is pruned");
        assert!(validator.block(height - kept).await.is_some(), "the newest {kept} blocks are kept");
        assert!(validator.certified_block(height).await.is_some());
        // The index is pruned after the blocks, whole sections of entries at a time: a transaction
        // of a kept block is always found, one of a pruned block until its section goes.
        for (hash, at) in finalized_at {
            let found = status(hash).await;
            let right = matches!(found, TransactionStatus::Finalized { height, .. } if height == at);
            let kept = validator.block(at).await.is_some();
            assert!(
                right || (!kept && found == TransactionStatus::Unknown),
                "transfer {hash} of block {at}: {found:?}"
            );
        }
        invariants::check(&net, setup, &wallets).await;
        height
    });
    let checkpoint = deterministic::Runner::from(checkpoint)
        .start_and_recover(|context| async move {
            let refused = Net::start_keeping(&context, setup, History::Archive).await.err().unwrap();
            assert!(refused.to_string().contains("made by a pruning node"), "{refused}");
        })
        .1;
    deterministic::Runner::from(checkpoint).start(|context| async move {
        let net = Net::start(&context, setup).await.unwrap();
        let validator = net.all()[0];
        while validator.node().lock().await.finalized_header().height < height + 300 {
            context.sleep(Duration::from_millis(500)).await;
        }
        assert!(validator.block(height + 100).await.is_some());
        assert!(validator.block(1).await.is_none());
    });
}

/// Issue 24: a block stream's subscriber that stops reading is dropped once it leaves
/// `SUBSCRIBER_QUEUE` blocks unread (its stream ends), never buffered without bound; one that
/// reads keeps up; streams beyond `MAX_SUBSCRIBERS` are refused until one closes.
#[test]
fn a_subscriber_that_never_reads_is_dropped_not_buffered() {
    let setup = &Setup::new(Scenario::quiet(1, 2), 11);
    let config = deterministic::Config::default().with_seed(11).with_timeout(Some(Duration::from_secs(600)));
    deterministic::Runner::new(config).start(|context| async move {
        let net = Net::start(&context, setup).await.unwrap();
        let node = net.all()[0].node();
        let height = || async { node.lock().await.finalized_header().height };
        let mut stalled = node.subscribe().await.unwrap();
        let mut reading = node.subscribe().await.unwrap();
        let first = height().await;
        let mut read = 0;
        while height().await < first + 3 * SUBSCRIBER_QUEUE as u64 {
            while reading.try_recv().is_ok() {
                read += 1;
            }
            context.sleep(Duration::from_millis(50)).await;
        }
        let mut unread = 0;
        while stalled.next().await.is_some() {
            unread += 1;
        }
        assert!(unread <= SUBSCRIBER_QUEUE, "{unread} blocks were held for a subscriber that did not read");
        assert!(read >= 2 * SUBSCRIBER_QUEUE, "the reading subscriber got {read} blocks");

        let mut open = Vec::new();
        while let Some(stream) = node.subscribe().await {
            open.push(stream);
        }
        assert_eq!(open.len() + 1, MAX_SUBSCRIBERS, "the reading stream and the rest");
        open.pop();
        assert!(node.subscribe().await.is_some(), "a closed stream frees its place");
    });
}
