//! Answers from credential services: AWS container credentials (JSON), STS
//! (XML), Google's token endpoint and metadata server (JSON). Parsed without
//! a panic; whatever is accepted is a usable credential.
#![no_main]

use dekbox_core::env::MapEnvironment;
use dekbox_core::http::HttpResponse;
use dekbox_core::op::drive;
use dekbox_core::provider::aws::credentials::CredentialChain;
use dekbox_core::provider::gcp::auth::TokenChain;
use dekbox_core::Timestamp;
use libfuzzer_sys::fuzz_target;
use std::sync::Arc;

fn env(vars: &[(&str, &str)], files: &[(&str, &str)]) -> MapEnvironment {
    let mut e = MapEnvironment::with_vars(vars);
    for (p, c) in files {
        e.files.insert((*p).into(), c.as_bytes().to_vec());
    }
    e
}

fuzz_target!(|data: &[u8]| {
    let now = || Timestamp::from_unix_millis(1_700_000_000_000);
    let answer = |_| {
        Ok(HttpResponse {
            status: 200,
            headers: vec![("metadata-flavor".into(), "Google".into())],
            body: data.to_vec(),
        })
    };
    let container = env(
        &[
            ("AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://127.0.0.1/creds"),
            ("AWS_EC2_METADATA_DISABLED", "true"),
        ],
        &[],
    );
    let web_identity = env(
        &[
            ("AWS_WEB_IDENTITY_TOKEN_FILE", "/token"),
            ("AWS_ROLE_ARN", "arn:aws:iam::111122223333:role/r"),
            ("AWS_EC2_METADATA_DISABLED", "true"),
        ],
        &[("/token", "eyJhbGciOi.x.y")],
    );
    let imds = env(
        &[("AWS_EC2_METADATA_SERVICE_ENDPOINT", "http://127.0.0.1:1")],
        &[],
    );
    for e in [container, web_identity, imds] {
        let chain = CredentialChain::new(Arc::new(e), None, Some("us-east-1".into()));
        if let Ok(c) = drive(&mut chain.resolve(), now, answer) {
            assert!(!c.access_key_id.is_empty());
        }
    }
    let user = env(
        &[("GOOGLE_APPLICATION_CREDENTIALS", "/adc.json"), ("NO_GCE_CHECK", "true")],
        &[(
            "/adc.json",
            r#"{"type":"authorized_user","client_id":"c","client_secret":"s","refresh_token":"r","token_uri":"http://127.0.0.1/token"}"#,
        )],
    );
    let metadata = env(&[("GCE_METADATA_HOST", "127.0.0.1:1")], &[]);
    for e in [user, metadata] {
        let chain = TokenChain::new(Arc::new(e), None);
        if let Ok(t) = drive(&mut chain.resolve(), now, answer) {
            assert!(t.bearer().len() > "Bearer ".len());
        }
    }
});
