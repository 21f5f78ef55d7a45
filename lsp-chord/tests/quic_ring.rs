//! Chord nodes over real QUIC on 127.0.0.1, in one process.
#![allow(clippy::unwrap_used)]
#![cfg(feature = "runtime")]

use std::sync::Arc;
use std::time::Duration;

use lsp_chord::Health;
use lsp_chord::{ChordNode, Config};
use lsp_core::{
    Admission, Aor, Binding, Enrollment, Identity, LocationService, NodeId, Record, Transport,
    UnixTime,
};
use lsp_transport::{ClosedRing, QuicTransport, TransportConfig};

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
    start_in(seed, None)
}

/// A node listening on loopback, in a closed ring if `closed` is set.
fn start_in(seed: u8, closed: Option<ClosedRing>) -> Node {
    let id = Identity::from_secret_bytes([seed; 32]);
    let mut tc = TransportConfig::default();
    tc.request_timeout = Duration::from_secs(1);
    tc.closed_ring = closed;
    let transport = Arc::new(QuicTransport::bind(&id, "127.0.0.1:0".parse().unwrap(), tc).unwrap());
    let mut cfg = fast_config(u64::from(seed));
    if let Some(c) = closed {
        cfg.admission = Admission::Enrolled { ring: c.ring };
    }
    let handle = ChordNode::spawn(transport.clone(), cfg);
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
        .sign(&publisher)
        .expect("sign");
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
    .expect("sign")
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

/// Every Node-ID a member names as a neighbour or finger.
async fn named_by(nodes: &[Node]) -> Vec<NodeId> {
    let mut named = Vec::new();
    for n in nodes {
        let s = n.handle.status().await.unwrap();
        let listed = s.successors.iter().chain(s.predecessor.iter());
        named.extend(listed.chain(s.fingers.iter()).map(|p| p.id));
    }
    named
}

async fn wait_health(node: &Node, want: Health) {
    for _ in 0..100 {
        if node.handle.health().await.unwrap() == want {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("health is not {want:?} after 10 s");
}

/// A closed ring: members present an enrollment signed by the ring's key.
/// A node with none, or with one that ran out, is refused as a member
/// when it joins (its health says so), and no member will dial it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_closed_ring_refuses_nodes_without_a_valid_enrollment() {
    let ring = Identity::from_secret_bytes([90; 32]);
    let enrolled = |seed: u8, valid: Duration| ClosedRing {
        ring: ring.public_key(),
        enrollment: Some(Enrollment::issue(
            &ring,
            Identity::from_secret_bytes([seed; 32]).node_id(),
            UnixTime::now() + valid,
        )),
    };
    let hour = Duration::from_secs(3600);
    let members: Vec<Node> = (30..=33)
        .map(|seed| start_in(seed, Some(enrolled(seed, hour))))
        .collect();
    members[0].handle.join(&[]).await.unwrap();
    for m in &members[1..] {
        m.handle.join(&[members[0].handle.local()]).await.unwrap();
    }
    let all: Vec<&Node> = members.iter().collect();
    wait_converged(&all).await;

    // No enrollment at all, and one that runs out before it joins.
    let unenrolled = start_in(
        34,
        Some(ClosedRing {
            ring: ring.public_key(),
            enrollment: None,
        }),
    );
    let lapsed = start_in(35, Some(enrolled(35, Duration::from_millis(1500))));
    tokio::time::sleep(Duration::from_secs(2)).await;
    for node in [&unenrolled, &lapsed] {
        // The join's lookup is served, as a client's would be; the
        // successor then refuses it as a member.
        node.handle
            .join(&[members[0].handle.local()])
            .await
            .unwrap();
        wait_health(node, Health::NotAdmitted).await;
        // Waiting for it to be ready says so at once, not at the timeout.
        let asked = std::time::Instant::now();
        assert!(matches!(
            node.handle.ready(Duration::from_secs(60)).await,
            Err(lsp_core::Error::NotAdmitted(_))
        ));
        assert!(asked.elapsed() < Duration::from_secs(5));
        let aor = Aor::parse("sip:carol@example.com").unwrap();
        assert!(matches!(
            node.handle.query(&aor).await,
            Err(lsp_core::Error::NotAdmitted(_))
        ));
    }

    // A member that meets either's Node-ID in an answer cannot connect.
    let probe = start_in(36, Some(enrolled(36, hour)));
    for node in [&unenrolled, &lapsed] {
        let refused = probe.transport.send(node.handle.local(), vec![0; 8]).await;
        assert!(
            matches!(refused, Err(lsp_core::TransportError::NotEnrolled(_))),
            "{refused:?}"
        );
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let named = named_by(&members).await;
    let outsiders = [unenrolled.handle.local().id, lapsed.handle.local().id];
    assert!(named.iter().all(|id| !outsiders.contains(id)), "{named:?}");
    wait_converged(&all).await;

    // A client needs no enrollment to use the ring.
    let key = Identity::from_secret_bytes([37; 32]);
    let mut tc = TransportConfig::default();
    tc.closed_ring = Some(ClosedRing {
        ring: ring.public_key(),
        enrollment: None,
    });
    let t = QuicTransport::client(&key, "0.0.0.0:0".parse().unwrap(), tc).unwrap();
    let mut cfg = fast_config(37);
    cfg.admission = Admission::Enrolled {
        ring: ring.public_key(),
    };
    let client = ChordNode::spawn(Arc::new(t), cfg);
    client.attach(&[members[1].handle.local()]).await.unwrap();
    wait_full_lists(&all, 3).await;
    let rec = binding_record("dave", 1, "sip:dave@192.0.2.10", &key);
    assert_eq!(client.publish(rec).await.unwrap().replicas, 3);

    // A client set up with another ring's key cannot verify any member's
    // enrollment: its attach fails NotAdmitted, which points at the key.
    let wrong = Identity::from_secret_bytes([91; 32]).public_key();
    let key = Identity::from_secret_bytes([38; 32]);
    let mut tc = TransportConfig::default();
    tc.closed_ring = Some(ClosedRing {
        ring: wrong,
        enrollment: None,
    });
    let t = QuicTransport::client(&key, "0.0.0.0:0".parse().unwrap(), tc).unwrap();
    let mut cfg = fast_config(38);
    cfg.admission = Admission::Enrolled { ring: wrong };
    let lost = ChordNode::spawn(Arc::new(t), cfg);
    let err = lost
        .attach(&[members[1].handle.local(), members[2].handle.local()])
        .await
        .unwrap_err();
    assert!(matches!(err, lsp_core::Error::NotAdmitted(_)), "{err:?}");
    assert!(err.to_string().contains("ring key"), "{err}");
}

/// A client whose every member is down fails its attach with an error that
/// names the members it asked, not the client itself.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_attach_with_every_member_down_names_the_members_it_asked() {
    // Ports nobody listens on any more: the sockets close at once.
    let down: Vec<lsp_core::PeerAddr> = (61..=62)
        .map(|seed| lsp_core::PeerAddr {
            id: Identity::from_secret_bytes([seed; 32]).node_id(),
            addr: std::net::UdpSocket::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap(),
        })
        .collect();
    let me = Identity::from_secret_bytes([60; 32]);
    let mut tc = TransportConfig::default();
    tc.request_timeout = Duration::from_millis(500);
    let t = QuicTransport::client(&me, "127.0.0.1:0".parse().unwrap(), tc).unwrap();
    let client = ChordNode::spawn(Arc::new(t), fast_config(60));
    let err = client.attach(&down).await.unwrap_err();
    let lsp_core::Error::NoRoute { silent } = &err else {
        panic!("{err:?}");
    };
    let mut named = silent.clone();
    named.sort();
    let mut want: Vec<NodeId> = down.iter().map(|p| p.id).collect();
    want.sort();
    assert_eq!(named, want, "{err}");
    let text = err.to_string();
    assert!(text.contains(&down[0].id.to_string()), "{text}");
    assert!(!text.contains(&me.node_id().to_string()), "{text}");
}
