//! Proposing, verifying and finalizing blocks with the chain's rules.
//!
//! Consensus asks the application to **propose** a block on a parent, or to **verify** a block
//! someone proposed; marshal then delivers **finalized** blocks in height order. All three work on
//! the parent's post-state: committed (the parent is the last finalized block) or speculative (a
//! block this node proposed or verified). A parent whose state is unknown here, after a restart for
//! instance, is rebuilt first by executing its unknown ancestors in order.
//!
//! The [`Node`] handle is shared by consensus, the finalizer task and the node's API. Its lock is
//! never held while waiting on the network.

use commonware_actor::Feedback;
use commonware_consensus::{
    Application, Heightable, Reporter,
    marshal::{Update, ancestry::Ancestry},
};
use commonware_cryptography::{Digested, Digestible};
use commonware_runtime::{Clock, Metrics, Spawner};
use commonware_utils::{Acknowledgement as _, acknowledgement::Exact};
use futures::{StreamExt as _, channel::mpsc, lock::Mutex};
use std::{
    collections::{BTreeSet, HashMap},
    sync::Arc,
    time::{Duration, SystemTime},
};
use veil_chain::ReadState as _;
use veil_chain::{Chain, Parameters, Snapshot, StateKey, StateReader as _};
use veil_light_client::LightClient;
use veil_mempool::{AdmissionError, Admitted, EgressAdmissionError, Mempool};
use veil_primitives::{
    Block, Hash, Header, Message, RoundSeed, SignedEgress, SignedTransaction, Topic, log::LogPeaks, topics::TopicProof,
};

use crate::{
    alias::{Context, Digest, Scheme},
    block::ConsensusBlock,
    history::{HistoricalState, TopicHistory},
    seeds::Seeds,
    state::{AuthenticatedState, StateProof, StateStoreError},
    transactions::TransactionIndex,
};

/// The longest a verifier waits for its clock to reach a block's timestamp before refusing it.
const MAX_CLOCK_WAIT: Duration = Duration::from_secs(10);

/// Finalized blocks a stream subscriber may leave unread before it is dropped.
pub const SUBSCRIBER_QUEUE: usize = 64;
/// Streams of finalized blocks open at once.
pub const MAX_SUBSCRIBERS: usize = 256;

/// A block that finalized, as subscribers see it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finalized {
    /// The block.
    pub block: Block,
    /// Its hash (the digest consensus certified).
    pub hash: Hash,
}

/// Where a transaction stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TransactionStatus {
    /// In the mempool, includable now.
    Pending,
    /// Finalized at `height`, at position `index` of the block.
    Finalized {
        /// The block height.
        height: u64,
        /// The position in the block.
        index: u32,
    },
    /// Unknown here.
    Unknown,
}

/// Everything the node keeps about the chain besides the archives.
pub struct NodeState<S: AuthenticatedState> {
    chain: Chain,
    state: S,
    mempool: Mempool,
    /// Headers of the committed block and every speculated one.
    headers: HashMap<Digest, Header>,
    finalized: Header,
    transactions: Box<dyn TransactionIndex>,
    subscribers: Vec<mpsc::Sender<Arc<Finalized>>>,
    /// The topic keys each speculated block changes, by block: what the history records at finality.
    topic_changes: HashMap<Digest, (u64, BTreeSet<Vec<u8>>)>,
    history: TopicHistory,
}

/// How many finalized blocks back topic proofs are served. Readers prove against the newest
/// height (a relayer pins one height for the few requests of one batch), so a short window
/// suffices; its undo log costs memory in proportion (every block changes the seeds topic).
pub const TOPIC_HISTORY_BLOCKS: u64 = 1_024;

fn topic_keys(changes: &veil_chain::ChangeSet) -> BTreeSet<Vec<u8>> {
    changes.keys().filter(|key| StateKey::is_topic_commitment(key)).cloned().collect()
}

impl<S: AuthenticatedState> NodeState<S> {
    /// The node state over an opened store whose committed block is `committed` (its header), with
    /// the index of finalized transactions.
    pub fn new(
        chain: Chain,
        state: S,
        mempool: Mempool,
        committed: Header,
        transactions: Box<dyn TransactionIndex>,
    ) -> Self {
        let digest = crate::block::to_digest(committed.hash());
        let history = TopicHistory::new(committed.height, TOPIC_HISTORY_BLOCKS);
        Self {
            chain,
            state,
            mempool,
            headers: HashMap::from([(digest, committed.clone())]),
            finalized: committed,
            transactions,
            subscribers: Vec::new(),
            topic_changes: HashMap::new(),
            history,
        }
    }

    /// Reads ahead, from the post-state of `at`, every key executing these transactions and egress
    /// reads: the keys they name, then the topic-tree nodes and the records those lead to.
    async fn prefetch(
        &self,
        at: &Digest,
        transactions: &[SignedTransaction],
        egress: &[SignedEgress],
    ) -> Result<Snapshot, String> {
        let keys = self.chain.keys_touched(transactions, egress);
        let mut snapshot = self.state.read(at, &keys).await.map_err(|e| e.to_string())?;
        let topics = self.chain.topics_touched(transactions, egress);
        let mut more = self.chain.tree_keys_touched(&snapshot, &topics).map_err(|e| e.to_string())?;
        more.extend(self.chain.dependent_keys(&snapshot, transactions).map_err(|e| e.to_string())?);
        snapshot.extend(self.state.read(at, &more).await.map_err(|e| e.to_string())?);
        Ok(snapshot)
    }

    /// Executes `block` on its parent's post-state and records the result, if the parent's state
    /// and header are known. `now_ms` is given when verifying a proposal (the clock rule applies),
    /// not when replaying finalized blocks.
    async fn execute(&mut self, block: &Block, now_ms: Option<u64>) -> Result<(), String> {
        let digest = crate::block::to_digest(block.header.hash());
        if self.state.knows(&digest) {
            return Ok(());
        }
        let parent = crate::block::to_digest(block.header.parent);
        let parent_header = self.headers.get(&parent).ok_or("parent header unknown")?.clone();
        let snapshot = self.prefetch(&parent, &block.transactions, &block.egress).await?;
        let executed = self.chain.execute(&snapshot, &parent_header, block, now_ms).map_err(|e| e.to_string())?;
        let (root, speculation) =
            self.state.speculate(&parent, block.header.height, &executed.changes).await.map_err(|e| e.to_string())?;
        if root != block.header.state_root {
            return Err(format!(
                "state root mismatch: header says {}, execution gives {root}",
                block.header.state_root
            ));
        }
        self.state.insert(digest, speculation);
        self.headers.insert(digest, block.header.clone());
        self.topic_changes.insert(digest, (block.header.height, topic_keys(&executed.changes)));
        Ok(())
    }

    /// The state, after block `at`, of every account and sender with pending transactions or
    /// egress: what the mempool needs to order and prune them.
    async fn pending_state_at(&self, at: &Digest) -> Result<Snapshot, String> {
        self.state.read(at, &self.mempool.pending_keys()).await.map_err(|e| e.to_string())
    }

    async fn build(&mut self, parent: &Digest, timestamp_ms: u64, seed: Option<RoundSeed>) -> Result<Block, String> {
        let parent_header = self.headers.get(parent).ok_or("parent header unknown")?.clone();
        let pending = self.pending_state_at(parent).await?;
        let economics = &pending.parameters().map_err(|e| e.to_string())?.economics;
        let candidates =
            self.mempool.ready(&pending, economics.max_block_transactions as usize).map_err(|e| e.to_string())?;
        let egress =
            self.mempool.ready_egress(&pending, economics.max_block_egress as usize).map_err(|e| e.to_string())?;
        let snapshot = self.prefetch(parent, &candidates, &egress).await?;
        let execution = self
            .chain
            .build(&snapshot, &parent_header, timestamp_ms, seed, candidates, egress)
            .map_err(|e| e.to_string())?;
        let height = parent_header.height + 1;
        let (state_root, speculation) =
            self.state.speculate(parent, height, &execution.changes).await.map_err(|e| e.to_string())?;
        let header = execution.header(&parent_header, state_root);
        let changed = topic_keys(&execution.changes);
        let transactions = execution.transactions.try_into().map_err(|_| "too many transactions")?;
        let egress = execution.egress.try_into().map_err(|_| "too much egress")?;
        let block = Block { header, transactions, egress };
        let digest = crate::block::to_digest(block.header.hash());
        self.state.insert(digest, speculation);
        self.headers.insert(digest, block.header.clone());
        self.topic_changes.insert(digest, (height, changed));
        Ok(block)
    }

    async fn finalize(&mut self, block: &Block) -> Result<(), String> {
        let height = block.header.height;
        if height <= self.state.committed().1 {
            return Ok(()); // Redelivered after a restart: already applied.
        }
        self.execute(block, None).await?;
        let hash = block.header.hash();
        let digest = crate::block::to_digest(hash);
        // The topic keys' values before this block, for proofs against older headers.
        let (_, changed) = self.topic_changes.remove(&digest).unwrap_or_default();
        let parent = self.state.committed().0;
        let before = self.state.read(&parent, &changed).await.map_err(|e| e.to_string())?;
        let before = changed
            .into_iter()
            .map(|key| before.get(&key).map(|value| (key, value)))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| e.to_string())?;
        self.state.finalize(digest).await.map_err(|e| e.to_string())?;
        self.history.record(height, before);
        self.topic_changes.retain(|_, (speculated, _)| *speculated > height);
        self.headers.retain(|_, header| header.height > height);
        self.headers.insert(digest, block.header.clone());
        self.finalized = block.header.clone();
        self.index_block(block).await?;
        let pending = self.pending_state_at(&digest).await?;
        self.mempool.prune(&pending).map_err(|e| e.to_string())?;
        let finalized = Arc::new(Finalized { block: block.clone(), hash });
        // A subscriber that has not read its queue is dropped (its stream ends), never waited for.
        self.subscribers.retain_mut(|subscriber| subscriber.try_send(Arc::clone(&finalized)).is_ok());
        Ok(())
    }

    /// The chain's rules.
    pub fn chain(&self) -> &Chain {
        &self.chain
    }

    /// The latest finalized header.
    pub fn finalized_header(&self) -> &Header {
        &self.finalized
    }

    /// Number of transactions in the mempool.
    pub fn mempool_len(&self) -> usize {
        self.mempool.len()
    }

    /// Number of egress copies in the mempool.
    pub fn mempool_egress_len(&self) -> usize {
        self.mempool.egress_len()
    }

    /// A page of `topic` after finalized block `height` (the newest when `None`): at most `limit`
    /// messages from index `from` (from the log's end, with no message and the log's peaks there as
    /// [`TopicMessages::start`], when `from` is `None`), with the proof against that header's
    /// message root, whose `rest` stands for the messages after the page. `None` if the topic had no
    /// message then. Refuses a height outside the recent history and a `from` beyond the length.
    pub async fn topic_messages(
        &self,
        topic: &Topic,
        from: Option<u64>,
        limit: u64,
        height: Option<u64>,
    ) -> Result<Option<TopicMessages>, String> {
        let (at, committed) = self.state.committed();
        let height = height.unwrap_or(committed);
        let oldest = self.history.oldest(committed);
        if height > committed || height < oldest {
            return Err(format!(
                "proofs are served for finalized heights {oldest}..={committed} here; {height} is outside"
            ));
        }
        let key = BTreeSet::from([StateKey::Topic(*topic).to_bytes()]);
        let mut snapshot = self.state.read(&at, &key).await.map_err(|e| e.to_string())?;
        let then = HistoricalState { current: &snapshot, history: &self.history, height };
        let Some(info) = then.topic(topic).map_err(|e| e.to_string())? else {
            return Ok(None);
        };
        let (start, from) = veil_chain::messages::page_start(&info, from);
        if from > info.log.length {
            return Err(format!("topic {topic} has {} messages; cannot start at {from}", info.log.length));
        }
        // Messages and subtree roots never change once written, so the current state has them all,
        // but for those a windowed topic has dropped since `height`.
        if let Some(current) = snapshot.topic(topic).map_err(|e| e.to_string())? {
            veil_chain::messages::check_kept(topic, current.log.length, from).map_err(|e| e.to_string())?;
        }
        let keys = veil_chain::messages::page_keys(topic, &info, from, limit).map_err(|e| e.to_string())?;
        snapshot.extend(self.state.read(&at, &keys).await.map_err(|e| e.to_string())?);
        let then = HistoricalState { current: &snapshot, history: &self.history, height };
        let (messages, proof) = self.chain.topic_page(&then, topic, &info, from, limit).map_err(|e| e.to_string())?;
        Ok(Some(TopicMessages { height, proof, messages, start }))
    }

    /// The committed state root (the latest finalized header's).
    pub fn state_root(&self) -> Hash {
        self.state.root()
    }

    /// The parameters a block on `parent` executes under: those in the parent's post-state.
    async fn parameters_after(&self, parent: &Digest) -> Result<Parameters, String> {
        let keys = BTreeSet::from([StateKey::Parameters.to_bytes()]);
        let snapshot = self.state.read(parent, &keys).await.map_err(|e| e.to_string())?;
        snapshot.parameters().map_err(|e| e.to_string())
    }

    /// Reads committed state.
    pub async fn read(&self, keys: &BTreeSet<Vec<u8>>) -> Result<veil_chain::Snapshot, StateStoreError> {
        self.state.read(&self.state.committed().0, keys).await
    }

    /// A proof of `key` against the committed state root.
    pub async fn prove(&self, key: &[u8]) -> Result<StateProof, StateStoreError> {
        self.state.prove(key).await
    }

    /// Where transaction `hash` stands.
    pub async fn transaction_status(&self, hash: &Hash) -> Result<TransactionStatus, String> {
        if let Some((height, index)) = self.transactions.find(hash).await? {
            return Ok(TransactionStatus::Finalized { height, index });
        }
        Ok(if self.mempool.contains(hash) { TransactionStatus::Pending } else { TransactionStatus::Unknown })
    }

    /// Records finalized block `block` in the transaction index (at start, the blocks after the
    /// last one the index holds durably).
    pub async fn index_block(&mut self, block: &Block) -> Result<(), String> {
        let hashes: Vec<Hash> = block.transactions.iter().map(SignedTransaction::hash).collect();
        self.transactions.record(block.header.height, block.header.hash(), &hashes).await
    }

    /// The last block the transaction index holds.
    pub fn indexed_height(&self) -> u64 {
        self.transactions.indexed_height()
    }
}

/// A topic's messages from some index to its certified length, with the proof against the header
/// of finalized block `height`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TopicMessages {
    /// The finalized height the proof is against.
    pub height: u64,
    /// The topic's slot, certified length and path.
    pub proof: TopicProof,
    /// The messages, in log order.
    pub messages: Vec<Message>,
    /// For a page asked from the log's end: the log's peaks there, where the reader starts.
    pub start: Option<LogPeaks>,
}

/// The shared handle to the node's state: consensus, the finalizer and the API all use it.
pub struct NodeHandle<S: AuthenticatedState> {
    inner: Arc<Mutex<NodeState<S>>>,
    /// Recent rounds' seeds, recorded from consensus's certificates (see [`crate::seeds`]).
    seeds: Seeds,
    /// Checks the round seed a proposed header carries.
    seed_checker: Arc<LightClient>,
}

impl<S: AuthenticatedState> Clone for NodeHandle<S> {
    fn clone(&self) -> Self {
        Self { inner: Arc::clone(&self.inner), seeds: self.seeds.clone(), seed_checker: Arc::clone(&self.seed_checker) }
    }
}

impl<S: AuthenticatedState> NodeHandle<S> {
    /// Shares `state`; proposals take their parent's seed from `seeds`.
    pub fn new(state: NodeState<S>, seeds: Seeds) -> Result<Self, String> {
        let network = &state.chain.genesis().network;
        let seed_checker = LightClient::new(&network.public_key, &network.namespace).map_err(|e| e.to_string())?;
        Ok(Self { inner: Arc::new(Mutex::new(state)), seeds, seed_checker: Arc::new(seed_checker) })
    }

    /// Locks the state for reading or updating; never hold the guard across network waits.
    pub async fn lock(&self) -> futures::lock::MutexGuard<'_, NodeState<S>> {
        self.inner.lock().await
    }

    /// Admits a transaction to the mempool, checked against the latest finalized state. A call
    /// other than a transfer whose nonce is the next one is also executed there (and thrown away),
    /// so a registration or command that cannot apply is refused now, with its reason, instead of
    /// being dropped silently by the proposer.
    pub async fn submit(&self, tx: SignedTransaction) -> Result<Admitted, AdmissionError> {
        let mut guard = self.inner.lock().await;
        let store_error = |e: StateStoreError| {
            AdmissionError::Invalid(veil_chain::TransactionError::State(veil_chain::StateError::Store(e.to_string())))
        };
        let keys = guard.chain.keys_touched(std::slice::from_ref(&tx), &[]);
        let mut snapshot = guard.read(&keys).await.map_err(store_error)?;
        let dependent = guard
            .chain
            .dependent_keys(&snapshot, std::slice::from_ref(&tx))
            .map_err(|error| AdmissionError::Invalid(veil_chain::TransactionError::State(error)))?;
        snapshot.extend(guard.read(&dependent.into_iter().collect()).await.map_err(store_error)?);
        if !matches!(
            tx.transaction.call,
            veil_primitives::Call::Accounts(veil_primitives::AccountsCall::Transfer { .. })
        ) {
            let mut overlay = veil_chain::state::Overlay::new(&snapshot);
            let next = overlay.account(&tx.transaction.signer).map_err(veil_chain::TransactionError::State)?.nonce;
            if tx.transaction.nonce == next {
                let parameters = snapshot.parameters().map_err(veil_chain::TransactionError::State)?;
                let mut outbox = veil_chain::Outbox::after(&guard.finalized, guard.finalized.timestamp_ms, parameters);
                guard.chain.apply(&mut overlay, &mut outbox, &tx)?;
            }
        }
        guard.mempool.insert(&snapshot, tx)
    }

    /// Admits an egress copy to the mempool, checked against the latest finalized state.
    pub async fn submit_egress(&self, copy: SignedEgress) -> Result<Admitted, EgressAdmissionError> {
        let mut guard = self.inner.lock().await;
        let keys = guard.chain.egress_keys(&copy).into_iter().collect();
        let snapshot = guard.read(&keys).await.map_err(|e| {
            EgressAdmissionError::Invalid(veil_chain::EgressError::State(veil_chain::StateError::Store(e.to_string())))
        })?;
        guard.mempool.insert_egress(&snapshot, copy)
    }

    /// A stream of every block finalized from now on, or `None` when [`MAX_SUBSCRIBERS`] streams
    /// are open. A subscriber that leaves [`SUBSCRIBER_QUEUE`] blocks unread is dropped: its
    /// stream ends, and it may subscribe again (blocks it missed are read by height).
    pub async fn subscribe(&self) -> Option<mpsc::Receiver<Arc<Finalized>>> {
        let mut guard = self.inner.lock().await;
        guard.subscribers.retain(|subscriber| !subscriber.is_closed());
        if guard.subscribers.len() >= MAX_SUBSCRIBERS {
            return None;
        }
        // The channel holds its bound plus one per sender.
        let (sender, receiver) = mpsc::channel(SUBSCRIBER_QUEUE - 1);
        guard.subscribers.push(sender);
        Some(receiver)
    }

    /// Makes sure the post-state of `first` (and so of its ancestors) is known, executing unknown
    /// ancestors oldest first. Fetches ancestors without holding the lock.
    async fn ensure_state(
        &self,
        first: &Digested<ConsensusBlock>,
        ancestry: &mut impl Ancestry<ConsensusBlock>,
    ) -> bool {
        let mut missing = Vec::new();
        let mut cursor = first.clone();
        loop {
            if self.inner.lock().await.state.knows(&cursor.digest()) {
                break;
            }
            missing.push(cursor.inner().block().clone());
            match ancestry.next().await {
                Some(parent) => cursor = parent,
                None => return false,
            }
        }
        let mut guard = self.inner.lock().await;
        for block in missing.iter().rev() {
            if let Err(error) = guard.execute(block, None).await {
                tracing::warn!(height = block.header.height, %error, "cannot rebuild the state of an ancestor");
                return false;
            }
        }
        true
    }
}

fn millis(time: SystemTime) -> u64 {
    time.duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

impl<E: Metrics + Spawner + Clock, S: AuthenticatedState> Application<E> for NodeHandle<S> {
    type SigningScheme = Scheme;
    type Context = Context;
    type Block = ConsensusBlock;
    type Input = ();

    async fn propose(
        &mut self,
        (runtime, context): (E, Context),
        mut ancestry: impl Ancestry<ConsensusBlock>,
        _input: (),
    ) -> Option<Digested<ConsensusBlock>> {
        let parent = ancestry.next().await?;
        if !self.ensure_state(&parent, &mut ancestry).await {
            return None;
        }
        // Pace empty-handed leaders: no block sooner than the minimum interval after its parent.
        let parameters = self.inner.lock().await.parameters_after(&parent.digest()).await;
        let interval = match parameters {
            Ok(parameters) => parameters.economics.min_block_interval_ms.max(1),
            Err(error) => {
                tracing::warn!(%error, "cannot read the parameters to build on");
                return None;
            }
        };
        let earliest = parent.inner().block().header.timestamp_ms.saturating_add(interval);
        let now = millis(runtime.current());
        if earliest > now {
            runtime.sleep(Duration::from_millis(earliest - now)).await;
        }
        let timestamp = millis(runtime.current()).max(earliest);
        // The parent round's seed: consensus reported its certificate before asking for this.
        let parent_view = context.parent.0.get();
        let seed = match parent_view {
            0 => None,
            view => match self.seeds.get(view) {
                Some(seed) => Some(seed),
                None => {
                    tracing::warn!(view, "no seed of the parent's round yet; not proposing");
                    return None;
                }
            },
        };
        let mut guard = self.inner.lock().await;
        match guard.build(&parent.digest(), timestamp, seed).await {
            Ok(block) => {
                let block = ConsensusBlock::new(block);
                let digest = block.digest();
                Some(Digested::precomputed(block, digest))
            }
            Err(error) => {
                tracing::warn!(%error, "cannot build a block");
                None
            }
        }
    }

    async fn verify(&mut self, (runtime, context): (E, Context), mut ancestry: impl Ancestry<ConsensusBlock>) -> bool {
        let Some(block) = ancestry.next().await else { return false };
        let Some(parent) = ancestry.next().await else { return false };
        // The header must carry the seed of its parent's round: the network's, of that view.
        let parent_view = context.parent.0.get();
        match (&block.inner().block().header.seed, parent_view) {
            (None, 0) => {}
            (Some(seed), view) if seed.view == view && self.seed_checker.verify_seed(seed).is_ok() => {}
            (seed, view) => {
                tracing::warn!(view, seed = ?seed.map(|seed| seed.view), "refusing a block without its parent round's seed");
                return false;
            }
        }
        if !self.ensure_state(&parent, &mut ancestry).await {
            return false;
        }
        // A block slightly ahead of our clock is waited for, not refused: clocks differ a little.
        let block = block.inner().block().clone();
        let drift = match self.inner.lock().await.parameters_after(&parent.digest()).await {
            Ok(parameters) => parameters.economics.max_timestamp_drift_ms,
            Err(error) => {
                tracing::warn!(%error, "cannot read the parameters to verify with");
                return false;
            }
        };
        let now = millis(runtime.current());
        let earliest = block.header.timestamp_ms.saturating_sub(drift);
        if earliest > now {
            let wait = Duration::from_millis(earliest - now);
            if wait > MAX_CLOCK_WAIT {
                tracing::warn!(height = block.header.height, "refusing a block too far ahead of this clock");
                return false;
            }
            runtime.sleep(wait).await;
        }
        let now = millis(runtime.current());
        let mut guard = self.inner.lock().await;
        match guard.execute(&block, Some(now)).await {
            Ok(()) => true,
            Err(error) => {
                tracing::warn!(height = block.header.height, %error, "refusing an invalid block");
                false
            }
        }
    }
}

/// Receives finalized blocks from marshal (synchronously, as its reporter must) and hands them to
/// [`run_finalizer`], which applies them in order and acknowledges each.
#[derive(Clone)]
pub struct Finalizer {
    sender: mpsc::UnboundedSender<(Digested<ConsensusBlock>, Exact)>,
}

/// The receiving end of a [`Finalizer`].
pub type FinalizedQueue = mpsc::UnboundedReceiver<(Digested<ConsensusBlock>, Exact)>;

impl Finalizer {
    /// A finalizer and the queue its task reads.
    pub fn new() -> (Self, FinalizedQueue) {
        let (sender, receiver) = mpsc::unbounded();
        (Self { sender }, receiver)
    }
}

impl Reporter for Finalizer {
    type Activity = Update<ConsensusBlock>;

    fn report(&mut self, activity: Self::Activity) -> Feedback {
        match activity {
            Update::Block(block, ack) => {
                if self.sender.unbounded_send((block, ack)).is_err() {
                    Feedback::Closed
                } else {
                    Feedback::Ok
                }
            }
            Update::Tip(..) => Feedback::Ok,
        }
    }
}

/// Applies finalized blocks in order, acknowledging each once its state is committed. A block that
/// does not execute to its certified state root means this node's state diverged from the
/// network's: the task stops without acknowledging, which halts marshal, and logs why. `applied`
/// hears each height once its block is committed.
pub async fn run_finalizer<S: AuthenticatedState>(
    node: NodeHandle<S>,
    mut queue: FinalizedQueue,
    mut applied: impl FnMut(u64) + Send + 'static,
) {
    while let Some((block, ack)) = queue.next().await {
        let height = block.height();
        let result = node.inner.lock().await.finalize(block.inner().block()).await;
        match result {
            Ok(()) => {
                ack.acknowledge();
                applied(height.get());
            }
            Err(error) => {
                tracing::error!(height = height.get(), %error, "cannot apply a finalized block; stopping");
                return;
            }
        }
    }
}
