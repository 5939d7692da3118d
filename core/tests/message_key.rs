//! Message keys: a message's data key handed to a client without KMS access.

mod common;

use common::*;
use dekbox_core::format::Form;
use dekbox_core::op::{drive, no_network};
use dekbox_core::random::SystemRandom;
use dekbox_core::{DataKey, Engine, Error, MessageKey};

fn key_of(
    e: &Engine,
    sealed: &[u8],
    c: &dekbox_core::EncryptionContext,
) -> Result<MessageKey, Error> {
    drive(&mut e.message_data_key(sealed, c), || T0, no_network)
}

#[test]
fn a_message_key_opens_its_message_and_seals_what_the_engine_opens() {
    let e = engine();
    let c = ctx(&[("user", "42")]);
    for form in [Form::Binary, Form::Text] {
        let sealed = e.encrypt_local(b"hello", &c, b"row 7", form, T0).unwrap();
        let key = key_of(&e, &sealed, &c).unwrap();
        assert!(key.can_seal());
        assert_eq!(key.key_ref().unwrap().name, "insecure-test-key");
        for token_form in [Form::Binary, Form::Text] {
            let token = key.token(token_form).unwrap();
            if token_form == Form::Text {
                assert!(token.starts_with(b"dekbox:key:v1:"));
            }
            let k2 = MessageKey::from_token(&token).unwrap();
            assert_eq!(&k2.open(&sealed, &c, b"row 7").unwrap()[..], b"hello");
            assert!(matches!(
                k2.open(&sealed, &c, b"row 8"),
                Err(Error::Authentication)
            ));
            assert!(matches!(
                k2.open(&sealed, &ctx(&[("user", "43")]), b"row 7"),
                Err(Error::Authentication)
            ));
            let up = k2
                .seal(b"upload", &c, b"row 9", Form::Text, &SystemRandom)
                .unwrap();
            assert_eq!(
                &e.decrypt_local(&up, &c, b"row 9", T0).unwrap()[..],
                b"upload"
            );
            assert!(
                e.decrypt_local(&up, &ctx(&[("user", "43")]), b"row 9", T0)
                    .is_err()
            );
        }
    }
}

#[test]
fn the_kms_decides_and_the_commitment_is_checked() {
    let e = engine();
    let c = ctx(&[("user", "42")]);
    let a = e.encrypt_local(b"a", &c, b"", Form::Binary, T0).unwrap();
    // Wrong context: the provider refuses to unwrap.
    let cold = engine();
    assert!(matches!(
        key_of(&cold, &a, &ctx(&[("user", "43")])),
        Err(Error::Authentication)
    ));
    // A header whose salt/commitment does not belong to its wrapped key.
    let mut swapped = a.clone();
    swapped[40] ^= 1;
    assert!(matches!(
        key_of(&cold, &swapped, &c),
        Err(Error::Authentication)
    ));
    // Not a message.
    assert!(matches!(
        key_of(&cold, b"plain", &c),
        Err(Error::Malformed(_))
    ));
    // A reserved context is refused.
    let reserved = dekbox_core::kat::data_key_context(&c).unwrap();
    assert!(matches!(
        key_of(&cold, &a, &reserved),
        Err(Error::ApiMisuse(_))
    ));
}

#[test]
fn json_envelopes_have_no_message_key() {
    let e = Engine::builder()
        .key(dekbox_core::provider::LocalProvider::insecure_test_key())
        .options(dekbox_core::Options {
            accept_json: true,
            ..Default::default()
        })
        .build()
        .unwrap();
    let c = ctx(&[("user", "1")]);
    let j = e.encrypt_local(b"x", &c, b"", Form::Json, T0).unwrap();
    assert!(matches!(key_of(&e, &j, &c), Err(Error::ApiMisuse(_))));
}

#[test]
fn new_message_keys_are_message_domain_keys() {
    let e = engine();
    let c = ctx(&[("upload", "u1")]);
    let before = e.cache_stats().provider_calls;
    let key = drive(&mut *e.new_message_data_key(&c), || T0, no_network).unwrap();
    assert_eq!(e.cache_stats().provider_calls, before + 1);
    let m1 = key
        .seal(b"one", &c, b"", Form::Binary, &SystemRandom)
        .unwrap();
    let m2 = key
        .seal(b"two", &c, b"", Form::Binary, &SystemRandom)
        .unwrap();
    assert_eq!(&e.decrypt_local(&m1, &c, b"", T0).unwrap()[..], b"one");
    assert_eq!(&e.decrypt_local(&m2, &c, b"", T0).unwrap()[..], b"two");
    // One salt per key object, a fresh nonce per message.
    assert_eq!(m1[5..37], m2[5..37]);
    assert_ne!(m1[69..81], m2[69..81]);
    // The generic unwrap still refuses a message's data key.
    let token = key.token(Form::Binary).unwrap();
    let section = &token[4 + 32..];
    let wrapped = &section[5 + "insecure-test-key".len()..];
    assert!(
        drive(
            &mut *e.unwrap_data_key(wrapped, &c, None),
            || T0,
            no_network
        )
        .is_err()
    );
}

#[test]
fn tokens_are_checked() {
    let e = engine();
    let c = ctx(&[("user", "1")]);
    let sealed = e.encrypt_local(b"x", &c, b"", Form::Binary, T0).unwrap();
    let key = key_of(&e, &sealed, &c).unwrap();
    let bin = key.token(Form::Binary).unwrap();
    let text = key.token(Form::Text).unwrap();
    for bad in [
        &bin[..bin.len() - 1],
        &bin[..20],
        b"DKK\x02".as_slice(),
        b"dekbox:key:v1:!!!".as_slice(),
        b"dekbox:key:v2:AAAA".as_slice(),
        &text[..text.len() - 3],
        b"".as_slice(),
    ] {
        assert!(
            matches!(MessageKey::from_token(bad), Err(Error::Malformed(_))),
            "{bad:?}"
        );
    }
    let mut longer = bin.to_vec();
    longer.push(0);
    assert!(MessageKey::from_token(&longer).is_err());
    let mut v2 = bin.to_vec();
    v2[3] = 2;
    assert!(matches!(
        MessageKey::from_token(&v2),
        Err(Error::Malformed(_))
    ));
    // Surrounding whitespace is fine in text form.
    let mut padded = b"  ".to_vec();
    padded.extend_from_slice(&text);
    padded.push(b'\n');
    assert!(MessageKey::from_token(&padded).is_ok());
    // Debug names the key, never its bytes.
    let dbg = format!("{key:?}");
    assert!(dbg.contains("insecure-test-key") && !dbg.contains(&format!("{:?}", &bin[4..8])));
}

#[test]
fn a_bare_data_key_opens_but_cannot_seal() {
    let e = engine();
    let c = ctx(&[("user", "1")]);
    let sealed = e.encrypt_local(b"x", &c, b"", Form::Binary, T0).unwrap();
    let token = key_of(&e, &sealed, &c)
        .unwrap()
        .token(Form::Binary)
        .unwrap();
    let bare = MessageKey::from_data_key(DataKey::from_slice(&token[4..36]).unwrap());
    assert_eq!(&bare.open(&sealed, &c, b"").unwrap()[..], b"x");
    assert!(!bare.can_seal());
    assert!(matches!(
        bare.seal(b"y", &c, b"", Form::Binary, &SystemRandom),
        Err(Error::ApiMisuse(_))
    ));
    assert!(bare.token(Form::Text).is_err());
    let other = MessageKey::from_data_key(DataKey::from_slice(&[7; 32]).unwrap());
    assert!(matches!(
        other.open(&sealed, &c, b""),
        Err(Error::Authentication)
    ));
}

#[test]
fn external_open_checks_the_commitment_and_gives_what_aes_gcm_needs() {
    use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};
    let e = engine();
    let c = ctx(&[("t", "1")]);
    let sealed = e
        .encrypt_local(b"large enough", &c, b"aad", Form::Binary, T0)
        .unwrap();
    let key = key_of(&e, &sealed, &c).unwrap();
    let parts = key.external_open(&sealed, &c, b"aad").unwrap();
    let aes = key.external_key(&parts);
    let k = LessSafeKey::new(UnboundKey::new(&AES_256_GCM, &aes[..]).unwrap());
    let mut buf = parts.ciphertext_and_tag().to_vec();
    let pt = k
        .open_in_place(
            Nonce::assume_unique_for_key(*parts.nonce()),
            Aad::from(parts.associated_data()),
            &mut buf,
        )
        .unwrap();
    assert_eq!(pt, b"large enough");
    let other = MessageKey::from_data_key(DataKey::from_slice(&[7; 32]).unwrap());
    assert!(matches!(
        other.external_open(&sealed, &c, b"aad"),
        Err(Error::Authentication)
    ));
}

#[test]
fn the_empty_context_gets_no_message_key() {
    let e = engine();
    let empty = ctx(&[]);
    let sealed = e
        .encrypt_local(b"x", &empty, b"", Form::Binary, T0)
        .unwrap();
    assert!(matches!(
        key_of(&e, &sealed, &empty),
        Err(Error::ApiMisuse(_))
    ));
    assert!(matches!(
        drive(&mut *e.new_message_data_key(&empty), || T0, no_network),
        Err(Error::ApiMisuse(_))
    ));
    let c = ctx(&[("user", "1")]);
    let key = drive(&mut *e.new_message_data_key(&c), || T0, no_network).unwrap();
    assert!(matches!(
        key.seal(b"x", &empty, b"", Form::Binary, &SystemRandom),
        Err(Error::ApiMisuse(_))
    ));
}

#[test]
fn a_handed_out_key_never_seals_the_servers_later_messages() {
    let e = engine();
    let c = ctx(&[("user", "1")]);
    let before = e.encrypt_local(b"a", &c, b"", Form::Binary, T0).unwrap();
    let also_before = e.encrypt_local(b"b", &c, b"", Form::Binary, T0).unwrap();
    let key = key_of(&e, &before, &c).unwrap();
    let after = e.encrypt_local(b"c", &c, b"", Form::Binary, T0).unwrap();
    assert_eq!(e.cache_stats().data_keys_generated, 2);
    assert_eq!(&key.open(&also_before, &c, b"").unwrap()[..], b"b");
    assert!(matches!(
        key.open(&after, &c, b""),
        Err(Error::Authentication)
    ));
    assert_eq!(&e.decrypt_local(&after, &c, b"", T0).unwrap()[..], b"c");
}

#[test]
fn a_warm_decrypt_cache_still_checks_the_commitment() {
    let e = engine();
    let c = ctx(&[("user", "1")]);
    let sealed = e.encrypt_local(b"x", &c, b"", Form::Binary, T0).unwrap();
    e.decrypt_local(&sealed, &c, b"", T0).unwrap();
    let misses = e.cache_stats().decrypt_misses;
    let mut tampered = sealed.clone();
    tampered[50] ^= 1; // commitment
    assert!(matches!(
        key_of(&e, &tampered, &c),
        Err(Error::Authentication)
    ));
    assert!(key_of(&e, &sealed, &c).is_ok());
    assert_eq!(
        e.cache_stats().decrypt_misses,
        misses,
        "both through the cache"
    );
}

#[test]
fn other_domains_keys_and_legacy_input_never_export() {
    // A message sealed under a raw data key (Active Record's) with its own
    // token as the key section: commitment and tag are right, so only the
    // purpose entry (domain separation at the provider) can refuse it.
    let e = engine();
    let c = ctx(&[("user", "1")]);
    let raw = drive(&mut e.raw_data_key(&c), || T0, no_network).unwrap();
    let mut token = b"DKK\x01".to_vec();
    token.extend_from_slice(raw.key.dangerous_bytes());
    token.extend_from_slice(&raw.token);
    let forged = MessageKey::from_token(&token)
        .unwrap()
        .seal(b"x", &c, b"", Form::Binary, &SystemRandom)
        .unwrap();
    assert_eq!(
        &MessageKey::from_token(&token)
            .unwrap()
            .open(&forged, &c, b"")
            .unwrap()[..],
        b"x"
    );
    assert!(matches!(
        key_of(&engine(), &forged, &c),
        Err(Error::Authentication)
    ));
    assert!(engine().decrypt_local(&forged, &c, b"", T0).is_err());
    // With the legacy fallback on, input in no dekbox form is not sent to the
    // KMS's direct decrypt.
    let legacy = Engine::builder()
        .key(dekbox_core::provider::LocalProvider::insecure_test_key())
        .options(dekbox_core::Options {
            legacy_fallback: true,
            ..Default::default()
        })
        .build()
        .unwrap();
    let before = legacy.cache_stats().provider_calls;
    assert!(matches!(
        key_of(&legacy, b"legacy value", &c),
        Err(Error::Malformed(_))
    ));
    assert_eq!(legacy.cache_stats().provider_calls, before);
}

#[test]
fn a_message_key_seals_at_most_its_limit() {
    let e = engine();
    let c = ctx(&[("user", "1")]);
    let key = drive(&mut *e.new_message_data_key(&c), || T0, no_network).unwrap();
    let limit = dekbox_core::message_key::MESSAGE_KEY_SEAL_LIMIT;
    for _ in 0..limit {
        key.seal(b"", &c, b"", Form::Binary, &SystemRandom).unwrap();
    }
    assert!(matches!(
        key.seal(b"", &c, b"", Form::Binary, &SystemRandom),
        Err(Error::ApiMisuse(_))
    ));
}
