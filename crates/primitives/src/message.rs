//! Messages between the chain and the runtimes.
//!
//! Everything a runtime learns from the chain arrives as a [`Message`] on a [`Topic`]; everything a
//! runtime tells the chain leaves as a [`SignedEgress`], signed by its sender's key with a key epoch
//! and a per-sender sequence number so the chain can accept each exactly once.

use parity_scale_codec::{Decode, Encode, MaxEncodedLen};

use crate::{
    codec::BoundedBytes,
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
    /// Contract-to-cluster assignments.
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
    /// A gatekeeper, by its ed25519 identity key.
    #[codec(index = 3)]
    Gatekeeper([u8; 32]),
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

/// An unsigned outgoing message of a runtime.
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode, MaxEncodedLen)]
pub struct Egress {
    /// Whose key signs it.
    pub sender: SenderId,
    /// The key epoch of the signing key; egress under a retired epoch is refused.
    pub epoch: KeyEpoch,
    /// The sender's sequence number: each is accepted once, in order.
    pub sequence: u64,
    /// The content.
    pub payload: MessagePayload,
}

impl Egress {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::strict_check;
    use proptest::prelude::*;

    fn arb_sender() -> impl Strategy<Value = SenderId> {
        prop_oneof![
            any::<[u8; 32]>().prop_map(SenderId::Worker),
            any::<u32>().prop_map(|n| SenderId::Cluster(ClusterId(n))),
            any::<[u8; 32]>().prop_map(|id| SenderId::Contract(ContractId(id))),
            any::<[u8; 32]>().prop_map(SenderId::Gatekeeper),
        ]
    }

    fn arb_payload() -> impl Strategy<Value = MessagePayload> {
        proptest::collection::vec(any::<u8>(), 0..300).prop_map(|v| v.try_into().unwrap())
    }

    fn arb_message() -> impl Strategy<Value = Message> {
        let topic = prop_oneof![
            (0u8..5).prop_map(|i| Topic::System(match i {
                0 => SystemTopic::Registrations,
                1 => SystemTopic::Assignments,
                2 => SystemTopic::KeyEpochs,
                3 => SystemTopic::Deposits,
                _ => SystemTopic::ContractCode,
            })),
            any::<[u8; 32]>().prop_map(|id| Topic::Contract(ContractId(id))),
        ];
        let origin = prop_oneof![
            Just(Origin::Chain),
            any::<[u8; 32]>().prop_map(|a| Origin::Account(AccountId(a))),
            arb_sender().prop_map(Origin::Runtime),
        ];
        (topic, origin, arb_payload()).prop_map(|(topic, origin, payload)| Message { topic, origin, payload })
    }

    fn arb_signed_egress() -> impl Strategy<Value = SignedEgress> {
        (arb_sender(), any::<u32>(), any::<u64>(), arb_payload(), any::<[u8; 32]>()).prop_map(
            |(sender, epoch, sequence, payload, sig)| SignedEgress {
                egress: Egress { sender, epoch: KeyEpoch(epoch), sequence, payload },
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
            payload: MessagePayload::try_from(&b"hi"[..]).unwrap(),
        };
        assert!(egress.signing_payload().starts_with(EGRESS_SIGNING_DOMAIN));
    }

    proptest! {
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
