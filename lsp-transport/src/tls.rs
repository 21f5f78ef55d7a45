//! TLS identities bound to Node-IDs.
//!
//! Each node presents a self-signed certificate carrying its ed25519 key.
//! No CA and no system roots are involved: a peer is who its key says, and
//! its Node-ID is `blake3(key)`. A client states the Node-ID it means to
//! reach and the handshake fails unless the server's key hashes to it; a
//! server requires a client certificate and learns the client's Node-ID
//! from it. The TLS 1.3 handshake signature proves possession of the key.
//!
//! In a closed ring a member's certificate also carries its enrollment,
//! as a subject alternative name `lsp-enrollment:<hex>`, and a node checks
//! it at each handshake against the ring's enrollment key: a server it
//! dials must be enrolled; a client that is not is served as a stranger.

use std::sync::{Arc, Mutex, PoisonError};

use lsp_core::{Enrollment, EnrollmentError, Identity, NodeId, PublicKey, UnixTime};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::{
    CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName, UnixTime as TlsTime,
};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{DigitallySignedStruct, DistinguishedName, SignatureScheme};

use crate::Error;

/// The protocol's ALPN identifier.
pub const ALPN: &[u8] = b"lsp/1";

/// DER prefix of an Ed25519 SubjectPublicKeyInfo (RFC 8410); the 32-byte
/// key follows.
const ED25519_SPKI_PREFIX: [u8; 12] = [
    0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
];

/// DER prefix of an Ed25519 PKCS#8 v1 private key (RFC 8410); the 32-byte
/// seed follows.
const ED25519_PKCS8_PREFIX: [u8; 16] = [
    0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
];

/// A node's certificate and key, ready for rustls.
#[derive(Debug)]
pub(crate) struct Credentials {
    pub cert: CertificateDer<'static>,
    key: Vec<u8>,
}

impl Credentials {
    /// A self-signed certificate for `identity`'s key, carrying its
    /// enrollment if it has one.
    pub fn new(identity: &Identity, enrollment: Option<&Enrollment>) -> Result<Self, Error> {
        let mut key = ED25519_PKCS8_PREFIX.to_vec();
        key.extend_from_slice(&identity.secret_bytes());
        let pkcs8 = PrivatePkcs8KeyDer::from(key.clone());
        let pair = rcgen::KeyPair::try_from(&pkcs8).map_err(|e| Error::Certificate(e.into()))?;
        let mut params = rcgen::CertificateParams::new(vec!["lsp.invalid".to_string()])
            .map_err(|e| Error::Certificate(e.into()))?;
        if let Some(e) = enrollment {
            let uri = format!("{ENROLLMENT_SCHEME}{}", e.to_hex());
            let uri = uri
                .try_into()
                .map_err(|e: rcgen::Error| Error::Certificate(e.into()))?;
            params.subject_alt_names.push(rcgen::SanType::URI(uri));
        }
        let cert = params
            .self_signed(&pair)
            .map_err(|e| Error::Certificate(e.into()))?;
        Ok(Self {
            cert: cert.der().clone(),
            key,
        })
    }

    pub fn key(&self) -> PrivateKeyDer<'static> {
        PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.key.clone()))
    }
}

/// The Node-ID a certificate proves: `blake3` of its Ed25519 key.
pub(crate) fn node_id_of(cert: &CertificateDer<'_>) -> Result<NodeId, rustls::Error> {
    let parsed = webpki::EndEntityCert::try_from(cert)
        .map_err(|e| rustls::Error::General(format!("bad certificate: {e:?}")))?;
    let spki = parsed.subject_public_key_info();
    let spki = spki.as_ref();
    match spki.strip_prefix(&ED25519_SPKI_PREFIX[..]) {
        Some(key) if key.len() == 32 => {
            let mut k = [0u8; 32];
            k.copy_from_slice(key);
            Ok(PublicKey(k).node_id())
        }
        _ => Err(rustls::Error::General(
            "certificate key is not Ed25519".into(),
        )),
    }
}

/// The prefix of the subject alternative name that carries an enrollment.
pub(crate) const ENROLLMENT_SCHEME: &str = "lsp-enrollment:";

/// The enrollment a certificate carries, if any (the first, if several).
fn enrollment_of(cert: &CertificateDer<'_>) -> Result<Enrollment, EnrollmentError> {
    let (_, parsed) =
        x509_parser::parse_x509_certificate(cert.as_ref()).map_err(|_| EnrollmentError::Length)?;
    let names = parsed
        .subject_alternative_name()
        .ok()
        .flatten()
        .ok_or(EnrollmentError::Missing)?;
    names
        .value
        .general_names
        .iter()
        .find_map(|name| match name {
            x509_parser::extensions::GeneralName::URI(uri) => uri.strip_prefix(ENROLLMENT_SCHEME),
            _ => None,
        })
        .ok_or(EnrollmentError::Missing)
        .and_then(Enrollment::from_hex)
}

/// Checks the enrollment `cert` carries for Node-ID `id` in the closed
/// ring whose enrollment key is `ring`; gives the time it runs out.
pub(crate) fn check_enrollment(
    cert: &CertificateDer<'_>,
    id: &NodeId,
    ring: &PublicKey,
) -> Result<UnixTime, EnrollmentError> {
    let enrollment = enrollment_of(cert)?;
    enrollment.check(ring, id, UnixTime::now())?;
    Ok(enrollment.expires)
}

/// Both sides sign the handshake with the node key, so only Ed25519.
const ONLY_ED25519: [SignatureScheme; 1] = [SignatureScheme::ED25519];

fn no_tls12() -> Result<HandshakeSignatureValid, rustls::Error> {
    Err(rustls::Error::General("TLS 1.2 is not used".into()))
}

fn algorithms(provider: &CryptoProvider) -> WebPkiSupportedAlgorithms {
    provider.signature_verification_algorithms
}

/// What a client's verifier found in the server's certificate, so that a
/// refused handshake can be reported exactly.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Found {
    /// The Node-ID the certificate proves.
    pub id: Option<NodeId>,
    /// In a closed ring: when its enrollment runs out, or why it has none.
    pub enrollment: Option<Result<UnixTime, EnrollmentError>>,
}

/// Checks a server against the Node-ID the client meant to reach and, in
/// a closed ring, its enrollment.
#[derive(Debug)]
pub(crate) struct ExpectNode {
    pub expected: NodeId,
    pub ring: Option<PublicKey>,
    pub found: FoundNode,
    pub algorithms: WebPkiSupportedAlgorithms,
}

impl ExpectNode {
    pub fn new(expected: NodeId, ring: Option<PublicKey>, provider: &CryptoProvider) -> Self {
        Self {
            expected,
            ring,
            found: Arc::default(),
            algorithms: algorithms(provider),
        }
    }
}

impl ServerCertVerifier for ExpectNode {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: TlsTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let id = node_id_of(end_entity)?;
        let mut found = self.found.lock().unwrap_or_else(PoisonError::into_inner);
        found.id = Some(id);
        if id != self.expected {
            return Err(rustls::Error::General(format!(
                "peer is {id}, expected {}",
                self.expected
            )));
        }
        if let Some(ring) = &self.ring {
            let checked = check_enrollment(end_entity, &id, ring);
            found.enrollment = Some(checked);
            if let Err(e) = checked {
                return Err(rustls::Error::General(format!("peer {id}: {e}")));
            }
        }
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        no_tls12()
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        ONLY_ED25519.to_vec()
    }
}

/// Accepts any client that proves an Ed25519 key; its Node-ID is the hash.
#[derive(Debug)]
pub(crate) struct AnyNode {
    pub algorithms: WebPkiSupportedAlgorithms,
}

impl ClientCertVerifier for AnyNode {
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: TlsTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        node_id_of(end_entity)?;
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        no_tls12()
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        ONLY_ED25519.to_vec()
    }
}

/// The crypto provider: ring, as the design asks (aws-lc builds slowly).
pub(crate) fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The server side of a node's TLS.
pub(crate) fn server_config(creds: &Credentials) -> Result<rustls::ServerConfig, Error> {
    let provider = provider();
    let verifier = Arc::new(AnyNode {
        algorithms: algorithms(&provider),
    });
    let mut cfg = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(|e| Error::Tls(e.into()))?
        .with_client_cert_verifier(verifier)
        .with_single_cert(vec![creds.cert.clone()], creds.key())
        .map_err(|e| Error::Tls(e.into()))?;
    cfg.alpn_protocols = vec![ALPN.to_vec()];
    Ok(cfg)
}

/// Where a client verifier leaves what it found.
pub(crate) type FoundNode = Arc<Mutex<Found>>;

/// The client side, for one connection to the holder of `expected`, who
/// must be enrolled if `ring` is set.
pub(crate) fn client_config(
    creds: &Credentials,
    expected: NodeId,
    ring: Option<PublicKey>,
) -> Result<(rustls::ClientConfig, FoundNode), Error> {
    let provider = provider();
    let verifier = ExpectNode::new(expected, ring, &provider);
    let found = verifier.found.clone();
    let mut cfg = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(|e| Error::Tls(e.into()))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_client_auth_cert(vec![creds.cert.clone()], creds.key())
        .map_err(|e| Error::Tls(e.into()))?;
    cfg.alpn_protocols = vec![ALPN.to_vec()];
    Ok((cfg, found))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn certificate_proves_the_node_id() {
        let id = Identity::from_secret_bytes([3; 32]);
        let creds = Credentials::new(&id, None).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(node_id_of(&creds.cert).ok(), Some(id.node_id()));
        // Any other bytes are no certificate.
        assert!(node_id_of(&CertificateDer::from(vec![0x30, 0x03, 1, 2, 3])).is_err());
    }

    #[test]
    fn a_certificate_carries_its_enrollment() {
        let ring = Identity::from_secret_bytes([9; 32]);
        let id = Identity::from_secret_bytes([3; 32]);
        let later = UnixTime(UnixTime::now().0 + 60_000);
        let enrollment = Enrollment::issue(&ring, id.node_id(), later);
        let creds = Credentials::new(&id, Some(&enrollment)).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(enrollment_of(&creds.cert), Ok(enrollment));
        assert_eq!(
            check_enrollment(&creds.cert, &id.node_id(), &ring.public_key()),
            Ok(later)
        );
        let stranger = Identity::from_secret_bytes([8; 32]);
        assert_eq!(
            check_enrollment(&creds.cert, &id.node_id(), &stranger.public_key()),
            Err(EnrollmentError::Forged)
        );
        let plain = Credentials::new(&id, None).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            check_enrollment(&plain.cert, &id.node_id(), &ring.public_key()),
            Err(EnrollmentError::Missing)
        );
        assert_eq!(node_id_of(&creds.cert).ok(), Some(id.node_id()));
    }
}
