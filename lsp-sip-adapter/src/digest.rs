//! HTTP Digest authentication for SIP (RFC 3261 section 22, RFC 8760):
//! SHA-256 and MD5, `qop=auth`, stateless nonces.
//!
//! A nonce is its issue time and a keyed blake3 MAC of that time and the
//! realm, so any process holding the secret can check it without state.
//! Nonce counts seen are remembered in a bounded table to refuse replays.

use std::collections::HashMap;
use std::fmt::{self, Debug};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ezk_sip_types::header::typed::{AuthResponse, DigestResponse, QopOption, Username};
use lsp_core::UnixTime;
use md5::Md5;
use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq;

use crate::message::Request;
use lsp_core::address_share;

mod failures;
mod nonces;

use failures::Failures;
use nonces::{Count, NonceCounts};

/// A digest algorithm offered in challenges, strongest first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Algorithm {
    /// SHA-256 (RFC 8760).
    Sha256,
    /// MD5 (RFC 2617), for the many UAs that know nothing else.
    Md5,
}

impl Algorithm {
    /// The token used in `algorithm=`.
    pub fn token(self) -> &'static str {
        match self {
            Algorithm::Sha256 => "SHA-256",
            Algorithm::Md5 => "MD5",
        }
    }

    fn from_token(token: &str) -> Option<Self> {
        if token.eq_ignore_ascii_case("SHA-256") {
            Some(Algorithm::Sha256)
        } else if token.eq_ignore_ascii_case("MD5") {
            Some(Algorithm::Md5)
        } else {
            None
        }
    }

    /// Lower-case hex of the hash of `data`.
    pub fn hex(self, data: &str) -> String {
        match self {
            Algorithm::Sha256 => to_hex(&Sha256::digest(data.as_bytes())),
            Algorithm::Md5 => to_hex(&Md5::digest(data.as_bytes())),
        }
    }
}

fn to_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// What a credential store knows about one user.
#[derive(Clone, PartialEq, Eq)]
pub enum Credential {
    /// The clear password.
    Password(String),
    /// `H(username:realm:password)` per algorithm, as lower-case hex, for
    /// stores that do not keep passwords.
    Ha1 {
        /// MD5 HA1.
        md5: Option<String>,
        /// SHA-256 HA1.
        sha256: Option<String>,
    },
}

impl Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Credential(..)")
    }
}

impl Credential {
    fn ha1(&self, alg: Algorithm, username: &str, realm: &str) -> Option<String> {
        match (self, alg) {
            (Credential::Password(p), _) => Some(alg.hex(&format!("{username}:{realm}:{p}"))),
            (Credential::Ha1 { md5, .. }, Algorithm::Md5) => md5.clone(),
            (Credential::Ha1 { sha256, .. }, Algorithm::Sha256) => sha256.clone(),
        }
    }
}

/// Where the registrar looks up users. Implement it over your user database.
pub trait CredentialStore: Send + Sync + Debug {
    /// The credential of `username` in `realm`, or `None` if unknown.
    fn lookup(&self, username: &str, realm: &str) -> Option<Credential>;
}

/// A credential store held in memory.
#[derive(Debug, Default, Clone)]
pub struct StaticCredentials {
    users: HashMap<(String, String), Credential>,
}

impl StaticCredentials {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `username`'s password in `realm`.
    pub fn with_password(mut self, username: &str, realm: &str, password: &str) -> Self {
        self.users.insert(
            (username.to_owned(), realm.to_ascii_lowercase()),
            Credential::Password(password.to_owned()),
        );
        self
    }

    /// Adds a credential of any kind.
    pub fn insert(&mut self, username: &str, realm: &str, credential: Credential) {
        self.users.insert(
            (username.to_owned(), realm.to_ascii_lowercase()),
            credential,
        );
    }
}

impl CredentialStore for StaticCredentials {
    fn lookup(&self, username: &str, realm: &str) -> Option<Credential> {
        self.users
            .get(&(username.to_owned(), realm.to_ascii_lowercase()))
            .cloned()
    }
}

/// The verdict on a request's credentials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Authenticated as this user.
    Authenticated(String),
    /// No usable credentials: answer 401 with fresh challenges. `stale` says
    /// the credentials were right but the nonce has expired.
    Challenge {
        /// Whether to set `stale=true`.
        stale: bool,
    },
    /// Credentials that cannot be right (bad response, replayed nonce count,
    /// wrong URI): answer 403 with this reason.
    Refused(&'static str),
    /// An `Authorization` header that does not parse: 400.
    Malformed,
}

/// Most users whose nonce counts are remembered at once (each holds at
/// most `nonces::PER_USER`).
const MAX_TRACKED_USERS: usize = 65_536;

/// Digest authentication for one server.
pub struct DigestAuth {
    credentials: Arc<dyn CredentialStore>,
    secret: [u8; 32],
    nonce_lifetime: Duration,
    algorithms: Vec<Algorithm>,
    counts: Mutex<NonceCounts>,
    failures: Mutex<Failures>,
    serial: AtomicU64,
}

impl Debug for DigestAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DigestAuth")
            .field("credentials", &self.credentials)
            .field("nonce_lifetime", &self.nonce_lifetime)
            .field("algorithms", &self.algorithms)
            .finish_non_exhaustive()
    }
}

impl DigestAuth {
    /// Authentication against `credentials`, offering SHA-256 then MD5, with
    /// nonces that live five minutes.
    pub fn new(credentials: Arc<dyn CredentialStore>) -> Self {
        let mut secret = [0u8; 32];
        // Without OS randomness, fall back to a per-process hash of the time;
        // nonces stay unforgeable as long as that stays unknown.
        if getrandom::fill(&mut secret).is_err() {
            secret = *blake3::hash(&UnixTime::now().as_millis().to_le_bytes()).as_bytes();
        }
        Self {
            credentials,
            secret,
            nonce_lifetime: Duration::from_secs(300),
            // SHA-256 is opt-in: common UAs (baresip 1.0, sipp 3.6) fail
            // when it is offered at all, in any order.
            algorithms: vec![Algorithm::Md5],
            counts: Mutex::new(NonceCounts::new(MAX_TRACKED_USERS)),
            failures: Mutex::new(Failures::new(MAX_TRACKED_USERS)),
            serial: AtomicU64::new(0),
        }
    }

    /// Uses `secret` for nonces, so that several servers accept each other's.
    pub fn with_secret(mut self, secret: [u8; 32]) -> Self {
        self.secret = secret;
        self
    }

    /// Sets how long a nonce is accepted.
    pub fn with_nonce_lifetime(mut self, lifetime: Duration) -> Self {
        self.nonce_lifetime = lifetime;
        self
    }

    /// Sets the algorithms offered, in order of preference.
    pub fn with_algorithms(mut self, algorithms: Vec<Algorithm>) -> Self {
        if !algorithms.is_empty() {
            self.algorithms = algorithms;
        }
        self
    }

    /// Whether the credential store knows `username` in `realm`.
    pub fn knows(&self, username: &str, realm: &str) -> bool {
        self.credentials.lookup(username, realm).is_some()
    }

    /// `WWW-Authenticate` values for a 401, one per algorithm.
    pub fn challenges(&self, realm: &str, stale: bool, now: UnixTime) -> Vec<String> {
        let nonce = self.fresh_nonce(realm, now.as_millis() / 1000);
        self.algorithms
            .iter()
            .map(|alg| {
                let mut v = format!(
                    "Digest realm=\"{realm}\", nonce=\"{nonce}\", algorithm={}, qop=\"auth\"",
                    alg.token()
                );
                if stale {
                    v.push_str(", stale=true");
                }
                v
            })
            .collect()
    }

    /// A fresh nonce: issue time, a serial that makes every challenge's
    /// nonce count start afresh, and the MAC of both with the realm.
    fn fresh_nonce(&self, realm: &str, issued: u64) -> String {
        let serial = self.serial.fetch_add(1, Ordering::Relaxed);
        self.nonce(realm, issued, serial)
    }

    fn nonce(&self, realm: &str, issued: u64, serial: u64) -> String {
        let mut h = blake3::Hasher::new_keyed(&self.secret);
        h.update(&issued.to_be_bytes());
        h.update(&serial.to_be_bytes());
        h.update(realm.to_ascii_lowercase().as_bytes());
        format!("{issued:016x}{serial:016x}{}", &h.finalize().to_hex()[..32])
    }

    /// Checks the request's `Authorization` for `realm`.
    pub fn verify(&self, request: &Request, realm: &str, now: UnixTime) -> Verdict {
        for raw in request.header_values("Authorization") {
            let Some(response) = parse_digest(raw) else {
                return Verdict::Malformed;
            };
            if !response.realm.eq_ignore_ascii_case(realm) {
                continue;
            }
            return self.verify_one(request, &response, realm, now);
        }
        Verdict::Challenge { stale: false }
    }

    fn verify_one(
        &self,
        request: &Request,
        response: &DigestResponse,
        realm: &str,
        now: UnixTime,
    ) -> Verdict {
        let alg = match &response.algorithm {
            ezk_sip_types::header::typed::Algorithm::AlgorithmValue(v) => {
                Algorithm::from_token(&v.to_string())
            }
            _ => None,
        };
        let Some(alg) = alg.filter(|a| self.algorithms.contains(a)) else {
            return Verdict::Challenge { stale: false };
        };
        let username = match &response.username {
            Username::Username(u) => u.to_string(),
            Username::UsernameNonASCII(_) => return Verdict::Refused("Unsupported username*"),
        };
        if response.uri.as_str() != request.uri_text {
            return Verdict::Refused("Digest uri does not match the Request-URI");
        }
        let nonce = response.nonce.as_str();
        let field = |range: std::ops::Range<usize>| {
            nonce
                .get(range)
                .and_then(|t| u64::from_str_radix(t, 16).ok())
        };
        let (Some(issued), Some(serial)) = (field(0..16), field(16..32)) else {
            return Verdict::Challenge { stale: false };
        };
        if !constant_time_eq(nonce, &self.nonce(realm, issued, serial)) {
            return Verdict::Challenge { stale: false };
        }
        let source = request.source().map(|s| address_share(s.ip()));
        let now_ms = now.as_millis();
        if !lock(&self.failures).may_try(&username, source, now_ms) {
            return Verdict::Refused("Too many failed attempts; wait");
        }
        let wrong = || {
            lock(&self.failures).failed(&username, source, now_ms);
            Verdict::Refused("Unknown user or wrong password")
        };
        let Some(credential) = self.credentials.lookup(&username, realm) else {
            return wrong();
        };
        let Some(ha1) = credential.ha1(alg, &username, realm) else {
            return Verdict::Challenge { stale: false };
        };
        let ha2 = alg.hex(&format!("{}:{}", request.method, response.uri));
        let expected = match &response.qop_response {
            Some(q) if q.qop == QopOption::Auth => alg.hex(&format!(
                "{ha1}:{nonce}:{:08x}:{}:auth:{ha2}",
                q.nc, q.cnonce
            )),
            Some(_) => return Verdict::Refused("Unsupported qop"),
            None => alg.hex(&format!("{ha1}:{nonce}:{ha2}")),
        };
        if !constant_time_eq(&expected, &response.response.to_ascii_lowercase()) {
            return wrong();
        }
        lock(&self.failures).succeeded(&username, source);
        let now_s = now.as_millis() / 1000;
        if now_s.saturating_sub(issued) > self.nonce_lifetime.as_secs() {
            return Verdict::Challenge { stale: true };
        }
        // Without qop a response carries no count and could be replayed,
        // with any Contact, for the nonce's lifetime: such a nonce serves
        // once, and its next use gets a fresh challenge.
        let nc = response.qop_response.as_ref().map_or(1, |q| q.nc);
        let horizon = now_s.saturating_sub(self.nonce_lifetime.as_secs());
        let count = lock(&self.counts).take(&username, serial, issued, nc, horizon);
        match count {
            Count::Fresh => Verdict::Authenticated(username),
            Count::Replayed if response.qop_response.is_some() => {
                Verdict::Refused("Replayed nonce count")
            }
            Count::Replayed | Count::Stale => Verdict::Challenge { stale: true },
            Count::Full => Verdict::Refused("Too many users authenticating; retry later"),
        }
    }
}

/// A table behind a lock that a panic elsewhere left as consistent as any
/// single update does.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn parse_digest(raw: &str) -> Option<DigestResponse> {
    let src = bytes::Bytes::copy_from_slice(raw.trim().as_bytes());
    let text = std::str::from_utf8(&src).ok()?;
    match <AuthResponse as ezk_sip_types::header::HeaderParse>::parse(&src, text) {
        Ok((rest, AuthResponse::Digest(d))) if rest.trim().is_empty() => Some(d),
        _ => None,
    }
}

/// Compares in time that does not depend on where the texts differ (their
/// lengths are public: hex digests and nonces of fixed shape).
fn constant_time_eq(a: &str, b: &str) -> bool {
    a.as_bytes().ct_eq(b.as_bytes()).into()
}

/// Computes a client's `Authorization` value, for tests and for UAs that
/// register to a digest-protected registrar.
#[allow(clippy::too_many_arguments)]
pub fn authorization(
    alg: Algorithm,
    username: &str,
    password: &str,
    realm: &str,
    nonce: &str,
    method: &str,
    uri: &str,
    nc: u32,
    cnonce: &str,
) -> String {
    let ha1 = alg.hex(&format!("{username}:{realm}:{password}"));
    let ha2 = alg.hex(&format!("{method}:{uri}"));
    let response = alg.hex(&format!("{ha1}:{nonce}:{nc:08x}:{cnonce}:auth:{ha2}"));
    format!(
        "Digest username=\"{username}\", realm=\"{realm}\", nonce=\"{nonce}\", uri=\"{uri}\", \
         response=\"{response}\", algorithm={}, qop=auth, nc={nc:08x}, cnonce=\"{cnonce}\"",
        alg.token()
    )
}
