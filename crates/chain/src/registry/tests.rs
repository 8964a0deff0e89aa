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

const SGX_QUOTE: &[u8] = include_bytes!("../../../attestation/testdata/sgx_quote");
const SGX_COLLATERAL: &[u8] = include_bytes!("../../../attestation/testdata/sgx_quote_collateral.json");

struct Net {
    chain: Chain,
    state: MemoryState,
    head: Header,
    operator: AccountPair,
    admin: AccountPair,
    nonces: std::collections::HashMap<AccountId, u64>,
}

fn net(allow_insecure: bool, genesis_time: &str) -> Net {
    let (operator, admin) = (pair("//Operator"), pair("//Admin"));
    let mut genesis = testing::genesis(&[operator.public(), admin.public()], 1_000);
    genesis.allow_insecure_workers = allow_insecure;
    genesis.genesis_time_ms = parse_rfc3339(genesis_time).unwrap() * 1_000;
    genesis.registration.measurement_admin = admin.public();
    let chain = Chain::new(genesis).unwrap();
    let mut state = MemoryState::default();
    state.apply(chain.genesis_changes());
    let head = chain.genesis_header(Hash::ZERO);
    Net { chain, state, head, operator, admin, nonces: Default::default() }
}

impl Net {
    fn info(&self, signing_key: [u8; 32]) -> RegistrationInfo {
        RegistrationInfo {
            signing_key,
            agreement_key: [0xaa; 32],
            genesis: self.chain.id(),
            operator: self.operator.public(),
        }
    }

    fn sign(&mut self, from: &AccountPair, call: Call) -> SignedTransaction {
        let nonce = self.nonces.entry(from.public()).or_default();
        let tx =
            from.sign_transaction(Transaction { genesis: self.chain.id(), signer: from.public(), nonce: *nonce, call });
        *nonce += 1;
        tx
    }

    /// A block `after_ms` after the head with these candidates; what it kept is applied.
    fn step(&mut self, after_ms: u64, txs: Vec<SignedTransaction>, copies: Vec<SignedEgress>) -> Execution {
        let timestamp = self.head.timestamp_ms + after_ms;
        let built = self.chain.build(&self.state, &self.head, timestamp, txs, copies).unwrap();
        for (_, error) in &built.dropped {
            assert!(!matches!(error, TransactionError::StaleNonce { .. } | TransactionError::FutureNonce { .. }));
        }
        self.state.apply(built.changes.clone());
        self.head.height += 1;
        self.head.timestamp_ms = timestamp;
        built
    }

    fn refused(&mut self, from: &AccountPair, call: Call) -> TransactionError {
        let tx = self.sign(from, call);
        let mut built = self.step(1, vec![tx], vec![]);
        *self.nonces.get_mut(&from.public()).unwrap() -= 1;
        assert!(built.transactions.is_empty());
        built.dropped.remove(0).1
    }

    fn worker(&self, key: &[u8; 32]) -> Option<WorkerInfo> {
        Overlay::new(&self.state).worker(key).unwrap()
    }
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
    let register = Call::RegisterWorker { info, attestation: Attestation::InsecureSoftware };
    let tx = net.sign(&net.operator.clone(), register.clone());
    let built = net.step(1_000, vec![tx], vec![]);
    assert_eq!(built.transactions.len(), 1, "{:?}", built.dropped);
    let worker = net.worker(&info.signing_key).unwrap();
    assert_eq!((worker.operator, worker.tee, worker.measurement), (net.operator.public(), None, None));
    assert_eq!(worker.expires_at_ms, net.head.timestamp_ms + 60_000);
    // Published for gatekeepers.
    let published = &built.messages[0];
    assert_eq!(published.message.topic, Topic::System(SystemTopic::Registrations));
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
    let error =
        registration(net.refused(&operator, Call::RegisterWorker { info, attestation: Attestation::InsecureSoftware }));
    assert_eq!(error, RegistrationError::InsecureNotAllowed);

    let someone = pair("//Admin");
    let error =
        registration(net.refused(&someone, Call::RegisterWorker { info, attestation: Attestation::InsecureSoftware }));
    assert!(matches!(error, RegistrationError::OperatorMismatch { .. }), "{error}");
    let elsewhere = RegistrationInfo { genesis: Hash([9; 32]), ..info };
    let error = registration(
        net.refused(&operator, Call::RegisterWorker { info: elsewhere, attestation: Attestation::InsecureSoftware }),
    );
    assert!(matches!(error, RegistrationError::WrongChain { .. }), "{error}");
    assert!(net.worker(&info.signing_key).is_none(), "nothing was recorded");

    // A key another operator registered stays theirs.
    let mut net = self::net(true, "2026-01-01T00:00:00Z");
    let operator = net.operator.clone();
    let info = net.info([7; 32]);
    let tx = net.sign(&operator, Call::RegisterWorker { info, attestation: Attestation::InsecureSoftware });
    net.step(1, vec![tx], vec![]);
    let admin = net.admin.clone();
    let theirs = RegistrationInfo { operator: admin.public(), ..info };
    let error = registration(
        net.refused(&admin, Call::RegisterWorker { info: theirs, attestation: Attestation::InsecureSoftware }),
    );
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
    let error = registration(net.refused(&operator, Call::RegisterWorker { info, attestation: dcap(SGX_QUOTE) }));
    assert!(matches!(error, RegistrationError::Attestation(AttestationError::MeasurementNotAllowed(_))), "{error}");

    // Only the admin changes the allowlist.
    let allow = Call::SetMeasurementAllowed { measurement, allowed: true };
    let error = registration(net.refused(&operator, allow.clone()));
    assert!(matches!(error, RegistrationError::NotAdmin { .. }), "{error}");
    let admin = net.admin.clone();
    let tx = net.sign(&admin, allow);
    assert_eq!(net.step(1, vec![tx], vec![]).transactions.len(), 1);
    assert!(Overlay::new(&net.state).measurement_allowed(&measurement).unwrap());

    // Allowlisted, but the quote vouches for other keys ("Hello, world!"): refused.
    let error = registration(net.refused(&operator, Call::RegisterWorker { info, attestation: dcap(SGX_QUOTE) }));
    assert!(matches!(error, RegistrationError::Attestation(AttestationError::ReportDataMismatch { .. })), "{error}");

    // A flipped byte, or a byte after the quote, is refused before anything is recorded.
    let mut forged = SGX_QUOTE.to_vec();
    forged[48 + 64] ^= 1;
    let error = registration(net.refused(&operator, Call::RegisterWorker { info, attestation: dcap(&forged) }));
    assert!(matches!(error, RegistrationError::Attestation(_)), "{error}");
    let mut extended = SGX_QUOTE.to_vec();
    extended.push(1);
    assert!(extended.len() <= MAX_QUOTE_BYTES);
    let error = registration(net.refused(&operator, Call::RegisterWorker { info, attestation: dcap(&extended) }));
    assert!(matches!(error, RegistrationError::Attestation(AttestationError::Quote(_))), "{error}");

    // Long after the collateral's window, verification itself fails.
    net.step(90 * 24 * 3_600 * 1_000, vec![], vec![]);
    let error = registration(net.refused(&operator, Call::RegisterWorker { info, attestation: dcap(SGX_QUOTE) }));
    assert!(matches!(error, RegistrationError::Attestation(AttestationError::Verification(_))), "{error}");
    assert!(net.worker(&info.signing_key).is_none());
}

#[test]
fn the_admin_assigns_a_contract_to_current_workers_and_both_topics_carry_it() {
    let mut net = net(true, "2026-01-01T00:00:00Z");
    let operator = net.operator.clone();
    let (first, second) = (runtime_signer(1).public(), runtime_signer(2).public());
    for key in [first, second] {
        let tx = net
            .sign(&operator, Call::RegisterWorker { info: net.info(key), attestation: Attestation::InsecureSoftware });
        assert_eq!(net.step(1, vec![tx], vec![]).transactions.len(), 1);
    }
    let contract = ContractId([0xc0; 32]);
    let code = veil_primitives::contract::builtin_code_hash("notes");
    let assign = |workers: Vec<[u8; 32]>| Call::AssignContract {
        contract,
        code,
        cluster: ClusterId(1),
        workers: workers.try_into().unwrap(),
    };

    // Only the admin, only registered and current workers, each once, at least one.
    let error = registration(net.refused(&operator, assign(vec![first])));
    assert!(matches!(error, RegistrationError::NotAdmin { .. }), "{error}");
    let admin = net.admin.clone();
    assert_eq!(registration(net.refused(&admin, assign(vec![]))), RegistrationError::NoWorkers);
    assert_eq!(
        registration(net.refused(&admin, assign(vec![first, first]))),
        RegistrationError::DuplicateWorker(first)
    );
    assert_eq!(registration(net.refused(&admin, assign(vec![[9; 32]]))), RegistrationError::UnknownWorker([9; 32]));

    let tx = net.sign(&admin, assign(vec![first, second]));
    let built = net.step(1, vec![tx], vec![]);
    assert_eq!(built.transactions.len(), 1, "{:?}", built.dropped);
    let expected = Assignment {
        contract,
        code,
        cluster: ClusterId(1),
        epoch: KeyEpoch(0),
        workers: vec![
            AssignedWorker { identity: first, agreement: [0xaa; 32] },
            AssignedWorker { identity: second, agreement: [0xaa; 32] },
        ]
        .try_into()
        .unwrap(),
    };
    let on = |topic: Topic| built.messages.iter().find(|p| p.message.topic == topic).unwrap();
    let for_gatekeepers = on(Topic::System(SystemTopic::Assignments));
    assert_eq!((for_gatekeepers.index, for_gatekeepers.message.origin), (0, Origin::Chain));
    assert_eq!(decode_strict::<Assignment>(&for_gatekeepers.message.payload).unwrap(), expected);
    let for_workers = on(Topic::Contract(contract));
    assert_eq!(for_workers.index, 0, "the assignment opens the contract's topic");
    assert_eq!(
        decode_strict::<ContractMessage>(&for_workers.message.payload).unwrap(),
        ContractMessage::Assigned(expected)
    );

    // A lapsed worker cannot be assigned.
    net.step(60_000, vec![], vec![]);
    let error = registration(net.refused(&admin, assign(vec![first])));
    assert!(matches!(error, RegistrationError::LapsedWorker { .. }), "{error}");
}
