//! Handing over copies of keys this node no longer holds.
//!
//! While cut off, a node may take writes for keys its ring holds
//! elsewhere; while split, each side stores for the whole ring; after
//! joins, a former k-th owner keeps copies nobody reads. Once the ring is
//! whole again, such a copy lies before this node's k-th predecessor,
//! where no reader looks. Each repair round the node sends a few of those
//! AORs to their owners, found by lookup (with a second opinion, like a
//! user's), and drops its copy once every owner asked has taken it.

use lsp_core::{Aor, PeerAddr, SignedRecord};

use super::ops::{Phase, Then};
use super::{Chord, OpId, Purpose};
use crate::ring::Point;
use crate::wire::{Request, Response, StoreOutcome};

/// AORs handed over per repair round, at most.
const REHOME_PER_ROUND: usize = 16;

impl Chord {
    /// Whether `key` is surely not this node's to hold: the ring is larger
    /// than k, the k - 1 farther predecessors are known, and the key lies
    /// before the k-th of them. Unsure means no.
    pub(crate) fn misplaced(&self, key: Point) -> bool {
        let Some(p) = self.pred else { return false };
        let k = self.cfg.k();
        // In a ring smaller than the successor list, the list wraps round
        // to the predecessor, which tells the ring's size.
        match self.succs.iter().position(|s| s.id == p.id) {
            Some(i) if i + 2 <= k => return false,
            None if self.succs.len() < k => return false,
            _ => {}
        }
        let start = if k == 1 {
            p
        } else {
            match self.farther_preds.get(k - 2) {
                Some(s) => *s,
                None => return false,
            }
        };
        !key.in_open_closed(Point(start.id.0), Point(self.me.id.0))
    }

    /// Starts handing over up to [`REHOME_PER_ROUND`] misplaced AORs, unless
    /// a previous round's are still on their way or the node is cut off.
    pub(crate) fn start_rehoming(&mut self, now_ms: u64) {
        let busy = self.ops.values().any(|o| o.rehomes());
        if busy || self.isolated(now_ms).is_some() {
            return;
        }
        // Only the first AORs found are decoded: after a partition most of
        // the store may be misplaced, and the rest waits for later rounds.
        let mut picked = 0;
        let found = self.store.records_where(self.wall(), |rid| {
            let take = picked < REHOME_PER_ROUND && self.misplaced(Point::from(rid));
            picked += usize::from(take);
            take
        });
        let mut aors: Vec<Aor> = Vec::new();
        for (rid, record) in found {
            if !aors.iter().any(|a| a.resource_id() == rid) {
                aors.push(record.record.aor);
            }
        }
        for aor in aors {
            let target = Point::from(aor.resource_id());
            self.start_route(target, Then::Rehome(Box::new(aor)), None, now_ms);
        }
    }

    /// The lookup found the AOR's `owners`: send each of the first k every
    /// record held for it.
    pub(crate) fn rehome_to(&mut self, id: OpId, aor: Box<Aor>, owners: Vec<PeerAddr>, t: u64) {
        let k = self.cfg.k();
        let owners: Vec<PeerAddr> = owners.into_iter().take(k).collect();
        let records: Vec<SignedRecord> = self.store.fetch(&aor, self.wall()).unwrap_or_default();
        // Found to be an owner after all, or nothing left to send.
        if owners.is_empty() || owners.iter().any(|o| o.id == self.me.id) || records.is_empty() {
            self.remove_op(id);
            return;
        }
        let Ok(sent) = records
            .iter()
            .map(SignedRecord::to_bytes)
            .collect::<Result<Vec<_>, _>>()
        else {
            self.remove_op(id);
            return;
        };
        if let Some(op) = self.ops.get_mut(&id) {
            op.phase = Phase::Rehome {
                aor,
                sent,
                waiting: owners.len(),
                refused: false,
            };
        }
        for to in owners {
            let body = Request::Store {
                records: records.clone(),
            };
            self.request(to, body, Purpose::Op(id), t);
        }
    }

    /// An owner answered (`Some`) or could not be reached (`None`). When
    /// all have, and every one took every record (or holds a newer one),
    /// the copy here goes.
    pub(crate) fn rehome_answered(&mut self, id: OpId, body: Option<Response>) {
        let Some(Phase::Rehome {
            sent,
            waiting,
            refused,
            ..
        }) = self.ops.get_mut(&id).map(|o| &mut o.phase)
        else {
            return;
        };
        let taken = match body {
            Some(Response::Stored { outcomes }) => {
                outcomes.len() == sent.len() && outcomes.iter().all(taken)
            }
            _ => false,
        };
        *refused |= !taken;
        *waiting = waiting.saturating_sub(1);
        if *waiting > 0 {
            return;
        }
        let Some(op) = self.remove_op(id) else { return };
        let Phase::Rehome {
            aor, sent, refused, ..
        } = op.phase
        else {
            return;
        };
        if !refused && self.misplaced(Point::from(aor.resource_id())) {
            self.store
                .forget(&aor, |bytes| sent.iter().any(|s| s.as_slice() == bytes));
        }
    }
}

/// Whether an owner's answer shows it has the record: stored, held, or a
/// newer version held.
fn taken(o: &StoreOutcome) -> bool {
    matches!(
        o,
        StoreOutcome::Stored
            | StoreOutcome::Unchanged
            | StoreOutcome::Removed
            | StoreOutcome::Replay { .. }
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_peers::peer;
    use crate::{Config, NodeState};

    /// Node 0x10 in a ring of `ring` (sorted, 0x10 among them), k = 3,
    /// with its tables as a settled ring would have them.
    fn settled(ring: &[u8]) -> Chord {
        let mut node = Chord::new(peer(0x10), Config::default());
        node.state = NodeState::Joined;
        let i = ring.iter().position(|b| *b == 0x10).expect("in the ring");
        let n = ring.len();
        let at = |j: usize| peer(ring[j % n]);
        node.succs = (1..n).map(|d| at(i + d)).collect();
        node.pred = Some(at(i + n - 1));
        node.farther_preds = (2..=3).filter(|d| *d < n).map(|d| at(i + n - d)).collect();
        node
    }

    #[test]
    fn a_key_before_the_kth_predecessor_is_misplaced_once_the_ring_is_larger_than_k() {
        // Five nodes: 0x10 holds (0x60, 0x10], the keys of itself and of
        // its two predecessors 0xe0 and 0xf0.
        let node = settled(&[0x10, 0x30, 0x60, 0xe0, 0xf0]);
        assert!(!node.misplaced(Point([0x05; 32])));
        assert!(!node.misplaced(Point([0xd0; 32])));
        assert!(node.misplaced(Point([0x50; 32])));
        assert!(node.misplaced(Point([0x20; 32])));
        // Three nodes and k = 3: every node holds every key.
        let small = settled(&[0x10, 0x60, 0xc0]);
        assert!(!small.misplaced(Point([0x20; 32])));
    }
}
