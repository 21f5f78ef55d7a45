//! Frames that arrived together: the signatures of the records they ask
//! this node to store are checked in one batch per sender before each
//! frame is handled as [`crate::Chord::handle_message`] handles it. A replica that
//! falls behind thus checks a signature for about half the cost, and one
//! sender's forgery only costs that sender's batch a second pass.

use std::collections::HashMap;

use lsp_core::{NodeId, PeerAddr, SignedRecord};

use super::admit::Gate;
use super::routing::RoutingTable;
use super::storage::Storage;
use super::types::InputError;
use crate::ring::Point;
use crate::wire::{Message, Request};

/// One frame of a batch: its sender, its bytes, and whether the transport
/// checked the sender's enrollment (see [`crate::Chord::handle_enrolled_message`]).
#[derive(Debug, Clone, Copy)]
pub struct Arrived<'a> {
    /// Who sent it.
    pub from: PeerAddr,
    /// The frame.
    pub frame: &'a [u8],
    /// Whether its sender is enrolled in this closed ring.
    pub enrolled: bool,
}

/// Checks ahead, one batch per sender, the signatures of the records
/// that members ask a member to store. Only records it would check anyway:
/// from a member, for a key it holds. A stranger's frame buys no check.
pub(super) fn check_ahead(
    frames: &[Arrived<'_>],
    decoded: &[Result<Message, InputError>],
    me: PeerAddr,
    gate: &Gate,
    table: &RoutingTable,
    storage: &mut Storage,
) {
    let mut by_sender: HashMap<NodeId, Vec<&SignedRecord>> = HashMap::new();
    for (a, msg) in frames.iter().zip(decoded) {
        if a.from.id == me.id || !gate.admits_sender(&a.from, a.enrolled) {
            continue;
        }
        let records = match msg {
            Ok(Message::Request {
                body: Request::Store { records } | Request::StoreHere { records },
                ..
            }) => records.as_slice(),
            Ok(Message::Request {
                body: Request::StoreReplacing { record, .. },
                ..
            }) => std::slice::from_ref(record),
            _ => continue,
        };
        by_sender.entry(a.from.id).or_default().extend(
            records
                .iter()
                .filter(|r| table.holds(Point::from(r.record.aor.resource_id()))),
        );
    }
    for records in by_sender.values().filter(|r| r.len() > 1) {
        storage.check_ahead(records);
    }
}
