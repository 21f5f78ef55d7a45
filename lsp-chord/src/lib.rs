#![doc = include_str!("../README.md")]
#![deny(missing_docs)]

mod config;
mod node;
mod ops;
mod replication;
pub mod ring;
mod routing;
pub mod wire;

pub use config::Config;
pub use node::{Chord, Counters, Event, FINGERS, NodeState, OpId, Outcome, Status, Transmit};
#[cfg(feature = "sim")]
pub mod sim;
