//! Simulated rings: joins, churn, loss, partitions, crashes, leaves, and
//! hostile writes, each followed by the ring and data invariants.
#![allow(clippy::unwrap_used)]
#![cfg(feature = "sim")]

use std::time::Duration;

use lsp_chord::Outcome;
use lsp_chord::ring::Point;
use lsp_chord::sim::{Sim, SimConfig};
use lsp_core::{
    AccessRefusal, Aor, Binding, FirstComeFirstServed, Identity, Record, SignedRecord, UnixTime,
};

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

/// The seed from `LSP_SIM_SEED`, or the test's own.
fn seed(default: u64) -> u64 {
    std::env::var("LSP_SIM_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

fn assert_ring(sim: &Sim) {
    if let Err(e) = sim.check_ring() {
        panic!(
            "ring invariant broken (replay with LSP_SIM_SEED={}): {e}",
            sim.seed()
        );
    }
}

#[test]
fn join_from_empty() {
    let mut sim = Sim::new(SimConfig::new(seed(1)));
    let first = sim.add_node();
    let op = sim.join(first, None);
    assert_eq!(sim.wait(first, op, secs(1)), Some(Ok(Outcome::Joined)));
    for _ in 1..60 {
        let i = sim.add_node();
        let via = sim.random_live();
        let op = sim.join(i, via);
        assert_eq!(
            sim.wait(i, op, secs(30)),
            Some(Ok(Outcome::Joined)),
            "seed {}",
            sim.seed()
        );
        sim.run_for(Duration::from_millis(500));
    }
    sim.run_for(secs(120));
    assert_ring(&sim);
    assert_eq!(sim.live().len(), 60);
    let est = sim.status(first).unwrap().estimated_size;
    assert!((20.0..180.0).contains(&est), "size estimate {est}");
}

/// Published records and the contacts a query must return.
struct Ledger {
    publisher: Identity,
    entries: Vec<(Aor, Vec<String>)>,
}

impl Ledger {
    fn new() -> Self {
        Self {
            publisher: Identity::from_secret_bytes([7; 32]),
            entries: Vec::new(),
        }
    }

    fn record(&self, n: usize, now: UnixTime) -> (Aor, SignedRecord) {
        let aor = Aor::parse(&format!("sip:user{n}@example.com")).unwrap();
        let contact = format!("sip:user{n}@192.0.2.{}:5060", n % 250);
        let rec = Record {
            aor: aor.clone(),
            version: 1,
            bindings: vec![Binding::new(contact, now + secs(6 * 3600), "c@ua", 1)],
        }
        .sign(&self.publisher)
        .expect("sign");
        (aor, rec)
    }

    /// Publishes `count` AORs from random nodes; each must reach k replicas.
    fn publish(&mut self, sim: &mut Sim, count: usize) {
        for _ in 0..count {
            let n = self.entries.len();
            let (aor, rec) = self.record(n, sim.now());
            let contact = rec.record.bindings[0].contact.clone();
            let at = sim.random_live().unwrap();
            let op = sim.publish(at, rec);
            match sim.wait(at, op, secs(60)) {
                Some(Ok(Outcome::Published(p))) => assert!(p.replicas >= 1, "{p:?}"),
                other => panic!("publish {n}: {other:?} (LSP_SIM_SEED={})", sim.seed()),
            }
            self.entries.push((aor, vec![contact]));
        }
    }

    /// Every published binding is readable from a random node.
    fn check(&self, sim: &mut Sim) {
        for (aor, want) in &self.entries {
            let at = sim.random_live().unwrap();
            let op = sim.query(at, aor.clone());
            let got = match sim.wait(at, op, secs(60)) {
                Some(Ok(Outcome::Bindings(b))) => {
                    b.into_iter().map(|b| b.contact).collect::<Vec<_>>()
                }
                other => panic!("query {aor}: {other:?} (LSP_SIM_SEED={})", sim.seed()),
            };
            assert_eq!(&got, want, "{aor} (LSP_SIM_SEED={})", sim.seed());
        }
    }
}

fn ring(seed_value: u64, n: usize) -> Sim {
    let mut sim = Sim::new(SimConfig::new(seed(seed_value)));
    sim.converged_ring(n);
    sim.run_for(secs(10));
    assert_ring(&sim);
    sim
}

#[test]
fn stable_ring_lookups_are_correct_and_short() {
    let mut sim = ring(2, 200);
    let mut hops = 0;
    for _ in 0..200 {
        let target = Point(sim.random_u64().to_be_bytes().repeat(4).try_into().unwrap());
        let at = sim.random_live().unwrap();
        let op = sim.lookup(at, target);
        let Some(Ok(Outcome::Lookup(l))) = sim.wait(at, op, secs(30)) else {
            panic!("lookup failed (LSP_SIM_SEED={})", sim.seed());
        };
        assert_eq!(
            Some(l.peers[0].id),
            sim.true_successor(target).map(|p| p.id)
        );
        assert_eq!(l.peers.len(), 3);
        hops += l.hops;
    }
    // Chord's bound is 0.5·log2(N) on average; allow slack for this small sample.
    let mean = f64::from(hops) / 200.0;
    assert!(mean < 0.5 * 200f64.log2() + 1.5, "mean hops {mean}");
    let mut ledger = Ledger::new();
    ledger.publish(&mut sim, 50);
    ledger.check(&mut sim);
}

#[test]
fn two_adjacent_crashes_lose_nothing() {
    let mut sim = ring(3, 100);
    let mut ledger = Ledger::new();
    ledger.publish(&mut sim, 100);
    // Crash the primary of the first AOR and its successor at once.
    let key = Point::from(ledger.entries[0].0.resource_id());
    let primary = sim.true_successor(key).unwrap();
    let live = sim.live();
    let a = *live
        .iter()
        .find(|&&i| sim.addr(i).id == primary.id)
        .unwrap();
    let next = sim.node(a).unwrap().successors()[0].id;
    let b = *live.iter().find(|&&i| sim.addr(i).id == next).unwrap();
    sim.crash(a);
    sim.crash(b);
    sim.run_for(secs(60));
    assert_ring(&sim);
    ledger.check(&mut sim);
    // Re-replication restored three copies of every record.
    let copies: usize = sim
        .live()
        .iter()
        .map(|&i| sim.status(i).unwrap().store.records)
        .sum();
    assert!(copies >= 3 * ledger.entries.len(), "{copies} copies");
}

#[test]
fn graceful_leave_moves_data() {
    let mut sim = ring(4, 60);
    let mut ledger = Ledger::new();
    ledger.publish(&mut sim, 60);
    // Three nodes in a row leave, one after the other: their data must move.
    let key = Point::from(ledger.entries[0].0.resource_id());
    for _ in 0..3 {
        let primary = sim.true_successor(key).unwrap();
        let i = sim
            .live()
            .into_iter()
            .find(|&i| sim.addr(i).id == primary.id)
            .unwrap();
        assert!(sim.status(i).unwrap().store.records > 0);
        let op = sim.leave(i);
        assert_eq!(sim.wait(i, op, secs(30)), Some(Ok(Outcome::Left)));
        sim.run_for(secs(20));
    }
    sim.run_for(secs(30));
    assert_ring(&sim);
    ledger.check(&mut sim);
}

#[test]
fn churn_with_loss() {
    let mut cfg = SimConfig::new(seed(5));
    cfg.loss = 0.01;
    let mut sim = Sim::new(cfg);
    sim.converged_ring(100);
    sim.run_for(secs(10));
    let mut ledger = Ledger::new();
    ledger.publish(&mut sim, 40);
    // Sessions far shorter than in the field, to see many changes.
    let churn = sim.run_churn(secs(600), secs(1200), |_| {});
    assert!(churn.crashed >= 10 && churn.joined >= 10, "{churn:?}");
    ledger.publish(&mut sim, 10);
    sim.run_for(secs(120));
    assert_ring(&sim);
    ledger.check(&mut sim);
}

#[test]
fn partition_and_heal() {
    let mut sim = ring(6, 100);
    let mut ledger = Ledger::new();
    ledger.publish(&mut sim, 40);
    // Split by address parity: each side keeps every other node.
    sim.partition(|i| (i % 2) as u8);
    sim.run_for(secs(90));
    assert!(sim.check_ring().is_err(), "the partition split nothing");
    sim.heal();
    sim.run_for(secs(600));
    assert_ring(&sim);
    ledger.check(&mut sim);
}

#[test]
fn forged_replayed_and_unauthorized_writes_are_refused() {
    use lsp_chord::wire::{Message, Request};
    use lsp_core::Error;

    let mut sim = ring(7, 50);
    let mut ledger = Ledger::new();
    let (aor, v1) = ledger.record(0, sim.now());
    let op = sim.publish(0, v1.clone());
    assert!(matches!(
        sim.wait(0, op, secs(30)),
        Some(Ok(Outcome::Published(_)))
    ));
    ledger.entries.push((aor.clone(), vec![]));
    let key = Point::from(aor.resource_id());
    let holder_id = sim.true_successor(key).unwrap().id;
    let holder = sim
        .live()
        .into_iter()
        .find(|&i| sim.addr(i).id == holder_id)
        .unwrap();
    let rogue = sim.live().into_iter().find(|&i| i != holder).unwrap();
    let stored = |sim: &Sim| {
        sim.node(holder)
            .unwrap()
            .store()
            .fetch(&aor, sim.now())
            .unwrap()
    };
    assert_eq!(stored(&sim), vec![v1.clone()]);

    // The owner moves on to version 2.
    let mut next = v1.record.clone();
    next.version = 2;
    next.bindings[0].contact = "sip:moved@192.0.2.99".into();
    let v2 = next.sign(&ledger.publisher).expect("sign");
    let op = sim.publish(rogue, v2.clone());
    assert!(matches!(
        sim.wait(rogue, op, secs(30)),
        Some(Ok(Outcome::Published(_)))
    ));

    // Through the API: a replay and a hijack fail with their own errors.
    let op = sim.publish(rogue, v1.clone());
    assert!(matches!(
        sim.wait(rogue, op, secs(30)),
        Some(Err(Error::Replay { .. }))
    ));
    let mut theirs = v2.record.clone();
    theirs.version = 3;
    theirs.bindings[0].contact = "sip:thief@203.0.113.1".into();
    let hijack = theirs
        .clone()
        .sign(&Identity::from_secret_bytes([9; 32]))
        .expect("sign");
    let op = sim.publish(rogue, hijack.clone());
    assert!(matches!(
        sim.wait(rogue, op, secs(30)),
        Some(Err(Error::Unauthorized(AccessRefusal::OwnedByAnotherKey)))
    ));
    let mut forged = v2.clone();
    forged.record = theirs;
    let op = sim.publish(rogue, forged.clone());
    assert!(matches!(
        sim.wait(rogue, op, secs(30)),
        Some(Err(Error::BadSignature))
    ));

    // Straight onto the wire, bypassing the rogue's own checks: the storing
    // node refuses all three and keeps version 2.
    for rec in [v1, hijack, forged] {
        let frame = Message::Request {
            id: 1,
            body: Request::Store { records: vec![rec] },
        }
        .encode()
        .expect("encode");
        sim.inject(rogue, holder, frame);
    }
    sim.inject(rogue, holder, vec![1, 0xff, 0xff, 0xff]);
    sim.run_for(secs(5));
    assert_eq!(stored(&sim), vec![v2]);
    assert!(sim.status(holder).unwrap().counters.malformed >= 1);
    ledger.entries[0].1 = vec!["sip:moved@192.0.2.99".into()];
    ledger.check(&mut sim);
}

#[test]
fn a_seed_replays_identically() {
    let run = || {
        let mut cfg = SimConfig::new(seed(8));
        cfg.loss = 0.02;
        let mut sim = Sim::new(cfg);
        sim.converged_ring(50);
        sim.run_churn(secs(120), secs(300), |_| {});
        let counters: Vec<_> = (0..sim.len())
            .map(|i| sim.status(i).map(|s| s.counters))
            .collect();
        (sim.net_stats(), counters, sim.now())
    };
    assert_eq!(run(), run());
}

#[test]
fn recursive_routing_finds_the_same_successors_and_survives_crashes() {
    let mut cfg = SimConfig::new(seed(9));
    cfg.chord.routing = lsp_chord::Routing::Recursive;
    let mut sim = Sim::new(cfg);
    sim.converged_ring(150);
    sim.run_for(secs(10));
    let mut ledger = Ledger::new();
    ledger.publish(&mut sim, 30);
    // A tenth of the ring dies at once; lookups must still finish correctly.
    // With k = 3, about one run in 30 loses an AOR whose every copy died;
    // those leave the ledger, all others must stay readable.
    let holders: Vec<Vec<usize>> = ledger
        .entries
        .iter()
        .map(|(aor, _)| {
            let now = sim.now();
            let live = sim.live();
            live.into_iter()
                .filter(|&i| sim.node(i).unwrap().store().fetch(aor, now).is_ok())
                .collect()
        })
        .collect();
    let mut dead = Vec::new();
    for _ in 0..15 {
        let i = sim.random_live().unwrap();
        sim.crash(i);
        dead.push(i);
    }
    let mut copies = holders.iter();
    ledger.entries.retain(|_| {
        let held_by = copies.next().unwrap();
        assert!(held_by.len() >= 3, "{held_by:?}");
        !held_by.iter().all(|i| dead.contains(i))
    });
    assert!(ledger.entries.len() >= 28, "{} left", ledger.entries.len());
    for _ in 0..100 {
        let target = Point(sim.random_u64().to_be_bytes().repeat(4).try_into().unwrap());
        let at = sim.random_live().unwrap();
        let op = sim.lookup(at, target);
        let outcome = sim.wait(at, op, secs(60));
        let Some(Ok(Outcome::Lookup(l))) = outcome else {
            panic!("lookup: {outcome:?} (LSP_SIM_SEED={})", sim.seed());
        };
        assert_eq!(
            Some(l.peers[0].id),
            sim.true_successor(target).map(|p| p.id)
        );
    }
    sim.run_for(secs(60));
    assert_ring(&sim);
    ledger.check(&mut sim);
}

#[test]
fn joins_hand_data_to_the_new_primaries() {
    // 303 and 313 put five joins into one gap, some of them handed records
    // before they knew their predecessor.
    let seeds = match std::env::var("LSP_SIM_SEED") {
        Ok(_) => vec![seed(10)],
        Err(_) => vec![10, 303, 313],
    };
    for s in seeds {
        joins_hand_data_in_ring(s);
    }
}

fn joins_hand_data_in_ring(seed_value: u64) {
    let mut sim = ring(seed_value, 40);
    let mut ledger = Ledger::new();
    ledger.publish(&mut sim, 60);
    for _ in 0..20 {
        let i = sim.add_node();
        let via = sim.random_live();
        let op = sim.join(i, via);
        assert_eq!(sim.wait(i, op, secs(30)), Some(Ok(Outcome::Joined)));
    }
    sim.run_for(secs(60));
    assert_ring(&sim);
    // Every record sits on its current primary and the two nodes after it.
    let ring_order = sim.ring_order();
    let live = sim.live();
    for (aor, _) in &ledger.entries {
        let key = Point::from(aor.resource_id());
        let at = ring_order.partition_point(|p| Point(p.id.0) < key);
        for d in 0..3 {
            let holder = ring_order[(at + d) % ring_order.len()];
            let i = *live.iter().find(|&&i| sim.addr(i).id == holder.id).unwrap();
            let held = sim.node(i).unwrap().store().fetch(aor, sim.now());
            assert!(
                held.is_ok(),
                "{aor} missing on replica {d} (LSP_SIM_SEED={})",
                sim.seed()
            );
        }
    }
    ledger.check(&mut sim);
}

#[test]
fn a_full_store_is_a_typed_error() {
    use lsp_core::Error;
    use lsp_core::store::StoreLimits;

    let mut cfg = SimConfig::new(seed(11));
    let mut limits = StoreLimits::default();
    limits.max_records = 2;
    // The whole store's bound, not one publisher's share of it.
    limits.publisher_share = 1;
    cfg.chord.limits = limits;
    let mut sim = Sim::new(cfg);
    sim.converged_ring(3);
    sim.run_for(secs(5));
    let ledger = Ledger::new();
    let mut outcomes = Vec::new();
    for n in 0..4 {
        let (_, rec) = ledger.record(n, sim.now());
        let op = sim.publish(0, rec);
        outcomes.push(sim.wait(0, op, secs(30)));
    }
    // Three nodes, three copies each, two records per node.
    assert!(matches!(outcomes[0], Some(Ok(Outcome::Published(_)))));
    assert!(matches!(outcomes[1], Some(Ok(Outcome::Published(_)))));
    assert!(
        matches!(outcomes[2], Some(Err(Error::StoreFull(_)))),
        "{:?}",
        outcomes[2]
    );
}

#[test]
fn operations_beyond_the_bound_fail_with_overloaded() {
    use lsp_core::Error;

    let mut cfg = SimConfig::new(seed(12));
    cfg.chord.max_operations = 2;
    let mut sim = Sim::new(cfg);
    sim.converged_ring(20);
    sim.run_for(secs(5));
    let ledger = Ledger::new();
    let ops: Vec<_> = (0..5)
        .map(|n| {
            let (_, rec) = ledger.record(n, sim.now());
            sim.publish(0, rec)
        })
        .collect();
    let outcomes: Vec<_> = ops
        .into_iter()
        .map(|op| sim.wait(0, op, secs(30)))
        .collect();
    let overloaded = outcomes
        .iter()
        .filter(|o| matches!(o, Some(Err(Error::Overloaded(_)))))
        .count();
    let published = outcomes
        .iter()
        .filter(|o| matches!(o, Some(Ok(Outcome::Published(_)))))
        .count();
    // Two slots; upkeep (a finger refresh) may hold one of them.
    assert!(
        published + overloaded == 5 && overloaded >= 3,
        "{outcomes:?}"
    );
}

#[test]
fn a_primary_fills_in_replicas_a_publisher_missed() {
    let mut sim = ring(12, 10);
    let aor = Aor::parse("sip:dora@example.com").unwrap();
    let record = Record {
        aor: aor.clone(),
        version: 1,
        bindings: vec![Binding::new(
            "sip:dora@192.0.2.7",
            sim.now() + secs(600),
            "c",
            1,
        )],
    }
    .sign(&Identity::from_secret_bytes([12; 32]))
    .expect("sign");
    // A publisher whose peer list held only the primary stores it there alone.
    let key = Point::from(aor.resource_id());
    let ring_order = sim.ring_order();
    let at = ring_order.partition_point(|p| Point(p.id.0) < key);
    let index_of = |p: lsp_core::PeerAddr| sim.live().into_iter().find(|&i| sim.addr(i).id == p.id);
    let holders: Vec<usize> = (0..3)
        .map(|d| index_of(ring_order[(at + d) % ring_order.len()]).unwrap())
        .collect();
    let outsider = sim
        .live()
        .into_iter()
        .find(|i| !holders.contains(i))
        .unwrap();
    let store = lsp_chord::wire::Message::Request {
        id: 99,
        body: lsp_chord::wire::Request::Store {
            records: vec![record],
        },
    };
    sim.inject(outsider, holders[0], store.encode().expect("encode"));
    sim.run_for(secs(2));
    for (d, &i) in holders.iter().enumerate() {
        let held = sim.node(i).unwrap().store().fetch(&aor, sim.now());
        assert!(held.is_ok(), "replica {d} lacks the record");
    }
}

#[test]
fn records_signed_here_reach_every_replica() {
    let mut sim = ring(13, 10);
    let key = Identity::from_secret_bytes([13; 32]);
    let own = |user: &str, sim: &Sim| {
        let aor = Aor::parse(&format!("sip:{user}@example.com")).unwrap();
        let mut rec = Record::new(aor.clone(), 1);
        rec.bindings = vec![Binding::new(
            "sip:x@192.0.2.8",
            sim.now() + secs(600),
            "c",
            1,
        )];
        (aor, rec.sign_own(&key).expect("sign"))
    };
    // From a node that holds the key itself, and from one that does not.
    let (held, held_rec) = own("erin", &sim);
    let ring_order = sim.ring_order();
    let point = Point::from(held.resource_id());
    let at = ring_order.partition_point(|p| Point(p.id.0) < point);
    let primary = ring_order[at % ring_order.len()];
    let primary = sim
        .live()
        .into_iter()
        .find(|&i| sim.addr(i).id == primary.id)
        .unwrap();
    let (other, other_rec) = own("fred", &sim);
    for (from, rec) in [(primary, held_rec.clone()), (0, other_rec)] {
        let op = sim.publish_own(from, rec);
        let outcome = sim.wait(from, op, secs(30));
        assert!(
            matches!(outcome, Some(Ok(Outcome::Published(_)))),
            "{outcome:?}"
        );
    }
    for aor in [&held, &other] {
        let holders = sim
            .live()
            .into_iter()
            .filter(|&i| sim.node(i).unwrap().store().fetch(aor, sim.now()).is_ok())
            .count();
        assert_eq!(holders, 3, "{aor}");
    }
    let again = sim.publish_own(primary, held_rec);
    match sim.wait(primary, again, secs(30)) {
        Some(Ok(Outcome::Published(p))) => assert!(p.unchanged, "{p:?}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn repair_brings_stray_copies_back_to_the_replicas() {
    let mut sim = ring(13, 30);
    let ledger = Ledger::new();
    let ring_order = sim.ring_order();
    let n = ring_order.len();
    let index_of = |sim: &Sim, p: lsp_core::PeerAddr| {
        sim.live()
            .into_iter()
            .find(|&i| sim.addr(i).id == p.id)
            .unwrap()
    };
    // One record only on the primary's second successor (a replica), one
    // only on its fourth (past the replicas, as joins in front leave them).
    // Each is written straight into the holder's store, so nothing spreads
    // it (a Store from a peer for a key past the replicas is refused).
    let mut cases = Vec::new();
    for (n_rec, distance) in [(0, 2), (1, 4)] {
        let (aor, record) = ledger.record(n_rec, sim.now());
        let key = Point::from(aor.resource_id());
        let at = ring_order.partition_point(|p| Point(p.id.0) < key);
        let at_distance = |d: usize| index_of(&sim, ring_order[(at + d) % n]);
        let holder = at_distance(distance);
        let replicas = [at_distance(0), at_distance(1), at_distance(2)];
        let store = sim.node(holder).unwrap().store();
        store
            .publish(&record, &FirstComeFirstServed, sim.now(), |_| Ok(()))
            .unwrap();
        cases.push((aor, replicas, holder));
    }
    sim.run_for(secs(2));
    let holds =
        |sim: &Sim, i: usize, aor: &Aor| sim.node(i).unwrap().store().fetch(aor, sim.now()).is_ok();
    for (aor, replicas, holder) in &cases {
        assert!(holds(&sim, *holder, aor));
        assert!(
            !holds(&sim, replicas[0], aor),
            "{aor} spread without repair"
        );
    }
    // Far successors are asked one per round: 8 - 2 of them.
    sim.run_for(secs(8 * 30));
    for (aor, replicas, _) in &cases {
        for (d, &i) in replicas.iter().enumerate() {
            assert!(
                holds(&sim, i, aor),
                "{aor} missing on replica {d} (LSP_SIM_SEED={})",
                sim.seed()
            );
        }
    }
}

/// The hostile scenario of `chord-sim`: honest, every query is right and no
/// lie is counted; with a tenth of the nodes lying, forging and dropping,
/// no anchored AOR is ever hijacked (readers check the trust anchor), and
/// nearly every query is right.
#[test]
fn the_hostile_scenario_hijacks_no_anchored_aor() {
    use lsp_chord::sim::hostile::{HostileConfig, run};
    let mut honest = HostileConfig::new(150, 0.0, 3);
    honest.aors = 40;
    honest.queries = 200;
    let r = run(&honest);
    assert_eq!((r.correct, r.lies), (200, 0), "{r:?}");
    let mut hostile = honest.clone();
    hostile.malicious = 0.1;
    let r = run(&hostile);
    assert_eq!(r.hijacked_anchored, 0, "{r:?}");
    assert!(r.lies > 0, "{r:?}");
    // Claims that name only liars are sparser than the ring: lookups route
    // on to the true owners. Queries of AORs whose replicas are mostly
    // liars are not counted: no reader can tell the thief there, and one
    // read right was luck.
    assert!(r.winnable_correct_rate() >= 0.98, "{r:?}");
}

/// Writes taken on both sides of a partition are all found once it heals,
/// and the copies a side stored for keys the whole ring holds elsewhere
/// are handed to the owners and dropped: no AOR stays on more than k nodes.
#[test]
fn writes_on_both_sides_of_a_partition_reach_their_owners_after_it_heals() {
    let mut sim = ring(8, 30);
    let mut ledger = Ledger::new();
    ledger.publish(&mut sim, 10);
    sim.partition(|i| (i % 2) as u8);
    sim.run_for(secs(90));
    assert!(sim.check_ring().is_err(), "the partition split nothing");
    ledger.publish(&mut sim, 40);
    sim.heal();
    sim.run_for(secs(900));
    assert_ring(&sim);
    ledger.check(&mut sim);
    let k = lsp_chord::Config::default().replicas;
    for (aor, _) in &ledger.entries {
        let holders = sim
            .live()
            .into_iter()
            .filter(|&i| sim.node(i).unwrap().store().fetch(aor, sim.now()).is_ok())
            .count();
        assert!(
            (1..=k).contains(&holders),
            "{aor} on {holders} nodes (LSP_SIM_SEED={})",
            sim.seed()
        );
    }
}
