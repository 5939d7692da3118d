//! Message keys: a dekbox message's data key, handed by a server that holds
//! the KMS credentials to a client that holds none (a browser page), so the
//! client can open that message and seal new ones the server can open.
//!
//! A message key is obtained on purpose, never by accident:
//! [`Engine::message_data_key`](crate::Engine::message_data_key) unwraps the
//! data key named in a message's header through the KMS (with the message's
//! context, so the KMS still decides) and checks it against the message's key
//! commitment before handing it out;
//! [`Engine::new_message_data_key`](crate::Engine::new_message_data_key)
//! makes a fresh one for uploads. The generic
//! [`unwrap_data_key`](crate::Engine::unwrap_data_key) still refuses message
//! data keys.
//!
//! **What a holder can do.** The data key opens every message sealed under
//! it, and the engine's encrypt cache reuses one data key for every message
//! of one (key, context) for up to `max_age`/`max_messages`. Whoever holds a
//! message key can therefore read every message of that context sealed in
//! that window, and can seal messages under that context that the server
//! will open as authentic. Hand out message keys only for a context whose
//! every message the holder may read and write (e.g. `{"user": id}`); see
//! docs/FORMAT.md, "Message keys".
//!
//! The token is `"DKK" ‖ 0x01 ‖ data key (32) ‖ key section` in binary form,
//! or `dekbox:key:v1:` + unpadded base64url of that in text form.

use crate::cache::{MAX_MESSAGES_CEILING, Opener, Sealer};
use crate::context::EncryptionContext;
use crate::crypto::aead::NONCE_LEN;
use crate::crypto::kdf::DerivedKeys;
use crate::envelope;
use crate::error::{Field, Malformed};
use crate::format::{self, Form, KeyRef, Message};
use crate::key::{DATA_KEY_LEN, DataKey};
use crate::random::SecureRandom;
use crate::{Error, Result, Timestamp};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use std::mem::MaybeUninit;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use zeroize::Zeroizing;

/// First bytes of a binary message-key token.
pub const TOKEN_MAGIC: [u8; 3] = *b"DKK";
/// Token version.
pub const TOKEN_VERSION: u8 = 0x01;
/// Prefix of the text form of a message-key token.
pub const TOKEN_TEXT_PREFIX: &str = "dekbox:key:v1:";
/// Messages one [`MessageKey`] seals before it refuses (ask for a new key):
/// each key seals under its own fresh salt, so this is per (data key, salt),
/// like the encrypt cache's default `max_messages`.
pub const MESSAGE_KEY_SEAL_LIMIT: u64 = 1 << 20;
const _: () = assert!(MESSAGE_KEY_SEAL_LIMIT <= MAX_MESSAGES_CEILING);

/// Largest token: header, key, and the largest key section.
const MAX_TOKEN_LEN: usize =
    4 + DATA_KEY_LEN + 5 + format::MAX_KEY_REF_LEN + format::MAX_WRAPPED_DEK_LEN;

/// A message's data key with the key section its messages carry: opens
/// messages sealed under it and seals new ones. The key (and every key
/// derived from it) is zeroized on drop; `Debug` shows only the key's name.
pub struct MessageKey {
    /// The data key, and the keys derived from it for each salt seen.
    opener: Opener,
    /// key reference kind ‖ len ‖ ref ‖ len ‖ wrapped data key; empty for
    /// a bare data key (opens, cannot seal).
    key_section: Vec<u8>,
    /// Made on the first seal, under a fresh salt (again in a forked child).
    sealer: Mutex<Option<Arc<Sealer>>>,
    sealed: AtomicU64,
}

impl std::fmt::Debug for MessageKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let name = self.key_ref().map(|k| k.name);
        f.debug_struct("MessageKey")
            .field("key", &name)
            .finish_non_exhaustive()
    }
}

/// What another AES-256-GCM implementation (the browser's Web Crypto) needs
/// to open one message, after the key commitment was checked: the message's
/// salt (its AES key comes from [`MessageKey::external_key`]), nonce,
/// associated data, and ciphertext with its tag. See
/// [`MessageKey::external_open`].
///
/// Only [`MessageKey::external_open`] makes one, so the AES key of
/// [`MessageKey::external_key`] is only ever derived for a message whose
/// commitment matched.
pub struct ExternalOpen<'a> {
    salt: [u8; 32],
    nonce: [u8; NONCE_LEN],
    associated_data: Vec<u8>,
    ciphertext_and_tag: &'a [u8],
}

impl ExternalOpen<'_> {
    /// The message's salt: with the data key it fixes the AES key.
    pub fn salt(&self) -> &[u8; 32] {
        &self.salt
    }

    /// The message's nonce.
    pub fn nonce(&self) -> &[u8; NONCE_LEN] {
        &self.nonce
    }

    /// fixed header ‖ canonical context ‖ u64be(len(aad)) ‖ aad.
    pub fn associated_data(&self) -> &[u8] {
        &self.associated_data
    }

    /// Ciphertext followed by the 16-byte tag.
    pub fn ciphertext_and_tag(&self) -> &[u8] {
        self.ciphertext_and_tag
    }
}

impl MessageKey {
    pub(crate) fn new(dek: DataKey, key_section: Vec<u8>) -> Self {
        Self {
            opener: Opener::new(dek, "", b"", Timestamp::from_unix_millis(0)),
            key_section,
            sealer: Mutex::new(None),
            sealed: AtomicU64::new(0),
        }
    }

    /// A bare 32-byte data key (e.g. a known-answer vector's): it opens
    /// messages sealed under it, but cannot seal (it has no wrapped form to
    /// put in a header).
    pub fn from_data_key(dek: DataKey) -> Self {
        Self::new(dek, Vec::new())
    }

    /// Whether this key can seal (it came with its wrapped form).
    pub fn can_seal(&self) -> bool {
        !self.key_section.is_empty()
    }

    /// Reads a token in binary or text form (surrounding ASCII whitespace
    /// allowed in text form).
    pub fn from_token(token: &[u8]) -> Result<Self> {
        let decoded;
        let bin: &[u8] = if token.starts_with(&TOKEN_MAGIC) {
            token
        } else {
            let t = token.trim_ascii();
            let Some(b64) = t.strip_prefix(TOKEN_TEXT_PREFIX.as_bytes()) else {
                return Err(Malformed::NotDekbox.into());
            };
            if b64.len() > MAX_TOKEN_LEN.div_ceil(3) * 4 {
                return Err(Malformed::TooLarge {
                    len: token.len(),
                    max: MAX_TOKEN_LEN.div_ceil(3) * 4,
                }
                .into());
            }
            // Decoded straight into a buffer that is wiped, even on error.
            let mut buf = Zeroizing::new(vec![0u8; b64.len().div_ceil(4) * 3]);
            let n = URL_SAFE_NO_PAD
                .decode_slice(b64, &mut buf[..])
                .map_err(|_| Malformed::Base64(Field::Text))?;
            buf.truncate(n);
            decoded = buf;
            &decoded[..]
        };
        if bin.len() < 4 + DATA_KEY_LEN {
            return Err(Malformed::Truncated(Field::WrappedDek).into());
        }
        if bin[..3] != TOKEN_MAGIC {
            return Err(Malformed::NotDekbox.into());
        }
        if bin[3] != TOKEN_VERSION {
            return Err(Malformed::UnsupportedVersion(bin[3]).into());
        }
        let (dek, section) = bin[4..].split_at(DATA_KEY_LEN);
        format::parse_key_section(section)?;
        let dek = DataKey::from_slice(dek).ok_or(Malformed::Truncated(Field::WrappedDek))?;
        Ok(Self::new(dek, section.to_vec()))
    }

    /// The token, in binary or text form (`Form::Json` gives text). Secret:
    /// it holds the data key. Zeroized on drop. A bare data key has none.
    pub fn token(&self, form: Form) -> Result<Zeroizing<Vec<u8>>> {
        if !self.can_seal() {
            return Err(Error::ApiMisuse(BARE));
        }
        let mut bin = Zeroizing::new(Vec::with_capacity(
            4 + DATA_KEY_LEN + self.key_section.len(),
        ));
        bin.extend_from_slice(&TOKEN_MAGIC);
        bin.push(TOKEN_VERSION);
        bin.extend_from_slice(self.opener.dek.dangerous_bytes());
        bin.extend_from_slice(&self.key_section);
        if form == Form::Binary {
            return Ok(bin);
        }
        let mut text = Zeroizing::new(Vec::new());
        format::text::encode_into(TOKEN_TEXT_PREFIX, &bin, &mut text);
        Ok(text)
    }

    /// The key that wrapped this data key, as its messages name it (`None`
    /// for a bare data key).
    pub fn key_ref(&self) -> Option<KeyRef<'_>> {
        let (kind, name, _) = format::parse_key_section(&self.key_section).ok()?;
        let name = std::str::from_utf8(name).ok()?;
        Some(KeyRef { kind, name })
    }

    /// Opens a binary or text message sealed under this data key.
    pub fn open(&self, sealed: &[u8], context: &EncryptionContext, aad: &[u8]) -> Result<Vec<u8>> {
        with_binary(sealed, |msg| {
            self.opener.with_derived(msg.salt, |derived| {
                envelope::open_to_vec(derived, msg, context.canonical_bytes(), aad)
            })
        })
    }

    /// The plaintext length of a binary message (for a caller's buffer).
    pub fn plaintext_len(&self, binary: &[u8]) -> Result<usize> {
        Ok(format::parse(binary, format::DEFAULT_MAX_PLAINTEXT)?.plaintext_len())
    }

    /// Opens a binary message into `out` (exactly the plaintext length). On
    /// failure every byte of `out` is zero.
    pub fn open_into_uninit(
        &self,
        binary: &[u8],
        context: &EncryptionContext,
        aad: &[u8],
        out: &mut [MaybeUninit<u8>],
    ) -> Result<()> {
        let msg = format::parse(binary, format::DEFAULT_MAX_PLAINTEXT)?;
        self.opener.with_derived(msg.salt, |derived| {
            envelope::open_into(derived, &msg, context.canonical_bytes(), aad, out)
        })
    }

    /// Checks a binary message's key commitment (with the keys kept for its
    /// salt) and returns what another AES-256-GCM implementation needs to
    /// open it (the browser hands messages to Web Crypto). A wrong key fails
    /// here, before any key leaves.
    pub fn external_open<'a>(
        &self,
        binary: &'a [u8],
        context: &EncryptionContext,
        aad: &[u8],
    ) -> Result<ExternalOpen<'a>> {
        let msg = format::parse(binary, format::DEFAULT_MAX_PLAINTEXT)?;
        let committed = self
            .opener
            .with_derived(msg.salt, |d| d.commitment_matches(msg.commitment));
        if !committed {
            return Err(Error::Authentication);
        }
        let associated_data = format::with_associated_data(
            msg.fixed_header,
            context.canonical_bytes(),
            aad,
            <[u8]>::to_vec,
        );
        Ok(ExternalOpen {
            salt: *msg.salt,
            nonce: *msg.nonce,
            associated_data,
            ciphertext_and_tag: msg.body,
        })
    }

    /// The AES-256-GCM key of a message [`external_open`](Self::external_open)
    /// checked (secret; wiped on drop), for the other implementation to
    /// import. Every message with the same salt has the same key.
    pub fn external_key(&self, parts: &ExternalOpen<'_>) -> Zeroizing<[u8; 32]> {
        DerivedKeys::derive_raw(self.opener.dek.dangerous_bytes(), &parts.salt).0
    }

    /// Seals a new message under this data key (binary or text form), with a
    /// salt of this key object's own and a random nonce: the result opens
    /// wherever the message's key is available (the server's `decrypt`).
    /// Refused after [`MESSAGE_KEY_SEAL_LIMIT`] messages.
    pub fn seal(
        &self,
        plaintext: &[u8],
        context: &EncryptionContext,
        aad: &[u8],
        form: Form,
        rng: &dyn SecureRandom,
    ) -> Result<Vec<u8>> {
        if form == Form::Json {
            return Err(Error::ApiMisuse(
                "a message key seals dekbox messages (binary or text form), not JSON envelopes",
            ));
        }
        if context.is_empty() {
            return Err(Error::ApiMisuse(
                "a message key seals under a context naming whose data it is (e.g. {\"user\": \"42\"})",
            ));
        }
        if context.is_reserved() {
            return Err(Error::ApiMisuse(
                "a context built for a key provider (with a reserved dekbox: entry) was given to a message key",
            ));
        }
        if plaintext.len() > format::DEFAULT_MAX_PLAINTEXT {
            return Err(Malformed::TooLarge {
                len: plaintext.len(),
                max: format::DEFAULT_MAX_PLAINTEXT,
            }
            .into());
        }
        let sealer = self.sealer(rng)?;
        if self.sealed.fetch_add(1, Ordering::Relaxed) >= MESSAGE_KEY_SEAL_LIMIT {
            return Err(Error::ApiMisuse(
                "this message key has sealed its limit of messages; get a new one",
            ));
        }
        let mut nonce = [0u8; NONCE_LEN];
        rng.fill(&mut nonce)?;
        envelope::seal_to_vec(
            &sealer.parts(&nonce),
            context.canonical_bytes(),
            aad,
            plaintext,
            form,
        )
    }

    /// The sealer, made on first use and again in a forked child (whose
    /// parent keeps sealing under the old salt).
    fn sealer(&self, rng: &dyn SecureRandom) -> Result<Arc<Sealer>> {
        let mut slot = self.sealer.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(s) = slot.as_ref().filter(|s| s.made_here()) {
            return Ok(s.clone());
        }
        if !self.can_seal() {
            return Err(Error::ApiMisuse(BARE));
        }
        let (_, _, wrapped) = format::parse_key_section(&self.key_section)?;
        let s = Arc::new(Sealer::new(
            self.opener.dek.duplicate(),
            wrapped.to_vec(),
            self.key_section.clone(),
            false,
            rng,
        )?);
        *slot = Some(s.clone());
        Ok(s)
    }
}

const BARE: &str = "a bare data key opens messages but cannot seal or make a token: \
     ask the server for a message key (message_data_key / new_message_data_key)";

/// Runs `f` on the parsed binary form of a binary or text message.
fn with_binary<R>(sealed: &[u8], f: impl FnOnce(&Message<'_>) -> Result<R>) -> Result<R> {
    let max = format::DEFAULT_MAX_PLAINTEXT;
    let bin = format::binary_form(sealed, max)?;
    f(&format::parse(&bin, max)?)
}

/// The key section a parsed message carries.
pub(crate) fn section_of(msg: &Message<'_>) -> Result<Vec<u8>> {
    let key_ref = msg.key_ref()?;
    Ok(format::key_section(key_ref, msg.wrapped_dek)?)
}
