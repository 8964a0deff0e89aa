//! Benchmarks of Veil's cryptographic building blocks, beside the raw primitives they are built on
//! (X25519 agreement, ed25519 and sr25519 signatures), so each figure can be read as a ratio to the
//! hardware limit. Run with `cargo bench -p veil-crypto`.
#![allow(clippy::unwrap_used, missing_docs)]

use criterion::{BenchmarkId, Criterion, Throughput, black_box, criterion_group, criterion_main};
use veil_crypto::{
    AccountPair, MasterKey, RuntimeSigner, Sealer, SealingPlatform, SealingSecretSource, SecretBytes,
    envelope::{self, AgreementSecret, Direction, EnvelopeParams, Purpose},
    sealing::SealError,
    verify_account_signature, verify_runtime_signature,
};
use veil_primitives::{ClusterId, ContractId, KeyEpoch};

fn envelopes(c: &mut Criterion) {
    let recipient = AgreementSecret::from_bytes(&SecretBytes::new([1; 32]));
    let peer = AgreementSecret::from_bytes(&SecretBytes::new([2; 32])).public();
    let mut group = c.benchmark_group("envelope");
    group.bench_function("x25519_agree (reference)", |b| b.iter(|| recipient.agree(black_box(&peer))));
    let command = EnvelopeParams {
        purpose: Purpose::ContractCommand,
        direction: Direction::Request,
        key_epoch: KeyEpoch(0),
        aad: b"chain, contract, epoch, sender, nonce",
    };
    for size in [64usize, 1024, 16 * 1024] {
        let plaintext = vec![7u8; size];
        let sealed = envelope::seal(&recipient.public(), &command, &plaintext).unwrap();
        group.throughput(Throughput::Bytes(size as u64));
        group.bench_with_input(BenchmarkId::new("seal", size), &plaintext, |b, plaintext| {
            b.iter(|| envelope::seal(&recipient.public(), &command, black_box(plaintext)).unwrap())
        });
        group.bench_with_input(BenchmarkId::new("open", size), &sealed, |b, sealed| {
            b.iter(|| envelope::open(&recipient, &command, black_box(sealed)).unwrap())
        });
    }
    group.finish();
}

fn signatures(c: &mut Criterion) {
    let account = AccountPair::from_suri("//Alice", None).unwrap();
    let message = [5u8; 128];
    let account_signature = account.sign(&message);
    let runtime = RuntimeSigner::from_seed(&SecretBytes::new([3; 32]));
    let runtime_signature = runtime.sign(&message);
    let mut group = c.benchmark_group("signature");
    group.bench_function("sr25519_sign", |b| b.iter(|| account.sign(black_box(&message))));
    group.bench_function("sr25519_verify", |b| {
        b.iter(|| verify_account_signature(&account.public(), black_box(&message), &account_signature).unwrap())
    });
    group.bench_function("ed25519_sign", |b| b.iter(|| runtime.sign(black_box(&message))));
    group.bench_function("ed25519_verify", |b| {
        b.iter(|| verify_runtime_signature(&runtime.public(), black_box(&message), &runtime_signature).unwrap())
    });
    group.finish();
}

fn key_derivation(c: &mut Criterion) {
    let master = MasterKey::from_secret(SecretBytes::new([4; 32]));
    let mut group = c.benchmark_group("key_derivation");
    group.bench_function("master_to_contract_key", |b| {
        b.iter(|| master.cluster_key(ClusterId(1), KeyEpoch(0)).contract_key(black_box(ContractId([6; 32]))))
    });
    let contract = master.cluster_key(ClusterId(1), KeyEpoch(0)).contract_key(ContractId([6; 32]));
    group.bench_function("contract_leaf_keys", |b| {
        b.iter(|| (contract.agreement().public(), contract.signer().public(), contract.state_key()))
    });
    group.bench_function("secret_uri_//Alice", |b| b.iter(|| AccountPair::from_suri(black_box("//Alice"), None)));
    group.finish();
}

struct Fixed;
impl SealingSecretSource for Fixed {
    fn platform(&self) -> SealingPlatform {
        SealingPlatform::Sgx
    }
    fn sealing_secret(&self) -> Result<SecretBytes<32>, SealError> {
        Ok(SecretBytes::new([8; 32]))
    }
}

fn sealing(c: &mut Criterion) {
    let sealer = Sealer::new(&Fixed).unwrap();
    let plaintext = vec![1u8; 64 * 1024];
    let blob = sealer.seal("checkpoint", &plaintext).unwrap();
    let mut group = c.benchmark_group("sealing");
    group.throughput(Throughput::Bytes(plaintext.len() as u64));
    group.bench_function("seal_64KiB", |b| b.iter(|| sealer.seal("checkpoint", black_box(&plaintext)).unwrap()));
    group.bench_function("unseal_64KiB", |b| b.iter(|| sealer.unseal("checkpoint", black_box(&blob)).unwrap()));
    group.finish();
}

criterion_group!(benches, envelopes, signatures, key_derivation, sealing);
criterion_main!(benches);
