//! The transaction layer over real sockets: retransmissions, the 3xx
//! retransmission until ACK, CANCEL, stream framing and size limits.

use std::time::Duration;

use lsp_sip_adapter::message::MAX_MESSAGE_LEN;
use lsp_sip_adapter::server::{SipLimits, SipServer};
use lsp_test_support::open_server;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};
use tokio::time::timeout;

fn request(method: &str, uri: &str, branch: &str, extra: &str) -> String {
    format!(
        "{method} {uri} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:9;branch={branch}\r\nMax-Forwards: 70\r\n\
         To: <sip:alice@example.com>\r\nFrom: <sip:bob@example.net>;tag=t1\r\nCall-ID: {branch}-call\r\n\
         CSeq: 1 {method}\r\n{extra}Content-Length: 0\r\n\r\n"
    )
}

async fn recv(sock: &UdpSocket, within: Duration) -> Option<String> {
    let mut buf = vec![0u8; 70_000];
    match timeout(within, sock.recv(&mut buf)).await {
        Ok(Ok(n)) => Some(String::from_utf8_lossy(&buf[..n]).into_owned()),
        _ => None,
    }
}

async fn client(server: &SipServer) -> UdpSocket {
    let sock = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
    sock.connect(server.udp_addrs()[0]).await.expect("connect");
    sock
}

fn with_body(request: &str, body: &str) -> String {
    request.replace(
        "Content-Length: 0\r\n\r\n",
        &format!(
            "Content-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        ),
    )
}

fn status(response: &str) -> &str {
    response.get(8..11).unwrap_or("")
}

#[tokio::test]
async fn a_retransmitted_request_gets_the_same_response() {
    let server = open_server(SipLimits::default()).await;
    let sock = client(&server).await;
    let register = request(
        "REGISTER",
        "sip:example.com",
        "z9hG4bKreg1",
        "Contact: <sip:alice@192.0.2.4>\r\n",
    )
    .replace(
        "From: <sip:bob@example.net>",
        "From: <sip:alice@example.com>",
    );
    sock.send(register.as_bytes()).await.expect("send");
    let first = recv(&sock, Duration::from_secs(5)).await.expect("answer");
    assert_eq!(status(&first), "200", "{first}");
    sock.send(register.as_bytes()).await.expect("send");
    let again = recv(&sock, Duration::from_secs(5)).await.expect("answer");
    assert_eq!(first, again, "byte for byte, Date and To tag included");
}

#[tokio::test]
async fn a_3xx_repeats_until_its_ack() {
    let server = open_server(SipLimits::default()).await;
    let sock = client(&server).await;
    let register = request(
        "REGISTER",
        "sip:example.com",
        "z9hG4bKreg2",
        "Contact: <sip:alice@192.0.2.4>\r\n",
    )
    .replace(
        "From: <sip:bob@example.net>",
        "From: <sip:alice@example.com>",
    );
    sock.send(register.as_bytes()).await.expect("send");
    recv(&sock, Duration::from_secs(5))
        .await
        .expect("registered");

    // An INVITE with an offer, as phones send: larger than its 302, so the
    // server may repeat the 302 to a source that has not proved its address.
    let invite = with_body(
        &request("INVITE", "sip:alice@example.com", "z9hG4bKinv1", ""),
        &"a=x\r\n".repeat(100),
    );
    sock.send(invite.as_bytes()).await.expect("send");
    let first = recv(&sock, Duration::from_secs(5)).await.expect("302");
    assert_eq!(status(&first), "302", "{first}");
    let repeat = recv(&sock, Duration::from_secs(2)).await.expect("timer G");
    assert_eq!(first, repeat);
    let ack = request("ACK", "sip:alice@example.com", "z9hG4bKinv1", "");
    sock.send(ack.as_bytes()).await.expect("send");
    // Nothing is ACKed: the ACK itself gets no answer, and the 302 stops.
    let late = recv(&sock, Duration::from_secs(3)).await;
    assert_eq!(late, None, "no more 302 after the ACK");
}

#[tokio::test]
async fn cancel_matches_its_invite() {
    let server = open_server(SipLimits::default()).await;
    let sock = client(&server).await;
    let invite = request("INVITE", "sip:nobody@example.com", "z9hG4bKinv2", "");
    sock.send(invite.as_bytes()).await.expect("send");
    let answer = recv(&sock, Duration::from_secs(5)).await.expect("404");
    assert_eq!(status(&answer), "404");
    sock.send(request("ACK", "sip:nobody@example.com", "z9hG4bKinv2", "").as_bytes())
        .await
        .expect("send");
    let cancel = request("CANCEL", "sip:nobody@example.com", "z9hG4bKinv2", "");
    sock.send(cancel.as_bytes()).await.expect("send");
    let answer = recv(&sock, Duration::from_secs(5))
        .await
        .expect("cancel answered");
    assert!(answer.starts_with("SIP/2.0 200"), "{answer}");
    assert!(answer.contains("CSeq: 1 CANCEL"));
    let stray = request("CANCEL", "sip:nobody@example.com", "z9hG4bKnone", "");
    sock.send(stray.as_bytes()).await.expect("send");
    let answer = recv(&sock, Duration::from_secs(5)).await.expect("answered");
    assert_eq!(status(&answer), "481");
}

#[tokio::test]
async fn garbage_does_not_disturb_the_udp_listener() {
    let server = open_server(SipLimits::default()).await;
    let sock = client(&server).await;
    for junk in [
        &b"\x00\x01\x02"[..],
        b"SIP/2.0 200 OK\r\n\r\n",
        &[0xff; 2000],
        b"\r\n\r\n",
    ] {
        sock.send(junk).await.expect("send");
    }
    let options = request("OPTIONS", "sip:example.com", "z9hG4bKopt", "");
    sock.send(options.as_bytes()).await.expect("send");
    let answer = recv(&sock, Duration::from_secs(5)).await.expect("answered");
    assert_eq!(status(&answer), "200", "{answer}");
}

#[tokio::test]
async fn tcp_frames_pipelined_requests_and_refuses_oversized_ones() {
    let server = open_server(SipLimits::default()).await;
    let mut tcp = TcpStream::connect(server.tcp_addrs()[0])
        .await
        .expect("connect");
    let a = request("OPTIONS", "sip:example.com", "z9hG4bKt1", "");
    let b = request("OPTIONS", "sip:example.com", "z9hG4bKt2", "");
    tcp.write_all(format!("{a}{b}").as_bytes())
        .await
        .expect("write");
    let mut got = String::new();
    let mut buf = vec![0u8; 8192];
    while got.matches("SIP/2.0 200").count() < 2 {
        let n = timeout(Duration::from_secs(5), tcp.read(&mut buf))
            .await
            .expect("in time")
            .expect("read");
        assert!(n > 0, "closed early: {got}");
        got.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
    assert!(got.contains("z9hG4bKt1") && got.contains("z9hG4bKt2"));

    let big = request("OPTIONS", "sip:example.com", "z9hG4bKt3", "").replace(
        "Content-Length: 0",
        &format!("Content-Length: {}", MAX_MESSAGE_LEN + 1),
    );
    tcp.write_all(big.as_bytes()).await.expect("write");
    let mut rest = Vec::new();
    timeout(Duration::from_secs(5), tcp.read_to_end(&mut rest))
        .await
        .expect("closed in time")
        .expect("read");
    let rest = String::from_utf8_lossy(&rest);
    assert!(rest.starts_with("SIP/2.0 513"), "{rest}");
}
