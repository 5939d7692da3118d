//! Known-answer helpers: seal and open with caller-chosen data key, salt and
//! nonce, bypassing providers and caches.
//!
//! They exist so every language binding can reproduce
//! `tests/vectors/format-v1.json` byte for byte. **Never seal real data with a
//! chosen nonce**: reusing a (data key, salt, nonce) triple breaks AES-GCM.

use crate::context::EncryptionContext;
use crate::crypto::aead::{AeadKey, NONCE_LEN};
use crate::crypto::kdf::{COMMITMENT_LEN, DerivedKeys, SALT_LEN};
use crate::format::{self, Form, KeyRef};
use crate::key::DataKey;
use crate::{Error, Result, compat};

/// Seals exactly as the engine does, with every random input given.
#[allow(clippy::too_many_arguments)]
pub fn seal_with_parts(
    dek: &DataKey,
    salt: &[u8; SALT_LEN],
    nonce: &[u8; NONCE_LEN],
    key_ref: KeyRef<'_>,
    wrapped_dek: &[u8],
    context: &EncryptionContext,
    aad: &[u8],
    plaintext: &[u8],
    form: Form,
) -> Result<Vec<u8>> {
    if form == Form::Json {
        let mut body = plaintext.to_vec();
        let tag = AeadKey::new(dek.dangerous_bytes()).seal_in_place(nonce, aad, &mut body)?;
        body.extend_from_slice(&tag);
        return Ok(compat::encode_json(wrapped_dek, nonce, &body));
    }
    let derived = DerivedKeys::derive(dek.dangerous_bytes(), salt);
    let mut out = format::fixed_prefix(salt, &derived.commitment).to_vec();
    out.extend_from_slice(nonce);
    out.extend_from_slice(&format::key_section(key_ref, wrapped_dek)?);
    let body = out.len();
    out.extend_from_slice(plaintext);
    let (header, rest) = out.split_at_mut(body);
    let tag = format::with_associated_data(
        &header[..format::FIXED_HEADER_LEN],
        context.canonical_bytes(),
        aad,
        |ad| derived.aead.seal_in_place(nonce, ad, rest),
    )?;
    out.extend_from_slice(&tag);
    Ok(match form {
        Form::Text => format::text::encode(&out),
        _ => out,
    })
}

/// The context a key provider is given for the data key of a dekbox message:
/// `context` plus the reserved `dekbox:purpose = data-key` entry (see
/// docs/FORMAT.md). For known-answer tests and KMS emulators; the engine adds
/// the entry itself, so never pass the result to an [`Engine`](crate::Engine).
pub fn data_key_context(context: &EncryptionContext) -> Result<EncryptionContext> {
    Ok(context.for_data_key()?)
}

/// The key commitment stored in messages sealed under (`dek`, `salt`).
pub fn commitment(dek: &DataKey, salt: &[u8; SALT_LEN]) -> [u8; COMMITMENT_LEN] {
    DerivedKeys::derive(dek.dangerous_bytes(), salt).commitment
}

/// Opens a binary or text message with a known data key.
pub fn open_with_dek(
    dek: &DataKey,
    sealed: &[u8],
    context: &EncryptionContext,
    aad: &[u8],
) -> Result<Vec<u8>> {
    let max = format::DEFAULT_MAX_PLAINTEXT;
    let decoded;
    let bin = match format::detect(sealed) {
        format::Detected::Binary => sealed,
        format::Detected::Text => {
            decoded = format::text::decode(sealed, max)?;
            &decoded[..]
        }
        _ => return Err(crate::Malformed::NotDekbox.into()),
    };
    let msg = format::parse(bin, max)?;
    let derived = DerivedKeys::derive(dek.dangerous_bytes(), msg.salt);
    if !derived.commitment_matches(msg.commitment) {
        return Err(Error::Authentication);
    }
    let mut buf = msg.body.to_vec();
    format::with_associated_data(msg.fixed_header, context.canonical_bytes(), aad, |ad| {
        derived.aead.open_in_place(msg.nonce, ad, &mut buf)
    })?;
    Ok(buf)
}
