//! Fixed-size secret bytes that zeroize on drop and never print.

use parity_scale_codec::{Decode, Encode, Error, Input, Output};
use zeroize::{Zeroize, ZeroizeOnDrop};

/// `N` secret bytes. Cleared from memory when dropped; `Debug` shows `<redacted>`; no `Display`.
#[derive(Clone, Zeroize, ZeroizeOnDrop, PartialEq, Eq)]
pub struct SecretBytes<const N: usize>([u8; N]);

impl<const N: usize> SecretBytes<N> {
    /// Takes ownership of `bytes`.
    pub fn new(bytes: [u8; N]) -> Self {
        Self(bytes)
    }

    /// The secret itself; keep the borrow short and never log it.
    pub fn expose(&self) -> &[u8; N] {
        &self.0
    }
}

impl<const N: usize> std::fmt::Debug for SecretBytes<N> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

/// The SCALE encoding is the bytes in the clear: it exists for state that is sealed before it leaves
/// the TEE (a runtime's checkpoint), never for messages.
impl<const N: usize> Encode for SecretBytes<N> {
    fn size_hint(&self) -> usize {
        N
    }

    fn encode_to<T: Output + ?Sized>(&self, dest: &mut T) {
        dest.write(&self.0);
    }
}

impl<const N: usize> Decode for SecretBytes<N> {
    fn decode<I: Input>(input: &mut I) -> Result<Self, Error> {
        let mut bytes = Self([0; N]);
        input.read(&mut bytes.0)?;
        Ok(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_bytes() {
        let secret = SecretBytes::new([0xab; 32]);
        let shown = format!("{secret:?} {secret:#?}");
        assert!(!shown.contains("ab") && !shown.contains("171"), "{shown}");
    }

    #[test]
    fn encodes_as_the_bare_bytes() {
        let secret = SecretBytes::new([7u8; 32]);
        assert_eq!(secret.encode(), vec![7u8; 32]);
        assert_eq!(SecretBytes::<32>::decode(&mut &[7u8; 32][..]).unwrap(), secret);
        assert!(SecretBytes::<32>::decode(&mut &[7u8; 31][..]).is_err());
    }
}
