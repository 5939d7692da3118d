//! AES-256-GCM behind one interface.
//!
//! Native targets use aws-lc-rs (measured fastest on this hardware: see
//! `cargo bench -p dekbox-core --bench ratios`); wasm32 uses RustCrypto's
//! `aes-gcm`. Both produce identical bytes (a unit test checks it).

use crate::{Error, Result};

pub(crate) const KEY_LEN: usize = 32;
pub(crate) const NONCE_LEN: usize = 12;
pub(crate) const TAG_LEN: usize = 16;

/// An expanded AES-256-GCM key. Not `Clone`: one schedule per derived key.
pub(crate) struct AeadKey {
    inner: backend::Key,
}

impl AeadKey {
    pub(crate) fn new(key: &[u8; KEY_LEN]) -> Self {
        Self {
            inner: backend::Key::new(key),
        }
    }

    /// Encrypts `in_out` in place and returns the tag.
    pub(crate) fn seal_in_place(
        &self,
        nonce: &[u8; NONCE_LEN],
        aad: &[u8],
        in_out: &mut [u8],
    ) -> Result<[u8; TAG_LEN]> {
        self.inner.seal(nonce, aad, in_out)
    }

    /// Encrypts `plaintext` into `out`, which must be `plaintext.len() + TAG_LEN`
    /// bytes: ciphertext then tag. One pass over the data (no copy first).
    pub(crate) fn seal_into(
        &self,
        nonce: &[u8; NONCE_LEN],
        aad: &[u8],
        plaintext: &[u8],
        out: &mut [u8],
    ) -> Result<()> {
        if out.len() != plaintext.len() + TAG_LEN {
            return Err(Error::ApiMisuse("seal output has the wrong length"));
        }
        self.inner.seal_into(nonce, aad, plaintext, out)
    }

    /// Decrypts `ciphertext || tag` into `out` (`ciphertext.len()` bytes). On
    /// failure `out` is zeroed: no unauthenticated plaintext escapes.
    pub(crate) fn open_into(
        &self,
        nonce: &[u8; NONCE_LEN],
        aad: &[u8],
        ciphertext_and_tag: &[u8],
        out: &mut [u8],
    ) -> Result<()> {
        if ciphertext_and_tag.len() < TAG_LEN || out.len() != ciphertext_and_tag.len() - TAG_LEN {
            return Err(Error::Authentication);
        }
        let r = self.inner.open_into(nonce, aad, ciphertext_and_tag, out);
        if r.is_err() {
            zeroize::Zeroize::zeroize(out);
        }
        r
    }

    /// Decrypts `ciphertext || tag` in place. On success `in_out` is truncated
    /// to the plaintext; on failure it is zeroed and emptied, so no
    /// unauthenticated plaintext escapes.
    pub(crate) fn open_in_place(
        &self,
        nonce: &[u8; NONCE_LEN],
        aad: &[u8],
        in_out: &mut Vec<u8>,
    ) -> Result<()> {
        let Some(pt_len) = in_out.len().checked_sub(TAG_LEN) else {
            return Err(Error::Authentication);
        };
        match self.inner.open(nonce, aad, in_out) {
            Ok(()) => {
                in_out.truncate(pt_len);
                Ok(())
            }
            Err(e) => {
                zeroize::Zeroize::zeroize(in_out);
                in_out.clear();
                Err(e)
            }
        }
    }
}

impl std::fmt::Debug for AeadKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AeadKey { .. }")
    }
}

#[cfg(not(target_arch = "wasm32"))]
mod backend {
    use super::*;
    use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};

    pub(super) struct Key(LessSafeKey);

    impl Key {
        pub(super) fn new(key: &[u8; KEY_LEN]) -> Self {
            // Invariant: a 32-byte key is always a valid AES-256-GCM key.
            #[allow(clippy::expect_used)]
            let unbound = UnboundKey::new(&AES_256_GCM, key).expect("32-byte AES-256 key");
            Key(LessSafeKey::new(unbound))
        }

        pub(super) fn seal(
            &self,
            nonce: &[u8; NONCE_LEN],
            aad: &[u8],
            in_out: &mut [u8],
        ) -> Result<[u8; TAG_LEN]> {
            let tag = self
                .0
                .seal_in_place_separate_tag(
                    Nonce::assume_unique_for_key(*nonce),
                    Aad::from(aad),
                    in_out,
                )
                .map_err(|_| Error::ApiMisuse("plaintext exceeds the AES-GCM limit"))?;
            let mut out = [0u8; TAG_LEN];
            out.copy_from_slice(tag.as_ref());
            Ok(out)
        }

        /// `in_out` is `ciphertext || tag`, at least `TAG_LEN` long.
        pub(super) fn open(
            &self,
            nonce: &[u8; NONCE_LEN],
            aad: &[u8],
            in_out: &mut [u8],
        ) -> Result<()> {
            self.0
                .open_in_place(Nonce::assume_unique_for_key(*nonce), Aad::from(aad), in_out)
                .map(|_| ())
                .map_err(|_| Error::Authentication)
        }

        /// `out` is `plaintext.len() + TAG_LEN` bytes.
        pub(super) fn seal_into(
            &self,
            nonce: &[u8; NONCE_LEN],
            aad: &[u8],
            plaintext: &[u8],
            out: &mut [u8],
        ) -> Result<()> {
            let (ct, tag) = out.split_at_mut(plaintext.len());
            self.0
                .seal_out_of_place_scatter(
                    Nonce::assume_unique_for_key(*nonce),
                    Aad::from(aad),
                    plaintext,
                    ct,
                    &[],
                    tag,
                )
                .map_err(|_| Error::ApiMisuse("plaintext exceeds the AES-GCM limit"))
        }

        /// `input` is `ciphertext || tag`; `out` is `ciphertext.len()` bytes.
        pub(super) fn open_into(
            &self,
            nonce: &[u8; NONCE_LEN],
            aad: &[u8],
            input: &[u8],
            out: &mut [u8],
        ) -> Result<()> {
            let (ct, tag) = input.split_at(out.len());
            self.0
                .open_separate_gather(
                    Nonce::assume_unique_for_key(*nonce),
                    Aad::from(aad),
                    ct,
                    tag,
                    out,
                )
                .map_err(|_| Error::Authentication)
        }
    }
}

#[cfg(target_arch = "wasm32")]
mod backend {
    use super::*;
    use aes_gcm::aead::{AeadInPlace, KeyInit};
    use aes_gcm::{Aes256Gcm, Nonce, Tag};

    pub(super) struct Key(Aes256Gcm);

    impl Key {
        pub(super) fn new(key: &[u8; KEY_LEN]) -> Self {
            Key(Aes256Gcm::new(key.into()))
        }

        pub(super) fn seal(
            &self,
            nonce: &[u8; NONCE_LEN],
            aad: &[u8],
            in_out: &mut [u8],
        ) -> Result<[u8; TAG_LEN]> {
            let tag = self
                .0
                .encrypt_in_place_detached(Nonce::from_slice(nonce), aad, in_out)
                .map_err(|_| Error::ApiMisuse("plaintext exceeds the AES-GCM limit"))?;
            Ok(tag.into())
        }

        /// `in_out` is `ciphertext || tag`, at least `TAG_LEN` long.
        pub(super) fn open(
            &self,
            nonce: &[u8; NONCE_LEN],
            aad: &[u8],
            in_out: &mut [u8],
        ) -> Result<()> {
            let split = in_out.len().saturating_sub(TAG_LEN);
            let (ct, tag) = in_out.split_at_mut(split);
            let tag = Tag::clone_from_slice(tag);
            self.0
                .decrypt_in_place_detached(Nonce::from_slice(nonce), aad, ct, &tag)
                .map_err(|_| Error::Authentication)
        }

        /// `out` is `plaintext.len() + TAG_LEN` bytes.
        pub(super) fn seal_into(
            &self,
            nonce: &[u8; NONCE_LEN],
            aad: &[u8],
            plaintext: &[u8],
            out: &mut [u8],
        ) -> Result<()> {
            let (ct, tag_out) = out.split_at_mut(plaintext.len());
            ct.copy_from_slice(plaintext);
            let tag = self.seal(nonce, aad, ct)?;
            tag_out.copy_from_slice(&tag);
            Ok(())
        }

        /// `input` is `ciphertext || tag`; `out` is `ciphertext.len()` bytes.
        pub(super) fn open_into(
            &self,
            nonce: &[u8; NONCE_LEN],
            aad: &[u8],
            input: &[u8],
            out: &mut [u8],
        ) -> Result<()> {
            let (ct, tag) = input.split_at(out.len());
            out.copy_from_slice(ct);
            self.0
                .decrypt_in_place_detached(Nonce::from_slice(nonce), aad, out, Tag::from_slice(tag))
                .map_err(|_| Error::Authentication)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aes_gcm::aead::{AeadInPlace, KeyInit};

    /// The native backend and RustCrypto (the wasm32 backend) agree byte for byte.
    #[test]
    fn backend_matches_rustcrypto() {
        for len in [0usize, 1, 15, 16, 17, 64, 1000, 4096] {
            let key = [len as u8 ^ 0x5a; 32];
            let nonce = [7u8; 12];
            let aad = vec![3u8; len % 37];
            let pt: Vec<u8> = (0..len).map(|i| i as u8).collect();

            let mut ours = pt.clone();
            let k = AeadKey::new(&key);
            let tag = k.seal_in_place(&nonce, &aad, &mut ours).unwrap();

            let rc = aes_gcm::Aes256Gcm::new((&key).into());
            let mut theirs = pt.clone();
            let rtag = rc
                .encrypt_in_place_detached((&nonce).into(), &aad, &mut theirs)
                .unwrap();
            assert_eq!(ours, theirs);
            assert_eq!(&tag[..], &rtag[..]);

            let mut buf = ours.clone();
            buf.extend_from_slice(&tag);
            k.open_in_place(&nonce, &aad, &mut buf).unwrap();
            assert_eq!(buf, pt);

            // Out-of-place forms agree with in-place.
            let mut oop = vec![0u8; len + TAG_LEN];
            k.seal_into(&nonce, &aad, &pt, &mut oop).unwrap();
            assert_eq!(&oop[..len], &ours[..]);
            assert_eq!(&oop[len..], &tag[..]);
            let mut back = vec![0u8; len];
            k.open_into(&nonce, &aad, &oop, &mut back).unwrap();
            assert_eq!(back, pt);
            oop[0.min(len)] ^= 1;
            let mut back = vec![0xAA; len];
            assert_eq!(
                k.open_into(&nonce, &aad, &oop, &mut back),
                Err(Error::Authentication)
            );
            assert!(
                back.iter().all(|&b| b == 0),
                "failed open leaves no plaintext"
            );

            let mut bad = ours.clone();
            bad.extend_from_slice(&tag);
            let last = bad.len() - 1;
            bad[last] ^= 1;
            assert_eq!(
                k.open_in_place(&nonce, &aad, &mut bad),
                Err(Error::Authentication)
            );
            assert!(bad.is_empty());
        }
    }

    #[test]
    fn short_input_is_an_authentication_error() {
        let k = AeadKey::new(&[0u8; 32]);
        let mut buf = vec![0u8; TAG_LEN - 1];
        assert_eq!(
            k.open_in_place(&[0; 12], b"", &mut buf),
            Err(Error::Authentication)
        );
    }
}
