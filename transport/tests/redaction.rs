//! No secret in any formatted value: with a known local key, a known data
//! key, known AWS credentials, a known Google access token and a known Vault
//! token in play, every public type and every error that can be produced
//! around them is formatted (`Debug`, `Display`) and searched for those
//! secrets' bytes, raw, as hex and as base64 (standard and URL-safe).

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use dekbox_core::cache::CacheConfig;
use dekbox_core::env::{Environment, MapEnvironment};
use dekbox_core::op::drive;
use dekbox_core::provider::aws::sigv4::Credentials;
use dekbox_core::provider::aws::{AwsKmsProvider, AwsOptions};
use dekbox_core::provider::gcp::{GcpKmsProvider, GcpOptions};
use dekbox_core::provider::vault::VaultProvider;
use dekbox_core::provider::{KeyProvider, LocalProvider};
use dekbox_core::random::SystemRandom;
use dekbox_core::{DataKey, EncryptionContext, Engine, Error, Form, MessageKey, Timestamp};
use dekbox_transport::Client;
use std::sync::Arc;

const LOCAL_KEY: [u8; 32] = [0x5a; 32];
const DEK: [u8; 32] = [0xc3; 32];
const AWS_SECRET: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYzEXAMPLEKEY";
const AWS_SESSION: &str = "FwoGZXIvYXdzEXAMPLESESSIONTOKENvalue0123456789";
const GCP_TOKEN: &str = "ya29.a0AfH6SMBexampleGoogleAccessToken0123456789";
const VAULT_TOKEN: &str = "hvs.CAESIexampleVaultTokenValue0123456789abcd";

/// Every spelling of every secret that must never appear.
fn needles() -> Vec<String> {
    let mut out = Vec::new();
    for raw in [&LOCAL_KEY[..], &DEK[..]] {
        out.push(hex(raw));
        out.push(STANDARD.encode(raw));
        out.push(URL_SAFE_NO_PAD.encode(raw));
        out.push(String::from_utf8_lossy(raw).into_owned());
        // As a Rust byte-array Debug would print it.
        out.push(format!("{:?}", &raw[..8]).trim_end_matches(']').to_string());
    }
    for s in [AWS_SECRET, AWS_SESSION, GCP_TOKEN, VAULT_TOKEN] {
        out.push(s.to_string());
        out.push(STANDARD.encode(s));
        out.push(hex(s.as_bytes()));
    }
    out
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn check(what: &str, shown: String, seen: &mut usize) {
    for n in needles() {
        assert!(!shown.contains(&n), "{what} shows a secret ({n}): {shown}");
    }
    *seen += 1;
}

fn env() -> Arc<dyn Environment> {
    Arc::new(MapEnvironment::with_vars(&[
        ("AWS_ACCESS_KEY_ID", "AKIAEXAMPLE"),
        ("AWS_SECRET_ACCESS_KEY", AWS_SECRET),
        ("AWS_SESSION_TOKEN", AWS_SESSION),
        ("AWS_REGION", "eu-west-1"),
        ("AWS_EC2_METADATA_DISABLED", "true"),
        ("GOOGLE_OAUTH_ACCESS_TOKEN", GCP_TOKEN),
        ("VAULT_ADDR", "https://vault.example:8200"),
        ("VAULT_TOKEN", VAULT_TOKEN),
        ("DEKBOX_KEY_B64", &STANDARD.encode(LOCAL_KEY)),
    ]))
}

#[test]
fn no_formatted_value_or_error_contains_a_secret() {
    let mut seen = 0;
    let now = Timestamp::from_unix_millis(1_700_000_000_000);
    let ctx = EncryptionContext::from_pairs([("tenant", "acme")]).unwrap();
    let local = LocalProvider::from_key_bytes("local://env/DEKBOX_KEY_B64", &LOCAL_KEY).unwrap();
    let dek = DataKey::from_slice(&DEK).unwrap();
    check("LocalProvider", format!("{local:?}"), &mut seen);
    check("DataKey", format!("{dek:?}"), &mut seen);
    let creds = Credentials::new(
        "AKIAEXAMPLE",
        AWS_SECRET,
        Some(AWS_SESSION.into()),
        None,
        "test",
    );
    check("Credentials", format!("{creds:?}"), &mut seen);
    let aws_opts = AwsOptions {
        credentials: Some(creds.clone()),
        ..AwsOptions::default()
    };
    check("AwsOptions", format!("{aws_opts:?}"), &mut seen);
    let gcp_opts = GcpOptions {
        access_token: Some(GCP_TOKEN.into()),
        ..GcpOptions::default()
    };
    check("GcpOptions", format!("{gcp_opts:?}"), &mut seen);

    // Engines and clients over every provider, and what they produce.
    let local = Arc::new(local);
    let engine = Engine::builder().key_arc(local.clone()).build().unwrap();
    let sealed = engine
        .encrypt_local(b"plaintext", &ctx, b"", Form::Text, now)
        .unwrap();
    check("Engine", format!("{engine:?}"), &mut seen);
    check(
        "Inspection",
        format!("{:?}", engine.inspect(&sealed).unwrap()),
        &mut seen,
    );
    let mk = drive(
        &mut engine.message_data_key(&sealed, &ctx),
        || now,
        |_| Err(Error::ApiMisuse("no network")),
    )
    .unwrap();
    check("MessageKey", format!("{mk:?}"), &mut seen);
    let token = mk.token(Form::Text).unwrap();
    check(
        "MessageKey::from_token",
        format!("{:?}", MessageKey::from_token(&token).unwrap()),
        &mut seen,
    );
    let g = drive(
        &mut *local.generate_data_key(&ctx, &SystemRandom),
        || now,
        |_| Err(Error::ApiMisuse("no network")),
    )
    .unwrap();
    // (This key is random: only its formatting is checked, for the known
    // secrets around it.)
    check("GeneratedKey", format!("{g:?}"), &mut seen);

    let providers: Vec<Arc<dyn KeyProvider>> = vec![
        Arc::new(
            AwsKmsProvider::from_uri(
                "aws-kms://arn:aws:kms:eu-west-1:111122223333:key/k",
                env(),
                &aws_opts,
            )
            .unwrap(),
        ),
        Arc::new(
            GcpKmsProvider::from_uri(
                "gcp-kms://projects/p/locations/l/keyRings/r/cryptoKeys/k",
                env(),
                &gcp_opts,
            )
            .unwrap(),
        ),
        Arc::new(VaultProvider::from_uri("vault://transit/keys/app", env()).unwrap()),
    ];
    for p in &providers {
        check("provider", format!("{p:?}"), &mut seen);
        // Every request a provider builds, sent nowhere: the error it
        // reports, and the request's own Debug (whose headers carry the
        // credentials, so only its Debug form is checked).
        for op in [
            drive(
                &mut *p.wrap(&dek, &ctx, &SystemRandom),
                || now,
                |req| Err(Error::KmsUnavailable(format!("offline: {}", req.url))),
            )
            .map(drop),
            drive(
                &mut *p.unwrap(b"vault:v1:AAAA", &ctx),
                || now,
                |_| Err(Error::KmsAccessDenied("refused".into())),
            )
            .map(drop),
        ] {
            let e = op.unwrap_err();
            check("provider error", format!("{e} {e:?}"), &mut seen);
        }
    }
    let client = Client::builder()
        .key("local://env/DEKBOX_KEY_B64")
        .environment(env())
        .cache(CacheConfig::default())
        .build()
        .unwrap();
    check("Client", format!("{client:?}"), &mut seen);
    let sealed = client.encrypt(b"x", &ctx, b"", Form::Binary).unwrap();
    let mut tampered = sealed.clone();
    let last = tampered.len() - 1;
    tampered[last] ^= 1;
    for e in [
        client.decrypt(&tampered, &ctx, b"").unwrap_err(),
        client.decrypt(&sealed[..40], &ctx, b"").unwrap_err(),
        client
            .decrypt(
                &sealed,
                &EncryptionContext::from_pairs([("tenant", "x")]).unwrap(),
                b"",
            )
            .unwrap_err(),
        client.unwrap_data_key(&[0; 93], &ctx, None).unwrap_err(),
        Client::builder()
            .key(STANDARD.encode(LOCAL_KEY))
            .environment(env())
            .build()
            .unwrap_err(),
    ] {
        check("error", format!("{e} {e:?}"), &mut seen);
    }
    assert!(seen >= 20, "{seen}");
    // The search itself finds each spelling (a canary per form).
    for canary in [
        hex(&DEK),
        STANDARD.encode(LOCAL_KEY),
        URL_SAFE_NO_PAD.encode(DEK),
        format!("{:?}", DEK),
        format!("token={GCP_TOKEN}"),
    ] {
        let caught = std::panic::catch_unwind(|| check("canary", canary.clone(), &mut 0));
        assert!(caught.is_err(), "the search missed {canary}");
    }
}
