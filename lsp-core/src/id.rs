//! 256-bit identifiers on the ring: node positions and resource keys.

use std::fmt;

use serde::{Deserialize, Serialize};

macro_rules! ring_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        pub struct $name(pub [u8; 32]);

        impl $name {
            /// The identifier's 32 bytes, big-endian as a ring position.
            pub const fn as_bytes(&self) -> &[u8; 32] {
                &self.0
            }

            /// The first 8 bytes as an integer: already uniform, so a ready-made hash.
            pub fn prefix_u64(&self) -> u64 {
                let mut b = [0u8; 8];
                b.copy_from_slice(&self.0[..8]);
                u64::from_be_bytes(b)
            }

            /// Parses 64 hex digits, saying what is wrong with other text.
            pub fn from_hex(s: &str) -> Result<Self, HexError> {
                decode_hex32(s).map(Self)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                for b in &self.0 {
                    write!(f, "{b:02x}")?;
                }
                Ok(())
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                // Eight hex digits identify a node in logs; Display gives all 64.
                write!(f, "{}(", stringify!($name))?;
                for b in &self.0[..4] {
                    write!(f, "{b:02x}")?;
                }
                write!(f, "…)")
            }
        }
    };
}

ring_id!(
    /// A node's position on the ring: `blake3(ed25519 public key)`.
    NodeId
);
ring_id!(
    /// The key of an AOR on the ring: `blake3(canonical AOR)`.
    ResourceId
);

impl ResourceId {
    /// Hashes arbitrary bytes into a resource key.
    pub fn hash(bytes: &[u8]) -> Self {
        Self(*blake3::hash(bytes).as_bytes())
    }
}

impl From<NodeId> for ResourceId {
    fn from(id: NodeId) -> Self {
        Self(id.0)
    }
}

/// Why text is not 32 bytes in hex.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum HexError {
    /// Not 64 characters.
    #[error("expected 64 hex digits, found {found} characters")]
    Length {
        /// Characters found.
        found: usize,
    },
    /// A character that is not a hex digit.
    #[error("character {at} is not a hex digit")]
    NotHex {
        /// Its position, from 0.
        at: usize,
    },
}

/// 64 hex digits as 32 bytes.
pub(crate) fn decode_hex32(s: &str) -> Result<[u8; 32], HexError> {
    let found = s.chars().count();
    if found != 64 || s.len() != 64 {
        return Err(HexError::Length { found });
    }
    let s = s.as_bytes();
    let digit = |at: usize| hex_val(s[at]).ok_or(HexError::NotHex { at });
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = (digit(2 * i)? << 4) | digit(2 * i + 1)?;
    }
    Ok(out)
}

fn hex_val(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trip() {
        let id = ResourceId::hash(b"sip:alice@example.com");
        let text = id.to_string();
        assert_eq!(text.len(), 64);
        assert_eq!(ResourceId::from_hex(&text), Ok(id));
        assert_eq!(
            ResourceId::from_hex(&text[1..]),
            Err(HexError::Length { found: 63 })
        );
        assert_eq!(
            ResourceId::from_hex(&"zz".repeat(32)),
            Err(HexError::NotHex { at: 0 })
        );
    }
}
