//! Wiring one validator: archives, marshal, buffered broadcast, backfill, and simplex consensus
//! with BLS threshold certificates, on any p2p network (simulated in tests, authenticated in the
//! node) and any Commonware runtime.
//!
//! Channel numbers (every validator must agree): 0 votes, 1 certificates, 2 consensus resolver,
//! 3 block broadcast, 4 marshal backfill.

use commonware_broadcast::buffered;
use commonware_consensus::{
    Reporters,
    marshal::{
        self,
        core::Actor as MarshalActor,
        standard::Inline,
        store::{Blocks, Certificates},
    },
    simplex::{
        self,
        config::{Floor, ForwardPolicy, SkipPolicy},
        elector::RoundRobin,
    },
    types::{Epoch, FixedEpocher, Height, ViewDelta},
};
use commonware_cryptography::{Digested, Digestible as _, Sha256, certificate::ConstantProvider};
use commonware_p2p::{Blocker, Provider, Receiver, Sender};
use commonware_parallel::Sequential;
use commonware_runtime::{Clock, Metrics, Spawner, Storage, buffer::paged::CacheRef};
use commonware_storage::{
    archive::{Identifier as ArchiveIdentifier, immutable, prunable},
    translator::EightCap,
};
use commonware_utils::{NZDuration, NZU16, NZU64, NZUsize};
use std::{num::NonZeroU64, time::Duration};
use veil_chain::Chain;
use veil_mempool::{Limits, Mempool};
use veil_primitives::{Block, Hash};

use crate::{
    alias::{Digest, Finalization, PublicKey, Scheme},
    application::{Finalizer, NodeHandle, NodeState, run_finalizer},
    block::{ConsensusBlock, to_digest},
    seeds::{SeedRecorder, Seeds},
    state::{AuthenticatedState, QmdbState, StateStoreError},
    transactions::{ArchiveIndex, Retention, SYNC_EVERY, TransactionIndex},
};

/// Channel numbers.
pub mod channel {
    /// Consensus votes.
    pub const VOTES: u64 = 0;
    /// Consensus certificates.
    pub const CERTIFICATES: u64 = 1;
    /// Consensus certificate fetching.
    pub const RESOLVER: u64 = 2;
    /// Block broadcast.
    pub const BROADCAST: u64 = 3;
    /// Marshal backfill of finalized blocks.
    pub const BACKFILL: u64 = 4;
}

/// The consensus timing of a network.
#[derive(Clone, Copy, Debug)]
pub struct Timeouts {
    /// How long to wait for a leader's proposal.
    pub leader: Duration,
    /// How long to wait for a proposal to certify.
    pub certification: Duration,
    /// How often to rebroadcast a nullify vote.
    pub retry: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Self { leader: Duration::from_secs(1), certification: Duration::from_secs(2), retry: Duration::from_secs(5) }
    }
}

/// How much of the chain's history a validator keeps on disk.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum History {
    /// Every finalized block and its certificate: the node serves any block, and new validators
    /// can sync from genesis through it.
    #[default]
    Archive,
    /// The newest `n` finalized blocks (at least [`MIN_RECENT_BLOCKS`]) and their certificates;
    /// older ones are pruned a section at a time (see [`History::section`]), so up to a section
    /// more may remain, and the transaction index with them (see [`crate::transactions`]); a
    /// request for a pruned block is answered as not found. Topic proofs need the blocks of the last
    /// [`crate::application::TOPIC_HISTORY_BLOCKS`] heights and up to 256 below them: the node's
    /// configuration keeps at least 4,096.
    Recent(NonZeroU64),
}

/// The fewest blocks a pruning node keeps: the blocks its transaction index may have to index
/// again after a crash (it is synced every [`SYNC_EVERY`] blocks) must still be there.
pub const MIN_RECENT_BLOCKS: u64 = SYNC_EVERY;

/// The most blocks per section of a pruning node's archives: what it prunes at once.
pub const RECENT_SECTION_BLOCKS: u64 = 4096;

impl History {
    /// What a pruning node keeps and how it prunes (`None`: an archive node keeps everything).
    pub fn retention(self) -> Option<Retention> {
        match self {
            Self::Archive => None,
            Self::Recent(keep) => Some(Retention { kept: Self::kept(keep), section: Self::section(keep).get() }),
        }
    }

    /// How many blocks a pruning node asked to keep `n` keeps.
    pub fn kept(n: NonZeroU64) -> u64 {
        n.get().max(MIN_RECENT_BLOCKS)
    }

    /// Blocks per section of a pruning node's archives: what it keeps rounded down to a power of
    /// two, at most [`RECENT_SECTION_BLOCKS`] (a node keeping at least that many always uses that
    /// size, which the archives' layout requires to stay fixed).
    pub fn section(n: NonZeroU64) -> NonZeroU64 {
        let kept = Self::kept(n);
        let power = 1u64 << (63 - kept.leading_zeros());
        NonZeroU64::new(power.min(RECENT_SECTION_BLOCKS)).unwrap_or(NZU64!(1))
    }
}

/// One validator's configuration.
pub struct ValidatorConfig {
    /// The chain's rules.
    pub chain: Chain,
    /// This validator's identity.
    pub identity: PublicKey,
    /// This validator's signing scheme (its threshold share).
    pub scheme: Scheme,
    /// Prefix of every storage partition (unique per validator when several share a runtime).
    pub partition_prefix: String,
    /// Mempool limits.
    pub mempool: Limits,
    /// Consensus timing.
    pub timeouts: Timeouts,
    /// How much history to keep.
    pub history: History,
}

/// The p2p channels a validator needs: (sender, receiver) pairs.
pub struct Channels<S, R> {
    /// Consensus votes.
    pub votes: (S, R),
    /// Consensus certificates.
    pub certificates: (S, R),
    /// Consensus certificate fetching.
    pub resolver: (S, R),
    /// Block broadcast.
    pub broadcast: (S, R),
    /// Marshal backfill.
    pub backfill: (S, R),
}

/// Why a validator could not start.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// Storage failed.
    #[error("storage: {0}")]
    Storage(String),
    /// The state store failed.
    #[error(transparent)]
    State(#[from] StateStoreError),
    /// The identity key does not match the validator's configured identity.
    #[error("the identity key does not belong to this validator's configured identity")]
    IdentityMismatch,
    /// The genesis network key is not a valid BLS12-381 key.
    #[error("genesis network key: {0}")]
    NetworkKey(String),
    /// The state database is ahead of the block archive: data from different runs.
    #[error("state is at height {0}, but no finalized block at that height is stored")]
    MissingCommittedBlock(u64),
    /// The transaction index is further behind than the blocks a pruning node kept.
    #[error(
        "the transaction index stops at block {indexed}, but block {missing} is no longer stored \
         (pruned): the index cannot catch up"
    )]
    IndexBehindPruned {
        /// The last block the index holds.
        indexed: u64,
        /// The first block it needs that is gone.
        missing: u64,
    },
    /// The data directory holds the other kind of history than the configuration asks for.
    #[error(
        "this data directory was made by {found} node, but the configuration asks for {wanted}: \
         keep the setting it was made with, or start from an empty data directory"
    )]
    HistoryChanged {
        /// What the directory holds.
        found: &'static str,
        /// What the configuration asks for.
        wanted: &'static str,
    },
}

/// What kind of node made or asks for a data directory, for [`EngineError::HistoryChanged`].
fn node_kind(archive: bool) -> &'static str {
    if archive { "an archive" } else { "a pruning" }
}

pub(crate) fn archive_config<C>(
    prefix: &str,
    name: &str,
    page_cache: CacheRef,
    codec_config: C,
) -> immutable::Config<C> {
    immutable::Config {
        metadata_partition: format!("{prefix}-{name}-metadata"),
        freezer_table_partition: format!("{prefix}-{name}-freezer-table"),
        freezer_table_initial_size: 1 << 14,
        freezer_table_resize_frequency: 4,
        freezer_table_resize_chunk_size: 1 << 12,
        freezer_key_partition: format!("{prefix}-{name}-freezer-key"),
        freezer_key_page_cache: page_cache,
        freezer_value_partition: format!("{prefix}-{name}-freezer-value"),
        freezer_value_target_size: 1 << 30,
        freezer_value_compression: Some(3),
        ordinal_partition: format!("{prefix}-{name}-ordinal"),
        items_per_section: NZU64!(1 << 16),
        freezer_key_write_buffer: NZUsize!(1 << 20),
        freezer_value_write_buffer: NZUsize!(1 << 20),
        ordinal_write_buffer: NZUsize!(1 << 20),
        replay_buffer: NZUsize!(1 << 20),
        codec_config,
    }
}

/// Entries per section of a pruning node's transaction index: what it can drop at once (entries
/// are numbered in order, not by height, so sections are counted in entries). Small enough that
/// an idle chain's index holds about what a young chain's does (65,536 made a node at 500,000
/// blocks open 13% slower than one at 10,000), large enough that a full window (4,096 blocks of
/// 2,048 transactions) stays at 512 sections.
const INDEX_SECTION_ENTRIES: NonZeroU64 = NZU64!(1 << 14);

/// A pruning node's archive named `name`, in sections of `section` heights.
pub(crate) fn recent_config<C>(
    prefix: &str,
    name: &str,
    section: NonZeroU64,
    page_cache: CacheRef,
    codec_config: C,
) -> prunable::Config<EightCap, C> {
    prunable::Config {
        translator: EightCap,
        metadata_partition: format!("{prefix}-{name}-recent-metadata"),
        key_partition: format!("{prefix}-{name}-recent-key"),
        key_page_cache: page_cache,
        value_partition: format!("{prefix}-{name}-recent-value"),
        compression: Some(3),
        codec_config,
        items_per_section: section,
        key_write_buffer: NZUsize!(1 << 20),
        value_write_buffer: NZUsize!(1 << 20),
        replay_buffer: NZUsize!(1 << 20),
    }
}

/// Whether `partition` holds any blob (a partition never written does not exist).
async fn holds_data<E: Storage>(context: &E, partition: &str) -> Result<bool, EngineError> {
    match context.scan(partition).await {
        Ok(blobs) => Ok(!blobs.is_empty()),
        Err(commonware_runtime::Error::PartitionMissing(_)) => Ok(false),
        Err(error) => Err(EngineError::Storage(format!("{partition}: {error}"))),
    }
}

/// Refuses to start with a history setting other than the one the data directory was made with:
/// the other kind's archives would be ignored, and the node would stand without its blocks.
async fn check_history<E: Storage>(context: &E, prefix: &str, history: History) -> Result<(), EngineError> {
    let archive = holds_data(context, &format!("{prefix}-blocks-ordinal")).await?;
    let recent = holds_data(context, &format!("{prefix}-blocks-recent-key")).await?;
    match (archive, recent) {
        (false, false) => Ok(()),
        (true, true) => Err(EngineError::Storage(
            "the data directory holds both an archive node's and a pruning node's blocks: \
             it was not made by one node"
                .into(),
        )),
        (archive, _) if archive == (history == History::Archive) => Ok(()),
        (archive, _) => Err(EngineError::HistoryChanged {
            found: node_kind(archive),
            wanted: node_kind(history == History::Archive),
        }),
    }
}

/// How far below a height to look for a stored finalization certificate: marshal does not keep one
/// for every height (ancestors can finalize through a descendant's certificate).
const CERTIFICATE_SEARCH_DEPTH: u64 = 256;

/// A running validator, as the node's API sees it: the shared state, and the finalized blocks and
/// certificates marshal stores.
pub struct Validator<S: AuthenticatedState> {
    node: NodeHandle<S>,
    marshal: marshal::core::Mailbox<Scheme, marshal::standard::Standard<ConsensusBlock>>,
}

impl<S: AuthenticatedState> Clone for Validator<S> {
    fn clone(&self) -> Self {
        Self { node: self.node.clone(), marshal: self.marshal.clone() }
    }
}

impl<S: AuthenticatedState> Validator<S> {
    /// The shared state: mempool, committed state, finalized head.
    pub fn node(&self) -> &NodeHandle<S> {
        &self.node
    }

    /// The finalized block at `height`.
    pub async fn block(&self, height: u64) -> Option<Block> {
        let block: Option<Digested<ConsensusBlock>> =
            self.marshal.get_block(marshal::Identifier::Height(Height::new(height))).await;
        block.map(|b| b.inner().block().clone())
    }

    /// The finalized block whose header hashes to `hash`.
    pub async fn block_by_hash(&self, hash: &Hash) -> Option<Block> {
        let block: Option<Digested<ConsensusBlock>> =
            self.marshal.get_block(marshal::Identifier::Digest(to_digest(*hash))).await;
        block.map(|b| b.inner().block().clone())
    }

    /// The highest finalized block at or below `height` that has a stored finalization
    /// certificate, with the certificate's encoding (proposal then threshold signature).
    pub async fn certified_block(&self, height: u64) -> Option<(Block, Vec<u8>)> {
        let lowest = height.saturating_sub(CERTIFICATE_SEARCH_DEPTH).max(1);
        for candidate in (lowest..=height).rev() {
            if let Some(finalization) = self.marshal.get_finalization(Height::new(candidate)).await {
                let block = self.block(candidate).await?;
                return Some((block, commonware_codec::Encode::encode(&finalization).to_vec()));
            }
        }
        None
    }
}

/// Opens storage, recovers state, and starts every actor of one validator.
pub async fn start<E, S, R, B, P>(
    context: E,
    config: ValidatorConfig,
    channels: Channels<S, R>,
    blocker: B,
    peers: P,
) -> Result<Validator<QmdbState<E>>, EngineError>
where
    E: Storage + Metrics + Spawner + Clock + commonware_runtime::Network + rand::CryptoRng,
    S: Sender<PublicKey = PublicKey>,
    R: Receiver<PublicKey = PublicKey>,
    B: Blocker<PublicKey = PublicKey>,
    P: Provider<PublicKey = PublicKey>,
{
    let prefix = config.partition_prefix.as_str();
    let page_cache = CacheRef::new(NZU16!(4096), NZUsize!(4096));
    let state = QmdbState::open(context.child("state"), prefix, &config.chain).await?;
    let genesis = Block {
        header: config.chain.genesis_header(state.genesis_root()),
        transactions: Default::default(),
        egress: Default::default(),
    };
    let genesis_digest = to_digest(genesis.header.hash());
    let genesis = Digested::precomputed(ConsensusBlock::new(genesis), genesis_digest);

    let storage = |e: commonware_storage::archive::Error| EngineError::Storage(e.to_string());
    check_history(&context, prefix, config.history).await?;
    let stores = Stores { state, genesis, page_cache };
    match config.history {
        History::Archive => {
            let finalizations: immutable::Archive<E, Digest, Finalization> = immutable::Archive::init(
                context.child("finalizations"),
                archive_config(prefix, "finalizations", stores.page_cache.clone(), ()),
            )
            .await
            .map_err(storage)?;
            let blocks: immutable::Archive<E, Digest, std::sync::Arc<ConsensusBlock>> = immutable::Archive::init(
                context.child("blocks"),
                archive_config(prefix, "blocks", stores.page_cache.clone(), ()),
            )
            .await
            .map_err(storage)?;
            run(context, config, channels, blocker, peers, stores, finalizations, blocks).await
        }
        History::Recent(keep) => {
            let section = History::section(keep);
            let finalizations: prunable::Archive<EightCap, E, Digest, Finalization> = prunable::Archive::init(
                context.child("finalizations"),
                recent_config(prefix, "finalizations", section, stores.page_cache.clone(), ()),
            )
            .await
            .map_err(storage)?;
            let blocks: prunable::Archive<EightCap, E, Digest, std::sync::Arc<ConsensusBlock>> =
                prunable::Archive::init(
                    context.child("blocks"),
                    recent_config(prefix, "blocks", section, stores.page_cache.clone(), ()),
                )
                .await
                .map_err(storage)?;
            run(context, config, channels, blocker, peers, stores, finalizations, blocks).await
        }
    }
}

/// What [`start`] opened before choosing the block archives.
struct Stores<E: Storage + Metrics + Spawner + Clock> {
    state: QmdbState<E>,
    genesis: Digested<ConsensusBlock>,
    page_cache: CacheRef,
}

/// Recovers and starts every actor on the chosen block archives.
#[allow(clippy::too_many_arguments)]
async fn run<E, S, R, B, P, FC, FB>(
    context: E,
    config: ValidatorConfig,
    channels: Channels<S, R>,
    blocker: B,
    peers: P,
    stores: Stores<E>,
    finalizations: FC,
    blocks: FB,
) -> Result<Validator<QmdbState<E>>, EngineError>
where
    E: Storage + Metrics + Spawner + Clock + commonware_runtime::Network + rand::CryptoRng,
    S: Sender<PublicKey = PublicKey>,
    R: Receiver<PublicKey = PublicKey>,
    B: Blocker<PublicKey = PublicKey>,
    P: Provider<PublicKey = PublicKey>,
    FC: Certificates<BlockDigest = Digest, Commitment = Digest, Scheme = Scheme>,
    FB: Blocks<Block = std::sync::Arc<ConsensusBlock>>,
{
    let prefix = config.partition_prefix.as_str();
    let Stores { state, genesis, page_cache } = stores;
    let genesis_digest = genesis.digest();
    // Recover: the state store knows the height it holds; the blocks archive (marshal stores
    // finalized blocks by height) has that block. Read it before marshal takes the archive.
    let mut state = state;
    let committed_height = state.committed().1;
    let stored = |height: u64| {
        let blocks = &blocks;
        async move {
            Blocks::get(blocks, ArchiveIdentifier::Index(height)).await.map_err(|e| EngineError::Storage(e.to_string()))
        }
    };
    let committed = if committed_height == 0 {
        genesis.inner().block().header.clone()
    } else {
        let block = stored(committed_height).await?.ok_or(EngineError::MissingCommittedBlock(committed_height))?;
        state.set_committed_digest(block.digest());
        block.block().header.clone()
    };
    let storage = |e: commonware_storage::archive::Error| EngineError::Storage(e.to_string());
    // Twelve-byte values gain nothing from compression (a zstd frame outweighs them).
    let index_context = context.child("transactions");
    let transactions: Box<dyn TransactionIndex> = match config.history {
        History::Archive => {
            let archive = immutable::Archive::init(
                index_context,
                immutable::Config {
                    freezer_value_compression: None,
                    ..archive_config(prefix, "transactions", page_cache.clone(), ())
                },
            )
            .await
            .map_err(storage)?;
            Box::new(ArchiveIndex::open(archive, None).await.map_err(EngineError::Storage)?)
        }
        History::Recent(_) => {
            let archive = prunable::Archive::init(
                index_context,
                prunable::Config {
                    compression: None,
                    ..recent_config(prefix, "transactions", INDEX_SECTION_ENTRIES, page_cache.clone(), ())
                },
            )
            .await
            .map_err(storage)?;
            Box::new(ArchiveIndex::open(archive, config.history.retention()).await.map_err(EngineError::Storage)?)
        }
    };
    let mut node_state = NodeState::new(
        config.chain.clone(),
        state,
        Mempool::new(config.chain.clone(), config.mempool),
        committed,
        transactions,
    );
    // The index is synced every few blocks: index again the ones after its last durable block. A
    // pruning node indexes only the blocks it still holds (the entries of older ones are pruned).
    let indexed = node_state.indexed_height();
    let mut first = indexed + 1;
    if let (History::Recent(_), (None, Some(held))) = (config.history, blocks.next_gap(Height::new(first))) {
        first = first.max(held.get());
    }
    for height in first..=committed_height {
        let block = stored(height).await?.ok_or(EngineError::IndexBehindPruned { indexed, missing: height })?;
        node_state.index_block(block.block()).await.map_err(EngineError::Storage)?;
    }

    let epocher = FixedEpocher::new(NZU64!(u64::MAX));
    let (marshal_actor, marshal, _floor) = MarshalActor::init(
        context.child("marshal"),
        finalizations,
        blocks,
        marshal::Config {
            provider: ConstantProvider::<Scheme, Epoch>::new(config.scheme.clone()),
            epocher: epocher.clone(),
            start: marshal::Start::Genesis(genesis.clone()),
            partition_prefix: format!("{prefix}-marshal"),
            mailbox_size: NZUsize!(1024),
            view_retention: ViewDelta::new(2560),
            prunable_items_per_section: NZU64!(4096),
            page_cache: page_cache.clone(),
            replay_buffer: NZUsize!(1 << 20),
            key_write_buffer: NZUsize!(1 << 20),
            value_write_buffer: NZUsize!(1 << 20),
            block_codec_config: (),
            max_repair: NZUsize!(16),
            max_pending_acks: NZUsize!(16),
            strategy: Sequential,
        },
    )
    .await;

    let seeds = Seeds::default();
    let node = NodeHandle::new(node_state, seeds.clone()).map_err(EngineError::NetworkKey)?;

    let (buffer_engine, buffer) = buffered::Engine::<_, PublicKey, ConsensusBlock, _, _>::new(
        context.child("buffer"),
        buffered::Config {
            public_key: config.identity.clone(),
            mailbox_size: NZUsize!(1024),
            deque_size: 16,
            priority: false,
            codec_config: (),
            peer_provider: peers.clone(),
            strategy: Sequential,
        },
    );
    buffer_engine.start(channels.broadcast);

    let backfill = marshal::resolver::p2p::init(
        context.child("backfill"),
        marshal::resolver::p2p::Config {
            public_key: config.identity.clone(),
            peer_provider: peers,
            blocker: blocker.clone(),
            mailbox_size: NZUsize!(1024),
            fetch_timeout: NZDuration!(Duration::from_secs(2)),
            fetch_retry_delay: Duration::from_millis(100),
            priority_requests: false,
            priority_responses: false,
        },
        channels.backfill,
    );

    let (finalizer, queue) = Finalizer::new();
    context.child("finalizer").spawn({
        let node = node.clone();
        let (marshal, history) = (marshal.clone(), config.history);
        move |_| {
            run_finalizer(node, queue, move |height| {
                // A pruning node drops a section once the newest `keep` blocks lie above it.
                if let Some(below) = history.retention().and_then(|retention| retention.prune_below(height)) {
                    marshal.prune(Height::new(below));
                }
            })
        }
    });
    let application = Inline::new(context.child("application"), node.clone(), marshal.clone(), epocher);
    marshal_actor.start(finalizer, buffer, backfill);

    let timeouts = config.timeouts;
    let engine = simplex::Engine::new(
        context.child("consensus"),
        simplex::Config {
            scheme: config.scheme,
            elector: RoundRobin::<Sha256>::default(),
            blocker,
            automaton: application.clone(),
            relay: application.clone(),
            reporter: Reporters::from((application, SeedRecorder::new(seeds))),
            track_historical_votes: false,
            strategy: Sequential,
            partition: format!("{prefix}-consensus"),
            mailbox_size: NZUsize!(1024),
            epoch: Epoch::zero(),
            floor: Floor::Genesis(genesis_digest),
            replay_buffer: NZUsize!(1 << 20),
            write_buffer: NZUsize!(1 << 20),
            page_cache,
            leader_timeout: timeouts.leader,
            certification_timeout: timeouts.certification,
            timeout_retry: timeouts.retry,
            view_retention: ViewDelta::new(256),
            skip: SkipPolicy::Disabled,
            fetch_timeout: NZDuration!(Duration::from_secs(2)),
            fetch_retry_delay: Duration::from_millis(100),
            forward: ForwardPolicy::Disabled,
        },
    );
    engine.start(channels.votes, channels.certificates, channels.resolver);
    Ok(Validator { node, marshal })
}
