//! Key URIs: whatever a URI says, every request its provider makes (wrap,
//! unwrap, direct encrypt and decrypt) goes over https to the vendor's own
//! host for that scheme (or to the configured endpoint), never to a host,
//! port or scheme the URI chose.
#![no_main]

use dekbox_core::env::MapEnvironment;
use dekbox_core::op::drive;
use dekbox_core::provider::{ProviderOptions, from_uri};
use dekbox_core::random::SystemRandom;
use dekbox_core::{DataKey, EncryptionContext, Error, Timestamp};
use libfuzzer_sys::fuzz_target;
use std::sync::Arc;

/// `kms[-fips].REGION.SUFFIX` for AWS's partitions, REGION a DNS label.
fn aws_host(host: &str) -> bool {
    let Some(rest) = host
        .strip_prefix("kms-fips.")
        .or_else(|| host.strip_prefix("kms."))
    else {
        return false;
    };
    ["amazonaws.com", "amazonaws.com.cn", "c2s.ic.gov", "sc2s.sgov.gov"]
        .iter()
        .filter_map(|s| rest.strip_suffix(s)?.strip_suffix('.'))
        .any(|r| {
            !r.is_empty()
                && r.len() <= 32
                && r.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        })
}

fn allowed(uri: &str, url: &url::Url) -> bool {
    let host = url.host_str().unwrap_or_default();
    url.scheme() == "https"
        && url.username().is_empty()
        && url.password().is_none()
        && if uri.starts_with("aws-kms://") {
            url.port().is_none() && url.path() == "/" && aws_host(host)
        } else if uri.starts_with("gcp-kms://") {
            url.port().is_none()
                && host == "cloudkms.googleapis.com"
                && url.path().starts_with("/v1/projects/")
        } else if uri.starts_with("vault://") || uri.starts_with("openbao://") {
            host == "vault.example"
                && url.port() == Some(8200)
                && url.path().starts_with("/v1/")
                && !url.path().contains("/../")
        } else {
            false
        }
}

fuzz_target!(|data: &[u8]| {
    let Ok(uri) = std::str::from_utf8(data) else {
        return;
    };
    let env = MapEnvironment::with_vars(&[
        ("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE"),
        ("AWS_SECRET_ACCESS_KEY", "secret"),
        ("AWS_REGION", "eu-west-1"),
        ("AWS_EC2_METADATA_DISABLED", "true"),
        ("GOOGLE_OAUTH_ACCESS_TOKEN", "ya29.x"),
        ("VAULT_ADDR", "https://vault.example:8200"),
        ("VAULT_TOKEN", "hvs.x"),
        ("DEKBOX_KEY_B64", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="),
    ]);
    let Ok(p) = from_uri(uri, Arc::new(env), &ProviderOptions::default()) else {
        return;
    };
    let ctx = EncryptionContext::empty();
    let dek = DataKey::from_slice(&[7; 32]).unwrap();
    let now = || Timestamp::from_unix_millis(1_700_000_000_000);
    let mut urls = Vec::new();
    let mut send = |req: dekbox_core::http::HttpRequest| {
        urls.push(req.url.clone());
        Err(Error::KmsUnavailable("offline".into()))
    };
    let _ = drive(&mut *p.generate_data_key(&ctx, &SystemRandom), now, &mut send);
    let _ = drive(&mut *p.wrap(&dek, &ctx, &SystemRandom), now, &mut send);
    let _ = drive(&mut *p.unwrap(b"vault:v1:AAAA", &ctx), now, &mut send);
    let _ = drive(&mut *p.encrypt_direct(b"x", &ctx, &SystemRandom), now, &mut send);
    let _ = drive(&mut *p.decrypt_direct(b"vault:v1:AAAA", &ctx), now, &mut send);
    for u in urls {
        let parsed = url::Url::parse(&u).unwrap_or_else(|_| panic!("{uri:?} built {u:?}"));
        assert!(allowed(uri, &parsed), "{uri:?} sent a request to {u:?}");
    }
});
