use super::*;

fn bind(seed: u8, cfg: TransportConfig) -> QuicTransport {
    let id = Identity::from_secret_bytes([seed; 32]);
    QuicTransport::bind(&id, "127.0.0.1:0".parse().expect("addr"), cfg).expect("bind")
}

/// A node, and `n` dialers that each connected to it, with their
/// connections; dialer `i` is keyed by `seeds(i)`.
async fn dialed(
    cfg: TransportConfig,
    n: u8,
    seeds: impl Fn(u8) -> u8,
) -> (QuicTransport, Vec<(QuicTransport, Connection)>) {
    let node = bind(1, cfg);
    let mut dialers = Vec::new();
    for i in 0..n {
        let dialer = bind(seeds(i), TransportConfig::default());
        let conn = (dialer.inner)
            .connection(node.local())
            .await
            .expect("connect");
        dialers.push((dialer, conn));
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    (node, dialers)
}

/// One key that dials again and again holds one connection here: each
/// newer one replaces the older, which is closed, not left open.
#[tokio::test]
async fn one_key_holds_one_connection() {
    let (node, dialers) = dialed(TransportConfig::default(), 5, |_| 2).await;
    assert_eq!(node.inner.conns().len(), 1);
    for (_, conn) in &dialers[..4] {
        let closed = tokio::time::timeout(Duration::from_secs(2), conn.closed()).await;
        assert!(closed.is_ok(), "an older connection is closed");
    }
    assert!(dialers[4].1.close_reason().is_none(), "the newest serves");
}

/// Fresh keys from one address take at most its share of connections:
/// past it, a connection is closed instead of pushing others out.
#[tokio::test]
async fn one_address_holds_at_most_its_share_of_connections() {
    let cfg = TransportConfig {
        max_connections_per_address: 3,
        ..TransportConfig::default()
    };
    let (node, dialers) = dialed(cfg, 4, |i| 10 + i).await;
    assert_eq!(node.inner.conns().len(), 3);
    let last = &dialers[3].1;
    let closed = tokio::time::timeout(Duration::from_secs(2), last.closed()).await;
    assert!(closed.is_ok(), "the fourth is closed");
    assert!(dialers[..3].iter().all(|(_, c)| c.close_reason().is_none()));
}

/// Frames sent slowly (the length, then the rest) to a node that is not
/// taking them wait in the sender's share of the queue; past it, the
/// node accepts none of its streams, so the sender runs out of stream
/// credit instead of piling up tasks and buffers there.
#[tokio::test]
async fn slow_frames_past_the_peer_share_are_not_taken_in() {
    let cfg = TransportConfig {
        incoming_per_peer: 4,
        ..TransportConfig::default()
    };
    let node = bind(1, cfg);
    let sender = bind(2, TransportConfig::default());
    let conn = sender
        .inner
        .connection(node.local())
        .await
        .expect("connect");
    let mut opened = 0;
    for _ in 0..300 {
        let wait = Duration::from_millis(300);
        let Ok(Ok(mut stream)) = tokio::time::timeout(wait, conn.open_uni()).await else {
            break;
        };
        opened += 1;
        stream
            .write_all(&100u32.to_be_bytes())
            .await
            .expect("length");
        tokio::time::sleep(Duration::from_millis(1)).await;
        stream.write_all(&[7; 100]).await.expect("body");
        stream.finish().expect("finish");
    }
    // The share, and the streams the sender may open unaccepted.
    let bound = 4 + TransportConfig::default().max_streams_per_connection as usize;
    assert!(opened <= bound + 2, "{opened} streams taken in");
    node.close().await;
    sender.close().await;
}
