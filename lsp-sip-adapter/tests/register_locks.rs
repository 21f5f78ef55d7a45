//! The lock that serializes REGISTERs of one AOR must not make REGISTERs of
//! other AORs wait: over a ring each holder keeps it for a round trip.
#![allow(clippy::unwrap_used)]

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use lsp_core::{
    Aor, Binding, Error, Identity, LocalConfig, LocalLocationService, LocationService, Lookup,
    Published, ResourceId, SignedRecord,
};
use lsp_sip_adapter::message::{self, Inbound, Request};
use lsp_sip_adapter::service::{SipConfig, SipService};
use tokio::sync::Notify;

/// The embedded store, whose fetches of one AOR wait until released.
#[derive(Debug)]
struct Gate {
    store: LocalLocationService,
    held: Mutex<Option<Aor>>,
    release: Notify,
}

impl Default for Gate {
    fn default() -> Self {
        Self {
            store: LocalLocationService::new(LocalConfig::default()),
            held: Mutex::new(None),
            release: Notify::new(),
        }
    }
}

#[async_trait]
impl LocationService for Gate {
    async fn publish(&self, record: SignedRecord) -> Result<Published, Error> {
        self.store.publish(record).await
    }
    async fn query(&self, aor: &Aor) -> Result<Vec<Binding>, Error> {
        self.store.query(aor).await
    }
    async fn fetch(&self, aor: &Aor) -> Result<Vec<SignedRecord>, Error> {
        let wait = self.held.lock().unwrap().as_ref() == Some(aor);
        if wait {
            self.release.notified().await;
        }
        self.store.fetch(aor).await
    }
    async fn lookup(&self, id: ResourceId) -> Result<Lookup, Error> {
        self.store.lookup(id).await
    }
}

fn register(user: &str, cseq: u32) -> Request {
    let text = format!(
        "REGISTER sip:example.com SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.4:5060;branch=z9hG4bK{user}{cseq}\r\n\
         Max-Forwards: 70\r\nTo: <sip:{user}@example.com>\r\nFrom: <sip:{user}@example.com>;tag=a1\r\n\
         Call-ID: {user}-call\r\nCSeq: {cseq} REGISTER\r\nContact: <sip:{user}@192.0.2.4>\r\n\
         Content-Length: 0\r\n\r\n"
    );
    match message::parse(text.as_bytes()) {
        Ok(Inbound::Request(r)) => *r,
        other => panic!("not a request: {other:?}"),
    }
}

fn aor(user: &str) -> Aor {
    Aor::parse(&format!("sip:{user}@example.com")).unwrap()
}

#[tokio::test]
async fn a_register_waits_only_for_its_own_aor() {
    let gate = Arc::new(Gate::default());
    let config = SipConfig::new(Identity::from_secret_bytes([7; 32]))
        .serve_domain("example.com")
        .allow_unauthenticated();
    let sip = Arc::new(SipService::new(gate.clone(), config).unwrap());
    let source: SocketAddr = "192.0.2.4:5060".parse().unwrap();

    // An AOR whose Resource-ID starts with the held one's first byte: the
    // two shared a stripe of the lock while it had 256.
    let held = aor("alice");
    let first = held.resource_id().0[0];
    let other = (0..)
        .map(|i| format!("u{i}"))
        .find(|u| {
            let id = aor(u).resource_id().0;
            id[0] == first && id[1] != held.resource_id().0[1]
        })
        .unwrap();
    *gate.held.lock().unwrap() = Some(held);

    let waiting = tokio::spawn({
        let sip = sip.clone();
        async move { sip.handle(&register("alice", 1), source).await }
    });
    let again = tokio::spawn({
        let sip = sip.clone();
        async move { sip.handle(&register("alice", 2), source).await }
    });
    tokio::time::sleep(Duration::from_millis(50)).await;
    let answer = tokio::time::timeout(
        Duration::from_secs(5),
        sip.handle(&register(&other, 1), source),
    )
    .await
    .expect("a REGISTER of another AOR does not wait for alice's")
    .expect("an answer");
    assert_eq!(answer.code, 200, "{answer:?}");
    assert!(
        !waiting.is_finished() && !again.is_finished(),
        "alice's REGISTERs wait"
    );

    // Only one of alice's REGISTERs reached the store: the other waits
    // for the lock, not for the gate.
    *gate.held.lock().unwrap() = None;
    gate.release.notify_waiters();
    for r in [waiting, again] {
        let r = r.await.unwrap().expect("an answer");
        assert_eq!(r.code, 200, "{r:?}");
    }
}
