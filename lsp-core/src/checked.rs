//! Signatures checked together, ahead of storing the records they sign.
//!
//! Checking n ed25519 signatures in one batch costs about half of n single
//! checks once n reaches a handful, and less when they share a key (see
//! `batch_verify.rs`). A replica that finds several records
//! waiting checks them here first; [`crate::store::RecordStore::publish_checked`]
//! then skips the check for each one found, and checks any other record as
//! [`crate::store::RecordStore::publish`] does.

use std::collections::{HashSet, VecDeque};

use crate::batch_verify::{Item, verify_batch};
use crate::{SignedRecord, signing_bytes};

/// Records whose signatures verified, each known by the hash of its whole
/// encoding (record, key and signature), so that it vouches for that exact
/// record only. Holds at most `cap` of them, the oldest forgotten first.
#[derive(Debug)]
pub struct CheckedAhead {
    known: HashSet<[u8; 32]>,
    order: VecDeque<[u8; 32]>,
    cap: usize,
}

impl CheckedAhead {
    /// Remembers at most `cap` checked records.
    pub fn new(cap: usize) -> Self {
        Self {
            known: HashSet::new(),
            order: VecDeque::new(),
            cap,
        }
    }

    /// Records remembered now.
    pub fn len(&self) -> usize {
        self.known.len()
    }

    /// Whether none is remembered.
    pub fn is_empty(&self) -> bool {
        self.known.is_empty()
    }

    /// Checks the signatures of `records` in one batch and remembers those
    /// that verify. If the batch fails, each is checked alone, so one bad
    /// record costs its sender's batch, never another record its place.
    /// Returns how many verified.
    pub fn check(&mut self, records: &[&SignedRecord]) -> usize {
        let mut messages = Vec::with_capacity(records.len());
        let mut hashes = Vec::with_capacity(records.len());
        let mut readable = Vec::with_capacity(records.len());
        for r in records {
            let (Ok(message), Ok(encoded)) = (signing_bytes(&r.publisher, &r.record), r.to_bytes())
            else {
                continue;
            };
            messages.push(message);
            hashes.push(*blake3::hash(&encoded).as_bytes());
            readable.push(*r);
        }
        let items: Vec<Item<'_>> = readable
            .iter()
            .zip(&messages)
            .map(|(r, message)| Item {
                message,
                signature: &r.signature.0,
                key: &r.publisher.0,
            })
            .collect();
        let all = items.len() > 1 && verify_batch(&items);
        let mut verified = 0;
        for (r, (message, hash)) in readable.iter().zip(messages.iter().zip(hashes)) {
            // Alone, the check is SignedRecord::verify's.
            if all || r.publisher.verify(message, &r.signature).is_ok() {
                self.remember(hash);
                verified += 1;
            }
        }
        verified
    }

    /// Whether the record encoded as `encoded` was checked here, forgetting
    /// it: each check vouches for one store.
    pub(crate) fn take(&mut self, encoded: &[u8]) -> bool {
        if self.known.is_empty() {
            return false;
        }
        let hash = blake3::hash(encoded);
        self.known.remove(hash.as_bytes())
    }

    /// `order` may still name a hash already taken; evicting it then is
    /// harmless, and `order` stays within `cap` all the same.
    fn remember(&mut self, hash: [u8; 32]) {
        if self.cap == 0 || !self.known.insert(hash) {
            return;
        }
        self.order.push_back(hash);
        while self.order.len() > self.cap {
            if let Some(old) = self.order.pop_front() {
                self.known.remove(&old);
            }
        }
    }
}
