//! Following the chain: topic messages delivered by an untrusted relayer, accepted only with proof.
//!
//! A [`Delivery`] is what a node's `/v1/topics/{topic}/messages` answers: a finalization
//! certificate, the certified header, and the messages of one topic from where the runtime stands
//! to the length the header commits, with the topic proof. [`Follower::accept`] checks it with the
//! light client against the network key pinned from genesis; only then does the runtime's view move
//! on, and the new messages come back in order for dispatch. A forged certificate, another header,
//! an altered, reordered, inserted or omitted message, or an older header than the one already
//! accepted is refused with the reason, and nothing changes.

use parity_scale_codec::{Decode, Encode};
use std::collections::BTreeMap;
use veil_light_client::{LightClient, LightClientError};
use veil_primitives::{Hash, Header, Message, Topic, log::LogPeaks, topics::TopicProof};

/// One topic's new messages with everything needed to verify them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Delivery {
    /// The finalization certificate of `header`.
    pub certificate: Vec<u8>,
    /// The certified header.
    pub header: Header,
    /// The topic.
    pub topic: Topic,
    /// The messages from the runtime's current length to the header's.
    pub messages: Vec<Message>,
    /// The topic's proof against the header.
    pub proof: TopicProof,
}

/// Why a delivery is refused. The runtime's state is unchanged.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SyncError {
    /// The certificate, the header or the messages do not verify.
    #[error(transparent)]
    Verification(#[from] LightClientError),
    /// A header older than one already accepted: the relayer is replaying the past.
    #[error("delivery is for height {got}, but this runtime already stands at {have}")]
    StaleHeader {
        /// The height already accepted.
        have: u64,
        /// The delivery's.
        got: u64,
    },
    /// A topic this runtime does not follow.
    #[error("topic {0} is not followed here")]
    NotFollowed(Topic),
}

/// Where the runtime stands: the newest accepted height and each followed topic's log peaks.
#[derive(Clone, Debug, Default, PartialEq, Eq, Encode, Decode)]
pub struct FollowerState {
    /// The height of the newest header accepted.
    pub height: u64,
    /// The kept peaks of each followed topic (their length is where the next delivery starts).
    pub topics: BTreeMap<Topic, LogPeaks>,
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

    /// Verifies `delivery` and, only if it verifies, moves the topic on. Returns the new messages
    /// with their indices, in order.
    pub fn accept(&mut self, delivery: &Delivery) -> Result<Vec<(u64, Message)>, SyncError> {
        let kept = self.state.topics.get(&delivery.topic).ok_or(SyncError::NotFollowed(delivery.topic))?;
        if delivery.header.height < self.state.height {
            return Err(SyncError::StaleHeader { have: self.state.height, got: delivery.header.height });
        }
        let from = kept.length;
        let hashes: Vec<(u64, Hash)> =
            delivery.messages.iter().enumerate().map(|(i, message)| (from + i as u64, message.hash())).collect();
        let peaks = self.client.verify_topic(
            &delivery.certificate,
            &delivery.header,
            &delivery.topic,
            kept,
            &hashes,
            &delivery.proof,
        )?;
        self.state.topics.insert(delivery.topic, peaks);
        self.state.height = delivery.header.height;
        Ok(delivery.messages.iter().cloned().enumerate().map(|(i, message)| (from + i as u64, message)).collect())
    }
}

#[cfg(test)]
mod tests;
