//! Tight loop over 64-byte seal+open for profilers (`perf record`).
use dekbox_core::format::Form;
use dekbox_core::provider::LocalProvider;
use dekbox_core::{EncryptionContext, Engine, Timestamp};
use std::hint::black_box;

fn main() {
    let t = Timestamp::from_unix_millis(1_700_000_000_000);
    let e = Engine::builder()
        .key(LocalProvider::insecure_test_key())
        .build()
        .unwrap();
    let ctx = EncryptionContext::from_pairs([("tenant", "acme")]).unwrap();
    let what = std::env::args().nth(1).unwrap_or_else(|| "seal".into());
    let pt = [0x5au8; 64];
    let sealed = e
        .encrypt_local(&pt, &ctx, b"customers/42/email", Form::Binary, t)
        .unwrap();
    let start = std::time::Instant::now();
    let n: u32 = std::env::args()
        .nth(2)
        .and_then(|s| s.parse().ok())
        .unwrap_or(3_000_000);
    let key = aws_lc_rs::aead::LessSafeKey::new(
        aws_lc_rs::aead::UnboundKey::new(&aws_lc_rs::aead::AES_256_GCM, &[7u8; 32]).unwrap(),
    );
    let aad = b"customers/42/email";
    let mut buf = pt;
    let mut raw_ct = pt.to_vec();
    let tag = key
        .seal_in_place_separate_tag(
            aws_lc_rs::aead::Nonce::assume_unique_for_key([1; 12]),
            aws_lc_rs::aead::Aad::from(aad),
            &mut raw_ct,
        )
        .unwrap();
    let mut out = [0u8; 64];
    for _ in 0..n {
        if what == "raw-seal" {
            let _ = black_box(
                key.seal_in_place_separate_tag(
                    aws_lc_rs::aead::Nonce::assume_unique_for_key([1; 12]),
                    aws_lc_rs::aead::Aad::from(aad),
                    black_box(&mut buf[..]),
                )
                .unwrap(),
            );
        } else if what == "raw-open" {
            key.open_separate_gather(
                aws_lc_rs::aead::Nonce::assume_unique_for_key([1; 12]),
                aws_lc_rs::aead::Aad::from(aad),
                black_box(&raw_ct),
                tag.as_ref(),
                black_box(&mut out[..]),
            )
            .unwrap();
        } else if what == "seal" {
            black_box(
                e.encrypt_local(black_box(&pt), &ctx, b"customers/42/email", Form::Binary, t)
                    .unwrap(),
            );
        } else {
            black_box(
                e.decrypt_local(black_box(&sealed), &ctx, b"customers/42/email", t)
                    .unwrap(),
            );
        }
    }
    println!(
        "{what}: {:.0} ns/op",
        start.elapsed().as_nanos() as f64 / f64::from(n)
    );
}
