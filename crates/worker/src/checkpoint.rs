//! Sealed checkpoints, written atomically, with the previous generation kept as a fallback.
//!
//! Two slots, `checkpoint-a` and `checkpoint-b`, hold the two newest generations. A write seals the
//! state with its generation number into the slot that does **not** hold the newest good
//! checkpoint: to a temporary file, synced, then renamed over the slot, and the directory synced.
//! A crash at any point leaves the newest good checkpoint untouched. Loading unseals both slots and
//! takes the highest generation that unseals and decodes; a corrupted, truncated or foreign newest
//! slot is reported and skipped, so the previous generation is used.

use parity_scale_codec::{Decode, Encode};
use std::{
    fs,
    io::Write as _,
    path::{Path, PathBuf},
};
use veil_crypto::{SealError, Sealer};

/// What sealed checkpoints are bound to.
const PURPOSE: &str = "veil/worker/checkpoint/v1";

const SLOTS: [&str; 2] = ["checkpoint-a", "checkpoint-b"];

#[derive(Encode, Decode)]
struct Generation {
    number: u64,
    state: Vec<u8>,
}

/// A checkpoint operation failed.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    /// A file could not be written or read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// Sealing failed.
    #[error(transparent)]
    Seal(#[from] SealError),
}

/// What loading found.
#[derive(Debug, PartialEq, Eq)]
pub struct Loaded {
    /// The state bytes of the newest good checkpoint.
    pub state: Vec<u8>,
    /// Its generation.
    pub generation: u64,
    /// Slots that held something unusable (corrupted, truncated, sealed elsewhere), with why.
    pub skipped: Vec<(String, String)>,
}

/// The checkpoints of one runtime, in one directory.
pub struct CheckpointStore {
    dir: PathBuf,
    sealer: Sealer,
    /// The newest good generation and its slot, once known.
    newest: Option<(u64, usize)>,
}

impl std::fmt::Debug for CheckpointStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CheckpointStore").field("dir", &self.dir).field("newest", &self.newest).finish()
    }
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> CheckpointError + '_ {
    move |source| CheckpointError::Io { path: path.to_owned(), source }
}

impl CheckpointStore {
    /// The store in `dir` (created if missing), sealing with `sealer`.
    pub fn open(dir: &Path, sealer: Sealer) -> Result<Self, CheckpointError> {
        fs::create_dir_all(dir).map_err(io(dir))?;
        Ok(Self { dir: dir.to_owned(), sealer, newest: None })
    }

    /// Loads the newest good checkpoint, or `None` when there is none (a fresh runtime). Unusable
    /// slots are skipped and listed.
    pub fn load(&mut self) -> Result<Option<Loaded>, CheckpointError> {
        let mut best: Option<(u64, usize, Vec<u8>)> = None;
        let mut skipped = Vec::new();
        for (slot, name) in SLOTS.iter().enumerate() {
            let path = self.dir.join(name);
            let blob = match fs::read(&path) {
                Ok(blob) => blob,
                Err(error) if error.kind() == std::io::ErrorKind::NotFound => continue,
                Err(error) => return Err(CheckpointError::Io { path, source: error }),
            };
            let generation = self
                .sealer
                .unseal(PURPOSE, &blob)
                .map_err(|error| error.to_string())
                .and_then(|plain| Generation::decode(&mut &plain[..]).map_err(|error| error.to_string()));
            match generation {
                Ok(generation) => {
                    if best.as_ref().is_none_or(|(number, ..)| generation.number > *number) {
                        best = Some((generation.number, slot, generation.state));
                    }
                }
                Err(why) => skipped.push(((*name).to_owned(), why)),
            }
        }
        self.newest = best.as_ref().map(|(number, slot, _)| (*number, *slot));
        Ok(best.map(|(generation, _, state)| Loaded { state, generation, skipped }))
    }

    /// Records the state after a batch: one write, or two when the batch destroyed keys
    /// (`destroyed_keys`), so the fallback slot no longer holds them either.
    pub fn record(&mut self, state: &[u8], destroyed_keys: bool) -> Result<(), CheckpointError> {
        for _ in 0..if destroyed_keys { 2 } else { 1 } {
            self.save(state)?;
        }
        Ok(())
    }

    /// Every file in the store's directory, unsealed where it unseals (the rest as stored): what
    /// someone who copies the directory and later gets the sealing key can read. For tests that
    /// check destroyed keys are gone from disk.
    pub fn unseal_every_file(&self) -> Result<Vec<(PathBuf, Vec<u8>)>, CheckpointError> {
        let mut files = Vec::new();
        for entry in fs::read_dir(&self.dir).map_err(io(&self.dir))? {
            let path = entry.map_err(io(&self.dir))?.path();
            let blob = fs::read(&path).map_err(io(&path))?;
            let plain = self.sealer.unseal(PURPOSE, &blob).map(|plain| plain.to_vec()).unwrap_or(blob);
            files.push((path, plain));
        }
        Ok(files)
    }

    /// Seals `state` as the next generation, atomically, into the slot that does not hold the newest
    /// good checkpoint. Returns the generation written.
    pub fn save(&mut self, state: &[u8]) -> Result<u64, CheckpointError> {
        let (number, slot) = match self.newest {
            Some((number, slot)) => (number + 1, 1 - slot),
            None => (1, 0),
        };
        let blob = self.sealer.seal(PURPOSE, &Generation { number, state: state.to_vec() }.encode())?;
        let path = self.dir.join(SLOTS[slot]);
        let temporary = self.dir.join(format!("{}.tmp", SLOTS[slot]));
        let mut file = fs::File::create(&temporary).map_err(io(&temporary))?;
        file.write_all(&blob).map_err(io(&temporary))?;
        file.sync_all().map_err(io(&temporary))?;
        fs::rename(&temporary, &path).map_err(io(&path))?;
        fs::File::open(&self.dir).and_then(|dir| dir.sync_all()).map_err(io(&self.dir))?;
        self.newest = Some((number, slot));
        Ok(number)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use veil_crypto::{SealingPlatform, SealingSecretSource, SecretBytes};

    struct Key(u8);

    impl SealingSecretSource for Key {
        fn platform(&self) -> SealingPlatform {
            SealingPlatform::InsecureSoftware
        }
        fn sealing_secret(&self) -> Result<SecretBytes<32>, SealError> {
            Ok(SecretBytes::new([self.0; 32]))
        }
    }

    fn store(dir: &Path, key: u8) -> CheckpointStore {
        CheckpointStore::open(dir, Sealer::new(&Key(key)).unwrap()).unwrap()
    }

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("veil-checkpoint-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn the_newest_good_generation_loads_and_a_corrupted_one_falls_back() {
        let dir = temp_dir("fallback");
        let mut checkpoints = store(&dir, 1);
        assert_eq!(checkpoints.load().unwrap(), None, "a fresh runtime has nothing");
        for state in [&b"one"[..], b"two", b"three"] {
            checkpoints.save(state).unwrap();
        }
        let mut reopened = store(&dir, 1);
        let loaded = reopened.load().unwrap().unwrap();
        assert_eq!((loaded.state.as_slice(), loaded.generation), (&b"three"[..], 3));

        // Generation 3 sits in slot a (1 → a, 2 → b, 3 → a). Corrupt it: generation 2 loads.
        let newest = dir.join("checkpoint-a");
        let mut blob = fs::read(&newest).unwrap();
        let last = blob.len() - 1;
        blob[last] ^= 1;
        fs::write(&newest, &blob).unwrap();
        let loaded = store(&dir, 1).load().unwrap().unwrap();
        assert_eq!((loaded.state.as_slice(), loaded.generation), (&b"two"[..], 2));
        assert_eq!(loaded.skipped.len(), 1);
        assert_eq!(loaded.skipped[0].0, "checkpoint-a");

        // Saving after the fallback overwrites the corrupted slot, never the good one.
        let mut recovering = store(&dir, 1);
        recovering.load().unwrap();
        assert_eq!(recovering.save(b"four").unwrap(), 3);
        let loaded = store(&dir, 1).load().unwrap().unwrap();
        assert_eq!((loaded.state.as_slice(), loaded.skipped.len()), (&b"four"[..], 0));

        // A truncated newest slot, or a half-written temporary file, changes nothing either.
        fs::write(dir.join("checkpoint-b.tmp"), b"half").unwrap();
        let blob = fs::read(dir.join("checkpoint-a")).unwrap();
        fs::write(dir.join("checkpoint-a"), &blob[..blob.len() / 2]).unwrap();
        let loaded = store(&dir, 1).load().unwrap().unwrap();
        assert_eq!(loaded.state.as_slice(), b"two");
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn another_machine_key_cannot_load() {
        let dir = temp_dir("foreign");
        store(&dir, 1).save(b"secret").unwrap();
        let loaded = store(&dir, 2).load().unwrap();
        assert_eq!(loaded, None, "nothing usable under another sealing key");
        fs::remove_dir_all(dir).unwrap();
    }
}
