//! The encryption envelope: how anything secret travels in Veil.
//!
//! Sealing to a recipient's X25519 public key `R`:
//!
//! 1. take a fresh ephemeral X25519 key `e` (random, or derived uniquely per message by
//!    deterministic senders such as gatekeepers) and compute `shared = X25519(e, R)`, refusing a
//!    non-contributory (low-order) result;
//! 2. derive 32 key bytes and 12 nonce bytes with HKDF-SHA256: salt `veil/envelope`, input `shared`,
//!    info = the SCALE encoding of the [`Transcript`]: version, purpose label, direction, key epoch,
//!    ephemeral public key, recipient public key;
//! 3. encrypt with AES-256-GCM under associated data = the encoded [`EnvelopeHeader`] followed by
//!    the caller's associated data (the chain binds chain id, contract, key epoch, sender and nonce).
//!
//! The wire format is the SCALE encoding of [`Envelope`]: the header (version, direction, epoch,
//! ephemeral key) and the ciphertext with its tag. Changing any byte of header, ciphertext or
//! associated data makes opening fail; a response cannot be opened as a request, nor one purpose
//! as another, because both are bound into the key.

use aes_gcm::{
    Aes256Gcm, KeyInit,
    aead::{Aead, Payload},
};
use parity_scale_codec::{Decode, Encode, MaxEncodedLen};
use veil_primitives::{KeyEpoch, codec::BoundedBytes};
use x25519_dalek::{PublicKey, StaticSecret};
use zeroize::Zeroizing;

use crate::{
    kdf::hkdf_sha256,
    random::{RandomnessError, random_bytes},
    secret::SecretBytes,
};

/// The largest plaintext one envelope carries: 1 MiB.
pub const MAX_PLAINTEXT: usize = 1 << 20;
/// AES-GCM tag length.
pub const TAG_LEN: usize = 16;

/// An X25519 public key, used only for key agreement (never for signing).
pub type AgreementPublic = [u8; 32];

/// An X25519 secret key for key agreement, with its public half computed once. Zeroizes on drop;
/// `Debug` shows only the public key.
#[derive(Clone)]
pub struct AgreementSecret {
    secret: StaticSecret,
    public: AgreementPublic,
}

impl std::fmt::Debug for AgreementSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "AgreementSecret(public 0x{}, secret: <redacted>)", hex::encode(self.public))
    }
}

impl AgreementSecret {
    /// The key whose scalar bytes are `bytes` (clamped by X25519, as RFC 7748 specifies).
    pub fn from_bytes(bytes: &SecretBytes<32>) -> Self {
        let secret = StaticSecret::from(*bytes.expose());
        let public = PublicKey::from(&secret).to_bytes();
        Self { secret, public }
    }

    /// A fresh random key.
    pub fn generate() -> Result<Self, RandomnessError> {
        Ok(Self::from_bytes(&SecretBytes::new(random_bytes()?)))
    }

    /// The public half.
    pub fn public(&self) -> AgreementPublic {
        self.public
    }

    /// The secret scalar's bytes: for its sealed form, and for tests that search sealed state for
    /// it.
    pub fn secret_bytes(&self) -> SecretBytes<32> {
        SecretBytes::new(self.secret.to_bytes())
    }

    /// RFC 7748 X25519 with `their_public`; `None` when the result is all zeros (a low-order point).
    pub fn agree(&self, their_public: &AgreementPublic) -> Option<SecretBytes<32>> {
        let shared = self.secret.diffie_hellman(&PublicKey::from(*their_public));
        shared.was_contributory().then(|| SecretBytes::new(shared.to_bytes()))
    }
}

/// What an envelope is for. Each purpose has its own label in the key derivation, so an envelope
/// made for one purpose never opens as another. New purposes are appended.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Purpose {
    /// A command to a contract, carried in a transaction.
    ContractCommand,
    /// A query to a worker and its answer.
    Query,
    /// A key handed from a gatekeeper to a runtime.
    KeyDelivery,
}

impl Purpose {
    /// The label bound into the key derivation.
    pub fn label(self) -> &'static [u8] {
        match self {
            Self::ContractCommand => b"veil/contract-command",
            Self::Query => b"veil/query",
            Self::KeyDelivery => b"veil/key-delivery",
        }
    }
}

/// Which way an envelope travels; requests and responses derive different keys.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Encode, Decode, MaxEncodedLen)]
pub enum Direction {
    /// From a client or sender to the recipient.
    #[codec(index = 0)]
    Request,
    /// From the recipient back.
    #[codec(index = 1)]
    Response,
}

/// The envelope format version. Unknown versions fail to decode.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Encode, Decode, MaxEncodedLen)]
pub enum EnvelopeVersion {
    /// X25519, HKDF-SHA256, AES-256-GCM.
    #[codec(index = 1)]
    V1,
}

/// The cleartext part of an envelope, bound as associated data.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Encode, Decode, MaxEncodedLen)]
pub struct EnvelopeHeader {
    /// Format version.
    pub version: EnvelopeVersion,
    /// Request or response.
    pub direction: Direction,
    /// The epoch of the recipient key it is sealed to.
    pub key_epoch: KeyEpoch,
    /// The sender's ephemeral X25519 public key.
    pub ephemeral: AgreementPublic,
}

/// A sealed envelope, as it travels.
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode, MaxEncodedLen)]
pub struct Envelope {
    /// Cleartext header.
    pub header: EnvelopeHeader,
    /// AES-256-GCM ciphertext followed by its 16-byte tag.
    pub ciphertext: BoundedBytes<{ MAX_PLAINTEXT + TAG_LEN }>,
}

/// The HKDF info: everything the derived key must depend on.
#[derive(Encode)]
struct Transcript<'a> {
    version: EnvelopeVersion,
    purpose: &'a [u8],
    direction: Direction,
    key_epoch: KeyEpoch,
    ephemeral: &'a AgreementPublic,
    recipient: &'a AgreementPublic,
}

/// Why an envelope could not be sealed or opened.
#[derive(Debug, Clone, thiserror::Error)]
pub enum EnvelopeError {
    /// The plaintext is over [`MAX_PLAINTEXT`].
    #[error("plaintext of {0} bytes exceeds the envelope limit of {MAX_PLAINTEXT}")]
    TooLarge(usize),
    /// The peer key is a low-order point: no shared secret.
    #[error("the public key is a low-order point; no shared secret can be agreed with it")]
    WeakKey,
    /// The envelope travels the other way.
    #[error("expected a {expected:?} envelope, got a {found:?}")]
    WrongDirection {
        /// What the caller expected.
        expected: Direction,
        /// What the header says.
        found: Direction,
    },
    /// The envelope is sealed to another epoch's key.
    #[error("envelope is sealed to the key of {found}, but the key of {expected} was offered")]
    WrongEpoch {
        /// The epoch of the key offered.
        expected: KeyEpoch,
        /// The epoch in the header.
        found: KeyEpoch,
    },
    /// Authentication failed.
    #[error(
        "cannot open envelope: wrong key, wrong purpose or epoch, or the envelope or its associated data was altered"
    )]
    Unauthentic,
    /// The random generator failed.
    #[error(transparent)]
    Randomness(#[from] RandomnessError),
}

fn cipher(
    shared: &SecretBytes<32>,
    purpose: Purpose,
    header: &EnvelopeHeader,
    recipient: &AgreementPublic,
) -> (Aes256Gcm, [u8; 12]) {
    let transcript = Transcript {
        version: header.version,
        purpose: purpose.label(),
        direction: header.direction,
        key_epoch: header.key_epoch,
        ephemeral: &header.ephemeral,
        recipient,
    };
    let okm = hkdf_sha256::<44>(b"veil/envelope", shared.expose(), &transcript.encode());
    let mut key = Zeroizing::new([0u8; 32]);
    key.copy_from_slice(&okm[..32]);
    let mut nonce = [0u8; 12];
    nonce.copy_from_slice(&okm[32..]);
    (Aes256Gcm::new((&*key).into()), nonce)
}

fn associated_data(header: &EnvelopeHeader, caller_aad: &[u8]) -> Vec<u8> {
    let mut aad = header.encode();
    aad.extend_from_slice(caller_aad);
    aad
}

/// What an envelope is bound to besides its recipient: both sides must agree on all of it.
#[derive(Clone, Copy, Debug)]
pub struct EnvelopeParams<'a> {
    /// What the envelope is for.
    pub purpose: Purpose,
    /// Which way it travels.
    pub direction: Direction,
    /// The epoch of the recipient key.
    pub key_epoch: KeyEpoch,
    /// Associated data: authenticated, not encrypted, not carried on the wire.
    pub aad: &'a [u8],
}

/// Seals `plaintext` to `recipient` with a fresh random ephemeral key.
///
/// ```
/// use veil_crypto::envelope::{self, AgreementSecret, Direction, EnvelopeParams, Purpose};
/// use veil_primitives::KeyEpoch;
///
/// let contract_key = AgreementSecret::generate()?;
/// let params = EnvelopeParams {
///     purpose: Purpose::ContractCommand,
///     direction: Direction::Request,
///     key_epoch: KeyEpoch(0),
///     aad: b"chain, contract, epoch, sender, nonce",
/// };
/// let sealed = envelope::seal(&contract_key.public(), &params, b"transfer 5 to Bob")?;
/// assert_eq!(envelope::open(&contract_key, &params, &sealed)?.as_slice(), b"transfer 5 to Bob");
/// # Ok::<(), envelope::EnvelopeError>(())
/// ```
pub fn seal(
    recipient: &AgreementPublic,
    params: &EnvelopeParams<'_>,
    plaintext: &[u8],
) -> Result<Envelope, EnvelopeError> {
    seal_with_ephemeral(&AgreementSecret::generate()?, recipient, params, plaintext)
}

/// Seals with a caller-chosen ephemeral key, for senders that must be deterministic. The ephemeral
/// key must never be used for another envelope: derive it from something unique per message.
pub fn seal_with_ephemeral(
    ephemeral: &AgreementSecret,
    recipient: &AgreementPublic,
    params: &EnvelopeParams<'_>,
    plaintext: &[u8],
) -> Result<Envelope, EnvelopeError> {
    if plaintext.len() > MAX_PLAINTEXT {
        return Err(EnvelopeError::TooLarge(plaintext.len()));
    }
    let shared = ephemeral.agree(recipient).ok_or(EnvelopeError::WeakKey)?;
    let header = EnvelopeHeader {
        version: EnvelopeVersion::V1,
        direction: params.direction,
        key_epoch: params.key_epoch,
        ephemeral: ephemeral.public(),
    };
    let (cipher, nonce) = cipher(&shared, params.purpose, &header, recipient);
    let aad = associated_data(&header, params.aad);
    let ciphertext = cipher
        .encrypt(&nonce.into(), Payload { msg: plaintext, aad: &aad })
        .map_err(|_| EnvelopeError::TooLarge(plaintext.len()))?;
    let ciphertext = ciphertext.try_into().map_err(|_| EnvelopeError::TooLarge(plaintext.len()))?;
    Ok(Envelope { header, ciphertext })
}

/// Opens an envelope with the recipient secret of `params.key_epoch`. A direction or epoch that
/// differs from the header's gets its own error before any cryptography runs.
pub fn open(
    recipient: &AgreementSecret,
    params: &EnvelopeParams<'_>,
    envelope: &Envelope,
) -> Result<Zeroizing<Vec<u8>>, EnvelopeError> {
    let header = &envelope.header;
    if header.direction != params.direction {
        return Err(EnvelopeError::WrongDirection { expected: params.direction, found: header.direction });
    }
    if header.key_epoch != params.key_epoch {
        return Err(EnvelopeError::WrongEpoch { expected: params.key_epoch, found: header.key_epoch });
    }
    let shared = recipient.agree(&header.ephemeral).ok_or(EnvelopeError::WeakKey)?;
    let (cipher, nonce) = cipher(&shared, params.purpose, header, &recipient.public());
    let aad = associated_data(header, params.aad);
    cipher
        .decrypt(&nonce.into(), Payload { msg: &envelope.ciphertext, aad: &aad })
        .map(Zeroizing::new)
        .map_err(|_| EnvelopeError::Unauthentic)
}

#[cfg(test)]
mod tests {
    use super::*;
    use parity_scale_codec::Encode;
    use proptest::prelude::*;
    use veil_primitives::codec::{decode_strict, strict_check};

    fn recipient(seed: u8) -> AgreementSecret {
        AgreementSecret::from_bytes(&SecretBytes::new([seed; 32]))
    }

    fn params(purpose: Purpose, direction: Direction, epoch: u32, aad: &[u8]) -> EnvelopeParams<'_> {
        EnvelopeParams { purpose, direction, key_epoch: KeyEpoch(epoch), aad }
    }

    fn hex32(text: &str) -> [u8; 32] {
        let mut out = [0u8; 32];
        hex::decode_to_slice(text, &mut out).unwrap();
        out
    }

    /// RFC 7748 section 6.1: Alice and Bob agree on the same shared secret.
    #[test]
    fn rfc7748_diffie_hellman() {
        let alice = AgreementSecret::from_bytes(&SecretBytes::new(hex32(
            "77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a",
        )));
        let bob = AgreementSecret::from_bytes(&SecretBytes::new(hex32(
            "5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb",
        )));
        assert_eq!(hex::encode(alice.public()), "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a");
        assert_eq!(hex::encode(bob.public()), "de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f");
        let expected = "4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742";
        assert_eq!(hex::encode(alice.agree(&bob.public()).unwrap().expose()), expected);
        assert_eq!(hex::encode(bob.agree(&alice.public()).unwrap().expose()), expected);
    }

    /// RFC 7748 section 5.2, first vector: scalar multiplication of an arbitrary point.
    #[test]
    fn rfc7748_scalar_multiplication() {
        let scalar = AgreementSecret::from_bytes(&SecretBytes::new(hex32(
            "a546e36bf0527c9d3b16154b82465edd62144c0ac1fc5a18506a2244ba449ac4",
        )));
        let point = hex32("e6db6867583030db3594c1a424b15f7c726624ec26b3353b10a903a6d0ab1c4c");
        assert_eq!(
            hex::encode(scalar.agree(&point).unwrap().expose()),
            "c3da55379de9c6908e94ea4df28d084f32eccf03491c71f754b4075577a28552"
        );
    }

    /// NIST GCM test vector (McGrew and Viega, test case 16): AES-256 with associated data.
    #[test]
    fn nist_aes256_gcm() {
        let key = hex32("feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308");
        let nonce: [u8; 12] = hex::decode("cafebabefacedbaddecaf888").unwrap().try_into().unwrap();
        let plaintext = hex::decode(
            "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39",
        )
        .unwrap();
        let aad = hex::decode("feedfacedeadbeeffeedfacedeadbeefabaddad2").unwrap();
        let sealed =
            Aes256Gcm::new(&key.into()).encrypt(&nonce.into(), Payload { msg: &plaintext, aad: &aad }).unwrap();
        let (ciphertext, tag) = sealed.split_at(plaintext.len());
        assert_eq!(
            hex::encode(ciphertext),
            "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662"
        );
        assert_eq!(hex::encode(tag), "76fc6ece0f4e1768cddf8853bb2d551b");
    }

    /// The whole construction, pinned: recipient secret `[1; 32]`, ephemeral `[9; 32]`, purpose
    /// Query, request, epoch 3, associated data "ad", plaintext "hello". The expected wire bytes were
    /// computed independently from the module documentation with Python's hmac/hashlib and OpenSSL
    /// (X25519, AES-GCM), so other implementations (the browser SDK) can test against the same bytes.
    #[test]
    fn envelope_known_answer() {
        let me = recipient(1);
        let ephemeral = AgreementSecret::from_bytes(&SecretBytes::new([9; 32]));
        let query = params(Purpose::Query, Direction::Request, 3, b"ad");
        let envelope = seal_with_ephemeral(&ephemeral, &me.public(), &query, b"hello").unwrap();
        assert_eq!(
            hex::encode(envelope.encode()),
            "01000300000057db4b359f23ae5e146e4e2512056704722506348c150c14753d0c933d04d421548279629ad49737d20183d8de7a1413793e0a85aabb"
        );
        assert_eq!(open(&me, &query, &envelope).unwrap().as_slice(), b"hello");
    }

    #[test]
    fn low_order_peer_key_is_refused() {
        let weak_point = [0u8; 32];
        let error = seal(&weak_point, &params(Purpose::Query, Direction::Request, 0, b""), b"x").unwrap_err();
        assert!(matches!(error, EnvelopeError::WeakKey));
    }

    #[test]
    fn oversized_plaintext_is_refused() {
        let big = vec![0u8; MAX_PLAINTEXT + 1];
        let to = recipient(1).public();
        let error = seal(&to, &params(Purpose::Query, Direction::Request, 0, b""), &big).unwrap_err();
        assert!(matches!(error, EnvelopeError::TooLarge(_)));
    }

    #[test]
    fn deterministic_ephemeral_gives_identical_envelopes() {
        let ephemeral = AgreementSecret::from_bytes(&SecretBytes::new([9; 32]));
        let to = recipient(1).public();
        let delivery = params(Purpose::KeyDelivery, Direction::Request, 3, b"ad");
        let seal_once = || seal_with_ephemeral(&ephemeral, &to, &delivery, b"key").unwrap().encode();
        assert_eq!(seal_once(), seal_once());
    }

    #[test]
    fn wrong_direction_purpose_epoch_and_key_are_refused() {
        let me = recipient(1);
        let answer = params(Purpose::Query, Direction::Response, 2, b"ad");
        let envelope = seal(&me.public(), &answer, b"answer").unwrap();
        assert!(matches!(
            open(&me, &params(Purpose::Query, Direction::Request, 2, b"ad"), &envelope),
            Err(EnvelopeError::WrongDirection { expected: Direction::Request, found: Direction::Response })
        ));
        assert!(matches!(
            open(&me, &params(Purpose::Query, Direction::Response, 1, b"ad"), &envelope),
            Err(EnvelopeError::WrongEpoch { expected: KeyEpoch(1), found: KeyEpoch(2) })
        ));
        assert!(matches!(
            open(&me, &params(Purpose::ContractCommand, Direction::Response, 2, b"ad"), &envelope),
            Err(EnvelopeError::Unauthentic)
        ));
        assert!(matches!(open(&recipient(2), &answer, &envelope), Err(EnvelopeError::Unauthentic)));
        // Rewriting the header's epoch to match another key is caught by authentication.
        let mut other_epoch = envelope.clone();
        other_epoch.header.key_epoch = KeyEpoch(3);
        assert!(matches!(
            open(&me, &params(Purpose::Query, Direction::Response, 3, b"ad"), &other_epoch),
            Err(EnvelopeError::Unauthentic)
        ));
        assert_eq!(open(&me, &answer, &envelope).unwrap().as_slice(), b"answer");
    }

    fn arb_purpose() -> impl Strategy<Value = Purpose> {
        prop_oneof![Just(Purpose::ContractCommand), Just(Purpose::Query), Just(Purpose::KeyDelivery)]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn round_trips(
            seed in 1u8..=255, purpose in arb_purpose(), epoch: u32,
            aad in proptest::collection::vec(any::<u8>(), 0..64),
            plaintext in proptest::collection::vec(any::<u8>(), 0..512),
        ) {
            let me = recipient(seed);
            let request = params(purpose, Direction::Request, epoch, &aad);
            let wire = seal(&me.public(), &request, &plaintext).unwrap().encode();
            let decoded: Envelope = decode_strict(&wire).unwrap();
            let opened = open(&me, &request, &decoded).unwrap();
            prop_assert_eq!(opened.as_slice(), plaintext.as_slice());
        }

        /// Any flipped bit anywhere in the wire bytes (header or ciphertext) either breaks decoding
        /// or makes opening fail: nothing altered ever opens.
        #[test]
        fn any_flipped_wire_bit_fails(
            plaintext in proptest::collection::vec(any::<u8>(), 0..128), position: usize, bit in 0u8..8,
        ) {
            let me = recipient(7);
            let command = params(Purpose::ContractCommand, Direction::Request, 1, b"ctx");
            let mut wire = seal(&me.public(), &command, &plaintext).unwrap().encode();
            let position = position % wire.len();
            wire[position] ^= 1 << bit;
            if let Ok(altered) = decode_strict::<Envelope>(&wire) {
                prop_assert!(open(&me, &command, &altered).is_err());
            }
        }

        #[test]
        fn any_flipped_associated_data_bit_fails(
            aad in proptest::collection::vec(any::<u8>(), 1..64), position: usize, bit in 0u8..8,
        ) {
            let me = recipient(7);
            let envelope = seal(&me.public(), &params(Purpose::ContractCommand, Direction::Request, 1, &aad), b"secret").unwrap();
            let mut altered = aad.clone();
            let position = position % altered.len();
            altered[position] ^= 1 << bit;
            prop_assert!(open(&me, &params(Purpose::ContractCommand, Direction::Request, 1, &altered), &envelope).is_err());
            let mut longer = aad.clone();
            longer.push(0);
            prop_assert!(open(&me, &params(Purpose::ContractCommand, Direction::Request, 1, &longer), &envelope).is_err());
        }

        /// A response never opens as a request, even with its direction byte rewritten.
        #[test]
        fn response_never_opens_as_request(plaintext in proptest::collection::vec(any::<u8>(), 0..64)) {
            let me = recipient(5);
            let request = params(Purpose::Query, Direction::Request, 0, b"");
            let response = seal(&me.public(), &params(Purpose::Query, Direction::Response, 0, b""), &plaintext).unwrap();
            prop_assert!(open(&me, &request, &response).is_err());
            let mut relabelled = response.clone();
            relabelled.header.direction = Direction::Request;
            prop_assert!(matches!(open(&me, &request, &relabelled), Err(EnvelopeError::Unauthentic)));
        }

        #[test]
        fn envelope_decodes_strictly(
            plaintext in proptest::collection::vec(any::<u8>(), 0..64), extra: u8, cut in 1usize..200, flip_at: usize, flip: u8,
        ) {
            let envelope = seal(&recipient(3).public(), &params(Purpose::Query, Direction::Request, 0, b""), &plaintext).unwrap();
            prop_assert_eq!(strict_check::check(&envelope, extra, cut, flip_at, flip), Ok(()));
        }
    }
}
