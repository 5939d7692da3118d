//! No data key, derived message key or key-encryption key is left in freed
//! heap memory. This test binary installs a global allocator that, while
//! armed, scans every block as it is freed (and the old block of every
//! `realloc`) for the secrets in play, and wipes every freed block, so a hit
//! is always the block being freed and never an earlier owner's leftovers.
//!
//! - The AWS provider's request bodies and answer parsing (security review
//!   finding 5): the data key raw and in base64.
//! - The engine: a scenario that fills the caches, evicts by capacity, by
//!   age, by message count and by TTL, exports a message key, rewraps,
//!   clears the caches and drops the engines. Data keys are random, so the
//!   scenario runs twice with one seeded generator: the first run tells
//!   which keys it uses (unwrapped from its messages with the known
//!   key-encryption keys), the second runs with the scanner armed with them,
//!   and its messages must carry the same keys.
//!
//! What it cannot see: copies on the stack, and AWS-LC's own allocations (its
//! AES key schedule), which AWS-LC cleanses in `OPENSSL_free`.

mod common;

use base64::Engine as _;
use common::*;
use dekbox_core::cache::CacheConfig;
use dekbox_core::env::MapEnvironment;
use dekbox_core::format::{self, Form};
use dekbox_core::http::HttpResponse;
use dekbox_core::op::{Step, drive};
use dekbox_core::provider::aws::sigv4::Credentials;
use dekbox_core::provider::aws::{AwsKmsProvider, AwsOptions};
use dekbox_core::provider::{KeyProvider, LocalProvider};
use dekbox_core::random::{SecureRandom, SystemRandom};
use dekbox_core::{DataKey, EncryptionContext, Engine, Timestamp, kat};
use rand_chacha::ChaCha20Rng;
use rand_core::{RngCore, SeedableRng};
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const SECRET_LEN: usize = 32;

/// Secrets sorted by their first 8 bytes, set before arming.
static NEEDLES: AtomicPtr<[u8; SECRET_LEN]> = AtomicPtr::new(std::ptr::null_mut());
static NEEDLE_COUNT: AtomicUsize = AtomicUsize::new(0);
static ARMED: AtomicBool = AtomicBool::new(false);
static SCANNED: AtomicUsize = AtomicUsize::new(0);
static HITS: AtomicUsize = AtomicUsize::new(0);
static FIRST_HIT_SIZE: AtomicUsize = AtomicUsize::new(0);
/// The tests arm the one allocator in turn.
static SERIAL: Mutex<()> = Mutex::new(());

struct Scanner;

fn prefix(b: &[u8]) -> u64 {
    u64::from_le_bytes(b[..8].try_into().unwrap())
}

/// True if `block` holds any needle. Allocates nothing.
fn holds_secret(block: &[u8]) -> bool {
    let n = NEEDLE_COUNT.load(SeqCst);
    let p = NEEDLES.load(SeqCst);
    if n == 0 || p.is_null() || block.len() < SECRET_LEN {
        return false;
    }
    // SAFETY: set once from a leaked boxed slice of n needles.
    let needles = unsafe { std::slice::from_raw_parts(p, n) };
    (0..=block.len() - SECRET_LEN).any(|i| {
        let w = &block[i..i + SECRET_LEN];
        let head = prefix(w);
        let start = needles.partition_point(|s| prefix(s) < head);
        needles[start..]
            .iter()
            .take_while(|s| prefix(&s[..]) == head)
            .any(|s| &s[..] == w)
    })
}

unsafe impl GlobalAlloc for Scanner {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if ARMED.load(SeqCst) {
            SCANNED.fetch_add(1, SeqCst);
            // SAFETY: the block is still allocated and `layout.size()` long;
            // the scan only reads it (as plain bytes).
            let block = unsafe { std::slice::from_raw_parts(ptr, layout.size()) };
            if holds_secret(block) {
                HITS.fetch_add(1, SeqCst);
                let _ = FIRST_HIT_SIZE.compare_exchange(0, layout.size(), SeqCst, SeqCst);
            }
        }
        // Every freed block is wiped (armed or not), so no later block's
        // unwritten bytes show a secret some earlier owner left: a hit is
        // always the block being freed.
        unsafe {
            std::ptr::write_bytes(ptr, 0, layout.size());
            System.dealloc(ptr, layout)
        }
    }
    // `realloc` keeps the trait's default: alloc, copy, then `dealloc` of
    // the old block, which is scanned.
}

#[global_allocator]
static SCANNER: Scanner = Scanner;

fn arm(mut secrets: Vec<[u8; SECRET_LEN]>) {
    secrets.sort_by_key(|s| prefix(s));
    let n = secrets.len();
    let leaked: &'static mut [[u8; SECRET_LEN]] = Box::leak(secrets.into_boxed_slice());
    NEEDLES.store(leaked.as_mut_ptr(), SeqCst);
    NEEDLE_COUNT.store(n, SeqCst);
    HITS.store(0, SeqCst);
    SCANNED.store(0, SeqCst);
    FIRST_HIT_SIZE.store(0, SeqCst);
    ARMED.store(true, SeqCst);
}

fn disarm() -> (usize, usize, usize) {
    ARMED.store(false, SeqCst);
    (
        HITS.load(SeqCst),
        SCANNED.load(SeqCst),
        FIRST_HIT_SIZE.load(SeqCst),
    )
}

/// A seeded ChaCha20 standing in for the OS generator.
struct Seeded(Mutex<ChaCha20Rng>);

impl SecureRandom for Seeded {
    fn fill(&self, dest: &mut [u8]) -> dekbox_core::Result<()> {
        self.0.lock().unwrap().fill_bytes(dest);
        Ok(())
    }
}

const KEK1: [u8; 32] = [0x11; 32];
const KEK2: [u8; 32] = [0x22; 32];

fn kek(seed: &[u8; 32], name: &str) -> Arc<dyn KeyProvider> {
    Arc::new(LocalProvider::from_key_bytes(format!("local://env/{name}"), seed).unwrap())
}

fn engine(rng: &Arc<Seeded>, cache: CacheConfig, primary: &str) -> Engine {
    let keyring = dekbox_core::keyring::Keyring::builder()
        .add("v1", kek(&KEK1, "KEK1"))
        .add("v2", kek(&KEK2, "KEK2"))
        .primary(primary)
        .build()
        .unwrap();
    Engine::builder()
        .keyring(keyring)
        .rng(rng.clone())
        .cache(cache)
        .build()
        .unwrap()
}

fn at(secs: u64) -> Timestamp {
    T0.plus(Duration::from_secs(secs))
}

/// Seals, opens, evicts and drops; returns every message it sealed (with
/// its context) for the caller to take the data keys from.
fn scenario(seed: u64) -> Vec<(Vec<u8>, EncryptionContext)> {
    let rng = Arc::new(Seeded(Mutex::new(ChaCha20Rng::seed_from_u64(seed))));
    let small = CacheConfig {
        max_age: Duration::from_secs(60),
        max_messages: 3,
        encrypt_capacity: 4,
        decrypt_capacity: 4,
        decrypt_ttl: Duration::from_secs(30),
        ..CacheConfig::default()
    };
    let mut sealed = Vec::new();
    let writer = engine(&rng, small.clone(), "v1");
    // 12 tenants through a 4-entry encrypt cache, 3 messages per data key,
    // and a second round after the first keys aged out.
    for round in 0..2u64 {
        for t in 0..12 {
            let c = ctx(&[("tenant", &format!("t{t}"))]);
            for i in 0..4 {
                let form = if i % 2 == 0 { Form::Binary } else { Form::Text };
                let m = writer
                    .encrypt_local(
                        format!("{t}/{i}").as_bytes(),
                        &c,
                        b"aad",
                        form,
                        at(round * 100),
                    )
                    .unwrap();
                sealed.push((m, c.clone()));
            }
        }
    }
    // A reader with a 4-entry decrypt cache: LRU eviction, then TTL expiry.
    let reader = engine(&rng, small.clone(), "v1");
    for (n, (m, c)) in sealed.iter().enumerate() {
        let now = at(200 + (n as u64 / 16) * 40);
        let pt = reader.decrypt_local(m, c, b"aad", now).unwrap();
        assert!(pt.starts_with(&c.as_map()["tenant"].as_bytes()[1..]));
    }
    // A message key exported, used, dropped; the encrypt cache retires it.
    let c = &sealed[0].1;
    let key = drive(
        &mut writer.message_data_key(&sealed[0].0, c),
        || at(400),
        |_| unreachable!("local keys make no requests"),
    )
    .unwrap();
    let again = key.seal(b"more", c, b"", Form::Binary, &*rng).unwrap();
    drop(key.token(Form::Text).unwrap());
    drop(key);
    sealed.push((again, c.clone()));
    // Rewrap to v2 under a fresh engine, then open the result.
    let rotator = engine(&rng, small, "v2");
    let (m, c) = sealed[5].clone();
    let moved = rotator.rewrap_local(&m, &c, at(500)).unwrap();
    assert!(moved.changed);
    let moved = moved.message;
    assert_eq!(
        rotator.decrypt_local(&moved, &c, b"aad", at(500)).unwrap(),
        b"1/1"
    );
    sealed.push((moved, c));
    writer.clear_caches();
    reader.clear_caches();
    drop((writer, reader, rotator));
    sealed
}

/// The data key of each message, and the message key derived from it.
fn secrets_of(sealed: &[(Vec<u8>, EncryptionContext)]) -> Vec<[u8; SECRET_LEN]> {
    let mut out = Vec::new();
    for (m, c) in sealed {
        let bin = format::binary_form(m, 1 << 20).unwrap();
        let msg = format::parse(&bin, 1 << 20).unwrap();
        let name = msg.key_ref().unwrap().name.to_string();
        let provider = if name == "v2" {
            kek(&KEK2, "KEK2")
        } else {
            kek(&KEK1, "KEK1")
        };
        let dck = kat::data_key_context(c).unwrap();
        let dek = drive(
            &mut *provider.unwrap(msg.wrapped_dek, &dck),
            || T0,
            |_| unreachable!(),
        )
        .unwrap();
        out.push(*dek.dangerous_bytes());
        let hk = hkdf::Hkdf::<sha2::Sha256>::new(Some(msg.salt), dek.dangerous_bytes());
        let mut derived = [0u8; 32];
        hk.expand(b"dekbox v1 suite 0x01 data key", &mut derived)
            .unwrap();
        out.push(derived);
    }
    out.sort();
    out.dedup();
    out
}

#[test]
fn no_key_is_left_in_freed_heap_memory() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    // The scanner finds a secret freed without zeroizing.
    arm(vec![[0xA5; 32]]);
    let leaked = std::hint::black_box(vec![0xA5u8; 100]);
    drop(leaked);
    let zeroized = std::hint::black_box(zeroize::Zeroizing::new(vec![0xA5u8; 100]));
    drop(zeroized);
    let (hits, scanned, _) = disarm();
    assert_eq!(
        hits, 1,
        "the scanner must see the unzeroized copy, and only it"
    );
    assert!(scanned >= 2);

    let first = scenario(7);
    let mut needles = secrets_of(&first);
    needles.extend([KEK1, KEK2]);
    // 2 x 12 tenants x 2 data keys, plus the rewrapped one: dozens of keys.
    assert!(needles.len() > 50, "{} secrets", needles.len());
    drop(first);

    arm(needles.clone());
    let second = scenario(7);
    let (hits, scanned, size) = disarm();
    // The run was the same, so the scanner looked for the keys it used.
    let mut again = secrets_of(&second);
    again.extend([KEK1, KEK2]);
    again.sort();
    needles.sort();
    assert_eq!(again, needles, "the seeded scenario must repeat exactly");
    assert!(scanned > 1000, "only {scanned} blocks freed");
    assert_eq!(
        hits, 0,
        "{hits} freed blocks held a key (first: {size} bytes)"
    );
}

const KEY: [u8; 32] = {
    let mut k = [0u8; 32];
    let mut i = 0;
    while i < 32 {
        k[i] = (i as u8).wrapping_mul(37).wrapping_add(11);
        i += 1;
    }
    k
};

fn provider() -> AwsKmsProvider {
    AwsKmsProvider::from_uri(
        "aws-kms://arn:aws:kms:us-east-1:111122223333:key/k",
        Arc::new(MapEnvironment::default()),
        &AwsOptions {
            endpoint: Some("http://127.0.0.1:9".into()),
            credentials: Some(Credentials::new("AKID", "secret", None, None, "test")),
            ..AwsOptions::default()
        },
    )
    .unwrap()
}

fn answer(json: String) -> HttpResponse {
    HttpResponse {
        status: 200,
        headers: vec![],
        body: json.into_bytes(),
    }
}

#[test]
fn kms_bodies_and_answers_leave_no_copy_of_the_data_key_in_freed_memory() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let b64 = base64::engine::general_purpose::STANDARD.encode(KEY);
    let needles = vec![KEY, b64.as_bytes()[..SECRET_LEN].try_into().unwrap()];

    let p = provider();
    let ctx = EncryptionContext::from_pairs([("tenant", "a")]).unwrap();
    let dek = DataKey::from_slice(&KEY).unwrap();
    // Canned answers, built before arming (their bodies are wiped on drop).
    let encrypt_answer = answer(
        r#"{"CiphertextBlob":"AQIDBA==","KeyId":"arn:aws:kms:us-east-1:111122223333:key/k"}"#
            .to_string(),
    );
    let decrypt_answer = answer(format!(r#"{{"Plaintext":"{b64}","KeyId":"k"}}"#));
    drop(b64);

    arm(needles);
    // Wrap: a KMS Encrypt whose body holds the data key.
    {
        let mut op = p.wrap(&dek, &ctx, &SystemRandom);
        let Step::Send(req) = op.poll(T0).unwrap() else {
            panic!("expected a request")
        };
        drop(req);
        op.handle_response(encrypt_answer).unwrap();
        assert!(matches!(op.poll(T0).unwrap(), Step::Done(w) if w == [1, 2, 3, 4]));
    }
    // Unwrap: a KMS Decrypt whose answer holds the data key.
    {
        let mut op = p.unwrap(b"\x01\x02\x03\x04", &ctx);
        let Step::Send(req) = op.poll(T0).unwrap() else {
            panic!("expected a request")
        };
        drop(req);
        op.handle_response(decrypt_answer).unwrap();
        match op.poll(T0).unwrap() {
            Step::Done(k) => assert!(k.dangerous_bytes() == &KEY),
            _ => panic!("expected the data key"),
        }
    }
    drop(dek);
    let (hits, scanned, size) = disarm();
    assert!(scanned > 10, "only {scanned} blocks freed");
    assert_eq!(
        hits, 0,
        "{hits} freed blocks held the data key (first: {size} bytes)"
    );
}

/// Root keys: the root, its HKDF pseudo-random key and the derived keys of
/// the columns used are not left in freed memory by sealing, opening,
/// indexing, clearing the caches and dropping the engine.
#[test]
fn no_root_or_derived_key_is_left_in_freed_heap_memory() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let maker = engine(
        &Arc::new(Seeded(Mutex::new(ChaCha20Rng::seed_from_u64(9)))),
        CacheConfig::default(),
        "v1",
    );
    let token = drive(
        &mut *maker.create_root("r1", None),
        || T0,
        |_| unreachable!(),
    )
    .unwrap();
    drop(maker);
    let parsed = dekbox_core::root::RootToken::parse(&token).unwrap();
    let root = drive(
        &mut *kek(&KEK1, "KEK1").unwrap(parsed.wrapped(), &kat::root_wrap_context("r1").unwrap()),
        || T0,
        |_| unreachable!(),
    )
    .unwrap();
    let root_bytes = *root.dangerous_bytes();
    drop(root);
    let (prk, _) = hkdf::Hkdf::<sha2::Sha256>::extract(Some(b"dekbox root v1"), &root_bytes);
    let c = ctx(&[("tenant", "a")]);
    let mut needles = vec![root_bytes, prk.into()];
    for (purpose, len) in [
        ("compact", 64),
        ("deterministic", 96),
        ("blind-index", 48),
        ("external", 32),
    ] {
        let hk = hkdf::Hkdf::<sha2::Sha256>::from_prk(&prk).unwrap();
        let mut info = b"dekbox root v1 ".to_vec();
        info.extend_from_slice(purpose.as_bytes());
        info.push(0);
        info.extend_from_slice(c.canonical_bytes());
        info.extend_from_slice(&3u16.to_be_bytes());
        info.extend_from_slice(b"col");
        let mut okm = vec![0u8; len];
        hk.expand(&info, &mut okm).unwrap();
        needles.extend(
            okm.chunks(32)
                .filter(|k| k.len() == 32)
                .map(|k| <[u8; 32]>::try_from(k).unwrap()),
        );
    }
    arm(needles);
    {
        let tokens = std::collections::BTreeMap::from([("r1".to_string(), token.clone())]);
        let keyring = dekbox_core::keyring::Keyring::builder()
            .add("v1", kek(&KEK1, "KEK1"))
            .primary("v1")
            .build()
            .unwrap();
        let e = Engine::builder()
            .keyring(keyring)
            .roots(tokens, None)
            .build()
            .unwrap();
        use dekbox_core::root::value::Mode;
        for mode in [Mode::Compact, Mode::Deterministic] {
            let v = drive(
                &mut *e.encrypt_root_value(mode, b"secret", &c, "col", b"", Form::Text),
                || T0,
                |_| unreachable!(),
            )
            .unwrap();
            let pt = drive(
                &mut *e.decrypt_root_value(&v, &c, "col", b""),
                || T0,
                |_| unreachable!(),
            )
            .unwrap();
            assert_eq!(pt, b"secret");
        }
        let o = dekbox_core::root::blind::IndexOptions::default();
        drive(
            &mut *e.blind_index(b"x", &c, "col", o, None),
            || T0,
            |_| unreachable!(),
        )
        .unwrap();
        drive(
            &mut *e.external_key(&c, "col", None),
            || T0,
            |_| unreachable!(),
        )
        .unwrap();
        e.clear_caches();
    }
    let (hits, scanned, size) = disarm();
    assert!(scanned > 50, "only {scanned} blocks freed");
    assert_eq!(
        hits, 0,
        "{hits} freed blocks held a root or derived key (first: {size} bytes)"
    );
}
