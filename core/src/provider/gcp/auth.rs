//! Google Cloud credentials, found the way Application Default Credentials
//! finds them, sans-IO:
//!
//! 1. an access token given to dekbox ([`GcpOptions::access_token`]), or
//!    `GOOGLE_OAUTH_ACCESS_TOKEN` (used as it is, never refreshed);
//! 2. `GOOGLE_APPLICATION_CREDENTIALS`, a JSON key file (an error if it is
//!    set and unusable, as with Google's libraries);
//! 3. the file `gcloud auth application-default login` writes,
//!    `$CLOUDSDK_CONFIG/application_default_credentials.json` (default
//!    `~/.config/gcloud/`);
//! 4. the metadata server of Compute Engine, GKE, Cloud Run and Cloud
//!    Functions (`GCE_METADATA_HOST` overrides its address; `NO_GCE_CHECK=true`
//!    skips it).
//!
//! Key files of type `service_account` are exchanged at their `token_uri`
//! for an access token with a JWT (RFC 7523) signed RS256 with the file's
//! private key; `authorized_user` files with their refresh token. Tokens
//! are cached and refreshed five minutes before they expire, once however
//! many calls want one ([`crate::provider::credentials`]). The scope asked
//! for is `https://www.googleapis.com/auth/cloudkms`.
//!
//! [`GcpOptions::access_token`]: super::GcpOptions::access_token

use crate::env::Environment;
use crate::http::{HttpRequest, HttpResponse, Method};
use crate::op::BoxOp;
use crate::provider::credentials::{Chain, Expiring, Fixed, Resolver, Source, SourceStep};
use crate::{Error, Result, Timestamp};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde::Deserialize;
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;
use zeroize::Zeroizing;

/// The OAuth scope dekbox asks for.
pub const SCOPE: &str = "https://www.googleapis.com/auth/cloudkms";

/// Google's token endpoint, when a key file names none.
pub const DEFAULT_TOKEN_URI: &str = "https://oauth2.googleapis.com/token";

/// Largest key file read.
const MAX_KEY_FILE: usize = 64 * 1024;

/// An OAuth 2.0 access token.
#[derive(Clone)]
pub struct AccessToken {
    token: Zeroizing<String>,
    /// When it expires (`None`: a token given as it is).
    pub expires: Option<Timestamp>,
    /// Where it came from (`service account a@b`, `metadata server`).
    pub source: String,
    /// The project billed for requests made with it (`x-goog-user-project`):
    /// a key file's `quota_project_id`, or `GOOGLE_CLOUD_QUOTA_PROJECT`.
    pub quota_project: Option<String>,
}

impl std::fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccessToken")
            .field("expires", &self.expires)
            .field("source", &self.source)
            .finish_non_exhaustive()
    }
}

impl AccessToken {
    /// A token from its parts; refused if it could not be a header value.
    pub fn new(token: &str, expires: Option<Timestamp>, source: impl Into<String>) -> Result<Self> {
        let token = token.trim();
        if token.is_empty() || token.chars().any(|c| c.is_control() || c == ' ') {
            return Err(Error::Config(
                "a Google access token must be non-empty, without spaces or control characters"
                    .into(),
            ));
        }
        Ok(Self {
            token: Zeroizing::new(token.to_string()),
            expires,
            source: source.into(),
            quota_project: None,
        })
    }

    /// The same token billed to `project` (ignored unless it is a project
    /// id: letters, digits, `-`, `.`, `:`).
    fn billed_to(mut self, project: Option<String>) -> Self {
        self.quota_project = project.filter(|p| {
            !p.is_empty()
                && p.len() <= 100
                && p.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b':'))
        });
        self
    }

    /// Whether `other` carries the same token (the one a service refused).
    pub fn same_token(&self, other: &AccessToken) -> bool {
        self.token.as_str() == other.token.as_str()
    }

    /// The `authorization` header value.
    pub fn bearer(&self) -> String {
        format!("Bearer {}", self.token.as_str())
    }
}

impl Expiring for AccessToken {
    fn expires_at(&self) -> Option<Timestamp> {
        self.expires
    }
}

/// Where tokens come from.
pub struct TokenChain {
    explicit: Option<AccessToken>,
    env: Arc<dyn Environment>,
}

impl TokenChain {
    /// The default chain over `env`, or always `explicit`.
    pub fn new(env: Arc<dyn Environment>, explicit: Option<AccessToken>) -> Self {
        Self { explicit, env }
    }

    /// An operation that finds a token. `GOOGLE_CLOUD_QUOTA_PROJECT`, if
    /// set, names the project billed, over a key file's `quota_project_id`.
    pub fn resolve(&self) -> Chain<AccessToken> {
        let mut sources: VecDeque<Box<dyn Source<AccessToken>>> = VecDeque::new();
        if let Some(t) = &self.explicit {
            sources.push_back(Box::new(Fixed(Some(t.clone()), "explicit access token")));
        } else {
            let env = self.env.clone();
            sources.push_back(Box::new(EnvToken(env.clone())));
            sources.push_back(Box::new(KeyFile::from_env(env.clone())));
            sources.push_back(Box::new(KeyFile::gcloud(env.clone())));
            sources.push_back(Box::new(Metadata::new(env)));
        }
        Chain::new(sources, |tried| {
            Error::Config(format!(
                "no Google Cloud credentials found (tried {}); set GOOGLE_APPLICATION_CREDENTIALS \
                 to a service-account key file, run `gcloud auth application-default login`, or \
                 run where a service account is attached",
                tried.join(", ")
            ))
        })
    }
}

impl Resolver<AccessToken> for TokenChain {
    fn resolve(&self) -> BoxOp<'static, AccessToken> {
        Box::new(TokenChain::resolve(self))
    }
}

fn nonempty(v: Option<String>) -> Option<String> {
    v.filter(|s| !s.trim().is_empty())
}

struct EnvToken(Arc<dyn Environment>);

impl Source<AccessToken> for EnvToken {
    fn name(&self) -> &'static str {
        "GOOGLE_OAUTH_ACCESS_TOKEN"
    }
    fn start(&mut self, _now: Timestamp) -> Result<Option<SourceStep<AccessToken>>> {
        match nonempty(self.0.var("GOOGLE_OAUTH_ACCESS_TOKEN")) {
            Some(t) => Ok(Some(SourceStep::Done(
                AccessToken::new(&t, None, "GOOGLE_OAUTH_ACCESS_TOKEN")?
                    .billed_to(nonempty(self.0.var("GOOGLE_CLOUD_QUOTA_PROJECT"))),
            ))),
            None => Ok(None),
        }
    }
    fn on_response(
        &mut self,
        _r: HttpResponse,
        _now: Timestamp,
    ) -> Result<SourceStep<AccessToken>> {
        Err(Error::ApiMisuse("no request outstanding"))
    }
}

/// A key file (`service_account` or `authorized_user`).
#[derive(Deserialize)]
struct KeyFileJson {
    #[serde(rename = "type")]
    kind: Option<String>,
    client_email: Option<String>,
    private_key: Option<Zeroizing<String>>,
    private_key_id: Option<String>,
    token_uri: Option<String>,
    client_id: Option<String>,
    client_secret: Option<Zeroizing<String>>,
    refresh_token: Option<Zeroizing<String>>,
    quota_project_id: Option<String>,
}

struct KeyFile {
    env: Arc<dyn Environment>,
    /// The file, and whether its absence is an error (it was named).
    path: Option<(String, bool)>,
    what: &'static str,
    source: String,
    quota_project: Option<String>,
}

impl KeyFile {
    fn from_env(env: Arc<dyn Environment>) -> Self {
        let path = nonempty(env.var("GOOGLE_APPLICATION_CREDENTIALS")).map(|p| (p, true));
        Self {
            env,
            path,
            what: "GOOGLE_APPLICATION_CREDENTIALS",
            source: String::new(),
            quota_project: None,
        }
    }

    fn gcloud(env: Arc<dyn Environment>) -> Self {
        let dir = nonempty(env.var("CLOUDSDK_CONFIG"))
            .map(|d| d.trim_end_matches('/').to_string())
            .unwrap_or_else(|| "~/.config/gcloud".into());
        Self {
            env,
            path: Some((format!("{dir}/application_default_credentials.json"), false)),
            what: "gcloud application-default credentials",
            source: String::new(),
            quota_project: None,
        }
    }

    /// The token request for a parsed key file.
    fn request(&mut self, file: KeyFileJson, now: Timestamp) -> Result<HttpRequest> {
        let what = self.what;
        let bad = |why: &str| Error::Config(format!("{what}: the key file {why}"));
        let token_uri = file
            .token_uri
            .clone()
            .filter(|u| !u.trim().is_empty())
            .unwrap_or_else(|| DEFAULT_TOKEN_URI.into());
        let token_uri = token_url(&token_uri)?;
        self.quota_project = file.quota_project_id.clone();
        let body = match file.kind.as_deref() {
            Some("service_account") => {
                let email = file
                    .client_email
                    .as_deref()
                    .filter(|e| !e.is_empty())
                    .ok_or_else(|| bad("has no client_email"))?;
                let key = file
                    .private_key
                    .as_ref()
                    .ok_or_else(|| bad("has no private_key"))?;
                self.source = format!("service account {email}");
                let jwt = assertion(email, file.private_key_id.as_deref(), key, &token_uri, now)?;
                form(&[
                    ("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"),
                    ("assertion", &jwt),
                ])
            }
            Some("authorized_user") => {
                // A refresh token and client secret are sent as they are
                // (no audience binds them, as it binds a service account's
                // assertion): only to Google's token service, or loopback.
                if !google_or_loopback(&token_uri) {
                    return Err(bad(
                        "(authorized_user) names a token_uri that is not Google's \
                         (https://…googleapis.com)",
                    ));
                }
                let (Some(id), Some(secret), Some(refresh)) =
                    (&file.client_id, &file.client_secret, &file.refresh_token)
                else {
                    return Err(bad(
                        "(authorized_user) lacks client_id, client_secret or refresh_token",
                    ));
                };
                self.source = "gcloud user credentials".into();
                form(&[
                    ("grant_type", "refresh_token"),
                    ("client_id", id),
                    ("client_secret", secret),
                    ("refresh_token", refresh),
                ])
            }
            Some(other) => {
                let other: String = other.chars().filter(|c| !c.is_control()).take(40).collect();
                return Err(bad(&format!(
                    "is of type {other:?}: dekbox reads service_account and authorized_user \
                     files (for other kinds, pass an access token)"
                )));
            }
            None => return Err(bad("has no \"type\"")),
        };
        let mut req = HttpRequest::new(Method::Post, token_uri);
        req.headers = vec![(
            "content-type".into(),
            "application/x-www-form-urlencoded".into(),
        )];
        req.body = body.to_vec();
        Ok(req)
    }
}

impl Source<AccessToken> for KeyFile {
    fn name(&self) -> &'static str {
        self.what
    }
    fn start(&mut self, now: Timestamp) -> Result<Option<SourceStep<AccessToken>>> {
        let Some((path, named)) = self.path.clone() else {
            return Ok(None);
        };
        let bytes = match self.env.read_file(&path) {
            Ok(b) => b,
            Err(_) if !named => return Ok(None),
            Err(why) => {
                return Err(Error::Config(format!(
                    "{}: cannot read the key file: {why}",
                    self.what
                )));
            }
        };
        if bytes.len() > MAX_KEY_FILE {
            return Err(Error::Config(format!(
                "{}: the key file is larger than {MAX_KEY_FILE} bytes",
                self.what
            )));
        }
        let file: KeyFileJson = serde_json::from_slice(&bytes)
            .map_err(|_| Error::Config(format!("{}: the key file is not JSON", self.what)))?;
        Ok(Some(SourceStep::Send(self.request(file, now)?)))
    }
    fn on_response(
        &mut self,
        resp: HttpResponse,
        now: Timestamp,
    ) -> Result<SourceStep<AccessToken>> {
        let quota = nonempty(self.env.var("GOOGLE_CLOUD_QUOTA_PROJECT"))
            .or_else(|| self.quota_project.clone());
        token_answer(&resp, now, "the token endpoint", &self.source)
            .map(|t| SourceStep::Done(t.billed_to(quota)))
    }
}

/// `application/x-www-form-urlencoded`, in a wiping buffer.
fn form(pairs: &[(&str, &str)]) -> Zeroizing<Vec<u8>> {
    let mut out = Zeroizing::new(String::new());
    for (i, (k, v)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        out.push_str(k);
        out.push('=');
        out.extend(url::form_urlencoded::byte_serialize(v.as_bytes()));
    }
    Zeroizing::new(out.as_bytes().to_vec())
}

/// A key file's `token_uri`: an absolute https URL (plain http only to
/// loopback, for test servers), with no user name, password, query or
/// fragment, kept as written.
fn token_url(given: &str) -> Result<String> {
    let url: String =
        crate::provider::aws::endpoint::checked_url("the key file's token_uri", given)?.into();
    crate::http::require_private("the key file's token_uri", &url, "the credentials")?;
    Ok(url)
}

/// Whether a token URL is Google's (`https://….googleapis.com`) or plain
/// http to loopback (already checked by [`token_url`]).
fn google_or_loopback(url: &str) -> bool {
    let Ok(u) = url::Url::parse(url) else {
        return false;
    };
    match (u.scheme(), u.host()) {
        ("http", Some(_)) => true,
        ("https", Some(url::Host::Domain(d))) => {
            d == "googleapis.com" || d.ends_with(".googleapis.com") || d == "accounts.google.com"
        }
        _ => false,
    }
}

/// The RS256-signed JWT a service account presents (RFC 7523 § 2.1).
fn assertion(
    email: &str,
    key_id: Option<&str>,
    pem: &str,
    audience: &str,
    now: Timestamp,
) -> Result<String> {
    let iat = now.as_unix_millis() / 1000;
    let mut header = serde_json::json!({"alg": "RS256", "typ": "JWT"});
    if let Some(kid) = key_id.filter(|k| !k.is_empty()) {
        header["kid"] = kid.into();
    }
    let claims = serde_json::json!({
        "iss": email,
        "scope": SCOPE,
        "aud": audience,
        "iat": iat,
        "exp": iat + 3600,
    });
    let signing_input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let der = pkcs8_der(pem)?;
    let signature = rs256(&der, signing_input.as_bytes())?;
    Ok(format!(
        "{signing_input}.{}",
        URL_SAFE_NO_PAD.encode(signature)
    ))
}

/// The DER inside a `-----BEGIN PRIVATE KEY-----` PEM block (PKCS #8), as
/// Google writes service-account keys.
fn pkcs8_der(pem: &str) -> Result<Zeroizing<Vec<u8>>> {
    const BEGIN: &str = "-----BEGIN PRIVATE KEY-----";
    const END: &str = "-----END PRIVATE KEY-----";
    let bad = || {
        Error::Config(
            "the service account's private_key is not a PEM PKCS #8 key \
             (-----BEGIN PRIVATE KEY-----)"
                .into(),
        )
    };
    let start = pem.find(BEGIN).ok_or_else(bad)? + BEGIN.len();
    let end = pem[start..].find(END).ok_or_else(bad)? + start;
    let body: Zeroizing<String> = Zeroizing::new(
        pem[start..end]
            .chars()
            .filter(|c| !c.is_ascii_whitespace())
            .collect(),
    );
    STANDARD
        .decode(body.as_bytes())
        .map(Zeroizing::new)
        .map_err(|_| bad())
}

#[cfg(not(target_arch = "wasm32"))]
fn rs256(pkcs8: &[u8], message: &[u8]) -> Result<Vec<u8>> {
    use aws_lc_rs::rand::SystemRandom;
    use aws_lc_rs::signature::{RSA_PKCS1_SHA256, RsaKeyPair};
    let key = RsaKeyPair::from_pkcs8(pkcs8).map_err(|_| {
        Error::Config("the service account's private_key is not a usable RSA key".into())
    })?;
    let mut signature = vec![0; key.public_modulus_len()];
    key.sign(
        &RSA_PKCS1_SHA256,
        &SystemRandom::new(),
        message,
        &mut signature,
    )
    .map_err(|_| Error::Config("signing the service-account assertion failed".into()))?;
    Ok(signature)
}

#[cfg(target_arch = "wasm32")]
fn rs256(_pkcs8: &[u8], _message: &[u8]) -> Result<Vec<u8>> {
    Err(Error::Config(
        "service-account key files are not read in the browser: pass an access token".into(),
    ))
}

#[derive(Deserialize)]
struct TokenJson {
    access_token: Option<Zeroizing<String>>,
    expires_in: Option<u64>,
    error: Option<String>,
    error_description: Option<String>,
}

/// A token endpoint's (or the metadata server's) answer.
fn token_answer(
    resp: &HttpResponse,
    now: Timestamp,
    what: &str,
    source: &str,
) -> Result<AccessToken> {
    let parsed: Option<TokenJson> = serde_json::from_slice(&resp.body).ok();
    if resp.status != 200 {
        let detail: String = parsed
            .as_ref()
            .map(|p| {
                format!(
                    "{} {}",
                    p.error.as_deref().unwrap_or(""),
                    p.error_description.as_deref().unwrap_or("")
                )
            })
            .unwrap_or_default()
            .chars()
            .filter(|c| !c.is_control())
            .take(300)
            .collect();
        let detail = detail.trim();
        let shown = format!("{what} answered HTTP {} {detail}", resp.status);
        return Err(match resp.status {
            429 => Error::KmsThrottled(shown.trim().into()),
            500..=599 => Error::KmsUnavailable(shown.trim().into()),
            _ => Error::KmsAccessDenied(format!("{} ({source})", shown.trim())),
        });
    }
    let parsed = parsed
        .ok_or_else(|| Error::KmsUnavailable(format!("{what} answered 200 without token JSON")))?;
    let token = parsed.access_token.ok_or_else(|| {
        Error::KmsUnavailable(format!("{what} answered 200 without access_token"))
    })?;
    // Google's tokens live an hour; an answer without a lifetime is taken
    // to be one.
    let lifetime = Duration::from_secs(parsed.expires_in.unwrap_or(3600).clamp(1, 86_400));
    AccessToken::new(&token, Some(now.plus(lifetime)), source)
}

/// The metadata server's token for the attached service account: a short
/// probe first (is Google's metadata server there?), then the token
/// request, retried like any other.
struct Metadata {
    env: Arc<dyn Environment>,
    base: String,
    probed: bool,
}

impl Metadata {
    fn new(env: Arc<dyn Environment>) -> Self {
        Self {
            env,
            base: String::new(),
            probed: false,
        }
    }

    fn get(&self, path: &str, probe: bool) -> HttpRequest {
        let mut req = HttpRequest::new(Method::Get, format!("{}{path}", self.base));
        req.headers = vec![("metadata-flavor".into(), "Google".into())];
        req.probe = probe;
        req
    }
}

const METADATA_TOKEN_PATH: &str = "/computeMetadata/v1/instance/service-accounts/default/token";

impl Source<AccessToken> for Metadata {
    fn name(&self) -> &'static str {
        "metadata server"
    }
    fn start(&mut self, _now: Timestamp) -> Result<Option<SourceStep<AccessToken>>> {
        if nonempty(self.env.var("NO_GCE_CHECK")).is_some_and(|v| v.eq_ignore_ascii_case("true")) {
            return Ok(None);
        }
        let host =
            nonempty(self.env.var("GCE_METADATA_HOST")).unwrap_or_else(|| "169.254.169.254".into());
        if host.contains(['/', '?', '#', '@', '\\'])
            || host.chars().any(|c| c.is_control() || c == ' ')
        {
            return Err(Error::Config(
                "GCE_METADATA_HOST must be a host or host:port".into(),
            ));
        }
        self.base = format!("http://{host}");
        Ok(Some(SourceStep::Send(
            self.get("/computeMetadata/v1/", true),
        )))
    }
    fn on_response(
        &mut self,
        resp: HttpResponse,
        now: Timestamp,
    ) -> Result<SourceStep<AccessToken>> {
        let google = resp.header("metadata-flavor") == Some("Google");
        if !self.probed {
            // Something else at that address (another cloud's metadata
            // service): not here.
            if !google {
                return Ok(SourceStep::NotHere);
            }
            self.probed = true;
            return Ok(SourceStep::Send(
                self.get(&format!("{METADATA_TOKEN_PATH}?scopes={SCOPE}"), false),
            ));
        }
        if resp.status == 404 {
            return Err(Error::Config(
                "the metadata server has no service account for this instance".into(),
            ));
        }
        if !google && resp.status == 200 {
            return Err(Error::KmsUnavailable(
                "the metadata server's token answer lacks Metadata-Flavor: Google".into(),
            ));
        }
        let quota = nonempty(self.env.var("GOOGLE_CLOUD_QUOTA_PROJECT"));
        token_answer(&resp, now, "the metadata server", "metadata server")
            .map(|t| SourceStep::Done(t.billed_to(quota)))
    }
    fn on_failure(&mut self, error: Error) -> Result<Option<SourceStep<AccessToken>>> {
        // Nothing answers the probe: not on Google Cloud. A token request
        // that fails after the probe answered is an error.
        if self.probed { Err(error) } else { Ok(None) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_never_shown() {
        let t = AccessToken::new("ya29.secret", None, "test").unwrap();
        assert!(!format!("{t:?}").contains("ya29"));
        assert_eq!(t.bearer(), "Bearer ya29.secret");
        assert!(AccessToken::new("a b", None, "t").is_err());
        assert!(AccessToken::new("a\nb", None, "t").is_err());
    }

    #[test]
    fn pem_bodies_are_decoded() {
        let pem = "-----BEGIN PRIVATE KEY-----\nAAEC\nAw==\n-----END PRIVATE KEY-----\n";
        assert_eq!(&pkcs8_der(pem).unwrap()[..], &[0, 1, 2, 3]);
        assert!(
            pkcs8_der("-----BEGIN RSA PRIVATE KEY-----\nAAEC\n-----END RSA PRIVATE KEY-----")
                .is_err()
        );
        assert!(pkcs8_der("-----BEGIN PRIVATE KEY-----\n!!\n-----END PRIVATE KEY-----").is_err());
    }

    #[test]
    fn token_answers_are_checked() {
        let now = Timestamp::from_unix_millis(1_700_000_000_000);
        let r = |status, body: &str| HttpResponse {
            status,
            headers: vec![],
            body: body.as_bytes().to_vec(),
        };
        let t = token_answer(
            &r(200, r#"{"access_token":"ya29.x","expires_in":3599}"#),
            now,
            "w",
            "s",
        )
        .unwrap();
        assert_eq!(t.expires, Some(now.plus(Duration::from_secs(3599))));
        let e = token_answer(
            &r(
                400,
                r#"{"error":"invalid_grant","error_description":"Invalid JWT Signature."}"#,
            ),
            now,
            "w",
            "s",
        )
        .unwrap_err();
        assert!(
            matches!(&e, Error::KmsAccessDenied(m) if m.contains("invalid_grant")),
            "{e:?}"
        );
        assert!(matches!(
            token_answer(&r(503, ""), now, "w", "s"),
            Err(Error::KmsUnavailable(_))
        ));
        assert!(matches!(
            token_answer(&r(200, "{}"), now, "w", "s"),
            Err(Error::KmsUnavailable(_))
        ));
    }

    #[test]
    fn token_uris_are_checked() {
        assert_eq!(
            token_url(DEFAULT_TOKEN_URI).unwrap(),
            "https://oauth2.googleapis.com/token"
        );
        assert!(token_url("http://127.0.0.1:9/token").is_ok());
        for bad in [
            "http://oauth2.example.com/token",
            "https://user:secret@oauth2.googleapis.com/token",
            "https://oauth2.googleapis.com/token?x=1",
            "ftp://oauth2.googleapis.com/token",
            "not a url",
        ] {
            let e = token_url(bad).unwrap_err();
            assert!(!e.to_string().contains("secret"), "{e}");
        }
        assert!(google_or_loopback("https://oauth2.googleapis.com/token"));
        assert!(google_or_loopback("http://127.0.0.1:9/token"));
        // Older gcloud files.
        assert!(google_or_loopback(
            "https://accounts.google.com/o/oauth2/token"
        ));
        assert!(!google_or_loopback(
            "https://oauth2.googleapis.com.evil.example/token"
        ));
        assert!(!google_or_loopback("https://evil.example/token"));
    }
}
