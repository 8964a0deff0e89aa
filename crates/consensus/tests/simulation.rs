//! Deterministic simulations of the whole validator (consensus, marshal, broadcast, backfill, the
//! chain's execution and QMDB state) on Commonware's simulated network: same seed, same run.
#![allow(clippy::unwrap_used)]

use commonware_cryptography::Signer as _;
use commonware_p2p::{Manager as _, simulated};
use commonware_runtime::{Clock as _, Quota, Runner as _, Supervisor as _, deterministic};
use commonware_utils::{NZU32, NZUsize, ordered::Set};
use std::{collections::BTreeSet, num::NonZeroU64, time::Duration};
use veil_chain::ReadState as _;
use veil_chain::{Chain, StateKey, testing};
use veil_consensus::{
    alias::PrivateKey,
    application::{NodeHandle, TransactionStatus},
    dealer,
    engine::{self, Channels, EngineError, History, Timeouts, Validator, ValidatorConfig, channel},
    state::QmdbState,
};
use veil_mempool::Limits;
use veil_primitives::{AccountId, Balance, Hash, SignedTransaction};

struct Outcome {
    roots: Vec<Hash>,
    bob_balances: Vec<Balance>,
    audit: String,
}

async fn balance(node: &NodeHandle<QmdbState<deterministic::Context>>, account: AccountId) -> Balance {
    let guard = node.lock().await;
    let snapshot = guard.read(&BTreeSet::from([StateKey::Account(account).to_bytes()])).await.unwrap();
    snapshot.account(&account).unwrap().balance
}

/// The setup both runs of a determinism check must share: sr25519 signing is randomized, so the
/// transactions are signed once, outside the simulation.
struct Setup {
    n: usize,
    keys: Vec<PrivateKey>,
    dealing: dealer::Dealing,
    chain: Chain,
    transfers: Vec<SignedTransaction>,
}

fn setup(n: usize, seed: u64, transfers: u64) -> Setup {
    use rand::SeedableRng as _;
    let keys: Vec<PrivateKey> = (0..n as u64).map(PrivateKey::from_seed).collect();
    let identities: Vec<_> = keys.iter().map(|k| k.public_key()).collect();
    let dealing = dealer::deal(&mut rand::rngs::StdRng::seed_from_u64(seed), &identities).unwrap();
    let (alice, bob) = (testing::pair("//Alice"), testing::pair("//Bob"));
    let mut genesis = testing::genesis(&[alice.public(), bob.public()], 1_000);
    genesis.network.public_key = dealing.network_key;
    // The simulated clock starts at the Unix epoch: genesis is at its start.
    genesis.genesis_time_ms = 0;
    genesis.validators = keys
        .iter()
        .enumerate()
        .map(|(i, key)| veil_chain::GenesisValidator {
            identity: dealer::public_bytes(key),
            address: format!("127.0.0.1:{}", 30_000 + i),
        })
        .collect();
    let chain = Chain::new(genesis).unwrap();
    let transfers =
        (0..transfers).map(|nonce| testing::transfer(&chain, &alice, nonce, bob.public(), Balance::ONE)).collect();
    Setup { n, keys, dealing, chain, transfers }
}

/// Starts every validator of `setup` on a fully linked simulated network.
async fn launch(context: &deterministic::Context, setup: &Setup) -> Vec<NodeHandle<QmdbState<deterministic::Context>>> {
    let validators = launch_keeping(context, setup, History::Archive).await.unwrap();
    validators.iter().map(|validator| validator.node().clone()).collect()
}

/// [`launch`], each validator keeping `history`.
async fn launch_keeping(
    context: &deterministic::Context,
    setup: &Setup,
    history: History,
) -> Result<Vec<Validator<QmdbState<deterministic::Context>>>, EngineError> {
    let Setup { n, keys, dealing, chain, .. } = setup;
    let n = *n;
    let identities: Vec<_> = keys.iter().map(|k| k.public_key()).collect();
    let namespace = chain.genesis().network.namespace.clone().into_bytes();

    let participants = Set::from_iter_dedup(identities.iter().cloned());
    let (network, oracle) = simulated::Network::new_with_peers(
        context.child("network"),
        simulated::Config {
            max_size: 1 << 20,
            max_peers_per_set: NZUsize!(n),
            disconnect_on_block: true,
            tracked_peer_sets: NZUsize!(1),
        },
        participants.clone(),
    )
    .await;
    network.start();
    let _ = oracle.manager().track(0, participants.clone());
    for a in participants.iter() {
        for b in participants.iter() {
            if a != b {
                let link = simulated::Link {
                    latency: Duration::from_millis(10),
                    jitter: Duration::from_millis(3),
                    success_rate: commonware_utils::probability!(1.0),
                };
                oracle.add_link(a.clone(), b.clone(), link).await.unwrap();
            }
        }
    }

    let mut nodes = Vec::new();
    for (index, (identity, share)) in dealing.shares.iter().enumerate() {
        let control = oracle.control(identity.clone());
        let quota = Quota::per_second(NZU32!(10_000));
        let register = async |id| control.register(id, quota).await.unwrap();
        let channels = Channels {
            votes: register(channel::VOTES).await,
            certificates: register(channel::CERTIFICATES).await,
            resolver: register(channel::RESOLVER).await,
            broadcast: register(channel::BROADCAST).await,
            backfill: register(channel::BACKFILL).await,
        };
        let polynomial = dealer::decode_polynomial(&dealing.polynomial, n).unwrap();
        let scheme = dealer::signer(&namespace, &identities, polynomial, dealer::decode_share(share).unwrap()).unwrap();
        let config = ValidatorConfig {
            chain: chain.clone(),
            identity: identity.clone(),
            scheme,
            partition_prefix: format!("validator-{index}"),
            mempool: Limits::default(),
            timeouts: Timeouts::default(),
            history,
        };
        let child = context.child("validator").with_attribute("index", index);
        nodes.push(engine::start(child, config, channels, control.clone(), oracle.manager()).await?);
    }
    Ok(nodes)
}

/// Waits until every node has finalized every transaction in `hashes`.
async fn wait_finalized(
    context: &deterministic::Context,
    nodes: &[NodeHandle<QmdbState<deterministic::Context>>],
    hashes: &[Hash],
) {
    loop {
        let mut done = true;
        for node in nodes {
            let guard = node.lock().await;
            for hash in hashes {
                done &= matches!(guard.transaction_status(hash).await.unwrap(), TransactionStatus::Finalized { .. });
            }
        }
        if done {
            return;
        }
        context.sleep(Duration::from_millis(200)).await;
    }
}

/// Runs the validators of `setup`, submits its transfers (to rotating validators), waits until all
/// are finalized everywhere, and reports each validator's view.
fn simulate(setup: &Setup, seed: u64) -> Outcome {
    let Setup { n, transfers, .. } = setup;
    let n = *n;
    let bob = testing::pair("//Bob");
    let config = deterministic::Config::default().with_seed(seed).with_timeout(Some(Duration::from_secs(300)));
    deterministic::Runner::new(config).start(|context| async move {
        let nodes = launch(&context, setup).await;
        let mut streams = Vec::new();
        for node in &nodes {
            streams.push(node.subscribe().await);
        }

        // Alice's transfers, each submitted to one validator in turn.
        let hashes: Vec<Hash> = transfers.iter().map(|tx| tx.hash()).collect();
        for (index, tx) in transfers.iter().enumerate() {
            nodes[index % n].submit(tx.clone()).await.unwrap();
        }

        wait_finalized(&context, &nodes, &hashes).await;

        // Every transfer is in exactly one finalized block, at the same place on every validator.
        let positions: Vec<Vec<TransactionStatus>> = {
            let mut all = Vec::new();
            for node in &nodes {
                let guard = node.lock().await;
                let mut statuses = Vec::new();
                for hash in &hashes {
                    statuses.push(guard.transaction_status(hash).await.unwrap());
                }
                all.push(statuses);
            }
            all
        };
        assert!(positions.windows(2).all(|pair| pair[0] == pair[1]));
        let distinct: BTreeSet<_> = positions[0].iter().map(|s| format!("{s:?}")).collect();
        assert_eq!(distinct.len(), hashes.len(), "each transfer finalized once, at its own position");

        // Every validator finalized the same blocks with the same state roots, height by height.
        let mut roots_by_node: Vec<std::collections::BTreeMap<u64, (Hash, Hash)>> = Vec::new();
        for stream in &mut streams {
            let mut roots = std::collections::BTreeMap::new();
            while let Ok(finalized) = stream.try_recv() {
                roots.insert(finalized.block.header.height, (finalized.hash, finalized.block.header.state_root));
            }
            roots_by_node.push(roots);
        }
        let common = roots_by_node.iter().map(|r| r.keys().copied().max().unwrap_or(0)).min().unwrap();
        assert!(common >= 1);
        for height in 1..=common {
            let first = roots_by_node[0].get(&height);
            assert!(roots_by_node.iter().all(|r| r.get(&height) == first), "validators disagree at height {height}");
        }
        let roots: Vec<Hash> = (1..=common).map(|h| roots_by_node[0][&h].1).collect();
        let mut bob_balances = Vec::new();
        for node in &nodes {
            let guard = node.lock().await;
            assert_eq!(guard.finalized_header().state_root, guard.state_root());
            drop(guard);
            bob_balances.push(balance(node, bob.public()).await);
        }
        Outcome { roots, bob_balances, audit: context.auditor().state() }
    })
}

#[test]
fn one_validator_finalizes_transfers() {
    let outcome = simulate(&setup(1, 1, 5), 1);
    assert_eq!(outcome.bob_balances, vec![Balance((1_000 + 5) * Balance::ONE.0)]);
}

#[test]
fn four_validators_agree_and_replay_deterministically() {
    let setup = setup(4, 7, 8);
    let first = simulate(&setup, 7);
    assert!(first.bob_balances.iter().all(|b| *b == Balance((1_000 + 8) * Balance::ONE.0)), "{:?}", first.bob_balances);
    let second = simulate(&setup, 7);
    assert_eq!(first.audit, second.audit, "same seed, same run");
    assert_eq!(first.roots, second.roots);
}

/// A validator stopped mid-run (its tasks simply cease, as in a crash) and started again from its
/// storage resumes at the state it had committed, still knows its finalized transactions, and goes
/// on finalizing new ones: nothing applied twice, nothing lost.
#[test]
fn restart_recovers_state_and_continues() {
    let setup = &setup(1, 3, 5);
    let (first_three, next_two) = (&setup.transfers[..3], &setup.transfers[3..]);
    let config = deterministic::Config::default().with_seed(3).with_timeout(Some(Duration::from_secs(300)));
    let ((height, root), checkpoint) = deterministic::Runner::new(config).start_and_recover(|context| async move {
        let nodes = launch(&context, setup).await;
        let hashes: Vec<Hash> = first_three.iter().map(SignedTransaction::hash).collect();
        for tx in first_three {
            nodes[0].submit(tx.clone()).await.unwrap();
        }
        wait_finalized(&context, &nodes, &hashes).await;
        let guard = nodes[0].lock().await;
        (guard.finalized_header().height, guard.state_root())
    });
    deterministic::Runner::from(checkpoint).start(|context| async move {
        let nodes = launch(&context, setup).await;
        {
            let guard = nodes[0].lock().await;
            assert!(guard.finalized_header().height >= height, "restarted below its committed height");
            if guard.finalized_header().height == height {
                assert_eq!(guard.state_root(), root);
            }
            for tx in first_three {
                assert!(matches!(
                    guard.transaction_status(&tx.hash()).await.unwrap(),
                    TransactionStatus::Finalized { .. }
                ));
            }
        }
        // A replay of an already finalized transfer is refused as stale.
        let replay = nodes[0].submit(first_three[0].clone()).await.unwrap_err();
        assert!(replay.to_string().contains("already used"), "{replay}");
        let hashes: Vec<Hash> = next_two.iter().map(SignedTransaction::hash).collect();
        for tx in next_two {
            nodes[0].submit(tx.clone()).await.unwrap();
        }
        wait_finalized(&context, &nodes, &hashes).await;
        let bob = testing::pair("//Bob").public();
        assert_eq!(balance(&nodes[0], bob).await, Balance((1_000 + 5) * Balance::ONE.0));
    });
}

/// Issue 22, item 5: a pruning validator keeps its newest blocks and certificates and drops older
/// sections, still finds every finalized transaction, restarts on its pruned archives, and refuses
/// to start as an archive node on them instead of losing its blocks.
#[test]
fn a_pruning_validator_keeps_its_newest_blocks_and_restarts_on_them() {
    let setup = &setup(1, 5, 2);
    let keep = NonZeroU64::new(16).unwrap();
    let config = deterministic::Config::default().with_seed(5).with_timeout(Some(Duration::from_secs(600)));
    let (height, checkpoint) = deterministic::Runner::new(config).start_and_recover(|context| async move {
        let validators = launch_keeping(&context, setup, History::Recent(keep)).await.unwrap();
        let node = validators[0].node().clone();
        let hashes: Vec<Hash> = setup.transfers.iter().map(SignedTransaction::hash).collect();
        for tx in &setup.transfers {
            node.submit(tx.clone()).await.unwrap();
        }
        wait_finalized(&context, std::slice::from_ref(&node), &hashes).await;
        while node.lock().await.finalized_header().height < 3 * engine::MIN_RECENT_BLOCKS {
            context.sleep(Duration::from_millis(100)).await;
        }
        let height = node.lock().await.finalized_header().height;
        let validator = &validators[0];
        assert!(validator.block(1).await.is_none(), "the first section is pruned");
        let kept = History::kept(keep);
        assert_eq!(kept, engine::MIN_RECENT_BLOCKS, "at least as many as the index may index again");
        assert!(validator.block(height - kept).await.is_some(), "the newest {kept} blocks are kept");
        assert!(validator.certified_block(height).await.is_some());
        for hash in &hashes {
            let status = node.lock().await.transaction_status(hash).await.unwrap();
            assert!(matches!(status, TransactionStatus::Finalized { .. }), "{status:?}");
        }
        height
    });
    let checkpoint = deterministic::Runner::from(checkpoint)
        .start_and_recover(|context| async move {
            let refused = launch_keeping(&context, setup, History::Archive).await.err().unwrap();
            assert!(refused.to_string().contains("made by a pruning node"), "{refused}");
        })
        .1;
    deterministic::Runner::from(checkpoint).start(|context| async move {
        let validators = launch_keeping(&context, setup, History::Recent(keep)).await.unwrap();
        let node = validators[0].node().clone();
        while node.lock().await.finalized_header().height < height + 300 {
            context.sleep(Duration::from_millis(100)).await;
        }
        assert!(validators[0].block(height + 100).await.is_some());
        assert!(validators[0].block(1).await.is_none());
    });
}
