//! `dekbox_ruby`: the native half of the Ruby gem, exported with uniffi and
//! loaded by the generated `dekbox_native.rb` through the `ffi` gem. Each
//! function converts its arguments, calls one `dekbox_facade::Dekbox` method,
//! and converts the result; the idiomatic Ruby API is `lib/dekbox.rb`.

use dekbox_core::root::blind::{IndexOptions, Normalize, Slowness};
use dekbox_core::root::value::Mode;
use dekbox_core::{ERRORS, EncryptionContext, Form};
use dekbox_facade::{Config, Dekbox, Direct};
use std::collections::HashMap;
use std::sync::Arc;

uniffi::setup_scaffolding!();

/// Every dekbox error crosses as its stable code and message; `lib/dekbox.rb`
/// raises the matching `Dekbox::Error` subclass.
#[derive(Debug, thiserror::Error, uniffi::Error)]
pub enum NativeError {
    /// A dekbox error.
    #[error("{message}")]
    Dekbox {
        /// `dekbox_core::Error::code`, e.g. `AUTHENTICATION`.
        code: String,
        /// The message (never secret).
        message: String,
    },
}

impl From<dekbox_core::Error> for NativeError {
    fn from(e: dekbox_core::Error) -> Self {
        NativeError::Dekbox {
            code: e.code().to_string(),
            message: e.to_string(),
        }
    }
}

type Result<T> = std::result::Result<T, NativeError>;

/// One row of dekbox-core's error table, for building Ruby's classes.
#[derive(uniffi::Record)]
pub struct ErrorRow {
    /// Stable code.
    pub code: String,
    /// Class name (`AuthenticationError`).
    pub class_name: String,
    /// The parent's class name, if not the base `Dekbox::Error`.
    pub parent: Option<String>,
    /// An API misuse rather than a failure (also an `ArgumentError`).
    pub argument_error: bool,
    /// One-line description.
    pub doc: String,
}

/// dekbox-core's error table.
#[uniffi::export]
pub fn error_table() -> Vec<ErrorRow> {
    ERRORS
        .iter()
        .map(|row| ErrorRow {
            code: row.code.into(),
            class_name: row.class.into(),
            parent: row.parent.map(|p| p.info().class.to_string()),
            argument_error: row.argument_error,
            doc: row.doc.into(),
        })
        .collect()
}

/// A generated data key.
#[derive(uniffi::Record)]
pub struct DataKeyRecord {
    /// The plaintext key (secret).
    pub plaintext: Vec<u8>,
    /// The key wrapped by the KMS key.
    pub wrapped: Vec<u8>,
}

/// One row of `decrypt_many`: the plaintext, or the error's code and message.
#[derive(uniffi::Record)]
pub struct OpenedRow {
    /// The plaintext, if the row opened.
    pub plaintext: Option<Vec<u8>>,
    /// The error code, if it did not.
    pub code: Option<String>,
    /// The error message, if it did not.
    pub message: Option<String>,
}

/// Cache and KMS counters.
#[derive(uniffi::Record)]
pub struct CacheStatsRecord {
    /// Encryptions with a cached data key.
    pub encrypt_hits: u64,
    /// Encryptions that needed a new data key.
    pub encrypt_misses: u64,
    /// Decryptions with a cached data key.
    pub decrypt_hits: u64,
    /// Decryptions that unwrapped their data key.
    pub decrypt_misses: u64,
    /// KMS (provider) calls.
    pub kms_calls: u64,
    /// Data keys generated.
    pub data_keys_generated: u64,
}

/// A converted encryption context, reused across calls.
#[derive(uniffi::Object)]
pub struct NativeContext(Arc<EncryptionContext>);

#[uniffi::export]
impl NativeContext {
    /// Converts a hash of strings (a dekbox `MALFORMED` error if it breaks
    /// the context's rules).
    #[uniffi::constructor]
    pub fn new(entries: HashMap<String, String>) -> Result<Arc<Self>> {
        let ctx = EncryptionContext::from_pairs(entries).map_err(dekbox_core::Error::from)?;
        Ok(Arc::new(Self(Arc::new(ctx))))
    }
}

/// The handle behind `Dekbox::Box`.
#[derive(uniffi::Object)]
pub struct NativeBox(Dekbox);

fn form(text: bool) -> Form {
    if text { Form::Text } else { Form::Binary }
}

#[uniffi::export]
impl NativeBox {
    /// Opens keys from a JSON object of dekbox-facade `Config` options.
    #[uniffi::constructor]
    pub fn new(config_json: String) -> Result<Arc<Self>> {
        let config: Config = serde_json::from_str(&config_json).map_err(|e| {
            dekbox_core::Error::InvalidArgument(format!("Dekbox::Box options: {e}"))
        })?;
        Ok(Arc::new(Self(config.open()?)))
    }

    /// Seals `data`.
    pub fn encrypt(
        &self,
        data: Vec<u8>,
        context: Arc<NativeContext>,
        aad: Vec<u8>,
        text: bool,
    ) -> Result<Vec<u8>> {
        Ok(self
            .0
            .encrypt(&Direct, &data, &context.0, &aad, form(text))?)
    }

    /// Opens a sealed value of any accepted form.
    pub fn decrypt(
        &self,
        data: Vec<u8>,
        context: Arc<NativeContext>,
        aad: Vec<u8>,
    ) -> Result<Vec<u8>> {
        Ok(self.0.decrypt_into(&Direct, &data, &context.0, &aad)?)
    }

    /// Seals many values (one KMS call at most).
    pub fn encrypt_many(
        &self,
        items: Vec<Vec<u8>>,
        context: Arc<NativeContext>,
        aads: Option<Vec<Vec<u8>>>,
        text: bool,
    ) -> Result<Vec<Vec<u8>>> {
        Ok(self
            .0
            .encrypt_many(&Direct, &items, &context.0, aads.as_deref(), form(text))?)
    }

    /// Opens many values; one row per value.
    pub fn decrypt_many(
        &self,
        items: Vec<Vec<u8>>,
        context: Arc<NativeContext>,
        aads: Option<Vec<Vec<u8>>>,
    ) -> Result<Vec<OpenedRow>> {
        let rows = self
            .0
            .decrypt_many(&Direct, &items, &context.0, aads.as_deref())?;
        Ok(rows
            .into_iter()
            .map(|r| match r {
                Ok(pt) => OpenedRow {
                    plaintext: Some(pt),
                    code: None,
                    message: None,
                },
                Err(e) => OpenedRow {
                    plaintext: None,
                    code: Some(e.code().to_string()),
                    message: Some(e.to_string()),
                },
            })
            .collect())
    }

    /// Moves a sealed value to the primary key.
    pub fn rewrap(&self, data: Vec<u8>, context: Arc<NativeContext>) -> Result<Vec<u8>> {
        Ok(self.0.rewrap(&Direct, &data, &context.0)?.message)
    }

    /// A fresh data key under the primary key (not cached).
    pub fn generate_data_key(&self, context: Arc<NativeContext>) -> Result<DataKeyRecord> {
        let gk = self.0.generate_data_key(&Direct, &context.0)?;
        Ok(DataKeyRecord {
            plaintext: gk.plaintext.dangerous_bytes().to_vec(),
            wrapped: gk.wrapped,
        })
    }

    /// Unwraps a data key wrapped by keyring key `label` (or the primary).
    pub fn unwrap(
        &self,
        wrapped: Vec<u8>,
        context: Arc<NativeContext>,
        label: Option<String>,
    ) -> Result<Vec<u8>> {
        let dek = self
            .0
            .unwrap_data_key(&Direct, &wrapped, &context.0, label.as_deref())?;
        Ok(dek.dangerous_bytes().to_vec())
    }

    /// The data key of a sealed value as a message-key token, for a client
    /// without KMS access (a browser page).
    pub fn message_data_key(&self, data: Vec<u8>, context: Arc<NativeContext>) -> Result<String> {
        token_string(self.0.message_data_key(&Direct, &data, &context.0)?)
    }

    /// A fresh message-key token for a client to seal uploads with.
    pub fn new_message_data_key(&self, context: Arc<NativeContext>) -> Result<String> {
        token_string(self.0.new_message_data_key(&Direct, &context.0)?)
    }

    /// Cache and KMS counters.
    pub fn cache_stats(&self) -> CacheStatsRecord {
        let s = self.0.cache_stats();
        CacheStatsRecord {
            encrypt_hits: s.encrypt_hits,
            encrypt_misses: s.encrypt_misses,
            decrypt_hits: s.decrypt_hits,
            decrypt_misses: s.decrypt_misses,
            kms_calls: s.provider_calls,
            data_keys_generated: s.data_keys_generated,
        }
    }

    /// Each key's label, or its URI when unlabelled.
    pub fn key_names(&self) -> Vec<String> {
        self.0.key_names()
    }

    /// The data key behind a kms_encrypted `encrypted_kms_key` value
    /// (`v1:<base64 KMS blob>`), unwrapped by this box's primary key under
    /// `context` (kms_encrypted's is `{"model_name", "model_id"}`).
    pub fn unwrap_kms_encrypted(
        &self,
        value: String,
        context: Arc<NativeContext>,
    ) -> Result<Vec<u8>> {
        let parsed = dekbox_core::compat::parse_kms_encrypted_key(&value)
            .map_err(dekbox_core::Error::from)?;
        let dek = self
            .0
            .unwrap_data_key(&Direct, &parsed.wrapped_dek, &context.0, None)?;
        Ok(dek.dangerous_bytes().to_vec())
    }

    /// The primary key's label, or its URI when unlabelled.
    pub fn primary_key_name(&self) -> String {
        self.0.primary_key_name()
    }

    /// A new root key wrapped by keyring key `key` (or the primary): its token.
    pub fn create_root(&self, label: String, key: Option<String>) -> Result<String> {
        Ok(self.0.create_root(&Direct, &label, key.as_deref())?)
    }

    /// Seals under the primary root: compact, or deterministic.
    pub fn encrypt_compact(
        &self,
        data: Vec<u8>,
        context: Arc<NativeContext>,
        column: String,
        aad: Vec<u8>,
        deterministic: bool,
        text: bool,
    ) -> Result<Vec<u8>> {
        let mode = if deterministic {
            Mode::Deterministic
        } else {
            Mode::Compact
        };
        Ok(self
            .0
            .encrypt_compact(&Direct, mode, &data, &context.0, &column, &aad, form(text))?)
    }

    /// Opens a compact or deterministic value with the root it names.
    pub fn decrypt_compact(
        &self,
        data: Vec<u8>,
        context: Arc<NativeContext>,
        column: String,
        aad: Vec<u8>,
    ) -> Result<Vec<u8>> {
        Ok(self
            .0
            .decrypt_compact(&Direct, &data, &context.0, &column, &aad)?)
    }

    /// A blind index; Argon2id when `t_cost` and `m_cost` are given.
    #[allow(clippy::too_many_arguments)]
    pub fn blind_index(
        &self,
        value: Vec<u8>,
        context: Arc<NativeContext>,
        column: String,
        bits: u16,
        trim: bool,
        casefold: bool,
        argon2id: Option<Vec<u32>>,
        root: Option<String>,
    ) -> Result<Vec<u8>> {
        let slowness = match argon2id.as_deref() {
            None => Slowness::Hmac,
            Some([t_cost, m_cost]) => Slowness::Argon2id {
                t_cost: *t_cost,
                m_cost: *m_cost,
            },
            Some(_) => {
                return Err(dekbox_core::Error::InvalidArgument(
                    "argon2id is [t_cost, m_cost_kib]".into(),
                )
                .into());
            }
        };
        let options = IndexOptions {
            bits,
            normalize: Normalize { trim, casefold },
            slowness,
        };
        Ok(self.0.blind_index(
            &Direct,
            &value,
            &context.0,
            &column,
            options,
            root.as_deref(),
        )?)
    }

    /// The key Active Record's deterministic encryption uses for
    /// (`context`, `column`) under root `root` (or the primary), and the
    /// root's label.
    pub fn external_key(
        &self,
        context: Arc<NativeContext>,
        column: String,
        root: Option<String>,
    ) -> Result<ExternalKeyRecord> {
        let (label, key) = self
            .0
            .external_key(&Direct, &context.0, &column, root.as_deref())?;
        Ok(ExternalKeyRecord {
            root: label,
            key: key.to_vec(),
        })
    }

    /// The configured root labels.
    pub fn root_labels(&self) -> Vec<String> {
        self.0.root_labels().0
    }

    /// The primary root's label, if any.
    pub fn primary_root(&self) -> Option<String> {
        self.0.root_labels().1
    }
}

/// A key derived from a root for another cipher, and the root's label.
#[derive(uniffi::Record)]
pub struct ExternalKeyRecord {
    /// The root's label.
    pub root: String,
    /// 32 secret bytes.
    pub key: Vec<u8>,
}

// ---- The fast path -------------------------------------------------------
//
// uniffi's Ruby calls cost about 20 µs each here (eight FFI crossings to
// marshal buffers, handles and call status through the `ffi` gem), more than
// OpenSSL::Cipher takes for a whole message. The per-value calls Active Record
// and `Dekbox::Box` make in loops (encrypt, decrypt, and the data keys of
// `Dekbox::KeyProvider`) therefore also have plain C entry points: pointers
// and lengths in, one Rust-owned buffer out, freed (and wiped) by
// `dekbox_rb_free`. They delegate to the same facade methods.

/// A buffer handed to Ruby: `len` bytes at `ptr`; give it back to `dekbox_rb_free`.
#[repr(C)]
pub struct RbBuf {
    ptr: *mut u8,
    len: usize,
    cap: usize,
}

fn give(v: Vec<u8>, out: &mut RbBuf) {
    let mut v = std::mem::ManuallyDrop::new(v);
    out.ptr = v.as_mut_ptr();
    out.len = v.len();
    out.cap = v.capacity();
}

/// Runs `f`: 0 and its result in `out`, or 1 and `CODE\nmessage` in `out`.
/// A panic (a bug) becomes an `ERROR` rather than unwinding into Ruby, which
/// would abort the process.
fn finish(
    f: impl FnOnce() -> std::result::Result<Vec<u8>, dekbox_core::Error>,
    out: &mut RbBuf,
) -> i32 {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
        Ok(Ok(v)) => {
            give(v, out);
            0
        }
        Ok(Err(e)) => {
            give(format!("{}\n{e}", e.code()).into_bytes(), out);
            1
        }
        Err(_) => {
            give(
                b"ERROR\ninternal error in dekbox (a bug; please report it)".to_vec(),
                out,
            );
            1
        }
    }
}

/// # Safety
/// `ptr` must point to `len` readable bytes (or `len` be 0).
unsafe fn input<'a>(ptr: *const u8, len: usize) -> &'a [u8] {
    if len == 0 || ptr.is_null() {
        &[]
    } else {
        // SAFETY: the caller passes a live Ruby string's bytes and length.
        unsafe { std::slice::from_raw_parts(ptr, len) }
    }
}

/// The objects behind a box handle and a context handle.
///
/// # Safety
/// The box handle comes from `NativeBox::fast_handle`, the context handle
/// from `dekbox_rb_context_new`; neither is released yet.
unsafe fn handles<'a>(b: u64, ctx: u64) -> (&'a NativeBox, &'a NativeContext) {
    // SAFETY: see the contract above.
    unsafe { (&*(b as *const NativeBox), &*(ctx as *const NativeContext)) }
}

#[uniffi::export]
impl NativeBox {
    /// A handle for the fast path (`dekbox_rb_*`); release it with
    /// `dekbox_rb_release_box`.
    pub fn fast_handle(self: Arc<Self>) -> u64 {
        Arc::into_raw(self) as u64
    }
}

/// Releases a `NativeBox::fast_handle`.
///
/// # Safety
/// `handle` comes from `fast_handle` and is released once.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dekbox_rb_release_box(handle: u64) {
    if handle != 0 {
        // SAFETY: see the contract above.
        drop(unsafe { Arc::from_raw(handle as *const NativeBox) });
    }
}

/// Releases a context from `dekbox_rb_context_new`.
///
/// # Safety
/// `handle` comes from `dekbox_rb_context_new` and is released once.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dekbox_rb_release_context(handle: u64) {
    if handle != 0 {
        // SAFETY: see the contract above.
        drop(unsafe { Arc::from_raw(handle as *const NativeContext) });
    }
}

/// Frees (and wipes) a buffer returned by a `dekbox_rb_*` call.
///
/// # Safety
/// `buf` was filled by a `dekbox_rb_*` call and is freed once.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dekbox_rb_free(buf: *mut RbBuf) {
    // SAFETY: see the contract above; `give` built it from a Vec.
    unsafe {
        let Some(b) = buf.as_mut() else { return };
        if !b.ptr.is_null() {
            let mut v = Vec::from_raw_parts(b.ptr, b.len, b.cap);
            zeroize::Zeroize::zeroize(&mut v);
        }
        b.ptr = std::ptr::null_mut();
        b.len = 0;
        b.cap = 0;
    }
}

/// `NativeBox::encrypt`, with pointers.
///
/// # Safety
/// Handles as for `handles`, live; byte arguments valid for their lengths;
/// `out` writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dekbox_rb_encrypt(
    b: u64,
    ctx: u64,
    data: *const u8,
    data_len: usize,
    aad: *const u8,
    aad_len: usize,
    text: u8,
    out: *mut RbBuf,
) -> i32 {
    // SAFETY: see the contract above.
    unsafe {
        let (b, ctx) = handles(b, ctx);
        let (data, aad) = (input(data, data_len), input(aad, aad_len));
        finish(
            || b.0.encrypt(&Direct, data, &ctx.0, aad, form(text != 0)),
            &mut *out,
        )
    }
}

/// `NativeBox::decrypt`, with pointers.
///
/// # Safety
/// As for [`dekbox_rb_encrypt`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dekbox_rb_decrypt(
    b: u64,
    ctx: u64,
    data: *const u8,
    data_len: usize,
    aad: *const u8,
    aad_len: usize,
    out: *mut RbBuf,
) -> i32 {
    // SAFETY: see the contract above.
    unsafe {
        let (b, ctx) = handles(b, ctx);
        let (data, aad) = (input(data, data_len), input(aad, aad_len));
        finish(|| b.0.decrypt_into(&Direct, data, &ctx.0, aad), &mut *out)
    }
}

/// `NativeBox::raw_data_key`, with pointers: `out` holds the 32-byte key
/// followed by the token.
///
/// # Safety
/// As for [`dekbox_rb_encrypt`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dekbox_rb_raw_data_key(b: u64, ctx: u64, out: *mut RbBuf) -> i32 {
    // SAFETY: see the contract above.
    unsafe {
        let (b, ctx) = handles(b, ctx);
        let key = || {
            b.0.raw_data_key(&Direct, &ctx.0).map(|k| {
                let mut v = Vec::with_capacity(32 + k.token.len());
                v.extend_from_slice(k.key.dangerous_bytes());
                v.extend_from_slice(&k.token);
                v
            })
        };
        finish(key, &mut *out)
    }
}

/// `NativeBox::open_raw_data_key`, with pointers.
///
/// # Safety
/// As for [`dekbox_rb_encrypt`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dekbox_rb_open_raw_data_key(
    b: u64,
    ctx: u64,
    token: *const u8,
    token_len: usize,
    out: *mut RbBuf,
) -> i32 {
    // SAFETY: see the contract above.
    unsafe {
        let (b, ctx) = handles(b, ctx);
        let token = input(token, token_len);
        let key = || {
            b.0.open_raw_data_key(&Direct, token, &ctx.0)
                .map(|k| k.dangerous_bytes().to_vec())
        };
        finish(key, &mut *out)
    }
}

/// A context from `count:u32 (klen:u32 key vlen:u32 value)*` (big-endian),
/// as `Dekbox::Context` packs a Hash, for the fast path. 0 and a handle in
/// `*handle` (release with `dekbox_rb_release_context`), or 1 and the error in
/// `out`.
///
/// # Safety
/// `data` valid for `len` bytes; `handle` and `out` writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dekbox_rb_context_new(
    data: *const u8,
    len: usize,
    handle: *mut u64,
    out: *mut RbBuf,
) -> i32 {
    fn parse(mut b: &[u8]) -> Option<Vec<(String, String)>> {
        let mut take = |n: usize| -> Option<&[u8]> {
            let (head, rest) = (b.get(..n)?, b.get(n..)?);
            b = rest;
            Some(head)
        };
        let count = u32::from_be_bytes(take(4)?.try_into().ok()?);
        let mut pairs = Vec::new();
        for _ in 0..count {
            let mut s = || -> Option<String> {
                let n = u32::from_be_bytes(take(4)?.try_into().ok()?) as usize;
                String::from_utf8(take(n)?.to_vec()).ok()
            };
            let k = s()?;
            let v = s()?;
            pairs.push((k, v));
        }
        // A key given twice (say "é" in two encodings) is refused, not resolved.
        let mut keys: Vec<&str> = pairs.iter().map(|(k, _)| k.as_str()).collect();
        keys.sort_unstable();
        let unique = keys.windows(2).all(|w| w[0] != w[1]);
        (b.is_empty() && unique).then_some(pairs)
    }
    // SAFETY: see the contract above.
    unsafe {
        let input = input(data, len);
        let mut made = 0u64;
        let status = finish(
            || {
                let pairs = parse(input).ok_or_else(|| {
                    dekbox_core::Error::InvalidArgument(
                        "context must be String => String (UTF-8), each key once".into(),
                    )
                })?;
                let ctx = EncryptionContext::from_pairs(pairs)?;
                made = Arc::into_raw(Arc::new(NativeContext(Arc::new(ctx)))) as u64;
                Ok(Vec::new())
            },
            &mut *out,
        );
        *handle = made;
        status
    }
}

/// A message key's text token.
fn token_string(key: dekbox_core::MessageKey) -> Result<String> {
    let token = key.token(dekbox_core::Form::Text)?;
    Ok(String::from_utf8_lossy(&token).into_owned())
}
