//! The status endpoint's listener, bounded: at most [`CONNECTIONS`] at
//! once and [`PER_ADDRESS`] from one address (an IPv4 address or IPv6
//! /64), and each connection lives at most [`LIFETIME`]. A client that
//! sends half a header and stalls is cut off then, and a flood of such
//! clients waits in the kernel's backlog instead of holding descriptors:
//! 1,050 stalled connections used to make every `/health` probe fail under
//! systemd's default limit of 1,024 open files.

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::serve::Listener;
use lsp_core::address_share;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Sleep;

/// Connections served at once.
pub(crate) const CONNECTIONS: usize = 64;
/// Of those, from one address.
pub(crate) const PER_ADDRESS: usize = 8;
/// The longest a connection is kept: a status request takes milliseconds,
/// and a scraper that keeps its connection simply opens another.
pub(crate) const LIFETIME: Duration = Duration::from_secs(10);

pub(crate) struct Bounded {
    inner: TcpListener,
    places: Arc<Semaphore>,
    held: Arc<Mutex<HashMap<IpAddr, usize>>>,
    lifetime: Duration,
}

impl Bounded {
    pub(crate) fn new(inner: TcpListener, lifetime: Duration) -> Self {
        Self {
            inner,
            places: Arc::new(Semaphore::new(CONNECTIONS)),
            held: Arc::default(),
            lifetime,
        }
    }

    /// Counts a connection from `addr` in, unless its address holds its
    /// share.
    fn take(&self, addr: SocketAddr) -> Option<Place> {
        let share = address_share(addr.ip());
        let mut held = self.held.lock().unwrap_or_else(PoisonError::into_inner);
        let n = held.entry(share).or_insert(0);
        if *n >= PER_ADDRESS {
            return None;
        }
        *n += 1;
        Some(Place {
            held: self.held.clone(),
            share,
        })
    }
}

/// One connection's count against its address; given back on drop.
struct Place {
    held: Arc<Mutex<HashMap<IpAddr, usize>>>,
    share: IpAddr,
}

impl Drop for Place {
    fn drop(&mut self) {
        let mut held = self.held.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(n) = held.get_mut(&self.share) {
            *n -= 1;
            if *n == 0 {
                held.remove(&self.share);
            }
        }
    }
}

impl Listener for Bounded {
    type Io = Limited;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Limited, SocketAddr) {
        loop {
            // Waiting for a place leaves new connections in the backlog.
            let Ok(permit) = self.places.clone().acquire_owned().await else {
                std::future::pending::<()>().await;
                unreachable!("a pending future never resolves");
            };
            let (stream, addr) = Listener::accept(&mut self.inner).await;
            let Some(place) = self.take(addr) else {
                drop(stream);
                continue;
            };
            let limited = Limited {
                stream,
                deadline: Box::pin(tokio::time::sleep(self.lifetime)),
                _held: (permit, place),
            };
            return (limited, addr);
        }
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.local_addr()
    }
}

/// A connection that fails its reads and writes once its lifetime is up.
pub(crate) struct Limited {
    stream: TcpStream,
    deadline: Pin<Box<Sleep>>,
    _held: (OwnedSemaphorePermit, Place),
}

impl Limited {
    fn expired(&mut self, cx: &mut Context<'_>) -> bool {
        self.deadline.as_mut().poll(cx).is_ready()
    }
}

fn timed_out() -> io::Error {
    io::Error::new(io::ErrorKind::TimedOut, "status connection lifetime")
}

impl AsyncRead for Limited {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if self.expired(cx) {
            return Poll::Ready(Err(timed_out()));
        }
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for Limited {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if self.expired(cx) {
            return Poll::Ready(Err(timed_out()));
        }
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    /// Stalled half-headers are cut off at the lifetime; one address holds
    /// at most its share, and a health probe from elsewhere is served
    /// meanwhile.
    #[tokio::test]
    async fn stalled_clients_hold_neither_descriptors_nor_the_probe() {
        let tcp = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let at = tcp.local_addr().expect("addr");
        let router = axum::Router::new().route("/health", axum::routing::get(|| async { "ok" }));
        let listener = Bounded::new(tcp, Duration::from_millis(500));
        tokio::spawn(async move { axum::serve(listener, router).await });
        let mut stalled = Vec::new();
        for _ in 0..PER_ADDRESS + 4 {
            let mut s = TcpStream::connect(at).await.expect("connect");
            s.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n")
                .await
                .expect("half");
            stalled.push(s);
        }
        let start = Instant::now();
        let mut closed = 0;
        for s in &mut stalled {
            let mut buf = [0u8; 64];
            let r = tokio::time::timeout(Duration::from_secs(3), s.read(&mut buf)).await;
            closed += usize::from(matches!(r, Ok(Ok(0)) | Ok(Err(_))));
        }
        assert_eq!(closed, PER_ADDRESS + 4, "every stalled one was closed");
        assert!(
            start.elapsed() < Duration::from_secs(2),
            "{:?}",
            start.elapsed()
        );
        let mut probe = TcpStream::connect(at).await.expect("connect");
        probe
            .write_all(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .await
            .expect("probe");
        let mut answer = String::new();
        probe.read_to_string(&mut answer).await.expect("read");
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    }
}
