//! AES-256-GCM behind one interface.
//!
//! Native targets use AWS-LC (measured fastest on this hardware: see
//! `cargo bench -p dekbox-core --bench ratios`), called through `aws-lc-sys`
//! so that ciphertext and plaintext are written straight into a `Vec`'s spare
//! capacity: one pass over the data, no zero-fill first. wasm32 uses
//! RustCrypto's `aes-gcm`. Both produce identical bytes (a unit test checks it).

use crate::{Error, Result};
use std::mem::MaybeUninit;

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

    /// Appends `ciphertext || tag` of `plaintext` to `out`, written straight
    /// into its spare capacity.
    pub(crate) fn seal_append(
        &self,
        nonce: &[u8; NONCE_LEN],
        aad: &[u8],
        plaintext: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<()> {
        let n = plaintext.len() + TAG_LEN;
        out.reserve(n);
        let start = out.len();
        self.seal_to_uninit(nonce, aad, plaintext, &mut out.spare_capacity_mut()[..n])?;
        // SAFETY: seal_to_uninit initialised these n bytes.
        unsafe { out.set_len(start + n) };
        Ok(())
    }

    /// Appends the plaintext of `ciphertext || tag` to `out` if the tag
    /// verifies. On failure `out` is unchanged and its spare capacity holds
    /// no plaintext.
    pub(crate) fn open_append(
        &self,
        nonce: &[u8; NONCE_LEN],
        aad: &[u8],
        ciphertext_and_tag: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<()> {
        let Some(n) = ciphertext_and_tag.len().checked_sub(TAG_LEN) else {
            return Err(Error::Authentication);
        };
        out.reserve(n);
        let start = out.len();
        self.open_to_uninit(
            nonce,
            aad,
            ciphertext_and_tag,
            &mut out.spare_capacity_mut()[..n],
        )?;
        // SAFETY: open_to_uninit initialised these n bytes (it succeeded).
        unsafe { out.set_len(start + n) };
        Ok(())
    }

    /// Encrypts `plaintext` into `out` (`plaintext.len() + TAG_LEN` bytes,
    /// possibly uninitialised): ciphertext then tag, in one pass. On success
    /// every byte of `out` is initialised.
    pub(crate) fn seal_to_uninit(
        &self,
        nonce: &[u8; NONCE_LEN],
        aad: &[u8],
        plaintext: &[u8],
        out: &mut [MaybeUninit<u8>],
    ) -> Result<()> {
        if out.len() != plaintext.len() + TAG_LEN {
            return Err(Error::ApiMisuse("output buffer has the wrong length"));
        }
        self.inner.seal_to_uninit(nonce, aad, plaintext, out)
    }

    /// Decrypts `ciphertext || tag` into `out` (`ciphertext.len()` bytes,
    /// possibly uninitialised). On success every byte of `out` is the
    /// plaintext, on failure every byte is zero.
    pub(crate) fn open_to_uninit(
        &self,
        nonce: &[u8; NONCE_LEN],
        aad: &[u8],
        ciphertext_and_tag: &[u8],
        out: &mut [MaybeUninit<u8>],
    ) -> Result<()> {
        if ciphertext_and_tag.len() < TAG_LEN || out.len() != ciphertext_and_tag.len() - TAG_LEN {
            return Err(Error::ApiMisuse("output buffer has the wrong length"));
        }
        let r = self
            .inner
            .open_to_uninit(nonce, aad, ciphertext_and_tag, out);
        if r.is_err() {
            out.fill(MaybeUninit::new(0));
        }
        r
    }

    /// Encrypts `in_out` in place and returns the tag.
    pub(crate) fn seal_in_place(
        &self,
        nonce: &[u8; NONCE_LEN],
        aad: &[u8],
        in_out: &mut [u8],
    ) -> Result<[u8; TAG_LEN]> {
        self.inner.seal_in_place(nonce, aad, in_out)
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
        let (ct, tag) = in_out.split_at_mut(pt_len);
        let mut tag_copy = [0u8; TAG_LEN];
        tag_copy.copy_from_slice(tag);
        match self.inner.open_in_place(nonce, aad, ct, &tag_copy) {
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

/// Views initialised bytes as possibly-uninitialised ones, for passing to
/// the `*_uninit` writers in this crate.
///
/// # Safety
///
/// The caller must only store initialised values through the returned slice
/// (as every `*_uninit` writer in this crate does), so `out` stays
/// initialised.
pub(crate) unsafe fn as_uninit(out: &mut [u8]) -> &mut [MaybeUninit<u8>] {
    // SAFETY: same layout; the caller upholds the contract above.
    unsafe { &mut *(out as *mut [u8] as *mut [MaybeUninit<u8>]) }
}

/// Copies `src` into the first `src.len()` bytes of `dst` (one `memcpy`,
/// where a byte loop over `MaybeUninit` does not always vectorise).
#[inline]
pub(crate) fn write_bytes(dst: &mut [MaybeUninit<u8>], src: &[u8]) {
    // SAFETY: `MaybeUninit<u8>` has the layout of `u8`, and every initialised
    // byte is a valid `MaybeUninit<u8>`; the view is read-only.
    let src = unsafe { &*(src as *const [u8] as *const [MaybeUninit<u8>]) };
    dst[..src.len()].copy_from_slice(src);
}

/// A new `Vec` of exactly `len` bytes written by `fill`, with no zero-fill
/// first. `fill` must write every byte when it succeeds (every writer in this
/// crate does; the openers also zero their output when they fail).
pub(crate) fn filled_vec(
    len: usize,
    fill: impl FnOnce(&mut [MaybeUninit<u8>]) -> Result<()>,
) -> Result<Vec<u8>> {
    let mut v = Vec::with_capacity(len);
    fill(&mut v.spare_capacity_mut()[..len])?;
    // SAFETY: `fill` succeeded, so all `len` bytes are initialised.
    unsafe { v.set_len(len) };
    Ok(v)
}

impl std::fmt::Debug for AeadKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AeadKey { .. }")
    }
}

#[cfg(not(target_arch = "wasm32"))]
use awslc as backend;
#[cfg(target_arch = "wasm32")]
use rustcrypto as backend;

#[cfg(not(target_arch = "wasm32"))]
pub(crate) mod awslc {
    //! AWS-LC's `EVP_AEAD` interface. Every `unsafe` block here relies on:
    //! the context pointer is valid from `new` until `drop`; input pointers
    //! come from live slices of the stated length; output pointers point into
    //! capacity reserved (or a slice borrowed) for at least the stated length;
    //! `seal_scatter` and `open_gather` may alias input and output exactly
    //! (AWS-LC's documented contract) and never read uninitialised output.

    use super::*;
    use aws_lc_sys as sys;
    use std::ptr::NonNull;

    /// An AWS-LC AEAD context: AES-256-GCM (dekbox messages), or
    /// AES-256-GCM-SIV ([`Key::gcm_siv`], root-keyed values).
    pub(crate) struct Key(NonNull<sys::EVP_AEAD_CTX>);

    // SAFETY: an EVP_AEAD_CTX is not modified after initialisation; AWS-LC's
    // seal and open take it by const pointer and are safe to call concurrently.
    unsafe impl Send for Key {}
    unsafe impl Sync for Key {}

    impl Key {
        pub(crate) fn new(key: &[u8; KEY_LEN]) -> Self {
            // SAFETY: the AEAD is a static.
            Self::with(unsafe { sys::EVP_aead_aes_256_gcm() }, key)
        }

        /// AES-256-GCM-SIV (RFC 8452) under `key`.
        pub(crate) fn gcm_siv(key: &[u8; KEY_LEN]) -> Self {
            // SAFETY: the AEAD is a static.
            Self::with(unsafe { sys::EVP_aead_aes_256_gcm_siv() }, key)
        }

        fn with(aead: *const sys::EVP_AEAD, key: &[u8; KEY_LEN]) -> Self {
            // SAFETY: key points to KEY_LEN readable bytes; the AEAD is static
            // and takes 32-byte keys, 12-byte nonces and 16-byte tags.
            let ctx = unsafe { sys::EVP_AEAD_CTX_new(aead, key.as_ptr(), KEY_LEN, TAG_LEN) };
            // A 32-byte key is always valid, so NULL means allocation failed:
            // treat it as Rust treats an allocation failure.
            match NonNull::new(ctx) {
                Some(p) => Key(p),
                None => std::alloc::handle_alloc_error(std::alloc::Layout::new::<[u8; 1024]>()),
            }
        }

        /// # Safety
        /// `input` is readable for `len` bytes; `out` writable for `len` bytes
        /// (it may equal `input`); `tag` writable for TAG_LEN bytes.
        unsafe fn seal_raw(
            &self,
            nonce: &[u8; NONCE_LEN],
            aad: &[u8],
            input: *const u8,
            len: usize,
            out: *mut u8,
            tag: *mut u8,
        ) -> Result<()> {
            let mut tag_len = 0usize;
            // SAFETY: guaranteed by the caller as documented above.
            let ok = unsafe {
                sys::EVP_AEAD_CTX_seal_scatter(
                    self.0.as_ptr(),
                    out,
                    tag,
                    &mut tag_len,
                    TAG_LEN,
                    nonce.as_ptr(),
                    NONCE_LEN,
                    input,
                    len,
                    std::ptr::null(),
                    0,
                    aad.as_ptr(),
                    aad.len(),
                )
            };
            if ok == 1 && tag_len == TAG_LEN {
                Ok(())
            } else {
                Err(Error::ApiMisuse("plaintext exceeds the AES-GCM limit"))
            }
        }

        /// # Safety
        /// `input` is readable for `len` bytes; `out` writable for `len` bytes
        /// (it may equal `input`).
        unsafe fn open_raw(
            &self,
            nonce: &[u8; NONCE_LEN],
            aad: &[u8],
            input: *const u8,
            len: usize,
            tag: &[u8],
            out: *mut u8,
        ) -> Result<()> {
            // SAFETY: guaranteed by the caller; AWS-LC zeroes `out` on failure.
            let ok = unsafe {
                sys::EVP_AEAD_CTX_open_gather(
                    self.0.as_ptr(),
                    out,
                    nonce.as_ptr(),
                    NONCE_LEN,
                    input,
                    len,
                    tag.as_ptr(),
                    tag.len(),
                    aad.as_ptr(),
                    aad.len(),
                )
            };
            if ok == 1 {
                Ok(())
            } else {
                Err(Error::Authentication)
            }
        }

        pub(crate) fn seal_to_uninit(
            &self,
            nonce: &[u8; NONCE_LEN],
            aad: &[u8],
            pt: &[u8],
            out: &mut [MaybeUninit<u8>],
        ) -> Result<()> {
            let n = pt.len();
            // Checked here too: this type is also used directly (GCM-SIV).
            if out.len() != n + TAG_LEN {
                return Err(Error::ApiMisuse("output buffer has the wrong length"));
            }
            let dst = out.as_mut_ptr().cast::<u8>();
            // SAFETY: `out` is n + TAG_LEN writable bytes; AWS-LC only writes them.
            unsafe { self.seal_raw(nonce, aad, pt.as_ptr(), n, dst, dst.add(n)) }
        }

        pub(crate) fn open_to_uninit(
            &self,
            nonce: &[u8; NONCE_LEN],
            aad: &[u8],
            input: &[u8],
            out: &mut [MaybeUninit<u8>],
        ) -> Result<()> {
            if input.len() != out.len() + TAG_LEN {
                return Err(Error::ApiMisuse("output buffer has the wrong length"));
            }
            let (ct, tag) = input.split_at(out.len());
            let dst = out.as_mut_ptr().cast::<u8>();
            // SAFETY: `out` is ct.len() writable bytes; AWS-LC only writes them.
            unsafe { self.open_raw(nonce, aad, ct.as_ptr(), ct.len(), tag, dst) }
        }

        pub(crate) fn seal_in_place(
            &self,
            nonce: &[u8; NONCE_LEN],
            aad: &[u8],
            in_out: &mut [u8],
        ) -> Result<[u8; TAG_LEN]> {
            let mut tag = [0u8; TAG_LEN];
            let p = in_out.as_mut_ptr();
            // SAFETY: exact aliasing of input and output is allowed.
            unsafe { self.seal_raw(nonce, aad, p, in_out.len(), p, tag.as_mut_ptr())? };
            Ok(tag)
        }

        pub(crate) fn open_in_place(
            &self,
            nonce: &[u8; NONCE_LEN],
            aad: &[u8],
            in_out: &mut [u8],
            tag: &[u8; TAG_LEN],
        ) -> Result<()> {
            let p = in_out.as_mut_ptr();
            // SAFETY: exact aliasing of input and output is allowed.
            unsafe { self.open_raw(nonce, aad, p, in_out.len(), tag, p) }
        }
    }

    impl Drop for Key {
        fn drop(&mut self) {
            // SAFETY: allocated by EVP_AEAD_CTX_new and freed once. AWS-LC's
            // allocator cleanses memory (the key schedule) before freeing it.
            unsafe { sys::EVP_AEAD_CTX_free(self.0.as_ptr()) }
        }
    }
}

/// RustCrypto's AES-GCM: the wasm32 backend. Native builds compile it too
/// for tests and with the `both-backends` feature (the differential fuzz
/// target), so its bytes are checked against AWS-LC's.
#[cfg(any(target_arch = "wasm32", test, feature = "both-backends"))]
mod rustcrypto {
    use super::*;
    use aes_gcm::aead::{AeadInPlace, KeyInit};
    use aes_gcm::{Aes256Gcm, Nonce, Tag};

    pub(super) struct Key(Aes256Gcm);

    // The AES round keys are wiped on drop only with `aes/zeroize` (and
    // polyval's GHASH key with `polyval/zeroize`; core/Cargo.toml turns both
    // on): aes-gcm's own `zeroize` feature does not.
    const _: fn() = || {
        fn wiped_on_drop<T: zeroize::ZeroizeOnDrop>() {}
        wiped_on_drop::<aes::Aes256>();
    };

    /// Zero-fills `out` so RustCrypto (which works in place) can take it.
    fn zeroed(out: &mut [MaybeUninit<u8>]) -> &mut [u8] {
        out.fill(MaybeUninit::new(0));
        // SAFETY: every byte was just initialised.
        unsafe { &mut *(out as *mut [MaybeUninit<u8>] as *mut [u8]) }
    }

    impl Key {
        pub(super) fn new(key: &[u8; KEY_LEN]) -> Self {
            Key(Aes256Gcm::new(key.into()))
        }

        pub(super) fn seal_to(
            &self,
            nonce: &[u8; NONCE_LEN],
            aad: &[u8],
            pt: &[u8],
            out: &mut [u8],
        ) -> Result<()> {
            let (ct, tag_out) = out.split_at_mut(pt.len());
            ct.copy_from_slice(pt);
            let tag = self.seal_in_place(nonce, aad, ct)?;
            tag_out.copy_from_slice(&tag);
            Ok(())
        }

        pub(super) fn seal_to_uninit(
            &self,
            nonce: &[u8; NONCE_LEN],
            aad: &[u8],
            pt: &[u8],
            out: &mut [MaybeUninit<u8>],
        ) -> Result<()> {
            let out = zeroed(out);
            self.seal_to(nonce, aad, pt, out)
        }

        pub(super) fn open_to_uninit(
            &self,
            nonce: &[u8; NONCE_LEN],
            aad: &[u8],
            input: &[u8],
            out: &mut [MaybeUninit<u8>],
        ) -> Result<()> {
            let out = zeroed(out);
            self.open_to(nonce, aad, input, out)
        }

        pub(super) fn open_to(
            &self,
            nonce: &[u8; NONCE_LEN],
            aad: &[u8],
            input: &[u8],
            out: &mut [u8],
        ) -> Result<()> {
            let (ct, tag) = input.split_at(out.len());
            let mut t = [0u8; TAG_LEN];
            t.copy_from_slice(tag);
            out.copy_from_slice(ct);
            self.open_in_place(nonce, aad, out, &t)
        }

        pub(super) fn seal_in_place(
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

        pub(super) fn open_in_place(
            &self,
            nonce: &[u8; NONCE_LEN],
            aad: &[u8],
            in_out: &mut [u8],
            tag: &[u8; TAG_LEN],
        ) -> Result<()> {
            self.0
                .decrypt_in_place_detached(
                    Nonce::from_slice(nonce),
                    aad,
                    in_out,
                    Tag::from_slice(tag),
                )
                .map_err(|_| Error::Authentication)
        }
    }
}

/// Seals `plaintext` through both backends and every entry point (into
/// uninitialised output and in place), opens it again the same ways, then
/// opens it with one byte changed (`flip` picks which). Returns
/// `ciphertext || tag`, or a description of the first disagreement.
#[cfg(all(not(target_arch = "wasm32"), any(test, feature = "both-backends")))]
pub(crate) fn compare_backends(
    key: &[u8; KEY_LEN],
    nonce: &[u8; NONCE_LEN],
    aad: &[u8],
    plaintext: &[u8],
    flip: usize,
) -> std::result::Result<Vec<u8>, String> {
    let (a, r) = (awslc::Key::new(key), rustcrypto::Key::new(key));
    let n = plaintext.len() + TAG_LEN;
    let sealed = filled_vec(n, |o| a.seal_to_uninit(nonce, aad, plaintext, o))
        .map_err(|e| format!("AWS-LC seal failed: {e}"))?;
    let theirs = filled_vec(n, |o| r.seal_to_uninit(nonce, aad, plaintext, o))
        .map_err(|e| format!("RustCrypto seal failed: {e}"))?;
    if sealed != theirs {
        return Err("seal_to_uninit differs".into());
    }
    // Both keys have the same inherent methods; a macro runs the checks on each.
    macro_rules! check {
        ($key:expr, $name:literal) => {{
            let key = &$key;
            let mut in_place = plaintext.to_vec();
            let tag = key
                .seal_in_place(nonce, aad, &mut in_place)
                .map_err(|e| format!("{} seal_in_place: {e}", $name))?;
            in_place.extend_from_slice(&tag);
            if in_place != sealed {
                return Err(format!("{} seal_in_place differs", $name));
            }
            let opened = filled_vec(plaintext.len(), |o| {
                key.open_to_uninit(nonce, aad, &sealed, o)
            })
            .map_err(|e| format!("{} open_to_uninit: {e}", $name))?;
            let (ct, tag) = sealed.split_at(plaintext.len());
            let mut buf = ct.to_vec();
            key.open_in_place(nonce, aad, &mut buf, tag.try_into().expect("TAG_LEN bytes"))
                .map_err(|e| format!("{} open_in_place: {e}", $name))?;
            if opened != plaintext || buf != plaintext {
                return Err(format!("{} opened other bytes", $name));
            }
            let mut bad = sealed.clone();
            bad[flip % n] ^= 1 << (flip % 8);
            let mut out = vec![0u8; plaintext.len()];
            // SAFETY: open_to_uninit stores only initialised bytes.
            let r1 = key.open_to_uninit(nonce, aad, &bad, unsafe { as_uninit(&mut out) });
            let (ct, tag) = bad.split_at(plaintext.len());
            let mut buf = ct.to_vec();
            let r2 =
                key.open_in_place(nonce, aad, &mut buf, tag.try_into().expect("TAG_LEN bytes"));
            if r1 != Err(Error::Authentication) || r2 != Err(Error::Authentication) {
                return Err(format!("{} opened a changed message: {r1:?} {r2:?}", $name));
            }
        }};
    }
    check!(a, "AWS-LC");
    check!(r, "RustCrypto");
    Ok(sealed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use aes_gcm::aead::{AeadInPlace, KeyInit};

    /// The native backend and RustCrypto (the wasm32 backend) agree byte for byte.
    #[test]
    fn backend_matches_rustcrypto() {
        for len in [0usize, 1, 15, 16, 17, 64, 1000, 4096, 100_000] {
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

            // Appending forms agree with in-place, after existing bytes.
            let mut app = b"header".to_vec();
            k.seal_append(&nonce, &aad, &pt, &mut app).unwrap();
            assert_eq!(&app[..6], b"header");
            assert_eq!(&app[6..6 + len], &ours[..]);
            assert_eq!(&app[6 + len..], &tag[..]);
            let mut back = b"xy".to_vec();
            k.open_append(&nonce, &aad, &app[6..], &mut back).unwrap();
            assert_eq!(&back[2..], &pt[..]);

            let mut bad_ct = app[6..].to_vec();
            bad_ct[0] ^= 1;
            let mut back = Vec::with_capacity(len + 8);
            back.extend_from_slice(b"kept");
            assert_eq!(
                k.open_append(&nonce, &aad, &bad_ct, &mut back),
                Err(Error::Authentication)
            );
            assert_eq!(back, b"kept", "failed open appends nothing");

            let mut buf = ours.clone();
            buf.extend_from_slice(&tag);
            k.open_in_place(&nonce, &aad, &mut buf).unwrap();
            assert_eq!(buf, pt);

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

    proptest::proptest! {
        /// dekbox's two AES-GCM backends (AWS-LC natively, RustCrypto on
        /// wasm32) write the same bytes and refuse the same changes.
        #[test]
        fn backends_agree(
            key in proptest::prelude::any::<[u8; 32]>(),
            nonce in proptest::prelude::any::<[u8; 12]>(),
            aad in proptest::collection::vec(0u8..=255, 0..80),
            pt in proptest::collection::vec(0u8..=255, 0..3000),
            flip in 0usize..100_000,
        ) {
            let sealed = compare_backends(&key, &nonce, &aad, &pt, flip);
            proptest::prop_assert!(sealed.is_ok(), "{:?}", sealed.err());
        }
    }

    #[test]
    fn failed_open_leaves_no_plaintext_in_spare_capacity() {
        let k = AeadKey::new(&[1u8; 32]);
        let pt = vec![0x41u8; 4096];
        let mut sealed = Vec::new();
        k.seal_append(&[0; 12], b"", &pt, &mut sealed).unwrap();
        let last = sealed.len() - 1;
        sealed[last] ^= 1;
        let mut out = Vec::with_capacity(8192);
        assert!(k.open_append(&[0; 12], b"", &sealed, &mut out).is_err());
        // Inspect the spare capacity through a safe copy of the allocation.
        let spare: Vec<u8> = out.spare_capacity_mut()[..4096]
            .iter()
            .map(|b| unsafe { b.assume_init() })
            .collect();
        assert!(!spare.contains(&0x41), "plaintext left in spare capacity");
    }

    #[test]
    fn short_input_is_an_authentication_error() {
        let k = AeadKey::new(&[0u8; 32]);
        let mut buf = vec![0u8; TAG_LEN - 1];
        assert_eq!(
            k.open_in_place(&[0; 12], b"", &mut buf),
            Err(Error::Authentication)
        );
        let mut out = Vec::new();
        assert_eq!(
            k.open_append(&[0; 12], b"", &[0u8; 15], &mut out),
            Err(Error::Authentication)
        );
    }
}
