//! What a worker binds to its attestation: its keys, the chain, and its operator.

use parity_scale_codec::{Decode, Encode, MaxEncodedLen};

use crate::{
    hashing::{Hash, blake2b_512},
    ids::AccountId,
};

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
