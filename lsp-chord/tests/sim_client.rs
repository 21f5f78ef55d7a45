//! The client role in the simulator: a node that uses the ring through its
//! members without joining it.
#![allow(clippy::unwrap_used)]
#![cfg(feature = "sim")]

use std::time::Duration;

use lsp_chord::sim::{Sim, SimConfig};
use lsp_chord::{Health, NodeState, Outcome};
use lsp_core::{Aor, Binding, Identity, Record, SignedRecord, UnixTime};

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

fn record(user: &str, contact: &str, now: UnixTime) -> SignedRecord {
    let key = Identity::from_secret_bytes([user.len() as u8; 32]);
    Record {
        aor: Aor::parse(&format!("sip:{user}@example.com")).unwrap(),
        version: 1,
        bindings: vec![Binding::new(contact, now + secs(3600), "c@ua", 1)],
    }
    .sign(&key)
    .expect("sign")
}

fn aor(user: &str) -> Aor {
    Aor::parse(&format!("sip:{user}@example.com")).unwrap()
}

#[test]
fn a_client_publishes_and_resolves_without_joining_and_fails_over() {
    let mut sim = Sim::new(SimConfig::new(5));
    let ring = sim.converged_ring(12);
    sim.run_for(secs(10));
    let (alice, bob) = (sim.add_node(), sim.add_node());
    let (first, second) = (ring[0], ring[6]);
    for c in [alice, bob] {
        let op = sim.attach(c, &[first, second]);
        assert_eq!(sim.wait(c, op, secs(10)), Some(Ok(Outcome::Attached)));
        assert_eq!(sim.node(c).unwrap().state(), NodeState::Client);
    }
    let op = sim.publish(bob, record("bob", "sip:bob@192.0.2.7", sim.now()));
    assert!(matches!(
        sim.wait(bob, op, secs(30)),
        Some(Ok(Outcome::Published(_)))
    ));
    let op = sim.query(alice, aor("bob"));
    let Some(Ok(Outcome::Bindings(b))) = sim.wait(alice, op, secs(30)) else {
        panic!("alice could not resolve bob");
    };
    assert_eq!(b[0].contact, "sip:bob@192.0.2.7");

    // A minute of stabilizing later, no member has taken a client in.
    sim.run_for(secs(60));
    sim.check_ring().unwrap();
    let clients = [sim.addr(alice).id, sim.addr(bob).id];
    for &m in &ring {
        let s = sim.status(m).unwrap();
        let named = s.successors.iter().chain(s.predecessor.iter());
        assert!(named.into_iter().all(|p| !clients.contains(&p.id)), "{m}");
        assert!(s.fingers.iter().all(|p| !clients.contains(&p.id)), "{m}");
    }
    assert_eq!(sim.status(alice).unwrap().health, Health::Healthy);

    // Its first member goes away: the client carries on through another.
    sim.crash(first);
    let op = sim.publish(alice, record("alice", "sip:alice@192.0.2.9", sim.now()));
    assert!(matches!(
        sim.wait(alice, op, secs(30)),
        Some(Ok(Outcome::Published(_)))
    ));
    let op = sim.query(alice, aor("bob"));
    assert!(matches!(
        sim.wait(alice, op, secs(30)),
        Some(Ok(Outcome::Bindings(_)))
    ));
    let op = sim.query(bob, aor("alice"));
    assert!(matches!(
        sim.wait(bob, op, secs(30)),
        Some(Ok(Outcome::Bindings(_)))
    ));
}

#[test]
fn a_client_that_loses_every_member_says_so_and_comes_back() {
    let mut sim = Sim::new(SimConfig::new(6));
    let ring = sim.converged_ring(6);
    sim.run_for(secs(10));
    let c = sim.add_node();
    let op = sim.attach(c, &[ring[1]]);
    assert_eq!(sim.wait(c, op, secs(10)), Some(Ok(Outcome::Attached)));
    sim.partition(|i| u8::from(i == c));
    sim.run_for(secs(40));
    assert!(
        matches!(sim.status(c).unwrap().health, Health::Isolated { .. }),
        "{:?}",
        sim.status(c).unwrap().health
    );
    let op = sim.query(c, aor("bob"));
    assert!(matches!(
        sim.wait(c, op, secs(5)),
        Some(Err(lsp_core::Error::Isolated { .. }))
    ));
    sim.heal();
    sim.run_for(secs(20));
    assert_eq!(sim.status(c).unwrap().health, Health::Healthy);
}

#[test]
fn a_member_cannot_attach_and_a_client_needs_a_member() {
    let mut sim = Sim::new(SimConfig::new(7));
    let ring = sim.converged_ring(4);
    let op = sim.attach(ring[0], &[ring[1]]);
    assert_eq!(
        sim.wait(ring[0], op, secs(1)),
        Some(Err(lsp_core::Error::AlreadyJoined))
    );
    let c = sim.add_node();
    let op = sim.attach(c, &[]);
    assert_eq!(
        sim.wait(c, op, secs(1)),
        Some(Err(lsp_core::Error::NotJoined))
    );
}

/// An open ring: members' Node-IDs carry proof of work. A node without it
/// cannot join, but can use the ring as a client.
#[test]
fn in_an_open_ring_a_node_without_work_cannot_join_but_can_be_a_client() {
    let rule = lsp_core::Admission::Work { bits: 6 };
    let mut cfg = SimConfig::new(8);
    cfg.chord.admission = rule;
    let mut sim = Sim::new(cfg);
    let members: Vec<usize> = (0..6)
        .map(|_| sim.add_node_at(lsp_core::mint_identity(6).unwrap().node_id()))
        .collect();
    let op = sim.join(members[0], None);
    assert_eq!(sim.wait(members[0], op, secs(1)), Some(Ok(Outcome::Joined)));
    for &m in &members[1..] {
        let op = sim.join(m, Some(members[0]));
        assert_eq!(sim.wait(m, op, secs(30)), Some(Ok(Outcome::Joined)));
    }
    sim.run_for(secs(60));
    sim.check_ring().unwrap();

    let stranger = loop {
        let i = sim.add_node();
        if !rule.admits(&sim.addr(i).id) {
            break i;
        }
    };
    let op = sim.join(stranger, Some(members[0]));
    assert!(matches!(
        sim.wait(stranger, op, secs(5)),
        Some(Err(lsp_core::Error::NotAdmitted(_)))
    ));
    let op = sim.attach(stranger, &[members[0], members[3]]);
    assert_eq!(
        sim.wait(stranger, op, secs(10)),
        Some(Ok(Outcome::Attached))
    );
    let op = sim.publish(stranger, record("carol", "sip:carol@192.0.2.3", sim.now()));
    assert!(matches!(
        sim.wait(stranger, op, secs(30)),
        Some(Ok(Outcome::Published(_)))
    ));
    sim.run_for(secs(30));
    sim.check_ring().unwrap();
}
