//! The client role: a node that looks up, publishes and queries through
//! ring members without joining. It holds no range, answers no ring
//! maintenance, and needs no listening port: every request goes out on a
//! connection it opened, and members answer on that connection. A phone
//! behind NAT uses the ring this way (draft section 6: peers manage their
//! own NAT traversal, and the overlay stays free of it).
//!
//! A client keeps the members it was given and a small set of live
//! contacts (those members and the successors they name), routes every
//! lookup from the contacts nearest before the target, drops a contact
//! that fails, and asks one contact for its neighbours every stabilize
//! period: that keeps it heard (healthy) and its contacts fresh.

use lsp_core::PeerAddr;

use super::io::Io;
use super::outputs::Traffic;
use super::requests::Purpose;
use crate::ring::Point;
use crate::wire::{Request, Response};

/// Live contacts a client keeps: enough to route from near any target and
/// to fail over, few enough to refresh one each stabilize period.
const MAX_CONTACTS: usize = 16;

/// The members a client was given and the contacts it keeps.
#[derive(Debug, Default)]
pub(crate) struct Contacts {
    /// The members given to `attach`: where a client starts again when
    /// every contact has failed.
    members: Vec<PeerAddr>,
    /// Peers that answered or that a member named, at most
    /// [`MAX_CONTACTS`].
    live: Vec<PeerAddr>,
    /// Which contact (or member) the next refresh asks.
    turn: usize,
}

impl Contacts {
    pub(super) fn new(members: Vec<PeerAddr>) -> Self {
        Self {
            live: members.clone(),
            members,
            turn: 0,
        }
    }

    /// Adds peers a member named, keeping the ones already known.
    pub(super) fn learn(&mut self, peers: impl IntoIterator<Item = PeerAddr>, me: PeerAddr) {
        for p in peers {
            if self.live.len() >= MAX_CONTACTS {
                break;
            }
            if p.id != me.id && !self.live.iter().any(|q| q.id == p.id) {
                self.live.push(p);
            }
        }
    }

    /// Drops a contact that did not answer.
    pub(crate) fn drop_peer(&mut self, peer: PeerAddr) {
        self.live.retain(|p| *p != peer);
    }

    /// Where a lookup of `target` starts: the live contacts, nearest
    /// before the target first; every member when no contact is left.
    pub(super) fn candidates(&self, target: Point) -> Vec<PeerAddr> {
        let mut peers = if self.live.is_empty() {
            self.members.clone()
        } else {
            self.live.clone()
        };
        peers.sort_by_key(|p| target.wrapping_sub(Point::from(p.id)));
        peers
    }

    /// The peer the next refresh asks: the contacts in turn, or the
    /// members in turn while no contact is left.
    fn next_to_refresh(&mut self) -> Option<PeerAddr> {
        let from = if self.live.is_empty() {
            &self.members
        } else {
            &self.live
        };
        let peer = *from.get(self.turn % from.len().max(1))?;
        self.turn = self.turn.wrapping_add(1);
        Some(peer)
    }
}

impl Contacts {
    /// Asks the next contact for its neighbours.
    pub(super) fn refresh(&mut self, io: &mut Io, now_ms: u64) {
        if let Some(to) = self.next_to_refresh() {
            let body = Request::GetNeighbours;
            let _ = io.request(
                to,
                body,
                Purpose::RefreshContacts,
                Traffic::Maintenance,
                now_ms,
            );
        }
    }

    /// A contact answered the refresh: it and its successors are live.
    pub(super) fn on_neighbours(&mut self, from: PeerAddr, body: Response, me: PeerAddr) {
        match body {
            Response::Neighbours { successors, .. } => {
                self.learn(std::iter::once(from), me);
                self.learn(successors, me);
            }
            _ => self.drop_peer(from),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::*;
    use crate::Chord;
    use crate::test_peers::peer;

    #[test]
    fn candidates_start_nearest_before_the_target_and_fall_back_to_the_members() {
        let me = peer(0x01);
        let mut c = Contacts::new(vec![peer(0x20), peer(0x80)]);
        c.learn([peer(0x60), peer(0x20), me], me);
        let t = Point([0x70; 32]);
        assert_eq!(c.candidates(t), vec![peer(0x60), peer(0x20), peer(0x80)]);
        for p in [peer(0x20), peer(0x60), peer(0x80)] {
            c.drop_peer(p);
        }
        assert_eq!(c.candidates(t), vec![peer(0x20), peer(0x80)]);
    }

    /// A member that takes the client for a peer gets nothing to build on:
    /// it is refused all ring work, and the client's tables stay empty.
    #[test]
    fn a_client_refuses_ring_work_and_answers_only_pings() {
        use crate::wire::Message;
        let now = Instant::now();
        let mut node = Chord::new(peer(0x10), crate::Config::default());
        node.attach(&[peer(0x20)], now);
        while node.poll_transmit().is_some() {}
        let asks = [
            Request::GetNeighbours,
            Request::FindSuccessor { target: [0x40; 32] },
            Request::Notify,
            Request::Store { records: vec![] },
            Request::Ping,
        ];
        for (id, body) in asks.into_iter().enumerate() {
            let frame = Message::Request {
                id: id as u64,
                body,
            }
            .encode()
            .expect("encode");
            node.handle_message(peer(0x30), &frame, now)
                .expect("served");
        }
        let answers: Vec<Response> = std::iter::from_fn(|| node.poll_transmit())
            .filter(|t| t.to == peer(0x30))
            .filter_map(|t| match Message::decode(&t.frame) {
                Ok(Message::Response { body, .. }) => Some(body),
                _ => None,
            })
            .collect();
        assert_eq!(answers.len(), 5);
        assert!(
            answers[..4]
                .iter()
                .all(|a| matches!(a, Response::Refused { .. }))
        );
        assert_eq!(answers[4], Response::Ack);
        assert_eq!((node.predecessor(), node.successors().len()), (None, 0));
    }

    #[test]
    fn contacts_are_bounded_and_refreshed_in_turn() {
        let me = peer(0x01);
        let mut c = Contacts::new(vec![peer(0x10)]);
        c.learn((0x20..0x40).map(peer), me);
        assert_eq!(c.live.len(), MAX_CONTACTS);
        assert_eq!(c.next_to_refresh(), Some(peer(0x10)));
        assert_eq!(c.next_to_refresh(), Some(peer(0x20)));
    }
}
