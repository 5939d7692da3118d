//! Data keys. Plaintext key bytes live in one heap allocation that is zeroized
//! when dropped, and are never shown by `Debug`.

use crate::Result;
use crate::random::SecureRandom;
use std::fmt;
use zeroize::Zeroize;

/// Length of a data key in bytes (AES-256).
pub const DATA_KEY_LEN: usize = 32;

/// A plaintext 256-bit data key (DEK).
///
/// Zeroized on drop. `Debug` prints `DataKey(..)`. The one accessor that
/// exposes the bytes is named so a reviewer notices it.
pub struct DataKey(Box<[u8; DATA_KEY_LEN]>);

impl DataKey {
    /// A fresh random key.
    pub fn generate(rng: &dyn SecureRandom) -> Result<Self> {
        let mut k = DataKey(Box::new([0u8; DATA_KEY_LEN]));
        rng.fill(&mut k.0[..])?;
        Ok(k)
    }

    /// Takes ownership of key bytes from a slice (which the caller should
    /// zeroize). Fails unless the slice is exactly 32 bytes.
    pub fn from_slice(bytes: &[u8]) -> Option<Self> {
        if bytes.len() != DATA_KEY_LEN {
            return None;
        }
        let mut k = DataKey(Box::new([0u8; DATA_KEY_LEN]));
        k.0.copy_from_slice(bytes);
        Some(k)
    }

    /// The plaintext key bytes. Anything holding this reference holds the key.
    pub fn dangerous_bytes(&self) -> &[u8; DATA_KEY_LEN] {
        &self.0
    }

    pub(crate) fn duplicate(&self) -> Self {
        let mut k = DataKey(Box::new([0u8; DATA_KEY_LEN]));
        k.0.copy_from_slice(&self.0[..]);
        k
    }
}

impl Drop for DataKey {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

impl fmt::Debug for DataKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DataKey(..)")
    }
}

/// A data key as a KMS generates it: the plaintext and its wrapped form.
pub struct GeneratedKey {
    /// The plaintext key.
    pub plaintext: DataKey,
    /// The key wrapped by the key-encryption key (opaque provider bytes).
    pub wrapped: Vec<u8>,
}

impl fmt::Debug for GeneratedKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GeneratedKey")
            .field("plaintext", &self.plaintext)
            .field("wrapped_len", &self.wrapped.len())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_key_bytes() {
        let k = DataKey::from_slice(&[0xAB; 32]).unwrap();
        let s = format!("{k:?}");
        assert_eq!(s, "DataKey(..)");
        let g = GeneratedKey {
            plaintext: k,
            wrapped: vec![1, 2, 3],
        };
        let s = format!("{g:?}");
        assert!(!s.contains("171") && !s.to_lowercase().contains("ab, ab"));
    }

    #[test]
    fn from_slice_checks_length() {
        assert!(DataKey::from_slice(&[0; 31]).is_none());
        assert!(DataKey::from_slice(&[0; 33]).is_none());
    }
}
