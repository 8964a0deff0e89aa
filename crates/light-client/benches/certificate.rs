//! Cost of verifying one finalization certificate, beside the BLS pairing check it consists of.
//! `cargo bench -p veil-light-client --bench certificate`
#![allow(clippy::unwrap_used, missing_docs)]

use commonware_codec::Encode as _;
use commonware_consensus::{
    simplex::types::{Finalization, Finalize, Proposal},
    types::{Epoch, Round, View},
};
use commonware_cryptography::Signer as _;
use commonware_parallel::Sequential;
use commonware_utils::non_empty;
use criterion::{Criterion, black_box, criterion_group, criterion_main};
use rand::SeedableRng as _;
use veil_consensus::{
    alias::{PrivateKey, Scheme},
    block::to_digest,
    dealer,
};
use veil_light_client::LightClient;
use veil_primitives::{Hash, Header, MessageCommitments};

fn certificate(c: &mut Criterion) {
    let mut rng = rand::rngs::StdRng::seed_from_u64(1);
    let identities: Vec<_> = (0..4).map(|i| PrivateKey::from_seed(i).public_key()).collect();
    let dealing = dealer::deal(&mut rng, &identities).unwrap();
    let schemes: Vec<Scheme> = dealing
        .shares
        .iter()
        .map(|(_, share)| {
            let polynomial = dealer::decode_polynomial(&dealing.polynomial, 4).unwrap();
            dealer::signer(b"veil-bench", &identities, polynomial, dealer::decode_share(share).unwrap()).unwrap()
        })
        .collect();
    let header = Header {
        parent: Hash([1; 32]),
        height: 1,
        timestamp_ms: 1,
        state_root: Hash([2; 32]),
        transactions_root: Hash([3; 32]),
        messages: MessageCommitments::default(),
    };
    let proposal = Proposal::new(Round::new(Epoch::zero(), View::new(9)), View::new(8), to_digest(header.hash()));
    let votes: Vec<_> = schemes[..3].iter().map(|s| Finalize::sign(s, proposal.clone()).unwrap()).collect();
    let certificate = Finalization::<Scheme, _>::from_finalizes(&schemes[0], non_empty![@&votes], &Sequential)
        .unwrap()
        .encode()
        .to_vec();
    let client = LightClient::new(&dealing.network_key, "veil-bench").unwrap();
    // The reference: the one BLS min-sig verification (hash to G1 and two pairings) a certificate is.
    use commonware_codec::ReadExt as _;
    use commonware_cryptography::bls12381::primitives::{
        ops,
        variant::{MinSig, Variant},
    };
    let key = <MinSig as Variant>::Public::read(&mut commonware_codec::Copying(&dealing.network_key)).unwrap();
    let signature =
        <MinSig as Variant>::Signature::read(&mut commonware_codec::Copying(&certificate[certificate.len() - 48..]))
            .unwrap();
    let proposal_bytes = certificate[..certificate.len() - 48].to_vec();
    c.bench_function("bls12381_minsig_verify (reference)", |b| {
        b.iter(|| {
            ops::verify_message::<MinSig>(&key, b"veil-bench_FINALIZE", black_box(&proposal_bytes), &signature).unwrap()
        })
    });
    c.bench_function("light_client/verify_certificate_and_header", |b| {
        b.iter(|| client.verify_header(black_box(&certificate), black_box(&header)).unwrap())
    });
}

criterion_group!(benches, certificate);
criterion_main!(benches);
