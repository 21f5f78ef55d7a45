//! SIP over UDP: sockets with large buffers, and receivers that hand each
//! datagram to the core.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use tokio::net::UdpSocket;
use tokio::sync::watch;
use tracing::{debug, warn};

use super::intake::{BACKLOG_RUN, FairIntake};
use super::path::ReturnPath;
use super::shared::Core;
use crate::message::MAX_MESSAGE_LEN;

/// A UDP socket on `addr` whose buffers hold `buffer` bytes each when the
/// kernel allows. With the privilege to (root, as unbound and others do) it
/// goes past `net.core.rmem_max`; a smaller grant is logged, not fatal.
pub(super) fn bind(addr: SocketAddr, buffer: usize) -> std::io::Result<UdpSocket> {
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

/// Reads datagrams while the socket has them and hands each to the core;
/// while the socket backs up, a source over its share is shed unread
/// ([`FairIntake`]).
pub(super) async fn receive(
    core: Arc<Core>,
    socket: Arc<UdpSocket>,
    mut stop: watch::Receiver<bool>,
) {
    let mut buf = vec![0u8; MAX_MESSAGE_LEN + 1];
    let mut intake = FairIntake::new(Instant::now());
    loop {
        tokio::select! {
            r = socket.readable() => if r.is_err() { continue },
            _ = stop.changed() => return,
        }
        // Back to back until the socket is empty: the length of the run
        // tells how far it has backed up.
        let mut run = 0usize;
        loop {
            let (n, source) = match socket.try_recv_from(&mut buf) {
                Ok(x) => x,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                // ICMP errors surface here on some systems; keep serving.
                Err(_) => continue,
            };
            run += 1;
            if run.is_multiple_of(BACKLOG_RUN) {
                // Other tasks on this worker get their turn.
                tokio::task::yield_now().await;
            }
            if n > MAX_MESSAGE_LEN {
                debug!(%source, "dropped an oversized datagram");
                continue;
            }
            if !intake.admit(Instant::now(), source.ip(), run > BACKLOG_RUN) {
                core.intake_shed.fetch_add(1, Ordering::Relaxed);
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
}
