//! Cloud KMS REST v1 `:encrypt` and `:decrypt`: request bodies with their
//! CRC32C integrity fields, answers checked end to end, and google.rpc
//! errors mapped onto dekbox's taxonomy.
//!
//! Integrity: every request carries the CRC32C of what it sends
//! (`plaintextCrc32c` or `ciphertextCrc32c`, and
//! `additionalAuthenticatedDataCrc32c`), which Cloud KMS checks before it
//! acts; every answer is checked here: an encrypt answer must say it
//! verified both (`verifiedPlaintextCrc32c`,
//! `verifiedAdditionalAuthenticatedDataCrc32c`) and carry the CRC32C of its
//! ciphertext, a decrypt answer that of its plaintext. A mismatch is
//! [`Error::KmsIntegrity`]: the bytes were damaged between dekbox and the
//! KMS. The checksums are int64 values, written as JSON strings (proto3's
//! JSON mapping); either form is read.

use crate::http::{HttpResponse, secret_json};
use crate::{Error, Result};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Deserializer, Serialize};
use zeroize::Zeroizing;

/// The CRC32C (Castagnoli) of `bytes`, as Cloud KMS computes it.
pub fn crc32c(bytes: &[u8]) -> u32 {
    crc32c::crc32c(bytes)
}

/// An `:encrypt` request body.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct EncryptRequest<'a> {
    plaintext: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    additional_authenticated_data: &'a str,
    plaintext_crc32c: String,
    additional_authenticated_data_crc32c: String,
}

/// A `:decrypt` request body.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct DecryptRequest<'a> {
    ciphertext: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    additional_authenticated_data: &'a str,
    ciphertext_crc32c: String,
    additional_authenticated_data_crc32c: String,
}

/// The `:encrypt` body for `plaintext` under `aad` (in a wiping buffer).
pub fn encrypt_body(plaintext: &[u8], aad: &[u8]) -> Zeroizing<Vec<u8>> {
    let pt = Zeroizing::new(STANDARD.encode(plaintext));
    secret_json(&EncryptRequest {
        plaintext: &pt,
        additional_authenticated_data: &STANDARD.encode(aad),
        plaintext_crc32c: crc32c(plaintext).to_string(),
        additional_authenticated_data_crc32c: crc32c(aad).to_string(),
    })
}

/// The `:decrypt` body for `ciphertext` under `aad`.
pub fn decrypt_body(ciphertext: &[u8], aad: &[u8]) -> Zeroizing<Vec<u8>> {
    secret_json(&DecryptRequest {
        ciphertext: &STANDARD.encode(ciphertext),
        additional_authenticated_data: &STANDARD.encode(aad),
        ciphertext_crc32c: crc32c(ciphertext).to_string(),
        additional_authenticated_data_crc32c: crc32c(aad).to_string(),
    })
}

/// An int64 checksum, as a JSON string of digits (proto3) or a number. A
/// value that is no CRC32C (over 32 bits) is kept, to fail the comparison
/// as an integrity error.
fn int64<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<Option<u64>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Int {
        Text(String),
        Number(u64),
    }
    let n = match Option::<Int>::deserialize(d)? {
        None => return Ok(None),
        Some(Int::Number(n)) => n,
        Some(Int::Text(s))
            if !s.is_empty() && s.len() <= 20 && s.bytes().all(|b| b.is_ascii_digit()) =>
        {
            // Over 64 bits: no CRC32C, so it fails the comparison.
            s.parse::<u64>().unwrap_or(u64::MAX)
        }
        Some(Int::Text(_)) => {
            return Err(serde::de::Error::custom(
                "a checksum that is not an integer",
            ));
        }
    };
    Ok(Some(n))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct EncryptResponse {
    name: Option<String>,
    ciphertext: Option<String>,
    #[serde(default, deserialize_with = "int64")]
    ciphertext_crc32c: Option<u64>,
    #[serde(default)]
    verified_plaintext_crc32c: bool,
    #[serde(default)]
    verified_additional_authenticated_data_crc32c: bool,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct DecryptResponse {
    /// Absent when the plaintext is empty (proto3 omits defaults).
    #[serde(default)]
    plaintext: Zeroizing<String>,
    #[serde(default, deserialize_with = "int64")]
    plaintext_crc32c: Option<u64>,
}

/// A 200 that is not a Cloud KMS answer: not worth sending again.
fn bad_answer(what: &str) -> Error {
    Error::Kms {
        code: "InvalidAnswer".into(),
        message: format!("Cloud KMS answered 200 but {what}"),
    }
}

/// What an `:encrypt` answer holds, checked.
pub struct Encrypted {
    /// The `cryptoKeyVersions/N` resource that encrypted.
    pub version: String,
    /// The ciphertext, decoded.
    pub ciphertext: Vec<u8>,
}

/// Parses an `:encrypt` answer (or error) and checks its integrity fields.
pub fn parse_encrypt(resp: &HttpResponse) -> Result<Encrypted> {
    if resp.status != 200 {
        return Err(error_from(resp, false));
    }
    let r: EncryptResponse = serde_json::from_slice(&resp.body)
        .map_err(|_| bad_answer("with a body that is not an EncryptResponse"))?;
    if !r.verified_plaintext_crc32c {
        return Err(Error::KmsIntegrity(
            "Cloud KMS did not confirm the plaintext checksum (verifiedPlaintextCrc32c)".into(),
        ));
    }
    if !r.verified_additional_authenticated_data_crc32c {
        return Err(Error::KmsIntegrity(
            "Cloud KMS did not confirm the additional authenticated data checksum \
             (verifiedAdditionalAuthenticatedDataCrc32c)"
                .into(),
        ));
    }
    let ciphertext = STANDARD
        .decode(
            r.ciphertext
                .as_deref()
                .ok_or_else(|| bad_answer("without a ciphertext"))?,
        )
        .map_err(|_| bad_answer("with a ciphertext that is not base64"))?;
    match r.ciphertext_crc32c {
        Some(c) if c == u64::from(crc32c(&ciphertext)) => {}
        Some(_) => {
            return Err(Error::KmsIntegrity(
                "the ciphertext Cloud KMS returned does not match its checksum (ciphertextCrc32c)"
                    .into(),
            ));
        }
        None => {
            return Err(Error::KmsIntegrity(
                "Cloud KMS returned a ciphertext without its checksum (ciphertextCrc32c)".into(),
            ));
        }
    }
    if ciphertext.is_empty() {
        return Err(bad_answer("with an empty ciphertext"));
    }
    Ok(Encrypted {
        version: r.name.unwrap_or_default(),
        ciphertext,
    })
}

/// Parses a `:decrypt` answer (or error) and checks the plaintext's checksum.
pub fn parse_decrypt(resp: &HttpResponse) -> Result<Zeroizing<Vec<u8>>> {
    if resp.status != 200 {
        return Err(error_from(resp, true));
    }
    let r: DecryptResponse = serde_json::from_slice(&resp.body)
        .map_err(|_| bad_answer("with a body that is not a DecryptResponse"))?;
    let plaintext = Zeroizing::new(
        STANDARD
            .decode(r.plaintext.as_bytes())
            .map_err(|_| bad_answer("with a plaintext that is not base64"))?,
    );
    match r.plaintext_crc32c {
        Some(c) if c == u64::from(crc32c(&plaintext)) => Ok(plaintext),
        Some(_) => Err(Error::KmsIntegrity(
            "the plaintext Cloud KMS returned does not match its checksum (plaintextCrc32c)".into(),
        )),
        None => Err(Error::KmsIntegrity(
            "Cloud KMS returned a plaintext without its checksum (plaintextCrc32c)".into(),
        )),
    }
}

#[derive(Deserialize)]
struct ErrorBody {
    error: Option<Status>,
}

#[derive(Deserialize)]
struct Status {
    #[serde(default)]
    message: String,
    #[serde(default)]
    status: String,
}

/// Maps a google.rpc error answer (`{"error": {"code", "message",
/// "status"}}`) onto dekbox's errors. `decrypting`: an `INVALID_ARGUMENT`
/// to a decrypt is a ciphertext that does not open (wrong key, wrong
/// context, altered), which is [`Error::Authentication`]. Messages are cut
/// to 300 characters, control characters removed; Cloud KMS's name
/// resources, never secrets.
pub fn error_from(resp: &HttpResponse, decrypting: bool) -> Error {
    let status = serde_json::from_slice::<ErrorBody>(&resp.body)
        .ok()
        .and_then(|b| b.error);
    let rpc = status.as_ref().is_some_and(|s| !s.status.is_empty());
    let (code, message) = match status {
        Some(s) => (s.status, s.message),
        None => (String::new(), String::new()),
    };
    let message: String = message
        .chars()
        .filter(|c| !c.is_control())
        .take(300)
        .collect();
    let code = if code.is_empty() {
        // No google.rpc body (a proxy, a load balancer): go by the status.
        match resp.status {
            400 => "INVALID_ARGUMENT",
            401 => "UNAUTHENTICATED",
            403 => "PERMISSION_DENIED",
            404 => "NOT_FOUND",
            429 => "RESOURCE_EXHAUSTED",
            500 => "INTERNAL",
            502 | 503 => "UNAVAILABLE",
            504 => "DEADLINE_EXCEEDED",
            _ => "",
        }
        .to_string()
    } else {
        code
    };
    let shown = if message.is_empty() {
        format!("{code} (HTTP {})", resp.status).trim().to_string()
    } else {
        format!("{code}: {message}")
    };
    let lower = message.to_ascii_lowercase();
    match code.as_str() {
        "PERMISSION_DENIED" => Error::KmsAccessDenied(shown),
        "UNAUTHENTICATED" => Error::KmsAccessDenied(format!(
            "the access token was refused ({shown}); check the credentials"
        )),
        "NOT_FOUND" => Error::KeyNotFound(shown),
        "FAILED_PRECONDITION" => Error::KeyDisabled(shown),
        "RESOURCE_EXHAUSTED" => Error::KmsThrottled(shown),
        "UNAVAILABLE" | "DEADLINE_EXCEEDED" | "INTERNAL" | "ABORTED" => {
            Error::KmsUnavailable(shown)
        }
        "INVALID_ARGUMENT" if lower.contains("checksum") || lower.contains("crc32c") => {
            Error::KmsIntegrity(shown)
        }
        // Only Cloud KMS's own answer says the ciphertext did not open; a
        // bare 400 (a proxy, a load balancer) is not evidence of tampering.
        "INVALID_ARGUMENT" if decrypting && rpc => Error::Authentication,
        _ if (500..=599).contains(&resp.status) => Error::KmsUnavailable(shown),
        _ => Error::Kms {
            code: if code.is_empty() {
                format!("HTTP {}", resp.status)
            } else {
                code
            },
            message: shown,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resp(status: u16, body: &str) -> HttpResponse {
        HttpResponse {
            status,
            headers: vec![],
            body: body.as_bytes().to_vec(),
        }
    }

    #[test]
    fn crc32c_is_castagnoli() {
        // RFC 3720 B.4: 32 bytes of zeros.
        assert_eq!(crc32c(&[0u8; 32]), 0x8a91_36aa);
        assert_eq!(crc32c(b""), 0);
    }

    #[test]
    fn bodies_carry_their_checksums_as_strings() {
        let b = encrypt_body(b"key", b"ctx");
        let v: serde_json::Value = serde_json::from_slice(&b).unwrap();
        assert_eq!(v["plaintext"], STANDARD.encode(b"key"));
        assert_eq!(v["additionalAuthenticatedData"], STANDARD.encode(b"ctx"));
        assert_eq!(v["plaintextCrc32c"], crc32c(b"key").to_string());
        assert_eq!(
            v["additionalAuthenticatedDataCrc32c"],
            crc32c(b"ctx").to_string()
        );
        // An empty aad is left out, as proto3 JSON leaves out defaults; its
        // checksum (0) is still sent.
        let v: serde_json::Value = serde_json::from_slice(&decrypt_body(b"ct", b"")).unwrap();
        assert!(v.get("additionalAuthenticatedData").is_none());
        assert_eq!(v["additionalAuthenticatedDataCrc32c"], "0");
        assert_eq!(v["ciphertextCrc32c"], crc32c(b"ct").to_string());
    }

    #[test]
    fn answers_are_checked_end_to_end() {
        let ct = STANDARD.encode(b"sealed");
        let good = format!(
            r#"{{"name":"k/cryptoKeyVersions/1","ciphertext":"{ct}","ciphertextCrc32c":"{}",
               "verifiedPlaintextCrc32c":true,"verifiedAdditionalAuthenticatedDataCrc32c":true}}"#,
            crc32c(b"sealed")
        );
        assert_eq!(
            parse_encrypt(&resp(200, &good)).unwrap().ciphertext,
            b"sealed"
        );
        // Also as a JSON number.
        let number = good.replace(
            &format!("\"{}\"", crc32c(b"sealed")),
            &crc32c(b"sealed").to_string(),
        );
        assert!(parse_encrypt(&resp(200, &number)).is_ok());
        for bad in [
            good.replace(&crc32c(b"sealed").to_string(), "1"),
            // Over 32 bits: no CRC32C at all.
            good.replace(&crc32c(b"sealed").to_string(), "99999999999"),
            good.replace(r#","ciphertextCrc32c":"#, r#","other":"#),
            good.replace(
                r#""verifiedPlaintextCrc32c":true"#,
                r#""verifiedPlaintextCrc32c":false"#,
            ),
            good.replace(r#","verifiedAdditionalAuthenticatedDataCrc32c":true"#, ""),
        ] {
            assert!(
                matches!(parse_encrypt(&resp(200, &bad)), Err(Error::KmsIntegrity(_))),
                "{bad}"
            );
        }
        let pt = STANDARD.encode([7u8; 32]);
        let d = format!(
            r#"{{"plaintext":"{pt}","plaintextCrc32c":"{}"}}"#,
            crc32c(&[7u8; 32])
        );
        assert_eq!(&parse_decrypt(&resp(200, &d)).unwrap()[..], &[7u8; 32]);
        let tampered = format!(
            r#"{{"plaintext":"{}","plaintextCrc32c":"{}"}}"#,
            STANDARD.encode([8u8; 32]),
            crc32c(&[7u8; 32])
        );
        assert!(matches!(
            parse_decrypt(&resp(200, &tampered)),
            Err(Error::KmsIntegrity(_))
        ));
        assert!(matches!(
            parse_decrypt(&resp(200, &format!(r#"{{"plaintext":"{pt}"}}"#))),
            Err(Error::KmsIntegrity(_))
        ));
        assert!(matches!(
            parse_decrypt(&resp(200, "<html>")),
            Err(Error::Kms { .. })
        ));
        // Only digits are a checksum.
        let signed = format!(
            r#"{{"plaintext":"{pt}","plaintextCrc32c":"+{}"}}"#,
            crc32c(&[7u8; 32])
        );
        assert!(matches!(
            parse_decrypt(&resp(200, &signed)),
            Err(Error::Kms { .. })
        ));
    }

    #[test]
    fn google_rpc_errors_map_onto_the_taxonomy() {
        let e = |status: u16, code: &str, msg: &str, dec: bool| {
            error_from(
                &resp(
                    status,
                    &format!(
                        r#"{{"error":{{"code":{status},"message":"{msg}","status":"{code}"}}}}"#
                    ),
                ),
                dec,
            )
        };
        assert!(matches!(
            e(403, "PERMISSION_DENIED", "no", false),
            Error::KmsAccessDenied(_)
        ));
        assert!(matches!(
            e(401, "UNAUTHENTICATED", "no", true),
            Error::KmsAccessDenied(_)
        ));
        assert!(matches!(
            e(404, "NOT_FOUND", "k", true),
            Error::KeyNotFound(_)
        ));
        assert!(matches!(
            e(
                400,
                "FAILED_PRECONDITION",
                "k is not enabled, current state is: DESTROYED",
                true
            ),
            Error::KeyDisabled(_)
        ));
        assert!(matches!(
            e(429, "RESOURCE_EXHAUSTED", "quota", false),
            Error::KmsThrottled(_)
        ));
        assert!(matches!(
            e(503, "UNAVAILABLE", "", false),
            Error::KmsUnavailable(_)
        ));
        assert!(matches!(
            e(504, "DEADLINE_EXCEEDED", "", false),
            Error::KmsUnavailable(_)
        ));
        assert_eq!(
            e(
                400,
                "INVALID_ARGUMENT",
                "Decryption failed: the ciphertext is invalid.",
                true
            ),
            Error::Authentication
        );
        assert!(matches!(
            e(
                400,
                "INVALID_ARGUMENT",
                "The checksum in field ciphertext_crc32c did not match",
                true
            ),
            Error::KmsIntegrity(_)
        ));
        assert!(matches!(
            e(400, "INVALID_ARGUMENT", "plaintext too long", false),
            Error::Kms { .. }
        ));
        // No google.rpc body: by the HTTP status.
        assert!(matches!(
            error_from(&resp(502, "bad gateway"), true),
            Error::KmsUnavailable(_)
        ));
        assert!(matches!(
            error_from(&resp(403, ""), true),
            Error::KmsAccessDenied(_)
        ));
        // A bare 400 (a proxy's) on a decrypt is no evidence of tampering.
        assert!(matches!(
            error_from(&resp(400, "bad request"), true),
            Error::Kms { .. }
        ));
        let long = "x\u{7}".repeat(400);
        let shown = e(403, "PERMISSION_DENIED", &long, false).to_string();
        assert!(!shown.contains('\u{7}') && shown.len() < 400, "{shown}");
    }
}
