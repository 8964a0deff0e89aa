//! Secret key files: hex text, mode 0600, refused when group or others may read them.

use std::path::{Path, PathBuf};

use veil_crypto::private_file::{self, PrivateFileError};

/// Why a key file could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum KeyFileError {
    /// Reading or writing failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// Others may access the file.
    #[error("{path} has mode {mode:o}; secret key files must be 600 (run: chmod 600 {path})")]
    Permissions {
        /// The file.
        path: PathBuf,
        /// Its mode bits.
        mode: u32,
    },
    /// The content is not hex.
    #[error("{0}: not a hex-encoded key")]
    NotHex(PathBuf),
}

/// Writes `secret` as hex to a new private file (see [`veil_crypto::private_file::write`]).
pub fn write_secret(path: &Path, secret: &[u8]) -> Result<(), KeyFileError> {
    let hex = zeroize::Zeroizing::new(hex::encode(secret));
    private_file::write(path, hex.as_bytes()).map_err(|source| KeyFileError::Io { path: path.to_owned(), source })
}

/// Reads a secret written by [`write_secret`], refusing a link and a file others may access.
pub fn read_secret(path: &Path) -> Result<Vec<u8>, KeyFileError> {
    let bytes = private_file::read(path).map_err(|error| match error {
        PrivateFileError::Io(source) => KeyFileError::Io { path: path.to_owned(), source },
        PrivateFileError::Link => KeyFileError::Io { path: path.to_owned(), source: std::io::Error::other(error) },
        PrivateFileError::Permissions { mode } => KeyFileError::Permissions { path: path.to_owned(), mode },
    })?;
    let text = std::str::from_utf8(&bytes).map_err(|_| KeyFileError::NotHex(path.to_owned()))?;
    hex::decode(text.trim()).map_err(|_| KeyFileError::NotHex(path.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt as _;

    #[test]
    fn round_trip_private_and_refuses_open_files() {
        let dir = std::env::temp_dir().join(format!("veil-keys-{}", std::process::id()));
        let path = dir.join("nested/identity.key");
        write_secret(&path, &[1, 2, 3]).unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        assert_eq!(read_secret(&path).unwrap(), vec![1, 2, 3]);
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
        let error = read_secret(&path).unwrap_err();
        assert!(error.to_string().contains("chmod 600"), "{error}");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        std::fs::write(&path, "zz").unwrap();
        assert!(matches!(read_secret(&path), Err(KeyFileError::NotHex(_))));
        std::fs::remove_dir_all(dir).unwrap();
    }

    /// The attack of issue 21: someone who can write to the key directory plants the temporary
    /// file as a link to a file they can read (or as their own readable file) before a key is
    /// written. The secret must never land there, and a key file that is a link is refused.
    #[test]
    fn a_planted_temporary_file_or_link_never_receives_the_secret() {
        let dir = std::env::temp_dir().join(format!("veil-keys-planted-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("identity.key");
        let stolen = dir.join("stolen");
        std::fs::write(&stolen, "").unwrap();
        std::os::unix::fs::symlink(&stolen, path.with_extension("tmp")).unwrap();
        write_secret(&path, &[7; 32]).unwrap();
        assert_eq!(std::fs::read(&stolen).unwrap(), b"", "the secret went through the planted link");
        assert_eq!(read_secret(&path).unwrap(), vec![7; 32]);
        assert_eq!(std::fs::symlink_metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        // A key file that is a link (to a private file of someone else's choosing) is refused.
        let elsewhere = dir.join("elsewhere.key");
        write_secret(&elsewhere, &[8; 32]).unwrap();
        let linked = dir.join("linked.key");
        std::os::unix::fs::symlink(&elsewhere, &linked).unwrap();
        assert!(read_secret(&linked).is_err(), "read a key through a link");
        std::fs::remove_dir_all(dir).unwrap();
    }
}
