//! What `LSP_SIM_VERBOSE` prints when a scenario goes wrong: which nodes
//! hold a record a read missed, whether a lost record's owners all crashed
//! at once, and which nodes' neighbours are wrong. None of it draws on the
//! simulator's randomness, so a verbose run is the same run.

use lsp_chord::sim::Sim;
use lsp_core::{Aor, NodeId, SignedRecord};

/// For each record, the `k` live nodes that follow its key: its owners.
fn owners_of(sim: &Sim, recs: &[(Aor, SignedRecord)], k: usize) -> Vec<Vec<usize>> {
    let mut ring: Vec<([u8; 32], usize)> = sim
        .live()
        .into_iter()
        .filter_map(|i| sim.node(i).map(|c| (c.me().id.0, i)))
        .collect();
    ring.sort();
    recs.iter()
        .map(|(aor, _)| {
            let key = aor.resource_id().0;
            let start = ring.partition_point(|(id, _)| *id < key);
            (0..k.min(ring.len()))
                .map(|j| ring[(start + j) % ring.len()].1)
                .collect()
        })
        .collect()
}

/// For each record, (rank clockwise from its key among live nodes, node)
/// of every live node that holds it.
fn holders(sim: &Sim, recs: &[(Aor, SignedRecord)]) -> Vec<Vec<(usize, usize)>> {
    let all = owners_of(sim, recs, sim.live().len());
    let now = sim.now();
    recs.iter()
        .zip(all)
        .map(|((aor, _), ring)| {
            ring.into_iter()
                .enumerate()
                .filter(|(_, i)| {
                    sim.node(*i)
                        .and_then(|c| c.store().fetch(aor, now).ok())
                        .is_some_and(|r| !r.is_empty())
                })
                .collect()
        })
        .collect()
}

/// Prints, for each record whose binding `read(index, contact)` says was
/// not read back, where it is still held.
pub fn print_missed(sim: &Sim, recs: &[(Aor, SignedRecord)], read: impl Fn(usize, &str) -> bool) {
    let held = holders(sim, recs);
    for (k, (aor, rec)) in recs.iter().enumerate() {
        if !read(k, &rec.record.bindings[0].contact) {
            let ranks: Vec<usize> = held[k].iter().map(|(rank, _)| *rank).collect();
            eprintln!(
                "missed {aor}: held at ranks {ranks:?} among live nodes clockwise from its key"
            );
        }
    }
}

/// Where every record was before a crash, to tell afterwards a record lost
/// with all its owners from one the ring dropped.
pub struct Whereabouts {
    k: usize,
    owners: Vec<Vec<usize>>,
    held: Vec<Vec<(usize, usize)>>,
}

impl Whereabouts {
    pub fn take(sim: &Sim, recs: &[(Aor, SignedRecord)], k: usize) -> Self {
        Self {
            k,
            owners: owners_of(sim, recs, k),
            held: holders(sim, recs),
        }
    }

    /// How many records had all `k` owners crash, and for each record no
    /// live node holds now, who held it before and whether they crashed.
    pub fn print_after_crash(&self, sim: &Sim, recs: &[(Aor, SignedRecord)]) {
        let gone = self
            .owners
            .iter()
            .filter(|o| o.iter().all(|&i| sim.node(i).is_none()))
            .count();
        eprintln!("records whose {} owners all crashed: {gone}", self.k);
        for (k, now) in holders(sim, recs).iter().enumerate() {
            if now.is_empty() {
                let before: Vec<(usize, usize, bool)> = self.held[k]
                    .iter()
                    .map(|&(rank, i)| (rank, i, sim.node(i).is_none()))
                    .collect();
                eprintln!(
                    "{} held nowhere now; before the crash (rank, node, crashed): {before:?}",
                    recs[k].0
                );
            }
        }
    }
}

/// Prints every node whose successor or predecessor is not its ring
/// neighbour, by position in ring order.
pub fn print_wrong_neighbours(sim: &Sim) {
    let ring = sim.ring_order();
    let pos = |id: NodeId| ring.iter().position(|p| p.id == id);
    for i in sim.live() {
        let Some(c) = sim.node(i) else { continue };
        let Some(me) = pos(sim.addr(i).id) else {
            continue;
        };
        let succ = c.successors().first().and_then(|p| pos(p.id));
        let pred = c.predecessor().and_then(|p| pos(p.id));
        let n = ring.len();
        if succ != Some((me + 1) % n) || pred != Some((me + n - 1) % n) {
            let list: Vec<Option<usize>> = c.successors().iter().map(|p| pos(p.id)).collect();
            let succ_pred = c
                .successors()
                .first()
                .and_then(|s| sim.live().into_iter().find(|&j| sim.addr(j).id == s.id))
                .and_then(|j| sim.node(j)?.predecessor())
                .and_then(|p| pos(p.id));
            eprintln!(
                "  at {me}: pred {pred:?}, successors {list:?}, successor's pred {succ_pred:?}"
            );
        }
    }
}
