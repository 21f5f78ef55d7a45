//! Our QUIC transport against a bare quinn echo, and a 16-node Chord ring
//! over QUIC on 127.0.0.1, in one run.
//!
//! ```text
//! cargo bench -p examples --bench quic_ring -- [--rtt-iters 4000] [--secs 5] [--concurrency 32]
//! ```

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use lsp_chord::{ChordNode, Config};
use lsp_core::{Aor, Binding, Identity, LocationService, PeerAddr, Record, Transport, UnixTime};
use lsp_transport::{QuicTransport, TransportConfig};
use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
use serde::Serialize;

/// Our QUIC transport against a bare quinn echo, and a 16-node ring over
/// QUIC on 127.0.0.1.
#[derive(Debug, Clone, clap::Parser)]
#[command(name = "quic_ring", bin_name = "quic_ring")]
struct Args {
    /// Round trips per echo measurement.
    #[arg(long, default_value_t = 4000)]
    rtt_iters: usize,
    /// Seconds of each throughput measurement.
    #[arg(long, default_value_t = 5.0)]
    secs: f64,
    /// Requests in flight in the throughput measurements.
    #[arg(long, default_value_t = 32)]
    concurrency: usize,
    /// Where the JSON figures go.
    #[arg(long, default_value = "target/lsp-bench/quic_ring.json")]
    json: String,
    /// Where the SVG plots go.
    #[arg(long, default_value = "target/lsp-bench")]
    svg_dir: String,
    /// Passed by `cargo bench`; ignored.
    #[arg(long, hide = true)]
    bench: bool,
}

#[derive(Debug, Clone, Default, Serialize)]
struct Dist {
    count: usize,
    p50_us: f64,
    p99_us: f64,
    mean_us: f64,
    /// Every sample, for the plots.
    #[serde(skip)]
    samples_us: Vec<f64>,
}

fn dist(mut v: Vec<Duration>) -> Dist {
    v.sort_unstable();
    let us = |d: Duration| d.as_secs_f64() * 1e6;
    let at = |p: f64| {
        v.get(((v.len().max(1) - 1) as f64 * p) as usize)
            .map_or(0.0, |d| us(*d))
    };
    Dist {
        count: v.len(),
        p50_us: at(0.5),
        p99_us: at(0.99),
        mean_us: v.iter().map(|d| us(*d)).sum::<f64>() / v.len().max(1) as f64,
        samples_us: v.iter().map(|d| us(*d)).collect(),
    }
}

// ---- bare quinn echo ----

fn bare_quinn() -> (quinn::Endpoint, quinn::Endpoint, SocketAddr) {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let cert = rcgen::generate_simple_self_signed(vec!["bench".into()]).expect("cert");
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(cert.signing_key.serialize_der()));
    let server_tls = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .expect("tls13")
        .with_no_client_auth()
        .with_single_cert(vec![cert.cert.der().clone()], key)
        .expect("server tls");
    let server_cfg = quinn::ServerConfig::with_crypto(Arc::new(
        quinn::crypto::rustls::QuicServerConfig::try_from(server_tls).expect("quic server"),
    ));
    let server =
        quinn::Endpoint::server(server_cfg, "127.0.0.1:0".parse().expect("addr")).expect("bind");
    let addr = server.local_addr().expect("addr");
    // The client trusts the server's self-signed certificate as its root.
    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert.cert.der().clone()).expect("root");
    let client_tls = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .expect("tls13")
        .with_root_certificates(roots)
        .with_no_client_auth();
    let mut client = quinn::Endpoint::client("127.0.0.1:0".parse().expect("addr")).expect("bind");
    client.set_default_client_config(quinn::ClientConfig::new(Arc::new(
        quinn::crypto::rustls::QuicClientConfig::try_from(client_tls).expect("quic client"),
    )));
    (server, client, addr)
}

async fn quinn_echo_server(server: quinn::Endpoint) {
    while let Some(inc) = server.accept().await {
        tokio::spawn(async move {
            let Ok(conn) = inc.await else { return };
            while let Ok((mut send, mut recv)) = conn.accept_bi().await {
                tokio::spawn(async move {
                    if let Ok(buf) = recv.read_to_end(64 * 1024).await {
                        let _ = send.write_all(&buf).await;
                        let _ = send.finish();
                    }
                });
            }
        });
    }
}

// ---- the ring ----

fn ring_config(seed: u64) -> Config {
    let mut c = Config::default().seed(seed);
    c.stabilize_interval = Duration::from_millis(500);
    c.fix_fingers_interval = Duration::from_millis(500);
    c
}

async fn start_ring(n: u8) -> Vec<ChordNode> {
    let mut nodes = Vec::new();
    for seed in 1..=n {
        let id = Identity::from_secret_bytes([seed; 32]);
        let t = QuicTransport::bind(
            &id,
            "127.0.0.1:0".parse().expect("addr"),
            TransportConfig::default(),
        )
        .expect("bind");
        nodes.push(ChordNode::spawn(Arc::new(t), ring_config(u64::from(seed))));
    }
    nodes[0].join(&[]).await.expect("first node");
    let boot = [nodes[0].local()];
    for n in &nodes[1..] {
        n.join(&boot).await.expect("join");
    }
    // Let stabilize and the fingers settle.
    tokio::time::sleep(Duration::from_secs(4)).await;
    nodes
}

fn record(k: usize, version: u64, who: &Identity) -> lsp_core::SignedRecord {
    let aor = Aor::parse(&format!("sip:bench{k}@example.com")).expect("aor");
    Record {
        aor,
        version,
        bindings: vec![Binding::new(
            format!("sip:bench{k}@192.0.2.1:5060"),
            UnixTime::now() + Duration::from_secs(3600),
            "bench",
            1,
        )],
    }
    .sign(who)
    .expect("sign")
}

/// Runs `op` from `concurrency` tasks for `secs`; ops/s and latencies.
async fn load<F, Fut>(secs: f64, concurrency: usize, op: F) -> (f64, Dist, usize)
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = bool> + Send,
{
    let op = Arc::new(op);
    let start = Instant::now();
    let end = start + Duration::from_secs_f64(secs);
    let mut tasks = Vec::new();
    for w in 0..concurrency {
        let op = op.clone();
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            let mut failed = 0;
            let mut k = w;
            while Instant::now() < end {
                let t0 = Instant::now();
                if op(k).await {
                    lat.push(t0.elapsed());
                } else {
                    failed += 1;
                }
                k += concurrency;
            }
            (lat, failed)
        }));
    }
    let mut all = Vec::new();
    let mut failed = 0;
    for t in tasks {
        if let Ok((l, f)) = t.await {
            all.extend(l);
            failed += f;
        }
    }
    let rate = all.len() as f64 / start.elapsed().as_secs_f64();
    (rate, dist(all), failed)
}

#[derive(Debug, Serialize)]
struct Report {
    rtt_ours: Dist,
    rtt_bare_quinn: Dist,
    rtt_ratio_p50: f64,
    publish_per_sec: f64,
    publish: Dist,
    publish_failed: usize,
    query_per_sec: f64,
    query: Dist,
    query_failed: usize,
    concurrency: usize,
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let a = <Args as clap::Parser>::parse();
    // One-hop round trips, in alternating blocks so both see the same noise.
    let ka = Identity::from_secret_bytes([101; 32]);
    let kb = Identity::from_secret_bytes([102; 32]);
    let any: SocketAddr = "127.0.0.1:0".parse().expect("addr");
    let ta = QuicTransport::bind(&ka, any, TransportConfig::default()).expect("bind");
    let tb = Arc::new(QuicTransport::bind(&kb, any, TransportConfig::default()).expect("bind"));
    let echo = tb.clone();
    tokio::spawn(async move {
        while let Ok(i) = echo.recv().await {
            let _ = echo
                .send(
                    PeerAddr {
                        id: i.from,
                        addr: i.from_addr,
                    },
                    i.frame,
                )
                .await;
        }
    });
    let (server, client, server_addr) = bare_quinn();
    tokio::spawn(quinn_echo_server(server));
    let conn = client
        .connect(server_addr, "bench")
        .expect("connect")
        .await
        .expect("handshake");
    let payload = vec![0x5a; 64];
    let mut ours = Vec::new();
    let mut bare = Vec::new();
    let block = 200;
    for round in 0..(a.rtt_iters / block).max(2) {
        for _ in 0..block {
            let t0 = Instant::now();
            ta.send(tb.local(), payload.clone()).await.expect("send");
            ta.recv().await.expect("echo");
            ours.push(t0.elapsed());
            let t0 = Instant::now();
            let (mut s, mut r) = conn.open_bi().await.expect("open");
            s.write_all(&payload).await.expect("write");
            s.finish().expect("finish");
            r.read_to_end(64 * 1024).await.expect("read");
            bare.push(t0.elapsed());
        }
        if round == 0 {
            // The first block warms both up.
            ours.clear();
            bare.clear();
        }
    }
    let (ours, bare) = (dist(ours), dist(bare));

    let nodes = Arc::new(start_ring(16).await);
    let publisher = Arc::new(Identity::from_secret_bytes([77; 32]));
    let stored = Arc::new(std::sync::Mutex::new(Vec::new()));
    let (n, p, st) = (nodes.clone(), publisher.clone(), stored.clone());
    let (pub_rate, pub_dist, pub_failed) = load(a.secs, a.concurrency, move |k| {
        let (n, p, st) = (n.clone(), p.clone(), st.clone());
        async move {
            let ok = n[k % 16].publish(record(k, 1, &p)).await.is_ok();
            if ok {
                st.lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .push(k);
            }
            ok
        }
    })
    .await;
    let keys: Arc<Vec<usize>> = Arc::new(
        stored
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone(),
    );
    let n = nodes.clone();
    let (q_rate, q_dist, q_failed) = load(a.secs, a.concurrency, move |k| {
        let (n, keys) = (n.clone(), keys.clone());
        async move {
            let key = keys[(k * 7919) % keys.len().max(1)];
            let aor = Aor::parse(&format!("sip:bench{key}@example.com")).expect("aor");
            n[(k + 5) % 16].query(&aor).await.is_ok()
        }
    })
    .await;

    let report = Report {
        rtt_ratio_p50: ours.p50_us / bare.p50_us.max(1e-9),
        rtt_ours: ours,
        rtt_bare_quinn: bare,
        publish_per_sec: pub_rate,
        publish: pub_dist,
        publish_failed: pub_failed,
        query_per_sec: q_rate,
        query: q_dist,
        query_failed: q_failed,
        concurrency: a.concurrency,
    };
    println!(
        "{:<34} {:>10} {:>10} {:>10} {:>8}",
        "measure", "p50 µs", "p99 µs", "per sec", "failed"
    );
    let row = |name: &str, d: &Dist, rate: Option<f64>, failed: usize| {
        println!(
            "{:<34} {:>10.0} {:>10.0} {:>10} {:>8}",
            name,
            d.p50_us,
            d.p99_us,
            rate.map_or("-".into(), |r| format!("{r:.0}")),
            failed
        );
    };
    row("one-hop RTT, lsp-transport", &report.rtt_ours, None, 0);
    row(
        "one-hop RTT, bare quinn bi-stream",
        &report.rtt_bare_quinn,
        None,
        0,
    );
    row(
        "publish, 16-node ring",
        &report.publish,
        Some(report.publish_per_sec),
        report.publish_failed,
    );
    row(
        "query, 16-node ring",
        &report.query,
        Some(report.query_per_sec),
        report.query_failed,
    );
    println!(
        "RTT ratio (ours / bare quinn, p50): {:.2}",
        report.rtt_ratio_p50
    );
    if let Err(e) = plot(&a.svg_dir, &report) {
        eprintln!("writing plots to {}: {e}", a.svg_dir);
    }
    if let Some(dir) = std::path::Path::new(&a.json).parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    match serde_json::to_string_pretty(&report) {
        Ok(s) => {
            if let Err(e) = std::fs::write(&a.json, s) {
                eprintln!("writing {}: {e}", a.json);
            }
        }
        Err(e) => eprintln!("{e}"),
    }
}

/// The distributions behind the table: one-hop round trips, ours against
/// bare quinn, and publish and query latency on the ring.
fn plot(dir: &str, r: &Report) -> std::io::Result<()> {
    use lsp_plot::{Chart, cdf};
    std::fs::create_dir_all(dir)?;
    let rtt = Chart::new("One-hop round trip on 127.0.0.1, 64-byte payload")
        .x_log()
        .legend_low()
        .x_label("round trip (µs, log scale)")
        .y_label("fraction at or below")
        .line("lsp-transport", cdf(&r.rtt_ours.samples_us))
        .line(
            "bare quinn bi-stream echo",
            cdf(&r.rtt_bare_quinn.samples_us),
        );
    std::fs::write(format!("{dir}/quic-rtt.svg"), rtt.to_svg())?;
    let ring = Chart::new(&format!(
        "16-node ring over QUIC, {} operations in flight",
        r.concurrency
    ))
    .x_log()
    .legend_low()
    .x_label("latency (µs, log scale)")
    .y_label("fraction at or below")
    .line("publish", cdf(&r.publish.samples_us))
    .line("query", cdf(&r.query.samples_us));
    std::fs::write(format!("{dir}/quic-ring-latency.svg"), ring.to_svg())
}
