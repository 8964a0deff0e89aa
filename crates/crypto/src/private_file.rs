//! Files that hold secrets (node key files, the software sealing key): written so that nobody
//! else ever holds a handle to the bytes, and read only when they are still private.
//!
//! A write creates a new temporary file (`O_CREAT | O_EXCL`, mode 0600 from its first byte) after
//! unlinking whatever was planted at its name, then renames it into place: a file or link planted
//! by someone who can write to the directory never receives the secret (the exclusive create fails
//! rather than follow a link). A read refuses a link and a file others may access.

use std::{
    io::Write as _,
    os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _},
    path::Path,
};

use zeroize::Zeroizing;

/// Why a private file cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum PrivateFileError {
    /// The file cannot be read.
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// The path is a symbolic link: a key is read only from the file itself.
    #[error("it is a symbolic link; a key file must be the file itself")]
    Link,
    /// Group or others may access it.
    #[error("its mode is {mode:o}: others may read it; run chmod 600 on it")]
    Permissions {
        /// Its mode bits.
        mode: u32,
    },
}

/// Writes `bytes` to a new private file at `path` (mode 0600, creating its directory), replacing
/// what was there only by an atomic rename.
pub fn write(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let temporary = path.with_extension("tmp");
    // A crash's leftover, or a file or link someone planted: unlinking never follows a link.
    match std::fs::remove_file(&temporary) {
        Err(error) if error.kind() != std::io::ErrorKind::NotFound => return Err(error),
        _ => {}
    }
    let mut file = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&temporary)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    std::fs::rename(&temporary, path)
}

/// Reads the private file at `path`, refusing a link and a file group or others may access.
pub fn read(path: &Path) -> Result<Zeroizing<Vec<u8>>, PrivateFileError> {
    let metadata = std::fs::symlink_metadata(path)?;
    if metadata.file_type().is_symlink() {
        return Err(PrivateFileError::Link);
    }
    let mode = metadata.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(PrivateFileError::Permissions { mode });
    }
    Ok(Zeroizing::new(std::fs::read(path)?))
}
