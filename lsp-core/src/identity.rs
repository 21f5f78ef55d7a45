//! Ed25519 identities of nodes and publishers.

use std::fmt;

use ed25519_dalek::{Signer, SigningKey, Verifier, VerifyingKey};
use serde::{Deserialize, Serialize};

use crate::{Error, HexError, NodeId};

/// An ed25519 public key, kept as its 32 encoded bytes.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct PublicKey(pub [u8; 32]);

/// Why [`Identity::load`] could not read a key file.
#[derive(Debug, thiserror::Error)]
pub enum KeyFileError {
    /// Reading the file failed.
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// Others may read the file (Unix mode bits).
    #[error("mode {mode:o}: others must not read a secret key (chmod 600)")]
    Exposed {
        /// Its permission bits.
        mode: u32,
    },
    /// The file does not hold a key.
    #[error("not a key: {0}")]
    NotAKey(#[from] HexError),
}

impl PublicKey {
    /// Parses 64 hex digits, as [`fmt::Display`] writes them. Whether they
    /// are a valid curve point is checked when the key verifies.
    pub fn from_hex(s: &str) -> Result<Self, HexError> {
        crate::id::decode_hex32(s).map(Self)
    }

    /// The Node-ID of whoever holds the matching secret key.
    pub fn node_id(&self) -> NodeId {
        NodeId(*blake3::hash(&self.0).as_bytes())
    }

    /// Checks `signature` over `message`. A key that is not a valid curve
    /// point is [`Error::InvalidKey`]; a signature that does not match is
    /// [`Error::BadSignature`].
    pub fn verify(&self, message: &[u8], signature: &Signature) -> Result<(), Error> {
        let key = VerifyingKey::from_bytes(&self.0).map_err(|_| Error::InvalidKey)?;
        let sig = ed25519_dalek::Signature::from_bytes(&signature.0);
        key.verify(message, &sig).map_err(|_| Error::BadSignature)
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey(")?;
        for b in &self.0[..4] {
            write!(f, "{b:02x}")?;
        }
        write!(f, "…)")
    }
}

impl fmt::Display for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in &self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

/// An ed25519 signature.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Signature(pub [u8; 64]);

impl fmt::Debug for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Signature(")?;
        for b in &self.0[..4] {
            write!(f, "{b:02x}")?;
        }
        write!(f, "…)")
    }
}

// serde derives arrays only up to 32 elements; a 64-byte array goes as a tuple.
impl Serialize for Signature {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeTuple;
        let mut t = s.serialize_tuple(64)?;
        for b in &self.0 {
            t.serialize_element(b)?;
        }
        t.end()
    }
}

impl<'de> Deserialize<'de> for Signature {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Signature;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("64 signature bytes")
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<Signature, A::Error> {
                let mut out = [0u8; 64];
                for (i, b) in out.iter_mut().enumerate() {
                    *b = seq
                        .next_element()?
                        .ok_or_else(|| serde::de::Error::invalid_length(i, &self))?;
                }
                Ok(Signature(out))
            }
        }
        d.deserialize_tuple(64, V)
    }
}

/// An ed25519 key pair. Its [`NodeId`] is `blake3(public key)`, so nobody can
/// take a ring position without holding the matching secret key.
#[derive(Clone)]
pub struct Identity {
    key: SigningKey,
}

impl Identity {
    /// A fresh key pair from the operating system's random source.
    pub fn generate() -> Result<Self, Error> {
        let mut secret = [0u8; 32];
        getrandom::fill(&mut secret).map_err(Error::Random)?;
        Ok(Self::from_secret_bytes(secret))
    }

    /// The key pair of a 32-byte ed25519 secret seed.
    pub fn from_secret_bytes(secret: [u8; 32]) -> Self {
        Self {
            key: SigningKey::from_bytes(&secret),
        }
    }

    /// The 32-byte secret seed, for storing the identity in a key file.
    pub fn secret_bytes(&self) -> [u8; 32] {
        self.key.to_bytes()
    }

    /// The secret seed as 64 hex digits: the key file format of `lsp-node`.
    pub fn secret_hex(&self) -> String {
        self.secret_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    /// Reads [`Identity::secret_hex`]'s form.
    pub fn from_secret_hex(s: &str) -> Result<Self, HexError> {
        crate::id::decode_hex32(s).map(Self::from_secret_bytes)
    }

    /// Reads a key file: the secret as 64 hex digits, white space around
    /// it ignored (the format of `lsp-node keygen`). On Unix a file that
    /// others may read is refused, as ssh refuses such keys.
    pub fn load(path: impl AsRef<std::path::Path>) -> Result<Self, KeyFileError> {
        let path = path.as_ref();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(path)?.permissions().mode() & 0o777;
            if mode & 0o077 != 0 {
                return Err(KeyFileError::Exposed { mode });
            }
        }
        let text = std::fs::read_to_string(path)?;
        Ok(Self::from_secret_hex(text.trim())?)
    }

    /// The public half.
    pub fn public_key(&self) -> PublicKey {
        PublicKey(self.key.verifying_key().to_bytes())
    }

    /// This identity's position on the ring.
    pub fn node_id(&self) -> NodeId {
        self.public_key().node_id()
    }

    /// Signs `message`.
    pub fn sign(&self, message: &[u8]) -> Signature {
        Signature(self.key.sign(message).to_bytes())
    }
}

impl fmt::Debug for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never print the secret.
        f.debug_struct("Identity")
            .field("public_key", &self.public_key())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_verify_and_node_id() {
        let id = Identity::from_secret_bytes([7; 32]);
        let sig = id.sign(b"hello");
        id.public_key().verify(b"hello", &sig).unwrap();
        assert_eq!(
            id.public_key().verify(b"hellp", &sig),
            Err(Error::BadSignature)
        );
        let other = Identity::from_secret_bytes([8; 32]);
        assert_eq!(
            other.public_key().verify(b"hello", &sig),
            Err(Error::BadSignature)
        );
        assert_eq!(id.node_id().0, *blake3::hash(&id.public_key().0).as_bytes());
        assert_ne!(
            Identity::generate().unwrap().node_id(),
            Identity::generate().unwrap().node_id()
        );
    }

    #[test]
    fn public_key_hex_round_trip() {
        let key = Identity::from_secret_bytes([9; 32]).public_key();
        assert_eq!(PublicKey::from_hex(&key.to_string()), Ok(key));
        assert_eq!(
            PublicKey::from_hex("abc"),
            Err(HexError::Length { found: 3 })
        );
        let id = Identity::from_secret_bytes([9; 32]);
        let back = Identity::from_secret_hex(&id.secret_hex()).unwrap();
        assert_eq!(back.public_key(), key);
        let bad = format!("{}g{}", "a".repeat(10), "b".repeat(53));
        assert_eq!(PublicKey::from_hex(&bad), Err(HexError::NotHex { at: 10 }));
        assert_eq!(
            PublicKey::from_hex(&"é".repeat(32)),
            Err(HexError::Length { found: 32 })
        );
    }

    #[test]
    fn a_key_file_loads_and_says_why_when_it_cannot() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("node.key");
        let id = Identity::from_secret_bytes([4; 32]);
        std::fs::write(&path, format!("{}\n", id.secret_hex())).unwrap();
        let private = std::fs::Permissions::from_mode(0o600);
        std::fs::set_permissions(&path, private.clone()).unwrap();
        assert_eq!(Identity::load(&path).unwrap().node_id(), id.node_id());
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert!(matches!(
            Identity::load(&path),
            Err(KeyFileError::Exposed { mode: 0o644 })
        ));
        std::fs::write(&path, "not a key\n").unwrap();
        std::fs::set_permissions(&path, private).unwrap();
        let err = Identity::load(&path).unwrap_err();
        assert!(
            matches!(err, KeyFileError::NotAKey(HexError::Length { found: 9 })),
            "{err}"
        );
        assert!(matches!(
            Identity::load(dir.path().join("missing.key")),
            Err(KeyFileError::Io(_))
        ));
    }

    #[test]
    fn signature_serde_round_trip() {
        let sig = Identity::from_secret_bytes([1; 32]).sign(b"x");
        let bytes = postcard::to_allocvec(&sig).unwrap();
        assert_eq!(bytes.len(), 64);
        let back: Signature = postcard::from_bytes(&bytes).unwrap();
        assert_eq!(back, sig);
        assert!(postcard::from_bytes::<Signature>(&bytes[..63]).is_err());
    }

    #[test]
    fn debug_hides_the_secret() {
        let id = Identity::from_secret_bytes([9; 32]);
        assert!(!format!("{id:?}").contains("0909"));
    }
}
