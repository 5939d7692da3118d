//! Python arguments to Rust values, with clear TypeErrors.

use dekbox_core::EncryptionContext;
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyByteArray, PyBytes, PyMapping, PyMemoryView, PyString};
use std::borrow::Cow;
use std::sync::Arc;

/// `bytes`, `bytearray`, `memoryview` or `str` (UTF-8) as bytes.
pub fn bytes_arg<'a>(obj: &'a Bound<'_, PyAny>, what: &str) -> PyResult<Cow<'a, [u8]>> {
    if let Ok(b) = obj.cast::<PyBytes>() {
        return Ok(Cow::Borrowed(b.as_bytes()));
    }
    if let Ok(s) = obj.cast::<PyString>() {
        return Ok(Cow::Owned(s.to_cow()?.as_bytes().to_vec()));
    }
    if let Ok(b) = obj.cast::<PyByteArray>() {
        return Ok(Cow::Owned(b.to_vec()));
    }
    if obj.cast::<PyMemoryView>().is_ok() {
        let b = obj.py().get_type::<PyBytes>().call1((obj,))?;
        return Ok(Cow::Owned(b.cast::<PyBytes>()?.as_bytes().to_vec()));
    }
    Err(PyTypeError::new_err(format!(
        "{what} must be bytes or str, not {}",
        obj.get_type().name()?
    )))
}

/// A prepared encryption context: a mapping of `str` to `str` converted
/// once, for reuse across many calls.
#[pyclass(module = "dekbox", frozen)]
pub struct Context {
    pub(crate) inner: Arc<EncryptionContext>,
}

#[pymethods]
impl Context {
    #[new]
    fn new(mapping: &Bound<'_, PyAny>) -> PyResult<Self> {
        Ok(Self {
            inner: context_arg(Some(mapping))?,
        })
    }

    fn __repr__(&self) -> String {
        format!("Context({:?})", self.inner.as_map())
    }

    fn __len__(&self) -> usize {
        self.inner.len()
    }

    /// The entries as a new dict.
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, pyo3::types::PyDict>> {
        let d = pyo3::types::PyDict::new(py);
        for (k, v) in self.inner.iter() {
            d.set_item(k, v)?;
        }
        Ok(d)
    }
}

/// `None`, a [`Context`] (shared, no conversion), or a mapping of `str` to `str`.
pub fn context_arg(obj: Option<&Bound<'_, PyAny>>) -> PyResult<Arc<EncryptionContext>> {
    if let Some(c) = obj.and_then(|o| o.cast::<Context>().ok()) {
        return Ok(c.get().inner.clone());
    }
    convert_context(obj).map(Arc::new)
}

fn convert_context(obj: Option<&Bound<'_, PyAny>>) -> PyResult<EncryptionContext> {
    let Some(obj) = obj.filter(|o| !o.is_none()) else {
        return Ok(EncryptionContext::empty());
    };
    let mut pairs = Vec::new();
    // Dicts are read directly (no items() list, no tuples); other mappings
    // through items().
    if let Ok(d) = obj.cast::<pyo3::types::PyDict>() {
        pairs.reserve_exact(d.len());
        for (k, v) in d.iter() {
            pairs.push(pair(&k, &v)?);
        }
    } else {
        let map = obj.cast::<PyMapping>().map_err(|_| {
            PyTypeError::new_err(format!(
                "context must be a mapping of str to str, not {}",
                type_name(obj)
            ))
        })?;
        for item in map.items()?.iter() {
            let (k, v): (Bound<'_, PyAny>, Bound<'_, PyAny>) = item.extract()?;
            pairs.push(pair(&k, &v)?);
        }
    }
    EncryptionContext::from_pairs(pairs).map_err(|e| crate::errors::to_py(e.into()))
}

/// `None` or bytes/str.
pub fn aad_arg<'a>(obj: Option<&'a Bound<'_, PyAny>>) -> PyResult<Cow<'a, [u8]>> {
    match obj.filter(|o| !o.is_none()) {
        Some(o) => bytes_arg(o, "aad"),
        None => Ok(Cow::Borrowed(&[])),
    }
}

/// A list of items from any iterable.
pub fn items_arg(obj: &Bound<'_, PyAny>, what: &str) -> PyResult<Vec<Vec<u8>>> {
    if obj.cast::<PyBytes>().is_ok() || obj.cast::<PyString>().is_ok() {
        return Err(PyTypeError::new_err(format!(
            "{what} must be a sequence of values, not a single {}",
            type_name(obj)
        )));
    }
    let mut out = Vec::new();
    for item in obj.try_iter()? {
        out.push(bytes_arg(&item?, what)?.into_owned());
    }
    Ok(out)
}

pub fn type_name(o: &Bound<'_, PyAny>) -> String {
    o.get_type()
        .name()
        .map(|n| n.to_string())
        .unwrap_or_else(|_| "?".into())
}

fn pair(k: &Bound<'_, PyAny>, v: &Bound<'_, PyAny>) -> PyResult<(String, String)> {
    let key = k
        .cast::<PyString>()
        .map_err(|_| {
            PyTypeError::new_err(format!("context keys must be str, not {}", type_name(k)))
        })?
        .to_cow()?
        .into_owned();
    let value = v
        .cast::<PyString>()
        .map_err(|_| {
            PyTypeError::new_err(format!(
                "context value for {key:?} must be str, not {}",
                type_name(v)
            ))
        })?
        .to_cow()?
        .into_owned();
    Ok((key, value))
}
