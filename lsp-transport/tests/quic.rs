//! Real QUIC on 127.0.0.1: identities, limits, garbage and restarts.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use lsp_core::{Identity, NodeId, PeerAddr, Transport, TransportError};
use lsp_transport::{QuicTransport, TransportConfig};

fn node(seed: u8) -> (Identity, QuicTransport) {
    node_with(seed, TransportConfig::default())
}

fn node_with(seed: u8, cfg: TransportConfig) -> (Identity, QuicTransport) {
    let id = Identity::from_secret_bytes([seed; 32]);
    let t = QuicTransport::bind(&id, "127.0.0.1:0".parse().unwrap(), cfg).unwrap();
    (id, t)
}

async fn recv(t: &QuicTransport) -> lsp_core::Incoming {
    tokio::time::timeout(Duration::from_secs(5), t.recv())
        .await
        .expect("a frame within 5 s")
        .unwrap()
}

#[tokio::test]
async fn frames_flow_both_ways_from_proven_node_ids() {
    let (ia, a) = node(1);
    let (ib, b) = node(2);
    a.send(b.local(), b"ping".to_vec()).await.unwrap();
    let got = recv(&b).await;
    assert_eq!(got.from, ia.node_id());
    assert_eq!(got.frame, b"ping");
    // The answer reuses the connection a opened.
    b.send(a.local(), b"pong".to_vec()).await.unwrap();
    let got = recv(&a).await;
    assert_eq!(got.from, ib.node_id());
    assert_eq!(got.frame, b"pong");
    for i in 0..200u32 {
        a.send(b.local(), i.to_be_bytes().to_vec()).await.unwrap();
    }
    let mut seen = Vec::new();
    for _ in 0..200 {
        seen.push(u32::from_be_bytes(recv(&b).await.frame.try_into().unwrap()));
    }
    seen.sort_unstable();
    assert_eq!(seen, (0..200).collect::<Vec<_>>());
    a.close().await;
    b.close().await;
    assert_eq!(a.recv().await, Err(TransportError::Closed));
}

#[tokio::test]
async fn a_peer_with_another_key_is_refused() {
    let (_, a) = node(3);
    let (ib, b) = node(4);
    let impostor = PeerAddr {
        id: NodeId([0xee; 32]),
        addr: b.local().addr,
    };
    let err = a.send(impostor, b"secret".to_vec()).await.unwrap_err();
    assert_eq!(
        err,
        TransportError::PeerIdMismatch {
            expected: NodeId([0xee; 32]),
            found: ib.node_id()
        }
    );
    // Nothing reached b, and the right Node-ID still works.
    a.send(b.local(), b"hello".to_vec()).await.unwrap();
    assert_eq!(recv(&b).await.frame, b"hello");
}

#[tokio::test]
async fn oversized_frames_are_refused_and_the_connection_survives() {
    let mut big = TransportConfig::default();
    big.max_frame_len = 1 << 20;
    let (_, a) = node_with(5, big);
    let (_, b) = node(6);
    // Our own limit is checked before anything is sent.
    let err = b.send(a.local(), vec![0; 64 * 1024 + 1]).await.unwrap_err();
    assert!(matches!(err, TransportError::FrameTooLarge { .. }));
    // A peer with a larger limit sends 200 KiB: b stops that stream unread.
    let _ = a.send(b.local(), vec![7; 200 * 1024]).await;
    a.send(b.local(), b"small".to_vec()).await.unwrap();
    let got = recv(&b).await;
    assert_eq!(got.frame, b"small");
    assert_eq!(b.connections().await, 1);
}

#[tokio::test]
async fn random_datagrams_do_not_disturb_a_node() {
    let (_, a) = node(7);
    let (_, b) = node(8);
    a.send(b.local(), b"before".to_vec()).await.unwrap();
    assert_eq!(recv(&b).await.frame, b"before");
    let junk = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    for i in 0..2000usize {
        let len = 1 + (i * 37) % 1400;
        let datagram: Vec<u8> = (0..len)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect();
        junk.send_to(&datagram, b.local().addr).unwrap();
    }
    a.send(b.local(), b"after".to_vec()).await.unwrap();
    assert_eq!(recv(&b).await.frame, b"after");
}

#[tokio::test]
async fn a_restarted_peer_is_reached_again() {
    let (_, a) = node(9);
    let (ib, b) = node(10);
    let at = b.local();
    a.send(at, b"one".to_vec()).await.unwrap();
    assert_eq!(recv(&b).await.frame, b"one");
    b.close().await;
    drop(b);
    assert!(a.send(at, b"lost".to_vec()).await.is_err());
    let b2 = QuicTransport::bind(&ib, at.addr, TransportConfig::default()).unwrap();
    a.send(at, b"two".to_vec()).await.unwrap();
    assert_eq!(recv(&b2).await.frame, b"two");
}

/// With the cache full, a new connection closes the least recently used
/// one, not any one: a busy peer keeps its connection.
#[tokio::test]
async fn a_full_connection_cache_drops_the_least_recently_used() {
    let mut cfg = TransportConfig::default();
    cfg.max_connections = 2;
    let (_, a) = node_with(1, cfg);
    let (_, b) = node(2);
    let (_, c) = node(3);
    let (_, d) = node(4);
    a.send(b.local(), b"1".to_vec()).await.unwrap();
    recv(&b).await;
    a.send(c.local(), b"2".to_vec()).await.unwrap();
    recv(&c).await;
    tokio::time::sleep(Duration::from_millis(20)).await;
    a.send(b.local(), b"3".to_vec()).await.unwrap();
    recv(&b).await;
    a.send(d.local(), b"4".to_vec()).await.unwrap();
    recv(&d).await;
    for _ in 0..100 {
        if c.connections().await == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        c.connections().await,
        0,
        "the least recently used is closed"
    );
    assert_eq!(b.connections().await, 1, "the recently used one stays");
    assert_eq!(a.connections().await, 2);
}

const SHARE: usize = 256;

/// Floods a busy receiver (incoming share `SHARE`) from one node with
/// `flood`, then sends it one frame from another: how many flood frames
/// it takes before that one.
async fn flood_frames_before_an_honest_one<F, Fut>(seed: u8, flood: F) -> usize
where
    F: FnOnce(QuicTransport, PeerAddr) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let mut cfg = TransportConfig::default();
    cfg.incoming_per_peer = SHARE;
    let (_, busy) = node_with(seed, cfg);
    let (_, flooder) = node(seed + 1);
    let (ih, honest) = node(seed + 2);
    let flood = tokio::spawn(flood(flooder, busy.local()));
    tokio::time::sleep(Duration::from_millis(800)).await;
    honest.send(busy.local(), b"honest".to_vec()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut taken = 0;
    loop {
        let got = recv(&busy).await;
        if got.from == ih.node_id() {
            break;
        }
        taken += 1;
        assert!(taken <= 5000, "the honest frame never came");
    }
    flood.abort();
    eprintln!("{taken} flood frames before the honest one");
    taken
}

/// One peer floods a receiver that is busy: it fills only its share of the
/// incoming queue (256 of 1,024 frames), and the queue is served in turn
/// across senders, so another peer's frame is taken after at most one of
/// the flood's (after 256 when the queue was first in, first out).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flooding_peer_holds_only_its_share_of_the_incoming_queue() {
    let taken = flood_frames_before_an_honest_one(20, |flooder, target| async move {
        for i in 0..900u32 {
            if flooder
                .send(target, i.to_be_bytes().to_vec())
                .await
                .is_err()
            {
                break;
            }
        }
    })
    .await;
    assert!(taken <= 1, "{taken} flood frames came first");
}

/// Frames sent together share one stream and arrive whole, in order.
#[tokio::test]
async fn a_batch_of_frames_arrives_in_order() {
    let (ia, a) = node(30);
    let (_, b) = node(31);
    let frames: Vec<Vec<u8>> = (0..200u32).map(|i| i.to_be_bytes().repeat(9)).collect();
    a.send_batch(b.local(), frames.clone()).await.unwrap();
    for want in &frames {
        let got = recv(&b).await;
        assert_eq!(got.from, ia.node_id());
        assert_eq!(&got.frame, want);
    }
}

/// A batch that holds an oversized frame is refused before anything of it
/// is sent, and the next batch goes through.
#[tokio::test]
async fn an_oversized_frame_in_a_batch_is_refused_whole() {
    let mut cfg = TransportConfig::default();
    cfg.max_frame_len = 1024;
    let (_, a) = node_with(32, cfg.clone());
    let (_, b) = node_with(33, cfg);
    let batch = vec![b"one".to_vec(), vec![0; 2048], b"three".to_vec()];
    assert!(matches!(
        a.send_batch(b.local(), batch).await,
        Err(TransportError::FrameTooLarge { size: 2048, .. })
    ));
    a.send_batch(b.local(), vec![b"four".to_vec(), b"five".to_vec()])
        .await
        .unwrap();
    assert_eq!(recv(&b).await.frame, b"four");
    assert_eq!(recv(&b).await.frame, b"five");
}

/// A flood sent as batches, many frames per stream, holds no more of a
/// busy receiver's queue than a flood of one frame per stream.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batched_flood_holds_only_its_share_of_the_incoming_queue() {
    let taken = flood_frames_before_an_honest_one(34, |flooder, target| async move {
        for i in 0..30u32 {
            let batch = (0..100u32).map(|j| (i * 100 + j).to_be_bytes().to_vec());
            if flooder.send_batch(target, batch.collect()).await.is_err() {
                break;
            }
        }
    })
    .await;
    assert!(taken <= SHARE + 4, "{taken} flood frames came first");
}
