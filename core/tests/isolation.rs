//! Tenant isolation at scale: 1,000 tenants × 1,000 records, every record
//! tried under another tenant's context (1,000,000 attempts, none opens),
//! and a property test that the caches never serve a data key across
//! contexts, keys or key URIs.
//!
//! The scale test is `#[ignore]`d in debug builds (minutes); the test
//! script runs it in release (`cargo test --release ... -- --include-ignored`),
//! where it takes seconds, and prints its counts.

use dekbox_core::cache::CacheConfig;
use dekbox_core::provider::{KeyProvider, LocalProvider};
use dekbox_core::{EncryptionContext, Engine, Error, Form, Timestamp};
use proptest::prelude::*;
use std::sync::Arc;

const NOW: Timestamp = Timestamp::from_unix_millis(1_700_000_000_000);

fn tenant(i: usize) -> EncryptionContext {
    EncryptionContext::from_pairs([("tenant", format!("t{i:04}"))]).unwrap()
}

fn key(uri: &str, byte: u8) -> Arc<dyn KeyProvider> {
    Arc::new(LocalProvider::from_key_bytes(uri, &[byte; 32]).unwrap())
}

#[test]
#[ignore = "a million attempts: run in release by ./scripts/test.sh"]
fn a_million_cross_tenant_opens_all_fail() {
    let (tenants, records) = (1_000, 1_000);
    let engine = Engine::builder()
        .key_arc(key("local://env/ISOLATION", 1))
        .build()
        .unwrap();
    let (mut attempts, mut opened, mut own) = (0u64, 0u64, 0u64);
    let started = std::time::Instant::now();
    for t in 0..tenants {
        let ctx = tenant(t);
        let sealed: Vec<Vec<u8>> = (0..records)
            .map(|r| {
                let aad = format!("rows/{r}");
                engine
                    .encrypt_local(
                        format!("t{t} r{r}").as_bytes(),
                        &ctx,
                        aad.as_bytes(),
                        Form::Binary,
                        NOW,
                    )
                    .unwrap()
            })
            .collect();
        // Warm the caches with every record under its own tenant first, so
        // the attempts below meet cached data keys, not cold misses.
        for (r, s) in sealed.iter().enumerate() {
            engine
                .decrypt_local(s, &ctx, format!("rows/{r}").as_bytes(), NOW)
                .unwrap();
        }
        // Every record under the next tenant's context, with its own aad.
        let other = tenant((t + 1) % tenants);
        for (r, s) in sealed.iter().enumerate() {
            attempts += 1;
            match engine.decrypt_local(s, &other, format!("rows/{r}").as_bytes(), NOW) {
                Ok(_) => opened += 1,
                Err(e) => assert_eq!(e, Error::Authentication),
            }
        }
        // And it still opens for its own tenant (the first and last row).
        for r in [0, records - 1] {
            let back = engine
                .decrypt_local(&sealed[r], &ctx, format!("rows/{r}").as_bytes(), NOW)
                .unwrap();
            assert_eq!(back, format!("t{t} r{r}").into_bytes());
            own += 1;
        }
    }
    println!(
        "isolation: {tenants} tenants x {records} records, {attempts} cross-tenant attempts, \
         {opened} opened, {own} own-tenant opens, {:.1} s",
        started.elapsed().as_secs_f64()
    );
    assert_eq!(attempts, 1_000_000);
    assert_eq!(opened, 0);
}

/// One step of the property test: seal with writer `key` under context
/// `ctx`, or open sealed value `which` under context `ctx`, its key label
/// optionally rewritten to `relabel` (a swapped key reference).
#[derive(Clone, Debug)]
enum Step {
    Seal {
        key: usize,
        ctx: usize,
    },
    Open {
        which: usize,
        ctx: usize,
        relabel: Option<usize>,
    },
}

fn steps() -> impl Strategy<Value = Vec<Step>> {
    prop::collection::vec(
        prop_oneof![
            (0..3usize, 0..3usize).prop_map(|(key, ctx)| Step::Seal { key, ctx }),
            (0..64usize, 0..3usize, prop::option::of(0..3usize)).prop_map(
                |(which, ctx, relabel)| Step::Open {
                    which,
                    ctx,
                    relabel
                }
            ),
        ],
        1..60,
    )
}

/// Three keys with different key bytes. `primary` seals.
fn engine(primary: usize) -> Engine {
    let uris = ["local://env/A", "local://env/A2", "local://env/B"];
    let bytes = [1u8, 2, 3];
    let mut ring = dekbox_core::keyring::Keyring::builder();
    for (i, (u, k)) in uris.iter().zip(bytes).enumerate() {
        ring = ring.add(format!("k{i}"), key(u, k));
    }
    let ring = ring.primary(format!("k{primary}")).build().unwrap();
    Engine::builder()
        .keyring(ring)
        .cache(CacheConfig::default())
        .build()
        .unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 256,
        // An integration test has no lib.rs to persist failures next to.
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    /// One reader engine, its caches warmed by every step, always answers
    /// exactly as a cold engine with the same keyring does: whatever was
    /// opened before, under whichever context and key, a cached data key is
    /// never served for another context, key or key URI (nor for a message
    /// whose key reference was swapped).
    #[test]
    fn caches_never_serve_a_data_key_across_contexts_keys_or_uris(steps in steps()) {
        let writers: Vec<Engine> = (0..3).map(engine).collect();
        let warm = engine(0);
        let mut sealed: Vec<(usize, Vec<u8>)> = Vec::new();
        for step in steps {
            match step {
                Step::Seal { key, ctx } => {
                    let s = writers[key]
                        .encrypt_local(b"row", &tenant(ctx), b"", Form::Binary, NOW)
                        .unwrap();
                    sealed.push((ctx, s));
                }
                Step::Open { which, ctx, relabel } => {
                    if sealed.is_empty() {
                        continue;
                    }
                    let (c0, s) = &sealed[which % sealed.len()];
                    let mut s = s.clone();
                    if let Some(k) = relabel {
                        // The key reference "kN" starts at byte 84.
                        s[85] = b'0' + k as u8;
                    }
                    let got = warm.decrypt_local(&s, &tenant(ctx), b"", NOW);
                    let cold = engine(0).decrypt_local(&s, &tenant(ctx), b"", NOW);
                    prop_assert_eq!(&got, &cold, "ctx {} -> {}, relabel {:?}", c0, ctx, relabel);
                    // Handing out the data key checks the commitment, not the
                    // tag: there, a cache serving across contexts or keys
                    // would show.
                    let run = |e: &Engine| {
                        dekbox_core::op::drive(&mut e.message_data_key(&s, &tenant(ctx)), || NOW, |_| {
                            Err(Error::ApiMisuse("no network"))
                        })
                        .map(|k| k.token(Form::Binary).unwrap().to_vec())
                    };
                    prop_assert_eq!(run(&warm).is_ok(), run(&engine(0)).is_ok(), "export: ctx {} -> {}, relabel {:?}", c0, ctx, relabel);
                    if ctx != *c0 {
                        prop_assert_eq!(got.unwrap_err(), Error::Authentication);
                    }
                }
            }
        }
    }
}
