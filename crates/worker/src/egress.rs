//! The runtime's outgoing messages: signed, numbered per sender, kept until the chain has them.
//!
//! Each message gets its sender's next sequence number and the sender key's signature when it is
//! queued, and the queue is part of the sealed checkpoint, so after a restart the same copies
//! (byte-identical: ed25519 is deterministic) are resubmitted rather than new ones made. A copy
//! leaves the queue when the chain reports the sender's next number past it
//! ([`EgressQueue::acknowledge`]), so nothing is lost and nothing is sent twice under two numbers.

use parity_scale_codec::{Decode, Encode};
use std::collections::BTreeMap;
use veil_crypto::RuntimeSigner;
use veil_primitives::{Egress, KeyEpoch, SenderId, SignedEgress, Topic, message::MessagePayload};

/// Pending egress and the next sequence number of each sender.
#[derive(Clone, Debug, Default, PartialEq, Eq, Encode, Decode)]
pub struct EgressQueue {
    next: BTreeMap<SenderId, u64>,
    pending: BTreeMap<(SenderId, u64), SignedEgress>,
}

impl EgressQueue {
    /// Starts numbering `sender` at `next` (the chain's next sequence number for it), unless the
    /// queue already numbers it further.
    pub fn resume(&mut self, sender: SenderId, next: u64) {
        let entry = self.next.entry(sender).or_insert(next);
        *entry = (*entry).max(next);
    }

    /// The number `sender`'s next message gets.
    pub fn next(&self, sender: SenderId) -> u64 {
        self.next.get(&sender).copied().unwrap_or_default()
    }

    /// Queues `payload` for `topic` from `sender` under its next number, signed with `signer` at
    /// `epoch`. Returns the signed copy.
    pub fn push(
        &mut self,
        signer: &RuntimeSigner,
        sender: SenderId,
        epoch: KeyEpoch,
        topic: Topic,
        payload: MessagePayload,
    ) -> SignedEgress {
        let next = self.next.entry(sender).or_default();
        let egress = Egress { sender, epoch, sequence: *next, topic, payload };
        *next += 1;
        let signature = signer.sign(&egress.signing_payload());
        let copy = SignedEgress { egress, signature };
        self.pending.insert((sender, copy.egress.sequence), copy.clone());
        copy
    }

    /// Signs `sender`'s pending copies again with `signer` under `epoch`, same numbers and content:
    /// after a rotation the chain refuses the old epoch's signatures, and takes a re-signed copy of
    /// a message it already has as a duplicate.
    pub fn resign(&mut self, signer: &RuntimeSigner, sender: SenderId, epoch: KeyEpoch) {
        for ((owner, _), copy) in self.pending.iter_mut() {
            if *owner == sender && copy.egress.epoch != epoch {
                copy.egress.epoch = epoch;
                copy.signature = signer.sign(&copy.egress.signing_payload());
            }
        }
    }

    /// What still has to reach the chain, per sender in sequence order.
    pub fn pending(&self) -> impl Iterator<Item = &SignedEgress> {
        self.pending.values()
    }

    /// `sender`'s next number and its pending copies (a contract's, for a cluster snapshot).
    pub fn of_sender(&self, sender: SenderId) -> (u64, Vec<SignedEgress>) {
        let copies = self.pending.iter().filter(|((owner, _), _)| *owner == sender).map(|(_, copy)| copy.clone());
        (self.next(sender), copies.collect())
    }

    /// Forgets `sender` (a contract this worker no longer runs): its copies are no longer this
    /// queue's to deliver.
    pub fn forget(&mut self, sender: SenderId) {
        self.pending.retain(|(owner, _), _| *owner != sender);
        self.next.remove(&sender);
    }

    /// Takes over `sender`'s numbering and pending copies from a cluster snapshot, replacing what
    /// this queue had of it.
    pub fn adopt(&mut self, sender: SenderId, next: u64, copies: Vec<SignedEgress>) {
        self.forget(sender);
        self.next.insert(sender, next);
        for copy in copies.into_iter().filter(|copy| copy.egress.sender == sender) {
            self.pending.insert((sender, copy.egress.sequence), copy);
        }
    }

    /// The chain's next number for `sender` is `next_on_chain`: every copy below it has landed.
    pub fn acknowledge(&mut self, sender: SenderId, next_on_chain: u64) {
        self.pending.retain(|(owner, sequence), _| *owner != sender || *sequence >= next_on_chain);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use veil_crypto::SecretBytes;
    use veil_primitives::ContractId;

    #[test]
    fn numbers_are_per_sender_and_acknowledged_copies_leave() {
        let signer = RuntimeSigner::from_seed(&SecretBytes::new([3; 32]));
        let (a, b) = (SenderId::Worker(signer.public()), SenderId::Contract(ContractId([1; 32])));
        let topic = Topic::Contract(ContractId([2; 32]));
        let mut queue = EgressQueue::default();
        queue.resume(b, 7);
        let first = queue.push(&signer, a, KeyEpoch(0), topic, b"1".to_vec().try_into().unwrap());
        let second = queue.push(&signer, a, KeyEpoch(0), topic, b"2".to_vec().try_into().unwrap());
        let other = queue.push(&signer, b, KeyEpoch(0), topic, b"x".to_vec().try_into().unwrap());
        assert_eq!((first.egress.sequence, second.egress.sequence, other.egress.sequence), (0, 1, 7));
        assert_eq!(queue.pending().count(), 3);

        // Through a checkpoint: the same copies, byte for byte.
        let restored = EgressQueue::decode(&mut &queue.encode()[..]).unwrap();
        assert_eq!(restored, queue);

        queue.acknowledge(a, 1);
        assert_eq!(queue.pending().cloned().collect::<Vec<_>>(), vec![second, other]);
        queue.resume(a, 0);
        let third = queue.push(&signer, a, KeyEpoch(0), topic, b"3".to_vec().try_into().unwrap());
        assert_eq!(third.egress.sequence, 2, "resuming never goes back");

        // A snapshot's queue replaces what this queue had of the sender; forgetting drops it.
        let (next, copies) = queue.of_sender(a);
        assert_eq!((next, copies.len()), (3, 2));
        let mut taken = EgressQueue::default();
        taken.push(&signer, a, KeyEpoch(0), topic, b"stale".to_vec().try_into().unwrap());
        taken.adopt(a, next, copies.clone());
        assert_eq!(taken.of_sender(a), (3, copies));
        taken.forget(a);
        assert_eq!(taken.of_sender(a), (0, Vec::new()));
    }
}
