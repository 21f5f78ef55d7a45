//! Why a daemon could not start: each variant names the setting to fix.

use std::net::SocketAddr;
use std::path::PathBuf;

use crate::config::ConfigError;
use crate::enrollment_file::EnrollmentFileError;
use crate::keyfile::KeyFileError;

/// A daemon that could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartError {
    /// The configuration file.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// A key file.
    #[error(transparent)]
    Key(#[from] KeyFileError),
    /// The member's key lacks the proof-of-work ring's proof of work.
    #[error(
        "identity_file: its Node-ID carries {have} bits of proof of work, and this ring \
         ([admission]) wants {want}: make a key with `lsp-node keygen --work {want} PATH`, \
         or run as role = \"client\""
    )]
    NotEnoughWork {
        /// Bits the key carries.
        have: u32,
        /// Bits the ring wants.
        want: u32,
    },
    /// The closed ring's enrollment file cannot be read or would be
    /// refused.
    #[error("admission.enrollment_file: {}: {source}", path.display())]
    EnrollmentFile {
        /// The file.
        path: PathBuf,
        /// Why it cannot be read.
        source: std::io::Error,
    },
    /// The enrollment is malformed, or every member would refuse it.
    #[error(
        "admission.enrollment_file: {}: {source}: enroll this node again with \
         `lsp-node enroll --ring-key RING_KEY_FILE --node {node} > {}`",
        path.display(),
        path.display()
    )]
    Enrollment {
        /// The file.
        path: PathBuf,
        /// Why.
        source: Box<EnrollmentFileError>,
        /// This node's Node-ID, which the enrollment must name.
        node: lsp_core::NodeId,
    },
    /// A member of a closed ring has no key yet: one minted now could not
    /// be the one its enrollment names.
    #[error(
        "identity_file: {} does not exist; a member of a closed ring needs its key before \
         its enrollment: run `lsp-node keygen {}` and enroll the Node-ID it prints",
        path.display(),
        path.display()
    )]
    NoKeyToEnroll {
        /// The missing key file.
        path: PathBuf,
    },
    /// The QUIC endpoint.
    #[error("listen: {addr}: {source}")]
    Listen {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: lsp_transport::Error,
    },
    /// The SIP front's settings or listeners.
    #[error("{field}: {message}")]
    Sip {
        /// The field at fault.
        field: &'static str,
        /// What is wrong.
        message: String,
    },
    /// The status endpoint.
    #[error("status.listen: {addr}: {source}")]
    Status {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
}
