//! Recursive routing: each hop forwards the lookup and the node that knows
//! the answer sends it straight to the originator. Hops acknowledge a
//! forward at once, so each hop routes around a dead next hop; if no
//! answer comes, the originator carries on iteratively.

use lsp_core::PeerAddr;

use super::ops::Phase;
use super::{Chord, NodeState, OpId, Purpose, Timer};
use crate::ring::Point;
use crate::wire::{Request, Response};

/// Forwards this node is responsible for until the next hop acknowledges.
#[derive(Debug)]
pub(crate) struct Relay {
    target: Point,
    origin: PeerAddr,
    token: u64,
    hops: u32,
    alternatives: Vec<PeerAddr>,
}

/// A forward that has travelled this far is dropped.
const MAX_RELAY_HOPS: u32 = 64;

impl Chord {
    /// Serves a `Forward`: answer the origin, or pass it on.
    pub(crate) fn relay(
        &mut self,
        target: Point,
        origin: PeerAddr,
        token: u64,
        hops: u32,
        now_ms: u64,
    ) -> Response {
        if self.state != NodeState::Joined {
            return Response::Refused {
                reason: "not in the ring".into(),
            };
        }
        let t = now_ms;
        if let Some(peers) = self.responsible_for(target) {
            let routed = Request::Routed { token, peers, hops };
            if origin.id == self.me.id {
                return Response::Ack;
            }
            self.request(origin, routed, Purpose::Answer, t);
            return Response::Ack;
        }
        if hops >= MAX_RELAY_HOPS || self.relays.len() >= self.cfg.max_pending_requests {
            return Response::Refused {
                reason: "cannot route further".into(),
            };
        }
        let mut hints = self.closest_preceding(target, 3);
        if hints.is_empty() {
            return Response::Refused {
                reason: "no route".into(),
            };
        }
        let next = hints.remove(0);
        let key = self.next_relay;
        self.next_relay += 1;
        self.relays.insert(
            key,
            Relay {
                target,
                origin,
                token,
                hops,
                alternatives: hints,
            },
        );
        self.forward(key, next, t);
        Response::Ack
    }

    fn forward(&mut self, key: u64, to: PeerAddr, now_ms: u64) {
        let Some(r) = self.relays.get(&key) else {
            return;
        };
        let body = Request::Forward {
            target: r.target.0,
            origin: r.origin,
            token: r.token,
            hops: r.hops + 1,
        };
        self.request(to, body, Purpose::Relay(key), now_ms);
    }

    /// The next hop took the forward (`answered`) or did not; then the
    /// next alternative gets it.
    pub(crate) fn relay_settled(&mut self, key: u64, answered: bool, now_ms: u64) {
        if answered {
            self.relays.remove(&key);
            return;
        }
        let next = self
            .relays
            .get_mut(&key)
            .and_then(|r| (!r.alternatives.is_empty()).then(|| r.alternatives.remove(0)));
        match next {
            Some(to) => self.forward(key, to, now_ms),
            None => {
                self.relays.remove(&key);
            }
        }
    }

    /// The answer to one of our recursive lookups.
    pub(crate) fn on_routed(&mut self, token: u64, peers: Vec<PeerAddr>, hops: u32, now_ms: u64) {
        let found = self.ops.iter().find_map(|(id, op)| match &op.phase {
            Phase::Route { token: Some(t), .. } if *t == token => Some(*id),
            _ => None,
        });
        let Some(id) = found else { return };
        if peers.is_empty() {
            self.recursion_stalled(id, now_ms);
            return;
        }
        // A forward still unanswered is stale from here on.
        self.pending.retain(|_, p| p.purpose != Purpose::Op(id));
        self.timers.cancel(Timer::OpStep(id));
        if let Some(Phase::Route { lookup, token, .. }) =
            self.ops.get_mut(&id).map(|o| &mut o.phase)
        {
            *token = None;
            lookup.on_routed(peers, hops);
        }
        self.drive_lookup(id, now_ms);
    }

    /// No answer came back: carry on iteratively from our own table.
    pub(crate) fn recursion_stalled(&mut self, id: OpId, now_ms: u64) {
        let Some(Phase::Route { lookup, .. }) = self.ops.get(&id).map(|o| &o.phase) else {
            return;
        };
        let target = lookup.target();
        let fresh = self.closest_preceding(target, 8);
        let owners = fresh
            .is_empty()
            .then(|| self.responsible_for(target))
            .flatten();
        self.timers.cancel(Timer::OpStep(id));
        if let Some(Phase::Route {
            lookup,
            recursive,
            token,
            ..
        }) = self.ops.get_mut(&id).map(|o| &mut o.phase)
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
        self.drive_lookup(id, now_ms);
    }
}
