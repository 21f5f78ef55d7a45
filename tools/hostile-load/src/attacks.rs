//! One attacker per phase, at the highest rate it reaches here. Each attack
//! names the finding of the threat review it replays.

mod quic;
mod sip;

use std::time::{Duration, Instant};

use lsp_core::PeerAddr;

use crate::ring::Node;

/// The attacks, in the order the benchmark runs them.
pub const ALL: &[&str] = &[
    "forward",
    "quic-conns",
    "store-sigs",
    "digest-leak",
    "publish-flood",
    "sip-amplify",
    "sip-amplify-paced",
    "sip-tcp-slow",
    "status-stall",
];

/// What one attacker did and got back.
#[derive(Debug, Default, Clone)]
pub struct Report {
    /// Frames, datagrams, keys or connections sent.
    pub sent: u64,
    /// Answers that said no, where it can tell: refusals, records found
    /// bad, connections refused or cut.
    pub refused: u64,
    /// Records of other publishers it received (a leak if not 0).
    pub leaked_records: u64,
    /// For the SIP attacks: bytes sent from an address that never proved
    /// it, and bytes the victim sent there.
    pub unproved: Option<(u64, u64)>,
    /// What else it saw, for people.
    pub notes: Vec<String>,
}

/// Where an attacker aims: the victim and the ring it belongs to.
#[derive(Debug, Clone)]
pub struct Target {
    pub victim: PeerAddr,
    pub sip_udp: std::net::SocketAddr,
    pub sip_tcp: std::net::SocketAddr,
    pub status: std::net::SocketAddr,
    /// The attacker's own loopback address: per-source shares are the
    /// victim's to give, and the honest probes send from 127.0.0.1.
    pub from: std::net::IpAddr,
}

impl Target {
    pub fn of(node: &Node) -> Self {
        Self {
            victim: node.peer,
            sip_udp: node.sip_udp,
            sip_tcp: node.sip_tcp,
            status: node.status,
            from: std::net::Ipv4Addr::new(127, 0, 0, 2).into(),
        }
    }
}

/// Runs the attack `name` until `until`.
pub async fn run(name: &str, target: &Target, until: Instant) -> Result<Report, String> {
    match name {
        "forward" => quic::forward(target, until).await,
        "quic-conns" => quic::connections(target, until).await,
        "store-sigs" => quic::bad_signatures(target, until).await,
        "digest-leak" => quic::digest_leak(target, until).await,
        "publish-flood" => quic::publish_flood(target, until).await,
        "sip-amplify" => sip::amplify(target, until, None).await,
        "sip-amplify-paced" => sip::amplify(target, until, Some(Duration::from_millis(5))).await,
        "sip-tcp-slow" => sip::tcp_slow(target, until).await,
        "status-stall" => sip::status_stall(target, until).await,
        other => Err(format!(
            "no attack named {other}; known: {}",
            ALL.join(", ")
        )),
    }
}

/// A fresh 32-byte value from a counter, for keys and targets.
fn fresh(label: &str, n: u64) -> [u8; 32] {
    let mut h = blake3::Hasher::new();
    h.update(label.as_bytes());
    h.update(&n.to_le_bytes());
    h.update(&std::process::id().to_le_bytes());
    *h.finalize().as_bytes()
}
