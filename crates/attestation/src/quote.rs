//! Canonical quotes: the exact bytes a quote's own structure spans, and what they attest.
//!
//! Real quote producers hand out fixed-size buffers, so a quote may arrive followed by zero
//! padding; that padding is stripped. Any other byte after the quote is refused: two different
//! byte strings must never pass as the same quote, so only the canonical bytes are ever stored
//! and nothing is keyed on the hash of raw input.

use dcap_qvl::quote::{Quote, Report};
use parity_scale_codec::{Decode, Encode, MaxEncodedLen};
use serde::{Deserialize, Serialize};

/// The largest quote accepted (real ones are about 5 KiB; the certificate chain is inside).
pub const MAX_QUOTE_BYTES: usize = 16 * 1024;

/// Which trusted execution environment produced a quote.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Encode, Decode, MaxEncodedLen, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TeeKind {
    /// An Intel SGX enclave.
    #[codec(index = 0)]
    Sgx,
    /// An Intel TDX trust domain.
    #[codec(index = 1)]
    Tdx,
}

impl std::fmt::Display for TeeKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Sgx => "sgx",
            Self::Tdx => "tdx",
        })
    }
}

/// The identity of the code a quote vouches for: what an allowlist names.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Encode, Decode, MaxEncodedLen, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase", deny_unknown_fields)]
pub enum Measurement {
    /// An SGX enclave: its code (MRENCLAVE), its signer (MRSIGNER), product and security version.
    #[codec(index = 0)]
    Sgx {
        /// MRENCLAVE.
        #[serde(with = "veil_primitives::serde_hex")]
        mr_enclave: [u8; 32],
        /// MRSIGNER.
        #[serde(with = "veil_primitives::serde_hex")]
        mr_signer: [u8; 32],
        /// ISV product id.
        isv_prod_id: u16,
        /// ISV security version.
        isv_svn: u16,
    },
    /// A TDX trust domain: its initial contents (MRTD) and runtime measurement registers.
    #[codec(index = 1)]
    Tdx {
        /// MRTD.
        #[serde(with = "veil_primitives::serde_hex")]
        mr_td: [u8; 48],
        /// RTMR0.
        #[serde(with = "veil_primitives::serde_hex")]
        rtmr0: [u8; 48],
        /// RTMR1.
        #[serde(with = "veil_primitives::serde_hex")]
        rtmr1: [u8; 48],
        /// RTMR2.
        #[serde(with = "veil_primitives::serde_hex")]
        rtmr2: [u8; 48],
        /// RTMR3.
        #[serde(with = "veil_primitives::serde_hex")]
        rtmr3: [u8; 48],
    },
}

impl Measurement {
    /// Which environment it belongs to.
    pub fn kind(&self) -> TeeKind {
        match self {
            Self::Sgx { .. } => TeeKind::Sgx,
            Self::Tdx { .. } => TeeKind::Tdx,
        }
    }
}

impl std::fmt::Display for Measurement {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Sgx { mr_enclave, mr_signer, isv_prod_id, isv_svn } => write!(
                f,
                "sgx mr_enclave=0x{} mr_signer=0x{} isv_prod_id={isv_prod_id} isv_svn={isv_svn}",
                hex::encode(mr_enclave),
                hex::encode(mr_signer)
            ),
            Self::Tdx { mr_td, rtmr0, rtmr1, rtmr2, rtmr3 } => write!(
                f,
                "tdx mr_td=0x{} rtmr0=0x{} rtmr1=0x{} rtmr2=0x{} rtmr3=0x{}",
                hex::encode(mr_td),
                hex::encode(rtmr0),
                hex::encode(rtmr1),
                hex::encode(rtmr2),
                hex::encode(rtmr3)
            ),
        }
    }
}

/// Why bytes are not a quote.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QuoteError {
    /// Larger than any real quote.
    #[error("quote is {len} bytes; the limit is {limit}")]
    TooLarge {
        /// Its length.
        len: usize,
        /// The limit.
        limit: usize,
    },
    /// The structure does not parse.
    #[error("malformed quote: {0}")]
    Malformed(String),
    /// Bytes other than zero padding after the quote's end.
    #[error(
        "the quote ends at byte {end}, but byte {at} after it is 0x{byte:02x}; only zero padding may follow a quote"
    )]
    TrailingBytes {
        /// Where the quote's structure ends.
        end: usize,
        /// The first non-zero byte after it.
        at: usize,
        /// Its value.
        byte: u8,
    },
}

/// A quote cut to its canonical bytes, with what it attests (not yet verified).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParsedQuote {
    /// The canonical bytes: exactly what the quote's structure spans.
    pub bytes: Vec<u8>,
    /// The environment.
    pub kind: TeeKind,
    /// The code identity.
    pub measurement: Measurement,
    /// The 64 bytes of report data the quoted code chose.
    pub report_data: [u8; 64],
    /// Whether the enclave or trust domain runs in debug mode (its memory is open to the host).
    pub debug: bool,
}

/// Parses `raw` as a quote: its structure gives its length; zero padding after it is stripped and
/// any other trailing byte refused.
pub fn parse_quote(raw: &[u8]) -> Result<ParsedQuote, QuoteError> {
    if raw.len() > MAX_QUOTE_BYTES {
        return Err(QuoteError::TooLarge { len: raw.len(), limit: MAX_QUOTE_BYTES });
    }
    let mut rest = raw;
    let quote = Quote::decode(&mut rest).map_err(|error| QuoteError::Malformed(error.to_string()))?;
    let end = raw.len() - rest.len();
    if let Some(offset) = rest.iter().position(|&byte| byte != 0) {
        return Err(QuoteError::TrailingBytes { end, at: end + offset, byte: rest[offset] });
    }
    let (kind, measurement, report_data, debug) = match &quote.report {
        Report::SgxEnclave(report) => (
            TeeKind::Sgx,
            Measurement::Sgx {
                mr_enclave: report.mr_enclave,
                mr_signer: report.mr_signer,
                isv_prod_id: report.isv_prod_id,
                isv_svn: report.isv_svn,
            },
            report.report_data,
            // SGX ATTRIBUTES.DEBUG is bit 1 of the flags.
            report.attributes[0] & 0x02 != 0,
        ),
        Report::TD10(_) | Report::TD15(_) | Report::TD15Ex(_) => {
            let Some(report) = quote.report.as_td10() else {
                return Err(QuoteError::Malformed("TDX report without a TD 1.0 body".into()));
            };
            (
                TeeKind::Tdx,
                Measurement::Tdx {
                    mr_td: report.mr_td,
                    rtmr0: report.rt_mr0,
                    rtmr1: report.rt_mr1,
                    rtmr2: report.rt_mr2,
                    rtmr3: report.rt_mr3,
                },
                report.report_data,
                // TDX TD_ATTRIBUTES.DEBUG is bit 0 of the TUD byte.
                report.td_attributes[0] & 0x01 != 0,
            )
        }
    };
    Ok(ParsedQuote { bytes: raw[..end].to_vec(), kind, measurement, report_data, debug })
}
