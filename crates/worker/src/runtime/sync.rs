//! A batch in: verified whole, then each message to the duty that handles it, then the runtime's
//! own announcements (epoch keys, heartbeats) and the retirement of old epochs' keys.
//!
//! Topics are handled in their canonical order (registrations, the duty log, key epochs, releases,
//! heartbeats, parameters, sessions, then contract topics), each message in log order. Once a
//! batch that brings every topic to its header has handled the chain's retirement of an epoch
//! (published only when every contract has keys of the next one), every key of that epoch
//! (master, epoch keys, cluster keys) is destroyed, and [`Applied::destroyed_keys`] tells the
//! service to overwrite both checkpoint slots.

use parity_scale_codec::Encode;
use veil_crypto::confidential::KeyMessage;
use veil_primitives::{
    Message, Origin, Parameters, SenderId, SystemTopic, Topic, contract::AssignmentMessage, decode_strict,
    epoch::Heartbeat,
};

use super::{Applied, Duties, Refusal, Refused, Role, Runtime};
use crate::sync::{Batch, SyncError};

impl Runtime {
    /// Verifies `batch` and handles its messages; on `Err` nothing changed.
    pub fn apply(&mut self, batch: &Batch) -> Result<Applied, SyncError> {
        self.apply_with(batch, |_| {})
    }

    /// [`Runtime::apply`], calling `after_message` with the running count after each message (a
    /// hook for fault-injection tests that stop the process mid-batch).
    pub fn apply_with(&mut self, batch: &Batch, mut after_message: impl FnMut(u64)) -> Result<Applied, SyncError> {
        let accepted = self.follower.accept(batch)?;
        let now_ms = batch.header.timestamp_ms;
        let mut applied = Applied { height: self.follower.state().height, ..Applied::default() };
        for (topic, messages) in accepted.messages {
            for (index, message) in messages {
                if let Err(refusal) = self.handle(topic, index, &message, now_ms) {
                    let refused = Refused { message: Some((topic, index)), refusal };
                    self.core.remember(refused.clone());
                    applied.refused.push(refused);
                }
                self.remember_noted(Some((topic, index)));
                applied.messages += 1;
                after_message(applied.messages);
            }
        }
        if let Duties::Worker(worker) = &mut self.duties {
            applied.fuel_used = std::mem::take(&mut worker.contracts.fuel_used);
        }
        applied.complete = accepted.complete;
        if !accepted.complete {
            // A page: block time runs only once every followed topic reached the header.
            self.remember_noted(None);
            return Ok(applied);
        }
        applied.destroyed_keys = self.retire(now_ms);
        if let Duties::Gatekeeper(gatekeeper) = &mut self.duties {
            gatekeeper.generate_first_master(&self.setting, &mut self.core, now_ms);
        }
        self.core.announce_epoch_keys_if(&self.setting, &self.duties);
        // Heartbeats land where the runtime reads them only once it has started reading the topic.
        if self.follower.state().topics.get(&Topic::System(SystemTopic::Heartbeats)).is_some_and(|log| log.length > 0) {
            self.core.beat(self.duties.role(), batch.header.height, now_ms);
        }
        if let Duties::Worker(worker) = &mut self.duties {
            worker.sessions.forget_before(batch.header.height);
        }
        self.remember_noted(None);
        Ok(applied)
    }

    /// Duties the runtime could not carry out (while handling `message`) go to its recent
    /// refusals, not to the batch's: the message itself was handled.
    fn remember_noted(&mut self, message: Option<(Topic, u64)>) {
        for refusal in std::mem::take(&mut self.core.noted) {
            self.core.remember(Refused { message, refusal });
        }
    }

    /// Destroys every key of epochs retired by `now_ms` (and a worker's keys of an older epoch its
    /// contracts moved on from, but for their agreement keys); returns whether anything was
    /// destroyed.
    pub(super) fn retire(&mut self, now_ms: u64) -> bool {
        let own = self.core.retire(now_ms);
        let role = match &mut self.duties {
            Duties::Gatekeeper(gatekeeper) => gatekeeper.retire(&self.core, now_ms),
            Duties::Worker(worker) => worker.retire(&self.core, now_ms),
        };
        own || role
    }

    pub(super) fn handle(
        &mut self,
        topic: Topic,
        index: u64,
        message: &Message,
        block_time_ms: u64,
    ) -> Result<(), Refusal> {
        match topic {
            Topic::System(SystemTopic::Assignments) => return self.on_duty(index, message),
            Topic::System(SystemTopic::KeyEpochs) => return self.on_key_message(message),
            _ => {}
        }
        let Self { setting, core, duties, .. } = self;
        match (topic, duties) {
            (Topic::System(SystemTopic::Registrations), Duties::Gatekeeper(gatekeeper)) => {
                gatekeeper.on_registration(setting, message, block_time_ms)
            }
            (Topic::System(SystemTopic::Releases), Duties::Worker(worker)) => {
                worker.on_release(core, message);
                Ok(())
            }
            (Topic::System(SystemTopic::Heartbeats), duties) => {
                core.acknowledge_own(duties.role(), message);
                Ok(())
            }
            (Topic::System(SystemTopic::Parameters), duties) => {
                let parameters = core.on_parameters(message)?;
                if let Duties::Worker(worker) = duties {
                    worker.on_parameters(&parameters);
                }
                Ok(())
            }
            (Topic::System(SystemTopic::Sessions), Duties::Worker(worker)) => worker.sessions.on_revocation(message),
            (Topic::Contract(contract), Duties::Worker(worker)) => {
                worker.on_contract_message(setting, core, contract, index, message)
            }
            _ => Err(Refusal::UnexpectedTopic),
        }
    }

    /// One entry of the duty log, in order: the same on every runtime, whatever its batches.
    fn on_duty(&mut self, index: u64, message: &Message) -> Result<(), Refusal> {
        let duty: AssignmentMessage = decode_strict(&message.payload).map_err(|e| Refusal::malformed("a duty", e))?;
        let role = self.duties.role();
        let Self { setting, follower, core, duties, .. } = self;
        match (message.origin, duty, duties) {
            (
                Origin::Runtime(SenderId::Worker(identity) | SenderId::Gatekeeper(identity)),
                AssignmentMessage::EpochKey(key),
                duties,
            ) => {
                core.acknowledge_own(role, message);
                match duties {
                    Duties::Gatekeeper(gatekeeper) => {
                        gatekeeper.on_epoch_key(setting, core, identity, message.origin, key)
                    }
                    Duties::Worker(_) => Ok(()),
                }
            }
            (Origin::Chain, AssignmentMessage::Cluster(formed), Duties::Gatekeeper(gatekeeper)) => {
                gatekeeper.on_cluster_formed(core, index, &formed)
            }
            (Origin::Chain, AssignmentMessage::Cluster(formed), Duties::Worker(worker)) => {
                worker.on_cluster_formed(setting, core, follower, formed.cluster, &formed.workers);
                Ok(())
            }
            (Origin::Chain, AssignmentMessage::Contract(assigned), duties) => {
                core.assigned.insert(assigned.contract, assigned.clone());
                match duties {
                    Duties::Gatekeeper(gatekeeper) => gatekeeper.on_contract_assigned(core, &assigned),
                    Duties::Worker(worker) => worker.adopt_contracts(setting, core, follower),
                }
                Ok(())
            }
            (Origin::Chain, AssignmentMessage::Replaced(replacement), Duties::Gatekeeper(gatekeeper)) => {
                gatekeeper.on_replacement(core, index, replacement)
            }
            (Origin::Chain, AssignmentMessage::Replaced(replacement), Duties::Worker(worker)) => {
                worker.on_replacement(core, follower, replacement);
                Ok(())
            }
            (Origin::Chain, AssignmentMessage::Revoked(revocation), duties) => {
                if let Duties::Gatekeeper(gatekeeper) = duties {
                    gatekeeper.on_revocation(&revocation);
                }
                Ok(())
            }
            // A replaced gatekeeper no longer proposes or speaks as itself; while it holds the
            // epoch's master key it still signs the set's outputs (identical to every other
            // gatekeeper's), so it can hand the key to its successor; the next rotation leaves it
            // out.
            (Origin::Chain, AssignmentMessage::GatekeeperReplaced { old, new }, _) => {
                if let Some(member) = core.gatekeepers.iter_mut().find(|member| **member == old) {
                    *member = new;
                }
                Ok(())
            }
            (Origin::Chain, AssignmentMessage::Rotation { epoch }, duties) => {
                if let Duties::Gatekeeper(gatekeeper) = duties {
                    gatekeeper.on_rotation(setting, core, epoch, follower.state().timestamp_ms);
                }
                Ok(())
            }
            (Origin::Chain, AssignmentMessage::EpochOpened(opening), duties) => {
                if !core.epochs.record(opening) {
                    return Err(Refusal::EpochOpenedTwice(opening.epoch));
                }
                if let Duties::Gatekeeper(gatekeeper) = duties {
                    gatekeeper.on_epoch_opened(core, index, opening);
                }
                Ok(())
            }
            (Origin::Chain, AssignmentMessage::EpochRetired(retirement), _) => {
                // The keys go at the end of the batch that completes (`retire`), after every
                // message before the retirement was handled, whatever the topics' order.
                core.epochs.record_retirement(retirement);
                Ok(())
            }
            (origin, _, _) => Err(Refusal::Origin { what: "this duty", origin }),
        }
    }

    /// One message of the key-epochs topic: a master-key proposal, or one of the gatekeeper set's
    /// outputs.
    fn on_key_message(&mut self, message: &Message) -> Result<(), Refusal> {
        let key_message: KeyMessage =
            decode_strict(&message.payload).map_err(|e| Refusal::malformed("a key message", e))?;
        let role = self.duties.role();
        let Self { setting, follower, core, duties, .. } = self;
        match (message.origin, key_message) {
            (Origin::Runtime(SenderId::Gatekeeper(proposer)), KeyMessage::Proposal(proposal)) => {
                // No check against this runtime's copy of the set: it may already reflect a later
                // replacement in this batch. The chain took the proposal only from a registered
                // member, and only the one that opened its epoch counts (`on_proposal`).
                core.acknowledge_own(role, message);
                match duties {
                    Duties::Gatekeeper(gatekeeper) => gatekeeper.on_proposal(core, proposer, proposal),
                    Duties::Worker(_) => Ok(()),
                }
            }
            (Origin::Runtime(SenderId::GatekeeperSet), output) => match (duties, output) {
                (Duties::Gatekeeper(gatekeeper), output) => gatekeeper.on_set_output(core, output),
                (Duties::Worker(worker), KeyMessage::ClusterKeys(keys)) => {
                    worker.on_cluster_keys(setting, core, follower, keys)
                }
                (Duties::Worker(_), _) => Ok(()),
            },
            (origin, _) => Err(Refusal::Origin { what: "a key message", origin }),
        }
    }
}

impl super::Core {
    /// A heartbeat as `role`, when the interval has passed by block time: workers' and
    /// gatekeepers' sign of life alike.
    pub(super) fn beat(&mut self, role: Role, height: u64, now_ms: u64) {
        if now_ms < self.last_heartbeat_ms.saturating_add(self.heartbeat_interval_ms) {
            return;
        }
        self.last_heartbeat_ms = now_ms;
        self.push_own(role, Topic::System(SystemTopic::Heartbeats), Heartbeat { height }.encode());
    }

    /// The chain's new parameters: the heartbeat interval applies from here.
    fn on_parameters(&mut self, message: &Message) -> Result<Parameters, Refusal> {
        if message.origin != Origin::Chain {
            return Err(Refusal::Origin { what: "parameters", origin: message.origin });
        }
        let parameters: Parameters =
            decode_strict(&message.payload).map_err(|e| Refusal::malformed("parameters", e))?;
        self.heartbeat_interval_ms = parameters.liveness.heartbeat_interval_ms;
        Ok(parameters)
    }

    /// Announces this runtime's epoch keys (see [`super::Core::announce_epoch_keys`]) when its
    /// role may.
    fn announce_epoch_keys_if(&mut self, setting: &super::Setting, duties: &Duties) {
        let may = match duties {
            Duties::Gatekeeper(gatekeeper) => gatekeeper.may_announce(self),
            Duties::Worker(_) => true,
        };
        if may {
            self.announce_epoch_keys(setting, duties.role());
        }
    }
}
