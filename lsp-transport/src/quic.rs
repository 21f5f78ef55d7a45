//! The QUIC transport: one endpoint per node, a cache of connections keyed
//! by Node-ID (one per identity; the least recently used goes first when
//! the cache is full), unidirectional streams of one or more frames.
//!
//! A frame on the wire is a 4-byte big-endian length and the frame. The
//! receiver reads the length first and stops a stream that announces more
//! than the limit, so an oversized frame costs it nothing and the connection
//! carries on. Received frames go through one bounded queue; when it is
//! full, readers wait, streams stay unread, and QUIC flow control slows the
//! senders down.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use lsp_core::{
    Enrollment, Identity, Incoming, NodeId, PeerAddr, PublicKey, Transport, TransportError,
    UnixTime, address_share,
};
use quinn::crypto::rustls::{QuicClientConfig, QuicServerConfig};
use quinn::{Connection, Endpoint, RecvStream, VarInt};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::Error;
use crate::fair::FairQueue;
use crate::tls::{self, Credentials};

/// Settings of a [`QuicTransport`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct TransportConfig {
    /// Largest frame sent or accepted.
    pub max_frame_len: usize,
    /// Frames received but not yet taken by `recv`.
    pub incoming_queue: usize,
    /// Of those, frames from one peer at most (a quarter by default):
    /// beyond it that peer's streams wait (QUIC flow control slows it
    /// down), so that one peer cannot fill the queue every other peer
    /// needs.
    pub incoming_per_peer: usize,
    /// Streams a peer may have open towards us at once, per connection.
    pub max_streams_per_connection: u32,
    /// Connections kept open at once.
    pub max_connections: usize,
    /// Connections accepted from one address at once (an IPv4 address, or
    /// an IPv6 /64): fresh keys from one host cannot push every honest
    /// connection out of the cache. Nodes sharing one address (a lab on
    /// 127.0.0.1, a NAT) count together.
    pub max_connections_per_address: usize,
    /// Longest a connect plus write, or a read of one frame, may take.
    pub request_timeout: Duration,
    /// A connection with no traffic for this long is closed.
    pub idle_timeout: Duration,
    /// Keep-alive pings on open connections, under the idle timeout.
    pub keep_alive: Duration,
    /// Set for a closed ring: peers dialed must be enrolled, and frames
    /// say whether their sender is (see [`lsp_core::Admission::Enrolled`]).
    pub closed_ring: Option<ClosedRing>,
}

/// A closed ring's enrollment, as a transport needs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClosedRing {
    /// The public half of the ring's enrollment key.
    pub ring: PublicKey,
    /// This node's own enrollment: a member has one, a client none.
    pub enrollment: Option<Enrollment>,
}

impl ClosedRing {
    /// A client's: it checks members' enrollments under `ring` and needs
    /// none itself.
    pub fn client(ring: PublicKey) -> Self {
        Self {
            ring,
            enrollment: None,
        }
    }

    /// A member's, with its own enrollment.
    pub fn member(ring: PublicKey, enrollment: Enrollment) -> Self {
        Self {
            ring,
            enrollment: Some(enrollment),
        }
    }
}

impl TransportConfig {
    /// The same settings in the closed ring `ring` (see
    /// [`TransportConfig::closed_ring`]).
    pub fn in_closed_ring(mut self, ring: ClosedRing) -> Self {
        self.closed_ring = Some(ring);
        self
    }
}

impl Default for TransportConfig {
    fn default() -> Self {
        Self {
            max_frame_len: 64 * 1024,
            incoming_queue: 1024,
            incoming_per_peer: 256,
            max_streams_per_connection: 64,
            max_connections: 1024,
            max_connections_per_address: 64,
            request_timeout: Duration::from_secs(5),
            idle_timeout: Duration::from_secs(60),
            keep_alive: Duration::from_secs(20),
            closed_ring: None,
        }
    }
}

/// The QUIC settings both ends of every connection use. Every window is
/// set here rather than left to quinn's defaults (about 1.25 MB per
/// stream, datagrams on), so that what one peer can make this node buffer
/// is known: a stream carries at most a batch of frames (two frames'
/// worth), a connection at most eight frames' worth unread, and no
/// datagrams are taken at all (nothing here sends any).
fn quic_settings(cfg: &TransportConfig) -> Result<Arc<quinn::TransportConfig>, Error> {
    let frame = cfg.max_frame_len as u64 + 4;
    let window = |n: u64| VarInt::from_u64(n * frame).map_err(|_| Error::Config("max_frame_len"));
    let mut transport = quinn::TransportConfig::default();
    transport
        .stream_receive_window(window(2)?)
        .receive_window(window(8)?)
        .send_window(8 * frame)
        .datagram_receive_buffer_size(None)
        .max_concurrent_uni_streams(VarInt::from_u32(cfg.max_streams_per_connection))
        .max_concurrent_bidi_streams(VarInt::from_u32(0))
        .max_idle_timeout(Some(
            cfg.idle_timeout
                .try_into()
                .map_err(|_| Error::Config("idle_timeout"))?,
        ))
        .keep_alive_interval(Some(cfg.keep_alive));
    Ok(Arc::new(transport))
}

/// An open connection to a peer.
#[derive(Debug)]
struct Cached {
    conn: Connection,
    /// When it was last used, for least-recently-used eviction.
    used: Instant,
    /// In a closed ring: when the peer's enrollment runs out, if it has one.
    enrolled_until: Option<UnixTime>,
    /// Whether this node dialed it.
    dialed: bool,
}

/// Whether an enrollment that runs out at `until` still holds.
fn holds(until: Option<UnixTime>) -> bool {
    until.is_some_and(|u| UnixTime::now() < u)
}

/// The certificate credentials for `identity`, with its own enrollment
/// checked first: a node that would be refused everywhere says so now.
fn credentials(identity: &Identity, cfg: &TransportConfig) -> Result<Credentials, Error> {
    let enrollment = match &cfg.closed_ring {
        Some(ClosedRing {
            ring,
            enrollment: Some(e),
        }) => {
            e.check(ring, &identity.node_id(), UnixTime::now())
                .map_err(Error::Enrollment)?;
            Some(e)
        }
        _ => None,
    };
    Credentials::new(identity, enrollment)
}

/// Application close codes.
const CLOSE_SHUTDOWN: u32 = 0;
const STOP_TOO_LARGE: u32 = 1;

/// A [`Transport`] over QUIC with Node-ID-bound TLS identities.
#[derive(Debug, Clone)]
pub struct QuicTransport {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    endpoint: Endpoint,
    local: PeerAddr,
    cfg: TransportConfig,
    creds: Credentials,
    transport: Arc<quinn::TransportConfig>,
    /// Never held across an await.
    conns: Mutex<HashMap<NodeId, Cached>>,
    /// Received frames, served in turn across senders.
    incoming: FairQueue,
    /// Each peer's share of the incoming queue: a permit per frame queued,
    /// given back when `recv` takes it. Never held across an await.
    shares: Mutex<HashMap<NodeId, Arc<Semaphore>>>,
    closed: tokio::sync::watch::Sender<bool>,
}

impl QuicTransport {
    /// Listens on `listen` (port 0 picks one) as `identity`. Needs a tokio
    /// runtime.
    pub fn bind(
        identity: &Identity,
        listen: SocketAddr,
        cfg: TransportConfig,
    ) -> Result<Self, Error> {
        let creds = credentials(identity, &cfg)?;
        let transport = quic_settings(&cfg)?;
        let server_crypto = QuicServerConfig::try_from(tls::server_config(&creds)?)
            .map_err(|e| Error::Tls(e.into()))?;
        let mut server = quinn::ServerConfig::with_crypto(Arc::new(server_crypto));
        server.transport_config(transport.clone());
        let endpoint = Endpoint::server(server, listen).map_err(Error::Bind)?;
        let this = Self::start(identity, endpoint, creds, transport, cfg)?;
        tokio::spawn(accept_loop(this.inner.clone()));
        Ok(this)
    }

    /// A transport that only connects out, for a client of the ring (a
    /// phone behind NAT): it binds `local` (`0.0.0.0:0` picks any port)
    /// and accepts no connection. Peers answer on the connections it
    /// opens, which keep-alives hold open (and hold a NAT's mapping).
    /// Needs a tokio runtime.
    pub fn client(
        identity: &Identity,
        local: SocketAddr,
        cfg: TransportConfig,
    ) -> Result<Self, Error> {
        let creds = credentials(identity, &cfg)?;
        let transport = quic_settings(&cfg)?;
        let endpoint = Endpoint::client(local).map_err(Error::Bind)?;
        Self::start(identity, endpoint, creds, transport, cfg)
    }

    fn start(
        identity: &Identity,
        endpoint: Endpoint,
        creds: Credentials,
        transport: Arc<quinn::TransportConfig>,
        cfg: TransportConfig,
    ) -> Result<Self, Error> {
        let addr = endpoint.local_addr().map_err(Error::Bind)?;
        let incoming = FairQueue::new(cfg.incoming_queue);
        let inner = Arc::new(Inner {
            endpoint,
            local: PeerAddr {
                id: identity.node_id(),
                addr,
            },
            cfg,
            creds,
            transport,
            conns: Mutex::new(HashMap::new()),
            incoming,
            shares: Mutex::new(HashMap::new()),
            closed: tokio::sync::watch::Sender::new(false),
        });
        Ok(Self { inner })
    }

    /// Open connections, for status pages.
    pub async fn connections(&self) -> usize {
        self.inner.conns().len()
    }
}

async fn accept_loop(inner: Arc<Inner>) {
    let mut closed = inner.closed.subscribe();
    loop {
        let incoming = tokio::select! {
            i = inner.endpoint.accept() => i,
            _ = closed.changed() => None,
        };
        let Some(incoming) = incoming else { return };
        let inner = inner.clone();
        tokio::spawn(async move {
            let conn = match tokio::time::timeout(inner.cfg.request_timeout, incoming).await {
                Ok(Ok(c)) => c,
                Ok(Err(e)) => {
                    tracing::debug!("incoming connection failed: {e}");
                    return;
                }
                Err(_) => return,
            };
            let Some((peer, cert)) = peer_cert(&conn) else {
                conn.close(VarInt::from_u32(CLOSE_SHUTDOWN), b"no identity");
                return;
            };
            // A client that is not enrolled is still served, as a stranger.
            let enrolled_until = inner
                .cfg
                .closed_ring
                .and_then(|c| tls::check_enrollment(&cert, &peer, &c.ring).ok());
            if inner.remember(peer, conn.clone(), enrolled_until, false) {
                read_frames(inner, conn, peer, enrolled_until).await;
            }
        });
    }
}

fn peer_cert(conn: &Connection) -> Option<(NodeId, rustls::pki_types::CertificateDer<'static>)> {
    let any = conn.peer_identity()?;
    let certs = any
        .downcast::<Vec<rustls::pki_types::CertificateDer<'static>>>()
        .ok()?;
    let cert = certs.first()?.clone();
    Some((tls::node_id_of(&cert).ok()?, cert))
}

/// Reads frames from every stream the peer opens on `conn` until it closes.
/// Each frame says whether the peer's enrollment (running out at
/// `enrolled_until`) holds when it arrives.
async fn read_frames(
    inner: Arc<Inner>,
    conn: Connection,
    peer: NodeId,
    enrolled_until: Option<UnixTime>,
) {
    let share = inner.share(peer);
    loop {
        // The peer's share: a permit for each of its frames queued or being
        // read. Beyond it this peer's streams wait unaccepted, alone, and
        // QUIC flow control holds it to its stream credit: a frame sent
        // slowly must not buy a task and a buffer past the share.
        let Ok(permit) = share.clone().acquire_owned().await else {
            break;
        };
        let stream = match conn.accept_uni().await {
            Ok(s) => s,
            Err(_) => break,
        };
        let from_addr = conn.remote_address();
        if let Some(c) = inner.conns().get_mut(&peer)
            && c.conn.stable_id() == conn.stable_id()
        {
            c.used = Instant::now();
        }
        let reader = StreamReader {
            inner: inner.clone(),
            share: share.clone(),
            peer,
            from_addr,
            enrolled_until,
        };
        let mut read = Box::pin(reader.read(permit, stream));
        // Small frames have usually arrived whole with their stream: take
        // them here, and leave only slow streams to a task of their own.
        let done = tokio::select! {
            biased;
            () = &mut read => true,
            () = std::future::ready(()) => false,
        };
        if !done {
            tokio::spawn(read);
        }
    }
    drop(share);
    inner.drop_share(peer);
    let mut conns = inner.conns();
    if conns
        .get(&peer)
        .is_some_and(|c| c.conn.stable_id() == conn.stable_id())
    {
        conns.remove(&peer);
    }
}

/// Takes the frames of one stream to the incoming queue.
struct StreamReader {
    inner: Arc<Inner>,
    share: Arc<Semaphore>,
    peer: NodeId,
    from_addr: SocketAddr,
    enrolled_until: Option<UnixTime>,
}

impl StreamReader {
    /// Reads `stream`'s frames in order, each under its own timeout, until
    /// it ends, fails or announces an oversized frame. `permit`, taken from
    /// the peer's share, covers the first frame; each next one waits for
    /// one of its own before its body is read.
    async fn read(self, permit: OwnedSemaphorePermit, mut stream: RecvStream) {
        let (wait, max) = (self.inner.cfg.request_timeout, self.inner.cfg.max_frame_len);
        let mut permit = Some(permit);
        loop {
            let Ok(Some(len)) =
                tokio::time::timeout(wait, frame_len(&mut stream, max, self.peer)).await
            else {
                return;
            };
            let permit = match permit.take() {
                Some(p) => p,
                None => match self.share.clone().acquire_owned().await {
                    Ok(p) => p,
                    Err(_) => return,
                },
            };
            let mut frame = vec![0u8; len];
            let Ok(Ok(())) = tokio::time::timeout(wait, stream.read_exact(&mut frame)).await else {
                return;
            };
            // Queued, the frame keeps its permit until `recv` takes it.
            permit.forget();
            let incoming = Incoming {
                from: self.peer,
                from_addr: self.from_addr,
                frame,
                enrolled: holds(self.enrolled_until),
            };
            // A full queue makes this reader wait: backpressure.
            if self.inner.incoming.push(incoming).await.is_err() {
                self.inner.give_back(self.peer);
                return;
            }
        }
    }
}

/// The length of `stream`'s next frame; `None` at its end, when it fails,
/// or when it announces more than `max` bytes (then the stream is stopped
/// unread).
async fn frame_len(stream: &mut RecvStream, max: usize, peer: NodeId) -> Option<usize> {
    let mut len = [0u8; 4];
    stream.read_exact(&mut len).await.ok()?;
    let len = u32::from_be_bytes(len) as usize;
    if len > max {
        tracing::debug!("{peer}: frame of {len} bytes refused");
        let _ = stream.stop(VarInt::from_u32(STOP_TOO_LARGE));
        return None;
    }
    Some(len)
}

impl Inner {
    fn shares(&self) -> std::sync::MutexGuard<'_, HashMap<NodeId, Arc<Semaphore>>> {
        self.shares.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn share_size(&self) -> usize {
        self.cfg.incoming_per_peer.max(1)
    }

    /// The peer's share, one for all its connections.
    fn share(&self, peer: NodeId) -> Arc<Semaphore> {
        let size = self.share_size();
        self.shares()
            .entry(peer)
            .or_insert_with(|| Arc::new(Semaphore::new(size)))
            .clone()
    }

    /// A frame of `peer`'s left the queue.
    fn give_back(&self, peer: NodeId) {
        if let Some(s) = self.shares().get(&peer)
            && s.available_permits() < self.share_size()
        {
            s.add_permits(1);
        }
    }

    /// A connection of `peer` ended: its share goes once nothing else
    /// holds it and none of its frames is queued.
    fn drop_share(&self, peer: NodeId) {
        let size = self.share_size();
        let mut shares = self.shares();
        if shares
            .get(&peer)
            .is_some_and(|s| Arc::strong_count(s) == 1 && s.available_permits() >= size)
        {
            shares.remove(&peer);
        }
    }

    fn conns(&self) -> std::sync::MutexGuard<'_, HashMap<NodeId, Cached>> {
        self.conns.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Keeps `conn` as the connection to `peer`; `dialed` when this node
    /// dialed it. Returns whether it is served: an accepted connection
    /// past its address's share is closed instead.
    fn remember(
        &self,
        peer: NodeId,
        conn: Connection,
        enrolled_until: Option<UnixTime>,
        dialed: bool,
    ) -> bool {
        let mut conns = self.conns();
        if let Some(old) = conns.get(&peer)
            && old.conn.stable_id() != conn.stable_id()
            && old.conn.close_reason().is_none()
        {
            if old.dialed != dialed {
                // Both ends dialed at once. Each keeps the one the lower
                // Node-ID dialed, so both keep the same; the other is
                // still read, and idles out.
                let keep_ours = self.local.id < peer;
                if old.dialed == keep_ours {
                    return true;
                }
            } else {
                // One key, one connection: a newer one from the same side
                // replaces the older, which would otherwise stay open.
                (old.conn).close(VarInt::from_u32(CLOSE_SHUTDOWN), b"replaced");
            }
        } else if !dialed && !conns.contains_key(&peer) {
            let from = address_share(conn.remote_address().ip());
            let there = conns
                .values()
                .filter(|c| !c.dialed && address_share(c.conn.remote_address().ip()) == from)
                .count();
            if there >= self.cfg.max_connections_per_address {
                conn.close(
                    VarInt::from_u32(CLOSE_SHUTDOWN),
                    b"too many from this address",
                );
                return false;
            }
        }
        if conns.len() >= self.cfg.max_connections && !conns.contains_key(&peer) {
            // Make room: drop the least recently used connection, which
            // reconnects on demand.
            let victim = conns.iter().min_by_key(|(_, c)| c.used).map(|(id, _)| *id);
            if let Some(c) = victim.and_then(|v| conns.remove(&v)) {
                c.conn
                    .close(VarInt::from_u32(CLOSE_SHUTDOWN), b"too many connections");
            }
        }
        let cached = Cached {
            conn,
            used: Instant::now(),
            enrolled_until,
            dialed,
        };
        conns.insert(peer, cached);
        true
    }

    async fn connection(self: &Arc<Self>, to: PeerAddr) -> Result<Connection, TransportError> {
        {
            let mut conns = self.conns();
            if let Some(c) = conns.get_mut(&to.id)
                && c.conn.close_reason().is_none()
            {
                // A peer whose enrollment ran out is dialed again, and its
                // handshake then fails.
                if c.enrolled_until.is_none() || holds(c.enrolled_until) {
                    c.used = Instant::now();
                    return Ok(c.conn.clone());
                }
                c.conn
                    .close(VarInt::from_u32(CLOSE_SHUTDOWN), b"enrollment expired");
                conns.remove(&to.id);
            }
        }
        let ring = self.cfg.closed_ring.map(|c| c.ring);
        let (crypto, found) = tls::client_config(&self.creds, to.id, ring)
            .map_err(|_| TransportError::Unreachable(to.id))?;
        let crypto =
            QuicClientConfig::try_from(crypto).map_err(|_| TransportError::Unreachable(to.id))?;
        let mut client = quinn::ClientConfig::new(Arc::new(crypto));
        client.transport_config(self.transport.clone());
        let connecting = self
            .endpoint
            .connect_with(client, to.addr, "lsp.invalid")
            .map_err(|_| TransportError::Unreachable(to.id))?;
        let conn = match connecting.await {
            Ok(c) => c,
            Err(_) => {
                let found = *found
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                return Err(match found {
                    tls::Found {
                        id: Some(found), ..
                    } if found != to.id => TransportError::PeerIdMismatch {
                        expected: to.id,
                        found,
                    },
                    tls::Found {
                        enrollment: Some(Err(e)),
                        ..
                    } => TransportError::NotEnrolled(e),
                    _ => TransportError::Unreachable(to.id),
                });
            }
        };
        let enrolled_until = found
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .enrollment
            .and_then(Result::ok);
        self.remember(to.id, conn.clone(), enrolled_until, true);
        tokio::spawn(read_frames(
            self.clone(),
            conn.clone(),
            to.id,
            enrolled_until,
        ));
        Ok(conn)
    }

    fn forget(&self, peer: NodeId) {
        self.conns().remove(&peer);
    }
}

/// Writes `frames`, each already a 4-byte length and its bytes, on one
/// new stream, in one write so that small frames leave in one packet.
async fn write_frames(conn: &Connection, frames: &[u8]) -> Result<(), ()> {
    let mut stream = conn.open_uni().await.map_err(|_| ())?;
    stream.write_all(frames).await.map_err(|_| ())?;
    stream.finish().map_err(|_| ())
}

impl QuicTransport {
    /// Appends `frame` with its length to `out`, if it is within the limit.
    fn put_frame(&self, out: &mut Vec<u8>, frame: &[u8]) -> Result<(), TransportError> {
        let limit = self.inner.cfg.max_frame_len;
        match u32::try_from(frame.len()) {
            Ok(len) if frame.len() <= limit => {
                out.extend_from_slice(&len.to_be_bytes());
                out.extend_from_slice(frame);
                Ok(())
            }
            _ => Err(TransportError::FrameTooLarge {
                size: frame.len(),
                limit,
            }),
        }
    }

    /// Sends frames put together by [`Self::put_frame`] on one stream.
    async fn send_encoded(&self, to: PeerAddr, frames: Vec<u8>) -> Result<(), TransportError> {
        if *self.inner.closed.borrow() {
            return Err(TransportError::Closed);
        }
        let inner = &self.inner;
        let attempt = async {
            // A cached connection may have died quietly: one fresh retry.
            for _ in 0..2 {
                let conn = inner.connection(to).await?;
                if write_frames(&conn, &frames).await.is_ok() {
                    return Ok(());
                }
                inner.forget(to.id);
            }
            Err(TransportError::Unreachable(to.id))
        };
        match tokio::time::timeout(inner.cfg.request_timeout, attempt).await {
            Ok(r) => r,
            Err(_) => Err(TransportError::Timeout),
        }
    }
}

#[async_trait]
impl Transport for QuicTransport {
    fn local(&self) -> PeerAddr {
        self.inner.local
    }

    fn max_frame_len(&self) -> usize {
        self.inner.cfg.max_frame_len
    }

    async fn send(&self, to: PeerAddr, frame: Vec<u8>) -> Result<(), TransportError> {
        let mut out = Vec::with_capacity(4 + frame.len());
        self.put_frame(&mut out, &frame)?;
        self.send_encoded(to, out).await
    }

    /// All the frames on one stream, back to back: what a stream costs
    /// (opening, flow control, its end) is paid once for them all.
    async fn send_batch(&self, to: PeerAddr, frames: Vec<Vec<u8>>) -> Result<(), TransportError> {
        let mut out = Vec::with_capacity(frames.iter().map(|f| 4 + f.len()).sum());
        for frame in &frames {
            self.put_frame(&mut out, frame)?;
        }
        self.send_encoded(to, out).await
    }

    async fn recv(&self) -> Result<Incoming, TransportError> {
        // `close` closes the queue, which ends every waiting `recv`.
        let incoming = (self.inner.incoming.pop().await).ok_or(TransportError::Closed)?;
        self.inner.give_back(incoming.from);
        Ok(incoming)
    }

    async fn close(&self) {
        if self.inner.closed.send_replace(true) {
            return;
        }
        self.inner
            .endpoint
            .close(VarInt::from_u32(CLOSE_SHUTDOWN), b"shutdown");
        self.inner.incoming.close();
        self.inner.conns().clear();
        let _ = tokio::time::timeout(Duration::from_secs(2), self.inner.endpoint.wait_idle()).await;
    }
}

#[cfg(test)]
mod tests;
