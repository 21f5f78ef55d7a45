//! The To tags of a server's responses (RFC 3261 section 8.2.6.2): the
//! same for every retransmission of a request, and keyed with a secret of
//! this server, so that an ACK carrying one shows that its sender received
//! the response. The service tags what it answers; the server's
//! transaction layer tags what it answers itself (a CANCEL's 200, a 487)
//! and checks ACKs. Both hold the one secret through this type.

use std::net::IpAddr;

use crate::message::Request;

#[derive(Debug)]
pub(crate) struct ToTags {
    key: [u8; 32],
}

impl ToTags {
    /// Tags under a fresh random secret. With no OS randomness a tag is
    /// still unique per request; it only stops proving the sender's
    /// address.
    pub(crate) fn new() -> Self {
        let mut key = [0u8; 32];
        let _ = getrandom::fill(&mut key);
        Self { key }
    }

    /// The To tag of this server's responses to `request`, sent to `to`.
    /// The address is in the MAC: an ACK with the tag then proves that its
    /// own address got the response, not that some address did.
    pub(crate) fn tag(&self, request: &Request, to: IpAddr) -> String {
        let mut h = blake3::Hasher::new_keyed(&self.key);
        match to {
            IpAddr::V4(a) => h.update(&a.octets()),
            IpAddr::V6(a) => h.update(&a.octets()),
        };
        h.update(request.call_id.as_bytes());
        h.update(&[0]);
        h.update(request.from_tag.as_deref().unwrap_or("").as_bytes());
        h.update(&request.cseq.to_be_bytes());
        h.finalize().to_hex()[..16].to_owned()
    }

    /// Whether `ack`, from `from`, carries the tag of this server's
    /// response to its INVITE sent there: `from` received that response.
    pub(crate) fn proves(&self, ack: &Request, from: IpAddr) -> bool {
        ack.to_tag.as_deref() == Some(&*self.tag(ack, from))
    }
}

#[cfg(test)]
mod tests {
    use std::net::IpAddr;

    use super::ToTags;
    use crate::message::{Inbound, parse};

    fn request(to_tag: &str) -> crate::message::Request {
        let text = format!(
            "ACK sip:a@example.com SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK1\r\n\
             Max-Forwards: 70\r\nTo: <sip:a@example.com>{to_tag}\r\nFrom: <sip:b@example.com>;tag=f\r\n\
             Call-ID: c1\r\nCSeq: 1 ACK\r\nContent-Length: 0\r\n\r\n"
        );
        match parse(text.as_bytes()) {
            Ok(Inbound::Request(r)) => *r,
            other => panic!("{other:?}"),
        }
    }

    /// A tag learned at one address proves nothing for another: an ACK
    /// from a spoofed address cannot lift the limit on what is sent there.
    #[test]
    fn a_tag_proves_only_the_address_it_was_sent_to() {
        let tags = ToTags::new();
        let (a, b): (IpAddr, IpAddr) = ("127.0.0.1".parse().unwrap(), "127.0.0.2".parse().unwrap());
        let tag = tags.tag(&request(""), a);
        assert_ne!(tag, tags.tag(&request(""), b));
        let ack = request(&format!(";tag={tag}"));
        assert!(tags.proves(&ack, a));
        assert!(!tags.proves(&ack, b));
    }
}
