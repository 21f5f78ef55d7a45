//! The node's one way to act: requests out (with their retries), frames
//! and events for the driver, deadlines, and the node's randomness. Every
//! part of the node that sends, answers or waits does it through here.

use std::time::Duration;

use lsp_core::{Error, NodeId, PeerAddr};
use rand::rngs::Xoshiro256PlusPlus;
use rand::{RngExt, SeedableRng};

use super::outputs::{Outputs, Traffic};
use super::requests::{Due, NotSent, Pending, Purpose, Requests};
use super::suspects::Suspects;
use super::types::{InputError, OpId, Outcome, Timer, ms};
use crate::config::Config;
use crate::timers::TimerTable;
use crate::wire::{Message, RefusalCode, Request, Response};

/// What came due: a request that every attempt left unanswered, or
/// another deadline. (An attempt with more to come is sent again here.)
#[derive(Debug)]
pub(super) enum Fired {
    GaveUp(Pending),
    /// A request to this peer for this purpose is slow to be answered.
    Slow(PeerAddr, Purpose),
    Timer(Timer),
}

#[derive(Debug)]
pub(super) struct Io {
    requests: Requests,
    out: Outputs,
    /// Every deadline but the requests', in milliseconds since the node's
    /// first input.
    timers: TimerTable<Timer>,
    rng: Xoshiro256PlusPlus,
    /// Peers that left requests unanswered and have been silent since.
    suspects: Suspects,
}

impl Io {
    pub(super) fn new(seed: u64, cfg: &Config) -> Self {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
        let first_request_id = rng.random::<u64>() >> 1;
        Self {
            requests: Requests::new(first_request_id, cfg),
            out: Outputs::default(),
            timers: TimerTable::default(),
            rng,
            suspects: Suspects::default(),
        }
    }

    // ---- requests and answers ----

    /// Counts and decodes a frame from `from`. A malformed one changes
    /// nothing else, except that a request whose id can be read is
    /// refused.
    pub(super) fn decode(&mut self, from: PeerAddr, frame: &[u8]) -> Result<Message, InputError> {
        self.out.received(frame.len());
        Message::decode(frame).map_err(|e| {
            self.out.malformed();
            if let Some(id) = Message::request_id(frame) {
                let body =
                    Response::refused(RefusalCode::Malformed, format!("malformed request: {e}"));
                self.out.respond(from, id, body);
            }
            InputError::Malformed(e)
        })
    }

    /// Sends a request and remembers it, counted as `traffic`.
    pub(super) fn request(
        &mut self,
        to: PeerAddr,
        body: Request,
        purpose: Purpose,
        traffic: Traffic,
        now_ms: u64,
    ) -> Result<(), NotSent> {
        let sent = self.requests.start(to, body, purpose, traffic, now_ms);
        match sent {
            Ok(frame) => {
                self.out.count(traffic, frame.len());
                self.out.send(to, frame);
                Ok(())
            }
            Err(e) => {
                if matches!(e, NotSent::Unencodable(_)) {
                    self.out.unencodable();
                }
                Err(e)
            }
        }
    }

    /// Sends the response `body` to request `id` of `to`.
    pub(super) fn respond(&mut self, to: PeerAddr, id: u64, body: Response) {
        self.out.respond(to, id, body);
    }

    /// The request `id`, answered by `from` in `len` bytes, if it was
    /// asked of `from`.
    pub(super) fn answered(
        &mut self,
        from: NodeId,
        id: u64,
        len: usize,
        now_ms: u64,
    ) -> Option<Pending> {
        let p = self.requests.answered(from, id, now_ms)?;
        self.out.count(p.traffic, len);
        Some(p)
    }

    /// Whether a request to `to` for `purpose` is out.
    pub(super) fn is_out(&self, to: PeerAddr, purpose: Purpose) -> bool {
        self.requests.is_out(to, purpose)
    }

    /// Whether `origin` may be sent one more answer to a recursive lookup.
    pub(super) fn may_answer(&self, origin: NodeId) -> bool {
        self.requests.may_answer(origin)
    }

    /// Removes every request to `peer`, which cannot be reached.
    pub(super) fn unreachable(&mut self, peer: PeerAddr) -> Vec<Pending> {
        let dropped = self.requests.drop_to(peer);
        for _ in &dropped {
            self.out.unanswered(false);
        }
        dropped
    }

    /// `peer` left a request unanswered too long at `now_ms`.
    pub(super) fn suspect(&mut self, peer: NodeId, now_ms: u64) {
        self.suspects.slow(peer, now_ms);
    }

    /// `peer` sent something: no longer suspected.
    pub(super) fn heard_from(&mut self, peer: NodeId) {
        self.suspects.heard(peer);
    }

    /// Orders the owners a read asks: this node first, suspects last.
    pub(super) fn order_for_read(&self, me: NodeId, owners: &mut [PeerAddr]) {
        self.suspects.order_for_read(me, owners);
    }

    /// Forgets the requests of operation `op`: their answers are stale.
    pub(super) fn cancel_requests_of(&mut self, op: OpId) {
        self.requests.cancel_op(op);
    }

    // ---- deadlines ----

    pub(super) fn set_timer(&mut self, timer: Timer, at: u64) {
        self.timers.set(timer, at);
    }

    /// Moves `timer` to `at` if that is sooner.
    pub(super) fn set_timer_earlier(&mut self, timer: Timer, at: u64) {
        self.timers.set_earlier(timer, at);
    }

    pub(super) fn cancel_timer(&mut self, timer: Timer) {
        self.timers.cancel(timer);
    }

    /// Sets a periodic timer `period` (jittered by a tenth) after `now_ms`.
    pub(super) fn schedule(&mut self, timer: Timer, now_ms: u64, period: Duration) {
        let d = ms(period).max(1);
        let at = now_ms + d - d / 10 + self.rng.random_range(0..=d / 5);
        self.timers.set(timer, at);
    }

    /// The soonest deadline of any kind.
    pub(super) fn next_deadline(&self) -> Option<u64> {
        match (self.requests.next_deadline(), self.timers.next()) {
            (Some(r), Some(o)) => Some(r.min(o)),
            (r, o) => r.or(o),
        }
    }

    /// What is due at `now_ms`, soonest first; a request's attempt before
    /// another deadline at the same time.
    pub(super) fn pop_due(&mut self, now_ms: u64) -> Option<Fired> {
        loop {
            let attempt_first = match (self.requests.next_deadline(), self.timers.next()) {
                (Some(r), Some(o)) => r <= o,
                (r, _) => r.is_some(),
            };
            let due = if attempt_first {
                self.requests.pop_due(now_ms)
            } else {
                None
            };
            match due {
                Some(Due::Resend { to, frame, traffic }) => {
                    self.out.count(traffic, frame.len());
                    self.out.send(to, frame);
                }
                Some(Due::GaveUp(p)) => return Some(Fired::GaveUp(p)),
                Some(Due::Slow { to, purpose }) => return Some(Fired::Slow(to, purpose)),
                None => return self.timers.pop_due(now_ms).map(Fired::Timer),
            }
        }
    }

    /// Forgets every request and deadline: the node has left.
    pub(super) fn stop(&mut self) {
        self.requests.clear();
        self.timers.clear();
    }

    // ---- outputs ----

    /// Reports that operation `op` finished.
    pub(super) fn finish(&mut self, op: OpId, outcome: Result<Outcome, Error>) {
        self.out.finish(op, outcome);
    }

    pub(super) fn out(&mut self) -> &mut Outputs {
        &mut self.out
    }

    pub(super) fn outputs(&self) -> &Outputs {
        &self.out
    }

    /// A fresh random token.
    pub(super) fn token(&mut self) -> u64 {
        self.rng.random()
    }

    #[cfg(test)]
    pub(super) fn timer(&self, timer: Timer) -> Option<u64> {
        self.timers.get(timer)
    }
}
