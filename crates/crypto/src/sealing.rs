//! Sealing: encrypting a runtime's secrets and state to the machine it runs on.
//!
//! A sealed blob is `header || ciphertext`: the header (magic `VSEA`, format version, platform, a
//! random 12-byte nonce) is SCALE-encoded and bound as associated data of AES-256-GCM-SIV. The key is
//! HKDF-SHA256 of the platform's sealing secret with the platform and a caller-chosen purpose (for
//! example `checkpoint` or `master-key`) in the info, so a blob sealed for one purpose never unseals
//! as another. GCM-SIV keeps confidentiality even if a nonce ever repeats.
//!
//! Where the secret comes from is the platform's business ([`SealingSecretSource`]): the SGX sealing
//! key, a key broker for TDX (which has no sealing key), or, for development only,
//! [`SoftwareSealingKey`], a random file readable by its owner alone. The software platform protects
//! nothing from whoever controls the machine and says so.

use aes_gcm_siv::{
    Aes256GcmSiv, KeyInit,
    aead::{Aead, Payload},
};
use parity_scale_codec::{Decode, Encode, MaxEncodedLen};
use std::path::{Path, PathBuf};
use zeroize::Zeroizing;

use crate::{
    kdf::hkdf_sha256,
    private_file::PrivateFileError,
    random::{RandomnessError, random_bytes},
    secret::SecretBytes,
};

const MAGIC: [u8; 4] = *b"VSEA";

/// Where a sealing secret comes from. Recorded in every blob.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Encode, Decode, MaxEncodedLen)]
pub enum SealingPlatform {
    /// A random file on disk: development only, protects nothing from the machine's owner.
    #[codec(index = 0)]
    InsecureSoftware,
    /// The SGX enclave sealing key (MRENCLAVE policy).
    #[codec(index = 1)]
    Sgx,
    /// A key released by a key broker after attestation (TDX).
    #[codec(index = 2)]
    KeyBroker,
}

impl SealingPlatform {
    /// Whether secrets sealed on this platform are protected from the machine's operator.
    pub fn is_secure(self) -> bool {
        !matches!(self, Self::InsecureSoftware)
    }
}

/// A platform that can hand out a stable 32-byte sealing secret.
pub trait SealingSecretSource {
    /// Which platform this is.
    fn platform(&self) -> SealingPlatform;
    /// The secret; the same on every call on the same machine and runtime build.
    fn sealing_secret(&self) -> Result<SecretBytes<32>, SealError>;
}

#[derive(Clone, Copy, PartialEq, Eq, Debug, Encode, Decode, MaxEncodedLen)]
enum SealVersion {
    #[codec(index = 1)]
    V1,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug, Encode, Decode, MaxEncodedLen)]
struct SealedHeader {
    magic: [u8; 4],
    version: SealVersion,
    platform: SealingPlatform,
    nonce: [u8; 12],
}

/// Why sealing, unsealing or loading a sealing secret failed.
#[derive(Debug, thiserror::Error)]
pub enum SealError {
    /// The blob does not start with a valid header.
    #[error("not a sealed blob of a known version: {0}")]
    BadHeader(String),
    /// The blob was sealed on another platform.
    #[error("blob was sealed on {sealed:?}, but this runtime seals on {current:?}")]
    WrongPlatform {
        /// Where the blob was sealed.
        sealed: SealingPlatform,
        /// Where we are.
        current: SealingPlatform,
    },
    /// Authentication failed.
    #[error("cannot unseal: wrong machine or sealing key, wrong purpose, or the blob was altered")]
    Unauthentic,
    /// The sealing-key file is readable or writable by others.
    #[error("sealing key file {path} has mode {mode:o}; it must be 600 (run: chmod 600 {path})")]
    Permissions {
        /// The file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// The sealing-key file is not 32 bytes.
    #[error("sealing key file {path} is {len} bytes, not 32: it is corrupted or not a sealing key")]
    CorruptKeyFile {
        /// The file.
        path: PathBuf,
        /// Its length.
        len: u64,
    },
    /// Reading or writing the key file failed.
    #[error("sealing key file {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// The random generator failed.
    #[error(transparent)]
    Randomness(#[from] RandomnessError),
}

/// Seals and unseals blobs with one platform's sealing secret.
pub struct Sealer {
    secret: SecretBytes<32>,
    platform: SealingPlatform,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Sealer({:?}, secret: <redacted>)", self.platform)
    }
}

impl Sealer {
    /// A sealer over `source`'s secret.
    pub fn new(source: &dyn SealingSecretSource) -> Result<Self, SealError> {
        Ok(Self { secret: source.sealing_secret()?, platform: source.platform() })
    }

    /// The platform this sealer seals on.
    pub fn platform(&self) -> SealingPlatform {
        self.platform
    }

    fn cipher(&self, purpose: &str) -> Aes256GcmSiv {
        let info = (b"veil/seal", self.platform, purpose.as_bytes()).encode();
        let key = hkdf_sha256::<32>(b"veil/seal/v1", self.secret.expose(), &info);
        Aes256GcmSiv::new((&*key).into())
    }

    /// Seals `plaintext` for `purpose`.
    pub fn seal(&self, purpose: &str, plaintext: &[u8]) -> Result<Vec<u8>, SealError> {
        let header =
            SealedHeader { magic: MAGIC, version: SealVersion::V1, platform: self.platform, nonce: random_bytes()? };
        let aad = header.encode();
        let ciphertext = self
            .cipher(purpose)
            .encrypt(&header.nonce.into(), Payload { msg: plaintext, aad: &aad })
            .map_err(|_| SealError::BadHeader("plaintext too large for AES-GCM-SIV".into()))?;
        let mut blob = aad;
        blob.extend_from_slice(&ciphertext);
        Ok(blob)
    }

    /// Unseals a blob sealed for `purpose` on this platform.
    pub fn unseal(&self, purpose: &str, blob: &[u8]) -> Result<Zeroizing<Vec<u8>>, SealError> {
        let header_len = SealedHeader::max_encoded_len();
        if blob.len() < header_len {
            return Err(SealError::BadHeader(format!("{} bytes is shorter than a header", blob.len())));
        }
        let (header_bytes, ciphertext) = blob.split_at(header_len);
        let header = veil_primitives::decode_strict::<SealedHeader>(header_bytes)
            .map_err(|error| SealError::BadHeader(error.to_string()))?;
        if header.magic != MAGIC {
            return Err(SealError::BadHeader("wrong magic bytes".into()));
        }
        if header.platform != self.platform {
            return Err(SealError::WrongPlatform { sealed: header.platform, current: self.platform });
        }
        self.cipher(purpose)
            .decrypt(&header.nonce.into(), Payload { msg: ciphertext, aad: header_bytes })
            .map(Zeroizing::new)
            .map_err(|_| SealError::Unauthentic)
    }
}

/// Development-only sealing secret: 32 random bytes in a file only its owner may read (mode 0600).
/// Anyone with the owner's or root's access to the machine can unseal everything: never use it
/// where confidentiality matters.
pub struct SoftwareSealingKey {
    secret: SecretBytes<32>,
}

impl SoftwareSealingKey {
    /// Loads the key file at `path`, creating it (and its directory) with fresh random bytes and mode
    /// 0600 if it does not exist. Refuses a file that others may access or that is not 32 bytes.
    pub fn open_or_create(path: &Path) -> Result<Self, SealError> {
        let io = |source| SealError::Io { path: path.to_owned(), source };
        match crate::private_file::read(path) {
            Ok(bytes) => {
                let secret: [u8; 32] = bytes
                    .as_slice()
                    .try_into()
                    .map_err(|_| SealError::CorruptKeyFile { path: path.to_owned(), len: bytes.len() as u64 })?;
                Ok(Self { secret: SecretBytes::new(secret) })
            }
            Err(PrivateFileError::Io(error)) if error.kind() == std::io::ErrorKind::NotFound => {
                // A private temporary file renamed into place: a crash never leaves a short key
                // file, and a planted file or link never receives the key.
                let secret = SecretBytes::new(random_bytes()?);
                crate::private_file::write(path, secret.expose()).map_err(io)?;
                Ok(Self { secret })
            }
            Err(PrivateFileError::Io(error)) => Err(io(error)),
            Err(PrivateFileError::Permissions { mode }) => Err(SealError::Permissions { path: path.to_owned(), mode }),
            Err(error @ PrivateFileError::Link) => Err(io(std::io::Error::other(error))),
        }
    }
}

impl SealingSecretSource for SoftwareSealingKey {
    fn platform(&self) -> SealingPlatform {
        SealingPlatform::InsecureSoftware
    }

    fn sealing_secret(&self) -> Result<SecretBytes<32>, SealError> {
        Ok(self.secret.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::os::unix::fs::PermissionsExt as _;

    struct Fixed(SealingPlatform, u8);
    impl SealingSecretSource for Fixed {
        fn platform(&self) -> SealingPlatform {
            self.0
        }
        fn sealing_secret(&self) -> Result<SecretBytes<32>, SealError> {
            Ok(SecretBytes::new([self.1; 32]))
        }
    }

    fn sealer(byte: u8) -> Sealer {
        Sealer::new(&Fixed(SealingPlatform::Sgx, byte)).unwrap()
    }

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("veil-sealing-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn round_trip_and_purpose_binding() {
        let blob = sealer(1).seal("checkpoint", b"state").unwrap();
        assert_eq!(sealer(1).unseal("checkpoint", &blob).unwrap().as_slice(), b"state");
        assert!(matches!(sealer(1).unseal("master-key", &blob), Err(SealError::Unauthentic)));
        assert!(matches!(sealer(2).unseal("checkpoint", &blob), Err(SealError::Unauthentic)));
    }

    #[test]
    fn wrong_platform_and_bad_header_are_named() {
        let blob = sealer(1).seal("p", b"x").unwrap();
        let software = Sealer::new(&Fixed(SealingPlatform::InsecureSoftware, 1)).unwrap();
        assert!(matches!(software.unseal("p", &blob), Err(SealError::WrongPlatform { .. })));
        assert!(matches!(sealer(1).unseal("p", &blob[..5]), Err(SealError::BadHeader(_))));
        let mut wrong_magic = blob.clone();
        wrong_magic[0] = b'X';
        assert!(matches!(sealer(1).unseal("p", &wrong_magic), Err(SealError::BadHeader(_))));
        let mut wrong_version = blob;
        wrong_version[4] = 9;
        assert!(matches!(sealer(1).unseal("p", &wrong_version), Err(SealError::BadHeader(_))));
    }

    #[test]
    fn software_key_file_is_private_and_stable() {
        let dir = temp_dir("stable");
        let path = dir.join("keys/sealing.key");
        let first = SoftwareSealingKey::open_or_create(&path).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let again = SoftwareSealingKey::open_or_create(&path).unwrap();
        assert_eq!(first.sealing_secret().unwrap(), again.sealing_secret().unwrap());
        let blob = Sealer::new(&first).unwrap().seal("p", b"kept").unwrap();
        assert_eq!(Sealer::new(&again).unwrap().unseal("p", &blob).unwrap().as_slice(), b"kept");
        assert!(!Sealer::new(&first).unwrap().platform().is_secure());
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn software_key_file_refuses_open_permissions_and_corruption() {
        let dir = temp_dir("refuse");
        let path = dir.join("sealing.key");
        SoftwareSealingKey::open_or_create(&path).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let error = SoftwareSealingKey::open_or_create(&path).err().unwrap();
        assert!(matches!(error, SealError::Permissions { mode: 0o644, .. }), "{error}");
        assert!(error.to_string().contains("chmod 600"));
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        std::fs::write(&path, b"short").unwrap();
        assert!(matches!(SoftwareSealingKey::open_or_create(&path), Err(SealError::CorruptKeyFile { len: 5, .. })));
        std::fs::remove_dir_all(dir).unwrap();
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// Any flipped bit of a sealed blob, header or ciphertext, makes unsealing fail.
        #[test]
        fn any_flipped_bit_fails(plaintext in proptest::collection::vec(any::<u8>(), 0..128), position: usize, bit in 0u8..8) {
            let sealer = sealer(3);
            let mut blob = sealer.seal("p", &plaintext).unwrap();
            let position = position % blob.len();
            blob[position] ^= 1 << bit;
            prop_assert!(sealer.unseal("p", &blob).is_err());
        }
    }
}
