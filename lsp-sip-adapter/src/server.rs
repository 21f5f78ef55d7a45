//! UDP and TCP listeners, with the server transaction layer of RFC 3261
//! section 17.2 that a stateless-over-state registrar still needs: a
//! retransmitted request gets the same response, a 3xx to an INVITE is
//! retransmitted over UDP until its ACK, and CANCEL finds its INVITE.

use std::collections::{HashMap, VecDeque};
use std::fmt::{self, Debug};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use ezk_sip_types::Method;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::{Semaphore, mpsc, watch};
use tokio::task::JoinHandle;
use tracing::debug;

use crate::message::{self, Inbound, MAX_MESSAGE_LEN, Request, Response};
use crate::service::{ConfigError, SipService};

/// RFC 3261 timer T1, T2 and the transaction lifetime 64*T1.
const T1: Duration = Duration::from_millis(500);
const T2: Duration = Duration::from_secs(4);
const TX_LIFETIME: Duration = Duration::from_secs(32);

/// Limits of one [`SipServer`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct SipLimits {
    /// Transactions remembered at once; beyond it new requests get 503.
    pub transactions: usize,
    /// Requests handled at once.
    pub in_flight: usize,
    /// TCP connections at once.
    pub tcp_connections: usize,
    /// A TCP connection with no traffic for this long is closed.
    pub tcp_idle: Duration,
}

impl Default for SipLimits {
    fn default() -> Self {
        Self {
            transactions: 65_536,
            in_flight: 1024,
            tcp_connections: 1024,
            tcp_idle: Duration::from_secs(300),
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

/// A running SIP server.
pub struct SipServer {
    udp: Vec<SocketAddr>,
    tcp: Vec<SocketAddr>,
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
    pub async fn bind(service: Arc<SipService>, listen: &SipListen) -> Result<Self, ConfigError> {
        let core = Arc::new(Core {
            service,
            table: Mutex::new(Table::default()),
            permits: Arc::new(Semaphore::new(listen.limits.in_flight.max(1))),
            limits: listen.limits.clone(),
        });
        let (stop, stopped) = watch::channel(false);
        let mut server = SipServer {
            udp: Vec::new(),
            tcp: Vec::new(),
            stop,
            tasks: Vec::new(),
        };
        let bind_err = |addr: SocketAddr| {
            move |e: std::io::Error| ConfigError::Bind {
                addr,
                reason: e.to_string(),
            }
        };
        for &addr in &listen.udp {
            let socket = Arc::new(UdpSocket::bind(addr).await.map_err(bind_err(addr))?);
            server
                .udp
                .push(socket.local_addr().map_err(bind_err(addr))?);
            server.tasks.push(tokio::spawn(udp_loop(
                core.clone(),
                socket,
                stopped.clone(),
            )));
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

struct Core {
    service: Arc<SipService>,
    table: Mutex<Table>,
    permits: Arc<Semaphore>,
    limits: SipLimits,
}

/// How to answer the sender of a request.
#[derive(Clone)]
enum Reply {
    Udp(Arc<UdpSocket>, SocketAddr),
    Tcp(mpsc::Sender<Bytes>),
}

impl Reply {
    async fn send(&self, bytes: Bytes) {
        match self {
            Reply::Udp(socket, to) => {
                let _ = socket.send_to(&bytes, to).await;
            }
            Reply::Tcp(tx) => {
                let _ = tx.send(bytes).await;
            }
        }
    }

    fn is_udp(&self) -> bool {
        matches!(self, Reply::Udp(..))
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct TxKey {
    id: String,
    sent_by: String,
    method: String,
}

impl TxKey {
    /// RFC 3261 17.2.3: branch and sent-by, with ACK matching its INVITE;
    /// for pre-RFC 3261 branches, the dialog identifiers and CSeq.
    fn of(request: &Request, method: &Method) -> Self {
        let id = match &request.branch {
            Some(b) if b.starts_with("z9hG4bK") => b.clone(),
            _ => format!(
                "{}|{}|{}|{}",
                request.call_id,
                request.from_tag.as_deref().unwrap_or(""),
                request.cseq,
                request.uri_text
            ),
        };
        Self {
            id,
            sent_by: request.sent_by.to_ascii_lowercase(),
            method: method.to_string(),
        }
    }
}

#[derive(Default)]
struct Tx {
    response: Option<Bytes>,
    cancelled: bool,
    acked: bool,
}

#[derive(Default)]
struct Table {
    map: HashMap<TxKey, Tx>,
    expiry: VecDeque<(Instant, TxKey)>,
}

impl Table {
    fn purge(&mut self, now: Instant) {
        while let Some((at, _)) = self.expiry.front() {
            if *at > now {
                break;
            }
            if let Some((_, key)) = self.expiry.pop_front() {
                self.map.remove(&key);
            }
        }
    }
}

enum Step {
    /// A new transaction: handle the request.
    New,
    /// Send these bytes (a retransmitted request, or an answer made here).
    Resend(Bytes),
    /// Nothing to do.
    Drop,
}

impl Core {
    async fn dispatch(self: &Arc<Self>, request: Request, source: SocketAddr, reply: Reply) {
        let step = self.classify(&request, source, reply.is_udp());
        match step {
            Step::Drop => {}
            Step::Resend(bytes) => reply.send(bytes).await,
            Step::New => {
                let Ok(permit) = self.permits.clone().try_acquire_owned() else {
                    let busy: Bytes = request
                        .response(503, "Service Unavailable")
                        .with_header("Retry-After", "1")
                        .to_bytes()
                        .into();
                    self.complete(&request, &busy);
                    reply.send(busy).await;
                    return;
                };
                let core = self.clone();
                tokio::spawn(async move {
                    let _permit = permit;
                    core.run(request, source, reply).await;
                });
            }
        }
    }

    /// Matches a request against the transaction table.
    fn classify(&self, request: &Request, source: SocketAddr, udp: bool) -> Step {
        let now = Instant::now();
        let Ok(mut table) = self.table.lock() else {
            return Step::Drop;
        };
        table.purge(now);
        let method = &request.method;
        if *method == Method::ACK {
            if let Some(tx) = table.map.get_mut(&TxKey::of(request, &Method::INVITE)) {
                tx.acked = true;
            }
            return Step::Drop;
        }
        let key = TxKey::of(request, method);
        if let Some(tx) = table.map.get(&key) {
            return match &tx.response {
                Some(bytes) => Step::Resend(bytes.clone()),
                None if *method == Method::INVITE && udp => {
                    Step::Resend(stamp(request, source, 100, "Trying"))
                }
                None => Step::Drop,
            };
        }
        if *method == Method::CANCEL {
            let invite = TxKey::of(request, &Method::INVITE);
            let found = match table.map.get_mut(&invite) {
                Some(tx) => {
                    if tx.response.is_none() {
                        tx.cancelled = true;
                    }
                    true
                }
                None => false,
            };
            let (code, reason) = if found {
                (200, "OK")
            } else {
                (481, "Call/Transaction Does Not Exist")
            };
            let bytes = stamp(request, source, code, reason);
            insert(
                &mut table,
                key,
                Some(bytes.clone()),
                self.limits.transactions,
                now,
            );
            return Step::Resend(bytes);
        }
        if !insert(&mut table, key, None, self.limits.transactions, now) {
            return Step::Resend(stamp(request, source, 503, "Service Unavailable"));
        }
        Step::New
    }

    async fn run(self: Arc<Self>, request: Request, source: SocketAddr, reply: Reply) {
        let Some(mut response) = self.service.handle(&request, source).await else {
            return;
        };
        let invite = request.method == Method::INVITE;
        let key = TxKey::of(&request, &request.method);
        if invite && self.is_cancelled(&key) {
            response = local_response(&request, source, 487, "Request Terminated")
                .with_to_tag(crate::service::to_tag(&request));
        }
        let bytes: Bytes = response.to_bytes().into();
        self.complete(&request, &bytes);
        reply.send(bytes.clone()).await;
        if invite && reply.is_udp() && response.code >= 300 {
            // Timer G: repeat the final response until the ACK comes.
            let mut wait = T1;
            let deadline = Instant::now() + TX_LIFETIME;
            while Instant::now() < deadline {
                tokio::time::sleep(wait).await;
                if self.is_acked(&key) {
                    break;
                }
                reply.send(bytes.clone()).await;
                wait = (wait * 2).min(T2);
            }
        }
    }

    fn complete(&self, request: &Request, bytes: &Bytes) {
        if let Ok(mut table) = self.table.lock() {
            let key = TxKey::of(request, &request.method);
            if let Some(tx) = table.map.get_mut(&key) {
                tx.response = Some(bytes.clone());
            }
        }
    }

    fn is_cancelled(&self, key: &TxKey) -> bool {
        self.table
            .lock()
            .map(|t| t.map.get(key).is_some_and(|tx| tx.cancelled))
            .unwrap_or(false)
    }

    fn is_acked(&self, key: &TxKey) -> bool {
        self.table
            .lock()
            .map(|t| t.map.get(key).is_none_or(|tx| tx.acked))
            .unwrap_or(true)
    }

    async fn on_bytes(self: &Arc<Self>, bytes: &[u8], source: SocketAddr, reply: Reply) {
        match message::parse(bytes) {
            Ok(Inbound::Request(request)) => self.dispatch(*request, source, reply).await,
            Ok(Inbound::Response) => debug!(%source, "dropped a response"),
            Ok(Inbound::KeepAlive) => {
                if !reply.is_udp() {
                    reply.send(Bytes::from_static(b"\r\n")).await;
                }
            }
            Err(m) => {
                debug!(%source, code = m.code, reason = %m.reason, "refused a message");
                if let Some(r) = m.response(source) {
                    reply
                        .send(r.with_header("Server", "lsp-sip-adapter").to_bytes().into())
                        .await;
                }
            }
        }
    }
}

fn insert(
    table: &mut Table,
    key: TxKey,
    response: Option<Bytes>,
    cap: usize,
    now: Instant,
) -> bool {
    if table.map.len() >= cap {
        return false;
    }
    table.expiry.push_back((now + TX_LIFETIME, key.clone()));
    table.map.insert(
        key,
        Tx {
            response,
            ..Tx::default()
        },
    );
    true
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
        core.on_bytes(&buf[..n], source, Reply::Udp(socket.clone(), source))
            .await;
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
    let (tx, mut rx) = mpsc::channel::<Bytes>(64);
    let writer = tokio::spawn(async move {
        while let Some(b) = rx.recv().await {
            if wr.write_all(&b).await.is_err() {
                break;
            }
        }
        let _ = wr.shutdown().await;
    });
    let mut buf = BytesMut::with_capacity(4096);
    'conn: loop {
        let read = tokio::select! {
            r = tokio::time::timeout(core.limits.tcp_idle, rd.read_buf(&mut buf)) => r,
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
                    core.on_bytes(&frame, source, Reply::Tcp(tx.clone())).await;
                }
                Err(m) => {
                    // The stream cannot be resynchronized: answer if we
                    // can, then close.
                    if let Some(r) = m.response(source) {
                        let _ = tx.send(r.to_bytes().into()).await;
                    }
                    break 'conn;
                }
            }
        }
    }
    drop(tx);
    let _ = writer.await;
}
