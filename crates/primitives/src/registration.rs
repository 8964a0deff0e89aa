//! What a worker binds to its attestation: its keys, the chain, and its operator.

use parity_scale_codec::{Decode, Encode, MaxEncodedLen};

use crate::{
    codec::BoundedBytes,
    hashing::{Hash, blake2b_512},
    ids::AccountId,
};

/// The largest quote a registration carries (real quotes are about 5 KiB).
pub const MAX_QUOTE_BYTES: usize = 16 * 1024;

/// The largest collateral a registration carries, as JSON (real collateral is 14–25 KiB).
pub const MAX_COLLATERAL_BYTES: usize = 64 * 1024;

/// How a worker proves what it runs.
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode, MaxEncodedLen)]
pub enum Attestation {
    /// No TEE: accepted only by chains whose genesis allows insecure workers.
    #[codec(index = 0)]
    InsecureSoftware,
    /// An Intel DCAP quote (SGX or TDX) over the registration's report data, with Intel's
    /// collateral in `dcap-qvl`'s JSON form.
    #[codec(index = 1)]
    Dcap {
        /// The quote.
        quote: BoundedBytes<MAX_QUOTE_BYTES>,
        /// Its collateral.
        collateral: BoundedBytes<MAX_COLLATERAL_BYTES>,
    },
}

/// A worker's registration as published on the registrations topic, so gatekeepers can check the
/// quote themselves before they hand the worker any key.
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode, MaxEncodedLen)]
pub struct WorkerRegistration {
    /// The registration info the quote binds.
    pub info: RegistrationInfo,
    /// How it attested (the canonical quote and its collateral for DCAP).
    pub attestation: Attestation,
    /// Its code identity (none for software workers).
    pub measurement: Option<Measurement>,
    /// The block time of the registration, milliseconds since the Unix epoch: it is current from
    /// then until `expires_at_ms` (or a revocation of its measurement).
    pub registered_at_ms: u64,
    /// When it lapses, milliseconds since the Unix epoch.
    pub expires_at_ms: u64,
}

/// Domain separator of the report data a worker's quote carries.
pub const REGISTRATION_DOMAIN: &[u8] = b"veil/registration/v1";

/// The facts a worker's quote vouches for. The runtime computes the genesis hash itself from the
/// genesis configuration it was given, so a quote made for one network is useless on another.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Encode, Decode, MaxEncodedLen)]
pub struct RegistrationInfo {
    /// The worker's ed25519 identity key: it signs egress and query answers.
    pub signing_key: [u8; 32],
    /// The worker's X25519 key: gatekeepers seal keys to it, users seal queries to it.
    pub agreement_key: [u8; 32],
    /// The chain id (SHA-256 of the canonical genesis).
    pub genesis: Hash,
    /// The account that operates the worker (stakes, receives rewards).
    pub operator: AccountId,
}

impl RegistrationInfo {
    /// The 64 bytes the quote's `report_data` must equal: BLAKE2b-512 over the domain separator and
    /// the SCALE encoding.
    pub fn report_data(&self) -> [u8; 64] {
        blake2b_512(&[REGISTRATION_DOMAIN, &self.encode()])
    }
}

/// Domain separator of the report data a runtime's identity record carries.
pub const IDENTITY_DOMAIN: &[u8] = b"veil/runtime-identity/v1";

/// The report data of a runtime's identity record (the genesis ceremony, before any chain
/// exists): BLAKE2b-512 over the domain separator and the identity key. A quote over it says that
/// this key was generated inside that TEE.
pub fn identity_report_data(identity: &[u8; 32]) -> [u8; 64] {
    blake2b_512(&[IDENTITY_DOMAIN, identity])
}

/// Which trusted execution environment produced a quote.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Encode, Decode, MaxEncodedLen)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize), serde(rename_all = "lowercase"))]
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
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug, Encode, Decode, MaxEncodedLen)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(tag = "kind", rename_all = "lowercase", deny_unknown_fields)
)]
#[allow(
    clippy::large_enum_variant,
    reason = "a TDX measurement is 440 bytes: kept inline and `Copy`, it is decoded once and moved rarely"
)]
pub enum Measurement {
    /// An SGX enclave: its code (MRENCLAVE), its signer (MRSIGNER), product and security version.
    #[codec(index = 0)]
    Sgx {
        /// MRENCLAVE.
        #[cfg_attr(feature = "serde", serde(with = "crate::serde_hex"))]
        mr_enclave: [u8; 32],
        /// MRSIGNER.
        #[cfg_attr(feature = "serde", serde(with = "crate::serde_hex"))]
        mr_signer: [u8; 32],
        /// ISV product id.
        isv_prod_id: u16,
        /// ISV security version.
        isv_svn: u16,
    },
    /// A TDX trust domain: its initial contents (MRTD), runtime measurement registers, the
    /// configuration and owner fields the host sets at launch, and its attributes. Every field is
    /// part of the identity: a host that launches the same image with another MRCONFIGID, owner or
    /// attributes (debug, for one) presents another measurement, which the allowlist must name.
    #[codec(index = 1)]
    Tdx {
        /// MRTD.
        #[cfg_attr(feature = "serde", serde(with = "crate::serde_hex"))]
        mr_td: [u8; 48],
        /// MRCONFIGID: the configuration the host launched the trust domain with.
        #[cfg_attr(feature = "serde", serde(with = "crate::serde_hex"))]
        mr_config_id: [u8; 48],
        /// MROWNER: the trust domain's owner.
        #[cfg_attr(feature = "serde", serde(with = "crate::serde_hex"))]
        mr_owner: [u8; 48],
        /// MROWNERCONFIG: the owner's configuration.
        #[cfg_attr(feature = "serde", serde(with = "crate::serde_hex"))]
        mr_owner_config: [u8; 48],
        /// TD_ATTRIBUTES (debug, migratable, perfmon, key locker, ...).
        #[cfg_attr(feature = "serde", serde(with = "crate::serde_hex"))]
        td_attributes: [u8; 8],
        /// RTMR0.
        #[cfg_attr(feature = "serde", serde(with = "crate::serde_hex"))]
        rtmr0: [u8; 48],
        /// RTMR1.
        #[cfg_attr(feature = "serde", serde(with = "crate::serde_hex"))]
        rtmr1: [u8; 48],
        /// RTMR2.
        #[cfg_attr(feature = "serde", serde(with = "crate::serde_hex"))]
        rtmr2: [u8; 48],
        /// RTMR3.
        #[cfg_attr(feature = "serde", serde(with = "crate::serde_hex"))]
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
            Self::Tdx { mr_td, mr_config_id, mr_owner, mr_owner_config, td_attributes, rtmr0, rtmr1, rtmr2, rtmr3 } => {
                write!(
                    f,
                    "tdx mr_td=0x{} mr_config_id=0x{} mr_owner=0x{} mr_owner_config=0x{} td_attributes=0x{} rtmr0=0x{} rtmr1=0x{} rtmr2=0x{} rtmr3=0x{}",
                    hex::encode(mr_td),
                    hex::encode(mr_config_id),
                    hex::encode(mr_owner),
                    hex::encode(mr_owner_config),
                    hex::encode(td_attributes),
                    hex::encode(rtmr0),
                    hex::encode(rtmr1),
                    hex::encode(rtmr2),
                    hex::encode(rtmr3)
                )
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_data_binds_every_field() {
        let info = RegistrationInfo {
            signing_key: [1; 32],
            agreement_key: [2; 32],
            genesis: Hash([3; 32]),
            operator: AccountId([4; 32]),
        };
        let base = info.report_data();
        let changes = [
            RegistrationInfo { signing_key: [9; 32], ..info },
            RegistrationInfo { agreement_key: [9; 32], ..info },
            RegistrationInfo { genesis: Hash([9; 32]), ..info },
            RegistrationInfo { operator: AccountId([9; 32]), ..info },
        ];
        for changed in changes {
            assert_ne!(changed.report_data(), base);
        }
    }
}
