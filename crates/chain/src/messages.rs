//! The message queue: topics, their logs, the topic tree, and egress from off-chain senders.
//!
//! **Publishing.** A transaction's command, an accepted egress, or a chain module appends a
//! [`Message`] to a topic's log ([`TopicInfo`]: a slot in the topic tree, assigned at the topic's
//! first message, and the log's Merkle-mountain-range peaks). After a block's transactions and egress,
//! every topic the block touched gets its new leaf, and the tree root becomes the header's
//! `messages.root` (see `veil_primitives::topics`). Tree nodes and the messages themselves (by topic
//! and index) live in the state like everything else, so the state root covers them, a node
//! prefetches the nodes before executing, and any node serves a topic's messages from its state.
//!
//! **Egress.** An off-chain sender registered on chain ([`SenderInfo`]) signs each message with its
//! ed25519 key under its current key epoch and its next sequence number. The chain accepts each
//! sequence number exactly once, in order: a copy under the next number is **accepted** and published
//! on its topic; a copy with the accepted one's content (topic and payload; see
//! `Egress::content_hash`) is a **duplicate** (replicas of a cluster sign the same bytes, or one
//! re-signed it under a newer epoch after a rotation) and is never included, so it costs nobody
//! anything; a validly signed copy whose content differs from the accepted one is a
//! **discrepancy**, recorded in the state and published, with the differing copy as evidence, on
//! the discrepancies topic, once per sequence number. Numbers ahead of the next one wait in the
//! mempool; numbers older than the window are stale; a copy signed under an epoch older than the
//! sender's is refused (its key is retired). Runtimes' payloads on system topics are checked before
//! they are accepted ([`crate::epochs`]). Egress pays no fee; the rate limit is a per-block quota per
//! sender.

use parity_scale_codec::Encode;
use std::{
    cell::RefCell,
    collections::{BTreeMap, BTreeSet},
    convert::Infallible,
};
use veil_crypto::verify_runtime_signature;
use veil_primitives::{
    AccountId, BoundedVec, Hash, Header, KeyEpoch, Message, Nonce, Origin, Parameters, RoundSeed, SenderId,
    SignedEgress, SignedTransaction, SystemTopic, Topic,
    contract::BlockStamp,
    log::{self, KEPT_LEVEL, LogPeaks},
    message::Discrepancy,
    topics::{self, DEPTH, TopicProof, TreeNodes},
};

use crate::{
    Chain, TransactionError,
    module::{self, AddKey, Keys, Module},
    state::{Overlay, ReadState, StateError, StateKey, StateReader, TopicInfo},
};

/// A message a block appended to a topic's log, at `index`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Published {
    /// Its position in the topic's log.
    pub index: u64,
    /// The message.
    pub message: Message,
}

/// What a block publishes as it executes, the egress quota each sender has used, the block's
/// time, which registrations and lapses are judged at, and the parameters it executes under.
#[derive(Clone, Debug)]
pub struct Outbox {
    /// The messages, in publication order.
    pub messages: Vec<Published>,
    egress_used: BTreeMap<SenderId, u32>,
    height: u64,
    time_ms: u64,
    parent_time_ms: u64,
    parameters: Parameters,
    seed: Option<RoundSeed>,
    stalled_ms: u64,
}

impl Outbox {
    /// An empty outbox for a block (or a dry run) on `parent` at `time_ms`, executing under
    /// `parameters`: those in the parent's state, so a change applies from the block after it.
    pub fn after(parent: &Header, time_ms: u64, parameters: Parameters) -> Self {
        Self::new(parent.height + 1, time_ms, parent.timestamp_ms, parameters)
    }

    /// An empty outbox for a block at `height` and `time_ms` whose parent is from `parent_time_ms`.
    pub fn new(height: u64, time_ms: u64, parent_time_ms: u64, parameters: Parameters) -> Self {
        Self {
            messages: Vec::new(),
            egress_used: BTreeMap::new(),
            height,
            time_ms,
            parent_time_ms,
            parameters,
            seed: None,
            stalled_ms: 0,
        }
    }

    /// The same, for a block whose header carries its parent round's `seed`.
    pub fn with_seed(mut self, seed: Option<RoundSeed>) -> Self {
        self.seed = seed;
        self
    }

    /// The seed of the parent's round that the block carries (`None` on genesis's child, and in
    /// dry runs).
    pub fn seed(&self) -> Option<RoundSeed> {
        self.seed
    }

    /// The parent block's time: inflation is minted for the time since.
    pub fn parent_time_ms(&self) -> u64 {
        self.parent_time_ms
    }

    /// The parameters the block executes under.
    pub fn parameters(&self) -> &Parameters {
        &self.parameters
    }

    /// The block's height.
    pub fn height(&self) -> u64 {
        self.height
    }

    /// The block, as contracts see it.
    pub fn block(&self) -> BlockStamp {
        BlockStamp { height: self.height, timestamp_ms: self.time_ms }
    }

    /// The block's time, milliseconds since the Unix epoch.
    pub fn time_ms(&self) -> u64 {
        self.time_ms
    }

    /// The block's time on the liveness clock: block time less the time the chain spent stalled
    /// (`EpochState::stalled_ms`, brought up to date by the epochs module at the start of the
    /// block; a dry run outside a block counts no stall).
    pub fn liveness_ms(&self) -> u64 {
        self.time_ms.saturating_sub(self.stalled_ms)
    }

    /// Sets the stalled time the liveness clock subtracts (the epochs module, at block start).
    pub(crate) fn set_stalled_ms(&mut self, stalled_ms: u64) {
        self.stalled_ms = stalled_ms;
    }
}

/// What an egress copy does when applied.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EgressOutcome {
    /// It carries the sender's next sequence number: accepted and published.
    Accepted,
    /// It differs from the copy accepted under its number: recorded as a discrepancy.
    Discrepancy,
}

/// Why an egress copy is refused. Every variant says what to fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EgressError {
    /// Bytes that are not a signed egress.
    #[error("malformed egress: {0}")]
    Malformed(String),
    /// Larger than the parameters' limit.
    #[error("egress is {len} bytes; the limit is {limit}")]
    TooLarge {
        /// Its encoded length.
        len: usize,
        /// The limit.
        limit: usize,
    },
    /// No key is registered for the sender.
    #[error("sender {0} is not registered")]
    UnknownSender(SenderId),
    /// Signed under an epoch the sender has left.
    #[error("egress is signed under key {found}; the sender is now at key {current}")]
    OldEpoch {
        /// The sender's epoch.
        current: KeyEpoch,
        /// The egress's.
        found: KeyEpoch,
    },
    /// Signed under an epoch the chain has not reached.
    #[error("egress claims key {found}; the sender is only at key {current}")]
    FutureEpoch {
        /// The sender's epoch.
        current: KeyEpoch,
        /// The egress's.
        found: KeyEpoch,
    },
    /// The signature is not the registered key's.
    #[error("bad signature: not signed by the key registered for {0}")]
    BadSignature(SenderId),
    /// The sender may not publish on that topic.
    #[error("{sender} may not publish on topic {topic}")]
    TopicNotAllowed {
        /// The sender.
        sender: SenderId,
        /// The topic.
        topic: Topic,
    },
    /// The identical copy was already accepted: nothing to do, nothing charged.
    #[error("sequence number {sequence} of {sender} is already accepted with this exact content")]
    Duplicate {
        /// The sender.
        sender: SenderId,
        /// The number.
        sequence: u64,
    },
    /// A sequence number too old to compare with what was accepted.
    #[error("sequence number {found} of {sender} is stale: the next is {next} and only the last {window} are kept")]
    Stale {
        /// The sender.
        sender: SenderId,
        /// The sender's next number.
        next: u64,
        /// The copy's number.
        found: u64,
        /// The parameters' window.
        window: u64,
    },
    /// A discrepancy under this number is already on chain.
    #[error("a discrepancy under sequence number {sequence} of {sender} is already recorded")]
    DiscrepancyRecorded {
        /// The sender.
        sender: SenderId,
        /// The number.
        sequence: u64,
    },
    /// A number ahead of the next one: earlier ones are missing. A mempool parks these.
    #[error("sequence number {found} of {sender} is ahead of its next number {next}")]
    FutureSequence {
        /// The sender.
        sender: SenderId,
        /// The next number.
        next: u64,
        /// The copy's number.
        found: u64,
    },
    /// A runtime (worker or gatekeeper) whose registration lapsed (by time, or because its
    /// measurement was disallowed): it must renew before it sends again.
    #[error(
        "runtime 0x{} registration lapsed at {expired_at_ms} ms; it must re-attest with an allowed measurement",
        hex::encode(.worker)
    )]
    WorkerLapsed {
        /// The worker's signing key.
        worker: [u8; 32],
        /// When it lapsed.
        expired_at_ms: u64,
    },
    /// A gatekeeper identity the rotation admin replaced: it is heard no more.
    #[error("0x{} is no longer in the gatekeeper set", hex::encode(.0))]
    NotInGatekeeperSet([u8; 32]),
    /// A gatekeeper that has not registered: a gatekeeper attests before anything it says counts.
    #[error("gatekeeper 0x{} has not registered; it must attest (register) before it sends", hex::encode(.0))]
    GatekeeperNotRegistered([u8; 32]),
    /// The sender used its quota of this block. A mempool keeps these for a later block.
    #[error("{sender} already has {limit} egress copies in this block, the per-block limit")]
    RateLimited {
        /// The sender.
        sender: SenderId,
        /// The limit.
        limit: u32,
    },
    /// A runtime's payload on a system topic that the chain does not take (see
    /// [`crate::epochs`]).
    #[error("{sender}: {reason}")]
    Payload {
        /// The sender.
        sender: SenderId,
        /// What is wrong.
        reason: String,
    },
    /// State could not be read.
    #[error(transparent)]
    State(#[from] StateError),
}

impl EgressError {
    /// Whether the copy may become includable later: a mempool keeps these.
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::FutureSequence { .. } | Self::RateLimited { .. })
    }
}

/// Whether `sender` may publish on `topic`: any sender on contract command topics (results and
/// cross-contract calls), gatekeepers and the gatekeeper set on the key-epoch topic, runtimes'
/// epoch keys on the duty log, workers' heartbeats, contracts on the releases topic; the other
/// system topics belong to the chain's modules.
pub fn may_publish(sender: &SenderId, topic: &Topic) -> bool {
    match topic {
        Topic::Contract(_) => true,
        Topic::System(SystemTopic::KeyEpochs) => matches!(sender, SenderId::Gatekeeper(_) | SenderId::GatekeeperSet),
        Topic::System(SystemTopic::Assignments) => matches!(sender, SenderId::Gatekeeper(_) | SenderId::Worker(_)),
        Topic::System(SystemTopic::Heartbeats) => matches!(sender, SenderId::Worker(_) | SenderId::Gatekeeper(_)),
        Topic::System(SystemTopic::Releases) => matches!(sender, SenderId::Contract(_)),
        Topic::System(_) => false,
    }
}

/// The tree nodes in an overlay, for `veil_primitives::topics`; remembers the first read error.
struct OverlayTree<'o, 'a> {
    overlay: &'o mut Overlay<'a>,
    error: RefCell<Option<StateError>>,
}

impl TreeNodes for OverlayTree<'_, '_> {
    fn node(&self, level: usize, index: u64) -> Option<Hash> {
        self.overlay.topic_node(level, index).unwrap_or_else(|error| {
            self.error.borrow_mut().get_or_insert(error);
            None
        })
    }

    fn set_node(&mut self, level: usize, index: u64, hash: Hash) {
        self.overlay.set_topic_node(level, index, &hash);
    }
}

/// The messages module: egress acceptance (sequence numbers, signatures, discrepancies, quotas)
/// and the topic logs every module publishes on.
pub(crate) struct Messages;

impl Module for Messages {
    type Call = Infallible;

    fn apply(
        _chain: &Chain,
        _overlay: &mut Overlay<'_>,
        _outbox: &mut Outbox,
        _signer: &AccountId,
        _nonce: Nonce,
        call: &Infallible,
    ) -> Result<(), TransactionError> {
        module::no_call(call)
    }

    fn block_keys(keys: &mut Keys) {
        // Committing the topic tree: the slot count and the root.
        keys.add(StateKey::TopicCount);
        keys.add(StateKey::topic_node(DEPTH, 0));
    }

    fn egress_keys(_chain: &Chain, copy: &SignedEgress, keys: &mut Keys) {
        let (sender, sequence) = (copy.egress.sender, copy.egress.sequence);
        keys.add(StateKey::Sender(sender));
        keys.add(StateKey::EgressAccepted(sender, sequence));
        keys.add(StateKey::Discrepancy(sender, sequence));
        if let SenderId::Worker(identity) | SenderId::Gatekeeper(identity) = sender {
            // A lapsed runtime's egress is refused.
            keys.add(StateKey::Worker(identity));
        }
    }

    fn egress_topics(copy: &SignedEgress, topics: &mut BTreeSet<Topic>) {
        topics.insert(copy.egress.topic);
        topics.insert(Topic::System(SystemTopic::Discrepancies));
    }
}

impl Chain {
    /// Appends `message` to its topic's log, assigning the topic a slot at its first message.
    pub(crate) fn publish(
        &self,
        overlay: &mut Overlay<'_>,
        outbox: &mut Outbox,
        message: Message,
    ) -> Result<(), StateError> {
        let mut info = match overlay.topic(&message.topic)? {
            Some(info) => info,
            None => {
                let slot = overlay.topic_count()?;
                let next = slot.checked_add(1).ok_or(StateError::Store("every topic slot is used".into()))?;
                overlay.set_topic_count(next);
                TopicInfo { slot, ..TopicInfo::default() }
            }
        };
        let index = info.log.length;
        let window = message.topic.kept_messages();
        // A windowed topic keeps no subtree larger than its window: one would start before the
        // window by the time it is complete, and no page needs it.
        let top_level = window.map_or(u32::MAX, u64::trailing_zeros);
        info.log.append_with(&message.hash(), |level, index, root| {
            if (KEPT_LEVEL..=top_level).contains(&level) {
                overlay.set_topic_log_node(&message.topic, level, index, root);
            }
        });
        overlay.set_topic(&message.topic, &info);
        overlay.set_topic_message(&message.topic, index, &message);
        if let Some(dropped) = window.and_then(|window| index.checked_sub(window)) {
            // The message that left the window, and the kept subtrees that started with it (each
            // complete since it is no larger than the window).
            overlay.remove_topic_message(&message.topic, dropped);
            for level in (KEPT_LEVEL..=top_level).filter(|level| dropped.trailing_zeros() >= *level) {
                overlay.remove_topic_log_node(&message.topic, level, dropped >> level);
            }
        }
        outbox.messages.push(Published { index, message });
        Ok(())
    }

    /// Updates the topic tree for every topic the block published on; returns the new root.
    pub(crate) fn commit_topics(&self, overlay: &mut Overlay<'_>, outbox: &Outbox) -> Result<Hash, StateError> {
        let touched: BTreeSet<Topic> = outbox.messages.iter().map(|published| published.message.topic).collect();
        let mut leaves = Vec::with_capacity(touched.len());
        for topic in touched {
            let info = overlay.topic(&topic)?.ok_or(StateError::Store(format!("topic {topic} vanished")))?;
            leaves.push((info.slot, topics::leaf(&topic, &info.log.root())));
        }
        let mut tree = OverlayTree { overlay, error: RefCell::new(None) };
        for (slot, leaf) in leaves {
            topics::set_leaf(&mut tree, slot, leaf);
        }
        let root = topics::root(&tree);
        match tree.error.into_inner() {
            Some(error) => Err(error),
            None => Ok(root),
        }
    }

    /// Decodes egress from outside: the largest limit any parameters may set first (the current
    /// limit is checked against the state, with the rest), then strict decoding.
    pub fn decode_egress(&self, bytes: &[u8]) -> Result<SignedEgress, EgressError> {
        let limit = veil_primitives::parameters::MAX_EGRESS_BYTES as usize;
        if bytes.len() > limit {
            return Err(EgressError::TooLarge { len: bytes.len(), limit });
        }
        veil_primitives::decode_strict(bytes).map_err(|error| EgressError::Malformed(error.to_string()))
    }

    /// What applying `copy` on top of `overlay` would do, or why it is refused; the per-block quota
    /// is not checked here. Duplicates and stale copies are refused before the signature is checked.
    /// `overlay` must hold the parameters ([`Chain::egress_keys`] names every key this reads).
    pub fn check_egress(&self, overlay: &Overlay<'_>, copy: &SignedEgress) -> Result<EgressOutcome, EgressError> {
        self.check_egress_against(overlay, &overlay.parameters()?, copy, true)
    }

    /// [`Chain::check_egress`] without the signature, for a copy whose signature was already checked
    /// against the sender's key of the same epoch (a key only changes with its epoch): what a
    /// mempool re-checks after every block.
    /// `parameters` are those in `overlay`'s state, read once for all the copies re-checked.
    pub fn recheck_egress(
        &self,
        overlay: &Overlay<'_>,
        parameters: &Parameters,
        copy: &SignedEgress,
    ) -> Result<EgressOutcome, EgressError> {
        self.check_egress_against(overlay, parameters, copy, false)
    }

    fn check_egress_against(
        &self,
        overlay: &Overlay<'_>,
        parameters: &Parameters,
        copy: &SignedEgress,
        verify_signature: bool,
    ) -> Result<EgressOutcome, EgressError> {
        let economics = &parameters.economics;
        let len = copy.encoded_size();
        let limit = economics.max_egress_bytes as usize;
        if len > limit {
            return Err(EgressError::TooLarge { len, limit });
        }
        let egress = &copy.egress;
        let sender = egress.sender;
        let info = overlay.sender(&sender)?.ok_or(EgressError::UnknownSender(sender))?;
        if egress.epoch < info.epoch {
            return Err(EgressError::OldEpoch { current: info.epoch, found: egress.epoch });
        }
        if egress.epoch > info.epoch {
            return Err(EgressError::FutureEpoch { current: info.epoch, found: egress.epoch });
        }
        if !may_publish(&sender, &egress.topic) {
            return Err(EgressError::TopicNotAllowed { sender, topic: egress.topic });
        }
        let next = info.next_sequence;
        let outcome = if egress.sequence >= next {
            EgressOutcome::Accepted
        } else {
            let window = economics.egress_window;
            let stale = EgressError::Stale { sender, next, found: egress.sequence, window };
            if next - egress.sequence > window {
                return Err(stale);
            }
            let accepted = overlay.egress_accepted(&sender, egress.sequence)?.ok_or(stale)?;
            if accepted == egress.content_hash() {
                return Err(EgressError::Duplicate { sender, sequence: egress.sequence });
            }
            if overlay.discrepancy(&sender, egress.sequence)?.is_some() {
                return Err(EgressError::DiscrepancyRecorded { sender, sequence: egress.sequence });
            }
            EgressOutcome::Discrepancy
        };
        if verify_signature {
            verify_runtime_signature(&info.key, &egress.signing_payload(), &copy.signature)
                .map_err(|_| EgressError::BadSignature(sender))?;
        }
        if egress.sequence > next {
            return Err(EgressError::FutureSequence { sender, next, found: egress.sequence });
        }
        if outcome == EgressOutcome::Accepted {
            crate::module::check_egress(self, sender, egress.topic, &egress.payload)?;
        }
        Ok(outcome)
    }

    /// Applies one egress copy: checks it and the sender's quota in this block, then accepts it or
    /// records the discrepancy. On a refusal the overlay and the outbox are unchanged; after a state
    /// error they are not, and the caller abandons the block.
    pub(crate) fn apply_egress(
        &self,
        overlay: &mut Overlay<'_>,
        outbox: &mut Outbox,
        copy: &SignedEgress,
    ) -> Result<EgressOutcome, EgressError> {
        let outcome = self.check_egress_against(overlay, outbox.parameters(), copy, true)?;
        let egress = &copy.egress;
        let sender = egress.sender;
        // A runtime speaks only while its registration is current: a gatekeeper's proposals and
        // epoch keys, like a worker's egress, count only from an attested, allowed runtime.
        if let SenderId::Gatekeeper(key) = sender
            && !overlay.gatekeepers()?.contains(&key)
        {
            return Err(EgressError::NotInGatekeeperSet(key));
        }
        if let SenderId::Worker(key) | SenderId::Gatekeeper(key) = sender {
            match overlay.worker(&key)? {
                Some(worker) if worker.expires_at_ms <= outbox.time_ms => {
                    return Err(EgressError::WorkerLapsed { worker: key, expired_at_ms: worker.expires_at_ms });
                }
                None if matches!(sender, SenderId::Gatekeeper(_)) => {
                    return Err(EgressError::GatekeeperNotRegistered(key));
                }
                _ => {}
            }
        }
        let limit = outbox.parameters().economics.max_egress_per_sender_per_block;
        let used = outbox.egress_used.get(&sender).copied().unwrap_or(0);
        if used >= limit {
            return Err(EgressError::RateLimited { sender, limit });
        }
        // Only a state error can fail from here on, and it abandons the whole block.
        let message = match outcome {
            EgressOutcome::Accepted => {
                let mut info = overlay.sender(&sender)?.ok_or(EgressError::UnknownSender(sender))?;
                info.next_sequence += 1;
                overlay.set_sender(&sender, &info);
                overlay.set_egress_accepted(&sender, egress.sequence, Some(&egress.content_hash()));
                if let Some(forgotten) = egress.sequence.checked_sub(outbox.parameters().economics.egress_window) {
                    overlay.set_egress_accepted(&sender, forgotten, None);
                }
                Message { topic: egress.topic, origin: Origin::Runtime(sender), payload: egress.payload.clone() }
            }
            EgressOutcome::Discrepancy => {
                let accepted = overlay.egress_accepted(&sender, egress.sequence)?.unwrap_or_default();
                let evidence = Discrepancy { accepted, differing: copy.clone() };
                // The parameters cap egress at half a message, so the evidence always fits.
                let payload = evidence
                    .encode()
                    .try_into()
                    .map_err(|_| StateError::Store("discrepancy evidence exceeds a message".into()))?;
                overlay.set_discrepancy(&sender, egress.sequence, &copy.hash());
                Message { topic: Topic::System(SystemTopic::Discrepancies), origin: Origin::Chain, payload }
            }
        };
        // Published before what the chain does in answer (an epoch opening, a re-keying).
        self.publish(overlay, outbox, message)?;
        if outcome == EgressOutcome::Accepted {
            crate::module::on_egress(self, overlay, outbox, sender, egress.topic, &egress.payload)?;
        }
        *outbox.egress_used.entry(sender).or_default() += 1;
        Ok(outcome)
    }

    /// The topics `transactions` and `egress` may publish on, as their modules declare them.
    pub fn topics_touched<'a>(
        &self,
        transactions: impl IntoIterator<Item = &'a SignedTransaction>,
        egress: impl IntoIterator<Item = &'a SignedEgress>,
    ) -> BTreeSet<Topic> {
        let mut topics = BTreeSet::new();
        module::block_topics(&mut topics);
        for tx in transactions {
            module::call_topics(&tx.transaction.signer, &tx.transaction.call, &mut topics);
        }
        for copy in egress {
            module::egress_topics(copy, &mut topics);
        }
        topics
    }

    /// The state keys checking and applying `copy` reads, with those every block reads.
    pub fn egress_keys(&self, copy: &SignedEgress) -> Keys {
        let mut keys = Keys::new();
        module::block_keys(&mut keys);
        module::egress_keys(self, copy, &mut keys);
        keys
    }

    /// The topic-tree nodes that committing `topics` reads, given `state` holding (at least) their
    /// [`StateKey::Topic`] entries and [`StateKey::TopicCount`]: the sibling path of each existing
    /// slot and of each slot new topics can take, and the root. The second round of a node's prefetch.
    pub fn tree_keys_touched<R: StateReader + ?Sized>(
        &self,
        state: &R,
        topics: &BTreeSet<Topic>,
    ) -> Result<BTreeSet<Vec<u8>>, StateError> {
        let count = state.topic_count()?;
        let mut slots = BTreeSet::new();
        let mut new_topics = 0u32;
        for topic in topics {
            match state.topic(topic)? {
                Some(info) => slots.insert(info.slot),
                None => {
                    new_topics += 1;
                    slots.insert(count.saturating_add(new_topics - 1))
                }
            };
        }
        Ok(slots.into_iter().flat_map(sibling_keys).collect())
    }

    /// The proof of `topic`'s log in the state `state` holds: its slot, its length, and its path's
    /// siblings; `None` if the topic has no message. `state` must hold the topic's
    /// [`StateKey::Topic`] entry and the [`sibling_keys`] of its slot.
    pub fn topic_proof<R: StateReader + ?Sized>(
        &self,
        state: &R,
        topic: &Topic,
    ) -> Result<Option<(TopicInfo, TopicProof)>, StateError> {
        let Some(info) = state.topic(topic)? else { return Ok(None) };
        let mut index = u64::from(info.slot);
        let mut siblings = Vec::with_capacity(DEPTH);
        for level in 0..DEPTH {
            siblings.push(state.topic_node(level, index ^ 1)?.unwrap_or_else(|| topics::empty(level)));
            index >>= 1;
        }
        let siblings = BoundedVec::try_from_vec(siblings).map_err(|_| StateError::Store("path too long".into()))?;
        let proof = TopicProof { slot: info.slot, length: info.log.length, siblings, rest: BoundedVec::default() };
        Ok(Some((info, proof)))
    }

    /// A page of `topic` in the state `state` holds: messages `from..end` (`end` at most `limit`
    /// after `from`, and at most the log's length) with the topic's proof, whose `rest` stands
    /// for the messages after the page. `state` must hold what [`page_keys`] names; `info` is the
    /// topic's entry in it.
    pub fn topic_page<R: StateReader + ?Sized>(
        &self,
        state: &R,
        topic: &Topic,
        info: &TopicInfo,
        from: u64,
        limit: u64,
    ) -> Result<(Vec<Message>, TopicProof), StateError> {
        let (_, mut proof) =
            self.topic_proof(state, topic)?.ok_or(StateError::Store(format!("topic {topic} vanished")))?;
        let end = page_end(topic, info, from, limit)?;
        let message = |index: u64| {
            state
                .topic_message(topic, index)?
                .ok_or_else(|| StateError::Store(format!("message {index} of {topic} is missing from the state")))
        };
        let messages = (from..end).map(message).collect::<Result<Vec<_>, _>>()?;
        let mut rest = Vec::new();
        for (level, first) in log::subtrees(end, info.log.length) {
            let root = if level >= KEPT_LEVEL {
                state.topic_log_node(topic, level, first >> level)?.ok_or_else(|| {
                    StateError::Store(format!("subtree {} of level {level} of {topic} is missing", first >> level))
                })?
            } else {
                let hashes = (first..first + (1 << level)).map(|index| message(index).map(|m| m.hash()));
                log::subtree_root(&hashes.collect::<Result<Vec<_>, _>>()?)
                    .ok_or_else(|| StateError::Store("a subtree is a power of two of messages".into()))?
            };
            rest.push(root);
        }
        proof.rest = BoundedVec::try_from_vec(rest).map_err(|_| StateError::Store("too many subtrees".into()))?;
        Ok((messages, proof))
    }
}

/// Where a page of `info`'s log starts: at `from`, or (with `None`, for a reader that needs only
/// the messages still to come) at the log's end, with the log's peaks there to start from.
pub fn page_start(info: &TopicInfo, from: Option<u64>) -> (Option<LogPeaks>, u64) {
    match from {
        Some(from) => (None, from),
        None => (Some(info.log.clone()), info.log.length),
    }
}

/// Where a page of at most `limit` messages from `from` ends in a log of `info`'s length.
fn page_end(topic: &Topic, info: &TopicInfo, from: u64, limit: u64) -> Result<u64, StateError> {
    if from > info.log.length {
        return Err(StateError::Store(format!(
            "the log has {} messages; a page cannot start at {from}",
            info.log.length
        )));
    }
    check_kept(topic, info.log.length, from)?;
    Ok(from.saturating_add(limit).min(info.log.length))
}

/// Refuses a page from `from` of a windowed topic whose log is `length` long if the chain no longer
/// keeps message `from` (see [`Topic::kept_messages`]).
pub fn check_kept(topic: &Topic, length: u64, from: u64) -> Result<(), StateError> {
    let first = topic.first_kept(length);
    if from < first {
        return Err(StateError::Store(format!(
            "topic {topic} keeps only its newest {} messages: message {from} is gone (the first kept is {first}); \
             read it from its end",
            topic.kept_messages().unwrap_or_default()
        )));
    }
    Ok(())
}

/// The state keys a page of `topic` from `from` of at most `limit` messages reads, besides the
/// topic's own entry: its messages, what proves the rest of the log (kept subtree roots, or the
/// messages of the small subtrees), and the slot's [`sibling_keys`].
pub fn page_keys(topic: &Topic, info: &TopicInfo, from: u64, limit: u64) -> Result<BTreeSet<Vec<u8>>, StateError> {
    let end = page_end(topic, info, from, limit)?;
    let mut keys: BTreeSet<Vec<u8>> = sibling_keys(info.slot).collect();
    keys.extend((from..end).map(|index| StateKey::TopicMessage(*topic, index).to_bytes()));
    for (level, first) in log::subtrees(end, info.log.length) {
        if level >= KEPT_LEVEL {
            keys.insert(StateKey::TopicLogNode(*topic, level as u8, first >> level).to_bytes());
        } else {
            keys.extend((first..first + (1 << level)).map(|index| StateKey::TopicMessage(*topic, index).to_bytes()));
        }
    }
    Ok(keys)
}

/// The state keys of the sibling nodes on `slot`'s path, leaf level first.
pub fn sibling_keys(slot: u32) -> impl Iterator<Item = Vec<u8>> {
    (0..DEPTH).map(move |level| StateKey::topic_node(level, (u64::from(slot) >> level) ^ 1).to_bytes())
}

#[cfg(test)]
mod tests;
