//! `gcp-kms://` keys: Google Cloud KMS symmetric keys over the REST v1 API.
//!
//! - URI: `gcp-kms://projects/P/locations/L/keyRings/R/cryptoKeys/K`, or
//!   `.../cryptoKeys/K/cryptoKeyVersions/V` to encrypt with version `V`
//!   rather than the key's primary (decrypting always names the key: the
//!   ciphertext says which version made it). Messages name the key
//!   either way, so a keyring holding the key opens them.
//! - Endpoint: [`GcpOptions::endpoint`], else
//!   `CLOUDSDK_API_ENDPOINT_OVERRIDES_CLOUDKMS` (gcloud's override), else
//!   `https://cloudkms.googleapis.com/`; plain `http` only to a loopback
//!   address.
//! - Credentials: see [`auth`] (an access token, a key file, the metadata
//!   server).
//!
//! Data keys are generated here (the engine's CSPRNG) and wrapped with
//! `:encrypt`, unwrapped with `:decrypt`. The dekbox context's canonical
//! bytes (docs/FORMAT.md) are the `additionalAuthenticatedData`, so Cloud
//! KMS itself refuses to unwrap under another context. Every request and
//! answer carries CRC32C checksums, checked at both ends ([`api`]). A
//! wrapped data key is Cloud KMS's ciphertext, as bytes.

pub mod api;
pub mod auth;

use crate::context::EncryptionContext;
use crate::env::Environment;
use crate::format::MAX_WRAPPED_DEK_LEN;
use crate::http::{HttpRequest, HttpResponse, Method};
use crate::key::{DataKey, GeneratedKey};
use crate::op::{BoxOp, Ready};
use crate::provider::KeyProvider;
use crate::provider::credentials::{Call, CredentialCache, WarmUp};
use crate::random::SecureRandom;
use crate::{Error, Result};
use auth::{AccessToken, TokenChain};
use std::sync::Arc;
use zeroize::Zeroizing;

/// Cloud KMS's endpoint.
pub const DEFAULT_ENDPOINT: &str = "https://cloudkms.googleapis.com/";

/// Options for `gcp-kms://` keys.
#[derive(Clone, Default)]
pub struct GcpOptions {
    /// Endpoint URL override (loopback test servers, Private Service Connect).
    pub endpoint: Option<String>,
    /// Use this OAuth 2.0 access token instead of finding credentials (it is
    /// never refreshed).
    pub access_token: Option<String>,
}

impl std::fmt::Debug for GcpOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GcpOptions")
            .field("endpoint", &self.endpoint)
            .field(
                "access_token",
                &self.access_token.as_ref().map(|_| "<redacted>"),
            )
            .finish()
    }
}

/// A Cloud KMS key.
pub struct GcpKmsProvider {
    uri: String,
    /// `projects/P/locations/L/keyRings/R/cryptoKeys/K`.
    key: String,
    /// The version to encrypt with, if the URI names one.
    version: Option<String>,
    endpoint: String,
    credentials: CredentialCache<AccessToken>,
}

impl std::fmt::Debug for GcpKmsProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GcpKmsProvider")
            .field("uri", &self.uri)
            .field("endpoint", &self.endpoint)
            .finish_non_exhaustive()
    }
}

/// One resource id of a key name: what Cloud KMS allows (letters, digits,
/// `-`, `_`; project ids also `.` and `:` for domain-scoped projects), and
/// nothing that could change the request's path or method.
fn id(s: &str, project: bool) -> bool {
    !s.is_empty()
        && s != "."
        && s != ".."
        && s.len() <= 100
        && s.bytes().all(|b| {
            b.is_ascii_alphanumeric()
                || matches!(b, b'-' | b'_')
                || (project && matches!(b, b'.' | b':'))
        })
}

impl GcpKmsProvider {
    /// Builds a provider from a `gcp-kms://` URI.
    pub fn from_uri(uri: &str, env: Arc<dyn Environment>, options: &GcpOptions) -> Result<Self> {
        let rest = uri
            .strip_prefix("gcp-kms://")
            .ok_or_else(|| Error::Config("a Cloud KMS key URI starts gcp-kms://".into()))?;
        let bad = || {
            Error::Config(format!(
                "Cloud KMS key URI {uri:?} is not \
                 gcp-kms://projects/P/locations/L/keyRings/R/cryptoKeys/K[/cryptoKeyVersions/V]"
            ))
        };
        let parts: Vec<&str> = rest.split('/').collect();
        let labels = [
            "projects",
            "locations",
            "keyRings",
            "cryptoKeys",
            "cryptoKeyVersions",
        ];
        if !(parts.len() == 8 || parts.len() == 10)
            || parts
                .chunks(2)
                .zip(labels)
                .any(|(pair, label)| pair[0] != label || !id(pair[1], label == "projects"))
        {
            return Err(bad());
        }
        let version = if parts.len() == 10 {
            if !parts[9].bytes().all(|b| b.is_ascii_digit()) || parts[9].starts_with('0') {
                return Err(bad());
            }
            Some(rest.to_string())
        } else {
            None
        };
        let key = parts[..8].join("/");
        let endpoint = match options.endpoint.clone().or_else(|| {
            env.var("CLOUDSDK_API_ENDPOINT_OVERRIDES_CLOUDKMS")
                .filter(|v| !v.trim().is_empty())
        }) {
            Some(given) => {
                let url = super::aws::endpoint::explicit_url("the Cloud KMS endpoint", &given)?;
                crate::http::require_private(
                    "the Cloud KMS endpoint",
                    &url,
                    "the access token and data keys",
                )?;
                url
            }
            None => DEFAULT_ENDPOINT.to_string(),
        };
        let explicit = options
            .access_token
            .as_deref()
            .map(|t| AccessToken::new(t, None, "explicit access token"))
            .transpose()?;
        Ok(Self {
            // Messages name the key, not the version that wrapped: the key
            // decrypts whatever its versions encrypted, so a reader
            // configured with the key opens what a pinned writer wrote.
            uri: format!("gcp-kms://{key}"),
            key,
            version,
            endpoint,
            credentials: CredentialCache::new(TokenChain::new(env, explicit)),
        })
    }

    /// The key's resource name (`projects/.../cryptoKeys/K`).
    pub fn key_name(&self) -> &str {
        &self.key
    }

    /// The endpoint requests go to.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// The exact request dekbox sends for `method` (`encrypt`, `decrypt`)
    /// with this body (exposed so it can be compared with Google's client).
    pub fn build_request(&self, method: &str, body: &[u8], token: &AccessToken) -> HttpRequest {
        let resource = match (method, &self.version) {
            ("encrypt", Some(v)) => v.as_str(),
            _ => self.key.as_str(),
        };
        let mut req = HttpRequest::new(
            Method::Post,
            format!("{}v1/{resource}:{method}", self.endpoint),
        );
        req.headers = vec![
            ("content-type".into(), "application/json".into()),
            ("authorization".into(), token.bearer()),
        ];
        if let Some(project) = &token.quota_project {
            req.headers
                .push(("x-goog-user-project".into(), project.clone()));
        }
        req.body = body.to_vec();
        req
    }

    fn call<T: Send + 'static>(
        &self,
        method: &'static str,
        body: Zeroizing<Vec<u8>>,
        parse: fn(&GcpKmsProvider, &HttpResponse) -> Result<T>,
    ) -> BoxOp<'_, T> {
        let mut reauthorized = false;
        Box::new(Call::new(
            &self.credentials,
            move |token, _| Ok(self.build_request(method, &body, token)),
            move |response, used: &AccessToken| {
                if response.status == 401 && !reauthorized {
                    // The token was refused (revoked, or a clock that
                    // disagrees): drop it from the cache and send once more
                    // with a fresh one, as Google's own clients do.
                    self.credentials.invalidate(|c| c.same_token(used));
                    reauthorized = true;
                    return Ok(None);
                }
                parse(self, response).map(Some)
            },
        ))
    }

    /// An `:encrypt` answer's ciphertext, made by this key.
    fn encrypted(&self, resp: &HttpResponse) -> Result<Vec<u8>> {
        let e = api::parse_encrypt(resp)?;
        let ours = match &self.version {
            Some(v) => e.version == *v,
            None => e
                .version
                .strip_prefix(self.key.as_str())
                .and_then(|r| r.strip_prefix("/cryptoKeyVersions/"))
                .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit())),
        };
        if !ours {
            return Err(Error::Kms {
                code: "InvalidAnswer".into(),
                message: "Cloud KMS answered with a ciphertext of another key".into(),
            });
        }
        Ok(e.ciphertext)
    }

    fn wrapped_key(&self, resp: &HttpResponse) -> Result<Vec<u8>> {
        let c = self.encrypted(resp)?;
        if c.len() > MAX_WRAPPED_DEK_LEN {
            return Err(Error::Kms {
                code: "InvalidAnswer".into(),
                message: "Cloud KMS returned a wrapped key longer than a header holds".into(),
            });
        }
        Ok(c)
    }
}

fn data_key(_: &GcpKmsProvider, resp: &HttpResponse) -> Result<DataKey> {
    // Something other than a 32-byte key is not one of our wrapped keys.
    DataKey::from_slice(&api::parse_decrypt(resp)?).ok_or(Error::Authentication)
}

fn plaintext(_: &GcpKmsProvider, resp: &HttpResponse) -> Result<Zeroizing<Vec<u8>>> {
    api::parse_decrypt(resp)
}

impl KeyProvider for GcpKmsProvider {
    fn uri(&self) -> &str {
        &self.uri
    }

    fn generate_data_key(
        &self,
        context: &EncryptionContext,
        rng: &dyn SecureRandom,
    ) -> BoxOp<'_, GeneratedKey> {
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
            api::encrypt_body(dek.dangerous_bytes(), context.canonical_bytes()),
            GcpKmsProvider::wrapped_key,
        )
    }

    fn unwrap(&self, wrapped: &[u8], context: &EncryptionContext) -> BoxOp<'_, DataKey> {
        if wrapped.is_empty() {
            return Ready::boxed(Err(Error::Authentication));
        }
        self.call(
            "decrypt",
            api::decrypt_body(wrapped, context.canonical_bytes()),
            data_key,
        )
    }

    fn encrypt_direct(
        &self,
        plaintext: &[u8],
        context: &EncryptionContext,
        _rng: &dyn SecureRandom,
    ) -> BoxOp<'_, Vec<u8>> {
        self.call(
            "encrypt",
            api::encrypt_body(plaintext, context.canonical_bytes()),
            GcpKmsProvider::encrypted,
        )
    }

    fn decrypt_direct(
        &self,
        ciphertext: &[u8],
        context: &EncryptionContext,
    ) -> BoxOp<'_, Zeroizing<Vec<u8>>> {
        if ciphertext.is_empty() {
            return Ready::boxed(Err(Error::Authentication));
        }
        self.call(
            "decrypt",
            api::decrypt_body(ciphertext, context.canonical_bytes()),
            plaintext,
        )
    }

    fn warm_up(&self) -> Option<BoxOp<'_, ()>> {
        Some(Box::new(WarmUp::new(&self.credentials)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::env::MapEnvironment;

    fn provider(uri: &str, vars: &[(&str, &str)], opts: GcpOptions) -> Result<GcpKmsProvider> {
        GcpKmsProvider::from_uri(uri, Arc::new(MapEnvironment::with_vars(vars)), &opts)
    }

    const KEY: &str = "gcp-kms://projects/p-1/locations/europe-west1/keyRings/r/cryptoKeys/k";

    #[test]
    fn uris_name_a_key_or_a_version() {
        let p = provider(KEY, &[], GcpOptions::default()).unwrap();
        assert_eq!(
            p.key_name(),
            "projects/p-1/locations/europe-west1/keyRings/r/cryptoKeys/k"
        );
        assert_eq!(p.endpoint(), DEFAULT_ENDPOINT);
        let t = AccessToken::new("tok", None, "t").unwrap();
        let r = p.build_request("encrypt", b"{}", &t);
        assert_eq!(
            r.url,
            "https://cloudkms.googleapis.com/v1/projects/p-1/locations/europe-west1/keyRings/r/cryptoKeys/k:encrypt"
        );
        assert!(
            r.headers
                .contains(&("authorization".into(), "Bearer tok".into()))
        );
        let v = provider(
            &format!("{KEY}/cryptoKeyVersions/3"),
            &[],
            GcpOptions::default(),
        )
        .unwrap();
        assert!(
            v.build_request("encrypt", b"", &t)
                .url
                .ends_with("cryptoKeys/k/cryptoKeyVersions/3:encrypt")
        );
        assert!(
            v.build_request("decrypt", b"", &t)
                .url
                .ends_with("cryptoKeys/k:decrypt")
        );
        let domain = "gcp-kms://projects/example.com:proj/locations/global/keyRings/r/cryptoKeys/k";
        assert!(provider(domain, &[], GcpOptions::default()).is_ok());
        for bad in [
            "gcp-kms://projects/p/locations/l/keyRings/r",
            "gcp-kms://projects/p/locations/l/keyRings/r/cryptoKeys/",
            "gcp-kms://projects/p/locations/l/keyRings/../cryptoKeys/k",
            "gcp-kms://projects/p/locations/l/keyRings/r/cryptoKeys/k?x=1",
            "gcp-kms://projects/p/locations/l/keyRings/r/cryptoKeys/k/cryptoKeyVersions/01",
            "gcp-kms://projects/p/locations/l/keyRings/r/cryptoKeys/k/cryptoKeyVersions/x",
            "gcp-kms://projects/p/locations/l/keyRing/r/cryptoKeys/k",
            "gcp-kms://projects/p%2F/locations/l/keyRings/r/cryptoKeys/k",
        ] {
            assert!(
                matches!(
                    provider(bad, &[], GcpOptions::default()),
                    Err(Error::Config(_))
                ),
                "{bad}"
            );
        }
    }

    #[test]
    fn endpoints_are_overridden_and_kept_private() {
        let p = provider(
            KEY,
            &[(
                "CLOUDSDK_API_ENDPOINT_OVERRIDES_CLOUDKMS",
                "http://127.0.0.1:9/",
            )],
            GcpOptions::default(),
        )
        .unwrap();
        assert_eq!(p.endpoint(), "http://127.0.0.1:9/");
        let o = GcpOptions {
            endpoint: Some("https://kms.internal.example".into()),
            ..GcpOptions::default()
        };
        assert_eq!(
            provider(KEY, &[], o).unwrap().endpoint(),
            "https://kms.internal.example/"
        );
        let e = provider(
            KEY,
            &[(
                "CLOUDSDK_API_ENDPOINT_OVERRIDES_CLOUDKMS",
                "http://kms.example.com",
            )],
            GcpOptions::default(),
        )
        .unwrap_err();
        assert!(e.to_string().contains("https"), "{e}");
        for bad in ["https://user:pw@kms.example", "https://kms.example/?x=1"] {
            let o = GcpOptions {
                endpoint: Some(bad.into()),
                ..GcpOptions::default()
            };
            let e = provider(KEY, &[], o).unwrap_err();
            assert!(!e.to_string().contains("pw"), "{e}");
        }
    }

    #[test]
    fn answers_from_another_key_are_refused() {
        let p = provider(KEY, &[], GcpOptions::default()).unwrap();
        let ct = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, b"ct");
        let answer = |name: &str| {
            HttpResponse {
            status: 200,
            headers: vec![],
            body: format!(
                r#"{{"name":"{name}","ciphertext":"{ct}","ciphertextCrc32c":"{}","verifiedPlaintextCrc32c":true,"verifiedAdditionalAuthenticatedDataCrc32c":true}}"#,
                api::crc32c(b"ct")
            )
            .into_bytes(),
        }
        };
        let ours = format!("{}/cryptoKeyVersions/2", p.key_name());
        assert_eq!(p.wrapped_key(&answer(&ours)).unwrap(), b"ct");
        for other in [
            "projects/p-1/locations/europe-west1/keyRings/r/cryptoKeys/k2/cryptoKeyVersions/2"
                .to_string(),
            format!("{}/cryptoKeyVersions/", p.key_name()),
            String::new(),
        ] {
            assert!(
                matches!(p.wrapped_key(&answer(&other)), Err(Error::Kms { .. })),
                "{other}"
            );
        }
    }
}
