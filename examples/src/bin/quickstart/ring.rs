//! Part 2, the overlay: five Chord nodes over QUIC on 127.0.0.1, a SIP
//! registrar on node 1, a redirect server on node 4, and a UA that registers
//! itself on the ring with no server.

use std::sync::Arc;
use std::time::Duration;

use lsp_chord::ChordNode;
use lsp_core::{
    Aor, Binding, DomainTrustAnchors, FirstComeFirstServed, Identity, LocationService, NodeId,
    Record, UnixTime,
};
use lsp_sip_adapter::client::SipCaller;
use lsp_sip_adapter::digest::StaticCredentials;
use lsp_sip_adapter::server::{SipListen, SipServer};
use lsp_sip_adapter::service::{SipConfig, SipService};
use lsp_sip_adapter::ua::{SelfBinding, SelfRegistration};

use examples::BoxError;
use examples::local_ring::{settle, short, spawn_node};
use examples::sip_ua::{ALICE, invite, register_phone};

use crate::{refused, step};

const NODES: usize = 5;

async fn print_ring(nodes: &[ChordNode]) -> Result<(), BoxError> {
    let mut rows = Vec::new();
    for (i, n) in nodes.iter().enumerate() {
        rows.push((n.local().id, i + 1, n.status().await?));
    }
    rows.sort_by_key(|r| r.0);
    println!("   ring order (clockwise by Node-ID):");
    for (id, name, s) in &rows {
        let succ = s
            .successors
            .first()
            .map(|p| short(&p.id))
            .unwrap_or_default();
        let pred = s.predecessor.map(|p| short(&p.id)).unwrap_or_default();
        println!(
            "   node {name} {}… at {}  pred {pred}…  succ {succ}…  fingers {}  size estimate {:.1}",
            short(id),
            s.me.addr,
            s.fingers.len(),
            s.estimated_size
        );
    }
    Ok(())
}

/// Which node answers for `aor`, seen from every node, with the hops it took.
async fn print_lookups(nodes: &[ChordNode], aor: &Aor) -> Result<(), BoxError> {
    let name = |id: NodeId| {
        nodes
            .iter()
            .position(|n| n.local().id == id)
            .map_or("?".to_string(), |i| (i + 1).to_string())
    };
    for (i, n) in nodes.iter().enumerate() {
        let l = n.lookup(aor.resource_id()).await?;
        let replicas: Vec<String> = l.peers.iter().map(|p| name(p.id)).collect();
        println!(
            "   lookup {aor} from node {}: stored on nodes [{}], {} hop(s)",
            i + 1,
            replicas.join(", "),
            l.hops
        );
    }
    Ok(())
}

pub async fn run() -> Result<(), BoxError> {
    step("Five nodes start on 127.0.0.1, each with its own key, and join over QUIC");
    let domain_key = Arc::new(Identity::generate()?);
    // Registrars own example.com; anyone may self-register elsewhere.
    let policy = Arc::new(
        DomainTrustAnchors::new()
            .trust("example.com", domain_key.public_key())
            .otherwise(FirstComeFirstServed),
    );
    let mut nodes = Vec::new();
    for i in 0..NODES {
        let node = spawn_node(i as u64, policy.clone())?;
        println!(
            "   node {} Node-ID {}… QUIC {}",
            i + 1,
            short(&node.local().id),
            node.local().addr
        );
        nodes.push(node);
    }
    nodes[0].join(&[]).await?;
    for n in &nodes[1..] {
        n.join(&[nodes[0].local()]).await?;
    }
    settle(&nodes).await?;
    print_ring(&nodes).await?;

    step("Node 1 runs a SIP registrar for example.com, node 4 a redirect server");
    let users = StaticCredentials::new().with_password(ALICE.user, ALICE.domain, ALICE.password);
    let registrar = SipService::new(
        nodes[0].clone(),
        SipConfig::new(domain_key.clone())
            .serve_domain("example.com")
            .credentials(Arc::new(users)),
    )?;
    let redirect = SipService::new(
        nodes[3].clone(),
        SipConfig::new(domain_key.clone()).registrar(false),
    )?;
    let udp = |_| SipListen {
        udp: vec!["127.0.0.1:0".parse().expect("literal address")],
        ..SipListen::default()
    };
    let registrar = SipServer::bind(registrar, &udp(())).await?;
    let redirect = SipServer::bind(redirect, &udp(())).await?;
    let registrar_at = registrar.udp_addrs()[0];
    let redirect_at = redirect.udp_addrs()[0];
    println!("   registrar on udp {registrar_at}, redirect server on udp {redirect_at}");

    step("Alice's phone registers over UDP at node 1 (digest authentication)");
    let (_phone, alice_contact, _registration) = register_phone(registrar_at, &ALICE).await?;

    step("Bob's phone sends INVITE for alice to node 4's redirect server");
    let bob = SipCaller::bind("127.0.0.1:0".parse()?).await?;
    let moved_to = invite(&bob, redirect_at, "sip:alice@example.com").await?;
    if !moved_to.contains(&alice_contact) {
        return Err(format!("302 names {moved_to}, not {alice_contact}").into());
    }
    let alice = Aor::parse("sip:alice@example.com")?;
    print_lookups(&nodes, &alice).await?;

    step("Carol's UA registers itself on the ring through node 2 (pure P2P, no server)");
    let carol_key = Arc::new(Identity::generate()?);
    let carol = Aor::parse("sip:carol@p2p.example.net")?;
    let carol_contact = "sip:carol@127.0.0.1:5077";
    let me = SelfBinding::new(carol.clone(), carol_contact).lifetime(Duration::from_secs(300));
    let registration = SelfRegistration::start(nodes[1].clone(), carol_key.clone(), me).await?;
    println!("   carol signed and published her own binding with her key");
    let found = nodes[4].query(&carol).await?;
    let contacts: Vec<&str> = found.iter().map(|b| b.contact.as_str()).collect();
    println!("   node 5 resolves {carol} -> {}", contacts.join(", "));
    if contacts != [carol_contact] {
        return Err("node 5 did not resolve carol".into());
    }
    print_lookups(&nodes, &carol).await?;

    step("Nobody else can take carol's name or alice's domain on any node");
    let mallory = Identity::generate()?;
    let squat = Record {
        aor: carol.clone(),
        version: Record::next_version(None),
        bindings: vec![Binding::new(
            "sip:mallory@203.0.113.66",
            UnixTime::now() + Duration::from_secs(300),
            "squat",
            1,
        )],
    }
    .sign(&mallory)?;
    println!(
        "   mallory writes carol via node 3:  {}",
        refused(nodes[2].publish(squat).await)?
    );
    let hijack = Record {
        aor: alice.clone(),
        version: Record::next_version(None),
        bindings: vec![],
    }
    .sign(&mallory)?;
    println!(
        "   mallory writes alice via node 5:  {}",
        refused(nodes[4].publish(hijack).await)?
    );

    step("Carol goes offline; her binding is removed from the ring");
    registration.stop().await?;
    let left = nodes[3].query(&carol).await?;
    println!("   node 4 resolves {carol} -> {} contact(s)", left.len());
    if !left.is_empty() {
        return Err("carol's binding outlived her".into());
    }

    step("What each node holds after the run");
    for (i, n) in nodes.iter().enumerate() {
        let s = n.status().await?;
        println!(
            "   node {}: {} record(s) for {} AOR(s), {} messages sent, size estimate {:.1}",
            i + 1,
            s.store.records,
            s.store.aors,
            s.counters.messages_sent,
            s.estimated_size
        );
    }
    registrar.shutdown().await;
    redirect.shutdown().await;
    Ok(())
}
