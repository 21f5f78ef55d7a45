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

use lsp_core::{PeerAddr, SignedRecord};

use super::ops::batches;
use super::{Chord, Purpose};
use crate::ring::Point;
use crate::wire::StoreOutcome;
use crate::wire::{Request, Response};

impl Chord {
    pub(crate) fn sync_replicas(&mut self, now_ms: u64) {
        let k1 = self.cfg.k() - 1;
        {
            // Fast path, no allocation: nothing changed.
            let (vp, vs) = &self.replica_view;
            let mine = self.succs.iter().take(k1).filter(|p| p.id != self.me.id);
            if self.pred.map(|p| p.id) == vp.map(|p| p.id)
                && mine.clone().count() == vs.len()
                && mine.zip(vs).all(|(a, b)| a.id == *b)
            {
                return;
            }
        }
        let succs: Vec<PeerAddr> = self
            .succs
            .iter()
            .take(k1)
            .filter(|p| p.id != self.me.id)
            .copied()
            .collect();
        let (old_pred, old_succs) = &self.replica_view;
        let pred_same = self.pred.map(|p| p.id) == old_pred.map(|p| p.id);
        let succs_same =
            succs.len() == old_succs.len() && succs.iter().zip(old_succs).all(|(a, b)| a.id == *b);
        // Without a predecessor the primary range is unknown: wait.
        let Some(pred) = self.pred else { return };
        if pred_same && succs_same {
            return;
        }
        let old_pred = *old_pred;
        let new_succs: Vec<PeerAddr> = succs
            .iter()
            .filter(|p| !old_succs.contains(&p.id))
            .copied()
            .collect();
        self.replica_view = (Some(pred), succs.iter().map(|p| p.id).collect());

        let me = Point(self.me.id.0);
        let p = Point(pred.id.0);
        let mut out: Vec<(PeerAddr, Vec<SignedRecord>)> = Vec::new();
        if let Some(old) = old_pred.filter(|o| o.id != pred.id) {
            let o = Point(old.id.0);
            if p.in_open(o, me) {
                // A node joined between the old predecessor and us: it is
                // now the primary of (old, pred].
                let handoff = self.records_in(o, p);
                out.push((pred, handoff));
            } else if o.in_open(p, me) {
                // The predecessor left or failed: (pred, old] is ours now.
                let grown = self.records_in(p, o);
                for s in &succs {
                    out.push((*s, grown.clone()));
                }
            }
        } else if old_pred.is_none() && pred.id != self.me.id {
            // A hand-off that reached this node before it knew its
            // predecessor may hold records of nodes that joined before it
            // meanwhile: pass back what lies before the predecessor.
            let before = self.records_in(me, p);
            if !before.is_empty() {
                out.push((pred, before));
            }
        }
        if !new_succs.is_empty() {
            let primary = self.records_in(p, me);
            for s in new_succs {
                out.push((s, primary.clone()));
            }
        }
        let t = now_ms;
        for (to, records) in out {
            self.push(to, records, t);
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
    pub(crate) fn store_and_spread(
        &mut self,
        from: Option<PeerAddr>,
        records: &[SignedRecord],
        now_ms: u64,
    ) -> Vec<StoreOutcome> {
        let outcomes: Vec<StoreOutcome> = records.iter().map(|r| self.store_local(r)).collect();
        let Some(pred) = self.pred else {
            return outcomes;
        };
        let (p, me) = (Point(pred.id.0), Point(self.me.id.0));
        let from_successor = from.is_some_and(|f| self.succs.iter().any(|s| s.id == f.id));
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
        let t = now_ms;
        if !forward.is_empty() {
            let succs: Vec<PeerAddr> = self
                .succs
                .iter()
                .take(self.cfg.k() - 1)
                .filter(|s| s.id != self.me.id)
                .copied()
                .collect();
            for to in succs {
                self.push(to, forward.clone(), t);
            }
        }
        self.push(pred, back, t);
        outcomes
    }

    /// A repair round: sends the digest of this node's primary range to its
    /// first k-1 successors, which should hold the same records, and to one
    /// farther successor in turn, which may hold copies that joins left
    /// behind it.
    pub(crate) fn start_repair(&mut self, now_ms: u64) {
        let Some(pred) = self.pred.filter(|p| p.id != self.me.id) else {
            return;
        };
        let (p, me) = (Point(pred.id.0), Point(self.me.id.0));
        let digest = self
            .store
            .digest_where(self.wall(), |rid| Point::from(rid).in_open_closed(p, me));
        let mut others: Vec<PeerAddr> = Vec::new();
        for s in &self.succs {
            if s.id != self.me.id && !others.iter().any(|o| o.id == s.id) {
                others.push(*s);
            }
        }
        let k1 = (self.cfg.k() - 1).min(others.len());
        let mut asked: Vec<(PeerAddr, bool)> = others[..k1].iter().map(|s| (*s, true)).collect();
        if others.len() > k1 {
            let far = k1 + self.repair_turn % (others.len() - k1);
            self.repair_turn = self.repair_turn.wrapping_add(1);
            asked.push((others[far], false));
        }
        let t = now_ms;
        for (to, near) in asked {
            let body = Request::Digest {
                from: pred.id.0,
                digest,
            };
            self.request(to, body, Purpose::Repair { near }, t);
        }
    }

    /// Answers a `Digest` of `(start, asker]`. On a mismatch this node
    /// sends its own records of the range to its predecessor, never to the
    /// asker: the asker can claim any range, and the predecessor is the
    /// node a hand-off would go to anyway. From there the records travel
    /// back hop by hop (see `store_and_spread`) until one holds them.
    pub(crate) fn serve_digest(
        &mut self,
        asker: PeerAddr,
        start: Point,
        digest: [u8; 32],
        now_ms: u64,
    ) -> Response {
        // Honest peers send at most r a round: k-1 from the predecessors this
        // node is a replica for, the rest from farther ones, one each.
        if self.digests_served >= self.cfg.r() + self.cfg.k() {
            return Response::Refused {
                reason: "too many digests this round".into(),
            };
        }
        self.digests_served += 1;
        let end = Point(asker.id.0);
        let mine = self.store.digest_where(self.wall(), |rid| {
            Point::from(rid).in_open_closed(start, end)
        });
        let matched = mine == digest;
        // Each push may be the whole store: a few a round, whoever asks.
        let may_push = !matched && self.repair_pushes < self.cfg.k();
        if let Some(pred) = self.pred.filter(|p| p.id != self.me.id && may_push) {
            self.repair_pushes += 1;
            let records = self.records_in(start, end);
            self.push(pred, records, now_ms);
        }
        Response::Digested { matched }
    }

    /// Sends every record this node is primary for to `to`, a replica
    /// holder whose digest differed.
    pub(crate) fn push_primary_range(&mut self, to: PeerAddr, now_ms: u64) {
        let Some(pred) = self.pred else { return };
        let records = self.records_in(Point(pred.id.0), Point(self.me.id.0));
        self.push(to, records, now_ms);
    }

    /// Sends `records` to `to` in `Store` batches (none when empty).
    fn push(&mut self, to: PeerAddr, records: Vec<SignedRecord>, now_ms: u64) {
        for batch in batches(records) {
            self.request(
                to,
                Request::Store { records: batch },
                Purpose::Replicate,
                now_ms,
            );
        }
    }

    /// The records held for Resource-IDs in `(from, to]`.
    fn records_in(&self, from: Point, to: Point) -> Vec<SignedRecord> {
        self.store
            .records_where(self.wall(), |rid| Point::from(rid).in_open_closed(from, to))
            .into_iter()
            .map(|(_, r)| r)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use crate::test_peers::peer;
    use std::time::Duration;

    use std::sync::Arc;

    use lsp_core::{Aor, Binding, Identity, ManualClock, NodeId, Record, UnixTime};

    use super::*;
    use crate::Config;
    use crate::node::NodeState;
    use crate::wire::Message;

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

    /// A `Digest` claiming any range gets an answer, but never records,
    /// and only a bounded number of answers and pushes a round.
    #[test]
    fn digests_are_answered_within_bounds_and_push_only_to_the_predecessor() {
        let (me, pred, succ, asker) = (peer(0x80), peer(0x40), peer(0xc0), peer(0x10));
        let now = UnixTime(1_750_000_000_000);
        let config = Config::default().clock(Arc::new(ManualClock::new(now)));
        let mut node = Chord::new(me, config);
        node.state = NodeState::Joined;
        node.pred = Some(pred);
        node.succs = vec![succ];
        let publisher = Identity::from_secret_bytes([9; 32]);
        for n in 0..20 {
            let aor = Aor::parse(&format!("sip:u{n}@example.com")).expect("aor");
            let binding = Binding::new("sip:u@192.0.2.9", now + Duration::from_secs(600), "c", 1);
            let record = Record {
                aor,
                version: 1,
                bindings: vec![binding],
            }
            .sign(&publisher);
            assert_eq!(node.store_local(&record), StoreOutcome::Stored);
        }
        let everything = Point(asker.id.0);
        let ask = |node: &mut Chord, digest| node.serve_digest(asker, everything, digest, 0);
        let held = node.store.digest_where(now, |rid| {
            Point::from(rid).in_open_closed(everything, everything)
        });

        assert_eq!(ask(&mut node, held), Response::Digested { matched: true });
        assert_eq!(pushes(&mut node), vec![]);
        let mut answers = vec![];
        for _ in 0..30 {
            answers.push(ask(&mut node, [0; 32]));
        }
        let k = node.cfg.k();
        let r = node.cfg.r();
        let unmatched = answers
            .iter()
            .filter(|a| **a == Response::Digested { matched: false })
            .count();
        assert_eq!(unmatched, r + k - 1, "{answers:?}");
        assert!(
            answers[unmatched..]
                .iter()
                .all(|a| matches!(a, Response::Refused { .. }))
        );
        // The records went back to the predecessor k times (one batch each),
        // never to the asker.
        assert_eq!(pushes(&mut node), vec![pred.id; k]);
    }
}
