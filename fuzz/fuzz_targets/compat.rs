//! The compatibility forms: JSON envelopes and kms_encrypted's `vN:` keys.
#![no_main]

use dekbox_core::compat::{encode_kms_encrypted_key, parse_json, parse_kms_encrypted_key};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = parse_json(data, 1 << 20);
    if let Ok(s) = std::str::from_utf8(data) {
        if let Ok(k) = parse_kms_encrypted_key(s) {
            // What parses re-encodes to a value that parses the same.
            let again = encode_kms_encrypted_key(k.version, &k.wrapped_dek);
            let k2 = parse_kms_encrypted_key(&again).unwrap();
            assert_eq!((k.version, &k.wrapped_dek), (k2.version, &k2.wrapped_dek));
        }
    }
});
