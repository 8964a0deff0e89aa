//! What a transaction costs and where its fee goes: the rule the chain charges by, and the one a
//! wallet or mempool quotes with.
//!
//! A transaction pays `base_fee + byte_fee × encoded length`, plus the fuel it prepays at the fuel
//! price, plus the native tokens it moves. The fee is split into the worker pot, the gatekeeper pot
//! and a burn by the parameters' percentages; rounding remainders are burned. Prepaid fuel all goes
//! to the worker pot.

use parity_scale_codec::Encode;
use veil_primitives::{AccountsCall, Balance, Call, Economics, SignedTransaction};

/// How a fee is divided.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FeeSplit {
    /// To the worker reward pot.
    pub workers: Balance,
    /// To the gatekeeper reward pot.
    pub gatekeepers: Balance,
    /// Burned.
    pub burned: Balance,
}

/// What a transaction takes from its signer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cost {
    /// The fee.
    pub fee: Balance,
    /// The prepaid fuel, at the fuel price: all of it goes to the worker pot.
    pub fuel: Balance,
    /// The fee, the fuel and the amount moved.
    pub total: Balance,
}

/// Why a cost cannot be computed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CostError {
    /// A transfer of nothing.
    #[error("transfer amount must be greater than zero")]
    ZeroAmount,
    /// The sum does not fit the token's range (absurd fees or amounts).
    #[error("amount out of range")]
    Overflow,
}

/// The fee of a transaction whose encoding is `encoded_len` bytes; `None` past the token's range.
pub fn fee(economics: &Economics, encoded_len: usize) -> Option<Balance> {
    economics
        .transaction_byte_fee
        .0
        .checked_mul(encoded_len as u128)
        .and_then(|size_fee| size_fee.checked_add(economics.transaction_base_fee.0))
        .map(Balance)
}

/// What `tx` takes from its signer: its fee, the fuel it prepays and the amount it moves. A
/// transfer of nothing is refused here, so a mempool and execution refuse it alike.
pub fn cost(economics: &Economics, tx: &SignedTransaction) -> Result<Cost, CostError> {
    if let Call::Accounts(AccountsCall::Transfer { amount: Balance::ZERO, .. }) = tx.transaction.call {
        return Err(CostError::ZeroAmount);
    }
    let fee = fee(economics, tx.encoded_size()).ok_or(CostError::Overflow)?;
    let charges = tx.transaction.call.charges();
    let fuel = economics.fuel_price.0.checked_mul(u128::from(charges.fuel)).ok_or(CostError::Overflow)?;
    let total = fee.0.checked_add(fuel).and_then(|sum| sum.checked_add(charges.amount.0)).ok_or(CostError::Overflow)?;
    Ok(Cost { fee, fuel: Balance(fuel), total: Balance(total) })
}

/// Splits a fee by the percentages in `economics`; the rounding remainder is burned.
pub fn split_fee(economics: &Economics, fee: Balance) -> FeeSplit {
    let share = |percent: u8| Balance(fee.0 / 100 * u128::from(percent) + fee.0 % 100 * u128::from(percent) / 100);
    let workers = share(economics.worker_fee_percent);
    let gatekeepers = share(economics.gatekeeper_fee_percent);
    FeeSplit { workers, gatekeepers, burned: Balance(fee.0 - workers.0 - gatekeepers.0) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Whatever the percentages (adding up to 100) and the fee, the split adds up to the fee
        /// and each pot gets at most its share.
        #[test]
        fn a_split_adds_up_to_the_fee(fee in any::<u128>(), workers in 0u8..=100, gatekeepers in 0u8..=100) {
            prop_assume!(u16::from(workers) + u16::from(gatekeepers) <= 100);
            let economics = Economics {
                worker_fee_percent: workers,
                gatekeeper_fee_percent: gatekeepers,
                burn_fee_percent: 100 - workers - gatekeepers,
                ..Economics::default()
            };
            let split = split_fee(&economics, Balance(fee));
            prop_assert_eq!(split.workers.0 + split.gatekeepers.0 + split.burned.0, fee);
            prop_assert!(split.workers.0 <= fee / 100 * u128::from(workers) + u128::from(workers));
        }
    }
}
