//! Root keys: tokens, one unwrap per root per engine, compact and
//! deterministic values, blind indexes, isolation, bad input; and the
//! known-answer vectors `tests/vectors/root-v1.json`.
//!
//! Regenerate the vectors (only when the format changes):
//! `DEKBOX_WRITE_VECTORS=1 cargo test -p dekbox-core --test roots`.

mod common;

use common::*;
use dekbox_core::format::Form;
use dekbox_core::keyring::Keyring;
use dekbox_core::op::{drive, no_network};
use dekbox_core::provider::{KeyProvider, LocalProvider};
use dekbox_core::random::InsecureDeterministicRandom;
use dekbox_core::root::RootToken;
use dekbox_core::root::blind::{IndexOptions, Normalize, Slowness};
use dekbox_core::root::value::Mode;
use dekbox_core::{EncryptionContext, Engine, Error, ErrorKind, kat};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::Arc;

const PATH: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/vectors/root-v1.json");
const EMAIL: &[u8] = b"ada@example.com!!"; // 17 bytes

fn keyring() -> Keyring {
    Keyring::single(Arc::new(LocalProvider::insecure_test_key()))
}

fn token(label: &str) -> String {
    let e = Engine::builder().keyring(keyring()).build().unwrap();
    drive(&mut *e.create_root(label, None), || T0, no_network).unwrap()
}

fn engine_with_roots(roots: &[(&str, &str)], primary: Option<&str>) -> Engine {
    let tokens: BTreeMap<String, String> = roots
        .iter()
        .map(|(l, t)| (l.to_string(), t.to_string()))
        .collect();
    Engine::builder()
        .keyring(keyring())
        .roots(tokens, primary.map(String::from))
        .build()
        .unwrap()
}

fn seal(
    e: &Engine,
    mode: Mode,
    pt: &[u8],
    c: &EncryptionContext,
    col: &str,
    aad: &[u8],
    form: Form,
) -> Vec<u8> {
    drive(
        &mut *e.encrypt_root_value(mode, pt, c, col, aad, form),
        || T0,
        no_network,
    )
    .unwrap()
}

fn open(
    e: &Engine,
    v: &[u8],
    c: &EncryptionContext,
    col: &str,
    aad: &[u8],
) -> dekbox_core::Result<Vec<u8>> {
    drive(
        &mut *e.decrypt_root_value(v, c, col, aad),
        || T0,
        no_network,
    )
}

#[test]
fn a_root_token_round_trips_and_names_its_key() {
    let t = token("r1");
    assert!(t.starts_with("dekbox:root:v1:r1:"), "{t}");
    let parsed = RootToken::parse(&t).unwrap();
    assert_eq!(parsed.label(), "r1");
    assert_eq!(parsed.key_ref().name, "insecure-test-key");
    assert_eq!(parsed.encode(), t);
    assert!(t.len() < 200, "a short token: {} chars", t.len());
    // Two roots are different secrets.
    assert_ne!(token("r1"), t);
    for bad in [
        "dekbox:root:v2:r1:AAAA",
        "dekbox:root:v1:r1",
        "dekbox:root:v1:bad label:AAAA",
        "dekbox:root:v1:r1:!!!!",
        "dekbox:root:v1:r1:AQAB",
        "dekbox:v1:abc",
    ] {
        let err = RootToken::parse(bad).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Config, "{bad}: {err:?}");
    }
}

#[test]
fn each_root_is_unwrapped_once() {
    let (t1, t2) = (token("r1"), token("r2"));
    let e = engine_with_roots(&[("r1", &t1), ("r2", &t2)], Some("r2"));
    let c = ctx(&[("tenant", "a")]);
    for i in 0..50u8 {
        let v = seal(
            &e,
            Mode::Compact,
            &[i],
            &c,
            "users.email",
            b"",
            Form::Binary,
        );
        assert_eq!(open(&e, &v, &c, "users.email", b"").unwrap(), [i]);
    }
    assert_eq!(e.cache_stats().provider_calls, 1, "only r2 was used");
    let other = engine_with_roots(&[("r1", &t1)], None);
    let v = seal(&other, Mode::Compact, b"x", &c, "c", b"", Form::Text);
    assert_eq!(open(&e, &v, &c, "c", b"").unwrap(), b"x");
    assert_eq!(e.cache_stats().provider_calls, 2, "then r1, once");
    assert!(e.cached_root(Some("r1")).unwrap().is_some());
    assert_eq!(
        format!("{:?}", e.cached_root(Some("r1")).unwrap().unwrap()),
        "RootKey { label: \"r1\", .. }"
    );
}

#[test]
fn compact_values_are_short_and_open_only_where_they_belong() {
    let t = token("r1");
    let e = engine_with_roots(&[("r1", &t)], None);
    let c = ctx(&[("tenant", "a")]);
    let text = seal(
        &e,
        Mode::Compact,
        EMAIL,
        &c,
        "users.email",
        b"users/42",
        Form::Text,
    );
    assert!(text.starts_with(b"dekbox:c1:"));
    assert!(text.len() <= 100, "{} text characters", text.len());
    assert_eq!(text.len(), 97);
    let bin = seal(
        &e,
        Mode::Compact,
        EMAIL,
        &c,
        "users.email",
        b"users/42",
        Form::Binary,
    );
    assert_eq!(bin.len(), 3 + 1 + 1 + 1 + 2 + 16 + 12 + 17 + 16);
    assert_ne!(
        seal(
            &e,
            Mode::Compact,
            EMAIL,
            &c,
            "users.email",
            b"users/42",
            Form::Binary
        ),
        bin
    );
    for v in [&text, &bin] {
        assert_eq!(open(&e, v, &c, "users.email", b"users/42").unwrap(), EMAIL);
        let auth =
            |r: dekbox_core::Result<Vec<u8>>| assert_eq!(r.unwrap_err(), Error::Authentication);
        auth(open(
            &e,
            v,
            &ctx(&[("tenant", "b")]),
            "users.email",
            b"users/42",
        ));
        auth(open(&e, v, &c, "users.phone", b"users/42"));
        auth(open(&e, v, &c, "users.email", b"users/43"));
        auth(open(&e, v, &ctx(&[]), "users.email", b"users/42"));
    }
    // The same label on another root: the commitment refuses it.
    let impostor = engine_with_roots(&[("r1", &token("r1"))], None);
    assert_eq!(
        open(&impostor, &bin, &c, "users.email", b"users/42").unwrap_err(),
        Error::Authentication
    );
    // An unknown root label is an unknown key.
    let other = engine_with_roots(&[("r9", &token("r9"))], None);
    let err = open(&other, &bin, &c, "users.email", b"users/42").unwrap_err();
    assert_eq!(err.kind(), ErrorKind::UnknownKey);
    // An engine without roots says so.
    let none = Engine::builder().keyring(keyring()).build().unwrap();
    let err = drive(
        &mut *none.encrypt_root_value(Mode::Compact, b"x", &c, "", b"", Form::Binary),
        || T0,
        no_network,
    )
    .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Config);
}

#[test]
fn every_changed_byte_and_every_truncation_is_refused() {
    let t = token("r1");
    let e = engine_with_roots(&[("r1", &t)], None);
    let c = ctx(&[("tenant", "a")]);
    for mode in [Mode::Compact, Mode::Deterministic] {
        let bin = seal(&e, mode, EMAIL, &c, "col", b"", Form::Binary);
        for i in 0..bin.len() {
            for bit in [0x01u8, 0x80] {
                let mut bad = bin.clone();
                bad[i] ^= bit;
                assert!(
                    open(&e, &bad, &c, "col", b"").is_err(),
                    "byte {i} bit {bit:#x}"
                );
            }
        }
        for n in 0..bin.len() {
            let err = open(&e, &bin[..n], &c, "col", b"").unwrap_err();
            assert!(
                matches!(
                    err.kind(),
                    ErrorKind::Malformed | ErrorKind::Authentication | ErrorKind::UnknownKey
                ),
                "{n}: {err:?}"
            );
        }
    }
    let mut text = seal(&e, Mode::Compact, EMAIL, &c, "col", b"", Form::Text);
    text.push(b'!');
    assert_eq!(
        open(&e, &text, &c, "col", b"").unwrap_err().kind(),
        ErrorKind::Malformed
    );
    text.pop();
    text.push(b'A');
    assert!(open(&e, &text, &c, "col", b"").is_err());
    // Oversized: refused before decoding.
    let small = Engine::builder()
        .keyring(keyring())
        .roots([("r1".to_string(), t.clone())].into(), None)
        .options(dekbox_core::Options {
            max_plaintext: 16,
            ..Default::default()
        })
        .build()
        .unwrap();
    let err = drive(
        &mut *small.encrypt_root_value(Mode::Compact, EMAIL, &c, "col", b"", Form::Binary),
        || T0,
        no_network,
    )
    .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Malformed);
    let big = seal(&e, Mode::Compact, &[7u8; 64], &c, "col", b"", Form::Text);
    assert_eq!(
        open(&small, &big, &c, "col", b"").unwrap_err().kind(),
        ErrorKind::Malformed
    );
}

#[test]
fn deterministic_values_are_equal_exactly_when_everything_is() {
    let t = token("r1");
    // Two engines: two processes with the same configuration.
    let (a, b) = (
        engine_with_roots(&[("r1", &t)], None),
        engine_with_roots(&[("r1", &t)], None),
    );
    let c = ctx(&[("tenant", "a")]);
    let v = seal(
        &a,
        Mode::Deterministic,
        EMAIL,
        &c,
        "users.email",
        b"",
        Form::Text,
    );
    assert_eq!(
        seal(
            &b,
            Mode::Deterministic,
            EMAIL,
            &c,
            "users.email",
            b"",
            Form::Text
        ),
        v
    );
    assert_eq!(open(&b, &v, &c, "users.email", b"").unwrap(), EMAIL);
    let others = [
        seal(
            &a,
            Mode::Deterministic,
            b"ada@example.com!?",
            &c,
            "users.email",
            b"",
            Form::Text,
        ),
        seal(
            &a,
            Mode::Deterministic,
            EMAIL,
            &ctx(&[("tenant", "b")]),
            "users.email",
            b"",
            Form::Text,
        ),
        seal(
            &a,
            Mode::Deterministic,
            EMAIL,
            &c,
            "users.backup_email",
            b"",
            Form::Text,
        ),
        seal(
            &a,
            Mode::Deterministic,
            EMAIL,
            &c,
            "users.email",
            b"x",
            Form::Text,
        ),
        seal(
            &engine_with_roots(&[("r1", &token("r1"))], None),
            Mode::Deterministic,
            EMAIL,
            &c,
            "users.email",
            b"",
            Form::Text,
        ),
        seal(&a, Mode::Compact, EMAIL, &c, "users.email", b"", Form::Text),
    ];
    for (i, o) in others.iter().enumerate() {
        assert_ne!(o, &v, "case {i}");
        // Unlinkable: past the fixed prefix (label, and for one root the
        // commitment), no shared nonce or ciphertext bytes.
        assert_ne!(o[o.len() - 40..], v[v.len() - 40..], "case {i}");
    }
}

/// Review finding: a commitment fixed per (root, context, column) let anyone
/// holding the table group values by tenant. It is now a MAC of the nonce.
/// And a root of another engine with the same label gets its own derived
/// keys (the cache is keyed by the unwrapped root, not its label).
#[test]
fn commitments_are_per_value_and_foreign_roots_get_their_own_keys() {
    let e = engine_with_roots(&[("r1", &token("r1"))], None);
    let c = ctx(&[("tenant", "a")]);
    let commitment = |v: &[u8]| v[8..24].to_vec(); // label "r1"
    let (a, b) = (
        seal(&e, Mode::Compact, b"x", &c, "col", b"", Form::Binary),
        seal(&e, Mode::Compact, b"x", &c, "col", b"", Form::Binary),
    );
    assert_ne!(commitment(&a), commitment(&b));
    let (d1, d2) = (
        seal(&e, Mode::Deterministic, b"x", &c, "col", b"", Form::Binary),
        seal(&e, Mode::Deterministic, b"y", &c, "col", b"", Form::Binary),
    );
    assert_ne!(commitment(&d1), commitment(&d2));
    let other = engine_with_roots(&[("r1", &token("r1"))], None);
    seal(&other, Mode::Compact, b"warm", &c, "col", b"", Form::Binary);
    let foreign = other.cached_root(Some("r1")).unwrap().unwrap();
    let w = e
        .seal_root_value(&foreign, Mode::Compact, b"y", &c, "col", b"", Form::Binary)
        .unwrap();
    assert_eq!(open(&other, &w, &c, "col", b"").unwrap(), b"y");
    assert_eq!(
        open(&e, &w, &c, "col", b"").unwrap_err(),
        Error::Authentication
    );
    assert_eq!(open(&e, &a, &c, "col", b"").unwrap(), b"x");
    // A message is not a root-keyed value, and says so.
    let m = e.encrypt_local(b"m", &c, b"", Form::Text, T0).unwrap();
    let err = open(&e, &m, &c, "col", b"").unwrap_err();
    assert!(err.to_string().contains("open it with decrypt"), "{err}");
}

#[test]
fn blind_indexes_are_stable_keyed_and_truncated() {
    let t = token("r1");
    let (a, b) = (
        engine_with_roots(&[("r1", &t)], None),
        engine_with_roots(&[("r1", &t)], None),
    );
    let c = ctx(&[("tenant", "a")]);
    let idx = |e: &Engine, v: &[u8], c: &EncryptionContext, col: &str, o: IndexOptions| {
        drive(&mut *e.blind_index(v, c, col, o, None), || T0, no_network).unwrap()
    };
    let o = IndexOptions {
        bits: 64,
        ..Default::default()
    };
    let x = idx(&a, EMAIL, &c, "email", o);
    assert_eq!(x.len(), 8);
    assert_eq!(idx(&b, EMAIL, &c, "email", o), x);
    assert_ne!(idx(&a, EMAIL, &ctx(&[("tenant", "b")]), "email", o), x);
    assert_ne!(idx(&a, EMAIL, &c, "email2", o), x);
    assert_ne!(
        idx(
            &engine_with_roots(&[("r1", &token("r1"))], None),
            EMAIL,
            &c,
            "email",
            o
        ),
        x
    );
    // Truncation keeps the leading bits and zeroes the rest.
    let full = idx(&a, EMAIL, &c, "email", IndexOptions::default());
    assert_eq!(full.len(), 32);
    assert_eq!(&full[..8], &x[..]);
    let twelve = idx(
        &a,
        EMAIL,
        &c,
        "email",
        IndexOptions {
            bits: 12,
            ..Default::default()
        },
    );
    assert_eq!(twelve, [full[0], full[1] & 0xF0]);
    // Normalization.
    let n = IndexOptions {
        bits: 64,
        normalize: Normalize {
            trim: true,
            casefold: true,
        },
        ..Default::default()
    };
    assert_eq!(
        idx(&a, b"  Ada@Example.COM!! ", &c, "email", n),
        idx(&a, EMAIL, &c, "email", n)
    );
    assert_ne!(idx(&a, b"  Ada@Example.COM!! ", &c, "email", o), x);
    // Argon2id: different from HMAC, stable, slow on purpose.
    let slow = IndexOptions {
        bits: 64,
        slowness: Slowness::Argon2id {
            t_cost: 1,
            m_cost: 64,
        },
        ..Default::default()
    };
    let s = idx(&a, b"1984", &c, "birth_year", slow);
    assert_eq!(idx(&b, b"1984", &c, "birth_year", slow), s);
    assert_ne!(idx(&a, b"1984", &c, "birth_year", o), s);
    assert_ne!(idx(&a, b"1985", &c, "birth_year", slow), s);
    // Bad options are misuse.
    for bits in [0u16, 257] {
        let err = drive(
            &mut *a.blind_index(
                EMAIL,
                &c,
                "email",
                IndexOptions {
                    bits,
                    ..Default::default()
                },
                None,
            ),
            || T0,
            no_network,
        )
        .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::ApiMisuse);
    }
    let err = drive(
        &mut *a.blind_index(&[0xff, 0xfe], &c, "email", n, None),
        || T0,
        no_network,
    )
    .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ApiMisuse);
}

#[test]
fn configuration_errors_are_clear() {
    let t = token("r1");
    let build = |roots: &[(&str, &str)], primary: Option<&str>| {
        let tokens: BTreeMap<String, String> = roots
            .iter()
            .map(|(l, t)| (l.to_string(), t.to_string()))
            .collect();
        Engine::builder()
            .keyring(keyring())
            .roots(tokens, primary.map(String::from))
            .build()
    };
    let msg = |r: dekbox_core::Result<Engine>| r.unwrap_err().to_string();
    assert!(msg(build(&[("r2", &t)], None)).contains("labelled \"r1\""));
    assert!(msg(build(&[("r1", &t), ("r2", &token("r2"))], None)).contains("primary_root"));
    assert!(msg(build(&[("r1", &t)], Some("r3"))).contains("not one of roots"));
    // A root wrapped by a key outside the keyring.
    let foreign = Engine::builder()
        .key(LocalProvider::from_key_bytes("local://env/OTHER", &[9; 32]).unwrap())
        .build()
        .unwrap();
    let ft = drive(&mut *foreign.create_root("r1", None), || T0, no_network).unwrap();
    assert!(msg(build(&[("r1", &ft)], None)).contains("not in the keyring"));
    assert!(!format!("{:?}", RootToken::parse(&t).unwrap()).contains(&t[20..]));
}

// ---- vectors -------------------------------------------------------------

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

fn context_of(v: &Value) -> EncryptionContext {
    EncryptionContext::from_pairs(
        v.as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str().unwrap())),
    )
    .unwrap()
}

fn mode_name(m: Mode) -> &'static str {
    match m {
        Mode::Compact => "compact",
        Mode::Deterministic => "deterministic",
    }
}

type Pairs<'a> = &'a [(&'a str, &'a str)];

fn generate() -> Value {
    let rng = Arc::new(InsecureDeterministicRandom::from_seed(
        *b"dekbox root v1 known answers!!!!",
    ));
    let e = Engine::builder()
        .keyring(keyring())
        .rng(rng)
        .build()
        .unwrap();
    let label = "r1";
    let token = drive(&mut *e.create_root(label, None), || T0, no_network).unwrap();
    let parsed = RootToken::parse(&token).unwrap();
    let wrap_ctx = kat::root_wrap_context(label).unwrap();
    let root = drive(
        &mut *LocalProvider::insecure_test_key().unwrap(parsed.wrapped(), &wrap_ctx),
        || T0,
        no_network,
    )
    .unwrap();
    let root: [u8; 32] = *root.dangerous_bytes();
    let mut values = Vec::new();
    type Case<'a> = (&'a str, Mode, &'a [u8], Pairs<'a>, &'a str, &'a [u8], Form);
    let cases: [Case; 6] = [
        (
            "compact, empty everything",
            Mode::Compact,
            b"",
            &[],
            "",
            b"",
            Form::Binary,
        ),
        (
            "compact email, tenant, column, row aad (text)",
            Mode::Compact,
            EMAIL,
            &[("tenant", "acme")],
            "users.email",
            b"users/42",
            Form::Text,
        ),
        (
            "compact 64 bytes",
            Mode::Compact,
            &[0x41; 64],
            &[("tenant", "acme")],
            "notes.body",
            b"",
            Form::Binary,
        ),
        (
            "deterministic email (text)",
            Mode::Deterministic,
            EMAIL,
            &[("tenant", "acme")],
            "users.email",
            b"",
            Form::Text,
        ),
        (
            "deterministic email, other tenant (text)",
            Mode::Deterministic,
            EMAIL,
            &[("tenant", "globex")],
            "users.email",
            b"",
            Form::Text,
        ),
        (
            "deterministic unicode with aad",
            Mode::Deterministic,
            "Zoë Ünïcödé".as_bytes(),
            &[("tenant", "acme"), ("region", "eu")],
            "users.name",
            b"\x00\x01",
            Form::Binary,
        ),
    ];
    for (i, (name, mode, pt, c, col, aad, form)) in cases.into_iter().enumerate() {
        let nonce = [i as u8 * 17 + 3; 12];
        let c = ctx(c);
        let sealed =
            kat::seal_root_value(&root, label, mode, &nonce, pt, &c, col, aad, form).unwrap();
        values.push(json!({
            "name": name, "mode": mode_name(mode), "plaintext": hex(pt),
            "context": c.iter().collect::<BTreeMap<_, _>>(), "column": col, "aad": hex(aad),
            "nonce": if mode == Mode::Compact { json!(hex(&nonce)) } else { Value::Null },
            "form": if form == Form::Text { "text" } else { "binary" },
            "sealed": if form == Form::Text { json!(String::from_utf8(sealed).unwrap()) } else { json!(hex(&sealed)) },
        }));
    }
    let mut indexes = Vec::new();
    type IdxCase<'a> = (
        &'a str,
        &'a [u8],
        Pairs<'a>,
        &'a str,
        u16,
        Normalize,
        Slowness,
    );
    let idx_cases: [IdxCase; 5] = [
        (
            "email, 256 bits",
            EMAIL,
            &[("tenant", "acme")],
            "users.email",
            256,
            Normalize::default(),
            Slowness::Hmac,
        ),
        (
            "email, 32 bits, trimmed and case-folded",
            b"  Ada@Example.com!! ",
            &[("tenant", "acme")],
            "users.email",
            32,
            Normalize {
                trim: true,
                casefold: true,
            },
            Slowness::Hmac,
        ),
        (
            "12 bits",
            b"555-0100",
            &[],
            "users.phone",
            12,
            Normalize::default(),
            Slowness::Hmac,
        ),
        (
            "unicode case folding",
            "ÅNGSTRÖM".as_bytes(),
            &[],
            "labs.name",
            64,
            Normalize {
                trim: false,
                casefold: true,
            },
            Slowness::Hmac,
        ),
        (
            "argon2id t=1 m=64",
            b"1984",
            &[("tenant", "acme")],
            "users.birth_year",
            64,
            Normalize::default(),
            Slowness::Argon2id {
                t_cost: 1,
                m_cost: 64,
            },
        ),
    ];
    for (name, value, c, col, bits, normalize, slowness) in idx_cases {
        let c = ctx(c);
        let o = IndexOptions {
            bits,
            normalize,
            slowness,
        };
        let index = kat::blind_index(&root, label, value, &c, col, &o).unwrap();
        indexes.push(json!({
            "name": name, "value": hex(value), "context": c.iter().collect::<BTreeMap<_, _>>(),
            "column": col, "bits": bits, "trim": normalize.trim, "casefold": normalize.casefold,
            "argon2id": match slowness { Slowness::Hmac => Value::Null, Slowness::Argon2id { t_cost, m_cost } => json!({"t_cost": t_cost, "m_cost": m_cost}) },
            "index": hex(&index),
        }));
    }
    let external: Vec<Value> = [(&[][..], ""), (&[("tenant", "acme")][..], "users.email")]
        .into_iter()
        .map(|(c, col)| {
            let c = ctx(c);
            let k = kat::external_key(&root, label, &c, col).unwrap();
            json!({"context": c.iter().collect::<BTreeMap<_, _>>(), "column": col, "key": hex(&k)})
        })
        .collect();
    json!({
        "external_keys": external,
        "format": "dekbox root keys v1: root tokens, root-keyed values (compact, deterministic), blind indexes",
        "about": "The root token is a genuine wrap under the key 'insecure-test-key' (see docs/FORMAT.md) of 'root' under the context {dekbox:purpose: root-key, dekbox:root: r1}; an engine configured with roots={r1: token} opens every value. 'nonce' (compact only) is normally random. Blind indexes are hex. 'external_keys' are the keys handed to Active Record's deterministic encryption (purpose 'external').",
        "root_label": label, "root_token": token, "root": hex(&root),
        "values": values, "blind_indexes": indexes,
    })
}

#[test]
fn vectors_match_and_open_through_the_engine() {
    let fresh = generate();
    if std::env::var_os("DEKBOX_WRITE_VECTORS").is_some() {
        std::fs::write(PATH, serde_json::to_string_pretty(&fresh).unwrap() + "\n").unwrap();
    }
    let stored: Value = serde_json::from_str(&std::fs::read_to_string(PATH).unwrap()).unwrap();
    assert_eq!(stored, fresh, "tests/vectors/root-v1.json is out of date");
    let token = stored["root_token"].as_str().unwrap();
    let e = engine_with_roots(&[("r1", token)], None);
    for v in stored["values"].as_array().unwrap() {
        let sealed = match v["form"].as_str().unwrap() {
            "text" => v["sealed"].as_str().unwrap().as_bytes().to_vec(),
            _ => unhex(v["sealed"].as_str().unwrap()),
        };
        let c = context_of(&v["context"]);
        let pt = open(
            &e,
            &sealed,
            &c,
            v["column"].as_str().unwrap(),
            &unhex(v["aad"].as_str().unwrap()),
        )
        .unwrap();
        assert_eq!(hex(&pt), v["plaintext"].as_str().unwrap(), "{}", v["name"]);
    }
    for v in stored["blind_indexes"].as_array().unwrap() {
        let slowness = match &v["argon2id"] {
            Value::Null => Slowness::Hmac,
            a => Slowness::Argon2id {
                t_cost: a["t_cost"].as_u64().unwrap() as u32,
                m_cost: a["m_cost"].as_u64().unwrap() as u32,
            },
        };
        let o = IndexOptions {
            bits: v["bits"].as_u64().unwrap() as u16,
            normalize: Normalize {
                trim: v["trim"].as_bool().unwrap(),
                casefold: v["casefold"].as_bool().unwrap(),
            },
            slowness,
        };
        let value = unhex(v["value"].as_str().unwrap());
        let c = context_of(&v["context"]);
        let got = drive(
            &mut *e.blind_index(&value, &c, v["column"].as_str().unwrap(), o, None),
            || T0,
            no_network,
        )
        .unwrap();
        assert_eq!(hex(&got), v["index"].as_str().unwrap(), "{}", v["name"]);
    }
    for v in stored["external_keys"].as_array().unwrap() {
        let c = context_of(&v["context"]);
        let (label, key) = drive(
            &mut *e.external_key(&c, v["column"].as_str().unwrap(), None),
            || T0,
            no_network,
        )
        .unwrap();
        assert_eq!(label, "r1");
        assert_eq!(hex(&key[..]), v["key"].as_str().unwrap());
    }
    assert_eq!(e.cache_stats().provider_calls, 1);
}
