//! `Box`: AWS KMS from the browser over `fetch`, for pages that hold
//! short-lived credentials (Cognito identity pools, STS). The same
//! dekbox-facade `Config` and `Dekbox` every other binding uses; requests are
//! signed in the module and sent with the transport crate's wasm build.

use crate::DataKey;
use crate::js::{self, bytes_in, bytes_out, dekbox_error, public_in, string_out, type_error};
use dekbox_core::Form;
use dekbox_core::root::blind::{IndexOptions, Normalize, Slowness};
use dekbox_core::root::value::Mode;
use dekbox_facade::{AwsCredentials, Config, Dekbox};
use js_sys::{Object, Promise, Reflect, Uint8Array};
use std::sync::Arc;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::future_to_promise;
use zeroize::Zeroizing;

const ENCRYPT: &[&str] = &["context", "aad", "text"];
const DECRYPT: &[&str] = &["context", "aad", "text"];
const KEY_OF: &[&str] = &["context"];
const ENCRYPT_COMPACT: &[&str] = &["context", "column", "aad", "deterministic", "text"];
const DECRYPT_COMPACT: &[&str] = &["context", "column", "aad", "text"];
const BLIND_INDEX: &[&str] = &[
    "context", "column", "bits", "trim", "casefold", "slow", "root", "hex",
];

#[wasm_bindgen(typescript_custom_section)]
const BOX_TS: &str = r#"
/** Explicit AWS credentials (temporary ones from Cognito or STS). */
export interface AwsCredentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
}
/** `new Box(options)`. */
export interface BoxOptions {
  /** One key URI, e.g. `aws-kms://arn:aws:kms:eu-west-1:111122223333:key/…`. */
  key?: string;
  /** A keyring: label → key URI (with `primary`). */
  keys?: Record<string, string>;
  primary?: string;
  /** Required in the browser (there is no environment to find them in). */
  credentials: AwsCredentials;
  /** KMS endpoint URL (VPC endpoints, a proxy, a loopback test server). */
  endpoint?: string;
  region?: string;
  grantTokens?: string[];
  /** Cache limits in seconds and counts; `false` disables caching. */
  cache?: { maxAge?: number; maxMessages?: number; maxBytes?: number;
            encryptCapacity?: number; decryptCapacity?: number; decryptTtl?: number } | false;
  maxPlaintext?: number;
  /** Root keys, label → token (`dekbox:root:v1:…`), unwrapped by the KMS once. */
  roots?: Record<string, string>;
  primaryRoot?: string;
}
/** Options of `encryptCompact`. */
export interface CompactOptions {
  /** The column label, bound into the value's key. */
  column: string;
  context?: Context;
  aad?: Uint8Array | string;
  /** Equal input, context, column and aad give equal values (queryable). */
  deterministic?: boolean;
  /** The `dekbox:c1:` string form. */
  text?: boolean;
}
/** Options of `blindIndex`. */
export interface BlindIndexOptions {
  column: string;
  context?: Context;
  /** 1–256 (default 256). */
  bits?: number;
  trim?: boolean;
  casefold?: boolean;
  /** Argon2id: `true` (3 passes, 4 MiB) or `[tCost, mCostKiB]`. */
  slow?: boolean | [number, number];
  /** The root label (default the primary root). */
  root?: string;
  /** Hex string (default) or, with `false`, bytes. */
  hex?: boolean;
}
/** Counters of `Box.cacheStats()`. */
export interface CacheStats {
  encryptHits: number; encryptMisses: number; decryptHits: number;
  decryptMisses: number; kmsCalls: number; dataKeysGenerated: number;
}
"#;

/// Envelope encryption with AWS KMS from the page: `encrypt`, `decrypt`,
/// `decryptText` and `messageDataKey` return promises; data keys are cached
/// as in every other runtime.
#[wasm_bindgen(js_name = Box)]
pub struct KmsBox {
    inner: Dekbox,
}

/// `camelCase` option names as the facade's `snake_case` ones.
fn snake(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 4);
    for c in name.chars() {
        if c.is_ascii_uppercase() {
            out.push('_');
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// Renames a plain object's own keys to snake_case (not a keyring's labels).
fn renamed(v: &JsValue, what: &str) -> Result<Object, JsValue> {
    let out = Object::new();
    for (name, mut value) in js::plain_entries(v, what)? {
        if value.is_undefined() {
            continue;
        }
        if name == "cache" && value.is_object() {
            value = renamed(&value, "cache")?.into();
        }
        Reflect::set(&out, &snake(&name).into(), &value)?;
    }
    Ok(out)
}

/// Explicit credentials, read field by field into wiped strings: never
/// through serde, whose errors quote the values they refuse.
fn credentials(v: &JsValue) -> Result<AwsCredentials, JsValue> {
    let mut id = None;
    let mut secret = None;
    let mut token = None;
    for (name, value) in js::plain_entries(v, "credentials")? {
        let field = match name.as_str() {
            "accessKeyId" => &mut id,
            "secretAccessKey" => &mut secret,
            "sessionToken" => &mut token,
            // The AWS SDKs' credential objects carry more (expiration,
            // identityId, $source, ...): a Box does not refresh credentials
            // (make a new one with fresh ones), so the rest is not read.
            _ => continue,
        };
        if value.is_undefined() || value.is_null() {
            continue;
        }
        let Some(s) = value.as_string() else {
            return Err(type_error(&format!("credentials.{name} must be a string")));
        };
        *field = Some(Zeroizing::new(s));
    }
    match (id, secret) {
        (Some(id), Some(secret)) => Ok(AwsCredentials {
            access_key_id: id.to_string(),
            secret_access_key: secret,
            session_token: token,
        }),
        _ => Err(type_error(
            "credentials needs accessKeyId and secretAccessKey (and sessionToken for temporary ones)",
        )),
    }
}

fn config(options: &JsValue) -> Result<Config, JsValue> {
    if !options.is_object() {
        return Err(type_error(
            "Box options must be an object: { key, credentials: { accessKeyId, secretAccessKey, sessionToken } }",
        ));
    }
    let object = renamed(options, "Box options")?;
    // In a page there is no environment, no shared config file and no
    // instance metadata: credentials are given, or there are none.
    let creds = Reflect::get(&object, &"credentials".into())?;
    if creds.is_undefined() {
        return Err(type_error(
            "Box needs credentials in the browser: { accessKeyId, secretAccessKey, sessionToken } \
             (temporary ones from Cognito or STS)",
        ));
    }
    Reflect::delete_property(&object, &"credentials".into())?;
    if Reflect::get(&object, &"cache".into())? == JsValue::FALSE {
        let disabled = serde_wasm_bindgen::to_value(&dekbox_core::cache::CacheConfig::disabled())?;
        Reflect::set(&object, &"cache".into(), &disabled)?;
    }
    // serde's messages quote the values they refuse; none of these is
    // secret, but the message names the expected shapes instead.
    const SHAPES: &str = "Box options: key (string), keys (object of strings) with primary, \
        endpoint, region (strings), grantTokens (array of strings), fips (boolean), cache \
        (object of numbers, or false), maxPlaintext (number), roots (object of strings) with \
        primaryRoot";
    let value: serde_json::Value =
        serde_wasm_bindgen::from_value(object.into()).map_err(|_| type_error(SHAPES))?;
    let mut config =
        <Config as serde::Deserialize>::deserialize(&value).map_err(|_| type_error(SHAPES))?;
    // Read last: serde-wasm-bindgen's reads of the other options are not all
    // guarded, and no secret may be in the module while they run.
    config.credentials = Some(credentials(&creds)?);
    Ok(config)
}

#[wasm_bindgen(js_class = Box)]
impl KmsBox {
    /// Opens a box: `new Box({ key, credentials, endpoint, region })`. No
    /// network I/O until the first call.
    #[wasm_bindgen(constructor)]
    pub fn new(
        #[wasm_bindgen(unchecked_param_type = "BoxOptions")] options: &JsValue,
    ) -> Result<KmsBox, JsValue> {
        let inner = config(options)?.open().map_err(dekbox_error)?;
        Ok(KmsBox { inner })
    }

    /// Seals `plaintext`; `text: true` gives the `dekbox:v1:…` string form.
    #[wasm_bindgen(unchecked_return_type = "Promise<Uint8Array | string>")]
    pub fn encrypt(
        &self,
        #[wasm_bindgen(unchecked_param_type = "Uint8Array | string")] plaintext: &JsValue,
        #[wasm_bindgen(unchecked_optional_param_type = "SealOptions")] options: &JsValue,
    ) -> Promise {
        let start = || -> Result<_, JsValue> {
            let o = js::options(options, ENCRYPT)?;
            let pt = bytes_in(plaintext, "plaintext")?;
            let form = if o.text { Form::Text } else { Form::Binary };
            Ok(self
                .inner
                .encrypt_async(pt, Arc::new(o.context()), o.aad, form))
        };
        match start() {
            Ok(fut) => {
                future_to_promise(async move { Ok(sealed_value(fut.await.map_err(dekbox_error)?)) })
            }
            Err(e) => Promise::reject(&e),
        }
    }

    /// Opens a sealed value (bytes or `dekbox:v1:…` string).
    #[wasm_bindgen(unchecked_return_type = "Promise<Uint8Array>")]
    pub fn decrypt(
        &self,
        #[wasm_bindgen(unchecked_param_type = "Uint8Array | string")] message: &JsValue,
        #[wasm_bindgen(unchecked_optional_param_type = "OpenOptions")] options: &JsValue,
    ) -> Promise {
        self.decrypting(message, options, false)
    }

    /// `decrypt`, decoded as UTF-8.
    #[wasm_bindgen(js_name = decryptText, unchecked_return_type = "Promise<string>")]
    pub fn decrypt_text(
        &self,
        #[wasm_bindgen(unchecked_param_type = "Uint8Array | string")] message: &JsValue,
        #[wasm_bindgen(unchecked_optional_param_type = "OpenOptions")] options: &JsValue,
    ) -> Promise {
        self.decrypting(message, options, true)
    }

    /// The data key of a message, as a `DataKey` (for opening many large
    /// messages under it with Web Crypto, `openAsync`).
    #[wasm_bindgen(js_name = messageDataKey, unchecked_return_type = "Promise<DataKey>")]
    pub fn message_data_key(
        &self,
        #[wasm_bindgen(unchecked_param_type = "Uint8Array | string")] message: &JsValue,
        #[wasm_bindgen(unchecked_optional_param_type = "{ context?: Context }")] options: &JsValue,
    ) -> Promise {
        let start = || -> Result<_, JsValue> {
            let o = js::options(options, KEY_OF)?;
            let m = public_in(message, "message")?;
            Ok(self.inner.message_data_key_async(m, Arc::new(o.context())))
        };
        match start() {
            Ok(fut) => future_to_promise(async move {
                let key = fut.await.map_err(dekbox_error)?;
                Ok(DataKey::from_message_key(key).into())
            }),
            Err(e) => Promise::reject(&e),
        }
    }

    /// A new root key wrapped by keyring key `key` (default the primary):
    /// its token `dekbox:root:v1:<label>:…` for `roots`.
    #[wasm_bindgen(js_name = createRoot, unchecked_return_type = "Promise<string>")]
    pub fn create_root(
        &self,
        #[wasm_bindgen(unchecked_param_type = "string")] label: &JsValue,
        #[wasm_bindgen(unchecked_optional_param_type = "{ key?: string }")] options: &JsValue,
    ) -> Promise {
        let start = || -> Result<_, JsValue> {
            let label = label
                .as_string()
                .ok_or_else(|| type_error("label must be a string"))?;
            let mut key = None;
            if !options.is_undefined() && !options.is_null() {
                for (name, value) in js::plain_entries(options, "options")? {
                    match name.as_str() {
                        "key" if value.is_undefined() => {}
                        "key" => {
                            key = Some(
                                value
                                    .as_string()
                                    .ok_or_else(|| type_error("key must be a string"))?,
                            )
                        }
                        _ => {
                            return Err(type_error(&format!(
                                "unknown option {name:?}: this method takes key"
                            )));
                        }
                    }
                }
            }
            Ok(self.inner.create_root_async(label, key))
        };
        match start() {
            Ok(fut) => future_to_promise(async move {
                Ok(JsValue::from_str(&fut.await.map_err(dekbox_error)?))
            }),
            Err(e) => Promise::reject(&e),
        }
    }

    /// Seals under the primary root (unwrapped by the KMS on first use):
    /// a compact value, or with `deterministic: true` a queryable one.
    #[wasm_bindgen(js_name = encryptCompact, unchecked_return_type = "Promise<Uint8Array | string>")]
    pub fn encrypt_compact(
        &self,
        #[wasm_bindgen(unchecked_param_type = "Uint8Array | string")] plaintext: &JsValue,
        #[wasm_bindgen(unchecked_param_type = "CompactOptions")] options: &JsValue,
    ) -> Promise {
        let start = || -> Result<_, JsValue> {
            let o = js::options(options, ENCRYPT_COMPACT)?;
            let column = column(&o)?;
            let pt = bytes_in(plaintext, "plaintext")?;
            let mode = if o.deterministic {
                Mode::Deterministic
            } else {
                Mode::Compact
            };
            let form = if o.text { Form::Text } else { Form::Binary };
            Ok(self.inner.encrypt_compact_async(
                mode,
                pt,
                Arc::new(o.context()),
                column,
                o.aad.clone(),
                form,
            ))
        };
        match start() {
            Ok(fut) => {
                future_to_promise(async move { Ok(sealed_value(fut.await.map_err(dekbox_error)?)) })
            }
            Err(e) => Promise::reject(&e),
        }
    }

    /// Opens a compact or deterministic value; `text: true` decodes UTF-8.
    #[wasm_bindgen(js_name = decryptCompact, unchecked_return_type = "Promise<Uint8Array | string>")]
    pub fn decrypt_compact(
        &self,
        #[wasm_bindgen(unchecked_param_type = "Uint8Array | string")] value: &JsValue,
        #[wasm_bindgen(
            unchecked_param_type = "{ column: string; context?: Context; aad?: Uint8Array | string; text?: boolean }"
        )]
        options: &JsValue,
    ) -> Promise {
        let start = || -> Result<_, JsValue> {
            let o = js::options(options, DECRYPT_COMPACT)?;
            let column = column(&o)?;
            let v = public_in(value, "value")?;
            let fut =
                self.inner
                    .decrypt_compact_async(v, Arc::new(o.context()), column, o.aad.clone());
            Ok((fut, o.text))
        };
        match start() {
            Ok((fut, text)) => future_to_promise(async move {
                let pt = Zeroizing::new(fut.await.map_err(dekbox_error)?);
                Ok(if text {
                    string_out(pt)?.into()
                } else {
                    bytes_out(pt).into()
                })
            }),
            Err(e) => Promise::reject(&e),
        }
    }

    /// A blind index (hex, or bytes with `hex: false`).
    #[wasm_bindgen(js_name = blindIndex, unchecked_return_type = "Promise<string | Uint8Array>")]
    pub fn blind_index(
        &self,
        #[wasm_bindgen(unchecked_param_type = "Uint8Array | string")] value: &JsValue,
        #[wasm_bindgen(unchecked_param_type = "BlindIndexOptions")] options: &JsValue,
    ) -> Promise {
        let start = || -> Result<_, JsValue> {
            let o = js::options(options, BLIND_INDEX)?;
            let column = column(&o)?;
            let v = bytes_in(value, "value")?;
            let index = IndexOptions {
                bits: o.bits.unwrap_or(256),
                normalize: Normalize {
                    trim: o.trim,
                    casefold: o.casefold,
                },
                slowness: match o.slow {
                    Some((t_cost, m_cost)) => Slowness::Argon2id { t_cost, m_cost },
                    None => Slowness::Hmac,
                },
            };
            let fut = self.inner.blind_index_async(
                v,
                Arc::new(o.context()),
                column,
                index,
                o.root.clone(),
            );
            Ok((fut, o.hex != Some(false)))
        };
        match start() {
            Ok((fut, hex)) => future_to_promise(async move {
                let out = fut.await.map_err(dekbox_error)?;
                Ok(if hex {
                    JsValue::from_str(&out.iter().map(|b| format!("{b:02x}")).collect::<String>())
                } else {
                    Uint8Array::from(&out[..]).into()
                })
            }),
            Err(e) => Promise::reject(&e),
        }
    }

    /// Cache and KMS counters (the Node package's names).
    #[wasm_bindgen(js_name = cacheStats, unchecked_return_type = "CacheStats")]
    pub fn cache_stats(&self) -> Result<JsValue, JsValue> {
        let s = self.inner.cache_stats();
        let out = Object::new();
        for (name, n) in [
            ("encryptHits", s.encrypt_hits),
            ("encryptMisses", s.encrypt_misses),
            ("decryptHits", s.decrypt_hits),
            ("decryptMisses", s.decrypt_misses),
            ("kmsCalls", s.provider_calls),
            ("dataKeysGenerated", s.data_keys_generated),
        ] {
            Reflect::set(&out, &name.into(), &(n as f64).into())?;
        }
        Ok(out.into())
    }

    /// Each key's label, or its URI when unlabelled.
    #[wasm_bindgen(getter)]
    pub fn keys(&self) -> Vec<String> {
        self.inner.key_names()
    }

    /// The primary key's label, or its URI when unlabelled.
    #[wasm_bindgen(getter)]
    pub fn primary(&self) -> String {
        self.inner.primary_key_name()
    }
}

/// A sealed value for JavaScript: a string in text form, else bytes.
fn sealed_value(sealed: Vec<u8>) -> JsValue {
    match std::str::from_utf8(&sealed) {
        Ok(s) if sealed.starts_with(b"dekbox:") => JsValue::from_str(s),
        _ => Uint8Array::from(&sealed[..]).into(),
    }
}

/// `options.column`, required for root-keyed values and indexes.
fn column(o: &js::Options) -> Result<String, JsValue> {
    o.column
        .clone()
        .ok_or_else(|| type_error("options.column (the column label) is required"))
}

impl KmsBox {
    fn decrypting(&self, message: &JsValue, options: &JsValue, text: bool) -> Promise {
        let start = || -> Result<_, JsValue> {
            let o = js::options(options, DECRYPT)?;
            let m = public_in(message, "message")?;
            Ok(self.inner.decrypt_async(m, Arc::new(o.context()), o.aad))
        };
        match start() {
            Ok(fut) => future_to_promise(async move {
                let pt = Zeroizing::new(fut.await.map_err(dekbox_error)?);
                Ok(if text {
                    string_out(pt)?.into()
                } else {
                    bytes_out(pt).into()
                })
            }),
            Err(e) => Promise::reject(&e),
        }
    }
}
