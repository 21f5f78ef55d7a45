//! Attacks by strangers over QUIC: keys nobody vouches for, speaking the
//! wire protocol from `docs/protocol.md`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use lsp_chord::ChordNode;
use lsp_chord::wire::{Message, Request, Response, StoreOutcome};
use lsp_core::{Aor, Binding, Identity, LocationService, Record, Transport, UnixTime};
use lsp_transport::{QuicTransport, TransportConfig};

use super::{Report, Target, fresh};

/// Sender tasks per flooding attacker: enough to keep its streams busy.
const SENDERS: usize = 4;
/// Keys one address opens connections with, at most: below this
/// process's descriptor limit, far above the victim's per-address share.
const MAX_KEYS: u64 = 400;

fn stranger(target: &Target, label: &str, n: u64) -> Result<Arc<QuicTransport>, String> {
    let key = Identity::from_secret_bytes(fresh(label, n));
    QuicTransport::bind(
        &key,
        SocketAddr::new(target.from, 0),
        TransportConfig::default(),
    )
    .map(Arc::new)
    .map_err(|e| format!("a QUIC endpoint: {e}"))
}

fn request(id: u64, body: Request) -> Vec<u8> {
    Message::Request { id, body }.encode().unwrap_or_default()
}

/// Counts the refusals among the answers `me` gets, acknowledging nothing.
fn count_refusals(me: &Arc<QuicTransport>, refused: &Arc<AtomicU64>) {
    let (me, refused) = (me.clone(), refused.clone());
    tokio::spawn(async move {
        while let Ok(incoming) = me.recv().await {
            match Message::decode(&incoming.frame) {
                Ok(Message::Response {
                    body: Response::Refused { .. },
                    ..
                }) => {
                    refused.fetch_add(1, Ordering::Relaxed);
                }
                Ok(Message::Response {
                    body: Response::Stored { outcomes },
                    ..
                }) => {
                    let bad = outcomes
                        .iter()
                        .filter(|o| !matches!(o, StoreOutcome::Stored | StoreOutcome::Unchanged))
                        .count();
                    refused.fetch_add(bad as u64, Ordering::Relaxed);
                }
                _ => {}
            }
        }
    });
}

/// Sends the frames `make(n)` makes from `SENDERS` tasks until `until`.
async fn flood(
    me: &Arc<QuicTransport>,
    target: &Target,
    until: Instant,
    make: impl Fn(u64) -> Vec<u8> + Send + Sync + 'static,
) -> u64 {
    let sent = Arc::new(AtomicU64::new(0));
    let make = Arc::new(make);
    let tasks: Vec<_> = (0..SENDERS)
        .map(|_| {
            let (me, sent, make, to) = (me.clone(), sent.clone(), make.clone(), target.victim);
            tokio::spawn(async move {
                while Instant::now() < until {
                    let n = sent.fetch_add(1, Ordering::Relaxed);
                    let send = me.send(to, make(n));
                    if tokio::time::timeout(Duration::from_secs(1), send)
                        .await
                        .is_err()
                    {
                        tokio::task::yield_now().await;
                    }
                }
            })
        })
        .collect();
    for t in tasks {
        let _ = t.await;
    }
    sent.load(Ordering::Relaxed)
}

/// #1: `Forward`s whose `Routed` answers are never acknowledged, each
/// holding a pending slot at the victim for as long as it retries.
pub async fn forward(target: &Target, until: Instant) -> Result<Report, String> {
    let me = stranger(target, "forward", 0)?;
    let refused = Arc::new(AtomicU64::new(0));
    count_refusals(&me, &refused);
    let origin = me.local();
    let sent = flood(&me, target, until, move |n| {
        request(
            n,
            Request::Forward {
                target: fresh("forward-target", n),
                origin,
                token: n,
                hops: 1,
            },
        )
    })
    .await;
    me.close().await;
    Ok(Report {
        sent,
        refused: refused.load(Ordering::Relaxed),
        ..Report::default()
    })
}

/// #2 and #7: fresh keys from one address, each with its own connection
/// (and outbox queue at the victim), held open to the end.
pub async fn connections(target: &Target, until: Instant) -> Result<Report, String> {
    let mut held = Vec::new();
    let mut report = Report::default();
    while Instant::now() < until && report.sent < MAX_KEYS {
        let me = stranger(target, "conns", report.sent)?;
        report.sent += 1;
        let _ = me.send(target.victim, request(1, Request::Ping)).await;
        let answered = tokio::time::timeout(Duration::from_millis(500), me.recv()).await;
        if !matches!(answered, Ok(Ok(_))) {
            report.refused += 1;
        }
        held.push(me);
    }
    tokio::time::sleep(until.saturating_duration_since(Instant::now())).await;
    for me in held {
        me.close().await;
    }
    Ok(report)
}

/// #3: `Store` frames full of records whose signatures do not verify: each
/// record costs the victim one signature check.
pub async fn bad_signatures(target: &Target, until: Instant) -> Result<Report, String> {
    let me = stranger(target, "store-sigs", 0)?;
    let key = Identity::from_secret_bytes(fresh("store-sigs", 0));
    let refused = Arc::new(AtomicU64::new(0));
    count_refusals(&me, &refused);
    // Sixteen different frames, encoded once: the attacker's cost is
    // sending them.
    let frames: Arc<Vec<Vec<u8>>> = Arc::new(
        (0..16)
            .map(|f| {
                let records = forged_batch(&key, f);
                request(f, Request::Store { records })
            })
            .collect(),
    );
    let sent = flood(&me, target, until, move |n| {
        frames[(n % 16) as usize].clone()
    })
    .await;
    me.close().await;
    Ok(Report {
        sent,
        refused: refused.load(Ordering::Relaxed),
        ..Report::default()
    })
}

/// About 48 KiB of records signed by `key`, each signature then broken.
fn forged_batch(key: &Identity, batch: u64) -> Vec<lsp_core::SignedRecord> {
    let mut out = Vec::new();
    let mut bytes = 0;
    let mut n = 0u64;
    while bytes < 48 * 1024 {
        n += 1;
        let Ok(mut signed) = one_record(&format!("sip:b{batch}x{n}@forged.example"), n).sign(key)
        else {
            break;
        };
        signed.signature.0[0] ^= 1;
        bytes += signed.to_bytes().map_or(0, |b| b.len());
        out.push(signed);
    }
    out
}

fn one_record(aor: &str, n: u64) -> Record {
    let mut record = Record::new(Aor::parse(aor).expect("AOR"), Record::next_version(None));
    let expires = UnixTime::from_secs(UnixTime::now().as_millis() / 1000 + 3600);
    record.bindings.push(Binding::new(
        format!("sip:u{n}@192.0.2.1"),
        expires,
        "call",
        1,
    ));
    record
}

/// #8: one `Digest` per fresh key, over almost the whole ring and with a
/// digest that cannot match, hoping for the victim's records in return.
pub async fn digest_leak(target: &Target, until: Instant) -> Result<Report, String> {
    let mut report = Report::default();
    while Instant::now() < until && report.sent < MAX_KEYS {
        let me = stranger(target, "digest", report.sent)?;
        report.sent += 1;
        let mut from = me.local().id.0;
        from[31] = from[31].wrapping_add(1);
        let digest = Request::Digest {
            from,
            digest: fresh("digest-value", report.sent),
            at: UnixTime::now(),
        };
        let _ = me.send(target.victim, request(1, digest)).await;
        let listen = async {
            while let Ok(incoming) = me.recv().await {
                match Message::decode(&incoming.frame) {
                    Ok(Message::Request {
                        body: Request::Store { records } | Request::StoreHere { records },
                        ..
                    }) => report.leaked_records += records.len() as u64,
                    Ok(Message::Response {
                        body: Response::Refused { .. },
                        ..
                    }) => report.refused += 1,
                    _ => {}
                }
            }
        };
        let _ = tokio::time::timeout(Duration::from_millis(300), listen).await;
        me.close().await;
    }
    Ok(report)
}

/// #14: one client key publishing as many first-come AORs as it can, to
/// fill the owners' stores ahead of honest publishers.
pub async fn publish_flood(target: &Target, until: Instant) -> Result<Report, String> {
    let key = Arc::new(Identity::from_secret_bytes(fresh("publish-flood", 0)));
    let transport = QuicTransport::client(
        &key,
        SocketAddr::new(target.from, 0),
        TransportConfig::default(),
    )
    .map_err(|e| format!("a QUIC endpoint: {e}"))?;
    let client = Arc::new(ChordNode::spawn(
        Arc::new(transport),
        lsp_chord::Config::default(),
    ));
    client
        .attach(&[target.victim])
        .await
        .map_err(|e| format!("the flooding client could not attach: {e}"))?;
    let sent = Arc::new(AtomicU64::new(0));
    let refused = Arc::new(AtomicU64::new(0));
    let tasks: Vec<_> = (0..16)
        .map(|_| {
            let (client, key, sent, refused) =
                (client.clone(), key.clone(), sent.clone(), refused.clone());
            tokio::spawn(async move {
                while Instant::now() < until {
                    let n = sent.fetch_add(1, Ordering::Relaxed);
                    let record = one_record(&format!("sip:f{n}@flood.example"), n);
                    let published = tokio::time::timeout(
                        Duration::from_secs(2),
                        client.publish_as(&key, record),
                    )
                    .await;
                    if !matches!(published, Ok(Ok(_))) {
                        refused.fetch_add(1, Ordering::Relaxed);
                    }
                }
            })
        })
        .collect();
    for t in tasks {
        let _ = t.await;
    }
    let _ = client.leave().await;
    Ok(Report {
        sent: sent.load(Ordering::Relaxed),
        refused: refused.load(Ordering::Relaxed),
        ..Report::default()
    })
}
