//! When each peer was last heard from, so that a request lost to a busy
//! link is not taken for a dead peer.
//!
//! Under load a node drops frames it cannot queue (see `outbox.rs`), and a
//! peer's answer can be lost the same way. A request that is then never
//! answered fails, but a peer that sent anything meanwhile is alive: it
//! stays in the routing table. Only a peer silent for the whole life of a
//! request is dropped.

use std::collections::HashMap;

use lsp_core::NodeId;

/// Peers remembered at once; past it, peers not heard from within the
/// window are dropped, and when all were, a new peer is not remembered
/// (it is then judged as if never heard from: the old, stricter rule).
const PEERS: usize = 4096;

#[derive(Debug)]
pub(crate) struct HeardFrom {
    last: HashMap<NodeId, u64>,
    /// How far back a question can reach: a request's whole life.
    window_ms: u64,
}

impl HeardFrom {
    pub(crate) fn new(window_ms: u64) -> Self {
        Self {
            last: HashMap::new(),
            window_ms,
        }
    }

    /// `peer` sent a valid message at `now_ms`.
    pub(crate) fn heard(&mut self, peer: NodeId, now_ms: u64) {
        if self.last.len() >= PEERS && !self.last.contains_key(&peer) {
            let oldest = now_ms.saturating_sub(self.window_ms);
            self.last.retain(|_, at| *at >= oldest);
            if self.last.len() >= PEERS {
                return;
            }
        }
        self.last.insert(peer, now_ms);
    }

    /// Whether `peer` sent anything after `since_ms`.
    pub(crate) fn since(&self, peer: NodeId, since_ms: u64) -> bool {
        self.last.get(&peer).is_some_and(|at| *at > since_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u32) -> NodeId {
        let mut b = [0u8; 32];
        b[..4].copy_from_slice(&n.to_be_bytes());
        NodeId(b)
    }

    #[test]
    fn only_a_message_after_the_moment_counts() {
        let mut h = HeardFrom::new(3000);
        assert!(!h.since(id(1), 0), "never heard");
        h.heard(id(1), 100);
        assert!(h.since(id(1), 99));
        assert!(!h.since(id(1), 100), "at the same instant it may be older");
        assert!(!h.since(id(2), 0), "another peer");
    }

    #[test]
    fn the_table_stays_bounded_and_keeps_recent_peers() {
        let mut h = HeardFrom::new(1000);
        for n in 0..PEERS as u32 {
            h.heard(id(n), 10);
        }
        // Full of peers still inside the window: a newcomer is not kept.
        h.heard(id(u32::MAX), 500);
        assert!(!h.since(id(u32::MAX), 0));
        assert!(h.since(id(7), 0), "a known peer is still updated");
        h.heard(id(7), 2000);
        // Later, the stale ones make room.
        h.heard(id(u32::MAX), 2000);
        assert!(h.since(id(u32::MAX), 1999));
        assert!(h.last.len() <= PEERS);
        assert!(h.since(id(7), 1999), "heard within the window, kept");
        assert!(!h.since(id(8), 0), "stale, dropped");
    }
}
