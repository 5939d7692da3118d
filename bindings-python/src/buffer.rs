//! The Python host for the facade: the GIL is released around slow work, and
//! `bytes` objects are filled in place without a zero-fill or a copy.

use crate::errors::to_py;
use dekbox_facade::{Error, Host};
use pyo3::exceptions::PyOverflowError;
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::PyBytes;
use std::mem::MaybeUninit;

/// The interpreter, as the facade's [`Host`].
pub struct Gil<'py>(pub Python<'py>);

impl<'py> Host for Gil<'py> {
    type Bytes = Bound<'py, PyBytes>;
    type Error = PyErr;

    fn error(&self, e: Error) -> PyErr {
        to_py(e)
    }

    fn release<R: Send>(&self, f: impl FnOnce() -> R + Send) -> R {
        self.0.detach(f)
    }

    /// A new `bytes` of `len` bytes whose contents `fill` writes. The storage
    /// is handed out only as `MaybeUninit`, so nothing can read it before
    /// `fill` has written it; if `fill` fails, the object is released unseen.
    #[inline]
    fn new_bytes(
        &self,
        len: usize,
        fill: impl FnOnce(&mut [MaybeUninit<u8>]) -> PyResult<()>,
    ) -> PyResult<Bound<'py, PyBytes>> {
        let py = self.0;
        let n = isize::try_from(len)
            .map_err(|_| PyOverflowError::new_err("value too large for bytes"))?;
        // SAFETY: with a NULL source, PyBytes_FromStringAndSize returns a new
        // reference to a bytes object of `n` uninitialised bytes, or NULL with
        // an exception set (handled by from_owned_ptr_or_err).
        let obj = unsafe {
            Bound::from_owned_ptr_or_err(py, ffi::PyBytes_FromStringAndSize(std::ptr::null(), n))?
        };
        let bytes = obj.cast_into::<PyBytes>()?;
        // SAFETY: `bytes` is a bytes object we own exclusively (no other
        // reference exists yet); its buffer is `len` bytes long and lives as
        // long as `bytes`, which outlives `buf`.
        let buf = unsafe {
            let data = ffi::PyBytes_AsString(bytes.as_ptr());
            if data.is_null() {
                return Err(PyErr::fetch(py));
            }
            std::slice::from_raw_parts_mut(data.cast::<MaybeUninit<u8>>(), len)
        };
        fill(buf)?;
        Ok(bytes)
    }

    fn bytes(&self, b: &[u8]) -> PyResult<Bound<'py, PyBytes>> {
        Ok(PyBytes::new(self.0, b))
    }
}
