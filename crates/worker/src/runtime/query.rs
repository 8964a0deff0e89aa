//! Sealed queries answered from the current state, signed and sealed to the client's response
//! key. The query names this worker and chain; its signature (or session certificate) is checked;
//! the worker's view must be recent enough for the client and by the local clock; each
//! (requester, nonce) is answered once within its validity window.

use veil_api::ErrorCode;
use veil_crypto::confidential::{Answer, AnswerResult, open_query, seal_answer};
use veil_primitives::{AccountId, ContractId, Hash, contract::BlockStamp};

use super::{Duties, Runtime};

/// Limits of the query service.
#[derive(Clone, Copy, Debug)]
pub struct QueryLimits {
    /// A query is refused when the client knows a height more than this many blocks past the
    /// runtime's view.
    pub max_lag_blocks: u64,
    /// A query is refused when the runtime's newest header is older than this by the local clock
    /// (`None` turns the check off, for replaying old chains in tests and benchmarks).
    pub max_age_ms: Option<u64>,
    /// The furthest a query's `valid_until` may lie past the runtime's height: bounds the memory
    /// that refuses replays.
    pub max_validity_blocks: u64,
}

impl Default for QueryLimits {
    fn default() -> Self {
        Self { max_lag_blocks: 20, max_age_ms: Some(30_000), max_validity_blocks: 600 }
    }
}

/// Why a query is refused. None of these reveal anything of a contract's state.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QueryError {
    /// Not a query sealed to this worker's key, or altered.
    #[error("cannot open the query: {0}")]
    Unreadable(String),
    /// A signature or session certificate does not verify.
    #[error("{0}")]
    Unauthenticated(String),
    /// Addressed to another worker or chain.
    #[error("the query is addressed to worker 0x{} on chain {chain}, not to this worker", hex::encode(.worker))]
    Misaddressed {
        /// The worker it names.
        worker: [u8; 32],
        /// The chain it names.
        chain: Hash,
    },
    /// The session certificate is refused: it spans too long, starts too far ahead, or its
    /// account revoked it.
    #[error("the session certificate is refused: {0}")]
    SessionRefused(String),
    /// The session certificate expired.
    #[error("the session certificate expired at height {expired_at}; this worker stands at {height}")]
    SessionExpired {
        /// Its last valid height.
        expired_at: u64,
        /// The worker's height.
        height: u64,
    },
    /// The runtime's view is too old to answer.
    #[error("this worker's view of the chain is stale: {0}")]
    Stale(String),
    /// The query's validity window is over or too long.
    #[error(
        "the query is valid until height {valid_until}; this worker stands at {height} and accepts at most {max} blocks ahead"
    )]
    Validity {
        /// The query's last height.
        valid_until: u64,
        /// The worker's height.
        height: u64,
        /// The longest window accepted.
        max: u64,
    },
    /// The same (requester, nonce) was answered before.
    #[error("query nonce 0x{} of {requester} was already answered: replays are refused", hex::encode(.nonce))]
    Replayed {
        /// The requester.
        requester: AccountId,
        /// The nonce.
        nonce: [u8; 16],
    },
    /// This worker does not run the contract.
    #[error("contract {0} does not run on this worker")]
    UnknownContract(ContractId),
    /// The answer could not be sealed.
    #[error("cannot seal the answer: {0}")]
    Seal(String),
}

impl QueryError {
    /// The API's error code for this refusal.
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::Unreadable(_) => ErrorCode::Unreadable,
            Self::Unauthenticated(_) => ErrorCode::Unauthenticated,
            Self::Misaddressed { .. } => ErrorCode::Misaddressed,
            Self::SessionExpired { .. } => ErrorCode::SessionExpired,
            Self::SessionRefused(_) => ErrorCode::SessionRefused,
            Self::Stale(_) => ErrorCode::Stale,
            Self::Validity { .. } => ErrorCode::Validity,
            Self::Replayed { .. } => ErrorCode::Replayed,
            Self::UnknownContract(_) => ErrorCode::UnknownContract,
            Self::Seal(_) => ErrorCode::Internal,
        }
    }
}

impl Runtime {
    /// Answers a sealed query (the body of `POST /v1/query`) at the current view; `now_ms` is the
    /// local clock, used only for the staleness bound.
    pub fn query(&self, body: &[u8], now_ms: u64) -> Result<Vec<u8>, QueryError> {
        let signed = open_query(self.core.query_key.key(), body).map_err(|e| QueryError::Unreadable(e.to_string()))?;
        let query = &signed.query;
        if query.chain != self.setting.chain || query.worker != self.identity() {
            return Err(QueryError::Misaddressed { worker: query.worker, chain: query.chain });
        }
        let session = signed.verify().map_err(|e| QueryError::Unauthenticated(e.to_string()))?;
        let view = self.follower.state();
        let height = view.height;
        if let (Some(certificate), Duties::Worker(worker)) = (&session, &self.duties) {
            worker.sessions.check(certificate, height, self.setting.host.limits.max_lag_blocks)?;
        }
        if query.known_height > height.saturating_add(self.setting.host.limits.max_lag_blocks) {
            return Err(QueryError::Stale(format!(
                "it stands at height {height}, the client knows {} (at most {} blocks behind are allowed)",
                query.known_height, self.setting.host.limits.max_lag_blocks
            )));
        }
        if let Some(max_age) = self.setting.host.limits.max_age_ms
            && now_ms.saturating_sub(view.timestamp_ms) > max_age
        {
            return Err(QueryError::Stale(format!(
                "its newest block is {} ms old (at most {max_age} ms allowed)",
                now_ms.saturating_sub(view.timestamp_ms)
            )));
        }
        let max = self.setting.host.limits.max_validity_blocks;
        if query.valid_until < height || query.valid_until > height.saturating_add(max) {
            return Err(QueryError::Validity { valid_until: query.valid_until, height, max });
        }
        let Duties::Worker(worker) = &self.duties else { return Err(QueryError::UnknownContract(query.contract)) };
        let (code, contract) =
            worker.contracts.get(&query.contract).ok_or(QueryError::UnknownContract(query.contract))?;
        {
            let mut answered = self.answered.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            answered.retain(|_, valid_until| *valid_until >= height);
            if answered.insert((query.requester, query.nonce), query.valid_until).is_some() {
                return Err(QueryError::Replayed { requester: query.requester, nonce: query.nonce });
            }
        }
        let block = BlockStamp { height, timestamp_ms: view.timestamp_ms };
        let result =
            match contract.query(&query.requester, block, &query.payload, &worker.contracts.peers(query.contract)) {
                Ok(bytes) => {
                    AnswerResult::Ok(bytes.try_into().map_err(|_| QueryError::Seal("answer too large".into()))?)
                }
                Err(reason) => {
                    let mut reason = reason.into_bytes();
                    reason.truncate(veil_crypto::confidential::MAX_REASON);
                    AnswerResult::Refused(reason.try_into().map_err(|_| QueryError::Seal("reason too long".into()))?)
                }
            };
        let answer = Answer {
            request: signed.hash(),
            height,
            code,
            worker: self.identity(),
            insecure: self.setting.host.insecure,
            result,
        };
        seal_answer(self.core.identity.key(), answer, &query.response_key).map_err(|e| QueryError::Seal(e.to_string()))
    }
}
