//! Compatibility forms, for migrating data written by other tools.
//!
//! - The JSON envelope `{"encryptedDek":"<base64>","cipherText":"<base64>"}`
//!   that hand-written helpers commonly produce: `encryptedDek` is the
//!   provider's wrapped data key, `cipherText` is `nonce(12) || ciphertext ||
//!   tag(16)` of AES-256-GCM under the data key itself, with the caller's aad
//!   (usually empty) as associated data. It has no key commitment; dekbox reads
//!   it, and writes it only when asked to, for systems that still read it.
//! - kms_encrypted's `encrypted_kms_key` values, `v<N>:<base64 wrapped key>`.

use crate::crypto::aead::{NONCE_LEN, TAG_LEN};
use crate::error::{Field, Malformed};
use crate::format::{MAX_WRAPPED_DEK_LEN, b64_std};
use base64::Engine as _;
use serde::{Deserialize, Serialize};

#[derive(Deserialize, Serialize)]
struct Envelope<'a> {
    #[serde(rename = "encryptedDek", borrow)]
    encrypted_dek: std::borrow::Cow<'a, str>,
    #[serde(rename = "cipherText", borrow)]
    cipher_text: std::borrow::Cow<'a, str>,
}

/// A parsed JSON envelope.
#[derive(Clone, PartialEq, Eq)]
pub struct JsonEnvelope {
    /// The wrapped data key.
    pub wrapped_dek: Vec<u8>,
    /// The 12-byte GCM nonce.
    pub nonce: [u8; NONCE_LEN],
    /// Ciphertext followed by the 16-byte tag.
    pub ciphertext_and_tag: Vec<u8>,
}

impl std::fmt::Debug for JsonEnvelope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JsonEnvelope")
            .field("wrapped_dek_len", &self.wrapped_dek.len())
            .field("ciphertext_len", &self.ciphertext_and_tag.len())
            .finish()
    }
}

/// Parses the JSON envelope. Sizes are checked before anything is decoded.
pub fn parse_json(input: &[u8], max_plaintext: usize) -> Result<JsonEnvelope, Malformed> {
    let max_json = (max_plaintext
        .saturating_add(MAX_WRAPPED_DEK_LEN)
        .saturating_add(NONCE_LEN + TAG_LEN))
    .saturating_mul(4)
        / 3
        + 256;
    if input.len() > max_json {
        return Err(Malformed::TooLarge {
            len: input.len(),
            max: max_json,
        });
    }
    let env: Envelope<'_> = serde_json::from_slice(input).map_err(|_| {
        Malformed::Json("expected {\"encryptedDek\": string, \"cipherText\": string}")
    })?;
    let wrapped_dek = b64_std()
        .decode(env.encrypted_dek.as_bytes())
        .map_err(|_| Malformed::Base64(Field::WrappedDek))?;
    if wrapped_dek.is_empty() || wrapped_dek.len() > MAX_WRAPPED_DEK_LEN {
        return Err(Malformed::LengthOutOfRange {
            field: Field::WrappedDek,
            len: wrapped_dek.len(),
            max: MAX_WRAPPED_DEK_LEN,
        });
    }
    let mut ct = b64_std()
        .decode(env.cipher_text.as_bytes())
        .map_err(|_| Malformed::Base64(Field::Body))?;
    if ct.len() < NONCE_LEN + TAG_LEN {
        return Err(Malformed::Truncated(Field::Body));
    }
    let mut nonce = [0u8; NONCE_LEN];
    nonce.copy_from_slice(&ct[..NONCE_LEN]);
    ct.drain(..NONCE_LEN);
    Ok(JsonEnvelope {
        wrapped_dek,
        nonce,
        ciphertext_and_tag: ct,
    })
}

/// Writes the JSON envelope.
pub fn encode_json(
    wrapped_dek: &[u8],
    nonce: &[u8; NONCE_LEN],
    ciphertext_and_tag: &[u8],
) -> Vec<u8> {
    let mut ct = Vec::with_capacity(NONCE_LEN + ciphertext_and_tag.len());
    ct.extend_from_slice(nonce);
    ct.extend_from_slice(ciphertext_and_tag);
    let env = Envelope {
        encrypted_dek: b64_std().encode(wrapped_dek).into(),
        cipher_text: b64_std().encode(&ct).into(),
    };
    // Invariant: a struct of two strings always serializes.
    serde_json::to_vec(&env).unwrap_or_default()
}

/// A kms_encrypted `encrypted_kms_key` value: `v<version>:<base64>`.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct KmsEncryptedKey {
    /// The key version kms_encrypted recorded (the `N` in `vN:`).
    pub version: u32,
    /// The wrapped data key (a KMS ciphertext blob).
    pub wrapped_dek: Vec<u8>,
}

/// Parses a kms_encrypted `v<N>:<base64>` value.
pub fn parse_kms_encrypted_key(value: &str) -> Result<KmsEncryptedKey, Malformed> {
    let value = value.trim();
    let rest = value
        .strip_prefix('v')
        .ok_or(Malformed::KmsEncrypted("expected a v<N>: prefix"))?;
    let (ver, b64) = rest
        .split_once(':')
        .ok_or(Malformed::KmsEncrypted("expected a v<N>: prefix"))?;
    if ver.is_empty() || ver.len() > 9 || !ver.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Malformed::KmsEncrypted("version must be a number"));
    }
    let version: u32 = ver
        .parse()
        .map_err(|_| Malformed::KmsEncrypted("version must be a number"))?;
    if b64.len() > MAX_WRAPPED_DEK_LEN * 4 / 3 + 4 {
        return Err(Malformed::KmsEncrypted("wrapped key too long"));
    }
    let wrapped_dek = b64_std()
        .decode(b64)
        .map_err(|_| Malformed::KmsEncrypted("invalid base64"))?;
    if wrapped_dek.is_empty() {
        return Err(Malformed::KmsEncrypted("empty wrapped key"));
    }
    Ok(KmsEncryptedKey {
        version,
        wrapped_dek,
    })
}

/// Writes a kms_encrypted `v<N>:<base64>` value.
pub fn encode_kms_encrypted_key(version: u32, wrapped_dek: &[u8]) -> String {
    format!("v{version}:{}", b64_std().encode(wrapped_dek))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_round_trip_and_errors() {
        let j = encode_json(b"wrapped", &[9; 12], &[1; 20]);
        let s = std::str::from_utf8(&j).unwrap();
        assert!(s.starts_with("{\"encryptedDek\":\"d3JhcHBlZA==\",\"cipherText\":\""));
        let p = parse_json(&j, 1 << 20).unwrap();
        assert_eq!(p.wrapped_dek, b"wrapped");
        assert_eq!(p.nonce, [9; 12]);
        assert_eq!(p.ciphertext_and_tag, vec![1; 20]);

        assert!(matches!(parse_json(b"{}", 100), Err(Malformed::Json(_))));
        assert!(matches!(
            parse_json(br#"{"encryptedDek":"!!","cipherText":"AA=="}"#, 100),
            Err(Malformed::Base64(Field::WrappedDek))
        ));
        assert!(matches!(
            parse_json(br#"{"encryptedDek":"AA==","cipherText":"AA=="}"#, 100),
            Err(Malformed::Truncated(Field::Body))
        ));
        assert!(matches!(
            parse_json(&vec![b' '; 10_000], 10),
            Err(Malformed::TooLarge { .. })
        ));
        // Unknown extra fields written by other tools are tolerated.
        let extra = br#"{"keyId":"k","encryptedDek":"AQ==","cipherText":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}"#;
        assert!(parse_json(extra, 100).is_ok());
    }

    #[test]
    fn kms_encrypted_values() {
        let v = encode_kms_encrypted_key(1, b"\x01\x02\x02\x00blob");
        assert_eq!(v, "v1:AQICAGJsb2I=");
        let p = parse_kms_encrypted_key(&v).unwrap();
        assert_eq!(p.version, 1);
        assert_eq!(p.wrapped_dek, b"\x01\x02\x02\x00blob");
        for bad in [
            "",
            "1:AQ==",
            "v:AQ==",
            "vx:AQ==",
            "v1",
            "v1:***",
            "v1:",
            "v99999999999:AQ==",
        ] {
            assert!(parse_kms_encrypted_key(bad).is_err(), "{bad}");
        }
    }
}
