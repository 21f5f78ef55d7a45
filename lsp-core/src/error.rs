//! The crate's error type.

use serde::{Deserialize, Serialize};

use crate::{Aor, AorFault, NodeId, PublicKey};

/// Everything that can go wrong in `lsp-core`, and in the layers that
/// implement its traits.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The text is not a usable SIP or SIPS AOR.
    #[error("invalid AOR: {0}")]
    InvalidAor(AorFault),
    /// A binding or record field is out of range.
    #[error("invalid binding: {0}")]
    InvalidBinding(String),
    /// 32 bytes that are not an ed25519 public key.
    #[error("invalid public key")]
    InvalidKey,
    /// The signature does not match the record and key: something was altered.
    #[error("signature does not verify")]
    BadSignature,
    /// The record is signed by another key than the one expected.
    #[error("record signed by {found}, expected {expected}")]
    WrongKey {
        /// The key the caller trusts.
        expected: PublicKey,
        /// The key on the record.
        found: PublicKey,
    },
    /// The record is not newer than the one already stored from its publisher.
    #[error("replayed record: version {offered} is not newer than stored version {stored}")]
    Replay {
        /// Version held by the store.
        stored: u64,
        /// Version offered.
        offered: u64,
    },
    /// The access policy refuses this publisher for this AOR; match on
    /// the [`AccessRefusal`] to tell an owner's claim from an anchor's.
    #[error("not authorized: {0}")]
    Unauthorized(AccessRefusal),
    /// No record is stored for the AOR.
    #[error("no record for {0}")]
    NotFound(Aor),
    /// An encoded record over the size limit.
    #[error("record of {size} bytes exceeds the limit of {limit}")]
    RecordTooLarge {
        /// Encoded size.
        size: usize,
        /// The limit in force.
        limit: usize,
    },
    /// A store limit is reached.
    #[error("store full: {0}")]
    StoreFull(StoreLimit),
    /// Bytes that do not decode as the expected message.
    #[error("malformed encoding: {0}")]
    Decode(#[from] DecodeError),
    /// A value could not be encoded: nothing is signed or sent in its
    /// place (no type of this crate fails to encode; a new one might).
    #[error("cannot encode: {0}")]
    Encode(#[source] postcard::Error),
    /// No peer answers at that address, or none of the peers that hold a
    /// key answered.
    #[error("peer {0} is unreachable")]
    Unreachable(NodeId),
    /// A lookup ran out of peers to ask: every peer it could ask was
    /// silent, or led nowhere. `silent` names those that did not answer
    /// (every member given to an attach, when none is up).
    #[error("no route through the ring{}", silent_list(silent))]
    NoRoute {
        /// The peers that did not answer, in the order asked.
        silent: Vec<NodeId>,
    },
    /// The transport could not carry a frame.
    #[error("transport: {0}")]
    Transport(#[from] TransportError),
    /// The operation did not finish in time.
    #[error("timed out")]
    Timeout,
    /// The node is not in a ring yet: neither `join` nor `attach` was
    /// called, or `join` has not finished.
    #[error("not in a ring yet: join or attach first")]
    NotJoined,
    /// The node already joined the ring as a member: it cannot attach to
    /// it as a client too.
    #[error("already a ring member: a member does not attach as a client")]
    AlreadyJoined,
    /// The ring's admission rule does not admit this node as a member
    /// (its Node-ID lacks the proof of work): it may attach as a client.
    #[error("not admitted as a ring member: {0}")]
    NotAdmitted(&'static str),
    /// The node is cut off from its ring: it had peers and none has
    /// answered for `silent`. Nothing it stores would be found by others,
    /// so it takes no write and answers no read until a peer answers.
    #[error("isolated from the ring: no peer has answered for {} s", silent.as_secs())]
    Isolated {
        /// Time since the last answer from any peer.
        silent: std::time::Duration,
    },
    /// The service or transport has shut down.
    #[error("closed")]
    Closed,
    /// A bound on work in flight is reached; retry later.
    #[error("overloaded: too many {0} in flight")]
    Overloaded(&'static str),
    /// The on-disk store failed.
    #[error("storage: {0}")]
    Storage(#[from] StorageError),
    /// The operating system's random source failed.
    #[error("random source: {0}")]
    Random(#[source] getrandom::Error),
    /// Minting a Node-ID with the asked proof of work tried every key of
    /// its budget.
    #[error("no key with {bits} bits of work found")]
    NoWork {
        /// The difficulty asked for.
        bits: u32,
    },
    /// A component answered with something it never answers: a bug.
    #[error("internal error: {0}")]
    Internal(&'static str),
}

/// Why an access policy, or the node asked, refused a publisher's record.
/// It travels in a `Stored` answer (`docs/protocol.md`, section 3).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, thiserror::Error)]
#[non_exhaustive]
pub enum AccessRefusal {
    /// First come, first served: another key published the AOR first, and
    /// its record (or the replay guard a removal leaves) still lives.
    #[error("the AOR is owned by another key")]
    OwnedByAnotherKey,
    /// The AOR's domain has trust anchors, and the publisher is not one.
    #[error("the key is not a trust anchor of {domain}")]
    NotAnAnchor {
        /// The AOR's domain.
        domain: String,
    },
    /// The AOR's domain has no trust anchor, and the policy refuses
    /// unanchored domains.
    #[error("no trust anchor for domain {domain}")]
    NoAnchor {
        /// The AOR's domain.
        domain: String,
    },
    /// The node asked does not hold the AOR's key: ask its owners.
    #[error("the node is not responsible for the key")]
    NotResponsible,
    /// A reason given by a policy of the embedding program's own.
    #[error("{0}")]
    Other(String),
}

fn silent_list(silent: &[NodeId]) -> String {
    if silent.is_empty() {
        return String::new();
    }
    let ids: Vec<String> = silent.iter().map(NodeId::to_string).collect();
    format!(": no answer from {}", ids.join(", "))
}

impl Error {
    /// Whether the service could not do the work now (cut off, full,
    /// overloaded, shut down, not in a ring), as opposed to a verdict on
    /// the request itself (a bad signature, an older version, a key not
    /// allowed): the same request may succeed later.
    pub fn is_unavailable(&self) -> bool {
        matches!(
            self,
            Self::Unreachable(_)
                | Self::NoRoute { .. }
                | Self::Transport(_)
                | Self::Timeout
                | Self::NotJoined
                | Self::NotAdmitted(_)
                | Self::Isolated { .. }
                | Self::Closed
                | Self::Overloaded(_)
                | Self::StoreFull(_)
                | Self::Storage(_)
                | Self::Random(_)
                | Self::Internal(_)
        )
    }
}

/// Why a [`crate::Transport`] did not carry a frame.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TransportError {
    /// A frame over the transport's size limit.
    #[error("frame of {size} bytes exceeds the limit of {limit}")]
    FrameTooLarge {
        /// Frame size.
        size: usize,
        /// The limit in force.
        limit: usize,
    },
    /// No peer answers at that address.
    #[error("peer {0} is unreachable")]
    Unreachable(NodeId),
    /// The peer reached proves another Node-ID than the one expected.
    #[error("peer is {found:?}, expected {expected:?}")]
    PeerIdMismatch {
        /// The Node-ID the caller meant to reach.
        expected: NodeId,
        /// The Node-ID the peer proved.
        found: NodeId,
    },
    /// The peer's enrollment in this closed ring does not hold.
    #[error("the peer is not enrolled: {0}")]
    NotEnrolled(#[source] crate::EnrollmentError),
    /// The peer did not take the frame in time.
    #[error("timed out")]
    Timeout,
    /// This end was closed.
    #[error("closed")]
    Closed,
}

/// Why bytes did not decode as the expected message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// No bytes at all.
    #[error("empty frame")]
    Empty,
    /// A protocol version this build does not speak.
    #[error("protocol version {found}, expected {expected}")]
    Version {
        /// The version the bytes carry.
        found: u8,
        /// The version this build speaks.
        expected: u8,
    },
    /// Bytes left over after one whole value.
    #[error("{0} trailing bytes")]
    TrailingBytes(usize),
    /// A frame over the size limit.
    #[error("frame of {size} bytes exceeds the limit of {limit}")]
    TooLong {
        /// Frame size.
        size: usize,
        /// The limit in force.
        limit: usize,
    },
    /// Not what the encoder writes for that value (a varint longer than
    /// needed, say): refused, so that no two peers read one frame two ways.
    #[error("not the canonical encoding (a varint longer than needed?)")]
    NotCanonical,
    /// A list or text longer than the protocol allows.
    #[error("{what}: {count} over the limit of {limit}")]
    OverLimit {
        /// What is too long.
        what: &'static str,
        /// Its length.
        count: usize,
        /// The limit.
        limit: usize,
    },
    /// The bytes are not a value of the expected type.
    #[error("{0}")]
    Postcard(#[source] postcard::Error),
}

/// The store limit a write would pass, with its value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[non_exhaustive]
pub enum StoreLimit {
    /// Most records a store holds.
    #[error("at most {limit} records")]
    Records {
        /// The limit in force.
        limit: u64,
    },
    /// Most bytes of records a store holds.
    #[error("at most {limit} bytes of records")]
    Bytes {
        /// The limit in force.
        limit: u64,
    },
    /// Most records of one publisher without authority over their AORs.
    #[error("at most {limit} records of one publisher")]
    PerPublisher {
        /// The limit in force.
        limit: u64,
    },
    /// Most bindings in one record.
    #[error("at most {limit} bindings per record")]
    BindingsPerRecord {
        /// The limit in force.
        limit: u64,
    },
}

impl From<StoreLimit> for Error {
    fn from(limit: StoreLimit) -> Self {
        Self::StoreFull(limit)
    }
}

/// The on-disk store failed: what it was doing, and why.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{what}: {source}")]
pub struct StorageError {
    what: &'static str,
    #[source]
    source: std::sync::Arc<dyn std::error::Error + Send + Sync>,
}

impl StorageError {
    /// `what` failed because of `source`.
    pub fn new(
        what: &'static str,
        source: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> Self {
        Self {
            what,
            source: std::sync::Arc::from(source.into()),
        }
    }

    /// What the store was doing.
    pub fn what(&self) -> &'static str {
        self.what
    }
}

/// Equal when doing the same thing for the same reason, as far as the
/// source's message tells.
impl PartialEq for StorageError {
    fn eq(&self, other: &Self) -> bool {
        self.what == other.what && self.source.to_string() == other.source.to_string()
    }
}

impl Eq for StorageError {}
