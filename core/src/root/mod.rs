//! Root keys: a 32-byte secret generated once, wrapped by a keyring key and
//! stored by the user as one short token, unwrapped once per process.
//!
//! A root never encrypts anything itself. Every use derives its own key with
//! HKDF-SHA-256 from the root, a purpose, the canonical context and a column
//! label (docs/FORMAT.md, "Root keys"):
//!
//! - [`value`]: compact values (randomized) and deterministic values
//!   (equal plaintext, context and column give equal bytes), AES-256-GCM-SIV;
//! - [`blind`]: blind indexes, a truncated HMAC-SHA-256 (or Argon2id) of a
//!   normalized value, for equality search over encrypted columns.
//!
//! Unlike a data key, a root has no message limit or age to expire by: it
//! lives for the process, like the KMS key it stands in for between calls
//! (why, and a rotation cadence, are in docs/FORMAT.md).

pub mod blind;
pub mod value;

use crate::context::{EncryptionContext, PURPOSE_KEY};
use crate::format::{self, KeyRef, KeyRefKind};
use crate::{Error, Result};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hkdf::Hkdf;
use sha2::Sha256;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use zeroize::Zeroizing;

/// The text prefix of a root token: `dekbox:root:v1:<label>:<base64url>`.
pub const ROOT_TOKEN_PREFIX: &str = "dekbox:root:v1:";
/// The longest root label.
pub const MAX_ROOT_LABEL: usize = 32;
/// The value of the reserved purpose entry a root is wrapped under (with
/// `dekbox:root = <label>`).
pub const PURPOSE_ROOT_KEY: &str = "root-key";
/// The reserved context entry naming the root's label.
pub const ROOT_LABEL_KEY: &str = "dekbox:root";
/// HKDF-Extract's salt for roots.
const EXTRACT_SALT: &[u8] = b"dekbox root v1";
/// Derived column keys kept per root set.
const DERIVED_CAPACITY: std::num::NonZeroUsize = std::num::NonZeroUsize::MIN.saturating_add(1023);

/// Checks a root label: 1 to 32 of `A-Z a-z 0-9 _ -`.
pub fn check_label(label: &str) -> Result<()> {
    let ok = !label.is_empty()
        && label.len() <= MAX_ROOT_LABEL
        && label
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(Error::Config(format!(
            "a root label is 1 to {MAX_ROOT_LABEL} of A-Z a-z 0-9 _ - (got {} bytes)",
            label.len()
        )))
    }
}

/// The context a root is wrapped under: `dekbox:purpose = root-key` and
/// `dekbox:root = <label>`, so a token's wrapped key unwraps under its own
/// label only, and never as a message's data key.
pub(crate) fn wrap_context(label: &str) -> Result<EncryptionContext> {
    let mut map = BTreeMap::new();
    map.insert(PURPOSE_KEY.to_string(), PURPOSE_ROOT_KEY.to_string());
    map.insert(ROOT_LABEL_KEY.to_string(), label.to_string());
    Ok(EncryptionContext::reserved_from_map(map)?)
}

/// A parsed root token.
#[derive(Clone, PartialEq, Eq)]
pub struct RootToken {
    label: String,
    key_ref_kind: KeyRefKind,
    key_ref: String,
    wrapped: Vec<u8>,
}

impl std::fmt::Debug for RootToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RootToken")
            .field("label", &self.label)
            .field("key", &self.key_ref)
            .finish_non_exhaustive()
    }
}

impl RootToken {
    pub(crate) fn new(label: &str, key_ref: KeyRef<'_>, wrapped: Vec<u8>) -> Result<Self> {
        check_label(label)?;
        format::key_section(key_ref, &wrapped)?;
        Ok(Self {
            label: label.into(),
            key_ref_kind: key_ref.kind,
            key_ref: key_ref.name.into(),
            wrapped,
        })
    }

    /// Parses `dekbox:root:v1:<label>:<base64url(key section)>` (surrounding
    /// ASCII whitespace allowed).
    pub fn parse(token: &str) -> Result<Self> {
        let t = token.trim_ascii();
        let Some(rest) = t.strip_prefix(ROOT_TOKEN_PREFIX) else {
            return Err(Error::Config(if t.starts_with("dekbox:root:") {
                "unsupported root token version (this build reads dekbox:root:v1:)".into()
            } else {
                "not a root token (expected dekbox:root:v1:<label>:<key>)".into()
            }));
        };
        let Some((label, b64)) = rest.split_once(':') else {
            return Err(Error::Config(
                "a root token has no key part after its label".into(),
            ));
        };
        check_label(label)?;
        let bad = |what: String| Error::Config(format!("root token {label:?}: {what}"));
        // The largest key section, in base64.
        let max = 4 * (3 + format::MAX_KEY_REF_LEN + 2 + format::MAX_WRAPPED_DEK_LEN) / 3 + 4;
        if b64.len() > max {
            return Err(bad(format!("{} characters, more than {max}", b64.len())));
        }
        let section = URL_SAFE_NO_PAD
            .decode(b64)
            .map_err(|_| bad("invalid base64url".into()))?;
        let (kind, name, wrapped) =
            format::parse_key_section(&section).map_err(|e| bad(e.to_string()))?;
        let name =
            std::str::from_utf8(name).map_err(|_| bad("key reference is not UTF-8".into()))?;
        Ok(Self {
            label: label.into(),
            key_ref_kind: kind,
            key_ref: name.into(),
            wrapped: wrapped.to_vec(),
        })
    }

    /// The token's text.
    pub fn encode(&self) -> String {
        // The key section (lengths checked when the token was made).
        let name = self.key_ref.as_bytes();
        let mut section = Vec::with_capacity(5 + name.len() + self.wrapped.len());
        section.push(match self.key_ref_kind {
            KeyRefKind::Label => 0x01,
            KeyRefKind::Uri => 0x02,
        });
        section.extend_from_slice(&(name.len() as u16).to_be_bytes());
        section.extend_from_slice(name);
        section.extend_from_slice(&(self.wrapped.len() as u16).to_be_bytes());
        section.extend_from_slice(&self.wrapped);
        format!(
            "{ROOT_TOKEN_PREFIX}{}:{}",
            self.label,
            URL_SAFE_NO_PAD.encode(section)
        )
    }

    /// The root's label.
    pub fn label(&self) -> &str {
        &self.label
    }

    /// The keyring key that wrapped it (label or URI).
    pub fn key_ref(&self) -> KeyRef<'_> {
        KeyRef {
            kind: self.key_ref_kind,
            name: &self.key_ref,
        }
    }

    /// The wrapped root (opaque provider bytes, as in a message's key
    /// section).
    pub fn wrapped(&self) -> &[u8] {
        &self.wrapped
    }
}

/// What a derived key is for; each gives unrelated keys.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub(crate) enum Purpose {
    Compact,
    Deterministic,
    BlindIndex,
    External,
}

impl Purpose {
    fn name(self) -> &'static [u8] {
        match self {
            Purpose::Compact => b"compact",
            Purpose::Deterministic => b"deterministic",
            Purpose::BlindIndex => b"blind-index",
            Purpose::External => b"external",
        }
    }
}

/// An unwrapped root: the HKDF pseudo-random key extracted from it (the root
/// itself is not kept). Zeroized on drop; `Debug` shows the label only.
pub struct RootKey {
    label: String,
    /// Unique per unwrapped root in this process: what the derived-key cache
    /// is keyed by (a label alone could name another engine's root).
    id: u64,
    prk: Zeroizing<[u8; 32]>,
}

/// Hands out [`RootKey`] ids and single-flight owner ids.
pub(crate) fn next_id() -> u64 {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

impl std::fmt::Debug for RootKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RootKey")
            .field("label", &self.label)
            .finish_non_exhaustive()
    }
}

impl RootKey {
    /// `PRK = HKDF-Extract(salt = "dekbox root v1", IKM = root)`.
    pub(crate) fn new(label: &str, root: &[u8; 32]) -> Self {
        let (mut prk, _) = Hkdf::<Sha256>::extract(Some(EXTRACT_SALT), root);
        let mut k = Zeroizing::new([0u8; 32]);
        k.copy_from_slice(&prk);
        zeroize::Zeroize::zeroize(prk.as_mut_slice());
        Self {
            label: label.into(),
            id: next_id(),
            prk: k,
        }
    }

    /// A root from its 32 bytes, for known-answer tests and vectors.
    #[doc(hidden)]
    pub fn from_bytes_for_tests(label: &str, root: &[u8; 32]) -> Result<Self> {
        check_label(label)?;
        Ok(Self::new(label, root))
    }

    /// The root's label.
    pub fn label(&self) -> &str {
        &self.label
    }

    /// `HKDF-Expand(PRK, "dekbox root v1 " || purpose || 0x00 ||
    /// canonical(context) || u16(len(column)) || column, L)`.
    pub(crate) fn derive(
        &self,
        purpose: Purpose,
        context: &EncryptionContext,
        column: &str,
        out: &mut [u8],
    ) -> Result<()> {
        let column_len = u16::try_from(column.len())
            .map_err(|_| Error::ApiMisuse("a column label is at most 65535 bytes"))?;
        // Invariant: a 32-byte PRK is always accepted.
        #[allow(clippy::expect_used)]
        let hk = Hkdf::<Sha256>::from_prk(&self.prk[..]).expect("32-byte PRK");
        let info: [&[u8]; 6] = [
            b"dekbox root v1 ",
            purpose.name(),
            &[0],
            context.canonical_bytes(),
            &column_len.to_be_bytes(),
            column.as_bytes(),
        ];
        hk.expand_multi_info(&info, out)
            .map_err(|_| Error::ApiMisuse("derived key too long"))
    }
}

/// The roots of an engine: label → token, the primary, each root unwrapped
/// at most once per process (see `Engine::root_key`), and a bounded cache of
/// derived column keys.
pub(crate) struct RootSet {
    slots: BTreeMap<String, Slot>,
    primary: Option<String>,
    derived: Mutex<lru::LruCache<Vec<u8>, Arc<value::ColumnKeys>, foldhash::fast::RandomState>>,
}

pub(crate) struct Slot {
    pub(crate) token: RootToken,
    pub(crate) state: Mutex<SlotState>,
}

#[derive(Default)]
pub(crate) struct SlotState {
    pub(crate) key: Option<Arc<RootKey>>,
    /// When, in which fork generation and by which operation (an id from
    /// [`next_id`]) it is being unwrapped.
    pub(crate) unwrapping_since: Option<(crate::Timestamp, u64, u64)>,
}

impl RootSet {
    pub(crate) fn new(tokens: BTreeMap<String, String>, primary: Option<String>) -> Result<Self> {
        let mut slots = BTreeMap::new();
        for (label, text) in tokens {
            let token = RootToken::parse(&text)?;
            if token.label() != label {
                return Err(Error::Config(format!(
                    "the root token given as {label:?} is labelled {:?}",
                    token.label()
                )));
            }
            slots.insert(
                label,
                Slot {
                    token,
                    state: Mutex::new(SlotState::default()),
                },
            );
        }
        let primary = match primary {
            Some(p) if !slots.contains_key(&p) => {
                return Err(Error::Config(format!(
                    "primary_root {p:?} is not one of roots"
                )));
            }
            Some(p) => Some(p),
            None if slots.len() == 1 => slots.keys().next().cloned(),
            None if slots.is_empty() => None,
            None => {
                return Err(Error::Config(
                    "with several roots, name the one new values use (primary_root)".into(),
                ));
            }
        };
        Ok(Self {
            slots,
            primary,
            derived: Mutex::new(lru::LruCache::with_hasher(
                DERIVED_CAPACITY,
                foldhash::fast::RandomState::default(),
            )),
        })
    }

    /// The slot for `label`, or the primary's.
    pub(crate) fn slot(&self, label: Option<&str>) -> Result<&Slot> {
        if self.slots.is_empty() {
            return Err(Error::Config(
                "no root keys configured (roots={label: token}; `dekbox root create` makes one)"
                    .into(),
            ));
        }
        let label = match label {
            Some(l) => l,
            None => self
                .primary
                .as_deref()
                .ok_or_else(|| Error::Config("no primary root (primary_root)".into()))?,
        };
        self.slots
            .get(label)
            .ok_or_else(|| Error::UnknownKey(format!("root:{label}")))
    }

    /// The labels, and the primary.
    pub(crate) fn labels(&self) -> (Vec<String>, Option<&str>) {
        (
            self.slots.keys().cloned().collect(),
            self.primary.as_deref(),
        )
    }

    /// The column keys for (root, purpose, context, column), derived once.
    pub(crate) fn column_keys(
        &self,
        root: &RootKey,
        purpose: Purpose,
        context: &EncryptionContext,
        column: &str,
    ) -> Result<Arc<value::ColumnKeys>> {
        thread_local! {
            /// The lookup key, built here without an allocation per call.
            static ID: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
        }
        let found = ID.with(|id| {
            let mut id = id.borrow_mut();
            id.clear();
            id.extend_from_slice(&root.id.to_be_bytes());
            id.push(purpose as u8);
            id.extend_from_slice(&(column.len() as u64).to_be_bytes());
            id.extend_from_slice(column.as_bytes());
            id.extend_from_slice(context.canonical_bytes());
            let mut cache = self.derived.lock().unwrap_or_else(|e| e.into_inner());
            match cache.get(&id[..]) {
                Some(k) => Ok(k.clone()),
                None => Err(id.clone()),
            }
        });
        let id = match found {
            Ok(keys) => return Ok(keys),
            Err(id) => id,
        };
        let keys = Arc::new(value::ColumnKeys::derive(root, purpose, context, column)?);
        self.derived
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .put(id, keys.clone());
        Ok(keys)
    }

    /// Forgets derived keys (they are derived again on use).
    pub(crate) fn clear_derived(&self) {
        self.derived
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
    }
}
