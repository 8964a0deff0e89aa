//! Every call and every egress copy reads only what its module declares: a node reads a block's
//! keys ahead and executes against exactly those, so an undeclared read would abort a proposal (or
//! a verification) with "key was not read ahead". A recording reader watches execution over calls
//! of every variant and runtimes' egress of every kind the chain acts on, on a chain with workers,
//! a cluster, code and contracts, in passing and in failing cases alike, in blocks where a
//! scheduled rotation is due and where it is not.

use parity_scale_codec::Encode;
use proptest::prelude::*;
use std::{cell::RefCell, collections::BTreeSet, sync::OnceLock};
use veil_crypto::AccountPair;
use veil_crypto::confidential::{KeyMessage, Proposal};
use veil_primitives::{
    AccountId, AccountsCall, Attestation, Balance, Call, ClusterId, ContractId, ContractsCall, EpochsCall, Hash,
    Header, KeyEpoch, Measurement, Parameters, ParametersCall, RegistrationInfo, RegistryCall, SenderId, SignedEgress,
    SignedTransaction, SystemTopic, Topic, Transaction,
    contract::{AssignmentMessage, builtin_code_hash, contract_id},
    epoch::Heartbeat,
    hashing::sha256,
};

use crate::{
    Chain, MemoryState, ReadState as _, StateError, StateKey, StateReader,
    registry::tests::{Net, announced_key, gatekeeper, net},
    testing::{egress, runtime_signer},
};

const SGX_QUOTE: &[u8] = include_bytes!("../../../attestation/testdata/sgx_quote");
const SGX_COLLATERAL: &[u8] = include_bytes!("../../../attestation/testdata/sgx_quote_collateral.json");
const CODE: &[u8] = b"\0asm\x01\0\0\0";

/// A store that remembers every key read from it.
struct Recording<'a> {
    state: &'a MemoryState,
    reads: RefCell<BTreeSet<Vec<u8>>>,
}

impl StateReader for Recording<'_> {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StateError> {
        self.reads.borrow_mut().insert(key.to_vec());
        self.state.get(key)
    }
}

/// A chain with content for every call to act on: the first epoch open, workers 1 to 3
/// registered with their epoch keys, cluster 1 formed of workers 1 and 2, code uploaded, a wasm
/// contract instantiated and a built-in one assigned, the sample quote's measurement allowed and
/// two hardware workers (4 and 5) filed under it.
struct World {
    chain: Chain,
    state: MemoryState,
    head: Header,
    admin: AccountPair,
    operator: AccountPair,
    workers: Vec<[u8; 32]>,
    wasm: ContractId,
    builtin: ContractId,
    nonces: std::collections::HashMap<AccountId, u64>,
}

fn world() -> &'static World {
    static WORLD: OnceLock<World> = OnceLock::new();
    WORLD.get_or_init(|| {
        let mut net: Net = net(true, "2025-06-19T12:00:00Z");
        net.open_first_epoch();
        let workers: Vec<[u8; 32]> = net.register_workers(&[1, 2, 3]).iter().map(|w| w.public()).collect();
        let (admin, operator) = (net.admin.clone(), net.operator.clone());
        let measurement = veil_attestation::parse_quote(SGX_QUOTE).unwrap().measurement;
        let code = sha256(CODE);
        let calls = [
            Call::Contracts(ContractsCall::FormCluster {
                cluster: ClusterId(1),
                workers: workers[..2].to_vec().try_into().unwrap(),
            }),
            Call::Contracts(ContractsCall::UploadCode { code: CODE.to_vec().try_into().unwrap() }),
            Call::Contracts(ContractsCall::AssignContract {
                contract: ContractId([9; 32]),
                code: builtin_code_hash("notes"),
                cluster: ClusterId(1),
            }),
            Call::Registry(RegistryCall::SetMeasurementAllowed { measurement, allowed: true }),
        ];
        // A rotation falls due in blocks a minute after the tip (the late cases below).
        let mut parameters = net.state.parameters().unwrap();
        parameters.keys.rotation_interval_ms = 30_000;
        let calls = calls.into_iter().chain([Call::Parameters(ParametersCall::Set(parameters))]);
        for call in calls {
            let tx = net.sign(&admin, call);
            let built = net.step(1, vec![tx], vec![]);
            assert!(built.dropped.is_empty(), "{:?}", built.dropped);
        }
        let instantiate = Call::Contracts(ContractsCall::Instantiate {
            code,
            cluster: ClusterId(1),
            salt: [0; 32],
            fuel: 0,
            argument: Default::default(),
        });
        let tx = net.sign(&operator, instantiate);
        assert!(net.step(1, vec![tx], vec![]).dropped.is_empty());
        net.admit_hardware(&[4, 5], measurement);
        let wasm = contract_id(&operator.public(), &code, &[0; 32]);
        World {
            chain: net.chain,
            state: net.state,
            head: net.head,
            admin,
            operator,
            workers,
            wasm,
            builtin: ContractId([9; 32]),
            nonces: net.nonces,
        }
    })
}

/// Which variant a call is. Adding a call fails to compile here until it is counted, and then
/// [`every_variant_is_generated`] fails until [`any_call`] generates it.
fn variant(call: &Call) -> usize {
    match call {
        Call::Accounts(AccountsCall::Transfer { .. }) => 0,
        Call::Registry(RegistryCall::RegisterWorker { .. }) => 1,
        Call::Registry(RegistryCall::SetMeasurementAllowed { .. }) => 2,
        Call::Contracts(ContractsCall::FormCluster { .. }) => 3,
        Call::Contracts(ContractsCall::UploadCode { .. }) => 4,
        Call::Contracts(ContractsCall::Instantiate { .. }) => 5,
        Call::Contracts(ContractsCall::Command { .. }) => 6,
        Call::Contracts(ContractsCall::AssignContract { .. }) => 7,
        Call::Epochs(EpochsCall::RotateKeys) => 8,
        Call::Epochs(EpochsCall::ReportOffline { .. }) => 9,
        Call::Parameters(ParametersCall::Set(_)) => 10,
        Call::Accounts(AccountsCall::RevokeSession { .. }) => 11,
        Call::Epochs(EpochsCall::ReplaceGatekeeper { .. }) => 12,
    }
}
const VARIANTS: usize = 13;

/// Ids that exist in the world, and ones that do not.
fn identity() -> impl Strategy<Value = [u8; 32]> {
    let workers = world().workers.clone();
    prop_oneof![(0..workers.len()).prop_map(move |index| workers[index]), any::<[u8; 32]>()]
}
fn account() -> impl Strategy<Value = AccountId> {
    let (admin, operator) = (world().admin.public(), world().operator.public());
    prop_oneof![Just(admin), Just(operator), any::<[u8; 32]>().prop_map(AccountId)]
}
fn cluster() -> impl Strategy<Value = ClusterId> {
    prop_oneof![Just(ClusterId(1)), Just(ClusterId(2))]
}
fn contract() -> impl Strategy<Value = ContractId> {
    prop_oneof![Just(world().wasm), Just(world().builtin), any::<[u8; 32]>().prop_map(ContractId)]
}
fn code_hash() -> impl Strategy<Value = Hash> {
    prop_oneof![Just(sha256(CODE)), Just(builtin_code_hash("notes")), any::<[u8; 32]>().prop_map(Hash)]
}
fn bytes<const N: usize>() -> impl Strategy<Value = veil_primitives::codec::BoundedBytes<N>> {
    prop::collection::vec(any::<u8>(), 0..64).prop_map(|bytes| bytes.try_into().unwrap())
}
fn amount() -> impl Strategy<Value = Balance> {
    prop_oneof![Just(Balance::ZERO), Just(Balance::ONE), Just(Balance(u128::MAX / 2))]
}
fn parameters() -> impl Strategy<Value = Parameters> {
    let current = world().state.parameters().unwrap();
    (any::<u8>(), 1..10_000u64).prop_map(move |(burn, interval)| {
        let mut changed = current.clone();
        changed.economics.burn_fee_percent = burn % 40;
        changed.liveness.heartbeat_interval_ms = interval;
        changed
    })
}

/// A call of any variant, on ids that exist and ones that do not.
fn any_call() -> impl Strategy<Value = Call> {
    let chain_id = world().chain.id();
    let register = (identity(), account(), any::<bool>()).prop_map(move |(signing_key, operator, dcap)| {
        let info = RegistrationInfo { signing_key, agreement_key: [0xaa; 32], genesis: chain_id, operator };
        let attestation = if dcap {
            Attestation::Dcap {
                quote: SGX_QUOTE.to_vec().try_into().unwrap(),
                collateral: SGX_COLLATERAL.to_vec().try_into().unwrap(),
            }
        } else {
            Attestation::InsecureSoftware
        };
        Call::Registry(RegistryCall::RegisterWorker { info, attestation })
    });
    prop_oneof![
        (account(), amount()).prop_map(|(to, amount)| Call::Accounts(AccountsCall::Transfer { to, amount })),
        register,
        // The sample quote's measurement has hardware workers filed under it: disallowing it
        // lapses them.
        (prop_oneof![Just(None), any::<[u8; 32]>().prop_map(Some)], any::<bool>()).prop_map(|(mr_enclave, allowed)| {
            let measurement = match mr_enclave {
                Some(mr_enclave) => Measurement::Sgx { mr_enclave, mr_signer: [1; 32], isv_prod_id: 0, isv_svn: 0 },
                None => veil_attestation::parse_quote(SGX_QUOTE).unwrap().measurement,
            };
            Call::Registry(RegistryCall::SetMeasurementAllowed { measurement, allowed })
        }),
        any::<[u8; 32]>().prop_map(|session_key| Call::Accounts(AccountsCall::RevokeSession { session_key })),
        (prop_oneof![Just(crate::registry::tests::gatekeeper().public()), any::<[u8; 32]>()], identity())
            .prop_map(|(old, new)| Call::Epochs(EpochsCall::ReplaceGatekeeper { old, new })),
        (cluster(), prop::collection::vec(identity(), 0..4)).prop_map(|(cluster, workers)| {
            Call::Contracts(ContractsCall::FormCluster { cluster, workers: workers.try_into().unwrap() })
        }),
        prop_oneof![Just(CODE.to_vec()), prop::collection::vec(any::<u8>(), 1..64)]
            .prop_map(|code| Call::Contracts(ContractsCall::UploadCode { code: code.try_into().unwrap() })),
        (code_hash(), cluster(), any::<[u8; 32]>(), prop_oneof![Just(0u64), Just(u64::MAX)], bytes()).prop_map(
            |(code, cluster, salt, fuel, argument)| {
                Call::Contracts(ContractsCall::Instantiate { code, cluster, salt, fuel, argument })
            }
        ),
        (contract(), bytes(), prop_oneof![Just(0u64), Just(10)], amount()).prop_map(
            |(contract, payload, fuel, value)| Call::Contracts(ContractsCall::Command {
                contract,
                payload,
                fuel,
                value
            })
        ),
        (contract(), code_hash(), cluster()).prop_map(|(contract, code, cluster)| {
            Call::Contracts(ContractsCall::AssignContract { contract, code, cluster })
        }),
        Just(Call::Epochs(EpochsCall::RotateKeys)),
        (cluster(), identity())
            .prop_map(|(cluster, worker)| Call::Epochs(EpochsCall::ReportOffline { cluster, worker })),
        parameters().prop_map(|parameters| Call::Parameters(ParametersCall::Set(parameters))),
    ]
}

/// Runtimes' egress the chain acts on, and some it refuses.
#[derive(Clone, Debug)]
enum Copy {
    /// A worker's heartbeat.
    Heartbeat(usize),
    /// A worker's key for the current (0) or next (1) epoch, or a later one.
    EpochKey(usize, u32),
    /// A worker's output on a contract's topic.
    Output(usize, ContractId),
    /// The gatekeeper's proposal of a master key for epoch 1 (opens it when a rotation was asked).
    Proposal,
    /// A worker's payload the chain refuses on a system topic.
    Refused(usize, Vec<u8>),
}

fn any_copy() -> impl Strategy<Value = Copy> {
    prop_oneof![
        (0..3usize).prop_map(Copy::Heartbeat),
        (0..3usize, 0..3u32).prop_map(|(worker, epoch)| Copy::EpochKey(worker, epoch)),
        (0..3usize, contract()).prop_map(|(worker, contract)| Copy::Output(worker, contract)),
        Just(Copy::Proposal),
        (0..3usize, prop::collection::vec(any::<u8>(), 0..48)).prop_map(|(worker, bytes)| Copy::Refused(worker, bytes)),
    ]
}

/// `copies`, signed by their runtimes with consecutive sequence numbers from the world's.
fn sign_copies(copies: Vec<Copy>) -> Vec<SignedEgress> {
    let world = world();
    let mut next = std::collections::HashMap::new();
    let mut sequence = |sender: SenderId| {
        let number = next
            .entry(sender)
            .or_insert_with(|| world.state.sender(&sender).unwrap().map_or(0, |info| info.next_sequence));
        *number += 1;
        *number - 1
    };
    copies
        .into_iter()
        .map(|copy| match copy {
            Copy::Heartbeat(index) => {
                let signer = runtime_signer(index as u8 + 1);
                let sender = SenderId::Worker(signer.public());
                let payload = Heartbeat { height: world.head.height }.encode();
                egress(&signer, sender, 0, sequence(sender), Topic::System(SystemTopic::Heartbeats), &payload)
            }
            Copy::EpochKey(index, epoch) => {
                let signer = runtime_signer(index as u8 + 1);
                let key = announced_key(&world.chain.id(), &signer, epoch);
                let sender = SenderId::Worker(signer.public());
                let payload = AssignmentMessage::EpochKey(key).encode();
                egress(&signer, sender, 0, sequence(sender), Topic::System(SystemTopic::Assignments), &payload)
            }
            Copy::Output(index, contract) => {
                let signer = runtime_signer(index as u8 + 1);
                let sender = SenderId::Worker(signer.public());
                egress(&signer, sender, 0, sequence(sender), Topic::Contract(contract), b"output")
            }
            Copy::Proposal => {
                let master = veil_crypto::MasterKey::from_secret(veil_crypto::SecretBytes::new([0x4e; 32]));
                let proposal = Proposal::new(&master, KeyEpoch(1), &[]).unwrap();
                let signer = gatekeeper();
                let sender = SenderId::Gatekeeper(signer.public());
                let payload = KeyMessage::Proposal(proposal).encode();
                egress(&signer, sender, 0, sequence(sender), Topic::System(SystemTopic::KeyEpochs), &payload)
            }
            Copy::Refused(index, bytes) => {
                let signer = runtime_signer(index as u8 + 1);
                let sender = SenderId::Worker(signer.public());
                egress(&signer, sender, 0, sequence(sender), Topic::System(SystemTopic::Assignments), &bytes)
            }
        })
        .collect()
}

/// `calls`, each signed by the admin or the operator with their next nonces.
fn sign(calls: Vec<(bool, Call)>) -> Vec<SignedTransaction> {
    let world = world();
    let mut nonces = world.nonces.clone();
    calls
        .into_iter()
        .map(|(by_admin, call)| {
            let from = if by_admin { &world.admin } else { &world.operator };
            let nonce = nonces.entry(from.public()).or_default();
            *nonce += 1;
            from.sign_transaction(Transaction {
                genesis: world.chain.id(),
                signer: from.public(),
                nonce: *nonce - 1,
                call,
            })
        })
        .collect()
}

/// What a node reads ahead for `transactions` and `egress`, in its three rounds.
fn declared(
    chain: &Chain,
    state: &MemoryState,
    transactions: &[SignedTransaction],
    egress: &[SignedEgress],
) -> BTreeSet<Vec<u8>> {
    let mut keys = chain.keys_touched(transactions, egress);
    let topics = chain.topics_touched(transactions, egress);
    keys.extend(chain.tree_keys_touched(state, &topics).unwrap());
    keys.extend(chain.dependent_keys(state, transactions).unwrap());
    keys
}

/// The keys read that were not declared, decoded for the failure message.
fn undeclared(calls: Vec<(bool, Call)>, copies: Vec<Copy>, after_ms: u64) -> Vec<String> {
    let world = world();
    let transactions = sign(calls);
    let egress = sign_copies(copies);
    let declared = declared(&world.chain, &world.state, &transactions, &egress);
    let recording = Recording { state: &world.state, reads: RefCell::default() };
    let timestamp = world.head.timestamp_ms + after_ms;
    world.chain.build(&recording, &world.head, timestamp, None, transactions, egress).unwrap();
    let reads = recording.reads.into_inner();
    reads
        .difference(&declared)
        .map(|key| {
            let decoded = veil_primitives::decode_strict::<StateKey>(key);
            decoded.map_or_else(|_| format!("0x{}", hex::encode(key)), |key| format!("{key:?}"))
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// Blocks of up to three calls of any variant and up to four egress copies, soon after the
    /// world's tip or a minute later (past the liveness window, so offline reports and
    /// replacements go through, and with a scheduled rotation due).
    #[test]
    fn every_call_reads_only_the_keys_it_declares(
        calls in prop::collection::vec((any::<bool>(), any_call()), 0..4),
        copies in prop::collection::vec(any_copy(), 0..5),
        late in any::<bool>(),
    ) {
        let after_ms = if late { 60_000 } else { 1 };
        let missing = undeclared(calls.clone(), copies.clone(), after_ms);
        prop_assert!(missing.is_empty(), "{calls:?} and {copies:?} read undeclared keys {missing:?}");
    }
}

#[test]
fn every_variant_is_generated() {
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let strategy = any_call();
    let mut seen = BTreeSet::new();
    for _ in 0..2_000 {
        seen.insert(variant(&proptest::strategy::ValueTree::current(&strategy.new_tree(&mut runner).unwrap())));
    }
    assert_eq!(seen.len(), VARIANTS, "variants generated: {seen:?}");
}

#[test]
fn a_call_that_reads_an_undeclared_key_is_caught() {
    // The check itself: a world store read through a snapshot of only the declared keys refuses
    // anything else, as a node's prefetched snapshot does.
    let world = world();
    let transactions =
        sign(vec![(false, Call::Accounts(AccountsCall::Transfer { to: AccountId([5; 32]), amount: Balance::ONE }))]);
    let mut declared = declared(&world.chain, &world.state, &transactions, &[]);
    declared.remove(&StateKey::Account(AccountId([5; 32])).to_bytes());
    let mut snapshot = crate::Snapshot::default();
    for key in declared {
        let value = world.state.get(&key).unwrap();
        snapshot.insert(key, value);
    }
    let error = world.chain.build(&snapshot, &world.head, world.head.timestamp_ms + 1, None, transactions, Vec::new());
    assert!(matches!(error, Err(StateError::Store(reason)) if reason.contains("not read ahead")));
}
