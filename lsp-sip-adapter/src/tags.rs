//! The To tags of a server's responses (RFC 3261 section 8.2.6.2): the
//! same for every retransmission of a request, and keyed with a secret of
//! this server, so that an ACK carrying one shows that its sender received
//! the response. The service tags what it answers; the server's
//! transaction layer tags what it answers itself (a CANCEL's 200, a 487)
//! and checks ACKs. Both hold the one secret through this type.

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

    /// The To tag of this server's responses to `request`.
    pub(crate) fn tag(&self, request: &Request) -> String {
        let mut h = blake3::Hasher::new_keyed(&self.key);
        h.update(request.call_id.as_bytes());
        h.update(&[0]);
        h.update(request.from_tag.as_deref().unwrap_or("").as_bytes());
        h.update(&request.cseq.to_be_bytes());
        h.finalize().to_hex()[..16].to_owned()
    }

    /// Whether `ack` carries the tag of this server's response to its
    /// INVITE: its sender received that response.
    pub(crate) fn proves(&self, ack: &Request) -> bool {
        ack.to_tag.as_deref() == Some(&*self.tag(ack))
    }
}
