//! The contract registry: clusters, uploaded code, contracts, the tokens they hold, their keys.
//!
//! - **Clusters** are formed by the registry admin ([`Chain::form_cluster`]) from registered workers;
//!   the gatekeeper answers the published [`ClusterFormed`] with the cluster's public key, which
//!   the chain records ([`Chain::record_key_message`]) so clients can seal constructor arguments.
//! - **Code** is uploaded by anyone and stored under its SHA-256 ([`Chain::upload_code`]).
//! - **Instantiation** by anyone ([`Chain::instantiate`]) creates contract
//!   [`contract_id`]`(signer, code, salt)` on a formed cluster, owned by the signer, and publishes
//!   its assignment and its [`Deployment`] (code and sealed constructor argument) on its topic.
//!   The gatekeeper answers the assignment with the contract's public keys and the cluster key for
//!   each worker; the chain records the keys and registers the contract as an egress sender.
//! - **Value**: a command's `value` moves from the signer into the contract's locked balance; a
//!   contract's [`Release`] egress moves locked tokens to an account. Locked balances count in the
//!   issuance invariant like any balance.

use parity_scale_codec::Encode;
use veil_crypto::confidential::KeyMessage;
use veil_primitives::{
    AccountId, Balance, ClusterId, ContractId, Hash, Message, Nonce, Origin, SenderId, SystemTopic, Topic,
    codec::BoundedBytes,
    contract::{
        Assignment, AssignmentMessage, ClusterFormed, CommandMessage, ContractMessage, Deployment, MAX_ARGUMENT_BYTES,
        MAX_CODE_BYTES, MAX_COMMAND_BYTES, Release, contract_id,
    },
    decode_strict,
    hashing::sha256,
};

use crate::{
    Chain, TransactionError,
    messages::Outbox,
    registry::RegistrationError,
    state::{
        ClusterInfo, ContractInfo, ContractPublicKeys, EpochHistory, Overlay, ReadState, SenderInfo, StateError,
        StateKey, StateReader, WorkerInfo,
    },
};

/// Why a contract transaction is refused. Every variant says what to fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ContractError {
    /// A command to a contract that does not exist.
    #[error("contract {0} does not exist")]
    UnknownContract(ContractId),
    /// The cluster number is taken.
    #[error("cluster {} is already formed", .0.0)]
    ClusterExists(ClusterId),
    /// No such cluster.
    #[error("cluster {} is not formed", .0.0)]
    UnknownCluster(ClusterId),
    /// The code was uploaded before.
    #[error("code {0} is already uploaded")]
    CodeExists(Hash),
    /// No such code.
    #[error("code {0} is not uploaded")]
    UnknownCode(Hash),
    /// The contract id is taken (same deployer, code and salt).
    #[error("contract {0} already exists: choose another salt")]
    ContractExists(ContractId),
    /// More fuel than a command may carry.
    #[error("{fuel} fuel is more than the {limit} a command may carry")]
    FuelLimit {
        /// Asked.
        fuel: u64,
        /// The genesis limit.
        limit: u64,
    },
    /// A built-in contract uses no fuel and holds no tokens.
    #[error("built-in contract {0} takes no fuel and no value")]
    BuiltinTakesNothing(ContractId),
}

/// A message of `origin` on `topic`; every payload built here is bounded well below a message.
fn message(topic: Topic, origin: Origin, payload: Vec<u8>) -> Result<Message, StateError> {
    let payload = payload.try_into().map_err(|_| StateError::Store("a message exceeds its size".into()))?;
    Ok(Message { topic, origin, payload })
}

pub(crate) fn chain_message(topic: Topic, payload: Vec<u8>) -> Result<Message, StateError> {
    message(topic, Origin::Chain, payload)
}

impl Chain {
    fn check_fuel(&self, fuel: u64) -> Result<(), ContractError> {
        let limit = self.genesis().economics.max_command_fuel;
        if fuel > limit {
            return Err(ContractError::FuelLimit { fuel, limit });
        }
        Ok(())
    }

    /// The registered, current workers named by `identities`, each once, at least one.
    pub(crate) fn cluster_workers<R: StateReader + ?Sized>(
        &self,
        overlay: &Overlay<'_, R>,
        outbox: &Outbox,
        identities: &[[u8; 32]],
    ) -> Result<Vec<([u8; 32], WorkerInfo)>, TransactionError> {
        if identities.is_empty() {
            return Err(RegistrationError::NoWorkers.into());
        }
        let mut workers = Vec::with_capacity(identities.len());
        for (i, identity) in identities.iter().enumerate() {
            if identities[..i].contains(identity) {
                return Err(RegistrationError::DuplicateWorker(*identity).into());
            }
            let info = overlay.worker(identity)?.ok_or(RegistrationError::UnknownWorker(*identity))?;
            if info.expires_at_ms <= outbox.time_ms() {
                let lapsed = RegistrationError::LapsedWorker { worker: *identity, expired_at_ms: info.expires_at_ms };
                return Err(lapsed.into());
            }
            workers.push((*identity, info));
        }
        Ok(workers)
    }

    /// Forms `cluster` of `identities` (registry admin only): each must be a standby worker with
    /// keys for the current and the next epoch.
    pub(crate) fn form_cluster<R: StateReader + ?Sized>(
        &self,
        overlay: &mut Overlay<'_, R>,
        outbox: &mut Outbox,
        signer: &AccountId,
        cluster: ClusterId,
        identities: &[[u8; 32]],
    ) -> Result<(), TransactionError> {
        self.check_admin(signer)?;
        if overlay.cluster(cluster)?.is_some() {
            return Err(ContractError::ClusterExists(cluster).into());
        }
        let workers = self.enlist(overlay, outbox, cluster, identities)?;
        let epoch = overlay.epochs()?.epoch();
        let identities: Vec<[u8; 32]> = workers.iter().map(|worker| worker.identity).collect();
        let too_many = || StateError::Store("more workers than a cluster holds".into());
        let info = ClusterInfo {
            workers: identities.try_into().map_err(|_| too_many())?,
            epoch,
            agreement: None,
            signing: None,
        };
        overlay.set_cluster(cluster, &info);
        let workers = workers.try_into().map_err(|_| too_many())?;
        let formed = AssignmentMessage::Cluster(ClusterFormed { cluster, epoch, workers });
        self.publish(overlay, outbox, chain_message(Topic::System(SystemTopic::Assignments), formed.encode())?)?;
        Ok(())
    }

    /// Stores `code` under its hash.
    pub(crate) fn upload_code<R: StateReader + ?Sized>(
        &self,
        overlay: &mut Overlay<'_, R>,
        code: &BoundedBytes<MAX_CODE_BYTES>,
    ) -> Result<(), TransactionError> {
        let hash = sha256(code);
        if overlay.code(&hash)?.is_some() {
            return Err(ContractError::CodeExists(hash).into());
        }
        overlay.set_code(&hash, code);
        Ok(())
    }

    /// Publishes `assignment` for the gatekeepers and on the contract's topic, and records the contract.
    pub(crate) fn open_contract<R: StateReader + ?Sized>(
        &self,
        overlay: &mut Overlay<'_, R>,
        outbox: &mut Outbox,
        owner: AccountId,
        wasm: bool,
        assignment: Assignment,
    ) -> Result<(), TransactionError> {
        let contract = assignment.contract;
        if overlay.contract(&contract)?.is_some() {
            return Err(ContractError::ContractExists(contract).into());
        }
        let info = ContractInfo {
            code: assignment.code,
            cluster: assignment.cluster,
            owner,
            wasm,
            locked: Balance::ZERO,
            keys: None,
        };
        overlay.set_contract(&contract, &info);
        let for_gatekeepers = AssignmentMessage::Contract(assignment.clone()).encode();
        self.publish(overlay, outbox, chain_message(Topic::System(SystemTopic::Assignments), for_gatekeepers)?)?;
        let for_workers = ContractMessage::Assigned(assignment).encode();
        self.publish(overlay, outbox, chain_message(Topic::Contract(contract), for_workers)?)?;
        Ok(())
    }

    /// Instantiates uploaded `code` on `cluster` as the signer's contract.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn instantiate<R: StateReader + ?Sized>(
        &self,
        overlay: &mut Overlay<'_, R>,
        outbox: &mut Outbox,
        signer: &AccountId,
        nonce: Nonce,
        code: Hash,
        cluster: ClusterId,
        salt: &[u8; 32],
        fuel: u64,
        argument: &BoundedBytes<MAX_ARGUMENT_BYTES>,
    ) -> Result<(), TransactionError> {
        self.check_fuel(fuel)?;
        let module = overlay.code(&code)?.ok_or(ContractError::UnknownCode(code))?;
        overlay.cluster(cluster)?.ok_or(ContractError::UnknownCluster(cluster))?;
        let epochs = overlay.epochs()?;
        self.check_envelope_epoch(&epochs, argument, outbox.time_ms())?;
        let contract = contract_id(signer, &code, salt);
        let assignment = Assignment { contract, code, cluster, epoch: epochs.epoch() };
        self.open_contract(overlay, outbox, *signer, true, assignment)?;
        let deployment = ContractMessage::Deployed(Deployment {
            owner: *signer,
            nonce,
            block: outbox.block(),
            fuel,
            code: module,
            argument: argument.clone(),
        });
        self.publish(overlay, outbox, chain_message(Topic::Contract(contract), deployment.encode())?)?;
        Ok(())
    }

    /// Publishes a command on the contract's topic and locks its value in the contract.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn command<R: StateReader + ?Sized>(
        &self,
        overlay: &mut Overlay<'_, R>,
        outbox: &mut Outbox,
        signer: &AccountId,
        nonce: Nonce,
        contract: ContractId,
        payload: &BoundedBytes<MAX_COMMAND_BYTES>,
        fuel: u64,
        value: Balance,
    ) -> Result<(), TransactionError> {
        self.check_fuel(fuel)?;
        let mut info = overlay.contract(&contract)?.ok_or(ContractError::UnknownContract(contract))?;
        if !info.wasm && (fuel != 0 || value != Balance::ZERO) {
            return Err(ContractError::BuiltinTakesNothing(contract).into());
        }
        self.check_envelope_epoch(&overlay.epochs()?, payload, outbox.time_ms())?;
        if value != Balance::ZERO {
            info.locked = info.locked.checked_add(value).ok_or(TransactionError::Overflow)?;
            overlay.set_contract(&contract, &info);
        }
        let command = ContractMessage::Command(CommandMessage {
            nonce,
            block: outbox.block(),
            fuel,
            value,
            payload: payload.clone(),
        });
        self.publish(overlay, outbox, message(Topic::Contract(contract), Origin::Account(*signer), command.encode())?)?;
        Ok(())
    }

    /// Acts on an accepted egress payload that the chain itself must act on: the gatekeeper set's
    /// key messages (records public keys, registers and re-keys contracts' egress keys), proposals,
    /// epoch keys and workers' signs of life ([`crate::epochs`]), and contracts' releases.
    /// Anything that cannot apply is left as a published message only: egress is already accepted.
    pub(crate) fn on_accepted_egress<R: StateReader + ?Sized>(
        &self,
        overlay: &mut Overlay<'_, R>,
        outbox: &mut Outbox,
        sender: SenderId,
        topic: Topic,
        payload: &[u8],
    ) -> Result<(), StateError> {
        match (sender, topic) {
            (SenderId::GatekeeperSet, Topic::System(SystemTopic::KeyEpochs)) => {
                if let Ok(message) = decode_strict::<KeyMessage>(payload) {
                    self.record_key_message(overlay, outbox, &message)?;
                }
            }
            (SenderId::Contract(contract), Topic::System(SystemTopic::Releases)) => {
                if let Ok(release) = decode_strict::<Release>(payload) {
                    self.release(overlay, contract, release)?;
                }
            }
            _ => self.on_runtime_egress(overlay, outbox, sender, topic, payload)?,
        }
        Ok(())
    }

    /// Records the public keys the gatekeeper set published. A cluster's or contract's keys of a
    /// newer epoch replace the older ones; a contract's egress key is registered with its first
    /// keys and moved to each new epoch, which the chain announces on the contract's topic
    /// ([`ContractMessage::Rekeyed`]).
    pub(crate) fn record_key_message<R: StateReader + ?Sized>(
        &self,
        overlay: &mut Overlay<'_, R>,
        outbox: &mut Outbox,
        message: &KeyMessage,
    ) -> Result<(), StateError> {
        match message {
            KeyMessage::Proposal(_) | KeyMessage::MasterShare(_) => {}
            KeyMessage::ClusterKeys(keys) => {
                if let Some(mut info) = overlay.cluster(keys.cluster)?
                    && (keys.epoch > info.epoch || (keys.epoch == info.epoch && info.agreement.is_none()))
                {
                    info.epoch = keys.epoch;
                    info.agreement = Some(keys.agreement);
                    info.signing = Some(keys.signing);
                    overlay.set_cluster(keys.cluster, &info);
                }
            }
            KeyMessage::ContractKeys(keys) => {
                let Some(mut info) = overlay.contract(&keys.contract)? else { return Ok(()) };
                if info.code != keys.code || info.cluster != keys.cluster {
                    return Ok(());
                }
                let rekeyed = match info.keys {
                    None => false,
                    Some(published) if keys.epoch > published.epoch => true,
                    Some(_) => return Ok(()),
                };
                info.keys =
                    Some(ContractPublicKeys { epoch: keys.epoch, agreement: keys.agreement, signing: keys.signing });
                overlay.set_contract(&keys.contract, &info);
                let sender = SenderId::Contract(keys.contract);
                let next_sequence = overlay.sender(&sender)?.map_or(0, |existing| existing.next_sequence);
                overlay.set_sender(&sender, &SenderInfo { key: keys.signing, epoch: keys.epoch, next_sequence });
                if rekeyed {
                    let message = ContractMessage::Rekeyed { epoch: keys.epoch };
                    self.publish(overlay, outbox, chain_message(Topic::Contract(keys.contract), message.encode())?)?;
                }
            }
        }
        Ok(())
    }

    fn release<R: StateReader + ?Sized>(
        &self,
        overlay: &mut Overlay<'_, R>,
        contract: ContractId,
        release: Release,
    ) -> Result<(), StateError> {
        let Some(mut info) = overlay.contract(&contract)? else { return Ok(()) };
        let Some(left) = info.locked.checked_sub(release.amount) else { return Ok(()) };
        let mut account = overlay.account(&release.to)?;
        let Some(balance) = account.balance.checked_add(release.amount) else { return Ok(()) };
        info.locked = left;
        account.balance = balance;
        overlay.set_contract(&contract, &info);
        overlay.set_account(&release.to, &account);
        Ok(())
    }

    /// The state keys acting on an accepted egress payload reads (see [`Chain::on_accepted_egress`]).
    pub(crate) fn accepted_egress_keys(&self, sender: SenderId, topic: Topic, payload: &[u8]) -> Vec<Vec<u8>> {
        match (sender, topic) {
            (SenderId::GatekeeperSet, Topic::System(SystemTopic::KeyEpochs)) => {
                match decode_strict::<KeyMessage>(payload) {
                    Ok(KeyMessage::ClusterKeys(keys)) => vec![StateKey::Cluster(keys.cluster).to_bytes()],
                    Ok(KeyMessage::ContractKeys(keys)) => vec![
                        StateKey::Contract(keys.contract).to_bytes(),
                        StateKey::Sender(SenderId::Contract(keys.contract)).to_bytes(),
                    ],
                    _ => Vec::new(),
                }
            }
            (SenderId::Gatekeeper(_), Topic::System(SystemTopic::KeyEpochs)) => {
                vec![StateKey::Sender(SenderId::GatekeeperSet).to_bytes()]
            }
            (SenderId::Contract(contract), Topic::System(SystemTopic::Releases)) => {
                match decode_strict::<Release>(payload) {
                    Ok(release) => {
                        vec![StateKey::Contract(contract).to_bytes(), StateKey::Account(release.to).to_bytes()]
                    }
                    Err(_) => Vec::new(),
                }
            }
            _ => Vec::new(),
        }
    }
}
