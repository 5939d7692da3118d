//! Root-keyed values: compact (randomized) and deterministic.
//!
//! Both name their root by label instead of carrying a wrapped data key, and
//! seal with AES-256-GCM-SIV under a key derived from (root, context,
//! column): a 17-byte email is 97 text characters instead of 316. Layout
//! (docs/FORMAT.md, "Root-keyed values"):
//!
//! ```text
//! "DKB" 02 | mode (01 compact, 02 deterministic) | u8 n | label (n)
//!          | commitment (16) | nonce (12) | ciphertext || tag (16)
//! commitment = AES-256(commitment key, nonce || 00000000)
//! text: "dekbox:c1:" || base64url(bytes from the mode byte on)
//! ```

use super::{Purpose, RootKey};
use crate::context::EncryptionContext;
use crate::crypto::siv::{NONCE_LEN, SivKey, TAG_LEN};
use crate::error::{Field, Malformed};
use crate::format::MAGIC;
use crate::random::SecureRandom;
use crate::{Error, Result};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use zeroize::Zeroizing;

/// The version byte of root-keyed values.
pub const VERSION_ROOT: u8 = 0x02;
/// The text prefix of root-keyed values.
pub const TEXT_PREFIX: &str = "dekbox:c1:";
/// Bytes of the key commitment stored in each value.
pub const COMMITMENT_LEN: usize = 16;
/// The smallest value: 1-byte label, empty plaintext.
pub const MIN_LEN: usize = 3 + 1 + 1 + 1 + 1 + COMMITMENT_LEN + NONCE_LEN + TAG_LEN;

/// How a root-keyed value was sealed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// A random nonce: equal plaintexts give unrelated values.
    Compact,
    /// A nonce from an HMAC of the plaintext and aad: equal (plaintext,
    /// context, column, aad) give equal bytes, so a database can look them up.
    Deterministic,
}

impl Mode {
    fn byte(self) -> u8 {
        match self {
            Mode::Compact => 0x01,
            Mode::Deterministic => 0x02,
        }
    }

    fn from_byte(b: u8) -> Result<Self, Malformed> {
        match b {
            0x01 => Ok(Mode::Compact),
            0x02 => Ok(Mode::Deterministic),
            other => Err(Malformed::UnsupportedSuite(other)),
        }
    }

    fn purpose(self) -> Purpose {
        match self {
            Mode::Compact => Purpose::Compact,
            Mode::Deterministic => Purpose::Deterministic,
        }
    }
}

/// Keys derived for one (root, purpose, context, column).
pub(crate) struct ColumnKeys {
    /// AES-256-GCM-SIV (compact and deterministic).
    siv: Option<SivKey>,
    /// AES-256 under the derived commitment key: a value's commitment is
    /// the encryption of its nonce (per value, so values of one context
    /// cannot be grouped by it). Its round keys are wiped on drop.
    commit: Option<aes::Aes256>,
    /// HMAC-SHA-256 key (the deterministic nonce, the blind index), or the
    /// key handed to another cipher (`external`).
    pub(crate) mac: Zeroizing<[u8; 32]>,
    /// HMAC-SHA-256 keyed with `mac`, cloned per use (saves re-keying):
    /// deterministic and blind-index keys only. Wiped on drop.
    mac_state: Option<WipedMac>,
    /// Argon2id salt of the slow blind index.
    pub(crate) argon_salt: [u8; 16],
}

impl ColumnKeys {
    /// Compact: enc (32) || commitment key (32). Deterministic: enc ||
    /// commitment key || nonce key (32). Blind index: MAC key (32) || Argon2id salt (16).
    pub(crate) fn derive(
        root: &RootKey,
        purpose: Purpose,
        context: &EncryptionContext,
        column: &str,
    ) -> Result<Self> {
        let mut okm = Zeroizing::new([0u8; 96]);
        let len = match purpose {
            Purpose::Compact => 64,
            Purpose::Deterministic => 96,
            Purpose::BlindIndex => 48,
            Purpose::External => 32,
        };
        root.derive(purpose, context, column, &mut okm[..len])?;
        let mut keys = ColumnKeys {
            siv: None,
            commit: None,
            mac: Zeroizing::new([0; 32]),
            mac_state: None,
            argon_salt: [0; 16],
        };
        match purpose {
            Purpose::BlindIndex => {
                keys.mac.copy_from_slice(&okm[..32]);
                keys.argon_salt.copy_from_slice(&okm[32..48]);
            }
            Purpose::External => keys.mac.copy_from_slice(&okm[..32]),
            Purpose::Compact | Purpose::Deterministic => {
                let mut enc = Zeroizing::new([0u8; 32]);
                enc.copy_from_slice(&okm[..32]);
                keys.siv = Some(SivKey::new(&enc));
                let commit_key: &[u8; 32] = (&okm[32..64])
                    .try_into()
                    .map_err(|_| Error::ApiMisuse("commitment key length"))?;
                keys.commit = Some(<aes::Aes256 as aes::cipher::KeyInit>::new(
                    commit_key.into(),
                ));
                if purpose == Purpose::Deterministic {
                    keys.mac.copy_from_slice(&okm[64..96]);
                }
            }
        }
        if matches!(purpose, Purpose::Deterministic | Purpose::BlindIndex) {
            #[allow(clippy::expect_used)]
            let state = <Hmac<Sha256> as Mac>::new_from_slice(&keys.mac[..])
                .expect("HMAC takes any key length");
            keys.mac_state = Some(WipedMac(state));
        }
        Ok(keys)
    }

    /// A clone of the keyed HMAC state.
    pub(crate) fn mac(&self) -> Result<Hmac<Sha256>> {
        self.mac_state
            .as_ref()
            .map(|m| m.0.clone())
            .ok_or(Error::ApiMisuse("these keys have no MAC"))
    }

    /// `AES-256(commitment key, nonce || 00000000)`.
    fn commitment(&self, nonce: &[u8; NONCE_LEN]) -> Result<[u8; COMMITMENT_LEN]> {
        use aes::cipher::BlockEncrypt;
        let aes = self
            .commit
            .as_ref()
            .ok_or(Error::ApiMisuse("blind-index keys do not seal values"))?;
        let mut block = [0u8; COMMITMENT_LEN];
        block[..NONCE_LEN].copy_from_slice(nonce);
        let mut b = aes::Block::from(block);
        aes.encrypt_block(&mut b);
        Ok(b.into())
    }

    fn siv(&self) -> Result<&SivKey> {
        self.siv
            .as_ref()
            .ok_or(Error::ApiMisuse("blind-index keys do not seal values"))
    }
}

/// A keyed HMAC-SHA-256 state (its inner and outer hash states are as good
/// as the key), overwritten with zeros when dropped.
struct WipedMac(Hmac<Sha256>);

// The state is plain data (no pointers, nothing to free): zero bytes are a
// valid value and dropping it afterwards runs no code.
const _: () = assert!(!std::mem::needs_drop::<Hmac<Sha256>>());

impl Drop for WipedMac {
    fn drop(&mut self) {
        // SAFETY: `self.0` is a live value of plain data, `size_of` bytes
        // long; all-zero bytes are a valid `Hmac<Sha256>` (arrays and
        // counters), and nothing reads it after this.
        let bytes = unsafe {
            std::slice::from_raw_parts_mut(
                (&mut self.0 as *mut Hmac<Sha256>).cast::<u8>(),
                std::mem::size_of::<Hmac<Sha256>>(),
            )
        };
        zeroize::Zeroize::zeroize(bytes);
    }
}

/// A parsed root-keyed value (binary form).
#[derive(Clone, Copy, Debug)]
pub struct RootValue<'a> {
    /// Compact or deterministic.
    pub mode: Mode,
    /// The root's label.
    pub label: &'a str,
    /// The stored commitment.
    pub commitment: &'a [u8; COMMITMENT_LEN],
    /// The AES-GCM-SIV nonce.
    pub nonce: &'a [u8; NONCE_LEN],
    /// Bytes `0..header_len`: the associated data's first part.
    pub header: &'a [u8],
    /// Ciphertext and tag.
    pub body: &'a [u8],
}

impl RootValue<'_> {
    /// The plaintext's length.
    pub fn plaintext_len(&self) -> usize {
        self.body.len() - TAG_LEN
    }
}

/// Whether `input` looks like a root-keyed value (binary or text form).
pub fn is_root_value(input: &[u8]) -> bool {
    input.starts_with(&[MAGIC[0], MAGIC[1], MAGIC[2], VERSION_ROOT])
        || input.trim_ascii_start().starts_with(TEXT_PREFIX.as_bytes())
}

/// The binary form of a root-keyed value in either form, size-checked first.
pub fn binary_form(input: &[u8], max_plaintext: usize) -> Result<std::borrow::Cow<'_, [u8]>> {
    if input.starts_with(&MAGIC) {
        return Ok(std::borrow::Cow::Borrowed(input));
    }
    let t = input.trim_ascii();
    let Some(b64) = t.strip_prefix(TEXT_PREFIX.as_bytes()) else {
        if t.starts_with(crate::format::TEXT_PREFIX.as_bytes()) {
            return Err(Malformed::NotRootKeyed.into());
        }
        return Err(Malformed::NotDekbox.into());
    };
    let max_bin = max_plaintext.saturating_add(MIN_LEN + super::MAX_ROOT_LABEL);
    let max_text = max_bin.saturating_mul(4) / 3 + 4;
    if b64.len() > max_text {
        return Err(Malformed::TooLarge {
            len: b64.len(),
            max: max_text,
        }
        .into());
    }
    let rest = URL_SAFE_NO_PAD
        .decode(b64)
        .map_err(|_| Malformed::Base64(Field::Text))?;
    let mut bin = Vec::with_capacity(4 + rest.len());
    bin.extend_from_slice(&MAGIC);
    bin.push(VERSION_ROOT);
    bin.extend_from_slice(&rest);
    Ok(std::borrow::Cow::Owned(bin))
}

/// Parses a binary root-keyed value. Allocates nothing; every length is
/// checked.
pub fn parse(input: &[u8], max_plaintext: usize) -> Result<RootValue<'_>, Malformed> {
    let Some(rest) = input.strip_prefix(&MAGIC) else {
        return Err(Malformed::NotDekbox);
    };
    let (&version, rest) = rest
        .split_first()
        .ok_or(Malformed::Truncated(Field::Version))?;
    if version == crate::format::VERSION_1 {
        return Err(Malformed::NotRootKeyed);
    }
    if version != VERSION_ROOT {
        return Err(Malformed::UnsupportedVersion(version));
    }
    let (&mode, rest) = rest
        .split_first()
        .ok_or(Malformed::Truncated(Field::Suite))?;
    let mode = Mode::from_byte(mode)?;
    let (&n, rest) = rest
        .split_first()
        .ok_or(Malformed::Truncated(Field::KeyRef))?;
    let n = usize::from(n);
    if n == 0 || n > super::MAX_ROOT_LABEL {
        return Err(Malformed::LengthOutOfRange {
            field: Field::KeyRef,
            len: n,
            max: super::MAX_ROOT_LABEL,
        });
    }
    if rest.len() < n {
        return Err(Malformed::Truncated(Field::KeyRef));
    }
    let (label, rest) = rest.split_at(n);
    if !label
        .iter()
        .all(|b| b.is_ascii_alphanumeric() || *b == b'_' || *b == b'-')
    {
        return Err(Malformed::ControlCharacter(Field::KeyRef));
    }
    let label = std::str::from_utf8(label).map_err(|_| Malformed::InvalidUtf8(Field::KeyRef))?;
    let (commitment, rest) = rest
        .split_first_chunk::<COMMITMENT_LEN>()
        .ok_or(Malformed::Truncated(Field::Commitment))?;
    let (nonce, body) = rest
        .split_first_chunk::<NONCE_LEN>()
        .ok_or(Malformed::Truncated(Field::Nonce))?;
    if body.len() < TAG_LEN {
        return Err(Malformed::Truncated(Field::Body));
    }
    if body.len() - TAG_LEN > max_plaintext {
        return Err(Malformed::TooLarge {
            len: body.len() - TAG_LEN,
            max: max_plaintext,
        });
    }
    let header_len = input.len() - body.len();
    Ok(RootValue {
        mode,
        label,
        commitment,
        nonce,
        header: &input[..header_len],
        body,
    })
}

fn with_ad<R>(header: &[u8], aad: &[u8], f: impl FnOnce(&[u8]) -> R) -> R {
    let mut ad = Vec::with_capacity(header.len() + 8 + aad.len());
    ad.extend_from_slice(header);
    ad.extend_from_slice(&(aad.len() as u64).to_be_bytes());
    ad.extend_from_slice(aad);
    f(&ad)
}

/// Seals `plaintext` under `root` for (context, column, aad), in binary or
/// text form. Compact values take a random nonce from `rng`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn seal(
    keys: &ColumnKeys,
    label: &str,
    mode: Mode,
    plaintext: &[u8],
    aad: &[u8],
    text: bool,
    rng: &dyn SecureRandom,
) -> Result<Vec<u8>> {
    let mut nonce = [0u8; NONCE_LEN];
    match mode {
        Mode::Compact => rng.fill(&mut nonce)?,
        Mode::Deterministic => {
            let mut mac = keys.mac()?;
            mac.update(&(aad.len() as u64).to_be_bytes());
            mac.update(aad);
            mac.update(plaintext);
            nonce.copy_from_slice(&mac.finalize().into_bytes()[..NONCE_LEN]);
        }
    }
    let mut out = Vec::with_capacity(
        6 + label.len() + COMMITMENT_LEN + NONCE_LEN + plaintext.len() + TAG_LEN,
    );
    out.extend_from_slice(&MAGIC);
    out.push(VERSION_ROOT);
    out.push(mode.byte());
    out.push(label.len() as u8);
    out.extend_from_slice(label.as_bytes());
    out.extend_from_slice(&keys.commitment(&nonce)?);
    out.extend_from_slice(&nonce);
    let mut ad = Vec::with_capacity(out.len() + 8 + aad.len());
    ad.extend_from_slice(&out);
    ad.extend_from_slice(&(aad.len() as u64).to_be_bytes());
    ad.extend_from_slice(aad);
    keys.siv()?.seal_append(&nonce, &ad, plaintext, &mut out)?;
    if text {
        let mut t = Vec::with_capacity(TEXT_PREFIX.len() + (out.len() - 4).div_ceil(3) * 4);
        t.extend_from_slice(TEXT_PREFIX.as_bytes());
        t.extend_from_slice(URL_SAFE_NO_PAD.encode(&out[4..]).as_bytes());
        return Ok(t);
    }
    Ok(out)
}

/// Opens a parsed value with the keys derived for its mode: the commitment
/// is checked (in constant time) before the AEAD.
pub(crate) fn open(keys: &ColumnKeys, value: &RootValue<'_>, aad: &[u8]) -> Result<Vec<u8>> {
    let expected = keys.commitment(value.nonce)?;
    if !constant_time_eq::constant_time_eq(&expected, value.commitment) {
        return Err(Error::Authentication);
    }
    with_ad(value.header, aad, |ad| {
        keys.siv()?.open(value.nonce, ad, value.body)
    })
}

/// The purpose whose keys open `value`.
pub(crate) fn purpose_of(value: &RootValue<'_>) -> Purpose {
    value.mode.purpose()
}

/// The purpose of a mode.
pub(crate) fn purpose_for(mode: Mode) -> Purpose {
    mode.purpose()
}
