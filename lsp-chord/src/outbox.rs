//! Frames on their way out of the async node: one bounded queue and one
//! sending task per peer, so that a peer that never reads, or grants no
//! stream credit, holds up its own frames and nobody else's. A frame that
//! does not fit is dropped and counted; requests are retried by the state
//! machine, and a dropped answer is asked for again.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use lsp_core::{PeerAddr, Transport};
use tokio::sync::mpsc;

/// Frames queued for one peer.
const PEER_FRAMES: usize = 1024;
/// Bytes queued for one peer.
const PEER_BYTES: usize = 256 * 1024;
/// Bytes queued for all peers together.
const ALL_BYTES: usize = 16 * 1024 * 1024;
/// Peers with a queue at once.
const PEERS: usize = 4096;
/// Most bytes of frames sent together (on one QUIC stream).
const STREAM_BATCH_BYTES: usize = 64 * 1024;
/// A peer's task ends after this long with nothing to send.
const IDLE: Duration = Duration::from_secs(30);

#[derive(Debug)]
struct Queue {
    tx: mpsc::Sender<Vec<u8>>,
    bytes: Arc<AtomicUsize>,
}

/// The per-peer queues and their tasks.
#[derive(Debug)]
pub(crate) struct Outbox {
    transport: Arc<dyn Transport>,
    queues: HashMap<PeerAddr, Queue>,
    all_bytes: Arc<AtomicUsize>,
    /// Peers a send failed to.
    failures: mpsc::Sender<PeerAddr>,
}

impl Outbox {
    pub(crate) fn new(transport: Arc<dyn Transport>, failures: mpsc::Sender<PeerAddr>) -> Self {
        Self {
            transport,
            queues: HashMap::new(),
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
            match queue.tx.try_send(f) {
                Ok(()) => {
                    queue.bytes.fetch_add(len, Ordering::Relaxed);
                    self.all_bytes.fetch_add(len, Ordering::Relaxed);
                    return true;
                }
                Err(mpsc::error::TrySendError::Full(_)) => return false,
                Err(mpsc::error::TrySendError::Closed(f)) => {
                    self.queues.remove(&to);
                    frame = Some(f);
                }
            }
        }
        false
    }

    /// `to`'s queue, started if need be; `None` when too many peers have one.
    fn queue(&mut self, to: PeerAddr) -> Option<&Queue> {
        if !self.queues.contains_key(&to) {
            if self.queues.len() >= PEERS {
                self.queues.retain(|_, q| !q.tx.is_closed());
                if self.queues.len() >= PEERS {
                    return None;
                }
            }
            let (tx, rx) = mpsc::channel(PEER_FRAMES);
            let bytes = Arc::new(AtomicUsize::new(0));
            let task = PeerTask {
                transport: self.transport.clone(),
                to,
                bytes: bytes.clone(),
                all_bytes: self.all_bytes.clone(),
                failures: self.failures.clone(),
            };
            tokio::spawn(task.run(rx));
            self.queues.insert(to, Queue { tx, bytes });
        }
        self.queues.get(&to)
    }
}

struct PeerTask {
    transport: Arc<dyn Transport>,
    to: PeerAddr,
    bytes: Arc<AtomicUsize>,
    all_bytes: Arc<AtomicUsize>,
    failures: mpsc::Sender<PeerAddr>,
}

impl PeerTask {
    async fn run(self, mut rx: mpsc::Receiver<Vec<u8>>) {
        while let Ok(Some(frame)) = tokio::time::timeout(IDLE, rx.recv()).await {
            // What queued up behind it leaves with it: under load one
            // stream then carries many frames, and its cost is shared.
            let mut len = frame.len();
            let mut frames = vec![frame];
            while len < STREAM_BATCH_BYTES {
                let Ok(f) = rx.try_recv() else { break };
                len += f.len();
                frames.push(f);
            }
            let sent = if frames.len() == 1 {
                self.transport.send(self.to, frames.swap_remove(0)).await
            } else {
                self.transport.send_batch(self.to, frames).await
            };
            self.settle(len);
            if sent.is_err() {
                let _ = self.failures.try_send(self.to);
                // What is queued behind it would wait as long, for nothing.
                while let Ok(f) = rx.try_recv() {
                    self.settle(f.len());
                }
            }
        }
        rx.close();
        while let Ok(f) = rx.try_recv() {
            self.settle(f.len());
        }
    }

    fn settle(&self, len: usize) {
        self.bytes.fetch_sub(len, Ordering::Relaxed);
        self.all_bytes.fetch_sub(len, Ordering::Relaxed);
    }
}
