#![allow(dead_code)]

use dekbox_core::cache::CacheConfig;
use dekbox_core::keyring::Keyring;
use dekbox_core::provider::{KeyProvider, LocalProvider};
use dekbox_core::{EncryptionContext, Engine, Timestamp};
use std::sync::Arc;

pub const T0: Timestamp = Timestamp::from_unix_millis(1_700_000_000_000);

pub fn ctx(pairs: &[(&str, &str)]) -> EncryptionContext {
    EncryptionContext::from_pairs(pairs.iter().copied()).unwrap()
}

pub fn local(seed: u8) -> Arc<dyn KeyProvider> {
    Arc::new(LocalProvider::from_key_bytes(format!("local://env/KEK{seed}"), &[seed; 32]).unwrap())
}

pub fn engine() -> Engine {
    Engine::builder()
        .key(LocalProvider::insecure_test_key())
        .build()
        .unwrap()
}

pub fn engine_with(cache: CacheConfig) -> Engine {
    Engine::builder()
        .key(LocalProvider::insecure_test_key())
        .cache(cache)
        .build()
        .unwrap()
}

/// A keyring v1 (seed 1), v2 (seed 2) with the given primary.
pub fn keyring(primary: &str) -> Keyring {
    Keyring::builder()
        .add("v1", local(1))
        .add("v2", local(2))
        .primary(primary)
        .build()
        .unwrap()
}
