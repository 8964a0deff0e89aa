//! A worker runtime's API.

use serde_json::Value;
use veil_primitives::Hash;

use crate::{
    Error,
    endpoint::{Endpoint, bytes, number, text},
};

/// What a runtime says about itself (`GET /v1/status`). Unverified: the runtime's word, used to find
/// it and to follow its progress; everything a client relies on is checked against the chain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WorkerStatus {
    /// The chain it follows.
    pub chain: String,
    /// `worker` or `gatekeeper`.
    pub role: String,
    /// Its platform (`software`, `gramine-sgx`, `tdx`).
    pub platform: String,
    /// True when it runs without a TEE.
    pub insecure: bool,
    /// Its ed25519 identity key.
    pub identity: [u8; 32],
    /// The newest height it has processed.
    pub height: u64,
    /// Its state root at that height.
    pub state_root: String,
    /// The cluster it works in, if any.
    pub cluster: Option<u32>,
    /// Its contracts.
    pub contracts: Vec<ContractStatus>,
    /// Its most recent refusals (commands and messages it could not carry out), newest last.
    pub refusals: Vec<String>,
}

/// A contract as a runtime reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContractStatus {
    /// The contract id, `0x` hex.
    pub contract: String,
    /// Its code hash, `0x` hex.
    pub code: String,
    /// The key epoch the runtime holds it under.
    pub epoch: u64,
    /// Whether the runtime can run it (its keys and code are there).
    pub available: bool,
}

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
    pub fn status(&self) -> Result<WorkerStatus, Error> {
        let value = self.endpoint.get("/v1/status")?;
        let identity = bytes(&value, "identity")?
            .try_into()
            .map_err(|_| Error::Malformed("the identity is not 32 bytes".into()))?;
        let contracts = value
            .get("contracts")
            .and_then(Value::as_array)
            .map(|contracts| {
                contracts
                    .iter()
                    .map(|c| {
                        Ok(ContractStatus {
                            contract: text(c, "contract")?.to_owned(),
                            code: text(c, "code")?.to_owned(),
                            epoch: number(c, "epoch")?,
                            available: c.get("available").and_then(Value::as_bool).unwrap_or(false),
                        })
                    })
                    .collect::<Result<Vec<_>, Error>>()
            })
            .transpose()?
            .unwrap_or_default();
        let refusals = value
            .get("refusals")
            .and_then(Value::as_array)
            .map(|list| list.iter().filter_map(Value::as_str).map(str::to_owned).collect())
            .unwrap_or_default();
        Ok(WorkerStatus {
            chain: text(&value, "chain")?.to_owned(),
            role: text(&value, "role")?.to_owned(),
            platform: text(&value, "platform")?.to_owned(),
            insecure: value.get("insecure").and_then(Value::as_bool).unwrap_or(true),
            identity,
            height: number(&value, "height")?,
            state_root: text(&value, "state_root")?.to_owned(),
            cluster: value
                .get("cluster")
                .and_then(|c| c.get("cluster"))
                .and_then(Value::as_u64)
                .and_then(|c| u32::try_from(c).ok()),
            contracts,
            refusals,
        })
    }

    /// Its status, checked to follow chain `chain`.
    pub fn status_on(&self, chain: &Hash) -> Result<WorkerStatus, Error> {
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

    /// Posts a sealed query; the sealed answer.
    pub(crate) fn post_query(&self, sealed: &[u8]) -> Result<Vec<u8>, Error> {
        let (status, body) = self.endpoint.send("POST", "/v1/query", "application/octet-stream", sealed)?;
        if status == 200 {
            return Ok(body);
        }
        let value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        Err(self.endpoint.refused(status, &value, &body))
    }
}
