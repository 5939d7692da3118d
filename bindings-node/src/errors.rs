//! Failures and their JavaScript form. Inside a call, a failure is a plain
//! Rust value ([`Fail`]); it becomes a JavaScript error only when the call
//! returns, after every borrow of a caller's `Buffer` has ended (making a
//! `DekboxError` runs JavaScript).
//!
//! `index.js` builds one `DekboxError` subclass per row of dekbox-core's
//! error table and hands [`init`] a factory, kept per realm (the main thread
//! and each worker) with the rest of the realm's state.

use crate::js::{self, Completer, Ref};
use dekbox_facade::Error;
use napi::bindgen_prelude::{FnArgs, Function, Unknown};
use napi::{Env, JsValue, Result, sys};
use napi_derive::napi;
use std::cell::OnceCell;
use std::sync::Arc;

/// Why a call failed, before it is turned into a JavaScript error.
pub enum Fail {
    /// A dekbox error: a `DekboxError` subclass.
    Dekbox(Error),
    /// A wrong argument type: a `TypeError` (`ERR_INVALID_ARG_TYPE`).
    Type(String),
    /// An unknown option name: a `TypeError` (`ERR_INVALID_ARG_VALUE`).
    Unknown(String),
    /// A Node-API failure, or an exception JavaScript threw (a getter).
    Js(napi::Error),
}

impl From<napi::Error> for Fail {
    fn from(e: napi::Error) -> Self {
        Fail::Js(e)
    }
}

impl From<Error> for Fail {
    fn from(e: Error) -> Self {
        Fail::Dekbox(e)
    }
}

impl Fail {
    /// The JavaScript error (call only once no caller bytes are borrowed).
    pub fn into_js(self, env: &Env) -> napi::Error {
        match self {
            Fail::Dekbox(e) => to_js(env, e),
            Fail::Type(m) => js::coded_error(env, true, "ERR_INVALID_ARG_TYPE", &m),
            Fail::Unknown(m) => js::coded_error(env, true, "ERR_INVALID_ARG_VALUE", &m),
            Fail::Js(e) => e,
        }
    }
}

/// `Result` with a [`Fail`].
pub type Res<T> = std::result::Result<T, Fail>;

/// A `TypeError` to be.
pub fn type_error(message: String) -> Fail {
    Fail::Type(message)
}

/// A realm's state.
pub struct RealmState {
    factory: Ref,
    /// `Object.prototype`: contexts given as objects must be plain ones.
    pub object_prototype: Ref,
    completer: OnceCell<Arc<Completer>>,
}

impl RealmState {
    /// This realm's completion queue, made on first use.
    pub fn completer(&self, env: &Env) -> Result<Arc<Completer>> {
        if let Some(c) = self.completer.get() {
            return Ok(c.clone());
        }
        let c = Completer::new(env)?;
        Ok(self.completer.get_or_init(|| c).clone())
    }
}

type Realm = js::Realm<RealmState>;

/// This realm's state; `index.js` sets it when the package loads.
pub fn realm(env: &Env) -> Res<&RealmState> {
    Realm::get(env).ok_or_else(|| {
        Fail::Dekbox(Error::ApiMisuse(
            "load dekbox through its package entry point (index.js), not native.js",
        ))
    })
}

/// Sets up this realm: the `(code, message) => DekboxError` factory and
/// `Object.prototype`.
/// Called once by `index.js`.
#[napi(js_name = "_init")]
pub fn init(
    env: Env,
    factory: Function<FnArgs<(String, String)>, Unknown<'static>>,
    object_prototype: Unknown<'_>,
) -> Result<()> {
    let state = RealmState {
        factory: Ref::new(&env, factory.raw())?,
        object_prototype: Ref::new(&env, object_prototype.raw())?,
        completer: OnceCell::new(),
    };
    Realm::set(&env, state)
}

/// The error table (code, class name, parent code, retryable, argument
/// error, description), parents first, for `index.js` to build classes from.
#[napi(
    js_name = "_errorTable",
    ts_return_type = "Array<[string, string, string | null, boolean, boolean, string]>"
)]
pub fn error_table() -> Vec<(String, String, Option<String>, bool, bool, String)> {
    dekbox_facade::ERRORS
        .iter()
        .map(|r| {
            (
                js_code(r.code),
                r.class.to_string(),
                r.parent.map(|p| js_code(p.info().code)),
                r.retryable,
                r.argument_error,
                r.doc.to_string(),
            )
        })
        .collect()
}

/// `MALFORMED` → `ERR_DEKBOX_MALFORMED`, Node's convention for `code`.
fn js_code(code: &str) -> String {
    format!("ERR_DEKBOX_{code}")
}

/// A dekbox error as an instance of its `DekboxError` subclass; a plain
/// `Error` with the same `code` if the package's classes are not there (or
/// making one threw).
pub fn to_js(env: &Env, e: Error) -> napi::Error {
    let (code, message) = (js_code(e.code()), e.to_string());
    let made = Realm::get(env).map(|r| {
        r.factory.get(env).and_then(|f| {
            let f: Function<FnArgs<(String, String)>, Unknown<'_>> =
                js::from_value(&js::unknown(env, f)?)?;
            f.call(FnArgs::from((code.clone(), message.clone())))
        })
    });
    match made {
        Some(Ok(value)) => napi::Error::from(value),
        _ => {
            js::take_exception(env);
            js::coded_error(env, false, &code, &message)
        }
    }
}

/// A JavaScript error value for an array slot (`decryptMany` with
/// `returnErrors`).
pub fn error_value(env: &Env, e: Error) -> sys::napi_value {
    js::error_value(env, to_js(env, e))
}
