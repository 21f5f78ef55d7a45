//! A lookup as a state machine of its own: whom to ask next, what each
//! answer means, and when the owners of the target are found. It holds no
//! routing table and sends nothing: the node feeds it answers and failures
//! and asks [`Lookup::next`] what to do.
//!
//! Two phases. *Route* asks peers ever closer to the target until one names
//! the target's successors; when every hint has failed, it walks on along
//! the successor list of the nearest peer that answered. *Confirm* (when
//! asked for) asks the successor found for its neighbours, and takes a
//! newer predecessor that owns the target instead.
//!
//! One question is out at a time, unless the lookup gathers several
//! opinions in parallel: then, once the peers left to ask are near enough
//! to the target that their successor lists name its owners, it asks as
//! many at once for their neighbours as it still needs claims (disjoint
//! last hops). A question unanswered
//! for the hedge delay no longer holds its place. An answer or failure
//! from any peer but those asked is ignored.

use lsp_core::{NodeId, PeerAddr};

use crate::ring::Point;

/// A lookup that has asked this many peers gives up.
pub(crate) const MAX_HOPS: u32 = 64;

/// Newer predecessors a confirmation follows before it settles.
const MAX_CONFIRM_STEPS: u32 = 3;

/// Peers a lookup asks for more opinions once it holds a first claim.
const MORE_OPINION_ASKS: u32 = 8;

/// A claimed successor list whose mean gap is more than this many times
/// the ring's is sparse. An honest list of 8 exceeds it about 3% of the
/// time (the ring's mean gap is itself estimated from 9 gaps); a list of
/// the 8 liars nearest after the target passes it about 0.1% of the time
/// when one node in 10 lies, and 5% when one in 5 does.
const SPARSE_FACTOR: f64 = 2.5;

/// What an honest claim of owners looks like on this ring.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Density {
    /// The mean gap between neighbours, as a fraction of the ring.
    pub(crate) mean_gap: f64,
    /// Peers an honest answer lists: a full successor list.
    pub(crate) listed: usize,
}

/// What a peer is asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Question {
    /// The target's successors, or peers closer to it (`FindSuccessor`).
    FindSuccessor,
    /// The peer's predecessor and successor list (`GetNeighbours`).
    Neighbours,
}

/// What the lookup wants done next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Want {
    /// Ask this peer this question.
    Ask(PeerAddr, Question),
    /// An answer is awaited.
    Wait,
    /// The peers responsible for the target, the primary first.
    Done(Vec<PeerAddr>),
    /// The lookup cannot go on.
    Failed(Failure),
}

/// Why a lookup ended without owners.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Failure {
    /// It asked [`MAX_HOPS`] peers.
    TooManyHops,
    /// No peer is left to ask.
    NoRoute,
}

/// An answer, as far as the lookup cares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Answer {
    /// `Successors`: the responder says these own the target.
    Successors(Vec<PeerAddr>),
    /// `Closer`: ask these, closest to the target first.
    Closer(Vec<PeerAddr>),
    /// `Neighbours`.
    Neighbours {
        predecessor: Option<PeerAddr>,
        successors: Vec<PeerAddr>,
    },
    /// Anything else: a refusal, or an answer of the wrong kind.
    Useless,
}

/// A question out.
#[derive(Debug, Clone, Copy)]
struct Asked {
    peer: PeerAddr,
    question: Question,
    /// Unanswered past the hedge delay: it no longer holds its place, and
    /// its answer still counts if it comes.
    slow: bool,
}

#[derive(Debug)]
enum Stage {
    Route {
        /// Peers to ask, closest to the target first.
        candidates: Vec<PeerAddr>,
        tried: Vec<NodeId>,
        /// Peers that answered with hints, farthest from the target first.
        answered: Vec<PeerAddr>,
        /// Peers that did not answer, by Node-ID and address: a hint that
        /// names a live node's ID at a bogus address kills only itself.
        dead: Vec<PeerAddr>,
    },
    Confirm {
        /// The successor to ask first, then the ones after it.
        peers: Vec<PeerAddr>,
        steps: u32,
    },
    Done(Vec<PeerAddr>),
    Failed(Failure),
}

/// One lookup of the successors of `target`.
#[derive(Debug)]
pub(crate) struct Lookup {
    target: Point,
    /// The node running the lookup; never a candidate.
    me: NodeId,
    /// Owners a confirmed lookup returns.
    k: usize,
    /// The widest gap between two neighbours an answer may claim; `None`
    /// when the ring is too small to tell.
    max_gap: Option<Point>,
    /// How dense an honest claim is; `None` when the ring is too small to
    /// tell.
    density: Option<Density>,
    /// Answers found to be lies.
    lies: u32,
    /// Dense claims of owners gathered, from different peers, before the
    /// one whose owner is nearest the target wins; 1 takes the first.
    opinions: u32,
    /// Dense claims gathered so far.
    claims: u32,
    /// The dense claim nearest the target so far, while more are sought.
    claim: Option<Vec<PeerAddr>>,
    /// The sparse claim nearest the target so far: it counts as no
    /// opinion, and wins only when it is nearer than every dense one.
    sparse: Option<Vec<PeerAddr>>,
    /// Owners of the claims that lost: a confirmation whose owners all
    /// fail asks these, nearest the target first.
    spare: Vec<PeerAddr>,
    /// Hops asked until the first claim.
    hops_to_claim: Option<u32>,
    confirm: bool,
    hops: u32,
    /// The peers whose answers are awaited, and what each was asked.
    asking: Vec<Asked>,
    /// How near the target (a fraction of the ring) a peer's successor
    /// list names its owners; opinions are sought from several such peers
    /// at once. `None` asks one peer at a time.
    reach: Option<f64>,
    /// The node itself and its successor list: read as a last resort
    /// when every peer before the target failed.
    own: Option<(PeerAddr, Vec<PeerAddr>)>,
    /// Questions given up on when the route ended with answers still
    /// awaited: the node may cancel their requests.
    dropped: bool,
    /// Peers that did not answer, in the order asked (at most
    /// [`MAX_HOPS`], as each was asked once).
    silent: Vec<NodeId>,
    phase: Stage,
}

impl Lookup {
    /// A lookup that starts from `candidates`. With `confirm`, the owner
    /// found is asked for its neighbours before the lookup is done, and it
    /// returns at most `k` owners.
    pub(crate) fn new(
        target: Point,
        me: NodeId,
        candidates: Vec<PeerAddr>,
        confirm: bool,
        k: usize,
    ) -> Self {
        let mut lookup = Self {
            target,
            me,
            k,
            max_gap: None,
            density: None,
            lies: 0,
            opinions: 1,
            claims: 0,
            claim: None,
            sparse: None,
            spare: Vec::new(),
            hops_to_claim: None,
            confirm,
            hops: 0,
            asking: Vec::new(),
            reach: None,
            own: None,
            dropped: false,
            silent: Vec::new(),
            phase: Stage::Route {
                candidates: Vec::new(),
                tried: Vec::new(),
                answered: Vec::new(),
                dead: Vec::new(),
            },
        };
        lookup.restart(candidates);
        lookup
    }

    /// A lookup whose route phase the node answered from its own table.
    pub(crate) fn with_owners(
        target: Point,
        me: NodeId,
        owners: Vec<PeerAddr>,
        confirm: bool,
        k: usize,
    ) -> Self {
        let mut lookup = Self::new(target, me, Vec::new(), confirm, k);
        lookup.found(owners);
        lookup
    }

    /// The point sought.
    pub(crate) fn target(&self) -> Point {
        self.target
    }

    /// Refuses answers that claim two neighbours farther apart than
    /// `max_gap` (a far-off "successor" is how a liar names accomplices
    /// anywhere on the ring).
    pub(crate) fn with_max_gap(mut self, max_gap: Option<Point>) -> Self {
        self.max_gap = max_gap;
        self
    }

    /// Counts a claim as an opinion only when its successor list is as
    /// long and as dense as an honest one on this ring (Castro et al.'s
    /// density test): liars can name only each other, and they are
    /// sparser than the ring.
    pub(crate) fn with_density(mut self, density: Option<Density>) -> Self {
        self.density = density;
        self
    }

    /// Gathers `opinions` dense claims of owners from different peers and keeps
    /// the one whose owner is nearest the target: a liar can name only
    /// nodes that exist, and the true owner is the nearest of all. At most
    /// [`MORE_OPINION_ASKS`] more peers are asked after the first claim,
    /// twice as many while every claim so far is sparse.
    pub(crate) fn with_opinions(mut self, opinions: u32) -> Self {
        self.opinions = opinions.max(1);
        self
    }

    /// Asks several peers at once for the opinions still needed, once the
    /// peers left to ask are within `reach` of the target (a fraction of
    /// the ring, about r - k + 1 mean gaps: their successor lists name all
    /// k owners). `None` asks one at a time.
    pub(crate) fn with_parallel(mut self, reach: Option<f64>) -> Self {
        self.reach = reach;
        self
    }

    /// When every peer before the target fails, reads `me`'s own
    /// successor list past the dead instead of failing.
    pub(crate) fn with_own_successors(mut self, me: PeerAddr, succs: Vec<PeerAddr>) -> Self {
        self.own = (me.id == self.me && !succs.is_empty()).then_some((me, succs));
        self
    }

    /// Whether questions were given up on since last asked: their answers
    /// no longer matter, and their requests may be cancelled.
    pub(crate) fn take_dropped(&mut self) -> bool {
        std::mem::take(&mut self.dropped)
    }

    /// Peers asked for more opinions, apart from the hops.
    pub(crate) fn check_hops(&self) -> u32 {
        self.hops - self.hops_to_claim.unwrap_or(self.hops)
    }

    /// Answers found to be lies: the hop was dropped from the lookup.
    pub(crate) fn lies(&self) -> u32 {
        self.lies
    }

    /// Peers that did not answer, in the order asked.
    pub(crate) fn silent(&self) -> &[NodeId] {
        &self.silent
    }

    /// The peer whose answer was asked for first of those awaited.
    pub(crate) fn asking(&self) -> Option<PeerAddr> {
        self.asking.first().map(|a| a.peer)
    }

    /// Questions out that still hold their place.
    fn in_flight(&self) -> usize {
        self.asking.iter().filter(|a| !a.slow).count()
    }

    /// Questions the route may have out at once: one, or when opinions are
    /// gathered in parallel and the nearest peer left to ask is near
    /// enough to name the owners itself, as many as claims still needed.
    fn width(&self, nearest: Option<&PeerAddr>) -> usize {
        if nearest.is_some_and(|p| self.near(p)) {
            self.opinions.saturating_sub(self.claims).max(1) as usize
        } else {
            1
        }
    }

    /// Whether `p` is within the reach given to
    /// [`with_parallel`](Self::with_parallel).
    fn near(&self, p: &PeerAddr) -> bool {
        self.reach.is_some_and(|reach| {
            let dist = self.target.wrapping_sub(Point::from(p.id)).as_fraction();
            dist <= reach
        })
    }

    /// `to`'s answer is overdue: another peer may be asked meanwhile.
    pub(crate) fn on_slow(&mut self, to: PeerAddr) {
        if let Some(a) = self.asking.iter_mut().find(|a| a.peer == to) {
            a.slow = true;
        }
    }

    /// Peers asked while routing to the first claim of owners
    /// (confirmation and second opinion not counted).
    pub(crate) fn hops(&self) -> u32 {
        self.hops_to_claim.unwrap_or(self.hops)
    }

    /// What to do next. Asking marks the peer as the one whose answer is
    /// awaited.
    pub(crate) fn next(&mut self) -> Want {
        let target = self.target;
        if matches!(self.phase, Stage::Route { .. }) && self.opinions_spent() {
            // The last questions asked may still bring a nearer claim.
            if self.in_flight() > 0 {
                return Want::Wait;
            }
            if let Some(best) = self.best_claim() {
                self.found(best);
            }
        }
        let (in_flight, out) = (self.in_flight(), !self.asking.is_empty());
        let nearest = match &self.phase {
            Stage::Route {
                candidates, tried, ..
            } => candidates.iter().find(|c| !tried.contains(&c.id)).copied(),
            _ => None,
        };
        let width = self.width(nearest.as_ref());
        // A near peer asked for its neighbours claims owners whether or not
        // it precedes the target itself: an opinion in one round trip.
        let ask_list = self.opinions > 1 && nearest.is_some_and(|p| self.near(&p));
        let ask = match &mut self.phase {
            Stage::Done(owners) => return Want::Done(owners.clone()),
            Stage::Failed(f) => return Want::Failed(*f),
            Stage::Confirm { .. } if out => return Want::Wait,
            Stage::Confirm { peers, .. } => match peers.first() {
                Some(p) => (*p, Question::Neighbours),
                None => {
                    self.phase = Stage::Failed(Failure::NoRoute);
                    return Want::Failed(Failure::NoRoute);
                }
            },
            Stage::Route { .. } if self.hops >= MAX_HOPS => {
                if out {
                    return Want::Wait;
                }
                self.phase = Stage::Failed(Failure::TooManyHops);
                return Want::Failed(Failure::TooManyHops);
            }
            Stage::Route {
                candidates,
                tried,
                answered,
                ..
            } => {
                // A walk is asked alone.
                if in_flight >= width {
                    return Want::Wait;
                }
                let dist = |p: &PeerAddr| target.wrapping_sub(Point::from(p.id));
                let next = candidates.iter().position(|c| !tried.contains(&c.id));
                // The nearest peer that answered, if no candidate left is
                // nearer: its hints led nowhere (dead, or stale while the
                // ring repairs). Walk on along its successor list, which
                // stabilize keeps fresh.
                answered.sort_by_key(|a| std::cmp::Reverse(dist(a)));
                let stuck = in_flight == 0
                    && answered
                        .last()
                        .is_some_and(|a| next.is_none_or(|i| dist(&candidates[i]) > dist(a)));
                if stuck && let Some(r) = answered.pop() {
                    self.hops += 1;
                    (r, Question::Neighbours)
                } else if let Some(i) = next {
                    let to = candidates.remove(i);
                    tried.push(to.id);
                    self.hops += 1;
                    if ask_list {
                        (to, Question::Neighbours)
                    } else {
                        (to, Question::FindSuccessor)
                    }
                } else if out {
                    // Answers still awaited may name more peers.
                    return Want::Wait;
                } else if let Some(best) = self.best_claim() {
                    // No one left to ask: the nearest claim so far stands.
                    self.found(best);
                    return self.next();
                } else if let Some((me, succs)) = self.own.take() {
                    // Every peer before the target failed: the node's own
                    // successor list, read past the dead, names the owners.
                    let answer = Answer::Neighbours {
                        predecessor: None,
                        successors: succs,
                    };
                    self.routed(me, answer);
                    return self.next();
                } else {
                    self.phase = Stage::Failed(Failure::NoRoute);
                    return Want::Failed(Failure::NoRoute);
                }
            }
        };
        self.asking.push(Asked {
            peer: ask.0,
            question: ask.1,
            slow: false,
        });
        Want::Ask(ask.0, ask.1)
    }

    /// `from` answered the question it was asked.
    pub(crate) fn on_response(&mut self, from: PeerAddr, answer: Answer) {
        let Some(i) = self.asking.iter().position(|a| a.peer.id == from.id) else {
            return;
        };
        let question = self.asking.remove(i).question;
        // An answer of another kind than the question asked for is no
        // answer: a walk asked for neighbours must not be sent back into
        // the route by a hint, nor a hint taken for a walk.
        let fits = matches!(
            (&answer, question),
            (
                Answer::Successors(_) | Answer::Closer(_),
                Question::FindSuccessor
            ) | (Answer::Neighbours { .. }, Question::Neighbours)
        );
        let answer = if fits { answer } else { Answer::Useless };
        match &mut self.phase {
            Stage::Route { .. } => self.routed(from, answer),
            Stage::Confirm { .. } => match answer {
                Answer::Neighbours {
                    predecessor,
                    successors,
                } => self.confirmed(from, predecessor, successors),
                _ => self.drop_confirm_peer(from.id),
            },
            Stage::Done(_) | Stage::Failed(_) => {}
        }
    }

    /// `to`, the peer asked, did not answer.
    pub(crate) fn on_failure(&mut self, to: PeerAddr) {
        let Some(i) = self.asking.iter().position(|a| a.peer == to) else {
            return;
        };
        self.asking.remove(i);
        if !self.silent.contains(&to.id) && self.silent.len() < MAX_HOPS as usize {
            self.silent.push(to.id);
        }
        match &mut self.phase {
            Stage::Route {
                candidates, dead, ..
            } => {
                candidates.retain(|c| *c != to);
                dead.push(to);
            }
            Stage::Confirm { .. } => self.drop_confirm_peer(to.id),
            Stage::Done(_) | Stage::Failed(_) => {}
        }
    }

    /// A recursive lookup's answer came back by another way, `hops` away.
    pub(crate) fn on_routed(&mut self, owners: Vec<PeerAddr>, hops: u32) {
        if !matches!(self.phase, Stage::Route { .. }) {
            return;
        }
        self.asking.clear();
        self.hops = hops;
        self.found(dedup(owners));
    }

    /// Routes afresh from `candidates`, keeping what is known dead: a
    /// recursive lookup whose answer never came carries on this way.
    pub(crate) fn restart(&mut self, candidates: Vec<PeerAddr>) {
        let Stage::Route {
            candidates: c,
            tried,
            dead,
            ..
        } = &mut self.phase
        else {
            return;
        };
        self.asking.clear();
        tried.clear();
        *c = candidates
            .into_iter()
            .filter(|p| p.id != self.me && !dead.contains(p))
            .collect();
    }

    fn routed(&mut self, from: PeerAddr, answer: Answer) {
        let (target, me, density) = (self.target, self.me, self.density);
        // The owner must follow the target closely, and the node claimed
        // to precede it (unless the owner answers for itself) must precede
        // it closely.
        let plausible = |before: Point, owner: Point| {
            let owns_itself = before == owner;
            target.in_open_closed(before, owner)
                && self.max_gap.is_none_or(|gap| {
                    owner.wrapping_sub(target) <= gap
                        && (owns_itself || target.wrapping_sub(before) <= gap)
                })
        };
        let mut claim: Option<(Vec<PeerAddr>, bool)> = None;
        let mut lie = false;
        let Stage::Route {
            candidates,
            answered,
            dead,
            ..
        } = &mut self.phase
        else {
            return;
        };
        let add = |hints: Vec<PeerAddr>, candidates: &mut Vec<PeerAddr>| {
            let mut all_closer = true;
            for p in hints {
                let closer = Point::from(p.id).in_open(Point::from(from.id), target);
                all_closer &= closer || p.id == me;
                if closer && p.id != me && !candidates.iter().any(|c| c.id == p.id) {
                    candidates.push(p);
                }
            }
            candidates.sort_by_key(|c| target.wrapping_sub(Point::from(c.id)));
            all_closer
        };
        match answer {
            Answer::Successors(peers) => {
                let peers = dedup(peers);
                if let Some(first) = peers.first() {
                    if plausible(Point::from(from.id), Point::from(first.id)) {
                        let dense = dense(density, from, &peers);
                        claim = Some((peers, dense));
                    } else {
                        lie = true;
                    }
                }
            }
            Answer::Closer(peers) => {
                answered.retain(|a| a.id != from.id);
                answered.push(from);
                // A hint not closer than its giver is a lie; the closer
                // ones are still worth asking.
                lie = !add(peers, candidates);
            }
            Answer::Neighbours { successors, .. } => {
                let dense = dense(density, from, &successors);
                let live: Vec<PeerAddr> = successors
                    .into_iter()
                    .filter(|p| !dead.contains(p))
                    .collect();
                // The first live successor past the target owns it,
                // whatever the responder itself still believes. It need not
                // be the first one: after a crash, nodes the list names
                // between the responder and the target may be known dead.
                let mut before = Point::from(from.id);
                let mut owner_at = None;
                for (i, s) in live.iter().enumerate() {
                    if target.in_open_closed(before, Point::from(s.id)) {
                        owner_at = Some((i, before));
                        break;
                    }
                    before = Point::from(s.id);
                }
                match owner_at {
                    Some((i, before)) if plausible(before, Point(live[i].id.0)) => {
                        // A list that ends before naming k owners is no
                        // full opinion: the read needs them all.
                        let full = density.is_none() || live.len() - i >= self.k;
                        claim = Some((live[i..].to_vec(), dense && full));
                    }
                    Some(_) => lie = true,
                    None => {
                        add(live, candidates);
                    }
                }
            }
            Answer::Useless => {}
        }
        if lie {
            self.lies += 1;
            if let Stage::Route {
                candidates,
                answered,
                dead,
                ..
            } = &mut self.phase
            {
                candidates.retain(|c| c.id != from.id);
                answered.retain(|a| a.id != from.id);
                dead.push(from);
            }
        }
        if let Some((owners, dense)) = claim {
            self.claimed(owners, dense);
        }
    }

    /// Whether the search for more opinions has had all the asks it may.
    fn opinions_spent(&self) -> bool {
        let asks = if self.claim.is_some() {
            MORE_OPINION_ASKS
        } else {
            2 * MORE_OPINION_ASKS
        };
        (self.claim.is_some() || self.sparse.is_some())
            && (self.check_hops() >= asks || self.hops >= MAX_HOPS)
    }

    /// A peer claimed these owners; `dense` when the claim looks honest.
    fn claimed(&mut self, owners: Vec<PeerAddr>, dense: bool) {
        // Questions still out were asked beside this one, not before it.
        let depth = self.hops - self.asking.len() as u32;
        self.hops_to_claim.get_or_insert(depth);
        let target = self.target;
        let slot = if dense {
            &mut self.claim
        } else {
            &mut self.sparse
        };
        let (best, lost) = match slot.take() {
            Some(best) if !nearer(target, &owners, &best) => (best, Some(owners)),
            old => (owners, old),
        };
        *slot = Some(best);
        self.spare.extend(lost.into_iter().flatten());
        if dense {
            self.claims += 1;
            if self.claims >= self.opinions
                && let Some(best) = self.best_claim()
            {
                self.found(best);
            }
        }
    }

    /// The claim nearest the target, dense or not; a tie goes to the dense
    /// one. A liar can name only nodes that exist, and the true owner is
    /// the nearest of all.
    fn best_claim(&mut self) -> Option<Vec<PeerAddr>> {
        let (best, lost) = match (self.claim.take(), self.sparse.take()) {
            (Some(c), Some(s)) if nearer(self.target, &s, &c) => (Some(s), Some(c)),
            (Some(c), s) => (Some(c), s),
            (None, s) => (s, None),
        };
        self.spare.extend(lost.into_iter().flatten());
        best
    }

    fn found(&mut self, owners: Vec<PeerAddr>) {
        // The route is over: answers still awaited no longer count.
        self.dropped |= !self.asking.is_empty();
        self.asking.clear();
        self.phase = if self.confirm {
            let target = self.target;
            let mut spare = std::mem::take(&mut self.spare);
            spare.sort_by_key(|p| Point::from(p.id).wrapping_sub(target));
            let mut peers = owners;
            peers.extend(spare);
            Stage::Confirm {
                peers: dedup(peers),
                steps: 0,
            }
        } else {
            Stage::Done(owners)
        };
    }

    /// The candidate successor `s` answered with its neighbours.
    fn confirmed(&mut self, s: PeerAddr, pred: Option<PeerAddr>, succs: Vec<PeerAddr>) {
        let target = self.target;
        let Stage::Confirm { peers, steps } = &mut self.phase else {
            return;
        };
        // A predecessor of s that the target does not pass is newer than
        // the answer: it owns the target. Follow it a few times at most.
        if let Some(x) = pred
            && x.id != s.id
            && !target.in_open_closed(Point::from(x.id), Point::from(s.id))
            && *steps < MAX_CONFIRM_STEPS
        {
            *steps += 1;
            let mut next = vec![x, s];
            next.extend(succs.into_iter().filter(|p| p.id != x.id && p.id != s.id));
            *peers = dedup(next);
            return;
        }
        let mut owners = vec![s];
        owners.extend(succs);
        let mut owners = dedup(owners);
        owners.truncate(self.k);
        self.phase = Stage::Done(owners);
    }

    fn drop_confirm_peer(&mut self, id: NodeId) {
        if let Stage::Confirm { peers, .. } = &mut self.phase {
            peers.retain(|p| p.id != id);
        }
    }
}

/// Whether `listed`, the successor list `from` answered with, is as long
/// and as dense as an honest one; always, when density cannot tell.
fn dense(density: Option<Density>, from: PeerAddr, listed: &[PeerAddr]) -> bool {
    let Some(density) = density else {
        return true;
    };
    let (Some(last), true) = (listed.last(), listed.len() >= density.listed) else {
        return false;
    };
    let gaps = listed.iter().filter(|p| p.id != from.id).count().max(1);
    let span = Point::from(last.id)
        .wrapping_sub(Point::from(from.id))
        .as_fraction();
    span <= SPARSE_FACTOR * gaps as f64 * density.mean_gap
}

/// Whether claim `a` is nearer the target than claim `b`: its owner is
/// nearer past `target`, or on a tie, the first owner after it that
/// differs (a peer missing counts as farthest). A liar can name only nodes
/// that exist, so the truest list is nearest at every place; two claims
/// often share the first owner, as a liar may name it too.
fn nearer(target: Point, a: &[PeerAddr], b: &[PeerAddr]) -> bool {
    let dist = |c: &[PeerAddr], i: usize| c.get(i).map(|p| Point::from(p.id).wrapping_sub(target));
    for i in 0..a.len().max(b.len()) {
        match (dist(a, i), dist(b, i)) {
            (Some(x), Some(y)) if x == y => continue,
            (Some(x), Some(y)) => return x < y,
            (x, y) => return x.is_some() && y.is_none(),
        }
    }
    false
}

/// `peers` with later repeats of a Node-ID removed.
pub(crate) fn dedup(peers: Vec<PeerAddr>) -> Vec<PeerAddr> {
    let mut out: Vec<PeerAddr> = Vec::with_capacity(peers.len());
    for p in peers {
        if !out.iter().any(|q| q.id == p.id) {
            out.push(p);
        }
    }
    out
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod props;
