//! The records this node keeps, with what writing them needs: the access
//! policy, the wall clock (records expire by it), and the signatures a
//! batch check vouched for before the records are stored.

use std::sync::Arc;

use lsp_core::store::{RecordStore, StoreStats};
use lsp_core::{
    AccessPolicy, Aor, CheckedAhead, Clock, OwnRecord, ResourceId, SignedRecord, UnixTime,
};

use crate::config::Config;
use crate::ring::Point;
use crate::wire::{DIGEST_SETTLE, StoreOutcome, settled_before};

/// Records whose signatures a batch check may vouch for before they are
/// stored: more than one driver turn brings.
const AHEAD_CHECKED: usize = 1024;

#[derive(Debug)]
pub(super) struct Storage {
    store: RecordStore,
    /// Records whose signatures a batch checked; see `batch.rs`.
    ahead: CheckedAhead,
    policy: Arc<dyn AccessPolicy>,
    clock: Arc<dyn Clock>,
}

impl Storage {
    pub(super) fn new(cfg: &Config) -> Self {
        Self {
            // Replicas compare digests of settled records: a record that a
            // write replaced counts until the write has settled.
            store: RecordStore::with_shards(cfg.limits, 1).remember_replaced(DIGEST_SETTLE),
            ahead: CheckedAhead::new(AHEAD_CHECKED),
            policy: cfg.policy.clone(),
            clock: cfg.clock.clone(),
        }
    }

    pub(super) fn store(&self) -> &RecordStore {
        &self.store
    }

    pub(super) fn stats(&self) -> StoreStats {
        self.store.stats()
    }

    /// The wall clock, for record expiry only.
    pub(super) fn wall(&self) -> UnixTime {
        self.clock.now()
    }

    /// Stores a record, checked under the policy (its signature too,
    /// unless a batch check vouched for it).
    pub(super) fn put(&mut self, record: &SignedRecord) -> StoreOutcome {
        let now = self.wall();
        StoreOutcome::from_result(self.store.publish_checked(
            record,
            &mut self.ahead,
            self.policy.as_ref(),
            now,
            |_| Ok(()),
        ))
    }

    /// [`Storage::put`] on condition: refused as a replay where the
    /// publisher's record held is newer than version `replaces`.
    pub(super) fn put_replacing(&mut self, record: &SignedRecord, replaces: u64) -> StoreOutcome {
        let now = self.wall();
        StoreOutcome::from_result(self.store.publish_checked_replacing(
            record,
            replaces,
            &mut self.ahead,
            self.policy.as_ref(),
            now,
            |_| Ok(()),
        ))
    }

    /// [`Storage::put_own`] on the condition of [`Storage::put_replacing`].
    pub(super) fn put_own_replacing(&mut self, own: &OwnRecord, replaces: u64) -> StoreOutcome {
        let now = self.wall();
        StoreOutcome::from_result(self.store.publish_own_replacing(
            own,
            replaces,
            self.policy.as_ref(),
            now,
            |_| Ok(()),
        ))
    }

    /// [`Storage::put`] for a record signed in this process, whose
    /// signature is not checked again.
    pub(super) fn put_own(&mut self, own: &OwnRecord) -> StoreOutcome {
        let now = self.wall();
        StoreOutcome::from_result(self.store.publish_own(
            own,
            self.policy.as_ref(),
            now,
            |_| Ok(()),
        ))
    }

    /// Checks the signatures of `records` in one batch, so that storing
    /// them later skips the check.
    pub(super) fn check_ahead(&mut self, records: &[&SignedRecord]) {
        self.ahead.check(records);
    }

    /// The live records of `aor`.
    pub(super) fn fetch(&self, aor: &Aor) -> Vec<SignedRecord> {
        self.store.fetch(aor, self.wall()).unwrap_or_default()
    }

    /// Whether this exact record is kept (it was checked when stored).
    pub(super) fn holds(&self, record: &SignedRecord) -> bool {
        self.store.holds(record, self.wall())
    }

    /// The live records whose Resource-ID `wanted` accepts.
    pub(super) fn records_where(
        &self,
        wanted: impl FnMut(ResourceId) -> bool,
    ) -> Vec<SignedRecord> {
        self.store
            .records_where(self.wall(), wanted)
            .into_iter()
            .map(|(_, r)| r)
            .collect()
    }

    /// The live records for Resource-IDs in `(from, to]`.
    pub(super) fn records_in(&self, from: Point, to: Point) -> Vec<SignedRecord> {
        self.records_where(|rid| Point::from(rid).in_open_closed(from, to))
    }

    /// The digest of the records in `(from, to]` settled at `at`.
    pub(super) fn digest_in(&self, from: Point, to: Point, at: UnixTime) -> [u8; 32] {
        self.store.digest_settled(at, settled_before(at), |rid| {
            Point::from(rid).in_open_closed(from, to)
        })
    }

    /// Drops the records of `aor` whose encoding `sent` accepts.
    pub(super) fn forget(&mut self, aor: &Aor, sent: impl Fn(&[u8]) -> bool) {
        self.store.forget(aor, sent);
    }

    /// Reclaims expired records.
    pub(super) fn purge(&mut self) {
        let wall = self.wall();
        self.store.purge_shard(0, wall, |_| {});
    }

    /// The records a batch check vouched for, not yet stored.
    #[cfg(test)]
    pub(super) fn ahead(&self) -> &CheckedAhead {
        &self.ahead
    }

    /// Forgets what batch checks vouched for, keeping room for `cap`.
    #[cfg(test)]
    pub(super) fn reset_ahead(&mut self, cap: usize) {
        self.ahead = CheckedAhead::new(cap);
    }
}
