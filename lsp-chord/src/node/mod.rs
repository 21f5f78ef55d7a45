//! The sans-IO Chord node: inputs, outputs, timers and requests.
//!
//! Routing (`routing.rs`), operations (`ops.rs`), replication
//! (`replication.rs`), recursive relaying (`relay.rs`) and upkeep on
//! timers (`upkeep.rs`) are further
//! `impl Chord` blocks over the same state. The state machines they drive
//! (`crate::lookup`, `crate::rounds`) know nothing of `Chord`.

use std::time::{Duration, Instant};

use lsp_core::store::{RecordStore, StoreStats};
use lsp_core::{Aor, Binding, Error, Lookup, OwnRecord, PeerAddr, Published, SignedRecord};

use crate::config::Config;
use crate::health::{Health, Liveness};
use crate::ring::Point;
use crate::wire::{Message, Response};
use ops::{Ctx, Finished, Ops};

mod admit;
pub mod batch;
mod client;
mod dispatch;
mod heard;
mod io;
mod ops;
mod outputs;
mod replication;
mod requests;
mod routing;
mod storage;
mod upkeep;

use io::{Fired, Io};
use replication::Replicas;
pub(crate) use requests::Purpose;
use routing::RoutingTable;
use storage::Storage;

#[cfg(test)]
mod tests;

pub use routing::FINGERS;

/// Identifies an operation started by a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct OpId(pub u64);

/// A frame for the driver to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transmit {
    /// The peer to send it to.
    pub to: PeerAddr,
    /// The encoded message.
    pub frame: Vec<u8>,
}

/// What a finished operation produced.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Outcome {
    /// The node is in the ring.
    Joined,
    /// The record is stored.
    Published(Published),
    /// The live bindings of the AOR queried, highest q first.
    Bindings(Vec<Binding>),
    /// The verified records of the AOR fetched.
    Records(Vec<SignedRecord>),
    /// The peers responsible for the key, and the hops it took.
    Lookup(Lookup),
    /// The node uses the ring as a client (see [`Chord::attach`]).
    Attached,
    /// The node has handed over its data and left.
    Left,
}

/// An output of [`Chord::poll_event`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// An operation finished.
    Done {
        /// The operation.
        op: OpId,
        /// Its outcome.
        outcome: Result<Outcome, Error>,
    },
}

/// Where the node is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodeState {
    /// Created; `join` not called or not finished.
    Idle,
    /// Part of a ring (possibly a ring of one).
    Joined,
    /// Uses a ring through its members without joining it
    /// ([`Chord::attach`]).
    Client,
    /// Left gracefully; it does nothing more.
    Left,
}

/// Message and byte counts, by what the traffic was for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Counters {
    /// Frames sent (requests, retransmissions and responses).
    pub messages_sent: u64,
    /// Bytes of frames sent.
    pub bytes_sent: u64,
    /// Frames received.
    pub messages_received: u64,
    /// Bytes of frames received.
    pub bytes_received: u64,
    /// Ring upkeep (stabilize, notify, predecessor checks, finger lookups):
    /// requests sent and their responses.
    pub maintenance_messages: u64,
    /// Bytes of ring upkeep.
    pub maintenance_bytes: u64,
    /// Replication and hand-off: requests sent and their responses.
    pub replication_messages: u64,
    /// Bytes of replication and hand-off.
    pub replication_bytes: u64,
    /// Frames that did not decode.
    pub malformed: u64,
    /// Requests that got no answer after every attempt.
    pub unanswered: u64,
    /// Of those, the requests to a peer that sent something meanwhile: lost
    /// on a busy link, so the peer was kept.
    pub unanswered_by_live_peers: u64,
    /// Lookup answers found to be lies (a hint not closer than its giver,
    /// neighbours claimed farther apart than the ring's density allows);
    /// each liar was dropped from its lookup.
    pub lies: u64,
    /// Frames the async node dropped because the peer's send queue was
    /// full (a peer that does not read); the state machine never sets it.
    pub sends_dropped: u64,
    /// Messages not sent because they could not be encoded (none of this
    /// crate's messages fails to; counted so that a new one would show).
    pub unencodable: u64,
}

/// A node's view of the ring, for operators and tests.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Status {
    /// This node.
    pub me: PeerAddr,
    /// Where it is in its life.
    pub state: NodeState,
    /// Its predecessor.
    pub predecessor: Option<PeerAddr>,
    /// Its successor list.
    pub successors: Vec<PeerAddr>,
    /// Distinct fingers, nearest first.
    pub fingers: Vec<PeerAddr>,
    /// What its store holds.
    pub store: StoreStats,
    /// Estimated number of nodes in the ring.
    pub estimated_size: f64,
    /// Whether the node serves, as of its latest input.
    pub health: Health,
    /// Its neighbours are settled: it has a predecessor, and its successor
    /// named it as its own predecessor in the latest stabilize round. A
    /// node alone in its ring is settled too.
    pub settled: bool,
    /// Traffic counts.
    pub counters: Counters,
}

/// What a deadline in the node's one timer table is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Timer {
    /// The operation's deadline.
    Op(OpId),
    /// A recursive lookup's wait for its answer.
    OpStep(OpId),
    Stabilize,
    FixFingers,
    CheckPredecessor,
    /// Ping a dropped peer again.
    Probe,
    /// Reclaim expired records.
    Purge,
    /// A repair round.
    Repair,
}

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
    /// When a peer last answered, which health is judged from.
    liveness: Liveness,
    /// When each peer last sent anything: a request it left unanswered
    /// meanwhile was lost, and does not make it dead.
    heard: heard::HeardFrom,
    /// A client's members and contacts; empty for a member.
    contacts: client::Contacts,
    /// The successor answered the last Notify with a refusal: the ring
    /// does not take this node as a member (a closed ring it is not
    /// enrolled in, or an open one whose work rule it fails).
    refused_as_member: bool,
}

pub(crate) fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

impl Chord {
    /// A node that listens at `me`. It joins nothing until [`Chord::join`].
    pub fn new(me: PeerAddr, cfg: Config) -> Self {
        let io = Io::new(cfg.seed ^ me.id.prefix_u64(), &cfg);
        let storage = Storage::new(&cfg);
        let request_life = ms(cfg.request_timeout).saturating_mul(u64::from(cfg.request_attempts));
        let table = RoutingTable::new(me, &cfg);
        let replicas = Replicas::new(me, &cfg);
        Self {
            me,
            cfg,
            state: NodeState::Idle,
            table,
            storage,
            io,
            epoch: None,
            now_ms: 0,
            ops: Ops::default(),
            replicas,
            liveness: Liveness::default(),
            heard: heard::HeardFrom::new(request_life),
            refused_as_member: false,
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

    pub(crate) fn health_at(&self, now_ms: u64) -> Health {
        if self.state == NodeState::Joined && self.refused_as_member {
            return Health::NotAdmitted;
        }
        self.liveness.health(
            self.state,
            self.table.has_peers(),
            now_ms,
            self.cfg.isolation_timeout,
        )
    }

    /// Why the node cannot serve a user's operation at `now_ms`, if so.
    pub(crate) fn unable(&self, now_ms: u64) -> Option<Error> {
        match self.health_at(now_ms) {
            Health::NotAdmitted => Some(Error::NotAdmitted(
                "the ring refuses this node as a member; attach as a client",
            )),
            _ => self.isolated(now_ms),
        }
    }

    /// `Error::Isolated` when the node is cut off at `now_ms`.
    pub(crate) fn isolated(&self, now_ms: u64) -> Option<Error> {
        match self.health_at(now_ms) {
            Health::Isolated { silent } => Some(Error::Isolated { silent }),
            _ => None,
        }
    }

    // ---- commands ----

    /// Joins the ring through any of `bootstrap`, or creates a ring of one
    /// when `bootstrap` is empty.
    pub fn join(&mut self, bootstrap: &[PeerAddr], now: Instant) -> OpId {
        let t = self.tick(now);
        let peers: Vec<PeerAddr> = bootstrap
            .iter()
            .filter(|p| p.id != self.me.id)
            .copied()
            .collect();
        if self.state == NodeState::Left {
            return self.fail_now(Error::Closed);
        }
        if !self.admits(&self.me) {
            return self.fail_now(Error::NotAdmitted(
                "its Node-ID lacks the ring's proof of work",
            ));
        }
        let given = peers.len();
        let peers: Vec<PeerAddr> = peers.into_iter().filter(|p| self.admits(p)).collect();
        if peers.is_empty() && given > 0 {
            return self.fail_now(Error::NotAdmitted(
                "no bootstrap peer carries the ring's proof of work",
            ));
        }
        if peers.is_empty() {
            let op = self.ops.new_id();
            self.become_joined(Vec::new(), t);
            self.finish(op, Ok(Outcome::Joined));
            return op;
        }
        self.with_ops(t, |ops, cx| ops.start_join(cx, peers))
    }

    /// Stores a signed record on the k nodes responsible for its AOR.
    pub fn publish(&mut self, record: SignedRecord, now: Instant) -> OpId {
        let t = self.tick(now);
        if let Err(e) = record.verify() {
            return self.fail_now(e);
        }
        let record = ops::Publishing::Checked(record);
        self.start_data_op(ops::Then::Publish(Box::new(record)), t)
    }

    /// [`Chord::publish`] for a record signed in this process: this node's
    /// own copy skips the signature check, which every other replica makes.
    pub fn publish_own(&mut self, record: OwnRecord, now: Instant) -> OpId {
        let t = self.tick(now);
        let record = ops::Publishing::Own(record);
        self.start_data_op(ops::Then::Publish(Box::new(record)), t)
    }

    /// Reads the live bindings of an AOR from the nodes responsible for it.
    pub fn query(&mut self, aor: Aor, now: Instant) -> OpId {
        let t = self.tick(now);
        self.start_data_op(ops::Then::Query(Box::new(aor)), t)
    }

    /// Reads the signed records of an AOR, verified, from the nodes
    /// responsible for it.
    pub fn fetch(&mut self, aor: Aor, now: Instant) -> OpId {
        let t = self.tick(now);
        self.start_data_op(ops::Then::Fetch(Box::new(aor)), t)
    }

    /// Finds the nodes responsible for a point of the ring.
    pub fn lookup(&mut self, target: impl Into<Point>, now: Instant) -> OpId {
        let t = self.tick(now);
        let target = target.into();
        if let Some(e) = self.unable(t) {
            return self.fail_now(e);
        }
        match self.state {
            NodeState::Joined | NodeState::Client => {
                self.start_route(target, ops::Then::Lookup, None, t)
            }
            NodeState::Idle => self.fail_now(Error::NotJoined),
            NodeState::Left => self.fail_now(Error::Closed),
        }
    }

    /// Hands this node's records to its successor, tells its neighbours,
    /// and stops.
    pub fn leave(&mut self, now: Instant) -> OpId {
        let t = self.tick(now);
        match self.state {
            NodeState::Joined => self.with_ops(t, |ops, cx| ops.start_leave(cx)),
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
    ) -> Result<(), Error> {
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
    ) -> Result<(), Error> {
        self.receive(from, frame, true, now)
    }

    fn receive(
        &mut self,
        from: PeerAddr,
        frame: &[u8],
        enrolled: bool,
        now: Instant,
    ) -> Result<(), Error> {
        let now_ms = self.tick(now);
        if self.state == NodeState::Left {
            return Err(Error::Closed);
        }
        let msg = self.decode_frame(from, frame)?;
        self.dispatch(from, msg, frame.len(), enrolled, now_ms)
    }

    /// Counts and decodes a frame. A malformed one changes nothing else,
    /// except that a request whose id can be read is refused.
    fn decode_frame(&mut self, from: PeerAddr, frame: &[u8]) -> Result<Message, Error> {
        self.io.out().received(frame.len());
        Message::decode(frame).inspect_err(|e| {
            self.io.out().malformed();
            if let Some(id) = Message::request_id(frame) {
                let body = Response::refused(format!("malformed request: {e}"));
                self.io.respond(from, id, body);
            }
        })
    }

    /// Handles a decoded frame of `len` bytes.
    fn dispatch(
        &mut self,
        from: PeerAddr,
        msg: Message,
        len: usize,
        enrolled: bool,
        now_ms: u64,
    ) -> Result<(), Error> {
        if from.id == self.me.id {
            return Err(Error::PeerIdMismatch {
                expected: from.id,
                found: self.me.id,
            });
        }
        self.heard.heard(from.id, now_ms);
        match msg {
            Message::Request { id, body } => {
                let body = self.admitted_request(body);
                let body = if self.state == NodeState::Client {
                    self.serve_as_client(from, body, now_ms)
                } else if !self.admits_sender(&from, enrolled) {
                    self.serve_stranger(from, body, now_ms)
                } else {
                    self.serve(from, body, now_ms)
                };
                self.io.respond(from, id, body);
            }
            // Only members answer for the ring: a stranger's answer is
            // dropped, as if it never came.
            Message::Response { id, body } if self.admits_sender(&from, enrolled) => {
                let body = self.admitted_answer(body);
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
        let t = self.tick(now);
        if self.state == NodeState::Left {
            return;
        }
        while let Some(fired) = self.io.pop_due(t) {
            match fired {
                Fired::Attempt(due) => self.attempt_due(due, t),
                Fired::Timer(timer) => self.fire(timer, t),
            }
            if self.state == NodeState::Left {
                return;
            }
        }
        self.after_input(t);
    }

    /// The driver could not reach `peer` (connection refused, identity
    /// mismatch, closed). Requests to it fail now instead of timing out.
    pub fn handle_unreachable(&mut self, peer: PeerAddr, now: Instant) {
        let t = self.tick(now);
        if self.state == NodeState::Left {
            return;
        }
        self.forget(peer);
        for p in self.io.unreachable(peer) {
            self.on_failure(p.to, p.purpose, t);
        }
        self.after_input(t);
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
                Finished::Merge(peer) => self.adopt_if_closer(peer, now_ms),
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
        if let Some(e) = self.unable(now_ms) {
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
        let t = self.tick(now);
        self.become_joined(succs, t);
        self.table.install(pred, fingers);
        let (stabilize, fix) = (self.cfg.stabilize_interval, self.cfg.fix_fingers_interval);
        self.io.schedule(Timer::Stabilize, t, stabilize);
        self.io.schedule(Timer::FixFingers, t, fix);
        self.replicas.assume_synced(&self.table);
    }
}
