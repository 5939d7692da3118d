//! Cloud KMS keys through the loopback Cloud KMS (tests/gcp/kms_server.py,
//! proven faithful to Google's client by tests/gcp/test_faithful.py), as
//! `./scripts/test.sh` starts it: `DEKBOX_TEST_GCP_URL`, bearer token
//! `test-token`, keys `a`, `b` and `c` in
//! `projects/dekbox-test/locations/global/keyRings/ring`.
//!
//! Ignored by a plain `cargo test` (no server); never skipped by the script,
//! and a missing server is a failure, not a skip.

use aws_lc_rs::encoding::AsDer;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use dekbox_core::cache::CacheConfig;
use dekbox_core::env::{Environment, MapEnvironment};
use dekbox_core::provider::KeyProvider;
use dekbox_core::provider::gcp::GcpOptions;
use dekbox_core::{EncryptionContext, Error, Form};
use dekbox_transport::{Client, RetryPolicy};
use serde_json::{Value, json};
use std::sync::{Arc, Barrier};
use std::time::Duration;

const RING: &str = "projects/dekbox-test/locations/global/keyRings/ring";

fn url() -> String {
    std::env::var("DEKBOX_TEST_GCP_URL").unwrap_or_else(|_| {
        panic!(
            "DEKBOX_TEST_GCP_URL is not set: run ./scripts/test.sh, which starts the test Cloud KMS"
        )
    })
}

fn key(name: &str) -> String {
    format!("gcp-kms://{RING}/cryptoKeys/{name}")
}

/// The endpoint, and a token as `GOOGLE_OAUTH_ACCESS_TOKEN`.
fn env_with(extra: &[(&str, &str)]) -> Arc<dyn Environment> {
    let url = url();
    let mut vars = vec![("CLOUDSDK_API_ENDPOINT_OVERRIDES_CLOUDKMS", url.as_str())];
    vars.extend_from_slice(extra);
    Arc::new(MapEnvironment::with_vars(&vars))
}

fn env() -> Arc<dyn Environment> {
    env_with(&[("GOOGLE_OAUTH_ACCESS_TOKEN", "test-token")])
}

fn retry() -> RetryPolicy {
    RetryPolicy {
        base_delay: Duration::from_millis(5),
        max_delay: Duration::from_millis(50),
        max_attempts: 4,
        ..RetryPolicy::default()
    }
}

fn client_env(uri: &str, cache: CacheConfig, env: Arc<dyn Environment>) -> Client {
    Client::builder()
        .key(uri)
        .cache(cache)
        .retry(retry())
        .environment(env)
        .build()
        .unwrap()
}

fn client(uri: &str) -> Client {
    client_env(uri, CacheConfig::default(), env())
}

fn ctx(tenant: &str) -> EncryptionContext {
    EncryptionContext::from_pairs([("tenant", tenant)]).unwrap()
}

fn post(path: &str, body: Value) -> Value {
    let r = reqwest::blocking::Client::new()
        .post(format!("{}{path}", url()))
        .header("authorization", "Bearer test-token")
        .json(&body)
        .send()
        .unwrap();
    let status = r.status();
    let v: Value = r.json().unwrap();
    assert!(status.is_success(), "{path}: {status} {v}");
    v
}

fn stats() -> Value {
    reqwest::blocking::get(format!("{}/_test/stats", url()))
        .unwrap()
        .json()
        .unwrap()
}

/// A fresh key for one test (rotation and state changes alter keys).
fn fresh_key() -> (String, String) {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static N: AtomicUsize = AtomicUsize::new(0);
    let id = format!(
        "t{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    );
    let v = post(
        &format!("/v1/{RING}/cryptoKeys?cryptoKeyId={id}"),
        json!({"purpose": "ENCRYPT_DECRYPT"}),
    );
    let name = v["name"].as_str().unwrap().to_string();
    (format!("gcp-kms://{name}"), name)
}

/// Faults for the next calls of a method on one key (`resource`); a
/// serialising lock, since one list of faults is set at a time.
fn with_faults<T>(resource: &str, mut faults: Value, f: impl FnOnce() -> T) -> T {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _g = LOCK.lock().unwrap_or_else(|p| p.into_inner());
    for fault in faults.as_array_mut().unwrap() {
        fault["resource"] = format!("{resource}/").into();
    }
    post("/_test/faults", json!({ "faults": faults }));
    let out = f();
    post("/_test/faults", json!({ "faults": [] }));
    out
}

#[test]
#[ignore = "needs the test Cloud KMS: ./scripts/test.sh starts it"]
fn round_trips_bound_to_the_context() {
    let c = client(&key("a"));
    let sealed = c
        .encrypt(b"hello gcp", &ctx("acme"), b"row 1", Form::Text)
        .unwrap();
    // A fresh client must unwrap through Cloud KMS.
    let reader = client(&key("a"));
    assert_eq!(
        reader.decrypt(&sealed, &ctx("acme"), b"row 1").unwrap(),
        b"hello gcp"
    );
    assert_eq!(reader.cache_stats().provider_calls, 1);
    let e = client(&key("a"))
        .decrypt(&sealed, &ctx("globex"), b"row 1")
        .unwrap_err();
    assert_eq!(e, Error::Authentication);
    // A client of another key is refused by Cloud KMS too (the message names
    // key a, so build a keyring that calls key b by a's name).
    let i = c.engine().inspect(&sealed).unwrap();
    assert_eq!(i.key_ref.map(|(_, n)| n), Some(key("a")));
}

#[test]
#[ignore = "needs the test Cloud KMS: ./scripts/test.sh starts it"]
fn an_explicit_version_encrypts_and_the_key_decrypts() {
    let (uri, name) = fresh_key();
    post(&format!("/v1/{name}/cryptoKeyVersions"), json!({}));
    post(
        &format!("/v1/{name}:updatePrimaryVersion"),
        json!({"cryptoKeyVersionId": "2"}),
    );
    // Pinned to version 1 although 2 is primary.
    let pinned = client_env(
        &format!("{uri}/cryptoKeyVersions/1"),
        CacheConfig::disabled(),
        env(),
    );
    let sealed = pinned.encrypt(b"v1", &ctx("a"), b"", Form::Binary).unwrap();
    let requests: Vec<Value> = reqwest::blocking::get(format!("{}/_test/requests", url()))
        .unwrap()
        .json()
        .unwrap();
    let last = requests
        .iter()
        .rev()
        .find(|r| r["path"].as_str().unwrap().contains(&format!("{name}/")))
        .unwrap();
    assert!(
        last["path"]
            .as_str()
            .unwrap()
            .ends_with("/cryptoKeyVersions/1:encrypt"),
        "{last}"
    );
    // The key URI (no version) opens it; so does the pinned one.
    assert_eq!(
        client(&uri).decrypt(&sealed, &ctx("a"), b"").unwrap(),
        b"v1"
    );
    // Disabling version 1 refuses both directions as KEY_DISABLED.
    let patch = reqwest::blocking::Client::new()
        .patch(format!(
            "{}/v1/{name}/cryptoKeyVersions/1?updateMask=state",
            url()
        ))
        .header("authorization", "Bearer test-token")
        .json(&json!({"state": "DISABLED"}))
        .send()
        .unwrap();
    assert!(patch.status().is_success());
    let e = client(&uri).decrypt(&sealed, &ctx("a"), b"").unwrap_err();
    assert!(matches!(e, Error::KeyDisabled(_)), "{e}");
    let e = pinned
        .encrypt(b"x", &ctx("a"), b"", Form::Binary)
        .unwrap_err();
    assert!(matches!(e, Error::KeyDisabled(_)), "{e}");
    // The primary (version 2) still encrypts.
    assert!(
        client(&uri)
            .encrypt(b"x", &ctx("a"), b"", Form::Binary)
            .is_ok()
    );
    // Destroyed: also KEY_DISABLED.
    post(
        &format!("/v1/{name}/cryptoKeyVersions/2:destroy"),
        json!({}),
    );
    let e = client(&uri)
        .encrypt(b"x", &ctx("a"), b"", Form::Binary)
        .unwrap_err();
    assert!(matches!(e, Error::KeyDisabled(_)), "{e}");
}

#[test]
#[ignore = "needs the test Cloud KMS: ./scripts/test.sh starts it"]
fn google_rpc_errors_reach_callers_typed() {
    let missing = client(&key("nope"));
    let e = missing
        .encrypt(b"x", &ctx("a"), b"", Form::Binary)
        .unwrap_err();
    assert!(matches!(e, Error::KeyNotFound(_)), "{e}");
    let bad_token = client_env(
        &key("a"),
        CacheConfig::default(),
        env_with(&[("GOOGLE_OAUTH_ACCESS_TOKEN", "not-a-token")]),
    );
    let e = bad_token
        .encrypt(b"x", &ctx("a"), b"", Form::Binary)
        .unwrap_err();
    assert!(
        matches!(e, Error::KmsAccessDenied(ref m) if m.contains("UNAUTHENTICATED")),
        "{e}"
    );
    post(
        "/_test/tokens",
        json!({"token": "no-access", "allow": false}),
    );
    let denied = client_env(
        &key("a"),
        CacheConfig::default(),
        env_with(&[("GOOGLE_OAUTH_ACCESS_TOKEN", "no-access")]),
    );
    let e = denied
        .encrypt(b"x", &ctx("a"), b"", Form::Binary)
        .unwrap_err();
    assert!(
        matches!(e, Error::KmsAccessDenied(ref m) if m.contains("PERMISSION_DENIED")),
        "{e}"
    );
    // An explicit token in the options wins over the environment.
    let explicit = Client::builder()
        .key(key("a"))
        .gcp(GcpOptions {
            access_token: Some("test-token".into()),
            ..GcpOptions::default()
        })
        .environment(env_with(&[("GOOGLE_OAUTH_ACCESS_TOKEN", "not-a-token")]))
        .build()
        .unwrap();
    assert!(explicit.encrypt(b"x", &ctx("a"), b"", Form::Binary).is_ok());
    // Throttling and unavailability are retried, then typed.
    let (uri, name) = fresh_key();
    let c = client_env(&uri, CacheConfig::disabled(), env());
    let ok = with_faults(
        &name,
        json!([{"kind": "status", "http": 503, "status": "UNAVAILABLE", "count": 2, "method": "encrypt"}]),
        || c.encrypt(b"x", &ctx("a"), b"", Form::Binary),
    );
    assert!(ok.is_ok(), "{ok:?}");
    let e = with_faults(
        &name,
        json!([{"kind": "status", "http": 429, "status": "RESOURCE_EXHAUSTED", "count": 10, "method": "encrypt"}]),
        || c.encrypt(b"x", &ctx("a"), b"", Form::Binary),
    )
    .unwrap_err();
    assert!(matches!(e, Error::KmsThrottled(_)), "{e}");
    let e = with_faults(
        &name,
        json!([{"kind": "status", "http": 504, "status": "DEADLINE_EXCEEDED", "count": 10, "method": "encrypt"}]),
        || c.encrypt(b"x", &ctx("a"), b"", Form::Binary),
    )
    .unwrap_err();
    assert!(matches!(e, Error::KmsUnavailable(_)), "{e}");
}

#[test]
#[ignore = "needs the test Cloud KMS: ./scripts/test.sh starts it"]
fn corrupted_checksums_are_integrity_errors() {
    let (uri, name) = fresh_key();
    let c = client_env(&uri, CacheConfig::disabled(), env());
    let sealed = c.encrypt(b"x", &ctx("a"), b"", Form::Binary).unwrap();
    for (method, field) in [
        ("encrypt", "ciphertextCrc32c"),
        ("encrypt", "ciphertext"),
        ("encrypt", "verifiedPlaintextCrc32c"),
        ("encrypt", "verifiedAdditionalAuthenticatedDataCrc32c"),
        ("decrypt", "plaintextCrc32c"),
        ("decrypt", "plaintext"),
    ] {
        let call = || {
            if method == "encrypt" {
                c.encrypt(b"x", &ctx("a"), b"", Form::Binary).map(drop)
            } else {
                c.decrypt(&sealed, &ctx("a"), b"").map(drop)
            }
        };
        let r = with_faults(
            &name,
            json!([{"kind": "corrupt", "field": field, "count": 10, "method": method}]),
            call,
        );
        assert!(matches!(r, Err(Error::KmsIntegrity(_))), "{field}: {r:?}");
        // Retried: one corrupted answer is survived.
        let r = with_faults(
            &name,
            json!([{"kind": "corrupt", "field": field, "count": 1, "method": method}]),
            call,
        );
        assert!(r.is_ok(), "{field}: {r:?}");
    }
}

// ---- credentials ---------------------------------------------------------

/// A service account whose public key the token endpoint knows.
struct ServiceAccount {
    _dir: tempfile::TempDir,
    path: String,
}

fn pem(label: &str, der: &[u8]) -> String {
    let b64 = STANDARD.encode(der);
    let lines: Vec<&str> = b64
        .as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect();
    format!(
        "-----BEGIN {label}-----\n{}\n-----END {label}-----\n",
        lines.join("\n")
    )
}

fn service_account(email: &str, registered: bool) -> ServiceAccount {
    use aws_lc_rs::rsa::{KeyPair, KeySize};
    use aws_lc_rs::signature::KeyPair as _;
    let key = KeyPair::generate(KeySize::Rsa2048).unwrap();
    let private = pem("PRIVATE KEY", key.as_der().unwrap().as_ref());
    let public = pem("PUBLIC KEY", key.public_key().as_der().unwrap().as_ref());
    if registered {
        post(
            "/_test/service_accounts",
            json!({"email": email, "public_key_pem": public, "kid": "k1"}),
        );
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sa.json");
    std::fs::write(
        &path,
        json!({
            "type": "service_account",
            "project_id": "dekbox-test",
            "private_key_id": "k1",
            "private_key": private,
            "client_email": email,
            "token_uri": format!("{}/token", url()),
        })
        .to_string(),
    )
    .unwrap();
    ServiceAccount {
        path: path.to_str().unwrap().to_string(),
        _dir: dir,
    }
}

/// A real file system for key files (MapEnvironment serves only variables
/// here), with the given variables.
#[derive(Debug)]
struct FilesAndVars(MapEnvironment);

impl Environment for FilesAndVars {
    fn var(&self, name: &str) -> Option<String> {
        self.0.var(name)
    }
    fn read_file(&self, path: &str) -> Result<zeroize::Zeroizing<Vec<u8>>, String> {
        std::fs::read(path)
            .map(zeroize::Zeroizing::new)
            .map_err(|e| e.to_string())
    }
}

fn sa_env(sa: &ServiceAccount) -> Arc<dyn Environment> {
    let url = url();
    Arc::new(FilesAndVars(MapEnvironment::with_vars(&[
        ("CLOUDSDK_API_ENDPOINT_OVERRIDES_CLOUDKMS", url.as_str()),
        ("GOOGLE_APPLICATION_CREDENTIALS", sa.path.as_str()),
        ("NO_GCE_CHECK", "true"),
    ])))
}

fn token_settings(lifetime: u64, delay: f64) {
    post(
        "/_test/token_settings",
        json!({"lifetime": lifetime, "delay": delay}),
    );
}

/// Tests that count token requests run one at a time.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// The bearer tokens the requests to `name` carried, in order.
fn tokens_used(name: &str) -> Vec<String> {
    reqwest::blocking::get(format!("{}/_test/requests", url()))
        .unwrap()
        .json::<Vec<Value>>()
        .unwrap()
        .into_iter()
        .filter(|r| r["path"].as_str().unwrap().contains(&format!("{name}:")))
        .map(|r| r["headers"]["authorization"].as_str().unwrap().to_string())
        .collect()
}

/// The token endpoint checks the RS256 signature with the public key. With
/// tokens that live eight seconds: 16 concurrent callers after an expiry
/// make one token request (the others wait for it), and 16 callers in the
/// last quarter of a token's life make one refresh while the other 15 use
/// the current token. (The first burst is also deduplicated by the client's
/// warm-up.)
#[test]
#[ignore = "needs the test Cloud KMS: ./scripts/test.sh starts it"]
fn service_account_tokens_refresh_once_under_concurrency() {
    let _g = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let sa = service_account("dekbox-test@dekbox-test.iam.gserviceaccount.com", true);
    token_settings(8, 0.3);
    let (uri, name) = fresh_key();
    let c = Arc::new(client_env(&uri, CacheConfig::disabled(), sa_env(&sa)));
    let tokens = || stats()["token"].as_u64().unwrap();
    let burst = |c: &Arc<Client>| {
        let barrier = Arc::new(Barrier::new(16));
        let handles: Vec<_> = (0..16)
            .map(|i| {
                let (c, b) = (c.clone(), barrier.clone());
                std::thread::spawn(move || {
                    b.wait();
                    c.encrypt(b"x", &ctx(&format!("t{i}")), b"", Form::Binary)
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap().unwrap();
        }
    };
    let before = tokens();
    burst(&c);
    assert_eq!(tokens() - before, 1, "first use: one token for 16 callers");
    std::thread::sleep(Duration::from_millis(8400)); // expired
    let before = tokens();
    burst(&c);
    assert_eq!(
        tokens() - before,
        1,
        "after expiry: one token for 16 callers"
    );
    let second = tokens_used(&name)[16..].to_vec();
    assert!(second.iter().all(|t| *t == second[0]), "{second:?}");
    // Refresh due at 6 s of its 8, handed out until 7 s.
    std::thread::sleep(Duration::from_millis(6300));
    let before = tokens();
    burst(&c);
    assert_eq!(tokens() - before, 1, "expiring: one refresh for 16 callers");
    let third = tokens_used(&name)[32..].to_vec();
    assert_eq!(third.len(), 16);
    assert_eq!(
        third.iter().filter(|t| **t == second[0]).count(),
        15,
        "the others kept using the current token"
    );
    token_settings(3600, 0.0);
}

/// A token the service stops accepting (revoked) is dropped from the cache
/// and the call is sent again with a fresh one: the caller sees nothing.
#[test]
#[ignore = "needs the test Cloud KMS: ./scripts/test.sh starts it"]
fn a_revoked_token_is_replaced_within_the_call() {
    let _g = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let sa = service_account("revoked@dekbox-test.iam.gserviceaccount.com", true);
    let (uri, name) = fresh_key();
    let c = client_env(&uri, CacheConfig::disabled(), sa_env(&sa));
    c.encrypt(b"x", &ctx("a"), b"", Form::Binary).unwrap();
    post(
        "/_test/revoke",
        json!({"email": "revoked@dekbox-test.iam.gserviceaccount.com"}),
    );
    c.encrypt(b"x", &ctx("a"), b"", Form::Binary).unwrap();
    let used = tokens_used(&name);
    assert_eq!(used.len(), 3, "{used:?}");
    assert_eq!(used[0], used[1], "the revoked token, refused once");
    assert_ne!(used[1], used[2], "then a fresh one");
    // A token that is refused again is the caller's error.
    let fixed = client_env(
        &uri,
        CacheConfig::disabled(),
        env_with(&[("GOOGLE_OAUTH_ACCESS_TOKEN", "never-valid")]),
    );
    let e = fixed
        .encrypt(b"x", &ctx("a"), b"", Form::Binary)
        .unwrap_err();
    assert!(matches!(e, Error::KmsAccessDenied(_)), "{e}");
}

#[test]
#[ignore = "needs the test Cloud KMS: ./scripts/test.sh starts it"]
fn a_key_the_token_endpoint_does_not_know_is_access_denied() {
    // Signed with a key whose public half was never registered for this
    // account: the endpoint's signature check refuses it.
    let stranger = service_account("stranger@dekbox-test.iam.gserviceaccount.com", false);
    let e = client_env(&key("a"), CacheConfig::default(), sa_env(&stranger))
        .encrypt(b"x", &ctx("a"), b"", Form::Binary)
        .unwrap_err();
    assert!(
        matches!(e, Error::KmsAccessDenied(ref m) if m.contains("invalid_grant")),
        "{e}"
    );
    // A key file that is not one: a configuration error naming the variable.
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("x.json");
    std::fs::write(&p, r#"{"type":"external_account"}"#).unwrap();
    let env: Arc<dyn Environment> = Arc::new(FilesAndVars(MapEnvironment::with_vars(&[
        ("CLOUDSDK_API_ENDPOINT_OVERRIDES_CLOUDKMS", url().as_str()),
        ("GOOGLE_APPLICATION_CREDENTIALS", p.to_str().unwrap()),
    ])));
    let e = client_env(&key("a"), CacheConfig::default(), env)
        .encrypt(b"x", &ctx("a"), b"", Form::Binary)
        .unwrap_err();
    assert!(
        matches!(e, Error::Config(ref m) if m.contains("GOOGLE_APPLICATION_CREDENTIALS")),
        "{e}"
    );
}

#[test]
#[ignore = "needs the test Cloud KMS: ./scripts/test.sh starts it"]
fn gcloud_user_credentials_and_the_metadata_server() {
    // `gcloud auth application-default login`'s file, found in CLOUDSDK_CONFIG.
    post(
        "/_test/users",
        json!({"client_id": "cid", "client_secret": "csecret", "refresh_token": "rt-1"}),
    );
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("application_default_credentials.json"),
        json!({"type": "authorized_user", "client_id": "cid", "client_secret": "csecret",
               "refresh_token": "rt-1", "token_uri": format!("{}/token", url()),
               "quota_project_id": "billing-proj"})
        .to_string(),
    )
    .unwrap();
    let env: Arc<dyn Environment> = Arc::new(FilesAndVars(MapEnvironment::with_vars(&[
        ("CLOUDSDK_API_ENDPOINT_OVERRIDES_CLOUDKMS", url().as_str()),
        ("CLOUDSDK_CONFIG", dir.path().to_str().unwrap()),
        ("NO_GCE_CHECK", "true"),
    ])));
    let (uri, name) = fresh_key();
    assert!(
        client_env(&uri, CacheConfig::default(), env)
            .encrypt(b"x", &ctx("a"), b"", Form::Binary)
            .is_ok()
    );
    // The key file's quota project is billed (x-goog-user-project).
    let requests: Vec<Value> = reqwest::blocking::get(format!("{}/_test/requests", url()))
        .unwrap()
        .json()
        .unwrap();
    let ours = requests
        .iter()
        .find(|r| r["path"].as_str().unwrap().contains(&format!("{name}:")))
        .unwrap();
    assert_eq!(ours["headers"]["x-goog-user-project"], "billing-proj");
    // Nothing but the metadata server (probed, then asked for a token).
    let host = url().trim_start_matches("http://").to_string();
    let before = stats()["metadata"].as_u64().unwrap();
    let env = env_with(&[("GCE_METADATA_HOST", host.as_str())]);
    assert!(
        client_env(&key("a"), CacheConfig::default(), env)
            .encrypt(b"x", &ctx("a"), b"", Form::Binary)
            .is_ok()
    );
    assert_eq!(stats()["metadata"].as_u64().unwrap() - before, 1);
    // A user file sending its refresh token anywhere but Google: refused.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("application_default_credentials.json"),
        json!({"type": "authorized_user", "client_id": "cid", "client_secret": "csecret",
               "refresh_token": "rt-1", "token_uri": "https://tokens.example.com/token"})
        .to_string(),
    )
    .unwrap();
    let env: Arc<dyn Environment> = Arc::new(FilesAndVars(MapEnvironment::with_vars(&[
        ("CLOUDSDK_API_ENDPOINT_OVERRIDES_CLOUDKMS", url().as_str()),
        ("CLOUDSDK_CONFIG", dir.path().to_str().unwrap()),
        ("NO_GCE_CHECK", "true"),
    ])));
    let e = client_env(&key("a"), CacheConfig::default(), env)
        .encrypt(b"x", &ctx("a"), b"", Form::Binary)
        .unwrap_err();
    assert!(
        matches!(e, Error::Config(ref m) if m.contains("not Google's")),
        "{e}"
    );
    // Nothing at all: a clear configuration error.
    let e = client_env(
        &key("a"),
        CacheConfig::default(),
        env_with(&[("NO_GCE_CHECK", "true")]),
    )
    .encrypt(b"x", &ctx("a"), b"", Form::Binary)
    .unwrap_err();
    assert!(
        matches!(e, Error::Config(ref m) if m.contains("no Google Cloud credentials")),
        "{e}"
    );
}

// ---- the provider contract (the same suite core runs on the local provider) --

fn run_op<T>(op: &mut dyn dekbox_core::op::Operation<Output = T>) -> dekbox_core::Result<T> {
    dekbox_transport::Transport::new(RetryPolicy::default()).run_blocking(op)
}

fn gcp_key(name: &str) -> Arc<dyn KeyProvider> {
    dekbox_core::provider::from_uri(&key(name), env(), &Default::default()).unwrap()
}

dekbox_core::provider_conformance! {
    #[ignore = "needs the test Cloud KMS: ./scripts/test.sh starts it"]
    mod gcp_conformance;
    provider: || gcp_key("a"),
    other: || gcp_key("b"),
    run: run_op,
}
