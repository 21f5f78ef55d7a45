//! The routing table: successor list, predecessor and fingers, kept by
//! stabilize and rectify as corrected by Zave.

use lsp_core::{NodeId, PeerAddr};

use super::ops::Then;
use super::{Chord, FINGERS, Purpose, Timer};
use crate::lookup::Density;
use crate::ring::Point;
use crate::wire::{MAX_PEERS, Request, Response};

/// Routing hints given per `Closer` answer: the best and two alternatives
/// to fall back on when it does not answer.
const HINTS: usize = 3;

fn pt(p: &PeerAddr) -> Point {
    Point(p.id.0)
}

impl Chord {
    /// The nodes responsible for `target` if this node knows them: itself
    /// when the target is between its predecessor and itself, its
    /// successors when the target is between itself and its successor,
    /// and in a ring small enough to be known whole, the members that
    /// follow the target.
    pub(crate) fn responsible_for(&self, target: Point) -> Option<Vec<PeerAddr>> {
        let me = pt(&self.me);
        let Some(first) = self.succs.first() else {
            return Some(vec![self.me]);
        };
        if let Some(mut ring) = self.whole_ring() {
            // Clockwise from the target; a member at the target owns it.
            ring.sort_by_key(|p| pt(p).wrapping_sub(target));
            ring.truncate(self.cfg.r());
            return Some(ring);
        }
        if let Some(p) = &self.pred
            && target.in_open_closed(pt(p), me)
        {
            let mut out = vec![self.me];
            out.extend(self.succs.iter().take(self.cfg.r() - 1));
            return Some(out);
        }
        if target.in_open_closed(me, pt(first)) {
            return Some(self.succs.clone());
        }
        None
    }

    /// Every member of the ring, this node included, when the successor
    /// list wraps round to the predecessor: the ring is then no longer
    /// than the list, and no lookup can tell this node more than it knows.
    fn whole_ring(&self) -> Option<Vec<PeerAddr>> {
        let pred = self.pred?;
        let end = self.succs.iter().position(|s| s.id == pred.id)?;
        let mut ring = vec![self.me];
        for s in &self.succs[..=end] {
            if !ring.iter().any(|m| m.id == s.id) {
                ring.push(*s);
            }
        }
        Some(ring)
    }

    /// The widest gap between neighbours a lookup answer may claim: 32
    /// times the mean gap of this node's successor list. Honest gaps are
    /// about exponential, so an honest answer exceeds it with odds near
    /// e^-32 even when the estimate is half the truth; a liar naming
    /// accomplices at random places on a ring of N nodes stays inside it
    /// with odds about 64 / N. `None` while the list is empty or the ring
    /// too small for the bound to mean anything.
    pub(crate) fn gap_bound(&self) -> Option<Point> {
        let last = self.succs.last()?;
        let arc = Point(last.id.0).wrapping_sub(pt(&self.me)).as_fraction();
        Point::from_fraction(32.0 * arc / self.succs.len() as f64)
    }

    /// What an honest claim of owners looks like from here: a full
    /// successor list, about as dense as this node's own neighbourhood.
    /// `None` while the ring is too small for density to tell liars apart
    /// (under four times the successor list).
    pub(crate) fn density(&self) -> Option<Density> {
        let (size, r) = (self.estimated_size(), self.cfg.r());
        (self.succs.len() >= r && size > 4.0 * r as f64).then(|| Density {
            mean_gap: 1.0 / size,
            listed: r,
        })
    }

    /// Known peers strictly between this node and `target`, closest to the
    /// target first.
    pub(crate) fn closest_preceding(&self, target: Point, n: usize) -> Vec<PeerAddr> {
        let me = pt(&self.me);
        let span = target.wrapping_sub(me);
        // (distance to target, peer), kept sorted; n is small.
        let mut best: Vec<(Point, PeerAddr)> = Vec::with_capacity(n + 1);
        let mut last = None;
        let fingers = &self.fingers[..self.useful_fingers()];
        for p in fingers.iter().flatten().chain(self.succs.iter()) {
            // Neighbouring fingers are often the same node.
            if last == Some(p.id) {
                continue;
            }
            last = Some(p.id);
            let from_me = pt(p).wrapping_sub(me);
            if from_me == Point::ZERO || (from_me >= span && span != Point::ZERO) {
                continue;
            }
            let d = span.wrapping_sub(from_me);
            if best.len() == n && best.last().is_some_and(|(w, _)| d >= *w) {
                continue;
            }
            if best.iter().any(|(_, q)| q.id == p.id) {
                continue;
            }
            let at = best.partition_point(|(w, _)| *w < d);
            best.insert(at, (d, *p));
            best.truncate(n);
        }
        best.into_iter().map(|(_, p)| p).collect()
    }

    pub(crate) fn answer_find(&self, target: Point) -> Response {
        if self.state != crate::NodeState::Joined {
            return Response::Refused {
                reason: "not in the ring".into(),
            };
        }
        if let Some(peers) = self.responsible_for(target) {
            return Response::Successors { peers };
        }
        let peers = self.closest_preceding(target, HINTS);
        if peers.is_empty() {
            Response::Successors {
                peers: self.succs.clone(),
            }
        } else {
            Response::Closer { peers }
        }
    }

    /// Drops a peer found dead from every table. Only entries with both
    /// its Node-ID and its address go: a hint that named a known node's ID
    /// at another address must not evict the known node.
    pub(crate) fn forget(&mut self, peer: PeerAddr) {
        let known = self
            .succs
            .iter()
            .chain(self.pred.iter())
            .chain(self.fingers.iter().flatten())
            .any(|p| *p == peer);
        if known {
            self.bury(peer);
        }
        if self.succs.first() == Some(&peer) {
            self.successor_confirmed = false;
        }
        self.succs.retain(|p| *p != peer);
        self.farther_preds.retain(|p| *p != peer);
        self.contacts.drop_peer(peer);
        self.routing_changed = true;
        if self.pred == Some(peer) {
            self.pred = None;
        }
        for f in self.fingers.iter_mut() {
            if *f == Some(peer) {
                *f = None;
            }
        }
    }

    /// Stabilize: ask the successor for its predecessor and list.
    pub(crate) fn stabilize(&mut self, now_ms: u64) {
        if self.succs.is_empty() {
            match self.pred {
                Some(p) => {
                    self.succs.push(p);
                    self.routing_changed = true;
                }
                None => return,
            }
        }
        let s = self.succs[0];
        self.request(s, Request::GetNeighbours, Purpose::Stabilize, now_ms);
    }

    /// The successor answered stabilize: adopt its predecessor if that lies
    /// between us, copy its list, and notify the (new) successor.
    pub(crate) fn on_neighbours(&mut self, s: PeerAddr, body: Response, now_ms: u64) {
        let Response::Neighbours {
            predecessor,
            successors,
            ..
        } = body
        else {
            return;
        };
        let me = pt(&self.me);
        let mut list = Vec::with_capacity(self.cfg.r() + 1);
        if let Some(x) = predecessor
            && x.id != self.me.id
            && pt(&x).in_open(me, pt(&s))
        {
            list.push(x);
        }
        list.push(s);
        for p in successors.into_iter().take(MAX_PEERS) {
            if p.id == self.me.id {
                break;
            }
            if !list.iter().any(|q: &PeerAddr| q.id == p.id) {
                list.push(p);
            }
        }
        list.truncate(self.cfg.r());
        let adopted = list[0].id != s.id;
        self.successor_confirmed = !adopted && predecessor.is_some_and(|p| p.id == self.me.id);
        if list != self.succs {
            self.succs = list;
            self.routing_changed = true;
        }
        if adopted && self.fast_stabilize > 0 {
            // A node that joined with a far successor (its lookup ran while
            // the ring was young) would walk back one node per round: ask
            // the closer successor now. Only after joining: during a
            // partition's merge, immediate rounds slowed the heal (63 s to
            // 1,018 s at 10,000 nodes).
            self.fast_stabilize -= 1;
            self.timers.set(Timer::Stabilize, now_ms);
        }
        // Rectify the successor unless it already names us.
        if adopted || predecessor.is_none_or(|p| p.id != self.me.id) {
            let first = self.succs[0];
            self.request(first, Request::Notify, Purpose::Notify, now_ms);
        }
    }

    /// A live peer that pings us (its predecessor check, or a probe) and
    /// lies between us and our successor may be a closer successor. This
    /// is how a node whose successor pointer skipped part of the ring
    /// (after a partition heals) learns of the node it skipped, which
    /// pings it as its predecessor; stabilize alone would walk back one
    /// node per round. A Ping alone changes nothing: the peer is asked for
    /// its neighbours, and taken only if it names us as its predecessor
    /// (the skipped node does, a passer-by does not) or if it was our
    /// neighbour before a partition and is in a ring now.
    pub(crate) fn consider_successor(&mut self, p: PeerAddr, now_ms: u64) {
        if self.state == crate::NodeState::Joined
            && !self.succs.is_empty()
            && self.closer_successor(p)
        {
            self.verify(p, Purpose::VerifySuccessor, now_ms);
        }
    }

    fn closer_successor(&self, p: PeerAddr) -> bool {
        p.id != self.me.id
            && self
                .succs
                .first()
                .is_none_or(|s| pt(&p).in_open(pt(&self.me), pt(s)))
    }

    fn closer_predecessor(&self, n: PeerAddr) -> bool {
        n.id != self.me.id
            && match self.pred {
                None => true,
                Some(p) => p.id != n.id && pt(&n).in_open(pt(&p), pt(&self.me)),
            }
    }

    /// Asks `p` for its neighbours, unless that is already asked.
    fn verify(&mut self, p: PeerAddr, purpose: Purpose, now_ms: u64) {
        if self.requests.is_out(p, purpose) {
            return;
        }
        self.request(p, Request::GetNeighbours, purpose, now_ms);
    }

    /// A peer asked back for its neighbours answered.
    pub(crate) fn on_verified(
        &mut self,
        p: PeerAddr,
        purpose: Purpose,
        body: Response,
        now_ms: u64,
    ) {
        let Response::Neighbours {
            predecessor,
            successors,
            farther_predecessors,
        } = body
        else {
            return;
        };
        let me = self.me.id;
        match purpose {
            Purpose::VerifySuccessor => {
                // A node that skipped us names us as its predecessor. After a
                // partition, a node from the other side that was our
                // neighbour before (it is among the peers we dropped) names
                // its own neighbours there.
                let skipped_us = predecessor.is_some_and(|x| x.id == me);
                let former = !successors.is_empty() && self.graveyard.iter().any(|(g, _)| *g == p);
                if (skipped_us || former) && self.closer_successor(p) {
                    self.adopt_if_closer(p, now_ms);
                }
            }
            Purpose::VerifyPredecessor { left } => {
                let first = successors.iter().find(|s| Some(s.id) != left);
                if first.is_some_and(|s| s.id == me) && self.closer_predecessor(p) {
                    self.adopt_predecessor(p, now_ms);
                    self.learn_farther_predecessors(p, predecessor, farther_predecessors);
                }
            }
            _ => {}
        }
    }

    /// Makes `p` the first successor if it lies in `(me, successor)` (or
    /// there is none), and stabilizes with it at once.
    pub(crate) fn adopt_if_closer(&mut self, p: PeerAddr, now_ms: u64) {
        let closer = p.id != self.me.id
            && self
                .succs
                .first()
                .is_none_or(|s| pt(&p).in_open(pt(&self.me), pt(s)));
        if closer {
            self.succs.retain(|q| q.id != p.id);
            self.succs.insert(0, p);
            self.succs.truncate(self.cfg.r());
            self.successor_confirmed = false;
            self.routing_changed = true;
            self.timers.set(Timer::Stabilize, now_ms);
        }
    }

    /// The predecessor answered the predecessor check: its predecessors
    /// are this node's farther ones.
    pub(crate) fn on_predecessor_neighbours(&mut self, p: PeerAddr, body: Response) {
        let Response::Neighbours {
            predecessor,
            farther_predecessors,
            ..
        } = body
        else {
            return;
        };
        if self.pred != Some(p) {
            return;
        }
        self.learn_farther_predecessors(p, predecessor, farther_predecessors);
    }

    /// The predecessor `p` named its own predecessor and farther ones.
    fn learn_farther_predecessors(
        &mut self,
        p: PeerAddr,
        predecessor: Option<PeerAddr>,
        farther_predecessors: Vec<PeerAddr>,
    ) {
        let mut farther: Vec<PeerAddr> = Vec::with_capacity(self.cfg.k());
        for q in predecessor.into_iter().chain(farther_predecessors) {
            // A ring smaller than k + 1 comes round to us.
            if q.id == self.me.id || q.id == p.id || farther.len() + 1 >= self.cfg.k() {
                break;
            }
            if !farther.contains(&q) {
                farther.push(q);
            }
        }
        self.farther_preds = farther;
    }

    /// Whether this node holds `key`: it is between the k-th predecessor
    /// and this node. While the predecessors are not all known (a young
    /// ring, a predecessor just lost) or the ring is smaller than the
    /// successor list, every key is.
    pub(crate) fn holds(&self, key: Point) -> bool {
        let Some(p) = self.pred else { return true };
        let small = self.succs.len() < self.cfg.r() || self.succs.iter().any(|s| s.id == p.id);
        if small {
            return true;
        }
        let k = self.cfg.k();
        let start = if k == 1 {
            Some(p)
        } else {
            self.farther_preds.get(k - 2).copied()
        };
        match start {
            Some(s) => key.in_open_closed(pt(&s), pt(&self.me)),
            None => true,
        }
    }

    /// Rectify: `n` says it may be our predecessor. It becomes one once it
    /// names us, asked back, as its first successor: a Notify alone changes
    /// nothing.
    pub(crate) fn rectify(&mut self, n: PeerAddr, now_ms: u64) {
        if self.state == crate::NodeState::Joined && self.closer_predecessor(n) {
            let purpose = Purpose::VerifyPredecessor { left: None };
            self.verify(n, purpose, now_ms);
        }
    }

    fn adopt_predecessor(&mut self, n: PeerAddr, now_ms: u64) {
        let old = self.pred.replace(n);
        self.routing_changed = true;
        // A joiner in front: the old predecessor is now the first farther
        // one. Anything else: the list is stale until the new one says.
        match old {
            Some(o) if pt(&n).in_open(pt(&o), pt(&self.me)) => {
                self.farther_preds.insert(0, o);
                self.farther_preds.truncate(self.cfg.k() - 1);
            }
            _ => self.farther_preds.clear(),
        }
        // The old predecessor should now point at n; tell it to look.
        if let Some(old) = old {
            self.request(old, Request::StabilizeHint, Purpose::Hint, now_ms);
        }
        if self.succs.is_empty() {
            self.succs.push(n);
        }
    }

    /// A neighbour leaves gracefully: splice it out. The predecessor it
    /// names is asked back before it takes its place.
    pub(crate) fn on_leaving(
        &mut self,
        from: PeerAddr,
        predecessor: Option<PeerAddr>,
        successors: Vec<PeerAddr>,
        now_ms: u64,
    ) {
        if self.pred.is_some_and(|p| p.id == from.id) {
            self.pred = None;
            self.routing_changed = true;
            if let Some(q) = predecessor.filter(|q| q.id != self.me.id && q.id != from.id) {
                let purpose = Purpose::VerifyPredecessor {
                    left: Some(from.id),
                };
                self.verify(q, purpose, now_ms);
            }
        }
        if let Some(i) = self.succs.iter().position(|p| p.id == from.id) {
            self.successor_confirmed &= i > 0;
            let mut list: Vec<PeerAddr> = self.succs[..i].to_vec();
            for p in successors.into_iter().take(MAX_PEERS) {
                if p.id == self.me.id {
                    break;
                }
                if p.id != from.id && !list.iter().any(|q| q.id == p.id) {
                    list.push(p);
                }
            }
            list.truncate(self.cfg.r());
            self.succs = list;
            self.routing_changed = true;
        }
        self.forget_finger(from.id);
        if self.succs.is_empty() && self.pred.is_none() {
            // The last peer said goodbye: alone, not cut off.
            self.liveness.alone_again();
        }
    }

    fn forget_finger(&mut self, id: NodeId) {
        for f in self.fingers.iter_mut() {
            if f.is_some_and(|p| p.id == id) {
                *f = None;
            }
        }
    }

    /// Refreshes the next finger, round robin over those that can differ
    /// from the successor at the estimated ring size.
    pub(crate) fn fix_next_finger(&mut self, now_ms: u64) {
        let Some(first) = self.succs.first().copied() else {
            return;
        };
        let useful = self.useful_fingers();
        let i = self.next_finger % useful;
        self.next_finger = (i + 1) % useful;
        let me = pt(&self.me);
        let start = me.wrapping_add(Point::pow2(255 - i as u32));
        if start.in_open_closed(me, pt(&first)) {
            self.fingers[i] = Some(first);
            return;
        }
        // One refresh of a finger at a time is enough.
        if self.ops.values().any(|o| o.fixes_finger(i)) {
            return;
        }
        // Ask the current finger first: while it still owns the point, it
        // answers in one hop.
        let mut from: Vec<PeerAddr> = self.fingers[i].into_iter().collect();
        from.extend(self.closest_preceding(start, 3));
        self.start_route(start, Then::Finger(i), Some(from), now_ms);
    }

    /// Fingers that can differ from the successor list at the estimated
    /// ring size; nearer ones add nothing.
    pub(crate) fn useful_fingers(&self) -> usize {
        (self.estimated_size().max(1.0).log2().ceil() as usize + 3).min(FINGERS)
    }

    /// Nodes in the ring, estimated from how densely the predecessor and
    /// successor list cover their arc (draft section 5).
    pub fn estimated_size(&self) -> f64 {
        let Some(last) = self.succs.last() else {
            return 1.0;
        };
        let (start, gaps) = match &self.pred {
            // A ring smaller than the list: we see every node.
            Some(p) if self.succs.iter().any(|s| s.id == p.id) => {
                return (self.succs.len() + 1) as f64;
            }
            Some(p) => (pt(p), self.succs.len() + 1),
            None => (pt(&self.me), self.succs.len()),
        };
        let arc = pt(last).wrapping_sub(start).as_fraction();
        if arc <= 0.0 {
            return (self.succs.len() + 1) as f64;
        }
        gaps as f64 / arc
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use crate::node::Timer;
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
        node.succs = vec![c];
        node.pred = Some(c);
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
        node.timers.set(Timer::Stabilize, 60_000);
        node.timers.set(Timer::FixFingers, 60_000);
        let answer = Response::Neighbours {
            predecessor: Some(b),
            successors: vec![],
            farther_predecessors: vec![],
        };
        node.on_neighbours(c, answer, 1_000);
        assert_eq!(node.successors(), &[b, c]);
        assert_eq!(node.timers.get(Timer::Stabilize), Some(1_000));
    }
}
