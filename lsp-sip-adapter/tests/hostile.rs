//! Hostile SIP traffic over real sockets: floods that are never ACKed,
//! TCP peers that never read, and the timers that bound what they cost.

use std::sync::Arc;
use std::time::{Duration, Instant};

use lsp_sip_adapter::server::{SipLimits, SipServer};
use lsp_test_support::open_server;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream, UdpSocket};
use tokio::time::timeout;

fn request(method: &str, branch: &str, extra: &str, body: &str) -> String {
    let (user, from) = if method == "REGISTER" {
        ("", "alice@example.com")
    } else {
        ("alice@", "bob@example.net")
    };
    format!(
        "{method} sip:{user}example.com SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:9;branch={branch}\r\n\
         Max-Forwards: 70\r\nTo: <sip:alice@example.com>\r\nFrom: <sip:{from}>;tag=t1\r\n\
         Call-ID: {branch}-call\r\nCSeq: 1 {method}\r\n{extra}Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
}

/// An offer of the size phones send.
fn sdp() -> String {
    "v=0\r\no=- 1 1 IN IP4 192.0.2.9\r\ns=-\r\nc=IN IP4 192.0.2.9\r\nt=0 0\r\n\
     m=audio 4000 RTP/AVP 0 8 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\n\
     a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\na=sendrecv\r\n"
        .to_owned()
}

async fn udp_client(server: &SipServer) -> UdpSocket {
    udp_client_at(server, "127.0.0.1").await
}

/// A client on a loopback address of its own: what an address paid for is
/// counted per address, not per socket.
async fn udp_client_at(server: &SipServer, ip: &str) -> UdpSocket {
    let sock = UdpSocket::bind((ip, 0)).await.expect("bind");
    sock.connect(server.udp_addrs()[0]).await.expect("connect");
    sock
}

async fn recv(sock: &UdpSocket, within: Duration) -> Option<String> {
    let mut buf = vec![0u8; 70_000];
    match timeout(within, sock.recv(&mut buf)).await {
        Ok(Ok(n)) => Some(String::from_utf8_lossy(&buf[..n]).into_owned()),
        _ => None,
    }
}

async fn register_alice(sock: &UdpSocket) {
    // As a phone sends it: an unproved address gets no more bytes back
    // than it sent, and a REGISTER of the fewest headers is shorter than
    // its 200.
    let register = request(
        "REGISTER",
        "z9hG4bKreg",
        "Contact: <sip:alice@192.0.2.4>\r\nExpires: 3600\r\nUser-Agent: hostile-test\r\n",
        "",
    );
    sock.send(register.as_bytes()).await.expect("send");
    let answer = recv(sock, Duration::from_secs(5)).await.expect("answer");
    assert!(answer.starts_with("SIP/2.0 200"), "{answer}");
}

async fn options_answered(server: &SipServer, branch: &str) -> String {
    let sock = udp_client(server).await;
    let options = request("OPTIONS", branch, "", "");
    sock.send(options.as_bytes()).await.expect("send");
    recv(&sock, Duration::from_secs(2))
        .await
        .expect("OPTIONS answered in time")
}

#[tokio::test]
async fn unacked_invites_from_one_socket_do_not_refuse_another() {
    let server = open_server(SipLimits::default()).await;
    let flood = Arc::new(udp_client(&server).await);
    register_alice(&flood).await;

    let reader = {
        let flood = flood.clone();
        tokio::spawn(async move {
            let (mut bytes, mut redirects) = (0usize, 0usize);
            let mut buf = vec![0u8; 70_000];
            let end = Instant::now() + Duration::from_secs(4);
            while let Ok(Ok(n)) = tokio::time::timeout_at(end.into(), flood.recv(&mut buf)).await {
                bytes += n;
                redirects += usize::from(buf.starts_with(b"SIP/2.0 302"));
            }
            (bytes, redirects)
        })
    };
    let mut sent = 0;
    for i in 0..1_100 {
        let invite = request("INVITE", &format!("z9hG4bKflood{i}"), "", &sdp());
        flood.send(invite.as_bytes()).await.expect("send");
        sent += invite.len();
        if i % 20 == 19 {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }
    let answer = options_answered(&server, "z9hG4bKother").await;
    assert!(answer.starts_with("SIP/2.0 200"), "{answer}");

    let (back, redirects) = reader.await.expect("reader");
    assert!(
        redirects >= 1_000,
        "the flood itself was answered: {redirects}"
    );
    assert!(
        back <= sent,
        "an unproved source got back {back} bytes for the {sent} it sent"
    );
    assert!(server.stats().retransmit_unpaid > 0);
}

#[tokio::test]
async fn a_tcp_peer_that_never_reads_holds_nothing_others_need() {
    let server = open_server(SipLimits::default()).await;
    let socket = TcpSocket::new_v4().expect("socket");
    socket.set_recv_buffer_size(4096).expect("rcvbuf");
    let hostile = socket
        .connect(server.tcp_addrs()[0])
        .await
        .expect("connect");
    let (mut hostile_rd, mut hostile_wr) = hostile.into_split();
    let writer = tokio::spawn(async move {
        let mut written = 0;
        for chunk in 0..100 {
            let batch: String = (0..200)
                .map(|i| request("OPTIONS", &format!("z9hG4bKpipe{chunk}x{i}"), "", ""))
                .collect();
            if hostile_wr.write_all(batch.as_bytes()).await.is_err() {
                break;
            }
            written += 200;
        }
        written
    });
    tokio::time::sleep(Duration::from_millis(500)).await;

    let answer = options_answered(&server, "z9hG4bKudp").await;
    assert!(answer.starts_with("SIP/2.0 200"), "UDP: {answer}");
    let mut tcp = TcpStream::connect(server.tcp_addrs()[0])
        .await
        .expect("connect");
    tcp.write_all(request("OPTIONS", "z9hG4bKtcp", "", "").as_bytes())
        .await
        .expect("write");
    let mut buf = vec![0u8; 4096];
    let n = timeout(Duration::from_secs(2), tcp.read(&mut buf))
        .await
        .expect("TCP answered in time")
        .expect("read");
    assert!(buf[..n].starts_with(b"SIP/2.0 200"));

    // The server closes the connection that does not read.
    let written = timeout(Duration::from_secs(20), writer)
        .await
        .expect("the hostile writes end")
        .expect("writer");
    let mut sink = Vec::new();
    let closed = timeout(Duration::from_secs(20), hostile_rd.read_to_end(&mut sink)).await;
    assert!(closed.is_ok(), "the hostile connection was closed");
    let answered = String::from_utf8_lossy(&sink)
        .matches("SIP/2.0 200")
        .count();
    assert!(
        answered < written,
        "closed with {answered} of {written} answered, not served to the end"
    );
}

#[tokio::test]
async fn an_unacked_invite_repeats_per_timer_g_and_is_forgotten_per_timer_h() {
    let mut limits = SipLimits::default();
    limits.transactions.t1 = Duration::from_millis(50);
    limits.transactions.t2 = Duration::from_millis(400);
    limits.transactions.t4 = Duration::from_millis(500);
    let server = open_server(limits).await;
    let sock = udp_client(&server).await;
    register_alice(&sock).await;

    // An ACK carrying our To-tag proves this address; retransmissions are
    // then not limited by what it sent.
    sock.send(request("INVITE", "z9hG4bKproof", "", &sdp()).as_bytes())
        .await
        .expect("send");
    let first = recv(&sock, Duration::from_secs(2)).await.expect("302");
    let tag = first
        .lines()
        .find(|l| l.starts_with("To:"))
        .and_then(|l| l.split("tag=").nth(1))
        .expect("To tag")
        .trim()
        .to_owned();
    let ack = request("ACK", "z9hG4bKproof", "", "").replace(
        "To: <sip:alice@example.com>",
        &format!("To: <sip:alice@example.com>;tag={tag}"),
    );
    sock.send(ack.as_bytes()).await.expect("send");
    while recv(&sock, Duration::from_millis(200)).await.is_some() {}

    let start = Instant::now();
    sock.send(request("INVITE", "z9hG4bKnoack", "", "").as_bytes())
        .await
        .expect("send");
    let first = recv(&sock, Duration::from_secs(2)).await.expect("302");
    assert!(first.starts_with("SIP/2.0 302"), "{first}");
    let mut repeats = Vec::new();
    while let Some(again) = recv(&sock, Duration::from_secs(1)).await {
        assert_eq!(again, first, "the same response, byte for byte");
        repeats.push(start.elapsed());
    }
    // T1, 2*T1, 4*T1, then T2 apart, until 64*T1 = 3.2 s: ten repeats.
    assert!((8..=10).contains(&repeats.len()), "{repeats:?}");
    assert!(repeats.windows(2).all(|w| w[1] > w[0]));
    let last = repeats.last().copied().unwrap_or_default();
    assert!(last < Duration::from_millis(3_300), "{repeats:?}");
    assert!(server.stats().timed_out >= 1, "Timer H ended it");
}

/// Whether the server closes `tcp` within `within`: a read ends (EOF or
/// reset) instead of waiting.
async fn closed_within(tcp: &mut TcpStream, within: Duration) -> bool {
    let mut buf = vec![0u8; 4096];
    loop {
        match timeout(within, tcp.read(&mut buf)).await {
            Err(_) => return false,
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            Ok(Ok(_)) => {}
        }
    }
}

#[tokio::test]
async fn one_source_holds_at_most_its_share_of_tcp_connections() {
    let mut limits = SipLimits::default();
    limits.tcp_per_source = 4;
    let server = open_server(limits).await;
    let at = server.tcp_addrs()[0];
    let mut held = Vec::new();
    for _ in 0..4 {
        held.push(TcpStream::connect(at).await.expect("connect"));
    }
    let mut fifth = TcpStream::connect(at).await.expect("the kernel accepts");
    assert!(
        closed_within(&mut fifth, Duration::from_secs(2)).await,
        "the fifth is closed"
    );
    // The four held still work; once one closes, a new one is served.
    held[0]
        .write_all(request("OPTIONS", "z9hG4bKshare0", "", "").as_bytes())
        .await
        .expect("write");
    let mut buf = vec![0u8; 4096];
    let n = timeout(Duration::from_secs(2), held[0].read(&mut buf))
        .await
        .expect("answered")
        .expect("read");
    assert!(buf[..n].starts_with(b"SIP/2.0 200"));
    drop(held.pop());
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut again = TcpStream::connect(at).await.expect("connect");
    again
        .write_all(request("OPTIONS", "z9hG4bKshare1", "", "").as_bytes())
        .await
        .expect("write");
    let n = timeout(Duration::from_secs(2), again.read(&mut buf))
        .await
        .expect("answered")
        .expect("read");
    assert!(buf[..n].starts_with(b"SIP/2.0 200"), "room again");
}

#[tokio::test]
async fn a_message_trickled_a_byte_at_a_time_does_not_hold_a_connection() {
    let mut limits = SipLimits::default();
    limits.tcp_message_timeout = Duration::from_millis(600);
    let server = open_server(limits).await;
    let mut tcp = TcpStream::connect(server.tcp_addrs()[0])
        .await
        .expect("connect");
    let (mut rd, mut wr) = tcp.split();
    let start = Instant::now();
    let trickle = async {
        for b in request("OPTIONS", "z9hG4bKslow", "", "").bytes() {
            if wr.write_all(&[b]).await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };
    let mut buf = vec![0u8; 4096];
    let closed = async {
        loop {
            match rd.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    };
    tokio::select! {
        () = trickle => panic!("the whole message went out: the connection was held"),
        () = closed => {}
    }
    let took = start.elapsed();
    assert!(took < Duration::from_secs(3), "closed after {took:?}");
}

/// An INVITE from an address not proved buys a 302 no longer than itself,
/// whatever the user's Contacts: the source may be spoofed. A 302 that
/// cannot fit (a bare INVITE's, which names at least one Contact) waits
/// for the retransmission that pays for it. Once an ACK with our tag
/// proves the address, the redirect lists every Contact.
#[tokio::test]
async fn a_302_to_an_unproved_address_is_bounded_by_what_the_request_paid() {
    let server = open_server(SipLimits::default()).await;
    let phone = udp_client(&server).await;
    let contacts: String = (0..16)
        .map(|i| format!("Contact: <sip:alice-{i}-{}@192.0.2.4>\r\n", "d".repeat(120)))
        .collect();
    // The 200 lists every binding with its expiry, longer than the
    // REGISTER: it comes once the phone's retransmissions paid for it.
    let register = request("REGISTER", "z9hG4bKmany", &contacts, "");
    let mut answer = None;
    for _ in 0..5 {
        phone.send(register.as_bytes()).await.expect("send");
        answer = recv(&phone, Duration::from_millis(500)).await;
        if answer.is_some() {
            break;
        }
    }
    let answer = answer.expect("answer");
    assert!(answer.starts_with("SIP/2.0 200"), "{answer}");

    let bare = udp_client_at(&server, "127.0.0.3").await;
    let invite = request("INVITE", "z9hG4bKbare", "", "");
    bare.send(invite.as_bytes()).await.expect("send");
    assert_eq!(recv(&bare, Duration::from_millis(700)).await, None);
    bare.send(invite.as_bytes()).await.expect("retransmit");
    let paid = recv(&bare, Duration::from_secs(5)).await.expect("302");
    assert!(paid.starts_with("SIP/2.0 302"), "{paid}");
    assert!(paid.len() <= 2 * invite.len(), "{} bytes", paid.len());

    let caller = udp_client_at(&server, "127.0.0.4").await;
    let invite = request("INVITE", "z9hG4bKamp1", "", &sdp());
    caller.send(invite.as_bytes()).await.expect("send");
    let first = recv(&caller, Duration::from_secs(5)).await.expect("302");
    let listed = |r: &str| r.matches("\r\nContact: ").count();
    assert!(first.starts_with("SIP/2.0 302"), "{first}");
    assert!(first.len() <= invite.len(), "{} bytes", first.len());
    assert!(
        (1..16).contains(&listed(&first)),
        "{} Contacts",
        listed(&first)
    );

    let to = first
        .lines()
        .find(|l| l.starts_with("To: "))
        .expect("a To header")
        .to_owned();
    let ack =
        request("ACK", "z9hG4bKamp1", "", "").replace("To: <sip:alice@example.com>", to.trim_end());
    caller.send(ack.as_bytes()).await.expect("ack");
    tokio::time::sleep(Duration::from_millis(100)).await;
    let again = request("INVITE", "z9hG4bKamp2", "", "");
    caller.send(again.as_bytes()).await.expect("send");
    let proved = recv(&caller, Duration::from_secs(5)).await.expect("302");
    assert_eq!(
        listed(&proved),
        16,
        "every Contact once the address is proved"
    );
}
