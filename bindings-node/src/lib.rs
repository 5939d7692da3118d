//! The native half of the `dekbox` npm package (napi-rs). Each method
//! converts its arguments, calls one `dekbox_facade::Dekbox` method, and
//! converts the result; everything else lives in Rust, once, for every
//! language. `index.js` adds the error classes.
//!
//! A panic in a method becomes a JavaScript `Error` (`catch_unwind`); one
//! in a completion on the JS thread aborts the process.
//!
//! `index.js` wraps each method: it reads the options object (own
//! properties of a plain object, unknown names refused) and passes its
//! fields here as arguments; the `ts_args_type` of each method describes
//! that public form. So all of a call's JavaScript (getters, proxies) has
//! run before a method here borrows a `Buffer`'s bytes, and none runs while
//! it holds them.
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

use convert::{
    aad_arg, aads_opt, box_config, bytes_arg, context_opt, flag_opt, items_arg, string_opt,
    whole_opt,
};
use dekbox_core::root::blind::{IndexOptions, Normalize, Slowness};
use dekbox_core::root::value::Mode;
use dekbox_core::{Form, GeneratedKey};
use dekbox_facade::{Dekbox, Host, Now};
use errors::{Fail, Res};
use js::Value;
use napi::bindgen_prelude::{JsObjectValue, Object, Unknown};
use napi::{Env, JsValue, Result, ValueType};
use napi_derive::napi;
use std::future::Future;
use std::mem::MaybeUninit;

/// The JavaScript thread, as the facade sees it: no lock to leave,
/// `Buffer`s filled in place, failures kept as Rust values until the call
/// returns.
struct Js<'e>(&'e Env);

impl Host for Js<'_> {
    type Bytes = Value;
    type Error = Fail;

    fn error(&self, e: dekbox_facade::Error) -> Fail {
        Fail::Dekbox(e)
    }

    fn release<R: Send>(&self, f: impl FnOnce() -> R + Send) -> R {
        f()
    }

    fn new_bytes(
        &self,
        len: usize,
        fill: impl FnOnce(&mut [MaybeUninit<u8>]) -> std::result::Result<(), Fail>,
    ) -> Res<Value> {
        js::new_buffer(self.0, len, fill)
    }
}

/// A synchronous method's result: failures become JavaScript errors only
/// here, after the method's borrows have ended.
fn done(env: &Env, r: Res<Value>) -> Result<Value> {
    r.map_err(|f| f.into_js(env))
}

fn form(text: bool) -> Form {
    if text { Form::Text } else { Form::Binary }
}

/// A sealed value: a `Buffer`, or a `dekbox:v1:` string in text form.
fn sealed_out(env: &Env, bytes: Vec<u8>, text: bool) -> Res<Value> {
    if !text {
        return Ok(js::buffer_from_vec(env, bytes)?);
    }
    let s = String::from_utf8(bytes)
        .map_err(|_| Fail::Dekbox(dekbox_core::Error::ApiMisuse("text form is not UTF-8")))?;
    Ok(Value(env.create_string(&s)?.raw()))
}

fn sealed_list(env: &Env, out: Vec<Vec<u8>>, text: bool) -> Res<Value> {
    let mut array = env.create_array(out.len() as u32)?;
    for (i, o) in out.into_iter().enumerate() {
        array.set(i as u32, sealed_out(env, o, text)?)?;
    }
    Ok(Value(array.raw()))
}

/// Opened values: the first error, or with `returnErrors` each failure's
/// `DekboxError` in its place. (No caller bytes are borrowed here: batches
/// are copies.)
fn opened_list(
    env: &Env,
    results: Vec<dekbox_core::Result<Vec<u8>>>,
    return_errors: bool,
) -> Res<Value> {
    let mut array = env.create_array(results.len() as u32)?;
    for (i, r) in results.into_iter().enumerate() {
        match r {
            Ok(pt) => array.set(i as u32, js::buffer_from_vec(env, pt)?)?,
            Err(e) if return_errors => array.set(i as u32, Value(errors::error_value(env, e)))?,
            Err(e) => return Err(Fail::Dekbox(e)),
        }
    }
    Ok(Value(array.raw()))
}

/// `{ plaintext, wrapped }` for `generateDataKey`.
fn data_key(env: &Env, gk: GeneratedKey) -> Res<Value> {
    let mut obj = Object::new(env)?;
    obj.set_named_property(
        "plaintext",
        js::buffer(env, gk.plaintext.dangerous_bytes())?,
    )?;
    obj.set_named_property("wrapped", js::buffer(env, &gk.wrapped)?)?;
    Ok(Value(obj.raw()))
}

/// A message key as its text token (a string: for JSON and HTTP).
fn token_out(env: &Env, key: dekbox_core::MessageKey) -> Res<Value> {
    let token = key.token(dekbox_core::Form::Text)?;
    let s = std::str::from_utf8(&token).unwrap_or_default();
    Ok(Value(env.create_string(s)?.raw()))
}

fn dek_out(env: &Env, dek: dekbox_core::DataKey) -> Res<Value> {
    Ok(js::buffer(env, dek.dangerous_bytes())?)
}

/// How an async method ends: at once (a cache hit), or later (a promise
/// settled from dekbox's runtime).
enum Outcome {
    Now(Value),
    Later(Value),
}

/// The promise an async method returns. Failures before the work starts
/// (argument types, a throwing getter) reject it too, as an `async
/// function`'s would.
fn promise(env: &Env, outcome: Res<Outcome>) -> Result<Value> {
    match outcome {
        Ok(Outcome::Later(p)) => Ok(p),
        Ok(Outcome::Now(v)) => js::settled(env, Ok(v)),
        Err(f) => {
            let e = match js::take_exception(env) {
                Some(thrown) => js::from_error_value(env, thrown),
                None => f.into_js(env),
            };
            js::settled(env, Err(e))
        }
    }
}

/// Runs a facade future on dekbox's runtime; its result is converted and
/// the promise settled on this realm's JS thread (or dropped, if the realm
/// has ended meanwhile: a terminated worker).
fn later<T: Send + 'static>(
    env: &Env,
    fut: impl Future<Output = dekbox_core::Result<T>> + Send + 'static,
    convert: impl FnOnce(&Env, T) -> Res<Value> + Send + 'static,
) -> Res<Outcome> {
    let completer = errors::realm(env)?.completer(env)?;
    // Start the runtime first: once the promise exists it must be settled.
    dekbox_facade::runtime::handle()?;
    let (deferred, promise) = js::new_promise(env)?;
    let queue = completer.clone();
    dekbox_facade::runtime::spawn(fut, move |r| {
        queue.send(Box::new(move |env: Option<&Env>| {
            let Some(env) = env else { return };
            let outcome = r.map_err(Fail::Dekbox).and_then(|v| convert(env, v));
            let outcome = outcome.map_err(|f| f.into_js(env));
            js::settle(env, deferred, outcome);
        }))
    })?;
    // Counted only once it runs; its completion cannot reach this thread
    // before we return to the event loop.
    completer.started(env);
    Ok(Outcome::Later(promise))
}

/// The engine behind a JavaScript `Box` (`index.js`), held in an external
/// that only this addon can make; every function checks it.
fn box_arg<'a>(env: &'a Env, handle: &Unknown<'_>) -> Res<&'a Dekbox> {
    js::external_ref::<Dekbox>(env, handle)
        .ok_or_else(|| errors::type_error("not a dekbox Box".into()))
}

// `index.js`'s `Box` calls these with its engine and the fields of the
// options object (see its doc comments and types.d.ts for the public API).

/// Opens the keys (no network I/O): a key URI, or the `Box` options.
#[napi(
    js_name = "_open",
    catch_unwind,
    ts_args_type = "options?: BoxOptions | string",
    ts_return_type = "unknown"
)]
pub fn open(env: Env, options: Option<Unknown<'_>>) -> Result<Value> {
    let opened = box_config(&env, options).and_then(|c| c.open().map_err(Fail::Dekbox));
    match opened {
        Ok(inner) => js::external(&env, inner),
        Err(f) => Err(f.into_js(&env)),
    }
}

/// Seals `data` (bytes, or a string as UTF-8). Resolves to a `Buffer`,
/// or a `dekbox:v1:` string with `{ text: true }`.
#[napi(js_name = "_encrypt", catch_unwind, ts_return_type = "unknown")]
pub fn encrypt(
    env: Env,
    handle: Unknown<'_>,
    data: Unknown<'_>,
    context: Option<Unknown<'_>>,
    aad: Option<Unknown<'_>>,
    text: Option<Unknown<'_>>,
) -> Result<Value> {
    let outcome = (|| {
        let inner = box_arg(&env, &handle)?;
        let (ctx, text) = (context_opt(&env, context)?, flag_opt(text, "options.text")?);
        let (data, aad) = (bytes_arg(&data, "data")?, aad_arg(aad)?);
        match inner.encrypt_now(&Js(&env), &data, &ctx, &aad, form(text)) {
            Some(Ok(Now::Host(sealed))) => return Ok(Outcome::Now(sealed)),
            Some(Ok(Now::Vec(sealed))) => {
                return sealed_out(&env, sealed, text).map(Outcome::Now);
            }
            Some(Err(e)) => return Err(e),
            None => {}
        }
        let fut = inner.encrypt_async(data.into_owned(), ctx, aad.into_owned(), form(text));
        later(&env, fut, move |env, out| sealed_out(env, out, text))
    })();
    promise(&env, outcome)
}

/// `encrypt` on the calling thread.
#[napi(js_name = "_encryptSync", catch_unwind, ts_return_type = "unknown")]
pub fn encrypt_sync(
    env: Env,
    handle: Unknown<'_>,
    data: Unknown<'_>,
    context: Option<Unknown<'_>>,
    aad: Option<Unknown<'_>>,
    text: Option<Unknown<'_>>,
) -> Result<Value> {
    let r = (|| {
        let inner = box_arg(&env, &handle)?;
        let (ctx, text) = (context_opt(&env, context)?, flag_opt(text, "options.text")?);
        let (data, aad) = (bytes_arg(&data, "data")?, aad_arg(aad)?);
        let host = Js(&env);
        if text {
            let sealed = inner.encrypt(&host, &data, &ctx, &aad, Form::Text)?;
            return sealed_out(&env, sealed, true);
        }
        inner.encrypt_into(&host, &data, &ctx, &aad)
    })();
    done(&env, r)
}

/// Opens a sealed value (`Buffer`, `Uint8Array` or string). Resolves to
/// the plaintext `Buffer`.
#[napi(js_name = "_decrypt", catch_unwind, ts_return_type = "unknown")]
pub fn decrypt(
    env: Env,
    handle: Unknown<'_>,
    data: Unknown<'_>,
    context: Option<Unknown<'_>>,
    aad: Option<Unknown<'_>>,
) -> Result<Value> {
    let outcome = (|| {
        let inner = box_arg(&env, &handle)?;
        let ctx = context_opt(&env, context)?;
        let (data, aad) = (bytes_arg(&data, "data")?, aad_arg(aad)?);
        if let Some(r) = inner.decrypt_now(&Js(&env), &data, &ctx, &aad) {
            return r.map(Outcome::Now);
        }
        let fut = inner.decrypt_async(data.into_owned(), ctx, aad.into_owned());
        later(&env, fut, |env, pt| Ok(js::buffer_from_vec(env, pt)?))
    })();
    promise(&env, outcome)
}

/// `decrypt` on the calling thread.
#[napi(js_name = "_decryptSync", catch_unwind, ts_return_type = "unknown")]
pub fn decrypt_sync(
    env: Env,
    handle: Unknown<'_>,
    data: Unknown<'_>,
    context: Option<Unknown<'_>>,
    aad: Option<Unknown<'_>>,
) -> Result<Value> {
    let r = (|| {
        let inner = box_arg(&env, &handle)?;
        let ctx = context_opt(&env, context)?;
        let (data, aad) = (bytes_arg(&data, "data")?, aad_arg(aad)?);
        inner.decrypt_into(&Js(&env), &data, &ctx, &aad)
    })();
    done(&env, r)
}

/// Seals many values under one context (one KMS call at most);
/// `aads`, if given, has one entry per value.
#[napi(js_name = "_encryptMany", catch_unwind, ts_return_type = "unknown")]
pub fn encrypt_many(
    env: Env,
    handle: Unknown<'_>,
    items: Unknown<'_>,
    context: Option<Unknown<'_>>,
    aads: Option<Unknown<'_>>,
    text: Option<Unknown<'_>>,
) -> Result<Value> {
    let outcome = (|| {
        let inner = box_arg(&env, &handle)?;
        let (ctx, aads) = (context_opt(&env, context)?, aads_opt(aads)?);
        let text = flag_opt(text, "options.text")?;
        let items = items_arg(&items, "items")?;
        let fut = inner.encrypt_many_async(items, ctx, aads, form(text));
        later(&env, fut, move |env, out| sealed_list(env, out, text))
    })();
    promise(&env, outcome)
}

/// `encryptMany` on the calling thread.
#[napi(js_name = "_encryptManySync", catch_unwind, ts_return_type = "unknown")]
pub fn encrypt_many_sync(
    env: Env,
    handle: Unknown<'_>,
    items: Unknown<'_>,
    context: Option<Unknown<'_>>,
    aads: Option<Unknown<'_>>,
    text: Option<Unknown<'_>>,
) -> Result<Value> {
    let r = (|| {
        let inner = box_arg(&env, &handle)?;
        let (ctx, aads) = (context_opt(&env, context)?, aads_opt(aads)?);
        let text = flag_opt(text, "options.text")?;
        let items = items_arg(&items, "items")?;
        let out = inner.encrypt_many(&Js(&env), &items, &ctx, aads.as_deref(), form(text))?;
        sealed_list(&env, out, text)
    })();
    done(&env, r)
}

/// Opens many values (one KMS call per data key at most). Rejects with
/// the first error, or with `{ returnErrors: true }` puts each failure's
/// `DekboxError` in its place.
#[napi(js_name = "_decryptMany", catch_unwind, ts_return_type = "unknown")]
pub fn decrypt_many(
    env: Env,
    handle: Unknown<'_>,
    items: Unknown<'_>,
    context: Option<Unknown<'_>>,
    aads: Option<Unknown<'_>>,
    return_errors: Option<Unknown<'_>>,
) -> Result<Value> {
    let outcome = (|| {
        let inner = box_arg(&env, &handle)?;
        let (ctx, aads) = (context_opt(&env, context)?, aads_opt(aads)?);
        let return_errors = flag_opt(return_errors, "options.returnErrors")?;
        let items = items_arg(&items, "items")?;
        let fut = inner.decrypt_many_async(items, ctx, aads);
        later(&env, fut, move |env, r| opened_list(env, r, return_errors))
    })();
    promise(&env, outcome)
}

/// `decryptMany` on the calling thread.
#[napi(js_name = "_decryptManySync", catch_unwind, ts_return_type = "unknown")]
pub fn decrypt_many_sync(
    env: Env,
    handle: Unknown<'_>,
    items: Unknown<'_>,
    context: Option<Unknown<'_>>,
    aads: Option<Unknown<'_>>,
    return_errors: Option<Unknown<'_>>,
) -> Result<Value> {
    let r = (|| {
        let inner = box_arg(&env, &handle)?;
        let (ctx, aads) = (context_opt(&env, context)?, aads_opt(aads)?);
        let return_errors = flag_opt(return_errors, "options.returnErrors")?;
        let items = items_arg(&items, "items")?;
        let results = inner.decrypt_many(&Js(&env), &items, &ctx, aads.as_deref())?;
        opened_list(&env, results, return_errors)
    })();
    done(&env, r)
}

/// Moves a sealed value to the primary key without re-encrypting its
/// data. Resolves to the value in the form it was given.
#[napi(js_name = "_rewrap", catch_unwind, ts_return_type = "unknown")]
pub fn rewrap(
    env: Env,
    handle: Unknown<'_>,
    data: Unknown<'_>,
    context: Option<Unknown<'_>>,
) -> Result<Value> {
    let outcome = (|| {
        let inner = box_arg(&env, &handle)?;
        let ctx = context_opt(&env, context)?;
        let text = data.get_type()? == ValueType::String;
        let data = bytes_arg(&data, "data")?;
        let fut = inner.rewrap_async(data.into_owned(), ctx);
        later(&env, fut, move |env, r| sealed_out(env, r.message, text))
    })();
    promise(&env, outcome)
}

/// `rewrap` on the calling thread.
#[napi(js_name = "_rewrapSync", catch_unwind, ts_return_type = "unknown")]
pub fn rewrap_sync(
    env: Env,
    handle: Unknown<'_>,
    data: Unknown<'_>,
    context: Option<Unknown<'_>>,
) -> Result<Value> {
    let r = (|| {
        let inner = box_arg(&env, &handle)?;
        let ctx = context_opt(&env, context)?;
        let text = data.get_type()? == ValueType::String;
        let data = bytes_arg(&data, "data")?;
        let r = inner.rewrap(&Js(&env), &data, &ctx)?;
        sealed_out(&env, r.message, text)
    })();
    done(&env, r)
}

/// A fresh data key under the primary key (not cached), for data you
/// seal yourself: `{ plaintext, wrapped }`. Overwrite `plaintext`
/// (`.fill(0)`) when done with it.
#[napi(js_name = "_generateDataKey", catch_unwind, ts_return_type = "unknown")]
pub fn generate_data_key(
    env: Env,
    handle: Unknown<'_>,
    context: Option<Unknown<'_>>,
) -> Result<Value> {
    let outcome = (|| {
        let inner = box_arg(&env, &handle)?;
        let ctx = context_opt(&env, context)?;
        later(&env, inner.generate_data_key_async(ctx), data_key)
    })();
    promise(&env, outcome)
}

/// `generateDataKey` on the calling thread.
#[napi(
    js_name = "_generateDataKeySync",
    catch_unwind,
    ts_return_type = "unknown"
)]
pub fn generate_data_key_sync(
    env: Env,
    handle: Unknown<'_>,
    context: Option<Unknown<'_>>,
) -> Result<Value> {
    let r = (|| {
        let inner = box_arg(&env, &handle)?;
        let ctx = context_opt(&env, context)?;
        data_key(&env, inner.generate_data_key(&Js(&env), &ctx)?)
    })();
    done(&env, r)
}

/// Unwraps a data key from `generateDataKey` (wrapped by keyring key
/// `label`, default the primary).
#[napi(js_name = "_unwrap", catch_unwind, ts_return_type = "unknown")]
pub fn unwrap(
    env: Env,
    handle: Unknown<'_>,
    wrapped: Unknown<'_>,
    context: Option<Unknown<'_>>,
    label: Option<Unknown<'_>>,
) -> Result<Value> {
    let outcome = (|| {
        let inner = box_arg(&env, &handle)?;
        let (ctx, label) = (
            context_opt(&env, context)?,
            string_opt(label, "options.label")?,
        );
        let wrapped = bytes_arg(&wrapped, "wrapped")?;
        let fut = inner.unwrap_data_key_async(wrapped.into_owned(), ctx, label);
        later(&env, fut, dek_out)
    })();
    promise(&env, outcome)
}

/// `unwrap` on the calling thread.
#[napi(js_name = "_unwrapSync", catch_unwind, ts_return_type = "unknown")]
pub fn unwrap_sync(
    env: Env,
    handle: Unknown<'_>,
    wrapped: Unknown<'_>,
    context: Option<Unknown<'_>>,
    label: Option<Unknown<'_>>,
) -> Result<Value> {
    let r = (|| {
        let inner = box_arg(&env, &handle)?;
        let (ctx, label) = (
            context_opt(&env, context)?,
            string_opt(label, "options.label")?,
        );
        let wrapped = bytes_arg(&wrapped, "wrapped")?;
        let dek = inner.unwrap_data_key(&Js(&env), &wrapped, &ctx, label.as_deref())?;
        dek_out(&env, dek)
    })();
    done(&env, r)
}

/// The data key of a sealed value, as a message-key token, for a client
/// without KMS access (a browser page).
#[napi(js_name = "_messageDataKey", catch_unwind, ts_return_type = "unknown")]
pub fn message_data_key(
    env: Env,
    handle: Unknown<'_>,
    data: Unknown<'_>,
    context: Option<Unknown<'_>>,
) -> Result<Value> {
    let outcome = (|| {
        let inner = box_arg(&env, &handle)?;
        let ctx = context_opt(&env, context)?;
        let data = bytes_arg(&data, "data")?;
        later(
            &env,
            inner.message_data_key_async(data.into_owned(), ctx),
            token_out,
        )
    })();
    promise(&env, outcome)
}

/// `messageDataKey` on the calling thread.
#[napi(
    js_name = "_messageDataKeySync",
    catch_unwind,
    ts_return_type = "unknown"
)]
pub fn message_data_key_sync(
    env: Env,
    handle: Unknown<'_>,
    data: Unknown<'_>,
    context: Option<Unknown<'_>>,
) -> Result<Value> {
    let r = (|| {
        let inner = box_arg(&env, &handle)?;
        let ctx = context_opt(&env, context)?;
        let data = bytes_arg(&data, "data")?;
        token_out(&env, inner.message_data_key(&Js(&env), &data, &ctx)?)
    })();
    done(&env, r)
}

/// A fresh message data key, as a token, for a client to seal with.
#[napi(
    js_name = "_newMessageDataKey",
    catch_unwind,
    ts_return_type = "unknown"
)]
pub fn new_message_data_key(
    env: Env,
    handle: Unknown<'_>,
    context: Option<Unknown<'_>>,
) -> Result<Value> {
    let outcome = (|| {
        let inner = box_arg(&env, &handle)?;
        let ctx = context_opt(&env, context)?;
        later(&env, inner.new_message_data_key_async(ctx), token_out)
    })();
    promise(&env, outcome)
}

/// `newMessageDataKey` on the calling thread.
#[napi(
    js_name = "_newMessageDataKeySync",
    catch_unwind,
    ts_return_type = "unknown"
)]
pub fn new_message_data_key_sync(
    env: Env,
    handle: Unknown<'_>,
    context: Option<Unknown<'_>>,
) -> Result<Value> {
    let r = (|| {
        let inner = box_arg(&env, &handle)?;
        let ctx = context_opt(&env, context)?;
        token_out(&env, inner.new_message_data_key(&Js(&env), &ctx)?)
    })();
    done(&env, r)
}

/// Cache and KMS counters.
#[napi(js_name = "_cacheStats", ts_return_type = "CacheStats")]
pub fn cache_stats(env: Env, handle: Unknown<'_>) -> Result<serde_json::Value> {
    let st = box_arg(&env, &handle)
        .map_err(|f| f.into_js(&env))?
        .cache_stats();
    Ok(serde_json::json!({
        "encryptHits": st.encrypt_hits,
        "encryptMisses": st.encrypt_misses,
        "decryptHits": st.decrypt_hits,
        "decryptMisses": st.decrypt_misses,
        "kmsCalls": st.provider_calls,
        "dataKeysGenerated": st.data_keys_generated,
    }))
}

/// Each key's label (or URI), and the label new data is sealed under.
#[napi(js_name = "_keys")]
pub fn keys(env: Env, handle: Unknown<'_>) -> Result<(Vec<String>, String)> {
    let inner = box_arg(&env, &handle).map_err(|f| f.into_js(&env))?;
    Ok((inner.key_names(), inner.primary_key_name()))
}

// ---- Root keys -------------------------------------------------------------

fn mode(deterministic: bool) -> Mode {
    if deterministic {
        Mode::Deterministic
    } else {
        Mode::Compact
    }
}

fn column_arg(v: Option<Unknown<'_>>) -> Res<String> {
    string_opt(v, "options.column")?
        .ok_or_else(|| errors::type_error("options.column (the column label) is required".into()))
}

/// Blind-index options from `index.js`'s fields (`slow` already resolved to
/// Argon2id costs, or absent).
fn index_options(
    bits: Option<Unknown<'_>>,
    trim: Option<Unknown<'_>>,
    casefold: Option<Unknown<'_>>,
    t_cost: Option<Unknown<'_>>,
    m_cost: Option<Unknown<'_>>,
) -> Res<IndexOptions> {
    // Given (from `slow`), both costs are used as they are: core refuses
    // out-of-range ones (0 included), never silently falling back to HMAC.
    let slowness = match (convert::present(t_cost), convert::present(m_cost)) {
        (None, None) => Slowness::Hmac,
        (t, m) => Slowness::Argon2id {
            t_cost: whole_opt(t, "options.slow[0]", 0, u32::MAX)?,
            m_cost: whole_opt(m, "options.slow[1]", 0, u32::MAX)?,
        },
    };
    Ok(IndexOptions {
        bits: whole_opt(bits, "options.bits", 256, 65535)? as u16,
        normalize: Normalize {
            trim: flag_opt(trim, "options.trim")?,
            casefold: flag_opt(casefold, "options.casefold")?,
        },
        slowness,
    })
}

fn string_out(env: &Env, s: String) -> Res<Value> {
    Ok(Value(env.create_string(&s)?.raw()))
}

/// A new root key, wrapped by keyring key `key` (default the primary): its
/// token, to keep in configuration (`roots: { label: token }`).
#[napi(js_name = "_createRoot", catch_unwind, ts_return_type = "unknown")]
pub fn create_root(
    env: Env,
    handle: Unknown<'_>,
    label: Unknown<'_>,
    key: Option<Unknown<'_>>,
) -> Result<Value> {
    let outcome = (|| {
        let inner = box_arg(&env, &handle)?;
        let label = string_opt(Some(label), "label")?.unwrap_or_default();
        let key = string_opt(key, "options.key")?;
        later(&env, inner.create_root_async(label, key), string_out)
    })();
    promise(&env, outcome)
}

/// `createRoot` on the calling thread.
#[napi(js_name = "_createRootSync", catch_unwind, ts_return_type = "unknown")]
pub fn create_root_sync(
    env: Env,
    handle: Unknown<'_>,
    label: Unknown<'_>,
    key: Option<Unknown<'_>>,
) -> Result<Value> {
    let r = (|| {
        let inner = box_arg(&env, &handle)?;
        let label = string_opt(Some(label), "label")?.unwrap_or_default();
        let key = string_opt(key, "options.key")?;
        string_out(&env, inner.create_root(&Js(&env), &label, key.as_deref())?)
    })();
    done(&env, r)
}

/// Seals under the primary root: compact, or deterministic.
#[napi(js_name = "_encryptCompact", catch_unwind, ts_return_type = "unknown")]
#[allow(clippy::too_many_arguments)]
pub fn encrypt_compact(
    env: Env,
    handle: Unknown<'_>,
    data: Unknown<'_>,
    context: Option<Unknown<'_>>,
    column: Option<Unknown<'_>>,
    aad: Option<Unknown<'_>>,
    deterministic: Option<Unknown<'_>>,
    text: Option<Unknown<'_>>,
) -> Result<Value> {
    let outcome = (|| {
        let inner = box_arg(&env, &handle)?;
        let (ctx, column) = (context_opt(&env, context)?, column_arg(column)?);
        let deterministic = flag_opt(deterministic, "options.deterministic")?;
        let text = flag_opt(text, "options.text")?;
        let (data, aad) = (bytes_arg(&data, "data")?, aad_arg(aad)?);
        let fut = inner.encrypt_compact_async(
            mode(deterministic),
            data.into_owned(),
            ctx,
            column,
            aad.into_owned(),
            form(text),
        );
        later(&env, fut, move |env, out| sealed_out(env, out, text))
    })();
    promise(&env, outcome)
}

/// `encryptCompact` on the calling thread.
#[napi(
    js_name = "_encryptCompactSync",
    catch_unwind,
    ts_return_type = "unknown"
)]
#[allow(clippy::too_many_arguments)]
pub fn encrypt_compact_sync(
    env: Env,
    handle: Unknown<'_>,
    data: Unknown<'_>,
    context: Option<Unknown<'_>>,
    column: Option<Unknown<'_>>,
    aad: Option<Unknown<'_>>,
    deterministic: Option<Unknown<'_>>,
    text: Option<Unknown<'_>>,
) -> Result<Value> {
    let r = (|| {
        let inner = box_arg(&env, &handle)?;
        let (ctx, column) = (context_opt(&env, context)?, column_arg(column)?);
        let deterministic = flag_opt(deterministic, "options.deterministic")?;
        let text = flag_opt(text, "options.text")?;
        let (data, aad) = (bytes_arg(&data, "data")?, aad_arg(aad)?);
        let out = inner.encrypt_compact(
            &Js(&env),
            mode(deterministic),
            &data,
            &ctx,
            &column,
            &aad,
            form(text),
        )?;
        sealed_out(&env, out, text)
    })();
    done(&env, r)
}

/// Opens a compact or deterministic value (it names its root).
#[napi(js_name = "_decryptCompact", catch_unwind, ts_return_type = "unknown")]
pub fn decrypt_compact(
    env: Env,
    handle: Unknown<'_>,
    data: Unknown<'_>,
    context: Option<Unknown<'_>>,
    column: Option<Unknown<'_>>,
    aad: Option<Unknown<'_>>,
) -> Result<Value> {
    let outcome = (|| {
        let inner = box_arg(&env, &handle)?;
        let (ctx, column) = (context_opt(&env, context)?, column_arg(column)?);
        let (data, aad) = (bytes_arg(&data, "data")?, aad_arg(aad)?);
        let fut = inner.decrypt_compact_async(data.into_owned(), ctx, column, aad.into_owned());
        later(&env, fut, |env, pt| Ok(js::buffer_from_vec(env, pt)?))
    })();
    promise(&env, outcome)
}

/// `decryptCompact` on the calling thread.
#[napi(
    js_name = "_decryptCompactSync",
    catch_unwind,
    ts_return_type = "unknown"
)]
pub fn decrypt_compact_sync(
    env: Env,
    handle: Unknown<'_>,
    data: Unknown<'_>,
    context: Option<Unknown<'_>>,
    column: Option<Unknown<'_>>,
    aad: Option<Unknown<'_>>,
) -> Result<Value> {
    let r = (|| {
        let inner = box_arg(&env, &handle)?;
        let (ctx, column) = (context_opt(&env, context)?, column_arg(column)?);
        let (data, aad) = (bytes_arg(&data, "data")?, aad_arg(aad)?);
        let pt = inner.decrypt_compact(&Js(&env), &data, &ctx, &column, &aad)?;
        Ok(js::buffer_from_vec(&env, pt)?)
    })();
    done(&env, r)
}

/// A blind index (a `Buffer`; `index.js` makes the hex).
#[napi(js_name = "_blindIndex", catch_unwind, ts_return_type = "unknown")]
#[allow(clippy::too_many_arguments)]
pub fn blind_index(
    env: Env,
    handle: Unknown<'_>,
    value: Unknown<'_>,
    context: Option<Unknown<'_>>,
    column: Option<Unknown<'_>>,
    bits: Option<Unknown<'_>>,
    trim: Option<Unknown<'_>>,
    casefold: Option<Unknown<'_>>,
    t_cost: Option<Unknown<'_>>,
    m_cost: Option<Unknown<'_>>,
    root: Option<Unknown<'_>>,
) -> Result<Value> {
    let outcome = (|| {
        let inner = box_arg(&env, &handle)?;
        let (ctx, column) = (context_opt(&env, context)?, column_arg(column)?);
        let options = index_options(bits, trim, casefold, t_cost, m_cost)?;
        let root = string_opt(root, "options.root")?;
        let value = bytes_arg(&value, "value")?;
        let fut = inner.blind_index_async(value.into_owned(), ctx, column, options, root);
        later(&env, fut, |env, out| Ok(js::buffer_from_vec(env, out)?))
    })();
    promise(&env, outcome)
}

/// `blindIndex` on the calling thread.
#[napi(js_name = "_blindIndexSync", catch_unwind, ts_return_type = "unknown")]
#[allow(clippy::too_many_arguments)]
pub fn blind_index_sync(
    env: Env,
    handle: Unknown<'_>,
    value: Unknown<'_>,
    context: Option<Unknown<'_>>,
    column: Option<Unknown<'_>>,
    bits: Option<Unknown<'_>>,
    trim: Option<Unknown<'_>>,
    casefold: Option<Unknown<'_>>,
    t_cost: Option<Unknown<'_>>,
    m_cost: Option<Unknown<'_>>,
    root: Option<Unknown<'_>>,
) -> Result<Value> {
    let r = (|| {
        let inner = box_arg(&env, &handle)?;
        let (ctx, column) = (context_opt(&env, context)?, column_arg(column)?);
        let options = index_options(bits, trim, casefold, t_cost, m_cost)?;
        let root = string_opt(root, "options.root")?;
        let value = bytes_arg(&value, "value")?;
        let out = inner.blind_index(&Js(&env), &value, &ctx, &column, options, root.as_deref())?;
        Ok(js::buffer_from_vec(&env, out)?)
    })();
    done(&env, r)
}

/// The configured root labels and the primary root's.
#[napi(js_name = "_roots")]
pub fn roots(env: Env, handle: Unknown<'_>) -> Result<(Vec<String>, Option<String>)> {
    let inner = box_arg(&env, &handle).map_err(|f| f.into_js(&env))?;
    Ok(inner.root_labels())
}

/// The version of the native library.
#[napi(js_name = "nativeVersion")]
pub fn native_version() -> &'static str {
    env!("CARGO_PKG_VERSION")
}
