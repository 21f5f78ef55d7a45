//! RFC 3261 section 17.2 server transactions as a sans-IO state machine.
//!
//! The layer owns every transaction's state and one timer queue; it never
//! sleeps, reads a clock or touches a socket. The server feeds it what
//! arrives ([`TransactionLayer::on_request`], [`TransactionLayer::on_ack`]),
//! what the TU answered ([`TransactionLayer::complete`]) and the time
//! ([`TransactionLayer::handle_timeout`]), and sends what it hands back.
//!
//! State is bounded in bytes. Two kinds of state are told apart:
//! - *pinned*: a request being answered, and an INVITE whose non-2xx final
//!   response waits for its ACK (Timer G/H). Admitted work; never evicted.
//!   Each source IP may pin at most a share of the budget.
//! - *reclaimable*: a completed non-INVITE transaction that only absorbs
//!   retransmissions (Timer J), and a confirmed INVITE that only absorbs ACKs
//!   (Timer I). When the budget is tight the oldest are forgotten early; a
//!   late retransmission is then answered by the TU again, which the
//!   registrar makes idempotent.
//!
//! Everything sent over UDP to a source that has not proved its address
//! (by an ACK carrying the To-tag we sent it) is paid for from what it
//! sent: a first final response, a resend, Timer G's repeats, a 100 Trying
//! and a 503. The server never sends such a source more bytes than it
//! received from it; an answer not yet paid for is kept and goes out when
//! the request's retransmission pays for it.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use ezk_sip_types::Method;
use lsp_core::address_share;

use crate::message::Request;

/// Timer values and bounds of a [`TransactionLayer`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct TxConfig {
    /// RFC 3261 T1, the round-trip estimate (500 ms).
    pub t1: Duration,
    /// RFC 3261 T2, the longest retransmission interval (4 s).
    pub t2: Duration,
    /// RFC 3261 T4, how long a message may stay in the network (5 s).
    pub t4: Duration,
    /// Bytes of transaction state at most, keys and kept responses included.
    pub state_bytes: usize,
    /// Bytes of pinned state one source IP may hold.
    pub per_source_bytes: usize,
    /// Requests of one source IP being answered at once.
    pub per_source_in_flight: usize,
    /// The most a first answer over UDP takes toward an address not
    /// proved, even when the address has paid for more: one datagram of
    /// the size RFC 3261 section 18.1.1 keeps below the path MTU.
    pub unproven_answer_bytes: usize,
}

impl Default for TxConfig {
    fn default() -> Self {
        Self {
            t1: Duration::from_millis(500),
            t2: Duration::from_secs(4),
            t4: Duration::from_secs(5),
            state_bytes: 16 << 20,
            per_source_bytes: 4 << 20,
            per_source_in_flight: 256,
            unproven_answer_bytes: 1300,
        }
    }
}

/// Identifies a server transaction (RFC 3261 section 17.2.3).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct TxKey {
    id: TxId,
    sent_by: Box<str>,
    method: Method,
}

/// What names a transaction besides its sent-by and method.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum TxId {
    /// An RFC 3261 branch (`z9hG4bK...`).
    Branch(Box<str>),
    /// A pre-RFC 3261 request: its dialog identifiers, CSeq number and
    /// Request-URI (RFC 3261 section 17.2.3).
    Legacy {
        call_id: Box<str>,
        from_tag: Box<str>,
        cseq: u32,
        uri: Box<str>,
    },
}

impl TxId {
    fn bytes(&self) -> usize {
        match self {
            TxId::Branch(b) => b.len(),
            TxId::Legacy {
                call_id,
                from_tag,
                uri,
                ..
            } => call_id.len() + from_tag.len() + 4 + uri.len(),
        }
    }
}

impl TxKey {
    /// The key of `request`'s transaction: branch and sent-by, with ACK and
    /// CANCEL looked up under `as_method` (INVITE); for pre-RFC 3261
    /// branches, the dialog identifiers and CSeq.
    pub fn of(request: &Request, as_method: &Method) -> Self {
        let id = match &request.branch {
            Some(b) if b.starts_with("z9hG4bK") => TxId::Branch(b.as_str().into()),
            _ => TxId::Legacy {
                call_id: request.call_id.as_str().into(),
                from_tag: request.from_tag.as_deref().unwrap_or("").into(),
                cseq: request.cseq,
                uri: request.uri_text.as_str().into(),
            },
        };
        Self {
            id,
            sent_by: request.sent_by.to_ascii_lowercase().into(),
            method: as_method.clone(),
        }
    }

    /// The key of an RFC 3261 transaction from its parts.
    pub fn new(branch: &str, sent_by: &str, method: Method) -> Self {
        Self {
            id: TxId::Branch(branch.into()),
            sent_by: sent_by.into(),
            method,
        }
    }

    fn bytes(&self) -> usize {
        // A method is a word or two of its own.
        self.id.bytes() + self.sent_by.len() + 16
    }

    fn is_invite(&self) -> bool {
        self.method == Method::INVITE
    }
}

/// Who sent a request and how: its source address, its size on the wire,
/// and whether it came over a reliable transport.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sent {
    /// The address it came from.
    pub source: IpAddr,
    /// Its bytes on the wire.
    pub len: usize,
    /// TCP or TLS rather than UDP.
    pub reliable: bool,
}

/// What to do with an arriving request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Arrival {
    /// A new transaction: answer it, then call [`TransactionLayer::complete`].
    /// For a CANCEL, `cancels` says whether its INVITE was found.
    New {
        /// For a CANCEL: whether it matched an INVITE transaction.
        cancels: Option<bool>,
    },
    /// A retransmission of a completed request: send its response again.
    Resend(Bytes),
    /// A retransmitted INVITE still being answered: send 100 Trying.
    Trying,
    /// A retransmission with nothing to send.
    Absorb,
    /// Refuse with 503 and Retry-After, keeping no state.
    Busy(BusyReason),
}

/// Why a request was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BusyReason {
    /// The state budget is spent on admitted work.
    Full,
    /// This source already holds its share of state or in-flight work.
    SourceShare,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// The TU is answering.
    Proceeding,
    /// The final response is sent; absorbing retransmissions (and, for an
    /// INVITE, waiting for the ACK).
    Completed,
    /// An INVITE's ACK came; absorbing ACK retransmissions.
    Confirmed,
}

struct Tx<D> {
    state: State,
    /// The share the transaction is charged to (`lsp_core::address_share`).
    source: IpAddr,
    /// The address the request came from: only a retransmission from it
    /// is answered again.
    origin: IpAddr,
    dest: D,
    reliable: bool,
    response: Option<Bytes>,
    cancelled: bool,
    /// Timer G's next interval.
    retransmit: Duration,
    /// Timer H: when an un-ACKed INVITE is given up.
    give_up: Option<Instant>,
    timer: Option<(Instant, u64)>,
    /// Whether the state may be forgotten early; its timer is then in the
    /// reclaim queue, else in the pinned one.
    reclaimable: bool,
    bytes: usize,
    /// Over UDP toward an address not proved: the bytes of its source's
    /// credit set aside for its first answer when it arrived (its budget,
    /// [`TransactionLayer::budget`]), given back when it is answered.
    reserved: Option<u64>,
}

#[derive(Default)]
struct Source {
    txs: usize,
    in_flight: usize,
    pinned_bytes: usize,
    bytes_in: u64,
    bytes_out: u64,
    verified_until: Option<Instant>,
}

/// Counters a server can export.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct TxStats {
    /// Transactions held now.
    pub transactions: usize,
    /// Bytes of state held now.
    pub state_bytes: usize,
    /// Requests refused because the budget was spent.
    pub refused_full: u64,
    /// Requests refused because their source held its share.
    pub refused_source: u64,
    /// Reclaimable transactions forgotten early to make room.
    pub reclaimed: u64,
    /// Final responses retransmitted by Timer G.
    pub retransmitted: u64,
    /// Timer G retransmissions skipped: the source had not paid for them.
    pub retransmit_unpaid: u64,
    /// Other answers held back or skipped for the same reason: first
    /// final responses, resends, 100 Trying and 503s.
    pub answers_unpaid: u64,
    /// UDP datagrams the server shed unread: their source sent more than
    /// its share while a socket backed up. Filled in by the server.
    pub intake_shed: u64,
    /// Retransmissions and ACKs of a transaction from another address
    /// than its request's, ignored.
    pub foreign_retransmissions: u64,
    /// INVITEs given up by Timer H with no ACK.
    pub timed_out: u64,
    /// Final non-2xx responses to INVITEs whose ACK came.
    pub acked: u64,
}

/// Fixed cost charged per transaction and per source, beyond key and
/// response bytes: map slots, timer entries, the struct itself.
const TX_OVERHEAD: usize = 160;
const SOURCE_OVERHEAD: usize = 96;
/// Bytes set aside for a response when a request is admitted.
const RESPONSE_RESERVE: usize = 512;
/// How long an address proved by an ACK stays proved.
const VERIFIED_FOR: Duration = Duration::from_secs(300);

/// The server transactions of one SIP server. `D` is where responses go
/// (a socket and address); the layer only stores and returns it.
pub struct TransactionLayer<D> {
    config: TxConfig,
    txs: HashMap<TxKey, Tx<D>>,
    sources: HashMap<IpAddr, Source>,
    /// Timers of pinned transactions.
    pinned_timers: BTreeMap<(Instant, u64), TxKey>,
    /// Timers of reclaimable ones: the first to expire is the first to go.
    reclaim_timers: BTreeMap<(Instant, u64), TxKey>,
    serial: u64,
    bytes: usize,
    stats: TxStats,
}

impl<D> TransactionLayer<D> {
    /// Counters, with the current sizes.
    pub fn stats(&self) -> TxStats {
        TxStats {
            transactions: self.txs.len(),
            state_bytes: self.bytes,
            ..self.stats
        }
    }
}

impl<D> std::fmt::Debug for TransactionLayer<D> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TransactionLayer")
            .field("config", &self.config)
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

impl<D: Clone> TransactionLayer<D> {
    /// An empty layer.
    pub fn new(config: TxConfig) -> Self {
        Self {
            config,
            txs: HashMap::new(),
            sources: HashMap::new(),
            pinned_timers: BTreeMap::new(),
            reclaim_timers: BTreeMap::new(),
            serial: 0,
            bytes: 0,
            stats: TxStats::default(),
        }
    }

    /// The timer and bound settings.
    pub fn config(&self) -> &TxConfig {
        &self.config
    }

    /// A request (not an ACK) arrived as `sent` says, to be answered
    /// through `dest`. `key` is its own transaction; a CANCEL also names the
    /// INVITE it cancels.
    pub fn on_request(
        &mut self,
        now: Instant,
        key: TxKey,
        cancels: Option<&TxKey>,
        sent: Sent,
        dest: D,
    ) -> Arrival {
        let Sent {
            source,
            len,
            reliable,
        } = sent;
        let origin = source;
        let source = address_share(source);
        if let Some(s) = self.sources.get_mut(&source) {
            s.bytes_in += len as u64;
        }
        if let Some(tx) = self.txs.get(&key) {
            // The same transaction from another address is forged or
            // rerouted: answering it would aim our response at whoever
            // the sender names.
            if tx.origin != origin {
                self.stats.foreign_retransmissions += 1;
                return Arrival::Absorb;
            }
            return match (tx.state, tx.response.clone()) {
                (State::Completed, Some(bytes)) => {
                    if tx.reliable || self.pay(now, source, bytes.len()) {
                        Arrival::Resend(bytes)
                    } else {
                        self.stats.answers_unpaid += 1;
                        Arrival::Absorb
                    }
                }
                (State::Proceeding, _) if key.is_invite() && !reliable => Arrival::Trying,
                _ => Arrival::Absorb,
            };
        }
        // Room for the response is taken now, so that answering admitted
        // work rarely needs more.
        let cost = TX_OVERHEAD + key.bytes() + RESPONSE_RESERVE;
        let new_source = !self.sources.contains_key(&source);
        let extra = cost + if new_source { SOURCE_OVERHEAD } else { 0 };
        if let Some(s) = self.sources.get(&source)
            && (s.in_flight >= self.config.per_source_in_flight
                || s.pinned_bytes + cost > self.config.per_source_bytes)
        {
            self.stats.refused_source += 1;
            return Arrival::Busy(BusyReason::SourceShare);
        }
        if !self.make_room(extra) {
            self.stats.refused_full += 1;
            return Arrival::Busy(BusyReason::Full);
        }
        let found = cancels.map(|invite| match self.txs.get_mut(invite) {
            Some(tx) => {
                if tx.state == State::Proceeding {
                    tx.cancelled = true;
                }
                true
            }
            None => false,
        });
        let s = self.sources.entry(source).or_default();
        if new_source {
            s.bytes_in = len as u64;
            self.bytes += SOURCE_OVERHEAD;
        }
        s.txs += 1;
        s.in_flight += 1;
        s.pinned_bytes += cost;
        // Set aside now, with the request's own bytes just counted, so
        // that answers made at once never count on the same bytes. No more
        // than the request itself: an answer no longer than its request is
        // paid again by each retransmission that asks for it again.
        let reserved = (!reliable && s.verified_until.is_none_or(|v| v <= now)).then(|| {
            let amount = s
                .bytes_in
                .saturating_sub(s.bytes_out)
                .min(len.min(self.config.unproven_answer_bytes) as u64);
            s.bytes_out += amount;
            amount
        });
        self.bytes += cost;
        self.txs.insert(
            key,
            Tx {
                state: State::Proceeding,
                source,
                origin,
                dest,
                reliable,
                response: None,
                cancelled: false,
                retransmit: self.config.t1,
                give_up: None,
                timer: None,
                reclaimable: false,
                bytes: cost,
                reserved,
            },
        );
        Arrival::New { cancels: found }
    }

    /// Forgets a transaction the TU will not answer.
    pub fn abandon(&mut self, key: &TxKey) {
        if self
            .txs
            .get(key)
            .is_some_and(|tx| tx.state == State::Proceeding)
        {
            self.remove(key);
        }
    }

    /// Whether a CANCEL reached `key` while it was being answered; the TU
    /// then answers 487 instead.
    pub fn is_cancelled(&self, key: &TxKey) -> bool {
        self.txs.get(key).is_some_and(|tx| tx.cancelled)
    }

    /// The TU's final response to `key`. `code` is its status code. Returns
    /// whether the caller sends it now: over UDP to an address not proved,
    /// only once the source has paid for it; it is kept till then, and a
    /// resend or Timer G sends it once paid.
    pub fn complete(&mut self, now: Instant, key: &TxKey, code: u16, response: Bytes) -> bool {
        let Some(tx) = self.txs.get(key) else {
            return false;
        };
        if tx.state != State::Proceeding {
            return false;
        }
        let (source, reliable, held) = (tx.source, tx.reliable, tx.bytes);
        self.release(key);
        let send = reliable || self.pay(now, source, response.len());
        if !send {
            self.stats.answers_unpaid += 1;
        }
        let invite = key.is_invite();
        // 2xx retransmission belongs to the TU (RFC 3261 17.2.1), and
        // Timer J is zero on a reliable transport: nothing is kept, and
        // `remove` frees the source's place in flight.
        if (invite && (200..300).contains(&code)) || (!invite && reliable) {
            self.remove(key);
            return send;
        }
        if let Some(s) = self.sources.get_mut(&source) {
            s.in_flight = s.in_flight.saturating_sub(1);
        }
        let give_up = now + 64 * self.config.t1;
        let grows = (TX_OVERHEAD + key.bytes() + response.len()).saturating_sub(held);
        // Admitted work is answered even when nothing can be reclaimed.
        self.make_room(grows);
        self.resize(key, Some(response));
        let Some(tx) = self.txs.get_mut(key) else {
            return send;
        };
        tx.state = State::Completed;
        if invite {
            tx.give_up = Some(give_up);
            let first = if reliable {
                give_up
            } else {
                (now + tx.retransmit).min(give_up)
            };
            self.arm(key, first);
        } else {
            self.make_reclaimable(key);
            self.arm(key, give_up);
        }
        send
    }

    /// An ACK for `invite` arrived from `source`. `proves_address` says that
    /// it carried the To-tag of the response we sent, which only a receiver
    /// of that response knows.
    pub fn on_ack(
        &mut self,
        now: Instant,
        invite: &TxKey,
        source: IpAddr,
        len: usize,
        proves_address: bool,
    ) {
        let origin = source;
        let source = address_share(source);
        if let Some(s) = self.sources.get_mut(&source) {
            s.bytes_in += len as u64;
        }
        let Some(tx) = self.txs.get(invite) else {
            return;
        };
        if tx.state != State::Completed {
            return;
        }
        if tx.origin != origin {
            self.stats.foreign_retransmissions += 1;
            return;
        }
        self.stats.acked += 1;
        if proves_address
            && tx.source == source
            && let Some(s) = self.sources.get_mut(&source)
        {
            s.verified_until = Some(now + VERIFIED_FOR);
        }
        if tx.reliable {
            self.remove(invite);
            return;
        }
        self.resize(invite, None);
        if let Some(tx) = self.txs.get_mut(invite) {
            tx.state = State::Confirmed;
            tx.give_up = None;
        }
        self.make_reclaimable(invite);
        self.arm(invite, now + self.config.t4);
    }

    /// When [`handle_timeout`](Self::handle_timeout) next has work.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let first = |m: &BTreeMap<(Instant, u64), TxKey>| m.keys().next().map(|(at, _)| *at);
        match (first(&self.pinned_timers), first(&self.reclaim_timers)) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Runs the timers due at `now`; retransmissions go into `out`.
    pub fn handle_timeout(&mut self, now: Instant, out: &mut Vec<(D, Bytes)>) {
        while let Some(key) = self.pop_due(now) {
            let Some(tx) = self.txs.get_mut(&key) else {
                continue;
            };
            tx.timer = None;
            let give_up = tx.give_up;
            if tx.state != State::Completed || give_up.is_none_or(|g| now >= g) {
                if tx.state == State::Completed && key.is_invite() {
                    self.stats.timed_out += 1;
                }
                self.remove(&key);
                continue;
            }
            // Timer G.
            let (source, bytes, dest) = (tx.source, tx.response.clone(), tx.dest.clone());
            let wait = tx.retransmit;
            tx.retransmit = (wait * 2).min(self.config.t2);
            let next = (now + tx.retransmit).min(give_up.unwrap_or(now));
            if let Some(bytes) = bytes {
                if self.pay(now, source, bytes.len()) {
                    self.stats.retransmitted += 1;
                    out.push((dest, bytes));
                } else {
                    self.stats.retransmit_unpaid += 1;
                }
            }
            self.arm(&key, next);
        }
    }

    /// The transaction of the earliest timer due at `now`, taken off its queue.
    fn pop_due(&mut self, now: Instant) -> Option<TxKey> {
        let due = |m: &BTreeMap<(Instant, u64), TxKey>| {
            m.keys().next().filter(|(at, _)| *at <= now).copied()
        };
        let queue = match (due(&self.pinned_timers), due(&self.reclaim_timers)) {
            (Some(a), Some(b)) if b < a => &mut self.reclaim_timers,
            (Some(_), _) => &mut self.pinned_timers,
            (None, Some(_)) => &mut self.reclaim_timers,
            (None, None) => return None,
        };
        queue.pop_first().map(|(_, key)| key)
    }

    /// The budget of the first answer to `key`: what its source had paid
    /// and not yet been sent when it arrived, at most the request's own
    /// size and [`TxConfig::unproven_answer_bytes`], set aside for it until
    /// [`complete`](Self::complete), which may still pay a longer answer
    /// (one that cannot be cut) from what the source paid before. `None` (no limit) over a reliable
    /// transport or from an address proved lately.
    pub fn budget(&self, key: &TxKey) -> Option<usize> {
        let reserved = self.txs.get(key)?.reserved?;
        Some(usize::try_from(reserved).unwrap_or(usize::MAX))
    }

    /// Gives back what was set aside for `key`'s first answer.
    fn release(&mut self, key: &TxKey) {
        let Some(reserved) = self.txs.get_mut(key).and_then(|tx| tx.reserved.take()) else {
            return;
        };
        let source = self.txs.get(key).map(|tx| tx.source);
        if let Some(s) = source.and_then(|source| self.sources.get_mut(&source)) {
            s.bytes_out = s.bytes_out.saturating_sub(reserved);
        }
    }

    /// Whether an answer of `len` bytes may go over UDP to `source`, whose
    /// request took `request_len`; counted as sent if so. A source with
    /// state here pays from all it sent; one without (refused before any
    /// was kept) only from this request.
    pub fn may_answer(
        &mut self,
        now: Instant,
        source: IpAddr,
        request_len: usize,
        len: usize,
    ) -> bool {
        let share = address_share(source);
        let paid = if self.sources.contains_key(&share) {
            self.pay(now, share, len)
        } else {
            len <= request_len
        };
        if !paid {
            self.stats.answers_unpaid += 1;
        }
        paid
    }

    /// Whether `len` bytes toward the share `source` are paid for: an
    /// address proved lately, or what it sent covers all sent to it, this
    /// included. Counted as sent if so.
    fn pay(&mut self, now: Instant, source: IpAddr, len: usize) -> bool {
        let Some(s) = self.sources.get_mut(&source) else {
            return false;
        };
        let paid =
            s.verified_until.is_some_and(|v| v > now) || s.bytes_out + len as u64 <= s.bytes_in;
        if paid {
            s.bytes_out += len as u64;
        }
        paid
    }

    /// Frees reclaimable state, first to expire first, until `extra`
    /// bytes fit.
    fn make_room(&mut self, extra: usize) -> bool {
        while self.bytes + extra > self.config.state_bytes {
            let Some((_, key)) = self.reclaim_timers.pop_first() else {
                return false;
            };
            if let Some(tx) = self.txs.get_mut(&key) {
                tx.timer = None;
            }
            self.remove(&key);
            self.stats.reclaimed += 1;
        }
        true
    }

    /// Moves a transaction from pinned to reclaimable; arm its timer after.
    fn make_reclaimable(&mut self, key: &TxKey) {
        let Some(tx) = self.txs.get_mut(key) else {
            return;
        };
        if tx.reclaimable {
            return;
        }
        if let Some(old) = tx.timer.take() {
            self.pinned_timers.remove(&old);
        }
        tx.reclaimable = true;
        if let Some(s) = self.sources.get_mut(&tx.source) {
            s.pinned_bytes = s.pinned_bytes.saturating_sub(tx.bytes);
        }
    }

    /// Replaces a transaction's kept response, keeping the byte counts.
    fn resize(&mut self, key: &TxKey, response: Option<Bytes>) {
        let Some(tx) = self.txs.get_mut(key) else {
            return;
        };
        let old = tx.bytes;
        let new = TX_OVERHEAD + key.bytes() + response.as_ref().map_or(0, Bytes::len);
        tx.response = response;
        tx.bytes = new;
        self.bytes = self.bytes + new - old;
        if !tx.reclaimable
            && let Some(s) = self.sources.get_mut(&tx.source)
        {
            s.pinned_bytes = s.pinned_bytes + new - old;
        }
    }

    fn arm(&mut self, key: &TxKey, at: Instant) {
        self.serial += 1;
        let serial = self.serial;
        let Some(tx) = self.txs.get_mut(key) else {
            return;
        };
        let queue = if tx.reclaimable {
            &mut self.reclaim_timers
        } else {
            &mut self.pinned_timers
        };
        if let Some(old) = tx.timer.replace((at, serial)) {
            queue.remove(&old);
        }
        queue.insert((at, serial), key.clone());
    }

    fn remove(&mut self, key: &TxKey) {
        self.release(key);
        let Some(tx) = self.txs.remove(key) else {
            return;
        };
        if let Some(t) = tx.timer {
            if tx.reclaimable {
                self.reclaim_timers.remove(&t);
            } else {
                self.pinned_timers.remove(&t);
            }
        }
        self.bytes -= tx.bytes;
        let Some(s) = self.sources.get_mut(&tx.source) else {
            return;
        };
        s.txs -= 1;
        if !tx.reclaimable {
            s.pinned_bytes = s.pinned_bytes.saturating_sub(tx.bytes);
        }
        if tx.state == State::Proceeding {
            s.in_flight = s.in_flight.saturating_sub(1);
        }
        if s.txs == 0 {
            // A source with no transactions keeps nothing worth its slot,
            // not even a proof of address: the next ACK proves it again.
            self.sources.remove(&tx.source);
            self.bytes -= SOURCE_OVERHEAD;
        }
    }
}

#[cfg(test)]
mod tests;
