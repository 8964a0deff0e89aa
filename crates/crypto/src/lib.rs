//! Veil's cryptography, in one place so every component uses the same few constructions.
//!
//! - [`account`]: sr25519 account keys, compatible with Substrate tooling (`subkey`, Polkadot
//!   wallets): BIP39 phrases, raw seeds and secret URIs with `//hard`, `/soft` and `///password`
//!   parts give the same keys as there. Signatures use the signing context `substrate`.
//! - [`runtime_key`]: ed25519 keys for off-chain senders (workers, gatekeepers, clusters, contracts).
//!   Ed25519 signs deterministically, so every gatekeeper derives byte-identical messages.
//! - [`envelope`]: the one encryption envelope of the system: a fresh ephemeral X25519 key per
//!   envelope, HKDF-SHA256 over a transcript of both public keys, the purpose, the direction, the
//!   version and the key epoch, then AES-256-GCM with caller-supplied associated data.
//! - [`key_tree`]: master → cluster → contract keys derived with HKDF under typed, versioned labels
//!   that include the key epoch; a contract key yields separate agreement, signing and state keys.
//! - [`sealing`]: AES-256-GCM-SIV blobs under a key derived from a platform secret, with a software
//!   platform (a random 0600 file) that is loudly insecure.
//!
//! Secrets live in types that zeroize on drop and print as `<redacted>`; failures are error values,
//! never panics.

pub mod account;
pub mod confidential;
pub mod envelope;
pub mod epoch_key;
pub mod kdf;
pub mod key_tree;
pub mod private_file;
pub mod random;
pub mod runtime_key;
pub mod sealing;
pub mod secret;
pub mod secret_uri;

pub use account::{AccountPair, verify_account_signature};
pub use envelope::{AgreementPublic, AgreementSecret, Direction, Envelope, EnvelopeError, EnvelopeParams, Purpose};
pub use epoch_key::{EpochKeyError, EpochKeyPair, verify_epoch_key};
pub use key_tree::{ClusterKey, ContractKey, MasterKey, StateKey};
pub use runtime_key::{RuntimeSigner, verify_runtime_signature};
pub use sealing::{SealError, Sealer, SealingPlatform, SealingSecretSource, SoftwareSealingKey};
pub use secret::{Sealable, SecretBytes};
