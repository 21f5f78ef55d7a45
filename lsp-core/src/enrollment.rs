//! Enrollment: how a *closed* ring admits its members.
//!
//! The ring's operator holds an enrollment key and signs, for each node it
//! lets in, the node's Node-ID and an expiry (after RELOAD's enrollment
//! server, without the X.509 chain). A member presents its enrollment in
//! its certificate; a peer checks it at every handshake, against the one
//! public key the ring trusts, so a node that was never enrolled, or whose
//! enrollment has run out, is not taken as a member. Clients need none.

use crate::{Error, Identity, NodeId, PublicKey, Signature, UnixTime};

/// The domain-separation prefix of what an enrollment signs.
pub const ENROLLMENT_TAG: &[u8] = b"lsp-enroll";

/// Length of an encoded [`Enrollment`]: Node-ID, expiry, signature.
pub const ENROLLMENT_LEN: usize = 32 + 8 + 64;

/// A ring's enrollment of one Node-ID, until `expires`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Enrollment {
    /// The enrolled node.
    pub node: NodeId,
    /// The first instant (Unix milliseconds) at which it no longer holds.
    pub expires: UnixTime,
    /// The enrollment key's signature over [`enrollment_signing_bytes`].
    pub signature: Signature,
}

/// Why an enrollment does not admit a node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EnrollmentError {
    /// The node presented none.
    #[error("no enrollment presented")]
    Missing,
    /// Not [`ENROLLMENT_LEN`] bytes.
    #[error("an enrollment is {ENROLLMENT_LEN} bytes")]
    Length,
    /// It enrolls another Node-ID.
    #[error("the enrollment is for another node")]
    OtherNode,
    /// The ring's enrollment key did not sign it.
    #[error("the enrollment is not signed by this ring's enrollment key")]
    Forged,
    /// It has run out.
    #[error("the enrollment expired at {0} (Unix milliseconds)")]
    Expired(u64),
}

/// The bytes an enrollment key signs: `"lsp-enroll"`, the Node-ID, and the
/// expiry in Unix milliseconds as 8 bytes big-endian.
pub fn enrollment_signing_bytes(node: &NodeId, expires: UnixTime) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(ENROLLMENT_TAG.len() + 40);
    bytes.extend_from_slice(ENROLLMENT_TAG);
    bytes.extend_from_slice(&node.0);
    bytes.extend_from_slice(&expires.0.to_be_bytes());
    bytes
}

impl Enrollment {
    /// `ring_key` enrolls `node` until `expires`.
    pub fn issue(ring_key: &Identity, node: NodeId, expires: UnixTime) -> Self {
        let signature = ring_key.sign(&enrollment_signing_bytes(&node, expires));
        Self {
            node,
            expires,
            signature,
        }
    }

    /// Whether this admits `node` at `now` into the ring whose enrollment
    /// key is `ring`.
    pub fn check(
        &self,
        ring: &PublicKey,
        node: &NodeId,
        now: UnixTime,
    ) -> Result<(), EnrollmentError> {
        if self.node != *node {
            return Err(EnrollmentError::OtherNode);
        }
        ring.verify(
            &enrollment_signing_bytes(&self.node, self.expires),
            &self.signature,
        )
        .map_err(|_| EnrollmentError::Forged)?;
        if now >= self.expires {
            return Err(EnrollmentError::Expired(self.expires.0));
        }
        Ok(())
    }

    /// The encoding: Node-ID (32 bytes), expiry (8 bytes big-endian),
    /// signature (64 bytes).
    pub fn to_bytes(&self) -> [u8; ENROLLMENT_LEN] {
        let mut out = [0u8; ENROLLMENT_LEN];
        out[..32].copy_from_slice(&self.node.0);
        out[32..40].copy_from_slice(&self.expires.0.to_be_bytes());
        out[40..].copy_from_slice(&self.signature.0);
        out
    }

    /// Reads [`Enrollment::to_bytes`]'s encoding.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, EnrollmentError> {
        let bytes: &[u8; ENROLLMENT_LEN] = bytes.try_into().map_err(|_| EnrollmentError::Length)?;
        let mut node = [0u8; 32];
        node.copy_from_slice(&bytes[..32]);
        let mut expires = [0u8; 8];
        expires.copy_from_slice(&bytes[32..40]);
        let mut signature = [0u8; 64];
        signature.copy_from_slice(&bytes[40..]);
        Ok(Self {
            node: NodeId(node),
            expires: UnixTime(u64::from_be_bytes(expires)),
            signature: Signature(signature),
        })
    }

    /// The encoding in lowercase hex, as files and certificates carry it.
    pub fn to_hex(&self) -> String {
        self.to_bytes().iter().map(|b| format!("{b:02x}")).collect()
    }

    /// Reads [`Enrollment::to_hex`]'s form (surrounding white space is
    /// ignored).
    pub fn from_hex(text: &str) -> Result<Self, EnrollmentError> {
        let text = text.trim();
        if text.len() != ENROLLMENT_LEN * 2 || !text.is_ascii() {
            return Err(EnrollmentError::Length);
        }
        let bytes = (0..ENROLLMENT_LEN)
            .map(|i| u8::from_str_radix(&text[2 * i..2 * i + 2], 16))
            .collect::<Result<Vec<u8>, _>>()
            .map_err(|_| EnrollmentError::Length)?;
        Self::from_bytes(&bytes)
    }
}

impl From<EnrollmentError> for Error {
    fn from(e: EnrollmentError) -> Self {
        Error::NotAdmitted(match e {
            EnrollmentError::Missing => "no enrollment presented",
            EnrollmentError::Length => "malformed enrollment",
            EnrollmentError::OtherNode => "enrollment for another node",
            EnrollmentError::Forged => "enrollment not signed by the ring's key",
            EnrollmentError::Expired(_) => "enrollment expired",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ring() -> Identity {
        Identity::from_secret_bytes([7; 32])
    }

    #[test]
    fn an_issued_enrollment_admits_its_node_until_it_expires() {
        let node = Identity::from_secret_bytes([1; 32]).node_id();
        let e = Enrollment::issue(&ring(), node, UnixTime(1000));
        let key = ring().public_key();
        assert_eq!(e.check(&key, &node, UnixTime(999)), Ok(()));
        assert_eq!(
            e.check(&key, &node, UnixTime(1000)),
            Err(EnrollmentError::Expired(1000))
        );
        let other = Identity::from_secret_bytes([2; 32]);
        assert_eq!(
            e.check(&key, &other.node_id(), UnixTime(0)),
            Err(EnrollmentError::OtherNode)
        );
        assert_eq!(
            e.check(&other.public_key(), &node, UnixTime(0)),
            Err(EnrollmentError::Forged)
        );
    }

    #[test]
    fn a_changed_expiry_breaks_the_signature() {
        let node = NodeId([3; 32]);
        let mut e = Enrollment::issue(&ring(), node, UnixTime(1000));
        e.expires = UnixTime(u64::MAX);
        assert_eq!(
            e.check(&ring().public_key(), &node, UnixTime(0)),
            Err(EnrollmentError::Forged)
        );
    }

    #[test]
    fn the_encoding_round_trips_and_refuses_other_lengths() {
        let e = Enrollment::issue(&ring(), NodeId([4; 32]), UnixTime(1 << 40));
        assert_eq!(Enrollment::from_bytes(&e.to_bytes()), Ok(e));
        assert_eq!(Enrollment::from_hex(&format!(" {}\n", e.to_hex())), Ok(e));
        assert_eq!(
            Enrollment::from_bytes(&e.to_bytes()[1..]),
            Err(EnrollmentError::Length)
        );
        assert_eq!(Enrollment::from_hex("zz"), Err(EnrollmentError::Length));
    }
}
