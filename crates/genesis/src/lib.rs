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
/// The parameter sections of a genesis file: their first values; the chain keeps the current ones
/// in its state.
pub use veil_primitives::parameters::{Economics, KeyRules, Liveness, MAX_EGRESS_BYTES, ParameterError, Parameters};
use veil_primitives::{
    AccountId, AttestationRules, Balance, Hash, Measurement, SenderId, SessionRules, epoch::MAX_GATEKEEPERS,
    hashing::sha256,
};

/// One validator of the genesis set.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GenesisValidator {
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
    /// The TCB statuses accepted and the advisories refused (the defaults when left out).
    #[serde(default)]
    pub attestation: AttestationRules,
    /// When not empty, the only runtime identities that may register without a quote (software
    /// mode, with `allow_insecure_workers`): a ceremony network tested on the software platform
    /// lets in exactly the runtimes whose identity records it was assembled from.
    #[serde(default, with = "hex_keys")]
    pub insecure_identities: Vec<[u8; 32]>,
}

impl RegistrationRules {
    /// Whether a runtime with `identity` may register without a quote, given that genesis allows
    /// insecure workers at all.
    pub fn insecure_allowed(&self, identity: &[u8; 32]) -> bool {
        self.insecure_identities.is_empty() || self.insecure_identities.contains(identity)
    }
}

/// Serde of a list of 32-byte keys as `0x` hex strings.
mod hex_keys {
    use serde::{Deserialize, Deserializer, Serializer, de::Error};

    pub(crate) fn serialize<S: Serializer>(keys: &[[u8; 32]], serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(keys.iter().map(|key| format!("0x{}", hex::encode(key))))
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<[u8; 32]>, D::Error> {
        Vec::<String>::deserialize(deserializer)?
            .iter()
            .map(|text| {
                let bytes = hex::decode(text.strip_prefix("0x").unwrap_or(text)).map_err(D::Error::custom)?;
                <[u8; 32]>::try_from(bytes).map_err(|_| D::Error::custom(format!("{text} is not a 32-byte key")))
            })
            .collect()
    }
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
    pub validators: Vec<GenesisValidator>,
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
    /// Query sessions (the defaults when left out).
    #[serde(default)]
    pub sessions: SessionRules,
}

/// Why a genesis configuration is unusable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GenesisError {
    /// A parameter section breaks a rule.
    #[error(transparent)]
    Parameters(#[from] ParameterError),
    /// The file is not valid TOML for a genesis configuration.
    #[error("genesis file: {0}")]
    Parse(String),
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
    /// The same sender twice.
    #[error("sender {0} is registered twice")]
    DuplicateSender(SenderId),
    /// No gatekeeper, or more than a network has.
    #[error("genesis names {0} gatekeeper senders; a network has 1 to {MAX_GATEKEEPERS}")]
    GatekeeperCount(usize),
    /// A gatekeeper sender whose key is not its identity.
    #[error("gatekeeper sender {0} must sign with its own identity key")]
    GatekeeperKey(SenderId),
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

    /// The parameters the chain starts from.
    pub fn parameters(&self) -> Parameters {
        Parameters {
            economics: self.economics.clone(),
            keys: self.keys.clone(),
            liveness: self.liveness.clone(),
            insecure_lifetime_ms: self.registration.insecure_lifetime_ms,
            attestation: self.registration.attestation.clone(),
            sessions: self.sessions.clone(),
        }
    }

    /// Checks every rule a usable genesis must meet.
    pub fn validate(&self) -> Result<(), GenesisError> {
        self.parameters().validate()?;
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
        assert_eq!(g.validate(), Err(GenesisError::Parameters(ParameterError::FeeShares(110))));
        let mut g = sample();
        g.economics.inflation_floor_ppb = g.economics.inflation_start_ppb + 1;
        assert!(matches!(g.validate(), Err(GenesisError::Parameters(ParameterError::Inflation { .. }))));
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
        assert_eq!(g.validate(), Err(GenesisError::Parameters(ParameterError::BlockLimit(0))));
        let mut g = sample();
        g.economics.max_egress_bytes = MAX_EGRESS_BYTES + 1;
        assert!(matches!(g.validate(), Err(GenesisError::Parameters(ParameterError::EgressLimit(_)))));
        let mut g = sample();
        g.economics.egress_window = 0;
        assert!(matches!(g.validate(), Err(GenesisError::Parameters(ParameterError::EgressLimit(_)))));
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
        assert_eq!(g.validate(), Err(GenesisError::Parameters(ParameterError::Liveness)));
        let mut g = sample();
        g.keys.grace_ms = 0;
        assert_eq!(g.validate(), Err(GenesisError::Parameters(ParameterError::Grace)));
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
