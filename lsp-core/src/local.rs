//! The embedded default Location Service: one process, no network.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use async_trait::async_trait;

use crate::store::{Change, RecordStore, StoreLimits, StoreStats, Written};
use crate::{
    AccessPolicy, Aor, Binding, Clock, Error, Identity, LocationService, Lookup, NodeId,
    OpenPolicy, OwnRecord, Peer, Published, Record, ResourceId, SignedRecord, StorageError,
    SystemClock, UnixTime, record::UNSIGNED, signing_bytes,
};

/// Most keys whose records a service keeps unsigned until it hands them
/// out; records of a further key are signed when published.
const MAX_LATE_SIGNERS: usize = 8;

/// Settings of a [`LocalLocationService`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct LocalConfig {
    /// Who may write which AOR.
    pub policy: Arc<dyn AccessPolicy>,
    /// Where time comes from.
    pub clock: Arc<dyn Clock>,
    /// Store limits.
    pub limits: StoreLimits,
    /// The Node-ID that [`LocationService::lookup`] reports.
    pub node_id: NodeId,
    /// Every lapsed entry is reclaimed within this long after it lapses,
    /// provided the service keeps being written to or
    /// [`LocalLocationService::purge_expired`] is called.
    pub sweep_interval: Duration,
}

impl Default for LocalConfig {
    fn default() -> Self {
        Self {
            policy: Arc::new(OpenPolicy),
            clock: Arc::new(SystemClock),
            limits: StoreLimits::default(),
            node_id: NodeId([0; 32]),
            sweep_interval: Duration::from_secs(60),
        }
    }
}

impl LocalConfig {
    /// Sets the access policy.
    pub fn policy(mut self, policy: impl AccessPolicy + 'static) -> Self {
        self.policy = Arc::new(policy);
        self
    }

    /// Sets the clock.
    pub fn clock(mut self, clock: impl Clock + 'static) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// Sets the store limits.
    pub fn limits(mut self, limits: StoreLimits) -> Self {
        self.limits = limits;
        self
    }

    /// Sets the Node-ID reported by lookups.
    pub fn node_id(mut self, id: NodeId) -> Self {
        self.node_id = id;
        self
    }
}

/// In-memory soft state with exact expiry, optionally kept on disk (feature
/// `disk`). Safe to share between threads and tasks.
#[derive(Debug)]
pub struct LocalLocationService {
    store: RecordStore,
    config: LocalConfig,
    #[cfg(feature = "disk")]
    disk: Option<crate::disk::DiskStore>,
    next_sweep: AtomicU64,
    sweep_cursor: AtomicUsize,
    /// The keys of [`LocationService::publish_as`] records kept unsigned.
    late_signers: RwLock<Vec<Arc<Identity>>>,
}

impl LocalLocationService {
    /// A purely in-memory service.
    pub fn new(config: LocalConfig) -> Self {
        Self {
            store: RecordStore::new(config.limits),
            next_sweep: AtomicU64::new(0),
            sweep_cursor: AtomicUsize::new(0),
            late_signers: RwLock::default(),
            #[cfg(feature = "disk")]
            disk: None,
            config,
        }
    }

    /// A service that keeps its records in the redb file at `path`, created
    /// if missing. Records that lapsed while it was down are dropped on open.
    #[cfg(feature = "disk")]
    #[cfg_attr(docsrs, doc(cfg(feature = "disk")))]
    pub fn open(path: impl AsRef<std::path::Path>, config: LocalConfig) -> Result<Self, Error> {
        let disk = crate::disk::DiskStore::open(path.as_ref())?;
        let mut service = Self::new(config);
        let now = service.config.clock.now();
        let mut lapsed = Vec::new();
        disk.load(|rid, packed| {
            if !service.store.restore(packed, now) {
                lapsed.push(rid);
            }
        })?;
        disk.remove(&lapsed)?;
        service.disk = Some(disk);
        Ok(service)
    }

    /// [`LocationService::publish`] without a future.
    pub fn publish_sync(&self, record: &SignedRecord) -> Result<Published, Error> {
        let now = self.config.clock.now();
        let written = self
            .store
            .publish(record, &*self.config.policy, now, |c| self.write_through(c))?;
        self.maybe_sweep(now);
        Ok(Published::new(1, written == Written::Unchanged))
    }

    /// [`LocationService::publish_own`] without a future.
    pub fn publish_own_sync(&self, record: &OwnRecord) -> Result<Published, Error> {
        let now = self.config.clock.now();
        let written = self
            .store
            .publish_own(record, &*self.config.policy, now, |c| self.write_through(c))?;
        self.maybe_sweep(now);
        Ok(Published::new(1, written == Written::Unchanged))
    }

    /// [`LocationService::publish_as`] without a future. An in-memory
    /// service keeps the record unsigned and signs it in
    /// [`fetch`](Self::fetch_sync); one kept on disk signs it now, since the
    /// file must hold records that verify.
    pub fn publish_as_sync(
        &self,
        signer: &Arc<Identity>,
        record: Record,
    ) -> Result<Published, Error> {
        self.publish_as_replacing_sync(signer, record, None)
    }

    /// [`LocationService::publish_as_replacing`] without a future; `None`
    /// publishes without condition.
    pub fn publish_as_replacing_sync(
        &self,
        signer: &Arc<Identity>,
        record: Record,
        replaces: Option<u64>,
    ) -> Result<Published, Error> {
        if !self.signs_late(signer) {
            let own = record.sign_own(signer)?;
            let Some(replaces) = replaces else {
                return self.publish_own_sync(&own);
            };
            let now = self.config.clock.now();
            let written = self.store.publish_own_replacing(
                &own,
                replaces,
                &*self.config.policy,
                now,
                |c| self.write_through(c),
            )?;
            self.maybe_sweep(now);
            return Ok(Published::new(1, written == Written::Unchanged));
        }
        let unsigned = SignedRecord {
            record,
            publisher: signer.public_key(),
            signature: UNSIGNED,
        };
        let now = self.config.clock.now();
        let written =
            self.store
                .publish_unsigned(&unsigned, replaces, &*self.config.policy, now, |c| {
                    self.write_through(c)
                })?;
        self.maybe_sweep(now);
        Ok(Published::new(1, written == Written::Unchanged))
    }

    /// Whether `signer`'s records may be kept unsigned, registering it.
    fn signs_late(&self, signer: &Arc<Identity>) -> bool {
        #[cfg(feature = "disk")]
        if self.disk.is_some() {
            return false;
        }
        let key = signer.public_key();
        let known = |list: &[Arc<Identity>]| list.iter().any(|s| s.public_key() == key);
        if known(
            &self
                .late_signers
                .read()
                .unwrap_or_else(PoisonError::into_inner),
        ) {
            return true;
        }
        let mut list = self
            .late_signers
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        if known(&list) {
            return true;
        }
        if list.len() >= MAX_LATE_SIGNERS {
            return false;
        }
        list.push(signer.clone());
        true
    }

    /// [`LocationService::query`] without a future.
    pub fn query_sync(&self, aor: &Aor) -> Result<Vec<Binding>, Error> {
        self.store.query(aor, self.config.clock.now())
    }

    /// [`LocationService::query_many`] without a future.
    pub fn query_many_sync(&self, aors: &[Aor]) -> Vec<Result<Vec<Binding>, Error>> {
        aors.iter().map(|aor| self.query_sync(aor)).collect()
    }

    /// [`LocationService::query`] answered into `out`, whose bindings are
    /// overwritten in place: a caller that reuses one `Vec` allocates nothing
    /// once it has the answer's shape (see [`RecordStore::query_into`]).
    pub fn query_into(&self, aor: &Aor, out: &mut Vec<Binding>) -> Result<(), Error> {
        self.store.query_into(aor, self.config.clock.now(), out)
    }

    /// [`LocationService::fetch`] without a future.
    pub fn fetch_sync(&self, aor: &Aor) -> Result<Vec<SignedRecord>, Error> {
        let mut records = self.store.fetch(aor, self.config.clock.now())?;
        for r in records.iter_mut().filter(|r| r.signature == UNSIGNED) {
            let signers = self
                .late_signers
                .read()
                .unwrap_or_else(PoisonError::into_inner);
            // Only publish_as stores an unsigned record, after registering
            // its signer, and signers are never forgotten.
            let signer = signers
                .iter()
                .find(|s| s.public_key() == r.publisher)
                .ok_or_else(|| {
                    StorageError::new("signing a stored record", "its key is not this service's")
                })?;
            r.signature = signer.sign(&signing_bytes(&r.publisher, &r.record)?);
        }
        Ok(records)
    }

    /// Reclaims every lapsed entry now; returns how many AORs were dropped.
    pub fn purge_expired(&self) -> usize {
        let now = self.config.clock.now();
        (0..self.store.shard_count())
            .map(|i| self.purge(i, now))
            .sum()
    }

    /// What the service holds.
    pub fn stats(&self) -> StoreStats {
        self.store.stats()
    }

    fn purge(&self, shard: usize, now: UnixTime) -> usize {
        self.store.purge_shard(shard, now, |_gone| {
            #[cfg(feature = "disk")]
            if let Some(disk) = &self.disk {
                // A failed delete only leaves lapsed entries that the next
                // open drops anyway.
                let _ = disk.remove(_gone);
            }
        })
    }

    /// Sweeps one shard per `sweep_interval / shards`, so the pause stays short.
    fn maybe_sweep(&self, now: UnixTime) {
        let next = self.next_sweep.load(Ordering::Relaxed);
        let shards = self.store.shard_count() as u32;
        let step = (now + self.config.sweep_interval / shards).as_millis();
        if now.as_millis() < next
            || self
                .next_sweep
                .compare_exchange(next, step, Ordering::Relaxed, Ordering::Relaxed)
                .is_err()
        {
            return;
        }
        let shard = self.sweep_cursor.fetch_add(1, Ordering::Relaxed);
        self.purge(shard, now);
    }

    fn write_through(&self, _change: &Change) -> Result<(), Error> {
        #[cfg(feature = "disk")]
        if let Some(disk) = &self.disk {
            return disk.apply(_change);
        }
        Ok(())
    }
}

#[async_trait]
impl LocationService for LocalLocationService {
    async fn publish(&self, record: SignedRecord) -> Result<Published, Error> {
        self.publish_sync(&record)
    }

    async fn publish_own(&self, record: OwnRecord) -> Result<Published, Error> {
        self.publish_own_sync(&record)
    }

    async fn publish_as(&self, signer: &Arc<Identity>, record: Record) -> Result<Published, Error> {
        self.publish_as_sync(signer, record)
    }

    async fn publish_as_replacing(
        &self,
        signer: &Arc<Identity>,
        record: Record,
        replaces: u64,
    ) -> Result<Published, Error> {
        self.publish_as_replacing_sync(signer, record, Some(replaces))
    }

    async fn query(&self, aor: &Aor) -> Result<Vec<Binding>, Error> {
        self.query_sync(aor)
    }

    async fn query_many(&self, aors: &[Aor]) -> Vec<Result<Vec<Binding>, Error>> {
        self.query_many_sync(aors)
    }

    async fn fetch(&self, aor: &Aor) -> Result<Vec<SignedRecord>, Error> {
        self.fetch_sync(aor)
    }

    async fn lookup(&self, _id: ResourceId) -> Result<Lookup, Error> {
        Ok(Lookup::new(
            vec![Peer {
                id: self.config.node_id,
                addr: None,
            }],
            0,
        ))
    }
}
