//! The node's API: what `veil node` answers on its REST port. Binary values are `0x` hex (SCALE
//! encodings where the chain has one), amounts are decimal strings in the smallest unit, accounts
//! are SS58 addresses.

use parity_scale_codec::Encode as _;
use serde::{Deserialize, Serialize};
use veil_primitives::{Block, SignedTransaction};

use crate::hex0x;

/// The most messages one page of the topic endpoint carries (fewer when the reader asks for
/// fewer): a reader whose page stops before the certified length asks again from where it ended.
pub const MAX_MESSAGES_PER_ANSWER: u64 = 1_024;

// ---- chain ----

/// The chain and its validators.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ChainInfo {
    /// SHA-256 of the canonical genesis: what transactions bind to.
    pub chain_id: String,
    /// The chain's name.
    pub chain_name: String,
    /// The consensus namespace.
    pub namespace: String,
    /// The 96-byte BLS network key that verifies finalization certificates.
    pub network_key: String,
    /// Genesis time, milliseconds since the Unix epoch.
    pub genesis_time_ms: u64,
    /// Whether software-mode workers may register.
    pub allow_insecure_workers: bool,
    /// The latest finalized height.
    pub finalized_height: u64,
    /// Issuance accounting at that height.
    pub issuance: IssuanceView,
}

/// Issuance accounting: `total = genesis + minted − burned`, and `total` is every balance, every
/// contract's locked tokens and the reward pots together. Amounts in the smallest unit, as decimal
/// strings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct IssuanceView {
    /// Tokens in existence.
    pub total: String,
    /// Supply at genesis.
    pub genesis: String,
    /// Minted by inflation since genesis.
    pub minted: String,
    /// Burned from fees since genesis.
    pub burned: String,
}

/// A transaction as the API shows it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TransactionView {
    /// Its hash.
    pub hash: String,
    /// The signer's SS58 address.
    pub signer: String,
    /// Its nonce.
    pub nonce: u64,
    /// The chain module the call belongs to: `accounts`, `registry`, `contracts`, `epochs` or
    /// `parameters`.
    pub module: String,
    /// The call: `transfer`, `command`, `register_worker`, `allow_measurement`,
    /// `disallow_measurement`, `form_cluster`, `upload_code`, `instantiate`, `assign_contract`,
    /// `rotate_keys`, `report_offline` or `set_parameters`.
    pub call: String,
    /// Recipient of a transfer.
    pub to: Option<String>,
    /// Native tokens moved (a transfer's amount, a command's value), in the smallest unit, as a
    /// decimal string.
    pub amount: Option<String>,
    /// Contract a command addresses, an instantiation creates or an assignment runs.
    pub contract: Option<String>,
    /// Payload of a command, `0x` hex.
    pub payload: Option<String>,
    /// The worker (signing key) a registration or an offline report is for.
    pub worker: Option<String>,
    /// Fuel prepaid by a command or instantiation.
    pub fuel: Option<u64>,
    /// Code hash of an upload, instantiation or assignment.
    pub code: Option<String>,
    /// Cluster of a formation, instantiation, assignment or offline report.
    pub cluster: Option<u32>,
}

/// An egress copy as the API shows it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct EgressView {
    /// The copy's hash.
    pub hash: String,
    /// The sender, as `kind:id`.
    pub sender: String,
    /// The key epoch it is signed under.
    pub epoch: u32,
    /// The sender's sequence number.
    pub sequence: u64,
    /// The topic it publishes on.
    pub topic: String,
}

/// A finalized block.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BlockView {
    /// The block hash (the header's SHA-256, the digest consensus certified).
    pub hash: String,
    /// Its height.
    pub height: u64,
    /// The parent's hash.
    pub parent: String,
    /// Its timestamp, milliseconds since the Unix epoch.
    pub timestamp_ms: u64,
    /// The state root after it.
    pub state_root: String,
    /// Its transactions' root.
    pub transactions_root: String,
    /// Its egress root.
    pub egress_root: String,
    /// The topic tree's root after it.
    pub messages_root: String,
    /// Its transactions.
    pub transactions: Vec<TransactionView>,
    /// Its egress.
    pub egress: Vec<EgressView>,
    /// The block's SCALE encoding, to hash and verify exactly.
    pub encoded: String,
}

/// A finalized block with the finalization certificate that certifies it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CertifiedBlock {
    /// The block.
    pub block: BlockView,
    /// The certificate: encoded proposal (epoch, view, parent view, block hash) then two 48-byte
    /// threshold signatures (the vote, then the round's seed), verifiable against the network key.
    pub finalization: String,
}

/// A transaction to submit.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SubmitRequest {
    /// The signed transaction's SCALE encoding, `0x` hex.
    pub transaction: String,
}

/// The mempool's answer to a submission.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SubmitResponse {
    /// The transaction hash.
    pub hash: String,
    /// `pending` (includable now) or `parked` (waits for earlier nonces).
    pub status: String,
}

/// Where a transaction stands.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TransactionStatusView {
    /// The transaction hash.
    pub hash: String,
    /// `pending` or `finalized`.
    pub status: String,
    /// The block height, when finalized.
    pub height: Option<u64>,
    /// The position in the block, when finalized.
    pub index: Option<u32>,
}

/// A Merkle proof of one state key.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ProofView {
    /// `inclusion` (the key holds a value) or `exclusion` (it holds nothing).
    pub kind: String,
    /// The proven value (its SCALE encoding), for inclusion proofs.
    pub value: Option<String>,
    /// The encoded proof.
    pub proof: String,
}

/// An account with a proof against a finalized header's state root.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AccountView {
    /// The SS58 address.
    pub address: String,
    /// The next nonce.
    pub nonce: u64,
    /// The balance in tokens.
    pub balance: String,
    /// The balance in the smallest unit, as a decimal string.
    pub balance_units: String,
    /// The state root the proof is against.
    pub state_root: String,
    /// The finalized block whose header carries that root.
    pub height: u64,
    /// That block's hash.
    pub block_hash: String,
    /// The proof.
    pub proof: ProofView,
}

/// A state key's value (or absence) with everything a light client needs to check it without
/// trusting this node: the proof, the finalized header whose state root it is against, and that
/// header's finalization certificate.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ProvenStateView {
    /// The state key's SCALE encoding, `0x` hex.
    pub key: String,
    /// The finalized header's height.
    pub height: u64,
    /// The header's SCALE encoding, `0x` hex.
    pub header: String,
    /// The finalization certificate of that header, `0x` hex.
    pub finalization: String,
    /// The proof (its `value` is the SCALE-encoded state value, for inclusion).
    pub proof: ProofView,
}

/// A finalized block as streamed: its summary.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct StreamedBlock {
    /// Its hash.
    pub hash: String,
    /// Its height.
    pub height: u64,
    /// Its timestamp.
    pub timestamp_ms: u64,
    /// Its transactions' hashes.
    pub transactions: Vec<String>,
}

// ---- contracts ----

/// A contract as the chain records it: what a client needs to seal commands to it and to check
/// the tokens it holds.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ContractView {
    /// The contract id, `0x` hex.
    pub contract: String,
    /// Its code hash (SHA-256 of the module for wasm contracts).
    pub code: String,
    /// The cluster that runs it.
    pub cluster: u32,
    /// Its owner (the deployer).
    pub owner: String,
    /// Whether it is wasm code (else built into the runtime).
    pub wasm: bool,
    /// Native tokens locked in it, in the smallest unit, as a decimal string.
    pub locked_units: String,
    /// Its public keys, once the gatekeeper published them.
    pub keys: Option<ContractKeysView>,
    /// The finalized height this describes.
    pub height: u64,
}

/// A contract's public keys for one epoch.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ContractKeysView {
    /// The key epoch.
    pub epoch: u32,
    /// The X25519 key commands are sealed to, `0x` hex.
    pub agreement: String,
    /// The ed25519 key its egress is signed with, `0x` hex.
    pub signing: String,
}

/// A cluster of workers.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ClusterView {
    /// The cluster's number.
    pub cluster: u32,
    /// The key epoch.
    pub epoch: u32,
    /// Its workers.
    pub workers: Vec<ClusterMemberView>,
    /// The X25519 key constructor arguments are sealed to, once the gatekeeper published it.
    pub agreement: Option<String>,
    /// The ed25519 key its state snapshots are signed with, once the gatekeepers published it.
    pub signing: Option<String>,
    /// The finalized height this describes.
    pub height: u64,
}

/// A worker of a cluster, and whether the chain would take a report that removes it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ClusterMemberView {
    /// Its identity key, `0x` hex.
    pub worker: String,
    /// When the chain last saw its egress, milliseconds since the Unix epoch.
    pub last_seen_ms: u64,
    /// Why a `ReportOffline` would remove it at the latest finalized block's time (its
    /// registration lapsed or its measurement was revoked, it was silent past the parameters'
    /// offline window, or it holds no key of the open epoch); `None` when it is fit to stay.
    pub unfit: Option<String>,
}

/// A wasm contract's module and the interface it ships, for tools that encode its commands and
/// decode its answers.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ContractModuleView {
    /// The contract, `0x` hex.
    pub contract: String,
    /// Its code hash: SHA-256 of the module.
    pub code: String,
    /// The wasm module, `0x` hex.
    pub module: String,
    /// The JSON interface in the module's `veil:interface` custom section; `null` when it ships
    /// none (or none that is JSON).
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub interface: Option<serde_json::Value>,
    /// The finalized height read at.
    pub height: u64,
}

/// A cluster snapshot, uploaded by a cluster worker's relayer or downloaded by a replacement's.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SnapshotBody {
    /// The sealed snapshot's SCALE encoding, `0x` hex.
    pub snapshot: String,
}

/// A stored cluster snapshot.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SnapshotView {
    /// The cluster.
    pub cluster: u32,
    /// The key epoch it is sealed and signed under.
    pub epoch: u32,
    /// The height of the view it captures.
    pub height: u64,
    /// Its SCALE encoding, `0x` hex.
    pub snapshot: String,
}

// ---- messages ----

/// Egress to submit.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SubmitEgressRequest {
    /// The signed egress's SCALE encoding, `0x` hex.
    pub egress: String,
}

/// A registered off-chain sender.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SenderView {
    /// The sender, as `kind:id`.
    pub sender: String,
    /// Its ed25519 key, `0x` hex.
    pub key: String,
    /// Its current key epoch.
    pub epoch: u32,
    /// The sequence number its next accepted egress must carry.
    pub next_sequence: u64,
    /// The finalized height this describes.
    pub height: u64,
}

/// A registered worker.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WorkerView {
    /// Its ed25519 signing key, `0x` hex.
    pub worker: String,
    /// Its operator's SS58 address.
    pub operator: String,
    /// Its X25519 key, `0x` hex.
    pub agreement_key: String,
    /// `sgx`, `tdx`, or `software (insecure)`.
    pub tee: String,
    /// Its measurement (none for software workers).
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub measurement: Option<serde_json::Value>,
    /// When its registration lapses, milliseconds since the Unix epoch.
    pub expires_at_ms: u64,
    /// The same, RFC 3339.
    pub expires: String,
    /// Whether it is registered at the latest finalized block's time.
    pub active: bool,
    /// The finalized height this describes.
    pub height: u64,
}

/// Where to start reading a topic.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams), into_params(parameter_in = Query))]
pub struct TopicQuery {
    /// The index of the first message wanted (the length of the log the reader has verified).
    #[serde(default)]
    pub from: u64,
    /// The finalized height to prove against (the newest when left out); recent heights only.
    pub height: Option<u64>,
    /// The most messages wanted in this page (at most, and by default, [`MAX_MESSAGES_PER_ANSWER`]).
    pub limit: Option<u64>,
    /// Start at the log's end instead of `from`: no message, and `start` holds the log's peaks
    /// there, for a reader that needs only the messages still to come.
    #[serde(default)]
    pub at_end: bool,
}

/// A topic's messages from an index to the length certified by a finalized header, with everything
/// a light client needs to verify them without trusting this node.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TopicMessagesView {
    /// The topic.
    pub topic: String,
    /// The index of the first message.
    pub from: u64,
    /// The log's length in the header. When `from` plus the number of messages falls short of it,
    /// this is a page and the proof's `rest` stands for the remaining messages.
    pub length: u64,
    /// The finalized header's height.
    pub height: u64,
    /// The header's SCALE encoding, `0x` hex.
    pub header: String,
    /// The finalization certificate of that header, `0x` hex.
    pub finalization: String,
    /// The topic proof (slot, length, siblings, rest), SCALE, `0x` hex.
    pub proof: String,
    /// The messages, each its SCALE encoding, `0x` hex, in log order.
    pub messages: Vec<String>,
    /// Asked `at_end`: the log's peaks at `from` (its length), SCALE, `0x` hex; where the reader
    /// starts instead of from the first message.
    pub start: Option<String>,
}

impl TransactionView {
    /// How the API shows `tx`.
    pub fn from_transaction(tx: &SignedTransaction) -> Self {
        let summary = tx.transaction.call.summary(&tx.transaction.signer);
        Self {
            hash: tx.hash().to_string(),
            signer: tx.transaction.signer.to_string(),
            nonce: tx.transaction.nonce,
            module: summary.module.into(),
            call: summary.name.into(),
            to: summary.to.map(|to| to.to_string()),
            amount: summary.amount.map(|amount| amount.0.to_string()),
            contract: summary.contract.map(|contract| contract.to_string()),
            payload: summary.payload.map(hex0x),
            worker: summary.worker.map(hex0x),
            fuel: summary.fuel,
            code: summary.code.map(|code| code.to_string()),
            cluster: summary.cluster.map(|cluster| cluster.0),
        }
    }
}

impl BlockView {
    /// How the API shows `block`.
    pub fn from_block(block: &Block) -> Self {
        let header = &block.header;
        Self {
            hash: header.hash().to_string(),
            height: header.height,
            parent: header.parent.to_string(),
            timestamp_ms: header.timestamp_ms,
            state_root: header.state_root.to_string(),
            transactions_root: header.transactions_root.to_string(),
            egress_root: header.egress_root.to_string(),
            messages_root: header.messages.root.to_string(),
            transactions: block.transactions.iter().map(TransactionView::from_transaction).collect(),
            egress: block
                .egress
                .iter()
                .map(|copy| EgressView {
                    hash: copy.hash().to_string(),
                    sender: copy.egress.sender.to_string(),
                    epoch: copy.egress.epoch.0,
                    sequence: copy.egress.sequence,
                    topic: copy.egress.topic.to_string(),
                })
                .collect(),
            encoded: hex0x(block.encode()),
        }
    }
}
