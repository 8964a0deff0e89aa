//! A small genesis for tests, here and in the crates built on this one.

use veil_primitives::{AccountId, Balance};

use crate::{Economics, Genesis, GenesisBalance, Network, RegistrationRules, Validator};

/// A genesis with one validator, software workers allowed, and the given accounts funded with
/// `tokens` each.
pub fn genesis(funded: &[AccountId], tokens: u128) -> Genesis {
    Genesis {
        chain_name: "veil-test".into(),
        genesis_time_ms: 1_763_683_200_000,
        allow_insecure_workers: true,
        network: Network { namespace: "veil-test".into(), public_key: [7; 96] },
        validators: vec![Validator { identity: [1; 32], address: "127.0.0.1:30333".into() }],
        gatekeepers: vec![AccountId([2; 32])],
        balances: funded
            .iter()
            .map(|account| GenesisBalance { account: *account, amount: Balance(tokens * Balance::ONE.0) })
            .collect(),
        senders: Vec::new(),
        registration: RegistrationRules {
            measurement_admin: AccountId([2; 32]),
            measurements: Vec::new(),
            insecure_lifetime_ms: 60_000,
        },
        // Blocks one millisecond apart keep tests fast.
        economics: Economics { min_block_interval_ms: 1, ..Economics::default() },
    }
}
