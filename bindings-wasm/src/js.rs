//! Conversions between JavaScript values and dekbox's Rust types.
//!
//! Secret bytes (plaintexts, data-key tokens) are copied out of JavaScript
//! into buffers this crate owns and wipes, never through wasm-bindgen's own
//! argument buffers (which are freed without being cleared); results are
//! copied into new JavaScript objects and the Rust copy is wiped before the
//! call returns. Nothing secret stays in the module's linear memory after a
//! call, except the keys a live `DataKey` holds until `free()`.
//!
//! Caller values are only ever touched through calls that turn a JavaScript
//! exception into an `Err` (js-sys `Reflect`, the `catch` helpers below), so
//! a throwing getter, a proxy trap or a revoked proxy is an error returned
//! through Rust's cleanup, never an exception unwinding past it (which would
//! leave a secret unwiped or a `DataKey` borrowed for ever).

use dekbox_core::{EncryptionContext, Error};
use js_sys::{JsString, Object, Reflect, Uint8Array};
use wasm_bindgen::prelude::*;
use zeroize::Zeroizing;

#[wasm_bindgen(inline_js = "
const typedArray = Object.getPrototypeOf(Uint8Array.prototype)
const tag = Object.getOwnPropertyDescriptor(typedArray, Symbol.toStringTag).get
const length = Object.getOwnPropertyDescriptor(typedArray, 'length').get
const set = typedArray.set
const fill = typedArray.fill
const byteLength = Object.getOwnPropertyDescriptor(ArrayBuffer.prototype, 'byteLength').get
// The built-in getters read internal slots: no getter, subclass override or
// proxy trap of the caller's runs. A proxy is neither (its tag is undefined).
const isBytes = (v) => tag.call(v) === 'Uint8Array'
export function bytesLength(v) {
  if (isBytes(v)) return length.call(v)
  try { return byteLength.call(v) } catch { return -1 }
}
export function copyBytes(v, dst) {
  set.call(dst, isBytes(v) ? v : new Uint8Array(v))
}
export function wipeBytes(v) {
  if (isBytes(v)) fill.call(v, 0)
}
export function isArray(v) {
  return Array.isArray(v)
}
")]
extern "C" {
    /// The byte length of a real `Uint8Array` or `ArrayBuffer`, else -1.
    #[wasm_bindgen(js_name = bytesLength, catch)]
    fn bytes_length(v: &JsValue) -> Result<f64, JsValue>;
    /// Copies a value `bytes_length` accepted into `dst` (exactly its size).
    #[wasm_bindgen(js_name = copyBytes, catch)]
    fn copy_bytes(v: &JsValue, dst: &mut [u8]) -> Result<(), JsValue>;
    /// Zero-fills a real `Uint8Array`.
    #[wasm_bindgen(js_name = wipeBytes, catch)]
    fn wipe_bytes_js(v: &JsValue) -> Result<(), JsValue>;
    /// `Array.isArray` (which throws on a revoked proxy).
    #[wasm_bindgen(js_name = isArray, catch)]
    fn is_array(v: &JsValue) -> Result<bool, JsValue>;
}

/// Zero-fills the caller's `Uint8Array` (`DataKey.take`).
pub(crate) fn wipe_bytes(v: &JsValue) -> Result<(), JsValue> {
    wipe_bytes_js(v)
}

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
    match is_array(v) {
        Ok(true) => return "an array".into(),
        Err(_) => return "a revoked proxy".into(),
        Ok(false) => {}
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
    let len = bytes_length(v)?;
    if len < 0.0 {
        return Err(type_error(&format!(
            "{what} must be a Uint8Array, ArrayBuffer or string, not {}",
            type_name(v)
        )));
    }
    let mut buf = vec![0u8; len as usize];
    copy_bytes(v, &mut buf)?;
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
    /// Root-keyed values and blind indexes.
    pub(crate) column: Option<String>,
    pub(crate) deterministic: bool,
    pub(crate) bits: Option<u16>,
    pub(crate) trim: bool,
    pub(crate) casefold: bool,
    /// Argon2id costs `[t, m]` (`slow: true` is `[3, 4096]`).
    pub(crate) slow: Option<(u32, u32)>,
    pub(crate) root: Option<String>,
    pub(crate) hex: Option<bool>,
}

impl Options {
    pub(crate) fn context(&self) -> EncryptionContext {
        self.context
            .clone()
            .unwrap_or_else(EncryptionContext::empty)
    }
}

fn boolean(v: &JsValue, what: &str) -> Result<bool, JsValue> {
    v.as_bool()
        .ok_or_else(|| type_error(&format!("{what} must be a boolean")))
}

fn string(v: &JsValue, what: &str) -> Result<String, JsValue> {
    v.as_string()
        .ok_or_else(|| type_error(&format!("{what} must be a string")))
}

/// Reads `options` (undefined or null: none), accepting only `allowed` names.
pub(crate) fn options(v: &JsValue, allowed: &[&str]) -> Result<Options, JsValue> {
    let mut out = Options::default();
    if v.is_undefined() || v.is_null() {
        return Ok(out);
    }
    for (name, value) in plain_entries(v, "options")? {
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
                out.aads = Some(
                    array_items(&value, "aads")?
                        .iter()
                        .map(|a| public_in(a, "each aad"))
                        .collect::<Result<_, _>>()?,
                );
            }
            "text" => out.text = boolean(&value, "text")?,
            "deterministic" => out.deterministic = boolean(&value, "deterministic")?,
            "trim" => out.trim = boolean(&value, "trim")?,
            "casefold" => out.casefold = boolean(&value, "casefold")?,
            "hex" => out.hex = Some(boolean(&value, "hex")?),
            "column" => out.column = Some(string(&value, "column")?),
            "root" => out.root = Some(string(&value, "root")?),
            "bits" => {
                out.bits = value
                    .as_f64()
                    .filter(|n| n.fract() == 0.0 && (0.0..=65535.0).contains(n))
                    .map(|n| n as u16);
                if out.bits.is_none() {
                    return Err(type_error("bits must be a whole number"));
                }
            }
            "slow" => {
                out.slow = match value.as_bool() {
                    Some(true) => Some((
                        dekbox_core::root::blind::SLOW_T_COST,
                        dekbox_core::root::blind::SLOW_M_COST,
                    )),
                    Some(false) => None,
                    None => {
                        let items = array_items(&value, "slow")?;
                        let cost = |v: &JsValue| {
                            v.as_f64()
                                .filter(|n| {
                                    n.fract() == 0.0 && (0.0..=f64::from(u32::MAX)).contains(n)
                                })
                                .map(|n| n as u32)
                        };
                        match items.as_slice() {
                            [t, m] => Some((cost(t), cost(m)))
                                .and_then(|(t, m)| Some((t?, m?)))
                                .map(Some)
                                .ok_or_else(|| {
                                    type_error("slow must be true or [tCost, mCostKiB]")
                                })?,
                            _ => return Err(type_error("slow must be true or [tCost, mCostKiB]")),
                        }
                    }
                };
            }
            _ => {}
        }
    }
    Ok(out)
}

/// The own string-keyed properties of a plain object (`{…}`, or one made
/// with `Object.create(null)`): a `Map` or a class instance would otherwise
/// read as empty and, say, seal without its context. Read through `Reflect`,
/// so a throwing getter or proxy trap is an error here, never an exception
/// unwinding through the module (which would skip Rust's cleanup).
pub(crate) fn plain_entries(v: &JsValue, what: &str) -> Result<Vec<(String, JsValue)>, JsValue> {
    if !v.is_object() || v.is_function() || is_array(v)? {
        return Err(type_error(&format!(
            "{what} must be a plain object, not {}",
            type_name(v)
        )));
    }
    let proto = Reflect::get_prototype_of(v)?;
    let plain = proto.is_null() || OBJECT_PROTOTYPE.with(|p| JsValue::from(proto.clone()) == *p);
    if !plain {
        let name = Reflect::get(&proto, &"constructor".into())
            .and_then(|c| Reflect::get(&c, &"name".into()))
            .ok()
            .and_then(|n| n.as_string())
            .unwrap_or_else(|| "another kind of object".into());
        return Err(type_error(&format!(
            "{what} must be a plain object ({{...}}), not a {name}"
        )));
    }
    let mut out = Vec::new();
    for key in Reflect::own_keys(v)?.iter() {
        // Symbol-keyed properties are not options.
        if let Some(name) = key.as_string() {
            out.push((name, Reflect::get(v, &key)?));
        }
    }
    Ok(out)
}

thread_local! {
    static OBJECT_PROTOTYPE: JsValue = Reflect::get_prototype_of(&Object::new())
        .map(JsValue::from)
        .unwrap_or(JsValue::NULL);
}

/// The items of an array, read through `Reflect` (see [`plain_entries`]).
pub(crate) fn array_items(v: &JsValue, what: &str) -> Result<Vec<JsValue>, JsValue> {
    if !is_array(v)? {
        return Err(type_error(&format!(
            "{what} must be an array, not {}",
            type_name(v)
        )));
    }
    let len = Reflect::get(v, &"length".into())?.as_f64().unwrap_or(0.0);
    if len > MAX_ITEMS as f64 {
        return Err(type_error(&format!(
            "{what} has more than {MAX_ITEMS} items"
        )));
    }
    (0..len as u32).map(|i| Reflect::get_u32(v, i)).collect()
}

/// Most values in one batch call.
const MAX_ITEMS: u32 = 1 << 20;

/// [`options`] for a batch of `len` values: `aads`, if given, has one entry
/// per value.
pub(crate) fn batch_options(v: &JsValue, allowed: &[&str], len: usize) -> Result<Options, JsValue> {
    let o = options(v, allowed)?;
    if o.aads.as_ref().is_some_and(|a| a.len() != len) {
        return Err(type_error("aads must have one entry per message"));
    }
    Ok(o)
}

/// An encryption context from a plain object of strings.
pub(crate) fn context(v: &JsValue) -> Result<EncryptionContext, JsValue> {
    let mut pairs = Vec::new();
    for (key, value) in plain_entries(v, "context")? {
        let Some(value) = value.as_string() else {
            return Err(type_error(&format!(
                "context value for {key:?} must be a string"
            )));
        };
        pairs.push((key, value));
    }
    EncryptionContext::from_pairs(pairs).map_err(|e| dekbox_error(e.into()))
}
