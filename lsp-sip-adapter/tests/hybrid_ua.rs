//! Hybrid mode and UA self-registration over the embedded store.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use futures::executor::block_on;
use lsp_core::{
    Aor, Binding, Error, FirstComeFirstServed, Identity, LocalConfig, LocalLocationService,
    LocationService, Lookup, Published, Record, ResourceId, SignedRecord, UnixTime,
};
use lsp_sip_adapter::hybrid::{HybridService, QueryOrder, Resync};
use lsp_sip_adapter::message::{self, Inbound, Response};
use lsp_sip_adapter::service::{SipConfig, SipService};
use lsp_sip_adapter::ua::{SelfBinding, SelfRegistration};
use lsp_test_support::Cuttable;

/// A half that has failed: every call errors, as a crashed overlay
/// (`Down::CLOSED`) or an isolated node would.
#[derive(Debug)]
struct Down(Error);

impl Down {
    const CLOSED: Down = Down(Error::Closed);

    fn isolated() -> Self {
        Down(Error::Isolated {
            silent: Duration::from_secs(20),
        })
    }
}

#[async_trait]
impl LocationService for Down {
    async fn publish(&self, _: SignedRecord) -> Result<Published, Error> {
        Err(self.0.clone())
    }
    async fn query(&self, _: &Aor) -> Result<Vec<Binding>, Error> {
        Err(self.0.clone())
    }
    async fn fetch(&self, _: &Aor) -> Result<Vec<SignedRecord>, Error> {
        Err(self.0.clone())
    }
    async fn lookup(&self, _: ResourceId) -> Result<Lookup, Error> {
        Err(self.0.clone())
    }
}

fn store() -> Arc<LocalLocationService> {
    Arc::new(LocalLocationService::new(LocalConfig::default()))
}

fn record(contact: &str, key: &Identity) -> SignedRecord {
    let aor = Aor::parse("sip:alice@example.com").expect("aor");
    let mut r = Record::new(aor, Record::next_version(None));
    r.bindings.push(Binding::new(
        contact,
        UnixTime::now() + Duration::from_secs(600),
        "c",
        1,
    ));
    r.sign(key).expect("sign")
}

fn alice() -> Aor {
    Aor::parse("sip:alice@example.com").expect("aor")
}

#[tokio::test]
async fn hybrid_publishes_to_both_and_queries_in_order() {
    let (local, p2p) = (store(), store());
    let hybrid = HybridService::new(local.clone(), p2p.clone(), QueryOrder::LocalFirst);
    let key = Identity::from_secret_bytes([1; 32]);
    hybrid
        .publish(record("sip:alice@192.0.2.1", &key))
        .await
        .expect("published");
    assert_eq!(local.query(&alice()).await.expect("local").len(), 1);
    assert_eq!(p2p.query(&alice()).await.expect("p2p").len(), 1);

    // Different views in each half: the order decides who answers.
    let other = Identity::from_secret_bytes([2; 32]);
    p2p.publish(record("sip:alice@203.0.113.5", &other))
        .await
        .expect("p2p only");
    let local_first = hybrid.query(&alice()).await.expect("found");
    assert_eq!(local_first.len(), 1);
    let p2p_first = HybridService::new(local.clone(), p2p.clone(), QueryOrder::P2pFirst);
    assert_eq!(p2p_first.query(&alice()).await.expect("found").len(), 2);
    assert_eq!(p2p_first.fetch(&alice()).await.expect("merged").len(), 2);
}

#[tokio::test]
async fn each_half_works_when_the_other_fails() {
    let key = Identity::from_secret_bytes([1; 32]);
    let local = store();
    let no_p2p = HybridService::new(local.clone(), Arc::new(Down::CLOSED), QueryOrder::P2pFirst);
    no_p2p
        .publish(record("sip:alice@192.0.2.1", &key))
        .await
        .expect("local half stores it");
    assert_eq!(no_p2p.query(&alice()).await.expect("from local").len(), 1);

    let p2p = store();
    let no_local = HybridService::new(Arc::new(Down::CLOSED), p2p.clone(), QueryOrder::LocalFirst);
    no_local
        .publish(record("sip:alice@192.0.2.2", &key))
        .await
        .expect("p2p half stores it");
    assert_eq!(no_local.query(&alice()).await.expect("from p2p").len(), 1);
    let nobody = Aor::parse("sip:nobody@example.com").expect("aor");
    assert!(matches!(
        no_local.query(&nobody).await,
        Err(Error::NotFound(_))
    ));

    let neither = HybridService::new(
        Arc::new(Down::CLOSED),
        Arc::new(Down::CLOSED),
        QueryOrder::LocalFirst,
    );
    assert!(
        neither
            .publish(record("sip:a@192.0.2.3", &key))
            .await
            .is_err()
    );
}

#[tokio::test]
async fn a_ua_registers_itself_refreshes_and_leaves() {
    let service: Arc<LocalLocationService> = Arc::new(LocalLocationService::new(
        LocalConfig::default().policy(FirstComeFirstServed),
    ));
    let me = Arc::new(Identity::from_secret_bytes([9; 32]));
    let spec =
        SelfBinding::new(alice(), "sip:alice@192.0.2.50:5062").lifetime(Duration::from_secs(2));
    let ua = SelfRegistration::start(service.clone(), me, spec)
        .await
        .expect("registered");
    let first = ua.resolve(&alice()).await.expect("resolves");
    assert_eq!(first[0].contact, "sip:alice@192.0.2.50:5062");

    tokio::time::sleep(Duration::from_millis(3000)).await;
    let later = ua
        .resolve(&alice())
        .await
        .expect("still live after its lifetime");
    assert_eq!(later.len(), 1);
    assert!(later[0].expires_at > first[0].expires_at, "refreshed");

    // First come, first served: another key cannot take the AOR meanwhile.
    let thief = Identity::from_secret_bytes([10; 32]);
    assert!(matches!(
        service
            .publish(record("sip:mallory@198.51.100.1", &thief))
            .await,
        Err(Error::Unauthorized(_))
    ));

    ua.stop().await.expect("removed");
    assert_eq!(service.query(&alice()).await, Ok(Vec::new()));
}

/// A UA's refreshes that fail show in its status, and a refresh that
/// succeeds again clears them: a program learns that the ring is gone
/// without polling `resolve`.
#[tokio::test]
async fn a_self_registration_says_when_its_refreshes_fail() {
    use std::sync::atomic::Ordering;
    let ring = Arc::new(Cuttable::default());
    let me = Arc::new(Identity::from_secret_bytes([11; 32]));
    let spec =
        SelfBinding::new(alice(), "sip:alice@192.0.2.51:5062").lifetime(Duration::from_secs(3));
    let ua = SelfRegistration::start(ring.clone(), me, spec)
        .await
        .expect("registered");
    let first = ua.status();
    assert_eq!((first.failures, first.last_error.as_deref()), (0, None));
    assert!(first.is_registered(UnixTime::now()));

    let mut changes = ua.watch();
    ring.cut.store(true, Ordering::Relaxed);
    let failing = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            changes.changed().await.expect("running");
            let s = changes.borrow_and_update().clone();
            if s.failures > 0 {
                return s;
            }
        }
    })
    .await
    .expect("a failed refresh is reported");
    assert!(
        failing
            .last_error
            .as_deref()
            .is_some_and(|e| e.contains("isolated")),
        "{failing:?}"
    );
    assert_eq!(failing.registered_until, first.registered_until);

    ring.cut.store(false, Ordering::Relaxed);
    let healed = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            changes.changed().await.expect("running");
            let s = changes.borrow_and_update().clone();
            if s.failures == 0 {
                return s;
            }
        }
    })
    .await
    .expect("a refresh that succeeds again is reported");
    assert!(healed.registered_until > first.registered_until);
    assert_eq!(healed.last_error, None);
    ua.stop().await.expect("removed");
}

fn sip_over(service: Arc<dyn LocationService>) -> SipService {
    let config = SipConfig::new(Arc::new(Identity::from_secret_bytes([7; 32])))
        .serve_domain("example.com")
        .allow_unauthenticated();
    SipService::new(service, config).expect("config")
}

fn handle(sip: &SipService, text: &str) -> Response {
    let Ok(Inbound::Request(request)) = message::parse(text.as_bytes()) else {
        panic!("not a request: {text}");
    };
    let source: SocketAddr = "192.0.2.4:5060".parse().expect("addr");
    block_on(sip.handle(&request, source)).expect("a response")
}

const REGISTER: &str = "REGISTER sip:example.com SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.4:5060;branch=z9hG4bKr1\r\n\
    Max-Forwards: 70\r\nTo: <sip:alice@example.com>\r\nFrom: <sip:alice@example.com>;tag=a1\r\n\
    Call-ID: r1\r\nCSeq: 1 REGISTER\r\nContact: <sip:alice@192.0.2.4>\r\nExpires: 600\r\n\
    Content-Length: 0\r\n\r\n";

const INVITE: &str = "INVITE sip:alice@example.com SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.9:5060;branch=z9hG4bKi1\r\n\
    Max-Forwards: 70\r\nTo: <sip:alice@example.com>\r\nFrom: <sip:bob@example.net>;tag=b1\r\n\
    Call-ID: i1\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n";

#[test]
fn an_isolated_ring_store_answers_503_with_retry_after_and_hybrid_keeps_serving() {
    let ring_only = sip_over(Arc::new(Down::isolated()));
    for text in [REGISTER, INVITE] {
        let r = handle(&ring_only, text);
        let wire = String::from_utf8(r.to_bytes()).expect("utf8");
        assert_eq!(r.code, 503, "{wire}");
        assert!(wire.contains("\r\nRetry-After: 30\r\n"), "{wire}");
    }

    let local = store();
    let hybrid = sip_over(Arc::new(HybridService::new(
        local.clone(),
        Arc::new(Down::isolated()),
        QueryOrder::LocalFirst,
    )));
    assert_eq!(handle(&hybrid, REGISTER).code, 200);
    assert_eq!(block_on(local.query(&alice())).expect("local").len(), 1);
    assert_eq!(handle(&hybrid, INVITE).code, 302);
}

#[tokio::test]
async fn what_the_overlay_missed_while_isolated_reaches_it_on_resync() {
    let key = Identity::from_secret_bytes([1; 32]);
    let local = store();
    let p2p = Arc::new(Cuttable::default());
    let hybrid = HybridService::new(local.clone(), p2p.clone(), QueryOrder::LocalFirst);
    p2p.cut.store(true, std::sync::atomic::Ordering::Relaxed);
    let versioned = |contact: &str, version: u64| {
        let mut r = Record::new(alice(), version);
        r.bindings.push(Binding::new(
            contact,
            UnixTime::now() + Duration::from_secs(600),
            "c",
            1,
        ));
        r.sign(&key).expect("sign")
    };
    let first = versioned("sip:alice@192.0.2.1", 1);
    hybrid
        .publish(first)
        .await
        .expect("the local half takes it");
    let newer = versioned("sip:alice@192.0.2.2", 2);
    hybrid
        .publish(newer.clone())
        .await
        .expect("and the newer one");
    let still_down = hybrid.resync().await;
    assert_eq!(
        (still_down.sent, still_down.waiting),
        (0, 1),
        "the newest only waits"
    );
    assert!(p2p.store.query(&alice()).await.is_err());

    p2p.cut.store(false, std::sync::atomic::Ordering::Relaxed);
    let done = hybrid.resync().await;
    assert_eq!((done.sent, done.waiting), (1, 0));
    assert_eq!(
        p2p.store.fetch(&alice()).await.expect("on the overlay"),
        [newer]
    );
    assert_eq!(hybrid.resync().await, Resync::default(), "nothing left");

    // A publish that reaches both halves leaves nothing behind.
    hybrid
        .publish(versioned("sip:alice@192.0.2.3", 3))
        .await
        .expect("both");
    assert_eq!(hybrid.resync().await.waiting, 0);
}

/// An overlay that refuses every record of one AOR for good (its key may
/// not write it there), and is down while `inner.cut`.
#[derive(Debug)]
struct Picky {
    inner: Cuttable,
    refused: Aor,
}

#[async_trait]
impl LocationService for Picky {
    async fn publish(&self, record: SignedRecord) -> Result<Published, Error> {
        let up = !self.inner.cut.load(std::sync::atomic::Ordering::Relaxed);
        if up && record.record.aor == self.refused {
            return Err(Error::Unauthorized(
                lsp_core::AccessRefusal::OwnedByAnotherKey,
            ));
        }
        self.inner.publish(record).await
    }
    async fn query(&self, aor: &Aor) -> Result<Vec<Binding>, Error> {
        self.inner.query(aor).await
    }
    async fn fetch(&self, aor: &Aor) -> Result<Vec<SignedRecord>, Error> {
        self.inner.fetch(aor).await
    }
    async fn lookup(&self, id: ResourceId) -> Result<Lookup, Error> {
        self.inner.lookup(id).await
    }
}

/// A record the overlay refuses for good is dropped from the backlog and
/// counted; it does not hold up the others, and a record the overlay holds
/// newer is not counted as sent.
#[tokio::test]
async fn a_record_the_overlay_refuses_for_good_does_not_hold_up_the_backlog() {
    let key = Identity::from_secret_bytes([1; 32]);
    let aor = |n: u32| Aor::parse(&format!("sip:u{n}@example.com")).expect("aor");
    let record = |n: u32, version: u64| {
        let mut r = Record::new(aor(n), version);
        r.bindings.push(Binding::new(
            "sip:u@192.0.2.1",
            UnixTime::now() + Duration::from_secs(600),
            "c",
            1,
        ));
        r.sign(&key).expect("sign")
    };
    let p2p = Arc::new(Picky {
        inner: Cuttable::default(),
        refused: aor(0),
    });
    // The overlay already holds u1 at a newer version.
    p2p.inner.store.publish(record(1, 9)).await.expect("newer");
    let hybrid = HybridService::new(store(), p2p.clone(), QueryOrder::LocalFirst);
    p2p.inner
        .cut
        .store(true, std::sync::atomic::Ordering::Relaxed);
    for n in 0..8 {
        hybrid.publish(record(n, 1)).await.expect("the local half");
    }
    assert_eq!(
        hybrid.resync().await.waiting,
        8,
        "all wait while it is down"
    );
    p2p.inner
        .cut
        .store(false, std::sync::atomic::Ordering::Relaxed);
    let r = hybrid.resync().await;
    assert_eq!((r.sent, r.refused, r.waiting), (6, 2, 0), "{r:?}");
    for n in 2..8 {
        assert_eq!(p2p.inner.store.fetch(&aor(n)).await.expect("sent").len(), 1);
    }
}
