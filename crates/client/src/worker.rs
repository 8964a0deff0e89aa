//! A worker runtime's API, in the shared vocabulary of [`veil_api::worker`].
//!
//! Everything but a query's answer is the runtime's word: used to find it, feed it and follow its
//! progress; what a client relies on is checked against the chain ([`crate::contracts`]).

use veil_api::{
    paths::worker as paths,
    worker::{PendingEgress, RegistrationView, RuntimeStatus, SnapshotTaken, SyncResult},
};
use veil_primitives::{Hash, SignedEgress, epoch::SealedSnapshot};

use crate::{
    Error,
    endpoint::{Endpoint, hex_field, scale_field},
};

/// A worker runtime at a URL.
#[derive(Clone, Debug)]
pub struct Worker {
    endpoint: Endpoint,
}

impl Worker {
    /// The runtime at `url` (`http://host:port`); nothing is sent yet.
    pub fn new(url: &str) -> Result<Self, Error> {
        Ok(Self { endpoint: Endpoint::new(url, "worker")? })
    }

    /// Its URL.
    pub fn url(&self) -> &str {
        self.endpoint.url()
    }

    /// Its status.
    pub fn status(&self) -> Result<RuntimeStatus, Error> {
        self.endpoint.get(paths::STATUS)
    }

    /// Its status, checked to follow chain `chain`.
    pub fn status_on(&self, chain: &Hash) -> Result<RuntimeStatus, Error> {
        let status = self.status()?;
        if status.chain != chain.to_string() {
            return Err(Error::Invalid(format!(
                "the worker at {} follows chain {}, not {chain}",
                self.url(),
                status.chain
            )));
        }
        Ok(status)
    }

    /// Its ed25519 identity key, from its status.
    pub fn identity(status: &RuntimeStatus) -> Result<[u8; 32], Error> {
        hex_field(&status.identity, "identity")?
            .try_into()
            .map_err(|_| Error::Malformed("the identity is not 32 bytes".into()))
    }

    /// What a registration by `operator` (SS58 or `0x` hex) binds, with the platform's quote.
    pub fn registration(&self, operator: &str) -> Result<RegistrationView, Error> {
        self.endpoint.get(&paths::registration(operator))
    }

    /// Hands it a SCALE-encoded batch; what it made of it.
    pub fn sync(&self, batch: &[u8]) -> Result<SyncResult, Error> {
        self.endpoint.send_binary("POST", paths::SYNC, batch)
    }

    /// Its signed egress the chain has not accepted yet, decoded strictly.
    pub fn egress(&self) -> Result<Vec<SignedEgress>, Error> {
        let pending: PendingEgress = self.endpoint.get(paths::EGRESS)?;
        pending.egress.iter().map(|copy| scale_field(copy, "egress")).collect()
    }

    /// Its cluster's sealed snapshot (`Refused` with code `unavailable` when it runs none).
    pub fn snapshot(&self) -> Result<SealedSnapshot, Error> {
        let bytes = self.endpoint.binary("GET", paths::SNAPSHOT, &[])?;
        veil_primitives::decode_strict(&bytes).map_err(|e| Error::Malformed(format!("snapshot: {e}")))
    }

    /// Hands it a snapshot of the cluster it joined as a replacement; the height it continues from.
    pub fn import_snapshot(&self, snapshot: &[u8]) -> Result<SnapshotTaken, Error> {
        self.endpoint.send_binary("POST", paths::SNAPSHOT, snapshot)
    }

    /// Posts a sealed query; the sealed answer.
    pub(crate) fn post_query(&self, sealed: &[u8]) -> Result<Vec<u8>, Error> {
        self.endpoint.binary("POST", paths::QUERY, sealed)
    }
}
