//! The Location Service interface (draft section 7): lookup, retrieval and
//! publishing.

use std::net::SocketAddr;
use std::sync::Arc;

use async_trait::async_trait;

use crate::{Aor, Binding, Error, Identity, NodeId, OwnRecord, Record, ResourceId, SignedRecord};

/// A peer that stores a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Peer {
    /// The peer's Node-ID.
    pub id: NodeId,
    /// Where to reach it, if it is reachable over a network.
    pub addr: Option<SocketAddr>,
}

/// The answer to [`LocationService::lookup`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Lookup {
    /// The peers responsible for the key, the primary first.
    pub peers: Vec<Peer>,
    /// Overlay hops the lookup took (0 when answered locally).
    pub hops: u32,
}

impl Lookup {
    /// A lookup answer.
    pub fn new(peers: Vec<Peer>, hops: u32) -> Self {
        Self { peers, hops }
    }
}

/// The answer to [`LocationService::publish`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Published {
    /// How many stores accepted the record.
    pub replicas: usize,
    /// True when the store already held this exact record.
    pub unchanged: bool,
}

impl Published {
    /// A publish answer.
    pub fn new(replicas: usize, unchanged: bool) -> Self {
        Self {
            replicas,
            unchanged,
        }
    }
}

/// A Location Service: where SIP registrars publish and proxies look up.
///
/// Implementations verify every record's signature and access policy before
/// storing it, and never return an expired binding.
///
/// Every method is an `async fn`, written with `async-trait` so that the
/// trait stays usable as `dyn LocationService` (a registrar holds one
/// without knowing which store it is); rustdoc shows such methods as
/// returning `Pin<Box<dyn Future + Send>>`. Implement it with
/// `#[async_trait::async_trait]` on the `impl` block and plain `async fn`s.
#[async_trait]
pub trait LocationService: Send + Sync {
    /// Stores a signed record, replacing the publisher's previous version of
    /// it. A record with no binding removes the publisher's bindings.
    async fn publish(&self, record: SignedRecord) -> Result<Published, Error>;

    /// [`publish`](Self::publish) for a record this process signed. A store
    /// in this process skips checking its signature; one that sends it
    /// elsewhere treats it as any other record.
    async fn publish_own(&self, record: OwnRecord) -> Result<Published, Error> {
        self.publish(record.into_signed()).await
    }

    /// Signs `record` as `signer` and publishes it as
    /// [`publish_own`](Self::publish_own) does. A service that keeps the
    /// record in this process may sign it only when it first hands it out
    /// ([`fetch`](Self::fetch)): ed25519 signatures are deterministic, so the
    /// late signature is the same bytes, and a binding that only answers
    /// queries costs no signature at all.
    async fn publish_as(&self, signer: &Arc<Identity>, record: Record) -> Result<Published, Error> {
        self.publish_own(record.sign_own(signer)?).await
    }

    /// [`publish_as`](Self::publish_as) on condition: a store that holds a
    /// record of `signer`'s for this AOR newer than version `replaces`
    /// refuses it with [`Error::Replay`]. A writer that remembers the
    /// version it last wrote offers a version from the clock this way and
    /// still never overwrites a write it has not seen (another writer with
    /// the same key). This default reads the signer's record first, so a
    /// write in between can slip past it; the services of this workspace
    /// check the condition where they store.
    async fn publish_as_replacing(
        &self,
        signer: &Arc<Identity>,
        record: Record,
        replaces: u64,
    ) -> Result<Published, Error> {
        let key = signer.public_key();
        let held = match self.fetch(&record.aor).await {
            Ok(records) => records
                .iter()
                .filter(|r| r.publisher == key)
                .map(|r| r.record.version)
                .max(),
            Err(Error::NotFound(_)) => None,
            Err(e) => return Err(e),
        };
        if let Some(stored) = held.filter(|v| *v > replaces) {
            let offered = record.version;
            return Err(Error::Replay { stored, offered });
        }
        self.publish_as(signer, record).await
    }

    /// The live bindings of `aor` from every publisher, highest q first.
    /// [`Error::NotFound`] when no record exists; an empty list when records
    /// exist but no binding is live.
    async fn query(&self, aor: &Aor) -> Result<Vec<Binding>, Error>;

    /// [`LocationService::query`] for each of `aors`, answers in order.
    /// The local store overlaps the memory reads of the lookups, which makes
    /// a burst of queries faster this way than one call at a time.
    async fn query_many(&self, aors: &[Aor]) -> Vec<Result<Vec<Binding>, Error>> {
        let mut out = Vec::with_capacity(aors.len());
        for aor in aors {
            out.push(self.query(aor).await);
        }
        out
    }

    /// The stored signed records of `aor`, for a reader that needs the
    /// records themselves (to update its own, or to republish them). Every
    /// record returned has been checked: its signature verifies and the
    /// access policy admits it.
    async fn fetch(&self, aor: &Aor) -> Result<Vec<SignedRecord>, Error>;

    /// The peers that store `id`.
    async fn lookup(&self, id: ResourceId) -> Result<Lookup, Error>;

    /// Adds `binding` to `identity`'s record of `aor`, or replaces the binding
    /// of the same flow (same Contact, or same instance and reg-id), then
    /// publishes the new version.
    async fn refresh_binding(
        &self,
        identity: &Identity,
        aor: &Aor,
        binding: Binding,
    ) -> Result<Published, Error> {
        let mut record = own_record(self, identity, aor).await?;
        record.bindings.retain(|b| !b.same_flow(&binding));
        record.bindings.push(binding);
        self.publish(record.sign(identity)?).await
    }

    /// Removes the binding with this Contact from `identity`'s record of `aor`.
    async fn remove_binding(
        &self,
        identity: &Identity,
        aor: &Aor,
        contact: &str,
    ) -> Result<Published, Error> {
        let mut record = own_record(self, identity, aor).await?;
        record.bindings.retain(|b| b.contact != contact);
        self.publish(record.sign(identity)?).await
    }
}

/// A shared service is a service: an `Arc` of one passes wherever a
/// service is taken, and every method, overridden or not, is the inner
/// service's own.
#[async_trait]
impl<S: LocationService + ?Sized> LocationService for Arc<S> {
    async fn publish(&self, record: SignedRecord) -> Result<Published, Error> {
        (**self).publish(record).await
    }

    async fn publish_own(&self, record: OwnRecord) -> Result<Published, Error> {
        (**self).publish_own(record).await
    }

    async fn publish_as(&self, signer: &Arc<Identity>, record: Record) -> Result<Published, Error> {
        (**self).publish_as(signer, record).await
    }

    async fn publish_as_replacing(
        &self,
        signer: &Arc<Identity>,
        record: Record,
        replaces: u64,
    ) -> Result<Published, Error> {
        (**self)
            .publish_as_replacing(signer, record, replaces)
            .await
    }

    async fn query(&self, aor: &Aor) -> Result<Vec<Binding>, Error> {
        (**self).query(aor).await
    }

    async fn query_many(&self, aors: &[Aor]) -> Vec<Result<Vec<Binding>, Error>> {
        (**self).query_many(aors).await
    }

    async fn fetch(&self, aor: &Aor) -> Result<Vec<SignedRecord>, Error> {
        (**self).fetch(aor).await
    }

    async fn lookup(&self, id: ResourceId) -> Result<Lookup, Error> {
        (**self).lookup(id).await
    }

    async fn refresh_binding(
        &self,
        identity: &Identity,
        aor: &Aor,
        binding: Binding,
    ) -> Result<Published, Error> {
        (**self).refresh_binding(identity, aor, binding).await
    }

    async fn remove_binding(
        &self,
        identity: &Identity,
        aor: &Aor,
        contact: &str,
    ) -> Result<Published, Error> {
        (**self).remove_binding(identity, aor, contact).await
    }
}

/// `identity`'s current record of `aor` with the next version, or a new one.
async fn own_record<S: LocationService + ?Sized>(
    service: &S,
    identity: &Identity,
    aor: &Aor,
) -> Result<Record, Error> {
    let key = identity.public_key();
    let previous = match service.fetch(aor).await {
        Ok(records) => records
            .into_iter()
            .find(|r| r.publisher == key && r.verify().is_ok()),
        Err(Error::NotFound(_)) => None,
        Err(e) => return Err(e),
    };
    let Some(prev) = previous else {
        return Ok(Record::new(aor.clone(), Record::next_version(None)));
    };
    // Drop what has lapsed by the service's own clock, so that a long-lived
    // UA's record does not fill up with dead bindings.
    let live = match service.query(aor).await {
        Ok(live) => live,
        Err(Error::NotFound(_)) => Vec::new(),
        Err(e) => return Err(e),
    };
    let mut record = prev.record;
    record.bindings.retain(|b| live.contains(b));
    record.version = Record::next_version(Some(record.version));
    Ok(record)
}
