//! Worker duties besides running contracts: its place in a cluster, the cluster's keys, leaving a
//! cluster when declared offline or joining one as a replacement, heartbeats, and the chain
//! parameters a runtime shares (the heartbeat interval, the longest query session).
//!
//! A worker announces a key for the current and the next epoch (see `keys`), and a heartbeat at
//! the interval in the chain's parameters (genesis's until the chain publishes a change on the
//! parameters topic). A cluster key sealed to its epoch key gives it the cluster's keys of that
//! epoch; it then runs the contracts assigned to its cluster (see `execution`).
//!
//! Replacement: a worker declared offline leaves its cluster, keys and contracts; a worker named
//! as its replacement gets the cluster key and waits for a snapshot of a live member (see
//! `persistence`), which it takes over if it is at least as recent as its joining. It then
//! catches up like any worker.

use std::collections::BTreeMap;
use veil_types::EpochHistory as _;

use parity_scale_codec::{Decode, Encode};
use veil_crypto::{
    AgreementSecret, ClusterKey, Sealable,
    confidential::{ClusterKeys, ConfidentialError},
};
use veil_primitives::{
    ClusterId, ContractId, KeyEpoch, Message, Origin, Parameters, SenderId, contract::AssignedWorker,
    epoch::Replacement,
};

use super::{Core, Refusal, Setting, execution::Instances, sessions::Sessions};
use crate::sync::Follower;

/// This worker's place in a cluster.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Encode, Decode)]
pub(super) struct Membership {
    pub(super) cluster: ClusterId,
    /// It joined as a replacement: its contracts' state comes from a snapshot of a live worker.
    pub(super) awaiting_snapshot: bool,
    /// The height at which it saw itself join: a snapshot must be at least this recent.
    pub(super) since_height: u64,
}

/// What a worker keeps of an epoch in its grace period once every contract it runs moved to a
/// newer epoch: the agreement keys that open inputs sealed to that epoch (each contract's, and the
/// cluster's for constructor arguments), nothing that signs, derives or decrypts state. Holds
/// secrets: its encoding is only ever sealed.
#[derive(Clone, Encode, Decode)]
pub(super) struct GraceKeys {
    pub(super) cluster: Sealable<AgreementSecret>,
    pub(super) contracts: BTreeMap<ContractId, Sealable<AgreementSecret>>,
}

impl GraceKeys {
    /// The agreement keys of `cluster_key`'s epoch for `contracts`.
    fn of(cluster_key: &ClusterKey, contracts: impl Iterator<Item = ContractId>) -> Self {
        Self {
            cluster: Sealable(cluster_key.agreement()),
            contracts: contracts.map(|id| (id, Sealable(cluster_key.contract_key(id).agreement()))).collect(),
        }
    }

    fn secrets(&self) -> impl Iterator<Item = [u8; 32]> + '_ {
        std::iter::once(&self.cluster).chain(self.contracts.values()).map(|key| *key.secret_bytes().expose())
    }
}

/// A worker's own state. Holds secrets: its encoding is only ever sealed.
#[derive(Encode, Decode)]
pub(super) struct WorkerDuties {
    /// The cluster this worker is in.
    pub(super) membership: Option<Membership>,
    /// Its cluster's keys, by epoch: the newest, and an older one only while a contract still
    /// runs under it (re-keying takes a few blocks after an epoch opens).
    pub(super) cluster_keys: BTreeMap<KeyEpoch, Sealable<ClusterKey>>,
    /// Of an older epoch still in its grace period, only its agreement keys.
    pub(super) grace_keys: BTreeMap<KeyEpoch, GraceKeys>,
    pub(super) contracts: Instances,
    /// Query sessions: the longest a certificate may span, and the revoked ones (see `sessions`).
    pub(super) sessions: Sessions,
}

impl WorkerDuties {
    /// A worker in no cluster yet, under `parameters` (genesis's) until the chain publishes a
    /// change.
    pub(super) fn new(parameters: &Parameters) -> Self {
        Self {
            membership: None,
            cluster_keys: BTreeMap::new(),
            grace_keys: BTreeMap::new(),
            contracts: Instances::default(),
            sessions: Sessions::new(parameters.sessions.max_lifetime_blocks),
        }
    }

    pub(super) fn secret_keys(&self) -> impl Iterator<Item = (Option<KeyEpoch>, [u8; 32])> + '_ {
        let full = self.cluster_keys.iter().map(|(epoch, key)| (Some(*epoch), *key.secret().expose()));
        let grace =
            self.grace_keys.iter().flat_map(|(epoch, keys)| keys.secrets().map(|secret| (Some(*epoch), secret)));
        full.chain(grace)
    }

    /// Destroys cluster and grace keys of epochs retired by `now_ms`, and cuts older epochs its
    /// contracts moved on from down to their agreement keys; returns whether a key was destroyed.
    pub(super) fn retire(&mut self, core: &Core, now_ms: u64) -> bool {
        let before = (self.cluster_keys.len(), self.grace_keys.len());
        self.cluster_keys.retain(|epoch, _| !core.epochs.retired(*epoch, now_ms));
        self.grace_keys.retain(|epoch, _| !core.epochs.retired(*epoch, now_ms));
        let retired = before != (self.cluster_keys.len(), self.grace_keys.len());
        self.keep_only_grace_keys() || retired
    }

    /// Once every contract runs under a newer epoch, an older cluster key is cut down to its
    /// agreement keys (forward secrecy in the grace period: what a copied checkpoint or snapshot
    /// holds of the previous epoch opens only inputs sealed to it). Returns whether a key was
    /// destroyed.
    fn keep_only_grace_keys(&mut self) -> bool {
        let Some(newest) = self.cluster_keys.keys().next_back().copied() else { return false };
        let oldest_running = self.contracts.instances.values().map(|instance| instance.epoch).min();
        let moved: Vec<KeyEpoch> = self
            .cluster_keys
            .keys()
            .copied()
            .filter(|epoch| *epoch < newest && oldest_running.is_none_or(|oldest| oldest > *epoch))
            .collect();
        for epoch in &moved {
            if let Some(key) = self.cluster_keys.remove(epoch) {
                let contracts = self.contracts.instances.keys().copied();
                self.grace_keys.insert(*epoch, GraceKeys::of(&key, contracts));
            }
        }
        !moved.is_empty()
    }

    /// Applies the chain's new parameters that a worker shares with it besides the heartbeat
    /// interval (the core's): the longest session.
    pub(super) fn on_parameters(&mut self, parameters: &Parameters) {
        self.sessions.set_max_lifetime(parameters.sessions.max_lifetime_blocks);
    }

    /// A cluster formed: if this worker is in it, it is now its cluster.
    pub(super) fn on_cluster_formed(
        &mut self,
        setting: &Setting,
        core: &mut Core,
        follower: &mut Follower,
        cluster: ClusterId,
        workers: &[AssignedWorker],
    ) {
        if workers.iter().any(|worker| worker.identity == core.identity()) {
            self.membership = Some(Membership { cluster, awaiting_snapshot: false, since_height: 0 });
        }
        self.adopt_contracts(setting, core, follower);
    }

    /// Declared offline, it leaves its cluster, its keys and its contracts; named as a
    /// replacement, it joins and waits for a snapshot.
    pub(super) fn on_replacement(&mut self, core: &mut Core, follower: &mut Follower, replacement: Replacement) {
        let me = core.identity();
        if replacement.removed == me && self.membership.map(|m| m.cluster) == Some(replacement.cluster) {
            self.membership = None;
            self.cluster_keys.clear();
            self.contracts.leave_all(core, follower);
            return;
        }
        if replacement.added.is_some_and(|added| added.identity == me) {
            let since_height = follower.state().height;
            self.membership = Some(Membership { cluster: replacement.cluster, awaiting_snapshot: true, since_height });
        }
    }

    /// A cluster key of an epoch, if addressed to this worker: checked against the published keys,
    /// for an epoch still usable. Contracts of the cluster waiting for that key start.
    pub(super) fn on_cluster_keys(
        &mut self,
        setting: &Setting,
        core: &mut Core,
        follower: &mut Follower,
        keys: ClusterKeys,
    ) -> Result<(), Refusal> {
        let Some(membership) = self.membership else { return Ok(()) };
        if keys.cluster != membership.cluster || self.cluster_keys.contains_key(&keys.epoch) {
            return Ok(());
        }
        let me = core.identity();
        let Some(secret) = core.epoch_key(keys.epoch) else {
            if keys.deliveries.iter().any(|delivery| delivery.recipient == me) {
                return Err(Refusal::NoEpochKey(keys.epoch));
            }
            return Ok(());
        };
        let Some(opened) = keys.open(&me, &secret) else {
            return Ok(()); // Not addressed to this worker.
        };
        let cluster_key = opened.map_err(|error: ConfidentialError| Refusal::KeyRefused {
            what: "cluster key",
            epoch: keys.epoch,
            error: error.to_string(),
        })?;
        self.cluster_keys.insert(keys.epoch, Sealable(cluster_key));
        self.adopt_contracts(setting, core, follower);
        Ok(())
    }

    /// One more message of a contract's egress on the releases topic.
    pub(super) fn on_release(&mut self, core: &mut Core, message: &Message) {
        if let Origin::Runtime(SenderId::Contract(contract)) = message.origin {
            self.contracts.acknowledge(core, contract);
        }
    }
}
