//! The browser package in real headless Chromium (wasm-bindgen-test-runner
//! with Debian's chromium and chromedriver; see scripts/suites/80-browser.sh).

#![cfg(target_arch = "wasm32")]

use dekbox_wasm::{DataKey, open_with_data_key, seal_with_data_key};
use js_sys::{Array, JsString, Object, Promise, Reflect, Uint8Array};
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

const VECTORS: &str = include_str!("../../tests/vectors/format-v1.json");

/// Set by the test script: a message sealed by the Rust CLI, its message-key
/// token, and what it was sealed with.
const CLI_MESSAGE: Option<&str> = option_env!("DEKBOX_TEST_CLI_MESSAGE");
const CLI_TOKEN: Option<&str> = option_env!("DEKBOX_TEST_CLI_TOKEN");

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

fn bytes(v: &[u8]) -> JsValue {
    Uint8Array::from(v).into()
}

fn opts(context: &[(&str, &str)], aad: &[u8], text: bool) -> JsValue {
    let o = Object::new();
    let c = Object::new();
    for (k, v) in context {
        Reflect::set(&c, &(*k).into(), &(*v).into()).unwrap();
    }
    Reflect::set(&o, &"context".into(), &c).unwrap();
    Reflect::set(&o, &"aad".into(), &bytes(aad)).unwrap();
    if text {
        Reflect::set(&o, &"text".into(), &true.into()).unwrap();
    }
    o.into()
}

fn json_opts(v: &serde_json::Value) -> JsValue {
    let ctx: Vec<(String, String)> = v["context"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string()))
        .collect();
    let pairs: Vec<(&str, &str)> = ctx.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    opts(&pairs, &hex(v["aad"].as_str().unwrap_or("")), false)
}

fn code(e: &JsValue) -> String {
    Reflect::get(e, &"code".into())
        .unwrap()
        .as_string()
        .unwrap_or_default()
}

fn to_vec(v: &JsValue) -> Vec<u8> {
    v.dyn_ref::<Uint8Array>().expect("a Uint8Array").to_vec()
}

async fn resolved(p: Promise) -> Result<JsValue, JsValue> {
    JsFuture::from(p).await
}

fn vectors() -> serde_json::Value {
    serde_json::from_str(VECTORS).unwrap()
}

#[wasm_bindgen_test]
fn format_v1_vectors_open_with_their_data_key_in_both_forms() {
    let doc = vectors();
    let list = doc["vectors"].as_array().unwrap();
    assert!(list.len() >= 7);
    for v in list {
        let dek = bytes(&hex(v["dek"].as_str().unwrap()));
        let key = DataKey::from_js(&dek).unwrap();
        assert!(!key.can_seal());
        let o = json_opts(v);
        let want = hex(v["plaintext"].as_str().unwrap());
        if v["form"] == "json" {
            // JSON envelopes have no key commitment: not a message a data
            // key opens in the browser.
            let json: JsValue = v["json"].as_str().unwrap().into();
            assert_eq!(
                code(&key.open(&json, &o).unwrap_err()),
                "ERR_DEKBOX_MALFORMED"
            );
            continue;
        }
        let bin = bytes(&hex(v["binary"].as_str().unwrap()));
        assert_eq!(
            to_vec(&key.open(&bin, &o).unwrap().into()),
            want,
            "{}",
            v["name"]
        );
        let text: JsValue = v["text"].as_str().unwrap().into();
        assert_eq!(
            to_vec(&open_with_data_key(&text, &dek, &o).unwrap().into()),
            want
        );
        drop(key);
    }
}

#[wasm_bindgen_test]
fn invalid_vectors_fail_with_the_codes_every_runtime_uses() {
    let doc = vectors();
    let base = doc["vectors"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == "tenant context and row aad")
        .unwrap();
    let key = DataKey::from_js(&bytes(&hex(base["dek"].as_str().unwrap()))).unwrap();
    let mut checked = 0;
    for v in doc["invalid"].as_array().unwrap() {
        let msg = bytes(&hex(v["binary"].as_str().unwrap()));
        let r = key.open(&msg, &json_opts(v));
        if v["error"] == "UNKNOWN_KEY" {
            // The key reference is rewrappable, so not authenticated: a data
            // key opens the message whatever key it names (a keyring would
            // refuse the unknown label first).
            assert_eq!(
                to_vec(&r.unwrap().into()),
                hex(base["plaintext"].as_str().unwrap())
            );
            continue;
        }
        let e = r.err().unwrap_or_else(|| panic!("{} opened", v["name"]));
        let want = format!("ERR_DEKBOX_{}", v["error"].as_str().unwrap());
        assert_eq!(code(&e), want, "{}", v["name"]);
        assert!(e.is_instance_of::<js_sys::Error>());
        checked += 1;
    }
    assert!(checked >= 12);
}

#[wasm_bindgen_test]
fn a_message_sealed_by_the_rust_cli_opens_in_the_browser() {
    let message = CLI_MESSAGE.expect("DEKBOX_TEST_CLI_MESSAGE: run through scripts/test.sh");
    let token = CLI_TOKEN.expect("DEKBOX_TEST_CLI_TOKEN: run through scripts/test.sh");
    let o = opts(&[("user", "42")], b"row 7", false);
    let pt = open_with_data_key(&message.into(), &token.into(), &o).unwrap();
    assert_eq!(to_vec(&pt.into()), b"sealed by the dekbox CLI");
    let key = DataKey::from_js(&token.into()).unwrap();
    assert!(key.can_seal());
    assert!(key.key_name().unwrap().starts_with("local://"));
    let text: String = key.open_text(&message.into(), &o).unwrap().into();
    assert_eq!(text, "sealed by the dekbox CLI");
    // Wrong context, wrong aad: the same code as everywhere.
    let e = key
        .open(&message.into(), &opts(&[("user", "43")], b"row 7", false))
        .unwrap_err();
    assert_eq!(code(&e), "ERR_DEKBOX_AUTHENTICATION");
    let e = key
        .open(&message.into(), &opts(&[("user", "42")], b"row 8", false))
        .unwrap_err();
    assert_eq!(code(&e), "ERR_DEKBOX_AUTHENTICATION");
}

/// Options with the context the CLI token was made for.
fn user() -> JsValue {
    opts(&[("user", "42")], b"", false)
}

fn fresh_token() -> JsValue {
    CLI_TOKEN
        .expect("DEKBOX_TEST_CLI_TOKEN: run through scripts/test.sh")
        .into()
}

#[wasm_bindgen_test]
fn seal_then_open_round_trips_in_both_forms_and_refuses_tampering() {
    let key = DataKey::from_js(&fresh_token()).unwrap();
    for (len, text) in [(0usize, false), (1, true), (1000, false), (70_000, true)] {
        let pt: Vec<u8> = (0..len).map(|i| (i * 7) as u8).collect();
        let o = opts(&[("tenant", "acme")], b"users/9", text);
        let sealed = key.seal(&bytes(&pt), &o).unwrap();
        assert_eq!(sealed.is_string(), text);
        assert_eq!(to_vec(&key.open(&sealed, &o).unwrap().into()), pt);
        // Every single-byte change of a binary message is refused.
        if !text && len > 0 {
            let mut bad = to_vec(&sealed);
            for i in [0, 4, 10, 40, 75, bad.len() - 1] {
                bad[i] ^= 1;
                let e = key.open(&bytes(&bad), &o).unwrap_err();
                let c = code(&e);
                assert!(
                    c == "ERR_DEKBOX_AUTHENTICATION" || c == "ERR_DEKBOX_MALFORMED",
                    "{i}: {c}"
                );
                bad[i] ^= 1;
            }
            // Truncated at every length in the header and just before the end.
            for cut in [0, 3, 50, 81, 90, bad.len() - 1] {
                let e = key.open(&bytes(&bad[..cut]), &o).unwrap_err();
                let c = code(&e);
                assert!(
                    c == "ERR_DEKBOX_MALFORMED" || c == "ERR_DEKBOX_AUTHENTICATION",
                    "{cut}: {c}"
                );
            }
        }
    }
    let one = seal_with_data_key(&"x".into(), &fresh_token(), &user()).unwrap();
    assert_eq!(
        to_vec(
            &open_with_data_key(&one, &fresh_token(), &user())
                .unwrap()
                .into()
        ),
        b"x"
    );
}

#[wasm_bindgen_test]
async fn open_async_uses_web_crypto_for_large_messages_with_the_same_checks() {
    let key = DataKey::from_js(&fresh_token()).unwrap();
    for len in [10usize, 64 * 1024, 1 << 20] {
        let pt: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
        let o = opts(&[("t", "1")], b"aad", false);
        let sealed = key.seal(&bytes(&pt), &o).unwrap();
        let got = resolved(key.open_async(&sealed, &o)).await.unwrap();
        assert_eq!(to_vec(&got), pt, "{len}");
        // Twice: the second time with the CryptoKey kept for this salt.
        let again = resolved(key.open_async(&sealed, &o)).await.unwrap();
        assert_eq!(to_vec(&again).len(), len);
        let e = resolved(key.open_async(&sealed, &opts(&[("t", "2")], b"aad", false)))
            .await
            .unwrap_err();
        assert_eq!(code(&e), "ERR_DEKBOX_AUTHENTICATION", "{len}");
        let mut bad = to_vec(&sealed);
        let last = bad.len() - 1;
        bad[last] ^= 1;
        let e = resolved(key.open_async(&bytes(&bad), &o))
            .await
            .unwrap_err();
        assert_eq!(code(&e), "ERR_DEKBOX_AUTHENTICATION", "{len}");
        // A wrong key fails the commitment before Web Crypto sees anything.
        let other = DataKey::from_js(&bytes(&[9; 32])).unwrap();
        let e = resolved(other.open_async(&sealed, &o)).await.unwrap_err();
        assert_eq!(code(&e), "ERR_DEKBOX_AUTHENTICATION");
    }
}

#[wasm_bindgen_test]
fn open_many_crosses_once_and_checks_each_aad() {
    let key = DataKey::from_js(&fresh_token()).unwrap();
    let c = [("tenant", "acme")];
    let list = Array::new();
    let aads = Array::new();
    for i in 0..50u32 {
        let aad = format!("row {i}");
        let s = key
            .seal(
                &JsValue::from_str(&format!("value {i}")),
                &opts(&c, aad.as_bytes(), true),
            )
            .unwrap();
        list.push(&s);
        aads.push(&JsValue::from_str(&aad));
    }
    let o = opts(&c, b"", false);
    let oo: Object = o.clone().unchecked_into();
    Reflect::delete_property(&oo, &JsValue::from_str("aad")).unwrap();
    Reflect::set(&o, &"aads".into(), &aads).unwrap();
    let out = key.open_many(&list, &o).unwrap();
    assert_eq!(out.length(), 50);
    assert_eq!(to_vec(&out.get(49)), b"value 49");
    aads.set(3, "row 4".into());
    let e = key.open_many(&list, &o).unwrap_err();
    assert_eq!(code(&e), "ERR_DEKBOX_AUTHENTICATION");
}

#[wasm_bindgen_test]
fn bad_arguments_are_type_errors_and_bad_tokens_are_malformed() {
    let token = fresh_token();
    let e = DataKey::from_js(&JsValue::from(5)).err().unwrap();
    assert!(e.is_instance_of::<js_sys::TypeError>());
    assert_eq!(code(&e), "ERR_INVALID_ARG_TYPE");
    let t = token.as_string().unwrap();
    for bad in [
        &t[..t.len() - 2],
        "dekbox:key:v2:AAAA",
        "dekbox:key:v1:@@@@",
        "nonsense",
        "",
    ] {
        let e = DataKey::from_js(&bad.into()).err().unwrap();
        assert_eq!(code(&e), "ERR_DEKBOX_MALFORMED", "{bad:?}");
    }
    let key = DataKey::from_js(&token).unwrap();
    // A misspelt option is refused, never ignored.
    let o = Object::new();
    Reflect::set(&o, &"contxt".into(), &Object::new()).unwrap();
    let e = key.seal(&"x".into(), &o.into()).unwrap_err();
    assert!(e.is_instance_of::<js_sys::TypeError>());
    let o = Object::new();
    Reflect::set(&o, &"context".into(), &"tenant=acme".into()).unwrap();
    assert!(
        key.seal(&"x".into(), &o.into())
            .unwrap_err()
            .is_instance_of::<js_sys::TypeError>()
    );
    // A bare key cannot seal.
    let bare = DataKey::from_js(&bytes(&[1; 32])).unwrap();
    let e = bare.seal(&"x".into(), &JsValue::UNDEFINED).unwrap_err();
    assert_eq!(code(&e), "ERR_DEKBOX_API_MISUSE");
    // Not text.
    let sealed = key.seal(&bytes(&[0xff, 0xfe]), &user()).unwrap();
    assert!(key.open_text(&sealed, &user()).is_err());
    let _: JsString = key
        .open_text(&key.seal(&"ok".into(), &user()).unwrap(), &user())
        .unwrap();
}

#[wasm_bindgen_test]
fn take_wipes_the_callers_copy_and_free_ends_the_key() {
    let t = fresh_token().as_string().unwrap();
    let buf = Uint8Array::from(t.as_bytes());
    let key = DataKey::take(&buf).unwrap();
    assert!(buf.to_vec().iter().all(|&b| b == 0));
    let sealed = key.seal(&"secret".into(), &user()).unwrap();
    assert_eq!(
        to_vec(&key.open(&sealed, &user()).unwrap().into()),
        b"secret"
    );
    drop(key);
}

#[wasm_bindgen_test]
async fn open_many_async_hands_a_batch_to_web_crypto_in_one_call() {
    let key = DataKey::from_js(&fresh_token()).unwrap();
    let c = [("tenant", "acme")];
    let list = Array::new();
    let aads = Array::new();
    for i in 0..40u32 {
        let aad = format!("row {i}");
        let s = key
            .seal(
                &JsValue::from_str(&format!("value {i}")),
                &opts(&c, aad.as_bytes(), false),
            )
            .unwrap();
        list.push(&s);
        aads.push(&JsValue::from_str(&aad));
    }
    let o: JsValue = Object::new().into();
    let ctx = Object::new();
    Reflect::set(&ctx, &"tenant".into(), &"acme".into()).unwrap();
    Reflect::set(&o, &"context".into(), &ctx).unwrap();
    Reflect::set(&o, &"aads".into(), &aads).unwrap();
    // First batch: the key is imported while the batch waits; the second
    // finds it imported and crosses to Web Crypto once.
    for _ in 0..2 {
        let out: Array = resolved(key.open_many_async(&list, &o))
            .await
            .unwrap()
            .unchecked_into();
        assert_eq!(out.length(), 40);
        assert_eq!(to_vec(&out.get(0)), b"value 0");
        assert_eq!(to_vec(&out.get(39)), b"value 39");
    }
    // One altered message fails the batch with the authentication error.
    let mut bad = to_vec(&list.get(7));
    let last = bad.len() - 1;
    bad[last] ^= 1;
    let tampered = list.slice(0, 40);
    tampered.set(7, bytes(&bad));
    let e = resolved(key.open_many_async(&tampered, &o))
        .await
        .unwrap_err();
    assert_eq!(code(&e), "ERR_DEKBOX_AUTHENTICATION");
    // A message under another key fails before Web Crypto (commitment).
    let other = DataKey::from_js(&bytes(&[3; 32])).unwrap();
    let e = resolved(other.open_many_async(&list, &o))
        .await
        .unwrap_err();
    assert_eq!(code(&e), "ERR_DEKBOX_AUTHENTICATION");
    // Swapped aads.
    aads.set(0, "row 1".into());
    let e = resolved(key.open_many_async(&list, &o)).await.unwrap_err();
    assert_eq!(code(&e), "ERR_DEKBOX_AUTHENTICATION");
    // An empty batch is an empty array.
    let empty: Array = resolved(key.open_many_async(&Array::new(), &JsValue::UNDEFINED))
        .await
        .unwrap()
        .unchecked_into();
    assert_eq!(empty.length(), 0);
}

#[wasm_bindgen_test]
fn sealing_needs_a_context() {
    let key = DataKey::from_js(&fresh_token()).unwrap();
    let e = key.seal(&"x".into(), &JsValue::UNDEFINED).unwrap_err();
    assert_eq!(code(&e), "ERR_DEKBOX_API_MISUSE");
    let e = seal_with_data_key(&"x".into(), &fresh_token(), &opts(&[], b"", false)).unwrap_err();
    assert_eq!(code(&e), "ERR_DEKBOX_API_MISUSE");
}
