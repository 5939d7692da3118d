//! `dekbox-facade`: the layer every language binding and the `dekbox` CLI
//! delegate to, so that a behaviour fixed here is fixed in every language.
//!
//! Layering (see CONTRIBUTING.md): `dekbox-core` (format, crypto, caches,
//! providers, the sans-IO engine) → `dekbox-transport` (HTTP, the OS) → this
//! crate → bindings and the CLI. A binding function converts its arguments,
//! calls one method here, and converts the result.
//!
//! - [`Config`]: every option, with defaults defined once in dekbox-core and
//!   validated once; the `DEKBOX_KEY` convention; deserializable from a host
//!   options object.
//! - [`Dekbox`]: the shared handle. Blocking methods take a [`Host`] (how to
//!   leave the host's lock, how to make its byte objects) and decide per call,
//!   after the cache lookup, whether to release it; `*_async` methods take
//!   owned arguments and return `'static + Send` futures.
//! - [`runtime`]: the per-process async runtime those futures run on, rebuilt
//!   in a forked child.
//! - Errors: [`dekbox_core::ERRORS`] is the one table bindings build their
//!   exception classes from.

mod config;
mod handle;
mod host;
#[cfg(not(target_arch = "wasm32"))]
pub mod runtime;

pub use config::{AwsCredentials, Config, KEY_ENV};
pub use dekbox_core::{ERRORS, Error, ErrorInfo, ErrorKind, Result};
pub use handle::{Dekbox, INLINE_MAX, MaybeSend, Now, RELEASE_ABOVE};
pub use host::{Direct, Host};
