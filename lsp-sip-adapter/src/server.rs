//! UDP and TCP listeners over the server transaction layer of RFC 3261
//! section 17.2 ([`crate::transaction`]): a retransmitted request gets the
//! same response, a final non-2xx response to an INVITE is retransmitted
//! over UDP until its ACK, and CANCEL finds its INVITE.
//!
//! Only the work of answering (the location-service call) holds one of the
//! in-flight permits. Timers run in one task over one queue, and no task
//! ever waits on a peer: UDP sends never block on a client, and a TCP
//! connection whose queue fills up or whose writes stall is closed.

use std::fmt::{self, Debug};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Waker};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use ezk_sip_types::Method;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore, mpsc, watch};
use tokio::task::JoinHandle;
use tracing::{debug, warn};

use crate::message::{self, Inbound, MAX_MESSAGE_LEN, Request, Response};
use crate::service::{ConfigError, SipService};
use crate::transaction::{Arrival, TransactionLayer, TxConfig, TxKey, TxStats};

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
    /// A TCP connection with no traffic for this long is closed.
    pub tcp_idle: Duration,
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
            tcp_idle: Duration::from_secs(300),
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
        let core = Arc::new(Core {
            service: service.into(),
            txs: Mutex::new(Transactions {
                layer: TransactionLayer::new(listen.limits.transactions),
                wakes_at: None,
            }),
            timer: Notify::new(),
            permits: Arc::new(Semaphore::new(listen.limits.in_flight.max(1))),
            limits: listen.limits.clone(),
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
                Arc::new(bind_udp(addr, listen.limits.udp_buffer).map_err(bind_err(addr))?);
            server
                .udp
                .push(socket.local_addr().map_err(bind_err(addr))?);
            // Several receivers on one socket, as Kamailio's children share
            // theirs: parsing runs on every core the runtime has.
            for _ in 0..listen.limits.udp_receivers.max(1) {
                server.tasks.push(tokio::spawn(udp_loop(
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
            server.tasks.push(tokio::spawn(tcp_accept(
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

    /// The transaction layer's counters.
    pub fn stats(&self) -> TxStats {
        self.core.lock().layer.stats()
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
    /// The transaction layer's counters.
    pub fn stats(&self) -> TxStats {
        self.0.lock().layer.stats()
    }
}

impl Debug for SipMonitor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("SipMonitor").field(&self.stats()).finish()
    }
}

struct Transactions {
    layer: TransactionLayer<ReturnPath>,
    /// When the timer task is due to wake, so that only an earlier timer
    /// needs to wake it.
    wakes_at: Option<Instant>,
}

struct Core {
    service: Arc<SipService>,
    txs: Mutex<Transactions>,
    timer: Notify,
    permits: Arc<Semaphore>,
    limits: SipLimits,
}

/// How to answer the sender of a request.
#[derive(Clone)]
enum ReturnPath {
    Udp(Arc<UdpSocket>, SocketAddr),
    Tcp(TcpOut),
}

impl ReturnPath {
    /// Sends without waiting: a full UDP buffer drops the datagram (the
    /// client retransmits), a full TCP queue closes the connection.
    fn send(&self, bytes: Bytes) {
        match self {
            ReturnPath::Udp(socket, to) => {
                if let Err(e) = socket.try_send_to(&bytes, *to) {
                    debug!(%to, error = %e, "a response was not sent");
                }
            }
            ReturnPath::Tcp(out) => out.send(bytes),
        }
    }

    fn is_udp(&self) -> bool {
        matches!(self, ReturnPath::Udp(..))
    }
}

/// The write side of one TCP connection: a queue bounded in bytes.
#[derive(Clone)]
struct TcpOut {
    queue: mpsc::UnboundedSender<Bytes>,
    queued: Arc<AtomicUsize>,
    cap: usize,
    kill: Arc<Notify>,
}

impl TcpOut {
    fn send(&self, bytes: Bytes) {
        let len = bytes.len();
        if self.queued.fetch_add(len, Ordering::AcqRel) + len > self.cap {
            debug!("closing a TCP connection that does not read");
            self.kill.notify_one();
            return;
        }
        if self.queue.send(bytes).is_err() {
            self.kill.notify_one();
        }
    }
}

impl Core {
    fn lock(&self) -> std::sync::MutexGuard<'_, Transactions> {
        // A panic under the lock leaves the table as consistent as any
        // single update does; keep serving.
        self.txs.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Handles one parsed request; `len` is its size on the wire.
    fn dispatch(
        self: &Arc<Self>,
        request: Request,
        len: usize,
        source: SocketAddr,
        reply: ReturnPath,
        hold: Option<OwnedSemaphorePermit>,
    ) {
        let now = Instant::now();
        let ip = source.ip();
        let reliable = !reply.is_udp();
        if request.method == Method::ACK {
            let invite = TxKey::of(&request, &Method::INVITE);
            let proves = request.to_tag.as_deref() == Some(&*self.service.to_tag(&request));
            self.lock().layer.on_ack(now, &invite, ip, len, proves);
            return;
        }
        let key = TxKey::of(&request, &request.method);
        let cancels =
            (request.method == Method::CANCEL).then(|| TxKey::of(&request, &Method::INVITE));
        let verdict = self.lock().layer.on_request(
            key.clone(),
            cancels.as_ref(),
            ip,
            len,
            reliable,
            reply.clone(),
        );
        match verdict {
            Arrival::Absorb => {}
            Arrival::Resend(bytes) => reply.send(bytes),
            Arrival::Trying => reply.send(stamp(&request, source, 100, "Trying")),
            Arrival::Busy(why) => {
                debug!(%source, ?why, "refused a request");
                reply.send(busy(&request, source));
            }
            Arrival::New {
                cancels: Some(found),
            } => {
                let (code, reason) = if found {
                    (200, "OK")
                } else {
                    (481, "Call/Transaction Does Not Exist")
                };
                let response = local_response(&request, source, code, reason)
                    .with_to_tag(self.service.to_tag(&request));
                self.finish(&key, code, response.to_bytes().into(), &reply);
            }
            Arrival::New { cancels: None } => {
                let Ok(permit) = self.permits.clone().try_acquire_owned() else {
                    self.lock().layer.abandon(&key);
                    reply.send(busy(&request, source));
                    return;
                };
                let core = self.clone();
                let mut request = request;
                request.stamp_source(source);
                run_or_spawn(async move {
                    let answer = core.service.handle(&request, source).await;
                    drop((permit, hold));
                    let Some(mut response) = answer else {
                        core.lock().layer.abandon(&key);
                        return;
                    };
                    if request.method == Method::INVITE && core.lock().layer.is_cancelled(&key) {
                        response = local_response(&request, source, 487, "Request Terminated")
                            .with_to_tag(core.service.to_tag(&request));
                    }
                    core.finish(&key, response.code, response.to_bytes().into(), &reply);
                });
            }
        }
    }

    /// Records the final response of `key` and sends it once; the layer
    /// retransmits it as its timers say.
    fn finish(&self, key: &TxKey, code: u16, bytes: Bytes, reply: &ReturnPath) {
        let wake = {
            let mut txs = self.lock();
            txs.layer.complete(Instant::now(), key, code, bytes.clone());
            let next = txs.layer.poll_timeout();
            next.is_some_and(|n| txs.wakes_at.is_none_or(|w| n < w))
        };
        if wake {
            self.timer.notify_one();
        }
        reply.send(bytes);
    }

    /// Handles one message; `hold` is kept until its answer is made.
    fn on_bytes(
        self: &Arc<Self>,
        bytes: &[u8],
        source: SocketAddr,
        reply: ReturnPath,
        hold: Option<OwnedSemaphorePermit>,
    ) {
        match message::parse(bytes) {
            Ok(Inbound::Request(request)) => {
                self.dispatch(*request, bytes.len(), source, reply, hold)
            }
            Ok(Inbound::Response) => debug!(%source, "dropped a response"),
            Ok(Inbound::KeepAlive) => {
                if !reply.is_udp() {
                    reply.send(Bytes::from_static(b"\r\n"));
                }
            }
            Err(m) => {
                debug!(%source, code = m.code, reason = %m.reason, "refused a message");
                if let Some(r) = m.response(source) {
                    reply.send(r.with_header("Server", "lsp-sip-adapter").to_bytes().into());
                }
            }
        }
    }
}

/// Polls `work` once here and spawns it only if it must wait: an answer from
/// an in-process store is then made with no task and no wake-up.
fn run_or_spawn(work: impl Future<Output = ()> + Send + 'static) {
    let mut work = Box::pin(work);
    let mut cx = Context::from_waker(Waker::noop());
    if work.as_mut().poll(&mut cx).is_pending() {
        // Polled again on its task, with a waker that counts.
        tokio::spawn(work);
    }
}

/// Runs the transaction timers: one task, one queue.
async fn timer_loop(core: Arc<Core>, mut stop: watch::Receiver<bool>) {
    let mut out = Vec::new();
    loop {
        let next = {
            let mut txs = core.lock();
            txs.layer.handle_timeout(Instant::now(), &mut out);
            let next = txs.layer.poll_timeout();
            txs.wakes_at = next;
            next
        };
        for (reply, bytes) in out.drain(..) {
            reply.send(bytes);
        }
        let sleep = async {
            match next {
                Some(at) => tokio::time::sleep_until(at.into()).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = sleep => {}
            _ = core.timer.notified() => {}
            _ = stop.changed() => return,
        }
    }
}

/// A bare response made by the transaction layer itself.
fn local_response(request: &Request, source: SocketAddr, code: u16, reason: &str) -> Response {
    let mut echo = request.echo.clone();
    echo.stamp_source(source);
    Response::new(code, reason, echo).with_header("Server", "lsp-sip-adapter")
}

fn stamp(request: &Request, source: SocketAddr, code: u16, reason: &str) -> Bytes {
    local_response(request, source, code, reason)
        .to_bytes()
        .into()
}

fn busy(request: &Request, source: SocketAddr) -> Bytes {
    local_response(request, source, 503, "Service Unavailable")
        .with_header("Retry-After", "1")
        .to_bytes()
        .into()
}

/// A UDP socket on `addr` whose buffers hold `buffer` bytes each when the
/// kernel allows. With the privilege to (root, as unbound and others do) it
/// goes past `net.core.rmem_max`; a smaller grant is logged, not fatal.
fn bind_udp(addr: SocketAddr, buffer: usize) -> std::io::Result<UdpSocket> {
    use rustix::net::sockopt;
    let socket = std::net::UdpSocket::bind(addr)?;
    let _ = sockopt::set_socket_recv_buffer_size(&socket, buffer);
    let _ = sockopt::set_socket_send_buffer_size(&socket, buffer);
    // Linux reports twice what was asked, the rest booked for its overhead.
    let granted = |s: &std::net::UdpSocket| sockopt::socket_recv_buffer_size(s).unwrap_or(0) / 2;
    #[cfg(target_os = "linux")]
    if granted(&socket) < buffer {
        let _ = sockopt::set_socket_recv_buffer_size_force(&socket, buffer);
        let _ = sockopt::set_socket_send_buffer_size_force(&socket, buffer);
    }
    if granted(&socket) < buffer {
        warn!(%addr, asked = buffer, granted = granted(&socket),
            "the kernel granted a smaller UDP receive buffer: a burst beyond it is dropped \
             and waits for the client's retransmission (raise net.core.rmem_max)");
    }
    socket.set_nonblocking(true)?;
    UdpSocket::from_std(socket)
}

async fn udp_loop(core: Arc<Core>, socket: Arc<UdpSocket>, mut stop: watch::Receiver<bool>) {
    let mut buf = vec![0u8; MAX_MESSAGE_LEN + 1];
    loop {
        let (n, source) = tokio::select! {
            r = socket.recv_from(&mut buf) => match r {
                Ok(x) => x,
                // ICMP errors surface here on some systems; keep serving.
                Err(_) => continue,
            },
            _ = stop.changed() => return,
        };
        if n > MAX_MESSAGE_LEN {
            debug!(%source, "dropped an oversized datagram");
            continue;
        }
        core.on_bytes(
            &buf[..n],
            source,
            ReturnPath::Udp(socket.clone(), source),
            None,
        );
    }
}

async fn tcp_accept(core: Arc<Core>, listener: TcpListener, mut stop: watch::Receiver<bool>) {
    let conns = Arc::new(Semaphore::new(core.limits.tcp_connections.max(1)));
    loop {
        let (stream, source) = tokio::select! {
            r = listener.accept() => match r {
                Ok(x) => x,
                Err(_) => {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = stop.changed() => return,
        };
        let Ok(permit) = conns.clone().try_acquire_owned() else {
            drop(stream);
            continue;
        };
        let core = core.clone();
        let stop = stop.clone();
        tokio::spawn(async move {
            let _permit = permit;
            tcp_conn(core, stream, source, stop).await;
        });
    }
}

async fn tcp_conn(
    core: Arc<Core>,
    stream: TcpStream,
    source: SocketAddr,
    mut stop: watch::Receiver<bool>,
) {
    let (mut rd, mut wr) = stream.into_split();
    let (queue, mut rx) = mpsc::unbounded_channel::<Bytes>();
    let out = TcpOut {
        queue,
        queued: Arc::new(AtomicUsize::new(0)),
        cap: core.limits.tcp_write_queue,
        kill: Arc::new(Notify::new()),
    };
    let (queued, kill, write_timeout) = (
        out.queued.clone(),
        out.kill.clone(),
        core.limits.tcp_write_timeout,
    );
    let (finish, mut finished) = tokio::sync::oneshot::channel::<()>();
    let writer = tokio::spawn(async move {
        loop {
            let b = tokio::select! {
                biased;
                b = rx.recv() => b,
                _ = &mut finished => None,
            };
            let Some(b) = b else { break };
            let written = tokio::time::timeout(write_timeout, wr.write_all(&b)).await;
            queued.fetch_sub(b.len(), Ordering::AcqRel);
            if !matches!(written, Ok(Ok(()))) {
                debug!("closing a TCP connection whose writes stall");
                kill.notify_one();
                return;
            }
        }
        let _ = wr.shutdown().await;
    });
    // Bounds this connection's share of the answering work: it is not read
    // further while its requests are being answered.
    let working = Arc::new(Semaphore::new(core.limits.tcp_in_flight.max(1)));
    let mut buf = BytesMut::with_capacity(4096);
    let mut killed = false;
    'conn: loop {
        let read = tokio::select! {
            r = tokio::time::timeout(core.limits.tcp_idle, rd.read_buf(&mut buf)) => r,
            _ = out.kill.notified() => {
                killed = true;
                break;
            }
            _ = stop.changed() => break,
        };
        match read {
            Ok(Ok(n)) if n > 0 => {}
            _ => break,
        }
        loop {
            match message::stream_frame_len(&buf) {
                Ok(None) => break,
                Ok(Some(len)) => {
                    let frame = buf.split_to(len).freeze();
                    let permit = tokio::select! {
                        p = working.clone().acquire_owned() => p,
                        _ = out.kill.notified() => {
                            killed = true;
                            break 'conn;
                        }
                    };
                    let Ok(permit) = permit else { break 'conn };
                    core.on_bytes(&frame, source, ReturnPath::Tcp(out.clone()), Some(permit));
                }
                Err(m) => {
                    // The stream cannot be resynchronized: answer if we
                    // can, then close.
                    if let Some(r) = m.response(source) {
                        out.send(r.to_bytes().into());
                    }
                    break 'conn;
                }
            }
        }
    }
    if killed {
        writer.abort();
    } else {
        // Flush what is queued, within the write timeout.
        let _ = finish.send(());
        let _ = tokio::time::timeout(core.limits.tcp_write_timeout, writer).await;
    }
}
