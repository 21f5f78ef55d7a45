//! What a registrar last published for each AOR, so that a REGISTER need
//! not read its own record back from the Location Service first: over a
//! ring that read is a round trip to the owners, and a fresh AOR's read
//! asks every owner before it is sure there is nothing.
//!
//! It is a hint, bounded in bytes. Another registrar signing with the same
//! key may have published since; its newer version makes this one's
//! publish fail as a replay, and the registrar then forgets the entry and
//! reads the record back as it would without one.
//!
//! When full it forgets an entry picked at random, in constant time: a
//! hash map's "first" entry, forgotten each time, left ever more empty
//! slots to step over at the front of the table (about a fifth of it in
//! a simulation of the steady state), a scan on every REGISTER.

use indexmap::IndexMap;
use lsp_core::{Aor, Binding, UnixTime};

/// Bytes counted for an entry beyond its text: the map slot, the
/// `Vec` headers and the allocator's rounding, roughly.
const ENTRY_OVERHEAD: usize = 96;

/// The remembered records.
#[derive(Debug)]
pub(crate) struct Recent {
    entries: IndexMap<Aor, Entry>,
    bytes: usize,
    budget: usize,
    /// State of the generator that picks what to forget.
    pick: u64,
}

#[derive(Debug)]
struct Entry {
    version: u64,
    bindings: Vec<Binding>,
    bytes: usize,
}

impl Recent {
    /// An empty memory that holds at most `budget` bytes.
    pub(crate) fn new(budget: usize) -> Self {
        Self {
            entries: IndexMap::new(),
            bytes: 0,
            budget,
            pick: 0x9e37_79b9_7f4a_7c15,
        }
    }

    /// The version last published for `aor` and its bindings live at `now`.
    pub(crate) fn get(&self, aor: &Aor, now: UnixTime) -> Option<(Option<u64>, Vec<Binding>)> {
        let e = self.entries.get(aor)?;
        let live = e.bindings.iter().filter(|b| b.is_live(now)).cloned();
        Some((Some(e.version), live.collect()))
    }

    /// Remembers a publish that succeeded, making room by forgetting
    /// others; one larger than the whole budget is not kept.
    pub(crate) fn put(&mut self, aor: &Aor, version: u64, bindings: &[Binding]) {
        let bytes = entry_bytes(aor, bindings);
        if bytes > self.budget {
            self.forget(aor);
            return;
        }
        let old = self.entries.get(aor).map_or(0, |e| e.bytes);
        while self.bytes - old + bytes > self.budget && self.forget_another(aor) {}
        self.bytes = self.bytes - old + bytes;
        match self.entries.get_mut(aor) {
            Some(e) => {
                e.version = version;
                e.bindings = bindings.to_vec();
                e.bytes = bytes;
            }
            None => {
                let entry = Entry {
                    version,
                    bindings: bindings.to_vec(),
                    bytes,
                };
                self.entries.insert(aor.clone(), entry);
            }
        }
    }

    /// Drops what is remembered of `aor`.
    pub(crate) fn forget(&mut self, aor: &Aor) {
        if let Some(e) = self.entries.swap_remove(aor) {
            self.bytes -= e.bytes;
        }
    }

    /// Forgets an entry other than `keep`, picked at random; `false` when
    /// there is none.
    fn forget_another(&mut self, keep: &Aor) -> bool {
        let len = self.entries.len();
        if len <= usize::from(self.entries.contains_key(keep)) {
            return false;
        }
        // xorshift64: cheap, and what it picks need not be unpredictable.
        self.pick ^= self.pick << 13;
        self.pick ^= self.pick >> 7;
        self.pick ^= self.pick << 17;
        let mut at = (self.pick % len as u64) as usize;
        if self.entries.get_index(at).is_some_and(|(a, _)| a == keep) {
            at = (at + 1) % len;
        }
        let Some((_, e)) = self.entries.swap_remove_index(at) else {
            return false;
        };
        self.bytes -= e.bytes;
        true
    }

    #[cfg(test)]
    fn bytes(&self) -> usize {
        self.bytes
    }
}

/// The bytes an entry is counted at.
fn entry_bytes(aor: &Aor, bindings: &[Binding]) -> usize {
    let text = |b: &Binding| {
        b.contact.len()
            + b.call_id.len()
            + b.instance.as_ref().map_or(0, String::len)
            + b.path.iter().map(String::len).sum::<usize>()
    };
    let each = std::mem::size_of::<Binding>();
    ENTRY_OVERHEAD + aor.as_str().len() + bindings.iter().map(|b| each + text(b)).sum::<usize>()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn aor(i: u32) -> Aor {
        Aor::parse(&format!("sip:u{i}@example.com")).expect("aor")
    }

    fn binding(expires: u64) -> Binding {
        Binding::new("sip:u@192.0.2.1", UnixTime(expires), "call", 1)
    }

    #[test]
    fn remembers_the_last_publish_and_shows_only_live_bindings() {
        let mut recent = Recent::new(10_000);
        assert_eq!(recent.get(&aor(1), UnixTime(0)), None);
        recent.put(&aor(1), 7, &[binding(100), binding(200)]);
        recent.put(&aor(1), 8, &[binding(100), binding(300)]);
        let (version, live) = recent.get(&aor(1), UnixTime(150)).expect("kept");
        assert_eq!((version, live), (Some(8), vec![binding(300)]));
        recent.forget(&aor(1));
        assert_eq!(recent.get(&aor(1), UnixTime(0)), None);
        assert_eq!(recent.bytes(), 0);
    }

    #[test]
    fn stays_within_its_budget_in_bytes() {
        let one = entry_bytes(&aor(1), &[binding(100)]);
        let mut recent = Recent::new(10 * one + one / 2);
        for i in 0..1_000 {
            recent.put(&aor(i), 1, &[binding(100)]);
            assert!(recent.bytes() <= 10 * one + one / 2);
        }
        assert_eq!(recent.entries.len(), 10);
        // The newest is always kept; one over the whole budget never is.
        assert!(recent.get(&aor(999), UnixTime(0)).is_some());
        let many = vec![binding(100); 64];
        recent.put(&aor(5_000), 1, &many);
        assert!(recent.get(&aor(5_000), UnixTime(0)).is_none());
    }

    #[test]
    fn a_growing_entry_makes_room_from_others_and_is_never_its_own_victim() {
        let small = entry_bytes(&aor(1), &[binding(100)]);
        let three = vec![binding(100); 3];
        let big = entry_bytes(&aor(1), &three);
        let mut recent = Recent::new(big + small);
        for i in 0..5 {
            recent.put(&aor(i), 1, &[binding(100)]);
        }
        recent.put(&aor(1), 2, &three);
        let (version, live) = recent.get(&aor(1), UnixTime(0)).expect("kept");
        assert_eq!((version, live.len()), (Some(2), 3));
        assert!(recent.bytes() <= big + small, "{} bytes", recent.bytes());
        assert_eq!(recent.entries.len(), 2);
        // Past the whole budget, the entry itself goes.
        recent.put(&aor(1), 3, &vec![binding(100); 64]);
        assert_eq!(recent.get(&aor(1), UnixTime(0)), None);
        let counted: usize = recent.entries.values().map(|e| e.bytes).sum();
        assert_eq!(recent.bytes(), counted);
    }
}
