//! The AWS credential chain, each source resolved through the real transport
//! against loopback servers speaking STS, container and IMDSv2 wire formats.

mod common;

use common::*;
use dekbox_core::env::MapEnvironment;
use dekbox_core::op::{Operation, Step};
use dekbox_core::provider::aws::credentials::{Acquire, CachedCredentials, CredentialChain};
use dekbox_core::provider::aws::sigv4::Credentials;
use dekbox_core::{Error, Timestamp};
use dekbox_transport::{RetryPolicy, Transport};
use std::sync::Arc;
use std::time::Duration;

const LATER: &str = "2099-01-01T00:00:00Z";

fn transport() -> Transport {
    Transport::new(RetryPolicy {
        max_attempts: 2,
        base_delay: Duration::from_millis(1),
        deadline: Duration::from_secs(10),
        ..RetryPolicy::default()
    })
}

fn env(vars: &[(&str, &str)]) -> MapEnvironment {
    let mut e = MapEnvironment::with_vars(vars);
    // Never probe a real metadata service from tests.
    e.vars
        .entry("AWS_EC2_METADATA_DISABLED".into())
        .or_insert("true".into());
    e
}

fn resolve(e: MapEnvironment) -> dekbox_core::Result<Credentials> {
    let chain = CredentialChain::new(Arc::new(e), None, Some("us-east-1".into()));
    transport().run_blocking(&mut chain.resolve())
}

#[test]
fn environment_variables() {
    let c = resolve(env(&[
        ("AWS_ACCESS_KEY_ID", "AKENV"),
        ("AWS_SECRET_ACCESS_KEY", "secret"),
        ("AWS_SESSION_TOKEN", "tok"),
    ]))
    .unwrap();
    assert_eq!(c.access_key_id, "AKENV");
    assert_eq!(c.session_token(), Some("tok"));
    assert_eq!(c.source, "environment");
}

#[test]
fn static_profile_from_shared_files() {
    let mut e = env(&[
        ("AWS_PROFILE", "dev"),
        ("AWS_SHARED_CREDENTIALS_FILE", "/c"),
        ("AWS_CONFIG_FILE", "/cfg"),
    ]);
    e.files.insert(
        "/c".into(),
        b"[dev]\naws_access_key_id = AKPROF\naws_secret_access_key = s\n".to_vec(),
    );
    e.files.insert(
        "/cfg".into(),
        b"[profile dev]\nregion = eu-west-1\n".to_vec(),
    );
    let c = resolve(e).unwrap();
    assert_eq!(
        (c.access_key_id.as_str(), c.source.as_str()),
        ("AKPROF", "profile dev")
    );
}

#[test]
fn missing_named_profile_is_a_configuration_error() {
    let e = env(&[
        ("AWS_PROFILE", "nope"),
        ("AWS_SHARED_CREDENTIALS_FILE", "/none"),
        ("AWS_CONFIG_FILE", "/none"),
    ]);
    let err = resolve(e).unwrap_err();
    assert!(
        matches!(&err, Error::Config(m) if m.contains("\"nope\" not found")),
        "{err:?}"
    );
}

#[test]
fn assume_role_with_source_profile_signs_with_the_source_keys() {
    let sts = FakeServer::start(|r| {
        assert!(r.body_str().contains("Action=AssumeRole&"));
        (200, "text/xml", sts_xml("AssumeRole", "ASIAROLE", LATER))
    });
    let mut e = env(&[
        ("AWS_PROFILE", "app"),
        ("AWS_CONFIG_FILE", "/cfg"),
        ("AWS_SHARED_CREDENTIALS_FILE", "/c"),
        ("AWS_ENDPOINT_URL_STS", &sts.url),
    ]);
    e.files.insert(
        "/cfg".into(),
        b"[profile app]\nrole_arn = arn:aws:iam::111122223333:role/app\nsource_profile = base\nexternal_id = xyz\nregion = eu-west-1\n".to_vec(),
    );
    e.files.insert(
        "/c".into(),
        b"[base]\naws_access_key_id = AKBASE\naws_secret_access_key = basesecret\n".to_vec(),
    );
    let c = resolve(e).unwrap();
    assert_eq!(c.access_key_id, "ASIAROLE");
    assert_eq!(c.session_token(), Some("sts-token"));
    assert_eq!(
        c.expiration,
        Some(Timestamp::from_unix_millis(4_070_908_800_000))
    );
    let req = &sts.recorded()[0];
    assert_eq!(req.method, "POST");
    let body = req.body_str();
    assert!(
        body.contains("RoleArn=arn%3Aaws%3Aiam%3A%3A111122223333%3Arole%2Fapp"),
        "{body}"
    );
    assert!(body.contains("ExternalId=xyz"));
    let auth = req.header("authorization").unwrap();
    assert!(
        auth.starts_with("AWS4-HMAC-SHA256 Credential=AKBASE/"),
        "{auth}"
    );
    assert!(
        auth.contains("/us-east-1/sts/aws4_request")
            || auth.contains("/eu-west-1/sts/aws4_request"),
        "{auth}"
    );
}

#[test]
fn sts_errors_are_mapped() {
    let sts = FakeServer::start(|_| {
        (403, "text/xml", b"<ErrorResponse><Error><Code>AccessDenied</Code><Message>not allowed</Message></Error></ErrorResponse>".to_vec())
    });
    let mut e = env(&[
        ("AWS_WEB_IDENTITY_TOKEN_FILE", "/t"),
        ("AWS_ROLE_ARN", "arn:aws:iam::1:role/r"),
        ("AWS_ENDPOINT_URL_STS", &sts.url),
    ]);
    e.files.insert("/t".into(), b"jwt".to_vec());
    assert!(matches!(resolve(e), Err(Error::KmsAccessDenied(m)) if m.contains("AccessDenied")));
}

#[test]
fn web_identity_from_environment() {
    let sts = FakeServer::start(|_| {
        (
            200,
            "text/xml",
            sts_xml("AssumeRoleWithWebIdentity", "ASIAWEB", LATER),
        )
    });
    let mut e = env(&[
        ("AWS_WEB_IDENTITY_TOKEN_FILE", "/var/run/token"),
        ("AWS_ROLE_ARN", "arn:aws:iam::1:role/web"),
        ("AWS_ROLE_SESSION_NAME", "pod-7"),
        ("AWS_ENDPOINT_URL_STS", &sts.url),
    ]);
    e.files
        .insert("/var/run/token".into(), b"eyJhbGciOi.jwt.sig\n".to_vec());
    let c = resolve(e).unwrap();
    assert_eq!(c.access_key_id, "ASIAWEB");
    let req = &sts.recorded()[0];
    let body = req.body_str();
    assert!(body.contains("Action=AssumeRoleWithWebIdentity"));
    assert!(body.contains("WebIdentityToken=eyJhbGciOi.jwt.sig"));
    assert!(body.contains("RoleSessionName=pod-7"));
    assert!(
        req.header("authorization").is_none(),
        "web identity calls are unsigned"
    );
}

#[test]
fn credential_process() {
    let mut e = env(&[
        ("AWS_PROFILE", "p"),
        ("AWS_CONFIG_FILE", "/cfg"),
        ("AWS_SHARED_CREDENTIALS_FILE", "/none"),
    ]);
    e.files.insert(
        "/cfg".into(),
        b"[profile p]\ncredential_process = /usr/local/bin/get-creds --role x\n".to_vec(),
    );
    e.processes.insert(
        "/usr/local/bin/get-creds --role x".into(),
        creds_json("ASIAPROC", LATER),
    );
    // The chain asks its driver to run the command (it never runs it inside
    // `poll`, where an async executor's thread would block on it).
    let e = Arc::new(e);
    let chain = CredentialChain::new(e.clone(), None, Some("us-east-1".into()));
    let mut op = chain.resolve();
    match op.poll(Timestamp::from_unix_millis(0)).unwrap() {
        Step::Run(p) => assert_eq!(p.command, "/usr/local/bin/get-creds --role x"),
        other => panic!("expected Step::Run, got {other:?}"),
    }
    // A failing command is reported by the next poll, like any failure of
    // the chain (so a provider can fall back to credentials still valid).
    op.handle_process_output(Err("exited with 1".into()))
        .unwrap();
    match op.poll(Timestamp::from_unix_millis(0)) {
        Err(Error::Config(m)) => assert!(m.contains("exited with 1"), "{m}"),
        other => panic!("expected the command's failure, got {other:?}"),
    }
    // Blocking driver: run on the caller's thread.
    let c = transport().run_blocking(&mut chain.resolve()).unwrap();
    assert_eq!(c.access_key_id, "ASIAPROC");
    assert!(c.expiration.is_some());
    // Async driver: run on Tokio's blocking pool.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let c = rt.block_on(transport().run(&mut chain.resolve())).unwrap();
    assert_eq!(c.access_key_id, "ASIAPROC");
}

#[test]
fn container_credentials_with_token_file() {
    let srv = FakeServer::start(|_| (200, "application/json", creds_json("ASIAECS", LATER)));
    let mut e = env(&[
        (
            "AWS_CONTAINER_CREDENTIALS_FULL_URI",
            &format!("{}/v2/credentials/abc", srv.url),
        ),
        ("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", "/tok"),
    ]);
    e.files
        .insert("/tok".into(), b"secret-pod-token\n".to_vec());
    let c = resolve(e).unwrap();
    assert_eq!(c.access_key_id, "ASIAECS");
    let req = &srv.recorded()[0];
    assert_eq!(
        (req.method.as_str(), req.path.as_str()),
        ("GET", "/v2/credentials/abc")
    );
    assert_eq!(req.header("authorization"), Some("secret-pod-token"));
}

#[test]
fn relative_container_uri_targets_the_ecs_agent() {
    // The address is fixed by ECS; check the request the chain builds.
    use dekbox_core::op::{Operation, Step};
    let e = env(&[(
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
        "/v2/credentials/xyz",
    )]);
    let chain = CredentialChain::new(Arc::new(e), None, None);
    let mut op = chain.resolve();
    let Step::Send(req) = op.poll(Timestamp::from_unix_millis(0)).unwrap() else {
        panic!()
    };
    assert_eq!(req.url, "http://169.254.170.2/v2/credentials/xyz");
}

#[test]
fn imds_v2_token_then_role_then_credentials() {
    let srv = FakeServer::start(|r| match (r.method.as_str(), r.path.as_str()) {
        ("PUT", "/latest/api/token") => {
            assert_eq!(
                r.header("x-aws-ec2-metadata-token-ttl-seconds"),
                Some("21600")
            );
            (200, "text/plain", b"imds-session-token".to_vec())
        }
        ("GET", "/latest/meta-data/iam/security-credentials/") => {
            assert_eq!(
                r.header("x-aws-ec2-metadata-token"),
                Some("imds-session-token")
            );
            (200, "text/plain", b"web-role\n".to_vec())
        }
        ("GET", "/latest/meta-data/iam/security-credentials/web-role") => {
            assert_eq!(
                r.header("x-aws-ec2-metadata-token"),
                Some("imds-session-token")
            );
            (200, "application/json", creds_json("ASIAIMDS", LATER))
        }
        _ => (404, "text/plain", vec![]),
    });
    let e = env(&[
        ("AWS_EC2_METADATA_DISABLED", "false"),
        ("AWS_EC2_METADATA_SERVICE_ENDPOINT", &srv.url),
    ]);
    let c = resolve(e).unwrap();
    assert_eq!(c.access_key_id, "ASIAIMDS");
    assert_eq!(srv.recorded().len(), 3);
}

#[test]
fn nothing_configured_and_no_metadata_service_is_a_clear_error() {
    // A closed loopback port stands in for "not on EC2".
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let e = env(&[
        ("AWS_EC2_METADATA_DISABLED", "false"),
        (
            "AWS_EC2_METADATA_SERVICE_ENDPOINT",
            &format!("http://{closed}"),
        ),
        ("AWS_SHARED_CREDENTIALS_FILE", "/none"),
        ("AWS_CONFIG_FILE", "/none"),
    ]);
    let started = std::time::Instant::now();
    let err = resolve(e).unwrap_err();
    assert!(
        matches!(&err, Error::Config(m) if m.contains("no AWS credentials found")),
        "{err:?}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "the metadata probe is not retried"
    );
}

#[test]
fn expiring_credentials_refresh_once_while_others_continue() {
    let now = Timestamp::from_unix_millis(1_700_000_000_000);
    let e = env(&[
        ("AWS_ACCESS_KEY_ID", "AKNEW"),
        ("AWS_SECRET_ACCESS_KEY", "s"),
    ]);
    let cache = CachedCredentials::new(CredentialChain::new(Arc::new(e), None, None));
    // Credentials resolved an hour ago, expiring in two minutes (inside the
    // five-minute window).
    let an_hour_ago = Timestamp::from_unix_millis(1_700_000_000_000 - 3_480_000);
    cache.store(
        Credentials::new(
            "AKOLD",
            "s",
            Some("t".into()),
            Some(now.plus(Duration::from_secs(120))),
            "test",
        ),
        an_hour_ago,
    );
    let first = cache.acquire(now);
    assert!(matches!(first, Acquire::Refresh(_, Some(ref c)) if c.access_key_id == "AKOLD"));
    // Concurrent callers meanwhile keep using the current credentials.
    for _ in 0..8 {
        assert!(matches!(cache.acquire(now), Acquire::Ready(c) if c.access_key_id == "AKOLD"));
    }
    let Acquire::Refresh(mut op, _) = first else {
        unreachable!()
    };
    let fresh = transport().run_blocking(&mut *op).unwrap();
    cache.store(fresh, now);
    assert!(matches!(cache.acquire(now), Acquire::Ready(c) if c.access_key_id == "AKNEW"));
    // Expired credentials are never handed out.
    cache.store(
        Credentials::new("AKGONE", "s", None, Some(now), "test"),
        now,
    );
    assert!(matches!(cache.acquire(now), Acquire::Refresh(_, None)));
}
