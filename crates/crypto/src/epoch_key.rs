//! A runtime's key for one key epoch, and the one rule that checks its announcement.
//!
//! The key is an ed25519 key: its X25519 form (RFC 7748 scalar of the expanded secret, Montgomery
//! form of the public point) is what keys of the epoch are sealed to, and its ed25519 form signs
//! once, when it is announced, to prove the announcing runtime holds it. The signature names the
//! chain, the announcing identity, the epoch and the X25519 key, under its own domain; the key
//! signs nothing else. So a runtime cannot announce another runtime's key as its own: deliveries
//! sealed to it would otherwise reach a key whose secret another party holds. (On using one key
//! pair for Ed25519 and X25519: eprint 2021/509; here the signature is a single, domain-separated
//! proof over public values.)

use ed25519_dalek::{Signature, Signer as _, SigningKey, VerifyingKey};
use veil_primitives::{Hash, KeyEpoch, epoch::EpochKey};

use crate::{AgreementSecret, RuntimeSigner, secret::SecretBytes};

/// A runtime's key pair for one epoch. Zeroizes on drop; `Debug` shows only the public key.
#[derive(Clone)]
pub struct EpochKeyPair(SigningKey);

impl std::fmt::Debug for EpochKeyPair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "EpochKeyPair(0x{}, secret: <redacted>)", hex::encode(self.agreement_public()))
    }
}

impl EpochKeyPair {
    /// The key whose RFC 8032 secret seed is `seed`.
    pub fn from_seed(seed: &SecretBytes<32>) -> Self {
        Self(SigningKey::from_bytes(seed.expose()))
    }

    /// The X25519 secret keys of the epoch are sealed to.
    pub fn agreement(&self) -> AgreementSecret {
        AgreementSecret::from_bytes(&SecretBytes::new(self.0.to_scalar_bytes()))
    }

    /// The X25519 public key.
    pub fn agreement_public(&self) -> [u8; 32] {
        self.0.verifying_key().to_montgomery().to_bytes()
    }

    /// The announcement of this key for `epoch` by the runtime `identity` on `chain`: signed by
    /// the identity, with this key's proof of possession.
    pub fn announce(&self, chain: &Hash, identity: &RuntimeSigner, epoch: KeyEpoch) -> EpochKey {
        let agreement = self.agreement_public();
        let signed = EpochKey::signing_payload(chain, &identity.public(), epoch, &agreement);
        let possessed = EpochKey::possession_payload(chain, &identity.public(), epoch, &agreement);
        EpochKey {
            epoch,
            agreement,
            holder: self.0.verifying_key().to_bytes(),
            signature: identity.sign(&signed),
            possession: self.0.sign(&possessed).to_bytes(),
        }
    }
}

/// Why an epoch key announcement is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum EpochKeyError {
    /// The announcing runtime's identity did not sign it.
    #[error("the epoch key is not signed by the announcing runtime's identity")]
    NotSigned,
    /// The X25519 key is not the ed25519 key's Montgomery form, or the ed25519 key is invalid.
    #[error("the epoch key's X25519 and ed25519 forms differ")]
    Inconsistent,
    /// The key's own signature over the announcement is missing or wrong: the announcing runtime
    /// has not shown it holds the key.
    #[error("the epoch key's proof of possession does not verify for this runtime")]
    NotPossessed,
}

/// Checks an epoch key announced by the runtime `identity` on `chain`: its identity's signature,
/// that its two forms are one key, and its proof of possession naming this identity. The chain
/// and every gatekeeper apply this one rule.
pub fn verify_epoch_key(chain: &Hash, identity: &[u8; 32], key: &EpochKey) -> Result<(), EpochKeyError> {
    let signed = EpochKey::signing_payload(chain, identity, key.epoch, &key.agreement);
    crate::verify_runtime_signature(identity, &signed, &key.signature).map_err(|_| EpochKeyError::NotSigned)?;
    let holder = VerifyingKey::from_bytes(&key.holder).map_err(|_| EpochKeyError::Inconsistent)?;
    if holder.is_weak() || holder.to_montgomery().to_bytes() != key.agreement {
        return Err(EpochKeyError::Inconsistent);
    }
    let possessed = EpochKey::possession_payload(chain, identity, key.epoch, &key.agreement);
    holder.verify_strict(&possessed, &Signature::from_bytes(&key.possession)).map_err(|_| EpochKeyError::NotPossessed)
}

#[cfg(test)]
mod tests {
    use super::*;

    const CHAIN: Hash = Hash([0xcc; 32]);

    fn pair(byte: u8) -> EpochKeyPair {
        EpochKeyPair::from_seed(&SecretBytes::new([byte; 32]))
    }

    #[test]
    fn the_x25519_form_agrees_with_the_announced_key() {
        let (one, two) = (pair(1), pair(2));
        assert_eq!(one.agreement().public(), one.agreement_public());
        let shared = one.agreement().agree(&two.agreement_public()).unwrap();
        assert_eq!(shared.expose(), two.agreement().agree(&one.agreement_public()).unwrap().expose());
    }

    #[test]
    fn an_honest_announcement_verifies() {
        let identity = RuntimeSigner::from_seed(&SecretBytes::new([9; 32]));
        let key = pair(1).announce(&CHAIN, &identity, KeyEpoch(3));
        assert_eq!(verify_epoch_key(&CHAIN, &identity.public(), &key), Ok(()));
        assert_eq!(verify_epoch_key(&Hash([1; 32]), &identity.public(), &key), Err(EpochKeyError::NotSigned));
    }

    /// The attack of issue 21: a runtime copies another runtime's announced key (X25519 and
    /// ed25519 forms, even its proof) and signs it with its own identity. It cannot make a proof
    /// of possession naming itself, so the announcement is refused.
    #[test]
    fn another_runtimes_key_cannot_be_announced() {
        let (victim, copier) = (
            RuntimeSigner::from_seed(&SecretBytes::new([9; 32])),
            RuntimeSigner::from_seed(&SecretBytes::new([8; 32])),
        );
        let honest = pair(1).announce(&CHAIN, &victim, KeyEpoch(0));
        let signed = EpochKey::signing_payload(&CHAIN, &copier.public(), KeyEpoch(0), &honest.agreement);
        let copied = EpochKey { signature: copier.sign(&signed), ..honest };
        assert_eq!(verify_epoch_key(&CHAIN, &copier.public(), &copied), Err(EpochKeyError::NotPossessed));
        // Another ed25519 key whose Montgomery form is not the announced X25519 key.
        let mismatched = EpochKey { holder: pair(2).announce(&CHAIN, &copier, KeyEpoch(0)).holder, ..copied };
        assert_eq!(verify_epoch_key(&CHAIN, &copier.public(), &mismatched), Err(EpochKeyError::Inconsistent));
    }
}
