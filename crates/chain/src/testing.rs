//! A small funded chain for tests, here and in the crates built on this one.

use veil_crypto::{AccountPair, RuntimeSigner, SecretBytes};
use veil_primitives::{
    AccountId, AccountsCall, Balance, Call, ContractId, ContractsCall, Egress, Hash, Header, KeyEpoch, Nonce, SenderId,
    SignedEgress, SignedTransaction, Topic, Transaction,
};

use crate::{Chain, MemoryState};

/// A test chain with its genesis state applied.
pub struct TestChain {
    /// The rules.
    pub chain: Chain,
    /// The genesis state.
    pub state: MemoryState,
    /// The genesis header (state root zero: `MemoryState` is not authenticated).
    pub head: Header,
}

pub use veil_genesis::testing::genesis;

/// The chain of [`genesis`], with its state.
pub fn chain(funded: &[AccountId], tokens: u128) -> TestChain {
    let chain = Chain::new(genesis(funded, tokens)).unwrap_or_else(|error| panic!("test genesis: {error}"));
    let mut state = MemoryState::default();
    state.apply(chain.genesis_changes());
    let head = chain.genesis_header(Hash::ZERO);
    TestChain { chain, state, head }
}

/// The development account of a secret URI such as `//Alice`.
pub fn pair(uri: &str) -> AccountPair {
    AccountPair::from_suri(uri, None).unwrap_or_else(|error| panic!("{uri}: {error}"))
}

/// A signed transfer on `chain`.
pub fn transfer(chain: &Chain, from: &AccountPair, nonce: Nonce, to: AccountId, amount: Balance) -> SignedTransaction {
    from.sign_transaction(Transaction {
        genesis: chain.id(),
        signer: from.public(),
        nonce,
        call: Call::Accounts(AccountsCall::Transfer { to, amount }),
    })
}

/// A signed command to `contract` on `chain`.
pub fn command(
    chain: &Chain,
    from: &AccountPair,
    nonce: Nonce,
    contract: ContractId,
    payload: &[u8],
) -> SignedTransaction {
    from.sign_transaction(Transaction {
        genesis: chain.id(),
        signer: from.public(),
        nonce,
        call: Call::Contracts(ContractsCall::Command {
            contract,
            payload: payload.to_vec().try_into().unwrap_or_else(|_| panic!("command payload too large")),
            fuel: 0,
            value: Balance::ZERO,
        }),
    })
}

/// Asserts the issuance invariant: the total equals genesis plus minted less burned, and equals
/// every account balance, every contract's locked balance and the reward pots together.
///
/// # Panics
/// When it does not hold.
pub fn assert_issuance_invariant(state: &crate::MemoryState) {
    use crate::ReadState as _;
    let issuance = state.issuance().unwrap_or_else(|error| panic!("issuance: {error}"));
    let pots = state.reward_pots().unwrap_or_else(|error| panic!("reward pots: {error}"));
    let balances: u128 = state.accounts().map(|(_, info)| info.balance.0).sum::<u128>()
        + state.contracts().map(|(_, info)| info.locked.0).sum::<u128>();
    assert_eq!(issuance.total.0, issuance.genesis.0 + issuance.minted.0 - issuance.burned.0);
    assert_eq!(issuance.total.0, balances + pots.workers.0 + pots.gatekeepers.0);
}

/// Records contract `contract` (a built-in one, on cluster 0, owned by nobody) directly in `state`,
/// for tests of commands that need no runtime.
pub fn install_contract(state: &mut crate::MemoryState, contract: ContractId) {
    let mut overlay = crate::state::Overlay::new(&*state);
    let info = crate::state::ContractInfo {
        code: veil_primitives::contract::builtin_code_hash("test"),
        cluster: veil_primitives::ClusterId(0),
        owner: veil_primitives::AccountId([0; 32]),
        wasm: false,
        locked: Balance::ZERO,
        keys: None,
    };
    overlay.set_contract(&contract, &info);
    let changes = overlay.into_changes();
    state.apply(changes);
}

/// A deterministic runtime key for tests, from a one-byte seed.
pub fn runtime_signer(seed: u8) -> RuntimeSigner {
    RuntimeSigner::from_seed(&SecretBytes::new([seed; 32]))
}

/// Egress signed by `signer`.
pub fn egress(
    signer: &RuntimeSigner,
    sender: SenderId,
    epoch: u32,
    sequence: u64,
    topic: Topic,
    payload: &[u8],
) -> SignedEgress {
    let egress = Egress {
        sender,
        epoch: KeyEpoch(epoch),
        sequence,
        topic,
        payload: payload.to_vec().try_into().unwrap_or_else(|_| panic!("egress payload too large")),
    };
    let signature = signer.sign(&egress.signing_payload());
    SignedEgress { egress, signature }
}

/// Appends `messages` to their topics' logs in `state` exactly as blocks publish them (the logs,
/// their kept subtree roots, the topic tree), without executing any block: for benchmarks that
/// need logs of a million messages. Returns the topic tree's new root, a header's message root.
pub fn publish_directly(
    chain: &Chain,
    state: &mut MemoryState,
    messages: impl IntoIterator<Item = veil_primitives::Message>,
) -> Result<Hash, crate::StateError> {
    use crate::state::ReadState as _;
    let parameters = state.parameters()?;
    let mut messages = messages.into_iter().peekable();
    let mut root = None;
    // In chunks, so that the overlay and the outbox stay small.
    while messages.peek().is_some() || root.is_none() {
        let mut overlay = crate::state::Overlay::new(state);
        let mut outbox = crate::Outbox::new(0, 0, 0, parameters.clone());
        for message in messages.by_ref().take(100_000) {
            chain.publish(&mut overlay, &mut outbox, message)?;
        }
        root = Some(chain.commit_topics(&mut overlay, &outbox)?);
        let changes = overlay.into_changes();
        state.apply(changes);
    }
    Ok(root.unwrap_or_default())
}
