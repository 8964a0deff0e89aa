//! Transaction checks and block execution.
//!
//! A block is valid only if its header follows its parent (hash, height, a strictly later
//! timestamp not ahead of the validator's clock by more than the parameters' bound), its transactions
//! root matches, and **every** transaction applies: a proposer drops transactions that would fail
//! ([`Chain::build`]), so a failing transaction in a block means a faulty proposer and the whole block
//! is refused ([`Chain::execute`]). Execution order within a block: inflation for the time since the
//! parent, the transactions in order, the egress in order, then the topic tree (see
//! [`crate::messages`]), whose root the header must carry. Egress follows the same rule: a proposer
//! includes only copies that apply, and a block with one that does not is refused.
//!
//! The lifecycle is written once, here, and walks the chain's modules ([`crate::module`]): the
//! parameters in the parent's state fix the block's rules, every module's begin-block hook runs,
//! then each transaction (signature, nonce and fee, common to all; then its module's call), each
//! egress copy (the messages module's checks, then every module's reaction), and the topic tree.
//!
//! Each transaction pays the fee of [`veil_types::fees`], split into the worker pot, the
//! gatekeeper pot and a burn (rounding remainders are burned).

use parity_scale_codec::Encode;
use veil_crypto::verify_account_signature;
use veil_primitives::{
    Balance, Block, Hash, Header, MessageCommitments, Nonce, ParameterError, Parameters, RoundSeed, SignedEgress,
    SignedTransaction, SystemTopic, Topic,
    block::MAX_BLOCK_BODY_BYTES,
    decode_strict,
    parameters::max_transaction_bytes_bound,
    topics::{self, DEPTH},
};
pub use veil_types::fees::{Cost, FeeSplit};
use veil_types::{
    egress_root,
    fees::{self, CostError},
    transactions_root,
};

pub use crate::accounts::YEAR_MS;
use crate::{
    contracts::ContractError,
    genesis::{Genesis, GenesisError},
    messages::{EgressError, Outbox, Published},
    module::{self, AddKey, Keys},
    registry::RegistrationError,
    state::{ChangeSet, Issuance, Overlay, ReadState, RewardPots, SenderInfo, StateError, StateKey, StateReader},
};

/// Why a transaction is refused. Every variant says what to fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransactionError {
    /// Bytes that are not a signed transaction.
    #[error("malformed transaction: {0}")]
    Malformed(String),
    /// Larger than the parameters allow.
    #[error("transaction is {len} bytes; the limit is {limit}")]
    TooLarge {
        /// Its encoded length.
        len: usize,
        /// The limit.
        limit: usize,
    },
    /// Signed for another chain.
    #[error("transaction is for chain {found}, this chain is {expected}")]
    WrongChain {
        /// This chain's id.
        expected: Hash,
        /// The id in the transaction.
        found: Hash,
    },
    /// The signature does not verify.
    #[error("bad signature: {0}")]
    BadSignature(String),
    /// A nonce already used: a replay or a duplicate.
    #[error("nonce {found} is already used; the account's next nonce is {expected}")]
    StaleNonce {
        /// The account's next nonce.
        expected: Nonce,
        /// The transaction's nonce.
        found: Nonce,
    },
    /// A nonce beyond the next one: earlier transactions are missing.
    #[error("nonce {found} is ahead of the account's next nonce {expected}")]
    FutureNonce {
        /// The account's next nonce.
        expected: Nonce,
        /// The transaction's nonce.
        found: Nonce,
    },
    /// Not enough balance for the amount plus the fee.
    #[error("insufficient balance: needs {needed} (amount plus fee), has {available}")]
    InsufficientBalance {
        /// Amount plus fee.
        needed: Balance,
        /// The signer's balance.
        available: Balance,
    },
    /// A transfer of nothing.
    #[error("transfer amount must be greater than zero")]
    ZeroAmount,
    /// Arithmetic out of range (absurd fee parameters or amounts).
    #[error("amount out of range")]
    Overflow,
    /// A worker registration or allowlist change is refused.
    #[error(transparent)]
    Registration(#[from] RegistrationError),
    /// A cluster, code, instantiation or command is refused.
    #[error(transparent)]
    Contract(#[from] ContractError),
    /// A rotation, an offline report, a cluster's workers or an envelope's key epoch is refused.
    #[error(transparent)]
    Epoch(#[from] crate::epochs::EpochError),
    /// A parameter change that breaks a rule.
    #[error(transparent)]
    Parameters(#[from] ParameterError),
    /// State could not be read.
    #[error(transparent)]
    State(#[from] StateError),
}

impl From<CostError> for TransactionError {
    fn from(error: CostError) -> Self {
        match error {
            CostError::ZeroAmount => Self::ZeroAmount,
            CostError::Overflow => Self::Overflow,
        }
    }
}

impl TransactionError {
    /// Whether the transaction may become valid later (its nonce is ahead): a mempool parks these.
    pub fn is_future(&self) -> bool {
        matches!(self, Self::FutureNonce { .. })
    }
}

/// Why a block is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BlockError {
    /// The header does not name the parent.
    #[error("block's parent is {found}, expected {expected}")]
    WrongParent {
        /// The parent's hash.
        expected: Hash,
        /// What the header says.
        found: Hash,
    },
    /// Not the parent's height plus one.
    #[error("block height {found}, expected {expected}")]
    WrongHeight {
        /// Parent height plus one.
        expected: u64,
        /// What the header says.
        found: u64,
    },
    /// A timestamp not after the parent's.
    #[error("block timestamp {found} ms is not after its parent's {parent} ms")]
    TimestampNotIncreasing {
        /// The parent's timestamp.
        parent: u64,
        /// The block's.
        found: u64,
    },
    /// A block sooner after its parent than the parameters' minimum interval.
    #[error("block comes {after_ms} ms after its parent; the minimum interval is {interval_ms} ms")]
    TooSoon {
        /// Time since the parent.
        after_ms: u64,
        /// The parameters' minimum.
        interval_ms: u64,
    },
    /// A timestamp too far ahead of this validator's clock.
    #[error("block timestamp is {ahead_ms} ms ahead of this validator's clock; at most {bound_ms} ms is allowed")]
    TimestampAhead {
        /// How far ahead.
        ahead_ms: u64,
        /// The parameters' bound.
        bound_ms: u64,
    },
    /// More transactions than the parameters allow.
    #[error("block has {found} transactions; the limit is {limit}")]
    TooManyTransactions {
        /// The count.
        found: usize,
        /// The limit.
        limit: usize,
    },
    /// The header's transactions root does not match the transactions.
    #[error("transactions root mismatch: header says {header}, transactions give {computed}")]
    TransactionsRoot {
        /// In the header.
        header: Hash,
        /// Computed.
        computed: Hash,
    },
    /// A transaction in the block does not apply.
    #[error("transaction {index} ({hash}): {error}")]
    Transaction {
        /// Its position.
        index: usize,
        /// Its hash.
        hash: Hash,
        /// Why it fails.
        error: TransactionError,
    },
    /// Transactions and egress larger than a block can carry.
    #[error("block body is {found} bytes; the limit is {limit}")]
    TooLarge {
        /// The body's size.
        found: usize,
        /// The limit.
        limit: usize,
    },
    /// More egress than the parameters allow.
    #[error("block has {found} egress copies; the limit is {limit}")]
    TooManyEgress {
        /// The count.
        found: usize,
        /// The limit.
        limit: usize,
    },
    /// The header's egress root does not match the egress.
    #[error("egress root mismatch: header says {header}, egress gives {computed}")]
    EgressRoot {
        /// In the header.
        header: Hash,
        /// Computed.
        computed: Hash,
    },
    /// An egress copy in the block does not apply.
    #[error("egress {index} ({hash}): {error}")]
    Egress {
        /// Its position.
        index: usize,
        /// Its hash.
        hash: Hash,
        /// Why it fails.
        error: EgressError,
    },
    /// The header's message root is not the topic tree's after this block.
    #[error("message root mismatch: header says {header}, execution gives {computed}")]
    MessagesRoot {
        /// In the header.
        header: Hash,
        /// Computed.
        computed: Hash,
    },
    /// State could not be read.
    #[error(transparent)]
    State(#[from] StateError),
}

/// What a proposer built: the block's content and its effects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Execution {
    /// The transactions that applied, in order.
    pub transactions: Vec<SignedTransaction>,
    /// Transactions a proposer dropped, with the reason.
    pub dropped: Vec<(Hash, TransactionError)>,
    /// The egress copies that applied, in order.
    pub egress: Vec<SignedEgress>,
    /// Egress copies left out, with the reason (those that are retryable stay in the mempool).
    pub skipped_egress: Vec<(Hash, EgressError)>,
    /// The messages published, in order.
    pub messages: Vec<Published>,
    /// The topic tree's root after the block: the header's `messages.root`.
    pub messages_root: Hash,
    /// The block's timestamp.
    pub timestamp_ms: u64,
    /// The parent round's seed the block carries.
    pub seed: Option<RoundSeed>,
    /// The state writes.
    pub changes: ChangeSet,
}

impl Execution {
    /// The header of the built block on `parent`, given the state root the store computed from
    /// [`Execution::changes`].
    pub fn header(&self, parent: &Header, state_root: Hash) -> Header {
        Header {
            parent: parent.hash(),
            height: parent.height + 1,
            timestamp_ms: self.timestamp_ms,
            state_root,
            transactions_root: transactions_root(&self.transactions),
            egress_root: egress_root(&self.egress),
            messages: MessageCommitments { root: self.messages_root },
            seed: self.seed,
        }
    }
}

/// What a verified block did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Executed {
    /// The messages published, in order.
    pub messages: Vec<Published>,
    /// The state writes.
    pub changes: ChangeSet,
}

/// The rules of one chain: its genesis and everything derived from it.
#[derive(Clone, Debug)]
pub struct Chain {
    genesis: Genesis,
    id: Hash,
}

impl Chain {
    /// The chain of a genesis configuration, after validating it.
    pub fn new(genesis: Genesis) -> Result<Self, GenesisError> {
        genesis.validate()?;
        let id = genesis.hash();
        Ok(Self { genesis, id })
    }

    /// The genesis configuration.
    pub fn genesis(&self) -> &Genesis {
        &self.genesis
    }

    /// The chain id that transactions bind to.
    pub fn id(&self) -> Hash {
        self.id
    }

    /// The writes that create the genesis state.
    pub fn genesis_changes(&self) -> ChangeSet {
        self.genesis_state().0
    }

    /// The genesis state's writes and the root of its topic tree. Genesis publishes the first
    /// message of the parameters topic (the genesis parameters) and of the sessions topic
    /// (`Opened`): both then always have a message a relayer must prove, so a runtime's view of
    /// the parameters and of revoked sessions cannot be withheld as if the topics were empty.
    fn genesis_state(&self) -> (ChangeSet, Hash) {
        let empty = crate::state::MemoryState::default();
        let mut overlay = Overlay::new(&empty);
        for entry in &self.genesis.balances {
            overlay.set_account(&entry.account, &crate::AccountInfo { nonce: 0, balance: entry.amount });
        }
        let supply = self.genesis.total_supply().unwrap_or_default();
        overlay.set_issuance(&Issuance {
            total: supply,
            genesis: supply,
            minted: Balance::ZERO,
            burned: Balance::ZERO,
            year: 0,
            year_start_total: supply,
        });
        overlay.set_reward_pots(&RewardPots::default());
        overlay.set_parameters(&self.genesis.parameters());
        for entry in &self.genesis.senders {
            let info = SenderInfo { key: entry.key, epoch: veil_primitives::KeyEpoch(entry.epoch), next_sequence: 0 };
            overlay.set_sender(&entry.sender, &info);
        }
        // Genesis validation bounds the set.
        let gatekeepers = self.genesis.gatekeeper_identities().try_into().unwrap_or_default();
        overlay.set_gatekeepers(&gatekeepers);
        let parameters = self.genesis.parameters();
        let mut outbox = Outbox::new(0, self.genesis.genesis_time_ms, self.genesis.genesis_time_ms, parameters.clone());
        let first_messages = [
            (SystemTopic::Parameters, parameters.encode()),
            (SystemTopic::Sessions, veil_primitives::message::SessionsMessage::Opened.encode()),
            // Runtimes read heartbeats from the log's end as they find it: it has one from the start.
            (SystemTopic::Heartbeats, veil_primitives::epoch::Heartbeat { height: 0 }.encode()),
        ];
        // Writes to an empty overlay, of messages far below their size bound: nothing can fail.
        let mut root = topics::empty(DEPTH);
        for (topic, payload) in first_messages {
            if let Ok(message) = crate::contracts::chain_message(Topic::System(topic), payload) {
                let _ = self.publish(&mut overlay, &mut outbox, message);
            }
        }
        if let Ok(committed) = self.commit_topics(&mut overlay, &outbox) {
            root = committed;
        }
        (overlay.into_changes(), root)
    }

    /// The genesis block's header, given the root of the genesis state. Its parent is the chain id,
    /// which ties block 0 to the configuration.
    pub fn genesis_header(&self, state_root: Hash) -> Header {
        Header {
            parent: self.id,
            height: 0,
            timestamp_ms: self.genesis.genesis_time_ms,
            state_root,
            transactions_root: transactions_root(&[]),
            egress_root: egress_root(&[]),
            messages: MessageCommitments { root: self.genesis_state().1 },
            seed: None,
        }
    }

    /// Decodes a transaction from outside: the size bound of any parameters first (the block's
    /// own limit is checked when it applies), then strict decoding.
    pub fn decode_transaction(&self, bytes: &[u8]) -> Result<SignedTransaction, TransactionError> {
        let limit = max_transaction_bytes_bound() as usize;
        if bytes.len() > limit {
            return Err(TransactionError::TooLarge { len: bytes.len(), limit });
        }
        decode_strict(bytes).map_err(|error| TransactionError::Malformed(error.to_string()))
    }

    /// The checks that need no state: chain id and signature.
    pub fn check_stateless(&self, tx: &SignedTransaction) -> Result<(), TransactionError> {
        if tx.transaction.genesis != self.id {
            return Err(TransactionError::WrongChain { expected: self.id, found: tx.transaction.genesis });
        }
        verify_account_signature(&tx.transaction.signer, &tx.transaction.signing_payload(), &tx.signature)
            .map_err(|error| TransactionError::BadSignature(error.to_string()))
    }

    /// Refuses a transaction larger than `parameters` allow.
    pub fn check_size(parameters: &Parameters, tx: &SignedTransaction) -> Result<(), TransactionError> {
        let len = tx.encoded_size();
        let limit = parameters.economics.max_transaction_bytes as usize;
        if len > limit {
            return Err(TransactionError::TooLarge { len, limit });
        }
        Ok(())
    }

    /// Applies one transaction on top of `overlay`, after its size (cheap, first) and stateless
    /// checks; messages it publishes go to `outbox`. On a refusal the overlay and the outbox are
    /// unchanged.
    pub fn apply(
        &self,
        overlay: &mut Overlay<'_>,
        outbox: &mut Outbox,
        tx: &SignedTransaction,
    ) -> Result<FeeSplit, TransactionError> {
        Self::check_size(outbox.parameters(), tx)?;
        self.check_stateless(tx)?;
        let checkpoint = overlay.checkpoint();
        let published = outbox.messages.len();
        let result = self.apply_checked(overlay, outbox, tx);
        match result {
            Ok(_) => overlay.release(checkpoint),
            Err(_) => {
                overlay.restore(checkpoint);
                outbox.messages.truncate(published);
            }
        }
        result
    }

    /// The part every transaction shares (nonce, fee), then its module's call.
    fn apply_checked(
        &self,
        overlay: &mut Overlay<'_>,
        outbox: &mut Outbox,
        tx: &SignedTransaction,
    ) -> Result<FeeSplit, TransactionError> {
        let signer = tx.transaction.signer;
        let mut account = overlay.account(&signer)?;
        let found = tx.transaction.nonce;
        if found < account.nonce {
            return Err(TransactionError::StaleNonce { expected: account.nonce, found });
        }
        if found > account.nonce {
            return Err(TransactionError::FutureNonce { expected: account.nonce, found });
        }
        let economics = &outbox.parameters().economics;
        let Cost { fee, fuel, total: needed } = fees::cost(economics, tx)?;
        account.balance = account
            .balance
            .checked_sub(needed)
            .ok_or(TransactionError::InsufficientBalance { needed, available: account.balance })?;
        account.nonce += 1;
        overlay.set_account(&signer, &account);

        let split = fees::split_fee(economics, fee);
        let mut pots = overlay.reward_pots()?;
        pots.workers = pots
            .workers
            .checked_add(split.workers)
            .and_then(|pot| pot.checked_add(fuel))
            .ok_or(TransactionError::Overflow)?;
        pots.gatekeepers = pots.gatekeepers.checked_add(split.gatekeepers).ok_or(TransactionError::Overflow)?;
        overlay.set_reward_pots(&pots);
        let mut issuance = overlay.issuance()?;
        issuance.total = issuance.total.checked_sub(split.burned).ok_or(TransactionError::Overflow)?;
        issuance.burned = issuance.burned.checked_add(split.burned).ok_or(TransactionError::Overflow)?;
        overlay.set_issuance(&issuance);

        module::apply_call(self, overlay, outbox, &signer, tx.transaction.nonce, &tx.transaction.call)?;
        Ok(split)
    }

    /// Checks a header against its parent and, when given, this validator's clock, under the
    /// parameters in the parent's state.
    pub fn check_header(
        &self,
        parameters: &Parameters,
        parent: &Header,
        header: &Header,
        now_ms: Option<u64>,
    ) -> Result<(), BlockError> {
        let parent_hash = parent.hash();
        if header.parent != parent_hash {
            return Err(BlockError::WrongParent { expected: parent_hash, found: header.parent });
        }
        if header.height != parent.height + 1 {
            return Err(BlockError::WrongHeight { expected: parent.height + 1, found: header.height });
        }
        if header.timestamp_ms <= parent.timestamp_ms {
            return Err(BlockError::TimestampNotIncreasing { parent: parent.timestamp_ms, found: header.timestamp_ms });
        }
        let interval = parameters.economics.min_block_interval_ms;
        if header.timestamp_ms < parent.timestamp_ms.saturating_add(interval) {
            return Err(BlockError::TooSoon {
                after_ms: header.timestamp_ms - parent.timestamp_ms,
                interval_ms: interval,
            });
        }
        let bound_ms = parameters.economics.max_timestamp_drift_ms;
        if let Some(now) = now_ms
            && header.timestamp_ms > now.saturating_add(bound_ms)
        {
            return Err(BlockError::TimestampAhead { ahead_ms: header.timestamp_ms - now, bound_ms });
        }
        Ok(())
    }

    /// Every state key that executing `transactions` and `egress` reads, except the topic-tree
    /// nodes and the keys whose names depend on state: what every block reads (the parameters,
    /// issuance, the reward pots, the key epochs, the topic count and root), each signer, and what
    /// each call and each egress copy declares through its module. A node prefetches these from its
    /// store, because execution itself reads synchronously, then the tree nodes they lead to
    /// ([`Chain::tree_keys_touched`]) and the dependent keys ([`Chain::dependent_keys`]).
    pub fn keys_touched(&self, transactions: &[SignedTransaction], egress: &[SignedEgress]) -> Keys {
        let mut keys = Keys::new();
        module::block_keys(&mut keys);
        for tx in transactions {
            keys.add(StateKey::Account(tx.transaction.signer));
            module::call_keys(self, &tx.transaction.signer, &tx.transaction.call, &mut keys);
        }
        for copy in egress {
            module::egress_keys(self, copy, &mut keys);
        }
        for topic in self.topics_touched(transactions, egress) {
            keys.add(StateKey::Topic(topic));
        }
        keys
    }

    /// Keys whose names depend on state the first round read (the standby workers a replacement
    /// is chosen from, by a transaction or at the start of the block). `state` must hold [`Chain::keys_touched`] of the same transactions.
    pub fn dependent_keys(
        &self,
        state: &dyn StateReader,
        transactions: &[SignedTransaction],
    ) -> Result<Keys, StateError> {
        let mut keys = Keys::new();
        module::block_dependent_keys(self, state, &mut keys)?;
        for tx in transactions {
            module::dependent_keys(self, state, &tx.transaction.call, &mut keys)?;
        }
        Ok(keys)
    }

    /// The state the block on `parent` starts from: the parameters it executes under, and its
    /// outbox (with the parent round's seed the header carries).
    fn begin(
        &self,
        state: &dyn StateReader,
        parent: &Header,
        timestamp_ms: u64,
        seed: Option<RoundSeed>,
    ) -> Result<Outbox, StateError> {
        Ok(Outbox::after(parent, timestamp_ms, state.parameters()?).with_seed(seed))
    }

    /// Proposer side: applies `candidates`, then `egress_candidates`, in order on top of `state` for
    /// a block at `timestamp_ms` after `parent` carrying the parent round's `seed`, keeping those
    /// that apply and leaving out the rest with their reason.
    pub fn build(
        &self,
        state: &dyn StateReader,
        parent: &Header,
        timestamp_ms: u64,
        seed: Option<RoundSeed>,
        candidates: impl IntoIterator<Item = SignedTransaction>,
        egress_candidates: impl IntoIterator<Item = SignedEgress>,
    ) -> Result<Execution, StateError> {
        let mut overlay = Overlay::new(state);
        let mut outbox = self.begin(state, parent, timestamp_ms, seed)?;
        module::begin_block(self, &mut overlay, &mut outbox)?;
        let limit = outbox.parameters().economics.max_block_transactions as usize;
        let mut room = MAX_BLOCK_BODY_BYTES;
        let mut transactions = Vec::new();
        let mut dropped = Vec::new();
        for tx in candidates {
            if transactions.len() == limit {
                break;
            }
            let Some(left) = room.checked_sub(tx.encoded_size()) else { break };
            match self.apply(&mut overlay, &mut outbox, &tx) {
                Ok(_) => {
                    transactions.push(tx);
                    room = left;
                }
                Err(TransactionError::State(error)) => return Err(error),
                Err(error) => dropped.push((tx.hash(), error)),
            }
        }
        let limit = outbox.parameters().economics.max_block_egress as usize;
        let mut egress = Vec::new();
        let mut skipped_egress = Vec::new();
        for copy in egress_candidates {
            if egress.len() == limit {
                break;
            }
            let Some(left) = room.checked_sub(copy.encoded_size()) else { break };
            match self.apply_egress(&mut overlay, &mut outbox, &copy) {
                Ok(_) => {
                    egress.push(copy);
                    room = left;
                }
                Err(EgressError::State(error)) => return Err(error),
                Err(error) => skipped_egress.push((copy.hash(), error)),
            }
        }
        let messages_root = self.commit_topics(&mut overlay, &outbox)?;
        Ok(Execution {
            transactions,
            dropped,
            egress,
            skipped_egress,
            messages: outbox.messages,
            messages_root,
            timestamp_ms,
            seed,
            changes: overlay.into_changes(),
        })
    }

    /// Verifier side: checks `block` against `parent` and executes it on top of `state`, refusing
    /// the whole block if any rule, any transaction or any egress fails. Returns the state writes and
    /// the messages; the caller applies the writes and checks the header's state root against its
    /// store.
    pub fn execute(
        &self,
        state: &dyn StateReader,
        parent: &Header,
        block: &Block,
        now_ms: Option<u64>,
    ) -> Result<Executed, BlockError> {
        let mut outbox = self.begin(state, parent, block.header.timestamp_ms, block.header.seed)?;
        let economics = &outbox.parameters().economics;
        self.check_header(outbox.parameters(), parent, &block.header, now_ms)?;
        let limit = economics.max_block_transactions as usize;
        if block.transactions.len() > limit {
            return Err(BlockError::TooManyTransactions { found: block.transactions.len(), limit });
        }
        let computed = transactions_root(&block.transactions);
        if computed != block.header.transactions_root {
            return Err(BlockError::TransactionsRoot { header: block.header.transactions_root, computed });
        }
        let body = block.transactions.encoded_size() + block.egress.encoded_size();
        if body > MAX_BLOCK_BODY_BYTES {
            return Err(BlockError::TooLarge { found: body, limit: MAX_BLOCK_BODY_BYTES });
        }
        let limit = economics.max_block_egress as usize;
        if block.egress.len() > limit {
            return Err(BlockError::TooManyEgress { found: block.egress.len(), limit });
        }
        let computed = egress_root(&block.egress);
        if computed != block.header.egress_root {
            return Err(BlockError::EgressRoot { header: block.header.egress_root, computed });
        }
        let mut overlay = Overlay::new(state);
        module::begin_block(self, &mut overlay, &mut outbox)?;
        for (index, tx) in block.transactions.iter().enumerate() {
            self.apply(&mut overlay, &mut outbox, tx).map_err(|error| match error {
                TransactionError::State(error) => BlockError::State(error),
                error => BlockError::Transaction { index, hash: tx.hash(), error },
            })?;
        }
        for (index, copy) in block.egress.iter().enumerate() {
            self.apply_egress(&mut overlay, &mut outbox, copy).map_err(|error| match error {
                EgressError::State(error) => BlockError::State(error),
                error => BlockError::Egress { index, hash: copy.hash(), error },
            })?;
        }
        let computed = self.commit_topics(&mut overlay, &outbox)?;
        if computed != block.header.messages.root {
            return Err(BlockError::MessagesRoot { header: block.header.messages.root, computed });
        }
        Ok(Executed { messages: outbox.messages, changes: overlay.into_changes() })
    }
}

#[cfg(test)]
pub(crate) mod tests;
