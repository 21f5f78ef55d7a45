#![doc = include_str!("../README.md")]
#![deny(missing_docs)]

mod config;
mod node;
mod ops;
mod recursive;
mod replication;
pub mod ring;
mod routing;
pub mod wire;

pub use config::{Config, Routing};
pub use node::{Chord, Counters, Event, FINGERS, NodeState, OpId, Outcome, Status, Transmit};
#[cfg(feature = "runtime")]
mod runtime;
#[cfg(feature = "runtime")]
pub use runtime::ChordNode;
#[cfg(feature = "sim")]
pub mod sim;
