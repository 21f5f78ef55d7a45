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

use super::{Ctx, OpId, Ops, Phase, Then};
use crate::ring::Point;
use crate::wire::{Request, Response, StoreOutcome};

/// AORs handed over per repair round, at most.
const REHOME_PER_ROUND: usize = 16;

impl Ops {
    /// Starts handing over up to [`REHOME_PER_ROUND`] misplaced AORs,
    /// unless a previous round's are still on their way (the node checks
    /// that it is not cut off).
    pub(in crate::node) fn start_rehoming(&mut self, cx: &mut Ctx<'_>) {
        if self.rehoming() {
            return;
        }
        // Only the first AORs found are decoded: after a partition most of
        // the store may be misplaced, and the rest waits for later rounds.
        let mut picked = 0;
        let table = cx.table;
        let found = cx.storage.records_where(|rid| {
            let take = picked < REHOME_PER_ROUND && table.misplaced(Point::from(rid));
            picked += usize::from(take);
            take
        });
        let mut aors: Vec<Aor> = Vec::new();
        for record in found {
            let rid = record.record.aor.resource_id();
            if !aors.iter().any(|a| a.resource_id() == rid) {
                aors.push(record.record.aor);
            }
        }
        for aor in aors {
            let target = Point::from(aor.resource_id());
            self.start_route(cx, target, Then::Rehome(Box::new(aor)), None);
        }
    }

    /// The lookup found the AOR's `owners`: send each of the first k every
    /// record held for it.
    pub(super) fn rehome_to(
        &mut self,
        cx: &mut Ctx<'_>,
        id: OpId,
        aor: Box<Aor>,
        owners: Vec<PeerAddr>,
    ) {
        let k = cx.cfg.k();
        let owners: Vec<PeerAddr> = owners.into_iter().take(k).collect();
        let records: Vec<SignedRecord> = cx.storage.fetch(&aor);
        // Found to be an owner after all, or nothing left to send.
        if owners.is_empty() || owners.iter().any(|o| o.id == cx.me.id) || records.is_empty() {
            self.remove(cx, id);
            return;
        }
        let Ok(sent) = records
            .iter()
            .map(SignedRecord::to_bytes)
            .collect::<Result<Vec<_>, _>>()
        else {
            self.remove(cx, id);
            return;
        };
        if let Some(op) = self.running.get_mut(&id) {
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
            self.request(cx, id, to, body);
        }
    }

    /// An owner answered (`Some`) or could not be reached (`None`). When
    /// all have, and every one took every record (or holds a newer one),
    /// the copy here goes.
    pub(super) fn rehome_answered(&mut self, cx: &mut Ctx<'_>, id: OpId, body: Option<Response>) {
        let Some(Phase::Rehome {
            sent,
            waiting,
            refused,
            ..
        }) = self.running.get_mut(&id).map(|o| &mut o.phase)
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
        let Some(op) = self.remove(cx, id) else {
            return;
        };
        let Phase::Rehome {
            aor, sent, refused, ..
        } = op.phase
        else {
            return;
        };
        if !refused && cx.table.misplaced(Point::from(aor.resource_id())) {
            cx.storage
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
