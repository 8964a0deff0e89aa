use super::*;
use veil_consensus::testing::TestNetwork;
use veil_primitives::{
    MessageCommitments, SystemTopic, Topic,
    hashing::sha256,
    log::LogPeaks,
    topics::{self, TopicError, TopicProof},
};

const NAMESPACE: &str = "veil-test";

/// A 4-validator network from a fixed seed.
fn network(seed: u64) -> TestNetwork {
    TestNetwork::new(seed, 4, NAMESPACE)
}

fn header(height: u64) -> Header {
    Header {
        parent: Hash([1; 32]),
        height,
        timestamp_ms: 1_000 + height,
        state_root: Hash([2; 32]),
        transactions_root: Hash([3; 32]),
        egress_root: Hash([4; 32]),
        messages: MessageCommitments::default(),
        seed: None,
    }
}

/// A certificate made by consensus's own types: three of four validators sign a finalize vote.
fn certificate(network: &TestNetwork, view: u64, header: &Header) -> Vec<u8> {
    network.certify(view, header)
}

#[test]
fn verifies_consensus_certificates_and_their_headers() {
    let network = network(1);
    let client = LightClient::new(&network.network_key, NAMESPACE).unwrap();
    let header = header(7);
    let certificate = certificate(&network, 300, &header);
    let finalized = client.verify_header(&certificate, &header).unwrap();
    assert_eq!(
        finalized,
        Finalized { epoch: 0, view: 300, parent_view: 299, block: header.hash(), seed: network.seed(300) }
    );
}

/// Certificates carry the round's seed, one per round whatever the proposal; a header carries its
/// parent round's seed, and the light client refuses a made-up seed, another round's, or another
/// network's, before it compares the header's hash.
#[test]
fn certificates_carry_the_round_seed_and_headers_their_parents() {
    let network = network(5);
    let client = LightClient::new(&network.network_key, NAMESPACE).unwrap();
    let (one, other) = (header(1), header(2));
    let seed = client.verify_certificate(&certificate(&network, 9, &one)).unwrap().seed;
    assert_eq!(seed, client.verify_certificate(&certificate(&network, 9, &other)).unwrap().seed, "one seed per round");
    assert_ne!(seed, client.verify_certificate(&certificate(&network, 10, &one)).unwrap().seed);
    assert_eq!(client.verify_seed(&seed), Ok(()));

    // A header at view 10 whose parent is view 9 carries view 9's seed.
    let mut child = header(3);
    child.seed = Some(network.seed(9));
    let certified = certificate(&network, 10, &child);
    assert!(client.verify_header(&certified, &child).is_ok());
    // Made up: a relayer cannot pick the seed it delivers; the header would not be the certified one
    // either, but the seed is refused first, saying why.
    let mut made_up = child.clone();
    made_up.seed = Some(RoundSeed { signature: [7; 48], ..network.seed(9) });
    assert_eq!(client.verify_header(&certified, &made_up), Err(LightClientError::BadSeed { view: 9 }));
    let mut flipped = child.clone();
    let mut signature = network.seed(9).signature;
    signature[47] ^= 1;
    flipped.seed = Some(RoundSeed { signature, ..network.seed(9) });
    assert_eq!(client.verify_header(&certified, &flipped), Err(LightClientError::BadSeed { view: 9 }));
    let mut another_round = child.clone();
    another_round.seed = Some(network.seed(8));
    assert_eq!(
        client.verify_header(&certified, &another_round),
        Err(LightClientError::SeedOfAnotherRound { expected: 9, found: 8 })
    );
    let mut foreign = child.clone();
    foreign.seed = Some(self::network(6).seed(9));
    assert_eq!(client.verify_header(&certified, &foreign), Err(LightClientError::BadSeed { view: 9 }));
}

#[test]
fn refusals_say_why() {
    let network = network(2);
    let client = LightClient::new(&network.network_key, NAMESPACE).unwrap();
    let good = certificate(&network, 5, &header(1));

    // Another header than the certified one.
    let error = client.verify_header(&good, &header(2)).unwrap_err();
    assert!(matches!(error, LightClientError::HeaderMismatch { .. }), "{error}");

    // Any changed byte of the proposal or the signature.
    for position in 0..good.len() {
        let mut forged = good.clone();
        forged[position] ^= 0x01;
        let error = client.verify_certificate(&forged).unwrap_err();
        assert!(
            matches!(
                error,
                LightClientError::BadSignature
                    | LightClientError::BadSignaturePoint
                    | LightClientError::BadSeed { .. }
                    | LightClientError::Malformed(_)
            ),
            "byte {position}: {error}"
        );
    }

    // Another network's certificate, or this network under another namespace.
    let foreign = certificate(&self::network(3), 5, &header(1));
    assert_eq!(client.verify_certificate(&foreign), Err(LightClientError::BadSignature));
    let other_namespace = LightClient::new(&network.network_key, "veil-other").unwrap();
    assert_eq!(other_namespace.verify_certificate(&good), Err(LightClientError::BadSignature));

    // Truncated and padded inputs.
    assert!(matches!(client.verify_certificate(&good[..good.len() - 1]), Err(LightClientError::Malformed(_))));
    let mut padded = good.clone();
    padded.push(0);
    assert!(matches!(client.verify_certificate(&padded), Err(LightClientError::Malformed(_))));
    assert!(matches!(client.verify_certificate(&[]), Err(LightClientError::Malformed("epoch"))));

    // A network key that is not a curve point.
    assert_eq!(LightClient::new(&[0xff; 96], NAMESPACE).err(), Some(LightClientError::BadNetworkKey));
}

/// Sync of a topic against a certified header: the honest range verifies and returns the peaks to
/// keep; a header whose message root does not commit the topic's log, an omitted message, and a
/// forged certificate are each refused with their reason.
#[test]
fn topic_sync_against_a_certified_header() {
    let network = network(4);
    let client = LightClient::new(&network.network_key, NAMESPACE).unwrap();
    let topic = Topic::System(SystemTopic::Registrations);
    let messages: Vec<(u64, Hash)> = (0..9u64).map(|i| (i, sha256(&i.to_le_bytes()))).collect();
    let mut log = LogPeaks::default();
    for (_, m) in &messages {
        log.append(m);
    }
    let mut nodes = std::collections::BTreeMap::new();
    topics::set_leaf(&mut nodes, 0, topics::leaf(&topic, &log.root()));
    let mut header = header(3);
    header.messages.root = topics::root(&nodes);
    let certified = certificate(&network, 40, &header);
    let proof = TopicProof { slot: 0, length: 9, siblings: topics::siblings(&nodes, 0), rest: Default::default() };

    // The reader held the first 4 messages' peaks; it receives 4..9.
    let mut start = LogPeaks::default();
    for (_, m) in &messages[..4] {
        start.append(m);
    }
    let end = client.verify_topic(&certified, &header, &topic, &start, &messages[4..], &proof).unwrap();
    assert_eq!(end, log);

    let omitted = [&messages[4..6], &messages[7..]].concat();
    assert!(matches!(
        client.verify_topic(&certified, &header, &topic, &start, &omitted, &proof),
        Err(LightClientError::Topic(TopicError::Range(_)))
    ));
    let mut other = header.clone();
    other.messages.root = Hash([9; 32]);
    let other_certificate = certificate(&network, 41, &other);
    assert_eq!(
        client.verify_topic(&other_certificate, &other, &topic, &start, &messages[4..], &proof),
        Err(LightClientError::Topic(TopicError::RootMismatch))
    );
    let mut forged = certified.clone();
    let last = forged.len() - 1;
    forged[last] ^= 1;
    assert!(client.verify_topic(&forged, &header, &topic, &start, &messages[4..], &proof).is_err());
}
