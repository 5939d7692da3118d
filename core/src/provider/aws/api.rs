//! The AWS KMS JSON 1.1 protocol: request bodies, response parsing, and the
//! mapping of KMS errors onto dekbox's taxonomy.

use crate::context::EncryptionContext;
use crate::http::HttpResponse;
use crate::http::secret_json;
use crate::{Error, Result};
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;
use zeroize::Zeroizing;

fn b64() -> &'static base64::engine::GeneralPurpose {
    &base64::engine::general_purpose::STANDARD
}

/// One KMS operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// `GenerateDataKey` with `KeySpec` `AES_256`.
    GenerateDataKey,
    /// `Encrypt`.
    Encrypt,
    /// `Decrypt`.
    Decrypt,
    /// `ReEncrypt`.
    ReEncrypt,
}

impl Action {
    /// The `X-Amz-Target` header value.
    pub fn target(self) -> &'static str {
        match self {
            Action::GenerateDataKey => "TrentService.GenerateDataKey",
            Action::Encrypt => "TrentService.Encrypt",
            Action::Decrypt => "TrentService.Decrypt",
            Action::ReEncrypt => "TrentService.ReEncrypt",
        }
    }
}

/// A KMS request body. Fields left `None` (and empty contexts and grant
/// lists) are not sent. The plaintext is borrowed from a zeroizing buffer and
/// the whole body is written into one (see [`crate::http::secret_json`]).
#[derive(Serialize, Default)]
#[serde(rename_all = "PascalCase")]
struct Body<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    key_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    key_spec: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    plaintext: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    ciphertext_blob: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    source_key_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    destination_key_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    encryption_context: Option<&'a BTreeMap<String, String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    source_encryption_context: Option<&'a BTreeMap<String, String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    destination_encryption_context: Option<&'a BTreeMap<String, String>>,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    grant_tokens: &'a [String],
}

fn context(ctx: &EncryptionContext) -> Option<&BTreeMap<String, String>> {
    (!ctx.is_empty()).then(|| ctx.as_map())
}

/// `GenerateDataKey` body.
pub fn generate_data_key(
    key_id: &str,
    ctx: &EncryptionContext,
    grants: &[String],
) -> Zeroizing<Vec<u8>> {
    secret_json(&Body {
        key_id: Some(key_id),
        key_spec: Some("AES_256"),
        encryption_context: context(ctx),
        grant_tokens: grants,
        ..Body::default()
    })
}

/// `Encrypt` body (the plaintext is a data key or a legacy value).
pub fn encrypt(
    key_id: &str,
    plaintext: &[u8],
    ctx: &EncryptionContext,
    grants: &[String],
) -> Zeroizing<Vec<u8>> {
    let pt = Zeroizing::new(b64().encode(plaintext));
    secret_json(&Body {
        key_id: Some(key_id),
        plaintext: Some(pt.as_str()),
        encryption_context: context(ctx),
        grant_tokens: grants,
        ..Body::default()
    })
}

/// `Decrypt` body; `KeyId` is always sent so KMS refuses blobs of other keys.
pub fn decrypt(
    key_id: &str,
    blob: &[u8],
    ctx: &EncryptionContext,
    grants: &[String],
) -> Zeroizing<Vec<u8>> {
    let blob = b64().encode(blob);
    secret_json(&Body {
        key_id: Some(key_id),
        ciphertext_blob: Some(&blob),
        encryption_context: context(ctx),
        grant_tokens: grants,
        ..Body::default()
    })
}

/// `ReEncrypt` body, same context on both sides.
pub fn re_encrypt(
    source_key_id: &str,
    destination_key_id: &str,
    blob: &[u8],
    ctx: &EncryptionContext,
    grants: &[String],
) -> Zeroizing<Vec<u8>> {
    let blob = b64().encode(blob);
    secret_json(&Body {
        ciphertext_blob: Some(&blob),
        source_key_id: Some(source_key_id),
        destination_key_id: Some(destination_key_id),
        source_encryption_context: context(ctx),
        destination_encryption_context: context(ctx),
        grant_tokens: grants,
        ..Body::default()
    })
}

#[derive(Deserialize)]
struct Blobs {
    #[serde(rename = "CiphertextBlob")]
    ciphertext_blob: Option<String>,
    #[serde(rename = "Plaintext")]
    plaintext: Option<Zeroizing<String>>,
    #[serde(rename = "KeyId")]
    key_id: Option<String>,
}

/// The decoded `CiphertextBlob` and `Plaintext` of a successful answer.
pub struct Answer {
    /// `CiphertextBlob`, if present.
    pub ciphertext_blob: Option<Vec<u8>>,
    /// `Plaintext`, if present.
    pub plaintext: Option<Zeroizing<Vec<u8>>>,
    /// `KeyId`: the ARN of the key that did the work.
    pub key_id: Option<String>,
}

/// Parses a KMS answer: a 200 with the fields, or an error mapped onto the
/// taxonomy.
pub fn parse(resp: &HttpResponse) -> Result<Answer> {
    if resp.status != 200 {
        return Err(error_from(resp));
    }
    let blobs: Blobs = serde_json::from_slice(&resp.body).map_err(|_| {
        Error::KmsUnavailable("KMS answered 200 with a body that is not KMS JSON".into())
    })?;
    let ciphertext_blob = blobs
        .ciphertext_blob
        .map(|s| b64().decode(s))
        .transpose()
        .map_err(|_| Error::KmsUnavailable("KMS answered with invalid base64".into()))?;
    let plaintext = blobs
        .plaintext
        .map(|s| b64().decode(s.as_bytes()).map(Zeroizing::new))
        .transpose()
        .map_err(|_| Error::KmsUnavailable("KMS answered with invalid base64".into()))?;
    Ok(Answer {
        ciphertext_blob,
        plaintext,
        key_id: blobs.key_id,
    })
}

/// Maps an error answer (JSON `__type`, or the XML shape moto and some
/// front-ends use for signature failures) onto dekbox's errors.
pub fn error_from(resp: &HttpResponse) -> Error {
    let (code, message) = error_code(resp);
    map_code(resp.status, code.as_deref(), message)
}

fn error_code(resp: &HttpResponse) -> (Option<String>, String) {
    if let Ok(v) = serde_json::from_slice::<Value>(&resp.body) {
        let code = v
            .get("__type")
            .or_else(|| v.get("code"))
            .and_then(Value::as_str)
            .map(|t| t.rsplit('#').next().unwrap_or(t).to_string());
        let message = v
            .get("message")
            .or_else(|| v.get("Message"))
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        return (code, message);
    }
    let text = String::from_utf8_lossy(&resp.body);
    let code = super::xml::first_text(&text, "Code");
    let message = super::xml::first_text(&text, "Message").unwrap_or_default();
    (code, message)
}

fn map_code(status: u16, code: Option<&str>, message: String) -> Error {
    let detail = |c: &str| {
        if message.is_empty() {
            c.to_string()
        } else {
            format!("{c}: {message}")
        }
    };
    match code {
        Some(
            c @ ("AccessDeniedException"
            | "AccessDenied"
            | "UnrecognizedClientException"
            | "InvalidClientTokenId"
            | "SignatureDoesNotMatch"
            | "IncompleteSignature"
            | "MissingAuthenticationToken"
            | "ExpiredTokenException"
            | "InvalidSignatureException"),
        ) => Error::KmsAccessDenied(detail(c)),
        // A wrong key or a blob that does not decrypt under this key and
        // context is the same error as a bad tag.
        Some("InvalidCiphertextException" | "IncorrectKeyException") => Error::Authentication,
        Some(
            c @ ("KMSInvalidStateException" | "DisabledException" | "KeyUnavailableException"),
        ) => Error::KeyDisabled(detail(c)),
        Some(c @ "NotFoundException") => Error::KeyNotFound(detail(c)),
        Some(
            c @ ("ThrottlingException"
            | "LimitExceededException"
            | "TooManyRequestsException"
            | "RequestLimitExceeded"
            | "Throttling"),
        ) => Error::KmsThrottled(detail(c)),
        Some(
            c @ ("KMSInternalException"
            | "DependencyTimeoutException"
            | "InternalFailure"
            | "ServiceUnavailable"
            | "ServiceUnavailableException"),
        ) => Error::KmsUnavailable(detail(c)),
        Some(c) if status >= 500 => Error::KmsUnavailable(detail(c)),
        Some(c) => Error::Kms {
            code: c.to_string(),
            message,
        },
        None => match status {
            429 => Error::KmsThrottled(format!("HTTP 429 {message}").trim().to_string()),
            403 | 401 => Error::KmsAccessDenied(format!("HTTP {status}")),
            s if s >= 500 => Error::KmsUnavailable(format!("HTTP {s}")),
            s => Error::Kms {
                code: format!("HTTP {s}"),
                message: "the KMS answered with an unrecognised error".into(),
            },
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
    fn maps_kms_errors() {
        let e = |s, b| error_from(&resp(s, b));
        assert!(matches!(
            e(400, r#"{"__type":"AccessDeniedException","message":"no"}"#),
            Error::KmsAccessDenied(_)
        ));
        assert_eq!(
            e(400, r#"{"__type":"InvalidCiphertextException"}"#),
            Error::Authentication
        );
        assert_eq!(
            e(400, r#"{"__type":"IncorrectKeyException"}"#),
            Error::Authentication
        );
        assert!(
            matches!(e(400, r#"{"__type":"com.amazonaws.kms#DisabledException","message":"x is disabled"}"#), Error::KeyDisabled(m) if m.contains("disabled"))
        );
        assert!(matches!(
            e(400, r#"{"__type":"KMSInvalidStateException"}"#),
            Error::KeyDisabled(_)
        ));
        assert!(matches!(
            e(400, r#"{"__type":"NotFoundException","message":"gone"}"#),
            Error::KeyNotFound(_)
        ));
        assert!(matches!(
            e(400, r#"{"__type":"ThrottlingException"}"#),
            Error::KmsThrottled(_)
        ));
        assert!(matches!(
            e(400, r#"{"__type":"LimitExceededException"}"#),
            Error::KmsThrottled(_)
        ));
        assert!(matches!(
            e(500, r#"{"__type":"KMSInternalException"}"#),
            Error::KmsUnavailable(_)
        ));
        assert!(matches!(e(503, ""), Error::KmsUnavailable(_)));
        assert!(
            matches!(e(400, r#"{"__type":"InvalidKeyUsageException","message":"m"}"#), Error::Kms { code, .. } if code == "InvalidKeyUsageException")
        );
        // moto's XML 403 for a bad signature.
        let xml = r#"<?xml version="1.0"?><ErrorResponse><Error><Code>SignatureDoesNotMatch</Code><Message>The request signature we calculated does not match</Message></Error></ErrorResponse>"#;
        assert!(
            matches!(e(403, xml), Error::KmsAccessDenied(m) if m.starts_with("SignatureDoesNotMatch"))
        );
        let xml = "<Response><Errors><Error><Code>InvalidClientTokenId</Code></Error></Errors></Response>";
        assert!(matches!(e(403, xml), Error::KmsAccessDenied(_)));
        assert!(e(400, r#"{"__type":"ThrottlingException"}"#).is_retryable());
        assert!(!e(400, r#"{"__type":"AccessDeniedException"}"#).is_retryable());
    }

    use serde_json::json;

    #[test]
    fn bodies_carry_context_and_grants() {
        let ctx = EncryptionContext::from_pairs([("tenant", "a")]).unwrap();
        let b = generate_data_key("alias/k", &ctx, &["g1".into()]);
        let v: Value = serde_json::from_slice(&b).unwrap();
        assert_eq!(
            v,
            json!({"KeyId":"alias/k","KeySpec":"AES_256","EncryptionContext":{"tenant":"a"},"GrantTokens":["g1"]})
        );
        let b = decrypt("k", b"\x01\x02", &EncryptionContext::empty(), &[]);
        let v: Value = serde_json::from_slice(&b).unwrap();
        assert_eq!(v, json!({"KeyId":"k","CiphertextBlob":"AQI="}));
        let b = encrypt("k", &[7u8; 32], &ctx, &[]);
        let v: Value = serde_json::from_slice(&b).unwrap();
        assert_eq!(
            v,
            json!({"KeyId":"k","Plaintext":b64().encode([7u8; 32]),"EncryptionContext":{"tenant":"a"}})
        );
        let b = re_encrypt("a", "b", b"\x01", &ctx, &[]);
        let v: Value = serde_json::from_slice(&b).unwrap();
        assert_eq!(
            v,
            json!({"CiphertextBlob":"AQ==","SourceKeyId":"a","DestinationKeyId":"b",
                   "SourceEncryptionContext":{"tenant":"a"},"DestinationEncryptionContext":{"tenant":"a"}})
        );
    }

    #[test]
    fn parses_answers() {
        let a = parse(&resp(
            200,
            r#"{"CiphertextBlob":"AQI=","Plaintext":"AAAA","KeyId":"k"}"#,
        ))
        .unwrap();
        assert_eq!(a.ciphertext_blob.unwrap(), vec![1, 2]);
        assert_eq!(&a.plaintext.unwrap()[..], &[0, 0, 0]);
        assert!(matches!(
            parse(&resp(200, "not json")),
            Err(Error::KmsUnavailable(_))
        ));
    }
}
