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

/// Successor lists fill a few rounds after the first successor is right;
/// a publish finds k replicas only then.
async fn wait_full_lists(nodes: &[&Node], len: usize) {
    for _ in 0..100 {
        let mut full = true;
        for n in nodes {
            full &= n.handle.status().await.unwrap().successors.len() == len;
        }
        if full {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("successor lists did not fill in 10 s");
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
    wait_full_lists(&all, 8).await;

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
    // The estimate reads the successor list, full since before the publishes.
    let status = nodes[5].handle.status().await.unwrap();
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

fn binding_record(
    user: &str,
    version: u64,
    contact: &str,
    key: &Identity,
) -> lsp_core::SignedRecord {
    Record {
        aor: Aor::parse(&format!("sip:{user}@example.com")).unwrap(),
        version,
        bindings: vec![Binding::new(
            contact,
            UnixTime::now() + Duration::from_secs(600),
            "c",
            1,
        )],
    }
    .sign(key)
}

/// A client on a transport that accepts no connection (as behind NAT):
/// it publishes and resolves through members, no member takes it into the
/// ring, and when its first member goes it carries on through another.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_with_no_listening_port_uses_the_ring_and_fails_over() {
    let members: Vec<Node> = (21..=24).map(start).collect();
    members[0].handle.join(&[]).await.unwrap();
    for m in &members[1..] {
        m.handle.join(&[members[0].handle.local()]).await.unwrap();
    }
    let all: Vec<&Node> = members.iter().collect();
    wait_converged(&all).await;
    wait_full_lists(&all, 3).await;
    let client = |seed: u8| {
        let id = Identity::from_secret_bytes([seed; 32]);
        let mut tc = TransportConfig::default();
        tc.request_timeout = Duration::from_secs(1);
        let t = QuicTransport::client(&id, "0.0.0.0:0".parse().unwrap(), tc).unwrap();
        (
            ChordNode::spawn(Arc::new(t), fast_config(u64::from(seed))),
            id,
        )
    };
    let m = |i: usize| members[i].handle.local();
    let (bob, bob_key) = client(50);
    let (alice, alice_key) = client(51);
    bob.attach(&[m(0), m(1)]).await.unwrap();
    alice.attach(&[m(0), m(2)]).await.unwrap();

    let bob_aor = Aor::parse("sip:bob@example.com").unwrap();
    let rec = binding_record("bob", 1, "sip:bob@192.0.2.7", &bob_key);
    assert_eq!(bob.publish(rec).await.unwrap().replicas, 3);
    assert_eq!(
        alice.query(&bob_aor).await.unwrap()[0].contact,
        "sip:bob@192.0.2.7"
    );

    // Nobody can connect to the client: answers came on its connections.
    let probe = QuicTransport::bind(
        &Identity::from_secret_bytes([77; 32]),
        "127.0.0.1:0".parse().unwrap(),
        TransportConfig::default(),
    )
    .unwrap();
    let bob_at = lsp_core::PeerAddr {
        id: bob.local().id,
        addr: format!("127.0.0.1:{}", bob.local().addr.port())
            .parse()
            .unwrap(),
    };
    assert!(probe.send(bob_at, vec![0; 8]).await.is_err());

    tokio::time::sleep(Duration::from_secs(2)).await;
    let clients = [bob.local().id, alice.local().id];
    for n in &members {
        let s = n.handle.status().await.unwrap();
        let named: Vec<NodeId> = s
            .successors
            .iter()
            .chain(s.predecessor.iter())
            .chain(s.fingers.iter())
            .map(|p| p.id)
            .collect();
        assert!(named.iter().all(|id| !clients.contains(id)), "{named:?}");
    }

    // The first member goes: both clients carry on through others.
    members[0].transport.close().await;
    let rec = binding_record("bob", 2, "sip:bob@192.0.2.8", &bob_key);
    bob.publish(rec).await.unwrap();
    let rec = binding_record("alice", 1, "sip:alice@192.0.2.9", &alice_key);
    alice.publish(rec).await.unwrap();
    assert_eq!(
        alice.query(&bob_aor).await.unwrap()[0].contact,
        "sip:bob@192.0.2.8"
    );
    let alice_aor = Aor::parse("sip:alice@example.com").unwrap();
    assert_eq!(
        bob.query(&alice_aor).await.unwrap()[0].contact,
        "sip:alice@192.0.2.9"
    );
}
