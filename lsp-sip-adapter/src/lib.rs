#![doc = include_str!("../README.md")]
#![cfg_attr(docsrs, feature(doc_cfg))]
#![deny(missing_docs)]

pub mod client;
pub mod digest;
pub mod headers;
pub mod hybrid;
pub mod message;
pub mod observe;
mod recent;
pub mod registrar;
pub mod server;
pub mod service;
mod tags;
pub mod transaction;
pub mod ua;

pub use hybrid::{HybridService, QueryOrder};
pub use observe::{AnswerObserver, MethodKind};
// The `lsp-core` items this crate's API uses, so that an adopter needs no
// direct dependency on `lsp-core` to keep in step. (A `//` comment: a doc
// comment here would be prepended to every re-exported item's own.)
pub use lsp_core::{
    self, AccessPolicy, Aor, Binding, Clock, Error, Identity, LocalConfig, LocalLocationService,
    LocationService,
};
pub use server::{SipListen, SipServer};
pub use service::{SipConfig, SipService};
pub use ua::{RegistrationStatus, SelfBinding, SelfRegistration};
