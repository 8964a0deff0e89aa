//! Verification: Intel's signatures and collateral (via `dcap-qvl`, offline), then Veil's policy.

use dcap_qvl::{QuoteCollateralV3, verify::QuoteVerifier};
use serde::Serialize;
use veil_primitives::RegistrationInfo;

use crate::{
    policy::Policy,
    quote::{Measurement, ParsedQuote, QuoteError, TeeKind, parse_quote},
    time::{TimeError, format_rfc3339, parse_rfc3339},
};

pub use veil_primitives::registration::MAX_COLLATERAL_BYTES;

/// Intel's collateral for a quote: certificate chains, CRLs, TCB info and QE identity, each signed
/// by Intel. It expires: its validity window is checked at the time given to [`verify_quote`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Collateral(QuoteCollateralV3);

impl Collateral {
    /// Parses collateral in `dcap-qvl`'s JSON form (what PCCS clients produce).
    pub fn from_json(bytes: &[u8]) -> Result<Self, AttestationError> {
        if bytes.len() > MAX_COLLATERAL_BYTES {
            return Err(AttestationError::Collateral(format!(
                "{} bytes; the limit is {MAX_COLLATERAL_BYTES}",
                bytes.len()
            )));
        }
        serde_json::from_slice(bytes).map(Self).map_err(|error| AttestationError::Collateral(error.to_string()))
    }

    /// The JSON form, as [`Collateral::from_json`] reads it.
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(&self.0).unwrap_or_default()
    }

    /// When the collateral stops being valid: the earliest next update of its TCB info, its QE
    /// identity and its two CRLs, in seconds since the Unix epoch. A registration lapses then.
    pub fn expires_at(&self) -> Result<u64, AttestationError> {
        let next_update = |document: &str, what: &str| -> Result<u64, AttestationError> {
            let value: serde_json::Value = serde_json::from_str(document)
                .map_err(|error| AttestationError::Collateral(format!("{what}: {error}")))?;
            let text = value
                .get("nextUpdate")
                .and_then(serde_json::Value::as_str)
                .ok_or_else(|| AttestationError::Collateral(format!("{what} has no nextUpdate")))?;
            Ok(parse_rfc3339(text)?)
        };
        let crl_next_update = |der: &[u8], what: &str| -> Result<u64, AttestationError> {
            use der::Decode as _;
            let crl = x509_cert::crl::CertificateList::<x509_cert::certificate::Rfc5280>::from_der(der)
                .map_err(|error| AttestationError::Collateral(format!("{what}: {error}")))?;
            let next = crl
                .tbs_cert_list
                .next_update
                .ok_or_else(|| AttestationError::Collateral(format!("{what} has no next update")))?;
            Ok(next.to_unix_duration().as_secs())
        };
        Ok([
            next_update(&self.0.tcb_info, "TCB info")?,
            next_update(&self.0.qe_identity, "QE identity")?,
            crl_next_update(&self.0.root_ca_crl, "root CA CRL")?,
            crl_next_update(&self.0.pck_crl, "PCK CRL")?,
        ]
        .into_iter()
        .min()
        .unwrap_or(0))
    }
}

/// Why a quote is refused. Every variant says what failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AttestationError {
    /// The bytes are not a canonical quote.
    #[error(transparent)]
    Quote(#[from] QuoteError),
    /// The collateral does not parse.
    #[error("collateral: {0}")]
    Collateral(String),
    /// A time that does not parse.
    #[error(transparent)]
    Time(#[from] TimeError),
    /// Intel's signatures, certificate chains, CRLs or validity windows refuse the quote.
    #[error("quote verification failed: {0}")]
    Verification(String),
    /// A debug enclave or trust domain: its memory is open to the host.
    #[error("the quote comes from a debug {0} environment, whose memory the host can read")]
    Debug(TeeKind),
    /// A TCB status the policy does not accept.
    #[error("TCB status {status} is not accepted (accepted: {})", .accepted.join(", "))]
    StatusRefused {
        /// The platform's status.
        status: String,
        /// What the policy accepts.
        accepted: Vec<String>,
    },
    /// An advisory the policy refuses.
    #[error("the platform is affected by {0}, which the policy refuses")]
    AdvisoryRefused(String),
    /// Code that is not on the allowlist.
    #[error("measurement not allowlisted: {0}")]
    MeasurementNotAllowed(Box<Measurement>),
    /// The quote vouches for other keys, another chain or another operator.
    #[error("report_data 0x{} does not match the registration info (expected 0x{})", hex::encode(&.found[..]), hex::encode(&.expected[..]))]
    ReportDataMismatch {
        /// The hash of the registration info.
        expected: Box<[u8; 64]>,
        /// In the quote.
        found: Box<[u8; 64]>,
    },
}

/// A quote that passed verification and the policy.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Verified {
    /// The environment.
    pub kind: TeeKind,
    /// The platform's TCB status.
    pub status: String,
    /// Advisories that apply to the platform.
    pub advisories: Vec<String>,
    /// The code identity.
    pub measurement: Measurement,
    /// The report data.
    #[serde(with = "veil_primitives::serde_hex")]
    pub report_data: [u8; 64],
    /// The canonical quote bytes: what to store.
    #[serde(skip)]
    pub quote: Vec<u8>,
    /// When the collateral expires (seconds since the Unix epoch).
    pub expires_at: u64,
    /// The same, RFC 3339.
    pub expires: String,
}

/// Veil's policy over a quote whose signatures verified: no debug mode, an accepted TCB
/// `status`, no refused advisory, an allowlisted measurement, in that order.
pub(crate) fn check_policy(
    parsed: &ParsedQuote,
    status: &str,
    advisories: &[String],
    policy: &Policy,
) -> Result<(), AttestationError> {
    if parsed.debug {
        return Err(AttestationError::Debug(parsed.kind));
    }
    if !policy.allowed_statuses.iter().any(|allowed| allowed == status) {
        return Err(AttestationError::StatusRefused {
            status: status.to_owned(),
            accepted: policy.allowed_statuses.clone(),
        });
    }
    if let Some(refused) = advisories.iter().find(|id| policy.refused_advisories.contains(id)) {
        return Err(AttestationError::AdvisoryRefused(refused.clone()));
    }
    if let Some(allowed) = &policy.measurements
        && !allowed.contains(&parsed.measurement)
    {
        return Err(AttestationError::MeasurementNotAllowed(Box::new(parsed.measurement)));
    }
    Ok(())
}

/// Verifies `raw` (a quote, possibly zero-padded) with `collateral` at `at_secs` (seconds since the
/// Unix epoch; on chain, the block timestamp): Intel's chain of trust and validity windows, then
/// `policy`: no debug mode, an accepted status, no refused advisory, an allowlisted measurement.
pub fn verify_quote(
    raw: &[u8],
    collateral: &Collateral,
    at_secs: u64,
    policy: &Policy,
) -> Result<Verified, AttestationError> {
    let parsed = parse_quote(raw)?;
    let report = QuoteVerifier::new_prod()
        .verify(&parsed.bytes, &collateral.0, at_secs)
        .map_err(|error| AttestationError::Verification(format!("{error:#}")))?;
    check_policy(&parsed, &report.status, &report.advisory_ids, policy)?;
    let expires_at = collateral.expires_at()?;
    Ok(Verified {
        kind: parsed.kind,
        status: report.status,
        advisories: report.advisory_ids,
        measurement: parsed.measurement,
        report_data: parsed.report_data,
        quote: parsed.bytes,
        expires_at,
        expires: format_rfc3339(expires_at),
    })
}

/// [`verify_quote`], then checks that the quote's report data is the hash of `info`: the quote
/// vouches for these keys, this chain and this operator.
pub fn verify_registration(
    raw: &[u8],
    collateral: &Collateral,
    at_secs: u64,
    policy: &Policy,
    info: &RegistrationInfo,
) -> Result<Verified, AttestationError> {
    let verified = verify_quote(raw, collateral, at_secs, policy)?;
    let expected = info.report_data();
    if verified.report_data != expected {
        return Err(AttestationError::ReportDataMismatch {
            expected: Box::new(expected),
            found: Box::new(verified.report_data),
        });
    }
    Ok(verified)
}
