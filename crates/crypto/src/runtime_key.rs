//! Ed25519 signing keys of off-chain senders: workers, gatekeepers, clusters and contracts.
//!
//! Ed25519 (RFC 8032) signs deterministically, which the protocol needs: every gatekeeper derives
//! the same keys and must emit byte-identical messages. Verification is strict (no malleable or
//! small-order encodings).

use ed25519_dalek::{Signer as _, SigningKey, VerifyingKey};

use crate::{
    random::{RandomnessError, random_bytes},
    secret::SecretBytes,
};

/// An ed25519 signing key. Zeroizes on drop; `Debug` shows only the public key.
#[derive(Clone)]
pub struct RuntimeSigner(SigningKey);

impl std::fmt::Debug for RuntimeSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RuntimeSigner(0x{}, secret: <redacted>)", hex::encode(self.public()))
    }
}

impl RuntimeSigner {
    /// The key whose RFC 8032 secret seed is `seed`.
    pub fn from_seed(seed: &SecretBytes<32>) -> Self {
        Self(SigningKey::from_bytes(seed.expose()))
    }

    /// A fresh random key.
    pub fn generate() -> Result<Self, RandomnessError> {
        Ok(Self::from_seed(&SecretBytes::new(random_bytes()?)))
    }

    /// The 32-byte public key.
    pub fn public(&self) -> [u8; 32] {
        self.0.verifying_key().to_bytes()
    }

    /// The signature over `message`; the same key and message always give the same signature.
    pub fn sign(&self, message: &[u8]) -> [u8; 64] {
        self.0.sign(message).to_bytes()
    }
}

/// The public seed of the development gatekeeper's identity key: local networks register it in
/// genesis, and a runtime started as the development gatekeeper (`veil-worker --dev-gatekeeper`)
/// signs with it. Anyone can sign as it; never use it beyond a local network.
pub const DEV_GATEKEEPER_SEED: &str = "veil/dev/gatekeeper";

/// The development gatekeeper's identity seed: SHA-256 of [`DEV_GATEKEEPER_SEED`].
pub fn dev_gatekeeper_seed() -> SecretBytes<32> {
    SecretBytes::new(veil_primitives::hashing::sha256(DEV_GATEKEEPER_SEED.as_bytes()).0)
}

/// The development gatekeeper's identity key (from [`dev_gatekeeper_seed`]).
pub fn dev_gatekeeper() -> RuntimeSigner {
    RuntimeSigner::from_seed(&dev_gatekeeper_seed())
}

/// The identity seed of local network gatekeeper `index`: [`dev_gatekeeper_seed`] for 0, SHA-256 of
/// `veil/dev/gatekeeper/<index>` for the others. Public: local networks only.
pub fn dev_gatekeeper_seed_at(index: u8) -> SecretBytes<32> {
    if index == 0 {
        return dev_gatekeeper_seed();
    }
    SecretBytes::new(veil_primitives::hashing::sha256(format!("{DEV_GATEKEEPER_SEED}/{index}").as_bytes()).0)
}

/// An ed25519 signature did not verify.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RuntimeSignatureError {
    /// The public key is not a valid curve point.
    #[error("not a valid ed25519 public key")]
    BadPublicKey,
    /// The signature does not match, or uses a non-canonical or small-order encoding.
    #[error("ed25519 signature does not match the public key and message")]
    Mismatch,
}

/// Checks an ed25519 signature strictly.
pub fn verify_runtime_signature(
    public: &[u8; 32],
    message: &[u8],
    signature: &[u8; 64],
) -> Result<(), RuntimeSignatureError> {
    let key = VerifyingKey::from_bytes(public).map_err(|_| RuntimeSignatureError::BadPublicKey)?;
    let signature = ed25519_dalek::Signature::from_bytes(signature);
    key.verify_strict(message, &signature).map_err(|_| RuntimeSignatureError::Mismatch)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 8032 section 7.1, test 2 (one-byte message).
    #[test]
    fn rfc8032_test_vector() {
        let mut seed = [0u8; 32];
        hex::decode_to_slice("4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb", &mut seed).unwrap();
        let signer = RuntimeSigner::from_seed(&SecretBytes::new(seed));
        assert_eq!(hex::encode(signer.public()), "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c");
        let signature = signer.sign(&[0x72]);
        assert_eq!(
            hex::encode(signature),
            "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da\
             085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00"
        );
        assert_eq!(verify_runtime_signature(&signer.public(), &[0x72], &signature), Ok(()));
        assert_eq!(
            verify_runtime_signature(&signer.public(), &[0x73], &signature),
            Err(RuntimeSignatureError::Mismatch)
        );
    }

    #[test]
    fn debug_hides_the_secret() {
        let signer = RuntimeSigner::from_seed(&SecretBytes::new([7; 32]));
        assert!(format!("{signer:?}").contains("redacted"));
    }
}
