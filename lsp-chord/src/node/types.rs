//! What the node hands out and keeps track of: its outputs, its
//! operations' outcomes, its status, and what its deadlines are for.

use std::time::Duration;

use lsp_core::store::StoreStats;
use lsp_core::{Binding, DecodeError, Error, Lookup, PeerAddr, Published, SignedRecord};

use crate::config::Config;
use crate::health::Health;

/// A duration in whole milliseconds, the unit of every deadline.
pub(crate) fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// Identifies an operation started by a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct OpId(pub u64);

/// A frame for the driver to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transmit {
    /// The peer to send it to.
    pub to: PeerAddr,
    /// The encoded message.
    pub frame: Vec<u8>,
}

/// What a finished operation produced.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Outcome {
    /// The node is in the ring.
    Joined,
    /// The record is stored.
    Published(Published),
    /// The live bindings of the AOR queried, highest q first.
    Bindings(Vec<Binding>),
    /// The verified records of the AOR fetched.
    Records(Vec<SignedRecord>),
    /// The peers responsible for the key, and the hops it took.
    Lookup(Lookup),
    /// The node uses the ring as a client (see [`crate::Chord::attach`]).
    Attached,
    /// The node has handed over its data and left.
    Left,
}

/// An output of [`crate::Chord::poll_event`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// An operation finished.
    Done {
        /// The operation.
        op: OpId,
        /// Its outcome.
        outcome: Result<Outcome, Error>,
    },
}

/// Where the node is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodeState {
    /// Created; `join` not called or not finished.
    Idle,
    /// Part of a ring (possibly a ring of one).
    Joined,
    /// Uses a ring through its members without joining it
    /// ([`crate::Chord::attach`]).
    Client,
    /// Left gracefully; it does nothing more.
    Left,
}

/// Message and byte counts, by what the traffic was for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Counters {
    /// Frames sent (requests, retransmissions and responses).
    pub messages_sent: u64,
    /// Bytes of frames sent.
    pub bytes_sent: u64,
    /// Frames received.
    pub messages_received: u64,
    /// Bytes of frames received.
    pub bytes_received: u64,
    /// Ring upkeep (stabilize, notify, predecessor checks, finger lookups):
    /// requests sent and their responses.
    pub maintenance_messages: u64,
    /// Bytes of ring upkeep.
    pub maintenance_bytes: u64,
    /// Replication and hand-off: requests sent and their responses.
    pub replication_messages: u64,
    /// Bytes of replication and hand-off.
    pub replication_bytes: u64,
    /// Repair digests this node answered that differed from its own: each
    /// pushed the range's records to the asker.
    pub digests_differed: u64,
    /// Frames that did not decode.
    pub malformed: u64,
    /// Requests that got no answer after every attempt.
    pub unanswered: u64,
    /// Of those, the requests to a peer that sent something meanwhile: lost
    /// on a busy link, so the peer was kept.
    pub unanswered_by_live_peers: u64,
    /// Lookup answers found to be lies (a hint not closer than its giver,
    /// neighbours claimed farther apart than the ring's density allows);
    /// each liar was dropped from its lookup.
    pub lies: u64,
    /// Frames the async node dropped because the peer's send queue was
    /// full (a peer that does not read); the state machine never sets it.
    pub sends_dropped: u64,
    /// Messages not sent because they could not be encoded (none of this
    /// crate's messages fails to; counted so that a new one would show).
    pub unencodable: u64,
}

/// A node's view of the ring, for operators and tests.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Status {
    /// This node.
    pub me: PeerAddr,
    /// Where it is in its life.
    pub state: NodeState,
    /// Its predecessor.
    pub predecessor: Option<PeerAddr>,
    /// Its successor list.
    pub successors: Vec<PeerAddr>,
    /// Distinct fingers, nearest first.
    pub fingers: Vec<PeerAddr>,
    /// What its store holds.
    pub store: StoreStats,
    /// Estimated number of nodes in the ring.
    pub estimated_size: f64,
    /// Whether the node serves, as of its latest input.
    pub health: Health,
    /// Its neighbours are settled: it has a predecessor, and its successor
    /// named it as its own predecessor in the latest stabilize round. A
    /// node alone in its ring is settled too.
    pub settled: bool,
    /// Traffic counts.
    pub counters: Counters,
}

/// What a deadline (other than a request's) is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Timer {
    /// The operation's deadline.
    Op(OpId),
    /// A recursive lookup's wait for its answer.
    OpStep(OpId),
    Stabilize,
    FixFingers,
    CheckPredecessor,
    /// Ping a dropped peer again.
    Probe,
    /// Reclaim expired records.
    Purge,
    /// A repair round.
    Repair,
}

impl Timer {
    /// How often a periodic timer fires; `None` for an operation's.
    pub(crate) fn period(self, cfg: &Config) -> Option<Duration> {
        match self {
            Timer::Op(_) | Timer::OpStep(_) => None,
            Timer::Stabilize => Some(cfg.stabilize_interval),
            Timer::FixFingers => Some(cfg.fix_fingers_interval),
            Timer::CheckPredecessor | Timer::Probe => Some(cfg.check_predecessor_interval),
            Timer::Purge => Some(cfg.purge_interval),
            Timer::Repair => Some(cfg.repair_interval),
        }
    }
}

/// Why the node did not take a frame. Nothing else changed: a malformed
/// frame is counted, and a request whose id could be read is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum InputError {
    /// The node has left; it takes nothing more.
    #[error("the node has left")]
    Closed,
    /// The frame did not decode.
    #[error("malformed frame: {0}")]
    Malformed(#[from] DecodeError),
    /// The frame carries this node's own Node-ID as its sender.
    #[error("a frame from this node's own Node-ID")]
    FromItself,
}
