//! The round seeds consensus produces, kept for the proposer: each block carries its parent
//! round's seed ([`veil_primitives::RoundSeed`]).
//!
//! With the threshold VRF scheme every notarization, finalization and nullification certificate
//! carries the round's seed, the network key's unique signature over the round. Consensus reports
//! a round's certificates to the application before it asks the next leader for a proposal (and
//! again from its journal after a restart), so the recorder below has the parent's seed when a
//! proposal is built. Verifiers need no record: they check a header's seed against the network
//! key.

use commonware_actor::Feedback;
use commonware_codec::Encode as _;
use commonware_consensus::{Reporter, simplex::types::Activity, types::Round};
use std::{
    collections::BTreeMap,
    sync::{Arc, Mutex},
};
use veil_primitives::RoundSeed;

use crate::alias::{Bls, Digest, Scheme};

/// How many recent rounds' seeds are kept.
const KEPT_ROUNDS: usize = 1_024;

/// The seeds of recent rounds, by view, shared between the recorder and the proposer.
#[derive(Clone, Debug, Default)]
pub struct Seeds(Arc<Mutex<BTreeMap<u64, RoundSeed>>>);

impl Seeds {
    /// The seed of `view`'s round, if its certificate was seen.
    pub fn get(&self, view: u64) -> Option<RoundSeed> {
        self.0.lock().ok()?.get(&view).copied()
    }

    fn insert(
        &self,
        round: Round,
        signature: &<Bls as commonware_cryptography::bls12381::primitives::variant::Variant>::Signature,
    ) {
        let Ok(encoded) = <[u8; 48]>::try_from(signature.encode().as_ref()) else { return };
        let seed = RoundSeed { epoch: round.epoch().get(), view: round.view().get(), signature: encoded };
        let Ok(mut seeds) = self.0.lock() else { return };
        seeds.insert(seed.view, seed);
        while seeds.len() > KEPT_ROUNDS {
            seeds.pop_first();
        }
    }
}

/// Records the seed of every certificate consensus reports.
#[derive(Clone, Debug, Default)]
pub struct SeedRecorder {
    seeds: Seeds,
}

impl SeedRecorder {
    /// A recorder filling `seeds`.
    pub fn new(seeds: Seeds) -> Self {
        Self { seeds }
    }
}

impl Reporter for SeedRecorder {
    type Activity = Activity<Scheme, Digest>;

    fn report(&mut self, activity: Self::Activity) -> Feedback {
        match &activity {
            Activity::Notarization(certified) | Activity::Certification(certified) => {
                if let Some(certificate) = certified.certificate.get() {
                    self.seeds.insert(certified.proposal.round, &certificate.seed_signature);
                }
            }
            Activity::Finalization(finalized) => {
                if let Some(certificate) = finalized.certificate.get() {
                    self.seeds.insert(finalized.proposal.round, &certificate.seed_signature);
                }
            }
            Activity::Nullification(nullified) => {
                if let Some(certificate) = nullified.certificate.get() {
                    self.seeds.insert(nullified.round, &certificate.seed_signature);
                }
            }
            _ => {}
        }
        Feedback::Ok
    }
}
