//! Names for the Commonware types Veil uses, so the rest of the crate reads in Veil's words.

use commonware_consensus::simplex::{scheme::bls12381_threshold::vrf, types};
use commonware_cryptography::{
    bls12381::primitives::variant::{MinSig, Variant},
    ed25519, sha256,
};

/// A validator's peer identity.
pub type PublicKey = ed25519::PublicKey;
/// A validator's peer identity key.
pub type PrivateKey = ed25519::PrivateKey;
/// The digest consensus certifies: a block's header hash.
pub type Digest = sha256::Digest;
/// The BLS12-381 variant: signatures in G1 (48 bytes), the network key in G2 (96 bytes).
pub type Bls = MinSig;
/// The certificate scheme: threshold BLS with a seed, so each certificate carries two signatures:
/// the vote and the round's seed (see [`crate::seeds`]).
pub type Scheme = vrf::Scheme<PublicKey, Bls>;
/// The network's public key: the only thing a light client pins.
pub type NetworkKey = <Bls as Variant>::Public;
/// A finalization certificate.
pub type Finalization = types::Finalization<Scheme, Digest>;
/// The consensus context of a proposal (round, leader, parent).
pub type Context = types::Context<Digest, PublicKey>;
