//! HashiCorp Vault and OpenBao: keys of the transit secrets engine.
//!
//! - URI: `vault://MOUNT/keys/NAME` (`openbao://` is the same), e.g.
//!   `vault://transit/keys/app`; `MOUNT` is the engine's mount path and may
//!   hold several segments (`vault://team/transit/keys/app`).
//! - Address: `VAULT_ADDR`, an `https` URL (`http` only to a loopback
//!   address: the token and data keys would cross the network in clear).
//! - Token: `VAULT_TOKEN`, else the file `~/.vault-token` that `vault login`
//!   writes (mode 0600); read for each request, so a renewed token is picked
//!   up. Sent as `X-Vault-Token`, never shown.
//! - Namespace (Vault Enterprise, OpenBao): `VAULT_NAMESPACE`, sent as
//!   `X-Vault-Namespace`.
//! - With `BAO_ADDR` set, the `BAO_` family is used instead, as a whole (as
//!   OpenBao's own client prefers it). `~/.vault-token` is shared by both
//!   CLIs, as they share it.
//!
//! Data keys are generated here (the engine's CSPRNG) and wrapped with
//! `encrypt`, unwrapped with `decrypt`: Vault's `datakey/plaintext` takes no
//! `associated_data` (nor did OpenBao's before 2.5), and a key wrapped
//! without it would never unwrap. The dekbox context (its canonical bytes,
//! base64) is sent both as `context`, which a derived key (`derived=true`)
//! derives its key from, and as `associated_data`, which an AEAD key
//! authenticates (a key that is not derived ignores `context`), so the
//! context is bound either way. A server that ignores a parameter says so in
//! `warnings` (Vault 1.10 to 1.12 ignore `associated_data`), and the answer
//! is refused. Vault 1.9 and older ignore it without saying so: there, only
//! a derived key (`derived=true`) binds the context, so use derived keys
//! with such servers. A wrapped data key
//! is the transit ciphertext itself (`vault:vN:…`, `N` the key version).
//!
//! `encrypt` creates a missing key when the token may (`create` on the
//! path): give dekbox's policy `update` only, so a mistyped key name fails.
//! TLS uses the system's roots; `VAULT_CACERT` and client certificates are
//! not read.

use super::KeyProvider;
use crate::context::EncryptionContext;
use crate::env::Environment;
use crate::format::MAX_WRAPPED_DEK_LEN;
use crate::http::{HttpRequest, HttpResponse, Method, secret_json};
use crate::key::{DataKey, GeneratedKey};
use crate::op::{BoxOp, Operation, Step};
use crate::random::SecureRandom;
use crate::{Error, Result, Timestamp};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use zeroize::Zeroizing;

/// The `VAULT_*` or the `BAO_*` variables, as a whole.
#[derive(Clone, Copy)]
struct Family {
    addr: &'static str,
    token: &'static str,
    namespace: &'static str,
}

const VAULT: Family = Family {
    addr: "VAULT_ADDR",
    token: "VAULT_TOKEN",
    namespace: "VAULT_NAMESPACE",
};
const BAO: Family = Family {
    addr: "BAO_ADDR",
    token: "BAO_TOKEN",
    namespace: "BAO_NAMESPACE",
};

/// A transit key in Vault or OpenBao.
pub struct VaultProvider {
    uri: String,
    /// The server's base URL, with one trailing slash.
    addr: String,
    mount: String,
    name: String,
    family: Family,
    env: Arc<dyn Environment>,
}

impl std::fmt::Debug for VaultProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VaultProvider")
            .field("uri", &self.uri)
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

/// A path segment of a mount or key name: what Vault itself accepts, and
/// nothing that could change the request's path (`..`, `/`, `?`, `%`).
fn segment(s: &str) -> bool {
    !s.is_empty()
        && s != "."
        && s != ".."
        && s.len() <= 128
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

fn var(env: &dyn Environment, name: &str) -> Option<String> {
    env.var(name).filter(|v| !v.trim().is_empty())
}

impl VaultProvider {
    /// A provider for `vault://MOUNT/keys/NAME` or `openbao://MOUNT/keys/NAME`.
    pub fn from_uri(uri: &str, env: Arc<dyn Environment>) -> Result<Self> {
        let rest = uri
            .strip_prefix("vault://")
            .or_else(|| uri.strip_prefix("openbao://"))
            .ok_or_else(|| Error::Config("a Vault key URI starts vault:// or openbao://".into()))?;
        let bad = || {
            Error::Config(format!(
                "Vault key URI {uri:?} is not MOUNT/keys/NAME (letters, digits, -, _ and . per segment), \
                 e.g. vault://transit/keys/app"
            ))
        };
        let (mount, name) = rest.rsplit_once("/keys/").ok_or_else(bad)?;
        if !segment(name) || !mount.split('/').all(segment) {
            return Err(bad());
        }
        let family = if var(env.as_ref(), BAO.addr).is_some() {
            BAO
        } else {
            VAULT
        };
        let given = var(env.as_ref(), family.addr).ok_or_else(|| {
            Error::Config(
                "no Vault address: set VAULT_ADDR (e.g. https://vault.example.com:8200)".into(),
            )
        })?;
        let addr = super::aws::endpoint::explicit_url(family.addr, &given)?;
        crate::http::require_private(family.addr, &addr, "the token and data keys")?;
        Ok(Self {
            // One spelling, so a message names the key the same way whichever
            // scheme wrote it.
            uri: format!("vault://{rest}"),
            addr,
            mount: mount.to_string(),
            name: name.to_string(),
            family,
            env,
        })
    }

    /// The token for the next request.
    fn token(&self) -> Result<Zeroizing<String>> {
        if let Some(t) = var(self.env.as_ref(), self.family.token) {
            return Ok(Zeroizing::new(t.trim().to_string()));
        }
        match self.env.read_secret_file("~/.vault-token", 4096) {
            Ok(bytes) => {
                let t = std::str::from_utf8(&bytes)
                    .map_err(|_| Error::Config("~/.vault-token is not UTF-8".into()))?
                    .trim();
                if t.is_empty() || t.chars().any(char::is_control) {
                    return Err(Error::Config("~/.vault-token holds no usable token".into()));
                }
                Ok(Zeroizing::new(t.to_string()))
            }
            Err(why) => Err(Error::Config(format!(
                "no Vault token: {} is not set, and ~/.vault-token (which vault login writes) \
                 could not be used: {why}",
                self.family.token
            ))),
        }
    }

    /// The request for transit operation `op` (`encrypt`, `decrypt`) with a
    /// JSON body.
    fn request(&self, op: &str, body: &[u8]) -> Result<HttpRequest> {
        let token = self.token()?;
        if token.chars().any(|c| c.is_control() || c == ' ') {
            return Err(Error::Config(
                "the Vault token contains a space or control character".into(),
            ));
        }
        let url = format!("{}v1/{}/{op}/{}", self.addr, self.mount, self.name);
        let mut req = HttpRequest::new(Method::Post, url);
        req.headers = vec![
            ("content-type".into(), "application/json".into()),
            ("x-vault-request".into(), "true".into()),
            ("x-vault-token".into(), token.to_string()),
        ];
        if let Some(ns) = var(self.env.as_ref(), self.family.namespace) {
            if ns.chars().any(char::is_control) {
                return Err(Error::Config(format!(
                    "{} contains a control character",
                    self.family.namespace
                )));
            }
            req.headers.push(("x-vault-namespace".into(), ns));
        }
        req.body = body.to_vec();
        Ok(req)
    }

    fn call<T: Send + 'static>(
        &self,
        op: &'static str,
        body: Zeroizing<Vec<u8>>,
        parse: fn(Data) -> Result<T>,
    ) -> BoxOp<'_, T> {
        Box::new(VaultCall {
            provider: self,
            op,
            body,
            parse,
            batch: false,
            awaiting: false,
            result: None,
        })
    }
}

/// A transit request body. The plaintext is borrowed from a wiping buffer and
/// the body written into one.
#[derive(Serialize, Default)]
struct Body<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    plaintext: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    ciphertext: Option<&'a str>,
    context: &'a str,
    associated_data: &'a str,
}

fn body(
    ctx: &EncryptionContext,
    plaintext: Option<&[u8]>,
    ciphertext: Option<&str>,
) -> Zeroizing<Vec<u8>> {
    let context = STANDARD.encode(ctx.canonical_bytes());
    let pt = plaintext.map(|p| Zeroizing::new(STANDARD.encode(p)));
    secret_json(&Body {
        plaintext: pt.as_ref().map(|p| p.as_str()),
        ciphertext,
        context: &context,
        associated_data: &context,
    })
}

/// The `data` of a successful transit answer.
#[derive(Deserialize)]
struct Data {
    ciphertext: Option<String>,
    plaintext: Option<Zeroizing<String>>,
    /// A `batch_input` request's results, one per item, in order.
    batch_results: Option<Vec<BatchItem>>,
}

#[derive(Deserialize)]
struct BatchItem {
    plaintext: Option<Zeroizing<String>>,
    #[serde(default)]
    error: Option<String>,
}

/// A `batch_input` item of a decrypt.
#[derive(Serialize)]
struct BatchDecrypt<'a> {
    ciphertext: &'a str,
    context: &'a str,
    associated_data: &'a str,
}

#[derive(Serialize)]
struct Batch<'a> {
    batch_input: Vec<BatchDecrypt<'a>>,
}

#[derive(Deserialize)]
struct Answer {
    data: Option<Data>,
    #[serde(default)]
    warnings: Option<Vec<String>>,
}

/// A 200 that is not a transit answer: not worth sending again.
fn bad_answer(what: &str) -> Error {
    Error::Kms {
        code: "InvalidAnswer".into(),
        message: format!("Vault answered 200 but {what}"),
    }
}

#[derive(Deserialize)]
struct Errors {
    #[serde(default)]
    errors: Vec<String>,
}

/// Parses a transit answer: a 200 with `data`, or an error mapped onto the
/// taxonomy. A batch with a failed item is answered 400 with every item's
/// result in `data.batch_results` (`batch`: such an answer is read as data).
fn parse(resp: &HttpResponse, batch: bool) -> Result<Data> {
    // (400 when an item was refused; 500 when one failed inside Vault.)
    let batch_answer = batch
        && matches!(resp.status, 400 | 500)
        && serde_json::from_slice::<Answer>(&resp.body)
            .ok()
            .and_then(|a| a.data)
            .is_some_and(|d| d.batch_results.is_some());
    if resp.status != 200 && !batch_answer {
        return Err(error_from(resp));
    }
    let answer: Answer = serde_json::from_slice(&resp.body)
        .map_err(|_| bad_answer("with a body that is not transit JSON"))?;
    // A server that ignored a parameter (Vault before 1.13 ignores
    // associated_data) did not bind the context: refuse, never fail open.
    for w in answer.warnings.iter().flatten() {
        if w.to_ascii_lowercase().contains("unrecognized parameters") {
            let w: String = w.chars().filter(|c| !c.is_control()).take(200).collect();
            return Err(Error::Config(format!(
                "this Vault ignored parameters dekbox binds the context with ({w}): \
                 Vault 1.13 or later, or OpenBao, is needed"
            )));
        }
    }
    answer.data.ok_or_else(|| bad_answer("without data"))
}

/// Maps a Vault error answer (`{"errors": [...]}` and the status) onto
/// dekbox's errors. Vault's messages name keys and versions, never secrets;
/// they are cut to 300 characters with control characters removed.
pub fn error_from(resp: &HttpResponse) -> Error {
    let errors: Vec<String> = serde_json::from_slice::<Errors>(&resp.body)
        .map(|e| e.errors)
        .unwrap_or_default();
    error_for(resp.status, &errors.join("; "))
}

/// Maps a status and Vault's message onto dekbox's errors.
fn error_for(status: u16, message: &str) -> Error {
    let message: String = message
        .chars()
        .filter(|c| !c.is_control())
        .take(300)
        .collect();
    let lower = message.to_ascii_lowercase();
    let shown = if message.is_empty() {
        format!("HTTP {}", status)
    } else {
        message.clone()
    };
    match status {
        403 => Error::KmsAccessDenied(shown),
        429 => Error::KmsThrottled(shown),
        // 412: a performance standby not caught up yet (Vault's own client
        // retries it); 503: sealed, or in standby.
        412 | 500..=599 => Error::KmsUnavailable(shown),
        404 => Error::KeyNotFound(shown),
        400 if lower.contains("message authentication failed")
            || lower.contains("invalid ciphertext")
            || lower.contains("unable to decode")
            || lower.contains("invalid base64") =>
        {
            Error::Authentication
        }
        400 if lower.contains("disallowed by policy")
            || lower.contains("too old")
            || lower.contains("soft-deleted") =>
        {
            Error::KeyDisabled(shown)
        }
        400 if lower.contains("non-aead") => Error::Config(format!(
            "this transit key is not of an AEAD type (aes256-gcm96, chacha20-poly1305, ...), \
             so it cannot bind the context: {shown}"
        )),
        400 if lower.contains("not found") => Error::KeyNotFound(shown),
        status => Error::Kms {
            code: format!("HTTP {status}"),
            message: shown,
        },
    }
}

/// One transit call. A retryable error leaves it ready to send again (with
/// the token read afresh).
struct VaultCall<'a, T> {
    provider: &'a VaultProvider,
    op: &'static str,
    body: Zeroizing<Vec<u8>>,
    parse: fn(Data) -> Result<T>,
    batch: bool,
    awaiting: bool,
    result: Option<T>,
}

impl<T: Send> Operation for VaultCall<'_, T> {
    type Output = T;

    fn poll(&mut self, _now: Timestamp) -> Result<Step<T>> {
        if let Some(v) = self.result.take() {
            return Ok(Step::Done(v));
        }
        let req = self.provider.request(self.op, &self.body)?;
        self.awaiting = true;
        Ok(Step::Send(req))
    }

    fn handle_response(&mut self, response: HttpResponse) -> Result<()> {
        crate::http::check_response_size(&response)?;
        if !self.awaiting {
            return Err(Error::ApiMisuse("no request outstanding"));
        }
        self.awaiting = false;
        let data = parse(&response, self.batch)?;
        self.result = Some((self.parse)(data)?);
        Ok(())
    }
}

/// A transit ciphertext: `vault:v` + a version (1-10 digits, no leading
/// zero: Vault reads `v01` as `v1`, which would give one key two spellings)
/// + `:` + standard base64.
fn is_ciphertext(s: &str) -> bool {
    let Some(rest) = s.strip_prefix("vault:v") else {
        return false;
    };
    let Some((version, b64)) = rest.split_once(':') else {
        return false;
    };
    let body = b64.trim_end_matches('=');
    // Canonical base64 too (padded, no stray bits), so one ciphertext has
    // one spelling.
    STANDARD.decode(b64).is_ok()
        && (1..=10).contains(&version.len())
        && !version.starts_with('0')
        && version.bytes().all(|b| b.is_ascii_digit())
        && !body.is_empty()
        && b64.len() - body.len() <= 2
        && body
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/'))
}

/// The key version a transit ciphertext names (`vault:v3:…` → 3), for
/// `inspect`; `None` for anything that is not a transit ciphertext.
pub fn key_version(wrapped: &[u8]) -> Option<u32> {
    let s = std::str::from_utf8(wrapped)
        .ok()
        .filter(|s| is_ciphertext(s))?;
    s.strip_prefix("vault:v")?.split(':').next()?.parse().ok()
}

/// The ciphertext of an answer, checked with the grammar the read side uses.
fn ciphertext(d: &Data) -> Result<Vec<u8>> {
    let c = d
        .ciphertext
        .as_deref()
        .ok_or_else(|| bad_answer("without a ciphertext"))?;
    if !is_ciphertext(c) {
        return Err(bad_answer(
            "with a ciphertext that is not vault:vN:<base64>",
        ));
    }
    Ok(c.as_bytes().to_vec())
}

fn plaintext(d: Data) -> Result<Zeroizing<Vec<u8>>> {
    let p = d
        .plaintext
        .ok_or_else(|| bad_answer("without a plaintext"))?;
    STANDARD
        .decode(p.as_bytes())
        .map(Zeroizing::new)
        .map_err(|_| bad_answer("with invalid base64"))
}

/// The data keys of a batch decrypt, one result per item.
fn batch_keys(d: Data) -> Result<Vec<Result<DataKey>>> {
    let items = d
        .batch_results
        .ok_or_else(|| bad_answer("without batch_results"))?;
    Ok(items
        .into_iter()
        .map(
            |item| match (item.error.filter(|e| !e.is_empty()), item.plaintext) {
                (Some(e), _) => Err(error_for(400, &e)),
                (None, Some(p)) => data_key(Data {
                    ciphertext: None,
                    plaintext: Some(p),
                    batch_results: None,
                }),
                (None, None) => Err(bad_answer(
                    "with a batch item holding neither plaintext nor error",
                )),
            },
        )
        .collect())
}

fn data_key(d: Data) -> Result<DataKey> {
    // Something other than a 32-byte key is not one of our wrapped keys.
    DataKey::from_slice(&plaintext(d)?).ok_or(Error::Authentication)
}

/// A wrapped data key: bounded like every wrapped key in a header.
fn wrapped_key(d: Data) -> Result<Vec<u8>> {
    let c = ciphertext(&d)?;
    if c.len() > MAX_WRAPPED_DEK_LEN {
        return Err(bad_answer("with a wrapped key longer than a header holds"));
    }
    Ok(c)
}

/// A legacy value encrypted directly: any length.
fn direct(d: Data) -> Result<Vec<u8>> {
    ciphertext(&d)
}

/// A wrapped key as transit's ciphertext string; anything else is refused
/// before a request is made, as an altered blob is: `AUTHENTICATION`.
fn as_ciphertext(wrapped: &[u8]) -> Result<&str> {
    std::str::from_utf8(wrapped)
        .ok()
        .filter(|s| is_ciphertext(s))
        .ok_or(Error::Authentication)
}

impl KeyProvider for VaultProvider {
    fn uri(&self) -> &str {
        &self.uri
    }

    fn wrapped_version(&self, wrapped: &[u8]) -> Option<u32> {
        key_version(wrapped)
    }

    fn batches(&self) -> bool {
        true
    }

    fn unwrap_many(
        &self,
        wrapped: &[&[u8]],
        context: &EncryptionContext,
    ) -> Option<BoxOp<'_, Vec<Result<DataKey>>>> {
        // Anything that is not a transit ciphertext is refused as the single
        // path refuses it (AUTHENTICATION), without holding up the others.
        let checked: Vec<Option<&str>> = wrapped.iter().map(|w| as_ciphertext(w).ok()).collect();
        let ciphertexts: Vec<&str> = checked.iter().flatten().copied().collect();
        if ciphertexts.is_empty() {
            return None;
        }
        let ctx = STANDARD.encode(context.canonical_bytes());
        let body = secret_json(&Batch {
            batch_input: ciphertexts
                .iter()
                .map(|c| BatchDecrypt {
                    ciphertext: c,
                    context: &ctx,
                    associated_data: &ctx,
                })
                .collect(),
        });
        let sent: Vec<bool> = checked.iter().map(Option::is_some).collect();
        let parse: fn(Data) -> Result<Vec<Result<DataKey>>> = batch_keys;
        Some(Box::new(crate::op::Map::new(
            Box::new(VaultCall {
                provider: self,
                op: "decrypt",
                body,
                parse,
                batch: true,
                awaiting: false,
                result: None,
            }),
            move |keys: Vec<Result<DataKey>>| {
                if keys.len() != sent.iter().filter(|s| **s).count() {
                    return Err(bad_answer("with a batch_results list of the wrong length"));
                }
                let mut keys = keys.into_iter();
                Ok(sent
                    .iter()
                    .map(|&s| {
                        if s {
                            keys.next().unwrap_or(Err(Error::Authentication))
                        } else {
                            Err(Error::Authentication)
                        }
                    })
                    .collect())
            },
        )))
    }

    fn generate_data_key(
        &self,
        context: &EncryptionContext,
        rng: &dyn SecureRandom,
    ) -> BoxOp<'_, GeneratedKey> {
        // Generated here and wrapped with encrypt: datakey/plaintext takes no
        // associated_data on Vault (module docs).
        super::generate_and_wrap(self, context, rng)
    }

    fn wrap(
        &self,
        dek: &DataKey,
        context: &EncryptionContext,
        _rng: &dyn SecureRandom,
    ) -> BoxOp<'_, Vec<u8>> {
        self.call(
            "encrypt",
            body(context, Some(dek.dangerous_bytes()), None),
            wrapped_key,
        )
    }

    fn unwrap(&self, wrapped: &[u8], context: &EncryptionContext) -> BoxOp<'_, DataKey> {
        match as_ciphertext(wrapped) {
            Ok(c) => self.call("decrypt", body(context, None, Some(c)), data_key),
            Err(e) => crate::op::Ready::boxed(Err(e)),
        }
    }

    fn encrypt_direct(
        &self,
        plaintext: &[u8],
        context: &EncryptionContext,
        _rng: &dyn SecureRandom,
    ) -> BoxOp<'_, Vec<u8>> {
        self.call("encrypt", body(context, Some(plaintext), None), direct)
    }

    fn decrypt_direct(
        &self,
        ciphertext: &[u8],
        context: &EncryptionContext,
    ) -> BoxOp<'_, Zeroizing<Vec<u8>>> {
        match as_ciphertext(ciphertext) {
            Ok(c) => self.call("decrypt", body(context, None, Some(c)), plaintext),
            Err(e) => crate::op::Ready::boxed(Err(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::env::MapEnvironment;

    fn env(vars: &[(&str, &str)]) -> Arc<dyn Environment> {
        Arc::new(MapEnvironment::with_vars(vars))
    }

    fn resp(status: u16, body: &str) -> HttpResponse {
        HttpResponse {
            status,
            headers: vec![],
            body: body.as_bytes().to_vec(),
        }
    }

    #[test]
    fn uris_addresses_and_tokens() {
        let e = env(&[
            ("VAULT_ADDR", "http://127.0.0.1:8200"),
            ("VAULT_TOKEN", "s.abc"),
        ]);
        let p = VaultProvider::from_uri("vault://transit/keys/app", e.clone()).unwrap();
        let req = p.request("encrypt", b"{}").unwrap();
        assert_eq!(req.url, "http://127.0.0.1:8200/v1/transit/encrypt/app");
        assert!(
            req.headers
                .contains(&("x-vault-token".into(), "s.abc".into()))
        );
        let p = VaultProvider::from_uri("openbao://team/transit/keys/app.v2", e.clone()).unwrap();
        assert_eq!(
            p.request("datakey/plaintext", b"{}").unwrap().url,
            "http://127.0.0.1:8200/v1/team/transit/datakey/plaintext/app.v2"
        );
        for bad in [
            "vault://transit/app",
            "vault://transit/keys/",
            "vault://../keys/app",
            "vault://transit/keys/a?b",
            "vault://transit/keys/a%2f",
            "vault://tr ansit/keys/a",
        ] {
            assert!(
                matches!(
                    VaultProvider::from_uri(bad, e.clone()),
                    Err(Error::Config(_))
                ),
                "{bad}"
            );
        }
        let none = VaultProvider::from_uri("vault://transit/keys/app", env(&[])).unwrap_err();
        assert!(none.to_string().contains("VAULT_ADDR"), "{none}");
        let creds = env(&[("VAULT_ADDR", "https://user:pw@vault.example.com")]);
        let e = VaultProvider::from_uri("vault://transit/keys/app", creds).unwrap_err();
        assert!(!e.to_string().contains("pw"), "{e}");
        // No token anywhere: a configuration error naming where to put one.
        let p = VaultProvider::from_uri(
            "vault://transit/keys/app",
            env(&[("VAULT_ADDR", "http://127.0.0.1:8200")]),
        )
        .unwrap();
        assert!(
            matches!(p.request("encrypt", b"{}"), Err(Error::Config(m)) if m.contains("VAULT_TOKEN"))
        );
    }

    #[test]
    fn the_token_file_and_the_namespace() {
        let mut e = MapEnvironment::default();
        e.vars
            .insert("VAULT_ADDR".into(), "https://vault.example.com:8200".into());
        e.vars.insert("VAULT_NAMESPACE".into(), "team-a".into());
        e.files
            .insert("~/.vault-token".into(), b"hvs.from-file\n".to_vec());
        let p = VaultProvider::from_uri("vault://transit/keys/app", Arc::new(e)).unwrap();
        let req = p.request("decrypt", b"{}").unwrap();
        assert!(
            req.headers
                .contains(&("x-vault-token".into(), "hvs.from-file".into()))
        );
        assert!(
            req.headers
                .contains(&("x-vault-namespace".into(), "team-a".into()))
        );
        // The token is never in Debug output.
        assert!(!format!("{p:?}").contains("hvs."));
    }

    #[test]
    fn bodies_bind_the_context_both_ways() {
        let ctx = EncryptionContext::from_pairs([("tenant", "acme")]).unwrap();
        let b = body(&ctx, Some(&[7; 32]), None);
        let v: serde_json::Value = serde_json::from_slice(&b).unwrap();
        let c = STANDARD.encode(ctx.canonical_bytes());
        assert_eq!(v["context"], c.as_str());
        assert_eq!(v["associated_data"], c.as_str());
        assert_eq!(v["plaintext"], STANDARD.encode([7; 32]).as_str());
    }

    #[test]
    fn one_spelling_one_family_and_no_clear_text_off_the_host() {
        let e = env(&[("VAULT_ADDR", "http://localhost:8200")]);
        let p = VaultProvider::from_uri("openbao://transit/keys/app", e).unwrap();
        assert_eq!(p.uri(), "vault://transit/keys/app");
        let e = env(&[("VAULT_ADDR", "http://vault.internal:8200")]);
        let err = VaultProvider::from_uri("vault://transit/keys/app", e).unwrap_err();
        assert!(err.to_string().contains("https"), "{err}");
        // BAO_ADDR set: the BAO_ family as a whole, never VAULT_TOKEN for it.
        let e = env(&[
            ("VAULT_ADDR", "https://vault.a.example"),
            ("VAULT_TOKEN", "token-for-a"),
            ("BAO_ADDR", "https://bao.b.example"),
            ("BAO_TOKEN", "token-for-b"),
        ]);
        let p = VaultProvider::from_uri("vault://transit/keys/app", e).unwrap();
        let req = p.request("encrypt", b"{}").unwrap();
        assert!(req.url.starts_with("https://bao.b.example/"));
        assert!(
            req.headers
                .contains(&("x-vault-token".into(), "token-for-b".into()))
        );
        // Header injection through the token or the namespace.
        for (k, v) in [
            ("VAULT_TOKEN", "a\r\nx-evil: 1"),
            ("VAULT_NAMESPACE", "n\ny"),
        ] {
            let mut vars = vec![
                ("VAULT_ADDR", "https://vault.example"),
                ("VAULT_TOKEN", "t"),
            ];
            vars.retain(|(n, _)| *n != k);
            vars.push((k, v));
            let p = VaultProvider::from_uri("vault://transit/keys/app", env(&vars)).unwrap();
            assert!(
                matches!(p.request("encrypt", b"{}"), Err(Error::Config(_))),
                "{k}"
            );
        }
    }

    #[test]
    fn plain_http_only_to_loopback() {
        // Proxy variables do not matter: the transport never sends plain
        // http through a proxy (dekbox-transport's no_proxy test).
        let proxied = [
            ("VAULT_ADDR", "http://127.0.0.1:8200"),
            ("http_proxy", "http://proxy:3128"),
        ];
        assert!(VaultProvider::from_uri("vault://transit/keys/app", env(&proxied)).is_ok());
        let e = VaultProvider::from_uri(
            "vault://transit/keys/app",
            env(&[("VAULT_ADDR", "http://vault.example:8200")]),
        )
        .unwrap_err();
        assert!(e.to_string().contains("https"), "{e}");
        for ok in [
            "http://[::1]:8200",
            "http://127.0.0.2:8200",
            "http://LOCALHOST:8200",
            "https://vault.example",
        ] {
            let e = env(&[("VAULT_ADDR", ok)]);
            assert!(
                VaultProvider::from_uri("vault://transit/keys/app", e).is_ok(),
                "{ok}"
            );
        }
    }

    #[test]
    fn ciphertexts_have_one_grammar() {
        for ok in ["vault:v1:AAAA", "vault:v12:q83v+w==", "vault:v1:QUJD"] {
            assert!(is_ciphertext(ok), "{ok}");
        }
        for bad in [
            "vault:v0:AAAA",
            "vault:v01:AAAA",
            "vault:v+1:AAAA",
            "vault:v1:",
            "vault:v1:AA===",
            "vault:v1:AA-_",
            "vault:v:AAAA",
            "vault:v12345678901:AAAA",
            "AQID",
            "vault:v1:abc\"}",
            "vault:v1:AAA",
            "vault:v1:AAB=",
        ] {
            assert!(!is_ciphertext(bad), "{bad}");
        }
    }

    #[test]
    fn a_server_that_ignored_a_parameter_is_refused() {
        let ok = r#"{"data":{"ciphertext":"vault:v1:AAAA"},"warnings":null}"#;
        assert!(parse(&resp(200, ok), false).is_ok());
        let benign =
            r#"{"data":{"ciphertext":"vault:v1:AAAA"},"warnings":["Endpoint replaced the value"]}"#;
        assert!(parse(&resp(200, benign), false).is_ok());
        let ignored = r#"{"data":{"ciphertext":"vault:v1:AAAA"},
            "warnings":["Endpoint ignored these unrecognized parameters: [associated_data]"]}"#;
        assert!(matches!(
            parse(&resp(200, ignored), false),
            Err(Error::Config(_))
        ));
        // A 200 that is not an answer is not retried.
        let e = parse(&resp(200, "<html>"), false).err().unwrap();
        assert!(!e.is_retryable(), "{e}");
        let e = wrapped_key(Data {
            ciphertext: Some("not it".into()),
            plaintext: None,
            batch_results: None,
        })
        .unwrap_err();
        assert!(!e.is_retryable(), "{e}");
    }

    #[test]
    fn errors_map_onto_the_taxonomy() {
        let e = |s, b| error_from(&resp(s, b));
        assert!(matches!(
            e(403, r#"{"errors":["permission denied"]}"#),
            Error::KmsAccessDenied(_)
        ));
        assert!(matches!(
            e(
                400,
                r#"{"errors":["cipher: message authentication failed"]}"#
            ),
            Error::Authentication
        ));
        assert!(matches!(
            e(400, r#"{"errors":["invalid ciphertext: no prefix"]}"#),
            Error::Authentication
        ));
        assert!(matches!(
            e(
                400,
                r#"{"errors":["ciphertext or signature version is disallowed by policy (too old)"]}"#
            ),
            Error::KeyDisabled(_)
        ));
        assert!(matches!(
            e(400, r#"{"errors":["encryption key not found"]}"#),
            Error::KeyNotFound(_)
        ));
        assert!(matches!(e(429, "{}"), Error::KmsThrottled(_)));
        assert!(e(503, r#"{"errors":["Vault is sealed"]}"#).is_retryable());
        assert!(e(500, "not json").is_retryable());
        assert!(matches!(
            e(400, r#"{"errors":["something else"]}"#),
            Error::Kms { .. }
        ));
        // 200 with garbage, and a wrapped key that is not transit's.
        assert!(parse(&resp(200, "<html>"), false).is_err());
        assert!(as_ciphertext(b"AQID").is_err());
        assert!(as_ciphertext(b"vault:v2:q83v+w==").is_ok());
        assert_eq!(key_version(b"vault:v12:q83v+w=="), Some(12));
        assert_eq!(key_version(b"vault:v01:q83v+w=="), None);
        assert_eq!(key_version(&[1, 2, 3]), None);
        assert!(matches!(
            as_ciphertext(b"vault:v1:A@AA"),
            Err(Error::Authentication)
        ));
    }
}
