//! One error taxonomy for every provider and every language binding.
//!
//! Bindings map [`Error::code`] to their own idiom (Python exception classes, a
//! JS `Error` with `code`, Ruby exception classes). Messages never contain
//! plaintext, key material or wrapped keys.

use std::fmt;

/// Everything that can go wrong in dekbox.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The input is not a well-formed dekbox value (or a supported compatible
    /// form): truncated, a bad length, an unknown version, too large.
    #[error("malformed input: {0}")]
    Malformed(#[from] Malformed),

    /// Decryption failed: wrong key, wrong context, wrong aad, or altered bytes.
    /// These causes are deliberately indistinguishable.
    #[error("authentication failed: wrong key, context or aad, or the message was altered")]
    Authentication,

    /// The message names a key (label or URI) that is not in this keyring.
    /// Only keys configured by the caller are ever used; a message cannot
    /// direct dekbox to a key of its choosing.
    #[error("the message names key {0:?}, which is not in this keyring")]
    UnknownKey(String),

    /// The KMS refused the caller's credentials or permissions.
    #[error("KMS access denied: {0}")]
    KmsAccessDenied(String),

    /// The KMS rate-limited the request. Retryable.
    #[error("KMS throttled the request: {0}")]
    KmsThrottled(String),

    /// The KMS could not be reached, timed out, or failed internally. Retryable.
    #[error("KMS unavailable: {0}")]
    KmsUnavailable(String),

    /// A checksum over a KMS request or answer did not match: the bytes were
    /// damaged between dekbox and the KMS (Cloud KMS's CRC32C fields).
    /// Retryable.
    #[error("KMS integrity check failed: {0}")]
    KmsIntegrity(String),

    /// The key exists but is disabled or in a state that forbids this use.
    #[error("key disabled or not usable in its current state: {0}")]
    KeyDisabled(String),

    /// The KMS does not know the key.
    #[error("key not found: {0}")]
    KeyNotFound(String),

    /// Any other KMS error, kept with the service's own error type name.
    #[error("KMS error {code}: {message}")]
    Kms {
        /// The service's error type, e.g. `InvalidKeyUsageException`.
        code: String,
        /// The service's message, which never contains key material.
        message: String,
    },

    /// Configuration is invalid: a bad key URI, unreadable key file, bad limits.
    #[error("configuration error: {0}")]
    Config(String),

    /// The API was called in a way that can never work (a bug in the caller).
    #[error("API misuse: {0}")]
    ApiMisuse(&'static str),

    /// An argument is unusable as given (a batch whose aads do not match its
    /// items, say); the message says which and why.
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
}

/// The kinds of [`Error`], one per row of [`ERRORS`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// [`Error::Malformed`]
    Malformed,
    /// [`Error::Authentication`]
    Authentication,
    /// [`Error::KmsAccessDenied`]
    KmsAccessDenied,
    /// [`Error::KmsThrottled`]
    KmsThrottled,
    /// [`Error::KmsUnavailable`]
    KmsUnavailable,
    /// [`Error::KmsIntegrity`]
    KmsIntegrity,
    /// [`Error::KeyDisabled`]
    KeyDisabled,
    /// [`Error::KeyNotFound`]
    KeyNotFound,
    /// [`Error::Kms`]
    Kms,
    /// [`Error::Config`]
    Config,
    /// [`Error::UnknownKey`]
    UnknownKey,
    /// [`Error::ApiMisuse`]
    ApiMisuse,
    /// [`Error::InvalidArgument`]
    InvalidArgument,
}

/// What every language binding needs to know about one kind of error: the
/// stable code, the class name bindings give it, its parent class (`None`:
/// the binding's base `dekbox` error), whether it is retryable, whether it is
/// also an argument error (Python `ValueError`, JS `TypeError`-like), the CLI's
/// exit status, and a one-line description.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ErrorInfo {
    /// The kind.
    pub kind: ErrorKind,
    /// Stable, language-neutral code, e.g. `AUTHENTICATION`.
    pub code: &'static str,
    /// Class name in the bindings, e.g. `AuthenticationError`.
    pub class: &'static str,
    /// The kind whose class this one derives from (`None`: the base class).
    pub parent: Option<ErrorKind>,
    /// Whether repeating the same request later may succeed.
    pub retryable: bool,
    /// A misuse of the API rather than a failure (bindings also derive the
    /// class from their language's argument error).
    pub argument_error: bool,
    /// `dekbox` command-line exit status.
    pub exit_code: u8,
    /// One-line description (the class docstring).
    pub doc: &'static str,
}

macro_rules! error_table {
    ($($kind:ident, $code:literal, $class:literal, $parent:expr, $retry:literal, $arg:literal, $exit:literal, $doc:literal;)*) => {
        /// Every kind of error, parents before children.
        pub static ERRORS: &[ErrorInfo] = &[$(ErrorInfo {
            kind: ErrorKind::$kind,
            code: $code,
            class: $class,
            parent: $parent,
            retryable: $retry,
            argument_error: $arg,
            exit_code: $exit,
            doc: $doc,
        }),*];
    };
}

// Exit codes: 1 other, 2 usage, 3 authentication, 4 malformed, 5 KMS, 6 configuration.
error_table! {
    Malformed, "MALFORMED", "MalformedError", None, false, false, 4,
        "Input is not a well-formed dekbox value: truncated, a bad length, unknown version, too large.";
    Authentication, "AUTHENTICATION", "AuthenticationError", None, false, false, 3,
        "Wrong key, wrong context or aad, or altered data (deliberately indistinguishable).";
    KmsAccessDenied, "KMS_ACCESS_DENIED", "KmsAccessDenied", None, false, false, 5,
        "The KMS refused the credentials or permissions.";
    KmsThrottled, "KMS_THROTTLED", "KmsThrottled", None, true, false, 5,
        "The KMS rate-limited the request (retried with backoff before this is raised).";
    KmsUnavailable, "KMS_UNAVAILABLE", "KmsUnavailable", None, true, false, 5,
        "The KMS could not be reached, timed out, or failed internally.";
    KmsIntegrity, "KMS_INTEGRITY", "KmsIntegrityError", None, true, false, 5,
        "A checksum over a KMS request or answer did not match: corrupted in transit (retried before this is raised).";
    KeyDisabled, "KEY_DISABLED", "KeyDisabled", None, false, false, 5,
        "The key exists but is disabled or pending deletion.";
    KeyNotFound, "KEY_NOT_FOUND", "KeyNotFound", None, false, false, 5,
        "The KMS does not know the key.";
    Kms, "KMS_ERROR", "KmsError", None, false, false, 5,
        "Any other KMS error; the message carries the service's error type.";
    Config, "CONFIG", "ConfigError", None, false, false, 6,
        "Invalid configuration: a bad key URI, unreadable key file, no credentials.";
    UnknownKey, "UNKNOWN_KEY", "UnknownKeyError", Some(ErrorKind::Config), false, false, 6,
        "The value names a key that is not in this keyring.";
    ApiMisuse, "API_MISUSE", "ApiMisuseError", None, false, true, 2,
        "The API was called in a way that can never work (a bug in the caller).";
    InvalidArgument, "INVALID_ARGUMENT", "InvalidArgumentError", None, false, true, 2,
        "An argument is unusable as given.";
}

impl ErrorKind {
    /// This kind's row of [`ERRORS`].
    pub fn info(self) -> &'static ErrorInfo {
        ERRORS.iter().find(|i| i.kind == self).unwrap_or(&ERRORS[0])
    }
}

impl Error {
    /// The kind of error.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Malformed(_) => ErrorKind::Malformed,
            Error::Authentication => ErrorKind::Authentication,
            Error::UnknownKey(_) => ErrorKind::UnknownKey,
            Error::KmsAccessDenied(_) => ErrorKind::KmsAccessDenied,
            Error::KmsThrottled(_) => ErrorKind::KmsThrottled,
            Error::KmsUnavailable(_) => ErrorKind::KmsUnavailable,
            Error::KmsIntegrity(_) => ErrorKind::KmsIntegrity,
            Error::KeyDisabled(_) => ErrorKind::KeyDisabled,
            Error::KeyNotFound(_) => ErrorKind::KeyNotFound,
            Error::Kms { .. } => ErrorKind::Kms,
            Error::Config(_) => ErrorKind::Config,
            Error::ApiMisuse(_) => ErrorKind::ApiMisuse,
            Error::InvalidArgument(_) => ErrorKind::InvalidArgument,
        }
    }

    /// This error's row of [`ERRORS`].
    pub fn info(&self) -> &'static ErrorInfo {
        self.kind().info()
    }

    /// A stable, language-neutral code for this kind of error.
    pub fn code(&self) -> &'static str {
        self.info().code
    }

    /// Whether repeating the same request later may succeed.
    pub fn is_retryable(&self) -> bool {
        self.info().retryable
    }
}

/// Why an input is malformed. Each variant says what was wrong, never what the
/// secret parts of the input were.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Malformed {
    /// Not in any form dekbox reads (and legacy fallback is off).
    #[error("not a dekbox message (no binary magic, text prefix or JSON envelope)")]
    NotDekbox,
    /// The input ends before `field` is complete.
    #[error("truncated: input ends inside {0}")]
    Truncated(Field),
    /// A format version this build does not read.
    #[error("unsupported format version {0}")]
    UnsupportedVersion(u8),
    /// An algorithm suite this build does not read.
    #[error("unsupported algorithm suite {0:#04x}")]
    UnsupportedSuite(u8),
    /// A length field outside its documented bounds.
    #[error("{field} length {len} is outside 1..={max}")]
    LengthOutOfRange {
        /// Which field.
        field: Field,
        /// The length found.
        len: usize,
        /// The largest length allowed.
        max: usize,
    },
    /// The whole input exceeds the configured maximum.
    #[error("input is {len} bytes, larger than the limit of {max}")]
    TooLarge {
        /// Input size.
        len: usize,
        /// Configured limit.
        max: usize,
    },
    /// An unknown key reference kind byte.
    #[error("unknown key reference kind {0}")]
    BadKeyRefKind(u8),
    /// A text field holds a control character (key references must be
    /// printable: they are shown to people).
    #[error("{0} contains a control character")]
    ControlCharacter(Field),
    /// A text field that must be UTF-8 is not.
    #[error("{0} is not valid UTF-8")]
    InvalidUtf8(Field),
    /// The text form's base64 is invalid or not canonical.
    #[error("invalid base64 in {0}")]
    Base64(Field),
    /// A JSON envelope that is not of the expected shape.
    #[error("invalid JSON envelope: {0}")]
    Json(&'static str),
    /// An encryption context that breaks its bounds (size, empty key).
    #[error("invalid encryption context: {0}")]
    Context(&'static str),
    /// A wrapped key blob a provider cannot parse.
    #[error("invalid wrapped key: {0}")]
    WrappedKey(&'static str),
    /// A dekbox message given to a root-keyed-value operation.
    #[error("a dekbox message, not a root-keyed value: open it with decrypt")]
    NotRootKeyed,
    /// A root-keyed value (compact or deterministic) given to a message
    /// operation: it opens with its column, through `decrypt_compact`.
    #[error(
        "a root-keyed (compact or deterministic) value: open it with decrypt_compact and its column"
    )]
    RootKeyed,
    /// A kms_encrypted-style `vN:<base64>` value that does not parse.
    #[error("invalid kms_encrypted key value: {0}")]
    KmsEncrypted(&'static str),
}

/// Names of the fields of a message, used in [`Malformed`] errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Field {
    /// The 3-byte magic.
    Magic,
    /// The version byte.
    Version,
    /// The suite byte.
    Suite,
    /// The HKDF salt.
    Salt,
    /// The key commitment.
    Commitment,
    /// The AEAD nonce.
    Nonce,
    /// The key reference.
    KeyRef,
    /// The wrapped data key.
    WrappedDek,
    /// The ciphertext and tag.
    Body,
    /// The text form as a whole.
    Text,
    /// A JSON field.
    Json,
    /// An encryption context entry.
    Context,
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = match self {
            Field::Magic => "magic",
            Field::Version => "version",
            Field::Suite => "suite",
            Field::Salt => "salt",
            Field::Commitment => "commitment",
            Field::Nonce => "nonce",
            Field::KeyRef => "key reference",
            Field::WrappedDek => "wrapped data key",
            Field::Body => "ciphertext",
            Field::Text => "text form",
            Field::Json => "JSON envelope",
            Field::Context => "encryption context",
        };
        f.write_str(s)
    }
}

#[cfg(test)]
mod table_tests {
    use super::*;

    #[test]
    fn every_kind_has_one_row_and_parents_come_first() {
        for (i, row) in ERRORS.iter().enumerate() {
            assert_eq!(row.kind.info(), row);
            assert_eq!(ERRORS.iter().filter(|r| r.kind == row.kind).count(), 1);
            if let Some(p) = row.parent {
                assert!(ERRORS[..i].iter().any(|r| r.kind == p), "{}", row.class);
            }
        }
        assert_eq!(Error::Authentication.code(), "AUTHENTICATION");
        assert!(Error::KmsThrottled(String::new()).is_retryable());
        assert!(!Error::Config(String::new()).is_retryable());
        assert_eq!(
            Error::UnknownKey("v9".into()).info().parent,
            Some(ErrorKind::Config)
        );
    }
}
