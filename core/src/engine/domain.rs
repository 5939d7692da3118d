//! The two families of wrapped data keys, and the contexts providers and
//! caches see for each.

use super::*;

/// Why an engine with `legacy_fallback` refuses compatibility-domain data keys.
pub(super) const LEGACY_WITH_COMPAT_KEYS: &str = "legacy_fallback cannot be combined with JSON envelopes or \
     generate_data_key/unwrap_data_key: their wrapped keys look, to the KMS, like directly \
     encrypted values, and the fallback would return them as plaintext";

/// Why a 32-byte legacy value is refused by default.
pub(super) const LEGACY_KEY_SIZED: &str = "a legacy value decrypted to exactly 32 bytes, the size of a data \
     key, and was refused: it may be another tool's wrapped data key. If your legacy values can \
     be 32 bytes and nothing wraps data keys under this key and context, set \
     legacy_allow_key_sized";

/// The families of wrapped data keys an engine handles.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) enum KeyDomain {
    /// Data keys handed to another cipher ([`Engine::raw_data_key`]): the
    /// provider is given the context plus `dekbox:purpose = raw-data-key`.
    Raw,
    /// Data keys of dekbox messages: the provider is given the caller's
    /// context plus the reserved `dekbox:purpose = data-key` entry.
    Envelope,
    /// Data keys of the JSON compatibility envelope and of
    /// [`Engine::generate_data_key`]: the caller's context alone, as other
    /// tools send it.
    Compat,
}

/// Prefixed to the context bytes of compatibility-domain cache entries. No
/// canonical context encoding starts with it (its entry count would be at
/// least 0xFF00, far beyond what fits in 16 KiB), so the domains never share
/// a cache entry.
pub(super) const COMPAT_CACHE_TAG: u8 = 0xFF;
/// The same, for raw-domain entries.
pub(super) const RAW_CACHE_TAG: u8 = 0xFE;
// Each entry takes at least 5 bytes (two u16 lengths and a non-empty key), so
// a context within its size limit has far fewer than 0xFF00 entries.
const _: () = assert!(crate::context::MAX_CONTEXT_BYTES / 5 < 0xFE00);

/// Refuses a context that was built for a key provider (it carries the
/// reserved purpose entry): given to the engine, it would let the legacy path
/// send a message's data-key context to the KMS.
pub(super) fn caller_context(ctx: &EncryptionContext) -> Result<()> {
    if ctx.is_reserved() {
        return Err(Error::ApiMisuse(
            "a context built for a key provider (with a reserved dekbox: entry) was given to the engine",
        ));
    }
    Ok(())
}

impl KeyDomain {
    pub(super) fn of_form(form: Form) -> Self {
        match form {
            Form::Json => KeyDomain::Compat,
            _ => KeyDomain::Envelope,
        }
    }

    pub(super) fn of(parsed: &Parsed<'_>) -> Self {
        match parsed {
            Parsed::Message(..) => KeyDomain::Envelope,
            Parsed::Json(_) => KeyDomain::Compat,
        }
    }

    /// Whether this domain's keys are used by their cipher as they are (the
    /// JSON envelope, another cipher's keys) rather than through a fresh
    /// per-process salt: a forked child must replace such a key, not share it.
    pub(super) fn used_raw(self) -> bool {
        self != KeyDomain::Envelope
    }

    /// The context a key provider is given.
    pub(super) fn provider_context(
        self,
        ctx: &EncryptionContext,
    ) -> Result<Cow<'_, EncryptionContext>> {
        Ok(match self {
            KeyDomain::Envelope => Cow::Owned(ctx.for_data_key()?),
            KeyDomain::Raw => Cow::Owned(ctx.with_purpose(crate::context::PURPOSE_RAW_DATA_KEY)?),
            KeyDomain::Compat => Cow::Borrowed(ctx),
        })
    }

    /// The context bytes the data-key caches are keyed by.
    pub(super) fn cache_context(self, ctx: &EncryptionContext) -> Cow<'_, [u8]> {
        match self {
            KeyDomain::Envelope => Cow::Borrowed(ctx.canonical_bytes()),
            KeyDomain::Compat | KeyDomain::Raw => {
                let tag = if self == KeyDomain::Raw {
                    RAW_CACHE_TAG
                } else {
                    COMPAT_CACHE_TAG
                };
                let mut v = Vec::with_capacity(1 + ctx.canonical_bytes().len());
                v.push(tag);
                v.extend_from_slice(ctx.canonical_bytes());
                Cow::Owned(v)
            }
        }
    }
}
