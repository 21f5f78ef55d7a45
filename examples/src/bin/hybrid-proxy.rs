//! A proxy in hybrid mode: its users' registrations go to a local store and
//! to the ring, and its redirect server answers from either, so it keeps
//! serving its own users when the ring is unreachable and other proxies
//! find them through the ring.
//!
//! ```text
//! hybrid-proxy [--bootstrap <node-id>@<addr>]
//! ```

use std::sync::Arc;

use clap::Parser;
use examples::local_ring::{RingArgs, ring_from_args, spawn_node};
use examples::sip_ua::{ALICE, invite, register_phone};
use examples::{BoxError, serve_udp};
use lsp_core::{
    Aor, DomainTrustAnchors, FirstComeFirstServed, Identity, LocalConfig, LocalLocationService,
    LocationService,
};
use lsp_sip_adapter::client::SipCaller;
use lsp_sip_adapter::digest::StaticCredentials;
use lsp_sip_adapter::hybrid::{HybridService, QueryOrder};
use lsp_sip_adapter::service::{SipConfig, SipService};

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    // The proxy signs example.com's registrations; the ring trusts its key.
    let domain_key = Arc::new(Identity::generate()?);
    let policy = Arc::new(
        DomainTrustAnchors::new()
            .trust("example.com", domain_key.public_key())
            .otherwise(FirstComeFirstServed),
    );
    let (ring, bootstrap) = ring_from_args(&RingArgs::parse(), policy.clone()).await?;
    let node = spawn_node(9, policy.clone())?;
    node.join(&bootstrap).await?;

    // Local first: the proxy's own users are answered without a lookup.
    let local = Arc::new(LocalLocationService::new(
        LocalConfig::default().policy(policy),
    ));
    let hybrid = HybridService::new(local.clone(), node.clone(), QueryOrder::LocalFirst);
    let users = StaticCredentials::new().with_password(ALICE.user, ALICE.domain, ALICE.password);
    let sip = SipService::new(
        Arc::new(hybrid),
        SipConfig::new(domain_key)
            .serve_domain("example.com")
            .credentials(Arc::new(users)),
    )?;
    let server = serve_udp(sip).await?;
    let at = server.udp_addrs()[0];
    println!("== hybrid proxy for example.com on udp {at}");

    let (_phone, contact, _registration) = register_phone(at, &ALICE).await?;
    let aor = Aor::parse("sip:alice@example.com")?;
    println!(
        "== alice is in the local store: {} binding(s)",
        local.query(&aor).await?.len()
    );
    if let Some(other) = ring.last() {
        let seen = other.query(&aor).await?;
        println!(
            "== and on the ring, where another node sees {}",
            seen[0].contact
        );
    }

    let caller = SipCaller::bind("127.0.0.1:0".parse()?).await?;
    invite(&caller, at, "sip:alice@example.com").await?;

    println!("== the proxy's ring node goes away; the proxy still answers for alice");
    node.leave().await?;
    let moved = invite(&caller, at, "sip:alice@example.com").await?;
    if !moved.contains(&contact) {
        return Err(format!("302 to {moved}, not {contact}").into());
    }
    server.shutdown().await;
    println!("hybrid-proxy: OK");
    Ok(())
}
