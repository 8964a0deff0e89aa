use super::*;
use crate::{
    BlockError, Execution, MemoryState, Snapshot, egress_root,
    genesis::GenesisSender,
    testing::{self, command, egress, pair, runtime_signer},
};
use parity_scale_codec::{Decode, Encode};
use proptest::prelude::*;
use veil_crypto::{AccountPair, RuntimeSigner};
use veil_primitives::{
    Balance, Block, ContractId, Header,
    contract::{BlockStamp, CommandMessage, ContractMessage},
    decode_strict,
    log::LogPeaks,
    topics::{TopicError, verify_topic_range},
};
use veil_types::fees;

const CONTRACT: ContractId = ContractId([0xc1; 32]);
const OTHER: ContractId = ContractId([0xc2; 32]);

/// A chain with Alice funded, a contract sender at key epoch 1 and a gatekeeper at epoch 0; a
/// window of four sequence numbers and a quota of three copies per sender and block.
struct Net {
    chain: Chain,
    state: MemoryState,
    head: Header,
    alice: AccountPair,
    contract_key: RuntimeSigner,
    gatekeeper_key: RuntimeSigner,
}

fn contract_sender() -> SenderId {
    SenderId::Contract(CONTRACT)
}

fn gatekeeper_sender(net: &Net) -> SenderId {
    SenderId::Gatekeeper(net.gatekeeper_key.public())
}

fn net() -> Net {
    let alice = pair("//Alice");
    let (contract_key, gatekeeper_key) = (runtime_signer(1), runtime_signer(2));
    let mut genesis = testing::genesis(&[alice.public()], 1_000);
    genesis.economics.egress_window = 4;
    genesis.economics.max_egress_per_sender_per_block = 3;
    genesis.senders = vec![
        GenesisSender { sender: SenderId::Contract(CONTRACT), key: contract_key.public(), epoch: 1 },
        GenesisSender { sender: SenderId::Gatekeeper(gatekeeper_key.public()), key: gatekeeper_key.public(), epoch: 0 },
    ];
    let chain = Chain::new(genesis).unwrap();
    let mut state = MemoryState::default();
    state.apply(chain.genesis_changes());
    for contract in [CONTRACT, OTHER] {
        testing::install_contract(&mut state, contract);
    }
    let head = chain.genesis_header(Hash::ZERO);
    Net { chain, state, head, alice, contract_key, gatekeeper_key }
}

impl Net {
    /// An egress copy of the contract sender at its epoch.
    fn output(&self, sequence: u64, payload: &[u8]) -> SignedEgress {
        egress(&self.contract_key, contract_sender(), 1, sequence, Topic::Contract(OTHER), payload)
    }

    /// What a node reads ahead: the keys, then the tree nodes they lead to.
    fn prefetch(&self, transactions: &[SignedTransaction], copies: &[SignedEgress]) -> Snapshot {
        let mut snapshot = Snapshot::default();
        for key in self.chain.keys_touched(transactions, copies) {
            snapshot.insert(key.clone(), self.state.get(&key).unwrap());
        }
        let topics = self.chain.topics_touched(transactions, copies);
        for key in self.chain.tree_keys_touched(&snapshot, &topics).unwrap() {
            snapshot.insert(key.clone(), self.state.get(&key).unwrap());
        }
        snapshot
    }

    /// The block a proposer would make from these candidates (with a zero state root: the memory
    /// state is not authenticated), and what building it did.
    fn propose(&self, transactions: Vec<SignedTransaction>, copies: Vec<SignedEgress>) -> (Block, Execution) {
        let snapshot = self.prefetch(&transactions, &copies);
        let timestamp = self.head.timestamp_ms + 1;
        let built = self.chain.build(&snapshot, &self.head, timestamp, None, transactions, copies).unwrap();
        let block = Block {
            header: built.header(&self.head, Hash::ZERO),
            transactions: built.transactions.clone().try_into().unwrap(),
            egress: built.egress.clone().try_into().unwrap(),
        };
        (block, built)
    }

    /// Executes `block` as a verifier would (on a prefetched snapshot) and applies it.
    fn commit(&mut self, block: &Block) -> Result<Vec<Published>, BlockError> {
        let snapshot = self.prefetch(&block.transactions, &block.egress);
        let executed = self.chain.execute(&snapshot, &self.head, block, None)?;
        self.state.apply(executed.changes);
        self.head = block.header.clone();
        Ok(executed.messages)
    }

    /// Proposes, checks the verifier agrees, commits.
    fn step(&mut self, transactions: Vec<SignedTransaction>, copies: Vec<SignedEgress>) -> Execution {
        let (block, built) = self.propose(transactions, copies);
        assert_eq!(self.commit(&block).unwrap(), built.messages);
        built
    }

    /// A block carrying exactly `copies`, roots made to match, for refusal tests.
    fn forced(&self, copies: Vec<SignedEgress>) -> Block {
        let (mut block, _) = self.propose(vec![], vec![]);
        block.header.egress_root = egress_root(&copies);
        block.egress = copies.try_into().unwrap();
        block
    }

    fn sender(&self, sender: &SenderId) -> crate::SenderInfo {
        self.state.sender(sender).unwrap().unwrap()
    }

    fn log(&self, topic: Topic) -> LogPeaks {
        self.state.topic(&topic).unwrap().map(|info| info.log).unwrap_or_default()
    }

    /// Everything an account or a pot holds, and what was burned: egress must change none of it
    /// beyond the block's inflation, which goes to the pots.
    fn balances(&self) -> (Vec<(veil_primitives::AccountId, crate::AccountInfo)>, u128) {
        (self.state.accounts().collect(), self.state.issuance().unwrap().burned.0)
    }
}

fn egress_error(result: Result<Vec<Published>, BlockError>) -> EgressError {
    match result {
        Err(BlockError::Egress { error, .. }) => error,
        other => panic!("expected an egress refusal, got {other:?}"),
    }
}

#[test]
fn commands_publish_on_the_contract_topic_and_the_header_commits_every_log() {
    let mut net = net();
    let txs = vec![
        command(&net.chain, &net.alice, 0, CONTRACT, b"first"),
        command(&net.chain, &net.alice, 1, OTHER, b"elsewhere"),
        command(&net.chain, &net.alice, 2, CONTRACT, b"second"),
    ];
    let fee: u128 = txs.iter().map(|tx| fees::fee(&net.chain.genesis().economics, tx.encoded_size()).unwrap().0).sum();
    let before = net.state.accounts().next().unwrap().1.balance.0;
    let built = net.step(txs, vec![]);
    let topic = Topic::Contract(CONTRACT);
    let published: Vec<_> = built.messages.iter().filter(|p| p.message.topic == topic).collect();
    assert_eq!(published.len(), 2);
    assert_eq!((published[0].index, published[1].index), (0, 1));
    assert_eq!(published[1].message.origin, Origin::Account(net.alice.public()));
    let expected = ContractMessage::Command(CommandMessage {
        nonce: 2,
        block: BlockStamp { height: net.head.height, timestamp_ms: net.head.timestamp_ms },
        fuel: 0,
        value: Balance::ZERO,
        payload: b"second".to_vec().try_into().unwrap(),
    });
    assert_eq!(published[1].message.payload[..], expected.encode(), "the command carries the transaction's nonce");
    assert_eq!(net.state.accounts().next().unwrap().1.balance.0, before - fee, "commands pay their fee");

    // The state's proof of the topic verifies against the header's root, with the messages.
    let (info, proof) = net.chain.topic_proof(&net.state, &topic).unwrap().unwrap();
    let hashes: Vec<(u64, Hash)> = published.iter().map(|p| (p.index, p.message.hash())).collect();
    let root = net.head.messages.root;
    let peaks = verify_topic_range(&root, &topic, 0, &LogPeaks::default(), &hashes, &proof).unwrap();
    assert_eq!(peaks, info.log);
    // From the middle, with the peaks a reader kept.
    let mut kept = LogPeaks::default();
    kept.append(&hashes[0].1);
    assert_eq!(verify_topic_range(&root, &topic, 1, &kept, &hashes[1..], &proof).unwrap(), info.log);
    // Another topic's proof does not fit these messages.
    let (_, other) = net.chain.topic_proof(&net.state, &Topic::Contract(OTHER)).unwrap().unwrap();
    let error = verify_topic_range(&root, &topic, 0, &LogPeaks::default(), &hashes, &other).unwrap_err();
    assert!(matches!(error, TopicError::Range(_) | TopicError::RootMismatch), "{error}");

    // A block that publishes nothing keeps the root; a header claiming another root is refused.
    net.step(vec![], vec![]);
    assert_eq!(net.head.messages.root, root);
    let (mut block, _) = net.propose(vec![command(&net.chain, &net.alice, 3, CONTRACT, b"third")], vec![]);
    block.header.messages.root = root;
    assert!(matches!(net.commit(&block), Err(BlockError::MessagesRoot { .. })));
}

#[test]
fn replicas_in_one_block_publish_once_and_pay_nothing() {
    let mut net = net();
    let copy = net.output(0, b"result");
    let before = net.balances();
    let built = net.step(vec![], vec![copy.clone(), copy.clone()]);
    assert_eq!(built.egress, vec![copy.clone()]);
    assert_eq!(built.skipped_egress.len(), 1);
    assert!(matches!(built.skipped_egress[0].1, EgressError::Duplicate { sequence: 0, .. }));
    assert_eq!(built.messages.len(), 1);
    assert_eq!(built.messages[0].message.origin, Origin::Runtime(contract_sender()));
    assert_eq!(net.balances(), before, "no account paid and nothing was burned");
    assert_eq!(net.sender(&contract_sender()).next_sequence, 1);
    assert_eq!(net.log(Topic::Contract(OTHER)).length, 1);

    // A proposer that includes both copies makes an invalid block.
    let mut net = self::net();
    let block = net.forced(vec![copy.clone(), copy]);
    let error = egress_error(net.commit(&block));
    assert!(matches!(error, EgressError::Duplicate { sequence: 0, .. }), "{error}");
}

#[test]
fn a_replica_one_block_late_is_a_free_duplicate() {
    let mut net = net();
    let copy = net.output(0, b"result");
    net.step(vec![], vec![copy.clone()]);
    let before = net.balances();
    let built = net.step(vec![], vec![copy.clone()]);
    assert!(built.egress.is_empty() && built.messages.is_empty());
    assert!(matches!(built.skipped_egress[0].1, EgressError::Duplicate { .. }));
    assert_eq!(net.balances(), before);
    assert_eq!(net.log(Topic::Contract(OTHER)).length, 1);
    let error = egress_error(net.commit(&net.forced(vec![copy])));
    assert!(matches!(error, EgressError::Duplicate { .. }), "{error}");
}

#[test]
fn a_differing_copy_is_recorded_once_as_a_discrepancy() {
    let mut net = net();
    let accepted = net.output(0, b"result");
    let differing = net.output(0, b"another result");
    let third = net.output(0, b"yet another");
    // In the same block as the accepted copy.
    let built = net.step(vec![], vec![accepted.clone(), differing.clone()]);
    assert_eq!(built.egress.len(), 2);
    let evidence = &built.messages[1];
    assert_eq!(evidence.message.topic, Topic::System(SystemTopic::Discrepancies));
    assert_eq!(evidence.message.origin, Origin::Chain);
    let decoded: Discrepancy = decode_strict(&evidence.message.payload).unwrap();
    assert_eq!(decoded, Discrepancy { accepted: accepted.egress.content_hash(), differing: differing.clone() });
    let recorded = net.state.discrepancy(&contract_sender(), 0).unwrap();
    assert_eq!(recorded, Some(differing.hash()));
    assert_eq!(net.sender(&contract_sender()).next_sequence, 1, "a discrepancy does not advance the sequence");

    // Once per number: a third version is refused, in a later block too.
    let built = net.step(vec![], vec![third.clone()]);
    assert!(matches!(built.skipped_egress[0].1, EgressError::DiscrepancyRecorded { sequence: 0, .. }));
    let error = egress_error(net.commit(&net.forced(vec![third])));
    assert!(matches!(error, EgressError::DiscrepancyRecorded { .. }), "{error}");

    // In a later block than the accepted copy.
    let later = net.output(1, b"one");
    net.step(vec![], vec![later]);
    let built = net.step(vec![], vec![net.output(1, b"two")]);
    assert_eq!(built.messages[0].message.topic, Topic::System(SystemTopic::Discrepancies));
}

#[test]
fn wrong_signer_old_epoch_stale_and_strangers_are_refused() {
    let mut net = net();
    let topic = Topic::Contract(OTHER);
    let check = |net: &Net, copy: &SignedEgress| net.chain.check_egress(&Overlay::new(&net.state), copy).unwrap_err();

    let forged = egress(&net.gatekeeper_key, contract_sender(), 1, 0, topic, b"x");
    assert_eq!(check(&net, &forged), EgressError::BadSignature(contract_sender()));
    let mut tampered = net.output(0, b"x");
    tampered.egress.payload = b"y".to_vec().try_into().unwrap();
    assert_eq!(check(&net, &tampered), EgressError::BadSignature(contract_sender()));

    let old = egress(&net.contract_key, contract_sender(), 0, 0, topic, b"x");
    assert!(matches!(check(&net, &old), EgressError::OldEpoch { .. }));
    let ahead = egress(&net.contract_key, contract_sender(), 2, 0, topic, b"x");
    assert!(matches!(check(&net, &ahead), EgressError::FutureEpoch { .. }));

    let stranger = egress(&net.contract_key, SenderId::Cluster(veil_primitives::ClusterId(9)), 1, 0, topic, b"x");
    assert!(matches!(check(&net, &stranger), EgressError::UnknownSender(_)));
    let system = egress(&net.contract_key, contract_sender(), 1, 0, Topic::System(SystemTopic::Deposits), b"x");
    assert!(matches!(check(&net, &system), EgressError::TopicNotAllowed { .. }));
    let gatekeeper = gatekeeper_sender(&net);
    let keys = egress(&net.gatekeeper_key, gatekeeper, 0, 0, Topic::System(SystemTopic::KeyEpochs), b"k");
    let error = check(&net, &keys);
    assert!(matches!(error, EgressError::Payload { .. }), "a gatekeeper's own egress must be a proposal: {error}");
    let released = egress(&net.gatekeeper_key, gatekeeper, 0, 0, Topic::System(SystemTopic::Releases), b"");
    assert!(matches!(check(&net, &released), EgressError::TopicNotAllowed { .. }), "releases are contracts'");
    let heartbeat = egress(&net.gatekeeper_key, gatekeeper, 0, 0, Topic::System(SystemTopic::Heartbeats), b"");
    assert!(matches!(check(&net, &heartbeat), EgressError::Payload { .. }), "a gatekeeper beats, with a heartbeat");

    // A number ahead waits; after six accepted numbers (window four), number 1 is stale.
    let future = net.output(3, b"later");
    let error = check(&net, &future);
    assert!(error.is_retryable() && matches!(error, EgressError::FutureSequence { next: 0, found: 3, .. }));
    for sequence in 0..6 {
        net.step(vec![], vec![net.output(sequence, b"r")]);
    }
    let stale = net.output(1, b"late and different");
    assert_eq!(check(&net, &stale), EgressError::Stale { sender: contract_sender(), next: 6, found: 1, window: 4 });
    assert_eq!(net.state.egress_accepted(&contract_sender(), 1).unwrap(), None, "window pruned");
    for bad in [forged, old, stranger, stale] {
        assert!(matches!(net.commit(&net.forced(vec![bad])), Err(BlockError::Egress { .. })));
    }
}

#[test]
fn the_per_block_quota_defers_the_rest() {
    let mut net = net();
    let copies: Vec<_> = (0..5).map(|sequence| net.output(sequence, b"r")).collect();
    let built = net.step(vec![], copies.clone());
    assert_eq!(built.egress.len(), 3);
    assert!(built.skipped_egress.iter().all(|(_, error)| error.is_retryable()));
    // A block with a fourth copy of the sender is refused.
    let over: Vec<_> = (3..7).map(|sequence| net.output(sequence, b"r")).collect();
    let error = egress_error(net.commit(&net.forced(over)));
    assert_eq!(error, EgressError::RateLimited { sender: contract_sender(), limit: 3 });
    let built = net.step(vec![], copies[3..].to_vec());
    assert_eq!(built.egress.len(), 2);
    assert_eq!(net.sender(&contract_sender()).next_sequence, 5);
}

#[test]
fn egress_decoding_is_strict_and_bounded() {
    let net = net();
    let copy = net.output(0, b"r");
    assert_eq!(net.chain.decode_egress(&copy.encode()).unwrap(), copy);
    let mut long = copy.encode();
    long.push(0);
    assert!(matches!(net.chain.decode_egress(&long), Err(EgressError::Malformed(_))));
    let huge = vec![0u8; veil_primitives::parameters::MAX_EGRESS_BYTES as usize + 1];
    assert!(matches!(net.chain.decode_egress(&huge), Err(EgressError::TooLarge { .. })));
    // Within any limit but beyond the current one: refused against the state, as too large.
    let mut small = net.state.parameters().unwrap();
    small.economics.max_egress_bytes = copy.encoded_size() as u32 - 1;
    let mut state = net.state.clone();
    state.apply(crate::ChangeSet::from([(StateKey::Parameters.to_bytes(), Some(small.encode()))]));
    let error = net.chain.check_egress(&Overlay::new(&state), &copy).unwrap_err();
    assert!(matches!(error, EgressError::TooLarge { .. }), "{error}");
    assert!(SignedEgress::decode(&mut &copy.encode()[..3]).is_err());
}

#[derive(Debug, Clone)]
enum Copy {
    /// The contract's output under `next + offset`, content variant `variant`.
    Output { offset: i8, variant: u8 },
    /// A command from Alice.
    Command,
}

fn arb_copy() -> impl Strategy<Value = Copy> {
    prop_oneof![
        5 => (-3i8..=2, 0u8..3).prop_map(|(offset, variant)| Copy::Output { offset, variant }),
        1 => Just(Copy::Command),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    /// Random streams of replicas, differing copies, gaps and commands: the verifier agrees with the
    /// proposer; every sequence number is accepted at most once and in order (the sender's next
    /// number counts the accepted copies, which is also its topic's length); at most one
    /// discrepancy per number; nobody pays for egress; and the header's root always proves each log.
    #[test]
    fn exactly_once_holds_over_random_egress(blocks in proptest::collection::vec(proptest::collection::vec(arb_copy(), 0..8), 1..6)) {
        let mut net = net();
        let mut nonce = 0;
        let (mut accepted, mut discrepancies, mut commands) = (0u64, 0u64, 0u64);
        for block in blocks {
            let next = net.sender(&contract_sender()).next_sequence;
            let mut txs = Vec::new();
            let mut copies = Vec::new();
            for copy in block {
                match copy {
                    Copy::Command => {
                        txs.push(command(&net.chain, &net.alice, nonce, CONTRACT, b"c"));
                        nonce += 1;
                    }
                    Copy::Output { offset, variant } => {
                        let sequence = next.saturating_add_signed(i64::from(offset));
                        copies.push(net.output(sequence, &[variant]));
                    }
                }
            }
            let burned = net.balances().1;
            let built = net.step(txs, copies);
            commands += built.transactions.len() as u64;
            let tx_fees: u128 = built.transactions.iter().map(|tx| { let economics = &net.chain.genesis().economics; fees::split_fee(economics, fees::fee(economics, tx.encoded_size()).unwrap()).burned.0 }).sum();
            prop_assert_eq!(net.balances().1 - burned, tx_fees, "only transactions burn fees");
            for published in &built.messages {
                match published.message.topic {
                    Topic::Contract(OTHER) => accepted += 1,
                    Topic::System(SystemTopic::Discrepancies) => discrepancies += 1,
                    _ => {}
                }
            }
            let info = net.sender(&contract_sender());
            prop_assert_eq!(info.next_sequence, accepted);
            prop_assert_eq!(net.log(Topic::Contract(OTHER)).length, accepted);
            prop_assert_eq!(net.log(Topic::Contract(CONTRACT)).length, commands);
            prop_assert_eq!(net.log(Topic::System(SystemTopic::Discrepancies)).length, discrepancies);
            prop_assert!(discrepancies <= accepted);
            for topic in [Topic::Contract(OTHER), Topic::Contract(CONTRACT), Topic::System(SystemTopic::Discrepancies)] {
                if let Some((info, proof)) = net.chain.topic_proof(&net.state, &topic).unwrap() {
                    // The reader that kept the log's peaks verifies an empty range up to the same length.
                    prop_assert_eq!(verify_topic_range(&net.head.messages.root, &topic, info.log.length, &info.log, &[], &proof), Ok(info.log));
                }
            }
        }
    }
}

/// Issue 22, item 5: a topic that grows with the chain (the seeds) keeps only its window in state,
/// so the state does not grow with the chain's length; its root still commits every message, pages
/// inside the window verify, and a page from before it is refused with the reason.
#[test]
fn a_windowed_topic_keeps_its_newest_messages_and_serves_pages_from_them() {
    let net = net();
    let seeds = Topic::System(SystemTopic::Seeds);
    let window = seeds.kept_messages().unwrap();
    let published = 2 * window + 100;
    let mut state = net.state.clone();
    let mut peaks = LogPeaks::default();
    let mut hashes = Vec::new();
    let mut root = Hash::ZERO;
    // In blocks of 256 messages, each applied to the state as a validator applies a block.
    for block in 0..published.div_ceil(256) {
        let mut overlay = Overlay::new(&state);
        let mut outbox = Outbox::new(block + 1, 1_000 + block, 1_000, net.chain.genesis().parameters());
        for index in block * 256..((block + 1) * 256).min(published) {
            let message = crate::contracts::chain_message(seeds, index.to_le_bytes().to_vec()).unwrap();
            peaks.append(&message.hash());
            hashes.push(message.hash());
            net.chain.publish(&mut overlay, &mut outbox, message).unwrap();
        }
        root = net.chain.commit_topics(&mut overlay, &outbox).unwrap();
        state.apply(overlay.into_changes());
    }
    let info = state.topic(&seeds).unwrap().unwrap();
    assert_eq!(info.log, peaks, "the log commits every message ever published");
    let first = seeds.first_kept(published);
    assert_eq!(first, published - window);
    for index in 0..published {
        let kept = state.topic_message(&seeds, index).unwrap().is_some();
        assert_eq!(kept, index >= first, "message {index}");
    }
    for level in KEPT_LEVEL..20 {
        for index in 0..published >> level {
            let start = index << level;
            let kept = state.topic_log_node(&seeds, level, index).unwrap().is_some();
            let expected = start >= first && (1 << level) <= window;
            assert_eq!(kept, expected, "subtree {index} of level {level}");
        }
    }

    // A page from the first kept message, short of the end, verifies against the root.
    let (messages, proof) = net.chain.topic_page(&state, &seeds, &info, first, 100).unwrap();
    assert_eq!(messages.len(), 100);
    let mut before = LogPeaks::default();
    hashes[..first as usize].iter().for_each(|hash| before.append(hash));
    let range: Vec<(u64, Hash)> = messages.iter().enumerate().map(|(i, m)| (first + i as u64, m.hash())).collect();
    let after = verify_topic_range(&root, &seeds, first, &before, &range, &proof).unwrap();
    assert_eq!(after.length, first + 100);
    // From before the window: refused, saying why.
    for from in [0, first - 1] {
        let error = net.chain.topic_page(&state, &seeds, &info, from, 100).unwrap_err().to_string();
        assert!(
            error.contains("keeps only its newest 4096 messages") && error.contains("read it from its end"),
            "{error}"
        );
        assert!(page_keys(&seeds, &info, from, 100).is_err());
    }
}
