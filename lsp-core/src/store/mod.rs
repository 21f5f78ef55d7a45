//! The in-memory soft-state record store shared by every node kind.
//!
//! Records are kept packed, one heap block per AOR (see `store/entry.rs`),
//! in a sharded hash table keyed by Resource-ID. The store verifies signatures, enforces the access policy,
//! refuses replays, and never shows an expired binding. Expired state is
//! reclaimed a shard at a time by [`RecordStore::purge_shard`].

mod answer;
pub(crate) mod entry;
mod table;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Duration;

use crate::{
    AccessPolicy, Aor, Binding, Error, OwnRecord, PublicKey, ResourceId, SignedRecord,
    StorageError, UnixTime,
};
pub use answer::{BindingRef, Contacts, ContactsIter, QueryBuf};
use entry::Slot;
use table::Table;

const SHARDS: usize = 64;

/// How many AORs [`RecordStore::query_iter`] reads ahead.
const WARM_AHEAD: usize = 16;

/// Limits of a [`RecordStore`]. Hitting one is an error the publisher sees.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct StoreLimits {
    /// Most records (one per AOR and publisher).
    pub max_records: usize,
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

#[derive(Debug, Default)]
struct Shard {
    table: Table,
}

/// A sharded, bounded, soft-state store of signed records.
#[derive(Debug)]
pub struct RecordStore {
    shards: Box<[RwLock<Shard>]>,
    limits: StoreLimits,
    records: AtomicUsize,
    bytes: AtomicUsize,
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
        }
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
        self.write_record(record, true, policy, now, commit)
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
        self.write_record(record.signed(), false, policy, now, commit)
    }

    fn write_record(
        &self,
        record: &SignedRecord,
        verify: bool,
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
        if verify {
            record.verify()?;
        }
        let aor = &record.record.aor;
        let rid = aor.resource_id();
        let mut shard = self.write(rid);
        let hash = rid.prefix_u64();
        let old = shard
            .table
            .find(hash, |e| entry::aor_bytes(e) == aor.as_str().as_bytes());
        let old = old.unwrap_or_default();

        // The live records of this AOR, and which of them is the publisher's.
        let mut live = Vec::new();
        let mut mine = None;
        for slot in entry::slots(old).filter(|s| s.keep_until > now) {
            let meta = entry::scan(slot.bytes, &mut |_| {}).map_err(corrupt)?;
            if meta.publisher() == record.publisher {
                mine = Some((meta.version, slot));
            } else {
                live.push((meta.publisher(), slot));
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
            if offered <= stored {
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
        if over(
            &self.records,
            old_records,
            new_records,
            self.limits.max_records,
        ) {
            return Err(Error::StoreFull("record count"));
        }
        if over(&self.bytes, old_len, new_len, self.limits.max_bytes) {
            return Err(Error::StoreFull("bytes"));
        }
        let change = if new_records == 0 {
            Change::Removed(rid)
        } else {
            Change::Stored(rid, packed)
        };
        commit(&change)?;
        self.records.fetch_add(new_records, Ordering::Relaxed);
        self.records.fetch_sub(old_records, Ordering::Relaxed);
        self.bytes.fetch_add(new_len, Ordering::Relaxed);
        self.bytes.fetch_sub(old_len, Ordering::Relaxed);

        let aor_text = aor.as_str().as_bytes();
        let same = |e: &[u8]| entry::aor_bytes(e) == aor_text;
        Ok(match change {
            Change::Stored(_, packed) => {
                shard.table.insert(hash, packed, same);
                Written::Stored
            }
            Change::Removed(_) => {
                shard.table.remove(hash, same);
                Written::Removed
            }
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
            return Err(Error::StoreFull("bindings per record"));
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
            .try_for_each(Binding::check_header_safe)
    }

    /// The live bindings of `aor`, highest q first, then latest expiry.
    pub fn query(&self, aor: &Aor, now: UnixTime) -> Result<Vec<Binding>, Error> {
        let mut out = Vec::new();
        let mut text = true;
        self.with_entry(aor, now, |entry| {
            each_live(entry, now, |b| match b.to_binding() {
                Some(b) => out.push(b),
                None => text = false,
            })
        })?;
        if !text {
            return Err(not_text());
        }
        crate::record::sort_contacts(&mut out);
        Ok(out)
    }

    /// [`RecordStore::query`], answered into `buf` rather than new
    /// allocations. The store is unlocked again before this returns, so the
    /// caller may do anything, the store included, while it holds the answer.
    pub fn query_into<'b>(
        &self,
        aor: &Aor,
        now: UnixTime,
        buf: &'b mut QueryBuf,
    ) -> Result<Contacts<'b>, Error> {
        buf.clear();
        self.with_entry(aor, now, |entry| each_live(entry, now, |b| buf.push(b)))?;
        buf.finish().map_err(|()| not_text())?;
        buf.sort();
        Ok(buf.contacts())
    }

    /// [`RecordStore::query_iter`] answered into one buffer, as
    /// [`RecordStore::query_into`] answers: `f` gets each AOR's index in
    /// `aors` and its answer, in order. No lock is held while `f` runs.
    pub fn query_each(
        &self,
        aors: &[Aor],
        now: impl Fn() -> UnixTime,
        buf: &mut QueryBuf,
        mut f: impl FnMut(usize, Result<Contacts<'_>, Error>),
    ) {
        for (n, run) in aors.chunks(WARM_AHEAD).enumerate() {
            self.warm(run);
            for (i, aor) in run.iter().enumerate() {
                f(n * WARM_AHEAD + i, self.query_into(aor, now(), buf));
            }
        }
    }

    /// [`RecordStore::query`] for each of `aors`, answers in order.
    ///
    /// On a store larger than the CPU caches a query waits on main memory
    /// two or three times in a row (hash slot, entry, rest of the entry).
    /// The iterator reads the entries of the next few AORs before it
    /// answers them, so that those waits overlap instead of adding up.
    /// Taking each answer before the next keeps few allocations alive at
    /// once, which the allocator's per-thread caches serve fastest.
    ///
    /// `now` is read for each answer, so that an iterator held a while never
    /// answers with a binding that lapsed meanwhile.
    pub fn query_iter<'a>(
        &'a self,
        aors: &'a [Aor],
        now: impl Fn() -> UnixTime + Copy + 'a,
    ) -> impl Iterator<Item = Result<Vec<Binding>, Error>> + 'a {
        aors.chunks(WARM_AHEAD).flat_map(move |run| {
            self.warm(run);
            run.iter().map(move |aor| self.query(aor, now()))
        })
    }

    /// Reads one byte per cache line of the part of each AOR's entry that a
    /// query reads, so that the lines are in cache when the queries decode
    /// them. `aors` holds at most [`WARM_AHEAD`] AORs.
    ///
    /// Every shard the run touches is locked once, before any entry is read:
    /// taking a lock is an atomic read-modify-write, which on x86 waits for
    /// all earlier reads, so a lock taken between two AORs would make the
    /// second wait for the first's cache misses. The entries are found first
    /// and read after, so that the misses of each pass overlap. Holding
    /// several read locks cannot deadlock: they are taken in shard order,
    /// and no other path holds more than one lock.
    fn warm(&self, aors: &[Aor]) {
        // The shards wanted, as a set of at most 256 bits: walking it visits
        // them in order, with no sort and no allocation.
        let mut wanted = [0u64; 4];
        for a in aors {
            let i = self.shard_of(a.resource_id());
            wanted[i / 64] |= 1 << (i % 64);
        }
        // Shard index -> its guard, without a search that would mispredict.
        let mut guard_of = [0u8; 256];
        let mut guards: [Option<RwLockReadGuard<'_, Shard>>; WARM_AHEAD] = Default::default();
        let mut n = 0;
        for (word, mut bits) in wanted.into_iter().enumerate() {
            while bits != 0 {
                let i = word * 64 + bits.trailing_zeros() as usize;
                bits &= bits - 1;
                if let Some(guard) = guards.get_mut(n) {
                    guard_of[i] = n as u8; // n < WARM_AHEAD
                    *guard = Some(
                        self.shards[i]
                            .read()
                            .unwrap_or_else(PoisonError::into_inner),
                    );
                }
                n += 1;
            }
        }
        let table_of = |aor: &Aor| {
            let rid = aor.resource_id();
            let shard = guards.get(usize::from(guard_of[self.shard_of(rid)]));
            shard
                .and_then(Option::as_ref)
                .map(|s| (&s.table, rid.prefix_u64()))
        };
        let mut sink = aors
            .iter()
            .filter_map(table_of)
            .fold(0, |acc, (table, hash)| acc ^ table.touch(hash));
        let mut found: [&[u8]; WARM_AHEAD] = [&[]; WARM_AHEAD];
        for (slot, aor) in found.iter_mut().zip(aors) {
            // The first entry with this hash is nearly always the one; a
            // wrong guess costs only a wasted read.
            if let Some(e) = table_of(aor).and_then(|(table, hash)| table.find(hash, |_| true)) {
                *slot = e;
            }
        }
        sink ^= found.iter().fold(0u8, |acc, e| {
            // Every 64th byte, and the last: a range that does not start a
            // line ends in a line the steps skip.
            let part = entry::query_part(e);
            part.iter()
                .step_by(64)
                .chain(part.last())
                .fold(acc, |a, b| a ^ b)
        }) as u64;
        std::hint::black_box(sink);
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
        let shard = self.read(rid);
        let text = aor.as_str().as_bytes();
        match shard
            .table
            .find(rid.prefix_u64(), |e| entry::aor_bytes(e) == text)
        {
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
        let hash = rid.prefix_u64();
        let text = aor.as_str().as_bytes();
        let same = |e: &[u8]| entry::aor_bytes(e) == text;
        let mut shard = self.write(rid);
        match shard.table.find(hash, same) {
            Some(e) if entry::slots(e).all(|s| handed_over(s.bytes)) => {}
            _ => return false,
        }
        if let Some(old) = shard.table.remove(hash, same) {
            self.records
                .fetch_sub(entry::slots(&old).count(), Ordering::Relaxed);
            self.bytes.fetch_sub(old.len(), Ordering::Relaxed);
        }
        true
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
        let mut shard = lock.write().unwrap_or_else(PoisonError::into_inner);
        let mut gone = Vec::new();
        shard.table.retain(|e| {
            if entry::keep_until(e) > now {
                return true;
            }
            self.records
                .fetch_sub(entry::slots(e).count(), Ordering::Relaxed);
            self.bytes.fetch_sub(e.len(), Ordering::Relaxed);
            gone.push(ResourceId::hash(entry::aor_bytes(e)));
            false
        });
        if !gone.is_empty() {
            commit(&gone);
        }
        gone.len()
    }

    /// Loads a packed entry (from disk) as it is, unless it has lapsed.
    /// Returns false for a lapsed or malformed entry.
    #[cfg(feature = "disk")]
    pub(crate) fn restore(&self, packed: Box<[u8]>, now: UnixTime) -> bool {
        if entry::keep_until(&packed) <= now
            || std::str::from_utf8(entry::aor_bytes(&packed)).is_err()
            || entry::slots(&packed).any(|s| {
                let mut text = true;
                entry::scan(s.bytes, &mut |b| text &= b.is_text()).is_err() || !text
            })
        {
            return false;
        }
        let rid = ResourceId::hash(entry::aor_bytes(&packed));
        let hash = rid.prefix_u64();
        let mut shard = self.write(rid);
        let text = entry::aor_bytes(&packed).to_vec();
        self.records
            .fetch_add(entry::slots(&packed).count(), Ordering::Relaxed);
        self.bytes.fetch_add(packed.len(), Ordering::Relaxed);
        if let Some(old) = shard
            .table
            .insert(hash, packed, |e| entry::aor_bytes(e) == text.as_slice())
        {
            self.records
                .fetch_sub(entry::slots(&old).count(), Ordering::Relaxed);
            self.bytes.fetch_sub(old.len(), Ordering::Relaxed);
        }
        true
    }

    /// What the store holds, lapsed entries not yet purged included.
    pub fn stats(&self) -> StoreStats {
        let aors = self
            .shards
            .iter()
            .map(|s| s.read().map_or(0, |s| s.table.len()))
            .sum();
        StoreStats {
            aors,
            records: self.records.load(Ordering::Relaxed),
            bytes: self.bytes.load(Ordering::Relaxed),
        }
    }

    /// The publishers that hold a live record for `aor`.
    pub fn owners(&self, aor: &Aor, now: UnixTime) -> Vec<PublicKey> {
        let mut out = Vec::new();
        let _ = self.with_entry(aor, now, |e| {
            for slot in entry::slots(e).filter(|s| s.keep_until > now) {
                out.push(
                    entry::scan(slot.bytes, &mut |_| {})
                        .map_err(corrupt)?
                        .publisher(),
                );
            }
            Ok(())
        });
        out
    }

    /// The live records whose Resource-ID `wanted` accepts, with their IDs.
    /// Chord uses it to hand data over and to re-replicate.
    pub fn records_where(
        &self,
        now: UnixTime,
        mut wanted: impl FnMut(ResourceId) -> bool,
    ) -> Vec<(ResourceId, SignedRecord)> {
        let mut out = Vec::new();
        for lock in self.shards.iter() {
            let shard = lock.read().unwrap_or_else(PoisonError::into_inner);
            for e in shard.table.iter().filter(|e| entry::keep_until(e) > now) {
                let rid = ResourceId::hash(entry::aor_bytes(e));
                if !wanted(rid) {
                    continue;
                }
                for slot in entry::slots(e).filter(|s| s.keep_until > now) {
                    // Entries hold only checked records; skip one that fails.
                    if let Ok(rec) = SignedRecord::from_bytes(slot.bytes) {
                        out.push((rid, rec));
                    }
                }
            }
        }
        out
    }

    /// A summary of the records whose Resource-ID `wanted` accepts: the
    /// XOR of the BLAKE3 hashes of the encoded records that still hold a
    /// binding live at `now`. Two stores that hold the same such records
    /// give the same digest, whatever their order; Chord replicas compare
    /// digests to find out whether they differ. Records that only guard
    /// against replays are left out: how long a store keeps those depends
    /// on which versions it saw.
    pub fn digest_where(
        &self,
        now: UnixTime,
        mut wanted: impl FnMut(ResourceId) -> bool,
    ) -> [u8; 32] {
        let mut digest = [0u8; 32];
        for lock in self.shards.iter() {
            let shard = lock.read().unwrap_or_else(PoisonError::into_inner);
            for e in shard.table.iter().filter(|e| entry::keep_until(e) > now) {
                if !wanted(ResourceId::hash(entry::aor_bytes(e))) {
                    continue;
                }
                for slot in entry::slots(e).filter(|s| s.keep_until > now) {
                    let mut live = false;
                    if entry::scan(slot.bytes, &mut |b| live |= b.expires_at > now).is_ok() && live
                    {
                        let hash = blake3::hash(slot.bytes);
                        for (d, h) in digest.iter_mut().zip(hash.as_bytes()) {
                            *d ^= h;
                        }
                    }
                }
            }
        }
        digest
    }

    fn shard_of(&self, rid: ResourceId) -> usize {
        // Bytes 0..8 choose the bucket; byte 8 chooses the shard, independently.
        usize::from(rid.0[8]) & (self.shards.len() - 1)
    }

    fn read(&self, rid: ResourceId) -> RwLockReadGuard<'_, Shard> {
        self.shards[self.shard_of(rid)]
            .read()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self, rid: ResourceId) -> RwLockWriteGuard<'_, Shard> {
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
        entry::scan(slot.bytes, &mut |b| {
            if b.expires_at > now {
                f(&b);
            }
        })
        .map_err(corrupt)?;
    }
    Ok(())
}

/// Entries are written only from checked records, so a decode failure here
/// means memory or disk corruption.
fn corrupt(e: postcard::Error) -> Error {
    StorageError::new("a corrupt stored record", e).into()
}

fn not_text() -> Error {
    StorageError::new("a corrupt stored record", "its text is not UTF-8").into()
}

#[cfg(all(test, feature = "disk"))]
mod tests {
    use super::*;
    use crate::{Identity, Record};

    #[test]
    fn restore_refuses_an_entry_whose_text_is_not_utf8() {
        let mut rec = Record::new(Aor::parse("sip:carol@example.com").unwrap(), 1);
        rec.bindings = vec![Binding::new("sip:carol@10.0.0.3", UnixTime(9000), "c", 1)];
        let bytes = rec
            .sign(&Identity::from_secret_bytes([5; 32]))
            .expect("sign")
            .to_bytes()
            .expect("encode");
        let slot = Slot {
            keep_until: UnixTime(9000),
            bytes: &bytes,
        };
        let good = entry::pack([slot]);
        // The AOR text starts after the entry head, the record head and its
        // one-byte length.
        let mut bad_aor = good.clone();
        bad_aor[8 + 12 + 1] = 0xff;
        let contact = good.windows(8).position(|w| w == b"10.0.0.3").unwrap();
        let mut bad_contact = good.clone();
        bad_contact[contact] = 0xff;

        let store = RecordStore::new(StoreLimits::default());
        assert!(!store.restore(bad_aor, UnixTime(1000)));
        assert!(!store.restore(bad_contact, UnixTime(1000)));
        assert_eq!(store.stats().aors, 0);
        assert!(store.restore(good, UnixTime(1000)));
        assert_eq!(store.stats().aors, 1);
    }
}

#[cfg(test)]
mod forget_tests {
    use super::*;
    use crate::{FirstComeFirstServed, Identity, OpenPolicy, Record};

    fn signed(user: &str, key: u8) -> SignedRecord {
        let mut rec = Record::new(Aor::parse(&format!("sip:{user}@example.com")).unwrap(), 1);
        rec.bindings = vec![Binding::new("sip:x@10.0.0.3", UnixTime(9000), "c", 1)];
        rec.sign(&Identity::from_secret_bytes([key; 32]))
            .expect("sign")
    }

    #[test]
    fn forget_drops_an_entry_only_when_every_record_was_handed_over() {
        let store = RecordStore::new(StoreLimits::default());
        let now = UnixTime(1000);
        let (a, b) = (signed("carol", 1), signed("carol", 2));
        for r in [&a, &b] {
            store.publish(r, &OpenPolicy, now, |_| Ok(())).unwrap();
        }
        let aor = a.record.aor.clone();
        let a_bytes = a.to_bytes().expect("encode");
        assert!(!store.forget(&aor, |bytes| bytes == a_bytes.as_slice()));
        assert_eq!(store.stats().records, 2, "b was not handed over");
        let both = [a_bytes, b.to_bytes().expect("encode")];
        assert!(store.forget(&aor, |bytes| both.iter().any(|h| h == bytes)));
        let stats = store.stats();
        assert_eq!((stats.aors, stats.records, stats.bytes), (0, 0, 0));
        let unknown = signed("dave", 1).record.aor;
        assert!(!store.forget(&unknown, |_| true));
        store
            .publish(&a, &FirstComeFirstServed, now, |_| Ok(()))
            .unwrap();
        assert_eq!(store.stats().records, 1, "the AOR can be stored again");
    }
}
