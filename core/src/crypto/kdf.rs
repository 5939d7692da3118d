//! HKDF-SHA-256 derivation of the data AEAD key and the key commitment.
//!
//! For each (DEK, salt) pair:
//!
//! ```text
//! PRK        = HKDF-Extract(salt, DEK)
//! data_key   = HKDF-Expand(PRK, "dekbox v1 suite 0x01 data key", 32)
//! commitment = HKDF-Expand(PRK, "dekbox v1 suite 0x01 key commitment", 32)
//! ```
//!
//! The derivation runs once per cached data key and salt, not per message.

use super::aead::AeadKey;
use hkdf::Hkdf;
use sha2::Sha256;
use zeroize::Zeroizing;

pub(crate) const SALT_LEN: usize = 32;
pub(crate) const COMMITMENT_LEN: usize = 32;

const INFO_DATA_KEY: &[u8] = b"dekbox v1 suite 0x01 data key";
const INFO_COMMITMENT: &[u8] = b"dekbox v1 suite 0x01 key commitment";

/// The AEAD key and commitment derived from one (DEK, salt).
pub(crate) struct DerivedKeys {
    pub(crate) aead: AeadKey,
    pub(crate) commitment: [u8; COMMITMENT_LEN],
}

impl DerivedKeys {
    pub(crate) fn derive(dek: &[u8; 32], salt: &[u8; SALT_LEN]) -> Self {
        let (data_key, commitment) = Self::derive_raw(dek, salt);
        Self {
            aead: AeadKey::new(&data_key),
            commitment,
        }
    }

    /// The derived AES-256-GCM key bytes and the commitment, for handing a
    /// message to another AES-GCM implementation (Web Crypto).
    pub(crate) fn derive_raw(
        dek: &[u8; 32],
        salt: &[u8; SALT_LEN],
    ) -> (Zeroizing<[u8; 32]>, [u8; COMMITMENT_LEN]) {
        let hk = Hkdf::<Sha256>::new(Some(salt), dek);
        let mut data_key = Zeroizing::new([0u8; 32]);
        let mut commitment = [0u8; COMMITMENT_LEN];
        // Invariant: 32 bytes is far below HKDF-SHA-256's 8160-byte output limit.
        #[allow(clippy::expect_used)]
        {
            hk.expand(INFO_DATA_KEY, &mut data_key[..])
                .expect("32 <= 255 * HashLen");
            hk.expand(INFO_COMMITMENT, &mut commitment)
                .expect("32 <= 255 * HashLen");
        }
        (data_key, commitment)
    }

    /// Compares a message's commitment with ours in constant time (no early
    /// exit; the comparison folds whole words, then tests once).
    pub(crate) fn commitment_matches(&self, other: &[u8; COMMITMENT_LEN]) -> bool {
        constant_time_eq::constant_time_eq_32(&self.commitment, other)
    }
}

impl std::fmt::Debug for DerivedKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DerivedKeys { .. }")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn different_salts_and_deks_give_different_commitments() {
        let a = DerivedKeys::derive(&[1; 32], &[0; 32]);
        let b = DerivedKeys::derive(&[1; 32], &[1; 32]);
        let c = DerivedKeys::derive(&[2; 32], &[0; 32]);
        assert!(!a.commitment_matches(&b.commitment));
        assert!(!a.commitment_matches(&c.commitment));
        assert!(a.commitment_matches(&DerivedKeys::derive(&[1; 32], &[0; 32]).commitment));
    }
}
