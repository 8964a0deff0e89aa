use super::*;
use commonware_codec::Encode as _;
use commonware_consensus::{
    simplex::types::{Finalization, Finalize, Proposal},
    types::{Epoch, Round, View},
};
use commonware_parallel::Sequential;
use commonware_utils::non_empty;
use rand::SeedableRng as _;
use veil_consensus::{
    alias::{PrivateKey, Scheme},
    block::to_digest,
    dealer,
};
use veil_primitives::MessageCommitments;

const NAMESPACE: &str = "veil-test";

struct Network {
    key: [u8; 96],
    schemes: Vec<Scheme>,
}

/// A 4-validator network from a fixed seed.
fn network(seed: u64) -> Network {
    use commonware_cryptography::Signer as _;
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let identities: Vec<_> = (0..4).map(|i| PrivateKey::from_seed(seed * 10 + i).public_key()).collect();
    let dealing = dealer::deal(&mut rng, &identities).unwrap();
    let schemes = dealing
        .shares
        .iter()
        .map(|(_, share)| {
            let polynomial = dealer::decode_polynomial(&dealing.polynomial, 4).unwrap();
            dealer::signer(NAMESPACE.as_bytes(), &identities, polynomial, dealer::decode_share(share).unwrap()).unwrap()
        })
        .collect();
    Network { key: dealing.network_key, schemes }
}

fn header(height: u64) -> Header {
    Header {
        parent: Hash([1; 32]),
        height,
        timestamp_ms: 1_000 + height,
        state_root: Hash([2; 32]),
        transactions_root: Hash([3; 32]),
        messages: MessageCommitments::default(),
    }
}

/// A certificate made by consensus itself: three of four validators sign a finalize vote.
fn certificate(network: &Network, view: u64, header: &Header) -> Vec<u8> {
    let proposal =
        Proposal::new(Round::new(Epoch::zero(), View::new(view)), View::new(view - 1), to_digest(header.hash()));
    let votes: Vec<_> = network.schemes[..3].iter().map(|s| Finalize::sign(s, proposal.clone()).unwrap()).collect();
    let finalization =
        Finalization::<Scheme, _>::from_finalizes(&network.schemes[0], non_empty![@&votes], &Sequential).unwrap();
    finalization.encode().to_vec()
}

#[test]
fn verifies_consensus_certificates_and_their_headers() {
    let network = network(1);
    let client = LightClient::new(&network.key, NAMESPACE).unwrap();
    let header = header(7);
    let certificate = certificate(&network, 300, &header);
    let finalized = client.verify_header(&certificate, &header).unwrap();
    assert_eq!(finalized, Finalized { epoch: 0, view: 300, parent_view: 299, block: header.hash() });
}

#[test]
fn refusals_say_why() {
    let network = network(2);
    let client = LightClient::new(&network.key, NAMESPACE).unwrap();
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
                LightClientError::BadSignature | LightClientError::BadSignaturePoint | LightClientError::Malformed(_)
            ),
            "byte {position}: {error}"
        );
    }

    // Another network's certificate, or this network under another namespace.
    let foreign = certificate(&self::network(3), 5, &header(1));
    assert_eq!(client.verify_certificate(&foreign), Err(LightClientError::BadSignature));
    let other_namespace = LightClient::new(&network.key, "veil-other").unwrap();
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
