//! The confidential-contract protocol: how commands, queries, answers and keys are sealed.
//!
//! Everything here uses the [`envelope`](crate::envelope); this module fixes, for each message, the
//! purpose, the direction and the associated data, so client, worker and gatekeeper agree on them.
//!
//! - **Commands** are sealed to the contract's X25519 key with associated data binding chain id,
//!   contract, key epoch, the signing account and the transaction nonce ([`CommandBinding`]). The
//!   runtime rebuilds the binding from the transaction as the chain published it (origin and
//!   nonce), so Alice's ciphertext inside Bob's transaction, or inside another of Alice's, does not
//!   open.
//! - **Queries** are a [`SignedQuery`] sealed to a worker's X25519 key: signed by the requester's
//!   account key (sr25519) or by a session key (ed25519) the account certified until a block height
//!   ([`SessionCertificate`]). The body names chain, worker, contract, a random nonce, the height the
//!   client knows, a last valid height and a fresh X25519 key for the answer.
//! - **Answers** are a [`SignedAnswer`]: the request's hash, the chain height, the contract's code
//!   hash, the worker identity and whether it runs without a TEE, signed by the worker's identity key
//!   and sealed to the client's answer key.
//! - **Key messages** ([`KeyMessage`]) are gatekeepers' egress: a proposal of a new epoch's master
//!   key (signed by the proposer's identity, with the master key sealed to the other gatekeepers'
//!   keys of that epoch); then, from the gatekeeper set, each cluster's keys with the cluster key
//!   sealed to each worker's key of the epoch, each contract's public keys, and master shares for
//!   gatekeepers that join. Every delivery is sealed to a per-epoch key the recipient signed with
//!   its identity and destroys when the epoch retires. Ephemeral keys derive from (master key,
//!   recipient, epoch, duty) and ed25519 signatures are deterministic, so every gatekeeper holding
//!   the master key emits identical bytes.

use parity_scale_codec::{Decode, Encode, MaxEncodedLen};
use veil_primitives::{
    AccountId, ClusterId, ContractId, Hash, KeyEpoch, Nonce,
    codec::{BoundedBytes, BoundedVec},
    contract::{AssignedWorker, MAX_CLUSTER_WORKERS},
    decode_strict,
    epoch::MAX_GATEKEEPERS,
    hashing::sha256,
};
use zeroize::Zeroizing;

use crate::{
    account::{SignatureError, verify_account_signature},
    envelope::{
        self, AgreementPublic, AgreementSecret, Direction, Envelope, EnvelopeError, EnvelopeParams, MAX_PLAINTEXT,
        Purpose,
    },
    key_tree::{ClusterKey, MasterKey},
    runtime_key::{RuntimeSignatureError, RuntimeSigner, verify_runtime_signature},
    secret::SecretBytes,
};

/// The largest query payload.
pub const MAX_QUERY_PAYLOAD: usize = 64 * 1024;
/// The largest answer payload.
pub const MAX_ANSWER_PAYLOAD: usize = MAX_PLAINTEXT - 1024;
/// The longest refusal reason in an answer.
pub const MAX_REASON: usize = 1024;

const COMMAND_DOMAIN: &[u8] = b"veil/command/v1";
pub(crate) const QUERY_DOMAIN: &[u8] = b"veil/query/v1";
pub(crate) const SESSION_DOMAIN: &[u8] = b"veil/query-session/v1";
const ANSWER_DOMAIN: &[u8] = b"veil/answer/v1";
const KEY_DELIVERY_DOMAIN: &[u8] = b"veil/key-delivery/v1";

/// Why a confidential message could not be sealed, opened or trusted.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ConfidentialError {
    /// The bytes are not the expected message.
    #[error("malformed {what}: {reason}")]
    Malformed {
        /// What was expected.
        what: &'static str,
        /// Why it does not decode.
        reason: String,
    },
    /// The envelope does not open (or could not be sealed).
    #[error(transparent)]
    Envelope(#[from] EnvelopeError),
    /// The requester's account signature does not verify.
    #[error("the query's account signature does not verify: {0}")]
    AccountSignature(SignatureError),
    /// The session certificate's signature does not verify.
    #[error("the session certificate's signature does not verify: {0}")]
    SessionCertificate(SignatureError),
    /// The session key's signature over the query does not verify.
    #[error("the query's session signature does not verify: {0}")]
    SessionSignature(RuntimeSignatureError),
    /// The session certificate is for another account or chain.
    #[error("the session certificate is for account {certified} on chain {chain}, not the query's")]
    SessionMismatch {
        /// The account it certifies.
        certified: AccountId,
        /// The chain it is for.
        chain: Hash,
    },
    /// The answer's signature does not verify against the worker's identity.
    #[error("the answer is not signed by worker 0x{}: {error}", hex::encode(.worker))]
    AnswerSignature {
        /// The worker asked.
        worker: [u8; 32],
        /// Why.
        error: RuntimeSignatureError,
    },
    /// The answer is for another request, or from another worker.
    #[error("the answer is for request {found} from worker 0x{}, not for {expected}", hex::encode(.worker))]
    WrongAnswer {
        /// The request sent.
        expected: Hash,
        /// The request the answer names.
        found: Hash,
        /// The worker it names.
        worker: [u8; 32],
    },
    /// A delivered cluster key does not yield the cluster's published keys.
    #[error("the delivered key does not yield the published keys of cluster {}", .0.0)]
    ClusterKeyMismatch(ClusterId),
    /// A master share that is not the master key the chain recorded for its epoch.
    #[error("the shared master key is not the one recorded for {0}")]
    MasterMismatch(KeyEpoch),
    /// A delivery addressed to another runtime.
    #[error("the delivery is addressed to 0x{}, not to this runtime", hex::encode(.recipient))]
    Misdirected {
        /// Whom it names.
        recipient: [u8; 32],
    },
    /// Too large to seal.
    #[error("{0} exceeds its size limit")]
    TooLarge(&'static str),
}

fn decode<T: Decode + MaxEncodedLen>(what: &'static str, bytes: &[u8]) -> Result<T, ConfidentialError> {
    decode_strict(bytes).map_err(|error| ConfidentialError::Malformed { what, reason: error.to_string() })
}

fn with_domain(domain: &[u8], value: &impl Encode) -> Vec<u8> {
    let mut bytes = domain.to_vec();
    value.encode_to(&mut bytes);
    bytes
}

/// What a command's envelope is bound to besides the contract's key.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Encode)]
pub struct CommandBinding {
    /// The chain id.
    pub chain: Hash,
    /// The contract.
    pub contract: ContractId,
    /// The contract key's epoch.
    pub epoch: KeyEpoch,
    /// The account that signs the carrying transaction.
    pub sender: AccountId,
    /// The carrying transaction's nonce.
    pub nonce: Nonce,
}

impl CommandBinding {
    fn params(&self) -> (Vec<u8>, KeyEpoch) {
        (with_domain(COMMAND_DOMAIN, self), self.epoch)
    }
}

/// Seals a command to a contract's X25519 key; the result is a `Command` transaction's payload.
pub fn seal_command(
    contract_key: &AgreementPublic,
    binding: &CommandBinding,
    command: &[u8],
) -> Result<Vec<u8>, ConfidentialError> {
    let ephemeral = AgreementSecret::generate().map_err(EnvelopeError::from)?;
    seal_command_with(&ephemeral, contract_key, binding, command)
}

/// Seals a command deterministically with a caller-chosen ephemeral key: how one contract's
/// runtime sends another a message (the ephemeral from [`crate::ContractKey::ephemeral_for`]), so
/// every worker of the sending cluster emits the same bytes.
pub fn seal_command_with(
    ephemeral: &AgreementSecret,
    contract_key: &AgreementPublic,
    binding: &CommandBinding,
    command: &[u8],
) -> Result<Vec<u8>, ConfidentialError> {
    let (aad, key_epoch) = binding.params();
    let params =
        EnvelopeParams { purpose: Purpose::ContractCommand, direction: Direction::Request, key_epoch, aad: &aad };
    Ok(envelope::seal_with_ephemeral(ephemeral, contract_key, &params, command)?.encode())
}

/// Opens a command from a contract's topic. Fails unless it was sealed for exactly this binding.
pub fn open_command(
    contract_key: &AgreementSecret,
    binding: &CommandBinding,
    payload: &[u8],
) -> Result<Zeroizing<Vec<u8>>, ConfidentialError> {
    let sealed: Envelope = decode("command envelope", payload)?;
    let (aad, key_epoch) = binding.params();
    let params =
        EnvelopeParams { purpose: Purpose::ContractCommand, direction: Direction::Request, key_epoch, aad: &aad };
    Ok(envelope::open(contract_key, &params, &sealed)?)
}

/// An account's permission for an ed25519 session key to sign its queries from one block height
/// to another. Workers refuse a certificate that spans more than the parameters'
/// `sessions.max_lifetime_blocks`, one issued at a height the chain has not nearly reached, and
/// one the account revoked on chain (`AccountsCall::RevokeSession`) at or after the height it was
/// issued at.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Encode, Decode, MaxEncodedLen)]
pub struct SessionCertificate {
    /// The account.
    pub account: AccountId,
    /// The session's ed25519 public key.
    pub session_key: [u8; 32],
    /// The chain id.
    pub chain: Hash,
    /// The block height the session starts at (the client's view of the chain when it certified).
    pub issued_at: u64,
    /// The last block height at which the session is valid.
    pub expires_at: u64,
}

impl SessionCertificate {
    /// What the account signs: the domain and the certificate's encoding.
    pub fn signing_payload(&self) -> Vec<u8> {
        with_domain(SESSION_DOMAIN, self)
    }

    /// The same payload as a Polkadot browser wallet signs it with `signRaw` (wrapped in
    /// `<Bytes>…</Bytes>`): a certificate signed so verifies too, so a browser wallet can
    /// certify a session.
    pub fn wallet_message(&self) -> Vec<u8> {
        let (open, close) = crate::account::WRAPPED_MESSAGE;
        [open, &self.signing_payload(), close].concat()
    }

    /// Signs the certificate with the account key.
    pub fn sign(self, account: &crate::AccountPair) -> SignedSessionCertificate {
        let signature = account.sign(&self.signing_payload());
        SignedSessionCertificate { certificate: self, signature }
    }
}

impl SignedSessionCertificate {
    /// Checks the account's signature over the certificate, plain or in the wallet's wrapped form.
    pub fn verify(&self) -> Result<(), SignatureError> {
        let cert = &self.certificate;
        verify_account_signature(&cert.account, &cert.signing_payload(), &self.signature)
            .or_else(|_| verify_account_signature(&cert.account, &cert.wallet_message(), &self.signature))
    }
}

/// A session certificate with the account's sr25519 signature.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Encode, Decode, MaxEncodedLen)]
pub struct SignedSessionCertificate {
    /// The certificate.
    pub certificate: SessionCertificate,
    /// The account's signature over the domain-separated encoding.
    pub signature: [u8; 64],
}

/// A query to one worker about one contract.
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode, MaxEncodedLen)]
pub struct Query {
    /// The chain id.
    pub chain: Hash,
    /// The worker's identity key: a query for one worker is refused by every other.
    pub worker: [u8; 32],
    /// The contract asked.
    pub contract: ContractId,
    /// The account asking.
    pub requester: AccountId,
    /// Random, unique per query: a worker answers each (requester, nonce) once.
    pub nonce: [u8; 16],
    /// The newest finalized height the client knows: a worker behind it by more than its bound
    /// refuses as stale.
    pub known_height: u64,
    /// The last height at which the query may be answered (bounds the worker's replay memory).
    pub valid_until: u64,
    /// The client's fresh X25519 key: the answer is sealed to it.
    pub response_key: AgreementPublic,
    /// What the contract is asked.
    pub payload: BoundedBytes<MAX_QUERY_PAYLOAD>,
}

/// Who vouches for a query.
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode, MaxEncodedLen)]
pub enum QueryAuth {
    /// The requester's sr25519 account signature.
    #[codec(index = 0)]
    Account([u8; 64]),
    /// A session key's ed25519 signature, with the account's certificate for it.
    #[codec(index = 1)]
    Session {
        /// The certificate.
        certificate: SignedSessionCertificate,
        /// The session key's signature.
        signature: [u8; 64],
    },
}

/// A query with its signature: what is sealed to the worker.
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode, MaxEncodedLen)]
pub struct SignedQuery {
    /// The query.
    pub query: Query,
    /// Its signature.
    pub auth: QueryAuth,
}

impl Query {
    fn signing_payload(&self) -> Vec<u8> {
        with_domain(QUERY_DOMAIN, self)
    }

    /// Signs with the requester's account key.
    pub fn sign(self, account: &crate::AccountPair) -> SignedQuery {
        let signature = account.sign(&self.signing_payload());
        SignedQuery { query: self, auth: QueryAuth::Account(signature) }
    }

    /// [`Query::sign`] with the signature's randomness drawn from `seed`, so a deterministic
    /// simulation replays byte for byte (see `AccountPair::sign_transaction_replayable`).
    #[cfg(feature = "test-support")]
    pub fn sign_replayable(self, account: &crate::AccountPair, seed: [u8; 32]) -> SignedQuery {
        let signature = account.sign_replayable(&self.signing_payload(), seed);
        SignedQuery { query: self, auth: QueryAuth::Account(signature) }
    }

    /// Signs with a session key under the account's certificate.
    pub fn sign_with_session(self, session: &RuntimeSigner, certificate: SignedSessionCertificate) -> SignedQuery {
        let signature = session.sign(&self.signing_payload());
        SignedQuery { query: self, auth: QueryAuth::Session { certificate, signature } }
    }
}

impl SignedQuery {
    /// The request hash an answer names: SHA-256 of the signed query's encoding.
    pub fn hash(&self) -> Hash {
        sha256(&self.encode())
    }

    /// Checks the signatures. Returns the session certificate, if one was used: whether its
    /// heights and revocations allow it now is the worker's check, against its view of the chain.
    pub fn verify(&self) -> Result<Option<SessionCertificate>, ConfidentialError> {
        let payload = self.query.signing_payload();
        match &self.auth {
            QueryAuth::Account(signature) => {
                verify_account_signature(&self.query.requester, &payload, signature)
                    .map_err(ConfidentialError::AccountSignature)?;
                Ok(None)
            }
            QueryAuth::Session { certificate, signature } => {
                let cert = &certificate.certificate;
                if cert.account != self.query.requester || cert.chain != self.query.chain {
                    return Err(ConfidentialError::SessionMismatch { certified: cert.account, chain: cert.chain });
                }
                certificate.verify().map_err(ConfidentialError::SessionCertificate)?;
                verify_runtime_signature(&cert.session_key, &payload, signature)
                    .map_err(ConfidentialError::SessionSignature)?;
                Ok(Some(*cert))
            }
        }
    }
}

fn query_params(direction: Direction, aad: &[u8]) -> EnvelopeParams<'_> {
    EnvelopeParams { purpose: Purpose::Query, direction, key_epoch: KeyEpoch(0), aad }
}

/// Seals a signed query to a worker's X25519 key: the body of `POST /v1/query`.
pub fn seal_query(worker_key: &AgreementPublic, query: &SignedQuery) -> Result<Vec<u8>, ConfidentialError> {
    Ok(envelope::seal(worker_key, &query_params(Direction::Request, QUERY_DOMAIN), &query.encode())?.encode())
}

/// Opens a query sealed to this worker. Signatures are not checked here ([`SignedQuery::verify`]).
pub fn open_query(worker_key: &AgreementSecret, body: &[u8]) -> Result<SignedQuery, ConfidentialError> {
    let sealed: Envelope = decode("query envelope", body)?;
    let plain = envelope::open(worker_key, &query_params(Direction::Request, QUERY_DOMAIN), &sealed)?;
    decode("signed query", &plain)
}

/// What a contract answered.
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode, MaxEncodedLen)]
pub enum AnswerResult {
    /// The contract's answer.
    #[codec(index = 0)]
    Ok(BoundedBytes<MAX_ANSWER_PAYLOAD>),
    /// The contract refused, with its reason (for example: only the owner may read this).
    #[codec(index = 1)]
    Refused(BoundedBytes<MAX_REASON>),
}

/// A worker's answer to one query.
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode, MaxEncodedLen)]
pub struct Answer {
    /// The request's hash ([`SignedQuery::hash`]).
    pub request: Hash,
    /// The chain height the answer was computed at.
    pub height: u64,
    /// The contract's code hash.
    pub code: Hash,
    /// The answering worker's identity key.
    pub worker: [u8; 32],
    /// True when the worker runs without a TEE (software mode): its answers prove nothing.
    pub insecure: bool,
    /// The result.
    pub result: AnswerResult,
}

/// An answer with the worker's ed25519 signature over its domain-separated encoding.
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode, MaxEncodedLen)]
pub struct SignedAnswer {
    /// The answer.
    pub answer: Answer,
    /// The worker's signature.
    pub signature: [u8; 64],
}

/// Signs `answer` with the worker's identity key and seals it to the client's answer key.
pub fn seal_answer(
    worker: &RuntimeSigner,
    answer: Answer,
    response_key: &AgreementPublic,
) -> Result<Vec<u8>, ConfidentialError> {
    let aad = with_domain(ANSWER_DOMAIN, &answer.request);
    let signature = worker.sign(&with_domain(ANSWER_DOMAIN, &answer));
    let signed = SignedAnswer { answer, signature };
    Ok(envelope::seal(response_key, &query_params(Direction::Response, &aad), &signed.encode())?.encode())
}

/// Opens and checks an answer: sealed to the client's answer key, for `request`, signed by `worker`.
pub fn open_answer(
    response_key: &AgreementSecret,
    request: &Hash,
    worker: &[u8; 32],
    body: &[u8],
) -> Result<Answer, ConfidentialError> {
    let sealed: Envelope = decode("answer envelope", body)?;
    let aad = with_domain(ANSWER_DOMAIN, request);
    let plain = envelope::open(response_key, &query_params(Direction::Response, &aad), &sealed)?;
    let signed: SignedAnswer = decode("signed answer", &plain)?;
    if signed.answer.request != *request || signed.answer.worker != *worker {
        return Err(ConfidentialError::WrongAnswer {
            expected: *request,
            found: signed.answer.request,
            worker: signed.answer.worker,
        });
    }
    verify_runtime_signature(worker, &with_domain(ANSWER_DOMAIN, &signed.answer), &signed.signature)
        .map_err(|error| ConfidentialError::AnswerSignature { worker: *worker, error })?;
    Ok(signed.answer)
}

/// A secret sealed to one runtime's key of an epoch.
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode, MaxEncodedLen)]
pub struct KeyDelivery {
    /// The recipient's identity key.
    pub recipient: [u8; 32],
    /// The 32 secret bytes, sealed to the recipient's X25519 key of the epoch.
    pub envelope: Envelope,
}

/// A gatekeeper's proposal of a new epoch: the new master key's public half, the gatekeeper set's
/// egress key derived from it, and the master key sealed to the other gatekeepers' keys of the
/// epoch. Signed by the proposer's identity key, never by a master key: whoever held an old master
/// key cannot open an epoch. The chain takes the first proposal for the epoch it asked for.
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode, MaxEncodedLen)]
pub struct Proposal {
    /// The epoch proposed.
    pub epoch: KeyEpoch,
    /// The new master key's public half.
    pub master: AgreementPublic,
    /// The gatekeeper set's egress key for the epoch ([`MasterKey::set_signer`]).
    pub signing: [u8; 32],
    /// The new master key for the other gatekeepers.
    pub shares: BoundedVec<KeyDelivery, MAX_GATEKEEPERS>,
}

/// The master key of an epoch, for a gatekeeper that joined after the epoch opened.
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode, MaxEncodedLen)]
pub struct MasterShare {
    /// The epoch.
    pub epoch: KeyEpoch,
    /// The master key, sealed to the gatekeeper's key of the epoch.
    pub delivery: KeyDelivery,
}

/// A cluster's keys for an epoch: its public halves, and the cluster key sealed to each worker
/// whose key of the epoch the gatekeeper checked.
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode, MaxEncodedLen)]
pub struct ClusterKeys {
    /// The duty (position on the assignments topic) this answers.
    pub duty: u64,
    /// The cluster.
    pub cluster: ClusterId,
    /// The key epoch.
    pub epoch: KeyEpoch,
    /// The cluster's X25519 key: constructor arguments are sealed to it.
    pub agreement: AgreementPublic,
    /// The cluster's signing key: it signs the cluster's state snapshots.
    pub signing: [u8; 32],
    /// The cluster key, for each worker.
    pub deliveries: BoundedVec<KeyDelivery, MAX_CLUSTER_WORKERS>,
}

/// A contract's public keys for an epoch, derived from its cluster's key.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Encode, Decode, MaxEncodedLen)]
pub struct ContractKeys {
    /// The contract.
    pub contract: ContractId,
    /// Its code hash.
    pub code: Hash,
    /// Its cluster.
    pub cluster: ClusterId,
    /// The key epoch.
    pub epoch: KeyEpoch,
    /// The contract's X25519 key: clients seal commands to it.
    pub agreement: AgreementPublic,
    /// The contract's ed25519 key: it signs the contract's egress.
    pub signing: [u8; 32],
}

/// What gatekeepers publish on the key-epochs topic: proposals from one gatekeeper's identity,
/// everything else from the gatekeeper set ([`veil_primitives::SenderId::GatekeeperSet`]).
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode, MaxEncodedLen)]
pub enum KeyMessage {
    /// A new epoch's master key.
    #[codec(index = 0)]
    Proposal(Proposal),
    /// A contract's public keys.
    #[codec(index = 1)]
    ContractKeys(ContractKeys),
    /// A cluster's keys.
    #[codec(index = 2)]
    ClusterKeys(ClusterKeys),
    /// A master key for a gatekeeper that joined.
    #[codec(index = 3)]
    MasterShare(MasterShare),
}

/// What a delivery's envelope is bound to: what it carries, for whom, in which epoch.
#[derive(Encode)]
enum DeliveryBinding<'a> {
    #[codec(index = 0)]
    Cluster { recipient: &'a [u8; 32], cluster: ClusterId, epoch: KeyEpoch, duty: u64 },
    #[codec(index = 1)]
    Master { recipient: &'a [u8; 32], epoch: KeyEpoch, master: &'a AgreementPublic },
}

impl DeliveryBinding<'_> {
    fn recipient(&self) -> &[u8; 32] {
        match self {
            Self::Cluster { recipient, .. } | Self::Master { recipient, .. } => recipient,
        }
    }

    fn epoch(&self) -> KeyEpoch {
        match self {
            Self::Cluster { epoch, .. } | Self::Master { epoch, .. } => *epoch,
        }
    }

    fn params<'a>(&self, aad: &'a [u8]) -> EnvelopeParams<'a> {
        EnvelopeParams { purpose: Purpose::KeyDelivery, direction: Direction::Request, key_epoch: self.epoch(), aad }
    }

    fn seal(
        &self,
        ephemeral: &AgreementSecret,
        to: &AgreementPublic,
        secret: &SecretBytes<32>,
    ) -> Result<KeyDelivery, ConfidentialError> {
        let aad = with_domain(KEY_DELIVERY_DOMAIN, self);
        let envelope = envelope::seal_with_ephemeral(ephemeral, to, &self.params(&aad), secret.expose())?;
        Ok(KeyDelivery { recipient: *self.recipient(), envelope })
    }

    fn open(&self, with: &AgreementSecret, delivery: &KeyDelivery) -> Result<SecretBytes<32>, ConfidentialError> {
        let aad = with_domain(KEY_DELIVERY_DOMAIN, self);
        let plain = envelope::open(with, &self.params(&aad), &delivery.envelope)?;
        let secret: [u8; 32] = plain.as_slice().try_into().map_err(|_| ConfidentialError::Malformed {
            what: "delivered key",
            reason: format!("{} bytes, expected 32", plain.len()),
        })?;
        Ok(SecretBytes::new(secret))
    }
}

/// A runtime that keys are delivered to: its identity and its X25519 key of the epoch.
pub type Recipient = AssignedWorker;

impl Proposal {
    /// Proposes `master` as epoch `epoch`'s master key, sealed to each of `gatekeepers` (their keys
    /// of that epoch).
    pub fn new(master: &MasterKey, epoch: KeyEpoch, gatekeepers: &[Recipient]) -> Result<Self, ConfidentialError> {
        let mut shares = BoundedVec::default();
        for gatekeeper in gatekeepers {
            shares
                .try_push(MasterShare::seal(master, epoch, gatekeeper, u64::MAX)?.delivery)
                .map_err(|_| ConfidentialError::TooLarge("a gatekeeper set"))?;
        }
        Ok(Self { epoch, master: master.public(), signing: master.set_signer(epoch).public(), shares })
    }

    /// Opens the share addressed to `identity`; `None` if there is none.
    pub fn open(&self, identity: &[u8; 32], key: &AgreementSecret) -> Option<Result<MasterKey, ConfidentialError>> {
        let delivery = self.shares.iter().find(|share| share.recipient == *identity)?;
        let share = MasterShare { epoch: self.epoch, delivery: delivery.clone() };
        Some(share.open(identity, key, &self.master, &self.signing))
    }
}

impl MasterShare {
    /// Seals `master` (of `epoch`) to `gatekeeper`, deterministically: the ephemeral key derives
    /// from the master key, the recipient's identity and key, the epoch and `sequence`
    /// ([`MasterKey::master_delivery_ephemeral`]), so every holder emits the same bytes.
    pub fn seal(
        master: &MasterKey,
        epoch: KeyEpoch,
        gatekeeper: &Recipient,
        sequence: u64,
    ) -> Result<Self, ConfidentialError> {
        let public = master.public();
        let binding = DeliveryBinding::Master { recipient: &gatekeeper.identity, epoch, master: &public };
        let ephemeral = master.master_delivery_ephemeral(&gatekeeper.identity, &gatekeeper.agreement, epoch, sequence);
        Ok(Self { epoch, delivery: binding.seal(&ephemeral, &gatekeeper.agreement, master.secret())? })
    }

    /// Opens the share with the gatekeeper's key of the epoch and checks that it is the master key
    /// whose public half and set key the chain recorded for the epoch.
    pub fn open(
        &self,
        identity: &[u8; 32],
        key: &AgreementSecret,
        master: &AgreementPublic,
        signing: &[u8; 32],
    ) -> Result<MasterKey, ConfidentialError> {
        if self.delivery.recipient != *identity {
            return Err(ConfidentialError::Misdirected { recipient: self.delivery.recipient });
        }
        let binding = DeliveryBinding::Master { recipient: identity, epoch: self.epoch, master };
        let opened = MasterKey::from_secret(binding.open(key, &self.delivery)?);
        if opened.public() != *master || opened.set_signer(self.epoch).public() != *signing {
            return Err(ConfidentialError::MasterMismatch(self.epoch));
        }
        Ok(opened)
    }
}

impl ClusterKeys {
    /// The keys of `cluster_key`'s cluster, with the cluster key sealed to each of `workers`
    /// deterministically: the ephemeral key of each envelope derives from the master key, the
    /// recipient's identity and key, the cluster, the epoch and the duty
    /// ([`MasterKey::cluster_delivery_ephemeral`]), so every gatekeeper emits the same bytes and
    /// no two deliveries share an ephemeral.
    pub fn deliver(
        master: &MasterKey,
        cluster_key: &ClusterKey,
        duty: u64,
        workers: &[Recipient],
    ) -> Result<Self, ConfidentialError> {
        let (cluster, epoch) = (cluster_key.cluster(), cluster_key.epoch());
        let mut keys = Self {
            duty,
            cluster,
            epoch,
            agreement: cluster_key.agreement().public(),
            signing: cluster_key.signer().public(),
            deliveries: BoundedVec::default(),
        };
        for worker in workers {
            let binding = DeliveryBinding::Cluster { recipient: &worker.identity, cluster, epoch, duty };
            let ephemeral =
                master.cluster_delivery_ephemeral(&worker.identity, &worker.agreement, cluster, epoch, duty);
            keys.deliveries
                .try_push(binding.seal(&ephemeral, &worker.agreement, cluster_key.secret())?)
                .map_err(|_| ConfidentialError::TooLarge("a cluster"))?;
        }
        Ok(keys)
    }

    /// Opens the cluster key sealed to the worker `identity` with its key of the epoch and checks
    /// that it yields the published public keys. `None` if no delivery is addressed to `identity`.
    pub fn open(&self, identity: &[u8; 32], key: &AgreementSecret) -> Option<Result<ClusterKey, ConfidentialError>> {
        let delivery = self.deliveries.iter().find(|delivery| delivery.recipient == *identity)?;
        let binding =
            DeliveryBinding::Cluster { recipient: identity, cluster: self.cluster, epoch: self.epoch, duty: self.duty };
        Some(binding.open(key, delivery).and_then(|secret| {
            let cluster_key = ClusterKey::from_secret(secret, self.cluster, self.epoch);
            if cluster_key.agreement().public() != self.agreement || cluster_key.signer().public() != self.signing {
                return Err(ConfidentialError::ClusterKeyMismatch(self.cluster));
            }
            Ok(cluster_key)
        }))
    }
}

impl ContractKeys {
    /// The public keys of `contract` (code `code`) derived from `cluster_key`.
    pub fn derive(cluster_key: &ClusterKey, contract: ContractId, code: Hash) -> Self {
        let key = cluster_key.contract_key(contract);
        Self {
            contract,
            code,
            cluster: cluster_key.cluster(),
            epoch: cluster_key.epoch(),
            agreement: key.agreement().public(),
            signing: key.signer().public(),
        }
    }
}

#[cfg(test)]
mod tests;
