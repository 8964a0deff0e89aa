//! The worker registry: workers join by attesting, and lapse when their attestation expires.
//!
//! A `RegisterWorker` transaction, signed by the worker's operator, carries the
//! [`RegistrationInfo`] (signing key, X25519 key, chain id, operator) and the attestation: an Intel
//! DCAP quote with its collateral, or nothing for a software worker. The chain verifies the quote at
//! the block's timestamp with `veil_attestation` (Intel's chain of trust, the parameters' TCB rules
//! `attestation`: accepted statuses and refused advisories, the allowlist in the state, and report
//! data equal to the info's hash), records the worker with its
//! keys, TEE kind, measurement and expiry (the collateral's), registers its signing key as an egress
//! sender, and publishes the registration (with the canonical quote and its collateral) on the
//! registrations topic so gatekeepers can check it themselves. A new worker joins the standby list
//! (see [`crate::epochs`]). A genesis gatekeeper registers the same way, to attest before the
//! others share the master key with it; it signs its egress as a gatekeeper, not as a worker, and
//! never stands by. Renewal is the same transaction
//! with fresh collateral; the worker keeps its egress sequence. Software workers are accepted only
//! when genesis allows insecure workers, for `insecure_lifetime_ms`. A lapsed worker's egress is
//! refused until it renews.
//!
//! **Revocation.** The chain files every hardware worker under its measurement
//! ([`StateKey::MeasurementWorkers`]). Taking a measurement off the allowlist lapses every
//! registration filed under it at that block, and publishes a [`Revocation`] on the duty log:
//! from then on their egress is refused, a report removes them from their clusters (relayers
//! report them), and gatekeepers seal no key to them. They come back only by renewing with an
//! allowed measurement.

use parity_scale_codec::Encode;
use std::collections::BTreeSet;
use veil_attestation::{AttestationError, Collateral, Policy, parse_quote, verify_registration};
use veil_primitives::{
    AccountId, Attestation, Hash, KeyEpoch, Measurement, Nonce, RegistrationInfo, RegistryCall, SenderId, SystemTopic,
    Topic, WorkerRegistration, contract::AssignmentMessage, epoch::Revocation,
};

use crate::{
    Chain,
    contracts::chain_message,
    messages::Outbox,
    module::{AddKey, Keys, Module},
    state::{
        MAX_STANDBY, MAX_WORKERS_PER_MEASUREMENT, Overlay, ReadState, SenderInfo, StateError, StateKey, StateReader,
        WorkerInfo,
    },
};

/// Why a registration or an allowlist change is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RegistrationError {
    /// The info names another operator than the signer.
    #[error("the registration names operator {operator}, but {signer} signed it")]
    OperatorMismatch {
        /// The transaction's signer.
        signer: AccountId,
        /// The info's operator.
        operator: AccountId,
    },
    /// The info names another chain.
    #[error("the registration is for chain {found}, this chain is {expected}")]
    WrongChain {
        /// This chain's id.
        expected: Hash,
        /// The info's.
        found: Hash,
    },
    /// The signing key belongs to a worker of another operator.
    #[error("worker 0x{} is registered by operator {operator}", hex::encode(.worker))]
    OtherOperator {
        /// The worker's signing key.
        worker: [u8; 32],
        /// Its operator.
        operator: AccountId,
    },
    /// A software registration on a chain that does not allow them.
    #[error("this chain accepts only hardware-attested workers (genesis allow_insecure_workers = false)")]
    InsecureNotAllowed,
    /// A software registration of an identity the genesis does not list.
    #[error(
        "runtime 0x{} may not register without a quote: this genesis lets in only the software runtimes it lists (registration.insecure_identities)",
        hex::encode(.0)
    )]
    InsecureNotListed([u8; 32]),
    /// The quote, its collateral or the policy refuses the registration.
    #[error(transparent)]
    Attestation(#[from] AttestationError),
    /// Only the registry admin changes the allowlist or assigns contracts.
    #[error("only the registry admin {admin} may change the measurement allowlist or assign contracts")]
    NotAdmin {
        /// The admin.
        admin: AccountId,
    },
    /// An assignment names no worker.
    #[error("an assignment needs at least one worker")]
    NoWorkers,
    /// An assignment names a worker twice.
    #[error("worker 0x{} is named twice", hex::encode(.0))]
    DuplicateWorker([u8; 32]),
    /// An assignment names a worker that is not registered.
    #[error("worker 0x{} is not registered", hex::encode(.0))]
    UnknownWorker([u8; 32]),
    /// The index of one measurement's workers is full.
    #[error(
        "{limit} workers are registered with this measurement already; register with another release or raise the limit in a runtime upgrade"
    )]
    MeasurementFull {
        /// The limit.
        limit: usize,
    },
    /// An assignment names a worker whose registration has lapsed.
    #[error("the registration of worker 0x{} lapsed at {expired_at_ms} ms; it must renew first", hex::encode(.worker))]
    LapsedWorker {
        /// The worker.
        worker: [u8; 32],
        /// When it lapsed.
        expired_at_ms: u64,
    },
}

/// The registry module.
pub(crate) struct Registry;

impl Module for Registry {
    type Call = RegistryCall;

    fn apply(
        chain: &Chain,
        overlay: &mut Overlay<'_>,
        outbox: &mut Outbox,
        signer: &AccountId,
        _nonce: Nonce,
        call: &RegistryCall,
    ) -> Result<(), crate::TransactionError> {
        match call {
            RegistryCall::RegisterWorker { info, attestation } => {
                chain.register_worker(overlay, outbox, signer, info, attestation)
            }
            RegistryCall::SetMeasurementAllowed { measurement, allowed } => {
                chain.set_measurement_allowed(overlay, outbox, signer, measurement, *allowed)
            }
        }
    }

    fn dependent_keys(
        _chain: &Chain,
        state: &dyn StateReader,
        call: &RegistryCall,
        keys: &mut Keys,
    ) -> Result<(), StateError> {
        match call {
            // A renewal with another measurement leaves the old measurement's index.
            RegistryCall::RegisterWorker { info, .. } => {
                if let Some(measurement) = state.worker(&info.signing_key)?.and_then(|worker| worker.measurement) {
                    keys.add(StateKey::MeasurementWorkers(measurement));
                }
                // A full standby list is pruned of lapsed entries to make room. Every entry is
                // declared, not only when the list is full before the block: registrations earlier
                // in the same block may fill it.
                state.standby()?.iter().for_each(|identity| keys.add(StateKey::Worker(*identity)));
            }
            // Disallowing lapses every worker of the measurement.
            RegistryCall::SetMeasurementAllowed { measurement, allowed: false } => {
                for worker in state.measurement_workers(measurement)?.iter() {
                    keys.add(StateKey::Worker(*worker));
                }
            }
            RegistryCall::SetMeasurementAllowed { allowed: true, .. } => {}
        }
        Ok(())
    }

    fn call_keys(_chain: &Chain, _signer: &AccountId, call: &RegistryCall, keys: &mut Keys) {
        match call {
            RegistryCall::RegisterWorker { info, attestation } => {
                keys.add(StateKey::Worker(info.signing_key));
                keys.add(StateKey::Sender(SenderId::Worker(info.signing_key)));
                keys.add(StateKey::Standby);
                if let Attestation::Dcap { quote, .. } = attestation
                    && let Ok(parsed) = parse_quote(quote)
                {
                    keys.add(StateKey::AllowedMeasurement(parsed.measurement));
                    keys.add(StateKey::MeasurementWorkers(parsed.measurement));
                }
            }
            RegistryCall::SetMeasurementAllowed { measurement, .. } => {
                keys.add(StateKey::AllowedMeasurement(*measurement));
                keys.add(StateKey::MeasurementWorkers(*measurement));
            }
        }
    }

    fn call_topics(_signer: &AccountId, call: &RegistryCall, topics: &mut BTreeSet<Topic>) {
        match call {
            RegistryCall::RegisterWorker { .. } => {
                topics.insert(Topic::System(SystemTopic::Registrations));
            }
            RegistryCall::SetMeasurementAllowed { allowed: false, .. } => {
                topics.insert(Topic::System(SystemTopic::Assignments));
            }
            RegistryCall::SetMeasurementAllowed { allowed: true, .. } => {}
        }
    }
}

impl Chain {
    /// Registers or renews the worker of `info` for `signer`; see the module documentation.
    pub(crate) fn register_worker(
        &self,
        overlay: &mut Overlay<'_>,
        outbox: &mut Outbox,
        signer: &AccountId,
        info: &RegistrationInfo,
        attestation: &Attestation,
    ) -> Result<(), crate::TransactionError> {
        if info.operator != *signer {
            return Err(RegistrationError::OperatorMismatch { signer: *signer, operator: info.operator }.into());
        }
        if info.genesis != self.id() {
            return Err(RegistrationError::WrongChain { expected: self.id(), found: info.genesis }.into());
        }
        if let Some(existing) = overlay.worker(&info.signing_key)?
            && existing.operator != *signer
        {
            return Err(
                RegistrationError::OtherOperator { worker: info.signing_key, operator: existing.operator }.into()
            );
        }
        let now_ms = outbox.time_ms();
        let (worker, published) = match attestation {
            Attestation::InsecureSoftware => {
                if !self.genesis().allow_insecure_workers {
                    return Err(RegistrationError::InsecureNotAllowed.into());
                }
                if !self.genesis().registration.insecure_allowed(&info.signing_key) {
                    return Err(RegistrationError::InsecureNotListed(info.signing_key).into());
                }
                let expires_at_ms = now_ms.saturating_add(outbox.parameters().insecure_lifetime_ms);
                let worker = WorkerInfo {
                    operator: *signer,
                    agreement_key: info.agreement_key,
                    tee: None,
                    measurement: None,
                    expires_at_ms,
                    epoch_keys: Default::default(),
                    cluster: None,
                    last_seen_ms: now_ms,
                    last_seen_live_ms: outbox.liveness_ms(),
                };
                (worker, Attestation::InsecureSoftware)
            }
            Attestation::Dcap { quote, collateral } => {
                let collateral_json = Collateral::from_json(collateral).map_err(RegistrationError::from)?;
                // The allowlist and the TCB rules live in the state: the policy allows exactly the
                // quote's measurement when the state does, and the parameters' statuses.
                let claimed =
                    parse_quote(quote).map_err(|error| RegistrationError::from(AttestationError::from(error)))?;
                let allowed = overlay.measurement_allowed(&claimed.measurement)?;
                let measurements = if allowed { vec![claimed.measurement] } else { Vec::new() };
                let policy = Policy::from_rules(&outbox.parameters().attestation, measurements);
                let verified = verify_registration(quote, &collateral_json, now_ms / 1_000, &policy, info)
                    .map_err(RegistrationError::from)?;
                let worker = WorkerInfo {
                    operator: *signer,
                    agreement_key: info.agreement_key,
                    tee: Some(verified.kind),
                    measurement: Some(verified.measurement),
                    expires_at_ms: verified.expires_at.saturating_mul(1_000),
                    epoch_keys: Default::default(),
                    cluster: None,
                    last_seen_ms: now_ms,
                    last_seen_live_ms: outbox.liveness_ms(),
                };
                let canonical = Attestation::Dcap {
                    quote: verified.quote.try_into().map_err(|_| StateError::Store("canonical quote grew".into()))?,
                    collateral: collateral.clone(),
                };
                (worker, canonical)
            }
        };
        self.admit(overlay, outbox, info, worker, published)
    }

    /// Records the registration of `info` whose attestation was verified (`worker` is the record
    /// it earned, `published` the attestation gatekeepers will check again): files it under its
    /// measurement, keeps a renewal's epoch keys and cluster, puts a new worker on standby,
    /// registers its egress key and publishes the registration.
    pub(crate) fn admit(
        &self,
        overlay: &mut Overlay<'_>,
        outbox: &mut Outbox,
        info: &RegistrationInfo,
        worker: WorkerInfo,
        published: Attestation,
    ) -> Result<(), crate::TransactionError> {
        let now_ms = outbox.time_ms();
        // A renewal keeps the worker's epoch keys and cluster.
        let existing = overlay.worker(&info.signing_key)?;
        self.index_measurement(
            overlay,
            &info.signing_key,
            existing.as_ref().and_then(|old| old.measurement),
            worker.measurement,
        )?;
        let worker = match existing {
            Some(existing) => WorkerInfo { epoch_keys: existing.epoch_keys, cluster: existing.cluster, ..worker },
            None => worker,
        };
        let gatekeeper = self.is_gatekeeper(overlay, &info.signing_key)?;
        if !gatekeeper && worker.cluster.is_none() {
            let mut standby = overlay.standby()?;
            if !standby.contains(&info.signing_key) {
                if standby.len() == MAX_STANDBY {
                    // Full: entries whose registration lapsed, or that work in a cluster, make room.
                    let mut kept = Vec::with_capacity(standby.len());
                    for identity in standby.iter() {
                        if overlay.worker(identity)?.is_some_and(|record| record.may_stand_by(now_ms)) {
                            kept.push(*identity);
                        }
                    }
                    standby = kept.try_into().map_err(|_| StateError::Store("the standby list grew".into()))?;
                }
                if standby.try_push(info.signing_key).is_ok() {
                    overlay.set_standby(&standby);
                }
            }
        }
        overlay.set_worker(&info.signing_key, &worker);
        if !gatekeeper {
            // A gatekeeper signs as itself (a genesis sender); it registers only to attest.
            let sender = SenderId::Worker(info.signing_key);
            let next_sequence = overlay.sender(&sender)?.map_or(0, |existing| existing.next_sequence);
            overlay.set_sender(&sender, &SenderInfo { key: info.signing_key, epoch: KeyEpoch(0), next_sequence });
        }
        let registration = WorkerRegistration {
            info: *info,
            attestation: published,
            measurement: worker.measurement,
            registered_at_ms: now_ms,
            expires_at_ms: worker.expires_at_ms,
        };
        let message = chain_message(Topic::System(SystemTopic::Registrations), registration.encode())?;
        self.publish(overlay, outbox, message)?;
        Ok(())
    }

    /// Files `worker` under the measurement it attested now, out of the one it attested before.
    fn index_measurement(
        &self,
        overlay: &mut Overlay<'_>,
        worker: &[u8; 32],
        before: Option<Measurement>,
        now: Option<Measurement>,
    ) -> Result<(), crate::TransactionError> {
        if before == now {
            return Ok(());
        }
        if let Some(before) = before {
            let mut workers = overlay.measurement_workers(&before)?;
            workers.retain(|filed| filed != worker);
            overlay.set_measurement_workers(&before, &workers);
        }
        if let Some(now) = now {
            let mut workers = overlay.measurement_workers(&now)?;
            if !workers.contains(worker) {
                workers
                    .try_push(*worker)
                    .map_err(|_| RegistrationError::MeasurementFull { limit: MAX_WORKERS_PER_MEASUREMENT })?;
                overlay.set_measurement_workers(&now, &workers);
            }
        }
        Ok(())
    }

    /// A `SetMeasurementAllowed` transaction of the registry admin. Disallowing revokes: every
    /// registration that attested the measurement lapses now (its worker's egress is refused, it
    /// may be removed from its cluster, and it renews only with an allowed measurement), and the
    /// duty log says so, so gatekeepers seal nothing more to those workers.
    fn set_measurement_allowed(
        &self,
        overlay: &mut Overlay<'_>,
        outbox: &mut Outbox,
        signer: &AccountId,
        measurement: &Measurement,
        allowed: bool,
    ) -> Result<(), crate::TransactionError> {
        self.check_admin(signer)?;
        overlay.set_measurement_allowed(measurement, allowed);
        if allowed {
            return Ok(());
        }
        let now_ms = outbox.time_ms();
        for identity in overlay.measurement_workers(measurement)?.iter() {
            if let Some(mut worker) = overlay.worker(identity)?
                && worker.expires_at_ms > now_ms
            {
                worker.expires_at_ms = now_ms;
                overlay.set_worker(identity, &worker);
            }
        }
        let revoked = AssignmentMessage::Revoked(Revocation { measurement: *measurement, at_ms: now_ms });
        self.publish(overlay, outbox, chain_message(Topic::System(SystemTopic::Assignments), revoked.encode())?)?;
        Ok(())
    }

    /// Refuses anyone but the genesis registry admin (who also sets the parameters, until
    /// governance exists).
    pub(crate) fn check_admin(&self, signer: &AccountId) -> Result<(), RegistrationError> {
        let admin = self.genesis().registration.measurement_admin;
        if *signer != admin {
            return Err(RegistrationError::NotAdmin { admin });
        }
        Ok(())
    }
}

#[cfg(test)]
pub(crate) mod tests;
