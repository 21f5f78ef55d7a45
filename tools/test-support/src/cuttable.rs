//! A location service that turns isolated when told to, as a node cut off
//! from its ring does: a failure injector over the embedded store.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use lsp_core::{
    Aor, Binding, Error, LocalConfig, LocalLocationService, LocationService, Lookup, Published,
    ResourceId, SignedRecord,
};

/// The embedded store, or `Error::Isolated` while `cut`.
#[derive(Debug)]
pub struct Cuttable {
    pub store: LocalLocationService,
    pub cut: AtomicBool,
}

impl Default for Cuttable {
    fn default() -> Self {
        Self {
            store: LocalLocationService::new(LocalConfig::default()),
            cut: AtomicBool::new(false),
        }
    }
}

impl Cuttable {
    fn check(&self) -> Result<(), Error> {
        if self.cut.load(Ordering::Relaxed) {
            return Err(Error::Isolated {
                silent: Duration::from_secs(16),
            });
        }
        Ok(())
    }
}

#[async_trait]
impl LocationService for Cuttable {
    async fn publish(&self, record: SignedRecord) -> Result<Published, Error> {
        self.check()?;
        self.store.publish(record).await
    }
    async fn query(&self, aor: &Aor) -> Result<Vec<Binding>, Error> {
        self.check()?;
        self.store.query(aor).await
    }
    async fn fetch(&self, aor: &Aor) -> Result<Vec<SignedRecord>, Error> {
        self.check()?;
        self.store.fetch(aor).await
    }
    async fn lookup(&self, id: ResourceId) -> Result<Lookup, Error> {
        self.check()?;
        self.store.lookup(id).await
    }
}
