use super::*;
use crate::AccountPair;

fn pair(uri: &str) -> AccountPair {
    AccountPair::from_suri(uri, None).unwrap()
}

const CHAIN: Hash = Hash([0xcc; 32]);
const CONTRACT: ContractId = ContractId([0xc0; 32]);

#[test]
fn a_command_opens_only_under_its_sender_and_nonce() {
    let contract_key = AgreementSecret::from_bytes(&SecretBytes::new([5; 32]));
    let (alice, bob) = (pair("//Alice").public(), pair("//Bob").public());
    let binding = CommandBinding { chain: CHAIN, contract: CONTRACT, epoch: KeyEpoch(0), sender: alice, nonce: 3 };
    let sealed = seal_command(&contract_key.public(), &binding, b"add note").unwrap();
    assert_eq!(open_command(&contract_key, &binding, &sealed).unwrap().as_slice(), b"add note");

    // Replayed inside Bob's transaction, or inside another of Alice's, or on another contract or chain.
    for other in [
        CommandBinding { sender: bob, ..binding },
        CommandBinding { nonce: 4, ..binding },
        CommandBinding { contract: ContractId([1; 32]), ..binding },
        CommandBinding { chain: Hash([1; 32]), ..binding },
    ] {
        let error = open_command(&contract_key, &other, &sealed).unwrap_err();
        assert!(matches!(error, ConfidentialError::Envelope(EnvelopeError::Unauthentic)), "{error}");
    }
    let error = open_command(&contract_key, &binding, &sealed[..sealed.len() - 1]).unwrap_err();
    assert!(matches!(error, ConfidentialError::Malformed { .. }), "{error}");
}

fn query(requester: AccountId) -> Query {
    Query {
        chain: CHAIN,
        worker: [9; 32],
        contract: CONTRACT,
        requester,
        nonce: [1; 16],
        known_height: 10,
        valid_until: 20,
        response_key: [0; 32],
        payload: b"notes".to_vec().try_into().unwrap(),
    }
}

#[test]
fn queries_verify_by_account_or_certified_session_and_nothing_else() {
    let alice = pair("//Alice");
    let signed = query(alice.public()).sign(&alice);
    assert_eq!(signed.verify().unwrap(), None);

    // Signed by Bob but claiming Alice.
    let forged = query(alice.public()).sign(&pair("//Bob"));
    assert!(matches!(forged.verify(), Err(ConfidentialError::AccountSignature(_))));
    // Altered after signing.
    let mut altered = signed.clone();
    altered.query.payload = b"other".to_vec().try_into().unwrap();
    assert!(matches!(altered.verify(), Err(ConfidentialError::AccountSignature(_))));

    let session = RuntimeSigner::from_seed(&SecretBytes::new([4; 32]));
    let certificate = SessionCertificate {
        account: alice.public(),
        session_key: session.public(),
        chain: CHAIN,
        issued_at: 9,
        expires_at: 99,
    }
    .sign(&alice);
    let by_session = query(alice.public()).sign_with_session(&session, certificate);
    assert_eq!(by_session.verify().unwrap(), Some(certificate.certificate));

    // A certificate Bob signed for his own session cannot speak for Alice.
    let bob = pair("//Bob");
    let bobs = SessionCertificate { account: bob.public(), ..certificate.certificate }.sign(&bob);
    let error = query(alice.public()).sign_with_session(&session, bobs).verify().unwrap_err();
    assert!(matches!(error, ConfidentialError::SessionMismatch { .. }), "{error}");
    // A certificate with a stretched lifetime no longer carries the account's signature.
    let stretched = SignedSessionCertificate {
        certificate: SessionCertificate { expires_at: 1_000, ..certificate.certificate },
        ..certificate
    };
    let error = query(alice.public()).sign_with_session(&session, stretched).verify().unwrap_err();
    assert!(matches!(error, ConfidentialError::SessionCertificate(_)), "{error}");
    // Another session key than the certified one.
    let other = RuntimeSigner::from_seed(&SecretBytes::new([5; 32]));
    let error = query(alice.public()).sign_with_session(&other, certificate).verify().unwrap_err();
    assert!(matches!(error, ConfidentialError::SessionSignature(_)), "{error}");
}

#[test]
fn a_query_and_its_answer_round_trip_and_bind_to_each_other() {
    let worker_agreement = AgreementSecret::from_bytes(&SecretBytes::new([6; 32]));
    let worker = RuntimeSigner::from_seed(&SecretBytes::new([7; 32]));
    let client = AgreementSecret::from_bytes(&SecretBytes::new([8; 32]));
    let alice = pair("//Alice");
    let signed = Query { response_key: client.public(), worker: worker.public(), ..query(alice.public()) }.sign(&alice);
    let body = seal_query(&worker_agreement.public(), &signed).unwrap();
    assert_eq!(open_query(&worker_agreement, &body).unwrap(), signed);
    assert!(open_query(&client, &body).is_err(), "another key cannot open it");

    let answer = Answer {
        request: signed.hash(),
        height: 12,
        code: Hash([3; 32]),
        worker: worker.public(),
        insecure: true,
        result: AnswerResult::Ok(b"[]".to_vec().try_into().unwrap()),
    };
    let sealed = seal_answer(&worker, answer.clone(), &client.public()).unwrap();
    assert_eq!(open_answer(&client, &signed.hash(), &worker.public(), &sealed).unwrap(), answer);
    // Not for another request; not from another worker.
    assert!(open_answer(&client, &Hash([0; 32]), &worker.public(), &sealed).is_err());
    let error = open_answer(&client, &signed.hash(), &[1; 32], &sealed).unwrap_err();
    assert!(matches!(error, ConfidentialError::WrongAnswer { .. }), "{error}");
    // Signed by a key other than the worker it names.
    let impostor = RuntimeSigner::from_seed(&SecretBytes::new([2; 32]));
    let sealed = seal_answer(&impostor, answer, &client.public()).unwrap();
    let error = open_answer(&client, &signed.hash(), &worker.public(), &sealed).unwrap_err();
    assert!(matches!(error, ConfidentialError::AnswerSignature { .. }), "{error}");
}

fn recipients(n: u8) -> Vec<(RuntimeSigner, AgreementSecret, AssignedWorker)> {
    (0..n)
        .map(|i| {
            let identity = RuntimeSigner::from_seed(&SecretBytes::new([10 + i; 32]));
            let key = AgreementSecret::from_bytes(&SecretBytes::new([20 + i; 32]));
            let recipient = AssignedWorker { identity: identity.public(), agreement: key.public() };
            (identity, key, recipient)
        })
        .collect()
}

#[test]
fn cluster_keys_are_deterministic_and_open_only_for_their_worker() {
    let master = MasterKey::from_secret(SecretBytes::new([1; 32]));
    let cluster_key = master.cluster_key(ClusterId(1), KeyEpoch(0));
    let workers = recipients(2);
    let assigned: Vec<AssignedWorker> = workers.iter().map(|(_, _, recipient)| *recipient).collect();
    let keys = ClusterKeys::deliver(&master, &cluster_key, 4, &assigned).unwrap();
    // A second gatekeeper holding the same master key emits the same bytes.
    let second = MasterKey::from_secret(SecretBytes::new([1; 32]));
    let again = ClusterKeys::deliver(&second, &second.cluster_key(ClusterId(1), KeyEpoch(0)), 4, &assigned).unwrap();
    assert_eq!(KeyMessage::ClusterKeys(keys.clone()).encode(), KeyMessage::ClusterKeys(again).encode());

    let (first, first_key, _) = &workers[0];
    let opened = keys.open(&first.public(), first_key).unwrap().unwrap();
    assert_eq!(opened.secret().expose(), cluster_key.secret().expose());
    // The second worker's key does not open the first's delivery; an unassigned worker finds none.
    assert!(keys.open(&first.public(), &workers[1].1).unwrap().is_err());
    assert!(keys.open(&[0; 32], first_key).is_none());
    // A delivery moved to another duty, epoch or recipient does not open.
    for forged in [
        ClusterKeys { duty: 5, ..keys.clone() },
        ClusterKeys { epoch: KeyEpoch(1), ..keys.clone() },
        ClusterKeys { cluster: ClusterId(2), ..keys.clone() },
    ] {
        assert!(forged.open(&first.public(), first_key).unwrap().is_err());
    }
    let mut readdressed = keys.clone();
    let second_delivery = KeyDelivery { recipient: first.public(), ..keys.deliveries[1].clone() };
    readdressed.deliveries = vec![second_delivery].try_into().unwrap();
    assert!(readdressed.open(&first.public(), &workers[1].1).unwrap().is_err());
    // Published keys that the delivered key does not yield are refused.
    let mut lying = keys.clone();
    lying.signing = [0; 32];
    let error = lying.open(&first.public(), first_key).unwrap().unwrap_err();
    assert!(matches!(error, ConfidentialError::ClusterKeyMismatch(_)), "{error}");
    // Contract keys derive from the delivered cluster key.
    let contract = ContractKeys::derive(&opened, CONTRACT, Hash([3; 32]));
    assert_eq!(contract, ContractKeys::derive(&cluster_key, CONTRACT, Hash([3; 32])));
    assert_eq!(contract.agreement, cluster_key.contract_key(CONTRACT).agreement().public());
}

#[test]
fn master_shares_open_only_for_their_gatekeeper_and_only_as_the_recorded_master() {
    let master = MasterKey::from_secret(SecretBytes::new([1; 32]));
    let epoch = KeyEpoch(3);
    let gatekeepers = recipients(2);
    let set: Vec<AssignedWorker> = gatekeepers.iter().map(|(_, _, recipient)| *recipient).collect();
    let proposal = Proposal::new(&master, epoch, &set).unwrap();
    assert_eq!(proposal.master, master.public());
    assert_eq!(proposal.signing, master.set_signer(epoch).public());
    let (first, first_key, first_recipient) = &gatekeepers[0];
    let opened = proposal.open(&first.public(), first_key).unwrap().unwrap();
    assert_eq!(opened.secret().expose(), master.secret().expose());
    assert!(proposal.open(&[0; 32], first_key).is_none());
    assert!(proposal.open(&first.public(), &gatekeepers[1].1).unwrap().is_err());

    let share = MasterShare::seal(&master, epoch, first_recipient, 7).unwrap();
    assert_eq!(share, MasterShare::seal(&master, epoch, first_recipient, 7).unwrap(), "deterministic");
    let (public, signing) = (master.public(), master.set_signer(epoch).public());
    assert!(share.open(&first.public(), first_key, &public, &signing).is_ok());
    // Addressed to someone else.
    let error = share.open(&gatekeepers[1].0.public(), &gatekeepers[1].1, &public, &signing).unwrap_err();
    assert!(matches!(error, ConfidentialError::Misdirected { .. }), "{error}");
    // Replayed as another epoch's share.
    let replayed = MasterShare { epoch: KeyEpoch(4), ..share.clone() };
    assert!(replayed.open(&first.public(), first_key, &public, &signing).is_err());
    // Another master key than the one the chain recorded (an old one, or an impostor's).
    let old = MasterKey::from_secret(SecretBytes::new([2; 32]));
    let error = MasterShare::seal(&old, epoch, first_recipient, 7)
        .unwrap()
        .open(&first.public(), first_key, &public, &signing)
        .unwrap_err();
    assert!(matches!(error, ConfidentialError::Envelope(_)), "bound to the recorded master: {error}");
    let error = MasterShare::seal(&old, epoch, first_recipient, 7)
        .unwrap()
        .open(&first.public(), first_key, &old.public(), &signing)
        .unwrap_err();
    assert!(matches!(error, ConfidentialError::MasterMismatch(_)), "{error}");
}

/// The attack of issue 21: a runtime announces another runtime's X25519 epoch key as its own (or
/// the same key is named twice), and two deliveries of one epoch opening (one duty index for
/// every cluster) go to that key. If their ephemerals were equal, both envelopes would share key
/// and nonce, and one cluster key XOR the other would leak. Every delivery's ephemeral differs:
/// by recipient identity, by cluster, and between cluster deliveries and master shares.
#[test]
fn deliveries_to_one_key_never_share_an_ephemeral() {
    let master = MasterKey::from_secret(SecretBytes::new([1; 32]));
    let victim = AgreementSecret::from_bytes(&SecretBytes::new([2; 32])).public();
    let honest = AssignedWorker { identity: [0xb0; 32], agreement: victim };
    let copier = AssignedWorker { identity: [0xa0; 32], agreement: victim };
    let (epoch, duty) = (KeyEpoch(1), 7);
    let ephemeral = |delivery: &KeyDelivery| delivery.envelope.header.ephemeral;
    let deliver = |cluster: u32, worker: &AssignedWorker| {
        let keys = ClusterKeys::deliver(&master, &master.cluster_key(ClusterId(cluster), epoch), duty, &[*worker]);
        ephemeral(&keys.unwrap().deliveries[0])
    };
    let mut seen = vec![
        deliver(1, &honest),
        deliver(2, &honest),
        deliver(1, &copier),
        deliver(2, &copier),
        ephemeral(&MasterShare::seal(&master, epoch, &honest, duty).unwrap().delivery),
        ephemeral(&MasterShare::seal(&master, epoch, &copier, duty).unwrap().delivery),
    ];
    let count = seen.len();
    seen.sort_unstable();
    seen.dedup();
    assert_eq!(seen.len(), count, "two deliveries share an ephemeral key");
}

/// A browser wallet (a Polkadot extension's `signRaw`) signs `<Bytes>payload</Bytes>`: a session
/// certificate signed that way certifies the session too; a signature over anything else does not.
#[test]
fn a_session_certified_by_a_browser_wallet_verifies() {
    let alice = pair("//Alice");
    let certificate = SessionCertificate {
        account: alice.public(),
        session_key: [4; 32],
        chain: CHAIN,
        issued_at: 0,
        expires_at: 10,
    };
    let by_wallet = SignedSessionCertificate { certificate, signature: alice.sign(&certificate.wallet_message()) };
    assert_eq!(by_wallet.verify(), Ok(()));
    assert_eq!(certificate.sign(&alice).verify(), Ok(()));
    let elsewhere = SignedSessionCertificate { certificate, signature: alice.sign(b"<Bytes>something else</Bytes>") };
    assert!(elsewhere.verify().is_err());
    // `sign_message`, the path for messages a person is asked to sign, refuses both forms.
    assert!(alice.sign_message(&certificate.wallet_message()).is_err());
    assert!(alice.sign_message(&certificate.signing_payload()).is_err());
}
