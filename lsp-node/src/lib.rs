#![doc = include_str!("../README.md")]

mod coalesce;
pub mod commands;
pub mod config;
mod daemon;
pub mod enrollment_file;
mod error;
pub mod keyfile;
mod latency;
mod preflight;
mod sip;
mod status;
mod status_listener;

pub use config::{ConfigError, NodeConfig, Role};
pub use daemon::{Daemon, Entered, Leaving};
pub use error::StartError;
pub use keyfile::{CreatedKey, KeyFileError};
