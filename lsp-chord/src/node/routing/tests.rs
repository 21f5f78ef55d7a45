use std::time::{Duration, Instant};

use super::RoutingTable;
use crate::node::Timer;
use crate::ring::Point;
use crate::test_peers::peer;
use crate::wire::{Message, Request, Response};
use crate::{Chord, Config, NodeState};

/// After a partition heals, a node's successor can skip part of the
/// ring. The skipped node's predecessor check reaches it; asked back,
/// the skipped node names it as predecessor, and it becomes the
/// successor at once.
#[test]
fn a_ping_from_a_skipped_node_makes_it_the_successor() {
    let (a, b, c) = (peer(0x10), peer(0x20), peer(0x90));
    let mut node = Chord::new(a, Config::default());
    node.state = NodeState::Joined;
    node.table.set_neighbours(Some(c), vec![c], Vec::new());
    let ping = Message::Request {
        id: 1,
        body: Request::Ping,
    }
    .encode()
    .expect("encode");
    let now = Instant::now();
    node.handle_message(b, &ping, now).expect("ping");
    let asked = std::iter::from_fn(|| node.poll_transmit())
        .find_map(|t| match Message::decode(&t.frame) {
            Ok(Message::Request {
                id,
                body: Request::GetNeighbours,
            }) if t.to == b => Some(id),
            _ => None,
        })
        .expect("b is asked back");
    let answer = Message::Response {
        id: asked,
        body: Response::Neighbours {
            predecessor: Some(a),
            successors: vec![c],
            farther_predecessors: vec![],
        },
    };
    node.handle_message(b, &answer.encode().expect("encode"), now)
        .expect("answer");
    assert_eq!(node.successors().first(), Some(&b));
    assert_eq!(node.successors().get(1), Some(&c));
    // A ping from a node outside (a, successor) changes nothing.
    node.handle_message(c, &ping, now + Duration::from_millis(1))
        .expect("ping");
    assert_eq!(node.successors().first(), Some(&b));
}

/// A node that joined with a far successor adopts each closer
/// predecessor it learns of and asks that one at once, instead of one
/// step per stabilize round.
#[test]
fn adopting_a_closer_successor_stabilizes_again_at_once() {
    let (a, b, c) = (peer(0x10), peer(0x20), peer(0x90));
    let mut node = Chord::new(a, Config::default());
    node.become_joined(vec![c], 0);
    node.io.set_timer(Timer::Stabilize, 60_000);
    node.io.set_timer(Timer::FixFingers, 60_000);
    let answer = Response::Neighbours {
        predecessor: Some(b),
        successors: vec![],
        farther_predecessors: vec![],
    };
    node.table
        .on_stabilize_answer(c, answer, &mut node.io, 1_000);
    assert_eq!(node.successors(), &[b, c]);
    assert_eq!(node.io.timer(Timer::Stabilize), Some(1_000));
}

/// Node 0x10's table in a ring of `ring` (sorted, 0x10 among them),
/// k = 3, as a settled ring would have it.
fn settled(ring: &[u8]) -> RoutingTable {
    let mut table = RoutingTable::new(peer(0x10), &Config::default());
    let i = ring.iter().position(|b| *b == 0x10).expect("in the ring");
    let n = ring.len();
    let at = |j: usize| peer(ring[j % n]);
    let succs = (1..n).map(|d| at(i + d)).collect();
    let farther = (2..=3).filter(|d| *d < n).map(|d| at(i + n - d)).collect();
    table.set_neighbours(Some(at(i + n - 1)), succs, farther);
    table
}

/// Five nodes, three of them a hundredth of the ring apart: a node
/// whose young list names only its two close neighbours must not take
/// an honest gap of a fifth of the ring for a lie.
#[test]
fn a_short_successor_list_sets_no_gap_bound() {
    let mut table = RoutingTable::new(peer(0x10), &Config::default());
    let (b, c) = (peer(0x11), peer(0x12));
    table.set_neighbours(Some(peer(0xc0)), vec![b, c], Vec::new());
    assert_eq!(table.gap_bound(), None);
    // A full list of eight gaps of 1/256 bounds a gap at 32/256.
    let full = settled(&[0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18]);
    let bound = full.gap_bound().expect("a full list bounds gaps");
    assert!((bound.as_fraction() - 0.125).abs() < 0.001, "{bound:?}");
}

#[test]
fn a_key_before_the_kth_predecessor_is_misplaced_once_the_ring_is_larger_than_k() {
    // Five nodes: 0x10 holds (0x60, 0x10], the keys of itself and of
    // its two predecessors 0xe0 and 0xf0.
    let table = settled(&[0x10, 0x30, 0x60, 0xe0, 0xf0]);
    assert!(!table.misplaced(Point([0x05; 32])));
    assert!(!table.misplaced(Point([0xd0; 32])));
    assert!(table.misplaced(Point([0x50; 32])));
    assert!(table.misplaced(Point([0x20; 32])));
    // Three nodes and k = 3: every node holds every key.
    let small = settled(&[0x10, 0x60, 0xc0]);
    assert!(!small.misplaced(Point([0x20; 32])));
}
