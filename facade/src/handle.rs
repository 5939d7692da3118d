//! [`Dekbox`]: the handle every binding wraps.

use crate::host::Host;
use dekbox_core::cache::CacheStats;
use dekbox_core::root::blind::IndexOptions;
use dekbox_core::root::value::Mode;
use dekbox_core::{DataKey, EncryptionContext, Form, GeneratedKey, MessageKey, Result, Rewrapped};
use dekbox_transport::{Client, system_now};
use std::future::Future;
use std::sync::Arc;
use zeroize::Zeroizing;

/// `Send` where there are threads; nothing in the browser (wasm32), where
/// futures hold JavaScript values and run on the page's event loop.
#[cfg(not(target_arch = "wasm32"))]
pub trait MaybeSend: Send {}
#[cfg(not(target_arch = "wasm32"))]
impl<T: Send> MaybeSend for T {}
/// `Send` where there are threads; nothing in the browser (wasm32), where
/// futures hold JavaScript values and run on the page's event loop.
#[cfg(target_arch = "wasm32")]
pub trait MaybeSend {}
#[cfg(target_arch = "wasm32")]
impl<T> MaybeSend for T {}

/// Inputs at least this large are sealed and opened off the host's lock even
/// on a cache hit (the work itself takes long enough to be worth it).
pub const RELEASE_ABOVE: usize = 4096;

/// The largest input (plaintext to seal, message to open) an event-loop host
/// handles on its own thread when the data key is cached
/// ([`Dekbox::encrypt_now`], [`Dekbox::decrypt_now`]): about 100 µs of
/// AES-GCM, less than a hand-off to another thread and back costs there.
pub const INLINE_MAX: usize = 1 << 20;

/// What [`Dekbox::encrypt_now`] made: a host byte string (binary form) or
/// bytes (text form, for the host to turn into a string).
#[derive(Debug)]
pub enum Now<B> {
    /// Binary form, sealed in place.
    Host(B),
    /// Text (or another) form.
    Vec(Vec<u8>),
}

/// Envelope encryption with cached data keys, shared by reference counting:
/// cheap to clone, `Send + Sync`, one per application.
///
/// Blocking methods take a [`Host`] and decide, per call and after the cache
/// lookup, whether to leave the host's lock: a cache hit of a small value
/// never pays a thread hand-off; a miss releases it when a key of this
/// keyring needs the network ([`KeyProvider::needs_network`]).
/// `*_async` methods take owned arguments and return `'static + Send`
/// futures, for whatever executor the host uses (see [`crate::runtime`]).
///
/// [`KeyProvider::needs_network`]: dekbox_core::provider::KeyProvider::needs_network
#[derive(Clone)]
pub struct Dekbox(Arc<Inner>);

struct Inner {
    client: Client,
    network: bool,
}

impl std::fmt::Debug for Dekbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dekbox")
            .field("keys", &self.key_names())
            .finish_non_exhaustive()
    }
}

impl Dekbox {
    pub(crate) fn new(client: Client) -> Self {
        let network = client
            .engine()
            .keyring()
            .entries()
            .iter()
            .any(|e| e.provider().needs_network());
        Self(Arc::new(Inner { client, network }))
    }

    /// The Rust client underneath (every operation, blocking and async).
    pub fn client(&self) -> &Client {
        &self.0.client
    }

    /// Whether any key of the keyring may need the network.
    pub fn needs_network(&self) -> bool {
        self.0.network
    }

    /// Each key's label, or its URI when unlabelled.
    pub fn key_names(&self) -> Vec<String> {
        self.0
            .client
            .engine()
            .keyring()
            .entries()
            .iter()
            .map(|e| {
                e.label()
                    .map(String::from)
                    .unwrap_or_else(|| e.provider().uri().to_string())
            })
            .collect()
    }

    /// The primary key's label, or its URI when unlabelled.
    pub fn primary_key_name(&self) -> String {
        let primary = self.0.client.engine().keyring().primary();
        primary
            .label()
            .map(String::from)
            .unwrap_or_else(|| primary.provider().uri().to_string())
    }

    /// Cache and provider counters.
    pub fn cache_stats(&self) -> CacheStats {
        self.0.client.cache_stats()
    }

    #[cfg(not(target_arch = "wasm32"))]
    /// Runs work that missed the cache, off the host's lock when it may wait
    /// on the network or is large.
    #[inline]
    fn slow<H: Host, T: Send>(
        &self,
        host: &H,
        size: usize,
        f: impl FnOnce(&Client) -> Result<T> + Send,
    ) -> std::result::Result<T, H::Error> {
        let client = &self.0.client;
        let r = if self.0.network || size >= RELEASE_ABOVE {
            host.release(|| f(client))
        } else {
            f(client)
        };
        r.map_err(|e| host.error(e))
    }

    /// Runs cache-hit work, off the host's lock only when it is large.
    #[inline]
    fn quick<H: Host, T: Send>(&self, host: &H, size: usize, f: impl FnOnce() -> T + Send) -> T {
        if size >= RELEASE_ABOVE {
            host.release(f)
        } else {
            f()
        }
    }

    #[cfg(not(target_arch = "wasm32"))]
    /// Seals `plaintext` into a new host byte string (binary form). On a
    /// cache hit it is sealed in place, with no copy.
    #[inline]
    pub fn encrypt_into<H: Host>(
        &self,
        host: &H,
        plaintext: &[u8],
        context: &EncryptionContext,
        aad: &[u8],
    ) -> std::result::Result<H::Bytes, H::Error> {
        if let Some(sealed) = self.seal_cached_into(host, plaintext, context, aad) {
            return sealed;
        }
        let out = self.slow(host, plaintext.len(), |c| {
            c.encrypt(plaintext, context, aad, Form::Binary)
        })?;
        host.bytes(&out)
    }

    /// The cache-hit half of [`encrypt_into`](Self::encrypt_into): sealed in
    /// place into a new host byte string, or `None` on a miss.
    #[inline]
    fn seal_cached_into<H: Host>(
        &self,
        host: &H,
        plaintext: &[u8],
        context: &EncryptionContext,
        aad: &[u8],
    ) -> Option<std::result::Result<H::Bytes, H::Error>> {
        let engine = self.0.client.engine();
        let plan = match engine.plan_encrypt(plaintext.len(), context, system_now()) {
            Ok(Some(plan)) => plan,
            Ok(None) => return None,
            Err(e) => return Some(Err(host.error(e))),
        };
        Some(host.new_bytes(plan.sealed_len(), |buf| {
            self.quick(host, plaintext.len(), || {
                plan.seal_into_uninit(plaintext, context, aad, buf)
            })
            .map_err(|e| host.error(e))
        }))
    }

    #[cfg(not(target_arch = "wasm32"))]
    /// Seals `plaintext` in any form.
    pub fn encrypt<H: Host>(
        &self,
        host: &H,
        plaintext: &[u8],
        context: &EncryptionContext,
        aad: &[u8],
        form: Form,
    ) -> std::result::Result<Vec<u8>, H::Error> {
        let engine = self.0.client.engine();
        let cached = self.quick(host, plaintext.len(), || {
            engine.encrypt_cached(plaintext, context, aad, form, system_now())
        });
        match cached {
            Some(r) => r.map_err(|e| host.error(e)),
            None => self.slow(host, plaintext.len(), |c| {
                c.encrypt(plaintext, context, aad, form)
            }),
        }
    }

    #[cfg(not(target_arch = "wasm32"))]
    /// Opens a sealed value (any accepted form) into a new host byte string.
    /// A binary message whose data key is cached is opened in place.
    #[inline]
    pub fn decrypt_into<H: Host>(
        &self,
        host: &H,
        sealed: &[u8],
        context: &EncryptionContext,
        aad: &[u8],
    ) -> std::result::Result<H::Bytes, H::Error> {
        if let Some(opened) = self.open_cached_into(host, sealed, context, aad) {
            return opened;
        }
        let out = self.slow(host, sealed.len(), |c| c.decrypt(sealed, context, aad))?;
        host.bytes(&out)
    }

    /// The cache-hit half of [`decrypt_into`](Self::decrypt_into): a binary
    /// message opened in place, another form opened and copied, or `None` on
    /// a miss.
    #[inline]
    fn open_cached_into<H: Host>(
        &self,
        host: &H,
        sealed: &[u8],
        context: &EncryptionContext,
        aad: &[u8],
    ) -> Option<std::result::Result<H::Bytes, H::Error>> {
        let engine = self.0.client.engine();
        match engine.plan_decrypt(sealed, context, system_now()) {
            Ok(Some(plan)) => {
                return Some(host.new_bytes(plan.plaintext_len(), |buf| {
                    self.quick(host, sealed.len(), || {
                        plan.open_into_uninit(context, aad, buf)
                    })
                    .map_err(|e| host.error(e))
                }));
            }
            Ok(None) => {}
            Err(e) => return Some(Err(host.error(e))),
        }
        let cached = self.quick(host, sealed.len(), || {
            engine.decrypt_cached(sealed, context, aad, system_now())
        })?;
        Some(
            cached
                .map_err(|e| host.error(e))
                .and_then(|pt| host.bytes(&pt)),
        )
    }

    /// Seals a value of at most [`INLINE_MAX`] bytes whose data key is
    /// cached, on the calling thread, without waiting on anything: how a host
    /// with an event loop answers the common case at once. `None`: use
    /// [`encrypt_async`](Self::encrypt_async). Binary form goes straight into
    /// a new host byte string; other forms come back as bytes.
    pub fn encrypt_now<H: Host>(
        &self,
        host: &H,
        plaintext: &[u8],
        context: &EncryptionContext,
        aad: &[u8],
        form: Form,
    ) -> Option<std::result::Result<Now<H::Bytes>, H::Error>> {
        if plaintext.len() > INLINE_MAX {
            return None;
        }
        if form != Form::Binary {
            let engine = self.0.client.engine();
            let r = engine.encrypt_cached(plaintext, context, aad, form, system_now())?;
            return Some(r.map(Now::Vec).map_err(|e| host.error(e)));
        }
        let sealed = self.seal_cached_into(host, plaintext, context, aad)?;
        Some(sealed.map(Now::Host))
    }

    /// Opens a sealed value of at most [`INLINE_MAX`] bytes (plus 4 KiB of
    /// header) whose data key is cached, on the calling thread, into a new
    /// host byte string.
    /// `None`: use [`decrypt_async`](Self::decrypt_async).
    pub fn decrypt_now<H: Host>(
        &self,
        host: &H,
        sealed: &[u8],
        context: &EncryptionContext,
        aad: &[u8],
    ) -> Option<std::result::Result<H::Bytes, H::Error>> {
        // Decided before the lookup, which counts a cache hit; a message of
        // an INLINE_MAX value is that plus its header.
        if sealed.len() > INLINE_MAX + 4096 {
            return None;
        }
        self.open_cached_into(host, sealed, context, aad)
    }

    #[cfg(not(target_arch = "wasm32"))]
    /// Moves a sealed value to the primary key without re-encrypting its data.
    pub fn rewrap<H: Host>(
        &self,
        host: &H,
        sealed: &[u8],
        context: &EncryptionContext,
    ) -> std::result::Result<Rewrapped, H::Error> {
        self.slow(host, sealed.len(), |c| c.rewrap(sealed, context))
    }

    #[cfg(not(target_arch = "wasm32"))]
    /// A message's data key, to hand to a client without KMS access (a
    /// browser page); see [`dekbox_core::Engine::message_data_key`] for
    /// what its holder can do.
    pub fn message_data_key<H: Host>(
        &self,
        host: &H,
        sealed: &[u8],
        context: &EncryptionContext,
    ) -> std::result::Result<MessageKey, H::Error> {
        self.slow(host, 0, |c| c.message_data_key(sealed, context))
    }

    #[cfg(not(target_arch = "wasm32"))]
    /// A fresh message data key for a client without KMS access to seal
    /// with; see [`dekbox_core::Engine::new_message_data_key`].
    pub fn new_message_data_key<H: Host>(
        &self,
        host: &H,
        context: &EncryptionContext,
    ) -> std::result::Result<MessageKey, H::Error> {
        self.slow(host, 0, |c| c.new_message_data_key(context))
    }

    #[cfg(not(target_arch = "wasm32"))]
    /// A new root key, wrapped by keyring key `key` (a label; `None`: the
    /// primary), as a `dekbox:root:v1:` token to keep in configuration.
    pub fn create_root<H: Host>(
        &self,
        host: &H,
        label: &str,
        key: Option<&str>,
    ) -> std::result::Result<String, H::Error> {
        self.slow(host, 0, |c| c.create_root(label, key))
    }

    #[cfg(not(target_arch = "wasm32"))]
    /// Seals a compact (`Mode::Compact`) or deterministic value under the
    /// primary root for (`context`, `column`, `aad`). Once the root is
    /// unwrapped, no thread hand-off for small values.
    #[allow(clippy::too_many_arguments)]
    pub fn encrypt_compact<H: Host>(
        &self,
        host: &H,
        mode: Mode,
        plaintext: &[u8],
        context: &EncryptionContext,
        column: &str,
        aad: &[u8],
        form: Form,
    ) -> std::result::Result<Vec<u8>, H::Error> {
        let engine = self.0.client.engine();
        match engine.cached_root(None) {
            Ok(Some(root)) => self
                .quick(host, plaintext.len(), || {
                    engine.seal_root_value(&root, mode, plaintext, context, column, aad, form)
                })
                .map_err(|e| host.error(e)),
            _ => self.slow(host, plaintext.len(), |c| {
                c.encrypt_compact(mode, plaintext, context, column, aad, form)
            }),
        }
    }

    #[cfg(not(target_arch = "wasm32"))]
    /// Opens a compact or deterministic value with the root it names.
    pub fn decrypt_compact<H: Host>(
        &self,
        host: &H,
        sealed: &[u8],
        context: &EncryptionContext,
        column: &str,
        aad: &[u8],
    ) -> std::result::Result<Vec<u8>, H::Error> {
        let engine = self.0.client.engine();
        let label = engine.root_label_of(sealed).map_err(|e| host.error(e))?;
        match engine.cached_root(Some(&label)) {
            Ok(Some(root)) => self
                .quick(host, sealed.len(), || {
                    engine.open_root_value(&root, sealed, context, column, aad)
                })
                .map_err(|e| host.error(e)),
            _ => self.slow(host, sealed.len(), |c| {
                c.decrypt_compact(sealed, context, column, aad)
            }),
        }
    }

    #[cfg(not(target_arch = "wasm32"))]
    /// The blind index of `value` under root `root` (`None`: the primary).
    /// The Argon2id variant always runs off the host's lock.
    pub fn blind_index<H: Host>(
        &self,
        host: &H,
        value: &[u8],
        context: &EncryptionContext,
        column: &str,
        options: IndexOptions,
        root: Option<&str>,
    ) -> std::result::Result<Vec<u8>, H::Error> {
        let engine = self.0.client.engine();
        let slow_hash = options.slowness != dekbox_core::root::blind::Slowness::Hmac;
        match engine.cached_root(root) {
            Ok(Some(r)) if !slow_hash => engine
                .blind_index_with(&r, value, context, column, &options)
                .map_err(|e| host.error(e)),
            Ok(Some(r)) => host
                .release(|| engine.blind_index_with(&r, value, context, column, &options))
                .map_err(|e| host.error(e)),
            _ => self.slow(host, RELEASE_ABOVE, |c| {
                c.blind_index(value, context, column, options, root)
            }),
        }
    }

    #[cfg(not(target_arch = "wasm32"))]
    /// A 32-byte key derived from root `root` (`None`: the primary) for
    /// (`context`, `column`), for another cipher that must get the same key
    /// in every process (Active Record's deterministic encryption), with the
    /// root's label.
    pub fn external_key<H: Host>(
        &self,
        host: &H,
        context: &EncryptionContext,
        column: &str,
        root: Option<&str>,
    ) -> std::result::Result<(String, Zeroizing<[u8; 32]>), H::Error> {
        let engine = self.0.client.engine();
        match engine.cached_root(root) {
            Ok(Some(r)) => engine
                .external_key_with(&r, context, column)
                .map(|k| (r.label().to_string(), k))
                .map_err(|e| host.error(e)),
            _ => self.slow(host, 0, |c| c.external_key(context, column, root)),
        }
    }

    /// The root labels and the primary root's.
    pub fn root_labels(&self) -> (Vec<String>, Option<String>) {
        let (labels, primary) = self.0.client.engine().root_labels();
        (labels, primary.map(String::from))
    }

    #[cfg(not(target_arch = "wasm32"))]
    /// A fresh data key under the primary key (not cached).
    pub fn generate_data_key<H: Host>(
        &self,
        host: &H,
        context: &EncryptionContext,
    ) -> std::result::Result<GeneratedKey, H::Error> {
        self.slow(host, 0, |c| c.generate_data_key(context))
    }

    #[cfg(not(target_arch = "wasm32"))]
    /// Unwraps a data key wrapped by keyring key `label` (or the primary).
    pub fn unwrap_data_key<H: Host>(
        &self,
        host: &H,
        wrapped: &[u8],
        context: &EncryptionContext,
        label: Option<&str>,
    ) -> std::result::Result<DataKey, H::Error> {
        self.slow(host, 0, |c| c.unwrap_data_key(wrapped, context, label))
    }

    #[cfg(not(target_arch = "wasm32"))]
    /// A cached data key for another cipher (Active Record's), and the token
    /// to store beside its data; see [`dekbox_core::Engine::raw_data_key`].
    pub fn raw_data_key<H: Host>(
        &self,
        host: &H,
        context: &EncryptionContext,
    ) -> std::result::Result<dekbox_core::RawDataKey, H::Error> {
        self.slow(host, 0, |c| c.raw_data_key(context))
    }

    #[cfg(not(target_arch = "wasm32"))]
    /// The data key of a token from [`raw_data_key`](Self::raw_data_key).
    pub fn open_raw_data_key<H: Host>(
        &self,
        host: &H,
        token: &[u8],
        context: &EncryptionContext,
    ) -> std::result::Result<DataKey, H::Error> {
        self.slow(host, 0, |c| c.open_raw_data_key(token, context))
    }

    #[cfg(not(target_arch = "wasm32"))]
    /// Seals many values under one context (one KMS call at most); `aads`,
    /// if given, has one entry per value.
    pub fn encrypt_many<H: Host>(
        &self,
        host: &H,
        plaintexts: &[Vec<u8>],
        context: &EncryptionContext,
        aads: Option<&[Vec<u8>]>,
        form: Form,
    ) -> std::result::Result<Vec<Vec<u8>>, H::Error> {
        let aads = aads.map(slices);
        self.slow(host, batch_weight(plaintexts), |c| {
            c.encrypt_many(plaintexts, context, aads.as_deref(), form)
        })
    }

    #[cfg(not(target_arch = "wasm32"))]
    /// Opens many values; one result per value.
    pub fn decrypt_many<H: Host>(
        &self,
        host: &H,
        sealed: &[Vec<u8>],
        context: &EncryptionContext,
        aads: Option<&[Vec<u8>]>,
    ) -> std::result::Result<Vec<Result<Vec<u8>>>, H::Error> {
        let aads = aads.map(slices);
        self.slow(host, batch_weight(sealed), |c| {
            c.decrypt_many(sealed, context, aads.as_deref())
        })
    }

    /// Async [`encrypt`](Self::encrypt).
    /// The plaintext is wiped when the future finishes or is dropped.
    pub fn encrypt_async(
        &self,
        plaintext: impl Into<Zeroizing<Vec<u8>>>,
        context: Arc<EncryptionContext>,
        aad: Vec<u8>,
        form: Form,
    ) -> impl Future<Output = Result<Vec<u8>>> + MaybeSend + 'static {
        let this = self.clone();
        let plaintext = plaintext.into();
        async move {
            let c = &this.0.client;
            c.encrypt_async(&plaintext, &context, &aad, form).await
        }
    }

    /// Async [`decrypt_into`](Self::decrypt_into), to a `Vec`.
    pub fn decrypt_async(
        &self,
        sealed: Vec<u8>,
        context: Arc<EncryptionContext>,
        aad: Vec<u8>,
    ) -> impl Future<Output = Result<Vec<u8>>> + MaybeSend + 'static {
        let this = self.clone();
        async move { this.0.client.decrypt_async(&sealed, &context, &aad).await }
    }

    /// Async [`rewrap`](Self::rewrap).
    pub fn rewrap_async(
        &self,
        sealed: Vec<u8>,
        context: Arc<EncryptionContext>,
    ) -> impl Future<Output = Result<Rewrapped>> + MaybeSend + 'static {
        let this = self.clone();
        async move { this.0.client.rewrap_async(&sealed, &context).await }
    }

    /// Async [`create_root`](Self::create_root).
    pub fn create_root_async(
        &self,
        label: String,
        key: Option<String>,
    ) -> impl Future<Output = Result<String>> + MaybeSend + 'static {
        let this = self.clone();
        async move {
            this.0
                .client
                .create_root_async(&label, key.as_deref())
                .await
        }
    }

    /// Async [`encrypt_compact`](Self::encrypt_compact).
    pub fn encrypt_compact_async(
        &self,
        mode: Mode,
        plaintext: impl Into<Zeroizing<Vec<u8>>>,
        context: Arc<EncryptionContext>,
        column: String,
        aad: Vec<u8>,
        form: Form,
    ) -> impl Future<Output = Result<Vec<u8>>> + MaybeSend + 'static {
        let this = self.clone();
        let plaintext = plaintext.into();
        async move {
            let c = &this.0.client;
            c.encrypt_compact_async(mode, &plaintext, &context, &column, &aad, form)
                .await
        }
    }

    /// Async [`decrypt_compact`](Self::decrypt_compact).
    pub fn decrypt_compact_async(
        &self,
        sealed: Vec<u8>,
        context: Arc<EncryptionContext>,
        column: String,
        aad: Vec<u8>,
    ) -> impl Future<Output = Result<Vec<u8>>> + MaybeSend + 'static {
        let this = self.clone();
        async move {
            let c = &this.0.client;
            c.decrypt_compact_async(&sealed, &context, &column, &aad)
                .await
        }
    }

    /// Async [`blind_index`](Self::blind_index).
    pub fn blind_index_async(
        &self,
        value: impl Into<Zeroizing<Vec<u8>>>,
        context: Arc<EncryptionContext>,
        column: String,
        options: IndexOptions,
        root: Option<String>,
    ) -> impl Future<Output = Result<Vec<u8>>> + MaybeSend + 'static {
        let this = self.clone();
        let value = value.into();
        async move {
            let c = &this.0.client;
            c.blind_index_async(&value, &context, &column, options, root.as_deref())
                .await
        }
    }

    /// Async [`generate_data_key`](Self::generate_data_key).
    pub fn generate_data_key_async(
        &self,
        context: Arc<EncryptionContext>,
    ) -> impl Future<Output = Result<GeneratedKey>> + MaybeSend + 'static {
        let this = self.clone();
        async move { this.0.client.generate_data_key_async(&context).await }
    }

    /// Async [`message_data_key`](Self::message_data_key).
    pub fn message_data_key_async(
        &self,
        sealed: Vec<u8>,
        context: Arc<EncryptionContext>,
    ) -> impl Future<Output = Result<MessageKey>> + MaybeSend + 'static {
        let this = self.clone();
        async move {
            this.0
                .client
                .message_data_key_async(&sealed, &context)
                .await
        }
    }

    /// Async [`new_message_data_key`](Self::new_message_data_key).
    pub fn new_message_data_key_async(
        &self,
        context: Arc<EncryptionContext>,
    ) -> impl Future<Output = Result<MessageKey>> + MaybeSend + 'static {
        let this = self.clone();
        async move { this.0.client.new_message_data_key_async(&context).await }
    }

    /// Async [`unwrap_data_key`](Self::unwrap_data_key).
    pub fn unwrap_data_key_async(
        &self,
        wrapped: Vec<u8>,
        context: Arc<EncryptionContext>,
        label: Option<String>,
    ) -> impl Future<Output = Result<DataKey>> + MaybeSend + 'static {
        let this = self.clone();
        async move {
            let c = &this.0.client;
            c.unwrap_data_key_async(&wrapped, &context, label.as_deref())
                .await
        }
    }

    /// Async [`encrypt_many`](Self::encrypt_many).
    pub fn encrypt_many_async(
        &self,
        plaintexts: Vec<Vec<u8>>,
        context: Arc<EncryptionContext>,
        aads: Option<Vec<Vec<u8>>>,
        form: Form,
    ) -> impl Future<Output = Result<Vec<Vec<u8>>>> + MaybeSend + 'static {
        let this = self.clone();
        async move {
            let c = &this.0.client;
            let aads = aads.as_deref().map(slices);
            c.encrypt_many_async(&plaintexts, &context, aads.as_deref(), form)
                .await
        }
    }

    /// Async [`decrypt_many`](Self::decrypt_many).
    pub fn decrypt_many_async(
        &self,
        sealed: Vec<Vec<u8>>,
        context: Arc<EncryptionContext>,
        aads: Option<Vec<Vec<u8>>>,
    ) -> impl Future<Output = Result<Vec<Result<Vec<u8>>>>> + MaybeSend + 'static {
        let this = self.clone();
        async move {
            let c = &this.0.client;
            let aads = aads.as_deref().map(slices);
            c.decrypt_many_async(&sealed, &context, aads.as_deref())
                .await
        }
    }
}

fn slices(v: &[Vec<u8>]) -> Vec<&[u8]> {
    v.iter().map(Vec::as_slice).collect()
}

#[cfg(not(target_arch = "wasm32"))]
/// How much work a batch is, for the release decision: a batch of more than
/// 16 values always leaves the host's lock.
fn batch_weight(items: &[Vec<u8>]) -> usize {
    let total: usize = items.iter().map(Vec::len).sum();
    if items.len() > 16 {
        total.max(RELEASE_ABOVE)
    } else {
        total
    }
}

// Shared across threads by every binding.
const _: () = {
    const fn send_sync<T: Send + Sync>() {}
    send_sync::<Dekbox>();
};
