//! The records the public state holds, one type per kind of value ([`crate::state::StateKey`]
//! says where each lives).

use parity_scale_codec::{Decode, Encode, MaxEncodedLen};
use veil_primitives::{
    AccountId, Balance, BoundedVec, ClusterId, Hash, KeyEpoch, Measurement, Nonce, TeeKind,
    contract::MAX_CLUSTER_WORKERS, epoch::EpochOpening, log::LogPeaks,
};

/// An account's public state.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Encode, Decode, MaxEncodedLen)]
pub struct AccountInfo {
    /// The nonce its next transaction must carry.
    pub nonce: Nonce,
    /// Its free balance.
    pub balance: Balance,
}

/// Issuance accounting: `total = genesis + minted − burned` at every block.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Encode, Decode, MaxEncodedLen)]
pub struct Issuance {
    /// Tokens in existence: every balance and pot added up.
    pub total: Balance,
    /// Supply at genesis.
    pub genesis: Balance,
    /// Minted by inflation since genesis.
    pub minted: Balance,
    /// Burned from fees since genesis.
    pub burned: Balance,
    /// The inflation year (0 is the first) that `year_start_total` belongs to.
    pub year: u32,
    /// Total issuance when the current inflation year began: inflation is a rate on it.
    pub year_start_total: Balance,
}

/// Tokens set aside for rewards until the reward logic pays them out.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Encode, Decode, MaxEncodedLen)]
pub struct RewardPots {
    /// For workers: their fee share and the decaying inflation subsidy.
    pub workers: Balance,
    /// For gatekeepers and their nominators: their fee share and the base inflation.
    pub gatekeepers: Balance,
}

/// A registered off-chain sender.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Encode, Decode, MaxEncodedLen)]
pub struct SenderInfo {
    /// The ed25519 key that signs its egress in the current epoch.
    pub key: [u8; 32],
    /// The current key epoch: egress must carry it.
    pub epoch: KeyEpoch,
    /// The sequence number its next accepted egress must carry.
    pub next_sequence: u64,
}

/// A registered worker.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, MaxEncodedLen)]
pub struct WorkerInfo {
    /// The account that operates it.
    pub operator: AccountId,
    /// Its X25519 key (queries are sealed to it).
    pub agreement_key: [u8; 32],
    /// How it attested: `None` for an insecure software worker.
    pub tee: Option<TeeKind>,
    /// Its code identity (none for software workers).
    pub measurement: Option<Measurement>,
    /// When its registration lapses, milliseconds since the Unix epoch; renewing re-attests.
    pub expires_at_ms: u64,
    /// Its announced keys of the current and the next epoch (older ones are dropped).
    pub epoch_keys: BoundedVec<(KeyEpoch, [u8; 32]), MAX_EPOCH_KEYS>,
    /// The cluster it works in, if any.
    pub cluster: Option<ClusterId>,
    /// The block time of its last accepted egress (a heartbeat or anything else) or registration.
    pub last_seen_ms: u64,
    /// The chain's liveness clock (block time less stalled time, [`EpochState::stalled_ms`]) at
    /// the same moment: its silence is counted on this clock.
    pub last_seen_live_ms: u64,
}

/// How many epoch keys a worker record keeps: the current and the next epoch's.
pub const MAX_EPOCH_KEYS: usize = 2;

impl WorkerInfo {
    /// Its announced key of `epoch`.
    pub fn epoch_key(&self, epoch: KeyEpoch) -> Option<[u8; 32]> {
        self.epoch_keys.iter().find(|(announced, _)| *announced == epoch).map(|(_, key)| *key)
    }

    /// How long it has been silent at block time `now_ms`, when the chain has spent `stalled_ms`
    /// stalled ([`EpochState::stalled_ms`]): on the liveness clock, since its last accepted
    /// egress. Nobody can be heard while the chain makes no blocks, so the chain's downtime never
    /// counts as a worker's silence.
    pub fn silent_for(&self, now_ms: u64, stalled_ms: u64) -> u64 {
        now_ms.saturating_sub(stalled_ms).saturating_sub(self.last_seen_live_ms)
    }

    /// Whether it counts as live at `now_ms`: heard within `window_ms` (the parameters'
    /// `liveness.offline_after_ms`, see [`WorkerInfo::silent_for`]) and its registration current
    /// (a revoked measurement lapses it).
    pub fn is_live(&self, now_ms: u64, window_ms: u64, stalled_ms: u64) -> bool {
        self.silent_for(now_ms, stalled_ms) <= window_ms && self.expires_at_ms > now_ms
    }

    /// Whether it belongs on the standby list at `now_ms`: its registration current and in no
    /// cluster. Entries that are not leave the list whenever it is scanned.
    pub fn may_stand_by(&self, now_ms: u64) -> bool {
        self.expires_at_ms > now_ms && self.cluster.is_none()
    }

    /// Why a cluster worker may be removed from its cluster at `now_ms` while `current` is the
    /// open epoch (`None` when it may stay): a report of it is accepted exactly then.
    pub fn unfit(&self, now_ms: u64, window_ms: u64, stalled_ms: u64, current: Option<KeyEpoch>) -> Option<Unfit> {
        if self.expires_at_ms <= now_ms {
            Some(Unfit::Lapsed)
        } else if self.silent_for(now_ms, stalled_ms) > window_ms {
            Some(Unfit::Silent)
        } else if current.is_some_and(|epoch| self.epoch_key(epoch).is_none()) {
            Some(Unfit::NoKey)
        } else {
            None
        }
    }
}

/// Why a cluster worker may be removed: see [`WorkerInfo::unfit`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unfit {
    /// Its registration lapsed (by time, or because its measurement was disallowed).
    Lapsed,
    /// No egress for longer than the liveness window.
    Silent,
    /// It announced no key of the open epoch, so it holds none of its cluster's keys.
    NoKey,
}

impl std::fmt::Display for Unfit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Lapsed => "its registration lapsed",
            Self::Silent => "it was silent past the liveness window",
            Self::NoKey => "it announced no key of the open epoch",
        })
    }
}

/// The key epochs as the chain keeps them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Encode, Decode, MaxEncodedLen)]
pub struct EpochState {
    /// The newest opened epoch; `None` until the generating gatekeeper opens the first.
    pub current: Option<EpochOpening>,
    /// The opening of the epoch before `current`, while its grace period runs.
    pub previous: Option<EpochOpening>,
    /// A rotation the chain asked the gatekeepers for.
    pub requested: Option<KeyEpoch>,
    /// How many workers are in clusters.
    pub cluster_workers: u32,
    /// How many of them have not announced a key for the epoch after `current`: a scheduled
    /// rotation waits for them at most one liveness window, then proceeds without them.
    pub lacking_next: u32,
    /// Block time the chain spent stalled: the sum, over blocks, of how much longer than
    /// `Liveness::counted_gap_ms` each came after its parent. Block time less this is the liveness
    /// clock, on which workers' silence is counted ([`WorkerInfo::silent_for`]).
    pub stalled_ms: u64,
    /// How many clusters and contracts have published keys.
    pub keyed: u32,
    /// How many of them have keys of an epoch older than `current` only: the previous epoch
    /// retires only once none is left (and its grace period is over).
    pub stale_keys: u32,
}

impl EpochState {
    /// Counts one cluster's or contract's published keys moving from epoch `before` (`None`: it
    /// had none) to `after`: `keyed` and `stale_keys` stay the number of keyed clusters and
    /// contracts and of those whose keys are older than the current epoch.
    pub fn count_keys(&mut self, before: Option<KeyEpoch>, after: KeyEpoch) {
        use crate::epochs::EpochHistory as _;
        let current = self.epoch();
        match before {
            None => self.keyed = self.keyed.saturating_add(1),
            Some(before) if before < current => self.stale_keys = self.stale_keys.saturating_sub(1),
            Some(_) => {}
        }
        if after < current {
            self.stale_keys = self.stale_keys.saturating_add(1);
        }
    }
}

impl crate::epochs::EpochHistory for EpochState {
    fn current(&self) -> Option<&EpochOpening> {
        self.current.as_ref()
    }

    fn opening(&self, epoch: KeyEpoch) -> Option<&EpochOpening> {
        [self.current.as_ref(), self.previous.as_ref()].into_iter().flatten().find(|opening| opening.epoch == epoch)
    }

    /// The chain holds the current and the previous epoch until it retires: any older epoch has
    /// retired (when does not matter here: the chain asks only about now).
    fn retired_at(&self, epoch: KeyEpoch) -> Option<u64> {
        (epoch < self.epoch() && self.opening(epoch).is_none()).then_some(0)
    }
}

/// A cluster member an offline report removed, whose replacement the next block chooses with its
/// seed: the seed of the report's own round, which nobody knew when the report was sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Encode, Decode, MaxEncodedLen)]
pub struct PendingReplacement {
    /// The cluster.
    pub cluster: ClusterId,
    /// The worker removed.
    pub removed: [u8; 32],
}

/// The most replacements waiting for the next block.
pub const MAX_PENDING_REPLACEMENTS: usize = 64;

/// The most workers waiting in the standby list.
pub const MAX_STANDBY: usize = 1024;

/// The most workers registered with one measurement (one runtime release on one TEE kind): the
/// index that lets disallowing a measurement lapse them all in one transaction.
pub const MAX_WORKERS_PER_MEASUREMENT: usize = 1024;

/// A formed cluster.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, MaxEncodedLen)]
pub struct ClusterInfo {
    /// Its workers' identities.
    pub workers: BoundedVec<[u8; 32], MAX_CLUSTER_WORKERS>,
    /// The epoch of its published keys.
    pub epoch: KeyEpoch,
    /// Its X25519 key (constructor arguments are sealed to it), once the gatekeepers published it.
    pub agreement: Option<[u8; 32]>,
    /// Its signing key (it signs the cluster's state snapshots), once published.
    pub signing: Option<[u8; 32]>,
}

/// A contract.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, MaxEncodedLen)]
pub struct ContractInfo {
    /// Its code hash.
    pub code: Hash,
    /// The cluster that runs it.
    pub cluster: ClusterId,
    /// Who instantiated it (the registry admin for built-in contracts).
    pub owner: AccountId,
    /// Wasm code (uploaded and instantiated), not a contract built into the runtime.
    pub wasm: bool,
    /// Native tokens it holds: commands' values, less what it released.
    pub locked: Balance,
    /// Its X25519 key (commands are sealed to it) and its egress key, once a gatekeeper published them.
    pub keys: Option<ContractPublicKeys>,
}

/// A contract's public keys for its epoch.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Encode, Decode, MaxEncodedLen)]
pub struct ContractPublicKeys {
    /// The key epoch.
    pub epoch: KeyEpoch,
    /// The X25519 key commands are sealed to.
    pub agreement: [u8; 32],
    /// The ed25519 key that signs its egress.
    pub signing: [u8; 32],
}

/// A topic's place in the topic tree and its log.
#[derive(Clone, Debug, Default, PartialEq, Eq, Encode, Decode, MaxEncodedLen)]
pub struct TopicInfo {
    /// Its slot, assigned when its first message was published.
    pub slot: u32,
    /// Its log's length and peaks.
    pub log: LogPeaks,
}
