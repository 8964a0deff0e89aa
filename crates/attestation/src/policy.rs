//! What Veil accepts beyond Intel's signatures: TCB statuses, advisories, and the code itself.

use serde::{Deserialize, Serialize};

use crate::quote::Measurement;

/// The TCB statuses accepted unless a policy says otherwise: an up-to-date platform, or one whose
/// only findings are mitigated in software or configuration (common on cloud machines).
/// `OutOfDate*` and `Revoked` platforms are refused.
pub const DEFAULT_STATUSES: [&str; 4] =
    ["UpToDate", "SWHardeningNeeded", "ConfigurationNeeded", "ConfigurationAndSWHardeningNeeded"];

/// A verification policy. On chain the measurements are the chain's allowlist; operators checking
/// a quote with `veil attest verify` may leave them out to see what a quote attests.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    /// Accepted TCB statuses, as Intel names them (`UpToDate`, `SWHardeningNeeded`, …).
    #[serde(default = "default_statuses")]
    pub allowed_statuses: Vec<String>,
    /// Security advisories (`INTEL-SA-…`) that disqualify a platform even in an accepted status.
    #[serde(default)]
    pub refused_advisories: Vec<String>,
    /// The allowed code identities; `None` accepts any (operators' checks only, never on chain).
    #[serde(default)]
    pub measurements: Option<Vec<Measurement>>,
}

fn default_statuses() -> Vec<String> {
    DEFAULT_STATUSES.iter().map(|status| (*status).to_owned()).collect()
}

impl Default for Policy {
    fn default() -> Self {
        Self { allowed_statuses: default_statuses(), refused_advisories: Vec::new(), measurements: None }
    }
}

/// A policy file that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("policy file: {0}")]
pub struct PolicyError(pub String);

impl Policy {
    /// The default statuses with exactly `measurements` allowed.
    pub fn allowing(measurements: Vec<Measurement>) -> Self {
        Self { measurements: Some(measurements), ..Self::default() }
    }

    /// Parses a policy file (TOML).
    pub fn from_toml(text: &str) -> Result<Self, PolicyError> {
        toml::from_str(text).map_err(|error| PolicyError(error.to_string()))
    }
}
