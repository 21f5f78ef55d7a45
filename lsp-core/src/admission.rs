//! Who may be a ring member: admission, set for the whole ring.
//!
//! A Node-ID costs one key generation, so without admission anyone can
//! mint IDs until one lands just before a key they want to own. An *open*
//! ring makes IDs cost work, after S/Kademlia's static puzzle: a Node-ID
//! counts only when `BLAKE3("lsp-work" || Node-ID)` starts with the ring's
//! number of zero bits, so each extra bit doubles the key generations an ID
//! takes. Anyone can check that from the Node-ID alone: a lookup answer is
//! checked before any peer it names is used. Clients need no work: they
//! hold no range (see `lsp-chord`'s client role).

use crate::{Error, Identity, NodeId, PublicKey};

/// The domain-separation prefix of the work hash.
const WORK_TAG: &[u8] = b"lsp-work";

/// Who may take part in ring maintenance and hold a range.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Admission {
    /// Any Node-ID: a ring whose members are known by other means.
    #[default]
    Any,
    /// A proof-of-work ring: a Node-ID must carry `bits` bits of proof of work
    /// (see [`work_bits`]).
    Work {
        /// Leading zero bits the work hash of a member's Node-ID needs.
        bits: u32,
    },
    /// A closed ring: a member must present an [`Enrollment`] signed by
    /// the ring's enrollment key `ring`. That is not a property of the
    /// Node-ID: the transport checks it at every handshake (a node named
    /// in a lookup answer is checked when it is connected to, before any
    /// frame goes to it) and tells the node which senders passed.
    ///
    /// [`Enrollment`]: crate::Enrollment
    Enrolled {
        /// The public half of the ring's enrollment key.
        ring: PublicKey,
    },
}

impl Admission {
    /// Whether a node with this Node-ID may be a member, as far as the
    /// Node-ID alone tells (always, in a closed ring: see
    /// [`Admission::Enrolled`]).
    pub fn admits(&self, id: &NodeId) -> bool {
        match self {
            Admission::Any | Admission::Enrolled { .. } => true,
            Admission::Work { bits } => work_bits(id) >= *bits,
        }
    }

    /// Whether membership needs a proof that the transport checks, beyond
    /// the Node-ID.
    pub fn needs_enrollment(&self) -> bool {
        matches!(self, Admission::Enrolled { .. })
    }
}

/// The proof of work a Node-ID carries: the leading zero bits of
/// `BLAKE3("lsp-work" || Node-ID)`.
pub fn work_bits(id: &NodeId) -> u32 {
    let mut h = blake3::Hasher::new();
    h.update(WORK_TAG);
    h.update(&id.0);
    let hash = h.finalize();
    let mut bits = 0;
    for byte in hash.as_bytes() {
        bits += byte.leading_zeros();
        if *byte != 0 {
            break;
        }
    }
    bits
}

/// Generates keys until one's Node-ID carries `bits` bits of work: about
/// 2^bits key generations (`docs/benchmarks.md` has the time per bit).
pub fn mint_identity(bits: u32) -> Result<Identity, Error> {
    let mut secret = [0u8; 32];
    getrandom::fill(&mut secret).map_err(Error::Random)?;
    // Counting up from one random seed costs no system call per try, and
    // is as good a search as fresh seeds; every seed tried keeps all 256
    // random bits (the first try is the random seed itself).
    let mut start = [0u8; 8];
    start.copy_from_slice(&secret[..8]);
    let start = u64::from_le_bytes(start);
    for n in 0u64.. {
        secret[..8].copy_from_slice(&start.wrapping_add(n).to_le_bytes());
        let id = Identity::from_secret_bytes(secret);
        if work_bits(&id.node_id()) >= bits {
            return Ok(id);
        }
    }
    Err(Error::NoWork { bits })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn work_counts_leading_zero_bits_of_the_tagged_hash() {
        // Found by search; the protocol-vector test pins the same rule.
        let id = (0u8..=255)
            .map(|b| Identity::from_secret_bytes([b; 32]).node_id())
            .find(|id| work_bits(id) >= 4)
            .expect("one in 16 has 4 bits");
        assert!(Admission::Work { bits: 4 }.admits(&id));
        assert!(Admission::Any.admits(&NodeId([0; 32])));
        let none = (0u8..=255)
            .map(|b| Identity::from_secret_bytes([b; 32]).node_id())
            .find(|id| work_bits(id) == 0)
            .expect("half have none");
        assert!(!Admission::Work { bits: 1 }.admits(&none));
    }

    #[test]
    fn a_minted_identity_carries_the_work_asked_for() {
        let id = mint_identity(10).unwrap();
        assert!(work_bits(&id.node_id()) >= 10);
    }

    #[test]
    fn minting_with_no_work_keeps_every_random_byte() {
        // Two keys with no work asked for share no 8-byte prefix of zeros
        // (a counter written over the seed would give both).
        let (a, b) = (mint_identity(0).unwrap(), mint_identity(0).unwrap());
        assert_ne!(a.secret_bytes()[..8], [0u8; 8]);
        assert_ne!(a.secret_bytes()[..8], b.secret_bytes()[..8]);
    }
}
