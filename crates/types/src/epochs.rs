//! When a key epoch's keys open envelopes: the one rule the chain and the runtimes apply.
//!
//! An epoch is **usable** at block time `t` (its keys open envelopes sealed then) when it has
//! opened by `t` (its [`EpochOpening`] says when) and its successor's grace period has not ended by
//! `t`: the successor's opening carries `previous_grace_ends_at_ms`. Before the first epoch opens,
//! no epoch is usable: there are no keys to seal to.
//!
//! An epoch **retires** (its keys are destroyed) later, not by time alone: at the first block
//! after its grace period in which every keyed cluster and contract has keys of its successor, so
//! that no contract is ever left with state under keys that no longer exist. The chain publishes
//! the retirement on the duty log ([`veil_primitives::epoch::EpochRetirement`]); runtimes destroy
//! keys when they read it.
//!
//! The chain keeps the current and the previous opening ([`crate::records::EpochState`]); a
//! runtime keeps every opening and retirement it read on the duty log ([`EpochLog`]). Both answer
//! through [`EpochHistory`], whose provided methods are the rule, written once. They agree because
//! the chain opens an epoch only after the one before the current has retired: at most two epochs
//! are usable at once, and the chain holds both openings.

use parity_scale_codec::{Decode, Encode};
use veil_primitives::{
    KeyEpoch,
    epoch::{EpochOpening, EpochRetirement},
};

/// Openings of key epochs, as some component keeps them. The provided methods are the rule.
pub trait EpochHistory {
    /// The newest opening, if any epoch has opened.
    fn current(&self) -> Option<&EpochOpening>;

    /// The opening of `epoch`, if this history holds it.
    fn opening(&self, epoch: KeyEpoch) -> Option<&EpochOpening>;

    /// The current epoch's number (0 before the first opens).
    fn epoch(&self) -> KeyEpoch {
        self.current().map_or(KeyEpoch(0), |opening| opening.epoch)
    }

    /// The epoch after the current one (1 before the first opens: the first is 0).
    fn next(&self) -> KeyEpoch {
        self.current().map_or(KeyEpoch(1), |opening| KeyEpoch(opening.epoch.0.saturating_add(1)))
    }

    /// The block time `epoch` retired at, if this history knows it retired.
    fn retired_at(&self, epoch: KeyEpoch) -> Option<u64>;

    /// When `epoch`'s grace period ends: once its successor opened, what the successor's opening
    /// says.
    fn grace_ends_at(&self, epoch: KeyEpoch) -> Option<u64> {
        let successor = KeyEpoch(epoch.0.checked_add(1)?);
        self.opening(successor).map(|opening| opening.previous_grace_ends_at_ms)
    }

    /// Whether `epoch` had retired by block time `at_ms`: its keys are to be destroyed.
    fn retired(&self, epoch: KeyEpoch, at_ms: u64) -> bool {
        self.retired_at(epoch).is_some_and(|retired| retired <= at_ms)
    }

    /// Whether keys of `epoch` open commands and constructor arguments at block time `at_ms`: it
    /// had opened by then and its grace period had not ended. Judged by block time, never by how
    /// far a reader has read, so every worker and the chain decide alike.
    fn usable(&self, epoch: KeyEpoch, at_ms: u64) -> bool {
        self.opening(epoch).is_some_and(|opening| opening.opened_at_ms <= at_ms)
            && self.grace_ends_at(epoch).is_none_or(|ends| at_ms < ends)
    }
}

/// Every epoch opening and retirement a runtime read on the duty log, oldest first.
#[derive(Clone, Debug, Default, PartialEq, Eq, Encode, Decode)]
pub struct EpochLog {
    openings: Vec<EpochOpening>,
    retirements: Vec<EpochRetirement>,
}

impl EpochLog {
    /// Records `opening`; an epoch already recorded keeps its first opening. Returns whether it
    /// was new.
    pub fn record(&mut self, opening: EpochOpening) -> bool {
        if self.opening(opening.epoch).is_some() {
            return false;
        }
        self.openings.push(opening);
        true
    }

    /// Records `retirement`; an epoch retires once. Returns whether it was new.
    pub fn record_retirement(&mut self, retirement: EpochRetirement) -> bool {
        if self.retired_at(retirement.epoch).is_some() {
            return false;
        }
        self.retirements.push(retirement);
        true
    }
}

impl EpochHistory for EpochLog {
    fn current(&self) -> Option<&EpochOpening> {
        self.openings.last()
    }

    fn opening(&self, epoch: KeyEpoch) -> Option<&EpochOpening> {
        self.openings.iter().find(|opening| opening.epoch == epoch)
    }

    fn retired_at(&self, epoch: KeyEpoch) -> Option<u64> {
        self.retirements.iter().find(|retirement| retirement.epoch == epoch).map(|retirement| retirement.at_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::records::EpochState;
    use proptest::prelude::*;

    fn opening(epoch: u32, opened_at_ms: u64, previous_grace_ends_at_ms: u64) -> EpochOpening {
        EpochOpening {
            epoch: KeyEpoch(epoch),
            master: [0; 32],
            signing: [0; 32],
            proposer: [0; 32],
            opened_at_ms,
            previous_grace_ends_at_ms,
        }
    }

    #[test]
    fn nothing_is_usable_before_the_first_epoch_opens() {
        let (state, log) = (EpochState::default(), EpochLog::default());
        for epoch in [KeyEpoch(0), KeyEpoch(1)] {
            assert!(!state.usable(epoch, u64::MAX));
            assert!(!log.usable(epoch, u64::MAX));
        }
        assert_eq!((state.epoch(), state.next()), (KeyEpoch(0), KeyEpoch(1)));
    }

    #[test]
    fn an_epoch_is_usable_from_its_opening_until_its_successor_grace_ends() {
        let mut log = EpochLog::default();
        assert!(log.record(opening(0, 100, 0)));
        assert!(!log.record(opening(0, 150, 0)), "an epoch opens once");
        assert!(!log.usable(KeyEpoch(0), 99));
        assert!(log.usable(KeyEpoch(0), 100));
        assert!(log.record(opening(1, 200, 260)));
        assert!(log.usable(KeyEpoch(0), 259) && log.usable(KeyEpoch(1), 259));
        assert!(!log.usable(KeyEpoch(0), 260), "its grace period is over");
        assert!(!log.retired(KeyEpoch(0), 10_000), "but it retires only when the chain says so");
        assert!(log.record_retirement(EpochRetirement { epoch: KeyEpoch(0), at_ms: 300 }));
        assert!(!log.record_retirement(EpochRetirement { epoch: KeyEpoch(0), at_ms: 400 }), "an epoch retires once");
        assert!(!log.retired(KeyEpoch(0), 299) && log.retired(KeyEpoch(0), 300));
        assert!(!log.usable(KeyEpoch(1), 199), "not before it opened");
        assert!(!log.usable(KeyEpoch(2), u64::MAX), "never opened");
    }

    proptest! {
        /// Whatever order keys are published and epochs open in, the chain's counts are exact:
        /// `keyed` is every cluster or contract with keys, `stale_keys` those whose keys are older
        /// than the current epoch (the chain resets it to `keyed` when an epoch opens).
        #[test]
        fn the_count_of_stale_keys_is_exact(steps in proptest::collection::vec((0u8..3, 0usize..6, 0u32..3), 1..60)) {
            let mut state = EpochState::default();
            let mut items: Vec<Option<KeyEpoch>> = vec![None; 6];
            state.current = Some(opening(0, 0, 0));
            for (kind, item, back) in steps {
                let current = state.epoch();
                if kind == 0 {
                    let next = opening(current.0 + 1, 0, 0);
                    state.previous = state.current;
                    state.current = Some(next);
                    state.stale_keys = state.keyed;
                } else {
                    // Keys of the current epoch or an older one, never going back.
                    let after = KeyEpoch(current.0.saturating_sub(back));
                    if items[item].is_some_and(|before| before >= after) {
                        continue;
                    }
                    state.count_keys(items[item], after);
                    items[item] = Some(after);
                }
                let current = state.epoch();
                prop_assert_eq!(state.keyed as usize, items.iter().flatten().count());
                prop_assert_eq!(state.stale_keys as usize, items.iter().flatten().filter(|epoch| **epoch < current).count());
            }
        }

        /// The chain's two openings and a runtime's whole log answer alike for every epoch, at any
        /// time the chain can be asked (at or after its newest opening), whether or not the chain
        /// has dropped a retired previous epoch yet.
        #[test]
        fn the_chain_and_a_runtime_agree(
            gaps in proptest::collection::vec((1u64..1_000, 1u64..2_000), 1..8),
            asked_after in 0u64..4_000,
            dropped in any::<bool>(),
        ) {
            let (mut state, mut log) = (EpochState::default(), EpochLog::default());
            let mut now = 0;
            for (index, (gap, grace)) in gaps.iter().enumerate() {
                // The chain opens an epoch only once the one before the current has retired
                // (a rotation waits out the grace period), so at most two are ever usable.
                let previous_retired = state.current.map_or(0, |current| current.previous_grace_ends_at_ms);
                // (It retires at the end of its grace period here: every key arrived in time.)
                now = (now + gap).max(previous_retired);
                let retires = if state.current.is_some() { now + grace } else { 0 };
                let next = opening(index as u32, now, retires);
                state.previous = state.current;
                state.current = Some(next);
                log.record(next);
            }
            let at = now + asked_after;
            // The chain drops the previous epoch when it retires, which is never before its grace
            // period is over.
            if dropped && state.previous.is_some_and(|previous| state.grace_ends_at(previous.epoch).is_some_and(|ends| at >= ends)) {
                state.previous = None;
            }
            for epoch in 0..gaps.len() as u32 + 2 {
                let epoch = KeyEpoch(epoch);
                prop_assert_eq!(state.usable(epoch, at), log.usable(epoch, at), "{:?} at {}", epoch, at);
            }
            prop_assert_eq!((state.epoch(), state.next()), (log.epoch(), log.next()));
        }
    }
}
