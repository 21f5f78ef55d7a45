//! A flood queued at the UDP socket ahead of honest requests: while the
//! socket backs up, the flooding source is shed unread and every honest
//! request is answered.

use std::collections::HashSet;
use std::time::Duration;

use lsp_sip_adapter::server::SipLimits;
use lsp_test_support::open_server;
use tokio::net::UdpSocket;
use tokio::time::timeout;

const FLOOD: usize = 3_000;
const EVERY: usize = 100;

fn options(n: usize) -> String {
    format!(
        "OPTIONS sip:example.com SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.9:5060;branch=z9hG4bKi{n}\r\n\
         Max-Forwards: 70\r\nTo: <sip:example.com>\r\nFrom: <sip:bob@example.net>;tag=t{n}\r\n\
         Call-ID: intake-{n}\r\nCSeq: 1 OPTIONS\r\nUser-Agent: intake-test/1.0\r\n\
         Content-Length: 0\r\n\r\n"
    )
}

#[tokio::test]
async fn a_flooding_source_is_shed_while_honest_requests_are_answered() {
    let server = open_server(SipLimits::default()).await;
    let to = server.udp_addrs()[0];
    let flood = std::net::UdpSocket::bind("127.0.0.2:0").expect("bind");
    let honest = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
    // Blocking sends on this single-threaded runtime: the server reads
    // only once everything is queued at its socket.
    for n in 0..FLOOD {
        flood.send_to(options(n).as_bytes(), to).expect("send");
        if n.is_multiple_of(EVERY) {
            honest
                .send_to(options(FLOOD + n).as_bytes(), to)
                .expect("send");
        }
    }
    honest.set_nonblocking(true).expect("nonblocking");
    let honest = UdpSocket::from_std(honest).expect("tokio socket");
    let mut answered = HashSet::new();
    let mut buf = vec![0u8; 70_000];
    while answered.len() < FLOOD / EVERY {
        let Ok(Ok(n)) = timeout(Duration::from_secs(2), honest.recv(&mut buf)).await else {
            break;
        };
        let text = String::from_utf8_lossy(&buf[..n]);
        assert!(text.starts_with("SIP/2.0 200"), "{text}");
        let call = text
            .lines()
            .find_map(|l| l.strip_prefix("Call-ID: "))
            .expect("Call-ID");
        answered.insert(call.to_owned());
    }
    assert_eq!(answered.len(), FLOOD / EVERY, "honest requests lost");
    let shed = server.stats().intake_shed;
    assert!(shed > FLOOD as u64 / 2, "{shed} flood datagrams shed");
}
