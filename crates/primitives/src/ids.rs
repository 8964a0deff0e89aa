//! Identifiers: accounts, contracts, clusters, key epochs, heights and nonces.

use parity_scale_codec::{Decode, Encode, MaxEncodedLen};
use std::str::FromStr;

use crate::ss58::{Ss58Error, Ss58Prefix};

/// Height of a block; genesis is height 0.
pub type BlockHeight = u64;

/// A per-account transaction counter: the next transaction of an account must carry its nonce.
pub type Nonce = u64;

/// An account: the 32-byte sr25519 public key that signs its transactions.
///
/// Shown as an SS58 address with the generic Substrate prefix (42), so the same key gives the same
/// address as in Polkadot tooling.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Encode, Decode, MaxEncodedLen)]
pub struct AccountId(pub [u8; 32]);

impl AccountId {
    /// The public key bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// The SS58 address under `prefix`.
    pub fn to_ss58(&self, prefix: Ss58Prefix) -> String {
        crate::ss58::encode(prefix, &self.0)
    }
}

impl std::fmt::Display for AccountId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.to_ss58(Ss58Prefix::DEFAULT))
    }
}

impl std::fmt::Debug for AccountId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "AccountId({self})")
    }
}

/// Parses an SS58 address of any valid prefix, or `0x` followed by 64 hex digits.
impl FromStr for AccountId {
    type Err = Ss58Error;
    fn from_str(s: &str) -> Result<Self, Ss58Error> {
        if let Some(hex_digits) = s.strip_prefix("0x") {
            let mut bytes = [0u8; 32];
            hex::decode_to_slice(hex_digits, &mut bytes).map_err(|_| Ss58Error::BadHex)?;
            return Ok(Self(bytes));
        }
        crate::ss58::decode(s).map(|(_, key)| Self(key))
    }
}

macro_rules! id32 {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Encode, Decode, MaxEncodedLen)]
        pub struct $name(pub [u8; 32]);

        impl $name {
            /// The identifier's bytes.
            pub fn as_bytes(&self) -> &[u8; 32] {
                &self.0
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                write!(f, "0x{}", hex::encode(self.0))
            }
        }

        impl std::fmt::Debug for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                write!(f, "{}({self})", stringify!($name))
            }
        }
    };
}

id32!(
    /// A contract instance, derived deterministically by the chain when the contract is instantiated.
    ContractId
);

/// A cluster: the group of workers that replicate a set of contracts. Numbered by the chain.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Encode, Decode, MaxEncodedLen)]
pub struct ClusterId(pub u32);

impl std::fmt::Display for ClusterId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "cluster-{}", self.0)
    }
}

/// A key epoch: every key below the master key is versioned by the epoch it belongs to, and every
/// envelope and egress message names its epoch so retired keys can be refused.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Encode, Decode, MaxEncodedLen)]
pub struct KeyEpoch(pub u32);

impl std::fmt::Display for KeyEpoch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "epoch {}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn account_parses_ss58_and_hex() {
        let alice: AccountId = "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY".parse().unwrap();
        let hex: AccountId = "0xd43593c715fdd31c61141abd04a99fd6822c8558854ccde39a5684e7a56da27d".parse().unwrap();
        assert_eq!(alice, hex);
        assert_eq!(alice.to_string(), "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY");
        assert_eq!("0xd435".parse::<AccountId>(), Err(Ss58Error::BadHex));
    }
}
