//! The phases after a lookup that read or write records: a publish's
//! store round, a query's or fetch's read round, and a member's leave.

use lsp_core::{Error, PeerAddr, SignedRecord};

use super::{Ctx, OpId, Ops, Outcome, Phase, Publishing, batches};
use crate::node::outputs::Traffic;
use crate::node::requests::Purpose;
use crate::ring::Point;
use crate::rounds::{self, Read};
use crate::wire::{Request, StoreOutcome};

impl Ops {
    pub(super) fn send_store(&mut self, cx: &mut Ctx<'_>, id: OpId, to: PeerAddr) {
        let Some(Phase::Store {
            record, pass_on, ..
        }) = self.running.get(&id).map(|o| &o.phase)
        else {
            return;
        };
        let (record, pass_on) = ((**record).clone(), *pass_on);
        if to.id == cx.me.id {
            // The operation itself stores on every replica: unlike a
            // record a peer sends, there is nothing to pass on.
            let outcome = match record {
                Publishing::Checked(r) => cx.storage.put(&r),
                Publishing::Own(own) => cx.storage.put_own(&own),
                Publishing::OwnReplacing(own, replaces) => {
                    cx.storage.put_own_replacing(&own, replaces)
                }
            };
            self.store_answered(cx, id, to, Some(outcome));
        } else if let Publishing::OwnReplacing(own, replaces) = record {
            // Never passed on: a copy passed on would carry no condition.
            let record = own.into_signed();
            self.request(cx, id, to, Request::StoreReplacing { record, replaces });
        } else {
            let records = vec![record.into_signed()];
            let body = if pass_on {
                Request::Store { records }
            } else {
                Request::StoreHere { records }
            };
            self.request(cx, id, to, body);
        }
    }

    /// Replica `from` answered (`Some`) or could not be reached (`None`).
    pub(super) fn store_answered(
        &mut self,
        cx: &mut Ctx<'_>,
        id: OpId,
        from: PeerAddr,
        outcome: Option<StoreOutcome>,
    ) {
        let Some(Phase::Store { round, .. }) = self.running.get_mut(&id).map(|o| &mut o.phase)
        else {
            return;
        };
        let next = round.on_answer(from, outcome);
        self.store_next(cx, id, next);
    }

    pub(super) fn store_next(
        &mut self,
        cx: &mut Ctx<'_>,
        id: OpId,
        next: rounds::Next<Result<lsp_core::Published, Error>>,
    ) {
        match next {
            rounds::Next::Ask(p) => self.send_store(cx, id, p),
            rounds::Next::Wait => {}
            rounds::Next::Done(r) => self.end(cx, id, r.map(Outcome::Published)),
        }
    }

    pub(super) fn send_fetch(&mut self, cx: &mut Ctx<'_>, id: OpId, to: PeerAddr) {
        let Some(Phase::Fetch { aor, .. }) = self.running.get(&id).map(|o| &o.phase) else {
            return;
        };
        let aor = (**aor).clone();
        if to.id == cx.me.id {
            let records = cx.storage.fetch(&aor);
            self.fetch_answered(cx, id, to, Some(records));
        } else {
            self.request(cx, id, to, Request::Fetch { aor });
        }
    }

    /// A replica answered with records (`Some`) or could not be reached.
    /// Readers check what storing nodes hand them: only records of the AOR
    /// asked that verify under the policy count.
    pub(super) fn fetch_answered(
        &mut self,
        cx: &mut Ctx<'_>,
        id: OpId,
        from: PeerAddr,
        records: Option<Vec<SignedRecord>>,
    ) {
        let policy = cx.cfg.policy.clone();
        let Some(Phase::Fetch { aor, round, .. }) = self.running.get_mut(&id).map(|o| &mut o.phase)
        else {
            return;
        };
        let storage = &cx.storage;
        // A copy this node keeps was checked when stored (in a small ring
        // the reader is often an owner itself), and one another owner
        // answered with was checked then: honest owners agree byte for
        // byte, so a read checks each signature once.
        let checked =
            |r: &SignedRecord| storage.holds(r) || round.answered_with(r) || r.verify().is_ok();
        let valid = records.map(|records| {
            records
                .into_iter()
                .filter(|r| r.record.aor == **aor && checked(r) && policy.authorize(r, &[]).is_ok())
                .collect()
        });
        let conflict =
            |r: &SignedRecord, owners: &[lsp_core::PublicKey]| policy.authorize(r, owners).is_err();
        let next = round.on_answer(from, valid, conflict);
        self.fetch_next(cx, id, next);
    }

    pub(super) fn fetch_next(&mut self, cx: &mut Ctx<'_>, id: OpId, next: rounds::Next<Read>) {
        let read = match next {
            rounds::Next::Ask(p) => return self.send_fetch(cx, id, p),
            rounds::Next::Wait => return,
            rounds::Next::Done(read) => read,
        };
        let Some(Phase::Fetch { aor, records, .. }) = self.running.get(&id).map(|o| &o.phase)
        else {
            return;
        };
        let (aor, want_records) = ((**aor).clone(), *records);
        let result = match read {
            Read::Found {
                records: valid,
                behind,
            } => {
                // Owners that answered with less are brought up to date.
                let me = cx.me.id;
                for to in behind.into_iter().filter(|p| p.id != me) {
                    let body = Request::Store {
                        records: valid.clone(),
                    };
                    let _ = cx.io.request(
                        to,
                        body,
                        Purpose::Replicate,
                        Traffic::Replication,
                        cx.now_ms,
                    );
                }
                if want_records {
                    Ok(Outcome::Records(valid))
                } else {
                    let now = cx.storage.wall();
                    let bindings = lsp_core::live_bindings(valid.iter().map(|r| &r.record), now);
                    Ok(Outcome::Bindings(bindings))
                }
            }
            Read::NotFound => Err(Error::NotFound(aor)),
            Read::Unreachable(primary) => Err(Error::Unreachable(primary)),
        };
        self.end(cx, id, result);
    }

    /// A member's graceful leave: hand primary records to the successor,
    /// tell both neighbours, and stop once they answered or timed out.
    pub(in crate::node) fn start_leave(&mut self, cx: &mut Ctx<'_>) -> OpId {
        let id = match self.add(cx, Phase::Leave { in_flight: 0 }) {
            Ok(id) => id,
            Err(failed) => return failed,
        };
        let Some(succ) = cx.table.succs().first().copied() else {
            self.end(cx, id, Ok(Outcome::Left));
            return id;
        };
        let me = Point::from(cx.me.id);
        let pred = cx.table.pred();
        let records: Vec<SignedRecord> = cx.storage.records_where(|rid| {
            pred.is_none_or(|p| Point::from(rid).in_open_closed(Point::from(p.id), me))
        });
        let mut messages: Vec<(PeerAddr, Request)> = batches(records)
            .into_iter()
            .map(|records| (succ, Request::Store { records }))
            .collect();
        let leaving = Request::Leaving {
            predecessor: pred,
            successors: cx.table.succs().to_vec(),
        };
        messages.push((succ, leaving.clone()));
        if let Some(p) = pred.filter(|p| p.id != succ.id) {
            messages.push((p, leaving));
        }
        if let Some(op) = self.running.get_mut(&id) {
            op.phase = Phase::Leave {
                in_flight: messages.len(),
            };
        }
        for (to, body) in messages {
            self.request(cx, id, to, body);
        }
        id
    }

    pub(super) fn leave_answered(&mut self, cx: &mut Ctx<'_>, id: OpId) {
        let Some(Phase::Leave { in_flight }) = self.running.get_mut(&id).map(|o| &mut o.phase)
        else {
            return;
        };
        *in_flight = in_flight.saturating_sub(1);
        if *in_flight == 0 {
            self.end(cx, id, Ok(Outcome::Left));
        }
    }
}
