//! What the `lsp-node` binary's subcommands do and print: operators and
//! the process tests read these lines (`docs/operations.md`).

use std::path::Path;
use std::time::Duration;

use tokio::signal::unix::{SignalKind, signal};

use crate::enrollment_file::EnrollmentFile;
use crate::{Daemon, Entered, Leaving, NodeConfig, Role, keyfile};

/// A subcommand's failure, printed as `lsp-node: <message>`.
pub type Failure = Box<dyn std::error::Error>;

/// `lsp-node check`: loads and checks a configuration.
pub fn check(path: &Path) -> Result<(), Failure> {
    Daemon::check(&NodeConfig::load(path)?)?;
    println!("{}: OK", path.display());
    Ok(())
}

/// Reads or creates a key file, saying so when minting will take a while.
fn key(path: &Path, field: &str, work: u32) -> Result<(lsp_core::Identity, bool), Failure> {
    if work > 0 && !path.exists() {
        println!("minting a Node-ID with {work} bits of proof of work");
    }
    Ok(keyfile::load_or_create(path, field, work)?)
}

/// `lsp-node keygen`: reads or creates a key file and prints its
/// Node-ID, public key and proof-of-work bits.
pub fn keygen(path: &Path, work: u32) -> Result<(), Failure> {
    let (id, created) = key(path, "key", work)?;
    let verb = if created { "created" } else { "read" };
    println!("{verb} {}", path.display());
    println!("node-id {}", id.node_id());
    println!("public-key {}", id.public_key());
    println!("work-bits {}", lsp_core::work_bits(&id.node_id()));
    Ok(())
}

/// `lsp-node enroll`: signs a node's enrollment in a closed ring.
pub fn enroll(ring_key: &Path, node: &str, days: u64) -> Result<(), Failure> {
    let node = lsp_core::NodeId::from_hex(node.trim())
        .map_err(|e| format!("--node: {node:?} is not a Node-ID: {e}"))?;
    if days == 0 {
        return Err("--days: an enrollment must last at least one day".into());
    }
    let (ring, created) = key(ring_key, "--ring-key", 0)?;
    if created {
        // stderr: stdout is the enrollment file.
        eprintln!("created ring key {}", ring_key.display());
    }
    let valid = Duration::from_secs(days.saturating_mul(86_400));
    let enrollment = lsp_core::Enrollment::issue(&ring, node, lsp_core::UnixTime::now() + valid);
    print!("{}", EnrollmentFile::render(ring.public_key(), &enrollment));
    Ok(())
}

/// `lsp-node run`: runs a daemon until SIGINT or SIGTERM, then leaves.
pub fn run(path: &Path) -> Result<(), Failure> {
    let config = NodeConfig::load(path)?;
    let filter =
        tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into());
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    let mut runtime = tokio::runtime::Builder::new_multi_thread();
    if let Some(n) = config.threads {
        runtime.worker_threads(n.get());
    }
    runtime.enable_all().build()?.block_on(serve(config))
}

async fn serve(config: NodeConfig) -> Result<(), Failure> {
    let work = config.identity_work_bits();
    if work > 0 && !config.identity_file.exists() {
        println!("minting a Node-ID with {work} bits of proof of work");
    }
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    let daemon = Daemon::start(config).await?;
    for key in daemon.created_keys() {
        match key.field {
            "identity_file" => println!("created identity {}", key.path.display()),
            _ => println!(
                "created domain key {} (public key {})",
                key.path.display(),
                key.public_key
            ),
        }
    }
    println!(
        "lsp-node {} quic {}",
        daemon.local().id,
        daemon.local().addr
    );
    daemon
        .sip_udp_addrs()
        .iter()
        .for_each(|a| println!("sip udp {a}"));
    daemon
        .sip_tcp_addrs()
        .iter()
        .for_each(|a| println!("sip tcp {a}"));
    if let Some(at) = daemon.status_addr() {
        println!("status http://{at}/");
    }
    tokio::select! {
        how = daemon.entered() => {
            println!("{}", match how {
                Entered::StartedRing => "started a new ring",
                Entered::Joined => "joined the ring",
                Entered::Attached => "attached to the ring as a client",
            });
            println!("ready");
            tokio::select! { _ = term.recv() => {} _ = int.recv() => {} }
        }
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
    match daemon.role() {
        Role::Member => println!("shutting down: handing records to the successor"),
        Role::Client => println!("shutting down"),
    }
    match daemon.shutdown().await {
        Leaving::Left => println!("left the ring"),
        Leaving::Failed(e) => println!("leave failed: {e}"),
        Leaving::TimedOut => println!("leave timed out"),
    }
    Ok(())
}
