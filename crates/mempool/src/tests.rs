use super::*;
use veil_chain::{
    ChangeSet, MemoryState,
    testing::{self, TestChain, pair, transfer},
};
use veil_crypto::AccountPair;

struct Fixture {
    pool: Mempool,
    chain: Chain,
    state: MemoryState,
    alice: AccountPair,
    bob: AccountPair,
}

fn fixture(limits: Limits) -> Fixture {
    let (alice, bob) = (pair("//Alice"), pair("//Bob"));
    let TestChain { chain, state, .. } = testing::chain(&[alice.public(), bob.public()], 100);
    Fixture { pool: Mempool::new(chain.clone(), limits), chain, state, alice, bob }
}

fn send(f: &Fixture, from: &AccountPair, nonce: u64, tokens: u128) -> SignedTransaction {
    let to = if from.public() == f.alice.public() { f.bob.public() } else { f.alice.public() };
    transfer(&f.chain, from, nonce, to, Balance(tokens * Balance::ONE.0))
}

#[test]
fn admits_ready_and_parks_future_nonces_until_the_gap_fills() {
    let mut f = fixture(Limits::default());
    let (first, third, second) = (send(&f, &f.alice, 0, 1), send(&f, &f.alice, 2, 1), send(&f, &f.alice, 1, 1));
    assert_eq!(f.pool.insert(&f.state, first.clone()), Ok(Admitted::Ready));
    assert_eq!(f.pool.insert(&f.state, third.clone()), Ok(Admitted::Parked));
    assert_eq!(f.pool.ready(&f.state, 10).unwrap(), vec![first.clone()]);
    assert_eq!(f.pool.insert(&f.state, second.clone()), Ok(Admitted::Ready));
    assert_eq!(f.pool.ready(&f.state, 10).unwrap(), vec![first, second, third]);
}

#[test]
fn refusals_say_why_and_leave_the_pool_unchanged() {
    let mut f = fixture(Limits { max_nonce_gap: 4, ..Limits::default() });
    let pending = send(&f, &f.alice, 0, 1);
    f.pool.insert(&f.state, pending.clone()).unwrap();
    let mut bad_signature = send(&f, &f.bob, 0, 1);
    bad_signature.signature[0] ^= 1;
    let mut wrong_chain = send(&f, &f.bob, 0, 1);
    wrong_chain.transaction.genesis = Hash([5; 32]);
    let cases = [
        (pending.clone(), "already pending"),
        (send(&f, &f.alice, 0, 2), "already taken"),
        (bad_signature, "bad signature"),
        (wrong_chain, "is for chain"),
        (send(&f, &f.bob, 9, 1), "more than 4 ahead"),
        (send(&f, &f.bob, 0, 101), "insufficient balance"),
        (send(&f, &f.bob, 0, 0), "greater than zero"),
    ];
    for (tx, reason) in cases {
        let error = f.pool.insert(&f.state, tx).unwrap_err();
        assert!(error.to_string().contains(reason), "{error} (expected {reason:?})");
        assert_eq!(f.pool.len(), 1);
    }
}

#[test]
fn balance_must_cover_every_earlier_pending_transaction() {
    let mut f = fixture(Limits::default());
    // 100 tokens: 60 then 39 leaves too little for the second's fee.
    f.pool.insert(&f.state, send(&f, &f.bob, 0, 60)).unwrap();
    let error = f.pool.insert(&f.state, send(&f, &f.bob, 1, 40)).unwrap_err();
    assert!(matches!(error, AdmissionError::Invalid(TransactionError::InsufficientBalance { .. })), "{error}");
    assert!(f.pool.insert(&f.state, send(&f, &f.bob, 1, 39)).is_ok());
}

#[test]
fn stale_after_a_block_is_pruned_and_refused() {
    let mut f = fixture(Limits::default());
    let (a0, a1, b0) = (send(&f, &f.alice, 0, 1), send(&f, &f.alice, 1, 1), send(&f, &f.bob, 0, 1));
    for tx in [&a0, &a1, &b0] {
        f.pool.insert(&f.state, tx.clone()).unwrap();
    }
    // A block with Alice's first transaction finalizes.
    let head = f.chain.genesis_header(Hash::ZERO);
    let built = f.chain.build(&f.state, &head, head.timestamp_ms + 1, None, [a0.clone()], []).unwrap();
    f.state.apply(built.changes);
    assert_eq!(f.pool.prune(&f.state).unwrap(), vec![a0.hash()]);
    assert_eq!(f.pool.len(), 2);
    assert!(matches!(
        f.pool.insert(&f.state, a0),
        Err(AdmissionError::Invalid(TransactionError::StaleNonce { expected: 1, found: 0 }))
    ));
    assert_eq!(f.pool.ready(&f.state, 10).unwrap(), vec![a1, b0]);
}

/// After a parameter change, a pending transaction the new fees price beyond its account's balance
/// is dropped, with the account's later ones that would wait on it forever; other accounts' stay.
#[test]
fn what_new_parameters_no_longer_allow_is_pruned() {
    let mut f = fixture(Limits::default());
    // Bob (100 tokens) sends 99 twice over; Alice sends 1.
    let (b0, b1, a0) = (send(&f, &f.bob, 0, 49), send(&f, &f.bob, 1, 49), send(&f, &f.alice, 0, 1));
    for tx in [&b0, &b1, &a0] {
        f.pool.insert(&f.state, tx.clone()).unwrap();
    }
    // Fees rise to 1.5 tokens a transaction: Bob's second no longer fits his balance.
    let mut parameters = f.state.parameters().unwrap();
    parameters.economics.transaction_base_fee = Balance(3 * Balance::ONE.0 / 2);
    f.state.apply(ChangeSet::from([(StateKey::Parameters.to_bytes(), Some(parameters.encode()))]));
    assert_eq!(f.pool.prune(&f.state).unwrap(), vec![b1.hash()]);
    assert_eq!(f.pool.ready(&f.state, 10).unwrap(), vec![b0, a0]);
    // A limit below a pending transaction's size drops it too.
    parameters.economics.max_transaction_bytes = 100;
    f.state.apply(ChangeSet::from([(StateKey::Parameters.to_bytes(), Some(parameters.encode()))]));
    assert_eq!(f.pool.prune(&f.state).unwrap().len(), 2);
    assert!(f.pool.is_empty());
}

#[test]
fn limits_are_enforced() {
    let mut f = fixture(Limits { max_transactions: 2, max_per_account: 1, ..Limits::default() });
    f.pool.insert(&f.state, send(&f, &f.alice, 0, 1)).unwrap();
    assert_eq!(
        f.pool.insert(&f.state, send(&f, &f.alice, 1, 1)),
        Err(AdmissionError::Full("this account's pending limit"))
    );
    f.pool.insert(&f.state, send(&f, &f.bob, 0, 1)).unwrap();
    let carol = pair("//Charlie");
    let TestChain { chain, state, .. } = testing::chain(&[carol.public()], 10);
    let mut small = Mempool::new(chain.clone(), Limits { max_transactions: 0, ..Limits::default() });
    let tx = transfer(&chain, &carol, 0, f.alice.public(), Balance::ONE);
    assert_eq!(small.insert(&state, tx), Err(AdmissionError::Full("pool limit")));
}

#[test]
fn ready_interleaves_accounts_by_arrival() {
    let mut f = fixture(Limits::default());
    let order = [send(&f, &f.alice, 0, 1), send(&f, &f.bob, 0, 1), send(&f, &f.alice, 1, 1), send(&f, &f.bob, 1, 1)];
    for tx in &order {
        f.pool.insert(&f.state, tx.clone()).unwrap();
    }
    assert_eq!(f.pool.ready(&f.state, 10).unwrap(), order.to_vec());
    assert_eq!(f.pool.ready(&f.state, 3).unwrap(), order[..3].to_vec());
}

mod egress {
    use super::*;
    use veil_chain::{
        GenesisSender,
        testing::{egress, runtime_signer},
    };
    use veil_crypto::RuntimeSigner;
    use veil_primitives::{ContractId, Topic};

    const SENDER: SenderId = SenderId::Contract(ContractId([5; 32]));

    struct Net {
        pool: Mempool,
        chain: Chain,
        state: MemoryState,
        head: veil_primitives::Header,
        key: RuntimeSigner,
    }

    fn net() -> Net {
        let key = runtime_signer(5);
        let mut genesis = testing::genesis(&[], 0);
        genesis.economics.egress_window = 2;
        genesis.senders.push(GenesisSender { sender: SENDER, key: key.public(), epoch: 0 });
        let chain = Chain::new(genesis).unwrap();
        let mut state = MemoryState::default();
        state.apply(chain.genesis_changes());
        let head = chain.genesis_header(Hash::ZERO);
        Net { pool: Mempool::new(chain.clone(), Limits::default()), chain, state, head, key }
    }

    impl Net {
        fn copy(&self, sequence: u64, payload: &[u8]) -> SignedEgress {
            egress(&self.key, SENDER, 0, sequence, Topic::Contract(ContractId([6; 32])), payload)
        }

        /// Builds a block from the pool's ready egress, applies it, and prunes the pool.
        fn finalize_ready(&mut self) -> usize {
            let ready = self.pool.ready_egress(&self.state, 100).unwrap();
            let built = self.chain.build(&self.state, &self.head, self.head.timestamp_ms + 1, None, [], ready).unwrap();
            self.state.apply(built.changes);
            self.head.timestamp_ms += 1;
            self.pool.prune(&self.state).unwrap();
            built.egress.len()
        }
    }

    #[test]
    fn replicas_are_duplicates_futures_park_and_stale_copies_are_refused() {
        let mut net = net();
        let (first, second, third) = (net.copy(0, b"a"), net.copy(1, b"b"), net.copy(2, b"c"));
        assert_eq!(net.pool.insert_egress(&net.state, first.clone()), Ok(Admitted::Ready));
        assert_eq!(net.pool.insert_egress(&net.state, first.clone()), Ok(Admitted::Duplicate));
        assert_eq!(net.pool.insert_egress(&net.state, third.clone()), Ok(Admitted::Parked));
        assert_eq!(net.pool.ready_egress(&net.state, 10).unwrap(), vec![first.clone()]);
        assert_eq!(net.pool.insert_egress(&net.state, second.clone()), Ok(Admitted::Ready));
        assert_eq!(net.pool.ready_egress(&net.state, 10).unwrap(), vec![first.clone(), second, third.clone()]);
        assert_eq!(net.pool.egress_len(), 3);

        assert_eq!(net.finalize_ready(), 3);
        assert_eq!(net.pool.egress_len(), 0, "accepted copies leave the pool");
        // A replica's copy arriving a block late: a duplicate, not an error.
        assert_eq!(net.pool.insert_egress(&net.state, third), Ok(Admitted::Duplicate));
        assert_eq!(net.pool.egress_len(), 0);
        // A differing copy inside the window is kept as evidence and included.
        assert_eq!(net.pool.insert_egress(&net.state, net.copy(2, b"different")), Ok(Admitted::Ready));
        assert_eq!(net.finalize_ready(), 1);
        // One older than the window is stale.
        let error = net.pool.insert_egress(&net.state, net.copy(0, b"different")).unwrap_err();
        assert!(matches!(error, EgressAdmissionError::Invalid(EgressError::Stale { .. })), "{error}");
        // Too far ahead, or signed by another key.
        let error = net.pool.insert_egress(&net.state, net.copy(500, b"x")).unwrap_err();
        assert!(matches!(error, EgressAdmissionError::SequenceGapTooLarge { .. }), "{error}");
        let forged = egress(&runtime_signer(9), SENDER, 0, 3, Topic::Contract(ContractId([6; 32])), b"x");
        let error = net.pool.insert_egress(&net.state, forged).unwrap_err();
        assert_eq!(error, EgressAdmissionError::Invalid(EgressError::BadSignature(SENDER)));
        assert_eq!(net.pool.egress_len(), 0, "refusals leave the pool unchanged");
    }

    #[test]
    fn pending_keys_are_enough_to_prune_and_propose() {
        let mut net = net();
        net.pool.insert_egress(&net.state, net.copy(0, b"a")).unwrap();
        net.pool.insert_egress(&net.state, net.copy(3, b"d")).unwrap();
        let mut snapshot = veil_chain::Snapshot::default();
        for key in net.pool.pending_keys() {
            snapshot.insert(key.clone(), net.state.get(&key).unwrap());
        }
        assert_eq!(net.pool.ready_egress(&snapshot, 10).unwrap().len(), 1);
        assert!(net.pool.prune(&snapshot).unwrap().is_empty());
    }
}
