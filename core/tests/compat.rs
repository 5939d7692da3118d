//! JSON envelopes, legacy direct-KMS values and kms_encrypted keys.

mod common;

use common::*;
use dekbox_core::compat::{encode_kms_encrypted_key, parse_kms_encrypted_key};
use dekbox_core::format::Form;
use dekbox_core::op::{drive, no_network};
use dekbox_core::provider::{KeyProvider, LocalProvider};
use dekbox_core::random::SystemRandom;
use dekbox_core::{Engine, Error, Malformed, Options};

fn compat_engine(accept_json: bool, legacy_fallback: bool) -> Engine {
    Engine::builder()
        .key(LocalProvider::insecure_test_key())
        .options(Options {
            accept_json,
            legacy_fallback,
            ..Options::default()
        })
        .build()
        .unwrap()
}

#[test]
fn json_envelope_round_trip_when_enabled() {
    let e = compat_engine(true, false);
    let c = ctx(&[("tenant", "a")]);
    let j = e.encrypt_local(b"hello", &c, b"", Form::Json, T0).unwrap();
    let v: serde_json::Value = serde_json::from_slice(&j).unwrap();
    assert!(v["encryptedDek"].is_string() && v["cipherText"].is_string());
    assert_eq!(e.decrypt_local(&j, &c, b"", T0).unwrap(), b"hello");
    assert_eq!(
        e.decrypt_local(&j, &ctx(&[]), b"", T0),
        Err(Error::Authentication)
    );
    let i = e.inspect(&j).unwrap();
    assert_eq!(i.form, Form::Json);
    assert!(!i.committing);
}

#[test]
fn json_envelope_is_refused_unless_enabled() {
    let writer = compat_engine(true, false);
    let c = ctx(&[]);
    let j = writer
        .encrypt_local(b"hello", &c, b"", Form::Json, T0)
        .unwrap();
    let strict = compat_engine(false, false);
    assert!(matches!(
        strict.decrypt_local(&j, &c, b"", T0),
        Err(Error::Malformed(Malformed::Json(_)))
    ));
}

#[test]
fn hand_written_json_envelope_is_read() {
    // What a typical hand-written helper does: GenerateDataKey, then
    // AES-256-GCM with the plaintext DEK, random 12-byte nonce, no aad.
    use aes_gcm::aead::{Aead, KeyInit};
    use base64::Engine as _;
    let p = LocalProvider::insecure_test_key();
    let c = ctx(&[("app", "billing")]);
    let mut op = p.generate_data_key(&c, &SystemRandom);
    let gk = drive(&mut *op, || T0, no_network).unwrap();
    let cipher = aes_gcm::Aes256Gcm::new(gk.plaintext.dangerous_bytes().into());
    let nonce = [3u8; 12];
    let ct = cipher.encrypt((&nonce).into(), &b"card 4242"[..]).unwrap();
    let b64 = base64::engine::general_purpose::STANDARD;
    let mut blob = nonce.to_vec();
    blob.extend_from_slice(&ct);
    let json = format!(
        r#"{{"encryptedDek":"{}","cipherText":"{}"}}"#,
        b64.encode(&gk.wrapped),
        b64.encode(&blob)
    );
    let e = compat_engine(true, false);
    assert_eq!(
        e.decrypt_local(json.as_bytes(), &c, b"", T0).unwrap(),
        b"card 4242"
    );
}

#[test]
fn json_rewrap_keeps_ciphertext() {
    let opts = |primary: &str| {
        Engine::builder()
            .keyring(keyring(primary))
            .options(Options {
                accept_json: true,
                compat_key: Some("v1".into()),
                ..Options::default()
            })
            .build()
            .unwrap()
    };
    let c = ctx(&[]);
    let e1 = opts("v1");
    let j = e1.encrypt_local(b"data", &c, b"", Form::Json, T0).unwrap();
    let e2 = opts("v2");
    let r = e2.rewrap_local(&j, &c, T0).unwrap();
    assert!(r.changed);
    let old: serde_json::Value = serde_json::from_slice(&j).unwrap();
    let new: serde_json::Value = serde_json::from_slice(&r.message).unwrap();
    assert_eq!(old["cipherText"], new["cipherText"]);
    assert_ne!(old["encryptedDek"], new["encryptedDek"]);
    // The rewrapped envelope is now under v2, the compatibility key must follow.
    let e3 = Engine::builder()
        .keyring(keyring("v2"))
        .options(Options {
            accept_json: true,
            ..Options::default()
        })
        .build()
        .unwrap();
    assert_eq!(e3.decrypt_local(&r.message, &c, b"", T0).unwrap(), b"data");
}

#[test]
fn legacy_direct_values_fall_back_when_enabled() {
    let p = LocalProvider::insecure_test_key();
    let c = ctx(&[("tenant", "a")]);
    let mut op = p.encrypt_direct(b"written before dekbox", &c, &SystemRandom);
    let legacy = drive(&mut *op, || T0, no_network).unwrap();

    let strict = compat_engine(false, false);
    assert_eq!(
        strict.decrypt_local(&legacy, &c, b"", T0),
        Err(Error::Malformed(Malformed::NotDekbox))
    );
    let e = compat_engine(false, true);
    assert_eq!(
        e.decrypt_local(&legacy, &c, b"", T0).unwrap(),
        b"written before dekbox"
    );
    assert_eq!(
        e.decrypt_local(&legacy, &ctx(&[]), b"", T0),
        Err(Error::Authentication)
    );
    // Upgrade on write: re-encrypting produces a committed v1 message.
    let pt = e.decrypt_local(&legacy, &c, b"", T0).unwrap();
    let upgraded = e.encrypt_local(&pt, &c, b"", Form::Text, T0).unwrap();
    assert!(upgraded.starts_with(b"dekbox:v1:"));
    assert_eq!(e.decrypt_local(&upgraded, &c, b"", T0).unwrap(), pt);
    // Rewrap refuses legacy values: there is no data key to move.
    assert!(e.rewrap_local(&legacy, &c, T0).is_err());
}

#[test]
fn kms_encrypted_key_values_unwrap() {
    let e = engine();
    let c = ctx(&[("model_name", "User"), ("model_id", "42")]);
    let mut op = e.generate_data_key(&c);
    let gk = drive(&mut *op, || T0, no_network).unwrap();
    let stored = encode_kms_encrypted_key(1, &gk.wrapped);
    assert!(stored.starts_with("v1:"));
    let parsed = parse_kms_encrypted_key(&stored).unwrap();
    assert_eq!(parsed.version, 1);
    let mut op = e.unwrap_data_key(&parsed.wrapped_dek, &c, None);
    let dek = drive(&mut *op, || T0, no_network).unwrap();
    assert_eq!(dek.dangerous_bytes(), gk.plaintext.dangerous_bytes());
}

/// Finding 1 of the security review: with the fallback on, the wrapped data
/// key of a message, handed to `decrypt` as a "legacy value", returned the
/// 32-byte data key as plaintext (a data-key oracle).
#[test]
fn legacy_fallback_never_returns_a_message_data_key() {
    let e = compat_engine(false, true);
    let c = ctx(&[("tenant", "a")]);
    let sealed = e
        .encrypt_local(b"row secret", &c, b"users/1/email", Form::Binary, T0)
        .unwrap();
    let msg = dekbox_core::format::parse(&sealed, 1 << 20).unwrap();
    let key_section = msg.wrapped_dek.to_vec();
    // From a warm engine (the data key is cached) and from a cold one.
    for engine in [&e, &compat_engine(false, true)] {
        assert_eq!(
            engine.decrypt_local(&key_section, &c, b"", T0),
            Err(Error::Authentication)
        );
    }
    // The message itself still opens.
    assert_eq!(
        e.decrypt_local(&sealed, &c, b"users/1/email", T0).unwrap(),
        b"row secret"
    );
}

/// The compatibility domain (JSON envelopes, generate_data_key) wraps keys the
/// way other tools do, which a KMS cannot tell from a direct value: an engine
/// with the fallback refuses to handle such keys at all.
#[test]
fn legacy_fallback_refuses_compatibility_data_keys() {
    let both = Engine::builder()
        .key(LocalProvider::insecure_test_key())
        .options(Options {
            accept_json: true,
            legacy_fallback: true,
            ..Options::default()
        })
        .build();
    assert!(matches!(both, Err(Error::Config(m)) if m.contains("legacy_fallback")));
    let e = compat_engine(false, true);
    let c = ctx(&[]);
    assert!(matches!(
        e.encrypt_local(b"x", &c, b"", Form::Json, T0),
        Err(Error::Config(_))
    ));
    let mut op = e.generate_data_key(&c);
    assert!(matches!(
        drive(&mut *op, || T0, no_network),
        Err(Error::Config(_))
    ));
    assert!(matches!(
        drive(
            &mut *e.unwrap_data_key(&[0u8; 93], &c, None),
            || T0,
            no_network
        ),
        Err(Error::Config(_))
    ));
}

/// A caller cannot name dekbox's reserved purpose entry in a context, so no
/// caller context ever matches the one a message's data key is wrapped under.
#[test]
fn reserved_context_keys_are_refused() {
    let r = dekbox_core::EncryptionContext::from_pairs([("dekbox:purpose", "data-key")]);
    assert!(matches!(r, Err(Malformed::Context(_))));
    // A provider context (built by dekbox, with the entry) is refused by
    // every engine operation.
    let provider_ctx = dekbox_core::kat::data_key_context(&ctx(&[("tenant", "a")])).unwrap();
    let e = compat_engine(false, true);
    let sealed = e
        .encrypt_local(b"x", &ctx(&[("tenant", "a")]), b"", Form::Binary, T0)
        .unwrap();
    assert!(matches!(
        e.encrypt_local(b"x", &provider_ctx, b"", Form::Binary, T0),
        Err(Error::ApiMisuse(_))
    ));
    for input in [&sealed[..], b"legacy"] {
        assert!(matches!(
            e.decrypt_local(input, &provider_ctx, b"", T0),
            Err(Error::ApiMisuse(_))
        ));
    }
    assert!(matches!(
        e.rewrap_local(&sealed, &provider_ctx, T0),
        Err(Error::ApiMisuse(_))
    ));
    assert!(matches!(
        e.plan_encrypt(1, &provider_ctx, T0),
        Err(Error::ApiMisuse(_))
    ));
}

/// Review finding: JSON envelopes were written under the primary but read
/// with the compatibility key, so an engine with `compat_key` set could not
/// read its own JSON writes.
#[test]
fn json_envelopes_are_written_under_the_compatibility_key() {
    let e = Engine::builder()
        .keyring(keyring("v2"))
        .options(Options {
            accept_json: true,
            compat_key: Some("v1".into()),
            ..Options::default()
        })
        .build()
        .unwrap();
    let c = ctx(&[("tenant", "a")]);
    let j = e.encrypt_local(b"json", &c, b"", Form::Json, T0).unwrap();
    assert_eq!(e.decrypt_local(&j, &c, b"", T0).unwrap(), b"json");
    // Binary messages still go to the primary.
    let m = e.encrypt_local(b"bin", &c, b"", Form::Binary, T0).unwrap();
    assert_eq!(
        e.inspect(&m).unwrap().key_ref.unwrap().1,
        "v2",
        "messages are sealed under the primary"
    );
}

/// Data keys handed to another cipher (Active Record's): cached, counted per
/// use, their tokens name their key, they open only under their context, and
/// they are a domain of their own (never a message's key, never a legacy value).
#[test]
fn raw_data_keys_for_another_cipher() {
    let e = Engine::builder()
        .keyring(keyring("v1"))
        .options(Options {
            legacy_fallback: true,
            ..Options::default()
        })
        .build()
        .unwrap();
    let c = ctx(&[("tenant", "a")]);
    let run = |op: &mut dyn dekbox_core::op::Operation<Output = dekbox_core::RawDataKey>| {
        drive(op, || T0, no_network)
    };
    let k1 = run(&mut e.raw_data_key(&c)).unwrap();
    let k2 = run(&mut e.raw_data_key(&c)).unwrap();
    assert_eq!(k1.key.dangerous_bytes(), k2.key.dangerous_bytes(), "cached");
    assert_eq!(k1.token, k2.token);
    assert_eq!(e.cache_stats().data_keys_generated, 1);
    // A fresh engine (a restart) opens the token through the provider, once.
    let reader = Engine::builder().keyring(keyring("v1")).build().unwrap();
    for _ in 0..3 {
        let k = drive(
            &mut reader.open_raw_data_key(&k1.token, &c),
            || T0,
            no_network,
        )
        .unwrap();
        assert_eq!(k.dangerous_bytes(), k1.key.dangerous_bytes());
    }
    assert_eq!(reader.cache_stats().provider_calls, 1);
    // Bound to its context; refused as anything else.
    assert_eq!(
        drive(
            &mut reader.open_raw_data_key(&k1.token, &ctx(&[("tenant", "b")])),
            || T0,
            no_network
        )
        .unwrap_err(),
        Error::Authentication
    );
    let (_, _, wrapped) = {
        let t = &k1.token;
        let n = u16::from_be_bytes([t[1], t[2]]) as usize;
        (t[0], &t[3..3 + n], &t[3 + n + 2..])
    };
    assert_eq!(
        e.decrypt_local(wrapped, &c, b"", T0),
        Err(Error::Authentication),
        "the legacy path never unwraps a raw key"
    );
    // A token names only keys of this keyring.
    let v2_only = Engine::builder()
        .keyring(
            dekbox_core::keyring::Keyring::builder()
                .add("v2", local(2))
                .build()
                .unwrap(),
        )
        .build()
        .unwrap();
    assert!(matches!(
        drive(
            &mut v2_only.open_raw_data_key(&k1.token, &c),
            || T0,
            no_network
        ),
        Err(Error::UnknownKey(_))
    ));
    assert!(matches!(
        drive(
            &mut reader.open_raw_data_key(b"garbage", &c),
            || T0,
            no_network
        ),
        Err(Error::Malformed(_))
    ));
}
