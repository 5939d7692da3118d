//! dekbox in the browser: open and seal dekbox messages, byte-identical
//! with every other runtime, through wasm-bindgen.
//!
//! Two ways in:
//!
//! 1. **A data key from your server** ([`DataKey`], `openWithDataKey`,
//!    `sealWithDataKey`): the server, which holds the KMS credentials, hands
//!    the page a message key token (`message_data_key` /
//!    `new_message_data_key` in Python, Node, Ruby or the CLI) over TLS.
//!    This build has no KMS client and stays small.
//! 2. **KMS from the browser** (`Box`, with the `kms` feature): AWS KMS over
//!    `fetch` with short-lived credentials (Cognito, STS), through the same
//!    facade every other binding uses.
//!
//! Like every binding, this crate converts arguments, calls dekbox-core or
//! dekbox-facade, and converts results; it holds no format or crypto logic
//! of its own beyond handing the AES-GCM of large messages to Web Crypto.

mod data_key;
mod js;
#[cfg(feature = "kms")]
mod kms;
mod subtle;

pub use data_key::{DataKey, open_with_data_key, seal_with_data_key};
#[cfg(feature = "kms")]
pub use kms::KmsBox;

use wasm_bindgen::prelude::*;

#[wasm_bindgen(typescript_custom_section)]
const OPTIONS_TS: &str = r#"
/** The encryption context: tenant or owner labels bound to the message. */
export type Context = Record<string, string>;
/** Options of `open`, `openText`, `openAsync` and `openWithDataKey`. */
export interface OpenOptions {
  /** The context the message was sealed with. */
  context?: Context;
  /** The associated data it was sealed with (e.g. table and row id). */
  aad?: Uint8Array | string;
  /** Accepted and ignored, so one options object serves seal and open. */
  text?: boolean;
}
/** Options of `seal` and `sealWithDataKey`. */
export interface SealOptions {
  context?: Context;
  aad?: Uint8Array | string;
  /** Return the `dekbox:v1:…` text form instead of bytes. */
  text?: boolean;
}
/** Options of `openMany`. */
export interface OpenManyOptions {
  context?: Context;
  /** One associated data per message. */
  aads?: Array<Uint8Array | string>;
}
/**
 * Every error this package throws for a dekbox reason: `name` is the class
 * name every runtime uses, `code` is `ERR_DEKBOX_` + the language-neutral
 * code (`ERR_DEKBOX_AUTHENTICATION`, `ERR_DEKBOX_MALFORMED`, ...).
 */
export interface DekboxError extends Error {
  code: string;
  retryable: boolean;
}
"#;

/// The error codes this package's errors carry (`ERR_DEKBOX_*`), in the
/// order of dekbox-core's error table.
#[wasm_bindgen(js_name = errorCodes)]
pub fn error_codes() -> Vec<String> {
    dekbox_core::ERRORS
        .iter()
        .map(|e| format!("ERR_DEKBOX_{}", e.code))
        .collect()
}
