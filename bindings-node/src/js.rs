//! The few Node-API calls napi-rs has no safe form for that the hot path
//! needs: a `Buffer` filled in place, the bytes of a `Uint8Array` without a
//! copy, and a promise settled at once. Every `unsafe` block of the crate is
//! here.

use napi::bindgen_prelude::{FromNapiRef, FromNapiValue, ToNapiValue, Unknown, ValidateNapiValue};
use napi::{Env, Error, JsValue, Result, Status, sys};
use std::mem::MaybeUninit;
use std::ptr;

/// A JavaScript value made in the current call (a `Buffer`, a string, an
/// array, a promise), returned to JavaScript as it is.
#[derive(Clone, Copy)]
pub struct Value(pub sys::napi_value);

impl ToNapiValue for Value {
    unsafe fn to_napi_value(_: sys::napi_env, val: Self) -> Result<sys::napi_value> {
        Ok(val.0)
    }
}

fn check(status: sys::napi_status, what: &str) -> Result<()> {
    if status == sys::Status::napi_ok {
        Ok(())
    } else {
        Err(Error::new(Status::from(status), what.to_owned()))
    }
}

/// A new `Buffer` of exactly `len` bytes, written by `fill` (which must
/// write every byte when it succeeds).
pub fn new_buffer<E: From<Error>>(
    env: &Env,
    len: usize,
    fill: impl FnOnce(&mut [MaybeUninit<u8>]) -> std::result::Result<(), E>,
) -> std::result::Result<Value, E> {
    let (mut data, mut value) = (ptr::null_mut(), ptr::null_mut());
    // SAFETY: a valid env on the JS thread; out-pointers are valid.
    check(
        unsafe { sys::napi_create_buffer(env.raw(), len, &mut data, &mut value) },
        "cannot allocate a Buffer",
    )?;
    let out: &mut [MaybeUninit<u8>] = if len == 0 || data.is_null() {
        &mut []
    } else {
        // SAFETY: Node allocated `len` bytes at `data` for this new Buffer,
        // which nothing else can reach before we return it.
        unsafe { std::slice::from_raw_parts_mut(data.cast(), len) }
    };
    fill(out)?;
    Ok(Value(value))
}

/// A new `Buffer` holding a copy of `bytes`.
pub fn buffer(env: &Env, bytes: &[u8]) -> Result<Value> {
    new_buffer(env, bytes.len(), |out| {
        for (o, b) in out.iter_mut().zip(bytes) {
            o.write(*b);
        }
        Ok::<(), Error>(())
    })
}

/// A new `Buffer` that takes over `bytes` (no copy; large results).
pub fn buffer_from_vec(env: &Env, bytes: Vec<u8>) -> Result<Value> {
    if bytes.len() < 4096 {
        return buffer(env, &bytes);
    }
    let b = napi::bindgen_prelude::BufferSlice::from_data(env, bytes)?;
    Ok(Value(b.raw()))
}

/// The bytes of a `Uint8Array` (a `Buffer` is one), borrowed for the
/// current call; `None` for any other value, `Some(Err(Shared))` for a view
/// of a `SharedArrayBuffer`.
///
/// The slice is valid until control returns to JavaScript: the synchronous
/// methods use it and let go before they return, and never run JavaScript
/// in between.
pub fn uint8_bytes<'a>(v: &Unknown<'a>) -> Option<std::result::Result<&'a [u8], Shared>> {
    let (env, value) = (v.value().env, v.raw());
    let mut is = false;
    // SAFETY: valid env and value of the current call.
    if unsafe { sys::napi_is_typedarray(env, value, &mut is) } != sys::Status::napi_ok || !is {
        return None;
    }
    let (mut kind, mut len, mut data) = (0, 0usize, ptr::null_mut());
    let (mut buf, mut offset) = (ptr::null_mut(), 0usize);
    // SAFETY: `value` is a typed array; out-pointers are valid.
    let status = unsafe {
        sys::napi_get_typedarray_info(
            env,
            value,
            &mut kind,
            &mut len,
            &mut data,
            &mut buf,
            &mut offset,
        )
    };
    if status != sys::Status::napi_ok || kind != sys::TypedarrayType::uint8_array {
        return None;
    }
    // Memory another thread may write meanwhile (a SharedArrayBuffer) is
    // refused: a message could be checked and then read differently.
    let mut plain = false;
    // SAFETY: `buf` is the array's buffer, a live value of this scope.
    if unsafe { sys::napi_is_arraybuffer(env, buf, &mut plain) } != sys::Status::napi_ok || !plain {
        return Some(Err(Shared));
    }
    if len == 0 || data.is_null() {
        return Some(Ok(&[]));
    }
    // SAFETY: Node reports `len` bytes at `data`, kept alive by the array,
    // which the caller's scope holds for the life of the borrow; no
    // JavaScript runs while the caller holds it (so nothing detaches or
    // resizes the buffer), and no other thread can reach a non-shared one.
    Some(Ok(unsafe {
        std::slice::from_raw_parts(data.cast::<u8>(), len)
    }))
}

/// A `Uint8Array` over a `SharedArrayBuffer`.
pub struct Shared;

/// A promise already settled with `outcome` (the common case of the async
/// methods: a cache hit answered without a thread hand-off).
pub fn settled(env: &Env, outcome: Result<Value>) -> Result<Value> {
    let (mut deferred, mut promise) = (ptr::null_mut(), ptr::null_mut());
    // SAFETY: valid env; out-pointers are valid.
    check(
        unsafe { sys::napi_create_promise(env.raw(), &mut deferred, &mut promise) },
        "cannot create a Promise",
    )?;
    let status = match outcome {
        // SAFETY: `deferred` is fresh and settled exactly once.
        Ok(v) => unsafe { sys::napi_resolve_deferred(env.raw(), deferred, v.0) },
        Err(e) => {
            // SAFETY: as above; the error's value is made in this scope.
            unsafe {
                let reason = napi::JsError::from(e).into_value(env.raw());
                sys::napi_reject_deferred(env.raw(), deferred, reason)
            }
        }
    };
    check(status, "cannot settle a Promise")?;
    Ok(Value(promise))
}

/// A `TypeError` with Node's `ERR_INVALID_ARG_TYPE` code, as an error to
/// return (napi-rs throws or rejects with the object itself).
pub fn type_error(env: &Env, message: String) -> Error {
    let e = Error::new("ERR_INVALID_ARG_TYPE", message);
    // SAFETY: a valid env on the JS thread; the value is made in this scope.
    let made = unsafe {
        let value = napi::JsTypeError::from(e).into_value(env.raw());
        <Unknown as napi::bindgen_prelude::FromNapiValue>::from_napi_value(env.raw(), value)
    };
    match made {
        Ok(u) => Error::from(u),
        Err(err) => err,
    }
}

/// A value of the current call as `T` (Node-API checks the type: a
/// mismatch is an error, not a misread).
pub fn from_value<T: FromNapiValue>(v: &Unknown<'_>) -> Result<T> {
    // SAFETY: `v` is a live value of the current call's scope.
    unsafe { T::from_napi_value(v.value().env, v.raw()) }
}

/// The native object behind an instance of napi-rs class `T`, or `None`
/// for anything else (including instances of other classes).
pub fn instance_of<'a, T: FromNapiRef + 'static>(v: &Unknown<'a>) -> Option<&'a T>
where
    &'a T: ValidateNapiValue,
{
    let (env, value) = (v.value().env, v.raw());
    // SAFETY: `validate` checks `instanceof` T's constructor before the
    // unwrap reads the pointer as a `T`; the object outlives the borrow.
    unsafe {
        <&'a T as ValidateNapiValue>::validate(env, value).ok()?;
        T::from_napi_ref(env, value).ok()
    }
}
