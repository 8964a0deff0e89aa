//! Cost of verifying a registration's quote (what every validator pays per registration), beside
//! one ECDSA P-256 verification, the operation it is mostly made of.
//! `cargo bench -p veil-attestation --bench verify`
#![allow(clippy::unwrap_used, missing_docs)]

use criterion::{Criterion, black_box, criterion_group, criterion_main};
use p256::ecdsa::{Signature, SigningKey, VerifyingKey, signature::Signer as _, signature::Verifier as _};
use veil_attestation::{Collateral, Policy, time::parse_rfc3339, verify_quote};

fn verify(c: &mut Criterion) {
    let vectors: [(&str, &[u8], &[u8], &str); 3] = [
        (
            "sgx",
            include_bytes!("../testdata/sgx_quote"),
            include_bytes!("../testdata/sgx_quote_collateral.json"),
            "2025-06-20T00:00:00Z",
        ),
        (
            "tdx",
            include_bytes!("../testdata/tdx_quote"),
            include_bytes!("../testdata/tdx_quote_collateral.json"),
            "2025-06-20T00:00:00Z",
        ),
        (
            "tdx15",
            include_bytes!("../testdata/tdx_quote_td15ex"),
            include_bytes!("../testdata/tdx_quote_td15ex_collateral.json"),
            "2026-10-10T00:00:00Z",
        ),
    ];
    let key = SigningKey::from_slice(&[7u8; 32]).unwrap();
    let verifying = VerifyingKey::from(&key);
    let message = b"a quote's signed part stands in here";
    let signature: Signature = key.sign(message);
    c.bench_function("ecdsa_p256_verify (reference)", |b| {
        b.iter(|| verifying.verify(black_box(message), black_box(&signature)).unwrap())
    });
    for (name, quote, collateral, at) in vectors {
        let collateral = Collateral::from_json(collateral).unwrap();
        let at = parse_rfc3339(at).unwrap();
        c.bench_function(&format!("verify_quote/{name}"), |b| {
            b.iter(|| verify_quote(black_box(quote), &collateral, at, &Policy::default()).unwrap())
        });
    }
}

criterion_group!(benches, verify);
criterion_main!(benches);
