//! The key hierarchy: master key → cluster keys → contract keys.
//!
//! Each child secret is HKDF-SHA256 of its parent's secret under a typed label: the SCALE encoding of
//! a [`Label`] variant (fixed index, never reused) with the tree's version and the key epoch. Leaf
//! keys for different uses come from different labels, so a contract's key-agreement, signing and
//! state keys are independent: a leak of one says nothing about the others, and no key is used both
//! to sign and to agree.
//!
//! ```text
//! master ──Cluster(id, epoch)──▶ cluster ──Contract(id, epoch)──▶ contract
//!   ├─GatekeeperSet(epoch)─▶       ├─ClusterAgreement─▶ X25519        ├─ContractAgreement─▶ X25519
//!   │    ed25519                   ├─ClusterSigning───▶ ed25519       ├─ContractSigning───▶ ed25519
//!   └─Ephemeral(recipient,         └─ClusterSnapshot──▶ AES key        ├─ContractState─────▶ AES key
//!      epoch, sequence)─▶ X25519                                      ├─ContractApplication▶ ed25519
//!                                                                     ├─ContractRandomness─▶ seed
//!                                                                     └─ContractEphemeral(recipient,
//!                                                                        sequence)─▶ X25519
//! ```
//!
//! A master key belongs to one epoch: rotation generates a new random one (never derived from the
//! old, so a leaked master key opens no later epoch), and every key below it carries the epoch.
//!
//! A contract's egress key and the key its code signs with ([`ContractKey::application_signer`])
//! are different keys, so contract code can never sign something that passes as its egress.

use aes_gcm_siv::{Aes256GcmSiv, KeyInit, aead::Aead};
use parity_scale_codec::Encode;
use veil_primitives::{ClusterId, ContractId, KeyEpoch};

use crate::{
    envelope::{AgreementPublic, AgreementSecret},
    kdf::hkdf_sha256,
    random::{RandomnessError, random_bytes},
    runtime_key::RuntimeSigner,
    secret::SecretBytes,
};

/// Version of the derivation scheme, part of every label.
const KEY_TREE_VERSION: u8 = 1;
const KEY_TREE_SALT: &[u8] = b"veil/key-tree";

/// What a derived key is for. Indices are fixed forever; new uses are appended.
#[derive(Encode)]
enum Label<'a> {
    #[codec(index = 0)]
    Cluster { cluster: ClusterId, epoch: KeyEpoch },
    #[codec(index = 1)]
    Contract { contract: ContractId, epoch: KeyEpoch },
    #[codec(index = 2)]
    ClusterAgreement { epoch: KeyEpoch },
    #[codec(index = 3)]
    ClusterSigning { epoch: KeyEpoch },
    #[codec(index = 4)]
    ContractAgreement { epoch: KeyEpoch },
    #[codec(index = 5)]
    ContractSigning { epoch: KeyEpoch },
    #[codec(index = 6)]
    ContractState { epoch: KeyEpoch },
    // Index 7 is retired (issue 21): `Ephemeral { recipient, epoch, sequence }` named only the
    // recipient's X25519 key, so two deliveries to one key at one duty shared an ephemeral.
    // Never reuse it.
    #[codec(index = 8)]
    MasterAgreement,
    #[codec(index = 9)]
    ContractApplication { epoch: KeyEpoch },
    #[codec(index = 10)]
    ContractRandomness { epoch: KeyEpoch },
    #[codec(index = 11)]
    ContractEphemeral { recipient: &'a [u8; 32], epoch: KeyEpoch, sequence: u64 },
    #[codec(index = 12)]
    GatekeeperSet { epoch: KeyEpoch },
    #[codec(index = 13)]
    ClusterSnapshot { epoch: KeyEpoch },
    /// The ephemeral of a cluster key's delivery to one runtime (its identity and its key of the
    /// epoch) for one cluster and duty.
    #[codec(index = 14)]
    ClusterDelivery { identity: &'a [u8; 32], key: &'a [u8; 32], cluster: ClusterId, epoch: KeyEpoch, duty: u64 },
    /// The ephemeral of a master key's delivery (a share) to one gatekeeper (its identity and its
    /// key of the epoch), numbered by `sequence`.
    #[codec(index = 15)]
    MasterDelivery { identity: &'a [u8; 32], key: &'a [u8; 32], epoch: KeyEpoch, sequence: u64 },
}

fn derive(parent: &SecretBytes<32>, label: Label<'_>) -> SecretBytes<32> {
    let info = (b"veil/key-tree", KEY_TREE_VERSION, label).encode();
    SecretBytes::new(*hkdf_sha256::<32>(KEY_TREE_SALT, parent.expose(), &info))
}

/// The root of all derived keys. Held only by gatekeepers, inside their TEEs; kept in sealed state
/// as [`crate::Sealable`].
#[derive(Clone, Debug)]
pub struct MasterKey(SecretBytes<32>);

impl MasterKey {
    /// A fresh random master key.
    pub fn generate() -> Result<Self, RandomnessError> {
        Ok(Self(SecretBytes::new(random_bytes()?)))
    }

    /// A master key restored from its secret (after unsealing, or received from another gatekeeper).
    pub fn from_secret(secret: SecretBytes<32>) -> Self {
        Self(secret)
    }

    /// The secret, for sealing or for handing to another attested gatekeeper.
    pub fn secret(&self) -> &SecretBytes<32> {
        &self.0
    }

    /// The master key's public half: the X25519 public key of a key derived from it. Published by
    /// the gatekeeper that generated it, so another gatekeeper that receives the master key can show
    /// it holds the same one; it reveals nothing of the secret.
    pub fn public(&self) -> AgreementPublic {
        AgreementSecret::from_bytes(&derive(&self.0, Label::MasterAgreement)).public()
    }

    /// The gatekeeper set's egress key for `epoch`, the epoch of this master key: every gatekeeper
    /// holding it signs the same deliveries with it, byte for byte.
    pub fn set_signer(&self, epoch: KeyEpoch) -> RuntimeSigner {
        RuntimeSigner::from_seed(&derive(&self.0, Label::GatekeeperSet { epoch }))
    }

    /// The key of `cluster` in `epoch`.
    pub fn cluster_key(&self, cluster: ClusterId, epoch: KeyEpoch) -> ClusterKey {
        ClusterKey { secret: derive(&self.0, Label::Cluster { cluster, epoch }), cluster, epoch }
    }

    /// The ephemeral X25519 key of the delivery of `cluster`'s key to the runtime `identity`
    /// (whose key of `epoch` is `key`) for `duty`. Unique per recipient, cluster and duty, and
    /// the same on every gatekeeper holding this master key, so all of them emit byte-identical
    /// envelopes; two runtimes naming one key never share an ephemeral.
    pub fn cluster_delivery_ephemeral(
        &self,
        identity: &[u8; 32],
        key: &[u8; 32],
        cluster: ClusterId,
        epoch: KeyEpoch,
        duty: u64,
    ) -> AgreementSecret {
        AgreementSecret::from_bytes(&derive(&self.0, Label::ClusterDelivery { identity, key, cluster, epoch, duty }))
    }

    /// The ephemeral X25519 key of the `sequence`-th master share to the gatekeeper `identity`
    /// (whose key of `epoch` is `key`): a label space of its own, apart from cluster deliveries.
    pub fn master_delivery_ephemeral(
        &self,
        identity: &[u8; 32],
        key: &[u8; 32],
        epoch: KeyEpoch,
        sequence: u64,
    ) -> AgreementSecret {
        AgreementSecret::from_bytes(&derive(&self.0, Label::MasterDelivery { identity, key, epoch, sequence }))
    }
}

/// A cluster's key for one epoch, held by the cluster's workers; kept in sealed state as
/// [`crate::Sealable`].
#[derive(Clone, Debug)]
pub struct ClusterKey {
    secret: SecretBytes<32>,
    cluster: ClusterId,
    epoch: KeyEpoch,
}

impl ClusterKey {
    /// A cluster key as delivered by a gatekeeper.
    pub fn from_secret(secret: SecretBytes<32>, cluster: ClusterId, epoch: KeyEpoch) -> Self {
        Self { secret, cluster, epoch }
    }

    /// The secret, for delivery to an attested worker.
    pub fn secret(&self) -> &SecretBytes<32> {
        &self.secret
    }

    /// The cluster this key belongs to.
    pub fn cluster(&self) -> ClusterId {
        self.cluster
    }

    /// The epoch this key belongs to.
    pub fn epoch(&self) -> KeyEpoch {
        self.epoch
    }

    /// The key of `contract` in this key's epoch.
    pub fn contract_key(&self, contract: ContractId) -> ContractKey {
        let secret = derive(&self.secret, Label::Contract { contract, epoch: self.epoch });
        ContractKey { secret, contract, epoch: self.epoch }
    }

    /// The cluster's key-agreement key.
    pub fn agreement(&self) -> AgreementSecret {
        AgreementSecret::from_bytes(&derive(&self.secret, Label::ClusterAgreement { epoch: self.epoch }))
    }

    /// The cluster's signing key: it signs the cluster's state snapshots.
    pub fn signer(&self) -> RuntimeSigner {
        RuntimeSigner::from_seed(&derive(&self.secret, Label::ClusterSigning { epoch: self.epoch }))
    }

    /// The key a cluster's state snapshot is encrypted under: only holders of the cluster key (its
    /// workers, who got it from a gatekeeper that checked their quotes) can read one.
    pub fn snapshot_key(&self) -> StateKey {
        StateKey(derive(&self.secret, Label::ClusterSnapshot { epoch: self.epoch }))
    }
}

/// A contract's key for one epoch. Only its leaf keys are ever used directly.
#[derive(Clone, Debug)]
pub struct ContractKey {
    secret: SecretBytes<32>,
    contract: ContractId,
    epoch: KeyEpoch,
}

impl ContractKey {
    /// The contract this key belongs to.
    pub fn contract(&self) -> ContractId {
        self.contract
    }

    /// The epoch this key belongs to.
    pub fn epoch(&self) -> KeyEpoch {
        self.epoch
    }

    /// The key commands are encrypted to; its public half is published on chain.
    pub fn agreement(&self) -> AgreementSecret {
        AgreementSecret::from_bytes(&derive(&self.secret, Label::ContractAgreement { epoch: self.epoch }))
    }

    /// The key that signs the contract's egress.
    pub fn signer(&self) -> RuntimeSigner {
        RuntimeSigner::from_seed(&derive(&self.secret, Label::ContractSigning { epoch: self.epoch }))
    }

    /// The symmetric key that encrypts the contract's state.
    pub fn state_key(&self) -> StateKey {
        StateKey(derive(&self.secret, Label::ContractState { epoch: self.epoch }))
    }

    /// The key the contract's code signs with (its public half is the contract's to publish).
    pub fn application_signer(&self) -> RuntimeSigner {
        RuntimeSigner::from_seed(&derive(&self.secret, Label::ContractApplication { epoch: self.epoch }))
    }

    /// The seed of the contract's deterministic randomness: every worker derives the same bytes from
    /// it, nobody without the contract key can predict them.
    pub fn randomness_seed(&self) -> SecretBytes<32> {
        derive(&self.secret, Label::ContractRandomness { epoch: self.epoch })
    }

    /// The ephemeral X25519 key of the contract's `sequence`-th egress, sealed to `recipient`.
    /// Unique per message (egress sequence numbers never repeat) and the same on every worker of the
    /// cluster, so all of them emit byte-identical envelopes.
    pub fn ephemeral_for(&self, recipient: &[u8; 32], sequence: u64) -> AgreementSecret {
        let label = Label::ContractEphemeral { recipient, epoch: self.epoch, sequence };
        AgreementSecret::from_bytes(&derive(&self.secret, label))
    }
}

/// A contract's state-encryption key for one epoch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StateKey(SecretBytes<32>);

impl StateKey {
    /// The key bytes.
    pub fn secret(&self) -> &SecretBytes<32> {
        &self.0
    }

    fn cipher(&self) -> Aes256GcmSiv {
        Aes256GcmSiv::new(self.0.expose().into())
    }

    /// Encrypts a contract's state deterministically, so every worker of a cluster holds (and
    /// commits to) the same bytes: AES-256-GCM-SIV with the nonce HMAC-derived from the key and the
    /// plaintext (`nonce ‖ ciphertext`). Equal states give equal ciphertexts; nothing else leaks.
    pub fn encrypt_state(&self, plaintext: &[u8]) -> Vec<u8> {
        let tag = hkdf_sha256::<12>(b"veil/state-nonce/v1", self.0.expose(), plaintext);
        let nonce: [u8; 12] = *tag;
        let mut out = nonce.to_vec();
        // AES-GCM-SIV only fails on plaintexts over 64 GiB, far beyond any state the runtime holds.
        out.extend(self.cipher().encrypt(&nonce.into(), plaintext).unwrap_or_default());
        out
    }

    /// Decrypts what [`StateKey::encrypt_state`] produced; `None` if it was altered or is not
    /// under this key.
    pub fn decrypt_state(&self, blob: &[u8]) -> Option<zeroize::Zeroizing<Vec<u8>>> {
        let (nonce, ciphertext) = blob.split_at_checked(12)?;
        let nonce: [u8; 12] = nonce.try_into().ok()?;
        self.cipher().decrypt(&nonce.into(), ciphertext).ok().map(zeroize::Zeroizing::new)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    fn master() -> MasterKey {
        MasterKey::from_secret(SecretBytes::new([42; 32]))
    }

    #[test]
    fn state_encryption_is_deterministic_and_authentic() {
        let cluster = master().cluster_key(ClusterId(1), KeyEpoch(0));
        let key = cluster.contract_key(ContractId([1; 32])).state_key();
        let other = cluster.contract_key(ContractId([2; 32])).state_key();
        let blob = key.encrypt_state(b"balances");
        assert_eq!(blob, key.encrypt_state(b"balances"), "replicas hold the same bytes");
        assert_ne!(blob, key.encrypt_state(b"balancez"));
        assert_eq!(key.decrypt_state(&blob).unwrap().as_slice(), b"balances");
        assert!(other.decrypt_state(&blob).is_none(), "another contract's key");
        let mut altered = blob.clone();
        altered[20] ^= 1;
        assert!(key.decrypt_state(&altered).is_none());
        assert!(key.decrypt_state(&blob[..5]).is_none());
    }

    #[test]
    fn derivation_is_deterministic() {
        let a = master().cluster_key(ClusterId(1), KeyEpoch(0)).contract_key(ContractId([5; 32]));
        let b = master().cluster_key(ClusterId(1), KeyEpoch(0)).contract_key(ContractId([5; 32]));
        assert_eq!(a.agreement().public(), b.agreement().public());
        assert_eq!(a.signer().public(), b.signer().public());
        assert_eq!(a.state_key(), b.state_key());
    }

    /// Pins the scheme. The expected keys were computed independently from the module
    /// documentation (Python's hmac/hashlib HKDF and OpenSSL's X25519 and Ed25519), so this checks
    /// the implementation against the written design, and any change to labels, salt or version
    /// must be deliberate.
    #[test]
    fn derivation_known_answer() {
        let contract = master().cluster_key(ClusterId(1), KeyEpoch(0)).contract_key(ContractId([5; 32]));
        assert_eq!(
            hex::encode(contract.agreement().public()),
            "8d32970697abcc29f70665d303ff193bfe1d284f16adbbebf34527d2a9b4414d"
        );
        assert_eq!(
            hex::encode(contract.signer().public()),
            "7f1fa42ca883f692911fca2b3a4eb963709851702b38552ac3497f30ecdea9bf"
        );
    }

    #[test]
    fn every_input_changes_the_key() {
        let base = master().cluster_key(ClusterId(1), KeyEpoch(0));
        let mut seen = HashSet::new();
        for cluster_key in [
            base.clone(),
            master().cluster_key(ClusterId(2), KeyEpoch(0)),
            master().cluster_key(ClusterId(1), KeyEpoch(1)),
            MasterKey::from_secret(SecretBytes::new([43; 32])).cluster_key(ClusterId(1), KeyEpoch(0)),
        ] {
            assert!(seen.insert(*cluster_key.secret().expose()));
            for contract in [ContractId([5; 32]), ContractId([6; 32])] {
                let key = cluster_key.contract_key(contract);
                // Agreement, signing and state keys are all distinct from each other and from
                // every other contract's.
                assert!(seen.insert(key.agreement().public()));
                assert!(seen.insert(key.signer().public()));
                assert!(seen.insert(*key.state_key().secret().expose()));
            }
            assert!(seen.insert(cluster_key.agreement().public()));
            assert!(seen.insert(cluster_key.signer().public()));
            assert!(seen.insert(*cluster_key.snapshot_key().secret().expose()));
        }
        assert!(seen.insert(master().set_signer(KeyEpoch(0)).public()));
        assert!(seen.insert(master().set_signer(KeyEpoch(1)).public()));
    }

    #[test]
    fn gatekeeper_ephemerals_are_unique_per_message_and_shared_across_gatekeepers() {
        let (identity, key) = ([9; 32], [7; 32]);
        let cluster = |identity, key, cluster, epoch, duty| {
            master().cluster_delivery_ephemeral(identity, key, ClusterId(cluster), KeyEpoch(epoch), duty).public()
        };
        let first = cluster(&identity, &key, 1, 0, 0);
        assert_eq!(first, cluster(&identity, &key, 1, 0, 0), "every holder of the master key agrees");
        let others = [
            cluster(&identity, &key, 1, 0, 1),
            cluster(&identity, &key, 1, 1, 0),
            cluster(&identity, &key, 2, 0, 0),
            cluster(&[8; 32], &key, 1, 0, 0),
            cluster(&identity, &[6; 32], 1, 0, 0),
            master().master_delivery_ephemeral(&identity, &key, KeyEpoch(0), 0).public(),
        ];
        let mut all: Vec<_> = others.iter().chain([&first]).collect();
        all.sort_unstable();
        all.dedup();
        assert_eq!(all.len(), others.len() + 1);
    }

    #[test]
    fn delivered_cluster_key_derives_the_same_contract_keys() {
        let original = master().cluster_key(ClusterId(3), KeyEpoch(2));
        let delivered = ClusterKey::from_secret(original.secret().clone(), ClusterId(3), KeyEpoch(2));
        let contract = ContractId([1; 32]);
        assert_eq!(
            original.contract_key(contract).agreement().public(),
            delivered.contract_key(contract).agreement().public()
        );
        assert_eq!(delivered.contract_key(contract).epoch(), KeyEpoch(2));
    }

    #[test]
    fn debug_never_shows_secrets() {
        let key = master().cluster_key(ClusterId(1), KeyEpoch(0));
        let shown = format!("{:?} {:?} {:?}", master(), key, key.contract_key(ContractId([5; 32])).state_key());
        assert!(!shown.contains("42, 42") && shown.contains("redacted"), "{shown}");
    }
}
