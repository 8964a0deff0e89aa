//! Runtimes in the same process: a gatekeeper and workers, each with the relayer a host would run
//! beside it (it asks a running validator for a certified header and the runtime's topics from
//! where the runtime stands, hands the batch over, and submits the runtime's egress the chain
//! lacks), and each checkpointed after every batch as the worker service checkpoints it.
//!
//! A runtime's fresh secrets come from [`SeededRandomness`] with a seed of its own per start, so a
//! run repeats exactly. Checkpoints are kept in memory (the service seals them to disk).

use std::{collections::BTreeSet, sync::Arc, time::Duration};
use veil_chain::{Genesis, ReadState as _, StateKey};
use veil_crypto::SecretBytes;
use veil_primitives::{SenderId, Topic, hashing::sha256};
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
}

/// Every runtime of a run.
pub struct Runtimes {
    genesis: Genesis,
    slots: Vec<RuntimeSlot>,
    /// How many of the schedule's runtime crashes have happened, and restarts still due.
    crashed: usize,
    restarts: Vec<(Duration, usize)>,
    faults: Vec<String>,
}

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
    /// `genesis`, started fresh.
    pub fn new(genesis: &Genesis, run: u64, workers: usize) -> Self {
        let names = std::iter::once(("gatekeeper".to_owned(), Role::Gatekeeper))
            .chain((0..workers).map(|index| (format!("worker-{index}"), Role::Worker)));
        let slots = names
            .map(|(name, role)| {
                let seed = identity_seed(run, &name);
                let runtime = Runtime::new(genesis, host(&seed, 1), role, Some(SecretBytes::new(seed)))
                    .unwrap_or_else(|error| panic!("runtime {name}: {error}"));
                let checkpoint = runtime.checkpoint();
                RuntimeSlot { name, role, runtime: Some(runtime), checkpoint, incarnation: 1, seed }
            })
            .collect();
        Self { genesis: genesis.clone(), slots, crashed: 0, restarts: Vec::new(), faults: Vec::new() }
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

    /// Whether the network of runtimes is up: the gatekeeper holds the master key and every
    /// running worker its key of the current epoch.
    pub fn settled(&self) -> bool {
        self.running().all(|(_, runtime)| match runtime.role() {
            Role::Gatekeeper => runtime.master_public().is_some(),
            Role::Worker => runtime.key_epoch().is_some(),
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

    /// One round of every running runtime's relayer, through `validator`.
    pub async fn relay(&mut self, validator: &SimValidator) {
        for slot in &mut self.slots {
            let Some(runtime) = slot.runtime.as_mut() else { continue };
            relay_once(runtime, &mut slot.checkpoint, validator)
                .await
                .unwrap_or_else(|error| panic!("relaying to {}: {error}", slot.name));
        }
    }

    /// Relays through a running validator, if any.
    pub async fn relay_through_any(&mut self, net: &Net, pick: usize) {
        let running: Vec<&SimValidator> = net.running().map(|(_, validator)| validator).collect();
        if let Some(validator) = running.get(pick % running.len().max(1)) {
            self.relay(validator).await;
        }
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
