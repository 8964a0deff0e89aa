//! What Veil accepts beyond Intel's signatures: TCB statuses, advisories, and the code itself.

use serde::{Deserialize, Serialize};
use veil_primitives::{AttestationRules, TcbStatus};

use crate::quote::Measurement;

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

/// The statuses accepted unless a policy says otherwise: those of the chain's default
/// parameters ([`AttestationRules::default`]).
fn default_statuses() -> Vec<String> {
    names(&AttestationRules::default().accepted_statuses)
}

fn names(statuses: &[TcbStatus]) -> Vec<String> {
    statuses.iter().map(|status| status.name().to_owned()).collect()
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

    /// The chain's policy: the parameters' accepted statuses and refused advisories, with exactly
    /// `measurements` allowed.
    pub fn from_rules(rules: &AttestationRules, measurements: Vec<Measurement>) -> Self {
        Self {
            allowed_statuses: names(&rules.accepted_statuses),
            refused_advisories: rules.refused_advisories.iter().map(|advisory| advisory.to_string()).collect(),
            measurements: Some(measurements),
        }
    }

    /// The floor no parameters can lower, with exactly `measurements` allowed: every status but
    /// `Revoked`, no advisory refused. Gatekeepers check quotes against it (the chain checked the
    /// parameters' policy at the block; a gatekeeper follows no parameters, and must decide alike
    /// whatever its batches).
    pub fn floor(measurements: Vec<Measurement>) -> Self {
        Self {
            allowed_statuses: names(&TcbStatus::ALL),
            refused_advisories: Vec::new(),
            measurements: Some(measurements),
        }
    }

    /// Parses a policy file (TOML).
    pub fn from_toml(text: &str) -> Result<Self, PolicyError> {
        toml::from_str(text).map_err(|error| PolicyError(error.to_string()))
    }
}
