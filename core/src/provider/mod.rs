//! Key providers: the things that generate, wrap and unwrap data keys.
//!
//! Every provider, local or remote, has the same interface, and every method
//! returns an [`Operation`](crate::op::Operation): a local key finishes on the
//! first `poll`; a KMS yields HTTP requests. The engine and the transports
//! never need to know which kind they hold.

use crate::context::EncryptionContext;
use crate::env::Environment;
use crate::key::{DataKey, GeneratedKey};
use crate::op::BoxOp;
use crate::random::SecureRandom;
use crate::{Error, Result};
use std::fmt;
use std::sync::Arc;
use zeroize::Zeroizing;

mod local;

pub use local::{INSECURE_TEST_KEY_URI, LocalProvider, encode_key_file, parse_key_material};

/// A key-encryption key (KEK) behind some service.
///
/// Implementations bind `context` into every wrap and unwrap so that the
/// service itself refuses to unwrap under a different context. The returned
/// operations borrow only the provider: they copy what they need from the
/// arguments (a request is re-signed on retry), so callers may drop them.
pub trait KeyProvider: Send + Sync + fmt::Debug {
    /// The URI this provider was configured with.
    fn uri(&self) -> &str;

    /// A fresh data key, in plaintext and wrapped under this KEK.
    fn generate_data_key(
        &self,
        context: &EncryptionContext,
        rng: &dyn SecureRandom,
    ) -> BoxOp<'_, GeneratedKey>;

    /// Wraps an existing data key under this KEK.
    fn wrap(
        &self,
        dek: &DataKey,
        context: &EncryptionContext,
        rng: &dyn SecureRandom,
    ) -> BoxOp<'_, Vec<u8>>;

    /// Unwraps a data key wrapped by this KEK under the same context.
    /// A wrong key, wrong context or altered blob is [`Error::Authentication`].
    fn unwrap(&self, wrapped: &[u8], context: &EncryptionContext) -> BoxOp<'_, DataKey>;

    /// Encrypts arbitrary data directly under the KEK (no data key): how
    /// "legacy" values were written before envelope encryption.
    fn encrypt_direct(
        &self,
        plaintext: &[u8],
        context: &EncryptionContext,
        rng: &dyn SecureRandom,
    ) -> BoxOp<'_, Vec<u8>>;

    /// Decrypts a value written by [`encrypt_direct`](Self::encrypt_direct) (or
    /// by the KMS's own encrypt API): the legacy fallback.
    fn decrypt_direct(
        &self,
        ciphertext: &[u8],
        context: &EncryptionContext,
    ) -> BoxOp<'_, Zeroizing<Vec<u8>>>;

    /// Re-wraps `wrapped` for `destination` without exposing the data key, if
    /// this provider can do so natively (AWS `ReEncrypt`). `None` means the
    /// engine unwraps and wraps instead.
    fn rewrap_native<'a>(
        &'a self,
        _wrapped: &[u8],
        _context: &EncryptionContext,
        _destination: &'a dyn KeyProvider,
    ) -> Option<BoxOp<'a, Vec<u8>>> {
        None
    }

    /// Whether operations on this key may wait on the network (a KMS). Local
    /// keys answer at once; bindings use this to decide whether a call that
    /// missed the cache should leave the host's lock (the GIL, the GVL).
    fn needs_network(&self) -> bool {
        true
    }

    /// The concrete provider, for providers that recognise each other (native
    /// rewrap between two keys of one KMS).
    fn as_any(&self) -> Option<&dyn std::any::Any> {
        None
    }
}

/// Options for building providers from URIs.
#[derive(Clone, Debug, Default)]
pub struct ProviderOptions {
    /// Options for `aws-kms://` keys.
    pub aws: crate::kms::aws::AwsOptions,
}

/// Builds a provider from a key URI.
///
/// | scheme | meaning |
/// |---|---|
/// | `local:///abs/path`, `local://./rel/path` | 256-bit KEK from a key file |
/// | `local://env/NAME` | 256-bit KEK from environment variable `NAME` |
/// | `insecure-test-key` | a fixed, public KEK for tests only |
///
/// | `aws-kms://arn:aws:kms:…`, `aws-kms://alias/NAME?region=R` | AWS KMS (see [`crate::kms::aws`]) |
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
        return Ok(Arc::new(crate::kms::aws::AwsKmsProvider::from_uri(
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
