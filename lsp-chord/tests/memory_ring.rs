//! The async node over the in-memory transport: the same `ChordNode`, no
//! sockets.
#![allow(clippy::unwrap_used)]
#![cfg(feature = "runtime")]

use std::sync::Arc;
use std::time::Duration;

use lsp_chord::{ChordNode, Config, NodeState};
use lsp_core::{Aor, Binding, Identity, LocationService, MemoryNetwork, Record, UnixTime};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_over_memory_transport_publish_query_and_leave() {
    let net = MemoryNetwork::default();
    let mut nodes = Vec::new();
    for seed in 1..=6u8 {
        let id = Identity::from_secret_bytes([seed; 32]);
        let t = net.bind(id.node_id(), format!("10.0.0.{seed}:5000").parse().unwrap());
        let mut cfg = Config::default().seed(u64::from(seed));
        cfg.stabilize_interval = Duration::from_millis(100);
        cfg.fix_fingers_interval = Duration::from_millis(100);
        cfg.request_timeout = Duration::from_millis(200);
        nodes.push(ChordNode::spawn(Arc::new(t), cfg));
    }
    nodes[0].join(&[]).await.unwrap();
    let boot = [nodes[0].local()];
    for n in &nodes[1..] {
        n.join(&boot).await.unwrap();
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let s = nodes[3].status().await.unwrap();
    assert_eq!(s.state, NodeState::Joined);
    assert_eq!(s.successors.len(), 5);
    assert!(s.predecessor.is_some());
    assert!(!s.fingers.is_empty());
    assert_eq!(s.estimated_size, 6.0);

    let aor = Aor::parse("sip:bob@example.org").unwrap();
    let rec = Record {
        aor: aor.clone(),
        version: 1,
        bindings: vec![Binding::new(
            "sip:bob@198.51.100.2",
            UnixTime::now() + Duration::from_secs(300),
            "c",
            1,
        )],
    }
    .sign(&Identity::from_secret_bytes([50; 32]))
    .expect("sign");
    assert_eq!(nodes[1].publish(rec.clone()).await.unwrap().replicas, 3);
    assert_eq!(nodes[4].fetch(&aor).await.unwrap(), vec![rec]);

    // The primary leaves gracefully; the binding stays readable.
    let primary = nodes[2].lookup(aor.resource_id()).await.unwrap().peers[0].id;
    let i = nodes.iter().position(|n| n.local().id == primary).unwrap();
    nodes[i].leave().await.unwrap();
    assert!(nodes[i].status().await.is_err(), "a node that left stops");
    tokio::time::sleep(Duration::from_secs(1)).await;
    let reader = &nodes[(i + 1) % nodes.len()];
    assert_eq!(
        reader.query(&aor).await.unwrap()[0].contact,
        "sip:bob@198.51.100.2"
    );
}

/// What `ready` promises: every node of a three-node ring, each started
/// by the builder's `join`, has a predecessor and a successor that names
/// it, with no sleep in between; and the health watch saw the change.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_builder_join_returns_once_the_neighbours_are_settled() {
    let net = MemoryNetwork::default();
    let transport = |seed: u8| {
        let id = Identity::from_secret_bytes([seed; 32]);
        net.bind(id.node_id(), format!("10.0.1.{seed}:5000").parse().unwrap())
    };
    let idle = ChordNode::builder(transport(9)).spawn();
    let err = idle.ready(Duration::from_millis(100)).await.unwrap_err();
    assert_eq!(err, lsp_chord::Error::NotJoined);

    let first = ChordNode::builder(transport(1))
        .config(Config::local_test().seed(1))
        .join(&[])
        .await
        .unwrap();
    let mut health = first.watch_health();
    assert_eq!(*health.borrow_and_update(), lsp_chord::Health::Alone);
    let mut nodes = vec![first];
    for seed in 2..=3u8 {
        let boot = [nodes[0].local()];
        let node = ChordNode::builder(transport(seed))
            .config(Config::local_test().seed(u64::from(seed)))
            .join(&boot)
            .await
            .unwrap();
        nodes.push(node);
    }
    let last = nodes[2].status().await.unwrap();
    assert!(last.settled);
    // Was 10.2 or 3.2 right after a plain `join` with default timers.
    assert!((2.0..=4.0).contains(&last.estimated_size), "{last:?}");
    assert!(last.predecessor.is_some());
    let successor = last.successors[0];
    let s = nodes.iter().find(|n| n.local() == successor).unwrap();
    assert_eq!(
        s.status().await.unwrap().predecessor,
        Some(nodes[2].local())
    );
    tokio::time::timeout(Duration::from_secs(5), health.changed())
        .await
        .expect("the first node's health changes")
        .unwrap();
    assert_eq!(*health.borrow(), lsp_chord::Health::Healthy);
}
