//! A node's or a runtime's HTTP API, as the relayer and the devnet talk to it.

use parity_scale_codec::Encode;
use serde_json::{Value, json};
use veil_crypto::AccountPair;
use veil_http::{authority, request};
use veil_primitives::{Call, Hash, Transaction};

use crate::Failure;

/// One API, reached at `http://host:port`.
pub(crate) struct Endpoint {
    authority: String,
}

impl Endpoint {
    pub(crate) fn new(url: &str) -> Result<Self, Failure> {
        Ok(Self { authority: authority(url).map_err(Failure::BadInput)?.to_owned() })
    }

    /// A request with a JSON body (or none); the answer's status and JSON (null when it is not JSON).
    pub(crate) fn json(&self, method: &str, path: &str, body: Option<&Value>) -> Result<(u16, Value), String> {
        let body = body.map(Value::to_string).unwrap_or_default();
        let (status, bytes) = request(&self.authority, method, path, "application/json", body.as_bytes())
            .map_err(|e| format!("{}{path}: {e}", self.authority))?;
        let value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Ok((status, value))
    }

    pub(crate) fn get(&self, path: &str) -> Result<(u16, Value), String> {
        self.json("GET", path, None)
    }

    /// A request with a binary body; the answer's raw bytes.
    pub(crate) fn bytes(&self, method: &str, path: &str, body: &[u8]) -> Result<(u16, Vec<u8>), String> {
        request(&self.authority, method, path, "application/octet-stream", body)
            .map_err(|e| format!("{}{path}: {e}", self.authority))
    }

    /// Signs `call` with `signer`'s next nonce on this node's chain and submits it; the node's answer.
    pub(crate) fn submit_transaction(&self, signer: &AccountPair, call: Call) -> Result<(u16, Value), String> {
        let (_, chain) = self.get("/v1/chain")?;
        let genesis: Hash = chain["chain_id"].as_str().unwrap_or_default().parse().map_err(|e| format!("{e}"))?;
        let (_, account) = self.get(&format!("/v1/accounts/{}", signer.public()))?;
        let nonce = account["nonce"].as_u64().unwrap_or(0);
        let tx = signer.sign_transaction(Transaction { genesis, signer: signer.public(), nonce, call });
        let body = json!({ "transaction": format!("0x{}", hex::encode(tx.encode())) });
        self.json("POST", "/v1/transactions", Some(&body))
    }
}
