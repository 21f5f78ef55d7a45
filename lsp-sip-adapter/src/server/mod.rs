//! UDP and TCP listeners over the server transaction layer of RFC 3261
//! section 17.2 ([`crate::transaction`]): a retransmitted request gets the
//! same response, a final non-2xx response to an INVITE is retransmitted
//! over UDP until its ACK, and CANCEL finds its INVITE.
//!
//! Only the work of answering (the location-service call) holds one of the
//! in-flight permits. Timers run in one task over one queue, and no task
//! ever waits on a peer: UDP sends never block on a client, and a TCP
//! connection whose queue fills up or whose writes stall is closed.
//!
//! Each transport has its file (`udp.rs`: socket buffers and receivers;
//! `tcp.rs`: connections, framing, bounded write queues, idle timeouts);
//! `shared.rs` is what they share: parsing, the transaction layer, the
//! answering work; `path.rs` is how an answer goes back.

mod framer;
mod intake;
mod path;
mod shared;
mod tcp;
mod udp;

use std::fmt::{self, Debug};
use std::net::SocketAddr;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::{Notify, Semaphore, watch};
use tokio::task::JoinHandle;

use crate::service::{ConfigError, SipService};
use crate::transaction::{TransactionLayer, TxConfig, TxStats};
use shared::{Core, Transactions, timer_loop};

/// Limits of one [`SipServer`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct SipLimits {
    /// Timers and state bounds of the transaction layer.
    pub transactions: TxConfig,
    /// Requests being answered at once; beyond it new requests get 503.
    pub in_flight: usize,
    /// Tasks receiving on each UDP socket.
    pub udp_receivers: usize,
    /// Receive and send buffer asked of the kernel for each UDP socket, in
    /// bytes. A burst that overflows the receive buffer is dropped and
    /// waits for the client's retransmission (500 ms at first), so the
    /// default holds a few thousand requests. Linux grants at most
    /// `net.core.rmem_max` / `wmem_max`; a smaller grant is logged.
    pub udp_buffer: usize,
    /// TCP connections at once.
    pub tcp_connections: usize,
    /// TCP connections at once from one source (an IPv4 address, or an
    /// IPv6 /64): one host cannot take the others' connections.
    pub tcp_per_source: usize,
    /// A TCP connection with no traffic for this long is closed.
    pub tcp_idle: Duration,
    /// A message begun on a TCP connection must be whole within this, or
    /// the connection is closed: a sender that trickles a byte now and
    /// then cannot hold a connection open forever.
    pub tcp_message_timeout: Duration,
    /// Bytes queued toward one TCP connection; a connection that lets more
    /// pile up (it does not read) is closed.
    pub tcp_write_queue: usize,
    /// A TCP write that makes no progress for this long closes the
    /// connection.
    pub tcp_write_timeout: Duration,
    /// Requests of one TCP connection answered at once; the connection is
    /// not read further until one finishes.
    pub tcp_in_flight: usize,
}

impl Default for SipLimits {
    fn default() -> Self {
        Self {
            transactions: TxConfig::default(),
            in_flight: 1024,
            udp_receivers: std::thread::available_parallelism().map_or(2, |n| n.get()),
            udp_buffer: 4 << 20,
            tcp_connections: 1024,
            tcp_per_source: 64,
            tcp_idle: Duration::from_secs(300),
            tcp_message_timeout: Duration::from_secs(30),
            tcp_write_queue: 256 * 1024,
            tcp_write_timeout: Duration::from_secs(10),
            tcp_in_flight: 32,
        }
    }
}

/// Where a [`SipServer`] listens.
#[derive(Debug, Clone, Default)]
pub struct SipListen {
    /// UDP addresses.
    pub udp: Vec<SocketAddr>,
    /// TCP addresses.
    pub tcp: Vec<SocketAddr>,
    /// Limits on state and concurrency.
    pub limits: SipLimits,
}

impl SipListen {
    /// UDP on `addr` alone, with the default limits.
    pub fn udp_only(addr: SocketAddr) -> Self {
        Self {
            udp: vec![addr],
            ..Self::default()
        }
    }
}

/// A running SIP server.
pub struct SipServer {
    udp: Vec<SocketAddr>,
    tcp: Vec<SocketAddr>,
    core: Arc<Core>,
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl Debug for SipServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SipServer")
            .field("udp", &self.udp)
            .field("tcp", &self.tcp)
            .finish_non_exhaustive()
    }
}

impl SipServer {
    /// Binds every listener of `listen` and starts serving `service`.
    /// The service passes as it is or in an `Arc`.
    pub async fn bind(
        service: impl Into<Arc<SipService>>,
        listen: &SipListen,
    ) -> Result<Self, ConfigError> {
        let service: Arc<SipService> = service.into();
        let core = Arc::new(Core {
            tags: service.to_tags(),
            service,
            txs: Mutex::new(Transactions {
                layer: TransactionLayer::new(listen.limits.transactions),
                wakes_at: None,
            }),
            timer: Notify::new(),
            permits: Arc::new(Semaphore::new(listen.limits.in_flight.max(1))),
            limits: listen.limits.clone(),
            intake_shed: AtomicU64::new(0),
        });
        let (stop, stopped) = watch::channel(false);
        let mut server = SipServer {
            udp: Vec::new(),
            tcp: Vec::new(),
            core: core.clone(),
            stop,
            tasks: vec![tokio::spawn(timer_loop(core.clone(), stopped.clone()))],
        };
        let bind_err =
            |addr: SocketAddr| move |source: std::io::Error| ConfigError::Bind { addr, source };
        for &addr in &listen.udp {
            let socket =
                Arc::new(udp::bind(addr, listen.limits.udp_buffer).map_err(bind_err(addr))?);
            server
                .udp
                .push(socket.local_addr().map_err(bind_err(addr))?);
            // Several receivers on one socket, as Kamailio's children share
            // theirs: parsing runs on every core the runtime has.
            for _ in 0..listen.limits.udp_receivers.max(1) {
                server.tasks.push(tokio::spawn(udp::receive(
                    core.clone(),
                    socket.clone(),
                    stopped.clone(),
                )));
            }
        }
        for &addr in &listen.tcp {
            let listener = TcpListener::bind(addr).await.map_err(bind_err(addr))?;
            server
                .tcp
                .push(listener.local_addr().map_err(bind_err(addr))?);
            server.tasks.push(tokio::spawn(tcp::accept(
                core.clone(),
                listener,
                stopped.clone(),
            )));
        }
        Ok(server)
    }

    /// The bound UDP addresses.
    pub fn udp_addrs(&self) -> &[SocketAddr] {
        &self.udp
    }

    /// The bound TCP addresses.
    pub fn tcp_addrs(&self) -> &[SocketAddr] {
        &self.tcp
    }

    /// The transaction layer's counters, and the datagrams shed unread.
    pub fn stats(&self) -> TxStats {
        self.core.stats()
    }

    /// A handle that reads [`stats`](Self::stats) from elsewhere (a status
    /// endpoint) for as long as the server runs.
    pub fn monitor(&self) -> SipMonitor {
        SipMonitor(self.core.clone())
    }

    /// Stops listening and waits for the listeners to end.
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        for t in self.tasks.drain(..) {
            let _ = t.await;
        }
    }
}

impl Drop for SipServer {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

/// Reads a running [`SipServer`]'s counters; see [`SipServer::monitor`].
#[derive(Clone)]
pub struct SipMonitor(Arc<Core>);

impl SipMonitor {
    /// The transaction layer's counters, and the datagrams shed unread.
    pub fn stats(&self) -> TxStats {
        self.0.stats()
    }
}

impl Debug for SipMonitor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("SipMonitor").field(&self.stats()).finish()
    }
}
