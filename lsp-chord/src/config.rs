//! Settings of a Chord node.

use std::sync::Arc;
use std::time::Duration;

use lsp_core::store::StoreLimits;
use lsp_core::{AccessPolicy, Admission, Clock, FirstComeFirstServed, SystemClock};

/// How lookups travel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Routing {
    /// The originator asks each hop itself and routes around dead peers.
    #[default]
    Iterative,
    /// Each hop forwards the lookup; the last sends the answer back. The
    /// originator falls back to iterative when no answer comes.
    Recursive,
}

/// How a [`crate::Chord`] node behaves. Start from `Config::default()` and
/// change fields.
///
/// What must match the ring, on members and clients alike: `replicas`
/// (k) and `successors` (r), which say how many owners a key has and how
/// long an honest answer is; `policy`, which readers check records
/// against as storing nodes do; and `admission`, which says which peers'
/// answers count. The defaults are those of `lsp-node` with no
/// `[policy]` or `[admission]`: k = 3, r = 8, first come first served,
/// any Node-ID a member. Timers, limits and `opinions` are the node's own
/// and may differ.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Config {
    /// Length r of the successor list.
    pub successors: usize,
    /// Copies k of every record: the Resource-ID's successor and the next
    /// k-1 nodes. At most `successors`.
    pub replicas: usize,
    /// Period of stabilize (ask the successor for its neighbours).
    pub stabilize_interval: Duration,
    /// Period of refreshing one finger.
    pub fix_fingers_interval: Duration,
    /// Period of checking that the predecessor answers.
    pub check_predecessor_interval: Duration,
    /// Wait for one attempt of a request.
    pub request_timeout: Duration,
    /// Attempts before a peer counts as unreachable.
    pub request_attempts: u32,
    /// Longest a join, publish, query, lookup or leave may take.
    pub operation_timeout: Duration,
    /// Period of reclaiming expired records.
    pub purge_interval: Duration,
    /// Period of comparing, by digest, the records this node is primary for
    /// with its first k-1 successors' copies, and with one farther
    /// successor in turn, which may hold copies left behind by joins.
    pub repair_interval: Duration,
    /// Silence from every peer after which a node that had peers counts
    /// as isolated and refuses user operations with `Error::Isolated`
    /// (see [`crate::Health`]). Keep it a few stabilize periods long.
    pub isolation_timeout: Duration,
    /// Most operations in flight; more fail with `Error::Overloaded`.
    pub max_operations: usize,
    /// Most requests awaiting a response; more fail with `Error::Overloaded`.
    pub max_pending_requests: usize,
    /// Limits of this node's record store.
    pub limits: StoreLimits,
    /// Who may write which AOR. Checked by storing nodes and by readers.
    /// [`FirstComeFirstServed`] by default.
    pub policy: Arc<dyn AccessPolicy>,
    /// Seed of the node's random choices (timer jitter, request ids).
    pub seed: u64,
    /// Iterative (default) or recursive lookups.
    pub routing: Routing,
    /// Claims of owners a user's lookup gathers from different peers; the
    /// one whose owner is nearest the target wins. 3 by default: against
    /// one claim, that costs a few more requests and about 1.6 times the
    /// latency, and is what keeps lying hops from choosing the owners
    /// (`docs/benchmarks.md`). 1 trusts the first claim.
    pub opinions: u32,
    /// The wall clock, read only for record expiry; timers run on the
    /// monotonic `now` of each input.
    pub clock: Arc<dyn Clock>,
    /// Who may be a member: every node of a ring must use the same rule.
    /// [`Admission::Any`] by default. In a closed ring
    /// ([`Admission::Enrolled`]) give the transport the same key, with
    /// `lsp_transport::ClosedRing::client(ring)` on a client: the transport
    /// then checks each member's enrollment when it dials, so nothing
    /// reaches a peer posing as a member; this setting makes the node
    /// count only enrolled senders as members. A client without the key
    /// still uses the ring (members serve it as a stranger) but cannot
    /// tell a member from an impostor.
    pub admission: Admission,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            successors: 8,
            replicas: 3,
            stabilize_interval: Duration::from_secs(5),
            fix_fingers_interval: Duration::from_secs(5),
            check_predecessor_interval: Duration::from_secs(10),
            request_timeout: Duration::from_secs(1),
            request_attempts: 3,
            operation_timeout: Duration::from_secs(30),
            purge_interval: Duration::from_secs(30),
            repair_interval: Duration::from_secs(30),
            isolation_timeout: Duration::from_secs(15),
            max_operations: 1024,
            max_pending_requests: 4096,
            limits: StoreLimits::default(),
            policy: Arc::new(FirstComeFirstServed),
            seed: 0,
            routing: Routing::Iterative,
            opinions: 3,
            clock: Arc::new(SystemClock),
            admission: Admission::Any,
        }
    }
}

impl Config {
    /// Timers for the internet: the default. A ring of strangers on
    /// distant hosts, where a second's wait is normal and upkeep traffic
    /// should stay small.
    pub fn wan() -> Self {
        Self::default()
    }

    /// Timers for one LAN or data centre, where answers take milliseconds:
    /// upkeep five times as often as [`Config::wan`], so that a ring
    /// notices a lost node in about a second and settles after a join in
    /// a few.
    pub fn lan() -> Self {
        Self::default()
            .stabilize_interval(Duration::from_secs(1))
            .fix_fingers_interval(Duration::from_secs(1))
            .check_predecessor_interval(Duration::from_secs(2))
            .request_timeout(Duration::from_millis(300))
            .isolation_timeout(Duration::from_secs(5))
    }

    /// Timers for tests and demonstrations on one machine: a small ring
    /// on loopback settles within a second or two of its joins.
    pub fn local_test() -> Self {
        Self::default()
            .stabilize_interval(Duration::from_millis(200))
            .fix_fingers_interval(Duration::from_millis(100))
            .check_predecessor_interval(Duration::from_millis(500))
    }

    /// Replaces the access policy (an `Arc` of one passes as it is).
    pub fn policy(mut self, policy: impl AccessPolicy + 'static) -> Self {
        self.policy = Arc::new(policy);
        self
    }

    /// Replaces the wall clock (a simulation's virtual one, say).
    pub fn clock(mut self, clock: impl Clock + 'static) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// Replaces the seed.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// Replaces the admission rule.
    pub fn admission(mut self, admission: Admission) -> Self {
        self.admission = admission;
        self
    }

    /// Replaces the period of stabilize.
    pub fn stabilize_interval(mut self, period: Duration) -> Self {
        self.stabilize_interval = period;
        self
    }

    /// Replaces the period of refreshing one finger.
    pub fn fix_fingers_interval(mut self, period: Duration) -> Self {
        self.fix_fingers_interval = period;
        self
    }

    /// Replaces the period of checking the predecessor.
    pub fn check_predecessor_interval(mut self, period: Duration) -> Self {
        self.check_predecessor_interval = period;
        self
    }

    /// Replaces the wait for one attempt of a request.
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }

    /// Replaces the longest time one operation may take.
    pub fn operation_timeout(mut self, timeout: Duration) -> Self {
        self.operation_timeout = timeout;
        self
    }

    /// Replaces the silence after which the node counts as isolated.
    pub fn isolation_timeout(mut self, timeout: Duration) -> Self {
        self.isolation_timeout = timeout;
        self
    }

    /// Replaces the number of copies of every record.
    pub fn replicas(mut self, k: usize) -> Self {
        self.replicas = k;
        self
    }

    pub(crate) fn r(&self) -> usize {
        self.successors.clamp(1, crate::wire::MAX_PEERS)
    }

    pub(crate) fn k(&self) -> usize {
        self.replicas.clamp(1, self.r())
    }
}
