//! `Config`: everything a binding or the CLI passes to open a [`Dekbox`],
//! validated once, with defaults defined once (in dekbox-core).

use crate::Dekbox;
use dekbox_core::cache::CacheConfig;
use dekbox_core::env::Environment;
use dekbox_core::provider::aws::AwsOptions;
use dekbox_core::provider::aws::sigv4::Credentials;
use dekbox_core::provider::gcp::GcpOptions;
use dekbox_core::{Error, Options, Result};
use dekbox_transport::{Client, OsEnvironment, RetryPolicy};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::sync::Arc;
use zeroize::Zeroizing;

/// The environment variable naming the key when a config names none, in
/// every runtime (the CLI, Python's `Box()`, Node, Ruby).
pub const KEY_ENV: &str = "DEKBOX_KEY";

/// How to open a [`Dekbox`]. Deserializes from a host's options object
/// (snake_case keys; unknown keys are an error); every field is optional.
///
/// Keys: `key` (one URI), or `keys` (label → URI) with `primary`. With
/// neither, [`KEY_ENV`] names the key; with no key at all, opening fails with
/// [`Error::Config`].
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// One key URI; headers name it by URI.
    pub key: Option<String>,
    /// A keyring: label → key URI.
    pub keys: Option<BTreeMap<String, String>>,
    /// The label new data is sealed under (required with several `keys`).
    pub primary: Option<String>,
    /// AWS KMS endpoint URL (VPC endpoints, loopback test servers).
    pub endpoint: Option<String>,
    /// AWS region, when the key URI names none.
    pub region: Option<String>,
    /// AWS profile from the shared config files.
    pub profile: Option<String>,
    /// Use the AWS KMS FIPS endpoints.
    pub fips: bool,
    /// AWS KMS grant tokens sent with every request.
    pub grant_tokens: Vec<String>,
    /// Explicit AWS credentials (short-lived ones from STS or Cognito, in
    /// the browser) instead of the default chain.
    pub credentials: Option<AwsCredentials>,
    /// Cloud KMS endpoint URL (Private Service Connect, loopback test
    /// servers); else `CLOUDSDK_API_ENDPOINT_OVERRIDES_CLOUDKMS`, else
    /// Google's. Google credentials come from the environment (see
    /// `dekbox_core::provider::gcp::auth`).
    pub gcp_endpoint: Option<String>,
    /// Cache limits (defaults: [`CacheConfig::default`]).
    pub cache: Option<CacheConfig>,
    /// Read JSON envelopes `{"encryptedDek","cipherText"}`.
    pub accept_json: bool,
    /// Decrypt values in no dekbox form directly with the key (migrations).
    pub legacy_fallback: bool,
    /// With `legacy_fallback`, accept legacy values of exactly 32 bytes.
    pub legacy_allow_key_sized: bool,
    /// Keyring label used for JSON envelopes and legacy values (default: the primary).
    pub compat_key: Option<String>,
    /// Largest plaintext sealed or opened (default: 256 MiB).
    pub max_plaintext: Option<usize>,
    /// Root keys: label → token (`dekbox:root:v1:...`, from `create_root`
    /// or `dekbox root create`), for compact and deterministic values and
    /// blind indexes. Each is unwrapped once, on first use, by the keyring
    /// key its token names.
    pub roots: Option<BTreeMap<String, String>>,
    /// The root new values and indexes use (optional with one root).
    pub primary_root: Option<String>,
}

/// Explicit AWS credentials. The secret and the session token are zeroized
/// on drop and never shown by `Debug`.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AwsCredentials {
    /// Access key ID.
    pub access_key_id: String,
    /// Secret access key.
    pub secret_access_key: Zeroizing<String>,
    /// Session token of temporary credentials.
    #[serde(default)]
    pub session_token: Option<Zeroizing<String>>,
}

impl std::fmt::Debug for AwsCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AwsCredentials")
            .field("access_key_id", &self.access_key_id)
            .finish_non_exhaustive()
    }
}

impl AwsCredentials {
    fn to_core(&self) -> Credentials {
        Credentials::new(
            self.access_key_id.clone(),
            self.secret_access_key.as_str(),
            self.session_token.as_ref().map(|t| t.to_string()),
            None,
            "explicit",
        )
    }
}

impl Config {
    /// Opens a [`Dekbox`] with the process environment (key files, `DEKBOX_KEY`,
    /// AWS credentials). Resolves keys; does no network I/O.
    pub fn open(self) -> Result<Dekbox> {
        self.open_with(Arc::new(OsEnvironment))
    }

    /// [`open`](Self::open) with another environment (tests, embedding).
    pub fn open_with(self, env: Arc<dyn Environment>) -> Result<Dekbox> {
        let defaults = Options::default();
        let options = Options {
            cache: self.cache.unwrap_or_default(),
            max_plaintext: self.max_plaintext.unwrap_or(defaults.max_plaintext),
            accept_json: self.accept_json,
            legacy_fallback: self.legacy_fallback,
            legacy_allow_key_sized: self.legacy_allow_key_sized,
            compat_key: self.compat_key,
        };
        let mut b = Client::builder()
            .options(options)
            .retry(RetryPolicy::default())
            .aws(AwsOptions {
                endpoint: self.endpoint,
                region: self.region,
                fips: self.fips,
                grant_tokens: self.grant_tokens,
                profile: self.profile,
                credentials: self.credentials.as_ref().map(AwsCredentials::to_core),
            })
            .gcp(GcpOptions {
                endpoint: self.gcp_endpoint,
                ..GcpOptions::default()
            })
            .environment(env.clone())
            .roots(self.roots.unwrap_or_default(), self.primary_root);
        match (self.key, self.keys) {
            (Some(_), Some(_)) => {
                return Err(Error::Config("give key or keys, not both".into()));
            }
            (Some(_) | None, None) if self.primary.is_some() => {
                return Err(Error::Config(
                    "primary names a label: give keys={label: uri}".into(),
                ));
            }
            (Some(key), None) => b = b.key(key),
            (None, Some(keys)) => {
                if keys.is_empty() {
                    return Err(Error::Config("keys is empty".into()));
                }
                for (label, uri) in keys {
                    b = b.labeled_key(label, uri);
                }
                if let Some(p) = self.primary {
                    b = b.primary(p);
                }
            }
            (None, None) => match env.var(KEY_ENV).filter(|k| !k.is_empty()) {
                Some(key) => b = b.key(key),
                None => {
                    return Err(Error::Config(format!(
                        "no key: give a key URI (local:///path, aws-kms://..., or keys={{label: uri}}) \
                         or set {KEY_ENV}; `dekbox keygen` makes a local key"
                    )));
                }
            },
        }
        Ok(Dekbox::new(b.build()?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use dekbox_core::env::MapEnvironment;

    fn env(vars: &[(&str, &str)]) -> Arc<dyn Environment> {
        Arc::new(MapEnvironment::with_vars(vars))
    }

    #[test]
    fn a_missing_key_comes_from_dekbox_key_or_is_a_config_error() {
        let e = Config::default().open_with(env(&[])).unwrap_err();
        assert!(
            matches!(&e, Error::Config(m) if m.contains("DEKBOX_KEY")),
            "{e}"
        );
        let d = Config::default()
            .open_with(env(&[(KEY_ENV, "insecure-test-key")]))
            .unwrap();
        assert_eq!(
            d.client().engine().keyring().primary().key_ref().name,
            "insecure-test-key"
        );
    }

    #[test]
    fn keys_are_validated_once() {
        let both = Config {
            key: Some("insecure-test-key".into()),
            keys: Some([("v1".to_string(), "insecure-test-key".to_string())].into()),
            ..Config::default()
        };
        assert!(matches!(both.open_with(env(&[])), Err(Error::Config(_))));
        let primary_without_keys = Config {
            key: Some("insecure-test-key".into()),
            primary: Some("v1".into()),
            ..Config::default()
        };
        assert!(matches!(
            primary_without_keys.open_with(env(&[])),
            Err(Error::Config(_))
        ));
        let ring = Config {
            keys: Some(
                [
                    ("v1".to_string(), "insecure-test-key".to_string()),
                    ("v2".to_string(), "local://env/K2".to_string()),
                ]
                .into(),
            ),
            primary: Some("v2".into()),
            ..Config::default()
        };
        let d = ring
            .open_with(env(&[(
                "K2",
                "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",
            )]))
            .unwrap();
        assert_eq!(d.client().engine().keyring().primary().label(), Some("v2"));
    }

    #[test]
    fn deserializes_from_a_host_object_with_core_defaults() {
        let c: Config = serde_json::from_str(
            r#"{"key": "insecure-test-key", "cache": {"max_age": 1.5, "max_messages": 10}, "accept_json": true}"#,
        )
        .unwrap();
        let cache = c.cache.clone().unwrap();
        assert_eq!(cache.max_age, std::time::Duration::from_millis(1500));
        assert_eq!(cache.max_messages, 10);
        assert_eq!(
            cache.decrypt_capacity,
            CacheConfig::default().decrypt_capacity
        );
        assert!(c.accept_json && !c.legacy_fallback);
        assert!(serde_json::from_str::<Config>(r#"{"kee": "x"}"#).is_err());
        assert!(serde_json::from_str::<Config>(r#"{"cache": {"max_age": -1}}"#).is_err());
    }
}
