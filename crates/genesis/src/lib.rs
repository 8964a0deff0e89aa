//! The genesis configuration: everything a network starts from, and its identity.
//!
//! A genesis file (TOML) names the network (its consensus namespace and threshold key), the
//! validators, gatekeepers, balances, registered off-chain senders, registration rules and
//! economics. [`Genesis::hash`], SHA-256 of the canonical SCALE encoding, is the chain id that every
//! transaction and worker registration binds to. This crate is separate from the state machine so a
//! worker runtime can read the same file and compute the chain id itself, linking nothing but
//! primitives, serde and TOML.

use parity_scale_codec::{Decode, Encode};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use veil_primitives::{
    AccountId, Balance, Hash, Measurement, SenderId,
    block::{MAX_BLOCK_EGRESS, MAX_BLOCK_TRANSACTIONS},
    epoch::MAX_GATEKEEPERS,
    hashing::sha256,
    message::MAX_MESSAGE_PAYLOAD,
};

/// The largest `max_egress_bytes` a genesis may set: a differing copy must still fit, with its
/// evidence, in one discrepancy message.
pub const MAX_EGRESS_BYTES: u32 = (MAX_MESSAGE_PAYLOAD / 2) as u32;

/// One validator of the genesis set.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Validator {
    /// The validator's ed25519 peer identity.
    #[serde(with = "veil_primitives::serde_hex")]
    pub identity: [u8; 32],
    /// Where its peers reach it, `host:port`.
    pub address: String,
}

/// The consensus network's identity.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Network {
    /// Domain separator of every consensus signature; unique per network.
    pub namespace: String,
    /// The BLS12-381 threshold public key (MinSig: a 96-byte G2 point) that verifies every
    /// finalization certificate, whatever the validator set.
    #[serde(with = "veil_primitives::serde_hex")]
    pub public_key: [u8; 96],
}

/// An account's balance at genesis.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GenesisBalance {
    /// The account.
    pub account: AccountId,
    /// Its balance, in tokens (`"1000"`, `"0.5"`).
    pub amount: Balance,
}

/// An off-chain sender registered at genesis (the genesis gatekeeper, for instance); later senders
/// register through the chain's modules.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GenesisSender {
    /// Who: `gatekeeper:0x…`, `worker:0x…`, `contract:0x…` or `cluster:N`.
    #[serde(with = "as_text")]
    pub sender: SenderId,
    /// The ed25519 key that signs its egress.
    #[serde(with = "veil_primitives::serde_hex")]
    pub key: [u8; 32],
    /// Its key epoch.
    pub epoch: u32,
}

/// Who may change the measurement allowlist, what it starts with, and how long registrations
/// without collateral last.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegistrationRules {
    /// The account whose `SetMeasurementAllowed` transactions change the allowlist (until
    /// governance takes over).
    pub measurement_admin: AccountId,
    /// Runtime measurements allowed from genesis.
    #[serde(default)]
    pub measurements: Vec<Measurement>,
    /// How long a software worker's registration lasts before it must renew (it has no collateral
    /// whose expiry would bound it).
    pub insecure_lifetime_ms: u64,
}

/// When keys rotate and how long the keys of the epoch before stay usable.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyRules {
    /// Rotate every key this long after the current epoch opened (0: only on demand).
    pub rotation_interval_ms: u64,
    /// The account whose `RotateKeys` transactions rotate keys on demand (until governance takes
    /// over).
    pub rotation_admin: AccountId,
    /// How long after a new epoch opens the previous epoch's keys still open commands; then they
    /// are destroyed everywhere and commands sealed to them are refused.
    pub grace_ms: u64,
}

/// How the chain tells that a worker is alive.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Liveness {
    /// How often a worker sends a heartbeat, by block time.
    pub heartbeat_interval_ms: u64,
    /// A cluster worker silent for longer than this may be reported offline and replaced.
    pub offline_after_ms: u64,
}

/// Serde through `Display` and `FromStr`, for ids that have a text form.
mod as_text {
    use serde::{Deserialize, Deserializer, Serializer, de::Error};
    use std::{fmt::Display, str::FromStr};

    pub(super) fn serialize<T: Display, S: Serializer>(value: &T, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(value)
    }

    pub(super) fn deserialize<'de, T, D>(deserializer: D) -> Result<T, D::Error>
    where
        T: FromStr<Err: Display>,
        D: Deserializer<'de>,
    {
        String::deserialize(deserializer)?.parse().map_err(D::Error::custom)
    }
}

/// Every economic parameter of the chain.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Economics {
    /// Fee charged per transaction, before the size part.
    pub transaction_base_fee: Balance,
    /// Fee charged per byte of the encoded signed transaction.
    pub transaction_byte_fee: Balance,
    /// Share of each fee that goes to the worker reward pot, in percent.
    pub worker_fee_percent: u8,
    /// Share of each fee that goes to the gatekeeper reward pot, in percent.
    pub gatekeeper_fee_percent: u8,
    /// Share of each fee that is burned, in percent; rounding remainders are burned too.
    pub burn_fee_percent: u8,
    /// Annual inflation in the first year, in parts per billion (5% = 50,000,000).
    pub inflation_start_ppb: u32,
    /// The inflation floor, in parts per billion (3.25% = 32,500,000). It pays gatekeepers; the part
    /// above it (halving every year) pays workers.
    pub inflation_floor_ppb: u32,
    /// How far a block's timestamp may run ahead of a validator's clock.
    pub max_timestamp_drift_ms: u64,
    /// The least time between a block and its parent: a proposer waits this long, so an idle
    /// network makes a few empty blocks a second, not as many as consensus can finalize.
    pub min_block_interval_ms: u64,
    /// The largest encoded signed transaction (room for the largest contract module).
    pub max_transaction_bytes: u32,
    /// The most transactions in one block.
    pub max_block_transactions: u32,
    /// The largest encoded signed egress.
    pub max_egress_bytes: u32,
    /// The most egress copies in one block.
    pub max_block_egress: u32,
    /// The rate limit of fee-free egress: the most copies of one sender in one block (accepted
    /// ones and discrepancies alike); the rest wait in the mempool for later blocks.
    pub max_egress_per_sender_per_block: u32,
    /// How many of a sender's latest sequence numbers keep the hash of their accepted copy, so a
    /// differing copy is recognised; an older copy is refused as stale.
    pub egress_window: u64,
    /// What one unit of contract fuel costs; a command's or constructor's fuel limit is prepaid at
    /// this price and goes to the worker pot.
    pub fuel_price: Balance,
    /// The most fuel one command or constructor may carry.
    pub max_command_fuel: u64,
}

impl Default for Economics {
    /// The brief's defaults: fees split 65 / 15 / 20, inflation 5% falling to a 3.25% floor.
    fn default() -> Self {
        Self {
            transaction_base_fee: Balance(1_000_000_000),
            transaction_byte_fee: Balance(1_000_000),
            worker_fee_percent: 65,
            gatekeeper_fee_percent: 15,
            burn_fee_percent: 20,
            inflation_start_ppb: 50_000_000,
            inflation_floor_ppb: 32_500_000,
            max_timestamp_drift_ms: 2_000,
            min_block_interval_ms: 200,
            max_transaction_bytes: 320 * 1024,
            max_block_transactions: 2_048,
            max_egress_bytes: 64 * 1024,
            max_block_egress: 1_024,
            max_egress_per_sender_per_block: 64,
            egress_window: 1_024,
            fuel_price: Balance(10),
            max_command_fuel: 2_000_000_000,
        }
    }
}

/// The genesis configuration. Its SCALE encoding is canonical, and [`Genesis::hash`] is the chain id
/// that every transaction and every worker registration binds to.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Genesis {
    /// A name for people; part of the chain id.
    pub chain_name: String,
    /// Timestamp of the genesis block, milliseconds since the Unix epoch.
    pub genesis_time_ms: u64,
    /// Whether workers without hardware attestation (software mode) may register.
    pub allow_insecure_workers: bool,
    /// Consensus identity.
    pub network: Network,
    /// The validator set.
    pub validators: Vec<Validator>,
    /// Accounts that operate gatekeepers.
    pub gatekeepers: Vec<AccountId>,
    /// Initial balances.
    pub balances: Vec<GenesisBalance>,
    /// Off-chain senders registered from the start.
    pub senders: Vec<GenesisSender>,
    /// Worker registration rules.
    pub registration: RegistrationRules,
    /// Economic parameters.
    pub economics: Economics,
    /// Key rotation.
    pub keys: KeyRules,
    /// Worker liveness.
    pub liveness: Liveness,
}

/// Why a genesis configuration is unusable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GenesisError {
    /// The file is not valid TOML for a genesis configuration.
    #[error("genesis file: {0}")]
    Parse(String),
    /// Fee shares that do not add up to 100.
    #[error("fee shares add up to {0}%, not 100%")]
    FeeShares(u32),
    /// An inflation floor above the starting rate.
    #[error("inflation floor ({floor} ppb) is above the starting rate ({start} ppb)")]
    Inflation {
        /// The floor.
        floor: u32,
        /// The starting rate.
        start: u32,
    },
    /// A block limit the block format cannot carry.
    #[error("max_block_transactions {0} is outside 1..={MAX_BLOCK_TRANSACTIONS}")]
    BlockLimit(u32),
    /// No validators.
    #[error("the validator set is empty")]
    NoValidators,
    /// The same validator identity twice.
    #[error("validator identity 0x{} appears twice", hex::encode(.0))]
    DuplicateValidator([u8; 32]),
    /// The same account twice in the balances.
    #[error("account {0} has two genesis balances")]
    DuplicateBalance(AccountId),
    /// Balances whose sum does not fit.
    #[error("genesis balances overflow the token's range")]
    SupplyOverflow,
    /// An empty namespace.
    #[error("the network namespace is empty")]
    EmptyNamespace,
    /// An egress limit out of range.
    #[error("egress limits: {0}")]
    EgressLimit(&'static str),
    /// A zero lifetime for software registrations.
    #[error("registration.insecure_lifetime_ms must be at least 1")]
    InsecureLifetime,
    /// The same sender twice.
    #[error("sender {0} is registered twice")]
    DuplicateSender(SenderId),
    /// No gatekeeper, or more than a network has.
    #[error("genesis names {0} gatekeeper senders; a network has 1 to {MAX_GATEKEEPERS}")]
    GatekeeperCount(usize),
    /// A gatekeeper sender whose key is not its identity.
    #[error("gatekeeper sender {0} must sign with its own identity key")]
    GatekeeperKey(SenderId),
    /// Liveness windows that cannot work.
    #[error("liveness: heartbeat_interval_ms must be at least 1 and below offline_after_ms")]
    Liveness,
    /// A grace period of zero.
    #[error("keys.grace_ms must be at least 1")]
    Grace,
}

impl Genesis {
    /// Parses and validates a genesis file.
    pub fn from_toml(text: &str) -> Result<Self, GenesisError> {
        let genesis: Self = toml::from_str(text).map_err(|error| GenesisError::Parse(error.to_string()))?;
        genesis.validate()?;
        Ok(genesis)
    }

    /// The genesis file text.
    pub fn to_toml(&self) -> String {
        toml::to_string(self).unwrap_or_else(|error| format!("# cannot render genesis: {error}"))
    }

    /// Checks every rule a usable genesis must meet.
    pub fn validate(&self) -> Result<(), GenesisError> {
        let e = &self.economics;
        let shares =
            u32::from(e.worker_fee_percent) + u32::from(e.gatekeeper_fee_percent) + u32::from(e.burn_fee_percent);
        if shares != 100 {
            return Err(GenesisError::FeeShares(shares));
        }
        if e.inflation_floor_ppb > e.inflation_start_ppb {
            return Err(GenesisError::Inflation { floor: e.inflation_floor_ppb, start: e.inflation_start_ppb });
        }
        if e.max_block_transactions == 0 || e.max_block_transactions as usize > MAX_BLOCK_TRANSACTIONS {
            return Err(GenesisError::BlockLimit(e.max_block_transactions));
        }
        if e.max_egress_bytes == 0 || e.max_egress_bytes > MAX_EGRESS_BYTES {
            return Err(GenesisError::EgressLimit("max_egress_bytes must be between 1 and 524288"));
        }
        if e.max_block_egress == 0 || e.max_block_egress as usize > MAX_BLOCK_EGRESS {
            return Err(GenesisError::EgressLimit("max_block_egress must be between 1 and 4096"));
        }
        if e.max_egress_per_sender_per_block == 0 {
            return Err(GenesisError::EgressLimit("max_egress_per_sender_per_block must be at least 1"));
        }
        if e.egress_window == 0 {
            return Err(GenesisError::EgressLimit("egress_window must be at least 1"));
        }
        if self.registration.insecure_lifetime_ms == 0 {
            return Err(GenesisError::InsecureLifetime);
        }
        let mut senders = BTreeSet::new();
        for entry in &self.senders {
            if !senders.insert(entry.sender) {
                return Err(GenesisError::DuplicateSender(entry.sender));
            }
            if let SenderId::Gatekeeper(identity) = entry.sender
                && (identity != entry.key || entry.epoch != 0)
            {
                return Err(GenesisError::GatekeeperKey(entry.sender));
            }
            if entry.sender == SenderId::GatekeeperSet {
                return Err(GenesisError::GatekeeperKey(entry.sender));
            }
        }
        let gatekeepers = self.gatekeeper_identities().len();
        if !(1..=MAX_GATEKEEPERS).contains(&gatekeepers) {
            return Err(GenesisError::GatekeeperCount(gatekeepers));
        }
        let liveness = &self.liveness;
        if liveness.heartbeat_interval_ms == 0 || liveness.heartbeat_interval_ms >= liveness.offline_after_ms {
            return Err(GenesisError::Liveness);
        }
        if self.keys.grace_ms == 0 {
            return Err(GenesisError::Grace);
        }
        if self.network.namespace.is_empty() {
            return Err(GenesisError::EmptyNamespace);
        }
        if self.validators.is_empty() {
            return Err(GenesisError::NoValidators);
        }
        let mut identities = BTreeSet::new();
        for validator in &self.validators {
            if !identities.insert(validator.identity) {
                return Err(GenesisError::DuplicateValidator(validator.identity));
            }
        }
        let mut accounts = BTreeSet::new();
        for entry in &self.balances {
            if !accounts.insert(entry.account) {
                return Err(GenesisError::DuplicateBalance(entry.account));
            }
        }
        self.total_supply().ok_or(GenesisError::SupplyOverflow)?;
        Ok(())
    }

    /// The gatekeeper set: the identities of the gatekeeper senders, in genesis order. The first
    /// one generates the first master key; the others receive it once they have attested.
    pub fn gatekeeper_identities(&self) -> Vec<[u8; 32]> {
        self.senders
            .iter()
            .filter_map(|entry| match entry.sender {
                SenderId::Gatekeeper(identity) => Some(identity),
                _ => None,
            })
            .collect()
    }

    /// The sum of genesis balances, or `None` on overflow.
    pub fn total_supply(&self) -> Option<Balance> {
        self.balances.iter().try_fold(Balance::ZERO, |sum, entry| sum.checked_add(entry.amount))
    }

    /// The chain id: SHA-256 of the canonical SCALE encoding.
    pub fn hash(&self) -> Hash {
        sha256(&self.encode())
    }
}

#[cfg(any(test, feature = "test-support"))]
pub mod testing;

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Genesis {
        crate::testing::genesis(&[AccountId([3; 32]), AccountId([4; 32])], 1_000_000)
    }

    #[test]
    fn toml_round_trip_keeps_the_chain_id() {
        let genesis = sample();
        let text = genesis.to_toml();
        assert!(text.contains("amount = \"1000000\""), "{text}");
        let parsed = Genesis::from_toml(&text).unwrap();
        assert_eq!(parsed, genesis);
        assert_eq!(parsed.hash(), genesis.hash());
    }

    #[test]
    fn every_field_changes_the_chain_id() {
        let base = sample().hash();
        let mut changed = sample();
        changed.network.namespace.push('x');
        assert_ne!(changed.hash(), base);
        let mut changed = sample();
        changed.allow_insecure_workers = false;
        assert_ne!(changed.hash(), base);
        let mut changed = sample();
        changed.economics.burn_fee_percent += 1;
        assert_ne!(changed.hash(), base);
    }

    #[test]
    fn invalid_genesis_is_named() {
        let mut g = sample();
        g.economics.burn_fee_percent = 30;
        assert_eq!(g.validate(), Err(GenesisError::FeeShares(110)));
        let mut g = sample();
        g.economics.inflation_floor_ppb = g.economics.inflation_start_ppb + 1;
        assert!(matches!(g.validate(), Err(GenesisError::Inflation { .. })));
        let mut g = sample();
        g.validators.push(g.validators[0].clone());
        assert!(matches!(g.validate(), Err(GenesisError::DuplicateValidator(_))));
        let mut g = sample();
        g.balances.push(g.balances[0].clone());
        assert!(matches!(g.validate(), Err(GenesisError::DuplicateBalance(_))));
        let mut g = sample();
        g.balances[0].amount = Balance(u128::MAX);
        assert_eq!(g.validate(), Err(GenesisError::SupplyOverflow));
        let mut g = sample();
        g.validators.clear();
        assert_eq!(g.validate(), Err(GenesisError::NoValidators));
        let mut g = sample();
        g.economics.max_block_transactions = 0;
        assert_eq!(g.validate(), Err(GenesisError::BlockLimit(0)));
        let mut g = sample();
        g.economics.max_egress_bytes = MAX_EGRESS_BYTES + 1;
        assert!(matches!(g.validate(), Err(GenesisError::EgressLimit(_))));
        let mut g = sample();
        g.economics.egress_window = 0;
        assert!(matches!(g.validate(), Err(GenesisError::EgressLimit(_))));
        let mut g = sample();
        let sender = GenesisSender { sender: SenderId::Gatekeeper([1; 32]), key: [1; 32], epoch: 0 };
        g.senders = vec![sender.clone(), sender];
        assert!(matches!(g.validate(), Err(GenesisError::DuplicateSender(_))));
        let mut g = sample();
        g.senders.clear();
        assert_eq!(g.validate(), Err(GenesisError::GatekeeperCount(0)));
        let mut g = sample();
        g.senders = vec![GenesisSender { sender: SenderId::Gatekeeper([1; 32]), key: [2; 32], epoch: 0 }];
        assert!(matches!(g.validate(), Err(GenesisError::GatekeeperKey(_))));
        let mut g = sample();
        g.liveness.heartbeat_interval_ms = g.liveness.offline_after_ms;
        assert_eq!(g.validate(), Err(GenesisError::Liveness));
        let mut g = sample();
        g.keys.grace_ms = 0;
        assert_eq!(g.validate(), Err(GenesisError::Grace));
    }

    #[test]
    fn bad_files_say_what_is_wrong() {
        let text = sample().to_toml().replace("public_key = \"0x", "public_key = \"0xzz");
        let error = Genesis::from_toml(&text).unwrap_err().to_string();
        assert!(error.contains("192 hex digits"), "{error}");
        let text = format!("{}\nsurprise = 1\n", sample().to_toml());
        assert!(Genesis::from_toml(&text).unwrap_err().to_string().contains("surprise"));
        let text = sample().to_toml().replace("amount = \"1000000\"", "amount = \"5.0000000000001\"");
        assert!(Genesis::from_toml(&text).unwrap_err().to_string().contains("decimal places"));
    }
}
