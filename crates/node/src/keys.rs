//! Secret key files: hex text, mode 0600, refused when group or others may read them.

use std::{
    io::Write as _,
    os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _},
    path::{Path, PathBuf},
};

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

/// Writes `secret` as hex to a new file of mode 0600 (replacing any file there).
pub fn write_secret(path: &Path, secret: &[u8]) -> Result<(), KeyFileError> {
    let io = |source| KeyFileError::Io { path: path.to_owned(), source };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(io)?;
    }
    let temporary = path.with_extension("tmp");
    let mut file =
        std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(&temporary).map_err(io)?;
    file.write_all(hex::encode(secret).as_bytes()).map_err(io)?;
    file.sync_all().map_err(io)?;
    std::fs::rename(&temporary, path).map_err(io)
}

/// Reads a secret written by [`write_secret`], refusing a file others may access.
pub fn read_secret(path: &Path) -> Result<Vec<u8>, KeyFileError> {
    let io = |source| KeyFileError::Io { path: path.to_owned(), source };
    let mode = std::fs::metadata(path).map_err(io)?.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(KeyFileError::Permissions { path: path.to_owned(), mode });
    }
    let text = std::fs::read_to_string(path).map_err(io)?;
    hex::decode(text.trim()).map_err(|_| KeyFileError::NotHex(path.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
