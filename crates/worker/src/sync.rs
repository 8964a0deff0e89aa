//! Following the chain: topic messages delivered by an untrusted relayer, accepted only with proof.
//!
//! A [`Batch`] is one finalized header with its certificate and, for each followed topic that has
//! messages, the messages from where the runtime stands to the length the header commits, with
//! the topic proof (what a node's `/v1/topics/{topic}/messages?height=h` answers). Every topic is
//! proven at the same header, so the runtime's whole view sits at one height and messages of
//! different topics are handled in a fixed order (the topics' canonical order, which the batch
//! must follow) whatever order the relayer fetched them in.
//! [`Follower::accept`] checks the whole batch with the light client against the network key pinned
//! from genesis; only if all of it verifies does the view move on. A forged certificate, another
//! header, an altered, reordered, inserted or omitted message, a followed topic left out, or an
//! older header than the one already accepted is refused with the reason, and nothing changes.
//!
//! **Pages.** A runtime far behind is caught up in pages: the last topic of a batch may stop short
//! of the header's length (its proof's `rest` proves the page is the log's own prefix), and the
//! topics after it are left for later batches. Such a batch is *partial*: its messages are handled,
//! but the view's height and time stay where they were (so nothing driven by block time, such as
//! retiring an epoch's keys, runs ahead of messages not yet handled) until a batch brings every
//! followed topic to its header. A batch is the one big batch cut in its own handling order, so
//! paging changes how many requests a catch-up takes, not what the runtime does.
//!
//! **Topics read from their end.** Heartbeats only matter from the moment a runtime joins (it reads
//! them to see its own land), and the topic grows without bound. A runtime that has read none of
//! them takes the first delivery from wherever the relayer starts it, with the log's peaks there
//! ([`TopicDelivery::start`]); from then on it is followed like any other topic. Genesis publishes
//! a first heartbeat, so there is always an end to start from. A topic the chain keeps only a
//! window of ([`Topic::kept_messages`], the seeds) is read from its end too, and a runtime whose
//! position there fell out of the window takes a later start the same way (in practice the log's
//! end, the only place a node can give peaks for: it skips the rest of the window with what fell
//! out of it). It may do so only once messages it needs are gone, and never backwards, so only
//! topics whose gaps the runtime tolerates may have a window.
//!
//! A system topic with no message yet has nothing to prove (the chain keeps no proof of absence),
//! so it may be left out: a relayer that hides its first messages only delays the runtime. Not so
//! the parameters and sessions topics, whose first message genesis publishes (hiding them would
//! hide a shorter session lifetime or a revoked session), nor a contract topic: the runtime follows one only after the duty log assigned the contract,
//! and the assignment is the topic's first message, so it always has one to prove. A relayer that
//! withholds it stops the runtime's view (its answers then say how far behind it is) instead of
//! letting a built-in contract, which needs no deployment message, answer from empty state as if
//! current.

use parity_scale_codec::{Decode, DecodeAll, Encode};
use std::collections::BTreeMap;
use veil_light_client::{LightClient, LightClientError};
use veil_primitives::{
    Hash, Header, Message, Topic,
    log::LogPeaks,
    topics::{TopicProof, verify_topic_range},
};

/// The largest encoded batch a runtime decodes: 64 MiB.
pub const MAX_BATCH_BYTES: usize = 64 << 20;

/// One topic's new messages and their proof against the batch's header.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct TopicDelivery {
    /// The topic.
    pub topic: Topic,
    /// The messages from the runtime's current length (or from `start`) to the header's, or a
    /// page of them.
    pub messages: Vec<Message>,
    /// The topic's proof against the header.
    pub proof: TopicProof,
    /// For a topic read from its end ([`reads_from_end`]) that the runtime has not started: the
    /// log's peaks where the messages start. `None` otherwise.
    pub start: Option<LogPeaks>,
}

/// A certified header and the new messages of the runtime's topics at it.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct Batch {
    /// The finalization certificate of `header`.
    pub certificate: Vec<u8>,
    /// The certified header.
    pub header: Header,
    /// One entry per followed topic that has messages, each topic once.
    pub topics: Vec<TopicDelivery>,
}

impl Batch {
    /// Decodes a batch from the relayer: size limit first, then all bytes consumed.
    pub fn decode_strict(bytes: &[u8]) -> Result<Self, SyncError> {
        if bytes.len() > MAX_BATCH_BYTES {
            return Err(SyncError::Malformed(format!("{} bytes; the limit is {MAX_BATCH_BYTES}", bytes.len())));
        }
        Self::decode_all(&mut &bytes[..]).map_err(|error| SyncError::Malformed(error.to_string()))
    }
}

/// Why a batch is refused. The runtime's state is unchanged.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SyncError {
    /// The bytes are not a batch.
    #[error("malformed batch: {0}")]
    Malformed(String),
    /// The certificate does not verify, or the header is not the certified one.
    #[error("header: {0}")]
    Header(LightClientError),
    /// A topic's messages do not verify against the certified header.
    #[error("topic {topic}: {error}")]
    Verification {
        /// The topic whose proof failed.
        topic: Topic,
        /// Why.
        error: LightClientError,
    },
    /// A header older than one already accepted: the relayer is replaying the past.
    #[error("batch is for height {got}, but this runtime already stands at {have}")]
    StaleHeader {
        /// The height already accepted.
        have: u64,
        /// The batch's.
        got: u64,
    },
    /// A topic this runtime does not follow.
    #[error("topic {0} is not followed here")]
    NotFollowed(Topic),
    /// The same topic twice.
    #[error("topic {0} appears twice in the batch")]
    Duplicate(Topic),
    /// Topics out of their canonical order.
    #[error("topic {0} comes after a topic it precedes: a batch lists topics in their canonical order")]
    OutOfOrder(Topic),
    /// A topic after one whose delivery stopped short of the header (a page).
    #[error("topic {topic} comes after topic {page}, whose page stops before the header: a page ends its batch")]
    AfterPage {
        /// The paged topic.
        page: Topic,
        /// The one after it.
        topic: Topic,
    },
    /// A starting point for a topic that must be read from where the runtime stands.
    #[error("topic {0} cannot start elsewhere: it is read from its first message or from where the runtime stands")]
    StartRefused(Topic),
    /// A followed topic with messages is missing: its new messages could be withheld.
    #[error("topic {0} has messages here but is missing from the batch")]
    Missing(Topic),
}

/// Where the runtime stands: the newest accepted header and each followed topic's log peaks.
#[derive(Clone, Debug, Default, PartialEq, Eq, Encode, Decode)]
pub struct FollowerState {
    /// The height of the newest header accepted.
    pub height: u64,
    /// That header's timestamp, milliseconds since the Unix epoch.
    pub timestamp_ms: u64,
    /// The kept peaks of each followed topic (their length is where the next delivery starts).
    pub topics: BTreeMap<Topic, LogPeaks>,
}

/// New messages of one topic, with their indices, in log order.
pub type NewMessages = Vec<(u64, Message)>;

/// Whether the runtime reads `topic` from wherever it joins rather than from its first message:
/// the heartbeats, whose old messages say nothing to a runtime that was not there, and the topics
/// the chain keeps only a window of ([`Topic::kept_messages`]).
pub fn reads_from_end(topic: &Topic) -> bool {
    matches!(topic, Topic::System(veil_primitives::SystemTopic::Heartbeats)) || topic.kept_messages().is_some()
}

/// The relayer's rule for one batch: the followed topics (at `positions`, the lengths the runtime
/// stands at) in canonical order, each from where the runtime stands (a topic read from its end
/// and not started yet: from its end, `None`), at most `page_size` messages in all; the topic that
/// exhausts them ends the batch as a page. `page(topic, from, budget)` fetches one topic's delivery
/// at the batch's header, or `None` when the topic has nothing to prove yet.
pub fn assemble<E>(
    positions: impl IntoIterator<Item = (Topic, u64)>,
    page_size: u64,
    mut page: impl FnMut(&Topic, Option<u64>, u64) -> Result<Option<TopicDelivery>, E>,
) -> Result<Vec<TopicDelivery>, E> {
    let mut positions: Vec<(Topic, u64)> = positions.into_iter().collect();
    positions.sort();
    let mut budget = page_size;
    let mut deliveries = Vec::new();
    for (topic, length) in positions {
        let from = (length > 0 || !reads_from_end(&topic)).then_some(length);
        let Some(delivery) = page(&topic, from, budget)? else { continue };
        budget = budget.saturating_sub(delivery.messages.len() as u64);
        let end = delivery.start.as_ref().map_or(length, |start| start.length) + delivery.messages.len() as u64;
        let paged = end < delivery.proof.length;
        deliveries.push(delivery);
        if paged {
            break;
        }
    }
    Ok(deliveries)
}

/// What a batch delivered: each topic's new messages in canonical order, and whether every followed
/// topic reached the header (a *partial* batch did not: the view's height stayed).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Accepted {
    /// Each topic's new messages, topics in their canonical order.
    pub messages: Vec<(Topic, NewMessages)>,
    /// Whether the view now stands at the batch's header.
    pub complete: bool,
}

/// Whether a followed topic has messages, so that a batch must prove it: any topic the runtime
/// already read messages of, every contract topic, and the parameters and sessions topics, whose
/// first message genesis publishes (see the module documentation).
fn has_messages(topic: &Topic, kept: &LogPeaks) -> bool {
    use veil_primitives::SystemTopic::{Parameters, Sessions};
    kept.length > 0 || matches!(topic, Topic::Contract(_) | Topic::System(Parameters | Sessions))
}

/// The runtime's light-client view of its topics.
#[derive(Clone, Debug)]
pub struct Follower {
    client: LightClient,
    state: FollowerState,
}

impl Follower {
    /// A follower verifying with `client` (pinned to the genesis network key and namespace), from
    /// `state` (the default for a fresh runtime, or a checkpoint's).
    pub fn new(client: LightClient, state: FollowerState) -> Self {
        Self { client, state }
    }

    /// Where it stands.
    pub fn state(&self) -> &FollowerState {
        &self.state
    }

    /// Starts following `topic` from its first message (no effect if already followed).
    pub fn follow(&mut self, topic: Topic) {
        self.state.topics.entry(topic).or_default();
    }

    /// Stops following `topic` (a contract this worker no longer runs); following it again starts
    /// from its first message.
    pub fn unfollow(&mut self, topic: &Topic) {
        self.state.topics.remove(topic);
    }

    /// Takes over topic positions from a cluster snapshot taken at `height` (`timestamp_ms`): each
    /// given topic continues from the snapshot's peaks, and the view stands at the later of the two
    /// heights. Every topic's next delivery is proven from its own peaks against a later header, so
    /// topics may stand at different lengths of one chain.
    pub fn adopt(&mut self, height: u64, timestamp_ms: u64, topics: impl IntoIterator<Item = (Topic, LogPeaks)>) {
        self.state.topics.extend(topics);
        if height > self.state.height {
            self.state.height = height;
            self.state.timestamp_ms = timestamp_ms;
        }
    }

    /// Verifies all of `batch` and, only if all of it verifies, moves each topic on; the view's
    /// height moves to the batch's header only when every followed topic reached it.
    pub fn accept(&mut self, batch: &Batch) -> Result<Accepted, SyncError> {
        if batch.header.height < self.state.height {
            return Err(SyncError::StaleHeader { have: self.state.height, got: batch.header.height });
        }
        // One certificate check for the whole batch; every topic is then proven against the header.
        self.client.verify_header(&batch.certificate, &batch.header).map_err(SyncError::Header)?;
        let mut next = self.state.topics.clone();
        let mut delivered: BTreeMap<Topic, NewMessages> = BTreeMap::new();
        let mut paged: Option<Topic> = None;
        for delivery in &batch.topics {
            let topic = delivery.topic;
            let kept = self.state.topics.get(&topic).ok_or(SyncError::NotFollowed(topic))?;
            if let Some(page) = paged {
                return Err(SyncError::AfterPage { page, topic });
            }
            match delivered.last_key_value() {
                Some((last, _)) if *last == topic => return Err(SyncError::Duplicate(topic)),
                Some((last, _)) if *last > topic => return Err(SyncError::OutOfOrder(topic)),
                _ => {}
            }
            let kept = match &delivery.start {
                Some(start) if reads_from_end(&topic) && kept.length == 0 => start,
                // The messages from where the runtime stands left a windowed topic: it moves on
                // (never back), and only then.
                Some(start) if kept.length < topic.first_kept(delivery.proof.length) && start.length >= kept.length => {
                    start
                }
                Some(_) => return Err(SyncError::StartRefused(topic)),
                None => kept,
            };
            let from = kept.length;
            let hashes: Vec<(u64, Hash)> =
                delivery.messages.iter().enumerate().map(|(i, message)| (from + i as u64, message.hash())).collect();
            let peaks = verify_topic_range(&batch.header.messages.root, &topic, from, kept, &hashes, &delivery.proof)
                .map_err(|error| SyncError::Verification { topic, error: error.into() })?;
            if peaks.length < delivery.proof.length {
                paged = Some(topic);
            }
            next.insert(topic, peaks);
            let messages = delivery.messages.iter().cloned().enumerate();
            delivered.insert(topic, messages.map(|(i, message)| (from + i as u64, message)).collect());
        }
        // Topics after a page are left for later batches.
        let owed = |topic: &Topic| paged.is_none_or(|page| *topic < page);
        if let Some((topic, _)) = self
            .state
            .topics
            .iter()
            .find(|(topic, kept)| has_messages(topic, kept) && !delivered.contains_key(topic) && owed(topic))
        {
            return Err(SyncError::Missing(*topic));
        }
        let complete = paged.is_none();
        let (height, timestamp_ms) = if complete {
            (batch.header.height, batch.header.timestamp_ms)
        } else {
            (self.state.height, self.state.timestamp_ms)
        };
        self.state = FollowerState { height, timestamp_ms, topics: next };
        Ok(Accepted { messages: delivered.into_iter().collect(), complete })
    }
}

#[cfg(test)]
mod tests;
