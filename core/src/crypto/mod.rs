//! Internal cryptography: one AEAD interface over the platform's backend, and
//! the HKDF derivation of per-(DEK, salt) keys and commitments.

pub(crate) mod aead;
pub(crate) mod kdf;
