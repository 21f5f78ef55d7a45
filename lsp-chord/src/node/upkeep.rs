//! Upkeep: a node becoming a member, what each periodic timer sets off
//! (stabilize, fingers, predecessor checks, probes of buried peers,
//! expiry, repair), and the stabilize protocol's requests and answers,
//! which change the routing table and say whom to tell.

use std::time::Duration;

use lsp_core::PeerAddr;

use super::ops::Then;
use super::{Chord, NodeState, Purpose, Timer};
use crate::ring::Point;
use crate::wire::{Request, Response};

impl Chord {
    pub(crate) fn become_joined(&mut self, succs: Vec<PeerAddr>, t: u64) {
        self.state = NodeState::Joined;
        self.table.joined(succs);
        self.io.set_timer(Timer::Stabilize, t);
        self.io.set_timer(Timer::FixFingers, t);
        let c = &self.cfg;
        let (check, purge, repair) = (
            c.check_predecessor_interval,
            c.purge_interval,
            c.repair_interval,
        );
        self.io.schedule(Timer::CheckPredecessor, t, check);
        self.io.schedule(Timer::Probe, t, check);
        self.io.schedule(Timer::Purge, t, purge);
        self.io.schedule(Timer::Repair, t, repair);
    }

    /// One timer came due.
    pub(super) fn fire(&mut self, timer: Timer, t: u64) {
        let c = &self.cfg;
        let (stabilize, fingers, check) = (
            c.stabilize_interval,
            c.fix_fingers_interval,
            c.check_predecessor_interval,
        );
        let (purge, repair) = (c.purge_interval, c.repair_interval);
        let joined = self.state == NodeState::Joined;
        let client = self.state == NodeState::Client;
        match timer {
            Timer::Op(op) => self.with_ops(t, |ops, cx| ops.expired(cx, op)),
            Timer::OpStep(op) => self.with_ops(t, |ops, cx| ops.recursion_stalled(cx, op)),
            Timer::Stabilize if joined => {
                self.io.schedule(Timer::Stabilize, t, stabilize);
                self.stabilize(t);
            }
            Timer::Stabilize if client => {
                self.io.schedule(Timer::Stabilize, t, stabilize);
                self.refresh_contacts(t);
            }
            Timer::FixFingers if joined => {
                let period = if self.table.take_fast_finger() {
                    (fingers / 50).max(Duration::from_millis(1))
                } else {
                    fingers
                };
                self.io.schedule(Timer::FixFingers, t, period);
                self.fix_next_finger(t);
            }
            Timer::CheckPredecessor if joined => {
                self.io.schedule(Timer::CheckPredecessor, t, check);
                // Asking for its neighbours, not only pinging, keeps the
                // farther predecessors fresh.
                if let Some(p) = self.table.pred() {
                    self.request(p, Request::GetNeighbours, Purpose::CheckPredecessor, t);
                }
            }
            Timer::Probe if joined => {
                self.io.schedule(Timer::Probe, t, check);
                if let Some((g, n)) = self.table.next_buried() {
                    self.request(g, Request::Ping, Purpose::Probe(n + 1), t);
                }
            }
            Timer::Purge if joined => {
                self.io.schedule(Timer::Purge, t, purge);
                self.storage.purge();
            }
            Timer::Repair if joined => {
                self.io.schedule(Timer::Repair, t, repair);
                let (table, storage) = (&self.table, &self.storage);
                self.replicas.start_repair(table, storage, &mut self.io, t);
                if self.isolated(t).is_none() {
                    self.with_ops(t, |ops, cx| ops.start_rehoming(cx));
                }
            }
            _ => {}
        }
    }

    /// Drops a peer found dead from the routing table and the contacts.
    pub(crate) fn forget(&mut self, peer: PeerAddr) {
        self.table.forget(peer);
        self.contacts.drop_peer(peer);
    }

    /// A member's answer to `FindSuccessor`.
    pub(crate) fn answer_find(&self, target: Point) -> Response {
        if self.state != NodeState::Joined {
            return Response::Refused {
                reason: "not in the ring".into(),
            };
        }
        self.table.answer_find(target)
    }

    /// Stabilize: ask the successor for its predecessor and list.
    pub(crate) fn stabilize(&mut self, now_ms: u64) {
        if let Some(s) = self.table.successor_to_stabilize() {
            self.request(s, Request::GetNeighbours, Purpose::Stabilize, now_ms);
        }
    }

    /// The successor answered stabilize: the table takes its neighbours,
    /// and the (new) successor is notified.
    pub(crate) fn on_neighbours(&mut self, s: PeerAddr, body: Response, now_ms: u64) {
        let Response::Neighbours {
            predecessor,
            successors,
            ..
        } = body
        else {
            return;
        };
        let step = self.table.on_neighbours(s, predecessor, successors);
        if step.again {
            self.io.set_timer(Timer::Stabilize, now_ms);
        }
        if let Some(first) = step.notify {
            self.request(first, Request::Notify, Purpose::Notify, now_ms);
        }
    }

    /// A live peer that pings us (its predecessor check, or a probe) and
    /// lies between us and our successor may be a closer successor. This
    /// is how a node whose successor pointer skipped part of the ring
    /// (after a partition heals) learns of the node it skipped, which
    /// pings it as its predecessor; stabilize alone would walk back one
    /// node per round. A Ping alone changes nothing: the peer is asked for
    /// its neighbours, and taken only if it names us as its predecessor
    /// (the skipped node does, a passer-by does not) or if it was our
    /// neighbour before a partition and is in a ring now.
    pub(crate) fn consider_successor(&mut self, p: PeerAddr, now_ms: u64) {
        if self.state == NodeState::Joined
            && !self.table.succs().is_empty()
            && self.table.closer_successor(p)
        {
            self.verify(p, Purpose::VerifySuccessor, now_ms);
        }
    }

    /// Rectify: `n` says it may be our predecessor. It becomes one once it
    /// names us, asked back, as its first successor: a Notify alone changes
    /// nothing.
    pub(crate) fn rectify(&mut self, n: PeerAddr, now_ms: u64) {
        if self.state == NodeState::Joined && self.table.closer_predecessor(n) {
            let purpose = Purpose::VerifyPredecessor { left: None };
            self.verify(n, purpose, now_ms);
        }
    }

    /// Asks `p` for its neighbours, unless that is already asked.
    fn verify(&mut self, p: PeerAddr, purpose: Purpose, now_ms: u64) {
        if !self.io.is_out(p, purpose) {
            self.request(p, Request::GetNeighbours, purpose, now_ms);
        }
    }

    /// A peer asked back for its neighbours answered.
    pub(crate) fn on_verified(
        &mut self,
        p: PeerAddr,
        purpose: Purpose,
        body: Response,
        now_ms: u64,
    ) {
        let Response::Neighbours {
            predecessor,
            successors,
            farther_predecessors,
        } = body
        else {
            return;
        };
        match purpose {
            Purpose::VerifySuccessor => {
                let adopted = self.table.verified_successor(p, predecessor, &successors);
                if adopted {
                    self.io.set_timer(Timer::Stabilize, now_ms);
                }
            }
            Purpose::VerifyPredecessor { left } => {
                let adopted = self.table.verified_predecessor(
                    p,
                    left,
                    predecessor,
                    &successors,
                    farther_predecessors,
                );
                // The old predecessor should now point at p; tell it to look.
                if let Some(Some(old)) = adopted {
                    self.request(old, Request::StabilizeHint, Purpose::Hint, now_ms);
                }
            }
            _ => {}
        }
    }

    /// Makes `p` the first successor if it is closer, and stabilizes with
    /// it at once.
    pub(crate) fn adopt_if_closer(&mut self, p: PeerAddr, now_ms: u64) {
        if self.table.adopt_if_closer(p) {
            self.io.set_timer(Timer::Stabilize, now_ms);
        }
    }

    /// The predecessor answered the predecessor check.
    pub(crate) fn on_predecessor_neighbours(&mut self, p: PeerAddr, body: Response) {
        if let Response::Neighbours {
            predecessor,
            farther_predecessors,
            ..
        } = body
        {
            self.table
                .on_predecessor_neighbours(p, predecessor, farther_predecessors);
        }
    }

    /// A neighbour leaves gracefully: the table splices it out, and the
    /// predecessor it names is asked back before it takes its place.
    pub(crate) fn on_leaving(
        &mut self,
        from: PeerAddr,
        predecessor: Option<PeerAddr>,
        successors: Vec<PeerAddr>,
        now_ms: u64,
    ) {
        if let Some(q) = self.table.on_leaving(from, predecessor, successors) {
            let purpose = Purpose::VerifyPredecessor {
                left: Some(from.id),
            };
            self.verify(q, purpose, now_ms);
        }
        if !self.table.has_peers() {
            // The last peer said goodbye: alone, not cut off.
            self.liveness.alone_again();
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
}
