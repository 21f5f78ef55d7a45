//! Chord at scale, in the deterministic simulator: lookup hops and success,
//! upkeep traffic, bindings lost, re-convergence, and the simulator's own
//! cost, for several ring sizes and scenarios.
//!
//! ```text
//! cargo run --release -p chord-sim -- \
//!     --nodes 1000,10000,100000 --scenarios stable,churn,partition
//! cargo run --release -p chord-sim -- \
//!     --nodes 1000,10000 --scenarios hostile --malicious 0.1,0.2
//! ```

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

mod diagnose;

use clap::{Parser, ValueEnum};
use lsp_chord::ring::Point;
use lsp_chord::sim::{Sim, SimConfig, successor_in};
use lsp_chord::{OpId, Outcome, Routing};
use lsp_core::{Aor, Binding, Identity, NodeId, PeerAddr, Record, SignedRecord};
use serde::Serialize;

/// Chord at scale in the deterministic simulator; prints a table, writes
/// JSON, CSV and SVG plots.
#[derive(Debug, Clone, Parser)]
#[command(name = "chord-sim")]
struct Args {
    /// Ring sizes to simulate.
    #[arg(long, value_delimiter = ',', default_value = "1000,10000,100000")]
    nodes: Vec<usize>,
    /// Scenarios to run at each size.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "stable,churn,partition",
        value_parser = ["stable", "churn", "partition", "hostile"]
    )]
    scenarios: Vec<String>,
    /// Seed of every random choice.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// AORs published before measuring.
    #[arg(long, default_value_t = 1000)]
    aors: usize,
    /// Lookups per virtual second while measuring.
    #[arg(long, default_value_t = 20)]
    lookups_per_sec: usize,
    /// Virtual seconds of measuring.
    #[arg(long, default_value_t = 60)]
    measure_secs: u64,
    /// Virtual seconds of the churn scenario.
    #[arg(long, default_value_t = 600)]
    churn_secs: u64,
    /// How lookups travel.
    #[arg(long, value_enum, default_value = "iterative")]
    routing: RoutingArg,
    /// Fractions of hostile nodes for the `hostile` scenario.
    #[arg(long, value_delimiter = ',', default_value = "0.1,0.2")]
    malicious: Vec<f64>,
    /// Replicas of each record in the `hostile` scenario.
    #[arg(long, default_value_t = 7)]
    replicas: usize,
    /// Where the JSON rows go.
    #[arg(long, default_value = "target/lsp-bench/chord-sim.json")]
    json: PathBuf,
    /// Where the CSV rows go.
    #[arg(long, default_value = "target/lsp-bench/chord-sim.csv")]
    csv: PathBuf,
    /// Where the SVG plots go.
    #[arg(long, default_value = "target/lsp-bench")]
    svg_dir: PathBuf,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum RoutingArg {
    Iterative,
    Recursive,
}

impl From<RoutingArg> for Routing {
    fn from(r: RoutingArg) -> Self {
        match r {
            RoutingArg::Iterative => Routing::Iterative,
            RoutingArg::Recursive => Routing::Recursive,
        }
    }
}

#[derive(Debug, Clone, Default, Serialize)]
struct Row {
    nodes: usize,
    scenario: String,
    routing: String,
    seed: u64,
    lookups: usize,
    lookups_completed: usize,
    lookups_correct: usize,
    lookup_failures: Vec<String>,
    success_rate: f64,
    hops_mean: f64,
    hops_p50: u32,
    hops_p99: u32,
    latency_p50_ms: u64,
    latency_p99_ms: u64,
    maintenance_msgs_per_node_min: f64,
    maintenance_bytes_per_node_min: f64,
    replication_bytes_per_node_min: f64,
    bindings_checked: usize,
    bindings_lost: usize,
    lost_after_crash_10pct: usize,
    lost_after_join_10pct: usize,
    crashed: u64,
    joined: u64,
    reconverge_crash_10pct_s: Option<f64>,
    reconverge_join_10pct_s: Option<f64>,
    reconverge_heal_s: Option<f64>,
    estimated_size_median: f64,
    virtual_secs: f64,
    wall_secs: f64,
    peak_rss_mib: f64,
    /// Every lookup's latency, for the plot.
    #[serde(skip)]
    latency_ms: Vec<u64>,
}

/// `LSP_SIM_VERBOSE=1` prints every failed operation.
fn verbose() -> bool {
    std::env::var_os("LSP_SIM_VERBOSE").is_some()
}

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

fn peak_rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

/// A lookup in flight: origin, op, target, start time, and the target's
/// true successor when it started.
type InFlight = (usize, OpId, Point, u64, Option<NodeId>);

/// Lookups in flight, checked against the true ring when they finish.
#[derive(Default)]
struct Probe {
    in_flight: Vec<InFlight>,
    issued: usize,
    completed: usize,
    correct: usize,
    errors: BTreeMap<String, usize>,
    hops: Vec<u32>,
    latency: Vec<u64>,
}

impl Probe {
    fn issue(&mut self, sim: &mut Sim, ring: &[PeerAddr], count: usize) {
        for _ in 0..count {
            let Some(at) = sim.random_live() else { return };
            let mut t = [0u8; 32];
            for c in t.chunks_mut(8) {
                c.copy_from_slice(&sim.random_u64().to_be_bytes());
            }
            let op = sim.lookup(at, Point(t));
            let truth = successor_in(ring, Point(t)).map(|p| p.id);
            self.in_flight
                .push((at, op, Point(t), sim.now().as_millis(), truth));
            self.issued += 1;
        }
    }

    /// Collects finished lookups. A lookup is correct when its first peer
    /// is the target's true successor as the lookup started or as it is
    /// collected: membership may change while it runs. A lookup whose
    /// origin crashed has no one to answer it and is not counted.
    fn harvest(&mut self, sim: &mut Sim, ring: &[PeerAddr]) {
        let mut keep = Vec::new();
        for (at, op, target, start, before) in std::mem::take(&mut self.in_flight) {
            if sim.node(at).is_none() {
                self.issued -= 1;
                continue;
            }
            match sim.take_finished(at, op) {
                None => keep.push((at, op, target, start, before)),
                Some((when, Ok(Outcome::Lookup(l)))) => {
                    self.completed += 1;
                    let after = successor_in(ring, target).map(|p| p.id);
                    let got = l.peers.first().map(|p| p.id);
                    if got == after || got == before {
                        self.correct += 1;
                    } else {
                        *self.errors.entry("wrong successor".into()).or_default() += 1;
                    }
                    self.hops.push(l.hops);
                    self.latency.push(when.as_millis() - start);
                }
                Some((_, other)) => {
                    *self.errors.entry(format!("{other:?}")).or_default() += 1;
                }
            }
        }
        self.in_flight = keep;
    }

    fn fill(&mut self, row: &mut Row) {
        self.hops.sort_unstable();
        self.latency.sort_unstable();
        let pct = |v: &[u64], p: f64| {
            v.get(((v.len() as f64 - 1.0) * p) as usize)
                .copied()
                .unwrap_or(0)
        };
        let hops: Vec<u64> = self.hops.iter().map(|&h| u64::from(h)).collect();
        row.lookups = self.issued;
        row.lookups_completed = self.completed;
        row.lookups_correct = self.correct;
        row.lookup_failures = self
            .errors
            .iter()
            .map(|(k, v)| format!("{v}x {k}"))
            .collect();
        row.success_rate = self.correct as f64 / self.issued.max(1) as f64;
        row.hops_mean = hops.iter().sum::<u64>() as f64 / hops.len().max(1) as f64;
        row.hops_p50 = pct(&hops, 0.5) as u32;
        row.hops_p99 = pct(&hops, 0.99) as u32;
        row.latency_p50_ms = pct(&self.latency, 0.5);
        row.latency_p99_ms = pct(&self.latency, 0.99);
        row.latency_ms = self.latency.clone();
    }
}

fn records(n: usize, sim: &Sim) -> Vec<(Aor, SignedRecord)> {
    let publisher = Identity::from_secret_bytes([42; 32]);
    (0..n)
        .map(|i| {
            let aor =
                Aor::parse(&format!("sip:user{i}@example.com")).unwrap_or_else(|e| panic!("{e}"));
            let rec = Record {
                aor: aor.clone(),
                version: 1,
                bindings: vec![Binding::new(
                    format!("sip:user{i}@192.0.2.1:5060"),
                    sim.now() + secs(12 * 3600),
                    "bench@ua",
                    1,
                )],
            }
            .sign(&publisher)
            .unwrap_or_else(|e| panic!("{e}"));
            (aor, rec)
        })
        .collect()
}

/// Runs ops started by `start` to completion (or 5 virtual minutes).
fn run_all(sim: &mut Sim, ops: Vec<(usize, OpId)>) -> Vec<Option<Outcome>> {
    let mut out: BTreeMap<usize, Option<Outcome>> = BTreeMap::new();
    let mut left: Vec<(usize, usize, OpId)> = ops
        .into_iter()
        .enumerate()
        .map(|(k, (i, op))| (k, i, op))
        .collect();
    for _ in 0..300 {
        if left.is_empty() {
            break;
        }
        sim.run_for(secs(1));
        left.retain(|&(k, i, op)| match sim.take_outcome(i, op) {
            Some(r) => {
                if verbose() && r.is_err() {
                    eprintln!("op error {r:?}");
                }
                out.insert(k, r.ok());
                false
            }
            None => {
                let alive = sim.node(i).is_some();
                if !alive && verbose() {
                    eprintln!("origin {i} gone");
                }
                alive
            }
        });
    }
    let total = out
        .keys()
        .max()
        .map_or(0, |m| m + 1)
        .max(left.iter().map(|l| l.0 + 1).max().unwrap_or(0));
    (0..total).map(|k| out.remove(&k).flatten()).collect()
}

fn publish_all(sim: &mut Sim, recs: &[(Aor, SignedRecord)]) -> usize {
    let ops: Vec<(usize, OpId)> = recs
        .iter()
        .filter_map(|(_, r)| {
            let at = sim.random_live()?;
            Some((at, sim.publish(at, r.clone())))
        })
        .collect();
    run_all(sim, ops)
        .iter()
        .filter(|o| matches!(o, Some(Outcome::Published(_))))
        .count()
}

/// AORs whose binding cannot be read back.
fn lost(sim: &mut Sim, recs: &[(Aor, SignedRecord)]) -> usize {
    let ops: Vec<(usize, OpId)> = recs
        .iter()
        .filter_map(|(aor, _)| {
            let at = sim.random_live()?;
            Some((at, sim.query(at, aor.clone())))
        })
        .collect();
    let answers = run_all(sim, ops);
    let n = recs.iter()
        .enumerate()
        .filter(|(k, (_, rec))| {
            let want = &rec.record.bindings[0].contact;
            !matches!(answers.get(*k), Some(Some(Outcome::Bindings(b))) if b.iter().any(|b| &b.contact == want))
        })
        .count();
    if verbose() {
        let read = |k: usize, want: &str| matches!(answers.get(k), Some(Some(Outcome::Bindings(b))) if b.iter().any(|b| b.contact == want));
        diagnose::print_missed(sim, recs, read);
        eprintln!(
            "lost {n} of {} answers {}: {:?}",
            recs.len(),
            answers.len(),
            answers
                .iter()
                .enumerate()
                .filter(|(_, a)| !matches!(a, Some(Outcome::Bindings(b)) if !b.is_empty()))
                .collect::<Vec<_>>()
        );
    }
    n
}

fn upkeep(sim: &Sim) -> (u64, u64, u64) {
    (0..sim.len())
        .filter_map(|i| sim.status(i))
        .map(|s| {
            let c = s.counters;
            (
                c.maintenance_messages,
                c.maintenance_bytes,
                c.replication_bytes,
            )
        })
        .fold((0, 0, 0), |a, b| (a.0 + b.0, a.1 + b.1, a.2 + b.2))
}

/// Time until `live` nodes are in the ring and the ring invariants hold.
/// Upkeep per live node and minute since the counts `before`, over `secs`.
fn fill_upkeep(row: &mut Row, sim: &Sim, before: (u64, u64, u64), secs: u64) {
    let (m1, b1, r1) = upkeep(sim);
    let per = |x: u64| x as f64 / sim.live().len().max(1) as f64 / (secs as f64 / 60.0);
    row.maintenance_msgs_per_node_min = per(m1 - before.0);
    row.maintenance_bytes_per_node_min = per(b1 - before.1);
    row.replication_bytes_per_node_min = per(r1 - before.2);
}

fn reconverge(sim: &mut Sim, limit: Duration, live: usize) -> Option<f64> {
    let t = sim
        .run_until(limit, secs(1), |s| {
            s.live().len() == live && s.check_ring().is_ok()
        })
        .map(|d| d.as_secs_f64());
    if t.is_none() {
        eprintln!(
            "not converged after {limit:?}: {} of {live} nodes in the ring; {:?}",
            sim.live().len(),
            sim.check_ring()
        );
        if verbose() {
            diagnose::print_wrong_neighbours(sim);
        }
    }
    t
}

fn median_estimate(sim: &Sim) -> f64 {
    let mut v: Vec<f64> = sim
        .live()
        .iter()
        .filter_map(|&i| sim.status(i).map(|s| s.estimated_size))
        .collect();
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(0.0)
}

/// Lookups at a steady rate for `d`, with `each_second` run between ticks.
fn measure(sim: &mut Sim, a: &Args, d: u64, row: &mut Row) {
    let mut probe = Probe::default();
    let (m0, b0, r0) = upkeep(sim);
    let ring = sim.ring_order();
    for _ in 0..d {
        probe.issue(sim, &ring, a.lookups_per_sec);
        sim.run_for(secs(1));
        probe.harvest(sim, &ring);
    }
    sim.run_for(secs(30));
    probe.harvest(sim, &ring);
    fill_upkeep(row, sim, (m0, b0, r0), d + 30);
    probe.fill(row);
}

fn run(n: usize, scenario: &str, a: &Args) -> Row {
    let wall = Instant::now();
    let mut cfg = SimConfig::new(a.seed);
    cfg.chord.routing = a.routing.into();
    if scenario == "churn" {
        cfg.loss = 0.01;
    }
    let k = cfg.chord.replicas;
    let mut sim = Sim::new(cfg);
    let t0 = sim.now();
    sim.converged_ring(n);
    sim.run_for(secs(10));
    let recs = records(a.aors, &sim);
    let published = publish_all(&mut sim, &recs);
    let mut row = Row {
        nodes: n,
        scenario: scenario.into(),
        routing: format!("{:?}", a.routing).to_lowercase(),
        seed: a.seed,
        bindings_checked: recs.len(),
        ..Row::default()
    };
    let mut lost_total = recs.len() - published;
    match scenario {
        "stable" => {
            measure(&mut sim, a, a.measure_secs, &mut row);
            row.estimated_size_median = median_estimate(&sim);
            lost_total += lost(&mut sim, &recs);
            let live = sim.live();
            let before = verbose().then(|| diagnose::Whereabouts::take(&sim, &recs, k));
            for _ in 0..n / 10 {
                let pick = (sim.random_u64() as usize) % live.len();
                sim.crash(live[pick]);
            }
            row.crashed = (live.len() - sim.live().len()) as u64;
            let after_crash = sim.live().len();
            row.reconverge_crash_10pct_s = reconverge(&mut sim, secs(900), after_crash);
            // Expected: about aors / 1000, the records whose three copies
            // were all among the 10% that crashed at once.
            row.lost_after_crash_10pct = lost(&mut sim, &recs);
            if let Some(before) = before {
                before.print_after_crash(&sim, &recs);
            }
            let mut joins = Vec::new();
            for _ in 0..n / 10 {
                let i = sim.add_node();
                let via = sim.random_live();
                joins.push((i, sim.join(i, via)));
            }
            row.joined = (n / 10) as u64;
            row.reconverge_join_10pct_s = reconverge(&mut sim, secs(900), after_crash + n / 10);
            if verbose() {
                for (i, op) in joins {
                    if let Some(r) = sim.take_outcome(i, op).filter(|r| r.is_err()) {
                        eprintln!("join of {i}: {r:?}");
                    }
                }
            }
            row.lost_after_join_10pct = lost(&mut sim, &recs);
        }
        "churn" => {
            let mut probe = Probe::default();
            let (m0, b0, r0) = upkeep(&sim);
            let lps = a.lookups_per_sec;
            let churn = sim.run_churn(secs(a.churn_secs), secs(3600), |s| {
                let ring = s.ring_order();
                probe.harvest(s, &ring);
                probe.issue(s, &ring, lps);
            });
            sim.run_for(secs(30));
            let ring = sim.ring_order();
            probe.harvest(&mut sim, &ring);
            fill_upkeep(&mut row, &sim, (m0, b0, r0), a.churn_secs + 30);
            probe.fill(&mut row);
            row.crashed = churn.crashed;
            row.joined = churn.joined;
            row.estimated_size_median = median_estimate(&sim);
            sim.run_for(secs(60));
            lost_total += lost(&mut sim, &recs);
        }
        _ => {
            sim.partition(|i| (i % 2) as u8);
            sim.run_for(secs(60));
            sim.heal();
            row.reconverge_heal_s = reconverge(&mut sim, secs(1800), n);
            measure(&mut sim, a, a.measure_secs.min(30), &mut row);
            row.estimated_size_median = median_estimate(&sim);
            lost_total += lost(&mut sim, &recs);
        }
    }
    row.bindings_lost = lost_total;
    row.virtual_secs = sim.now().since(t0).as_secs_f64();
    row.wall_secs = wall.elapsed().as_secs_f64();
    row.peak_rss_mib = peak_rss_mib();
    row
}

fn opt(v: Option<f64>) -> String {
    v.map_or("-".into(), |s| format!("{s:.0}"))
}

fn main() {
    let mut a = Args::parse();
    if a.scenarios.iter().any(|s| s == "hostile") {
        hostile(&a);
        a.scenarios.retain(|s| s != "hostile");
        if a.scenarios.is_empty() {
            return;
        }
    }
    println!(
        "{:>7} {:<9} {:>6} {:>8} {:>5} {:>4} {:>4} {:>7} {:>7} {:>8} {:>9} {:>5} {:>6} {:>6} {:>6} {:>6} {:>7} {:>6}",
        "nodes",
        "scenario",
        "hops",
        "success",
        "p50",
        "p99",
        "lost",
        "lost10%",
        "lat50ms",
        "msg/n/m",
        "B/n/m",
        "est",
        "crash",
        "join",
        "heal",
        "virt_s",
        "wall_s",
        "MiB"
    );
    let mut rows = Vec::new();
    for &n in &a.nodes {
        for s in &a.scenarios {
            let r = run(n, s, &a);
            println!(
                "{:>7} {:<9} {:>6.2} {:>7.3}% {:>5} {:>4} {:>4} {:>7} {:>7} {:>8.1} {:>9.0} {:>5.0} {:>6} {:>6} {:>6} {:>6.0} {:>7.1} {:>6.0}",
                r.nodes,
                r.scenario,
                r.hops_mean,
                r.success_rate * 100.0,
                r.hops_p50,
                r.hops_p99,
                r.bindings_lost,
                r.lost_after_crash_10pct,
                r.latency_p50_ms,
                r.maintenance_msgs_per_node_min,
                r.maintenance_bytes_per_node_min,
                r.estimated_size_median,
                opt(r.reconverge_crash_10pct_s),
                opt(r.reconverge_join_10pct_s),
                opt(r.reconverge_heal_s),
                r.virtual_secs,
                r.wall_secs,
                r.peak_rss_mib
            );
            rows.push(r);
        }
    }
    if let Err(e) = write(&a, &rows).and_then(|()| plot(&a, &rows)) {
        eprintln!("writing results: {e}");
        std::process::exit(1);
    }
    println!(
        "results: {}, {} and {}/chord-{{hops,latency}}.svg",
        a.json.display(),
        a.csv.display(),
        a.svg_dir.display()
    );
}

/// The hostile scenario at each size and malicious fraction, with an
/// honest run (fraction 0) first for the cost of the defences.
fn hostile(a: &Args) {
    use lsp_chord::sim::hostile::{HostileConfig, run};
    println!(
        "{:>7} {:>9} {:>8} {:>9} {:>9} {:>6} {:>7} {:>9} {:>10} {:>7} {:>9} {:>8} {:>6} {:>7}",
        "nodes",
        "malicious",
        "queries",
        "correct",
        "winnable",
        "stale",
        "failed",
        "hij.anch",
        "hij.first",
        "sybil",
        "outvoted",
        "msg/n/m",
        "lies",
        "wall_s"
    );
    let mut rows = Vec::new();
    for &n in &a.nodes {
        let mut fractions = vec![0.0];
        fractions.extend(a.malicious.iter().copied().filter(|f| *f > 0.0));
        for f in fractions {
            let t = std::time::Instant::now();
            let mut cfg = HostileConfig::new(n, f, a.seed);
            cfg.replicas = a.replicas;
            let r = run(&cfg);
            let wall = t.elapsed().as_secs_f64();
            println!(
                "{:>7} {:>9.2} {:>8} {:>8.2}% {:>8.2}% {:>6} {:>7} {:>9} {:>10} {:>3}/{:<3} {:>4}/{:<4} {:>8.1} {:>6} {:>7.1}",
                n,
                f,
                r.queries,
                r.correct_rate() * 100.0,
                r.winnable_correct_rate() * 100.0,
                r.stale,
                r.failed,
                r.hijacked_anchored,
                r.hijacked_first_come,
                r.sybil_target_correct,
                r.sybil_target_queries,
                r.outvoted_correct,
                r.outvoted_queries,
                r.msgs_per_node_min,
                r.lies,
                wall
            );
            rows.push(serde_json::json!({
                "nodes": n, "malicious": f, "queries": r.queries, "correct": r.correct,
                "correct_rate": r.correct_rate(),
                "winnable_correct_rate": r.winnable_correct_rate(),
                "stale": r.stale, "failed": r.failed,
                "hijacked_anchored": r.hijacked_anchored,
                "hijacked_first_come": r.hijacked_first_come,
                "sybil_target_queries": r.sybil_target_queries,
                "sybil_target_correct": r.sybil_target_correct,
                "replicas": a.replicas,
                "outvoted_queries": r.outvoted_queries,
                "outvoted_correct": r.outvoted_correct,
                "msgs_per_node_min": r.msgs_per_node_min, "lies": r.lies, "wall_secs": wall,
            }));
        }
    }
    let path = a.json.with_file_name("chord-hostile.json");
    let written = path
        .parent()
        .map_or(Ok(()), std::fs::create_dir_all)
        .and_then(|()| serde_json::to_vec_pretty(&rows).map_err(std::io::Error::other))
        .and_then(|json| std::fs::write(&path, json));
    match written {
        Ok(()) => println!("results: {}", path.display()),
        Err(e) => eprintln!("writing {}: {e}", path.display()),
    }
}

/// Hops against N per scenario, with the 0.5·log2(N) + 0.5 bound, and the
/// distribution of lookup latency per size and scenario.
fn plot(a: &Args, rows: &[Row]) -> std::io::Result<()> {
    use lsp_plot::{Chart, cdf};
    std::fs::create_dir_all(&a.svg_dir)?;
    let mut hops = Chart::new("Chord lookup hops against ring size")
        .x_log()
        .x_label("nodes (N)")
        .y_label("hops per lookup")
        .legend_low();
    for s in &a.scenarios {
        let line = |f: fn(&Row) -> f64| -> Vec<(f64, f64)> {
            rows.iter()
                .filter(|r| &r.scenario == s)
                .map(|r| (r.nodes as f64, f(r)))
                .collect()
        };
        hops = hops.line(&format!("mean, {s}"), line(|r| r.hops_mean));
        if s == "stable" {
            hops = hops.line("p99, stable", line(|r| f64::from(r.hops_p99)));
        }
    }
    let bound: Vec<(f64, f64)> = a
        .nodes
        .iter()
        .map(|&n| (n as f64, 0.5 * (n as f64).log2() + 0.5))
        .collect();
    hops = hops.dashed("bound 0.5·log2(N) + 0.5", bound);
    std::fs::write(a.svg_dir.join("chord-hops.svg"), hops.to_svg())?;

    let mut latency = Chart::new("Chord lookup latency (one-way delay 10-90 ms)")
        .x_log()
        .legend_low()
        .x_label("lookup latency (ms, log scale)")
        .y_label("fraction of lookups at or below");
    // The partition run's lookups look like the stable run's; leave them out.
    for r in rows
        .iter()
        .filter(|r| !r.latency_ms.is_empty() && r.scenario != "partition")
    {
        let samples: Vec<f64> = r.latency_ms.iter().map(|&v| v as f64).collect();
        latency = latency.line(&format!("{} nodes, {}", r.nodes, r.scenario), cdf(&samples));
    }
    std::fs::write(a.svg_dir.join("chord-latency.svg"), latency.to_svg())
}

fn write(a: &Args, rows: &[Row]) -> std::io::Result<()> {
    for p in [&a.json, &a.csv] {
        if let Some(dir) = p.parent() {
            std::fs::create_dir_all(dir)?;
        }
    }
    std::fs::write(
        &a.json,
        serde_json::to_string_pretty(rows).map_err(std::io::Error::other)?,
    )?;
    let mut csv = String::from(
        "nodes,scenario,routing,seed,lookups,completed,correct,success_rate,hops_mean,hops_p50,hops_p99,\
latency_p50_ms,latency_p99_ms,maint_msgs_per_node_min,maint_bytes_per_node_min,\
repl_bytes_per_node_min,bindings_checked,bindings_lost,lost_after_crash_10pct,lost_after_join_10pct,crashed,joined,reconverge_crash_s,\
reconverge_join_s,reconverge_heal_s,estimated_size_median,virtual_secs,wall_secs,peak_rss_mib\n",
    );
    for r in rows {
        let o = |v: Option<f64>| v.map_or(String::new(), |s| format!("{s:.1}"));
        csv.push_str(&format!(
            "{},{},{},{},{},{},{},{:.5},{:.3},{},{},{},{},{:.2},{:.0},{:.0},{},{},{},{},{},{},{},{},{},{:.0},{:.0},{:.1},{:.0}\n",
            r.nodes, r.scenario, r.routing, r.seed, r.lookups, r.lookups_completed, r.lookups_correct, r.success_rate,
            r.hops_mean, r.hops_p50, r.hops_p99, r.latency_p50_ms, r.latency_p99_ms,
            r.maintenance_msgs_per_node_min, r.maintenance_bytes_per_node_min,
            r.replication_bytes_per_node_min, r.bindings_checked, r.bindings_lost,
            r.lost_after_crash_10pct, r.lost_after_join_10pct, r.crashed, r.joined,
            o(r.reconverge_crash_10pct_s), o(r.reconverge_join_10pct_s), o(r.reconverge_heal_s),
            r.estimated_size_median, r.virtual_secs, r.wall_secs, r.peak_rss_mib
        ));
    }
    std::fs::write(&a.csv, csv)
}
