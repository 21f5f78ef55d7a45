//! Just enough of a SIP UA for the examples, over a UDP socket: send a
//! request, retransmit it until a final response (RFC 3261 timer A, short),
//! answer a digest challenge, and read a response's status and headers;
//! INVITEs go through the library's `client::SipCaller`.
//! Each step prints one line.

use std::net::SocketAddr;
use std::time::Duration;

use lsp_sip_adapter::client::{InviteConfig, SipCaller};
use lsp_sip_adapter::digest::{Algorithm, authorization};
use tokio::net::UdpSocket;

use crate::BoxError;

/// Who registers, and how.
#[derive(Debug, Clone)]
pub struct Account<'a> {
    /// User part of the AOR and digest username.
    pub user: &'a str,
    /// Domain of the AOR, Request-URI of the REGISTER and digest realm.
    pub domain: &'a str,
    /// Digest password.
    pub password: &'a str,
}

/// A response as text, with the few accessors the examples need.
#[derive(Debug)]
pub struct Reply {
    /// Status code.
    pub code: u16,
    text: String,
}

impl Reply {
    pub fn status_line(&self) -> &str {
        self.text.lines().next().unwrap_or("")
    }

    /// Values of a header (full name, case-insensitive).
    pub fn headers<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.text
            .split("\r\n")
            .skip(1)
            .take_while(|l| !l.is_empty())
            .filter_map(move |l| {
                let (n, v) = l.split_once(':')?;
                n.trim().eq_ignore_ascii_case(name).then(|| v.trim())
            })
    }
}

/// Sends `request` to `to` and waits for its final response.
pub async fn exchange(sock: &UdpSocket, to: SocketAddr, request: &str) -> Result<Reply, BoxError> {
    let mut buf = vec![0u8; 65_535];
    let mut wait = Duration::from_millis(500);
    for _ in 0..5 {
        sock.send_to(request.as_bytes(), to).await?;
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let Ok(got) = tokio::time::timeout_at(deadline, sock.recv_from(&mut buf)).await else {
                break;
            };
            let (n, _) = got?;
            let text = String::from_utf8_lossy(&buf[..n]).into_owned();
            let code = text
                .split(' ')
                .nth(1)
                .and_then(|c| c.parse().ok())
                .ok_or("a reply that is not a SIP response")?;
            if code >= 200 {
                return Ok(Reply { code, text });
            }
            println!("   <- {}", text.lines().next().unwrap_or(""));
        }
        wait *= 2;
    }
    Err(format!("no final response from {to}").into())
}

/// A `name="value"` or `name=value` parameter of a header value.
pub fn param<'a>(value: &'a str, name: &str) -> Option<&'a str> {
    value
        .split([',', ' '])
        .filter_map(|p| p.trim().split_once('='))
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.trim_matches('"'))
}

/// The examples' user, whose password the registrars know.
pub const ALICE: Account<'static> = Account {
    user: "alice",
    domain: "example.com",
    password: "wonderland",
};

/// Opens a phone's UDP socket on 127.0.0.1 and registers it at
/// `registrar`. Returns the socket and the Contact it registered.
pub async fn register_phone(
    registrar: SocketAddr,
    account: &Account<'_>,
) -> Result<(UdpSocket, String), BoxError> {
    let phone = UdpSocket::bind("127.0.0.1:0").await?;
    let contact = format!("sip:{}@{}", account.user, phone.local_addr()?);
    register(&phone, registrar, account, &contact).await?;
    Ok((phone, contact))
}

/// REGISTER, 401 with a challenge, REGISTER with credentials, 200.
pub async fn register(
    phone: &UdpSocket,
    registrar: SocketAddr,
    account: &Account<'_>,
    contact: &str,
) -> Result<(), BoxError> {
    let me = phone.local_addr()?;
    let Account {
        user,
        domain,
        password,
    } = *account;
    let request = |cseq: u32, auth: Option<String>| {
        let auth = auth
            .map(|a| format!("Authorization: {a}\r\n"))
            .unwrap_or_default();
        format!(
            "REGISTER sip:{domain} SIP/2.0\r\n\
             Via: SIP/2.0/UDP {me};branch=z9hG4bK-ex-reg{cseq};rport\r\n\
             Max-Forwards: 70\r\n\
             To: <sip:{user}@{domain}>\r\n\
             From: <sip:{user}@{domain}>;tag=ex-{user}\r\n\
             Call-ID: ex-register@{me}\r\n\
             CSeq: {cseq} REGISTER\r\n\
             Contact: <{contact}>\r\n\
             Expires: 600\r\n\
             {auth}Content-Length: 0\r\n\r\n"
        )
    };
    println!("   -> REGISTER sip:{domain}  Contact: <{contact}>");
    let challenge = exchange(phone, registrar, &request(1, None)).await?;
    println!("   <- {}", challenge.status_line());
    // The first challenge this UA can answer, in the server's order.
    let (offer, algorithm, name) = challenge
        .headers("WWW-Authenticate")
        .find_map(|v| match param(v, "algorithm") {
            Some("SHA-256") => Some((v, Algorithm::Sha256, "SHA-256")),
            Some("MD5") | None => Some((v, Algorithm::Md5, "MD5")),
            _ => None,
        })
        .ok_or("no challenge this UA can answer")?;
    let nonce = param(offer, "nonce").ok_or("a challenge without a nonce")?;
    let uri = format!("sip:{domain}");
    let answer = authorization(
        algorithm,
        user,
        password,
        domain,
        nonce,
        "REGISTER",
        &uri,
        1,
        "ex-cnonce",
    );
    println!("   -> REGISTER again with Authorization: Digest algorithm={name} …");
    let ok = exchange(phone, registrar, &request(2, Some(answer))).await?;
    println!("   <- {}", ok.status_line());
    if ok.code != 200 {
        return Err(format!("REGISTER got {}", ok.status_line()).into());
    }
    for c in ok.headers("Contact") {
        println!("      Contact: {c}");
    }
    Ok(())
}

/// INVITE for `callee`, 302, ACK, through the library's caller side.
/// Returns the 302's first Contact.
pub async fn invite(
    caller: &SipCaller,
    redirect: SocketAddr,
    callee: &str,
) -> Result<String, BoxError> {
    println!("   -> INVITE {callee}");
    let config = InviteConfig::new(callee).caller("sip:caller@example.net");
    let moved = caller.invite(redirect, &config).await?;
    println!("   <- SIP/2.0 {} {}", moved.code, moved.reason);
    if moved.code != 302 {
        return Err(format!("INVITE got {} {}", moved.code, moved.reason).into());
    }
    let contact = moved.contacts.first().ok_or("302 without Contact")?;
    println!("      Contact: <{contact}>");
    println!("   -> ACK");
    Ok(contact.clone())
}
