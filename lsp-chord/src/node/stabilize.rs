//! The stabilize protocol's requests and answers: what the routing table
//! asks its neighbours, and what their answers change. Every request here
//! is ring upkeep.

use lsp_core::PeerAddr;

use super::io::Io;
use super::outputs::Traffic;
use super::requests::Purpose;
use super::routing::RoutingTable;
use super::types::Timer;
use crate::ring::Point;
use crate::wire::{RefusalCode, Request, Response};

/// Sends an upkeep request; a full request table drops it, and upkeep asks
/// again on its own schedule.
fn ask(io: &mut Io, to: PeerAddr, body: Request, purpose: Purpose, now_ms: u64) {
    let _ = io.request(to, body, purpose, Traffic::Maintenance, now_ms);
}

/// Asks `p` for its neighbours, unless that is already asked.
fn verify(io: &mut Io, p: PeerAddr, purpose: Purpose, now_ms: u64) {
    if !io.is_out(p, purpose) {
        ask(io, p, Request::GetNeighbours, purpose, now_ms);
    }
}

impl RoutingTable {
    /// Answers the stabilize protocol's requests, on a node that is
    /// `joined` or not yet.
    pub(super) fn serve(
        &mut self,
        from: PeerAddr,
        body: Request,
        joined: bool,
        io: &mut Io,
        now_ms: u64,
    ) -> Response {
        match body {
            Request::FindSuccessor { .. } if !joined => {
                return Response::refused(RefusalCode::NotInRing, "not in the ring");
            }
            Request::FindSuccessor { target } => return self.answer_find(Point(target)),
            Request::GetNeighbours => return self.neighbours(),
            Request::Notify if joined => self.rectify(from, io, now_ms),
            Request::Ping if joined => self.consider_successor(from, io, now_ms),
            Request::Notify | Request::Ping => {}
            Request::StabilizeHint => io.set_timer_earlier(Timer::Stabilize, now_ms),
            _ => return Response::refused(RefusalCode::NotServed, "not a stabilize request"),
        }
        Response::Ack
    }

    /// Stabilize: ask the successor for its predecessor and list.
    pub(super) fn stabilize(&mut self, io: &mut Io, now_ms: u64) {
        if let Some(s) = self.successor_to_stabilize() {
            ask(io, s, Request::GetNeighbours, Purpose::Stabilize, now_ms);
        }
    }

    /// The successor answered stabilize: the table takes its neighbours,
    /// and the (new) successor is notified.
    pub(super) fn on_stabilize_answer(
        &mut self,
        s: PeerAddr,
        body: Response,
        io: &mut Io,
        now_ms: u64,
    ) {
        let Response::Neighbours {
            predecessor,
            successors,
            ..
        } = body
        else {
            return;
        };
        let before = self.succs().to_vec();
        let step = self.on_neighbours(s, predecessor, successors);
        if step.again {
            io.set_timer(Timer::Stabilize, now_ms);
        }
        if let Some(first) = step.notify {
            ask(io, first, Request::Notify, Purpose::Notify, now_ms);
        }
        // The predecessor copies this list: when it changed, the
        // predecessor looks again now, not a stabilize period later. A
        // node's list would otherwise lag one period per hop behind a join
        // or a crash, and a young ring's nodes would know one owner where
        // there are k. The hint goes back at most the list's length: past
        // that, a predecessor's copy does not change.
        if self.succs() != before
            && let Some(p) = self.pred()
        {
            ask(io, p, Request::StabilizeHint, Purpose::Hint, now_ms);
        }
    }

    /// Asks the predecessor for its neighbours, not only whether it lives:
    /// that keeps the farther predecessors fresh.
    pub(super) fn check_predecessor(&self, io: &mut Io, now_ms: u64) {
        if let Some(p) = self.pred() {
            ask(
                io,
                p,
                Request::GetNeighbours,
                Purpose::CheckPredecessor,
                now_ms,
            );
        }
    }

    /// The predecessor answered the predecessor check.
    pub(super) fn on_predecessor_answer(&mut self, p: PeerAddr, body: Response) {
        if let Response::Neighbours {
            predecessor,
            farther_predecessors,
            ..
        } = body
        {
            self.on_predecessor_neighbours(p, predecessor, farther_predecessors);
        }
    }

    /// Pings the next dropped peer, in case it is alive in another ring.
    pub(super) fn probe_next(&mut self, io: &mut Io, now_ms: u64) {
        if let Some((g, n)) = self.next_buried() {
            ask(io, g, Request::Ping, Purpose::Probe(n + 1), now_ms);
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
    fn consider_successor(&self, p: PeerAddr, io: &mut Io, now_ms: u64) {
        if !self.succs().is_empty() && self.closer_successor(p) {
            verify(io, p, Purpose::VerifySuccessor, now_ms);
        }
    }

    /// Rectify: `n` says it may be our predecessor. It becomes one once it
    /// names us, asked back, as its first successor: a Notify alone changes
    /// nothing.
    fn rectify(&self, n: PeerAddr, io: &mut Io, now_ms: u64) {
        if self.closer_predecessor(n) {
            let purpose = Purpose::VerifyPredecessor { left: None };
            verify(io, n, purpose, now_ms);
        }
    }

    /// A peer asked back for its neighbours answered.
    pub(super) fn on_verified(
        &mut self,
        p: PeerAddr,
        purpose: Purpose,
        body: Response,
        io: &mut Io,
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
                let adopted = self.verified_successor(p, predecessor, &successors);
                if adopted {
                    io.set_timer(Timer::Stabilize, now_ms);
                }
            }
            Purpose::VerifyPredecessor { left } => {
                let adopted = self.verified_predecessor(
                    p,
                    left,
                    predecessor,
                    &successors,
                    farther_predecessors,
                );
                // The old predecessor should now point at p; tell it to look.
                if let Some(Some(old)) = adopted {
                    ask(io, old, Request::StabilizeHint, Purpose::Hint, now_ms);
                }
            }
            _ => {}
        }
    }

    /// Makes `p` the first successor if it is closer, and stabilizes with
    /// it at once.
    pub(super) fn adopt_now(&mut self, p: PeerAddr, io: &mut Io, now_ms: u64) {
        if self.adopt_if_closer(p) {
            io.set_timer(Timer::Stabilize, now_ms);
        }
    }

    /// A neighbour leaves gracefully: the table splices it out, and the
    /// predecessor it names is asked back before it takes its place.
    /// Returns whether the node has no neighbour left.
    pub(super) fn leaving(
        &mut self,
        from: PeerAddr,
        predecessor: Option<PeerAddr>,
        successors: Vec<PeerAddr>,
        io: &mut Io,
        now_ms: u64,
    ) -> bool {
        if let Some(q) = self.on_leaving(from, predecessor, successors) {
            let purpose = Purpose::VerifyPredecessor {
                left: Some(from.id),
            };
            verify(io, q, purpose, now_ms);
        }
        !self.has_peers()
    }
}
