//! Networks and chains for tests and benchmarks, without running consensus.
//!
//! [`TestNetwork`] is a dealer-made validator set whose threshold shares sign finalization
//! certificates directly: the same certificates consensus produces, at a fraction of the cost.
//! [`GeneratedChain`] builds a long chain with the chain's own rules (commands from a funded
//! account, one per block, round-robin over a set of contracts), so light-client sync can be
//! measured over 100k+ blocks in seconds instead of running consensus for half an hour. Its state
//! is the unauthenticated memory state, so headers carry a zero state root; the message root, which
//! is what a light client checks, is the real one.

use commonware_codec::Encode as _;
use commonware_consensus::{
    simplex::types::{Finalization, Finalize, Proposal},
    types::{Epoch, Round, View},
};
use commonware_cryptography::Signer as _;
use commonware_parallel::Sequential;
use commonware_utils::non_empty;
use rand::SeedableRng as _;
use veil_chain::ReadState as _;
use veil_chain::{
    Chain, MemoryState,
    testing::{command, pair},
};
use veil_crypto::AccountPair;
use veil_primitives::{
    ContractId, Hash, Header, Message, RoundSeed, SignedEgress, SignedTransaction, Topic, log::LogPeaks,
    topics::TopicProof,
};

use crate::{
    alias::{PrivateKey, Scheme},
    block::to_digest,
    dealer,
};

/// A validator set that signs certificates without running consensus.
pub struct TestNetwork {
    /// The BLS network key that verifies the certificates.
    pub network_key: [u8; 96],
    /// The signing namespace.
    pub namespace: String,
    schemes: Vec<Scheme>,
}

impl TestNetwork {
    /// `validators` validators from a fixed `seed`, signing under `namespace`.
    pub fn new(seed: u64, validators: u64, namespace: &str) -> Self {
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let identities: Vec<_> =
            (0..validators).map(|i| PrivateKey::from_seed(seed * 1_000 + i).public_key()).collect();
        let dealing = dealer::deal(&mut rng, &identities).unwrap_or_else(|error| panic!("dealing: {error}"));
        let schemes = dealing
            .shares
            .iter()
            .map(|(_, share)| {
                let polynomial = dealer::decode_polynomial(&dealing.polynomial, identities.len())
                    .unwrap_or_else(|error| panic!("polynomial: {error}"));
                let share = dealer::decode_share(share).unwrap_or_else(|error| panic!("share: {error}"));
                dealer::signer(namespace.as_bytes(), &identities, polynomial, share)
                    .unwrap_or_else(|error| panic!("signer: {error}"))
            })
            .collect();
        Self { network_key: dealing.network_key, namespace: namespace.to_owned(), schemes }
    }

    /// The finalization certificate of `header` at `view`, from a quorum's finalize votes, encoded
    /// as consensus encodes it.
    pub fn certify(&self, view: u64, header: &Header) -> Vec<u8> {
        let round = Round::new(Epoch::zero(), View::new(view));
        let proposal = Proposal::new(round, View::new(view.saturating_sub(1)), to_digest(header.hash()));
        let quorum = self.schemes.len() * 2 / 3 + 1;
        let votes: Vec<_> = self.schemes[..quorum]
            .iter()
            .map(|scheme| Finalize::sign(scheme, proposal.clone()).unwrap_or_else(|| panic!("cannot sign")))
            .collect();
        Finalization::<Scheme, _>::from_finalizes(&self.schemes[0], non_empty![@&votes], &Sequential)
            .unwrap_or_else(|error| panic!("cannot assemble a certificate: {error:?}"))
            .encode()
            .to_vec()
    }

    /// The seed of `view`'s round (epoch 0): the last 48 bytes of any certificate of that round.
    pub fn seed(&self, view: u64) -> RoundSeed {
        // The seed signs the round alone: any proposal of the round carries the same one.
        let any = Header {
            parent: Hash::ZERO,
            height: view,
            timestamp_ms: 0,
            state_root: Hash::ZERO,
            transactions_root: Hash::ZERO,
            egress_root: Hash::ZERO,
            messages: Default::default(),
            seed: None,
        };
        let certificate = self.certify(view, &any);
        let mut signature = [0u8; 48];
        signature.copy_from_slice(&certificate[certificate.len() - 48..]);
        RoundSeed { epoch: 0, view, signature }
    }
}

/// A chain built block by block with the chain's rules, and the network that certifies it.
pub struct GeneratedChain {
    /// The rules (a test genesis pinning the network's key and namespace).
    pub chain: Chain,
    /// The state after the last block.
    pub state: MemoryState,
    /// Every header, genesis first.
    pub headers: Vec<Header>,
    /// The certifying network.
    pub network: TestNetwork,
    sender: AccountPair,
    contracts: Vec<ContractId>,
}

impl GeneratedChain {
    /// A chain at genesis whose blocks will carry commands to `contracts` contracts, round-robin.
    pub fn new(contracts: u8) -> Self {
        Self::with_genesis(contracts, |_| {})
    }

    /// [`GeneratedChain::new`] with a genesis that `adjust` changed (Alice is funded; the network
    /// key and namespace are the test network's).
    pub fn with_genesis(contracts: u8, adjust: impl FnOnce(&mut veil_chain::Genesis)) -> Self {
        let network = TestNetwork::new(7, 4, "veil-generated");
        let sender = pair("//Alice");
        let mut genesis = veil_chain::testing::genesis(&[sender.public()], 1_000_000_000);
        adjust(&mut genesis);
        genesis.network.public_key = network.network_key;
        genesis.network.namespace = network.namespace.clone();
        let chain = Chain::new(genesis).unwrap_or_else(|error| panic!("genesis: {error}"));
        let mut state = MemoryState::default();
        state.apply(chain.genesis_changes());
        let headers = vec![chain.genesis_header(Hash::ZERO)];
        let contracts: Vec<ContractId> = (0..contracts.max(1)).map(|i| ContractId([i; 32])).collect();
        for contract in &contracts {
            veil_chain::testing::install_contract(&mut state, *contract);
        }
        Self { chain, state, headers, network, sender, contracts }
    }

    /// The command topic of contract `index`.
    pub fn topic(&self, index: usize) -> Topic {
        Topic::Contract(self.contracts[index % self.contracts.len()])
    }

    /// The newest header.
    pub fn tip(&self) -> &Header {
        self.headers.last().unwrap_or_else(|| unreachable!("the genesis header is always there"))
    }

    /// Appends one block with one command (a 32-byte payload) from Alice to the next contract in
    /// turn (Alice's nonces must not be used elsewhere).
    pub fn extend(&mut self) {
        let nonce = self.tip().height;
        let contract = self.contracts[(nonce % self.contracts.len() as u64) as usize];
        let mut payload = [0u8; 32];
        payload[..8].copy_from_slice(&nonce.to_le_bytes());
        let tx = command(&self.chain, &self.sender, nonce, contract, &payload);
        self.push(vec![tx], Vec::new());
    }

    /// Appends one block with these transactions and egress copies, one millisecond after the tip;
    /// panics if the chain drops any of them.
    pub fn push(&mut self, transactions: Vec<SignedTransaction>, egress: Vec<SignedEgress>) {
        let (count, copies) = (transactions.len(), egress.len());
        let built = self.push_after(1, transactions, egress);
        assert_eq!(built.transactions.len(), count, "transactions dropped: {:?}", built.dropped);
        assert_eq!(built.egress.len(), copies, "egress skipped: {:?}", built.skipped_egress);
    }

    /// Appends one block `after_ms` after the tip with whichever of these transactions and egress
    /// copies apply; returns what the block kept and what it left out, with reasons.
    pub fn push_after(
        &mut self,
        after_ms: u64,
        transactions: Vec<SignedTransaction>,
        egress: Vec<SignedEgress>,
    ) -> veil_chain::Execution {
        let parent = self.tip().clone();
        let timestamp = parent.timestamp_ms + after_ms.max(1);
        let seed = self.seed_after(&parent);
        let built = self
            .chain
            .build(&self.state, &parent, timestamp, seed, transactions, egress)
            .unwrap_or_else(|error| panic!("build: {error}"));
        let header = built.header(&parent, Hash::ZERO);
        self.state.apply(built.changes.clone());
        self.headers.push(header);
        built
    }

    /// The seed a child of `parent` carries: block `h` is certified in view `h` here, so its child
    /// carries the seed of view `h` (none after genesis, which no round certified).
    fn seed_after(&self, parent: &Header) -> Option<RoundSeed> {
        (parent.height > 0).then(|| self.network.seed(parent.height))
    }

    /// Appends `messages` to their topics as blocks would publish them, and a header over the
    /// result one millisecond after the tip (its state root is not meaningful: for benchmarks of
    /// sync, which checks the message root only).
    pub fn publish_directly(&mut self, messages: impl IntoIterator<Item = Message>) {
        let root = veil_chain::testing::publish_directly(&self.chain, &mut self.state, messages)
            .unwrap_or_else(|error| panic!("publish: {error}"));
        let parent = self.tip().clone();
        let mut header = parent.clone();
        header.parent = parent.hash();
        header.height = parent.height + 1;
        header.timestamp_ms = parent.timestamp_ms + 1;
        header.messages.root = root;
        header.seed = self.seed_after(&parent);
        self.headers.push(header);
    }

    /// Appends `blocks` blocks.
    pub fn extend_by(&mut self, blocks: u64) {
        for _ in 0..blocks {
            self.extend();
        }
    }

    /// The messages of `topic` from `from` to its length now, with their proof against the tip.
    pub fn topic_range(&self, topic: &Topic, from: u64) -> (Vec<Message>, TopicProof) {
        self.try_topic_range(topic, from).unwrap_or_else(|| panic!("topic {topic} has no message"))
    }

    /// [`GeneratedChain::topic_range`], or `None` while the topic has no message.
    pub fn try_topic_range(&self, topic: &Topic, from: u64) -> Option<(Vec<Message>, TopicProof)> {
        self.topic_page(topic, Some(from), u64::MAX).map(|(messages, proof, _)| (messages, proof))
    }

    /// A page at the tip as the node serves it: at most `limit` messages from `from` (from the
    /// log's end, with its peaks there, when `None`), or `None` while the topic has no message.
    pub fn topic_page(
        &self,
        topic: &Topic,
        from: Option<u64>,
        limit: u64,
    ) -> Option<(Vec<Message>, TopicProof, Option<LogPeaks>)> {
        let info = self.state.topic(topic).unwrap_or_else(|error| panic!("topic: {error}"))?;
        let (start, from) = veil_chain::messages::page_start(&info, from);
        let (messages, proof) = self
            .chain
            .topic_page(&self.state, topic, &info, from, limit)
            .unwrap_or_else(|error| panic!("page: {error}"));
        Some((messages, proof, start))
    }

    /// The tip's certificate (its view is its height).
    pub fn certify_tip(&self) -> Vec<u8> {
        self.network.certify(self.tip().height.max(1), self.tip())
    }
}
