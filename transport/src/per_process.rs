//! [`PerProcess`]: one value per process, rebuilt in a forked child.

use dekbox_core::Result;
use dekbox_core::random::fork_generation;
use std::sync::Mutex;

/// A value built once per process: an HTTP client, an async runtime. After
/// `fork()` the inherited one depends on threads and connections that exist
/// only in the parent (reqwest's blocking client and Tokio run their own
/// threads), so a child builds its own, and the parent's is leaked, never
/// dropped (dropping it would wait for threads the child does not have).
///
/// The lock is held only to read or swap the slot, never while a client is
/// built (which starts a thread): a fork can never leave it held by a thread
/// that is doing something slow.
pub struct PerProcess<T>(Mutex<Option<(u64, T)>>);

impl<T> PerProcess<T> {
    /// An empty slot (usable in a `static`).
    pub const fn new() -> Self {
        Self(Mutex::new(None))
    }
}

impl<T> Default for PerProcess<T> {
    fn default() -> Self {
        Self(Mutex::new(None))
    }
}

impl<T> std::fmt::Debug for PerProcess<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PerProcess { .. }")
    }
}

impl<T> Drop for PerProcess<T> {
    fn drop(&mut self) {
        let slot = self.0.get_mut().unwrap_or_else(|p| p.into_inner());
        if let Some((g, client)) = slot.take() {
            if g == fork_generation() {
                drop(client);
            } else {
                // Inherited from the parent: see `get`.
                std::mem::forget(client);
            }
        }
    }
}

impl<T: Clone> PerProcess<T> {
    /// This process's value, built by `make` on first use in each process.
    pub fn get(&self, make: impl FnOnce() -> Result<T>) -> Result<T> {
        self.get_with(make, drop)
    }

    /// [`get`](Self::get), with `discard` for a value that lost the race to
    /// be built (two threads built one at once): a value that must not simply
    /// be dropped (a Tokio runtime, inside an async context) is shut down.
    pub fn get_with(&self, make: impl FnOnce() -> Result<T>, discard: impl FnOnce(T)) -> Result<T> {
        let generation = fork_generation();
        if let Some(client) = self.current(generation) {
            return Ok(client);
        }
        let client = make()?;
        let mut slot = self.0.lock().unwrap_or_else(|p| p.into_inner());
        match slot.as_ref() {
            // Another thread built one meanwhile: use it, and drop ours
            // (built in this process, so dropping it is safe) after unlocking.
            Some((g, theirs)) if *g == generation => {
                let theirs = theirs.clone();
                drop(slot);
                discard(client);
                Ok(theirs)
            }
            _ => {
                // The parent's client is leaked, not dropped: dropping it would
                // wait for a runtime thread that does not exist in this process.
                if let Some(stale) = slot.replace((generation, client.clone())) {
                    std::mem::forget(stale);
                }
                Ok(client)
            }
        }
    }

    fn current(&self, generation: u64) -> Option<T> {
        let slot = self.0.lock().unwrap_or_else(|p| p.into_inner());
        slot.as_ref()
            .filter(|(g, _)| *g == generation)
            .map(|(_, c)| c.clone())
    }
}
