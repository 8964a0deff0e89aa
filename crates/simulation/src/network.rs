//! The simulated links and the validators on them: started, crashed (their tasks aborted: what
//! they had not synced is lost), started again on their storage, cut into two sides and healed.

use commonware_cryptography::Signer as _;
use commonware_p2p::{Manager as _, simulated};
use commonware_runtime::{Handle, Quota, Spawner as _, Supervisor as _, deterministic};
use commonware_utils::{NZU32, NZUsize, Probability, ordered::Set};
use futures::channel::oneshot;
use rand::RngExt as _;
use std::time::Duration;
use veil_consensus::{
    alias::PublicKey,
    dealer,
    engine::{self, Channels, EngineError, History, Timeouts, Validator, ValidatorConfig, channel},
    state::QmdbState,
};
use veil_mempool::Limits;

use crate::{Byzantine, Scenario, Setup};
use commonware_consensus::simplex::mocks::{conflicter, nuller};
use commonware_cryptography::sha256::Sha256;

/// A validator as the simulation holds it.
pub type SimValidator = Validator<QmdbState<deterministic::Context>>;

/// One validator's place: its running incarnation, if any.
struct Slot {
    /// The task whose children are all of the validator's actors: aborting it crashes them.
    task: Option<Handle<()>>,
    validator: Option<SimValidator>,
    incarnation: u32,
}

/// A fault, at a time from the run's start.
#[derive(Clone, Debug)]
enum Fault {
    Crash(usize),
    Restart(usize),
    /// The validators on each side (`true`: the first side).
    Cut(Vec<bool>),
    Heal,
    /// The byzantine validator is out: stopped, unblocked by its peers and started as an honest
    /// one (on empty storage: it must catch up).
    Honest(usize),
}

/// The faults of a run, drawn from its seed, in time order: the network's, and the runtimes'
/// crashes (index, when, and when it starts again).
pub struct Schedule {
    events: Vec<(Duration, Fault)>,
    /// Runtime crashes: (when, runtime index, when it restarts), in time order.
    pub runtime_crashes: Vec<(Duration, usize, Duration)>,
}

impl Schedule {
    /// Draws `scenario`'s crashes (each with a downtime of 1 to 8 seconds) and partitions (each
    /// healed after 2 to 10 seconds) at random times within its fault window.
    pub fn draw(context: &deterministic::Context, scenario: &Scenario) -> Self {
        let mut rng = context.child("schedule");
        let window = scenario.fault_window.as_millis().max(1) as u64;
        let mut events = Vec::new();
        // The byzantine validator (the last) is crashed by nobody but its end.
        let honest = scenario.validators - usize::from(scenario.byzantine.is_some());
        for _ in 0..scenario.crashes {
            let at = Duration::from_millis(rng.random_range(0..window));
            let index = rng.random_range(0..honest);
            let down = Duration::from_millis(rng.random_range(1_000..8_000));
            events.push((at, Fault::Crash(index)));
            events.push((at + down, Fault::Restart(index)));
        }
        for _ in 0..scenario.partitions {
            let at = Duration::from_millis(rng.random_range(0..window));
            let mut sides: Vec<bool> = (0..scenario.validators).map(|_| rng.random_bool(0.5)).collect();
            // Two sides, neither empty.
            sides[0] = true;
            let last = sides.len() - 1;
            if sides.iter().all(|side| *side) {
                sides[last] = false;
            }
            let healed = Duration::from_millis(rng.random_range(2_000..10_000));
            events.push((at, Fault::Cut(sides)));
            events.push((at + healed, Fault::Heal));
        }
        if scenario.byzantine.is_some() {
            events.push((scenario.fault_window, Fault::Honest(honest)));
        }
        events.sort_by_key(|(at, _)| *at);
        let runtimes = scenario.workers + 1;
        let mut runtime_crashes: Vec<(Duration, usize, Duration)> = (0..scenario.runtime_crashes)
            .map(|_| {
                let at = Duration::from_millis(rng.random_range(0..window));
                let down = Duration::from_millis(rng.random_range(500..5_000));
                (at, rng.random_range(0..runtimes), at + down)
            })
            .collect();
        runtime_crashes.sort();
        Self { events, runtime_crashes }
    }

    /// Whether every fault has run and every validator is up again.
    pub fn finished(&self, net: &Net) -> bool {
        net.next_event >= self.events.len() && net.slots.iter().all(|slot| slot.validator.is_some())
    }
}

/// The network: the simulated links' oracle and every validator's slot.
pub struct Net {
    oracle: simulated::Oracle<PublicKey, deterministic::Context>,
    identities: Vec<PublicKey>,
    link: simulated::Link,
    setup_chain: veil_chain::Chain,
    history: History,
    schemes: Vec<veil_consensus::alias::Scheme>,
    slots: Vec<Slot>,
    next_event: usize,
    faults: Vec<String>,
    /// A crash scheduled while the validator was already down: its restart is skipped too.
    skipped_restarts: Vec<usize>,
}

impl Net {
    /// Links every pair of `setup`'s validators with its scenario's link and starts them all (on
    /// whatever storage the runtime holds: a recovered runtime's validators start where they were).
    pub async fn start(context: &deterministic::Context, setup: &Setup) -> Result<Self, EngineError> {
        Self::start_keeping(context, setup, setup.scenario.history).await
    }

    /// [`Net::start`], the validators keeping `history` whatever the scenario says.
    pub async fn start_keeping(
        context: &deterministic::Context,
        setup: &Setup,
        history: History,
    ) -> Result<Self, EngineError> {
        let scenario = &setup.scenario;
        let identities: Vec<PublicKey> = setup.keys.iter().map(|key| key.public_key()).collect();
        let participants = Set::from_iter_dedup(identities.iter().cloned());
        let (network, oracle) = simulated::Network::new_with_peers(
            context.child("network"),
            simulated::Config {
                max_size: 1 << 20,
                max_peers_per_set: NZUsize!(scenario.validators.max(1)),
                disconnect_on_block: true,
                tracked_peer_sets: NZUsize!(1),
            },
            participants.clone(),
        )
        .await;
        network.start();
        let _ = oracle.manager().track(0, participants);
        let link = simulated::Link {
            latency: scenario.latency,
            jitter: scenario.jitter,
            success_rate: Probability::new(scenario.delivery_percent.min(100), 100)
                .unwrap_or_else(|| panic!("a percentage is a probability")),
        };
        let namespace = setup.chain.genesis().network.namespace.clone().into_bytes();
        // The validators in the dealing's order: each with its share.
        let members: Vec<PublicKey> = setup.dealing.shares.iter().map(|(identity, _)| identity.clone()).collect();
        let schemes = setup
            .dealing
            .shares
            .iter()
            .map(|(_, share)| {
                let polynomial = dealer::decode_polynomial(&setup.dealing.polynomial, identities.len())
                    .unwrap_or_else(|error| panic!("polynomial: {error}"));
                let share = dealer::decode_share(share).unwrap_or_else(|error| panic!("share: {error}"));
                dealer::signer(&namespace, &identities, polynomial, share)
                    .unwrap_or_else(|error| panic!("signer: {error}"))
            })
            .collect();
        let slots = (0..identities.len()).map(|_| Slot { task: None, validator: None, incarnation: 0 }).collect();
        let mut net = Self {
            oracle,
            identities: members,
            link,
            setup_chain: setup.chain.clone(),
            history,
            schemes,
            slots,
            next_event: 0,
            faults: Vec::new(),
            skipped_restarts: Vec::new(),
        };
        net.link_all(None).await;
        for index in 0..net.slots.len() {
            match scenario.byzantine {
                Some(behaviour) if index == net.slots.len() - 1 => net.boot_byzantine(context, index, behaviour).await,
                _ => net.boot(context, index).await?,
            }
        }
        Ok(net)
    }

    /// Links every pair, or with `sides`, only pairs on the same side.
    async fn link_all(&self, sides: Option<&[bool]>) {
        for (a, from) in self.identities.iter().enumerate() {
            for (b, to) in self.identities.iter().enumerate() {
                if a == b {
                    continue;
                }
                let _ = self.oracle.remove_link(from.clone(), to.clone()).await;
                if sides.is_none_or(|sides| sides[a] == sides[b]) {
                    self.oracle
                        .add_link(from.clone(), to.clone(), self.link.clone())
                        .await
                        .unwrap_or_else(|error| panic!("link {a} -> {b}: {error}"));
                }
            }
        }
    }

    /// Starts validator `index` on its storage (registering its channels again: the network keeps
    /// its links, and the old incarnation's senders are closed).
    async fn boot(&mut self, context: &deterministic::Context, index: usize) -> Result<(), EngineError> {
        let identity = self.identities[index].clone();
        let control = self.oracle.control(identity.clone());
        let quota = Quota::per_second(NZU32!(10_000));
        let register = async |id| control.register(id, quota).await.unwrap_or_else(|error| panic!("register: {error}"));
        let channels = Channels {
            votes: register(channel::VOTES).await,
            certificates: register(channel::CERTIFICATES).await,
            resolver: register(channel::RESOLVER).await,
            broadcast: register(channel::BROADCAST).await,
            backfill: register(channel::BACKFILL).await,
        };
        let config = ValidatorConfig {
            chain: self.setup_chain.clone(),
            identity,
            scheme: self.schemes[index].clone(),
            partition_prefix: format!("validator-{index}"),
            mempool: Limits::default(),
            timeouts: Timeouts::default(),
            history: self.history,
        };
        let slot = &mut self.slots[index];
        slot.incarnation += 1;
        let (started, ready) = oneshot::channel();
        let manager = self.oracle.manager();
        let task = context
            .child("validator")
            .with_attribute("index", index)
            .with_attribute("incarnation", slot.incarnation)
            .spawn(move |context| async move {
                let validator = engine::start(context, config, channels, control, manager).await;
                let _ = started.send(validator);
                // The validator's actors are this task's children: it must outlive them.
                futures::future::pending::<()>().await;
            });
        let validator = ready.await.unwrap_or_else(|_| panic!("validator {index} did not start"))?;
        slot.task = Some(task);
        slot.validator = Some(validator);
        Ok(())
    }

    /// Starts validator `index` as Commonware's byzantine `behaviour` instead of the engine: it
    /// holds its share and votes, and does nothing else (no blocks, no storage).
    async fn boot_byzantine(&mut self, context: &deterministic::Context, index: usize, behaviour: Byzantine) {
        let control = self.oracle.control(self.identities[index].clone());
        let quota = Quota::per_second(NZU32!(10_000));
        let votes = control.register(channel::VOTES, quota).await.unwrap_or_else(|error| panic!("register: {error}"));
        let scheme = self.schemes[index].clone();
        let context = context.child("byzantine").with_attribute("index", index);
        let task = match behaviour {
            Byzantine::Conflicter => {
                conflicter::Conflicter::<_, _, Sha256>::new(context, conflicter::Config { scheme }).start(votes)
            }
            Byzantine::Nuller => nuller::Nuller::<_, _, Sha256>::new(context, nuller::Config { scheme }).start(votes),
        };
        let slot = &mut self.slots[index];
        slot.incarnation += 1;
        slot.task = Some(task);
        self.faults.push(format!("0ns: validator {index} is byzantine ({behaviour:?})"));
    }

    /// Ends the byzantine validator `index`: stops it, has every peer that blocked it unblock it
    /// (an operator who replaced the machine), and starts it as an honest validator. Returns the
    /// peers that had blocked it.
    async fn make_honest(&mut self, context: &deterministic::Context, index: usize) -> Vec<usize> {
        use commonware_runtime::Clock as _;
        self.crash(index).await;
        let identity = self.identities[index].clone();
        // Its votes still in flight get it blocked again when they land: unblock it until none
        // can be left (found by seed 1003: the restarted validator never caught up).
        let mut blockers = Vec::new();
        for _ in 0..3 {
            let blocked = self.oracle.blocked().await.unwrap_or_else(|error| panic!("blocked: {error}"));
            for (blocker, blocked) in blocked {
                if blocked == identity {
                    let _ = self.oracle.unblock(blocker.clone(), blocked).await;
                    blockers.extend(self.identities.iter().position(|peer| *peer == blocker));
                }
            }
            context.sleep(Duration::from_secs(1)).await;
        }
        blockers.sort();
        blockers.dedup();
        if let Err(error) = self.boot(context, index).await {
            panic!("validator {index} cannot start honest: {error}");
        }
        blockers
    }

    /// Crashes validator `index`: its tasks stop where they are, its unsynced writes are lost.
    async fn crash(&mut self, index: usize) -> bool {
        let slot = &mut self.slots[index];
        let Some(task) = slot.task.take() else { return false };
        // Every handle on its state goes with it (a restart opens its storage again).
        slot.validator = None;
        task.abort();
        let _ = task.await;
        true
    }

    /// Runs every fault due by `elapsed`.
    pub async fn apply_due(&mut self, context: &deterministic::Context, schedule: &Schedule, elapsed: Duration) {
        while let Some((at, fault)) = schedule.events.get(self.next_event) {
            if *at > elapsed {
                break;
            }
            self.next_event += 1;
            let note = match fault {
                Fault::Crash(index) => {
                    if self.crash(*index).await {
                        format!("{at:?}: validator {index} crashed")
                    } else {
                        self.skipped_restarts.push(*index);
                        format!("{at:?}: validator {index} already down")
                    }
                }
                Fault::Restart(index) => {
                    if let Some(position) = self.skipped_restarts.iter().position(|skipped| skipped == index) {
                        self.skipped_restarts.remove(position);
                        continue;
                    }
                    if let Err(error) = self.boot(context, *index).await {
                        panic!("validator {index} cannot start again after its crash: {error}");
                    }
                    format!("{at:?}: validator {index} restarted")
                }
                Fault::Cut(sides) => {
                    self.link_all(Some(sides)).await;
                    format!("{at:?}: cut into {sides:?}")
                }
                Fault::Heal => {
                    self.link_all(None).await;
                    format!("{at:?}: healed")
                }
                Fault::Honest(index) => {
                    let mut height = 0;
                    for (_, validator) in self.running() {
                        height = height.max(validator.node().lock().await.finalized_header().height);
                    }
                    let blockers = self.make_honest(context, *index).await;
                    format!("{at:?}: byzantine validator {index} out at height {height}, blocked by {blockers:?}")
                }
            };
            self.faults.push(note);
        }
    }

    /// The running validators, with their indices.
    pub fn running(&self) -> impl Iterator<Item = (usize, &SimValidator)> {
        self.slots.iter().enumerate().filter_map(|(index, slot)| slot.validator.as_ref().map(|v| (index, v)))
    }

    /// Every validator (all must be running).
    pub fn all(&self) -> Vec<&SimValidator> {
        self.slots
            .iter()
            .enumerate()
            .map(|(index, slot)| slot.validator.as_ref().unwrap_or_else(|| panic!("validator {index} is down")))
            .collect()
    }

    /// The faults that ran, in order.
    pub fn faults(&self) -> &[String] {
        &self.faults
    }

    /// Waits until every validator has finalized at least the highest height any had finalized
    /// when called.
    pub async fn wait_caught_up(&self, context: &deterministic::Context) {
        use commonware_runtime::Clock as _;
        let mut target = 0;
        for validator in self.all() {
            target = target.max(validator.node().lock().await.finalized_header().height);
        }
        loop {
            let mut lowest = u64::MAX;
            for validator in self.all() {
                lowest = lowest.min(validator.node().lock().await.finalized_header().height);
            }
            if lowest >= target {
                return;
            }
            context.sleep(Duration::from_millis(100)).await;
        }
    }
}
