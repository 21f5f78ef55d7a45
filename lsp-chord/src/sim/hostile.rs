//! The hostile scenario: a converged ring in which a fraction of the nodes
//! lie, and a Sybil group sits just before one AOR's key. Honest nodes
//! publish two versions of each AOR; then honest nodes query them while the
//! hostile ones
//!
//! - answer every `FindSuccessor` with as many hostile nodes, the nearest
//!   after the target, as an honest successor list holds (the most
//!   plausible lie they can tell),
//! - answer every `Store` with `Stored` and keep nothing,
//! - answer every `Fetch` with a thief's record (signed by the thief's key,
//!   with a higher version) and, for anchored AORs, the honest first
//!   version (stale),
//! - and ping honest nodes as if they were their successors (splicing in).
//!
//! Half the AORs are in a domain whose trust anchor is the honest key; the
//! other half are first-come-first-served. A query is **correct** when it
//! returns the honest second version's binding and nothing else.
//! Records have 7 replicas. Queries of an AOR whose replicas are mostly
//! hostile are counted apart (*outvoted*): for a first-come AOR, no reader
//! can tell the thief from the first publisher there.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use lsp_core::{
    Aor, Binding, DomainTrustAnchors, FirstComeFirstServed, Identity, NodeId, PeerAddr, Record,
    SignedRecord, UnixTime,
};

use super::{Adversary, Hostile, Sim, SimConfig};
use crate::Outcome;
use crate::ring::Point;
use crate::wire::{Message, Request, Response, StoreOutcome};

/// Settings of a hostile run.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct HostileConfig {
    /// Nodes in the ring (the Sybil group comes on top).
    pub nodes: usize,
    /// Fraction of the ring's nodes that are hostile.
    pub malicious: f64,
    /// Seed of every choice.
    pub seed: u64,
    /// AORs published (half anchored, half first-come).
    pub aors: usize,
    /// Queries made by honest nodes, 20 a second.
    pub queries: usize,
    /// Hostile nodes placed just before the first first-come AOR's key.
    pub sybils: usize,
    /// Replicas of each record: 7, the setting `docs/operations.md`
    /// recommends for a ring where a fifth of the nodes may lie.
    pub replicas: usize,
}

impl HostileConfig {
    /// `nodes` with a `malicious` fraction, 1,000 AORs, 2,000 queries, a
    /// Sybil group of 4 and 7 replicas.
    pub fn new(nodes: usize, malicious: f64, seed: u64) -> Self {
        Self {
            nodes,
            malicious,
            seed,
            aors: 1000,
            queries: 2000,
            sybils: 4,
            replicas: 7,
        }
    }
}

/// What a hostile run measured.
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct HostileReport {
    /// Queries made by honest nodes.
    pub queries: u64,
    /// Returned the honest newest binding, and only it.
    pub correct: u64,
    /// Returned the honest first version.
    pub stale: u64,
    /// Returned the thief's binding, for an anchored AOR.
    pub hijacked_anchored: u64,
    /// Returned the thief's binding, for a first-come AOR.
    pub hijacked_first_come: u64,
    /// Queries against the Sybil group's AOR, and how many were correct.
    pub sybil_target_queries: u64,
    /// Of those, correct.
    pub sybil_target_correct: u64,
    /// Ended in an error.
    pub failed: u64,
    /// Queries of AORs whose replicas are mostly hostile nodes.
    pub outvoted_queries: u64,
    /// Of those, correct.
    pub outvoted_correct: u64,
    /// Messages sent per node per minute while the queries ran.
    pub msgs_per_node_min: f64,
    /// Lies the honest nodes caught.
    pub lies: u64,
}

impl HostileReport {
    /// Correct queries as a fraction.
    pub fn correct_rate(&self) -> f64 {
        self.correct as f64 / self.queries.max(1) as f64
    }

    /// Correct queries as a fraction of those not outvoted: the queries a
    /// reader can get right. An outvoted first-come AOR read right was
    /// luck (an owner list that missed some of the liars), not design.
    pub fn winnable_correct_rate(&self) -> f64 {
        let correct = self.correct.saturating_sub(self.outvoted_correct);
        let queries = self.queries.saturating_sub(self.outvoted_queries);
        correct as f64 / queries.max(1) as f64
    }
}

const HONEST: &str = "sip:u@192.0.2.2";
const STALE: &str = "sip:u@192.0.2.1";
const THIEF: &str = "sip:thief@203.0.113.66";

#[derive(Debug)]
struct Liars {
    /// The hostile nodes, in ring order.
    ring: Vec<PeerAddr>,
    /// Peers a lie lists: as many as an honest successor list.
    listed: usize,
    /// What a hostile node answers a Fetch with.
    answers: HashMap<Aor, Vec<SignedRecord>>,
}

impl Liars {
    fn after(&self, target: Point) -> Vec<PeerAddr> {
        let at = self.ring.partition_point(|p| Point::from(p.id) <= target);
        (0..self.listed.min(self.ring.len()))
            .map(|d| self.ring[(at + d) % self.ring.len()])
            .collect()
    }
}

impl Adversary for Liars {
    fn on_request(&mut self, _node: usize, _from: PeerAddr, request: &Request) -> Hostile {
        match request {
            Request::FindSuccessor { target } => Hostile::Answer(Response::Successors {
                peers: self.after(Point(*target)),
            }),
            Request::Store { records } | Request::StoreHere { records } => {
                Hostile::Answer(Response::Stored {
                    outcomes: vec![StoreOutcome::Stored; records.len()],
                })
            }
            Request::StoreReplacing { .. } => Hostile::Answer(Response::Stored {
                outcomes: vec![StoreOutcome::Stored],
            }),
            Request::Fetch { aor } => Hostile::Answer(Response::Records {
                records: self.answers.get(aor).cloned().unwrap_or_default(),
            }),
            _ => Hostile::Serve,
        }
    }
}

fn record(aor: &Aor, version: u64, contact: &str, key: &Identity, now: UnixTime) -> SignedRecord {
    let expires = now + Duration::from_secs(3600);
    Record {
        aor: aor.clone(),
        version,
        bindings: vec![Binding::new(contact, expires, "c", 1)],
    }
    .sign(key)
    .expect("a record of plain fields encodes")
}

/// Runs the hostile scenario.
pub fn run(cfg: &HostileConfig) -> HostileReport {
    let honest = Identity::from_secret_bytes([0xaa; 32]);
    let thief = Identity::from_secret_bytes([0xbb; 32]);
    let policy = DomainTrustAnchors::new()
        .trust("anchored.example", honest.public_key())
        .otherwise(FirstComeFirstServed);
    let mut sim_cfg = SimConfig::new(cfg.seed);
    sim_cfg.chord = sim_cfg.chord.clone().policy(Arc::new(policy));
    sim_cfg.chord.replicas = cfg.replicas;
    let listed = sim_cfg.chord.successors;
    let mut sim = Sim::new(sim_cfg);
    let ring = sim.converged_ring(cfg.nodes);
    sim.run_for(Duration::from_secs(10));

    let aors: Vec<Aor> = (0..cfg.aors)
        .map(|i| {
            let domain = if i % 2 == 0 {
                "anchored.example"
            } else {
                "example.com"
            };
            Aor::parse(&format!("sip:u{i}@{domain}")).expect("a valid AOR")
        })
        .collect();
    for (version, contact) in [(1, STALE), (2, HONEST)] {
        let mut ops = Vec::new();
        for aor in &aors {
            let from = ring[sim.random_u64() as usize % ring.len()];
            let r = record(aor, version, contact, &honest, sim.now());
            ops.push((from, sim.publish(from, r)));
        }
        let _ = sim.run_until(Duration::from_secs(60), Duration::from_secs(1), |s| {
            ops.iter().all(|(i, op)| s.outcome(*i, *op).is_some())
        });
    }

    // The Sybil group takes places just before the first first-come AOR
    // (none in an honest run).
    let target_aor = aors.get(1).cloned().filter(|_| cfg.malicious > 0.0);
    let mut hostile: Vec<usize> = Vec::new();
    if let Some(aor) = &target_aor {
        let key = Point::from(aor.resource_id());
        for j in 1..=cfg.sybils {
            let mut id = key;
            for _ in 0..j {
                id = id.wrapping_sub(Point::pow2(200));
            }
            let i = sim.add_node_at(NodeId(id.0));
            let via = ring[sim.random_u64() as usize % ring.len()];
            sim.join(i, Some(via));
            hostile.push(i);
        }
        sim.run_for(Duration::from_secs(30));
    }
    let want = (cfg.malicious * cfg.nodes as f64).round() as usize;
    let mut pool = ring.clone();
    for _ in 0..want.min(pool.len()) {
        let at = sim.random_u64() as usize % pool.len();
        hostile.push(pool.swap_remove(at));
    }
    let honest_nodes = pool;

    let now = sim.now();
    let answers: HashMap<Aor, Vec<SignedRecord>> = aors
        .iter()
        .enumerate()
        .map(|(i, aor)| {
            let stolen = record(aor, 1000, THIEF, &thief, now);
            let held = if i % 2 == 0 {
                vec![record(aor, 1, STALE, &honest, now), stolen]
            } else {
                vec![stolen]
            };
            (aor.clone(), held)
        })
        .collect();
    let mut liars: Vec<PeerAddr> = hostile.iter().map(|&i| sim.addr(i)).collect();
    liars.sort_by_key(|p| Point::from(p.id));
    sim.set_adversary(
        &hostile,
        Box::new(Liars {
            ring: liars,
            listed,
            answers,
        }),
    );

    let sent = |sim: &Sim| -> u64 {
        (0..sim.len())
            .filter_map(|i| sim.status(i))
            .map(|s| s.counters.messages_sent)
            .sum()
    };
    let before = sent(&sim);
    let start = sim.now();
    let mut asked = Vec::new();
    for q in 0..cfg.queries {
        let from = honest_nodes[sim.random_u64() as usize % honest_nodes.len()];
        let n = sim.random_u64() as usize % aors.len();
        asked.push((from, sim.query(from, aors[n].clone()), n));
        // Splice attempts: a hostile node pings an honest one.
        if q % 20 == 0 && !hostile.is_empty() {
            let h = hostile[sim.random_u64() as usize % hostile.len()];
            let ping = Message::Request {
                id: sim.random_u64(),
                body: Request::Ping,
            };
            if let Ok(frame) = ping.encode() {
                sim.inject(h, from, frame);
            }
        }
        sim.run_for(Duration::from_millis(50));
    }
    sim.run_for(Duration::from_secs(35));
    let minutes = (sim.now().as_millis() - start.as_millis()) as f64 / 60_000.0;

    let mut report = HostileReport {
        queries: asked.len() as u64,
        msgs_per_node_min: (sent(&sim) - before) as f64 / sim.len() as f64 / minutes.max(1e-9),
        lies: honest_nodes
            .iter()
            .filter_map(|&i| sim.status(i))
            .map(|s| s.counters.lies)
            .sum(),
        ..HostileReport::default()
    };
    // Which AORs have a hostile majority among their replicas: no read
    // can tell a first-come thief from the first publisher there.
    let mut ring_order: Vec<(Point, bool)> = (0..sim.len())
        .map(|i| (Point(sim.addr(i).id.0), hostile.contains(&i)))
        .collect();
    ring_order.sort_by_key(|x| x.0);
    let hostile_majority = |aor: &Aor| {
        let key = Point::from(aor.resource_id());
        let at = ring_order.partition_point(|x| x.0 < key);
        let bad = (0..cfg.replicas)
            .filter(|d| ring_order[(at + d) % ring_order.len()].1)
            .count();
        2 * bad > cfg.replicas
    };
    for (from, op, n) in asked {
        let outcome = sim.take_finished(from, op).map(|(_, o)| o);
        let contacts: Vec<String> = match &outcome {
            Some(Ok(Outcome::Bindings(b))) => b.iter().map(|b| b.contact.clone()).collect(),
            _ => Vec::new(),
        };
        let anchored = n % 2 == 0;
        let on_target = target_aor.as_ref() == Some(&aors[n]);
        let correct = contacts == [HONEST];
        let outvoted = hostile_majority(&aors[n]);
        report.outvoted_queries += u64::from(outvoted);
        report.outvoted_correct += u64::from(outvoted && correct);
        report.sybil_target_queries += u64::from(on_target);
        report.sybil_target_correct += u64::from(on_target && correct);
        match outcome {
            _ if correct => report.correct += 1,
            Some(Ok(_)) if contacts.iter().any(|c| c == THIEF) && anchored => {
                report.hijacked_anchored += 1
            }
            Some(Ok(_)) if contacts.iter().any(|c| c == THIEF) => report.hijacked_first_come += 1,
            Some(Ok(_)) if contacts == [STALE] => report.stale += 1,
            _ => report.failed += 1,
        }
    }
    report
}
