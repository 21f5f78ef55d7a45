#![doc = include_str!("../README.md")]
#![cfg_attr(docsrs, feature(doc_cfg))]
#![deny(missing_docs)]

mod quic;
mod tls;

/// The `lsp-core` items this crate's API uses, so that an adopter needs
/// no direct dependency on `lsp-core` to keep in step.
pub use lsp_core::{self, Identity, NodeId, PeerAddr, PublicKey, Transport};
pub use quic::{ClosedRing, QuicTransport, TransportConfig};
pub use tls::ALPN;

/// Setting up a transport failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The node's certificate could not be made.
    #[error("certificate: {0}")]
    Certificate(String),
    /// The TLS configuration was refused.
    #[error("TLS: {0}")]
    Tls(String),
    /// The UDP socket could not be bound.
    #[error("bind: {0}")]
    Bind(std::io::Error),
    /// A setting is out of range.
    #[error("configuration: {0}")]
    Config(String),
}
