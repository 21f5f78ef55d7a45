//! Requests: sending and retrying them, matching their answers, and
//! serving the ones peers send.

use lsp_core::{Error, NodeId, PeerAddr};

use super::{Chord, GRAVEYARD_PROBES, OpId, Timer, Transmit, ms, ops};
use crate::ring::Point;
use crate::wire::{Message, Request, Response};

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

#[derive(Debug)]
pub(crate) struct Pending {
    pub to: PeerAddr,
    pub frame: Vec<u8>,
    pub attempts_left: u32,
    pub purpose: Purpose,
    pub maintenance: bool,
    /// When the first attempt went out.
    pub sent_ms: u64,
}

impl Chord {
    /// A pending request's attempt timed out: send it again, or give up.
    pub(super) fn request_due(&mut self, id: u64, t: u64) {
        let Some(p) = self.pending.get_mut(&id) else {
            return;
        };
        if p.attempts_left > 0 {
            p.attempts_left -= 1;
            let (to, frame, maint, purpose) = (p.to, p.frame.clone(), p.maintenance, p.purpose);
            self.count_request(purpose, maint, frame.len());
            self.timers
                .set(Timer::Request(id), t + ms(self.cfg.request_timeout));
            self.send_raw(to, frame);
        } else if let Some(p) = self.pending.remove(&id) {
            self.counters.unanswered += 1;
            if self.heard.since(p.to.id, p.sent_ms) {
                // Alive, so the request or its answer was lost on a busy
                // link: this request fails, the peer stays.
                self.counters.unanswered_by_live_peers += 1;
                self.on_lost(p.to, p.purpose, t);
            } else {
                self.on_failure(p.to, p.purpose, t);
            }
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
        let frame = match (Message::Request { id, body }).encode() {
            Ok(frame) => frame,
            Err(e) => {
                self.counters.unencodable += 1;
                if let Purpose::Op(op) = purpose {
                    self.end_op(op, Err(e));
                }
                return;
            }
        };
        let maintenance = match purpose {
            Purpose::Op(op) => self.ops.get(&op).is_some_and(|o| o.internal()),
            Purpose::Replicate | Purpose::Answer => false,
            _ => true,
        };
        self.count_request(purpose, maintenance, frame.len());
        let deadline = now_ms + ms(self.cfg.request_timeout);
        self.timers.set(Timer::Request(id), deadline);
        self.pending.insert(
            id,
            Pending {
                to,
                frame: frame.clone(),
                attempts_left: self.cfg.request_attempts.saturating_sub(1),
                purpose,
                maintenance,
                sent_ms: now_ms,
            },
        );
        self.send_raw(to, frame);
    }

    /// A request could not be sent: too many are pending. Upkeep retries
    /// on its own schedule; an operation fails.
    fn on_overload(&mut self, purpose: Purpose) {
        if let Purpose::Op(op) = purpose {
            self.end_op(op, Err(Error::Overloaded("requests")));
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

    /// Sends the response `body` to request `id` of `to`.
    pub(crate) fn respond(&mut self, to: PeerAddr, id: u64, body: Response) {
        match (Message::Response { id, body }).encode() {
            Ok(frame) => self.send_raw(to, frame),
            Err(_) => self.counters.unencodable += 1,
        }
    }

    pub(crate) fn send_raw(&mut self, to: PeerAddr, frame: Vec<u8>) {
        self.counters.messages_sent += 1;
        self.counters.bytes_sent += frame.len() as u64;
        self.transmits.push_back(Transmit { to, frame });
    }

    pub(super) fn on_response(
        &mut self,
        from: PeerAddr,
        id: u64,
        body: Response,
        len: usize,
        now_ms: u64,
    ) {
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
        self.timers.cancel(Timer::Request(id));
        self.liveness.heard(now_ms);
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
                self.start_route(target, ops::Then::Merge, Some(vec![p.to]), now_ms);
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
                    self.push_primary_range(p.to, now_ms);
                }
            }
            Purpose::Op(op) => self.on_op_response(op, p.to, body, now_ms),
            Purpose::RefreshContacts => self.on_contact_neighbours(p.to, body),
        }
    }

    /// A request to a peer heard from since it was sent went unanswered:
    /// what asked goes on without the answer, and the peer is kept.
    fn on_lost(&mut self, to: PeerAddr, purpose: Purpose, now_ms: u64) {
        match purpose {
            Purpose::Op(op) => self.on_op_failure(op, to, now_ms),
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
                self.timers.set(Timer::Stabilize, now_ms);
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
                if n < GRAVEYARD_PROBES || self.isolated(now_ms).is_some() {
                    self.graveyard.push_back((to, n.min(GRAVEYARD_PROBES)));
                }
            }
            Purpose::Op(op) => {
                self.forget(to);
                self.on_op_failure(op, to, now_ms);
            }
        }
    }

    /// Answers a request.
    pub(super) fn serve(&mut self, from: PeerAddr, body: Request, now_ms: u64) -> Response {
        match body {
            Request::FindSuccessor { target } => self.answer_find(Point(target)),
            Request::GetNeighbours => Response::Neighbours {
                predecessor: self.pred,
                successors: self.succs.clone(),
                farther_predecessors: self.farther_preds.clone(),
            },
            Request::Notify => {
                self.rectify(from, now_ms);
                Response::Ack
            }
            Request::Ping => {
                self.consider_successor(from, now_ms);
                Response::Ack
            }
            Request::StabilizeHint => {
                self.timers.set_earlier(Timer::Stabilize, now_ms);
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
                outcomes: self.store_and_spread(Some(from), &records, now_ms),
            },
            Request::StoreHere { records } => Response::Stored {
                outcomes: self.store_from(&records),
            },
            Request::Forward {
                target,
                origin,
                token,
                ..
            } => self.relay(from, Point(target), origin, token, now_ms),
            Request::Routed { token, peers, hops } => {
                self.on_routed(from, token, peers, hops, now_ms);
                Response::Ack
            }
            Request::Digest {
                from: start,
                digest,
                at,
            } => self.serve_digest(from, Point(start), digest, at, now_ms),
            Request::Fetch { aor } => Response::Records {
                records: self.store.fetch(&aor, self.wall()).unwrap_or_default(),
            },
        }
    }
}
