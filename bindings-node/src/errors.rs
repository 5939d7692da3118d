//! dekbox errors as JavaScript errors: `index.js` builds one `DekboxError`
//! subclass per row of dekbox-core's error table and hands this module a
//! factory, kept per JavaScript realm (the main thread and each worker).

use dekbox_facade::Error;
use napi::bindgen_prelude::{FnArgs, Function, FunctionRef, Unknown};
use napi::{Env, Status};

type Factory = FunctionRef<FnArgs<(String, String)>, Unknown<'static>>;

/// Registers `(code, message) => DekboxError` for this realm (called once by
/// `index.js` when the package loads).
#[napi_derive::napi(js_name = "_setErrorFactory")]
pub fn set_error_factory(
    env: Env,
    factory: Function<FnArgs<(String, String)>, Unknown<'static>>,
) -> napi::Result<()> {
    env.set_instance_data(factory.create_ref()?, (), |_| {})
}

/// The error table (code, class name, parent code, retryable, argument
/// error, description), parents first, for `index.js` to build classes from.
#[napi_derive::napi(
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

/// A dekbox error as an instance of its `DekboxError` subclass.
pub fn to_js(env: &Env, e: Error) -> napi::Error {
    let code = js_code(e.code());
    let made = env.get_instance_data::<Factory>().ok().flatten().map(|f| {
        f.borrow_back(env)
            .and_then(|f| f.call(FnArgs::from((code.clone(), e.to_string()))))
    });
    match made {
        Some(Ok(value)) => napi::Error::from(value),
        Some(Err(err)) => err,
        None => napi::Error::new(Status::GenericFailure, format!("{code}: {e}")),
    }
}

/// A `TypeError` with Node's `ERR_INVALID_ARG_TYPE` code.
pub fn type_error(env: &Env, message: String) -> napi::Error {
    crate::js::type_error(env, message)
}

/// An unusable value: dekbox's own `InvalidArgumentError`.
pub fn invalid(env: &Env, message: &'static str) -> napi::Error {
    to_js(env, Error::InvalidArgument(message.into()))
}
