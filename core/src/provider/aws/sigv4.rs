//! AWS Signature Version 4, as a pure function of the request, the
//! credentials and the caller's clock.
//!
//! Checked against Amazon's SigV4 test suite (`../shared/vectors/sigv4`) and
//! against botocore's `SigV4Auth` for KMS requests. KMS signs with service
//! `kms`, no `x-amz-content-sha256` header, and the session token (if any) as
//! a signed `x-amz-security-token` header.

use crate::http::HttpRequest;
use crate::{Error, Result, Timestamp};
use hmac::{Hmac, Mac};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};
use sha2::{Digest, Sha256};
use std::fmt;
use zeroize::Zeroizing;

/// Characters SigV4 leaves unencoded: RFC 3986 unreserved.
const UNRESERVED: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');
/// The same, also keeping `/` (for paths).
const PATH: &AsciiSet = &UNRESERVED.remove(b'/');

/// Headers never signed (proxies and clients may change them).
const UNSIGNED_HEADERS: &[&str] = &["user-agent", "expect", "x-amzn-trace-id", "authorization"];

/// AWS credentials. The secret and the session token are zeroized on drop
/// and never shown by `Debug`.
#[derive(Clone)]
pub struct Credentials {
    /// Access key ID (not secret).
    pub access_key_id: String,
    secret_access_key: Zeroizing<String>,
    session_token: Option<Zeroizing<String>>,
    /// When temporary credentials expire.
    pub expiration: Option<Timestamp>,
    /// Where they came from (e.g. `environment`, `profile default`, `imds`).
    pub source: String,
}

impl Credentials {
    /// Credentials from their parts.
    pub fn new(
        access_key_id: impl Into<String>,
        secret_access_key: impl Into<String>,
        session_token: Option<String>,
        expiration: Option<Timestamp>,
        source: impl Into<String>,
    ) -> Self {
        Self {
            access_key_id: access_key_id.into(),
            secret_access_key: Zeroizing::new(secret_access_key.into()),
            session_token: session_token.filter(|t| !t.is_empty()).map(Zeroizing::new),
            expiration,
            source: source.into(),
        }
    }

    /// The secret access key. Anything holding this holds the credentials.
    pub fn dangerous_secret_access_key(&self) -> &str {
        &self.secret_access_key
    }

    /// The session token of temporary credentials.
    pub fn session_token(&self) -> Option<&str> {
        self.session_token.as_deref().map(String::as_str)
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"<redacted>")
            .field(
                "session_token",
                &self.session_token.as_ref().map(|_| "<redacted>"),
            )
            .field("expiration", &self.expiration)
            .field("source", &self.source)
            .finish()
    }
}

/// What a signature is scoped to.
#[derive(Clone, Copy, Debug)]
pub struct Scope<'a> {
    /// Region, e.g. `us-east-1`.
    pub region: &'a str,
    /// Service, e.g. `kms`.
    pub service: &'a str,
}

/// Signs `req` in place: sets `x-amz-date`, `host` (if absent) and
/// `x-amz-security-token` (for temporary credentials), then `authorization`.
pub fn sign(
    req: &mut HttpRequest,
    creds: &Credentials,
    scope: Scope<'_>,
    now: Timestamp,
) -> Result<()> {
    let amz_date = amz_date(now)?;
    let parts = UrlParts::parse(&req.url)?;
    set_header(&mut req.headers, "x-amz-date", &amz_date);
    if req.header("host").is_none() {
        req.headers.push(("host".into(), parts.host.to_string()));
    }
    if let Some(token) = creds.session_token() {
        set_header(&mut req.headers, "x-amz-security-token", token);
    }
    let creq = canonical_request(req)?;
    let sts = string_to_sign(&creq.text, &amz_date, scope);
    let sig = signature(
        creds.dangerous_secret_access_key(),
        &amz_date[..8],
        scope,
        &sts,
    );
    let authorization = format!(
        "AWS4-HMAC-SHA256 Credential={}/{}/{}/{}/aws4_request, SignedHeaders={}, Signature={}",
        creds.access_key_id,
        &amz_date[..8],
        scope.region,
        scope.service,
        creq.signed_headers,
        sig
    );
    set_header(&mut req.headers, "authorization", &authorization);
    Ok(())
}

/// A canonical request and its signed-header list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CanonicalRequest {
    /// The canonical request text.
    pub text: String,
    /// `host;x-amz-date;...`
    pub signed_headers: String,
}

/// Builds the canonical request for everything currently in `req`.
pub fn canonical_request(req: &HttpRequest) -> Result<CanonicalRequest> {
    let parts = UrlParts::parse(&req.url)?;
    let path = if parts.path.is_empty() {
        "/"
    } else {
        parts.path
    };
    // Non-S3 services encode the path once more as given (no normalisation).
    let decoded_path = percent_decode_str(path).decode_utf8_lossy();
    let canonical_uri = utf8_percent_encode(&decoded_path, PATH).to_string();

    let mut query: Vec<(String, String)> = parts
        .query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (encode_component(k), encode_component(v))
        })
        .collect();
    query.sort();
    let canonical_query = query
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&");

    // Lower-case names; values trimmed with inner whitespace runs collapsed;
    // repeated names joined with ',' in order of appearance.
    let mut headers: Vec<(String, Vec<String>)> = Vec::new();
    for (name, value) in &req.headers {
        let name = name.trim().to_ascii_lowercase();
        if UNSIGNED_HEADERS.contains(&name.as_str()) {
            continue;
        }
        let value = value.split_whitespace().collect::<Vec<_>>().join(" ");
        match headers.iter_mut().find(|(n, _)| *n == name) {
            Some((_, values)) => values.push(value),
            None => headers.push((name, vec![value])),
        }
    }
    headers.sort_by(|a, b| a.0.cmp(&b.0));
    let canonical_headers: String = headers
        .iter()
        .map(|(n, v)| format!("{n}:{}\n", v.join(",")))
        .collect();
    let signed_headers = headers
        .iter()
        .map(|(n, _)| n.as_str())
        .collect::<Vec<_>>()
        .join(";");
    let payload_hash = hex(&Sha256::digest(&req.body));
    let text = format!(
        "{}\n{canonical_uri}\n{canonical_query}\n{canonical_headers}\n{signed_headers}\n{payload_hash}",
        req.method.as_str()
    );
    Ok(CanonicalRequest {
        text,
        signed_headers,
    })
}

/// The string to sign for a canonical request.
pub fn string_to_sign(canonical_request: &str, amz_date: &str, scope: Scope<'_>) -> String {
    format!(
        "AWS4-HMAC-SHA256\n{amz_date}\n{}/{}/{}/aws4_request\n{}",
        &amz_date[..8.min(amz_date.len())],
        scope.region,
        scope.service,
        hex(&Sha256::digest(canonical_request.as_bytes()))
    )
}

/// The hex signature of a string to sign.
pub fn signature(secret: &str, date: &str, scope: Scope<'_>, string_to_sign: &str) -> String {
    let k_secret = Zeroizing::new(format!("AWS4{secret}"));
    let k_date = Zeroizing::new(hmac(k_secret.as_bytes(), date.as_bytes()));
    let k_region = Zeroizing::new(hmac(&k_date[..], scope.region.as_bytes()));
    let k_service = Zeroizing::new(hmac(&k_region[..], scope.service.as_bytes()));
    let k_signing = Zeroizing::new(hmac(&k_service[..], b"aws4_request"));
    hex(&hmac(&k_signing[..], string_to_sign.as_bytes()))
}

/// `YYYYMMDD'T'HHMMSS'Z'` for a timestamp.
pub fn amz_date(now: Timestamp) -> Result<String> {
    let secs = (now.as_unix_millis() / 1000) as i64;
    let t = time::OffsetDateTime::from_unix_timestamp(secs)
        .map_err(|_| Error::Config("clock is outside the representable range".into()))?;
    let fmt = time::macros::format_description!("[year][month][day]T[hour][minute][second]Z");
    t.format(&fmt)
        .map_err(|_| Error::Config("cannot format the signing time".into()))
}

fn encode_component(s: &str) -> String {
    let decoded = percent_decode_str(s).decode_utf8_lossy();
    utf8_percent_encode(&decoded, UNRESERVED).to_string()
}

fn hmac(key: &[u8], data: &[u8]) -> [u8; 32] {
    // Invariant: HMAC accepts keys of any length.
    #[allow(clippy::expect_used)]
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(data);
    mac.finalize().into_bytes().into()
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn set_header(headers: &mut Vec<(String, String)>, name: &str, value: &str) {
    headers.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
    headers.push((name.to_string(), value.to_string()));
}

/// The pieces of an absolute URL that signing needs. No normalisation.
pub(crate) struct UrlParts<'a> {
    pub(crate) host: &'a str,
    pub(crate) path: &'a str,
    pub(crate) query: &'a str,
}

impl<'a> UrlParts<'a> {
    pub(crate) fn parse(url: &'a str) -> Result<Self> {
        let (scheme, rest) = url
            .split_once("://")
            .ok_or_else(|| Error::Config(format!("not an absolute URL: {url:?}")))?;
        let (authority, path_query) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => match rest.find('?') {
                Some(i) => (&rest[..i], &rest[i..]),
                None => (rest, ""),
            },
        };
        let (path, query) = path_query.split_once('?').unwrap_or((path_query, ""));
        let default_port = match scheme {
            "https" => ":443",
            "http" => ":80",
            _ => "",
        };
        let host = authority.strip_suffix(default_port).unwrap_or(authority);
        if host.is_empty() {
            return Err(Error::Config(format!("URL has no host: {url:?}")));
        }
        Ok(Self { host, path, query })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amz_date_formats_utc() {
        assert_eq!(
            amz_date(Timestamp::from_unix_millis(1_440_938_160_000)).unwrap(),
            "20150830T123600Z"
        );
    }

    #[test]
    fn debug_redacts_secrets() {
        let c = Credentials::new("AKID", "SECRETKEY", Some("TOKEN".into()), None, "test");
        let s = format!("{c:?}");
        assert!(s.contains("AKID") && !s.contains("SECRETKEY") && !s.contains("TOKEN"));
    }

    #[test]
    fn url_parts() {
        let p = UrlParts::parse("https://kms.us-east-1.amazonaws.com:443/?a=b").unwrap();
        assert_eq!(
            (p.host, p.path, p.query),
            ("kms.us-east-1.amazonaws.com", "/", "a=b")
        );
        let p = UrlParts::parse("http://127.0.0.1:5000").unwrap();
        assert_eq!((p.host, p.path), ("127.0.0.1:5000", ""));
        assert!(UrlParts::parse("nope").is_err());
    }
}
