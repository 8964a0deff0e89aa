//! The whole network in one deterministic process.
//!
//! Validators run on Commonware's deterministic runtime and simulated network: links that lose
//! messages and delay them with jitter, partitions that heal, and validators crashed at random
//! times (their tasks aborted, unsynced writes lost) and started again on what they had made
//! durable. A workload runs through them (wallets that submit transfers to whichever validator is
//! up and submit again until the transfer is final), and at the end the invariants are checked
//! ([`invariants`]). Everything random — the schedule of faults, each message's fate, the order
//! tasks run in — comes from the run's seed, so a seed run twice ends in the same state: a failure
//! is found once and replayed at will.
//!
//! - [`Scenario`]: what to run (validators, link quality, faults, workload).
//! - [`Setup`]: the genesis, the validators' keys and the signed transactions, all from the seed
//!   (sr25519 signing is randomized; here its randomness comes from the seed too, through
//!   `AccountPair::sign_transaction_replayable`).
//! - [`run`]: one run of a seed; its [`Outcome`] is what two runs of a seed must agree on.
//! - [`network`]: the simulated links and validators (start, crash, restart, partition, heal).
//!
//! Set `VEIL_SIM_TRACE` to follow a run second by second.

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
use veil_crypto::{RuntimeSigner, SecretBytes};
use veil_primitives::{
    AccountId, AccountsCall, Attestation, Balance, Call, Hash, RegistryCall, SenderId, SignedTransaction, Transaction,
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
    /// The operator's transactions, in nonce order: the runtimes' registrations (the operator is
    /// also the registry admin). Empty without runtimes.
    pub operator: Vec<SignedTransaction>,
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
        let mut genesis = testing::genesis(&funded, 1_000);
        if scenario.workers > 0 {
            let gatekeeper = RuntimeSigner::from_seed(&SecretBytes::new(runtimes::identity_seed(seed, "gatekeeper")));
            let gatekeeper = gatekeeper.public();
            genesis.senders =
                vec![GenesisSender { sender: SenderId::Gatekeeper(gatekeeper), key: gatekeeper, epoch: 0 }];
            genesis
                .balances
                .push(GenesisBalance { account: operator.public(), amount: Balance(1_000 * Balance::ONE.0) });
            genesis.registration.measurement_admin = operator.public();
            genesis.keys.rotation_admin = operator.public();
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
        // The runtimes as the run starts them: their registrations, signed by the operator.
        let mut operator_transactions = Vec::new();
        if scenario.workers > 0 {
            let fresh = runtimes::Runtimes::new(chain.genesis(), seed, scenario.workers);
            for (nonce, (_, runtime)) in fresh.running().enumerate() {
                let call = Call::Registry(RegistryCall::RegisterWorker {
                    info: runtime.registration_info(operator.public()),
                    attestation: Attestation::InsecureSoftware,
                });
                let transaction =
                    Transaction { genesis: chain.id(), signer: operator.public(), nonce: nonce as u64, call };
                operator_transactions.push(operator.sign_transaction_replayable(transaction, rng.random()));
            }
        }
        let accounts = funded.into_iter().chain(recipients).chain([operator.public()]).collect();
        Self { scenario, keys, dealing, chain, wallets, accounts, received, operator: operator_transactions, seed }
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
        let mut runtimes = (setup.scenario.workers > 0)
            .then(|| runtimes::Runtimes::new(setup.chain.genesis(), setup.seed, setup.scenario.workers));
        let started = context.current();
        let mut round = 0usize;
        let settled = |runtimes: &runtimes::Runtimes| runtimes.settled() && runtimes.crashes_done(&schedule);
        while !(wallets.done() && schedule.finished(&net) && runtimes.as_ref().is_none_or(settled)) {
            let elapsed = context.current().duration_since(started).unwrap_or_default();
            net.apply_due(&context, &schedule, elapsed).await;
            if let Some(runtimes) = runtimes.as_mut() {
                runtimes.apply_due(&schedule, elapsed);
            }
            wallets.step(&context, &net).await;
            if let Some(runtimes) = runtimes.as_mut() {
                runtimes.relay_through_any(&net, round).await;
            }
            round += 1;
            if std::env::var_os("VEIL_SIM_TRACE").is_some() && elapsed.subsec_millis() < 100 {
                trace(elapsed, &net, &wallets).await;
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
        Outcome { finalized, balances, faults, audit: context.auditor().state(), simulated, sends, runtimes }
    })
}

/// With `VEIL_SIM_TRACE` set, a line a simulated second: each running validator's finalized
/// height and the transfers final so far (to follow a seed being replayed).
#[allow(clippy::print_stderr)]
async fn trace(elapsed: Duration, net: &network::Net, wallets: &workload::Wallets) {
    let mut heights = Vec::new();
    for (_, validator) in net.running() {
        heights.push(validator.node().lock().await.finalized_header().height);
    }
    eprintln!("{elapsed:?}: heights {heights:?}, wallets at {}", wallets.progress());
}
