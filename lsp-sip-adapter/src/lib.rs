#![doc = include_str!("../README.md")]
#![deny(missing_docs)]

pub mod client;
pub mod digest;
pub mod headers;
pub mod hybrid;
pub mod message;
pub mod registrar;
pub mod server;
pub mod service;
pub mod transaction;
pub mod ua;
