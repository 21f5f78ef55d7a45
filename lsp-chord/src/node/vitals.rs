//! Whether the node can do its job: when peers last answered it and last
//! sent it anything, and whether the ring refused it as a member. Health
//! is judged from these, and a user's operation fails loudly when the
//! node is cut off or not admitted.

use std::time::Duration;

use lsp_core::{Error, NodeId, PeerAddr};

use super::heard::HeardFrom;
use super::types::{NodeState, ms};
use crate::config::Config;
use crate::health::{Health, Liveness};

#[derive(Debug)]
pub(super) struct Vitals {
    /// When a peer last answered.
    liveness: Liveness,
    /// When each peer last sent anything: a request it left unanswered
    /// meanwhile was lost, and does not make it dead.
    heard: HeardFrom,
    /// What the successors answered this node's Notify.
    verdicts: Verdicts,
    isolation_timeout: Duration,
}

impl Vitals {
    pub(super) fn new(cfg: &Config) -> Self {
        let request_life = ms(cfg.request_timeout).saturating_mul(u64::from(cfg.request_attempts));
        Self {
            liveness: Liveness::default(),
            heard: HeardFrom::new(request_life),
            verdicts: Verdicts::default(),
            isolation_timeout: cfg.isolation_timeout,
        }
    }

    /// `peer` sent a valid frame at `now_ms`.
    pub(super) fn heard(&mut self, peer: NodeId, now_ms: u64) {
        self.heard.heard(peer, now_ms);
    }

    /// Whether `peer` sent anything since `since_ms`.
    pub(super) fn heard_since(&self, peer: NodeId, since_ms: u64) -> bool {
        self.heard.since(peer, since_ms)
    }

    /// A peer answered a request at `now_ms`.
    pub(super) fn answered(&mut self, now_ms: u64) {
        self.liveness.heard(now_ms);
    }

    /// The last peer said goodbye: alone, not cut off.
    pub(super) fn alone_again(&mut self) {
        self.liveness.alone_again();
    }

    /// `peer` answered a Notify: refused, or taken. Returns the next
    /// successor to ask after a refusal, while the ring's verdict is open.
    pub(super) fn notify_answered(
        &mut self,
        peer: NodeId,
        refused: bool,
        succs: &[PeerAddr],
    ) -> Option<PeerAddr> {
        self.verdicts.record(peer, refused, succs);
        if !refused || self.verdicts.refused(succs) {
            return None;
        }
        self.verdicts.unasked(succs)
    }

    /// Whether a node in `state`, with or without neighbours, serves at
    /// `now_ms`; `succs` are its successors now.
    pub(super) fn health(
        &self,
        state: NodeState,
        has_peers: bool,
        succs: &[PeerAddr],
        now_ms: u64,
    ) -> Health {
        if state == NodeState::Joined && self.verdicts.refused(succs) {
            return Health::NotAdmitted;
        }
        (self.liveness).health(state, has_peers, now_ms, self.isolation_timeout)
    }
}

/// What the successors answered this node's Notify: taken as a member, or
/// refused (a closed ring it is not enrolled in, or an open one whose work
/// rule it fails). One successor's word is not the ring's: the node counts
/// as refused only when none of its successors took it and most of them
/// refused, so one hostile successor cannot switch a member off. Only the
/// current successors' answers are kept: at most one per successor.
#[derive(Debug, Default)]
struct Verdicts {
    /// (successor, refused).
    said: Vec<(NodeId, bool)>,
}

impl Verdicts {
    fn record(&mut self, peer: NodeId, refused: bool, succs: &[PeerAddr]) {
        let current = |p: &NodeId| succs.iter().any(|s| s.id == *p);
        self.said.retain(|(p, _)| *p != peer && current(p));
        if current(&peer) {
            self.said.push((peer, refused));
        }
    }

    fn said(&self, peer: NodeId) -> Option<bool> {
        self.said.iter().find(|(p, _)| *p == peer).map(|(_, r)| *r)
    }

    /// The first successor that has not answered a Notify.
    fn unasked(&self, succs: &[PeerAddr]) -> Option<PeerAddr> {
        succs.iter().find(|s| self.said(s.id).is_none()).copied()
    }

    /// No successor took this node, and most of them refused it.
    fn refused(&self, succs: &[PeerAddr]) -> bool {
        let votes: Vec<bool> = succs.iter().filter_map(|s| self.said(s.id)).collect();
        let refusals = votes.iter().filter(|r| **r).count();
        refusals == votes.len() && 2 * refusals > succs.len()
    }
}

/// Why a node of this health cannot serve a user's operation, if so.
pub(super) fn unable(health: Health) -> Option<Error> {
    match health {
        Health::NotAdmitted => Some(Error::NotAdmitted(
            "the ring refuses this node as a member; attach as a client",
        )),
        _ => isolated(health),
    }
}

/// `Error::Isolated` when a node of this health is cut off.
pub(super) fn isolated(health: Health) -> Option<Error> {
    match health {
        Health::Isolated { silent } => Some(Error::Isolated { silent }),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::Verdicts;
    use crate::test_peers::peer;

    #[test]
    fn one_refusing_successor_is_not_the_rings_verdict() {
        let succs = [peer(0x20), peer(0x30), peer(0x40)];
        let mut v = Verdicts::default();
        v.record(succs[0].id, true, &succs);
        assert!(!v.refused(&succs), "one of three");
        assert_eq!(v.unasked(&succs), Some(succs[1]));
        v.record(succs[1].id, false, &succs);
        assert!(!v.refused(&succs), "a successor took it");
        v.record(succs[1].id, true, &succs);
        assert!(v.refused(&succs), "two of three refused, none took it");
        // A peer that is no successor has no say, and its word is dropped.
        v.record(peer(0x99).id, false, &succs);
        assert!(v.refused(&succs));
        assert!(!v.refused(&succs[2..]), "the refusers are gone");
        let alone = [peer(0x20)];
        let mut v = Verdicts::default();
        v.record(alone[0].id, true, &alone);
        assert!(v.refused(&alone), "the only successor refused");
    }
}
