//! The node among hostile peers: each test is an attack, played through
//! the node's inputs, and what must not follow from it.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use lsp_core::{NodeId, PeerAddr};

use crate::wire::StoreOutcome;

use super::*;
use crate::test_peers::peer;
use crate::wire::{Message, Request, Response};

mod admission;
mod budgets;
mod stabilize;

/// A joined node 0x10 with this predecessor and successor list.
fn joined(pred: u8, succs: &[u8]) -> Chord {
    joined_at(0x10, pred, succs, &[])
}

/// A joined node `me` with these neighbours.
fn joined_at(me: u8, pred: u8, succs: &[u8], farther_preds: &[u8]) -> Chord {
    let mut node = Chord::new(peer(me), Config::default());
    node.state = NodeState::Joined;
    let peers = |bs: &[u8]| bs.iter().map(|b| peer(*b)).collect();
    node.table
        .set_neighbours(Some(peer(pred)), peers(succs), peers(farther_preds));
    node
}

/// The same Node-ID as `peer(b)`, at an address nobody listens on.
fn at_bogus_address(b: u8) -> PeerAddr {
    let addr: SocketAddr = "198.51.100.1:9".parse().expect("literal");
    PeerAddr {
        id: NodeId([b; 32]),
        addr,
    }
}

/// Every request the node has sent since the last call: to whom, its id,
/// and what it asks.
fn requests(node: &mut Chord) -> Vec<(PeerAddr, u64, Request)> {
    std::iter::from_fn(|| node.poll_transmit())
        .filter_map(|t| match Message::decode(&t.frame) {
            Ok(Message::Request { id, body }) => Some((t.to, id, body)),
            _ => None,
        })
        .collect()
}

fn answer(node: &mut Chord, from: PeerAddr, id: u64, body: Response, now: Instant) {
    let frame = Message::Response { id, body }.encode().expect("encode");
    node.handle_message(from, &frame, now).expect("answer");
}

/// A lookup reads a successor list that names a known node's ID at a
/// bogus address. That address fails; the known node stays known.
#[test]
fn a_hint_naming_a_known_id_at_another_address_does_not_evict_the_known_node() {
    let now = Instant::now();
    let mut node = joined(0xf0, &[0x20, 0x30, 0x60]);
    node.lookup(Point([0x50; 32]), now);
    // Both peers before the target are near it: asked for their
    // successor lists at once.
    let [
        (first, first_id, Request::GetNeighbours),
        (second, second_id, Request::GetNeighbours),
    ] = requests(&mut node)[..]
    else {
        panic!("two requests")
    };
    assert_eq!((first, second), (peer(0x30), peer(0x20)));
    let lie = |successors| Response::Neighbours {
        predecessor: None,
        successors,
        farther_predecessors: vec![],
    };
    answer(
        &mut node,
        first,
        first_id,
        lie(vec![at_bogus_address(0x60)]),
        now,
    );
    let same = lie(vec![peer(0x30), at_bogus_address(0x60)]);
    answer(&mut node, second, second_id, same, now);
    let [(to, _, Request::GetNeighbours)] = requests(&mut node)[..] else {
        panic!("the owner found is asked to confirm")
    };
    assert_eq!(to, at_bogus_address(0x60));
    node.handle_unreachable(at_bogus_address(0x60), now + Duration::from_millis(10));
    assert!(
        node.successors().contains(&peer(0x60)),
        "{:?}",
        node.successors()
    );
}

fn request(node: &mut Chord, from: PeerAddr, body: Request, now: Instant) {
    let frame = Message::Request { id: 77, body }.encode().expect("encode");
    node.handle_message(from, &frame, now).expect("request");
}

/// A peer between a node and its successor that only pings (a client, a
/// passer-by) must not become the successor: asked back, it does not name
/// the node as its predecessor, or does not answer at all.
#[test]
fn a_non_members_ping_does_not_change_the_successor() {
    let now = Instant::now();
    let mut node = joined(0xf0, &[0x40, 0x60]);
    let stranger = peer(0x30);
    request(&mut node, stranger, Request::Ping, now);
    let [(to, id, Request::GetNeighbours)] = requests(&mut node)[..] else {
        panic!("the stranger is asked back")
    };
    assert_eq!(to, stranger);
    let lie = Response::Neighbours {
        predecessor: None,
        successors: vec![],
        farther_predecessors: vec![],
    };
    answer(&mut node, stranger, id, lie, now);
    assert_eq!(node.successors(), &[peer(0x40), peer(0x60)]);

    // Pinging again, and never answering.
    request(&mut node, stranger, Request::Ping, now);
    for _ in 0..5 {
        node.handle_timeout(now + Duration::from_secs(10));
    }
    node.handle_unreachable(stranger, now + Duration::from_secs(11));
    assert_eq!(node.successors(), &[peer(0x40), peer(0x60)]);
}

/// A Notify makes a peer the predecessor only once it names the node as
/// its first successor, asked back; a leaving predecessor cannot hand its
/// place to a peer that does not.
#[test]
fn notify_and_leaving_install_only_a_predecessor_that_names_the_node() {
    let now = Instant::now();
    let mut node = joined(0xa0, &[0x40]);
    let claimant = peer(0xe0);
    request(&mut node, claimant, Request::Notify, now);
    assert_eq!(
        node.predecessor(),
        Some(peer(0xa0)),
        "not before it answers"
    );
    let [(_, id, Request::GetNeighbours)] = requests(&mut node)[..] else {
        panic!("the claimant is asked back")
    };
    let elsewhere = Response::Neighbours {
        predecessor: Some(peer(0xa0)),
        successors: vec![peer(0x50)],
        farther_predecessors: vec![],
    };
    answer(&mut node, claimant, id, elsewhere, now);
    assert_eq!(node.predecessor(), Some(peer(0xa0)));

    request(&mut node, claimant, Request::Notify, now);
    let [(_, id, Request::GetNeighbours)] = requests(&mut node)[..] else {
        panic!("asked back again")
    };
    let member = Response::Neighbours {
        predecessor: Some(peer(0xa0)),
        successors: vec![peer(0x10), peer(0x40)],
        farther_predecessors: vec![],
    };
    answer(&mut node, claimant, id, member, now);
    assert_eq!(node.predecessor(), Some(claimant));

    // The predecessor leaves and names a stranger as its own predecessor.
    let leaving = Request::Leaving {
        predecessor: Some(peer(0xc0)),
        successors: vec![peer(0x10)],
    };
    requests(&mut node);
    request(&mut node, claimant, leaving, now);
    assert_eq!(node.predecessor(), None);
    let asked: Vec<_> = requests(&mut node)
        .into_iter()
        .filter(|(_, _, r)| *r == Request::GetNeighbours)
        .collect();
    let [(to, id, _)] = asked[..] else {
        panic!("the named predecessor is asked back: {asked:?}")
    };
    assert_eq!(to, peer(0xc0));
    let stranger = Response::Neighbours {
        predecessor: None,
        successors: vec![],
        farther_predecessors: vec![],
    };
    answer(&mut node, peer(0xc0), id, stranger, now);
    assert_eq!(node.predecessor(), None);
}

/// A signed record of the first AOR `sip:u<n>@example.com` whose key does
/// (or does not) lie in `(from, to]`.
fn record_with_key(from: u8, to: u8, inside: bool) -> lsp_core::SignedRecord {
    use lsp_core::{Aor, Binding, Identity, Record, UnixTime};
    let range = |k: Point| k.in_open_closed(Point([from; 32]), Point([to; 32]));
    let aor = (0..)
        .map(|n| Aor::parse(&format!("sip:u{n}@example.com")).expect("aor"))
        .find(|a| range(Point::from(a.resource_id())) == inside)
        .expect("some AOR");
    let expires = UnixTime::now() + Duration::from_secs(600);
    Record {
        aor,
        version: 1,
        bindings: vec![Binding::new("sip:u@192.0.2.9", expires, "c", 1)],
    }
    .sign(&Identity::from_secret_bytes([9; 32]))
    .expect("sign")
}

/// A node holds the keys between its k-th predecessor and itself; a Store
/// of any other key is refused, whoever sends it.
#[test]
fn a_store_for_a_key_outside_the_nodes_ranges_is_refused() {
    let now = Instant::now();
    // A ring of more than r + 1 nodes: a smaller one holds every key.
    let succs = [0x90, 0xa0, 0xb0, 0xc0, 0xd0, 0xe0, 0xf0, 0x08];
    let mut node = joined_at(0x80, 0x70, &succs, &[0x60, 0x50]);
    let outside = record_with_key(0x50, 0x80, false);
    let inside = record_with_key(0x50, 0x80, true);
    let store = Request::Store {
        records: vec![outside, inside],
    };
    let frame = Message::Request { id: 5, body: store }
        .encode()
        .expect("encode");
    node.handle_message(peer(0x33), &frame, now).expect("store");
    let answer = std::iter::from_fn(|| node.poll_transmit())
        .find_map(|t| match Message::decode(&t.frame) {
            Ok(Message::Response { id: 5, body }) => Some(body),
            _ => None,
        })
        .expect("an answer");
    let outcomes = vec![StoreOutcome::NotResponsible, StoreOutcome::Stored];
    assert_eq!(answer, Response::Stored { outcomes });
    assert_eq!(node.store().stats().records, 1);
}

/// A `Forward` whose origin is not its sender would aim `Routed` at any
/// address: it is refused and nothing goes to that origin. From its own
/// origin, it is answered there.
#[test]
fn a_forged_forward_origin_gets_nothing_sent_to_it() {
    let now = Instant::now();
    let mut node = joined(0xf0, &[0x40, 0x60]);
    let (sender, victim) = (peer(0x33), at_bogus_address(0x99));
    let forward = |origin: PeerAddr| Request::Forward {
        target: [0x30; 32],
        origin,
        token: 7,
        hops: 1,
    };
    let frame = Message::Request {
        id: 1,
        body: forward(victim),
    }
    .encode()
    .expect("encode");
    node.handle_message(sender, &frame, now).expect("forward");
    let sent: Vec<Transmit> = std::iter::from_fn(|| node.poll_transmit()).collect();
    assert!(sent.iter().all(|t| t.to.addr != victim.addr), "{sent:?}");
    let refused = sent.iter().any(|t| {
        t.to == sender
            && matches!(
                Message::decode(&t.frame),
                Ok(Message::Response {
                    body: Response::Refused { .. },
                    ..
                })
            )
    });
    assert!(refused);

    request(&mut node, sender, forward(sender), now);
    let routed = requests(&mut node)
        .into_iter()
        .any(|(to, _, r)| to == sender && matches!(r, Request::Routed { token: 7, .. }));
    assert!(routed, "answered to its own origin");
}

/// A peer whose Node-ID is `key` moved by `delta` * 2^240 (so 1/65536 of
/// the ring per unit).
fn near(key: Point, delta: i64) -> PeerAddr {
    let step = Point::pow2(240);
    let mut p = key;
    for _ in 0..delta.unsigned_abs() {
        p = if delta > 0 {
            p.wrapping_add(step)
        } else {
            p.wrapping_sub(step)
        };
    }
    let b = p.0[0];
    PeerAddr {
        id: NodeId(p.0),
        addr: format!("192.0.2.{b}:7{:03}", delta.unsigned_abs() % 1000)
            .parse()
            .expect("addr"),
    }
}

/// The query's first hop lies: it names three accomplices, far past the
/// AOR's key, that hold a thief's first-come record. The lie is caught,
/// the hop dropped, and the query reads the true owners; of those, the one
/// holding an older version loses to the newest and is brought up to date.
#[test]
fn a_lying_first_hop_cannot_make_a_query_return_a_thiefs_record() {
    use lsp_core::{Aor, Binding, Identity, Record, UnixTime};
    let now = Instant::now();
    let aor = (0..)
        .map(|n| Aor::parse(&format!("sip:u{n}@example.com")).expect("aor"))
        .find(|a| (0x80..0xa0).contains(&a.resource_id().0[0]))
        .expect("an AOR across the ring");
    let key = Point::from(aor.resource_id());
    let record = |version: u64, contact: &str, who: u8| {
        let expires = UnixTime::now() + Duration::from_secs(600);
        Record {
            aor: aor.clone(),
            version,
            bindings: vec![Binding::new(contact, expires, "c", 1)],
        }
        .sign(&Identity::from_secret_bytes([who; 32]))
        .expect("sign")
    };
    // A full successor list: gaps of 1/256 bound a claimed gap at 1/8.
    let mut node = joined(0xf0, &[0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18]);
    // One opinion keeps the exchange short; the lookup's own tests cover
    // how more opinions are gathered.
    node.cfg.opinions = 1;
    let op = node.query(aor.clone(), now);

    let ask = |node: &mut Chord| {
        let mut sent = requests(node);
        assert_eq!(sent.len(), 1, "{sent:?}");
        sent.remove(0)
    };
    let (liar, id, _) = ask(&mut node);
    assert_eq!(liar, peer(0x18));
    let accomplices = vec![near(key, 0x6000), near(key, 0x6001), near(key, 0x6002)];
    let lie = Response::Successors { peers: accomplices };
    answer(&mut node, liar, id, lie, now);

    let (honest, id, _) = ask(&mut node);
    assert_eq!(
        honest,
        peer(0x17),
        "the liar is dropped, the next hop asked"
    );
    let before = near(key, -1);
    answer(
        &mut node,
        honest,
        id,
        Response::Closer {
            peers: vec![before],
        },
        now,
    );
    let (to, id, _) = ask(&mut node);
    assert_eq!(to, before);
    // A full, dense list of owners: as honest as the ring looks.
    let owners: Vec<PeerAddr> = (1..=8).map(|d| near(key, d)).collect();
    let found = Response::Successors {
        peers: owners.clone(),
    };
    answer(&mut node, before, id, found, now);
    // A majority of the true owners is read first, no accomplice; they
    // disagree, so the third is read too.
    let fetches = requests(&mut node);
    let asked: Vec<PeerAddr> = fetches.iter().map(|(to, _, _)| *to).collect();
    assert_eq!(asked, owners[..2], "no accomplice is read");
    let holdings = [
        record(1, "sip:u@192.0.2.1", 7),
        record(2, "sip:u@192.0.2.2", 7),
    ];
    for ((to, id, _), held) in fetches.into_iter().zip(holdings) {
        let body = Response::Records {
            records: vec![held],
        };
        answer(&mut node, to, id, body, now);
    }
    let (to, id, _) = ask(&mut node);
    assert_eq!(to, owners[2]);
    let body = Response::Records {
        records: vec![record(2, "sip:u@192.0.2.2", 7)],
    };
    answer(&mut node, to, id, body, now);
    let repairs = requests(&mut node);
    assert!(
        matches!(&repairs[..], [(to, _, Request::Store { .. })] if *to == owners[0]),
        "the stale owner gets the newest: {repairs:?}"
    );
    let outcome = std::iter::from_fn(|| node.poll_event())
        .find_map(|Event::Done { op: done, outcome }| (done == op).then_some(outcome));
    let Some(Ok(Outcome::Bindings(bindings))) = outcome else {
        panic!("{outcome:?}")
    };
    assert_eq!(bindings.len(), 1);
    assert_eq!(bindings[0].contact, "sip:u@192.0.2.2");
    assert_eq!(node.status().counters.lies, 1);
}

/// A node whose only peer goes silent turns isolated, refuses work at
/// once, and keeps probing that peer long after a healthy node would have
/// given up on it: the peer is its only way back.
#[test]
fn an_isolated_node_refuses_work_and_keeps_probing_its_lost_peer() {
    let t0 = Instant::now();
    let mut node = Chord::new(peer(0x10), Config::default());
    node.join(&[], t0);
    node.poll_event();
    node.table
        .set_neighbours(Some(peer(0x20)), vec![peer(0x20)], Vec::new());
    node.vitals.answered(0);
    let mut late_pings = 0;
    for s in 1..=900u64 {
        let now = t0 + Duration::from_secs(s);
        node.handle_timeout(now);
        let pings = requests(&mut node)
            .iter()
            .filter(|(to, _, body)| *to == peer(0x20) && *body == Request::Ping)
            .count();
        if s > 600 {
            late_pings += pings;
        }
    }
    let now = t0 + Duration::from_secs(900);
    assert!(
        matches!(node.health(now), Health::Isolated { silent } if silent >= Duration::from_secs(899))
    );
    assert!(late_pings > 0, "no probe in the last five minutes");
    let op = node.lookup(Point([0x50; 32]), now);
    assert!(
        requests(&mut node).is_empty(),
        "an isolated lookup asks nobody"
    );
    assert_eq!(
        node.poll_event(),
        Some(Event::Done {
            op,
            outcome: Err(Error::Isolated {
                silent: Duration::from_secs(900)
            })
        })
    );
}

/// Under load a node drops frames it cannot queue, and an answer can be
/// lost the same way. A successor that keeps talking while one request to
/// it goes unanswered is alive and stays; one silent all along is dropped.
#[test]
fn a_request_lost_to_a_peer_that_keeps_talking_does_not_drop_the_peer() {
    for talks in [true, false] {
        let t0 = Instant::now();
        let mut node = joined(0xf0, &[0x20, 0x30]);
        let op = node.lookup(Point([0x28; 32]), t0);
        let [(asked, ..)] = requests(&mut node)[..] else {
            panic!("one request")
        };
        // The request and both retransmissions are never answered; the
        // third second ends its last attempt.
        let mut asked_on = Vec::new();
        for s in 1..=4 {
            if talks {
                let now = t0 + Duration::from_millis(1000 * s - 500);
                request(&mut node, asked, Request::Ping, now);
            }
            node.handle_timeout(t0 + Duration::from_secs(s));
            let sent = requests(&mut node).into_iter();
            asked_on.extend(sent.filter(|(to, ..)| s >= 3 && *to != asked));
        }
        let c = node.status().counters;
        assert_eq!(c.unanswered, 1, "talks: {talks}");
        assert_eq!(c.unanswered_by_live_peers, u64::from(talks));
        assert_eq!(node.successors().contains(&asked), talks);
        // Either way the lookup went on without that answer.
        let done = std::iter::from_fn(|| node.poll_event())
            .any(|e| matches!(e, Event::Done { op: o, .. } if o == op));
        assert!(done || !asked_on.is_empty(), "the lookup stalled");
    }
}

/// In a ring of k nodes every node owns every key. The publisher's
/// successor list wraps round to its predecessor, so it knows the whole
/// ring: it looks nothing up, stores its own copy and sends every other
/// owner `StoreHere`, so that no owner passes the record on a second time,
/// whichever arc the key is in.
#[test]
fn a_publish_in_a_ring_of_k_nodes_reaches_each_owner_once() {
    // The ring 0x10 (this node), 0x30, 0x60, as each member sees it.
    let view = |b: u8| match b {
        0x30 => (0x10, [0x60, 0x10]),
        _ => (0x30, [0x10, 0x30]),
    };
    for (from, to) in [(0x60, 0x10), (0x10, 0x30), (0x30, 0x60)] {
        let now = Instant::now();
        let mut node = joined(0x60, &[0x30, 0x60]);
        let record = record_with_key(from, to, true);
        node.publish(record.clone(), now);
        let (mut stores, mut lookups) = (Vec::new(), 0);
        for _ in 0..8 {
            for (peer_to, id, body) in requests(&mut node) {
                let (pred, succs) = view(peer_to.id.0[0]);
                lookups += 1;
                let reply = match body {
                    Request::FindSuccessor { .. } => Response::Successors {
                        peers: succs.iter().map(|b| peer(*b)).collect(),
                    },
                    Request::GetNeighbours => Response::Neighbours {
                        predecessor: Some(peer(pred)),
                        successors: succs.iter().map(|b| peer(*b)).collect(),
                        farther_predecessors: vec![],
                    },
                    other => {
                        lookups -= 1;
                        stores.push((peer_to, other));
                        continue;
                    }
                };
                answer(&mut node, peer_to, id, reply, now);
            }
        }
        // The successor list names the whole ring: nothing to look up.
        assert_eq!(lookups, 0, "key {from:x}..{to:x}");
        let here: Vec<PeerAddr> = stores
            .iter()
            .filter(|(_, b)| matches!(b, Request::StoreHere { .. }))
            .map(|(to, _)| *to)
            .collect();
        assert_eq!(here.len(), 2, "key {from:x}..{to:x}: {stores:?}");
        assert!(here.contains(&peer(0x30)) && here.contains(&peer(0x60)));
        let passed = stores
            .iter()
            .any(|(_, b)| matches!(b, Request::Store { .. }));
        assert!(!passed, "key {from:x}..{to:x}: a Store would be passed on");
        assert!(node.store().holds(&record, lsp_core::UnixTime::now()));
    }
}

/// Store frames that arrive together are checked in one batch per member:
/// its records for held keys only, and a forgery among them is refused
/// while the others are stored.
#[test]
fn frames_that_arrive_together_are_checked_in_one_batch_and_a_forgery_is_refused() {
    use super::batch::Arrived;
    let now = Instant::now();
    let succs = [0x90, 0xa0, 0xb0, 0xc0, 0xd0, 0xe0, 0xf0, 0x08];
    let mut node = joined_at(0x80, 0x70, &succs, &[0x60, 0x50]);
    let inside = |n: usize| {
        let mut r = record_with_key(0x50, 0x80, true);
        r.record.aor = (0..)
            .map(|i| lsp_core::Aor::parse(&format!("sip:b{i}@example.com")).expect("aor"))
            .filter(|a| {
                Point::from(a.resource_id()).in_open_closed(Point([0x50; 32]), Point([0x80; 32]))
            })
            .nth(n)
            .expect("an AOR");
        r.record
            .sign(&lsp_core::Identity::from_secret_bytes([9; 32]))
            .expect("sign")
    };
    let mut forged = inside(3);
    forged.record.version = 2;
    let records = [
        inside(0),
        inside(1),
        inside(2),
        forged,
        record_with_key(0x50, 0x80, false),
    ];
    let frames: Vec<Vec<u8>> = records
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let body = Request::StoreHere {
                records: vec![r.clone()],
            };
            Message::Request { id: i as u64, body }
                .encode()
                .expect("encode")
        })
        .collect();
    let arrived: Vec<Arrived<'_>> = frames
        .iter()
        .map(|f| Arrived {
            from: peer(0x33),
            frame: f,
            enrolled: false,
        })
        .collect();
    let decode = |a: &Arrived<'_>| Message::decode(a.frame).map_err(InputError::from);
    let decoded: Vec<_> = arrived.iter().map(decode).collect();
    let (me, gate) = (node.me, &node.gate);
    check_ahead(&arrived, &decoded, me, gate, &node.table, &mut node.storage);
    assert_eq!(
        node.storage.ahead().len(),
        3,
        "the three good records of held keys"
    );
    node.storage.reset_ahead(8);
    let results = node.handle_messages(&arrived, now);
    assert!(results.iter().all(Result::is_ok));
    assert!(
        node.storage.ahead().is_empty(),
        "each vouched-for record was stored"
    );
    assert_eq!(node.store().stats().records, 3);
    let outcomes: Vec<(u64, Response)> = std::iter::from_fn(|| node.poll_transmit())
        .filter_map(|t| match Message::decode(&t.frame) {
            Ok(Message::Response { id, body }) => Some((id, body)),
            _ => None,
        })
        .collect();
    let stored = |id: u64| {
        outcomes
            .iter()
            .find(|(i, _)| *i == id)
            .map(|(_, b)| b.clone())
    };
    assert_eq!(
        stored(0),
        Some(Response::Stored {
            outcomes: vec![StoreOutcome::Stored]
        })
    );
    assert!(
        matches!(stored(3), Some(Response::Stored { outcomes }) if outcomes[0] != StoreOutcome::Stored),
        "the forgery is refused"
    );
}
