//! The trusted dealer: a network key and one threshold share per validator, made once at genesis.
//!
//! The validators' ed25519 identities, sorted, form the participant set; share `i` belongs to the
//! `i`-th identity. The threshold is the BFT quorum `n − ⌊(n − 1) / 3⌋` (1 of 1, 3 of 4). The
//! network key (96 bytes) goes into genesis and is all a light client pins; each validator keeps its
//! share secret (0600), and every validator holds the public polynomial that checks partial
//! signatures. Resharing to a new set keeps the network key; that comes with the DKG later.

use commonware_codec::{Decode as _, DecodeExt as _, Encode as _};
use commonware_consensus::simplex::scheme::bls12381_threshold::vrf;
use commonware_cryptography::{
    Signer as _,
    bls12381::{
        dkg::feldman_desmedt::deal as feldman_deal,
        primitives::{
            group::Share,
            sharing::{Mode, ModeVersion, Sharing},
        },
    },
};
use commonware_utils::{N3f1, ordered::Set};
use std::num::NonZeroU32;

use crate::alias::{Bls, NetworkKey, PrivateKey, PublicKey, Scheme};

/// Why dealing or loading key material failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DealerError {
    /// No validators, or a repeated identity.
    #[error("the validator set must be non-empty and without repeats ({0} given)")]
    Participants(usize),
    /// The dealer failed.
    #[error("dealing failed: {0}")]
    Deal(String),
    /// Bytes that are not the expected key material.
    #[error("invalid {0}")]
    Decode(&'static str),
    /// The share does not belong to this polynomial and identity.
    #[error("the share does not match the network polynomial for this validator")]
    ShareMismatch,
}

/// The output of the dealer.
pub struct Dealing {
    /// The public polynomial, encoded (every validator holds it).
    pub polynomial: Vec<u8>,
    /// The 96-byte network key.
    pub network_key: [u8; 96],
    /// Each validator's identity and encoded secret share, in participant order.
    pub shares: Vec<(PublicKey, Vec<u8>)>,
}

/// The participant set: the identities, sorted and de-duplicated as consensus orders them.
pub fn participants(identities: &[PublicKey]) -> Result<Set<PublicKey>, DealerError> {
    let set = Set::from_iter_dedup(identities.iter().cloned());
    if set.is_empty() || set.len() != identities.len() {
        return Err(DealerError::Participants(identities.len()));
    }
    Ok(set)
}

/// Deals a fresh network key and shares for `identities`.
pub fn deal(rng: &mut impl rand::CryptoRng, identities: &[PublicKey]) -> Result<Dealing, DealerError> {
    let set = participants(identities)?;
    let (output, shares) = feldman_deal::<Bls, _, N3f1>(rng, Mode::NonZeroCounter, set.clone())
        .map_err(|error| DealerError::Deal(format!("{error:?}")))?;
    let polynomial = output.public().clone();
    let shares = set
        .iter()
        .map(|identity| {
            let share = shares.get_value(identity).ok_or(DealerError::Deal("a participant has no share".into()))?;
            Ok((identity.clone(), share.encode().to_vec()))
        })
        .collect::<Result<_, DealerError>>()?;
    Ok(Dealing {
        network_key: network_key_bytes(polynomial.public()),
        polynomial: polynomial.encode().to_vec(),
        shares,
    })
}

/// The network key's 96 compressed bytes.
pub fn network_key_bytes(key: &NetworkKey) -> [u8; 96] {
    let mut bytes = [0u8; 96];
    bytes.copy_from_slice(&key.encode());
    bytes
}

/// Decodes a public polynomial for `n` validators.
pub fn decode_polynomial(bytes: &[u8], n: usize) -> Result<Sharing<Bls>, DealerError> {
    let n = NonZeroU32::new(u32::try_from(n).unwrap_or(0)).ok_or(DealerError::Participants(n))?;
    Sharing::<Bls>::decode_cfg(commonware_codec::Copying(bytes), &(n, ModeVersion::v0()))
        .map_err(|_| DealerError::Decode("polynomial"))
}

/// Decodes a secret share.
pub fn decode_share(bytes: &[u8]) -> Result<Share, DealerError> {
    Share::decode(commonware_codec::Copying(bytes)).map_err(|_| DealerError::Decode("share"))
}

/// Decodes an ed25519 identity key from its 32 secret bytes.
pub fn decode_identity(bytes: &[u8]) -> Result<PrivateKey, DealerError> {
    PrivateKey::decode(commonware_codec::Copying(bytes)).map_err(|_| DealerError::Decode("identity key"))
}

/// Decodes an ed25519 public identity.
pub fn decode_public(bytes: &[u8]) -> Result<PublicKey, DealerError> {
    PublicKey::decode(commonware_codec::Copying(bytes)).map_err(|_| DealerError::Decode("public identity"))
}

/// A fresh random identity key.
pub fn generate_identity(rng: &mut impl rand::CryptoRng) -> PrivateKey {
    <PrivateKey as commonware_math::algebra::Random>::random(rng)
}

/// The 32 secret bytes of an identity key, for its 0600 file.
pub fn identity_bytes(identity: &PrivateKey) -> Vec<u8> {
    identity.encode().to_vec()
}

/// The public half of an identity key.
pub fn public_key(identity: &PrivateKey) -> PublicKey {
    identity.public_key()
}

/// The 32 public bytes of an identity.
pub fn public_bytes(identity: &PrivateKey) -> [u8; 32] {
    let mut bytes = [0u8; 32];
    bytes.copy_from_slice(&identity.public_key().encode());
    bytes
}

/// The signing scheme of one validator: its share, checked against the polynomial.
pub fn signer(
    namespace: &[u8],
    identities: &[PublicKey],
    polynomial: Sharing<Bls>,
    share: Share,
) -> Result<Scheme, DealerError> {
    vrf::Scheme::signer(namespace, participants(identities)?, polynomial, share).ok_or(DealerError::ShareMismatch)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng as _;

    fn identities(n: u64) -> Vec<PublicKey> {
        (0..n).map(|seed| PrivateKey::from_seed(seed).public_key()).collect()
    }

    #[test]
    fn shares_round_trip_and_build_signers() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        for n in [1u64, 4] {
            let ids = identities(n);
            let dealing = deal(&mut rng, &ids).unwrap();
            assert_eq!(dealing.shares.len(), n as usize);
            for (identity, share) in &dealing.shares {
                let polynomial = decode_polynomial(&dealing.polynomial, ids.len()).unwrap();
                assert_eq!(network_key_bytes(polynomial.public()), dealing.network_key);
                assert!(signer(b"veil", &ids, polynomial, decode_share(share).unwrap()).is_ok(), "{identity}");
            }
        }
    }

    #[test]
    fn a_share_from_another_dealing_is_refused() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(2);
        let ids = identities(4);
        let ours = deal(&mut rng, &ids).unwrap();
        let theirs = deal(&mut rng, &ids).unwrap();
        let polynomial = decode_polynomial(&ours.polynomial, 4).unwrap();
        let foreign = decode_share(&theirs.shares[0].1).unwrap();
        assert_eq!(signer(b"veil", &ids, polynomial, foreign).err(), Some(DealerError::ShareMismatch));
        assert_eq!(deal(&mut rng, &[]).err(), Some(DealerError::Participants(0)));
        let repeated = vec![ids[0].clone(), ids[0].clone()];
        assert_eq!(deal(&mut rng, &repeated).err(), Some(DealerError::Participants(2)));
        assert_eq!(decode_share(&[1, 2, 3]).err(), Some(DealerError::Decode("share")));
    }
}
