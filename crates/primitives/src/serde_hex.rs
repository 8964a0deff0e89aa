//! Human-readable serde forms: `0x`-hex for fixed byte arrays, SS58 for accounts, token strings for
//! balances. Binary encodings stay SCALE; these are for configuration files and JSON APIs.

use serde::{Deserialize, Deserializer, Serializer, de::Error as _};

use crate::{AccountId, Balance, Hash};

/// Serializes a fixed byte array as `0x`-prefixed lowercase hex; use with `#[serde(with = "...")]`.
pub fn serialize<S: Serializer, const N: usize>(bytes: &[u8; N], serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&format!("0x{}", hex::encode(bytes)))
}

/// Deserializes `0x`-prefixed hex of exactly `N` bytes, naming the expected length on error.
pub fn deserialize<'de, D: Deserializer<'de>, const N: usize>(deserializer: D) -> Result<[u8; N], D::Error> {
    let text = String::deserialize(deserializer)?;
    let digits = text.strip_prefix("0x").ok_or_else(|| D::Error::custom("expected 0x-prefixed hex"))?;
    let mut bytes = [0u8; N];
    hex::decode_to_slice(digits, &mut bytes)
        .map_err(|_| D::Error::custom(format!("expected 0x followed by {} hex digits ({N} bytes)", 2 * N)))?;
    Ok(bytes)
}

impl serde::Serialize for AccountId {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for AccountId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(|error| D::Error::custom(format!("account {text:?}: {error}")))
    }
}

impl serde::Serialize for Balance {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let shown = self.to_string();
        serializer.serialize_str(shown.strip_suffix(&format!(" {}", Balance::SYMBOL)).unwrap_or(&shown))
    }
}

impl<'de> Deserialize<'de> for Balance {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(D::Error::custom)
    }
}

impl serde::Serialize for Hash {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serialize(&self.0, serializer)
    }
}

impl<'de> Deserialize<'de> for Hash {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserialize(deserializer).map(Hash)
    }
}
