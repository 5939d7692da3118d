//! JavaScript arguments to Rust values, with `TypeError`s that say what was
//! expected and what came; prepared contexts; the `Box` options.
//!
//! `index.js` reads the options objects and passes their fields here. A
//! context given as an object is read here (its getters may run): every
//! method converts its context before it borrows a `Buffer`'s bytes, and
//! nothing runs JavaScript while it holds them.

use crate::errors::{Fail, RealmState, Res, type_error};
use crate::js;
use dekbox_core::EncryptionContext;
use dekbox_core::cache::CacheConfig;
use dekbox_facade::Config;
use napi::bindgen_prelude::{Array, JsObjectValue, Object, Unknown};
use napi::{Env, JsValue, KeyCollectionMode, KeyConversion, KeyFilter, ValueType};
use napi_derive::napi;
use std::borrow::Cow;
use std::collections::BTreeMap;
use std::sync::Arc;

/// `typeof`, as a message names it.
pub fn type_name(v: &Unknown<'_>) -> &'static str {
    match v.get_type() {
        Ok(ValueType::Undefined) => "undefined",
        Ok(ValueType::Null) => "null",
        Ok(ValueType::Boolean) => "boolean",
        Ok(ValueType::Number) => "number",
        Ok(ValueType::String) => "string",
        Ok(ValueType::Symbol) => "symbol",
        Ok(ValueType::Function) => "function",
        Ok(ValueType::BigInt) => "bigint",
        Ok(ValueType::External) => "external",
        Ok(ValueType::Object) if v.is_array().unwrap_or(false) => "Array",
        Ok(ValueType::Object) => "object",
        _ => "unknown value",
    }
}

fn absent(v: &Unknown<'_>) -> bool {
    matches!(v.get_type(), Ok(ValueType::Undefined | ValueType::Null))
}

/// A `Buffer` or `Uint8Array` (borrowed), or a string (its UTF-8 bytes).
///
/// Borrow last: read every option first, since reading one may run
/// JavaScript that detaches or shrinks the buffer.
pub fn bytes_arg<'a>(v: &Unknown<'a>, what: &str) -> Res<Cow<'a, [u8]>> {
    match js::uint8_bytes(v) {
        Some(Ok(b)) => return Ok(Cow::Borrowed(b)),
        Some(Err(js::Shared)) => {
            return Err(type_error(format!(
                "{what} must not be a view of a SharedArrayBuffer (copy it first)"
            )));
        }
        None => {}
    }
    if v.get_type()? == ValueType::String {
        return Ok(Cow::Owned(js::from_value::<String>(v)?.into_bytes()));
    }
    Err(type_error(format!(
        "{what} must be a Buffer, Uint8Array or string, not {}",
        type_name(v)
    )))
}

/// A value of JavaScript type `ty` (named `expected` in the TypeError).
fn typed<T: napi::bindgen_prelude::FromNapiValue>(
    v: &Unknown<'_>,
    ty: ValueType,
    expected: &str,
    what: &str,
) -> Res<T> {
    if v.get_type()? != ty {
        return Err(type_error(format!(
            "{what} must be {expected}, not {}",
            type_name(v)
        )));
    }
    Ok(js::from_value::<T>(v)?)
}

fn string_arg(v: &Unknown<'_>, what: &str) -> Res<String> {
    typed(v, ValueType::String, "a string", what)
}

fn bool_arg(v: &Unknown<'_>, what: &str) -> Res<bool> {
    typed(v, ValueType::Boolean, "a boolean", what)
}

fn number_arg(v: &Unknown<'_>, what: &str) -> Res<f64> {
    typed(v, ValueType::Number, "a number", what)
}

/// A field of an options object (`index.js` reads it); `undefined` and
/// `null` are absent.
pub fn present<'a>(v: Option<Unknown<'a>>) -> Option<Unknown<'a>> {
    v.filter(|v| !absent(v))
}

/// `options.context`: a `Context` or a plain object of strings (default
/// empty).
pub fn context_opt(env: &Env, v: Option<Unknown<'_>>) -> Res<Arc<EncryptionContext>> {
    match present(v) {
        None => Ok(Arc::new(EncryptionContext::empty())),
        Some(v) => context_arg(env, crate::errors::realm(env)?, &v),
    }
}

/// A boolean option (default false).
pub fn flag_opt(v: Option<Unknown<'_>>, what: &str) -> Res<bool> {
    present(v).map_or(Ok(false), |v| bool_arg(&v, what))
}

/// A whole-number option in `0..=max` (default `default`).
pub fn whole_opt(v: Option<Unknown<'_>>, what: &str, default: u32, max: u32) -> Res<u32> {
    let Some(v) = present(v) else {
        return Ok(default);
    };
    let n = number_arg(&v, what)?;
    if n.fract() != 0.0 || !(0.0..=f64::from(max)).contains(&n) {
        return Err(Fail::Dekbox(dekbox_core::Error::InvalidArgument(format!(
            "{what} must be a whole number from 0 to {max}"
        ))));
    }
    Ok(n as u32)
}

/// A string option.
pub fn string_opt(v: Option<Unknown<'_>>, what: &str) -> Res<Option<String>> {
    present(v).map(|v| string_arg(&v, what)).transpose()
}

/// `options.aads`: one aad per item (copied).
pub fn aads_opt(v: Option<Unknown<'_>>) -> Res<Option<Vec<Vec<u8>>>> {
    present(v)
        .map(|v| items_arg(&v, "options.aads"))
        .transpose()
}

/// `options.aad`: bytes or a string, default empty.
pub fn aad_arg<'a>(v: Option<Unknown<'a>>) -> Res<Cow<'a, [u8]>> {
    match present(v) {
        None => Ok(Cow::Borrowed(&[])),
        Some(v) => bytes_arg(&v, "options.aad"),
    }
}

/// An array of byte values, each copied as it is read (reading an element
/// may run JavaScript).
pub fn items_arg(v: &Unknown<'_>, what: &str) -> Res<Vec<Vec<u8>>> {
    if !v.is_array()? {
        return Err(type_error(format!(
            "{what} must be an Array, not {}",
            type_name(v)
        )));
    }
    let array = js::from_value::<Array>(v)?;
    let mut out = Vec::with_capacity(array.len() as usize);
    for i in 0..array.len() {
        let Some(item) = array.get::<Unknown<'_>>(i)? else {
            return Err(type_error(format!("{what}[{i}] is missing")));
        };
        out.push(bytes_arg(&item, &format!("{what}[{i}]"))?.into_owned());
    }
    Ok(out)
}

/// An object whose prototype is `Object.prototype` or `null`.
fn is_plain_object(env: &Env, realm: &RealmState, v: &Unknown<'_>) -> Res<bool> {
    if v.get_type()? != ValueType::Object || v.is_array()? {
        return Ok(false);
    }
    let proto = js::prototype(env, v)?;
    let mut null = false;
    if let Ok(p) = js::unknown(env, proto) {
        null = p.get_type()? == ValueType::Null;
    }
    Ok(null || js::same(env, proto, realm.object_prototype.get(env)?))
}

/// A plain object's own enumerable string-keyed entries, all strings.
fn string_map(env: &Env, v: &Unknown<'_>, what: &str) -> Res<Vec<(String, String)>> {
    entries(env, v, KeyFilter::Enumerable)?
        .into_iter()
        .map(|(key, value)| {
            let value = string_arg(&value, &format!("{what} value for {key:?}"))?;
            Ok((key, value))
        })
        .collect()
}

/// A context: a prepared `Context`'s external (`index.js` passes it for a
/// `Context`) or a plain object of strings. Anything else, including an
/// external this addon did not make, is a `TypeError`: never silently an
/// empty context.
pub fn context_arg(env: &Env, realm: &RealmState, v: &Unknown<'_>) -> Res<Arc<EncryptionContext>> {
    if v.get_type()? == ValueType::External {
        return js::external_ref::<Arc<EncryptionContext>>(env, v)
            .cloned()
            .ok_or_else(|| type_error("context is not a genuine Context".into()));
    }
    if is_plain_object(env, realm, v)? {
        let pairs = string_map(env, v, "context")?;
        return Ok(Arc::new(
            EncryptionContext::from_pairs(pairs).map_err(|e| Fail::Dekbox(e.into()))?,
        ));
    }
    Err(type_error(format!(
        "context must be a Context or a plain object of strings, not {} \
         (a class instance, or a Context from another copy of dekbox)",
        type_name(v)
    )))
}

/// `new Context(entries)`'s native half: the entries, converted once, as an
/// external only this addon can read.
#[napi(
    js_name = "_prepareContext",
    ts_args_type = "entries: Record<string, string>",
    ts_return_type = "unknown"
)]
pub fn prepare_context(env: Env, entries: Unknown<'_>) -> napi::Result<js::Value> {
    let made = crate::errors::realm(&env).and_then(|realm| context_arg(&env, realm, &entries));
    match made {
        Ok(ctx) => js::external(&env, ctx),
        Err(f) => Err(f.into_js(&env)),
    }
}

/// A prepared context's entries (`Context#toJSON`).
#[napi(js_name = "_contextEntries", ts_args_type = "handle: unknown")]
pub fn context_entries(env: Env, handle: Unknown<'_>) -> napi::Result<BTreeMap<String, String>> {
    let ctx = js::external_ref::<Arc<EncryptionContext>>(&env, &handle)
        .ok_or_else(|| type_error("not a prepared context".into()).into_js(&env))?;
    Ok(ctx
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect())
}

// ---- Box options ----------------------------------------------------------

const BOX_OPTIONS: &[&str] = &[
    "key",
    "keys",
    "primary",
    "endpoint",
    "region",
    "profile",
    "fips",
    "grantTokens",
    "cache",
    "acceptJson",
    "legacyFallback",
    "legacyAllowKeySized",
    "compatKey",
    "maxPlaintext",
];

const CACHE_OPTIONS: &[(&str, &str)] = &[
    ("maxAge", "max_age"),
    ("maxMessages", "max_messages"),
    ("maxBytes", "max_bytes"),
    ("encryptCapacity", "encrypt_capacity"),
    ("decryptCapacity", "decrypt_capacity"),
    ("decryptTtl", "decrypt_ttl"),
];

/// An object's own string-keyed properties (all, or the enumerable ones)
/// and their values (symbol keys are not entries).
fn entries<'a>(
    env: &'a Env,
    v: &Unknown<'a>,
    filter: KeyFilter,
) -> Res<Vec<(String, Unknown<'a>)>> {
    let obj: Object<'_> = v.coerce_to_object()?;
    let keys = obj.get_all_property_names(
        KeyCollectionMode::OwnOnly,
        filter,
        KeyConversion::NumbersToStrings,
    )?;
    let keys = js::from_value::<Array>(&keys.to_unknown())?;
    let mut out = Vec::with_capacity(keys.len() as usize);
    for i in 0..keys.len() {
        let Some(key) = keys.get::<Unknown<'_>>(i)? else {
            continue;
        };
        if key.get_type()? != ValueType::String {
            continue;
        }
        // A getter may have deleted it meanwhile: read as undefined.
        let value = match js::own_property(env, v.raw(), key.raw())? {
            Some(value) => value,
            None => js::unknown(env, js::undefined(env)?)?,
        };
        out.push((js::from_value::<String>(&key)?, value));
    }
    Ok(out)
}

/// The `Box` options (a key URI, or an object read field by field, own
/// properties only) as dekbox-facade's `Config`.
pub fn box_config(env: &Env, options: Option<Unknown<'_>>) -> Res<Config> {
    let Some(v) = options.filter(|v| !absent(v)) else {
        return Ok(Config::default());
    };
    if v.get_type()? == ValueType::String {
        return Ok(Config {
            key: Some(js::from_value::<String>(&v)?),
            ..Config::default()
        });
    }
    let realm = crate::errors::realm(env)?;
    if !is_plain_object(env, realm, &v)? {
        return Err(type_error(format!(
            "Box options must be a key URI or a plain object, not {}",
            type_name(&v)
        )));
    }
    let mut c = Config::default();
    // Every own name, enumerable or not: a misspelt option is refused.
    for (name, value) in entries(env, &v, KeyFilter::AllProperties)? {
        if absent(&value) {
            continue;
        }
        let what = format!("options.{name}");
        match name.as_str() {
            "key" => c.key = Some(string_arg(&value, &what)?),
            "primary" => c.primary = Some(string_arg(&value, &what)?),
            "endpoint" => c.endpoint = Some(string_arg(&value, &what)?),
            "region" => c.region = Some(string_arg(&value, &what)?),
            "profile" => c.profile = Some(string_arg(&value, &what)?),
            "compatKey" => c.compat_key = Some(string_arg(&value, &what)?),
            "primaryRoot" => c.primary_root = Some(string_arg(&value, &what)?),
            "roots" => {
                if !is_plain_object(env, realm, &value)? {
                    return Err(type_error(format!(
                        "{what} must be an object of label → root token, not {}",
                        type_name(&value)
                    )));
                }
                c.roots = Some(string_map(env, &value, &what)?.into_iter().collect());
            }
            "fips" => c.fips = bool_arg(&value, &what)?,
            "acceptJson" => c.accept_json = bool_arg(&value, &what)?,
            "legacyFallback" => c.legacy_fallback = bool_arg(&value, &what)?,
            "legacyAllowKeySized" => c.legacy_allow_key_sized = bool_arg(&value, &what)?,
            "keys" => {
                if !is_plain_object(env, realm, &value)? {
                    return Err(type_error(format!(
                        "{what} must be an object of label → key URI, not {}",
                        type_name(&value)
                    )));
                }
                c.keys = Some(string_map(env, &value, &what)?.into_iter().collect());
            }
            "grantTokens" => {
                let tokens = items_arg(&value, &what)?;
                c.grant_tokens = tokens
                    .into_iter()
                    .map(|t| {
                        String::from_utf8(t)
                            .map_err(|_| type_error(format!("{what} must hold strings")))
                    })
                    .collect::<Res<_>>()?;
            }
            "maxPlaintext" => {
                let n = number_arg(&value, &what)?;
                if !(n.fract() == 0.0 && (0.0..=9_007_199_254_740_991.0).contains(&n)) {
                    return Err(Fail::Dekbox(dekbox_core::Error::InvalidArgument(format!(
                        "{what} must be a whole number of bytes"
                    ))));
                }
                c.max_plaintext = Some(n as usize);
            }
            "cache" => c.cache = Some(cache_config(env, realm, &value)?),
            _ => {
                return Err(Fail::Unknown(format!(
                    "unknown Box option {name:?} (expected one of {})",
                    BOX_OPTIONS.join(", ")
                )));
            }
        }
    }
    Ok(c)
}

/// `cache`: `false` (nothing cached) or `{ maxAge, ... }`, checked by
/// dekbox-core's `CacheConfig`.
fn cache_config(env: &Env, realm: &RealmState, v: &Unknown<'_>) -> Res<CacheConfig> {
    if v.get_type()? == ValueType::Boolean && !js::from_value::<bool>(v)? {
        return Ok(CacheConfig::disabled());
    }
    if !is_plain_object(env, realm, v)? {
        return Err(type_error(format!(
            "options.cache must be false or an object of limits, not {}",
            type_name(v)
        )));
    }
    let mut limits = serde_json::Map::new();
    for (name, value) in entries(env, v, KeyFilter::AllProperties)? {
        if absent(&value) {
            continue;
        }
        let Some((_, field)) = CACHE_OPTIONS.iter().find(|(js, _)| *js == name) else {
            let known: Vec<_> = CACHE_OPTIONS.iter().map(|(js, _)| *js).collect();
            return Err(Fail::Unknown(format!(
                "unknown cache option {name:?} (expected one of {})",
                known.join(", ")
            )));
        };
        let n = number_arg(&value, &format!("options.cache.{name}"))?;
        let n = if n.fract() == 0.0 && (0.0..9_007_199_254_740_992.0).contains(&n) {
            serde_json::Number::from(n as u64)
        } else {
            serde_json::Number::from_f64(n).ok_or_else(|| {
                Fail::Dekbox(dekbox_core::Error::InvalidArgument(format!(
                    "options.cache.{name} must be finite"
                )))
            })?
        };
        limits.insert(field.to_string(), serde_json::Value::Number(n));
    }
    serde_json::from_value(limits.into()).map_err(|e| {
        Fail::Dekbox(dekbox_core::Error::InvalidArgument(format!(
            "options.cache: {e}"
        )))
    })
}
