//! Interleaved medians: dekbox seal/open with a cached data key against raw
//! AES-256-GCM backends, measured in the same run, printed as ratios.
//!
//! `cargo bench -p dekbox-core --bench ratios` (scripts/bench.sh adds OpenSSL).
//!
//! Every raw baseline does what a caller of that library does per message:
//! allocate the output, copy the plaintext in, seal in place, append the tag
//! (open: copy ciphertext||tag, open in place). dekbox additionally draws a
//! random nonce, looks up its cache, writes the header and checks the key
//! commitment on open.

use aes_gcm::aead::{AeadInPlace, KeyInit};
use dekbox_core::format::Form;
use dekbox_core::provider::LocalProvider;
use dekbox_core::{EncryptionContext, Engine, Timestamp};
use std::hint::black_box;

mod common;
use common::{Case, ROUNDS, measure};

const SIZES: [usize; 4] = [64, 1024, 16 * 1024, 1024 * 1024];
const T: Timestamp = Timestamp::from_unix_millis(1_700_000_000_000);

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let engine = Engine::builder()
        .key(LocalProvider::insecure_test_key())
        .build()
        .unwrap();
    let ctx = EncryptionContext::from_pairs([("tenant", "acme")]).unwrap();
    let aad = b"customers/42/email";
    let key = [7u8; 32];
    let nonce = [9u8; 12];

    let lc = aws_lc_rs::aead::LessSafeKey::new(
        aws_lc_rs::aead::UnboundKey::new(&aws_lc_rs::aead::AES_256_GCM, &key).unwrap(),
    );
    let rg = ring::aead::LessSafeKey::new(
        ring::aead::UnboundKey::new(&ring::aead::AES_256_GCM, &key).unwrap(),
    );
    let rc = aes_gcm::Aes256Gcm::new((&key).into());

    println!(
        "AES-256-GCM seal/open, one core, medians of {ROUNDS} interleaved rounds (ns per message; GB/s)"
    );
    println!();
    println!(
        "{:>8}  {:>22} {:>22} {:>22} {:>22} {:>22}  {:>9} {:>9}",
        "size",
        "dekbox",
        "aws-lc-rs",
        "ring",
        "RustCrypto",
        "aws-lc-rs+alloc+copy",
        "dekbox/lc",
        "overhead"
    );
    let mut summary = vec![];
    for &size in &SIZES {
        let pt: Vec<u8> = (0..size).map(|i| i as u8).collect();
        let sealed = engine
            .encrypt_local(&pt, &ctx, aad, Form::Binary, T)
            .unwrap();
        engine.decrypt_local(&sealed, &ctx, aad, T).unwrap(); // warm the decrypt cache
        let raw_ct = {
            let mut b = pt.clone();
            lc.seal_in_place_append_tag(
                aws_lc_rs::aead::Nonce::assume_unique_for_key(nonce),
                aws_lc_rs::aead::Aad::from(&aad[..]),
                &mut b,
            )
            .unwrap();
            b
        };

        // In-place baselines reuse one buffer: the AEAD alone, as DESIGN.md measured it.
        let (mut buf_lc, mut buf_rg, mut buf_rc) = (pt.clone(), pt.clone(), pt.clone());
        let seal_cases: Vec<Case> = vec![
            (
                "dekbox",
                Box::new(|| {
                    black_box(
                        engine
                            .encrypt_local(black_box(&pt), &ctx, aad, Form::Binary, T)
                            .unwrap(),
                    );
                }),
            ),
            (
                "aws-lc-rs",
                Box::new(|| {
                    let _ = black_box(
                        lc.seal_in_place_separate_tag(
                            aws_lc_rs::aead::Nonce::assume_unique_for_key(nonce),
                            aws_lc_rs::aead::Aad::from(&aad[..]),
                            black_box(&mut buf_lc[..]),
                        )
                        .unwrap(),
                    );
                }),
            ),
            (
                "ring",
                Box::new(|| {
                    let _ = black_box(
                        rg.seal_in_place_separate_tag(
                            ring::aead::Nonce::assume_unique_for_key(nonce),
                            ring::aead::Aad::from(&aad[..]),
                            black_box(&mut buf_rg[..]),
                        )
                        .unwrap(),
                    );
                }),
            ),
            (
                "RustCrypto",
                Box::new(|| {
                    let _ = black_box(
                        rc.encrypt_in_place_detached(
                            (&nonce).into(),
                            aad,
                            black_box(&mut buf_rc[..]),
                        )
                        .unwrap(),
                    );
                }),
            ),
            (
                "aws-lc-rs+alloc+copy",
                Box::new(|| {
                    let mut b = Vec::with_capacity(pt.len() + 16);
                    b.extend_from_slice(black_box(&pt));
                    lc.seal_in_place_append_tag(
                        aws_lc_rs::aead::Nonce::assume_unique_for_key(nonce),
                        aws_lc_rs::aead::Aad::from(&aad[..]),
                        &mut b,
                    )
                    .unwrap();
                    black_box(b);
                }),
            ),
        ];
        let seal = measure(seal_cases, quick);

        let mut out_lc = vec![0u8; size];
        let open_cases: Vec<Case> = vec![
            (
                "dekbox",
                Box::new(|| {
                    black_box(
                        engine
                            .decrypt_local(black_box(&sealed), &ctx, aad, T)
                            .unwrap(),
                    );
                }),
            ),
            // Opening in place destroys the ciphertext, so the in-place
            // baselines decrypt out of place into a reused buffer (one pass).
            (
                "aws-lc-rs",
                Box::new(|| {
                    lc.open_separate_gather(
                        aws_lc_rs::aead::Nonce::assume_unique_for_key(nonce),
                        aws_lc_rs::aead::Aad::from(&aad[..]),
                        &raw_ct[..size],
                        &raw_ct[size..],
                        black_box(&mut out_lc[..]),
                    )
                    .unwrap();
                }),
            ),
            (
                "ring",
                Box::new(|| {
                    let mut b = black_box(&raw_ct).clone();
                    rg.open_in_place(
                        ring::aead::Nonce::assume_unique_for_key(nonce),
                        ring::aead::Aad::from(&aad[..]),
                        &mut b,
                    )
                    .unwrap();
                    black_box(b);
                }),
            ),
            (
                "RustCrypto",
                Box::new(|| {
                    let mut b = black_box(&raw_ct).clone();
                    rc.decrypt_in_place((&nonce).into(), aad, &mut b).unwrap();
                    black_box(b);
                }),
            ),
            (
                "aws-lc-rs+alloc+copy",
                Box::new(|| {
                    let mut b = black_box(&raw_ct).clone();
                    lc.open_in_place(
                        aws_lc_rs::aead::Nonce::assume_unique_for_key(nonce),
                        aws_lc_rs::aead::Aad::from(&aad[..]),
                        &mut b,
                    )
                    .unwrap();
                    b.truncate(size);
                    black_box(b);
                }),
            ),
        ];
        let open = measure(open_cases, quick);

        for (op, m) in [("seal", &seal), ("open", &open)] {
            let cell = |ns: f64| format!("{:>9.0} ns {:>6.2} GB/s", ns, size as f64 / ns);
            println!(
                "{:>5} {:>2}  {} {} {} {} {}  {:>8.1}% {:>6.0} ns",
                human(size),
                &op[..2],
                cell(m[0]),
                cell(m[1]),
                cell(m[2]),
                cell(m[3]),
                cell(m[4]),
                100.0 * m[1] / m[0],
                m[0] - m[1],
            );
        }
        summary.push((size, seal, open));
    }
    println!();
    println!(
        "Raw columns seal in place into a reused buffer and open out of place (ring and RustCrypto:"
    );
    println!(
        "copy then open in place): the AEAD alone. dekbox must also allocate its output, draw a"
    );
    println!("nonce, find its cached key, write the header and check the key commitment.");
    println!(
        "dekbox/lc: dekbox throughput as a share of raw aws-lc-rs (DESIGN target >= 90% at 16 KiB and up)"
    );
    println!(
        "overhead: dekbox ns per message above raw aws-lc-rs (DESIGN target <= 200 ns at 64 B)"
    );
    for (size, seal, open) in &summary {
        println!(
            "RATIO size={} seal_vs_awslc={:.3} open_vs_awslc={:.3} seal_overhead_ns={:.0} open_overhead_ns={:.0} dekbox_seal_gbps={:.2} dekbox_open_gbps={:.2}",
            size,
            seal[1] / seal[0],
            open[1] / open[0],
            seal[0] - seal[1],
            open[0] - open[1],
            *size as f64 / seal[0],
            *size as f64 / open[0],
        );
    }
}

fn human(n: usize) -> String {
    match n {
        n if n >= 1 << 20 => format!("{}MiB", n >> 20),
        n if n >= 1 << 10 => format!("{}KiB", n >> 10),
        n => format!("{n}B"),
    }
}
