//! Messages between the chain and the runtimes.
//!
//! Everything a runtime learns from the chain arrives as a [`Message`] on a [`Topic`]; everything a
//! runtime tells the chain leaves as a [`SignedEgress`], signed by its sender's key with a key epoch
//! and a per-sender sequence number so the chain can accept each exactly once.

use parity_scale_codec::{Decode, Encode, MaxEncodedLen};

use crate::{
    codec::BoundedBytes,
    hashing::{Hash, sha256},
    ids::{AccountId, ClusterId, ContractId, KeyEpoch},
};

/// The largest message or egress payload: 1 MiB, enough for contract code.
pub const MAX_MESSAGE_PAYLOAD: usize = 1 << 20;

/// Opaque message content; its meaning depends on the topic.
pub type MessagePayload = BoundedBytes<MAX_MESSAGE_PAYLOAD>;

/// Domain separator prepended to an egress message's encoding before it is signed.
pub const EGRESS_SIGNING_DOMAIN: &[u8] = b"veil/egress/v1";

/// Topics every runtime may follow.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Encode, Decode, MaxEncodedLen)]
pub enum SystemTopic {
    /// Worker registrations, with their keys and quotes.
    #[codec(index = 0)]
    Registrations,
    /// The gatekeepers' duty log: cluster formations, contract assignments, replacements,
    /// rotations, epoch openings (chain origin), and the runtimes' signed per-epoch keys (egress).
    /// One ordered log, so every gatekeeper derives the same outputs in the same order.
    #[codec(index = 1)]
    Assignments,
    /// Key epochs and key deliveries.
    #[codec(index = 2)]
    KeyEpochs,
    /// Deposits of public tokens into contracts.
    #[codec(index = 3)]
    Deposits,
    /// Contract code uploads.
    #[codec(index = 4)]
    ContractCode,
    /// Evidence of senders that signed two different messages under one sequence number.
    #[codec(index = 5)]
    Discrepancies,
    /// Native tokens contracts release to accounts (egress from contracts).
    #[codec(index = 6)]
    Releases,
    /// Workers' signed heartbeats (egress from workers): the chain's evidence that they are alive.
    #[codec(index = 7)]
    Heartbeats,
    /// The chain's parameters, published (chain origin) in the block from which a change applies:
    /// runtimes apply the ones they share with the chain (the heartbeat interval) from here.
    #[codec(index = 8)]
    Parameters,
    /// Query sessions accounts revoked (chain origin): workers refuse their certificates.
    #[codec(index = 9)]
    Sessions,
    /// The seed of each consensus round, recorded by the block after it (chain origin,
    /// [`crate::block::SeedRecord`]): the randomness modules and runtimes use.
    #[codec(index = 10)]
    Seeds,
}

impl SystemTopic {
    /// Every system topic, in index order.
    pub const ALL: [Self; 11] = [
        Self::Registrations,
        Self::Assignments,
        Self::KeyEpochs,
        Self::Deposits,
        Self::ContractCode,
        Self::Discrepancies,
        Self::Releases,
        Self::Heartbeats,
        Self::Parameters,
        Self::Sessions,
        Self::Seeds,
    ];

    /// The topic's name in URLs and configuration.
    pub fn name(self) -> &'static str {
        match self {
            Self::Registrations => "registrations",
            Self::Assignments => "assignments",
            Self::KeyEpochs => "key-epochs",
            Self::Deposits => "deposits",
            Self::ContractCode => "contract-code",
            Self::Discrepancies => "discrepancies",
            Self::Releases => "releases",
            Self::Heartbeats => "heartbeats",
            Self::Parameters => "parameters",
            Self::Sessions => "sessions",
            Self::Seeds => "seeds",
        }
    }
}

/// A message log on the chain.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Encode, Decode, MaxEncodedLen)]
pub enum Topic {
    /// A system topic.
    #[codec(index = 0)]
    System(SystemTopic),
    /// The command topic of one contract.
    #[codec(index = 1)]
    Contract(ContractId),
}

/// A topic or sender written as text was not one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdParseError {
    /// Not a known topic.
    #[error(
        "unknown topic {0:?}: a topic is one of registrations, assignments, key-epochs, deposits, contract-code, discrepancies, releases, heartbeats, parameters, sessions, seeds, or contract:0x<64 hex digits>"
    )]
    Topic(String),
    /// Not a known sender.
    #[error(
        "unknown sender {0:?}: a sender is worker:0x<key>, gatekeeper:0x<key>, contract:0x<id> (64 hex digits each), cluster:<number> or gatekeepers"
    )]
    Sender(String),
}

fn parse_32(text: &str) -> Option<[u8; 32]> {
    text.parse::<Hash>().ok().map(|hash| hash.0)
}

/// How many seed records the chain keeps on the seeds topic: a block's worth of randomness is
/// used within blocks of the round it comes from, and the latest record stays in state whole.
pub const KEPT_SEEDS: u64 = 4096;

impl Topic {
    /// How many of its newest messages the chain keeps in state, for a topic that grows with the
    /// chain itself and whose old messages nobody needs (`None`: the whole log is kept). The log's
    /// root still commits every message ever published; only the messages and subtree roots older
    /// than the window leave the state. A power of two of at least `2^KEPT_LEVEL`.
    pub fn kept_messages(&self) -> Option<u64> {
        match self {
            Self::System(SystemTopic::Seeds) => Some(KEPT_SEEDS),
            _ => None,
        }
    }

    /// The first message of a log of `length` messages the chain still keeps.
    pub fn first_kept(&self, length: u64) -> u64 {
        self.kept_messages().map_or(0, |kept| length.saturating_sub(kept))
    }
}

/// Writes `registrations`, …, or `contract:0x…`; [`std::str::FromStr`] parses the same.
impl std::fmt::Display for Topic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::System(topic) => f.write_str(topic.name()),
            Self::Contract(contract) => write!(f, "contract:{contract}"),
        }
    }
}

impl std::str::FromStr for Topic {
    type Err = IdParseError;
    fn from_str(text: &str) -> Result<Self, IdParseError> {
        if let Some(topic) = SystemTopic::ALL.into_iter().find(|topic| topic.name() == text) {
            return Ok(Self::System(topic));
        }
        text.strip_prefix("contract:")
            .and_then(parse_32)
            .map(|id| Self::Contract(ContractId(id)))
            .ok_or_else(|| IdParseError::Topic(text.to_owned()))
    }
}

/// Writes `worker:0x…`, `cluster:3`, `contract:0x…`, `gatekeeper:0x…` or `gatekeepers`; [`std::str::FromStr`]
/// parses the same.
impl std::fmt::Display for SenderId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Worker(key) => write!(f, "worker:0x{}", hex::encode(key)),
            Self::Cluster(cluster) => write!(f, "cluster:{}", cluster.0),
            Self::Contract(contract) => write!(f, "contract:{contract}"),
            Self::Gatekeeper(key) => write!(f, "gatekeeper:0x{}", hex::encode(key)),
            Self::GatekeeperSet => f.write_str("gatekeepers"),
        }
    }
}

impl std::str::FromStr for SenderId {
    type Err = IdParseError;
    fn from_str(text: &str) -> Result<Self, IdParseError> {
        let error = || IdParseError::Sender(text.to_owned());
        if text == "gatekeepers" {
            return Ok(Self::GatekeeperSet);
        }
        let (kind, id) = text.split_once(':').ok_or_else(error)?;
        match kind {
            "worker" => parse_32(id).map(Self::Worker),
            "gatekeeper" => parse_32(id).map(Self::Gatekeeper),
            "contract" => parse_32(id).map(|id| Self::Contract(ContractId(id))),
            "cluster" => id.parse().ok().map(|n| Self::Cluster(ClusterId(n))),
            _ => None,
        }
        .ok_or_else(error)
    }
}

/// An off-chain sender: a key registered on chain that signs egress.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Encode, Decode, MaxEncodedLen)]
pub enum SenderId {
    /// A worker, by its ed25519 identity key.
    #[codec(index = 0)]
    Worker([u8; 32]),
    /// A cluster, by number (signed with the cluster key of the epoch).
    #[codec(index = 1)]
    Cluster(ClusterId),
    /// A contract (signed with the contract key of the epoch).
    #[codec(index = 2)]
    Contract(ContractId),
    /// A gatekeeper, by its ed25519 identity key: its own announcements and rotation proposals.
    #[codec(index = 3)]
    Gatekeeper([u8; 32]),
    /// The gatekeeper set as one sender, signing with a key derived from the epoch's master key:
    /// every gatekeeper holding it signs the same deliveries byte for byte, so the chain keeps the
    /// first copy and records a differing one as a discrepancy.
    #[codec(index = 4)]
    GatekeeperSet,
}

/// Who put a message on a topic.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Encode, Decode, MaxEncodedLen)]
pub enum Origin {
    /// A chain module.
    #[codec(index = 0)]
    Chain,
    /// An account, through a signed transaction.
    #[codec(index = 1)]
    Account(AccountId),
    /// An off-chain sender, through accepted egress.
    #[codec(index = 2)]
    Runtime(SenderId),
}

/// A message on a topic.
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode, MaxEncodedLen)]
pub struct Message {
    /// The log it is appended to.
    pub topic: Topic,
    /// Who sent it.
    pub origin: Origin,
    /// The content.
    pub payload: MessagePayload,
}

impl Message {
    /// What the topic's log commits to: SHA-256 of the message's encoding.
    pub fn hash(&self) -> Hash {
        sha256(&self.encode())
    }
}

/// An unsigned outgoing message of a runtime.
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode, MaxEncodedLen)]
pub struct Egress {
    /// Whose key signs it.
    pub sender: SenderId,
    /// The key epoch of the signing key; egress under a retired epoch is refused.
    pub epoch: KeyEpoch,
    /// The sender's sequence number: each is accepted once, in order.
    pub sequence: u64,
    /// The topic the accepted message is published on.
    pub topic: Topic,
    /// The content.
    pub payload: MessagePayload,
}

impl Egress {
    /// What replicas must agree on: SHA-256 of the sender, sequence number, topic and payload, but
    /// not the key epoch. Two copies with the same content are one message, even when a replica
    /// re-signed it under a newer epoch after a rotation.
    pub fn content_hash(&self) -> Hash {
        sha256(&(b"veil/egress-content/v1", &self.sender, self.sequence, &self.topic, &self.payload).encode())
    }

    /// The exact bytes the sender signs: the domain separator, then the SCALE encoding.
    pub fn signing_payload(&self) -> Vec<u8> {
        let mut payload = EGRESS_SIGNING_DOMAIN.to_vec();
        self.encode_to(&mut payload);
        payload
    }
}

/// Egress with the sender's ed25519 signature over [`Egress::signing_payload`].
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode, MaxEncodedLen)]
pub struct SignedEgress {
    /// The message.
    pub egress: Egress,
    /// The sender's signature.
    pub signature: [u8; 64],
}

impl SignedEgress {
    /// The identity of this exact copy: SHA-256 of its encoding. Replicas that sign the same
    /// message produce the same copy (ed25519 signatures are deterministic).
    pub fn hash(&self) -> Hash {
        sha256(&self.encode())
    }
}

/// Evidence, published on [`SystemTopic::Discrepancies`], that a sender signed a second, different
/// message under a sequence number the chain had already accepted.
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode, MaxEncodedLen)]
pub struct Discrepancy {
    /// The content hash ([`Egress::content_hash`]) of the copy the chain accepted.
    pub accepted: Hash,
    /// The differing copy, with its valid signature.
    pub differing: SignedEgress,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_topic_window_is_a_power_of_two_of_kept_subtrees() {
        for topic in SystemTopic::ALL.map(Topic::System) {
            if let Some(window) = topic.kept_messages() {
                assert!(window.is_power_of_two() && window >= 1 << crate::log::KEPT_LEVEL, "{topic}: {window}");
                assert_eq!(topic.first_kept(window + 5), 5);
            }
        }
        assert_eq!(Topic::System(SystemTopic::Assignments).first_kept(1 << 40), 0);
    }
    use crate::codec::strict_check;
    use proptest::prelude::*;

    fn arb_sender() -> impl Strategy<Value = SenderId> {
        prop_oneof![
            any::<[u8; 32]>().prop_map(SenderId::Worker),
            any::<u32>().prop_map(|n| SenderId::Cluster(ClusterId(n))),
            any::<[u8; 32]>().prop_map(|id| SenderId::Contract(ContractId(id))),
            any::<[u8; 32]>().prop_map(SenderId::Gatekeeper),
            Just(SenderId::GatekeeperSet),
        ]
    }

    fn arb_payload() -> impl Strategy<Value = MessagePayload> {
        proptest::collection::vec(any::<u8>(), 0..300).prop_map(|v| v.try_into().unwrap())
    }

    fn arb_topic() -> impl Strategy<Value = Topic> {
        prop_oneof![
            (0usize..SystemTopic::ALL.len()).prop_map(|i| Topic::System(SystemTopic::ALL[i])),
            any::<[u8; 32]>().prop_map(|id| Topic::Contract(ContractId(id))),
        ]
    }

    fn arb_message() -> impl Strategy<Value = Message> {
        let topic = arb_topic();
        let origin = prop_oneof![
            Just(Origin::Chain),
            any::<[u8; 32]>().prop_map(|a| Origin::Account(AccountId(a))),
            arb_sender().prop_map(Origin::Runtime),
        ];
        (topic, origin, arb_payload()).prop_map(|(topic, origin, payload)| Message { topic, origin, payload })
    }

    fn arb_signed_egress() -> impl Strategy<Value = SignedEgress> {
        (arb_sender(), any::<u32>(), any::<u64>(), arb_topic(), arb_payload(), any::<[u8; 32]>()).prop_map(
            |(sender, epoch, sequence, topic, payload, sig)| SignedEgress {
                egress: Egress { sender, epoch: KeyEpoch(epoch), sequence, topic, payload },
                signature: {
                    let mut s = [0u8; 64];
                    s[32..].copy_from_slice(&sig);
                    s
                },
            },
        )
    }

    #[test]
    fn egress_signing_payload_is_domain_separated() {
        let egress = Egress {
            sender: SenderId::Worker([1; 32]),
            epoch: KeyEpoch(2),
            sequence: 3,
            topic: Topic::System(SystemTopic::KeyEpochs),
            payload: MessagePayload::try_from(&b"hi"[..]).unwrap(),
        };
        assert!(egress.signing_payload().starts_with(EGRESS_SIGNING_DOMAIN));
    }

    #[test]
    fn system_topic_list_matches_the_codec_indices() {
        for (index, topic) in SystemTopic::ALL.into_iter().enumerate() {
            assert_eq!(topic.encode(), vec![index as u8]);
        }
    }

    #[test]
    fn topics_and_senders_refuse_what_they_do_not_write() {
        for bad in ["", "Registrations", "contract:", "contract:0x12", "contract:ab", "system:deposits"] {
            assert!(bad.parse::<Topic>().is_err(), "{bad}");
        }
        for bad in ["", "worker", "worker:0x12", "cluster:x", "cluster:-1", "validator:0x00", "contract:1"] {
            assert!(bad.parse::<SenderId>().is_err(), "{bad}");
        }
        let error = "nope".parse::<Topic>().unwrap_err().to_string();
        assert!(error.contains("unknown topic \"nope\""), "{error}");
    }

    proptest! {
        #[test]
        fn topics_and_senders_parse_what_they_display(topic in arb_topic(), sender in arb_sender()) {
            prop_assert_eq!(topic.to_string().parse::<Topic>(), Ok(topic));
            prop_assert_eq!(sender.to_string().parse::<SenderId>(), Ok(sender));
        }

        #[test]
        fn message_decodes_strictly(m in arb_message(), extra: u8, cut in 1usize..400, flip_at: usize, flip: u8) {
            prop_assert_eq!(strict_check::check(&m, extra, cut, flip_at, flip), Ok(()));
        }

        #[test]
        fn signed_egress_decodes_strictly(e in arb_signed_egress(), extra: u8, cut in 1usize..400, flip_at: usize, flip: u8) {
            prop_assert_eq!(strict_check::check(&e, extra, cut, flip_at, flip), Ok(()));
        }
    }
}

/// What the chain publishes on [`SystemTopic::Sessions`]: `Opened` in the first block (so the topic
/// always has a message a relayer must prove, and cannot be withheld as if empty), then each
/// revocation.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Encode, Decode, MaxEncodedLen)]
pub enum SessionsMessage {
    /// The topic's first message, in block 1.
    #[codec(index = 0)]
    Opened,
    /// An account revoked a session.
    #[codec(index = 1)]
    Revoked(SessionRevocation),
}

/// What the chain publishes on [`SystemTopic::Sessions`] for an `AccountsCall::RevokeSession`:
/// workers refuse every certificate of `session_key` for `account` issued at or before
/// `at_height` (a later certificate is the account's new decision).
#[derive(Clone, Copy, PartialEq, Eq, Debug, Encode, Decode, MaxEncodedLen)]
pub struct SessionRevocation {
    /// The account.
    pub account: crate::AccountId,
    /// The session's ed25519 public key.
    pub session_key: [u8; 32],
    /// The height of the block that revoked it.
    pub at_height: u64,
}
