//! The HTTP status endpoint: `/status` (JSON), `/metrics` (Prometheus text
//! format), `/health` (200 or 503, for probes and load balancers) and `/`
//! (an HTML page drawing this node's view of the ring). Requests share
//! snapshots of the node at most [`SNAPSHOT_FRESH`] old, so that however
//! many arrive, the node's driver is asked at most ten times a second.

use std::fmt::Write;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Instant;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use lsp_chord::{ChordNode, Health, Status};
use lsp_core::{NodeId, PeerAddr};
use lsp_sip_adapter::server::SipMonitor;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use serde_json::{Value, json};

use crate::coalesce::Coalesced;
use crate::latency::Latencies;

/// How old a shared snapshot of the node may be.
pub const SNAPSHOT_FRESH: std::time::Duration = std::time::Duration::from_millis(100);

/// What the endpoint reports on besides the node itself.
#[derive(Debug)]
pub struct StatusSource {
    /// The node.
    pub node: ChordNode,
    /// When the daemon started.
    pub started: Instant,
    /// SIP listen addresses and served domains, if SIP is on.
    pub sip: Option<Value>,
    /// The SIP server's transaction counters, if SIP is on.
    pub sip_monitor: Option<SipMonitor>,
    /// Whether SIP answers from a local store (`store = "hybrid"` or
    /// `"local"`), which keeps serving while the ring is down.
    pub sip_local_store: bool,
    /// The latest snapshot of the node, shared by requests.
    pub snapshots: Coalesced<Status>,
    /// The SIP front's latency histograms, if SIP is on.
    pub latencies: Option<Arc<Latencies>>,
}

/// What `/health` says: the ring's health, and what SIP still does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceHealth {
    /// `healthy`, `alone`, `degraded`, `joining`, `isolated` or `left`.
    pub status: &'static str,
    /// Whether the node does its job: `/health` answers 200.
    pub serving: bool,
    /// Why, for operators.
    pub reason: String,
}

/// The service's health from the ring's: a node whose ring half is down
/// but whose SIP answers from a local store is `degraded` and serving.
pub fn service_health(ring: &Health, sip_local_store: bool) -> ServiceHealth {
    if ring.is_serving() {
        return ServiceHealth {
            status: ring.name(),
            serving: true,
            reason: ring.reason(),
        };
    }
    if sip_local_store && matches!(ring, Health::Isolated { .. } | Health::Joining) {
        return ServiceHealth {
            status: "degraded",
            serving: true,
            reason: format!(
                "ring {}: {}; SIP answers from the local store",
                ring.name(),
                ring.reason()
            ),
        };
    }
    ServiceHealth {
        status: ring.name(),
        serving: false,
        reason: ring.reason(),
    }
}

/// The SIP transaction counters as (name, help, value), for both pages.
fn sip_counters(m: &SipMonitor) -> [(&'static str, &'static str, u64); 10] {
    let t = m.stats();
    [
        (
            "transactions",
            "SIP server transactions held.",
            t.transactions as u64,
        ),
        (
            "state_bytes",
            "Bytes of SIP transaction state held.",
            t.state_bytes as u64,
        ),
        (
            "refused_full",
            "SIP requests refused with 503: the state budget was spent.",
            t.refused_full,
        ),
        (
            "refused_source",
            "SIP requests refused with 503: their source held its share.",
            t.refused_source,
        ),
        (
            "reclaimed",
            "Completed SIP transactions forgotten early to make room.",
            t.reclaimed,
        ),
        (
            "retransmitted",
            "Final responses retransmitted by Timer G.",
            t.retransmitted,
        ),
        (
            "retransmit_unpaid",
            "Timer G retransmissions skipped for an unproved source.",
            t.retransmit_unpaid,
        ),
        (
            "answers_unpaid",
            "Other SIP answers withheld from an unproved source until paid for.",
            t.answers_unpaid,
        ),
        (
            "intake_shed",
            "UDP datagrams shed unread: their source sent more than its share while the socket backed up.",
            t.intake_shed,
        ),
        (
            "timed_out",
            "INVITE transactions ended by Timer H with no ACK.",
            t.timed_out,
        ),
    ]
}

/// The router for the three pages.
pub fn router(source: Arc<StatusSource>) -> Router {
    Router::new()
        .route("/", get(page))
        .route("/status", get(status_json))
        .route("/metrics", get(metrics))
        .route("/health", get(health))
        .with_state(source)
}

async fn snapshot(source: &StatusSource) -> Result<Status, Response> {
    let node = &source.node;
    source.snapshots.get(|| node.status()).await.map_err(|e| {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("node unavailable: {e}\n"),
        )
            .into_response()
    })
}

fn peer(p: &PeerAddr) -> Value {
    json!({ "id": p.id.to_string(), "addr": p.addr.to_string() })
}

/// The JSON document of `/status`.
pub fn status_document(s: &Status, source: &StatusSource) -> Value {
    let c = &s.counters;
    let h = service_health(&s.health, source.sip_local_store);
    json!({
        "node_id": s.me.id.to_string(),
        "addr": s.me.addr.to_string(),
        "state": format!("{:?}", s.state),
        "health": {
            "status": h.status,
            "serving": h.serving,
            "reason": h.reason,
            "ring": s.health.name(),
        },
        "uptime_secs": source.started.elapsed().as_secs(),
        "predecessor": s.predecessor.as_ref().map(peer),
        "successors": s.successors.iter().map(peer).collect::<Vec<_>>(),
        "fingers": s.fingers.iter().map(peer).collect::<Vec<_>>(),
        "store": { "aors": s.store.aors, "records": s.store.records, "bytes": s.store.bytes },
        "estimated_size": s.estimated_size,
        "counters": {
            "messages_sent": c.messages_sent,
            "bytes_sent": c.bytes_sent,
            "messages_received": c.messages_received,
            "bytes_received": c.bytes_received,
            "maintenance_messages": c.maintenance_messages,
            "maintenance_bytes": c.maintenance_bytes,
            "replication_messages": c.replication_messages,
            "replication_bytes": c.replication_bytes,
            "malformed": c.malformed,
            "unanswered": c.unanswered,
            "unanswered_by_live_peers": c.unanswered_by_live_peers,
            "lies": c.lies,
            "sends_dropped": c.sends_dropped,
            "digests_differed": c.digests_differed,
        },
        "sip": source.sip.as_ref().map(|info| {
            let mut info = info.clone();
            if let (Some(obj), Some(m)) = (info.as_object_mut(), &source.sip_monitor) {
                let counters: serde_json::Map<String, Value> = sip_counters(m)
                    .into_iter()
                    .map(|(name, _, v)| (name.to_owned(), json!(v)))
                    .collect();
                obj.insert("transactions".into(), Value::Object(counters));
            }
            info
        }),
    })
}

async fn health(State(source): State<Arc<StatusSource>>) -> Response {
    let s = match snapshot(&source).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let h = service_health(&s.health, source.sip_local_store);
    let code = if h.serving {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (code, format!("{}: {}\n", h.status, h.reason)).into_response()
}

async fn status_json(State(source): State<Arc<StatusSource>>) -> Response {
    match snapshot(&source).await {
        Ok(s) => (
            [(header::CONTENT_TYPE, "application/json")],
            status_document(&s, &source).to_string(),
        )
            .into_response(),
        Err(r) => r,
    }
}

/// A gauge of `value` in `registry`: integral values as integers.
fn gauge(registry: &mut Registry, name: &str, help: &str, value: f64) {
    if value.fract() == 0.0 && value.abs() < 9.0e15 {
        let g: Gauge = Gauge::default();
        g.set(value as i64);
        registry.register(name, help, g);
    } else {
        let g: Gauge<f64, AtomicU64> = Gauge::default();
        g.set(value);
        registry.register(name, help, g);
    }
}

/// A counter at `value` in `registry`; the encoder adds `_total`.
fn counter(registry: &mut Registry, name: &str, help: &str, value: u64) {
    let c: Counter = Counter::default();
    c.inc_by(value);
    registry.register(name, help, c);
}

async fn metrics(State(source): State<Arc<StatusSource>>) -> Response {
    let s = match snapshot(&source).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let c = &s.counters;
    // A registry per scrape, filled from one snapshot of the node.
    let mut registry = Registry::with_prefix("lsp");
    let serving = service_health(&s.health, source.sip_local_store).serving;
    let isolated = matches!(s.health, Health::Isolated { .. });
    let gauges: [(&str, &str, f64); 9] = [
        (
            "serving",
            "1 when the node does its job (/health answers 200).",
            f64::from(u8::from(serving)),
        ),
        (
            "ring_isolated",
            "1 when the node had peers and none has answered for the isolation timeout.",
            f64::from(u8::from(isolated)),
        ),
        (
            "estimated_size",
            "Estimated number of nodes in the ring.",
            s.estimated_size,
        ),
        (
            "successors",
            "Entries in the successor list.",
            s.successors.len() as f64,
        ),
        ("fingers", "Distinct fingers.", s.fingers.len() as f64),
        (
            "has_predecessor",
            "1 when a predecessor is known.",
            f64::from(u8::from(s.predecessor.is_some())),
        ),
        (
            "store_aors",
            "AORs stored on this node.",
            s.store.aors as f64,
        ),
        (
            "store_records",
            "Records stored on this node.",
            s.store.records as f64,
        ),
        (
            "store_bytes",
            "Bytes of records stored on this node.",
            s.store.bytes as f64,
        ),
    ];
    for (name, help, v) in gauges {
        gauge(&mut registry, name, help, v);
    }
    let counters: [(&str, &str, u64); 14] = [
        ("messages_sent", "Overlay messages sent.", c.messages_sent),
        ("bytes_sent", "Overlay bytes sent.", c.bytes_sent),
        (
            "messages_received",
            "Overlay messages received.",
            c.messages_received,
        ),
        (
            "bytes_received",
            "Overlay bytes received.",
            c.bytes_received,
        ),
        (
            "maintenance_messages",
            "Ring upkeep messages sent.",
            c.maintenance_messages,
        ),
        (
            "maintenance_bytes",
            "Ring upkeep bytes sent.",
            c.maintenance_bytes,
        ),
        (
            "replication_messages",
            "Replication messages sent.",
            c.replication_messages,
        ),
        (
            "replication_bytes",
            "Replication bytes sent.",
            c.replication_bytes,
        ),
        ("malformed", "Frames that failed to decode.", c.malformed),
        ("unanswered", "Requests that timed out.", c.unanswered),
        (
            "unanswered_by_live_peers",
            "Requests that timed out to a peer heard from meanwhile; the peer was kept.",
            c.unanswered_by_live_peers,
        ),
        (
            "lies",
            "Lookup answers found to be lies; the liar was dropped from its lookup.",
            c.lies,
        ),
        (
            "digests_differed",
            "Repair digests answered that differed from this node's; each pushed a range.",
            c.digests_differed,
        ),
        (
            "sends_dropped",
            "Frames dropped because the peer's send queue was full.",
            c.sends_dropped,
        ),
    ];
    for (name, help, v) in counters {
        counter(&mut registry, name, help, v);
    }
    if let Some(m) = &source.sip_monitor {
        for (name, help, v) in sip_counters(m) {
            let name = format!("sip_{name}");
            if matches!(name.as_str(), "sip_transactions" | "sip_state_bytes") {
                gauge(&mut registry, &name, help, v as f64);
            } else {
                counter(&mut registry, &name, help, v);
            }
        }
    }
    if let Some(l) = &source.latencies {
        l.register(&mut registry);
    }
    gauge(
        &mut registry,
        "uptime_seconds",
        "Seconds since the daemon started.",
        source.started.elapsed().as_secs() as f64,
    );
    let mut out = String::new();
    if let Err(e) = encode(&mut out, &registry) {
        return (StatusCode::INTERNAL_SERVER_ERROR, format!("metrics: {e}\n")).into_response();
    }
    let kind = "application/openmetrics-text; version=1.0.0; charset=utf-8";
    ([(header::CONTENT_TYPE, kind)], out).into_response()
}

/// Where `id` sits on a circle of radius `r` around (`c`, `c`), clockwise
/// from the top.
fn on_circle(id: &NodeId, c: f64, r: f64) -> (f64, f64) {
    let turn = id.prefix_u64() as f64 / 2f64.powi(64);
    let angle = turn * std::f64::consts::TAU;
    (c + r * angle.sin(), c - r * angle.cos())
}

fn short(id: &NodeId) -> String {
    id.to_string()[..8].to_string()
}

/// The HTML page: the ring with this node, its predecessor, successors and
/// fingers placed by Node-ID, then the same as a table.
pub fn ring_page(s: &Status) -> String {
    let (c, r) = (220.0, 170.0);
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"440\" height=\"440\">\
         <circle cx=\"{c}\" cy=\"{c}\" r=\"{r}\" fill=\"none\" stroke=\"#999\"/>"
    );
    let (mx, my) = on_circle(&s.me.id, c, r);
    for f in &s.fingers {
        let (x, y) = on_circle(&f.id, c, r);
        let _ = write!(
            svg,
            "<line x1=\"{mx:.1}\" y1=\"{my:.1}\" x2=\"{x:.1}\" y2=\"{y:.1}\" stroke=\"#8ab\" stroke-dasharray=\"4\"/>"
        );
    }
    let mut dot = |p: &PeerAddr, colour: &str, label: &str| {
        let (x, y) = on_circle(&p.id, c, r);
        let (lx, ly) = on_circle(&p.id, c, r + 28.0);
        let _ = write!(
            svg,
            "<circle cx=\"{x:.1}\" cy=\"{y:.1}\" r=\"7\" fill=\"{colour}\"><title>{label} {}</title></circle>\
             <text x=\"{lx:.1}\" y=\"{ly:.1}\" font-size=\"11\" text-anchor=\"middle\">{}</text>",
            p.id,
            short(&p.id)
        );
    };
    for f in &s.fingers {
        dot(f, "#4a7", "finger");
    }
    for p in &s.successors {
        dot(p, "#36c", "successor");
    }
    if let Some(p) = &s.predecessor {
        dot(p, "#e80", "predecessor");
    }
    dot(&s.me, "#d22", "this node");
    svg.push_str("</svg>");

    let mut rows = String::new();
    let mut row = |role: &str, p: &PeerAddr| {
        let _ = write!(
            rows,
            "<tr><td>{role}</td><td><code>{}</code></td><td>{}</td></tr>",
            p.id, p.addr
        );
    };
    row("this node", &s.me);
    if let Some(p) = &s.predecessor {
        row("predecessor", p);
    }
    for p in &s.successors {
        row("successor", p);
    }
    for p in &s.fingers {
        row("finger", p);
    }
    format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><meta http-equiv=\"refresh\" content=\"5\">\
         <title>lsp-node {}</title></head><body style=\"font-family:sans-serif\">\
         <h1>lsp-node {}…</h1><p>state {:?} · health {} ({}) · size estimate {:.1} · {} record(s) for {} AOR(s) · \
         <a href=\"/status\">JSON</a> · <a href=\"/metrics\">metrics</a></p>{svg}\
         <p><span style=\"color:#d22\">●</span> this node \
         <span style=\"color:#e80\">●</span> predecessor \
         <span style=\"color:#36c\">●</span> successors \
         <span style=\"color:#4a7\">●</span> fingers</p>\
         <table border=\"1\" cellpadding=\"4\" style=\"border-collapse:collapse\">{rows}</table></body></html>",
        short(&s.me.id),
        short(&s.me.id),
        s.state,
        s.health.name(),
        s.health.reason(),
        s.estimated_size,
        s.store.records,
        s.store.aors,
    )
}

async fn page(State(source): State<Arc<StatusSource>>) -> Response {
    match snapshot(&source).await {
        Ok(s) => (
            [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
            ring_page(&s),
        )
            .into_response(),
        Err(r) => r,
    }
}

/// Serves the endpoint on `listener` until `stop` resolves.
pub async fn serve(
    listener: tokio::net::TcpListener,
    source: Arc<StatusSource>,
    stop: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let listener = crate::status_listener::Bounded::new(listener, crate::status_listener::LIFETIME);
    axum::serve(listener, router(source))
        .with_graceful_shutdown(stop)
        .await
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn an_isolated_ring_is_degraded_behind_a_local_store_and_down_otherwise() {
        let cut = Health::Isolated {
            silent: Duration::from_secs(20),
        };
        let ring_only = service_health(&cut, false);
        assert_eq!((ring_only.status, ring_only.serving), ("isolated", false));
        let hybrid = service_health(&cut, true);
        assert_eq!((hybrid.status, hybrid.serving), ("degraded", true));
        assert!(hybrid.reason.contains("no peer has answered for 20 s"));
        for alone in [
            service_health(&Health::Alone, false),
            service_health(&Health::Alone, true),
        ] {
            assert_eq!((alone.status, alone.serving), ("alone", true));
        }
        assert!(!service_health(&Health::Left, true).serving);
    }
}
