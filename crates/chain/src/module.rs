//! How a chain concern plugs into block execution: the [`Module`] trait, and [`modules!`], the one
//! list of modules that building and verifying a block walk.
//!
//! A module owns one variant of [`Call`] (its call enum, in `veil_primitives::transaction`), the
//! state it writes, and the hooks below. Block execution ([`crate::execute`]) owns the lifecycle,
//! written once for proposers and verifiers alike:
//!
//! 1. the parameters in the parent's state fix the block's fees and limits;
//! 2. every module's [`Module::begin_block`], in list order;
//! 3. each transaction: signature, nonce and fee (common to all), then its module's
//!    [`Module::apply`], rolled back as a whole if anything refuses it;
//! 4. each egress copy: sequence and signature checks (the messages module), every module's
//!    [`Module::check_egress`], then every module's [`Module::on_egress`];
//! 5. the topic tree, whose root the header commits to.
//!
//! A node reads ahead, before executing, every state key the block will read: the keys hooks
//! declare ([`Module::block_keys`], [`Module::call_keys`], [`Module::egress_keys`], then
//! [`Module::dependent_keys`]). Execution reads nothing else, and a property test holds every call
//! to its declaration. See `docs/modules.md` for adding a module.

use std::{collections::BTreeSet, convert::Infallible};
use veil_primitives::{AccountId, Call, Nonce, SenderId, SignedEgress, Topic};

use crate::{
    Chain, TransactionError,
    messages::{EgressError, Outbox},
    state::{Overlay, StateError, StateKey, StateReader},
};

/// State keys in store form, as a node reads them ahead.
pub type Keys = BTreeSet<Vec<u8>>;

/// Adds state keys to a [`Keys`] set.
pub(crate) trait AddKey {
    /// Adds `key`.
    fn add(&mut self, key: StateKey);
}

impl AddKey for Keys {
    fn add(&mut self, key: StateKey) {
        self.insert(key.to_bytes());
    }
}

/// One concern of the chain. Every hook but [`Module::apply`] has a default that does nothing, so a
/// module implements only what it takes part in.
pub(crate) trait Module {
    /// The module's calls: what its variant of [`Call`] carries (`Infallible` for a module without
    /// calls; `modules!` maps each variant to its module).
    type Call;

    /// Applies `call` signed by `signer` with `nonce` (already charged its fee). On an error the
    /// whole transaction is rolled back.
    fn apply(
        chain: &Chain,
        overlay: &mut Overlay<'_>,
        outbox: &mut Outbox,
        signer: &AccountId,
        nonce: Nonce,
        call: &Self::Call,
    ) -> Result<(), TransactionError>;

    /// Every state key applying `call` may read, besides the signer's account and the keys of
    /// [`Module::block_keys`].
    fn call_keys(_chain: &Chain, _signer: &AccountId, _call: &Self::Call, _keys: &mut Keys) {}

    /// Keys whose names depend on state: given `state` holding the first round of keys, what
    /// applying `call` reads besides them.
    fn dependent_keys(
        _chain: &Chain,
        _state: &dyn StateReader,
        _call: &Self::Call,
        _keys: &mut Keys,
    ) -> Result<(), StateError> {
        Ok(())
    }

    /// Every topic applying `call` may publish on.
    fn call_topics(_signer: &AccountId, _call: &Self::Call, _topics: &mut BTreeSet<Topic>) {}

    /// At the start of every block, before its transactions.
    fn begin_block(_chain: &Chain, _overlay: &mut Overlay<'_>, _outbox: &mut Outbox) -> Result<(), StateError> {
        Ok(())
    }

    /// The keys [`Module::begin_block`] and every transaction or egress of this module read in
    /// any block.
    fn block_keys(_keys: &mut Keys) {}

    /// The keys [`Module::begin_block`] reads whose names depend on state (`state` holds every
    /// module's [`Module::block_keys`]).
    fn block_dependent_keys(_chain: &Chain, _state: &dyn StateReader, _keys: &mut Keys) -> Result<(), StateError> {
        Ok(())
    }

    /// The topics [`Module::begin_block`] may publish on.
    fn block_topics(_topics: &mut BTreeSet<Topic>) {}

    /// Refuses an egress payload that `sender` may not say on `topic` (checked before the copy is
    /// accepted; a refusal leaves the sender's sequence where it was).
    fn check_egress(_chain: &Chain, _sender: SenderId, _topic: Topic, _payload: &[u8]) -> Result<(), EgressError> {
        Ok(())
    }

    /// Acts on an accepted egress payload. What cannot apply is left as a published message
    /// only: the egress is already accepted.
    fn on_egress(
        _chain: &Chain,
        _overlay: &mut Overlay<'_>,
        _outbox: &mut Outbox,
        _sender: SenderId,
        _topic: Topic,
        _payload: &[u8],
    ) -> Result<(), StateError> {
        Ok(())
    }

    /// Every state key checking and acting on `copy` may read.
    fn egress_keys(_chain: &Chain, _copy: &SignedEgress, _keys: &mut Keys) {}

    /// Every topic acting on `copy` may publish on.
    fn egress_topics(_copy: &SignedEgress, _topics: &mut BTreeSet<Topic>) {}
}

/// For modules without calls.
pub(crate) fn no_call(call: &Infallible) -> Result<(), TransactionError> {
    match *call {}
}

/// Declares the chain's modules and generates the functions that walk them: the only place that
/// names every module. A call reaches its module through an exhaustive `match` on its `Call`
/// variant, so a variant without a module does not compile. Block and egress hooks run in list
/// order: the modules with calls, then those without.
macro_rules! modules {
    (calls: [$($variant:ident => $module:ty),* $(,)?], without_calls: [$($other:ty),* $(,)?] $(,)?) => {
        /// Applies `call` through the module it belongs to.
        pub(crate) fn apply_call(
            chain: &Chain,
            overlay: &mut Overlay<'_>,
            outbox: &mut Outbox,
            signer: &AccountId,
            nonce: Nonce,
            call: &Call,
        ) -> Result<(), TransactionError> {
            match call {
                $(Call::$variant(call) => <$module as Module>::apply(chain, overlay, outbox, signer, nonce, call),)*
            }
        }

        /// The keys every block reads, whatever it holds.
        pub(crate) fn block_keys(keys: &mut Keys) {
            $(<$module as Module>::block_keys(keys);)*
            $(<$other as Module>::block_keys(keys);)*
        }

        /// The keys every block's begin-block hooks read whose names depend on state.
        pub(crate) fn block_dependent_keys(chain: &Chain, state: &dyn StateReader, keys: &mut Keys) -> Result<(), StateError> {
            $(<$module as Module>::block_dependent_keys(chain, state, keys)?;)*
            $(<$other as Module>::block_dependent_keys(chain, state, keys)?;)*
            Ok(())
        }

        /// The topics every block may publish on, whatever it holds.
        pub(crate) fn block_topics(topics: &mut BTreeSet<Topic>) {
            $(<$module as Module>::block_topics(topics);)*
            $(<$other as Module>::block_topics(topics);)*
        }

        /// The keys applying `call` reads, from the module it belongs to.
        pub(crate) fn call_keys(chain: &Chain, signer: &AccountId, call: &Call, keys: &mut Keys) {
            match call {
                $(Call::$variant(call) => <$module as Module>::call_keys(chain, signer, call, keys),)*
            }
        }

        /// The keys applying `call` reads whose names depend on state.
        pub(crate) fn dependent_keys(
            chain: &Chain,
            state: &dyn StateReader,
            call: &Call,
            keys: &mut Keys,
        ) -> Result<(), StateError> {
            match call {
                $(Call::$variant(call) => <$module as Module>::dependent_keys(chain, state, call, keys),)*
            }
        }

        /// The topics applying `call` may publish on.
        pub(crate) fn call_topics(signer: &AccountId, call: &Call, topics: &mut BTreeSet<Topic>) {
            match call {
                $(Call::$variant(call) => <$module as Module>::call_topics(signer, call, topics),)*
            }
        }

        /// Every module's begin-block hook, in list order.
        pub(crate) fn begin_block(chain: &Chain, overlay: &mut Overlay<'_>, outbox: &mut Outbox) -> Result<(), StateError> {
            $(<$module as Module>::begin_block(chain, overlay, outbox)?;)*
            $(<$other as Module>::begin_block(chain, overlay, outbox)?;)*
            Ok(())
        }

        /// Every module's payload check of an egress copy.
        pub(crate) fn check_egress(chain: &Chain, sender: SenderId, topic: Topic, payload: &[u8]) -> Result<(), EgressError> {
            $(<$module as Module>::check_egress(chain, sender, topic, payload)?;)*
            $(<$other as Module>::check_egress(chain, sender, topic, payload)?;)*
            Ok(())
        }

        /// Every module's reaction to an accepted egress payload, in list order.
        pub(crate) fn on_egress(
            chain: &Chain,
            overlay: &mut Overlay<'_>,
            outbox: &mut Outbox,
            sender: SenderId,
            topic: Topic,
            payload: &[u8],
        ) -> Result<(), StateError> {
            $(<$module as Module>::on_egress(chain, overlay, outbox, sender, topic, payload)?;)*
            $(<$other as Module>::on_egress(chain, overlay, outbox, sender, topic, payload)?;)*
            Ok(())
        }

        /// The keys checking and acting on `copy` reads.
        pub(crate) fn egress_keys(chain: &Chain, copy: &SignedEgress, keys: &mut Keys) {
            $(<$module as Module>::egress_keys(chain, copy, keys);)*
            $(<$other as Module>::egress_keys(chain, copy, keys);)*
        }

        /// The topics acting on `copy` may publish on.
        pub(crate) fn egress_topics(copy: &SignedEgress, topics: &mut BTreeSet<Topic>) {
            $(<$module as Module>::egress_topics(copy, topics);)*
            $(<$other as Module>::egress_topics(copy, topics);)*
        }
    };
}

modules!(
    calls: [
        Accounts => crate::accounts::Accounts,
        Parameters => crate::parameters::ParametersModule,
        Epochs => crate::epochs::Epochs,
        Registry => crate::registry::Registry,
        Contracts => crate::contracts::Contracts,
    ],
    without_calls: [crate::messages::Messages],
);

#[cfg(test)]
mod tests;
