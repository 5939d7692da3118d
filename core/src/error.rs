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
}

impl Error {
    /// A stable, language-neutral code for this kind of error.
    pub fn code(&self) -> &'static str {
        match self {
            Error::Malformed(_) => "MALFORMED",
            Error::Authentication => "AUTHENTICATION",
            Error::UnknownKey(_) => "UNKNOWN_KEY",
            Error::KmsAccessDenied(_) => "KMS_ACCESS_DENIED",
            Error::KmsThrottled(_) => "KMS_THROTTLED",
            Error::KmsUnavailable(_) => "KMS_UNAVAILABLE",
            Error::KeyDisabled(_) => "KEY_DISABLED",
            Error::KeyNotFound(_) => "KEY_NOT_FOUND",
            Error::Kms { .. } => "KMS_ERROR",
            Error::Config(_) => "CONFIG",
            Error::ApiMisuse(_) => "API_MISUSE",
        }
    }

    /// Whether repeating the same request later may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(self, Error::KmsThrottled(_) | Error::KmsUnavailable(_))
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
