//! The registration client against a registrar that answers with absurd
//! numbers: a `Retry-After` of 2^64 - 1 seconds, a lifetime far longer
//! than the one asked, a `Min-Expires` of 2^64 - 1. The client neither
//! panics nor takes them at their word.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

use lsp_core::Aor;
use lsp_sip_adapter::client::{Registration, RegistrationConfig};
use tokio::net::UdpSocket;

/// What a scripted registrar saw.
#[derive(Default)]
struct Seen {
    registers: AtomicU32,
    /// The longest lifetime a REGISTER asked for.
    longest: AtomicU64,
}

/// A registrar on 127.0.0.1 that answers every REGISTER with `status` and
/// `extra` headers.
async fn scripted(status: &'static str, extra: &'static str) -> (SocketAddr, Arc<Seen>) {
    let sock = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
    let addr = sock.local_addr().expect("addr");
    let seen = Arc::new(Seen::default());
    let record = seen.clone();
    tokio::spawn(async move {
        let mut buf = vec![0u8; 65_535];
        while let Ok((n, from)) = sock.recv_from(&mut buf).await {
            let text = String::from_utf8_lossy(&buf[..n]).into_owned();
            record.registers.fetch_add(1, Ordering::Relaxed);
            let expires = text
                .lines()
                .find_map(|l| l.strip_prefix("Expires: "))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0);
            record.longest.fetch_max(expires, Ordering::Relaxed);
            let echoed: String = text
                .lines()
                .filter(|l| {
                    ["Via:", "From:", "To:", "Call-ID:", "CSeq:"]
                        .iter()
                        .any(|h| l.starts_with(h))
                })
                .map(|l| format!("{l}\r\n"))
                .collect();
            let reply = format!("SIP/2.0 {status}\r\n{echoed}{extra}Content-Length: 0\r\n\r\n");
            let _ = sock.send_to(reply.as_bytes(), from).await;
        }
    });
    (addr, seen)
}

fn config(registrar: SocketAddr) -> RegistrationConfig {
    let aor = Aor::parse("sip:alice@example.com").expect("aor");
    RegistrationConfig::new(aor, "sip:alice@192.0.2.10:5062", vec![registrar])
        .expires(Duration::from_secs(2))
        .attempt_timeout(Duration::from_millis(800))
}

#[tokio::test]
async fn a_retry_after_of_u64_max_is_a_refusal_not_a_panic() {
    let (at, _) = scripted(
        "503 Service Unavailable",
        "Retry-After: 18446744073709551615\r\n",
    )
    .await;
    let failed = Registration::start(config(at)).await;
    assert!(failed.is_err(), "a 503 registers nothing");
}

#[tokio::test]
async fn a_min_expires_of_u64_max_is_refused() {
    let (at, seen) = scripted(
        "423 Interval Too Brief",
        "Min-Expires: 18446744073709551615\r\n",
    )
    .await;
    let failed = Registration::start(config(at)).await;
    let why = format!("{:?}", failed.err());
    assert!(why.contains("Min-Expires"), "{why}");
    assert_eq!(
        seen.longest.load(Ordering::Relaxed),
        2,
        "never asked for more"
    );
}

#[tokio::test]
async fn a_lifetime_longer_than_asked_is_refreshed_at_half_the_one_asked() {
    let (at, seen) = scripted(
        "200 OK",
        "Contact: <sip:alice@192.0.2.10:5062>;expires=18446744073709551615\r\n",
    )
    .await;
    let reg = Registration::start(config(at)).await.expect("registered");
    // 2 s were asked: the refresh comes about 1 s on, whatever was granted.
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    assert!(seen.registers.load(Ordering::Relaxed) >= 2, "refreshed");
    drop(reg);
}
