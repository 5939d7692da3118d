//! The AWS shared config and credentials files, as anyone could write them.
#![no_main]

use dekbox_core::provider::aws::config_file::ProfileSet;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    for config in [true, false] {
        let mut set = ProfileSet::default();
        set.merge(text, config);
        for name in ["default", "dev", "a b"] {
            if let Some(p) = set.get(name) {
                let _ = p.get("region");
                let _ = p.get("role_arn");
            }
        }
    }
});
