//! The newest sealed snapshot of each cluster: what a replacement worker starts from. Kept in
//! memory for the API and on disk (one file per cluster, written to a temporary file, synced and
//! renamed over the old one), so a node that restarts still hands replacements their snapshot.
//!
//! The node cannot read a snapshot (it is sealed to the cluster's key); it keeps one only if the
//! cluster's signing key on chain verified it (the API's check) and it is newer than the one kept.

use parity_scale_codec::Encode;
use std::{
    collections::BTreeMap,
    fs,
    io::Write as _,
    path::{Path, PathBuf},
    sync::Mutex,
};
use veil_primitives::{ClusterId, decode_strict, epoch::SealedSnapshot};

/// Why a snapshot was not kept.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotStoreError {
    /// One as new or newer is kept.
    #[error("a snapshot of {epoch} at height {height} is stored")]
    NotNewer {
        /// The kept one's epoch.
        epoch: veil_primitives::KeyEpoch,
        /// Its height.
        height: u64,
    },
    /// Writing it failed (it is kept in memory all the same).
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
}

/// The newest snapshot per cluster, in memory and in `dir`.
#[derive(Debug)]
pub struct SnapshotStore {
    dir: PathBuf,
    newest: Mutex<BTreeMap<ClusterId, SealedSnapshot>>,
}

fn file_name(cluster: ClusterId) -> String {
    format!("cluster-{}.snapshot", cluster.0)
}

impl SnapshotStore {
    /// The store in `dir` (created if missing), with every snapshot found there. A file that does
    /// not decode, or holds another cluster's snapshot than its name says, is skipped and named
    /// in the returned list: a relayer uploads again.
    pub fn open(dir: &Path) -> Result<(Self, Vec<String>), std::io::Error> {
        fs::create_dir_all(dir)?;
        let mut newest = BTreeMap::new();
        let mut skipped = Vec::new();
        for entry in fs::read_dir(dir)? {
            let path = entry?.path();
            let Some(name) = path.file_name().and_then(|name| name.to_str()).map(str::to_owned) else { continue };
            if !name.ends_with(".snapshot") {
                continue;
            }
            match fs::read(&path)
                .map_err(|e| e.to_string())
                .and_then(|bytes| decode_strict::<SealedSnapshot>(&bytes).map_err(|e| e.to_string()))
            {
                Ok(snapshot) if file_name(snapshot.cluster) == name => {
                    newest.insert(snapshot.cluster, snapshot);
                }
                Ok(snapshot) => skipped.push(format!("{name}: holds a snapshot of {}", snapshot.cluster)),
                Err(why) => skipped.push(format!("{name}: {why}")),
            }
        }
        Ok((Self { dir: dir.to_owned(), newest: Mutex::new(newest) }, skipped))
    }

    /// The newest snapshot kept for `cluster`.
    pub fn get(&self, cluster: ClusterId) -> Option<SealedSnapshot> {
        self.newest.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).get(&cluster).cloned()
    }

    /// Keeps `snapshot` (already verified against the cluster's key) if it is newer than the one
    /// kept, in memory and on disk.
    pub fn put(&self, snapshot: SealedSnapshot) -> Result<(), SnapshotStoreError> {
        let mut newest = self.newest.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(kept) = newest.get(&snapshot.cluster)
            && (kept.epoch, kept.height) >= (snapshot.epoch, snapshot.height)
        {
            return Err(SnapshotStoreError::NotNewer { epoch: kept.epoch, height: kept.height });
        }
        let path = self.dir.join(file_name(snapshot.cluster));
        let bytes = snapshot.encode();
        newest.insert(snapshot.cluster, snapshot);
        let temporary = path.with_extension("tmp");
        let io = |source| SnapshotStoreError::Io { path: path.clone(), source };
        let mut file = fs::File::create(&temporary).map_err(io)?;
        file.write_all(&bytes).map_err(io)?;
        file.sync_all().map_err(io)?;
        fs::rename(&temporary, &path).map_err(io)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use veil_primitives::KeyEpoch;

    fn snapshot(cluster: u32, height: u64) -> SealedSnapshot {
        SealedSnapshot {
            cluster: ClusterId(cluster),
            epoch: KeyEpoch(0),
            height,
            sealed: vec![7; 16].try_into().unwrap(),
            signature: [1; 64],
        }
    }

    #[test]
    fn snapshots_survive_a_restart_and_only_newer_ones_replace_them() {
        let dir = std::env::temp_dir().join(format!("veil-snapshots-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        let (store, skipped) = SnapshotStore::open(&dir).unwrap();
        assert!(skipped.is_empty());
        store.put(snapshot(1, 10)).unwrap();
        assert!(matches!(store.put(snapshot(1, 10)), Err(SnapshotStoreError::NotNewer { height: 10, .. })));
        store.put(snapshot(1, 12)).unwrap();
        store.put(snapshot(2, 3)).unwrap();
        fs::write(dir.join("cluster-9.snapshot"), b"not a snapshot").unwrap();
        fs::write(dir.join("cluster-3.snapshot"), snapshot(4, 1).encode()).unwrap();
        drop(store);

        let (store, skipped) = SnapshotStore::open(&dir).unwrap();
        assert_eq!(store.get(ClusterId(1)), Some(snapshot(1, 12)));
        assert_eq!(store.get(ClusterId(2)), Some(snapshot(2, 3)));
        assert_eq!((store.get(ClusterId(3)), store.get(ClusterId(9))), (None, None));
        assert_eq!(skipped.len(), 2, "{skipped:?}");
        let _ = fs::remove_dir_all(&dir);
    }
}
