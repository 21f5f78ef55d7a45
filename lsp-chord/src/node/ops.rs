//! Operations: lookups and what follows them (join, finger refresh, store,
//! fetch), and graceful leave.
//!
//! Each phase is a state machine of its own (`lookup.rs`, `rounds.rs`);
//! this module sends what they ask for and feeds them the answers.
//! Lookups are iterative by default: the originator asks one peer at a
//! time, so it routes around a dead peer itself and counts every hop
//! (`relay.rs` holds the recursive alternative). See
//! `docs/architecture.md` for the measured comparison.

use lsp_core::{Aor, Error, Lookup as Found, NodeId, OwnRecord, Peer, PeerAddr, SignedRecord};

use super::{Chord, NodeState, OpId, Outcome, Purpose, Timer, ms};
use crate::lookup::{self, Answer, Failure, Lookup, Question};
use crate::ring::Point;
use crate::rounds::{self, FetchRound, Read, StoreRound};
use crate::wire::{Request, Response, StoreOutcome};

/// Replication batches stay well under the frame limit.
pub(crate) const BATCH_BYTES: usize = 48 * 1024;
const _: () = assert!(BATCH_BYTES + 1024 < crate::wire::MAX_MESSAGE_LEN);

/// A record to publish. One this process signed is stored here without a
/// second signature check; every other replica still checks it.
#[derive(Debug, Clone)]
pub(crate) enum Publishing {
    Checked(SignedRecord),
    Own(OwnRecord),
}

impl Publishing {
    pub(crate) fn signed(&self) -> &SignedRecord {
        match self {
            Self::Checked(r) => r,
            Self::Own(own) => own.signed(),
        }
    }

    fn into_signed(self) -> SignedRecord {
        match self {
            Self::Checked(r) => r,
            Self::Own(own) => own.into_signed(),
        }
    }
}

/// What to do with the peers a lookup finds.
#[derive(Debug)]
pub(crate) enum Then {
    Lookup,
    Join,
    /// A client's lookup of itself through the members it was given.
    Attach,
    Finger(usize),
    /// Probe of another ring: adopt the answer if it is a closer successor.
    Merge,
    /// A lookup run for `origin`, which forwarded it (recursive routing).
    Proxy {
        origin: PeerAddr,
        token: u64,
    },
    Publish(Box<Publishing>),
    Query(Box<Aor>),
    Fetch(Box<Aor>),
    /// Hand the records of an AOR this node no longer holds to its owners.
    Rehome(Box<Aor>),
}

#[derive(Debug)]
pub(crate) enum Phase {
    Route {
        lookup: Box<Lookup>,
        then: Then,
        /// Forward hop by hop instead of asking each hop.
        recursive: bool,
        /// The token of the recursive lookup awaiting its answer.
        token: Option<u64>,
    },
    Store {
        record: Box<Publishing>,
        round: StoreRound,
        /// The lookup found fewer than k owners: the ones asked pass the
        /// record on (`Store`); otherwise each owner gets it from the
        /// operation itself (`StoreHere`).
        pass_on: bool,
    },
    Fetch {
        aor: Box<Aor>,
        round: FetchRound,
        /// Answer with the verified records rather than their bindings.
        records: bool,
    },
    Leave {
        in_flight: usize,
    },
    /// Records of a misplaced AOR sent to its owners (`rehome.rs`).
    Rehome {
        aor: Box<Aor>,
        /// The encoded records sent: only these may be dropped here.
        sent: Vec<Vec<u8>>,
        /// Owners yet to answer.
        waiting: usize,
        /// Whether some owner did not take them all.
        refused: bool,
    },
    /// Between phases.
    Moving,
}

/// An operation; its deadlines are `Timer::Op` and `Timer::OpStep`.
#[derive(Debug)]
pub(crate) struct Op {
    pub phase: Phase,
}

impl Op {
    /// Finger refreshes, merges, proxied lookups and hand-overs are
    /// upkeep, not user work.
    pub(crate) fn internal(&self) -> bool {
        self.rehomes()
            || matches!(
                self.phase,
                Phase::Route {
                    then: Then::Finger(_) | Then::Merge | Then::Proxy { .. },
                    ..
                }
            )
    }

    /// Whether it hands a misplaced AOR over.
    pub(crate) fn rehomes(&self) -> bool {
        matches!(
            self.phase,
            Phase::Rehome { .. }
                | Phase::Route {
                    then: Then::Rehome(_),
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

/// What the lookup of an op asked for, taken out of its borrow.
enum Step {
    Send(PeerAddr, Request),
    Wait,
    Done(Vec<PeerAddr>),
    Failed(Error),
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
        self.ops.insert(id, Op { phase });
        self.io.set_timer(Timer::Op(id), deadline);
        Ok(id)
    }

    pub(crate) fn start_join(&mut self, bootstrap: Vec<PeerAddr>, now_ms: u64) -> OpId {
        let target = Point(self.me.id.0);
        self.start_route(target, Then::Join, Some(bootstrap), now_ms)
    }

    pub(crate) fn start_data_op(&mut self, then: Then, now_ms: u64) -> OpId {
        match self.state {
            NodeState::Joined | NodeState::Client => {}
            NodeState::Idle => return self.fail_now(Error::NotJoined),
            NodeState::Left => return self.fail_now(Error::Closed),
        }
        // Nothing stored from here would be found, and nothing read here
        // is current: fail loudly so that the caller goes elsewhere.
        if let Some(e) = self.unable(now_ms) {
            return self.fail_now(e);
        }
        let target = match &then {
            Then::Publish(r) => Point::from(r.signed().record.aor.resource_id()),
            Then::Query(a) | Then::Fetch(a) => Point::from(a.resource_id()),
            _ => Point(self.me.id.0),
        };
        self.start_route(target, then, None, now_ms)
    }

    /// Starts a lookup of `target`, from `bootstrap` when given
    /// (joining) or from this node's own table.
    pub(crate) fn start_route(
        &mut self,
        target: Point,
        then: Then,
        bootstrap: Option<Vec<PeerAddr>>,
        t: u64,
    ) -> OpId {
        let user = matches!(
            then,
            Then::Lookup | Then::Publish(_) | Then::Query(_) | Then::Fetch(_)
        );
        // Only a user's lookup asks the owner found to confirm it.
        let confirm = matches!(then, Then::Lookup);
        let (me, k, gap) = (self.me.id, self.cfg.k(), self.table.gap_bound());
        // A user's operation routed from this node's own table checks the
        // owners it finds against more opinions, and counts only claims as
        // dense as the ring. So does a hand-over: the copy here is dropped
        // once they have it.
        let checked = (user || matches!(then, Then::Rehome(_))) && bootstrap.is_none();
        let (opinions, density) = if checked {
            (self.cfg.opinions, self.table.density())
        } else {
            (1, None)
        };
        let lookup = Box::new(
            match bootstrap {
                Some(b) => Lookup::new(target, me, b, confirm, k),
                // A client routes from its contacts.
                None if self.state == NodeState::Client => {
                    Lookup::new(target, me, self.client_candidates(target), confirm, k)
                }
                // A joined node answers from its own table when it can.
                None => match self.table.responsible_for(target) {
                    Some(owners) => Lookup::with_owners(target, me, owners, confirm, k),
                    None => Lookup::new(
                        target,
                        me,
                        self.table.closest_preceding(target, 8),
                        confirm,
                        k,
                    ),
                },
            }
            .with_max_gap(gap)
            .with_density(density)
            .with_opinions(opinions),
        );
        let phase = Phase::Route {
            lookup,
            then,
            recursive: self.cfg.routing == crate::Routing::Recursive && user,
            token: None,
        };
        let id = match self.add_op(phase, t) {
            Ok(id) => id,
            Err(failed) => return failed,
        };
        self.drive_lookup(id, t);
        id
    }

    /// Does what the op's lookup asks for next: a question, the phase that
    /// follows it, or its failure.
    pub(crate) fn drive_lookup(&mut self, id: OpId, now_ms: u64) {
        loop {
            let fresh_token = self.io.token();
            let (me, pred) = (self.me, self.table.pred());
            let Some(Phase::Route {
                lookup,
                recursive,
                token,
                ..
            }) = self.ops.get_mut(&id).map(|o| &mut o.phase)
            else {
                return;
            };
            let step = match lookup.next() {
                // Only a confirmation asks this node: it answers itself.
                lookup::Next::Ask(p, _) if p.id == me.id => {
                    let answer = Answer::Neighbours {
                        predecessor: pred,
                        successors: self.table.succs().to_vec(),
                    };
                    lookup.on_response(p, answer);
                    continue;
                }
                lookup::Next::Ask(p, Question::FindSuccessor) if *recursive => {
                    *token = Some(fresh_token);
                    let body = Request::Forward {
                        target: lookup.target().0,
                        origin: me,
                        token: fresh_token,
                        hops: 1,
                    };
                    Step::Send(p, body)
                }
                lookup::Next::Ask(p, Question::FindSuccessor) => {
                    let target = lookup.target().0;
                    Step::Send(p, Request::FindSuccessor { target })
                }
                lookup::Next::Ask(p, Question::Neighbours) => Step::Send(p, Request::GetNeighbours),
                lookup::Next::Wait => Step::Wait,
                lookup::Next::Done(owners) => Step::Done(owners),
                lookup::Next::Failed(Failure::TooManyHops) => Step::Failed(Error::Timeout),
                lookup::Next::Failed(Failure::NoRoute) => {
                    Step::Failed(Error::Unreachable(NodeId(lookup.target().0)))
                }
            };
            match step {
                Step::Send(to, body) => self.request(to, body, Purpose::Op(id), now_ms),
                Step::Wait => {}
                Step::Done(owners) => self.route_done(id, owners, now_ms),
                Step::Failed(e) => self.end_op(id, Err(e)),
            }
            return;
        }
    }

    pub(crate) fn on_op_response(&mut self, id: OpId, from: PeerAddr, body: Response, now_ms: u64) {
        let Some(op) = self.ops.get_mut(&id) else {
            return;
        };
        match &mut op.phase {
            Phase::Route { lookup, token, .. } => {
                if body == Response::Ack && token.is_some() {
                    // A recursive lookup was taken on; its answer comes as
                    // `Routed`.
                    let at = now_ms + 3 * ms(self.cfg.request_timeout);
                    self.io.set_timer(Timer::OpStep(id), at);
                    return;
                }
                let answer = match body {
                    Response::Successors { peers } => Answer::Successors(peers),
                    Response::Closer { peers } => Answer::Closer(peers),
                    Response::Neighbours {
                        predecessor,
                        successors,
                        ..
                    } => Answer::Neighbours {
                        predecessor,
                        successors,
                    },
                    _ => Answer::Useless,
                };
                lookup.on_response(from, answer);
                self.drive_lookup(id, now_ms);
            }
            Phase::Store { .. } => {
                let outcome = match body {
                    Response::Stored { mut outcomes } if outcomes.len() == 1 => outcomes.remove(0),
                    _ => StoreOutcome::Invalid("unexpected answer".into()),
                };
                self.store_answered(id, Some(outcome), now_ms);
            }
            Phase::Fetch { .. } => {
                let records = match body {
                    Response::Records { records } => Some(records),
                    _ => None,
                };
                self.fetch_answered(id, from, records, now_ms);
            }
            Phase::Leave { .. } => self.leave_answered(id, now_ms),
            Phase::Rehome { .. } => self.rehome_answered(id, Some(body)),
            Phase::Moving => {}
        }
    }

    pub(crate) fn on_op_failure(&mut self, id: OpId, to: PeerAddr, now_ms: u64) {
        let Some(op) = self.ops.get_mut(&id) else {
            return;
        };
        match &mut op.phase {
            Phase::Route { lookup, .. } => {
                lookup.on_failure(to);
                self.drive_lookup(id, now_ms);
            }
            Phase::Store { .. } => self.store_answered(id, None, now_ms),
            Phase::Fetch { .. } => self.fetch_answered(id, to, None, now_ms),
            Phase::Leave { .. } => self.leave_answered(id, now_ms),
            Phase::Rehome { .. } => self.rehome_answered(id, None),
            Phase::Moving => {}
        }
    }

    /// The lookup found `peers`: go on with what the op is for.
    fn route_done(&mut self, id: OpId, peers: Vec<PeerAddr>, now_ms: u64) {
        let Some(op) = self.ops.get_mut(&id) else {
            return;
        };
        let old = std::mem::replace(&mut op.phase, Phase::Moving);
        let Phase::Route { then, lookup, .. } = old else {
            return;
        };
        self.io.out().lies(lookup.lies());
        let want_records = matches!(then, Then::Fetch(_));
        let k = self.cfg.k();
        match then {
            Then::Lookup => {
                let found = peers.iter().take(k).map(peer).collect();
                let outcome = Outcome::Lookup(Found::new(found, lookup.hops()));
                self.end_op(id, Ok(outcome));
            }
            Then::Attach => {
                self.attached(peers);
                self.end_op(id, Ok(Outcome::Attached));
            }
            Then::Join => {
                let me = self.me.id;
                let mut succs: Vec<PeerAddr> = peers.into_iter().filter(|p| p.id != me).collect();
                succs.truncate(self.cfg.r());
                if succs.is_empty() {
                    self.end_op(id, Err(Error::Unreachable(me)));
                    return;
                }
                self.become_joined(succs, now_ms);
                self.end_op(id, Ok(Outcome::Joined));
            }
            Then::Finger(i) => {
                if let Some(first) = peers.first() {
                    self.table.set_finger(i, *first);
                }
                self.remove_op(id);
            }
            Then::Proxy { origin, token } => {
                self.remove_op(id);
                self.answer_proxied(origin, token, peers, lookup.hops(), now_ms);
            }
            Then::Merge => {
                self.remove_op(id);
                if let Some(p) = peers.into_iter().find(|p| p.id != self.me.id) {
                    self.adopt_if_closer(p, now_ms);
                }
            }
            Then::Publish(record) => {
                let pass_on = peers.len() < k;
                let (round, first) = StoreRound::new(peers, k);
                if let Some(op) = self.ops.get_mut(&id) {
                    op.phase = Phase::Store {
                        record,
                        round,
                        pass_on,
                    };
                }
                for p in first {
                    self.send_store(id, p, now_ms);
                }
            }
            Then::Rehome(aor) => self.rehome_to(id, aor, peers, now_ms),
            Then::Query(aor) | Then::Fetch(aor) => {
                let (round, first) = FetchRound::new(peers, k);
                if let Some(op) = self.ops.get_mut(&id) {
                    op.phase = Phase::Fetch {
                        aor,
                        round,
                        records: want_records,
                    };
                }
                for p in first {
                    self.send_fetch(id, p, now_ms);
                }
            }
        }
    }

    fn send_store(&mut self, id: OpId, to: PeerAddr, now_ms: u64) {
        let Some(Phase::Store {
            record, pass_on, ..
        }) = self.ops.get(&id).map(|o| &o.phase)
        else {
            return;
        };
        let (record, pass_on) = ((**record).clone(), *pass_on);
        if to.id == self.me.id {
            // The operation itself stores on every replica: unlike a
            // record a peer sends, there is nothing to pass on.
            let outcome = match record {
                Publishing::Checked(r) => self.storage.put(&r),
                Publishing::Own(own) => self.storage.put_own(&own),
            };
            self.store_answered(id, Some(outcome), now_ms);
        } else {
            let records = vec![record.into_signed()];
            let body = if pass_on {
                Request::Store { records }
            } else {
                Request::StoreHere { records }
            };
            self.request(to, body, Purpose::Op(id), now_ms);
        }
    }

    /// One replica answered (`Some`) or could not be reached (`None`).
    fn store_answered(&mut self, id: OpId, outcome: Option<StoreOutcome>, now_ms: u64) {
        let Some(Phase::Store { round, .. }) = self.ops.get_mut(&id).map(|o| &mut o.phase) else {
            return;
        };
        match round.on_answer(outcome) {
            rounds::Next::Ask(p) => self.send_store(id, p, now_ms),
            rounds::Next::Wait => {}
            rounds::Next::Done(r) => self.end_op(id, r.map(Outcome::Published)),
        }
    }

    fn send_fetch(&mut self, id: OpId, to: PeerAddr, now_ms: u64) {
        let Some(Phase::Fetch { aor, .. }) = self.ops.get(&id).map(|o| &o.phase) else {
            return;
        };
        let aor = (**aor).clone();
        if to.id == self.me.id {
            let records = self.storage.fetch(&aor);
            self.fetch_answered(id, to, Some(records), now_ms);
        } else {
            self.request(to, Request::Fetch { aor }, Purpose::Op(id), now_ms);
        }
    }

    /// A replica answered with records (`Some`) or could not be reached.
    /// Readers check what storing nodes hand them: only records of the AOR
    /// asked that verify under the policy count.
    fn fetch_answered(
        &mut self,
        id: OpId,
        from: PeerAddr,
        records: Option<Vec<SignedRecord>>,
        now_ms: u64,
    ) {
        let policy = self.cfg.policy.clone();
        let Some(Phase::Fetch { aor, round, .. }) = self.ops.get_mut(&id).map(|o| &mut o.phase)
        else {
            return;
        };
        let storage = &self.storage;
        // A copy this node keeps was checked when stored: in a small ring
        // the reader is often an owner itself.
        let checked = |r: &SignedRecord| storage.holds(r) || r.verify().is_ok();
        let valid = records.map(|records| {
            records
                .into_iter()
                .filter(|r| r.record.aor == **aor && checked(r) && policy.authorize(r, &[]).is_ok())
                .collect()
        });
        let conflict =
            |r: &SignedRecord, owners: &[lsp_core::PublicKey]| policy.authorize(r, owners).is_err();
        let next = round.on_answer(from, valid, conflict);
        self.fetch_next(id, next, now_ms);
    }

    fn fetch_next(&mut self, id: OpId, next: rounds::Next<Read>, now_ms: u64) {
        let read = match next {
            rounds::Next::Ask(p) => return self.send_fetch(id, p, now_ms),
            rounds::Next::Wait => return,
            rounds::Next::Done(read) => read,
        };
        let Some(Phase::Fetch { aor, records, .. }) = self.ops.get(&id).map(|o| &o.phase) else {
            return;
        };
        let (aor, want_records) = ((**aor).clone(), *records);
        let result = match read {
            Read::Found {
                records: valid,
                behind,
            } => {
                // Owners that answered with less are brought up to date.
                let me = self.me.id;
                for to in behind.into_iter().filter(|p| p.id != me) {
                    let body = Request::Store {
                        records: valid.clone(),
                    };
                    self.request(to, body, Purpose::Replicate, now_ms);
                }
                if want_records {
                    Ok(Outcome::Records(valid))
                } else {
                    let now = self.wall();
                    let bindings = lsp_core::live_bindings(valid.iter().map(|r| &r.record), now);
                    Ok(Outcome::Bindings(bindings))
                }
            }
            Read::NotFound => Err(Error::NotFound(aor)),
            Read::Unreachable(primary) => Err(Error::Unreachable(primary)),
        };
        self.end_op(id, result);
    }

    /// Graceful leave: hand primary records to the successor, tell both
    /// neighbours, and stop once they answered or timed out.
    pub(crate) fn start_leave(&mut self, t: u64) -> OpId {
        match self.state {
            NodeState::Joined => {}
            // A client holds nothing for others: it just stops.
            NodeState::Idle | NodeState::Client => {
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
        let Some(succ) = self.table.succs().first().copied() else {
            self.end_op(id, Ok(Outcome::Left));
            return id;
        };
        let me = Point(self.me.id.0);
        let pred = self.table.pred();
        let records: Vec<SignedRecord> = self.storage.records_where(|rid| {
            pred.is_none_or(|p| Point::from(rid).in_open_closed(Point(p.id.0), me))
        });
        let mut messages: Vec<(PeerAddr, Request)> = batches(records)
            .into_iter()
            .map(|records| (succ, Request::Store { records }))
            .collect();
        let leaving = Request::Leaving {
            predecessor: pred,
            successors: self.table.succs().to_vec(),
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

    /// Removes the op with its deadlines.
    pub(crate) fn remove_op(&mut self, id: OpId) -> Option<Op> {
        self.io.cancel_timer(Timer::Op(id));
        self.io.cancel_timer(Timer::OpStep(id));
        self.ops.remove(&id)
    }

    /// Removes the op and reports it (internal ops are not reported).
    pub(crate) fn end_op(&mut self, id: OpId, outcome: Result<Outcome, Error>) {
        let Some(op) = self.remove_op(id) else {
            return;
        };
        if let Phase::Route { lookup, .. } = &op.phase {
            self.io.out().lies(lookup.lies());
        }
        if let Phase::Route {
            then: Then::Proxy { origin, token },
            ..
        } = op.phase
        {
            self.answer_proxied(origin, token, Vec::new(), 0, self.now_ms);
        }
        if matches!(op.phase, Phase::Leave { .. }) && outcome.is_ok() {
            self.state = NodeState::Left;
            self.io.stop();
        }
        if !op.internal() {
            self.finish(id, outcome);
        }
    }

    /// The op's deadline passed.
    pub(crate) fn op_expired(&mut self, id: OpId) {
        let Some(op) = self.ops.get(&id) else {
            return;
        };
        // A leave that outlives its deadline leaves anyway.
        let outcome = if matches!(op.phase, Phase::Leave { .. }) {
            Ok(Outcome::Left)
        } else {
            Err(Error::Timeout)
        };
        self.end_op(id, outcome);
    }
}

/// Splits records into `Store` batches under [`BATCH_BYTES`] each.
pub(crate) fn batches(records: Vec<SignedRecord>) -> Vec<Vec<SignedRecord>> {
    let mut out = Vec::new();
    let mut cur = Vec::new();
    let mut size = 0;
    for r in records {
        // Stored records encode; one that does not cannot be sent either.
        let Ok(len) = r.to_bytes().map(|b| b.len()) else {
            continue;
        };
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
