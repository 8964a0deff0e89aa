//! The contracts a worker runs: deployment, commands, re-keying, and their egress.
//!
//! A contract of the worker's cluster starts once the worker holds the cluster key of the
//! contract's first epoch. A wasm contract's `Deployed` message brings its code (checked against
//! the assigned hash, compiled) and its constructor argument, which opens under the cluster's key
//! only for the deploying transaction; the constructor runs with the prepaid fuel. A command opens
//! only under the binding the chain published (chain, contract, epoch, signer, nonce), with the
//! key of the epoch its envelope names if that epoch was usable at the command's block time, and
//! is executed with its block, fuel and native tokens; anything else is refused, reported without
//! the contract's own reason (it may quote confidential state), and changes nothing but the fuel.
//! A refused command's tokens go back to its sender by a release. `Rekeyed` moves a contract to a
//! new epoch: state encrypted, secrets derived and egress signed under the new keys.
//!
//! Contract egress: releases go to the releases topic; messages to other contracts of the cluster
//! are sealed to the target's key of the sender's epoch with an ephemeral key derived from the
//! sender's contract key and its egress number (the nonce the target opens them under), so every
//! worker emits the same bytes. Workers follow the releases topic and their cluster's contract
//! topics, where all of a contract's egress lands, and count it to acknowledge their queue.

use std::{collections::BTreeMap, sync::Arc};
use veil_types::EpochHistory as _;

use parity_scale_codec::{Decode, Encode, Error, Input, Output};
use veil_contract_engine::{
    Engine,
    abi::{AccountId as AbiAccount, ContractId as AbiContract},
};
use veil_crypto::{
    AgreementSecret, ClusterKey, ContractKey, Sealable,
    confidential::{CommandBinding, open_command, seal_command_with},
};
use veil_primitives::{
    AccountId, Balance, ContractId, Hash, KeyEpoch, Message, Origin, SenderId, SystemTopic, Topic,
    contract::{BlockStamp, CommandMessage, ContractMessage, Deployment, Release},
    decode_strict,
    hashing::sha256,
};

use super::{Core, Refusal, Setting, worker::WorkerDuties};
use crate::{
    contract::{Caller, CommandContext, Contract, Effects, Failure, Peers, instantiate},
    sync::Follower,
    wasm::WasmContract,
};

/// How far a contract's code is on this worker: not deployed, read sealed, or running.
pub(super) enum Stage {
    /// Wasm code not deployed yet (or whose deployment failed).
    Undeployed,
    /// Read from a checkpoint or snapshot; [`Instances::start`] opens it.
    Sealed(Vec<u8>),
    /// Running.
    Running(Box<dyn Contract>),
}

/// A contract this worker runs. Its encoding is its code hash, epoch and sealed state.
pub(super) struct Instance {
    code: Hash,
    /// The epoch of its current keys (derived from the cluster key of that epoch).
    pub(super) epoch: KeyEpoch,
    contract: Stage,
}

impl Instance {
    fn running(&self) -> Option<&dyn Contract> {
        match &self.contract {
            Stage::Running(contract) => Some(contract.as_ref()),
            _ => None,
        }
    }

    fn state(&self) -> Option<Vec<u8>> {
        match &self.contract {
            Stage::Undeployed => None,
            Stage::Sealed(state) => Some(state.clone()),
            Stage::Running(contract) => Some(contract.state()),
        }
    }

    /// Opens a sealed state under the contract's key of its epoch: built in, or wasm (whose
    /// sealed form opens under its own contract key).
    fn start(
        &mut self,
        engine: &Engine,
        cluster_keys: &BTreeMap<KeyEpoch, Sealable<ClusterKey>>,
        id: ContractId,
    ) -> Result<(), String> {
        let Stage::Sealed(state) = &self.contract else { return Ok(()) };
        let running = match instantiate(&self.code, Some(state)) {
            Some(builtin) => builtin?,
            None => {
                let keys = cluster_keys
                    .get(&self.epoch)
                    .ok_or_else(|| format!("no cluster key of {} for {id}", self.epoch))?;
                let wasm = WasmContract::restore(engine, state, &keys.contract_key(id))?;
                if wasm.code() != self.code {
                    return Err(format!("the checkpointed module of {id} is not its code {}", self.code));
                }
                Box::new(wasm)
            }
        };
        self.contract = Stage::Running(running);
        Ok(())
    }
}

impl Encode for Instance {
    fn encode_to<T: Output + ?Sized>(&self, dest: &mut T) {
        (self.code, self.epoch, self.state()).encode_to(dest);
    }
}

impl Decode for Instance {
    fn decode<I: Input>(input: &mut I) -> Result<Self, Error> {
        let (code, epoch, state) = <(Hash, KeyEpoch, Option<Vec<u8>>)>::decode(input)?;
        Ok(Self { code, epoch, contract: state.map_or(Stage::Undeployed, Stage::Sealed) })
    }
}

/// The contracts a worker runs and how much of each one's egress it saw on chain.
#[derive(Default, Encode, Decode)]
pub(super) struct Instances {
    pub(super) instances: BTreeMap<ContractId, Instance>,
    /// How much of each contract's egress this worker saw accepted on chain (on the releases topic
    /// and on the contract topics of its cluster, where all of it lands).
    pub(super) published: BTreeMap<ContractId, u64>,
    /// Fuel used by contract calls in the batch being applied; not sealed.
    #[codec(skip)]
    pub(super) fuel_used: u64,
}

impl Instances {
    /// Opens every sealed contract (after a snapshot is read); on `Err` the contracts are
    /// unusable and must be dropped.
    pub(super) fn start(
        &mut self,
        engine: &Engine,
        cluster_keys: &BTreeMap<KeyEpoch, Sealable<ClusterKey>>,
    ) -> Result<(), String> {
        match self.start_each(engine, cluster_keys).into_iter().next() {
            Some((_, reason)) => Err(reason),
            None => Ok(()),
        }
    }

    /// Opens every sealed contract it can (after a checkpoint is read); the others stay sealed,
    /// kept as they are, and are returned with the reason.
    pub(super) fn start_each(
        &mut self,
        engine: &Engine,
        cluster_keys: &BTreeMap<KeyEpoch, Sealable<ClusterKey>>,
    ) -> Vec<(ContractId, String)> {
        let mut failed = Vec::new();
        for (id, instance) in &mut self.instances {
            if let Err(reason) = instance.start(engine, cluster_keys, *id) {
                failed.push((*id, reason));
            }
        }
        failed
    }

    /// What the state root commits to: every contract's code and sealed state.
    pub(super) fn committed(&self) -> Vec<(ContractId, Hash, Option<Vec<u8>>)> {
        self.instances.iter().map(|(id, instance)| (*id, instance.code, instance.state())).collect()
    }

    pub(super) fn listed(&self) -> Vec<(ContractId, Hash, KeyEpoch, bool)> {
        self.instances.iter().map(|(id, i)| (*id, i.code, i.epoch, i.running().is_some())).collect()
    }

    pub(super) fn state_hash(&self, contract: &ContractId) -> Option<Hash> {
        Some(sha256(&self.instances.get(contract)?.running()?.state()))
    }

    pub(super) fn get(&self, contract: &ContractId) -> Option<(Hash, &dyn Contract)> {
        let instance = self.instances.get(contract)?;
        Some((instance.code, instance.running()?))
    }

    /// One more message of `contract`'s egress is proven on chain.
    pub(super) fn acknowledge(&mut self, core: &mut Core, contract: ContractId) {
        if !self.instances.contains_key(&contract) {
            return; // Another cluster's contract.
        }
        let published = self.published.entry(contract).or_default();
        *published += 1;
        core.egress.acknowledge(SenderId::Contract(contract), *published);
    }

    /// Stops running every contract: their topics, egress and counts go.
    pub(super) fn leave_all(&mut self, core: &mut Core, follower: &mut Follower) {
        for (id, _) in std::mem::take(&mut self.instances) {
            follower.unfollow(&Topic::Contract(id));
            core.egress.forget(SenderId::Contract(id));
            self.published.remove(&id);
        }
    }

    /// The deployed contracts other than `contract`, for its queries and messages.
    pub(super) fn peers(&self, contract: ContractId) -> Peers {
        let peers = self
            .instances
            .iter()
            .filter(|(id, _)| **id != contract)
            .filter_map(|(id, instance)| Some((AbiContract(id.0), instance.running()?.peer()?)))
            .collect();
        Arc::new(peers)
    }
}

impl WorkerDuties {
    /// Starts following every contract of this worker's cluster that it does not run yet and
    /// whose first epoch's cluster key it holds (not for a replacement: its contracts come with a
    /// snapshot). A built-in contract starts empty; wasm code waits for its deployment.
    pub(super) fn adopt_contracts(&mut self, _setting: &Setting, core: &mut Core, follower: &mut Follower) {
        let Some(membership) = self.membership else { return };
        if membership.awaiting_snapshot {
            return;
        }
        let waiting: Vec<(ContractId, Hash, KeyEpoch)> = core
            .assigned
            .iter()
            .filter(|(id, assignment)| {
                assignment.cluster == membership.cluster
                    && !self.contracts.instances.contains_key(id)
                    && self.cluster_keys.contains_key(&assignment.epoch)
            })
            .map(|(id, assignment)| (*id, assignment.code, assignment.epoch))
            .collect();
        for (contract, code, epoch) in waiting {
            let runner = match instantiate(&code, None).transpose() {
                Ok(Some(runner)) => Stage::Running(runner),
                Ok(None) => Stage::Undeployed,
                Err(error) => {
                    core.note(Refusal::Compile(format!("contract {contract}: {error}")));
                    Stage::Undeployed
                }
            };
            self.contracts.instances.insert(contract, Instance { code, epoch, contract: runner });
            follower.follow(Topic::Contract(contract));
        }
    }

    /// One message of a contract topic of this worker's cluster.
    pub(super) fn on_contract_message(
        &mut self,
        setting: &Setting,
        core: &mut Core,
        contract: ContractId,
        index: u64,
        message: &Message,
    ) -> Result<(), Refusal> {
        let instance = self.contracts.instances.get(&contract).ok_or(Refusal::NotRunHere(contract))?;
        let parsed: ContractMessage =
            decode_strict(&message.payload).map_err(|e| Refusal::malformed("a contract message", e))?;
        match (parsed, message.origin) {
            (ContractMessage::Assigned(assignment), Origin::Chain) => {
                if assignment.code != instance.code {
                    return Err(Refusal::CodeMismatch { assigned: instance.code, got: assignment.code });
                }
                Ok(())
            }
            (ContractMessage::Deployed(deployment), Origin::Chain) => {
                self.deploy(setting, core, contract, index, deployment)
            }
            (ContractMessage::Rekeyed { epoch }, Origin::Chain) => self.rekey(core, contract, epoch),
            (ContractMessage::Command(command), Origin::Account(sender)) => {
                self.execute(setting, core, contract, index, Caller::Account(AbiAccount(sender.0)), command)
            }
            (ContractMessage::Command(command), Origin::Runtime(SenderId::Contract(from))) => {
                self.contracts.acknowledge(core, from);
                if command.value != Balance(0) {
                    return Err(Refusal::ValueBetweenContracts(from));
                }
                self.execute(setting, core, contract, index, Caller::Contract(AbiContract(from.0)), command)
            }
            (_, origin) => Err(Refusal::Origin { what: "this contract message", origin }),
        }
    }

    /// The contract's keys move to `epoch`: its state is encrypted, its secrets derived and its
    /// egress signed under the new keys from here on; its pending egress is signed again.
    fn rekey(&mut self, core: &mut Core, contract: ContractId, epoch: KeyEpoch) -> Result<(), Refusal> {
        let key = self.cluster_keys.get(&epoch).ok_or(Refusal::NoClusterKey(epoch))?.contract_key(contract);
        let instance = self.contracts.instances.get_mut(&contract).ok_or(Refusal::NotRunHere(contract))?;
        if epoch <= instance.epoch {
            return Err(Refusal::RekeyBackwards { to: epoch, current: instance.epoch });
        }
        instance.epoch = epoch;
        if let Stage::Running(runner) = &mut instance.contract {
            runner.rekey(&key);
        }
        core.egress.resign(&key.signer(), SenderId::Contract(contract), epoch);
        Ok(())
    }

    /// The contract key of `contract` in its current epoch.
    fn current_key(&self, contract: ContractId) -> Result<ContractKey, Refusal> {
        let instance = self.contracts.instances.get(&contract).ok_or(Refusal::NotRunHere(contract))?;
        let cluster_key = self.cluster_keys.get(&instance.epoch).ok_or(Refusal::NoClusterKey(instance.epoch))?;
        Ok(cluster_key.contract_key(contract))
    }

    /// The agreement key an envelope sealed for `contract` (or, with `None`, a constructor
    /// argument sealed to the cluster) opens under: of the epoch its header names, if that epoch's
    /// keys were usable at the message's block time. A full cluster key of the epoch, or the
    /// agreement keys kept of it in its grace period.
    fn agreement_for(
        &self,
        core: &Core,
        sealed: &[u8],
        at_ms: u64,
        contract: Option<ContractId>,
    ) -> Result<(AgreementSecret, KeyEpoch), Refusal> {
        let epoch = decode_strict::<veil_crypto::Envelope>(sealed)
            .map(|envelope| envelope.header.key_epoch)
            .map_err(|error| Refusal::malformed("an envelope", error))?;
        if !core.epochs.usable(epoch, at_ms) {
            return Err(Refusal::EpochRetired(epoch));
        }
        let key = match (self.cluster_keys.get(&epoch), self.grace_keys.get(&epoch), contract) {
            (Some(full), _, Some(contract)) => full.contract_key(contract).agreement(),
            (Some(full), _, None) => full.agreement(),
            (None, Some(grace), Some(contract)) => {
                AgreementSecret::clone(grace.contracts.get(&contract).ok_or(Refusal::NoClusterKey(epoch))?)
            }
            (None, Some(grace), None) => AgreementSecret::clone(&grace.cluster),
            (None, None, _) => return Err(Refusal::NoClusterKey(epoch)),
        };
        Ok((key, epoch))
    }

    /// Compiles a wasm contract's code, opens its constructor argument (sealed to the cluster's key
    /// under the deployer's transaction) and runs its constructor. If any step fails the contract
    /// stays undeployed: its commands are refused and their tokens returned.
    fn deploy(
        &mut self,
        setting: &Setting,
        core: &mut Core,
        contract: ContractId,
        index: u64,
        deployment: Deployment,
    ) -> Result<(), Refusal> {
        let instance = self.contracts.instances.get(&contract).ok_or(Refusal::NotRunHere(contract))?;
        if !matches!(instance.contract, Stage::Undeployed) {
            return Err(Refusal::AlreadyDeployed);
        }
        let got = sha256(&deployment.code);
        if got != instance.code {
            return Err(Refusal::CodeMismatch { assigned: instance.code, got });
        }
        let key = self.current_key(contract)?;
        let argument = if deployment.argument.is_empty() {
            zeroize::Zeroizing::new(Vec::new())
        } else {
            let (agreement, epoch) =
                self.agreement_for(core, &deployment.argument, deployment.block.timestamp_ms, None)?;
            let binding = CommandBinding {
                chain: setting.chain,
                contract,
                epoch,
                sender: deployment.owner,
                nonce: deployment.nonce,
            };
            open_command(&agreement, &binding, &deployment.argument)
                .map_err(|error| Refusal::Unopened(format!("the constructor argument does not open: {error}")))?
        };
        let mut wasm = WasmContract::deploy(&setting.engine, &deployment.code, &key, deployment.owner)
            .map_err(|error| Refusal::Compile(error.to_string()))?;
        let context = CommandContext {
            contract,
            caller: Caller::Account(AbiAccount(deployment.owner.0)),
            block: deployment.block,
            fuel: deployment.fuel,
            value: 0,
            call_id: call_id(contract, index),
        };
        let executed = wasm.init(&context, &argument, &self.contracts.peers(contract));
        self.contracts.fuel_used = self.contracts.fuel_used.saturating_add(executed.fuel_used);
        let effects = executed.result.map_err(|failure| Refusal::ConstructorFailed(public(&failure)))?;
        if let Some(instance) = self.contracts.instances.get_mut(&contract) {
            instance.contract = Stage::Running(Box::new(wasm));
        }
        self.carry_out(setting, core, &key, deployment.block, effects)
    }

    /// Opens a command under the binding the chain published and executes it. A command that does
    /// not open, reaches no deployed code or fails returns the native tokens it carried.
    fn execute(
        &mut self,
        setting: &Setting,
        core: &mut Core,
        contract: ContractId,
        index: u64,
        caller: Caller,
        command: CommandMessage,
    ) -> Result<(), Refusal> {
        let key = self.current_key(contract)?;
        let sender = match caller {
            Caller::Account(account) => AccountId(account.0),
            Caller::Contract(from) => AccountId(from.0),
        };
        let refused = |cause| Refusal::Command { sender, nonce: command.nonce, cause: Box::new(cause) };
        let opened = self.agreement_for(core, &command.payload, command.block.timestamp_ms, Some(contract)).and_then(
            |(agreement, epoch)| {
                let binding = CommandBinding { chain: setting.chain, contract, epoch, sender, nonce: command.nonce };
                open_command(&agreement, &binding, &command.payload)
                    .map_err(|error| Refusal::Unopened(error.to_string()))
            },
        );
        let plain = match opened {
            Ok(plain) => plain,
            Err(cause) => return refund(core, &key, sender, command.value, refused(cause)),
        };
        let peers = self.contracts.peers(contract);
        let Some(Instance { contract: Stage::Running(runner), .. }) = self.contracts.instances.get_mut(&contract)
        else {
            return refund(core, &key, sender, command.value, refused(Refusal::NotDeployed));
        };
        let context = CommandContext {
            contract,
            caller,
            block: command.block,
            fuel: command.fuel,
            value: command.value.0,
            call_id: call_id(contract, index),
        };
        let executed = runner.command(&context, &plain, &peers);
        self.contracts.fuel_used = self.contracts.fuel_used.saturating_add(executed.fuel_used);
        match executed.result {
            Ok(effects) => self.carry_out(setting, core, &key, command.block, effects),
            Err(failure) => {
                let cause = Refusal::ContractFailed { fuel: executed.fuel_used, failure: public(&failure) };
                refund(core, &key, sender, command.value, refused(cause))
            }
        }
    }

    /// Turns a successful call's effects into the contract's egress: releases on the releases
    /// topic, messages to contracts of the cluster sealed to their current keys. Events stay inside.
    fn carry_out(
        &mut self,
        setting: &Setting,
        core: &mut Core,
        key: &ContractKey,
        block: BlockStamp,
        effects: Effects,
    ) -> Result<(), Refusal> {
        let sender = SenderId::Contract(key.contract());
        let signer = key.signer();
        for (to, amount) in effects.released {
            release(core, key, Release { to: AccountId(to.0), amount: Balance(amount) })?;
        }
        for (target, message, fuel) in effects.sent {
            let target = ContractId(target.0);
            if !self.contracts.instances.contains_key(&target) {
                return Err(Refusal::UnknownTarget(target));
            }
            // Sealed to the target's key of the sender's epoch: decided by the sender's own topic,
            // so every worker seals alike whatever its batches.
            let target_key =
                self.cluster_keys.get(&key.epoch()).ok_or(Refusal::NoClusterKey(key.epoch()))?.contract_key(target);
            let nonce = core.egress.next(sender);
            let binding = CommandBinding {
                chain: setting.chain,
                contract: target,
                epoch: target_key.epoch(),
                sender: AccountId(key.contract().0),
                nonce,
            };
            let recipient = target_key.agreement().public();
            let sealed = seal_command_with(&key.ephemeral_for(&recipient, nonce), &recipient, &binding, &message)
                .map_err(|error| Refusal::Internal(format!("cannot seal a message to {target}: {error}")))?;
            let payload = sealed.try_into().map_err(|_| Refusal::TooLarge("a message to a contract"))?;
            let command = CommandMessage { nonce, block, fuel, value: Balance(0), payload };
            let payload = ContractMessage::Command(command)
                .encode()
                .try_into()
                .map_err(|_| Refusal::TooLarge("a message to a contract"))?;
            core.egress.push(&signer, sender, key.epoch(), Topic::Contract(target), payload);
        }
        Ok(())
    }
}

/// Returns `value` to `to` by a release, then reports `refusal` as the message's refusal.
fn refund(core: &mut Core, key: &ContractKey, to: AccountId, value: Balance, refusal: Refusal) -> Result<(), Refusal> {
    if value != Balance(0) {
        release(core, key, Release { to, amount: value })?;
    }
    Err(refusal)
}

/// Queues a release of the contract's locked tokens as its egress.
fn release(core: &mut Core, key: &ContractKey, release: Release) -> Result<(), Refusal> {
    let payload = release.encode().try_into().map_err(|_| Refusal::TooLarge("a release"))?;
    let topic = Topic::System(SystemTopic::Releases);
    core.egress.push(&key.signer(), SenderId::Contract(key.contract()), key.epoch(), topic, payload);
    Ok(())
}

/// A call's id: the contract and the message's index on its topic, unique forever.
fn call_id(contract: ContractId, index: u64) -> [u8; 32] {
    sha256(&(b"veil/call/v1", contract, index).encode()).0
}

/// What may be reported of a failure: a contract's own refusal reason or panic message may quote
/// confidential state, so only the kind is told.
fn public(failure: &Failure) -> String {
    match failure {
        Failure::Refused(_) => "refused by the contract (its reason is confidential)".into(),
        Failure::Panicked(_) => "panicked (its message is confidential)".into(),
        Failure::OutOfFuel | Failure::Trapped(_) => failure.to_string(),
    }
}
