//! Keyring routing, rotation and rewrap.

mod common;

use common::*;
use dekbox_core::format::{Form, KeyRefKind};
use dekbox_core::keyring::Keyring;
use dekbox_core::{Engine, Error};

fn engine_on(primary: &str) -> Engine {
    Engine::builder().keyring(keyring(primary)).build().unwrap()
}

#[test]
fn headers_name_the_primary_label_and_decrypt_routes_by_it() {
    let e1 = engine_on("v1");
    let c = ctx(&[("tenant", "a")]);
    let m = e1.encrypt_local(b"old", &c, b"", Form::Binary, T0).unwrap();
    assert_eq!(
        e1.inspect(&m).unwrap().key_ref,
        Some((KeyRefKind::Label, "v1".into()))
    );
    // After rotation the new primary is v2, but v1 messages still open.
    let e2 = engine_on("v2");
    assert_eq!(e2.decrypt_local(&m, &c, b"", T0).unwrap(), b"old");
    let n = e2.encrypt_local(b"new", &c, b"", Form::Binary, T0).unwrap();
    assert_eq!(
        e2.inspect(&n).unwrap().key_ref,
        Some((KeyRefKind::Label, "v2".into()))
    );
}

#[test]
fn unknown_labels_are_reported_not_guessed() {
    let e = engine_on("v2");
    let c = ctx(&[]);
    let m = e.encrypt_local(b"x", &c, b"", Form::Binary, T0).unwrap();
    let only_v1 = Engine::builder()
        .keyring(Keyring::builder().add("v1", local(1)).build().unwrap())
        .build()
        .unwrap();
    assert_eq!(
        only_v1.decrypt_local(&m, &c, b"", T0),
        Err(Error::UnknownKey("v2".into()))
    );
}

#[test]
fn rewrap_moves_to_primary_without_touching_ciphertext() {
    let c = ctx(&[("tenant", "a")]);
    let e1 = engine_on("v1");
    for form in [Form::Binary, Form::Text] {
        let m = e1.encrypt_local(b"payload", &c, b"aad", form, T0).unwrap();
        let e2 = engine_on("v2");
        let r = e2.rewrap_local(&m, &c, T0).unwrap();
        assert!(r.changed);
        let i_old = e2.inspect(&m).unwrap();
        let i_new = e2.inspect(&r.message).unwrap();
        assert_eq!(i_new.key_ref, Some((KeyRefKind::Label, "v2".into())));
        assert_eq!(i_new.form, form);
        assert_ne!(i_old.wrapped_dek_fingerprint, i_new.wrapped_dek_fingerprint);
        assert_eq!(
            e2.decrypt_local(&r.message, &c, b"aad", T0).unwrap(),
            b"payload"
        );
        if form == Form::Binary {
            // Fixed header and body are byte-identical: only the key section changed.
            assert_eq!(&m[..81], &r.message[..81]);
            assert_eq!(&m[m.len() - 23..], &r.message[r.message.len() - 23..]);
        }
        // A keyring with only v2 reads the rewrapped message.
        let only_v2 = Engine::builder()
            .keyring(Keyring::builder().add("v2", local(2)).build().unwrap())
            .build()
            .unwrap();
        assert_eq!(
            only_v2.decrypt_local(&r.message, &c, b"aad", T0).unwrap(),
            b"payload"
        );
        // Rewrapping again is a no-op.
        let again = e2.rewrap_local(&r.message, &c, T0).unwrap();
        assert!(!again.changed);
        assert_eq!(again.message, r.message);
    }
}

#[test]
fn bulk_rewrap_unwraps_and_wraps_each_data_key_once() {
    let c = ctx(&[("tenant", "a")]);
    let e1 = engine_on("v1");
    let rows: Vec<_> = (0..500)
        .map(|i| {
            e1.encrypt_local(format!("{i}").as_bytes(), &c, b"", Form::Text, T0)
                .unwrap()
        })
        .collect();
    let e2 = engine_on("v2");
    for r in &rows {
        assert!(e2.rewrap_local(r, &c, T0).unwrap().changed);
    }
    // One unwrap under v1 plus one wrap under v2 for the shared data key.
    assert_eq!(e2.cache_stats().provider_calls, 2);
}

#[test]
fn rewrap_refuses_wrong_context_and_foreign_commitment() {
    let a = ctx(&[("tenant", "a")]);
    let b = ctx(&[("tenant", "b")]);
    let e1 = engine_on("v1");
    let m = e1.encrypt_local(b"x", &a, b"", Form::Binary, T0).unwrap();
    let e2 = engine_on("v2");
    assert_eq!(e2.rewrap_local(&m, &b, T0), Err(Error::Authentication));

    // Splice another message's (valid) key section into this message: the
    // wrapped key unwraps, but to a data key that fails the commitment.
    let other = e1
        .encrypt_local(
            b"y",
            &a,
            b"",
            Form::Binary,
            T0.plus(std::time::Duration::from_secs(3600)),
        )
        .unwrap();
    let key_section_len = 3 + 2 + 2 + e1.inspect(&m).unwrap().wrapped_dek_len;
    let mut spliced = m[..81].to_vec();
    spliced.extend_from_slice(&other[81..81 + key_section_len]);
    spliced.extend_from_slice(&m[81 + key_section_len..]);
    assert_ne!(spliced, m);
    assert_eq!(
        e2.rewrap_local(&spliced, &a, T0),
        Err(Error::Authentication)
    );
    assert_eq!(
        e1.decrypt_local(&spliced, &a, b"", T0),
        Err(Error::Authentication)
    );
}

/// Security review finding 8: a rewrap-cache hit produced a new key section
/// without checking the commitment, so a message whose wrapped key had been
/// rewrapped once could carry any salt and commitment and still be rewrapped.
#[test]
fn rewrap_cache_hits_are_checked_against_the_commitment() {
    let c = ctx(&[("tenant", "a")]);
    let e1 = engine_on("v1");
    let m = e1.encrypt_local(b"x", &c, b"", Form::Binary, T0).unwrap();
    let e2 = engine_on("v2");
    assert!(e2.rewrap_local(&m, &c, T0).unwrap().changed);
    for (what, offset) in [("salt", 5), ("commitment", 40)] {
        let mut forged = m.clone();
        forged[offset] ^= 0x01;
        assert_eq!(
            e2.rewrap_local(&forged, &c, T0),
            Err(Error::Authentication),
            "a forged {what} was rewrapped"
        );
    }
    // The genuine message is still served from the cache: no provider call.
    let calls = e2.cache_stats().provider_calls;
    assert!(e2.rewrap_local(&m, &c, T0).unwrap().changed);
    assert_eq!(e2.cache_stats().provider_calls, calls);
}

#[test]
fn keyring_validation() {
    assert!(Keyring::builder().build().is_err());
    assert!(
        Keyring::builder()
            .add("v1", local(1))
            .add("v1", local(2))
            .build()
            .is_err()
    );
    assert!(
        Keyring::builder()
            .add("v1", local(1))
            .add("v2", local(2))
            .build()
            .is_err()
    );
    assert!(
        Keyring::builder()
            .add("v1", local(1))
            .primary("v9")
            .build()
            .is_err()
    );
    assert!(Keyring::builder().add("", local(1)).build().is_err());
    // Labels and URIs are written into every header and shown by `inspect`.
    assert!(
        Keyring::builder()
            .add("v1\x1b[2J", local(1))
            .build()
            .is_err()
    );
    assert!(
        Keyring::builder()
            .add("v\u{9b}1", local(1))
            .build()
            .is_err()
    );
    let env: std::sync::Arc<dyn dekbox_core::env::Environment> =
        std::sync::Arc::new(dekbox_core::env::MapEnvironment::default());
    let r = dekbox_core::provider::from_uri(
        "local://env/K\x07",
        env,
        &dekbox_core::provider::ProviderOptions::default(),
    );
    assert!(matches!(r, Err(Error::Config(m)) if m.contains("control character")));
}
