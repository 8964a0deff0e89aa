//! The contract registry: clusters, uploaded code, contracts, the tokens they hold, their keys.
//!
//! - **Clusters** are formed by the registry admin ([`Chain::form_cluster`]) from registered workers;
//!   the gatekeeper answers the published [`ClusterFormed`] with the cluster's public key, which
//!   the chain records ([`Chain::record_key_message`]) so clients can seal constructor arguments.
//! - **Code** is uploaded by anyone and stored under its SHA-256 ([`ContractsCall::UploadCode`]).
//! - **Instantiation** by anyone ([`Chain::instantiate`]) creates contract
//!   [`contract_id`]`(signer, code, salt)` on a formed cluster, owned by the signer, and publishes
//!   its assignment and its [`Deployment`] (code and sealed constructor argument) on its topic.
//!   The gatekeeper answers the assignment with the contract's public keys and the cluster key for
//!   each worker; the chain records the keys and registers the contract as an egress sender.
//! - **Value**: a command's `value` moves from the signer into the contract's locked balance; a
//!   contract's [`Release`] egress moves locked tokens to an account. Locked balances count in the
//!   issuance invariant like any balance.

use parity_scale_codec::Encode;
use std::collections::BTreeSet;
use veil_crypto::confidential::KeyMessage;
use veil_primitives::{
    AccountId, Balance, ClusterId, ContractId, ContractsCall, Hash, KeyEpoch, Message, Nonce, Origin, SenderId,
    SignedEgress, SystemTopic, Topic,
    codec::BoundedBytes,
    contract::{
        Assignment, AssignmentMessage, ClusterFormed, CommandMessage, ContractMessage, Deployment, MAX_ARGUMENT_BYTES,
        MAX_COMMAND_BYTES, Release, contract_id,
    },
    decode_strict,
    hashing::sha256,
};

use crate::{
    Chain, TransactionError,
    messages::Outbox,
    module::{AddKey, Keys, Module},
    registry::RegistrationError,
    state::{
        ClusterInfo, ContractInfo, ContractPublicKeys, EpochHistory, Overlay, ReadState, SenderInfo, StateError,
        StateKey, WorkerInfo,
    },
};

/// Why a contract transaction is refused. Every variant says what to fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ContractError {
    /// A command to a contract that does not exist.
    #[error("contract {0} does not exist")]
    UnknownContract(ContractId),
    /// A command to a contract whose re-keying is overdue.
    #[error(
        "contract {contract} is frozen: its keys are of {epoch}, whose grace period is over, and its keys of {current} are not published yet (the gatekeeper set publishes them); its state and locked tokens are kept, and it takes commands again once re-keyed"
    )]
    Frozen {
        /// The contract.
        contract: ContractId,
        /// The epoch of its published keys.
        epoch: KeyEpoch,
        /// The current epoch.
        current: KeyEpoch,
    },
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
        /// The parameters' limit.
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

/// The contracts module.
pub(crate) struct Contracts;

impl Module for Contracts {
    type Call = ContractsCall;

    fn apply(
        chain: &Chain,
        overlay: &mut Overlay<'_>,
        outbox: &mut Outbox,
        signer: &AccountId,
        nonce: Nonce,
        call: &ContractsCall,
    ) -> Result<(), TransactionError> {
        match call {
            ContractsCall::FormCluster { cluster, workers } => {
                chain.form_cluster(overlay, outbox, signer, *cluster, workers)
            }
            ContractsCall::UploadCode { code } => {
                let hash = sha256(code);
                if overlay.code(&hash)?.is_some() {
                    return Err(ContractError::CodeExists(hash).into());
                }
                overlay.set_code(&hash, code);
                Ok(())
            }
            ContractsCall::Instantiate { code, cluster, salt, fuel, argument } => {
                chain.instantiate(overlay, outbox, signer, nonce, *code, *cluster, salt, *fuel, argument)
            }
            ContractsCall::Command { contract, payload, fuel, value } => {
                chain.command(overlay, outbox, signer, nonce, *contract, payload, *fuel, *value)
            }
            ContractsCall::AssignContract { contract, code, cluster } => {
                chain.assign_contract(overlay, outbox, signer, *contract, *code, *cluster)
            }
        }
    }

    fn call_keys(_chain: &Chain, signer: &AccountId, call: &ContractsCall, keys: &mut Keys) {
        match call {
            ContractsCall::FormCluster { cluster, workers } => {
                workers.iter().for_each(|worker| keys.add(StateKey::Worker(*worker)));
                keys.add(StateKey::Cluster(*cluster));
                keys.add(StateKey::Standby);
            }
            ContractsCall::UploadCode { code } => keys.add(StateKey::Code(sha256(code))),
            ContractsCall::Instantiate { code, cluster, salt, .. } => {
                keys.add(StateKey::Code(*code));
                keys.add(StateKey::Cluster(*cluster));
                keys.add(StateKey::Contract(contract_id(signer, code, salt)));
            }
            ContractsCall::Command { contract, .. } => keys.add(StateKey::Contract(*contract)),
            ContractsCall::AssignContract { contract, cluster, .. } => {
                keys.add(StateKey::Cluster(*cluster));
                keys.add(StateKey::Contract(*contract));
            }
        }
    }

    fn call_topics(signer: &AccountId, call: &ContractsCall, topics: &mut BTreeSet<Topic>) {
        let assignments = Topic::System(SystemTopic::Assignments);
        match call {
            ContractsCall::FormCluster { .. } => {
                topics.insert(assignments);
            }
            ContractsCall::UploadCode { .. } => {}
            ContractsCall::Instantiate { code, salt, .. } => {
                topics.insert(assignments);
                topics.insert(Topic::Contract(contract_id(signer, code, salt)));
            }
            ContractsCall::Command { contract, .. } => {
                topics.insert(Topic::Contract(*contract));
            }
            ContractsCall::AssignContract { contract, .. } => {
                topics.insert(assignments);
                topics.insert(Topic::Contract(*contract));
            }
        }
    }

    fn on_egress(
        chain: &Chain,
        overlay: &mut Overlay<'_>,
        outbox: &mut Outbox,
        sender: SenderId,
        topic: Topic,
        payload: &[u8],
    ) -> Result<(), StateError> {
        match (sender, topic) {
            (SenderId::GatekeeperSet, Topic::System(SystemTopic::KeyEpochs)) => {
                if let Ok(message) = decode_strict::<KeyMessage>(payload) {
                    chain.record_key_message(overlay, outbox, &message)?;
                }
            }
            (SenderId::Contract(contract), Topic::System(SystemTopic::Releases)) => {
                if let Ok(release) = decode_strict::<Release>(payload) {
                    release_tokens(overlay, contract, release)?;
                }
            }
            _ => {}
        }
        Ok(())
    }

    fn egress_keys(_chain: &Chain, copy: &SignedEgress, keys: &mut Keys) {
        let (sender, payload) = (copy.egress.sender, &copy.egress.payload[..]);
        match (sender, copy.egress.topic) {
            (SenderId::GatekeeperSet, Topic::System(SystemTopic::KeyEpochs)) => {
                match decode_strict::<KeyMessage>(payload) {
                    Ok(KeyMessage::ClusterKeys(published)) => keys.add(StateKey::Cluster(published.cluster)),
                    Ok(KeyMessage::ContractKeys(published)) => {
                        keys.add(StateKey::Contract(published.contract));
                        keys.add(StateKey::Sender(SenderId::Contract(published.contract)));
                    }
                    _ => {}
                }
            }
            (SenderId::Contract(contract), Topic::System(SystemTopic::Releases)) => {
                if let Ok(release) = decode_strict::<Release>(payload) {
                    keys.add(StateKey::Contract(contract));
                    keys.add(StateKey::Account(release.to));
                }
            }
            _ => {}
        }
    }

    fn egress_topics(copy: &SignedEgress, topics: &mut BTreeSet<Topic>) {
        // A contract's keys of a new epoch are announced on its topic.
        if let (SenderId::GatekeeperSet, Topic::System(SystemTopic::KeyEpochs)) =
            (copy.egress.sender, copy.egress.topic)
            && let Ok(KeyMessage::ContractKeys(keys)) = decode_strict::<KeyMessage>(&copy.egress.payload)
        {
            topics.insert(Topic::Contract(keys.contract));
        }
    }
}

/// Counts a cluster's or contract's published keys moving from epoch `before` to `after` in the
/// epochs' record (see [`veil_types::EpochState::count_keys`]).
fn count_keys(overlay: &mut Overlay<'_>, before: Option<KeyEpoch>, after: KeyEpoch) -> Result<(), StateError> {
    let mut epochs = overlay.epochs()?;
    epochs.count_keys(before, after);
    overlay.set_epochs(&epochs);
    Ok(())
}

/// Moves a contract's released tokens to the account it names; a release beyond what the
/// contract holds changes nothing.
fn release_tokens(overlay: &mut Overlay<'_>, contract: ContractId, release: Release) -> Result<(), StateError> {
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

impl Chain {
    fn check_fuel(&self, outbox: &Outbox, fuel: u64) -> Result<(), ContractError> {
        let limit = outbox.parameters().economics.max_command_fuel;
        if fuel > limit {
            return Err(ContractError::FuelLimit { fuel, limit });
        }
        Ok(())
    }

    /// The registered, current workers named by `identities`, each once, at least one.
    pub(crate) fn cluster_workers(
        &self,
        overlay: &Overlay<'_>,
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
    pub(crate) fn form_cluster(
        &self,
        overlay: &mut Overlay<'_>,
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
        let formed = AssignmentMessage::Cluster(ClusterFormed { cluster, epoch, workers, at_ms: outbox.time_ms() });
        self.publish(overlay, outbox, chain_message(Topic::System(SystemTopic::Assignments), formed.encode())?)?;
        Ok(())
    }

    /// Assigns built-in `contract` (code `code`) to formed `cluster`, if `signer` is the registry
    /// admin: publishes the [`Assignment`] on the assignments topic (for gatekeepers) and as the
    /// first message of the contract's topic. Its keys are of the current epoch.
    pub(crate) fn assign_contract(
        &self,
        overlay: &mut Overlay<'_>,
        outbox: &mut Outbox,
        signer: &AccountId,
        contract: ContractId,
        code: Hash,
        cluster: ClusterId,
    ) -> Result<(), crate::TransactionError> {
        self.check_admin(signer)?;
        overlay.cluster(cluster)?.ok_or(crate::ContractError::UnknownCluster(cluster))?;
        let epoch = overlay.epochs()?.epoch();
        let assignment = Assignment { contract, code, cluster, epoch };
        self.open_contract(overlay, outbox, *signer, false, assignment)
    }

    /// Publishes `assignment` for the gatekeepers and on the contract's topic, and records the contract.
    pub(crate) fn open_contract(
        &self,
        overlay: &mut Overlay<'_>,
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
    pub(crate) fn instantiate(
        &self,
        overlay: &mut Overlay<'_>,
        outbox: &mut Outbox,
        signer: &AccountId,
        nonce: Nonce,
        code: Hash,
        cluster: ClusterId,
        salt: &[u8; 32],
        fuel: u64,
        argument: &BoundedBytes<MAX_ARGUMENT_BYTES>,
    ) -> Result<(), TransactionError> {
        self.check_fuel(outbox, fuel)?;
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
    pub(crate) fn command(
        &self,
        overlay: &mut Overlay<'_>,
        outbox: &mut Outbox,
        signer: &AccountId,
        nonce: Nonce,
        contract: ContractId,
        payload: &BoundedBytes<MAX_COMMAND_BYTES>,
        fuel: u64,
        value: Balance,
    ) -> Result<(), TransactionError> {
        self.check_fuel(outbox, fuel)?;
        let mut info = overlay.contract(&contract)?.ok_or(ContractError::UnknownContract(contract))?;
        if !info.wasm && (fuel != 0 || value != Balance::ZERO) {
            return Err(ContractError::BuiltinTakesNothing(contract).into());
        }
        let epochs = overlay.epochs()?;
        if let (Some(published), Some(current)) = (info.keys, epochs.current)
            && published.epoch < current.epoch
            && outbox.time_ms() >= current.previous_grace_ends_at_ms
        {
            return Err(ContractError::Frozen { contract, epoch: published.epoch, current: current.epoch }.into());
        }
        self.check_envelope_epoch(&epochs, payload, outbox.time_ms())?;
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

    /// Records the public keys the gatekeeper set published. A cluster's or contract's keys of a
    /// newer epoch replace the older ones; a contract's egress key is registered with its first
    /// keys and moved to each new epoch, which the chain announces on the contract's topic
    /// ([`ContractMessage::Rekeyed`]).
    pub(crate) fn record_key_message(
        &self,
        overlay: &mut Overlay<'_>,
        outbox: &mut Outbox,
        message: &KeyMessage,
    ) -> Result<(), StateError> {
        match message {
            KeyMessage::Proposal(_) | KeyMessage::MasterShare(_) => {}
            KeyMessage::ClusterKeys(keys) => {
                if let Some(mut info) = overlay.cluster(keys.cluster)?
                    && (keys.epoch > info.epoch || (keys.epoch == info.epoch && info.agreement.is_none()))
                {
                    count_keys(overlay, info.agreement.is_some().then_some(info.epoch), keys.epoch)?;
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
                count_keys(overlay, info.keys.map(|published| published.epoch), keys.epoch)?;
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
}
