//! Large messages handed to the browser's Web Crypto.
//!
//! AES-GCM in WebAssembly runs at software speed; `crypto.subtle` uses the
//! CPU's AES instructions: measured in Chromium 156 (bindings-wasm/README.md)
//! it wins at every size, about 6 µs against about 40 µs for 1 KiB. So the
//! async opens hand every message to it: the module parses the message,
//! checks the key commitment (so a wrong key fails before any key leaves
//! Rust) and builds the associated data exactly as for a synchronous open;
//! Web Crypto then only runs AES-256-GCM. The message's AES key is derived
//! once per salt, imported non-extractable, and kept as a `CryptoKey` by the
//! `DataKey` that made it; the Rust copy and the import buffer are wiped at
//! once.

use crate::js::dekbox_error;
use dekbox_core::{EncryptionContext, Error, MessageKey};
use js_sys::{Array, Object, Promise, Reflect, Uint8Array};
use std::cell::RefCell;
use std::rc::Rc;
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::{JsFuture, future_to_promise};
use web_sys::{AesGcmParams, CryptoKey, SubtleCrypto};

/// Salts whose `CryptoKey` a `DataKey` keeps (one per writer process).
const KEYS_KEPT: usize = 16;

/// A `CryptoKey` import: pending (messages opened together share it), then
/// the key itself, used without waiting.
#[derive(Clone)]
enum Import {
    Pending(Promise),
    Ready(CryptoKey),
}

/// `CryptoKey` imports for a data key, by salt.
#[derive(Clone, Default)]
pub(crate) struct KeyCache(Rc<RefCell<Vec<Imported>>>);

/// A salt and its key's import.
type Imported = ([u8; 32], Import);

impl KeyCache {
    fn get(&self, salt: &[u8; 32]) -> Option<Import> {
        let list = self.0.borrow();
        list.iter().find(|(s, _)| s == salt).map(|(_, k)| k.clone())
    }

    /// Drops a failed import, unless a newer one took its place.
    fn forget(&self, salt: &[u8; 32], failed: &Promise) {
        let failed = JsValue::from(failed.clone());
        self.0.borrow_mut().retain(|(s, i)| {
            s != salt || !matches!(i, Import::Pending(p) if JsValue::from(p.clone()) == failed)
        });
    }

    fn put(&self, salt: [u8; 32], import: Import) {
        let mut list = self.0.borrow_mut();
        if let Some(slot) = list.iter_mut().find(|(s, _)| *s == salt) {
            slot.1 = import;
            return;
        }
        if list.len() >= KEYS_KEPT {
            drop(list.remove(0));
        }
        list.push((salt, import));
    }
}

#[wasm_bindgen(inline_js = "
const failed = (fail) => (e) => { throw e && e.name === 'OperationError' ? fail() : e }
export function settle(p, fail) {
  return p.then((b) => new Uint8Array(b), failed(fail))
}
export function settleAll(ps, fail) {
  return Promise.all(ps).then((bs) => bs.map((b) => new Uint8Array(b)), failed(fail))
}
export function decryptAll(subtle, key, memory, layout, fail) {
  const mem = new Uint8Array(memory.buffer)
  const ps = new Array(layout.length / 5)
  for (let i = 0, j = 0; j < layout.length; i++, j += 5) {
    const iv = mem.slice(layout[j], layout[j] + 12)
    const additionalData = mem.subarray(layout[j + 1], layout[j + 1] + layout[j + 2])
    ps[i] = subtle.decrypt({ name: 'AES-GCM', iv, additionalData }, key,
      mem.subarray(layout[j + 3], layout[j + 3] + layout[j + 4]))
  }
  return settleAll(ps, fail)
}")]
extern "C" {
    /// `p` (a Web Crypto decryption) resolved to a `Uint8Array`; Web
    /// Crypto's `OperationError` (the tag did not verify) becomes what
    /// `fail()` makes, any other rejection passes unchanged.
    fn settle(p: &Promise, fail: &js_sys::Function) -> Promise;
    /// `settle` for many: one array of `Uint8Array`s, or the first failure.
    #[wasm_bindgen(js_name = settleAll)]
    fn settle_all(ps: &Array, fail: &js_sys::Function) -> Promise;
    /// Starts Web Crypto on many messages under one key in one call: for
    /// each, five u32s of `layout` locate its nonce (12 bytes), associated
    /// data and ciphertext in the module's memory. Web Crypto copies its
    /// inputs before `decrypt` returns, so the memory is read only during
    /// this call.
    #[wasm_bindgen(js_name = decryptAll)]
    fn decrypt_all(
        subtle: &SubtleCrypto,
        key: &CryptoKey,
        memory: &JsValue,
        layout: &[u32],
        fail: &js_sys::Function,
    ) -> Promise;
}

thread_local! {
    /// `globalThis.crypto.subtle`, if this context has it (secure contexts
    /// only), looked up once.
    static SUBTLE: Option<SubtleCrypto> = (|| {
        let crypto = Reflect::get(&js_sys::global(), &"crypto".into()).ok()?;
        let subtle = Reflect::get(&crypto, &"subtle".into()).ok()?;
        subtle.dyn_into::<SubtleCrypto>().ok()
    })();
    /// Web Crypto's `OperationError` means the tag did not verify (altered
    /// data, wrong context or aad): the authentication error a synchronous
    /// open reports.
    static FAIL: js_sys::Function = Closure::<dyn Fn() -> JsValue>::new(|| dekbox_error(Error::Authentication))
        .into_js_value()
        .unchecked_into();
}

/// Opens a binary message with Web Crypto (a promise of a `Uint8Array`), or
/// synchronously in the module where Web Crypto is missing (an insecure
/// context).
pub(crate) fn open(
    key: &MessageKey,
    cache: &KeyCache,
    binary: &[u8],
    context: &EncryptionContext,
    aad: &[u8],
) -> Result<Promise, JsValue> {
    match SUBTLE.with(Clone::clone) {
        Some(subtle) => {
            let p = decrypt(&subtle, key, cache, binary, context, aad)?;
            Ok(FAIL.with(|fail| settle(&p, fail)))
        }
        None => Ok(Promise::resolve(&in_module(key, binary, context, aad)?)),
    }
}

/// [`open`] for many messages under one context: one promise of an array.
pub(crate) fn open_many(
    key: &MessageKey,
    cache: &KeyCache,
    binaries: &[impl AsRef<[u8]>],
    context: &EncryptionContext,
    aads: Option<&[Vec<u8>]>,
) -> Result<Promise, JsValue> {
    let subtle = SUBTLE.with(Clone::clone);
    if let Some(subtle) = &subtle {
        if let Some(p) = open_many_ready(subtle, key, cache, binaries, context, aads)? {
            return Ok(p);
        }
        // Every message checked before any decryption starts, so a bad one
        // leaves no promise behind without a handler.
        for (i, binary) in binaries.iter().enumerate() {
            let aad = aads.map_or(&[][..], |a| &a[i][..]);
            key.external_open(binary.as_ref(), context, aad)
                .map_err(dekbox_error)?;
        }
    }
    let all = Array::new_with_length(binaries.len() as u32);
    for (i, binary) in binaries.iter().enumerate() {
        let aad = aads.map_or(&[][..], |a| &a[i][..]);
        let v = match &subtle {
            Some(subtle) => decrypt(subtle, key, cache, binary.as_ref(), context, aad)?.into(),
            None => in_module(key, binary.as_ref(), context, aad)?,
        };
        all.set(i as u32, v);
    }
    if subtle.is_none() {
        return Ok(Promise::resolve(&JsValue::from(all)));
    }
    Ok(FAIL.with(|fail| settle_all(&all, fail)))
}

/// [`open_many`] in one call to Web Crypto's side when every message's key
/// is already imported (the common case: one writer, one salt); `None`
/// otherwise.
fn open_many_ready(
    subtle: &SubtleCrypto,
    key: &MessageKey,
    cache: &KeyCache,
    binaries: &[impl AsRef<[u8]>],
    context: &EncryptionContext,
    aads: Option<&[Vec<u8>]>,
) -> Result<Option<Promise>, JsValue> {
    let mut parts = Vec::with_capacity(binaries.len());
    for (i, binary) in binaries.iter().enumerate() {
        let aad = aads.map_or(&[][..], |a| &a[i][..]);
        parts.push(
            key.external_open(binary.as_ref(), context, aad)
                .map_err(dekbox_error)?,
        );
    }
    let Some(first) = parts.first() else {
        return Ok(None);
    };
    let Some(Import::Ready(crypto_key)) = cache.get(first.salt()) else {
        return Ok(None);
    };
    if parts.iter().any(|p| *p.salt() != *first.salt()) {
        return Ok(None);
    }
    // wasm32: addresses and lengths fit in u32 (asserted below).
    let mut layout = Vec::with_capacity(parts.len() * 5);
    for p in &parts {
        layout.extend_from_slice(&[
            p.nonce().as_ptr() as u32,
            p.associated_data().as_ptr() as u32,
            p.associated_data().len() as u32,
            p.ciphertext_and_tag().as_ptr() as u32,
            p.ciphertext_and_tag().len() as u32,
        ]);
    }
    let memory = wasm_bindgen::memory();
    Ok(Some(FAIL.with(|fail| {
        decrypt_all(subtle, &crypto_key, &memory, &layout, fail)
    })))
}

fn in_module(
    key: &MessageKey,
    binary: &[u8],
    context: &EncryptionContext,
    aad: &[u8],
) -> Result<JsValue, JsValue> {
    let pt = key.open(binary, context, aad).map_err(dekbox_error)?;
    Ok(crate::js::bytes_out(zeroize::Zeroizing::new(pt)).into())
}

/// Starts Web Crypto on one message: a promise of an `ArrayBuffer`.
fn decrypt(
    subtle: &SubtleCrypto,
    key: &MessageKey,
    cache: &KeyCache,
    binary: &[u8],
    context: &EncryptionContext,
    aad: &[u8],
) -> Result<Promise, JsValue> {
    let parts = key
        .external_open(binary, context, aad)
        .map_err(dekbox_error)?;
    let salt = *parts.salt();
    let mut nonce = *parts.nonce();
    let mut ad = parts.associated_data().to_vec();
    let pending = match cache.get(&salt) {
        // The common case: decrypt now. Web Crypto copies its inputs before
        // decrypt() returns, so views of the module's memory are enough.
        Some(Import::Ready(crypto_key)) => {
            let params = AesGcmParams::new_with_u8_slice("AES-GCM", &mut nonce);
            params.set_additional_data_u8_slice(&mut ad);
            return subtle.decrypt_with_object_and_u8_array(
                &params,
                &crypto_key,
                parts.ciphertext_and_tag(),
            );
        }
        Some(Import::Pending(p)) => p,
        None => {
            let raw = Uint8Array::from(&key.external_key(&parts)[..]);
            let alg = Object::new();
            Reflect::set(&alg, &"name".into(), &"AES-GCM".into())?;
            let usages = Array::of1(&"decrypt".into());
            let p = subtle.import_key_with_object("raw", &raw, &alg, false, &usages);
            // importKey copies the bytes before it returns.
            raw.fill(0, 0, raw.length());
            let p = p?;
            cache.put(salt, Import::Pending(p.clone()));
            p
        }
    };
    // The first message of a salt waits for the import; its inputs are
    // copied out of the module's memory first.
    let params = AesGcmParams::new("AES-GCM", &Uint8Array::from(&nonce[..]));
    params.set_additional_data_u8_array(&Uint8Array::from(&ad[..]));
    let ciphertext = Uint8Array::from(parts.ciphertext_and_tag());
    let cache = cache.clone();
    let subtle = subtle.clone();
    Ok(future_to_promise(async move {
        let crypto_key: CryptoKey = match JsFuture::from(pending.clone()).await {
            Ok(k) => k.unchecked_into(),
            Err(e) => {
                // A failed import is not kept: the next message tries again.
                cache.forget(&salt, &pending);
                return Err(e);
            }
        };
        cache.put(salt, Import::Ready(crypto_key.clone()));
        let p = subtle.decrypt_with_object_and_buffer_source(&params, &crypto_key, &ciphertext)?;
        JsFuture::from(p).await
    }))
}

// `open_many_ready` lays out addresses as u32.
#[cfg(target_arch = "wasm32")]
const _: () = assert!(usize::BITS == 32);
