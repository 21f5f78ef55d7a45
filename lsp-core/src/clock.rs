//! Time as an input, so that expiry can be tested without waiting.

use std::cell::Cell;
use std::fmt::Debug;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use crate::UnixTime;

/// A source of the current time.
pub trait Clock: Send + Sync + Debug {
    /// The current time.
    fn now(&self) -> UnixTime;
}

/// A shared clock, so that a test can keep a handle to advance it.
impl<C: Clock + ?Sized> Clock for std::sync::Arc<C> {
    fn now(&self) -> UnixTime {
        (**self).now()
    }
}

/// The operating system's wall clock, as [`UnixTime::now`] reads it.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> UnixTime {
        UnixTime::now()
    }
}

/// How long a thread extrapolates the wall clock from the CPU's counter
/// before it reads the system clock again.
const REANCHOR_NS: u64 = 10_000_000;

thread_local! {
    /// (counter, wall-clock nanoseconds) when this thread last read the
    /// system clock.
    static ANCHOR: Cell<Option<(u64, u64)>> = const { Cell::new(None) };
}

/// The system clock in milliseconds, read through the CPU's time-stamp
/// counter between system reads at most [`REANCHOR_NS`] apart.
///
/// The system read (vDSO `clock_gettime`) fences the pipeline; a query that
/// does it cannot overlap its memory misses with the next query's. Drift of
/// the counter against the system clock over 10 ms is microseconds, far
/// below the millisecond resolution of expiry.
pub(crate) fn wall_ms() -> u64 {
    static COUNTER: OnceLock<quanta::Clock> = OnceLock::new();
    let counter = COUNTER.get_or_init(quanta::Clock::new);
    let raw = counter.raw();
    ANCHOR.with(|anchor| {
        if let Some((at, wall_ns)) = anchor.get() {
            // A counter read behind the anchor (another core) counts as 0.
            let elapsed = counter.delta_as_nanos(at, raw);
            if elapsed < REANCHOR_NS {
                return (wall_ns + elapsed) / 1_000_000;
            }
        }
        let wall_ns = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX));
        anchor.set(Some((counter.raw(), wall_ns)));
        wall_ns / 1_000_000
    })
}

/// A clock that moves only when told to: for tests and simulations.
#[derive(Debug, Default)]
pub struct ManualClock(AtomicU64);

impl ManualClock {
    /// A clock reading `start`.
    pub fn new(start: UnixTime) -> Self {
        Self(AtomicU64::new(start.0))
    }

    /// Moves the clock forward by `d`.
    pub fn advance(&self, d: Duration) {
        let ms = u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        self.0.fetch_add(ms, Ordering::SeqCst);
    }

    /// Sets the reading.
    pub fn set(&self, t: UnixTime) {
        self.0.store(t.0, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> UnixTime {
        UnixTime(self.0.load(Ordering::SeqCst))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn system_ms() -> u64 {
        let since = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH);
        since.map_or(0, |d| d.as_millis() as u64)
    }

    #[test]
    fn the_counted_clock_tracks_the_system_clock() {
        let threads: Vec<_> = (0..2)
            .map(|_| {
                std::thread::spawn(|| {
                    for round in 0..40 {
                        let before = system_ms();
                        let ours = UnixTime::now().as_millis();
                        let after = system_ms();
                        assert!(
                            before <= ours + 1 && ours <= after + 1,
                            "round {round}: {before} <= {ours} <= {after}"
                        );
                        // Cross the re-read interval now and then.
                        std::thread::sleep(Duration::from_millis(round % 13));
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().expect("clock thread");
        }
    }
}
