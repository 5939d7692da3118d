//! Criterion benchmarks: dekbox seal/open with a cached data key.
//! `cargo bench -p dekbox-core --bench seal_open`

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use dekbox_core::format::Form;
use dekbox_core::provider::LocalProvider;
use dekbox_core::{EncryptionContext, Engine, Timestamp};
use std::hint::black_box;

const T: Timestamp = Timestamp::from_unix_millis(1_700_000_000_000);

fn bench(c: &mut Criterion) {
    let engine = Engine::builder()
        .key(LocalProvider::insecure_test_key())
        .build()
        .unwrap();
    let ctx = EncryptionContext::from_pairs([("tenant", "acme")]).unwrap();
    let aad = b"customers/42/email";
    for (name, form) in [("binary", Form::Binary), ("text", Form::Text)] {
        let mut g = c.benchmark_group(format!("seal_{name}"));
        for size in [64usize, 1024, 16 * 1024, 1024 * 1024] {
            let pt = vec![0x5au8; size];
            g.throughput(Throughput::Bytes(size as u64));
            g.bench_with_input(BenchmarkId::from_parameter(size), &pt, |b, pt| {
                b.iter(|| {
                    engine
                        .encrypt_local(black_box(pt), &ctx, aad, form, T)
                        .unwrap()
                })
            });
        }
        g.finish();
        let mut g = c.benchmark_group(format!("open_{name}"));
        for size in [64usize, 1024, 16 * 1024, 1024 * 1024] {
            let sealed = engine
                .encrypt_local(&vec![0x5au8; size], &ctx, aad, form, T)
                .unwrap();
            g.throughput(Throughput::Bytes(size as u64));
            g.bench_with_input(BenchmarkId::from_parameter(size), &sealed, |b, s| {
                b.iter(|| engine.decrypt_local(black_box(s), &ctx, aad, T).unwrap())
            });
        }
        g.finish();
    }
    // The uncached path: one provider call (local key) per message.
    let cold = Engine::builder()
        .key(LocalProvider::insecure_test_key())
        .cache(dekbox_core::cache::CacheConfig::disabled())
        .build()
        .unwrap();
    c.bench_function("seal_64_uncached_local_key", |b| {
        b.iter(|| {
            cold.encrypt_local(black_box(&[0u8; 64]), &ctx, aad, Form::Binary, T)
                .unwrap()
        })
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(30).measurement_time(std::time::Duration::from_secs(2)).warm_up_time(std::time::Duration::from_millis(500));
    targets = bench
}
criterion_main!(benches);
