//! The runtime's own keys: its identity and query key, the key it announces for each epoch, where
//! fresh secrets come from, and the retirement that destroys an old epoch's keys.

use std::sync::atomic::{AtomicU64, Ordering};
use veil_types::EpochHistory as _;

use parity_scale_codec::{Decode, Encode, Error, Input, Output};
use veil_crypto::{AgreementSecret, EpochKeyPair, RuntimeSigner, Sealable, SecretBytes, random::RandomnessError};
use veil_primitives::{KeyEpoch, SystemTopic, Topic, contract::AssignmentMessage, hashing::sha256};

use super::{Core, Refusal, Role, Setting, own_sender};

/// Where a runtime's fresh secrets come from: its identity and query keys, its epoch keys, the
/// master keys a gatekeeper generates.
pub trait Randomness: Send + Sync {
    /// 32 fresh secret bytes.
    fn secret(&self) -> Result<SecretBytes<32>, RandomnessError>;
}

/// The operating system's cryptographic random number generator: what a real runtime uses.
pub struct OsRandomness;

impl Randomness for OsRandomness {
    fn secret(&self) -> Result<SecretBytes<32>, RandomnessError> {
        Ok(SecretBytes::new(veil_crypto::random::random_bytes()?))
    }
}

/// Randomness that is a function of a seed (SHA-256 of the seed and a counter), so a simulation
/// that runs a whole network of runtimes in one process repeats exactly. Anyone who knows the
/// seed knows every key: for tests and simulations only, never for a runtime that holds value.
pub struct SeededRandomness {
    seed: [u8; 32],
    drawn: AtomicU64,
}

impl SeededRandomness {
    /// Randomness drawn from `seed`.
    pub fn new(seed: [u8; 32]) -> Self {
        Self { seed, drawn: AtomicU64::new(0) }
    }
}

impl Randomness for SeededRandomness {
    fn secret(&self) -> Result<SecretBytes<32>, RandomnessError> {
        let counter = self.drawn.fetch_add(1, Ordering::Relaxed);
        Ok(SecretBytes::new(sha256(&(b"veil/seeded-randomness", self.seed, counter).encode()).0))
    }
}

/// A key kept as its seed: the seed is what a checkpoint holds, the key is derived once.
pub(super) struct Seeded<K> {
    seed: Sealable<SecretBytes<32>>,
    key: K,
}

/// A key derived from a 32-byte seed.
pub(super) trait FromSeed {
    fn from_seed(seed: &SecretBytes<32>) -> Self;
}

impl FromSeed for RuntimeSigner {
    fn from_seed(seed: &SecretBytes<32>) -> Self {
        RuntimeSigner::from_seed(seed)
    }
}

impl FromSeed for AgreementSecret {
    fn from_seed(seed: &SecretBytes<32>) -> Self {
        AgreementSecret::from_bytes(seed)
    }
}

impl<K: FromSeed> Seeded<K> {
    pub(super) fn new(seed: SecretBytes<32>) -> Self {
        let key = K::from_seed(&seed);
        Self { seed: Sealable(seed), key }
    }

    pub(super) fn key(&self) -> &K {
        &self.key
    }

    pub(super) fn seed(&self) -> &SecretBytes<32> {
        &self.seed
    }
}

impl<K> Encode for Seeded<K> {
    fn size_hint(&self) -> usize {
        32
    }

    fn encode_to<T: Output + ?Sized>(&self, dest: &mut T) {
        self.seed.encode_to(dest);
    }
}

impl<K: FromSeed> Decode for Seeded<K> {
    fn decode<I: Input>(input: &mut I) -> Result<Self, Error> {
        Ok(Self::new(Sealable::<SecretBytes<32>>::decode(input)?.0))
    }
}

impl Core {
    /// Announces this runtime's keys for the current and the next epoch, once each. `may`: a
    /// gatekeeper announces only once its own registration is on chain (see
    /// [`super::GatekeeperDuties::may_announce`]).
    pub(super) fn announce_epoch_keys(&mut self, setting: &Setting, role: Role) {
        for epoch in [self.epochs.epoch(), self.epochs.next()] {
            if self.epoch_secrets.contains_key(&epoch) {
                continue;
            }
            let secret = match setting.host.randomness.secret() {
                Ok(secret) => secret,
                Err(error) => return self.note(Refusal::Randomness(error.to_string())),
            };
            let key = EpochKeyPair::from_seed(&secret).announce(&setting.chain, self.identity.key(), epoch);
            self.epoch_secrets.insert(epoch, Sealable(secret));
            self.push_own(role, Topic::System(SystemTopic::Assignments), AssignmentMessage::EpochKey(key).encode());
        }
    }

    /// Destroys this runtime's epoch keys of epochs retired by `now_ms`; returns whether any was.
    pub(super) fn retire(&mut self, now_ms: u64) -> bool {
        let before = self.epoch_secrets.len();
        let epochs = &self.epochs;
        self.epoch_secrets.retain(|epoch, _| !epochs.retired(*epoch, now_ms));
        before != self.epoch_secrets.len()
    }

    /// The secret of this runtime's key of `epoch`, as an agreement key.
    pub(super) fn epoch_key(&self, epoch: KeyEpoch) -> Option<AgreementSecret> {
        self.epoch_secrets.get(&epoch).map(|seed| EpochKeyPair::from_seed(seed).agreement())
    }

    /// Queues egress of this runtime's own identity; numbering continues after its messages
    /// proven on chain.
    pub(super) fn push_own(&mut self, role: Role, topic: Topic, payload: Vec<u8>) {
        let sender = own_sender(role, self.identity());
        self.egress.resume(sender, self.own_published);
        let Ok(payload) = payload.try_into() else {
            return self.note(Refusal::TooLarge("a message of this runtime"));
        };
        self.egress.push(self.identity.key(), sender, KeyEpoch(0), topic, payload);
    }

    /// Counts this runtime's own messages proven on chain.
    pub(super) fn acknowledge_own(&mut self, role: Role, message: &veil_primitives::Message) {
        let sender = own_sender(role, self.identity());
        if message.origin == veil_primitives::Origin::Runtime(sender) {
            self.own_published += 1;
            self.egress.acknowledge(sender, self.own_published);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeded_randomness_repeats_per_seed_and_never_within_one() {
        let (one, again, other) =
            (SeededRandomness::new([1; 32]), SeededRandomness::new([1; 32]), SeededRandomness::new([2; 32]));
        let first = one.secret().unwrap();
        assert_eq!(&first, &again.secret().unwrap());
        assert_ne!(&first, &one.secret().unwrap());
        assert_ne!(&first, &other.secret().unwrap());
    }

    #[test]
    fn a_seeded_key_is_kept_as_its_seed_and_derived_again() {
        let seed = SecretBytes::new([9; 32]);
        let signer: Seeded<RuntimeSigner> = Seeded::new(seed.clone());
        let encoded = signer.encode();
        assert_eq!(encoded, vec![9; 32]);
        let restored = Seeded::<RuntimeSigner>::decode(&mut &encoded[..]).unwrap();
        assert_eq!(restored.key().public(), RuntimeSigner::from_seed(&seed).public());
    }
}
