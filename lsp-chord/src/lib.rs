#![doc = include_str!("../README.md")]
#![cfg_attr(docsrs, feature(doc_cfg))]
#![deny(missing_docs)]

mod config;
mod health;
mod lookup;
mod node;
pub mod ring;
mod rounds;
mod timers;
pub mod wire;

pub use config::{Config, Routing};
pub use health::Health;
// The `lsp-core` items this crate's API uses, so that an adopter needs no
// direct dependency on `lsp-core` to keep in step. (A `//` comment: a doc
// comment here would be prepended to every re-exported item's own.)
pub use lsp_core::{
    self, AccessPolicy, AccessRefusal, Admission, Aor, Binding, Clock, Error, FirstComeFirstServed,
    Identity, LocationService, Lookup, NodeId, PeerAddr, PublicKey, Published, Record, ResourceId,
    SignedRecord, Transport, UnixTime,
};
pub use node::batch::Arrived;
pub use node::{
    Chord, Counters, Event, FINGERS, InputError, NodeState, OpId, Outcome, Status, Transmit,
};
#[cfg(feature = "runtime")]
mod outbox;
#[cfg(feature = "runtime")]
mod runtime;
#[cfg(feature = "runtime")]
#[cfg_attr(docsrs, doc(cfg(feature = "runtime")))]
pub use runtime::{ChordNode, NodeBuilder};
#[cfg(feature = "sim")]
#[cfg_attr(docsrs, doc(cfg(feature = "sim")))]
pub mod sim;

#[cfg(test)]
mod test_peers {
    use lsp_core::{NodeId, PeerAddr};

    /// A peer whose Node-ID is 32 bytes of `b`, at 192.0.2.`b`.
    pub(crate) fn peer(b: u8) -> PeerAddr {
        PeerAddr {
            id: NodeId([b; 32]),
            addr: format!("192.0.2.{b}:7000").parse().expect("addr"),
        }
    }
}
