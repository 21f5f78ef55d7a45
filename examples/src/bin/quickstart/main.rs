//! Quickstart: the Location Service end to end on one machine.
//!
//! Part 1 uses the embedded store alone. Part 2 starts a Chord ring of five
//! nodes over QUIC on 127.0.0.1 with SIP on two of them, registers alice
//! with a real REGISTER, calls her through another node's redirect server,
//! and lets a UA register itself with no server at all.

mod embedded;
mod ring;

use std::process::ExitCode;
use std::time::Instant;

fn step(text: &str) {
    println!("\n== {text}");
}

/// The refusal, or an error if the write was wrongly accepted.
fn refused<T>(r: Result<T, lsp_core::Error>) -> Result<String, lsp_core::Error> {
    match r {
        Ok(_) => Err(lsp_core::Error::Internal("a bad write was accepted")),
        Err(e) => Ok(format!("refused: {e}")),
    }
}

/// The Location Service end to end on one machine: the embedded store,
/// then a five-node ring over QUIC with SIP on two nodes. It takes no
/// flags and runs in about a second.
#[derive(Debug, clap::Parser)]
#[command(name = "quickstart")]
struct Cli {}

#[tokio::main]
async fn main() -> ExitCode {
    let Cli {} = clap::Parser::parse();
    let started = Instant::now();
    println!("# Part 1: the embedded Location Service (no network)");
    if let Err(e) = embedded::run().await {
        eprintln!("quickstart failed: {e}");
        return ExitCode::FAILURE;
    }
    println!("\n# Part 2: a Chord ring over QUIC with SIP on top");
    if let Err(e) = ring::run().await {
        eprintln!("quickstart failed: {e}");
        return ExitCode::FAILURE;
    }
    println!(
        "\nquickstart: OK ({:.1} s)",
        started.elapsed().as_secs_f64()
    );
    ExitCode::SUCCESS
}
