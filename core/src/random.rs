//! Randomness, injected.
//!
//! The engine asks a [`SecureRandom`] for salts, nonces and data keys. The
//! default, [`SystemRandom`], is a per-thread ChaCha20 generator seeded from the
//! operating system (`getrandom`; Web Crypto on wasm32), so the hot path never
//! makes a system call per message. It reseeds:
//!
//! - after every [`RESEED_AFTER_BYTES`] bytes of output;
//! - in a forked child: a `pthread_atfork` child handler bumps a process-wide
//!   fork generation ([`fork_generation`]), and every call compares it with the
//!   generation its state was seeded in. Puma, Unicorn, gunicorn and
//!   multiprocessing fork after the application loaded dekbox; the child never
//!   continues the parent's stream.

use crate::{Error, Result};
use rand_chacha::ChaCha20Rng;
use rand_core::{RngCore, SeedableRng};
use std::cell::RefCell;
use std::sync::Mutex;

/// A source of cryptographically secure random bytes.
pub trait SecureRandom: Send + Sync {
    /// Fills `dest` with random bytes.
    fn fill(&self, dest: &mut [u8]) -> Result<()>;
}

/// Bytes a thread's generator produces before it reseeds from the OS.
pub const RESEED_AFTER_BYTES: u64 = 1 << 20;

/// The default generator: thread-local ChaCha20, OS-seeded, fork-aware.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemRandom;

struct ThreadState {
    rng: ChaCha20Rng,
    fork_gen: u64,
    produced: u64,
}

thread_local! {
    static THREAD_RNG: RefCell<Option<ThreadState>> = const { RefCell::new(None) };
}

impl SecureRandom for SystemRandom {
    fn fill(&self, dest: &mut [u8]) -> Result<()> {
        let generation = fork_generation();
        THREAD_RNG.with(|cell| {
            let mut slot = cell.borrow_mut();
            let stale = match slot.as_ref() {
                None => true,
                Some(s) => s.fork_gen != generation || s.produced >= RESEED_AFTER_BYTES,
            };
            if stale {
                *slot = Some(ThreadState {
                    rng: seeded_from_os()?,
                    fork_gen: generation,
                    produced: 0,
                });
            }
            // Invariant: `slot` was filled just above if it was empty.
            let state = slot
                .as_mut()
                .ok_or(Error::ApiMisuse("random state missing"))?;
            state.rng.fill_bytes(dest);
            state.produced = state.produced.saturating_add(dest.len() as u64);
            Ok(())
        })
    }
}

fn seeded_from_os() -> Result<ChaCha20Rng> {
    let mut seed = zeroize::Zeroizing::new([0u8; 32]);
    getrandom::fill(&mut seed[..])
        .map_err(|e| Error::Config(format!("the operating system has no randomness: {e}")))?;
    Ok(ChaCha20Rng::from_seed(*seed))
}

/// Fills `dest` from the operating system directly (a system call each time).
/// Used for long-lived secrets such as key-encryption keys from `keygen`.
pub fn os_random(dest: &mut [u8]) -> Result<()> {
    getrandom::fill(dest)
        .map_err(|e| Error::Config(format!("the operating system has no randomness: {e}")))
}

/// A deterministic generator for known-answer tests and reproducible fixtures.
///
/// **Never use it to protect data**: anyone who knows the seed knows every salt,
/// nonce and data key it produced.
pub struct InsecureDeterministicRandom(Mutex<ChaCha20Rng>);

impl InsecureDeterministicRandom {
    /// A generator whose whole output is fixed by `seed`.
    pub fn from_seed(seed: [u8; 32]) -> Self {
        Self(Mutex::new(ChaCha20Rng::from_seed(seed)))
    }
}

impl SecureRandom for InsecureDeterministicRandom {
    fn fill(&self, dest: &mut [u8]) -> Result<()> {
        let mut rng = self
            .0
            .lock()
            .map_err(|_| Error::ApiMisuse("random generator lock poisoned"))?;
        rng.fill_bytes(dest);
        Ok(())
    }
}

/// Replays a fixed byte string, then fails. For known-answer vectors whose salt,
/// nonce and data key are given explicitly.
pub struct FixedBytes(Mutex<(Vec<u8>, usize)>);

impl FixedBytes {
    /// Serves `bytes` in order.
    pub fn new(bytes: Vec<u8>) -> Self {
        Self(Mutex::new((bytes, 0)))
    }
}

impl SecureRandom for FixedBytes {
    fn fill(&self, dest: &mut [u8]) -> Result<()> {
        let mut g = self
            .0
            .lock()
            .map_err(|_| Error::ApiMisuse("random generator lock poisoned"))?;
        let (bytes, pos) = &mut *g;
        let end = pos
            .checked_add(dest.len())
            .filter(|&e| e <= bytes.len())
            .ok_or(Error::ApiMisuse("FixedBytes ran out of bytes"))?;
        dest.copy_from_slice(&bytes[*pos..end]);
        *pos = end;
        Ok(())
    }
}

/// A counter that changes in every child process after `fork()`.
///
/// Compare it with a value saved earlier to learn whether this process is a
/// forked copy of the one that saved it. Always 0 on targets without `fork`.
pub fn fork_generation() -> u64 {
    fork::generation()
}

#[cfg(unix)]
mod fork {
    use std::sync::Once;
    use std::sync::atomic::{AtomicU64, Ordering};

    static GENERATION: AtomicU64 = AtomicU64::new(0);
    static REGISTER: Once = Once::new();

    extern "C" fn in_child() {
        GENERATION.fetch_add(1, Ordering::SeqCst);
    }

    pub(super) fn generation() -> u64 {
        REGISTER.call_once(|| {
            // SAFETY: registers a handler that only performs an atomic add, which
            // is async-signal-safe and valid in a freshly forked child.
            unsafe {
                libc::pthread_atfork(None, None, Some(in_child));
            }
        });
        GENERATION.load(Ordering::Acquire)
    }
}

#[cfg(not(unix))]
mod fork {
    pub(super) fn generation() -> u64 {
        0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn system_random_differs_between_calls() {
        let mut a = [0u8; 32];
        let mut b = [0u8; 32];
        SystemRandom.fill(&mut a).unwrap();
        SystemRandom.fill(&mut b).unwrap();
        assert_ne!(a, b);
    }

    #[test]
    fn system_random_reseeds_after_budget() {
        // Draw past the reseed budget; the generator must keep working.
        let mut buf = vec![0u8; 64 * 1024];
        for _ in 0..(RESEED_AFTER_BYTES as usize / buf.len() + 2) {
            SystemRandom.fill(&mut buf).unwrap();
        }
        assert!(buf.iter().any(|&b| b != 0));
    }

    #[test]
    fn fixed_bytes_replays_then_fails() {
        let r = FixedBytes::new(vec![1, 2, 3]);
        let mut a = [0u8; 2];
        r.fill(&mut a).unwrap();
        assert_eq!(a, [1, 2]);
        assert!(r.fill(&mut a).is_err());
    }

    #[cfg(unix)]
    #[test]
    fn fork_child_sees_new_generation_and_new_stream() {
        // Seed this thread's generator, then fork: the child must not continue
        // the parent's stream.
        let mut warm = [0u8; 16];
        SystemRandom.fill(&mut warm).unwrap();
        let before = fork_generation();
        let mut pipe = [0i32; 2];
        assert_eq!(unsafe { libc::pipe(pipe.as_mut_ptr()) }, 0);
        let pid = unsafe { libc::fork() };
        assert!(pid >= 0);
        if pid == 0 {
            let mut out = [0u8; 40];
            out[..8].copy_from_slice(&fork_generation().to_le_bytes());
            let mut r = [0u8; 32];
            let ok = SystemRandom.fill(&mut r).is_ok();
            out[8..].copy_from_slice(&r);
            unsafe {
                libc::write(pipe[1], out.as_ptr().cast(), out.len());
                libc::_exit(if ok { 0 } else { 1 });
            }
        }
        let mut parent = [0u8; 32];
        SystemRandom.fill(&mut parent).unwrap();
        let mut got = [0u8; 40];
        let n = unsafe { libc::read(pipe[0], got.as_mut_ptr().cast(), got.len()) };
        let mut status = 0;
        unsafe { libc::waitpid(pid, &mut status, 0) };
        assert_eq!(n, 40);
        let child_gen = u64::from_le_bytes(got[..8].try_into().unwrap());
        assert_ne!(
            child_gen, before,
            "child must observe a new fork generation"
        );
        assert_eq!(fork_generation(), before, "parent generation unchanged");
        assert_ne!(&got[8..], &parent[..], "child repeated the parent's stream");
    }
}
