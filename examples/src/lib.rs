//! Helpers shared by the example programs: a ring of nodes over QUIC on
//! 127.0.0.1 to run against, and just enough of a SIP UA to talk to the
//! adapter. The programs themselves are in `src/bin/`.

pub mod local_ring;
pub mod sip_ua;

/// The root README's code, compiled and run as a doctest so that it stays
/// true.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
struct ReadmeExample;

/// Any error, for programs that only report it.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Serves `service` on a UDP socket of 127.0.0.1.
pub async fn serve_udp(
    service: lsp_sip_adapter::service::SipService,
) -> Result<lsp_sip_adapter::server::SipServer, BoxError> {
    let listen = lsp_sip_adapter::server::SipListen {
        udp: vec!["127.0.0.1:0".parse()?],
        ..Default::default()
    };
    Ok(lsp_sip_adapter::server::SipServer::bind(service, &listen).await?)
}
