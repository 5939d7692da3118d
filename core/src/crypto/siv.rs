//! AES-256-GCM-SIV (RFC 8452): the nonce-misuse-resistant AEAD of root-keyed
//! values (compact and deterministic; see `crate::root`). A repeated nonce
//! reveals only that two plaintexts (with their associated data) are equal.
//!
//! Native targets use AWS-LC's; wasm32 (and tests, and the `both-backends`
//! feature) RustCrypto's `aes-gcm-siv`. Both give the same bytes (tested).

use crate::{Error, Result};

pub(crate) const KEY_LEN: usize = 32;
pub(crate) const NONCE_LEN: usize = 12;
pub(crate) const TAG_LEN: usize = 16;

/// An AES-256-GCM-SIV key. Its schedule is wiped when dropped.
pub(crate) struct SivKey(backend::Key);

impl SivKey {
    pub(crate) fn new(key: &[u8; KEY_LEN]) -> Self {
        SivKey(backend::Key::new(key))
    }

    /// Appends `ciphertext || tag` of `plaintext` to `out`.
    pub(crate) fn seal_append(
        &self,
        nonce: &[u8; NONCE_LEN],
        aad: &[u8],
        plaintext: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<()> {
        let start = out.len();
        out.extend_from_slice(plaintext);
        let tag = self.0.seal_in_place(nonce, aad, &mut out[start..])?;
        out.extend_from_slice(&tag);
        Ok(())
    }

    /// The plaintext of `ciphertext || tag`, or [`Error::Authentication`].
    /// Nothing unauthenticated is returned or left behind.
    pub(crate) fn open(
        &self,
        nonce: &[u8; NONCE_LEN],
        aad: &[u8],
        ciphertext_and_tag: &[u8],
    ) -> Result<Vec<u8>> {
        let Some(n) = ciphertext_and_tag.len().checked_sub(TAG_LEN) else {
            return Err(Error::Authentication);
        };
        crate::crypto::aead::filled_vec(n, |out| {
            let r = self.0.open_to_uninit(nonce, aad, ciphertext_and_tag, out);
            if r.is_err() {
                out.fill(std::mem::MaybeUninit::new(0));
            }
            r
        })
    }
}

impl std::fmt::Debug for SivKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SivKey { .. }")
    }
}

#[cfg(not(target_arch = "wasm32"))]
use awslc as backend;
#[cfg(target_arch = "wasm32")]
use rustcrypto as backend;

/// AWS-LC's AES-256-GCM-SIV through the same `EVP_AEAD` context as the
/// messages' AES-256-GCM (`crate::crypto::aead::awslc`).
#[cfg(not(target_arch = "wasm32"))]
mod awslc {
    use super::*;

    pub(crate) struct Key(crate::crypto::aead::awslc::Key);

    impl Key {
        pub(crate) fn new(key: &[u8; KEY_LEN]) -> Self {
            Key(crate::crypto::aead::awslc::Key::gcm_siv(key))
        }

        pub(crate) fn seal_in_place(
            &self,
            nonce: &[u8; NONCE_LEN],
            aad: &[u8],
            in_out: &mut [u8],
        ) -> Result<[u8; TAG_LEN]> {
            self.0.seal_in_place(nonce, aad, in_out)
        }

        /// Writes the plaintext of `input` (`ciphertext || tag`) into `out`.
        pub(crate) fn open_to_uninit(
            &self,
            nonce: &[u8; NONCE_LEN],
            aad: &[u8],
            input: &[u8],
            out: &mut [std::mem::MaybeUninit<u8>],
        ) -> Result<()> {
            self.0.open_to_uninit(nonce, aad, input, out)
        }
    }
}

#[cfg(any(target_arch = "wasm32", test, feature = "both-backends"))]
mod rustcrypto {
    use super::*;
    use aes_gcm_siv::aead::{AeadInPlace, KeyInit};
    use aes_gcm_siv::{Aes256GcmSiv, Nonce, Tag};

    pub(crate) struct Key(Aes256GcmSiv);

    impl Key {
        pub(crate) fn new(key: &[u8; KEY_LEN]) -> Self {
            Key(Aes256GcmSiv::new(key.into()))
        }

        pub(crate) fn seal_in_place(
            &self,
            nonce: &[u8; NONCE_LEN],
            aad: &[u8],
            in_out: &mut [u8],
        ) -> Result<[u8; TAG_LEN]> {
            let tag = self
                .0
                .encrypt_in_place_detached(Nonce::from_slice(nonce), aad, in_out)
                .map_err(|_| Error::ApiMisuse("plaintext exceeds the AES-GCM-SIV limit"))?;
            Ok(tag.into())
        }

        /// Writes the plaintext of `input` (`ciphertext || tag`) into `out`.
        pub(crate) fn open_to_uninit(
            &self,
            nonce: &[u8; NONCE_LEN],
            aad: &[u8],
            input: &[u8],
            out: &mut [std::mem::MaybeUninit<u8>],
        ) -> Result<()> {
            if input.len() != out.len() + TAG_LEN {
                return Err(Error::ApiMisuse("output buffer has the wrong length"));
            }
            let (ct, tag) = input.split_at(out.len());
            out.fill(std::mem::MaybeUninit::new(0));
            // SAFETY: every byte was just initialised.
            let out = unsafe { &mut *(out as *mut [std::mem::MaybeUninit<u8>] as *mut [u8]) };
            out.copy_from_slice(ct);
            self.0
                .decrypt_in_place_detached(Nonce::from_slice(nonce), aad, out, Tag::from_slice(tag))
                .map_err(|_| Error::Authentication)
        }
    }
}

/// Seals through both backends, compares, and checks both open the result
/// and refuse it with bit `flip` changed. For the differential fuzz target.
#[cfg(all(not(target_arch = "wasm32"), any(test, feature = "both-backends")))]
pub(crate) fn compare_backends(
    key: &[u8; KEY_LEN],
    nonce: &[u8; NONCE_LEN],
    aad: &[u8],
    plaintext: &[u8],
    flip: usize,
) -> std::result::Result<Vec<u8>, String> {
    let (a, r) = (awslc::Key::new(key), rustcrypto::Key::new(key));
    let (mut x, mut y) = (plaintext.to_vec(), plaintext.to_vec());
    let ta = a
        .seal_in_place(nonce, aad, &mut x)
        .map_err(|e| e.to_string())?;
    let tr = r
        .seal_in_place(nonce, aad, &mut y)
        .map_err(|e| e.to_string())?;
    if (&x, ta) != (&y, tr) {
        return Err("AES-GCM-SIV backends differ".into());
    }
    let mut sealed = x.clone();
    sealed.extend_from_slice(&ta);
    let mut bad = sealed.clone();
    let at = flip % bad.len();
    bad[at] ^= 1 << (flip % 8);
    let n = plaintext.len();
    for name in ["AWS-LC", "RustCrypto"] {
        let open = |input: &[u8]| {
            crate::crypto::aead::filled_vec(n, |o| {
                if name == "AWS-LC" {
                    a.open_to_uninit(nonce, aad, input, o)
                } else {
                    r.open_to_uninit(nonce, aad, input, o)
                }
            })
        };
        let ok = open(&sealed).is_ok_and(|p| p == plaintext);
        let refused = open(&bad).is_err();
        if !ok || !refused {
            return Err(format!(
                "{name} AES-GCM-SIV: opened {ok}, refused a change {refused}"
            ));
        }
    }
    x.extend_from_slice(&ta);
    Ok(x)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    /// RFC 8452, appendix C.2: AES-256-GCM-SIV, empty plaintext and AAD.
    #[test]
    fn rfc8452_vector() {
        let key: [u8; 32] = hex("0100000000000000000000000000000000000000000000000000000000000000")
            .try_into()
            .unwrap();
        let nonce: [u8; 12] = hex("030000000000000000000000").try_into().unwrap();
        let mut out = Vec::new();
        SivKey::new(&key)
            .seal_append(&nonce, b"", b"", &mut out)
            .unwrap();
        assert_eq!(out, hex("07f5f4169bbf55a8400cd47ea6fd400f"));
    }

    proptest::proptest! {
        /// AWS-LC's and RustCrypto's AES-256-GCM-SIV agree, and both refuse
        /// a changed bit.
        #[test]
        fn backends_agree(
            key in proptest::prelude::any::<[u8; 32]>(),
            nonce in proptest::prelude::any::<[u8; 12]>(),
            aad in proptest::collection::vec(0u8..=255, 0..80),
            pt in proptest::collection::vec(0u8..=255, 0..600),
            flip in 0usize..10_000,
        ) {
            let sealed = compare_backends(&key, &nonce, &aad, &pt, flip);
            proptest::prop_assert!(sealed.is_ok(), "{:?}", sealed.err());
            let k = SivKey::new(&key);
            proptest::prop_assert_eq!(k.open(&nonce, &aad, &sealed.unwrap()).unwrap(), pt);
        }
    }
}
