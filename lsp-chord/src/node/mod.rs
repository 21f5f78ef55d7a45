//! The sans-IO Chord node: inputs, outputs, timers and requests.
//!
//! Routing (`routing.rs`), operations (`ops.rs`), replication
//! (`replication.rs`) and recursive relaying (`relay.rs`) are further
//! `impl Chord` blocks over the same state. The state machines they drive
//! (`crate::lookup`, `crate::rounds`) know nothing of `Chord`.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, VecDeque};
use std::time::Duration;

use lsp_core::store::{RecordStore, StoreStats};
use lsp_core::{Aor, Binding, Error, Lookup, NodeId, PeerAddr, Published, SignedRecord, UnixTime};
use rand::rngs::Xoshiro256PlusPlus;
use rand::{RngExt, SeedableRng};

use crate::config::Config;
use crate::ring::Point;
use crate::wire::{Message, Request, Response, StoreOutcome};
use ops::Op;

mod ops;
mod relay;
mod replication;
mod routing;

/// Fingers kept: finger `i` is the successor of `me + 2^(255 - i)`. 64
/// cover rings of up to about 2^60 nodes.
pub const FINGERS: usize = 64;

/// Dropped peers remembered for probing, and probes each gets.
const GRAVEYARD: usize = 32;
const GRAVEYARD_PROBES: u32 = 30;

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
    /// Traffic counts.
    pub counters: Counters,
}

/// What a request is for; decides what its answer or failure does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Purpose {
    Stabilize,
    Notify,
    CheckPredecessor,
    Hint,
    Replicate,
    /// A digest of the primary range; `near` for a replica holder, whose
    /// mismatch this node answers by pushing the range.
    Repair {
        near: bool,
    },
    /// A ping to a peer dropped earlier; the count of probes so far.
    Probe(u32),
    /// A recursive lookup passed on for another node.
    Relay(u64),
    /// The answer of a recursive lookup, sent to its originator.
    Answer,
    Op(OpId),
}

#[derive(Debug)]
pub(crate) struct Pending {
    pub to: PeerAddr,
    pub frame: Vec<u8>,
    pub attempts_left: u32,
    pub deadline: u64,
    pub purpose: Purpose,
    pub maintenance: bool,
}

#[derive(Debug, Default)]
pub(crate) struct Timers {
    pub stabilize: u64,
    pub fix_fingers: u64,
    pub check_predecessor: u64,
    pub probe: u64,
    pub purge: u64,
    pub repair: u64,
}

/// A Chord node as a deterministic state machine, in the shape of
/// quinn-proto: feed it `handle_*` inputs, start work with commands, and
/// drain `poll_*` outputs. It does no I/O and reads no clock: every input
/// carries `now`.
#[derive(Debug)]
pub struct Chord {
    pub(crate) me: PeerAddr,
    pub(crate) cfg: Config,
    pub(crate) rng: Xoshiro256PlusPlus,
    pub(crate) state: NodeState,
    pub(crate) pred: Option<PeerAddr>,
    pub(crate) succs: Vec<PeerAddr>,
    pub(crate) fingers: Vec<Option<PeerAddr>>,
    pub(crate) next_finger: usize,
    /// Fingers left to fix quickly after joining.
    pub(crate) fast_fingers: usize,
    /// Immediate re-stabilizes left after joining (see `on_neighbours`).
    pub(crate) fast_stabilize: usize,
    pub(crate) store: RecordStore,
    pub(crate) next_id: u64,
    pub(crate) pending: BTreeMap<u64, Pending>,
    pub(crate) deadlines: BinaryHeap<Reverse<(u64, u64)>>,
    pub(crate) ops: BTreeMap<OpId, Op>,
    pub(crate) next_op: u64,
    pub(crate) transmits: VecDeque<Transmit>,
    pub(crate) events: VecDeque<Event>,
    pub(crate) timers: Timers,
    pub(crate) counters: Counters,
    /// Peers dropped as unreachable, probed now and then so that rings
    /// split by a partition find each other again.
    pub(crate) graveyard: VecDeque<(PeerAddr, u32)>,
    pub(crate) relays: BTreeMap<u64, relay::Relay>,
    pub(crate) next_relay: u64,
    /// Set whenever the predecessor or successor list changes, so that the
    /// replica check runs only then.
    pub(crate) routing_changed: bool,
    /// Predecessor and first k-1 successors when replicas were last synced.
    pub(crate) replica_view: (Option<PeerAddr>, Vec<NodeId>),
    /// Which farther successor the next repair round asks.
    pub(crate) repair_turn: usize,
    /// Digests answered since the last repair round; bounded, since each
    /// costs a pass over the store.
    pub(crate) digests_served: usize,
    /// Ranges pushed back on a mismatched digest since the last round.
    pub(crate) repair_pushes: usize,
}

pub(crate) fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

impl Chord {
    /// A node that listens at `me`. It joins nothing until [`Chord::join`].
    pub fn new(me: PeerAddr, cfg: Config) -> Self {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(cfg.seed ^ me.id.prefix_u64());
        let next_id = rng.random::<u64>() >> 1;
        let store = RecordStore::with_shards(cfg.limits, 1);
        Self {
            me,
            cfg,
            rng,
            state: NodeState::Idle,
            pred: None,
            succs: Vec::new(),
            fingers: vec![None; FINGERS],
            next_finger: 0,
            fast_fingers: 0,
            fast_stabilize: 0,
            store,
            next_id,
            pending: BTreeMap::new(),
            deadlines: BinaryHeap::new(),
            ops: BTreeMap::new(),
            next_op: 1,
            transmits: VecDeque::new(),
            events: VecDeque::new(),
            timers: Timers::default(),
            counters: Counters::default(),
            graveyard: VecDeque::new(),
            routing_changed: false,
            relays: BTreeMap::new(),
            next_relay: 0,
            replica_view: (None, Vec::new()),
            repair_turn: 0,
            digests_served: 0,
            repair_pushes: 0,
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
        self.pred
    }

    /// The successor list (empty in a ring of one).
    pub fn successors(&self) -> &[PeerAddr] {
        &self.succs
    }

    /// The record store.
    pub fn store(&self) -> &RecordStore {
        &self.store
    }

    /// The node's view of the ring.
    pub fn status(&self) -> Status {
        let mut fingers: Vec<PeerAddr> = Vec::new();
        for f in self.fingers.iter().rev().flatten() {
            if !fingers.iter().any(|g| g.id == f.id) {
                fingers.push(*f);
            }
        }
        Status {
            me: self.me,
            state: self.state,
            predecessor: self.pred,
            successors: self.succs.clone(),
            fingers,
            store: self.store.stats(),
            estimated_size: self.estimated_size(),
            counters: self.counters,
        }
    }

    // ---- commands ----

    /// Joins the ring through any of `bootstrap`, or creates a ring of one
    /// when `bootstrap` is empty.
    pub fn join(&mut self, bootstrap: &[PeerAddr], now: UnixTime) -> OpId {
        let peers: Vec<PeerAddr> = bootstrap
            .iter()
            .filter(|p| p.id != self.me.id)
            .copied()
            .collect();
        if self.state == NodeState::Left {
            return self.fail_now(Error::Closed);
        }
        if peers.is_empty() {
            let op = self.new_op_id();
            self.become_joined(Vec::new(), now);
            self.finish(op, Ok(Outcome::Joined));
            return op;
        }
        self.start_join(peers, now)
    }

    /// Stores a signed record on the k nodes responsible for its AOR.
    pub fn publish(&mut self, record: SignedRecord, now: UnixTime) -> OpId {
        if let Err(e) = record.verify() {
            return self.fail_now(e);
        }
        self.start_data_op(ops::Then::Publish(Box::new(record)), now)
    }

    /// Reads the live bindings of an AOR from the nodes responsible for it.
    pub fn query(&mut self, aor: Aor, now: UnixTime) -> OpId {
        self.start_data_op(ops::Then::Query(Box::new(aor)), now)
    }

    /// Reads the signed records of an AOR, verified, from the nodes
    /// responsible for it.
    pub fn fetch(&mut self, aor: Aor, now: UnixTime) -> OpId {
        self.start_data_op(ops::Then::Fetch(Box::new(aor)), now)
    }

    /// Finds the nodes responsible for a point of the ring.
    pub fn lookup(&mut self, target: impl Into<Point>, now: UnixTime) -> OpId {
        let target = target.into();
        match self.state {
            NodeState::Joined => self.start_route(target, ops::Then::Lookup, None, now),
            NodeState::Idle => self.fail_now(Error::Unreachable(NodeId(target.0))),
            NodeState::Left => self.fail_now(Error::Closed),
        }
    }

    /// Hands this node's records to its successor, tells its neighbours,
    /// and stops.
    pub fn leave(&mut self, now: UnixTime) -> OpId {
        self.start_leave(now)
    }

    // ---- inputs ----

    /// A frame from `from`, whose Node-ID the transport authenticated.
    /// Malformed input is counted and returned as an error; it changes
    /// nothing else.
    pub fn handle_message(
        &mut self,
        from: PeerAddr,
        frame: &[u8],
        now: UnixTime,
    ) -> Result<(), Error> {
        if self.state == NodeState::Left {
            return Err(Error::Closed);
        }
        self.counters.messages_received += 1;
        self.counters.bytes_received += frame.len() as u64;
        let msg = match Message::decode(frame) {
            Ok(m) => m,
            Err(e) => {
                self.counters.malformed += 1;
                return Err(e);
            }
        };
        if from.id == self.me.id {
            return Err(Error::PeerIdMismatch {
                expected: from.id,
                found: self.me.id,
            });
        }
        let now_ms = now.as_millis();
        match msg {
            Message::Request { id, body } => {
                let body = self.serve(from, body, now);
                self.send_raw(from, Message::Response { id, body }.encode());
            }
            Message::Response { id, body } => {
                self.on_response(from, id, body, frame.len(), now_ms);
            }
        }
        self.after_input(now);
        Ok(())
    }

    /// Timers due at `now` fire: retransmissions, failure detection,
    /// stabilize, fingers, expiry.
    pub fn handle_timeout(&mut self, now: UnixTime) {
        if self.state == NodeState::Left {
            return;
        }
        let t = now.as_millis();
        while let Some(&Reverse((deadline, id))) = self.deadlines.peek() {
            if deadline > t {
                break;
            }
            self.deadlines.pop();
            let Some(p) = self.pending.get_mut(&id) else {
                continue;
            };
            if p.deadline != deadline {
                continue;
            }
            if p.attempts_left > 0 {
                p.attempts_left -= 1;
                p.deadline = t + ms(self.cfg.request_timeout);
                let (to, frame, maint, dl) = (p.to, p.frame.clone(), p.maintenance, p.deadline);
                let purpose = p.purpose;
                self.count_request(purpose, maint, frame.len());
                self.deadlines.push(Reverse((dl, id)));
                self.send_raw(to, frame);
            } else if let Some(p) = self.pending.remove(&id) {
                self.counters.unanswered += 1;
                self.on_failure(p.to, p.purpose, t);
            }
        }
        self.expire_ops(t);
        if self.state == NodeState::Joined {
            self.run_periodic(now);
        }
        self.after_input(now);
    }

    /// The driver could not reach `peer` (connection refused, identity
    /// mismatch, closed). Requests to it fail now instead of timing out.
    pub fn handle_unreachable(&mut self, peer: NodeId, now: UnixTime) {
        if self.state == NodeState::Left {
            return;
        }
        let ids: Vec<u64> = self
            .pending
            .iter()
            .filter(|(_, p)| p.to.id == peer)
            .map(|(id, _)| *id)
            .collect();
        self.forget(peer);
        for id in ids {
            if let Some(p) = self.pending.remove(&id) {
                self.counters.unanswered += 1;
                self.on_failure(p.to, p.purpose, now.as_millis());
            }
        }
        self.after_input(now);
    }

    // ---- outputs ----

    /// The next frame to send.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.transmits.pop_front()
    }

    /// The next finished operation.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// When [`Chord::handle_timeout`] should next be called.
    pub fn poll_timeout(&self) -> Option<UnixTime> {
        if self.state == NodeState::Left {
            return None;
        }
        let mut next = self.deadlines.peek().map(|Reverse((d, _))| *d);
        let mut take = |t: u64| next = Some(next.map_or(t, |n| n.min(t)));
        if self.state == NodeState::Joined {
            let t = &self.timers;
            take(
                t.stabilize
                    .min(t.fix_fingers)
                    .min(t.check_predecessor)
                    .min(t.purge)
                    .min(t.repair),
            );
        }
        let op_due = self
            .ops
            .values()
            .map(|o| o.step_deadline.map_or(o.deadline, |s| s.min(o.deadline)))
            .min();
        if let Some(d) = op_due {
            take(d);
        }
        next.map(UnixTime)
    }

    // ---- internals shared by the other modules ----

    pub(crate) fn new_op_id(&mut self) -> OpId {
        let id = OpId(self.next_op);
        self.next_op += 1;
        id
    }

    pub(crate) fn fail_now(&mut self, e: Error) -> OpId {
        let op = self.new_op_id();
        self.finish(op, Err(e));
        op
    }

    pub(crate) fn finish(&mut self, op: OpId, outcome: Result<Outcome, Error>) {
        self.events.push_back(Event::Done { op, outcome });
    }

    pub(crate) fn jitter(&mut self, d: Duration) -> u64 {
        let d = ms(d).max(1);
        d - d / 10 + self.rng.random_range(0..=d / 5)
    }

    pub(crate) fn become_joined(&mut self, succs: Vec<PeerAddr>, now: UnixTime) {
        let t = now.as_millis();
        self.state = NodeState::Joined;
        self.succs = succs;
        self.routing_changed = true;
        self.timers.stabilize = t;
        self.timers.fix_fingers = t;
        self.fast_fingers = FINGERS;
        self.fast_stabilize = 4 * self.cfg.r();
        self.timers.check_predecessor = t + self.jitter(self.cfg.check_predecessor_interval);
        self.timers.probe = t + self.jitter(self.cfg.check_predecessor_interval);
        self.timers.purge = t + self.jitter(self.cfg.purge_interval);
        self.timers.repair = t + self.jitter(self.cfg.repair_interval);
    }

    fn run_periodic(&mut self, now: UnixTime) {
        let t = now.as_millis();
        if self.timers.stabilize <= t {
            self.timers.stabilize = t + self.jitter(self.cfg.stabilize_interval);
            self.stabilize(t);
        }
        if self.timers.fix_fingers <= t {
            let period = if self.fast_fingers > 0 {
                self.fast_fingers -= 1;
                (self.cfg.fix_fingers_interval / 50).max(Duration::from_millis(1))
            } else {
                self.cfg.fix_fingers_interval
            };
            self.timers.fix_fingers = t + self.jitter(period);
            self.fix_next_finger(now);
        }
        if self.timers.check_predecessor <= t {
            self.timers.check_predecessor = t + self.jitter(self.cfg.check_predecessor_interval);
            if let Some(p) = self.pred {
                self.request(p, Request::Ping, Purpose::CheckPredecessor, t);
            }
        }
        if self.timers.probe <= t {
            self.timers.probe = t + self.jitter(self.cfg.check_predecessor_interval);
            if let Some((g, n)) = self.graveyard.pop_front() {
                self.request(g, Request::Ping, Purpose::Probe(n + 1), t);
            }
        }
        if self.timers.purge <= t {
            self.timers.purge = t + self.jitter(self.cfg.purge_interval);
            self.store.purge_shard(0, now, |_| {});
        }
        if self.timers.repair <= t {
            self.timers.repair = t + self.jitter(self.cfg.repair_interval);
            self.digests_served = 0;
            self.repair_pushes = 0;
            self.start_repair(now);
        }
    }

    /// Sends a request and remembers it. Fails with `Overloaded` (through
    /// `on_failure`) when too many are pending.
    pub(crate) fn request(&mut self, to: PeerAddr, body: Request, purpose: Purpose, now_ms: u64) {
        if self.pending.len() >= self.cfg.max_pending_requests {
            self.on_overload(purpose);
            return;
        }
        let id = self.next_id;
        self.next_id = self.next_id.wrapping_add(1);
        let frame = Message::Request { id, body }.encode();
        let maintenance = match purpose {
            Purpose::Op(op) => self.ops.get(&op).is_some_and(|o| o.internal()),
            Purpose::Replicate | Purpose::Relay(_) | Purpose::Answer => false,
            _ => true,
        };
        self.count_request(purpose, maintenance, frame.len());
        let deadline = now_ms + ms(self.cfg.request_timeout);
        self.deadlines.push(Reverse((deadline, id)));
        self.pending.insert(
            id,
            Pending {
                to,
                frame: frame.clone(),
                attempts_left: self.cfg.request_attempts.saturating_sub(1),
                deadline,
                purpose,
                maintenance,
            },
        );
        self.send_raw(to, frame);
    }

    /// A request could not be sent: too many are pending. Upkeep retries
    /// on its own schedule; an operation fails; a relayed lookup is dropped.
    fn on_overload(&mut self, purpose: Purpose) {
        match purpose {
            Purpose::Op(op) => self.end_op(op, Err(Error::Overloaded("requests"))),
            Purpose::Relay(key) => {
                self.relays.remove(&key);
            }
            _ => {}
        }
    }

    fn count_request(&mut self, purpose: Purpose, maintenance: bool, len: usize) {
        if maintenance {
            self.counters.maintenance_messages += 1;
            self.counters.maintenance_bytes += len as u64;
        } else if purpose == Purpose::Replicate {
            self.counters.replication_messages += 1;
            self.counters.replication_bytes += len as u64;
        }
    }

    pub(crate) fn send_raw(&mut self, to: PeerAddr, frame: Vec<u8>) {
        self.counters.messages_sent += 1;
        self.counters.bytes_sent += frame.len() as u64;
        self.transmits.push_back(Transmit { to, frame });
    }

    fn on_response(&mut self, from: PeerAddr, id: u64, body: Response, len: usize, now_ms: u64) {
        // Only the peer asked may answer; anything else is stale or forged.
        let Some(p) = self.pending.get(&id) else {
            return;
        };
        if p.to.id != from.id {
            return;
        }
        let Some(p) = self.pending.remove(&id) else {
            return;
        };
        if p.maintenance {
            self.counters.maintenance_messages += 1;
            self.counters.maintenance_bytes += len as u64;
        } else if p.purpose == Purpose::Replicate {
            self.counters.replication_messages += 1;
            self.counters.replication_bytes += len as u64;
        }
        match p.purpose {
            Purpose::Stabilize => self.on_neighbours(p.to, body, now_ms),
            Purpose::Probe(_) => {
                // Alive after all: look ourselves up through it, in case it
                // is in another ring that should merge with ours.
                let target = Point(self.me.id.0);
                self.start_route(target, ops::Then::Merge, Some(vec![p.to]), UnixTime(now_ms));
            }
            Purpose::Notify
            | Purpose::CheckPredecessor
            | Purpose::Hint
            | Purpose::Replicate
            | Purpose::Answer => {}
            Purpose::Relay(key) => self.relay_settled(key, true, now_ms),
            Purpose::Repair { near } => {
                if near && body == (Response::Digested { matched: false }) {
                    self.push_primary_range(p.to, UnixTime(now_ms));
                }
            }
            Purpose::Op(op) => self.on_op_response(op, p.to, body, now_ms),
        }
    }

    fn on_failure(&mut self, to: PeerAddr, purpose: Purpose, now_ms: u64) {
        match purpose {
            Purpose::Stabilize => {
                self.forget(to.id);
                // Try the next successor at once.
                self.timers.stabilize = now_ms;
            }
            Purpose::Notify | Purpose::CheckPredecessor => self.forget(to.id),
            Purpose::Hint | Purpose::Replicate | Purpose::Answer | Purpose::Repair { .. } => {}
            Purpose::Relay(key) => {
                self.forget(to.id);
                self.relay_settled(key, false, now_ms);
            }
            Purpose::Probe(n) => {
                if n < GRAVEYARD_PROBES {
                    self.graveyard.push_back((to, n));
                }
            }
            Purpose::Op(op) => {
                self.forget(to.id);
                self.on_op_failure(op, to, now_ms);
            }
        }
    }

    /// Answers a request.
    fn serve(&mut self, from: PeerAddr, body: Request, now: UnixTime) -> Response {
        match body {
            Request::FindSuccessor { target } => self.answer_find(Point(target)),
            Request::GetNeighbours => Response::Neighbours {
                predecessor: self.pred,
                successors: self.succs.clone(),
            },
            Request::Notify => {
                self.rectify(from, now.as_millis());
                Response::Ack
            }
            Request::Ping => {
                self.consider_successor(from, now.as_millis());
                Response::Ack
            }
            Request::StabilizeHint => {
                self.timers.stabilize = self.timers.stabilize.min(now.as_millis());
                Response::Ack
            }
            Request::Leaving {
                predecessor,
                successors,
            } => {
                self.on_leaving(from, predecessor, successors);
                Response::Ack
            }
            Request::Store { records } => Response::Stored {
                outcomes: self.store_and_spread(Some(from), &records, now),
            },
            Request::Forward {
                target,
                origin,
                token,
                hops,
            } => self.relay(Point(target), origin, token, hops, now),
            Request::Routed { token, peers, hops } => {
                self.on_routed(token, peers, hops, now.as_millis());
                Response::Ack
            }
            Request::Digest {
                from: start,
                digest,
            } => self.serve_digest(from, Point(start), digest, now),
            Request::Fetch { aor } => Response::Records {
                records: self.store.fetch(&aor, now).unwrap_or_default(),
            },
        }
    }

    pub(crate) fn store_local(&mut self, record: &SignedRecord, now: UnixTime) -> StoreOutcome {
        let policy = self.cfg.policy.clone();
        StoreOutcome::from_result(self.store.publish(record, policy.as_ref(), now, |_| Ok(())))
    }

    pub(crate) fn bury(&mut self, peer: PeerAddr) {
        if self.graveyard.iter().any(|(g, _)| g.id == peer.id) {
            return;
        }
        if self.graveyard.len() >= GRAVEYARD {
            self.graveyard.pop_front();
        }
        self.graveyard.push_back((peer, 0));
    }

    fn after_input(&mut self, now: UnixTime) {
        if self.state == NodeState::Joined && self.routing_changed {
            self.routing_changed = false;
            self.sync_replicas(now);
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
        now: UnixTime,
    ) {
        self.become_joined(succs, now);
        self.pred = pred;
        self.routing_changed = true;
        self.fast_fingers = 0;
        self.fast_stabilize = 0;
        self.timers.stabilize = now.as_millis() + self.jitter(self.cfg.stabilize_interval);
        self.timers.fix_fingers = now.as_millis() + self.jitter(self.cfg.fix_fingers_interval);
        for (slot, f) in self.fingers.iter_mut().zip(fingers) {
            *slot = f;
        }
        self.replica_view = (
            pred,
            self.succs
                .iter()
                .take(self.cfg.k() - 1)
                .map(|p| p.id)
                .collect(),
        );
    }
}
