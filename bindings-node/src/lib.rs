//! The native half of the `dekbox` npm package (napi-rs). Each method
//! converts its arguments, calls one `dekbox_facade::Dekbox` method, and
//! converts the result; everything else lives in Rust, once, for every
//! language. `index.js` adds the error classes.
//!
//! Every method reads its options (which may run JavaScript: getters,
//! proxies) before it borrows the bytes of a `Buffer` argument, and runs no
//! JavaScript while it holds them.
//!
//! Promise-returning methods answer a cache hit of up to 1 MiB at once (an
//! already-settled promise: at most ~100 µs of AES-GCM, less than a thread
//! hand-off costs) and run everything else (KMS calls, larger inputs) on
//! dekbox's runtime, off the JavaScript thread. The
//! `*Sync` methods run on the calling thread: for local keys and warm
//! caches.

// napi-rs registers exported functions only outside `cfg(test)`.
#![cfg_attr(test, allow(dead_code))]

mod convert;
mod errors;
mod js;

use convert::{Options, aad_arg, bytes_arg, items_arg};
use dekbox_core::{Form, GeneratedKey};
use dekbox_facade::{Config, Dekbox, Host, Now};
use js::Value;
use napi::bindgen_prelude::{JsObjectValue, Object, Unknown};
use napi::{Env, JsValue, Result, ValueType};
use napi_derive::napi;
use std::future::Future;
use std::mem::MaybeUninit;

/// The JavaScript thread, as the facade sees it: no lock to leave,
/// `Buffer`s filled in place, errors as `DekboxError`s.
struct Js<'e>(&'e Env);

impl Host for Js<'_> {
    type Bytes = Value;
    type Error = napi::Error;

    fn error(&self, e: dekbox_facade::Error) -> napi::Error {
        errors::to_js(self.0, e)
    }

    fn release<R: Send>(&self, f: impl FnOnce() -> R + Send) -> R {
        f()
    }

    fn new_bytes(
        &self,
        len: usize,
        fill: impl FnOnce(&mut [MaybeUninit<u8>]) -> std::result::Result<(), napi::Error>,
    ) -> Result<Value> {
        js::new_buffer(self.0, len, fill)
    }

    fn bytes(&self, bytes: &[u8]) -> Result<Value> {
        js::buffer(self.0, bytes)
    }
}

fn form(text: bool) -> Form {
    if text { Form::Text } else { Form::Binary }
}

/// A sealed value: a `Buffer`, or a `dekbox:v1:` string in text form.
fn sealed_out(env: &Env, bytes: Vec<u8>, text: bool) -> Result<Value> {
    if !text {
        return js::buffer_from_vec(env, bytes);
    }
    let s = String::from_utf8(bytes).map_err(|_| errors::invalid(env, "text form is not UTF-8"))?;
    Ok(Value(env.create_string(&s)?.raw()))
}

fn sealed_list(env: &Env, out: Vec<Vec<u8>>, text: bool) -> Result<Value> {
    let mut array = env.create_array(out.len() as u32)?;
    for (i, o) in out.into_iter().enumerate() {
        array.set(i as u32, sealed_out(env, o, text)?)?;
    }
    Ok(Value(array.raw()))
}

/// Opened values: the first error thrown, or with `returnErrors` each
/// failure's `DekboxError` in its place.
fn opened_list(
    env: &Env,
    results: Vec<dekbox_core::Result<Vec<u8>>>,
    return_errors: bool,
) -> Result<Value> {
    let mut array = env.create_array(results.len() as u32)?;
    for (i, r) in results.into_iter().enumerate() {
        match r {
            Ok(pt) => array.set(i as u32, js::buffer_from_vec(env, pt)?)?,
            Err(e) if return_errors => {
                array.set(i as u32, env.create_error(errors::to_js(env, e))?)?
            }
            Err(e) => return Err(errors::to_js(env, e)),
        }
    }
    Ok(Value(array.raw()))
}

/// `{ plaintext, wrapped }` for `generateDataKey`.
fn data_key(env: &Env, gk: GeneratedKey) -> Result<Value> {
    let mut obj = Object::new(env)?;
    obj.set_named_property(
        "plaintext",
        js::buffer(env, gk.plaintext.dangerous_bytes())?,
    )?;
    obj.set_named_property("wrapped", js::buffer(env, &gk.wrapped)?)?;
    Ok(Value(obj.raw()))
}

fn dek_out(env: &Env, dek: dekbox_core::DataKey) -> Result<Value> {
    js::buffer(env, dek.dangerous_bytes())
}

/// How an async method ends: at once (a cache hit), or later (a promise
/// settled from dekbox's runtime).
enum Outcome {
    Now(Value),
    Later(Value),
}

/// The promise an async method returns: errors in argument conversion
/// reject it too, as an `async function`'s would.
fn promise(env: &Env, outcome: Result<Outcome>) -> Result<Value> {
    match outcome {
        Ok(Outcome::Later(p)) => Ok(p),
        Ok(Outcome::Now(v)) => js::settled(env, Ok(v)),
        Err(e) => js::settled(env, Err(e)),
    }
}

/// Runs a facade future on dekbox's runtime and settles a promise with its
/// result, converted on the JavaScript thread.
fn later<T: Send + 'static>(
    env: &Env,
    fut: impl Future<Output = dekbox_core::Result<T>> + Send + 'static,
    convert: impl FnOnce(&Env, T) -> Result<Value> + Send + 'static,
) -> Result<Outcome> {
    // Start the runtime first: once the deferred exists it must be settled.
    dekbox_facade::runtime::handle().map_err(|e| errors::to_js(env, e))?;
    let (deferred, promise) = env.create_deferred::<Value, _>()?;
    let spawned = dekbox_facade::runtime::spawn(fut, move |r| {
        deferred.resolve(move |env| match r {
            Ok(v) => convert(&env, v),
            Err(e) => Err(errors::to_js(&env, e)),
        })
    });
    spawned.map_err(|e| errors::to_js(env, e))?;
    Ok(Outcome::Later(Value(promise.raw())))
}

/// Envelope encryption with cached data keys. Make one per application and
/// share it; it is safe to use from many async tasks at once.
#[napi(js_name = "Box")]
pub struct JsBox {
    inner: Dekbox,
}

#[napi]
impl JsBox {
    /// Opens the keys (no network I/O). `options` is a key URI, or
    /// `{ key }` / `{ keys, primary }` with AWS and cache settings; with no
    /// key at all, `DEKBOX_KEY` names it.
    #[napi(constructor, ts_args_type = "options?: BoxOptions | string")]
    pub fn new(env: Env, options: Option<Unknown<'_>>) -> Result<Self> {
        let config = box_config(&env, options)?;
        Ok(Self {
            inner: config.open().map_err(|e| errors::to_js(&env, e))?,
        })
    }

    /// Seals `data` (bytes, or a string as UTF-8). Resolves to a `Buffer`,
    /// or a `dekbox:v1:` string with `{ text: true }`.
    #[napi(
        ts_generic_types = "T extends boolean = false",
        ts_args_type = "data: Input, options?: EncryptOptions<T>",
        ts_return_type = "Promise<Sealed<T>>"
    )]
    pub fn encrypt(
        &self,
        env: Env,
        data: Unknown<'_>,
        options: Option<Unknown<'_>>,
    ) -> Result<Value> {
        let outcome = (|| {
            let o = Options::new(&env, options)?;
            let (ctx, text, aad) = (o.context(&env)?, o.flag(&env, "text")?, o.get("aad")?);
            let (data, aad) = (bytes_arg(&env, &data, "data")?, aad_arg(&env, aad)?);
            match self
                .inner
                .encrypt_now(&Js(&env), &data, &ctx, &aad, form(text))
            {
                Some(Ok(Now::Host(sealed))) => return Ok(Outcome::Now(sealed)),
                Some(Ok(Now::Vec(sealed))) => {
                    return sealed_out(&env, sealed, text).map(Outcome::Now);
                }
                Some(Err(e)) => return Err(e),
                None => {}
            }
            let fut =
                self.inner
                    .encrypt_async(data.into_owned(), ctx, aad.into_owned(), form(text));
            later(&env, fut, move |env, out| sealed_out(env, out, text))
        })();
        promise(&env, outcome)
    }

    /// `encrypt` on the calling thread.
    #[napi(
        ts_generic_types = "T extends boolean = false",
        ts_args_type = "data: Input, options?: EncryptOptions<T>",
        ts_return_type = "Sealed<T>"
    )]
    pub fn encrypt_sync(
        &self,
        env: Env,
        data: Unknown<'_>,
        options: Option<Unknown<'_>>,
    ) -> Result<Value> {
        let o = Options::new(&env, options)?;
        let (ctx, text, aad) = (o.context(&env)?, o.flag(&env, "text")?, o.get("aad")?);
        let (data, aad) = (bytes_arg(&env, &data, "data")?, aad_arg(&env, aad)?);
        let host = Js(&env);
        if text {
            let sealed = self.inner.encrypt(&host, &data, &ctx, &aad, Form::Text)?;
            return sealed_out(&env, sealed, true);
        }
        self.inner.encrypt_into(&host, &data, &ctx, &aad)
    }

    /// Opens a sealed value (`Buffer`, `Uint8Array` or string). Resolves to
    /// the plaintext `Buffer`.
    #[napi(
        ts_args_type = "data: Input, options?: DecryptOptions",
        ts_return_type = "Promise<Buffer>"
    )]
    pub fn decrypt(
        &self,
        env: Env,
        data: Unknown<'_>,
        options: Option<Unknown<'_>>,
    ) -> Result<Value> {
        let outcome = (|| {
            let o = Options::new(&env, options)?;
            let (ctx, aad) = (o.context(&env)?, o.get("aad")?);
            let (data, aad) = (bytes_arg(&env, &data, "data")?, aad_arg(&env, aad)?);
            if let Some(r) = self.inner.decrypt_now(&Js(&env), &data, &ctx, &aad) {
                return r.map(Outcome::Now);
            }
            let fut = self
                .inner
                .decrypt_async(data.into_owned(), ctx, aad.into_owned());
            later(&env, fut, js::buffer_from_vec)
        })();
        promise(&env, outcome)
    }

    /// `decrypt` on the calling thread.
    #[napi(
        ts_args_type = "data: Input, options?: DecryptOptions",
        ts_return_type = "Buffer"
    )]
    pub fn decrypt_sync(
        &self,
        env: Env,
        data: Unknown<'_>,
        options: Option<Unknown<'_>>,
    ) -> Result<Value> {
        let o = Options::new(&env, options)?;
        let (ctx, aad) = (o.context(&env)?, o.get("aad")?);
        let (data, aad) = (bytes_arg(&env, &data, "data")?, aad_arg(&env, aad)?);
        self.inner.decrypt_into(&Js(&env), &data, &ctx, &aad)
    }

    /// Seals many values under one context (one KMS call at most);
    /// `aads`, if given, has one entry per value.
    #[napi(
        ts_generic_types = "T extends boolean = false",
        ts_args_type = "items: Input[], options?: EncryptManyOptions<T>",
        ts_return_type = "Promise<Sealed<T>[]>"
    )]
    pub fn encrypt_many(
        &self,
        env: Env,
        items: Unknown<'_>,
        options: Option<Unknown<'_>>,
    ) -> Result<Value> {
        let outcome = (|| {
            let o = Options::new(&env, options)?;
            let (items, ctx, aads) = (
                items_arg(&env, &items, "items")?,
                o.context(&env)?,
                o.aads(&env)?,
            );
            let text = o.flag(&env, "text")?;
            let fut = self.inner.encrypt_many_async(items, ctx, aads, form(text));
            later(&env, fut, move |env, out| sealed_list(env, out, text))
        })();
        promise(&env, outcome)
    }

    /// `encryptMany` on the calling thread.
    #[napi(
        ts_generic_types = "T extends boolean = false",
        ts_args_type = "items: Input[], options?: EncryptManyOptions<T>",
        ts_return_type = "Sealed<T>[]"
    )]
    pub fn encrypt_many_sync(
        &self,
        env: Env,
        items: Unknown<'_>,
        options: Option<Unknown<'_>>,
    ) -> Result<Value> {
        let o = Options::new(&env, options)?;
        let (items, ctx, aads) = (
            items_arg(&env, &items, "items")?,
            o.context(&env)?,
            o.aads(&env)?,
        );
        let text = o.flag(&env, "text")?;
        let out = self
            .inner
            .encrypt_many(&Js(&env), &items, &ctx, aads.as_deref(), form(text))?;
        sealed_list(&env, out, text)
    }

    /// Opens many values (one KMS call per data key at most). Rejects with
    /// the first error, or with `{ returnErrors: true }` puts each failure's
    /// `DekboxError` in its place.
    #[napi(
        ts_args_type = "items: Input[], options?: DecryptManyOptions",
        ts_return_type = "Promise<Array<Buffer | DekboxError>>"
    )]
    pub fn decrypt_many(
        &self,
        env: Env,
        items: Unknown<'_>,
        options: Option<Unknown<'_>>,
    ) -> Result<Value> {
        let outcome = (|| {
            let o = Options::new(&env, options)?;
            let (items, ctx, aads) = (
                items_arg(&env, &items, "items")?,
                o.context(&env)?,
                o.aads(&env)?,
            );
            let return_errors = o.flag(&env, "returnErrors")?;
            let fut = self.inner.decrypt_many_async(items, ctx, aads);
            later(&env, fut, move |env, r| opened_list(env, r, return_errors))
        })();
        promise(&env, outcome)
    }

    /// `decryptMany` on the calling thread.
    #[napi(
        ts_args_type = "items: Input[], options?: DecryptManyOptions",
        ts_return_type = "Array<Buffer | DekboxError>"
    )]
    pub fn decrypt_many_sync(
        &self,
        env: Env,
        items: Unknown<'_>,
        options: Option<Unknown<'_>>,
    ) -> Result<Value> {
        let o = Options::new(&env, options)?;
        let (items, ctx, aads) = (
            items_arg(&env, &items, "items")?,
            o.context(&env)?,
            o.aads(&env)?,
        );
        let return_errors = o.flag(&env, "returnErrors")?;
        let results = self
            .inner
            .decrypt_many(&Js(&env), &items, &ctx, aads.as_deref())?;
        opened_list(&env, results, return_errors)
    }

    /// Moves a sealed value to the primary key without re-encrypting its
    /// data. Resolves to the value in the form it was given.
    #[napi(
        ts_generic_types = "T extends Input",
        ts_args_type = "data: T, options?: ContextOptions",
        ts_return_type = "Promise<T extends string ? string : Buffer>"
    )]
    pub fn rewrap(
        &self,
        env: Env,
        data: Unknown<'_>,
        options: Option<Unknown<'_>>,
    ) -> Result<Value> {
        let outcome = (|| {
            let o = Options::new(&env, options)?;
            let text = data.get_type()? == ValueType::String;
            let ctx = o.context(&env)?;
            let data = bytes_arg(&env, &data, "data")?;
            let fut = self.inner.rewrap_async(data.into_owned(), ctx);
            later(&env, fut, move |env, r| sealed_out(env, r.message, text))
        })();
        promise(&env, outcome)
    }

    /// `rewrap` on the calling thread.
    #[napi(
        ts_generic_types = "T extends Input",
        ts_args_type = "data: T, options?: ContextOptions",
        ts_return_type = "T extends string ? string : Buffer"
    )]
    pub fn rewrap_sync(
        &self,
        env: Env,
        data: Unknown<'_>,
        options: Option<Unknown<'_>>,
    ) -> Result<Value> {
        let o = Options::new(&env, options)?;
        let text = data.get_type()? == ValueType::String;
        let ctx = o.context(&env)?;
        let data = bytes_arg(&env, &data, "data")?;
        let r = self.inner.rewrap(&Js(&env), &data, &ctx)?;
        sealed_out(&env, r.message, text)
    }

    /// A fresh data key under the primary key (not cached), for data you
    /// seal yourself: `{ plaintext, wrapped }`. Overwrite `plaintext`
    /// (`.fill(0)`) when done with it.
    #[napi(
        ts_args_type = "options?: ContextOptions",
        ts_return_type = "Promise<DataKey>"
    )]
    pub fn generate_data_key(&self, env: Env, options: Option<Unknown<'_>>) -> Result<Value> {
        let outcome = (|| {
            let ctx = Options::new(&env, options)?.context(&env)?;
            later(&env, self.inner.generate_data_key_async(ctx), data_key)
        })();
        promise(&env, outcome)
    }

    /// `generateDataKey` on the calling thread.
    #[napi(ts_args_type = "options?: ContextOptions", ts_return_type = "DataKey")]
    pub fn generate_data_key_sync(&self, env: Env, options: Option<Unknown<'_>>) -> Result<Value> {
        let ctx = Options::new(&env, options)?.context(&env)?;
        data_key(&env, self.inner.generate_data_key(&Js(&env), &ctx)?)
    }

    /// Unwraps a data key from `generateDataKey` (wrapped by keyring key
    /// `label`, default the primary).
    #[napi(
        ts_args_type = "wrapped: Input, options?: UnwrapOptions",
        ts_return_type = "Promise<Buffer>"
    )]
    pub fn unwrap(
        &self,
        env: Env,
        wrapped: Unknown<'_>,
        options: Option<Unknown<'_>>,
    ) -> Result<Value> {
        let outcome = (|| {
            let o = Options::new(&env, options)?;
            let (ctx, label) = (o.context(&env)?, o.string(&env, "label")?);
            let wrapped = bytes_arg(&env, &wrapped, "wrapped")?;
            let fut = self
                .inner
                .unwrap_data_key_async(wrapped.into_owned(), ctx, label);
            later(&env, fut, dek_out)
        })();
        promise(&env, outcome)
    }

    /// `unwrap` on the calling thread.
    #[napi(
        ts_args_type = "wrapped: Input, options?: UnwrapOptions",
        ts_return_type = "Buffer"
    )]
    pub fn unwrap_sync(
        &self,
        env: Env,
        wrapped: Unknown<'_>,
        options: Option<Unknown<'_>>,
    ) -> Result<Value> {
        let o = Options::new(&env, options)?;
        let (ctx, label) = (o.context(&env)?, o.string(&env, "label")?);
        let wrapped = bytes_arg(&env, &wrapped, "wrapped")?;
        let dek = self
            .inner
            .unwrap_data_key(&Js(&env), &wrapped, &ctx, label.as_deref())?;
        dek_out(&env, dek)
    }

    /// Cache and KMS counters.
    #[napi(ts_return_type = "CacheStats")]
    pub fn cache_stats(&self) -> serde_json::Value {
        camel_keys(serde_json::to_value(self.inner.cache_stats()).unwrap_or_default())
    }

    /// Each key's label, or its URI when unlabelled.
    #[napi(getter)]
    pub fn keys(&self) -> Vec<String> {
        self.inner.key_names()
    }

    /// The label (or URI) new data is sealed under.
    #[napi(getter)]
    pub fn primary(&self) -> String {
        self.inner.primary_key_name()
    }
}

/// The `Box` options (camelCase) as dekbox-facade's `Config` (snake_case).
fn box_config(env: &Env, options: Option<Unknown<'_>>) -> Result<Config> {
    let Some(v) = options else {
        return Ok(Config::default());
    };
    match v.get_type()? {
        ValueType::Undefined | ValueType::Null => return Ok(Config::default()),
        ValueType::String => {
            return Ok(Config {
                key: Some(js::from_value::<String>(&v)?),
                ..Config::default()
            });
        }
        ValueType::Object if !v.is_array()? => {}
        _ => {
            return Err(errors::type_error(
                env,
                format!(
                    "Box options must be a key URI or an object, not {}",
                    convert::type_name(&v)
                ),
            ));
        }
    }
    let mut value = snake_keys(js::from_value::<serde_json::Value>(&v)?);
    if let Some(cache) = value.get_mut("cache") {
        match cache {
            serde_json::Value::Bool(false) => {
                *cache = serde_json::to_value(dekbox_core::cache::CacheConfig::disabled())
                    .unwrap_or_default();
            }
            serde_json::Value::Object(_) => *cache = snake_keys(cache.take()),
            _ => {}
        }
    }
    if let Some(obj) = value.as_object_mut() {
        obj.retain(|_, v| !v.is_null());
    }
    serde_json::from_value(value).map_err(|e| {
        errors::type_error(
            env,
            format!("Box options: {}", camel_message(&e.to_string())),
        )
    })
}

/// `grantTokens` → `grant_tokens`, for an object's own keys.
fn snake_keys(v: serde_json::Value) -> serde_json::Value {
    match v {
        serde_json::Value::Object(m) => m
            .into_iter()
            .map(|(k, v)| (snake(&k), v))
            .collect::<serde_json::Map<_, _>>()
            .into(),
        other => other,
    }
}

fn camel_keys(v: serde_json::Value) -> serde_json::Value {
    match v {
        serde_json::Value::Object(m) => m
            .into_iter()
            .map(|(k, v)| (camel(&k), v))
            .collect::<serde_json::Map<_, _>>()
            .into(),
        other => other,
    }
}

fn snake(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 4);
    for c in s.chars() {
        if c.is_ascii_uppercase() {
            out.push('_');
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

fn camel(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut up = false;
    for c in s.chars() {
        if c == '_' {
            up = true;
        } else if up {
            out.push(c.to_ascii_uppercase());
            up = false;
        } else {
            out.push(c);
        }
    }
    out
}

/// serde names fields in backticks: show them as JavaScript spells them.
fn camel_message(m: &str) -> String {
    m.split('`')
        .enumerate()
        .map(|(i, part)| {
            if i % 2 == 1 {
                camel(part)
            } else {
                part.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("`")
}

/// The version of the native library.
#[napi(js_name = "nativeVersion")]
pub fn native_version() -> &'static str {
    env!("CARGO_PKG_VERSION")
}
