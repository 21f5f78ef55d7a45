//! One timer table for everything a node waits for: request
//! retransmissions, operation deadlines, and periodic upkeep. Times are
//! milliseconds on the node's monotonic clock.
//!
//! Each key has at most one deadline; setting it again moves it. The next
//! deadline and the next due key cost O(log n).

use std::collections::{BTreeMap, BTreeSet};

/// Deadlines by key, and keys by deadline.
#[derive(Debug)]
pub(crate) struct TimerTable<K> {
    by_key: BTreeMap<K, u64>,
    by_time: BTreeSet<(u64, K)>,
}

impl<K> Default for TimerTable<K> {
    fn default() -> Self {
        Self {
            by_key: BTreeMap::new(),
            by_time: BTreeSet::new(),
        }
    }
}

impl<K: Ord + Copy> TimerTable<K> {
    /// Sets (or moves) `key`'s deadline to `at`.
    pub(crate) fn set(&mut self, key: K, at: u64) {
        if let Some(old) = self.by_key.insert(key, at) {
            self.by_time.remove(&(old, key));
        }
        self.by_time.insert((at, key));
    }

    /// Moves `key`'s deadline to `at` if that is sooner (or it has none).
    pub(crate) fn set_earlier(&mut self, key: K, at: u64) {
        if self.by_key.get(&key).is_none_or(|old| at < *old) {
            self.set(key, at);
        }
    }

    pub(crate) fn cancel(&mut self, key: K) {
        if let Some(old) = self.by_key.remove(&key) {
            self.by_time.remove(&(old, key));
        }
    }

    /// The soonest deadline.
    pub(crate) fn next(&self) -> Option<u64> {
        self.by_time.first().map(|(at, _)| *at)
    }

    /// Takes the soonest key due at `now`, if any.
    pub(crate) fn pop_due(&mut self, now: u64) -> Option<K> {
        let &(at, key) = self.by_time.first()?;
        if at > now {
            return None;
        }
        self.by_time.pop_first();
        self.by_key.remove(&key);
        Some(key)
    }

    pub(crate) fn clear(&mut self) {
        self.by_key.clear();
        self.by_time.clear();
    }

    #[cfg(test)]
    pub(crate) fn get(&self, key: K) -> Option<u64> {
        self.by_key.get(&key).copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
    enum Timer {
        Request(u64),
        Stabilize,
        Purge,
    }

    #[test]
    fn keys_come_due_in_time_order_and_move_when_set_again() {
        let mut t = TimerTable::<Timer>::default();
        t.set(Timer::Stabilize, 50);
        t.set(Timer::Request(1), 30);
        t.set(Timer::Purge, 40);
        t.set(Timer::Request(1), 60);
        t.set_earlier(Timer::Purge, 45);
        t.set_earlier(Timer::Stabilize, 10);
        assert_eq!(t.next(), Some(10));
        assert_eq!(t.pop_due(9), None);
        assert_eq!(t.pop_due(100), Some(Timer::Stabilize));
        t.cancel(Timer::Purge);
        assert_eq!(t.pop_due(100), Some(Timer::Request(1)));
        assert_eq!(t.pop_due(100), None);
        assert_eq!(t.next(), None);
    }
}
