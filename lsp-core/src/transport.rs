//! Moving opaque, authenticated frames between Node-IDs.
//!
//! A transport knows nothing of the frames' meaning. It guarantees that the
//! `from` of every [`Incoming`] frame is the Node-ID that the sender proved,
//! and that a frame sent to a [`PeerAddr`] reaches only the holder of that
//! Node-ID's key.

use std::collections::{HashMap, HashSet};
use std::fmt::Debug;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::{NodeId, TransportError};

/// A Node-ID and the address where it listens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct PeerAddr {
    /// The Node-ID the peer must prove.
    pub id: NodeId,
    /// Its socket address.
    pub addr: SocketAddr,
}

/// `<node-id>@<address>`, the form bootstrap lists use: 64 hex digits,
/// `@`, and a socket address.
impl std::fmt::Display for PeerAddr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}@{}", self.id, self.addr)
    }
}

/// Why a text is not a `<node-id>@<address>`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PeerAddrError {
    /// There is no `@`.
    #[error("expected <node-id>@<address>")]
    NoAt,
    /// The part before `@` is not 64 hex digits.
    #[error("the Node-ID: {0}")]
    NodeId(#[from] crate::HexError),
    /// The part after `@` is not a socket address.
    #[error("address {text:?}: {source}")]
    Address {
        /// The text after `@`.
        text: String,
        /// Why it does not parse.
        source: std::net::AddrParseError,
    },
}

impl std::str::FromStr for PeerAddr {
    type Err = PeerAddrError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (id, addr) = s.split_once('@').ok_or(PeerAddrError::NoAt)?;
        let id = NodeId::from_hex(id)?;
        let addr = addr.parse().map_err(|source| PeerAddrError::Address {
            text: addr.to_owned(),
            source,
        })?;
        Ok(PeerAddr { id, addr })
    }
}

/// A frame received from an authenticated peer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Incoming {
    /// The Node-ID the sender proved.
    pub from: NodeId,
    /// The address it sent from.
    pub from_addr: SocketAddr,
    /// The frame.
    pub frame: Vec<u8>,
    /// Whether the sender presented an enrollment in this closed ring
    /// that the transport checked, valid now (never, in other rings).
    pub enrolled: bool,
}

/// A bounded, authenticated frame transport.
///
/// Its `async fn`s are written with `async-trait`, as for
/// [`crate::LocationService`], so that a node holds it as `dyn Transport`.
#[async_trait]
pub trait Transport: Send + Sync + Debug + 'static {
    /// This end's Node-ID and listening address.
    fn local(&self) -> PeerAddr;

    /// The largest frame `send` accepts and `recv` returns.
    fn max_frame_len(&self) -> usize;

    /// Sends one frame to `to`. Waits while the peer's queue is full, so a
    /// slow peer slows its senders instead of growing memory.
    async fn send(&self, to: PeerAddr, frame: Vec<u8>) -> Result<(), TransportError>;

    /// Sends several frames to `to`, in order. A transport that can carry
    /// them together (QUIC: on one stream) costs less per frame this way.
    /// An error may come after some of them were sent.
    async fn send_batch(&self, to: PeerAddr, frames: Vec<Vec<u8>>) -> Result<(), TransportError> {
        for frame in frames {
            self.send(to, frame).await?;
        }
        Ok(())
    }

    /// The next frame for this end; [`TransportError::Closed`] after
    /// [`Transport::close`].
    async fn recv(&self) -> Result<Incoming, TransportError>;

    /// Stops sending and receiving. Idempotent.
    async fn close(&self);
}

/// A shared transport is a transport, so that `ChordNode::spawn` takes a
/// transport as it is or behind an `Arc`.
#[async_trait]
impl<T: Transport + ?Sized> Transport for Arc<T> {
    fn local(&self) -> PeerAddr {
        (**self).local()
    }

    fn max_frame_len(&self) -> usize {
        (**self).max_frame_len()
    }

    async fn send(&self, to: PeerAddr, frame: Vec<u8>) -> Result<(), TransportError> {
        (**self).send(to, frame).await
    }

    async fn send_batch(&self, to: PeerAddr, frames: Vec<Vec<u8>>) -> Result<(), TransportError> {
        (**self).send_batch(to, frames).await
    }

    async fn recv(&self) -> Result<Incoming, TransportError> {
        (**self).recv().await
    }

    async fn close(&self) {
        (**self).close().await
    }
}

/// Defaults for [`MemoryNetwork`].
const DEFAULT_QUEUE: usize = 1024;
const DEFAULT_MAX_FRAME: usize = 64 * 1024;

/// An in-process network of [`MemoryTransport`]s, for tests and examples.
/// Endpoints find each other by address; a send checks the Node-ID the way a
/// real transport checks the peer's certificate.
#[derive(Debug, Clone)]
pub struct MemoryNetwork {
    inner: Arc<Mutex<HashMap<SocketAddr, Endpoint>>>,
    /// Addresses whose link is cut: frames to and from them vanish.
    cut: Arc<Mutex<HashSet<SocketAddr>>>,
    queue: usize,
    max_frame: usize,
}

#[derive(Debug, Clone)]
struct Endpoint {
    id: NodeId,
    tx: async_channel::Sender<Incoming>,
}

impl Default for MemoryNetwork {
    fn default() -> Self {
        Self::new(DEFAULT_QUEUE, DEFAULT_MAX_FRAME)
    }
}

impl MemoryNetwork {
    /// A network whose endpoints queue at most `queue` frames of at most
    /// `max_frame` bytes.
    pub fn new(queue: usize, max_frame: usize) -> Self {
        Self {
            inner: Arc::default(),
            cut: Arc::default(),
            queue: queue.max(1),
            max_frame,
        }
    }

    /// Attaches an endpoint for `id` at `addr`, replacing any previous one there.
    pub fn bind(&self, id: NodeId, addr: SocketAddr) -> MemoryTransport {
        let (tx, rx) = async_channel::bounded(self.queue);
        self.endpoints().insert(addr, Endpoint { id, tx });
        MemoryTransport {
            net: self.clone(),
            local: PeerAddr { id, addr },
            rx,
        }
    }

    /// Detaches whatever listens at `addr`, as if its host had vanished.
    pub fn unplug(&self, addr: SocketAddr) {
        if let Some(ep) = self.endpoints().remove(&addr) {
            ep.tx.close();
        }
    }

    /// Cuts the link of whatever listens at `addr`: from now on, frames to
    /// and from it are lost without an error, as on a cable pulled out.
    pub fn cut(&self, addr: SocketAddr) {
        self.cut_links().insert(addr);
    }

    /// Mends a link cut with [`MemoryNetwork::cut`].
    pub fn mend(&self, addr: SocketAddr) {
        self.cut_links().remove(&addr);
    }

    fn is_cut(&self, a: SocketAddr, b: SocketAddr) -> bool {
        let cut = self.cut_links();
        cut.contains(&a) || cut.contains(&b)
    }

    fn cut_links(&self) -> std::sync::MutexGuard<'_, HashSet<SocketAddr>> {
        self.cut.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn endpoints(&self) -> std::sync::MutexGuard<'_, HashMap<SocketAddr, Endpoint>> {
        // The map stays consistent even if a holder panicked.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// One endpoint of a [`MemoryNetwork`].
#[derive(Debug)]
pub struct MemoryTransport {
    net: MemoryNetwork,
    local: PeerAddr,
    rx: async_channel::Receiver<Incoming>,
}

#[async_trait]
impl Transport for MemoryTransport {
    fn local(&self) -> PeerAddr {
        self.local
    }

    fn max_frame_len(&self) -> usize {
        self.net.max_frame
    }

    async fn send(&self, to: PeerAddr, frame: Vec<u8>) -> Result<(), TransportError> {
        if frame.len() > self.net.max_frame {
            return Err(TransportError::FrameTooLarge {
                size: frame.len(),
                limit: self.net.max_frame,
            });
        }
        if self.rx.is_closed() {
            return Err(TransportError::Closed);
        }
        if self.net.is_cut(self.local.addr, to.addr) {
            return Ok(());
        }
        let ep = self.net.endpoints().get(&to.addr).cloned();
        let ep = ep.ok_or(TransportError::Unreachable(to.id))?;
        if ep.id != to.id {
            return Err(TransportError::PeerIdMismatch {
                expected: to.id,
                found: ep.id,
            });
        }
        let msg = Incoming {
            from: self.local.id,
            from_addr: self.local.addr,
            frame,
            enrolled: false,
        };
        ep.tx
            .send(msg)
            .await
            .map_err(|_| TransportError::Unreachable(to.id))
    }

    async fn recv(&self) -> Result<Incoming, TransportError> {
        self.rx.recv().await.map_err(|_| TransportError::Closed)
    }

    async fn close(&self) {
        self.rx.close();
        let mut eps = self.net.endpoints();
        if eps
            .get(&self.local.addr)
            .is_some_and(|ep| ep.id == self.local.id)
        {
            eps.remove(&self.local.addr);
        }
    }
}

/// The address whose share a peer or client at `ip` is charged to: an IPv4
/// address, or an IPv6 address's /64, the block one subscriber is given
/// (RFC 6177), so that one host cannot take 2^64 shares. An IPv4-mapped
/// IPv6 address is its IPv4 address.
pub fn address_share(ip: std::net::IpAddr) -> std::net::IpAddr {
    use std::net::{IpAddr, Ipv6Addr};
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(Ipv6Addr::from(u128::from(v6) & !((1u128 << 64) - 1))),
        },
    }
}

#[cfg(test)]
mod tests {
    use futures::executor::block_on;

    use super::*;
    use crate::Identity;

    fn addr(port: u16) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], port))
    }

    #[test]
    fn frames_arrive_authenticated_and_bounded() {
        block_on(async {
            let net = MemoryNetwork::new(2, 100);
            let a_id = Identity::from_secret_bytes([1; 32]).node_id();
            let b_id = Identity::from_secret_bytes([2; 32]).node_id();
            let a = net.bind(a_id, addr(1));
            let b = net.bind(b_id, addr(2));

            a.send(b.local(), b"hi".to_vec()).await.unwrap();
            let got = b.recv().await.unwrap();
            assert_eq!(
                (got.from, got.from_addr, got.frame),
                (a_id, addr(1), b"hi".to_vec())
            );

            let too_big = vec![0; 101];
            assert_eq!(
                a.send(b.local(), too_big).await,
                Err(TransportError::FrameTooLarge {
                    size: 101,
                    limit: 100
                })
            );
            let wrong = PeerAddr {
                id: a_id,
                addr: addr(2),
            };
            assert_eq!(
                a.send(wrong, vec![]).await,
                Err(TransportError::PeerIdMismatch {
                    expected: a_id,
                    found: b_id
                })
            );
            let nobody = PeerAddr {
                id: b_id,
                addr: addr(3),
            };
            assert_eq!(
                a.send(nobody, vec![]).await,
                Err(TransportError::Unreachable(b_id))
            );

            b.close().await;
            assert_eq!(b.recv().await, Err(TransportError::Closed));
            assert_eq!(
                a.send(b.local(), vec![]).await,
                Err(TransportError::Unreachable(b_id))
            );
        });
    }

    #[test]
    fn a_peer_address_prints_and_parses_as_id_at_address() {
        let p = PeerAddr {
            id: Identity::from_secret_bytes([1; 32]).node_id(),
            addr: "[2001:db8::1]:7400".parse().unwrap(),
        };
        let text = p.to_string();
        assert_eq!(text, format!("{}@[2001:db8::1]:7400", p.id));
        assert_eq!(text.parse::<PeerAddr>(), Ok(p));
        assert_eq!("nothing".parse::<PeerAddr>(), Err(PeerAddrError::NoAt));
        assert_eq!(
            "abc@1.2.3.4:5".parse::<PeerAddr>(),
            Err(PeerAddrError::NodeId(crate::HexError::Length { found: 3 }))
        );
        let bad = format!("{}@localhost", p.id).parse::<PeerAddr>();
        assert!(matches!(bad, Err(PeerAddrError::Address { text, .. }) if text == "localhost"));
    }

    #[test]
    fn a_cut_link_loses_frames_both_ways_until_mended() {
        block_on(async {
            let net = MemoryNetwork::new(4, 100);
            let a = net.bind(Identity::from_secret_bytes([1; 32]).node_id(), addr(1));
            let b = net.bind(Identity::from_secret_bytes([2; 32]).node_id(), addr(2));
            net.cut(addr(1));
            a.send(b.local(), vec![1]).await.unwrap();
            b.send(a.local(), vec![2]).await.unwrap();
            net.mend(addr(1));
            a.send(b.local(), vec![3]).await.unwrap();
            assert_eq!(b.recv().await.unwrap().frame, vec![3], "1 was lost");
            b.send(a.local(), vec![4]).await.unwrap();
            assert_eq!(a.recv().await.unwrap().frame, vec![4], "2 was lost");
        });
    }

    #[test]
    fn a_full_queue_holds_the_sender() {
        let net = MemoryNetwork::new(1, 100);
        let a = net.bind(Identity::from_secret_bytes([1; 32]).node_id(), addr(1));
        let b = net.bind(Identity::from_secret_bytes([2; 32]).node_id(), addr(2));
        block_on(a.send(b.local(), vec![1])).unwrap();
        let mut second = Box::pin(a.send(b.local(), vec![2]));
        let waker = futures::task::noop_waker();
        let mut cx = std::task::Context::from_waker(&waker);
        assert!(
            second.as_mut().poll(&mut cx).is_pending(),
            "queue of 1 must hold the 2nd frame"
        );
        assert_eq!(block_on(b.recv()).unwrap().frame, vec![1]);
        block_on(second).unwrap();
        assert_eq!(block_on(b.recv()).unwrap().frame, vec![2]);
    }
}
