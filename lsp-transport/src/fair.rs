//! The incoming queue, served in turn across senders: one frame of each
//! peer that has frames waiting, then the next peer's. A peer with many
//! frames queued puts at most one ahead of anyone else's; served first in,
//! first out, one peer's 256 queued `Store` frames put seconds of signature
//! checks ahead of every honest frame. Bounded in frames in all, as each
//! peer's share bounds it alone.

use std::collections::{HashMap, VecDeque};
use std::sync::{Mutex, MutexGuard, PoisonError};

use lsp_core::{Incoming, NodeId};
use tokio::sync::Notify;

#[derive(Debug, Default)]
struct State {
    by_peer: HashMap<NodeId, VecDeque<Incoming>>,
    /// Peers with frames waiting, in the order they are served.
    turn: VecDeque<NodeId>,
    len: usize,
    closed: bool,
}

impl State {
    fn take_next(&mut self) -> Option<Incoming> {
        let peer = self.turn.pop_front()?;
        let queue = self.by_peer.get_mut(&peer)?;
        let item = queue.pop_front()?;
        if queue.is_empty() {
            self.by_peer.remove(&peer);
        } else {
            self.turn.push_back(peer);
        }
        self.len -= 1;
        Some(item)
    }
}

#[derive(Debug)]
pub(crate) struct FairQueue {
    state: Mutex<State>,
    readable: Notify,
    writable: Notify,
    cap: usize,
}

impl FairQueue {
    pub(crate) fn new(cap: usize) -> Self {
        Self {
            state: Mutex::default(),
            readable: Notify::new(),
            writable: Notify::new(),
            cap: cap.max(1),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Queues `item` once there is room; gives it back when closed.
    pub(crate) async fn push(&self, item: Incoming) -> Result<(), Incoming> {
        loop {
            let room = self.writable.notified();
            tokio::pin!(room);
            room.as_mut().enable();
            {
                let mut s = self.lock();
                if s.closed {
                    return Err(item);
                }
                if s.len < self.cap {
                    let peer = item.from;
                    let queue = s.by_peer.entry(peer).or_default();
                    let first = queue.is_empty();
                    queue.push_back(item);
                    if first {
                        s.turn.push_back(peer);
                    }
                    s.len += 1;
                    drop(s);
                    self.readable.notify_one();
                    return Ok(());
                }
            }
            room.await;
        }
    }

    /// The next frame in turn; `None` once closed and drained.
    pub(crate) async fn pop(&self) -> Option<Incoming> {
        loop {
            let ready = self.readable.notified();
            tokio::pin!(ready);
            ready.as_mut().enable();
            {
                let mut s = self.lock();
                if let Some(item) = s.take_next() {
                    drop(s);
                    self.writable.notify_one();
                    return Some(item);
                }
                if s.closed {
                    return None;
                }
            }
            ready.await;
        }
    }

    /// Ends every wait: pushes fail, and pops end once the queue is empty.
    pub(crate) fn close(&self) {
        self.lock().closed = true;
        self.readable.notify_waiters();
        self.writable.notify_waiters();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(peer: u8, n: u8) -> Incoming {
        Incoming {
            from: NodeId([peer; 32]),
            from_addr: "192.0.2.1:1".parse().expect("addr"),
            frame: vec![n],
            enrolled: false,
        }
    }

    /// A flooding peer's hundred queued frames put one ahead of another
    /// peer's frame, not a hundred.
    #[tokio::test]
    async fn senders_are_served_in_turn() {
        let q = FairQueue::new(1024);
        for n in 0..100 {
            q.push(frame(1, n)).await.expect("room");
        }
        q.push(frame(2, 0)).await.expect("room");
        let first: Vec<u8> = [q.pop().await, q.pop().await]
            .into_iter()
            .map(|f| f.expect("a frame").from.0[0])
            .collect();
        assert_eq!(first, [1, 2]);
        // The flooder's own frames keep their order.
        let mut rest = Vec::new();
        for _ in 0..99 {
            rest.push(q.pop().await.expect("queued").frame[0]);
        }
        assert_eq!(rest, (1..100).collect::<Vec<u8>>());
    }

    /// A full queue makes a pusher wait for a pop; closing ends the waits.
    #[tokio::test]
    async fn a_full_queue_waits_and_closing_ends_it() {
        let q = std::sync::Arc::new(FairQueue::new(1));
        q.push(frame(1, 0)).await.expect("room");
        let pushing = tokio::spawn({
            let q = q.clone();
            async move { q.push(frame(1, 1)).await.is_ok() }
        });
        tokio::task::yield_now().await;
        assert!(!pushing.is_finished(), "waits for room");
        assert_eq!(q.pop().await.map(|f| f.frame[0]), Some(0));
        assert!(pushing.await.expect("join"), "then goes in");
        q.close();
        assert_eq!(q.pop().await.map(|f| f.frame[0]), Some(1), "drained first");
        assert!(q.pop().await.is_none());
        assert!(q.push(frame(1, 2)).await.is_err());
    }
}
