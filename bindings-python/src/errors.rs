//! dekbox errors as Python exceptions: one class per row of dekbox-core's
//! error table, built when the module loads.

use dekbox_facade::{ERRORS, Error, ErrorKind};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyTuple, PyType};

/// `dekbox.Error` and one class per error kind, in table order.
static CLASSES: PyOnceLock<(Py<PyType>, Vec<Py<PyType>>)> = PyOnceLock::new();

fn classes(py: Python<'_>) -> PyResult<&(Py<PyType>, Vec<Py<PyType>>)> {
    CLASSES.get_or_try_init(py, || {
        let make = |name: &str, bases: Vec<Bound<'_, PyAny>>, doc: &str| -> PyResult<Py<PyType>> {
            let ns = PyDict::new(py);
            ns.set_item("__doc__", doc)?;
            ns.set_item("__module__", "dekbox")?;
            let ty = py
                .get_type::<PyType>()
                .call1((name, PyTuple::new(py, bases)?, ns))?;
            Ok(ty.cast_into::<PyType>()?.unbind())
        };
        let exception = py.get_type::<pyo3::exceptions::PyException>().into_any();
        let base = make(
            "Error",
            vec![exception],
            "Base class of every dekbox error; `code` is its stable code.",
        )?;
        let mut kinds: Vec<Py<PyType>> = Vec::with_capacity(ERRORS.len());
        for row in ERRORS {
            let mut bases = vec![match row.parent {
                Some(p) => kinds[index(p)].bind(py).clone().into_any(),
                None => base.bind(py).clone().into_any(),
            }];
            if row.argument_error {
                bases.push(py.get_type::<pyo3::exceptions::PyValueError>().into_any());
            }
            kinds.push(make(row.class, bases, row.doc)?);
        }
        Ok((base, kinds))
    })
}

fn index(kind: ErrorKind) -> usize {
    ERRORS.iter().position(|r| r.kind == kind).unwrap_or(0)
}

/// Converts a dekbox error, setting `code` (a stable string) on the exception.
pub fn to_py(e: Error) -> PyErr {
    Python::attach(|py| {
        let made = classes(py).and_then(|(_, kinds)| {
            let value = kinds[index(e.kind())].bind(py).call1((e.to_string(),))?;
            value.setattr("code", e.code())?;
            Ok(PyErr::from_value(value))
        });
        made.unwrap_or_else(|err| err)
    })
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let (base, kinds) = classes(m.py())?;
    m.add("Error", base.bind(m.py()))?;
    for (row, class) in ERRORS.iter().zip(kinds) {
        m.add(row.class, class.bind(m.py()))?;
    }
    Ok(())
}
