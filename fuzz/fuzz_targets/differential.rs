//! Sealing, checked against an independent construction: the message dekbox
//! seals (AWS-LC's AES-GCM) must equal, byte for byte, the one built here
//! from docs/FORMAT.md with RustCrypto's HKDF and AES-GCM, in binary and text
//! form, and must open to the plaintext again. And dekbox's own two AES-GCM
//! backends (AWS-LC natively, RustCrypto on wasm32; feature `both-backends`
//! builds both here) must agree through every entry point on the message's
//! body, and both refuse it with one bit changed; likewise dekbox's two
//! AES-256-GCM-SIV backends (root-keyed values).
#![no_main]

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use arbitrary::Arbitrary;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use dekbox_core::format::{Form, KeyRef, KeyRefKind};
use dekbox_core::{DataKey, EncryptionContext, kat};
use hkdf::Hkdf;
use libfuzzer_sys::fuzz_target;
use sha2::Sha256;

#[derive(Arbitrary, Debug)]
struct Input {
    dek: [u8; 32],
    salt: [u8; 32],
    nonce: [u8; 12],
    label: bool,
    key_ref: String,
    wrapped: Vec<u8>,
    context: Vec<(String, String)>,
    aad: Vec<u8>,
    plaintext: Vec<u8>,
    flip: usize,
}

fn u16be(n: usize) -> [u8; 2] {
    (n as u16).to_be_bytes()
}

fuzz_target!(|input: Input| {
    let Ok(ctx) = EncryptionContext::from_pairs(input.context.iter().map(|(k, v)| (k.as_str(), v.as_str())))
    else {
        return;
    };
    let kind = if input.label { KeyRefKind::Label } else { KeyRefKind::Uri };
    let key_ref = KeyRef { kind, name: &input.key_ref };
    let dek = DataKey::from_slice(&input.dek).unwrap();
    let Ok(ours) = kat::seal_with_parts(
        &dek, &input.salt, &input.nonce, key_ref, &input.wrapped, &ctx, &input.aad,
        &input.plaintext, Form::Binary,
    ) else {
        return;
    };

    // docs/FORMAT.md, independently.
    let hk = Hkdf::<Sha256>::new(Some(&input.salt), &input.dek);
    let (mut data_key, mut commitment) = ([0u8; 32], [0u8; 32]);
    hk.expand(b"dekbox v1 suite 0x01 data key", &mut data_key).unwrap();
    hk.expand(b"dekbox v1 suite 0x01 key commitment", &mut commitment).unwrap();
    let mut header = b"DKB\x01\x01".to_vec();
    header.extend_from_slice(&input.salt);
    header.extend_from_slice(&commitment);
    header.extend_from_slice(&input.nonce);
    // The context's encoding from the raw pairs (later duplicates win, as
    // a map built from them would), not from dekbox's map.
    let pairs: std::collections::BTreeMap<&str, &str> =
        input.context.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    assert_eq!(pairs.len(), ctx.as_map().len());
    let mut canonical = u16be(pairs.len()).to_vec();
    for (k, v) in pairs {
        canonical.extend_from_slice(&u16be(k.len()));
        canonical.extend_from_slice(k.as_bytes());
        canonical.extend_from_slice(&u16be(v.len()));
        canonical.extend_from_slice(v.as_bytes());
    }
    let mut ad = header.clone();
    ad.extend_from_slice(&canonical);
    ad.extend_from_slice(&(input.aad.len() as u64).to_be_bytes());
    ad.extend_from_slice(&input.aad);
    let body = Aes256Gcm::new_from_slice(&data_key)
        .unwrap()
        .encrypt(Nonce::from_slice(&input.nonce), Payload { msg: &input.plaintext, aad: &ad })
        .unwrap();
    let both = kat::compare_aead_backends(&data_key, &input.nonce, &ad, &input.plaintext, input.flip);
    assert_eq!(both.as_deref(), Ok(&body[..]));
    // The same inputs through both AES-256-GCM-SIV backends (root-keyed values).
    kat::compare_siv_backends(&data_key, &input.nonce, &ad, &input.plaintext, input.flip).unwrap();
    let mut theirs = header;
    theirs.push(if input.label { 1 } else { 2 });
    theirs.extend_from_slice(&u16be(input.key_ref.len()));
    theirs.extend_from_slice(input.key_ref.as_bytes());
    theirs.extend_from_slice(&u16be(input.wrapped.len()));
    theirs.extend_from_slice(&input.wrapped);
    theirs.extend_from_slice(&body);
    assert_eq!(ours, theirs);

    let text = kat::seal_with_parts(
        &dek, &input.salt, &input.nonce, key_ref, &input.wrapped, &ctx, &input.aad,
        &input.plaintext, Form::Text,
    )
    .unwrap();
    assert_eq!(text, format!("dekbox:v1:{}", URL_SAFE_NO_PAD.encode(&theirs)).into_bytes());
    for sealed in [&ours, &text] {
        assert_eq!(kat::open_with_dek(&dek, sealed, &ctx, &input.aad).unwrap(), input.plaintext);
    }
});
