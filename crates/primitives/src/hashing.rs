//! The project's content hash.

use blake2::{Blake2b, Blake2b512, Digest as _, digest::consts::U32};
use parity_scale_codec::{Decode, Encode, MaxEncodedLen};

/// A 32-byte SHA-256 digest: block hashes, transaction hashes, state and message roots.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Encode, Decode, MaxEncodedLen)]
pub struct Hash(pub [u8; 32]);

impl Hash {
    /// The all-zero hash, used only as the parent of the genesis block.
    pub const ZERO: Self = Self([0; 32]);

    /// The digest as bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl std::fmt::Debug for Hash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "0x{}", hex::encode(self.0))
    }
}

impl std::fmt::Display for Hash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "0x{}", hex::encode(self.0))
    }
}

/// A hash written as `0x` and 64 hex digits was not that.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a hash is 0x followed by 64 hex digits")]
pub struct HashParseError;

/// Parses what `Display` writes: `0x` and 64 hex digits.
impl std::str::FromStr for Hash {
    type Err = HashParseError;
    fn from_str(text: &str) -> Result<Self, HashParseError> {
        let digits = text.strip_prefix("0x").ok_or(HashParseError)?;
        let mut bytes = [0u8; 32];
        hex::decode_to_slice(digits, &mut bytes).map_err(|_| HashParseError)?;
        Ok(Self(bytes))
    }
}

/// SHA-256 of `bytes`.
pub fn sha256(bytes: &[u8]) -> Hash {
    Hash(sha2::Sha256::digest(bytes).into())
}

/// BLAKE2b-256, for Substrate compatibility only (derivation junctions).
pub fn blake2b_256(bytes: &[u8]) -> [u8; 32] {
    Blake2b::<U32>::digest(bytes).into()
}

/// BLAKE2b-512 over the concatenation of `parts`: SS58 checksums (Substrate compatibility) and the
/// 64-byte report data of a worker registration.
pub fn blake2b_512(parts: &[&[u8]]) -> [u8; 64] {
    let mut hasher = Blake2b512::new();
    for part in parts {
        hasher.update(part);
    }
    hasher.finalize().into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256_known_answer() {
        // FIPS 180-2 example "abc".
        assert_eq!(sha256(b"abc").to_string(), "0xba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    }

    #[test]
    fn parses_what_it_displays() {
        let hash = sha256(b"abc");
        assert_eq!(hash.to_string().parse::<Hash>(), Ok(hash));
        for bad in ["", "0x", "ba78", "0xzz", &hash.to_string()[2..], &format!("{hash}00")] {
            assert_eq!(bad.parse::<Hash>(), Err(HashParseError), "{bad}");
        }
    }

    #[test]
    fn blake2b_known_answers() {
        // RFC 7693 appendix A: BLAKE2b-512("abc").
        assert_eq!(
            hex::encode(blake2b_512(&[b"a", b"bc"])),
            "ba80a53f981c4d0d6a2797b69f12f6e94c212f14685ac4b74b12bb6fdbffa2d1\
             7d87c5392aab792dc252d5de4533cc9518d38aa8dbf1925ab92386edd4009923"
        );
        assert_eq!(hex::encode(blake2b_256(b"")), "0e5751c026e543b2e8ab2eb06099daa1d1e5df47778f7787faab45cdf12fe3a8");
    }
}
