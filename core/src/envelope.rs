//! The one writer and the one reader of message bytes.
//!
//! Every path that seals (the engine's operations, the caller-buffer plans
//! bindings use, the known-answer helpers) goes through [`seal_into`], and
//! every path that opens goes through [`open_into`]; the JSON compatibility
//! form has [`seal_json`] and [`open_json`]. The known-answer vectors in
//! `tests/vectors/format-v1.json` therefore check the writer that ships.

use crate::compat::{self, JsonEnvelope};
use crate::crypto::aead::{self, AeadKey, NONCE_LEN, TAG_LEN};
use crate::crypto::kdf::DerivedKeys;
use crate::format::{self, Form, Message};
use crate::{Error, Result};
use std::mem::MaybeUninit;

/// What fixes a message's bytes besides the plaintext, the context and the aad.
pub(crate) struct SealParts<'a> {
    /// Keys derived from the data key for this salt.
    pub(crate) derived: &'a DerivedKeys,
    /// magic ‖ version ‖ suite ‖ salt ‖ commitment.
    pub(crate) prefix: &'a [u8; 69],
    /// The message's nonce.
    pub(crate) nonce: &'a [u8; NONCE_LEN],
    /// key reference kind ‖ len ‖ ref ‖ len ‖ wrapped data key.
    pub(crate) key_section: &'a [u8],
}

impl SealParts<'_> {
    /// The exact length of the binary message for `plaintext_len` bytes.
    pub(crate) fn sealed_len(&self, plaintext_len: usize) -> usize {
        format::FIXED_HEADER_LEN + self.key_section.len() + plaintext_len + TAG_LEN
    }
}

/// Writes the binary message into `out`, which must be exactly
/// [`SealParts::sealed_len`] bytes: fixed header, key section, then
/// ciphertext and tag under the associated data `fixed header ‖
/// canonical(context) ‖ len(aad) ‖ aad`. On success every byte is written.
pub(crate) fn seal_into(
    parts: &SealParts<'_>,
    context: &[u8],
    aad: &[u8],
    plaintext: &[u8],
    out: &mut [MaybeUninit<u8>],
) -> Result<()> {
    if out.len() != parts.sealed_len(plaintext.len()) {
        return Err(Error::ApiMisuse("buffer does not match the message length"));
    }
    let mut header = [0u8; format::FIXED_HEADER_LEN];
    header[..69].copy_from_slice(parts.prefix);
    header[69..].copy_from_slice(parts.nonce);
    let (head, body) = out.split_at_mut(format::FIXED_HEADER_LEN + parts.key_section.len());
    let (fixed, section) = head.split_at_mut(format::FIXED_HEADER_LEN);
    aead::write_bytes(fixed, &header);
    aead::write_bytes(section, parts.key_section);
    format::with_associated_data(&header, context, aad, |ad| {
        parts
            .derived
            .aead
            .seal_to_uninit(parts.nonce, ad, plaintext, body)
    })
}

/// [`seal_into`] a new `Vec`, binary or text form.
pub(crate) fn seal_to_vec(
    parts: &SealParts<'_>,
    context: &[u8],
    aad: &[u8],
    plaintext: &[u8],
    form: Form,
) -> Result<Vec<u8>> {
    let bin = aead::filled_vec(parts.sealed_len(plaintext.len()), |out| {
        seal_into(parts, context, aad, plaintext, out)
    })?;
    Ok(match form {
        Form::Text => format::text::encode(&bin),
        _ => bin,
    })
}

/// Opens a parsed message with the keys derived for its salt: the key
/// commitment is checked (in constant time) first, then the tag. `out` is
/// exactly the plaintext length; on failure every byte of it is zero.
pub(crate) fn open_into(
    derived: &DerivedKeys,
    msg: &Message<'_>,
    context: &[u8],
    aad: &[u8],
    out: &mut [MaybeUninit<u8>],
) -> Result<()> {
    if out.len() != msg.plaintext_len() {
        out.fill(MaybeUninit::new(0));
        return Err(Error::ApiMisuse("buffer does not match the message length"));
    }
    if !derived.commitment_matches(msg.commitment) {
        out.fill(MaybeUninit::new(0));
        return Err(Error::Authentication);
    }
    format::with_associated_data(msg.fixed_header, context, aad, |ad| {
        derived.aead.open_to_uninit(msg.nonce, ad, msg.body, out)
    })
}

/// [`open_into`] a new `Vec`.
pub(crate) fn open_to_vec(
    derived: &DerivedKeys,
    msg: &Message<'_>,
    context: &[u8],
    aad: &[u8],
) -> Result<Vec<u8>> {
    aead::filled_vec(msg.plaintext_len(), |out| {
        open_into(derived, msg, context, aad, out)
    })
}

/// A JSON compatibility envelope: AES-256-GCM under the raw data key, the
/// caller's aad as associated data (no commitment, no authenticated header).
pub(crate) fn seal_json(
    raw: &AeadKey,
    nonce: &[u8; NONCE_LEN],
    wrapped_dek: &[u8],
    aad: &[u8],
    plaintext: &[u8],
) -> Result<Vec<u8>> {
    let mut body = Vec::with_capacity(plaintext.len() + TAG_LEN);
    raw.seal_append(nonce, aad, plaintext, &mut body)?;
    Ok(compat::encode_json(wrapped_dek, nonce, &body))
}

/// Opens a JSON compatibility envelope with the raw data key.
pub(crate) fn open_json(raw: &AeadKey, json: &JsonEnvelope, aad: &[u8]) -> Result<Vec<u8>> {
    let mut out = Vec::with_capacity(json.ciphertext_and_tag.len());
    raw.open_append(&json.nonce, aad, &json.ciphertext_and_tag, &mut out)?;
    Ok(out)
}
