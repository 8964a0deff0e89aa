//! The worker registry: workers join by attesting, and lapse when their attestation expires.
//!
//! A `RegisterWorker` transaction, signed by the worker's operator, carries the
//! [`RegistrationInfo`] (signing key, X25519 key, chain id, operator) and the attestation: an Intel
//! DCAP quote with its collateral, or nothing for a software worker. The chain verifies the quote at
//! the block's timestamp with `veil_attestation` (Intel's chain of trust, the default TCB policy, the
//! allowlist in the state, and report data equal to the info's hash), records the worker with its
//! keys, TEE kind, measurement and expiry (the collateral's), registers its signing key as an egress
//! sender, and publishes the registration (with the canonical quote and its collateral) on the
//! registrations topic so gatekeepers can check it themselves. A new worker joins the standby list
//! (see [`crate::epochs`]). A genesis gatekeeper registers the same way, to attest before the
//! others share the master key with it; it signs its egress as a gatekeeper, not as a worker, and
//! never stands by. Renewal is the same transaction
//! with fresh collateral; the worker keeps its egress sequence. Software workers are accepted only
//! when genesis allows insecure workers, for `insecure_lifetime_ms`. A lapsed worker's egress is
//! refused until it renews.

use parity_scale_codec::Encode;
use std::collections::BTreeSet;
use veil_attestation::{AttestationError, Collateral, Policy, parse_quote, verify_registration};
use veil_primitives::{
    AccountId, Attestation, Hash, KeyEpoch, Nonce, RegistrationInfo, RegistryCall, SenderId, SystemTopic, Topic,
    WorkerRegistration,
};

use crate::{
    Chain,
    contracts::chain_message,
    messages::Outbox,
    module::{AddKey, Keys, Module},
    state::{Overlay, ReadState, SenderInfo, StateError, StateKey, WorkerInfo},
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
                chain.check_admin(signer)?;
                overlay.set_measurement_allowed(measurement, *allowed);
                Ok(())
            }
        }
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
                }
            }
            RegistryCall::SetMeasurementAllowed { .. } => {}
        }
    }

    fn call_topics(_signer: &AccountId, call: &RegistryCall, topics: &mut BTreeSet<Topic>) {
        match call {
            RegistryCall::RegisterWorker { .. } => {
                topics.insert(Topic::System(SystemTopic::Registrations));
            }
            RegistryCall::SetMeasurementAllowed { .. } => {}
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
                };
                (worker, Attestation::InsecureSoftware)
            }
            Attestation::Dcap { quote, collateral } => {
                let collateral_json = Collateral::from_json(collateral).map_err(RegistrationError::from)?;
                // The allowlist lives in the state: the policy allows exactly the quote's measurement
                // when the state does.
                let claimed =
                    parse_quote(quote).map_err(|error| RegistrationError::from(AttestationError::from(error)))?;
                let allowed = overlay.measurement_allowed(&claimed.measurement)?;
                let policy = Policy::allowing(if allowed { vec![claimed.measurement] } else { Vec::new() });
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
                };
                let canonical = Attestation::Dcap {
                    quote: verified.quote.try_into().map_err(|_| StateError::Store("canonical quote grew".into()))?,
                    collateral: collateral.clone(),
                };
                (worker, canonical)
            }
        };
        // A renewal keeps the worker's epoch keys and cluster.
        let existing = overlay.worker(&info.signing_key)?;
        let worker = match existing {
            Some(existing) => WorkerInfo { epoch_keys: existing.epoch_keys, cluster: existing.cluster, ..worker },
            None => worker,
        };
        let gatekeeper = self.is_gatekeeper(&info.signing_key);
        if !gatekeeper && worker.cluster.is_none() {
            let mut standby = overlay.standby()?;
            if !standby.contains(&info.signing_key) && standby.try_push(info.signing_key).is_ok() {
                overlay.set_standby(&standby);
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
            expires_at_ms: worker.expires_at_ms,
        };
        let message = chain_message(Topic::System(SystemTopic::Registrations), registration.encode())?;
        self.publish(overlay, outbox, message)?;
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
