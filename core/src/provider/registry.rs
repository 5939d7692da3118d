//! Key URIs to providers: one line per scheme.

use super::{KeyProvider, LocalProvider, aws, gcp, local::INSECURE_TEST_KEY_URI};
use crate::env::Environment;
use crate::{Error, Result};
use std::sync::Arc;

/// Options for building providers from URIs.
#[derive(Clone, Debug, Default)]
pub struct ProviderOptions {
    /// Options for `aws-kms://` keys.
    pub aws: aws::AwsOptions,
    /// Options for `gcp-kms://` keys.
    pub gcp: gcp::GcpOptions,
}

/// Builds a provider from a key URI.
///
/// | scheme | meaning |
/// |---|---|
/// | `local:///abs/path`, `local://./rel/path` | 256-bit KEK from a key file |
/// | `local://env/NAME` | 256-bit KEK from environment variable `NAME` |
/// | `insecure-test-key` | a fixed, public KEK for tests only |
/// | `aws-kms://arn:aws:kms:…`, `aws-kms://alias/NAME?region=R` | AWS KMS (see [`crate::provider::aws`]) |
/// | `gcp-kms://projects/P/locations/L/keyRings/R/cryptoKeys/K` | Google Cloud KMS (see [`crate::provider::gcp`]); not on wasm32 |
/// | `vault://MOUNT/keys/NAME`, `openbao://MOUNT/keys/NAME` | a Vault or OpenBao transit key (see [`crate::provider::vault`]) |
pub fn from_uri(
    uri: &str,
    env: Arc<dyn Environment>,
    options: &ProviderOptions,
) -> Result<Arc<dyn KeyProvider>> {
    if uri.chars().any(char::is_control) {
        return Err(Error::Config(format!(
            "key URI {} contains a control character",
            shown(uri)
        )));
    }
    if uri == INSECURE_TEST_KEY_URI {
        return Ok(Arc::new(LocalProvider::insecure_test_key()));
    }
    if uri.starts_with("local://") {
        return Ok(Arc::new(LocalProvider::from_uri(uri, env.as_ref())?));
    }
    if uri.starts_with("aws-kms://") {
        return Ok(Arc::new(aws::AwsKmsProvider::from_uri(
            uri,
            env,
            &options.aws,
        )?));
    }
    if uri.starts_with("vault://") || uri.starts_with("openbao://") {
        return Ok(Arc::new(super::vault::VaultProvider::from_uri(uri, env)?));
    }
    if uri.starts_with("gcp-kms://") {
        // Not in the browser: a page would need a Google credential it
        // should not hold, and the code would weigh on every download.
        #[cfg(target_arch = "wasm32")]
        return Err(Error::Config(
            "gcp-kms:// keys are not available in the browser build: open data from a \
             Cloud KMS key with a data key your server hands the page"
                .into(),
        ));
        #[cfg(not(target_arch = "wasm32"))]
        return Ok(Arc::new(gcp::GcpKmsProvider::from_uri(
            uri,
            env,
            &options.gcp,
        )?));
    }
    Err(Error::Config(format!(
        "unrecognised key URI {}: expected local://, insecure-test-key, aws-kms://, gcp-kms://, vault:// or openbao://",
        shown(uri)
    )))
}

/// A rejected key URI as an error message may show it: only its scheme. A
/// value with no scheme may be a key pasted where its URI belongs (a base64
/// key, a secret from a vault), so none of it is echoed.
fn shown(uri: &str) -> String {
    match uri.split_once("://") {
        Some((scheme, _))
            if !scheme.is_empty()
                && scheme.len() <= 16
                && scheme
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-') =>
        {
            format!("\"{scheme}://…\" ({} characters)", uri.chars().count())
        }
        _ => format!("({} characters, no scheme)", uri.chars().count()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::env::MapEnvironment;

    #[test]
    fn a_key_pasted_where_its_uri_belongs_is_never_echoed() {
        let secret = "q83vEjRWeJCrze8SNFZ4kKvN7xI0VniQq83vEjRWeJA=";
        let env: Arc<dyn Environment> = Arc::new(MapEnvironment::default());
        for uri in [
            secret.to_string(),
            format!("{secret}\n"),
            format!("x{secret}://y"),
            format!("nope://{secret}"),
        ] {
            let e = from_uri(&uri, env.clone(), &ProviderOptions::default()).unwrap_err();
            let shown = format!("{e} {e:?}");
            assert!(matches!(e, Error::Config(_)), "{shown}");
            assert!(!shown.contains(&secret[..12]), "{shown}");
        }
        let e = from_uri("nope://x", env, &ProviderOptions::default()).unwrap_err();
        assert!(e.to_string().contains("\"nope://…\""), "{e}");
    }
}
