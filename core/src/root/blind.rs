//! Blind indexes: a keyed, truncated digest of a normalized value, stored in
//! a side column so that equality search works over an encrypted column
//! (the pattern of the blind_index gem).
//!
//! `index = truncate_bits(HMAC-SHA-256(K, normalize(value)))`, or with
//! [`Slowness::Argon2id`], `truncate_bits(Argon2id(password = normalize(value),
//! salt = S, secret = K))`, where `K || S` are derived from the root for the
//! context and column (docs/FORMAT.md). Truncation keeps the leading `bits`
//! and zeroes the rest of the last byte.
//!
//! What it leaks: equality of the truncated index within one (root,
//! context, column). With few bits, unrelated values collide by design (a
//! lookup then filters by decrypting); with many, anyone holding the column
//! can count equal values. Low-entropy values (a birth year, a 4-digit PIN)
//! are guessable by whoever obtains the key, so they take the slow variant.

use super::value::ColumnKeys;
use crate::{Error, Result};
use hmac::Mac;
use zeroize::Zeroizing;

/// The most index bits (a whole HMAC-SHA-256).
pub const MAX_BITS: u16 = 256;
/// The most Argon2id memory: 1 GiB (in KiB).
pub const MAX_M_COST: u32 = 1 << 20;
/// The most Argon2id passes.
pub const MAX_T_COST: u32 = 64;

/// How a value is normalized before it is indexed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Normalize {
    /// Remove leading and trailing Unicode whitespace.
    pub trim: bool,
    /// Compare case-insensitively: Unicode lowercase (`str::to_lowercase`;
    /// not full case folding, so `ß` stays `ß`, and no Unicode normalization:
    /// a composed and a decomposed `é` index differently).
    pub casefold: bool,
}

/// Passes of [`Slowness::SLOW`] (what `slow: true` means in every binding).
pub const SLOW_T_COST: u32 = 3;
/// Memory of [`Slowness::SLOW`], in KiB.
pub const SLOW_M_COST: u32 = 4096;

/// Fast (HMAC) or slow (Argon2id) indexing.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Slowness {
    /// HMAC-SHA-256: for values with enough entropy (emails, phone numbers).
    #[default]
    Hmac,
    /// Argon2id (v1.3, one lane) with `t_cost` passes over `m_cost` KiB: for
    /// low-entropy values.
    Argon2id {
        /// Passes.
        t_cost: u32,
        /// Memory in KiB.
        m_cost: u32,
    },
}

impl Slowness {
    /// The blind_index gem's `slow` setting: Argon2id, 3 passes, 4 MiB.
    pub const SLOW: Slowness = Slowness::Argon2id {
        t_cost: SLOW_T_COST,
        m_cost: SLOW_M_COST,
    };
}

/// Everything that shapes an index besides the key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IndexOptions {
    /// Index length in bits, 1 ..= 256.
    pub bits: u16,
    /// Normalization.
    pub normalize: Normalize,
    /// HMAC or Argon2id.
    pub slowness: Slowness,
}

impl Default for IndexOptions {
    fn default() -> Self {
        Self {
            bits: 256,
            normalize: Normalize::default(),
            slowness: Slowness::Hmac,
        }
    }
}

/// Applies `normalize` to `value` (UTF-8 is required when any normalization
/// is asked for).
pub fn normalized(value: &[u8], normalize: Normalize) -> Result<Zeroizing<Vec<u8>>> {
    if normalize == Normalize::default() {
        return Ok(Zeroizing::new(value.to_vec()));
    }
    let s = std::str::from_utf8(value)
        .map_err(|_| Error::ApiMisuse("normalizing a blind index needs UTF-8 text"))?;
    let s = if normalize.trim { s.trim() } else { s };
    Ok(Zeroizing::new(if normalize.casefold {
        s.to_lowercase().into_bytes()
    } else {
        s.as_bytes().to_vec()
    }))
}

/// The index of `value` (`ceil(bits / 8)` bytes).
pub(crate) fn compute(keys: &ColumnKeys, value: &[u8], options: &IndexOptions) -> Result<Vec<u8>> {
    if options.bits == 0 || options.bits > MAX_BITS {
        return Err(Error::ApiMisuse("a blind index has 1 to 256 bits"));
    }
    let input = normalized(value, options.normalize)?;
    let len = usize::from(options.bits).div_ceil(8);
    let mut out = match options.slowness {
        Slowness::Hmac => {
            let mut mac = keys.mac()?;
            mac.update(&input);
            mac.finalize().into_bytes()[..len].to_vec()
        }
        Slowness::Argon2id { t_cost, m_cost } => {
            if m_cost > MAX_M_COST || t_cost > MAX_T_COST {
                return Err(Error::ApiMisuse(
                    "Argon2id costs too high (at most 64 passes over 1 GiB)",
                ));
            }
            let params =
                argon2::Params::new(m_cost, t_cost, 1, Some(len.max(4))).map_err(|_| {
                    Error::ApiMisuse("Argon2id parameters out of range (m_cost >= 8, t_cost >= 1)")
                })?;
            let argon = argon2::Argon2::new_with_secret(
                &keys.mac[..],
                argon2::Algorithm::Argon2id,
                argon2::Version::V0x13,
                params,
            )
            .map_err(|_| Error::ApiMisuse("Argon2id secret rejected"))?;
            let mut out = vec![0u8; len.max(4)];
            argon
                .hash_password_into(&input, &keys.argon_salt, &mut out)
                .map_err(|_| Error::ApiMisuse("Argon2id failed (value too long?)"))?;
            out.truncate(len);
            out
        }
    };
    let spare = len * 8 - usize::from(options.bits);
    if let Some(last) = out.last_mut() {
        *last &= 0xFFu8 << spare;
    }
    Ok(out)
}
