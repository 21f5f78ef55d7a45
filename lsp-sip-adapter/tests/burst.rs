//! A burst of UDP requests that arrives before the server reads any of them
//! is answered in full: the socket's receive buffer holds it, where the
//! kernel's default size drops most of it (each loss then waits for the
//! client's retransmission, 500 ms at first). A flood queued ahead of
//! honest requests is shed unread while the socket backs up, and every
//! honest request is answered.

use std::collections::HashSet;
use std::time::Duration;

use lsp_sip_adapter::server::SipLimits;
use lsp_test_support::open_server;
use tokio::net::UdpSocket;
use tokio::time::timeout;

const BURST: usize = 2_000;

/// An OPTIONS as a UA sends it, with its User-Agent: over UDP an address
/// not proved is answered with no more bytes than it sent, and a bare
/// request of the fewest headers falls a few bytes short of its 200.
fn options(n: usize) -> String {
    format!(
        "OPTIONS sip:example.com SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bKb{n}\r\n\
         Max-Forwards: 70\r\nTo: <sip:example.com>\r\nFrom: <sip:bob@example.net>;tag=t{n}\r\n\
         Call-ID: burst-{n}\r\nCSeq: 1 OPTIONS\r\nUser-Agent: burst-test/1.0\r\n\
         Content-Length: 0\r\n\r\n"
    )
}

#[tokio::test]
async fn a_burst_sent_before_the_server_reads_is_answered_in_full() {
    let server = open_server(SipLimits::default()).await;
    let client = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
    // The answers come back as one burst too.
    rustix::net::sockopt::set_socket_recv_buffer_size_force(&client, 16 << 20)
        .or_else(|_| rustix::net::sockopt::set_socket_recv_buffer_size(&client, 16 << 20))
        .expect("client buffer");
    client.connect(server.udp_addrs()[0]).expect("connect");
    // Blocking sends on this single-threaded runtime: the server's tasks
    // run only once the whole burst is queued at its socket.
    for n in 0..BURST {
        client.send(options(n).as_bytes()).expect("send");
    }
    client.set_nonblocking(true).expect("nonblocking");
    let client = UdpSocket::from_std(client).expect("tokio socket");
    let mut answered = HashSet::new();
    let mut buf = vec![0u8; 70_000];
    while answered.len() < BURST {
        let Ok(Ok(n)) = timeout(Duration::from_secs(2), client.recv(&mut buf)).await else {
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
    assert_eq!(answered.len(), BURST, "requests lost in the burst");
}

const FLOOD_LEN: usize = 3_000;
const HONEST_EVERY: usize = 100;

#[tokio::test]
async fn a_flooding_source_is_shed_while_honest_requests_are_answered() {
    let server = open_server(SipLimits::default()).await;
    let to = server.udp_addrs()[0];
    let flood = std::net::UdpSocket::bind("127.0.0.2:0").expect("bind");
    let honest = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
    // Blocking sends on this single-threaded runtime: the server reads
    // only once everything is queued at its socket.
    for n in 0..FLOOD_LEN {
        flood.send_to(options(n).as_bytes(), to).expect("send");
        if n.is_multiple_of(HONEST_EVERY) {
            honest
                .send_to(options(FLOOD_LEN + n).as_bytes(), to)
                .expect("send");
        }
    }
    honest.set_nonblocking(true).expect("nonblocking");
    let honest = UdpSocket::from_std(honest).expect("tokio socket");
    let mut answered = HashSet::new();
    let mut buf = vec![0u8; 70_000];
    while answered.len() < FLOOD_LEN / HONEST_EVERY {
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
    assert_eq!(
        answered.len(),
        FLOOD_LEN / HONEST_EVERY,
        "honest requests lost"
    );
    let shed = server.stats().intake_shed;
    assert!(shed > FLOOD_LEN as u64 / 2, "{shed} flood datagrams shed");
}
