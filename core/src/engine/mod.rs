//! The engine: keyring + caches + randomness, handing out operations. One
//! file per operation (`encrypt`, `decrypt`, `rewrap`), the caller-buffer
//! `plans`, `inspect`, input parsing (`input`) and the key `domain`s; the
//! calling contract is on [`Engine`]'s own documentation.

mod decrypt;
mod domain;
mod encrypt;
mod input;
mod inspect;
mod plans;
mod prefetch;
mod raw;
mod rewrap;
mod roots;

pub use decrypt::{DecryptOp, MessageKeyOp};
pub use encrypt::EncryptOp;
pub use inspect::{Inspection, inspect};
pub use plans::{OpenPlan, SealPlan};
pub use prefetch::PrefetchOp;
pub use raw::{OpenRawKeyOp, RawDataKey, RawKeyOp};
pub use rewrap::{RewrapOp, Rewrapped};
pub use roots::RootKeyOp;

use crate::cache::{
    CacheConfig, CacheStats, Counters, DecryptCache, EncryptCache, Lookup, Opener, Reservation,
    RewrapCache, Sealer, Ticket,
};
use crate::compat;
use crate::context::EncryptionContext;
use crate::crypto::aead::NONCE_LEN;
use crate::envelope;
use crate::error::Malformed;
use crate::format::{self, Detected, Form, KeyRefKind, Message};
use crate::http::HttpResponse;
use crate::key::{DataKey, GeneratedKey};
use crate::keyring::{Keyring, KeyringEntry};
use crate::message_key::MessageKey;
use crate::op::{BoxOp, Operation, ProcessOutput, Ready, Step, drive, no_network};
use crate::provider::KeyProvider;
use crate::random::{SecureRandom, SystemRandom};
use crate::{Error, Result, Timestamp};
use decrypt::DecState;
use domain::{KeyDomain, LEGACY_KEY_SIZED, LEGACY_WITH_COMPAT_KEYS, caller_context};
use encrypt::EncState;
use input::Parsed;
use rewrap::RwState;
use sha2::{Digest, Sha256};
use std::borrow::Cow;
use std::mem::MaybeUninit;
use std::sync::Arc;

/// Engine options beyond the keyring.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Options {
    /// Cache limits.
    pub cache: CacheConfig,
    /// Largest plaintext sealed or opened.
    pub max_plaintext: usize,
    /// Read the JSON compatibility envelope (no key commitment). Off by default.
    pub accept_json: bool,
    /// Hand values in no dekbox form to the compatibility key's direct decrypt
    /// (values encrypted by the KMS itself, before envelope encryption). Off by
    /// default; for migrations only.
    ///
    /// A dekbox message's data key can never come back from this path: it is
    /// wrapped under the context plus a reserved `dekbox:purpose` entry that
    /// direct decryption never sends, so the KMS itself refuses. Data keys in
    /// the compatibility domain (JSON envelopes,
    /// [`generate_data_key`](Engine::generate_data_key)) are wrapped as other
    /// tools wrap them, indistinguishable at the KMS from a directly encrypted
    /// value, so an engine with the fallback refuses to handle them; and since
    /// other tools (or another engine) may wrap such keys under the same KMS
    /// key and context, a legacy value that decrypts to exactly 32 bytes (the
    /// size of a data key) is refused unless
    /// [`legacy_allow_key_sized`](Self::legacy_allow_key_sized) is set.
    pub legacy_fallback: bool,
    /// Accept legacy values of exactly 32 bytes. Set it only when no tool
    /// wraps data keys under the compatibility key with the same contexts.
    pub legacy_allow_key_sized: bool,
    /// Keyring label of the key used for JSON envelopes and legacy values;
    /// `None` means the primary.
    pub compat_key: Option<String>,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            cache: CacheConfig::default(),
            max_plaintext: format::DEFAULT_MAX_PLAINTEXT,
            accept_json: false,
            legacy_fallback: false,
            legacy_allow_key_sized: false,
            compat_key: None,
        }
    }
}

/// Builds an [`Engine`].
#[derive(Default)]
pub struct EngineBuilder {
    keyring: Option<Keyring>,
    rng: Option<Arc<dyn SecureRandom>>,
    options: Options,
    roots: std::collections::BTreeMap<String, String>,
    primary_root: Option<String>,
}

impl EngineBuilder {
    /// Uses a single unlabelled key (headers name it by URI).
    pub fn key(mut self, provider: impl KeyProvider + 'static) -> Self {
        self.keyring = Some(Keyring::single(Arc::new(provider)));
        self
    }

    /// Uses a single unlabelled key given as a shared provider.
    pub fn key_arc(mut self, provider: Arc<dyn KeyProvider>) -> Self {
        self.keyring = Some(Keyring::single(provider));
        self
    }

    /// Uses a keyring.
    pub fn keyring(mut self, keyring: Keyring) -> Self {
        self.keyring = Some(keyring);
        self
    }

    /// Replaces the randomness source (tests and known-answer vectors).
    pub fn rng(mut self, rng: Arc<dyn SecureRandom>) -> Self {
        self.rng = Some(rng);
        self
    }

    /// Sets cache limits.
    pub fn cache(mut self, cache: CacheConfig) -> Self {
        self.options.cache = cache;
        self
    }

    /// Sets all options.
    pub fn options(mut self, options: Options) -> Self {
        self.options = options;
        self
    }

    /// Root keys: label → token (`dekbox:root:v1:...`, from
    /// [`Engine::create_root`]), and the label new root-keyed values use
    /// (optional with one root). Each is unwrapped on first use, by the
    /// keyring key its token names.
    pub fn roots(
        mut self,
        tokens: std::collections::BTreeMap<String, String>,
        primary: Option<String>,
    ) -> Self {
        self.roots = tokens;
        self.primary_root = primary;
        self
    }

    /// Validates and builds.
    pub fn build(self) -> Result<Engine> {
        let keyring = self
            .keyring
            .ok_or_else(|| Error::Config("an engine needs a key or a keyring".into()))?;
        self.options.cache.validate()?;
        if self.options.legacy_fallback && self.options.accept_json {
            return Err(Error::Config(LEGACY_WITH_COMPAT_KEYS.into()));
        }
        if let Some(label) = &self.options.compat_key {
            if keyring.by_label(label).is_none() {
                return Err(Error::Config(format!(
                    "compat_key {label:?} is not in the keyring"
                )));
            }
        }
        let roots = crate::root::RootSet::new(self.roots, self.primary_root)?;
        for (label, _) in roots.labels().0.iter().map(|l| (l, ())) {
            let kr = roots.slot(Some(label))?.token.key_ref();
            keyring
                .resolve_raw(kr.kind, kr.name.as_bytes())
                .map_err(|_| {
                    Error::Config(format!(
                        "root {label:?} is wrapped by {:?}, which is not in the keyring",
                        kr.name
                    ))
                })?;
        }
        Ok(Engine {
            roots,
            enc_cache: EncryptCache::new(self.options.cache.clone()),
            dec_cache: DecryptCache::new(&self.options.cache),
            rewrap_cache: RewrapCache::new(&self.options.cache),
            newest_versions: std::sync::Mutex::new(Vec::new()),
            keyring,
            rng: self.rng.unwrap_or_else(|| Arc::new(SystemRandom)),
            options: self.options,
            counters: Counters::default(),
        })
    }
}

/// Envelope encryption with caches, over a keyring.
///
///  # Calling contract
///
///  An [`Engine`] is built once ([`Engine::builder`]) and shared (it is `Send +
///  Sync`; every cache is internally locked). Its methods fall into three kinds:
///
///  - **Operations** — [`encrypt`](Engine::encrypt), [`decrypt`](Engine::decrypt),
///    [`rewrap`](Engine::rewrap), [`generate_data_key`](Engine::generate_data_key),
///    [`unwrap_data_key`](Engine::unwrap_data_key): each returns an
///    [`Operation`] to drive as described in [`crate::op`]: `poll(now)`, send
///    any request, `handle_response`, until `Done`. A cache hit or a local key
///    finishes on the first `poll`.
///  - **Conveniences for local keys** — [`encrypt_local`](Engine::encrypt_local),
///    [`decrypt_local`](Engine::decrypt_local), [`rewrap_local`](Engine::rewrap_local):
///    drive the operation with no network; a key that needs one reports
///    [`Error::Config`].
///  - **Introspection** — [`cache_stats`](Engine::cache_stats),
///    [`keyring`](Engine::keyring), [`inspect`](Engine::inspect),
///    [`clear_caches`](Engine::clear_caches).
pub struct Engine {
    keyring: Keyring,
    roots: crate::root::RootSet,
    enc_cache: EncryptCache,
    dec_cache: DecryptCache,
    rewrap_cache: RewrapCache,
    /// The newest key version each versioned key (Vault transit) has
    /// wrapped with lately: messages on it are current without a KMS call.
    newest_versions: std::sync::Mutex<Vec<(String, u32, Timestamp)>>,
    rng: Arc<dyn SecureRandom>,
    options: Options,
    counters: Counters,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("keyring", &self.keyring)
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

impl Engine {
    /// Starts building an engine.
    pub fn builder() -> EngineBuilder {
        EngineBuilder::default()
    }

    /// The keyring.
    pub fn keyring(&self) -> &Keyring {
        &self.keyring
    }

    /// The options.
    pub fn options(&self) -> &Options {
        &self.options
    }

    /// Cache and provider counters.
    pub fn cache_stats(&self) -> CacheStats {
        self.counters.snapshot()
    }

    /// Drops every cached data key (zeroizing them).
    pub fn clear_caches(&self) {
        self.roots.clear_derived();
        self.enc_cache.clear();
        self.dec_cache.clear();
        self.rewrap_cache.clear();
    }

    /// Seals `plaintext` under the primary key, bound to `context` and `aad`.
    pub fn encrypt<'a>(
        &'a self,
        plaintext: &'a [u8],
        context: &'a EncryptionContext,
        aad: &'a [u8],
        form: Form,
    ) -> EncryptOp<'a> {
        EncryptOp {
            engine: self,
            plaintext,
            context,
            aad,
            form,
            state: EncState::Start,
            ticket: None,
        }
    }

    /// Opens a sealed value of any accepted form, given the same context and aad.
    pub fn decrypt<'a>(
        &'a self,
        sealed: &'a [u8],
        context: &'a EncryptionContext,
        aad: &'a [u8],
    ) -> DecryptOp<'a> {
        DecryptOp {
            engine: self,
            input: sealed,
            context,
            aad,
            decoded: None,
            state: DecState::Start,
            ticket: None,
            export: false,
        }
    }

    /// The data key of a dekbox message (binary or text form), to hand to a
    /// client without KMS access (a browser page) so it can open the message
    /// and seal new ones; see [`MessageKey`] for what the holder can then do.
    ///
    /// The key is unwrapped like [`decrypt`](Self::decrypt) unwraps it (the
    /// KMS checks `context`; the decrypt cache is used) and checked against
    /// the message's key commitment before it is returned, so the key opens
    /// this message's header (the data itself is authenticated when opened).
    /// JSON envelopes, legacy values and the empty context are refused. The
    /// encrypt cache stops sealing with the exported key, so it never covers
    /// messages this engine seals afterwards (other processes' caches keep
    /// it until their own limits retire it).
    pub fn message_data_key<'a>(
        &'a self,
        sealed: &'a [u8],
        context: &'a EncryptionContext,
    ) -> MessageKeyOp<'a> {
        let mut op = self.decrypt(sealed, context, b"");
        op.export = true;
        MessageKeyOp(op)
    }

    /// A fresh data key under the primary key, wrapped as a message's data
    /// key (the context plus `dekbox:purpose = data-key`), for a client
    /// without KMS access to seal messages with ([`MessageKey::seal`]) that
    /// this engine opens. Not cached. The empty context is refused.
    pub fn new_message_data_key(&self, context: &EncryptionContext) -> BoxOp<'_, MessageKey> {
        if context.is_empty() {
            return Ready::boxed(Err(decrypt::NO_CONTEXT));
        }
        let provider_ctx = match caller_context(context)
            .and_then(|()| KeyDomain::Envelope.provider_context(context))
        {
            Ok(c) => c.into_owned(),
            Err(e) => return Ready::boxed(Err(e)),
        };
        Counters::bump(&self.counters.provider_calls);
        Counters::bump(&self.counters.data_keys_generated);
        let primary = self.keyring.primary();
        let generate = primary
            .provider()
            .generate_data_key(&provider_ctx, &*self.rng);
        Box::new(crate::op::Map::new(generate, move |gk: GeneratedKey| {
            let section = format::key_section(primary.key_ref(), &gk.wrapped)?;
            Ok(MessageKey::new(gk.plaintext, section))
        }))
    }

    /// Moves a sealed value to the primary key without re-encrypting its data:
    /// only the key reference and wrapped data key change. The data key is
    /// checked against the message's key commitment before it is re-wrapped.
    pub fn rewrap<'a>(&'a self, sealed: &'a [u8], context: &'a EncryptionContext) -> RewrapOp<'a> {
        RewrapOp {
            engine: self,
            input: sealed,
            context,
            decoded: None,
            state: RwState::Start,
            same_key: None,
        }
    }

    /// A fresh data key under the primary key, for callers who seal data
    /// themselves. Not cached. The key is wrapped under `context` alone, as
    /// other tools wrap theirs (so JSON envelopes built with it open), which is
    /// why an engine with [`Options::legacy_fallback`] refuses this call.
    pub fn generate_data_key(&self, context: &EncryptionContext) -> BoxOp<'_, GeneratedKey> {
        if self.options.legacy_fallback {
            return Ready::boxed(Err(Error::Config(LEGACY_WITH_COMPAT_KEYS.into())));
        }
        if let Err(e) = caller_context(context) {
            return Ready::boxed(Err(e));
        }
        Counters::bump(&self.counters.provider_calls);
        Counters::bump(&self.counters.data_keys_generated);
        self.keyring
            .primary()
            .provider()
            .generate_data_key(context, &*self.rng)
    }

    /// Unwraps a data key wrapped by the keyring key `label` (or the primary),
    /// as [`generate_data_key`](Self::generate_data_key) wraps them. Refused by
    /// an engine with [`Options::legacy_fallback`].
    pub fn unwrap_data_key(
        &self,
        wrapped: &[u8],
        context: &EncryptionContext,
        label: Option<&str>,
    ) -> BoxOp<'_, DataKey> {
        if self.options.legacy_fallback {
            return Ready::boxed(Err(Error::Config(LEGACY_WITH_COMPAT_KEYS.into())));
        }
        if let Err(e) = caller_context(context) {
            return Ready::boxed(Err(e));
        }
        let entry = match label {
            Some(l) => match self.keyring.by_label(l) {
                Some(entry) => entry,
                None => return Ready::boxed(Err(Error::UnknownKey(l.to_string()))),
            },
            None => self.keyring.primary(),
        };
        Counters::bump(&self.counters.provider_calls);
        entry.provider().unwrap(wrapped, context)
    }

    /// A cached data key for sealing data with another cipher (Active
    /// Record's own AES-GCM), and its token: the key section (key reference
    /// and wrapped key) to store beside that data. Each call counts as one
    /// message against the cache limits (well under the 2^32 random-nonce
    /// bound of that cipher); after `fork()` a child gets its own key. The key
    /// is wrapped under the context plus `dekbox:purpose = raw-data-key`, a
    /// domain of its own: such a key can never open or forge a dekbox message,
    /// nor come back through the legacy fallback.
    pub fn raw_data_key<'a>(&'a self, context: &'a EncryptionContext) -> RawKeyOp<'a> {
        RawKeyOp::new(self, context)
    }

    /// The data key of a token from [`raw_data_key`](Self::raw_data_key),
    /// through the decrypt cache (reading many rows under one key makes one
    /// provider call). The token names its key; only keys of this keyring
    /// are used.
    pub fn open_raw_data_key<'a>(
        &'a self,
        token: &'a [u8],
        context: &'a EncryptionContext,
    ) -> OpenRawKeyOp<'a> {
        OpenRawKeyOp::new(self, token, context)
    }

    /// The fast path for callers that own their output buffer (language
    /// bindings writing straight into a `bytes`/`Buffer`): if the primary
    /// key's data key for `context` is cached and comfortably within its
    /// limits, reserves one binary message of `plaintext_len` bytes on it.
    /// `None` means: use [`encrypt`](Self::encrypt).
    pub fn plan_encrypt(
        &self,
        plaintext_len: usize,
        context: &EncryptionContext,
        now: Timestamp,
    ) -> Result<Option<SealPlan<'_>>> {
        caller_context(context)?;
        if plaintext_len > self.options.max_plaintext {
            return Ok(None);
        }
        let sealer = self.enc_cache.reserve_cached(
            context.canonical_bytes(),
            plaintext_len,
            now,
            &*self.rng,
        )?;
        Ok(sealer.map(|sealer| {
            Counters::bump(&self.counters.encrypt_hits);
            SealPlan {
                engine: self,
                sealer,
                plaintext_len,
            }
        }))
    }

    /// The fast path for opening into a caller's buffer: for a binary message
    /// whose data key is cached, the plaintext length and a plan to open it.
    /// `None` means: use [`decrypt`](Self::decrypt).
    pub fn plan_decrypt<'a>(
        &'a self,
        sealed: &'a [u8],
        context: &EncryptionContext,
        now: Timestamp,
    ) -> Result<Option<OpenPlan<'a>>> {
        caller_context(context)?;
        if format::detect(sealed) != Detected::Binary || crate::root::value::is_root_value(sealed) {
            return Ok(None);
        }
        let msg = format::parse(sealed, self.options.max_plaintext)?;
        let entry = self
            .keyring
            .resolve_raw(msg.key_ref_kind, msg.key_ref_raw)?;
        let Some(opener) =
            self.dec_cache
                .get(entry.id(), msg.wrapped_dek, context.canonical_bytes(), now)
        else {
            return Ok(None);
        };
        Counters::bump(&self.counters.decrypt_hits);
        Ok(Some(OpenPlan {
            engine: self,
            opener,
            msg,
        }))
    }

    /// What a sealed value's header says (no key needed, nothing secret shown).
    pub fn inspect(&self, sealed: &[u8]) -> Result<Inspection> {
        inspect(sealed, self.options.max_plaintext)
    }

    /// [`encrypt`](Self::encrypt) driven with no network.
    pub fn encrypt_local(
        &self,
        plaintext: &[u8],
        context: &EncryptionContext,
        aad: &[u8],
        form: Form,
        now: Timestamp,
    ) -> Result<Vec<u8>> {
        drive(
            &mut self.encrypt(plaintext, context, aad, form),
            || now,
            no_network,
        )
    }

    /// [`decrypt`](Self::decrypt) driven with no network.
    pub fn decrypt_local(
        &self,
        sealed: &[u8],
        context: &EncryptionContext,
        aad: &[u8],
        now: Timestamp,
    ) -> Result<Vec<u8>> {
        if let Some(r) = self.decrypt_cached(sealed, context, aad, now) {
            return r;
        }
        drive(&mut self.decrypt(sealed, context, aad), || now, no_network)
    }

    /// Opens a binary or text message whose data key is cached, without
    /// building an operation: the common case, for drivers to try first.
    /// `None` means the full [`decrypt`](Self::decrypt) operation is needed.
    pub fn decrypt_cached(
        &self,
        sealed: &[u8],
        context: &EncryptionContext,
        aad: &[u8],
        now: Timestamp,
    ) -> Option<Result<Vec<u8>>> {
        let decoded;
        let binary = match format::detect(sealed) {
            Detected::Binary => sealed,
            Detected::Text => match format::text::decode(sealed, self.options.max_plaintext) {
                Ok(b) => {
                    decoded = b;
                    &decoded[..]
                }
                Err(e) => return Some(Err(e.into())),
            },
            _ => return None,
        };
        match self.plan_decrypt(binary, context, now) {
            Ok(Some(plan)) => Some(plan.open_to_vec(context, aad)),
            Ok(None) => None,
            Err(e) => Some(Err(e)),
        }
    }

    /// Seals a binary or text message with a cached data key, without
    /// building an operation. `None` means the full
    /// [`encrypt`](Self::encrypt) operation is needed (a miss, a key near its
    /// limits, or the JSON form).
    pub fn encrypt_cached(
        &self,
        plaintext: &[u8],
        context: &EncryptionContext,
        aad: &[u8],
        form: Form,
        now: Timestamp,
    ) -> Option<Result<Vec<u8>>> {
        if form == Form::Json {
            return None;
        }
        match self.plan_encrypt(plaintext.len(), context, now) {
            Ok(Some(plan)) => Some(self.seal_with(&plan.sealer, plaintext, context, aad, form)),
            Ok(None) => None,
            Err(e) => Some(Err(e)),
        }
    }

    /// [`rewrap`](Self::rewrap) driven with no network.
    pub fn rewrap_local(
        &self,
        sealed: &[u8],
        context: &EncryptionContext,
        now: Timestamp,
    ) -> Result<Rewrapped> {
        drive(&mut self.rewrap(sealed, context), || now, no_network)
    }

    /// The key new data of a domain is sealed under: the primary for
    /// messages, the compatibility key for JSON envelopes (so an engine reads
    /// back what it writes).
    /// After a cache miss: counts it and starts generating a data key for
    /// `domain` under the primary (or compatibility) key.
    fn start_generating(
        &self,
        domain: KeyDomain,
        context: &EncryptionContext,
    ) -> Result<BoxOp<'_, GeneratedKey>> {
        Counters::bump(&self.counters.encrypt_misses);
        Counters::bump(&self.counters.provider_calls);
        Counters::bump(&self.counters.data_keys_generated);
        let provider_ctx = domain.provider_context(context)?;
        Ok(self
            .writer(domain)
            .provider()
            .generate_data_key(&provider_ctx, &*self.rng))
    }

    /// A sealer for a data key just generated for `domain`.
    fn new_sealer(&self, domain: KeyDomain, gk: GeneratedKey) -> Result<Arc<Sealer>> {
        let section = format::key_section(self.writer(domain).key_ref(), &gk.wrapped)?;
        Ok(Arc::new(Sealer::new(
            gk.plaintext,
            gk.wrapped,
            section,
            domain.used_raw(),
            &*self.rng,
        )?))
    }

    fn writer(&self, domain: KeyDomain) -> &KeyringEntry {
        match domain {
            KeyDomain::Envelope | KeyDomain::Raw => self.keyring.primary(),
            KeyDomain::Compat => self.compat_entry(),
        }
    }

    fn compat_entry(&self) -> &KeyringEntry {
        self.options
            .compat_key
            .as_deref()
            .and_then(|l| self.keyring.by_label(l))
            .unwrap_or_else(|| self.keyring.primary())
    }

    fn seal_with(
        &self,
        sealer: &Sealer,
        plaintext: &[u8],
        context: &EncryptionContext,
        aad: &[u8],
        form: Form,
    ) -> Result<Vec<u8>> {
        let mut nonce = [0u8; NONCE_LEN];
        self.rng.fill(&mut nonce)?;
        if form == Form::Json {
            return envelope::seal_json(sealer.raw_key(), &nonce, &sealer.wrapped, aad, plaintext);
        }
        let parts = sealer.parts(&nonce);
        envelope::seal_to_vec(&parts, context.canonical_bytes(), aad, plaintext, form)
    }

    fn open_message(
        &self,
        opener: &Opener,
        msg: &Message<'_>,
        context: &EncryptionContext,
        aad: &[u8],
    ) -> Result<Vec<u8>> {
        opener.with_derived(msg.salt, |derived| {
            envelope::open_to_vec(derived, msg, context.canonical_bytes(), aad)
        })
    }
}

// An engine is shared across threads (and by every binding).
const _: () = {
    const fn send_sync<T: Send + Sync>() {}
    send_sync::<Engine>();
};
