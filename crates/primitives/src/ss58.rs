//! SS58 addresses, as Substrate and Polkadot wallets write them.
//!
//! Layout: `base58(prefix || payload || checksum)`, where the checksum is the first two bytes of
//! BLAKE2b-512(`"SS58PRE" || prefix || payload`) for 32-byte payloads. Prefixes 0..=63 take one byte;
//! 64..=16383 take two, with the identifier's bits spread as Substrate spreads them.

use crate::hashing::blake2b_512;

/// The network identifier in an SS58 address.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct Ss58Prefix(u16);

impl Ss58Prefix {
    /// The generic Substrate prefix (42): Veil's default, so keys show the addresses wallets show.
    pub const DEFAULT: Self = Self(42);
    /// The largest identifier SS58 can carry.
    pub const MAX: u16 = 16_383;

    /// Validates an identifier: it must fit in 14 bits and not be one of the reserved 46 and 47.
    pub fn new(id: u16) -> Result<Self, Ss58Error> {
        match id {
            46 | 47 => Err(Ss58Error::ReservedPrefix(id)),
            id if id > Self::MAX => Err(Ss58Error::PrefixOutOfRange(id)),
            id => Ok(Self(id)),
        }
    }

    /// The numeric identifier.
    pub fn id(self) -> u16 {
        self.0
    }

    /// The registered network name for the few prefixes the CLI names, if any.
    pub fn network_name(self) -> Option<&'static str> {
        NAMED.iter().find(|(_, id)| *id == self.0).map(|(name, _)| *name)
    }

    /// Looks up a prefix by network name (`substrate`, `polkadot`, `kusama`) or by number.
    pub fn from_name_or_id(s: &str) -> Result<Self, Ss58Error> {
        if let Some((_, id)) = NAMED.iter().find(|(name, _)| *name == s) {
            return Self::new(*id);
        }
        s.parse::<u16>().map_err(|_| Ss58Error::UnknownNetwork(s.to_owned())).and_then(Self::new)
    }

    fn encode_into(self, out: &mut Vec<u8>) {
        let id = self.0;
        if id < 64 {
            out.push(id as u8);
        } else {
            out.push(((id & 0b0000_0000_1111_1100) >> 2) as u8 | 0b0100_0000);
            out.push(((id >> 8) as u8) | (((id & 0b11) as u8) << 6));
        }
    }
}

const NAMED: &[(&str, u16)] = &[("polkadot", 0), ("kusama", 2), ("substrate", 42)];

/// Why a string is not a valid SS58 address (or hex account).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Ss58Error {
    /// A character outside the base58 alphabet.
    #[error("not base58: the address contains a character outside the base58 alphabet")]
    BadBase58,
    /// The decoded length does not match a prefix plus a 32-byte key plus a checksum.
    #[error(
        "wrong length: an address holds a 1- or 2-byte prefix, 32 key bytes and a 2-byte checksum, this one decodes to {0} bytes"
    )]
    BadLength(usize),
    /// The checksum does not match: usually a typo.
    #[error("bad checksum: the address is mistyped or corrupted")]
    BadChecksum,
    /// Prefixes 46 and 47 are reserved by SS58.
    #[error("prefix {0} is reserved by SS58")]
    ReservedPrefix(u16),
    /// An identifier larger than 14 bits, or a first byte above 127.
    #[error("prefix {0} is out of the SS58 range 0..=16383")]
    PrefixOutOfRange(u16),
    /// A network name the CLI does not know.
    #[error("unknown network {0:?}: use a number 0..=16383 or one of polkadot, kusama, substrate")]
    UnknownNetwork(String),
    /// `0x` followed by something other than 64 hex digits.
    #[error("bad hex account: expected 0x followed by 64 hex digits")]
    BadHex,
}

/// Encodes a 32-byte public key as an SS58 address.
pub fn encode(prefix: Ss58Prefix, key: &[u8; 32]) -> String {
    let mut bytes = Vec::with_capacity(36);
    prefix.encode_into(&mut bytes);
    bytes.extend_from_slice(key);
    let checksum = blake2b_512(&[b"SS58PRE", &bytes]);
    bytes.extend_from_slice(&checksum[..2]);
    bs58::encode(bytes).into_string()
}

/// Decodes an SS58 address into its prefix and 32-byte public key, checking length and checksum.
pub fn decode(address: &str) -> Result<(Ss58Prefix, [u8; 32]), Ss58Error> {
    let bytes = bs58::decode(address).into_vec().map_err(|_| Ss58Error::BadBase58)?;
    // A 32-byte key with a 2-byte checksum and a 1- or 2-byte prefix: nothing else is an address.
    if !(35..=36).contains(&bytes.len()) {
        return Err(Ss58Error::BadLength(bytes.len()));
    }
    let (prefix, prefix_len) = match bytes[0] {
        first @ 0..=63 => (u16::from(first), 1),
        first @ 64..=127 => {
            let second = bytes[1];
            let lower = (first << 2) | (second >> 6);
            let upper = second & 0b0011_1111;
            (u16::from(lower) | (u16::from(upper) << 8), 2)
        }
        first => return Err(Ss58Error::PrefixOutOfRange(u16::from(first))),
    };
    if bytes.len() != prefix_len + 32 + 2 {
        return Err(Ss58Error::BadLength(bytes.len()));
    }
    let prefix = Ss58Prefix::new(prefix)?;
    let (body, checksum) = bytes.split_at(prefix_len + 32);
    if blake2b_512(&[b"SS58PRE", body])[..2] != *checksum {
        return Err(Ss58Error::BadChecksum);
    }
    let mut key = [0u8; 32];
    key.copy_from_slice(&body[prefix_len..]);
    Ok((prefix, key))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const ALICE: [u8; 32] = [
        0xd4, 0x35, 0x93, 0xc7, 0x15, 0xfd, 0xd3, 0x1c, 0x61, 0x14, 0x1a, 0xbd, 0x04, 0xa9, 0x9f, 0xd6, 0x82, 0x2c,
        0x85, 0x58, 0x85, 0x4c, 0xcd, 0xe3, 0x9a, 0x56, 0x84, 0xe7, 0xa5, 0x6d, 0xa2, 0x7d,
    ];

    #[test]
    fn alice_addresses_on_known_networks() {
        assert_eq!(encode(Ss58Prefix::DEFAULT, &ALICE), "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY");
        // Polkadot (0) and Kusama (2), as every Polkadot wallet shows Alice.
        assert_eq!(encode(Ss58Prefix::new(0).unwrap(), &ALICE), "15oF4uVJwmo4TdGW7VfQxNLavjCXviqxT9S1MgbjMNHr6Sp5");
        assert_eq!(encode(Ss58Prefix::new(2).unwrap(), &ALICE), "HNZata7iMYWmk5RvZRTiAsSDhV8366zq2YGb3tLH5Upf74F");
    }

    #[test]
    fn bad_checksum_is_named() {
        let mut address = encode(Ss58Prefix::DEFAULT, &ALICE).into_bytes();
        let last = address.len() - 1;
        address[last] = if address[last] == b'Y' { b'Z' } else { b'Y' };
        let address = String::from_utf8(address).unwrap();
        assert_eq!(decode(&address), Err(Ss58Error::BadChecksum));
    }

    #[test]
    fn bad_base58_length_and_prefix_are_named() {
        assert_eq!(decode("0OIl"), Err(Ss58Error::BadBase58));
        assert!(matches!(decode("5Grwva"), Err(Ss58Error::BadLength(_))));
        // A first byte above 127 is not a valid SS58 prefix.
        let mut bytes = vec![200u8];
        bytes.extend_from_slice(&[0; 34]);
        assert_eq!(decode(&bs58::encode(bytes).into_string()), Err(Ss58Error::PrefixOutOfRange(200)));
        assert_eq!(Ss58Prefix::new(46), Err(Ss58Error::ReservedPrefix(46)));
        assert_eq!(Ss58Prefix::new(16_384), Err(Ss58Error::PrefixOutOfRange(16_384)));
        assert!(matches!(Ss58Prefix::from_name_or_id("mars"), Err(Ss58Error::UnknownNetwork(_))));
        assert_eq!(Ss58Prefix::from_name_or_id("kusama").unwrap().id(), 2);
    }

    #[test]
    fn reserved_prefix_in_address_is_refused() {
        let address = {
            let mut bytes = vec![46u8];
            bytes.extend_from_slice(&ALICE);
            let checksum = blake2b_512(&[b"SS58PRE", &bytes]);
            bytes.extend_from_slice(&checksum[..2]);
            bs58::encode(bytes).into_string()
        };
        assert_eq!(decode(&address), Err(Ss58Error::ReservedPrefix(46)));
    }

    proptest! {
        #[test]
        fn round_trips_every_prefix(id in 0u16..=Ss58Prefix::MAX, key in any::<[u8; 32]>()) {
            prop_assume!(id != 46 && id != 47);
            let prefix = Ss58Prefix::new(id).unwrap();
            let address = encode(prefix, &key);
            prop_assert_eq!(decode(&address), Ok((prefix, key)));
        }
    }

    #[test]
    fn every_single_character_substitution_is_refused() {
        // 48 positions x 57 other characters; a 16-bit checksum would let about 0.04 through by
        // chance, and this fixed input lets none through.
        let address = encode(Ss58Prefix::DEFAULT, &ALICE);
        let alphabet = b"123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";
        for position in 0..address.len() {
            for &replacement in alphabet {
                let mut changed = address.clone().into_bytes();
                if changed[position] == replacement {
                    continue;
                }
                changed[position] = replacement;
                let changed = String::from_utf8(changed).unwrap();
                assert!(decode(&changed).is_err(), "{changed} was accepted");
            }
        }
    }
}
