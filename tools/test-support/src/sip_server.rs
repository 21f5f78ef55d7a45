//! A SIP server on 127.0.0.1 (UDP and TCP, any port) over the embedded
//! store, serving example.com with no authentication.

use std::net::SocketAddr;
use std::sync::Arc;

use lsp_core::{Identity, LocalConfig, LocalLocationService};
use lsp_sip_adapter::server::{SipLimits, SipListen, SipServer};
use lsp_sip_adapter::service::{SipConfig, SipService};

/// Binds it with `limits`.
pub async fn open_server(limits: SipLimits) -> SipServer {
    let store = Arc::new(LocalLocationService::new(LocalConfig::default()));
    let config = SipConfig::new(Arc::new(Identity::from_secret_bytes([5; 32])))
        .serve_domain("example.com")
        .allow_unauthenticated();
    let sip = Arc::new(SipService::new(store, config).expect("config"));
    let any: SocketAddr = "127.0.0.1:0".parse().expect("addr");
    let listen = SipListen {
        udp: vec![any],
        tcp: vec![any],
        limits,
    };
    SipServer::bind(sip, &listen).await.expect("bind")
}
