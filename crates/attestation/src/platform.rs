//! Where quotes and sealing secrets come from: Gramine on SGX, configfs-tsm on TDX, or software.
//!
//! Each backend talks to its platform through files, so the runtime needs no privileged calls and
//! tests can stand in for the devices with a directory.

use std::{
    fs,
    path::{Path, PathBuf},
};
use veil_crypto::{SealError, SealingPlatform, SealingSecretSource, SecretBytes, SoftwareSealingKey, kdf::hkdf_sha256};

/// Which platform a runtime runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PlatformKind {
    /// SGX through Gramine's `/dev/attestation` pseudo-files.
    GramineSgx,
    /// TDX through the kernel's configfs-tsm reports.
    Tdx,
    /// No TEE: development only. Nothing it does is protected from the machine's owner.
    InsecureSoftware,
}

impl PlatformKind {
    /// A name for logs and the API; the software platform's says it is insecure.
    pub fn label(self) -> &'static str {
        match self {
            Self::GramineSgx => "sgx (gramine)",
            Self::Tdx => "tdx",
            Self::InsecureSoftware => "software (INSECURE: no TEE)",
        }
    }
}

/// A platform operation failed.
#[derive(Debug, thiserror::Error)]
pub enum PlatformError {
    /// A platform file could not be used.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// The platform answered something unusable.
    #[error("{0}")]
    Invalid(String),
    /// Sealing failed.
    #[error(transparent)]
    Seal(#[from] SealError),
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> PlatformError + '_ {
    move |source| PlatformError::Io { path: path.to_owned(), source }
}

/// Both quoting interfaces are a pair of files: the report data goes in, the quote comes out.
fn quote_through_files(input: &Path, report_data: &[u8; 64], output: &Path) -> Result<Vec<u8>, PlatformError> {
    fs::write(input, report_data).map_err(io(input))?;
    let quote = fs::read(output).map_err(io(output))?;
    if quote.is_empty() {
        return Err(PlatformError::Invalid(format!("{}: the platform returned an empty quote", output.display())));
    }
    Ok(quote)
}

/// A TEE platform as the runtime uses it.
pub trait Platform {
    /// Which platform this is.
    fn kind(&self) -> PlatformKind;
    /// A quote over `report_data`, or `None` on the software platform, which has no hardware to
    /// vouch for it.
    fn quote(&self, report_data: &[u8; 64]) -> Result<Option<Vec<u8>>, PlatformError>;
    /// The platform's sealing secret, where it has one (TDX has none: secrets come from the
    /// gatekeepers after attestation).
    fn sealing(&self) -> Option<&dyn SealingSecretSource>;
}

/// SGX under Gramine: write the report data to `user_report_data`, read the quote from `quote`;
/// the sealing secret derives from the MRENCLAVE-bound key in `keys/_sgx_mrenclave`.
#[derive(Clone, Debug)]
pub struct GramineSgx {
    root: PathBuf,
}

impl GramineSgx {
    /// Gramine's attestation directory: `/dev/attestation` inside an enclave.
    pub const DEFAULT_ROOT: &'static str = "/dev/attestation";

    /// The platform behind `root`.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }
}

impl Platform for GramineSgx {
    fn kind(&self) -> PlatformKind {
        PlatformKind::GramineSgx
    }

    fn quote(&self, report_data: &[u8; 64]) -> Result<Option<Vec<u8>>, PlatformError> {
        quote_through_files(&self.root.join("user_report_data"), report_data, &self.root.join("quote")).map(Some)
    }

    fn sealing(&self) -> Option<&dyn SealingSecretSource> {
        Some(self)
    }
}

impl SealingSecretSource for GramineSgx {
    fn platform(&self) -> SealingPlatform {
        SealingPlatform::Sgx
    }

    fn sealing_secret(&self) -> Result<SecretBytes<32>, SealError> {
        let path = self.root.join("keys/_sgx_mrenclave");
        let bytes = fs::read(&path).map_err(|source| SealError::Io { path: path.clone(), source })?;
        let len = bytes.len() as u64;
        let key = SecretBytes::<16>::new(bytes.try_into().map_err(|_| SealError::CorruptKeyFile { path, len })?);
        let secret = hkdf_sha256::<32>(b"veil/sealing/sgx", key.expose(), b"sealing secret v1");
        Ok(SecretBytes::new(*secret))
    }
}

/// TDX through configfs-tsm: a report entry directory whose `inblob` takes the report data and
/// whose `outblob` then holds the quote. TDX offers no sealing key.
#[derive(Clone, Debug)]
pub struct Tdx {
    entry: PathBuf,
}

impl Tdx {
    /// The configfs-tsm report directory; the runtime uses the entry `veil` under it.
    pub const DEFAULT_REPORTS: &'static str = "/sys/kernel/config/tsm/report";

    /// The platform using report entry `entry` (created when missing, as configfs expects).
    pub fn new(entry: impl Into<PathBuf>) -> Self {
        Self { entry: entry.into() }
    }
}

impl Platform for Tdx {
    fn kind(&self) -> PlatformKind {
        PlatformKind::Tdx
    }

    fn quote(&self, report_data: &[u8; 64]) -> Result<Option<Vec<u8>>, PlatformError> {
        fs::create_dir_all(&self.entry).map_err(io(&self.entry))?;
        quote_through_files(&self.entry.join("inblob"), report_data, &self.entry.join("outblob")).map(Some)
    }

    fn sealing(&self) -> Option<&dyn SealingSecretSource> {
        None
    }
}

/// No TEE: no quote, sealing from a random 0600 file. Registrations from it are accepted only by
/// chains whose genesis allows insecure workers.
pub struct InsecureSoftware {
    key: SoftwareSealingKey,
}

impl std::fmt::Debug for InsecureSoftware {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("InsecureSoftware")
    }
}

impl InsecureSoftware {
    /// The platform with its sealing key file at `key_file` (created, 0600, when missing).
    pub fn open(key_file: &Path) -> Result<Self, PlatformError> {
        Ok(Self { key: SoftwareSealingKey::open_or_create(key_file)? })
    }
}

impl Platform for InsecureSoftware {
    fn kind(&self) -> PlatformKind {
        PlatformKind::InsecureSoftware
    }

    fn quote(&self, _report_data: &[u8; 64]) -> Result<Option<Vec<u8>>, PlatformError> {
        Ok(None)
    }

    fn sealing(&self) -> Option<&dyn SealingSecretSource> {
        Some(&self.key)
    }
}
