//! Reads and writes right after an owner dies with no goodbye, over real
//! QUIC on 127.0.0.1: none waits out the dead owner's timeouts, because a
//! read or a write asks the next owner too once one is slow (the hedge),
//! and a write ends once the owners that are slow could not change its
//! outcome.
#![allow(clippy::unwrap_used)]
#![cfg(feature = "runtime")]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use lsp_chord::{ChordNode, Config};
use lsp_core::{
    Aor, Binding, Identity, Incoming, LocationService, PeerAddr, Record, Transport, TransportError,
    UnixTime,
};
use lsp_transport::{QuicTransport, TransportConfig};

/// QUIC that can go dead at once: once `dead`, nothing leaves and nothing
/// is taken in, as when a process is killed, and no goodbye is sent (the
/// endpoint stays open, so peers see silence, not a closed connection).
#[derive(Debug)]
struct Killable {
    quic: QuicTransport,
    dead: AtomicBool,
}

#[async_trait]
impl Transport for Killable {
    fn local(&self) -> PeerAddr {
        self.quic.local()
    }

    fn max_frame_len(&self) -> usize {
        self.quic.max_frame_len()
    }

    async fn send(&self, to: PeerAddr, frame: Vec<u8>) -> Result<(), TransportError> {
        if self.dead.load(Ordering::Relaxed) {
            return Ok(());
        }
        self.quic.send(to, frame).await
    }

    async fn recv(&self) -> Result<Incoming, TransportError> {
        loop {
            let frame = self.quic.recv().await?;
            if !self.dead.load(Ordering::Relaxed) {
                return Ok(frame);
            }
        }
    }

    async fn close(&self) {
        self.quic.close().await;
    }
}

/// The default request timing (1 s a try, 3 tries): what a dead owner
/// used to cost a read, 3 s, is what the hedge must avoid.
fn config(seed: u64) -> Config {
    let mut c = Config::default().seed(seed);
    c.stabilize_interval = Duration::from_millis(200);
    c.fix_fingers_interval = Duration::from_millis(200);
    c.check_predecessor_interval = Duration::from_millis(500);
    c
}

fn record(i: usize, key: &Identity) -> lsp_core::SignedRecord {
    let until = UnixTime::now() + Duration::from_secs(3600);
    let aor = Aor::parse(&format!("sip:user{i}@example.com")).unwrap();
    let mut r = Record::new(aor, Record::next_version(None));
    r.bindings = vec![Binding::new(
        format!("sip:user{i}@192.0.2.7"),
        until,
        "c",
        1,
    )];
    r.sign(key).unwrap()
}

/// Runs `op(i)` for i in 0..n at once; gives each one's time, sorted.
async fn timed<F, Fut>(n: usize, op: F) -> Vec<Duration>
where
    F: Fn(usize) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let tasks: Vec<_> = (0..n)
        .map(|i| {
            let fut = op(i);
            tokio::spawn(async move {
                let started = Instant::now();
                fut.await;
                started.elapsed()
            })
        })
        .collect();
    let mut times = Vec::new();
    for t in tasks {
        times.push(t.await.unwrap());
    }
    times.sort();
    times
}

/// Runs `n` publishes at once from `node`, each a new version of user i.
async fn publishes(node: &ChordNode, key: &Identity, n: usize) -> Vec<Duration> {
    timed(n, |i| {
        let (node, record) = (node.clone(), record(i, key));
        async move {
            let published = node.publish(record).await.unwrap();
            assert!(published.replicas >= 2, "user{i}: {published:?}");
        }
    })
    .await
}

/// Runs `n` queries at once from `node`.
async fn queries(node: &ChordNode, n: usize) -> Vec<Duration> {
    timed(n, |i| {
        let node = node.clone();
        async move {
            let aor = Aor::parse(&format!("sip:user{i}@example.com")).unwrap();
            let found = node.query(&aor).await.unwrap();
            assert_eq!(found.len(), 1, "user{i}");
        }
    })
    .await
}

/// 200 reads at once, right after one of three owners went silent, all
/// finish within five times the unloaded p99 or 250 ms, whichever is
/// more; then 200 publishes likewise. Without the hedge, a read that asked
/// the dead owner first waited its three 1 s tries, and every write did.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_and_writes_right_after_an_owner_dies_do_not_wait_for_it() {
    let nodes: Vec<(ChordNode, Arc<Killable>)> = (40..43u8)
        .map(|seed| {
            let id = Identity::from_secret_bytes([seed; 32]);
            let any = "127.0.0.1:0".parse().unwrap();
            let quic = QuicTransport::bind(&id, any, TransportConfig::default()).unwrap();
            let t = Arc::new(Killable {
                quic,
                dead: AtomicBool::new(false),
            });
            (ChordNode::spawn(t.clone(), config(u64::from(seed))), t)
        })
        .collect();
    nodes[0].0.join(&[]).await.unwrap();
    for (n, _) in &nodes[1..] {
        n.join(&[nodes[0].0.local()]).await.unwrap();
    }
    for (n, _) in &nodes {
        n.ready(Duration::from_secs(30)).await.unwrap();
    }
    let key = Identity::from_secret_bytes([44; 32]);
    for i in 0..200 {
        let published = nodes[0].0.publish(record(i, &key)).await.unwrap();
        assert_eq!(published.replicas, 3, "user{i}");
    }
    let reader = &nodes[1].0;
    let unloaded = queries(reader, 200).await;
    let p99 = unloaded[unloaded.len() * 99 / 100];
    let unloaded_writes = publishes(reader, &key, 200).await;
    let write_p99 = unloaded_writes[unloaded_writes.len() * 99 / 100];

    nodes[2].1.dead.store(true, Ordering::Relaxed);
    let after = queries(reader, 200).await;
    let bound = (p99 * 5).max(Duration::from_millis(250));
    let slowest = *after.last().unwrap();
    println!(
        "unloaded p99 {p99:?}; after the death p50 {:?}, p99 {:?}, max {slowest:?}",
        after[after.len() / 2],
        after[after.len() * 99 / 100]
    );
    assert!(slowest <= bound, "slowest read {slowest:?} > {bound:?}");

    let writes = publishes(reader, &key, 200).await;
    let bound = (write_p99 * 5).max(Duration::from_millis(250));
    let slowest = *writes.last().unwrap();
    println!(
        "writes: unloaded p99 {write_p99:?}; after the death p50 {:?}, p99 {:?}, max {slowest:?}",
        writes[writes.len() / 2],
        writes[writes.len() * 99 / 100]
    );
    assert!(slowest <= bound, "slowest write {slowest:?} > {bound:?}");
}
