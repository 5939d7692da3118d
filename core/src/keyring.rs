//! The keyring: version labels mapped to key providers, one of them primary.
//!
//! New messages are sealed under the primary and name it in their header (by
//! label, or by URI for an unlabelled single key). Decryption routes by the
//! header, but only ever to a key configured here: a message cannot make dekbox
//! contact a key or endpoint of its choosing. Rotation is: add the new key,
//! make it primary, rewrap old messages at leisure; moving between KMS vendors
//! is the same operation.

use crate::format::{KeyRef, KeyRefKind, MAX_KEY_REF_LEN};
use crate::provider::KeyProvider;
use crate::{Error, Result};
use std::sync::Arc;

/// One key in a keyring.
#[derive(Clone, Debug)]
pub struct KeyringEntry {
    label: Option<String>,
    id: String,
    provider: Arc<dyn KeyProvider>,
}

impl KeyringEntry {
    /// The label, if the key has one.
    pub fn label(&self) -> Option<&str> {
        self.label.as_deref()
    }

    /// The provider.
    pub fn provider(&self) -> &Arc<dyn KeyProvider> {
        &self.provider
    }

    /// How message headers name this key.
    pub fn key_ref(&self) -> KeyRef<'_> {
        match &self.label {
            Some(l) => KeyRef {
                kind: KeyRefKind::Label,
                name: l,
            },
            None => KeyRef {
                kind: KeyRefKind::Uri,
                name: self.provider.uri(),
            },
        }
    }

    /// A string identifying this key uniquely within the keyring (used in
    /// cache keys): `label:<label>` or `uri:<uri>`.
    pub fn id(&self) -> &str {
        &self.id
    }
}

/// Labels mapped to keys, with one primary.
#[derive(Clone, Debug)]
pub struct Keyring {
    entries: Vec<KeyringEntry>,
    primary: usize,
}

impl Keyring {
    /// A keyring of one unlabelled key; headers name it by its URI.
    pub fn single(provider: Arc<dyn KeyProvider>) -> Self {
        let id = format!("uri:{}", provider.uri());
        Self {
            entries: vec![KeyringEntry {
                label: None,
                id,
                provider,
            }],
            primary: 0,
        }
    }

    /// Starts a labelled keyring.
    pub fn builder() -> KeyringBuilder {
        KeyringBuilder::default()
    }

    /// The key new data is sealed under.
    pub fn primary(&self) -> &KeyringEntry {
        &self.entries[self.primary]
    }

    /// All keys, in the order they were added.
    pub fn entries(&self) -> &[KeyringEntry] {
        &self.entries
    }

    /// The entry with this label.
    pub fn by_label(&self, label: &str) -> Option<&KeyringEntry> {
        self.entries
            .iter()
            .find(|e| e.label.as_deref() == Some(label))
    }

    /// The key a parsed message names, matching the stored bytes directly.
    pub fn resolve_raw(&self, kind: KeyRefKind, name: &[u8]) -> Result<&KeyringEntry> {
        let found = match kind {
            KeyRefKind::Label => self
                .entries
                .iter()
                .find(|e| e.label.as_deref().map(str::as_bytes) == Some(name)),
            KeyRefKind::Uri => self
                .entries
                .iter()
                .find(|e| e.provider.uri().as_bytes() == name),
        };
        found.ok_or_else(|| Error::UnknownKey(String::from_utf8_lossy(name).into_owned()))
    }

    /// The key a message header names, or [`Error::UnknownKey`].
    pub fn resolve(&self, key_ref: KeyRef<'_>) -> Result<&KeyringEntry> {
        let found = match key_ref.kind {
            KeyRefKind::Label => self.by_label(key_ref.name),
            KeyRefKind::Uri => self
                .entries
                .iter()
                .find(|e| e.provider.uri() == key_ref.name),
        };
        found.ok_or_else(|| Error::UnknownKey(key_ref.name.to_string()))
    }
}

/// Builds a labelled [`Keyring`].
#[derive(Default)]
pub struct KeyringBuilder {
    entries: Vec<(String, Arc<dyn KeyProvider>)>,
    primary: Option<String>,
}

impl KeyringBuilder {
    /// Adds a key under `label` (e.g. `"v1"`). Labels are stored in every
    /// message header, so keep them short and never reuse one for another key.
    pub fn add(mut self, label: impl Into<String>, provider: Arc<dyn KeyProvider>) -> Self {
        self.entries.push((label.into(), provider));
        self
    }

    /// Chooses the primary key by label.
    pub fn primary(mut self, label: impl Into<String>) -> Self {
        self.primary = Some(label.into());
        self
    }

    /// Validates and builds. Labels must be unique, 1..=2048 bytes; the primary
    /// must be named unless there is exactly one key.
    pub fn build(self) -> Result<Keyring> {
        if self.entries.is_empty() {
            return Err(Error::Config("a keyring needs at least one key".into()));
        }
        let mut entries: Vec<KeyringEntry> = Vec::with_capacity(self.entries.len());
        for (label, provider) in self.entries {
            if label.is_empty() || label.len() > MAX_KEY_REF_LEN {
                return Err(Error::Config(format!(
                    "keyring labels must be 1..={MAX_KEY_REF_LEN} bytes"
                )));
            }
            if label.chars().any(char::is_control) {
                return Err(Error::Config(format!(
                    "keyring label {label:?} contains a control character"
                )));
            }
            if entries.iter().any(|e| e.label.as_deref() == Some(&label)) {
                return Err(Error::Config(format!(
                    "keyring label {label:?} is used twice"
                )));
            }
            entries.push(KeyringEntry {
                id: format!("label:{label}"),
                label: Some(label),
                provider,
            });
        }
        let primary = match self.primary {
            Some(p) => entries
                .iter()
                .position(|e| e.label.as_deref() == Some(&p))
                .ok_or_else(|| Error::Config(format!("primary key {p:?} is not in the keyring")))?,
            None if entries.len() == 1 => 0,
            None => {
                return Err(Error::Config(
                    "a keyring of several keys needs a primary".into(),
                ));
            }
        };
        Ok(Keyring { entries, primary })
    }
}
