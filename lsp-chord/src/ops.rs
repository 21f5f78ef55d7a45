//! Operations: lookups and what follows them (join, finger refresh, store,
//! fetch), and graceful leave.
//!
//! Lookups are iterative by default: the originator asks one peer at a time
//! and keeps the candidates, so it routes around a dead peer itself and
//! counts every hop (`recursive.rs` holds the alternative). See
//! `docs/architecture.md` for the measured comparison.

use lsp_core::{Aor, Error, Lookup, NodeId, Peer, PeerAddr, Published, SignedRecord, UnixTime};

use crate::node::{Chord, NodeState, OpId, Outcome, Purpose, ms};
use crate::ring::Point;
use crate::wire::{Body, StoreOutcome};
use rand::RngExt;

/// A lookup that has asked this many peers gives up.
const MAX_HOPS: u32 = 64;

/// Replication batches stay well under the frame limit.
pub(crate) const BATCH_BYTES: usize = 48 * 1024;
const _: () = assert!(BATCH_BYTES + 1024 < crate::wire::MAX_MESSAGE_LEN);

/// What to do with the peers a lookup finds.
#[derive(Debug)]
pub(crate) enum Then {
    Lookup,
    Join,
    Finger(usize),
    /// Probe of another ring: adopt the answer if it is a closer successor.
    Merge,
    Publish(Box<SignedRecord>),
    Query(Box<Aor>),
    Fetch(Box<Aor>),
}

#[derive(Debug)]
pub(crate) enum Phase {
    Route {
        target: Point,
        then: Then,
        candidates: Vec<PeerAddr>,
        tried: Vec<NodeId>,
        /// Peers that answered, latest last: when every hint has failed,
        /// their live successors are the way forward.
        answered: Vec<PeerAddr>,
        /// Peers that did not answer this lookup.
        dead: Vec<NodeId>,
        /// Forward hop by hop instead of asking each hop.
        recursive: bool,
        /// The token of the recursive lookup awaiting its answer.
        token: Option<u64>,
    },
    Store {
        record: Box<SignedRecord>,
        peers: Vec<PeerAddr>,
        next: usize,
        in_flight: usize,
        accepted: usize,
        all_unchanged: bool,
        refusal: Option<Error>,
    },
    Fetch {
        aor: Box<Aor>,
        peers: Vec<PeerAddr>,
        next: usize,
        answered: usize,
        /// Answer with the verified records rather than their bindings.
        records: bool,
    },
    /// A lookup checks that the successor it found answers and still
    /// owns the target; a dead one is skipped, a newer predecessor taken.
    Confirm {
        target: Point,
        peers: Vec<PeerAddr>,
        steps: u32,
    },
    Leave {
        in_flight: usize,
    },
    /// Between phases.
    Moving,
}

#[derive(Debug)]
pub(crate) struct Op {
    pub deadline: u64,
    /// When a recursive lookup gives up waiting for its answer.
    pub step_deadline: Option<u64>,
    pub hops: u32,
    pub phase: Phase,
}

impl Op {
    /// Finger refreshes are upkeep, not user work.
    pub(crate) fn internal(&self) -> bool {
        matches!(
            self.phase,
            Phase::Route {
                then: Then::Finger(_) | Then::Merge,
                ..
            }
        )
    }

    pub(crate) fn fixes_finger(&self, i: usize) -> bool {
        matches!(self.phase, Phase::Route { then: Then::Finger(j), .. } if j == i)
    }
}

fn peer(p: &PeerAddr) -> Peer {
    Peer {
        id: p.id,
        addr: Some(p.addr),
    }
}

impl Chord {
    /// Registers an operation; `Err` carries the id of one that failed at
    /// once because too many are in flight.
    fn add_op(&mut self, phase: Phase, now_ms: u64) -> Result<OpId, OpId> {
        let id = self.new_op_id();
        if self.ops.len() >= self.cfg.max_operations {
            self.finish(id, Err(Error::Overloaded("operations")));
            return Err(id);
        }
        let deadline = now_ms + ms(self.cfg.operation_timeout);
        self.ops.insert(
            id,
            Op {
                deadline,
                step_deadline: None,
                hops: 0,
                phase,
            },
        );
        Ok(id)
    }

    pub(crate) fn start_join(&mut self, bootstrap: Vec<PeerAddr>, now: UnixTime) -> OpId {
        let target = Point(self.me.id.0);
        self.start_route(target, Then::Join, Some(bootstrap), now)
    }

    pub(crate) fn start_data_op(&mut self, then: Then, now: UnixTime) -> OpId {
        match self.state {
            NodeState::Joined => {}
            NodeState::Idle => return self.fail_now(Error::Unreachable(self.me.id)),
            NodeState::Left => return self.fail_now(Error::Closed),
        }
        let target = match &then {
            Then::Publish(r) => Point::from(r.record.aor.resource_id()),
            Then::Query(a) | Then::Fetch(a) => Point::from(a.resource_id()),
            _ => Point(self.me.id.0),
        };
        self.start_route(target, then, None, now)
    }

    /// Starts a lookup of `target`, from `bootstrap` when given
    /// (joining) or from this node's own table.
    pub(crate) fn start_route(
        &mut self,
        target: Point,
        then: Then,
        bootstrap: Option<Vec<PeerAddr>>,
        now: UnixTime,
    ) -> OpId {
        let t = now.as_millis();
        let user = matches!(
            then,
            Then::Lookup | Then::Publish(_) | Then::Query(_) | Then::Fetch(_)
        );
        let candidates = match bootstrap {
            Some(b) => b,
            None => match self.responsible_for(target) {
                Some(_) => Vec::new(),
                None => self.closest_preceding(target, 8),
            },
        };
        let phase = Phase::Route {
            target,
            then,
            candidates,
            tried: Vec::new(),
            answered: Vec::new(),
            dead: Vec::new(),
            recursive: self.cfg.routing == crate::Routing::Recursive && user,
            token: None,
        };
        let id = match self.add_op(phase, t) {
            Ok(id) => id,
            Err(failed) => return failed,
        };
        self.route_step(id, t);
        id
    }

    /// Asks the next candidate, or finishes the lookup.
    pub(crate) fn route_step(&mut self, id: OpId, now_ms: u64) {
        let joined = self.state == NodeState::Joined;
        let fresh_token: u64 = self.rng.random();
        let Some(op) = self.ops.get_mut(&id) else {
            return;
        };
        let Phase::Route {
            target,
            candidates,
            tried,
            then,
            answered,
            recursive,
            token,
            ..
        } = &mut op.phase
        else {
            return;
        };
        let target = *target;
        // Joined nodes answer from their own table when they can.
        if joined && !matches!(then, Then::Join) && tried.is_empty() && candidates.is_empty() {
            if let Some(peers) = self.responsible_for(target) {
                self.route_done(id, peers, now_ms);
            } else {
                self.end_op(id, Err(Error::Unreachable(NodeId(target.0))));
            }
            return;
        }
        if op.hops >= MAX_HOPS {
            self.end_op(id, Err(Error::Timeout));
            return;
        }
        let dist = |p: &PeerAddr| target.wrapping_sub(Point(p.id.0));
        let next = candidates.iter().position(|c| !tried.contains(&c.id));
        // The nearest peer that answered, if no candidate left is nearer:
        // its hints led nowhere (dead, or stale while the ring repairs).
        answered.sort_by_key(|a| std::cmp::Reverse(dist(a)));
        let stuck = answered
            .last()
            .filter(|a| next.is_none_or(|i| dist(&candidates[i]) > dist(a)))
            .is_some();
        if stuck {
            // Walk on along its successor list, which stabilize keeps fresh.
            if let Some(r) = answered.pop() {
                op.hops += 1;
                self.request(r, Body::GetNeighbours, Purpose::Op(id), now_ms);
            }
            return;
        }
        let Some(i) = next else {
            self.end_op(id, Err(Error::Unreachable(NodeId(target.0))));
            return;
        };
        let to = candidates.remove(i);
        tried.push(to.id);
        op.hops += 1;
        let body = if *recursive {
            *token = Some(fresh_token);
            Body::Forward {
                target: target.0,
                origin: self.me,
                token: fresh_token,
                hops: 1,
            }
        } else {
            Body::FindSuccessor { target: target.0 }
        };
        self.request(to, body, Purpose::Op(id), now_ms);
    }

    pub(crate) fn on_op_response(&mut self, id: OpId, from: PeerAddr, body: Body, now_ms: u64) {
        let Some(op) = self.ops.get_mut(&id) else {
            return;
        };
        match &mut op.phase {
            Phase::Route {
                target,
                candidates,
                answered,
                dead,
                token,
                ..
            } => match body {
                Body::Ack if token.is_some() => {
                    op.step_deadline = Some(now_ms + 3 * ms(self.cfg.request_timeout));
                }
                Body::Successors { peers } => {
                    let peers: Vec<PeerAddr> = dedup(peers);
                    if peers.is_empty() {
                        self.route_step(id, now_ms);
                    } else {
                        self.route_done(id, peers, now_ms);
                    }
                }
                Body::Neighbours { successors, .. } => {
                    let target = *target;
                    let live: Vec<PeerAddr> = successors
                        .into_iter()
                        .filter(|p| !dead.contains(&p.id))
                        .collect();
                    // The first live successor past the target owns it,
                    // whatever the responder itself still believes. It need
                    // not be the first one: after a crash, nodes the list
                    // names between the responder and the target may be
                    // known dead here.
                    let mut before = Point(from.id.0);
                    for (i, s) in live.iter().enumerate() {
                        if target.in_open_closed(before, Point(s.id.0)) {
                            let owners = live[i..].to_vec();
                            self.route_done(id, owners, now_ms);
                            return;
                        }
                        before = Point(s.id.0);
                    }
                    for p in live {
                        let closer = Point(p.id.0).in_open(Point(from.id.0), target);
                        if closer && p.id != self.me.id && !candidates.iter().any(|c| c.id == p.id)
                        {
                            candidates.push(p);
                        }
                    }
                    candidates.sort_by_key(|c| target.wrapping_sub(Point(c.id.0)));
                    self.route_step(id, now_ms);
                }
                Body::Closer { peers } => {
                    let target = *target;
                    let me = self.me.id;
                    answered.retain(|a| a.id != from.id);
                    answered.push(from);
                    for p in peers {
                        let closer = Point(p.id.0).in_open(Point(from.id.0), target);
                        if closer && p.id != me && !candidates.iter().any(|c| c.id == p.id) {
                            candidates.push(p);
                        }
                    }
                    candidates.sort_by_key(|c| target.wrapping_sub(Point(c.id.0)));
                    self.route_step(id, now_ms);
                }
                _ => self.route_step(id, now_ms),
            },
            Phase::Store { .. } => {
                let outcome = match body {
                    Body::Stored { mut outcomes } if outcomes.len() == 1 => outcomes.remove(0),
                    _ => StoreOutcome::Invalid("unexpected answer".into()),
                };
                self.store_answered(id, Some(outcome), now_ms);
            }
            Phase::Fetch { .. } => {
                let records = match body {
                    Body::Records { records } => Some(records),
                    _ => None,
                };
                self.fetch_answered(id, records, now_ms);
            }
            Phase::Confirm { .. } => match body {
                Body::Neighbours {
                    predecessor,
                    successors,
                } => self.confirmed(id, from, predecessor, successors, now_ms),
                _ => self.confirm_failed(id, from, now_ms),
            },
            Phase::Leave { .. } => self.leave_answered(id, now_ms),
            Phase::Moving => {}
        }
    }

    fn confirm_next(&mut self, id: OpId, now_ms: u64) {
        let Some(Phase::Confirm { peers, .. }) = self.ops.get(&id).map(|o| &o.phase) else {
            return;
        };
        match peers.first().copied() {
            Some(p) if p.id == self.me.id => {
                let (pred, succs) = (self.pred, self.succs.clone());
                self.confirmed(id, p, pred, succs, now_ms);
            }
            Some(p) => self.request(p, Body::GetNeighbours, Purpose::Op(id), now_ms),
            None => self.end_op(id, Err(Error::Unreachable(self.me.id))),
        }
    }

    /// The candidate successor `s` answered with its neighbours.
    fn confirmed(
        &mut self,
        id: OpId,
        s: PeerAddr,
        predecessor: Option<PeerAddr>,
        successors: Vec<PeerAddr>,
        now_ms: u64,
    ) {
        let k = self.cfg.k();
        let Some(op) = self.ops.get_mut(&id) else {
            return;
        };
        let hops = op.hops;
        let Phase::Confirm {
            target,
            peers,
            steps,
        } = &mut op.phase
        else {
            return;
        };
        // A predecessor of s that the target does not pass is newer than
        // the answer: it owns the target. Follow it a few times at most.
        if let Some(x) = predecessor
            && x.id != s.id
            && !target.in_open_closed(Point(x.id.0), Point(s.id.0))
            && *steps < 3
        {
            *steps += 1;
            let mut next = vec![x, s];
            next.extend(
                successors
                    .into_iter()
                    .filter(|p| p.id != x.id && p.id != s.id),
            );
            *peers = dedup(next);
            self.confirm_next(id, now_ms);
            return;
        }
        let mut found = vec![s];
        found.extend(successors);
        let found = dedup(found).iter().take(k).map(peer).collect();
        self.end_op(id, Ok(Outcome::Lookup(Lookup::new(found, hops))));
    }

    fn confirm_failed(&mut self, id: OpId, to: PeerAddr, now_ms: u64) {
        if let Some(Phase::Confirm { peers, .. }) = self.ops.get_mut(&id).map(|o| &mut o.phase) {
            peers.retain(|p| p.id != to.id);
        }
        self.confirm_next(id, now_ms);
    }

    pub(crate) fn on_op_failure(&mut self, id: OpId, to: PeerAddr, now_ms: u64) {
        let Some(op) = self.ops.get_mut(&id) else {
            return;
        };
        match &mut op.phase {
            Phase::Route {
                candidates, dead, ..
            } => {
                candidates.retain(|c| c.id != to.id);
                dead.push(to.id);
                self.route_step(id, now_ms);
            }
            Phase::Store { .. } => self.store_answered(id, None, now_ms),
            Phase::Fetch { .. } => self.fetch_answered(id, None, now_ms),
            Phase::Confirm { .. } => self.confirm_failed(id, to, now_ms),
            Phase::Leave { .. } => self.leave_answered(id, now_ms),
            Phase::Moving => {}
        }
    }

    pub(crate) fn route_done(&mut self, id: OpId, peers: Vec<PeerAddr>, now_ms: u64) {
        // Answers still due for the routing phase (a recursive lookup's
        // first hop, say) are stale from here on.
        self.pending.retain(|_, p| p.purpose != Purpose::Op(id));
        let Some(op) = self.ops.get_mut(&id) else {
            return;
        };
        let old = std::mem::replace(&mut op.phase, Phase::Moving);
        let Phase::Route { then, target, .. } = old else {
            return;
        };
        let want_records = matches!(then, Then::Fetch(_));
        let k = self.cfg.k();
        match then {
            Then::Lookup => {
                if let Some(op) = self.ops.get_mut(&id) {
                    op.phase = Phase::Confirm {
                        target,
                        peers,
                        steps: 0,
                    };
                }
                self.confirm_next(id, now_ms);
            }
            Then::Join => {
                let me = self.me.id;
                let mut succs: Vec<PeerAddr> = peers.into_iter().filter(|p| p.id != me).collect();
                succs.truncate(self.cfg.r());
                if succs.is_empty() {
                    self.end_op(id, Err(Error::Unreachable(me)));
                    return;
                }
                self.become_joined(succs, UnixTime(now_ms));
                self.end_op(id, Ok(Outcome::Joined));
            }
            Then::Finger(i) => {
                if let Some(first) = peers.first().filter(|p| p.id != self.me.id) {
                    self.fingers[i] = Some(*first);
                }
                self.ops.remove(&id);
            }
            Then::Merge => {
                self.ops.remove(&id);
                if let Some(p) = peers.into_iter().find(|p| p.id != self.me.id) {
                    self.adopt_if_closer(p, now_ms);
                }
            }
            Then::Publish(record) => {
                let want = k.min(peers.len());
                let first: Vec<PeerAddr> = peers[..want].to_vec();
                if let Some(op) = self.ops.get_mut(&id) {
                    op.phase = Phase::Store {
                        record,
                        peers,
                        next: want,
                        in_flight: want,
                        accepted: 0,
                        all_unchanged: true,
                        refusal: None,
                    };
                }
                for p in first {
                    self.send_store(id, p, now_ms);
                }
            }
            Then::Query(aor) | Then::Fetch(aor) => {
                let first = peers[0];
                let records = want_records;
                if let Some(op) = self.ops.get_mut(&id) {
                    op.phase = Phase::Fetch {
                        aor,
                        peers,
                        next: 1,
                        answered: 0,
                        records,
                    };
                }
                self.send_fetch(id, first, now_ms);
            }
        }
    }

    fn send_store(&mut self, id: OpId, to: PeerAddr, now_ms: u64) {
        let Some(Phase::Store { record, .. }) = self.ops.get(&id).map(|o| &o.phase) else {
            return;
        };
        let record = (**record).clone();
        if to.id == self.me.id {
            let outcome =
                self.store_and_spread(None, std::slice::from_ref(&record), UnixTime(now_ms));
            self.store_answered(id, outcome.into_iter().next(), now_ms);
        } else {
            let body = Body::Store {
                records: vec![record],
            };
            self.request(to, body, Purpose::Op(id), now_ms);
        }
    }

    /// One replica answered (`Some`) or could not be reached (`None`).
    fn store_answered(&mut self, id: OpId, outcome: Option<StoreOutcome>, now_ms: u64) {
        let Some(Phase::Store {
            peers,
            next,
            in_flight,
            accepted,
            all_unchanged,
            refusal,
            ..
        }) = self.ops.get_mut(&id).map(|o| &mut o.phase)
        else {
            return;
        };
        let mut retry = None;
        match outcome {
            Some(o) => {
                *in_flight -= 1;
                *all_unchanged &= o == StoreOutcome::Unchanged;
                match o.into_error() {
                    None => *accepted += 1,
                    Some(e) => *refusal = refusal.take().or(Some(e)),
                }
            }
            None if *next < peers.len() => {
                retry = Some(peers[*next]);
                *next += 1;
            }
            None => *in_flight -= 1,
        }
        if let Some(p) = retry {
            self.send_store(id, p, now_ms);
            return;
        }
        if *in_flight > 0 {
            return;
        }
        let result = match (refusal.take(), *accepted) {
            (Some(e), _) => Err(e),
            (None, 0) => Err(Error::Unreachable(peers[0].id)),
            (None, n) => Ok(Outcome::Published(Published::new(n, *all_unchanged))),
        };
        self.end_op(id, result);
    }

    fn send_fetch(&mut self, id: OpId, to: PeerAddr, now_ms: u64) {
        let Some(Phase::Fetch { aor, .. }) = self.ops.get(&id).map(|o| &o.phase) else {
            return;
        };
        let aor = (**aor).clone();
        if to.id == self.me.id {
            let records = self.store.fetch(&aor, UnixTime(now_ms)).unwrap_or_default();
            self.fetch_answered(id, Some(records), now_ms);
        } else {
            self.request(to, Body::Fetch { aor }, Purpose::Op(id), now_ms);
        }
    }

    /// A replica answered with records (`Some`) or could not be reached.
    /// The first replica holding a valid record answers the query; the
    /// others are asked in turn while they hold nothing.
    fn fetch_answered(&mut self, id: OpId, records: Option<Vec<SignedRecord>>, now_ms: u64) {
        let k = self.cfg.k();
        let policy = self.cfg.policy.clone();
        let Some(Phase::Fetch {
            aor,
            peers,
            next,
            answered,
            records: want_records,
        }) = self.ops.get_mut(&id).map(|o| &mut o.phase)
        else {
            return;
        };
        let now = UnixTime(now_ms);
        if let Some(records) = records {
            *answered += 1;
            // Readers check what storing nodes hand them.
            let valid: Vec<&SignedRecord> = records
                .iter()
                .filter(|r| {
                    r.record.aor == **aor && r.verify().is_ok() && policy.authorize(r, &[]).is_ok()
                })
                .collect();
            if !valid.is_empty() && *want_records {
                let valid = valid.into_iter().cloned().collect();
                self.end_op(id, Ok(Outcome::Records(valid)));
                return;
            }
            if !valid.is_empty() {
                let bindings = lsp_core::live_bindings(valid.iter().map(|r| &r.record), now);
                self.end_op(id, Ok(Outcome::Bindings(bindings)));
                return;
            }
        }
        if *answered < k && *next < peers.len() {
            let p = peers[*next];
            *next += 1;
            self.send_fetch(id, p, now_ms);
            return;
        }
        let result = if *answered > 0 {
            Err(Error::NotFound((**aor).clone()))
        } else {
            Err(Error::Unreachable(peers[0].id))
        };
        self.end_op(id, result);
    }

    /// Graceful leave: hand primary records to the successor, tell both
    /// neighbours, and stop once they answered or timed out.
    pub(crate) fn start_leave(&mut self, now: UnixTime) -> OpId {
        let t = now.as_millis();
        match self.state {
            NodeState::Joined => {}
            NodeState::Idle => {
                self.state = NodeState::Left;
                let op = self.new_op_id();
                self.finish(op, Ok(Outcome::Left));
                return op;
            }
            NodeState::Left => return self.fail_now(Error::Closed),
        }
        let id = match self.add_op(Phase::Leave { in_flight: 0 }, t) {
            Ok(id) => id,
            Err(failed) => return failed,
        };
        let Some(succ) = self.succs.first().copied() else {
            self.end_op(id, Ok(Outcome::Left));
            return id;
        };
        let me = Point(self.me.id.0);
        let pred = self.pred;
        let records: Vec<SignedRecord> = self
            .store
            .records_where(now, |rid| {
                pred.is_none_or(|p| Point::from(rid).in_open_closed(Point(p.id.0), me))
            })
            .into_iter()
            .map(|(_, r)| r)
            .collect();
        let mut messages: Vec<(PeerAddr, Body)> = batches(records)
            .into_iter()
            .map(|records| (succ, Body::Store { records }))
            .collect();
        let leaving = Body::Leaving {
            predecessor: pred,
            successors: self.succs.clone(),
        };
        messages.push((succ, leaving.clone()));
        if let Some(p) = pred.filter(|p| p.id != succ.id) {
            messages.push((p, leaving));
        }
        if let Some(op) = self.ops.get_mut(&id) {
            op.phase = Phase::Leave {
                in_flight: messages.len(),
            };
        }
        for (to, body) in messages {
            self.request(to, body, Purpose::Op(id), t);
        }
        id
    }

    fn leave_answered(&mut self, id: OpId, _now_ms: u64) {
        let Some(Phase::Leave { in_flight }) = self.ops.get_mut(&id).map(|o| &mut o.phase) else {
            return;
        };
        *in_flight = in_flight.saturating_sub(1);
        if *in_flight == 0 {
            self.end_op(id, Ok(Outcome::Left));
        }
    }

    /// Removes the op and reports it (internal ops are not reported).
    pub(crate) fn end_op(&mut self, id: OpId, outcome: Result<Outcome, Error>) {
        let Some(op) = self.ops.remove(&id) else {
            return;
        };
        if matches!(op.phase, Phase::Leave { .. }) && outcome.is_ok() {
            self.state = NodeState::Left;
            self.pending.clear();
            self.deadlines.clear();
        }
        if !op.internal() {
            self.finish(id, outcome);
        }
    }

    pub(crate) fn expire_ops(&mut self, now_ms: u64) {
        if self.ops.is_empty() {
            return;
        }
        let stalled: Vec<OpId> = self
            .ops
            .iter()
            .filter(|(_, o)| o.step_deadline.is_some_and(|d| d <= now_ms))
            .map(|(id, _)| *id)
            .collect();
        for id in stalled {
            self.recursion_stalled(id, now_ms);
        }
        let late: Vec<OpId> = self
            .ops
            .iter()
            .filter(|(_, o)| o.deadline <= now_ms)
            .map(|(id, _)| *id)
            .collect();
        for id in late {
            let leaving = self
                .ops
                .get(&id)
                .is_some_and(|o| matches!(o.phase, Phase::Leave { .. }));
            // A leave that outlives its deadline leaves anyway.
            let outcome = if leaving {
                Ok(Outcome::Left)
            } else {
                Err(Error::Timeout)
            };
            self.end_op(id, outcome);
        }
    }
}

pub(crate) fn dedup(peers: Vec<PeerAddr>) -> Vec<PeerAddr> {
    let mut out: Vec<PeerAddr> = Vec::with_capacity(peers.len());
    for p in peers {
        if !out.iter().any(|q| q.id == p.id) {
            out.push(p);
        }
    }
    out
}

/// Splits records into `Store` batches under [`BATCH_BYTES`] each.
pub(crate) fn batches(records: Vec<SignedRecord>) -> Vec<Vec<SignedRecord>> {
    let mut out = Vec::new();
    let mut cur = Vec::new();
    let mut size = 0;
    for r in records {
        let len = r.to_bytes().len();
        if size + len > BATCH_BYTES && !cur.is_empty() {
            out.push(std::mem::take(&mut cur));
            size = 0;
        }
        size += len;
        cur.push(r);
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

#[cfg(test)]
mod tests {
    use crate::test_peers::peer;
    use lsp_core::NodeId;

    use super::*;
    use crate::Config;
    use crate::node::NodeState;
    use crate::wire::Message;

    /// The one request the node just sent: to whom, its id and body.
    fn sent(node: &mut Chord) -> (NodeId, u64, Body) {
        let t = node.poll_transmit().expect("a request");
        assert!(node.poll_transmit().is_none(), "one request at a time");
        let m = Message::decode(&t.frame).expect("frame");
        (t.to.id, m.id, m.body)
    }

    fn answer(node: &mut Chord, from: u8, id: u64, body: Body) {
        let frame = Message { id, body }.encode();
        node.handle_message(peer(from), &frame, UnixTime(1_000))
            .expect("answer");
    }

    /// After a crash, the successor list a lookup reads can name a live
    /// node before the target, then dead ones, then the owner. The owner is
    /// the first live node past the target, not only when it comes first.
    #[test]
    fn a_lookup_skips_dead_successors_to_the_owner() {
        let now = UnixTime(1_000);
        let mut node = Chord::new(peer(0x10), Config::default());
        node.state = NodeState::Joined;
        node.succs = vec![peer(0x20)];
        node.pred = Some(peer(0xf0));
        node.lookup(Point([0x70; 32]), now);

        let (to, id, _) = sent(&mut node);
        assert_eq!(to, peer(0x20).id);
        answer(
            &mut node,
            0x20,
            id,
            Body::Closer {
                peers: vec![peer(0x64), peer(0x60)],
            },
        );
        let (to, id, _) = sent(&mut node);
        assert_eq!(to, peer(0x64).id);
        answer(
            &mut node,
            0x64,
            id,
            Body::Closer {
                peers: vec![peer(0x68)],
            },
        );
        // 0x68 has crashed.
        let (to, _, _) = sent(&mut node);
        assert_eq!(to, peer(0x68).id);
        node.handle_unreachable(peer(0x68).id, now);
        let (to, id, body) = sent(&mut node);
        assert_eq!((to, body), (peer(0x64).id, Body::GetNeighbours));
        answer(
            &mut node,
            0x64,
            id,
            Body::Neighbours {
                predecessor: Some(peer(0x60)),
                successors: vec![peer(0x68)],
            },
        );
        let (to, id, _) = sent(&mut node);
        assert_eq!(to, peer(0x60).id);
        answer(
            &mut node,
            0x60,
            id,
            Body::Closer {
                peers: vec![peer(0x64)],
            },
        );
        let (to, id, body) = sent(&mut node);
        assert_eq!((to, body), (peer(0x60).id, Body::GetNeighbours));
        answer(
            &mut node,
            0x60,
            id,
            Body::Neighbours {
                predecessor: Some(peer(0x20)),
                successors: vec![peer(0x64), peer(0x68), peer(0x80), peer(0x90)],
            },
        );
        // Found: 0x80 owns 0x70; the lookup now confirms it with 0x80.
        let (to, _, body) = sent(&mut node);
        assert_eq!((to, body), (peer(0x80).id, Body::GetNeighbours));
    }
}
