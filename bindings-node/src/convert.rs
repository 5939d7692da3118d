//! JavaScript arguments to Rust values, with `TypeError`s that say what was
//! expected and what came; `Context`, the prepared encryption context.

use crate::errors::type_error;
use crate::js;
use dekbox_core::EncryptionContext;
use napi::bindgen_prelude::{Array, JsObjectValue, Object, Unknown};
use napi::{Env, JsValue, KeyCollectionMode, KeyConversion, KeyFilter, Result, ValueType};
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
pub fn bytes_arg<'a>(env: &Env, v: &Unknown<'a>, what: &str) -> Result<Cow<'a, [u8]>> {
    match js::uint8_bytes(v) {
        Some(Ok(b)) => return Ok(Cow::Borrowed(b)),
        Some(Err(js::Shared)) => {
            return Err(type_error(
                env,
                format!("{what} must not be a view of a SharedArrayBuffer (copy it first)"),
            ));
        }
        None => {}
    }
    if v.get_type()? == ValueType::String {
        return Ok(Cow::Owned(js::from_value::<String>(v)?.into_bytes()));
    }
    Err(type_error(
        env,
        format!(
            "{what} must be a Buffer, Uint8Array or string, not {}",
            type_name(v)
        ),
    ))
}

/// An options object (or nothing).
pub struct Options<'a> {
    obj: Option<Object<'a>>,
}

impl<'a> Options<'a> {
    pub fn new(env: &Env, v: Option<Unknown<'a>>) -> Result<Self> {
        let obj = match v {
            None => None,
            Some(v) if absent(&v) => None,
            Some(v) if v.get_type()? == ValueType::Object && !v.is_array()? => {
                Some(v.coerce_to_object()?)
            }
            Some(v) => {
                return Err(type_error(
                    env,
                    format!("options must be an object, not {}", type_name(&v)),
                ));
            }
        };
        Ok(Self { obj })
    }

    /// An option's value; `undefined` and `null` are absent.
    pub fn get(&self, name: &str) -> Result<Option<Unknown<'a>>> {
        let Some(obj) = &self.obj else {
            return Ok(None);
        };
        let v: Unknown<'a> = obj.get_named_property(name)?;
        Ok(if absent(&v) { None } else { Some(v) })
    }

    /// A boolean option (default false).
    pub fn flag(&self, env: &Env, name: &str) -> Result<bool> {
        match self.get(name)? {
            None => Ok(false),
            Some(v) if v.get_type()? == ValueType::Boolean => js::from_value::<bool>(&v),
            Some(v) => Err(type_error(
                env,
                format!("options.{name} must be a boolean, not {}", type_name(&v)),
            )),
        }
    }

    /// A string option.
    pub fn string(&self, env: &Env, name: &str) -> Result<Option<String>> {
        match self.get(name)? {
            None => Ok(None),
            Some(v) if v.get_type()? == ValueType::String => {
                Ok(Some(js::from_value::<String>(&v)?))
            }
            Some(v) => Err(type_error(
                env,
                format!("options.{name} must be a string, not {}", type_name(&v)),
            )),
        }
    }

    /// `context`: a [`Context`] (shared, no conversion) or a plain object of
    /// strings.
    pub fn context(&self, env: &Env) -> Result<Arc<EncryptionContext>> {
        match self.get("context")? {
            None => Ok(Arc::new(EncryptionContext::empty())),
            Some(v) => context_arg(env, &v),
        }
    }

    /// `aads`: one aad per item.
    pub fn aads(&self, env: &Env) -> Result<Option<Vec<Vec<u8>>>> {
        self.get("aads")?
            .map(|v| items_arg(env, &v, "options.aads"))
            .transpose()
    }
}

/// `options.aad` (from [`Options::get`]): bytes or a string, default empty.
pub fn aad_arg<'a>(env: &Env, v: Option<Unknown<'a>>) -> Result<Cow<'a, [u8]>> {
    match v {
        None => Ok(Cow::Borrowed(&[])),
        Some(v) => bytes_arg(env, &v, "options.aad"),
    }
}

/// An array of byte values (copied: batches outlive the call).
pub fn items_arg(env: &Env, v: &Unknown<'_>, what: &str) -> Result<Vec<Vec<u8>>> {
    if !v.is_array()? {
        return Err(type_error(
            env,
            format!("{what} must be an Array, not {}", type_name(v)),
        ));
    }
    let array = js::from_value::<Array>(v)?;
    let mut out = Vec::with_capacity(array.len() as usize);
    for i in 0..array.len() {
        let Some(item) = array.get::<Unknown<'_>>(i)? else {
            return Err(type_error(env, format!("{what}[{i}] is missing")));
        };
        out.push(bytes_arg(env, &item, &format!("{what}[{i}]"))?.into_owned());
    }
    Ok(out)
}

/// A context: a [`Context`] or a plain object of string values.
pub fn context_arg(env: &Env, v: &Unknown<'_>) -> Result<Arc<EncryptionContext>> {
    if let Some(c) = js::instance_of::<Context>(v) {
        return Ok(c.inner.clone());
    }
    if v.get_type()? != ValueType::Object || v.is_array()? {
        return Err(type_error(
            env,
            format!(
                "context must be a Context or an object of strings, not {}",
                type_name(v)
            ),
        ));
    }
    let obj = v.coerce_to_object()?;
    let keys = obj.get_all_property_names(
        KeyCollectionMode::OwnOnly,
        KeyFilter::Enumerable,
        KeyConversion::NumbersToStrings,
    )?;
    let keys = js::from_value::<Array>(&keys.to_unknown())?;
    let mut pairs = Vec::with_capacity(keys.len() as usize);
    for i in 0..keys.len() {
        // Symbol keys are not context entries.
        let Some(key) = keys.get::<Unknown<'_>>(i)? else {
            continue;
        };
        if key.get_type()? != ValueType::String {
            continue;
        }
        let key = js::from_value::<String>(&key)?;
        let value: Unknown<'_> = obj.get_named_property(&key)?;
        if value.get_type()? != ValueType::String {
            return Err(type_error(
                env,
                format!(
                    "context value for {key:?} must be a string, not {}",
                    type_name(&value)
                ),
            ));
        }
        let value = js::from_value::<String>(&value)?;
        pairs.push((key, value));
    }
    EncryptionContext::from_pairs(pairs)
        .map(Arc::new)
        .map_err(|e| crate::errors::to_js(env, e.into()))
}

/// A prepared encryption context: an object of strings converted once, for
/// reuse across many calls (the fast way to pass the same context again).
#[napi]
pub struct Context {
    pub(crate) inner: Arc<EncryptionContext>,
}

#[napi]
impl Context {
    /// `new Context({ tenant: "acme" })`.
    #[napi(constructor, ts_args_type = "entries: Record<string, string>")]
    pub fn new(env: Env, entries: Unknown<'_>) -> Result<Self> {
        Ok(Self {
            inner: context_arg(&env, &entries)?,
        })
    }

    /// The number of entries.
    #[napi(getter)]
    pub fn size(&self) -> u32 {
        self.inner.len() as u32
    }

    /// The entries as a plain object.
    #[napi(js_name = "toJSON")]
    pub fn to_json(&self) -> BTreeMap<String, String> {
        self.inner
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }
}
