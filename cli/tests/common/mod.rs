//! What the CLI's tests against loopback servers share.

#![allow(dead_code)]

use dekbox_core::http::{HttpRequest, Method};
use dekbox_core::provider::aws::sigv4::{self, Credentials, Scope};

/// moto's URL, as ./scripts/test.sh exports it.
pub fn moto() -> String {
    std::env::var("DEKBOX_TEST_MOTO_URL").expect("DEKBOX_TEST_MOTO_URL: run ./scripts/test.sh")
}

/// A new symmetric key in moto (credentials `testing`); its ARN.
pub fn create_key(url: &str) -> String {
    let mut req = HttpRequest::new(Method::Post, format!("{url}/"));
    req.headers = vec![
        ("content-type".into(), "application/x-amz-json-1.1".into()),
        ("x-amz-target".into(), "TrentService.CreateKey".into()),
    ];
    req.body = br#"{"Description":"cli"}"#.to_vec();
    let creds = Credentials::new("testing", "testing", None, None, "test");
    let now = dekbox_core::Timestamp::from_system_time(std::time::SystemTime::now());
    sigv4::sign(
        &mut req,
        &creds,
        Scope {
            region: "us-east-1",
            service: "kms",
        },
        now,
    )
    .unwrap();
    let mut b = reqwest::blocking::Client::new()
        .post(&req.url)
        .body(req.body.clone());
    for (k, v) in &req.headers {
        b = b.header(k, v);
    }
    let text = b.send().unwrap().text().unwrap();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    v["KeyMetadata"]["Arn"].as_str().unwrap().to_string()
}
