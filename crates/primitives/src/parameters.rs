//! The chain's parameters: fees, limits, inflation, key rotation and worker liveness.
//!
//! Genesis gives their first values; from then on they live in the chain's state, where the
//! parameters admin (until governance exists) changes them with one
//! [`ParametersCall::Set`](crate::transaction::ParametersCall) call, effective from the next block.
//! [`Parameters::validate`] is the one rule both a genesis file and a change must meet; its bounds
//! keep every setting recoverable: no fee, size or timing can stop the call that changes it back.

use parity_scale_codec::{Decode, Encode, MaxEncodedLen};

use crate::{
    balance::Balance,
    block::{MAX_BLOCK_EGRESS, MAX_BLOCK_TRANSACTIONS},
    ids::AccountId,
    message::MAX_MESSAGE_PAYLOAD,
    transaction::SignedTransaction,
};

/// The largest `max_egress_bytes` a network may set: a differing copy must still fit, with its
/// evidence, in one discrepancy message.
pub const MAX_EGRESS_BYTES: u32 = (MAX_MESSAGE_PAYLOAD / 2) as u32;

/// The largest `max_transaction_bytes` a network may set: the longest encoding a signed transaction
/// can have (a longer one does not decode anyway).
pub fn max_transaction_bytes_bound() -> u32 {
    u32::try_from(SignedTransaction::max_encoded_len()).unwrap_or(u32::MAX)
}

/// The smallest `max_transaction_bytes` a network may set: room for a DCAP registration (a quote
/// and its collateral) and for the parameters call that raises the limit again.
pub const MIN_TRANSACTION_BYTES: u32 = 96 * 1024;

/// The highest fee a transaction of the largest size the parameters allow may cost: 1,000
/// tokens. No setting can price out the call that lowers fees again.
pub const MAX_FEE: Balance = Balance(1_000 * Balance::ONE.0);

/// The longest `min_block_interval_ms` and `max_timestamp_drift_ms`: a minute. A longer interval
/// stalls the chain; a longer drift lets a proposer run time ahead (minting inflation, lapsing
/// workers).
pub const MAX_BLOCK_TIMING_MS: u64 = 60_000;

/// The longest grace period: a week. The previous epoch's keys stay usable that long, and a
/// rotation waits for them to retire.
pub const MAX_GRACE_MS: u64 = 7 * 24 * 3_600_000;

/// The highest annual inflation: 100%, in parts per billion.
pub const MAX_INFLATION_PPB: u32 = 1_000_000_000;

/// Every parameter the chain reads from its state, in the sections of the genesis file they start
/// from. One record under one state key: every block reads its fees and limits anyway.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, MaxEncodedLen)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize), serde(deny_unknown_fields))]
pub struct Parameters {
    /// Fees, inflation, block and egress limits, fuel (genesis `economics`).
    pub economics: Economics,
    /// Key rotation (genesis `keys`).
    pub keys: KeyRules,
    /// Worker liveness (genesis `liveness`); runtimes apply the heartbeat interval too, so a change
    /// is published on [`SystemTopic::Parameters`](crate::message::SystemTopic::Parameters).
    pub liveness: Liveness,
    /// How long a software worker's registration lasts (genesis `registration.insecure_lifetime_ms`).
    pub insecure_lifetime_ms: u64,
    /// Which platforms hardware workers may run on (genesis `registration.attestation`).
    pub attestation: AttestationRules,
    /// Query sessions (genesis `sessions`); runtimes apply them, from the parameters topic.
    pub sessions: SessionRules,
}

/// The TCB statuses Intel's collateral gives a platform, by Intel's names. `Revoked` is not one of
/// them: a revoked platform is never accepted, whatever the parameters say.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Encode, Decode, MaxEncodedLen)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum TcbStatus {
    /// Patched and configured as Intel recommends.
    #[codec(index = 0)]
    UpToDate,
    /// Needs software mitigations (the platform cannot be patched further in hardware).
    #[codec(index = 1)]
    SWHardeningNeeded,
    /// Needs a configuration change (common on cloud machines).
    #[codec(index = 2)]
    ConfigurationNeeded,
    /// Both of the above.
    #[codec(index = 3)]
    ConfigurationAndSWHardeningNeeded,
    /// Missing microcode or firmware updates.
    #[codec(index = 4)]
    OutOfDate,
    /// Missing updates and a configuration change.
    #[codec(index = 5)]
    OutOfDateConfigurationNeeded,
}

impl TcbStatus {
    /// Every status a platform can have and still be accepted by some policy.
    pub const ALL: [TcbStatus; 6] = [
        Self::UpToDate,
        Self::SWHardeningNeeded,
        Self::ConfigurationNeeded,
        Self::ConfigurationAndSWHardeningNeeded,
        Self::OutOfDate,
        Self::OutOfDateConfigurationNeeded,
    ];

    /// Intel's name of the status, as verification reports it.
    pub fn name(self) -> &'static str {
        match self {
            Self::UpToDate => "UpToDate",
            Self::SWHardeningNeeded => "SWHardeningNeeded",
            Self::ConfigurationNeeded => "ConfigurationNeeded",
            Self::ConfigurationAndSWHardeningNeeded => "ConfigurationAndSWHardeningNeeded",
            Self::OutOfDate => "OutOfDate",
            Self::OutOfDateConfigurationNeeded => "OutOfDateConfigurationNeeded",
        }
    }
}

/// An Intel security advisory id, `INTEL-SA-` and digits (`INTEL-SA-00615`).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Encode, MaxEncodedLen)]
pub struct Advisory(crate::codec::BoundedBytes<MAX_ADVISORY_BYTES>);

/// The longest advisory id.
pub const MAX_ADVISORY_BYTES: usize = 32;

/// The most advisories the parameters may refuse.
pub const MAX_REFUSED_ADVISORIES: usize = 64;

/// Why text is not an advisory id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not an advisory id: expected INTEL-SA- and up to 16 digits, like INTEL-SA-00615")]
pub struct AdvisoryError(pub String);

impl Advisory {
    /// The id as text.
    pub fn as_str(&self) -> &str {
        // Only ASCII ever gets in (see `FromStr` and `Decode`).
        std::str::from_utf8(&self.0).unwrap_or_default()
    }
}

impl std::str::FromStr for Advisory {
    type Err = AdvisoryError;
    fn from_str(text: &str) -> Result<Self, AdvisoryError> {
        let digits = text.strip_prefix("INTEL-SA-").ok_or_else(|| AdvisoryError(text.to_owned()))?;
        if digits.is_empty() || digits.len() > 16 || !digits.bytes().all(|byte| byte.is_ascii_digit()) {
            return Err(AdvisoryError(text.to_owned()));
        }
        Ok(Self(text.as_bytes().try_into().map_err(|_| AdvisoryError(text.to_owned()))?))
    }
}

impl std::fmt::Display for Advisory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Decoding checks the form too: state and messages hold only well-formed ids.
impl Decode for Advisory {
    fn decode<I: parity_scale_codec::Input>(input: &mut I) -> Result<Self, parity_scale_codec::Error> {
        let bytes = crate::codec::BoundedBytes::<MAX_ADVISORY_BYTES>::decode(input)?;
        let text = std::str::from_utf8(&bytes).map_err(|_| "advisory id is not text")?;
        text.parse().map_err(|_| "malformed advisory id".into())
    }
}

#[cfg(feature = "serde")]
impl serde::Serialize for Advisory {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

#[cfg(feature = "serde")]
impl<'de> serde::Deserialize<'de> for Advisory {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <String as serde::Deserialize>::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// What the chain accepts of a hardware worker's platform beyond Intel's signatures and the
/// measurement allowlist: its TCB status and the advisories that apply to it. A change applies to
/// registrations and renewals from the next block; registered workers keep theirs until they renew.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, MaxEncodedLen)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize), serde(deny_unknown_fields))]
pub struct AttestationRules {
    /// The TCB statuses accepted.
    pub accepted_statuses: crate::codec::BoundedVec<TcbStatus, 6>,
    /// Advisories that disqualify a platform even in an accepted status.
    #[cfg_attr(feature = "serde", serde(default))]
    pub refused_advisories: crate::codec::BoundedVec<Advisory, MAX_REFUSED_ADVISORIES>,
}

impl Default for AttestationRules {
    /// An up-to-date platform, or one whose only findings are mitigated in software or
    /// configuration (common on cloud machines); no advisory refused.
    fn default() -> Self {
        let accepted = [
            TcbStatus::UpToDate,
            TcbStatus::SWHardeningNeeded,
            TcbStatus::ConfigurationNeeded,
            TcbStatus::ConfigurationAndSWHardeningNeeded,
        ];
        Self {
            accepted_statuses: accepted.to_vec().try_into().unwrap_or_default(),
            refused_advisories: Default::default(),
        }
    }
}

/// How long a query session may last.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, MaxEncodedLen)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize), serde(deny_unknown_fields))]
pub struct SessionRules {
    /// The most blocks a session certificate may span from the height it was issued at to the
    /// last height it is valid at; a longer one is refused.
    pub max_lifetime_blocks: u64,
}

impl Default for SessionRules {
    /// About a day at five blocks a second.
    fn default() -> Self {
        Self { max_lifetime_blocks: 432_000 }
    }
}

/// Why a set of parameters is unusable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParameterError {
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
    /// A transaction size limit out of range.
    #[error("max_transaction_bytes {found} is outside {MIN_TRANSACTION_BYTES}..={bound}")]
    TransactionLimit {
        /// The limit asked for.
        found: u32,
        /// The largest a signed transaction can encode to.
        bound: u32,
    },
    /// Fees that would price out a transaction of the largest size allowed.
    #[error("a transaction of max_transaction_bytes would cost {found}; fees may make it cost at most {MAX_FEE}")]
    Fees {
        /// The fee of the largest transaction (saturated when it does not fit).
        found: Balance,
    },
    /// A block timing parameter beyond a minute.
    #[error("{0} must be at most {MAX_BLOCK_TIMING_MS} ms")]
    Timing(&'static str),
    /// Inflation above 100% a year.
    #[error("inflation_start_ppb {0} is above {MAX_INFLATION_PPB} (100% a year)")]
    InflationCap(u32),
    /// A change that shortens the offline window below what workers still heartbeating at the
    /// old interval need.
    #[error(
        "offline_after_ms {offline_after_ms} must be at least twice the heartbeat interval workers use until they learn of the change ({heartbeat_interval_ms} ms)"
    )]
    LivenessChange {
        /// The new window.
        offline_after_ms: u64,
        /// The longer of the old and the new heartbeat interval.
        heartbeat_interval_ms: u64,
    },
    /// A limit that may only grow: runtimes and stored records were made under the old one.
    #[error("{0} may only grow")]
    Shrinks(&'static str),
    /// An egress limit out of range.
    #[error("egress limits: {0}")]
    EgressLimit(&'static str),
    /// A zero lifetime for software registrations.
    #[error("registration.insecure_lifetime_ms must be at least 1")]
    InsecureLifetime,
    /// Liveness windows that cannot work.
    #[error("liveness: heartbeat_interval_ms must be at least 1 and at most half of offline_after_ms")]
    Liveness,
    /// A grace period of zero or beyond a week.
    #[error("keys.grace_ms must be between 1 and {MAX_GRACE_MS}")]
    Grace,
    /// No TCB status accepted, or one twice.
    #[error("registration.attestation.accepted_statuses must name at least one status, each once")]
    Statuses,
    /// A zero session lifetime.
    #[error("sessions.max_lifetime_blocks must be at least 1")]
    SessionLifetime,
}

impl Parameters {
    /// Checks every rule usable parameters meet.
    pub fn validate(&self) -> Result<(), ParameterError> {
        let e = &self.economics;
        let shares =
            u32::from(e.worker_fee_percent) + u32::from(e.gatekeeper_fee_percent) + u32::from(e.burn_fee_percent);
        if shares != 100 {
            return Err(ParameterError::FeeShares(shares));
        }
        if e.inflation_floor_ppb > e.inflation_start_ppb {
            return Err(ParameterError::Inflation { floor: e.inflation_floor_ppb, start: e.inflation_start_ppb });
        }
        if e.inflation_start_ppb > MAX_INFLATION_PPB {
            return Err(ParameterError::InflationCap(e.inflation_start_ppb));
        }
        if e.min_block_interval_ms > MAX_BLOCK_TIMING_MS {
            return Err(ParameterError::Timing("min_block_interval_ms"));
        }
        if e.max_timestamp_drift_ms > MAX_BLOCK_TIMING_MS {
            return Err(ParameterError::Timing("max_timestamp_drift_ms"));
        }
        if e.max_block_transactions == 0 || e.max_block_transactions as usize > MAX_BLOCK_TRANSACTIONS {
            return Err(ParameterError::BlockLimit(e.max_block_transactions));
        }
        let bound = max_transaction_bytes_bound();
        if e.max_transaction_bytes < MIN_TRANSACTION_BYTES || e.max_transaction_bytes > bound {
            return Err(ParameterError::TransactionLimit { found: e.max_transaction_bytes, bound });
        }
        let largest = e
            .transaction_byte_fee
            .0
            .checked_mul(u128::from(e.max_transaction_bytes))
            .and_then(|size_fee| size_fee.checked_add(e.transaction_base_fee.0))
            .unwrap_or(u128::MAX);
        if largest > MAX_FEE.0 {
            return Err(ParameterError::Fees { found: Balance(largest) });
        }
        if e.max_egress_bytes == 0 || e.max_egress_bytes > MAX_EGRESS_BYTES {
            return Err(ParameterError::EgressLimit("max_egress_bytes must be between 1 and 524288"));
        }
        if e.max_block_egress == 0 || e.max_block_egress as usize > MAX_BLOCK_EGRESS {
            return Err(ParameterError::EgressLimit("max_block_egress must be between 1 and 4096"));
        }
        if e.max_egress_per_sender_per_block == 0 {
            return Err(ParameterError::EgressLimit("max_egress_per_sender_per_block must be at least 1"));
        }
        if e.egress_window == 0 {
            return Err(ParameterError::EgressLimit("egress_window must be at least 1"));
        }
        if self.insecure_lifetime_ms == 0 {
            return Err(ParameterError::InsecureLifetime);
        }
        let liveness = &self.liveness;
        if liveness.heartbeat_interval_ms == 0 || liveness.heartbeat_interval_ms > liveness.offline_after_ms / 2 {
            return Err(ParameterError::Liveness);
        }
        if self.keys.grace_ms == 0 || self.keys.grace_ms > MAX_GRACE_MS {
            return Err(ParameterError::Grace);
        }
        let statuses = &self.attestation.accepted_statuses;
        let distinct: std::collections::BTreeSet<_> = statuses.iter().collect();
        if statuses.is_empty() || distinct.len() != statuses.len() {
            return Err(ParameterError::Statuses);
        }
        if self.sessions.max_lifetime_blocks == 0 {
            return Err(ParameterError::SessionLifetime);
        }
        Ok(())
    }

    /// Checks a change from `current` to these parameters: [`Parameters::validate`], and the
    /// rules of a change.
    /// - Workers still heartbeat at the old interval until the change reaches them: the new
    ///   offline window must be at least twice the longer of the two intervals, or live workers
    ///   would look silent and anyone could have them replaced.
    /// - The egress size limit and the egress window only grow: runtimes may hold copies made
    ///   under the old limit, and the chain keeps the window's records.
    pub fn validate_change(&self, current: &Parameters) -> Result<(), ParameterError> {
        self.validate()?;
        let heartbeat_interval_ms = self.liveness.heartbeat_interval_ms.max(current.liveness.heartbeat_interval_ms);
        if self.liveness.offline_after_ms < heartbeat_interval_ms.saturating_mul(2) {
            let offline_after_ms = self.liveness.offline_after_ms;
            return Err(ParameterError::LivenessChange { offline_after_ms, heartbeat_interval_ms });
        }
        if self.economics.max_egress_bytes < current.economics.max_egress_bytes {
            return Err(ParameterError::Shrinks("max_egress_bytes"));
        }
        if self.economics.egress_window < current.economics.egress_window {
            return Err(ParameterError::Shrinks("egress_window"));
        }
        Ok(())
    }
}

/// When keys rotate and how long the keys of the epoch before stay usable.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, MaxEncodedLen)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize), serde(deny_unknown_fields))]
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
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, MaxEncodedLen)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize), serde(deny_unknown_fields))]
pub struct Liveness {
    /// How often a worker sends a heartbeat, by block time.
    pub heartbeat_interval_ms: u64,
    /// A cluster worker silent for longer than this may be reported offline and replaced.
    pub offline_after_ms: u64,
}

impl Liveness {
    /// The most of one block's gap to its parent that counts as workers' silence, on a chain of
    /// `validators`; the rest is the chain's own stall. A live worker's heartbeat falls due within
    /// a heartbeat interval (plus a block) and lands once its relayer's validator leads (within
    /// `validators + 1` blocks: egress is not gossiped), so its silence stays under
    /// heartbeat + (validators + 2) counted gaps = the window; a dead worker's grows by up to this
    /// much a block however slow the blocks.
    pub fn counted_gap_ms(&self, validators: usize) -> u64 {
        let blocks = u64::try_from(validators).unwrap_or(u64::MAX).saturating_add(2);
        (self.offline_after_ms.saturating_sub(self.heartbeat_interval_ms) / blocks).max(1)
    }
}

/// Every economic parameter of the chain.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, MaxEncodedLen)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize), serde(deny_unknown_fields))]
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

#[cfg(test)]
mod tests {
    use super::*;

    fn defaults() -> Parameters {
        Parameters {
            economics: Economics::default(),
            keys: KeyRules { rotation_interval_ms: 86_400_000, rotation_admin: AccountId([1; 32]), grace_ms: 60_000 },
            liveness: Liveness { heartbeat_interval_ms: 2_000, offline_after_ms: 10_000 },
            insecure_lifetime_ms: 3_600_000,
            attestation: AttestationRules::default(),
            sessions: SessionRules::default(),
        }
    }

    type Change = fn(&mut Parameters);

    /// Each setting that would stop the chain, or the call that repairs it, is refused by name.
    #[test]
    fn settings_that_cannot_be_undone_are_refused() {
        assert_eq!(defaults().validate(), Ok(()));
        let cases: [(Change, ParameterError); 12] = [
            (
                |p| p.economics.transaction_base_fee = Balance(u128::MAX),
                ParameterError::Fees { found: Balance(u128::MAX) },
            ),
            (
                |p| p.economics.transaction_byte_fee = Balance(Balance::ONE.0),
                ParameterError::Fees { found: Balance(Balance::ONE.0 * 320 * 1024 + 1_000_000_000) },
            ),
            (
                |p| p.economics.max_transaction_bytes = 1_000,
                ParameterError::TransactionLimit { found: 1_000, bound: max_transaction_bytes_bound() },
            ),
            (|p| p.economics.min_block_interval_ms = 60_001, ParameterError::Timing("min_block_interval_ms")),
            (|p| p.economics.max_timestamp_drift_ms = u64::MAX, ParameterError::Timing("max_timestamp_drift_ms")),
            (|p| p.economics.inflation_start_ppb = u32::MAX, ParameterError::InflationCap(u32::MAX)),
            (|p| p.keys.grace_ms = MAX_GRACE_MS + 1, ParameterError::Grace),
            (|p| p.liveness.heartbeat_interval_ms = 5_001, ParameterError::Liveness),
            (|p| p.liveness.heartbeat_interval_ms = 0, ParameterError::Liveness),
            (|p| p.attestation.accepted_statuses = Default::default(), ParameterError::Statuses),
            (
                |p| p.attestation.accepted_statuses = vec![TcbStatus::UpToDate; 2].try_into().unwrap(),
                ParameterError::Statuses,
            ),
            (|p| p.sessions.max_lifetime_blocks = 0, ParameterError::SessionLifetime),
        ];
        for (change, expected) in cases {
            let mut parameters = defaults();
            change(&mut parameters);
            assert_eq!(parameters.validate(), Err(expected.clone()), "{expected}");
        }
    }

    #[test]
    fn a_change_keeps_workers_live_and_limits_growing() {
        let current = defaults();
        // Workers beat every 2 s until they learn the change: a 3 s window would make them silent.
        let mut faster = current.clone();
        faster.liveness = Liveness { heartbeat_interval_ms: 100, offline_after_ms: 3_000 };
        assert_eq!(faster.validate(), Ok(()));
        assert_eq!(
            faster.validate_change(&current),
            Err(ParameterError::LivenessChange { offline_after_ms: 3_000, heartbeat_interval_ms: 2_000 })
        );
        faster.liveness.offline_after_ms = 4_000;
        assert_eq!(faster.validate_change(&current), Ok(()));
        let mut smaller = current.clone();
        smaller.economics.max_egress_bytes -= 1;
        assert_eq!(smaller.validate_change(&current), Err(ParameterError::Shrinks("max_egress_bytes")));
        let mut shorter = current.clone();
        shorter.economics.egress_window -= 1;
        assert_eq!(shorter.validate_change(&current), Err(ParameterError::Shrinks("egress_window")));
    }

    #[test]
    fn advisory_ids_are_checked_as_text_and_as_bytes() {
        let advisory: Advisory = "INTEL-SA-00615".parse().unwrap();
        assert_eq!(advisory.to_string(), "INTEL-SA-00615");
        assert_eq!(crate::decode_strict::<Advisory>(&advisory.encode()), Ok(advisory));
        for bad in ["INTEL-SA-", "intel-sa-00615", "INTEL-SA-00615 ", "INTEL-SA-12345678901234567", "CVE-2024-1"] {
            assert!(bad.parse::<Advisory>().is_err(), "{bad}");
            let encoded = crate::codec::BoundedBytes::<64>::try_from(bad.as_bytes()).unwrap().encode();
            assert!(crate::decode_strict::<Advisory>(&encoded).is_err(), "{bad} decoded");
        }
    }

    proptest::proptest! {
        /// Bytes from outside decode to a well-formed advisory id or to an error, never to
        /// anything else.
        #[test]
        fn any_bytes_decode_to_a_well_formed_advisory_or_an_error(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..40)) {
            if let Ok(advisory) = crate::decode_strict::<Advisory>(&bytes) {
                proptest::prop_assert_eq!(advisory.as_str().parse::<Advisory>(), Ok(advisory.clone()));
            }
        }
    }
}
