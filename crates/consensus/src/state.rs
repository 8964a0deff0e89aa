//! The authenticated public state, in QMDB.
//!
//! Keys are SHA-256 of the chain's state-key bytes (uniform, fixed size); values are the chain's
//! SCALE-encoded values. The committed database holds the state after the last finalized block.
//! Every block proposed or verified on top of it gets a speculative, merkleized batch chained to its
//! parent's, so a header's state root is known before the block is final; finalizing a block
//! applies and commits its batch, and drops the batches it made stale.
//!
//! Proofs (inclusion and exclusion) are served against the committed root, which the latest
//! finalized header commits to; their format and verification live in `veil_light_client::state`,
//! so clients check them without this crate.
//!
//! Execution and the node reach state only through [`AuthenticatedState`]; [`QmdbState`] is its
//! implementation over Commonware's QMDB (`current::ordered`, ALPHA). Everything it holds can be
//! rebuilt by replaying the block archive, and another backend (for example a Jellyfish Merkle
//! tree over redb) can replace it by implementing the trait.

use commonware_codec::Encode as _;
use commonware_cryptography::Sha256;
use commonware_parallel::Sequential;
use commonware_runtime::{Metrics, Spawner, Storage, buffer::paged::CacheRef};
use commonware_storage::{
    journal::contiguous::variable::Config as JournalConfig,
    merkle::full::Config as MerkleConfig,
    qmdb::{
        any::{ordered::Update, value::VariableEncoding},
        current::{VariableConfig, batch::MerkleizedBatch, ordered::variable},
        floor::Proportional,
    },
    translator::EightCap,
};
use commonware_utils::{NZU16, NZU64, NZUsize};
use std::{
    collections::{BTreeSet, HashMap},
    sync::Arc,
};
use veil_chain::{Chain, ChangeSet, Snapshot};
use veil_light_client::state::{BITMAP_CHUNK, Family};
pub use veil_light_client::state::{MAX_STATE_VALUE, StateProof, StateValue, store_key, verify_proof};
use veil_primitives::Hash;

use crate::{
    alias::Digest,
    block::{to_digest, to_hash},
};

/// How many finalized blocks between prunings of the state's operation log.
pub const PRUNE_EVERY_BLOCKS: u64 = 256;

type Db<E> = variable::Db<Family, E, Digest, StateValue, Sha256, EightCap, BITMAP_CHUNK, Sequential>;
type Batch =
    Arc<MerkleizedBatch<Family, Digest, Update<Digest, VariableEncoding<StateValue>>, BITMAP_CHUNK, Sequential>>;

/// Why the state store failed.
#[derive(Debug, thiserror::Error)]
pub enum StateStoreError {
    /// QMDB failed.
    #[error("state database: {0}")]
    Database(String),
    /// A block's parent state is not known here (neither committed nor speculated).
    #[error("no state for parent block {0}")]
    UnknownParent(Hash),
    /// A value the chain wrote is too large to store.
    #[error("state value of {0} bytes exceeds {MAX_STATE_VALUE}")]
    ValueTooLarge(usize),
}

fn db_error(error: impl std::fmt::Display) -> StateStoreError {
    StateStoreError::Database(error.to_string())
}

/// A block's post-state in QMDB, computed but not yet recorded under the block's digest.
pub struct Speculation {
    height: u64,
    batch: Batch,
}

/// Commit metadata: the height whose post-state this is, and (after genesis) the genesis state
/// root, which block 0 carries and a restarted node needs before anything else. Block 0's own
/// commit cannot contain its root, so it records the height alone.
fn commit_metadata(height: u64, genesis_root: Option<&Hash>) -> StateValue {
    let mut bytes = height.to_le_bytes().to_vec();
    if let Some(root) = genesis_root {
        bytes.extend_from_slice(root.as_bytes());
    }
    StateValue(bytes)
}

/// The authenticated public state a validator keeps: committed after the last finalized block,
/// plus the speculative post-state of every block proposed or verified on top of it.
pub trait AuthenticatedState: Send + Sync + 'static {
    /// A block's post-state, computed but not yet recorded under the block's digest.
    type Speculation: Send + Sync;

    /// The root of the genesis state: block 0's state root.
    fn genesis_root(&self) -> Hash;
    /// The root of the committed state.
    fn root(&self) -> Hash;
    /// The last finalized block the committed state belongs to, and its height.
    fn committed(&self) -> (Digest, u64);
    /// Names the block whose post-state is committed (after a restart, from the block archive).
    fn set_committed_digest(&mut self, digest: Digest);
    /// Whether the post-state of block `digest` is known (committed or speculated).
    fn knows(&self, digest: &Digest) -> bool;
    /// Reads `keys` as they are after block `parent`.
    fn read(
        &self,
        parent: &Digest,
        keys: &BTreeSet<Vec<u8>>,
    ) -> impl Future<Output = Result<Snapshot, StateStoreError>> + Send;
    /// Computes the post-state of a block at `height` on `parent` from its `changes`; returns its
    /// root (the state root the header must carry) and the speculation to record.
    fn speculate(
        &self,
        parent: &Digest,
        height: u64,
        changes: &ChangeSet,
    ) -> impl Future<Output = Result<(Hash, Self::Speculation), StateStoreError>> + Send;
    /// Records `speculation` as the post-state of block `digest`.
    fn insert(&mut self, digest: Digest, speculation: Self::Speculation);
    /// Commits the post-state of block `digest` (which must extend the committed state), drops
    /// speculations it made stale, and returns the new committed root.
    fn finalize(&mut self, digest: Digest) -> impl Future<Output = Result<Hash, StateStoreError>> + Send;
    /// A proof of `key`'s committed value (or absence) against the committed root.
    fn prove(&self, key: &[u8]) -> impl Future<Output = Result<StateProof, StateStoreError>> + Send;
}

/// The public state in QMDB: committed after the last finalized block, plus one speculative batch
/// per block proposed or verified since.
pub struct QmdbState<E: Storage + Metrics + Spawner + commonware_runtime::Clock> {
    db: Option<Db<E>>,
    genesis_root: Hash,
    /// Digest of the last finalized block, whose post-state the database holds.
    committed: Digest,
    committed_height: u64,
    pending: HashMap<Digest, (u64, Batch)>,
}

fn config(prefix: &str) -> VariableConfig<EightCap, ((), ()), Sequential> {
    let page_cache = CacheRef::new(NZU16!(4096), NZUsize!(1024));
    VariableConfig {
        merkle_config: MerkleConfig {
            journal_partition: format!("{prefix}-state-mmr-journal"),
            metadata_partition: format!("{prefix}-state-mmr-meta"),
            items_per_blob: NZU64!(4096),
            write_buffer: NZUsize!(1 << 20),
            replay_buffer: NZUsize!(1 << 20),
            strategy: Sequential,
            page_cache: page_cache.clone(),
        },
        journal_config: JournalConfig {
            partition: format!("{prefix}-state-log"),
            items_per_section: NZU64!(4096),
            compression: None,
            codec_config: ((), ()),
            page_cache,
            write_buffer: NZUsize!(1 << 20),
            replay_buffer: NZUsize!(1 << 20),
        },
        grafted_metadata_partition: format!("{prefix}-state-grafted-meta"),
        translator: EightCap,
        init_cache: Some(NZUsize!(1024)),
        init_buffer: NZUsize!(1 << 20),
        init_concurrency: (),
    }
}

fn to_store_writes(changes: &ChangeSet) -> Result<Vec<(Digest, Option<StateValue>)>, StateStoreError> {
    changes
        .iter()
        .map(|(key, value)| {
            if let Some(value) = value
                && value.len() > MAX_STATE_VALUE
            {
                return Err(StateStoreError::ValueTooLarge(value.len()));
            }
            Ok((store_key(key), value.clone().map(StateValue)))
        })
        .collect()
}

impl<E: Storage + Metrics + Spawner + commonware_runtime::Clock> QmdbState<E> {
    /// Opens the state under `prefix`. An empty database receives the genesis state of `chain`.
    /// Returns the store and its committed root.
    pub async fn open(context: E, prefix: &str, chain: &Chain) -> Result<Self, StateStoreError> {
        let mut db = Db::init(context, config(prefix), None).await.map_err(db_error)?;
        let (committed_height, genesis_root) = match db.get_metadata().await.map_err(db_error)? {
            Some(StateValue(bytes)) if bytes.len() == 8 => (0, to_hash(&db.root())),
            Some(StateValue(bytes)) if bytes.len() == 40 => {
                let mut height = [0u8; 8];
                height.copy_from_slice(&bytes[..8]);
                let mut root = [0u8; 32];
                root.copy_from_slice(&bytes[8..]);
                (u64::from_le_bytes(height), Hash(root))
            }
            Some(_) => return Err(db_error("corrupted commit metadata")),
            None => {
                let mut batch = db.new_batch();
                for (key, value) in to_store_writes(&chain.genesis_changes())? {
                    batch = batch.write(key, value);
                }
                let batch =
                    batch.merkleize(&db, Some(commit_metadata(0, None)), &mut Proportional).await.map_err(db_error)?;
                db = db.apply_batch(batch).await.map_err(db_error)?;
                db = db.commit().await.map_err(db_error)?;
                (0, to_hash(&db.root()))
            }
        };
        let genesis = to_digest(chain.genesis_header(genesis_root).hash());
        Ok(Self { db: Some(db), genesis_root, committed: genesis, committed_height, pending: HashMap::new() })
    }

    fn db(&self) -> &Db<E> {
        // Only `finalize` takes the database out, and it always puts it back.
        self.db.as_ref().unwrap_or_else(|| unreachable!("state database is always present between calls"))
    }
}

impl<E: Storage + Metrics + Spawner + commonware_runtime::Clock> AuthenticatedState for QmdbState<E> {
    type Speculation = Speculation;

    fn genesis_root(&self) -> Hash {
        self.genesis_root
    }

    fn root(&self) -> Hash {
        to_hash(&self.db().root())
    }

    fn committed(&self) -> (Digest, u64) {
        (self.committed, self.committed_height)
    }

    fn set_committed_digest(&mut self, digest: Digest) {
        self.committed = digest;
    }

    fn knows(&self, digest: &Digest) -> bool {
        *digest == self.committed || self.pending.contains_key(digest)
    }

    async fn read(&self, parent: &Digest, keys: &BTreeSet<Vec<u8>>) -> Result<Snapshot, StateStoreError> {
        let db = self.db();
        let mut snapshot = Snapshot::default();
        for key in keys {
            let store_key = store_key(key);
            let value = if *parent == self.committed {
                db.get(&store_key).await.map_err(db_error)?
            } else {
                let (_, batch) = self.pending.get(parent).ok_or(StateStoreError::UnknownParent(to_hash(parent)))?;
                batch.get(&store_key, db).await.map_err(db_error)?
            };
            snapshot.insert(key.clone(), value.map(|v| v.0));
        }
        Ok(snapshot)
    }

    async fn speculate(
        &self,
        parent: &Digest,
        height: u64,
        changes: &ChangeSet,
    ) -> Result<(Hash, Speculation), StateStoreError> {
        let db = self.db();
        let mut batch = if *parent == self.committed {
            db.new_batch()
        } else {
            let (_, parent_batch) = self.pending.get(parent).ok_or(StateStoreError::UnknownParent(to_hash(parent)))?;
            parent_batch.new_batch::<Sha256>()
        };
        for (key, value) in to_store_writes(changes)? {
            batch = batch.write(key, value);
        }
        // The commit metadata records which height's post-state this is, so a restart knows.
        let metadata = commit_metadata(height, Some(&self.genesis_root));
        let batch = batch.merkleize(db, Some(metadata), &mut Proportional).await.map_err(db_error)?;
        Ok((to_hash(&batch.root()), Speculation { height, batch }))
    }

    fn insert(&mut self, digest: Digest, speculation: Speculation) {
        self.pending.insert(digest, (speculation.height, speculation.batch));
    }

    async fn finalize(&mut self, digest: Digest) -> Result<Hash, StateStoreError> {
        if digest == self.committed {
            return Ok(self.root());
        }
        let (height, batch) = self.pending.remove(&digest).ok_or(StateStoreError::UnknownParent(to_hash(&digest)))?;
        let db = self.db.take().unwrap_or_else(|| unreachable!("state database is always present between calls"));
        let applied = db.apply_batch(batch).await;
        let mut db = match applied {
            Ok(db) => db.commit().await.map_err(db_error)?,
            Err(error) => return Err(db_error(error)),
        };
        // The operation log keeps every past write until pruned: drop what no current key needs,
        // so disk and the in-memory bitmap stay proportional to the live state, not the history.
        if height.is_multiple_of(PRUNE_EVERY_BLOCKS) {
            let boundary = db.sync_boundary();
            db = db.prune(boundary).await.map_err(db_error)?;
        }
        self.db = Some(db);
        self.committed = digest;
        self.committed_height = height;
        self.pending.retain(|_, (pending_height, _)| *pending_height > height);
        Ok(self.root())
    }

    async fn prove(&self, key: &[u8]) -> Result<StateProof, StateStoreError> {
        let db = self.db();
        let store_key = store_key(key);
        match db.get(&store_key).await.map_err(db_error)? {
            Some(value) => {
                let proof = db.key_value_proof(store_key).await.map_err(db_error)?;
                Ok(StateProof::Inclusion { value: value.0, proof: proof.encode().to_vec() })
            }
            None => {
                let proof = db.exclusion_proof(&store_key).await.map_err(db_error)?;
                Ok(StateProof::Exclusion { proof: proof.encode().to_vec() })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_largest_values_the_chain_writes_fit() {
        use parity_scale_codec::MaxEncodedLen as _;
        assert!(veil_primitives::Message::max_encoded_len() <= super::MAX_STATE_VALUE);
        let code = veil_primitives::contract::MAX_CODE_BYTES + 8;
        assert!(code <= super::MAX_STATE_VALUE);
    }

    use super::*;
    use commonware_runtime::{Runner as _, Supervisor as _, deterministic};
    use veil_chain::{
        ReadState as _, StateKey,
        state::Overlay,
        testing::{self, pair, transfer},
    };
    use veil_primitives::{AccountId, Balance};

    #[test]
    fn speculate_finalize_prove_and_reopen() {
        deterministic::Runner::default().start(|context| async move {
            let (alice, bob) = (pair("//Alice"), pair("//Bob"));
            let test = testing::chain(&[alice.public()], 1_000);
            let chain = test.chain;
            let mut store = QmdbState::open(context.child("state"), "t", &chain).await.unwrap();
            let genesis_root = store.root();
            let (genesis, _) = store.committed();

            // Two blocks on top of genesis, and a competing sibling of the first.
            let keys = chain.keys_touched(&[], &[]);
            let execute = |snapshot: Snapshot, nonce: u64, amount: u128| {
                let tx = transfer(&chain, &alice, nonce, bob.public(), Balance(amount));
                let mut overlay = Overlay::new(&snapshot);
                chain
                    .apply(&mut overlay, &mut veil_chain::Outbox::new(1, 1, 0, chain.genesis().parameters()), &tx)
                    .map(|_| overlay.into_changes())
            };
            let mut touched = keys.clone();
            touched.extend(chain.keys_touched(&[transfer(&chain, &alice, 0, bob.public(), Balance(1))], &[]));
            let first = execute(store.read(&genesis, &touched).await.unwrap(), 0, 10).unwrap();
            let (root_1, speculation) = store.speculate(&genesis, 1, &first).await.unwrap();
            store.insert(Digest::from([1; 32]), speculation);
            let second = execute(store.read(&Digest::from([1; 32]), &touched).await.unwrap(), 1, 20).unwrap();
            let (root_2, speculation) = store.speculate(&Digest::from([1; 32]), 2, &second).await.unwrap();
            store.insert(Digest::from([2; 32]), speculation);
            let sibling = execute(store.read(&genesis, &touched).await.unwrap(), 0, 99).unwrap();
            let (sibling_root, speculation) = store.speculate(&genesis, 1, &sibling).await.unwrap();
            store.insert(Digest::from([9; 32]), speculation);
            assert!(genesis_root != root_1 && root_1 != root_2 && root_1 != sibling_root);
            assert!(matches!(
                store.read(&Digest::from([7; 32]), &touched).await,
                Err(StateStoreError::UnknownParent(_))
            ));

            assert_eq!(store.finalize(Digest::from([1; 32])).await.unwrap(), root_1);
            assert!(!store.knows(&Digest::from([9; 32])), "the sibling is dropped");
            assert_eq!(store.finalize(Digest::from([2; 32])).await.unwrap(), root_2);
            let bob_key = StateKey::Account(bob.public()).to_bytes();
            let snapshot = store.read(&Digest::from([2; 32]), &BTreeSet::from([bob_key.clone()])).await.unwrap();
            assert_eq!(snapshot.account(&bob.public()).unwrap().balance, Balance(30));

            // Inclusion of Bob, exclusion of a stranger, both against the committed root.
            let proof = store.prove(&bob_key).await.unwrap();
            assert!(matches!(proof, StateProof::Inclusion { .. }));
            assert!(verify_proof(&root_2, &bob_key, &proof));
            assert!(!verify_proof(&root_1, &bob_key, &proof), "an older root does not verify");
            let StateProof::Inclusion { value, proof: bytes } = proof.clone() else { unreachable!() };
            let mut forged = value.clone();
            forged[10] ^= 1;
            assert!(!verify_proof(&root_2, &bob_key, &StateProof::Inclusion { value: forged, proof: bytes.clone() }));
            let stranger = StateKey::Account(AccountId([0x55; 32])).to_bytes();
            let absent = store.prove(&stranger).await.unwrap();
            assert!(matches!(absent, StateProof::Exclusion { .. }));
            assert!(verify_proof(&root_2, &stranger, &absent));
            assert!(
                !verify_proof(&root_2, &bob_key, &absent),
                "an exclusion proof for one key says nothing of another"
            );
            assert!(!verify_proof(
                &root_2,
                &bob_key,
                &StateProof::Inclusion { value, proof: bytes[..bytes.len() / 2].to_vec() }
            ));

            // Reopening keeps the committed state and does not apply genesis again.
            drop(store);
            let reopened = QmdbState::open(context.child("state2"), "t", &chain).await.unwrap();
            assert_eq!(reopened.root(), root_2);
            assert_eq!(reopened.committed().1, 2, "the commit metadata names the height");
            assert_eq!(reopened.genesis_root(), genesis_root);
        });
    }
}
