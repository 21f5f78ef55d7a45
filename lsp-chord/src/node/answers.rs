//! What becomes of this node's own requests: answered, slow to be
//! answered, failed, or given up. Each outcome goes to the part that asked.

use lsp_core::PeerAddr;

use super::ops::Then;
use super::outputs::Traffic;
use super::requests::{Pending, Purpose};
use super::{Chord, Timer, vitals};
use crate::ring::Point;
use crate::wire::{RefusalCode, Request, Response};

impl Chord {
    /// A request to `to` has gone unanswered for the hedge delay: an
    /// operation may ask another peer meanwhile; upkeep waits.
    pub(super) fn slow(&mut self, to: PeerAddr, purpose: Purpose, now_ms: u64) {
        self.io.suspect(to.id, now_ms);
        if let Purpose::Op(op) = purpose {
            self.with_ops(now_ms, |ops, cx| ops.on_slow(cx, op, to));
        }
    }

    /// Every attempt of a request went unanswered. A peer heard from
    /// meanwhile is alive, so the request or its answer was lost on a busy
    /// link: this request fails, the peer stays.
    pub(super) fn gave_up(&mut self, p: Pending, now_ms: u64) {
        let live = self.vitals.heard_since(p.to.id, p.sent_ms);
        self.io.out().unanswered(live);
        if !live {
            self.io.suspect(p.to.id, now_ms);
        }
        match (live, p.purpose) {
            (false, purpose) | (true, purpose @ Purpose::Probe(_)) => {
                self.on_failure(p.to, purpose, now_ms)
            }
            (true, Purpose::Op(op)) => {
                self.with_ops(now_ms, |ops, cx| ops.on_failure(cx, op, p.to))
            }
            // Upkeep asks again on its own periodic timer.
            (true, _) => {}
        }
    }

    /// The answer to one of this node's requests, to the part that asked.
    pub(super) fn on_response(
        &mut self,
        from: PeerAddr,
        id: u64,
        body: Response,
        len: usize,
        now_ms: u64,
    ) {
        let Some(p) = self.io.answered(from.id, id, len, now_ms) else {
            return;
        };
        self.vitals.answered(now_ms);
        let (to, io) = (p.to, &mut self.io);
        match p.purpose {
            Purpose::Stabilize => self.table.on_stabilize_answer(to, body, io, now_ms),
            Purpose::CheckPredecessor => self.table.on_predecessor_answer(to, body),
            Purpose::VerifySuccessor | Purpose::VerifyPredecessor { .. } => {
                self.table.on_verified(to, p.purpose, body, io, now_ms)
            }
            // Alive after all: look ourselves up through it, in case it is
            // in another ring that should merge with ours.
            Purpose::Probe(_) => {
                let me = Point::from(self.me.id);
                self.start_route(me, Then::Merge, Some(vec![to]), now_ms);
            }
            // A successor that refuses our Notify does not take us as a
            // member: say so in health rather than serve as if joined.
            // Another refusal (not in a ring yet, busy) says nothing of
            // admission.
            Purpose::Notify => {
                let refused = match body {
                    Response::Refused {
                        code: RefusalCode::NotAdmitted,
                        ..
                    } => true,
                    Response::Refused { .. } => return,
                    _ => false,
                };
                let succs = self.table.succs();
                if let Some(next) = self.vitals.notify_answered(to.id, refused, succs) {
                    let _ = io.request(
                        next,
                        Request::Notify,
                        p.purpose,
                        Traffic::Maintenance,
                        now_ms,
                    );
                }
            }
            Purpose::Hint | Purpose::Replicate | Purpose::Answer => {}
            Purpose::Repair { near } => {
                if near && body == (Response::Digested { matched: false }) {
                    let (table, storage) = (&self.table, &self.storage);
                    self.replicas
                        .push_primary_range(to, table, storage, io, now_ms);
                }
            }
            Purpose::Op(op) => self.with_ops(now_ms, |ops, cx| ops.on_response(cx, op, to, body)),
            Purpose::RefreshContacts => self.contacts.on_neighbours(to, body, self.me),
        }
    }

    /// A request to `to` failed: the peer is dead, or could not be reached.
    pub(super) fn on_failure(&mut self, to: PeerAddr, purpose: Purpose, now_ms: u64) {
        match purpose {
            Purpose::Stabilize => {
                self.forget(to);
                // Try the next successor at once.
                self.io.set_timer(Timer::Stabilize, now_ms);
            }
            Purpose::Notify | Purpose::CheckPredecessor | Purpose::RefreshContacts => {
                self.forget(to)
            }
            Purpose::Hint
            | Purpose::Replicate
            | Purpose::Answer
            | Purpose::Repair { .. }
            | Purpose::VerifySuccessor
            | Purpose::VerifyPredecessor { .. } => {}
            Purpose::Probe(n) => {
                // An isolated node keeps probing: its buried peers are its
                // only way back into the ring.
                let isolated = vitals::isolated(self.health_at(now_ms)).is_some();
                self.table.probe_failed(to, n, isolated);
            }
            Purpose::Op(op) => {
                self.forget(to);
                self.with_ops(now_ms, |ops, cx| ops.on_failure(cx, op, to));
            }
        }
    }

    /// Drops a peer found dead from the routing table and the contacts.
    pub(super) fn forget(&mut self, peer: PeerAddr) {
        self.table.forget(peer);
        self.contacts.drop_peer(peer);
    }
}
