//! The crate's error type.

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
    /// The access policy refuses this publisher for this AOR.
    #[error("not authorized: {0}")]
    Unauthorized(String),
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
    /// A store limit (records, bytes, bindings per record) is reached.
    #[error("store full: {0}")]
    StoreFull(&'static str),
    /// Bytes that do not decode as the expected message.
    #[error("malformed encoding: {0}")]
    Decode(String),
    /// A value could not be encoded: nothing is signed or sent in its
    /// place (no type of this crate fails to encode; a new one might).
    #[error("cannot encode: {0}")]
    Encode(#[source] postcard::Error),
    /// A frame over the transport's size limit.
    #[error("frame of {size} bytes exceeds the limit of {limit}")]
    FrameTooLarge {
        /// Frame size.
        size: usize,
        /// The limit in force.
        limit: usize,
    },
    /// No peer answers at that address.
    #[error("peer {0:?} is unreachable")]
    Unreachable(NodeId),
    /// The peer reached proves another Node-ID than the one expected.
    #[error("peer is {found:?}, expected {expected:?}")]
    PeerIdMismatch {
        /// The Node-ID the caller meant to reach.
        expected: NodeId,
        /// The Node-ID the peer proved.
        found: NodeId,
    },
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
    Storage(String),
    /// The operating system's random source failed.
    #[error("random source: {0}")]
    Random(String),
}
