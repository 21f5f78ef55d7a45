//! A registrar remembers what it last published, so that a REGISTER of an
//! AOR it published before does not read the record back, and it loses no
//! binding when another registrar signing with the same key published since.
#![allow(clippy::unwrap_used)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use async_trait::async_trait;
use futures::executor::block_on;
use lsp_core::{
    Aor, Binding, Error, Identity, LocalConfig, LocalLocationService, LocationService, Lookup,
    OwnRecord, Published, Record, ResourceId, SignedRecord,
};
use lsp_sip_adapter::message::{self, Inbound, Request};
use lsp_sip_adapter::service::{SipConfig, SipService};

/// The embedded store, counting the records read back.
#[derive(Debug)]
struct Counting {
    store: LocalLocationService,
    fetches: AtomicUsize,
}

impl Default for Counting {
    fn default() -> Self {
        Self {
            store: LocalLocationService::new(LocalConfig::default()),
            fetches: AtomicUsize::new(0),
        }
    }
}

#[async_trait]
impl LocationService for Counting {
    async fn publish(&self, record: SignedRecord) -> Result<Published, Error> {
        self.store.publish(record).await
    }
    async fn publish_own(&self, record: OwnRecord) -> Result<Published, Error> {
        self.store.publish_own(record).await
    }
    // As the daemon's store does: the record is kept unsigned until read.
    async fn publish_as(&self, signer: &Arc<Identity>, record: Record) -> Result<Published, Error> {
        self.store.publish_as(signer, record).await
    }
    // The store checks the condition itself, without reading back.
    async fn publish_as_replacing(
        &self,
        signer: &Arc<Identity>,
        record: Record,
        replaces: u64,
    ) -> Result<Published, Error> {
        self.store
            .publish_as_replacing(signer, record, replaces)
            .await
    }
    async fn query(&self, aor: &Aor) -> Result<Vec<Binding>, Error> {
        self.store.query(aor).await
    }
    async fn fetch(&self, aor: &Aor) -> Result<Vec<SignedRecord>, Error> {
        self.fetches.fetch_add(1, Ordering::Relaxed);
        self.store.fetch(aor).await
    }
    async fn lookup(&self, id: ResourceId) -> Result<Lookup, Error> {
        self.store.lookup(id).await
    }
}

fn registrar(store: &Arc<Counting>, recent_bytes: usize) -> SipService {
    let config = SipConfig::new(Identity::from_secret_bytes([7; 32]))
        .serve_domain("example.com")
        .allow_unauthenticated()
        .recent_records(recent_bytes);
    SipService::new(store.clone(), config).unwrap()
}

/// A REGISTER of alice adding `host` as a Contact, in its own Call-ID.
fn register(host: &str) -> Request {
    let text = format!(
        "REGISTER sip:example.com SIP/2.0\r\nVia: SIP/2.0/UDP {host}:5060;branch=z9hG4bK{host}\r\n\
         To: <sip:alice@example.com>\r\nFrom: <sip:alice@example.com>;tag=a\r\n\
         Call-ID: {host}\r\nCSeq: 1 REGISTER\r\nContact: <sip:alice@{host}>\r\n\
         Content-Length: 0\r\n\r\n"
    );
    match message::parse(text.as_bytes()) {
        Ok(Inbound::Request(r)) => *r,
        other => panic!("not a request: {other:?}"),
    }
}

fn send(sip: &SipService, host: &str) -> usize {
    let source: SocketAddr = format!("{host}:5060").parse().unwrap();
    let r = block_on(sip.handle(&register(host), source)).unwrap();
    assert_eq!(r.code, 200, "{}", r.reason());
    r.header_values("Contact").count()
}

fn stored_contacts(store: &Counting) -> Vec<String> {
    let aor = Aor::parse("sip:alice@example.com").unwrap();
    let mut out: Vec<String> = block_on(store.query(&aor))
        .unwrap()
        .into_iter()
        .map(|b| b.contact)
        .collect();
    out.sort();
    out
}

#[test]
fn a_registrar_reads_back_only_a_record_it_does_not_remember() {
    for (recent_bytes, reads) in [(1 << 20, 1), (0, 3)] {
        let store = Arc::new(Counting::default());
        let sip = registrar(&store, recent_bytes);
        assert_eq!(send(&sip, "192.0.2.1"), 1);
        assert_eq!(send(&sip, "192.0.2.2"), 2);
        assert_eq!(send(&sip, "192.0.2.3"), 3);
        assert_eq!(
            store.fetches.load(Ordering::Relaxed),
            reads,
            "{recent_bytes}"
        );
        assert_eq!(stored_contacts(&store).len(), 3);
        // What the store hands out, signed late, is the registrar's and
        // verifies.
        let aor = Aor::parse("sip:alice@example.com").unwrap();
        let records = block_on(store.store.fetch(&aor)).unwrap();
        assert_eq!(records.len(), 1);
        records[0]
            .verify_from(&Identity::from_secret_bytes([7; 32]).public_key())
            .unwrap();
    }
}

#[test]
fn two_registrars_with_one_key_lose_no_binding() {
    let store = Arc::new(Counting::default());
    let (a, b) = (registrar(&store, 1 << 20), registrar(&store, 1 << 20));
    send(&a, "192.0.2.1");
    // b reads a's record and publishes a newer version under the same key.
    send(&b, "192.0.2.2");
    // a remembers only its own version: its publish is refused as a replay,
    // and it reads the record back before publishing again.
    assert_eq!(send(&a, "192.0.2.3"), 3);
    assert_eq!(
        stored_contacts(&store),
        [
            "sip:alice@192.0.2.1",
            "sip:alice@192.0.2.2",
            "sip:alice@192.0.2.3"
        ]
    );
    assert_eq!(store.fetches.load(Ordering::Relaxed), 3);
}
