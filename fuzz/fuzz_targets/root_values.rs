//! Root tokens and root-keyed values (compact and deterministic, binary and
//! text): parsed and opened without a panic; nothing forged opens; and the
//! input, sealed as a plaintext in each mode, opens to itself.
#![no_main]

use dekbox_core::format::Form;
use dekbox_core::root::RootToken;
use dekbox_core::root::value::Mode;
use dekbox_core::{EncryptionContext, kat};
use libfuzzer_sys::fuzz_target;

const ROOT: [u8; 32] = [7; 32];

fuzz_target!(|data: &[u8]| {
    if let Ok(s) = std::str::from_utf8(data) {
        if let Ok(t) = RootToken::parse(s) {
            assert_eq!(RootToken::parse(&t.encode()).unwrap(), t);
        }
    }
    let ctx = EncryptionContext::from_pairs([("tenant", "a")]).unwrap();
    assert!(kat::open_root_value(&ROOT, data, &ctx, "col", b"").is_err());
    for (mode, form) in [
        (Mode::Compact, Form::Binary),
        (Mode::Deterministic, Form::Text),
    ] {
        let sealed = kat::seal_root_value(&ROOT, "r1", mode, &[1; 12], data, &ctx, "col", b"aad", form).unwrap();
        assert_eq!(kat::open_root_value(&ROOT, &sealed, &ctx, "col", b"aad").unwrap(), data);
        assert!(kat::open_root_value(&ROOT, &sealed, &ctx, "other", b"aad").is_err());
    }
});
