//! Root-keyed values and blind indexes against v1 messages, interleaved
//! medians in one run, and value sizes.
//!
//! `cargo bench -p dekbox-core --bench roots [-- --quick]`
//!
//! Targets (issue 15): compact seal/open within 10% of v1 at 64 B; a 64-byte
//! blind index (HMAC) at most 1 µs.

use dekbox_core::format::{Form, KeyRef, KeyRefKind};
use dekbox_core::op::{drive, no_network};
use dekbox_core::provider::LocalProvider;
use dekbox_core::root::blind::{IndexOptions, Normalize, Slowness};
use dekbox_core::root::value::Mode;
use dekbox_core::{DataKey, EncryptionContext, Engine, Timestamp, kat};
use std::collections::BTreeMap;
use std::hint::black_box;

mod common;
use common::{Case, ROUNDS, measure};
use std::time::Instant;

const T: Timestamp = Timestamp::from_unix_millis(1_700_000_000_000);

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let maker = Engine::builder()
        .key(LocalProvider::insecure_test_key())
        .build()
        .unwrap();
    let token = drive(&mut *maker.create_root("r1", None), || T, no_network).unwrap();
    let engine = Engine::builder()
        .key(LocalProvider::insecure_test_key())
        .roots(BTreeMap::from([("r1".to_string(), token)]), None)
        .build()
        .unwrap();
    let ctx = EncryptionContext::from_pairs([("tenant", "acme")]).unwrap();
    let aad = b"customers/42/email";
    let col = "customers.email";
    let root = drive(&mut engine.root_key(None), || T, no_network).unwrap();

    println!(
        "Root-keyed values vs v1 messages, one core, medians of {ROUNDS} interleaved rounds (ns per call)"
    );
    for size in [64usize, 1024] {
        let pt = vec![0x5au8; size];
        let v1 = engine
            .encrypt_local(&pt, &ctx, aad, Form::Binary, T)
            .unwrap();
        engine.decrypt_local(&v1, &ctx, aad, T).unwrap();
        let compact = engine
            .seal_root_value(&root, Mode::Compact, &pt, &ctx, col, aad, Form::Binary)
            .unwrap();
        let det = engine
            .seal_root_value(
                &root,
                Mode::Deterministic,
                &pt,
                &ctx,
                col,
                aad,
                Form::Binary,
            )
            .unwrap();
        let cases: Vec<Case> = vec![
            (
                "v1 seal",
                Box::new(|| {
                    black_box(
                        engine
                            .encrypt_local(black_box(&pt), &ctx, aad, Form::Binary, T)
                            .unwrap(),
                    );
                }),
            ),
            (
                "compact seal",
                Box::new(|| {
                    black_box(
                        engine
                            .seal_root_value(
                                &root,
                                Mode::Compact,
                                black_box(&pt),
                                &ctx,
                                col,
                                aad,
                                Form::Binary,
                            )
                            .unwrap(),
                    );
                }),
            ),
            (
                "deterministic seal",
                Box::new(|| {
                    black_box(
                        engine
                            .seal_root_value(
                                &root,
                                Mode::Deterministic,
                                black_box(&pt),
                                &ctx,
                                col,
                                aad,
                                Form::Binary,
                            )
                            .unwrap(),
                    );
                }),
            ),
            (
                "v1 open",
                Box::new(|| {
                    black_box(engine.decrypt_local(black_box(&v1), &ctx, aad, T).unwrap());
                }),
            ),
            (
                "compact open",
                Box::new(|| {
                    black_box(
                        engine
                            .open_root_value(&root, black_box(&compact), &ctx, col, aad)
                            .unwrap(),
                    );
                }),
            ),
            (
                "deterministic open",
                Box::new(|| {
                    black_box(
                        engine
                            .open_root_value(&root, black_box(&det), &ctx, col, aad)
                            .unwrap(),
                    );
                }),
            ),
        ];
        let names: Vec<&str> = cases.iter().map(|c| c.0).collect();
        let m = measure(cases, quick);
        println!();
        for (n, ns) in names.iter().zip(&m) {
            println!("{size:>5} B  {n:<20} {ns:>8.0} ns");
        }
        println!(
            "RATIO size={size} compact_seal_vs_v1={:.3} compact_open_vs_v1={:.3} deterministic_seal_vs_v1={:.3} deterministic_open_vs_v1={:.3}",
            m[1] / m[0],
            m[4] / m[3],
            m[2] / m[0],
            m[5] / m[3],
        );
    }

    let value = [0x61u8; 64];
    let fast = IndexOptions {
        bits: 64,
        ..Default::default()
    };
    let normalized = IndexOptions {
        bits: 64,
        normalize: Normalize {
            trim: true,
            casefold: true,
        },
        ..Default::default()
    };
    // The AEADs alone at 64 B (seal in place, reused buffer): what GCM-SIV's
    // per-nonce key derivation costs over GCM.
    use aws_lc_rs::aead::{AES_256_GCM, AES_256_GCM_SIV, Aad, LessSafeKey, Nonce, UnboundKey};
    let gcm = LessSafeKey::new(UnboundKey::new(&AES_256_GCM, &[7; 32]).unwrap());
    let siv = LessSafeKey::new(UnboundKey::new(&AES_256_GCM_SIV, &[7; 32]).unwrap());
    let (mut b1, mut b2) = ([0u8; 64], [0u8; 64]);
    let raw: Vec<Case> = vec![
        (
            "raw AES-256-GCM 64 B",
            Box::new(|| {
                let _ = black_box(
                    gcm.seal_in_place_separate_tag(
                        Nonce::assume_unique_for_key([1; 12]),
                        Aad::from(&aad[..]),
                        &mut b1,
                    )
                    .unwrap(),
                );
            }),
        ),
        (
            "raw AES-256-GCM-SIV 64 B",
            Box::new(|| {
                let _ = black_box(
                    siv.seal_in_place_separate_tag(
                        Nonce::assume_unique_for_key([1; 12]),
                        Aad::from(&aad[..]),
                        &mut b2,
                    )
                    .unwrap(),
                );
            }),
        ),
    ];
    let r = measure(raw, quick);
    println!();
    println!("raw AES-256-GCM 64 B     {:>8.0} ns", r[0]);
    println!("raw AES-256-GCM-SIV 64 B {:>8.0} ns", r[1]);
    println!(
        "RATIO raw_gcm_64_ns={:.0} raw_gcm_siv_64_ns={:.0} siv_premium_ns={:.0}",
        r[0],
        r[1],
        r[1] - r[0]
    );

    let cases: Vec<Case> = vec![
        (
            "blind index HMAC 64 B",
            Box::new(|| {
                black_box(
                    engine
                        .blind_index_with(&root, black_box(&value), &ctx, col, &fast)
                        .unwrap(),
                );
            }),
        ),
        (
            "  + trim, casefold",
            Box::new(|| {
                black_box(
                    engine
                        .blind_index_with(&root, black_box(&value), &ctx, col, &normalized)
                        .unwrap(),
                );
            }),
        ),
        (
            "external key (Rails)",
            Box::new(|| {
                black_box(engine.external_key_with(&root, &ctx, col).unwrap());
            }),
        ),
    ];
    let names: Vec<&str> = cases.iter().map(|c| c.0).collect();
    let m = measure(cases, quick);
    println!();
    for (n, ns) in names.iter().zip(&m) {
        println!("{n:<24} {ns:>8.0} ns");
    }
    let slow = IndexOptions {
        bits: 64,
        slowness: Slowness::SLOW,
        ..Default::default()
    };
    let t = Instant::now();
    let n = if quick { 3 } else { 10 };
    for _ in 0..n {
        black_box(
            engine
                .blind_index_with(&root, &value, &ctx, col, &slow)
                .unwrap(),
        );
    }
    let slow_ms = t.elapsed().as_secs_f64() * 1e3 / n as f64;
    println!("blind index Argon2id (t=3, 4 MiB) {slow_ms:>8.2} ms");
    println!(
        "RATIO blind_index_hmac_64_ns={:.0} argon2id_slow_ms={slow_ms:.2}",
        m[0]
    );

    // Sizes: v1 under the local key and under an AWS KMS key (a real
    // CiphertextBlob is 184 bytes; the key named by its ARN), compact.
    let dek = DataKey::from_slice(&[1; 32]).unwrap();
    let arn =
        "aws-kms://arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";
    let local_wrapped = {
        let w = maker.generate_data_key(&ctx);
        let mut w = w;
        drive(&mut *w, || T, no_network).unwrap().wrapped
    };
    println!();
    println!("Value sizes, bytes (binary / text characters)");
    println!(
        "{:>7}  {:>16} {:>16} {:>16}",
        "field", "v1 local key", "v1 AWS KMS", "compact/determ."
    );
    for size in [16usize, 17, 64, 1024] {
        let pt = vec![0x41u8; size];
        let v1 = |kind, name: &str, wrapped: &[u8], form| {
            kat::seal_with_parts(
                &dek,
                &[2; 32],
                &[3; 12],
                KeyRef { kind, name },
                wrapped,
                &ctx,
                b"",
                &pt,
                form,
            )
            .unwrap()
            .len()
        };
        let local = (
            v1(
                KeyRefKind::Uri,
                "insecure-test-key",
                &local_wrapped,
                Form::Binary,
            ),
            v1(
                KeyRefKind::Uri,
                "insecure-test-key",
                &local_wrapped,
                Form::Text,
            ),
        );
        let aws = (
            v1(KeyRefKind::Uri, arn, &[9; 184], Form::Binary),
            v1(KeyRefKind::Uri, arn, &[9; 184], Form::Text),
        );
        let c = |form| {
            engine
                .seal_root_value(&root, Mode::Compact, &pt, &ctx, col, b"", form)
                .unwrap()
                .len()
        };
        let compact = (c(Form::Binary), c(Form::Text));
        println!(
            "{:>5} B  {:>7} / {:>6} {:>7} / {:>6} {:>7} / {:>6}",
            size, local.0, local.1, aws.0, aws.1, compact.0, compact.1
        );
        println!(
            "SIZE field={size} v1_local_bin={} v1_local_text={} v1_aws_bin={} v1_aws_text={} compact_bin={} compact_text={}",
            local.0, local.1, aws.0, aws.1, compact.0, compact.1
        );
    }
}
