//! Upkeep on timers: a node becoming a member, and what each periodic
//! timer sets off (stabilize, fingers, predecessor checks, probes of
//! buried peers, expiry, repair).

use std::time::Duration;

use lsp_core::PeerAddr;

use super::{Chord, FINGERS, NodeState, Purpose, Timer};
use crate::wire::Request;

impl Chord {
    /// Sets a periodic timer `period` (jittered) after `now_ms`.
    pub(super) fn schedule(&mut self, timer: Timer, now_ms: u64, period: Duration) {
        let at = now_ms + self.jitter(period);
        self.timers.set(timer, at);
    }

    pub(crate) fn become_joined(&mut self, succs: Vec<PeerAddr>, t: u64) {
        self.state = NodeState::Joined;
        self.succs = succs;
        self.successor_confirmed = false;
        self.routing_changed = true;
        self.timers.set(Timer::Stabilize, t);
        self.timers.set(Timer::FixFingers, t);
        self.fast_fingers = FINGERS;
        self.fast_stabilize = 4 * self.cfg.r();
        let c = &self.cfg;
        let (check, purge, repair) = (
            c.check_predecessor_interval,
            c.purge_interval,
            c.repair_interval,
        );
        self.schedule(Timer::CheckPredecessor, t, check);
        self.schedule(Timer::Probe, t, check);
        self.schedule(Timer::Purge, t, purge);
        self.schedule(Timer::Repair, t, repair);
    }

    /// One timer came due.
    pub(super) fn fire(&mut self, timer: Timer, t: u64) {
        let c = &self.cfg;
        let (stabilize, fingers, check) = (
            c.stabilize_interval,
            c.fix_fingers_interval,
            c.check_predecessor_interval,
        );
        let (purge, repair) = (c.purge_interval, c.repair_interval);
        let joined = self.state == NodeState::Joined;
        let client = self.state == NodeState::Client;
        match timer {
            Timer::Op(op) => self.op_expired(op),
            Timer::OpStep(op) => self.recursion_stalled(op, t),
            Timer::Stabilize if joined => {
                self.schedule(Timer::Stabilize, t, stabilize);
                self.stabilize(t);
            }
            Timer::Stabilize if client => {
                self.schedule(Timer::Stabilize, t, stabilize);
                self.refresh_contacts(t);
            }
            Timer::FixFingers if joined => {
                let period = if self.fast_fingers > 0 {
                    self.fast_fingers -= 1;
                    (fingers / 50).max(Duration::from_millis(1))
                } else {
                    fingers
                };
                self.schedule(Timer::FixFingers, t, period);
                self.fix_next_finger(t);
            }
            Timer::CheckPredecessor if joined => {
                self.schedule(Timer::CheckPredecessor, t, check);
                // Asking for its neighbours, not only pinging, keeps the
                // farther predecessors fresh.
                if let Some(p) = self.pred {
                    self.request(p, Request::GetNeighbours, Purpose::CheckPredecessor, t);
                }
            }
            Timer::Probe if joined => {
                self.schedule(Timer::Probe, t, check);
                if let Some((g, n)) = self.graveyard.pop_front() {
                    self.request(g, Request::Ping, Purpose::Probe(n + 1), t);
                }
            }
            Timer::Purge if joined => {
                self.schedule(Timer::Purge, t, purge);
                let wall = self.wall();
                self.store.purge_shard(0, wall, |_| {});
            }
            Timer::Repair if joined => {
                self.schedule(Timer::Repair, t, repair);
                self.digest_askers.clear();
                self.start_repair(t);
                self.start_rehoming(t);
            }
            _ => {}
        }
    }
}
