//! The in-memory soft-state record store shared by every node kind.
//!
//! Each AOR's records are kept packed in one heap block (see `entry.rs`), in
//! a `hashbrown` table per lock shard, found by the AOR's Resource-ID. The
//! store verifies signatures, enforces the access policy, refuses replays,
//! and never shows an expired binding. Expired state is reclaimed a shard at
//! a time by [`RecordStore::purge_shard`].

pub(crate) mod entry;
mod replaced;

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Duration;

use hashbrown::hash_table::{Entry as TableEntry, HashTable};

use crate::{
    AccessPolicy, Aor, Binding, CheckedAhead, Error, OwnRecord, PublicKey, ResourceId,
    SignedRecord, StorageError, StoreLimit, UnixTime,
};
use entry::Slot;
use replaced::Replaced;

const SHARDS: usize = 64;

/// The most replaced records [`RecordStore::remember_replaced`] keeps:
/// about 16 MB, and 10 s of writes at 13,000 a second.
pub const REPLACED_MAX: usize = 1 << 17;

/// How a write knows the record's signature verifies.
enum Check<'a> {
    /// It checks it.
    Always,
    /// It was signed in this process, or is kept unsigned until this
    /// process signs it.
    Signed,
    /// It was checked in a batch if `ahead` knows it; else it checks it.
    UnlessAhead(&'a mut CheckedAhead),
}

/// One shard's packed entries. The table keeps no hash: one is recomputed
/// from the entry's AOR only when the table grows.
type Table = HashTable<Box<[u8]>>;

/// Limits of a [`RecordStore`]. Hitting one is an error the publisher sees.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct StoreLimits {
    /// Most records (one per AOR and publisher).
    pub max_records: usize,
    /// Most records of one publisher, as a fraction of `max_records`: at
    /// most `max_records / publisher_share`, unless the policy vouches for
    /// the publisher's authority over the AOR (a domain's trust anchor,
    /// which publishes every user of its domain). One key cannot fill the
    /// store that every other publisher needs.
    pub publisher_share: usize,
    /// Most bytes of encoded records.
    pub max_bytes: usize,
    /// Largest encoded record.
    pub max_record_bytes: usize,
    /// Most bindings in one record.
    pub max_bindings: usize,
    /// Furthest ahead a binding may expire.
    pub max_ttl: Duration,
}

impl Default for StoreLimits {
    fn default() -> Self {
        Self {
            max_records: 10_000_000,
            publisher_share: 64,
            max_bytes: 4 << 30,
            max_record_bytes: 16 * 1024,
            max_bindings: 64,
            max_ttl: Duration::from_secs(24 * 3600),
        }
    }
}

/// What a write is about to do, as an on-disk copy must mirror it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// The AOR's packed entry becomes this.
    Stored(ResourceId, Box<[u8]>),
    /// The AOR has no state left.
    Removed(ResourceId),
}

/// What a write did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Written {
    /// The store already held this exact record.
    Unchanged,
    /// The record is stored.
    Stored,
    /// The publisher's record, and with it maybe the AOR, is gone.
    Removed,
}

/// Counts of what a store holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct StoreStats {
    /// AORs with at least one record.
    pub aors: usize,
    /// Records (one per AOR and publisher).
    pub records: usize,
    /// Bytes of packed entries.
    pub bytes: usize,
}

/// A sharded, bounded, soft-state store of signed records.
pub struct RecordStore {
    shards: Box<[RwLock<Table>]>,
    limits: StoreLimits,
    records: AtomicUsize,
    bytes: AtomicUsize,
    /// Records held per publisher, lapsed ones not yet dropped included.
    /// Taken after a shard lock, never before one.
    publishers: Mutex<HashMap<PublicKey, usize>>,
    /// The settled records that writes replaced, for digests, when asked
    /// for ([`RecordStore::remember_replaced`]). Taken after a shard lock,
    /// never before one.
    replaced: Option<Mutex<Replaced>>,
}

impl std::fmt::Debug for RecordStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecordStore")
            .field("shards", &self.shards.len())
            .field("limits", &self.limits)
            .field("stats", &self.stats())
            .finish()
    }
}

impl RecordStore {
    /// An empty store with these limits.
    pub fn new(limits: StoreLimits) -> Self {
        Self::with_shards(limits, SHARDS)
    }

    /// An empty store with `shards` lock shards (at least 1, at most 256,
    /// rounded up to a power of two).
    /// A store used from one thread, as a Chord node's is, needs only one.
    pub fn with_shards(limits: StoreLimits, shards: usize) -> Self {
        Self {
            shards: (0..shards.clamp(1, 256).next_power_of_two())
                .map(|_| RwLock::default())
                .collect(),
            limits,
            records: AtomicUsize::new(0),
            bytes: AtomicUsize::new(0),
            publishers: Mutex::default(),
            replaced: None,
        }
    }

    /// Keeps, for a while, each settled record that a write replaces, so
    /// that [`RecordStore::digest_settled`] counts it until the write has
    /// settled too: a version below the clock minus `window` has settled.
    /// Two replicas then agree under a steady load of replacements, though
    /// they take their digests at different instants. At most
    /// [`REPLACED_MAX`] entries, about 120 bytes each.
    pub fn remember_replaced(mut self, window: Duration) -> Self {
        let max = self.limits.max_records.min(REPLACED_MAX);
        self.replaced = Some(Mutex::new(Replaced::new(window, max)));
        self
    }

    /// The limits in force.
    pub fn limits(&self) -> &StoreLimits {
        &self.limits
    }

    /// How many shards [`RecordStore::purge_shard`] cycles through.
    pub fn shard_count(&self) -> usize {
        self.shards.len()
    }

    /// Checks and stores a record, replacing its publisher's older version.
    ///
    /// `commit` sees the change before memory does, under the AOR's shard
    /// lock; if it fails, the store is left as it was. An on-disk copy
    /// writes through there, in the same order as memory.
    pub fn publish(
        &self,
        record: &SignedRecord,
        policy: &dyn AccessPolicy,
        now: UnixTime,
        commit: impl FnOnce(&Change) -> Result<(), Error>,
    ) -> Result<Written, Error> {
        self.write_record(record, Check::Always, None, policy, now, commit)
    }

    /// [`RecordStore::publish`] for a record signed in this process: the
    /// signature is known to verify and is not checked again.
    pub fn publish_own(
        &self,
        record: &OwnRecord,
        policy: &dyn AccessPolicy,
        now: UnixTime,
        commit: impl FnOnce(&Change) -> Result<(), Error>,
    ) -> Result<Written, Error> {
        self.write_record(record.signed(), Check::Signed, None, policy, now, commit)
    }

    /// [`RecordStore::publish`] for a record that this process will sign
    /// when it hands it out: its signature slot holds `UNSIGNED`.
    /// With `replaces`, as [`RecordStore::publish_own_replacing`].
    pub(crate) fn publish_unsigned(
        &self,
        record: &SignedRecord,
        replaces: Option<u64>,
        policy: &dyn AccessPolicy,
        now: UnixTime,
        commit: impl FnOnce(&Change) -> Result<(), Error>,
    ) -> Result<Written, Error> {
        self.write_record(record, Check::Signed, replaces, policy, now, commit)
    }

    /// [`RecordStore::publish_own`] on condition: where the publisher's
    /// stored record is newer than version `replaces`, the record is
    /// refused as [`Error::Replay`]. A writer that remembers the version it
    /// last wrote can so offer a version from the clock and still never
    /// overwrite a newer write it has not seen.
    pub fn publish_own_replacing(
        &self,
        record: &OwnRecord,
        replaces: u64,
        policy: &dyn AccessPolicy,
        now: UnixTime,
        commit: impl FnOnce(&Change) -> Result<(), Error>,
    ) -> Result<Written, Error> {
        let check = Check::Signed;
        self.write_record(record.signed(), check, Some(replaces), policy, now, commit)
    }

    /// [`RecordStore::publish_checked`] on the condition of
    /// [`RecordStore::publish_own_replacing`].
    pub fn publish_checked_replacing(
        &self,
        record: &SignedRecord,
        replaces: u64,
        ahead: &mut CheckedAhead,
        policy: &dyn AccessPolicy,
        now: UnixTime,
        commit: impl FnOnce(&Change) -> Result<(), Error>,
    ) -> Result<Written, Error> {
        let check = Check::UnlessAhead(ahead);
        self.write_record(record, check, Some(replaces), policy, now, commit)
    }

    /// [`RecordStore::publish`] that skips the signature check of a record
    /// that `ahead` checked, and uses that up; any other record is checked.
    pub fn publish_checked(
        &self,
        record: &SignedRecord,
        ahead: &mut CheckedAhead,
        policy: &dyn AccessPolicy,
        now: UnixTime,
        commit: impl FnOnce(&Change) -> Result<(), Error>,
    ) -> Result<Written, Error> {
        self.write_record(record, Check::UnlessAhead(ahead), None, policy, now, commit)
    }

    fn write_record(
        &self,
        record: &SignedRecord,
        check: Check<'_>,
        replaces: Option<u64>,
        policy: &dyn AccessPolicy,
        now: UnixTime,
        commit: impl FnOnce(&Change) -> Result<(), Error>,
    ) -> Result<Written, Error> {
        let bytes = record.to_bytes()?;
        self.check_shape(record, bytes.len(), now)?;
        // A copy identical to a live stored one was checked when it was
        // stored: replicas receive each record more than once.
        if self.holds_exactly(&record.record.aor, &bytes, now) {
            return Ok(Written::Unchanged);
        }
        let checked = match check {
            Check::Always => false,
            Check::Signed => true,
            Check::UnlessAhead(ahead) => ahead.take(&bytes),
        };
        if !checked {
            record.verify()?;
        }
        let aor = &record.record.aor;
        let rid = aor.resource_id();
        let text = aor.as_str().as_bytes();
        let mut table = self.write(rid);
        let place = table.entry(
            rid.prefix_u64(),
            |e| entry::aor_bytes(e) == text,
            |e| hash_of(e),
        );
        let old: &[u8] = match &place {
            TableEntry::Occupied(e) => e.get(),
            TableEntry::Vacant(_) => &[],
        };

        // The live records of this AOR, and which of them is the publisher's.
        let mut live = Vec::new();
        let mut mine = None;
        for slot in entry::slots(old).filter(|s| s.keep_until > now) {
            let read = entry::view(slot.bytes).map_err(corrupt)?;
            if read.publisher() == record.publisher {
                mine = Some((read.version, slot));
            } else {
                live.push((read.publisher(), slot));
            }
        }
        let mut owners: Vec<PublicKey> = live.iter().map(|(k, _)| *k).collect();
        if mine.is_some() {
            owners.push(record.publisher);
        }
        policy.authorize(record, &owners)?;

        let mut keep_until = record.record.last_expiry().unwrap_or(now);
        if let Some((stored, slot)) = mine {
            let offered = record.record.version;
            if offered == stored && slot.bytes == bytes.as_slice() {
                return Ok(Written::Unchanged);
            }
            if offered <= stored || replaces.is_some_and(|r| stored > r) {
                return Err(Error::Replay { stored, offered });
            }
            // An older version must stay refused for as long as it could
            // still hold a live binding.
            keep_until = keep_until.max(slot.keep_until);
        }

        let new_slot = (keep_until > now).then_some(Slot {
            keep_until,
            bytes: &bytes,
        });
        let packed = entry::pack(live.iter().map(|(_, s)| *s).chain(new_slot));
        let old_records = entry::slots(old).count();
        let new_records = entry::slots(&packed).count();
        let old_len = old.len();
        let new_len = if new_records == 0 { 0 } else { packed.len() };
        let over = |counter: &AtomicUsize, old: usize, new: usize, limit: usize| {
            new > old && counter.load(Ordering::Relaxed) + new - old > limit
        };
        let l = &self.limits;
        let publisher = record.publisher;
        let gains = new_slot.is_some()
            && !entry::slots(old).any(|s| entry::publisher_of(s.bytes) == Some(publisher));
        let quota = l.max_records / l.publisher_share.max(1);
        if gains && !policy.vouches(record) && self.held_by(&publisher) >= quota.max(1) {
            return Err(StoreLimit::PerPublisher {
                limit: quota.max(1) as u64,
            }
            .into());
        }
        if over(&self.records, old_records, new_records, l.max_records) {
            return Err(StoreLimit::Records {
                limit: l.max_records as u64,
            }
            .into());
        }
        if over(&self.bytes, old_len, new_len, l.max_bytes) {
            return Err(StoreLimit::Bytes {
                limit: l.max_bytes as u64,
            }
            .into());
        }
        let change = if new_records == 0 {
            Change::Removed(rid)
        } else {
            Change::Stored(rid, packed)
        };
        commit(&change)?;
        if let (Some(replaced), Some((old_version, slot))) = (&self.replaced, &mine) {
            let mut replaced = replaced.lock().unwrap_or_else(PoisonError::into_inner);
            let version = record.record.version;
            replaced.replaced(&rid, &publisher, *old_version, slot.bytes, version, now);
        }
        match &change {
            Change::Stored(_, packed) => self.count_publishers(packed, old),
            Change::Removed(_) => self.count_publishers(&[], old),
        }
        self.records.fetch_add(new_records, Ordering::Relaxed);
        self.records.fetch_sub(old_records, Ordering::Relaxed);
        self.bytes.fetch_add(new_len, Ordering::Relaxed);
        self.bytes.fetch_sub(old_len, Ordering::Relaxed);

        match (change, place) {
            (Change::Stored(_, packed), TableEntry::Occupied(mut e)) => *e.get_mut() = packed,
            (Change::Stored(_, packed), TableEntry::Vacant(e)) => drop(e.insert(packed)),
            (Change::Removed(_), TableEntry::Occupied(e)) => drop(e.remove()),
            (Change::Removed(_), TableEntry::Vacant(_)) => {}
        }
        Ok(if new_records == 0 {
            Written::Removed
        } else {
            Written::Stored
        })
    }

    fn check_shape(&self, record: &SignedRecord, size: usize, now: UnixTime) -> Result<(), Error> {
        let l = &self.limits;
        if size > l.max_record_bytes {
            return Err(Error::RecordTooLarge {
                size,
                limit: l.max_record_bytes,
            });
        }
        if record.record.bindings.len() > l.max_bindings {
            return Err(StoreLimit::BindingsPerRecord {
                limit: l.max_bindings as u64,
            }
            .into());
        }
        let horizon = now + l.max_ttl;
        if let Some(b) = record
            .record
            .bindings
            .iter()
            .find(|b| b.expires_at > horizon)
        {
            return Err(Error::InvalidBinding(format!(
                "{} expires more than {}s ahead",
                b.contact,
                l.max_ttl.as_secs()
            )));
        }
        record
            .record
            .bindings
            .iter()
            .try_for_each(Binding::check_well_formed)
    }

    /// The live bindings of `aor`, highest q first, then latest expiry.
    pub fn query(&self, aor: &Aor, now: UnixTime) -> Result<Vec<Binding>, Error> {
        let mut out = Vec::new();
        self.with_entry(aor, now, |entry| {
            each_live(entry, now, |b| out.push(b.to_binding()))
        })?;
        crate::record::sort_contacts(&mut out);
        Ok(out)
    }

    /// [`RecordStore::query`], answered into `out`: the bindings already
    /// there are overwritten in place, so a caller that keeps one `Vec` per
    /// thread allocates nothing once it has the answer's shape. On an error
    /// `out` is left empty.
    pub fn query_into(
        &self,
        aor: &Aor,
        now: UnixTime,
        out: &mut Vec<Binding>,
    ) -> Result<(), Error> {
        let mut len = 0;
        let found = self.with_entry(aor, now, |entry| {
            each_live(entry, now, |b| {
                match out.get_mut(len) {
                    Some(old) => b.copy_into(old),
                    None => out.push(b.to_binding()),
                }
                len += 1;
            })
        });
        out.truncate(if found.is_ok() { len } else { 0 });
        crate::record::sort_contacts(out);
        found
    }

    /// The signed records held for `aor`.
    pub fn fetch(&self, aor: &Aor, now: UnixTime) -> Result<Vec<SignedRecord>, Error> {
        let mut out = Vec::new();
        self.with_entry(aor, now, |entry| {
            for slot in entry::slots(entry).filter(|s| s.keep_until > now) {
                out.push(SignedRecord::from_bytes(slot.bytes)?);
            }
            Ok(())
        })?;
        Ok(out)
    }

    /// Whether the store keeps these exact bytes of `record` at `now`. A
    /// kept record was checked when it was stored, so a reader handed the
    /// same bytes elsewhere need not check its signature again.
    pub fn holds(&self, record: &SignedRecord, now: UnixTime) -> bool {
        record
            .to_bytes()
            .is_ok_and(|bytes| self.holds_exactly(&record.record.aor, &bytes, now))
    }

    fn holds_exactly(&self, aor: &Aor, bytes: &[u8], now: UnixTime) -> bool {
        let mut held = false;
        let _ = self.with_entry(aor, now, |entry| {
            held = entry::slots(entry).any(|s| s.keep_until > now && s.bytes == bytes);
            Ok(())
        });
        held
    }

    fn with_entry(
        &self,
        aor: &Aor,
        now: UnixTime,
        f: impl FnOnce(&[u8]) -> Result<(), Error>,
    ) -> Result<(), Error> {
        let rid = aor.resource_id();
        let table = self.read(rid);
        let text = aor.as_str().as_bytes();
        match table.find(rid.prefix_u64(), |e| entry::aor_bytes(e) == text) {
            Some(e) if entry::keep_until(e) > now => f(e),
            _ => Err(Error::NotFound(aor.clone())),
        }
    }

    /// Drops the entry of `aor` if every record it holds passes
    /// `handed_over`, and says whether it did. A Chord node drops so the
    /// copies of a key it no longer holds, once the key's owners have them;
    /// a record that arrived meanwhile keeps the entry. Memory only: a
    /// store with an on-disk copy does not use it.
    pub fn forget(&self, aor: &Aor, handed_over: impl Fn(&[u8]) -> bool) -> bool {
        let rid = aor.resource_id();
        let text = aor.as_str().as_bytes();
        let mut table = self.write(rid);
        match table.find_entry(rid.prefix_u64(), |e| entry::aor_bytes(e) == text) {
            Ok(e) if entry::slots(e.get()).all(|s| handed_over(s.bytes)) => {
                self.uncount(&e.remove().0);
                true
            }
            _ => false,
        }
    }

    /// Drops the entries of shard `index` (modulo the shard count) whose
    /// every record has lapsed. `commit` gets their Resource-IDs under the
    /// shard lock, so that an on-disk copy can drop them in order.
    pub fn purge_shard(
        &self,
        index: usize,
        now: UnixTime,
        commit: impl FnOnce(&[ResourceId]),
    ) -> usize {
        let lock = &self.shards[index % self.shards.len()];
        let mut table = lock.write().unwrap_or_else(PoisonError::into_inner);
        let mut gone = Vec::new();
        table.retain(|e| {
            if entry::keep_until(e) > now {
                return true;
            }
            self.uncount(e);
            gone.push(ResourceId::hash(entry::aor_bytes(e)));
            false
        });
        if !gone.is_empty() {
            commit(&gone);
            // Give back the room of a table that emptied out after a peak.
            let len = table.len();
            if len < table.capacity() / 4 {
                table.shrink_to(len * 2, |e| hash_of(e));
            }
        }
        gone.len()
    }

    /// Loads a packed entry (from disk) as it is, unless it has lapsed.
    /// Returns false for a lapsed or malformed entry.
    #[cfg(feature = "disk")]
    pub(crate) fn restore(&self, packed: Box<[u8]>, now: UnixTime) -> bool {
        let aor = entry::aor_bytes(&packed);
        if entry::keep_until(&packed) <= now
            || std::str::from_utf8(aor).is_err()
            || entry::slots(&packed).any(|s| entry::view(s.bytes).is_err())
        {
            return false;
        }
        let rid = ResourceId::hash(aor);
        let mut table = self.write(rid);
        self.records
            .fetch_add(entry::slots(&packed).count(), Ordering::Relaxed);
        self.bytes.fetch_add(packed.len(), Ordering::Relaxed);
        self.count_publishers(&packed, &[]);
        match table.find_entry(rid.prefix_u64(), |e| entry::aor_bytes(e) == aor) {
            Ok(mut e) => self.uncount(&std::mem::replace(e.get_mut(), packed)),
            Err(_) => {
                table.insert_unique(rid.prefix_u64(), packed, |e| hash_of(e));
            }
        }
        true
    }

    /// What the store holds, lapsed entries not yet purged included.
    pub fn stats(&self) -> StoreStats {
        let aors = self
            .shards
            .iter()
            .map(|s| s.read().map_or(0, |t| t.len()))
            .sum();
        StoreStats {
            aors,
            records: self.records.load(Ordering::Relaxed),
            bytes: self.bytes.load(Ordering::Relaxed),
        }
    }

    /// The live records whose Resource-ID `wanted` accepts, with their IDs.
    /// Chord uses it to hand data over and to re-replicate.
    pub fn records_where(
        &self,
        now: UnixTime,
        wanted: impl FnMut(ResourceId) -> bool,
    ) -> Vec<(ResourceId, SignedRecord)> {
        let mut out = Vec::new();
        self.each_live_record(now, wanted, |rid, bytes| {
            // Entries hold only checked records; skip one that fails.
            if let Ok(rec) = SignedRecord::from_bytes(bytes) {
                out.push((rid, rec));
            }
        });
        out
    }

    /// A summary of the records whose Resource-ID `wanted` accepts: the
    /// XOR of the BLAKE3 hashes of the encoded records that still hold a
    /// binding live at `now`. Two stores that hold the same such records
    /// give the same digest, whatever their order; Chord replicas compare
    /// digests to find out whether they differ. Records that only guard
    /// against replays are left out: how long a store keeps those depends
    /// on which versions it saw.
    pub fn digest_where(&self, now: UnixTime, wanted: impl FnMut(ResourceId) -> bool) -> [u8; 32] {
        self.digest_settled(now, u64::MAX, wanted)
    }

    /// [`RecordStore::digest_where`] over the records whose version is
    /// below `settled_before`. Versions are by custom the publisher's clock
    /// in milliseconds, so a cut-off a little in the past leaves out the
    /// records still on their way to some replicas: two replicas under a
    /// steady stream of writes then agree on what has settled.
    pub fn digest_settled(
        &self,
        at: UnixTime,
        settled_before: u64,
        wanted: impl FnMut(ResourceId) -> bool,
    ) -> [u8; 32] {
        let mut digest = [0u8; 32];
        let mut count = |hash: &[u8; 32]| {
            digest.iter_mut().zip(hash).for_each(|(d, h)| *d ^= h);
        };
        self.each_live_record(at, wanted, |rid, bytes| {
            let Ok(r) = entry::view(bytes) else {
                return;
            };
            if r.version < settled_before {
                if r.bindings.iter().any(|b| b.expires_at > at) {
                    count(blake3::hash(bytes).as_bytes());
                }
                return;
            }
            // Not settled: count the settled record it replaced, if known.
            let was = self.replaced.as_ref().and_then(|m| {
                let replaced = m.lock().unwrap_or_else(PoisonError::into_inner);
                replaced.settled(&rid, &r.publisher(), settled_before)
            });
            if let Some(was) = was.filter(|w| w.live_until > at) {
                count(&was.hash);
            }
        });
        digest
    }

    /// Hands `f` each record kept at `now` whose Resource-ID `wanted` accepts.
    fn each_live_record(
        &self,
        now: UnixTime,
        mut wanted: impl FnMut(ResourceId) -> bool,
        mut f: impl FnMut(ResourceId, &[u8]),
    ) {
        for lock in self.shards.iter() {
            let table = lock.read().unwrap_or_else(PoisonError::into_inner);
            for e in table.iter().filter(|e| entry::keep_until(e) > now) {
                let rid = ResourceId::hash(entry::aor_bytes(e));
                if wanted(rid) {
                    let kept = entry::slots(e).filter(|s| s.keep_until > now);
                    kept.for_each(|slot| f(rid, slot.bytes));
                }
            }
        }
    }

    fn shard_of(&self, rid: ResourceId) -> usize {
        // Bytes 0..8 are the table's hash; byte 8 chooses the shard apart.
        usize::from(rid.0[8]) & (self.shards.len() - 1)
    }

    /// Takes an entry that leaves the store off the counts.
    fn uncount(&self, gone: &[u8]) {
        self.records
            .fetch_sub(entry::slots(gone).count(), Ordering::Relaxed);
        self.bytes.fetch_sub(gone.len(), Ordering::Relaxed);
        self.count_publishers(&[], gone);
    }

    /// Records of `publisher` held now.
    fn held_by(&self, publisher: &PublicKey) -> usize {
        let held = self
            .publishers
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        held.get(publisher).copied().unwrap_or(0)
    }

    /// An entry `old` becomes `new` (either may be empty): each publisher's
    /// count follows its slots.
    fn count_publishers(&self, new: &[u8], old: &[u8]) {
        let mut held = self
            .publishers
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let slots = |e| entry::slots(e).filter_map(|s| entry::publisher_of(s.bytes));
        for p in slots(new) {
            *held.entry(p).or_insert(0) += 1;
        }
        for p in slots(old) {
            if let Some(n) = held.get_mut(&p) {
                *n -= 1;
                if *n == 0 {
                    held.remove(&p);
                }
            }
        }
    }

    fn read(&self, rid: ResourceId) -> RwLockReadGuard<'_, Table> {
        self.shards[self.shard_of(rid)]
            .read()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self, rid: ResourceId) -> RwLockWriteGuard<'_, Table> {
        self.shards[self.shard_of(rid)]
            .write()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

/// Hands `f` each binding of `entry` that is live at `now`.
fn each_live(
    entry: &[u8],
    now: UnixTime,
    mut f: impl FnMut(&entry::BindingView<'_>),
) -> Result<(), Error> {
    for slot in entry::slots(entry).filter(|s| s.keep_until > now) {
        let read = entry::view(slot.bytes).map_err(corrupt)?;
        read.bindings
            .iter()
            .filter(|b| b.expires_at > now)
            .for_each(&mut f);
    }
    Ok(())
}

/// Entries are written only from checked records, so a decode failure here
/// means memory or disk corruption.
fn corrupt(e: postcard::Error) -> Error {
    StorageError::new("a corrupt stored record", e).into()
}

/// The table hash of an entry: its Resource-ID's first eight bytes.
fn hash_of(entry: &[u8]) -> u64 {
    ResourceId::hash(entry::aor_bytes(entry)).prefix_u64()
}
