//! A deterministic simulator: many [`Chord`] nodes in one thread on a
//! virtual clock, with seeded latency, loss, partitions, crashes, restarts,
//! graceful leaves and churn. The same seed replays the same run.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, HashMap};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::sync::Arc;
use std::time::{Duration, Instant};

use lsp_core::{
    Aor, Clock, Error, Identity, ManualClock, NodeId, PeerAddr, SignedRecord, UnixTime,
};
use rand::rngs::Xoshiro256PlusPlus;
use rand::{RngExt, SeedableRng};

use crate::node::{Chord, Event, FINGERS, NodeState, OpId, Outcome, ms};
use crate::ring::Point;
use crate::wire::{Message, Request, Response};
use crate::{Config, Status};

pub mod hostile;

/// What a hostile node does with a request it receives.
#[derive(Debug)]
pub enum Hostile {
    /// Lets its state machine serve it, honestly.
    Serve,
    /// Answers this instead.
    Answer(Response),
    /// Drops it.
    Ignore,
}

/// The behaviour of the nodes marked hostile ([`Sim::set_adversary`]):
/// it sees each request they receive before their state machine does.
pub trait Adversary: std::fmt::Debug {
    /// Node `node` received `request` from `from`.
    fn on_request(&mut self, node: usize, from: PeerAddr, request: &Request) -> Hostile;
}

/// Settings of a simulation.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct SimConfig {
    /// Seed of every random choice: identities, latency, loss, churn.
    pub seed: u64,
    /// Shortest one-way delay.
    pub latency_min: Duration,
    /// Longest one-way delay; delays are uniform in between.
    pub latency_max: Duration,
    /// Probability that a message is lost.
    pub loss: f64,
    /// Settings of every node (each gets its own seed).
    pub chord: Config,
    /// Virtual wall-clock time at the start.
    pub start: UnixTime,
}

impl SimConfig {
    /// Defaults with this seed: 10 to 90 ms delays, no loss.
    pub fn new(seed: u64) -> Self {
        Self {
            seed,
            latency_min: Duration::from_millis(10),
            latency_max: Duration::from_millis(90),
            loss: 0.0,
            chord: Config::default(),
            start: UnixTime(1_750_000_000_000),
        }
    }
}

/// Network counts of a run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct NetStats {
    /// Messages delivered.
    pub delivered: u64,
    /// Lost at random.
    pub lost: u64,
    /// Dropped between partitions.
    pub partitioned: u64,
    /// Sent to a crashed node.
    pub to_dead: u64,
}

/// What [`Sim::run_churn`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Churn {
    /// Nodes crashed.
    pub crashed: u64,
    /// Nodes that started joining.
    pub joined: u64,
}

#[derive(Debug)]
struct SimNode {
    addr: PeerAddr,
    chord: Option<Chord>,
    timer: Option<u64>,
}

#[derive(Debug)]
enum What {
    Deliver {
        to: usize,
        from: PeerAddr,
        frame: Vec<u8>,
    },
    Timer {
        node: usize,
        at: u64,
    },
}

/// The simulated network and its nodes, addressed by index.
#[derive(Debug)]
pub struct Sim {
    cfg: SimConfig,
    /// Virtual time: Unix milliseconds.
    now: u64,
    /// The monotonic instant that stands for `cfg.start`.
    base: Instant,
    /// The nodes' wall clock, kept at `now`.
    clock: Arc<ManualClock>,
    rng: Xoshiro256PlusPlus,
    /// Due time, then sequence number (ties keep their order), then the
    /// payload's slot: small keys keep the heap fast at 10^5 nodes.
    queue: BinaryHeap<Reverse<(u64, u64, u32)>>,
    seq: u64,
    slots: Vec<Option<What>>,
    free: Vec<u32>,
    live_cache: std::cell::RefCell<Option<Vec<usize>>>,
    /// Whether each node was in the ring when last drained.
    joined: Vec<bool>,
    nodes: Vec<SimNode>,
    by_id: HashMap<NodeId, usize>,
    groups: Option<Vec<u8>>,
    done: BTreeMap<(usize, OpId), (UnixTime, Result<Outcome, Error>)>,
    net: NetStats,
    /// Which nodes are hostile, and what they do.
    hostile: Vec<bool>,
    adversary: Option<Box<dyn Adversary>>,
}

impl Sim {
    /// An empty network.
    pub fn new(cfg: SimConfig) -> Self {
        Self {
            now: cfg.start.as_millis(),
            base: Instant::now(),
            clock: Arc::new(ManualClock::new(cfg.start)),
            rng: Xoshiro256PlusPlus::seed_from_u64(cfg.seed),
            cfg,
            seq: 0,
            queue: BinaryHeap::new(),
            slots: Vec::new(),
            free: Vec::new(),
            live_cache: std::cell::RefCell::new(None),
            joined: Vec::new(),
            nodes: Vec::new(),
            by_id: HashMap::new(),
            groups: None,
            done: BTreeMap::new(),
            net: NetStats::default(),
            hostile: Vec::new(),
            adversary: None,
        }
    }

    /// The seed, to print with any failure.
    pub fn seed(&self) -> u64 {
        self.cfg.seed
    }

    /// Virtual time now.
    pub fn now(&self) -> UnixTime {
        UnixTime(self.now)
    }

    /// Network counts so far.
    pub fn net_stats(&self) -> NetStats {
        self.net
    }

    /// Number of nodes ever created.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// True before any node is created.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// Node `i`'s state machine, unless crashed.
    pub fn node(&self, i: usize) -> Option<&Chord> {
        self.nodes.get(i).and_then(|n| n.chord.as_ref())
    }

    /// Node `i`'s address.
    pub fn addr(&self, i: usize) -> PeerAddr {
        self.nodes[i].addr
    }

    /// Status of node `i`, unless crashed.
    pub fn status(&self, i: usize) -> Option<Status> {
        self.node(i).map(Chord::status)
    }

    /// Indices of running nodes that are in the ring.
    pub fn live(&self) -> Vec<usize> {
        self.with_live(<[usize]>::to_vec)
    }

    fn with_live<T>(&self, f: impl FnOnce(&[usize]) -> T) -> T {
        let mut cache = self.live_cache.borrow_mut();
        let live = cache.get_or_insert_with(|| {
            (0..self.nodes.len())
                .filter(|&i| self.node(i).is_some_and(|c| c.state() == NodeState::Joined))
                .collect()
        });
        f(live)
    }

    fn membership_changed(&mut self) {
        *self.live_cache.get_mut() = None;
    }

    /// A random live node.
    pub fn random_live(&mut self) -> Option<usize> {
        let n = self.with_live(<[usize]>::len);
        if n == 0 {
            return None;
        }
        let k = self.rng.random_range(0..n);
        Some(self.with_live(|l| l[k]))
    }

    /// Random bits from the simulation's seeded generator.
    pub fn random_u64(&mut self) -> u64 {
        self.rng.random()
    }

    /// Creates a node with a fresh identity; it is idle until it joins.
    pub fn add_node(&mut self) -> usize {
        let secret: [u8; 32] = self.rng.random();
        let id = Identity::from_secret_bytes(secret).node_id();
        self.add_node_at(id)
    }

    /// Adds a node with a chosen Node-ID (not yet joined): how a Sybil
    /// group that ground keys for a place is played.
    pub fn add_node_at(&mut self, id: NodeId) -> usize {
        let i = self.nodes.len();
        let ip = Ipv4Addr::from(0x0a00_0000 | (i as u32 & 0x00ff_ffff));
        let addr = PeerAddr {
            id,
            addr: SocketAddr::V4(SocketAddrV4::new(ip, 7000)),
        };
        let chord = self.new_chord(addr);
        self.nodes.push(SimNode {
            addr,
            chord: Some(chord),
            timer: None,
        });
        self.by_id.insert(id, i);
        self.joined.push(false);
        self.hostile.push(false);
        i
    }

    /// Makes `nodes` hostile, doing what `adversary` says with the requests
    /// they receive; their own requests and timers stay honest, so they
    /// keep their places in the ring.
    pub fn set_adversary(&mut self, nodes: &[usize], adversary: Box<dyn Adversary>) {
        for &i in nodes {
            self.hostile[i] = true;
        }
        self.adversary = Some(adversary);
    }

    /// Whether node `i` is hostile.
    pub fn is_hostile(&self, i: usize) -> bool {
        self.hostile.get(i).copied().unwrap_or(false)
    }

    fn new_chord(&mut self, addr: PeerAddr) -> Chord {
        let clock: Arc<dyn Clock> = self.clock.clone();
        let cfg = self.cfg.chord.clone().seed(self.rng.random()).clock(clock);
        Chord::new(addr, cfg)
    }

    /// Node `i` joins through node `via`, or starts a ring when `None`.
    pub fn join(&mut self, i: usize, via: Option<usize>) -> OpId {
        let boot: Vec<PeerAddr> = via.map(|v| self.nodes[v].addr).into_iter().collect();
        self.with_node(i, |c, now| c.join(&boot, now))
            .unwrap_or(OpId(0))
    }

    /// Node `i` uses the ring as a client through `members`, without
    /// joining it.
    pub fn attach(&mut self, i: usize, members: &[usize]) -> OpId {
        let members: Vec<PeerAddr> = members.iter().map(|&m| self.nodes[m].addr).collect();
        self.with_node(i, |c, now| c.attach(&members, now))
            .unwrap_or(OpId(0))
    }

    /// Creates `n` nodes already joined in a converged ring, with correct
    /// predecessors, successor lists and fingers: how a ring looks after
    /// warm-up. Large benchmarks start here instead of from n joins.
    pub fn converged_ring(&mut self, n: usize) -> Vec<usize> {
        let first = self.nodes.len();
        for _ in 0..n {
            self.add_node();
        }
        let mut order: Vec<usize> = (first..first + n).collect();
        order.sort_by_key(|&i| Point(self.nodes[i].addr.id.0));
        let ids: Vec<Point> = order
            .iter()
            .map(|&i| Point(self.nodes[i].addr.id.0))
            .collect();
        let r = self.cfg.chord.successors.max(1);
        let now = self.instant();
        for (pos, &i) in order.iter().enumerate() {
            let pred = (n > 1).then(|| self.nodes[order[(pos + n - 1) % n]].addr);
            let succs: Vec<PeerAddr> = (1..=r.min(n - 1))
                .map(|d| self.nodes[order[(pos + d) % n]].addr)
                .collect();
            let me = ids[pos];
            let fingers: Vec<Option<PeerAddr>> = (0..FINGERS)
                .map(|f| {
                    let start = me.wrapping_add(Point::pow2(255 - f as u32));
                    let at = ids.partition_point(|p| *p < start) % n;
                    let j = order[at];
                    (j != i).then(|| self.nodes[j].addr)
                })
                .collect();
            if let Some(c) = self.nodes[i].chord.as_mut() {
                c.install_routing(pred, succs, fingers, now);
                self.joined[i] = true;
            }
            self.reschedule(i);
        }
        self.membership_changed();
        order
    }

    /// Node `i` stops at once, losing its memory.
    pub fn crash(&mut self, i: usize) {
        self.membership_changed();
        self.joined[i] = false;
        self.nodes[i].chord = None;
        self.nodes[i].timer = None;
    }

    /// A crashed node comes back with its identity and an empty store, and
    /// joins through a random live node.
    pub fn restart(&mut self, i: usize) -> OpId {
        let addr = self.nodes[i].addr;
        let chord = self.new_chord(addr);
        self.nodes[i].chord = Some(chord);
        let via = self.random_live();
        self.join(i, via)
    }

    /// Node `i` leaves gracefully.
    pub fn leave(&mut self, i: usize) -> OpId {
        self.with_node(i, |c, now| c.leave(now)).unwrap_or(OpId(0))
    }

    /// Node `i` publishes a record.
    pub fn publish(&mut self, i: usize, record: SignedRecord) -> OpId {
        self.with_node(i, |c, now| c.publish(record, now))
            .unwrap_or(OpId(0))
    }

    /// Node `i` publishes a record it signed itself.
    pub fn publish_own(&mut self, i: usize, record: lsp_core::OwnRecord) -> OpId {
        self.with_node(i, |c, now| c.publish_own(record, now))
            .unwrap_or(OpId(0))
    }

    /// Node `i` publishes a record it signed, on condition that no owner
    /// holds the publisher's record newer than version `replaces`.
    pub fn publish_own_replacing(
        &mut self,
        i: usize,
        record: lsp_core::OwnRecord,
        replaces: u64,
    ) -> OpId {
        self.with_node(i, |c, now| c.publish_own_replacing(record, replaces, now))
            .unwrap_or(OpId(0))
    }

    /// Node `i` queries an AOR.
    pub fn query(&mut self, i: usize, aor: Aor) -> OpId {
        self.with_node(i, |c, now| c.query(aor, now))
            .unwrap_or(OpId(0))
    }

    /// Node `i` looks up a point of the ring.
    pub fn lookup(&mut self, i: usize, target: Point) -> OpId {
        self.with_node(i, |c, now| c.lookup(target, now))
            .unwrap_or(OpId(0))
    }

    /// Delivers a raw frame to node `to` as if node `from` sent it: how
    /// tests play a hostile peer.
    pub fn inject(&mut self, from: usize, to: usize, frame: Vec<u8>) {
        let from = self.nodes[from].addr;
        self.push(self.now, What::Deliver { to, from, frame });
    }

    /// Runs for `d` with churn: nodes crash and new nodes join, each at the
    /// rate that gives exponentially distributed sessions of median
    /// `median_session`, so the ring keeps its size on average. `during`
    /// runs about once a virtual second (to publish or look up meanwhile).
    pub fn run_churn(
        &mut self,
        d: Duration,
        median_session: Duration,
        mut during: impl FnMut(&mut Sim),
    ) -> Churn {
        let end = self.now + ms(d);
        let mut churn = Churn::default();
        let per_node = std::f64::consts::LN_2 / ms(median_session).max(1) as f64;
        let mut next_event = self.now;
        let mut next_tick = self.now + 1000;
        loop {
            if next_event <= self.now {
                let rate = 2.0 * per_node * self.live().len().max(1) as f64;
                let u: f64 = self.rng.random_range(f64::EPSILON..1.0);
                next_event = self.now + (-u.ln() / rate).ceil() as u64;
            }
            let until = next_event.min(next_tick).min(end);
            while self.step_until(until) {}
            self.now = self.now.max(until);
            if self.now >= end {
                break;
            }
            if self.now >= next_tick {
                next_tick += 1000;
                during(self);
            }
            if self.now >= next_event {
                if self.rng.random_bool(0.5) {
                    if let Some(i) = self.random_live() {
                        self.crash(i);
                        churn.crashed += 1;
                    }
                } else {
                    let i = self.add_node();
                    let via = self.random_live();
                    self.join(i, via);
                    churn.joined += 1;
                }
            }
        }
        churn
    }

    /// Splits the network: messages pass only between nodes of one group.
    pub fn partition(&mut self, group_of: impl Fn(usize) -> u8) {
        self.groups = Some((0..self.nodes.len()).map(group_of).collect());
    }

    /// Ends a partition.
    pub fn heal(&mut self) {
        self.groups = None;
    }

    /// Changes the loss rate.
    pub fn set_loss(&mut self, loss: f64) {
        self.cfg.loss = loss;
    }

    /// The outcome of op `op` of node `i`, once it finished.
    pub fn outcome(&self, i: usize, op: OpId) -> Option<&Result<Outcome, Error>> {
        self.done.get(&(i, op)).map(|(_, o)| o)
    }

    /// Takes a finished outcome out of the record.
    pub fn take_outcome(&mut self, i: usize, op: OpId) -> Option<Result<Outcome, Error>> {
        self.done.remove(&(i, op)).map(|(_, o)| o)
    }

    /// Takes a finished outcome and the virtual time it finished.
    pub fn take_finished(
        &mut self,
        i: usize,
        op: OpId,
    ) -> Option<(UnixTime, Result<Outcome, Error>)> {
        self.done.remove(&(i, op))
    }

    /// Runs until `done` holds (checked every `every`), or `limit` passes.
    /// Returns how long it took.
    pub fn run_until(
        &mut self,
        limit: Duration,
        every: Duration,
        mut done: impl FnMut(&Sim) -> bool,
    ) -> Option<Duration> {
        let start = self.now;
        let end = start + ms(limit);
        loop {
            if done(self) {
                return Some(Duration::from_millis(self.now - start));
            }
            if self.now >= end {
                return None;
            }
            self.run_for(every);
        }
    }

    /// Runs until op `op` of node `i` finishes, or `limit` of virtual time
    /// passes.
    pub fn wait(&mut self, i: usize, op: OpId, limit: Duration) -> Option<Result<Outcome, Error>> {
        let end = self.now + ms(limit);
        while !self.done.contains_key(&(i, op)) && self.step_until(end) {}
        self.take_outcome(i, op)
    }

    /// Runs for `d` of virtual time.
    pub fn run_for(&mut self, d: Duration) {
        let end = self.now + ms(d);
        while self.step_until(end) {}
        self.now = self.now.max(end);
    }

    /// Processes the next event if it is due by `end`.
    fn step_until(&mut self, end: u64) -> bool {
        match self.queue.peek() {
            Some(Reverse((at, _, _))) if *at <= end => {}
            _ => return false,
        }
        let Some(Reverse((at, _, slot))) = self.queue.pop() else {
            return false;
        };
        let Some(what) = self.slots[slot as usize].take() else {
            return true;
        };
        self.free.push(slot);
        self.now = self.now.max(at);
        let now = self.instant();
        match what {
            What::Deliver { to, from, frame } => {
                if self.hostile[to]
                    && self.nodes[to].chord.is_some()
                    && self.intercepted(to, from, &frame)
                {
                    return true;
                }
                if let Some(c) = self.nodes[to].chord.as_mut() {
                    self.net.delivered += 1;
                    // Malformed input is the node's to count; nothing to do here.
                    let _ = c.handle_message(from, &frame, now);
                    self.drain(to);
                } else {
                    self.net.to_dead += 1;
                }
            }
            What::Timer { node, at } => {
                if self.nodes[node].timer == Some(at) {
                    self.nodes[node].timer = None;
                    if let Some(c) = self.nodes[node].chord.as_mut() {
                        c.handle_timeout(now);
                    }
                    self.drain(node);
                }
            }
        }
        true
    }

    /// Virtual now on the nodes' monotonic clock; sets their wall clock.
    fn instant(&self) -> Instant {
        self.clock.set(UnixTime(self.now));
        self.base + Duration::from_millis(self.now - self.cfg.start.as_millis())
    }

    /// Lets the adversary handle a request to hostile node `to`; true when
    /// it did (answered or dropped).
    fn intercepted(&mut self, to: usize, from: PeerAddr, frame: &[u8]) -> bool {
        let Ok(Message::Request { id, body }) = Message::decode(frame) else {
            return false;
        };
        let Some(adversary) = self.adversary.as_mut() else {
            return false;
        };
        match adversary.on_request(to, from, &body) {
            Hostile::Serve => false,
            Hostile::Ignore => true,
            Hostile::Answer(body) => {
                self.net.delivered += 1;
                let Some(&back) = self.by_id.get(&from.id) else {
                    return true;
                };
                let Ok(frame) = (Message::Response { id, body }).encode() else {
                    return true;
                };
                let (lo, hi) = (ms(self.cfg.latency_min), ms(self.cfg.latency_max).max(1));
                let delay = self.rng.random_range(lo.min(hi)..=hi);
                let me = self.nodes[to].addr;
                self.push(
                    self.now + delay,
                    What::Deliver {
                        to: back,
                        from: me,
                        frame,
                    },
                );
                true
            }
        }
    }

    fn with_node<T>(&mut self, i: usize, f: impl FnOnce(&mut Chord, Instant) -> T) -> Option<T> {
        let now = self.instant();
        let out = self.nodes[i].chord.as_mut().map(|c| f(c, now));
        self.drain(i);
        out
    }

    fn push(&mut self, at: u64, what: What) {
        self.seq += 1;
        let slot = match self.free.pop() {
            Some(s) => {
                self.slots[s as usize] = Some(what);
                s
            }
            None => {
                self.slots.push(Some(what));
                (self.slots.len() - 1) as u32
            }
        };
        self.queue.push(Reverse((at, self.seq, slot)));
    }

    /// Moves node `i`'s outputs into the network and re-arms its timer.
    fn drain(&mut self, i: usize) {
        let from = self.nodes[i].addr;
        let mut sends = Vec::new();
        if let Some(c) = self.nodes[i].chord.as_mut() {
            while let Some(t) = c.poll_transmit() {
                sends.push(t);
            }
            let joined = c.state() == NodeState::Joined;
            while let Some(Event::Done { op, outcome }) = c.poll_event() {
                self.done.insert((i, op), (UnixTime(self.now), outcome));
            }
            if joined != self.joined[i] {
                self.joined[i] = joined;
                *self.live_cache.get_mut() = None;
            }
        }
        for t in sends {
            let Some(&to) = self.by_id.get(&t.to.id) else {
                self.net.to_dead += 1;
                continue;
            };
            if self.cfg.loss > 0.0 && self.rng.random_bool(self.cfg.loss.clamp(0.0, 1.0)) {
                self.net.lost += 1;
                continue;
            }
            if let Some(g) = &self.groups
                && g.get(i) != g.get(to)
            {
                self.net.partitioned += 1;
                continue;
            }
            let (lo, hi) = (ms(self.cfg.latency_min), ms(self.cfg.latency_max).max(1));
            let delay = self.rng.random_range(lo.min(hi)..=hi);
            self.push(
                self.now + delay,
                What::Deliver {
                    to,
                    from,
                    frame: t.frame,
                },
            );
        }
        self.reschedule(i);
    }

    fn reschedule(&mut self, i: usize) {
        let next = self.nodes[i]
            .chord
            .as_ref()
            .and_then(|c| c.poll_timeout())
            .map(|t| {
                let virtual_ms =
                    self.cfg.start.as_millis() + ms(t.saturating_duration_since(self.base));
                virtual_ms.max(self.now + 1)
            });
        if next != self.nodes[i].timer {
            self.nodes[i].timer = next;
            if let Some(at) = next {
                self.push(at, What::Timer { node: i, at });
            }
        }
    }

    /// The live nodes in ring order.
    pub fn ring_order(&self) -> Vec<PeerAddr> {
        let mut live: Vec<PeerAddr> = self.live().iter().map(|&i| self.nodes[i].addr).collect();
        live.sort_by_key(|p| Point::from(p.id));
        live
    }

    /// The live node that should be the successor of `target`.
    pub fn true_successor(&self, target: Point) -> Option<PeerAddr> {
        successor_in(&self.ring_order(), target)
    }

    /// Checks the ring invariants over the live nodes: each successor list
    /// and predecessor is exactly right, hence one ordered ring, and every
    /// node is reached walking successors from any one.
    pub fn check_ring(&self) -> Result<(), String> {
        let mut live: Vec<(Point, usize)> = self
            .live()
            .into_iter()
            .map(|i| (Point(self.nodes[i].addr.id.0), i))
            .collect();
        live.sort();
        let n = live.len();
        if n == 0 {
            return Err("no live node".into());
        }
        let r = self.cfg.chord.successors.max(1);
        for (pos, &(_, i)) in live.iter().enumerate() {
            let Some(c) = self.node(i) else { continue };
            let expected: Vec<NodeId> = (1..=r.min(n - 1))
                .map(|d| self.nodes[live[(pos + d) % n].1].addr.id)
                .collect();
            let got: Vec<NodeId> = c.successors().iter().map(|p| p.id).collect();
            if got != expected {
                return Err(format!(
                    "node {i}: successor list {} wrong (expected {})",
                    names(&got, &self.by_id),
                    names(&expected, &self.by_id)
                ));
            }
            let want_pred = (n > 1).then(|| self.nodes[live[(pos + n - 1) % n].1].addr.id);
            if c.predecessor().map(|p| p.id) != want_pred {
                return Err(format!(
                    "node {i}: predecessor {:?} wrong (expected {:?})",
                    c.predecessor().and_then(|p| self.by_id.get(&p.id)),
                    want_pred.and_then(|p| self.by_id.get(&p))
                ));
            }
        }
        let start = live[0].1;
        let mut seen = vec![false; self.nodes.len()];
        let mut at = start;
        for _ in 0..n {
            seen[at] = true;
            let next = self
                .node(at)
                .and_then(|c| c.successors().first())
                .and_then(|p| self.by_id.get(&p.id).copied());
            match next {
                Some(j) if self.node(j).is_some() => at = j,
                _ if n == 1 => break,
                _ => return Err(format!("walk from node {start} stops at node {at}")),
            }
        }
        if let Some(&(_, missed)) = live.iter().find(|(_, i)| !seen[*i]) {
            return Err(format!("node {missed} is not reachable along successors"));
        }
        Ok(())
    }
}

/// The successor of `target` in `ring`, a list in ring order.
pub fn successor_in(ring: &[PeerAddr], target: Point) -> Option<PeerAddr> {
    let at = ring.partition_point(|p| Point::from(p.id) < target);
    ring.get(at).or(ring.first()).copied()
}

fn names(ids: &[NodeId], by_id: &HashMap<NodeId, usize>) -> String {
    let v: Vec<String> = ids
        .iter()
        .map(|id| by_id.get(id).map_or("?".into(), |i| i.to_string()))
        .collect();
    format!("[{}]", v.join(","))
}
