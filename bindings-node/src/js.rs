//! The Node-API calls napi-rs has no safe form for: a `Buffer` filled in
//! place, the bytes of a `Uint8Array` without a copy, promises settled from
//! Rust, a per-realm completion queue that survives a worker's teardown, and
//! prepared contexts held in externals that JavaScript cannot forge. Every
//! `unsafe` block of the crate is here.

use napi::bindgen_prelude::{FromNapiValue, ToNapiValue, Unknown};
use napi::{Env, Error, JsValue, Result, Status, sys};
use std::any::TypeId;
use std::cell::RefCell;
use std::collections::HashMap;
use std::ffi::c_void;
use std::mem::MaybeUninit;
use std::ptr;
use std::sync::atomic::{AtomicPtr, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

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

unsafe extern "C" fn drop_vec(_env: sys::napi_env, _data: *mut c_void, hint: *mut c_void) {
    // SAFETY: `hint` is the `Box<Vec<u8>>` leaked by `buffer_from_vec`,
    // finalized once by Node.
    drop(unsafe { Box::from_raw(hint.cast::<Vec<u8>>()) });
}

/// A new `Buffer` that takes over `bytes` (no copy for large results).
pub fn buffer_from_vec(env: &Env, bytes: Vec<u8>) -> Result<Value> {
    if bytes.len() < 4096 {
        return buffer(env, &bytes);
    }
    let mut boxed = Box::new(bytes);
    let (data, len) = (boxed.as_mut_ptr(), boxed.len());
    let hint = Box::into_raw(boxed);
    let mut value = ptr::null_mut();
    // SAFETY: `data` points to `len` bytes owned by `hint`'s Vec, which
    // stays put (its heap buffer does not move with the Box) until Node
    // calls `drop_vec` when the Buffer is collected.
    let status = unsafe {
        sys::napi_create_external_buffer(
            env.raw(),
            len,
            data.cast(),
            Some(drop_vec),
            hint.cast(),
            &mut value,
        )
    };
    if status == sys::Status::napi_ok {
        return Ok(Value(value));
    }
    // Not created (e.g. a runtime that forbids external buffers): copy.
    // SAFETY: Node did not take `hint`; it is still ours.
    let bytes = unsafe { Box::from_raw(hint) };
    buffer(env, &bytes)
}

/// A `Uint8Array` over a `SharedArrayBuffer`.
pub struct Shared;

/// The bytes of a `Uint8Array` (a `Buffer` is one), borrowed for the
/// current call; `None` for any other value, `Some(Err(Shared))` for a view
/// of a `SharedArrayBuffer`.
///
/// The slice is valid until control returns to JavaScript: callers read
/// every option first and run no JavaScript while they hold it.
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

/// A value of the current call as `T` (Node-API checks the type: a
/// mismatch is an error, not a misread).
pub fn from_value<T: FromNapiValue>(v: &Unknown<'_>) -> Result<T> {
    // SAFETY: `v` is a live value of the current call's scope.
    unsafe { T::from_napi_value(v.value().env, v.raw()) }
}

/// A value of the current call from a raw handle of the same scope.
pub fn unknown<'a>(env: &'a Env, value: sys::napi_value) -> Result<Unknown<'a>> {
    // SAFETY: `value` comes from a Node-API call on `env` in this scope.
    unsafe { Unknown::from_napi_value(env.raw(), value) }
}

/// `obj[key]` if `obj` has it as an own property (inherited properties,
/// e.g. a polluted `Object.prototype`, are not options).
pub fn own_property<'a>(
    env: &'a Env,
    obj: sys::napi_value,
    key: sys::napi_value,
) -> Result<Option<Unknown<'a>>> {
    let mut has = false;
    // SAFETY: valid env, object and key of this scope.
    check(
        unsafe { sys::napi_has_own_property(env.raw(), obj, key, &mut has) },
        "cannot read an option",
    )?;
    if !has {
        return Ok(None);
    }
    let mut value = ptr::null_mut();
    // SAFETY: as above.
    check(
        unsafe { sys::napi_get_property(env.raw(), obj, key, &mut value) },
        "cannot read an option",
    )?;
    unknown(env, value).map(Some)
}

/// `undefined`.
pub fn undefined(env: &Env) -> Result<sys::napi_value> {
    let mut v = ptr::null_mut();
    // SAFETY: valid env.
    check(
        unsafe { sys::napi_get_undefined(env.raw(), &mut v) },
        "cannot make undefined",
    )?;
    Ok(v)
}

/// `Object.getPrototypeOf(v)`.
pub fn prototype(env: &Env, v: &Unknown<'_>) -> Result<sys::napi_value> {
    let mut proto = ptr::null_mut();
    // SAFETY: `v` is an object of this scope.
    check(
        unsafe { sys::napi_get_prototype(env.raw(), v.raw(), &mut proto) },
        "cannot read a prototype",
    )?;
    Ok(proto)
}

/// `a === b`.
pub fn same(env: &Env, a: sys::napi_value, b: sys::napi_value) -> bool {
    let mut eq = false;
    // SAFETY: values of this scope.
    let status = unsafe { sys::napi_strict_equals(env.raw(), a, b, &mut eq) };
    status == sys::Status::napi_ok && eq
}

/// A strong reference that keeps a value for the life of the realm.
pub struct Ref(sys::napi_ref);

impl Ref {
    pub fn new(env: &Env, value: sys::napi_value) -> Result<Self> {
        let mut r = ptr::null_mut();
        // SAFETY: a value of this scope; the reference lives as long as
        // the realm's instance data, which Node frees with the env.
        check(
            unsafe { sys::napi_create_reference(env.raw(), value, 1, &mut r) },
            "cannot keep a reference",
        )?;
        Ok(Self(r))
    }

    pub fn get(&self, env: &Env) -> Result<sys::napi_value> {
        let mut v = ptr::null_mut();
        // SAFETY: a reference made on this env.
        check(
            unsafe { sys::napi_get_reference_value(env.raw(), self.0, &mut v) },
            "cannot read a reference",
        )?;
        Ok(v)
    }
}

// ---- realm state ------------------------------------------------------

/// Per-realm (main thread, each worker) state, as Node-API instance data.
pub struct Realm<T>(std::marker::PhantomData<T>);

impl<T: 'static> Realm<T> {
    /// Installs this realm's state (once, when the package loads).
    pub fn set(env: &Env, state: T) -> Result<()> {
        unsafe extern "C" fn finalize<T>(
            _env: sys::napi_env,
            data: *mut c_void,
            _hint: *mut c_void,
        ) {
            // SAFETY: the Box leaked by `set`, finalized once by Node.
            drop(unsafe { Box::from_raw(data.cast::<T>()) });
        }
        let mut old = ptr::null_mut();
        // SAFETY: valid env. A second `set` would leave the first state to
        // Node, which does not finalize it: refuse instead.
        check(
            unsafe { sys::napi_get_instance_data(env.raw(), &mut old) },
            "cannot read instance data",
        )?;
        if !old.is_null() {
            return Err(Error::new(
                Status::GenericFailure,
                "dekbox is already initialised in this realm",
            ));
        }
        let data = Box::into_raw(Box::new(state));
        // SAFETY: Node owns `data` from here and calls `finalize::<T>` once.
        check(
            unsafe {
                sys::napi_set_instance_data(
                    env.raw(),
                    data.cast(),
                    Some(finalize::<T>),
                    ptr::null_mut(),
                )
            },
            "cannot set instance data",
        )
    }

    /// This realm's state, if `set` ran. Shared access only: the state uses
    /// cells for anything that changes.
    pub fn get(env: &Env) -> Option<&T> {
        let mut data = ptr::null_mut();
        // SAFETY: valid env; the only instance data this addon sets is a
        // `T` (one `Realm` type per addon), alive until the env ends.
        let status = unsafe { sys::napi_get_instance_data(env.raw(), &mut data) };
        if status != sys::Status::napi_ok || data.is_null() {
            return None;
        }
        // SAFETY: see above; never handed out as `&mut`.
        Some(unsafe { &*data.cast::<T>() })
    }
}

// ---- exceptions and errors --------------------------------------------

/// The pending JavaScript exception, cleared, if there is one.
pub fn take_exception(env: &Env) -> Option<sys::napi_value> {
    let mut pending = false;
    // SAFETY: valid env.
    if unsafe { sys::napi_is_exception_pending(env.raw(), &mut pending) } != sys::Status::napi_ok
        || !pending
    {
        return None;
    }
    let mut e = ptr::null_mut();
    // SAFETY: an exception is pending.
    let status = unsafe { sys::napi_get_and_clear_last_exception(env.raw(), &mut e) };
    (status == sys::Status::napi_ok).then_some(e)
}

/// An error as the value to throw or reject with.
pub fn error_value(env: &Env, e: Error) -> sys::napi_value {
    // SAFETY: valid env; the value is made in this scope (or is the error's
    // own JavaScript value).
    unsafe { napi::JsError::from(e).into_value(env.raw()) }
}

/// An `Error` (class `TypeError` when `type_error`) with a `code` property.
pub fn coded_error(env: &Env, type_error: bool, code: &str, message: &str) -> Error {
    let e = Error::new(code.to_string(), message.to_string());
    // SAFETY: valid env on the JS thread; the value is made in this scope.
    let value = unsafe {
        if type_error {
            napi::JsTypeError::from(e).into_value(env.raw())
        } else {
            napi::JsError::from(e).into_value(env.raw())
        }
    };
    from_error_value(env, value)
}

/// An error carrying a JavaScript value (thrown or rejected as it is).
pub fn from_error_value(env: &Env, value: sys::napi_value) -> Error {
    match unknown(env, value) {
        Ok(u) => Error::from(u),
        Err(e) => e,
    }
}

// ---- promises -----------------------------------------------------------

/// A promise's resolving functions, usable only on its realm's thread.
pub struct Deferred(sys::napi_deferred);

// SAFETY: the handle is only carried by other threads, never used there:
// `settle` runs on the JS thread (from a `Completer` job).
unsafe impl Send for Deferred {}

/// A new pending promise.
pub fn new_promise(env: &Env) -> Result<(Deferred, Value)> {
    let (mut deferred, mut promise) = (ptr::null_mut(), ptr::null_mut());
    // SAFETY: valid env; out-pointers are valid.
    check(
        unsafe { sys::napi_create_promise(env.raw(), &mut deferred, &mut promise) },
        "cannot create a Promise",
    )?;
    Ok((Deferred(deferred), Value(promise)))
}

/// Settles a promise: resolves with a value, or rejects with the error (or
/// with an exception JavaScript left pending while making the outcome).
pub fn settle(env: &Env, deferred: Deferred, outcome: std::result::Result<Value, Error>) {
    let status = match (take_exception(env), outcome) {
        // SAFETY (all three): `deferred` is settled exactly once (consumed).
        (Some(e), _) => unsafe { sys::napi_reject_deferred(env.raw(), deferred.0, e) },
        (None, Ok(v)) => unsafe { sys::napi_resolve_deferred(env.raw(), deferred.0, v.0) },
        (None, Err(e)) => {
            let reason = error_value(env, e);
            unsafe { sys::napi_reject_deferred(env.raw(), deferred.0, reason) }
        }
    };
    // A realm shutting down can refuse to settle (no JavaScript may run):
    // nothing is waiting for the promise then.
    let _ = status;
}

/// A promise settled at once.
pub fn settled(env: &Env, outcome: std::result::Result<Value, Error>) -> Result<Value> {
    // A pending exception would make creating the promise fail: take it
    // first and reject with it.
    let outcome = match take_exception(env) {
        Some(e) => Err(from_error_value(env, e)),
        None => outcome,
    };
    let (deferred, promise) = new_promise(env)?;
    settle(env, deferred, outcome);
    Ok(promise)
}

// ---- completions from other threads -------------------------------------

/// Work to finish on the JS thread; `None` when the realm is gone (drop
/// what it holds, touch nothing of JavaScript).
pub type Job = Box<dyn FnOnce(Option<&Env>) + Send>;

/// One thread-safe function per realm that runs [`Job`]s on its JS thread.
///
/// A worker may be terminated while dekbox's runtime still works for it:
/// Node then finalizes the function, `closed` turns true under the lock that
/// every `send` holds while it calls Node, and later jobs are dropped, so
/// nothing reaches a freed function. While operations are in flight it keeps
/// the event loop alive (`ref`), as pending I/O does; idle, it does not.
pub struct Completer {
    raw: AtomicPtr<sys::napi_threadsafe_function__>,
    closed: Mutex<bool>,
    pending: AtomicUsize,
}

unsafe extern "C" fn completer_finalize(
    _env: sys::napi_env,
    data: *mut c_void,
    _hint: *mut c_void,
) {
    // SAFETY: the strong count leaked by `Completer::new`, released once.
    let c = unsafe { Arc::from_raw(data.cast::<Completer>()) };
    *c.closed.lock().unwrap_or_else(|p| p.into_inner()) = true;
}

unsafe extern "C" fn completer_call(
    env: sys::napi_env,
    _js_callback: sys::napi_value,
    context: *mut c_void,
    data: *mut c_void,
) {
    // SAFETY: `data` is a `Box<Job>` from `send`, handed to Node once.
    let job = unsafe { Box::from_raw(data.cast::<Job>()) };
    if env.is_null() {
        // The function is being torn down with the realm.
        job(None);
        return;
    }
    let env = Env::from_raw(env);
    job(Some(&env));
    // SAFETY: `context` is the Completer, alive until finalization, which
    // cannot run while Node calls this.
    let c = unsafe { &*context.cast::<Completer>() };
    if c.pending.fetch_sub(1, Ordering::Relaxed) == 1 {
        // SAFETY: on the JS thread, with a live function.
        unsafe { sys::napi_unref_threadsafe_function(env.raw(), c.raw.load(Ordering::Relaxed)) };
    }
}

impl Completer {
    pub fn new(env: &Env) -> Result<Arc<Self>> {
        let c = Arc::new(Self {
            raw: AtomicPtr::new(ptr::null_mut()),
            closed: Mutex::new(false),
            pending: AtomicUsize::new(0),
        });
        let name = env.create_string("dekbox")?;
        let finalize_data = Arc::into_raw(c.clone()).cast_mut();
        let mut raw = ptr::null_mut();
        // SAFETY: valid env; no JavaScript function (jobs run from
        // `completer_call`); Node owns one strong count of `c` until it
        // calls `completer_finalize`.
        let status = unsafe {
            sys::napi_create_threadsafe_function(
                env.raw(),
                ptr::null_mut(),
                ptr::null_mut(),
                name.raw(),
                0,
                1,
                finalize_data.cast(),
                Some(completer_finalize),
                Arc::as_ptr(&c).cast_mut().cast(),
                Some(completer_call),
                &mut raw,
            )
        };
        if status != sys::Status::napi_ok {
            // SAFETY: not created, so Node did not take the count.
            drop(unsafe { Arc::from_raw(finalize_data) });
            return Err(Error::new(
                Status::from(status),
                "cannot create dekbox's completion queue".to_owned(),
            ));
        }
        c.raw.store(raw, Ordering::Relaxed);
        // SAFETY: a live function on the JS thread. Idle until `started`.
        unsafe { sys::napi_unref_threadsafe_function(env.raw(), raw) };
        Ok(c)
    }

    /// On the JS thread: one more operation in flight.
    pub fn started(&self, env: &Env) {
        if self.pending.fetch_add(1, Ordering::Relaxed) == 0 {
            // SAFETY: on the JS thread, with a live function.
            unsafe {
                sys::napi_ref_threadsafe_function(env.raw(), self.raw.load(Ordering::Relaxed))
            };
        }
    }

    /// From any thread: runs `job` on the JS thread, or drops it if the
    /// realm is gone.
    pub fn send(&self, job: Job) {
        let closed = self.closed.lock().unwrap_or_else(|p| p.into_inner());
        if *closed {
            return;
        }
        let data = Box::into_raw(Box::new(job));
        // SAFETY: the function is alive (not finalized: `closed` is false
        // and finalization waits for this lock).
        let status = unsafe {
            sys::napi_call_threadsafe_function(
                self.raw.load(Ordering::Relaxed),
                data.cast(),
                sys::ThreadsafeFunctionCallMode::nonblocking,
            )
        };
        if status != sys::Status::napi_ok {
            // SAFETY: Node did not take the job (closing): drop it here.
            drop(unsafe { Box::from_raw(data) });
        }
    }
}

// ---- objects handed to JavaScript ----------------------------------------

thread_local! {
    /// The externals this addon made on this thread (one realm's, or two
    /// copies of the addon's in one realm), by address, with the type each
    /// holds: an external is trusted only if it is one of these, of the type
    /// asked for.
    static EXTERNALS: RefCell<HashMap<usize, TypeId>> = RefCell::new(HashMap::new());
}

unsafe extern "C" fn external_finalize<T: 'static>(
    _env: sys::napi_env,
    data: *mut c_void,
    _hint: *mut c_void,
) {
    let _ = EXTERNALS.try_with(|e| e.borrow_mut().remove(&(data as usize)));
    // SAFETY: the Box leaked by `external`, finalized once by Node.
    drop(unsafe { Box::from_raw(data.cast::<T>()) });
}

/// `value` as an opaque JavaScript external (a `Box`'s engine, a
/// `Context`'s entries), dropped when JavaScript lets go of it.
pub fn external<T: 'static>(env: &Env, value: T) -> Result<Value> {
    let data = Box::into_raw(Box::new(value));
    let mut out = ptr::null_mut();
    // SAFETY: Node owns `data` from here and calls `external_finalize`
    // once.
    let status = unsafe {
        sys::napi_create_external(
            env.raw(),
            data.cast(),
            Some(external_finalize::<T>),
            ptr::null_mut(),
            &mut out,
        )
    };
    if status != sys::Status::napi_ok {
        // SAFETY: not created: still ours.
        drop(unsafe { Box::from_raw(data) });
        return Err(Error::new(
            Status::from(status),
            "cannot create an external".to_owned(),
        ));
    }
    EXTERNALS.with(|e| e.borrow_mut().insert(data as usize, TypeId::of::<T>()));
    Ok(Value(out))
}

/// The value behind an external from [`external`] holding a `T`; `None`
/// for anything else (other values, externals made by other code, or ours
/// of another type).
pub fn external_ref<'a, T: 'static>(env: &'a Env, v: &Unknown<'_>) -> Option<&'a T> {
    let mut data = ptr::null_mut();
    // SAFETY: valid env and value; fails for anything but an external.
    if unsafe { sys::napi_get_value_external(env.raw(), v.raw(), &mut data) }
        != sys::Status::napi_ok
    {
        return None;
    }
    let ours = EXTERNALS.with(|e| e.borrow().get(&(data as usize)) == Some(&TypeId::of::<T>()));
    if !ours {
        return None;
    }
    // SAFETY: registered by `external::<T>` and not yet finalized; `v`, an
    // argument of the current call, holds the external until the call
    // returns, and 'a is bounded by the call's `Env`.
    Some(unsafe { &*data.cast::<T>() })
}
