//! Unwrapping a batch's data keys in as few requests as the KMS allows,
//! before the batch is opened one value at a time.
//!
//! `decrypt_many` opens values one by one, and the decrypt cache makes every
//! value after the first of a data key free. Values under many data keys
//! (rows written by many processes) would still cost one KMS request per
//! key; a provider with a batch API ([`KeyProvider::unwrap_many`], Vault
//! transit's `batch_input`) unwraps them together here first. Each key is
//! checked against the commitment of a message that carries it before it is
//! cached, exactly as a key unwrapped for one message is; anything that
//! fails (or that the batch could not unwrap) is left to the per-value path,
//! which reports it for that value.
//!
//! [`KeyProvider::unwrap_many`]: crate::provider::KeyProvider::unwrap_many

use super::input::*;
use super::*;
use crate::crypto::kdf::{COMMITMENT_LEN, SALT_LEN};

/// One distinct data key to unwrap: its wrapped form and the salt and
/// commitment of the first message that carries it.
struct Wanted {
    wrapped: Vec<u8>,
    salt: [u8; SALT_LEN],
    commitment: [u8; COMMITMENT_LEN],
}

/// Unwraps one chunk of a batch's data keys in one request; see
/// [`Engine::prefetch_unwraps`]. Never fails the batch: an error ends this
/// chunk only, and its values are unwrapped one by one.
pub struct PrefetchOp<'a> {
    engine: &'a Engine,
    context: &'a EncryptionContext,
    key_id: &'a str,
    provider: &'a dyn KeyProvider,
    wanted: Vec<Wanted>,
    state: Option<BoxOp<'a, Vec<Result<DataKey>>>>,
    started: bool,
}

/// Most data keys asked for in one request: Vault and OpenBao refuse JSON
/// bodies of more than 1,000 strings by default, and a transit batch item
/// takes six (three names, three values).
const PREFETCH_CHUNK: usize = 128;

impl Engine {
    /// Operations that unwrap, in batch requests of up to 128, the data keys
    /// of `sealed` that are not cached yet, for keys whose provider has a
    /// batch API (one operation per request, so one failure or deadline
    /// does not end the others); empty when there is nothing to batch (no
    /// such provider, the decrypt cache off, fewer than two keys). Run them
    /// before opening the values one by one: they never fail the batch
    /// (errors are left to the values they belong to).
    pub fn prefetch_unwraps<'a, S: AsRef<[u8]>>(
        &'a self,
        sealed: &[S],
        context: &'a EncryptionContext,
        now: Timestamp,
    ) -> Vec<PrefetchOp<'a>> {
        let capacity = self.options.cache.decrypt_capacity;
        if domain::caller_context(context).is_err()
            || self.options.cache.decrypt_ttl.is_zero()
            || !self
                .keyring
                .entries()
                .iter()
                .any(|e| e.provider().batches())
        {
            return Vec::new();
        }
        let cache_ctx = context.canonical_bytes();
        let mut groups: Vec<(&'a KeyringEntry, Vec<Wanted>)> = Vec::new();
        let mut seen: std::collections::HashSet<Vec<u8>> = std::collections::HashSet::new();
        for item in sealed {
            // More keys than the cache holds would be evicted before use.
            if seen.len() >= capacity {
                break;
            }
            let mut decoded = None;
            let Ok(Some(Parsed::Message(m, _))) = parse_input(self, item.as_ref(), &mut decoded)
            else {
                continue;
            };
            let Ok(entry) = self.keyring.resolve_raw(m.key_ref_kind, m.key_ref_raw) else {
                continue;
            };
            if !entry.provider().batches()
                || seen.contains(m.wrapped_dek)
                || self
                    .dec_cache
                    .get(entry.id(), m.wrapped_dek, cache_ctx, now)
                    .is_some()
            {
                continue;
            }
            seen.insert(m.wrapped_dek.to_vec());
            let wanted = Wanted {
                wrapped: m.wrapped_dek.to_vec(),
                salt: *m.salt,
                commitment: *m.commitment,
            };
            match groups.iter_mut().find(|(e, _)| e.id() == entry.id()) {
                Some((_, list)) => list.push(wanted),
                None => groups.push((entry, vec![wanted])),
            }
        }
        let mut ops = Vec::new();
        for (entry, mut wanted) in groups {
            // A lone key goes the usual way.
            if wanted.len() < 2 {
                continue;
            }
            while !wanted.is_empty() {
                let rest = wanted.split_off(wanted.len().min(PREFETCH_CHUNK));
                ops.push(PrefetchOp {
                    engine: self,
                    context,
                    key_id: entry.id(),
                    provider: entry.provider().as_ref(),
                    wanted,
                    state: None,
                    started: false,
                });
                wanted = rest;
            }
        }
        ops
    }
}

impl<'a> PrefetchOp<'a> {
    /// Passes an answer (or a failure) to the request in flight. A
    /// retryable error goes to the driver, which sends it again; any other
    /// ends this chunk (its values go the usual way).
    fn settle(
        &mut self,
        f: impl FnOnce(&mut BoxOp<'a, Vec<Result<DataKey>>>) -> Result<()>,
    ) -> Result<()> {
        let Some(op) = &mut self.state else {
            return Err(Error::ApiMisuse("no request outstanding"));
        };
        match f(op) {
            Err(e) if e.is_retryable() => Err(e),
            Err(_) => {
                self.state = None;
                Ok(())
            }
            Ok(()) => Ok(()),
        }
    }

    /// Caches the keys that match their message's commitment.
    fn store(&self, keys: Vec<Result<DataKey>>, now: Timestamp) {
        let cache_ctx = self.context.canonical_bytes();
        for (w, key) in self.wanted.iter().zip(keys) {
            let Ok(dek) = key else { continue };
            let d = crate::crypto::kdf::DerivedKeys::derive(dek.dangerous_bytes(), &w.salt);
            if !d.commitment_matches(&w.commitment) {
                continue;
            }
            let opener = Arc::new(Opener::new(dek, self.key_id, cache_ctx, now));
            self.engine.dec_cache.insert(&w.wrapped, Some(opener), None);
        }
    }
}

impl Operation for PrefetchOp<'_> {
    type Output = ();

    fn poll(&mut self, now: Timestamp) -> Result<Step<()>> {
        if !self.started {
            self.started = true;
            let provider_ctx = KeyDomain::Envelope.provider_context(self.context)?;
            let wrapped: Vec<&[u8]> = self.wanted.iter().map(|w| w.wrapped.as_slice()).collect();
            self.state = self.provider.unwrap_many(&wrapped, &provider_ctx);
            if self.state.is_some() {
                Counters::bump(&self.engine.counters.provider_calls);
            }
        }
        let Some(op) = &mut self.state else {
            return Ok(Step::Done(()));
        };
        match op.poll(now) {
            Ok(Step::Done(keys)) => {
                self.state = None;
                self.store(keys, now);
                Ok(Step::Done(()))
            }
            Ok(Step::Send(r)) => Ok(Step::Send(r)),
            Ok(Step::Run(p)) => Ok(Step::Run(p)),
            Ok(Step::Wait(d)) => Ok(Step::Wait(d)),
            // A failed chunk is not the batch's failure: its values are
            // opened one by one, and report their own errors.
            Err(_) => {
                self.state = None;
                Ok(Step::Done(()))
            }
        }
    }

    fn handle_response(&mut self, response: HttpResponse) -> Result<()> {
        self.settle(|op| op.handle_response(response))
    }

    fn handle_failure(&mut self, error: Error) -> Result<()> {
        if self.state.is_none() {
            return Err(error);
        }
        self.settle(|op| op.handle_failure(error))
    }

    fn handle_process_output(&mut self, output: ProcessOutput) -> Result<()> {
        self.settle(|op| op.handle_process_output(output))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::op::{Ready, drive};
    use crate::provider::LocalProvider;
    use crate::random::SecureRandom;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// A local key with a batch API that counts its batches, and that can
    /// answer one item with the wrong key.
    #[derive(Debug)]
    struct Batching {
        inner: LocalProvider,
        batches: AtomicUsize,
        lie_about: Option<usize>,
    }

    impl KeyProvider for Batching {
        fn uri(&self) -> &str {
            self.inner.uri()
        }
        fn generate_data_key(
            &self,
            c: &EncryptionContext,
            r: &dyn SecureRandom,
        ) -> BoxOp<'_, GeneratedKey> {
            self.inner.generate_data_key(c, r)
        }
        fn wrap(
            &self,
            d: &DataKey,
            c: &EncryptionContext,
            r: &dyn SecureRandom,
        ) -> BoxOp<'_, Vec<u8>> {
            self.inner.wrap(d, c, r)
        }
        fn unwrap(&self, w: &[u8], c: &EncryptionContext) -> BoxOp<'_, DataKey> {
            self.inner.unwrap(w, c)
        }
        fn encrypt_direct(
            &self,
            p: &[u8],
            c: &EncryptionContext,
            r: &dyn SecureRandom,
        ) -> BoxOp<'_, Vec<u8>> {
            self.inner.encrypt_direct(p, c, r)
        }
        fn decrypt_direct(
            &self,
            x: &[u8],
            c: &EncryptionContext,
        ) -> BoxOp<'_, zeroize::Zeroizing<Vec<u8>>> {
            self.inner.decrypt_direct(x, c)
        }
        fn needs_network(&self) -> bool {
            false
        }
        fn batches(&self) -> bool {
            true
        }
        fn unwrap_many(
            &self,
            wrapped: &[&[u8]],
            c: &EncryptionContext,
        ) -> Option<BoxOp<'_, Vec<Result<DataKey>>>> {
            self.batches.fetch_add(1, Ordering::SeqCst);
            let keys = wrapped
                .iter()
                .enumerate()
                .map(|(i, w)| {
                    if Some(i) == self.lie_about {
                        return Ok(DataKey::from_slice(&[7; 32]).unwrap());
                    }
                    drive(&mut *self.inner.unwrap(w, c), Timestamp::default, |_| {
                        Err(Error::ApiMisuse("no network"))
                    })
                })
                .collect();
            Some(Ready::boxed(Ok(keys)))
        }
    }

    fn run<T>(op: &mut dyn Operation<Output = T>) -> Result<T> {
        drive(
            op,
            || Timestamp::from_unix_millis(1_700_000_000_000),
            |_| Err(Error::ApiMisuse("no network")),
        )
    }

    fn engine(
        lie_about: Option<usize>,
        cache: crate::cache::CacheConfig,
    ) -> (Engine, Arc<Batching>) {
        let p = Arc::new(Batching {
            inner: LocalProvider::insecure_test_key(),
            batches: AtomicUsize::new(0),
            lie_about,
        });
        let e = Engine::builder()
            .key_arc(p.clone())
            .cache(cache)
            .build()
            .unwrap();
        (e, p)
    }

    #[test]
    fn keys_are_unwrapped_in_batches_and_checked_before_they_are_cached() {
        let ctx = EncryptionContext::from_pairs([("tenant", "a")]).unwrap();
        // A data key per value.
        let (writer, _) = engine(None, crate::cache::CacheConfig::disabled());
        let sealed: Vec<Vec<u8>> = (0..300)
            .map(|i| {
                run(&mut writer.encrypt(format!("v{i}").as_bytes(), &ctx, b"", Form::Binary))
                    .unwrap()
            })
            .collect();
        // The sixth key of each batch comes back wrong: not cached, so those
        // values are unwrapped on their own (and open).
        let (reader, p) = engine(Some(5), crate::cache::CacheConfig::default());
        let ops = reader.prefetch_unwraps(
            &sealed,
            &ctx,
            Timestamp::from_unix_millis(1_700_000_000_000),
        );
        assert_eq!(ops.len(), 3);
        for mut op in ops {
            run(&mut op).unwrap();
        }
        assert_eq!(p.batches.load(Ordering::SeqCst), 3, "128 + 128 + 44 keys");
        let before = reader.cache_stats().provider_calls;
        for (i, s) in sealed.iter().enumerate() {
            assert_eq!(
                run(&mut reader.decrypt(s, &ctx, b"")).unwrap(),
                format!("v{i}").as_bytes()
            );
        }
        assert_eq!(
            reader.cache_stats().provider_calls - before,
            3,
            "the lied-about keys only"
        );
        // Everything cached now: nothing left to prefetch.
        assert!(
            reader
                .prefetch_unwraps(
                    &sealed,
                    &ctx,
                    Timestamp::from_unix_millis(1_700_000_000_000)
                )
                .is_empty()
        );
        // Without a decrypt cache there is nothing to keep the keys in.
        let (cold, _) = engine(None, crate::cache::CacheConfig::disabled());
        assert!(
            cold.prefetch_unwraps(
                &sealed,
                &ctx,
                Timestamp::from_unix_millis(1_700_000_000_000)
            )
            .is_empty()
        );
    }
}
