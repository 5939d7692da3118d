//! Key providers: the things that generate, wrap and unwrap data keys.
//!
//! Every provider, local or remote, has the same interface, and every method
//! returns an [`Operation`](crate::op::Operation): a local key finishes on the
//! first `poll`; a KMS yields HTTP requests. The engine and the transports
//! never need to know which kind they hold.
//!
//! One folder (or file) per provider (`local`, [`aws`], [`gcp`], [`vault`]); [`from_uri`] in
//! `registry.rs` maps URI schemes to them, so a new KMS is one folder and one
//! registry line.

use crate::context::EncryptionContext;
use crate::key::{DataKey, GeneratedKey};
use crate::op::BoxOp;
use crate::random::SecureRandom;
use std::fmt;
use zeroize::Zeroizing;

pub mod aws;
mod conformance;
pub mod credentials;
pub mod gcp;
mod local;
mod registry;
pub mod vault;

pub use local::{INSECURE_TEST_KEY_URI, LocalProvider, encode_key_file, parse_key_material};
pub use registry::{ProviderOptions, from_uri};

/// A data key generated here (the engine's CSPRNG) and wrapped by
/// `provider`'s [`wrap`](KeyProvider::wrap): for KMSs whose own data-key API
/// cannot bind the context (Vault's `datakey`) or that have none (Cloud
/// KMS).
pub(crate) fn generate_and_wrap<'a>(
    provider: &'a dyn KeyProvider,
    context: &EncryptionContext,
    rng: &dyn SecureRandom,
) -> BoxOp<'a, GeneratedKey> {
    let dek = match DataKey::generate(rng) {
        Ok(k) => k,
        Err(e) => return crate::op::Ready::boxed(Err(e)),
    };
    let wrap = provider.wrap(&dek, context, rng);
    Box::new(crate::op::Map::new(wrap, move |wrapped| {
        Ok(GeneratedKey {
            plaintext: dek,
            wrapped,
        })
    }))
}

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

    /// Whether [`unwrap_many`](Self::unwrap_many) makes one request for
    /// many keys (so batches are worth gathering for it).
    fn batches(&self) -> bool {
        false
    }

    /// Unwraps several data keys (wrapped under the same context) in one
    /// request, if the KMS has a batch API (Vault transit's `batch_input`):
    /// one result per key, in order, each as [`unwrap`](Self::unwrap) would
    /// give it. `None` (the default): no batch API; keys are unwrapped one
    /// by one.
    fn unwrap_many(
        &self,
        _wrapped: &[&[u8]],
        _context: &EncryptionContext,
    ) -> Option<BoxOp<'_, Vec<crate::Result<DataKey>>>> {
        None
    }

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

    /// The key version that made `wrapped`, for KMSs whose wrapped keys name
    /// one (Vault transit's `vault:vN:`). With `Some`, `rewrap` of a message
    /// already on this key re-wraps its data key (unwrap, commitment check,
    /// wrap) and keeps the result only if a newer version made it: how
    /// messages follow a key rotation. `None` (the default): versions are
    /// the KMS's business (AWS KMS, Cloud KMS decrypt every version) and such
    /// messages are left as they are.
    fn wrapped_version(&self, _wrapped: &[u8]) -> Option<u32> {
        None
    }

    /// Whether operations on this key may wait on the network (a KMS). Local
    /// keys answer at once; bindings use this to decide whether a call that
    /// missed the cache should leave the host's lock (the GIL, the GVL).
    fn needs_network(&self) -> bool {
        true
    }

    /// An operation that prepares this key for concurrent use (resolving and
    /// caching credentials), which a driver may run once before the first
    /// operation so that concurrent first calls do not each do it. `None`: no
    /// preparation. Failures are not final: operations retry on their own.
    fn warm_up(&self) -> Option<BoxOp<'_, ()>> {
        None
    }

    /// The concrete provider, for providers that recognise each other (native
    /// rewrap between two keys of one KMS).
    fn as_any(&self) -> Option<&dyn std::any::Any> {
        None
    }
}
