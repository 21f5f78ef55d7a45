//! The caller side (`client::SipCaller`) against a redirect-only server
//! and against servers that stay silent or send forged answers.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use lsp_sip_adapter::client::{InviteConfig, InviteError, SipCaller};
use lsp_sip_adapter::service::ConfigError;
use lsp_sip_adapter::{
    Aor, Identity, LocalConfig, LocalLocationService, SelfBinding, SelfRegistration, SipConfig,
    SipListen, SipServer, SipService,
};
use tokio::net::UdpSocket;

fn loopback() -> SocketAddr {
    "127.0.0.1:0".parse().expect("addr")
}

#[tokio::test]
async fn a_redirect_only_server_needs_no_key_and_a_caller_gets_the_contacts_of_its_302() {
    let store = Arc::new(LocalLocationService::new(LocalConfig::default()));
    let bob = Aor::parse("sip:bob@example.com").expect("aor");
    let bob_ua = SelfRegistration::start(
        store.clone(),
        Identity::generate().expect("key"),
        SelfBinding::new(bob, "sip:bob@192.0.2.7:5062"),
    )
    .await
    .expect("bob publishes");
    let sip = SipService::new(store.clone(), SipConfig::redirect_only()).expect("config");
    let listen = SipListen {
        udp: vec![loopback()],
        ..SipListen::default()
    };
    let server = SipServer::bind(sip, &listen).await.expect("bind");
    let at = server.udp_addrs()[0];
    let caller = SipCaller::bind(loopback()).await.expect("socket");

    let moved = caller
        .invite(at, &InviteConfig::new("sip:bob@example.com"))
        .await
        .expect("an answer");
    assert_eq!(moved.code, 302, "{moved:?}");
    assert!(moved.is_redirect());
    assert_eq!(moved.contacts, ["sip:bob@192.0.2.7:5062"]);

    let unknown = caller
        .invite(at, &InviteConfig::new("sip:nobody@example.com"))
        .await
        .expect("an answer");
    assert_eq!((unknown.code, unknown.contacts.len()), (404, 0));
    // Both ACKs reached the server and matched their transactions.
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(server.stats().acked, 2, "{:?}", server.stats());
    bob_ua.stop().await.expect("bob leaves");
    server.shutdown().await;
}

#[test]
fn a_registrar_without_a_key_or_credentials_is_refused_with_the_fix_named() {
    let store = LocalLocationService::new(LocalConfig::default());
    let keyless = SipService::new(store, SipConfig::redirect_only().registrar(true));
    assert!(
        matches!(keyless, Err(ConfigError::NoIdentity)),
        "{keyless:?}"
    );
    let store = LocalLocationService::new(LocalConfig::default());
    let key = Identity::generate().expect("key");
    let open = SipService::new(store, SipConfig::new(key).serve_domain("example.com"));
    let err = open.expect_err("no credentials");
    assert!(err.to_string().contains(".registrar(false)"), "{err}");
}

#[tokio::test]
async fn a_silent_server_gets_timer_a_retransmissions_then_timer_b_gives_up() {
    let silent = UdpSocket::bind(loopback()).await.expect("socket");
    let at = silent.local_addr().expect("addr");
    let caller = SipCaller::bind(loopback()).await.expect("socket");
    let config = InviteConfig::new("sip:bob@example.com").timeout(Duration::from_millis(1700));
    let result = caller.invite(at, &config).await;
    assert!(
        matches!(result, Err(InviteError::NoAnswer { .. })),
        "{result:?}"
    );
    // Sent at 0, 0.5 and 1.5 s (Timer A doubles from T1).
    let mut buf = [0u8; 4096];
    let mut invites = 0;
    while let Ok(Ok((n, _))) =
        tokio::time::timeout(Duration::from_millis(50), silent.recv_from(&mut buf)).await
    {
        assert!(buf[..n].starts_with(b"INVITE sip:bob@example.com SIP/2.0\r\n"));
        invites += 1;
    }
    assert_eq!(invites, 3);
}

/// The header line `name: ...` of a message.
fn header<'a>(message: &'a str, name: &str) -> &'a str {
    message
        .split("\r\n")
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(": "))
        .unwrap_or_else(|| panic!("no {name} in {message}"))
}

#[tokio::test]
async fn forged_answers_are_ignored_and_the_302_is_acked_on_its_branch_with_its_tag() {
    let server = UdpSocket::bind(loopback()).await.expect("socket");
    let at = server.local_addr().expect("addr");
    let caller = Arc::new(SipCaller::bind(loopback()).await.expect("socket"));
    let call = tokio::spawn({
        let caller = caller.clone();
        async move {
            caller
                .invite(at, &InviteConfig::new("sip:bob@example.com"))
                .await
        }
    });
    let mut buf = [0u8; 4096];
    let (n, from) = server.recv_from(&mut buf).await.expect("invite");
    let invite = String::from_utf8_lossy(&buf[..n]).into_owned();
    let (via, call_id, from_hdr) = (
        header(&invite, "Via"),
        header(&invite, "Call-ID"),
        header(&invite, "From"),
    );
    let reply = |via: &str, contact: &str| {
        format!(
            "SIP/2.0 302 Moved\r\nVia: {via}\r\nTo: <sip:bob@example.com>;tag=t1\r\n\
             From: {from_hdr}\r\nCall-ID: {call_id}\r\nCSeq: 1 INVITE\r\n\
             Contact: <{contact}>\r\nContent-Length: 0\r\n\r\n"
        )
    };
    // A reply for another branch, one that is not SIP, then the real one.
    let forged = reply(
        "SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bKforged",
        "sip:evil@192.0.2.66",
    );
    server.send_to(forged.as_bytes(), from).await.expect("send");
    server
        .send_to(b"\xff\x00garbage", from)
        .await
        .expect("send");
    let real = reply(via, "sip:bob@192.0.2.7");
    server.send_to(real.as_bytes(), from).await.expect("send");

    let got = call.await.expect("task").expect("an answer");
    assert_eq!(
        (got.code, got.contacts),
        (302, vec!["sip:bob@192.0.2.7".to_owned()])
    );
    let ack = loop {
        let (n, _) = server.recv_from(&mut buf).await.expect("ack");
        let text = String::from_utf8_lossy(&buf[..n]).into_owned();
        if text.starts_with("ACK ") {
            break text;
        }
    };
    assert_eq!(header(&ack, "Via"), via);
    assert_eq!(header(&ack, "To"), "<sip:bob@example.com>;tag=t1");
    assert_eq!(header(&ack, "CSeq"), "1 ACK");
}
