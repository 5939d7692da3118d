//! Wall-clock time as a plain value. The core never reads a clock itself.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A point in time, in milliseconds since the Unix epoch, supplied by the caller.
///
/// Cache expiry compares two `Timestamp`s with saturating arithmetic, so a clock
/// that steps backwards never makes an entry live longer than its age limit
/// measured forwards; it only delays expiry until time passes again.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Timestamp(u64);

impl Timestamp {
    /// Milliseconds since 1970-01-01T00:00:00Z.
    pub const fn from_unix_millis(ms: u64) -> Self {
        Self(ms)
    }

    /// Converts a `SystemTime` the caller already read (times before the epoch clamp to 0).
    pub fn from_system_time(t: SystemTime) -> Self {
        let ms = t
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis().min(u128::from(u64::MAX)) as u64)
            .unwrap_or(0);
        Self(ms)
    }

    /// Milliseconds since the Unix epoch.
    pub const fn as_unix_millis(self) -> u64 {
        self.0
    }

    /// Time elapsed since `earlier`, zero if `earlier` is in the future.
    pub fn since(self, earlier: Timestamp) -> Duration {
        Duration::from_millis(self.0.saturating_sub(earlier.0))
    }

    /// This time plus `d`, saturating.
    pub fn plus(self, d: Duration) -> Timestamp {
        Timestamp(
            self.0
                .saturating_add(d.as_millis().min(u128::from(u64::MAX)) as u64),
        )
    }
}
