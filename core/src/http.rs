//! Plain HTTP request and response values exchanged with the caller's transport.

use std::fmt;
use std::io::Write;
use zeroize::{Zeroize, Zeroizing};

/// Largest answer body a provider accepts from a KMS or credential endpoint.
/// Transports should stop reading there (dekbox-transport does, whatever the
/// peer announces); providers refuse anything larger in `handle_response`, so
/// a third-party driver or the browser's `fetch` gets the same bound.
pub const MAX_RESPONSE_BODY: usize = 4 * 1024 * 1024;

/// Refuses an answer larger than [`MAX_RESPONSE_BODY`].
pub fn check_response_size(response: &HttpResponse) -> crate::Result<()> {
    if response.body.len() > MAX_RESPONSE_BODY {
        return Err(crate::Error::KmsUnavailable(format!(
            "answer of {} bytes is larger than {MAX_RESPONSE_BODY}",
            response.body.len()
        )));
    }
    Ok(())
}

/// HTTP method of a KMS request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    /// GET
    Get,
    /// POST
    Post,
    /// PUT
    Put,
}

impl Method {
    /// The method's name as sent on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Put => "PUT",
        }
    }
}

/// A fully built (and, where the provider needs it, signed) request.
///
/// The body can carry a plaintext data key (a KMS `Encrypt` of a DEK) or a web
/// identity token, so it is built in a buffer that wipes what it outgrows,
/// zeroized on drop and never printed by `Debug`; neither are credential
/// headers. A transport that sends it should take the body into a buffer that
/// is wiped when the HTTP stack lets go of it (dekbox-transport wraps it in a
/// zeroizing `Bytes` owner); copies made inside a TLS or HTTP library are
/// beyond dekbox's reach.
#[derive(Clone, PartialEq, Eq)]
pub struct HttpRequest {
    /// Method.
    pub method: Method,
    /// Absolute URL, including any query string.
    pub url: String,
    /// Header names and values, in the order they should be sent.
    pub headers: Vec<(String, String)>,
    /// Request body.
    pub body: Vec<u8>,
    /// A discovery request whose failure only means "not here" (the EC2
    /// instance-metadata probe): drivers give it a short timeout (1 s) and do
    /// not retry it.
    pub probe: bool,
}

impl HttpRequest {
    /// A request with no headers, no body, not a probe.
    pub fn new(method: Method, url: impl Into<String>) -> Self {
        Self {
            method,
            url: url.into(),
            headers: Vec::new(),
            body: Vec::new(),
            probe: false,
        }
    }
}

/// A response as the transport received it.
///
/// The body can carry a plaintext data key (a KMS `Decrypt` answer), so it is
/// zeroized on drop and never printed by `Debug`. dekbox-transport reads it
/// into a [`SecretWriter`] (at most 4 MiB), which wipes every allocation it
/// outgrows, and wipes the chunks it owns; buffers inside the HTTP and TLS
/// libraries are beyond its reach.
#[derive(Clone, PartialEq, Eq)]
pub struct HttpResponse {
    /// Status code.
    pub status: u16,
    /// Header names and values.
    pub headers: Vec<(String, String)>,
    /// Response body.
    pub body: Vec<u8>,
}

impl HttpResponse {
    /// The first header with this name, compared case-insensitively.
    pub fn header(&self, name: &str) -> Option<&str> {
        find_header(&self.headers, name)
    }
}

impl HttpRequest {
    /// The first header with this name, compared case-insensitively.
    pub fn header(&self, name: &str) -> Option<&str> {
        find_header(&self.headers, name)
    }
}

fn find_header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

const SECRET_HEADERS: &[&str] = &[
    "authorization",
    "x-amz-security-token",
    "x-vault-token",
    "x-aws-ec2-metadata-token",
];

fn debug_headers(headers: &[(String, String)]) -> Vec<(&str, &str)> {
    headers
        .iter()
        .map(|(k, v)| {
            let secret = SECRET_HEADERS.iter().any(|s| k.eq_ignore_ascii_case(s));
            (k.as_str(), if secret { "<redacted>" } else { v.as_str() })
        })
        .collect()
}

impl fmt::Debug for HttpRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpRequest")
            .field("method", &self.method)
            .field("url", &self.url)
            .field("headers", &debug_headers(&self.headers))
            .field("body_len", &self.body.len())
            .field("probe", &self.probe)
            .finish()
    }
}

impl fmt::Debug for HttpResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpResponse")
            .field("status", &self.status)
            .field("headers", &debug_headers(&self.headers))
            .field("body_len", &self.body.len())
            .finish()
    }
}

impl Drop for HttpRequest {
    fn drop(&mut self) {
        self.body.zeroize();
    }
}

impl Drop for HttpResponse {
    fn drop(&mut self) {
        self.body.zeroize();
    }
}

/// A writer into a zeroizing buffer that wipes each allocation it outgrows, so
/// no copy of a secret-bearing body (a request with a data key, a KMS answer
/// with one) is left behind in freed memory.
pub struct SecretWriter(Zeroizing<Vec<u8>>);

impl SecretWriter {
    /// An empty buffer with room for `n` bytes.
    pub fn with_capacity(n: usize) -> Self {
        Self(Zeroizing::new(Vec::with_capacity(n)))
    }

    /// Bytes written so far.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether nothing was written.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The buffer.
    pub fn into_inner(self) -> Zeroizing<Vec<u8>> {
        self.0
    }
}

impl Write for SecretWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let need = self.0.len() + buf.len();
        if need > self.0.capacity() {
            let mut bigger = Zeroizing::new(Vec::with_capacity(need.max(2 * self.0.capacity())));
            bigger.extend_from_slice(&self.0);
            // The old buffer is wiped (its whole capacity) as it drops.
            self.0 = bigger;
        }
        self.0.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Serializes a request body that may hold a secret (a data key, a token)
/// into a zeroizing buffer, with no unwiped intermediate copies.
pub(crate) fn secret_json<T: serde::Serialize>(value: &T) -> Zeroizing<Vec<u8>> {
    let mut w = SecretWriter::with_capacity(512);
    // Invariant: structs of strings and string maps always serialize.
    if serde_json::to_writer(&mut w, value).is_err() {
        return Zeroizing::new(Vec::new());
    }
    w.into_inner()
}

/// Refuses a validated base URL over which `secrets` would travel in clear:
/// `https` always passes; plain `http` only to a loopback address. (Drivers
/// never send plain-http requests through a proxy: dekbox-transport sends
/// them on a client without one, whatever the proxy settings, so a loopback
/// request stays on the host.) `what` names the setting in the error
/// (`VAULT_ADDR`).
pub fn require_private(what: &str, url: &str, secrets: &str) -> crate::Result<()> {
    if !url.starts_with("http://") || loopback(url) {
        return Ok(());
    }
    Err(crate::Error::Config(format!(
        "{what} must be https unless it is a loopback address: {secrets} would cross the \
         network in clear"
    )))
}

/// Whether a validated base URL names a loopback host.
fn loopback(addr: &str) -> bool {
    match url::Url::parse(addr)
        .ok()
        .and_then(|u| u.host().map(|h| h.to_owned()))
    {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_writer_keeps_every_byte_across_growth() {
        let mut w = SecretWriter::with_capacity(1);
        for chunk in [&b"ab"[..], b"cdefgh", &[b'x'; 1000]] {
            w.write_all(chunk).unwrap();
        }
        let out = w.into_inner();
        assert_eq!(out.len(), 1008);
        assert_eq!(&out[..8], b"abcdefgh");
    }
}
