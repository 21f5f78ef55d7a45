//! Just enough of a SIP UA to drive the quickstart over a UDP socket: send a
//! request, retransmit it until a final response (RFC 3261 timer A, short),
//! and read a response's status and headers.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::net::UdpSocket;

use crate::BoxError;

/// A response as text, with the few accessors the quickstart needs.
pub struct Reply {
    pub code: u16,
    text: String,
}

impl Reply {
    pub fn status_line(&self) -> &str {
        self.text.lines().next().unwrap_or("")
    }

    /// Values of a header (full name, case-insensitive).
    pub fn headers<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.text
            .split("\r\n")
            .skip(1)
            .take_while(|l| !l.is_empty())
            .filter_map(move |l| {
                let (n, v) = l.split_once(':')?;
                n.trim().eq_ignore_ascii_case(name).then(|| v.trim())
            })
    }
}

/// Sends `request` to `to` and waits for its final response.
pub async fn exchange(sock: &UdpSocket, to: SocketAddr, request: &str) -> Result<Reply, BoxError> {
    let mut buf = vec![0u8; 65_535];
    let mut wait = Duration::from_millis(500);
    for _ in 0..5 {
        sock.send_to(request.as_bytes(), to).await?;
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let Ok(got) = tokio::time::timeout_at(deadline, sock.recv_from(&mut buf)).await else {
                break;
            };
            let (n, _) = got?;
            let text = String::from_utf8_lossy(&buf[..n]).into_owned();
            let code = text
                .split(' ')
                .nth(1)
                .and_then(|c| c.parse().ok())
                .ok_or("a reply that is not a SIP response")?;
            if code >= 200 {
                return Ok(Reply { code, text });
            }
            println!("   <- {}", text.lines().next().unwrap_or(""));
        }
        wait *= 2;
    }
    Err(format!("no final response from {to}").into())
}

/// A `name="value"` or `name=value` parameter of a header value.
pub fn param<'a>(value: &'a str, name: &str) -> Option<&'a str> {
    value
        .split([',', ' '])
        .filter_map(|p| p.trim().split_once('='))
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.trim_matches('"'))
}
