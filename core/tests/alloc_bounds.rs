//! Length fields claiming huge sizes never cause huge allocations.
//!
//! This test binary installs a counting global allocator and records the
//! largest single allocation made while parsing hostile inputs.

mod common;

use common::*;
use dekbox_core::format::Form;
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

struct Tracking;

static ARMED: AtomicBool = AtomicBool::new(false);
static LARGEST: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Tracking {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if ARMED.load(Ordering::Relaxed) {
            LARGEST.fetch_max(layout.size(), Ordering::Relaxed);
        }
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if ARMED.load(Ordering::Relaxed) {
            LARGEST.fetch_max(new_size, Ordering::Relaxed);
        }
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Tracking = Tracking;

/// The tracker is process-wide: tests that arm it take turns.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn largest_allocation_during(f: impl FnOnce()) -> usize {
    LARGEST.store(0, Ordering::SeqCst);
    ARMED.store(true, Ordering::SeqCst);
    f();
    ARMED.store(false, Ordering::SeqCst);
    LARGEST.load(Ordering::SeqCst)
}

#[test]
fn hostile_lengths_do_not_allocate() {
    let _turn = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let e = engine();
    let c = ctx(&[]);
    let sealed = e.encrypt_local(b"tiny", &c, b"", Form::Binary, T0).unwrap();
    // Rewrite both length fields to their maximum (0xFFFF) and cut the input.
    let mut hostile = sealed.clone();
    hostile[82] = 0xFF;
    hostile[83] = 0xFF;
    let mut hostile2 = sealed.clone();
    let kr = u16::from_be_bytes([sealed[82], sealed[83]]) as usize;
    hostile2[84 + kr] = 0xFF;
    hostile2[85 + kr] = 0xFF;
    let text_claiming_gigabytes = {
        let mut t = b"dekbox:v1:".to_vec();
        t.extend(std::iter::repeat_n(b'A', 4096));
        t
    };
    let json_with_huge_field = br#"{"encryptedDek":"AAAA","cipherText":"AAAA"}"#.to_vec();

    for input in [
        &hostile[..],
        &hostile2[..],
        &text_claiming_gigabytes[..],
        &json_with_huge_field[..],
    ] {
        let largest = largest_allocation_during(|| {
            let _ = e.decrypt_local(input, &c, b"", T0);
            let _ = e.inspect(input);
        });
        assert!(
            largest <= 2 * input.len() + 1024,
            "parsing a {}-byte input allocated {largest} bytes at once",
            input.len()
        );
    }
}

#[test]
fn oversized_text_is_refused_before_decoding() {
    let _turn = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let e = dekbox_core::Engine::builder()
        .key(dekbox_core::provider::LocalProvider::insecure_test_key())
        .options(dekbox_core::Options {
            max_plaintext: 1024,
            ..Default::default()
        })
        .build()
        .unwrap();
    let mut t = b"dekbox:v1:".to_vec();
    t.extend(std::iter::repeat_n(b'A', 1 << 20));
    let largest = largest_allocation_during(|| {
        assert!(e.decrypt_local(&t, &ctx(&[]), b"", T0).is_err());
    });
    assert!(
        largest < 64 * 1024,
        "allocated {largest} bytes for a refused input"
    );
}
