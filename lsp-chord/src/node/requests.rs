//! The requests a node has out: their ids, what each is for, its frame
//! for retransmission, and its deadline. A request leaves the table with
//! its deadline, answered, given up or cancelled, never one without the
//! other.

use std::collections::{BTreeMap, HashMap};

use lsp_core::{Error, NodeId, PeerAddr};

use super::outputs::Traffic;
use super::types::{OpId, ms};
use crate::config::Config;
use crate::timers::TimerTable;
use crate::wire::{Message, Request};

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
    /// The answer of a recursive lookup, sent to its originator.
    Answer,
    /// A peer that pinged as if this node were its predecessor, asked for
    /// its neighbours before it becomes the successor.
    VerifySuccessor,
    /// A peer that may be the predecessor (it notified, or a leaving
    /// predecessor named it), asked for its neighbours before it becomes
    /// the predecessor; `left` is the leaver it may still name first.
    VerifyPredecessor {
        left: Option<NodeId>,
    },
    Op(OpId),
    /// A client asking a contact for its neighbours.
    RefreshContacts,
}

/// A request awaiting its answer.
#[derive(Debug)]
pub(super) struct Pending {
    pub(super) to: PeerAddr,
    pub(super) purpose: Purpose,
    pub(super) traffic: Traffic,
    /// When the first attempt went out.
    pub(super) sent_ms: u64,
    frame: Vec<u8>,
    attempts_left: u32,
}

/// Why a request was not sent.
#[derive(Debug)]
pub(super) enum NotSent {
    /// As many requests are out as the node allows.
    Full,
    /// It does not encode.
    Unencodable(Error),
}

/// What an attempt's timeout comes to.
#[derive(Debug)]
pub(super) enum Due {
    /// Send the frame again.
    Resend {
        to: PeerAddr,
        frame: Vec<u8>,
        traffic: Traffic,
    },
    /// Every attempt went unanswered.
    GaveUp(Pending),
    /// An operation's request has gone unanswered for the hedge delay:
    /// the operation may ask another peer meanwhile. Once per request; the
    /// request itself stays out.
    Slow { to: PeerAddr, purpose: Purpose },
}

/// The shortest hedge delay: a peer is not called slow sooner, however
/// fast the round trips have been (the clock's grain is 1 ms).
const HEDGE_FLOOR_MS: u64 = 10;

/// The hedge delay in smoothed round trips.
const HEDGE_RTTS: u64 = 4;

/// Answers to recursive lookups (`Routed`) one origin may hold unacknowledged.
/// A `Forward` costs its sender a pending slot here until it acknowledges
/// the answer; one that never does holds no more than this.
pub(super) const ANSWERS_PER_ORIGIN: usize = 16;

/// The share of the table all such answers may hold together: strangers
/// as a class cannot take the slots upkeep and users' operations need.
const ANSWERS_SHARE: usize = 8;

/// The pending requests, by id, with their deadlines.
#[derive(Debug)]
pub(super) struct Requests {
    pending: BTreeMap<u64, Pending>,
    deadlines: TimerTable<u64>,
    /// When an operation's request counts as slow (`Due::Slow`).
    hedges: TimerTable<u64>,
    /// Smoothed round trip of first attempts that were answered, in ms;
    /// `None` before the first.
    srtt_ms: Option<u64>,
    /// Pending answers (`Purpose::Answer`) by origin.
    answers: HashMap<NodeId, usize>,
    answers_total: usize,
    /// The pending requests of each operation, so that an operation that
    /// ends frees its slots at once.
    by_op: HashMap<OpId, Vec<u64>>,
    next_id: u64,
    timeout_ms: u64,
    attempts: u32,
    max: usize,
}

impl Requests {
    /// An empty table whose ids start at `first_id`.
    pub(super) fn new(first_id: u64, cfg: &Config) -> Self {
        Self {
            pending: BTreeMap::new(),
            deadlines: TimerTable::default(),
            hedges: TimerTable::default(),
            srtt_ms: None,
            answers: HashMap::new(),
            answers_total: 0,
            by_op: HashMap::new(),
            next_id: first_id,
            timeout_ms: ms(cfg.request_timeout),
            attempts: cfg.request_attempts,
            max: cfg.max_pending_requests,
        }
    }

    /// Takes a request to `to` on and returns its frame to send.
    pub(super) fn start(
        &mut self,
        to: PeerAddr,
        body: Request,
        purpose: Purpose,
        traffic: Traffic,
        now_ms: u64,
    ) -> Result<Vec<u8>, NotSent> {
        if self.pending.len() >= self.max {
            return Err(NotSent::Full);
        }
        if purpose == Purpose::Answer && !self.may_answer(to.id) {
            return Err(NotSent::Full);
        }
        let id = self.next_id;
        self.next_id = self.next_id.wrapping_add(1);
        let frame = (Message::Request { id, body })
            .encode()
            .map_err(NotSent::Unencodable)?;
        self.deadlines.set(id, now_ms + self.timeout_ms);
        if let Purpose::Op(op) = purpose {
            self.hedges.set(id, now_ms + self.hedge_ms());
            self.by_op.entry(op).or_default().push(id);
        }
        self.charge(to.id, purpose, true);
        self.pending.insert(
            id,
            Pending {
                to,
                frame: frame.clone(),
                attempts_left: self.attempts.saturating_sub(1),
                purpose,
                traffic,
                sent_ms: now_ms,
            },
        );
        Ok(frame)
    }

    /// How long an operation's request may go unanswered before the
    /// operation asks another peer too: a few smoothed round trips, at
    /// least [`HEDGE_FLOOR_MS`], at most an attempt's timeout; half of that
    /// before any round trip was measured.
    pub(super) fn hedge_ms(&self) -> u64 {
        match self.srtt_ms {
            Some(srtt) => (HEDGE_RTTS * srtt).clamp(HEDGE_FLOOR_MS, self.timeout_ms),
            None => self.timeout_ms / 2,
        }
    }

    /// The soonest deadline of an attempt or a hedge.
    pub(super) fn next_deadline(&self) -> Option<u64> {
        match (self.deadlines.next(), self.hedges.next()) {
            (Some(d), Some(h)) => Some(d.min(h)),
            (d, h) => d.or(h),
        }
    }

    /// The attempt due soonest at `now_ms`, if any: another attempt, or
    /// the request given up.
    pub(super) fn pop_due(&mut self, now_ms: u64) -> Option<Due> {
        while let Some(id) = self.hedges.pop_due(now_ms) {
            if let Some(p) = self.pending.get(&id) {
                return Some(Due::Slow {
                    to: p.to,
                    purpose: p.purpose,
                });
            }
        }
        loop {
            let id = self.deadlines.pop_due(now_ms)?;
            let Some(p) = self.pending.get_mut(&id) else {
                continue;
            };
            if p.attempts_left > 0 {
                p.attempts_left -= 1;
                let due = Due::Resend {
                    to: p.to,
                    frame: p.frame.clone(),
                    traffic: p.traffic,
                };
                self.deadlines.set(id, now_ms + self.timeout_ms);
                return Some(due);
            }
            if let Some(p) = self.remove(id) {
                return Some(Due::GaveUp(p));
            }
        }
    }

    /// The request `id`, answered by `from` at `now_ms`: only the peer
    /// asked may answer; anything else is stale or forged, and changes
    /// nothing. A first attempt's answer is a round-trip sample (a resent
    /// one's is not: which attempt it answers is unknown).
    pub(super) fn answered(&mut self, from: NodeId, id: u64, now_ms: u64) -> Option<Pending> {
        if self.pending.get(&id)?.to.id != from {
            return None;
        }
        let p = self.remove(id)?;
        if p.attempts_left + 1 >= self.attempts {
            let sample = now_ms.saturating_sub(p.sent_ms);
            let srtt = self
                .srtt_ms
                .map_or(sample, |s| (7 * s + sample).div_ceil(8));
            self.srtt_ms = Some(srtt);
        }
        Some(p)
    }

    /// Whether another answer to `origin`'s recursive lookup fits its
    /// share and the share of all origins.
    pub(super) fn may_answer(&self, origin: NodeId) -> bool {
        let mine = self.answers.get(&origin).copied().unwrap_or(0);
        mine < ANSWERS_PER_ORIGIN && self.answers_total < self.max / ANSWERS_SHARE
    }

    /// Removes every request to `peer`, oldest id first.
    pub(super) fn drop_to(&mut self, peer: PeerAddr) -> Vec<Pending> {
        let ids: Vec<u64> = self
            .pending
            .iter()
            .filter(|(_, p)| p.to == peer)
            .map(|(id, _)| *id)
            .collect();
        ids.into_iter().filter_map(|id| self.remove(id)).collect()
    }

    /// Forgets the requests of operation `op`: their answers are stale.
    pub(super) fn cancel_op(&mut self, op: OpId) {
        for id in self.by_op.remove(&op).unwrap_or_default() {
            self.remove(id);
        }
    }

    /// Whether a request to `to` for `purpose` is out.
    pub(super) fn is_out(&self, to: PeerAddr, purpose: Purpose) -> bool {
        self.pending
            .values()
            .any(|q| q.to == to && q.purpose == purpose)
    }

    /// Forgets every request.
    pub(super) fn clear(&mut self) {
        self.pending.clear();
        self.deadlines.clear();
        self.hedges.clear();
        self.answers.clear();
        self.answers_total = 0;
        self.by_op.clear();
    }

    /// The only way a request leaves the table but `clear`: with its
    /// deadline and its charge.
    fn remove(&mut self, id: u64) -> Option<Pending> {
        self.deadlines.cancel(id);
        self.hedges.cancel(id);
        let p = self.pending.remove(&id)?;
        self.charge(p.to.id, p.purpose, false);
        if let Purpose::Op(op) = p.purpose
            && let Some(ids) = self.by_op.get_mut(&op)
        {
            ids.retain(|i| *i != id);
            if ids.is_empty() {
                self.by_op.remove(&op);
            }
        }
        Some(p)
    }

    /// Counts an answer to `origin` in (`add`) or out.
    fn charge(&mut self, origin: NodeId, purpose: Purpose, add: bool) {
        if purpose != Purpose::Answer {
            return;
        }
        let n = self.answers.entry(origin).or_insert(0);
        if add {
            *n += 1;
            self.answers_total += 1;
        } else {
            *n = n.saturating_sub(1);
            self.answers_total = self.answers_total.saturating_sub(1);
            if *n == 0 {
                self.answers.remove(&origin);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::test_peers::peer;

    fn table(max: usize) -> Requests {
        let cfg = Config {
            request_timeout: Duration::from_millis(100),
            request_attempts: 2,
            max_pending_requests: max,
            ..Config::default()
        };
        Requests::new(7, &cfg)
    }

    fn ask(r: &mut Requests, to: u8, purpose: Purpose, now_ms: u64) -> Result<Vec<u8>, NotSent> {
        r.start(
            peer(to),
            Request::Ping,
            purpose,
            Traffic::Maintenance,
            now_ms,
        )
    }

    #[test]
    fn an_unanswered_request_is_sent_again_then_given_up_with_its_deadline() {
        let mut r = table(8);
        let frame = ask(&mut r, 1, Purpose::Notify, 0).expect("sent");
        assert_eq!(r.next_deadline(), Some(100));
        assert!(r.pop_due(99).is_none());
        match r.pop_due(100) {
            Some(Due::Resend {
                to, frame: again, ..
            }) => {
                assert_eq!((to, again), (peer(1), frame));
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(r.next_deadline(), Some(200));
        assert!(matches!(r.pop_due(200), Some(Due::GaveUp(p)) if p.to == peer(1)));
        assert_eq!(r.next_deadline(), None, "no deadline outlives its request");
        assert!(!r.is_out(peer(1), Purpose::Notify));
    }

    #[test]
    fn an_operations_request_is_called_slow_once_after_a_few_round_trips() {
        let mut r = table(8);
        let op = Purpose::Op(OpId(1));
        // No round trip measured yet: half the timeout.
        ask(&mut r, 1, op, 0).expect("sent");
        assert_eq!(r.next_deadline(), Some(50));
        assert!(
            matches!(r.pop_due(50), Some(Due::Slow { to, purpose }) if to == peer(1) && purpose == op)
        );
        assert_eq!(r.next_deadline(), Some(100), "the request itself stays out");
        assert!(matches!(r.pop_due(100), Some(Due::Resend { .. })));
        // Upkeep is never hedged.
        ask(&mut r, 2, Purpose::Notify, 100).expect("sent");
        assert!(r.pop_due(150).is_none());
        // First attempts answered in 2 ms: a peer is slow after 10 ms (the
        // floor), not after 50.
        for (id, to) in [(9, 3), (10, 4)] {
            ask(&mut r, to, op, 1_000).expect("sent");
            assert!(r.answered(peer(to).id, id, 1_002).is_some());
        }
        assert_eq!(r.hedge_ms(), 10);
        // Slower answers stretch it, up to the timeout.
        for (id, to) in [(11, 5), (12, 6), (13, 7), (14, 8)] {
            ask(&mut r, to, op, 2_000).expect("sent");
            assert!(r.answered(peer(to).id, id, 2_090).is_some());
        }
        assert!(r.hedge_ms() > 10 && r.hedge_ms() <= 100, "{}", r.hedge_ms());
    }

    #[test]
    fn an_operation_that_ends_frees_its_slots_at_once() {
        let mut r = table(4);
        let (a, b) = (Purpose::Op(OpId(1)), Purpose::Op(OpId(2)));
        ask(&mut r, 1, a, 0).expect("sent");
        ask(&mut r, 2, a, 0).expect("sent");
        ask(&mut r, 3, b, 0).expect("sent");
        assert!(r.answered(peer(2).id, 8, 1).is_some(), "one answered");
        ask(&mut r, 4, a, 0).expect("sent");
        ask(&mut r, 5, b, 0).expect("sent");
        assert!(matches!(ask(&mut r, 6, b, 0), Err(NotSent::Full)));
        r.cancel_op(OpId(1));
        assert!(r.answered(peer(1).id, 7, 2).is_none(), "cancelled");
        assert!(!r.is_out(peer(4), a), "cancelled");
        assert!(r.is_out(peer(3), b), "the other op's request stays");
        ask(&mut r, 6, b, 0).expect("room again");
        ask(&mut r, 7, b, 0).expect("room again");
        assert!(matches!(ask(&mut r, 8, b, 0), Err(NotSent::Full)));
        r.cancel_op(OpId(2));
        assert!(r.next_deadline().is_none(), "nothing left out");
    }

    #[test]
    fn only_the_peer_asked_may_answer() {
        let mut r = table(8);
        ask(&mut r, 1, Purpose::Notify, 0).expect("sent");
        assert!(r.answered(peer(2).id, 7, 0).is_none(), "another peer");
        assert!(r.answered(peer(1).id, 8, 0).is_none(), "another id");
        assert!(r.answered(peer(1).id, 7, 0).is_some());
        assert_eq!(r.next_deadline(), None);
        assert!(r.answered(peer(1).id, 7, 0).is_none(), "answered once");
    }

    #[test]
    fn answers_to_one_origin_hold_a_small_share_and_free_it_when_acknowledged() {
        let mut r = table(1024);
        for _ in 0..ANSWERS_PER_ORIGIN {
            ask(&mut r, 1, Purpose::Answer, 0).expect("within its share");
        }
        assert!(matches!(
            ask(&mut r, 1, Purpose::Answer, 0),
            Err(NotSent::Full)
        ));
        ask(&mut r, 2, Purpose::Answer, 0).expect("another origin has its own share");
        ask(&mut r, 1, Purpose::Stabilize, 0).expect("upkeep is not charged to it");
        assert!(r.answered(peer(1).id, 7, 0).is_some(), "acknowledged");
        ask(&mut r, 1, Purpose::Answer, 0).expect("room again");
        // All origins together hold at most an eighth of the table.
        let mut r = table(64);
        for to in 0..8 {
            ask(&mut r, to, Purpose::Answer, 0).expect("within the share");
        }
        assert!(matches!(
            ask(&mut r, 9, Purpose::Answer, 0),
            Err(NotSent::Full)
        ));
        for t in [1_000, 2_000] {
            while r.pop_due(t).is_some() {}
        }
        assert!(r.may_answer(peer(9).id), "given up, the charges are gone");
    }

    #[test]
    fn a_full_table_refuses_and_dropping_a_peer_or_an_op_frees_it() {
        let mut r = table(2);
        ask(&mut r, 1, Purpose::Op(OpId(3)), 0).expect("sent");
        ask(&mut r, 2, Purpose::Stabilize, 0).expect("sent");
        assert!(matches!(
            ask(&mut r, 3, Purpose::Notify, 0),
            Err(NotSent::Full)
        ));
        r.cancel_op(OpId(3));
        ask(&mut r, 3, Purpose::Notify, 0).expect("room again");
        let dropped = r.drop_to(peer(2));
        assert_eq!(dropped.len(), 1);
        assert_eq!(dropped[0].purpose, Purpose::Stabilize);
        assert_eq!(r.next_deadline(), Some(100), "peer 3's only");
        r.clear();
        assert_eq!(r.next_deadline(), None);
    }
}
