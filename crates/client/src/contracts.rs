//! Confidential contracts end to end: upload, instantiate, commands, verified queries.
//!
//! Commands travel in transactions, sealed to the contract's current public key with a binding to
//! the chain, contract, key epoch, sender and nonce, so a worker opens them only in that exact
//! transaction. Queries go straight to a worker of the contract's cluster, signed by a session key
//! the account certified ([`Session`]) and sealed to the worker's X25519 key *as registered on
//! chain* (proven), so only that worker's TEE can read them; the answer is sealed to a fresh key of
//! this query and signed by the worker. [`query`] returns an answer only after checking all of
//! [`query`]'s list.

use std::time::Duration;
use veil_crypto::{
    AccountPair, AgreementSecret, RuntimeSigner,
    confidential::{
        AnswerResult, CommandBinding, Query, SessionCertificate, SignedSessionCertificate, open_answer, seal_command,
        seal_query,
    },
    random::random_bytes,
};
use veil_primitives::{
    AccountId, Balance, Call, ClusterId, ContractId, ContractsCall, Hash, Header, contract::contract_id, hashing,
};
use veil_types::{ContractInfo, WorkerInfo};

use veil_api::worker::{CommandRef, RefusalView};

use crate::{Error, Node, Submitted, Worker};

/// How long a query stays answerable, in blocks after the height the client knows.
const QUERY_VALIDITY_BLOCKS: u64 = 100;

fn no_randomness(error: impl std::fmt::Display) -> Error {
    Error::Invalid(format!("no randomness: {error}"))
}

/// An ed25519 session key certified by an account to sign its queries from one height to another:
/// an application asks the account (a wallet) for one signature, then signs every query itself.
/// Workers refuse a session longer than the parameters' `sessions.max_lifetime_blocks`, and one
/// the account revoked ([`Session::revoke`]).
pub struct Session {
    signer: RuntimeSigner,
    certificate: SignedSessionCertificate,
}

impl Session {
    /// A fresh session key for `account` on `chain`, valid from block `issued_at` (the height the
    /// client knows) through block `expires_at`.
    pub fn new(account: &AccountPair, chain: Hash, issued_at: u64, expires_at: u64) -> Result<Self, Error> {
        let signer = RuntimeSigner::generate().map_err(no_randomness)?;
        let session_key = signer.public();
        let certificate =
            SessionCertificate { account: account.public(), session_key, chain, issued_at, expires_at }.sign(account);
        Ok(Self { signer, certificate })
    }

    /// Revokes the session on chain (signed by its account): from the block that includes it,
    /// workers answer nothing signed by it.
    pub fn revoke(&self, node: &Node, account: &AccountPair) -> Result<Submitted, Error> {
        let session_key = self.certificate.certificate.session_key;
        node.sign_and_submit(account, Call::Accounts(veil_primitives::AccountsCall::RevokeSession { session_key }))
    }

    /// The account it speaks for.
    pub fn account(&self) -> AccountId {
        self.certificate.certificate.account
    }

    /// The last height at which it is valid.
    pub fn expires_at(&self) -> u64 {
        self.certificate.certificate.expires_at
    }
}

/// Uploads `wasm` as `from`; returns its code hash and the submitted transaction.
pub fn upload(node: &Node, from: &AccountPair, wasm: &[u8]) -> Result<(Hash, Submitted), Error> {
    let code = wasm.to_vec().try_into().map_err(|_| {
        Error::Invalid(format!(
            "the module is {} bytes, over the limit of {}",
            wasm.len(),
            veil_primitives::contract::MAX_CODE_BYTES
        ))
    })?;
    let submitted = node.sign_and_submit(from, Call::Contracts(ContractsCall::UploadCode { code }))?;
    Ok((hashing::sha256(wasm), submitted))
}

/// Instantiates uploaded `code` on `cluster` as `from`, with `argument` (the constructor's SCALE
/// argument) sealed to the cluster's key as published on chain. Returns the new contract's id.
pub fn instantiate(
    node: &Node,
    from: &AccountPair,
    code: Hash,
    cluster: ClusterId,
    salt: [u8; 32],
    argument: &[u8],
    fuel: u64,
) -> Result<(ContractId, Submitted), Error> {
    if node.code(&code)?.value.is_none() {
        return Err(Error::NotFound(format!("no code {code} is uploaded: upload the wasm first")));
    }
    let info =
        node.cluster(cluster)?.value.ok_or_else(|| Error::NotFound(format!("cluster {} is not formed", cluster.0)))?;
    let key = info.agreement.ok_or_else(|| {
        Error::NotFound(format!("cluster {}'s key is not published yet: retry in a few seconds", cluster.0))
    })?;
    let contract = contract_id(&from.public(), &code, &salt);
    let chain = node.network().chain_id();
    let submitted = node.sign_and_submit_with(from, |nonce| {
        let binding = CommandBinding { chain, contract, epoch: info.epoch, sender: from.public(), nonce };
        let sealed = seal_command(&key, &binding, argument).map_err(|e| Error::Invalid(e.to_string()))?;
        let argument = sealed.try_into().map_err(|_| Error::Invalid("the constructor argument is too large".into()))?;
        Ok(Call::Contracts(ContractsCall::Instantiate { code, cluster, salt, fuel, argument }))
    })?;
    Ok((contract, submitted))
}

/// A contract as the chain records it, proven once and then used for its commands and queries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Deployed {
    /// Its id.
    pub id: ContractId,
    /// Its record: code hash, cluster, owner, keys, locked tokens.
    pub info: ContractInfo,
    /// The certified header the record was proven against.
    pub header: Header,
}

/// Contract `id`, proven; [`Error::NotFound`] if the chain has none.
pub fn deployed(node: &Node, id: &ContractId) -> Result<Deployed, Error> {
    let proven = node.contract(id)?;
    let info = proven.value.ok_or_else(|| Error::NotFound(format!("no contract {id} on this chain (check its id)")))?;
    Ok(Deployed { id: *id, info, header: proven.header })
}

/// Waits until the gatekeepers published contract `id`'s keys (commands are sealed to them).
pub fn wait_for_keys(node: &Node, id: &ContractId, timeout: Duration) -> Result<Deployed, Error> {
    crate::poll(
        || format!("contract {id}'s keys (is a gatekeeper running?)"),
        timeout,
        || {
            let contract = deployed(node, id)?;
            Ok(contract.info.keys.is_some().then_some(contract))
        },
    )
}

/// Sends `command` (the contract's SCALE-encoded command) to `contract` as `from`, sealed to the
/// contract's current key, with `fuel` prepaid and `value` native tokens.
pub fn command(
    node: &Node,
    from: &AccountPair,
    contract: &Deployed,
    command: &[u8],
    fuel: u64,
    value: Balance,
) -> Result<Submitted, Error> {
    let keys = contract.info.keys.ok_or_else(|| {
        Error::NotFound(format!("contract {}'s keys are not published yet: retry in a few seconds", contract.id))
    })?;
    let chain = node.network().chain_id();
    let contract = contract.id;
    node.sign_and_submit_with(from, |nonce| {
        let binding = CommandBinding { chain, contract, epoch: keys.epoch, sender: from.public(), nonce };
        let sealed = seal_command(&keys.agreement, &binding, command).map_err(|e| Error::Invalid(e.to_string()))?;
        let payload = sealed.try_into().map_err(|_| Error::Invalid("the command is too large".into()))?;
        Ok(Call::Contracts(ContractsCall::Command { contract, payload, fuel, value }))
    })
}

/// What became of a command at a worker.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CommandOutcome {
    /// The worker processed the command's block and recorded no refusal of it.
    Executed {
        /// The worker's height when it was checked.
        height: u64,
    },
    /// The worker refused it or it failed; its tokens were returned.
    Refused(RefusalView),
}

/// Waits until `worker` has processed block `height` (where `sender`'s command with `nonce` was
/// finalized) and says whether it carried the command out. The worker's word, unverified: its
/// refusals are diagnostics; what the command did shows in verified queries.
pub fn outcome(
    worker: &Worker,
    sender: &AccountId,
    nonce: u64,
    height: u64,
    timeout: Duration,
) -> Result<CommandOutcome, Error> {
    let mark = CommandRef { sender: sender.to_string(), nonce };
    crate::poll(
        || format!("the worker at {} to reach block {height}", worker.url()),
        timeout,
        || {
            let status = worker.status()?;
            if status.height < height {
                return Ok(None);
            }
            Ok(Some(match status.refusals.iter().rev().find(|refusal| refusal.command.as_ref() == Some(&mark)) {
                Some(refusal) => CommandOutcome::Refused(refusal.clone()),
                None => CommandOutcome::Executed { height: status.height },
            }))
        },
    )
}

/// What a client accepts in an answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Acceptance {
    /// Accept answers from software workers (no TEE), on networks whose genesis allows them: for
    /// development networks only, since such answers prove nothing.
    pub insecure_workers: bool,
    /// How far (in blocks) the answer's height may be from the newest certified height the
    /// client saw, either way.
    pub max_lag_blocks: u64,
}

impl Default for Acceptance {
    fn default() -> Self {
        Self { insecure_workers: false, max_lag_blocks: 20 }
    }
}

/// A verified answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Answer {
    /// The contract's answer (SCALE, as the contract encodes it), or its refusal.
    pub result: Result<Vec<u8>, String>,
    /// The height the worker answered at.
    pub height: u64,
    /// The contract's code hash, as the worker ran it and the chain records it.
    pub code: Hash,
    /// The answering worker's identity.
    pub worker: [u8; 32],
    /// True when the worker is a software worker (no TEE).
    pub insecure: bool,
}

/// Asks `payload` (the contract's SCALE-encoded query) of `contract`, signed under `session`, from
/// the first of `workers` that works in the contract's cluster, and verifies the answer:
/// - the worker is registered (proven), its registration current at the certified header, and it
///   works in the contract's cluster (as `contract` was proven);
/// - it attested with a measurement the chain allows (proven), or it is a software worker, the
///   genesis allows those and `accept.insecure_workers` is set;
/// - the query is sealed to the worker's registered key, and the answer opens under this query's
///   fresh key with the worker's signature over the request hash;
/// - the answer names that worker, the contract's code hash on chain, a height within
///   `accept.max_lag_blocks` of the certified height, and says "insecure" exactly for software
///   workers.
pub fn query(
    node: &Node,
    workers: &[Worker],
    session: &Session,
    contract: &Deployed,
    payload: &[u8],
    accept: Acceptance,
) -> Result<Answer, Error> {
    let info = &contract.info;
    let Member { worker, identity, registration, header } = cluster_member(node, workers, info.cluster)?;
    let software = registration.tee.is_none();
    if software {
        if !node.network().genesis().allow_insecure_workers {
            return Err(Error::Unverified("the worker has no TEE and this network does not allow that".into()));
        }
        if !accept.insecure_workers {
            return Err(Error::Unverified(
                "the worker is a software worker (no TEE): its answers prove nothing; accept them only on a development network".into(),
            ));
        }
    } else {
        let measurement = registration
            .measurement
            .ok_or_else(|| Error::Unverified("the worker's registration names no measurement".into()))?;
        if !node.measurement_allowed(&measurement)?.value {
            return Err(Error::Unverified("the worker's measurement is no longer allowed on chain".into()));
        }
    }
    if session.expires_at() < header.height {
        return Err(Error::Invalid(format!("the session expired at block {}", session.expires_at())));
    }
    let response = AgreementSecret::generate().map_err(no_randomness)?;
    let signed = Query {
        chain: node.network().chain_id(),
        worker: identity,
        contract: contract.id,
        requester: session.account(),
        nonce: random_bytes().map_err(no_randomness)?,
        known_height: header.height,
        valid_until: (header.height + QUERY_VALIDITY_BLOCKS).min(session.expires_at()),
        response_key: response.public(),
        payload: payload.to_vec().try_into().map_err(|_| Error::Invalid("the query is too large".into()))?,
    }
    .sign_with_session(&session.signer, session.certificate);
    let sealed = seal_query(&registration.agreement_key, &signed).map_err(|e| Error::Invalid(e.to_string()))?;
    let body = worker.post_query(&sealed)?;
    let request = signed.hash();
    let answer = open_answer(&response, &request, &identity, &body).map_err(|e| Error::Unverified(e.to_string()))?;
    if answer.worker != identity || answer.request != request {
        return Err(Error::Unverified("the answer names another worker or request".into()));
    }
    if answer.code != info.code {
        return Err(Error::Unverified(format!(
            "the worker ran code {}, but the chain records {} for this contract",
            answer.code, info.code
        )));
    }
    if answer.height.abs_diff(header.height) > accept.max_lag_blocks {
        return Err(Error::Unverified(format!(
            "the answer is at height {}, too far from the certified height {}",
            answer.height, header.height
        )));
    }
    if answer.insecure != software {
        return Err(Error::Unverified("the answer's TEE claim contradicts the worker's registration".into()));
    }
    let result = match answer.result {
        AnswerResult::Ok(bytes) => Ok(bytes.to_vec()),
        AnswerResult::Refused(reason) => Err(String::from_utf8_lossy(&reason).into_owned()),
    };
    Ok(Answer { result, height: answer.height, code: answer.code, worker: identity, insecure: answer.insecure })
}

/// A worker the chain lists in a cluster.
#[derive(Clone, Debug)]
pub struct Member<'a> {
    /// Where it answers.
    pub worker: &'a Worker,
    /// Its identity key.
    pub identity: [u8; 32],
    /// Its registration, proven.
    pub registration: WorkerInfo,
    /// The certified header the registration was proven against.
    pub header: Header,
}

/// The first of `workers` registered (proven) as a member of `cluster`, with its registration
/// current at the proof's certified header. When none answers at all, the first connection error.
pub fn cluster_member<'a>(node: &Node, workers: &'a [Worker], cluster: ClusterId) -> Result<Member<'a>, Error> {
    if workers.is_empty() {
        return Err(Error::Invalid("no worker to ask: give a worker URL".into()));
    }
    let chain = node.network().chain_id();
    let mut reasons = Vec::new();
    let mut unreachable = Vec::new();
    for worker in workers {
        let identity = match worker.status_on(&chain).and_then(|status| Worker::identity(&status)) {
            Ok(identity) => identity,
            Err(error @ Error::Unreachable { .. }) => {
                reasons.push(error.to_string());
                unreachable.push(error);
                continue;
            }
            Err(error) => {
                reasons.push(error.to_string());
                continue;
            }
        };
        let proven = node.worker(&identity)?;
        match proven.value {
            None => reasons.push(format!("the worker at {} is not registered", worker.url())),
            Some(info) if info.cluster != Some(cluster) => {
                reasons.push(format!("the worker at {} is not in cluster {}", worker.url(), cluster.0));
            }
            Some(info) if info.expires_at_ms <= proven.header.timestamp_ms => {
                reasons.push(format!("the worker at {}'s registration has lapsed", worker.url()));
            }
            Some(registration) => return Ok(Member { worker, identity, registration, header: proven.header }),
        }
    }
    if unreachable.len() == workers.len() {
        // None answered at all: the network failed, not the question.
        return Err(unreachable.remove(0));
    }
    Err(Error::NotFound(format!("no worker given can answer for cluster {}: {}", cluster.0, reasons.join("; "))))
}
