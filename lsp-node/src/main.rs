//! `lsp-node`: the Location Service daemon's command line. `lsp-node run
//! --config node.toml` runs a [`lsp_node::Daemon`] until SIGINT or SIGTERM;
//! see `docs/operations.md`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use lsp_node::commands::{check, enroll, keygen, run};

#[derive(Debug, Parser)]
#[command(
    name = "lsp-node",
    version,
    about = "Peer-to-peer Location Service node for SIP"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Runs the node until SIGINT or SIGTERM, then leaves the ring.
    Run {
        /// The TOML configuration file.
        #[arg(short, long)]
        config: PathBuf,
    },
    /// Checks a configuration file and exits.
    Check {
        /// The TOML configuration file.
        #[arg(short, long)]
        config: PathBuf,
    },
    /// Creates a key file (mode 0600) if there is none, and prints its
    /// Node-ID and public key: a node's bootstrap address or a domain's
    /// trust anchor.
    Keygen {
        /// Where the key lives.
        path: PathBuf,
        /// Bits of proof of work the new key's Node-ID must carry, for a
        /// member of a proof-of-work ring (`[admission] mode = "work"`).
        #[arg(long, default_value_t = 0)]
        work: u32,
    },
    /// Enrolls a node in a closed ring (`[admission] mode = "closed"`):
    /// signs its Node-ID and an expiry with the ring's enrollment key, and
    /// prints the enrollment for the node's `enrollment_file`.
    Enroll {
        /// The ring's enrollment key file (made with `lsp-node keygen`).
        #[arg(long)]
        ring_key: PathBuf,
        /// The Node-ID to enroll (64 hex digits, as `keygen` printed it).
        #[arg(long)]
        node: String,
        /// Days until the enrollment runs out.
        #[arg(long, default_value_t = 365)]
        days: u64,
    },
}

/// mimalloc: the daemon allocates a few small buffers per SIP request and
/// per frame, and a profile showed glibc malloc and free at about a tenth of
/// its time under load.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let result = match Cli::parse().command {
        Command::Check { config } => check(&config),
        Command::Keygen { path, work } => keygen(&path, work),
        Command::Enroll {
            ring_key,
            node,
            days,
        } => enroll(&ring_key, &node, days),
        Command::Run { config } => run(&config),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("lsp-node: {e}");
            ExitCode::from(2)
        }
    }
}
