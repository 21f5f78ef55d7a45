//! Hybrid mode: a domain keeps its registrations in a local store and
//! publishes them into the P2P overlay as well. Each half keeps working
//! when the other fails, and what the overlay missed while it was down
//! (isolated, say) is sent again by [`HybridService::resync`].

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use async_trait::async_trait;
use lsp_core::{
    Aor, Binding, Error, Identity, LocationService, Lookup, OwnRecord, PublicKey, Published,
    Record, ResourceId, SignedRecord,
};

/// Bytes of records kept for the overlay while it is down. Beyond it, a
/// record waits for its UA's next refresh instead.
const BACKLOG_BYTES: usize = 4 << 20;

/// Which half a query asks first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum QueryOrder {
    /// The local store, then the overlay: fast answers for own users.
    #[default]
    LocalFirst,
    /// The overlay, then the local store: the freshest view of roaming users.
    P2pFirst,
}

/// A [`LocationService`] over a local one and a P2P one.
///
/// - `publish` goes to both and succeeds if either stores the record.
/// - `query` asks one half, then the other if the first has no live
///   binding or fails.
/// - `fetch` merges both, keeping each publisher's newest record.
/// - `lookup` asks the overlay, and the local store if the overlay fails.
/// - A record the local store took and the overlay did not waits in a
///   bounded backlog; [`HybridService::resync`] sends it once the overlay
///   answers again.
#[derive(Clone)]
pub struct HybridService {
    local: Arc<dyn LocationService>,
    p2p: Arc<dyn LocationService>,
    order: QueryOrder,
    backlog: Arc<Mutex<Backlog>>,
}

/// The newest record per (AOR, publisher) that the overlay lacks, with
/// its encoded size.
#[derive(Debug, Default)]
struct Backlog {
    records: HashMap<(Aor, PublicKey), (SignedRecord, usize)>,
    bytes: usize,
    /// Records left out because the backlog was full.
    dropped: u64,
}

impl Backlog {
    fn key(r: &SignedRecord) -> (Aor, PublicKey) {
        (r.record.aor.clone(), r.publisher)
    }

    fn put(&mut self, r: SignedRecord) {
        // A record that does not encode could not be sent either.
        let Ok(size) = r.to_bytes().map(|b| b.len()) else {
            self.dropped += 1;
            return;
        };
        let old = self.records.get(&Self::key(&r)).map_or(0, |(_, len)| *len);
        if self.bytes - old + size > BACKLOG_BYTES {
            self.dropped += 1;
            return;
        }
        self.bytes = self.bytes - old + size;
        self.records.insert(Self::key(&r), (r, size));
    }

    /// The record to send next, if any.
    fn next(&self) -> Option<SignedRecord> {
        self.records.values().next().map(|(r, _)| r.clone())
    }

    /// Drops the entry of `r`'s key if it is `r` itself (not a newer one).
    fn settle(&mut self, r: &SignedRecord) {
        let key = Self::key(r);
        if self.records.get(&key).is_some_and(|(held, _)| held == r)
            && let Some((_, len)) = self.records.remove(&key)
        {
            self.bytes -= len;
        }
    }

    /// Any newer record of that key reached the overlay: forget older.
    fn superseded(&mut self, r: &SignedRecord) {
        self.superseded_at(&r.record.aor, r.publisher, r.record.version);
    }

    /// [`Backlog::superseded`] by version `version` of `publisher`'s record
    /// of `aor`.
    fn superseded_at(&mut self, aor: &Aor, publisher: PublicKey, version: u64) {
        let key = (aor.clone(), publisher);
        if self
            .records
            .get(&key)
            .is_some_and(|(held, _)| held.record.version <= version)
            && let Some((_, len)) = self.records.remove(&key)
        {
            self.bytes -= len;
        }
    }
}

/// What [`HybridService::resync`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct Resync {
    /// Records the overlay took.
    pub sent: usize,
    /// Records the overlay refused for good (it holds a newer version, or
    /// the key may not write the AOR there): dropped from the backlog.
    pub refused: usize,
    /// Records still waiting.
    pub waiting: usize,
    /// Records never kept because the backlog was full, since the start.
    pub dropped: u64,
}

impl std::fmt::Debug for HybridService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HybridService")
            .field("order", &self.order)
            .finish_non_exhaustive()
    }
}

impl HybridService {
    /// Combines the domain's own store `local` and the overlay `p2p`
    /// (a `ChordNode`, say), asking `local` first on a query.
    pub fn local_first(
        local: impl LocationService + 'static,
        p2p: impl LocationService + 'static,
    ) -> Self {
        Self::new(local, p2p, QueryOrder::LocalFirst)
    }

    /// Combines the domain's own store `local` and the overlay `p2p`,
    /// asking `p2p` first on a query.
    pub fn p2p_first(
        local: impl LocationService + 'static,
        p2p: impl LocationService + 'static,
    ) -> Self {
        Self::new(local, p2p, QueryOrder::P2pFirst)
    }

    /// Combines `local` and `p2p`, querying in `order`: the named
    /// constructors above say the same with the order in their name.
    pub fn new(
        local: impl LocationService + 'static,
        p2p: impl LocationService + 'static,
        order: QueryOrder,
    ) -> Self {
        Self {
            local: Arc::new(local),
            p2p: Arc::new(p2p),
            order,
            backlog: Arc::default(),
        }
    }

    fn backlog(&self) -> std::sync::MutexGuard<'_, Backlog> {
        self.backlog.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Sends the overlay the records it missed, and stops at the first
    /// failure that says the overlay is still down. A record the overlay
    /// refuses for good is dropped and counted, so that it cannot hold up
    /// the others. Call it now and then, e.g. every few seconds; it costs
    /// nothing while the backlog is empty.
    pub async fn resync(&self) -> Resync {
        // One record at a time: while the overlay is down, only the first
        // is copied out, and it fails.
        let pending = self.backlog().records.len();
        let (mut sent, mut refused) = (0, 0);
        for _ in 0..pending {
            let Some(record) = self.backlog().next() else {
                break;
            };
            match self.p2p.publish(record.clone()).await {
                Ok(_) => sent += 1,
                Err(e) if e.is_unavailable() => {
                    tracing::debug!(error = %e, "the overlay is still down");
                    break;
                }
                Err(e) => {
                    tracing::warn!(aor = %record.record.aor, error = %e, "the overlay refuses a record of the backlog; dropped");
                    refused += 1;
                }
            }
            self.backlog().settle(&record);
        }
        let backlog = self.backlog();
        Resync {
            sent,
            refused,
            waiting: backlog.records.len(),
            dropped: backlog.dropped,
        }
    }

    /// Keeps the backlog in step with one publish's outcome.
    fn track(
        &self,
        record: &SignedRecord,
        local: &Result<Published, Error>,
        p2p: &Result<Published, Error>,
    ) {
        match (local, p2p) {
            (_, Ok(_)) => self.backlog().superseded(record),
            (Ok(_), Err(_)) => self.backlog().put(record.clone()),
            (Err(_), Err(_)) => {}
        }
    }

    fn halves(&self) -> (&Arc<dyn LocationService>, &Arc<dyn LocationService>) {
        match self.order {
            QueryOrder::LocalFirst => (&self.local, &self.p2p),
            QueryOrder::P2pFirst => (&self.p2p, &self.local),
        }
    }
}

#[async_trait]
impl LocationService for HybridService {
    async fn publish(&self, record: SignedRecord) -> Result<Published, Error> {
        let (local, p2p) = futures::future::join(
            self.local.publish(record.clone()),
            self.p2p.publish(record.clone()),
        )
        .await;
        self.track(&record, &local, &p2p);
        merge_published(local, p2p)
    }

    async fn publish_own(&self, record: OwnRecord) -> Result<Published, Error> {
        let (local, p2p) = futures::future::join(
            self.local.publish_own(record.clone()),
            self.p2p.publish_own(record.clone()),
        )
        .await;
        self.track(record.signed(), &local, &p2p);
        merge_published(local, p2p)
    }

    /// Each half checks the condition where it stores. A refusal from
    /// either is the caller's: it names a write the caller has not seen,
    /// and the caller reads again before it writes. A record the overlay
    /// missed joins the backlog, which later sends it without condition.
    async fn publish_as_replacing(
        &self,
        signer: &Arc<Identity>,
        record: Record,
        replaces: u64,
    ) -> Result<Published, Error> {
        let (local, p2p) = futures::future::join(
            self.local
                .publish_as_replacing(signer, record.clone(), replaces),
            self.p2p
                .publish_as_replacing(signer, record.clone(), replaces),
        )
        .await;
        for half in [&local, &p2p] {
            if let Err(e @ Error::Replay { .. }) = half {
                return Err(e.clone());
            }
        }
        match (&local, &p2p) {
            (_, Ok(_)) => {
                let key = signer.public_key();
                self.backlog()
                    .superseded_at(&record.aor, key, record.version);
            }
            (Ok(_), Err(_)) => self.backlog().put(record.sign(signer)?),
            (Err(_), Err(_)) => {}
        }
        merge_published(local, p2p)
    }

    async fn query(&self, aor: &Aor) -> Result<Vec<Binding>, Error> {
        let (first, second) = self.halves();
        let a = first.query(aor).await;
        if matches!(&a, Ok(b) if !b.is_empty()) {
            return a;
        }
        let b = second.query(aor).await;
        match (a, b) {
            (_, Ok(found)) if !found.is_empty() => Ok(found),
            (Ok(empty), _) | (_, Ok(empty)) => Ok(empty),
            // Prefer "not found" over a transport error: one half answered.
            (Err(e @ Error::NotFound(_)), _) | (_, Err(e @ Error::NotFound(_))) => Err(e),
            (Err(e), Err(_)) => Err(e),
        }
    }

    async fn fetch(&self, aor: &Aor) -> Result<Vec<SignedRecord>, Error> {
        let (local, p2p) = futures::future::join(self.local.fetch(aor), self.p2p.fetch(aor)).await;
        let mut merged: Vec<SignedRecord> = Vec::new();
        let mut errors = Vec::new();
        for result in [local, p2p] {
            match result {
                Ok(records) => {
                    for r in records {
                        match merged.iter_mut().find(|m| m.publisher == r.publisher) {
                            Some(m) if m.record.version < r.record.version => *m = r,
                            Some(_) => {}
                            None => merged.push(r),
                        }
                    }
                }
                Err(e) => errors.push(e),
            }
        }
        if merged.is_empty() {
            // NotFound from either half beats a failure of the other.
            if let Some(pos) = errors.iter().position(|e| matches!(e, Error::NotFound(_))) {
                return Err(errors.swap_remove(pos));
            }
            if let Some(e) = errors.into_iter().next() {
                return Err(e);
            }
        }
        Ok(merged)
    }

    async fn lookup(&self, id: ResourceId) -> Result<Lookup, Error> {
        match self.p2p.lookup(id).await {
            Ok(found) => Ok(found),
            Err(_) => self.local.lookup(id).await,
        }
    }
}

/// One publish answer from the answers of the two halves: it succeeds when
/// either half took the record.
fn merge_published(
    local: Result<Published, Error>,
    p2p: Result<Published, Error>,
) -> Result<Published, Error> {
    match (local, p2p) {
        (Ok(l), Ok(p)) => Ok(Published::new(
            l.replicas + p.replicas,
            l.unchanged && p.unchanged,
        )),
        (Ok(one), Err(e)) | (Err(e), Ok(one)) => {
            tracing::warn!(error = %e, "hybrid publish reached one half only");
            Ok(one)
        }
        (Err(e), Err(_)) => Err(e),
    }
}
