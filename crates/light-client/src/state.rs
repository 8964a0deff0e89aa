//! Proofs of the public state against a certified header (feature `state-proofs`).
//!
//! A header's `state_root` commits to the whole public state after its block: Commonware's QMDB
//! (`current::ordered`, SHA-256) over store keys `SHA-256(state key)` and values framed as
//! `varint(len) || bytes`. A node answers a read with the value and an inclusion proof, or with an
//! exclusion proof when the key holds nothing; [`verify_state`] checks either against a header the
//! light client certified, so a client learns a worker's registration or a contract's code hash
//! without trusting the node that served it.
//!
//! The feature pulls Commonware's storage crate for the proof types. The worker runtime never
//! enables it: it learns state only through topics, and its tree must hold no database crate.

use bytes::BufMut;
use commonware_codec::{Buf, EncodeSize, Error as CodecError, Read, ReadExt as _, Write, varint::UInt};
use commonware_cryptography::{Hasher, Sha256, sha256::Digest};
use commonware_storage::{
    mmr,
    qmdb::{
        any::value::VariableEncoding,
        current::ordered::proof::constant::{ExclusionProof, KeyValueProof},
    },
};
use veil_primitives::{Hash, Header};

/// The largest state value stored: above the largest value the chain writes (a topic message with
/// the largest payload; uploaded contract code is smaller).
pub const MAX_STATE_VALUE: usize = veil_primitives::message::MAX_MESSAGE_PAYLOAD + 1024;
/// The QMDB bitmap chunk size the state uses (part of the proof format).
pub const BITMAP_CHUNK: usize = 32;
/// The most digests a proof may carry: far above any real proof's, bounds decoding.
const MAX_PROOF_DIGESTS: usize = 4096;

/// The Merkle structure family of the state.
pub type Family = mmr::Family;

/// A state value's bytes, in Commonware's codec with a strict length bound.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StateValue(pub Vec<u8>);

impl Write for StateValue {
    fn write(&self, buf: &mut impl BufMut) {
        UInt(self.0.len() as u64).write(buf);
        buf.put_slice(&self.0);
    }
}

impl EncodeSize for StateValue {
    fn encode_size(&self) -> usize {
        UInt(self.0.len() as u64).encode_size() + self.0.len()
    }
}

impl Read for StateValue {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, CodecError> {
        let len: u64 = UInt::read(buf)?.into();
        let len = usize::try_from(len).unwrap_or(usize::MAX);
        if len > MAX_STATE_VALUE {
            return Err(CodecError::Invalid("StateValue", "longer than the state value limit"));
        }
        if buf.remaining() < len {
            return Err(CodecError::EndOfBuffer);
        }
        let mut bytes = vec![0u8; len];
        buf.copy_to_slice(&mut bytes);
        Ok(Self(bytes))
    }
}

/// The store key of a chain state key: its SHA-256.
pub fn store_key(key: &[u8]) -> Digest {
    Sha256::hash(&[key])
}

/// A Merkle proof of one key against a state root, encoded with Commonware's codec.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StateProof {
    /// The key holds `value`.
    Inclusion {
        /// The value bytes.
        value: Vec<u8>,
        /// The encoded proof.
        proof: Vec<u8>,
    },
    /// The key holds nothing.
    Exclusion {
        /// The encoded proof.
        proof: Vec<u8>,
    },
}

/// Why a state proof was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum StateProofError {
    /// The proof does not prove the key's value (or absence) under the header's state root.
    #[error("the state proof for this key does not verify against the state root of block {height}")]
    Invalid {
        /// The header's height.
        height: u64,
    },
}

/// Checks `proof` for state key `key` against `root`.
pub fn verify_proof(root: &Hash, key: &[u8], proof: &StateProof) -> bool {
    use commonware_codec::Decode as _;
    let root = Digest::from(root.0);
    let store_key = store_key(key);
    match proof {
        StateProof::Inclusion { value, proof } => {
            let Ok(proof) = KeyValueProof::<Family, Digest, Digest, BITMAP_CHUNK>::decode_cfg(
                commonware_codec::Copying(proof),
                &(MAX_PROOF_DIGESTS, ()),
            ) else {
                return false;
            };
            proof.verify::<Sha256, VariableEncoding<StateValue>>(store_key, StateValue(value.clone()), &root)
        }
        StateProof::Exclusion { proof } => {
            let Ok(proof) =
                ExclusionProof::<Family, Digest, VariableEncoding<StateValue>, Digest, BITMAP_CHUNK>::decode_cfg(
                    commonware_codec::Copying(proof),
                    &(MAX_PROOF_DIGESTS, ((), ()), ()),
                )
            else {
                return false;
            };
            proof.verify::<Sha256>(&store_key, &root)
        }
    }
}

/// Checks `proof` for state key `key` against `header` (which the caller has certified with
/// [`crate::LightClient::verify_header`]) and returns the proven value: `Some` for an inclusion
/// proof, `None` for a proof that the key holds nothing.
pub fn verify_state(header: &Header, key: &[u8], proof: &StateProof) -> Result<Option<Vec<u8>>, StateProofError> {
    if !verify_proof(&header.state_root, key, proof) {
        return Err(StateProofError::Invalid { height: header.height });
    }
    Ok(match proof {
        StateProof::Inclusion { value, .. } => Some(value.clone()),
        StateProof::Exclusion { .. } => None,
    })
}
