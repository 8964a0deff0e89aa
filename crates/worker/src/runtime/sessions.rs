//! Query sessions a worker refuses: certificates that span more than the parameters allow, that
//! start at a height the chain has not nearly reached, or that their account revoked on chain.
//!
//! A revocation (`AccountsCall::RevokeSession`, published on the sessions topic) refuses every
//! certificate of the session key issued at or before the revoking block. It is kept only as long
//! as such a certificate could still be valid: one issued by then expires at most the longest
//! lifetime ever in force later.

use std::collections::BTreeMap;

use parity_scale_codec::{Decode, Encode};
use veil_crypto::confidential::SessionCertificate;
use veil_primitives::{AccountId, Message, Origin, decode_strict, message::SessionsMessage};

use super::{QueryError, Refusal};

/// The session rules a worker applies, and the revocations still in force.
#[derive(Clone, Debug, Default, PartialEq, Eq, Encode, Decode)]
pub(super) struct Sessions {
    /// The parameters' `sessions.max_lifetime_blocks`, as the parameters topic last said.
    max_lifetime_blocks: u64,
    /// The longest lifetime ever in force: a revocation is kept that long, so raising the maximum
    /// again never revives a certificate revoked under a lower one.
    longest_lifetime_blocks: u64,
    /// Revoked session keys, with the height that revoked them.
    revoked: BTreeMap<(AccountId, [u8; 32]), u64>,
}

impl Sessions {
    pub(super) fn new(max_lifetime_blocks: u64) -> Self {
        Self { max_lifetime_blocks, longest_lifetime_blocks: max_lifetime_blocks, revoked: BTreeMap::new() }
    }

    /// The parameters changed the longest session.
    pub(super) fn set_max_lifetime(&mut self, blocks: u64) {
        self.max_lifetime_blocks = blocks;
        self.longest_lifetime_blocks = self.longest_lifetime_blocks.max(blocks);
    }

    /// A revocation from the sessions topic.
    pub(super) fn on_revocation(&mut self, message: &Message) -> Result<(), Refusal> {
        if message.origin != Origin::Chain {
            return Err(Refusal::Origin { what: "a session revocation", origin: message.origin });
        }
        let revoked = match decode_strict(&message.payload) {
            Ok(SessionsMessage::Revoked(revoked)) => revoked,
            Ok(SessionsMessage::Opened) => return Ok(()),
            Err(error) => return Err(Refusal::malformed("a sessions message", error)),
        };
        let at = self.revoked.entry((revoked.account, revoked.session_key)).or_default();
        *at = (*at).max(revoked.at_height);
        Ok(())
    }

    /// Forgets revocations no certificate valid at `height` can be subject to.
    pub(super) fn forget_before(&mut self, height: u64) {
        let lifetime = self.longest_lifetime_blocks;
        self.revoked.retain(|_, at| at.saturating_add(lifetime) >= height);
    }

    /// Whether `certificate` may sign a query answered at `height`; `lag` is how far a client's
    /// view may run ahead of this worker's.
    pub(super) fn check(&self, certificate: &SessionCertificate, height: u64, lag: u64) -> Result<(), QueryError> {
        let refused = |reason: String| Err(QueryError::SessionRefused(reason));
        if certificate.expires_at < height {
            return Err(QueryError::SessionExpired { expired_at: certificate.expires_at, height });
        }
        let span = certificate.expires_at.saturating_sub(certificate.issued_at);
        if certificate.expires_at < certificate.issued_at || span > self.max_lifetime_blocks {
            return refused(format!(
                "it runs from height {} to {}; a session may span at most {} blocks",
                certificate.issued_at, certificate.expires_at, self.max_lifetime_blocks
            ));
        }
        if certificate.issued_at > height.saturating_add(lag) {
            return refused(format!(
                "it starts at height {}, ahead of this worker's {height} by more than {lag} blocks",
                certificate.issued_at
            ));
        }
        if let Some(at) = self.revoked.get(&(certificate.account, certificate.session_key))
            && certificate.issued_at <= *at
        {
            return refused(format!("its account revoked it at height {at}"));
        }
        Ok(())
    }
}
