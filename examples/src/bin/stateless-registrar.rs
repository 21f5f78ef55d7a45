//! A registrar that keeps no state of its own: each REGISTER becomes one
//! signed publish on the ring, and any node's redirect server can answer for
//! it. Restart the registrar, or run several behind one DNS name, and
//! nothing is lost.
//!
//! ```text
//! stateless-registrar [--bootstrap <node-id>@<addr>]
//! ```

use std::sync::Arc;

use clap::Parser;
use examples::local_ring::{RingArgs, ring_from_args, spawn_node};
use examples::sip_ua::{ALICE, invite, register_phone};
use examples::{BoxError, serve_udp};
use lsp_chord::ChordNode;
use lsp_core::{DomainTrustAnchors, Identity};
use lsp_sip_adapter::client::SipCaller;
use lsp_sip_adapter::digest::StaticCredentials;
use lsp_sip_adapter::server::SipServer;
use lsp_sip_adapter::service::{SipConfig, SipService};

/// A registrar and redirect server on `node`, signing with `domain_key`.
async fn registrar(node: &ChordNode, domain_key: Arc<Identity>) -> Result<SipServer, BoxError> {
    let users = StaticCredentials::new().with_password(ALICE.user, ALICE.domain, ALICE.password);
    let sip = SipService::new(
        node.clone(),
        SipConfig::new(domain_key)
            .serve_domain("example.com")
            .credentials(Arc::new(users)),
    )?;
    serve_udp(sip).await
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    // Every registrar instance of example.com shares the domain key.
    let domain_key = Arc::new(Identity::generate()?);
    let policy = Arc::new(DomainTrustAnchors::new().trust("example.com", domain_key.public_key()));
    let (_ring, bootstrap) = ring_from_args(&RingArgs::parse(), policy.clone()).await?;

    let first = spawn_node(11, policy.clone())?;
    first.join(&bootstrap).await?;
    let server = registrar(&first, domain_key.clone()).await?;
    let at = server.udp_addrs()[0];
    println!("== registrar instance 1 on udp {at}");
    let (_phone, contact, _registration) = register_phone(at, &ALICE).await?;
    let status = first.status().await?;
    println!(
        "== instance 1 holds no registrations of its own; as a ring peer its node stores {} record(s)",
        status.store.records
    );

    println!("== instance 1 stops; instance 2 starts on a new node with the same domain key");
    server.shutdown().await;
    first.leave().await?;
    let second = spawn_node(12, policy)?;
    second.join(&bootstrap).await?;
    let server = registrar(&second, domain_key).await?;
    let caller = SipCaller::bind("127.0.0.1:0".parse()?).await?;
    let moved = invite(&caller, server.udp_addrs()[0], "sip:alice@example.com").await?;
    if !moved.contains(&contact) {
        return Err(format!("302 to {moved}, not {contact}").into());
    }
    println!("== instance 2 found alice's registration on the ring");
    server.shutdown().await;
    println!("stateless-registrar: OK");
    Ok(())
}
