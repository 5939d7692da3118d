//! `DataKey`, `openWithDataKey` and `sealWithDataKey`: messages opened and
//! sealed with a data key the page got from its server.

use crate::js::{self, bytes_in, bytes_out, dekbox_error, public_in, string_out};
use crate::subtle;
use dekbox_core::format::{self, Form};
use dekbox_core::random::SystemRandom;
use dekbox_core::{DataKey as Dek, MessageKey};
use js_sys::{Array, JsString, Promise, Uint8Array};
use std::rc::Rc;
use wasm_bindgen::prelude::*;
use zeroize::Zeroizing;

const OPEN: &[&str] = &["context", "aad", "text"];
const SEAL: &[&str] = &["context", "aad", "text"];
const OPEN_MANY: &[&str] = &["context", "aads"];

/// A message's data key, held inside the module and wiped by `free()` (or
/// at the end of a `using` block). Get one from a token your server made
/// with `message_data_key` / `new_message_data_key` (Python, Node, Ruby, the
/// CLI), or from a bare 32-byte data key (opens, cannot seal).
#[wasm_bindgen]
pub struct DataKey {
    key: Rc<MessageKey>,
    web: subtle::KeyCache,
}

impl DataKey {
    #[cfg(feature = "kms")]
    pub(crate) fn from_message_key(key: MessageKey) -> DataKey {
        DataKey {
            key: Rc::new(key),
            web: subtle::KeyCache::default(),
        }
    }

    fn from_bytes(token: &[u8]) -> Result<DataKey, JsValue> {
        let key = if token.len() == dekbox_core::key::DATA_KEY_LEN {
            // A bare data key: 32 raw bytes (a token is always longer).
            let dek = Dek::from_slice(token).ok_or_else(|| js::type_error("bad data key"))?;
            MessageKey::from_data_key(dek)
        } else {
            MessageKey::from_token(token).map_err(dekbox_error)?
        };
        Ok(DataKey {
            key: Rc::new(key),
            web: subtle::KeyCache::default(),
        })
    }

    /// Opens with this key; the arguments are read before any key exists in
    /// the module ([`open_with_data_key`]), and JavaScript never runs during
    /// the crypto.
    fn open_read(
        &self,
        (message, o): &(Vec<u8>, js::Options),
    ) -> Result<Zeroizing<Vec<u8>>, JsValue> {
        self.key
            .open(message, &o.context(), &o.aad)
            .map(Zeroizing::new)
            .map_err(dekbox_error)
    }

    fn seal_read(
        &self,
        (plaintext, o): &(Zeroizing<Vec<u8>>, js::Options),
    ) -> Result<JsValue, JsValue> {
        let form = if o.text { Form::Text } else { Form::Binary };
        let sealed = self
            .key
            .seal(plaintext, &o.context(), &o.aad, form, &SystemRandom)
            .map_err(dekbox_error)?;
        Ok(match form {
            Form::Text => JsValue::from_str(std::str::from_utf8(&sealed).unwrap_or_default()),
            _ => Uint8Array::from(&sealed[..]).into(),
        })
    }
}

/// A message and the options of an open, read from JavaScript.
fn open_args(message: &JsValue, options: &JsValue) -> Result<(Vec<u8>, js::Options), JsValue> {
    Ok((public_in(message, "message")?, js::options(options, OPEN)?))
}

/// A plaintext and the options of a seal, read from JavaScript.
fn seal_args(
    plaintext: &JsValue,
    options: &JsValue,
) -> Result<(Zeroizing<Vec<u8>>, js::Options), JsValue> {
    // Options first: nothing secret is in the module while they are read.
    let o = js::options(options, SEAL)?;
    Ok((bytes_in(plaintext, "plaintext")?, o))
}

#[wasm_bindgen]
impl DataKey {
    /// A data key from a token (`dekbox:key:v1:…` string, or its bytes) or a
    /// bare 32-byte data key. The caller's copy is left as it is: prefer
    /// `DataKey.take(bytes)`, which wipes it.
    #[wasm_bindgen(js_name = from)]
    pub fn from_js(
        #[wasm_bindgen(unchecked_param_type = "string | Uint8Array")] token: &JsValue,
    ) -> Result<DataKey, JsValue> {
        Self::from_bytes(&bytes_in(token, "data key")?)
    }

    /// `DataKey.from(bytes)`, then wipes `bytes` (fills it with zeros), so
    /// the only copy of the key is inside the module.
    pub fn take(
        #[wasm_bindgen(unchecked_param_type = "Uint8Array")] token: &JsValue,
    ) -> Result<DataKey, JsValue> {
        if token.is_string() {
            return Err(js::type_error(
                "DataKey.take needs a Uint8Array (it wipes it): use DataKey.from for a string",
            ));
        }
        // Copied, the caller's copy wiped, and only then the key built.
        let bytes = bytes_in(token, "DataKey.take's argument")?;
        js::wipe_bytes(token)?;
        Self::from_bytes(&bytes)
    }

    /// Opens a message (`Uint8Array` or `dekbox:v1:…` string) sealed under
    /// this key, given the context and aad it was sealed with.
    pub fn open(
        &self,
        #[wasm_bindgen(unchecked_param_type = "Uint8Array | string")] message: &JsValue,
        #[wasm_bindgen(unchecked_optional_param_type = "OpenOptions")] options: &JsValue,
    ) -> Result<Uint8Array, JsValue> {
        Ok(bytes_out(self.open_read(&open_args(message, options)?)?))
    }

    /// `open`, decoded as UTF-8.
    #[wasm_bindgen(js_name = openText)]
    pub fn open_text(
        &self,
        #[wasm_bindgen(unchecked_param_type = "Uint8Array | string")] message: &JsValue,
        #[wasm_bindgen(unchecked_optional_param_type = "OpenOptions")] options: &JsValue,
    ) -> Result<JsString, JsValue> {
        string_out(self.open_read(&open_args(message, options)?)?)
    }

    /// `open` as a promise, with AES-GCM run by the browser's Web Crypto
    /// (`crypto.subtle`, 5–15x faster than AES in WebAssembly at every size);
    /// the key commitment, context and aad are checked the same way and
    /// errors are the same. Where Web Crypto is missing (a page not served
    /// over https or from localhost) it opens in the module.
    #[wasm_bindgen(js_name = openAsync, unchecked_return_type = "Promise<Uint8Array>")]
    pub fn open_async(
        &self,
        #[wasm_bindgen(unchecked_param_type = "Uint8Array | string")] message: &JsValue,
        #[wasm_bindgen(unchecked_optional_param_type = "OpenOptions")] options: &JsValue,
    ) -> Promise {
        let run = || -> Result<Promise, JsValue> {
            let (message, o) = open_args(message, options)?;
            let binary = format::binary_form(&message, format::DEFAULT_MAX_PLAINTEXT)
                .map_err(|e| dekbox_error(e.into()))?;
            subtle::open(&self.key, &self.web, &binary, &o.context(), &o.aad)
        };
        run().unwrap_or_else(|e| Promise::reject(&e))
    }

    /// Opens many messages under one context with one call into the module
    /// (`aads`: one per message, optional). Throws on the first failure.
    #[wasm_bindgen(js_name = openMany, unchecked_return_type = "Uint8Array[]")]
    pub fn open_many(
        &self,
        #[wasm_bindgen(unchecked_param_type = "Array<Uint8Array | string>")] messages: &JsValue,
        #[wasm_bindgen(unchecked_optional_param_type = "OpenManyOptions")] options: &JsValue,
    ) -> Result<Array, JsValue> {
        let messages = js::array_items(messages, "messages")?;
        let o = js::batch_options(options, OPEN_MANY, messages.len())?;
        let messages = messages
            .iter()
            .map(|m| public_in(m, "each message"))
            .collect::<Result<Vec<_>, _>>()?;
        let context = o.context();
        let out = Array::new_with_length(messages.len() as u32);
        for (i, m) in messages.iter().enumerate() {
            let aad = o.aads.as_ref().map_or(&[][..], |a| &a[i][..]);
            let pt = self.key.open(m, &context, aad).map_err(dekbox_error)?;
            out.set(i as u32, bytes_out(Zeroizing::new(pt)).into());
        }
        Ok(out)
    }

    /// `openMany` as a promise: every message handed to Web Crypto at once
    /// (one call into the module, one key import per writer). Rejects with
    /// the first failure.
    #[wasm_bindgen(js_name = openManyAsync, unchecked_return_type = "Promise<Uint8Array[]>")]
    pub fn open_many_async(
        &self,
        #[wasm_bindgen(unchecked_param_type = "Array<Uint8Array | string>")] messages: &JsValue,
        #[wasm_bindgen(unchecked_optional_param_type = "OpenManyOptions")] options: &JsValue,
    ) -> Promise {
        let run = || -> Result<Promise, JsValue> {
            let messages = js::array_items(messages, "messages")?;
            let o = js::batch_options(options, OPEN_MANY, messages.len())?;
            let binaries = messages
                .iter()
                .map(|m| {
                    let m = public_in(m, "each message")?;
                    match format::binary_form(&m, format::DEFAULT_MAX_PLAINTEXT) {
                        Ok(b) => Ok(b.into_owned()),
                        Err(e) => Err(dekbox_error(e.into())),
                    }
                })
                .collect::<Result<Vec<_>, JsValue>>()?;
            subtle::open_many(
                &self.key,
                &self.web,
                &binaries,
                &o.context(),
                o.aads.as_deref(),
            )
        };
        run().unwrap_or_else(|e| Promise::reject(&e))
    }

    /// Seals `plaintext` (`Uint8Array` or string) under this key with a salt
    /// of this object's own and a random nonce (ChaCha20 seeded from Web
    /// Crypto): the result opens on the server (`decrypt` with the same
    /// context and aad). `text: true` gives a `dekbox:v1:…` string. A
    /// context is required.
    #[wasm_bindgen(unchecked_return_type = "Uint8Array | string")]
    pub fn seal(
        &self,
        #[wasm_bindgen(unchecked_param_type = "Uint8Array | string")] plaintext: &JsValue,
        #[wasm_bindgen(unchecked_optional_param_type = "SealOptions")] options: &JsValue,
    ) -> Result<JsValue, JsValue> {
        self.seal_read(&seal_args(plaintext, options)?)
    }

    /// Whether this key can seal (it came as a token, with its wrapped form).
    #[wasm_bindgen(getter, js_name = canSeal)]
    pub fn can_seal(&self) -> bool {
        self.key.can_seal()
    }

    /// The key reference its messages carry (a keyring label or key URI);
    /// undefined for a bare data key.
    #[wasm_bindgen(getter, js_name = keyName)]
    pub fn key_name(&self) -> Option<String> {
        self.key.key_ref().map(|k| k.name.to_string())
    }
}

/// Opens `message` with `dataKey` (a token or bare 32-byte key from your
/// server); the key is wiped from the module's memory before this returns.
#[wasm_bindgen(js_name = openWithDataKey)]
pub fn open_with_data_key(
    #[wasm_bindgen(unchecked_param_type = "Uint8Array | string")] message: &JsValue,
    #[wasm_bindgen(js_name = dataKey, unchecked_param_type = "string | Uint8Array")]
    data_key: &JsValue,
    #[wasm_bindgen(unchecked_optional_param_type = "OpenOptions")] options: &JsValue,
) -> Result<Uint8Array, JsValue> {
    let args = open_args(message, options)?;
    Ok(bytes_out(DataKey::from_js(data_key)?.open_read(&args)?))
}

/// Seals `plaintext` with `dataKey` (a token from your server's
/// `new_message_data_key` or `message_data_key`); the key is wiped from the
/// module's memory before this returns.
#[wasm_bindgen(js_name = sealWithDataKey, unchecked_return_type = "Uint8Array | string")]
pub fn seal_with_data_key(
    #[wasm_bindgen(unchecked_param_type = "Uint8Array | string")] plaintext: &JsValue,
    #[wasm_bindgen(js_name = dataKey, unchecked_param_type = "string | Uint8Array")]
    data_key: &JsValue,
    #[wasm_bindgen(unchecked_optional_param_type = "SealOptions")] options: &JsValue,
) -> Result<JsValue, JsValue> {
    let args = seal_args(plaintext, options)?;
    DataKey::from_js(data_key)?.seal_read(&args)
}
