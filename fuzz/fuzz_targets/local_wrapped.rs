//! The local provider's wrapped keys and direct values, from anyone: never
//! a panic. (Valid inputs, like the format vectors' wrapped keys, unwrap.)
#![no_main]

use dekbox_core::op::drive;
use dekbox_core::provider::{KeyProvider, LocalProvider};
use dekbox_core::{EncryptionContext, Error, Timestamp};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let p = LocalProvider::insecure_test_key();
    let no_net = |_| Err(Error::ApiMisuse("no network"));
    let now = || Timestamp::from_unix_millis(1_700_000_000_000);
    // The vectors' contexts as a provider sees them (with the purpose entry),
    // and bare.
    let bare = [
        EncryptionContext::empty(),
        EncryptionContext::from_pairs([("tenant", "acme")]).unwrap(),
    ];
    let with_purpose: Vec<EncryptionContext> = bare
        .iter()
        .map(|c| dekbox_core::kat::data_key_context(c).unwrap())
        .collect();
    for ctx in bare.into_iter().chain(with_purpose) {
        if let Err(e) = drive(&mut *p.unwrap(data, &ctx), now, no_net) {
            let _ = e.to_string();
        }
        let _ = drive(&mut *p.decrypt_direct(data, &ctx), now, no_net);
    }
});
