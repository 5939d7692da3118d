//! The dekbox message format, version 1. `docs/FORMAT.md` is the normative
//! description; this module is its implementation.
//!
//! ```text
//! offset  size  field
//! 0       3     magic "DKB" (0x44 0x4B 0x42)
//! 3       1     version = 0x01
//! 4       1     suite   = 0x01 (AES-256-GCM, HKDF-SHA-256, 256-bit commitment)
//! 5       32    salt        (HKDF salt; one per cached data key and writer)
//! 37      32    commitment  (HKDF output committing to the data key)
//! 69      12    nonce       (random, per message)
//! ---- the 81 bytes above are the "fixed header", authenticated by the AEAD
//! 81      1     key reference kind (0x01 keyring label, 0x02 key URI)
//! 82      2     key reference length, big-endian, 1..=2048
//! 84      n     key reference, UTF-8
//! 84+n    2     wrapped data key length, big-endian, 1..=6144
//! 86+n    m     wrapped data key (provider-specific bytes)
//! 86+n+m  ...   ciphertext || 16-byte GCM tag (the rest of the input)
//! ```
//!
//! The key reference and wrapped data key sit outside the AEAD's associated
//! data so that a rewrap can replace them without touching the ciphertext; they
//! are bound by the key commitment and, at the KMS, by the encryption context.

use crate::crypto::aead::{NONCE_LEN, TAG_LEN};
use crate::crypto::kdf::{COMMITMENT_LEN, SALT_LEN};
use crate::error::{Field, Malformed};

pub(crate) mod text;

/// The first three bytes of every binary message.
pub const MAGIC: [u8; 3] = *b"DKB";
/// Format version written by this build.
pub const VERSION_1: u8 = 0x01;
/// Suite 0x01: AES-256-GCM data AEAD, HKDF-SHA-256 key derivation from
/// (DEK, salt), 32-byte key commitment, 96-bit random nonce.
pub const SUITE_AES256GCM_HKDF_SHA256_COMMIT: u8 = 0x01;
/// Length of the authenticated fixed header.
pub const FIXED_HEADER_LEN: usize = 3 + 1 + 1 + SALT_LEN + COMMITMENT_LEN + NONCE_LEN;
/// Longest key reference (label or URI) in bytes.
pub const MAX_KEY_REF_LEN: usize = 2048;
/// Longest wrapped data key in bytes (AWS KMS ciphertext blobs are at most 6144).
pub const MAX_WRAPPED_DEK_LEN: usize = 6144;
/// Largest header a valid message can have.
pub const MAX_HEADER_LEN: usize = FIXED_HEADER_LEN + 3 + MAX_KEY_REF_LEN + 2 + MAX_WRAPPED_DEK_LEN;
/// Smallest valid message: empty plaintext, 1-byte key reference and wrapped key.
pub const MIN_MESSAGE_LEN: usize = FIXED_HEADER_LEN + 3 + 1 + 2 + 1 + TAG_LEN;
/// Default largest plaintext dekbox seals or opens (configurable per engine).
pub const DEFAULT_MAX_PLAINTEXT: usize = 256 * 1024 * 1024;
/// The text form's prefix.
pub const TEXT_PREFIX: &str = "dekbox:v1:";

const OFF_SALT: usize = 5;
const OFF_COMMIT: usize = OFF_SALT + SALT_LEN;
const OFF_NONCE: usize = OFF_COMMIT + COMMITMENT_LEN;

/// How a sealed value is represented.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Form {
    /// The binary message.
    Binary,
    /// `dekbox:v1:` followed by the binary message in unpadded base64url.
    Text,
    /// The compatibility JSON envelope
    /// `{"encryptedDek":"<base64>","cipherText":"<base64 nonce||ct||tag>"}`.
    /// No key commitment: for migrating existing data only.
    Json,
}

/// What kind of value a byte string is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Detected {
    /// A binary dekbox message.
    Binary,
    /// A text-form dekbox message.
    Text,
    /// A JSON compatibility envelope.
    Json,
    /// Nothing dekbox recognises (a legacy direct-KMS ciphertext, perhaps).
    Unknown,
}

/// Classifies an input by its first bytes, without parsing it.
pub fn detect(input: &[u8]) -> Detected {
    if input.starts_with(&MAGIC) {
        return Detected::Binary;
    }
    let trimmed = input.trim_ascii_start();
    if trimmed.starts_with(b"dekbox:") {
        Detected::Text
    } else if trimmed.first() == Some(&b'{') {
        Detected::Json
    } else {
        Detected::Unknown
    }
}

/// What the key reference names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum KeyRefKind {
    /// A label in the caller's keyring (e.g. `v2`).
    Label,
    /// A key URI (e.g. `aws-kms://arn:...`).
    Uri,
}

impl KeyRefKind {
    fn byte(self) -> u8 {
        match self {
            KeyRefKind::Label => 0x01,
            KeyRefKind::Uri => 0x02,
        }
    }
}

/// The key a message names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct KeyRef<'a> {
    /// Label or URI.
    pub kind: KeyRefKind,
    /// The label or URI itself.
    pub name: &'a str,
}

/// A parsed binary message, borrowing from the input.
#[derive(Clone, Copy, Debug)]
pub struct Message<'a> {
    /// Algorithm suite.
    pub suite: u8,
    /// HKDF salt.
    pub salt: &'a [u8; SALT_LEN],
    /// Key commitment.
    pub commitment: &'a [u8; COMMITMENT_LEN],
    /// AEAD nonce.
    pub nonce: &'a [u8; NONCE_LEN],
    /// What kind of name the key reference is.
    pub key_ref_kind: KeyRefKind,
    /// The key reference as stored (UTF-8 is checked by [`Message::key_ref`];
    /// the keyring matches the bytes directly).
    pub key_ref_raw: &'a [u8],
    /// The wrapped data key.
    pub wrapped_dek: &'a [u8],
    /// The authenticated fixed header (first [`FIXED_HEADER_LEN`] bytes).
    pub fixed_header: &'a [u8],
    /// Ciphertext followed by the 16-byte tag.
    pub body: &'a [u8],
}

impl<'a> Message<'a> {
    /// The key that wrapped the data key.
    pub fn key_ref(&self) -> Result<KeyRef<'a>, Malformed> {
        let name = std::str::from_utf8(self.key_ref_raw)
            .map_err(|_| Malformed::InvalidUtf8(Field::KeyRef))?;
        Ok(KeyRef {
            kind: self.key_ref_kind,
            name,
        })
    }

    /// Plaintext length implied by the body.
    pub fn plaintext_len(&self) -> usize {
        self.body.len().saturating_sub(TAG_LEN)
    }
}

/// The binary form of a binary or text message (text is decoded; the size is
/// checked against `max_plaintext` first). JSON and unknown input are
/// [`Malformed::NotDekbox`].
pub fn binary_form(
    input: &[u8],
    max_plaintext: usize,
) -> Result<std::borrow::Cow<'_, [u8]>, Malformed> {
    match detect(input) {
        Detected::Binary => Ok(std::borrow::Cow::Borrowed(input)),
        Detected::Text => Ok(std::borrow::Cow::Owned(text::decode(input, max_plaintext)?)),
        _ => Err(Malformed::NotDekbox),
    }
}

/// Parses a binary message. Never allocates; every length is checked against
/// its bound and against the remaining input before use.
pub fn parse(input: &[u8], max_plaintext: usize) -> Result<Message<'_>, Malformed> {
    let max_len = max_plaintext
        .saturating_add(MAX_HEADER_LEN)
        .saturating_add(TAG_LEN);
    if input.len() > max_len {
        return Err(Malformed::TooLarge {
            len: input.len(),
            max: max_len,
        });
    }
    let mut r = Reader { buf: input, pos: 0 };
    let magic = r.take(3, Field::Magic)?;
    if magic != MAGIC {
        return Err(Malformed::NotDekbox);
    }
    let version = r.byte(Field::Version)?;
    if version != VERSION_1 {
        return Err(Malformed::UnsupportedVersion(version));
    }
    let suite = r.byte(Field::Suite)?;
    if suite != SUITE_AES256GCM_HKDF_SHA256_COMMIT {
        return Err(Malformed::UnsupportedSuite(suite));
    }
    let salt = r.array::<SALT_LEN>(Field::Salt)?;
    let commitment = r.array::<COMMITMENT_LEN>(Field::Commitment)?;
    let nonce = r.array::<NONCE_LEN>(Field::Nonce)?;
    debug_assert_eq!(r.pos, FIXED_HEADER_LEN);
    let fixed_header = &input[..FIXED_HEADER_LEN];

    let (kind, key_ref_raw, wrapped_dek) = read_key_section(&mut r)?;
    let body = r.rest();
    if body.len() < TAG_LEN {
        return Err(Malformed::Truncated(Field::Body));
    }
    if body.len() - TAG_LEN > max_plaintext {
        return Err(Malformed::TooLarge {
            len: body.len() - TAG_LEN,
            max: max_plaintext,
        });
    }
    Ok(Message {
        suite,
        salt,
        commitment,
        nonce,
        key_ref_kind: kind,
        key_ref_raw,
        wrapped_dek,
        fixed_header,
        body,
    })
}

/// Reads a key section: reference kind, reference, wrapped data key.
fn read_key_section<'a>(r: &mut Reader<'a>) -> Result<(KeyRefKind, &'a [u8], &'a [u8]), Malformed> {
    let kind = match r.byte(Field::KeyRef)? {
        0x01 => KeyRefKind::Label,
        0x02 => KeyRefKind::Uri,
        other => return Err(Malformed::BadKeyRefKind(other)),
    };
    let key_ref_raw = r.len_prefixed(Field::KeyRef, MAX_KEY_REF_LEN)?;
    check_key_ref(key_ref_raw)?;
    let wrapped_dek = r.len_prefixed(Field::WrappedDek, MAX_WRAPPED_DEK_LEN)?;
    Ok((kind, key_ref_raw, wrapped_dek))
}

/// Parses a key section on its own (a data-key token, see
/// [`Engine::raw_data_key`](crate::Engine::raw_data_key)): nothing may follow it.
pub(crate) fn parse_key_section(input: &[u8]) -> Result<(KeyRefKind, &[u8], &[u8]), Malformed> {
    let mut r = Reader { buf: input, pos: 0 };
    let section = read_key_section(&mut r)?;
    if !r.rest().is_empty() {
        return Err(Malformed::LengthOutOfRange {
            field: Field::WrappedDek,
            len: input.len(),
            max: r.pos,
        });
    }
    Ok(section)
}

/// The first 69 bytes of the fixed header: everything but the nonce.
pub(crate) fn fixed_prefix(
    salt: &[u8; SALT_LEN],
    commitment: &[u8; COMMITMENT_LEN],
) -> [u8; OFF_NONCE] {
    let mut out = [0u8; OFF_NONCE];
    out[..3].copy_from_slice(&MAGIC);
    out[3] = VERSION_1;
    out[4] = SUITE_AES256GCM_HKDF_SHA256_COMMIT;
    out[OFF_SALT..OFF_COMMIT].copy_from_slice(salt);
    out[OFF_COMMIT..OFF_NONCE].copy_from_slice(commitment);
    out
}

/// The rewrappable middle of the header: key reference and wrapped data key.
/// A key reference contains no ASCII control character (bytes 0x00-0x1f and
/// 0x7f): key references are printed by `dekbox inspect` and in logs, and a
/// message must not be able to drive the reader's terminal.
pub(crate) fn check_key_ref(name: &[u8]) -> Result<(), Malformed> {
    // No early exit, so the loop vectorizes: this runs on every parse.
    let control = name
        .iter()
        .fold(false, |found, &b| found | (b < 0x20) | (b == 0x7f));
    if control {
        return Err(Malformed::ControlCharacter(Field::KeyRef));
    }
    Ok(())
}

pub(crate) fn key_section(key_ref: KeyRef<'_>, wrapped_dek: &[u8]) -> Result<Vec<u8>, Malformed> {
    let name = key_ref.name.as_bytes();
    if name.is_empty() || name.len() > MAX_KEY_REF_LEN {
        return Err(Malformed::LengthOutOfRange {
            field: Field::KeyRef,
            len: name.len(),
            max: MAX_KEY_REF_LEN,
        });
    }
    check_key_ref(name)?;
    if wrapped_dek.is_empty() || wrapped_dek.len() > MAX_WRAPPED_DEK_LEN {
        return Err(Malformed::LengthOutOfRange {
            field: Field::WrappedDek,
            len: wrapped_dek.len(),
            max: MAX_WRAPPED_DEK_LEN,
        });
    }
    let mut out = Vec::with_capacity(5 + name.len() + wrapped_dek.len());
    out.push(key_ref.kind.byte());
    out.extend_from_slice(&(name.len() as u16).to_be_bytes());
    out.extend_from_slice(name);
    out.extend_from_slice(&(wrapped_dek.len() as u16).to_be_bytes());
    out.extend_from_slice(wrapped_dek);
    Ok(out)
}

/// Replaces the key section of a parsed message, keeping every other byte.
pub(crate) fn with_key_section(msg: &Message<'_>, key_section: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(FIXED_HEADER_LEN + key_section.len() + msg.body.len());
    out.extend_from_slice(msg.fixed_header);
    out.extend_from_slice(key_section);
    out.extend_from_slice(msg.body);
    out
}

/// Runs `f` with the AEAD's associated data: fixed header, context and caller
/// aad, each unambiguously delimited.
///
/// ```text
/// fixed_header (81) || canonical_context || u64be(len(aad)) || aad
/// ```
/// The canonical context encoding is self-delimiting (a count, then
/// length-prefixed strings). The bytes are assembled in a reused per-thread
/// buffer: none of them is secret, and the hot path then allocates nothing.
pub(crate) fn with_associated_data<R>(
    fixed_header: &[u8],
    context: &[u8],
    aad: &[u8],
    f: impl FnOnce(&[u8]) -> R,
) -> R {
    fn fill(buf: &mut Vec<u8>, fixed_header: &[u8], context: &[u8], aad: &[u8]) {
        buf.clear();
        buf.extend_from_slice(fixed_header);
        buf.extend_from_slice(context);
        buf.extend_from_slice(&(aad.len() as u64).to_be_bytes());
        buf.extend_from_slice(aad);
    }
    thread_local! {
        static SCRATCH: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
    }
    SCRATCH.with(|cell| match cell.try_borrow_mut() {
        Ok(mut buf) => {
            fill(&mut buf, fixed_header, context, aad);
            let r = f(&buf);
            if buf.capacity() > 64 * 1024 {
                *buf = Vec::new();
            }
            r
        }
        Err(_) => {
            let mut buf = Vec::new();
            fill(&mut buf, fixed_header, context, aad);
            f(&buf)
        }
    })
}

pub(crate) fn b64_std() -> &'static base64::engine::GeneralPurpose {
    &base64::engine::general_purpose::STANDARD
}

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize, field: Field) -> Result<&'a [u8], Malformed> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&e| e <= self.buf.len())
            .ok_or(Malformed::Truncated(field))?;
        let s = &self.buf[self.pos..end];
        self.pos = end;
        Ok(s)
    }

    fn byte(&mut self, field: Field) -> Result<u8, Malformed> {
        Ok(self.take(1, field)?[0])
    }

    fn array<const N: usize>(&mut self, field: Field) -> Result<&'a [u8; N], Malformed> {
        self.take(N, field)?
            .try_into()
            .map_err(|_| Malformed::Truncated(field))
    }

    fn len_prefixed(&mut self, field: Field, max: usize) -> Result<&'a [u8], Malformed> {
        let len_bytes = self.array::<2>(field)?;
        let len = usize::from(u16::from_be_bytes(*len_bytes));
        if len == 0 || len > max {
            return Err(Malformed::LengthOutOfRange { field, len, max });
        }
        self.take(len, field)
    }

    fn rest(&mut self) -> &'a [u8] {
        let s = &self.buf[self.pos..];
        self.pos = self.buf.len();
        s
    }
}
