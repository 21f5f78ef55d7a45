//! A UA that registers itself with no server at all (pure P2P) and looks up
//! the peer it calls, to send its INVITE straight there.
//!
//! ```text
//! ua-p2p [--bootstrap <node-id>@<addr>] [--call <aor>] [--member]
//! ```
//! Without `--bootstrap` it starts a small ring on 127.0.0.1 and a second
//! UA, bob, to call. The UA uses the ring as a client (no range to hold,
//! no listening port: what a phone behind NAT can do); `--member` makes
//! it join the ring instead.

use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use examples::BoxError;
use examples::local_ring::{RingArgs, ring_from_args, spawn_client, spawn_node};
use lsp_core::{Aor, FirstComeFirstServed, Identity, LocationService};
use lsp_sip_adapter::ua::{SelfBinding, SelfRegistration};

/// A UA that registers itself on a ring, with no server, and resolves
/// another UA to call it directly.
#[derive(Debug, Parser)]
#[command(name = "ua-p2p")]
struct Cli {
    #[command(flatten)]
    ring: RingArgs,
    /// Join the ring as a member instead of using it as a client.
    #[arg(long)]
    member: bool,
    /// The AOR to resolve (needed with --bootstrap; a demo UA otherwise).
    #[arg(long)]
    call: Option<String>,
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let cli = Cli::parse();
    // Pure P2P: the first key to publish an AOR owns it while it lives.
    let policy = Arc::new(FirstComeFirstServed);
    let (ring, bootstrap) = ring_from_args(&cli.ring, policy.clone()).await?;

    // The UA runs its own node; a real UA keeps its key in a file. As a
    // client it goes through every member it knows, failing over.
    let node = if cli.member {
        let node = spawn_node(7, policy)?;
        node.join(&bootstrap).await?;
        println!("== the UA's node {} joined the ring", node.local().id);
        node
    } else {
        let node = spawn_client(7, policy)?;
        let mut members = bootstrap.clone();
        members.extend(ring.iter().map(|n| n.local()).skip(1));
        node.attach(&members).await?;
        println!(
            "== the UA's node {} uses the ring as a client, through {} member(s)",
            node.local().id,
            members.len()
        );
        node
    };
    let key = Arc::new(Identity::generate()?);
    let me = Aor::parse("sip:ua-demo@p2p.example.net")?;
    let binding = SelfBinding::new(me.clone(), "sip:ua-demo@127.0.0.1:5062")
        .lifetime(Duration::from_secs(300));
    let registration = SelfRegistration::start(node.clone(), key, binding).await?;
    println!("== registered {me} with its own signature; refreshed every 200 s");

    // In the demo, bob is another UA on another node.
    let callee = match cli.call {
        Some(aor) => Aor::parse(&aor)?,
        None => {
            let bob = Aor::parse("sip:bob@p2p.example.net")?;
            let host = ring.get(1).ok_or("--call is needed with --bootstrap")?;
            let spec = SelfBinding::new(bob.clone(), "sip:bob@127.0.0.1:5064");
            let _ = SelfRegistration::start(host.clone(), Identity::generate()?, spec).await?;
            bob
        }
    };
    let found = registration.resolve(&callee).await?;
    let route = node.lookup(callee.resource_id()).await?;
    let best = found
        .first()
        .ok_or(format!("{callee} has no live contact"))?;
    println!(
        "== {callee}: INVITE goes straight to {} (q={}; lookup took {} hop(s))",
        best.contact, best.q, route.hops
    );

    registration.stop().await?;
    println!("== unregistered {me}; leaving");
    node.leave().await?;
    println!("ua-p2p: OK");
    Ok(())
}
