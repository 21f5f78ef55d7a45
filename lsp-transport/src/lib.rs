#![doc = include_str!("../README.md")]
#![cfg_attr(docsrs, feature(doc_cfg))]
#![deny(missing_docs)]

mod fair;
mod quic;
mod tls;

// The `lsp-core` items this crate's API uses, so that an adopter needs no
// direct dependency on `lsp-core` to keep in step. (A `//` comment: a doc
// comment here would be prepended to every re-exported item's own.)
pub use lsp_core::{self, Identity, NodeId, PeerAddr, PublicKey, Transport};
pub use quic::{ClosedRing, QuicTransport, TransportConfig};
pub use tls::ALPN;

/// Setting up a transport failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The node's certificate could not be made (the source is the
    /// certificate library's error, kept opaque so that no dependency's
    /// type is part of this API).
    #[error("certificate: {0}")]
    Certificate(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// The TLS configuration was refused (the source is the TLS library's
    /// error, opaque for the same reason).
    #[error("TLS: {0}")]
    Tls(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// The UDP socket could not be bound.
    #[error("bind: {0}")]
    Bind(#[source] std::io::Error),
    /// A setting is out of range: which one.
    #[error("configuration: {0} out of range")]
    Config(&'static str),
    /// This node's own enrollment in its closed ring does not hold.
    #[error("this node's enrollment: {0}")]
    Enrollment(#[source] lsp_core::EnrollmentError),
}
