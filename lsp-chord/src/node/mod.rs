//! The sans-IO Chord node. `Chord` holds its API and sends each input to
//! the part it concerns; each part owns its state and keeps its own
//! invariants: `Io` (requests with their deadlines, outputs, timers),
//! `RoutingTable` (with the stabilize protocol, `stabilize.rs`), `Ops`
//! (lookups, store and read rounds, relaying, hand-overs), `Replicas`,
//! `Storage`, `Gate` (admission), `Contacts` (a client's), and `Vitals`
//! (health). The state machines they drive (`crate::lookup`,
//! `crate::rounds`) know nothing of `Chord`.

use std::time::{Duration, Instant};

use lsp_core::store::RecordStore;
use lsp_core::{Aor, Error, OwnRecord, PeerAddr, SignedRecord};

use crate::config::Config;
use crate::health::Health;
use crate::ring::Point;
use crate::wire::{Message, RefusalCode, Request, Response};
use ops::{Ctx, Finished, Ops};

mod admit;
mod answers;
pub mod batch;
mod client;
mod heard;
mod io;
mod ops;
mod outputs;
mod replication;
mod requests;
mod routing;
mod stabilize;
mod storage;
mod suspects;
mod types;
mod vitals;

use admit::{ForStranger, Gate};
use batch::{Arrived, check_ahead};
use client::Contacts;
use io::{Fired, Io};
use ops::Then;
use replication::Replicas;
use routing::RoutingTable;
use storage::Storage;
use vitals::Vitals;

#[cfg(test)]
mod tests;

pub use routing::FINGERS;
pub use types::{Counters, Event, InputError, NodeState, OpId, Outcome, Status, Transmit};
pub(crate) use types::{Timer, ms};

/// A Chord node as a deterministic state machine, in the shape of
/// quinn-proto: feed it `handle_*` inputs, start work with commands, and
/// drain `poll_*` outputs. It does no I/O. Every input carries `now` on a
/// monotonic clock, which drives every timer; the wall clock
/// ([`Config::clock`]) is read only for record expiry.
#[derive(Debug)]
pub struct Chord {
    me: PeerAddr,
    cfg: Config,
    state: NodeState,
    /// The ring's admission rule.
    gate: Gate,
    /// Predecessors, successors, fingers and dropped peers.
    table: RoutingTable,
    /// The records kept here.
    storage: Storage,
    /// Requests, responses, events, deadlines and randomness.
    io: Io,
    /// The monotonic instant that is 0 ms: the first `now` seen.
    epoch: Option<Instant>,
    /// The `now` of the latest input, in ms since `epoch`.
    now_ms: u64,
    /// Operations under way.
    ops: Ops,
    /// What the replicas were last pushed for, and repair's turn.
    replicas: Replicas,
    /// When peers last answered or sent anything; the ring's refusal.
    vitals: Vitals,
    /// A client's members and contacts; empty for a member.
    contacts: client::Contacts,
}

impl Chord {
    /// A node that listens at `me`. It joins nothing until [`Chord::join`].
    pub fn new(me: PeerAddr, cfg: Config) -> Self {
        let io = Io::new(cfg.seed ^ me.id.prefix_u64(), &cfg);
        let storage = Storage::new(&cfg);
        let vitals = Vitals::new(&cfg);
        let table = RoutingTable::new(me, &cfg);
        let replicas = Replicas::new(me, &cfg);
        let gate = Gate::new(cfg.admission);
        Self {
            me,
            cfg,
            state: NodeState::Idle,
            gate,
            table,
            storage,
            io,
            epoch: None,
            now_ms: 0,
            ops: Ops::default(),
            replicas,
            vitals,
            contacts: client::Contacts::default(),
        }
    }

    // ---- getters ----

    /// This node's Node-ID and address.
    pub fn me(&self) -> PeerAddr {
        self.me
    }

    /// Where the node is in its life.
    pub fn state(&self) -> NodeState {
        self.state
    }

    /// The predecessor, if known.
    pub fn predecessor(&self) -> Option<PeerAddr> {
        self.table.pred()
    }

    /// The successor list (empty in a ring of one).
    pub fn successors(&self) -> &[PeerAddr] {
        self.table.succs()
    }

    /// Nodes in the ring, estimated from how densely the predecessor and
    /// successor list cover their arc (draft section 5).
    pub fn estimated_size(&self) -> f64 {
        self.table.estimated_size()
    }

    /// The record store.
    pub fn store(&self) -> &RecordStore {
        self.storage.store()
    }

    /// The node's view of the ring.
    pub fn status(&self) -> Status {
        Status {
            me: self.me,
            state: self.state,
            predecessor: self.table.pred(),
            successors: self.table.succs().to_vec(),
            fingers: self.table.distinct_fingers(),
            store: self.storage.stats(),
            estimated_size: self.table.estimated_size(),
            health: self.health_at(self.now_ms),
            settled: self.settled(),
            counters: self.io.outputs().counters(),
        }
    }

    fn settled(&self) -> bool {
        self.state == NodeState::Joined && self.table.settled()
    }

    /// Whether the node serves at `now` (see [`Health`]).
    pub fn health(&self, now: Instant) -> Health {
        let now_ms = self
            .epoch
            .map_or(0, |e| ms(now.saturating_duration_since(e)));
        self.health_at(now_ms.max(self.now_ms))
    }

    fn health_at(&self, now_ms: u64) -> Health {
        let (peers, succs) = (self.table.has_peers(), self.table.succs());
        (self.vitals).health(self.state, peers, succs, now_ms)
    }

    // ---- commands ----

    /// Joins the ring through any of `bootstrap`, or creates a ring of one
    /// when `bootstrap` is empty.
    pub fn join(&mut self, bootstrap: &[PeerAddr], now: Instant) -> OpId {
        let now_ms = self.tick(now);
        if self.state == NodeState::Left {
            return self.fail_now(Error::Closed);
        }
        let peers = match self.gate.bootstrap(&self.me, bootstrap) {
            Ok(peers) => peers,
            Err(e) => return self.fail_now(e),
        };
        if peers.is_empty() {
            let op = self.ops.new_id();
            self.become_joined(Vec::new(), now_ms);
            self.finish(op, Ok(Outcome::Joined));
            return op;
        }
        self.with_ops(now_ms, |ops, cx| ops.start_join(cx, peers))
    }

    /// Stores a signed record on the k nodes responsible for its AOR.
    pub fn publish(&mut self, record: SignedRecord, now: Instant) -> OpId {
        let now_ms = self.tick(now);
        if let Err(e) = record.verify() {
            return self.fail_now(e);
        }
        let record = ops::Publishing::Checked(record);
        self.start_data_op(ops::Then::Publish(Box::new(record)), now_ms)
    }

    /// [`Chord::publish`] for a record signed in this process: this node's
    /// own copy skips the signature check, which every other replica makes.
    pub fn publish_own(&mut self, record: OwnRecord, now: Instant) -> OpId {
        let now_ms = self.tick(now);
        let record = ops::Publishing::Own(record);
        self.start_data_op(ops::Then::Publish(Box::new(record)), now_ms)
    }

    /// [`Chord::publish_own`] on condition: each owner refuses the record
    /// as a replay where it holds the publisher's record newer than version
    /// `replaces` (see `LocationService::publish_as_replacing`).
    pub fn publish_own_replacing(
        &mut self,
        record: OwnRecord,
        replaces: u64,
        now: Instant,
    ) -> OpId {
        let now_ms = self.tick(now);
        let record = ops::Publishing::OwnReplacing(record, replaces);
        self.start_data_op(ops::Then::Publish(Box::new(record)), now_ms)
    }

    /// Reads the live bindings of an AOR from the nodes responsible for it.
    pub fn query(&mut self, aor: Aor, now: Instant) -> OpId {
        let now_ms = self.tick(now);
        self.start_data_op(ops::Then::Query(Box::new(aor)), now_ms)
    }

    /// Reads the signed records of an AOR, verified, from the nodes
    /// responsible for it.
    pub fn fetch(&mut self, aor: Aor, now: Instant) -> OpId {
        let now_ms = self.tick(now);
        self.start_data_op(ops::Then::Fetch(Box::new(aor)), now_ms)
    }

    /// Finds the nodes responsible for a point of the ring.
    pub fn lookup(&mut self, target: impl Into<Point>, now: Instant) -> OpId {
        let now_ms = self.tick(now);
        let target = target.into();
        if let Some(e) = vitals::unable(self.health_at(now_ms)) {
            return self.fail_now(e);
        }
        match self.state {
            NodeState::Joined | NodeState::Client => {
                self.start_route(target, ops::Then::Lookup, None, now_ms)
            }
            NodeState::Idle => self.fail_now(Error::NotJoined),
            NodeState::Left => self.fail_now(Error::Closed),
        }
    }

    /// Hands this node's records to its successor, tells its neighbours,
    /// and stops.
    pub fn leave(&mut self, now: Instant) -> OpId {
        let now_ms = self.tick(now);
        match self.state {
            NodeState::Joined => self.with_ops(now_ms, |ops, cx| ops.start_leave(cx)),
            // A client holds nothing for others: it just stops.
            NodeState::Idle | NodeState::Client => {
                self.state = NodeState::Left;
                let op = self.ops.new_id();
                self.finish(op, Ok(Outcome::Left));
                op
            }
            NodeState::Left => self.fail_now(Error::Closed),
        }
    }

    /// Uses the ring through `members` without joining it: this node
    /// becomes a client. It looks itself up through them to learn that
    /// the ring answers; the operation ends with [`crate::Outcome::Attached`].
    /// Publish, query, fetch and lookup work from then on (and already
    /// while the attach runs); the node stores nothing for others.
    pub fn attach(&mut self, members: &[PeerAddr], now: Instant) -> OpId {
        let now_ms = self.tick(now);
        match self.state {
            NodeState::Idle | NodeState::Client => {}
            NodeState::Joined => return self.fail_now(Error::AlreadyJoined),
            NodeState::Left => return self.fail_now(Error::Closed),
        }
        let members: Vec<PeerAddr> = members
            .iter()
            .filter(|p| p.id != self.me.id && self.gate.admits(p))
            .copied()
            .collect();
        if members.is_empty() {
            return self.fail_now(Error::NotJoined);
        }
        self.state = NodeState::Client;
        self.contacts = Contacts::new(members.clone());
        self.schedule(&[Timer::Stabilize], now_ms);
        let me = Point::from(self.me.id);
        self.start_route(me, Then::Attach, Some(members), now_ms)
    }

    // ---- inputs ----

    /// A frame from `from`, whose Node-ID the transport authenticated.
    /// Malformed input is counted and returned as an error; it changes
    /// nothing else. In a closed ring the sender counts as a stranger:
    /// see [`Chord::handle_enrolled_message`].
    pub fn handle_message(
        &mut self,
        from: PeerAddr,
        frame: &[u8],
        now: Instant,
    ) -> Result<(), InputError> {
        self.receive(from, frame, false, now)
    }

    /// A frame from a sender whose enrollment in this closed ring the
    /// transport checked (see [`lsp_core::Admission::Enrolled`]); in
    /// other rings, the same as [`Chord::handle_message`].
    pub fn handle_enrolled_message(
        &mut self,
        from: PeerAddr,
        frame: &[u8],
        now: Instant,
    ) -> Result<(), InputError> {
        self.receive(from, frame, true, now)
    }

    /// Handles `frames` in order, each as [`Chord::handle_message`] or
    /// [`Chord::handle_enrolled_message`] would, after checking together
    /// the signatures of the records that members ask this node to store.
    /// Returns each frame's result.
    pub fn handle_messages(
        &mut self,
        frames: &[Arrived<'_>],
        now: Instant,
    ) -> Vec<Result<(), InputError>> {
        if frames.len() < 2 {
            return frames
                .iter()
                .map(|a| self.receive(a.from, a.frame, a.enrolled, now))
                .collect();
        }
        let now_ms = self.tick(now);
        if self.state == NodeState::Left {
            return frames.iter().map(|_| Err(InputError::Closed)).collect();
        }
        // Each frame is decoded once, for the batch check and for handling.
        let decoded: Vec<Result<Message, InputError>> = frames
            .iter()
            .map(|a| self.io.decode(a.from, a.frame))
            .collect();
        if self.state != NodeState::Client {
            let (me, gate) = (self.me, &self.gate);
            check_ahead(frames, &decoded, me, gate, &self.table, &mut self.storage);
        }
        frames
            .iter()
            .zip(decoded)
            .map(|(a, msg)| {
                if self.state == NodeState::Left {
                    return Err(InputError::Closed);
                }
                self.dispatch(a.from, msg?, a.frame.len(), a.enrolled, now_ms)
            })
            .collect()
    }

    fn receive(
        &mut self,
        from: PeerAddr,
        frame: &[u8],
        enrolled: bool,
        now: Instant,
    ) -> Result<(), InputError> {
        let now_ms = self.tick(now);
        if self.state == NodeState::Left {
            return Err(InputError::Closed);
        }
        let msg = self.io.decode(from, frame)?;
        self.dispatch(from, msg, frame.len(), enrolled, now_ms)
    }

    /// Handles a decoded frame of `len` bytes.
    fn dispatch(
        &mut self,
        from: PeerAddr,
        msg: Message,
        len: usize,
        enrolled: bool,
        now_ms: u64,
    ) -> Result<(), InputError> {
        if from.id == self.me.id {
            return Err(InputError::FromItself);
        }
        // Only a member's frames show that a member lives: an expired one
        // that keeps talking must not keep its place as a successor.
        let member = self.gate.admits_sender(&from, enrolled);
        if member {
            self.vitals.heard(from.id, now_ms);
            self.io.heard_from(from.id);
        }
        match msg {
            Message::Request { id, body } => {
                let body = self.gate.request(body);
                let body = if self.state == NodeState::Client {
                    self.serve_as_client(from, body, now_ms)
                } else if !member {
                    match Gate::for_stranger(&body) {
                        ForStranger::Ack => Response::Ack,
                        ForStranger::Serve => self.serve(from, body, now_ms),
                        ForStranger::Refuse => Response::refused(
                            RefusalCode::NotAdmitted,
                            "not admitted as a ring member",
                        ),
                    }
                } else {
                    self.serve(from, body, now_ms)
                };
                self.io.respond(from, id, body);
            }
            // Only members answer for the ring: a stranger's answer is
            // dropped, as if it never came.
            Message::Response { id, body } if member => {
                let body = self.gate.answer(body);
                self.on_response(from, id, body, len, now_ms);
            }
            Message::Response { .. } => {}
        }
        self.after_input(now_ms);
        Ok(())
    }

    /// Timers due at `now` fire: retransmissions, failure detection,
    /// operation deadlines, stabilize, fingers, expiry, repair.
    pub fn handle_timeout(&mut self, now: Instant) {
        let now_ms = self.tick(now);
        if self.state == NodeState::Left {
            return;
        }
        while let Some(fired) = self.io.pop_due(now_ms) {
            match fired {
                Fired::GaveUp(p) => self.gave_up(p, now_ms),
                Fired::Slow(to, purpose) => self.slow(to, purpose, now_ms),
                Fired::Timer(timer) => self.fire(timer, now_ms),
            }
            if self.state == NodeState::Left {
                return;
            }
        }
        self.after_input(now_ms);
    }

    /// `peer` could not be dialed because its certificate held no
    /// enrollment this node's ring key verifies (a closed ring): as
    /// [`Chord::handle_unreachable`], and a lookup that reached no one but
    /// such peers fails `NotAdmitted` instead of `NoRoute`, pointing at
    /// the key.
    pub fn handle_not_enrolled(&mut self, peer: PeerAddr, now: Instant) {
        self.ops.not_enrolled(peer.id);
        self.handle_unreachable(peer, now);
    }

    /// The driver could not reach `peer` (connection refused, identity
    /// mismatch, closed). Requests to it fail now instead of timing out.
    pub fn handle_unreachable(&mut self, peer: PeerAddr, now: Instant) {
        let now_ms = self.tick(now);
        if self.state == NodeState::Left {
            return;
        }
        self.forget(peer);
        for p in self.io.unreachable(peer) {
            self.on_failure(p.to, p.purpose, now_ms);
        }
        self.after_input(now_ms);
    }

    // ---- outputs ----

    /// The next frame to send.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.io.out().next_transmit()
    }

    /// The next finished operation.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.io.out().next_event()
    }

    /// When [`Chord::handle_timeout`] should next be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.state == NodeState::Left {
            return None;
        }
        let at = self.io.next_deadline()?;
        Some(self.epoch? + Duration::from_millis(at))
    }

    // ---- internals shared by the other modules ----

    /// `now` in milliseconds since the first input.
    fn tick(&mut self, now: Instant) -> u64 {
        let epoch = *self.epoch.get_or_insert(now);
        self.now_ms = ms(now.saturating_duration_since(epoch));
        self.now_ms
    }

    pub(crate) fn fail_now(&mut self, e: Error) -> OpId {
        self.ops.fail_now(&mut self.io, e)
    }

    /// Runs `f` on the operations, with the parts of the node they use,
    /// then does what the operations that finished ask of the node.
    fn with_ops<R>(&mut self, now_ms: u64, f: impl FnOnce(&mut Ops, &mut Ctx<'_>) -> R) -> R {
        let mut cx = Ctx {
            me: self.me,
            cfg: &self.cfg,
            state: self.state,
            io: &mut self.io,
            table: &self.table,
            storage: &mut self.storage,
            contacts: &self.contacts,
            now_ms,
        };
        let result = f(&mut self.ops, &mut cx);
        while let Some(finished) = self.ops.next_finished() {
            match finished {
                Finished::Joined(succs) => self.become_joined(succs, now_ms),
                Finished::Attached(owners) => self.contacts.learn(owners, self.me),
                Finished::Finger(i, owner) => self.table.set_finger(i, owner),
                Finished::Merge(peer) => self.table.adopt_now(peer, &mut self.io, now_ms),
                Finished::Left => {
                    self.state = NodeState::Left;
                    self.io.stop();
                }
            }
        }
        result
    }

    /// Starts a lookup of `target`, from `bootstrap` when given or from
    /// this node's own table.
    fn start_route(
        &mut self,
        target: Point,
        then: ops::Then,
        bootstrap: Option<Vec<PeerAddr>>,
        now_ms: u64,
    ) -> OpId {
        self.with_ops(now_ms, |ops, cx| {
            ops.start_route(cx, target, then, bootstrap)
        })
    }

    /// A user's publish, query or fetch, unless the node cannot serve it.
    fn start_data_op(&mut self, then: ops::Then, now_ms: u64) -> OpId {
        match self.state {
            NodeState::Joined | NodeState::Client => {}
            NodeState::Idle => return self.fail_now(Error::NotJoined),
            NodeState::Left => return self.fail_now(Error::Closed),
        }
        // Nothing stored from here would be found, and nothing read here
        // is current: fail loudly so that the caller goes elsewhere.
        if let Some(e) = vitals::unable(self.health_at(now_ms)) {
            return self.fail_now(e);
        }
        self.with_ops(now_ms, |ops, cx| ops.start_data_op(cx, then))
    }

    pub(crate) fn finish(&mut self, op: OpId, outcome: Result<Outcome, Error>) {
        self.io.finish(op, outcome);
    }

    fn after_input(&mut self, now_ms: u64) {
        if self.state == NodeState::Joined && self.table.take_changed() {
            let (table, storage) = (&self.table, &self.storage);
            self.replicas.sync(table, storage, &mut self.io, now_ms);
        }
    }

    // ---- where each input goes ----

    /// A member's answer to a request.
    fn serve(&mut self, from: PeerAddr, body: Request, now_ms: u64) -> Response {
        let (joined, io) = (self.state == NodeState::Joined, &mut self.io);
        match body {
            Request::FindSuccessor { .. }
            | Request::GetNeighbours
            | Request::Notify
            | Request::Ping
            | Request::StabilizeHint => self.table.serve(from, body, joined, io, now_ms),
            Request::Leaving {
                predecessor,
                successors,
            } => {
                if self
                    .table
                    .leaving(from, predecessor, successors, io, now_ms)
                {
                    // The last peer said goodbye: alone, not cut off.
                    self.vitals.alone_again();
                }
                Response::Ack
            }
            Request::Store { .. }
            | Request::StoreHere { .. }
            | Request::StoreReplacing { .. }
            | Request::Digest { .. } => {
                let (table, storage) = (&self.table, &mut self.storage);
                (self.replicas).serve(from, body, table, storage, io, now_ms)
            }
            Request::Forward {
                target,
                origin,
                token,
                ..
            } => self.with_ops(now_ms, |ops, cx| {
                ops.relay(cx, from, Point(target), origin, token)
            }),
            Request::Routed { token, peers, hops } => {
                self.with_ops(now_ms, |ops, cx| {
                    ops.on_routed(cx, from, token, peers, hops)
                });
                Response::Ack
            }
            Request::Fetch { aor } => Response::Records {
                records: self.storage.fetch(&aor),
            },
        }
    }

    /// A client answers only what a client may be asked: `Ping`, and the
    /// `Routed` answer of its own recursive lookup. It refuses the rest, so
    /// that no member takes it into the ring.
    fn serve_as_client(&mut self, from: PeerAddr, body: Request, now_ms: u64) -> Response {
        match body {
            Request::Ping => Response::Ack,
            Request::Routed { token, peers, hops } => {
                self.with_ops(now_ms, |ops, cx| {
                    ops.on_routed(cx, from, token, peers, hops)
                });
                Response::Ack
            }
            _ => Response::refused(RefusalCode::NotServed, "a client, not a ring member"),
        }
    }

    /// One of the node's own deadlines came due. A periodic one is set
    /// again first (fingers quickly for a while after joining).
    fn fire(&mut self, timer: Timer, now_ms: u64) {
        let joined = self.state == NodeState::Joined;
        let due = match timer {
            Timer::Op(op) => return self.with_ops(now_ms, |ops, cx| ops.expired(cx, op)),
            Timer::OpStep(op) => {
                return self.with_ops(now_ms, |ops, cx| ops.recursion_stalled(cx, op));
            }
            Timer::Stabilize => joined || self.state == NodeState::Client,
            _ => joined,
        };
        let Some(mut period) = timer.period(&self.cfg).filter(|_| due) else {
            return;
        };
        if timer == Timer::FixFingers && self.table.take_fast_finger() {
            period = (period / 50).max(Duration::from_millis(1));
        }
        let io = &mut self.io;
        io.schedule(timer, now_ms, period);
        match timer {
            Timer::Stabilize if joined => self.table.stabilize(io, now_ms),
            Timer::Stabilize => self.contacts.refresh(io, now_ms),
            Timer::FixFingers => self.fix_next_finger(now_ms),
            Timer::CheckPredecessor => self.table.check_predecessor(io, now_ms),
            Timer::Probe => self.table.probe_next(io, now_ms),
            Timer::Purge => self.storage.purge(),
            Timer::Repair => {
                (self.replicas).start_repair(&self.table, &self.storage, io, now_ms);
                if vitals::isolated(self.health_at(now_ms)).is_none() {
                    self.with_ops(now_ms, |ops, cx| ops.start_rehoming(cx));
                }
            }
            Timer::Op(_) | Timer::OpStep(_) => {}
        }
    }

    /// Refreshes the next finger, unless a refresh of it is under way.
    pub(crate) fn fix_next_finger(&mut self, now_ms: u64) {
        let Some((i, start)) = self.table.next_finger() else {
            return;
        };
        // One refresh of a finger at a time is enough.
        if self.ops.fixes_finger(i) {
            return;
        }
        let from = self.table.finger_route(i, start);
        self.start_route(start, Then::Finger(i), Some(from), now_ms);
    }

    pub(crate) fn become_joined(&mut self, succs: Vec<PeerAddr>, now_ms: u64) {
        self.state = NodeState::Joined;
        self.table.joined(succs);
        self.io.set_timer(Timer::Stabilize, now_ms);
        self.io.set_timer(Timer::FixFingers, now_ms);
        self.schedule(
            &[
                Timer::CheckPredecessor,
                Timer::Probe,
                Timer::Purge,
                Timer::Repair,
            ],
            now_ms,
        );
    }

    /// Sets each periodic timer of `timers` one (jittered) period on.
    fn schedule(&mut self, timers: &[Timer], now_ms: u64) {
        for &timer in timers {
            if let Some(period) = timer.period(&self.cfg) {
                self.io.schedule(timer, now_ms, period);
            }
        }
    }

    /// Replaces the admission rule, as a test's ring wants it.
    #[cfg(test)]
    fn set_admission(&mut self, rule: lsp_core::Admission) {
        self.cfg.admission = rule;
        self.gate = Gate::new(rule);
    }

    /// Installs a converged routing state, skipping the join protocol. The
    /// simulator uses it to start large rings the way they look after
    /// warm-up.
    #[cfg(feature = "sim")]
    #[doc(hidden)]
    pub fn install_routing(
        &mut self,
        pred: Option<PeerAddr>,
        succs: Vec<PeerAddr>,
        fingers: Vec<Option<PeerAddr>>,
        now: Instant,
    ) {
        let now_ms = self.tick(now);
        self.become_joined(succs, now_ms);
        self.table.install(pred, fingers);
        self.schedule(&[Timer::Stabilize, Timer::FixFingers], now_ms);
        self.replicas.assume_synced(&self.table);
    }
}
