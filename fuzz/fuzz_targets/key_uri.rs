//! Key URIs: whatever a URI says, the requests its provider makes go to the
//! vendor's own host (or the configured endpoint), never to a host the URI
//! chose.
#![no_main]

use dekbox_core::env::MapEnvironment;
use dekbox_core::op::drive;
use dekbox_core::provider::{ProviderOptions, from_uri};
use dekbox_core::random::SystemRandom;
use dekbox_core::{EncryptionContext, Error, Timestamp};
use libfuzzer_sys::fuzz_target;
use std::sync::Arc;

fn allowed(host: &str) -> bool {
    if host == "cloudkms.googleapis.com" || host == "vault.example" {
        return true;
    }
    // kms[-fips].REGION.amazonaws.com[.cn], REGION a DNS label.
    let rest = host
        .strip_prefix("kms-fips.")
        .or_else(|| host.strip_prefix("kms."));
    let Some(rest) = rest else { return false };
    let region = rest
        .strip_suffix(".amazonaws.com")
        .or_else(|| rest.strip_suffix(".amazonaws.com.cn"));
    region.is_some_and(|r| {
        !r.is_empty() && r.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    })
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
    let mut hosts = Vec::new();
    let _ = drive(
        &mut *p.generate_data_key(&ctx, &SystemRandom),
        || Timestamp::from_unix_millis(1_700_000_000_000),
        |req| {
            hosts.push(url::Url::parse(&req.url).ok().and_then(|u| u.host_str().map(String::from)));
            Err(Error::KmsUnavailable("offline".into()))
        },
    );
    for h in hosts {
        let h = h.unwrap_or_default();
        assert!(allowed(&h), "{uri:?} sent a request to {h:?}");
    }
});
