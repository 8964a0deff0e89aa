//! Key epochs, the gatekeeper set and worker liveness.
//!
//! **Epochs.** The chain keeps one [`EpochState`]. The first epoch opens when the generating
//! gatekeeper (the first gatekeeper in genesis) publishes its proposal: the public half of the
//! master key it generated and the gatekeeper set's egress key derived from it. Later epochs are
//! asked for by the chain, on the parameters' schedule or a `RotateKeys` call of the rotation
//! admin, as a [`AssignmentMessage::Rotation`] on the duty log; any gatekeeper of the set answers
//! with a proposal signed by its identity key (never by a master key), and the first one accepted
//! opens the epoch ([`EpochOpening`]). The set's egress key then moves to the new epoch, so egress
//! signed under the old master key is refused from that block on; commands sealed to the old keys
//! still open until the grace period ends. The old epoch **retires** at the first block after its
//! grace period in which every keyed cluster and contract has keys of the new one
//! (`EpochState::stale_keys` counts those that do not), published as
//! [`AssignmentMessage::EpochRetired`]: runtimes destroy its keys only then, so a gatekeeper down
//! past the grace period leaves contracts frozen (see [`crate::contracts`]), never stranded under
//! destroyed keys. A rotation waits until the previous epoch has retired, so at most two epochs
//! are ever usable; a scheduled one also waits for every cluster worker's key
//! of the coming epoch, but one liveness window at most: a runtime that never announces its key
//! cannot hold the network's keys back, it is left out of the new epoch.
//!
//! **Epoch keys.** Every runtime announces, as egress on the duty log, an X25519 key for the
//! current and for the next epoch, signed by its identity key ([`EpochKey`]); the chain checks the
//! signature and keeps workers' keys in their records. Gatekeepers seal keys only to these.
//!
//! **Liveness and fitness.** Any accepted egress of a worker counts as a sign of life; workers send
//! heartbeats when they have nothing else to say. Anyone may report a cluster worker that is unfit
//! (`ReportOffline`): silent for longer than the liveness window, its registration lapsed (by time
//! or because its measurement was disallowed, see [`crate::registry`]), or without a key of the
//! open epoch ([`veil_types::WorkerInfo::unfit`]). The chain checks the claim and removes the
//! worker; the next block draws its replacement among the live standby workers (registered, in no
//! cluster, with keys for the current and the next epoch) with the seed of the report's round,
//! which nobody knew when the report was sent, and publishes [`AssignmentMessage::Replaced`].
//! Relayers report the unfit members of their runtime's cluster.
//!
//! **Round seeds.** Each block carries its parent round's threshold seed (checked by consensus);
//! the block records it (`StateKey::Seed`, the seeds topic) before anything else runs.

use parity_scale_codec::Encode;
use std::collections::BTreeSet;
use veil_crypto::{confidential::KeyMessage, verify_epoch_key};
use veil_primitives::{
    AccountId, ClusterId, EpochsCall, KeyEpoch, Nonce, SeedRecord, SenderId, SignedEgress, SystemTopic, Topic,
    contract::{AssignedWorker, AssignmentMessage},
    decode_strict,
    epoch::{EpochOpening, EpochRetirement, Heartbeat, Replacement},
};

use crate::{
    Chain, TransactionError,
    contracts::chain_message,
    messages::{EgressError, Outbox},
    module::{AddKey, Keys, Module},
    state::{EpochHistory, EpochState, Overlay, ReadState, SenderInfo, StateError, StateKey, StateReader},
};
use veil_primitives::hashing::sha256;
use veil_types::{MAX_PENDING_REPLACEMENTS, PendingReplacement};

/// Who asks for a rotation: the schedule waits for missing epoch keys (one liveness window at
/// most), the rotation admin does not.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Asker {
    Schedule { due_ms: u64, wait_ms: u64 },
    Admin,
}

/// Why a rotation request or an offline report is refused. Every variant says what to do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EpochError {
    /// Only the rotation admin may ask for a rotation.
    #[error("only the rotation admin {admin} may rotate keys on demand")]
    NotRotationAdmin {
        /// The admin.
        admin: AccountId,
    },
    /// No epoch is open yet.
    #[error("no key epoch is open yet: a gatekeeper has not started; start the genesis gatekeeper first")]
    NoEpoch,
    /// A rotation is under way.
    #[error("a rotation to {0} is under way; wait for a gatekeeper to open it")]
    RotationPending(KeyEpoch),
    /// The previous epoch is still in its grace period.
    #[error("{epoch} is still in its grace period until {grace_ends_at_ms} ms; rotate after that")]
    GraceRunning {
        /// The previous epoch.
        epoch: KeyEpoch,
        /// When its grace period ends.
        grace_ends_at_ms: u64,
    },
    /// The previous epoch's grace period is over, but some clusters or contracts have no keys of
    /// the current epoch yet, so it has not retired.
    #[error(
        "{epoch} has not retired: {stale} clusters and contracts have no keys of the current epoch yet (the gatekeeper set publishes them); rotate after that"
    )]
    NotRetired {
        /// The previous epoch.
        epoch: KeyEpoch,
        /// How many clusters and contracts wait for keys.
        stale: u32,
    },
    /// Too many offline reports in one block.
    #[error("{0} replacements already wait for the next block; report again then")]
    TooManyReplacements(usize),
    /// Some cluster workers have no key for the next epoch yet (holds a scheduled rotation back for
    /// one liveness window at most).
    #[error("{0} cluster workers have not announced their key for the next epoch yet")]
    KeysMissing(u32),
    /// The reported worker is not in the cluster.
    #[error("worker 0x{} is not in cluster {}", hex::encode(.worker), .cluster.0)]
    NotAMember {
        /// The cluster.
        cluster: ClusterId,
        /// The worker.
        worker: [u8; 32],
    },
    /// The reported worker is fit to stay.
    #[error(
        "worker 0x{} stays: its registration is current, it was seen at {last_seen_ms} ms (within the {window_ms} ms window) and it holds its key of the open epoch",
        hex::encode(.worker)
    )]
    StillFit {
        /// The worker.
        worker: [u8; 32],
        /// Its last sign of life.
        last_seen_ms: u64,
        /// The parameters' window.
        window_ms: u64,
    },
    /// A worker to form a cluster with has not announced its epoch keys.
    #[error("worker 0x{} has not announced its keys for {current} and {next}; start it and let it sync", hex::encode(.worker))]
    NoEpochKeys {
        /// The worker.
        worker: [u8; 32],
        /// The current epoch.
        current: KeyEpoch,
        /// The next one.
        next: KeyEpoch,
    },
    /// A worker already in a cluster.
    #[error("worker 0x{} already works in cluster {}", hex::encode(.worker), .cluster.0)]
    InCluster {
        /// The worker.
        worker: [u8; 32],
        /// Its cluster.
        cluster: ClusterId,
    },
    /// A replacement of an identity that is not in the gatekeeper set.
    #[error("0x{} is not in the gatekeeper set", hex::encode(.0))]
    NotAGatekeeper([u8; 32]),
    /// A replacement by an identity already in the gatekeeper set.
    #[error("0x{} is already in the gatekeeper set", hex::encode(.0))]
    AlreadyAGatekeeper([u8; 32]),
    /// A replacement by an identity that works in a cluster.
    #[error("0x{} works in cluster {}; a gatekeeper identity must be a runtime of its own", hex::encode(.worker), .cluster.0)]
    GatekeeperInCluster {
        /// The identity.
        worker: [u8; 32],
        /// Its cluster.
        cluster: ClusterId,
    },
    /// A command or constructor argument sealed to a retired key.
    #[error(
        "key epoch expired: the envelope is sealed to {found}, which is retired (the current epoch is {current}); fetch the current key and seal again"
    )]
    KeyEpochExpired {
        /// The envelope's epoch.
        found: KeyEpoch,
        /// The current epoch.
        current: KeyEpoch,
    },
}

/// Why a runtime's egress payload on a system topic is refused.
fn payload_error(sender: SenderId, reason: impl std::fmt::Display) -> EgressError {
    EgressError::Payload { sender, reason: reason.to_string() }
}

/// The key-epoch module: epochs, runtimes' epoch keys, liveness and replacements.
pub(crate) struct Epochs;

impl Module for Epochs {
    type Call = EpochsCall;

    fn apply(
        chain: &Chain,
        overlay: &mut Overlay<'_>,
        outbox: &mut Outbox,
        signer: &AccountId,
        _nonce: Nonce,
        call: &EpochsCall,
    ) -> Result<(), TransactionError> {
        match call {
            EpochsCall::RotateKeys => chain.rotate_keys(overlay, outbox, signer),
            EpochsCall::ReportOffline { cluster, worker } => chain.report_offline(overlay, outbox, *cluster, *worker),
            EpochsCall::ReplaceGatekeeper { old, new } => chain.replace_gatekeeper(overlay, outbox, signer, *old, *new),
        }
    }

    fn call_keys(_chain: &Chain, _signer: &AccountId, call: &EpochsCall, keys: &mut Keys) {
        match call {
            EpochsCall::RotateKeys => {}
            EpochsCall::ReportOffline { cluster, worker } => {
                keys.add(StateKey::Cluster(*cluster));
                keys.add(StateKey::Worker(*worker));
                keys.add(StateKey::Standby);
            }
            EpochsCall::ReplaceGatekeeper { old, new } => {
                keys.add(StateKey::Sender(SenderId::Gatekeeper(*old)));
                keys.add(StateKey::Sender(SenderId::Gatekeeper(*new)));
                keys.add(StateKey::Worker(*new));
                keys.add(StateKey::Standby);
            }
        }
    }

    fn call_topics(_signer: &AccountId, call: &EpochsCall, topics: &mut BTreeSet<Topic>) {
        match call {
            EpochsCall::RotateKeys | EpochsCall::ReportOffline { .. } | EpochsCall::ReplaceGatekeeper { .. } => {
                topics.insert(Topic::System(SystemTopic::Assignments));
            }
        }
    }

    fn begin_block(chain: &Chain, overlay: &mut Overlay<'_>, outbox: &mut Outbox) -> Result<(), StateError> {
        chain.retire_and_rotate(overlay, outbox)?;
        chain.replace_pending(overlay, outbox)
    }

    fn block_dependent_keys(_chain: &Chain, state: &dyn StateReader, keys: &mut Keys) -> Result<(), StateError> {
        // A block after offline reports chooses their replacements from the standby workers.
        let pending = state.pending_replacements()?;
        if !pending.is_empty() {
            state.standby()?.iter().for_each(|identity| keys.add(StateKey::Worker(*identity)));
            pending.iter().for_each(|replacement| keys.add(StateKey::Cluster(replacement.cluster)));
        }
        Ok(())
    }

    fn block_keys(keys: &mut Keys) {
        keys.add(StateKey::Epochs);
        keys.add(StateKey::PendingReplacements);
        keys.add(StateKey::Standby);
        // Registrations, worker egress and proposals ask whether an identity is a gatekeeper.
        keys.add(StateKey::Gatekeepers);
    }

    fn block_topics(topics: &mut BTreeSet<Topic>) {
        // The start of every block may ask for a rotation, and records the parent round's seed.
        topics.insert(Topic::System(SystemTopic::Assignments));
        topics.insert(Topic::System(SystemTopic::Seeds));
    }

    /// A runtime's payload on a system topic must be what the sender may say there, well formed
    /// and, for an epoch key, signed by the sender's identity. Whether it still applies (a
    /// proposal for the epoch asked for, a key for a usable epoch, announced once) is decided when
    /// it is accepted: an honest runtime that was a block late must not be refused, because a
    /// refused sequence number would block all its later egress.
    fn check_egress(chain: &Chain, sender: SenderId, topic: Topic, payload: &[u8]) -> Result<(), EgressError> {
        match (sender, topic) {
            (SenderId::Gatekeeper(_), Topic::System(SystemTopic::KeyEpochs)) => match decode_strict(payload) {
                Ok(KeyMessage::Proposal(_)) => Ok(()),
                _ => Err(payload_error(sender, "a gatekeeper's own key messages are epoch proposals")),
            },
            (SenderId::GatekeeperSet, Topic::System(SystemTopic::KeyEpochs)) => match decode_strict(payload) {
                Ok(KeyMessage::Proposal(_)) => {
                    Err(payload_error(sender, "proposals come from one gatekeeper's identity"))
                }
                Ok(_) => Ok(()),
                Err(error) => Err(payload_error(sender, error)),
            },
            (SenderId::Worker(identity) | SenderId::Gatekeeper(identity), Topic::System(SystemTopic::Assignments)) => {
                let Ok(AssignmentMessage::EpochKey(key)) = decode_strict(payload) else {
                    return Err(payload_error(sender, "runtimes publish only epoch keys on the duty log"));
                };
                verify_epoch_key(&chain.id(), &identity, &key).map_err(|error| payload_error(sender, error))
            }
            (SenderId::Worker(_) | SenderId::Gatekeeper(_), Topic::System(SystemTopic::Heartbeats)) => {
                decode_strict::<Heartbeat>(payload).map(|_| ()).map_err(|error| payload_error(sender, error))
            }
            _ => Ok(()),
        }
    }

    /// Acts on an accepted proposal (it may open an epoch), epoch key or any worker egress (a
    /// sign of life; a worker in no cluster stands by).
    fn on_egress(
        chain: &Chain,
        overlay: &mut Overlay<'_>,
        outbox: &mut Outbox,
        sender: SenderId,
        topic: Topic,
        payload: &[u8],
    ) -> Result<(), StateError> {
        match (sender, topic) {
            (SenderId::Gatekeeper(identity), Topic::System(SystemTopic::KeyEpochs)) => {
                let Ok(KeyMessage::Proposal(proposal)) = decode_strict::<KeyMessage>(payload) else { return Ok(()) };
                let epochs = overlay.epochs()?;
                let opens = match epochs.current {
                    // The first epoch: epoch 0, by the first genesis gatekeeper.
                    None => proposal.epoch == KeyEpoch(0) && overlay.gatekeepers()?.first() == Some(&identity),
                    // Later ones: the first proposal for the epoch the chain asked for.
                    Some(_) => epochs.requested == Some(proposal.epoch),
                };
                if opens {
                    chain.open_epoch(overlay, outbox, identity, proposal.epoch, proposal.master, proposal.signing)?;
                }
            }
            // A gatekeeper's egress is its sign of life too (it is never in a cluster).
            (SenderId::Gatekeeper(identity), _) => {
                if let Some(mut record) = overlay.worker(&identity)? {
                    record.last_seen_ms = outbox.time_ms();
                    record.last_seen_live_ms = outbox.liveness_ms();
                    overlay.set_worker(&identity, &record);
                }
            }
            (SenderId::Worker(identity), _) => {
                let Some(mut worker) = overlay.worker(&identity)? else { return Ok(()) };
                worker.last_seen_ms = outbox.time_ms();
                worker.last_seen_live_ms = outbox.liveness_ms();
                if let (Topic::System(SystemTopic::Assignments), Ok(AssignmentMessage::EpochKey(key))) =
                    (topic, decode_strict::<AssignmentMessage>(payload))
                {
                    // The first key for the current or the next epoch counts; others change nothing.
                    // A key another runtime announced first never counts for this one (only a
                    // runtime that holds its secret can announce it, so both are one party's).
                    let mut epochs = overlay.epochs()?;
                    let current = epochs.epoch();
                    let usable = key.epoch == current || key.epoch == epochs.next();
                    let first_by = overlay.announced_key(&key.agreement)?;
                    let ours = first_by.is_none_or(|first| first == identity);
                    if usable && ours && worker.epoch_key(key.epoch).is_none() {
                        overlay.set_announced_key(&key.agreement, &identity);
                        worker.epoch_keys.retain(|(epoch, _)| *epoch >= current);
                        let _ = worker.epoch_keys.try_push((key.epoch, key.agreement));
                        if worker.cluster.is_some() && epochs.current.is_some() && key.epoch == epochs.next() {
                            epochs.lacking_next = epochs.lacking_next.saturating_sub(1);
                            overlay.set_epochs(&epochs);
                        }
                    }
                }
                if worker.cluster.is_none() && !chain.is_gatekeeper(overlay, &identity)? {
                    let mut standby = overlay.standby()?;
                    if !standby.contains(&identity) && standby.try_push(identity).is_ok() {
                        overlay.set_standby(&standby);
                    }
                }
                overlay.set_worker(&identity, &worker);
            }
            _ => {}
        }
        Ok(())
    }

    fn egress_keys(_chain: &Chain, copy: &SignedEgress, keys: &mut Keys) {
        match (copy.egress.sender, copy.egress.topic) {
            // Any egress of a worker is a sign of life; a worker in no cluster stands by.
            (SenderId::Worker(identity), topic) => {
                keys.add(StateKey::Worker(identity));
                keys.add(StateKey::Standby);
                if topic == Topic::System(SystemTopic::Assignments)
                    && let Ok(AssignmentMessage::EpochKey(key)) = decode_strict(&copy.egress.payload)
                {
                    keys.add(StateKey::AnnouncedKey(key.agreement));
                }
            }
            // A proposal may open an epoch, which moves the set's egress key.
            (SenderId::Gatekeeper(_), Topic::System(SystemTopic::KeyEpochs)) => {
                keys.add(StateKey::Sender(SenderId::GatekeeperSet));
            }
            _ => {}
        }
    }

    fn egress_topics(copy: &SignedEgress, topics: &mut BTreeSet<Topic>) {
        // A proposal opens an epoch on the duty log.
        if let (SenderId::Gatekeeper(_), Topic::System(SystemTopic::KeyEpochs)) =
            (copy.egress.sender, copy.egress.topic)
        {
            topics.insert(Topic::System(SystemTopic::Assignments));
        }
    }
}

impl Chain {
    /// Whether `identity` is in the gatekeeper set (genesis's, as replacements changed it).
    pub(crate) fn is_gatekeeper(&self, state: &Overlay<'_>, identity: &[u8; 32]) -> Result<bool, StateError> {
        Ok(state.gatekeepers()?.contains(identity))
    }

    /// A `ReplaceGatekeeper` transaction of the rotation admin: `new` takes `old`'s place in the set
    /// and as an egress sender; `old` is heard no more (its egress is refused while it is out of
    /// the set). A `new` that registered before the
    /// replacement (its relayer registers it at start, as a worker) leaves the standby list; one
    /// working in a cluster is refused. The set seals `new` the master key once it registers and
    /// announces its epoch key, as for a late genesis gatekeeper (a replaced gatekeeper still
    /// signs the set's outputs while it holds the epoch's master key, so even a set of one hands
    /// over). `old` keeps that key until the epoch retires: to cut it off, rotate (the next
    /// proposal is sealed to the set without it).
    pub(crate) fn replace_gatekeeper(
        &self,
        overlay: &mut Overlay<'_>,
        outbox: &mut Outbox,
        signer: &AccountId,
        old: [u8; 32],
        new: [u8; 32],
    ) -> Result<(), TransactionError> {
        let admin = outbox.parameters().keys.rotation_admin;
        if *signer != admin {
            return Err(EpochError::NotRotationAdmin { admin }.into());
        }
        let mut set = overlay.gatekeepers()?;
        let position = set.iter().position(|member| *member == old).ok_or(EpochError::NotAGatekeeper(old))?;
        if set.contains(&new) {
            return Err(EpochError::AlreadyAGatekeeper(new).into());
        }
        if let Some(worker) = overlay.worker(&new)? {
            if let Some(cluster) = worker.cluster {
                return Err(EpochError::GatekeeperInCluster { worker: new, cluster }.into());
            }
            let mut standby = overlay.standby()?;
            standby.retain(|waiting| *waiting != new);
            overlay.set_standby(&standby);
        }
        let mut members = set.into_inner();
        members[position] = new;
        set = members.try_into().map_err(|_| StateError::Store("the gatekeeper set grew".into()))?;
        overlay.set_gatekeepers(&set);
        // `old` keeps its sender record (its sequence goes on if it is ever named again); the
        // messages module refuses egress of an identity out of the set.
        if overlay.sender(&SenderId::Gatekeeper(new))?.is_none() {
            let info = SenderInfo { key: new, epoch: KeyEpoch(0), next_sequence: 0 };
            overlay.set_sender(&SenderId::Gatekeeper(new), &info);
        }
        let message = AssignmentMessage::GatekeeperReplaced { old, new };
        self.publish(overlay, outbox, chain_message(Topic::System(SystemTopic::Assignments), message.encode())?)?;
        Ok(())
    }

    /// At the start of every block: notes a resumption after a stall (see
    /// [`veil_types::WorkerInfo::silent_for`]), retires the previous epoch once its grace period is
    /// over, and asks for a rotation when the schedule says so and nothing holds it back.
    fn retire_and_rotate(&self, overlay: &mut Overlay<'_>, outbox: &mut Outbox) -> Result<(), StateError> {
        self.record_seed(overlay, outbox)?;
        let mut epochs = overlay.epochs()?;
        let now = outbox.time_ms();
        let mut changed = false;
        // Of the gap to the parent, at most `counted_gap_ms` counts as workers' silence; the rest
        // is the chain's own stall (it stopped, or lost its quorum, and nobody could be heard).
        // However slow the blocks, a dead worker's silence grows; however long one gap, a live
        // worker's does not reach the window (decision 113).
        let counted = outbox.parameters().liveness.counted_gap_ms(self.genesis().validators.len());
        let stall = now.saturating_sub(outbox.parent_time_ms()).saturating_sub(counted);
        if stall > 0 {
            epochs.stalled_ms = epochs.stalled_ms.saturating_add(stall);
            changed = true;
        }
        outbox.set_stalled_ms(epochs.stalled_ms);
        let Some(current) = epochs.current else {
            if changed {
                overlay.set_epochs(&epochs);
            }
            return Ok(());
        };
        // The previous epoch retires once its grace period is over and nothing runs under it
        // alone: a contract is never left with state under keys that no longer exist.
        if let Some(previous) = epochs.previous
            && now >= current.previous_grace_ends_at_ms
            && epochs.stale_keys == 0
        {
            epochs.previous = None;
            changed = true;
            let retired = AssignmentMessage::EpochRetired(EpochRetirement { epoch: previous.epoch, at_ms: now });
            self.publish(overlay, outbox, chain_message(Topic::System(SystemTopic::Assignments), retired.encode())?)?;
        }
        let interval = outbox.parameters().keys.rotation_interval_ms;
        let due_ms = current.opened_at_ms.saturating_add(interval);
        let asker = Asker::Schedule { due_ms, wait_ms: outbox.parameters().liveness.offline_after_ms };
        if interval > 0 && now >= due_ms && self.rotation_blocker(&epochs, asker, now).is_none() {
            self.request_rotation(overlay, outbox, &mut epochs)?;
            changed = true;
        }
        if changed {
            overlay.set_epochs(&epochs);
        }
        Ok(())
    }

    /// Records the parent round's seed the block carries (checked against the network key by every
    /// validator before the block executes), in state and on the seeds topic.
    fn record_seed(&self, overlay: &mut Overlay<'_>, outbox: &mut Outbox) -> Result<(), StateError> {
        let Some(seed) = outbox.seed() else { return Ok(()) };
        let record = SeedRecord { height: outbox.height(), seed };
        overlay.set_seed(&record);
        self.publish(overlay, outbox, chain_message(Topic::System(SystemTopic::Seeds), record.encode())?)
    }

    /// Why a rotation cannot be asked for now. Missing epoch keys hold the schedule back for at most
    /// one liveness window: a worker that never announces its key cannot stop a rotation, it is
    /// left out of the new epoch (and then removable from its cluster, see [`Unfit::NoKey`]).
    ///
    /// [`Unfit::NoKey`]: veil_types::Unfit::NoKey
    fn rotation_blocker(&self, epochs: &EpochState, asker: Asker, now_ms: u64) -> Option<EpochError> {
        let Some(current) = epochs.current else { return Some(EpochError::NoEpoch) };
        if let Some(epoch) = epochs.requested {
            return Some(EpochError::RotationPending(epoch));
        }
        if let Some(previous) = epochs.previous {
            let grace_ends_at_ms = current.previous_grace_ends_at_ms;
            return Some(if now_ms < grace_ends_at_ms {
                EpochError::GraceRunning { epoch: previous.epoch, grace_ends_at_ms }
            } else {
                EpochError::NotRetired { epoch: previous.epoch, stale: epochs.stale_keys }
            });
        }
        match asker {
            Asker::Schedule { due_ms, wait_ms } => {
                let waited = now_ms >= due_ms.saturating_add(wait_ms);
                (epochs.lacking_next > 0 && !waited).then_some(EpochError::KeysMissing(epochs.lacking_next))
            }
            Asker::Admin => None,
        }
    }

    fn request_rotation(
        &self,
        overlay: &mut Overlay<'_>,
        outbox: &mut Outbox,
        epochs: &mut EpochState,
    ) -> Result<(), StateError> {
        let epoch = epochs.next();
        epochs.requested = Some(epoch);
        let message = AssignmentMessage::Rotation { epoch };
        self.publish(overlay, outbox, chain_message(Topic::System(SystemTopic::Assignments), message.encode())?)
    }

    /// A `RotateKeys` transaction: the rotation admin asks for a new epoch now.
    pub(crate) fn rotate_keys(
        &self,
        overlay: &mut Overlay<'_>,
        outbox: &mut Outbox,
        signer: &AccountId,
    ) -> Result<(), TransactionError> {
        let admin = outbox.parameters().keys.rotation_admin;
        if *signer != admin {
            return Err(EpochError::NotRotationAdmin { admin }.into());
        }
        let mut epochs = overlay.epochs()?;
        if let Some(blocker) = self.rotation_blocker(&epochs, Asker::Admin, outbox.time_ms()) {
            return Err(blocker.into());
        }
        self.request_rotation(overlay, outbox, &mut epochs)?;
        overlay.set_epochs(&epochs);
        Ok(())
    }

    /// Refuses an envelope (a command or a constructor argument) sealed to a retired epoch's key.
    /// Bytes that are not an envelope pass: the runtime refuses them and returns their tokens.
    pub(crate) fn check_envelope_epoch(
        &self,
        epochs: &EpochState,
        payload: &[u8],
        now_ms: u64,
    ) -> Result<(), EpochError> {
        let Ok(envelope) = decode_strict::<veil_crypto::Envelope>(payload) else { return Ok(()) };
        let found = envelope.header.key_epoch;
        if epochs.current.is_none() {
            // No key exists yet that anything could have been sealed to.
            return Err(EpochError::NoEpoch);
        }
        if epochs.usable(found, now_ms) || found > epochs.epoch() {
            // A newer epoch than the chain knows cannot have been sealed honestly; the runtime
            // refuses it like any envelope that does not open.
            return Ok(());
        }
        Err(EpochError::KeyEpochExpired { found, current: epochs.epoch() })
    }

    fn open_epoch(
        &self,
        overlay: &mut Overlay<'_>,
        outbox: &mut Outbox,
        proposer: [u8; 32],
        epoch: KeyEpoch,
        master: [u8; 32],
        signing: [u8; 32],
    ) -> Result<(), StateError> {
        let mut epochs = overlay.epochs()?;
        let now = outbox.time_ms();
        let previous_grace_ends_at_ms =
            if epochs.current.is_some() { now.saturating_add(outbox.parameters().keys.grace_ms) } else { 0 };
        let opening = EpochOpening { epoch, master, signing, proposer, opened_at_ms: now, previous_grace_ends_at_ms };
        epochs.previous = epochs.current;
        epochs.current = Some(opening);
        epochs.requested = None;
        epochs.lacking_next = epochs.cluster_workers;
        // Every keyed cluster and contract now has keys of an older epoch only, until the
        // gatekeeper set publishes its keys of this one.
        epochs.stale_keys = epochs.keyed;
        overlay.set_epochs(&epochs);
        let set = SenderId::GatekeeperSet;
        let next_sequence = overlay.sender(&set)?.map_or(0, |info| info.next_sequence);
        overlay.set_sender(&set, &SenderInfo { key: signing, epoch, next_sequence });
        let message = AssignmentMessage::EpochOpened(opening);
        self.publish(overlay, outbox, chain_message(Topic::System(SystemTopic::Assignments), message.encode())?)
    }

    /// The workers of a new cluster, each registered, current, in no cluster and with keys for
    /// the current and the next epoch; each leaves the standby list. Returns them with their keys
    /// of the current epoch.
    pub(crate) fn enlist(
        &self,
        overlay: &mut Overlay<'_>,
        outbox: &Outbox,
        cluster: ClusterId,
        identities: &[[u8; 32]],
    ) -> Result<Vec<AssignedWorker>, TransactionError> {
        let mut epochs = overlay.epochs()?;
        let current = epochs.current.ok_or(EpochError::NoEpoch)?.epoch;
        let next = epochs.next();
        let workers = self.cluster_workers(overlay, outbox, identities)?;
        let mut standby = overlay.standby()?;
        let mut enlisted = Vec::with_capacity(workers.len());
        for (identity, mut worker) in workers {
            if let Some(cluster) = worker.cluster {
                return Err(EpochError::InCluster { worker: identity, cluster }.into());
            }
            let (Some(agreement), Some(_)) = (worker.epoch_key(current), worker.epoch_key(next)) else {
                return Err(EpochError::NoEpochKeys { worker: identity, current, next }.into());
            };
            worker.cluster = Some(cluster);
            overlay.set_worker(&identity, &worker);
            standby.retain(|waiting| *waiting != identity);
            enlisted.push(AssignedWorker { identity, agreement });
        }
        overlay.set_standby(&standby);
        epochs.cluster_workers = epochs.cluster_workers.saturating_add(enlisted.len() as u32);
        overlay.set_epochs(&epochs);
        Ok(enlisted)
    }

    /// A `ReportOffline` transaction; see the module documentation.
    pub(crate) fn report_offline(
        &self,
        overlay: &mut Overlay<'_>,
        outbox: &mut Outbox,
        cluster: ClusterId,
        reported: [u8; 32],
    ) -> Result<(), TransactionError> {
        let mut info = overlay.cluster(cluster)?.ok_or(crate::ContractError::UnknownCluster(cluster))?;
        let not_a_member = EpochError::NotAMember { cluster, worker: reported };
        if !info.workers.contains(&reported) {
            return Err(not_a_member.into());
        }
        let mut worker = overlay.worker(&reported)?.ok_or(not_a_member)?;
        let now = outbox.time_ms();
        let window_ms = outbox.parameters().liveness.offline_after_ms;
        let mut epochs = overlay.epochs()?;
        if worker.unfit(now, window_ms, epochs.stalled_ms, epochs.current.map(|opening| opening.epoch)).is_none() {
            let fit = EpochError::StillFit { worker: reported, last_seen_ms: worker.last_seen_ms, window_ms };
            return Err(fit.into());
        }
        let next = epochs.next();
        info.workers.retain(|member| *member != reported);
        epochs.cluster_workers = epochs.cluster_workers.saturating_sub(1);
        if worker.epoch_key(next).is_none() {
            epochs.lacking_next = epochs.lacking_next.saturating_sub(1);
        }
        worker.cluster = None;
        overlay.set_worker(&reported, &worker);
        overlay.set_cluster(cluster, &info);
        overlay.set_epochs(&epochs);
        // The replacement is chosen by the next block, with the seed of this block's round.
        let mut pending = overlay.pending_replacements()?;
        pending
            .try_push(PendingReplacement { cluster, removed: reported })
            .map_err(|_| EpochError::TooManyReplacements(MAX_PENDING_REPLACEMENTS))?;
        overlay.set_pending_replacements(&pending);
        Ok(())
    }

    /// At the start of a block: chooses the replacements that offline reports in the block before
    /// left pending, each uniformly among the live standby workers with keys of the current and
    /// the next epoch, with the parent round's seed (which nobody knew when the reports were sent,
    /// so an operator with many standby enclaves cannot steer a cluster to one of them). The scan
    /// also prunes the list: entries whose registration lapsed, or that work in a cluster already,
    /// leave it (a lapsed worker stands by again when it renews). Without a seed (only blocks
    /// built without consensus, in tests and tools) the first eligible worker is taken.
    fn replace_pending(&self, overlay: &mut Overlay<'_>, outbox: &mut Outbox) -> Result<(), StateError> {
        let pending = overlay.pending_replacements()?;
        if pending.is_empty() {
            return Ok(());
        }
        overlay.set_pending_replacements(&Default::default());
        let now = outbox.time_ms();
        let window_ms = outbox.parameters().liveness.offline_after_ms;
        for PendingReplacement { cluster, removed } in pending.into_inner() {
            let mut epochs = overlay.epochs()?;
            let (current, next) = (epochs.epoch(), epochs.next());
            let mut kept = Vec::new();
            let mut eligible = Vec::new();
            for candidate in overlay.standby()?.iter() {
                let Some(record) = overlay.worker(candidate)?.filter(|record| record.may_stand_by(now)) else {
                    continue;
                };
                kept.push(*candidate);
                let live = record.is_live(now, window_ms, epochs.stalled_ms);
                if let (true, Some(agreement), Some(_)) = (live, record.epoch_key(current), record.epoch_key(next)) {
                    eligible.push(AssignedWorker { identity: *candidate, agreement });
                }
            }
            let added = match outbox.seed() {
                _ if eligible.is_empty() => None,
                Some(seed) => {
                    let draw = sha256(&(seed.randomness(), cluster, removed).encode());
                    let mut first = [0u8; 8];
                    first.copy_from_slice(&draw.as_bytes()[..8]);
                    Some(eligible[(u64::from_le_bytes(first) % eligible.len() as u64) as usize])
                }
                None => Some(eligible[0]),
            };
            let mut info = overlay.cluster(cluster)?.ok_or(StateError::Store(format!("{cluster} vanished")))?;
            if let Some(added) = &added {
                kept.retain(|identity| *identity != added.identity);
                if let Some(mut record) = overlay.worker(&added.identity)? {
                    record.cluster = Some(cluster);
                    overlay.set_worker(&added.identity, &record);
                }
                // Bounded like the cluster it left: one out, one in.
                let _ = info.workers.try_push(added.identity);
                epochs.cluster_workers = epochs.cluster_workers.saturating_add(1);
            }
            // No longer than the list it was cut from.
            overlay.set_standby(&kept.try_into().map_err(|_| StateError::Store("the standby list grew".into()))?);
            overlay.set_cluster(cluster, &info);
            overlay.set_epochs(&epochs);
            let message =
                AssignmentMessage::Replaced(Replacement { cluster, epoch: current, removed, added, at_ms: now });
            self.publish(overlay, outbox, chain_message(Topic::System(SystemTopic::Assignments), message.encode())?)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
