//! The registration client over real UDP against real registrars: it moves
//! to the next registrar when the one in use turns isolated (503) or never
//! answers, and registers its binding there.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use lsp_core::{Aor, Identity, LocalConfig, LocalLocationService, LocationService};
use lsp_sip_adapter::client::{Registration, RegistrationConfig, RegistrationError};
use lsp_sip_adapter::digest::{DigestAuth, StaticCredentials};
use lsp_sip_adapter::registrar::ExpiryLimits;
use lsp_sip_adapter::server::{SipListen, SipServer};
use lsp_sip_adapter::service::{SipConfig, SipService};
use lsp_test_support::Cuttable;

async fn registrar(service: Arc<dyn LocationService>, digest: bool) -> SipServer {
    // Short lifetimes, so that refreshes come within the test.
    let short = ExpiryLimits {
        min: 1,
        ..ExpiryLimits::default()
    };
    let mut config = SipConfig::new(Arc::new(Identity::from_secret_bytes([3; 32])))
        .serve_domain("example.com")
        .expiry(short);
    config = if digest {
        let users = StaticCredentials::new().with_password("alice", "example.com", "secret");
        config.digest(Arc::new(DigestAuth::new(Arc::new(users))))
    } else {
        config.allow_unauthenticated()
    };
    let sip = Arc::new(SipService::new(service, config).expect("config"));
    let listen = SipListen {
        udp: vec!["127.0.0.1:0".parse().expect("addr")],
        ..SipListen::default()
    };
    SipServer::bind(sip, &listen).await.expect("bind")
}

fn alice() -> Aor {
    Aor::parse("sip:alice@example.com").expect("aor")
}

const CONTACT: &str = "sip:alice@192.0.2.10:5062";

fn config(registrars: Vec<SocketAddr>) -> RegistrationConfig {
    RegistrationConfig::new(alice(), CONTACT, registrars)
        .expires(Duration::from_secs(2))
        .password("alice", "secret")
        .attempt_timeout(Duration::from_millis(800))
}

async fn contacts(service: &dyn LocationService) -> Vec<String> {
    match service.query(&alice()).await {
        Ok(b) => b.into_iter().map(|b| b.contact).collect(),
        Err(_) => Vec::new(),
    }
}

#[tokio::test]
async fn the_binding_moves_to_the_next_registrar_when_the_first_turns_isolated() {
    let first = Arc::new(Cuttable::default());
    let second = Arc::new(LocalLocationService::new(LocalConfig::default()));
    let (a, b) = (
        registrar(first.clone(), false).await,
        registrar(second.clone(), true).await,
    );
    let (a_addr, b_addr) = (a.udp_addrs()[0], b.udp_addrs()[0]);
    let reg = Registration::start(config(vec![a_addr, b_addr]))
        .await
        .expect("registered");
    assert_eq!(reg.registrar(), Some(a_addr));
    assert_eq!(contacts(&first.store).await, [CONTACT]);
    assert!(contacts(&*second).await.is_empty());

    // The first registrar's node is cut off: the next refresh (at half of
    // the 2 s granted) gets 503 and the binding goes to the second, which
    // challenges and is answered.
    first.cut.store(true, Ordering::Relaxed);
    let mut moved = false;
    for _ in 0..50 {
        if reg.registrar() == Some(b_addr) {
            moved = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(moved, "still at {:?}", reg.registrar());
    assert_eq!(reg.failovers(), 1);
    assert_eq!(contacts(&*second).await, [CONTACT]);

    // It keeps refreshing there, past the binding's 2 s lifetime.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(contacts(&*second).await, [CONTACT]);
    assert_eq!(reg.registrar(), Some(b_addr), "it stays where it works");

    reg.stop().await.expect("unregistered");
    assert!(
        contacts(&*second).await.is_empty(),
        "stop removes the binding"
    );
}

#[tokio::test]
async fn a_registrar_that_never_answers_is_passed_over_and_none_at_all_is_an_error() {
    // A socket that reads nothing: REGISTERs to it vanish.
    let silent = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
    let silent_addr = silent.local_addr().expect("addr");
    let store = Arc::new(LocalLocationService::new(LocalConfig::default()));
    let b = registrar(store.clone(), true).await;
    let reg = Registration::start(config(vec![silent_addr, b.udp_addrs()[0]]))
        .await
        .expect("registered at the second");
    assert_eq!(reg.registrar(), Some(b.udp_addrs()[0]));
    assert_eq!(contacts(&*store).await, [CONTACT]);
    drop(reg);

    let isolated = Arc::new(Cuttable::default());
    isolated.cut.store(true, Ordering::Relaxed);
    let a = registrar(isolated, false).await;
    let err = Registration::start(config(vec![silent_addr, a.udp_addrs()[0]]))
        .await
        .expect_err("nobody takes it");
    assert!(
        matches!(&err, RegistrationError::AllFailed { last } if last.contains(": 503 ")),
        "{err}"
    );
    assert!(matches!(
        Registration::start(config(Vec::new())).await,
        Err(RegistrationError::NoRegistrars)
    ));
}
