//! The TOML configuration: what an operator writes, checked into what the
//! node runs with. Every error names the field at fault.

use std::net::SocketAddr;
use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};
use std::time::Duration;

use lsp_core::store::StoreLimits;
use lsp_core::{PeerAddr, PublicKey};
use serde::Deserialize;

/// A configuration that cannot run, with the field that is wrong.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("{path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// TOML syntax, an unknown field or a value of the wrong type.
    #[error("{path}: {message}")]
    Syntax {
        /// The file.
        path: PathBuf,
        /// The parser's message, which names the key and the line.
        message: String,
    },
    /// The file holds SIP passwords and others may read it.
    #[error("{}: holds SIP passwords and has mode {mode:o}; others must not read it (chmod 600)", path.display())]
    Readable {
        /// The file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// A value that parses but cannot be used.
    #[error("{field}: {message}")]
    Invalid {
        /// The dotted path of the field.
        field: String,
        /// What is wrong with it.
        message: String,
    },
}

/// Refuses a file that others may read, as key files are refused.
#[cfg(unix)]
fn private(path: &Path) -> Result<(), ConfigError> {
    use std::os::unix::fs::PermissionsExt;
    let meta = std::fs::metadata(path).map_err(|source| ConfigError::Read {
        path: path.to_owned(),
        source,
    })?;
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(ConfigError::Readable {
            path: path.to_owned(),
            mode,
        });
    }
    Ok(())
}

#[cfg(not(unix))]
fn private(_: &Path) -> Result<(), ConfigError> {
    Ok(())
}

fn invalid(field: impl Into<String>, message: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        field: field.into(),
        message: message.into(),
    }
}

/// The whole file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeConfig {
    /// The node's ed25519 secret key, created (mode 0600) on first run.
    pub identity_file: PathBuf,
    /// QUIC listen address; for a client, the local address its outgoing
    /// connections use (`0.0.0.0:0` picks a port).
    pub listen: SocketAddr,
    /// A ring member (the default) or a client of the ring.
    #[serde(default)]
    pub role: Role,
    /// Peers to join through, as `<node-id>@<address>`; none starts a ring.
    /// A client uses them as its members.
    #[serde(default)]
    pub bootstrap: Vec<String>,
    /// Nodes that hold each record.
    #[serde(default = "default_replication")]
    pub replication: usize,
    /// Store limits.
    #[serde(default)]
    pub storage: StorageConfig,
    /// Ring upkeep timers.
    #[serde(default)]
    pub timers: TimersConfig,
    /// Who may write which AOR.
    pub policy: PolicyConfig,
    /// Who may be a ring member.
    #[serde(default)]
    pub admission: AdmissionConfig,
    /// The HTTP status endpoint.
    #[serde(default)]
    pub status: StatusConfig,
    /// SIP registrar and redirect server, if any.
    pub sip: Option<SipSection>,
    /// Worker threads of the daemon's runtime; by default one per core.
    /// Several daemons sharing a few cores run best with fewer each.
    #[serde(default)]
    pub threads: Option<NonZeroUsize>,
}

/// `[admission]`: who may be a member of the ring. Every node of a ring
/// must use the same.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdmissionConfig {
    /// `any` (the default): any Node-ID; `open`: a member's Node-ID must
    /// carry `work_bits` bits of proof of work; `closed`: a member must
    /// hold an enrollment signed by the ring's key. Clients need neither.
    #[serde(default)]
    pub mode: AdmissionMode,
    /// Bits of work for `open`: each bit doubles the time to make a
    /// Node-ID (20 bits: about 20 s of one core).
    #[serde(default = "default_work_bits")]
    pub work_bits: u32,
    /// For `closed`: the public key (64 hex digits) of the ring's
    /// enrollment key, as `lsp-node keygen` printed it.
    pub ring_key: Option<String>,
    /// For `closed`, on a member: the file holding this node's enrollment,
    /// as `lsp-node enroll` printed it.
    pub enrollment_file: Option<PathBuf>,
}

impl Default for AdmissionConfig {
    fn default() -> Self {
        Self {
            mode: AdmissionMode::Any,
            work_bits: default_work_bits(),
            ring_key: None,
            enrollment_file: None,
        }
    }
}

fn default_work_bits() -> u32 {
    20
}

impl AdmissionConfig {
    /// The rule the ring and this node apply.
    pub fn rule(&self) -> lsp_core::Admission {
        match (self.mode, self.ring_public_key()) {
            (AdmissionMode::Work, _) => lsp_core::Admission::Work {
                bits: self.work_bits,
            },
            (AdmissionMode::Closed, Some(ring)) => lsp_core::Admission::Enrolled { ring },
            // `check` refuses a closed ring without a key.
            (AdmissionMode::Any | AdmissionMode::Closed, _) => lsp_core::Admission::Any,
        }
    }

    /// The ring's enrollment key, if set and well formed.
    pub fn ring_public_key(&self) -> Option<lsp_core::PublicKey> {
        self.ring_key
            .as_deref()
            .and_then(|k| lsp_core::PublicKey::from_hex(k).ok())
    }

    fn check(&self, role: Role) -> Result<(), ConfigError> {
        if self.work_bits > 32 {
            return Err(invalid(
                "admission.work_bits",
                "must be at most 32 (each bit doubles the time to make a key)",
            ));
        }
        if self.mode != AdmissionMode::Closed {
            return Ok(());
        }
        if self.ring_public_key().is_none() {
            return Err(invalid(
                "admission.ring_key",
                "a closed ring needs the public key of its enrollment key (64 hex digits)",
            ));
        }
        if role == Role::Member && self.enrollment_file.is_none() {
            return Err(invalid(
                "admission.enrollment_file",
                "a member of a closed ring needs its enrollment (`lsp-node enroll`), \
                 or run as role = \"client\"",
            ));
        }
        Ok(())
    }
}

/// `admission.mode`.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AdmissionMode {
    /// Any Node-ID may be a member.
    #[default]
    Any,
    /// Members' Node-IDs carry proof of work: a proof-of-work ring,
    /// `mode = "work"` (`"open"`, its older name, is read too).
    #[serde(alias = "open")]
    Work,
    /// Members hold an enrollment signed by the ring's key.
    Closed,
}

/// How the node takes part in the ring.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Holds a range of the ring, stores records for others, keeps the
    /// ring up; listens for QUIC connections.
    #[default]
    Member,
    /// Uses the ring through its bootstrap peers without joining: no
    /// range, no listening port (a SIP front that does not want to store a
    /// range, or a node behind NAT).
    Client,
}

fn default_replication() -> usize {
    3
}

/// `[storage]`: what one node agrees to hold.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StorageConfig {
    /// Most records.
    pub max_records: Option<usize>,
    /// Most bytes of records.
    pub max_bytes: Option<usize>,
    /// Most bindings in one record.
    pub max_bindings: Option<usize>,
    /// Longest binding lifetime accepted, in seconds.
    pub max_ttl_secs: Option<u64>,
}

/// `[timers]`: how often the ring is kept up, in milliseconds. Shorter
/// heals faster and costs more messages.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimersConfig {
    /// Stabilize with the successor.
    pub stabilize_ms: Option<u64>,
    /// Refresh one finger.
    pub fix_fingers_ms: Option<u64>,
    /// Ping the predecessor.
    pub check_predecessor_ms: Option<u64>,
    /// Wait for one answer before retrying.
    pub request_timeout_ms: Option<u64>,
    /// Compare the records this node is primary for with its replicas.
    pub repair_ms: Option<u64>,
    /// Silence from every peer after which the node counts as isolated:
    /// `/health` answers 503 and the ring refuses writes.
    pub isolation_ms: Option<u64>,
}

impl TimersConfig {
    fn check(&self) -> Result<(), ConfigError> {
        let fields = [
            ("timers.stabilize_ms", self.stabilize_ms),
            ("timers.fix_fingers_ms", self.fix_fingers_ms),
            ("timers.check_predecessor_ms", self.check_predecessor_ms),
            ("timers.request_timeout_ms", self.request_timeout_ms),
            ("timers.repair_ms", self.repair_ms),
            ("timers.isolation_ms", self.isolation_ms),
        ];
        for (field, value) in fields {
            if let Some(ms) = value
                && !(10..=3_600_000).contains(&ms)
            {
                return Err(invalid(field, "must be between 10 and 3600000 ms"));
            }
        }
        Ok(())
    }

    /// Applies the timers that are set to `config`.
    pub fn apply(&self, config: &mut lsp_chord::Config) {
        let set = |slot: &mut Duration, ms: Option<u64>| {
            if let Some(ms) = ms {
                *slot = Duration::from_millis(ms);
            }
        };
        set(&mut config.stabilize_interval, self.stabilize_ms);
        set(&mut config.fix_fingers_interval, self.fix_fingers_ms);
        set(
            &mut config.check_predecessor_interval,
            self.check_predecessor_ms,
        );
        set(&mut config.request_timeout, self.request_timeout_ms);
        set(&mut config.repair_interval, self.repair_ms);
        set(&mut config.isolation_timeout, self.isolation_ms);
    }
}

/// `[policy]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyConfig {
    /// `anchors`, `first-come` or `open`.
    pub mode: PolicyMode,
    /// For `anchors`: what AORs of other domains get.
    #[serde(default)]
    pub unanchored: Unanchored,
    /// For `anchors`: the registrar keys of each domain.
    #[serde(default)]
    pub anchors: Vec<AnchorConfig>,
}

/// The access policies a node can run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PolicyMode {
    /// Domain trust anchors.
    Anchors,
    /// First come, first served (pure P2P).
    FirstCome,
    /// Anyone writes anything (closed networks and tests).
    Open,
}

/// What `anchors` does with an AOR whose domain has no anchor.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Unanchored {
    /// Refuse it.
    #[default]
    Refuse,
    /// First come, first served: UAs may self-register there.
    FirstCome,
}

/// `[[policy.anchors]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AnchorConfig {
    /// The domain.
    pub domain: String,
    /// A registrar public key for it, 64 hex digits.
    pub key: String,
}

/// `[status]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatusConfig {
    /// Where the HTTP status endpoint listens; loopback only unless
    /// `allow_remote`.
    #[serde(default = "default_status")]
    pub listen: Option<SocketAddr>,
    /// Lets the endpoint listen on a non-loopback address.
    #[serde(default)]
    pub allow_remote: bool,
}

impl Default for StatusConfig {
    fn default() -> Self {
        Self {
            listen: default_status(),
            allow_remote: false,
        }
    }
}

fn default_status() -> Option<SocketAddr> {
    Some(SocketAddr::from(([127, 0, 0, 1], 8080)))
}

/// `[sip]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SipSection {
    /// UDP listen addresses.
    #[serde(default)]
    pub udp: Vec<SocketAddr>,
    /// TCP listen addresses.
    #[serde(default)]
    pub tcp: Vec<SocketAddr>,
    /// Served domains.
    #[serde(default)]
    pub domains: Vec<String>,
    /// Runs the registrar.
    #[serde(default = "yes")]
    pub registrar: bool,
    /// Runs the redirect server.
    #[serde(default = "yes")]
    pub redirect: bool,
    /// The domain key the registrar signs with, created on first run.
    pub domain_key_file: Option<PathBuf>,
    /// `ring` (P2P only, no local state), `hybrid` (a local store too) or
    /// `local` (a local store only).
    #[serde(default)]
    pub store: SipStore,
    /// For `hybrid` and `local`: keep the local registrations on disk here.
    pub local_db: Option<PathBuf>,
    /// Digest algorithms offered, in order (`MD5`, `SHA-256`); MD5 alone by
    /// default.
    #[serde(default = "default_algorithms")]
    pub digest_algorithms: Vec<String>,
    /// Shortest registration lifetime accepted, in seconds; a shorter
    /// REGISTER gets 423 with Min-Expires.
    #[serde(default = "default_min_expires")]
    pub min_expires: u32,
    /// Longest registration lifetime granted, in seconds (also the default).
    #[serde(default = "default_max_expires")]
    pub max_expires: u32,
    /// Accept REGISTER with no authentication (closed networks only).
    #[serde(default)]
    pub allow_unauthenticated: bool,
    /// Users and passwords; the realm is the first served domain unless given.
    #[serde(default)]
    pub users: Vec<UserConfig>,
}

fn yes() -> bool {
    true
}

fn default_min_expires() -> u32 {
    60
}

fn default_max_expires() -> u32 {
    3600
}

/// MD5 alone: baresip 1.0 and sipp 3.6 cannot register when SHA-256 is
/// offered at all (docs/architecture.md, "Digest").
fn default_algorithms() -> Vec<String> {
    vec!["MD5".into()]
}

/// Where the SIP side keeps registrations.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SipStore {
    /// On the ring only.
    #[default]
    Ring,
    /// In a local store and on the ring.
    Hybrid,
    /// In a local store only: a registrar whose users are found only
    /// through it, as a classic registrar's are.
    Local,
}

/// `[[sip.users]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserConfig {
    /// Digest username.
    pub username: String,
    /// Password.
    pub password: String,
    /// Realm, if not the first served domain.
    pub realm: Option<String>,
}

impl NodeConfig {
    /// Reads and checks `path`. Relative paths inside are taken from the
    /// file's directory.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        let mut config: Self = toml::from_str(&text).map_err(|e| ConfigError::Syntax {
            path: path.to_owned(),
            message: e.to_string().trim_end().to_string(),
        })?;
        if config.sip.as_ref().is_some_and(|s| !s.users.is_empty()) {
            private(path)?;
        }
        let base = path.parent().unwrap_or(Path::new("."));
        config.identity_file = base.join(&config.identity_file);
        if let Some(p) = &mut config.admission.enrollment_file {
            *p = base.join(&*p);
        }
        if let Some(sip) = &mut config.sip {
            sip.domain_key_file = sip.domain_key_file.as_ref().map(|p| base.join(p));
            sip.local_db = sip.local_db.as_ref().map(|p| base.join(p));
        }
        config.check()?;
        Ok(config)
    }

    fn check(&self) -> Result<(), ConfigError> {
        if self.bootstrap_peers()?.is_empty() && self.role == Role::Client {
            return Err(invalid(
                "bootstrap",
                "a client needs at least one member to go through",
            ));
        }
        self.admission.check(self.role)?;
        if !(1..=16).contains(&self.replication) {
            return Err(invalid("replication", "must be between 1 and 16"));
        }
        self.timers.check()?;
        self.storage.check()?;
        self.policy.check()?;
        if let Some(at) = self.status.listen
            && !at.ip().is_loopback()
            && !self.status.allow_remote
        {
            return Err(invalid(
                "status.listen",
                format!(
                    "{at} is not a loopback address; set status.allow_remote = true to expose it"
                ),
            ));
        }
        if let Some(sip) = &self.sip {
            sip.check(&self.policy)?;
        }
        Ok(())
    }

    /// Bits of proof of work this node's key must carry: a proof-of-work ring's
    /// rule for a member, none for a client or in other rings.
    pub fn identity_work_bits(&self) -> u32 {
        match (self.role, self.admission.rule()) {
            (Role::Member, lsp_core::Admission::Work { bits }) => bits,
            _ => 0,
        }
    }

    /// The bootstrap peers, parsed.
    pub fn bootstrap_peers(&self) -> Result<Vec<PeerAddr>, ConfigError> {
        self.bootstrap
            .iter()
            .enumerate()
            .map(|(i, text)| {
                text.parse::<PeerAddr>()
                    .map_err(|e| invalid(format!("bootstrap[{i}]"), e.to_string()))
            })
            .collect()
    }

    /// The store limits: the defaults, with what `[storage]` sets.
    pub fn store_limits(&self) -> StoreLimits {
        let mut limits = StoreLimits::default();
        let s = &self.storage;
        if let Some(n) = s.max_records {
            limits.max_records = n;
        }
        if let Some(n) = s.max_bytes {
            limits.max_bytes = n;
        }
        if let Some(n) = s.max_bindings {
            limits.max_bindings = n;
        }
        if let Some(n) = s.max_ttl_secs {
            limits.max_ttl = Duration::from_secs(n);
        }
        limits
    }
}

impl StorageConfig {
    /// A limit of 0 would make a store that refuses every record.
    fn check(&self) -> Result<(), ConfigError> {
        let limits = [
            ("storage.max_records", self.max_records.map(|n| n as u64)),
            ("storage.max_bytes", self.max_bytes.map(|n| n as u64)),
            ("storage.max_bindings", self.max_bindings.map(|n| n as u64)),
            ("storage.max_ttl_secs", self.max_ttl_secs),
        ];
        match limits.into_iter().find(|(_, n)| *n == Some(0)) {
            Some((field, _)) => Err(invalid(
                field,
                "must be at least 1 (leave it out for the default)",
            )),
            None => Ok(()),
        }
    }
}

impl PolicyConfig {
    fn check(&self) -> Result<(), ConfigError> {
        if self.mode != PolicyMode::Anchors && !self.anchors.is_empty() {
            return Err(invalid(
                "policy.anchors",
                "trust anchors are only used with mode = \"anchors\"",
            ));
        }
        for (i, a) in self.anchors.iter().enumerate() {
            if a.domain.is_empty() || a.domain.contains(['@', ':', '/', ' ']) {
                return Err(invalid(
                    format!("policy.anchors[{i}].domain"),
                    format!("{:?} is not a domain name", a.domain),
                ));
            }
            if let Err(e) = PublicKey::from_hex(&a.key) {
                return Err(invalid(
                    format!("policy.anchors[{i}].key"),
                    format!("expected an ed25519 public key: {e}"),
                ));
            }
        }
        Ok(())
    }

    /// The keys anchored for `domain`.
    pub fn anchors_for<'a>(&'a self, domain: &'a str) -> impl Iterator<Item = PublicKey> + 'a {
        self.anchors
            .iter()
            .filter(move |a| a.domain.eq_ignore_ascii_case(domain))
            .filter_map(|a| PublicKey::from_hex(&a.key).ok())
    }
}

impl SipSection {
    fn check(&self, policy: &PolicyConfig) -> Result<(), ConfigError> {
        if self.udp.is_empty() && self.tcp.is_empty() {
            return Err(invalid("sip", "give at least one of sip.udp and sip.tcp"));
        }
        if !self.registrar && !self.redirect {
            return Err(invalid(
                "sip.registrar",
                "the registrar and the redirect server are both off",
            ));
        }
        if self.registrar {
            if self.domains.is_empty() {
                return Err(invalid(
                    "sip.domains",
                    "a registrar needs at least one served domain",
                ));
            }
            if self.domain_key_file.is_none() {
                return Err(invalid(
                    "sip.domain_key_file",
                    "a registrar needs the key it signs registrations with",
                ));
            }
            if self.users.is_empty() && !self.allow_unauthenticated {
                return Err(invalid(
                    "sip.users",
                    "a registrar needs users, or allow_unauthenticated = true",
                ));
            }
            if policy.mode == PolicyMode::Anchors {
                for (i, d) in self.domains.iter().enumerate() {
                    if policy.anchors_for(d).next().is_none() {
                        return Err(invalid(
                            format!("sip.domains[{i}]"),
                            format!(
                                "{d} has no entry in policy.anchors, so the ring would refuse its registrations"
                            ),
                        ));
                    }
                }
            }
        }
        if self.store == SipStore::Ring && self.local_db.is_some() {
            return Err(invalid(
                "sip.local_db",
                "only used with store = \"hybrid\" or \"local\"",
            ));
        }
        for (i, a) in self.digest_algorithms.iter().enumerate() {
            if !matches!(a.as_str(), "SHA-256" | "MD5") {
                return Err(invalid(
                    format!("sip.digest_algorithms[{i}]"),
                    format!("{a:?} is neither \"SHA-256\" nor \"MD5\""),
                ));
            }
        }
        if self.min_expires == 0 || self.min_expires > self.max_expires {
            return Err(invalid(
                "sip.min_expires",
                "must be at least 1 and at most sip.max_expires",
            ));
        }
        if self.max_expires > 86_400 {
            return Err(invalid("sip.max_expires", "must be at most 86400 s"));
        }
        if self.digest_algorithms.is_empty() {
            return Err(invalid("sip.digest_algorithms", "name at least one"));
        }
        for (i, u) in self.users.iter().enumerate() {
            if u.username.is_empty() || u.password.is_empty() {
                return Err(invalid(
                    format!("sip.users[{i}]"),
                    "username and password must not be empty",
                ));
            }
        }
        Ok(())
    }
}
