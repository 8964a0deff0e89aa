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

/// A secret kept in state that is sealed before it leaves the TEE: a runtime's checkpoint, a
/// cluster snapshot. Wrapping a key in `Sealable` is the only way it gets a SCALE encoding (which
/// holds the secret in the clear), so no message type can carry a key by accident: a derived
/// `Encode` of a struct with a bare key does not compile.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sealable<T>(pub T);

impl<T> std::ops::Deref for Sealable<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.0
    }
}

mod private {
    pub trait Sealed {}
}

/// A secret that may live in sealed state, inside [`Sealable`]. Implemented by this crate's key
/// types only.
pub trait SealedForm: private::Sealed + Sized {
    /// Writes the secret, in the clear.
    fn write_sealed<O: Output + ?Sized>(&self, dest: &mut O);
    /// Reads what [`SealedForm::write_sealed`] wrote.
    fn read_sealed<I: Input>(input: &mut I) -> Result<Self, Error>;
}

impl<T: SealedForm> Encode for Sealable<T> {
    fn encode_to<O: Output + ?Sized>(&self, dest: &mut O) {
        self.0.write_sealed(dest);
    }
}

impl<T: SealedForm> Decode for Sealable<T> {
    fn decode<I: Input>(input: &mut I) -> Result<Self, Error> {
        T::read_sealed(input).map(Sealable)
    }
}

impl<const N: usize> private::Sealed for SecretBytes<N> {}

impl<const N: usize> SealedForm for SecretBytes<N> {
    fn write_sealed<O: Output + ?Sized>(&self, dest: &mut O) {
        dest.write(&self.0);
    }

    fn read_sealed<I: Input>(input: &mut I) -> Result<Self, Error> {
        let mut bytes = Self([0; N]);
        input.read(&mut bytes.0)?;
        Ok(bytes)
    }
}

impl private::Sealed for crate::AgreementSecret {}

impl SealedForm for crate::AgreementSecret {
    fn write_sealed<O: Output + ?Sized>(&self, dest: &mut O) {
        self.secret_bytes().write_sealed(dest);
    }

    fn read_sealed<I: Input>(input: &mut I) -> Result<Self, Error> {
        SecretBytes::read_sealed(input).map(|bytes| Self::from_bytes(&bytes))
    }
}

impl private::Sealed for crate::MasterKey {}

impl SealedForm for crate::MasterKey {
    fn write_sealed<O: Output + ?Sized>(&self, dest: &mut O) {
        self.secret().write_sealed(dest);
    }

    fn read_sealed<I: Input>(input: &mut I) -> Result<Self, Error> {
        SecretBytes::read_sealed(input).map(Self::from_secret)
    }
}

impl private::Sealed for crate::ClusterKey {}

impl SealedForm for crate::ClusterKey {
    fn write_sealed<O: Output + ?Sized>(&self, dest: &mut O) {
        self.cluster().encode_to(dest);
        self.epoch().encode_to(dest);
        self.secret().write_sealed(dest);
    }

    fn read_sealed<I: Input>(input: &mut I) -> Result<Self, Error> {
        let cluster = Decode::decode(input)?;
        let epoch = Decode::decode(input)?;
        Ok(Self::from_secret(SecretBytes::read_sealed(input)?, cluster, epoch))
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
    fn a_sealable_secret_encodes_as_its_bare_bytes() {
        let secret = Sealable(SecretBytes::new([7u8; 32]));
        assert_eq!(secret.encode(), vec![7u8; 32]);
        assert_eq!(Sealable::<SecretBytes<32>>::decode(&mut &[7u8; 32][..]).unwrap(), secret);
        assert!(Sealable::<SecretBytes<32>>::decode(&mut &[7u8; 31][..]).is_err());
    }

    #[test]
    fn a_sealable_cluster_key_keeps_its_cluster_and_epoch() {
        use veil_primitives::{ClusterId, KeyEpoch};
        let key = crate::MasterKey::from_secret(SecretBytes::new([3; 32])).cluster_key(ClusterId(4), KeyEpoch(5));
        let encoded = Sealable(key.clone()).encode();
        let decoded = Sealable::<crate::ClusterKey>::decode(&mut &encoded[..]).unwrap();
        assert_eq!((decoded.cluster(), decoded.epoch()), (ClusterId(4), KeyEpoch(5)));
        assert_eq!(decoded.secret(), key.secret());
    }
}
