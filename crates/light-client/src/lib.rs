//! The light client: how a party that trusts no host follows Veil's chain.
//!
//! It pins two values from genesis, the network's 96-byte BLS12-381 key and the consensus
//! namespace, and nothing else: no validator set to track, because the network key stays the same
//! whatever the validators (threshold shares are reshared, the key is kept).
//!
//! A **finalization certificate** is the encoded proposal that consensus finalized, followed by two
//! 48-byte threshold signatures:
//!
//! ```text
//! varint(epoch) || varint(view) || varint(parent view) || block hash (32) || vote (48, G1) || seed (48, G1)
//! ```
//!
//! The vote is a BLS (min-sig, proof-of-possession ciphersuite) signature by the network key over
//! `varint(len(ns)) || ns || proposal`, with `ns = namespace || "_FINALIZE"`. The block hash is the
//! SHA-256 of the block's header, so once a certificate verifies, a header is the certified one
//! exactly when it hashes to the certified hash; older headers follow by their `parent` hashes.
//!
//! The **seed** is the round's randomness: the network key's signature over the round alone,
//! `varint(epoch) || varint(view)`, under `namespace || "_SEED"`. A threshold signature is unique,
//! so nobody chooses it, and nobody knows it before a quorum signed the round. Each header carries
//! its parent round's seed ([`veil_primitives::RoundSeed`]); [`LightClient::verify_header`] checks
//! it against the network key and against the certificate's parent view, so a header whose seed
//! was made up or taken from another round is refused even before its hash is compared.
//!
//! A runtime syncs a **topic** by checking, against the certified header, that the messages it
//! receives are exactly the next ones of that topic's append-only log ([`LightClient::verify_topic`];
//! see `veil_primitives::log` and `veil_primitives::topics`): nothing added, changed, reordered or
//! left out, at a cost proportional to its own messages.
//!
//! A client reads the public state with proofs against a certified header ([`state`], feature
//! `state-proofs`): a worker's registration, a contract's code hash, an account's balance.
//!
//! This crate depends on Commonware's cryptography and codec only, never on its consensus crate
//! (which pulls networking, storage and a runtime): it re-encodes the proposal itself, and a test
//! checks the layout against consensus's own certificates. The `state-proofs` feature adds
//! Commonware's storage crate for the proof types; the worker runtime never enables it.

#[cfg(feature = "state-proofs")]
pub mod state;

use bytes::Buf as _;
use commonware_codec::{Copying, Encode as _, ReadExt as _, varint::UInt};
use commonware_cryptography::bls12381::primitives::{
    ops,
    variant::{MinSig, Variant},
};
use veil_primitives::{
    Hash, Header, RoundSeed, Topic,
    log::LogPeaks,
    topics::{TopicError, TopicProof, verify_topic_range},
};

/// Suffix of the consensus namespace under which validators sign finalizations.
const FINALIZE_SUFFIX: &[u8] = b"_FINALIZE";
/// Suffix of the consensus namespace under which validators sign round seeds.
const SEED_SUFFIX: &[u8] = b"_SEED";
/// Length of a block hash in a certificate.
const DIGEST_LEN: usize = 32;
/// Length of a min-sig BLS signature (a compressed G1 point).
const SIGNATURE_LEN: usize = 48;

/// Why a certificate or header was refused. Each variant says why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LightClientError {
    /// The pinned network key is not a valid G2 point.
    #[error("the network key is not a valid BLS12-381 G2 point")]
    BadNetworkKey,
    /// The certificate's bytes are not a certificate.
    #[error("malformed certificate: {0}")]
    Malformed(&'static str),
    /// The signature is not a valid G1 point.
    #[error("malformed certificate: the signature is not a valid BLS12-381 G1 point")]
    BadSignaturePoint,
    /// The signature does not verify under the network key and namespace.
    #[error("forged or foreign certificate: the signature does not verify under this network's key and namespace")]
    BadSignature,
    /// A topic's messages do not check out against the certified header.
    #[error("topic messages: {0}")]
    Topic(#[from] TopicError),
    /// A round seed does not verify under the network key and namespace.
    #[error("forged seed: the seed of view {view} does not verify under this network's key and namespace")]
    BadSeed {
        /// The view the seed claims to be of.
        view: u64,
    },
    /// A header carries the seed of another round than its parent's.
    #[error("the header carries the seed of view {found}, but its parent was finalized in view {expected}")]
    SeedOfAnotherRound {
        /// The parent's view, from the certificate.
        expected: u64,
        /// The view the header's seed is of.
        found: u64,
    },
    /// The header is not the certified block.
    #[error("header mismatch: the certificate finalizes block {certified}, this header hashes to {header}")]
    HeaderMismatch {
        /// The certified block hash.
        certified: Hash,
        /// The header's hash.
        header: Hash,
    },
}

/// What a verified certificate says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Finalized {
    /// The consensus epoch.
    pub epoch: u64,
    /// The view in which the block was finalized.
    pub view: u64,
    /// The view of its parent.
    pub parent_view: u64,
    /// The finalized block's hash (its header's SHA-256).
    pub block: Hash,
    /// The seed of the round that finalized it.
    pub seed: RoundSeed,
}

/// A verifier pinned to one network.
#[derive(Clone, Debug)]
pub struct LightClient {
    network_key: <MinSig as Variant>::Public,
    finalize_namespace: Vec<u8>,
    seed_namespace: Vec<u8>,
}

impl LightClient {
    /// A verifier for the network whose genesis names `network_key` and `namespace`.
    pub fn new(network_key: &[u8; 96], namespace: &str) -> Result<Self, LightClientError> {
        let mut input = Copying(network_key.as_slice());
        let network_key = <MinSig as Variant>::Public::read(&mut input).map_err(|_| LightClientError::BadNetworkKey)?;
        let suffixed = |suffix: &[u8]| [namespace.as_bytes(), suffix].concat();
        Ok(Self { network_key, finalize_namespace: suffixed(FINALIZE_SUFFIX), seed_namespace: suffixed(SEED_SUFFIX) })
    }

    /// Verifies that `seed` is the network's seed of its round.
    pub fn verify_seed(&self, seed: &RoundSeed) -> Result<(), LightClientError> {
        let bad = LightClientError::BadSeed { view: seed.view };
        let signature =
            <MinSig as Variant>::Signature::read(&mut Copying(seed.signature.as_slice())).map_err(|_| bad.clone())?;
        let round = [UInt(seed.epoch).encode(), UInt(seed.view).encode()].concat();
        ops::verify_message::<MinSig>(&self.network_key, &self.seed_namespace, &round, &signature).map_err(|_| bad)
    }

    /// Verifies a finalization certificate (its vote, then its seed) and returns what it
    /// finalizes. The whole input must be one certificate: trailing bytes are refused.
    pub fn verify_certificate(&self, certificate: &[u8]) -> Result<Finalized, LightClientError> {
        let mut input = Copying(certificate);
        let epoch: u64 = UInt::read(&mut input).map_err(|_| LightClientError::Malformed("epoch"))?.into();
        let view: u64 = UInt::read(&mut input).map_err(|_| LightClientError::Malformed("view"))?.into();
        let parent_view: u64 = UInt::read(&mut input).map_err(|_| LightClientError::Malformed("parent view"))?.into();
        if input.remaining() != DIGEST_LEN + 2 * SIGNATURE_LEN {
            return Err(LightClientError::Malformed(
                "expected a 32-byte block hash and two 48-byte signatures after the views",
            ));
        }
        let digest_at = certificate.len() - DIGEST_LEN - 2 * SIGNATURE_LEN;
        let (proposal, signatures) = certificate.split_at(digest_at + DIGEST_LEN);
        let (vote, seed) = signatures.split_at(SIGNATURE_LEN);
        let vote = <MinSig as Variant>::Signature::read(&mut Copying(vote))
            .map_err(|_| LightClientError::BadSignaturePoint)?;
        ops::verify_message::<MinSig>(&self.network_key, &self.finalize_namespace, proposal, &vote)
            .map_err(|_| LightClientError::BadSignature)?;
        let mut signature = [0u8; SIGNATURE_LEN];
        signature.copy_from_slice(seed);
        let seed = RoundSeed { epoch, view, signature };
        self.verify_seed(&seed)?;
        let mut block = [0u8; DIGEST_LEN];
        block.copy_from_slice(&certificate[digest_at..digest_at + DIGEST_LEN]);
        Ok(Finalized { epoch, view, parent_view, block: Hash(block), seed })
    }

    /// Verifies a certificate and that `header` is the block it finalizes: its hash, and the seed
    /// it carries (its parent round's, checked against the network key; none only on the first
    /// block, whose parent is genesis).
    pub fn verify_header(&self, certificate: &[u8], header: &Header) -> Result<Finalized, LightClientError> {
        let finalized = self.verify_certificate(certificate)?;
        if let Some(seed) = &header.seed {
            if seed.view != finalized.parent_view {
                return Err(LightClientError::SeedOfAnotherRound { expected: finalized.parent_view, found: seed.view });
            }
            self.verify_seed(seed)?;
        }
        let hash = header.hash();
        if hash != finalized.block {
            return Err(LightClientError::HeaderMismatch { certified: finalized.block, header: hash });
        }
        Ok(finalized)
    }

    /// Sync of one topic: verifies the certificate, that `header` is the certified block, and that
    /// `messages` are exactly the next messages of `topic` in that header after the ones the reader
    /// has (all of them up to the certified length, or a page whose proof's `rest` stands for the
    /// others), given the topic log's peaks the reader kept (`LogPeaks::default()` at the start;
    /// their length is where the messages must begin). Returns the peaks to keep for the next sync:
    /// after the last message received.
    pub fn verify_topic(
        &self,
        certificate: &[u8],
        header: &Header,
        topic: &Topic,
        kept: &LogPeaks,
        messages: &[(u64, Hash)],
        proof: &TopicProof,
    ) -> Result<LogPeaks, LightClientError> {
        self.verify_header(certificate, header)?;
        Ok(verify_topic_range(&header.messages.root, topic, kept.length, kept, messages, proof)?)
    }
}

#[cfg(test)]
mod tests;
