//! Peers suspected dead: one left an operation's request unanswered past
//! the hedge delay, or every try of one, and has sent nothing since. What
//! one operation learned, the next ones use at once: a read asks its
//! suspects last, so that a dead owner costs one hedge delay in all, not
//! one per read (and a slot per read for all its tries).

use std::collections::HashMap;

use lsp_core::{NodeId, PeerAddr};

/// Peers suspected at once; past it, the one suspected longest is
/// forgotten (a suspect forgotten is only asked in its turn again).
const MAX_SUSPECTS: usize = 256;

#[derive(Debug, Default)]
pub(super) struct Suspects {
    /// When each suspect was first found slow, in ms.
    since: HashMap<NodeId, u64>,
}

impl Suspects {
    /// `peer` left a request unanswered too long at `now_ms`.
    pub(super) fn slow(&mut self, peer: NodeId, now_ms: u64) {
        if self.since.len() >= MAX_SUSPECTS && !self.since.contains_key(&peer) {
            let oldest = self
                .since
                .iter()
                .min_by_key(|(_, at)| **at)
                .map(|(p, _)| *p);
            if let Some(oldest) = oldest {
                self.since.remove(&oldest);
            }
        }
        self.since.entry(peer).or_insert(now_ms);
    }

    /// `peer` sent something: it lives.
    pub(super) fn heard(&mut self, peer: NodeId) {
        if !self.since.is_empty() {
            self.since.remove(&peer);
        }
    }

    pub(super) fn is_suspect(&self, peer: NodeId) -> bool {
        self.since.contains_key(&peer)
    }

    /// Orders the owners a read asks: `me` first (its copy is one answer,
    /// at no cost), then the others in their order, suspects last.
    pub(super) fn order_for_read(&self, me: NodeId, owners: &mut [PeerAddr]) {
        owners.sort_by_key(|p| (p.id != me, self.is_suspect(p.id)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_peers::peer;

    #[test]
    fn a_read_asks_itself_first_and_its_suspects_last() {
        let mut s = Suspects::default();
        let mut owners = vec![peer(1), peer(2), peer(3)];
        s.order_for_read(peer(3).id, &mut owners);
        assert_eq!(owners, vec![peer(3), peer(1), peer(2)]);
        s.slow(peer(1).id, 5);
        s.order_for_read(peer(3).id, &mut owners);
        assert_eq!(owners, vec![peer(3), peer(2), peer(1)]);
        // Heard from again: asked in its turn.
        s.heard(peer(1).id);
        let mut owners = vec![peer(1), peer(2), peer(3)];
        s.order_for_read(peer(9).id, &mut owners);
        assert_eq!(owners, vec![peer(1), peer(2), peer(3)]);
    }

    #[test]
    fn the_suspects_stay_bounded() {
        let mut s = Suspects::default();
        for n in 0..MAX_SUSPECTS + 10 {
            let mut id = [0u8; 32];
            id[..8].copy_from_slice(&(n as u64).to_be_bytes());
            s.slow(NodeId(id), n as u64);
        }
        assert_eq!(s.since.len(), MAX_SUSPECTS);
        let mut first = [0u8; 32];
        first[..8].copy_from_slice(&0u64.to_be_bytes());
        assert!(!s.is_suspect(NodeId(first)), "the oldest went first");
    }
}
