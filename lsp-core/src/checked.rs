//! Signatures checked together, ahead of storing the records they sign.
//!
//! Checking n ed25519 signatures in one batch costs about half of n single
//! checks once n reaches a handful. A replica that finds several records
//! waiting checks them here first; [`crate::store::RecordStore::publish_checked`]
//! then skips the check for each one found, and checks any other record as
//! [`crate::store::RecordStore::publish`] does.

use std::collections::{HashSet, VecDeque};

use ed25519_dalek::{Verifier, VerifyingKey};

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
        let mut signatures = Vec::with_capacity(records.len());
        let mut keys: Vec<VerifyingKey> = Vec::with_capacity(records.len());
        let mut hashes = Vec::with_capacity(records.len());
        for r in records {
            let (Ok(message), Ok(encoded)) = (signing_bytes(&r.publisher, &r.record), r.to_bytes())
            else {
                continue;
            };
            // Publishers are few (a domain's registrars): reuse a key
            // already decompressed for this batch.
            let key = match keys.iter().find(|k| k.as_bytes() == &r.publisher.0) {
                Some(k) => *k,
                None => match VerifyingKey::from_bytes(&r.publisher.0) {
                    Ok(k) => k,
                    Err(_) => continue,
                },
            };
            messages.push(message);
            signatures.push(ed25519_dalek::Signature::from_bytes(&r.signature.0));
            keys.push(key);
            hashes.push(*blake3::hash(&encoded).as_bytes());
        }
        let refs: Vec<&[u8]> = messages.iter().map(Vec::as_slice).collect();
        let all = refs.len() > 1 && ed25519_dalek::verify_batch(&refs, &signatures, &keys).is_ok();
        let mut verified = 0;
        for i in 0..refs.len() {
            // Alone, the check is SignedRecord::verify's.
            if all || Verifier::verify(&keys[i], refs[i], &signatures[i]).is_ok() {
                self.remember(hashes[i]);
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
