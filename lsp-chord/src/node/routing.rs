//! The routing table: successor list, predecessor, farther predecessors,
//! fingers and the peers dropped from them, kept by stabilize and rectify
//! as corrected by Zave. It sends nothing: the node asks it what an answer
//! changes and whom to tell. Every change to the predecessor or successor
//! list marks the table changed, which the replica check waits for.

use std::collections::VecDeque;

use lsp_core::{NodeId, PeerAddr};

use crate::config::Config;
use crate::lookup::Density;
use crate::ring::Point;
use crate::wire::{MAX_PEERS, Response};

/// Fingers kept: finger `i` is the successor of `me + 2^(255 - i)`. 64
/// cover rings of up to about 2^60 nodes.
pub const FINGERS: usize = 64;

/// Routing hints given per `Closer` answer: the best and two alternatives
/// to fall back on when it does not answer.
const HINTS: usize = 3;

/// Dropped peers remembered for probing, and probes each gets.
const GRAVEYARD: usize = 32;
pub(super) const GRAVEYARD_PROBES: u32 = 30;

fn pt(p: &PeerAddr) -> Point {
    Point::from(p.id)
}

/// What a successor's neighbours changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Stabilized {
    /// Stabilize again now: a closer successor was adopted just after
    /// joining.
    pub(super) again: bool,
    /// The successor to notify, unless it already names this node.
    pub(super) notify: Option<PeerAddr>,
}

/// A node's view of its neighbourhood and of the ring beyond.
#[derive(Debug)]
pub(super) struct RoutingTable {
    me: PeerAddr,
    /// Successors kept (r) and replicas held (k).
    r: usize,
    k: usize,
    pred: Option<PeerAddr>,
    /// The k - 1 predecessors before `pred`, nearest first, as `pred` last
    /// told: with `pred`, they bound the keys this node holds.
    farther_preds: Vec<PeerAddr>,
    succs: Vec<PeerAddr>,
    fingers: Vec<Option<PeerAddr>>,
    next_finger: usize,
    /// Fingers left to fix quickly after joining.
    fast_fingers: usize,
    /// Immediate re-stabilizes left after joining (see `on_neighbours`).
    fast_stabilize: usize,
    /// Set whenever the predecessor or successor list changes.
    changed: bool,
    /// The successor named this node as its predecessor in the latest
    /// stabilize round.
    successor_confirmed: bool,
    /// Peers dropped as unreachable, with the probes each had, probed now
    /// and then so that rings split by a partition find each other again.
    graveyard: VecDeque<(PeerAddr, u32)>,
}

impl RoutingTable {
    pub(super) fn new(me: PeerAddr, cfg: &Config) -> Self {
        Self {
            me,
            r: cfg.r(),
            k: cfg.k(),
            pred: None,
            farther_preds: Vec::new(),
            succs: Vec::new(),
            fingers: vec![None; FINGERS],
            next_finger: 0,
            fast_fingers: 0,
            fast_stabilize: 0,
            changed: false,
            successor_confirmed: false,
            graveyard: VecDeque::new(),
        }
    }

    pub(super) fn pred(&self) -> Option<PeerAddr> {
        self.pred
    }

    pub(super) fn succs(&self) -> &[PeerAddr] {
        &self.succs
    }

    /// Sets the neighbours as a test wants them, without marking the
    /// table changed.
    #[cfg(test)]
    pub(super) fn set_neighbours(
        &mut self,
        pred: Option<PeerAddr>,
        succs: Vec<PeerAddr>,
        farther_preds: Vec<PeerAddr>,
    ) {
        self.pred = pred;
        self.succs = succs;
        self.farther_preds = farther_preds;
    }

    /// Distinct fingers, nearest first.
    pub(super) fn distinct_fingers(&self) -> Vec<PeerAddr> {
        let mut fingers: Vec<PeerAddr> = Vec::new();
        for f in self.fingers.iter().rev().flatten() {
            if !fingers.iter().any(|g| g.id == f.id) {
                fingers.push(*f);
            }
        }
        fingers
    }

    /// Whether the node has any neighbour.
    pub(super) fn has_peers(&self) -> bool {
        !self.succs.is_empty() || self.pred.is_some()
    }

    /// Whether `id` is among the predecessor, the farther predecessors and
    /// the successors: a neighbour this node verified or copied from one.
    pub(super) fn is_neighbour(&self, id: NodeId) -> bool {
        self.known_neighbours().any(|p| p.id == id)
    }

    /// Whether `id` is one of the predecessors this node knows.
    pub(super) fn is_predecessor(&self, id: NodeId) -> bool {
        self.pred
            .iter()
            .chain(&self.farther_preds)
            .any(|p| p.id == id)
    }

    /// Whether a neighbour lies strictly inside `(start, end)`: then
    /// `(start, end]` is no node's primary range as this node sees the ring.
    pub(super) fn neighbour_inside(&self, start: Point, end: Point) -> bool {
        self.known_neighbours().any(|p| pt(p).in_open(start, end))
    }

    fn known_neighbours(&self) -> impl Iterator<Item = &PeerAddr> {
        self.pred
            .iter()
            .chain(&self.farther_preds)
            .chain(&self.succs)
    }

    /// A predecessor, and a successor that named this node as its own in
    /// the latest stabilize round; or no neighbour at all.
    pub(super) fn settled(&self) -> bool {
        let alone = self.succs.is_empty() && self.pred.is_none();
        alone || (self.pred.is_some() && self.successor_confirmed)
    }

    /// Whether the predecessor or successor list changed since the last
    /// call.
    pub(super) fn take_changed(&mut self) -> bool {
        std::mem::take(&mut self.changed)
    }

    /// The node became a member with these successors: fix fingers and
    /// stabilize quickly for a while.
    pub(super) fn joined(&mut self, succs: Vec<PeerAddr>) {
        self.succs = succs;
        self.successor_confirmed = false;
        self.changed = true;
        self.fast_fingers = FINGERS;
        self.fast_stabilize = 4 * self.r;
    }

    /// Installs a converged table, with no quick rounds.
    #[cfg(feature = "sim")]
    pub(super) fn install(&mut self, pred: Option<PeerAddr>, fingers: Vec<Option<PeerAddr>>) {
        self.pred = pred;
        self.changed = true;
        self.fast_fingers = 0;
        self.fast_stabilize = 0;
        for (slot, f) in self.fingers.iter_mut().zip(fingers) {
            *slot = f;
        }
    }

    /// Whether a quick finger round is left, using it up.
    pub(super) fn take_fast_finger(&mut self) -> bool {
        let fast = self.fast_fingers > 0;
        self.fast_fingers = self.fast_fingers.saturating_sub(1);
        fast
    }

    // ---- queries ----

    /// The nodes responsible for `target` if this node knows them: itself
    /// when the target is between its predecessor and itself, its
    /// successors when the target is between itself and its successor,
    /// and in a ring small enough to be known whole, the members that
    /// follow the target.
    pub(super) fn responsible_for(&self, target: Point) -> Option<Vec<PeerAddr>> {
        let me = pt(&self.me);
        let Some(first) = self.succs.first() else {
            return Some(vec![self.me]);
        };
        if let Some(mut ring) = self.whole_ring() {
            // Clockwise from the target; a member at the target owns it.
            ring.sort_by_key(|p| pt(p).wrapping_sub(target));
            ring.truncate(self.r);
            return Some(ring);
        }
        if let Some(p) = &self.pred
            && target.in_open_closed(pt(p), me)
        {
            let mut out = vec![self.me];
            out.extend(self.succs.iter().take(self.r - 1));
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
    /// with odds about 64 / N. `None` until the list is full: in a young or
    /// small ring, one or two gaps can be far below the ring's mean (two
    /// nodes a hundredth of the ring apart among five), and the bound
    /// would take honest answers for lies and leave a lookup no route.
    pub(super) fn gap_bound(&self) -> Option<Point> {
        if self.succs.len() < self.r {
            return None;
        }
        let last = self.succs.last()?;
        let arc = Point::from(last.id)
            .wrapping_sub(pt(&self.me))
            .as_fraction();
        Point::from_fraction(32.0 * arc / self.succs.len() as f64)
    }

    /// What an honest claim of owners looks like from here: a full
    /// successor list, about as dense as this node's own neighbourhood.
    /// `None` while the ring is too small for density to tell liars apart
    /// (under four times the successor list).
    pub(super) fn density(&self) -> Option<Density> {
        let (size, r) = (self.estimated_size(), self.r);
        (self.succs.len() >= r && size > 4.0 * r as f64).then(|| Density {
            mean_gap: 1.0 / size,
            listed: r,
        })
    }

    /// Known peers strictly between this node and `target`, closest to the
    /// target first.
    pub(super) fn closest_preceding(&self, target: Point, n: usize) -> Vec<PeerAddr> {
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

    /// A member's answer to `FindSuccessor`.
    pub(super) fn answer_find(&self, target: Point) -> Response {
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

    /// This node's answer to `GetNeighbours`.
    pub(super) fn neighbours(&self) -> Response {
        Response::Neighbours {
            predecessor: self.pred,
            successors: self.succs.clone(),
            farther_predecessors: self.farther_preds.clone(),
        }
    }

    /// Whether this node holds `key`: it is between the k-th predecessor
    /// and this node. While the predecessors are not all known (a young
    /// ring, a predecessor just lost) or the ring is smaller than the
    /// successor list, every key is.
    pub(super) fn holds(&self, key: Point) -> bool {
        let Some(p) = self.pred else { return true };
        let small = self.succs.len() < self.r || self.succs.iter().any(|s| s.id == p.id);
        if small {
            return true;
        }
        let start = if self.k == 1 {
            Some(p)
        } else {
            self.farther_preds.get(self.k - 2).copied()
        };
        match start {
            Some(s) => key.in_open_closed(pt(&s), pt(&self.me)),
            None => true,
        }
    }

    /// Whether `key` is surely not this node's to hold: the ring is larger
    /// than k, the k - 1 farther predecessors are known, and the key lies
    /// before the k-th of them. Unsure means no.
    pub(super) fn misplaced(&self, key: Point) -> bool {
        let Some(p) = self.pred else { return false };
        let k = self.k;
        // In a ring smaller than the successor list, the list wraps round
        // to the predecessor, which tells the ring's size.
        match self.succs.iter().position(|s| s.id == p.id) {
            Some(i) if i + 2 <= k => return false,
            None if self.succs.len() < k => return false,
            _ => {}
        }
        let start = if k == 1 {
            p
        } else {
            match self.farther_preds.get(k - 2) {
                Some(s) => *s,
                None => return false,
            }
        };
        !key.in_open_closed(pt(&start), pt(&self.me))
    }

    /// Fingers that can differ from the successor list at the estimated
    /// ring size; nearer ones add nothing.
    pub(super) fn useful_fingers(&self) -> usize {
        (self.estimated_size().max(1.0).log2().ceil() as usize + 3).min(FINGERS)
    }

    /// Nodes in the ring, estimated from how densely the predecessor and
    /// successor list cover their arc (draft section 5).
    pub(super) fn estimated_size(&self) -> f64 {
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

    pub(super) fn closer_successor(&self, p: PeerAddr) -> bool {
        p.id != self.me.id
            && self
                .succs
                .first()
                .is_none_or(|s| pt(&p).in_open(pt(&self.me), pt(s)))
    }

    pub(super) fn closer_predecessor(&self, n: PeerAddr) -> bool {
        n.id != self.me.id
            && match self.pred {
                None => true,
                Some(p) => p.id != n.id && pt(&n).in_open(pt(&p), pt(&self.me)),
            }
    }

    // ---- changes ----

    /// Drops a peer found dead from every table. Only entries with both
    /// its Node-ID and its address go: a hint that named a known node's ID
    /// at another address must not evict the known node.
    pub(super) fn forget(&mut self, peer: PeerAddr) {
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
        self.changed = true;
        if self.pred == Some(peer) {
            self.pred = None;
        }
        for f in self.fingers.iter_mut() {
            if *f == Some(peer) {
                *f = None;
            }
        }
    }

    /// The successor to ask in a stabilize round: the first, or the
    /// predecessor when the list ran empty.
    pub(super) fn successor_to_stabilize(&mut self) -> Option<PeerAddr> {
        if self.succs.is_empty() {
            let p = self.pred?;
            self.succs.push(p);
            self.changed = true;
        }
        self.succs.first().copied()
    }

    /// The successor `s` answered stabilize: adopt its predecessor if that
    /// lies between us, and copy its list.
    pub(super) fn on_neighbours(
        &mut self,
        s: PeerAddr,
        predecessor: Option<PeerAddr>,
        successors: Vec<PeerAddr>,
    ) -> Stabilized {
        let me = pt(&self.me);
        let mut list = Vec::with_capacity(self.r + 1);
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
        list.truncate(self.r);
        let adopted = list[0].id != s.id;
        self.successor_confirmed = !adopted && predecessor.is_some_and(|p| p.id == self.me.id);
        if list != self.succs {
            self.succs = list;
            self.changed = true;
        }
        // A node that joined with a far successor (its lookup ran while
        // the ring was young) would walk back one node per round: ask the
        // closer successor now. Only after joining: during a partition's
        // merge, immediate rounds slowed the heal (63 s to 1,018 s at
        // 10,000 nodes).
        let again = adopted && self.fast_stabilize > 0;
        if again {
            self.fast_stabilize -= 1;
        }
        // Rectify the successor unless it already names us.
        let notify =
            (adopted || predecessor.is_none_or(|p| p.id != self.me.id)).then(|| self.succs[0]);
        Stabilized { again, notify }
    }

    /// `p`, asked back because it may be a closer successor, answered:
    /// a node that skipped us names us as its predecessor; after a
    /// partition, a node from the other side that was our neighbour before
    /// (it is among the peers we dropped) names its own neighbours there.
    /// Returns whether it became the successor.
    pub(super) fn verified_successor(
        &mut self,
        p: PeerAddr,
        predecessor: Option<PeerAddr>,
        successors: &[PeerAddr],
    ) -> bool {
        let skipped_us = predecessor.is_some_and(|x| x.id == self.me.id);
        let former = !successors.is_empty() && self.graveyard.iter().any(|(g, _)| *g == p);
        (skipped_us || former) && self.closer_successor(p) && self.adopt_if_closer(p)
    }

    /// `p`, asked back because it may be the predecessor, answered: it
    /// becomes the predecessor if the first of its successors other than
    /// `left` (a leaver it may still name) is us. Returns the old
    /// predecessor to hint that it should look again, if it was adopted.
    pub(super) fn verified_predecessor(
        &mut self,
        p: PeerAddr,
        left: Option<NodeId>,
        predecessor: Option<PeerAddr>,
        successors: &[PeerAddr],
        farther_predecessors: Vec<PeerAddr>,
    ) -> Option<Option<PeerAddr>> {
        let first = successors.iter().find(|s| Some(s.id) != left);
        if !(first.is_some_and(|s| s.id == self.me.id) && self.closer_predecessor(p)) {
            return None;
        }
        let old = self.adopt_predecessor(p);
        self.learn_farther_predecessors(p, predecessor, farther_predecessors);
        Some(old)
    }

    /// Makes `p` the first successor if it lies in `(me, successor)` (or
    /// there is none). Returns whether it did.
    pub(super) fn adopt_if_closer(&mut self, p: PeerAddr) -> bool {
        let closer = self.closer_successor(p);
        if closer {
            self.succs.retain(|q| q.id != p.id);
            self.succs.insert(0, p);
            self.succs.truncate(self.r);
            self.successor_confirmed = false;
            self.changed = true;
        }
        closer
    }

    /// The predecessor `p` answered the predecessor check: its
    /// predecessors are this node's farther ones.
    pub(super) fn on_predecessor_neighbours(
        &mut self,
        p: PeerAddr,
        predecessor: Option<PeerAddr>,
        farther_predecessors: Vec<PeerAddr>,
    ) {
        if self.pred == Some(p) {
            self.learn_farther_predecessors(p, predecessor, farther_predecessors);
        }
    }

    /// The predecessor `p` named its own predecessor and farther ones.
    fn learn_farther_predecessors(
        &mut self,
        p: PeerAddr,
        predecessor: Option<PeerAddr>,
        farther_predecessors: Vec<PeerAddr>,
    ) {
        let mut farther: Vec<PeerAddr> = Vec::with_capacity(self.k);
        for q in predecessor.into_iter().chain(farther_predecessors) {
            // A ring smaller than k + 1 comes round to us.
            if q.id == self.me.id || q.id == p.id || farther.len() + 1 >= self.k {
                break;
            }
            if !farther.contains(&q) {
                farther.push(q);
            }
        }
        self.farther_preds = farther;
    }

    /// Makes `n` the predecessor; returns the old one.
    fn adopt_predecessor(&mut self, n: PeerAddr) -> Option<PeerAddr> {
        let old = self.pred.replace(n);
        self.changed = true;
        // A joiner in front: the old predecessor is now the first farther
        // one. Anything else: the list is stale until the new one says.
        match old {
            Some(o) if pt(&n).in_open(pt(&o), pt(&self.me)) => {
                self.farther_preds.insert(0, o);
                self.farther_preds.truncate(self.k - 1);
            }
            _ => self.farther_preds.clear(),
        }
        if self.succs.is_empty() {
            self.succs.push(n);
        }
        old
    }

    /// A neighbour leaves gracefully: splice it out. Returns the
    /// predecessor it named, to be asked back before it takes its place.
    pub(super) fn on_leaving(
        &mut self,
        from: PeerAddr,
        predecessor: Option<PeerAddr>,
        successors: Vec<PeerAddr>,
    ) -> Option<PeerAddr> {
        let mut ask_back = None;
        if self.pred.is_some_and(|p| p.id == from.id) {
            self.pred = None;
            self.changed = true;
            ask_back = predecessor.filter(|q| q.id != self.me.id && q.id != from.id);
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
            list.truncate(self.r);
            self.succs = list;
            self.changed = true;
        }
        for f in self.fingers.iter_mut() {
            if f.is_some_and(|p| p.id == from.id) {
                *f = None;
            }
        }
        ask_back
    }

    /// The next finger to refresh, round robin over those that can differ
    /// from the successor at the estimated ring size, with the point it
    /// follows. A finger the successor covers is set here, and `None`
    /// returned.
    pub(super) fn next_finger(&mut self) -> Option<(usize, Point)> {
        let first = self.succs.first().copied()?;
        let useful = self.useful_fingers();
        let i = self.next_finger % useful;
        self.next_finger = (i + 1) % useful;
        let me = pt(&self.me);
        let start = me.wrapping_add(Point::pow2(255 - i as u32));
        if start.in_open_closed(me, pt(&first)) {
            self.fingers[i] = Some(first);
            return None;
        }
        Some((i, start))
    }

    /// Whom a lookup refreshing finger `i` asks first: the current finger,
    /// which answers in one hop while it still owns the point, then the
    /// peers closest before it.
    pub(super) fn finger_route(&self, i: usize, start: Point) -> Vec<PeerAddr> {
        let mut from: Vec<PeerAddr> = self.fingers[i].into_iter().collect();
        from.extend(self.closest_preceding(start, 3));
        from
    }

    /// A lookup found the owner of finger `i`'s point.
    pub(super) fn set_finger(&mut self, i: usize, owner: PeerAddr) {
        if owner.id != self.me.id {
            self.fingers[i] = Some(owner);
        }
    }

    // ---- the graveyard ----

    /// Remembers a dropped peer for probing, the oldest making room.
    pub(super) fn bury(&mut self, peer: PeerAddr) {
        if self.graveyard.iter().any(|(g, _)| g.id == peer.id) {
            return;
        }
        if self.graveyard.len() >= GRAVEYARD {
            self.graveyard.pop_front();
        }
        self.graveyard.push_back((peer, 0));
    }

    /// The dropped peer to probe next, with the probes it had.
    pub(super) fn next_buried(&mut self) -> Option<(PeerAddr, u32)> {
        self.graveyard.pop_front()
    }

    /// A probe of `peer`, its `n`th, went unanswered: it stays buried for
    /// more probes (an isolated node, `always`, keeps probing: its buried
    /// peers are its only way back into the ring).
    pub(super) fn probe_failed(&mut self, peer: PeerAddr, n: u32, always: bool) {
        if n < GRAVEYARD_PROBES || always {
            self.graveyard.push_back((peer, n.min(GRAVEYARD_PROBES)));
        }
    }
}

#[cfg(test)]
mod tests;
