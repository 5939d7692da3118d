//! The AWS credential chain, sans-IO, in the order the AWS SDKs use:
//!
//! 1. explicit credentials given to dekbox;
//! 2. environment: `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`;
//! 3. the shared config and credentials files for `AWS_PROFILE` (default
//!    `default`): static keys, `role_arn` with `source_profile` (or
//!    `credential_source = Environment`) through STS `AssumeRole`,
//!    `web_identity_token_file` with `role_arn`, and `credential_process`;
//! 4. web identity: `AWS_WEB_IDENTITY_TOKEN_FILE` + `AWS_ROLE_ARN` through STS
//!    `AssumeRoleWithWebIdentity`;
//! 5. container credentials: `AWS_CONTAINER_CREDENTIALS_RELATIVE_URI` or
//!    `_FULL_URI`, with `AWS_CONTAINER_AUTHORIZATION_TOKEN(_FILE)`;
//! 6. EC2 instance metadata, IMDSv2 (token `PUT`, then the role's
//!    credentials), unless `AWS_EC2_METADATA_DISABLED=true`;
//!    `AWS_EC2_METADATA_SERVICE_ENDPOINT` overrides the address.
//!
//! STS is reached at `AWS_ENDPOINT_URL_STS` (or `AWS_ENDPOINT_URL`) if set,
//! else `https://sts.<region>.amazonaws.com`.
//!
//! [`CachedCredentials`] keeps the result and refreshes it five minutes
//! before it expires, once however many callers want it (the machinery
//! every provider shares: [`crate::provider::credentials`]).

use super::config_file::{Profile, ProfileSet};
use super::sigv4::{self, Credentials, Scope};
use super::xml;
use crate::env::Environment;
use crate::http::{HttpRequest, HttpResponse, Method};
use crate::op::{BoxOp, ProcessOutput, ProcessRequest};
use crate::provider::credentials::{
    Chain, CredentialCache, Expiring, Fixed, Resolver, Source, SourceStep,
};
use crate::{Error, Result, Timestamp};
use serde::Deserialize;
use std::collections::VecDeque;
use std::sync::Arc;
use zeroize::Zeroizing;

pub use crate::provider::credentials::{Acquire, REFRESH_BEFORE_EXPIRY};

/// Resolves AWS credentials: the chain as an operation.
pub type ResolveCredentials = Chain<Credentials>;

/// AWS credentials cached for a provider (see [`CredentialCache`]).
pub type CachedCredentials = CredentialCache<Credentials>;

impl Expiring for Credentials {
    fn expires_at(&self) -> Option<Timestamp> {
        self.expiration
    }
}

impl Resolver<Credentials> for CredentialChain {
    fn resolve(&self) -> BoxOp<'static, Credentials> {
        Box::new(CredentialChain::resolve(self))
    }
}

/// How to find credentials.
#[derive(Clone)]
pub struct CredentialChain {
    explicit: Option<Credentials>,
    env: Arc<dyn Environment>,
    profile: Option<String>,
    region: Option<String>,
}

impl std::fmt::Debug for CredentialChain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CredentialChain")
            .field(
                "explicit",
                &self.explicit.as_ref().map(|c| &c.access_key_id),
            )
            .field("profile", &self.profile)
            .finish_non_exhaustive()
    }
}

impl CredentialChain {
    /// The default chain over `env`; `profile` overrides `AWS_PROFILE`;
    /// `region` is used for STS.
    pub fn new(env: Arc<dyn Environment>, profile: Option<String>, region: Option<String>) -> Self {
        Self {
            explicit: None,
            env,
            profile,
            region,
        }
    }

    /// Always uses these credentials.
    pub fn explicit(mut self, creds: Credentials) -> Self {
        self.explicit = Some(creds);
        self
    }

    /// An operation that resolves credentials.
    pub fn resolve(&self) -> ResolveCredentials {
        let mut sources: VecDeque<Box<dyn Source<Credentials>>> = VecDeque::new();
        if let Some(c) = &self.explicit {
            sources.push_back(Box::new(Fixed(Some(c.clone()), "explicit credentials")));
        } else {
            let env = self.env.clone();
            sources.push_back(Box::new(EnvSource(env.clone())));
            sources.push_back(Box::new(ProfileSource::new(
                env.clone(),
                self.profile.clone(),
                self.region.clone(),
            )));
            sources.push_back(Box::new(WebIdentitySource::from_env(
                env.clone(),
                self.region.clone(),
            )));
            sources.push_back(Box::new(ContainerSource(env.clone())));
            sources.push_back(Box::new(ImdsSource::new(env)));
        }
        Chain::new(sources, |tried| {
            Error::Config(format!(
                "no AWS credentials found (tried {}); set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE, or run where a role is attached",
                tried.join(", ")
            ))
        })
    }
}

struct EnvSource(Arc<dyn Environment>);

impl Source<Credentials> for EnvSource {
    fn name(&self) -> &'static str {
        "environment"
    }
    fn start(&mut self, _now: Timestamp) -> Result<Option<SourceStep<Credentials>>> {
        let env = &self.0;
        let (Some(id), Some(secret)) = (
            nonempty(env.var("AWS_ACCESS_KEY_ID")),
            nonempty(env.var("AWS_SECRET_ACCESS_KEY")),
        ) else {
            return Ok(None);
        };
        let token = nonempty(env.var("AWS_SESSION_TOKEN"));
        Ok(Some(SourceStep::Done(Credentials::new(
            id,
            secret,
            token,
            None,
            "environment",
        ))))
    }
    fn on_response(
        &mut self,
        _r: HttpResponse,
        _now: Timestamp,
    ) -> Result<SourceStep<Credentials>> {
        Err(Error::ApiMisuse("no request outstanding"))
    }
}

fn nonempty(v: Option<String>) -> Option<String> {
    v.filter(|s| !s.trim().is_empty())
}

/// The shared config/credentials files.
struct ProfileSource {
    env: Arc<dyn Environment>,
    explicit_profile: Option<String>,
    region: Option<String>,
    sts: Option<StsCall>,
    name: String,
}

impl ProfileSource {
    fn new(env: Arc<dyn Environment>, profile: Option<String>, region: Option<String>) -> Self {
        Self {
            env,
            explicit_profile: profile,
            region,
            sts: None,
            name: String::new(),
        }
    }

    fn static_keys(p: &Profile, source: String) -> Option<Credentials> {
        let id = p.get("aws_access_key_id")?;
        let secret = p.get("aws_secret_access_key")?;
        Some(Credentials::new(
            id,
            secret,
            p.get("aws_session_token").map(String::from),
            None,
            source,
        ))
    }
}

impl Source<Credentials> for ProfileSource {
    fn name(&self) -> &'static str {
        "shared config profile"
    }

    fn start(&mut self, now: Timestamp) -> Result<Option<SourceStep<Credentials>>> {
        let env = self.env.clone();
        let named = self
            .explicit_profile
            .clone()
            .or_else(|| nonempty(env.var("AWS_PROFILE")))
            .or_else(|| nonempty(env.var("AWS_DEFAULT_PROFILE")));
        let name = named.clone().unwrap_or_else(|| "default".into());
        self.name = name.clone();
        let set = ProfileSet::load(env.as_ref());
        let Some(profile) = set.get(&name) else {
            return match named {
                Some(n) => Err(Error::Config(format!(
                    "AWS profile {n:?} not found in the shared config or credentials file"
                ))),
                None => Ok(None),
            };
        };
        let region = self
            .region
            .clone()
            .or_else(|| profile.get("region").map(String::from))
            .or_else(|| nonempty(env.var("AWS_REGION")))
            .or_else(|| nonempty(env.var("AWS_DEFAULT_REGION")))
            .unwrap_or_else(|| "us-east-1".into());
        let session = profile
            .get("role_session_name")
            .map(String::from)
            .unwrap_or_else(|| format!("dekbox-{}", now.as_unix_millis() / 1000));

        if let Some(role_arn) = profile.get("role_arn") {
            if let Some(token_file) = profile.get("web_identity_token_file") {
                let token = read_token(env.as_ref(), token_file)?;
                let call =
                    StsCall::web_identity(env.as_ref(), &region, role_arn, &session, &token)?;
                let req = call.request.clone();
                self.sts = Some(call);
                return Ok(Some(SourceStep::Send(req)));
            }
            let source_creds = if let Some(src) = profile.get("source_profile") {
                let sp = set.get(src).ok_or_else(|| {
                    Error::Config(format!(
                        "source_profile {src:?} (of profile {name:?}) not found"
                    ))
                })?;
                Self::static_keys(sp, format!("profile {src}")).ok_or_else(|| {
                    Error::Config(format!(
                        "source_profile {src:?} has no static keys (chained roles beyond one hop are not supported)"
                    ))
                })?
            } else if profile.get("credential_source") == Some("Environment") {
                match EnvSource(env.clone()).start(now)? {
                    Some(SourceStep::Done(c)) => c,
                    _ => {
                        return Err(Error::Config(
                            "credential_source = Environment, but AWS_ACCESS_KEY_ID is not set"
                                .into(),
                        ));
                    }
                }
            } else {
                return Err(Error::Config(format!(
                    "profile {name:?} has role_arn but no source_profile, credential_source = Environment or web_identity_token_file"
                )));
            };
            let call = StsCall::assume_role(
                env.as_ref(),
                &region,
                role_arn,
                &session,
                profile.get("external_id"),
                &source_creds,
                now,
            )?;
            let req = call.request.clone();
            self.sts = Some(call);
            return Ok(Some(SourceStep::Send(req)));
        }
        if let Some(cmd) = profile.get("credential_process") {
            // Run by the driver, off any async executor (see `Step::Run`).
            return Ok(Some(SourceStep::Run(ProcessRequest::new(cmd, env.clone()))));
        }
        if let Some(c) = Self::static_keys(profile, format!("profile {name}")) {
            return Ok(Some(SourceStep::Done(c)));
        }
        if profile.get("sso_session").is_some() || profile.get("sso_start_url").is_some() {
            return Err(Error::Config(format!(
                "profile {name:?} uses AWS SSO, which dekbox does not support; export credentials instead"
            )));
        }
        Ok(None)
    }

    fn on_response(
        &mut self,
        resp: HttpResponse,
        _now: Timestamp,
    ) -> Result<SourceStep<Credentials>> {
        let call = self
            .sts
            .as_ref()
            .ok_or(Error::ApiMisuse("no request outstanding"))?;
        call.parse(&resp, format!("assumed role (profile {})", self.name))
            .map(SourceStep::Done)
    }

    fn on_process_output(&mut self, output: ProcessOutput) -> Result<SourceStep<Credentials>> {
        let name = &self.name;
        let out = output.map_err(|e| {
            Error::Config(format!(
                "credential_process of profile {name:?} failed: {e}"
            ))
        })?;
        let parsed: JsonCreds = serde_json::from_slice(&out).map_err(|_| {
            Error::Config(format!(
                "credential_process of profile {name:?} printed no credentials JSON"
            ))
        })?;
        parsed
            .into_credentials(format!("credential_process (profile {name})"))
            .map(SourceStep::Done)
    }
}

fn read_token(env: &dyn Environment, path: &str) -> Result<Zeroizing<String>> {
    let bytes = env
        .read_file(path)
        .map_err(|e| Error::Config(format!("cannot read web identity token file {path}: {e}")))?;
    Ok(Zeroizing::new(
        String::from_utf8_lossy(&bytes).trim().to_string(),
    ))
}

/// `AWS_WEB_IDENTITY_TOKEN_FILE` + `AWS_ROLE_ARN`.
struct WebIdentitySource {
    env: Arc<dyn Environment>,
    region: Option<String>,
    sts: Option<StsCall>,
}

impl WebIdentitySource {
    fn from_env(env: Arc<dyn Environment>, region: Option<String>) -> Self {
        Self {
            env,
            region,
            sts: None,
        }
    }
}

impl Source<Credentials> for WebIdentitySource {
    fn name(&self) -> &'static str {
        "web identity"
    }
    fn start(&mut self, now: Timestamp) -> Result<Option<SourceStep<Credentials>>> {
        let env = self.env.clone();
        let (Some(file), Some(role)) = (
            nonempty(env.var("AWS_WEB_IDENTITY_TOKEN_FILE")),
            nonempty(env.var("AWS_ROLE_ARN")),
        ) else {
            return Ok(None);
        };
        let session = nonempty(env.var("AWS_ROLE_SESSION_NAME"))
            .unwrap_or_else(|| format!("dekbox-{}", now.as_unix_millis() / 1000));
        let region = self
            .region
            .clone()
            .or_else(|| nonempty(env.var("AWS_REGION")))
            .or_else(|| nonempty(env.var("AWS_DEFAULT_REGION")))
            .unwrap_or_else(|| "us-east-1".into());
        let token = read_token(env.as_ref(), &file)?;
        let call = StsCall::web_identity(env.as_ref(), &region, &role, &session, &token)?;
        let req = call.request.clone();
        self.sts = Some(call);
        Ok(Some(SourceStep::Send(req)))
    }
    fn on_response(
        &mut self,
        resp: HttpResponse,
        _now: Timestamp,
    ) -> Result<SourceStep<Credentials>> {
        let call = self
            .sts
            .as_ref()
            .ok_or(Error::ApiMisuse("no request outstanding"))?;
        call.parse(&resp, "web identity".into())
            .map(SourceStep::Done)
    }
}

/// ECS/EKS container credentials.
struct ContainerSource(Arc<dyn Environment>);

impl Source<Credentials> for ContainerSource {
    fn name(&self) -> &'static str {
        "container credentials"
    }
    fn start(&mut self, _now: Timestamp) -> Result<Option<SourceStep<Credentials>>> {
        let env = &self.0;
        let url = if let Some(rel) = nonempty(env.var("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI")) {
            container_relative_url(&rel)?
        } else if let Some(full) = nonempty(env.var("AWS_CONTAINER_CREDENTIALS_FULL_URI")) {
            container_full_url(&full)?
        } else {
            return Ok(None);
        };
        let mut headers = vec![("accept".to_string(), "application/json".to_string())];
        let token = if let Some(file) = nonempty(env.var("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"))
        {
            Some(read_token(env.as_ref(), &file)?.to_string())
        } else {
            nonempty(env.var("AWS_CONTAINER_AUTHORIZATION_TOKEN"))
        };
        if let Some(t) = token {
            headers.push(("authorization".into(), t));
        }
        let mut req = HttpRequest::new(Method::Get, url);
        req.headers = headers;
        Ok(Some(SourceStep::Send(req)))
    }
    fn on_response(
        &mut self,
        resp: HttpResponse,
        _now: Timestamp,
    ) -> Result<SourceStep<Credentials>> {
        if resp.status != 200 {
            return Err(status_error("container credentials endpoint", resp.status));
        }
        let parsed: JsonCreds = serde_json::from_slice(&resp.body).map_err(|_| {
            Error::KmsUnavailable("container credentials endpoint sent no credentials JSON".into())
        })?;
        parsed
            .into_credentials("container credentials".into())
            .map(SourceStep::Done)
    }
}

/// The ECS credentials host that relative URIs are resolved against.
const ECS_HOST: std::net::Ipv4Addr = std::net::Ipv4Addr::new(169, 254, 170, 2);

/// `http://169.254.170.2` + a relative URI, refusing anything that would
/// change the host (`@evil/`, `.evil`, `:80@evil`).
fn container_relative_url(rel: &str) -> Result<String> {
    let refused = || {
        Error::Config(
            "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI must be a path starting with / on the \
             ECS credentials host 169.254.170.2"
                .into(),
        )
    };
    if !rel.starts_with('/') || rel.starts_with("//") {
        return Err(refused());
    }
    let url = url::Url::parse(&format!("http://{ECS_HOST}{rel}")).map_err(|_| refused())?;
    match (url.host(), url.port()) {
        (Some(url::Host::Ipv4(ip)), None) if ip == ECS_HOST && url.username().is_empty() => {
            Ok(url.into())
        }
        _ => Err(refused()),
    }
}

/// A full container credentials URI, under the AWS SDKs' rule: https to any
/// host, or http only to a loopback address or the ECS/EKS credential hosts
/// (169.254.170.2, 169.254.170.23, fd00:ec2::23). The authorization token is
/// sent to this host, so nothing else is accepted.
fn container_full_url(full: &str) -> Result<String> {
    let refused = |why: &str| {
        Error::Config(format!(
            "AWS_CONTAINER_CREDENTIALS_FULL_URI is not allowed: {why} (use https, or http to \
             a loopback address, 169.254.170.2, 169.254.170.23 or fd00:ec2::23)"
        ))
    };
    let url = url::Url::parse(full).map_err(|_| refused("not an absolute URL"))?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err(refused("it contains a user name or password"));
    }
    let allowed = match url.scheme() {
        "https" => url.host().is_some(),
        "http" => match url.host() {
            Some(url::Host::Ipv4(ip)) => {
                ip.is_loopback()
                    || ip == ECS_HOST
                    || ip == std::net::Ipv4Addr::new(169, 254, 170, 23)
            }
            Some(url::Host::Ipv6(ip)) => {
                ip.is_loopback()
                    || ip == std::net::Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x23)
            }
            Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
            None => false,
        },
        _ => false,
    };
    if allowed {
        Ok(url.into())
    } else {
        Err(refused(
            "the host is neither loopback nor a container credentials host",
        ))
    }
}

fn status_error(what: &str, status: u16) -> Error {
    match status {
        429 => Error::KmsThrottled(format!("{what} answered 429")),
        s if s >= 500 => Error::KmsUnavailable(format!("{what} answered {s}")),
        s => Error::KmsAccessDenied(format!("{what} answered {s}")),
    }
}

/// EC2 instance metadata, IMDSv2 only.
struct ImdsSource {
    env: Arc<dyn Environment>,
    base: String,
    token: Option<Zeroizing<String>>,
    role: Option<String>,
}

impl ImdsSource {
    fn new(env: Arc<dyn Environment>) -> Self {
        let base = nonempty(env.var("AWS_EC2_METADATA_SERVICE_ENDPOINT"))
            .unwrap_or_else(|| "http://169.254.169.254".into())
            .trim_end_matches('/')
            .to_string();
        Self {
            env,
            base,
            token: None,
            role: None,
        }
    }

    fn get(&self, path: &str) -> HttpRequest {
        let mut req = HttpRequest::new(Method::Get, format!("{}{path}", self.base));
        req.headers = vec![(
            "x-aws-ec2-metadata-token".into(),
            self.token
                .as_deref()
                .map(String::as_str)
                .unwrap_or("")
                .to_string(),
        )];
        req
    }
}

const IMDS_ROLE_PATH: &str = "/latest/meta-data/iam/security-credentials/";

impl Source<Credentials> for ImdsSource {
    fn name(&self) -> &'static str {
        "EC2 instance metadata"
    }
    fn start(&mut self, _now: Timestamp) -> Result<Option<SourceStep<Credentials>>> {
        if self
            .env
            .var("AWS_EC2_METADATA_DISABLED")
            .is_some_and(|v| v.eq_ignore_ascii_case("true"))
        {
            return Ok(None);
        }
        let mut req = HttpRequest::new(Method::Put, format!("{}/latest/api/token", self.base));
        req.headers = vec![(
            "x-aws-ec2-metadata-token-ttl-seconds".into(),
            "21600".into(),
        )];
        req.probe = true;
        Ok(Some(SourceStep::Send(req)))
    }
    fn on_response(
        &mut self,
        resp: HttpResponse,
        _now: Timestamp,
    ) -> Result<SourceStep<Credentials>> {
        if self.token.is_none() {
            if resp.status != 200 {
                return Err(status_error("instance metadata (token)", resp.status));
            }
            self.token = Some(Zeroizing::new(
                String::from_utf8_lossy(&resp.body).trim().to_string(),
            ));
            return Ok(SourceStep::Send(self.get(IMDS_ROLE_PATH)));
        }
        if self.role.is_none() {
            if resp.status == 404 {
                return Err(Error::Config(
                    "this instance has no IAM role attached".into(),
                ));
            }
            if resp.status != 200 {
                return Err(status_error("instance metadata (role)", resp.status));
            }
            let role = String::from_utf8_lossy(&resp.body)
                .lines()
                .next()
                .map(str::trim)
                .filter(|r| !r.is_empty())
                .ok_or_else(|| Error::Config("this instance has no IAM role attached".into()))?
                .to_string();
            let req = self.get(&format!("{IMDS_ROLE_PATH}{role}"));
            self.role = Some(role);
            return Ok(SourceStep::Send(req));
        }
        if resp.status != 200 {
            return Err(status_error("instance metadata (credentials)", resp.status));
        }
        let parsed: JsonCreds = serde_json::from_slice(&resp.body).map_err(|_| {
            Error::KmsUnavailable("instance metadata sent no credentials JSON".into())
        })?;
        if parsed.code.as_deref().is_some_and(|c| c != "Success") {
            return Err(Error::Config(format!(
                "instance metadata credentials: {}",
                parsed.code.unwrap_or_default()
            )));
        }
        parsed
            .into_credentials("EC2 instance metadata".into())
            .map(SourceStep::Done)
    }
    fn on_failure(&mut self, error: Error) -> Result<Option<SourceStep<Credentials>>> {
        // Not on EC2 (nothing answers): this source does not apply.
        if self.token.is_none() {
            Ok(None)
        } else {
            Err(error)
        }
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct JsonCreds {
    access_key_id: Option<String>,
    secret_access_key: Option<Zeroizing<String>>,
    #[serde(alias = "SessionToken")]
    token: Option<Zeroizing<String>>,
    expiration: Option<String>,
    code: Option<String>,
}

impl JsonCreds {
    fn into_credentials(self, source: String) -> Result<Credentials> {
        let (Some(id), Some(secret)) = (self.access_key_id, self.secret_access_key) else {
            return Err(Error::Config(format!(
                "{source}: answer lacks AccessKeyId/SecretAccessKey"
            )));
        };
        let expiration = self.expiration.as_deref().map(parse_time).transpose()?;
        answered(
            &id,
            &secret,
            self.token.as_deref().map(String::as_str),
            expiration,
            source,
        )
    }
}

/// Credentials from a service's or a command's answer, checked: an access
/// key id of 1-128 letters and digits, a non-empty secret and a token without
/// spaces or control characters (they go into a signed header).
fn answered(
    id: &str,
    secret: &str,
    token: Option<&str>,
    expiration: Option<Timestamp>,
    source: String,
) -> Result<Credentials> {
    let clean = |s: &str| !s.is_empty() && !s.chars().any(|c| c.is_control() || c == ' ');
    let id_ok = (1..=128).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_alphanumeric());
    if !id_ok || !clean(secret) || token.is_some_and(|t| !t.is_empty() && !clean(t)) {
        return Err(Error::KmsUnavailable(format!(
            "{source}: the answer's credentials are malformed (an empty or invalid access key \
             id, secret or token)"
        )));
    }
    Ok(Credentials::new(
        id,
        secret,
        token.map(String::from),
        expiration,
        source,
    ))
}

/// RFC 3339 time to a [`Timestamp`].
pub fn parse_time(s: &str) -> Result<Timestamp> {
    let t = time::OffsetDateTime::parse(s.trim(), &time::format_description::well_known::Rfc3339)
        .map_err(|_| Error::Config(format!("invalid credential expiration time {s:?}")))?;
    let ms = t.unix_timestamp().max(0) as u64 * 1000;
    Ok(Timestamp::from_unix_millis(ms))
}

/// One STS request and how to read its answer.
struct StsCall {
    request: HttpRequest,
}

/// The STS endpoint, with one trailing slash.
fn sts_endpoint(env: &dyn Environment, region: &str) -> Result<String> {
    if let Some(url) = nonempty(env.var("AWS_ENDPOINT_URL_STS")) {
        return super::endpoint::explicit_url("AWS_ENDPOINT_URL_STS", &url);
    }
    if let Some(url) = nonempty(env.var("AWS_ENDPOINT_URL")) {
        return super::endpoint::explicit_url("AWS_ENDPOINT_URL", &url);
    }
    super::endpoint::service_url("sts", region, super::endpoint::region_suffix(region))
}

const FORM_SET: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// A form body, written into a zeroizing buffer: it can hold a web identity
/// token.
fn form(pairs: &[(&str, &str)]) -> Vec<u8> {
    use std::io::Write as _;
    let mut w = crate::http::SecretWriter::with_capacity(1024);
    for (i, (k, v)) in pairs.iter().enumerate() {
        let sep: &[u8] = if i == 0 { b"" } else { b"&" };
        // Invariant: writing to memory cannot fail.
        let _ = w.write_all(sep).and_then(|()| write!(w, "{k}="));
        for piece in percent_encoding::utf8_percent_encode(v, FORM_SET) {
            let _ = w.write_all(piece.as_bytes());
        }
    }
    // Moved out; the request that owns it wipes it on drop.
    std::mem::take(&mut *w.into_inner())
}

impl StsCall {
    fn base(env: &dyn Environment, region: &str, body: Vec<u8>) -> Result<HttpRequest> {
        let mut req = HttpRequest::new(Method::Post, sts_endpoint(env, region)?);
        req.headers = vec![(
            "content-type".into(),
            "application/x-www-form-urlencoded; charset=utf-8".into(),
        )];
        req.body = body;
        Ok(req)
    }

    fn assume_role(
        env: &dyn Environment,
        region: &str,
        role_arn: &str,
        session: &str,
        external_id: Option<&str>,
        source: &Credentials,
        now: Timestamp,
    ) -> Result<Self> {
        let mut pairs = vec![
            ("Action", "AssumeRole"),
            ("Version", "2011-06-15"),
            ("RoleArn", role_arn),
            ("RoleSessionName", session),
        ];
        if let Some(x) = external_id {
            pairs.push(("ExternalId", x));
        }
        let mut request = Self::base(env, region, form(&pairs))?;
        sigv4::sign(
            &mut request,
            source,
            Scope {
                region,
                service: "sts",
            },
            now,
        )?;
        Ok(Self { request })
    }

    fn web_identity(
        env: &dyn Environment,
        region: &str,
        role_arn: &str,
        session: &str,
        token: &str,
    ) -> Result<Self> {
        let body = form(&[
            ("Action", "AssumeRoleWithWebIdentity"),
            ("Version", "2011-06-15"),
            ("RoleArn", role_arn),
            ("RoleSessionName", session),
            ("WebIdentityToken", token),
        ]);
        Ok(Self {
            request: Self::base(env, region, body)?,
        })
    }

    fn parse(&self, resp: &HttpResponse, source: String) -> Result<Credentials> {
        let text = String::from_utf8_lossy(&resp.body);
        if resp.status != 200 {
            let code =
                xml::first_text(&text, "Code").unwrap_or_else(|| format!("HTTP {}", resp.status));
            let message = xml::first_text(&text, "Message").unwrap_or_default();
            return Err(match resp.status {
                s if s >= 500 => Error::KmsUnavailable(format!("STS {code}: {message}")),
                _ if code.contains("Throttl") => {
                    Error::KmsThrottled(format!("STS {code}: {message}"))
                }
                _ => Error::KmsAccessDenied(format!("STS {code}: {message}")),
            });
        }
        let field = |name: &str| {
            xml::first_text(&text, name)
                .ok_or_else(|| Error::KmsUnavailable(format!("STS answer lacks {name}")))
        };
        let expiration = parse_time(&field("Expiration")?)?;
        answered(
            &field("AccessKeyId")?,
            &field("SecretAccessKey")?,
            Some(&field("SessionToken")?),
            Some(expiration),
            source,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::env::MapEnvironment;

    /// Security review finding 7: the relative URI was pasted after the host,
    /// and a full URI was accepted for any host, with the token sent to it.
    #[test]
    fn container_credential_uris_stay_on_allowed_hosts() {
        assert_eq!(
            container_relative_url("/v2/credentials/abc").unwrap(),
            "http://169.254.170.2/v2/credentials/abc"
        );
        for rel in [
            "@evil/",
            ".evil.example/x",
            ":80@evil/",
            "//evil/x",
            "v2/x",
            "@169.254.170.2.evil/",
        ] {
            assert!(
                matches!(container_relative_url(rel), Err(Error::Config(_))),
                "{rel}"
            );
        }
        for ok in [
            "http://127.0.0.1:8080/creds",
            "http://127.0.0.53/creds",
            "http://localhost/creds",
            "http://[::1]:9/creds",
            "http://169.254.170.2/v1",
            "http://169.254.170.23/v1/credentials",
            "http://[fd00:ec2::23]/v1/credentials",
            "https://creds.example.internal/v1",
        ] {
            assert!(container_full_url(ok).is_ok(), "{ok}");
        }
        for bad in [
            "http://evil.example/creds",
            "http://10.0.0.1/creds",
            "http://169.254.169.254/latest",
            "http://localhost.evil.example/",
            "http://127.0.0.1@evil.example/",
            "https://u:p@creds.example/",
            "file:///etc/passwd",
            "ftp://127.0.0.1/",
        ] {
            assert!(
                matches!(container_full_url(bad), Err(Error::Config(_))),
                "{bad}"
            );
        }
    }

    /// Finding 2 for STS: a hostile region never becomes the STS host.
    #[test]
    fn answered_credentials_are_checked() {
        // An empty access key id in a container-credentials answer (found by
        // fuzz/credential_answers) is refused, as is anything that would
        // break the signed header.
        assert!(answered("AKIAEXAMPLE", "s", Some("t"), None, "x".into()).is_ok());
        for (id, secret, token) in [
            ("", "s", None),
            ("AKIA EXAMPLE", "s", None),
            ("AKIA\nX", "s", None),
            ("AKIAEXAMPLE", "", None),
            ("AKIAEXAMPLE", "s\r\n", None),
            ("AKIAEXAMPLE", "s", Some("t\nx")),
        ] {
            assert!(
                answered(id, secret, token, None, "x".into()).is_err(),
                "{id:?} {secret:?} {token:?}"
            );
        }
    }

    #[test]
    fn sts_endpoint_refuses_hostile_regions() {
        let env = MapEnvironment::default();
        assert_eq!(
            sts_endpoint(&env, "eu-west-1").unwrap(),
            "https://sts.eu-west-1.amazonaws.com/"
        );
        assert_eq!(
            sts_endpoint(&env, "cn-north-1").unwrap(),
            "https://sts.cn-north-1.amazonaws.com.cn/"
        );
        for r in ["x@evil.example/", "evil.example#", "a.b"] {
            assert!(
                matches!(sts_endpoint(&env, r), Err(Error::Config(_))),
                "{r}"
            );
        }
        let mut env = MapEnvironment::default();
        env.vars.insert(
            "AWS_ENDPOINT_URL_STS".into(),
            "https://u:p@sts.example".into(),
        );
        assert!(sts_endpoint(&env, "us-east-1").is_err());
    }
}
