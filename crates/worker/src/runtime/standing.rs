//! Whether a runtime's registration was current at a given block time, as a gatekeeper knows it
//! from the registrations topic and the duty log's revocations.
//!
//! Every gatekeeper must seal the same keys to the same workers, whatever batches its relayer
//! cut. Topics are handled in a fixed order within a batch (registrations before the duty log), so
//! a gatekeeper may learn of a renewal before it handles a duty of an earlier block; a relayer may
//! also deliver the registrations topic only after the duty log that revoked some of them. A
//! "latest registration" flag would then differ between gatekeepers; periods do not: each
//! registration is the period `[registered_at, expires_at)`, a revocation cuts the periods of its
//! measurement that began by then (those known, and those that arrive later: every revocation is
//! kept), and a duty asks whether its own block time falls in an uncut period. The answer depends
//! only on the chain's facts, never on the order they arrived in.

use std::collections::{BTreeMap, BTreeSet};

use parity_scale_codec::{Decode, Encode};
use veil_primitives::Measurement;

/// The registrations of every runtime a gatekeeper verified, and every revocation it saw.
#[derive(Clone, Debug, Default, PartialEq, Eq, Encode, Decode)]
pub(super) struct Standings {
    runtimes: BTreeMap<[u8; 32], Standing>,
    revocations: BTreeMap<Measurement, BTreeSet<u64>>,
}

impl Standings {
    /// Whether `identity`'s attestation was checked here (any registration of it).
    pub(super) fn verified(&self, identity: &[u8; 32]) -> bool {
        self.runtimes.contains_key(identity)
    }

    /// A registration of `identity` the chain accepted at `from_ms`, current until `until_ms`,
    /// cut by every revocation of its measurement seen so far.
    pub(super) fn register(
        &mut self,
        identity: [u8; 32],
        from_ms: u64,
        until_ms: u64,
        measurement: Option<Measurement>,
    ) {
        let standing = self.runtimes.entry(identity).or_default();
        standing.register(from_ms, until_ms, measurement);
        if let Some(measurement) = measurement {
            for at_ms in self.revocations.get(&measurement).into_iter().flatten() {
                standing.revoke(&measurement, *at_ms);
            }
        }
    }

    /// `measurement` was disallowed at `at_ms`.
    pub(super) fn revoke(&mut self, measurement: Measurement, at_ms: u64) {
        self.revocations.entry(measurement).or_default().insert(at_ms);
        for standing in self.runtimes.values_mut() {
            standing.revoke(&measurement, at_ms);
        }
    }

    /// Whether `identity` was verified here and its registration was current at `at_ms`.
    pub(super) fn current_at(&self, identity: &[u8; 32], at_ms: u64) -> bool {
        self.runtimes.get(identity).is_some_and(|standing| standing.current_at(at_ms))
    }

    /// Forgets periods that ended by `at_ms`: no later duty asks about them.
    pub(super) fn forget_before(&mut self, at_ms: u64) {
        for standing in self.runtimes.values_mut() {
            standing.forget_before(at_ms);
        }
    }

    /// Whether nothing was verified here yet.
    #[cfg(test)]
    pub(super) fn is_empty(&self) -> bool {
        self.runtimes.is_empty()
    }
}

/// How many registration periods a gatekeeper keeps per runtime: renewals of a software worker
/// come every half lifetime, duties far more rarely; the oldest are dropped first, and a duty
/// never asks about a time that old (its block is after everything already handled).
const KEPT_PERIODS: usize = 256;

/// One registration: current from `from_ms` until `until_ms` (exclusive), attesting `measurement`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Encode, Decode)]
struct Period {
    from_ms: u64,
    until_ms: u64,
    measurement: Option<Measurement>,
}

/// A runtime's registrations as the chain published them, cut by revocations.
#[derive(Clone, Debug, Default, PartialEq, Eq, Encode, Decode)]
pub(super) struct Standing {
    periods: Vec<Period>,
}

impl Standing {
    /// A registration the chain accepted at `from_ms`, current until `until_ms`.
    pub(super) fn register(&mut self, from_ms: u64, until_ms: u64, measurement: Option<Measurement>) {
        if self.periods.len() == KEPT_PERIODS {
            self.periods.remove(0);
        }
        self.periods.push(Period { from_ms, until_ms, measurement });
    }

    /// `measurement` was disallowed at `at_ms`: every registration with it that began by then ends
    /// then (one that began later was made while it was allowed again; one in the same block is
    /// treated as revoked, the safe side of a block that disallows, allows and renews at once).
    pub(super) fn revoke(&mut self, measurement: &Measurement, at_ms: u64) {
        for period in &mut self.periods {
            if period.measurement.as_ref() == Some(measurement) && period.from_ms <= at_ms {
                period.until_ms = period.until_ms.min(at_ms);
            }
        }
    }

    /// Whether a registration was current at `at_ms`.
    pub(super) fn current_at(&self, at_ms: u64) -> bool {
        self.periods.iter().any(|period| period.from_ms <= at_ms && at_ms < period.until_ms)
    }

    /// Forgets periods that ended by `at_ms`: no later duty asks about them.
    pub(super) fn forget_before(&mut self, at_ms: u64) {
        self.periods.retain(|period| period.until_ms > at_ms);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn sgx(version: u16) -> Measurement {
        Measurement::Sgx { mr_enclave: [1; 32], mr_signer: [2; 32], isv_prod_id: 0, isv_svn: version }
    }

    #[test]
    fn a_revocation_cuts_earlier_registrations_of_its_measurement_only() {
        let mut standing = Standing::default();
        standing.register(100, 1_000, Some(sgx(1)));
        assert!(standing.current_at(100) && standing.current_at(999) && !standing.current_at(1_000));
        standing.revoke(&sgx(1), 500);
        assert!(standing.current_at(499) && !standing.current_at(500));
        // Re-allowed and renewed after the revocation: current again from the renewal.
        standing.register(700, 2_000, Some(sgx(1)));
        assert!(!standing.current_at(600) && standing.current_at(700));
        // A registration of the revocation's own block is cut too.
        standing.register(3_000, 4_000, Some(sgx(1)));
        standing.revoke(&sgx(1), 3_000);
        assert!(!standing.current_at(3_000));
        // Another measurement's revocation changes nothing.
        standing.revoke(&sgx(2), 800);
        assert!(standing.current_at(900));
    }

    proptest! {
        /// Gatekeepers that learn the same registrations and revocations in different orders
        /// answer alike: one syncing block by block sees them in time order; one whose batch
        /// spans many blocks sees every registration of the batch first; one whose relayer held
        /// the registrations topic back sees every revocation first.
        #[test]
        fn the_answer_does_not_depend_on_the_order_facts_arrive_in(
            registrations in proptest::collection::vec((0u64..1_000, 1u64..1_000, 0u16..2), 0..6),
            revocations in proptest::collection::vec((0u16..2, 0u64..2_000), 0..3),
            asked in 0u64..2_000,
        ) {
            enum Fact { Registered(u64, u64, u16), Revoked(u16, u64) }
            let time = |fact: &Fact| match fact { Fact::Registered(from, ..) | Fact::Revoked(_, from) => *from };
            let mut facts: Vec<Fact> = registrations.iter().map(|(from, length, version)| Fact::Registered(*from, from + length, *version))
                .chain(revocations.iter().map(|(version, at)| Fact::Revoked(*version, *at)))
                .collect();
            let answer = |facts: &[Fact]| {
                let mut standings = Standings::default();
                for fact in facts {
                    match fact {
                        Fact::Registered(from, until, version) => standings.register([1; 32], *from, *until, Some(sgx(*version))),
                        Fact::Revoked(version, at) => standings.revoke(sgx(*version), *at),
                    }
                }
                standings.current_at(&[1; 32], asked)
            };
            facts.sort_by_key(time);
            let block_by_block = answer(&facts);
            facts.sort_by_key(|fact| matches!(fact, Fact::Revoked(..)));
            prop_assert_eq!(block_by_block, answer(&facts));
            facts.sort_by_key(|fact| matches!(fact, Fact::Registered(..)));
            prop_assert_eq!(block_by_block, answer(&facts));
        }
    }
}
