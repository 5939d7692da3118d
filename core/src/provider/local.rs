//! The local provider: a 256-bit KEK held in memory, read from a key file or
//! an environment variable. No network. The embedded default for development,
//! the CLI's `demo`, and tests.
//!
//! Blobs:
//!
//! ```text
//! kind || salt(32) || nonce(12) || ciphertext || tag(16)
//! wrap key = HKDF-SHA-256(ikm = KEK, salt, info = "dekbox local v1 wrap key")
//! aad      = label(kind) || canonical(context)
//!
//! kind 0x02, label "dekbox local v1 data key": a wrapped data key
//! kind 0x01, label "dekbox local v1":          a directly encrypted value
//! ```
//!
//! A fresh salt (hence a fresh AES key) per blob means the KEK can wrap any
//! number of data keys without approaching GCM's random-nonce limit. The two
//! kinds differ in their first byte and in their associated data, and each
//! method accepts only its own kind: a wrapped data key handed to
//! [`decrypt_direct`](KeyProvider::decrypt_direct) (the legacy fallback) fails
//! authentication instead of returning the data key.

use super::KeyProvider;
use crate::context::EncryptionContext;
use crate::crypto::aead::{AeadKey, NONCE_LEN, TAG_LEN};
use crate::env::Environment;
use crate::error::Malformed;
use crate::key::{DATA_KEY_LEN, DataKey, GeneratedKey};
use crate::op::{BoxOp, Ready};
use crate::random::SecureRandom;
use crate::{Error, Result};
use base64::Engine as _;
use hkdf::Hkdf;
use sha2::{Digest, Sha256};
use std::fmt;
use zeroize::{Zeroize, Zeroizing};

/// The URI of the fixed test key.
pub const INSECURE_TEST_KEY_URI: &str = "insecure-test-key";

const SALT_LEN: usize = 32;
const BLOB_OVERHEAD: usize = 1 + SALT_LEN + NONCE_LEN + TAG_LEN;
const WRAP_INFO: &[u8] = b"dekbox local v1 wrap key";
/// Largest key file read: a key is 32 bytes, 44 in base64, 64 in hex.
const MAX_KEY_FILE_LEN: usize = 4096;
/// Largest value `encrypt_direct` / `decrypt_direct` accept (legacy values are small).
const MAX_DIRECT_LEN: usize = 64 * 1024 * 1024;

/// What a blob holds; each kind has its own first byte and AAD label.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum BlobKind {
    /// A wrapped data key (`generate_data_key`, `wrap`, `unwrap`).
    DataKey,
    /// A value encrypted directly under the KEK (`encrypt_direct`,
    /// `decrypt_direct`).
    Direct,
}

impl BlobKind {
    fn byte(self) -> u8 {
        match self {
            BlobKind::Direct => 0x01,
            BlobKind::DataKey => 0x02,
        }
    }

    fn label(self) -> &'static [u8] {
        match self {
            BlobKind::Direct => b"dekbox local v1",
            BlobKind::DataKey => b"dekbox local v1 data key",
        }
    }

    fn aad(self, ctx: &EncryptionContext) -> Vec<u8> {
        let label = self.label();
        let mut a = Vec::with_capacity(label.len() + ctx.canonical_bytes().len());
        a.extend_from_slice(label);
        a.extend_from_slice(ctx.canonical_bytes());
        a
    }
}

/// A KEK held locally.
pub struct LocalProvider {
    uri: String,
    kek: Box<[u8; 32]>,
}

impl LocalProvider {
    /// The fixed, publicly known test key. Anything sealed with it is readable
    /// by anyone: use it in tests only.
    pub fn insecure_test_key() -> Self {
        let digest = Sha256::digest(b"dekbox insecure-test-key: PUBLIC, FOR TESTS ONLY");
        let mut kek = Box::new([0u8; 32]);
        kek.copy_from_slice(&digest);
        Self {
            uri: INSECURE_TEST_KEY_URI.to_string(),
            kek,
        }
    }

    /// A provider for the given KEK bytes, named by `uri`.
    pub fn from_key_bytes(uri: impl Into<String>, kek: &[u8]) -> Result<Self> {
        let kek: &[u8; 32] = kek
            .try_into()
            .map_err(|_| Error::Config("a local key must be exactly 32 bytes".into()))?;
        Ok(Self {
            uri: uri.into(),
            kek: Box::new(*kek),
        })
    }

    /// Loads the KEK a `local://` URI names.
    ///
    /// - `local://env/NAME`: the environment variable `NAME`;
    /// - `local:///absolute/path` or `local://./relative/path`: a key file.
    ///
    /// Key material is 32 bytes written as base64 or hex (surrounding
    /// whitespace ignored), or exactly 32 raw bytes.
    pub fn from_uri(uri: &str, env: &dyn Environment) -> Result<Self> {
        let rest = uri
            .strip_prefix("local://")
            .ok_or_else(|| Error::Config(format!("{uri:?} is not a local:// URI")))?;
        let material = if let Some(var) = rest.strip_prefix("env/") {
            if var.is_empty() {
                return Err(Error::Config("local://env/ needs a variable name".into()));
            }
            let v = env.var(var).ok_or_else(|| {
                Error::Config(format!(
                    "environment variable {var} (named by {uri}) is not set"
                ))
            })?;
            Zeroizing::new(v.into_bytes())
        } else if rest.starts_with('/') || rest.starts_with("./") || rest.starts_with("../") {
            env.read_secret_file(rest, MAX_KEY_FILE_LEN)
                .map_err(|e| Error::Config(format!("cannot use local key file {rest}: {e}")))?
        } else {
            return Err(Error::Config(format!(
                "{uri:?}: use local:///absolute/path, local://./relative/path or local://env/VAR"
            )));
        };
        let kek = parse_key_material(&material).ok_or_else(|| {
            Error::Config(format!(
                "{uri}: key material must be 32 bytes as base64, hex or raw"
            ))
        })?;
        Self::from_key_bytes(uri, kek.dangerous_bytes())
    }

    fn seal_blob(
        &self,
        kind: BlobKind,
        plaintext: &[u8],
        ctx: &EncryptionContext,
        rng: &dyn SecureRandom,
    ) -> Result<Vec<u8>> {
        if plaintext.len() > MAX_DIRECT_LEN {
            return Err(Malformed::TooLarge {
                len: plaintext.len(),
                max: MAX_DIRECT_LEN,
            }
            .into());
        }
        let mut out = Vec::with_capacity(BLOB_OVERHEAD + plaintext.len());
        out.push(kind.byte());
        let mut salt_nonce = [0u8; SALT_LEN + NONCE_LEN];
        rng.fill(&mut salt_nonce)?;
        out.extend_from_slice(&salt_nonce);
        let (salt, nonce) = salt_nonce.split_at(SALT_LEN);
        let nonce: &[u8; NONCE_LEN] = nonce
            .try_into()
            .map_err(|_| Error::ApiMisuse("nonce length"))?;
        let key = self.wrap_key(salt);
        let start = out.len();
        out.extend_from_slice(plaintext);
        let tag = key.seal_in_place(nonce, &kind.aad(ctx), &mut out[start..])?;
        out.extend_from_slice(&tag);
        Ok(out)
    }

    fn open_blob(
        &self,
        kind: BlobKind,
        blob: &[u8],
        ctx: &EncryptionContext,
    ) -> Result<Zeroizing<Vec<u8>>> {
        if blob.len() < BLOB_OVERHEAD || blob[0] != kind.byte() {
            return Err(Error::Authentication);
        }
        if blob.len() > MAX_DIRECT_LEN + BLOB_OVERHEAD {
            return Err(Malformed::TooLarge {
                len: blob.len(),
                max: MAX_DIRECT_LEN + BLOB_OVERHEAD,
            }
            .into());
        }
        let salt = &blob[1..1 + SALT_LEN];
        let nonce: &[u8; NONCE_LEN] = blob[1 + SALT_LEN..1 + SALT_LEN + NONCE_LEN]
            .try_into()
            .map_err(|_| Error::Authentication)?;
        let key = self.wrap_key(salt);
        let mut buf = Zeroizing::new(blob[1 + SALT_LEN + NONCE_LEN..].to_vec());
        key.open_in_place(nonce, &kind.aad(ctx), &mut buf)?;
        Ok(buf)
    }

    fn wrap_key(&self, salt: &[u8]) -> AeadKey {
        let hk = Hkdf::<Sha256>::new(Some(salt), &self.kek[..]);
        let mut k = Zeroizing::new([0u8; 32]);
        // Invariant: 32 bytes is within HKDF-SHA-256's output limit.
        #[allow(clippy::expect_used)]
        hk.expand(WRAP_INFO, &mut k[..])
            .expect("32 <= 255 * HashLen");
        AeadKey::new(&k)
    }
}

/// Interprets key material: base64 (standard or URL-safe) or hex of 32 bytes,
/// with surrounding whitespace; or exactly 32 raw bytes.
pub fn parse_key_material(material: &[u8]) -> Option<DataKey> {
    let t = material.trim_ascii();
    if t.len() == 64 && t.iter().all(u8::is_ascii_hexdigit) {
        let mut out = Zeroizing::new([0u8; 32]);
        for (i, pair) in t.chunks(2).enumerate() {
            let s = std::str::from_utf8(pair).ok()?;
            out[i] = u8::from_str_radix(s, 16).ok()?;
        }
        return DataKey::from_slice(&out[..]);
    }
    for engine in [
        &base64::engine::general_purpose::STANDARD,
        &base64::engine::general_purpose::URL_SAFE,
        &base64::engine::general_purpose::STANDARD_NO_PAD,
        &base64::engine::general_purpose::URL_SAFE_NO_PAD,
    ] {
        if let Ok(mut bytes) = engine.decode(t) {
            let k = DataKey::from_slice(&bytes);
            bytes.zeroize();
            if k.is_some() {
                return k;
            }
        }
    }
    if material.len() == DATA_KEY_LEN {
        return DataKey::from_slice(material);
    }
    None
}

/// The text written to a key file by `dekbox keygen`: base64 and a newline.
pub fn encode_key_file(kek: &DataKey) -> Zeroizing<String> {
    let mut s = base64::engine::general_purpose::STANDARD.encode(kek.dangerous_bytes());
    s.push('\n');
    Zeroizing::new(s)
}

impl KeyProvider for LocalProvider {
    fn uri(&self) -> &str {
        &self.uri
    }

    fn needs_network(&self) -> bool {
        false
    }

    fn generate_data_key(
        &self,
        context: &EncryptionContext,
        rng: &dyn SecureRandom,
    ) -> BoxOp<'_, GeneratedKey> {
        Ready::boxed((|| {
            let plaintext = DataKey::generate(rng)?;
            let wrapped =
                self.seal_blob(BlobKind::DataKey, plaintext.dangerous_bytes(), context, rng)?;
            Ok(GeneratedKey { plaintext, wrapped })
        })())
    }

    fn wrap(
        &self,
        dek: &DataKey,
        context: &EncryptionContext,
        rng: &dyn SecureRandom,
    ) -> BoxOp<'_, Vec<u8>> {
        Ready::boxed(self.seal_blob(BlobKind::DataKey, dek.dangerous_bytes(), context, rng))
    }

    fn unwrap(&self, wrapped: &[u8], context: &EncryptionContext) -> BoxOp<'_, DataKey> {
        Ready::boxed((|| {
            if wrapped.len() != BLOB_OVERHEAD + DATA_KEY_LEN {
                return Err(Error::Authentication);
            }
            let pt = self.open_blob(BlobKind::DataKey, wrapped, context)?;
            DataKey::from_slice(&pt).ok_or(Error::Authentication)
        })())
    }

    fn encrypt_direct(
        &self,
        plaintext: &[u8],
        context: &EncryptionContext,
        rng: &dyn SecureRandom,
    ) -> BoxOp<'_, Vec<u8>> {
        Ready::boxed(self.seal_blob(BlobKind::Direct, plaintext, context, rng))
    }

    fn decrypt_direct(
        &self,
        ciphertext: &[u8],
        context: &EncryptionContext,
    ) -> BoxOp<'_, Zeroizing<Vec<u8>>> {
        Ready::boxed(self.open_blob(BlobKind::Direct, ciphertext, context))
    }
}

impl Drop for LocalProvider {
    fn drop(&mut self) {
        self.kek.zeroize();
    }
}

impl fmt::Debug for LocalProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LocalProvider")
            .field("uri", &self.uri)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Timestamp;
    use crate::env::MapEnvironment;
    use crate::op::{drive, no_network};
    use crate::random::SystemRandom;

    fn run<T>(mut op: BoxOp<'_, T>) -> Result<T> {
        drive(&mut *op, || Timestamp::from_unix_millis(0), no_network)
    }

    #[test]
    fn wrap_unwrap_binds_context_and_key() {
        let p = LocalProvider::insecure_test_key();
        let other = LocalProvider::from_key_bytes("local://env/K", &[7u8; 32]).unwrap();
        let a = EncryptionContext::from_pairs([("tenant", "a")]).unwrap();
        let b = EncryptionContext::from_pairs([("tenant", "b")]).unwrap();
        let g = run(p.generate_data_key(&a, &SystemRandom)).unwrap();
        let dek = run(p.unwrap(&g.wrapped, &a)).unwrap();
        assert_eq!(dek.dangerous_bytes(), g.plaintext.dangerous_bytes());
        assert_eq!(
            run(p.unwrap(&g.wrapped, &b)).unwrap_err(),
            Error::Authentication
        );
        assert_eq!(
            run(other.unwrap(&g.wrapped, &a)).unwrap_err(),
            Error::Authentication
        );
        let mut bad = g.wrapped.clone();
        bad[40] ^= 1;
        assert_eq!(run(p.unwrap(&bad, &a)).unwrap_err(), Error::Authentication);
        assert_eq!(
            run(p.unwrap(&g.wrapped[..10], &a)).unwrap_err(),
            Error::Authentication
        );
    }

    #[test]
    fn wrapped_data_keys_and_direct_values_cannot_be_confused() {
        let p = LocalProvider::insecure_test_key();
        let ctx = EncryptionContext::from_pairs([("tenant", "a")]).unwrap();
        let g = run(p.generate_data_key(&ctx, &SystemRandom)).unwrap();
        assert_eq!(g.wrapped[0], 0x02);
        // The legacy path must not hand out a data key as "plaintext".
        assert_eq!(
            run(p.decrypt_direct(&g.wrapped, &ctx)).unwrap_err(),
            Error::Authentication
        );
        // Nor may a 32-byte direct value pass for a wrapped data key.
        let direct = run(p.encrypt_direct(&[9u8; 32], &ctx, &SystemRandom)).unwrap();
        assert_eq!(direct[0], 0x01);
        assert_eq!(
            run(p.unwrap(&direct, &ctx)).unwrap_err(),
            Error::Authentication
        );
        // Same bytes with the kind byte swapped: the AAD label still differs.
        let mut relabelled = g.wrapped.clone();
        relabelled[0] = 0x01;
        assert_eq!(
            run(p.decrypt_direct(&relabelled, &ctx)).unwrap_err(),
            Error::Authentication
        );
    }

    #[test]
    fn loads_from_env_and_file() {
        let mut env = MapEnvironment::default();
        env.vars.insert(
            "K".into(),
            "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=".into(),
        );
        env.files.insert(
            "/keys/a".into(),
            b"000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\n".to_vec(),
        );
        let a = LocalProvider::from_uri("local://env/K", &env).unwrap();
        let b = LocalProvider::from_uri("local:///keys/a", &env).unwrap();
        assert_eq!(a.kek, b.kek);
        assert!(LocalProvider::from_uri("local://env/MISSING", &env).is_err());
        assert!(LocalProvider::from_uri("local:///nope", &env).is_err());
        assert!(LocalProvider::from_uri("local://relative", &env).is_err());
        env.vars.insert("SHORT".into(), "AAEC".into());
        let e = LocalProvider::from_uri("local://env/SHORT", &env).unwrap_err();
        assert!(matches!(e, Error::Config(_)));
        assert!(
            !e.to_string().contains("AAEC"),
            "errors never echo key material"
        );
    }

    #[test]
    fn key_file_text_round_trips() {
        let k = DataKey::from_slice(&[5u8; 32]).unwrap();
        let text = encode_key_file(&k);
        let back = parse_key_material(text.as_bytes()).unwrap();
        assert_eq!(back.dangerous_bytes(), &[5u8; 32]);
    }
}
