//! Internal cryptography: one AEAD interface over the platform's backend, the
//! HKDF derivation of per-(DEK, salt) keys and commitments, and AES-GCM-SIV
//! for root-keyed values.

pub(crate) mod aead;
pub(crate) mod kdf;
pub(crate) mod siv;
