//! The SIP front of the daemon: its store, keys, users and listeners, from
//! the `[sip]` section.

use std::sync::Arc;
use std::time::Duration;

use lsp_chord::ChordNode;
use lsp_core::{AccessPolicy, Identity, LocalConfig, LocalLocationService, LocationService};
use lsp_sip_adapter::digest::{Algorithm, DigestAuth, StaticCredentials};
use lsp_sip_adapter::hybrid::{HybridService, QueryOrder};
use lsp_sip_adapter::registrar::ExpiryLimits;
use lsp_sip_adapter::server::{SipListen, SipServer};
use lsp_sip_adapter::service::{SipConfig, SipService};
use tokio::task::JoinHandle;

use crate::config::{NodeConfig, SipSection, SipStore};
use crate::error::StartError;
use crate::keyfile::CreatedKey;
use crate::latency::{Latencies, Timed};
use crate::preflight::{self, Keys};

/// The running SIP front, and the task that sends the ring what the hybrid
/// store's local half took while the ring was down.
#[derive(Debug)]
pub(crate) struct SipFront {
    pub(crate) server: SipServer,
    pub(crate) resync: Option<JoinHandle<()>>,
    /// The domain key file, when this start created it.
    pub(crate) created_key: Option<CreatedKey>,
    /// Latencies of its answers, reads and publishes, for `/metrics`.
    pub(crate) latencies: Arc<Latencies>,
}

fn sip_error(field: &'static str) -> impl Fn(String) -> StartError {
    move |message| StartError::Sip { field, message }
}

/// Sends the ring what the hybrid store's local half took while the ring
/// half was down, every few seconds.
async fn resync(hybrid: HybridService) {
    loop {
        tokio::time::sleep(Duration::from_secs(2)).await;
        let r = hybrid.resync().await;
        if r.sent > 0 {
            tracing::info!("sent the ring {} registration(s) it missed", r.sent);
        }
        if r.refused > 0 {
            tracing::warn!(
                "the ring refused {} missed registration(s) for good",
                r.refused
            );
        }
    }
}

pub(crate) async fn start(
    section: &SipSection,
    config: &NodeConfig,
    node: &ChordNode,
    policy: Arc<dyn AccessPolicy>,
) -> Result<SipFront, StartError> {
    let (domain_key, created_key) = match preflight::domain_key(section, config, Keys::Create)? {
        Some(key) => (key.identity, key.created),
        // A redirect server signs nothing; any key will do.
        None => (
            Identity::generate().map_err(|e| sip_error("sip")(e.to_string()))?,
            None,
        ),
    };
    let local = || -> Result<LocalLocationService, StartError> {
        let local_config = LocalConfig::default()
            .policy(policy.clone())
            .limits(config.store_limits());
        match &section.local_db {
            Some(path) => {
                preflight::private_db(path, Keys::Create)?;
                LocalLocationService::open(path, local_config)
                    .map_err(|e| sip_error("sip.local_db")(format!("{}: {e}", path.display())))
            }
            None => Ok(LocalLocationService::new(local_config)),
        }
    };
    let mut resync_task = None;
    let service: Arc<dyn LocationService> = match section.store {
        SipStore::Ring => Arc::new(node.clone()),
        SipStore::Local => Arc::new(local()?),
        SipStore::Hybrid => {
            let hybrid = HybridService::new(
                Arc::new(local()?),
                Arc::new(node.clone()),
                QueryOrder::LocalFirst,
            );
            resync_task = Some(tokio::spawn(resync(hybrid.clone())));
            Arc::new(hybrid)
        }
    };
    let latencies = Arc::new(Latencies::default());
    let service = Timed::new(service, latencies.clone());
    let service = SipService::new(service, sip_config(section, domain_key))
        .map_err(|e| sip_error("sip")(e.to_string()))?
        .with_observer(latencies.clone());
    let listen = SipListen {
        udp: section.udp.clone(),
        tcp: section.tcp.clone(),
        ..SipListen::default()
    };
    let bound = SipServer::bind(Arc::new(service), &listen).await;
    let server = match bound {
        Ok(server) => server,
        Err(e) => {
            if let Some(task) = resync_task {
                task.abort();
            }
            return Err(sip_error("sip.udp/sip.tcp")(e.to_string()));
        }
    };
    Ok(SipFront {
        server,
        resync: resync_task,
        created_key,
        latencies,
    })
}

/// The SIP service's settings: role, expiry bounds, domains and users.
fn sip_config(section: &SipSection, domain_key: Identity) -> SipConfig {
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
    sip
}
