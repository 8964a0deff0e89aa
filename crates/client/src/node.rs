//! A node's REST API, with every read of the public state verified.

use parity_scale_codec::Encode as _;
use std::time::{Duration, Instant};
use veil_api::{
    node::{
        AccountView, BlockView, CertifiedBlock, ChainInfo, ClusterView, ContractModuleView, ContractView,
        ProvenStateView, SenderView, SnapshotBody, SnapshotView, SubmitEgressRequest, SubmitRequest, SubmitResponse,
        TopicMessagesView, TopicQuery, TransactionStatusView, WorkerView,
    },
    paths::node as paths,
};
use veil_crypto::AccountPair;
use veil_light_client::state::{StateProof, verify_state};
use veil_primitives::{
    AccountId, Block, Call, ClusterId, ContractId, Hash, Header, Message, Parameters, SenderId, SignedEgress,
    SignedTransaction, Topic, Transaction, epoch::SealedSnapshot, log::LogPeaks, registration::Measurement,
    topics::TopicProof,
};
use veil_types::{
    AccountInfo, ClusterInfo, ContractInfo, EpochState, ReadState, Snapshot, StateError, StateKey, WorkerInfo,
};

use crate::{
    Error, Network,
    endpoint::{Endpoint, hex_field, scale_field},
    hex0x,
};

/// How long a read waits for the first certified block of a new chain.
const CERTIFICATE_WAIT: Duration = Duration::from_secs(20);

/// How far below the newest certified block [`Node::block`] follows parent hashes.
pub const MAX_HASH_CHAIN: u64 = 1_024;

/// A block from a node's block view (its SCALE encoding in `encoded`).
fn decode_block(view: &BlockView) -> Result<Block, Error> {
    scale_field(&view.encoded, "block")
}

/// A node's REST API as it answers, typed but unverified: what a relayer or a display needs.
/// [`Node`] builds on it and checks every read of the public state.
#[derive(Clone, Debug)]
pub struct NodeApi {
    endpoint: Endpoint,
}

impl NodeApi {
    /// The node at `url` (`http://host:port`); nothing is sent yet.
    pub fn new(url: &str) -> Result<Self, Error> {
        Ok(Self { endpoint: Endpoint::new(url, "node")? })
    }

    /// Its URL.
    pub fn url(&self) -> &str {
        self.endpoint.url()
    }

    /// The chain's identity, newest finalized height and issuance.
    pub fn chain(&self) -> Result<ChainInfo, Error> {
        self.endpoint.get(paths::CHAIN)
    }

    /// An account's nonce and balance as the node states them (with a proof [`Node::account`]
    /// checks).
    pub fn account(&self, account: &AccountId) -> Result<AccountView, Error> {
        self.endpoint.get(&paths::account(account))
    }

    /// Signs `call` as `signer` with the nonce and chain id the node states, and submits it: for
    /// callers that verify nothing (a relayer). A lying node only gets a transaction that never
    /// applies.
    pub fn sign_and_submit(&self, signer: &AccountPair, call: Call) -> Result<SubmitResponse, Error> {
        let genesis: Hash = self.chain()?.chain_id.parse().map_err(|e| Error::Malformed(format!("chain id: {e}")))?;
        let nonce = self.account(&signer.public())?.nonce;
        self.submit(&signer.sign_transaction(Transaction { genesis, signer: signer.public(), nonce, call }))
    }

    /// Submits a signed transaction to the pool.
    pub fn submit(&self, transaction: &SignedTransaction) -> Result<SubmitResponse, Error> {
        let body = SubmitRequest { transaction: hex0x(transaction.encode()) };
        self.endpoint.send_json("POST", paths::TRANSACTIONS, &body)
    }

    /// Where a transaction stands.
    pub fn transaction(&self, hash: &Hash) -> Result<TransactionStatusView, Error> {
        self.endpoint.get(&paths::transaction(hash))
    }

    /// The newest finalized block with its finalization certificate.
    pub fn latest_block(&self) -> Result<CertifiedBlock, Error> {
        self.endpoint.get(paths::LATEST_BLOCK)
    }

    /// The finalized block at `height`.
    pub fn block(&self, height: u64) -> Result<BlockView, Error> {
        self.endpoint.get(&paths::block(height))
    }

    /// A state key's value with its proof (`key` is the key's SCALE encoding).
    pub fn state(&self, key: &[u8]) -> Result<ProvenStateView, Error> {
        self.endpoint.get(&paths::state(hex0x(key)))
    }

    /// A registered worker.
    pub fn worker(&self, identity: &[u8; 32]) -> Result<WorkerView, Error> {
        self.endpoint.get(&paths::worker(hex0x(identity)))
    }

    /// A contract's record.
    pub fn contract(&self, contract: &ContractId) -> Result<ContractView, Error> {
        self.endpoint.get(&paths::contract(contract))
    }

    /// A contract's module and interface.
    pub fn contract_module(&self, contract: &ContractId) -> Result<ContractModuleView, Error> {
        self.endpoint.get(&paths::contract_module(contract))
    }

    /// A cluster's workers and their liveness.
    pub fn cluster(&self, cluster: ClusterId) -> Result<ClusterView, Error> {
        self.endpoint.get(&paths::cluster(cluster.0))
    }

    /// An egress sender's key and next sequence number.
    pub fn sender(&self, sender: &SenderId) -> Result<SenderView, Error> {
        self.endpoint.get(&paths::sender(sender))
    }

    /// Submits a runtime's signed egress copy.
    pub fn submit_egress(&self, copy: &SignedEgress) -> Result<SubmitResponse, Error> {
        let body = SubmitEgressRequest { egress: hex0x(copy.encode()) };
        self.endpoint.send_json("POST", paths::EGRESS, &body)
    }

    /// The newest sealed snapshot stored for `cluster`.
    pub fn snapshot(&self, cluster: ClusterId) -> Result<SnapshotView, Error> {
        self.endpoint.get(&paths::snapshot(cluster.0))
    }

    /// Stores a sealed snapshot of its cluster.
    pub fn put_snapshot(&self, snapshot: &SealedSnapshot) -> Result<(), Error> {
        let body = SnapshotBody { snapshot: hex0x(snapshot.encode()) };
        self.endpoint.send_json("PUT", &paths::snapshot(snapshot.cluster.0), &body)
    }

    /// A page of a topic's messages, as `query` asks (from an index or from the log's end, at a
    /// height or the newest, of at most a number of messages).
    pub fn topic_messages(&self, topic: &Topic, query: &TopicQuery) -> Result<TopicMessagesView, Error> {
        self.endpoint.get(&paths::topic_page(topic, query))
    }
}

/// A value read from the public state and proven against a header whose finalization certificate
/// verified under the network key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Proven<T> {
    /// The value.
    pub value: T,
    /// The certified header it was proven against (the state after that block).
    pub header: Header,
}

/// A submitted transaction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Submitted {
    /// Its hash.
    pub hash: Hash,
    /// The nonce it carries.
    pub nonce: u64,
}

/// Where a transaction stands at a node.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TransactionState {
    /// In the node's pool, not yet in a finalized block.
    Pending,
    /// In the finalized block at `height`, at position `index`.
    Finalized {
        /// The block height.
        height: u64,
        /// The position in the block.
        index: u32,
    },
}

/// A node of one network.
#[derive(Clone, Debug)]
pub struct Node {
    api: NodeApi,
    network: Network,
}

impl Node {
    /// Connects to the node at `url` (`http://host:port`) and checks that it serves `network`.
    pub fn connect(url: &str, network: Network) -> Result<Self, Error> {
        let node = Self { api: NodeApi::new(url)?, network };
        let chain = node.api.chain()?.chain_id;
        let expected = node.network.chain_id().to_string();
        if chain != expected {
            return Err(Error::WrongChain { url: node.url().to_owned(), node: chain, expected });
        }
        Ok(node)
    }

    /// The node's URL.
    pub fn url(&self) -> &str {
        self.api.url()
    }

    /// The node's API as it answers, unverified.
    pub fn api(&self) -> &NodeApi {
        &self.api
    }

    /// The network it serves.
    pub fn network(&self) -> &Network {
        &self.network
    }

    /// The newest finalized height the node reports (unverified: a hint, for example a query's
    /// `known_height`).
    pub fn finalized_height(&self) -> Result<u64, Error> {
        Ok(self.api.chain()?.finalized_height)
    }

    /// Reads state key `key` with its proof, and checks the certificate, the header and the proof.
    /// `None`: the key holds nothing (proven absent).
    pub fn read(&self, key: StateKey) -> Result<Proven<Option<Vec<u8>>>, Error> {
        let key_bytes = key.to_bytes();
        let answer = self.certified(|| self.api.state(&key_bytes))?;
        if hex_field(&answer.key, "key")? != key_bytes {
            return Err(Error::Unverified("the node proved another key than the one asked".into()));
        }
        let header: Header = scale_field(&answer.header, "header")?;
        self.network
            .light_client()
            .verify_header(&hex_field(&answer.finalization, "finalization")?, &header)
            .map_err(|e| Error::Unverified(e.to_string()))?;
        let proof = &answer.proof;
        let proof = match (proof.kind.as_str(), &proof.value) {
            ("inclusion", Some(value)) => {
                StateProof::Inclusion { value: hex_field(value, "value")?, proof: hex_field(&proof.proof, "proof")? }
            }
            ("exclusion", _) => StateProof::Exclusion { proof: hex_field(&proof.proof, "proof")? },
            (other, _) => return Err(Error::Malformed(format!("a proof of kind {other:?} without its value"))),
        };
        let value = verify_state(&header, &key_bytes, &proof).map_err(|e| Error::Unverified(e.to_string()))?;
        Ok(Proven { value, header })
    }

    /// A read of something certified. A node has no certificate for the genesis block, so right
    /// after a chain starts it answers `503` until the first block is final: wait for it.
    fn certified<T>(&self, read: impl Fn() -> Result<T, Error>) -> Result<T, Error> {
        let start = Instant::now();
        loop {
            match read() {
                Err(Error::Refused { status: 503, .. }) if start.elapsed() < CERTIFICATE_WAIT => {
                    std::thread::sleep(Duration::from_millis(200));
                }
                other => return other,
            }
        }
    }

    /// A proven read decoded by the typed accessor the chain reads with (so the client decodes
    /// state exactly as the chain does).
    fn read_typed<T>(
        &self,
        key: StateKey,
        accessor: impl FnOnce(&Snapshot) -> Result<T, StateError>,
    ) -> Result<Proven<T>, Error> {
        let Proven { value, header } = self.read(key)?;
        let mut snapshot = Snapshot::default();
        snapshot.insert(key.to_bytes(), value);
        let value = accessor(&snapshot).map_err(|e| Error::Malformed(e.to_string()))?;
        Ok(Proven { value, header })
    }

    /// An account's nonce and balance.
    pub fn account(&self, account: &AccountId) -> Result<Proven<AccountInfo>, Error> {
        self.read_typed(StateKey::Account(*account), |state| state.account(account))
    }

    /// A registered worker (or gatekeeper), by identity key.
    pub fn worker(&self, identity: &[u8; 32]) -> Result<Proven<Option<WorkerInfo>>, Error> {
        self.read_typed(StateKey::Worker(*identity), |state| state.worker(identity))
    }

    /// The gatekeeper set, in order: genesis's, as the rotation admin replaced identities.
    pub fn gatekeepers(&self) -> Result<Proven<Vec<[u8; 32]>>, Error> {
        self.read_typed(StateKey::Gatekeepers, |state| state.gatekeepers().map(|set| set.into_inner()))
    }

    /// Whether workers may register with `measurement`.
    pub fn measurement_allowed(&self, measurement: &Measurement) -> Result<Proven<bool>, Error> {
        self.read_typed(StateKey::AllowedMeasurement(*measurement), |state| state.measurement_allowed(measurement))
    }

    /// A contract.
    pub fn contract(&self, contract: &ContractId) -> Result<Proven<Option<ContractInfo>>, Error> {
        self.read_typed(StateKey::Contract(*contract), |state| state.contract(contract))
    }

    /// A cluster.
    pub fn cluster(&self, cluster: ClusterId) -> Result<Proven<Option<ClusterInfo>>, Error> {
        self.read_typed(StateKey::Cluster(cluster), |state| state.cluster(cluster))
    }

    /// Uploaded code, by hash.
    pub fn code(&self, hash: &Hash) -> Result<Proven<Option<Vec<u8>>>, Error> {
        self.read_typed(StateKey::Code(*hash), |state| state.code(hash).map(|code| code.map(|code| code.to_vec())))
    }

    /// The chain's parameters (fees, limits, liveness windows), as the latest certified block
    /// leaves them.
    pub fn parameters(&self) -> Result<Proven<Parameters>, Error> {
        self.read_typed(StateKey::Parameters, |state| state.parameters())
    }

    /// The key epochs.
    pub fn epochs(&self) -> Result<Proven<EpochState>, Error> {
        self.read_typed(StateKey::Epochs, |state| state.epochs())
    }

    /// Every message of `topic` so far, each page checked with the light client against its
    /// certified header: complete and in order, nothing added or left out. A topic the chain keeps
    /// only a window of (`Topic::kept_messages`, the seeds) cannot be read whole once its log is
    /// longer than the window: the node refuses the first page, saying so.
    pub fn topic_messages(&self, topic: &Topic) -> Result<Vec<Message>, Error> {
        let mut messages: Vec<Message> = Vec::new();
        let mut peaks = LogPeaks::default();
        loop {
            let from = messages.len() as u64;
            let answer = match self
                .certified(|| self.api.topic_messages(topic, &TopicQuery { from, ..TopicQuery::default() }))
            {
                Err(Error::NotFound(_)) if messages.is_empty() => return Ok(messages),
                other => other?,
            };
            let header: Header = scale_field(&answer.header, "header")?;
            let proof: TopicProof = scale_field(&answer.proof, "proof")?;
            let page = answer
                .messages
                .iter()
                .map(|message| scale_field::<Message>(message, "message"))
                .collect::<Result<Vec<_>, _>>()?;
            let hashes: Vec<(u64, Hash)> =
                page.iter().enumerate().map(|(i, message)| (from + i as u64, message.hash())).collect();
            peaks = self
                .network
                .light_client()
                .verify_topic(
                    &hex_field(&answer.finalization, "finalization")?,
                    &header,
                    topic,
                    &peaks,
                    &hashes,
                    &proof,
                )
                .map_err(|e| Error::Unverified(e.to_string()))?;
            let done = page.is_empty() || peaks.length >= proof.length;
            messages.extend(page);
            if done {
                return Ok(messages);
            }
        }
    }

    /// A finalized block (the newest with `None`), verified: the newest block's finalization
    /// certificate under the network key, an older block by the hash chain from the newest down to
    /// it (at most [`MAX_HASH_CHAIN`] blocks), and the block's transaction and egress roots against
    /// its body.
    pub fn block(&self, height: Option<u64>) -> Result<Block, Error> {
        let answer = self.certified(|| self.api.latest_block())?;
        let newest = decode_block(&answer.block)?;
        self.network
            .light_client()
            .verify_header(&hex_field(&answer.finalization, "finalization")?, &newest.header)
            .map_err(|e| Error::Unverified(e.to_string()))?;
        let height = height.unwrap_or(newest.header.height);
        if height > newest.header.height {
            return Err(Error::NotFound(format!(
                "no finalized block at height {height} yet (the newest is {})",
                newest.header.height
            )));
        }
        if newest.header.height - height > MAX_HASH_CHAIN {
            return Err(Error::Unverified(format!(
                "block {height} is more than {MAX_HASH_CHAIN} blocks below the newest certified one: too far to verify by hashes"
            )));
        }
        let mut block = newest;
        while block.header.height > height {
            let parent = decode_block(&self.api.block(block.header.height - 1)?)?;
            if parent.header.hash() != block.header.parent {
                return Err(Error::Unverified(format!(
                    "block {} is not the parent of the certified chain",
                    parent.header.height
                )));
            }
            block = parent;
        }
        if veil_types::transactions_root(&block.transactions) != block.header.transactions_root
            || veil_types::egress_root(&block.egress) != block.header.egress_root
        {
            return Err(Error::Unverified(format!("block {}'s body does not match its header", block.header.height)));
        }
        Ok(block)
    }

    /// Submits a signed transaction to the pool; the node checks it as the chain would.
    pub fn submit(&self, transaction: &SignedTransaction) -> Result<Hash, Error> {
        self.api.submit(transaction)?;
        Ok(transaction.hash())
    }

    /// Signs `call` as `from` with its next nonce (from the proven committed state) and submits it.
    pub fn sign_and_submit(&self, from: &AccountPair, call: Call) -> Result<Submitted, Error> {
        self.sign_and_submit_with(from, |_| Ok(call))
    }

    /// Like [`Node::sign_and_submit`], for calls that depend on the nonce (sealed commands bind it).
    pub fn sign_and_submit_with(
        &self,
        from: &AccountPair,
        call: impl FnOnce(u64) -> Result<Call, Error>,
    ) -> Result<Submitted, Error> {
        let nonce = self.account(&from.public())?.value.nonce;
        let transaction =
            Transaction { genesis: self.network.chain_id(), signer: from.public(), nonce, call: call(nonce)? };
        let hash = self.submit(&from.sign_transaction(transaction))?;
        Ok(Submitted { hash, nonce })
    }

    /// Where transaction `hash` stands (`NotFound` if the node does not know it).
    pub fn transaction(&self, hash: &Hash) -> Result<TransactionState, Error> {
        let answer = self.api.transaction(hash)?;
        match (answer.status.as_str(), answer.height, answer.index) {
            ("pending", _, _) => Ok(TransactionState::Pending),
            ("finalized", Some(height), Some(index)) => Ok(TransactionState::Finalized { height, index }),
            (other, _, _) => Err(Error::Malformed(format!("transaction status {other:?} without its block"))),
        }
    }

    /// Waits until transaction `hash` is finalized and returns its block height.
    pub fn wait_finalized(&self, hash: &Hash, timeout: Duration) -> Result<u64, Error> {
        crate::poll(
            || format!("transaction {hash} to finalize"),
            timeout,
            || match self.transaction(hash)? {
                TransactionState::Finalized { height, .. } => Ok(Some(height)),
                TransactionState::Pending => Ok(None),
            },
        )
    }
}
