//! Known-answer helpers: seal and open with caller-chosen data key, salt and
//! nonce, bypassing providers and caches.
//!
//! They exist so every language binding can reproduce
//! `tests/vectors/format-v1.json` byte for byte. They seal and open through
//! the same byte assembler as the engine (`envelope`). **Never seal real data with a
//! chosen nonce**: reusing a (data key, salt, nonce) triple breaks AES-GCM.

use crate::Result;
use crate::context::EncryptionContext;
use crate::crypto::aead::{AeadKey, NONCE_LEN};
use crate::crypto::kdf::{COMMITMENT_LEN, DerivedKeys, SALT_LEN};
use crate::envelope::{self, SealParts};
use crate::format::{self, Form, KeyRef};
use crate::key::DataKey;

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
        let raw = AeadKey::new(dek.dangerous_bytes());
        return envelope::seal_json(&raw, nonce, wrapped_dek, aad, plaintext);
    }
    let derived = DerivedKeys::derive(dek.dangerous_bytes(), salt);
    let prefix = format::fixed_prefix(salt, &derived.commitment);
    let key_section = format::key_section(key_ref, wrapped_dek)?;
    let parts = SealParts {
        derived: &derived,
        prefix: &prefix,
        nonce,
        key_section: &key_section,
    };
    envelope::seal_to_vec(&parts, context.canonical_bytes(), aad, plaintext, form)
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
    envelope::open_to_vec(&derived, &msg, context.canonical_bytes(), aad)
}

/// Seals and opens through both AES-GCM backends (AWS-LC and RustCrypto,
/// the wasm32 one) and every backend entry point, with and without a changed
/// byte; returns `ciphertext || tag` or the first disagreement. For the
/// differential fuzz target (feature `both-backends`, native targets only).
#[cfg(all(feature = "both-backends", not(target_arch = "wasm32")))]
#[doc(hidden)]
pub fn compare_aead_backends(
    key: &[u8; 32],
    nonce: &[u8; NONCE_LEN],
    aad: &[u8],
    plaintext: &[u8],
    flip: usize,
) -> std::result::Result<Vec<u8>, String> {
    crate::crypto::aead::compare_backends(key, nonce, aad, plaintext, flip)
}

/// The same as [`compare_aead_backends`] for AES-256-GCM-SIV (root-keyed
/// values).
#[cfg(all(feature = "both-backends", not(target_arch = "wasm32")))]
#[doc(hidden)]
pub fn compare_siv_backends(
    key: &[u8; 32],
    nonce: &[u8; NONCE_LEN],
    aad: &[u8],
    plaintext: &[u8],
    flip: usize,
) -> std::result::Result<Vec<u8>, String> {
    crate::crypto::siv::compare_backends(key, nonce, aad, plaintext, flip)
}

/// The context a root key is wrapped under (`dekbox:purpose = root-key`,
/// `dekbox:root = <label>`), for vectors and KMS emulators.
pub fn root_wrap_context(label: &str) -> Result<EncryptionContext> {
    crate::root::check_label(label)?;
    crate::root::wrap_context(label)
}

/// Derived column keys of a root given as bytes.
fn root_keys(
    root: &[u8; 32],
    label: &str,
    purpose: crate::root::Purpose,
    context: &EncryptionContext,
    column: &str,
) -> Result<crate::root::value::ColumnKeys> {
    let key = crate::root::RootKey::from_bytes_for_tests(label, root)?;
    crate::root::value::ColumnKeys::derive(&key, purpose, context, column)
}

/// A fixed nonce in place of the random one.
struct FixedNonce([u8; NONCE_LEN]);

impl crate::random::SecureRandom for FixedNonce {
    fn fill(&self, dest: &mut [u8]) -> Result<()> {
        if dest.len() != NONCE_LEN {
            return Err(crate::Error::ApiMisuse("FixedNonce fills nonces only"));
        }
        dest.copy_from_slice(&self.0);
        Ok(())
    }
}

/// Seals a root-keyed value as the engine does, with the root's bytes and
/// the compact nonce given (deterministic values ignore `nonce`).
#[allow(clippy::too_many_arguments)]
pub fn seal_root_value(
    root: &[u8; 32],
    label: &str,
    mode: crate::root::value::Mode,
    nonce: &[u8; NONCE_LEN],
    plaintext: &[u8],
    context: &EncryptionContext,
    column: &str,
    aad: &[u8],
    form: Form,
) -> Result<Vec<u8>> {
    let keys = root_keys(
        root,
        label,
        crate::root::value::purpose_for(mode),
        context,
        column,
    )?;
    crate::root::value::seal(
        &keys,
        label,
        mode,
        plaintext,
        aad,
        form == Form::Text,
        &FixedNonce(*nonce),
    )
}

/// Opens a root-keyed value with the root's bytes.
pub fn open_root_value(
    root: &[u8; 32],
    sealed: &[u8],
    context: &EncryptionContext,
    column: &str,
    aad: &[u8],
) -> Result<Vec<u8>> {
    let bin = crate::root::value::binary_form(sealed, usize::MAX / 2)?;
    let v = crate::root::value::parse(&bin, usize::MAX / 2)?;
    let keys = root_keys(
        root,
        v.label,
        crate::root::value::purpose_of(&v),
        context,
        column,
    )?;
    crate::root::value::open(&keys, &v, aad)
}

/// The `external` key (Active Record's deterministic key) of a root given as bytes.
pub fn external_key(
    root: &[u8; 32],
    label: &str,
    context: &EncryptionContext,
    column: &str,
) -> Result<[u8; 32]> {
    let keys = root_keys(root, label, crate::root::Purpose::External, context, column)?;
    Ok(*keys.mac)
}

/// A blind index with the root's bytes.
pub fn blind_index(
    root: &[u8; 32],
    label: &str,
    value: &[u8],
    context: &EncryptionContext,
    column: &str,
    options: &crate::root::blind::IndexOptions,
) -> Result<Vec<u8>> {
    let keys = root_keys(
        root,
        label,
        crate::root::Purpose::BlindIndex,
        context,
        column,
    )?;
    crate::root::blind::compute(&keys, value, options)
}
