//! The SIP adapter unchanged over the Chord overlay: a REGISTER at one
//! node's registrar, an INVITE at another node's redirect server.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use lsp_chord::{ChordNode, Config};
use lsp_core::{Identity, MemoryNetwork};
use lsp_sip_adapter::message::{self, Inbound, Request};
use lsp_sip_adapter::service::{SipConfig, SipService};

fn parse(text: &str) -> Request {
    match message::parse(text.as_bytes()) {
        Ok(Inbound::Request(r)) => *r,
        other => panic!("not a request: {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn register_at_one_node_redirect_at_another() {
    let net = MemoryNetwork::default();
    // Each join returns once its neighbours settle.
    let mut nodes: Vec<ChordNode> = Vec::new();
    for seed in 1..=4u8 {
        let id = Identity::from_secret_bytes([seed; 32]);
        let addr = format!("10.0.0.{seed}:5000").parse().expect("addr");
        let boot: Vec<_> = nodes.first().map(ChordNode::local).into_iter().collect();
        let node = ChordNode::builder(net.bind(id.node_id(), addr))
            .config(Config::local_test().seed(u64::from(seed)))
            .join(&boot)
            .await
            .expect("join");
        nodes.push(node);
    }
    tokio::time::sleep(Duration::from_secs(1)).await;

    let domain_key = Arc::new(Identity::from_secret_bytes([40; 32]));
    let registrar = SipService::new(
        nodes[0].clone(),
        SipConfig::new(domain_key.clone())
            .serve_domain("example.com")
            .allow_unauthenticated(),
    )
    .expect("config");
    let redirect = SipService::new(
        nodes[3].clone(),
        SipConfig::new(domain_key).registrar(false),
    )
    .expect("config");
    let source: SocketAddr = "192.0.2.4:5060".parse().expect("addr");

    let register = parse(
        "REGISTER sip:example.com SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.4;branch=z9hG4bKr1\r\n\
         To: <sip:alice@example.com>\r\nFrom: <sip:alice@example.com>;tag=1\r\nCall-ID: r1\r\n\
         CSeq: 1 REGISTER\r\nContact: <sip:alice@192.0.2.4:5062>;expires=600\r\nContent-Length: 0\r\n\r\n",
    );
    let ok = registrar.handle(&register, source).await.expect("answer");
    assert_eq!(ok.code, 200, "{}", ok.reason());

    let invite = parse(
        "INVITE sip:alice@example.com SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.9;branch=z9hG4bKi1\r\n\
         To: <sip:alice@example.com>\r\nFrom: <sip:bob@example.net>;tag=2\r\nCall-ID: i1\r\n\
         CSeq: 1 INVITE\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n",
    );
    let moved = redirect.handle(&invite, source).await.expect("answer");
    assert_eq!(moved.code, 302, "{}", moved.reason());
    let contact = moved.header_values("Contact").next().expect("a contact");
    assert!(
        contact.starts_with("<sip:alice@192.0.2.4:5062>;expires="),
        "{contact}"
    );
}
