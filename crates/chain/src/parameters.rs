//! The chain's parameters in its state: genesis writes the first values, the parameters admin
//! (the genesis registry admin, until governance exists) replaces them with one call.
//!
//! A block executes under the parameters in its parent's state ([`crate::messages::Outbox`] carries
//! them), so a change applies from the block after the one that made it, to every rule at once:
//! header timing, block limits, fees, egress quotas, liveness. The chain publishes the new values
//! on [`SystemTopic::Parameters`] in the block that changes them; runtimes apply the heartbeat
//! interval from there, so chain and runtimes agree from the next block on.

use parity_scale_codec::Encode;
use std::collections::BTreeSet;
use veil_primitives::{AccountId, Nonce, ParametersCall, SystemTopic, Topic};

use crate::{
    Chain, TransactionError,
    contracts::chain_message,
    messages::Outbox,
    module::{AddKey, Keys, Module},
    state::{Overlay, StateKey},
};

/// The parameters module.
pub(crate) struct ParametersModule;

impl Module for ParametersModule {
    type Call = ParametersCall;

    fn apply(
        chain: &Chain,
        overlay: &mut Overlay<'_>,
        outbox: &mut Outbox,
        signer: &AccountId,
        _nonce: Nonce,
        call: &ParametersCall,
    ) -> Result<(), TransactionError> {
        match call {
            ParametersCall::Set(parameters) => {
                chain.check_admin(signer)?;
                parameters.validate_change(outbox.parameters())?;
                overlay.set_parameters(parameters);
                let message = chain_message(Topic::System(SystemTopic::Parameters), parameters.encode())?;
                chain.publish(overlay, outbox, message)?;
            }
        }
        Ok(())
    }

    fn call_topics(_signer: &AccountId, call: &ParametersCall, topics: &mut BTreeSet<Topic>) {
        match call {
            ParametersCall::Set(_) => topics.insert(Topic::System(SystemTopic::Parameters)),
        };
    }

    fn block_keys(keys: &mut Keys) {
        // Every block executes under them.
        keys.add(StateKey::Parameters);
    }
}

#[cfg(test)]
mod tests {
    use veil_crypto::AccountPair;
    use veil_primitives::{
        Balance, Block, Call, Header, ParameterError, Parameters, ParametersCall, SignedTransaction, Transaction,
    };

    use crate::{
        BlockError, MemoryState, ReadState as _, RegistrationError, TransactionError,
        testing::{self, TestChain, pair},
    };

    /// A chain whose registry admin (who sets parameters) is Alice; Alice and Bob are funded.
    fn chain() -> (TestChain, AccountPair) {
        let alice = pair("//Alice");
        let mut genesis = testing::genesis(&[alice.public(), pair("//Bob").public()], 1_000);
        genesis.registration.measurement_admin = alice.public();
        let chain = crate::Chain::new(genesis).unwrap();
        let mut state = MemoryState::default();
        state.apply(chain.genesis_changes());
        let head = chain.genesis_header(veil_primitives::Hash::ZERO);
        (TestChain { chain, state, head }, alice)
    }

    fn set(net: &TestChain, from: &AccountPair, nonce: u64, parameters: Parameters) -> SignedTransaction {
        from.sign_transaction(Transaction {
            genesis: net.chain.id(),
            signer: from.public(),
            nonce,
            call: Call::Parameters(ParametersCall::Set(parameters)),
        })
    }

    /// Builds a block at `timestamp_ms` on the tip and applies it; returns the built block.
    fn push(net: &mut TestChain, timestamp_ms: u64, transactions: Vec<SignedTransaction>) -> crate::Execution {
        let built = net.chain.build(&net.state, &net.head, timestamp_ms, None, transactions, Vec::new()).unwrap();
        net.head = built.header(&net.head, veil_primitives::Hash::ZERO);
        net.state.apply(built.changes.clone());
        built
    }

    #[test]
    fn only_the_admin_changes_parameters_and_only_to_valid_ones() {
        let (mut net, alice) = chain();
        let genesis = net.state.parameters().unwrap();
        let bob = pair("//Bob");
        let mut invalid = genesis.clone();
        invalid.liveness.heartbeat_interval_ms = invalid.liveness.offline_after_ms;
        let mut shares = genesis.clone();
        shares.economics.burn_fee_percent += 1;
        let time = net.head.timestamp_ms + 10;
        let candidates =
            vec![set(&net, &bob, 0, genesis.clone()), set(&net, &alice, 0, invalid), set(&net, &alice, 0, shares)];
        let built = push(&mut net, time, candidates);
        let reasons: Vec<&TransactionError> = built.dropped.iter().map(|(_, error)| error).collect();
        assert!(matches!(reasons[0], TransactionError::Registration(RegistrationError::NotAdmin { .. })));
        assert_eq!(reasons[1], &TransactionError::Parameters(ParameterError::Liveness));
        assert_eq!(reasons[2], &TransactionError::Parameters(ParameterError::FeeShares(101)));
        assert!(reasons[2].to_string().contains("101%"), "{}", reasons[2]);
        assert_eq!(net.state.parameters().unwrap(), genesis, "refused changes change nothing");
    }

    #[test]
    fn a_change_applies_from_the_next_block_to_every_rule() {
        let (mut net, alice) = chain();
        let mut slower = net.state.parameters().unwrap();
        slower.economics.min_block_interval_ms = 500;
        slower.economics.max_block_transactions = 1;
        let time = net.head.timestamp_ms + 10;
        // Its own block still runs under the old parameters: a second transaction fits.
        let transfer = testing::transfer(&net.chain, &alice, 1, pair("//Bob").public(), Balance::ONE);
        let candidates = vec![set(&net, &alice, 0, slower.clone()), transfer];
        let built = push(&mut net, time, candidates);
        assert_eq!(built.transactions.len(), 2, "{:?}", built.dropped);
        assert_eq!(built.messages.iter().filter(|m| m.message.origin == veil_primitives::Origin::Chain).count(), 1);

        // The next block: one transaction at most, and no sooner than 500 ms after its parent.
        let (parent, state) = (net.head.clone(), net.state.clone());
        let two = vec![
            testing::transfer(&net.chain, &alice, 2, pair("//Bob").public(), Balance::ONE),
            testing::transfer(&net.chain, &alice, 3, pair("//Bob").public(), Balance::ONE),
        ];
        let built = net.chain.build(&state, &parent, parent.timestamp_ms + 500, None, two.clone(), Vec::new()).unwrap();
        assert_eq!(built.transactions.len(), 1);
        let soon = Block {
            header: Header {
                timestamp_ms: parent.timestamp_ms + 499,
                ..built.header(&parent, veil_primitives::Hash::ZERO)
            },
            transactions: built.transactions.clone().try_into().unwrap(),
            egress: Default::default(),
        };
        let error = net.chain.execute(&state, &parent, &soon, None).unwrap_err();
        assert!(matches!(error, BlockError::TooSoon { after_ms: 499, interval_ms: 500 }), "{error}");
        let mut crowded = soon.clone();
        crowded.header.timestamp_ms = parent.timestamp_ms + 500;
        crowded.transactions = two.try_into().unwrap();
        crowded.header.transactions_root = veil_types::transactions_root(&crowded.transactions);
        let error = net.chain.execute(&state, &parent, &crowded, None).unwrap_err();
        assert!(matches!(error, BlockError::TooManyTransactions { found: 2, limit: 1 }), "{error}");
    }
}
