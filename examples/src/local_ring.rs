//! Chord nodes over real QUIC on 127.0.0.1, with timers short enough that
//! a small ring settles in a second or two.

use std::sync::Arc;
use std::time::Duration;

use lsp_chord::{ChordNode, Config};
use lsp_core::{AccessPolicy, Identity, NodeId, PeerAddr};
use lsp_transport::{QuicTransport, TransportConfig};

use crate::BoxError;

/// The first 8 hex digits of an id, for printing.
pub fn short(id: &NodeId) -> String {
    id.to_string()[..8].to_string()
}

/// The library's preset for tests and demonstrations on one machine.
pub fn fast_config(seed: u64, policy: Arc<dyn AccessPolicy>) -> Config {
    Config::local_test().seed(seed).policy(policy)
}

/// A node with a fresh key on a QUIC socket of 127.0.0.1; idle until it joins.
pub fn spawn_node(seed: u64, policy: Arc<dyn AccessPolicy>) -> Result<ChordNode, BoxError> {
    let key = Identity::generate()?;
    let transport = QuicTransport::bind(&key, "127.0.0.1:0".parse()?, TransportConfig::default())?;
    Ok(ChordNode::spawn(transport, fast_config(seed, policy)))
}

/// A node that will use a ring as a client: its transport connects out
/// and accepts nothing, as a phone behind NAT.
pub fn spawn_client(seed: u64, policy: Arc<dyn AccessPolicy>) -> Result<ChordNode, BoxError> {
    let key = Identity::generate()?;
    let transport = QuicTransport::client(&key, "0.0.0.0:0".parse()?, TransportConfig::default())?;
    Ok(ChordNode::spawn(transport, fast_config(seed, policy)))
}

/// `n` nodes joined into one ring and settled.
pub async fn start_ring(
    n: usize,
    policy: Arc<dyn AccessPolicy>,
) -> Result<Vec<ChordNode>, BoxError> {
    let nodes = (0..n)
        .map(|i| spawn_node(i as u64, policy.clone()))
        .collect::<Result<Vec<_>, _>>()?;
    let first: Vec<PeerAddr> = match nodes.first() {
        Some(f) => {
            f.join(&[]).await?;
            vec![f.local()]
        }
        None => return Ok(nodes),
    };
    for n in &nodes[1..] {
        n.join(&first).await?;
    }
    settle(&nodes).await?;
    Ok(nodes)
}

/// Waits until every node's predecessor and whole successor list are its
/// ring neighbours. A right successor alone is not enough: a young node's
/// list can still be the short one it copied while the ring was smaller,
/// and a list that wraps round to the predecessor tells a node it knows
/// the whole ring, so it would answer for keys that are not its own.
pub async fn settle(nodes: &[ChordNode]) -> Result<(), BoxError> {
    let mut ids: Vec<NodeId> = nodes.iter().map(|n| n.local().id).collect();
    ids.sort();
    let n = ids.len();
    let listed = Config::local_test().successors.min(n.saturating_sub(1));
    let position = |id: NodeId| ids.iter().position(|x| *x == id).unwrap_or(0);
    for _ in 0..150 {
        let mut settled = true;
        for node in nodes {
            let s = node.status().await?;
            let i = position(s.me.id);
            let succs: Vec<NodeId> = s.successors.iter().map(|p| p.id).collect();
            let want: Vec<NodeId> = (1..=listed).map(|d| ids[(i + d) % n]).collect();
            settled &= succs == want && s.predecessor.map(|p| p.id) == Some(ids[(i + n - 1) % n]);
        }
        if settled {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Err("the ring did not settle in 15 s".into())
}

/// An example that joins a ring, or starts one of three nodes to join.
#[derive(Debug, Clone, clap::Parser)]
pub struct RingArgs {
    /// A member of the ring to join, as `<node-id>@<address>`; without
    /// it, a ring of three nodes is started here.
    #[arg(long)]
    pub bootstrap: Option<PeerAddr>,
}

/// The ring an example joins: the peer named by `--bootstrap`, or else a
/// ring of three nodes started here. Returns the local nodes (to keep them
/// running) and the bootstrap peers.
pub async fn ring_from_args(
    args: &RingArgs,
    policy: Arc<dyn AccessPolicy>,
) -> Result<(Vec<ChordNode>, Vec<PeerAddr>), BoxError> {
    if let Some(peer) = args.bootstrap {
        println!("   joining the ring at {peer:?}");
        return Ok((Vec::new(), vec![peer]));
    }
    let ring = start_ring(3, policy).await?;
    println!(
        "   started a ring of {} nodes on 127.0.0.1 to join",
        ring.len()
    );
    let boot = vec![ring[0].local()];
    Ok((ring, boot))
}
