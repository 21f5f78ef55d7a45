//! Addresses of record: parsing and canonical form.
//!
//! Canonicalization follows RFC 3261 section 10.3 (a registrar drops every URI
//! parameter) and the comparison rules of section 19.1.4:
//! the scheme and host are case-insensitive, the user part is case-sensitive,
//! an escaped character that is not reserved equals its plain form, and a port
//! is significant when present. Headers never identify a resource and are
//! dropped too. Equal AORs therefore have byte-identical canonical text and
//! one [`ResourceId`].

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::{Error, ResourceId};

/// Longest AOR accepted, in bytes of input.
pub const MAX_AOR_LEN: usize = 1024;

/// Why a string is not a usable AOR.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum AorFault {
    /// Longer than [`MAX_AOR_LEN`].
    TooLong,
    /// The scheme is not `sip` or `sips`.
    UnsupportedScheme,
    /// There is no host.
    MissingHost,
    /// `@` with nothing before it.
    EmptyUser,
    /// A password in the user info: secrets have no place in a shared key.
    PasswordNotAllowed,
    /// A character that the part of the URI it stands in may not hold.
    IllegalCharacter {
        /// Byte offset in the input.
        at: usize,
    },
    /// A `%` not followed by two hex digits.
    BadEscape {
        /// Byte offset in the input.
        at: usize,
    },
    /// The host is not a hostname, IPv4 address or IPv6 reference.
    BadHost,
    /// The port is not a number from 1 to 65535.
    BadPort,
    /// Decoded text that is not in canonical form (signed data must be).
    NotCanonical,
}

impl fmt::Display for AorFault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TooLong => write!(f, "longer than {MAX_AOR_LEN} bytes"),
            Self::UnsupportedScheme => f.write_str("scheme is not sip or sips"),
            Self::MissingHost => f.write_str("no host"),
            Self::EmptyUser => f.write_str("empty user part"),
            Self::PasswordNotAllowed => f.write_str("a password is not allowed in an AOR"),
            Self::IllegalCharacter { at } => write!(f, "illegal character at byte {at}"),
            Self::BadEscape { at } => write!(f, "bad %-escape at byte {at}"),
            Self::BadHost => f.write_str("malformed host"),
            Self::BadPort => f.write_str("malformed port"),
            Self::NotCanonical => f.write_str("not in canonical form"),
        }
    }
}

/// `sip` or `sips`. They never name the same resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scheme {
    /// `sip:`
    Sip,
    /// `sips:`
    Sips,
}

/// A canonical address of record, with its Resource-ID computed once.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Aor {
    text: Box<str>,
    scheme: Scheme,
    /// Byte range of the host in `text`.
    host: (u16, u16),
    port: Option<u16>,
    id: ResourceId,
}

impl Aor {
    /// Parses a `sip:` or `sips:` URI and reduces it to canonical form.
    pub fn parse(input: &str) -> Result<Self, Error> {
        parse(input).map_err(Error::InvalidAor)
    }

    /// The canonical text, e.g. `sip:alice@example.com`.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The key of this AOR on the ring.
    pub fn resource_id(&self) -> ResourceId {
        self.id
    }

    /// `sip` or `sips`.
    pub fn scheme(&self) -> Scheme {
        self.scheme
    }

    /// The user part in canonical escaping, if any.
    pub fn user(&self) -> Option<&str> {
        let start = self.scheme_len();
        let host_start = usize::from(self.host.0);
        (host_start > start).then(|| &self.text[start..host_start - 1])
    }

    /// The lower-cased host (an IPv6 reference keeps its brackets).
    pub fn host(&self) -> &str {
        &self.text[usize::from(self.host.0)..usize::from(self.host.1)]
    }

    /// The explicit port, if the URI had one.
    pub fn port(&self) -> Option<u16> {
        self.port
    }

    fn scheme_len(&self) -> usize {
        match self.scheme {
            Scheme::Sip => 4,
            Scheme::Sips => 5,
        }
    }
}

impl fmt::Display for Aor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl fmt::Debug for Aor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Aor({})", self.text)
    }
}

impl FromStr for Aor {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        Self::parse(s)
    }
}

impl Serialize for Aor {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.text)
    }
}

impl<'de> Deserialize<'de> for Aor {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Aor::parse_canonical(&text).map_err(serde::de::Error::custom)
    }
}

impl Aor {
    /// Parses text that must already be canonical, as signed records carry it.
    pub fn parse_canonical(text: &str) -> Result<Self, Error> {
        let aor = Self::parse(text)?;
        if aor.as_str() != text {
            return Err(Error::InvalidAor(AorFault::NotCanonical));
        }
        Ok(aor)
    }
}

fn is_alphanum(c: u8) -> bool {
    c.is_ascii_alphanumeric()
}

fn is_mark(c: u8) -> bool {
    matches!(
        c,
        b'-' | b'_' | b'.' | b'!' | b'~' | b'*' | b'\'' | b'(' | b')'
    )
}

fn is_unreserved(c: u8) -> bool {
    is_alphanum(c) || is_mark(c)
}

fn is_user_unreserved(c: u8) -> bool {
    matches!(c, b'&' | b'=' | b'+' | b'$' | b',' | b';' | b'?' | b'/')
}

fn hex(c: u8) -> Option<u8> {
    (c as char).to_digit(16).map(|d| d as u8)
}

fn parse(input: &str) -> Result<Aor, AorFault> {
    if input.len() > MAX_AOR_LEN {
        return Err(AorFault::TooLong);
    }
    let bytes = input.as_bytes();
    let colon = input.find(':').ok_or(AorFault::UnsupportedScheme)?;
    let scheme = match &input[..colon] {
        s if s.eq_ignore_ascii_case("sip") => Scheme::Sip,
        s if s.eq_ignore_ascii_case("sips") => Scheme::Sips,
        _ => return Err(AorFault::UnsupportedScheme),
    };
    let mut out = String::with_capacity(input.len());
    out.push_str(match scheme {
        Scheme::Sip => "sip:",
        Scheme::Sips => "sips:",
    });

    let mut pos = colon + 1;
    // '@' cannot appear unescaped in a host, parameter or header, so the first
    // one ends the user info.
    if let Some(at) = input[pos..].find('@').map(|i| i + pos) {
        if at == pos {
            return Err(AorFault::EmptyUser);
        }
        canonical_user(bytes, pos, at, &mut out)?;
        out.push('@');
        pos = at + 1;
    }

    let end = input[pos..]
        .find([';', '?'])
        .map_or(input.len(), |i| i + pos);
    check_tail(bytes, end)?;
    let hostport = &input[pos..end];
    if hostport.is_empty() {
        return Err(AorFault::MissingHost);
    }
    let (host, port_text) = split_host_port(hostport)?;
    let host_start = out.len();
    canonical_host(host, &mut out)?;
    let host_end = out.len();
    let port = match port_text {
        None => None,
        Some(p) => {
            if p.is_empty() || p.len() > 5 || !p.bytes().all(|c| c.is_ascii_digit()) {
                return Err(AorFault::BadPort);
            }
            // Port 0 names no port a request can be sent to.
            let n: u16 = p.parse().map_err(|_| AorFault::BadPort)?;
            if n == 0 {
                return Err(AorFault::BadPort);
            }
            out.push(':');
            out.push_str(&n.to_string());
            Some(n)
        }
    };
    let id = ResourceId::hash(out.as_bytes());
    Ok(Aor {
        text: out.into_boxed_str(),
        scheme,
        // MAX_AOR_LEN keeps every offset well inside u16.
        host: (host_start as u16, host_end as u16),
        port,
        id,
    })
}

/// Writes the user part with unreserved escapes decoded and the rest upper-cased.
fn canonical_user(
    bytes: &[u8],
    start: usize,
    end: usize,
    out: &mut String,
) -> Result<(), AorFault> {
    let mut i = start;
    while i < end {
        let c = bytes[i];
        if c == b':' {
            return Err(AorFault::PasswordNotAllowed);
        }
        if c == b'%' {
            let (h, l) = match (bytes.get(i + 1), bytes.get(i + 2)) {
                (Some(&h), Some(&l)) if i + 2 < end => (h, l),
                _ => return Err(AorFault::BadEscape { at: i }),
            };
            let (Some(h), Some(l)) = (hex(h), hex(l)) else {
                return Err(AorFault::BadEscape { at: i });
            };
            let decoded = (h << 4) | l;
            if is_unreserved(decoded) {
                out.push(decoded as char);
            } else {
                out.push('%');
                out.push(char::from(b"0123456789ABCDEF"[usize::from(h)]));
                out.push(char::from(b"0123456789ABCDEF"[usize::from(l)]));
            }
            i += 3;
        } else if is_unreserved(c) || is_user_unreserved(c) {
            out.push(c as char);
            i += 1;
        } else {
            return Err(AorFault::IllegalCharacter { at: i });
        }
    }
    Ok(())
}

/// Parameters and headers are dropped, but only printable ASCII may stand there.
fn check_tail(bytes: &[u8], from: usize) -> Result<(), AorFault> {
    match bytes[from..]
        .iter()
        .position(|&c| !c.is_ascii_graphic() || c == b'@')
    {
        Some(i) => Err(AorFault::IllegalCharacter { at: from + i }),
        None => Ok(()),
    }
}

fn split_host_port(hostport: &str) -> Result<(&str, Option<&str>), AorFault> {
    if hostport.starts_with('[') {
        let close = hostport.find(']').ok_or(AorFault::BadHost)?;
        let rest = &hostport[close + 1..];
        return match rest.strip_prefix(':') {
            Some(port) => Ok((&hostport[..=close], Some(port))),
            None if rest.is_empty() => Ok((hostport, None)),
            None => Err(AorFault::BadHost),
        };
    }
    Ok(match hostport.split_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (hostport, None),
    })
}

fn canonical_host(host: &str, out: &mut String) -> Result<(), AorFault> {
    if let Some(inner) = host.strip_prefix('[') {
        let inner = inner.strip_suffix(']').ok_or(AorFault::BadHost)?;
        let addr = Ipv6Addr::from_str(inner).map_err(|_| AorFault::BadHost)?;
        out.push('[');
        out.push_str(&addr.to_string());
        out.push(']');
        return Ok(());
    }
    if host.is_empty() {
        return Err(AorFault::MissingHost);
    }
    if host.bytes().all(|c| c.is_ascii_digit() || c == b'.') {
        let addr = Ipv4Addr::from_str(host).map_err(|_| AorFault::BadHost)?;
        out.push_str(&addr.to_string());
        return Ok(());
    }
    let name = host.strip_suffix('.').unwrap_or(host);
    if name.len() > 253 {
        return Err(AorFault::BadHost);
    }
    let mut labels = name.split('.').peekable();
    while let Some(label) = labels.next() {
        let b = label.as_bytes();
        let ok = !b.is_empty()
            && b.len() <= 63
            && b.iter().all(|&c| is_alphanum(c) || c == b'-')
            && b[0] != b'-'
            && b[b.len() - 1] != b'-'
            // The top label starts with a letter (RFC 3261 `toplabel`).
            && (labels.peek().is_some() || b[0].is_ascii_alphabetic());
        if !ok {
            return Err(AorFault::BadHost);
        }
    }
    out.push_str(&host.to_ascii_lowercase());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn canon(s: &str) -> String {
        match Aor::parse(s) {
            Ok(a) => a.as_str().to_owned(),
            Err(e) => panic!("{s}: {e}"),
        }
    }

    fn fault(s: &str) -> AorFault {
        match Aor::parse(s) {
            Err(Error::InvalidAor(f)) => f,
            other => panic!("{s}: expected an AOR fault, got {other:?}"),
        }
    }

    #[test]
    fn canonical_forms() {
        assert_eq!(
            canon("SIP:alice@AtLanTa.CoM;Transport=UDP"),
            "sip:alice@atlanta.com"
        );
        assert_eq!(canon("sip:%61lice@atlanta.com"), "sip:alice@atlanta.com");
        assert_eq!(canon("sip:bob%40x@biloxi.com"), "sip:bob%40x@biloxi.com");
        assert_eq!(canon("sip:bob%3a@biloxi.com"), "sip:bob%3A@biloxi.com");
        assert_eq!(
            canon("sips:bob@biloxi.com:05061"),
            "sips:bob@biloxi.com:5061"
        );
        assert_eq!(canon("sip:[2001:DB8::0:1]:5060"), "sip:[2001:db8::1]:5060");
        assert_eq!(
            canon("sip:biloxi.com;method=REGISTER?to=x"),
            "sip:biloxi.com"
        );
        assert_eq!(
            canon("sip:+1-212-555-1212;npdi@gw.example.com"),
            "sip:+1-212-555-1212;npdi@gw.example.com"
        );
    }

    #[test]
    fn accessors() {
        let a = Aor::parse("sips:Bob@Biloxi.COM:5061;user=phone").unwrap();
        assert_eq!(a.scheme(), Scheme::Sips);
        assert_eq!(a.user(), Some("Bob"));
        assert_eq!(a.host(), "biloxi.com");
        assert_eq!(a.port(), Some(5061));
        assert_eq!(
            a.resource_id(),
            ResourceId::hash(b"sips:Bob@biloxi.com:5061")
        );
        let d = Aor::parse("sip:example.com").unwrap();
        assert_eq!((d.user(), d.host(), d.port()), (None, "example.com", None));
    }

    #[test]
    fn bad_input_is_a_typed_error() {
        assert_eq!(fault("tel:+15551212"), AorFault::UnsupportedScheme);
        assert_eq!(fault("alice@example.com"), AorFault::UnsupportedScheme);
        assert_eq!(fault("sip:alice@"), AorFault::MissingHost);
        assert_eq!(fault("sip:@example.com"), AorFault::EmptyUser);
        assert_eq!(
            fault("sip:alice:secret@example.com"),
            AorFault::PasswordNotAllowed
        );
        assert_eq!(
            fault("sip:al ice@example.com"),
            AorFault::IllegalCharacter { at: 6 }
        );
        assert_eq!(fault("sip:al%4@example.com"), AorFault::BadEscape { at: 6 });
        assert_eq!(fault("sip:a@exa_mple.com"), AorFault::BadHost);
        assert_eq!(fault("sip:a@999.1.1.1"), AorFault::BadHost);
        assert_eq!(fault("sip:a@example.com:70000"), AorFault::BadPort);
        assert_eq!(fault("sip:a@example.com:"), AorFault::BadPort);
        assert_eq!(
            fault("sip:a@example.com;x=\u{1}"),
            AorFault::IllegalCharacter { at: 20 }
        );
        let long = format!("sip:{}@example.com", "a".repeat(MAX_AOR_LEN));
        assert_eq!(fault(&long), AorFault::TooLong);
    }

    #[test]
    fn decoding_requires_canonical_text() {
        let json_like = postcard::to_allocvec("sip:Alice@EXAMPLE.com").unwrap();
        assert!(postcard::from_bytes::<Aor>(&json_like).is_err());
        let ok = postcard::to_allocvec("sip:Alice@example.com").unwrap();
        let aor: Aor = postcard::from_bytes(&ok).unwrap();
        assert_eq!(aor.as_str(), "sip:Alice@example.com");
    }
}
