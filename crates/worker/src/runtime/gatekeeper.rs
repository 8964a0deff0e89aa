//! Gatekeeper duties: registrations checked again inside the TEE, the master key (generated,
//! proposed, received), and every cluster-key and contract-key delivery as the gatekeeper set's
//! egress.
//!
//! A registration is checked here (the DCAP quote against Intel's roots, the measurement the chain
//! allowed, the policy floor no parameters can lower (no debug quote, no revoked platform), and
//! the report data, at the batch's block time; software workers only where genesis allows them).
//! The parameters' stricter TCB rules are the chain's check, made at the registration's block. The
//! duty log drives everything else, in one order for every gatekeeper: runtimes' epoch keys
//! (signatures checked here), cluster formations and replacements (the cluster key sealed to each
//! verified worker's key of the epoch), contract assignments (the contract's public keys), rotation
//! requests (a proposal of a fresh master key, signed by this gatekeeper's identity) and epoch
//! openings (every cluster's and contract's new keys). Outputs are the gatekeeper set's egress,
//! numbered per duty whether this gatekeeper holds the epoch's master key or not, so all of them
//! sign byte-identical copies. The first genesis gatekeeper generates the first master key; the
//! others get it sealed to their epoch keys, from the winning proposal or a master share.

use std::collections::{BTreeMap, BTreeSet};
use veil_types::EpochHistory as _;

use parity_scale_codec::{Decode, Encode};
use veil_attestation::{Collateral, Policy, verify_registration};
use veil_crypto::{
    MasterKey, Sealable,
    confidential::{ClusterKeys, ContractKeys, KeyMessage, MasterShare, Proposal},
};
use veil_primitives::{
    Attestation, ClusterId, KeyEpoch, Message, Origin, SenderId, SystemTopic, Topic, WorkerRegistration,
    contract::{AssignedWorker, Assignment, ClusterFormed},
    decode_strict,
    epoch::{EpochKey, EpochOpening, Replacement, Revocation},
};

use super::{Core, Refusal, Role, Setting, standing::Standings};

/// A runtime's identity and an epoch: what an announced epoch key is filed under.
type RuntimeEpoch = ([u8; 32], KeyEpoch);

/// A gatekeeper's own state. Holds secrets: its encoding is only ever sealed.
#[derive(Default, Encode, Decode)]
pub(super) struct GatekeeperDuties {
    /// The master keys of usable epochs.
    pub(super) masters: BTreeMap<KeyEpoch, Sealable<MasterKey>>,
    /// A master key proposed for an epoch not yet opened.
    candidate: Option<(KeyEpoch, Sealable<MasterKey>)>,
    /// Runtimes whose attestation this gatekeeper checked itself, with when their registrations
    /// were current: keys are sealed only to a runtime current at the duty's block time.
    pub(super) verified: Standings,
    /// Every runtime's announced epoch keys, signatures checked here.
    pub(super) runtime_keys: BTreeMap<RuntimeEpoch, [u8; 32]>,
    /// Every cluster's workers, as the duty log says.
    pub(super) clusters: BTreeMap<ClusterId, BTreeSet<[u8; 32]>>,
    /// How much of the gatekeeper set's egress it saw accepted on chain.
    set_published: u64,
    /// The sequence number of the set's next output; advanced for every duty, held keys or not,
    /// so every gatekeeper numbers the same outputs alike.
    pub(super) set_next: u64,
}

impl GatekeeperDuties {
    pub(super) fn master_public(&self, epoch: KeyEpoch) -> Option<[u8; 32]> {
        self.masters.get(&epoch).map(|master| master.public())
    }

    pub(super) fn secret_keys(&self) -> impl Iterator<Item = (Option<KeyEpoch>, [u8; 32])> + '_ {
        self.masters.iter().map(|(epoch, master)| (Some(*epoch), *master.secret().expose()))
    }

    /// A gatekeeper (the generating one too) announces its epoch keys only after its own
    /// registration is on chain, so every gatekeeper has checked its quote before it handles the
    /// key, and decides alike whether to seal the master key to it.
    pub(super) fn may_announce(&self, core: &Core) -> bool {
        self.verified.verified(&core.identity())
    }

    /// Whether `identity` attested (checked here) and its registration was current at `at_ms`.
    pub(super) fn current_at(&self, identity: &[u8; 32], at_ms: u64) -> bool {
        self.verified.current_at(identity, at_ms)
    }

    /// A measurement was disallowed: registrations with it end at the revocation, those known now
    /// and those that arrive later.
    pub(super) fn on_revocation(&mut self, revocation: &Revocation) {
        self.verified.revoke(revocation.measurement, revocation.at_ms);
    }

    /// Destroys master keys and other runtimes' epoch keys of epochs retired by `now_ms`;
    /// returns whether a secret was destroyed.
    pub(super) fn retire(&mut self, core: &Core, now_ms: u64) -> bool {
        let before = self.masters.len();
        let epochs = &core.epochs;
        self.masters.retain(|epoch, _| !epochs.retired(*epoch, now_ms));
        self.runtime_keys.retain(|(_, epoch), _| !epochs.retired(*epoch, now_ms));
        before != self.masters.len()
    }

    pub(super) fn on_registration(
        &mut self,
        setting: &Setting,
        message: &Message,
        block_time_ms: u64,
    ) -> Result<(), Refusal> {
        if message.origin != Origin::Chain {
            return Err(Refusal::Origin { what: "a registration", origin: message.origin });
        }
        let registration: WorkerRegistration =
            decode_strict(&message.payload).map_err(|e| Refusal::malformed("a registration", e))?;
        let info = registration.info;
        if info.genesis != setting.chain {
            return Err(Refusal::ForeignChain(info.genesis));
        }
        match &registration.attestation {
            Attestation::InsecureSoftware if setting.allows_insecure(&info.signing_key) => {}
            Attestation::InsecureSoftware => {
                return Err(Refusal::Attestation("software worker on a chain that requires TEEs".into()));
            }
            Attestation::Dcap { quote, collateral } => {
                let collateral = Collateral::from_json(collateral).map_err(|e| Refusal::malformed("collateral", e))?;
                let measurements = registration.measurement.into_iter().collect();
                verify_registration(quote, &collateral, block_time_ms / 1_000, &Policy::floor(measurements), &info)
                    .map_err(|error| {
                        Refusal::Attestation(format!("the gatekeeper's own check refuses the quote: {error}"))
                    })?;
            }
        }
        self.verified.register(
            info.signing_key,
            registration.registered_at_ms,
            registration.expires_at_ms,
            registration.measurement,
        );
        Ok(())
    }

    /// The first genesis gatekeeper generates the first master key and proposes it, once.
    pub(super) fn generate_first_master(&mut self, setting: &Setting, core: &mut Core, now_ms: u64) {
        if core.gatekeepers.first() != Some(&core.identity())
            || core.epochs.current().is_some()
            || self.candidate.is_some()
            || !self.may_announce(core)
        {
            return;
        }
        self.propose(setting, core, KeyEpoch(0), now_ms);
    }

    /// A rotation request: a gatekeeper of the set holding the current master key proposes a
    /// fresh one (a replaced one no longer does: the chain would refuse it).
    pub(super) fn on_rotation(&mut self, setting: &Setting, core: &mut Core, epoch: KeyEpoch, now_ms: u64) {
        if self.masters.contains_key(&core.epochs.epoch()) && core.gatekeepers.contains(&core.identity()) {
            self.propose(setting, core, epoch, now_ms);
        }
    }

    /// Generates a master key for `epoch` and proposes it, sealed to the keys of the epoch of the
    /// other gatekeepers of the set that this gatekeeper verified and whose registration is
    /// current at `now_ms` (the batch's block time: a proposal is this gatekeeper's own output,
    /// so it need not match another's). A revoked or lapsed gatekeeper gets nothing of the new
    /// epoch, even though it announced its key of it while it was current.
    fn propose(&mut self, setting: &Setting, core: &mut Core, epoch: KeyEpoch, now_ms: u64) {
        let master = match setting.host.randomness.secret() {
            Ok(secret) => MasterKey::from_secret(secret),
            Err(error) => return core.note(Refusal::Randomness(error.to_string())),
        };
        let me = core.identity();
        let others = core.gatekeepers.iter().filter(|id| **id != me && self.current_at(id, now_ms));
        let others = self.with_keys(others, epoch);
        match Proposal::new(&master, epoch, &others) {
            Ok(proposal) => {
                self.candidate = Some((epoch, Sealable(master)));
                let payload = KeyMessage::Proposal(proposal).encode();
                core.push_own(Role::Gatekeeper, Topic::System(SystemTopic::KeyEpochs), payload);
            }
            Err(error) => core.note(Refusal::Internal(format!("cannot propose {epoch}: {error}"))),
        }
    }

    /// Each of `identities` that announced a key of `epoch`, with that key.
    fn with_keys<'a>(
        &self,
        identities: impl IntoIterator<Item = &'a [u8; 32]>,
        epoch: KeyEpoch,
    ) -> Vec<AssignedWorker> {
        identities
            .into_iter()
            .filter_map(|identity| {
                let agreement = *self.runtime_keys.get(&(*identity, epoch))?;
                Some(AssignedWorker { identity: *identity, agreement })
            })
            .collect()
    }

    /// The gatekeeper set's next output: signed and queued when this gatekeeper holds the master
    /// key of `epoch`, skipped otherwise; numbered alike on every gatekeeper either way.
    /// `make` builds it from the master key and its sequence number, or says why this gatekeeper
    /// will not (the output is then skipped, still numbered).
    fn push_set(
        &mut self,
        core: &mut Core,
        epoch: KeyEpoch,
        make: impl FnOnce(&MasterKey, u64) -> Result<KeyMessage, String>,
    ) {
        let sequence = self.set_next;
        self.set_next += 1;
        let Some(master) = self.masters.get(&epoch) else { return };
        let signer = master.set_signer(epoch);
        let message = match make(master, sequence) {
            Ok(message) => message,
            Err(error) => {
                return core.note(Refusal::Internal(format!("gatekeeper set output {sequence}: {error}")));
            }
        };
        let Ok(payload) = message.encode().try_into() else {
            return core.note(Refusal::TooLarge("a key message"));
        };
        core.egress.resume(SenderId::GatekeeperSet, sequence);
        let copy =
            core.egress.push(&signer, SenderId::GatekeeperSet, epoch, Topic::System(SystemTopic::KeyEpochs), payload);
        debug_assert_eq!(copy.egress.sequence, sequence);
    }

    /// A runtime's announced key: checked here (its identity's signature) and remembered. A
    /// verified gatekeeper's key for the current epoch gets the master key (one set output).
    pub(super) fn on_epoch_key(
        &mut self,
        setting: &Setting,
        core: &mut Core,
        identity: [u8; 32],
        origin: Origin,
        key: EpochKey,
    ) -> Result<(), Refusal> {
        veil_crypto::verify_epoch_key(&setting.chain, &identity, &key)
            .map_err(|error| Refusal::EpochKeyRefused { runtime: identity, error })?;
        if self.runtime_keys.contains_key(&(identity, key.epoch)) {
            return Ok(()); // The first announcement stands.
        }
        // A key another runtime announced first is not this one's, as on chain.
        if let Some(((first, _), _)) =
            self.runtime_keys.iter().find(|((other, _), agreement)| *other != identity && **agreement == key.agreement)
        {
            return Err(Refusal::KeyAnnouncedBefore { runtime: identity, first: *first });
        }
        self.runtime_keys.insert((identity, key.epoch), key.agreement);
        // Every gatekeeper decides alike: a gatekeeper announces its keys only after its own
        // registration is on chain, so the registration is always handled before the key.
        let Some(opening) = core.epochs.current().copied() else { return Ok(()) };
        // The chain accepted the key, so the gatekeeper's registration was current then.
        if matches!(origin, Origin::Runtime(SenderId::Gatekeeper(_)))
            && opening.epoch == key.epoch
            && opening.proposer != identity
            && self.verified.verified(&identity)
        {
            let recipient = AssignedWorker { identity, agreement: key.agreement };
            self.push_set(core, key.epoch, |master, sequence| {
                MasterShare::seal(master, key.epoch, &recipient, sequence)
                    .map(KeyMessage::MasterShare)
                    .map_err(|error| error.to_string())
            });
        }
        Ok(())
    }

    /// A cluster formed: its key goes to its verified workers.
    pub(super) fn on_cluster_formed(
        &mut self,
        core: &mut Core,
        duty: u64,
        formed: &ClusterFormed,
    ) -> Result<(), Refusal> {
        self.clusters.insert(formed.cluster, formed.workers.iter().map(|worker| worker.identity).collect());
        self.deliver_cluster(core, duty, formed.cluster, formed.epoch, formed.at_ms, &formed.workers)
    }

    /// A contract assigned (or an epoch opened): its public keys of the assignment's epoch,
    /// derived from its cluster's key.
    pub(super) fn on_contract_assigned(&mut self, core: &mut Core, assignment: &Assignment) {
        let Assignment { contract, code, cluster, epoch } = *assignment;
        self.push_set(core, epoch, |master, _| {
            Ok(KeyMessage::ContractKeys(ContractKeys::derive(&master.cluster_key(cluster, epoch), contract, code)))
        });
    }

    /// The cluster key of `epoch`, sealed to each worker of `workers` whose attestation and key of
    /// the epoch this gatekeeper checked and whose registration is current at the duty's block
    /// time `at_ms` (checked again at every delivery: a lapsed or revoked worker gets nothing
    /// more), as one set output. The chain's record of a worker's key must be the key the worker
    /// itself signed.
    fn deliver_cluster(
        &mut self,
        core: &mut Core,
        duty: u64,
        cluster: ClusterId,
        epoch: KeyEpoch,
        at_ms: u64,
        workers: &[AssignedWorker],
    ) -> Result<(), Refusal> {
        let (trusted, unverified): (Vec<AssignedWorker>, Vec<AssignedWorker>) = workers.iter().partition(|worker| {
            self.current_at(&worker.identity, at_ms)
                && self.runtime_keys.get(&(worker.identity, epoch)) == Some(&worker.agreement)
        });
        self.verified.forget_before(at_ms);
        self.push_set(core, epoch, |master, _| {
            ClusterKeys::deliver(master, &master.cluster_key(cluster, epoch), duty, &trusted)
                .map(KeyMessage::ClusterKeys)
                .map_err(|error| error.to_string())
        });
        if unverified.is_empty() {
            Ok(())
        } else {
            Err(Refusal::UnverifiedWorkers(unverified.iter().map(|worker| worker.identity).collect()))
        }
    }

    /// A cluster lost a silent worker and perhaps gained a replacement: the current cluster key
    /// goes to the workers now in it.
    pub(super) fn on_replacement(
        &mut self,
        core: &mut Core,
        duty: u64,
        replacement: Replacement,
    ) -> Result<(), Refusal> {
        let members = self.clusters.entry(replacement.cluster).or_default();
        members.remove(&replacement.removed);
        let Some(added) = replacement.added else { return Ok(()) };
        members.insert(added.identity);
        // Everyone in the cluster with a key of the epoch; the added worker is named with the key
        // the chain recorded, which `deliver_cluster` checks against the one it signed.
        let others = self.clusters[&replacement.cluster].iter().filter(|identity| **identity != added.identity);
        let mut workers = self.with_keys(others, replacement.epoch);
        workers.push(added);
        workers.sort_by_key(|worker| worker.identity);
        self.deliver_cluster(core, duty, replacement.cluster, replacement.epoch, replacement.at_ms, &workers)
    }

    /// An epoch opened (the core recorded it). Its proposer (if this gatekeeper) keeps its
    /// candidate as the master key and the set's keys move to it; every gatekeeper numbers the
    /// epoch's outputs: each cluster's new keys, then each contract's.
    pub(super) fn on_epoch_opened(&mut self, core: &mut Core, duty: u64, opening: EpochOpening) {
        if let Some((epoch, candidate)) = self.candidate.take()
            && epoch == opening.epoch
            && opening.proposer == core.identity()
            && candidate.public() == opening.master
            && candidate.set_signer(epoch).public() == opening.signing
        {
            self.take_master(core, epoch, candidate.0);
        }
        let epoch = opening.epoch;
        let clusters: Vec<(ClusterId, Vec<[u8; 32]>)> =
            self.clusters.iter().map(|(id, workers)| (*id, workers.iter().copied().collect())).collect();
        for (cluster, identities) in clusters {
            let workers = self.with_keys(&identities, epoch);
            if let Err(refusal) = self.deliver_cluster(core, duty, cluster, epoch, opening.opened_at_ms, &workers) {
                core.note(refusal);
            }
        }
        let contracts: Vec<Assignment> =
            core.assigned.values().map(|assignment| Assignment { epoch, ..assignment.clone() }).collect();
        for assignment in &contracts {
            self.on_contract_assigned(core, assignment);
        }
    }

    /// This gatekeeper now holds the master key of `epoch`: the set's pending outputs are signed
    /// again with the epoch's key (the chain refuses the older epoch's signatures from now on).
    fn take_master(&mut self, core: &mut Core, epoch: KeyEpoch, master: MasterKey) {
        if epoch == core.epochs.epoch() {
            core.egress.resign(&master.set_signer(epoch), SenderId::GatekeeperSet, epoch);
        }
        self.masters.insert(epoch, Sealable(master));
    }

    /// A master key proposal that opened its epoch, if sealed to this gatekeeper.
    pub(super) fn on_proposal(
        &mut self,
        core: &mut Core,
        proposer: [u8; 32],
        proposal: Proposal,
    ) -> Result<(), Refusal> {
        if self.masters.contains_key(&proposal.epoch) {
            return Ok(());
        }
        // Only the proposal that opened its epoch counts; a later one lost the race.
        let Some(opening) = core.epochs.opening(proposal.epoch).copied() else { return Ok(()) };
        if opening.proposer != proposer || opening.master != proposal.master {
            return Ok(());
        }
        let Some(key) = core.epoch_key(proposal.epoch) else { return Ok(()) };
        match proposal.open(&core.identity(), &key) {
            None => Ok(()),
            Some(Ok(master)) => {
                self.take_master(core, proposal.epoch, master);
                Ok(())
            }
            Some(Err(error)) => {
                Err(Refusal::KeyRefused { what: "master key", epoch: proposal.epoch, error: error.to_string() })
            }
        }
    }

    /// One of the set's outputs proven on chain; a master share is opened if it is for this
    /// gatekeeper.
    pub(super) fn on_set_output(&mut self, core: &mut Core, message: KeyMessage) -> Result<(), Refusal> {
        self.set_published += 1;
        core.egress.acknowledge(SenderId::GatekeeperSet, self.set_published);
        let KeyMessage::MasterShare(share) = message else { return Ok(()) };
        if share.delivery.recipient != core.identity() || self.masters.contains_key(&share.epoch) {
            return Ok(());
        }
        let opening = core.epochs.opening(share.epoch).copied().ok_or(Refusal::UnopenedEpoch(share.epoch))?;
        let key = core.epoch_key(share.epoch).ok_or(Refusal::NoEpochKey(share.epoch))?;
        let master = share.open(&core.identity(), &key, &opening.master, &opening.signing).map_err(|error| {
            Refusal::KeyRefused { what: "master share", epoch: share.epoch, error: error.to_string() }
        })?;
        self.take_master(core, share.epoch, master);
        Ok(())
    }
}
