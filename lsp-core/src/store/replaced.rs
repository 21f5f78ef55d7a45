//! The settled records that writes replaced, each kept until its
//! replacement has settled, so that a digest counts what a store held a
//! while ago and not what reached it in the last milliseconds
//! ([`super::RecordStore::digest_settled`]).
//!
//! Two replicas never take their digests at the same instant. Without
//! this, a write that replaces a settled record takes that record out of
//! one replica's digest before the other's has seen the write, and under a
//! steady load of re-registrations nearly every digest differs.

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use super::entry;
use crate::{PublicKey, ResourceId, UnixTime};

/// How long past its window an entry is kept: for replicas whose clocks,
/// and whose digests' moments, differ by up to this much.
const MARGIN_MS: u64 = 5_000;

/// A settled record that a write replaced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Was {
    pub(crate) version: u64,
    /// BLAKE3 of its stored bytes, as a digest counts it.
    pub(crate) hash: [u8; 32],
    /// The latest expiry of its bindings.
    pub(crate) live_until: UnixTime,
    /// The version of the newest write since: the one held now.
    replaced_by: u64,
}

/// (Resource-ID, publisher), by their first 8 bytes: a collision costs at
/// worst a digest that differs.
type Key = (u64, u64);

fn key(rid: &ResourceId, publisher: &PublicKey) -> Key {
    (rid.prefix_u64(), prefix(&publisher.0))
}

fn prefix(bytes: &[u8; 32]) -> u64 {
    let mut first = [0u8; 8];
    first.copy_from_slice(&bytes[..8]);
    u64::from_be_bytes(first)
}

/// About 10 s of writes; bounded, and a write it has no room for costs at
/// worst a digest that differs.
#[derive(Debug)]
pub(crate) struct Replaced {
    /// A version below the clock minus this has settled.
    window_ms: u64,
    max: usize,
    map: HashMap<Key, Was>,
    /// The keys written, oldest first, with the clock then; a key written
    /// again is listed again.
    order: VecDeque<(u64, Key)>,
}

impl Replaced {
    pub(crate) fn new(window: Duration, max: usize) -> Self {
        Self {
            window_ms: u64::try_from(window.as_millis()).unwrap_or(u64::MAX),
            max: max.max(1),
            map: HashMap::new(),
            order: VecDeque::new(),
        }
    }

    /// A write of version `version` replaced the record stored as `old`
    /// (its version `old_version`) at `now`. A settled one is remembered;
    /// an unsettled one was itself a replacement, whose settled record, if
    /// remembered, stays the one to count.
    pub(crate) fn replaced(
        &mut self,
        rid: &ResourceId,
        publisher: &PublicKey,
        old_version: u64,
        old: &[u8],
        version: u64,
        now: UnixTime,
    ) {
        let now_ms = now.as_millis();
        self.prune(now_ms);
        let key = key(rid, publisher);
        if self.order.len() >= 2 * self.max {
            // No room to know when to forget it: forget it now.
            self.map.remove(&key);
            return;
        }
        if old_version < now_ms.saturating_sub(self.window_ms) {
            if self.map.len() >= self.max && !self.map.contains_key(&key) {
                return;
            }
            let live_until = entry::view(old)
                .ok()
                .and_then(|r| r.bindings.iter().map(|b| b.expires_at).max())
                .unwrap_or(UnixTime(0));
            let was = Was {
                version: old_version,
                hash: *blake3::hash(old).as_bytes(),
                live_until,
                replaced_by: version,
            };
            self.map.insert(key, was);
        } else if let Some(was) = self.map.get_mut(&key) {
            was.replaced_by = version;
        } else {
            return;
        }
        self.order.push_back((now_ms, key));
    }

    /// The settled record to count for `publisher`'s record of `rid`, whose
    /// version held now has not settled (is not below `settled_before`).
    pub(crate) fn settled(
        &self,
        rid: &ResourceId,
        publisher: &PublicKey,
        settled_before: u64,
    ) -> Option<Was> {
        self.map
            .get(&key(rid, publisher))
            .filter(|was| was.version < settled_before)
            .copied()
    }

    /// Forgets each entry whose newest write has settled past any doubt.
    fn prune(&mut self, now_ms: u64) {
        let cutoff = now_ms.saturating_sub(self.window_ms.saturating_add(MARGIN_MS));
        while let Some(&(at, key)) = self.order.front() {
            if at >= cutoff {
                break;
            }
            self.order.pop_front();
            if self.map.get(&key).is_some_and(|w| w.replaced_by < cutoff) {
                self.map.remove(&key);
            }
        }
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.map.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids() -> (ResourceId, PublicKey) {
        (ResourceId([1; 32]), PublicKey([2; 32]))
    }

    const SECOND: u64 = 1_000;

    #[test]
    fn a_settled_record_is_counted_until_its_replacement_settles() {
        let mut r = Replaced::new(Duration::from_secs(10), 16);
        let (rid, key) = ids();
        let t = 1_000_000 * SECOND;
        // Version t - 60 s, settled, replaced at t by version t.
        r.replaced(&rid, &key, t - 60 * SECOND, b"old", t, UnixTime(t));
        let was = r.settled(&rid, &key, t - 10 * SECOND).expect("remembered");
        assert_eq!(was.version, t - 60 * SECOND);
        assert_eq!(was.hash, *blake3::hash(b"old").as_bytes());
        // Replaced again 2 s later, before settling: the settled one stays.
        r.replaced(
            &rid,
            &key,
            t,
            b"mid",
            t + 2 * SECOND,
            UnixTime(t + 2 * SECOND),
        );
        let again = r.settled(&rid, &key, t - 8 * SECOND).expect("still");
        assert_eq!(again.version, t - 60 * SECOND);
        // Once the newest write has settled past the margin, forgotten.
        let later = t + 2 * SECOND + 10 * SECOND + MARGIN_MS + 1;
        r.replaced(&rid, &PublicKey([9; 32]), 0, b"x", later, UnixTime(later));
        assert!(r.settled(&rid, &key, later).is_none());
        assert_eq!(r.len(), 1, "only the last write's");
    }

    #[test]
    fn an_unsettled_record_replaced_is_not_remembered() {
        let mut r = Replaced::new(Duration::from_secs(10), 16);
        let (rid, key) = ids();
        let t = 1_000_000 * SECOND;
        r.replaced(&rid, &key, t - SECOND, b"new", t, UnixTime(t));
        assert!(r.settled(&rid, &key, u64::MAX).is_none());
    }

    #[test]
    fn it_holds_at_most_its_bound() {
        let mut r = Replaced::new(Duration::from_secs(10), 4);
        let t = 1_000_000 * SECOND;
        for i in 0..100u8 {
            let rid = ResourceId([i; 32]);
            r.replaced(&rid, &PublicKey([i; 32]), 0, b"old", t, UnixTime(t));
        }
        assert_eq!(r.len(), 4);
        assert!(r.order.len() <= 8);
    }
}
