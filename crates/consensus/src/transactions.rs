//! Where finalized transactions are, by hash: on disk, so that a node's start time and memory do
//! not grow with the chain.
//!
//! The index is an archive keyed by hash, its entries numbered in order. Each finalized block adds
//! one entry per transaction (its height and position) and then one for the block itself (keyed by
//! the block's hash, position [`BLOCK_MARKER`]), so a block whose marker is stored is wholly
//! indexed. Writes are synced every [`SYNC_EVERY`] blocks, not per block: after a crash, the node
//! indexes again the blocks after the last durable marker (at most that many), read from the block
//! archive.
//!
//! An archive node keeps every entry (an immutable archive, whose opening verifies its table: about
//! 0.2 s per million entries on the reference machine). A pruning node keeps the entries of the
//! blocks it keeps (a prunable archive, dropped a section at a time with the blocks), so its
//! opening, like its block archives', does not grow with the chain. Its sections count entries,
//! not blocks, so a transaction of a pruned block is found (at its true height) until its section
//! goes, then not found, as the block itself is not.

use commonware_cryptography::sha256::Digest;
use commonware_runtime::{Clock, Metrics, Spawner, Storage};
use commonware_storage::{
    archive::{self, Archive, Identifier, immutable, prunable},
    translator::EightCap,
};
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

/// An archive an index can live in: one that keeps every entry, or one that drops old sections.
pub trait IndexArchive: Archive<Key = Digest, Value = [u8; 12]> + Sync + 'static {
    /// Drops the entries numbered below `min`, as far as whole sections allow (an archive that
    /// keeps everything ignores it).
    fn prune_below(self, min: u64) -> impl Future<Output = Result<Self, archive::Error>> + Send;
}

impl<E: Storage + Metrics + Clock + Spawner> IndexArchive for immutable::Archive<E, Digest, [u8; 12]> {
    async fn prune_below(self, _: u64) -> Result<Self, archive::Error> {
        Ok(self)
    }
}

impl<E: Storage + Metrics + Clock + Spawner> IndexArchive for prunable::Archive<EightCap, E, Digest, [u8; 12]> {
    async fn prune_below(self, min: u64) -> Result<Self, archive::Error> {
        self.prune(min).await
    }
}

/// Which blocks a pruning node's index keeps: the newest `kept`, dropped `section` blocks at a
/// time, as its block archives are.
#[derive(Clone, Copy, Debug)]
pub struct Retention {
    /// How many blocks are kept.
    pub kept: u64,
    /// Blocks pruned at once: the index prunes when a height divisible by it is recorded.
    pub section: u64,
}

impl Retention {
    /// The height below which to prune once block `height` is final: at each section boundary
    /// past the kept blocks (the rule a pruning node's block archives and its index share).
    pub fn prune_below(self, height: u64) -> Option<u64> {
        (height.is_multiple_of(self.section) && height > self.kept).then(|| height - self.kept)
    }
}

/// The index in an archive on disk.
pub struct ArchiveIndex<A: IndexArchive> {
    archive: Option<A>,
    /// The next free entry number.
    next: u64,
    height: u64,
    retention: Option<Retention>,
}

impl<A: IndexArchive> ArchiveIndex<A> {
    /// Opens the index in `archive`; it stands at the last block whose marker was synced. With
    /// `retention`, entries of blocks older than the kept ones are pruned as blocks are recorded.
    pub async fn open(archive: A, retention: Option<Retention>) -> Result<Self, String> {
        let next = archive.last_index().map_or(0, |last| last + 1);
        let height = match archive.last_index() {
            Some(last) => match archive.get(Identifier::Index(last)).await.map_err(|e| e.to_string())? {
                // A block whose marker did not land before a crash is indexed again, whole.
                Some(value) => match decode(&value) {
                    (height, BLOCK_MARKER) => height,
                    (height, _) => height.saturating_sub(1),
                },
                None => 0,
            },
            None => 0,
        };
        Ok(Self { archive: Some(archive), next, height, retention })
    }

    /// The number of the first entry of the first block at or above `height` (`next` if none):
    /// entries are in height order, so a binary search over the retained ones finds it.
    async fn first_entry_at(&self, archive: &A, height: u64) -> Result<u64, String> {
        let (mut low, mut high) = (archive.first_index().unwrap_or(self.next), self.next);
        while low < high {
            let middle = low + (high - low) / 2;
            let at = archive.get(Identifier::Index(middle)).await.map_err(|e| e.to_string())?;
            match at.map(|value| decode(&value).0) {
                Some(found) if found >= height => high = middle,
                // Entries are dense between the first retained one and `next`; a hole (never
                // expected) is treated as older, which prunes less, never more.
                _ => low = middle + 1,
            }
        }
        Ok(low)
    }
}

fn key(hash: &Hash) -> Digest {
    Digest::from(hash.0)
}

impl<A: IndexArchive> TransactionIndex for ArchiveIndex<A> {
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
            if let Some(below) = self.retention.and_then(|retention| retention.prune_below(height)) {
                let first = self.first_entry_at(&archive, below).await?;
                archive = archive.prune_below(first).await.map_err(|e| e.to_string())?;
            }
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
    use crate::engine::{archive_config, recent_config};
    use commonware_runtime::{Runner as _, Supervisor as _, buffer::paged::CacheRef, deterministic};
    use commonware_utils::{NZU16, NZU64, NZUsize};
    use veil_primitives::hashing::sha256;

    fn tx(height: u64, index: u32) -> Hash {
        sha256(&[&height.to_le_bytes()[..], &index.to_le_bytes()].concat())
    }

    fn block(height: u64) -> Hash {
        sha256(&height.to_le_bytes())
    }

    fn transactions(height: u64) -> Vec<Hash> {
        (0..(height % 3) as u32).map(|i| tx(height, i)).collect()
    }

    type Immutable = immutable::Archive<deterministic::Context, Digest, [u8; 12]>;
    type Prunable = prunable::Archive<EightCap, deterministic::Context, Digest, [u8; 12]>;

    async fn immutable(context: &deterministic::Context) -> Immutable {
        let cache = CacheRef::new(NZU16!(4096), NZUsize!(64));
        immutable::Archive::init(context.child("index"), archive_config("test", "transactions", cache, ()))
            .await
            .unwrap()
    }

    /// Sections of 16 entries, so that pruning shows at a test's size.
    async fn prunable(context: &deterministic::Context) -> Prunable {
        let cache = CacheRef::new(NZU16!(4096), NZUsize!(64));
        let config = recent_config("test", "transactions", NZU64!(16), cache, ());
        prunable::Archive::init(context.child("index"), config).await.unwrap()
    }

    #[test]
    fn finalized_transactions_are_found_after_a_restart_and_unsynced_blocks_are_indexed_again() {
        deterministic::Runner::default().start(|context| async move {
            let mut index = ArchiveIndex::open(immutable(&context).await, None).await.unwrap();
            assert_eq!(index.indexed_height(), 0);
            for height in 1..=300 {
                index.record(height, block(height), &transactions(height)).await.unwrap();
            }
            assert_eq!(index.find(&tx(299, 1)).await.unwrap(), Some((299, 1)));
            assert_eq!(index.find(&block(10)).await.unwrap(), None, "a block's own entry is no transaction");
            assert_eq!(index.find(&tx(3, 0)).await.unwrap(), None, "block 3 had none");
            drop(index);

            // Synced through block 256: the node indexes the rest again from the block archive.
            let mut index = ArchiveIndex::open(immutable(&context).await, None).await.unwrap();
            assert_eq!(index.indexed_height(), SYNC_EVERY);
            assert_eq!(index.find(&tx(7, 0)).await.unwrap(), Some((7, 0)));
            index.record(SYNC_EVERY, block(SYNC_EVERY), &[tx(SYNC_EVERY, 0)]).await.unwrap();
            for height in SYNC_EVERY + 1..=300 {
                index.record(height, block(height), &transactions(height)).await.unwrap();
            }
            assert_eq!(index.indexed_height(), 300);
            assert_eq!(index.find(&tx(299, 1)).await.unwrap(), Some((299, 1)));
        });
    }

    #[test]
    fn a_block_whose_marker_did_not_land_is_indexed_again() {
        deterministic::Runner::default().start(|context| async move {
            let mut index = ArchiveIndex::open(prunable(&context).await, None).await.unwrap();
            for height in 1..=SYNC_EVERY {
                index.record(height, block(height), &transactions(height)).await.unwrap();
            }
            drop(index);
            // A crash after block 257's first transaction reached the disk, before its marker.
            let mut archive = prunable(&context).await;
            let next = archive.last_index().unwrap() + 1;
            archive = archive.put(next, key(&tx(257, 0)), &encode(257, 0)).await.unwrap();
            archive.sync().await.unwrap();

            let mut index = ArchiveIndex::open(prunable(&context).await, None).await.unwrap();
            assert_eq!(index.indexed_height(), SYNC_EVERY, "block 257 is not wholly indexed");
            index.record(257, block(257), &[tx(257, 0), tx(257, 1)]).await.unwrap();
            assert_eq!(index.find(&tx(257, 1)).await.unwrap(), Some((257, 1)));
            assert_eq!(index.find(&tx(257, 0)).await.unwrap(), Some((257, 0)));
        });
    }

    #[test]
    fn a_pruning_index_keeps_every_kept_block_and_drops_older_ones() {
        deterministic::Runner::default().start(|context| async move {
            let retention = Retention { kept: 300, section: 64 };
            let mut index = ArchiveIndex::open(prunable(&context).await, Some(retention)).await.unwrap();
            for height in 1..=1_000 {
                index.record(height, block(height), &transactions(height)).await.unwrap();
            }
            // Pruned at block 960 below block 660; whole sections only, so a little more stays.
            for height in 660..=1_000 {
                for (position, hash) in transactions(height).iter().enumerate() {
                    assert_eq!(index.find(hash).await.unwrap(), Some((height, position as u32)), "block {height}");
                }
            }
            for height in 1..600 {
                for hash in transactions(height) {
                    assert_eq!(index.find(&hash).await.unwrap(), None, "block {height} was pruned");
                }
            }
            drop(index);

            // After a restart it stands at its last synced block and keeps pruning.
            let mut index = ArchiveIndex::open(prunable(&context).await, Some(retention)).await.unwrap();
            assert_eq!(index.indexed_height(), 768);
            for height in 769..=1_100 {
                index.record(height, block(height), &transactions(height)).await.unwrap();
            }
            assert_eq!(index.find(&tx(1_100, 1)).await.unwrap(), Some((1_100, 1)));
            assert_eq!(index.find(&tx(790, 0)).await.unwrap(), Some((790, 0)));
            assert_eq!(index.find(&tx(750, 0)).await.unwrap(), None, "pruned at block 1,088 below 788");
        });
    }
}
