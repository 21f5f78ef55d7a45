#![doc = include_str!("../README.md")]

mod cuttable;
mod sip_server;
mod sipp;

pub use cuttable::Cuttable;
pub use sip_server::open_server;
pub use sipp::{scenario, sipp};
