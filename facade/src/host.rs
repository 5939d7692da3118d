//! What a language runtime supplies to the facade: how to leave its lock, how
//! to make its byte objects, how to express a dekbox error.

use dekbox_core::Error;
use std::mem::MaybeUninit;

/// A language runtime, as the facade's blocking methods see it.
///
/// Python's implementation releases the GIL and fills new `bytes` objects in
/// place; Node's would fill `Buffer`s; [`Direct`] (Rust, the CLI) does
/// neither.
pub trait Host {
    /// The host's byte string (`bytes`, `Buffer`, `Vec<u8>`).
    type Bytes;
    /// The host's error (an exception).
    type Error;

    /// Converts a dekbox error.
    fn error(&self, e: Error) -> Self::Error;

    /// Runs `f` without holding the host's lock (the GIL, the GVL), so other
    /// host threads run meanwhile. The facade calls it only for work that may
    /// wait on the network or take long: never for an `encrypt`/`decrypt`
    /// cache hit of a small value.
    fn release<R: Send>(&self, f: impl FnOnce() -> R + Send) -> R;

    /// A new byte string of exactly `len` bytes, written by `fill`. The
    /// storage may be uninitialised: `fill` writes every byte on success.
    fn new_bytes(
        &self,
        len: usize,
        fill: impl FnOnce(&mut [MaybeUninit<u8>]) -> Result<(), Self::Error>,
    ) -> Result<Self::Bytes, Self::Error>;

    /// A byte string holding a copy of `bytes`.
    fn bytes(&self, bytes: &[u8]) -> Result<Self::Bytes, Self::Error> {
        self.new_bytes(bytes.len(), |out| {
            for (o, b) in out.iter_mut().zip(bytes) {
                o.write(*b);
            }
            Ok(())
        })
    }
}

/// The host for Rust callers: no lock to release, `Vec<u8>` bytes, dekbox errors.
#[derive(Clone, Copy, Debug, Default)]
pub struct Direct;

impl Host for Direct {
    type Bytes = Vec<u8>;
    type Error = Error;

    fn error(&self, e: Error) -> Error {
        e
    }

    fn release<R: Send>(&self, f: impl FnOnce() -> R + Send) -> R {
        f()
    }

    fn new_bytes(
        &self,
        len: usize,
        fill: impl FnOnce(&mut [MaybeUninit<u8>]) -> Result<(), Error>,
    ) -> Result<Vec<u8>, Error> {
        let mut v = Vec::with_capacity(len);
        fill(&mut v.spare_capacity_mut()[..len])?;
        // SAFETY: `fill` succeeded, so it wrote all `len` bytes (the
        // contract of `new_bytes`, upheld by the facade's fillers).
        unsafe { v.set_len(len) };
        Ok(v)
    }

    fn bytes(&self, bytes: &[u8]) -> Result<Vec<u8>, Error> {
        Ok(bytes.to_vec())
    }
}
