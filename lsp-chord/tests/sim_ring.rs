//! Simulated rings: joins, churn, loss, partitions, crashes, leaves, and
//! hostile writes, each followed by the ring and data invariants.
#![allow(clippy::unwrap_used)]
#![cfg(feature = "sim")]

use std::time::Duration;

use lsp_chord::Outcome;
use lsp_chord::sim::{Sim, SimConfig};

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

/// The seed from `LSP_SIM_SEED`, or the test's own.
fn seed(default: u64) -> u64 {
    std::env::var("LSP_SIM_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

fn assert_ring(sim: &Sim) {
    if let Err(e) = sim.check_ring() {
        panic!(
            "ring invariant broken (replay with LSP_SIM_SEED={}): {e}",
            sim.seed()
        );
    }
}

#[test]
fn join_from_empty() {
    let mut sim = Sim::new(SimConfig::new(seed(1)));
    let first = sim.add_node();
    let op = sim.join(first, None);
    assert_eq!(sim.wait(first, op, secs(1)), Some(Ok(Outcome::Joined)));
    for _ in 1..60 {
        let i = sim.add_node();
        let via = sim.random_live();
        let op = sim.join(i, via);
        assert_eq!(
            sim.wait(i, op, secs(30)),
            Some(Ok(Outcome::Joined)),
            "seed {}",
            sim.seed()
        );
        sim.run_for(Duration::from_millis(500));
    }
    sim.run_for(secs(120));
    assert_ring(&sim);
    assert_eq!(sim.live().len(), 60);
    let est = sim.status(first).unwrap().estimated_size;
    assert!((20.0..180.0).contains(&est), "size estimate {est}");
}
