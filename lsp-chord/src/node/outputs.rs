//! What the node hands its driver: frames to send, finished operations,
//! and the traffic counts of both directions.

use std::collections::VecDeque;

use lsp_core::{Error, PeerAddr};

use super::types::{Counters, Event, OpId, Outcome, Transmit};
use crate::wire::{Message, Response};

/// What a request and its answer are counted as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Traffic {
    /// Ring upkeep: stabilize, notify, predecessor checks, fingers, repair.
    Maintenance,
    /// Replication and hand-off.
    Replication,
    /// A user's operation, or an answer to another node's.
    User,
}

/// The node's outputs, drained by `poll_transmit` and `poll_event`.
#[derive(Debug, Default)]
pub(super) struct Outputs {
    transmits: VecDeque<Transmit>,
    events: VecDeque<Event>,
    counters: Counters,
}

impl Outputs {
    /// Queues a frame for `to`.
    pub(super) fn send(&mut self, to: PeerAddr, frame: Vec<u8>) {
        self.counters.messages_sent += 1;
        self.counters.bytes_sent += frame.len() as u64;
        self.transmits.push_back(Transmit { to, frame });
    }

    /// Queues the response `body` to request `id` of `to`.
    pub(super) fn respond(&mut self, to: PeerAddr, id: u64, body: Response) {
        match (Message::Response { id, body }).encode() {
            Ok(frame) => self.send(to, frame),
            Err(_) => self.counters.unencodable += 1,
        }
    }

    /// Reports that operation `op` finished.
    pub(super) fn finish(&mut self, op: OpId, outcome: Result<Outcome, Error>) {
        self.events.push_back(Event::Done { op, outcome });
    }

    pub(super) fn next_transmit(&mut self) -> Option<Transmit> {
        self.transmits.pop_front()
    }

    pub(super) fn next_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    pub(super) fn counters(&self) -> Counters {
        self.counters
    }

    /// A request sent, or its answer received, of `len` bytes.
    pub(super) fn count(&mut self, traffic: Traffic, len: usize) {
        let c = &mut self.counters;
        match traffic {
            Traffic::Maintenance => {
                c.maintenance_messages += 1;
                c.maintenance_bytes += len as u64;
            }
            Traffic::Replication => {
                c.replication_messages += 1;
                c.replication_bytes += len as u64;
            }
            Traffic::User => {}
        }
    }

    /// A frame of `len` bytes arrived.
    pub(super) fn received(&mut self, len: usize) {
        self.counters.messages_received += 1;
        self.counters.bytes_received += len as u64;
    }

    /// A frame did not decode.
    pub(super) fn malformed(&mut self) {
        self.counters.malformed += 1;
    }

    /// A message could not be encoded.
    pub(super) fn unencodable(&mut self) {
        self.counters.unencodable += 1;
    }

    /// A request got no answer after every attempt; `live` when its peer
    /// sent something meanwhile.
    pub(super) fn unanswered(&mut self, live: bool) {
        self.counters.unanswered += 1;
        if live {
            self.counters.unanswered_by_live_peers += 1;
        }
    }

    /// A lookup caught `n` lies.
    pub(super) fn digest_differed(&mut self) {
        self.counters.digests_differed += 1;
    }

    pub(super) fn lies(&mut self, n: u32) {
        self.counters.lies += u64::from(n);
    }
}
