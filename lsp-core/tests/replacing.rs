//! A conditional publish: a version from the clock that never overwrites
//! a newer write of the same key it has not seen.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use async_trait::async_trait;
use futures::executor::block_on;
use lsp_core::{
    Aor, Binding, Error, Identity, LocalConfig, LocalLocationService, LocationService, Lookup,
    ManualClock, Published, Record, ResourceId, SignedRecord, UnixTime,
};

const T0: UnixTime = UnixTime(1_700_000_000_000);

fn record(version: u64, contact: &str) -> Record {
    let aor = Aor::parse("sip:alice@example.com").unwrap();
    let mut r = Record::new(aor, version);
    r.bindings
        .push(Binding::new(contact, UnixTime(T0.0 + 3_600_000), "c@ua", 1));
    r
}

fn contacts(s: &dyn LocationService) -> Vec<String> {
    let aor = Aor::parse("sip:alice@example.com").unwrap();
    let bindings = block_on(s.query(&aor)).unwrap();
    bindings.into_iter().map(|b| b.contact).collect()
}

/// The same writer, then another writer with the same key in between: the
/// first is taken, the second refused as a replay naming the newer version,
/// and nothing of the newer write is lost.
fn refuses_what_it_has_not_seen(s: &dyn LocationService) {
    let key = Arc::new(Identity::from_secret_bytes([7; 32]));
    // Nothing stored: any condition holds.
    block_on(s.publish_as_replacing(&key, record(100, "sip:a@h1"), 50)).unwrap();
    // The version this writer last wrote: taken, at a version far above it.
    block_on(s.publish_as_replacing(&key, record(5_000, "sip:a@h2"), 100)).unwrap();
    assert_eq!(contacts(s), ["sip:a@h2"]);
    // Another registrar with the key writes version 6,000.
    block_on(s.publish_as(&key, record(6_000, "sip:a@h3"))).unwrap();
    // The first, remembering 5,000, offers 9,000: refused.
    let refused = block_on(s.publish_as_replacing(&key, record(9_000, "sip:a@h4"), 5_000));
    assert!(
        matches!(
            refused,
            Err(Error::Replay {
                stored: 6_000,
                offered: 9_000
            })
        ),
        "{refused:?}"
    );
    assert_eq!(contacts(s), ["sip:a@h3"]);
    // A version at or below the stored one stays refused, condition or not.
    let old = block_on(s.publish_as_replacing(&key, record(6_000, "sip:a@h5"), 6_000));
    assert!(matches!(old, Err(Error::Replay { .. })), "{old:?}");
}

fn local() -> LocalLocationService {
    let clock = Arc::new(ManualClock::new(T0));
    LocalLocationService::new(LocalConfig::default().clock(clock))
}

#[test]
fn the_local_store_checks_the_condition_where_it_stores() {
    refuses_what_it_has_not_seen(&local());
    // Through an `Arc`, the inner service's own method.
    refuses_what_it_has_not_seen(&Arc::new(local()));
}

#[cfg(feature = "disk")]
#[test]
fn the_disk_store_checks_the_condition_too() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(T0));
    let config = LocalConfig::default().clock(clock);
    let s = LocalLocationService::open(dir.path().join("lsp.redb"), config).unwrap();
    refuses_what_it_has_not_seen(&s);
}

/// A service that implements only what the trait requires.
struct Plain(LocalLocationService);

#[async_trait]
impl LocationService for Plain {
    async fn publish(&self, record: SignedRecord) -> Result<Published, Error> {
        self.0.publish(record).await
    }
    async fn query(&self, aor: &Aor) -> Result<Vec<Binding>, Error> {
        self.0.query(aor).await
    }
    async fn fetch(&self, aor: &Aor) -> Result<Vec<SignedRecord>, Error> {
        self.0.fetch(aor).await
    }
    async fn lookup(&self, id: ResourceId) -> Result<Lookup, Error> {
        self.0.lookup(id).await
    }
}

#[test]
fn the_traits_default_reads_first_and_refuses_the_same() {
    refuses_what_it_has_not_seen(&Plain(local()));
}
