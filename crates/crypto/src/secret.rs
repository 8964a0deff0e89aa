//! Fixed-size secret bytes that zeroize on drop and never print.

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_bytes() {
        let secret = SecretBytes::new([0xab; 32]);
        let shown = format!("{secret:?} {secret:#?}");
        assert!(!shown.contains("ab") && !shown.contains("171"), "{shown}");
    }
}
