//! Cost of verifying one finalization certificate, beside the BLS pairing check it consists of.
//! `cargo bench -p veil-light-client --bench certificate`
#![allow(clippy::unwrap_used, missing_docs)]

use criterion::{Criterion, black_box, criterion_group, criterion_main};
use veil_consensus::testing::TestNetwork;
use veil_light_client::LightClient;
use veil_primitives::{Hash, Header, MessageCommitments};

fn certificate(c: &mut Criterion) {
    let network = TestNetwork::new(1, 4, "veil-bench");
    let header = Header {
        parent: Hash([1; 32]),
        height: 1,
        timestamp_ms: 1,
        state_root: Hash([2; 32]),
        transactions_root: Hash([3; 32]),
        egress_root: Hash([4; 32]),
        messages: MessageCommitments::default(),
        seed: None,
    };
    let certificate = network.certify(9, &header);
    let client = LightClient::new(&network.network_key, "veil-bench").unwrap();
    // The reference: one BLS min-sig verification (hash to G1 and two pairings); a certificate is two
    // (its vote and its round seed).
    use commonware_codec::ReadExt as _;
    use commonware_cryptography::bls12381::primitives::{
        ops,
        variant::{MinSig, Variant},
    };
    let key = <MinSig as Variant>::Public::read(&mut commonware_codec::Copying(&network.network_key)).unwrap();
    let signature = <MinSig as Variant>::Signature::read(&mut commonware_codec::Copying(
        &certificate[certificate.len() - 96..][..48],
    ))
    .unwrap();
    let proposal_bytes = certificate[..certificate.len() - 96].to_vec();
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
