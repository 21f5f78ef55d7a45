//! The hash table that holds a shard's packed entries.
//!
//! Linear probing over slots that hold the key's hash beside the entry, so
//! that where a key's slot lies follows from its hash alone. A burst of
//! lookups can then read all their slots at once, before any of them is
//! found; a SwissTable (control bytes, then a separate bucket array) makes
//! each lookup wait on its control bytes before it knows its bucket, and
//! so waits on main memory once more per lookup.
//!
//! Removal shifts the following run of the probe sequence back, so the
//! table needs no tombstones and a lookup stops at the first empty slot.

use std::fmt;

/// The most a table holds, in eighths of its slots, before it doubles.
const MAX_LOAD_EIGHTHS: usize = 7;
const MIN_SLOTS: usize = 16;

#[derive(Default)]
struct Slot {
    hash: u64,
    entry: Option<Box<[u8]>>,
}

/// Packed entries keyed by a 64-bit hash; the caller's `eq` tells two
/// entries with one hash apart.
#[derive(Default)]
pub(crate) struct Table {
    /// Empty, or a power of two long.
    slots: Vec<Slot>,
    len: usize,
}

impl fmt::Debug for Table {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Table")
            .field("len", &self.len)
            .field("slots", &self.slots.len())
            .finish()
    }
}

impl Table {
    pub fn len(&self) -> usize {
        self.len
    }

    fn mask(&self) -> usize {
        self.slots.len().wrapping_sub(1)
    }

    fn home(&self, hash: u64) -> usize {
        // Truncation keeps the low bits, which are as random as any.
        hash as usize & self.mask()
    }

    fn position(&self, hash: u64, eq: impl Fn(&[u8]) -> bool) -> Option<usize> {
        if self.slots.is_empty() {
            return None;
        }
        let mask = self.mask();
        let mut i = self.home(hash);
        // Ends: the load cap leaves at least one slot empty.
        loop {
            let slot = &self.slots[i];
            match &slot.entry {
                None => return None,
                Some(e) if slot.hash == hash && eq(e) => return Some(i),
                Some(_) => i = (i + 1) & mask,
            }
        }
    }

    /// The entry stored under `hash` that `eq` accepts.
    pub fn find(&self, hash: u64, eq: impl Fn(&[u8]) -> bool) -> Option<&[u8]> {
        let i = self.position(hash, eq)?;
        self.slots[i].entry.as_deref()
    }

    /// Reads the slot where a lookup of `hash` starts, so that its cache
    /// line is loaded; the value means nothing.
    pub fn touch(&self, hash: u64) -> u64 {
        self.slots.get(self.home(hash)).map_or(0, |s| {
            // A 24-byte slot may cross into the next line; `len` lies last.
            s.hash ^ s.entry.as_ref().map_or(0, |e| e.len() as u64)
        })
    }

    /// Stores `entry` under `hash`, replacing the entry `eq` accepts, which
    /// it returns.
    pub fn insert(
        &mut self,
        hash: u64,
        entry: Box<[u8]>,
        eq: impl Fn(&[u8]) -> bool,
    ) -> Option<Box<[u8]>> {
        if let Some(i) = self.position(hash, eq) {
            return self.slots[i].entry.replace(entry);
        }
        if (self.len + 1) * 8 > self.slots.len() * MAX_LOAD_EIGHTHS {
            self.grow();
        }
        self.place(hash, entry);
        self.len += 1;
        None
    }

    /// Removes and returns the entry stored under `hash` that `eq` accepts.
    pub fn remove(&mut self, hash: u64, eq: impl Fn(&[u8]) -> bool) -> Option<Box<[u8]>> {
        let i = self.position(hash, eq)?;
        self.remove_at(i)
    }

    /// Keeps only the entries `keep` accepts. `keep` may see an entry it
    /// kept a second time.
    pub fn retain(&mut self, mut keep: impl FnMut(&[u8]) -> bool) {
        let mut i = 0;
        while i < self.slots.len() {
            match &self.slots[i].entry {
                // Removal may shift a later entry into `i`: look again.
                Some(e) if !keep(e) => {
                    self.remove_at(i);
                }
                _ => i += 1,
            }
        }
    }

    pub fn iter(&self) -> impl Iterator<Item = &[u8]> {
        self.slots.iter().filter_map(|s| s.entry.as_deref())
    }

    fn place(&mut self, hash: u64, entry: Box<[u8]>) {
        let mask = self.mask();
        let mut i = self.home(hash);
        while self.slots[i].entry.is_some() {
            i = (i + 1) & mask;
        }
        self.slots[i] = Slot {
            hash,
            entry: Some(entry),
        };
    }

    fn grow(&mut self) {
        let size = (self.slots.len() * 2).max(MIN_SLOTS);
        let old = std::mem::replace(&mut self.slots, Vec::with_capacity(size));
        self.slots.resize_with(size, Slot::default);
        for slot in old {
            if let Some(e) = slot.entry {
                self.place(slot.hash, e);
            }
        }
    }

    fn remove_at(&mut self, mut hole: usize) -> Option<Box<[u8]>> {
        let out = self.slots[hole].entry.take()?;
        self.len -= 1;
        let mask = self.mask();
        let mut i = hole;
        loop {
            i = (i + 1) & mask;
            let slot = &self.slots[i];
            if slot.entry.is_none() {
                return Some(out);
            }
            // The entry at `i` may fill the hole if the hole lies on its
            // probe path, between its home slot and `i`.
            let home = self.home(slot.hash);
            if i.wrapping_sub(home) & mask >= i.wrapping_sub(hole) & mask {
                self.slots.swap(hole, i);
                hole = i;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::HashSet;

    fn entry(key: u16) -> Box<[u8]> {
        key.to_le_bytes().into()
    }

    fn is(key: u16) -> impl Fn(&[u8]) -> bool {
        move |e| e == key.to_le_bytes()
    }

    /// Few hash values, so that keys collide and probe runs wrap around.
    fn hash(key: u16) -> u64 {
        u64::from(key % 7).wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ (u64::from(key % 3) << 63)
    }

    #[derive(Debug, Clone)]
    enum Op {
        Insert(u16),
        Remove(u16),
        Retain(u16),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            4 => (0u16..64).prop_map(Op::Insert),
            2 => (0u16..64).prop_map(Op::Remove),
            1 => (1u16..5).prop_map(Op::Retain),
        ]
    }

    proptest! {
        /// The table holds exactly what a `HashSet` given the same
        /// operations holds.
        #[test]
        fn behaves_as_a_map(ops in proptest::collection::vec(op(), 0..300)) {
            let mut table = Table::default();
            let mut model: HashSet<u16> = HashSet::new();
            for op in ops {
                match op {
                    Op::Insert(k) => {
                        let old = table.insert(hash(k), entry(k), is(k));
                        prop_assert_eq!(old.is_some(), !model.insert(k));
                    }
                    Op::Remove(k) => {
                        let old = table.remove(hash(k), is(k));
                        prop_assert_eq!(old.is_some(), model.remove(&k));
                    }
                    Op::Retain(m) => {
                        table.retain(|e| u16::from_le_bytes([e[0], e[1]]) % m != 0);
                        model.retain(|k| k % m != 0);
                    }
                }
                prop_assert_eq!(table.len(), model.len());
                prop_assert_eq!(table.iter().count(), model.len());
                for k in 0..64u16 {
                    prop_assert_eq!(table.find(hash(k), is(k)).is_some(), model.contains(&k));
                }
            }
        }
    }

    #[test]
    fn grows_and_keeps_a_free_slot() {
        let mut table = Table::default();
        for k in 0..1000u16 {
            table.insert(u64::from(k), entry(k), is(k));
            assert!(table.len() * 8 <= table.slots.len() * MAX_LOAD_EIGHTHS);
        }
        assert!((0..1000).all(|k| table.find(u64::from(k), is(k)).is_some()));
        assert!(table.find(5000, is(5000)).is_none());
    }
}
