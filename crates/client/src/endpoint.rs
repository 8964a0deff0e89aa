//! One HTTP endpoint (a node's or a worker's API): requests and answers in the shared vocabulary of
//! `veil-api`, errors read from its [`ErrorBody`].

use serde::{Serialize, de::DeserializeOwned};
use veil_api::{ErrorBody, ErrorCode};
use veil_http::{authority, request};

use crate::Error;

const JSON: &str = "application/json";
const BINARY: &str = "application/octet-stream";

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

    /// Sends one request; the body of a 2xx answer, else the server's error.
    fn send(&self, method: &str, path: &str, content_type: &str, body: &[u8]) -> Result<Vec<u8>, Error> {
        let (status, bytes) = request(&self.authority, method, path, content_type, body)
            .map_err(|e| Error::Unreachable { what: self.what, url: self.url.clone(), reason: e.to_string() })?;
        if (200..300).contains(&status) {
            return Ok(bytes);
        }
        let (code, message) = match serde_json::from_slice::<ErrorBody>(&bytes) {
            Ok(error) => (error.code, error.message),
            Err(_) => (ErrorCode::Unknown, String::from_utf8_lossy(&bytes).chars().take(200).collect()),
        };
        Err(match status {
            404 => Error::NotFound(message),
            _ => Error::Refused { what: self.what, status, code, message },
        })
    }

    /// A JSON answer of type `T` (an empty answer reads as `null`).
    fn parse<T: DeserializeOwned>(&self, path: &str, bytes: &[u8]) -> Result<T, Error> {
        let bytes = if bytes.is_empty() { b"null".as_slice() } else { bytes };
        serde_json::from_slice(bytes).map_err(|e| Error::Malformed(format!("{} {path}: {e}", self.what)))
    }

    /// `GET path`, answered in JSON.
    pub(crate) fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, Error> {
        self.parse(path, &self.send("GET", path, JSON, &[])?)
    }

    /// `method path` with a JSON body, answered in JSON.
    pub(crate) fn send_json<B: Serialize, T: DeserializeOwned>(
        &self,
        method: &str,
        path: &str,
        body: &B,
    ) -> Result<T, Error> {
        let body = serde_json::to_vec(body).map_err(|e| Error::Invalid(format!("{path}: {e}")))?;
        self.parse(path, &self.send(method, path, JSON, &body)?)
    }

    /// `method path` with a binary body, answered in JSON.
    pub(crate) fn send_binary<T: DeserializeOwned>(&self, method: &str, path: &str, body: &[u8]) -> Result<T, Error> {
        self.parse(path, &self.send(method, path, BINARY, body)?)
    }

    /// `method path` with a binary body (or none), answered in binary.
    pub(crate) fn binary(&self, method: &str, path: &str, body: &[u8]) -> Result<Vec<u8>, Error> {
        self.send(method, path, BINARY, body)
    }
}

/// The bytes of a `0x` hex field of an answer; `what` names it in the error.
pub(crate) fn hex_field(text: &str, what: &str) -> Result<Vec<u8>, Error> {
    crate::unhex(text).map_err(|e| Error::Malformed(format!("{what}: {e}")))
}

/// A field holding the `0x` hex of a SCALE encoding, decoded strictly.
pub(crate) fn scale_field<T: parity_scale_codec::Decode + parity_scale_codec::MaxEncodedLen>(
    text: &str,
    what: &str,
) -> Result<T, Error> {
    veil_primitives::decode_strict(&hex_field(text, what)?).map_err(|e| Error::Malformed(format!("{what}: {e}")))
}
