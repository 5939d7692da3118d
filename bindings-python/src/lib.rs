//! `dekbox._native`: the Python face of dekbox. Each method converts its
//! arguments, calls one `dekbox_facade::Dekbox` method, and converts the
//! result; everything else lives in Rust, once, for every language.

mod buffer;
mod convert;
mod errors;

use buffer::Gil;
use convert::{Context, aad_arg, bytes_arg, context_arg, items_arg};
use dekbox_core::cache::CacheConfig as CoreCacheConfig;
use dekbox_core::root::blind::{IndexOptions, Normalize, Slowness};
use dekbox_core::root::value::Mode;
use dekbox_core::{Form, Rewrapped};
use dekbox_facade::{Config, Dekbox};
use errors::to_py;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList, PyString};
use pythonize::{depythonize, pythonize};
use std::collections::BTreeMap;
use std::future::Future;

/// Cache limits as a dict, every field present: dekbox-core's `CacheConfig`
/// read through serde (unknown names and negative durations are errors).
#[pyfunction]
#[pyo3(signature = (**limits))]
fn _cache_limits<'py>(
    py: Python<'py>,
    limits: Option<&Bound<'_, PyDict>>,
) -> PyResult<Bound<'py, PyAny>> {
    let value = |e: pythonize::PythonizeError| PyValueError::new_err(e.to_string());
    let limits: CoreCacheConfig = limits
        .map(|l| depythonize(l))
        .transpose()
        .map_err(value)?
        .unwrap_or_default();
    pythonize(py, &limits).map_err(value)
}

/// The limits of `CacheConfig.disabled()`.
#[pyfunction]
fn _cache_disabled(py: Python<'_>) -> PyResult<Bound<'_, PyAny>> {
    pythonize(py, &CoreCacheConfig::disabled()).map_err(|e| PyValueError::new_err(e.to_string()))
}

/// `(plaintext, wrapped)`, for `dekbox.DataKey`.
fn data_key(py: Python<'_>, gk: dekbox_core::GeneratedKey) -> PyResult<Py<PyAny>> {
    let pair = (
        PyBytes::new(py, gk.plaintext.dangerous_bytes()),
        PyBytes::new(py, &gk.wrapped),
    );
    Ok(pair.into_pyobject(py)?.into_any().unbind())
}

fn mode(deterministic: bool) -> Mode {
    if deterministic {
        Mode::Deterministic
    } else {
        Mode::Compact
    }
}

fn index_options(
    bits: u16,
    trim: bool,
    casefold: bool,
    argon2id: Option<(u32, u32)>,
) -> IndexOptions {
    IndexOptions {
        bits,
        normalize: Normalize { trim, casefold },
        slowness: match argon2id {
            Some((t_cost, m_cost)) => Slowness::Argon2id { t_cost, m_cost },
            None => Slowness::Hmac,
        },
    }
}

fn form(text: bool) -> Form {
    if text { Form::Text } else { Form::Binary }
}

/// A sealed value as `str` (text form) or `bytes`.
fn sealed_out(py: Python<'_>, bytes: Vec<u8>, text: bool) -> PyResult<Py<PyAny>> {
    if !text {
        return Ok(PyBytes::new(py, &bytes).into_any().unbind());
    }
    let s =
        String::from_utf8(bytes).map_err(|_| PyValueError::new_err("text form is not UTF-8"))?;
    Ok(PyString::new(py, &s).into_any().unbind())
}

/// Sealed values as a list.
fn sealed_list(py: Python<'_>, out: Vec<Vec<u8>>, text: bool) -> PyResult<Py<PyAny>> {
    let out: PyResult<Vec<_>> = out.into_iter().map(|o| sealed_out(py, o, text)).collect();
    Ok(PyList::new(py, out?)?.into_any().unbind())
}

/// Opened values as a list: the first error raised, or each in its place.
fn opened_list(
    py: Python<'_>,
    results: Vec<dekbox_core::Result<Vec<u8>>>,
    return_exceptions: bool,
) -> PyResult<Py<PyAny>> {
    let list = PyList::empty(py);
    for r in results {
        match r {
            Ok(pt) => list.append(PyBytes::new(py, &pt))?,
            Err(e) if return_exceptions => list.append(to_py(e).into_value(py))?,
            Err(e) => return Err(to_py(e)),
        }
    }
    Ok(list.into_any().unbind())
}

fn aads_arg(aads: Option<&Bound<'_, PyAny>>) -> PyResult<Option<Vec<Vec<u8>>>> {
    aads.filter(|a| !a.is_none())
        .map(|a| items_arg(a, "aads"))
        .transpose()
}

fn bytes_out(py: Python<'_>, bytes: Vec<u8>) -> PyResult<Py<PyAny>> {
    Ok(PyBytes::new(py, &bytes).into_any().unbind())
}

/// Runs a facade future on dekbox's per-process runtime; returns an asyncio
/// future that `dekbox._resolve` completes on the running loop. Cancelling
/// the future aborts the work.
fn awaitable<'py, T: Send + 'static>(
    py: Python<'py>,
    fut: impl Future<Output = dekbox_core::Result<T>> + Send + 'static,
    convert: impl FnOnce(Python<'_>, T) -> PyResult<Py<PyAny>> + Send + 'static,
) -> PyResult<Bound<'py, PyAny>> {
    let event_loop = py.import("asyncio")?.call_method0("get_running_loop")?;
    let future = event_loop.call_method0("create_future")?;
    let resolve = py.import("dekbox")?.getattr("_resolve")?.unbind();
    let (event_loop, target) = (event_loop.unbind(), future.clone().unbind());
    let done = move |result: dekbox_core::Result<T>| {
        Python::attach(|py| {
            let (ok, value) = match result.map_err(to_py).and_then(|v| convert(py, v)) {
                Ok(v) => (true, v),
                Err(e) => (false, e.into_value(py).into_any()),
            };
            // A closed loop has nobody left to tell.
            let args = (resolve, target, ok, value);
            let _ = event_loop.call_method1(py, "call_soon_threadsafe", args);
        })
    };
    let abort = dekbox_facade::runtime::spawn(fut, done).map_err(to_py)?;
    future.call_method1("add_done_callback", (AbortOnCancel(abort),))?;
    Ok(future)
}

/// Aborts the Rust task behind an asyncio future that was cancelled.
#[pyclass(module = "dekbox._native", frozen)]
struct AbortOnCancel(dekbox_facade::runtime::AbortHandle);

#[pymethods]
impl AbortOnCancel {
    fn __call__(&self, future: &Bound<'_, PyAny>) -> PyResult<()> {
        if future.call_method0("cancelled")?.is_truthy()? {
            self.0.abort();
        }
        Ok(())
    }
}

/// A message key's text token, as a `str` made straight from the wiped
/// buffer (a Python `str` itself cannot be wiped).
fn token_str<'py>(py: Python<'py>, key: dekbox_core::MessageKey) -> PyResult<Bound<'py, PyString>> {
    let token = key.token(dekbox_core::Form::Text).map_err(to_py)?;
    let text = std::str::from_utf8(&token).map_err(|e| PyValueError::new_err(e.to_string()))?;
    Ok(PyString::new(py, text))
}

fn token_obj(py: Python<'_>, key: dekbox_core::MessageKey) -> PyResult<Py<PyAny>> {
    Ok(token_str(py, key)?.into_any().unbind())
}

/// Envelope encryption with cached data keys. Share one Box across threads.
#[pyclass(module = "dekbox._native", name = "Box", frozen, subclass)]
struct PyBox {
    inner: Dekbox,
}

#[pymethods]
impl PyBox {
    /// The options are dekbox-facade's `Config`, each strictly typed here
    /// (a bool is a `bool`, a list is not a `str`); `cache` is a
    /// `dekbox.CacheConfig` (or the dict of its limits).
    #[new]
    #[pyo3(signature = (key=None, *, keys=None, primary=None, endpoint=None, region=None, profile=None, fips=false, grant_tokens=None, cache=None, accept_json=false, legacy_fallback=false, legacy_allow_key_sized=false, compat_key=None, max_plaintext=None, roots=None, primary_root=None))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        key: Option<String>,
        keys: Option<BTreeMap<String, String>>,
        primary: Option<String>,
        endpoint: Option<String>,
        region: Option<String>,
        profile: Option<String>,
        fips: bool,
        grant_tokens: Option<Vec<String>>,
        cache: Option<&Bound<'_, PyAny>>,
        accept_json: bool,
        legacy_fallback: bool,
        legacy_allow_key_sized: bool,
        compat_key: Option<String>,
        max_plaintext: Option<usize>,
        roots: Option<BTreeMap<String, String>>,
        primary_root: Option<String>,
    ) -> PyResult<Self> {
        // A `dekbox.CacheConfig` carries its limits as a dict.
        let cache = cache.map(|c| c.getattr("_limits").unwrap_or_else(|_| c.clone()));
        let cache = cache.map(|c| depythonize(&c)).transpose();
        let config = Config {
            key,
            keys,
            primary,
            endpoint,
            region,
            profile,
            fips,
            grant_tokens: grant_tokens.unwrap_or_default(),
            cache: cache.map_err(|e| PyValueError::new_err(e.to_string()))?,
            accept_json,
            legacy_fallback,
            legacy_allow_key_sized,
            compat_key,
            max_plaintext,
            roots,
            primary_root,
            ..Config::default()
        };
        Ok(Self {
            inner: config.open().map_err(to_py)?,
        })
    }

    /// Seals `data` (bytes, or str as UTF-8). Returns bytes, or a
    /// `dekbox:v1:...` str with `text=True`.
    #[pyo3(signature = (data, *, context=None, aad=None, text=false))]
    fn encrypt(
        &self,
        py: Python<'_>,
        data: &Bound<'_, PyAny>,
        context: Option<&Bound<'_, PyAny>>,
        aad: Option<&Bound<'_, PyAny>>,
        text: bool,
    ) -> PyResult<Py<PyAny>> {
        let (data, ctx, aad) = (
            bytes_arg(data, "data")?,
            context_arg(context)?,
            aad_arg(aad)?,
        );
        if text {
            return sealed_out(
                py,
                self.inner
                    .encrypt(&Gil(py), &data, &ctx, &aad, Form::Text)?,
                true,
            );
        }
        Ok(self
            .inner
            .encrypt_into(&Gil(py), &data, &ctx, &aad)?
            .into_any()
            .unbind())
    }

    /// Opens a sealed value (bytes or str). Returns the plaintext bytes.
    #[pyo3(signature = (data, *, context=None, aad=None))]
    fn decrypt<'py>(
        &self,
        py: Python<'py>,
        data: &Bound<'_, PyAny>,
        context: Option<&Bound<'_, PyAny>>,
        aad: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Bound<'py, PyBytes>> {
        let (data, ctx, aad) = (
            bytes_arg(data, "data")?,
            context_arg(context)?,
            aad_arg(aad)?,
        );
        self.inner.decrypt_into(&Gil(py), &data, &ctx, &aad)
    }

    /// Seals many values under one context in one call (one KMS call at most).
    /// `aads`, if given, has one entry per value.
    #[pyo3(signature = (items, *, context=None, aads=None, text=false))]
    fn encrypt_many(
        &self,
        py: Python<'_>,
        items: &Bound<'_, PyAny>,
        context: Option<&Bound<'_, PyAny>>,
        aads: Option<&Bound<'_, PyAny>>,
        text: bool,
    ) -> PyResult<Py<PyAny>> {
        let (items, ctx, aads) = (
            items_arg(items, "items")?,
            context_arg(context)?,
            aads_arg(aads)?,
        );
        let out = self
            .inner
            .encrypt_many(&Gil(py), &items, &ctx, aads.as_deref(), form(text))?;
        sealed_list(py, out, text)
    }

    /// Opens many values in one call. Raises the first error, or with
    /// `return_exceptions=True` puts each failure's exception in its place.
    #[pyo3(signature = (items, *, context=None, aads=None, return_exceptions=false))]
    fn decrypt_many(
        &self,
        py: Python<'_>,
        items: &Bound<'_, PyAny>,
        context: Option<&Bound<'_, PyAny>>,
        aads: Option<&Bound<'_, PyAny>>,
        return_exceptions: bool,
    ) -> PyResult<Py<PyAny>> {
        let (items, ctx, aads) = (
            items_arg(items, "items")?,
            context_arg(context)?,
            aads_arg(aads)?,
        );
        let results = self
            .inner
            .decrypt_many(&Gil(py), &items, &ctx, aads.as_deref())?;
        opened_list(py, results, return_exceptions)
    }

    /// Moves a sealed value to the primary key without re-encrypting its data.
    /// Returns the value in the form it was given (bytes or str).
    #[pyo3(signature = (data, *, context=None))]
    fn rewrap(
        &self,
        py: Python<'_>,
        data: &Bound<'_, PyAny>,
        context: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Py<PyAny>> {
        let text = data.is_instance_of::<PyString>();
        let (data, ctx) = (bytes_arg(data, "data")?, context_arg(context)?);
        sealed_out(py, self.inner.rewrap(&Gil(py), &data, &ctx)?.message, text)
    }

    /// A fresh data key under the primary key (not cached).
    #[pyo3(signature = (*, context=None))]
    fn generate_data_key(
        &self,
        py: Python<'_>,
        context: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Py<PyAny>> {
        let ctx = context_arg(context)?;
        data_key(py, self.inner.generate_data_key(&Gil(py), &ctx)?)
    }

    /// Unwraps a data key wrapped by keyring key `label` (or the primary).
    #[pyo3(signature = (wrapped, *, context=None, label=None))]
    fn unwrap(
        &self,
        py: Python<'_>,
        wrapped: &Bound<'_, PyAny>,
        context: Option<&Bound<'_, PyAny>>,
        label: Option<String>,
    ) -> PyResult<Py<PyAny>> {
        let (wrapped, ctx) = (bytes_arg(wrapped, "wrapped")?, context_arg(context)?);
        let dek = self
            .inner
            .unwrap_data_key(&Gil(py), &wrapped, &ctx, label.as_deref())?;
        Ok(PyBytes::new(py, dek.dangerous_bytes()).into_any().unbind())
    }

    /// The data key of a sealed value as a message-key token
    /// (`dekbox:key:v1:…`, a str) for a client without KMS access, such as
    /// a browser page using the `dekbox-browser` package. SECRET: it opens
    /// every message sealed under that data key (all of this context's
    /// messages sealed while it was cached) and seals messages this box
    /// opens. Hand it out only for a context whose every message the client
    /// may read and write.
    #[pyo3(signature = (data, *, context=None))]
    fn message_data_key<'py>(
        &self,
        py: Python<'py>,
        data: &Bound<'_, PyAny>,
        context: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Bound<'py, PyString>> {
        let (data, ctx) = (bytes_arg(data, "data")?, context_arg(context)?);
        token_str(py, self.inner.message_data_key(&Gil(py), &data, &ctx)?)
    }

    /// A fresh message-key token (a str) for a client without KMS access to
    /// seal uploads with; this box opens what it seals. Not cached.
    #[pyo3(signature = (*, context=None))]
    fn new_message_data_key<'py>(
        &self,
        py: Python<'py>,
        context: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Bound<'py, PyString>> {
        let ctx = context_arg(context)?;
        token_str(py, self.inner.new_message_data_key(&Gil(py), &ctx)?)
    }

    /// Cache and KMS counters, as a dict (`dekbox.CacheStats` wraps it).
    fn _cache_stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        pythonize(py, &self.inner.cache_stats()).map_err(|e| PyValueError::new_err(e.to_string()))
    }

    #[pyo3(signature = (data, *, context=None, aad=None, text=false))]
    fn _encrypt_async<'py>(
        &self,
        py: Python<'py>,
        data: &Bound<'_, PyAny>,
        context: Option<&Bound<'_, PyAny>>,
        aad: Option<&Bound<'_, PyAny>>,
        text: bool,
    ) -> PyResult<Bound<'py, PyAny>> {
        let fut = self.inner.encrypt_async(
            bytes_arg(data, "data")?.into_owned(),
            context_arg(context)?,
            aad_arg(aad)?.into_owned(),
            form(text),
        );
        awaitable(py, fut, move |py, out| sealed_out(py, out, text))
    }

    #[pyo3(signature = (data, *, context=None, aad=None))]
    fn _decrypt_async<'py>(
        &self,
        py: Python<'py>,
        data: &Bound<'_, PyAny>,
        context: Option<&Bound<'_, PyAny>>,
        aad: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let fut = self.inner.decrypt_async(
            bytes_arg(data, "data")?.into_owned(),
            context_arg(context)?,
            aad_arg(aad)?.into_owned(),
        );
        awaitable(py, fut, bytes_out)
    }

    #[pyo3(signature = (data, *, context=None))]
    fn _rewrap_async<'py>(
        &self,
        py: Python<'py>,
        data: &Bound<'_, PyAny>,
        context: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let text = data.is_instance_of::<PyString>();
        let fut = self
            .inner
            .rewrap_async(bytes_arg(data, "data")?.into_owned(), context_arg(context)?);
        awaitable(py, fut, move |py, r: Rewrapped| {
            sealed_out(py, r.message, text)
        })
    }

    #[pyo3(signature = (data, *, context=None))]
    fn _message_data_key_async<'py>(
        &self,
        py: Python<'py>,
        data: &Bound<'_, PyAny>,
        context: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let fut = self
            .inner
            .message_data_key_async(bytes_arg(data, "data")?.into_owned(), context_arg(context)?);
        awaitable(py, fut, token_obj)
    }

    #[pyo3(signature = (*, context=None))]
    fn _new_message_data_key_async<'py>(
        &self,
        py: Python<'py>,
        context: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let fut = self.inner.new_message_data_key_async(context_arg(context)?);
        awaitable(py, fut, token_obj)
    }

    #[pyo3(signature = (*, context=None))]
    fn _generate_data_key_async<'py>(
        &self,
        py: Python<'py>,
        context: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        awaitable(
            py,
            self.inner.generate_data_key_async(context_arg(context)?),
            data_key,
        )
    }

    #[pyo3(signature = (wrapped, *, context=None, label=None))]
    fn _unwrap_async<'py>(
        &self,
        py: Python<'py>,
        wrapped: &Bound<'_, PyAny>,
        context: Option<&Bound<'_, PyAny>>,
        label: Option<String>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let fut = self.inner.unwrap_data_key_async(
            bytes_arg(wrapped, "wrapped")?.into_owned(),
            context_arg(context)?,
            label,
        );
        awaitable(py, fut, |py, dek| {
            Ok(PyBytes::new(py, dek.dangerous_bytes()).into_any().unbind())
        })
    }

    #[pyo3(signature = (items, *, context=None, aads=None, text=false))]
    fn _encrypt_many_async<'py>(
        &self,
        py: Python<'py>,
        items: &Bound<'_, PyAny>,
        context: Option<&Bound<'_, PyAny>>,
        aads: Option<&Bound<'_, PyAny>>,
        text: bool,
    ) -> PyResult<Bound<'py, PyAny>> {
        let (items, ctx, aads) = (
            items_arg(items, "items")?,
            context_arg(context)?,
            aads_arg(aads)?,
        );
        let fut = self.inner.encrypt_many_async(items, ctx, aads, form(text));
        awaitable(py, fut, move |py, out| sealed_list(py, out, text))
    }

    #[pyo3(signature = (items, *, context=None, aads=None, return_exceptions=false))]
    fn _decrypt_many_async<'py>(
        &self,
        py: Python<'py>,
        items: &Bound<'_, PyAny>,
        context: Option<&Bound<'_, PyAny>>,
        aads: Option<&Bound<'_, PyAny>>,
        return_exceptions: bool,
    ) -> PyResult<Bound<'py, PyAny>> {
        let (items, ctx, aads) = (
            items_arg(items, "items")?,
            context_arg(context)?,
            aads_arg(aads)?,
        );
        let fut = self.inner.decrypt_many_async(items, ctx, aads);
        awaitable(py, fut, move |py, r| opened_list(py, r, return_exceptions))
    }

    /// A new root key wrapped by keyring key `key` (a label; default the
    /// primary): its token `dekbox:root:v1:<label>:...` (a str) to keep in
    /// configuration and pass as `roots={label: token}`.
    #[pyo3(signature = (label, *, key=None))]
    fn create_root(&self, py: Python<'_>, label: &str, key: Option<String>) -> PyResult<String> {
        self.inner.create_root(&Gil(py), label, key.as_deref())
    }

    /// Seals `data` under the primary root for (`context`, `column`, `aad`):
    /// a compact value, or with `deterministic=True` one equal to every other
    /// sealing of the same input (queryable). Bytes, or str with `text=True`.
    #[pyo3(signature = (data, *, column, context=None, aad=None, deterministic=false, text=false))]
    #[allow(clippy::too_many_arguments)]
    fn encrypt_compact(
        &self,
        py: Python<'_>,
        data: &Bound<'_, PyAny>,
        column: &str,
        context: Option<&Bound<'_, PyAny>>,
        aad: Option<&Bound<'_, PyAny>>,
        deterministic: bool,
        text: bool,
    ) -> PyResult<Py<PyAny>> {
        let (data, ctx, aad) = (
            bytes_arg(data, "data")?,
            context_arg(context)?,
            aad_arg(aad)?,
        );
        let out = self.inner.encrypt_compact(
            &Gil(py),
            mode(deterministic),
            &data,
            &ctx,
            column,
            &aad,
            form(text),
        )?;
        sealed_out(py, out, text)
    }

    /// Opens a compact or deterministic value with the root it names.
    #[pyo3(signature = (data, *, column, context=None, aad=None))]
    fn decrypt_compact<'py>(
        &self,
        py: Python<'py>,
        data: &Bound<'_, PyAny>,
        column: &str,
        context: Option<&Bound<'_, PyAny>>,
        aad: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Bound<'py, PyBytes>> {
        let (data, ctx, aad) = (
            bytes_arg(data, "data")?,
            context_arg(context)?,
            aad_arg(aad)?,
        );
        let out = self
            .inner
            .decrypt_compact(&Gil(py), &data, &ctx, column, &aad)?;
        Ok(PyBytes::new(py, &out))
    }

    /// The blind index of `value` (bytes): see `dekbox.Box.blind_index`.
    #[pyo3(signature = (value, *, column, context=None, bits=256, trim=false, casefold=false, argon2id=None, root=None))]
    #[allow(clippy::too_many_arguments)]
    fn _blind_index<'py>(
        &self,
        py: Python<'py>,
        value: &Bound<'_, PyAny>,
        column: &str,
        context: Option<&Bound<'_, PyAny>>,
        bits: u16,
        trim: bool,
        casefold: bool,
        argon2id: Option<(u32, u32)>,
        root: Option<String>,
    ) -> PyResult<Bound<'py, PyBytes>> {
        let (value, ctx) = (bytes_arg(value, "value")?, context_arg(context)?);
        let options = index_options(bits, trim, casefold, argon2id);
        let out =
            self.inner
                .blind_index(&Gil(py), &value, &ctx, column, options, root.as_deref())?;
        Ok(PyBytes::new(py, &out))
    }

    /// The root labels and the primary root's label.
    fn root_labels(&self) -> (Vec<String>, Option<String>) {
        self.inner.root_labels()
    }

    #[pyo3(signature = (label, *, key=None))]
    fn _create_root_async<'py>(
        &self,
        py: Python<'py>,
        label: String,
        key: Option<String>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let fut = self.inner.create_root_async(label, key);
        awaitable(py, fut, |py, t| {
            Ok(PyString::new(py, &t).into_any().unbind())
        })
    }

    #[pyo3(signature = (data, *, column, context=None, aad=None, deterministic=false, text=false))]
    #[allow(clippy::too_many_arguments)]
    fn _encrypt_compact_async<'py>(
        &self,
        py: Python<'py>,
        data: &Bound<'_, PyAny>,
        column: String,
        context: Option<&Bound<'_, PyAny>>,
        aad: Option<&Bound<'_, PyAny>>,
        deterministic: bool,
        text: bool,
    ) -> PyResult<Bound<'py, PyAny>> {
        let (data, ctx, aad) = (
            bytes_arg(data, "data")?,
            context_arg(context)?,
            aad_arg(aad)?,
        );
        let fut = self.inner.encrypt_compact_async(
            mode(deterministic),
            data.into_owned(),
            ctx,
            column,
            aad.into_owned(),
            form(text),
        );
        awaitable(py, fut, move |py, out| sealed_out(py, out, text))
    }

    #[pyo3(signature = (data, *, column, context=None, aad=None))]
    fn _decrypt_compact_async<'py>(
        &self,
        py: Python<'py>,
        data: &Bound<'_, PyAny>,
        column: String,
        context: Option<&Bound<'_, PyAny>>,
        aad: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let (data, ctx, aad) = (
            bytes_arg(data, "data")?,
            context_arg(context)?,
            aad_arg(aad)?,
        );
        let fut =
            self.inner
                .decrypt_compact_async(data.into_owned(), ctx, column, aad.into_owned());
        awaitable(py, fut, bytes_out)
    }

    #[pyo3(signature = (value, *, column, context=None, bits=256, trim=false, casefold=false, argon2id=None, root=None))]
    #[allow(clippy::too_many_arguments)]
    fn _blind_index_async<'py>(
        &self,
        py: Python<'py>,
        value: &Bound<'_, PyAny>,
        column: String,
        context: Option<&Bound<'_, PyAny>>,
        bits: u16,
        trim: bool,
        casefold: bool,
        argon2id: Option<(u32, u32)>,
        root: Option<String>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let (value, ctx) = (bytes_arg(value, "value")?, context_arg(context)?);
        let options = index_options(bits, trim, casefold, argon2id);
        let fut = self
            .inner
            .blind_index_async(value.into_owned(), ctx, column, options, root);
        awaitable(py, fut, bytes_out)
    }

    fn __repr__(&self) -> String {
        format!("Box(keys={:?})", self.inner.key_names())
    }
}

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyBox>()?;
    m.add_class::<Context>()?;
    m.add_function(wrap_pyfunction!(_cache_limits, m)?)?;
    m.add_function(wrap_pyfunction!(_cache_disabled, m)?)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    errors::register(m)?;
    Ok(())
}
