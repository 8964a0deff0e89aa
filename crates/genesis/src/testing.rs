//! A small genesis for tests, here and in the crates built on this one.

use veil_primitives::{AccountId, Balance, SenderId};

/// The identity of the gatekeeper [`genesis`] names (an arbitrary key: tests that run a gatekeeper
/// replace the senders with their own).
pub const TEST_GATEKEEPER: [u8; 32] = [0x6c; 32];

use crate::{
    Economics, Genesis, GenesisBalance, GenesisSender, GenesisValidator, KeyRules, Liveness, Network, RegistrationRules,
};

/// A genesis with one validator, software workers allowed, and the given accounts funded with
/// `tokens` each.
pub fn genesis(funded: &[AccountId], tokens: u128) -> Genesis {
    Genesis {
        chain_name: "veil-test".into(),
        genesis_time_ms: 1_763_683_200_000,
        allow_insecure_workers: true,
        network: Network { namespace: "veil-test".into(), public_key: [7; 96] },
        validators: vec![GenesisValidator { identity: [1; 32], address: "127.0.0.1:30333".into() }],
        gatekeepers: vec![AccountId([2; 32])],
        balances: funded
            .iter()
            .map(|account| GenesisBalance { account: *account, amount: Balance(tokens * Balance::ONE.0) })
            .collect(),
        senders: vec![GenesisSender { sender: SenderId::Gatekeeper(TEST_GATEKEEPER), key: TEST_GATEKEEPER, epoch: 0 }],
        registration: RegistrationRules {
            measurement_admin: AccountId([2; 32]),
            measurements: Vec::new(),
            insecure_lifetime_ms: 60_000,
            attestation: Default::default(),
            insecure_identities: Vec::new(),
        },
        // Blocks one millisecond apart keep tests fast.
        economics: Economics { min_block_interval_ms: 1, ..Economics::default() },
        keys: KeyRules { rotation_interval_ms: 0, rotation_admin: AccountId([2; 32]), grace_ms: 10_000 },
        liveness: Liveness { heartbeat_interval_ms: 1_000, offline_after_ms: 5_000 },
        sessions: Default::default(),
    }
}
