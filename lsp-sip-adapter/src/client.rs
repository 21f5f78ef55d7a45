//! The client side of registration: a UA, or a gateway acting for one,
//! keeps one binding registered with the first of several registrars that
//! serves it. When the registrar in use answers 503 (an isolated node
//! does), another 5xx or a 6xx, or nothing at all, the client moves to the
//! next one as RFC 3263 section 4.3 asks, and registers the binding there,
//! which publishes it into the Location Service again. A registrar that
//! said `Retry-After` is skipped for that long.
//!
//! ```no_run
//! use lsp_core::Aor;
//! use lsp_sip_adapter::client::{Registration, RegistrationConfig};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let config = RegistrationConfig::new(
//!     Aor::parse("sip:alice@example.com")?,
//!     "sip:alice@192.0.2.10:5062",
//!     vec!["192.0.2.1:5060".parse()?, "192.0.2.2:5060".parse()?],
//! )
//! .password("alice", "secret");
//! let registration = Registration::start(config).await?;
//! println!("registered at {:?}", registration.registrar());
//! registration.stop().await?;
//! # Ok(())
//! # }
//! ```

mod agent;
mod invite;
mod reply;

pub use invite::{FinalResponse, InviteConfig, InviteError, SipCaller};

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use lsp_core::Aor;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use agent::Agent;

/// Longest wait between rounds while no registrar takes the binding.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// What to register, where, and how.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct RegistrationConfig {
    /// The address of record.
    pub aor: Aor,
    /// The Contact to bind to it.
    pub contact: String,
    /// Registrars in order of preference (UDP).
    pub registrars: Vec<SocketAddr>,
    /// The lifetime asked for; refreshed at half of what is granted.
    pub expires: Duration,
    /// Digest username and password, if the registrars challenge.
    pub credentials: Option<(String, String)>,
    /// How long one registrar gets to answer, retransmissions included.
    pub attempt_timeout: Duration,
    /// The local UDP address to send from.
    pub bind: SocketAddr,
}

impl RegistrationConfig {
    /// Binds `contact` to `aor` at the first of `registrars` that takes
    /// it, for an hour at a time, from any local address.
    pub fn new(aor: Aor, contact: impl Into<String>, registrars: Vec<SocketAddr>) -> Self {
        Self {
            aor,
            contact: contact.into(),
            registrars,
            expires: Duration::from_secs(3600),
            credentials: None,
            attempt_timeout: Duration::from_secs(4),
            bind: SocketAddr::from(([0, 0, 0, 0], 0)),
        }
    }

    /// Sets the lifetime asked for (at least one second).
    pub fn expires(mut self, expires: Duration) -> Self {
        self.expires = expires.max(Duration::from_secs(1));
        self
    }

    /// Answers digest challenges as `username` with `password`.
    pub fn password(mut self, username: &str, password: &str) -> Self {
        self.credentials = Some((username.to_owned(), password.to_owned()));
        self
    }

    /// Sets how long one registrar gets to answer.
    pub fn attempt_timeout(mut self, timeout: Duration) -> Self {
        self.attempt_timeout = timeout;
        self
    }
}

/// Why registering failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RegistrationError {
    /// The configuration names no registrar.
    #[error("no registrar configured")]
    NoRegistrars,
    /// The local socket failed.
    #[error("socket: {0}")]
    Io(#[from] std::io::Error),
    /// Every registrar refused the binding or did not answer.
    #[error("no registrar took the binding; the last: {last}")]
    AllFailed {
        /// What the last registrar tried answered, or that it did not.
        last: String,
    },
}

#[derive(Debug, Default)]
struct Shared {
    current: Option<SocketAddr>,
    failovers: u64,
}

/// A binding kept registered. Call [`Registration::stop`] to remove it;
/// dropping it only stops the refreshes.
#[derive(Debug)]
pub struct Registration {
    shared: Arc<Mutex<Shared>>,
    stop: watch::Sender<bool>,
    task: Option<JoinHandle<Agent>>,
}

impl Registration {
    /// Registers at the first registrar that takes the binding, and keeps
    /// it registered from then on.
    pub async fn start(config: RegistrationConfig) -> Result<Self, RegistrationError> {
        if config.registrars.is_empty() {
            return Err(RegistrationError::NoRegistrars);
        }
        let mut agent = Agent::bind(config).await?;
        let (at, granted) = agent
            .register_anywhere(0)
            .await
            .map_err(|last| RegistrationError::AllFailed { last })?;
        let shared = Arc::new(Mutex::new(Shared {
            current: Some(agent.registrar(at)),
            failovers: 0,
        }));
        let (stop, stopped) = watch::channel(false);
        let task = tokio::spawn(keep(agent, at, granted, shared.clone(), stopped));
        Ok(Self {
            shared,
            stop,
            task: Some(task),
        })
    }

    fn shared(&self) -> std::sync::MutexGuard<'_, Shared> {
        self.shared.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The registrar holding the binding now; `None` while none does.
    pub fn registrar(&self) -> Option<SocketAddr> {
        self.shared().current
    }

    /// How many times the binding moved to another registrar.
    pub fn failovers(&self) -> u64 {
        self.shared().failovers
    }

    /// Stops refreshing and removes the binding at the registrar holding it.
    pub async fn stop(mut self) -> Result<(), RegistrationError> {
        let _ = self.stop.send(true);
        let current = self.registrar();
        let Some(task) = self.task.take() else {
            return Ok(());
        };
        let mut agent = task.await.map_err(std::io::Error::other)?;
        match current {
            Some(at) => agent
                .unregister(at)
                .await
                .map_err(|last| RegistrationError::AllFailed { last }),
            None => Ok(()),
        }
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

/// Refreshes at half the granted lifetime; on a failure, moves on.
async fn keep(
    mut agent: Agent,
    mut at: usize,
    granted: Duration,
    shared: Arc<Mutex<Shared>>,
    mut stopped: watch::Receiver<bool>,
) -> Agent {
    let mut wait = granted / 2;
    let mut backoff = Duration::from_secs(1);
    let set = |current: Option<SocketAddr>, moved: bool| {
        let mut s = shared.lock().unwrap_or_else(PoisonError::into_inner);
        s.current = current;
        s.failovers += u64::from(moved);
    };
    loop {
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            _ = stopped.changed() => return agent,
        }
        let refreshed = match agent.register_at(at).await {
            Ok(granted) => Ok((at, granted)),
            Err(why) => {
                tracing::warn!(registrar = %agent.registrar(at), %why, "registration lost; moving on");
                agent.register_anywhere(at + 1).await
            }
        };
        match refreshed {
            Ok((next, granted)) => {
                set(Some(agent.registrar(next)), next != at);
                at = next;
                wait = granted / 2;
                backoff = Duration::from_secs(1);
            }
            Err(last) => {
                tracing::warn!(%last, "no registrar takes the binding");
                set(None, false);
                wait = backoff;
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        }
    }
}

/// 16 random hex digits, for tags, branches and Call-IDs.
fn random_hex() -> String {
    let mut b = [0u8; 8];
    // Without OS randomness the tags are still distinct per process.
    let _ = getrandom::fill(&mut b);
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// The local address packets from `sock` to `to` leave from, for a Via.
fn local_toward(sock: &tokio::net::UdpSocket, to: SocketAddr) -> Option<SocketAddr> {
    let bound = sock.local_addr().ok()?;
    if !bound.ip().is_unspecified() {
        return Some(bound);
    }
    let probe = std::net::UdpSocket::bind(SocketAddr::new(bound.ip(), 0)).ok()?;
    probe.connect(to).ok()?;
    Some(SocketAddr::new(probe.local_addr().ok()?.ip(), bound.port()))
}
