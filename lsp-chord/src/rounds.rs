//! What follows a lookup, as small state machines: storing a record on
//! its replicas ([`StoreRound`]) and reading an AOR from them
//! ([`FetchRound`]). Like the lookup, they send nothing: the node asks
//! them whom to ask and feeds them the answers.

use lsp_core::{Error, NodeId, PeerAddr, PublicKey, Published, SignedRecord};

use crate::wire::StoreOutcome;

/// What a round wants done next.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Next<T> {
    /// Ask this peer.
    Ask(PeerAddr),
    /// Answers are awaited.
    Wait,
    /// The round is over.
    Done(T),
}

/// A record sent to the first k owners at once; an owner that cannot be
/// reached is replaced by the next one found, and so is one slow to answer
/// (the hedge), whose answer still counts if it comes. The owners that
/// answered decide by majority: more acceptances than refusals publish it,
/// so one hostile owner's refusal (a `Replay` claiming version 2^64 - 1, a
/// `Full`) cannot veto a write the others took. The round waits for every
/// owner that is not slow; once only slow ones are out, it ends as soon as
/// their answers could not change the verdict (a silent owner of three
/// costs a write the hedge delay, not its timeouts; repair brings it the
/// record later).
#[derive(Debug)]
pub(crate) struct StoreRound {
    peers: Vec<PeerAddr>,
    /// The next spare owner.
    next: usize,
    in_flight: usize,
    accepted: usize,
    refused: usize,
    all_unchanged: bool,
    /// The first refusal, reported when refusals win.
    refusal: Option<Error>,
    /// Owners asked that were reported slow and have not answered.
    slow: Vec<PeerAddr>,
}

impl StoreRound {
    /// A round over `peers` (the owners, primary first); returns the
    /// peers to ask now.
    pub(crate) fn new(peers: Vec<PeerAddr>, k: usize) -> (Self, Vec<PeerAddr>) {
        let want = k.min(peers.len());
        let first = peers[..want].to_vec();
        let round = Self {
            peers,
            next: want,
            in_flight: want,
            accepted: 0,
            refused: 0,
            all_unchanged: true,
            refusal: None,
            slow: Vec::new(),
        };
        (round, first)
    }

    /// `peer`, asked, has not answered within the hedge delay: the next
    /// spare owner is asked too, or, with none left, the round ends if the
    /// slow owners' answers could no longer change its verdict.
    pub(crate) fn on_slow(&mut self, peer: PeerAddr) -> Next<Result<Published, Error>> {
        if !self.peers[..self.next].contains(&peer) || self.slow.contains(&peer) {
            return Next::Wait;
        }
        self.slow.push(peer);
        if self.next < self.peers.len() {
            self.next += 1;
            self.in_flight += 1;
            return Next::Ask(self.peers[self.next - 1]);
        }
        self.verdict()
    }

    /// `from` answered (`Some`) or could not be reached (`None`). An
    /// owner that says the key is not its own counts as unreachable: the
    /// lookup that named it was wrong, or lied. One already hedged is not
    /// replaced a second time.
    pub(crate) fn on_answer(
        &mut self,
        from: PeerAddr,
        outcome: Option<StoreOutcome>,
    ) -> Next<Result<Published, Error>> {
        let was_slow = self.slow.iter().position(|p| *p == from);
        if let Some(i) = was_slow {
            self.slow.swap_remove(i);
        }
        let outcome = outcome.filter(|o| *o != StoreOutcome::NotResponsible);
        match outcome {
            Some(o) => {
                self.in_flight -= 1;
                self.all_unchanged &= o == StoreOutcome::Unchanged;
                match o.into_error() {
                    None => self.accepted += 1,
                    Some(e) => {
                        self.refused += 1;
                        self.refusal = self.refusal.take().or(Some(e));
                    }
                }
            }
            None if was_slow.is_none() && self.next < self.peers.len() => {
                self.next += 1;
                return Next::Ask(self.peers[self.next - 1]);
            }
            None => self.in_flight -= 1,
        }
        self.verdict()
    }

    /// Done once no owner is out, or once only slow ones are and their
    /// answers, whatever they are, could not change the outcome.
    fn verdict(&mut self) -> Next<Result<Published, Error>> {
        let out = self.in_flight;
        let decided = self.accepted > self.refused + out || self.refused >= self.accepted + out;
        if out > 0 && (out > self.slow.len() || !decided) {
            return Next::Wait;
        }
        Next::Done(match (self.refusal.take(), self.accepted) {
            (_, n) if n > self.refused => Ok(Published::new(n, self.all_unchanged)),
            (Some(e), _) => Err(e),
            (None, _) => Err(Error::Unreachable(self.first())),
        })
    }

    fn first(&self) -> NodeId {
        self.peers.first().map_or(NodeId([0; 32]), |p| p.id)
    }
}

/// How a read ended.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Read {
    /// The newest valid records the owners hold, and the owners that
    /// answered without some of them (to be brought up to date).
    Found {
        records: Vec<SignedRecord>,
        behind: Vec<PeerAddr>,
    },
    /// Owners answered, and none held a valid record.
    NotFound,
    /// No owner answered; the primary's ID.
    Unreachable(NodeId),
}

/// A majority of the first k owners asked at once, the others one by one
/// while the answers disagree or find nothing; an owner that cannot be
/// reached is replaced by the next one. The read is over as soon as a
/// majority of k answered alike, or when k owners (or all there are) have
/// answered.
#[derive(Debug)]
pub(crate) struct FetchRound {
    peers: Vec<PeerAddr>,
    next: usize,
    in_flight: usize,
    k: usize,
    /// Each answering owner with the valid records it holds.
    answers: Vec<(PeerAddr, Vec<SignedRecord>)>,
}

impl FetchRound {
    /// A round over `peers` (the owners, primary first); returns the
    /// peers to ask now.
    pub(crate) fn new(peers: Vec<PeerAddr>, k: usize) -> (Self, Vec<PeerAddr>) {
        let want = (k / 2 + 1).min(peers.len());
        let first = peers[..want].to_vec();
        let round = Self {
            peers,
            next: want,
            in_flight: want,
            k,
            answers: Vec::new(),
        };
        (round, first)
    }

    /// `peer`, asked, has not answered within the hedge delay: the next
    /// owner is asked too, and `peer`'s answer still counts if it comes.
    /// Hedging changes when the next owner is asked, not what agrees.
    pub(crate) fn on_slow(&mut self, peer: PeerAddr) -> Next<Read> {
        let asked = self.peers[..self.next].contains(&peer);
        let answered = self.answers.iter().any(|(p, _)| *p == peer);
        if !asked || answered || self.next >= self.peers.len() {
            return Next::Wait;
        }
        self.next += 1;
        self.in_flight += 1;
        Next::Ask(self.peers[self.next - 1])
    }

    /// Whether an owner already answered with `record`, byte for byte: it
    /// was checked then, and need not be checked again.
    pub(crate) fn answered_with(&self, record: &SignedRecord) -> bool {
        self.answers
            .iter()
            .any(|(_, records)| records.contains(record))
    }

    /// `from` answered with the records that verified (`Some`), or could
    /// not be reached. `conflict(record, owners)` says whether the access
    /// policy would refuse `record` beside records of `owners`.
    pub(crate) fn on_answer(
        &mut self,
        from: PeerAddr,
        valid: Option<Vec<SignedRecord>>,
        conflict: impl Fn(&SignedRecord, &[PublicKey]) -> bool,
    ) -> Next<Read> {
        match valid {
            Some(records) => {
                self.in_flight = self.in_flight.saturating_sub(1);
                self.answers.push((from, records));
            }
            None if self.next < self.peers.len() => {
                self.next += 1;
                return Next::Ask(self.peers[self.next - 1]);
            }
            None => self.in_flight = self.in_flight.saturating_sub(1),
        }
        let newest = newest(&self.answers, conflict);
        let behind = behind(&self.answers, &newest);
        let majority = self.k / 2 + 1;
        // Nothing found is never taken early: an owner not yet heard from
        // may be the one that holds it.
        let agreed = self.answers.len() >= majority && behind.is_empty() && !newest.is_empty();
        if !agreed && self.in_flight > 0 {
            return Next::Wait;
        }
        if !agreed && self.answers.len() < self.k && self.next < self.peers.len() {
            self.next += 1;
            self.in_flight += 1;
            return Next::Ask(self.peers[self.next - 1]);
        }
        Next::Done(if !newest.is_empty() {
            Read::Found {
                records: newest,
                behind,
            }
        } else if !self.answers.is_empty() {
            Read::NotFound
        } else {
            Read::Unreachable(self.peers.first().map_or(NodeId([0; 32]), |p| p.id))
        })
    }
}

/// The newest record of each publisher in the answers. Publishers the
/// policy would not let stand together (two keys claiming one AOR under
/// first-come-first-served) are settled by how many owners hold each: the
/// most wins, then the one the earliest answer (the primary, usually)
/// holds.
fn newest(
    answers: &[(PeerAddr, Vec<SignedRecord>)],
    conflict: impl Fn(&SignedRecord, &[PublicKey]) -> bool,
) -> Vec<SignedRecord> {
    // (newest record, owners holding the publisher, first answer holding it)
    let mut by_publisher: Vec<(SignedRecord, usize, usize)> = Vec::new();
    for (at, (_, records)) in answers.iter().enumerate() {
        let mut seen: Vec<PublicKey> = Vec::new();
        for r in records {
            let held = by_publisher
                .iter_mut()
                .find(|(best, _, _)| best.publisher == r.publisher);
            match held {
                Some((best, holders, _)) => {
                    if r.record.version > best.record.version {
                        *best = r.clone();
                    }
                    if !seen.contains(&r.publisher) {
                        *holders += 1;
                    }
                }
                None => by_publisher.push((r.clone(), 1, at)),
            }
            seen.push(r.publisher);
        }
    }
    by_publisher.sort_by_key(|(_, holders, first)| (std::cmp::Reverse(*holders), *first));
    let mut kept: Vec<SignedRecord> = Vec::new();
    for (r, _, _) in by_publisher {
        let owners: Vec<PublicKey> = kept.iter().map(|k| k.publisher).collect();
        if !conflict(&r, &owners) {
            kept.push(r);
        }
    }
    kept
}

/// Owners whose answer lacks one of `newest` at its version.
fn behind(answers: &[(PeerAddr, Vec<SignedRecord>)], newest: &[SignedRecord]) -> Vec<PeerAddr> {
    answers
        .iter()
        .filter(|(_, records)| {
            newest.iter().any(|n| {
                !records
                    .iter()
                    .any(|r| r.publisher == n.publisher && r.record.version >= n.record.version)
            })
        })
        .map(|(p, _)| *p)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_peers::peer;

    #[test]
    fn a_store_replaces_an_unreachable_owner_with_a_spare() {
        let owners = vec![peer(1), peer(2), peer(3), peer(4)];
        let (mut round, first) = StoreRound::new(owners, 3);
        assert_eq!(first, vec![peer(1), peer(2), peer(3)]);
        assert_eq!(
            round.on_answer(peer(1), Some(StoreOutcome::Stored)),
            Next::Wait
        );
        assert_eq!(round.on_answer(peer(2), None), Next::Ask(peer(4)));
        assert_eq!(round.on_answer(peer(4), None), Next::Wait, "no spare left");
        let done = round.on_answer(peer(3), Some(StoreOutcome::Unchanged));
        assert_eq!(done, Next::Done(Ok(Published::new(2, false))));
    }

    #[test]
    fn a_store_reports_a_refusal_and_an_unreachable_ring() {
        let (mut round, _) = StoreRound::new(vec![peer(1), peer(2)], 3);
        round.on_answer(peer(1), Some(StoreOutcome::Stored));
        let done = round.on_answer(peer(2), Some(StoreOutcome::BadSignature));
        assert_eq!(done, Next::Done(Err(Error::BadSignature)));

        let (mut round, _) = StoreRound::new(vec![peer(1)], 3);
        let done = round.on_answer(peer(1), None);
        assert_eq!(done, Next::Done(Err(Error::Unreachable(peer(1).id))));
    }

    /// A hostile owner's refusal: it claims to hold the newest version.
    fn hostile_replay() -> StoreOutcome {
        StoreOutcome::Replay {
            stored: u64::MAX,
            offered: 1,
        }
    }

    fn replay_error() -> Error {
        hostile_replay().into_error().expect("a refusal")
    }

    #[test]
    fn one_refusing_owner_cannot_veto_a_write_the_others_took() {
        let hostile = hostile_replay();
        let (mut round, _) = StoreRound::new(vec![peer(1), peer(2), peer(3)], 3);
        round.on_answer(peer(1), Some(StoreOutcome::Stored));
        round.on_answer(peer(2), Some(hostile.clone()));
        let done = round.on_answer(peer(3), Some(StoreOutcome::Stored));
        assert_eq!(done, Next::Done(Ok(Published::new(2, false))));
        // One acceptance against one refusal, the third owner silent: the
        // refusal stands.
        let (mut round, _) = StoreRound::new(vec![peer(1), peer(2), peer(3)], 3);
        round.on_answer(peer(1), Some(StoreOutcome::Stored));
        round.on_answer(peer(2), Some(hostile));
        let done = round.on_answer(peer(3), None);
        let replay = replay_error();
        assert_eq!(done, Next::Done(Err(replay)));
    }

    #[test]
    fn a_write_ends_at_a_majority_when_the_last_owner_is_slow() {
        // Three owners, no spare: two stored, the third silent. The write
        // is done at the hedge, not after the third's timeouts.
        let (mut round, _) = StoreRound::new(vec![peer(1), peer(2), peer(3)], 3);
        round.on_answer(peer(1), Some(StoreOutcome::Stored));
        assert_eq!(
            round.on_answer(peer(2), Some(StoreOutcome::Stored)),
            Next::Wait,
            "the third is not called slow yet"
        );
        let done = round.on_slow(peer(3));
        assert_eq!(done, Next::Done(Ok(Published::new(2, false))));
        // Called slow before the others answered: the round still waits
        // for those that are not slow.
        let (mut round, _) = StoreRound::new(vec![peer(1), peer(2), peer(3)], 3);
        assert_eq!(round.on_slow(peer(1)), Next::Wait);
        assert_eq!(round.on_slow(peer(1)), Next::Wait, "once");
        assert_eq!(
            round.on_answer(peer(2), Some(StoreOutcome::Stored)),
            Next::Wait
        );
        let done = round.on_answer(peer(3), Some(StoreOutcome::Stored));
        assert_eq!(done, Next::Done(Ok(Published::new(2, false))));
    }

    #[test]
    fn a_slow_owner_is_replaced_by_a_spare_once() {
        let owners = vec![peer(1), peer(2), peer(3), peer(4), peer(5)];
        let (mut round, _) = StoreRound::new(owners, 3);
        assert_eq!(round.on_slow(peer(3)), Next::Ask(peer(4)));
        assert_eq!(round.on_slow(peer(9)), Next::Wait, "never asked");
        round.on_answer(peer(1), Some(StoreOutcome::Stored));
        round.on_answer(peer(2), Some(StoreOutcome::Stored));
        // The slow owner's timeouts end: its spare is already asked.
        assert_eq!(round.on_answer(peer(3), None), Next::Wait);
        let done = round.on_answer(peer(4), Some(StoreOutcome::Stored));
        assert_eq!(done, Next::Done(Ok(Published::new(3, false))));
    }

    #[test]
    fn two_silent_owners_leave_a_write_undecided_until_they_answer() {
        // One stored, two silent, no spare: one acceptance is no majority
        // while two answers may come, so the round waits them out.
        let (mut round, _) = StoreRound::new(vec![peer(1), peer(2), peer(3)], 3);
        round.on_answer(peer(1), Some(StoreOutcome::Stored));
        assert_eq!(round.on_slow(peer(2)), Next::Wait);
        assert_eq!(round.on_slow(peer(3)), Next::Wait);
        assert_eq!(round.on_answer(peer(2), None), Next::Wait);
        let done = round.on_answer(peer(3), None);
        assert_eq!(done, Next::Done(Ok(Published::new(1, false))));
    }

    #[test]
    fn a_liar_beside_a_slow_owner_cannot_win_a_write_by_the_hedge() {
        let hostile = hostile_replay();
        // One stored, one refused, one slow: the slow one decides, so the
        // round waits for it.
        let (mut round, _) = StoreRound::new(vec![peer(1), peer(2), peer(3)], 3);
        round.on_answer(peer(1), Some(StoreOutcome::Stored));
        round.on_answer(peer(2), Some(hostile.clone()));
        assert_eq!(round.on_slow(peer(3)), Next::Wait);
        let done = round.on_answer(peer(3), Some(StoreOutcome::Stored));
        assert_eq!(done, Next::Done(Ok(Published::new(2, false))));
        // Two refusals and a slow owner: refusals win whatever it says.
        let (mut round, _) = StoreRound::new(vec![peer(1), peer(2), peer(3)], 3);
        round.on_answer(peer(1), Some(hostile.clone()));
        round.on_answer(peer(2), Some(hostile));
        let replay = replay_error();
        assert_eq!(round.on_slow(peer(3)), Next::Done(Err(replay)));
    }

    fn record(publisher: u8, version: u64) -> SignedRecord {
        use lsp_core::{Aor, Binding, Identity, Record, UnixTime};
        let binding = Binding::new("sip:a@192.0.2.1", UnixTime(u64::MAX / 2), "c", 1);
        Record {
            aor: Aor::parse("sip:alice@example.com").expect("aor"),
            version,
            bindings: vec![binding],
        }
        .sign(&Identity::from_secret_bytes([publisher; 32]))
        .expect("sign")
    }

    /// First come, first served: a second key conflicts with the first.
    fn one_owner(_: &SignedRecord, owners: &[PublicKey]) -> bool {
        !owners.is_empty()
    }

    #[test]
    fn a_read_takes_the_newest_version_and_names_the_owners_behind() {
        let (mut round, first) = FetchRound::new(vec![peer(1), peer(2), peer(3)], 3);
        assert_eq!(first, vec![peer(1), peer(2)], "a majority first");
        let r = round.on_answer(peer(1), Some(vec![record(7, 1)]), one_owner);
        assert_eq!(r, Next::Wait);
        let r = round.on_answer(peer(2), Some(vec![record(7, 2)]), one_owner);
        assert_eq!(r, Next::Ask(peer(3)), "they disagree: the third is asked");
        let r = round.on_answer(peer(3), Some(vec![record(7, 2)]), one_owner);
        let found = Read::Found {
            records: vec![record(7, 2)],
            behind: vec![peer(1)],
        };
        assert_eq!(r, Next::Done(found));
    }

    #[test]
    fn a_read_ends_early_when_a_majority_agrees() {
        let (mut round, _) = FetchRound::new(vec![peer(1), peer(2), peer(3)], 3);
        round.on_answer(peer(1), Some(vec![record(7, 2)]), one_owner);
        let r = round.on_answer(peer(2), Some(vec![record(7, 2)]), one_owner);
        let found = Read::Found {
            records: vec![record(7, 2)],
            behind: vec![],
        };
        assert_eq!(r, Next::Done(found));
    }

    #[test]
    fn a_record_an_owner_answered_with_is_known_byte_for_byte() {
        let (mut round, _) = FetchRound::new(vec![peer(1), peer(2), peer(3)], 3);
        assert!(!round.answered_with(&record(7, 2)));
        round.on_answer(peer(1), Some(vec![record(7, 2)]), one_owner);
        assert!(round.answered_with(&record(7, 2)));
        assert!(!round.answered_with(&record(7, 3)), "another version");
        let mut forged = record(7, 2);
        forged.signature.0[0] ^= 1;
        assert!(!round.answered_with(&forged), "another signature");
    }

    #[test]
    fn a_key_held_by_fewer_owners_loses_a_conflict() {
        let (mut round, _) = FetchRound::new(vec![peer(1), peer(2), peer(3)], 3);
        // The thief's record, newer, on the primary only.
        round.on_answer(peer(1), Some(vec![record(9, 50)]), one_owner);
        let r = round.on_answer(peer(2), Some(vec![record(7, 2)]), one_owner);
        assert_eq!(r, Next::Ask(peer(3)));
        let r = round.on_answer(peer(3), Some(vec![record(7, 2)]), one_owner);
        let found = Read::Found {
            records: vec![record(7, 2)],
            behind: vec![peer(1)],
        };
        assert_eq!(r, Next::Done(found));
    }

    #[test]
    fn a_read_with_no_answer_is_unreachable_and_with_empty_ones_not_found() {
        let (mut round, _) = FetchRound::new(vec![peer(1), peer(2)], 3);
        assert_eq!(round.on_answer(peer(1), None, one_owner), Next::Wait);
        let r = round.on_answer(peer(2), None, one_owner);
        assert_eq!(r, Next::Done(Read::Unreachable(peer(1).id)));

        let (mut round, _) = FetchRound::new(vec![peer(1), peer(2), peer(3), peer(4)], 3);
        let r = round.on_answer(peer(1), None, one_owner);
        assert_eq!(r, Next::Ask(peer(3)), "a spare for the unreachable one");
        assert_eq!(
            round.on_answer(peer(2), Some(vec![]), one_owner),
            Next::Wait
        );
        let r = round.on_answer(peer(3), Some(vec![]), one_owner);
        assert_eq!(r, Next::Ask(peer(4)), "nothing found is never taken early");
        let r = round.on_answer(peer(4), Some(vec![]), one_owner);
        assert_eq!(r, Next::Done(Read::NotFound));
    }

    #[test]
    fn a_slow_owner_is_hedged_by_the_next_and_still_counts() {
        // Owner 1 silent: 3 is asked at the hedge, 2 and 3 agree.
        let (mut round, _) = FetchRound::new(vec![peer(1), peer(2), peer(3)], 3);
        assert_eq!(round.on_slow(peer(1)), Next::Ask(peer(3)));
        assert_eq!(round.on_slow(peer(1)), Next::Wait, "no fourth owner");
        let r = round.on_answer(peer(2), Some(vec![record(7, 2)]), one_owner);
        assert_eq!(r, Next::Wait);
        let r = round.on_answer(peer(3), Some(vec![record(7, 2)]), one_owner);
        let found = Read::Found {
            records: vec![record(7, 2)],
            behind: vec![],
        };
        assert_eq!(r, Next::Done(found));
        // A slow owner that answers after all is counted like the rest.
        let (mut round, _) = FetchRound::new(vec![peer(1), peer(2), peer(3)], 3);
        round.on_slow(peer(2));
        round.on_answer(peer(1), Some(vec![record(7, 1)]), one_owner);
        round.on_answer(peer(3), Some(vec![record(7, 2)]), one_owner);
        let r = round.on_answer(peer(2), Some(vec![record(7, 2)]), one_owner);
        let found = Read::Found {
            records: vec![record(7, 2)],
            behind: vec![peer(1)],
        };
        assert_eq!(r, Next::Done(found));
        // Nobody is hedged twice, nor one that was never asked or answered.
        assert_eq!(round.on_slow(peer(3)), Next::Wait);
    }

    #[test]
    fn two_silent_owners_leave_the_read_to_the_third() {
        let (mut round, _) = FetchRound::new(vec![peer(1), peer(2), peer(3)], 3);
        assert_eq!(round.on_slow(peer(1)), Next::Ask(peer(3)));
        assert_eq!(round.on_slow(peer(2)), Next::Wait);
        let r = round.on_answer(peer(3), Some(vec![record(7, 2)]), one_owner);
        assert_eq!(
            r,
            Next::Wait,
            "one answer is no majority while others may come"
        );
        assert_eq!(round.on_answer(peer(1), None, one_owner), Next::Wait);
        let r = round.on_answer(peer(2), None, one_owner);
        let found = Read::Found {
            records: vec![record(7, 2)],
            behind: vec![],
        };
        assert_eq!(r, Next::Done(found));
    }

    #[test]
    fn a_liar_beside_a_silent_owner_does_not_win_by_the_hedge() {
        // Owner 1 silent, owner 2 answers an old version, owner 3 the
        // newest: the newest valid version wins and 2 is named behind.
        let (mut round, _) = FetchRound::new(vec![peer(1), peer(2), peer(3)], 3);
        assert_eq!(round.on_slow(peer(1)), Next::Ask(peer(3)));
        let r = round.on_answer(peer(2), Some(vec![record(7, 1)]), one_owner);
        assert_eq!(r, Next::Wait);
        let r = round.on_answer(peer(3), Some(vec![record(7, 2)]), one_owner);
        assert_eq!(r, Next::Wait, "they disagree, and owner 1 may still answer");
        let r = round.on_answer(peer(1), None, one_owner);
        let found = Read::Found {
            records: vec![record(7, 2)],
            behind: vec![peer(2)],
        };
        assert_eq!(r, Next::Done(found));
        // A thief's key on the liar loses to the owner's record as before.
        let (mut round, _) = FetchRound::new(vec![peer(1), peer(2), peer(3)], 3);
        round.on_slow(peer(1));
        round.on_answer(peer(2), Some(vec![record(9, 50)]), one_owner);
        round.on_answer(peer(3), Some(vec![record(7, 2)]), one_owner);
        let r = round.on_answer(peer(1), Some(vec![record(7, 2)]), one_owner);
        let found = Read::Found {
            records: vec![record(7, 2)],
            behind: vec![peer(2)],
        };
        assert_eq!(r, Next::Done(found));
    }
}
