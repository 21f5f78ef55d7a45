//! One Chord node over QUIC, driven by lines on stdin: the building block of
//! the multi-process test, and a way to poke at a ring by hand.
//!
//! ```text
//! ring-node --seed 1 --listen 127.0.0.1:0 [--bootstrap <node-id-hex>@<addr>]
//! ```
//! Commands: `join`, `publish <aor> <contact>`, `query <aor>`,
//! `lookup <aor>`, `status`, `leave`. Each answers one line.

use std::net::SocketAddr;
use std::time::Duration;

use lsp_chord::{ChordNode, Config};
use lsp_core::{Aor, Binding, Identity, LocationService, PeerAddr, Record, UnixTime};
use lsp_transport::{QuicTransport, TransportConfig};
use tokio::io::{AsyncBufReadExt, BufReader};

fn fail(msg: String) -> ! {
    eprintln!("ring-node: {msg}");
    std::process::exit(2);
}

/// One Chord node over QUIC, driven by lines on stdin.
#[derive(Debug, clap::Parser)]
#[command(name = "ring-node")]
struct Cli {
    /// The node's key is 32 bytes of this value (a test identity).
    #[arg(long, default_value_t = 0)]
    seed: u8,
    /// The UDP address to listen on.
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: SocketAddr,
    /// A member to join through, as `<node-id>@<address>`.
    #[arg(long)]
    bootstrap: Option<PeerAddr>,
}

#[tokio::main]
async fn main() {
    let Cli {
        seed,
        listen,
        bootstrap,
    } = clap::Parser::parse();
    let identity = Identity::from_secret_bytes([seed; 32]);
    let transport = QuicTransport::bind(&identity, listen, TransportConfig::default())
        .unwrap_or_else(|e| fail(e.to_string()));
    let cfg = Config::local_test()
        .seed(u64::from(seed))
        .fix_fingers_interval(Duration::from_millis(200))
        .request_timeout(Duration::from_millis(300));
    let node = ChordNode::spawn(transport, cfg);
    let me = node.local();
    println!("node {} {}", me.id, me.addr);
    let publisher = Identity::from_secret_bytes([200; 32]);
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        let words: Vec<&str> = line.split_whitespace().collect();
        let answer = match words.as_slice() {
            ["join"] => match node.join(&bootstrap.into_iter().collect::<Vec<_>>()).await {
                Ok(()) => "joined".to_string(),
                Err(e) => format!("error {e}"),
            },
            ["publish", aor, contact] => match Aor::parse(aor) {
                Ok(aor) => {
                    let rec = Record {
                        aor,
                        version: Record::next_version(None),
                        bindings: vec![Binding::new(
                            *contact,
                            UnixTime::now() + Duration::from_secs(600),
                            "ring-node",
                            1,
                        )],
                    }
                    .sign(&publisher);
                    let published = match rec {
                        Ok(rec) => node.publish(rec).await,
                        Err(e) => Err(e),
                    };
                    match published {
                        Ok(p) => format!("published {}", p.replicas),
                        Err(e) => format!("error {e}"),
                    }
                }
                Err(e) => format!("error {e}"),
            },
            ["query", aor] => match Aor::parse(aor) {
                Ok(aor) => match node.query(&aor).await {
                    Ok(b) => {
                        let c: Vec<String> = b.into_iter().map(|b| b.contact).collect();
                        format!("contacts {}", c.join(" "))
                    }
                    Err(e) => format!("error {e}"),
                },
                Err(e) => format!("error {e}"),
            },
            ["lookup", aor] => match Aor::parse(aor) {
                Ok(aor) => match node.lookup(aor.resource_id()).await {
                    Ok(l) => {
                        let p: Vec<String> = l.peers.iter().map(|p| p.id.to_string()).collect();
                        format!("peers {} hops {}", p.join(" "), l.hops)
                    }
                    Err(e) => format!("error {e}"),
                },
                Err(e) => format!("error {e}"),
            },
            ["status"] => match node.status().await {
                Ok(s) => format!(
                    "status successors {} predecessor {} estimate {:.1}",
                    s.successors.len(),
                    s.predecessor.is_some(),
                    s.estimated_size
                ),
                Err(e) => format!("error {e}"),
            },
            ["leave"] => match node.leave().await {
                Ok(()) => "left".to_string(),
                Err(e) => format!("error {e}"),
            },
            _ => format!("error unknown command {line:?}"),
        };
        println!("{answer}");
    }
}
