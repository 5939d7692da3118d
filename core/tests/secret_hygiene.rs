//! No unwiped copy of a data key is left in freed memory by the AWS provider's
//! request bodies and answer parsing (security review finding 5).
//!
//! This test binary installs a global allocator that, while armed, looks
//! through every block handed back to the system for the data key (raw and
//! base64) before freeing it. `realloc` is done as alloc + copy + free so the
//! old block is checked too.

use base64::Engine as _;
use dekbox_core::env::MapEnvironment;
use dekbox_core::http::HttpResponse;
use dekbox_core::op::Step;
use dekbox_core::provider::KeyProvider;
use dekbox_core::provider::aws::sigv4::Credentials;
use dekbox_core::provider::aws::{AwsKmsProvider, AwsOptions};
use dekbox_core::random::SystemRandom;
use dekbox_core::{DataKey, EncryptionContext, Timestamp};
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

struct Scanning;

static ARMED: AtomicBool = AtomicBool::new(false);
static FOUND: AtomicUsize = AtomicUsize::new(0);
/// The byte strings looked for: the raw key and its base64 (set before
/// arming, never freed).
static NEEDLES: OnceLock<[Vec<u8>; 2]> = OnceLock::new();

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty()
        && hay.len() >= needle.len()
        && hay.windows(needle.len()).any(|w| w == needle)
}

unsafe fn scan(ptr: *mut u8, size: usize) {
    if !ARMED.load(Ordering::Relaxed) || size > (1 << 20) {
        return;
    }
    let block = unsafe { std::slice::from_raw_parts(ptr, size) };
    for needle in NEEDLES.get().into_iter().flatten() {
        if contains(block, needle) {
            FOUND.fetch_add(1, Ordering::Relaxed);
        }
    }
}

unsafe impl GlobalAlloc for Scanning {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe {
            scan(ptr, layout.size());
            System.dealloc(ptr, layout)
        }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        unsafe {
            let new_layout = Layout::from_size_align_unchecked(new_size, layout.align());
            let new = System.alloc(new_layout);
            if !new.is_null() {
                std::ptr::copy_nonoverlapping(ptr, new, layout.size().min(new_size));
                self.dealloc(ptr, layout);
            }
            new
        }
    }
}

#[global_allocator]
static GLOBAL: Scanning = Scanning;

const T0: Timestamp = Timestamp::from_unix_millis(1_700_000_000_000);
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
    let b64 = base64::engine::general_purpose::STANDARD.encode(KEY);
    NEEDLES.get_or_init(|| [KEY.to_vec(), b64.as_bytes().to_vec()]);

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

    ARMED.store(true, Ordering::SeqCst);
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
    ARMED.store(false, Ordering::SeqCst);
    assert_eq!(
        FOUND.load(Ordering::SeqCst),
        0,
        "freed blocks still held the data key"
    );
}
