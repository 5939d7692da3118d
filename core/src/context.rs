//! The encryption context: a string map bound into the KMS call and the data AEAD.

use crate::error::Malformed;
use std::collections::BTreeMap;
use std::fmt;

/// Largest canonical encoding of a context, in bytes.
pub const MAX_CONTEXT_BYTES: usize = 16 * 1024;

/// Context keys starting with this prefix are dekbox's own; callers cannot
/// use them.
pub const RESERVED_PREFIX: &str = "dekbox:";

/// The reserved entry dekbox adds to the context it sends to a key provider
/// when it generates, wraps, unwraps or re-wraps the data key of a dekbox
/// message. Direct (legacy) encryption never sends it, so a KMS refuses to
/// hand out a message's data key as the "plaintext" of a legacy value.
pub const PURPOSE_KEY: &str = "dekbox:purpose";
/// The value of [`PURPOSE_KEY`] for data keys of dekbox messages.
pub const PURPOSE_DATA_KEY: &str = "data-key";
/// The value of [`PURPOSE_KEY`] for data keys handed to another cipher
/// ([`Engine::raw_data_key`](crate::Engine::raw_data_key): Active Record's).
pub const PURPOSE_RAW_DATA_KEY: &str = "raw-data-key";

/// A caller-supplied map of strings that must be given again to decrypt.
///
/// It is bound twice: into the KMS call that wraps the data key (AWS
/// `EncryptionContext`, GCP additional authenticated data, Vault derivation
/// context), so the KMS itself refuses to unwrap under another tenant's
/// context; and into the data AEAD's associated data. It is never stored in
/// the message and never trusted from it.
///
/// Keys must be non-empty and must not start with [`RESERVED_PREFIX`]; the
/// canonical encoding (sorted by key, each string length-prefixed) is at most
/// [`MAX_CONTEXT_BYTES`] less 26 bytes (kept for the purpose entry dekbox adds
/// for key providers).
#[derive(Clone, PartialEq, Eq, Hash, Default)]
pub struct EncryptionContext {
    map: BTreeMap<String, String>,
    encoded: Vec<u8>,
    /// Built by dekbox for a key provider (carries a reserved entry); never
    /// accepted by an engine operation.
    reserved: bool,
}

/// Room kept for the purpose entry: caller contexts are at most
/// `MAX_CONTEXT_BYTES - PURPOSE_ROOM` bytes, so adding it never fails.
const PURPOSE_ROOM: usize = 2 + PURPOSE_KEY.len() + 2 + PURPOSE_RAW_DATA_KEY.len();

impl EncryptionContext {
    /// The empty context.
    pub fn empty() -> Self {
        Self::from_map(BTreeMap::new()).unwrap_or_default()
    }

    /// Builds a context from key/value pairs. A repeated key keeps the last value.
    pub fn from_pairs<K, V, I>(pairs: I) -> Result<Self, Malformed>
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        Self::from_map(
            pairs
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        )
    }

    /// Builds a context from a map.
    pub fn from_map(map: BTreeMap<String, String>) -> Result<Self, Malformed> {
        if map.keys().any(|k| k.starts_with(RESERVED_PREFIX)) {
            return Err(Malformed::Context(
                "keys starting with \"dekbox:\" are reserved for dekbox",
            ));
        }
        Self::encode(map, MAX_CONTEXT_BYTES - PURPOSE_ROOM, false)
    }

    /// This context plus dekbox's data-key purpose entry: what is sent to a
    /// key provider for the data key of a dekbox message. No caller-built
    /// context can equal it (the prefix is reserved).
    pub(crate) fn for_data_key(&self) -> Result<Self, Malformed> {
        self.with_purpose(PURPOSE_DATA_KEY)
    }

    /// This context plus the reserved purpose entry with `purpose`.
    pub(crate) fn with_purpose(&self, purpose: &str) -> Result<Self, Malformed> {
        let mut map = self.map.clone();
        map.insert(PURPOSE_KEY.into(), purpose.into());
        Self::encode(map, MAX_CONTEXT_BYTES, true)
    }

    /// A provider-side context of reserved entries only (a root key's wrap
    /// context). Engine operations refuse it.
    pub(crate) fn reserved_from_map(map: BTreeMap<String, String>) -> Result<Self, Malformed> {
        Self::encode(map, MAX_CONTEXT_BYTES, true)
    }

    /// Whether this context carries a reserved entry (it was built for a key
    /// provider). Engine operations refuse such contexts.
    pub fn is_reserved(&self) -> bool {
        self.reserved
    }

    fn encode(
        map: BTreeMap<String, String>,
        max: usize,
        reserved: bool,
    ) -> Result<Self, Malformed> {
        if map.len() > usize::from(u16::MAX) {
            return Err(Malformed::Context("too many entries"));
        }
        let mut encoded = Vec::with_capacity(2 + map.len() * 16);
        encoded.extend_from_slice(&(map.len() as u16).to_be_bytes());
        for (k, v) in &map {
            if k.is_empty() {
                return Err(Malformed::Context("keys must not be empty"));
            }
            for s in [k, v] {
                let len = u16::try_from(s.len())
                    .map_err(|_| Malformed::Context("an entry is longer than 65535 bytes"))?;
                encoded.extend_from_slice(&len.to_be_bytes());
                encoded.extend_from_slice(s.as_bytes());
            }
            if encoded.len() > max {
                return Err(Malformed::Context("larger than 16 KiB"));
            }
        }
        Ok(Self {
            map,
            encoded,
            reserved,
        })
    }

    /// The entries, sorted by key.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.map.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// The value for `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.map.get(key).map(String::as_str)
    }

    /// Whether there are no entries.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// The entries as a map.
    pub fn as_map(&self) -> &BTreeMap<String, String> {
        &self.map
    }

    /// The canonical encoding: `u16 count`, then for each entry in key order
    /// `u16 len(key) || key || u16 len(value) || value` (big-endian lengths).
    pub fn canonical_bytes(&self) -> &[u8] {
        &self.encoded
    }
}

impl fmt::Debug for EncryptionContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.map.iter()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_encoding_is_sorted_and_length_prefixed() {
        let c = EncryptionContext::from_pairs([("b", "2"), ("a", "1")]).unwrap();
        assert_eq!(
            c.canonical_bytes(),
            &[0, 2, 0, 1, b'a', 0, 1, b'1', 0, 1, b'b', 0, 1, b'2']
        );
    }

    #[test]
    fn ambiguous_splits_encode_differently() {
        let a = EncryptionContext::from_pairs([("ab", "c")]).unwrap();
        let b = EncryptionContext::from_pairs([("a", "bc")]).unwrap();
        assert_ne!(a.canonical_bytes(), b.canonical_bytes());
    }

    #[test]
    fn bounds_are_enforced() {
        assert!(EncryptionContext::from_pairs([("", "x")]).is_err());
        let big = "x".repeat(MAX_CONTEXT_BYTES);
        assert!(EncryptionContext::from_pairs([("k", big.as_str())]).is_err());
        assert!(EncryptionContext::empty().is_empty());
        assert_eq!(EncryptionContext::empty().canonical_bytes(), &[0, 0]);
    }

    #[test]
    fn the_dekbox_prefix_is_reserved() {
        for key in ["dekbox:purpose", "dekbox:", "dekbox:anything"] {
            assert!(
                EncryptionContext::from_pairs([(key, "data-key")]).is_err(),
                "{key} must be refused"
            );
        }
        assert!(EncryptionContext::from_pairs([("dekbox", "x"), ("Dekbox:y", "z")]).is_ok());
        let c = EncryptionContext::from_pairs([("tenant", "a")]).unwrap();
        let d = c.for_data_key().unwrap();
        assert_eq!(d.get(PURPOSE_KEY), Some(PURPOSE_DATA_KEY));
        assert_eq!(d.len(), 2);
        assert_ne!(c.canonical_bytes(), d.canonical_bytes());
    }
}
