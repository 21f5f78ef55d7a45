//! How an answer goes back to the sender of a request: on the UDP socket
//! it came in on, or on the queue of its TCP connection.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::Bytes;
use tokio::net::UdpSocket;
use tokio::sync::{Notify, mpsc};
use tracing::debug;

/// How to answer the sender of a request.
#[derive(Clone)]
pub(super) enum ReturnPath {
    Udp(Arc<UdpSocket>, SocketAddr),
    Tcp(TcpOut),
}

impl ReturnPath {
    /// Sends without waiting: a full UDP buffer drops the datagram (the
    /// client retransmits), a full TCP queue closes the connection.
    pub(super) fn send(&self, bytes: Bytes) {
        match self {
            ReturnPath::Udp(socket, to) => {
                if let Err(e) = socket.try_send_to(&bytes, *to) {
                    debug!(%to, error = %e, "a response was not sent");
                }
            }
            ReturnPath::Tcp(out) => out.send(bytes),
        }
    }

    pub(super) fn is_udp(&self) -> bool {
        matches!(self, ReturnPath::Udp(..))
    }
}

/// The write side of one TCP connection: a queue bounded in bytes.
#[derive(Clone)]
pub(super) struct TcpOut {
    pub(super) queue: mpsc::UnboundedSender<Bytes>,
    pub(super) queued: Arc<AtomicUsize>,
    pub(super) cap: usize,
    pub(super) kill: Arc<Notify>,
}

impl TcpOut {
    pub(super) fn send(&self, bytes: Bytes) {
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
