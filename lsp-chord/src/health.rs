//! Whether a node can do its job, judged from what it sees.
//!
//! A node that had peers and hears no answer from any of them is cut off,
//! whatever its tables say: a registrar on it would store registrations
//! where no caller looks. Answers are the signal, not incoming requests: a
//! joined node asks its successor every stabilize period, so a healthy
//! one hears answers all the time, and a cut-off one hears none.

use std::time::Duration;

use crate::NodeState;

/// How a node is doing, from [`crate::Chord::health`] and the async node's
/// `health()`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Health {
    /// Not in a ring: `join` has not been called or has not finished.
    Joining,
    /// A ring of one by configuration: joined with no bootstrap peer and no
    /// peer met since, or its last peer left gracefully. It serves.
    Alone,
    /// In a ring, and a peer answered within the isolation timeout.
    Healthy,
    /// It had peers, and none has answered for `silent` (at least
    /// [`crate::Config::isolation_timeout`]). It refuses user operations
    /// with `Error::Isolated` until a peer answers again.
    Isolated {
        /// Time since the last answer from any peer.
        silent: Duration,
    },
    /// It joined, but its successor refuses it as a ring member: in a
    /// closed ring it is not enrolled (or its enrollment ran out), in an
    /// open one its Node-ID lacks the work. It refuses user operations
    /// with `Error::NotAdmitted`; it may attach as a client instead.
    NotAdmitted,
    /// It left the ring gracefully and does nothing more.
    Left,
}

impl Health {
    /// Whether the node serves: `Alone` or `Healthy`.
    pub fn is_serving(&self) -> bool {
        matches!(self, Health::Alone | Health::Healthy)
    }

    /// A short lowercase name: `joining`, `alone`, `healthy`, `isolated`,
    /// `not-admitted`, `left`.
    pub fn name(&self) -> &'static str {
        match self {
            Health::Joining => "joining",
            Health::Alone => "alone",
            Health::Healthy => "healthy",
            Health::Isolated { .. } => "isolated",
            Health::NotAdmitted => "not-admitted",
            Health::Left => "left",
        }
    }

    /// Why the node is in this state, for operators.
    pub fn reason(&self) -> String {
        match self {
            Health::Joining => "not in a ring yet".into(),
            Health::Alone => "a ring of one by configuration".into(),
            Health::Healthy => "peers answer".into(),
            Health::Isolated { silent } => {
                format!("no peer has answered for {} s", silent.as_secs())
            }
            Health::NotAdmitted => "the ring refuses it as a member".into(),
            Health::Left => "left the ring".into(),
        }
    }
}

/// When a peer last answered: the one input health is judged from.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Liveness {
    /// Milliseconds (on the node's clock) of the last answer; `None` while
    /// the node has never had a peer, or since its last peer left.
    last_answer_ms: Option<u64>,
}

impl Liveness {
    /// A peer answered a request.
    pub(crate) fn heard(&mut self, now_ms: u64) {
        self.last_answer_ms = Some(now_ms);
    }

    /// The last peer left gracefully: the node is alone, not cut off.
    pub(crate) fn alone_again(&mut self) {
        self.last_answer_ms = None;
    }

    /// The node's health at `now_ms`, in `state`, with `timeout` of
    /// silence meaning isolation. `has_peers`: a successor or predecessor
    /// is known. A node that had peers and has lost every one of them is
    /// isolated at once: it would otherwise take itself for the owner of
    /// every key.
    pub(crate) fn health(
        &self,
        state: NodeState,
        has_peers: bool,
        now_ms: u64,
        timeout: Duration,
    ) -> Health {
        match (state, self.last_answer_ms) {
            (NodeState::Idle, _) => Health::Joining,
            (NodeState::Left, _) => Health::Left,
            (NodeState::Joined, None) => Health::Alone,
            // A client attaching: no member has answered yet.
            (NodeState::Client, None) => Health::Joining,
            (NodeState::Client, Some(at)) => {
                let silent = Duration::from_millis(now_ms.saturating_sub(at));
                if silent >= timeout {
                    Health::Isolated { silent }
                } else {
                    Health::Healthy
                }
            }
            (NodeState::Joined, Some(at)) => {
                let silent = Duration::from_millis(now_ms.saturating_sub(at));
                if silent >= timeout || !has_peers {
                    Health::Isolated { silent }
                } else {
                    Health::Healthy
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TIMEOUT: Duration = Duration::from_secs(15);

    #[test]
    fn a_node_that_never_had_a_peer_is_alone_and_serves() {
        let l = Liveness::default();
        let h = l.health(NodeState::Joined, true, 3_600_000, TIMEOUT);
        assert_eq!(h, Health::Alone);
        assert!(h.is_serving());
    }

    #[test]
    fn silence_from_every_peer_for_the_timeout_is_isolation() {
        let mut l = Liveness::default();
        l.heard(1_000);
        assert_eq!(
            l.health(NodeState::Joined, true, 15_999, TIMEOUT),
            Health::Healthy
        );
        let h = l.health(NodeState::Joined, true, 16_000, TIMEOUT);
        assert_eq!(
            h,
            Health::Isolated {
                silent: Duration::from_secs(15)
            }
        );
        assert!(!h.is_serving());
        assert_eq!(h.reason(), "no peer has answered for 15 s");
        l.heard(40_000);
        assert_eq!(
            l.health(NodeState::Joined, true, 40_001, TIMEOUT),
            Health::Healthy
        );
    }

    #[test]
    fn losing_every_peer_is_isolation_at_once() {
        let mut l = Liveness::default();
        l.heard(1_000);
        let h = l.health(NodeState::Joined, false, 2_000, TIMEOUT);
        assert_eq!(
            h,
            Health::Isolated {
                silent: Duration::from_secs(1)
            }
        );
    }

    #[test]
    fn a_graceful_goodbye_from_the_last_peer_leaves_the_node_alone() {
        let mut l = Liveness::default();
        l.heard(1_000);
        l.alone_again();
        assert_eq!(
            l.health(NodeState::Joined, true, 100_000, TIMEOUT),
            Health::Alone
        );
    }

    #[test]
    fn joining_and_left_do_not_serve() {
        let mut l = Liveness::default();
        l.heard(0);
        for (state, want) in [
            (NodeState::Idle, Health::Joining),
            (NodeState::Left, Health::Left),
        ] {
            let h = l.health(state, true, 1, TIMEOUT);
            assert_eq!(h, want);
            assert!(!h.is_serving());
        }
    }
}
