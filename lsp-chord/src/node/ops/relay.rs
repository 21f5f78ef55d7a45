//! Recursive routing, with answers only to an authenticated origin. A
//! node that gets a `Forward` from its origin resolves the target itself
//! (from its own table, or by a lookup of its own) and sends `Routed`
//! back to that origin, the peer the transport authenticated. A `Forward`
//! whose origin is not its sender is refused: passing it on hop by hop and
//! answering the origin from the last hop would let anyone aim `Routed`
//! at any address. If no answer comes, the originator carries on
//! iteratively.

use lsp_core::PeerAddr;

use super::{Ctx, OpId, Ops, Phase, Then};
use crate::node::outputs::Traffic;
use crate::node::requests::Purpose;
use crate::node::types::{NodeState, Timer};
use crate::ring::Point;
use crate::wire::{RefusalCode, Request, Response};

/// Lookups one origin may have this node run for it at once.
const PROXIED_PER_ORIGIN: usize = 4;

impl Ops {
    /// Serves a `Forward` from `from`.
    pub(in crate::node) fn relay(
        &mut self,
        cx: &mut Ctx<'_>,
        from: PeerAddr,
        target: Point,
        origin: PeerAddr,
        token: u64,
    ) -> Response {
        if cx.state != NodeState::Joined {
            return Response::refused(RefusalCode::NotInRing, "not in the ring");
        }
        if origin.id != from.id {
            return Response::refused(
                RefusalCode::Invalid,
                "the origin of a Forward must be its sender",
            );
        }
        // The answer holds a pending slot until the origin acknowledges it:
        // an origin that does not gets no more work done for it.
        if !cx.io.may_answer(from.id) {
            return Response::refused(RefusalCode::Busy, "too many answers unacknowledged");
        }
        // The answer goes where the sender's connection comes from: a node
        // behind NAT, or bound to an unspecified address, cannot name it.
        let origin = from;
        if let Some(peers) = cx.table.responsible_for(target) {
            answer_proxied(cx, origin, token, peers, 0);
            return Response::Ack;
        }
        let (mine, all) = self.proxied(origin);
        if mine >= PROXIED_PER_ORIGIN || all >= cx.cfg.max_operations / 4 {
            return Response::refused(RefusalCode::Busy, "too many lookups for others");
        }
        self.start_route(cx, target, Then::Proxy { origin, token }, None);
        Response::Ack
    }

    /// Lookups run for `origin`, and for anyone.
    fn proxied(&self, origin: PeerAddr) -> (usize, usize) {
        let mut counts = (0, 0);
        for op in self.running.values() {
            if let Phase::Route {
                then: Then::Proxy { origin: o, .. },
                ..
            } = &op.phase
            {
                counts.1 += 1;
                counts.0 += usize::from(*o == origin);
            }
        }
        counts
    }

    /// The answer to one of our recursive lookups, from the peer it was
    /// forwarded to.
    pub(in crate::node) fn on_routed(
        &mut self,
        cx: &mut Ctx<'_>,
        from: PeerAddr,
        token: u64,
        peers: Vec<PeerAddr>,
        hops: u32,
    ) {
        let found = self.running.iter().find_map(|(id, op)| match &op.phase {
            Phase::Route {
                token: Some(t),
                lookup,
                ..
            } if *t == token && lookup.asking().is_some_and(|a| a.id == from.id) => Some(*id),
            _ => None,
        });
        let Some(id) = found else { return };
        if peers.is_empty() {
            self.recursion_stalled(cx, id);
            return;
        }
        // A forward still unanswered is stale from here on.
        cx.io.cancel_requests_of(id);
        cx.io.cancel_timer(Timer::OpStep(id));
        if let Some(Phase::Route { lookup, token, .. }) =
            self.running.get_mut(&id).map(|o| &mut o.phase)
        {
            *token = None;
            lookup.on_routed(peers, hops);
        }
        self.drive_lookup(cx, id);
    }

    /// No answer came back: carry on iteratively from our own table.
    pub(in crate::node) fn recursion_stalled(&mut self, cx: &mut Ctx<'_>, id: OpId) {
        let Some(Phase::Route { lookup, .. }) = self.running.get(&id).map(|o| &o.phase) else {
            return;
        };
        let target = lookup.target();
        let fresh = cx.table.closest_preceding(target, 8);
        let owners = fresh
            .is_empty()
            .then(|| cx.table.responsible_for(target))
            .flatten();
        cx.io.cancel_timer(Timer::OpStep(id));
        if let Some(Phase::Route {
            lookup,
            recursive,
            token,
            ..
        }) = self.running.get_mut(&id).map(|o| &mut o.phase)
        {
            *recursive = false;
            *token = None;
            match owners {
                Some(owners) => {
                    let hops = lookup.hops();
                    lookup.on_routed(owners, hops);
                }
                None => lookup.restart(fresh),
            }
        }
        self.drive_lookup(cx, id);
    }
}

/// A lookup run for `origin` ended: send it what was found (nothing
/// when it failed, so that it carries on at once).
pub(super) fn answer_proxied(
    cx: &mut Ctx<'_>,
    origin: PeerAddr,
    token: u64,
    peers: Vec<PeerAddr>,
    hops: u32,
) {
    let routed = Request::Routed {
        token,
        peers,
        hops: hops + 1,
    };
    let _ = cx
        .io
        .request(origin, routed, Purpose::Answer, Traffic::User, cx.now_ms);
}
