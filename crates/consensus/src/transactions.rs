//! Where finalized transactions are, by hash: on disk, so that a node's start time and memory do
//! not grow with the chain.
//!
//! The index is an immutable archive keyed by hash. Each finalized block adds one entry per
//! transaction (its height and position) and then one for the block itself (keyed by the block's
//! hash, position [`BLOCK_MARKER`]), so the last entry always names the last block indexed. Writes
//! are synced every [`SYNC_EVERY`] blocks, not per block: after a crash, the node indexes again
//! the blocks after the last durable marker (at most that many), read from the block archive.

use commonware_cryptography::sha256::Digest;
use commonware_runtime::{Clock, Metrics, Spawner, Storage};
use commonware_storage::archive::{Archive as _, Identifier, immutable};
use futures::future::BoxFuture;
use veil_primitives::Hash;

/// The position recorded for a block's own entry.
pub const BLOCK_MARKER: u32 = u32::MAX;

/// How many blocks between syncs of the on-disk index.
pub const SYNC_EVERY: u64 = 256;

/// Finalized transactions by hash.
pub trait TransactionIndex: Send + Sync + 'static {
    /// Records finalized block `height` (hash `block`) and its transactions' hashes, in order.
    fn record<'a>(
        &'a mut self,
        height: u64,
        block: Hash,
        transactions: &'a [Hash],
    ) -> BoxFuture<'a, Result<(), String>>;

    /// The height and position transaction `hash` was finalized at, if it was.
    fn find<'a>(&'a self, hash: &'a Hash) -> BoxFuture<'a, Result<Option<(u64, u32)>, String>>;

    /// The last block recorded (0 when none).
    fn indexed_height(&self) -> u64;
}

fn encode(height: u64, index: u32) -> [u8; 12] {
    let mut value = [0u8; 12];
    value[..8].copy_from_slice(&height.to_le_bytes());
    value[8..].copy_from_slice(&index.to_le_bytes());
    value
}

fn decode(value: &[u8; 12]) -> (u64, u32) {
    let mut height = [0u8; 8];
    height.copy_from_slice(&value[..8]);
    let mut index = [0u8; 4];
    index.copy_from_slice(&value[8..]);
    (u64::from_le_bytes(height), u32::from_le_bytes(index))
}

/// The index in an immutable archive on disk.
pub struct ArchiveIndex<E: Storage + Metrics + Clock + Spawner> {
    archive: Option<immutable::Archive<E, Digest, [u8; 12]>>,
    /// The next free position in the archive.
    next: u64,
    height: u64,
}

impl<E: Storage + Metrics + Clock + Spawner> ArchiveIndex<E> {
    /// Opens the index in `config`'s partitions; it stands at the last block whose marker was synced.
    pub async fn open(context: E, config: immutable::Config<()>) -> Result<Self, String> {
        let archive: immutable::Archive<E, Digest, [u8; 12]> =
            immutable::Archive::init(context, config).await.map_err(|e| e.to_string())?;
        let next = archive.last_index().map_or(0, |last| last + 1);
        let height = match archive.last_index() {
            Some(last) => archive
                .get(Identifier::Index(last))
                .await
                .map_err(|e| e.to_string())?
                .map_or(0, |value| decode(&value).0),
            None => 0,
        };
        Ok(Self { archive: Some(archive), next, height })
    }
}

fn key(hash: &Hash) -> Digest {
    Digest::from(hash.0)
}

impl<E: Storage + Metrics + Clock + Spawner> TransactionIndex for ArchiveIndex<E> {
    fn record<'a>(
        &'a mut self,
        height: u64,
        block: Hash,
        transactions: &'a [Hash],
    ) -> BoxFuture<'a, Result<(), String>> {
        Box::pin(async move {
            if height <= self.height {
                return Ok(()); // Indexed before a restart.
            }
            let mut archive = self.archive.take().ok_or("the transaction index failed before")?;
            for (index, hash) in transactions.iter().enumerate() {
                archive = archive
                    .put(self.next, key(hash), &encode(height, index as u32))
                    .await
                    .map_err(|e| e.to_string())?;
                self.next += 1;
            }
            archive =
                archive.put(self.next, key(&block), &encode(height, BLOCK_MARKER)).await.map_err(|e| e.to_string())?;
            self.next += 1;
            if height.is_multiple_of(SYNC_EVERY) {
                archive = archive.sync().await.map_err(|e| e.to_string())?;
            }
            self.archive = Some(archive);
            self.height = height;
            Ok(())
        })
    }

    fn find<'a>(&'a self, hash: &'a Hash) -> BoxFuture<'a, Result<Option<(u64, u32)>, String>> {
        Box::pin(async move {
            let archive = self.archive.as_ref().ok_or("the transaction index failed before")?;
            let found = archive.get(Identifier::Key(&key(hash))).await.map_err(|e| e.to_string())?;
            Ok(found.map(|value| decode(&value)).filter(|(_, index)| *index != BLOCK_MARKER))
        })
    }

    fn indexed_height(&self) -> u64 {
        self.height
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::archive_config;
    use commonware_runtime::{Runner as _, Supervisor as _, buffer::paged::CacheRef, deterministic};
    use commonware_utils::{NZU16, NZUsize};
    use veil_primitives::hashing::sha256;

    fn tx(height: u64, index: u32) -> Hash {
        sha256(&[&height.to_le_bytes()[..], &index.to_le_bytes()].concat())
    }

    fn block(height: u64) -> Hash {
        sha256(&height.to_le_bytes())
    }

    async fn open(context: &deterministic::Context) -> ArchiveIndex<deterministic::Context> {
        let cache = CacheRef::new(NZU16!(4096), NZUsize!(64));
        ArchiveIndex::open(context.child("index"), archive_config("test", "transactions", cache, ())).await.unwrap()
    }

    #[test]
    fn finalized_transactions_are_found_after_a_restart_and_unsynced_blocks_are_indexed_again() {
        deterministic::Runner::default().start(|context| async move {
            let mut index = open(&context).await;
            assert_eq!(index.indexed_height(), 0);
            for height in 1..=300 {
                let transactions: Vec<Hash> = (0..(height % 3) as u32).map(|i| tx(height, i)).collect();
                index.record(height, block(height), &transactions).await.unwrap();
            }
            assert_eq!(index.find(&tx(299, 1)).await.unwrap(), Some((299, 1)));
            assert_eq!(index.find(&block(10)).await.unwrap(), None, "a block's own entry is no transaction");
            assert_eq!(index.find(&tx(3, 0)).await.unwrap(), None, "block 3 had none");
            drop(index);

            // Synced through block 256: the node indexes the rest again from the block archive.
            let mut index = open(&context).await;
            assert_eq!(index.indexed_height(), SYNC_EVERY);
            assert_eq!(index.find(&tx(7, 0)).await.unwrap(), Some((7, 0)));
            index.record(SYNC_EVERY, block(SYNC_EVERY), &[tx(SYNC_EVERY, 0)]).await.unwrap();
            for height in SYNC_EVERY + 1..=300 {
                let transactions: Vec<Hash> = (0..(height % 3) as u32).map(|i| tx(height, i)).collect();
                index.record(height, block(height), &transactions).await.unwrap();
            }
            assert_eq!(index.indexed_height(), 300);
            assert_eq!(index.find(&tx(299, 1)).await.unwrap(), Some((299, 1)));
        });
    }
}
