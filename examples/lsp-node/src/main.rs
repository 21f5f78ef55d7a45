//! `lsp-node`: the Location Service daemon. One Chord node over QUIC, with
//! an optional SIP registrar and redirect server and an HTTP status
//! endpoint. `lsp-node run --config node.toml`; see `docs/operations.md`.

mod config;
mod keyfile;
mod status;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::{Parser, Subcommand};
use lsp_chord::ChordNode;
use lsp_core::{
    AccessPolicy, DomainTrustAnchors, FirstComeFirstServed, Identity, LocalConfig,
    LocalLocationService, LocationService, OpenPolicy,
};
use lsp_sip_adapter::digest::{Algorithm, DigestAuth, StaticCredentials};
use lsp_sip_adapter::hybrid::{HybridService, QueryOrder};
use lsp_sip_adapter::registrar::ExpiryLimits;
use lsp_sip_adapter::server::{SipListen, SipServer};
use lsp_sip_adapter::service::{SipConfig, SipService};
use lsp_transport::{QuicTransport, TransportConfig};
use serde_json::json;
use tokio::signal::unix::{SignalKind, signal};

use crate::config::{NodeConfig, PolicyConfig, PolicyMode, Role, SipSection, SipStore, Unanchored};

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
        /// member of an open ring (`[admission] mode = "open"`).
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

/// A startup failure, printed as `lsp-node: <message>`.
type Fail = String;

/// mimalloc: the daemon allocates a few small buffers per SIP request and
/// per frame, and a profile showed glibc malloc and free at about a tenth of
/// its time under load.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Check { config } => NodeConfig::load(&config)
            .map(|_| println!("{}: OK", config.display()))
            .map_err(|e| e.to_string()),
        Command::Keygen { path, work } => {
            keyfile::load_or_create(&path, "key", work).map(|(id, created)| {
                let verb = if created { "created" } else { "read" };
                println!("{verb} {}", path.display());
                println!("node-id {}", id.node_id());
                println!("public-key {}", id.public_key());
                println!("work-bits {}", lsp_core::work_bits(&id.node_id()));
            })
        }
        Command::Enroll {
            ring_key,
            node,
            days,
        } => enroll(&ring_key, &node, days),
        Command::Run { config } => run(config),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("lsp-node: {e}");
            ExitCode::from(2)
        }
    }
}

fn enroll(ring_key: &std::path::Path, node: &str, days: u64) -> Result<(), Fail> {
    let node = lsp_core::NodeId::from_hex(node.trim())
        .ok_or_else(|| format!("--node: {node:?} is not a Node-ID (64 hex digits)"))?;
    let (ring, created) = keyfile::load_or_create(ring_key, "--ring-key", 0)?;
    if created {
        println!("created ring key {}", ring_key.display());
    }
    let valid = Duration::from_secs(days.saturating_mul(86_400));
    let enrollment = lsp_core::Enrollment::issue(&ring, node, lsp_core::UnixTime::now() + valid);
    println!("ring-key {}", ring.public_key());
    println!("expires-ms {}", enrollment.expires.0);
    println!("enrollment {}", enrollment.to_hex());
    Ok(())
}

/// The closed ring's settings for the transport, with this member's
/// enrollment read and checked: one that would be refused everywhere
/// stops the node here, with the fix.
fn closed_ring(
    config: &NodeConfig,
    identity: &Identity,
) -> Result<Option<lsp_transport::ClosedRing>, Fail> {
    let lsp_core::Admission::Enrolled { ring } = config.admission.rule() else {
        return Ok(None);
    };
    let enrollment = match (&config.admission.enrollment_file, config.role) {
        (Some(path), Role::Member) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| format!("admission.enrollment_file: {}: {e}", path.display()))?;
            let enrollment =
                lsp_core::Enrollment::from_hex(text.trim().trim_start_matches("enrollment").trim())
                    .map_err(|e| format!("admission.enrollment_file: {}: {e}", path.display()))?;
            enrollment
                .check(&ring, &identity.node_id(), lsp_core::UnixTime::now())
                .map_err(|e| {
                    format!(
                        "admission.enrollment_file: {e}: enroll this node again with \
                         `lsp-node enroll --ring-key RING_KEY_FILE --node {}`",
                        identity.node_id()
                    )
                })?;
            Some(enrollment)
        }
        _ => None,
    };
    Ok(Some(lsp_transport::ClosedRing { ring, enrollment }))
}

fn run(path: PathBuf) -> Result<(), Fail> {
    let config = NodeConfig::load(&path).map_err(|e| e.to_string())?;
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let mut runtime = tokio::runtime::Builder::new_multi_thread();
    if let Some(n) = config.threads {
        runtime.worker_threads(n.get());
    }
    runtime
        .enable_all()
        .build()
        .map_err(|e| format!("starting the runtime: {e}"))?
        .block_on(daemon(config))
}

fn build_policy(p: &PolicyConfig) -> Arc<dyn AccessPolicy> {
    match p.mode {
        PolicyMode::Open => Arc::new(OpenPolicy),
        PolicyMode::FirstCome => Arc::new(FirstComeFirstServed),
        PolicyMode::Anchors => {
            let mut anchors = DomainTrustAnchors::new();
            for a in &p.anchors {
                if let Some(key) = lsp_core::PublicKey::from_hex(&a.key) {
                    anchors = anchors.trust(&a.domain, key);
                }
            }
            match p.unanchored {
                Unanchored::Refuse => Arc::new(anchors),
                Unanchored::FirstCome => Arc::new(anchors.otherwise(FirstComeFirstServed)),
            }
        }
    }
}

async fn daemon(config: NodeConfig) -> Result<(), Fail> {
    let started = Instant::now();
    let admission = config.admission.rule();
    let work = match (config.role, admission) {
        (Role::Member, lsp_core::Admission::Work { bits }) => bits,
        _ => 0,
    };
    let (identity, created) =
        keyfile::load_or_create(&config.identity_file, "identity_file", work)?;
    if created {
        println!("created identity {}", config.identity_file.display());
    }
    if config.role == Role::Member && !admission.admits(&identity.node_id()) {
        return Err(format!(
            "identity_file: its Node-ID carries {} bits of proof of work, and this ring \
             ([admission]) wants {work}: make a key with `lsp-node keygen --work {work} PATH`, \
             or run as role = \"client\"",
            lsp_core::work_bits(&identity.node_id())
        ));
    }
    let policy = build_policy(&config.policy);
    let mut transport_config = TransportConfig::default();
    transport_config.closed_ring = closed_ring(&config, &identity)?;
    let transport = match config.role {
        Role::Member => QuicTransport::bind(&identity, config.listen, transport_config),
        Role::Client => QuicTransport::client(&identity, config.listen, transport_config),
    }
    .map_err(|e| format!("listen: {}: {e}", config.listen))?;
    let mut chord = lsp_chord::Config::default().policy(policy.clone());
    chord.replicas = config.replication;
    chord.successors = chord.successors.max(config.replication);
    chord.limits = config.store_limits();
    chord.admission = admission;
    config.timers.apply(&mut chord);
    let node = ChordNode::spawn(Arc::new(transport), chord);
    println!("lsp-node {} quic {}", node.local().id, node.local().addr);

    let sip = match &config.sip {
        Some(section) => Some(start_sip(section, &config, &node, policy).await?),
        None => None,
    };
    let sip_info = sip.as_ref().map(|s| {
        json!({
            "udp": s.udp_addrs().iter().map(|a| a.to_string()).collect::<Vec<_>>(),
            "tcp": s.tcp_addrs().iter().map(|a| a.to_string()).collect::<Vec<_>>(),
            "domains": config.sip.as_ref().map(|c| c.domains.clone()),
        })
    });

    let (stop_http, http_stopped) = tokio::sync::oneshot::channel::<()>();
    let http = match config.status.listen {
        Some(at) => {
            let listener = tokio::net::TcpListener::bind(at)
                .await
                .map_err(|e| format!("status.listen: {at}: {e}"))?;
            let bound = listener.local_addr().map_err(|e| e.to_string())?;
            println!("status http://{bound}/");
            let source = Arc::new(status::StatusSource {
                node: node.clone(),
                started,
                sip: sip_info,
                sip_monitor: sip.as_ref().map(SipServer::monitor),
                sip_local_store: config
                    .sip
                    .as_ref()
                    .is_some_and(|c| c.store != SipStore::Ring),
            });
            Some(tokio::spawn(status::serve(listener, source, async {
                let _ = http_stopped.await;
            })))
        }
        None => None,
    };

    let mut term = signal(SignalKind::terminate()).map_err(|e| e.to_string())?;
    let mut int = signal(SignalKind::interrupt()).map_err(|e| e.to_string())?;
    let bootstrap = config.bootstrap_peers().map_err(|e| e.to_string())?;
    tokio::select! {
        () = enter_ring(&node, &bootstrap, config.role) => {
            println!("ready");
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
        }
        _ = term.recv() => {}
        _ = int.recv() => {}
    }

    match config.role {
        Role::Member => println!("shutting down: handing records to the successor"),
        Role::Client => println!("shutting down"),
    }
    if let Some(sip) = sip {
        sip.shutdown().await;
    }
    match tokio::time::timeout(Duration::from_secs(10), node.leave()).await {
        Ok(Ok(())) => println!("left the ring"),
        Ok(Err(e)) => println!("leave failed: {e}"),
        Err(_) => println!("leave timed out"),
    }
    let _ = stop_http.send(());
    if let Some(http) = http {
        let _ = http.await;
    }
    Ok(())
}

/// Joins through the bootstrap peers, or starts a ring with none, or
/// attaches to them as a client; retries with backoff while no peer
/// answers.
async fn enter_ring(node: &ChordNode, bootstrap: &[lsp_core::PeerAddr], role: Role) {
    let mut wait = Duration::from_millis(500);
    loop {
        let entered = match role {
            Role::Member => node.join(bootstrap).await,
            Role::Client => node.attach(bootstrap).await,
        };
        match entered {
            Ok(()) if role == Role::Client => {
                println!("attached to the ring as a client");
                return;
            }
            Ok(()) if bootstrap.is_empty() => {
                println!("started a new ring");
                return;
            }
            Ok(()) => {
                println!("joined the ring");
                return;
            }
            Err(e) => {
                tracing::warn!(error = %e, "join failed; retrying in {wait:?}");
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(Duration::from_secs(10));
            }
        }
    }
}

/// Sends the ring what the hybrid store's local half took while the ring
/// half was down, every few seconds.
async fn resync(hybrid: HybridService) {
    loop {
        tokio::time::sleep(Duration::from_secs(2)).await;
        let r = hybrid.resync().await;
        if r.sent > 0 {
            println!("sent the ring {} registration(s) it missed", r.sent);
        }
    }
}

async fn start_sip(
    section: &SipSection,
    config: &NodeConfig,
    node: &ChordNode,
    policy: Arc<dyn AccessPolicy>,
) -> Result<SipServer, Fail> {
    let domain_key = match &section.domain_key_file {
        Some(path) => {
            let (key, created) = keyfile::load_or_create(path, "sip.domain_key_file", 0)?;
            if created {
                println!(
                    "created domain key {} (public key {})",
                    path.display(),
                    key.public_key()
                );
            }
            key
        }
        // A redirect server signs nothing; any key will do.
        None => Identity::generate().map_err(|e| e.to_string())?,
    };
    if section.registrar && config.policy.mode == PolicyMode::Anchors {
        for d in &section.domains {
            if !config
                .policy
                .anchors_for(d)
                .any(|k| k == domain_key.public_key())
            {
                return Err(format!(
                    "sip.domain_key_file: key {} is not in policy.anchors for {d}",
                    domain_key.public_key()
                ));
            }
        }
    }
    let local = || -> Result<LocalLocationService, String> {
        let local_config = LocalConfig::default()
            .policy(policy.clone())
            .limits(config.store_limits());
        match &section.local_db {
            Some(path) => LocalLocationService::open(path, local_config)
                .map_err(|e| format!("sip.local_db: {}: {e}", path.display())),
            None => Ok(LocalLocationService::new(local_config)),
        }
    };
    let service: Arc<dyn LocationService> = match section.store {
        SipStore::Ring => Arc::new(node.clone()),
        SipStore::Local => Arc::new(local()?),
        SipStore::Hybrid => {
            let hybrid = HybridService::new(
                Arc::new(local()?),
                Arc::new(node.clone()),
                QueryOrder::LocalFirst,
            );
            tokio::spawn(resync(hybrid.clone()));
            Arc::new(hybrid)
        }
    };
    let mut sip = SipConfig::new(Arc::new(domain_key))
        .registrar(section.registrar)
        .redirect(section.redirect)
        .expiry(ExpiryLimits {
            min: section.min_expires,
            max: section.max_expires,
            default: section.max_expires,
        });
    for d in &section.domains {
        sip = sip.serve_domain(d);
    }
    if !section.users.is_empty() {
        let mut users = StaticCredentials::new();
        for u in &section.users {
            let realm = u
                .realm
                .as_deref()
                .or(section.domains.first().map(String::as_str))
                .unwrap_or_default();
            users = users.with_password(&u.username, realm, &u.password);
        }
        let algorithms = section
            .digest_algorithms
            .iter()
            .map(|a| match a.as_str() {
                "MD5" => Algorithm::Md5,
                _ => Algorithm::Sha256,
            })
            .collect();
        sip = sip.digest(Arc::new(
            DigestAuth::new(Arc::new(users)).with_algorithms(algorithms),
        ));
    }
    if section.allow_unauthenticated {
        sip = sip.allow_unauthenticated();
    }
    let service = SipService::new(service, sip).map_err(|e| format!("sip: {e}"))?;
    let listen = SipListen {
        udp: section.udp.clone(),
        tcp: section.tcp.clone(),
        ..SipListen::default()
    };
    let server = SipServer::bind(Arc::new(service), &listen)
        .await
        .map_err(|e| format!("sip.udp/sip.tcp: {e}"))?;
    for a in server.udp_addrs() {
        println!("sip udp {a}");
    }
    for a in server.tcp_addrs() {
        println!("sip tcp {a}");
    }
    Ok(server)
}
