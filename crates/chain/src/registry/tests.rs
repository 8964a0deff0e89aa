use super::*;
use crate::{
    Execution, MemoryState, TransactionError,
    testing::{self, egress, pair, runtime_signer},
};
use veil_attestation::time::parse_rfc3339;
use veil_crypto::AccountPair;
use veil_primitives::{
    Call, ContractId, Header, SignedEgress, SignedTransaction, Transaction, decode_strict,
    registration::MAX_QUOTE_BYTES,
};
use veil_primitives::{ClusterId, ContractsCall, RegistryCall, contract::Assignment};
use veil_primitives::{
    Origin,
    contract::{AssignedWorker, AssignmentMessage, ContractMessage},
};
use veil_types::{EpochHistory, fees};

const SGX_QUOTE: &[u8] = include_bytes!("../../../attestation/testdata/sgx_quote");
const SGX_COLLATERAL: &[u8] = include_bytes!("../../../attestation/testdata/sgx_quote_collateral.json");

pub(crate) struct Net {
    pub(crate) chain: Chain,
    pub(crate) state: MemoryState,
    pub(crate) head: Header,
    pub(crate) operator: AccountPair,
    pub(crate) admin: AccountPair,
    pub(crate) nonces: std::collections::HashMap<AccountId, u64>,
    /// Varies the round seeds the blocks carry (stand-ins: the chain records seeds, consensus
    /// checks them).
    pub(crate) seed_salt: u64,
}

/// The first epoch's master key in these tests.
pub(crate) fn master() -> veil_crypto::MasterKey {
    veil_crypto::MasterKey::from_secret(veil_crypto::SecretBytes::new([0x4d; 32]))
}

pub(crate) fn net(allow_insecure: bool, genesis_time: &str) -> Net {
    let (operator, admin) = (pair("//Operator"), pair("//Admin"));
    let mut genesis = testing::genesis(&[operator.public(), admin.public()], 1_000);
    genesis.allow_insecure_workers = allow_insecure;
    genesis.genesis_time_ms = parse_rfc3339(genesis_time).unwrap() * 1_000;
    genesis.registration.measurement_admin = admin.public();
    genesis.keys.rotation_admin = admin.public();
    let gatekeeper = gatekeeper().public();
    genesis.senders =
        vec![crate::GenesisSender { sender: SenderId::Gatekeeper(gatekeeper), key: gatekeeper, epoch: 0 }];
    let chain = Chain::new(genesis).unwrap();
    let mut state = MemoryState::default();
    state.apply(chain.genesis_changes());
    let head = chain.genesis_header(Hash::ZERO);
    Net { chain, state, head, operator, admin, nonces: Default::default(), seed_salt: 0 }
}

impl Net {
    pub(crate) fn info(&self, signing_key: [u8; 32]) -> RegistrationInfo {
        RegistrationInfo {
            signing_key,
            agreement_key: [0xaa; 32],
            genesis: self.chain.id(),
            operator: self.operator.public(),
        }
    }

    pub(crate) fn sign(&mut self, from: &AccountPair, call: Call) -> SignedTransaction {
        let nonce = self.nonces.entry(from.public()).or_default();
        let tx =
            from.sign_transaction(Transaction { genesis: self.chain.id(), signer: from.public(), nonce: *nonce, call });
        *nonce += 1;
        tx
    }

    /// A block `after_ms` after the head with these candidates; what it kept is applied.
    pub(crate) fn step(&mut self, after_ms: u64, txs: Vec<SignedTransaction>, copies: Vec<SignedEgress>) -> Execution {
        let timestamp = self.head.timestamp_ms + after_ms;
        let built = self.chain.build(&self.state, &self.head, timestamp, Some(self.seed()), txs, copies).unwrap();
        for (_, error) in &built.dropped {
            assert!(!matches!(error, TransactionError::StaleNonce { .. } | TransactionError::FutureNonce { .. }));
        }
        self.state.apply(built.changes.clone());
        self.head.height += 1;
        self.head.timestamp_ms = timestamp;
        built
    }

    /// The stand-in seed of the head's round, which the next block carries.
    pub(crate) fn seed(&self) -> veil_primitives::RoundSeed {
        let digest = veil_primitives::hashing::sha256(&(self.head.height, self.seed_salt).encode());
        let mut signature = [0u8; 48];
        signature[..32].copy_from_slice(digest.as_bytes());
        veil_primitives::RoundSeed { epoch: 0, view: self.head.height, signature }
    }

    pub(crate) fn refused(&mut self, from: &AccountPair, call: Call) -> TransactionError {
        let tx = self.sign(from, call);
        let mut built = self.step(1, vec![tx], vec![]);
        *self.nonces.get_mut(&from.public()).unwrap() -= 1;
        assert!(built.transactions.is_empty());
        built.dropped.remove(0).1
    }

    pub(crate) fn worker(&self, key: &[u8; 32]) -> Option<WorkerInfo> {
        self.state.worker(key).unwrap()
    }

    pub(crate) fn epochs(&self) -> crate::EpochState {
        self.state.epochs().unwrap()
    }

    pub(crate) fn next_sequence(&self, sender: SenderId) -> u64 {
        self.state.sender(&sender).unwrap().map_or(0, |info| info.next_sequence)
    }

    /// `gatekeeper`'s proposal of `master` as `epoch`'s master key, with its next sequence number.
    pub(crate) fn proposal(
        &self,
        gatekeeper: &veil_crypto::RuntimeSigner,
        master: &veil_crypto::MasterKey,
        epoch: u32,
    ) -> SignedEgress {
        let proposal = veil_crypto::confidential::Proposal::new(master, KeyEpoch(epoch), &[]).unwrap();
        let sender = SenderId::Gatekeeper(gatekeeper.public());
        let payload = veil_crypto::confidential::KeyMessage::Proposal(proposal).encode();
        egress(gatekeeper, sender, 0, self.next_sequence(sender), Topic::System(SystemTopic::KeyEpochs), &payload)
    }

    /// Opens epoch 0 with [`master`], proposed by the genesis gatekeeper (registered first: a
    /// gatekeeper speaks only once attested).
    pub(crate) fn open_first_epoch(&mut self) {
        let operator = self.operator.clone();
        let register = Call::Registry(RegistryCall::RegisterWorker {
            info: self.info(gatekeeper().public()),
            attestation: Attestation::InsecureSoftware,
        });
        let tx = self.sign(&operator, register);
        assert_eq!(self.step(1, vec![tx], vec![]).transactions.len(), 1);
        let proposal = self.proposal(&gatekeeper(), &master(), 0);
        assert_eq!(self.step(1, vec![], vec![proposal]).egress.len(), 1);
    }

    /// `worker`'s announcement of its key for `epoch` (an X25519 key derived from its seed).
    pub(crate) fn epoch_key(&self, worker: &veil_crypto::RuntimeSigner, epoch: u32) -> SignedEgress {
        let key = announced_key(&self.chain.id(), worker, epoch);
        let sender = SenderId::Worker(worker.public());
        let payload = AssignmentMessage::EpochKey(key).encode();
        egress(worker, sender, 0, self.next_sequence(sender), Topic::System(SystemTopic::Assignments), &payload)
    }

    /// Registers software workers with these seeds; they announce no key yet.
    pub(crate) fn register_silent(&mut self, seeds: &[u8]) -> Vec<veil_crypto::RuntimeSigner> {
        let operator = self.operator.clone();
        let workers: Vec<_> = seeds.iter().map(|seed| runtime_signer(*seed)).collect();
        for worker in &workers {
            let register = Call::Registry(RegistryCall::RegisterWorker {
                info: self.info(worker.public()),
                attestation: Attestation::InsecureSoftware,
            });
            let tx = self.sign(&operator, register);
            assert_eq!(self.step(1, vec![tx], vec![]).transactions.len(), 1);
        }
        workers
    }

    /// Admits hardware workers with these seeds as if each had registered with a verified quote of
    /// `measurement` (the sample quotes' report data cannot bind a test key): the chain's own
    /// admission path files them, then each announces its keys for the current and the next epoch.
    pub(crate) fn admit_hardware(
        &mut self,
        seeds: &[u8],
        measurement: veil_primitives::Measurement,
    ) -> Vec<veil_crypto::RuntimeSigner> {
        let workers: Vec<_> = seeds.iter().map(|seed| runtime_signer(*seed)).collect();
        let time_ms = self.head.timestamp_ms + 1;
        let parameters = self.state.parameters().unwrap();
        let mut overlay = crate::state::Overlay::new(&self.state);
        let mut outbox = crate::messages::Outbox::after(&self.head, time_ms, parameters);
        for worker in &workers {
            let record = WorkerInfo {
                operator: self.operator.public(),
                agreement_key: [0xaa; 32],
                tee: Some(measurement.kind()),
                measurement: Some(measurement),
                expires_at_ms: time_ms + 30 * 24 * 3_600 * 1_000,
                epoch_keys: Default::default(),
                cluster: None,
                last_seen_ms: time_ms,
                last_seen_live_ms: time_ms,
            };
            let published = Attestation::InsecureSoftware;
            self.chain.admit(&mut overlay, &mut outbox, &self.info(worker.public()), record, published).unwrap();
        }
        let changes = overlay.into_changes();
        self.state.apply(changes);
        self.head.timestamp_ms = time_ms;
        let (current, next) = (self.epochs().epoch().0, self.epochs().next().0);
        for worker in &workers {
            for epoch in [current, next] {
                let key = self.epoch_key(worker, epoch);
                assert_eq!(self.step(1, vec![], vec![key]).egress.len(), 1);
            }
        }
        workers
    }

    /// Registers software workers with these seeds and has each announce its keys for the current
    /// and the next epoch.
    pub(crate) fn register_workers(&mut self, seeds: &[u8]) -> Vec<veil_crypto::RuntimeSigner> {
        let workers = self.register_silent(seeds);
        let (current, next) = (self.epochs().epoch().0, self.epochs().next().0);
        for worker in &workers {
            let first = self.epoch_key(worker, current);
            let built = self.step(1, vec![], vec![first]);
            assert_eq!(built.egress.len(), 1, "{:?}", built.skipped_egress);
            let second = self.epoch_key(worker, next);
            let built = self.step(1, vec![], vec![second]);
            assert_eq!(built.egress.len(), 1, "{:?}", built.skipped_egress);
        }
        workers
    }
}

/// The epoch key pair a test runtime `identity` announces for `epoch`.
pub(crate) fn epoch_key_pair(identity: &[u8; 32], epoch: u32) -> veil_crypto::EpochKeyPair {
    veil_crypto::EpochKeyPair::from_seed(&veil_crypto::SecretBytes::new(
        veil_primitives::hashing::sha256(&(identity, epoch).encode()).0,
    ))
}

/// The X25519 key a test runtime `identity` announces for `epoch`.
pub(crate) fn epoch_agreement(identity: &[u8; 32], epoch: u32) -> [u8; 32] {
    epoch_key_pair(identity, epoch).agreement_public()
}

/// A test runtime's announcement of its key for `epoch`.
pub(crate) fn announced_key(
    chain: &Hash,
    runtime: &veil_crypto::RuntimeSigner,
    epoch: u32,
) -> veil_primitives::epoch::EpochKey {
    epoch_key_pair(&runtime.public(), epoch).announce(chain, runtime, KeyEpoch(epoch))
}

pub(crate) fn gatekeeper() -> veil_crypto::RuntimeSigner {
    runtime_signer(50)
}

fn registration(error: TransactionError) -> RegistrationError {
    match error {
        TransactionError::Registration(error) => error,
        other => panic!("expected a registration refusal, got {other}"),
    }
}

#[test]
fn a_software_worker_registers_sends_lapses_and_renews() {
    let mut net = net(true, "2026-01-01T00:00:00Z");
    let key = runtime_signer(7);
    let info = net.info(key.public());
    let register = Call::Registry(RegistryCall::RegisterWorker { info, attestation: Attestation::InsecureSoftware });
    let tx = net.sign(&net.operator.clone(), register.clone());
    let built = net.step(1_000, vec![tx], vec![]);
    assert_eq!(built.transactions.len(), 1, "{:?}", built.dropped);
    let worker = net.worker(&info.signing_key).unwrap();
    assert_eq!((worker.operator, worker.tee, worker.measurement), (net.operator.public(), None, None));
    assert_eq!(worker.expires_at_ms, net.head.timestamp_ms + 60_000);
    // Published for gatekeepers.
    let published =
        built.messages.iter().find(|p| p.message.topic == Topic::System(SystemTopic::Registrations)).unwrap();
    let record: WorkerRegistration = decode_strict(&published.message.payload).unwrap();
    assert_eq!((record.info, record.attestation), (info, Attestation::InsecureSoftware));

    // Its key now signs egress.
    let sender = SenderId::Worker(info.signing_key);
    let topic = Topic::Contract(ContractId([1; 32]));
    let built = net.step(1, vec![], vec![egress(&key, sender, 0, 0, topic, b"out")]);
    assert_eq!(built.egress.len(), 1, "{:?}", built.skipped_egress);

    // After its lifetime it lapses: its egress waits for renewal.
    let built = net.step(60_000, vec![], vec![egress(&key, sender, 0, 1, topic, b"late")]);
    assert!(built.egress.is_empty());
    assert!(matches!(built.skipped_egress[0].1, crate::EgressError::WorkerLapsed { .. }), "{:?}", built.skipped_egress);
    let tx = net.sign(&net.operator.clone(), register);
    assert_eq!(net.step(1, vec![tx], vec![]).transactions.len(), 1);
    let built = net.step(1, vec![], vec![egress(&key, sender, 0, 1, topic, b"late")]);
    assert_eq!(built.egress.len(), 1, "renewal keeps the sequence: {:?}", built.skipped_egress);
}

#[test]
fn registrations_that_do_not_fit_are_refused_with_reasons() {
    let mut net = net(false, "2026-01-01T00:00:00Z");
    let operator = net.operator.clone();
    let info = net.info([7; 32]);
    let error = registration(net.refused(
        &operator,
        Call::Registry(RegistryCall::RegisterWorker { info, attestation: Attestation::InsecureSoftware }),
    ));
    assert_eq!(error, RegistrationError::InsecureNotAllowed);

    let someone = pair("//Admin");
    let error = registration(net.refused(
        &someone,
        Call::Registry(RegistryCall::RegisterWorker { info, attestation: Attestation::InsecureSoftware }),
    ));
    assert!(matches!(error, RegistrationError::OperatorMismatch { .. }), "{error}");
    let elsewhere = RegistrationInfo { genesis: Hash([9; 32]), ..info };
    let error = registration(net.refused(
        &operator,
        Call::Registry(RegistryCall::RegisterWorker { info: elsewhere, attestation: Attestation::InsecureSoftware }),
    ));
    assert!(matches!(error, RegistrationError::WrongChain { .. }), "{error}");
    assert!(net.worker(&info.signing_key).is_none(), "nothing was recorded");

    // A key another operator registered stays theirs.
    let mut net = self::net(true, "2026-01-01T00:00:00Z");
    let operator = net.operator.clone();
    let info = net.info([7; 32]);
    let tx = net.sign(
        &operator,
        Call::Registry(RegistryCall::RegisterWorker { info, attestation: Attestation::InsecureSoftware }),
    );
    net.step(1, vec![tx], vec![]);
    let admin = net.admin.clone();
    let theirs = RegistrationInfo { operator: admin.public(), ..info };
    let error = registration(net.refused(
        &admin,
        Call::Registry(RegistryCall::RegisterWorker { info: theirs, attestation: Attestation::InsecureSoftware }),
    ));
    assert!(matches!(error, RegistrationError::OtherOperator { .. }), "{error}");
}

#[test]
fn dcap_registrations_are_verified_at_the_block_time_against_the_allowlist() {
    // A chain whose blocks fall inside the sample collateral's window.
    let mut net = net(false, "2025-06-19T12:00:00Z");
    let operator = net.operator.clone();
    let info = net.info([7; 32]);
    let dcap = |quote: &[u8]| Attestation::Dcap {
        quote: quote.to_vec().try_into().unwrap(),
        collateral: SGX_COLLATERAL.to_vec().try_into().unwrap(),
    };
    let measurement = veil_attestation::parse_quote(SGX_QUOTE).unwrap().measurement;

    // Not allowlisted.
    let error = registration(
        net.refused(&operator, Call::Registry(RegistryCall::RegisterWorker { info, attestation: dcap(SGX_QUOTE) })),
    );
    assert!(matches!(error, RegistrationError::Attestation(AttestationError::MeasurementNotAllowed(_))), "{error}");

    // Only the admin changes the allowlist.
    let allow = Call::Registry(RegistryCall::SetMeasurementAllowed { measurement, allowed: true });
    let error = registration(net.refused(&operator, allow.clone()));
    assert!(matches!(error, RegistrationError::NotAdmin { .. }), "{error}");
    let admin = net.admin.clone();
    let tx = net.sign(&admin, allow);
    assert_eq!(net.step(1, vec![tx], vec![]).transactions.len(), 1);
    assert!(net.state.measurement_allowed(&measurement).unwrap());

    // Allowlisted, but the quote vouches for other keys ("Hello, world!"): refused.
    let error = registration(
        net.refused(&operator, Call::Registry(RegistryCall::RegisterWorker { info, attestation: dcap(SGX_QUOTE) })),
    );
    assert!(matches!(error, RegistrationError::Attestation(AttestationError::ReportDataMismatch { .. })), "{error}");

    // A flipped byte, or a byte after the quote, is refused before anything is recorded.
    let mut forged = SGX_QUOTE.to_vec();
    forged[48 + 64] ^= 1;
    let error = registration(
        net.refused(&operator, Call::Registry(RegistryCall::RegisterWorker { info, attestation: dcap(&forged) })),
    );
    assert!(matches!(error, RegistrationError::Attestation(_)), "{error}");
    let mut extended = SGX_QUOTE.to_vec();
    extended.push(1);
    assert!(extended.len() <= MAX_QUOTE_BYTES);
    let error = registration(
        net.refused(&operator, Call::Registry(RegistryCall::RegisterWorker { info, attestation: dcap(&extended) })),
    );
    assert!(matches!(error, RegistrationError::Attestation(AttestationError::Quote(_))), "{error}");

    // Long after the collateral's window, verification itself fails.
    net.step(90 * 24 * 3_600 * 1_000, vec![], vec![]);
    let error = registration(
        net.refused(&operator, Call::Registry(RegistryCall::RegisterWorker { info, attestation: dcap(SGX_QUOTE) })),
    );
    assert!(matches!(error, RegistrationError::Attestation(AttestationError::Verification(_))), "{error}");
    assert!(net.worker(&info.signing_key).is_none());
}

#[test]
fn the_admin_assigns_a_contract_to_a_formed_cluster_and_both_topics_carry_it() {
    let mut net = net(true, "2026-01-01T00:00:00Z");
    let operator = net.operator.clone();
    let admin = net.admin.clone();
    let contract = ContractId([0xc0; 32]);
    let code = veil_primitives::contract::builtin_code_hash("notes");
    let assign = |cluster| Call::Contracts(ContractsCall::AssignContract { contract, code, cluster });
    let error = registration(net.refused(&operator, assign(ClusterId(1))));
    assert!(matches!(error, RegistrationError::NotAdmin { .. }), "{error}");
    assert_eq!(
        contract_error(net.refused(&admin, assign(ClusterId(1)))),
        crate::ContractError::UnknownCluster(ClusterId(1))
    );

    net.open_first_epoch();
    let workers = net.register_workers(&[1, 2]);
    let identities: Vec<[u8; 32]> = workers.iter().map(|worker| worker.public()).collect();
    let tx = net.sign(
        &admin,
        Call::Contracts(ContractsCall::FormCluster { cluster: ClusterId(1), workers: identities.try_into().unwrap() }),
    );
    assert_eq!(net.step(1, vec![tx], vec![]).transactions.len(), 1);

    let tx = net.sign(&admin, assign(ClusterId(1)));
    let built = net.step(1, vec![tx], vec![]);
    assert_eq!(built.transactions.len(), 1, "{:?}", built.dropped);
    let expected = Assignment { contract, code, cluster: ClusterId(1), epoch: KeyEpoch(0) };
    let on = |topic: Topic| built.messages.iter().find(|p| p.message.topic == topic).unwrap();
    let for_gatekeepers = on(Topic::System(SystemTopic::Assignments));
    assert_eq!(for_gatekeepers.message.origin, Origin::Chain);
    assert_eq!(
        decode_strict::<AssignmentMessage>(&for_gatekeepers.message.payload).unwrap(),
        AssignmentMessage::Contract(expected.clone())
    );
    let for_workers = on(Topic::Contract(contract));
    assert_eq!(for_workers.index, 0, "the assignment opens the contract's topic");
    assert_eq!(
        decode_strict::<ContractMessage>(&for_workers.message.payload).unwrap(),
        ContractMessage::Assigned(expected)
    );
}

fn contract_error(error: TransactionError) -> crate::ContractError {
    match error {
        TransactionError::Contract(error) => error,
        other => panic!("expected a contract refusal, got {other}"),
    }
}

#[test]
fn anyone_instantiates_uploaded_code_on_a_formed_cluster_and_tokens_move_in_and_out() {
    use crate::ContractError;
    use veil_crypto::confidential::{ContractKeys, KeyMessage};
    use veil_primitives::{
        Balance, ClusterId, SystemTopic,
        contract::{ClusterFormed, Deployment, Release, contract_id},
    };
    let mut net = net(true, "2026-01-01T00:00:00Z");
    let (operator, admin) = (net.operator.clone(), net.admin.clone());
    let cluster = ClusterId(3);
    let form = |workers: Vec<[u8; 32]>| {
        Call::Contracts(ContractsCall::FormCluster { cluster, workers: workers.try_into().unwrap() })
    };
    // Before the first epoch opens, no cluster forms.
    let error = net.refused(&admin, form(vec![[1; 32]]));
    assert!(matches!(error, TransactionError::Registration(_) | TransactionError::Epoch(_)), "{error}");
    net.open_first_epoch();
    let registered = net.register_workers(&[1, 2]);
    let (first, second) = (registered[0].public(), registered[1].public());
    // A registered worker that announced no epoch keys cannot join.
    let silent = runtime_signer(3).public();
    let tx = net.sign(
        &operator,
        Call::Registry(RegistryCall::RegisterWorker {
            info: net.info(silent),
            attestation: Attestation::InsecureSoftware,
        }),
    );
    assert_eq!(net.step(1, vec![tx], vec![]).transactions.len(), 1);
    let error = net.refused(&admin, form(vec![first, silent]));
    assert!(matches!(error, TransactionError::Epoch(crate::EpochError::NoEpochKeys { .. })), "{error}");

    // Clusters: the admin forms them, once per number, of registered workers each named once.
    assert!(matches!(registration(net.refused(&operator, form(vec![first]))), RegistrationError::NotAdmin { .. }));
    assert_eq!(registration(net.refused(&admin, form(vec![]))), RegistrationError::NoWorkers);
    assert_eq!(registration(net.refused(&admin, form(vec![first, first]))), RegistrationError::DuplicateWorker(first));
    assert_eq!(registration(net.refused(&admin, form(vec![[9; 32]]))), RegistrationError::UnknownWorker([9; 32]));
    let tx = net.sign(&admin, form(vec![first, second]));
    let built = net.step(1, vec![tx], vec![]);
    assert_eq!(built.transactions.len(), 1, "{:?}", built.dropped);
    let duty = built.messages.iter().find(|p| p.message.topic == Topic::System(SystemTopic::Assignments)).unwrap();
    let formed = decode_strict::<AssignmentMessage>(&duty.message.payload).unwrap();
    let AssignmentMessage::Cluster(ClusterFormed { cluster: ClusterId(3), epoch: KeyEpoch(0), workers, .. }) = formed
    else {
        panic!("{formed:?}")
    };
    let expected: Vec<AssignedWorker> = [first, second]
        .iter()
        .map(|identity| AssignedWorker { identity: *identity, agreement: epoch_agreement(identity, 0) })
        .collect();
    assert_eq!(workers.to_vec(), expected, "each worker with its key of the epoch");
    assert_eq!(contract_error(net.refused(&admin, form(vec![silent]))), ContractError::ClusterExists(cluster));
    let error = net.refused(
        &admin,
        Call::Contracts(ContractsCall::FormCluster { cluster: ClusterId(4), workers: vec![first].try_into().unwrap() }),
    );
    assert!(matches!(error, TransactionError::Epoch(crate::EpochError::InCluster { .. })), "{error}");

    // Code: anyone uploads it, once.
    let module = b"\0asm a module the workers will judge".to_vec();
    let code = veil_primitives::hashing::sha256(&module);
    let upload = Call::Contracts(ContractsCall::UploadCode { code: module.clone().try_into().unwrap() });
    let tx = net.sign(&operator, upload.clone());
    assert_eq!(net.step(1, vec![tx], vec![]).transactions.len(), 1);
    assert_eq!(contract_error(net.refused(&admin, upload)), ContractError::CodeExists(code));

    // Instantiation: known code, formed cluster, bounded fuel, a fresh id.
    let instantiate = |code, cluster, salt: u8, fuel| {
        Call::Contracts(ContractsCall::Instantiate {
            code,
            cluster,
            salt: [salt; 32],
            fuel,
            argument: b"sealed".to_vec().try_into().unwrap(),
        })
    };
    let max = net.chain.genesis().economics.max_command_fuel;
    let unknown = Hash([1; 32]);
    assert_eq!(
        contract_error(net.refused(&operator, instantiate(unknown, cluster, 0, 1))),
        ContractError::UnknownCode(unknown)
    );
    let nowhere = ClusterId(9);
    assert_eq!(
        contract_error(net.refused(&operator, instantiate(code, nowhere, 0, 1))),
        ContractError::UnknownCluster(nowhere)
    );
    let too_much = contract_error(net.refused(&operator, instantiate(code, cluster, 0, max + 1)));
    assert_eq!(too_much, ContractError::FuelLimit { fuel: max + 1, limit: max });
    let nonce = net.nonces[&operator.public()];
    let tx = net.sign(&operator, instantiate(code, cluster, 0, 1_000));
    let built = net.step(1, vec![tx], vec![]);
    assert_eq!(built.transactions.len(), 1, "{:?}", built.dropped);
    let contract = contract_id(&operator.public(), &code, &[0; 32]);
    let on_topic: Vec<ContractMessage> = built
        .messages
        .iter()
        .filter(|p| p.message.topic == Topic::Contract(contract))
        .map(|p| decode_strict(&p.message.payload).unwrap())
        .collect();
    let [
        ContractMessage::Assigned(assignment),
        ContractMessage::Deployed(Deployment { owner, nonce: at, code: shipped, .. }),
    ] = &on_topic[..]
    else {
        panic!("{on_topic:?}")
    };
    assert_eq!((assignment.cluster, assignment.epoch), (cluster, KeyEpoch(0)));
    assert_eq!((*owner, *at, shipped.to_vec()), (operator.public(), nonce, module));
    assert_eq!(
        contract_error(net.refused(&operator, instantiate(code, cluster, 0, 1))),
        ContractError::ContractExists(contract)
    );

    // Commands: to existing contracts only; fuel and value are paid up front, value is locked.
    let command = |contract, fuel, value| {
        Call::Contracts(ContractsCall::Command {
            contract,
            payload: b"sealed".to_vec().try_into().unwrap(),
            fuel,
            value: Balance(value),
        })
    };
    let _ = &registered;
    let stranger = ContractId([0xee; 32]);
    assert_eq!(contract_error(net.refused(&admin, command(stranger, 0, 0))), ContractError::UnknownContract(stranger));
    let before = net.state.account(&admin.public()).unwrap().balance;
    let pots_before = net.state.reward_pots().unwrap();
    let minted_before = net.state.issuance().unwrap().minted.0;
    let tx = net.sign(&admin, command(contract, 1_000, 500));
    let cost = fees::cost(&net.chain.genesis().economics, &tx).unwrap();
    assert_eq!(net.step(1, vec![tx], vec![]).transactions.len(), 1);
    let fuel_cost = net.chain.genesis().economics.fuel_price.0 * 1_000;
    assert_eq!(cost.fuel.0, fuel_cost);
    let after = net.state.account(&admin.public()).unwrap().balance;
    assert_eq!(before.0 - after.0, cost.fee.0 + fuel_cost + 500);
    let pots = net.state.reward_pots().unwrap();
    let minted = net.state.issuance().unwrap().minted.0 - minted_before;
    let to_workers = pots.workers.0 - pots_before.workers.0;
    let expected = fees::split_fee(&net.chain.genesis().economics, cost.fee).workers.0 + fuel_cost;
    assert!(to_workers >= expected && to_workers - expected <= minted, "fee share and fuel go to the worker pot");
    let locked = |net: &Net| net.state.contract(&contract).unwrap().unwrap().locked.0;
    assert_eq!(locked(&net), 500);

    // The gatekeeper set's key message records the contract's keys and registers its egress key.
    let contract_signer = runtime_signer(77);
    let keys = ContractKeys {
        contract,
        code,
        cluster,
        epoch: KeyEpoch(0),
        agreement: [0xab; 32],
        signing: contract_signer.public(),
    };
    let key_message = egress(
        &master().set_signer(KeyEpoch(0)),
        SenderId::GatekeeperSet,
        0,
        net.next_sequence(SenderId::GatekeeperSet),
        Topic::System(SystemTopic::KeyEpochs),
        &KeyMessage::ContractKeys(keys).encode(),
    );
    assert_eq!(net.step(1, vec![], vec![key_message]).egress.len(), 1);
    let recorded = net.state.contract(&contract).unwrap().unwrap().keys.unwrap();
    assert_eq!((recorded.agreement, recorded.signing), ([0xab; 32], contract_signer.public()));

    // Releases: the contract's egress moves locked tokens out; more than it holds moves nothing.
    let release = |sequence, amount| {
        let payload = Release { to: operator.public(), amount: Balance(amount) }.encode();
        egress(
            &contract_signer,
            SenderId::Contract(contract),
            0,
            sequence,
            Topic::System(SystemTopic::Releases),
            &payload,
        )
    };
    let operator_before = net.state.account(&operator.public()).unwrap().balance.0;
    assert_eq!(net.step(1, vec![], vec![release(0, 200)]).egress.len(), 1);
    assert_eq!(locked(&net), 300);
    assert_eq!(net.state.account(&operator.public()).unwrap().balance.0, operator_before + 200);
    assert_eq!(net.step(1, vec![], vec![release(1, 1_000)]).egress.len(), 1, "accepted, published, not applied");
    assert_eq!(locked(&net), 300);
    // A stranger cannot release: contracts only, with the registered key.
    let forged =
        egress(&runtime_signer(78), SenderId::Contract(contract), 0, 2, Topic::System(SystemTopic::Releases), &[]);
    assert!(net.step(1, vec![], vec![forged]).egress.is_empty());
    testing::assert_issuance_invariant(&net.state);
}

/// The attack of issue 21 (revocation that does not revoke): a runtime release turns out to be
/// vulnerable and its measurement is taken off the allowlist, but its workers stayed in their
/// clusters, kept sending egress and kept receiving keys. Disallowing lapses every registration of
/// the measurement at once: egress refused, removable from its cluster without waiting for the
/// liveness window, and a revocation on the duty log for the gatekeepers.
#[test]
fn disallowing_a_measurement_revokes_every_worker_running_it() {
    use veil_primitives::{EpochsCall, epoch::Revocation};
    let mut net = net(true, "2026-01-01T00:00:00Z");
    net.open_first_epoch();
    let measurement = veil_attestation::parse_quote(SGX_QUOTE).unwrap().measurement;
    let admin = net.admin.clone();
    let allow = net.sign(&admin, Call::Registry(RegistryCall::SetMeasurementAllowed { measurement, allowed: true }));
    assert_eq!(net.step(1, vec![allow], vec![]).transactions.len(), 1);
    let vulnerable = net.admit_hardware(&[1, 2], measurement);
    let spare = net.register_workers(&[3]);
    let [one, two] = [&vulnerable[0], &vulnerable[1]].map(|worker| worker.public());
    let cluster = ClusterId(1);
    let form = net.sign(
        &admin,
        Call::Contracts(ContractsCall::FormCluster { cluster, workers: vec![one, two].try_into().unwrap() }),
    );
    assert_eq!(net.step(1, vec![form], vec![]).transactions.len(), 1);

    let disallow =
        net.sign(&admin, Call::Registry(RegistryCall::SetMeasurementAllowed { measurement, allowed: false }));
    let built = net.step(1, vec![disallow], vec![]);
    assert_eq!(built.transactions.len(), 1, "{:?}", built.dropped);
    let revoked_at = net.head.timestamp_ms;
    for worker in [one, two] {
        assert_eq!(net.worker(&worker).unwrap().expires_at_ms, revoked_at, "its registration lapsed");
    }
    assert!(net.worker(&spare[0].public()).unwrap().expires_at_ms > revoked_at, "other workers keep theirs");
    let duty = built.messages.iter().find(|p| p.message.topic == Topic::System(SystemTopic::Assignments)).unwrap();
    assert_eq!(
        decode_strict::<AssignmentMessage>(&duty.message.payload).unwrap(),
        AssignmentMessage::Revoked(Revocation { measurement, at_ms: revoked_at })
    );

    // Its egress stops.
    let key = net.epoch_key(&vulnerable[0], 2);
    let built = net.step(1, vec![], vec![key]);
    assert!(matches!(built.skipped_egress[0].1, crate::EgressError::WorkerLapsed { .. }), "{:?}", built.skipped_egress);

    // A report removes it at once (no liveness window to wait out) and a standby worker replaces it
    // in the next block.
    let reporter = net.operator.clone();
    let report = net.sign(&reporter, Call::Epochs(EpochsCall::ReportOffline { cluster, worker: one }));
    let built = net.step(1, vec![report], vec![]);
    assert_eq!(built.transactions.len(), 1, "{:?}", built.dropped);
    net.step(1, vec![], vec![]);
    assert_eq!(net.state.cluster(cluster).unwrap().unwrap().workers.to_vec(), vec![two, spare[0].public()]);

    // Allowed again, nothing comes back by itself: a worker renews to count again.
    let allow = net.sign(&admin, Call::Registry(RegistryCall::SetMeasurementAllowed { measurement, allowed: true }));
    assert_eq!(net.step(1, vec![allow], vec![]).transactions.len(), 1);
    assert!(net.worker(&two).unwrap().expires_at_ms <= net.head.timestamp_ms);
}

/// The TCB statuses the chain accepts and the advisories it refuses are parameters in state: a
/// change applies to the next registration. The sample SGX quote's platform is
/// `ConfigurationAndSWHardeningNeeded` with INTEL-SA-00289 and INTEL-SA-00615; it passes the
/// default rules (and then fails only on its report data, which binds no test key).
#[test]
fn the_attestation_rules_are_parameters_in_state() {
    use veil_primitives::{ParametersCall, TcbStatus};
    let mut net = net(false, "2025-06-19T12:00:00Z");
    let (operator, admin) = (net.operator.clone(), net.admin.clone());
    let measurement = veil_attestation::parse_quote(SGX_QUOTE).unwrap().measurement;
    let allow = net.sign(&admin, Call::Registry(RegistryCall::SetMeasurementAllowed { measurement, allowed: true }));
    assert_eq!(net.step(1, vec![allow], vec![]).transactions.len(), 1);
    let info = net.info([7; 32]);
    let attestation = Attestation::Dcap {
        quote: SGX_QUOTE.to_vec().try_into().unwrap(),
        collateral: SGX_COLLATERAL.to_vec().try_into().unwrap(),
    };
    let register = Call::Registry(RegistryCall::RegisterWorker { info, attestation });
    let error = registration(net.refused(&operator, register.clone()));
    assert!(matches!(error, RegistrationError::Attestation(AttestationError::ReportDataMismatch { .. })), "{error}");

    let mut parameters = net.state.parameters().unwrap();
    parameters.attestation.refused_advisories = vec!["INTEL-SA-00615".parse().unwrap()].try_into().unwrap();
    let set = net.sign(&admin, Call::Parameters(ParametersCall::Set(parameters.clone())));
    assert_eq!(net.step(1, vec![set], vec![]).transactions.len(), 1);
    let error = registration(net.refused(&operator, register.clone()));
    assert_eq!(error, RegistrationError::Attestation(AttestationError::AdvisoryRefused("INTEL-SA-00615".into())));

    parameters.attestation.refused_advisories = Default::default();
    parameters.attestation.accepted_statuses = vec![TcbStatus::UpToDate].try_into().unwrap();
    let set = net.sign(&admin, Call::Parameters(ParametersCall::Set(parameters)));
    assert_eq!(net.step(1, vec![set], vec![]).transactions.len(), 1);
    let error = registration(net.refused(&operator, register));
    assert!(matches!(error, RegistrationError::Attestation(AttestationError::StatusRefused { .. })), "{error}");
}

/// Issue 22, item 4 (in part): a full standby list makes room for a new registration by dropping
/// workers whose registration lapsed; before, once 1,024 workers had ever stood by, nobody could.
#[test]
fn a_full_standby_list_makes_room_by_dropping_lapsed_workers() {
    let mut net = net(true, "2026-01-01T00:00:00Z");
    net.open_first_epoch();
    // Fill the list directly, as 1,024 earlier registrations would have: all lapsed but the last.
    let lapsed_by = net.head.timestamp_ms + 1;
    let full: Vec<[u8; 32]> =
        (0..crate::state::MAX_STANDBY as u32).map(|i| veil_primitives::hashing::sha256(&i.to_le_bytes()).0).collect();
    let mut overlay = crate::state::Overlay::new(&net.state);
    for (index, identity) in full.iter().enumerate() {
        let live = index + 1 == full.len();
        let record = WorkerInfo {
            operator: net.operator.public(),
            agreement_key: [0xaa; 32],
            tee: None,
            measurement: None,
            expires_at_ms: if live { u64::MAX } else { lapsed_by },
            epoch_keys: Default::default(),
            cluster: None,
            last_seen_ms: 0,
            last_seen_live_ms: 0,
        };
        overlay.set_worker(identity, &record);
    }
    overlay.set_standby(&full.clone().try_into().unwrap());
    let changes = overlay.into_changes();
    net.state.apply(changes);

    let newcomer = net.register_silent(&[7])[0].public();
    assert_eq!(net.state.standby().unwrap().to_vec(), vec![full[full.len() - 1], newcomer]);
}
