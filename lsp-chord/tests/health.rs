//! Health of the async node as its link is cut and mended: alone by
//! configuration serves, cut off turns `Isolated` within the isolation
//! timeout and refuses writes at once, and mended is healthy again.
#![allow(clippy::unwrap_used)]
#![cfg(feature = "runtime")]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use lsp_chord::{ChordNode, Config, Health};
use lsp_core::{
    Aor, Binding, Error, Identity, LocationService, MemoryNetwork, Record, SignedRecord, UnixTime,
};

const ISOLATION: Duration = Duration::from_secs(2);
const REQUEST_TIMEOUT: Duration = Duration::from_millis(200);

fn addr(n: u8) -> SocketAddr {
    format!("10.0.0.{n}:5000").parse().unwrap()
}

fn start(net: &MemoryNetwork, n: u8) -> ChordNode {
    let id = Identity::from_secret_bytes([n; 32]);
    let mut cfg = Config::default().seed(u64::from(n));
    cfg.stabilize_interval = Duration::from_millis(100);
    cfg.fix_fingers_interval = Duration::from_millis(100);
    cfg.check_predecessor_interval = Duration::from_millis(200);
    cfg.request_timeout = REQUEST_TIMEOUT;
    cfg.isolation_timeout = ISOLATION;
    ChordNode::spawn(Arc::new(net.bind(id.node_id(), addr(n))), cfg)
}

fn record(user: &str, version: u64) -> SignedRecord {
    Record {
        aor: Aor::parse(&format!("sip:{user}@example.org")).unwrap(),
        version,
        bindings: vec![Binding::new(
            format!("sip:{user}@198.51.100.7"),
            UnixTime::now() + Duration::from_secs(600),
            "c",
            1,
        )],
    }
    .sign(&Identity::from_secret_bytes([99; 32]))
    .expect("sign")
}

/// Polls `node` until its health satisfies `want`; the time it took.
async fn until(node: &ChordNode, limit: Duration, want: impl Fn(&Health) -> bool) -> Duration {
    let start = Instant::now();
    loop {
        let h = node.health().await.unwrap();
        if want(&h) {
            return start.elapsed();
        }
        assert!(start.elapsed() < limit, "health stayed {h:?} for {limit:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cut_off_node_turns_isolated_refuses_writes_and_recovers_when_mended() {
    let net = MemoryNetwork::default();
    let a = start(&net, 1);
    assert_eq!(a.health().await.unwrap(), Health::Joining);
    let early = record("early", 1).record.aor;
    assert_eq!(a.query(&early).await, Err(Error::NotJoined));
    a.join(&[]).await.unwrap();

    // Alone by configuration: it serves, however long nobody comes.
    tokio::time::sleep(ISOLATION + Duration::from_millis(500)).await;
    assert_eq!(a.health().await.unwrap(), Health::Alone);
    a.publish(record("early", 1)).await.unwrap();

    let (b, c) = (start(&net, 2), start(&net, 3));
    b.join(&[a.local()]).await.unwrap();
    c.join(&[a.local()]).await.unwrap();
    for n in [&a, &b, &c] {
        until(n, Duration::from_secs(5), |h| *h == Health::Healthy).await;
    }
    // Settled: each knows both others, so b and c keep each other when a
    // goes (right after the joins, each may know only a).
    for n in [&a, &b, &c] {
        for _ in 0..100 {
            let s = n.status().await.unwrap();
            if s.successors.len() == 2 && s.predecessor.is_some() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    // Cut a's link: no goodbye, frames just vanish. a turns isolated when
    // it has lost every peer or heard none for the timeout, whichever
    // comes first.
    net.cut(addr(1));
    let took = until(&a, Duration::from_secs(30), |h| {
        matches!(h, Health::Isolated { .. })
    })
    .await;
    assert!(
        took <= ISOLATION + Duration::from_secs(1),
        "isolated after {took:?}; the timeout is {ISOLATION:?}"
    );
    let started = Instant::now();
    let refused = a.publish(record("lost", 1)).await;
    assert!(
        matches!(refused, Err(Error::Isolated { .. })),
        "{refused:?}"
    );
    assert!(
        started.elapsed() < REQUEST_TIMEOUT,
        "refused after {:?}",
        started.elapsed()
    );
    assert!(matches!(
        a.query(&record("early", 1).record.aor).await,
        Err(Error::Isolated { .. })
    ));
    // The other two still have each other (one that knew only a finds
    // the other again when it stabilizes).
    for n in [&b, &c] {
        until(n, Duration::from_secs(5), |h| *h == Health::Healthy).await;
    }

    // Mended: a hears its old peers again and merges back.
    net.mend(addr(1));
    until(&a, Duration::from_secs(20), |h| *h == Health::Healthy).await;
    let mut merged = false;
    for _ in 0..100 {
        let s = a.status().await.unwrap();
        if s.successors.len() == 2 && s.predecessor.is_some() {
            merged = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(merged, "a did not merge back: {:?}", a.status().await);
    a.publish(record("after", 1)).await.unwrap();
    let found = b.query(&record("after", 1).record.aor).await.unwrap();
    assert_eq!(found[0].contact, "sip:after@198.51.100.7");
    let early = c.query(&record("early", 1).record.aor).await.unwrap();
    assert_eq!(early[0].contact, "sip:early@198.51.100.7");
}
