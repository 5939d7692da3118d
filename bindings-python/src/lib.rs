//! `dekbox._native`: the Python face of dekbox. Argument conversion, error
//! mapping and idiomatic names only; everything else is dekbox-core.

mod buffer;
mod convert;
mod errors;

use convert::{Context, aad_arg, bytes_arg, context_arg, items_arg};
use dekbox_core::cache::CacheConfig as CoreCacheConfig;
use dekbox_core::kms::aws::AwsOptions;
use dekbox_core::{EncryptionContext, Form, Options};
use dekbox_transport::{Client, system_now};
use errors::to_py;
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList, PyMapping, PyString};
use std::sync::Arc;
use std::time::Duration;

/// Inputs at least this large are sealed with the GIL released.
const DETACH_ABOVE: usize = 4096;

/// Cache limits for a [`Box`].
#[pyclass(module = "dekbox", frozen)]
#[derive(Clone)]
struct CacheConfig {
    inner: CoreCacheConfig,
}

#[pymethods]
impl CacheConfig {
    #[new]
    #[pyo3(signature = (*, max_age=300.0, max_messages=1<<20, max_bytes=1u64<<36, encrypt_capacity=1024, decrypt_capacity=4096, decrypt_ttl=300.0))]
    fn new(
        max_age: f64,
        max_messages: u64,
        max_bytes: u64,
        encrypt_capacity: usize,
        decrypt_capacity: usize,
        decrypt_ttl: f64,
    ) -> PyResult<Self> {
        let secs = |v: f64, name: &str| {
            Duration::try_from_secs_f64(v).map_err(|_| {
                PyValueError::new_err(format!("{name} must be a non-negative number of seconds"))
            })
        };
        Ok(Self {
            inner: CoreCacheConfig {
                max_age: secs(max_age, "max_age")?,
                max_messages,
                max_bytes,
                encrypt_capacity,
                decrypt_capacity,
                decrypt_ttl: secs(decrypt_ttl, "decrypt_ttl")?,
            },
        })
    }

    /// No data-key reuse and no unwrapped-key cache: every call reaches the KMS.
    #[staticmethod]
    fn disabled() -> Self {
        Self {
            inner: CoreCacheConfig::disabled(),
        }
    }

    #[getter]
    fn max_age(&self) -> f64 {
        self.inner.max_age.as_secs_f64()
    }
    #[getter]
    fn max_messages(&self) -> u64 {
        self.inner.max_messages
    }
    #[getter]
    fn max_bytes(&self) -> u64 {
        self.inner.max_bytes
    }
    #[getter]
    fn encrypt_capacity(&self) -> usize {
        self.inner.encrypt_capacity
    }
    #[getter]
    fn decrypt_capacity(&self) -> usize {
        self.inner.decrypt_capacity
    }
    #[getter]
    fn decrypt_ttl(&self) -> f64 {
        self.inner.decrypt_ttl.as_secs_f64()
    }

    fn __repr__(&self) -> String {
        let c = &self.inner;
        format!(
            "CacheConfig(max_age={}, max_messages={}, max_bytes={}, encrypt_capacity={}, decrypt_capacity={}, decrypt_ttl={})",
            c.max_age.as_secs_f64(),
            c.max_messages,
            c.max_bytes,
            c.encrypt_capacity,
            c.decrypt_capacity,
            c.decrypt_ttl.as_secs_f64()
        )
    }
}

/// Counters of a [`Box`]'s caches and KMS calls.
#[pyclass(module = "dekbox", frozen, get_all)]
struct CacheStats {
    encrypt_hits: u64,
    encrypt_misses: u64,
    decrypt_hits: u64,
    decrypt_misses: u64,
    kms_calls: u64,
    data_keys_generated: u64,
}

#[pymethods]
impl CacheStats {
    fn _asdict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        d.set_item("encrypt_hits", self.encrypt_hits)?;
        d.set_item("encrypt_misses", self.encrypt_misses)?;
        d.set_item("decrypt_hits", self.decrypt_hits)?;
        d.set_item("decrypt_misses", self.decrypt_misses)?;
        d.set_item("kms_calls", self.kms_calls)?;
        d.set_item("data_keys_generated", self.data_keys_generated)?;
        Ok(d)
    }

    fn __repr__(&self) -> String {
        format!(
            "CacheStats(encrypt_hits={}, encrypt_misses={}, decrypt_hits={}, decrypt_misses={}, kms_calls={}, data_keys_generated={})",
            self.encrypt_hits,
            self.encrypt_misses,
            self.decrypt_hits,
            self.decrypt_misses,
            self.kms_calls,
            self.data_keys_generated
        )
    }
}

/// A data key from [`Box.generate_data_key`]: `plaintext` (32 bytes, secret)
/// and `wrapped` (store it next to your ciphertext).
#[pyclass(module = "dekbox", frozen)]
struct DataKey {
    plaintext: Py<PyBytes>,
    wrapped: Py<PyBytes>,
}

#[pymethods]
impl DataKey {
    /// The plaintext data key. Do not log or store it.
    #[getter]
    fn plaintext(&self, py: Python<'_>) -> Py<PyBytes> {
        self.plaintext.clone_ref(py)
    }
    /// The data key wrapped by the KMS key.
    #[getter]
    fn wrapped(&self, py: Python<'_>) -> Py<PyBytes> {
        self.wrapped.clone_ref(py)
    }
    fn __repr__(&self, py: Python<'_>) -> String {
        format!(
            "DataKey(plaintext=<redacted>, wrapped=<{} bytes>)",
            self.wrapped.bind(py).as_bytes().len()
        )
    }
}

/// Envelope encryption with cached data keys. Share one Box across threads.
#[pyclass(module = "dekbox._native", name = "Box", frozen, subclass)]
struct PyBox {
    client: Arc<Client>,
    /// Whether any key may need the network (then the GIL is always released).
    network: bool,
}

fn form(text: bool) -> Form {
    if text { Form::Text } else { Form::Binary }
}

fn output(py: Python<'_>, bytes: Vec<u8>, text: bool) -> PyResult<Py<PyAny>> {
    if text {
        let s = String::from_utf8(bytes)
            .map_err(|_| PyValueError::new_err("text form is not UTF-8"))?;
        Ok(PyString::new(py, &s).into_any().unbind())
    } else {
        Ok(PyBytes::new(py, &bytes).into_any().unbind())
    }
}

fn is_text_input(obj: &Bound<'_, PyAny>) -> bool {
    obj.cast::<PyString>().is_ok()
}

impl PyBox {
    /// Runs `f` with the GIL released when it may do I/O or heavy work.
    fn run<T: Send>(&self, py: Python<'_>, size: usize, f: impl FnOnce(&Client) -> T + Send) -> T {
        if self.network || size >= DETACH_ABOVE {
            py.detach(|| f(&self.client))
        } else {
            f(&self.client)
        }
    }

    /// The arguments of a batch call, converted once.
    fn batch(
        &self,
        items: &Bound<'_, PyAny>,
        context: Option<&Bound<'_, PyAny>>,
        aads: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Batch> {
        let items = items_arg(items, "items")?;
        let aads = match aads.filter(|a| !a.is_none()) {
            None => None,
            Some(a) => {
                let v = items_arg(a, "aads")?;
                if v.len() != items.len() {
                    return Err(PyValueError::new_err(format!(
                        "aads has {} entries for {} values",
                        v.len(),
                        items.len()
                    )));
                }
                Some(v)
            }
        };
        Ok(Batch {
            items,
            ctx: context_arg(context)?,
            aads,
        })
    }
}

/// A batch call's arguments.
struct Batch {
    items: Vec<Vec<u8>>,
    ctx: std::sync::Arc<EncryptionContext>,
    aads: Option<Vec<Vec<u8>>>,
}

impl Batch {
    fn aad_refs(&self) -> Option<Vec<&[u8]>> {
        self.aads
            .as_ref()
            .map(|a| a.iter().map(Vec::as_slice).collect())
    }

    /// How much work, for the GIL decision: big batches release it.
    fn weight(&self) -> usize {
        let total: usize = self.items.iter().map(Vec::len).sum();
        if self.items.len() > 16 {
            total.max(DETACH_ABOVE)
        } else {
            total
        }
    }
}

#[pymethods]
impl PyBox {
    #[new]
    #[pyo3(signature = (key=None, *, keys=None, primary=None, endpoint=None, region=None, profile=None, fips=false, grant_tokens=None, cache=None, accept_json=false, legacy_fallback=false, legacy_allow_key_sized=false, max_plaintext=None))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        key: Option<String>,
        keys: Option<&Bound<'_, PyAny>>,
        primary: Option<String>,
        endpoint: Option<String>,
        region: Option<String>,
        profile: Option<String>,
        fips: bool,
        grant_tokens: Option<Vec<String>>,
        cache: Option<Bound<'_, CacheConfig>>,
        accept_json: bool,
        legacy_fallback: bool,
        legacy_allow_key_sized: bool,
        max_plaintext: Option<usize>,
    ) -> PyResult<Self> {
        let mut options = Options {
            accept_json,
            legacy_fallback,
            legacy_allow_key_sized,
            ..Options::default()
        };
        if let Some(c) = cache {
            options.cache = c.get().inner.clone();
        }
        if let Some(m) = max_plaintext {
            options.max_plaintext = m;
        }
        let mut b = Client::builder().options(options).aws(AwsOptions {
            endpoint,
            region,
            fips,
            grant_tokens: grant_tokens.unwrap_or_default(),
            profile,
            credentials: None,
        });
        let mut uris = Vec::new();
        match (key, keys.filter(|k| !k.is_none())) {
            (Some(_), Some(_)) => {
                return Err(PyValueError::new_err("pass key= or keys=, not both"));
            }
            (None, None) => {
                return Err(PyValueError::new_err(
                    "pass key='local:///path' (or aws-kms://...) or keys={'v1': ...}",
                ));
            }
            (Some(k), None) => {
                if primary.is_some() {
                    return Err(PyValueError::new_err("primary= needs keys={label: uri}"));
                }
                uris.push(k.clone());
                b = b.key(k);
            }
            (None, Some(map)) => {
                let map = map.cast::<PyMapping>().map_err(|_| {
                    PyTypeError::new_err("keys must be a mapping of label to key URI")
                })?;
                for item in map.items()?.iter() {
                    let (label, uri): (String, String) = item.extract().map_err(|_| {
                        PyTypeError::new_err("keys must map str labels to str key URIs")
                    })?;
                    uris.push(uri.clone());
                    b = b.labeled_key(label, uri);
                }
                if let Some(p) = primary {
                    b = b.primary(p);
                }
            }
        }
        let network = uris
            .iter()
            .any(|u| !(u.starts_with("local://") || u == "insecure-test-key"));
        let client = b.build().map_err(to_py)?;
        Ok(Self {
            client: Arc::new(client),
            network,
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
        let data = bytes_arg(data, "data")?;
        let (ctx, aad) = (context_arg(context)?, aad_arg(aad)?);
        if !text {
            // Cache hit: seal straight into the new bytes object (no copy).
            let engine = self.client.engine();
            if let Some(plan) = engine
                .plan_encrypt(data.len(), &ctx, system_now())
                .map_err(to_py)?
            {
                let big = data.len() >= DETACH_ABOVE;
                let out = buffer::new_bytes_with(py, plan.sealed_len(), |buf| {
                    let r = if big {
                        py.detach(|| plan.seal_into_uninit(&data, &ctx, &aad, buf))
                    } else {
                        plan.seal_into_uninit(&data, &ctx, &aad, buf)
                    };
                    r.map_err(to_py)
                })?;
                return Ok(out.into_any().unbind());
            }
        }
        let out = self
            .run(py, data.len(), |c| c.encrypt(&data, &ctx, &aad, form(text)))
            .map_err(to_py)?;
        output(py, out, text)
    }

    /// Opens a sealed value (bytes or str). Returns the plaintext bytes.
    #[pyo3(signature = (data, *, context=None, aad=None))]
    fn decrypt(
        &self,
        py: Python<'_>,
        data: &Bound<'_, PyAny>,
        context: Option<&Bound<'_, PyAny>>,
        aad: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Py<PyBytes>> {
        let data = bytes_arg(data, "data")?;
        let (ctx, aad) = (context_arg(context)?, aad_arg(aad)?);
        // Cached data key: open straight into the new bytes object (no copy).
        if let Some(plan) = self
            .client
            .engine()
            .plan_decrypt(&data, &ctx, system_now())
            .map_err(to_py)?
        {
            let big = data.len() >= DETACH_ABOVE;
            let out = buffer::new_bytes_with(py, plan.plaintext_len(), |buf| {
                let r = if big {
                    py.detach(|| plan.open_into_uninit(&data, &ctx, &aad, buf))
                } else {
                    plan.open_into_uninit(&data, &ctx, &aad, buf)
                };
                r.map_err(to_py)
            })?;
            return Ok(out.unbind());
        }
        let out = self
            .run(py, data.len(), |c| c.decrypt(&data, &ctx, &aad))
            .map_err(to_py)?;
        Ok(PyBytes::new(py, &out).unbind())
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
    ) -> PyResult<Py<PyList>> {
        let b = self.batch(items, context, aads)?;
        let out = self
            .run(py, b.weight(), |c| {
                c.encrypt_many(&b.items, &b.ctx, b.aad_refs().as_deref(), form(text))
            })
            .map_err(to_py)?;
        let list = PyList::empty(py);
        for o in out {
            list.append(output(py, o, text)?)?;
        }
        Ok(list.unbind())
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
    ) -> PyResult<Py<PyList>> {
        let b = self.batch(items, context, aads)?;
        let results = self
            .run(py, b.weight(), |c| {
                c.decrypt_many(&b.items, &b.ctx, b.aad_refs().as_deref())
            })
            .map_err(to_py)?;
        let list = PyList::empty(py);
        for r in results {
            match r {
                Ok(pt) => list.append(PyBytes::new(py, &pt))?,
                Err(e) if return_exceptions => list.append(to_py(e).into_value(py))?,
                Err(e) => return Err(to_py(e)),
            }
        }
        Ok(list.unbind())
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
        let text = is_text_input(data);
        let data = bytes_arg(data, "data")?;
        let ctx = context_arg(context)?;
        let r = self
            .run(py, data.len(), |c| c.rewrap(&data, &ctx))
            .map_err(to_py)?;
        output(py, r.message, text)
    }

    /// A fresh data key under the primary key (not cached).
    #[pyo3(signature = (*, context=None))]
    fn generate_data_key(
        &self,
        py: Python<'_>,
        context: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<DataKey> {
        let ctx = context_arg(context)?;
        let gk = self
            .run(py, 0, |c| c.generate_data_key(&ctx))
            .map_err(to_py)?;
        Ok(DataKey {
            plaintext: PyBytes::new(py, gk.plaintext.dangerous_bytes()).unbind(),
            wrapped: PyBytes::new(py, &gk.wrapped).unbind(),
        })
    }

    /// Unwraps a data key wrapped by keyring key `label` (or the primary).
    #[pyo3(signature = (wrapped, *, context=None, label=None))]
    fn unwrap(
        &self,
        py: Python<'_>,
        wrapped: &Bound<'_, PyAny>,
        context: Option<&Bound<'_, PyAny>>,
        label: Option<String>,
    ) -> PyResult<Py<PyBytes>> {
        let wrapped = bytes_arg(wrapped, "wrapped")?;
        let ctx = context_arg(context)?;
        let dek = self
            .run(py, 0, |c| {
                c.unwrap_data_key(&wrapped, &ctx, label.as_deref())
            })
            .map_err(to_py)?;
        Ok(PyBytes::new(py, dek.dangerous_bytes()).unbind())
    }

    /// Cache and KMS counters.
    fn cache_stats(&self) -> CacheStats {
        let s = self.client.cache_stats();
        CacheStats {
            encrypt_hits: s.encrypt_hits,
            encrypt_misses: s.encrypt_misses,
            decrypt_hits: s.decrypt_hits,
            decrypt_misses: s.decrypt_misses,
            kms_calls: s.provider_calls,
            data_keys_generated: s.data_keys_generated,
        }
    }

    /// Async [`encrypt`](Box.encrypt).
    #[pyo3(signature = (data, *, context=None, aad=None, text=false))]
    #[pyo3(name = "_encrypt_async")]
    fn encrypt_async<'py>(
        &self,
        py: Python<'py>,
        data: &Bound<'_, PyAny>,
        context: Option<&Bound<'_, PyAny>>,
        aad: Option<&Bound<'_, PyAny>>,
        text: bool,
    ) -> PyResult<Bound<'py, PyAny>> {
        let data = bytes_arg(data, "data")?.into_owned();
        let (ctx, aad) = (context_arg(context)?, aad_arg(aad)?.into_owned());
        let client = self.client.clone();
        pyo3_async_runtimes::tokio::future_into_py(py, async move {
            let out = client
                .encrypt_async(&data, &ctx, &aad, form(text))
                .await
                .map_err(to_py)?;
            Python::attach(|py| output(py, out, text))
        })
    }

    /// Async [`decrypt`](Box.decrypt).
    #[pyo3(signature = (data, *, context=None, aad=None))]
    #[pyo3(name = "_decrypt_async")]
    fn decrypt_async<'py>(
        &self,
        py: Python<'py>,
        data: &Bound<'_, PyAny>,
        context: Option<&Bound<'_, PyAny>>,
        aad: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let data = bytes_arg(data, "data")?.into_owned();
        let (ctx, aad) = (context_arg(context)?, aad_arg(aad)?.into_owned());
        let client = self.client.clone();
        pyo3_async_runtimes::tokio::future_into_py(py, async move {
            let out = client
                .decrypt_async(&data, &ctx, &aad)
                .await
                .map_err(to_py)?;
            Python::attach(|py| Ok(PyBytes::new(py, &out).into_any().unbind()))
        })
    }

    /// Async [`rewrap`](Box.rewrap).
    #[pyo3(signature = (data, *, context=None))]
    #[pyo3(name = "_rewrap_async")]
    fn rewrap_async<'py>(
        &self,
        py: Python<'py>,
        data: &Bound<'_, PyAny>,
        context: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let text = is_text_input(data);
        let data = bytes_arg(data, "data")?.into_owned();
        let ctx = context_arg(context)?;
        let client = self.client.clone();
        pyo3_async_runtimes::tokio::future_into_py(py, async move {
            let r = client.rewrap_async(&data, &ctx).await.map_err(to_py)?;
            Python::attach(|py| output(py, r.message, text))
        })
    }

    /// Async [`generate_data_key`](Box.generate_data_key).
    #[pyo3(signature = (*, context=None))]
    #[pyo3(name = "_generate_data_key_async")]
    fn generate_data_key_async<'py>(
        &self,
        py: Python<'py>,
        context: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let ctx = context_arg(context)?;
        let client = self.client.clone();
        pyo3_async_runtimes::tokio::future_into_py(py, async move {
            let gk = client.generate_data_key_async(&ctx).await.map_err(to_py)?;
            Python::attach(|py| {
                Ok(DataKey {
                    plaintext: PyBytes::new(py, gk.plaintext.dangerous_bytes()).unbind(),
                    wrapped: PyBytes::new(py, &gk.wrapped).unbind(),
                })
            })
        })
    }

    /// Async [`unwrap`](Box.unwrap).
    #[pyo3(signature = (wrapped, *, context=None, label=None))]
    #[pyo3(name = "_unwrap_async")]
    fn unwrap_async<'py>(
        &self,
        py: Python<'py>,
        wrapped: &Bound<'_, PyAny>,
        context: Option<&Bound<'_, PyAny>>,
        label: Option<String>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let wrapped = bytes_arg(wrapped, "wrapped")?.into_owned();
        let ctx = context_arg(context)?;
        let client = self.client.clone();
        pyo3_async_runtimes::tokio::future_into_py(py, async move {
            let dek = client
                .unwrap_data_key_async(&wrapped, &ctx, label.as_deref())
                .await
                .map_err(to_py)?;
            Python::attach(|py| Ok(PyBytes::new(py, dek.dangerous_bytes()).into_any().unbind()))
        })
    }

    fn __repr__(&self) -> String {
        let labels: Vec<String> = self
            .client
            .engine()
            .keyring()
            .entries()
            .iter()
            .map(|e| {
                e.label()
                    .map(String::from)
                    .unwrap_or_else(|| e.provider().uri().to_string())
            })
            .collect();
        format!("Box(keys={labels:?})")
    }
}

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyBox>()?;
    m.add_class::<CacheConfig>()?;
    m.add_class::<CacheStats>()?;
    m.add_class::<DataKey>()?;
    m.add_class::<Context>()?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    errors::register(m)?;
    Ok(())
}
