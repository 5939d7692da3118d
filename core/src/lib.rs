//! `dekbox-core`: envelope encryption, sans-IO.
//!
//! This crate owns everything dekbox does that needs no network, no files and no
//! clock of its own: the message format ([`format`]), the data AEAD, key
//! commitment, the data-key caches ([`cache`]), the keyring ([`keyring`]), the key
//! providers ([`provider`]) and the [`Engine`] that ties them together.
//!
//! Every operation that may need a KMS is an [`op::Operation`]: a small state
//! machine that hands out [`http::HttpRequest`] values and takes
//! [`http::HttpResponse`] values back. The caller (the `dekbox-transport` crate,
//! a language binding, or a test) does the I/O. Time enters as a
//! [`Timestamp`] argument and randomness through [`random::SecureRandom`], so
//! cache expiry, request signing and the message bytes themselves are
//! reproducible under test.
//!
//! ```
//! use dekbox_core::{Engine, EncryptionContext, Form, Timestamp, provider::LocalProvider};
//!
//! let engine = Engine::builder()
//!     .key(LocalProvider::insecure_test_key())
//!     .build()
//!     .unwrap();
//! let ctx = EncryptionContext::from_pairs([("tenant", "acme")]).unwrap();
//! let now = Timestamp::from_unix_millis(1_700_000_000_000);
//! let sealed = engine.encrypt_local(b"secret", &ctx, b"users/42", Form::Text, now).unwrap();
//! assert!(sealed.starts_with(b"dekbox:v1:"));
//! let opened = engine.decrypt_local(&sealed, &ctx, b"users/42", now).unwrap();
//! assert_eq!(&opened[..], b"secret");
//! ```
#![forbid(unsafe_op_in_unsafe_fn)]
#![warn(missing_docs)]
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

pub mod cache;
pub mod compat;
pub mod context;
mod crypto;
mod engine;
pub mod env;
mod envelope;
pub mod error;
pub mod format;
pub mod http;
pub mod kat;
pub mod key;
pub mod keyring;
pub mod message_key;
pub mod op;
pub mod provider;
pub mod random;
pub mod root;
mod time;

pub use context::EncryptionContext;
pub use engine::{
    DecryptOp, EncryptOp, Engine, EngineBuilder, Inspection, MessageKeyOp, OpenPlan, OpenRawKeyOp,
    Options, PrefetchOp, RawDataKey, RawKeyOp, RewrapOp, Rewrapped, RootKeyOp, SealPlan,
};
pub use error::{ERRORS, Error, ErrorInfo, ErrorKind, Malformed};
pub use format::Form;
pub use key::{DataKey, GeneratedKey};
pub use message_key::MessageKey;
pub use time::Timestamp;

/// Result type used throughout dekbox.
pub type Result<T, E = Error> = std::result::Result<T, E>;
