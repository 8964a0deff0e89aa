//! Secret URIs as Substrate writes them: `PHRASE_OR_SEED//hard/soft///password`.
//!
//! The phrase part is a BIP39 mnemonic or `0x` and a 32-byte hex seed; when it is empty, the
//! well-known development phrase is used, so `//Alice` names the development account Alice. Each
//! `//x` is a hard derivation junction, each `/x` a soft one, and everything after the first `///` is
//! the password.

use parity_scale_codec::Encode;
use veil_primitives::hashing::blake2b_256;
use zeroize::Zeroizing;

/// The development phrase Substrate tooling uses for `//Alice`, `//Bob` and friends. Public.
pub const DEV_PHRASE: &str = "bottom drive obey lake curtain smoke basket hold race lonely fit walk";

/// One step of a derivation path, with its 32-byte chain code.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Junction {
    /// `//x`: the child secret cannot be computed from the parent public key.
    Hard([u8; 32]),
    /// `/x`: the child public key can be computed from the parent public key.
    Soft([u8; 32]),
}

impl Junction {
    /// A junction from its text, as Substrate computes it: text that parses as a `u64` is encoded as
    /// 8 little-endian bytes, other text as a SCALE string; encodings over 32 bytes are hashed with
    /// BLAKE2b-256, shorter ones are zero-padded.
    pub fn new(text: &str, hard: bool) -> Self {
        let encoded = match text.parse::<u64>() {
            Ok(number) => number.encode(),
            Err(_) => text.encode(),
        };
        let mut chain_code = [0u8; 32];
        if encoded.len() > 32 {
            chain_code = blake2b_256(&encoded);
        } else {
            chain_code[..encoded.len()].copy_from_slice(&encoded);
        }
        if hard { Self::Hard(chain_code) } else { Self::Soft(chain_code) }
    }
}

/// A parsed secret URI. The phrase and password are zeroized on drop.
pub struct SecretUri {
    /// The mnemonic or `0x` seed; the development phrase when the URI gave none.
    pub phrase: Zeroizing<String>,
    /// The derivation path, in order.
    pub path: Vec<Junction>,
    /// The password after `///`, if any.
    pub password: Option<Zeroizing<String>>,
}

impl std::fmt::Debug for SecretUri {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretUri(<redacted>)")
    }
}

/// Why a secret URI or public URI could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UriError {
    /// A character other than ASCII letters, digits and spaces in the phrase or address.
    #[error("the phrase may hold only letters, digits and spaces before the first '/'")]
    BadPhraseCharacter,
    /// `//` or `/` with nothing after it.
    #[error("empty derivation junction: every '/' or '//' must be followed by a name or number")]
    EmptyJunction,
}

/// Splits a URI into its phrase (or address), junctions and password.
pub fn parse(uri: &str) -> Result<SecretUri, UriError> {
    let (body, password) = match uri.find("///") {
        Some(at) => (&uri[..at], Some(Zeroizing::new(uri[at + 3..].to_owned()))),
        None => (uri, None),
    };
    let (phrase, path) = split_path(body)?;
    let phrase = if phrase.is_empty() { DEV_PHRASE } else { phrase };
    Ok(SecretUri { phrase: Zeroizing::new(phrase.to_owned()), path, password })
}

/// Splits `head/junction//junction...` into the head and its junctions, checking the head's
/// characters. Used for secret URIs and for public URIs (an address with soft junctions).
pub fn split_path(body: &str) -> Result<(&str, Vec<Junction>), UriError> {
    let (head, mut rest) = match body.find('/') {
        Some(at) => body.split_at(at),
        None => (body, ""),
    };
    if !head.bytes().all(|b| b.is_ascii_alphanumeric() || b == b' ') {
        return Err(UriError::BadPhraseCharacter);
    }
    let mut path = Vec::new();
    while let Some(after_slash) = rest.strip_prefix('/') {
        let (hard, text_start) = match after_slash.strip_prefix('/') {
            Some(after_double) => (true, after_double),
            None => (false, after_slash),
        };
        let end = text_start.find('/').unwrap_or(text_start.len());
        let text = &text_start[..end];
        if text.is_empty() {
            return Err(UriError::EmptyJunction);
        }
        path.push(Junction::new(text, hard));
        rest = &text_start[end..];
    }
    Ok((head, path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_phrase_path_and_password() {
        let uri = parse("//foo/bar//42/69///pass//word").unwrap();
        assert_eq!(uri.phrase.as_str(), DEV_PHRASE);
        assert_eq!(uri.path.len(), 4);
        assert!(matches!(uri.path[0], Junction::Hard(_)));
        assert!(matches!(uri.path[1], Junction::Soft(_)));
        assert_eq!(uri.password.as_deref().map(String::as_str), Some("pass//word"));
    }

    #[test]
    fn junction_chain_codes_follow_substrate() {
        // "Alice" is a SCALE string: compact length 5 (0x14) then the bytes.
        let Junction::Hard(code) = Junction::new("Alice", true) else { panic!() };
        assert_eq!(&code[..6], &[0x14, b'A', b'l', b'i', b'c', b'e']);
        assert!(code[6..].iter().all(|&b| b == 0));
        // Numbers are u64 little-endian, so "001" and "1" are the same junction.
        assert_eq!(Junction::new("001", false), Junction::new("1", false));
        let Junction::Soft(code) = Junction::new("1", false) else { panic!() };
        assert_eq!(&code[..8], &1u64.to_le_bytes());
        // 32 or more bytes of text are hashed.
        let long = "a".repeat(40);
        let Junction::Soft(code) = Junction::new(&long, false) else { panic!() };
        assert_eq!(code, blake2b_256(&long.encode()));
    }

    #[test]
    fn refuses_empty_junctions_and_odd_characters() {
        assert_eq!(parse("//").unwrap_err(), UriError::EmptyJunction);
        assert_eq!(parse("//Alice/").unwrap_err(), UriError::EmptyJunction);
        assert_eq!(parse("bad-phrase//x").unwrap_err(), UriError::BadPhraseCharacter);
    }

    #[test]
    fn debug_hides_phrase_and_password() {
        let uri = parse("secret words here///hunter2").unwrap();
        let shown = format!("{uri:?}");
        assert!(!shown.contains("secret") && !shown.contains("hunter2"));
    }
}
