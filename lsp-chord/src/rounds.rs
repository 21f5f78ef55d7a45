//! What follows a lookup, as small state machines: storing a record on
//! its replicas ([`StoreRound`]) and reading an AOR from them
//! ([`FetchRound`]). Like the lookup, they send nothing: the node asks
//! them whom to ask and feeds them the answers.

use lsp_core::{Error, NodeId, PeerAddr, Published, SignedRecord};

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
/// reached is replaced by the next one found.
#[derive(Debug)]
pub(crate) struct StoreRound {
    peers: Vec<PeerAddr>,
    /// The next spare owner.
    next: usize,
    in_flight: usize,
    accepted: usize,
    all_unchanged: bool,
    refusal: Option<Error>,
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
            all_unchanged: true,
            refusal: None,
        };
        (round, first)
    }

    /// One owner answered (`Some`) or could not be reached (`None`). An
    /// owner that says the key is not its own counts as unreachable: the
    /// lookup that named it was wrong, or lied.
    pub(crate) fn on_answer(
        &mut self,
        outcome: Option<StoreOutcome>,
    ) -> Next<Result<Published, Error>> {
        let outcome = outcome.filter(|o| *o != StoreOutcome::NotResponsible);
        match outcome {
            Some(o) => {
                self.in_flight -= 1;
                self.all_unchanged &= o == StoreOutcome::Unchanged;
                match o.into_error() {
                    None => self.accepted += 1,
                    Some(e) => self.refusal = self.refusal.take().or(Some(e)),
                }
            }
            None if self.next < self.peers.len() => {
                self.next += 1;
                return Next::Ask(self.peers[self.next - 1]);
            }
            None => self.in_flight -= 1,
        }
        if self.in_flight > 0 {
            return Next::Wait;
        }
        Next::Done(match (self.refusal.take(), self.accepted) {
            (Some(e), _) => Err(e),
            (None, 0) => Err(Error::Unreachable(self.first())),
            (None, n) => Ok(Published::new(n, self.all_unchanged)),
        })
    }

    fn first(&self) -> NodeId {
        self.peers.first().map_or(NodeId([0; 32]), |p| p.id)
    }
}

/// How a read ended.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Read {
    /// The valid records of the first owner that held any.
    Found(Vec<SignedRecord>),
    /// Owners answered, and none held a valid record.
    NotFound,
    /// No owner answered; the primary's ID.
    Unreachable(NodeId),
}

/// Owners asked one at a time, up to k answers, until one holds a valid
/// record.
#[derive(Debug)]
pub(crate) struct FetchRound {
    peers: Vec<PeerAddr>,
    next: usize,
    answered: usize,
    k: usize,
}

impl FetchRound {
    /// A round over `peers` (the owners, primary first).
    pub(crate) fn new(peers: Vec<PeerAddr>, k: usize) -> Self {
        Self {
            peers,
            next: 0,
            answered: 0,
            k,
        }
    }

    /// The first owner to ask.
    pub(crate) fn start(&mut self) -> Next<Read> {
        self.ask_next()
    }

    /// The owner asked answered with the records that verified (`Some`),
    /// or could not be reached.
    pub(crate) fn on_answer(&mut self, valid: Option<Vec<SignedRecord>>) -> Next<Read> {
        if let Some(records) = valid {
            self.answered += 1;
            if !records.is_empty() {
                return Next::Done(Read::Found(records));
            }
        }
        self.ask_next()
    }

    fn ask_next(&mut self) -> Next<Read> {
        if self.answered < self.k && self.next < self.peers.len() {
            self.next += 1;
            return Next::Ask(self.peers[self.next - 1]);
        }
        Next::Done(if self.answered > 0 {
            Read::NotFound
        } else {
            Read::Unreachable(self.peers.first().map_or(NodeId([0; 32]), |p| p.id))
        })
    }
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
        assert_eq!(round.on_answer(Some(StoreOutcome::Stored)), Next::Wait);
        assert_eq!(round.on_answer(None), Next::Ask(peer(4)));
        assert_eq!(round.on_answer(None), Next::Wait, "no spare left");
        let done = round.on_answer(Some(StoreOutcome::Unchanged));
        assert_eq!(done, Next::Done(Ok(Published::new(2, false))));
    }

    #[test]
    fn a_store_reports_a_refusal_and_an_unreachable_ring() {
        let (mut round, _) = StoreRound::new(vec![peer(1), peer(2)], 3);
        round.on_answer(Some(StoreOutcome::Stored));
        let done = round.on_answer(Some(StoreOutcome::BadSignature));
        assert_eq!(done, Next::Done(Err(Error::BadSignature)));

        let (mut round, _) = StoreRound::new(vec![peer(1)], 3);
        let done = round.on_answer(None);
        assert_eq!(done, Next::Done(Err(Error::Unreachable(peer(1).id))));
    }

    #[test]
    fn a_fetch_asks_owners_in_turn_until_one_holds_a_record() {
        let mut round = FetchRound::new(vec![peer(1), peer(2), peer(3), peer(4)], 3);
        assert_eq!(round.start(), Next::Ask(peer(1)));
        assert_eq!(round.on_answer(None), Next::Ask(peer(2)));
        assert_eq!(round.on_answer(Some(vec![])), Next::Ask(peer(3)));
        assert_eq!(round.on_answer(Some(vec![])), Next::Ask(peer(4)));
        assert_eq!(round.on_answer(Some(vec![])), Next::Done(Read::NotFound));

        let mut round = FetchRound::new(vec![peer(1)], 3);
        round.start();
        assert_eq!(
            round.on_answer(None),
            Next::Done(Read::Unreachable(peer(1).id))
        );
    }
}
