//! Operations: lookups and what follows them (join, finger refresh, store,
//! fetch, hand-over), and graceful leave.
//!
//! Each phase is a state machine of its own (`lookup.rs`, `rounds.rs`);
//! `Ops` sends what they ask for and feeds them the answers, through the
//! parts of the node a [`Ctx`] lends it. What a finished operation asks
//! of the rest of the node (become a member, take a finger, adopt a
//! successor, stop) it queues as a [`Finished`] for the node to apply.
//! Lookups are iterative by default: the originator asks one peer at a
//! time, so it routes around a dead peer itself and counts every hop
//! (`ops/relay.rs` holds the recursive alternative). See
//! `docs/architecture.md` for the measured comparison.

mod data;
mod rehome;
mod relay;

use relay::answer_proxied;

use std::collections::{BTreeMap, VecDeque};

use lsp_core::{Aor, Error, Lookup as Found, NodeId, OwnRecord, Peer, PeerAddr, SignedRecord};

use super::client::Contacts;
use super::io::Io;
use super::outputs::Traffic;
use super::requests::{NotSent, Purpose};
use super::routing::RoutingTable;
use super::storage::Storage;
use super::types::{NodeState, OpId, Outcome, Timer, ms};
use crate::config::Config;
use crate::lookup::{self, Answer, Failure, Lookup, Question};
use crate::ring::Point;
use crate::rounds::{FetchRound, StoreRound};
use crate::wire::{Request, Response, StoreOutcome};

/// Replication batches stay well under the frame limit.
pub(super) const STORE_BATCH_BYTES: usize = 48 * 1024;
const _: () = assert!(STORE_BATCH_BYTES + 1024 < crate::wire::MAX_MESSAGE_LEN);

/// A record to publish. One this process signed is stored here without a
/// second signature check; every other replica still checks it.
#[derive(Debug, Clone)]
pub(super) enum Publishing {
    Checked(SignedRecord),
    Own(OwnRecord),
    /// On condition: each owner refuses it where it holds the publisher's
    /// record newer than this version (`StoreReplacing`).
    OwnReplacing(OwnRecord, u64),
}

impl Publishing {
    pub(super) fn signed(&self) -> &SignedRecord {
        match self {
            Self::Checked(r) => r,
            Self::Own(own) | Self::OwnReplacing(own, _) => own.signed(),
        }
    }

    fn into_signed(self) -> SignedRecord {
        match self {
            Self::Checked(r) => r,
            Self::Own(own) | Self::OwnReplacing(own, _) => own.into_signed(),
        }
    }
}

/// What to do with the peers a lookup finds.
#[derive(Debug)]
pub(super) enum Then {
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
pub(super) enum Phase {
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
pub(super) struct Op {
    phase: Phase,
}

impl Op {
    /// Finger refreshes, merges, proxied lookups and hand-overs are
    /// upkeep, not user work.
    fn internal(&self) -> bool {
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
    fn rehomes(&self) -> bool {
        matches!(
            self.phase,
            Phase::Rehome { .. }
                | Phase::Route {
                    then: Then::Rehome(_),
                    ..
                }
        )
    }

    fn fixes_finger(&self, i: usize) -> bool {
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

/// What a finished operation asks of the rest of the node.
#[derive(Debug)]
pub(super) enum Finished {
    /// Become a member with these successors.
    Joined(Vec<PeerAddr>),
    /// Keep these owners as contacts (a client's attach).
    Attached(Vec<PeerAddr>),
    /// Finger `i` is this peer.
    Finger(usize, PeerAddr),
    /// A probe reached another ring: adopt this peer if it is a closer
    /// successor.
    Merge(PeerAddr),
    /// The hand-over is done: stop.
    Left,
}

/// The parts of the node an operation uses, lent for one input.
#[derive(Debug)]
pub(super) struct Ctx<'a> {
    pub(super) me: PeerAddr,
    pub(super) cfg: &'a Config,
    pub(super) state: NodeState,
    pub(super) io: &'a mut Io,
    pub(super) table: &'a RoutingTable,
    pub(super) storage: &'a mut Storage,
    pub(super) contacts: &'a Contacts,
    /// The time of the input, in ms since the node's first.
    pub(super) now_ms: u64,
}

/// The operations under way, by id.
#[derive(Debug)]
pub(super) struct Ops {
    running: BTreeMap<OpId, Op>,
    next_op: u64,
    finished: VecDeque<Finished>,
    /// Peers whose certificate held no enrollment this node's ring key
    /// verifies, latest last (at most [`UNENROLLED`]): a lookup that
    /// reached none but these fails `NotAdmitted`, which points at the key.
    unenrolled: VecDeque<NodeId>,
}

/// How many unenrolled peers [`Ops`] remembers.
const UNENROLLED: usize = 32;

/// Why a lookup that ran out of peers failed: the ring's key, when every
/// peer it could not reach held no enrollment under it.
fn no_route(unenrolled: &VecDeque<NodeId>, silent: &[NodeId]) -> Error {
    if !silent.is_empty() && silent.iter().all(|p| unenrolled.contains(p)) {
        return Error::NotAdmitted(
            "no peer asked holds an enrollment this node's ring key verifies: \
             is the ring key right?",
        );
    }
    Error::NoRoute {
        silent: silent.to_vec(),
    }
}

impl Default for Ops {
    fn default() -> Self {
        Self {
            running: BTreeMap::new(),
            next_op: 1,
            finished: VecDeque::new(),
            unenrolled: VecDeque::new(),
        }
    }
}

impl Ops {
    /// `peer` failed the closed ring's enrollment check when dialed.
    pub(super) fn not_enrolled(&mut self, peer: NodeId) {
        if !self.unenrolled.contains(&peer) {
            if self.unenrolled.len() == UNENROLLED {
                self.unenrolled.pop_front();
            }
            self.unenrolled.push_back(peer);
        }
    }

    pub(super) fn new_id(&mut self) -> OpId {
        let id = OpId(self.next_op);
        self.next_op += 1;
        id
    }

    /// An operation that failed before it started.
    pub(super) fn fail_now(&mut self, io: &mut Io, e: Error) -> OpId {
        let op = self.new_id();
        io.finish(op, Err(e));
        op
    }

    /// What a finished operation asks of the node, oldest first.
    pub(super) fn next_finished(&mut self) -> Option<Finished> {
        self.finished.pop_front()
    }

    /// Whether a refresh of finger `i` is under way.
    pub(super) fn fixes_finger(&self, i: usize) -> bool {
        self.running.values().any(|o| o.fixes_finger(i))
    }

    /// Whether a hand-over of misplaced records is under way.
    pub(super) fn rehoming(&self) -> bool {
        self.running.values().any(Op::rehomes)
    }

    /// Whether op `id` is upkeep rather than a user's work.
    fn internal(&self, id: OpId) -> bool {
        self.running.get(&id).is_some_and(Op::internal)
    }

    /// Registers an operation; `Err` carries the id of one that failed at
    /// once because too many are in flight.
    fn add(&mut self, cx: &mut Ctx<'_>, phase: Phase) -> Result<OpId, OpId> {
        let id = self.new_id();
        if self.running.len() >= cx.cfg.max_operations {
            cx.io.finish(id, Err(Error::Overloaded("operations")));
            return Err(id);
        }
        let deadline = cx.now_ms + ms(cx.cfg.operation_timeout);
        self.running.insert(id, Op { phase });
        cx.io.set_timer(Timer::Op(id), deadline);
        Ok(id)
    }

    /// Sends a request for op `id`; the op fails if it cannot be sent.
    fn request(&mut self, cx: &mut Ctx<'_>, id: OpId, to: PeerAddr, body: Request) {
        let traffic = if self.internal(id) {
            Traffic::Maintenance
        } else {
            Traffic::User
        };
        let sent = cx.io.request(to, body, Purpose::Op(id), traffic, cx.now_ms);
        if let Err(e) = sent {
            let e = match e {
                NotSent::Full => Error::Overloaded("requests"),
                NotSent::Unencodable(e) => e,
            };
            self.end(cx, id, Err(e));
        }
    }

    pub(super) fn start_join(&mut self, cx: &mut Ctx<'_>, bootstrap: Vec<PeerAddr>) -> OpId {
        let target = Point::from(cx.me.id);
        self.start_route(cx, target, Then::Join, Some(bootstrap))
    }

    /// A user's publish, query or fetch, on a node that can serve it.
    pub(super) fn start_data_op(&mut self, cx: &mut Ctx<'_>, then: Then) -> OpId {
        let target = match &then {
            Then::Publish(r) => Point::from(r.signed().record.aor.resource_id()),
            Then::Query(a) | Then::Fetch(a) => Point::from(a.resource_id()),
            _ => Point::from(cx.me.id),
        };
        self.start_route(cx, target, then, None)
    }
    /// Starts a lookup of `target`, from `bootstrap` when given
    /// (joining) or from this node's own table.
    pub(super) fn start_route(
        &mut self,
        cx: &mut Ctx<'_>,
        target: Point,
        then: Then,
        bootstrap: Option<Vec<PeerAddr>>,
    ) -> OpId {
        let user = matches!(
            then,
            Then::Lookup | Then::Publish(_) | Then::Query(_) | Then::Fetch(_)
        );
        // Only a user's lookup asks the owner found to confirm it.
        let confirm = matches!(then, Then::Lookup);
        let (me, k, gap) = (cx.me.id, cx.cfg.k(), cx.table.gap_bound());
        // A user's operation routed from this node's own table checks the
        // owners it finds against more opinions, and counts only claims as
        // dense as the ring. So does a hand-over: the copy here is dropped
        // once they have it.
        let checked = (user || matches!(then, Then::Rehome(_))) && bootstrap.is_none();
        let (opinions, density) = if checked {
            (cx.cfg.opinions, cx.table.density())
        } else {
            (1, None)
        };
        let recursive = cx.cfg.routing == crate::Routing::Recursive && user;
        // How near the target a peer's successor list names all k owners:
        // r - k + 1 mean gaps, once this node knows k successors to
        // estimate the gap from. A recursive lookup asks one at a time.
        let reach = (!recursive && cx.table.succs().len() >= k).then(|| {
            let gaps = (cx.cfg.r() + 1).saturating_sub(k).max(1);
            gaps as f64 / cx.table.estimated_size()
        });
        let lookup = Box::new(
            match bootstrap {
                Some(b) => Lookup::new(target, me, b, confirm, k),
                // A client routes from its contacts.
                None if cx.state == NodeState::Client => {
                    Lookup::new(target, me, cx.contacts.candidates(target), confirm, k)
                }
                // A joined node answers from its own table when it can.
                None => match cx.table.responsible_for(target) {
                    Some(owners) => Lookup::with_owners(target, me, owners, confirm, k),
                    None => Lookup::new(
                        target,
                        me,
                        cx.table.closest_preceding(target, 8),
                        confirm,
                        k,
                    )
                    .with_own_successors(cx.me, cx.table.succs().to_vec()),
                },
            }
            .with_max_gap(gap)
            .with_density(density)
            .with_opinions(opinions)
            .with_parallel(reach),
        );
        let phase = Phase::Route {
            lookup,
            then,
            recursive,
            token: None,
        };
        let id = match self.add(cx, phase) {
            Ok(id) => id,
            Err(failed) => return failed,
        };
        self.drive_lookup(cx, id);
        id
    }

    /// Does what the op's lookup asks for next: a question, the phase that
    /// follows it, or its failure.
    fn drive_lookup(&mut self, cx: &mut Ctx<'_>, id: OpId) {
        loop {
            let fresh_token = cx.io.token();
            let (me, pred) = (cx.me, cx.table.pred());
            let Some(Phase::Route {
                lookup,
                recursive,
                token,
                ..
            }) = self.running.get_mut(&id).map(|o| &mut o.phase)
            else {
                return;
            };
            let step = match lookup.next() {
                // Only a confirmation asks this node: it answers itself.
                lookup::Want::Ask(p, _) if p.id == me.id => {
                    let answer = Answer::Neighbours {
                        predecessor: pred,
                        successors: cx.table.succs().to_vec(),
                    };
                    lookup.on_response(p, answer);
                    continue;
                }
                lookup::Want::Ask(p, Question::FindSuccessor) if *recursive => {
                    *token = Some(fresh_token);
                    let body = Request::Forward {
                        target: lookup.target().0,
                        origin: me,
                        token: fresh_token,
                        hops: 1,
                    };
                    Step::Send(p, body)
                }
                lookup::Want::Ask(p, Question::FindSuccessor) => {
                    let target = lookup.target().0;
                    Step::Send(p, Request::FindSuccessor { target })
                }
                lookup::Want::Ask(p, Question::Neighbours) => Step::Send(p, Request::GetNeighbours),
                lookup::Want::Wait => Step::Wait,
                lookup::Want::Done(owners) => Step::Done(owners),
                lookup::Want::Failed(Failure::TooManyHops) => Step::Failed(Error::Timeout),
                lookup::Want::Failed(Failure::NoRoute) => {
                    Step::Failed(no_route(&self.unenrolled, lookup.silent()))
                }
            };
            // Questions the lookup gave up on hold no pending slot.
            if lookup.take_dropped() {
                cx.io.cancel_requests_of(id);
            }
            match step {
                // A lookup may have several questions out at once.
                Step::Send(to, body) => {
                    self.request(cx, id, to, body);
                    continue;
                }
                Step::Wait => {}
                Step::Done(owners) => self.route_done(cx, id, owners),
                Step::Failed(e) => self.end(cx, id, Err(e)),
            }
            return;
        }
    }

    /// `from` answered a request of op `id`.
    pub(super) fn on_response(
        &mut self,
        cx: &mut Ctx<'_>,
        id: OpId,
        from: PeerAddr,
        body: Response,
    ) {
        let Some(op) = self.running.get_mut(&id) else {
            return;
        };
        match &mut op.phase {
            Phase::Route { lookup, token, .. } => {
                if body == Response::Ack && token.is_some() {
                    // A recursive lookup was taken on; its answer comes as
                    // `Routed`.
                    let at = cx.now_ms + 3 * ms(cx.cfg.request_timeout);
                    cx.io.set_timer(Timer::OpStep(id), at);
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
                self.drive_lookup(cx, id);
            }
            Phase::Store { .. } => {
                let outcome = match body {
                    Response::Stored { mut outcomes } if outcomes.len() == 1 => outcomes.remove(0),
                    _ => StoreOutcome::Invalid("unexpected answer".into()),
                };
                self.store_answered(cx, id, from, Some(outcome));
            }
            Phase::Fetch { .. } => {
                let records = match body {
                    Response::Records { records } => Some(records),
                    _ => None,
                };
                self.fetch_answered(cx, id, from, records);
            }
            Phase::Leave { .. } => self.leave_answered(cx, id),
            Phase::Rehome { .. } => self.rehome_answered(cx, id, Some(body)),
            Phase::Moving => {}
        }
    }

    /// A request of op `id` to `to` got no answer.
    pub(super) fn on_failure(&mut self, cx: &mut Ctx<'_>, id: OpId, to: PeerAddr) {
        let Some(op) = self.running.get_mut(&id) else {
            return;
        };
        match &mut op.phase {
            Phase::Route { lookup, .. } => {
                lookup.on_failure(to);
                self.drive_lookup(cx, id);
            }
            Phase::Store { .. } => self.store_answered(cx, id, to, None),
            Phase::Fetch { .. } => self.fetch_answered(cx, id, to, None),
            Phase::Leave { .. } => self.leave_answered(cx, id),
            Phase::Rehome { .. } => self.rehome_answered(cx, id, None),
            Phase::Moving => {}
        }
    }

    /// A request of op `id` to `to` is slow to be answered: a read or a
    /// write asks the next owner too (`to`'s answer still counts if it
    /// comes).
    pub(super) fn on_slow(&mut self, cx: &mut Ctx<'_>, id: OpId, to: PeerAddr) {
        match self.running.get_mut(&id).map(|o| &mut o.phase) {
            Some(Phase::Route { lookup, .. }) => {
                lookup.on_slow(to);
                self.drive_lookup(cx, id);
            }
            Some(Phase::Fetch { round, .. }) => {
                let next = round.on_slow(to);
                self.fetch_next(cx, id, next);
            }
            Some(Phase::Store { round, .. }) => {
                let next = round.on_slow(to);
                self.store_next(cx, id, next);
            }
            _ => {}
        }
    }

    /// The lookup found `peers`: go on with what the op is for.
    fn route_done(&mut self, cx: &mut Ctx<'_>, id: OpId, peers: Vec<PeerAddr>) {
        let Some(op) = self.running.get_mut(&id) else {
            return;
        };
        let old = std::mem::replace(&mut op.phase, Phase::Moving);
        let Phase::Route { then, lookup, .. } = old else {
            return;
        };
        // The lookup's questions still out are moot, and their answers
        // must not be taken for the next phase's.
        cx.io.cancel_requests_of(id);
        cx.io.out().lies(lookup.lies());
        let want_records = matches!(then, Then::Fetch(_));
        let k = cx.cfg.k();
        match then {
            Then::Lookup => {
                let found = peers.iter().take(k).map(peer).collect();
                let outcome = Outcome::Lookup(Found::new(found, lookup.hops()));
                self.end(cx, id, Ok(outcome));
            }
            Then::Attach => {
                self.finished.push_back(Finished::Attached(peers));
                self.end(cx, id, Ok(Outcome::Attached));
            }
            Then::Join => {
                let me = cx.me.id;
                let mut succs: Vec<PeerAddr> = peers.into_iter().filter(|p| p.id != me).collect();
                succs.truncate(cx.cfg.r());
                if succs.is_empty() {
                    self.end(cx, id, Err(Error::Unreachable(me)));
                    return;
                }
                self.finished.push_back(Finished::Joined(succs));
                self.end(cx, id, Ok(Outcome::Joined));
            }
            Then::Finger(i) => {
                if let Some(first) = peers.first() {
                    self.finished.push_back(Finished::Finger(i, *first));
                }
                self.remove(cx, id);
            }
            Then::Proxy { origin, token } => {
                self.remove(cx, id);
                answer_proxied(cx, origin, token, peers, lookup.hops());
            }
            Then::Merge => {
                self.remove(cx, id);
                if let Some(p) = peers.into_iter().find(|p| p.id != cx.me.id) {
                    self.finished.push_back(Finished::Merge(p));
                }
            }
            Then::Publish(record) => {
                let pass_on = peers.len() < k;
                let (round, first) = StoreRound::new(peers, k);
                if let Some(op) = self.running.get_mut(&id) {
                    op.phase = Phase::Store {
                        record,
                        round,
                        pass_on,
                    };
                }
                for p in first {
                    self.send_store(cx, id, p);
                }
            }
            Then::Rehome(aor) => self.rehome_to(cx, id, aor, peers),
            Then::Query(aor) | Then::Fetch(aor) => {
                let mut peers = peers;
                let owners = k.min(peers.len());
                cx.io.order_for_read(cx.me.id, &mut peers[..owners]);
                let (round, first) = FetchRound::new(peers, k);
                if let Some(op) = self.running.get_mut(&id) {
                    op.phase = Phase::Fetch {
                        aor,
                        round,
                        records: want_records,
                    };
                }
                for p in first {
                    self.send_fetch(cx, id, p);
                }
            }
        }
    }

    /// Removes the op with its deadlines.
    /// Removes the op with its timers and its requests still out: an
    /// answer to one would find nothing to go to, and a dead peer's
    /// request would hold its slot for all its tries.
    fn remove(&mut self, cx: &mut Ctx<'_>, id: OpId) -> Option<Op> {
        cx.io.cancel_timer(Timer::Op(id));
        cx.io.cancel_timer(Timer::OpStep(id));
        cx.io.cancel_requests_of(id);
        self.running.remove(&id)
    }

    /// Removes the op and reports it (internal ops are not reported).
    fn end(&mut self, cx: &mut Ctx<'_>, id: OpId, outcome: Result<Outcome, Error>) {
        let Some(op) = self.remove(cx, id) else {
            return;
        };
        if let Phase::Route { lookup, .. } = &op.phase {
            cx.io.out().lies(lookup.lies());
        }
        if let Phase::Route {
            then: Then::Proxy { origin, token },
            ..
        } = op.phase
        {
            answer_proxied(cx, origin, token, Vec::new(), 0);
        }
        if matches!(op.phase, Phase::Leave { .. }) && outcome.is_ok() {
            self.finished.push_back(Finished::Left);
        }
        if !op.internal() {
            cx.io.finish(id, outcome);
        }
    }

    /// The op's deadline passed.
    pub(super) fn expired(&mut self, cx: &mut Ctx<'_>, id: OpId) {
        let Some(op) = self.running.get(&id) else {
            return;
        };
        // A leave that outlives its deadline leaves anyway.
        let outcome = if matches!(op.phase, Phase::Leave { .. }) {
            Ok(Outcome::Left)
        } else {
            Err(Error::Timeout)
        };
        self.end(cx, id, outcome);
    }
}

/// Splits records into `Store` batches under [`STORE_BATCH_BYTES`] each.
pub(super) fn batches(records: Vec<SignedRecord>) -> Vec<Vec<SignedRecord>> {
    let mut out = Vec::new();
    let mut cur = Vec::new();
    let mut size = 0;
    for r in records {
        // Stored records encode; one that does not cannot be sent either.
        let Ok(len) = r.to_bytes().map(|b| b.len()) else {
            continue;
        };
        if size + len > STORE_BATCH_BYTES && !cur.is_empty() {
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
