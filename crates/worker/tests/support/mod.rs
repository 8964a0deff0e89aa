//! A generated chain with a gatekeeper and workers, relayed in process: shared by the runtime's
//! integration tests and benchmarks.
#![allow(dead_code, unreachable_pub, clippy::unwrap_used)]

use parity_scale_codec::Encode;
use std::collections::BTreeMap;
use veil_chain::ReadState as _;
use veil_chain::{Genesis, GenesisSender, genesis::GenesisBalance, testing::pair};
use veil_consensus::testing::GeneratedChain;
use veil_crypto::{
    AccountPair, AgreementSecret, RuntimeSigner, SecretBytes,
    confidential::{
        Answer, CommandBinding, ContractKeys, KeyMessage, Query, SignedQuery, open_answer, seal_command, seal_query,
    },
};
use veil_primitives::{
    AccountId, Attestation, Balance, Call, ClusterId, ContractId, ContractsCall, KeyEpoch, RegistrationInfo,
    RegistryCall, SenderId, SignedEgress, SignedTransaction, SystemTopic, Topic, Transaction,
    contract::{builtin_code_hash, contract_id},
    decode_strict,
    hashing::sha256,
};
use veil_worker::{
    checkpoint::CheckpointStore,
    contract::{NotesCommand, NotesQuery},
    runtime::{Host, QueryLimits, Role, Runtime},
    sync::{Batch, TopicDelivery},
};

/// The development gatekeeper identity seed these tests use.
pub const GATEKEEPER_SEED: [u8; 32] = [0x6b; 32];
/// The identity seed of genesis gatekeeper `index` in these tests.
pub fn gatekeeper_seed(index: u8) -> [u8; 32] {
    [GATEKEEPER_SEED[0] + index; 32]
}

/// The notes contract's id in these tests.
pub const NOTES: ContractId = ContractId([0x17; 32]);
/// The cluster wasm contracts run on in these tests.
pub const CLUSTER: ClusterId = ClusterId(1);

/// Query limits without the clock check: generated chains have old timestamps.
pub fn limits() -> QueryLimits {
    QueryLimits { max_age_ms: None, ..QueryLimits::default() }
}

pub struct Scenario {
    pub chain: GeneratedChain,
    pub genesis: Genesis,
    /// Registry admin and worker operator.
    pub bob: AccountPair,
    nonces: BTreeMap<AccountId, u64>,
    /// Runtimes whose checkpoints are written to disk after every batch, as the service writes
    /// them, by identity.
    disks: BTreeMap<[u8; 32], CheckpointStore>,
}

impl Scenario {
    /// A chain whose genesis names the development gatekeeper, with Bob as registry admin and
    /// Charlie and Dave funded.
    pub fn new() -> Self {
        Self::with_gatekeepers(1)
    }

    /// The same with `count` genesis gatekeepers (seeds [`gatekeeper_seed`]), the first generating.
    pub fn with_gatekeepers(count: u8) -> Self {
        let (bob, charlie, dave) = (pair("//Bob"), pair("//Charlie"), pair("//Dave"));
        let chain = GeneratedChain::with_genesis(1, |genesis| {
            genesis.registration.measurement_admin = bob.public();
            for account in [bob.public(), charlie.public(), dave.public()] {
                genesis.balances.push(GenesisBalance { account, amount: Balance(1_000_000 * Balance::ONE.0) });
            }
            genesis.senders = (0..count)
                .map(|index| {
                    let gatekeeper = RuntimeSigner::from_seed(&SecretBytes::new(gatekeeper_seed(index))).public();
                    GenesisSender { sender: SenderId::Gatekeeper(gatekeeper), key: gatekeeper, epoch: 0 }
                })
                .collect();
            genesis.keys.rotation_admin = bob.public();
        });
        let genesis = chain.chain.genesis().clone();
        Self { chain, genesis, bob, nonces: BTreeMap::new(), disks: BTreeMap::new() }
    }

    pub fn gatekeeper(&self) -> Runtime {
        self.gatekeeper_at(0)
    }

    /// The first genesis gatekeeper, registered: the chain takes nothing from a gatekeeper before
    /// it attests.
    pub fn registered_gatekeeper(&mut self) -> Runtime {
        let gatekeeper = self.gatekeeper();
        self.register(gatekeeper.identity(), gatekeeper.agreement_key());
        gatekeeper
    }

    /// Genesis gatekeeper `index`.
    pub fn gatekeeper_at(&self, index: u8) -> Runtime {
        let seed = Some(SecretBytes::new(gatekeeper_seed(index)));
        Runtime::new(&self.genesis, Host::new(true, limits()), Role::Gatekeeper, seed).unwrap()
    }

    pub fn worker(&self) -> Runtime {
        Runtime::new(&self.genesis, Host::new(true, limits()), Role::Worker, None).unwrap()
    }

    /// Signs `call` from `from` with its next nonce (the nonce is returned).
    pub fn sign(&mut self, from: &AccountPair, call: Call) -> (SignedTransaction, u64) {
        let nonce = self.nonces.entry(from.public()).or_default();
        let tx = from.sign_transaction(Transaction {
            genesis: self.genesis.hash(),
            signer: from.public(),
            nonce: *nonce,
            call,
        });
        *nonce += 1;
        (tx, *nonce - 1)
    }

    /// One block with these transactions.
    pub fn block(&mut self, transactions: Vec<SignedTransaction>) {
        self.chain.push(transactions, Vec::new());
    }

    /// Registers the worker with these keys (operated by Bob, software mode).
    pub fn register(&mut self, identity: [u8; 32], agreement: [u8; 32]) {
        let bob = self.bob.clone();
        let info = RegistrationInfo {
            signing_key: identity,
            agreement_key: agreement,
            genesis: self.genesis.hash(),
            operator: bob.public(),
        };
        let (tx, _) = self.sign(
            &bob,
            Call::Registry(RegistryCall::RegisterWorker { info, attestation: Attestation::InsecureSoftware }),
        );
        self.block(vec![tx]);
    }

    /// Forms [`CLUSTER`] of the workers with these identities and assigns the notes contract to it.
    pub fn assign(&mut self, workers: &[[u8; 32]]) {
        self.form_cluster(workers);
        let bob = self.bob.clone();
        let call = Call::Contracts(ContractsCall::AssignContract {
            contract: NOTES,
            code: builtin_code_hash("notes"),
            cluster: CLUSTER,
        });
        let (tx, _) = self.sign(&bob, call);
        self.block(vec![tx]);
    }

    /// The batch a relayer would bring `runtime` now: every followed topic from where it stands.
    pub fn batch_for(&self, runtime: &Runtime) -> Batch {
        self.page_for(runtime, u64::MAX)
    }

    /// The batch a relayer with this page size would bring `runtime` now: followed topics in
    /// canonical order from where it stands (heartbeats not started yet from their end), at most
    /// `page` messages in all, the topic that exhausts them last.
    pub fn page_for(&self, runtime: &Runtime, page: u64) -> Batch {
        let positions = runtime.view().topics.iter().map(|(topic, peaks)| (*topic, peaks.length));
        let topics = veil_worker::sync::assemble(positions, page, |topic, from, budget| {
            let delivery = self.chain.topic_page(topic, from, budget);
            Ok::<_, ()>(delivery.map(|(messages, proof, start)| TopicDelivery {
                topic: *topic,
                messages,
                proof,
                start,
            }))
        })
        .unwrap_or_else(|()| unreachable!("the generated chain serves every page"));
        Batch { certificate: self.chain.certify_tip(), header: self.chain.tip().clone(), topics }
    }

    /// The batch at the tip for a runtime whose followed topics have these lengths (in any order:
    /// the batch lists them in their canonical order).
    pub fn batch_from(&self, lengths: impl IntoIterator<Item = (Topic, u64)>) -> Batch {
        let mut lengths: Vec<(Topic, u64)> = lengths.into_iter().collect();
        lengths.sort();
        let topics = lengths
            .into_iter()
            .filter_map(|(topic, from)| {
                let (messages, proof) = self.chain.try_topic_range(&topic, from)?;
                Some(TopicDelivery { topic, messages, proof, start: None })
            })
            .collect();
        Batch { certificate: self.chain.certify_tip(), header: self.chain.tip().clone(), topics }
    }

    /// Relays one batch to `runtime` and puts its pending egress that the chain lacks in a block.
    pub fn relay(&mut self, runtime: &mut Runtime) {
        let batch = self.batch_for(runtime);
        let applied = runtime.apply(&batch).unwrap();
        if let Some(store) = self.disks.get_mut(&runtime.identity()) {
            store.record(&runtime.checkpoint(), applied.destroyed_keys).unwrap();
        }
        self.submit(runtime.pending_egress());
    }

    /// From now on `runtime`'s checkpoints are sealed (software sealing key) and written to `dir`
    /// after every batch, exactly as the worker service writes them.
    pub fn keep_on_disk(&mut self, runtime: &Runtime, dir: &std::path::Path) {
        std::fs::create_dir_all(dir).unwrap();
        let key = veil_crypto::SoftwareSealingKey::open_or_create(&dir.join("sealing.key")).unwrap();
        let store = CheckpointStore::open(&dir.join("checkpoints"), veil_crypto::Sealer::new(&key).unwrap()).unwrap();
        let mut store = store;
        store.save(&runtime.checkpoint()).unwrap();
        self.disks.insert(runtime.identity(), store);
    }

    /// Every checkpoint file of `runtime` on disk, unsealed with its sealing key.
    pub fn files_on_disk(&self, runtime: &Runtime) -> Vec<(std::path::PathBuf, Vec<u8>)> {
        self.disks[&runtime.identity()].unseal_every_file().unwrap()
    }

    /// Relays to each runtime in turn, `rounds` times: what a network of relayers does.
    pub fn settle(&mut self, runtimes: &mut [&mut Runtime], rounds: usize) {
        for _ in 0..rounds {
            for runtime in runtimes.iter_mut() {
                self.relay(runtime);
            }
        }
    }

    /// Puts the copies the chain does not have yet in a block (none: no block); copies the chain
    /// refuses (a sender not registered yet) are left out, as a mempool would keep them out.
    pub fn submit(&mut self, copies: Vec<SignedEgress>) {
        let copies: Vec<SignedEgress> =
            copies.into_iter().filter(|copy| copy.egress.sequence >= self.next_sequence(&copy.egress.sender)).collect();
        if !copies.is_empty() {
            self.chain.push_after(1, Vec::new(), copies);
        }
    }

    /// An empty block `after_ms` after the tip.
    pub fn wait(&mut self, after_ms: u64) {
        self.chain.push_after(after_ms, Vec::new(), Vec::new());
    }

    pub fn next_sequence(&self, sender: &SenderId) -> u64 {
        self.chain.state.sender(sender).unwrap().map_or(0, |info| info.next_sequence)
    }

    /// The gatekeepers' messages on the key-epochs topic so far.
    pub fn key_messages(&self) -> Vec<KeyMessage> {
        let topic = Topic::System(SystemTopic::KeyEpochs);
        let Some((messages, _)) = self.chain.try_topic_range(&topic, 0) else { return Vec::new() };
        messages.iter().map(|m| decode_strict::<KeyMessage>(&m.payload).unwrap()).collect()
    }

    /// The newest contract keys the gatekeepers published for `contract`.
    pub fn contract_keys(&self, contract: ContractId) -> ContractKeys {
        self.key_messages()
            .into_iter()
            .rev()
            .find_map(|message| match message {
                KeyMessage::ContractKeys(keys) if keys.contract == contract => Some(keys),
                _ => None,
            })
            .expect("the gatekeeper published the contract's keys")
    }

    /// The chain's key epochs.
    pub fn epochs(&self) -> veil_chain::EpochState {
        self.chain.state.epochs().unwrap()
    }

    /// The contract keys the gatekeeper published for the notes contract.
    pub fn notes_keys(&self) -> ContractKeys {
        self.contract_keys(NOTES)
    }

    /// Forms cluster [`CLUSTER`] of the workers with these identities (Bob is the admin).
    pub fn form_cluster(&mut self, workers: &[[u8; 32]]) {
        let bob = self.bob.clone();
        let call = Call::Contracts(ContractsCall::FormCluster {
            cluster: CLUSTER,
            workers: workers.to_vec().try_into().unwrap(),
        });
        let (tx, _) = self.sign(&bob, call);
        self.block(vec![tx]);
    }

    /// The public key the gatekeepers published for [`CLUSTER`], and its epoch.
    pub fn cluster_public(&self) -> ([u8; 32], KeyEpoch) {
        let info = self.chain.state.cluster(CLUSTER).unwrap().expect("the cluster is formed");
        (info.agreement.expect("the gatekeepers published the cluster's key"), info.epoch)
    }

    /// Uploads `code` and instantiates it on [`CLUSTER`] from `from` (with `salt` repeated) with
    /// `argument` sealed to the cluster's key: two transactions, and the new contract's id.
    pub fn instantiate(
        &mut self,
        from: &AccountPair,
        code: &[u8],
        argument: &[u8],
        fuel: u64,
        salt: u8,
    ) -> (ContractId, [SignedTransaction; 2]) {
        let (upload, _) =
            self.sign(from, Call::Contracts(ContractsCall::UploadCode { code: code.to_vec().try_into().unwrap() }));
        let hash = sha256(code);
        let salt = [salt; 32];
        let contract = contract_id(&from.public(), &hash, &salt);
        let nonce = *self.nonces.get(&from.public()).unwrap_or(&0);
        let (cluster_key, epoch) = self.cluster_public();
        let binding = CommandBinding { chain: self.genesis.hash(), contract, epoch, sender: from.public(), nonce };
        let argument = seal_command(&cluster_key, &binding, argument).unwrap();
        let call = Call::Contracts(ContractsCall::Instantiate {
            code: hash,
            cluster: CLUSTER,
            salt,
            fuel,
            argument: argument.try_into().unwrap(),
        });
        let (instantiate, _) = self.sign(from, call);
        (contract, [upload, instantiate])
    }

    /// A `Command` transaction to `contract` from `from`, sealed to the contract's published key for
    /// that transaction, with prepaid `fuel` and `value` native tokens.
    pub fn call(
        &mut self,
        contract: ContractId,
        from: &AccountPair,
        command: &[u8],
        fuel: u64,
        value: u128,
    ) -> SignedTransaction {
        let keys = self.contract_keys(contract);
        let nonce = *self.nonces.get(&from.public()).unwrap_or(&0);
        let binding =
            CommandBinding { chain: self.genesis.hash(), contract, epoch: keys.epoch, sender: from.public(), nonce };
        let payload = seal_command(&keys.agreement, &binding, command).unwrap();
        let call = Call::Contracts(ContractsCall::Command {
            contract,
            payload: payload.try_into().unwrap(),
            fuel,
            value: Balance(value),
        });
        self.sign(from, call).0
    }

    /// A `Command` transaction from `from` carrying `note`, sealed for that transaction.
    pub fn note(&mut self, from: &AccountPair, note: &[u8]) -> SignedTransaction {
        let keys = self.notes_keys();
        self.command(&keys, from, &NotesCommand::Add(note.to_vec().try_into().unwrap()))
    }

    /// A `Command` transaction from `from` carrying `command`, sealed to `keys` for that transaction.
    pub fn command(&mut self, keys: &ContractKeys, from: &AccountPair, command: &NotesCommand) -> SignedTransaction {
        assert_eq!(keys.contract, NOTES);
        self.call(NOTES, from, &command.encode(), 0, 0)
    }

    /// A gatekeeper that opened the first epoch, and `count` workers registered with their
    /// epoch keys announced.
    pub fn with_workers(count: usize) -> (Self, Runtime, Vec<Runtime>) {
        let mut scenario = Self::new();
        let mut gatekeeper = scenario.registered_gatekeeper();
        scenario.relay(&mut gatekeeper); // checks its registration, generates and proposes the first master key
        scenario.relay(&mut gatekeeper); // the epoch opened
        let mut workers: Vec<Runtime> = (0..count).map(|_| scenario.worker()).collect();
        for worker in &mut workers {
            scenario.register(worker.identity(), worker.agreement_key());
            scenario.relay(worker); // announces its epoch keys
        }
        (scenario, gatekeeper, workers)
    }

    /// Relays to the gatekeeper and the workers until their keys and contracts settle.
    pub fn settle_all(&mut self, gatekeeper: &mut Runtime, workers: &mut [Runtime]) {
        for _ in 0..3 {
            self.relay(gatekeeper);
            for worker in workers.iter_mut() {
                self.relay(worker);
            }
        }
    }

    /// Gatekeeper and one worker, registered, assigned, with keys delivered and the worker
    /// following the contract.
    pub fn with_worker() -> (Self, Runtime, Runtime) {
        let (mut scenario, mut gatekeeper, mut workers) = Self::with_workers(1);
        scenario.assign(&[workers[0].identity()]);
        scenario.settle_all(&mut gatekeeper, &mut workers);
        let worker = workers.pop().unwrap();
        (scenario, gatekeeper, worker)
    }
}

/// A client's query for `owner`'s notes, by `by`, to the worker with identity `worker` (unsigned),
/// with the secret that opens its answer.
pub fn notes_query(
    scenario: &Scenario,
    worker: [u8; 32],
    by: &AccountPair,
    owner: AccountId,
) -> (Query, AgreementSecret) {
    contract_query(scenario, worker, by, NOTES, &NotesQuery::Notes { owner }.encode())
}

/// A client's query `payload` to `contract`, by `by`, to the worker with identity `worker`
/// (unsigned), with the secret that opens its answer.
pub fn contract_query(
    scenario: &Scenario,
    worker: [u8; 32],
    by: &AccountPair,
    contract: ContractId,
    payload: &[u8],
) -> (Query, AgreementSecret) {
    let response = AgreementSecret::generate().unwrap();
    let query = Query {
        chain: scenario.genesis.hash(),
        worker,
        contract,
        requester: by.public(),
        nonce: rand_nonce(),
        known_height: scenario.chain.tip().height,
        valid_until: scenario.chain.tip().height + 100,
        response_key: response.public(),
        payload: payload.to_vec().try_into().unwrap(),
    };
    (query, response)
}

fn rand_nonce() -> [u8; 16] {
    let secret = AgreementSecret::generate().unwrap().public();
    secret[..16].try_into().unwrap()
}

/// Seals `signed` to `worker`, asks it, and opens the answer.
pub fn ask(worker: &Runtime, signed: &SignedQuery, response: &AgreementSecret) -> Result<Answer, String> {
    let body = seal_query(&worker.agreement_key(), signed).unwrap();
    let sealed = worker.query(&body, 0).map_err(|error| error.to_string())?;
    Ok(open_answer(response, &signed.hash(), &worker.identity(), &sealed).unwrap())
}
