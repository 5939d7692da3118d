//! Data-key caches.
//!
//! - **Encrypt side**: one data key per (key, context) is reused for new
//!   messages until it reaches [`CacheConfig::max_age`],
//!   [`CacheConfig::max_messages`] or [`CacheConfig::max_bytes`], so writes do
//!   not call the KMS each time. Each reservation is atomic under the cache
//!   lock: no data key ever seals more than `max_messages` messages. Past
//!   15/16 of a limit one caller generates the successor while the others
//!   carry on with the current key (refresh ahead).
//! - **Decrypt side**: unwrapped data keys are kept by (key, wrapped key,
//!   context), least-recently-used with a time-to-live, so reading many rows
//!   sealed under one data key costs one KMS call. The context is part of the
//!   cache key: a hit never skips the KMS's own context check.
//!
//! Lookups hash with foldhash under a per-process random seed. Only keys that
//! opened a message (or were generated here) are ever inserted, so an attacker
//! feeding crafted wrapped keys cannot fill a bucket.
//!
//! Plaintext data keys are zeroized when evicted or dropped (the last `Arc`
//! holding one drops it). [`CacheStats`] counts hits, misses and provider calls.

use crate::crypto::aead::{AeadKey, NONCE_LEN};
use crate::crypto::kdf::{DerivedKeys, SALT_LEN};
use crate::envelope::SealParts;
use crate::key::DataKey;
use crate::random::{SecureRandom, fork_generation};
use crate::{Error, Result, Timestamp};
use foldhash::quality::RandomState;
use lru::LruCache;
use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::Duration;

/// Hard ceiling on messages per (data key, salt): far below the 2^32
/// random-nonce bound of AES-GCM (collision probability under 2^-36).
pub const MAX_MESSAGES_CEILING: u64 = 1 << 30;

/// Cache limits. (De)serializes as a map whose durations are seconds
/// (`{"max_age": 60, "max_messages": 1000}`); missing fields keep their
/// defaults.
#[derive(Clone, Debug, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct CacheConfig {
    /// Longest time a data key is used to encrypt after it was generated.
    #[serde(deserialize_with = "seconds", serialize_with = "as_seconds")]
    pub max_age: Duration,
    /// Most messages one data key encrypts (at most [`MAX_MESSAGES_CEILING`]).
    pub max_messages: u64,
    /// Most plaintext bytes one data key encrypts.
    pub max_bytes: u64,
    /// Most (key, context) pairs with a live encrypt-side data key.
    pub encrypt_capacity: usize,
    /// Most unwrapped data keys kept for decryption.
    pub decrypt_capacity: usize,
    /// How long an unwrapped data key is kept for decryption.
    #[serde(deserialize_with = "seconds", serialize_with = "as_seconds")]
    pub decrypt_ttl: Duration,
}

fn as_seconds<S: serde::Serializer>(d: &Duration, s: S) -> std::result::Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64())
}

/// A non-negative number of seconds.
fn seconds<'de, D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Duration, D::Error> {
    let secs = <f64 as serde::Deserialize>::deserialize(d)?;
    Duration::try_from_secs_f64(secs)
        .map_err(|_| serde::de::Error::custom("must be a non-negative number of seconds"))
}

impl Default for CacheConfig {
    fn default() -> Self {
        Self {
            max_age: Duration::from_secs(300),
            max_messages: 1 << 20,
            max_bytes: 1 << 36,
            encrypt_capacity: 1024,
            decrypt_capacity: 4096,
            decrypt_ttl: Duration::from_secs(300),
        }
    }
}

impl CacheConfig {
    /// A configuration that never reuses a data key and never caches an
    /// unwrapped one: every operation calls the provider.
    pub fn disabled() -> Self {
        Self {
            max_age: Duration::ZERO,
            max_messages: 1,
            max_bytes: 0,
            encrypt_capacity: 1,
            decrypt_capacity: 1,
            decrypt_ttl: Duration::ZERO,
        }
    }

    pub(crate) fn validate(&self) -> Result<()> {
        if self.max_messages == 0 || self.max_messages > MAX_MESSAGES_CEILING {
            return Err(Error::Config(format!(
                "max_messages must be between 1 and {MAX_MESSAGES_CEILING}"
            )));
        }
        if self.encrypt_capacity == 0 || self.decrypt_capacity == 0 {
            return Err(Error::Config("cache capacities must be at least 1".into()));
        }
        Ok(())
    }
}

/// A snapshot of cache and provider counters. Serializes with
/// `provider_calls` named `kms_calls`, as the bindings show it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct CacheStats {
    /// Encryptions that reused a cached data key.
    pub encrypt_hits: u64,
    /// Encryptions that needed a new data key.
    pub encrypt_misses: u64,
    /// Decryptions that found their data key cached.
    pub decrypt_hits: u64,
    /// Decryptions that had to unwrap their data key.
    pub decrypt_misses: u64,
    /// Calls to a key provider (generate, unwrap, wrap, rewrap, direct decrypt).
    /// For a KMS, the number of KMS operations (retries not counted).
    #[serde(rename = "kms_calls")]
    pub provider_calls: u64,
    /// Data keys generated.
    pub data_keys_generated: u64,
}

#[derive(Default)]
pub(crate) struct Counters {
    pub(crate) encrypt_hits: AtomicU64,
    pub(crate) encrypt_misses: AtomicU64,
    pub(crate) decrypt_hits: AtomicU64,
    pub(crate) decrypt_misses: AtomicU64,
    pub(crate) provider_calls: AtomicU64,
    pub(crate) data_keys_generated: AtomicU64,
}

impl Counters {
    pub(crate) fn bump(c: &AtomicU64) {
        c.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn snapshot(&self) -> CacheStats {
        CacheStats {
            encrypt_hits: self.encrypt_hits.load(Ordering::Relaxed),
            encrypt_misses: self.encrypt_misses.load(Ordering::Relaxed),
            decrypt_hits: self.decrypt_hits.load(Ordering::Relaxed),
            decrypt_misses: self.decrypt_misses.load(Ordering::Relaxed),
            provider_calls: self.provider_calls.load(Ordering::Relaxed),
            data_keys_generated: self.data_keys_generated.load(Ordering::Relaxed),
        }
    }
}

/// Everything needed to seal under one data key: the derived AEAD key for one
/// salt, the precomputed header bytes, and (lazily) the raw-DEK key used by
/// the JSON compatibility form.
pub(crate) struct Sealer {
    pub(crate) dek: DataKey,
    pub(crate) derived: DerivedKeys,
    /// magic || version || suite || salt || commitment.
    pub(crate) prefix: [u8; 69],
    /// key reference kind || len || ref || len || wrapped DEK.
    pub(crate) key_section: Vec<u8>,
    pub(crate) wrapped: Vec<u8>,
    pub(crate) raw: OnceLock<AeadKey>,
    /// A key used raw (JSON compatibility envelopes, keys handed to another
    /// cipher): a fresh salt cannot give a forked child a fresh nonce space,
    /// so such a key is replaced there, never shared.
    compat: bool,
    fork_gen: u64,
}

impl Sealer {
    pub(crate) fn new(
        dek: DataKey,
        wrapped: Vec<u8>,
        key_section: Vec<u8>,
        compat: bool,
        rng: &dyn SecureRandom,
    ) -> Result<Self> {
        let mut salt = [0u8; SALT_LEN];
        rng.fill(&mut salt)?;
        Ok(Self::with_salt(dek, wrapped, key_section, compat, salt))
    }

    pub(crate) fn with_salt(
        dek: DataKey,
        wrapped: Vec<u8>,
        key_section: Vec<u8>,
        compat: bool,
        salt: [u8; SALT_LEN],
    ) -> Self {
        let derived = DerivedKeys::derive(dek.dangerous_bytes(), &salt);
        let prefix = crate::format::fixed_prefix(&salt, &derived.commitment);
        Self {
            dek,
            derived,
            prefix,
            key_section,
            wrapped,
            raw: OnceLock::new(),
            compat,
            fork_gen: fork_generation(),
        }
    }

    pub(crate) fn raw_key(&self) -> &AeadKey {
        self.raw
            .get_or_init(|| AeadKey::new(self.dek.dangerous_bytes()))
    }

    /// Whether this sealer was made in this process (not inherited across
    /// `fork()`, where the parent keeps sealing with the same salt).
    pub(crate) fn made_here(&self) -> bool {
        self.fork_gen == fork_generation()
    }

    /// What a message sealed under this key with `nonce` is made of.
    pub(crate) fn parts<'a>(&'a self, nonce: &'a [u8; NONCE_LEN]) -> SealParts<'a> {
        SealParts {
            derived: &self.derived,
            prefix: &self.prefix,
            nonce,
            key_section: &self.key_section,
        }
    }

    /// The same data key under a fresh salt: a new AEAD key and a fresh nonce
    /// space, without a KMS call. Used in forked children.
    fn resalted(&self, rng: &dyn SecureRandom) -> Result<Self> {
        Sealer::new(
            self.dek.duplicate(),
            self.wrapped.clone(),
            self.key_section.clone(),
            self.compat,
            rng,
        )
    }
}

struct EncEntry {
    sealer: Arc<Sealer>,
    created: Timestamp,
    messages: u64,
    bytes: u64,
    /// When (and in which fork generation) one caller was sent to generate
    /// this key's successor. A claim from another generation was made by a
    /// thread that does not exist in this process.
    refreshing_since: Option<(Timestamp, u64)>,
}

impl EncEntry {
    fn refreshing(&self) -> Option<Timestamp> {
        self.refreshing_since
            .filter(|(_, g)| *g == fork_generation())
            .map(|(t, _)| t)
    }
}

/// The point (15/16 of a limit) at which one caller starts generating a
/// successor while the others keep using the current key.
fn soft(limit: u64) -> u64 {
    limit - limit / 16
}

/// How long a refresh may take before another caller is sent to retry it.
const REFRESH_RETRY: Duration = Duration::from_secs(30);

/// A claim to fetch (generate or unwrap) one data key while concurrent callers
/// wait for it. Released when the key is cached, or when the operation that
/// holds it is dropped.
#[derive(Debug)]
pub(crate) struct Ticket {
    key: Vec<u8>,
    id: u64,
}

/// How long callers wait on a fetch before assuming its operation vanished.
const FLIGHT_TIMEOUT: Duration = Duration::from_secs(30);

/// Fetches in flight, so that concurrent misses for one key make one KMS call.
///
/// Each claim records the fork generation it was made in: after `fork()` the
/// thread that made it does not exist in the child, so the child ignores it
/// instead of waiting out [`FLIGHT_TIMEOUT`].
#[derive(Default)]
struct Flights {
    pending: std::collections::HashMap<Vec<u8>, (u64, Timestamp, u64), RandomState>,
    next: u64,
}

impl Flights {
    /// A ticket if nobody (recently, in this process) claimed `key`; `None`
    /// means wait.
    fn claim(&mut self, key: &[u8], now: Timestamp) -> Option<Ticket> {
        let generation = fork_generation();
        if let Some((_, started, g)) = self.pending.get(key) {
            if *g == generation && now.since(*started) < FLIGHT_TIMEOUT {
                return None;
            }
        }
        self.next += 1;
        self.pending
            .insert(key.to_vec(), (self.next, now, generation));
        Some(Ticket {
            key: key.to_vec(),
            id: self.next,
        })
    }

    fn release(&mut self, ticket: Ticket) {
        if self
            .pending
            .get(&ticket.key)
            .is_some_and(|(id, _, _)| *id == ticket.id)
        {
            self.pending.remove(&ticket.key);
        }
    }
}

/// What an encryption should do.
pub(crate) enum Reservation {
    /// Seal with this cached key.
    Hit(Arc<Sealer>),
    /// Generate a new key (holding the ticket, if the result will be cached).
    Generate(Option<Ticket>),
    /// Another operation is generating the key for this context: poll again.
    Wait,
}

/// What a decryption should do.
pub(crate) enum Lookup {
    /// Open with this cached key.
    Hit(Arc<Opener>),
    /// Unwrap the key (holding the ticket, if the result will be cached).
    Fetch(Option<Ticket>),
    /// Another operation is unwrapping this key: poll again.
    Wait,
}

/// Encrypt-side cache: context -> data key in use. An engine's primary key never
/// changes, so the context alone identifies an entry (lookups borrow the
/// context's canonical bytes; nothing is allocated on a hit).
pub(crate) struct EncryptCache {
    config: CacheConfig,
    map: Mutex<EncState>,
}

struct EncState {
    lru: LruCache<Vec<u8>, EncEntry, RandomState>,
    flights: Flights,
}

fn nz(n: usize) -> NonZeroUsize {
    NonZeroUsize::new(n).unwrap_or(NonZeroUsize::MIN)
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding a cache lock cannot leave a half-updated entry
    // that matters for safety (counters only grow), so keep going.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl EncryptCache {
    pub(crate) fn new(config: CacheConfig) -> Self {
        let cap = nz(config.encrypt_capacity);
        Self {
            config,
            map: Mutex::new(EncState {
                lru: LruCache::with_hasher(cap, RandomState::default()),
                flights: Flights::default(),
            }),
        }
    }

    /// Whether a key generated for a message of `len` bytes would be cached.
    fn cacheable(&self, len: u64) -> bool {
        self.config.max_messages > 1
            && !self.config.max_age.is_zero()
            && len < self.config.max_bytes
    }

    /// Reserves one message of `len` bytes on the cached data key, if it is
    /// still within every limit. Expired or exhausted entries are evicted.
    ///
    /// Past 15/16 of any limit, the first caller gets `None` (and so generates
    /// the successor) while later callers keep using the current key: writes
    /// do not stall at rotation, and concurrent writers do not each call the KMS.
    pub(crate) fn reserve(
        &self,
        key: &[u8],
        len: usize,
        now: Timestamp,
        rng: &dyn SecureRandom,
    ) -> Result<Reservation> {
        let len = len as u64;
        let mut guard = lock(&self.map);
        let state = &mut *guard;
        if !self.cacheable(len) {
            return Ok(Reservation::Generate(None));
        }
        let Some(entry) = state.lru.get_mut(key) else {
            return Ok(match state.flights.claim(key, now) {
                Some(t) => Reservation::Generate(Some(t)),
                None => Reservation::Wait,
            });
        };
        let usable = now.since(entry.created) < self.config.max_age
            && entry.messages < self.config.max_messages
            && entry.bytes.saturating_add(len) <= self.config.max_bytes;
        if !usable {
            state.lru.pop(key);
            return Ok(match state.flights.claim(key, now) {
                Some(t) => Reservation::Generate(Some(t)),
                None => Reservation::Wait,
            });
        }
        let age_ms = now.since(entry.created).as_millis();
        let near_limit = entry.messages >= soft(self.config.max_messages)
            || entry.bytes.saturating_add(len) > soft(self.config.max_bytes)
            || age_ms
                >= u128::from(soft(
                    self.config.max_age.as_millis().min(u128::from(u64::MAX)) as u64,
                ));
        if near_limit
            && entry
                .refreshing()
                .is_none_or(|t| now.since(t) >= REFRESH_RETRY)
        {
            if let Some(t) = state.flights.claim(key, now) {
                entry.refreshing_since = Some((now, fork_generation()));
                return Ok(Reservation::Generate(Some(t)));
            }
        }
        if entry.sealer.fork_gen != fork_generation() {
            if entry.sealer.compat {
                // The raw data key (and its message count) stay with the
                // parent: this process generates its own.
                state.lru.pop(key);
                return Ok(match state.flights.claim(key, now) {
                    Some(t) => Reservation::Generate(Some(t)),
                    None => Reservation::Wait,
                });
            }
            entry.sealer = Arc::new(entry.sealer.resalted(rng)?);
        }
        entry.messages += 1;
        entry.bytes = entry.bytes.saturating_add(len);
        Ok(Reservation::Hit(entry.sealer.clone()))
    }

    /// Like [`reserve`](Self::reserve), but only ever returns a cached key:
    /// never claims a fetch or a refresh (a full operation does those).
    pub(crate) fn reserve_cached(
        &self,
        key: &[u8],
        len: usize,
        now: Timestamp,
        rng: &dyn SecureRandom,
    ) -> Result<Option<Arc<Sealer>>> {
        let len = len as u64;
        let mut guard = lock(&self.map);
        if !self.cacheable(len) {
            return Ok(None);
        }
        let Some(entry) = guard.lru.get_mut(key) else {
            return Ok(None);
        };
        let age_ms = now.since(entry.created).as_millis();
        let comfortable = now.since(entry.created) < self.config.max_age
            && entry.messages < soft(self.config.max_messages)
            && entry.bytes.saturating_add(len) <= soft(self.config.max_bytes)
            && age_ms
                < u128::from(soft(
                    self.config.max_age.as_millis().min(u128::from(u64::MAX)) as u64,
                ));
        // Near a limit, leave the refresh decision to a full operation.
        if !comfortable && entry.refreshing().is_none() {
            return Ok(None);
        }
        let usable = now.since(entry.created) < self.config.max_age
            && entry.messages < self.config.max_messages
            && entry.bytes.saturating_add(len) <= self.config.max_bytes;
        if !usable {
            return Ok(None);
        }
        if entry.sealer.fork_gen != fork_generation() {
            if entry.sealer.compat {
                return Ok(None);
            }
            entry.sealer = Arc::new(entry.sealer.resalted(rng)?);
        }
        entry.messages += 1;
        entry.bytes = entry.bytes.saturating_add(len);
        Ok(Some(entry.sealer.clone()))
    }

    /// Caches a freshly generated data key that has just sealed one message of
    /// `len` bytes, and releases the ticket it was generated under.
    pub(crate) fn insert(
        &self,
        key: &[u8],
        sealer: Arc<Sealer>,
        len: usize,
        now: Timestamp,
        ticket: Option<Ticket>,
    ) {
        let len = len as u64;
        let mut state = lock(&self.map);
        if let Some(t) = ticket {
            state.flights.release(t);
        }
        if !self.cacheable(len) {
            return;
        }
        state.lru.put(
            key.to_vec(),
            EncEntry {
                sealer,
                created: now,
                messages: 1,
                bytes: len,
                refreshing_since: None,
            },
        );
    }

    /// Gives up a ticket (the generating operation failed or was dropped).
    pub(crate) fn release(&self, ticket: Ticket) {
        lock(&self.map).flights.release(ticket);
    }

    /// Stops sealing new messages of `key` with the data key `wrapped` (it
    /// was handed out as a message key): the next message gets a new one.
    pub(crate) fn retire(&self, key: &[u8], wrapped: &[u8]) {
        let mut state = lock(&self.map);
        if state
            .lru
            .peek(key)
            .is_some_and(|e| e.sealer.wrapped == wrapped)
        {
            state.lru.pop(key);
        }
    }

    pub(crate) fn clear(&self) {
        lock(&self.map).lru.clear();
    }
}

/// An unwrapped data key kept for decryption, with the keys derived from it
/// for each salt seen (each writer process uses its own salt).
pub(crate) struct Opener {
    pub(crate) dek: DataKey,
    key_id: String,
    context: Vec<u8>,
    created: Timestamp,
    /// Keys for the first salt seen: the common case (one writer per data
    /// key), read without taking a lock.
    first: OnceLock<([u8; SALT_LEN], DerivedKeys)>,
    /// Keys for further salts (other writer processes), most recent last.
    derived: Mutex<Vec<([u8; SALT_LEN], Arc<DerivedKeys>)>>,
    raw: OnceLock<AeadKey>,
}

/// Salts remembered per data key.
const SALTS_PER_KEY: usize = 16;
/// (key, context) pairs remembered per wrapped key. A wrapped key unwraps under
/// one context only, so more than one is rare.
const BINDINGS_PER_WRAPPED_KEY: usize = 4;

impl Opener {
    pub(crate) fn new(dek: DataKey, key_id: &str, context: &[u8], now: Timestamp) -> Self {
        Self {
            dek,
            key_id: key_id.to_string(),
            context: context.to_vec(),
            created: now,
            first: OnceLock::new(),
            derived: Mutex::new(Vec::new()),
            raw: OnceLock::new(),
        }
    }

    /// Runs `f` with the keys derived for `salt`, deriving them on first use.
    pub(crate) fn with_derived<R>(
        &self,
        salt: &[u8; SALT_LEN],
        f: impl FnOnce(&DerivedKeys) -> R,
    ) -> R {
        let (s, d) = self
            .first
            .get_or_init(|| (*salt, DerivedKeys::derive(self.dek.dangerous_bytes(), salt)));
        if s == salt {
            return f(d);
        }
        f(&self.derived_for(salt))
    }

    fn derived_for(&self, salt: &[u8; SALT_LEN]) -> Arc<DerivedKeys> {
        let mut list = lock(&self.derived);
        if let Some(pos) = list.iter().position(|(s, _)| s == salt) {
            return list[pos].1.clone();
        }
        let d = Arc::new(DerivedKeys::derive(self.dek.dangerous_bytes(), salt));
        if list.len() >= SALTS_PER_KEY {
            list.remove(0);
        }
        list.push((*salt, d.clone()));
        d
    }

    pub(crate) fn raw_key(&self) -> &AeadKey {
        self.raw
            .get_or_init(|| AeadKey::new(self.dek.dangerous_bytes()))
    }

    fn binds(&self, key_id: &str, context: &[u8]) -> bool {
        self.key_id == key_id && self.context == context
    }
}

/// Decrypt-side cache: wrapped key -> the data key it unwrapped to, for each
/// (key, context) it was unwrapped under. A hit requires all three to match.
pub(crate) struct DecryptCache {
    ttl: Duration,
    map: Mutex<DecState>,
}

struct DecState {
    lru: LruCache<Vec<u8>, Vec<Arc<Opener>>, RandomState>,
    flights: Flights,
}

fn flight_key(key_id: &str, wrapped: &[u8], context: &[u8]) -> Vec<u8> {
    let mut k = Vec::with_capacity(12 + key_id.len() + wrapped.len() + context.len());
    for part in [key_id.as_bytes(), wrapped, context] {
        k.extend_from_slice(&(part.len() as u32).to_be_bytes());
        k.extend_from_slice(part);
    }
    k
}

impl DecryptCache {
    pub(crate) fn new(config: &CacheConfig) -> Self {
        Self {
            ttl: config.decrypt_ttl,
            map: Mutex::new(DecState {
                lru: LruCache::with_hasher(nz(config.decrypt_capacity), RandomState::default()),
                flights: Flights::default(),
            }),
        }
    }

    /// A cached key, or a ticket to unwrap it, or `Wait` while another
    /// operation unwraps the same key under the same context.
    pub(crate) fn lookup(
        &self,
        key_id: &str,
        wrapped: &[u8],
        context: &[u8],
        now: Timestamp,
    ) -> Lookup {
        if let Some(o) = self.get(key_id, wrapped, context, now) {
            return Lookup::Hit(o);
        }
        if self.ttl.is_zero() {
            return Lookup::Fetch(None);
        }
        match lock(&self.map)
            .flights
            .claim(&flight_key(key_id, wrapped, context), now)
        {
            Some(t) => Lookup::Fetch(Some(t)),
            None => Lookup::Wait,
        }
    }

    /// Gives up a ticket.
    pub(crate) fn release(&self, ticket: Ticket) {
        lock(&self.map).flights.release(ticket);
    }

    pub(crate) fn get(
        &self,
        key_id: &str,
        wrapped: &[u8],
        context: &[u8],
        now: Timestamp,
    ) -> Option<Arc<Opener>> {
        let mut state = lock(&self.map);
        let list = state.lru.get_mut(wrapped)?;
        let ttl = self.ttl;
        list.retain(|o| now.since(o.created) < ttl);
        let found = list.iter().find(|o| o.binds(key_id, context)).cloned();
        if list.is_empty() {
            state.lru.pop(wrapped);
        }
        found
    }

    /// Caches an unwrapped key (if it opened its message) and releases the
    /// ticket it was unwrapped under.
    pub(crate) fn insert(
        &self,
        wrapped: &[u8],
        opener: Option<Arc<Opener>>,
        ticket: Option<Ticket>,
    ) {
        let mut state = lock(&self.map);
        if let Some(t) = ticket {
            state.flights.release(t);
        }
        let Some(opener) = opener else { return };
        if self.ttl.is_zero() {
            return;
        }
        let map = &mut state.lru;
        if let Some(list) = map.get_mut(wrapped) {
            list.retain(|o| !o.binds(&opener.key_id, &opener.context));
            if list.len() >= BINDINGS_PER_WRAPPED_KEY {
                list.remove(0);
            }
            list.push(opener);
        } else {
            map.put(wrapped.to_vec(), vec![opener]);
        }
    }

    pub(crate) fn clear(&self) {
        lock(&self.map).lru.clear();
    }
}

/// Rewrap results, by (source key, primary key, wrapped key, salt,
/// commitment, context): bulk rewraps of messages sharing a data key make one
/// provider call. Only results whose triple was checked against the
/// commitment, or re-encrypted natively, are stored (see docs/FORMAT.md).
pub(crate) struct RewrapCache(Mutex<LruCache<Vec<u8>, Vec<u8>>>);

impl RewrapCache {
    pub(crate) fn new(config: &CacheConfig) -> Self {
        Self(Mutex::new(LruCache::new(nz(config.decrypt_capacity))))
    }

    pub(crate) fn get(&self, key: &[u8]) -> Option<Vec<u8>> {
        lock(&self.0).get(key).cloned()
    }

    pub(crate) fn put(&self, key: Vec<u8>, new_wrapped: Vec<u8>) {
        lock(&self.0).put(key, new_wrapped);
    }

    pub(crate) fn clear(&self) {
        lock(&self.0).clear();
    }
}
