//! The request handler: registrar and redirect server over any
//! [`LocationService`]. Each REGISTER becomes one signed publish, each
//! INVITE one query; the registrar remembers only what it last published
//! (bounded in bytes), to spare reading it back.

use std::borrow::Cow;
use std::fmt::{self, Debug};
use std::net::SocketAddr;
use std::sync::{Arc, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use ezk_sip_types::Method;
use lsp_core::{
    Aor, Binding, Clock, Error as LsError, Identity, LocationService, Record, SystemClock, UnixTime,
};
use tokio::sync::Mutex;

use crate::digest::{CredentialStore, DigestAuth, Verdict};
use crate::message::{Request, Response};
use crate::observe::{AnswerObserver, MethodKind};
use crate::recent::Recent;
use crate::registrar::{self, ExpiryLimits, RegisterOp};
use crate::tags::ToTags;

/// Option tags this server implements.
const SUPPORTED: &[&str] = &["path", "outbound"];
const ALLOW: &str = "INVITE, ACK, CANCEL, OPTIONS, REGISTER";
/// Stripes of the per-AOR lock that serializes read-modify-publish. Two
/// REGISTERs of different AORs that share a stripe wait for each other,
/// which over a ring is a round trip each: with 256 stripes, half of 200
/// concurrent REGISTERs waited so; with 4,096, one in twenty.
const LOCK_STRIPES: usize = 4096;
/// Most Contacts a 302 lists.
const MAX_REDIRECT_CONTACTS: usize = 16;
/// Bytes of records a registrar remembers having published, by default.
const RECENT_BYTES: usize = 32 << 20;

/// How a [`SipService`] behaves.
#[derive(Clone)]
pub struct SipConfig {
    /// The key a registrar signs with; none for a redirect-only server.
    identity: Option<Arc<Identity>>,
    domains: Vec<String>,
    registrar: bool,
    redirect: bool,
    limits: ExpiryLimits,
    max_contacts: usize,
    auth: Option<Arc<DigestAuth>>,
    unauthenticated: bool,
    clock: Arc<dyn Clock>,
    server: String,
    recent_bytes: usize,
}

impl Debug for SipConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SipConfig")
            .field("publisher", &self.identity.as_ref().map(|i| i.node_id()))
            .field("domains", &self.domains)
            .field("registrar", &self.registrar)
            .field("redirect", &self.redirect)
            .field("limits", &self.limits)
            .field("auth", &self.auth)
            .finish_non_exhaustive()
    }
}

impl SipConfig {
    /// A registrar and redirect server that signs its publishes with
    /// `identity` (the domain key that the access policy trusts). Add the
    /// served domains and either credentials or
    /// [`allow_unauthenticated`](Self::allow_unauthenticated).
    pub fn new(identity: impl Into<Arc<Identity>>) -> Self {
        Self::signing_with(Some(identity.into()))
    }

    /// A redirect server alone: no registrar, so no key and no
    /// credentials. Out-of-dialog requests get a 302 with the live
    /// Contacts the Location Service holds.
    pub fn redirect_only() -> Self {
        Self::signing_with(None)
    }

    fn signing_with(identity: Option<Arc<Identity>>) -> Self {
        Self {
            registrar: identity.is_some(),
            identity,
            domains: Vec::new(),
            redirect: true,
            limits: ExpiryLimits::default(),
            max_contacts: 16,
            auth: None,
            unauthenticated: false,
            clock: Arc::new(SystemClock),
            server: "lsp-sip-adapter".into(),
            recent_bytes: RECENT_BYTES,
        }
    }

    /// Serves `domain`: REGISTERs for its AORs are accepted, and the
    /// redirect server answers for it. With no domain, the registrar refuses
    /// everything and the redirect server answers for any domain.
    pub fn serve_domain(mut self, domain: &str) -> Self {
        self.domains.push(domain.to_ascii_lowercase());
        self
    }

    /// Checks REGISTERs with digest authentication against `credentials`.
    pub fn credentials(mut self, credentials: Arc<dyn CredentialStore>) -> Self {
        self.auth = Some(Arc::new(DigestAuth::new(credentials)));
        self
    }

    /// Uses a configured [`DigestAuth`] (shared secret, lifetime, algorithms).
    pub fn digest(mut self, auth: Arc<DigestAuth>) -> Self {
        self.auth = Some(auth);
        self
    }

    /// Accepts REGISTERs with no authentication. Only for closed networks
    /// and tests: anyone can then move anyone's calls.
    pub fn allow_unauthenticated(mut self) -> Self {
        self.unauthenticated = true;
        self
    }

    /// Turns the registrar on or off.
    pub fn registrar(mut self, on: bool) -> Self {
        self.registrar = on;
        self
    }

    /// Turns the redirect server on or off.
    pub fn redirect(mut self, on: bool) -> Self {
        self.redirect = on;
        self
    }

    /// Sets the expiry limits.
    pub fn expiry(mut self, limits: ExpiryLimits) -> Self {
        self.limits = limits;
        self
    }

    /// Sets the most Contacts one REGISTER may carry.
    pub fn max_contacts(mut self, n: usize) -> Self {
        self.max_contacts = n.max(1);
        self
    }

    /// How many bytes of its own last-published records the registrar
    /// keeps (32 MiB by default; 0 keeps none), so that a REGISTER of an
    /// AOR it published before goes straight to the publish instead of
    /// reading the record back first. Another registrar signing with the
    /// same key is noticed when its newer version refuses this one's
    /// publish: the REGISTER then reads the record and tries once more.
    pub fn recent_records(mut self, bytes: usize) -> Self {
        self.recent_bytes = bytes;
        self
    }

    /// Uses `clock` instead of the system clock.
    pub fn clock(mut self, clock: impl Clock + 'static) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    fn serves(&self, host: &str) -> bool {
        self.domains.iter().any(|d| d.eq_ignore_ascii_case(host))
    }
}

/// Errors in setting up the SIP side.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A registrar serving a domain with neither credentials nor an explicit
    /// opt-out of authentication.
    #[error(
        "a registrar that serves a domain needs credentials: call .credentials() or .digest(), \
         or .allow_unauthenticated() on a closed network, or .registrar(false) \
         (or SipConfig::redirect_only()) for a redirect server alone"
    )]
    NoCredentials,
    /// The registrar was turned on in a config made without a key.
    #[error(
        "a registrar signs what it publishes: make the config with SipConfig::new(key), \
         or keep it redirect-only"
    )]
    NoIdentity,
    /// A listener could not bind.
    #[error("cannot bind {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The OS error.
        source: std::io::Error,
    },
}

/// The registrar and redirect server, independent of sockets.
pub struct SipService {
    service: Arc<dyn LocationService>,
    config: SipConfig,
    locks: Box<[Mutex<()>]>,
    /// What the registrar last published, read and written only under the
    /// AOR's stripe lock.
    recent: std::sync::Mutex<Recent>,
    tags: Arc<ToTags>,
    observer: Option<Arc<dyn AnswerObserver>>,
}

impl Debug for SipService {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SipService")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl SipService {
    /// A handler over `service`.
    pub fn new(
        service: impl LocationService + 'static,
        config: SipConfig,
    ) -> Result<Self, ConfigError> {
        let service: Arc<dyn LocationService> = Arc::new(service);
        if config.registrar && config.identity.is_none() {
            return Err(ConfigError::NoIdentity);
        }
        if config.registrar
            && !config.domains.is_empty()
            && config.auth.is_none()
            && !config.unauthenticated
        {
            return Err(ConfigError::NoCredentials);
        }
        Ok(Self {
            service,
            recent: std::sync::Mutex::new(Recent::new(config.recent_bytes)),
            config,
            locks: (0..LOCK_STRIPES).map(|_| Mutex::new(())).collect(),
            tags: Arc::new(ToTags::new()),
            observer: None,
        })
    }

    /// Tells `observer` of every answer from here on (for metrics).
    pub fn with_observer(mut self, observer: Arc<dyn AnswerObserver>) -> Self {
        self.observer = Some(observer);
        self
    }

    /// The To tags this service puts on its responses, for a server that
    /// answers some requests itself.
    pub(crate) fn to_tags(&self) -> Arc<ToTags> {
        self.tags.clone()
    }

    /// The response to `request`, or `None` for a request that gets none
    /// (ACK). `source` is where it came from.
    pub async fn handle(&self, request: &Request, source: SocketAddr) -> Option<Response> {
        let started = Instant::now();
        let request = if request.is_stamped_for(source) {
            Cow::Borrowed(request)
        } else {
            let mut stamped = request.clone();
            stamped.stamp_source(source);
            Cow::Owned(stamped)
        };
        let request = &*request;
        let method = &request.method;
        let response = if *method == Method::ACK {
            return None;
        } else if *method == Method::REGISTER {
            match &self.config.identity {
                Some(identity) if self.config.registrar => self.register(request, identity).await,
                _ => not_allowed(request),
            }
        } else if *method == Method::OPTIONS {
            self.options(request)
        } else if *method == Method::CANCEL {
            request.response(481, "Call/Transaction Does Not Exist")
        } else if self.config.redirect {
            self.redirect(request).await
        } else {
            not_allowed(request)
        };
        let response = if response.code > 100 {
            response.with_to_tag(self.tags.tag(request, source.ip()))
        } else {
            response
        };
        if let Some(observer) = &self.observer {
            observer.answered(MethodKind::of(method), response.code, started.elapsed());
        }
        let mut response = response.with_header("Server", self.config.server.clone());
        if let Some(budget) = request.response_budget() {
            response.fit(budget);
        }
        Some(response)
    }

    fn options(&self, request: &Request) -> Response {
        request
            .response(200, "OK")
            .with_header("Allow", ALLOW)
            .with_header("Accept", "application/sdp")
            .with_header("Supported", SUPPORTED.join(", "))
    }

    async fn register(&self, request: &Request, identity: &Arc<Identity>) -> Response {
        let now = self.config.clock.now();
        if !self.config.serves(&host_of(&request.uri)) {
            return request.response(404, "Domain not served here");
        }
        let unsupported: Vec<String> = request
            .header_values("Require")
            .flat_map(|v| v.split(','))
            .map(|o| o.trim().to_owned())
            .filter(|o| !o.is_empty() && !SUPPORTED.iter().any(|s| s.eq_ignore_ascii_case(o)))
            .collect();
        if !unsupported.is_empty() {
            return request
                .response(420, "Bad Extension")
                .with_header("Unsupported", unsupported.join(", "));
        }
        let aor = match Aor::parse(&request.to_uri) {
            Ok(aor) => aor,
            Err(e) => return request.response(400, format!("Invalid To AOR ({e})")),
        };
        if !self.config.serves(aor.host()) {
            return request.response(403, "AOR outside the served domains");
        }
        if let Some(auth) = &self.config.auth {
            let realm = aor.host().to_owned();
            match auth.verify(request, &realm, now) {
                Verdict::Authenticated(user) => {
                    if aor.user() != Some(user.as_str()) {
                        return request.response(403, "User may not register this AOR");
                    }
                }
                Verdict::Challenge { stale } => {
                    let mut r = request.response(401, "Unauthorized");
                    for c in auth.challenges(&realm, stale, now) {
                        r = r.with_header("WWW-Authenticate", c);
                    }
                    return r;
                }
                Verdict::Refused(reason) => return request.response(403, reason),
                Verdict::Malformed => return request.response(400, "Malformed Authorization"),
            }
        }
        let op = match registrar::register_op(
            request,
            self.config.limits,
            self.config.max_contacts,
            now,
        ) {
            Ok(op) => op,
            Err(r) => {
                let resp = request.response(r.code, r.reason);
                return if r.code == 423 {
                    resp.with_header("Min-Expires", self.config.limits.min.to_string())
                } else {
                    resp
                };
            }
        };

        let id = aor.resource_id();
        let stripe = usize::from(u16::from_be_bytes([id.0[0], id.0[1]])) % self.locks.len();
        let _guard = self.locks[stripe].lock().await;
        let recent = || self.recent.lock().unwrap_or_else(PoisonError::into_inner);
        // A REGISTER that only asks is always read from the service.
        let mut remembered = (op != RegisterOp::Fetch)
            .then(|| recent().get(&aor, now))
            .flatten();
        loop {
            let from_memory = remembered.is_some();
            let (previous, current) = match remembered.take() {
                Some(found) => found,
                None => match self.own_bindings(&aor, identity, now).await {
                    Ok(found) => found,
                    Err(e) => return service_error(request, &e),
                },
            };
            let bindings = match registrar::apply(&current, &op, &request.call_id, request.cseq) {
                Ok(b) => b,
                // What is remembered may be behind: ask the service.
                Err(_) if from_memory => {
                    recent().forget(&aor);
                    continue;
                }
                Err(r) => return request.response(r.code, r.reason),
            };
            if op == RegisterOp::Fetch {
                return self.ok_with_bindings(request, &bindings, now);
            }
            // From memory, on condition that the owners hold nothing newer
            // than this registrar's last version: if another registrar
            // with this key published since, the publish is refused as a
            // replay instead of overwriting its bindings. The version is
            // the clock's, as repair expects of a fresh write.
            let version = Record::next_version(previous);
            let mut record = Record::new(aor.clone(), version);
            record.bindings = bindings.clone();
            let published = match previous {
                Some(v) if from_memory => {
                    self.service.publish_as_replacing(identity, record, v).await
                }
                _ => self.service.publish_as(identity, record).await,
            };
            match published {
                Ok(_) => {
                    recent().put(&aor, version, &bindings);
                    return self.ok_with_bindings(request, &bindings, now);
                }
                // Another registrar with this key published since.
                Err(LsError::Replay { .. }) if from_memory => recent().forget(&aor),
                Err(e) => {
                    recent().forget(&aor);
                    return service_error(request, &e);
                }
            }
        }
    }

    /// This registrar's live bindings of `aor` and the version they carry.
    async fn own_bindings(
        &self,
        aor: &Aor,
        identity: &Identity,
        now: UnixTime,
    ) -> Result<(Option<u64>, Vec<Binding>), LsError> {
        let key = identity.public_key();
        let records = match self.service.fetch(aor).await {
            Ok(r) => r,
            Err(LsError::NotFound(_)) => return Ok((None, Vec::new())),
            Err(e) => return Err(e),
        };
        // Fetched records are checked by the service (its contract).
        let own = records
            .into_iter()
            .filter(|r| r.publisher == key)
            .max_by_key(|r| r.record.version);
        Ok(match own {
            None => (None, Vec::new()),
            Some(r) => {
                let version = r.record.version;
                let live = r
                    .record
                    .bindings
                    .into_iter()
                    .filter(|b| b.is_live(now))
                    .collect();
                (Some(version), live)
            }
        })
    }

    fn ok_with_bindings(&self, request: &Request, bindings: &[Binding], now: UnixTime) -> Response {
        let mut sorted = bindings.to_vec();
        lsp_core::sort_contacts(&mut sorted);
        let mut r = request.response(200, "OK");
        for b in sorted.iter().filter(|b| b.check_well_formed().is_ok()) {
            r = r.with_header("Contact", registrar::contact_value(b, now));
        }
        if request.lists_option("Supported", "path") {
            for p in request.header_values("Path") {
                r = r.with_header("Path", p.to_owned());
            }
        }
        if sorted.iter().any(|b| b.reg_id.is_some()) {
            r = r.with_header("Require", "outbound");
        }
        let date = SystemTime::UNIX_EPOCH + Duration::from_millis(now.as_millis());
        r.with_header("Date", httpdate::fmt_http_date(date))
    }

    fn knows(&self, aor: &Aor) -> bool {
        match (&self.config.auth, aor.user()) {
            (Some(auth), Some(user)) => {
                self.config.serves(aor.host()) && auth.knows(user, aor.host())
            }
            _ => false,
        }
    }

    async fn redirect(&self, request: &Request) -> Response {
        if request.to_tag.is_some() {
            return request.response(481, "Call/Transaction Does Not Exist");
        }
        if request.max_forwards == 0 {
            return request.response(483, "Too Many Hops");
        }
        let Ok(aor) = Aor::parse(&request.uri_text) else {
            return request.response(404, "Not Found (not an AOR)");
        };
        if !self.config.domains.is_empty() && !self.config.serves(aor.host()) {
            return request.response(404, "Domain not served here");
        }
        let now = self.config.clock.now();
        match self.service.query(&aor).await {
            // A user the domain knows is offline; anyone else does not exist.
            Err(LsError::NotFound(_)) if self.knows(&aor) => {
                request.response(480, "Temporarily Unavailable")
            }
            Err(LsError::NotFound(_)) => request.response(404, "Not Found"),
            Err(e) => service_error(request, &e),
            Ok(bindings) => {
                // A binding whose text would break the message is never
                // printed, whoever stored it.
                let live: Vec<&Binding> = bindings
                    .iter()
                    .filter(|b| b.is_live(now) && b.check_well_formed().is_ok())
                    .collect();
                if live.is_empty() {
                    return request.response(480, "Temporarily Unavailable");
                }
                // Toward an address not proved, as many Contacts as fit the
                // request's budget (the first always), best first: a redirect
                // may list any of the bindings.
                let mut r = request.response(302, "Moved Temporarily");
                let mut room = request
                    .response_budget()
                    .map(|max| max.saturating_sub(r.to_bytes().len() + REDIRECT_TAIL));
                for (i, b) in live.into_iter().take(MAX_REDIRECT_CONTACTS).enumerate() {
                    let value = registrar::contact_value(b, now);
                    let cost = "Contact: \r\n".len() + value.len();
                    if let Some(room) = &mut room {
                        if i > 0 && cost > *room {
                            break;
                        }
                        *room = room.saturating_sub(cost);
                    }
                    r = r.with_header("Contact", value);
                }
                r
            }
        }
    }
}

/// What a 302 gains after its Contacts: its To tag and Server header.
const REDIRECT_TAIL: usize = 128;

fn host_of(uri: &ezk_sip_types::uri::SipUri) -> String {
    match &uri.host_port.host {
        ezk_sip_types::host::Host::Name(n) => n.to_ascii_lowercase(),
        ezk_sip_types::host::Host::IP4(ip) => ip.to_string(),
        ezk_sip_types::host::Host::IP6(ip) => format!("[{ip}]"),
    }
}

fn not_allowed(request: &Request) -> Response {
    request
        .response(405, "Method Not Allowed")
        .with_header("Allow", ALLOW)
}

/// Seconds a UA waits before it tries an isolated registrar again: about
/// the time a node takes to find its ring again once its link is back.
const ISOLATED_RETRY_AFTER: &str = "30";

fn service_error(request: &Request, e: &LsError) -> Response {
    // An operator sees the answer's code in the metrics; the cause is here.
    tracing::debug!("the Location Service failed a request: {e}");
    match e {
        LsError::Unauthorized(_) | LsError::WrongKey { .. } => {
            request.response(403, "Location Service refused this registrar's key")
        }
        LsError::StoreFull(_) | LsError::Overloaded(_) => request
            .response(503, "Location Service full")
            .with_header("Retry-After", "60"),
        // Cut off from the ring: whatever it stored here no caller would
        // find. A 503 makes the UA fail over to another registrar
        // (RFC 3263 section 4.3) and come back later.
        LsError::Isolated { .. } => request
            .response(503, "Location Service isolated from its ring")
            .with_header("Retry-After", ISOLATED_RETRY_AFTER),
        // The ring does not take this node as a member (a closed ring it is
        // not enrolled in): another registrar may serve.
        LsError::NotAdmitted(_) => request
            .response(503, "Location Service not admitted to its ring")
            .with_header("Retry-After", ISOLATED_RETRY_AFTER),
        LsError::Timeout
        | LsError::Unreachable(_)
        | LsError::NoRoute { .. }
        | LsError::Closed
        | LsError::NotJoined => request
            .response(503, "Location Service unavailable")
            .with_header("Retry-After", "5"),
        LsError::InvalidBinding(_) => request.response(400, "Invalid binding"),
        LsError::Replay { .. } => request
            .response(500, "Concurrent update, retry")
            .with_header("Retry-After", "1"),
        _ => request.response(500, "Location Service error"),
    }
}
