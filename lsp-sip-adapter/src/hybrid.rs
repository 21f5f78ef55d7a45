//! Hybrid mode: a domain keeps its registrations in a local store and
//! publishes them into the P2P overlay as well. Each half keeps working
//! when the other fails.

use std::sync::Arc;

use async_trait::async_trait;
use lsp_core::{
    Aor, Binding, Error, LocationService, Lookup, OwnRecord, Published, ResourceId, SignedRecord,
};

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
#[derive(Clone)]
pub struct HybridService {
    local: Arc<dyn LocationService>,
    p2p: Arc<dyn LocationService>,
    order: QueryOrder,
}

impl std::fmt::Debug for HybridService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HybridService")
            .field("order", &self.order)
            .finish_non_exhaustive()
    }
}

impl HybridService {
    /// Combines `local` and `p2p`, querying in `order`.
    pub fn new(
        local: Arc<dyn LocationService>,
        p2p: Arc<dyn LocationService>,
        order: QueryOrder,
    ) -> Self {
        Self { local, p2p, order }
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
        let (local, p2p) =
            futures::future::join(self.local.publish(record.clone()), self.p2p.publish(record))
                .await;
        merge_published(local, p2p)
    }

    async fn publish_own(&self, record: OwnRecord) -> Result<Published, Error> {
        let (local, p2p) = futures::future::join(
            self.local.publish_own(record.clone()),
            self.p2p.publish_own(record),
        )
        .await;
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
