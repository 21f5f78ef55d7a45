//! The wire messages of the Location Service Protocol over Chord.
//!
//! A frame is one byte of [`PROTOCOL_VERSION`] followed by the postcard
//! encoding of a [`Message`]. Postcard is a specified, stable format:
//! unsigned integers are LEB128 varints, enums a varint variant index, a
//! `Vec` a varint length and its items, fixed arrays their bytes. The order
//! of fields and variants below is therefore part of the protocol and is
//! pinned by tests and by `docs/protocol.md`.

use lsp_core::{
    AccessRefusal, Aor, DecodeError, Error, PeerAddr, SignedRecord, StoreLimit, UnixTime,
};
use serde::{Deserialize, Serialize};

/// The version byte every frame starts with.
pub const PROTOCOL_VERSION: u8 = 8;

/// How old a record's version must be to count in a repair digest: about
/// what a write takes to reach every replica, with room to spare. Under a
/// steady stream of writes, two replicas' digests then differ only for
/// what did not arrive, instead of for every write still on its way.
pub const DIGEST_SETTLE: std::time::Duration = std::time::Duration::from_secs(10);

/// The version cut-off of a digest taken at `at` (see [`DIGEST_SETTLE`]).
pub fn settled_before(at: UnixTime) -> u64 {
    at.as_millis()
        .saturating_sub(DIGEST_SETTLE.as_millis() as u64)
}

/// The largest frame this protocol sends or accepts.
pub const MAX_MESSAGE_LEN: usize = 64 * 1024;

/// Most peers in one list (successor lists, routing hints).
pub const MAX_PEERS: usize = 32;

/// Longest refusal text on the wire.
pub const MAX_REASON_LEN: usize = 256;

/// One protocol message: a request, or the response to request `id`.
///
/// Requests and responses are apart on the wire, so a node serves every
/// request kind and takes every response kind by an exhaustive match.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Message {
    /// A request; the responder answers with a [`Message::Response`] of the
    /// same `id`.
    Request {
        /// Chosen by the requester.
        id: u64,
        /// What is asked.
        body: Request,
    },
    /// The answer to the request `id`.
    Response {
        /// The request's id.
        id: u64,
        /// The answer.
        body: Response,
    },
}

/// The request kinds, each with the responses listed in its documentation.
/// Any request may also be answered by [`Response::Refused`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Request {
    /// The successors of `target`, or peers closer to it. Answered by
    /// `Successors` or `Closer`.
    FindSuccessor {
        /// The Node-ID or Resource-ID sought.
        target: [u8; 32],
    },
    /// Stabilize: your predecessor and successor list. Answered by
    /// `Neighbours`.
    GetNeighbours,
    /// Rectify: the sender may be your predecessor. Answered by `Ack`.
    Notify,
    /// Are you alive? Answered by `Ack`.
    Ping,
    /// Store these signed records, and pass on what is new to the other
    /// owners (see `docs/protocol.md`, "Passing on"). Answered by `Stored`.
    Store {
        /// Records to check and keep.
        records: Vec<SignedRecord>,
    },
    /// The records held for an AOR. Answered by `Records`.
    Fetch {
        /// The AOR, in canonical form.
        aor: Aor,
    },
    /// The sender leaves the ring; splice it out. Answered by `Ack`.
    Leaving {
        /// The leaving node's predecessor.
        predecessor: Option<PeerAddr>,
        /// The leaving node's successor list.
        successors: Vec<PeerAddr>,
    },
    /// Your successor has a new predecessor; stabilize now. Answered by
    /// `Ack`.
    StabilizeHint,
    /// Recursive routing: route this lookup on and have the node that knows
    /// the answer send `Routed` to `origin`. Answered by `Ack` as soon as
    /// it is taken on.
    Forward {
        /// The point sought.
        target: [u8; 32],
        /// Where the answer goes.
        origin: PeerAddr,
        /// The origin's random token for this lookup.
        token: u64,
        /// Hops so far, this one included.
        hops: u32,
    },
    /// Recursive routing: the answer to the `Forward` with this token.
    /// Answered by `Ack`.
    Routed {
        /// The token of the lookup.
        token: u64,
        /// The peers responsible for the target, the primary first.
        peers: Vec<PeerAddr>,
        /// Hops the lookup took.
        hops: u32,
    },
    /// Repair: the sender's records for Resource-IDs in `(from, sender]`
    /// hash to `digest` (see `RecordStore::digest_where`). Answered by
    /// `Digested`. A responder whose own digest differs passes its records
    /// of the range back to its predecessor.
    Digest {
        /// The start of the range, excluded: the sender's predecessor.
        from: [u8; 32],
        /// XOR of the BLAKE3 hashes of the records in the range that are
        /// live at `at` and settled: a version below `at` minus
        /// [`DIGEST_SETTLE`].
        digest: [u8; 32],
        /// The sender's wall clock when it took the digest; the receiver
        /// takes its own at the same moment.
        at: UnixTime,
    },
    /// Store these signed records here only: the sender stores them at
    /// each of the other owners itself, so nothing is passed on. Answered
    /// by `Stored`.
    StoreHere {
        /// Records to check and keep.
        records: Vec<SignedRecord>,
    },
    /// `StoreHere` for one record, on condition: refuse it as `Replay`
    /// where the publisher's record held for its AOR is newer than version
    /// `replaces`. A writer that remembers its last version so offers a
    /// version from the clock without overwriting a write it has not seen.
    /// Answered by `Stored`.
    StoreReplacing {
        /// The record to check and keep.
        record: SignedRecord,
        /// The newest version of the publisher's record it may replace.
        replaces: u64,
    },
}

/// The response kinds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Response {
    /// To `FindSuccessor`: the target lies between the responder and
    /// `peers[0]`, or at the responder itself; these are its successors.
    Successors {
        /// The peers responsible for the target, the primary first.
        peers: Vec<PeerAddr>,
    },
    /// To `FindSuccessor`: ask these peers, closest to the target first.
    Closer {
        /// Peers preceding the target, closer than the responder.
        peers: Vec<PeerAddr>,
    },
    /// To `GetNeighbours`.
    Neighbours {
        /// The responder's predecessor, if it knows one.
        predecessor: Option<PeerAddr>,
        /// The responder's successor list.
        successors: Vec<PeerAddr>,
        /// The predecessors before `predecessor` that the responder knows,
        /// nearest first (at most k - 1): with them, its successor learns
        /// the range it holds replicas for.
        farther_predecessors: Vec<PeerAddr>,
    },
    /// To `Notify`, `Ping`, `Leaving`, `StabilizeHint`, `Forward` and
    /// `Routed`.
    Ack,
    /// To `Store`: one outcome per record, in order.
    Stored {
        /// The outcomes.
        outcomes: Vec<StoreOutcome>,
    },
    /// To `Fetch`: the records held; empty when none.
    Records {
        /// The signed records, unchecked: the reader verifies them.
        records: Vec<SignedRecord>,
    },
    /// To any request the responder will not serve.
    Refused {
        /// What the asker may do about it.
        code: RefusalCode,
        /// Why, for people.
        reason: String,
    },
    /// To `Digest`.
    Digested {
        /// The responder holds the same live records in the range.
        matched: bool,
    },
}

impl Response {
    /// A refusal, its reason cut to [`MAX_REASON_LEN`].
    pub fn refused(code: RefusalCode, reason: impl Into<String>) -> Self {
        Self::Refused {
            code,
            reason: clip(reason.into()),
        }
    }
}

/// Why a request was refused, for the asker's program: whether to ask
/// again later, ask another peer, or stop. The reason beside it is for
/// people.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum RefusalCode {
    /// The request's bytes did not decode.
    Malformed,
    /// The responder is not in a ring (not yet, or no longer): ask another
    /// peer, or later.
    NotInRing,
    /// The ring's admission rule does not take the sender as a member
    /// (no enrollment, an expired one, or too little work); it may still
    /// use the ring as a client.
    NotAdmitted,
    /// The sender's share of a budget is spent: ask again later.
    Busy,
    /// The responder does not serve this request kind from this sender (a
    /// client asked for a member's work, say).
    NotServed,
    /// The request is well formed but cannot be served as asked (a
    /// `Forward` whose origin is not its sender, a `Digest` range the node
    /// cannot hold): asking again unchanged gets the same answer.
    Invalid,
}

/// What a storing node did with one record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum StoreOutcome {
    /// Stored.
    Stored,
    /// Already held.
    Unchanged,
    /// The publisher's bindings are removed.
    Removed,
    /// The signature does not verify.
    BadSignature,
    /// Not newer than the stored version.
    Replay {
        /// Version held.
        stored: u64,
        /// Version offered.
        offered: u64,
    },
    /// The access policy refuses it.
    Unauthorized(AccessRefusal),
    /// A store limit is reached.
    Full(StoreLimit),
    /// A field or size is out of range.
    Invalid(String),
    /// The record's key lies outside the ranges this node holds (its own
    /// and the k - 1 before it): the publisher should ask another owner.
    NotResponsible,
}

impl StoreOutcome {
    /// The outcome of a local write.
    pub fn from_result(r: Result<lsp_core::store::Written, Error>) -> Self {
        use lsp_core::store::Written;
        match r {
            Ok(Written::Stored) => Self::Stored,
            Ok(Written::Unchanged) => Self::Unchanged,
            Ok(Written::Removed) => Self::Removed,
            Err(Error::BadSignature) => Self::BadSignature,
            Err(Error::Replay { stored, offered }) => Self::Replay { stored, offered },
            Err(Error::Unauthorized(AccessRefusal::NotResponsible)) => Self::NotResponsible,
            Err(Error::Unauthorized(why)) => Self::Unauthorized(clip_refusal(why)),
            Err(Error::StoreFull(limit)) => Self::Full(limit),
            // The reason alone: the publisher's error says "invalid binding".
            Err(Error::InvalidBinding(why)) => Self::Invalid(clip(why)),
            Err(other) => Self::Invalid(clip(other.to_string())),
        }
    }

    /// The error a publisher sees for a refusal; `None` when accepted.
    pub fn into_error(self) -> Option<Error> {
        match self {
            Self::Stored | Self::Unchanged | Self::Removed => None,
            Self::BadSignature => Some(Error::BadSignature),
            Self::Replay { stored, offered } => Some(Error::Replay { stored, offered }),
            Self::Unauthorized(why) => Some(Error::Unauthorized(why)),
            Self::Full(limit) => Some(Error::StoreFull(limit)),
            Self::Invalid(why) => Some(Error::InvalidBinding(why)),
            Self::NotResponsible => Some(Error::Unauthorized(AccessRefusal::NotResponsible)),
        }
    }
}

/// A refusal whose text fits [`MAX_REASON_LEN`].
fn clip_refusal(r: AccessRefusal) -> AccessRefusal {
    match r {
        AccessRefusal::NotAnAnchor { domain } => AccessRefusal::NotAnAnchor {
            domain: clip(domain),
        },
        AccessRefusal::NoAnchor { domain } => AccessRefusal::NoAnchor {
            domain: clip(domain),
        },
        AccessRefusal::Other(why) => AccessRefusal::Other(clip(why)),
        other => other,
    }
}

/// The longest text a store outcome carries.
fn outcome_text_len(o: &StoreOutcome) -> usize {
    match o {
        StoreOutcome::Invalid(why)
        | StoreOutcome::Unauthorized(
            AccessRefusal::Other(why)
            | AccessRefusal::NotAnAnchor { domain: why }
            | AccessRefusal::NoAnchor { domain: why },
        ) => why.len(),
        _ => 0,
    }
}

fn clip(mut s: String) -> String {
    if s.len() > MAX_REASON_LEN {
        let mut end = MAX_REASON_LEN;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
    }
    s
}

impl Message {
    /// The frame: version byte, then postcard. Fails only for a value
    /// that cannot be encoded ([`Error::Encode`]); nothing is sent then.
    pub fn encode(&self) -> Result<Vec<u8>, Error> {
        let mut out = Vec::with_capacity(256);
        out.push(PROTOCOL_VERSION);
        postcard::to_extend(self, out).map_err(Error::Encode)
    }

    /// Decodes a frame. Anything but exactly one well-formed message of
    /// this version, within the limits, is an error.
    pub fn decode(frame: &[u8]) -> Result<Self, DecodeError> {
        if frame.len() > MAX_MESSAGE_LEN {
            return Err(DecodeError::TooLong {
                size: frame.len(),
                limit: MAX_MESSAGE_LEN,
            });
        }
        let (&version, rest) = frame.split_first().ok_or(DecodeError::Empty)?;
        if version != PROTOCOL_VERSION {
            return Err(DecodeError::Version {
                found: version,
                expected: PROTOCOL_VERSION,
            });
        }
        let msg = match postcard::take_from_bytes::<Message>(rest) {
            Ok((msg, [])) => msg,
            Ok((_, extra)) => return Err(DecodeError::TrailingBytes(extra.len())),
            Err(e) => return Err(DecodeError::Postcard(e)),
        };
        msg.check_limits()?;
        // One value, one encoding: a varint longer than it needs to be (or
        // anything else the encoder would not write) is refused, so that
        // no two peers can read one frame two ways.
        if msg.encode().ok().as_deref() != Some(frame) {
            return Err(DecodeError::NotCanonical);
        }
        Ok(msg)
    }

    /// The id of the request `frame` holds, when its first bytes say it is
    /// one, even if the rest does not decode: such a request is answered
    /// with `Refused` instead of left to time out.
    pub fn request_id(frame: &[u8]) -> Option<u64> {
        let (&PROTOCOL_VERSION, rest) = frame.split_first()? else {
            return None;
        };
        match postcard::take_from_bytes::<(u32, u64)>(rest) {
            Ok(((0, id), _)) => Some(id),
            _ => None,
        }
    }

    fn check_limits(&self) -> Result<(), DecodeError> {
        let peers = match self {
            Message::Request { body, .. } => match body {
                Request::Leaving { successors, .. } => successors.len(),
                Request::Routed { peers, .. } => peers.len(),
                _ => 0,
            },
            Message::Response { body, .. } => match body {
                Response::Neighbours {
                    successors,
                    farther_predecessors,
                    ..
                } => successors.len().max(farther_predecessors.len()),
                Response::Successors { peers } | Response::Closer { peers } => peers.len(),
                Response::Refused { reason, .. } if reason.len() > MAX_REASON_LEN => {
                    return Err(DecodeError::OverLimit {
                        what: "refusal reason bytes",
                        count: reason.len(),
                        limit: MAX_REASON_LEN,
                    });
                }
                Response::Stored { outcomes } => {
                    let longest = outcomes.iter().map(outcome_text_len).max().unwrap_or(0);
                    if longest > MAX_REASON_LEN {
                        return Err(DecodeError::OverLimit {
                            what: "store outcome text bytes",
                            count: longest,
                            limit: MAX_REASON_LEN,
                        });
                    }
                    0
                }
                _ => 0,
            },
        };
        if peers > MAX_PEERS {
            return Err(DecodeError::OverLimit {
                what: "peers in one list",
                count: peers,
                limit: MAX_PEERS,
            });
        }
        Ok(())
    }

    /// The message's id: a request's, or the one a response answers.
    pub fn id(&self) -> u64 {
        match self {
            Message::Request { id, .. } | Message::Response { id, .. } => *id,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lsp_core::{Binding, Identity, NodeId, Record};
    use proptest::prelude::*;
    use rand::rngs::Xoshiro256PlusPlus;
    use rand::{RngExt, SeedableRng};
    use std::net::{IpAddr, SocketAddr};

    fn arb_peer() -> impl Strategy<Value = PeerAddr> {
        (
            any::<[u8; 32]>(),
            any::<[u8; 16]>(),
            any::<bool>(),
            any::<u16>(),
        )
            .prop_map(|(id, ip, v4, port)| {
                let ip = if v4 {
                    IpAddr::from([ip[0], ip[1], ip[2], ip[3]])
                } else {
                    IpAddr::from(ip)
                };
                PeerAddr {
                    id: NodeId(id),
                    addr: SocketAddr::new(ip, port),
                }
            })
    }

    fn arb_record() -> impl Strategy<Value = SignedRecord> {
        (
            "[a-z0-9]{1,12}",
            "[a-z]{1,10}\\.(com|org|net)",
            any::<u64>(),
            0u64..1 << 45,
            any::<u8>(),
        )
            .prop_map(|(user, host, version, expiry, key)| {
                let aor = Aor::parse(&format!("sip:{user}@{host}")).expect("generated AOR");
                let b = Binding::new(format!("sip:{user}@192.0.2.1"), UnixTime(expiry), "c", 1);
                Record {
                    aor,
                    version,
                    bindings: vec![b],
                }
                .sign(&Identity::from_secret_bytes([key; 32]))
                .expect("sign")
            })
    }

    fn arb_outcome() -> impl Strategy<Value = StoreOutcome> {
        prop_oneof![
            Just(StoreOutcome::Stored),
            Just(StoreOutcome::Unchanged),
            Just(StoreOutcome::Removed),
            Just(StoreOutcome::BadSignature),
            (any::<u64>(), any::<u64>())
                .prop_map(|(stored, offered)| StoreOutcome::Replay { stored, offered }),
            Just(StoreOutcome::Unauthorized(AccessRefusal::OwnedByAnotherKey)),
            "[a-z.]{1,40}".prop_map(|domain| StoreOutcome::Unauthorized(
                AccessRefusal::NotAnAnchor { domain }
            )),
            ".{0,40}".prop_map(|why| StoreOutcome::Unauthorized(AccessRefusal::Other(why))),
            any::<u64>().prop_map(|limit| StoreOutcome::Full(StoreLimit::Records { limit })),
            ".{0,40}".prop_map(StoreOutcome::Invalid),
            Just(StoreOutcome::NotResponsible),
        ]
    }

    fn arb_request() -> impl Strategy<Value = Request> {
        let peers = || proptest::collection::vec(arb_peer(), 0..=MAX_PEERS);
        prop_oneof![
            any::<[u8; 32]>().prop_map(|target| Request::FindSuccessor { target }),
            Just(Request::GetNeighbours),
            Just(Request::Notify),
            Just(Request::Ping),
            Just(Request::StabilizeHint),
            proptest::collection::vec(arb_record(), 0..3)
                .prop_map(|records| Request::Store { records }),
            proptest::collection::vec(arb_record(), 0..3)
                .prop_map(|records| Request::StoreHere { records }),
            (arb_record(), any::<u64>())
                .prop_map(|(record, replaces)| Request::StoreReplacing { record, replaces }),
            arb_record().prop_map(|r| Request::Fetch { aor: r.record.aor }),
            (proptest::option::of(arb_peer()), peers()).prop_map(|(predecessor, successors)| {
                Request::Leaving {
                    predecessor,
                    successors,
                }
            }),
            (any::<[u8; 32]>(), arb_peer(), any::<u64>(), any::<u32>()).prop_map(
                |(target, origin, token, hops)| Request::Forward {
                    target,
                    origin,
                    token,
                    hops
                }
            ),
            (any::<u64>(), peers(), any::<u32>())
                .prop_map(|(token, peers, hops)| { Request::Routed { token, peers, hops } }),
            (any::<[u8; 32]>(), any::<[u8; 32]>(), any::<u64>()).prop_map(|(from, digest, at)| {
                Request::Digest {
                    from,
                    digest,
                    at: UnixTime(at),
                }
            }),
        ]
    }

    fn arb_response() -> impl Strategy<Value = Response> {
        let peers = || proptest::collection::vec(arb_peer(), 0..=MAX_PEERS);
        prop_oneof![
            Just(Response::Ack),
            peers().prop_map(|peers| Response::Successors { peers }),
            peers().prop_map(|peers| Response::Closer { peers }),
            (proptest::option::of(arb_peer()), peers(), peers()).prop_map(
                |(predecessor, successors, farther_predecessors)| Response::Neighbours {
                    predecessor,
                    successors,
                    farther_predecessors,
                }
            ),
            proptest::collection::vec(arb_outcome(), 0..4)
                .prop_map(|outcomes| Response::Stored { outcomes }),
            proptest::collection::vec(arb_record(), 0..3)
                .prop_map(|records| Response::Records { records }),
            (0..6u8, ".{0,60}").prop_map(|(code, reason)| Response::Refused {
                code: [
                    RefusalCode::Malformed,
                    RefusalCode::NotInRing,
                    RefusalCode::NotAdmitted,
                    RefusalCode::Busy,
                    RefusalCode::NotServed,
                    RefusalCode::Invalid,
                ][usize::from(code)],
                reason
            }),
            any::<bool>().prop_map(|matched| Response::Digested { matched }),
        ]
    }

    fn arb_message() -> impl Strategy<Value = Message> {
        prop_oneof![
            (any::<u64>(), arb_request()).prop_map(|(id, body)| Message::Request { id, body }),
            (any::<u64>(), arb_response()).prop_map(|(id, body)| Message::Response { id, body }),
        ]
    }

    proptest! {
        #[test]
        fn every_message_round_trips(msg in arb_message()) {
            let frame = msg.encode().expect("encode");
            prop_assert_eq!(frame[0], PROTOCOL_VERSION);
            prop_assert_eq!(Message::decode(&frame)?, msg);
        }

        #[test]
        fn truncated_or_extended_frames_are_refused(msg in arb_message(), cut in any::<prop::sample::Index>()) {
            let frame = msg.encode().expect("encode");
            let at = cut.index(frame.len());
            prop_assert!(Message::decode(&frame[..at]).is_err());
            let mut longer = frame.clone();
            longer.push(0);
            prop_assert!(Message::decode(&longer).is_err());
        }
    }

    #[test]
    fn version_size_and_list_limits() {
        let msg = Message::Request {
            id: 7,
            body: Request::Ping,
        };
        let mut frame = msg.encode().expect("encode");
        assert_eq!(frame, [PROTOCOL_VERSION, 0, 7, 3]);
        frame[0] = PROTOCOL_VERSION - 1;
        assert!(matches!(
            Message::decode(&frame),
            Err(DecodeError::Version { found, .. }) if found == PROTOCOL_VERSION - 1
        ));
        assert!(matches!(
            Message::decode(&vec![1; MAX_MESSAGE_LEN + 1]),
            Err(DecodeError::TooLong { .. })
        ));
        let peer = PeerAddr {
            id: NodeId([1; 32]),
            addr: "127.0.0.1:1".parse().expect("literal"),
        };
        let crowded = Message::Response {
            id: 1,
            body: Response::Closer {
                peers: vec![peer; MAX_PEERS + 1],
            },
        };
        assert!(Message::decode(&crowded.encode().expect("encode")).is_err());
    }

    /// A million random frames, half of them shaped like real ones (right
    /// version, a real kind and variant index): none panics, and whatever decodes
    /// re-encodes to a frame that decodes to the same message.
    #[test]
    fn a_million_random_frames() {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(0x5eed);
        let mut decoded = 0;
        let mut buf = Vec::with_capacity(512);
        for i in 0..1_000_000u32 {
            buf.clear();
            let len = rng.random_range(0..300);
            buf.extend((0..len).map(|_| rng.random::<u8>()));
            if i % 2 == 0 && buf.len() > 3 {
                buf[0] = PROTOCOL_VERSION;
                buf[1] = rng.random_range(0..2);
                buf[2] &= 0x7f;
                buf[3] = rng.random_range(0..11);
            }
            if let Ok(msg) = Message::decode(&buf) {
                decoded += 1;
                assert_eq!(
                    Message::decode(&msg.encode().expect("encode")).as_ref(),
                    Ok(&msg)
                );
            }
        }
        // Short bodies such as Ping decode from random bytes; the check above ran.
        assert!(decoded > 0);
    }
}
