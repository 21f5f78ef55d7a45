//! The registrar and redirect server driven by sipp (Debian package
//! `sip-tester`) over real UDP and TCP sockets, with the scenarios in
//! `tests/sipp/`.

use std::net::SocketAddr;
use std::sync::Arc;

use lsp_core::{Aor, Identity, LocalConfig, LocalLocationService, LocationService};
use lsp_sip_adapter::digest::{Algorithm, DigestAuth, StaticCredentials};
use lsp_sip_adapter::server::{SipListen, SipServer};
use lsp_sip_adapter::service::{SipConfig, SipService};

async fn sipp(scenario: &str, user: &str, target: SocketAddr, transport: &str) {
    let path = lsp_test_support::scenario(scenario);
    lsp_test_support::sipp(&path, user, "secret", target, transport).await;
}

struct Fixture {
    store: Arc<LocalLocationService>,
    server: SipServer,
}

async fn start() -> Fixture {
    start_with("secret").await
}

/// A registrar for example.com where alice's password is `alice_password`.
async fn start_with(alice_password: &str) -> Fixture {
    let store = Arc::new(LocalLocationService::new(LocalConfig::default()));
    let identity = Arc::new(Identity::generate().expect("key"));
    let credentials = StaticCredentials::new()
        .with_password("alice", "example.com", alice_password)
        .with_password("carol", "example.com", "secret");
    // sipp 3.6 answers only the first challenge and knows only MD5, so MD5
    // goes first here; the default order is SHA-256 first (RFC 8760).
    let digest = DigestAuth::new(Arc::new(credentials))
        .with_algorithms(vec![Algorithm::Md5, Algorithm::Sha256]);
    let config = SipConfig::new(identity)
        .serve_domain("example.com")
        .digest(Arc::new(digest));
    let service = SipService::new(store.clone(), config).expect("config");
    let any: SocketAddr = "127.0.0.1:0".parse().expect("addr");
    let listen = SipListen {
        udp: vec![any],
        tcp: vec![any],
        ..SipListen::default()
    };
    let server = SipServer::bind(Arc::new(service), &listen)
        .await
        .expect("bind");
    Fixture { store, server }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn register_refresh_and_redirect_over_udp() {
    let f = start().await;
    let udp = f.server.udp_addrs()[0];
    sipp("register.xml", "alice", udp, "u1").await;
    let alice = Aor::parse("sip:alice@example.com").expect("aor");
    let bindings = f.store.query(&alice).await.expect("alice is registered");
    assert_eq!(bindings.len(), 1);
    assert_eq!(bindings[0].contact, "sip:alice@192.0.2.10:5070");
    sipp("invite-302.xml", "caller", udp, "u1").await;
    sipp("invite-404.xml", "caller", udp, "u1").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn register_and_redirect_over_tcp() {
    let f = start().await;
    let tcp = f.server.tcp_addrs()[0];
    sipp("register.xml", "alice", tcp, "t1").await;
    sipp("invite-302.xml", "caller", tcp, "t1").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn star_removes_every_binding() {
    let f = start().await;
    sipp("remove-all.xml", "carol", f.server.udp_addrs()[0], "u1").await;
    let carol = Aor::parse("sip:carol@example.com").expect("aor");
    assert_eq!(f.store.query(&carol).await, Ok(Vec::new()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn too_brief_gets_423() {
    let f = start().await;
    sipp("too-brief.xml", "alice", f.server.udp_addrs()[0], "u1").await;
    let alice = Aor::parse("sip:alice@example.com").expect("aor");
    assert!(f.store.query(&alice).await.is_err(), "nothing stored");
}

/// The sipp lines of docs/operations.md, "Checking with sipp", run as they
/// are written against a registrar and redirect server where alice's
/// password is the guide's: the REGISTER gets its 200, the INVITE its 302.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_operations_guides_sipp_lines_work_as_written() {
    let guide = include_str!("../../docs/operations.md");
    let from = guide.find("**Checking with sipp.**").expect("the section");
    let block = &guide[from..];
    let block = &block[block.find("```sh\n").expect("a block") + 6..];
    let block = &block[..block.find("```").expect("its end")];
    let lines: Vec<&str> = block.lines().filter(|l| l.starts_with("sipp ")).collect();
    assert_eq!(lines.len(), 2, "{block}");
    let f = start_with("wonderland").await;
    for line in lines {
        lsp_test_support::sipp_command_line(line, f.server.udp_addrs()[0]).await;
    }
    let bound = f
        .store
        .query(&Aor::parse("sip:alice@example.com").expect("aor"))
        .await;
    assert_eq!(bound.expect("alice").len(), 1);
}
