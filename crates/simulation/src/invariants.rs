//! What every run must keep, checked at its end; a broken invariant panics, saying which and
//! where.
//!
//! - Safety: every height that all validators finalized (and still keep) holds the same block
//!   (hash and state root) on each.
//! - Exactly once: every transfer is final on every validator, at the same height and position,
//!   and no two at the same position.
//! - Conservation: on every validator, the balances of every account the run touched plus the
//!   reward pots add up to the issuance's total, and the total is genesis + minted − burned.
//! - Agreement on the result: every validator holds the same balances, and each recipient holds
//!   exactly what the transfers sent it (none applied twice, none lost).

use std::collections::{BTreeMap, BTreeSet};
use veil_chain::{ReadState as _, StateKey};
use veil_consensus::{application::TransactionStatus, engine::History};
use veil_primitives::{AccountId, Balance, Hash};

use crate::{Setup, network::Net, workload::Wallets};

/// Checks every invariant; returns the finalized heights all validators share, with each block's
/// hash and state root.
pub async fn check(net: &Net, setup: &Setup, wallets: &Wallets) -> Vec<(u64, Hash, Hash)> {
    let validators = net.all();
    let mut common = u64::MAX;
    for validator in &validators {
        common = common.min(validator.node().lock().await.finalized_header().height);
    }
    // A pruning validator keeps only its newest blocks.
    let first = match setup.scenario.history {
        History::Archive => 1,
        History::Recent(keep) => common.saturating_sub(History::kept(keep)).max(1),
    };
    let mut finalized = Vec::new();
    for height in first..=common {
        let mut seen: Option<(Hash, Hash)> = None;
        for (index, validator) in validators.iter().enumerate() {
            let block =
                validator.block(height).await.unwrap_or_else(|| panic!("validator {index} lacks block {height}"));
            let this = (block.header.hash(), block.header.state_root);
            match seen {
                None => seen = Some(this),
                Some(first) => assert_eq!(first, this, "safety: validator {index} finalized another block {height}"),
            }
        }
        let (hash, root) = seen.unwrap_or_else(|| panic!("no validator"));
        finalized.push((height, hash, root));
    }

    let mut positions = BTreeSet::new();
    for transfer in wallets.transfers() {
        let hash = transfer.hash();
        let mut statuses = Vec::new();
        for validator in &validators {
            statuses
                .push(validator.node().lock().await.transaction_status(&hash).await.unwrap_or_else(|e| panic!("{e}")));
        }
        let status = &statuses[0];
        assert!(statuses.iter().all(|other| other == status), "transfer {hash}: validators disagree: {statuses:?}");
        match (status, setup.scenario.history) {
            (TransactionStatus::Finalized { .. }, _) => {
                assert!(positions.insert(format!("{status:?}")), "two transfers at {status:?}")
            }
            // A pruning node forgets the transactions of the blocks it pruned, with the blocks.
            (TransactionStatus::Unknown, History::Recent(_)) => {}
            _ => panic!("transfer {hash} is not final: {status:?}"),
        }
    }

    let mut results = Vec::new();
    for (index, validator) in validators.iter().enumerate() {
        let held = holdings(validator, setup).await;
        let total: u128 = held.balances.values().map(|b| b.0).sum::<u128>() + held.pots.0;
        let issuance = held.issuance;
        assert_eq!(
            total, issuance.total.0,
            "conservation on validator {index}: balances and pots against the issuance"
        );
        assert_eq!(
            issuance.total.0,
            issuance.genesis.0 + issuance.minted.0 - issuance.burned.0,
            "issuance on validator {index}"
        );
        results.push(held.balances);
    }
    assert!(results.windows(2).all(|pair| pair[0] == pair[1]), "the validators disagree on balances");
    for (recipient, expected) in &setup.received {
        assert_eq!(results[0].get(recipient), Some(expected), "recipient {recipient}: what the transfers sent it");
    }
    finalized
}

struct Holdings {
    balances: BTreeMap<AccountId, Balance>,
    pots: Balance,
    issuance: veil_chain::Issuance,
}

async fn holdings(validator: &crate::network::SimValidator, setup: &Setup) -> Holdings {
    let mut keys: BTreeSet<Vec<u8>> = setup.accounts.iter().map(|a| StateKey::Account(*a).to_bytes()).collect();
    keys.insert(StateKey::Issuance.to_bytes());
    keys.insert(StateKey::RewardPots.to_bytes());
    let snapshot = validator.node().lock().await.read(&keys).await.unwrap_or_else(|e| panic!("read: {e}"));
    let balances = setup
        .accounts
        .iter()
        .map(|account| (*account, snapshot.account(account).unwrap_or_else(|e| panic!("{e}")).balance))
        .collect();
    let pots = snapshot.reward_pots().unwrap_or_else(|e| panic!("{e}"));
    let issuance = snapshot.issuance().unwrap_or_else(|e| panic!("{e}"));
    Holdings { balances, pots: Balance(pots.workers.0 + pots.gatekeepers.0), issuance }
}

/// Each account's balance on the first validator.
pub async fn balances(net: &Net, setup: &Setup) -> Vec<(AccountId, Balance)> {
    holdings(net.all()[0], setup).await.balances.into_iter().collect()
}

/// What the runtimes must keep: none stands at a height the chain has not finalized, none holds
/// more of a followed topic than the chain's log had at the runtime's height (what it holds is
/// the log's prefix: the light client proved it), and none ever signed two different messages
/// under one sequence number (a restart from a checkpoint must not re-sign differently): the
/// chain's discrepancies topic is empty.
pub async fn check_runtimes(net: &Net, runtimes: &crate::runtimes::Runtimes) {
    let validator = net.all()[0];
    let head = validator.node().lock().await.finalized_header().height;
    let discrepancies = veil_primitives::Topic::System(veil_primitives::SystemTopic::Discrepancies);
    let recorded = validator.node().lock().await.topic_messages(&discrepancies, None, 0, None).await;
    let recorded =
        recorded.unwrap_or_else(|error| panic!("discrepancies: {error}")).map_or(0, |page| page.proof.length);
    assert_eq!(recorded, 0, "a runtime signed two different messages under one sequence number");
    for (name, runtime) in runtimes.running() {
        let view = runtime.view();
        assert!(view.height <= head, "runtime {name} stands at {} past the chain's {head}", view.height);
        for (topic, peaks) in &view.topics {
            if peaks.length == 0 {
                continue;
            }
            let guard = validator.node().lock().await;
            let page = guard
                .topic_messages(topic, None, 0, Some(view.height.max(1)))
                .await
                .unwrap_or_else(|error| panic!("runtime {name}, topic {topic}: {error}"));
            let length = page.map_or(0, |page| page.proof.length);
            assert!(
                peaks.length <= length,
                "runtime {name} has {} messages of {topic}, the chain {length}",
                peaks.length
            );
        }
    }
}

/// Replicas of `contract` that stand at one height hold the same contract state (checked every
/// round of a run).
pub fn check_replicas(runtimes: &crate::runtimes::Runtimes, contract: &veil_primitives::ContractId) {
    let mut at: BTreeMap<u64, (&str, Option<Hash>)> = BTreeMap::new();
    for (name, runtime) in runtimes.replicas(contract) {
        let state = runtime.contract_state_hash(contract);
        match at.get(&runtime.view().height) {
            Some((first, seen)) => assert_eq!(
                *seen,
                state,
                "replicas {first} and {name} of {contract} at height {} hold different states",
                runtime.view().height
            ),
            None => {
                at.insert(runtime.view().height, (name, state));
            }
        }
    }
}
