//! What can go wrong, in words that say what to do next.

/// A client failure. Each variant's message is one line meant for a person.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The input was wrong: a bad address, key, file or argument.
    #[error("{0}")]
    Invalid(String),
    /// Nothing answered at the address.
    #[error("cannot reach the {what} at {url} ({reason}); is it running?")]
    Unreachable {
        /// `node` or `worker`.
        what: &'static str,
        /// Its URL.
        url: String,
        /// The connection error.
        reason: String,
    },
    /// The server refused the request and said why.
    #[error("the {what} refused: {message} ({code}, HTTP {status})")]
    Refused {
        /// `node` or `worker`.
        what: &'static str,
        /// The HTTP status.
        status: u16,
        /// The server's error code.
        code: veil_api::ErrorCode,
        /// Its reason.
        message: String,
    },
    /// What was asked for does not exist on chain.
    #[error("{0}")]
    NotFound(String),
    /// An answer did not verify: a proof, certificate, signature or binding is wrong. The server
    /// is faulty or lying; nothing it said was used.
    #[error("verification failed: {0}")]
    Unverified(String),
    /// An answer could not be decoded.
    #[error("malformed answer: {0}")]
    Malformed(String),
    /// A wait ran out.
    #[error("timed out after {seconds} s waiting for {what}")]
    Timeout {
        /// What was awaited.
        what: String,
        /// How long.
        seconds: u64,
    },
    /// The node serves another network than the genesis the client trusts.
    #[error(
        "the node at {url} runs chain {node}, but the genesis file is for chain {expected}: pass that network's genesis"
    )]
    WrongChain {
        /// The node's URL.
        url: String,
        /// The node's chain id.
        node: String,
        /// The genesis' chain id.
        expected: String,
    },
}
