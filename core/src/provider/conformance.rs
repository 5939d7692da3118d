//! [`provider_conformance!`](crate::provider_conformance): one suite of cases
//! every key provider must pass, run against the local provider in core's
//! tests and against AWS KMS (moto) in dekbox-transport's.

/// Expands to a module of `#[test]`s checking that a [`KeyProvider`] keeps
/// the provider contract: generated keys unwrap to themselves, wraps and
/// direct values are bound to their context and to their key, altered blobs
/// fail as `AUTHENTICATION`, and an engine over the provider round-trips.
///
/// ```ignore
/// dekbox_core::provider_conformance! {
///     mod local_conformance;
///     provider: || Arc::new(LocalProvider::insecure_test_key()) as Arc<dyn KeyProvider>,
///     other: || Arc::new(LocalProvider::from_key_bytes("local://env/B", &[9; 32]).unwrap()) as Arc<dyn KeyProvider>,
///     run: my_driver,   // fn my_driver<T>(op: &mut dyn Operation<Output = T>) -> Result<T>
/// }
/// ```
///
/// `other` is a second key of the same kind; attributes before `mod` (such
/// as `#[ignore = "needs moto"]`) are put on every test.
///
/// [`KeyProvider`]: crate::provider::KeyProvider
#[macro_export]
macro_rules! provider_conformance {
    (
        $(#[$attr:meta])*
        mod $name:ident;
        provider: $make:expr,
        other: $other:expr,
        run: $run:path $(,)?
    ) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;
            use $crate::provider::KeyProvider;
            use $crate::random::SystemRandom;
            use $crate::{EncryptionContext, Engine, Error, Form};
            use std::sync::Arc;

            fn ctx(tenant: &str) -> EncryptionContext {
                EncryptionContext::from_pairs([("tenant", tenant)]).unwrap()
            }

            fn key() -> Arc<dyn KeyProvider> {
                ($make)()
            }

            $(#[$attr])*
            #[test]
            fn generated_keys_unwrap_to_themselves_under_their_context_only() {
                let p = key();
                let g = $run(&mut *p.generate_data_key(&ctx("a"), &SystemRandom)).unwrap();
                let k = $run(&mut *p.unwrap(&g.wrapped, &ctx("a"))).unwrap();
                assert_eq!(k.dangerous_bytes(), g.plaintext.dangerous_bytes());
                assert_eq!(
                    $run(&mut *p.unwrap(&g.wrapped, &ctx("b"))).unwrap_err(),
                    Error::Authentication
                );
                assert_eq!(
                    $run(&mut *p.unwrap(&g.wrapped, &EncryptionContext::empty())).unwrap_err(),
                    Error::Authentication
                );
            }

            $(#[$attr])*
            #[test]
            fn wraps_are_bound_to_their_key() {
                let (p, other) = (key(), ($other)());
                let g = $run(&mut *p.generate_data_key(&ctx("a"), &SystemRandom)).unwrap();
                let w = $run(&mut *p.wrap(&g.plaintext, &ctx("a"), &SystemRandom)).unwrap();
                let k = $run(&mut *p.unwrap(&w, &ctx("a"))).unwrap();
                assert_eq!(k.dangerous_bytes(), g.plaintext.dangerous_bytes());
                let e = $run(&mut *other.unwrap(&w, &ctx("a"))).unwrap_err();
                assert!(
                    matches!(e, Error::Authentication | Error::Kms { .. } | Error::KmsAccessDenied(_)),
                    "another key unwrapped it: {e:?}"
                );
            }

            $(#[$attr])*
            #[test]
            fn altered_blobs_fail_authentication() {
                let p = key();
                let g = $run(&mut *p.generate_data_key(&ctx("a"), &SystemRandom)).unwrap();
                // Bytes of the sealed part (a KMS blob's first bytes name its
                // key, which some emulators report as an unknown key).
                for i in [g.wrapped.len() / 2, g.wrapped.len() - 1] {
                    let mut bad = g.wrapped.clone();
                    bad[i] ^= 0x01;
                    assert_eq!(
                        $run(&mut *p.unwrap(&bad, &ctx("a"))).unwrap_err(),
                        Error::Authentication,
                        "byte {i}"
                    );
                }
                assert_eq!(
                    $run(&mut *p.unwrap(&g.wrapped[..g.wrapped.len() - 1], &ctx("a"))).unwrap_err(),
                    Error::Authentication
                );
            }

            $(#[$attr])*
            #[test]
            fn direct_values_round_trip_under_their_context_only() {
                let p = key();
                let c = $run(&mut *p.encrypt_direct(b"legacy value", &ctx("a"), &SystemRandom)).unwrap();
                let pt = $run(&mut *p.decrypt_direct(&c, &ctx("a"))).unwrap();
                assert_eq!(&pt[..], b"legacy value");
                assert_eq!(
                    $run(&mut *p.decrypt_direct(&c, &ctx("b"))).unwrap_err(),
                    Error::Authentication
                );
            }

            $(#[$attr])*
            #[test]
            fn an_engine_over_the_provider_round_trips_and_isolates_contexts() {
                let writer = Engine::builder().key_arc(key()).build().unwrap();
                let sealed = $run(&mut writer.encrypt(b"row", &ctx("a"), b"r/1", Form::Text)).unwrap();
                // A fresh engine must unwrap through the provider.
                let reader = Engine::builder().key_arc(key()).build().unwrap();
                assert_eq!($run(&mut reader.decrypt(&sealed, &ctx("a"), b"r/1")).unwrap(), b"row");
                assert_eq!(
                    $run(&mut reader.decrypt(&sealed, &ctx("b"), b"r/1")).unwrap_err(),
                    Error::Authentication
                );
                assert_eq!(
                    $run(&mut reader.decrypt(&sealed, &ctx("a"), b"r/2")).unwrap_err(),
                    Error::Authentication
                );
                assert_eq!(reader.cache_stats().provider_calls, 2, "one unwrap per context");
            }
        }
    };
}
