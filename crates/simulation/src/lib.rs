//! The whole network in one deterministic process.
//!
//! Validators run on Commonware's deterministic runtime and simulated network: links that lose
//! messages and delay them with jitter, partitions that heal, and validators crashed at random
//! times (their tasks aborted, unsynced writes lost) and started again on what they had made
//! durable. A workload runs through them (wallets that submit transfers to whichever validator is
//! up and submit again until the transfer is final; runtimes, a confidential contract, a key
//! rotation and a worker replaced when the scenario asks), and the invariants are checked as the
//! run goes and at its end ([`invariants`]). Everything random — the schedule of faults, each message's fate, the order
//! tasks run in — comes from the run's seed, so a seed run twice ends in the same state: a failure
//! is found once and replayed at will.
//!
//! - [`Scenario`]: what to run (validators, link quality, faults, workload).
//! - [`Setup`]: the genesis, the validators' keys and the signed transactions, all from the seed
//!   (sr25519 signing is randomized; here its randomness comes from the seed too, through
//!   `AccountPair::sign_transaction_replayable`).
//! - [`run`]: one run of a seed; its [`Outcome`] is what two runs of a seed must agree on.
//! - [`network`]: the simulated links and validators (start, crash, restart, partition, heal,
//!   and a byzantine validator from Commonware's mocks).
//! - [`runtimes`]: the gatekeeper and workers with their relayers (sync, egress, reports of unfit
//!   cluster members, snapshots for a replacement), crashed and restarted from checkpoints.
//! - [`contracts`]: the notes contract's client, whose every answer is checked against the chain.
//! - [`workload`]: the wallets; [`invariants`]: what every run must keep.
//!
//! Set `VEIL_SIM_TRACE` to follow a run second by second (the trace reads every validator under
//! its lock, which can change the order tasks run in: a traced run may differ from the untraced
//! one of the same seed, though each repeats).

pub mod contracts;
pub mod invariants;
pub mod network;
pub mod runtimes;
pub mod workload;

use commonware_cryptography::Signer as _;
use commonware_runtime::{Clock as _, Runner as _, deterministic};
use std::{collections::BTreeMap, time::Duration};
use veil_chain::{Chain, testing};
use veil_chain::{GenesisSender, genesis::GenesisBalance};
use veil_consensus::{alias::PrivateKey, dealer, engine::History};
use veil_primitives::{
    AccountId, AccountsCall, Attestation, Balance, Call, ContractsCall, EpochsCall, Hash, KeyEpoch, RegistryCall,
    SenderId, SignedTransaction, Transaction, contract::builtin_code_hash,
};

/// What one run simulates.
#[derive(Clone, Debug)]
pub struct Scenario {
    /// How many validators (a quorum is `2f + 1` of them).
    pub validators: usize,
    /// Percent of messages each link delivers.
    pub delivery_percent: u64,
    /// Mean one-way latency of a link.
    pub latency: Duration,
    /// Standard deviation of a link's latency.
    pub jitter: Duration,
    /// Validators crashed (and started again after a random downtime) at random times.
    pub crashes: usize,
    /// Partitions of the validators into two sides, each healed after a random time.
    pub partitions: usize,
    /// Accounts sending transfers, each in nonce order.
    pub senders: usize,
    /// Transfers per sender.
    pub transfers_per_sender: u64,
    /// When the faults happen: within this long from the start.
    pub fault_window: Duration,
    /// How much history the validators keep.
    pub history: History,
    /// Workers beside the gatekeeper (0: no runtimes at all, validators only).
    pub workers: usize,
    /// Runtime crashes (the gatekeeper's or a worker's) at random times in the fault window, each
    /// started again from its last checkpoint after 0.5 to 5 seconds.
    pub runtime_crashes: usize,
    /// Notes a client adds to the notes contract, which the operator assigns to a cluster of the
    /// first two workers (0: no contract; needs two workers).
    pub notes: u64,
    /// Whether the rotation admin rotates every key once the first epoch (0) is open and half the
    /// notes are final: the run then ends once every runtime reads epoch 1 open.
    pub rotate: bool,
    /// Whether the first worker stops for good once a note is final: the relayers report it, the
    /// chain replaces it with the third worker (a standby), which takes over a snapshot (needs
    /// notes and three workers).
    pub replace_worker: bool,
    /// The last validator, byzantine through the fault window (Commonware's mocks: it votes
    /// against the protocol and does nothing else), then out: stopped, unblocked and started
    /// honest on empty storage. The validator crashes of the scenario spare it.
    pub byzantine: Option<Byzantine>,
}

/// How the byzantine validator misbehaves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Byzantine {
    /// Notarizes and finalizes a random block beside each one it sees: equivocation.
    Conflicter,
    /// Nullifies each round it is asked to notarize and finalizes it as well: votes that
    /// contradict each other, and withholding.
    Nuller,
}

impl Scenario {
    /// `validators` on perfect links, no faults, one wallet of `transfers`: the baseline.
    pub fn quiet(validators: usize, transfers: u64) -> Self {
        Self {
            validators,
            delivery_percent: 100,
            jitter: Duration::ZERO,
            crashes: 0,
            partitions: 0,
            senders: 1,
            transfers_per_sender: transfers,
            ..Self::default()
        }
    }
}

impl Scenario {
    /// The scenario a seed of the long run gets (`benches/seeds.rs`): alto's lossy links with
    /// validator crashes and a partition, a gatekeeper and workers with crashes of their own, and
    /// by the seed's remainder mod 4: transfers only; the notes contract and a key rotation; the
    /// notes contract and a worker replaced; a byzantine validator under the notes contract.
    pub fn of_seed(seed: u64) -> Self {
        let base = Self { workers: 2, runtime_crashes: 3, ..Self::default() };
        match seed % 4 {
            0 => base,
            1 => Self { notes: 4, rotate: true, ..base },
            2 => Self { workers: 3, notes: 4, replace_worker: true, ..base },
            _ => Self {
                notes: 3,
                byzantine: Some(if seed % 8 == 3 { Byzantine::Conflicter } else { Byzantine::Nuller }),
                delivery_percent: 90,
                crashes: 0,
                partitions: 0,
                fault_window: Duration::from_secs(30),
                ..base
            },
        }
    }
}

impl Default for Scenario {
    /// Four validators on links that deliver 75% of messages with 150 ms of jitter (alto's
    /// setting), two crashes and one partition in the first 40 seconds, eight wallets.
    fn default() -> Self {
        Self {
            validators: 4,
            delivery_percent: 75,
            latency: Duration::from_millis(50),
            jitter: Duration::from_millis(150),
            crashes: 2,
            partitions: 1,
            senders: 8,
            transfers_per_sender: 4,
            fault_window: Duration::from_secs(40),
            history: History::Archive,
            workers: 0,
            runtime_crashes: 0,
            notes: 0,
            rotate: false,
            replace_worker: false,
            byzantine: None,
        }
    }
}

/// A scenario's fixed parts: keys, genesis and signed transactions.
pub struct Setup {
    /// The scenario.
    pub scenario: Scenario,
    /// The validators' identity keys.
    pub keys: Vec<PrivateKey>,
    /// The network key and the validators' shares.
    pub dealing: dealer::Dealing,
    /// The chain's rules.
    pub chain: Chain,
    /// Each wallet's transfers, in nonce order.
    pub wallets: Vec<Vec<SignedTransaction>>,
    /// Every account the run can touch (the funded senders and the recipients).
    pub accounts: Vec<AccountId>,
    /// What the transfers send each recipient in all (recipients hold nothing at genesis and send
    /// nothing).
    pub received: BTreeMap<AccountId, Balance>,
    /// The operator's transactions, in nonce order: the runtimes' registrations, then the
    /// cluster formed and the notes contract assigned (the operator is also the registry admin).
    /// Empty without runtimes.
    pub operator: Vec<SignedTransaction>,
    /// The operator's key rotation (it is also the rotation admin), when the scenario rotates.
    pub rotation: Option<SignedTransaction>,
    /// The seed everything of the run derives from.
    pub seed: u64,
}

impl Setup {
    /// Keys, genesis and transactions for `scenario`, all derived from `seed`.
    pub fn new(scenario: Scenario, seed: u64) -> Self {
        use rand::{RngExt as _, SeedableRng as _};
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let keys: Vec<PrivateKey> =
            (0..scenario.validators as u64).map(|i| PrivateKey::from_seed(seed * 1_000 + i)).collect();
        let identities: Vec<_> = keys.iter().map(|k| k.public_key()).collect();
        let dealing = dealer::deal(&mut rng, &identities).unwrap_or_else(|error| panic!("dealing: {error}"));
        let senders: Vec<_> = (0..scenario.senders).map(|i| testing::pair(&format!("//Wallet{i}"))).collect();
        let recipients: Vec<AccountId> = (0..4).map(|i| testing::pair(&format!("//Recipient{i}")).public()).collect();
        let funded: Vec<AccountId> = senders.iter().map(|pair| pair.public()).collect();
        let operator = testing::pair("//Operator");
        let client = testing::pair("//Client").public();
        let reporter = testing::pair("//Reporter").public();
        let mut genesis = testing::genesis(&[funded.as_slice(), &[client, reporter]].concat(), 1_000);
        if scenario.workers > 0 {
            let gatekeeper = runtimes::identity_of(&runtimes::identity_seed(seed, "gatekeeper"));
            genesis.senders =
                vec![GenesisSender { sender: SenderId::Gatekeeper(gatekeeper), key: gatekeeper, epoch: 0 }];
            genesis
                .balances
                .push(GenesisBalance { account: operator.public(), amount: Balance(1_000 * Balance::ONE.0) });
            genesis.registration.measurement_admin = operator.public();
            genesis.keys.rotation_admin = operator.public();
            // Registrations outlive the run (renewal is not simulated); a worker is unfit after
            // 15 s of silence (a runtime crash lasts at most 5 s); retired keys open commands for
            // a minute (a command is sealed once and sent again unchanged until final).
            genesis.registration.insecure_lifetime_ms = 24 * 3_600_000;
            genesis.liveness.offline_after_ms = 15_000;
            genesis.keys.grace_ms = 60_000;
        }
        genesis.network.public_key = dealing.network_key;
        // The simulated clock starts at the Unix epoch: genesis is at its start.
        genesis.genesis_time_ms = 0;
        // Paced like the devnet, so simulated time passes between blocks.
        genesis.economics.min_block_interval_ms = 200;
        genesis.validators = keys
            .iter()
            .enumerate()
            .map(|(i, key)| veil_chain::GenesisValidator {
                identity: dealer::public_bytes(key),
                address: format!("127.0.0.1:{}", 30_000 + i),
            })
            .collect();
        let chain = Chain::new(genesis).unwrap_or_else(|error| panic!("genesis: {error}"));
        let mut received: BTreeMap<AccountId, Balance> = BTreeMap::new();
        let wallets = senders
            .iter()
            .map(|sender| {
                (0..scenario.transfers_per_sender)
                    .map(|nonce| {
                        let to = recipients[rng.random_range(0..recipients.len())];
                        let amount = Balance(rng.random_range(1..=10) * Balance::ONE.0);
                        received.entry(to).or_default().0 += amount.0;
                        let transfer = Transaction {
                            genesis: chain.id(),
                            signer: sender.public(),
                            nonce,
                            call: Call::Accounts(AccountsCall::Transfer { to, amount }),
                        };
                        sender.sign_transaction_replayable(transfer, rng.random())
                    })
                    .collect()
            })
            .collect();
        // The runtimes as the run starts them: their registrations, then the notes contract's
        // cluster and assignment, signed by the operator.
        let mut calls = Vec::new();
        if scenario.workers > 0 {
            let fresh = runtimes::Runtimes::new(chain.genesis(), seed, scenario.workers, operator.clone());
            calls.extend(fresh.running().map(|(_, runtime)| {
                Call::Registry(RegistryCall::RegisterWorker {
                    info: runtime.registration_info(operator.public()),
                    attestation: Attestation::InsecureSoftware,
                })
            }));
            if scenario.notes > 0 {
                let members = vec![fresh.get("worker-0").identity(), fresh.get("worker-1").identity()];
                let workers = members.try_into().unwrap_or_else(|_| panic!("two workers fit a cluster"));
                calls.push(Call::Contracts(ContractsCall::FormCluster { cluster: contracts::CLUSTER, workers }));
                let code = builtin_code_hash("notes");
                let (contract, cluster) = (contracts::NOTES, contracts::CLUSTER);
                calls.push(Call::Contracts(ContractsCall::AssignContract { contract, code, cluster }));
            }
        }
        if scenario.rotate {
            calls.push(Call::Epochs(EpochsCall::RotateKeys));
        }
        let mut signed: Vec<SignedTransaction> = calls
            .into_iter()
            .enumerate()
            .map(|(nonce, call)| {
                let transaction =
                    Transaction { genesis: chain.id(), signer: operator.public(), nonce: nonce as u64, call };
                operator.sign_transaction_replayable(transaction, rng.random())
            })
            .collect();
        let rotation = scenario.rotate.then(|| signed.pop()).flatten();
        let accounts = funded.into_iter().chain(recipients).chain([operator.public(), client, reporter]).collect();
        Self { scenario, keys, dealing, chain, wallets, accounts, received, operator: signed, rotation, seed }
    }
}

/// What two runs of one seed must agree on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outcome {
    /// Every height all validators finalized: the block's hash and its state root.
    pub finalized: Vec<(u64, Hash, Hash)>,
    /// Each account's balance at the end (on the first validator).
    pub balances: Vec<(AccountId, Balance)>,
    /// The faults that happened, in order, as the schedule ran them.
    pub faults: Vec<String>,
    /// The deterministic runtime's audit of everything that happened.
    pub audit: String,
    /// Simulated time the run took.
    pub simulated: Duration,
    /// Transfers sent, resends included.
    pub sends: u64,
    /// Each runtime at the end: its name, the height it stands at and its key epoch.
    pub runtimes: Vec<(String, u64, Option<u32>)>,
    /// The notes client's answers checked, and its queries refused as stale.
    pub answers: (u64, u64),
}

/// Runs `seed` twice and checks the two runs agree on everything (blocks, balances, faults, the
/// runtime's audit); returns the outcome.
pub fn run_twice(setup: &Setup, seed: u64) -> Outcome {
    let first = run(setup, seed);
    let second = run(setup, seed);
    assert_eq!(first.faults, second.faults, "seed {seed}: the same faults");
    assert_eq!(first.finalized, second.finalized, "seed {seed}: the same blocks");
    assert_eq!(first.balances, second.balances, "seed {seed}: the same balances");
    assert_eq!(first.runtimes, second.runtimes, "seed {seed}: the same runtimes");
    assert_eq!(first.answers, second.answers, "seed {seed}: the same answers");
    assert_eq!(first.audit, second.audit, "seed {seed}: the same run");
    first
}

/// One run of `setup` with `seed`: faults and workload until every transfer is final and every
/// validator has caught up, then the invariants (which panic, naming what broke).
pub fn run(setup: &Setup, seed: u64) -> Outcome {
    let config = deterministic::Config::default().with_seed(seed).with_timeout(Some(Duration::from_secs(3_600)));
    deterministic::Runner::new(config).start(|context| async move {
        let mut net = network::Net::start(&context, setup).await.unwrap_or_else(|error| panic!("{error}"));
        let schedule = network::Schedule::draw(&context, &setup.scenario);
        let mut lists = setup.wallets.clone();
        if !setup.operator.is_empty() {
            lists.push(setup.operator.clone());
        }
        let mut wallets = workload::Wallets::new(&lists);
        let scenario = &setup.scenario;
        let reporter = testing::pair("//Reporter");
        let mut runtimes = (scenario.workers > 0)
            .then(|| runtimes::Runtimes::new(setup.chain.genesis(), setup.seed, scenario.workers, reporter));
        let mut client = (scenario.notes > 0)
            .then(|| contracts::Client::new(testing::pair("//Client"), setup.chain.id(), setup.seed, scenario.notes));
        let started = context.current();
        let mut round = 0usize;
        let mut rotation = setup.rotation.clone();
        // Key epochs count from 0, the one the gatekeeper's first master key opens.
        let epoch = if rotation.is_some() { 1 } else { 0 };
        let (mut retired, standby) = (false, "worker-2");
        let settled = |runtimes: &runtimes::Runtimes, client: &Option<contracts::Client>| {
            runtimes.settled(epoch)
                && runtimes.crashes_done(&schedule)
                && client.as_ref().is_none_or(|client| client.done(runtimes, KeyEpoch(epoch)))
                && (!scenario.replace_worker || runtimes.replicas(&contracts::NOTES).any(|(name, _)| name == standby))
        };
        while !(wallets.done()
            && schedule.finished(&net)
            && runtimes.as_ref().is_none_or(|runtimes| settled(runtimes, &client)))
        {
            let elapsed = context.current().duration_since(started).unwrap_or_default();
            net.apply_due(&context, &schedule, elapsed).await;
            if let Some(runtimes) = runtimes.as_mut() {
                runtimes.apply_due(&schedule, elapsed);
            }
            wallets.step(&context, &net).await;
            if let Some(runtimes) = runtimes.as_mut() {
                runtimes.relay_through_any(&net, round, elapsed).await;
                let notes_final = client.as_ref().map_or(0, |client| client.final_count());
                if let Some(client) = client.as_mut() {
                    client.step(&context, &net, runtimes).await;
                    invariants::check_replicas(runtimes, &contracts::NOTES);
                }
                // The rotation, once every runtime reads the first epoch open and half the notes
                // are final.
                if runtimes.settled(0)
                    && notes_final as u64 >= scenario.notes / 2
                    && let Some(transaction) = rotation.take()
                {
                    wallets.add(vec![transaction]);
                }
                if scenario.replace_worker && !retired && notes_final >= 1 {
                    runtimes.retire("worker-0", elapsed);
                    retired = true;
                }
            }
            round += 1;
            if std::env::var_os("VEIL_SIM_TRACE").is_some() && elapsed.subsec_millis() < 100 {
                let runtimes = runtimes.as_ref().map(|runtimes| runtimes.progress()).unwrap_or_default();
                let client = client.as_ref().map(|client| client.progress()).unwrap_or_default();
                trace(elapsed, &net, &wallets, &format!("{runtimes} {client}")).await;
            }
            context.sleep(workload::TICK).await;
        }
        net.wait_caught_up(&context).await;
        let finalized = invariants::check(&net, setup, &wallets).await;
        let mut faults = net.faults().to_vec();
        if let Some(runtimes) = &runtimes {
            invariants::check_runtimes(&net, runtimes).await;
            faults.extend(runtimes.faults().iter().cloned());
        }
        let runtimes = runtimes.map_or_else(Vec::new, |runtimes| {
            let state = |runtime: &veil_worker::runtime::Runtime| {
                (runtime.view().height, runtime.key_epoch().map(|epoch| epoch.0))
            };
            runtimes.running().map(|(name, runtime)| (name.to_owned(), state(runtime).0, state(runtime).1)).collect()
        });
        let balances = invariants::balances(&net, setup).await;
        let simulated = context.current().duration_since(started).unwrap_or_default();
        let sends = wallets.sends();
        let answers = client.map_or((0, 0), |client| client.answers());
        let audit = context.auditor().state();
        Outcome { finalized, balances, faults, audit, simulated, sends, runtimes, answers }
    })
}

/// With `VEIL_SIM_TRACE` set, a line a simulated second: each running validator's finalized
/// height, the transfers final so far, and `more` (the runtimes and the client) (to follow a seed
/// being replayed).
#[allow(clippy::print_stderr)]
async fn trace(elapsed: Duration, net: &network::Net, wallets: &workload::Wallets, more: &str) {
    let mut heights = Vec::new();
    for (_, validator) in net.running() {
        heights.push(validator.node().lock().await.finalized_header().height);
    }
    eprintln!("{elapsed:?}: heights {heights:?}, wallets at {}; {more}", wallets.progress());
}
