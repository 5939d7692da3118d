//! Large messages handed to the browser's Web Crypto.
//!
//! AES-GCM in WebAssembly runs at software speed; `crypto.subtle` uses the
//! CPU's AES instructions. For a message of at least [`ABOVE`] bytes the
//! module parses it, checks the key commitment (so a wrong key fails before
//! any key leaves Rust), derives the message's AES key and builds the
//! associated data, exactly as for a synchronous open; Web Crypto then only
//! runs AES-256-GCM. The derived key is imported non-extractable and kept
//! (per salt) as a `CryptoKey` by the `DataKey` that made it; the Rust copy
//! and the import buffer are wiped at once.

use crate::js::dekbox_error;
use dekbox_core::{EncryptionContext, Error, MessageKey};
use js_sys::{Array, Object, Promise, Reflect, Uint8Array};
use std::cell::RefCell;
use std::rc::Rc;
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::{JsFuture, future_to_promise};
use web_sys::{AesGcmParams, CryptoKey, SubtleCrypto};

/// Messages at least this large go to Web Crypto (measured in Chromium; see
/// bindings-wasm/README.md).
pub(crate) const ABOVE: usize = 64 * 1024;

/// Salts whose `CryptoKey` a `DataKey` keeps (one per writer process).
const KEYS_KEPT: usize = 16;

/// `CryptoKey`s imported for a data key, by salt.
#[derive(Clone, Default)]
pub(crate) struct KeyCache(Rc<RefCell<Vec<([u8; 32], CryptoKey)>>>);

impl KeyCache {
    fn get(&self, salt: &[u8; 32]) -> Option<CryptoKey> {
        let list = self.0.borrow();
        list.iter().find(|(s, _)| s == salt).map(|(_, k)| k.clone())
    }

    fn put(&self, salt: [u8; 32], key: CryptoKey) {
        let mut list = self.0.borrow_mut();
        if list.len() >= KEYS_KEPT {
            list.remove(0);
        }
        list.push((salt, key));
    }
}

/// `globalThis.crypto.subtle`, if this context has it (secure contexts only).
fn subtle() -> Option<SubtleCrypto> {
    let crypto = Reflect::get(&js_sys::global(), &"crypto".into()).ok()?;
    let subtle = Reflect::get(&crypto, &"subtle".into()).ok()?;
    subtle.dyn_into::<SubtleCrypto>().ok()
}

/// Opens a binary message with Web Crypto, or synchronously in the module
/// where Web Crypto is missing (an insecure context).
pub(crate) fn open(
    key: &Rc<MessageKey>,
    cache: &KeyCache,
    binary: &[u8],
    context: &EncryptionContext,
    aad: &[u8],
) -> Result<Promise, JsValue> {
    let Some(subtle) = subtle() else {
        let pt = key.open(binary, context, aad).map_err(dekbox_error)?;
        let out = crate::js::bytes_out(zeroize::Zeroizing::new(pt));
        return Ok(Promise::resolve(&JsValue::from(out)));
    };
    let parts = key
        .external_open(binary, context, aad)
        .map_err(dekbox_error)?;
    let salt: [u8; 32] = binary[5..37]
        .try_into()
        .map_err(|_| dekbox_error(Error::Authentication))?;
    let crypto_key: Promise = match cache.get(&salt) {
        Some(k) => Promise::resolve(&JsValue::from(k)),
        None => {
            let raw = Uint8Array::from(&parts.key[..]);
            let alg = Object::new();
            Reflect::set(&alg, &"name".into(), &"AES-GCM".into())?;
            let usages = Array::of1(&"decrypt".into());
            let p = subtle.import_key_with_object("raw", &raw, &alg, false, &usages);
            // importKey copies the bytes before it returns.
            raw.fill(0, 0, raw.length());
            p?
        }
    };
    let iv = Uint8Array::from(&parts.nonce[..]);
    let params = AesGcmParams::new("AES-GCM", &iv);
    params.set_additional_data_u8_array(&Uint8Array::from(&parts.associated_data[..]));
    params.set_tag_length(128);
    let ciphertext = Uint8Array::from(parts.ciphertext_and_tag);
    let cache = cache.clone();
    Ok(future_to_promise(async move {
        let crypto_key: CryptoKey = JsFuture::from(crypto_key).await?.unchecked_into();
        cache.put(salt, crypto_key.clone());
        let decrypted =
            subtle.decrypt_with_object_and_buffer_source(&params, &crypto_key, &ciphertext)?;
        match JsFuture::from(decrypted).await {
            Ok(buf) => Ok(Uint8Array::new(&buf).into()),
            // Web Crypto's OperationError: the tag did not verify (altered
            // data, wrong context or aad), as a synchronous open reports it.
            Err(_) => Err(dekbox_error(Error::Authentication)),
        }
    }))
}
