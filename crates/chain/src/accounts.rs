//! The native token: transfers, and the inflation minted into the reward pots every block; and
//! accounts' revocations of their query sessions, published for workers on the sessions topic.
//!
//! Inflation follows the parameters: the floor rate pays gatekeepers, the part above it (halving
//! yearly) pays workers. The rate applies to the total issuance at the start of the current
//! inflation year, for the time since the parent block (a gap counts at most a year). Fees are
//! charged before any call applies ([`crate::execute`]), by the rule in [`veil_types::fees`].

use parity_scale_codec::Encode;
use std::collections::BTreeSet;
use veil_primitives::{
    AccountId, AccountsCall, Balance, Nonce, SystemTopic, Topic,
    message::{SessionRevocation, SessionsMessage},
};

use crate::{
    Chain, TransactionError,
    contracts::chain_message,
    messages::Outbox,
    module::{AddKey, Keys, Module},
    state::{Overlay, ReadState, StateError, StateKey},
};

/// Length of an inflation year: 365.25 days.
pub const YEAR_MS: u64 = 31_557_600_000;
const PPB: u128 = 1_000_000_000;

/// The accounts module.
pub(crate) struct Accounts;

impl Module for Accounts {
    type Call = AccountsCall;

    fn apply(
        chain: &Chain,
        overlay: &mut Overlay<'_>,
        outbox: &mut Outbox,
        signer: &AccountId,
        _nonce: Nonce,
        call: &AccountsCall,
    ) -> Result<(), TransactionError> {
        match call {
            AccountsCall::Transfer { to, amount } => {
                // The amount left the signer with the fee; read the recipient after that write, so
                // a transfer to oneself adds up.
                let mut recipient = overlay.account(to)?;
                recipient.balance = recipient.balance.checked_add(*amount).ok_or(TransactionError::Overflow)?;
                overlay.set_account(to, &recipient);
            }
            AccountsCall::RevokeSession { session_key } => {
                let revoked =
                    SessionRevocation { account: *signer, session_key: *session_key, at_height: outbox.height() };
                chain.publish(
                    overlay,
                    outbox,
                    chain_message(Topic::System(SystemTopic::Sessions), SessionsMessage::Revoked(revoked).encode())?,
                )?;
            }
        }
        Ok(())
    }

    fn call_keys(_chain: &Chain, _signer: &AccountId, call: &AccountsCall, keys: &mut Keys) {
        match call {
            AccountsCall::Transfer { to, .. } => keys.add(StateKey::Account(*to)),
            AccountsCall::RevokeSession { .. } => {}
        }
    }

    fn call_topics(_signer: &AccountId, call: &AccountsCall, topics: &mut BTreeSet<Topic>) {
        match call {
            AccountsCall::Transfer { .. } => {}
            AccountsCall::RevokeSession { .. } => {
                topics.insert(Topic::System(SystemTopic::Sessions));
            }
        }
    }

    fn begin_block(chain: &Chain, overlay: &mut Overlay<'_>, outbox: &mut Outbox) -> Result<(), StateError> {
        mint_inflation(chain, overlay, outbox)
    }

    fn block_keys(keys: &mut Keys) {
        // Every block mints, and every transaction pays its fee into the pots and burns a share.
        keys.add(StateKey::Issuance);
        keys.add(StateKey::RewardPots);
    }
}

/// Mints inflation for the time between the parent and this block into the reward pots.
fn mint_inflation(chain: &Chain, overlay: &mut Overlay<'_>, outbox: &Outbox) -> Result<(), StateError> {
    let economics = &outbox.parameters().economics;
    let (parent_ms, block_ms) = (outbox.parent_time_ms(), outbox.time_ms());
    let mut issuance = overlay.issuance()?;
    let year = u32::try_from(parent_ms.saturating_sub(chain.genesis().genesis_time_ms) / YEAR_MS).unwrap_or(u32::MAX);
    if year != issuance.year {
        issuance.year = year;
        issuance.year_start_total = issuance.total;
    }
    let elapsed = u128::from(block_ms.saturating_sub(parent_ms).min(YEAR_MS));
    let subsidy_ppb = (economics.inflation_start_ppb - economics.inflation_floor_ppb).checked_shr(year).unwrap_or(0);
    // Saturating: the parameters cap inflation at 100% a year, so this saturates only for a
    // supply near the token's range, where minting stops instead of wrapping.
    let mint = |rate_ppb: u32| {
        let annual = issuance.year_start_total.0.saturating_mul(u128::from(rate_ppb)) / PPB;
        Balance(annual.saturating_mul(elapsed) / u128::from(YEAR_MS))
    };
    let headroom = u128::MAX - issuance.total.0;
    let to_gatekeepers = mint(economics.inflation_floor_ppb).0.min(headroom);
    let to_workers = mint(subsidy_ppb).0.min(headroom - to_gatekeepers);
    let minted = to_gatekeepers + to_workers;
    let mut pots = overlay.reward_pots()?;
    pots.gatekeepers = Balance(pots.gatekeepers.0 + to_gatekeepers);
    pots.workers = Balance(pots.workers.0 + to_workers);
    overlay.set_reward_pots(&pots);
    issuance.total = Balance(issuance.total.0 + minted);
    issuance.minted = Balance(issuance.minted.0.saturating_add(minted));
    overlay.set_issuance(&issuance);
    Ok(())
}
