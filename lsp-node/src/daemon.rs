//! A running node: its Chord node over QUIC, its SIP front and its status
//! endpoint, started from a [`NodeConfig`] and stopped by
//! [`Daemon::shutdown`].

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use lsp_chord::{ChordNode, Health};
use lsp_core::{
    AccessPolicy, DomainTrustAnchors, FirstComeFirstServed, OpenPolicy, PeerAddr, PublicKey,
};
use lsp_sip_adapter::server::SipServer;
use lsp_transport::{QuicTransport, TransportConfig};
use serde_json::json;
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;

use crate::config::{NodeConfig, PolicyConfig, PolicyMode, Role, SipStore, Unanchored};
use crate::error::StartError;
use crate::keyfile::CreatedKey;
use crate::preflight;
use crate::sip::{self, SipFront};
use crate::status;

/// How long [`Daemon::shutdown`] waits for the hand-off to the successor.
const LEAVE_TIMEOUT: Duration = Duration::from_secs(10);

/// How the node entered the ring.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Entered {
    /// It had no bootstrap peer and started a ring of its own.
    StartedRing,
    /// It joined through a bootstrap peer.
    Joined,
    /// It attached to the ring as a client (`role = "client"`).
    Attached,
}

/// How [`Daemon::shutdown`] left the ring.
#[derive(Debug)]
pub enum Leaving {
    /// The node handed its records over and left.
    Left,
    /// Leaving failed; the node stopped anyway.
    Failed(lsp_core::Error),
    /// The hand-off took longer than its bound; the node stopped anyway.
    TimedOut,
}

/// A running daemon. Dropping it without [`Daemon::shutdown`] stops its
/// tasks only when the runtime stops.
#[derive(Debug)]
pub struct Daemon {
    node: ChordNode,
    role: Role,
    sip: Option<SipFront>,
    status_addr: Option<SocketAddr>,
    stop_status: Option<oneshot::Sender<()>>,
    status_task: Option<JoinHandle<std::io::Result<()>>>,
    entered: watch::Receiver<Option<Entered>>,
    entering: JoinHandle<()>,
    created: Vec<CreatedKey>,
}

impl Daemon {
    /// Runs every step of [`Daemon::start`] that reads files, creating
    /// nothing and binding nothing: what `lsp-node check` does. A
    /// configuration this refuses, `start` refuses with the same error.
    /// What only binding or the ring can tell (an address in use, a
    /// bootstrap peer that refuses) is left to `start`.
    pub fn check(config: &NodeConfig) -> Result<(), StartError> {
        preflight::check(config)
    }

    /// Reads or creates its keys, binds QUIC, SIP and the status endpoint,
    /// and starts entering the ring in the background (see
    /// [`Daemon::entered`]). Needs a tokio runtime.
    pub async fn start(config: NodeConfig) -> Result<Self, StartError> {
        let started = Instant::now();
        let admission = config.admission.rule();
        let key = preflight::node_key(&config)?;
        let identity = key.identity;
        let mut created_keys: Vec<CreatedKey> = key.created.into_iter().collect();
        let policy = build_policy(&config.policy);
        let mut transport_config = TransportConfig::default();
        transport_config.closed_ring = preflight::closed_ring(&config, Some(&identity))?;
        let transport = match config.role {
            Role::Member => QuicTransport::bind(&identity, config.listen, transport_config),
            Role::Client => QuicTransport::client(&identity, config.listen, transport_config),
        }
        .map_err(|source| StartError::Listen {
            addr: config.listen,
            source,
        })?;
        let mut chord = lsp_chord::Config::default().policy(policy.clone());
        chord.replicas = config.replication;
        chord.successors = chord.successors.max(config.replication);
        chord.limits = config.store_limits();
        chord.admission = admission;
        config.timers.apply(&mut chord);
        let bootstrap = config.bootstrap_peers()?;
        let node = ChordNode::spawn(Arc::new(transport), chord);

        let sip = match &config.sip {
            Some(section) => match sip::start(section, &config, &node, policy).await {
                Ok(front) => Some(front),
                Err(e) => {
                    let _ = node.leave().await;
                    return Err(e);
                }
            },
            None => None,
        };
        created_keys.extend(sip.as_ref().and_then(|s| s.created_key.clone()));
        let mut daemon = Self {
            node: node.clone(),
            role: config.role,
            sip,
            status_addr: None,
            stop_status: None,
            status_task: None,
            entered: watch::channel(None).1,
            entering: tokio::spawn(async {}),
            created: created_keys,
        };
        if let Some(at) = config.status.listen
            && let Err(e) = daemon.serve_status(at, &config, started).await
        {
            daemon.shutdown().await;
            return Err(e);
        }
        let (entered_tx, entered_rx) = watch::channel(None);
        daemon.entered = entered_rx;
        daemon.entering = tokio::spawn(async move {
            let how = enter_ring(&node, &bootstrap, config.role).await;
            let _ = entered_tx.send(Some(how));
        });
        Ok(daemon)
    }

    async fn serve_status(
        &mut self,
        at: SocketAddr,
        config: &NodeConfig,
        started: Instant,
    ) -> Result<(), StartError> {
        let status_error = |source| StartError::Status { addr: at, source };
        let listener = tokio::net::TcpListener::bind(at)
            .await
            .map_err(status_error)?;
        self.status_addr = Some(listener.local_addr().map_err(status_error)?);
        let server = self.sip.as_ref().map(|s| &s.server);
        let source = Arc::new(status::StatusSource {
            node: self.node.clone(),
            started,
            sip: server.map(|s| {
                json!({
                    "udp": s.udp_addrs().iter().map(|a| a.to_string()).collect::<Vec<_>>(),
                    "tcp": s.tcp_addrs().iter().map(|a| a.to_string()).collect::<Vec<_>>(),
                    "domains": config.sip.as_ref().map(|c| c.domains.clone()),
                })
            }),
            sip_monitor: server.map(SipServer::monitor),
            sip_local_store: config
                .sip
                .as_ref()
                .is_some_and(|c| c.store != SipStore::Ring),
            snapshots: crate::coalesce::Coalesced::new(status::SNAPSHOT_FRESH),
            latencies: self.sip.as_ref().map(|s| s.latencies.clone()),
        });
        let (stop, stopped) = oneshot::channel::<()>();
        self.stop_status = Some(stop);
        self.status_task = Some(tokio::spawn(status::serve(listener, source, async {
            let _ = stopped.await;
        })));
        Ok(())
    }

    /// The Chord node.
    pub fn node(&self) -> &ChordNode {
        &self.node
    }

    /// This node's Node-ID and QUIC address.
    pub fn local(&self) -> PeerAddr {
        self.node.local()
    }

    /// Member or client.
    pub fn role(&self) -> Role {
        self.role
    }

    /// The SIP front's UDP addresses (empty without `[sip]`).
    pub fn sip_udp_addrs(&self) -> Vec<SocketAddr> {
        self.sip
            .as_ref()
            .map_or_else(Vec::new, |s| s.server.udp_addrs().to_vec())
    }

    /// The SIP front's TCP addresses (empty without `[sip]`).
    pub fn sip_tcp_addrs(&self) -> Vec<SocketAddr> {
        self.sip
            .as_ref()
            .map_or_else(Vec::new, |s| s.server.tcp_addrs().to_vec())
    }

    /// The status endpoint's address, if it serves one.
    pub fn status_addr(&self) -> Option<SocketAddr> {
        self.status_addr
    }

    /// The key files this start created.
    pub fn created_keys(&self) -> &[CreatedKey] {
        &self.created
    }

    /// Waits until the node is in the ring (it retries with backoff while
    /// no bootstrap peer answers), and says how it got there.
    pub async fn entered(&self) -> Entered {
        let mut entered = self.entered.clone();
        loop {
            if let Some(how) = *entered.borrow_and_update() {
                return how;
            }
            if entered.changed().await.is_err() {
                // The entering task ended without a word: only an abort
                // does that, which only shutdown does.
                std::future::pending::<()>().await;
            }
        }
    }

    /// Whether the node serves, as its status endpoint's `/health` says.
    pub async fn health(&self) -> Result<Health, lsp_core::Error> {
        self.node.health().await
    }

    /// Stops serving SIP, hands the node's records to its successor (a
    /// member) or detaches (a client), and stops the status endpoint.
    pub async fn shutdown(mut self) -> Leaving {
        self.entering.abort();
        if let Some(sip) = self.sip.take() {
            if let Some(task) = sip.resync {
                task.abort();
            }
            sip.server.shutdown().await;
        }
        let leaving = match tokio::time::timeout(LEAVE_TIMEOUT, self.node.leave()).await {
            Ok(Ok(())) => Leaving::Left,
            Ok(Err(e)) => Leaving::Failed(e),
            Err(_) => Leaving::TimedOut,
        };
        if let Some(stop) = self.stop_status.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.status_task.take() {
            let _ = task.await;
        }
        leaving
    }
}

fn build_policy(p: &PolicyConfig) -> Arc<dyn AccessPolicy> {
    match p.mode {
        PolicyMode::Open => Arc::new(OpenPolicy),
        PolicyMode::FirstCome => Arc::new(FirstComeFirstServed),
        PolicyMode::Anchors => {
            let mut anchors = DomainTrustAnchors::new();
            for a in &p.anchors {
                if let Ok(key) = PublicKey::from_hex(&a.key) {
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

/// Joins through the bootstrap peers, or starts a ring with none, or
/// attaches to them as a client; retries with backoff while no peer
/// answers.
async fn enter_ring(node: &ChordNode, bootstrap: &[PeerAddr], role: Role) -> Entered {
    let mut wait = Duration::from_millis(500);
    loop {
        let entered = match role {
            Role::Member => node.join(bootstrap).await,
            Role::Client => node.attach(bootstrap).await,
        };
        match entered {
            Ok(()) if role == Role::Client => return Entered::Attached,
            Ok(()) if bootstrap.is_empty() => return Entered::StartedRing,
            Ok(()) => return Entered::Joined,
            Err(e) => {
                tracing::warn!(error = %e, "join failed; retrying in {wait:?}");
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(Duration::from_secs(10));
            }
        }
    }
}
