//! The text form: `dekbox:v1:` + unpadded base64url of the binary message.

use super::{MAX_HEADER_LEN, TEXT_PREFIX};
use crate::crypto::aead::TAG_LEN;
use crate::error::{Field, Malformed};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// Encodes a binary message in the text form.
pub(crate) fn encode(binary: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    encode_into(TEXT_PREFIX, binary, &mut out);
    out
}

/// Appends `prefix` and the unpadded base64url of `binary` to `out`,
/// reserving the exact room first: a buffer that starts empty (a wiping one,
/// for a message-key token) is never reallocated with content in it.
pub(crate) fn encode_into(prefix: &str, binary: &[u8], out: &mut Vec<u8>) {
    let len = base64::encoded_len(binary.len(), false).unwrap_or(0);
    out.reserve_exact(prefix.len() + len);
    out.extend_from_slice(prefix.as_bytes());
    let start = out.len();
    out.resize(start + len, 0);
    // Invariant: the room was sized with encoded_len for this exact input.
    let written = URL_SAFE_NO_PAD
        .encode_slice(binary, &mut out[start..])
        .unwrap_or(0);
    out.truncate(start + written);
}

/// Decodes the text form (surrounding ASCII whitespace allowed) to binary.
/// The size is checked before decoding, so no oversized buffer is allocated.
pub(crate) fn decode(input: &[u8], max_plaintext: usize) -> Result<Vec<u8>, Malformed> {
    let t = input.trim_ascii();
    let Some(rest) = t.strip_prefix(b"dekbox:") else {
        return Err(Malformed::NotDekbox);
    };
    let Some(b64) = rest.strip_prefix(&TEXT_PREFIX.as_bytes()[7..]) else {
        // "dekbox:vN:" with N other than 1.
        let version = rest
            .strip_prefix(b"v")
            .and_then(|r| r.split(|&b| b == b':').next())
            .and_then(|v| std::str::from_utf8(v).ok())
            .and_then(|v| v.parse::<u8>().ok())
            .unwrap_or(0);
        return Err(Malformed::UnsupportedVersion(version));
    };
    let max_bin = max_plaintext
        .saturating_add(MAX_HEADER_LEN)
        .saturating_add(TAG_LEN);
    let max_text = max_bin.saturating_mul(4) / 3 + 4;
    if b64.len() > max_text {
        return Err(Malformed::TooLarge {
            len: b64.len(),
            max: max_text,
        });
    }
    URL_SAFE_NO_PAD
        .decode(b64)
        .map_err(|_| Malformed::Base64(Field::Text))
}
