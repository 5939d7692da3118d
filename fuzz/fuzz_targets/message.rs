//! A v1 message from anyone: binary, text or JSON, through every reader
//! (parse, inspect, open, rewrap). Nothing may panic.
#![no_main]

use dekbox_core::op::drive;
use dekbox_core::provider::LocalProvider;
use dekbox_core::{EncryptionContext, Engine, Error, Options, Timestamp};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let max = 1 << 20;
    let _ = dekbox_core::format::detect(data);
    if let Ok(m) = dekbox_core::format::parse(data, max) {
        let _ = m.key_ref();
        assert_eq!(m.plaintext_len() + 16, m.body.len());
    }
    let engine = Engine::builder()
        .key(LocalProvider::insecure_test_key())
        .options(Options {
            accept_json: true,
            max_plaintext: max,
            ..Options::default()
        })
        .build()
        .unwrap();
    let _ = engine.inspect(data);
    let now = Timestamp::from_unix_millis(1_700_000_000_000);
    // The format vectors' contexts: empty, and one entry.
    for ctx in [
        EncryptionContext::empty(),
        EncryptionContext::from_pairs([("tenant", "acme")]).unwrap(),
    ] {
        let _ = engine.decrypt_local(data, &ctx, b"", now);
        let _ = drive(&mut engine.rewrap(data, &ctx), || now, |_| {
            Err(Error::ApiMisuse("no network"))
        });
    }
});
