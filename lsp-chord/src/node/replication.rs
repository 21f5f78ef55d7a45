//! Keeping k copies: hand-off to a new predecessor (and, on learning the
//! first one, of what was handed here too early), pushes to new replica
//! holders when the predecessor or the first k-1 successors change, and a
//! primary's push of every record it takes to its own k-1 successors.
//!
//! A node is the primary of the Resource-IDs in `(predecessor, itself]` and
//! pushes those records to its first k-1 successors. Pushes are `Store`
//! requests, checked like any write and idempotent, so a push that arrives
//! twice changes nothing. A copy held by a node that is no longer among the
//! k simply expires with its bindings.

use lsp_core::{NodeId, PeerAddr, SignedRecord, UnixTime};

use super::io::Io;
use super::ops::batches;
use super::outputs::Traffic;
use super::requests::Purpose;
use super::routing::RoutingTable;
use super::storage::Storage;
use crate::config::Config;
use crate::ring::Point;
use crate::wire::StoreOutcome;
use crate::wire::{RefusalCode, Request, Response};

/// A `Digest` request: `asker` summarized its records of `(start, asker]`
/// at `at`.
#[derive(Debug, Clone, Copy)]
struct DigestAsked {
    asker: PeerAddr,
    start: Point,
    digest: [u8; 32],
    at: UnixTime,
}

/// What this node last pushed its replicas for, and whom repair asks.
#[derive(Debug)]
pub(super) struct Replicas {
    me: PeerAddr,
    k: usize,
    r: usize,
    /// Predecessor and first k-1 successors when replicas were last synced.
    view: (Option<PeerAddr>, Vec<NodeId>),
    /// Which farther successor the next repair round asks.
    repair_turn: usize,
    /// Who got a digest answered since the last repair round: once each,
    /// and r + k in all, since each answer costs a pass over the store.
    digest_askers: Vec<NodeId>,
}

impl Replicas {
    pub(super) fn new(me: PeerAddr, cfg: &Config) -> Self {
        Self {
            me,
            k: cfg.k(),
            r: cfg.r(),
            view: (None, Vec::new()),
            repair_turn: 0,
            digest_askers: Vec::new(),
        }
    }

    /// Takes the table's neighbours as already synced (a simulation that
    /// installs a converged ring).
    #[cfg(feature = "sim")]
    pub(super) fn assume_synced(&mut self, table: &RoutingTable) {
        self.view = (
            table.pred(),
            table
                .succs()
                .iter()
                .take(self.k - 1)
                .map(|p| p.id)
                .collect(),
        );
    }

    /// Answers the replication protocol's requests: `Store`, `StoreHere`,
    /// `StoreReplacing` and `Digest`.
    pub(super) fn serve(
        &mut self,
        from: PeerAddr,
        body: Request,
        table: &RoutingTable,
        storage: &mut Storage,
        io: &mut Io,
        now_ms: u64,
    ) -> Response {
        match body {
            Request::Store { records } => {
                let outcomes =
                    self.store_and_spread(Some(from), &records, table, storage, io, now_ms);
                Response::Stored { outcomes }
            }
            Request::StoreHere { records } => Response::Stored {
                outcomes: store_held(&records, table, storage),
            },
            Request::StoreReplacing { record, replaces } => {
                let key = Point::from(record.record.aor.resource_id());
                let outcome = if table.holds(key) {
                    storage.put_replacing(&record, replaces)
                } else {
                    StoreOutcome::NotResponsible
                };
                Response::Stored {
                    outcomes: vec![outcome],
                }
            }
            Request::Digest {
                from: start,
                digest,
                at,
            } => {
                let start = Point(start);
                let ask = DigestAsked {
                    asker: from,
                    start,
                    digest,
                    at,
                };
                self.serve_digest(ask, table, storage, io, now_ms)
            }
            _ => Response::refused(RefusalCode::NotServed, "not a replication request"),
        }
    }

    /// The predecessor or the first k-1 successors changed: pushes what
    /// each new holder lacks.
    pub(super) fn sync(
        &mut self,
        table: &RoutingTable,
        storage: &Storage,
        io: &mut Io,
        now_ms: u64,
    ) {
        let k1 = self.k - 1;
        {
            // Fast path, no allocation: nothing changed.
            let (vp, vs) = &self.view;
            let mine = table.succs().iter().take(k1).filter(|p| p.id != self.me.id);
            if table.pred().map(|p| p.id) == vp.map(|p| p.id)
                && mine.clone().count() == vs.len()
                && mine.zip(vs).all(|(a, b)| a.id == *b)
            {
                return;
            }
        }
        let succs: Vec<PeerAddr> = table
            .succs()
            .iter()
            .take(k1)
            .filter(|p| p.id != self.me.id)
            .copied()
            .collect();
        let (old_pred, old_succs) = &self.view;
        let pred_same = table.pred().map(|p| p.id) == old_pred.map(|p| p.id);
        let succs_same =
            succs.len() == old_succs.len() && succs.iter().zip(old_succs).all(|(a, b)| a.id == *b);
        // Without a predecessor the primary range is unknown: wait.
        let Some(pred) = table.pred() else {
            return;
        };
        if pred_same && succs_same {
            return;
        }
        let old_pred = *old_pred;
        let new_succs: Vec<PeerAddr> = succs
            .iter()
            .filter(|p| !old_succs.contains(&p.id))
            .copied()
            .collect();
        self.view = (Some(pred), succs.iter().map(|p| p.id).collect());

        let me = Point::from(self.me.id);
        let p = Point::from(pred.id);
        let mut out: Vec<(PeerAddr, Vec<SignedRecord>)> = Vec::new();
        if let Some(old) = old_pred.filter(|o| o.id != pred.id) {
            let o = Point::from(old.id);
            if p.in_open(o, me) {
                // A node joined between the old predecessor and us: it is
                // now the primary of (old, pred].
                let handoff = storage.records_in(o, p);
                out.push((pred, handoff));
            } else if o.in_open(p, me) {
                // The predecessor left or failed: (pred, old] is ours now.
                let grown = storage.records_in(p, o);
                for s in &succs {
                    out.push((*s, grown.clone()));
                }
            }
        } else if old_pred.is_none() && pred.id != self.me.id {
            // A hand-off that reached this node before it knew its
            // predecessor may hold records of nodes that joined before it
            // meanwhile: pass back what lies before the predecessor.
            let before = storage.records_in(me, p);
            if !before.is_empty() {
                out.push((pred, before));
            }
        }
        if !new_succs.is_empty() {
            let primary = storage.records_in(p, me);
            for s in new_succs {
                out.push((s, primary.clone()));
            }
        }
        for (to, records) in out {
            push(io, to, records, now_ms);
        }
    }

    /// Stores `records` here and passes on the ones that changed: to this
    /// node's k-1 successors those it is the primary of, and to its
    /// predecessor those a successor handed it that belong further back.
    ///
    /// The first covers a publisher whose peer list came from a node whose
    /// successor list was still short. The second covers a hand-off that
    /// arrives after a newer node joined just before this one. A copy that
    /// is already held answers `Unchanged` and goes no further, so neither
    /// loops.
    fn store_and_spread(
        &self,
        from: Option<PeerAddr>,
        records: &[SignedRecord],
        table: &RoutingTable,
        storage: &mut Storage,
        io: &mut Io,
        now_ms: u64,
    ) -> Vec<StoreOutcome> {
        // Its own operations store where their lookup found it an owner.
        let outcomes = match from {
            Some(_) => store_held(records, table, storage),
            None => records.iter().map(|r| storage.put(r)).collect(),
        };
        let Some(pred) = table.pred() else {
            return outcomes;
        };
        let (p, me) = (Point::from(pred.id), Point::from(self.me.id));
        let from_successor = from.is_some_and(|f| table.succs().iter().any(|s| s.id == f.id));
        let mut forward: Vec<SignedRecord> = Vec::new();
        let mut back: Vec<SignedRecord> = Vec::new();
        for (r, o) in records.iter().zip(&outcomes) {
            if !matches!(o, StoreOutcome::Stored | StoreOutcome::Removed) {
                continue;
            }
            if Point::from(r.record.aor.resource_id()).in_open_closed(p, me) {
                forward.push(r.clone());
            } else if from_successor && pred.id != self.me.id {
                back.push(r.clone());
            }
        }
        if !forward.is_empty() {
            let succs: Vec<PeerAddr> = table
                .succs()
                .iter()
                .take(self.k - 1)
                .filter(|s| s.id != self.me.id)
                .copied()
                .collect();
            for to in succs {
                push(io, to, forward.clone(), now_ms);
            }
        }
        push(io, pred, back, now_ms);
        outcomes
    }

    /// A repair round: sends the digest of this node's primary range to its
    /// first k-1 successors, which should hold the same records, and to one
    /// farther successor in turn, which may hold copies that joins left
    /// behind it.
    pub(super) fn start_repair(
        &mut self,
        table: &RoutingTable,
        storage: &Storage,
        io: &mut Io,
        now_ms: u64,
    ) {
        self.digest_askers.clear();
        let Some(pred) = table.pred().filter(|p| p.id != self.me.id) else {
            return;
        };
        let (p, me) = (Point::from(pred.id), Point::from(self.me.id));
        let at = storage.wall();
        let digest = storage.digest_in(p, me, at);
        let mut others: Vec<PeerAddr> = Vec::new();
        for s in table.succs() {
            if s.id != self.me.id && !others.iter().any(|o| o.id == s.id) {
                others.push(*s);
            }
        }
        let k1 = (self.k - 1).min(others.len());
        let mut asked: Vec<(PeerAddr, bool)> = others[..k1].iter().map(|s| (*s, true)).collect();
        if others.len() > k1 {
            let far = k1 + self.repair_turn % (others.len() - k1);
            self.repair_turn = self.repair_turn.wrapping_add(1);
            asked.push((others[far], false));
        }
        for (to, near) in asked {
            let body = Request::Digest {
                from: pred.id.0,
                digest,
                at,
            };
            let purpose = Purpose::Repair { near };
            let _ = io.request(to, body, purpose, Traffic::Maintenance, now_ms);
        }
    }

    /// Answers a `Digest` of `(start, asker]`. Only a plausible
    /// predecessor is answered: the asker and the start of its range lie
    /// within twice the arc this node's successor list spans, behind it
    /// (the r nodes before a node span about what the r after it do). Each
    /// asker is answered once a round, and at most r + k askers are. On a
    /// mismatch this node sends its records of that bounded range to the
    /// asker, its primary, which keeps and spreads what it lacked.
    fn serve_digest(
        &mut self,
        ask: DigestAsked,
        table: &RoutingTable,
        storage: &Storage,
        io: &mut Io,
        now_ms: u64,
    ) -> Response {
        let DigestAsked {
            asker,
            start,
            digest,
            at,
        } = ask;
        let end = Point::from(asker.id);
        let known = table.is_neighbour(asker.id);
        if !self.plausible_predecessor_range(table, start, end, known)
            || table.neighbour_inside(start, end)
        {
            return Response::refused(RefusalCode::Invalid, "not a range this node can hold");
        }
        // The predecessors this node knows are always answered once a
        // round; others share what is left of the bound.
        let others_full = self.digest_askers.len() >= self.r + self.k;
        if self.digest_askers.contains(&asker.id)
            || (others_full && !table.is_predecessor(asker.id))
        {
            return Response::refused(RefusalCode::Busy, "too many digests this round");
        }
        self.digest_askers.push(asker.id);
        // The asker's moment, not this node's: a record that lapses or
        // settles in between counts the same on both sides.
        let mine = storage.digest_in(start, end, at);
        let matched = mine == digest;
        if !matched {
            io.out().digest_differed();
            let records = storage.records_in(start, end);
            push(io, asker, records, now_ms);
        }
        Response::Digested { matched }
    }

    /// Whether `(start, end]` can be a predecessor's primary range: both
    /// ends behind this node, within twice its successor list's arc. In a
    /// ring so small that the window passes half of it, the window tells
    /// nothing: there the asker must be a neighbour this node knows
    /// (`known`), and in a small ring it knows them all.
    fn plausible_predecessor_range(
        &self,
        table: &RoutingTable,
        start: Point,
        end: Point,
        known: bool,
    ) -> bool {
        let me = Point::from(self.me.id);
        let Some(last) = table.succs().last() else {
            return false;
        };
        let arc = Point::from(last.id).wrapping_sub(me);
        let window = arc.wrapping_add(arc);
        if window < arc {
            return known && start != end;
        }
        let back = |p: Point| me.wrapping_sub(p);
        let (to_end, to_start) = (back(end), back(start));
        end != me && to_end <= window && to_start <= window && to_start > to_end
    }

    /// Sends every record this node is primary for to `to`, a replica
    /// holder whose digest differed.
    pub(super) fn push_primary_range(
        &self,
        to: PeerAddr,
        table: &RoutingTable,
        storage: &Storage,
        io: &mut Io,
        now_ms: u64,
    ) {
        let Some(pred) = table.pred() else {
            return;
        };
        let records = storage.records_in(Point::from(pred.id), Point::from(self.me.id));
        push(io, to, records, now_ms);
    }
}

/// Stores the records a peer sent, of the keys this node holds.
fn store_held(
    records: &[SignedRecord],
    table: &RoutingTable,
    storage: &mut Storage,
) -> Vec<StoreOutcome> {
    records
        .iter()
        .map(|r| {
            if table.holds(Point::from(r.record.aor.resource_id())) {
                storage.put(r)
            } else {
                StoreOutcome::NotResponsible
            }
        })
        .collect()
}

/// Sends `records` to `to` in `Store` batches (none when empty).
fn push(io: &mut Io, to: PeerAddr, records: Vec<SignedRecord>, now_ms: u64) {
    for batch in batches(records) {
        let body = Request::Store { records: batch };
        let _ = io.request(to, body, Purpose::Replicate, Traffic::Replication, now_ms);
    }
}

#[cfg(test)]
mod tests {
    use crate::test_peers::peer;
    use std::time::Duration;

    use std::sync::Arc;

    use lsp_core::{Aor, Binding, Identity, ManualClock, NodeId, Record, UnixTime};

    use super::*;
    use crate::node::NodeState;
    use crate::wire::{DIGEST_SETTLE, Message};
    use crate::{Chord, Config};

    /// `node` answers a `Digest` from `asker`.
    fn serve_digest(
        node: &mut Chord,
        asker: PeerAddr,
        start: Point,
        digest: [u8; 32],
        at: UnixTime,
    ) -> Response {
        let (table, storage) = (&node.table, &node.storage);
        let ask = DigestAsked {
            asker,
            start,
            digest,
            at,
        };
        node.replicas
            .serve_digest(ask, table, storage, &mut node.io, 0)
    }

    /// The `Store` requests sent since the last call, by destination.
    fn pushes(node: &mut Chord) -> Vec<NodeId> {
        std::iter::from_fn(|| node.poll_transmit())
            .filter(|t| {
                matches!(
                    Message::decode(&t.frame),
                    Ok(Message::Request {
                        body: Request::Store { .. },
                        ..
                    })
                )
            })
            .map(|t| t.to.id)
            .collect()
    }

    const NOW: UnixTime = UnixTime(1_750_000_000_000);

    /// A node at 0x80 (predecessor 0x70) holding one record of each of
    /// `versions` in (0x50.., 0x60..], the range a predecessor at 0x60
    /// asks about; returns the node, that range and asker, and the records.
    fn node_with_range(versions: &[u64]) -> (Chord, Point, PeerAddr, Vec<SignedRecord>) {
        let config = Config::default().clock(Arc::new(ManualClock::new(NOW)));
        let mut node = Chord::new(peer(0x80), config);
        node.state = NodeState::Joined;
        let succs = vec![peer(0x90), peer(0xa0), peer(0xb0)];
        node.table
            .set_neighbours(Some(peer(0x70)), succs, Vec::new());
        let (start, asker) = (Point([0x50; 32]), peer(0x60));
        let publisher = Identity::from_secret_bytes([9; 32]);
        let aors = (0..)
            .map(|n| Aor::parse(&format!("sip:u{n}@example.com")).expect("aor"))
            .filter(|aor| {
                Point::from(aor.resource_id()).in_open_closed(start, Point::from(asker.id))
            });
        let mut records = Vec::new();
        for (aor, &version) in aors.zip(versions) {
            let binding = Binding::new("sip:u@192.0.2.9", NOW + Duration::from_secs(600), "c", 1);
            let record = Record {
                aor,
                version,
                bindings: vec![binding],
            }
            .sign(&publisher)
            .expect("sign");
            assert_eq!(node.storage.put(&record), StoreOutcome::Stored);
            records.push(record);
        }
        (node, start, asker, records)
    }

    /// A digest gets an answer only from a plausible predecessor, once a
    /// round, within a bound; a mismatch sends the records of that range
    /// to the asker, and a stranger's digest sends nothing anywhere.
    #[test]
    fn a_strangers_digest_starts_no_push_and_a_predecessors_gets_its_range() {
        let (mut node, start, asker, _) = node_with_range(&[1, 1, 1]);
        let refused = |r: &Response| matches!(r, Response::Refused { .. });

        // Strangers: far behind, claiming the whole ring, or ahead.
        for (s, a) in [(0x05, 0x10), (0x60, 0x60), (0x90, 0x95)] {
            let answer = serve_digest(&mut node, peer(a), Point([s; 32]), [0; 32], NOW);
            assert!(refused(&answer), "{s:x}..{a:x}: {answer:?}");
        }
        assert_eq!(pushes(&mut node), vec![]);

        let answer = serve_digest(&mut node, asker, start, [0; 32], NOW);
        assert_eq!(answer, Response::Digested { matched: false });
        assert_eq!(pushes(&mut node), vec![asker.id], "one batch, to the asker");
        let again = serve_digest(&mut node, asker, start, [0; 32], NOW);
        assert!(refused(&again), "once a round");

        // At most r + k askers a round.
        let cap = node.cfg.r() + node.cfg.k();
        let served = (0x21..0x5f)
            .filter(|b| {
                let answer = serve_digest(&mut node, peer(*b), Point([0x20; 32]), [0; 32], NOW);
                !refused(&answer)
            })
            .count();
        assert_eq!(served, cap - 1);
        // Strangers spent the bound; the predecessor is still answered.
        let answer = serve_digest(&mut node, peer(0x70), Point([0x60; 32]), [0; 32], NOW);
        assert!(!refused(&answer), "{answer:?}");
    }

    /// In a ring of three, twice the successor list's arc passes half the
    /// ring and tells nothing: a digest is answered only for a neighbour's
    /// range that holds no other member. A stranger claiming almost the
    /// whole ring, or a small range behind it, gets no record; so does a
    /// member claiming a range across another member.
    #[test]
    fn in_a_small_ring_only_a_neighbours_own_range_is_answered() {
        let (mut node, _, _, _) = node_with_range(&[1, 1, 1]);
        node.table
            .set_neighbours(Some(peer(0x60)), vec![peer(0xc0), peer(0x60)], Vec::new());
        let refused = |r: &Response| matches!(r, Response::Refused { .. });
        for (start, asker) in [(0x81, 0x70), (0x50, 0x58), (0x90, 0x60)] {
            let answer = serve_digest(&mut node, peer(asker), Point([start; 32]), [0; 32], NOW);
            assert!(refused(&answer), "{start:x}..{asker:x}: {answer:?}");
        }
        assert_eq!(pushes(&mut node), vec![], "nothing sent anywhere");
        let answer = serve_digest(&mut node, peer(0x60), Point([0xc0; 32]), [0; 32], NOW);
        assert_eq!(answer, Response::Digested { matched: false });
        assert_eq!(pushes(&mut node), vec![peer(0x60).id], "its range, to it");
    }

    /// A write still on its way to some replicas (its version within
    /// DIGEST_SETTLE of the digest's moment) does not make two digests
    /// differ, so a steady stream of writes starts no range pushes; once it
    /// has settled, a replica that lacks it differs again.
    #[test]
    fn a_record_still_settling_leaves_the_digests_equal() {
        let recent = NOW.as_millis() - 2_000;
        let (mut node, start, asker, records) = node_with_range(&[1, 1, recent]);
        // The asker holds the two settled records, not the recent one.
        let (asker_store, _, _, _) = node_with_range(&[1, 1]);
        let digest_at = |at: UnixTime| {
            asker_store
                .storage
                .digest_in(start, Point::from(asker.id), at)
        };
        assert_eq!(records.len(), 3);

        let answer = serve_digest(&mut node, asker, start, digest_at(NOW), NOW);
        assert_eq!(answer, Response::Digested { matched: true });
        assert_eq!(pushes(&mut node), vec![], "nothing pushed");

        node.replicas.digest_askers.clear();
        let later = NOW + DIGEST_SETTLE;
        let answer = serve_digest(&mut node, asker, start, digest_at(later), later);
        assert_eq!(answer, Response::Digested { matched: false });
        assert_eq!(pushes(&mut node), vec![asker.id], "the range, to the asker");
    }

    /// A primary passes on what a `Store` brings it, and nothing of what a
    /// `StoreHere` brings: that sender stores at every owner itself.
    #[test]
    fn a_primary_passes_on_a_store_but_not_a_store_here() {
        let now = UnixTime(1_750_000_000_000);
        let config = Config::default().clock(Arc::new(ManualClock::new(now)));
        let mut node = Chord::new(peer(0x80), config);
        node.state = NodeState::Joined;
        let succs = vec![peer(0x90), peer(0xa0), peer(0xb0)];
        node.table
            .set_neighbours(Some(peer(0x70)), succs, Vec::new());
        let primary_of = |n: &Chord, aor: &Aor| {
            let key = Point::from(aor.resource_id());
            key.in_open_closed(
                Point(n.predecessor().expect("pred").id.0),
                Point::from(n.me.id),
            )
        };
        let aor = (0..)
            .map(|n| Aor::parse(&format!("sip:u{n}@example.com")).expect("aor"))
            .find(|a| primary_of(&node, a))
            .expect("some AOR falls in the range");
        let publisher = Identity::from_secret_bytes([9; 32]);
        let version = |v: u64| {
            let b = Binding::new("sip:u@192.0.2.9", now + Duration::from_secs(600), "c", 1);
            let record = Record {
                aor: aor.clone(),
                version: v,
                bindings: vec![b],
            };
            record.sign(&publisher).expect("sign")
        };
        let stored = Response::Stored {
            outcomes: vec![StoreOutcome::Stored],
        };

        let here = Request::StoreHere {
            records: vec![version(1)],
        };
        assert_eq!(node.serve(peer(0x60), here, 0), stored);
        assert_eq!(pushes(&mut node), vec![], "nothing passed on");
        assert_eq!(node.store().fetch(&aor, now).expect("kept").len(), 1);

        let store = Request::Store {
            records: vec![version(2)],
        };
        assert_eq!(node.serve(peer(0x60), store, 0), stored);
        assert_eq!(pushes(&mut node), vec![peer(0x90).id, peer(0xa0).id]);
    }
}
