//! Frames that arrived together: the signatures of the records they ask
//! this node to store are checked in one batch per sender before each
//! frame is handled as [`Chord::handle_message`] handles it. A replica that
//! falls behind thus checks a signature for about half the cost, and one
//! sender's forgery only costs that sender's batch a second pass.

use std::collections::HashMap;
use std::time::Instant;

use lsp_core::{NodeId, PeerAddr, SignedRecord};

use super::{Chord, NodeState};
use crate::Error;
use crate::ring::Point;
use crate::wire::{Message, Request};

/// One frame of a batch: its sender, its bytes, and whether the transport
/// checked the sender's enrollment (see [`Chord::handle_enrolled_message`]).
#[derive(Debug, Clone, Copy)]
pub struct Arrived<'a> {
    /// Who sent it.
    pub from: PeerAddr,
    /// The frame.
    pub frame: &'a [u8],
    /// Whether its sender is enrolled in this closed ring.
    pub enrolled: bool,
}

impl Chord {
    /// Handles `frames` in order, each as [`Chord::handle_message`] or
    /// [`Chord::handle_enrolled_message`] would, after checking together
    /// the signatures of the records that members ask this node to store.
    /// Returns each frame's result.
    pub fn handle_messages(
        &mut self,
        frames: &[Arrived<'_>],
        now: Instant,
    ) -> Vec<Result<(), Error>> {
        if frames.len() < 2 {
            return frames
                .iter()
                .map(|a| self.receive(a.from, a.frame, a.enrolled, now))
                .collect();
        }
        let now_ms = self.tick(now);
        if self.state == NodeState::Left {
            return frames.iter().map(|_| Err(Error::Closed)).collect();
        }
        // Each frame is decoded once, for the batch check and for handling.
        let decoded: Vec<Result<Message, Error>> = frames
            .iter()
            .map(|a| self.decode_frame(a.from, a.frame))
            .collect();
        self.check_ahead(frames, &decoded);
        frames
            .iter()
            .zip(decoded)
            .map(|(a, msg)| {
                if self.state == NodeState::Left {
                    return Err(Error::Closed);
                }
                self.dispatch(a.from, msg?, a.frame.len(), a.enrolled, now_ms)
            })
            .collect()
    }

    /// Only records this node would check anyway: from a member, for a key
    /// it holds. A stranger's or a client's frame buys no check here.
    pub(super) fn check_ahead(
        &mut self,
        frames: &[Arrived<'_>],
        decoded: &[Result<Message, Error>],
    ) {
        if self.state == NodeState::Client {
            return;
        }
        let mut by_sender: HashMap<NodeId, Vec<&SignedRecord>> = HashMap::new();
        for (a, msg) in frames.iter().zip(decoded) {
            if a.from.id == self.me.id || !self.admits_sender(&a.from, a.enrolled) {
                continue;
            }
            if let Ok(Message::Request {
                body: Request::Store { records } | Request::StoreHere { records },
                ..
            }) = msg
            {
                by_sender.entry(a.from.id).or_default().extend(
                    records
                        .iter()
                        .filter(|r| self.table.holds(Point::from(r.record.aor.resource_id()))),
                );
            }
        }
        for records in by_sender.values().filter(|r| r.len() > 1) {
            self.storage.check_ahead(records);
        }
    }
}
