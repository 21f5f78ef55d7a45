//! Throughput and memory of `LocalLocationService` with a million bindings.
//!
//! `cargo bench -p lsp-core --features disk --bench local_store -- [--n N] [--secs S] [--rounds R]`
//!
//! Each query mode runs for `S` seconds in all, in `R` slices that take
//! turns with the other modes; it prints the median slice, the slowest and
//! the fastest. Publishing includes the ed25519 signature check, as it does
//! in service.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::executor::block_on;
use lsp_core::store::StoreLimits;
use lsp_core::{
    Aor, Binding, Identity, LocalConfig, LocalLocationService, LocationService, Record,
    SignedRecord, UnixTime,
};

/// Throughput and memory of the embedded store.
#[derive(clap::Parser)]
#[command(name = "local_store", bin_name = "local_store")]
struct Args {
    /// Bindings in the store.
    #[arg(long, default_value_t = 1_000_000)]
    n: usize,
    /// Seconds each query mode runs in all.
    #[arg(long, default_value_t = 3.0)]
    secs: f64,
    /// Slices each mode's time is cut into, taking turns with the others.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..))]
    rounds: u64,
    /// Records published to the disk-backed store.
    #[arg(long, default_value_t = 500)]
    disk_n: usize,
    /// Passed by `cargo bench`; ignored.
    #[arg(long, hide = true)]
    bench: bool,
}

fn aor(i: usize) -> Aor {
    Aor::parse(&format!("sip:user{i:07}@example.com")).unwrap()
}

/// A binding shaped like a desk phone's: IPv4 contact, RFC 3261-style Call-ID.
fn record(i: usize, version: u64, now: UnixTime) -> Record {
    let contact = format!("sip:user{i:07}@198.51.{}.{}:5060", (i >> 8) & 255, i & 255);
    let call_id = format!(
        "{:016x}@ua.example",
        (i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15)
    );
    let binding = Binding::new(contact, now + Duration::from_secs(3600), call_id, 1);
    Record {
        aor: aor(i),
        version,
        bindings: vec![binding],
    }
}

fn rss_bytes() -> usize {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: usize = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    pages * 4096
}

/// Splitmix64: a fixed, cheap sequence of random indices.
fn next(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Zipf-distributed keys (theta 0.99, as YCSB's): rank `r` is drawn with
/// weight `1 / r^0.99` through the cumulative weights, then scrambled so
/// that popular keys lie all over the key space, as real callees do.
fn zipf_keys(n: usize, len: usize, rng: &mut u64) -> Vec<usize> {
    let mut total = 0.0;
    let cumulative: Vec<f64> = (1..=n)
        .map(|r| {
            total += 1.0 / (r as f64).powf(0.99);
            total
        })
        .collect();
    (0..len)
        .map(|_| {
            let u = (next(rng) >> 11) as f64 / (1u64 << 53) as f64 * total;
            let mut rank = cumulative.partition_point(|&c| c < u) as u64;
            (next(&mut rank) % n as u64) as usize
        })
        .collect()
}

/// The AORs a run queries, allocated in the order they are queried, so that
/// reading the next one costs what holding a fresh request costs; the store
/// itself is hit in random order.
fn workload(n: usize, len: usize, zipf: bool) -> Arc<Vec<Aor>> {
    let mut rng = 0x5eed;
    let keys = if zipf {
        zipf_keys(n, len, &mut rng)
    } else {
        (0..len)
            .map(|_| (next(&mut rng) % n as u64) as usize)
            .collect()
    };
    Arc::new(keys.into_iter().map(aor).collect())
}

fn median(xs: &[f64]) -> f64 {
    let mut v = xs.to_vec();
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(0.0)
}

/// How a run asks.
#[derive(Clone, Copy, PartialEq)]
enum Ask {
    /// One `query_sync` per AOR: owned bindings.
    Owned,
    /// One `query_into` per AOR, into one reused buffer.
    Borrowed,
    /// Parse the AOR from text first, as a proxy does with a Request-URI.
    Parse,
}

/// Queries the workload for `secs` on `threads` threads; returns ops/s.
fn query_rate(
    s: &Arc<LocalLocationService>,
    work: &Arc<Vec<Aor>>,
    threads: usize,
    secs: f64,
    ask: Ask,
) -> f64 {
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let (s, work) = (s.clone(), work.clone());
            std::thread::spawn(move || {
                let start = Instant::now();
                let mut ops = 0u64;
                let mut out = Vec::new();
                let mut at = t * work.len() / 2;
                while start.elapsed().as_secs_f64() < secs {
                    for _ in 0..1024 {
                        at = (at + 1) % work.len();
                        let found = match ask {
                            Ask::Owned => s.query_sync(&work[at]).unwrap().len(),
                            Ask::Borrowed => {
                                s.query_into(&work[at], &mut out).unwrap();
                                out.len()
                            }
                            Ask::Parse => {
                                let aor = Aor::parse(work[at].as_str()).unwrap();
                                s.query_sync(&aor).unwrap().len()
                            }
                        };
                        assert_eq!(found, 1);
                    }
                    ops += 1024;
                }
                ops as f64 / start.elapsed().as_secs_f64()
            })
        })
        .collect();
    handles.into_iter().map(|h| h.join().unwrap()).sum()
}

fn main() {
    let a = <Args as clap::Parser>::parse();
    let now = UnixTime::now();
    let identity = Identity::from_secret_bytes([7; 32]);

    let rss_before = rss_bytes();
    let mut limits = StoreLimits::default();
    limits.max_records = usize::MAX;
    limits.max_bytes = usize::MAX;
    let service = Arc::new(LocalLocationService::new(
        LocalConfig::default().limits(limits),
    ));

    // Fill on two threads, signing as publishers would, so that nothing but
    // the store stays resident.
    let fill_start = Instant::now();
    let fillers: Vec<_> = (0..2)
        .map(|t| {
            let (s, id) = (service.clone(), identity.clone());
            let n = a.n;
            std::thread::spawn(move || {
                for i in (t..n).step_by(2) {
                    s.publish_sync(&record(i, 1, now).sign(&id).unwrap())
                        .unwrap();
                }
            })
        })
        .collect();
    fillers.into_iter().for_each(|h| h.join().unwrap());
    let fill_rate = a.n as f64 / fill_start.elapsed().as_secs_f64();
    let resident = rss_bytes().saturating_sub(rss_before);
    let stats = service.stats();
    assert_eq!(stats.records, a.n);

    // Publish: updates of existing AORs, signed beforehand, one thread.
    let sample = a.n.min(50_000);
    let updates: Vec<SignedRecord> = (0..sample)
        .map(|i| record(i, 2, now).sign(&identity).unwrap())
        .collect();
    let start = Instant::now();
    for u in &updates {
        service.publish_sync(u).unwrap();
    }
    let publish_rate = sample as f64 / start.elapsed().as_secs_f64();
    drop(updates);

    // The query modes take turns in short slices, so that the host's drift
    // during the run reaches them all alike; each figure is a median.
    let uniform = workload(a.n, 1 << 18, false);
    let skewed = workload(a.n, 1 << 18, true);
    use Ask::*;
    let modes = [
        ("query hit, uniform keys, 1 thread", &uniform, 1, Owned),
        ("query hit, uniform keys, 2 threads", &uniform, 2, Owned),
        (
            "query_into (borrowed), uniform, 1 thread",
            &uniform,
            1,
            Borrowed,
        ),
        ("parse AOR + query, uniform, 1 thread", &uniform, 1, Parse),
        ("query hit, Zipf 0.99 keys, 1 thread", &skewed, 1, Owned),
        ("query hit, Zipf 0.99 keys, 2 threads", &skewed, 2, Owned),
    ];
    let mut rates = vec![Vec::new(); modes.len()];
    for _ in 0..a.rounds {
        for (rate, (_, work, threads, ask)) in rates.iter_mut().zip(&modes) {
            let secs = a.secs / a.rounds as f64;
            rate.push(query_rate(&service, work, *threads, secs, *ask));
        }
    }

    // The same query through the async trait, on one thread.
    let trait_rate = {
        let mut rng = 99;
        let n = 500_000;
        let start = Instant::now();
        for _ in 0..n {
            let aor = &skewed[(next(&mut rng) % skewed.len() as u64) as usize];
            assert_eq!(block_on(service.query(aor)).unwrap().len(), 1);
        }
        n as f64 / start.elapsed().as_secs_f64()
    };

    // On disk: every publish commits durably before it is acknowledged.
    let disk_rate = {
        let dir = tempfile::tempdir().unwrap();
        let disk =
            LocalLocationService::open(dir.path().join("bench.redb"), LocalConfig::default())
                .unwrap();
        let recs: Vec<_> = (0..a.disk_n)
            .map(|i| record(i, 1, now).sign(&identity).unwrap())
            .collect();
        let start = Instant::now();
        for r in &recs {
            disk.publish_sync(r).unwrap();
        }
        a.disk_n as f64 / start.elapsed().as_secs_f64()
    };

    let mut rows = vec![
        ("fill, 2 threads (sign + verify + store), ops/s", fill_rate),
        ("publish, 1 thread (verify + store), ops/s", publish_rate),
    ];
    rows.extend(modes.iter().zip(&rates).map(|(m, r)| (m.0, median(r))));
    rows.extend([
        ("query via async trait, Zipf, 1 thread, ops/s", trait_rate),
        ("publish on disk (durable commit), ops/s", disk_rate),
        ("resident bytes per binding", resident as f64 / a.n as f64),
        (
            "packed record bytes per binding",
            stats.bytes as f64 / a.n as f64,
        ),
    ]);
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    println!("LocalLocationService, {} bindings, {cores} cores", a.n);
    for (label, value) in rows {
        println!("{label:<50} {value:>12.2}");
    }
    println!("\nslowest and fastest of {} slices, ops/s", a.rounds);
    for ((name, ..), rate) in modes.iter().zip(&rates) {
        let lo = rate.iter().copied().fold(f64::MAX, f64::min);
        let hi = rate.iter().copied().fold(0.0, f64::max);
        println!("  {name:<48} {lo:>12.0} {hi:>12.0}");
    }
}
