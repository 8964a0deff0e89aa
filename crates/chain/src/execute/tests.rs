use super::*;
use crate::{
    AccountInfo, MemoryState, StateReader,
    genesis::GenesisBalance,
    state::Overlay,
    testing::{self, TestChain, assert_issuance_invariant, pair, transfer},
};
use proptest::prelude::*;
use veil_crypto::AccountPair;
use veil_primitives::{AccountId, AccountsCall, Call};
use veil_types::fees;

/// Recognizes the error a test case expects.
type IsExpected<E> = fn(&E) -> bool;

struct Fixture {
    chain: Chain,
    state: MemoryState,
    head: Header,
    alice: AccountPair,
    bob: AccountPair,
}

fn fixture() -> Fixture {
    let (alice, bob) = (pair("//Alice"), pair("//Bob"));
    // Alice is rich; Bob starts poor, to test refusals for insufficient balance.
    let mut genesis = testing::genesis(&[alice.public()], 1_000_000);
    genesis.balances.push(GenesisBalance { account: bob.public(), amount: Balance::from_tokens(5).unwrap() });
    let chain = Chain::new(genesis).unwrap();
    let mut state = MemoryState::default();
    state.apply(chain.genesis_changes());
    let head = chain.genesis_header(Hash::ZERO);
    Fixture { chain, state, head, alice, bob }
}

fn block_after(parent: &Header, timestamp_ms: u64, transactions: Vec<SignedTransaction>) -> Block {
    Block {
        header: Header {
            parent: parent.hash(),
            height: parent.height + 1,
            timestamp_ms,
            state_root: Hash::ZERO,
            transactions_root: transactions_root(&transactions),
            egress_root: egress_root(&[]),
            // Right for blocks that publish nothing; blocks with messages come from `build`.
            messages: parent.messages.clone(),
            seed: None,
        },
        transactions: transactions.try_into().unwrap(),
        egress: Default::default(),
    }
}

fn balance(state: &MemoryState, account: &AccountId) -> Balance {
    state.account(account).unwrap().balance
}

/// Total issuance = genesis + minted − burned = every balance, locked balance and pot added up.
#[test]
fn transfer_moves_funds_and_splits_the_fee() {
    let mut f = fixture();
    let amount = Balance::from_tokens(10).unwrap();
    let tx = transfer(&f.chain, &f.alice, 0, f.bob.public(), amount);
    let fee = fees::fee(&f.chain.genesis().economics, tx.encoded_size()).unwrap();
    let block = block_after(&f.head, f.head.timestamp_ms + 1, vec![tx]);
    let before = f.state.issuance().unwrap();
    f.state.apply(f.chain.execute(&f.state, &f.head, &block, None).unwrap().changes);

    let alice = f.state.account(&f.alice.public()).unwrap();
    assert_eq!(alice, AccountInfo { nonce: 1, balance: Balance(1_000_000 * Balance::ONE.0 - amount.0 - fee.0) });
    assert_eq!(balance(&f.state, &f.bob.public()), Balance(15 * Balance::ONE.0));
    let split = fees::split_fee(&f.chain.genesis().economics, fee);
    assert_eq!(split.workers.0 + split.gatekeepers.0 + split.burned.0, fee.0);
    assert_eq!(split.workers.0, fee.0 * 65 / 100);
    let after = f.state.issuance().unwrap();
    assert_eq!(after.burned.0 - before.burned.0, split.burned.0);
    assert_issuance_invariant(&f.state);
}

/// Execution on a snapshot of exactly the keys `keys_touched` names gives the same result as on
/// the full state: the prefetch set is complete.
#[test]
fn keys_touched_are_enough_to_execute() {
    let f = fixture();
    let carol = AccountId([0xcc; 32]);
    let txs = vec![
        transfer(&f.chain, &f.alice, 0, f.bob.public(), Balance::ONE),
        transfer(&f.chain, &f.bob, 0, carol, Balance::ONE),
        transfer(&f.chain, &f.alice, 1, f.alice.public(), Balance::ONE),
    ];
    let mut snapshot = crate::Snapshot::default();
    for key in f.chain.keys_touched(&txs, &[]) {
        let value = f.state.get(&key).unwrap();
        snapshot.insert(key, value);
    }
    let block = block_after(&f.head, f.head.timestamp_ms + 1, txs);
    assert_eq!(
        f.chain.execute(&snapshot, &f.head, &block, None).unwrap(),
        f.chain.execute(&f.state, &f.head, &block, None).unwrap()
    );
}

#[test]
fn fee_split_burns_the_rounding_remainder() {
    let f = fixture();
    let split = fees::split_fee(&f.chain.genesis().economics, Balance(199));
    assert_eq!((split.workers.0, split.gatekeepers.0, split.burned.0), (129, 29, 41));
}

/// Each bad transaction gets its own error and leaves the state exactly as it was.
#[test]
fn bad_transactions_are_refused_and_change_nothing() {
    let f = fixture();
    let bob = f.bob.public();
    let one = Balance::ONE;
    let mut tampered = transfer(&f.chain, &f.alice, 0, bob, one);
    tampered.transaction.call = Call::Accounts(AccountsCall::Transfer { to: bob, amount: Balance(2 * one.0) });
    let mut other_chain = transfer(&f.chain, &f.alice, 0, bob, one);
    other_chain.transaction.genesis = Hash([9; 32]);
    other_chain.signature = f.alice.sign(&other_chain.transaction.signing_payload());
    let cases: Vec<(SignedTransaction, IsExpected<TransactionError>)> = vec![
        (tampered, |e| matches!(e, TransactionError::BadSignature(_))),
        (other_chain, |e| matches!(e, TransactionError::WrongChain { .. })),
        (transfer(&f.chain, &f.alice, 3, bob, one), |e| {
            matches!(e, TransactionError::FutureNonce { expected: 0, found: 3 })
        }),
        (transfer(&f.chain, &f.bob, 0, f.alice.public(), Balance::from_tokens(5).unwrap()), |e| {
            matches!(e, TransactionError::InsufficientBalance { .. })
        }),
        (transfer(&f.chain, &f.alice, 0, bob, Balance::ZERO), |e| matches!(e, TransactionError::ZeroAmount)),
    ];
    for (tx, expected) in cases {
        let mut overlay = Overlay::new(&f.state);
        let error =
            f.chain.apply(&mut overlay, &mut Outbox::new(0, 0, 0, f.chain.genesis().parameters()), &tx).unwrap_err();
        assert!(expected(&error), "unexpected error: {error}");
        assert!(overlay.into_changes().is_empty(), "a refused transaction wrote state: {error}");
    }
    let error = transfer(&f.chain, &f.alice, 3, bob, one);
    assert!(
        f.chain
            .apply(&mut Overlay::new(&f.state), &mut Outbox::new(0, 0, 0, f.chain.genesis().parameters()), &error)
            .unwrap_err()
            .is_future()
    );
}

#[test]
fn replayed_transaction_is_stale() {
    let mut f = fixture();
    let tx = transfer(&f.chain, &f.alice, 0, f.bob.public(), Balance::ONE);
    let block = block_after(&f.head, f.head.timestamp_ms + 1, vec![tx.clone()]);
    f.state.apply(f.chain.execute(&f.state, &f.head, &block, None).unwrap().changes);
    let error = f
        .chain
        .apply(&mut Overlay::new(&f.state), &mut Outbox::new(0, 0, 0, f.chain.genesis().parameters()), &tx)
        .unwrap_err();
    assert_eq!(error, TransactionError::StaleNonce { expected: 1, found: 0 });
    // The same transaction twice in one block: the block is refused, naming the second copy.
    let twice = block_after(
        &block.header,
        block.header.timestamp_ms + 1,
        vec![transfer(&f.chain, &f.alice, 1, f.bob.public(), Balance::ONE), tx],
    );
    let error = f.chain.execute(&f.state, &block.header, &twice, None).unwrap_err();
    assert!(matches!(error, BlockError::Transaction { index: 1, error: TransactionError::StaleNonce { .. }, .. }));
}

#[test]
fn malformed_and_oversized_bytes_are_refused() {
    let f = fixture();
    let tx = transfer(&f.chain, &f.alice, 0, f.bob.public(), Balance::ONE);
    let bytes = tx.encode();
    assert_eq!(f.chain.decode_transaction(&bytes).unwrap(), tx);
    assert!(matches!(f.chain.decode_transaction(&bytes[..bytes.len() - 1]), Err(TransactionError::Malformed(_))));
    let mut trailing = bytes.clone();
    trailing.push(0);
    assert!(matches!(f.chain.decode_transaction(&trailing), Err(TransactionError::Malformed(_))));
    let huge = vec![0u8; veil_primitives::parameters::max_transaction_bytes_bound() as usize + 1];
    assert!(matches!(f.chain.decode_transaction(&huge), Err(TransactionError::TooLarge { .. })));
    // Within what any transaction can be but above the parameters' limit: refused when it applies.
    let limit = bytes.len() - 1;
    let state = with_parameters(&f.state, |parameters| parameters.economics.max_transaction_bytes = limit as u32);
    let mut outbox = Outbox::new(1, 1, 0, state.parameters().unwrap());
    let error = f.chain.apply(&mut Overlay::new(&state), &mut outbox, &tx).unwrap_err();
    assert_eq!(error, TransactionError::TooLarge { len: bytes.len(), limit });
}

/// `state` with its parameters changed by `change`.
fn with_parameters(state: &MemoryState, change: impl FnOnce(&mut Parameters)) -> MemoryState {
    let mut parameters = state.parameters().unwrap();
    change(&mut parameters);
    let mut changed = state.clone();
    changed.apply(ChangeSet::from([(StateKey::Parameters.to_bytes(), Some(parameters.encode()))]));
    changed
}

/// Every bad block is refused with its reason, and the committed state stays as it was.
#[test]
fn bad_blocks_are_refused_and_change_nothing() {
    let f = fixture();
    let tx = || transfer(&f.chain, &f.alice, 0, f.bob.public(), Balance::ONE);
    let ts = f.head.timestamp_ms;
    let good = block_after(&f.head, ts + 1000, vec![tx()]);
    let mut wrong_parent = good.clone();
    wrong_parent.header.parent = Hash([1; 32]);
    let mut wrong_height = good.clone();
    wrong_height.header.height = 5;
    let same_time = block_after(&f.head, ts, vec![tx()]);
    let mut wrong_root = good.clone();
    wrong_root.header.transactions_root = Hash([2; 32]);
    let failing_tx = block_after(
        &f.head,
        ts + 1000,
        vec![transfer(&f.chain, &f.bob, 0, f.alice.public(), Balance::from_tokens(6).unwrap())],
    );
    let cases: Vec<(Block, Option<u64>, IsExpected<BlockError>)> = vec![
        (wrong_parent, None, |e| matches!(e, BlockError::WrongParent { .. })),
        (wrong_height, None, |e| matches!(e, BlockError::WrongHeight { expected: 1, found: 5 })),
        (same_time, None, |e| matches!(e, BlockError::TimestampNotIncreasing { .. })),
        (good.clone(), Some(ts - 5_000), |e| {
            matches!(e, BlockError::TimestampAhead { ahead_ms: 6_000, bound_ms: 2_000 })
        }),
        (wrong_root, None, |e| matches!(e, BlockError::TransactionsRoot { .. })),
        (failing_tx, None, |e| {
            matches!(e, BlockError::Transaction { index: 0, error: TransactionError::InsufficientBalance { .. }, .. })
        }),
    ];
    let before = f.state.clone();
    for (block, now, expected) in cases {
        let error = f.chain.execute(&f.state, &f.head, &block, now).unwrap_err();
        assert!(expected(&error), "unexpected error: {error}");
        assert_eq!(f.state, before);
    }
    // Sooner than the parameters' interval after the parent.
    let strict = with_parameters(&f.state, |parameters| parameters.economics.min_block_interval_ms = 500);
    let early = block_after(&f.head, ts + 499, vec![]);
    let error = f.chain.execute(&strict, &f.head, &early, None).unwrap_err();
    assert!(matches!(error, BlockError::TooSoon { after_ms: 499, interval_ms: 500 }), "{error}");
    // Within the clock bound it is accepted.
    assert!(f.chain.execute(&f.state, &f.head, &good, Some(ts)).is_ok());
}

#[test]
fn proposer_drops_what_would_fail_and_the_verifier_accepts_the_rest() {
    let f = fixture();
    let bob = f.bob.public();
    let candidates = vec![
        transfer(&f.chain, &f.alice, 0, bob, Balance::ONE),
        transfer(&f.chain, &f.alice, 0, bob, Balance::ONE), // duplicate nonce
        transfer(&f.chain, &f.alice, 1, bob, Balance::ONE),
        transfer(&f.chain, &f.bob, 0, f.alice.public(), Balance::from_tokens(100).unwrap()), // too poor
    ];
    let timestamp = f.head.timestamp_ms + 500;
    let built = f.chain.build(&f.state, &f.head, timestamp, None, candidates, []).unwrap();
    assert_eq!(built.transactions.len(), 2);
    assert_eq!(built.dropped.len(), 2);
    let block = block_after(&f.head, timestamp, built.transactions);
    assert_eq!(f.chain.execute(&f.state, &f.head, &block, None).unwrap().changes, built.changes);
}

#[test]
fn inflation_over_the_first_year_is_five_percent_split_by_rate() {
    let mut f = fixture();
    let supply = f.state.issuance().unwrap().total.0;
    // Twelve monthly blocks: a year of inflation at the first year's rate.
    let mut head = f.head.clone();
    for _ in 0..12 {
        let block = block_after(&head, head.timestamp_ms + YEAR_MS / 12, vec![]);
        f.state.apply(f.chain.execute(&f.state, &head, &block, None).unwrap().changes);
        head = block.header;
    }
    let issuance = f.state.issuance().unwrap();
    let pots = f.state.reward_pots().unwrap();
    let expected = supply / 20;
    assert!(expected - issuance.minted.0 < 100, "minted {} vs {expected}", issuance.minted.0);
    // The floor (3.25%) went to gatekeepers, the subsidy (5% − 3.25% = 1.75%) to workers.
    let (gatekeepers, workers) = (pots.gatekeepers.0, pots.workers.0);
    assert!((gatekeepers * 1_750).abs_diff(workers * 3_250) < workers * 3_250 / 1_000, "{gatekeepers} : {workers}");
    assert_issuance_invariant(&f.state);
    // In the second year the subsidy halves: 3.25% + 0.875%, on the year-start total.
    let start = issuance.total.0;
    for _ in 0..12 {
        let block = block_after(&head, head.timestamp_ms + YEAR_MS / 12, vec![]);
        f.state.apply(f.chain.execute(&f.state, &head, &block, None).unwrap().changes);
        head = block.header;
    }
    let minted_in_year_two = f.state.issuance().unwrap().minted.0 - issuance.minted.0;
    let expected = start * 41_250_000 / 1_000_000_000;
    assert!(expected.abs_diff(minted_in_year_two) < expected / 1000, "{minted_in_year_two} vs {expected}");
}

#[derive(Debug, Clone)]
enum Op {
    Transfer { from: usize, to: usize, amount: u128, nonce_offset: i8 },
    Advance(u64),
}

fn arb_op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0usize..4, 0usize..5, 0u128..3_000_000_000_000_000, -1i8..=1)
            .prop_map(|(from, to, amount, nonce_offset)| Op::Transfer { from, to, amount, nonce_offset }),
        1 => (1u64..86_400_000).prop_map(Op::Advance),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    /// Random transfers (valid and not) across random block times: after every block, total
    /// issuance equals genesis + minted − burned and the sum of every balance and pot, and every
    /// nonce counts the account's included transactions.
    #[test]
    fn issuance_invariant_holds_after_every_block(blocks in proptest::collection::vec(proptest::collection::vec(arb_op(), 0..8), 1..8)) {
        let pairs: Vec<AccountPair> = ["//Alice", "//Bob", "//Charlie", "//Dave"].iter().map(|uri| pair(uri)).collect();
        let accounts: Vec<AccountId> = pairs.iter().map(AccountPair::public).collect();
        let TestChain { chain, state, head } = testing::chain(&accounts, 2_000);
        let mut f = Fixture { chain, state, head, alice: pairs[0].clone(), bob: pairs[1].clone() };
        let mut nonces = [0u64; 4];
        let mut included = [0u64; 4];
        for ops in blocks {
            let mut timestamp = f.head.timestamp_ms + 1;
            let mut candidates = Vec::new();
            for op in ops {
                match op {
                    Op::Advance(ms) => timestamp += ms,
                    Op::Transfer { from, to, amount, nonce_offset } => {
                        let nonce = nonces[from].saturating_add_signed(i64::from(nonce_offset));
                        let to = pairs.get(to).map_or(AccountId([0xee; 32]), AccountPair::public);
                        candidates.push((from, transfer(&f.chain, &pairs[from], nonce, to, Balance(amount))));
                        if nonce_offset == 0 { nonces[from] += 1; }
                    }
                }
            }
            let built = f.chain.build(&f.state, &f.head, timestamp, None, candidates.iter().map(|(_, tx)| tx.clone()), []).unwrap();
            for tx in &built.transactions {
                let sender = candidates.iter().find(|(_, c)| c == tx).map(|(from, _)| *from).unwrap();
                included[sender] += 1;
            }
            let block = block_after(&f.head, timestamp, built.transactions);
            let changes = f.chain.execute(&f.state, &f.head, &block, None).unwrap().changes;
            prop_assert_eq!(&changes, &built.changes);
            f.state.apply(changes);
            f.head = block.header;
            assert_issuance_invariant(&f.state);
            for (index, pair) in pairs.iter().enumerate() {
                prop_assert_eq!(f.state.account(&pair.public()).unwrap().nonce, included[index]);
                nonces[index] = included[index];
            }
        }
    }
}
