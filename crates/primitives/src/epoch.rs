//! Key epochs and liveness as the chain sees them: what runtimes announce and what the chain tells
//! gatekeepers about rotations and replacements.
//!
//! Every key below the master key belongs to one [`KeyEpoch`]. Each runtime (worker or gatekeeper)
//! announces, for the current epoch and the next one, a fresh X25519 key signed by its identity key
//! ([`EpochKey`]); gatekeepers seal keys only to those, and the runtime destroys the secret half
//! when the epoch retires, so a later leak of its long-lived keys opens no past delivery. An epoch
//! opens when the chain records the first gatekeeper proposal for it ([`EpochOpening`]); the epoch
//! before it opens envelopes until its grace period ends, and retires (its keys destroyed
//! everywhere) once that is over and every keyed cluster and contract has keys of the new epoch:
//! the chain says so on the duty log (`AssignmentMessage::EpochRetired`). A worker that
//! replaces a silent one gets its cluster's state as a [`SealedSnapshot`].

use parity_scale_codec::{Decode, Encode, MaxEncodedLen};

use crate::{
    codec::BoundedBytes,
    contract::AssignedWorker,
    hashing::Hash,
    ids::{ClusterId, KeyEpoch},
};

/// Domain separator of an epoch key's signature by the runtime's identity.
pub const EPOCH_KEY_DOMAIN: &[u8] = b"veil/epoch-key/v1";
/// Domain separator of an epoch key's proof of possession (its own signature).
pub const EPOCH_KEY_POSSESSION_DOMAIN: &[u8] = b"veil/epoch-key-possession/v1";

/// The most gatekeepers a network has.
pub const MAX_GATEKEEPERS: usize = 16;

/// A runtime's key-agreement key for one epoch, signed by its identity key, with a proof that the
/// runtime holds its secret half. Published as the runtime's egress on the assignments topic; keys
/// of that epoch are sealed to it. The key is an ed25519 key (`holder`) whose X25519 form is
/// `agreement`; its own signature (`possession`) names the announcing identity, so no runtime can
/// announce another's key as its own (`veil_crypto::verify_epoch_key` is the rule).
#[derive(Clone, Copy, PartialEq, Eq, Debug, Encode, Decode, MaxEncodedLen)]
pub struct EpochKey {
    /// The epoch.
    pub epoch: KeyEpoch,
    /// The X25519 public key (the Montgomery form of `holder`).
    pub agreement: [u8; 32],
    /// The ed25519 public key whose X25519 form is `agreement`.
    pub holder: [u8; 32],
    /// The identity key's ed25519 signature over [`EpochKey::signing_payload`].
    pub signature: [u8; 64],
    /// `holder`'s signature over [`EpochKey::possession_payload`].
    pub possession: [u8; 64],
}

impl EpochKey {
    /// What the identity key signs: the domain, the chain id, the identity, the epoch and the key.
    pub fn signing_payload(chain: &Hash, identity: &[u8; 32], epoch: KeyEpoch, agreement: &[u8; 32]) -> Vec<u8> {
        let mut payload = EPOCH_KEY_DOMAIN.to_vec();
        (chain, identity, epoch, agreement).encode_to(&mut payload);
        payload
    }

    /// What the epoch key itself signs to prove its holder announces it: the same fields under
    /// their own domain.
    pub fn possession_payload(chain: &Hash, identity: &[u8; 32], epoch: KeyEpoch, agreement: &[u8; 32]) -> Vec<u8> {
        let mut payload = EPOCH_KEY_POSSESSION_DOMAIN.to_vec();
        (chain, identity, epoch, agreement).encode_to(&mut payload);
        payload
    }
}

/// The chain's record that an epoch opened: the first gatekeeper proposal for it that the chain
/// accepted. Published on the assignments topic.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Encode, Decode, MaxEncodedLen)]
pub struct EpochOpening {
    /// The epoch.
    pub epoch: KeyEpoch,
    /// The public half of the epoch's master key (see `veil_crypto::MasterKey::public`).
    pub master: [u8; 32],
    /// The gatekeeper set's egress key for the epoch, derived from the master key.
    pub signing: [u8; 32],
    /// The gatekeeper whose proposal opened it.
    pub proposer: [u8; 32],
    /// When it opened (the block time), milliseconds since the Unix epoch.
    pub opened_at_ms: u64,
    /// When the previous epoch's grace period ends, milliseconds since the Unix epoch (0 for the
    /// first epoch): envelopes sealed to it are refused from then on, and it retires at the first
    /// block from then on in which every keyed cluster and contract has keys of this epoch.
    pub previous_grace_ends_at_ms: u64,
}

/// The chain's record that an epoch retired: its grace period was over and every keyed cluster and
/// contract had keys of its successor. Every runtime destroys the epoch's keys once it has read
/// this (and every message before it). Published on the assignments topic.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Encode, Decode, MaxEncodedLen)]
pub struct EpochRetirement {
    /// The epoch.
    pub epoch: KeyEpoch,
    /// The block time it retired at, milliseconds since the Unix epoch.
    pub at_ms: u64,
}

/// The chain's record that a cluster lost a worker that fell silent and, if one was available, got
/// a replacement. Published on the assignments topic.
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode, MaxEncodedLen)]
pub struct Replacement {
    /// The cluster.
    pub cluster: ClusterId,
    /// The key epoch the replacement's key is for.
    pub epoch: KeyEpoch,
    /// The worker removed.
    pub removed: [u8; 32],
    /// The worker added, with its key for `epoch`; `None` when no standby worker was available.
    pub added: Option<AssignedWorker>,
    /// The block time of the replacement, milliseconds since the Unix epoch: gatekeepers seal
    /// the cluster key only to members whose registration is current then.
    pub at_ms: u64,
}

/// The chain's record that the measurement allowlist dropped `measurement`: every registration
/// that attested it lapsed at `at_ms` (a worker must renew with an allowed measurement), its
/// workers' egress is refused from then on, and gatekeepers seal nothing more to them.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Encode, Decode, MaxEncodedLen)]
pub struct Revocation {
    /// The measurement no longer allowed.
    pub measurement: crate::Measurement,
    /// The block time of the change, milliseconds since the Unix epoch.
    pub at_ms: u64,
}

/// A worker's periodic sign of life, its egress on the heartbeats topic.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Encode, Decode, MaxEncodedLen)]
pub struct Heartbeat {
    /// The newest chain height the worker had verified when it sent this.
    pub height: u64,
}

/// Domain separator of a cluster snapshot's signature.
pub const SNAPSHOT_DOMAIN: &[u8] = b"veil/cluster-snapshot/v1";

/// The largest sealed cluster snapshot: 8 MiB.
pub const MAX_SNAPSHOT_BYTES: usize = 8 << 20;

/// A cluster's state as one of its workers saw it at a height, for a replacement worker: sealed
/// under the cluster's snapshot key of `epoch` (only the cluster's workers can open it) and signed by
/// the cluster's signing key of that epoch (published on chain, so a node can refuse anything else
/// before storing it).
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode, MaxEncodedLen)]
pub struct SealedSnapshot {
    /// The cluster.
    pub cluster: ClusterId,
    /// The epoch of the cluster key it is sealed and signed under.
    pub epoch: KeyEpoch,
    /// The height of the view it captures.
    pub height: u64,
    /// The sealed content (only the runtime reads it).
    pub sealed: BoundedBytes<MAX_SNAPSHOT_BYTES>,
    /// The cluster signing key's ed25519 signature over [`SealedSnapshot::signing_payload`].
    pub signature: [u8; 64],
}

impl SealedSnapshot {
    /// What the cluster's signing key signs: the domain, the chain id, the cluster, the epoch, the
    /// height and the sealed bytes.
    pub fn signing_payload(&self, chain: &Hash) -> Vec<u8> {
        let mut payload = SNAPSHOT_DOMAIN.to_vec();
        (chain, self.cluster, self.epoch, self.height, &self.sealed).encode_to(&mut payload);
        payload
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::strict_check;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn epoch_keys_and_openings_decode_strictly(
            epoch: u32, key: [u8; 32], extra: u8, cut in 1usize..200, flip_at: usize, flip: u8,
        ) {
            let announced = EpochKey {
                epoch: KeyEpoch(epoch),
                agreement: key,
                holder: key,
                signature: [epoch as u8; 64],
                possession: [epoch as u8; 64],
            };
            prop_assert_eq!(strict_check::check(&announced, extra, cut, flip_at, flip), Ok(()));
            let opening = EpochOpening {
                epoch: KeyEpoch(epoch), master: key, signing: [1; 32], proposer: [2; 32], opened_at_ms: 8, previous_grace_ends_at_ms: 9,
            };
            prop_assert_eq!(strict_check::check(&opening, extra, cut, flip_at, flip), Ok(()));
            let snapshot = SealedSnapshot {
                cluster: ClusterId(epoch), epoch: KeyEpoch(1), height: 7,
                sealed: key.to_vec().try_into().unwrap(), signature: [extra; 64],
            };
            prop_assert_eq!(strict_check::check(&snapshot, extra, cut, flip_at, flip), Ok(()));
        }
    }

    #[test]
    fn the_epoch_key_signature_binds_chain_identity_epoch_and_key() {
        let base = EpochKey::signing_payload(&Hash([1; 32]), &[2; 32], KeyEpoch(3), &[4; 32]);
        assert!(base.starts_with(EPOCH_KEY_DOMAIN));
        for other in [
            EpochKey::signing_payload(&Hash([9; 32]), &[2; 32], KeyEpoch(3), &[4; 32]),
            EpochKey::signing_payload(&Hash([1; 32]), &[9; 32], KeyEpoch(3), &[4; 32]),
            EpochKey::signing_payload(&Hash([1; 32]), &[2; 32], KeyEpoch(9), &[4; 32]),
            EpochKey::signing_payload(&Hash([1; 32]), &[2; 32], KeyEpoch(3), &[9; 32]),
        ] {
            assert_ne!(base, other);
        }
    }
}
