//! The whole request path: datagram or stream bytes -> parse -> registrar or
//! redirect server over the embedded store. Any panic is a bug.
#![no_main]

use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};

use libfuzzer_sys::fuzz_target;
use lsp_core::{Identity, LocalConfig, LocalLocationService};
use lsp_sip_adapter::message::{self, Inbound};
use lsp_sip_adapter::service::{SipConfig, SipService};

fn service() -> &'static SipService {
    static SIP: OnceLock<SipService> = OnceLock::new();
    SIP.get_or_init(|| {
        let store = Arc::new(LocalLocationService::new(LocalConfig::default()));
        let config = SipConfig::new(Arc::new(Identity::from_secret_bytes([1; 32])))
            .serve_domain("example.com")
            .allow_unauthenticated();
        SipService::new(store, config).expect("config")
    })
}

fuzz_target!(|data: &[u8]| {
    let source: SocketAddr = "192.0.2.1:5060".parse().expect("addr");
    let _ = message::stream_frame_len(data);
    match message::parse(data) {
        Ok(Inbound::Request(r)) => {
            if let Some(response) = futures::executor::block_on(service().handle(&r, source)) {
                let _ = response.to_bytes();
            }
        }
        Ok(_) => {}
        Err(m) => {
            let _ = m.response(source).map(|r| r.to_bytes());
        }
    }
});
