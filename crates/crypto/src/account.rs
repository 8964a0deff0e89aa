//! sr25519 account keys, compatible with Substrate tooling.
//!
//! A key comes from a 32-byte *mini secret* expanded in Ed25519 mode, as in Substrate. A BIP39
//! phrase gives its mini secret through the phrase's **entropy** (not the standard BIP39 seed):
//! PBKDF2-HMAC-SHA512(entropy, "mnemonic" + password, 2048 rounds), first 32 bytes, as
//! `substrate-bip39` does. Hard junctions derive a new mini secret (so the seed stays known); a soft
//! junction derives the secret key directly, after which no seed exists.

use schnorrkel::{
    ExpansionMode, Keypair, MiniSecretKey, PublicKey, Signature,
    derive::{ChainCode, Derivation},
    signing_context,
};
use sha2::Sha512;
use veil_primitives::{AccountId, SignedTransaction, Transaction};
use zeroize::Zeroizing;

use crate::{
    random::{RandomnessError, random_bytes},
    secret::SecretBytes,
    secret_uri::{self, Junction, UriError},
};

/// The signing context of every account signature, as in Substrate.
pub const SIGNING_CONTEXT: &[u8] = b"substrate";

/// Why a secret could not be turned into an account key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AccountKeyError {
    /// The URI's shape is wrong.
    #[error(transparent)]
    Uri(#[from] UriError),
    /// Words that are not a valid English BIP39 phrase.
    #[error("invalid secret phrase: {0}")]
    Phrase(String),
    /// `0x` followed by something other than 64 hex digits.
    #[error("invalid seed: expected 0x followed by 64 hex digits")]
    Seed,
    /// A password given with a raw seed, where it would have no effect.
    #[error("a password has no effect on a raw 0x seed; remove the password or use a phrase")]
    PasswordWithSeed,
    /// A hard junction on a public key.
    #[error("a public key can only be derived through soft junctions (/x), not hard ones (//x)")]
    HardJunctionOnPublic,
    /// A phrase length BIP39 does not define.
    #[error("a phrase has 12, 15, 18, 21 or 24 words, not {0}")]
    WordCount(usize),
    /// The operating system's random generator failed.
    #[error(transparent)]
    Randomness(#[from] RandomnessError),
}

/// An sr25519 key pair with the mini secret it came from, when there is one.
///
/// The secret halves zeroize on drop; `Debug` shows only the public key.
#[derive(Clone)]
pub struct AccountPair {
    keypair: Keypair,
    seed: Option<SecretBytes<32>>,
}

impl std::fmt::Debug for AccountPair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "AccountPair({}, secret: <redacted>)", self.public())
    }
}

impl AccountPair {
    /// The pair whose mini secret is `seed`.
    pub fn from_seed(seed: &[u8; 32]) -> Self {
        // Any 32 bytes are a valid mini secret, so this cannot fail.
        let mini = mini_secret(seed);
        Self { keypair: mini.expand_to_keypair(ExpansionMode::Ed25519), seed: Some(SecretBytes::new(*seed)) }
    }

    /// The pair of a BIP39 English phrase and optional password.
    pub fn from_phrase(phrase: &str, password: Option<&str>) -> Result<Self, AccountKeyError> {
        let mnemonic = bip39::Mnemonic::parse_in_normalized(bip39::Language::English, phrase)
            .map_err(|error| AccountKeyError::Phrase(error.to_string()))?;
        let (entropy, entropy_len) = mnemonic.to_entropy_array();
        let entropy = Zeroizing::new(entropy);
        let salt = Zeroizing::new(format!("mnemonic{}", password.unwrap_or("")));
        let mut big_seed = Zeroizing::new([0u8; 64]);
        pbkdf2::pbkdf2_hmac::<Sha512>(&entropy[..entropy_len], salt.as_bytes(), 2048, &mut big_seed[..]);
        let mut seed = [0u8; 32];
        seed.copy_from_slice(&big_seed[..32]);
        let pair = Self::from_seed(&seed);
        zeroize::Zeroize::zeroize(&mut seed);
        Ok(pair)
    }

    /// The pair named by a secret URI (`phrase//hard/soft///password`, `0x<seed>//hard`, `//Alice`).
    /// `password_override`, when given, replaces the URI's password.
    ///
    /// ```
    /// use veil_crypto::{AccountPair, verify_account_signature};
    ///
    /// let alice = AccountPair::from_suri("//Alice", None)?;
    /// assert_eq!(alice.public().to_string(), "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY");
    /// let signature = alice.sign(b"hello");
    /// assert!(verify_account_signature(&alice.public(), b"hello", &signature).is_ok());
    /// # Ok::<(), veil_crypto::account::AccountKeyError>(())
    /// ```
    pub fn from_suri(uri: &str, password_override: Option<&str>) -> Result<Self, AccountKeyError> {
        let parsed = secret_uri::parse(uri)?;
        let password = password_override.or(parsed.password.as_deref().map(String::as_str));
        let root = match parsed.phrase.strip_prefix("0x") {
            Some(hex_seed) => {
                if password.is_some() {
                    return Err(AccountKeyError::PasswordWithSeed);
                }
                let mut seed = Zeroizing::new([0u8; 32]);
                hex::decode_to_slice(hex_seed, &mut seed[..]).map_err(|_| AccountKeyError::Seed)?;
                Self::from_seed(&seed)
            }
            None => Self::from_phrase(&parsed.phrase, password)?,
        };
        Ok(root.derive(&parsed.path))
    }

    /// A new random phrase of `words` words and its pair (with no password).
    pub fn generate(words: usize) -> Result<(Zeroizing<String>, Self), AccountKeyError> {
        let entropy_len = match words {
            12 | 15 | 18 | 21 | 24 => words / 3 * 4,
            other => return Err(AccountKeyError::WordCount(other)),
        };
        let entropy = Zeroizing::new(random_bytes::<32>()?);
        let mnemonic = bip39::Mnemonic::from_entropy_in(bip39::Language::English, &entropy[..entropy_len])
            .map_err(|error| AccountKeyError::Phrase(error.to_string()))?;
        let phrase = Zeroizing::new(mnemonic.to_string());
        let pair = Self::from_phrase(&phrase, None)?;
        Ok((phrase, pair))
    }

    /// The pair reached from this one through `path`.
    pub fn derive(&self, path: &[Junction]) -> Self {
        let mut secret = self.keypair.secret.clone();
        let mut seed = self.seed.clone();
        for junction in path {
            match junction {
                Junction::Hard(code) => {
                    let (mini, _) = secret.hard_derive_mini_secret_key(Some(ChainCode(*code)), b"");
                    secret = mini.expand(ExpansionMode::Ed25519);
                    seed = seed.map(|_| SecretBytes::new(mini.to_bytes()));
                }
                Junction::Soft(code) => {
                    secret = secret.derived_key_simple(ChainCode(*code), []).0;
                    seed = None;
                }
            }
        }
        Self { keypair: secret.to_keypair(), seed }
    }

    /// The account this pair controls.
    pub fn public(&self) -> AccountId {
        AccountId(self.keypair.public.to_bytes())
    }

    /// The mini secret, when the key came from a seed or phrase through hard junctions only.
    pub fn seed(&self) -> Option<&SecretBytes<32>> {
        self.seed.as_ref()
    }

    /// Signs a transaction as its signer. The transaction's `signer` should be this pair's account;
    /// the chain refuses the signature otherwise.
    pub fn sign_transaction(&self, transaction: Transaction) -> SignedTransaction {
        let signature = self.sign(&transaction.signing_payload());
        SignedTransaction { transaction, signature }
    }

    /// Signs a transaction with the signature's randomness drawn from `seed` instead of the
    /// system: the same transaction and seed give the same signature, so a deterministic
    /// simulation replays byte for byte. (A Schnorr nonce from the secret, the message and a seed
    /// is as safe as a deterministic signature scheme's; but keys people hold use
    /// [`AccountPair::sign_transaction`].)
    #[cfg(feature = "test-support")]
    pub fn sign_transaction_replayable(&self, transaction: Transaction, seed: [u8; 32]) -> SignedTransaction {
        let signature = self.sign_replayable(&transaction.signing_payload(), seed);
        SignedTransaction { transaction, signature }
    }

    /// [`AccountPair::sign`] with the signature's randomness drawn from `seed` (see
    /// [`AccountPair::sign_transaction_replayable`]): for a simulation's queries.
    #[cfg(feature = "test-support")]
    pub fn sign_replayable(&self, message: &[u8], seed: [u8; 32]) -> [u8; 64] {
        let transcript = signing_context(SIGNING_CONTEXT).bytes(message);
        let rng = replay::SeededRng { seed, counter: 0 };
        self.keypair.sign(schnorrkel::context::attach_rng(transcript, rng)).to_bytes()
    }

    /// Signs `message` under the `substrate` context. Randomized, as sr25519 signing is. For the
    /// protocol's own payloads; a message a person asked to have signed goes through
    /// [`AccountPair::sign_message`].
    pub fn sign(&self, message: &[u8]) -> [u8; 64] {
        self.keypair.sign(signing_context(SIGNING_CONTEXT).bytes(message)).to_bytes()
    }

    /// Signs a message someone asked this account to sign ("sign this to log in"), refusing one
    /// that is, or wraps, a Veil protocol payload: its signature would be a transaction, a query
    /// or a session certificate of this account.
    pub fn sign_message(&self, message: &[u8]) -> Result<[u8; 64], ProtocolPayload> {
        if is_protocol_payload(message) {
            return Err(ProtocolPayload);
        }
        Ok(self.sign(message))
    }
}

#[cfg(feature = "test-support")]
mod replay {
    use rand_core_06::{CryptoRng, Error, RngCore, impls};
    use sha2::{Digest as _, Sha256};

    /// SHA-256 of a seed and a block counter, as signing randomness.
    pub(super) struct SeededRng {
        pub(super) seed: [u8; 32],
        pub(super) counter: u64,
    }

    impl RngCore for SeededRng {
        fn next_u32(&mut self) -> u32 {
            impls::next_u32_via_fill(self)
        }

        fn next_u64(&mut self) -> u64 {
            impls::next_u64_via_fill(self)
        }

        fn fill_bytes(&mut self, dest: &mut [u8]) {
            for chunk in dest.chunks_mut(32) {
                let block = Sha256::new().chain_update(self.seed).chain_update(self.counter.to_le_bytes()).finalize();
                self.counter += 1;
                chunk.copy_from_slice(&block[..chunk.len()]);
            }
        }

        fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), Error> {
            self.fill_bytes(dest);
            Ok(())
        }
    }

    impl CryptoRng for SeededRng {}
}

/// Every Veil signing domain starts with this, so one check covers those added later.
pub const VEIL_DOMAIN_PREFIX: &[u8] = b"veil/";
/// How Polkadot browser wallets wrap a raw message before signing it (`signRaw`).
pub const WRAPPED_MESSAGE: (&[u8], &[u8]) = (b"<Bytes>", b"</Bytes>");

/// Whether `message` is a Veil protocol payload, raw or wrapped the way browser wallets wrap raw
/// messages: an account must never sign one as "just a message".
pub fn is_protocol_payload(message: &[u8]) -> bool {
    let inner = message.strip_prefix(WRAPPED_MESSAGE.0).unwrap_or(message);
    inner.starts_with(VEIL_DOMAIN_PREFIX)
}

/// A message [`AccountPair::sign_message`] refuses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error(
    "the message is in a Veil signing domain (it starts with `veil/`, raw or inside <Bytes>…</Bytes>): its signature would authorize a transaction, query or session of this account"
)]
pub struct ProtocolPayload;

fn mini_secret(seed: &[u8; 32]) -> MiniSecretKey {
    match MiniSecretKey::from_bytes(seed) {
        Ok(mini) => mini,
        // `from_bytes` only checks the length, which the type already guarantees.
        Err(_) => unreachable!("a 32-byte mini secret is always valid"),
    }
}

/// Derives a public key through soft junctions (`5Grw…/soft`), as Substrate's public URIs do.
pub fn derive_public(public: &AccountId, path: &[Junction]) -> Result<AccountId, AccountKeyError> {
    let mut key = PublicKey::from_bytes(public.as_bytes()).map_err(|_| AccountKeyError::Seed)?;
    for junction in path {
        match junction {
            Junction::Soft(code) => key = key.derived_key_simple(ChainCode(*code), []).0,
            Junction::Hard(_) => return Err(AccountKeyError::HardJunctionOnPublic),
        }
    }
    Ok(AccountId(key.to_bytes()))
}

/// Why an account signature did not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// The 32 bytes are not a valid sr25519 public key.
    #[error("not a valid sr25519 public key")]
    BadPublicKey,
    /// The 64 bytes are not an sr25519 signature (for example, the pre-2019 format).
    #[error("not a valid sr25519 signature encoding")]
    BadEncoding,
    /// A well-formed signature that does not match the key and message.
    #[error("signature does not match the public key and message")]
    Mismatch,
}

/// Checks an sr25519 signature by `signer` over `message` under the `substrate` context.
pub fn verify_account_signature(
    signer: &AccountId,
    message: &[u8],
    signature: &[u8; 64],
) -> Result<(), SignatureError> {
    let public = PublicKey::from_bytes(signer.as_bytes()).map_err(|_| SignatureError::BadPublicKey)?;
    let signature = Signature::from_bytes(signature).map_err(|_| SignatureError::BadEncoding)?;
    public.verify_simple(SIGNING_CONTEXT, message, &signature).map_err(|_| SignatureError::Mismatch)
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_payload_an_account_signs_is_in_a_veil_domain() {
        use veil_primitives::{AccountId, AccountsCall, Balance, Call, Hash, Transaction};
        let transaction = Transaction {
            genesis: Hash::ZERO,
            signer: AccountId([1; 32]),
            nonce: 0,
            call: Call::Accounts(AccountsCall::Transfer { to: AccountId([2; 32]), amount: Balance(1) }),
        };
        for payload in [
            transaction.signing_payload(),
            crate::confidential::QUERY_DOMAIN.to_vec(),
            crate::confidential::SESSION_DOMAIN.to_vec(),
        ] {
            assert!(super::is_protocol_payload(&payload));
            assert!(super::is_protocol_payload(&[b"<Bytes>".as_slice(), &payload, b"</Bytes>"].concat()));
        }
        assert!(!super::is_protocol_payload(b"log in to example.com"));
        assert!(!super::is_protocol_payload(b"<Bytes>log in</Bytes>"));
    }

    use super::*;
    use crate::secret_uri::{DEV_PHRASE, split_path};

    #[cfg(feature = "test-support")]
    #[test]
    fn replayable_signatures_repeat_per_seed_and_verify() {
        use veil_primitives::{AccountsCall, Balance, Call, Hash};
        let pair = AccountPair::from_suri("//Alice", None).unwrap();
        let transaction = |nonce| Transaction {
            genesis: Hash::ZERO,
            signer: pair.public(),
            nonce,
            call: Call::Accounts(AccountsCall::Transfer { to: AccountId([2; 32]), amount: Balance(1) }),
        };
        let once = pair.sign_transaction_replayable(transaction(0), [7; 32]);
        let again = pair.sign_transaction_replayable(transaction(0), [7; 32]);
        let other_seed = pair.sign_transaction_replayable(transaction(0), [8; 32]);
        let other_nonce = pair.sign_transaction_replayable(transaction(1), [7; 32]);
        assert_eq!(once, again, "same transaction and seed, same signature");
        assert_ne!(once.signature, other_seed.signature);
        assert_ne!(once.signature, other_nonce.signature);
        for signed in [&once, &other_seed, &other_nonce] {
            let payload = signed.transaction.signing_payload();
            assert_eq!(verify_account_signature(&pair.public(), &payload, &signed.signature), Ok(()));
        }
    }

    fn public_hex(uri: &str) -> String {
        hex::encode(AccountPair::from_suri(uri, None).unwrap().public().0)
    }

    fn seed_hex(uri: &str) -> Option<String> {
        AccountPair::from_suri(uri, None).unwrap().seed().map(|s| hex::encode(s.expose()))
    }

    #[test]
    fn alice_and_bob_match_subkey() {
        let alice = AccountPair::from_suri("//Alice", None).unwrap();
        assert_eq!(hex::encode(alice.public().0), "d43593c715fdd31c61141abd04a99fd6822c8558854ccde39a5684e7a56da27d");
        assert_eq!(alice.public().to_string(), "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY");
        assert_eq!(
            seed_hex("//Alice").as_deref(),
            Some("e5be9a5092b81bca64be81d212e7f2f9eba183bb7a90954f7b76361f6edb5c0a")
        );
        let bob = AccountPair::from_suri("//Bob", None).unwrap();
        assert_eq!(hex::encode(bob.public().0), "8eaf04151687736326c9fea17e25fc5287613693c912909cb226aa4794f26a48");
        assert_eq!(bob.public().to_string(), "5FHneW46xGXgs5mUiveU4sbTyGBzmstUspZC92UhjJM694ty");
    }

    /// The Substrate wiki's secret-URI test vectors (as kept in polkadot-js `keyring/src/suri.spec.ts`).
    #[test]
    fn substrate_secret_uri_vectors() {
        let vectors = [
            (
                "",
                "46ebddef8cd9bb167dc30878d7113b7e168e6f0646beffd77d69d39bad76b47a",
                "5DfhGyQdFobKM8NsWvEeAKk5EQQgYe9AydgJ7rMB6E1EqRzV",
            ),
            (
                "///password",
                "b69355deefa7a8f33e9297f5af22e680f03597a99d4f4b1c44be47e7a2275802",
                "5GC6LfpV352HtJPySfAecb5JdePtf4R9Vq49NUU8RhzgBqgq",
            ),
            (
                "/foo",
                "40b9675df90efa6069ff623b0fdfcf706cd47ca7452a5056c7ad58194d23440a",
                "5DXZzrDxHbkQov4QBAY4TjpwnHCMrKXkomTnKSw8UArBEY5v",
            ),
            (
                "//foo",
                "547d4a55642ec7ebadc0bd29b6e570b8c926059b3c0655d4948075e9a7e6f31e",
                "5DyV6fZuvPemWrUqBgWwTSgoV86w6xms3KhkFU6cQcWxU8eP",
            ),
            (
                "//foo/bar",
                "3841947ffcde6f5fef26fb68b59bb8665637e30e32ec2051f99cf6b9c674fe09",
                "5DLU27is5iViNopQb2KxsTyPx6j4vCu8X3sk3j3NNLkPCqKM",
            ),
            (
                "/foo//bar",
                "dc142f7476a7b0aa262aeccf207f1d18daa90762db393006741e8a31f39dbc53",
                "5H3GPTqDSpjkfDwbHy12PD6BWm8jvGSX4xYC8UMprHpTPcRg",
            ),
            (
                "//foo/bar//42/69",
                "a2e56b06407a6d1e819d2fc33fa0ec604b29c2e868b70b3696bb049b8725934b",
                "5FkHmNgbg64MwStgCyDi2Uw3ufFu11mqQgmWT9uwK4Lghvpv",
            ),
            (
                "//foo/bar//42/69///password",
                "0e0d24e3e1ff2c07f269c99e2e0df8681fda1851ac42fc846ca2daaa90cd8f14",
                "5CP8S23JBNXYNpJsL7ESPJBNnUZE6itcfM4EnDxEhaVEU6dT",
            ),
            (
                "//Alice",
                "d43593c715fdd31c61141abd04a99fd6822c8558854ccde39a5684e7a56da27d",
                "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY",
            ),
        ];
        for (path, public, address) in vectors {
            let uri = format!("{DEV_PHRASE}{path}");
            let pair = AccountPair::from_suri(&uri, None).unwrap();
            assert_eq!(hex::encode(pair.public().0), public, "{path}");
            assert_eq!(pair.public().to_string(), address, "{path}");
        }
    }

    /// Parity Signer's derivation vectors (`rust/constants/src/test_values.rs`), numeric and
    /// password junctions included.
    #[test]
    fn parity_signer_derivation_vectors() {
        let vectors = [
            ("//0", "2afba9278e30ccf6a6ceb3a8b6e336b70068f045c666f2e7f4f9cc5f47db8972"),
            ("//1", "b606fc73f57f03cdb4c932d475ab426043e429cecc2ffff0d2672b0df8398c48"),
            ("//westend//0", "e655361d12f3ccca5f128187cf3f5eea052be722746e392c8b498d0d18723470"),
            ("//secret///abracadabra", "76b68c7ad0e084b37d6a0c8c92d792f6041da5e7ff0c6c3d4a2d6b97772ad46e"),
            ("//secret//path///multipass", "e83f1549880f33524079201c5c7aed839f56c73adb2f61d9b271ae2d692dfe2c"),
            ("//Alice/secret//secret", "8266a693d6872d2b6437215c198ee25cabf2e4256df9ad00e979e84b00b5235e"),
            ("//Alice/westend", "9cd20feb68e0535a6c1cdeead4601b652cf6af6d76baf370df26ee25adde0805"),
        ];
        for (uri, public) in vectors {
            assert_eq!(public_hex(uri), public, "{uri}");
        }
    }

    /// subkey's README: a BIP39 phrase (with and without password) to seed and public key.
    #[test]
    fn subkey_readme_phrase_vectors() {
        let phrase = "hotel forest jar hover kite book view eight stuff angle legend defense";
        assert_eq!(
            seed_hex(phrase).as_deref(),
            Some("a05c75731970cc7868a2fb7cb577353cd5b31f62dccced92c441acd8fee0c92d")
        );
        assert_eq!(public_hex(phrase), "fec70cfbf1977c6965b5af10a4534a6a35d548eb14580594d0bc543286892515");
        let with_password = "soup lyrics media market way crouch elevator put moon useful question wide///extra_secret";
        assert_eq!(
            seed_hex(with_password).as_deref(),
            Some("e7cfd179d6537a676cb94bac3b5c5c9cb1550e846ac4541040d077dfbac2e7fd")
        );
        assert_eq!(public_hex(with_password), "f6a233c3e1de1a2ae0486100b460b3ce3d7231ddfe9dadabbd35ab968c70905d");
    }

    #[test]
    fn sp_core_seed_vectors() {
        assert_eq!(
            hex::encode(AccountPair::from_seed(b"12345678901234567890123456789012").public().0),
            "741c08a06f41c596608f6774259bd9043304adfa5d3eea62760bd9be97634d63"
        );
        assert_eq!(
            public_hex("0x9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60"),
            "44a996beb1eef7bdcab976ab6d2ca26104834164ecf28fb375600576fcc6eb0f"
        );
    }

    #[test]
    fn soft_junction_drops_the_seed_and_hard_keeps_it() {
        assert!(seed_hex("//Alice").is_some());
        assert!(seed_hex("//Alice/stash").is_none());
        assert_eq!(public_hex("//Alice//stash"), "be5ddb1579b72e84524fc29e78609e3caf42e85aa118ebfe0b0ad404b5bdd25f");
    }

    #[test]
    fn public_soft_derivation_matches_secret_soft_derivation() {
        let (address, path) = split_path("5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY/westend").unwrap();
        let alice: AccountId = address.parse().unwrap();
        assert_eq!(
            hex::encode(derive_public(&alice, &path).unwrap().0),
            "9cd20feb68e0535a6c1cdeead4601b652cf6af6d76baf370df26ee25adde0805"
        );
        let (_, hard) = split_path("x//hard").unwrap();
        assert_eq!(derive_public(&alice, &hard), Err(AccountKeyError::HardJunctionOnPublic));
    }

    /// A signature produced by another implementation (the JavaScript `micro-sr25519`, its own
    /// `sign` test with all-zero randomness) verifies here.
    #[test]
    fn signature_from_javascript_implementation_verifies() {
        let pair =
            AccountPair::from_seed(&hex_array("fac7959dbfe72f052e5a0c3c8d6530f202b02fd8f9f5ca3580ec8deb7797479e"));
        assert_eq!(hex::encode(pair.public().0), "46ebddef8cd9bb167dc30878d7113b7e168e6f0646beffd77d69d39bad76b47a");
        let signature = hex_array::<64>(
            "dc4831339346dc294d21dd6efa22c078b6eb6602a30fb9c67540c1fb4e20936e17489f36dbe14aec6d2b1e56d979f7b420ca34143aca1691db0bab9535c49a86",
        );
        assert_eq!(verify_account_signature(&pair.public(), b"this is a message", &signature), Ok(()));
        assert_eq!(
            verify_account_signature(&pair.public(), b"this is a messagE", &signature),
            Err(SignatureError::Mismatch)
        );
    }

    /// Alice's signature that the JavaScript and C implementations verify in their own tests.
    #[test]
    fn alice_signature_verified_elsewhere_verifies_here() {
        let alice = AccountPair::from_suri("//Alice", None).unwrap().public();
        let signature = hex_array::<64>(
            "1037eb7e51613d0dcf5930ae518819c87d655056605764840d9280984e1b7063c4566b55bf292fcab07b369d01095879b50517beca4d26e6a65866e25fec0d83",
        );
        let message = b"I hereby verify that I control 5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY";
        assert_eq!(verify_account_signature(&alice, message, &signature), Ok(()));
    }

    #[test]
    fn old_format_signature_is_refused_as_encoding() {
        // sp-core's `verify_from_old_wasm_works` signature: pre-0.8 schnorrkel, no marker bit.
        let pair = AccountPair::from_seed(&[0; 32]);
        let signature = hex_array::<64>(
            "28a854d54903e056f89581c691c1f7d2ff39f8f896c9e9c22475e60902cc2b3547199e0e91fa32902028f2ca2355e8cdd16cfe19ba5e8b658c94aa80f3b81a00",
        );
        assert_eq!(
            verify_account_signature(&pair.public(), b"SUBSTRATE", &signature),
            Err(SignatureError::BadEncoding)
        );
    }

    #[test]
    fn sign_verify_round_trip_and_randomized() {
        let pair = AccountPair::from_suri("//Alice", None).unwrap();
        let a = pair.sign(b"hello");
        let b = pair.sign(b"hello");
        assert_ne!(a, b, "sr25519 signing is randomized");
        assert_eq!(verify_account_signature(&pair.public(), b"hello", &a), Ok(()));
        let bob = AccountPair::from_suri("//Bob", None).unwrap().public();
        assert_eq!(verify_account_signature(&bob, b"hello", &a), Err(SignatureError::Mismatch));
    }

    #[test]
    fn bad_secrets_are_named() {
        assert!(matches!(AccountPair::from_suri("not a real phrase", None), Err(AccountKeyError::Phrase(_))));
        assert_eq!(AccountPair::from_suri("0x1234", None).unwrap_err(), AccountKeyError::Seed);
        let seed = format!("0x{}///pw", "11".repeat(32));
        assert_eq!(AccountPair::from_suri(&seed, None).unwrap_err(), AccountKeyError::PasswordWithSeed);
        assert_eq!(AccountPair::generate(13).unwrap_err(), AccountKeyError::WordCount(13));
    }

    #[test]
    fn generated_phrase_round_trips() {
        for words in [12, 24] {
            let (phrase, pair) = AccountPair::generate(words).unwrap();
            assert_eq!(phrase.split(' ').count(), words);
            assert_eq!(AccountPair::from_suri(&phrase, None).unwrap().public(), pair.public());
        }
    }

    #[test]
    fn debug_shows_only_the_public_key() {
        let pair = AccountPair::from_suri("//Alice", None).unwrap();
        let shown = format!("{pair:?}");
        assert!(shown.contains("5GrwvaEF") && !shown.contains("e5be9a50"), "{shown}");
    }

    fn hex_array<const N: usize>(hex_text: &str) -> [u8; N] {
        let mut out = [0u8; N];
        hex::decode_to_slice(hex_text, &mut out).unwrap();
        out
    }
}
