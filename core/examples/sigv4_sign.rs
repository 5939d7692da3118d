//! Signs one KMS request exactly as dekbox does and prints it as JSON, for the
//! botocore comparison test (tests/aws/test_sigv4_botocore.py).
//!
//! stdin: {"uri", "endpoint", "action", "body", "access_key", "secret_key",
//!         "session_token" (optional), "unix_ms"}
//! stdout: {"url", "headers": [[name, value], ...]}

use dekbox_core::Timestamp;
use dekbox_core::env::MapEnvironment;
use dekbox_core::provider::aws::api::Action;
use dekbox_core::provider::aws::sigv4::Credentials;
use dekbox_core::provider::aws::{AwsKmsProvider, AwsOptions};
use std::io::Read;
use std::sync::Arc;

fn main() {
    let mut input = String::new();
    std::io::stdin().read_to_string(&mut input).expect("stdin");
    let v: serde_json::Value = serde_json::from_str(&input).expect("JSON on stdin");
    let s = |k: &str| {
        v[k].as_str()
            .unwrap_or_else(|| panic!("missing {k}"))
            .to_string()
    };
    let provider = AwsKmsProvider::from_uri(
        &s("uri"),
        Arc::new(MapEnvironment::default()),
        &AwsOptions {
            endpoint: Some(s("endpoint")),
            ..AwsOptions::default()
        },
    )
    .expect("provider");
    let action = match s("action").as_str() {
        "GenerateDataKey" => Action::GenerateDataKey,
        "Encrypt" => Action::Encrypt,
        "Decrypt" => Action::Decrypt,
        "ReEncrypt" => Action::ReEncrypt,
        a => panic!("unknown action {a}"),
    };
    let creds = Credentials::new(
        s("access_key"),
        s("secret_key"),
        v["session_token"].as_str().map(String::from),
        None,
        "test",
    );
    let now = Timestamp::from_unix_millis(v["unix_ms"].as_u64().expect("unix_ms"));
    let req = provider
        .build_request(action, s("body").as_bytes(), &creds, now)
        .expect("signed request");
    let out = serde_json::json!({"url": req.url, "headers": req.headers});
    println!("{out}");
}
