//! The one place dekbox errors become Python exceptions.

use dekbox_core::Error;
use pyo3::create_exception;
use pyo3::exceptions::PyException;
use pyo3::prelude::*;

create_exception!(
    dekbox,
    DekboxError,
    PyException,
    "Base class of every dekbox error."
);
create_exception!(
    dekbox,
    AuthenticationError,
    DekboxError,
    "Wrong key, wrong context or aad, or altered data (deliberately indistinguishable)."
);
create_exception!(
    dekbox,
    MalformedError,
    DekboxError,
    "Input is not a well-formed dekbox value: truncated, a bad length, unknown version, too large."
);
create_exception!(
    dekbox,
    KmsAccessDenied,
    DekboxError,
    "The KMS refused the credentials or permissions."
);
create_exception!(
    dekbox,
    KmsThrottled,
    DekboxError,
    "The KMS rate-limited the request (retried with backoff before this is raised)."
);
create_exception!(
    dekbox,
    KmsUnavailable,
    DekboxError,
    "The KMS could not be reached, timed out, or failed internally."
);
create_exception!(
    dekbox,
    KeyDisabled,
    DekboxError,
    "The key exists but is disabled or pending deletion."
);
create_exception!(
    dekbox,
    KeyNotFound,
    DekboxError,
    "The KMS does not know the key."
);
create_exception!(
    dekbox,
    KmsError,
    DekboxError,
    "Any other KMS error; `code` is the service's error type."
);
create_exception!(
    dekbox,
    ConfigError,
    DekboxError,
    "Invalid configuration: a bad key URI, unreadable key file, no credentials."
);
create_exception!(
    dekbox,
    UnknownKeyError,
    ConfigError,
    "The value names a key that is not in this Box's keyring."
);

/// Converts a dekbox error, setting `code` (a stable string) on the exception.
pub fn to_py(e: Error) -> PyErr {
    let code = e.code();
    let msg = e.to_string();
    let err = match e {
        Error::Authentication => AuthenticationError::new_err(msg),
        Error::Malformed(_) => MalformedError::new_err(msg),
        Error::KmsAccessDenied(_) => KmsAccessDenied::new_err(msg),
        Error::KmsThrottled(_) => KmsThrottled::new_err(msg),
        Error::KmsUnavailable(_) => KmsUnavailable::new_err(msg),
        Error::KeyDisabled(_) => KeyDisabled::new_err(msg),
        Error::KeyNotFound(_) => KeyNotFound::new_err(msg),
        Error::Kms { .. } => KmsError::new_err(msg),
        Error::UnknownKey(_) => UnknownKeyError::new_err(msg),
        Error::Config(_) => ConfigError::new_err(msg),
        Error::ApiMisuse(_) => pyo3::exceptions::PyValueError::new_err(msg),
        _ => DekboxError::new_err(msg),
    };
    Python::attach(|py| {
        let _ = err.value(py).setattr("code", code);
    });
    err
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add("Error", py.get_type::<DekboxError>())?;
    m.add("AuthenticationError", py.get_type::<AuthenticationError>())?;
    m.add("MalformedError", py.get_type::<MalformedError>())?;
    m.add("KmsAccessDenied", py.get_type::<KmsAccessDenied>())?;
    m.add("KmsThrottled", py.get_type::<KmsThrottled>())?;
    m.add("KmsUnavailable", py.get_type::<KmsUnavailable>())?;
    m.add("KeyDisabled", py.get_type::<KeyDisabled>())?;
    m.add("KeyNotFound", py.get_type::<KeyNotFound>())?;
    m.add("KmsError", py.get_type::<KmsError>())?;
    m.add("ConfigError", py.get_type::<ConfigError>())?;
    m.add("UnknownKeyError", py.get_type::<UnknownKeyError>())?;
    Ok(())
}
