//! Chord nodes over real QUIC on 127.0.0.1, in one process.
#![allow(clippy::unwrap_used)]
#![cfg(feature = "runtime")]

use std::sync::Arc;
use std::time::Duration;

use lsp_chord::{ChordNode, Config};
use lsp_core::{Aor, Binding, Identity, LocationService, NodeId, Record, Transport, UnixTime};
use lsp_transport::{QuicTransport, TransportConfig};

fn fast_config(seed: u64) -> Config {
    let mut c = Config::default().seed(seed);
    c.stabilize_interval = Duration::from_millis(200);
    c.fix_fingers_interval = Duration::from_millis(200);
    c.check_predecessor_interval = Duration::from_millis(500);
    c.request_timeout = Duration::from_millis(300);
    c.operation_timeout = Duration::from_secs(10);
    c
}

struct Node {
    handle: ChordNode,
    transport: Arc<QuicTransport>,
}

fn start(seed: u8) -> Node {
    let id = Identity::from_secret_bytes([seed; 32]);
    let mut tc = TransportConfig::default();
    tc.request_timeout = Duration::from_secs(1);
    let transport = Arc::new(QuicTransport::bind(&id, "127.0.0.1:0".parse().unwrap(), tc).unwrap());
    let handle = ChordNode::spawn(transport.clone(), fast_config(u64::from(seed)));
    Node { handle, transport }
}

/// True when every node's successor and predecessor are right.
async fn converged(nodes: &[&Node]) -> bool {
    let mut ids: Vec<NodeId> = nodes.iter().map(|n| n.handle.local().id).collect();
    ids.sort();
    for n in nodes {
        let Ok(s) = n.handle.status().await else {
            return false;
        };
        let me = ids.iter().position(|i| *i == s.me.id).unwrap();
        let next = ids[(me + 1) % ids.len()];
        let prev = ids[(me + ids.len() - 1) % ids.len()];
        if s.successors.first().map(|p| p.id) != Some(next)
            || s.predecessor.map(|p| p.id) != Some(prev)
        {
            return false;
        }
    }
    true
}

async fn wait_converged(nodes: &[&Node]) {
    for _ in 0..200 {
        if converged(nodes).await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("ring did not converge in 20 s");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sixteen_nodes_over_quic_share_bindings_and_survive_a_kill() {
    let nodes: Vec<Node> = (1..=16).map(start).collect();
    nodes[0].handle.join(&[]).await.unwrap();
    let boot = [nodes[0].handle.local()];
    for n in &nodes[1..] {
        n.handle.join(&boot).await.unwrap();
    }
    let all: Vec<&Node> = nodes.iter().collect();
    wait_converged(&all).await;

    let publisher = Identity::from_secret_bytes([99; 32]);
    let now = UnixTime::now();
    let mut aors = Vec::new();
    for k in 0..20 {
        let aor = Aor::parse(&format!("sip:user{k}@example.com")).unwrap();
        let rec = Record {
            aor: aor.clone(),
            version: 1,
            bindings: vec![Binding::new(
                format!("sip:u{k}@192.0.2.7"),
                now + Duration::from_secs(600),
                "c",
                1,
            )],
        }
        .sign(&publisher);
        let p = nodes[k % 16].handle.publish(rec).await.unwrap();
        assert_eq!(p.replicas, 3);
        aors.push(aor);
    }
    for (k, aor) in aors.iter().enumerate() {
        let got = nodes[(k + 7) % 16].handle.query(aor).await.unwrap();
        assert_eq!(got[0].contact, format!("sip:u{k}@192.0.2.7"));
        let lookup = nodes[(k + 3) % 16]
            .handle
            .lookup(aor.resource_id())
            .await
            .unwrap();
        assert_eq!(lookup.peers.len(), 3);
    }
    // The estimate reads the successor list, which fills in a few rounds
    // after the first successor is right; judge it on the full list.
    let mut status = nodes[5].handle.status().await.unwrap();
    for _ in 0..50 {
        if status.successors.len() == 8 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        status = nodes[5].handle.status().await.unwrap();
    }
    assert_eq!(status.successors.len(), 8);
    assert!(
        (8.0..32.0).contains(&status.estimated_size),
        "{}",
        status.estimated_size
    );

    // Kill the primary of the first AOR: no goodbye, its socket just goes.
    let primary = nodes[0]
        .handle
        .lookup(aors[0].resource_id())
        .await
        .unwrap()
        .peers[0]
        .id;
    let victim = nodes
        .iter()
        .position(|n| n.handle.local().id == primary)
        .unwrap();
    nodes[victim].transport.close().await;
    let rest: Vec<&Node> = nodes
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != victim)
        .map(|(_, n)| n)
        .collect();
    wait_converged(&rest).await;
    for (k, aor) in aors.iter().enumerate() {
        let got = rest[k % rest.len()].handle.query(aor).await.unwrap();
        assert_eq!(
            got[0].contact,
            format!("sip:u{k}@192.0.2.7"),
            "{aor} after the kill"
        );
    }
}
