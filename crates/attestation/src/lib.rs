//! Remote attestation for Veil workers.
//!
//! A worker joins the network only by proving, with a hardware quote, that it runs allowlisted code,
//! and by binding its keys to that proof: the quote's 64 bytes of report data are the hash of its
//! [`RegistrationInfo`](veil_primitives::RegistrationInfo) (signing key, X25519 key, chain id,
//! operator).
//!
//! - [`platform`]: producing quotes and sealing secrets: Gramine on SGX, configfs-tsm on TDX, and an
//!   insecure software platform for development.
//! - [`quote`]: canonical parsing. A quote is the length its own structure gives; zero padding after
//!   it is stripped, any other trailing byte refused, and only the canonical bytes are kept.
//! - [`verify`]: Intel's chain of trust and collateral windows (`dcap-qvl`, offline, pure Rust),
//!   then Veil's [`policy`]: no debug mode, accepted TCB statuses, no refused advisories, an
//!   allowlisted measurement, and the report data matching the registration. Time is always passed
//!   in (on chain, the block timestamp), never read from the clock.
//!
//! The chain links this crate to verify registrations; the worker runtime links it to attest. It
//! depends on no node, p2p or database crate.

pub mod platform;
pub mod policy;
pub mod quote;
pub mod time;
pub mod verify;

pub use platform::{GramineSgx, InsecureSoftware, Platform, PlatformError, PlatformKind, Tdx};
pub use policy::Policy;
pub use quote::{Measurement, ParsedQuote, QuoteError, TeeKind, parse_quote};
pub use verify::{AttestationError, Collateral, Verified, verify_quote, verify_registration};

#[cfg(test)]
mod tests;
