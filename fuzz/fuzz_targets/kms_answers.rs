//! Answers from a KMS (AWS KMS JSON, Cloud KMS JSON with checksums, Vault
//! transit JSON, their error bodies) and message-key tokens: parsed without
//! a panic, errors formatted without a panic.
#![no_main]

use dekbox_core::http::HttpResponse;
use dekbox_core::provider::{aws, gcp, vault};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&first, body)) = data.split_first() else {
        return;
    };
    let status = [200u16, 400, 401, 403, 404, 429, 500, 503][usize::from(first) % 8];
    let resp = HttpResponse {
        status,
        headers: vec![("content-type".into(), "application/json".into())],
        body: body.to_vec(),
    };
    let _ = aws::api::parse(&resp).map_err(|e| e.to_string());
    let _ = aws::api::error_from(&resp).to_string();
    let _ = gcp::api::parse_encrypt(&resp).map_err(|e| e.to_string());
    let _ = gcp::api::parse_decrypt(&resp).map_err(|e| e.to_string());
    let _ = gcp::api::error_from(&resp, first & 1 == 0).to_string();
    let _ = vault::error_from(&resp).to_string();
    let _ = vault::key_version(body);
    let _ = dekbox_core::MessageKey::from_token(body);
});
