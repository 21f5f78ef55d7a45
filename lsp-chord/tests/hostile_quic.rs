//! Attacks on a node over real QUIC on 127.0.0.1.
#![allow(clippy::unwrap_used)]
#![cfg(feature = "runtime")]

use std::sync::Arc;
use std::time::{Duration, Instant};

use lsp_chord::wire::{Message, Request, Response};
use lsp_chord::{ChordNode, Config};
use lsp_core::{Identity, PeerAddr, Transport};
use lsp_transport::{QuicTransport, TransportConfig};

fn bind(seed: u8, streams: u32) -> Arc<QuicTransport> {
    let id = Identity::from_secret_bytes([seed; 32]);
    let mut tc = TransportConfig::default();
    tc.max_streams_per_connection = streams;
    Arc::new(QuicTransport::bind(&id, "127.0.0.1:0".parse().unwrap(), tc).unwrap())
}

fn ping(id: u64) -> Vec<u8> {
    Message::Request {
        id,
        body: Request::Ping,
    }
    .encode()
    .expect("encode")
}

/// A peer that grants no stream credit cannot be answered: every answer to
/// it waits. Its 1,200 Pings (more answers than its send queue's 1,024
/// frames) must not delay another peer's Ping answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_granting_no_stream_credit_does_not_delay_anothers_answer() {
    let node_transport = bind(1, 1024);
    let node = ChordNode::spawn(node_transport.clone(), Config::default());
    node.join(&[]).await.unwrap();
    let to: PeerAddr = node_transport.local();

    let mute = bind(2, 0);
    for id in 0..1200 {
        mute.send(to, ping(id)).await.unwrap();
    }
    tokio::time::sleep(Duration::from_millis(300)).await;

    let honest = bind(3, 64);
    let asked = Instant::now();
    honest.send(to, ping(7)).await.unwrap();
    let answer = tokio::time::timeout(Duration::from_secs(5), honest.recv())
        .await
        .expect("an answer within 5 s")
        .unwrap();
    let waited = asked.elapsed();
    assert_eq!(
        Message::decode(&answer.frame).unwrap(),
        Message::Response {
            id: 7,
            body: Response::Ack
        }
    );
    assert!(waited < Duration::from_secs(1), "answered after {waited:?}");
    let status = node.status().await.unwrap();
    assert!(status.counters.messages_received >= 1201);
    assert!(
        status.counters.sends_dropped > 0,
        "the mute peer's answers are dropped"
    );
}
