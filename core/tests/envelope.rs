//! Round trips, authentication failures, tampering, truncation and bounds.

mod common;

use common::*;
use dekbox_core::format::{self, FIXED_HEADER_LEN, Form};
use dekbox_core::{Engine, Error, Malformed, Options};
use proptest::prelude::*;

#[test]
fn round_trips_every_size_and_form() {
    let e = engine();
    let c = ctx(&[("tenant", "acme")]);
    for len in [0usize, 1, 64 * 1024, 16 * 1024 * 1024] {
        let pt: Vec<u8> = (0..len).map(|i| (i * 31 % 251) as u8).collect();
        for form in [Form::Binary, Form::Text] {
            let sealed = e.encrypt_local(&pt, &c, b"row-1", form, T0).unwrap();
            match form {
                Form::Binary => assert!(sealed.starts_with(b"DKB\x01\x01")),
                _ => {
                    assert!(sealed.starts_with(b"dekbox:v1:"));
                    assert!(sealed.is_ascii());
                }
            }
            let opened = e.decrypt_local(&sealed, &c, b"row-1", T0).unwrap();
            assert_eq!(opened.len(), len);
            assert!(opened == pt, "round trip of {len} bytes as {form:?}");
        }
    }
}

#[test]
fn text_form_tolerates_surrounding_whitespace() {
    let e = engine();
    let c = ctx(&[]);
    let mut sealed = e.encrypt_local(b"x", &c, b"", Form::Text, T0).unwrap();
    sealed.push(b'\n');
    sealed.insert(0, b' ');
    assert_eq!(e.decrypt_local(&sealed, &c, b"", T0).unwrap(), b"x");
}

#[test]
fn wrong_context_aad_or_key_is_one_authentication_error() {
    let e = engine();
    let a = ctx(&[("tenant", "a")]);
    let b = ctx(&[("tenant", "b")]);
    let sealed = e
        .encrypt_local(b"secret", &a, b"row-1", Form::Binary, T0)
        .unwrap();
    // Wrong context: the local provider refuses to unwrap (like a KMS would).
    assert_eq!(
        e.decrypt_local(&sealed, &b, b"row-1", T0),
        Err(Error::Authentication)
    );
    // Wrong aad: the data key is cached and unwraps, the AEAD refuses.
    assert_eq!(
        e.decrypt_local(&sealed, &a, b"row-2", T0),
        Err(Error::Authentication)
    );
    // Extra context entry.
    let a2 = ctx(&[("tenant", "a"), ("x", "")]);
    assert_eq!(
        e.decrypt_local(&sealed, &a2, b"row-1", T0),
        Err(Error::Authentication)
    );
    // Wrong key under the same URI (another machine's key file at the same path).
    let other = Engine::builder()
        .key(
            dekbox_core::provider::LocalProvider::from_key_bytes("insecure-test-key", &[9; 32])
                .unwrap(),
        )
        .build()
        .unwrap();
    assert_eq!(
        other.decrypt_local(&sealed, &a, b"row-1", T0),
        Err(Error::Authentication)
    );
    // The error text says nothing about which it was, nor about the data.
    let msg = Error::Authentication.to_string();
    assert!(msg.contains("wrong key, context or aad"));
}

#[test]
fn context_hit_in_cache_still_checks_context() {
    // Tenant A's data key is cached; tenant B's context must not reuse it.
    let e = engine();
    let a = ctx(&[("tenant", "a")]);
    let b = ctx(&[("tenant", "b")]);
    let sealed = e
        .encrypt_local(b"secret", &a, b"", Form::Binary, T0)
        .unwrap();
    assert_eq!(e.decrypt_local(&sealed, &a, b"", T0).unwrap(), b"secret");
    assert_eq!(
        e.decrypt_local(&sealed, &b, b"", T0),
        Err(Error::Authentication)
    );
}

/// Which error each byte of a message produces when one of its bits flips.
fn expected_for_offset(offset: usize, key_ref_len: usize) -> &'static str {
    let key_section_end = FIXED_HEADER_LEN + 3 + key_ref_len + 2;
    match offset {
        0..=2 => "not-dekbox",                                        // magic
        3 => "version",                                               // version byte
        4 => "suite",                                                 // suite byte
        5..=80 => "auth",    // salt, commitment, nonce: authenticated
        81 => "kind",        // key reference kind
        82..=83 => "length", // key reference length
        o if o < FIXED_HEADER_LEN + 3 + key_ref_len => "unknown-key", // key reference
        o if o < key_section_end => "length", // wrapped key length
        _ => "auth",         // wrapped key, ciphertext, tag
    }
}

#[test]
fn every_single_bit_flip_is_rejected() {
    let e = engine();
    let c = ctx(&[("tenant", "acme")]);
    let sealed = e
        .encrypt_local(b"attack at dawn", &c, b"aad", Form::Binary, T0)
        .unwrap();
    let key_ref_len = "insecure-test-key".len();
    let mut counts = std::collections::BTreeMap::new();
    for offset in 0..sealed.len() {
        for bit in 0..8 {
            let mut m = sealed.clone();
            m[offset] ^= 1 << bit;
            let err = e
                .decrypt_local(&m, &c, b"aad", T0)
                .expect_err("a flipped bit must be rejected");
            let want = expected_for_offset(offset, key_ref_len);
            let ok = match (want, &err) {
                ("auth", Error::Authentication) => true,
                ("not-dekbox", Error::Malformed(Malformed::NotDekbox)) => true,
                ("version", Error::Malformed(Malformed::UnsupportedVersion(_))) => true,
                ("suite", Error::Malformed(Malformed::UnsupportedSuite(_))) => true,
                ("kind", Error::Malformed(Malformed::BadKeyRefKind(_))) => true,
                // A changed length shifts the field boundaries: the result is a
                // bound violation, an unknown key, or a data key that fails.
                ("length", Error::Malformed(_) | Error::UnknownKey(_) | Error::Authentication) => {
                    true
                }
                (
                    "unknown-key",
                    Error::UnknownKey(_)
                    | Error::Malformed(Malformed::InvalidUtf8(_))
                    | Error::Malformed(Malformed::ControlCharacter(_)),
                ) => true,
                _ => false,
            };
            assert!(
                ok,
                "offset {offset} bit {bit}: expected {want}, got {err:?}"
            );
            *counts.entry(want).or_insert(0) += 1;
        }
    }
    // Every bit of the salt, commitment, nonce, wrapped key, ciphertext and tag
    // is an authentication failure.
    let auth_bytes = sealed.len() - (FIXED_HEADER_LEN - 76) - 3 - key_ref_len - 2;
    assert_eq!(counts["auth"], auth_bytes * 8);
}

#[test]
fn truncation_at_every_offset_fails_cleanly() {
    let e = engine();
    let c = ctx(&[]);
    for form in [Form::Binary, Form::Text] {
        let sealed = e.encrypt_local(b"hello world", &c, b"", form, T0).unwrap();
        for cut in 0..sealed.len() {
            let r = e.decrypt_local(&sealed[..cut], &c, b"", T0);
            assert!(r.is_err(), "{form:?} truncated to {cut} bytes must fail");
            let err = r.unwrap_err();
            assert!(
                matches!(err, Error::Malformed(_) | Error::Authentication),
                "{form:?} cut {cut}: {err:?}"
            );
        }
    }
}

#[test]
fn appended_bytes_are_rejected() {
    let e = engine();
    let c = ctx(&[]);
    let mut sealed = e
        .encrypt_local(b"hello", &c, b"", Form::Binary, T0)
        .unwrap();
    sealed.push(0);
    assert_eq!(
        e.decrypt_local(&sealed, &c, b"", T0),
        Err(Error::Authentication)
    );
}

#[test]
fn oversized_inputs_are_refused_before_work() {
    let opts = Options {
        max_plaintext: 1024,
        ..Options::default()
    };
    let e = Engine::builder()
        .key(dekbox_core::provider::LocalProvider::insecure_test_key())
        .options(opts)
        .build()
        .unwrap();
    let c = ctx(&[]);
    let err = e
        .encrypt_local(&[0u8; 1025], &c, b"", Form::Binary, T0)
        .unwrap_err();
    assert!(matches!(
        err,
        Error::Malformed(Malformed::TooLarge {
            len: 1025,
            max: 1024
        })
    ));
    assert_eq!(
        e.cache_stats().provider_calls,
        0,
        "no key generated for a refused input"
    );

    // A message sealed by a more permissive engine is refused by size.
    let big = engine()
        .encrypt_local(&[0u8; 4096], &c, b"", Form::Binary, T0)
        .unwrap();
    assert!(matches!(
        e.decrypt_local(&big, &c, b"", T0),
        Err(Error::Malformed(Malformed::TooLarge { .. }))
    ));
    let big_text = engine()
        .encrypt_local(&[0u8; 8192], &c, b"", Form::Text, T0)
        .unwrap();
    assert!(matches!(
        e.decrypt_local(&big_text, &c, b"", T0),
        Err(Error::Malformed(Malformed::TooLarge { .. }))
    ));
}

#[test]
fn garbage_is_malformed_not_a_panic() {
    let e = engine();
    let c = ctx(&[]);
    for input in [
        &b""[..],
        b"DKB",
        b"DKB\x02",
        b"dekbox:v1:",
        b"dekbox:v1:!!!!",
        b"dekbox:v2:AAAA",
        b"{",
        b"{\"encryptedDek\":1}",
        b"\x01\x02\x02\x00legacy-kms-blob",
        b"plain text",
    ] {
        let err = e.decrypt_local(input, &c, b"", T0).unwrap_err();
        assert!(matches!(err, Error::Malformed(_)), "{input:?}: {err:?}");
    }
}

#[test]
fn inspect_shows_header_and_no_secrets() {
    let e = engine();
    let c = ctx(&[("tenant", "acme")]);
    let sealed = e
        .encrypt_local(b"0123456789", &c, b"", Form::Text, T0)
        .unwrap();
    let i = e.inspect(&sealed).unwrap();
    assert_eq!(i.form, Form::Text);
    assert_eq!(i.version, 1);
    assert_eq!(i.suite, 1);
    assert_eq!(i.plaintext_len, 10);
    assert_eq!(
        i.key_ref,
        Some((format::KeyRefKind::Uri, "insecure-test-key".to_string()))
    );
    assert!(i.committing);
    assert_eq!(i.wrapped_dek_fingerprint.len(), 16);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn prop_round_trip(
        pt in proptest::collection::vec(any::<u8>(), 0..2048),
        aad in proptest::collection::vec(any::<u8>(), 0..64),
        pairs in proptest::collection::btree_map("[a-z]{1,8}", ".{0,12}", 0..4),
        text in any::<bool>(),
    ) {
        let e = engine();
        let c = dekbox_core::EncryptionContext::from_map(pairs).unwrap();
        let form = if text { Form::Text } else { Form::Binary };
        let sealed = e.encrypt_local(&pt, &c, &aad, form, T0).unwrap();
        prop_assert_eq!(e.decrypt_local(&sealed, &c, &aad, T0).unwrap(), pt);
    }

    #[test]
    fn prop_parser_never_panics(input in proptest::collection::vec(any::<u8>(), 0..512)) {
        let e = engine();
        let c = ctx(&[]);
        let _ = e.decrypt_local(&input, &c, b"", T0);
        let _ = e.inspect(&input);
        let _ = format::parse(&input, 1 << 20);
    }

    #[test]
    fn prop_mutated_messages_never_panic_or_open(
        pos in any::<prop::sample::Index>(),
        byte in any::<u8>(),
        cut in any::<prop::sample::Index>(),
    ) {
        let e = engine();
        let c = ctx(&[]);
        let sealed = e.encrypt_local(b"proptest", &c, b"", Form::Binary, T0).unwrap();
        let mut m = sealed.clone();
        let i = pos.index(m.len());
        m[i] = byte;
        let m = &m[..cut.index(m.len() + 1)];
        if m != &sealed[..] {
            prop_assert!(e.decrypt_local(m, &c, b"", T0).is_err());
        }
    }

    #[test]
    fn prop_text_parser_never_panics(s in "dekbox:v1:[A-Za-z0-9_-]{0,300}") {
        let e = engine();
        let _ = e.decrypt_local(s.as_bytes(), &ctx(&[]), b"", T0);
    }
}

#[test]
fn plans_seal_and_open_into_caller_buffers() {
    let e = engine();
    let c = ctx(&[("tenant", "acme")]);
    // Nothing cached yet: no plan.
    assert!(e.plan_encrypt(5, &c, T0).unwrap().is_none());
    let first = e
        .encrypt_local(b"warm up", &c, b"", Form::Binary, T0)
        .unwrap();
    let plan = e.plan_encrypt(11, &c, T0).unwrap().expect("cached key");
    let mut out = vec![0u8; plan.sealed_len()];
    plan.seal_into(b"hello plans", &c, b"row", &mut out)
        .unwrap();
    // Same data key as the warm-up, a normal message in every respect.
    assert_eq!(out[..81 - 12], first[..81 - 12]);
    assert_eq!(
        e.decrypt_local(&out, &c, b"row", T0).unwrap(),
        b"hello plans"
    );
    // Misuse is refused.
    assert!(matches!(
        plan.seal_into(b"hello plans", &c, b"row", &mut [0u8; 3]),
        Err(Error::ApiMisuse(_))
    ));

    // Opening: a plan exists once the key is cached for reading.
    let open = e
        .plan_decrypt(&out, &c, T0)
        .unwrap()
        .expect("cached by the decrypt above");
    assert_eq!(open.plaintext_len(), 11);
    let mut pt = vec![0u8; 11];
    open.open_into(&c, b"row", &mut pt).unwrap();
    assert_eq!(&pt, b"hello plans");
    let mut pt = vec![0xAAu8; 11];
    assert_eq!(
        open.open_into(&c, b"other row", &mut pt),
        Err(Error::Authentication)
    );
    assert!(
        pt.iter().all(|&b| b == 0),
        "no unauthenticated plaintext is left"
    );
    // Text and unknown data keys take the normal path.
    let text = e.encrypt_local(b"t", &c, b"", Form::Text, T0).unwrap();
    assert!(e.plan_decrypt(&text, &c, T0).unwrap().is_none());
    let other = engine()
        .encrypt_local(b"x", &c, b"", Form::Binary, T0)
        .unwrap();
    assert!(e.plan_decrypt(&other, &c, T0).unwrap().is_none());
    assert!(
        e.plan_decrypt(&out, &ctx(&[("tenant", "other")]), T0)
            .unwrap()
            .is_none()
    );
}

#[test]
fn plans_write_uninitialised_buffers() {
    let e = engine();
    let c = ctx(&[("tenant", "acme")]);
    e.encrypt_local(b"warm", &c, b"", Form::Binary, T0).unwrap();
    let plan = e.plan_encrypt(5, &c, T0).unwrap().unwrap();
    let mut buf: Vec<u8> = Vec::with_capacity(plan.sealed_len());
    plan.seal_into_uninit(
        b"hello",
        &c,
        b"aad",
        &mut buf.spare_capacity_mut()[..plan.sealed_len()],
    )
    .unwrap();
    // SAFETY (test): seal_into_uninit initialised every byte on success.
    unsafe { buf.set_len(plan.sealed_len()) };
    assert_eq!(e.decrypt_local(&buf, &c, b"aad", T0).unwrap(), b"hello");

    let open = e.plan_decrypt(&buf, &c, T0).unwrap().unwrap();
    let mut pt: Vec<u8> = Vec::with_capacity(5);
    open.open_into_uninit(&c, b"aad", &mut pt.spare_capacity_mut()[..5])
        .unwrap();
    unsafe { pt.set_len(5) };
    assert_eq!(pt, b"hello");
    let mut bad: Vec<u8> = Vec::with_capacity(5);
    assert_eq!(
        open.open_into_uninit(&c, b"wrong", &mut bad.spare_capacity_mut()[..5]),
        Err(Error::Authentication)
    );
    // On failure every byte was written (as zero), so reading them is sound.
    unsafe { bad.set_len(5) };
    assert_eq!(bad, [0u8; 5]);
}
