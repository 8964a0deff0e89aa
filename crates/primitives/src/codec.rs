//! Strict SCALE decoding and length-bounded collections.
//!
//! SCALE itself is canonical for fixed-size values, booleans, options and enums, and
//! `parity-scale-codec` rejects non-minimal compact integers. What it does not do on its own is
//! refuse trailing bytes or bound the length of a collection before allocating it; [`decode_strict`]
//! and [`BoundedVec`] add exactly that.

use parity_scale_codec::{Compact, Decode, DecodeAll, Encode, EncodeLike, Input, MaxEncodedLen, Output};
use std::ops::Deref;

/// Why bytes from outside could not be decoded into a value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The input is longer than any valid encoding of the type may be.
    #[error("{what}: input is {len} bytes, more than the limit of {limit}")]
    TooLong {
        /// The type that was being decoded.
        what: &'static str,
        /// Length of the input.
        len: usize,
        /// Largest accepted input.
        limit: usize,
    },
    /// The input is truncated, malformed, or followed by trailing bytes.
    #[error("{what}: {reason}")]
    Malformed {
        /// The type that was being decoded.
        what: &'static str,
        /// What the codec found wrong.
        reason: String,
    },
}

/// Decodes `bytes` as a `T`, consuming all of them.
///
/// ```
/// use parity_scale_codec::Encode;
/// use veil_primitives::{AccountId, AccountsCall, Balance, Call, DecodeError, decode_strict};
///
/// let call = Call::Accounts(AccountsCall::Transfer { to: AccountId([7; 32]), amount: Balance::ONE });
/// let mut bytes = call.encode();
/// assert_eq!(decode_strict::<Call>(&bytes), Ok(call));
///
/// bytes.push(0); // one trailing byte
/// assert!(matches!(decode_strict::<Call>(&bytes), Err(DecodeError::TooLong { .. } | DecodeError::Malformed { .. })));
/// ```
///
/// Fails with [`DecodeError::TooLong`] when the input exceeds `T::max_encoded_len()` (checked before
/// any decoding work), and with [`DecodeError::Malformed`] when it is truncated, malformed, or has
/// bytes left over.
pub fn decode_strict<T: Decode + MaxEncodedLen>(bytes: &[u8]) -> Result<T, DecodeError> {
    let what = short_type_name::<T>();
    let limit = T::max_encoded_len();
    if bytes.len() > limit {
        return Err(DecodeError::TooLong { what, len: bytes.len(), limit });
    }
    T::decode_all(&mut &bytes[..]).map_err(|error| DecodeError::Malformed { what, reason: error.to_string() })
}

fn short_type_name<T>() -> &'static str {
    let full = std::any::type_name::<T>();
    let base = full.split('<').next().unwrap_or(full);
    base.rsplit("::").next().unwrap_or(base)
}

/// A `Vec<T>` whose length never exceeds `N`: encoding is identical to `Vec<T>`, and decoding refuses
/// a declared length above `N` before allocating anything.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct BoundedVec<T, const N: usize>(Vec<T>);

impl<T, const N: usize> Default for BoundedVec<T, N> {
    fn default() -> Self {
        Self::new()
    }
}

/// Raw bytes of at most `N` bytes.
pub type BoundedBytes<const N: usize> = BoundedVec<u8, N>;

/// A vector was longer than its bound.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{len} items exceed the bound of {bound}")]
pub struct BoundExceeded {
    /// Number of items offered.
    pub len: usize,
    /// The bound.
    pub bound: usize,
}

impl<T, const N: usize> BoundedVec<T, N> {
    /// The largest number of items this vector can hold.
    pub const BOUND: usize = N;

    /// An empty vector.
    pub const fn new() -> Self {
        Self(Vec::new())
    }

    /// Wraps `items`, or says by how much they exceed the bound.
    pub fn try_from_vec(items: Vec<T>) -> Result<Self, BoundExceeded> {
        if items.len() > N {
            return Err(BoundExceeded { len: items.len(), bound: N });
        }
        Ok(Self(items))
    }

    /// Appends `item`, or hands it back when the vector is full.
    pub fn try_push(&mut self, item: T) -> Result<(), T> {
        if self.0.len() >= N {
            return Err(item);
        }
        self.0.push(item);
        Ok(())
    }

    /// Keeps only the items `keep` accepts (never grows the vector).
    pub fn retain(&mut self, keep: impl FnMut(&T) -> bool) {
        self.0.retain(keep);
    }

    /// The items, by value.
    pub fn into_inner(self) -> Vec<T> {
        self.0
    }
}

impl<T, const N: usize> TryFrom<Vec<T>> for BoundedVec<T, N> {
    type Error = BoundExceeded;
    fn try_from(items: Vec<T>) -> Result<Self, BoundExceeded> {
        Self::try_from_vec(items)
    }
}

impl<const N: usize> TryFrom<&[u8]> for BoundedVec<u8, N> {
    type Error = BoundExceeded;
    fn try_from(bytes: &[u8]) -> Result<Self, BoundExceeded> {
        Self::try_from_vec(bytes.to_vec())
    }
}

impl<T, const N: usize> Deref for BoundedVec<T, N> {
    type Target = [T];
    fn deref(&self) -> &[T] {
        &self.0
    }
}

impl<T, const N: usize> AsRef<[T]> for BoundedVec<T, N> {
    fn as_ref(&self) -> &[T] {
        &self.0
    }
}

impl<T: std::fmt::Debug, const N: usize> std::fmt::Debug for BoundedVec<T, N> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl<T: Encode, const N: usize> Encode for BoundedVec<T, N> {
    fn size_hint(&self) -> usize {
        self.0.size_hint()
    }
    fn encode_to<O: Output + ?Sized>(&self, dest: &mut O) {
        self.0.encode_to(dest)
    }
}

impl<T: Encode, const N: usize> EncodeLike for BoundedVec<T, N> {}

/// A sequence in human-readable forms (configuration files, JSON); more than `N` items is an
/// error that names the bound.
#[cfg(feature = "serde")]
impl<T: serde::Serialize, const N: usize> serde::Serialize for BoundedVec<T, N> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(serializer)
    }
}

#[cfg(feature = "serde")]
impl<'de, T: serde::Deserialize<'de>, const N: usize> serde::Deserialize<'de> for BoundedVec<T, N> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Self::try_from_vec(Vec::deserialize(deserializer)?).map_err(serde::de::Error::custom)
    }
}

impl<T: Decode, const N: usize> Decode for BoundedVec<T, N> {
    fn decode<I: Input>(input: &mut I) -> Result<Self, parity_scale_codec::Error> {
        let len = Compact::<u32>::decode(input)?.0 as usize;
        if len > N {
            return Err("declared length exceeds the bound".into());
        }
        parity_scale_codec::decode_vec_with_len(input, len).map(Self)
    }
}

/// Length of the SCALE compact prefix of `n`: one to five bytes.
pub const fn compact_len_size(n: usize) -> usize {
    if n < 1 << 6 {
        1
    } else if n < 1 << 14 {
        2
    } else if n < 1 << 30 {
        4
    } else {
        5
    }
}

impl<T: MaxEncodedLen, const N: usize> MaxEncodedLen for BoundedVec<T, N> {
    fn max_encoded_len() -> usize {
        compact_len_size(N).saturating_add(N.saturating_mul(T::max_encoded_len()))
    }
}

/// Property checks shared by every wire type's tests.
#[cfg(any(test, feature = "test-support"))]
pub mod strict_check {
    use super::*;

    /// Checks the strict-decoding contract on one value: it round-trips; a trailing byte, a
    /// truncation by `cut` bytes, and an input one byte over the size limit are refused; and a byte
    /// changed at `flip_at` either fails to decode or decodes to a value that re-encodes to exactly
    /// the changed bytes (accepted encodings are canonical).
    pub fn check<T>(value: &T, extra: u8, cut: usize, flip_at: usize, flip: u8) -> Result<(), String>
    where
        T: Encode + Decode + MaxEncodedLen + PartialEq + std::fmt::Debug,
    {
        let bytes = value.encode();
        match decode_strict::<T>(&bytes) {
            Ok(decoded) if &decoded == value => {}
            other => return Err(format!("round trip failed: {other:?}")),
        }
        let mut trailing = bytes.clone();
        trailing.push(extra);
        if decode_strict::<T>(&trailing).is_ok() {
            return Err("a trailing byte was accepted".into());
        }
        let cut = cut.clamp(1, bytes.len());
        if decode_strict::<T>(&bytes[..bytes.len() - cut]).is_ok() {
            return Err(format!("a truncation by {cut} bytes was accepted"));
        }
        let over_limit = vec![0u8; T::max_encoded_len() + 1];
        if !matches!(decode_strict::<T>(&over_limit), Err(DecodeError::TooLong { .. })) {
            return Err("an input over the size limit was not refused as too long".into());
        }
        let mut mutated = bytes;
        let at = flip_at % mutated.len();
        mutated[at] ^= flip.max(1);
        if let Ok(decoded) = decode_strict::<T>(&mutated)
            && decoded.encode() != mutated
        {
            return Err(format!("non-canonical encoding accepted after changing byte {at}"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type Small = BoundedVec<u8, 4>;

    #[test]
    fn bounded_vec_encodes_like_vec() {
        let bounded = Small::try_from(&b"abc"[..]).unwrap();
        assert_eq!(bounded.encode(), b"abc".to_vec().encode());
    }

    #[test]
    fn bounded_vec_refuses_declared_length_over_bound() {
        let encoded = vec![1u8, 2, 3, 4, 5].encode();
        let error = decode_strict::<Small>(&encoded).unwrap_err();
        // Five items are rejected before looking at the items: the input is within the size
        // limit only because the limit is computed from the bound.
        assert!(matches!(error, DecodeError::TooLong { .. } | DecodeError::Malformed { .. }));
        let huge_prefix = Compact(u32::MAX).encode();
        assert!(decode_strict::<Small>(&huge_prefix).is_err());
    }

    #[test]
    fn decode_strict_refuses_trailing_and_truncated() {
        let mut encoded = Small::try_from(&b"ab"[..]).unwrap().encode();
        assert!(decode_strict::<Small>(&encoded).is_ok());
        encoded.push(0);
        assert!(matches!(decode_strict::<Small>(&encoded), Err(DecodeError::Malformed { .. })));
        assert!(decode_strict::<Small>(&encoded[..2]).is_err());
    }

    #[test]
    fn try_push_stops_at_bound() {
        let mut v = Small::new();
        for i in 0..4 {
            v.try_push(i).unwrap();
        }
        assert_eq!(v.try_push(9), Err(9));
        assert!(Small::try_from_vec(vec![0; 5]).is_err());
    }

    #[test]
    fn error_names_the_type() {
        let error = decode_strict::<Small>(&[9]).unwrap_err();
        assert!(error.to_string().starts_with("BoundedVec"), "{error}");
    }
}
