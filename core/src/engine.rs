//! The engine: keyring + caches + randomness, handing out operations.
//!
//! # Calling contract
//!
//! An [`Engine`] is built once ([`Engine::builder`]) and shared (it is `Send +
//! Sync`; every cache is internally locked). Its methods fall into three kinds:
//!
//! - **Operations** — [`encrypt`](Engine::encrypt), [`decrypt`](Engine::decrypt),
//!   [`rewrap`](Engine::rewrap), [`generate_data_key`](Engine::generate_data_key),
//!   [`unwrap_data_key`](Engine::unwrap_data_key): each returns an
//!   [`Operation`] to drive as described in [`crate::op`]: `poll(now)`, send
//!   any request, `handle_response`, until `Done`. A cache hit or a local key
//!   finishes on the first `poll`.
//! - **Conveniences for local keys** — [`encrypt_local`](Engine::encrypt_local),
//!   [`decrypt_local`](Engine::decrypt_local), [`rewrap_local`](Engine::rewrap_local):
//!   drive the operation with no network; a key that needs one reports
//!   [`Error::Config`].
//! - **Introspection** — [`cache_stats`](Engine::cache_stats),
//!   [`keyring`](Engine::keyring), [`inspect`](Engine::inspect),
//!   [`clear_caches`](Engine::clear_caches).

use crate::cache::{
    CacheConfig, CacheStats, Counters, DecryptCache, EncryptCache, Lookup, Opener, Reservation,
    Sealer, Ticket,
};
use crate::compat;
use crate::context::EncryptionContext;
use crate::crypto::aead::{NONCE_LEN, TAG_LEN};
use crate::error::Malformed;
use crate::format::{self, Detected, Form, KeyRefKind, Message};
use crate::http::HttpResponse;
use crate::key::{DataKey, GeneratedKey};
use crate::keyring::{Keyring, KeyringEntry};
use crate::op::{BoxOp, Operation, Ready, Step, drive, no_network};
use crate::provider::KeyProvider;
use crate::random::{SecureRandom, SystemRandom};
use crate::{Error, Result, Timestamp};
use lru::LruCache;
use sha2::{Digest, Sha256};
use std::borrow::Cow;
use std::mem::MaybeUninit;
use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex};

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
        Ok(Engine {
            enc_cache: EncryptCache::new(self.options.cache.clone()),
            dec_cache: DecryptCache::new(&self.options.cache),
            rewrap_cache: Mutex::new(LruCache::new(
                NonZeroUsize::new(self.options.cache.decrypt_capacity).unwrap_or(NonZeroUsize::MIN),
            )),
            keyring,
            rng: self.rng.unwrap_or_else(|| Arc::new(SystemRandom)),
            options: self.options,
            counters: Counters::default(),
        })
    }
}

/// Why an engine with `legacy_fallback` refuses compatibility-domain data keys.
const LEGACY_WITH_COMPAT_KEYS: &str = "legacy_fallback cannot be combined with JSON envelopes or \
     generate_data_key/unwrap_data_key: their wrapped keys look, to the KMS, like directly \
     encrypted values, and the fallback would return them as plaintext";

/// Why a 32-byte legacy value is refused by default.
const LEGACY_KEY_SIZED: &str = "a legacy value decrypted to exactly 32 bytes, the size of a data \
     key, and was refused: it may be another tool's wrapped data key. If your legacy values can \
     be 32 bytes and nothing wraps data keys under this key and context, set \
     legacy_allow_key_sized";

/// The two families of wrapped data keys an engine handles.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum KeyDomain {
    /// Data keys of dekbox messages: the provider is given the caller's
    /// context plus the reserved `dekbox:purpose = data-key` entry.
    Envelope,
    /// Data keys of the JSON compatibility envelope and of
    /// [`Engine::generate_data_key`]: the caller's context alone, as other
    /// tools send it.
    Compat,
}

/// Prefixed to the context bytes of compatibility-domain cache entries. No
/// canonical context encoding starts with it (its entry count would be at
/// least 0xFF00, far beyond what fits in 16 KiB), so the domains never share
/// a cache entry.
const COMPAT_CACHE_TAG: u8 = 0xFF;
// Each entry takes at least 5 bytes (two u16 lengths and a non-empty key), so
// a context within its size limit has far fewer than 0xFF00 entries.
const _: () = assert!(crate::context::MAX_CONTEXT_BYTES / 5 < 0xFF00);

/// Refuses a context that was built for a key provider (it carries the
/// reserved purpose entry): given to the engine, it would let the legacy path
/// send a message's data-key context to the KMS.
fn caller_context(ctx: &EncryptionContext) -> Result<()> {
    if ctx.is_reserved() {
        return Err(Error::ApiMisuse(
            "a context built for a key provider (with a reserved dekbox: entry) was given to the engine",
        ));
    }
    Ok(())
}

impl KeyDomain {
    fn of_form(form: Form) -> Self {
        match form {
            Form::Json => KeyDomain::Compat,
            _ => KeyDomain::Envelope,
        }
    }

    fn of(parsed: &Parsed<'_>) -> Self {
        match parsed {
            Parsed::Message(..) => KeyDomain::Envelope,
            Parsed::Json(_) => KeyDomain::Compat,
        }
    }

    /// The context a key provider is given.
    fn provider_context(self, ctx: &EncryptionContext) -> Result<Cow<'_, EncryptionContext>> {
        Ok(match self {
            KeyDomain::Envelope => Cow::Owned(ctx.for_data_key()?),
            KeyDomain::Compat => Cow::Borrowed(ctx),
        })
    }

    /// The context bytes the data-key caches are keyed by.
    fn cache_context(self, ctx: &EncryptionContext) -> Cow<'_, [u8]> {
        match self {
            KeyDomain::Envelope => Cow::Borrowed(ctx.canonical_bytes()),
            KeyDomain::Compat => {
                let mut v = Vec::with_capacity(1 + ctx.canonical_bytes().len());
                v.push(COMPAT_CACHE_TAG);
                v.extend_from_slice(ctx.canonical_bytes());
                Cow::Owned(v)
            }
        }
    }
}

/// Envelope encryption with caches, over a keyring. See the module docs for
/// the calling contract.
pub struct Engine {
    keyring: Keyring,
    enc_cache: EncryptCache,
    dec_cache: DecryptCache,
    rewrap_cache: Mutex<LruCache<Vec<u8>, Vec<u8>>>,
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

/// The result of a rewrap.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rewrapped {
    /// The message, now naming the primary key (unchanged if it already did).
    pub message: Vec<u8>,
    /// Whether the message changed.
    pub changed: bool,
}

/// What a sealed value's header says. Contains nothing secret.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Inspection {
    /// Binary, text or JSON.
    pub form: Form,
    /// Format version (0 for JSON envelopes, which have none).
    pub version: u8,
    /// Algorithm suite (0 for JSON envelopes).
    pub suite: u8,
    /// The key named in the header (`None` for JSON envelopes).
    pub key_ref: Option<(KeyRefKind, String)>,
    /// Length of the wrapped data key.
    pub wrapped_dek_len: usize,
    /// First 8 bytes of SHA-256 of the wrapped data key, hex: identifies
    /// messages sharing a data key without revealing anything.
    pub wrapped_dek_fingerprint: String,
    /// Plaintext length.
    pub plaintext_len: usize,
    /// Whether the format carries a key commitment.
    pub committing: bool,
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
        self.enc_cache.clear();
        self.dec_cache.clear();
        lock(&self.rewrap_cache).clear();
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
        }
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
    ) -> Result<BoxOp<'_, DataKey>> {
        if self.options.legacy_fallback {
            return Err(Error::Config(LEGACY_WITH_COMPAT_KEYS.into()));
        }
        caller_context(context)?;
        let entry = match label {
            Some(l) => self
                .keyring
                .by_label(l)
                .ok_or_else(|| Error::UnknownKey(l.to_string()))?,
            None => self.keyring.primary(),
        };
        Counters::bump(&self.counters.provider_calls);
        Ok(entry.provider().unwrap(wrapped, context))
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
    pub fn plan_decrypt(
        &self,
        sealed: &[u8],
        context: &EncryptionContext,
        now: Timestamp,
    ) -> Result<Option<OpenPlan<'_>>> {
        caller_context(context)?;
        if format::detect(sealed) != Detected::Binary {
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
            plaintext_len: msg.plaintext_len(),
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
            Ok(Some(plan)) => Some(plan.open_to_vec(binary, context, aad)),
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
    fn writer(&self, domain: KeyDomain) -> &KeyringEntry {
        match domain {
            KeyDomain::Envelope => self.keyring.primary(),
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
            let mut body = Vec::with_capacity(plaintext.len() + 16);
            body.extend_from_slice(plaintext);
            let tag = sealer.raw_key().seal_in_place(&nonce, aad, &mut body)?;
            body.extend_from_slice(&tag);
            return Ok(compat::encode_json(&sealer.wrapped, &nonce, &body));
        }
        let body = format::FIXED_HEADER_LEN + sealer.key_section.len();
        let total = body + plaintext.len() + TAG_LEN;
        let mut out = Vec::with_capacity(total);
        out.extend_from_slice(&sealer.prefix);
        out.extend_from_slice(&nonce);
        let mut ad_header = [0u8; format::FIXED_HEADER_LEN];
        ad_header.copy_from_slice(&out);
        out.extend_from_slice(&sealer.key_section);
        debug_assert_eq!(out.len(), body);
        format::with_associated_data(&ad_header, context.canonical_bytes(), aad, |ad| {
            sealer
                .derived
                .aead
                .seal_append(&nonce, ad, plaintext, &mut out)
        })?;
        Ok(match form {
            Form::Text => format::text::encode(&out),
            _ => out,
        })
    }

    fn open_message(
        &self,
        opener: &Opener,
        msg: &Message<'_>,
        context: &EncryptionContext,
        aad: &[u8],
    ) -> Result<Vec<u8>> {
        opener.with_derived(msg.salt, |derived| {
            if !derived.commitment_matches(msg.commitment) {
                return Err(Error::Authentication);
            }
            let mut out = Vec::with_capacity(msg.plaintext_len());
            format::with_associated_data(msg.fixed_header, context.canonical_bytes(), aad, |ad| {
                derived.aead.open_append(msg.nonce, ad, msg.body, &mut out)
            })?;
            Ok(out)
        })
    }
}

/// A reserved message on a cached data key; see [`Engine::plan_encrypt`].
pub struct SealPlan<'a> {
    engine: &'a Engine,
    sealer: Arc<Sealer>,
    plaintext_len: usize,
}

impl SealPlan<'_> {
    /// The exact length of the binary message.
    pub fn sealed_len(&self) -> usize {
        format::FIXED_HEADER_LEN + self.sealer.key_section.len() + self.plaintext_len + TAG_LEN
    }

    /// Seals into `out`, which must be exactly [`sealed_len`](Self::sealed_len) bytes.
    pub fn seal_into(
        &self,
        plaintext: &[u8],
        context: &EncryptionContext,
        aad: &[u8],
        out: &mut [u8],
    ) -> Result<()> {
        self.seal_into_uninit(plaintext, context, aad, crate::crypto::aead::as_uninit(out))
    }
}

impl SealPlan<'_> {
    /// [`seal_into`](Self::seal_into) for memory the caller has not
    /// initialised (a fresh `bytes` or `Buffer`): on success every byte of
    /// `out` is written.
    pub fn seal_into_uninit(
        &self,
        plaintext: &[u8],
        context: &EncryptionContext,
        aad: &[u8],
        out: &mut [MaybeUninit<u8>],
    ) -> Result<()> {
        if plaintext.len() != self.plaintext_len || out.len() != self.sealed_len() {
            return Err(Error::ApiMisuse(
                "buffer or plaintext does not match the plan",
            ));
        }
        let mut nonce = [0u8; NONCE_LEN];
        self.engine.rng.fill(&mut nonce)?;
        let s = &self.sealer;
        let body = format::FIXED_HEADER_LEN + s.key_section.len();
        let mut header = [0u8; format::FIXED_HEADER_LEN];
        header[..69].copy_from_slice(&s.prefix);
        header[69..].copy_from_slice(&nonce);
        let (head, rest) = out.split_at_mut(body);
        write_init(&mut head[..format::FIXED_HEADER_LEN], &header);
        write_init(&mut head[format::FIXED_HEADER_LEN..], &s.key_section);
        format::with_associated_data(&header, context.canonical_bytes(), aad, |ad| {
            s.derived.aead.seal_to_uninit(&nonce, ad, plaintext, rest)
        })
    }
}

impl OpenPlan<'_> {
    /// [`open_into`](Self::open_into) for memory the caller has not
    /// initialised: on success every byte is the plaintext, on failure zero.
    pub fn open_into_uninit(
        &self,
        sealed: &[u8],
        context: &EncryptionContext,
        aad: &[u8],
        out: &mut [MaybeUninit<u8>],
    ) -> Result<()> {
        let msg = match format::parse(sealed, self.engine.options.max_plaintext) {
            Ok(m) => m,
            Err(e) => {
                out.fill(MaybeUninit::new(0));
                return Err(e.into());
            }
        };
        if out.len() != self.plaintext_len || msg.plaintext_len() != self.plaintext_len {
            out.fill(MaybeUninit::new(0));
            return Err(Error::ApiMisuse(
                "buffer or message does not match the plan",
            ));
        }
        self.opener.with_derived(msg.salt, |derived| {
            if !derived.commitment_matches(msg.commitment) {
                out.fill(MaybeUninit::new(0));
                return Err(Error::Authentication);
            }
            format::with_associated_data(msg.fixed_header, context.canonical_bytes(), aad, |ad| {
                derived.aead.open_to_uninit(msg.nonce, ad, msg.body, out)
            })
        })
    }
}

fn write_init(dst: &mut [MaybeUninit<u8>], src: &[u8]) {
    for (d, s) in dst.iter_mut().zip(src) {
        d.write(*s);
    }
}

/// A binary message whose data key is cached; see [`Engine::plan_decrypt`].
pub struct OpenPlan<'a> {
    engine: &'a Engine,
    opener: Arc<Opener>,
    plaintext_len: usize,
}

impl OpenPlan<'_> {
    /// Opens `sealed` into a new `Vec` (written in place, no zero-fill).
    pub fn open_to_vec(
        &self,
        sealed: &[u8],
        context: &EncryptionContext,
        aad: &[u8],
    ) -> Result<Vec<u8>> {
        let msg = format::parse(sealed, self.engine.options.max_plaintext)?;
        self.engine.open_message(&self.opener, &msg, context, aad)
    }

    /// The plaintext length.
    pub fn plaintext_len(&self) -> usize {
        self.plaintext_len
    }

    /// Opens `sealed` (the message the plan was made for) into `out`, which
    /// must be exactly [`plaintext_len`](Self::plaintext_len) bytes. On
    /// failure `out` is zeroed.
    pub fn open_into(
        &self,
        sealed: &[u8],
        context: &EncryptionContext,
        aad: &[u8],
        out: &mut [u8],
    ) -> Result<()> {
        self.open_into_uninit(sealed, context, aad, crate::crypto::aead::as_uninit(out))
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Reads a sealed value's header without any key.
pub fn inspect(sealed: &[u8], max_plaintext: usize) -> Result<Inspection> {
    let fingerprint = |w: &[u8]| {
        Sha256::digest(w)[..8]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    };
    let from_msg = |m: &Message<'_>, form| Inspection {
        form,
        version: format::VERSION_1,
        suite: m.suite,
        key_ref: Some((
            m.key_ref_kind,
            String::from_utf8_lossy(m.key_ref_raw).into_owned(),
        )),
        wrapped_dek_len: m.wrapped_dek.len(),
        wrapped_dek_fingerprint: fingerprint(m.wrapped_dek),
        plaintext_len: m.plaintext_len(),
        committing: true,
    };
    match format::detect(sealed) {
        Detected::Binary => Ok(from_msg(
            &format::parse(sealed, max_plaintext)?,
            Form::Binary,
        )),
        Detected::Text => {
            let bin = format::text::decode(sealed, max_plaintext)?;
            Ok(from_msg(&format::parse(&bin, max_plaintext)?, Form::Text))
        }
        Detected::Json => {
            let j = compat::parse_json(sealed, max_plaintext)?;
            Ok(Inspection {
                form: Form::Json,
                version: 0,
                suite: 0,
                key_ref: None,
                wrapped_dek_len: j.wrapped_dek.len(),
                wrapped_dek_fingerprint: fingerprint(&j.wrapped_dek),
                plaintext_len: j.ciphertext_and_tag.len().saturating_sub(16),
                committing: false,
            })
        }
        Detected::Unknown => Err(Malformed::NotDekbox.into()),
    }
}

/// A decoded non-binary input, owned by the operation that decoded it.
enum Decoded {
    /// Text form decoded to binary.
    Binary(Vec<u8>),
    /// JSON envelope.
    Json(compat::JsonEnvelope),
}

/// What a dekbox input turned out to be.
enum Parsed<'m> {
    Message(Message<'m>, Form),
    Json(&'m compat::JsonEnvelope),
}

/// Parses `input` (decoding text/JSON into `decoded` the first time).
fn parse_input<'m>(
    engine: &Engine,
    input: &'m [u8],
    decoded: &'m mut Option<Decoded>,
) -> Result<Option<Parsed<'m>>> {
    let max = engine.options.max_plaintext;
    if decoded.is_none() {
        match format::detect(input) {
            Detected::Binary => {
                return Ok(Some(Parsed::Message(
                    format::parse(input, max)?,
                    Form::Binary,
                )));
            }
            Detected::Text => *decoded = Some(Decoded::Binary(format::text::decode(input, max)?)),
            Detected::Json => {
                if !engine.options.accept_json {
                    return Err(Malformed::Json(
                        "JSON envelopes are not accepted (enable accept_json to migrate them)",
                    )
                    .into());
                }
                *decoded = Some(Decoded::Json(compat::parse_json(input, max)?));
            }
            Detected::Unknown => return Ok(None),
        }
    }
    match decoded.as_ref() {
        Some(Decoded::Binary(b)) => Ok(Some(Parsed::Message(format::parse(b, max)?, Form::Text))),
        Some(Decoded::Json(j)) => Ok(Some(Parsed::Json(j))),
        None => Ok(None),
    }
}

enum EncState<'a> {
    Start,
    Generating(BoxOp<'a, GeneratedKey>),
    Finished,
}

/// Sealing operation; see [`Engine::encrypt`].
pub struct EncryptOp<'a> {
    engine: &'a Engine,
    plaintext: &'a [u8],
    context: &'a EncryptionContext,
    aad: &'a [u8],
    form: Form,
    state: EncState<'a>,
    ticket: Option<Ticket>,
}

impl Drop for EncryptOp<'_> {
    fn drop(&mut self) {
        // Failed or abandoned: let a waiting operation generate instead.
        if let Some(t) = self.ticket.take() {
            self.engine.enc_cache.release(t);
        }
    }
}

/// How long an operation asks to be left alone while another one fetches the
/// data key it needs.
const WAIT_FOR_OTHERS: std::time::Duration = std::time::Duration::from_millis(2);

impl<'a> Operation for EncryptOp<'a> {
    type Output = Vec<u8>;

    fn poll(&mut self, now: Timestamp) -> Result<Step<Vec<u8>>> {
        let e = self.engine;
        loop {
            match &mut self.state {
                EncState::Start => {
                    if let Err(err) = caller_context(self.context) {
                        self.state = EncState::Finished;
                        return Err(err);
                    }
                    if self.plaintext.len() > e.options.max_plaintext {
                        self.state = EncState::Finished;
                        return Err(Malformed::TooLarge {
                            len: self.plaintext.len(),
                            max: e.options.max_plaintext,
                        }
                        .into());
                    }
                    let domain = KeyDomain::of_form(self.form);
                    let writer = e.writer(domain);
                    if domain == KeyDomain::Compat && e.options.legacy_fallback {
                        self.state = EncState::Finished;
                        return Err(Error::Config(LEGACY_WITH_COMPAT_KEYS.into()));
                    }
                    let key = domain.cache_context(self.context);
                    match e
                        .enc_cache
                        .reserve(&key, self.plaintext.len(), now, &*e.rng)?
                    {
                        Reservation::Hit(sealer) => {
                            Counters::bump(&e.counters.encrypt_hits);
                            self.state = EncState::Finished;
                            return e
                                .seal_with(
                                    &sealer,
                                    self.plaintext,
                                    self.context,
                                    self.aad,
                                    self.form,
                                )
                                .map(Step::Done);
                        }
                        // Another operation is generating this context's key.
                        Reservation::Wait => return Ok(Step::Wait(WAIT_FOR_OTHERS)),
                        Reservation::Generate(ticket) => self.ticket = ticket,
                    }
                    Counters::bump(&e.counters.encrypt_misses);
                    Counters::bump(&e.counters.provider_calls);
                    Counters::bump(&e.counters.data_keys_generated);
                    let provider_ctx = domain.provider_context(self.context)?;
                    self.state = EncState::Generating(
                        writer.provider().generate_data_key(&provider_ctx, &*e.rng),
                    );
                }
                EncState::Generating(op) => match op.poll(now)? {
                    Step::Send(req) => return Ok(Step::Send(req)),
                    Step::Wait(d) => return Ok(Step::Wait(d)),
                    Step::Done(gk) => {
                        self.state = EncState::Finished;
                        let domain = KeyDomain::of_form(self.form);
                        let section = format::key_section(e.writer(domain).key_ref(), &gk.wrapped)?;
                        let sealer = Arc::new(Sealer::new(
                            gk.plaintext,
                            gk.wrapped,
                            section,
                            domain == KeyDomain::Compat,
                            &*e.rng,
                        )?);
                        let out = e.seal_with(
                            &sealer,
                            self.plaintext,
                            self.context,
                            self.aad,
                            self.form,
                        )?;
                        e.enc_cache.insert(
                            &domain.cache_context(self.context),
                            sealer,
                            self.plaintext.len(),
                            now,
                            self.ticket.take(),
                        );
                        return Ok(Step::Done(out));
                    }
                },
                EncState::Finished => {
                    return Err(Error::ApiMisuse("operation polled after completion"));
                }
            }
        }
    }

    fn handle_response(&mut self, response: HttpResponse) -> Result<()> {
        match &mut self.state {
            EncState::Generating(op) => op.handle_response(response),
            _ => Err(Error::ApiMisuse("no request outstanding")),
        }
    }

    fn handle_failure(&mut self, error: Error) -> Result<()> {
        match &mut self.state {
            EncState::Generating(op) => op.handle_failure(error),
            _ => Err(error),
        }
    }
}

enum DecState<'a> {
    Start,
    Unwrapping {
        op: BoxOp<'a, DataKey>,
        wrapped: Vec<u8>,
        key_id: &'a str,
        domain: KeyDomain,
    },
    Direct(BoxOp<'a, zeroize::Zeroizing<Vec<u8>>>),
    Finished,
}

/// Opening operation; see [`Engine::decrypt`].
pub struct DecryptOp<'a> {
    engine: &'a Engine,
    input: &'a [u8],
    context: &'a EncryptionContext,
    aad: &'a [u8],
    decoded: Option<Decoded>,
    state: DecState<'a>,
    ticket: Option<Ticket>,
}

impl Drop for DecryptOp<'_> {
    fn drop(&mut self) {
        if let Some(t) = self.ticket.take() {
            self.engine.dec_cache.release(t);
        }
    }
}

impl DecryptOp<'_> {
    fn open_with(&mut self, opener: &Opener) -> Result<Vec<u8>> {
        let e = self.engine;
        match parse_input(e, self.input, &mut self.decoded)? {
            Some(parsed) => open_parsed(e, opener, &parsed, self.context, self.aad),
            None => Err(Malformed::NotDekbox.into()),
        }
    }
}

fn open_parsed(
    e: &Engine,
    opener: &Opener,
    parsed: &Parsed<'_>,
    context: &EncryptionContext,
    aad: &[u8],
) -> Result<Vec<u8>> {
    match parsed {
        Parsed::Message(msg, _) => e.open_message(opener, msg, context, aad),
        Parsed::Json(j) => {
            let mut buf = j.ciphertext_and_tag.clone();
            opener.raw_key().open_in_place(&j.nonce, aad, &mut buf)?;
            Ok(buf)
        }
    }
}

impl<'a> Operation for DecryptOp<'a> {
    type Output = Vec<u8>;

    fn poll(&mut self, now: Timestamp) -> Result<Step<Vec<u8>>> {
        let e = self.engine;
        loop {
            match &mut self.state {
                DecState::Start => {
                    self.state = DecState::Finished;
                    caller_context(self.context)?;
                    enum Next<'a> {
                        Unwrap(BoxOp<'a, DataKey>, Vec<u8>, &'a str, KeyDomain),
                        Wait,
                        Direct,
                    }
                    let (context, aad) = (self.context, self.aad);
                    let next = match parse_input(e, self.input, &mut self.decoded)? {
                        None => Next::Direct,
                        Some(parsed) => {
                            let (entry, wrapped) = match &parsed {
                                Parsed::Message(msg, _) => (
                                    e.keyring.resolve_raw(msg.key_ref_kind, msg.key_ref_raw)?,
                                    msg.wrapped_dek,
                                ),
                                Parsed::Json(j) => (e.compat_entry(), j.wrapped_dek.as_slice()),
                            };
                            let domain = KeyDomain::of(&parsed);
                            match e.dec_cache.lookup(
                                entry.id(),
                                wrapped,
                                &domain.cache_context(context),
                                now,
                            ) {
                                // The common case: open with the message parsed once.
                                Lookup::Hit(opener) => {
                                    Counters::bump(&e.counters.decrypt_hits);
                                    return open_parsed(e, &opener, &parsed, context, aad)
                                        .map(Step::Done);
                                }
                                Lookup::Wait => Next::Wait,
                                Lookup::Fetch(ticket) => {
                                    // A ticket now held is released by Drop on error.
                                    self.ticket = ticket;
                                    Next::Unwrap(
                                        entry
                                            .provider()
                                            .unwrap(wrapped, &*domain.provider_context(context)?),
                                        wrapped.to_vec(),
                                        entry.id(),
                                        domain,
                                    )
                                }
                            }
                        }
                    };
                    match next {
                        Next::Wait => {
                            // Another operation is unwrapping this key.
                            self.state = DecState::Start;
                            return Ok(Step::Wait(WAIT_FOR_OTHERS));
                        }
                        Next::Unwrap(op, wrapped, key_id, domain) => {
                            Counters::bump(&e.counters.decrypt_misses);
                            Counters::bump(&e.counters.provider_calls);
                            self.state = DecState::Unwrapping {
                                op,
                                wrapped,
                                key_id,
                                domain,
                            };
                        }
                        Next::Direct => {
                            if !e.options.legacy_fallback {
                                return Err(Malformed::NotDekbox.into());
                            }
                            Counters::bump(&e.counters.provider_calls);
                            self.state = DecState::Direct(
                                e.compat_entry()
                                    .provider()
                                    .decrypt_direct(self.input, self.context),
                            );
                        }
                    }
                }
                DecState::Unwrapping {
                    op,
                    wrapped,
                    key_id,
                    domain,
                } => match op.poll(now)? {
                    Step::Send(req) => return Ok(Step::Send(req)),
                    Step::Wait(d) => return Ok(Step::Wait(d)),
                    Step::Done(dek) => {
                        let wrapped = std::mem::take(wrapped);
                        let opener = Arc::new(Opener::new(
                            dek,
                            key_id,
                            &domain.cache_context(self.context),
                            now,
                        ));
                        self.state = DecState::Finished;
                        let out = self.open_with(&opener);
                        // Only keys that opened a message are cached for reuse;
                        // a key that fails the commitment stays out.
                        e.dec_cache.insert(
                            &wrapped,
                            out.is_ok().then_some(opener),
                            self.ticket.take(),
                        );
                        return out.map(Step::Done);
                    }
                },
                DecState::Direct(op) => match op.poll(now)? {
                    Step::Send(req) => return Ok(Step::Send(req)),
                    Step::Wait(d) => return Ok(Step::Wait(d)),
                    Step::Done(pt) => {
                        self.state = DecState::Finished;
                        if pt.len() == crate::key::DATA_KEY_LEN && !e.options.legacy_allow_key_sized
                        {
                            return Err(Error::Config(LEGACY_KEY_SIZED.into()));
                        }
                        return Ok(Step::Done(pt.to_vec()));
                    }
                },
                DecState::Finished => {
                    return Err(Error::ApiMisuse("operation polled after completion"));
                }
            }
        }
    }

    fn handle_response(&mut self, response: HttpResponse) -> Result<()> {
        match &mut self.state {
            DecState::Unwrapping { op, .. } => op.handle_response(response),
            DecState::Direct(op) => op.handle_response(response),
            _ => Err(Error::ApiMisuse("no request outstanding")),
        }
    }

    fn handle_failure(&mut self, error: Error) -> Result<()> {
        match &mut self.state {
            DecState::Unwrapping { op, .. } => op.handle_failure(error),
            DecState::Direct(op) => op.handle_failure(error),
            _ => Err(error),
        }
    }
}

enum RwState<'a> {
    Start,
    Unwrapping(BoxOp<'a, DataKey>, KeyDomain),
    Wrapping(BoxOp<'a, Vec<u8>>),
    Native(BoxOp<'a, Vec<u8>>),
    Finished,
}

/// Rewrap operation; see [`Engine::rewrap`].
pub struct RewrapOp<'a> {
    engine: &'a Engine,
    input: &'a [u8],
    context: &'a EncryptionContext,
    decoded: Option<Decoded>,
    state: RwState<'a>,
}

impl RewrapOp<'_> {
    /// The rewrap cache's key: source and destination keys, the wrapped key
    /// with the salt and commitment it is checked against, and the context.
    /// A cache hit therefore means this exact triple was checked before.
    fn rewrap_cache_key(&mut self) -> Result<Vec<u8>> {
        let e = self.engine;
        let (from, wrapped, salt, commitment, domain) =
            match parse_input(e, self.input, &mut self.decoded)? {
                Some(Parsed::Message(m, _)) => (
                    e.keyring
                        .resolve_raw(m.key_ref_kind, m.key_ref_raw)?
                        .id()
                        .to_string(),
                    m.wrapped_dek.to_vec(),
                    m.salt.to_vec(),
                    m.commitment.to_vec(),
                    KeyDomain::Envelope,
                ),
                // JSON envelopes carry no commitment.
                Some(Parsed::Json(j)) => (
                    e.compat_entry().id().to_string(),
                    j.wrapped_dek.clone(),
                    Vec::new(),
                    Vec::new(),
                    KeyDomain::Compat,
                ),
                None => return Err(Malformed::NotDekbox.into()),
            };
        let mut k = Vec::new();
        for part in [
            from.as_bytes(),
            e.keyring.primary().id().as_bytes(),
            &wrapped,
            &salt,
            &commitment,
            &domain.cache_context(self.context),
        ] {
            k.extend_from_slice(&(part.len() as u32).to_be_bytes());
            k.extend_from_slice(part);
        }
        Ok(k)
    }

    /// Rebuilds the input with the primary's key reference and `new_wrapped`.
    fn finish(&mut self, new_wrapped: &[u8]) -> Result<Rewrapped> {
        let e = self.engine;
        let message = match parse_input(e, self.input, &mut self.decoded)? {
            Some(Parsed::Message(m, form)) => {
                let section = format::key_section(e.keyring.primary().key_ref(), new_wrapped)?;
                let bin = format::with_key_section(&m, &section);
                if form == Form::Text {
                    format::text::encode(&bin)
                } else {
                    bin
                }
            }
            Some(Parsed::Json(j)) => {
                compat::encode_json(new_wrapped, &j.nonce, &j.ciphertext_and_tag)
            }
            None => return Err(Malformed::NotDekbox.into()),
        };
        Ok(Rewrapped {
            message,
            changed: true,
        })
    }

    /// Checks an unwrapped key against the message's commitment.
    fn check_commitment(&mut self, dek: &DataKey) -> Result<()> {
        match parse_input(self.engine, self.input, &mut self.decoded)? {
            Some(Parsed::Message(m, _)) => {
                let d = crate::crypto::kdf::DerivedKeys::derive(dek.dangerous_bytes(), m.salt);
                if d.commitment_matches(m.commitment) {
                    Ok(())
                } else {
                    Err(Error::Authentication)
                }
            }
            // JSON envelopes carry no commitment.
            _ => Ok(()),
        }
    }
}

impl<'a> Operation for RewrapOp<'a> {
    type Output = Rewrapped;

    fn poll(&mut self, now: Timestamp) -> Result<Step<Rewrapped>> {
        let e = self.engine;
        loop {
            match &mut self.state {
                RwState::Start => {
                    self.state = RwState::Finished;
                    caller_context(self.context)?;
                    let primary = e.keyring.primary();
                    let (from, wrapped, domain): (&KeyringEntry, Vec<u8>, KeyDomain) =
                        match parse_input(e, self.input, &mut self.decoded)? {
                            Some(Parsed::Message(m, _)) => (
                                e.keyring.resolve_raw(m.key_ref_kind, m.key_ref_raw)?,
                                m.wrapped_dek.to_vec(),
                                KeyDomain::Envelope,
                            ),
                            // Reached only with accept_json, which an engine
                            // with legacy_fallback refuses.
                            Some(Parsed::Json(j)) => {
                                (e.compat_entry(), j.wrapped_dek.clone(), KeyDomain::Compat)
                            }
                            None => {
                                return Err(Malformed::NotDekbox.into());
                            }
                        };
                    let already_current = match parse_input(e, self.input, &mut self.decoded)? {
                        Some(Parsed::Message(m, _)) => {
                            let p = primary.key_ref();
                            m.key_ref_kind == p.kind && m.key_ref_raw == p.name.as_bytes()
                        }
                        _ => false,
                    };
                    if already_current {
                        return Ok(Step::Done(Rewrapped {
                            message: self.input.to_vec(),
                            changed: false,
                        }));
                    }
                    let rk = self.rewrap_cache_key()?;
                    if let Some(w) = lock(&e.rewrap_cache).get(&rk).cloned() {
                        return self.finish(&w).map(Step::Done);
                    }
                    let provider_ctx = domain.provider_context(self.context)?;
                    // A cached unwrapped key is checked against the commitment
                    // before anything is re-wrapped, natively or not.
                    let cached = e.dec_cache.get(
                        from.id(),
                        &wrapped,
                        &domain.cache_context(self.context),
                        now,
                    );
                    if let Some(opener) = &cached {
                        self.check_commitment(&opener.dek)?;
                    }
                    Counters::bump(&e.counters.provider_calls);
                    // Native re-wrap (AWS ReEncrypt): the data key never leaves
                    // the KMS, so without a cached key the commitment cannot be
                    // checked here; the next decrypt checks it (docs/FORMAT.md).
                    if let Some(op) = from.provider().rewrap_native(
                        &wrapped,
                        &provider_ctx,
                        primary.provider().as_ref(),
                    ) {
                        self.state = RwState::Native(op);
                        continue;
                    }
                    if let Some(opener) = cached {
                        self.state = RwState::Wrapping(primary.provider().wrap(
                            &opener.dek,
                            &provider_ctx,
                            &*e.rng,
                        ));
                        continue;
                    }
                    self.state = RwState::Unwrapping(
                        from.provider().unwrap(&wrapped, &provider_ctx),
                        domain,
                    );
                }
                RwState::Unwrapping(op, domain) => match op.poll(now)? {
                    Step::Send(req) => return Ok(Step::Send(req)),
                    Step::Wait(d) => return Ok(Step::Wait(d)),
                    Step::Done(dek) => {
                        let domain = *domain;
                        self.state = RwState::Finished;
                        self.check_commitment(&dek)?;
                        Counters::bump(&e.counters.provider_calls);
                        self.state = RwState::Wrapping(e.keyring.primary().provider().wrap(
                            &dek,
                            &*domain.provider_context(self.context)?,
                            &*e.rng,
                        ));
                    }
                },
                RwState::Wrapping(op) | RwState::Native(op) => match op.poll(now)? {
                    Step::Send(req) => return Ok(Step::Send(req)),
                    Step::Wait(d) => return Ok(Step::Wait(d)),
                    Step::Done(new_wrapped) => {
                        self.state = RwState::Finished;
                        let rk = self.rewrap_cache_key()?;
                        let out = self.finish(&new_wrapped)?;
                        lock(&e.rewrap_cache).put(rk, new_wrapped);
                        return Ok(Step::Done(out));
                    }
                },
                RwState::Finished => {
                    return Err(Error::ApiMisuse("operation polled after completion"));
                }
            }
        }
    }

    fn handle_response(&mut self, response: HttpResponse) -> Result<()> {
        match &mut self.state {
            RwState::Unwrapping(op, _) => op.handle_response(response),
            RwState::Wrapping(op) | RwState::Native(op) => op.handle_response(response),
            _ => Err(Error::ApiMisuse("no request outstanding")),
        }
    }

    fn handle_failure(&mut self, error: Error) -> Result<()> {
        match &mut self.state {
            RwState::Unwrapping(op, _) => op.handle_failure(error),
            RwState::Wrapping(op) | RwState::Native(op) => op.handle_failure(error),
            _ => Err(error),
        }
    }
}

// An engine is shared across threads (and by every binding).
const _: () = {
    const fn send_sync<T: Send + Sync>() {}
    send_sync::<Engine>();
};
