//! One INVITE client transaction over UDP (RFC 3261 section 17.1.1), the
//! way a caller asks a redirect server where a callee is: retransmit per
//! Timer A until a provisional or final response, give up per Timer B,
//! ACK a non-2xx final response on the INVITE's branch with the
//! response's To tag, and return the Contacts of a 3xx.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::net::UdpSocket;
use tokio::time::Instant;

use super::reply::Reply;
use super::{local_toward, random_hex};

/// Timer A's first interval (T1).
const T1: Duration = Duration::from_millis(500);

/// What to INVITE, as whom, and how long to wait.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct InviteConfig {
    /// The Request-URI and To: the callee's AOR, say `sip:bob@example.com`.
    pub target: String,
    /// The caller's From URI.
    pub from: String,
    /// Timer B: how long the transaction waits for a final response,
    /// retransmissions included (RFC 3261: 64 × T1 = 32 s).
    pub timeout: Duration,
}

impl InviteConfig {
    /// An INVITE of `target` from an anonymous caller, waiting 32 s.
    pub fn new(target: impl Into<String>) -> Self {
        Self {
            target: target.into(),
            from: "sip:anonymous@anonymous.invalid".into(),
            timeout: 64 * T1,
        }
    }

    /// Sets the caller's From URI.
    pub fn caller(mut self, from: impl Into<String>) -> Self {
        self.from = from.into();
        self
    }

    /// Sets Timer B.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }
}

/// The final response an INVITE got.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct FinalResponse {
    /// Its status code (200 to 699).
    pub code: u16,
    /// Its reason phrase.
    pub reason: String,
    /// The URIs of its Contacts, in the server's order (for a 302 from a
    /// redirect server, highest q first).
    pub contacts: Vec<String>,
}

impl FinalResponse {
    /// Whether it is a redirection (3xx).
    pub fn is_redirect(&self) -> bool {
        (300..400).contains(&self.code)
    }
}

/// Why an INVITE got no final response.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum InviteError {
    /// The local socket failed.
    #[error("socket: {0}")]
    Io(#[from] std::io::Error),
    /// No final response came within Timer B.
    #[error("no final response from {server} within {} ms", waited.as_millis())]
    NoAnswer {
        /// Where the INVITE went.
        server: SocketAddr,
        /// Timer B.
        waited: Duration,
    },
}

/// A caller's UDP socket that runs INVITE transactions, one at a time
/// per call of [`SipCaller::invite`]. Datagrams that are not a response
/// to the transaction in progress (stray, late, forged) are ignored.
#[derive(Debug)]
pub struct SipCaller {
    sock: UdpSocket,
}

impl SipCaller {
    /// A caller on a UDP socket bound to `bind` (`0.0.0.0:0` for any).
    pub async fn bind(bind: SocketAddr) -> std::io::Result<Self> {
        Ok(Self {
            sock: UdpSocket::bind(bind).await?,
        })
    }

    /// The socket's local address.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.sock.local_addr()
    }

    /// Sends an INVITE of `config.target` to `server` and returns its
    /// final response, ACKed. A 2xx (a server that took the call itself)
    /// is ACKed too, on a new branch, so that it stops retransmitting;
    /// ending that call is the caller's business.
    pub async fn invite(
        &self,
        server: SocketAddr,
        config: &InviteConfig,
    ) -> Result<FinalResponse, InviteError> {
        let local = local_toward(&self.sock, server).ok_or_else(|| {
            std::io::Error::new(std::io::ErrorKind::AddrNotAvailable, "no route to server")
        })?;
        let call = Call {
            target: &config.target,
            from: &config.from,
            local,
            branch: format!("z9hG4bK{}", random_hex()),
            call_id: format!("{}@{}", random_hex(), local.ip()),
            tag: random_hex(),
        };
        let invite = call.invite();
        let give_up = Instant::now() + config.timeout;
        let mut resend = Some(T1);
        let mut buf = vec![0u8; 65_535];
        self.sock.send_to(invite.as_bytes(), server).await?;
        let mut next = Instant::now() + T1;
        loop {
            let wake = next.min(give_up);
            match tokio::time::timeout_at(wake, self.sock.recv_from(&mut buf)).await {
                Ok(got) => {
                    let (n, from) = got?;
                    let Some(reply) =
                        Reply::parse(&buf[..n]).filter(|r| call.answers(r, from, server))
                    else {
                        continue;
                    };
                    if reply.code < 200 {
                        // Proceeding: Timer A stops, Timer B runs on.
                        resend = None;
                        next = give_up;
                        continue;
                    }
                    let to = reply.header("To").unwrap_or("").to_owned();
                    let ack = call.ack(&to, reply.code < 300);
                    self.sock.send_to(ack.as_bytes(), server).await?;
                    return Ok(FinalResponse {
                        code: reply.code,
                        reason: reply.reason().to_owned(),
                        contacts: reply.contact_uris(),
                    });
                }
                Err(_) if Instant::now() >= give_up => {
                    return Err(InviteError::NoAnswer {
                        server,
                        waited: config.timeout,
                    });
                }
                Err(_) => {
                    if let Some(interval) = resend {
                        self.sock.send_to(invite.as_bytes(), server).await?;
                        let doubled = interval * 2;
                        resend = Some(doubled);
                        next = Instant::now() + doubled;
                    }
                }
            }
        }
    }
}

/// The identifiers of one INVITE transaction.
struct Call<'a> {
    target: &'a str,
    from: &'a str,
    local: SocketAddr,
    branch: String,
    call_id: String,
    tag: String,
}

impl Call<'_> {
    fn invite(&self) -> String {
        format!(
            "INVITE {t} SIP/2.0\r\nVia: SIP/2.0/UDP {l};branch={b};rport\r\nMax-Forwards: 70\r\n\
             To: <{t}>\r\nFrom: <{f}>;tag={g}\r\nCall-ID: {c}\r\nCSeq: 1 INVITE\r\n\
             Contact: <sip:caller@{l}>\r\nContent-Length: 0\r\n\r\n",
            t = self.target,
            l = self.local,
            b = self.branch,
            f = self.from,
            g = self.tag,
            c = self.call_id,
        )
    }

    /// The ACK of a final response whose To header is `to`: on the
    /// INVITE's branch for a non-2xx (part of the transaction, RFC 3261
    /// section 17.1.1.3), on a new one for a 2xx (a transaction of its own).
    fn ack(&self, to: &str, success: bool) -> String {
        let branch = if success {
            format!("z9hG4bK{}", random_hex())
        } else {
            self.branch.clone()
        };
        format!(
            "ACK {t} SIP/2.0\r\nVia: SIP/2.0/UDP {l};branch={branch};rport\r\nMax-Forwards: 70\r\n\
             To: {to}\r\nFrom: <{f}>;tag={g}\r\nCall-ID: {c}\r\nCSeq: 1 ACK\r\n\
             Content-Length: 0\r\n\r\n",
            t = self.target,
            l = self.local,
            f = self.from,
            g = self.tag,
            c = self.call_id,
        )
    }

    /// Whether `reply`, from `from`, belongs to this transaction.
    fn answers(&self, reply: &Reply, from: SocketAddr, server: SocketAddr) -> bool {
        from == server
            && reply.header("Call-ID") == Some(self.call_id.as_str())
            && reply.cseq("INVITE") == Some(1)
            && reply
                .header("Via")
                .and_then(|v| super::reply::param(v, "branch"))
                == Some(self.branch.as_str())
    }
}
