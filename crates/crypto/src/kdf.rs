//! HKDF-SHA256 expansion: the one key-derivation step every module uses.

use hkdf::Hkdf;
use sha2::Sha256;
use zeroize::Zeroizing;

/// `N` bytes of HKDF-SHA256(salt, ikm) expanded with `info`. `N` is checked at compile time to be
/// within HKDF's limit, so the expansion cannot fail.
pub fn hkdf_sha256<const N: usize>(salt: &[u8], ikm: &[u8], info: &[u8]) -> Zeroizing<[u8; N]> {
    const { assert!(N <= 255 * 32, "HKDF-SHA256 expands to at most 8160 bytes") };
    let mut okm = Zeroizing::new([0u8; N]);
    if Hkdf::<Sha256>::new(Some(salt), ikm).expand(info, &mut okm[..]).is_err() {
        unreachable!("output length is within the HKDF limit");
    }
    okm
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 5869 appendix A.1: HKDF-SHA256 basic test case.
    #[test]
    fn rfc5869_test_case_1() {
        let salt = hex::decode("000102030405060708090a0b0c").unwrap();
        let info = hex::decode("f0f1f2f3f4f5f6f7f8f9").unwrap();
        let okm = hkdf_sha256::<42>(&salt, &[0x0b; 22], &info);
        assert_eq!(
            hex::encode(okm.as_slice()),
            "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865"
        );
    }

    /// RFC 5869 appendix A.2: longer inputs and outputs.
    #[test]
    fn rfc5869_test_case_2() {
        let ikm: Vec<u8> = (0x00..=0x4f).collect();
        let salt: Vec<u8> = (0x60..=0xaf).collect();
        let info: Vec<u8> = (0xb0..=0xff).collect();
        let okm = hkdf_sha256::<82>(&salt, &ikm, &info);
        assert_eq!(
            hex::encode(okm.as_slice()),
            "b11e398dc80327a1c8e7f78c596a49344f012eda2d4efad8a050cc4c19afa97c\
             59045a99cac7827271cb41c65e590e09da3275600c2f09b8367793a9aca3db71\
             cc30c58179ec3e87c14c01d5c1f3434f1d87"
        );
    }
}
