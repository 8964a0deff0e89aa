//! Runtimes in the same process: a gatekeeper and workers, each with the relayer a host would run
//! beside it (it asks a running validator for a certified header and the runtime's topics from
//! where the runtime stands, hands the batch over, and submits the runtime's egress the chain
//! lacks), and each checkpointed after every batch as the worker service checkpoints it.
//!
//! A runtime's fresh secrets come from [`SeededRandomness`] with a seed of its own per start, so a
//! run repeats exactly. Checkpoints are kept in memory (the service seals them to disk).

use std::{
    collections::{BTreeMap, BTreeSet},
    sync::Arc,
    time::Duration,
};
use veil_chain::{Genesis, ReadState as _, StateKey};
use veil_crypto::{AccountPair, SecretBytes};
use veil_primitives::{
    Call, ClusterId, ContractId, EpochsCall, SenderId, Topic, Transaction, epoch::SealedSnapshot, hashing::sha256,
};
use veil_worker::{
    runtime::{Host, QueryLimits, Role, Runtime, SeededRandomness},
    sync::{Batch, TopicDelivery, assemble},
};
use zeroize::Zeroizing;

use crate::network::{Net, Schedule, SimValidator};

/// One runtime's place: the running one, if any, and its last checkpoint.
pub struct RuntimeSlot {
    /// `gatekeeper` or `worker-N`.
    pub name: String,
    role: Role,
    runtime: Option<Runtime>,
    checkpoint: Zeroizing<Vec<u8>>,
    incarnation: u32,
    seed: [u8; 32],
    /// Stopped for good (its machine is gone): never started again.
    retired: bool,
}

/// Every runtime of a run.
pub struct Runtimes {
    genesis: Genesis,
    slots: Vec<RuntimeSlot>,
    /// How many of the schedule's runtime crashes have happened, and restarts still due.
    crashed: usize,
    restarts: Vec<(Duration, usize)>,
    faults: Vec<String>,
    /// The newest sealed snapshot a cluster member uploaded, per cluster (the node's snapshot
    /// store: untrusted storage, the runtime checks what it imports).
    snapshots: BTreeMap<ClusterId, SealedSnapshot>,
    reporter: Reporter,
    rounds: u64,
}

/// The account the relayers report unfit cluster members with (anyone may report).
pub struct Reporter {
    pair: AccountPair,
    run: u64,
    /// When each worker was last reported.
    reported: BTreeMap<[u8; 32], Duration>,
}

/// A relayer uploads its runtime's cluster snapshot every this many rounds.
const SNAPSHOT_EVERY_ROUNDS: u64 = 10;
/// A relayer reports a worker again only this long after it last did.
const REPORT_AGAIN_AFTER: Duration = Duration::from_secs(10);
/// A runtime this many blocks behind its validator's newest block counts as synced (a relayer
/// reports nobody for a runtime that is not, as `veil relay` does not).
const SYNCED_WITHIN_BLOCKS: u64 = 3;

/// The seed of a runtime's identity (the gatekeeper's is named in genesis).
pub fn identity_seed(run: u64, name: &str) -> [u8; 32] {
    sha256(&[b"veil/simulation/identity".as_slice(), &run.to_le_bytes(), name.as_bytes()].concat()).0
}

/// The host a runtime of `seed` gets at its `incarnation`: software mode, no clock check on
/// queries (the simulated clock is the chain's), randomness of its own.
fn host(seed: &[u8; 32], incarnation: u32) -> Host {
    let randomness = sha256(&[seed.as_slice(), &incarnation.to_le_bytes()].concat()).0;
    Host {
        insecure: true,
        limits: QueryLimits { max_age_ms: None, ..QueryLimits::default() },
        randomness: Arc::new(SeededRandomness::new(randomness)),
    }
}

impl Runtimes {
    /// The gatekeeper (identity seed `identity_seed(run, "gatekeeper")`) and `workers` workers of
    /// `genesis`, started fresh; their relayers report unfit cluster members with `reporter`.
    pub fn new(genesis: &Genesis, run: u64, workers: usize, reporter: AccountPair) -> Self {
        let names = std::iter::once(("gatekeeper".to_owned(), Role::Gatekeeper))
            .chain((0..workers).map(|index| (format!("worker-{index}"), Role::Worker)));
        let slots = names
            .map(|(name, role)| {
                let seed = identity_seed(run, &name);
                let runtime = Runtime::new(genesis, host(&seed, 1), role, Some(SecretBytes::new(seed)))
                    .unwrap_or_else(|error| panic!("runtime {name}: {error}"));
                let checkpoint = runtime.checkpoint();
                RuntimeSlot { name, role, runtime: Some(runtime), checkpoint, incarnation: 1, seed, retired: false }
            })
            .collect();
        let reporter = Reporter { pair: reporter, run, reported: BTreeMap::new() };
        Self {
            genesis: genesis.clone(),
            slots,
            crashed: 0,
            restarts: Vec::new(),
            faults: Vec::new(),
            snapshots: BTreeMap::new(),
            reporter,
            rounds: 0,
        }
    }

    /// The running runtimes that run `contract`.
    pub fn replicas<'a>(&'a self, contract: &'a ContractId) -> impl Iterator<Item = (&'a str, &'a Runtime)> {
        self.running().filter(move |(_, runtime)| {
            runtime.contracts().iter().any(|(id, _, _, running)| id == contract && *running)
        })
    }

    /// Each running runtime's height, key epoch, cluster and contracts (for a trace).
    pub fn progress(&self) -> String {
        let each = self.running().map(|(name, runtime)| {
            let epoch = runtime.key_epoch().map_or(0, |epoch| epoch.0);
            let cluster =
                runtime.cluster().map(|(cluster, waiting)| format!(" {cluster}{}", if waiting { "?" } else { "" }));
            let contracts = runtime.contracts().len();
            format!("{name}@{} e{epoch}{} c{contracts}", runtime.view().height, cluster.unwrap_or_default())
        });
        each.collect::<Vec<_>>().join(", ")
    }

    /// Stops runtime `name` for good, as a machine that is gone (a scheduled restart of it is
    /// skipped).
    pub fn retire(&mut self, name: &str, at: Duration) {
        let slot = self.slots.iter_mut().find(|slot| slot.name == name).unwrap_or_else(|| panic!("no runtime {name}"));
        slot.runtime = None;
        slot.retired = true;
        self.faults.push(format!("{at:?}: runtime {name} stopped for good"));
    }

    /// Every runtime that is running, with its slot's name.
    pub fn running(&self) -> impl Iterator<Item = (&str, &Runtime)> {
        self.slots.iter().filter_map(|slot| slot.runtime.as_ref().map(|runtime| (slot.name.as_str(), runtime)))
    }

    /// The runtime named `name` (running).
    pub fn get(&self, name: &str) -> &Runtime {
        self.slots
            .iter()
            .find(|slot| slot.name == name)
            .and_then(|slot| slot.runtime.as_ref())
            .unwrap_or_else(|| panic!("runtime {name} is not running"))
    }

    /// Whether the network of runtimes is up to key epoch `epoch`: the gatekeeper holds the master
    /// key and every running runtime reads that epoch open.
    pub fn settled(&self, epoch: u32) -> bool {
        self.running().all(|(_, runtime)| {
            let gatekeeper_ready = runtime.role() != Role::Gatekeeper || runtime.master_public().is_some();
            gatekeeper_ready && runtime.key_epoch().is_some_and(|open| open.0 >= epoch)
        })
    }

    /// Runs the schedule's runtime crashes and restarts due by `elapsed` (a crash of a runtime
    /// already down is skipped, with its restart). A crashed runtime loses what it did since its
    /// last checkpoint.
    pub fn apply_due(&mut self, schedule: &Schedule, elapsed: Duration) {
        while let Some(&(at, index, back)) = schedule.runtime_crashes.get(self.crashed) {
            if at > elapsed {
                break;
            }
            self.crashed += 1;
            if self.slots[index].runtime.take().is_some() {
                self.faults.push(format!("{at:?}: runtime {} crashed", self.slots[index].name));
                self.restarts.push((back, index));
            }
        }
        self.restarts.sort();
        while let Some(&(at, index)) = self.restarts.first() {
            if at > elapsed {
                break;
            }
            self.restarts.remove(0);
            if self.slots[index].retired {
                continue;
            }
            self.restart(index);
            self.faults.push(format!("{at:?}: runtime {} restarted from its checkpoint", self.slots[index].name));
        }
    }

    /// Whether every scheduled runtime crash happened and every crashed runtime is back.
    pub fn crashes_done(&self, schedule: &Schedule) -> bool {
        self.crashed >= schedule.runtime_crashes.len() && self.restarts.is_empty()
    }

    /// The runtime faults that ran, in order.
    pub fn faults(&self) -> &[String] {
        &self.faults
    }

    /// Starts runtime `index` again from its last checkpoint.
    fn restart(&mut self, index: usize) {
        let slot = &mut self.slots[index];
        slot.incarnation += 1;
        let runtime = Runtime::restore(&self.genesis, host(&slot.seed, slot.incarnation), &slot.checkpoint)
            .unwrap_or_else(|error| panic!("runtime {} cannot restore its checkpoint: {error}", slot.name));
        debug_assert_eq!(runtime.role(), slot.role);
        slot.runtime = Some(runtime);
    }

    /// One round of every running runtime's relayer, through `validator`, `elapsed` into the run.
    pub async fn relay(&mut self, validator: &SimValidator, elapsed: Duration) {
        self.rounds += 1;
        let snapshot_due = self.rounds.is_multiple_of(SNAPSHOT_EVERY_ROUNDS);
        let mut reports = Vec::new();
        for slot in &mut self.slots {
            let Some(runtime) = slot.runtime.as_mut() else { continue };
            relay_once(runtime, &mut slot.checkpoint, validator)
                .await
                .unwrap_or_else(|error| panic!("relaying to {}: {error}", slot.name));
            match runtime.cluster() {
                Some((cluster, true)) => {
                    // A replacement takes over the newest snapshot; one from before it joined is
                    // refused, and a later upload is tried in a later round.
                    if let Some(snapshot) = self.snapshots.get(&cluster)
                        && runtime.import_snapshot(snapshot).is_ok()
                    {
                        slot.checkpoint = runtime.checkpoint();
                    }
                }
                Some((cluster, false)) => {
                    if snapshot_due && let Ok(snapshot) = runtime.snapshot() {
                        let newer = self.snapshots.get(&cluster).is_none_or(|stored| stored.height < snapshot.height);
                        if newer {
                            self.snapshots.insert(cluster, snapshot);
                        }
                    }
                    if let Some(worker) = self.reporter.report_unfit(runtime, cluster, validator, elapsed).await {
                        reports.push((slot.name.clone(), worker));
                    }
                }
                None => {}
            }
        }
        // Reports are rare: the reported runtime's name is looked up only for them.
        for (by, worker) in reports {
            let reported = self.slots.iter().find(|slot| identity_of(&slot.seed) == worker);
            let reported = reported.map_or("an unknown worker", |slot| slot.name.as_str());
            self.faults.push(format!("{elapsed:?}: {by}'s relayer reported {reported} unfit"));
        }
    }

    /// Relays through a running validator, if any.
    pub async fn relay_through_any(&mut self, net: &Net, pick: usize, elapsed: Duration) {
        let running: Vec<&SimValidator> = net.running().map(|(_, validator)| validator).collect();
        if let Some(validator) = running.get(pick % running.len().max(1)) {
            self.relay(validator, elapsed).await;
        }
    }
}

impl Reporter {
    /// Reports the first member of `cluster` (not `runtime` itself) that the chain shows unfit, as
    /// `veil relay --operator` does: only while `runtime` is synced (just after a restart it would
    /// report the others before their heartbeats land), and each worker at most once per
    /// [`REPORT_AGAIN_AFTER`].
    /// Returns the worker reported, if any.
    async fn report_unfit(
        &mut self,
        runtime: &Runtime,
        cluster: ClusterId,
        validator: &SimValidator,
        now: Duration,
    ) -> Option<[u8; 32]> {
        let node = validator.node();
        let guard = node.lock().await;
        let header = guard.finalized_header().clone();
        if runtime.view().height + SYNCED_WITHIN_BLOCKS < header.height {
            return None;
        }
        let Ok(snapshot) = guard.read(&BTreeSet::from([StateKey::Cluster(cluster).to_bytes()])).await else {
            return None;
        };
        let Ok(Some(info)) = snapshot.cluster(cluster) else { return None };
        let mut keys: BTreeSet<Vec<u8>> =
            info.workers.iter().map(|worker| StateKey::Worker(*worker).to_bytes()).collect();
        keys.extend(
            [StateKey::Parameters, StateKey::Epochs, StateKey::Account(self.pair.public())].map(|k| k.to_bytes()),
        );
        let Ok(records) = guard.read(&keys).await else { return None };
        let (Ok(parameters), Ok(epochs), Ok(account)) =
            (records.parameters(), records.epochs(), records.account(&self.pair.public()))
        else {
            return None;
        };
        let window = parameters.liveness.offline_after_ms;
        let current = epochs.current.map(|opening| opening.epoch);
        let unfit = info.workers.iter().copied().find(|worker| {
            let recent = self.reported.get(worker).is_some_and(|at| now.saturating_sub(*at) < REPORT_AGAIN_AFTER);
            let unfit = match records.worker(worker) {
                Ok(Some(record)) => record.unfit(header.timestamp_ms, window, epochs.stalled_ms, current).is_some(),
                Ok(None) => true,
                Err(_) => false,
            };
            *worker != runtime.identity() && !recent && unfit
        });
        drop(guard);
        let worker = unfit?;
        self.reported.insert(worker, now);
        let transaction = Transaction {
            genesis: runtime.chain(),
            signer: self.pair.public(),
            nonce: account.nonce,
            call: Call::Epochs(EpochsCall::ReportOffline { cluster, worker }),
        };
        let seed = sha256(
            &[b"veil/simulation/report".as_slice(), &self.run.to_le_bytes(), &account.nonce.to_le_bytes()].concat(),
        );
        // A refusal (the worker's heartbeat landed meanwhile, a nonce another relayer took) is met
        // by a later report.
        let _ = node.submit(self.pair.sign_transaction_replayable(transaction, seed.0)).await;
        Some(worker)
    }
}

/// What a relayer does once: the newest certified header, the runtime's topics from where it
/// stands at that header (the batch rule of [`assemble`]: the sync closure is served from pages
/// fetched first), the batch handed over and checkpointed (as the service checkpoints before it
/// lets egress out), then the runtime's egress the chain lacks submitted. A refusal of an honest
/// batch is an error.
async fn relay_once(
    runtime: &mut Runtime,
    checkpoint: &mut Zeroizing<Vec<u8>>,
    validator: &SimValidator,
) -> Result<(), String> {
    let node = validator.node();
    let height = node.lock().await.finalized_header().height;
    let Some((block, certificate)) = validator.certified_block(height).await else { return Ok(()) };
    let at = block.header.height;
    if at < runtime.view().height {
        return Ok(()); // This validator is behind the runtime: another round, another validator.
    }
    let positions: Vec<(Topic, u64)> =
        runtime.view().topics.iter().map(|(topic, peaks)| (*topic, peaks.length)).collect();
    // Which pages the rule asks for (no page limit: every topic to the header).
    let mut wanted = Vec::new();
    let _ = assemble(positions.clone(), u64::MAX, |topic, from, _| {
        wanted.push((*topic, from));
        Ok::<_, ()>(None)
    });
    let mut pages = Vec::new();
    for (topic, from) in wanted {
        let page = node.lock().await.topic_messages(&topic, from, u64::MAX, Some(at)).await?;
        pages.push(page.map(|page| TopicDelivery {
            topic,
            messages: page.messages,
            proof: page.proof,
            start: page.start,
        }));
    }
    let mut pages = pages.into_iter();
    let topics = assemble(positions, u64::MAX, |_, _, _| Ok::<_, String>(pages.next().flatten()))?;
    let batch = Batch { certificate, header: block.header, topics };
    runtime.apply(&batch).map_err(|error| format!("the runtime refused an honest batch at height {at}: {error}"))?;
    *checkpoint = runtime.checkpoint();

    for copy in runtime.pending_egress() {
        let sender: SenderId = copy.egress.sender;
        let keys = BTreeSet::from([StateKey::Sender(sender).to_bytes()]);
        let snapshot = node.lock().await.read(&keys).await.map_err(|error| error.to_string())?;
        let next = snapshot.sender(&sender).map_err(|error| error.to_string())?.map_or(0, |info| info.next_sequence);
        if copy.egress.sequence >= next {
            // Refusals (a sender not registered yet, a full pool) are met by the next round.
            let _ = node.submit_egress(copy).await;
        }
    }
    Ok(())
}

/// The identity key of the runtime whose identity seed is `seed`.
pub fn identity_of(seed: &[u8; 32]) -> [u8; 32] {
    veil_crypto::RuntimeSigner::from_seed(&SecretBytes::new(*seed)).public()
}
