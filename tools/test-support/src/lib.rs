#![doc = include_str!("../README.md")]

mod cuttable;
mod process;
mod sip_server;
mod sipp;

pub use cuttable::Cuttable;
pub use process::stdout_lines;
pub use sip_server::open_server;
pub use sipp::{scenario, sipp, sipp_command_line};
