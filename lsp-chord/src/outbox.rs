//! Frames on their way out of the async node: one bounded queue and one
//! sending task per peer, so that a peer that never reads, or grants no
//! stream credit, holds up its own frames and nobody else's. A frame that
//! does not fit is dropped and counted; requests are retried by the state
//! machine, and a dropped answer is asked for again.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use lsp_core::{NodeId, PeerAddr, Transport, TransportError, address_share};
use tokio::sync::mpsc;

/// Frames queued for one peer.
const PEER_FRAMES: usize = 1024;
/// Bytes queued for one peer.
const PEER_BYTES: usize = 256 * 1024;
/// Bytes queued for all peers together.
const ALL_BYTES: usize = 16 * 1024 * 1024;
/// Peers with a queue at once.
const PEERS: usize = 4096;
/// Of those, peers at one address (an IPv4 address or an IPv6 /64): fresh
/// keys from one host cannot take every queue.
const PEERS_PER_ADDRESS: usize = 64;
/// Most bytes of frames sent together (on one QUIC stream).
const STREAM_BATCH_BYTES: usize = 64 * 1024;
/// A peer's task ends after this long with nothing to send.
const IDLE: Duration = Duration::from_secs(30);

/// A frame and the address it goes to.
type Item = (PeerAddr, Vec<u8>);

#[derive(Debug)]
struct Queue {
    tx: mpsc::Sender<Item>,
    bytes: Arc<AtomicUsize>,
    /// The address share it counts against.
    share: IpAddr,
}

/// A peer a send could not reach, and whether its certificate held no
/// enrollment this node's ring key verifies.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SendFailed {
    pub(crate) to: PeerAddr,
    pub(crate) not_enrolled: bool,
}

/// The per-peer queues and their tasks, one per Node-ID whatever address
/// its frames go to: a key that moves across source ports holds one.
#[derive(Debug)]
pub(crate) struct Outbox {
    transport: Arc<dyn Transport>,
    queues: HashMap<NodeId, Queue>,
    /// Queues per address share.
    per_share: HashMap<IpAddr, usize>,
    all_bytes: Arc<AtomicUsize>,
    /// Peers a send failed to.
    failures: mpsc::Sender<SendFailed>,
}

impl Outbox {
    pub(crate) fn new(transport: Arc<dyn Transport>, failures: mpsc::Sender<SendFailed>) -> Self {
        Self {
            transport,
            queues: HashMap::new(),
            per_share: HashMap::new(),
            all_bytes: Arc::new(AtomicUsize::new(0)),
            failures,
        }
    }

    /// Queues `frame` for `to`, never waiting; `false` when it was dropped
    /// because a bound was reached.
    pub(crate) fn send(&mut self, to: PeerAddr, frame: Vec<u8>) -> bool {
        let len = frame.len();
        if self.all_bytes.load(Ordering::Relaxed) + len > ALL_BYTES {
            return false;
        }
        let mut frame = Some(frame);
        // A queue whose task ended idle is replaced once.
        for _ in 0..2 {
            let Some(queue) = self.queue(to) else {
                return false;
            };
            if queue.bytes.load(Ordering::Relaxed) + len > PEER_BYTES {
                return false;
            }
            let Some(f) = frame.take() else { return false };
            match queue.tx.try_send((to, f)) {
                Ok(()) => {
                    queue.bytes.fetch_add(len, Ordering::Relaxed);
                    self.all_bytes.fetch_add(len, Ordering::Relaxed);
                    return true;
                }
                Err(mpsc::error::TrySendError::Full(_)) => return false,
                Err(mpsc::error::TrySendError::Closed((_, f))) => {
                    self.remove(to.id);
                    frame = Some(f);
                }
            }
        }
        false
    }

    /// `to`'s queue, started if need be; `None` when too many peers, or
    /// too many at its address, have one.
    fn queue(&mut self, to: PeerAddr) -> Option<&Queue> {
        if !self.queues.contains_key(&to.id) {
            let share = address_share(to.addr.ip());
            let full = |o: &Self| {
                o.queues.len() >= PEERS
                    || o.per_share
                        .get(&share)
                        .is_some_and(|n| *n >= PEERS_PER_ADDRESS)
            };
            if full(self) {
                let ended: Vec<NodeId> = (self.queues.iter())
                    .filter(|(_, q)| q.tx.is_closed())
                    .map(|(id, _)| *id)
                    .collect();
                for id in ended {
                    self.remove(id);
                }
                if full(self) {
                    return None;
                }
            }
            let (tx, rx) = mpsc::channel(PEER_FRAMES);
            let bytes = Arc::new(AtomicUsize::new(0));
            let task = PeerTask {
                transport: self.transport.clone(),
                bytes: bytes.clone(),
                all_bytes: self.all_bytes.clone(),
                failures: self.failures.clone(),
            };
            tokio::spawn(task.run(rx));
            *self.per_share.entry(share).or_insert(0) += 1;
            self.queues.insert(to.id, Queue { tx, bytes, share });
        }
        self.queues.get(&to.id)
    }

    fn remove(&mut self, id: NodeId) {
        let Some(q) = self.queues.remove(&id) else {
            return;
        };
        if let Some(n) = self.per_share.get_mut(&q.share) {
            *n -= 1;
            if *n == 0 {
                self.per_share.remove(&q.share);
            }
        }
    }
}

struct PeerTask {
    transport: Arc<dyn Transport>,
    bytes: Arc<AtomicUsize>,
    all_bytes: Arc<AtomicUsize>,
    failures: mpsc::Sender<SendFailed>,
}

impl PeerTask {
    async fn run(self, mut rx: mpsc::Receiver<Item>) {
        while let Ok(Some((mut to, frame))) = tokio::time::timeout(IDLE, rx.recv()).await {
            // What queued up behind it leaves with it: under load one
            // stream then carries many frames, and its cost is shared. The
            // latest address is dialed if a connection is needed.
            let mut len = frame.len();
            let mut frames = vec![frame];
            while len < STREAM_BATCH_BYTES {
                let Ok((at, f)) = rx.try_recv() else { break };
                len += f.len();
                frames.push(f);
                to = at;
            }
            let sent = if frames.len() == 1 {
                self.transport.send(to, frames.swap_remove(0)).await
            } else {
                self.transport.send_batch(to, frames).await
            };
            self.settle(len);
            if let Err(e) = sent {
                let not_enrolled = matches!(e, TransportError::NotEnrolled(_));
                let _ = self.failures.try_send(SendFailed { to, not_enrolled });
                // What is queued behind it would wait as long, for nothing.
                while let Ok((_, f)) = rx.try_recv() {
                    self.settle(f.len());
                }
            }
        }
        rx.close();
        while let Ok((_, f)) = rx.try_recv() {
            self.settle(f.len());
        }
    }

    fn settle(&self, len: usize) {
        self.bytes.fetch_sub(len, Ordering::Relaxed);
        self.all_bytes.fetch_sub(len, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;

    use lsp_core::MemoryNetwork;

    use super::*;

    fn outbox() -> Outbox {
        let net = MemoryNetwork::new(64, 64 * 1024);
        let me = net.bind(NodeId([1; 32]), "192.0.2.1:1".parse().expect("addr"));
        let (failures, _) = mpsc::channel(16);
        Outbox::new(Arc::new(me), failures)
    }

    fn at(id: u8, addr: &str) -> PeerAddr {
        let addr: SocketAddr = addr.parse().expect("addr");
        PeerAddr {
            id: NodeId([id; 32]),
            addr,
        }
    }

    /// A key that moves across source ports holds one queue, and fresh keys
    /// from one address hold at most that address's share.
    #[tokio::test]
    async fn queues_are_per_key_and_one_address_holds_a_share() {
        let mut out = outbox();
        for port in 1..5_000u16 {
            // Past its 1,024 queued frames, the key's frames are dropped.
            out.send(at(7, &format!("198.51.100.7:{port}")), vec![0; 8]);
        }
        assert_eq!(out.queues.len(), 1);
        let mut taken = 0;
        for id in 10..=200u8 {
            taken += usize::from(out.send(at(id, "203.0.113.9:5"), vec![0; 8]));
        }
        assert_eq!(taken, PEERS_PER_ADDRESS);
        assert!(
            out.send(at(201, "192.0.2.44:5"), vec![0; 8]),
            "another address"
        );
    }
}
