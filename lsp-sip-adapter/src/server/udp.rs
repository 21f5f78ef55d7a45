//! SIP over UDP: sockets with large buffers, and receivers that hand each
//! datagram to the core.

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::UdpSocket;
use tokio::sync::watch;
use tracing::{debug, warn};

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

pub(super) async fn receive(
    core: Arc<Core>,
    socket: Arc<UdpSocket>,
    mut stop: watch::Receiver<bool>,
) {
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
