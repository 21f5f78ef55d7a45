//! Whether the node can do its job: when peers last answered it and last
//! sent it anything, and whether the ring refused it as a member. Health
//! is judged from these, and a user's operation fails loudly when the
//! node is cut off or not admitted.

use std::time::Duration;

use lsp_core::{Error, NodeId};

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
    /// The successor answered the last Notify with a refusal: the ring
    /// does not take this node as a member (a closed ring it is not
    /// enrolled in, or an open one whose work rule it fails).
    refused_as_member: bool,
    isolation_timeout: Duration,
}

impl Vitals {
    pub(super) fn new(cfg: &Config) -> Self {
        let request_life = ms(cfg.request_timeout).saturating_mul(u64::from(cfg.request_attempts));
        Self {
            liveness: Liveness::default(),
            heard: HeardFrom::new(request_life),
            refused_as_member: false,
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

    /// The successor answered a Notify: refused, or taken.
    pub(super) fn notify_answered(&mut self, refused: bool) {
        self.refused_as_member = refused;
    }

    /// Whether a node in `state`, with or without neighbours, serves at
    /// `now_ms`.
    pub(super) fn health(&self, state: NodeState, has_peers: bool, now_ms: u64) -> Health {
        if state == NodeState::Joined && self.refused_as_member {
            return Health::NotAdmitted;
        }
        (self.liveness).health(state, has_peers, now_ms, self.isolation_timeout)
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
