//! A generated chain with a gatekeeper and workers, relayed in process: shared by the runtime's
//! integration tests and benchmarks.
#![allow(dead_code, unreachable_pub, clippy::unwrap_used)]

use parity_scale_codec::Encode;
use std::collections::BTreeMap;
use veil_chain::{Genesis, GenesisSender, genesis::GenesisBalance, state::Overlay, testing::pair};
use veil_consensus::testing::GeneratedChain;
use veil_crypto::{
    AccountPair, AgreementSecret, RuntimeSigner, SecretBytes,
    confidential::{
        Answer, CommandBinding, ContractKeys, KeyMessage, Query, SignedQuery, open_answer, seal_command, seal_query,
    },
};
use veil_primitives::{
    AccountId, Attestation, Balance, Call, ClusterId, ContractId, Origin, RegistrationInfo, SenderId, SignedEgress,
    SignedTransaction, SystemTopic, Topic, Transaction, contract::builtin_code_hash, decode_strict,
};
use veil_worker::{
    contract::{NotesCommand, NotesQuery},
    runtime::{QueryLimits, Role, Runtime},
    sync::{Batch, TopicDelivery},
};

/// The development gatekeeper identity seed these tests use.
pub const GATEKEEPER_SEED: [u8; 32] = [0x6b; 32];
/// The notes contract's id in these tests.
pub const NOTES: ContractId = ContractId([0x17; 32]);

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
}

impl Scenario {
    /// A chain whose genesis names the development gatekeeper, with Bob as registry admin and
    /// Charlie and Dave funded.
    pub fn new() -> Self {
        let gatekeeper = RuntimeSigner::from_seed(&SecretBytes::new(GATEKEEPER_SEED)).public();
        let (bob, charlie, dave) = (pair("//Bob"), pair("//Charlie"), pair("//Dave"));
        let chain = GeneratedChain::with_genesis(1, |genesis| {
            genesis.registration.measurement_admin = bob.public();
            for account in [bob.public(), charlie.public(), dave.public()] {
                genesis.balances.push(GenesisBalance { account, amount: Balance(1_000_000 * Balance::ONE.0) });
            }
            genesis.senders.push(GenesisSender { sender: SenderId::Gatekeeper(gatekeeper), key: gatekeeper, epoch: 0 });
        });
        let genesis = chain.chain.genesis().clone();
        Self { chain, genesis, bob, nonces: BTreeMap::new() }
    }

    pub fn gatekeeper(&self) -> Runtime {
        Runtime::new(&self.genesis, Role::Gatekeeper, true, limits(), Some(SecretBytes::new(GATEKEEPER_SEED))).unwrap()
    }

    pub fn worker(&self) -> Runtime {
        Runtime::new(&self.genesis, Role::Worker, true, limits(), None).unwrap()
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
        let (tx, _) = self.sign(&bob, Call::RegisterWorker { info, attestation: Attestation::InsecureSoftware });
        self.block(vec![tx]);
    }

    /// Assigns the notes contract to the workers with these identities.
    pub fn assign(&mut self, workers: &[[u8; 32]]) {
        let bob = self.bob.clone();
        let call = Call::AssignContract {
            contract: NOTES,
            code: builtin_code_hash("notes"),
            cluster: ClusterId(1),
            workers: workers.to_vec().try_into().unwrap(),
        };
        let (tx, _) = self.sign(&bob, call);
        self.block(vec![tx]);
    }

    /// The batch a relayer would bring `runtime` now: every followed topic from where it stands.
    pub fn batch_for(&self, runtime: &Runtime) -> Batch {
        self.batch_from(runtime.view().topics.iter().map(|(topic, peaks)| (*topic, peaks.length)))
    }

    /// The batch at the tip for a runtime whose followed topics have these lengths.
    pub fn batch_from(&self, lengths: impl IntoIterator<Item = (Topic, u64)>) -> Batch {
        let topics = lengths
            .into_iter()
            .filter_map(|(topic, from)| {
                let (messages, proof) = self.chain.try_topic_range(&topic, from)?;
                Some(TopicDelivery { topic, messages, proof })
            })
            .collect();
        Batch { certificate: self.chain.certify_tip(), header: self.chain.tip().clone(), topics }
    }

    /// Relays one batch to `runtime` and puts its pending egress that the chain lacks in a block.
    pub fn relay(&mut self, runtime: &mut Runtime) {
        let batch = self.batch_for(runtime);
        runtime.apply(&batch).unwrap();
        self.submit(runtime.pending_egress());
    }

    /// Puts the copies the chain does not have yet in a block (none: no block).
    pub fn submit(&mut self, copies: Vec<SignedEgress>) {
        let copies: Vec<SignedEgress> =
            copies.into_iter().filter(|copy| copy.egress.sequence >= self.next_sequence(&copy.egress.sender)).collect();
        if !copies.is_empty() {
            self.chain.push(Vec::new(), copies);
        }
    }

    pub fn next_sequence(&self, sender: &SenderId) -> u64 {
        Overlay::new(&self.chain.state).sender(sender).unwrap().map_or(0, |info| info.next_sequence)
    }

    /// The contract keys the gatekeeper published for the notes contract.
    pub fn notes_keys(&self) -> ContractKeys {
        let topic = Topic::System(SystemTopic::KeyEpochs);
        let (messages, _) = self.chain.topic_range(&topic, 0);
        messages
            .iter()
            .filter(|m| matches!(m.origin, Origin::Runtime(SenderId::Gatekeeper(_))))
            .find_map(|m| match decode_strict::<KeyMessage>(&m.payload).unwrap() {
                KeyMessage::ContractKeys(keys) if keys.contract == NOTES => Some(keys),
                _ => None,
            })
            .expect("the gatekeeper published the notes contract's keys")
    }

    /// A `Command` transaction from `from` carrying `note`, sealed for that transaction.
    pub fn note(&mut self, from: &AccountPair, note: &[u8]) -> SignedTransaction {
        let keys = self.notes_keys();
        self.command(&keys, from, &NotesCommand::Add(note.to_vec().try_into().unwrap()))
    }

    /// A `Command` transaction from `from` carrying `command`, sealed to `keys` for that transaction.
    pub fn command(&mut self, keys: &ContractKeys, from: &AccountPair, command: &NotesCommand) -> SignedTransaction {
        let nonce = *self.nonces.get(&from.public()).unwrap_or(&0);
        let binding = CommandBinding {
            chain: self.genesis.hash(),
            contract: NOTES,
            epoch: keys.epoch,
            sender: from.public(),
            nonce,
        };
        let payload = seal_command(&keys.agreement, &binding, &command.encode()).unwrap();
        self.sign(
            from,
            Call::Command { contract: NOTES, payload: payload.try_into().unwrap(), fuel: 0, value: Balance::ZERO },
        )
        .0
    }

    /// Gatekeeper and one worker, registered, assigned, with keys delivered and the worker
    /// following the contract.
    pub fn with_worker() -> (Self, Runtime, Runtime) {
        let mut scenario = Self::new();
        let mut gatekeeper = scenario.gatekeeper();
        let mut worker = scenario.worker();
        scenario.register(worker.identity(), worker.agreement_key());
        scenario.assign(&[worker.identity()]);
        scenario.relay(&mut gatekeeper);
        scenario.relay(&mut gatekeeper); // sees its own messages: acknowledged
        scenario.relay(&mut worker);
        scenario.relay(&mut worker);
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
    let response = AgreementSecret::generate().unwrap();
    let nonce: [u8; 16] = rand_nonce();
    let query = Query {
        chain: scenario.genesis.hash(),
        worker,
        contract: NOTES,
        requester: by.public(),
        nonce,
        known_height: scenario.chain.tip().height,
        valid_until: scenario.chain.tip().height + 100,
        response_key: response.public(),
        payload: NotesQuery::Notes { owner }.encode().try_into().unwrap(),
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
