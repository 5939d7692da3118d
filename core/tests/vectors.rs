//! Known-answer vectors for format v1: `tests/vectors/format-v1.json`.
//!
//! The vectors are written by the engine that ships (fixed randomness, see
//! `generate`), and every binding re-derives the same bytes from the same
//! inputs. The wrapped data keys are genuine `insecure-test-key` wraps, so a
//! binding can also open the vectors through its ordinary decrypt path.
//!
//! Regenerate (only when the format changes, which needs a new version):
//! `DEKBOX_WRITE_VECTORS=1 cargo test -p dekbox-core --test vectors`.

mod common;

use base64::Engine as _;
use common::*;
use dekbox_core::format::{Form, KeyRef, KeyRefKind};
use dekbox_core::kat;
use dekbox_core::keyring::Keyring;
use dekbox_core::op::{drive, no_network};
use dekbox_core::provider::{KeyProvider, LocalProvider};
use dekbox_core::random::{InsecureDeterministicRandom, SecureRandom};
use dekbox_core::{DataKey, EncryptionContext, Engine, Options};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

const PATH: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../tests/vectors/format-v1.json"
);

struct Case {
    name: &'static str,
    key_ref: (KeyRefKind, &'static str),
    context: &'static [(&'static str, &'static str)],
    aad: &'static [u8],
    plaintext: Vec<u8>,
    form: Form,
}

fn cases() -> Vec<Case> {
    let uri = (KeyRefKind::Uri, "insecure-test-key");
    vec![
        Case {
            name: "empty plaintext, empty context, no aad",
            key_ref: uri,
            context: &[],
            aad: b"",
            plaintext: vec![],
            form: Form::Binary,
        },
        Case {
            name: "one byte",
            key_ref: uri,
            context: &[],
            aad: b"",
            plaintext: vec![0x2a],
            form: Form::Binary,
        },
        Case {
            name: "tenant context and row aad",
            key_ref: uri,
            context: &[("tenant", "acme")],
            aad: b"users/42/email",
            plaintext: b"alice@example.com".to_vec(),
            form: Form::Binary,
        },
        Case {
            name: "several context entries, unicode",
            key_ref: uri,
            context: &[
                ("region", "eu"),
                ("tenant", "b\u{fc}cher"),
                ("app", "ledger"),
            ],
            aad: b"",
            plaintext: "gr\u{fc}\u{df} gott".as_bytes().to_vec(),
            form: Form::Binary,
        },
        Case {
            name: "keyring label v1",
            key_ref: (KeyRefKind::Label, "v1"),
            context: &[("tenant", "acme")],
            aad: b"",
            plaintext: b"rotated".to_vec(),
            form: Form::Binary,
        },
        Case {
            name: "1000 bytes",
            key_ref: uri,
            context: &[],
            aad: b"\x00\x01\x02",
            plaintext: (0..1000u32).map(|i| (i % 256) as u8).collect(),
            form: Form::Binary,
        },
        Case {
            name: "json compatibility envelope",
            key_ref: uri,
            context: &[("tenant", "acme")],
            aad: b"",
            plaintext: b"legacy shape".to_vec(),
            form: Form::Json,
        },
    ]
}

fn hex(b: &[u8]) -> String {
    hex::encode(b)
}

fn unhex(v: &Value) -> Vec<u8> {
    hex::decode(v.as_str().expect("hex string")).expect("valid hex")
}

fn context_of(v: &Value) -> EncryptionContext {
    let m: BTreeMap<String, String> = serde_json::from_value(v.clone()).unwrap();
    EncryptionContext::from_map(m).unwrap()
}

/// Records everything a generator hands out, so the vectors can list the
/// data key, salt and nonce the engine drew.
struct Recording {
    inner: InsecureDeterministicRandom,
    drawn: Mutex<Vec<Vec<u8>>>,
}

impl SecureRandom for Recording {
    fn fill(&self, dest: &mut [u8]) -> dekbox_core::Result<()> {
        self.inner.fill(dest)?;
        self.drawn.lock().unwrap().push(dest.to_vec());
        Ok(())
    }
}

/// Generates the vectors with the engine that ships: fixed randomness, no
/// caching (every message draws a fresh data key), the test key named by URI
/// or as label `v1`. The engine draws, in order: the data key (32), the local
/// wrap's salt and nonce (44), the message salt (32) and nonce (12).
fn generate() -> Value {
    let rng = Arc::new(Recording {
        inner: InsecureDeterministicRandom::from_seed(*b"dekbox format v1 known answers!!"),
        drawn: Mutex::new(Vec::new()),
    });
    let engine = |kind: KeyRefKind| {
        let k: Arc<dyn KeyProvider> = Arc::new(LocalProvider::insecure_test_key());
        let keyring = match kind {
            KeyRefKind::Label => Keyring::builder().add("v1", k).build().unwrap(),
            _ => Keyring::single(k),
        };
        Engine::builder()
            .keyring(keyring)
            .rng(rng.clone())
            .cache(dekbox_core::cache::CacheConfig::disabled())
            .build()
            .unwrap()
    };
    let mut out = vec![];
    for case in cases() {
        let c = ctx(case.context);
        rng.drawn.lock().unwrap().clear();
        let sealed = engine(case.key_ref.0)
            .encrypt_local(&case.plaintext, &c, case.aad, case.form, T0)
            .unwrap();
        let drawn = rng.drawn.lock().unwrap().clone();
        assert_eq!(
            drawn.iter().map(Vec::len).collect::<Vec<_>>(),
            [32, 44, 32, 12],
            "{}: the engine's draws",
            case.name
        );
        let dek = DataKey::from_slice(&drawn[0]).unwrap();
        let salt: [u8; 32] = drawn[2].clone().try_into().unwrap();
        let nonce: [u8; 12] = drawn[3].clone().try_into().unwrap();
        let mut v = json!({
            "name": case.name,
            "form": if case.form == Form::Json { "json" } else { "binary+text" },
            "key_ref_kind": if case.key_ref.0 == KeyRefKind::Label { "label" } else { "uri" },
            "key_ref": case.key_ref.1,
            "dek": hex(dek.dangerous_bytes()),
            "nonce": hex(&nonce),
            "context": c.as_map(),
            "aad": hex(case.aad),
            "plaintext": hex(&case.plaintext),
        });
        if case.form == Form::Json {
            let json = String::from_utf8(sealed).unwrap();
            let env: Value = serde_json::from_str(&json).unwrap();
            let wrapped = base64::engine::general_purpose::STANDARD
                .decode(env["encryptedDek"].as_str().unwrap())
                .unwrap();
            v["wrapped_dek"] = json!(hex(&wrapped));
            v["json"] = json!(json);
        } else {
            let msg = dekbox_core::format::parse(&sealed, 1 << 20).unwrap();
            let key_ref = KeyRef {
                kind: case.key_ref.0,
                name: case.key_ref.1,
            };
            let text = kat::seal_with_parts(
                &dek,
                &salt,
                &nonce,
                key_ref,
                msg.wrapped_dek,
                &c,
                case.aad,
                &case.plaintext,
                Form::Text,
            )
            .unwrap();
            v["wrapped_dek"] = json!(hex(msg.wrapped_dek));
            v["salt"] = json!(hex(&salt));
            v["commitment"] = json!(hex(&kat::commitment(&dek, &salt)));
            v["binary"] = json!(hex(&sealed));
            v["text"] = json!(String::from_utf8(text).unwrap());
        }
        out.push(v);
    }
    // Failure cases derived from vector 2 ("tenant context and row aad").
    let base = &out[2];
    let bin = unhex(&base["binary"]);
    let flip = |i: usize| {
        let mut m = bin.clone();
        m[i] ^= 0x01;
        hex(&m)
    };
    let last = bin.len() - 1;
    let set = |i: usize, b: u8| {
        let mut m = bin.clone();
        m[i] = b;
        hex(&m)
    };
    let bad_version = set(3, 2);
    let bad_suite = set(4, 0x7f);
    let huge_len = {
        let mut m = bin.clone();
        m[82] = 0xff;
        m[83] = 0xff;
        hex(&m)
    };
    let unknown_label = set(84, bin[84] ^ 0x20);
    let invalid = json!([
        {"name": "tag bit flipped", "binary": flip(last), "context": base["context"], "aad": base["aad"], "error": "AUTHENTICATION"},
        {"name": "ciphertext bit flipped", "binary": flip(last - 16), "context": base["context"], "aad": base["aad"], "error": "AUTHENTICATION"},
        {"name": "nonce bit flipped", "binary": flip(70), "context": base["context"], "aad": base["aad"], "error": "AUTHENTICATION"},
        {"name": "salt bit flipped (commitment fails)", "binary": flip(5), "context": base["context"], "aad": base["aad"], "error": "AUTHENTICATION"},
        {"name": "commitment bit flipped", "binary": flip(40), "context": base["context"], "aad": base["aad"], "error": "AUTHENTICATION"},
        {"name": "wrong context", "binary": base["binary"], "context": {"tenant": "other"}, "aad": base["aad"], "error": "AUTHENTICATION"},
        {"name": "wrong aad", "binary": base["binary"], "context": base["context"], "aad": hex(b"users/43/email"), "error": "AUTHENTICATION"},
        {"name": "truncated inside the header", "binary": hex(&bin[..60]), "context": base["context"], "aad": base["aad"], "error": "MALFORMED"},
        {"name": "last 4 bytes cut off", "binary": hex(&bin[..bin.len() - 4]), "context": base["context"], "aad": base["aad"], "error": "AUTHENTICATION"},
        {"name": "unsupported version", "binary": bad_version, "context": base["context"], "aad": base["aad"], "error": "MALFORMED"},
        {"name": "unsupported suite", "binary": bad_suite, "context": base["context"], "aad": base["aad"], "error": "MALFORMED"},
        {"name": "key reference length beyond input", "binary": huge_len, "context": base["context"], "aad": base["aad"], "error": "MALFORMED"},
        {"name": "not a dekbox value", "binary": hex(b"hello"), "context": {}, "aad": "", "error": "MALFORMED"},
        {"name": "unknown key label", "binary": unknown_label, "context": base["context"], "aad": base["aad"], "error": "UNKNOWN_KEY"},
    ]);
    json!({
        "format": "dekbox message format v1",
        "about": "Known-answer vectors. Every wrapped_dek is a genuine wrap under the key 'insecure-test-key' (see docs/FORMAT.md), of a message's data key under the context plus the reserved entry dekbox:purpose=data-key, of a JSON envelope's under the context alone; label 'v1' names that same key. 'dek', 'salt' and 'nonce' are normally random and are given here so implementations can reproduce 'binary' and 'text' byte for byte. Invalid cases are decrypted with a keyring holding 'insecure-test-key' unlabelled and as label 'v1'; 'error' is the dekbox error code.",
        "key_uri": "insecure-test-key",
        "vectors": out,
        "invalid": invalid,
    })
}

fn engine_for_vectors() -> Engine {
    let k: Arc<dyn KeyProvider> = Arc::new(LocalProvider::insecure_test_key());
    // Both how headers name the key: by URI (unlabelled) and by label v1.
    let keyring = Keyring::builder().add("v1", k).build().unwrap();
    Engine::builder()
        .keyring(keyring)
        .options(Options {
            accept_json: true,
            ..Options::default()
        })
        .build()
        .unwrap()
}

#[test]
fn vectors_re_derive_byte_for_byte() {
    if std::env::var_os("DEKBOX_WRITE_VECTORS").is_some() {
        let v = generate();
        std::fs::create_dir_all(std::path::Path::new(PATH).parent().unwrap()).unwrap();
        std::fs::write(PATH, serde_json::to_string_pretty(&v).unwrap() + "\n").unwrap();
    }
    let file: Value =
        serde_json::from_str(&std::fs::read_to_string(PATH).expect("vectors file")).unwrap();
    // The committed file is exactly what the generator produces.
    assert_eq!(
        file,
        generate(),
        "tests/vectors/format-v1.json differs from its generator"
    );

    let vectors = file["vectors"].as_array().unwrap();
    assert_eq!(vectors.len(), cases().len());
    let kek = LocalProvider::insecure_test_key();
    for v in vectors {
        let name = v["name"].as_str().unwrap();
        let dek = DataKey::from_slice(&unhex(&v["dek"])).unwrap();
        let nonce: [u8; 12] = unhex(&v["nonce"]).try_into().unwrap();
        let wrapped = unhex(&v["wrapped_dek"]);
        let c = context_of(&v["context"]);
        let aad = unhex(&v["aad"]);
        let pt = unhex(&v["plaintext"]);
        let kind = if v["key_ref_kind"] == "label" {
            KeyRefKind::Label
        } else {
            KeyRefKind::Uri
        };
        let key_ref = KeyRef {
            kind,
            name: v["key_ref"].as_str().unwrap(),
        };

        // The wrapped key is a real wrap of the DEK under the test key, bound
        // to the context plus the purpose entry (messages) or the context
        // alone (JSON envelopes), and to nothing else.
        let (wrap_ctx, other_ctx) = if v["form"] == "json" {
            (c.clone(), kat::data_key_context(&c).unwrap())
        } else {
            (kat::data_key_context(&c).unwrap(), c.clone())
        };
        let unwrapped = drive(&mut *kek.unwrap(&wrapped, &wrap_ctx), || T0, no_network).unwrap();
        assert_eq!(unwrapped.dangerous_bytes(), dek.dangerous_bytes(), "{name}");
        assert!(
            drive(&mut *kek.unwrap(&wrapped, &other_ctx), || T0, no_network).is_err(),
            "{name}"
        );

        if v["form"] == "json" {
            let expect = v["json"].as_str().unwrap();
            let json = kat::seal_with_parts(
                &dek,
                &[0; 32],
                &nonce,
                key_ref,
                &wrapped,
                &c,
                &aad,
                &pt,
                Form::Json,
            )
            .unwrap();
            assert_eq!(std::str::from_utf8(&json).unwrap(), expect, "{name}");
            assert_eq!(
                engine_for_vectors()
                    .decrypt_local(expect.as_bytes(), &c, &aad, T0)
                    .unwrap(),
                pt,
                "{name}"
            );
            continue;
        }
        let salt: [u8; 32] = unhex(&v["salt"]).try_into().unwrap();
        assert_eq!(
            hex(&kat::commitment(&dek, &salt)),
            v["commitment"].as_str().unwrap(),
            "{name}"
        );
        let bin = kat::seal_with_parts(
            &dek,
            &salt,
            &nonce,
            key_ref,
            &wrapped,
            &c,
            &aad,
            &pt,
            Form::Binary,
        )
        .unwrap();
        assert_eq!(hex(&bin), v["binary"].as_str().unwrap(), "{name}: binary");
        let text = kat::seal_with_parts(
            &dek,
            &salt,
            &nonce,
            key_ref,
            &wrapped,
            &c,
            &aad,
            &pt,
            Form::Text,
        )
        .unwrap();
        assert_eq!(
            std::str::from_utf8(&text).unwrap(),
            v["text"].as_str().unwrap(),
            "{name}: text"
        );
        // Opened by the known DEK and by the ordinary engine path.
        assert_eq!(
            kat::open_with_dek(&dek, &bin, &c, &aad).unwrap(),
            pt,
            "{name}"
        );
        let e = engine_for_vectors();
        assert_eq!(e.decrypt_local(&bin, &c, &aad, T0).unwrap(), pt, "{name}");
        assert_eq!(e.decrypt_local(&text, &c, &aad, T0).unwrap(), pt, "{name}");
    }
}

#[test]
fn invalid_vectors_fail_with_their_error_code() {
    let file: Value = serde_json::from_str(&std::fs::read_to_string(PATH).unwrap()).unwrap();
    let e = engine_for_vectors();
    for v in file["invalid"].as_array().unwrap() {
        let name = v["name"].as_str().unwrap();
        let err = e
            .decrypt_local(
                &unhex(&v["binary"]),
                &context_of(&v["context"]),
                &unhex(&v["aad"]),
                T0,
            )
            .expect_err(name);
        assert_eq!(err.code(), v["error"].as_str().unwrap(), "{name}: {err:?}");
    }
}
