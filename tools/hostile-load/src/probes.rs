//! What honest users see while an attack runs: a peer's Ping, a client's
//! query, and a phone's REGISTER and INVITE, each sent to node 0 (the
//! victim) at a steady pace and timed to its answer.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use lsp_chord::ChordNode;
use lsp_chord::wire::{Message, Request, Response};
use lsp_core::{Aor, Identity, LocationService, PeerAddr, Transport};
use lsp_transport::{QuicTransport, TransportConfig};
use tokio::net::UdpSocket;

/// How long an honest request waits before it counts as failed.
const PATIENCE: Duration = Duration::from_secs(2);
/// Between two requests of one probe.
const PACE: Duration = Duration::from_millis(20);
/// The user the SIP probe registers and calls, and the client queries.
pub const PROBE_USER: &str = "probe";

/// Response times of one kind of request, and how many failed.
#[derive(Debug, Default, Clone)]
pub struct Latencies {
    samples: Vec<Duration>,
    pub failures: u64,
    /// Why the latest failure failed.
    pub last_failure: Option<String>,
}

impl Latencies {
    fn record(&mut self, outcome: Result<Duration, String>) {
        match outcome {
            Ok(t) => self.samples.push(t),
            Err(why) => {
                self.failures += 1;
                self.last_failure = Some(why);
            }
        }
    }

    /// The 99th percentile in milliseconds; a failure counts as the
    /// patience it used up.
    pub fn p99_ms(&self) -> f64 {
        let mut all = self.samples.clone();
        all.extend(std::iter::repeat_n(PATIENCE, self.failures as usize));
        all.sort();
        all.get((all.len().saturating_sub(1)) * 99 / 100)
            .map_or(f64::NAN, |t| t.as_secs_f64() * 1e3)
    }

    pub fn count(&self) -> usize {
        self.samples.len() + self.failures as usize
    }
}

/// What the four probes saw over one phase.
#[derive(Debug, Default, Clone)]
pub struct Seen {
    pub ping: Latencies,
    pub query: Latencies,
    pub register: Latencies,
    pub invite: Latencies,
}

/// The honest parties, kept across phases.
#[derive(Debug)]
pub struct Probes {
    pinger: Arc<QuicTransport>,
    client: ChordNode,
    phone: Arc<UdpSocket>,
    victim: PeerAddr,
    sip: SocketAddr,
    /// The phone's REGISTER CSeq and branch numbers, rising across phases.
    sequence: AtomicU32,
}

impl Probes {
    /// An honest peer, a client attached to the whole ring, and a phone
    /// registered at the victim's SIP front.
    pub async fn new(victim: PeerAddr, members: &[PeerAddr], sip: SocketAddr) -> Self {
        let any = "127.0.0.1:0".parse().expect("address");
        let pinger = Arc::new(
            QuicTransport::bind(
                &Identity::from_secret_bytes([201; 32]),
                any,
                TransportConfig::default(),
            )
            .expect("a QUIC endpoint on loopback"),
        );
        let transport = QuicTransport::client(
            &Identity::from_secret_bytes([202; 32]),
            any,
            TransportConfig::default(),
        )
        .expect("a QUIC endpoint on loopback");
        let client = ChordNode::spawn(Arc::new(transport), lsp_chord::Config::default());
        client.attach(members).await.expect("the client attaches");
        let phone = Arc::new(UdpSocket::bind(any).await.expect("a UDP socket"));
        let probes = Self {
            pinger,
            client,
            phone,
            victim,
            sip,
            sequence: AtomicU32::new(1),
        };
        let mut first = Latencies::default();
        first.record(probes.register(0).await);
        assert_eq!(first.failures, 0, "the probe phone could not register");
        probes
    }

    /// Runs the four probes side by side for `span`.
    pub async fn run(&self, span: Duration) -> Seen {
        let until = Instant::now() + span;
        let (ping, query, sip) =
            tokio::join!(self.pings(until), self.queries(until), self.calls(until));
        Seen {
            ping,
            query,
            register: sip.0,
            invite: sip.1,
        }
    }

    async fn pings(&self, until: Instant) -> Latencies {
        let mut seen = Latencies::default();
        let mut id = 0u64;
        while Instant::now() < until {
            id += 1;
            seen.record(self.ping(id).await);
            tokio::time::sleep(PACE).await;
        }
        seen
    }

    async fn ping(&self, id: u64) -> Result<Duration, String> {
        let frame = Message::Request {
            id,
            body: Request::Ping,
        }
        .encode()
        .map_err(|e| e.to_string())?;
        let sent = Instant::now();
        self.pinger
            .send(self.victim, frame)
            .await
            .map_err(|e| e.to_string())?;
        let answer = async {
            loop {
                let incoming = self.pinger.recv().await.map_err(|e| e.to_string())?;
                if let Ok(Message::Response {
                    id: got,
                    body: Response::Ack,
                }) = Message::decode(&incoming.frame)
                    && got == id
                {
                    return Ok(sent.elapsed());
                }
            }
        };
        tokio::time::timeout(PATIENCE, answer)
            .await
            .map_err(|_| "no answer in 2 s".to_owned())?
    }

    async fn queries(&self, until: Instant) -> Latencies {
        let aor = Aor::parse(&format!("sip:{PROBE_USER}@example.com")).expect("AOR");
        let mut seen = Latencies::default();
        while Instant::now() < until {
            let sent = Instant::now();
            let found = tokio::time::timeout(PATIENCE, self.client.query(&aor)).await;
            seen.record(match found {
                Ok(Ok(bindings)) if !bindings.is_empty() => Ok(sent.elapsed()),
                Ok(Ok(_)) => Err("no binding found".into()),
                Ok(Err(e)) => Err(e.to_string()),
                Err(_) => Err("no answer in 2 s".into()),
            });
            tokio::time::sleep(PACE).await;
        }
        seen
    }

    /// REGISTERs and INVITEs in turn: (REGISTER, INVITE).
    async fn calls(&self, until: Instant) -> (Latencies, Latencies) {
        let (mut register, mut invite) = (Latencies::default(), Latencies::default());
        while Instant::now() < until {
            let n = self.sequence.fetch_add(1, Ordering::Relaxed);
            register.record(self.register(n).await);
            tokio::time::sleep(PACE).await;
            invite.record(self.invite(n).await);
            tokio::time::sleep(PACE).await;
        }
        (register, invite)
    }

    async fn register(&self, n: u32) -> Result<Duration, String> {
        let me = self.phone.local_addr().map_err(|e| e.to_string())?;
        let text = format!(
            "REGISTER sip:example.com SIP/2.0\r\n\
             Via: SIP/2.0/UDP {me};branch=z9hG4bK-probe-r{n};rport\r\n\
             Max-Forwards: 70\r\n\
             From: <sip:{PROBE_USER}@example.com>;tag=probe\r\n\
             To: <sip:{PROBE_USER}@example.com>\r\n\
             Call-ID: probe-register\r\n\
             CSeq: {} REGISTER\r\n\
             Contact: <sip:{PROBE_USER}@{me}>\r\n\
             Expires: 600\r\n\
             User-Agent: hostile-load-probe\r\n\
             Content-Length: 0\r\n\r\n",
            n + 1
        );
        let (code, response, t) = self.exchange(&text, &format!("probe-r{n};")).await?;
        if code == 200 {
            Ok(t)
        } else {
            Err(first_line(&response))
        }
    }

    async fn invite(&self, n: u32) -> Result<Duration, String> {
        let me = self.phone.local_addr().map_err(|e| e.to_string())?;
        let call_id = format!("probe-invite-{n}");
        let head = |method: &str, to_tag: &str| {
            format!(
                "{method} sip:{PROBE_USER}@example.com SIP/2.0\r\n\
                 Via: SIP/2.0/UDP {me};branch=z9hG4bK-probe-i{n};rport\r\n\
                 Max-Forwards: 70\r\n\
                 From: <sip:caller@example.net>;tag=c{n}\r\n\
                 To: <sip:{PROBE_USER}@example.com>{to_tag}\r\n\
                 Call-ID: {call_id}\r\n\
                 CSeq: 1 {method}\r\n\
                 User-Agent: hostile-load-probe\r\n\
                 Content-Length: 0\r\n\r\n"
            )
        };
        let (code, response, t) = self
            .exchange(&head("INVITE", ""), &format!("probe-i{n};"))
            .await?;
        // A final answer other than 2xx is acknowledged hop by hop.
        let tag = header(&response, "To")
            .and_then(|to| to.split_once(";tag=").map(|(_, t)| format!(";tag={t}")))
            .unwrap_or_default();
        let _ = self
            .phone
            .send_to(head("ACK", &tag).as_bytes(), self.sip)
            .await;
        if code == 302 {
            Ok(t)
        } else {
            Err(first_line(&response))
        }
    }

    /// Sends a request and waits for the final response whose Via names
    /// `branch` (followed by `;`, as `rport` follows it): (code, text, time).
    /// Retransmits as a UA does over UDP (RFC 3261 Timer A or E: 500 ms,
    /// then doubling).
    async fn exchange(&self, text: &str, branch: &str) -> Result<(u16, String, Duration), String> {
        let sent = Instant::now();
        let retransmit = async {
            let mut wait = Duration::from_millis(500);
            loop {
                let _ = self.phone.send_to(text.as_bytes(), self.sip).await;
                tokio::time::sleep(wait).await;
                wait *= 2;
            }
        };
        let answer = async {
            let mut buf = vec![0u8; 65_536];
            loop {
                let (len, _) = self
                    .phone
                    .recv_from(&mut buf)
                    .await
                    .map_err(|e| e.to_string())?;
                let response = String::from_utf8_lossy(&buf[..len]).into_owned();
                let code = status_code(&response);
                if header(&response, "Via").is_some_and(|v| v.contains(branch))
                    && code.is_some_and(|c| c >= 200)
                {
                    return Ok((code.unwrap_or(0), response, sent.elapsed()));
                }
            }
        };
        let answer = async {
            tokio::select! {
                answer = answer => answer,
                _ = retransmit => Err("stopped retransmitting".to_owned()),
            }
        };
        tokio::time::timeout(PATIENCE, answer)
            .await
            .map_err(|_| "no answer in 2 s".to_owned())?
    }
}

fn first_line(message: &str) -> String {
    message.lines().next().unwrap_or_default().to_owned()
}

/// The status code of a response's first line.
pub fn status_code(message: &str) -> Option<u16> {
    message.strip_prefix("SIP/2.0 ")?.get(..3)?.parse().ok()
}

/// The value of the first header named `name` (full name only).
pub fn header<'a>(message: &'a str, name: &str) -> Option<&'a str> {
    message.lines().find_map(|l| {
        let (n, v) = l.split_once(':')?;
        n.trim().eq_ignore_ascii_case(name).then(|| v.trim())
    })
}
