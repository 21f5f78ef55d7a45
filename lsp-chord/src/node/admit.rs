//! The ring's admission rule ([`lsp_core::Admission`]) at the node's edge:
//! every peer a frame names is checked before the node uses it, and a
//! sender the rule does not admit is served as a client, never as a
//! member. In a closed ring the check is the transport's, at the
//! handshake: a named peer is checked when it is connected to, and the
//! transport says of each frame whether its sender is enrolled.

use lsp_core::{Admission, Error, PeerAddr};

use crate::wire::{Request, Response};

/// How a request from a sender the rule does not admit is served.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum ForStranger {
    /// Acknowledged and nothing more: liveness only.
    Ack,
    /// Served as for anyone: what a client may ask.
    Serve,
    /// Refused: it would make the sender part of the ring.
    Refuse,
}

/// The admission rule, applied to senders and to the peers frames name.
#[derive(Debug, Clone, Copy)]
pub(super) struct Gate {
    rule: Admission,
}

impl Gate {
    pub(super) fn new(rule: Admission) -> Self {
        Self { rule }
    }

    /// Whether `peer` may be a member of this ring.
    pub(super) fn admits(&self, peer: &PeerAddr) -> bool {
        self.rule.admits(&peer.id)
    }

    /// Whether the sender of a frame counts as a member: its Node-ID
    /// passes the rule and, in a closed ring, the transport checked its
    /// enrollment.
    pub(super) fn admits_sender(&self, from: &PeerAddr, enrolled: bool) -> bool {
        self.admits(from) && (enrolled || !self.rule.needs_enrollment())
    }

    /// The peers of `bootstrap` a member may join through: admitted, and
    /// not itself. Refused when its own Node-ID fails the rule, or every
    /// peer given does.
    pub(super) fn bootstrap(
        &self,
        me: &PeerAddr,
        bootstrap: &[PeerAddr],
    ) -> Result<Vec<PeerAddr>, Error> {
        if !self.admits(me) {
            let why = "its Node-ID lacks the ring's proof of work";
            return Err(Error::NotAdmitted(why));
        }
        let others = bootstrap.iter().filter(|p| p.id != me.id);
        let peers: Vec<PeerAddr> = others.clone().filter(|p| self.admits(p)).copied().collect();
        if peers.is_empty() && others.count() > 0 {
            let why = "no bootstrap peer carries the ring's proof of work";
            return Err(Error::NotAdmitted(why));
        }
        Ok(peers)
    }

    fn keep_admitted(&self, peers: &mut Vec<PeerAddr>) {
        peers.retain(|p| self.admits(p));
    }

    /// An answer with every peer it names that the rule does not admit
    /// left out: such a peer is never asked, stored on or read from.
    pub(super) fn answer(&self, mut body: Response) -> Response {
        match &mut body {
            Response::Successors { peers } | Response::Closer { peers } => {
                self.keep_admitted(peers)
            }
            Response::Neighbours {
                predecessor,
                successors,
                farther_predecessors,
            } => {
                if predecessor.is_some_and(|p| !self.admits(&p)) {
                    *predecessor = None;
                }
                self.keep_admitted(successors);
                self.keep_admitted(farther_predecessors);
            }
            _ => {}
        }
        body
    }

    /// A request with the peers it names checked likewise.
    pub(super) fn request(&self, mut body: Request) -> Request {
        match &mut body {
            Request::Leaving {
                predecessor,
                successors,
            } => {
                if predecessor.is_some_and(|p| !self.admits(&p)) {
                    *predecessor = None;
                }
                self.keep_admitted(successors);
            }
            Request::Routed { peers, .. } => self.keep_admitted(peers),
            _ => {}
        }
        body
    }

    /// What a sender the rule does not admit may ask: what a client may.
    /// Anything that would make it part of the ring is refused.
    pub(super) fn for_stranger(body: &Request) -> ForStranger {
        match body {
            // Liveness only: a stranger's ping never makes it a successor.
            Request::Ping => ForStranger::Ack,
            Request::FindSuccessor { .. }
            | Request::GetNeighbours
            | Request::Store { .. }
            | Request::StoreHere { .. }
            | Request::StoreReplacing { .. }
            | Request::Fetch { .. }
            | Request::Forward { .. } => ForStranger::Serve,
            _ => ForStranger::Refuse,
        }
    }
}
