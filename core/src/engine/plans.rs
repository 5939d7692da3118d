//! Sealing into and opening into a caller's buffer on a cached data key:
//! the fast path bindings use.

use super::*;

/// A reserved message on a cached data key; see [`Engine::plan_encrypt`].
pub struct SealPlan<'a> {
    pub(super) engine: &'a Engine,
    pub(super) sealer: Arc<Sealer>,
    pub(super) plaintext_len: usize,
}

impl SealPlan<'_> {
    /// The exact length of the binary message.
    pub fn sealed_len(&self) -> usize {
        self.sealer
            .parts(&[0; NONCE_LEN])
            .sealed_len(self.plaintext_len)
    }

    /// Seals into `out`, which must be exactly [`sealed_len`](Self::sealed_len) bytes.
    pub fn seal_into(
        &self,
        plaintext: &[u8],
        context: &EncryptionContext,
        aad: &[u8],
        out: &mut [u8],
    ) -> Result<()> {
        // SAFETY: the sealer writes only initialised bytes into `out`.
        let out = unsafe { crate::crypto::aead::as_uninit(out) };
        self.seal_into_uninit(plaintext, context, aad, out)
    }
}

impl SealPlan<'_> {
    /// [`seal_into`](Self::seal_into) for memory the caller has not
    /// initialised (a fresh `bytes` or `Buffer`): on success every byte of
    /// `out` is written.
    pub fn seal_into_uninit(
        &self,
        plaintext: &[u8],
        context: &EncryptionContext,
        aad: &[u8],
        out: &mut [MaybeUninit<u8>],
    ) -> Result<()> {
        if plaintext.len() != self.plaintext_len {
            return Err(Error::ApiMisuse("plaintext does not match the plan"));
        }
        let mut nonce = [0u8; NONCE_LEN];
        self.engine.rng.fill(&mut nonce)?;
        let parts = self.sealer.parts(&nonce);
        envelope::seal_into(&parts, context.canonical_bytes(), aad, plaintext, out)
    }
}

impl OpenPlan<'_> {
    /// [`open_into`](Self::open_into) for memory the caller has not
    /// initialised: on success every byte is the plaintext, on failure zero.
    pub fn open_into_uninit(
        &self,
        context: &EncryptionContext,
        aad: &[u8],
        out: &mut [MaybeUninit<u8>],
    ) -> Result<()> {
        self.opener.with_derived(self.msg.salt, |derived| {
            envelope::open_into(derived, &self.msg, context.canonical_bytes(), aad, out)
        })
    }
}

/// A binary message whose data key is cached, parsed once; see
/// [`Engine::plan_decrypt`].
pub struct OpenPlan<'a> {
    pub(super) engine: &'a Engine,
    pub(super) opener: Arc<Opener>,
    pub(super) msg: Message<'a>,
}

impl OpenPlan<'_> {
    /// Opens the message into a new `Vec` (written in place, no zero-fill).
    pub fn open_to_vec(&self, context: &EncryptionContext, aad: &[u8]) -> Result<Vec<u8>> {
        self.engine
            .open_message(&self.opener, &self.msg, context, aad)
    }

    /// The plaintext length.
    pub fn plaintext_len(&self) -> usize {
        self.msg.plaintext_len()
    }

    /// Opens the message into `out`, which must be exactly
    /// [`plaintext_len`](Self::plaintext_len) bytes. On failure `out` is
    /// zeroed.
    pub fn open_into(&self, context: &EncryptionContext, aad: &[u8], out: &mut [u8]) -> Result<()> {
        // SAFETY: the opener writes only initialised bytes (plaintext, or
        // zeros on failure) into `out`.
        let out = unsafe { crate::crypto::aead::as_uninit(out) };
        self.open_into_uninit(context, aad, out)
    }
}
