//! What the node does with each answer to its requests, each request it
//! gets, and each request that fails: the glue between the request table
//! and the parts of the node that asked.

use lsp_core::PeerAddr;

use super::ops::Then;
use super::outputs::Traffic;
use super::replication::{DigestAsked, store_held};
use super::requests::{Due, Purpose};
use super::{Chord, Timer};
use crate::ring::Point;
use crate::wire::{Request, Response};

impl Chord {
    /// Sends a request and remembers it. Fails with `Overloaded` (through
    /// the operation that asked) when too many are pending.
    pub(crate) fn request(&mut self, to: PeerAddr, body: Request, purpose: Purpose, now_ms: u64) {
        let traffic = match purpose {
            Purpose::Op(_) | Purpose::Answer => Traffic::User,
            Purpose::Replicate => Traffic::Replication,
            _ => Traffic::Maintenance,
        };
        // Upkeep retries on its own schedule; operations send their own.
        let _ = self.io.request(to, body, purpose, traffic, now_ms);
    }

    /// An attempt timed out: it is sent again, or its request fails.
    pub(super) fn attempt_due(&mut self, due: Due, now_ms: u64) {
        match due {
            Due::Resend { to, frame, traffic } => {
                let out = self.io.out();
                out.count(traffic, frame.len());
                out.send(to, frame);
            }
            Due::GaveUp(p) => {
                // A peer heard from meanwhile is alive, so the request or
                // its answer was lost on a busy link: this request fails,
                // the peer stays.
                let live = self.heard.since(p.to.id, p.sent_ms);
                self.io.out().unanswered(live);
                if live {
                    self.on_lost(p.to, p.purpose, now_ms);
                } else {
                    self.on_failure(p.to, p.purpose, now_ms);
                }
            }
        }
    }

    pub(super) fn on_response(
        &mut self,
        from: PeerAddr,
        id: u64,
        body: Response,
        len: usize,
        now_ms: u64,
    ) {
        let Some(p) = self.io.answered(from.id, id, len) else {
            return;
        };
        self.liveness.heard(now_ms);
        match p.purpose {
            Purpose::Stabilize => self.on_neighbours(p.to, body, now_ms),
            Purpose::Probe(_) => {
                // Alive after all: look ourselves up through it, in case it
                // is in another ring that should merge with ours.
                let target = Point(self.me.id.0);
                self.start_route(target, Then::Merge, Some(vec![p.to]), now_ms);
            }
            Purpose::CheckPredecessor => self.on_predecessor_neighbours(p.to, body),
            // A successor that refuses our Notify does not take us as a
            // member: say so in health rather than serve as if joined.
            Purpose::Notify => {
                self.refused_as_member = matches!(body, Response::Refused { .. });
            }
            Purpose::Hint | Purpose::Replicate | Purpose::Answer => {}
            Purpose::VerifySuccessor | Purpose::VerifyPredecessor { .. } => {
                self.on_verified(p.to, p.purpose, body, now_ms)
            }
            Purpose::Repair { near } => {
                if near && body == (Response::Digested { matched: false }) {
                    let (table, storage) = (&self.table, &self.storage);
                    self.replicas
                        .push_primary_range(p.to, table, storage, &mut self.io, now_ms);
                }
            }
            Purpose::Op(op) => self.with_ops(now_ms, |ops, cx| ops.on_response(cx, op, p.to, body)),
            Purpose::RefreshContacts => self.on_contact_neighbours(p.to, body),
        }
    }

    /// A request to a peer heard from since it was sent went unanswered:
    /// what asked goes on without the answer, and the peer is kept.
    fn on_lost(&mut self, to: PeerAddr, purpose: Purpose, now_ms: u64) {
        match purpose {
            Purpose::Op(op) => self.with_ops(now_ms, |ops, cx| ops.on_failure(cx, op, to)),
            Purpose::Probe(_) => self.on_failure(to, purpose, now_ms),
            // Upkeep asks again on its own periodic timer.
            _ => {}
        }
    }

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
                let isolated = self.isolated(now_ms).is_some();
                self.table.probe_failed(to, n, isolated);
            }
            Purpose::Op(op) => {
                self.forget(to);
                self.with_ops(now_ms, |ops, cx| ops.on_failure(cx, op, to));
            }
        }
    }

    /// Answers a request.
    pub(super) fn serve(&mut self, from: PeerAddr, body: Request, now_ms: u64) -> Response {
        match body {
            Request::FindSuccessor { target } => self.answer_find(Point(target)),
            Request::GetNeighbours => self.table.neighbours(),
            Request::Notify => {
                self.rectify(from, now_ms);
                Response::Ack
            }
            Request::Ping => {
                self.consider_successor(from, now_ms);
                Response::Ack
            }
            Request::StabilizeHint => {
                self.io.set_timer_earlier(Timer::Stabilize, now_ms);
                Response::Ack
            }
            Request::Leaving {
                predecessor,
                successors,
            } => {
                self.on_leaving(from, predecessor, successors, now_ms);
                Response::Ack
            }
            Request::Store { records } => Response::Stored {
                outcomes: self.replicas.store_and_spread(
                    Some(from),
                    &records,
                    &self.table,
                    &mut self.storage,
                    &mut self.io,
                    now_ms,
                ),
            },
            Request::StoreHere { records } => Response::Stored {
                outcomes: store_held(&records, &self.table, &mut self.storage),
            },
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
            Request::Digest {
                from: start,
                digest,
                at,
            } => {
                let ask = DigestAsked {
                    asker: from,
                    start: Point(start),
                    digest,
                    at,
                };
                let (table, storage) = (&self.table, &self.storage);
                self.replicas
                    .serve_digest(ask, table, storage, &mut self.io, now_ms)
            }
            Request::Fetch { aor } => Response::Records {
                records: self.storage.fetch(&aor),
            },
        }
    }
}
