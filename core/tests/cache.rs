//! Cache limits under a fixed clock, statistics, and concurrency.

mod common;

use common::*;
use dekbox_core::cache::{CacheConfig, MAX_MESSAGES_CEILING};
use dekbox_core::format::Form;
use dekbox_core::{Engine, Error, Timestamp};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

fn fingerprint(e: &Engine, sealed: &[u8]) -> String {
    e.inspect(sealed).unwrap().wrapped_dek_fingerprint
}

#[test]
fn data_key_is_reused_within_limits() {
    let e = engine();
    let c = ctx(&[("tenant", "a")]);
    let first = e.encrypt_local(b"1", &c, b"", Form::Binary, T0).unwrap();
    let second = e.encrypt_local(b"2", &c, b"", Form::Binary, T0).unwrap();
    assert_eq!(fingerprint(&e, &first), fingerprint(&e, &second));
    let s = e.cache_stats();
    assert_eq!(
        (s.encrypt_misses, s.encrypt_hits, s.provider_calls),
        (1, 1, 1)
    );
    // Same data key, but each message has its own random nonce.
    assert_ne!(&first[69..81], &second[69..81]);
}

#[test]
fn contexts_and_keys_get_separate_data_keys() {
    let e = engine();
    let a = e
        .encrypt_local(b"x", &ctx(&[("tenant", "a")]), b"", Form::Binary, T0)
        .unwrap();
    let b = e
        .encrypt_local(b"x", &ctx(&[("tenant", "b")]), b"", Form::Binary, T0)
        .unwrap();
    assert_ne!(fingerprint(&e, &a), fingerprint(&e, &b));
    assert_eq!(e.cache_stats().data_keys_generated, 2);
}

#[test]
fn max_age_forces_a_new_data_key() {
    let e = engine_with(CacheConfig {
        max_age: Duration::from_secs(60),
        ..CacheConfig::default()
    });
    let c = ctx(&[]);
    let a = e.encrypt_local(b"x", &c, b"", Form::Binary, T0).unwrap();
    let b = e
        .encrypt_local(
            b"x",
            &c,
            b"",
            Form::Binary,
            T0.plus(Duration::from_secs(30)),
        )
        .unwrap();
    let d = e
        .encrypt_local(
            b"x",
            &c,
            b"",
            Form::Binary,
            T0.plus(Duration::from_secs(60)),
        )
        .unwrap();
    assert_eq!(fingerprint(&e, &a), fingerprint(&e, &b));
    assert_ne!(fingerprint(&e, &a), fingerprint(&e, &d));
    assert_eq!(e.cache_stats().data_keys_generated, 2);
}

#[test]
fn clock_going_backwards_never_extends_age() {
    let e = engine_with(CacheConfig {
        max_age: Duration::from_secs(60),
        ..CacheConfig::default()
    });
    let c = ctx(&[]);
    e.encrypt_local(b"x", &c, b"", Form::Binary, T0).unwrap();
    // Earlier than creation: still the same key (age counts as zero)...
    e.encrypt_local(b"x", &c, b"", Form::Binary, Timestamp::from_unix_millis(0))
        .unwrap();
    assert_eq!(e.cache_stats().data_keys_generated, 1);
    // ...and expiry is still measured from creation.
    e.encrypt_local(
        b"x",
        &c,
        b"",
        Form::Binary,
        T0.plus(Duration::from_secs(61)),
    )
    .unwrap();
    assert_eq!(e.cache_stats().data_keys_generated, 2);
}

#[test]
fn max_messages_forces_a_new_data_key() {
    let e = engine_with(CacheConfig {
        max_messages: 3, // below 16 the soft limit equals the limit
        ..CacheConfig::default()
    });
    let c = ctx(&[]);
    let fps: Vec<String> = (0..7)
        .map(|_| {
            fingerprint(
                &e,
                &e.encrypt_local(b"x", &c, b"", Form::Binary, T0).unwrap(),
            )
        })
        .collect();
    assert_eq!(fps[0], fps[2]);
    assert_ne!(fps[2], fps[3]);
    assert_eq!(fps[3], fps[5]);
    assert_ne!(fps[5], fps[6]);
    assert_eq!(e.cache_stats().data_keys_generated, 3);
}

#[test]
fn max_bytes_forces_a_new_data_key() {
    let e = engine_with(CacheConfig {
        max_bytes: 1600, // soft limit 1500
        ..CacheConfig::default()
    });
    let c = ctx(&[]);
    let a = e
        .encrypt_local(&[0; 1000], &c, b"", Form::Binary, T0)
        .unwrap();
    let b = e
        .encrypt_local(&[0; 500], &c, b"", Form::Binary, T0)
        .unwrap(); // 1500 bytes: at the soft limit, still this key
    let d = e
        .encrypt_local(&[0; 101], &c, b"", Form::Binary, T0)
        .unwrap(); // 1601 > 1600
    assert_eq!(fingerprint(&e, &a), fingerprint(&e, &b));
    assert_ne!(fingerprint(&e, &b), fingerprint(&e, &d));
    // A message larger than the limit by itself gets a single-use key.
    let big1 = e
        .encrypt_local(&[0; 2000], &c, b"", Form::Binary, T0)
        .unwrap();
    let big2 = e
        .encrypt_local(&[0; 2000], &c, b"", Form::Binary, T0)
        .unwrap();
    assert_ne!(fingerprint(&e, &big1), fingerprint(&e, &big2));
}

#[test]
fn disabled_cache_calls_the_provider_every_time() {
    let e = engine_with(CacheConfig::disabled());
    let c = ctx(&[]);
    let sealed: Vec<_> = (0..5)
        .map(|_| e.encrypt_local(b"x", &c, b"", Form::Binary, T0).unwrap())
        .collect();
    for s in &sealed {
        e.decrypt_local(s, &c, b"", T0).unwrap();
    }
    let s = e.cache_stats();
    assert_eq!(s.data_keys_generated, 5);
    assert_eq!(s.decrypt_misses, 5);
    assert_eq!(s.provider_calls, 10);
}

#[test]
fn decrypt_cache_one_unwrap_for_many_rows_and_ttl() {
    let e = engine_with(CacheConfig {
        decrypt_ttl: Duration::from_secs(30),
        ..CacheConfig::default()
    });
    let c = ctx(&[("tenant", "a")]);
    let rows: Vec<_> = (0..1000)
        .map(|i| {
            e.encrypt_local(format!("row {i}").as_bytes(), &c, b"", Form::Text, T0)
                .unwrap()
        })
        .collect();
    let before = e.cache_stats().provider_calls;
    for (i, r) in rows.iter().enumerate() {
        assert_eq!(
            e.decrypt_local(r, &c, b"", T0).unwrap(),
            format!("row {i}").as_bytes()
        );
    }
    let s = e.cache_stats();
    assert_eq!(
        s.provider_calls - before,
        1,
        "1,000 rows under one data key: one unwrap"
    );
    assert_eq!((s.decrypt_misses, s.decrypt_hits), (1, 999));
    // After the TTL the key is unwrapped again.
    e.decrypt_local(&rows[0], &c, b"", T0.plus(Duration::from_secs(31)))
        .unwrap();
    assert_eq!(e.cache_stats().decrypt_misses, 2);
}

#[test]
fn decrypt_cache_is_lru_bounded() {
    let e = engine_with(CacheConfig {
        decrypt_capacity: 2,
        max_messages: 1, // every message its own data key
        ..CacheConfig::default()
    });
    let c = ctx(&[]);
    let m: Vec<_> = (0..3)
        .map(|_| e.encrypt_local(b"x", &c, b"", Form::Binary, T0).unwrap())
        .collect();
    for x in &m {
        e.decrypt_local(x, &c, b"", T0).unwrap();
    }
    assert_eq!(e.cache_stats().decrypt_misses, 3);
    e.decrypt_local(&m[2], &c, b"", T0).unwrap(); // still cached
    e.decrypt_local(&m[0], &c, b"", T0).unwrap(); // evicted: unwrapped again
    let s = e.cache_stats();
    assert_eq!((s.decrypt_hits, s.decrypt_misses), (1, 4));
}

#[test]
fn clear_caches_forces_provider_calls() {
    let e = engine();
    let c = ctx(&[]);
    let m = e.encrypt_local(b"x", &c, b"", Form::Binary, T0).unwrap();
    e.decrypt_local(&m, &c, b"", T0).unwrap();
    e.clear_caches();
    e.encrypt_local(b"x", &c, b"", Form::Binary, T0).unwrap();
    e.decrypt_local(&m, &c, b"", T0).unwrap();
    assert_eq!(e.cache_stats().data_keys_generated, 2);
    assert_eq!(e.cache_stats().decrypt_misses, 2);
}

#[test]
fn config_is_validated() {
    for bad in [
        CacheConfig {
            max_messages: 0,
            ..CacheConfig::default()
        },
        CacheConfig {
            max_messages: MAX_MESSAGES_CEILING + 1,
            ..CacheConfig::default()
        },
        CacheConfig {
            decrypt_capacity: 0,
            ..CacheConfig::default()
        },
    ] {
        let r = Engine::builder()
            .key(dekbox_core::provider::LocalProvider::insecure_test_key())
            .cache(bad)
            .build();
        assert!(matches!(r, Err(Error::Config(_))));
    }
}

#[test]
fn concurrent_encrypts_share_one_cache_and_respect_limits() {
    const THREADS: usize = 8;
    const PER_THREAD: usize = 10_000;
    const LIMIT: u64 = 1_000;
    let e = Arc::new(engine_with(CacheConfig {
        max_messages: LIMIT,
        ..CacheConfig::default()
    }));
    let c = Arc::new(ctx(&[("tenant", "shared")]));
    let handles: Vec<_> = (0..THREADS)
        .map(|t| {
            let e = e.clone();
            let c = c.clone();
            std::thread::spawn(move || {
                let mut out = Vec::with_capacity(PER_THREAD);
                for i in 0..PER_THREAD {
                    let pt = format!("{t}:{i}");
                    out.push(
                        e.encrypt_local(pt.as_bytes(), &c, b"", Form::Binary, T0)
                            .unwrap(),
                    );
                }
                out
            })
        })
        .collect();
    let all: Vec<Vec<u8>> = handles
        .into_iter()
        .flat_map(|h| h.join().unwrap())
        .collect();
    assert_eq!(all.len(), THREADS * PER_THREAD);

    let mut per_key: HashMap<String, u64> = HashMap::new();
    let mut nonces = std::collections::HashSet::new();
    for m in &all {
        *per_key.entry(fingerprint(&e, m)).or_default() += 1;
        assert!(
            nonces.insert(m[5..81].to_vec()),
            "(salt, commitment, nonce) repeated"
        );
    }
    let max_use = per_key.values().copied().max().unwrap();
    assert!(
        max_use <= LIMIT,
        "a data key sealed {max_use} messages, limit {LIMIT}"
    );

    let s = e.cache_stats();
    assert_eq!(
        s.encrypt_hits + s.encrypt_misses,
        (THREADS * PER_THREAD) as u64
    );
    assert_eq!(s.encrypt_misses, s.data_keys_generated);
    assert_eq!(s.provider_calls, s.data_keys_generated);
    assert_eq!(per_key.len() as u64, s.data_keys_generated);
    // 80,000 messages at 1,000 per key need at least 80 keys. When a key is
    // exhausted, each thread that misses at that moment generates its own
    // (operations never block on each other), so at most one per thread per
    // exhaustion.
    eprintln!(
        "data keys generated: {} (minimum 80)",
        s.data_keys_generated
    );
    assert!(s.data_keys_generated >= 80);
    assert!(s.data_keys_generated <= 80 * THREADS as u64);

    // Everything decrypts, from many threads at once.
    let all = Arc::new(all);
    let handles: Vec<_> = (0..THREADS)
        .map(|t| {
            let (e, c, all) = (e.clone(), c.clone(), all.clone());
            std::thread::spawn(move || {
                for m in all.iter().skip(t).step_by(THREADS) {
                    e.decrypt_local(m, &c, b"", T0).unwrap();
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
}
