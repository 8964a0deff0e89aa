//! Checkpoints and cluster snapshots: the runtime's sealed form, and a worker's cluster state handed
//! to a replacement.
//!
//! The checkpoint is the SCALE encoding of the core, the follower's view and the role's duties,
//! each of which owns its encoding; the service seals it before it is stored. A snapshot holds a
//! cluster's contracts with their topic positions and egress queues, the newest cluster key and,
//! in the grace period, the previous epoch's agreement keys only, sealed under the cluster's
//! snapshot key and signed by its signing key, so only the cluster's workers can read or make
//! one.

use std::{collections::BTreeMap, sync::Mutex};
use veil_types::EpochHistory as _;

use parity_scale_codec::{Decode, DecodeAll, Encode};
use veil_crypto::{ClusterKey, Sealable, SecretBytes};
use veil_genesis::Genesis;
use veil_primitives::{
    ClusterId, ContractId, Hash, KeyEpoch, SenderId, SignedEgress, SystemTopic, Topic,
    epoch::{MAX_SNAPSHOT_BYTES, SealedSnapshot},
    log::LogPeaks,
};

use super::{
    Core, Duties, GatekeeperDuties, Host, Role, Runtime, RuntimeError, Seeded, Setting, WorkerDuties,
    execution::Instance,
    worker::{GraceKeys, Membership},
};
use crate::{
    egress::EgressQueue,
    sync::{Follower, FollowerState},
};

/// Why a cluster snapshot cannot be taken or taken over; nothing changes either way.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SnapshotError {
    /// This runtime has no snapshot to give or does not wait for one (yet).
    #[error("{0}")]
    Unavailable(String),
    /// The snapshot is not one this runtime may take over.
    #[error("snapshot refused: {0}")]
    Refused(String),
}

impl SnapshotError {
    /// The API's error code for this refusal.
    pub fn code(&self) -> veil_api::ErrorCode {
        match self {
            Self::Unavailable(_) => veil_api::ErrorCode::Unavailable,
            Self::Refused(_) => veil_api::ErrorCode::Refused,
        }
    }
}

/// What a cluster snapshot holds, sealed under the cluster's snapshot key: the contracts' state
/// and topic positions, their egress counts and queues, the cluster key of the newest epoch and,
/// in the grace period, only the previous epoch's agreement keys. Holds secrets: only ever
/// sealed. `I` is the contract (borrowed when taken, owned when read).
#[derive(Encode, Decode)]
struct SnapshotContent<I> {
    chain: Hash,
    cluster: ClusterId,
    height: u64,
    timestamp_ms: u64,
    /// The releases topic's position: the contracts' egress counts below count up to it.
    releases: LogPeaks,
    cluster_keys: BTreeMap<KeyEpoch, Sealable<ClusterKey>>,
    grace_keys: BTreeMap<KeyEpoch, GraceKeys>,
    contracts: Vec<SnapshotContract<I>>,
}

#[derive(Encode, Decode)]
struct SnapshotContract<I> {
    id: ContractId,
    instance: I,
    topic: LogPeaks,
    published: u64,
    egress_next: u64,
    pending: Vec<SignedEgress>,
}

impl Runtime {
    /// A fresh runtime for the chain of `genesis`: new random keys from the host's randomness (or
    /// the given identity seed, for a development gatekeeper whose key genesis names). The first
    /// genesis gatekeeper generates the first master key when it first sees the chain; the others
    /// receive it.
    pub fn new(
        genesis: &Genesis,
        host: Host,
        role: Role,
        identity_seed: Option<SecretBytes<32>>,
    ) -> Result<Self, RuntimeError> {
        let identity = match identity_seed {
            Some(seed) => seed,
            None => host.randomness.secret()?,
        };
        let core = Core {
            chain: genesis.hash(),
            identity: Seeded::new(identity),
            query_key: Seeded::new(host.randomness.secret()?),
            epochs: Default::default(),
            epoch_secrets: BTreeMap::new(),
            assigned: BTreeMap::new(),
            gatekeepers: genesis.gatekeeper_identities(),
            egress: EgressQueue::default(),
            own_published: 0,
            last_heartbeat_ms: 0,
            heartbeat_interval_ms: genesis.liveness.heartbeat_interval_ms,
            recent: Default::default(),
            noted: Vec::new(),
        };
        let duties = match role {
            // Until the chain publishes a change on the parameters topic.
            Role::Worker => Duties::Worker(WorkerDuties::new(&genesis.parameters())),
            Role::Gatekeeper => Duties::Gatekeeper(GatekeeperDuties::default()),
        };
        Self::assemble(genesis, host, core, FollowerState::default(), duties)
    }

    /// Restores a runtime from a checkpoint's bytes (see [`Runtime::checkpoint`]).
    pub fn restore(genesis: &Genesis, host: Host, bytes: &[u8]) -> Result<Self, RuntimeError> {
        let (core, view, duties) = <(Core, FollowerState, Duties)>::decode_all(&mut &bytes[..])
            .map_err(|error| RuntimeError::Checkpoint(error.to_string()))?;
        if core.chain != genesis.hash() {
            return Err(RuntimeError::Checkpoint(format!(
                "it belongs to chain {}, this genesis is {}",
                core.chain,
                genesis.hash()
            )));
        }
        let mut runtime = Self::assemble(genesis, host, core, view, duties)?;
        if let Duties::Worker(worker) = &mut runtime.duties {
            // Each cluster key is filed under its own epoch and belongs to this worker's cluster.
            let cluster = worker.membership.map(|membership| membership.cluster);
            if let Some((epoch, key)) =
                worker.cluster_keys.iter().find(|(epoch, key)| key.epoch() != **epoch || Some(key.cluster()) != cluster)
            {
                return Err(RuntimeError::Checkpoint(format!(
                    "the cluster key filed under {epoch} is {}'s of {}",
                    key.cluster(),
                    key.epoch()
                )));
            }
            // A contract whose state no longer opens (its keys are gone) stays sealed as it is:
            // the runtime starts anyway, runs the rest, and says what it cannot serve.
            let engine = &runtime.setting.engine;
            for (contract, reason) in worker.contracts.start_each(engine, &worker.cluster_keys) {
                runtime.core.remember(super::Refused {
                    message: None,
                    refusal: super::Refusal::CannotServe { contract, reason },
                });
            }
        }
        Ok(runtime)
    }

    fn assemble(
        genesis: &Genesis,
        host: Host,
        core: Core,
        view: FollowerState,
        duties: Duties,
    ) -> Result<Self, RuntimeError> {
        // A gatekeeper runtime may start with an identity no set lists yet: it acts as one once
        // the chain names it (genesis, or a replacement by the rotation admin).
        let (setting, client) = Setting::new(genesis, host)?;
        let mut follower = Follower::new(client, view);
        for topic in duties.system_topics() {
            follower.follow(Topic::System(*topic));
        }
        Ok(Self { setting, follower, core, duties, answered: Mutex::new(BTreeMap::new()) })
    }

    /// The checkpoint bytes: everything needed to resume, secrets included. Seal before storing.
    pub fn checkpoint(&self) -> zeroize::Zeroizing<Vec<u8>> {
        zeroize::Zeroizing::new((&self.core, self.follower.state(), &self.duties).encode())
    }

    /// A snapshot of this worker's cluster state for a replacement worker: sealed under the cluster's
    /// snapshot key of the newest epoch it holds, signed by that epoch's cluster signing key.
    pub fn snapshot(&self) -> Result<SealedSnapshot, SnapshotError> {
        let (worker, membership) = match &self.duties {
            Duties::Worker(worker) => match worker.membership {
                Some(membership) if !membership.awaiting_snapshot => (worker, membership),
                _ => return Err(SnapshotError::Unavailable("this runtime runs no cluster's contracts".into())),
            },
            Duties::Gatekeeper(_) => {
                return Err(SnapshotError::Unavailable("this runtime runs no cluster's contracts".into()));
            }
        };
        let Some((epoch, cluster_key)) = worker.cluster_keys.last_key_value() else {
            return Err(SnapshotError::Unavailable("this worker holds no cluster key yet".into()));
        };
        // A snapshot never carries a whole key of an older epoch: while contracts still move to
        // the newest one (a few blocks after an epoch opens), there is none to give.
        if worker.cluster_keys.len() > 1 {
            return Err(SnapshotError::Unavailable(format!(
                "the cluster's contracts are moving to {epoch}; a snapshot is possible once they have"
            )));
        }
        let view = self.follower.state();
        let contracts = worker
            .contracts
            .instances
            .iter()
            .map(|(id, instance)| {
                let (egress_next, pending) = self.core.egress.of_sender(SenderId::Contract(*id));
                SnapshotContract {
                    id: *id,
                    instance,
                    topic: view.topics.get(&Topic::Contract(*id)).cloned().unwrap_or_default(),
                    published: worker.contracts.published.get(id).copied().unwrap_or_default(),
                    egress_next,
                    pending,
                }
            })
            .collect();
        let content = SnapshotContent {
            chain: self.setting.chain,
            cluster: membership.cluster,
            height: view.height,
            timestamp_ms: view.timestamp_ms,
            releases: view.topics.get(&Topic::System(SystemTopic::Releases)).cloned().unwrap_or_default(),
            cluster_keys: worker.cluster_keys.clone(),
            grace_keys: worker.grace_keys.clone(),
            contracts,
        };
        let plain = zeroize::Zeroizing::new(content.encode());
        let sealed = cluster_key.snapshot_key().encrypt_state(&plain).try_into().map_err(|_| {
            SnapshotError::Unavailable(format!("the cluster's state exceeds a snapshot ({MAX_SNAPSHOT_BYTES} bytes)"))
        })?;
        let mut snapshot = SealedSnapshot {
            cluster: membership.cluster,
            epoch: *epoch,
            height: view.height,
            sealed,
            signature: [0; 64],
        };
        snapshot.signature = cluster_key.signer().sign(&snapshot.signing_payload(&self.setting.chain));
        Ok(snapshot)
    }

    /// Takes over a snapshot of this worker's cluster, if it joined as a replacement and waits for
    /// one: the contracts continue from the snapshot's state and topic positions, with its egress
    /// queues. The snapshot must open under a cluster key this worker holds and be at least as
    /// recent as its joining. On `Err` nothing changed.
    pub fn import_snapshot(&mut self, snapshot: &SealedSnapshot) -> Result<(), SnapshotError> {
        let chain = self.setting.chain;
        let Duties::Worker(worker) = &mut self.duties else {
            return Err(SnapshotError::Unavailable("this runtime does not wait for a snapshot".into()));
        };
        let membership = match worker.membership {
            Some(membership) if membership.awaiting_snapshot => membership,
            _ => return Err(SnapshotError::Unavailable("this runtime does not wait for a snapshot".into())),
        };
        let refused = SnapshotError::Refused;
        if snapshot.cluster != membership.cluster {
            return Err(refused(format!("it is of {}, this worker joined {}", snapshot.cluster, membership.cluster)));
        }
        if snapshot.height < membership.since_height {
            return Err(refused(format!(
                "it was taken at height {}, before this worker joined at {}",
                snapshot.height, membership.since_height
            )));
        }
        let cluster_key = worker.cluster_keys.get(&snapshot.epoch).ok_or_else(|| {
            refused(format!(
                "it is sealed under the cluster key of {}, which this worker does not hold",
                snapshot.epoch
            ))
        })?;
        veil_crypto::verify_runtime_signature(
            &cluster_key.signer().public(),
            &snapshot.signing_payload(&chain),
            &snapshot.signature,
        )
        .map_err(|_| refused("it is not signed by the cluster's key".into()))?;
        let plain = cluster_key
            .snapshot_key()
            .decrypt_state(&snapshot.sealed)
            .ok_or_else(|| refused("it does not open under the cluster's snapshot key".into()))?;
        let content =
            SnapshotContent::<Instance>::decode_all(&mut &plain[..]).map_err(|error| refused(error.to_string()))?;
        if (content.chain, content.cluster, content.height) != (chain, snapshot.cluster, snapshot.height) {
            return Err(refused("its content is of another chain, cluster or height than its header".into()));
        }
        // Keys of epochs this worker already retired stay destroyed.
        let now_ms = self.follower.state().timestamp_ms;
        let mut cluster_keys = worker.cluster_keys.clone();
        for (epoch, key) in content.cluster_keys {
            if !self.core.epochs.retired(epoch, now_ms) && key.cluster() == membership.cluster && key.epoch() == epoch {
                cluster_keys.entry(epoch).or_insert(key);
            }
        }
        let mut grace_keys = worker.grace_keys.clone();
        for (epoch, keys) in content.grace_keys {
            if !self.core.epochs.retired(epoch, now_ms) && !cluster_keys.contains_key(&epoch) {
                grace_keys.entry(epoch).or_insert(keys);
            }
        }
        let mut contracts = super::execution::Instances::default();
        let mut positions = Vec::new();
        for entry in content.contracts {
            let SnapshotContract { id, instance, topic, published, egress_next, pending } = entry;
            contracts.instances.insert(id, instance);
            positions.push((id, topic, published, egress_next, pending));
        }
        contracts.start(&self.setting.engine, &cluster_keys).map_err(refused)?;
        // Nothing can fail from here on.
        worker.cluster_keys = cluster_keys;
        worker.grace_keys = grace_keys;
        let mut topics = vec![(Topic::System(SystemTopic::Releases), content.releases)];
        for (id, topic, published, egress_next, pending) in positions {
            topics.push((Topic::Contract(id), topic));
            contracts.published.insert(id, published);
            self.core.egress.adopt(SenderId::Contract(id), egress_next, pending);
        }
        worker.contracts = contracts;
        self.follower.adopt(content.height, content.timestamp_ms, topics);
        worker.membership = Some(Membership { awaiting_snapshot: false, ..membership });
        worker.adopt_contracts(&self.setting, &mut self.core, &mut self.follower);
        Ok(())
    }
}
