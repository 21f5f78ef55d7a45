#![doc = include_str!("../README.md")]
#![cfg_attr(docsrs, feature(doc_cfg))]
#![deny(missing_docs)]

mod admission;
mod aor;
mod batch_verify;
mod checked;
mod clock;
#[cfg(feature = "disk")]
mod disk;
mod enrollment;
mod error;
mod id;
mod identity;
mod local;
mod policy;
mod record;
mod service;
pub mod store;
mod transport;

pub use admission::{Admission, mint_identity, work_bits};
pub use aor::{Aor, AorFault, MAX_AOR_LEN, Scheme};
pub use checked::CheckedAhead;
pub use clock::{Clock, ManualClock, SystemClock};
pub use enrollment::{
    ENROLLMENT_LEN, ENROLLMENT_TAG, Enrollment, EnrollmentError, enrollment_signing_bytes,
};
pub use error::{AccessRefusal, DecodeError, Error, StorageError, StoreLimit, TransportError};
pub use id::{HexError, NodeId, ResourceId};
pub use identity::{Identity, KeyFileError, PublicKey, Signature};
pub use local::{LocalConfig, LocalLocationService};
pub use policy::{AccessPolicy, DomainTrustAnchors, FirstComeFirstServed, OpenPolicy};
pub use record::{
    Binding, MAX_RECORD_BYTES, OwnRecord, QValue, Record, SIGNING_TAG, SignedRecord, UnixTime,
    live_bindings, signing_bytes, sort_contacts,
};
pub use service::{LocationService, Lookup, Peer, Published};
pub use transport::{
    Incoming, MemoryNetwork, MemoryTransport, PeerAddr, PeerAddrError, Transport, address_share,
};
