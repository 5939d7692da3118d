//! Key URIs to providers: one line per scheme.

use super::{KeyProvider, LocalProvider, aws, local::INSECURE_TEST_KEY_URI};
use crate::env::Environment;
use crate::{Error, Result};
use std::sync::Arc;

/// Options for building providers from URIs.
#[derive(Clone, Debug, Default)]
pub struct ProviderOptions {
    /// Options for `aws-kms://` keys.
    pub aws: aws::AwsOptions,
}

/// Builds a provider from a key URI.
///
/// | scheme | meaning |
/// |---|---|
/// | `local:///abs/path`, `local://./rel/path` | 256-bit KEK from a key file |
/// | `local://env/NAME` | 256-bit KEK from environment variable `NAME` |
/// | `insecure-test-key` | a fixed, public KEK for tests only |
/// | `aws-kms://arn:aws:kms:…`, `aws-kms://alias/NAME?region=R` | AWS KMS (see [`crate::provider::aws`]) |
///
/// `gcp-kms://` and `vault://` are recognised and report that this build has
/// no such provider yet.
pub fn from_uri(
    uri: &str,
    env: Arc<dyn Environment>,
    options: &ProviderOptions,
) -> Result<Arc<dyn KeyProvider>> {
    if uri.chars().any(char::is_control) {
        return Err(Error::Config(format!(
            "key URI {uri:?} contains a control character"
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
    for scheme in ["gcp-kms://", "vault://"] {
        if uri.starts_with(scheme) {
            return Err(Error::Config(format!(
                "{scheme} keys are not supported by this build of dekbox-core yet"
            )));
        }
    }
    Err(Error::Config(format!(
        "unrecognised key URI {uri:?}: expected local://, insecure-test-key, aws-kms://, gcp-kms:// or vault://"
    )))
}
