//! The examples' SIP user agent, on the library's client side: a phone
//! registers through `client::Registration` and a caller's INVITEs go
//! through `client::SipCaller`. Each step prints one line.

use std::net::SocketAddr;
use std::time::Duration;

use lsp_core::Aor;
use lsp_sip_adapter::client::{InviteConfig, Registration, RegistrationConfig, SipCaller};
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

/// The examples' user, whose password the registrars know.
pub const ALICE: Account<'static> = Account {
    user: "alice",
    domain: "example.com",
    password: "wonderland",
};

/// Opens a phone's UDP socket on 127.0.0.1 and registers its address at
/// `registrar`. Returns the socket, the Contact it registered, and the
/// registration, which refreshes the binding while it is held.
pub async fn register_phone(
    registrar: SocketAddr,
    account: &Account<'_>,
) -> Result<(UdpSocket, String, Registration), BoxError> {
    let phone = UdpSocket::bind("127.0.0.1:0").await?;
    let contact = format!("sip:{}@{}", account.user, phone.local_addr()?);
    let registration = register(registrar, account, &contact).await?;
    Ok((phone, contact, registration))
}

/// Registers `contact` for the account at `registrar` through the
/// library's registration client, which answers the digest challenge.
pub async fn register(
    registrar: SocketAddr,
    account: &Account<'_>,
    contact: &str,
) -> Result<Registration, BoxError> {
    let Account {
        user,
        domain,
        password,
    } = *account;
    let aor = Aor::parse(&format!("sip:{user}@{domain}"))?;
    println!("   -> REGISTER sip:{domain}  Contact: <{contact}>  (digest user {user})");
    let mut config = RegistrationConfig::new(aor, contact, vec![registrar])
        .password(user, password)
        .expires(Duration::from_secs(600));
    config.bind = "127.0.0.1:0".parse()?;
    let registration = Registration::start(config).await?;
    let at = registration.registrar().ok_or("registered nowhere")?;
    println!("   <- registered at {at}: the challenge answered, the binding taken");
    Ok(registration)
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
