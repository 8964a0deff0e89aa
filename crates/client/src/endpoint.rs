//! One HTTP endpoint (a node's or a worker's API) and the JSON conventions of both.

use serde_json::Value;
use veil_http::{authority, request};

use crate::Error;

/// A server's base URL, `http://host:port`.
#[derive(Clone, Debug)]
pub(crate) struct Endpoint {
    url: String,
    authority: String,
    what: &'static str,
}

impl Endpoint {
    /// `what` (`node` or `worker`) names the server in errors.
    pub(crate) fn new(url: &str, what: &'static str) -> Result<Self, Error> {
        let url = url.trim_end_matches('/').to_owned();
        let authority = authority(&url).map_err(Error::Invalid)?.to_owned();
        Ok(Self { url, authority, what })
    }

    pub(crate) fn url(&self) -> &str {
        &self.url
    }

    /// Sends one request; the status and body, whatever the status.
    pub(crate) fn send(
        &self,
        method: &str,
        path: &str,
        content_type: &str,
        body: &[u8],
    ) -> Result<(u16, Vec<u8>), Error> {
        request(&self.authority, method, path, content_type, body).map_err(|e| Error::Unreachable {
            what: self.what,
            url: self.url.clone(),
            reason: e.to_string(),
        })
    }

    /// A request with a JSON body (or none) whose answer is JSON: `Ok` for 2xx, [`Error::NotFound`]
    /// for 404 and [`Error::Refused`] for other statuses, with the server's message.
    pub(crate) fn json(&self, method: &str, path: &str, body: Option<&Value>) -> Result<Value, Error> {
        let body = body.map(Value::to_string).unwrap_or_default();
        let (status, bytes) = self.send(method, path, "application/json", body.as_bytes())?;
        let value: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        match status {
            200..=299 => Ok(value),
            404 => Err(Error::NotFound(message(&value, &bytes))),
            _ => Err(self.refused(status, &value, &bytes)),
        }
    }

    pub(crate) fn get(&self, path: &str) -> Result<Value, Error> {
        self.json("GET", path, None)
    }

    pub(crate) fn refused(&self, status: u16, value: &Value, bytes: &[u8]) -> Error {
        Error::Refused { what: self.what, status, message: message(value, bytes) }
    }
}

/// The `message` of an error body (nodes and workers both send one), else the raw text.
fn message(value: &Value, bytes: &[u8]) -> String {
    match value.get("message").and_then(Value::as_str) {
        Some(message) => message.to_owned(),
        None => String::from_utf8_lossy(bytes).chars().take(200).collect(),
    }
}

/// A JSON field as a string.
pub(crate) fn text<'a>(value: &'a Value, field: &str) -> Result<&'a str, Error> {
    value.get(field).and_then(Value::as_str).ok_or_else(|| Error::Malformed(format!("no string field {field:?}")))
}

/// A JSON field as a number.
pub(crate) fn number(value: &Value, field: &str) -> Result<u64, Error> {
    value.get(field).and_then(Value::as_u64).ok_or_else(|| Error::Malformed(format!("no number field {field:?}")))
}

/// A JSON field holding `0x` hex.
pub(crate) fn bytes(value: &Value, field: &str) -> Result<Vec<u8>, Error> {
    crate::unhex(text(value, field)?)
}

/// A JSON field holding the `0x` hex of a SCALE encoding, decoded strictly.
pub(crate) fn scale<T: parity_scale_codec::Decode + parity_scale_codec::MaxEncodedLen>(
    value: &Value,
    field: &str,
) -> Result<T, Error> {
    veil_primitives::decode_strict(&bytes(value, field)?).map_err(|e| Error::Malformed(format!("{field}: {e}")))
}
