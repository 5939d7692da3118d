//! Conversions between JavaScript values and dekbox's Rust types.
//!
//! Secret bytes (plaintexts, data-key tokens) are copied out of JavaScript
//! into buffers this crate owns and wipes, never through wasm-bindgen's own
//! argument buffers (which are freed without being cleared); results are
//! copied into new JavaScript objects and the Rust copy is wiped before the
//! call returns. Nothing secret stays in the module's linear memory after a
//! call, except the keys a live `DataKey` holds until `free()`.

use dekbox_core::{EncryptionContext, Error};
use js_sys::{Array, JsString, Object, Reflect, Uint8Array};
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;
use zeroize::Zeroizing;

/// A `TypeError` with Node's `code` for a bad argument type.
pub(crate) fn type_error(message: &str) -> JsValue {
    let e = js_sys::TypeError::new(message);
    let _ = Reflect::set(&e, &"code".into(), &"ERR_INVALID_ARG_TYPE".into());
    e.into()
}

/// A dekbox error as a JavaScript `Error`: `name` is the class name every
/// runtime uses (`AuthenticationError`), `code` is `ERR_DEKBOX_` + the
/// language-neutral code (as in the Node package), `retryable` as in core.
pub(crate) fn dekbox_error(e: Error) -> JsValue {
    let info = e.info();
    let err = js_sys::Error::new(&e.to_string());
    err.set_name(info.class);
    let _ = Reflect::set(
        &err,
        &"code".into(),
        &format!("ERR_DEKBOX_{}", info.code).into(),
    );
    let _ = Reflect::set(&err, &"retryable".into(), &info.retryable.into());
    err.into()
}

fn type_name(v: &JsValue) -> String {
    if v.is_null() {
        return "null".into();
    }
    if Array::is_array(v) {
        return "an array".into();
    }
    v.js_typeof().as_string().unwrap_or_default()
}

/// Secret bytes (a plaintext, a data-key token) from a `Uint8Array`,
/// `ArrayBuffer` or string (UTF-8), in a buffer wiped on drop.
pub(crate) fn bytes_in(v: &JsValue, what: &str) -> Result<Zeroizing<Vec<u8>>, JsValue> {
    public_in(v, what).map(Zeroizing::new)
}

/// Bytes that are not secret (a sealed message, an aad): the same, not
/// wiped (a megabyte message costs no volatile wipe).
pub(crate) fn public_in(v: &JsValue, what: &str) -> Result<Vec<u8>, JsValue> {
    if let Some(s) = v.as_string() {
        return Ok(s.into_bytes());
    }
    let array = if let Some(a) = v.dyn_ref::<Uint8Array>() {
        a.clone()
    } else if v.is_instance_of::<js_sys::ArrayBuffer>() {
        Uint8Array::new(v)
    } else {
        return Err(type_error(&format!(
            "{what} must be a Uint8Array, ArrayBuffer or string, not {}",
            type_name(v)
        )));
    };
    let mut buf = vec![0u8; array.length() as usize];
    array.copy_to(&mut buf);
    Ok(buf)
}

/// A new `Uint8Array` holding `bytes`; the Rust copy is wiped when dropped.
pub(crate) fn bytes_out(bytes: Zeroizing<Vec<u8>>) -> Uint8Array {
    Uint8Array::from(&bytes[..])
}

/// A new JavaScript string from UTF-8 bytes (an error if they are not
/// UTF-8); the Rust copy is wiped when dropped.
pub(crate) fn string_out(bytes: Zeroizing<Vec<u8>>) -> Result<JsString, JsValue> {
    match std::str::from_utf8(&bytes) {
        Ok(s) => Ok(JsString::from(s)),
        Err(_) => Err(dekbox_error(Error::InvalidArgument(
            "the plaintext is not UTF-8 text: use open() for bytes".into(),
        ))),
    }
}

/// Call options, read from a plain object's own properties. A name the
/// method does not take is refused (a misspelt `context` must not quietly
/// seal without one).
#[derive(Default)]
pub(crate) struct Options {
    pub(crate) context: Option<EncryptionContext>,
    pub(crate) aad: Vec<u8>,
    pub(crate) aads: Option<Vec<Vec<u8>>>,
    pub(crate) text: bool,
}

impl Options {
    pub(crate) fn context(&self) -> EncryptionContext {
        self.context
            .clone()
            .unwrap_or_else(EncryptionContext::empty)
    }
}

/// Reads `options` (undefined or null: none), accepting only `allowed` names.
pub(crate) fn options(v: &JsValue, allowed: &[&str]) -> Result<Options, JsValue> {
    let mut out = Options::default();
    if v.is_undefined() || v.is_null() {
        return Ok(out);
    }
    if !v.is_object() || Array::is_array(v) || v.is_function() {
        return Err(type_error(&format!(
            "options must be an object, not {}",
            type_name(v)
        )));
    }
    for entry in Object::entries(v.unchecked_ref()).iter() {
        let pair: Array = entry.unchecked_into();
        let name = pair.get(0).as_string().unwrap_or_default();
        let value = pair.get(1);
        if !allowed.contains(&name.as_str()) {
            return Err(type_error(&format!(
                "unknown option {name:?}: this method takes {}",
                allowed.join(", ")
            )));
        }
        if value.is_undefined() {
            continue;
        }
        match name.as_str() {
            "context" => out.context = Some(context(&value)?),
            "aad" => out.aad = public_in(&value, "aad")?,
            "aads" => {
                if !Array::is_array(&value) {
                    return Err(type_error("aads must be an array"));
                }
                let list: Array = value.unchecked_into();
                out.aads = Some(
                    list.iter()
                        .map(|a| public_in(&a, "each aad"))
                        .collect::<Result<_, _>>()?,
                );
            }
            "text" => {
                out.text = value
                    .as_bool()
                    .ok_or_else(|| type_error("text must be a boolean"))?;
            }
            _ => {}
        }
    }
    Ok(out)
}

/// An encryption context from a plain object of strings.
pub(crate) fn context(v: &JsValue) -> Result<EncryptionContext, JsValue> {
    if !v.is_object() || Array::is_array(v) {
        return Err(type_error(&format!(
            "context must be an object of strings, not {}",
            type_name(v)
        )));
    }
    let mut pairs = Vec::new();
    for entry in Object::entries(v.unchecked_ref()).iter() {
        let pair: Array = entry.unchecked_into();
        let key = pair.get(0).as_string().unwrap_or_default();
        let Some(value) = pair.get(1).as_string() else {
            return Err(type_error(&format!(
                "context value for {key:?} must be a string"
            )));
        };
        pairs.push((key, value));
    }
    EncryptionContext::from_pairs(pairs).map_err(|e| dekbox_error(e.into()))
}
