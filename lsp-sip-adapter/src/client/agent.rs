//! One REGISTER client transaction at a time over a UDP socket (RFC 3261
//! section 17.1.2: retransmit from T1 = 500 ms, doubling up to T2 = 4 s),
//! with a digest answer and a 423 retry, and the choice of registrar.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::net::UdpSocket;
use tokio::time::Instant;

use super::RegistrationConfig;
use super::reply::{Reply, param};
use super::{local_toward, random_hex};
use crate::digest::{Algorithm, authorization};

const T1: Duration = Duration::from_millis(500);
const T2: Duration = Duration::from_secs(4);
/// How long a registrar that failed without a `Retry-After` is passed over.
const HOLD_OFF: Duration = Duration::from_secs(30);
/// The longest a registrar may have this client wait (`Retry-After`) or
/// ask it to register for (`Min-Expires`): a day. Past it, a wait is cut
/// to it and a demand refused; `u64::MAX` seconds would overflow a clock.
const MAX_ASKED_SECS: u64 = 86_400;

#[derive(Debug)]
pub(crate) struct Agent {
    sock: UdpSocket,
    cfg: RegistrationConfig,
    call_id: String,
    tag: String,
    cseq: u32,
    /// The lifetime to ask for; a 423's Min-Expires raises it.
    expires: u64,
    held_off: HashMap<SocketAddr, Instant>,
}

impl Agent {
    pub(crate) async fn bind(cfg: RegistrationConfig) -> std::io::Result<Self> {
        let sock = UdpSocket::bind(cfg.bind).await?;
        let expires = cfg.expires.as_secs().max(1);
        Ok(Self {
            sock,
            call_id: format!("{}@lsp-client", random_hex()),
            tag: random_hex(),
            cseq: 0,
            expires,
            held_off: HashMap::new(),
            cfg,
        })
    }

    pub(crate) fn registrar(&self, i: usize) -> SocketAddr {
        self.cfg.registrars[i % self.cfg.registrars.len()]
    }

    /// Tries every registrar from index `from` on, wrapping, those not held
    /// off first: the first that takes the binding, with what it granted;
    /// or what the last one tried said.
    pub(crate) async fn register_anywhere(
        &mut self,
        from: usize,
    ) -> Result<(usize, Duration), String> {
        let n = self.cfg.registrars.len();
        let mut last = String::from("no registrar tried");
        for held_pass in [false, true] {
            for step in 0..n {
                let i = (from + step) % n;
                let now = Instant::now();
                let held = self
                    .held_off
                    .get(&self.registrar(i))
                    .is_some_and(|until| *until > now);
                if held != held_pass {
                    continue;
                }
                match self.register_at(i).await {
                    Ok(granted) => return Ok((i, granted)),
                    Err(why) => last = why,
                }
            }
        }
        Err(last)
    }

    /// Registers (or refreshes) the binding at registrar `i`.
    pub(crate) async fn register_at(&mut self, i: usize) -> Result<Duration, String> {
        let to = self.registrar(i);
        let result = self.transaction(to, false).await;
        match &result {
            Ok(_) => {
                self.held_off.remove(&to);
            }
            Err((_, retry_after)) => {
                let wait = retry_after.unwrap_or(HOLD_OFF);
                self.held_off.insert(to, Instant::now() + wait);
            }
        }
        result.map_err(|(why, _)| why)
    }

    /// Removes the binding at registrar `i` (Expires: 0).
    pub(crate) async fn unregister(&mut self, i: SocketAddr) -> Result<(), String> {
        self.transaction(i, true)
            .await
            .map(|_| ())
            .map_err(|(why, _)| why)
    }

    /// One REGISTER, answered: the lifetime granted, or why not and for
    /// how long the registrar asked to be left alone.
    async fn transaction(
        &mut self,
        to: SocketAddr,
        remove: bool,
    ) -> Result<Duration, (String, Option<Duration>)> {
        let mut auth: Option<(&'static str, String)> = None;
        let mut raised = false;
        loop {
            let expires = if remove { 0 } else { self.expires };
            self.cseq = self.cseq.wrapping_add(1);
            let Some(reply) = self.exchange(to, expires, auth.as_ref()).await else {
                return Err((format!("{to}: no answer"), None));
            };
            match reply.code {
                200..=299 => {
                    // A registrar may shorten the lifetime asked, never
                    // lengthen it (RFC 3261 section 10.3).
                    let granted = reply.granted(&self.cfg.contact).unwrap_or(expires);
                    return Ok(Duration::from_secs(granted.clamp(1, expires.max(1))));
                }
                401 | 407 if auth.is_none() => match self.answer(&reply, to) {
                    Some(a) => auth = Some(a),
                    None => {
                        return Err((format!("{to}: a challenge this client cannot answer"), None));
                    }
                },
                423 if !raised => {
                    let min = reply.header("Min-Expires").and_then(|v| v.parse().ok());
                    match min {
                        Some(min) if min > self.expires && min <= MAX_ASKED_SECS => {
                            self.expires = min
                        }
                        _ => return Err((format!("{to}: 423 without a usable Min-Expires"), None)),
                    }
                    raised = true;
                }
                code => {
                    let retry = reply
                        .retry_after()
                        .map(|s| Duration::from_secs(s.min(MAX_ASKED_SECS)));
                    // The reason phrase says which failure it was.
                    let reason = reply.reason();
                    return Err((format!("{to}: {code} {reason}"), retry));
                }
            }
        }
    }

    /// The Authorization (or Proxy-Authorization) answering a 401 (407).
    fn answer(&self, reply: &Reply, to: SocketAddr) -> Option<(&'static str, String)> {
        let (username, password) = self.cfg.credentials.as_ref()?;
        let (ask, give) = if reply.code == 407 {
            ("Proxy-Authenticate", "Proxy-Authorization")
        } else {
            ("WWW-Authenticate", "Authorization")
        };
        let (offer, alg) = reply
            .headers(ask)
            .find_map(|v| match param(v, "algorithm") {
                Some(a) if a.eq_ignore_ascii_case("SHA-256") => Some((v, Algorithm::Sha256)),
                Some(a) if a.eq_ignore_ascii_case("MD5") => Some((v, Algorithm::Md5)),
                None => Some((v, Algorithm::Md5)),
                Some(_) => None,
            })?;
        let realm = param(offer, "realm")?;
        let nonce = param(offer, "nonce")?;
        let uri = self.request_uri();
        let cnonce = random_hex();
        let value = authorization(
            alg, username, password, realm, nonce, "REGISTER", &uri, 1, &cnonce,
        );
        tracing::debug!(%to, "answering a digest challenge");
        Some((give, value))
    }

    fn request_uri(&self) -> String {
        format!("sip:{}", self.cfg.aor.host())
    }

    /// Sends the REGISTER of the current CSeq to `to` until its final
    /// response or the attempt timeout.
    async fn exchange(
        &self,
        to: SocketAddr,
        expires: u64,
        auth: Option<&(&'static str, String)>,
    ) -> Option<Reply> {
        let local = local_toward(&self.sock, to)?;
        let branch = format!("z9hG4bK{}", random_hex());
        let auth = auth.map_or(String::new(), |(name, v)| format!("{name}: {v}\r\n"));
        let (aor, contact) = (self.cfg.aor.as_str(), &self.cfg.contact);
        let request = format!(
            "REGISTER {} SIP/2.0\r\nVia: SIP/2.0/UDP {local};branch={branch};rport\r\n\
             Max-Forwards: 70\r\nTo: <{aor}>\r\nFrom: <{aor}>;tag={}\r\nCall-ID: {}\r\n\
             CSeq: {} REGISTER\r\nContact: <{contact}>\r\nExpires: {expires}\r\n\
             {auth}Content-Length: 0\r\n\r\n",
            self.request_uri(),
            self.tag,
            self.call_id,
            self.cseq,
        );
        let give_up = Instant::now() + self.cfg.attempt_timeout;
        let mut interval = T1;
        let mut buf = vec![0u8; 65_535];
        while Instant::now() < give_up {
            if self.sock.send_to(request.as_bytes(), to).await.is_err() {
                return None;
            }
            let resend = (Instant::now() + interval).min(give_up);
            interval = (interval * 2).min(T2);
            while let Ok(got) = tokio::time::timeout_at(resend, self.sock.recv_from(&mut buf)).await
            {
                let Ok((n, from)) = got else { break };
                let Some(reply) = Reply::parse(&buf[..n]) else {
                    continue;
                };
                let ours = from == to
                    && reply.header("Call-ID") == Some(self.call_id.as_str())
                    && reply.cseq("REGISTER") == Some(self.cseq)
                    && reply.header("Via").is_some_and(|v| v.contains(&branch));
                if ours && reply.code >= 200 {
                    return Some(reply);
                }
            }
        }
        None
    }
}
