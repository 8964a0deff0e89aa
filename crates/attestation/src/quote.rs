//! Canonical quotes: the exact bytes a quote's own structure spans, and what they attest.
//!
//! Real quote producers hand out fixed-size buffers, so a quote may arrive followed by zero
//! padding; that padding is stripped. Any other byte after the quote is refused: two different
//! byte strings must never pass as the same quote, so only the canonical bytes are ever stored
//! and nothing is keyed on the hash of raw input.

use dcap_qvl::quote::{Quote, Report};
use parity_scale_codec::Decode;
pub use veil_primitives::registration::{Measurement, TeeKind};

pub use veil_primitives::registration::MAX_QUOTE_BYTES;

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
                    mr_config_id: report.mr_config_id,
                    mr_owner: report.mr_owner,
                    mr_owner_config: report.mr_owner_config,
                    td_attributes: report.td_attributes,
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
