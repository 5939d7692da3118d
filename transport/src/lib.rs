//! `dekbox-transport`: the I/O side of dekbox.
//!
//! `dekbox-core` never touches the network, files, environment variables or
//! the clock. This crate supplies them:
//!
//! - [`Client`]: the Rust API most users want. It owns a `dekbox_core::Engine`
//!   and drives its operations over HTTP, blocking or async.
//! - [`Transport`]: the drivers themselves (reqwest with rustls, connection
//!   reuse, per-request timeouts, an overall deadline, retries with
//!   exponential backoff and full jitter on retryable errors only).
//! - [`OsEnvironment`]: environment variables, files and `credential_process`.
//! - [`PerProcess`]: a value (HTTP client, runtime) rebuilt in a forked child.

mod client;
mod driver;
mod os;
mod per_process;

pub use client::{Client, ClientBuilder};
pub use driver::{RetryPolicy, Transport};
pub use os::{OsEnvironment, system_now};
pub use per_process::PerProcess;
