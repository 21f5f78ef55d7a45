//! Five `lsp-node` hosts, each in its own network namespace with its own
//! address, configured as `docs/operations.md` says (QUIC on `0.0.0.0`,
//! bootstrap by `<node-id>@<address>`). Users register through sipp at
//! one host and are resolved at others while the network fails: a host's
//! link is cut (a crash with no goodbye) and mended, the hosts are split in
//! two and healed, and the registrar's host is cut off, where it must turn
//! unhealthy and refuse REGISTER within 30 s, and then recover. Needs root
//! for `ip netns`; skipped with a message otherwise.
#![allow(clippy::unwrap_used)]

mod support;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use lsp_core::Aor;
use lsp_sip_adapter::client::{Registration, RegistrationConfig};
use serde_json::Value;
use support::netns::Lab;
use support::{Daemon, http_get, ids};

const HOSTS: usize = 5;
/// The host whose registrar the users register with (`store = "ring"`).
const REGISTRAR: usize = 1;
/// A hybrid registrar: its local half keeps serving when it is cut off.
const HYBRID: usize = 5;

struct Host {
    n: usize,
    daemon: Daemon,
}

fn config(dir: &Path, n: usize, bootstrap: Option<&str>) -> PathBuf {
    let bootstrap = bootstrap
        .map(|b| format!("bootstrap = [\"{b}\"]\n"))
        .unwrap_or_default();
    let store = if n == HYBRID { "hybrid" } else { "ring" };
    // Short ring timers keep the test quick; isolation keeps its default
    // (15 s), which is what must be under 30 s.
    let text = format!(
        "identity_file = \"h{n}.key\"\nlisten = \"0.0.0.0:7400\"\n{bootstrap}replication = 3\n\n\
         [timers]\nstabilize_ms = 300\nfix_fingers_ms = 300\ncheck_predecessor_ms = 500\n\
         request_timeout_ms = 300\nrepair_ms = 2000\n\n\
         [policy]\nmode = \"first-come\"\n\n\
         [status]\nlisten = \"127.0.0.1:8080\"\n\n\
         [sip]\nudp = [\"0.0.0.0:5060\"]\ndomains = [\"example.com\"]\n\
         domain_key_file = \"domain.key\"\nstore = \"{store}\"\nallow_unauthenticated = true\n\
         min_expires = 2\n"
    );
    let path = dir.join(format!("h{n}.toml"));
    std::fs::write(&path, text).unwrap();
    path
}

fn get(lab: &Lab, host: &Host, path: &str) -> (u16, String) {
    let at = host.daemon.status;
    lab.run(host.n, move || http_get(at, path))
}

fn status(lab: &Lab, host: &Host) -> Value {
    let (code, body) = get(lab, host, "/status");
    assert_eq!(code, 200, "{body}");
    serde_json::from_str(&body).unwrap()
}

/// Every host in `ring` has its neighbours in Node-ID order among `ring`
/// as successor and predecessor.
fn one_ring(lab: &Lab, ring: &[&Host]) -> bool {
    let mut order: Vec<&str> = ring.iter().map(|h| h.daemon.node_id.as_str()).collect();
    order.sort();
    let n = order.len();
    ring.iter().all(|h| {
        let s = status(lab, h);
        let i = order.iter().position(|x| *x == h.daemon.node_id).unwrap();
        ids(&s, "successors").first().map(String::as_str) == Some(order[(i + 1) % n])
            && s["predecessor"]["id"].as_str() == Some(order[(i + n - 1) % n])
    })
}

/// Waits up to `limit` for `done`; the time it took.
fn wait(what: &str, limit: Duration, mut done: impl FnMut() -> bool) -> Duration {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < limit, "no {what} within {limit:?}");
        std::thread::sleep(Duration::from_millis(250));
    }
    start.elapsed()
}

/// Runs sipp inside host `n` against its own SIP port, once per user.
fn sipp(lab: &Lab, n: usize, scenario: &str, users: &[String]) -> Result<(), String> {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("users.csv");
    std::fs::write(&csv, format!("SEQUENTIAL\n{}\n", users.join("\n"))).unwrap();
    let sf: PathBuf = [env!("CARGO_MANIFEST_DIR"), "tests", "sipp", scenario]
        .iter()
        .collect();
    let count = users.len().to_string();
    let out = lab.run(n, || {
        Command::new("sipp")
            .arg("127.0.0.1:5060")
            .arg("-sf")
            .arg(&sf)
            .arg("-inf")
            .arg(&csv)
            .args(["-m", &count, "-r", "50", "-i", "127.0.0.1", "-p", "5999"])
            .args(["-t", "u1", "-timeout", "30s", "-timeout_error", "-nostdin"])
            .arg("-trace_err")
            .current_dir(dir.path())
            .output()
            .expect("sipp runs (install the Debian package sip-tester)")
    });
    if out.status.success() {
        return Ok(());
    }
    let mut logs = String::new();
    for e in std::fs::read_dir(dir.path())
        .into_iter()
        .flatten()
        .flatten()
    {
        logs += &format!("--- {}\n", e.path().display());
        logs += &std::fs::read_to_string(e.path()).unwrap_or_default();
    }
    Err(format!(
        "sipp {scenario} at host {n}: {:?}\n{}\n{logs}",
        out.status,
        String::from_utf8_lossy(&out.stdout)
    ))
}

fn resolve_all(lab: &Lab, n: usize, users: &[String], when: &str) {
    if let Err(e) = sipp(lab, n, "invite-user.xml", users) {
        panic!("{when}: not every user resolves at host {n}: {e}");
    }
}

/// A phone on host 3 that keeps `sip:roamer@example.com` registered with
/// the first of two registrars that serves it, through the library's
/// registration client, until `stop`; it reports where it is registered.
struct Roamer {
    at: Arc<Mutex<(Option<SocketAddr>, u64)>>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Roamer {
    fn start(lab: &Lab, registrars: Vec<SocketAddr>) -> Roamer {
        let at = Arc::new(Mutex::new((None, 0)));
        let stop = Arc::new(AtomicBool::new(false));
        let (seen, stopping) = (at.clone(), stop.clone());
        let thread = lab.spawn(ROAMER_HOST, move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let aor = Aor::parse("sip:roamer@example.com").unwrap();
                let config = RegistrationConfig::new(aor, "sip:roamer@192.0.2.10:5070", registrars)
                    .expires(ROAMER_LIFETIME)
                    .attempt_timeout(Duration::from_secs(1));
                let reg = Registration::start(config).await.unwrap();
                while !stopping.load(Ordering::Relaxed) {
                    *seen.lock().unwrap() = (reg.registrar(), reg.failovers());
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                reg.stop().await.unwrap();
            });
        });
        Roamer {
            at,
            stop,
            thread: Some(thread),
        }
    }

    fn registrar(&self) -> (Option<SocketAddr>, u64) {
        *self.at.lock().unwrap()
    }
}

impl Drop for Roamer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

const ROAMER_HOST: usize = 3;
const ROAMER_LIFETIME: Duration = Duration::from_secs(4);

fn users(prefix: &str, count: usize) -> Vec<String> {
    (0..count).map(|i| format!("{prefix}{i:02}")).collect()
}

#[test]
fn five_hosts_survive_a_crash_a_partition_and_an_isolated_registrar() {
    // The roamer's client says why it leaves a registrar.
    let _ = tracing_subscriber::fmt()
        .with_env_filter("lsp_sip_adapter=warn")
        .with_test_writer()
        .try_init();
    let lab = match Lab::create(HOSTS) {
        Ok(lab) => lab,
        Err(e) => {
            eprintln!("skipping the multi-host test: cannot create network namespaces: {e}");
            return;
        }
    };
    let dir = tempfile::tempdir().unwrap();
    let first = lab.run(1, || Daemon::start(&config(dir.path(), 1, None)));
    let boot = format!("{}@{}:7400", first.node_id, Lab::addr(1));
    let mut hosts = vec![Host {
        n: 1,
        daemon: first,
    }];
    for n in 2..=HOSTS {
        let daemon = lab.run(n, || Daemon::start(&config(dir.path(), n, Some(&boot))));
        hosts.push(Host { n, daemon });
    }
    let all: Vec<&Host> = hosts.iter().collect();
    let host = |n: usize| &hosts[n - 1];
    let except =
        |out: &[usize]| -> Vec<&Host> { hosts.iter().filter(|h| !out.contains(&h.n)).collect() };
    wait("ring of five", Duration::from_secs(30), || {
        one_ring(&lab, &all)
    });

    // Users register at one host and are found at another.
    let base = users("u", 20);
    sipp(&lab, REGISTRAR, "register-user.xml", &base).unwrap();
    resolve_all(&lab, 3, &base, "after registering");

    // A crash with no goodbye: host 2's link is cut. The other four heal
    // around it and lose no user; mended, it merges back by itself.
    lab.cut(2);
    let took = wait("ring of four", Duration::from_secs(30), || {
        one_ring(&lab, &except(&[2]))
    });
    eprintln!("ring of four {took:?} after host 2's cut");
    resolve_all(&lab, 4, &base, "with host 2 cut off");
    lab.mend(2);
    let took = wait("ring of five again", Duration::from_secs(60), || {
        one_ring(&lab, &all)
    });
    eprintln!("ring of five {took:?} after host 2's link came back");

    // A partition: {1, 2, 3} and {4, 5} each settle as a ring, then heal
    // into one, and every user resolves on both sides.
    lab.split(&[4, 5]);
    wait("two rings", Duration::from_secs(30), || {
        one_ring(&lab, &except(&[4, 5])) && one_ring(&lab, &except(&[1, 2, 3]))
    });
    // Each side keeps taking registrations.
    let split_users = users("split", 10);
    sipp(&lab, 4, "register-user.xml", &split_users).expect("REGISTER on the smaller side");
    lab.heal();
    let took = wait(
        "one ring after the partition",
        Duration::from_secs(90),
        || one_ring(&lab, &all),
    );
    eprintln!("one ring {took:?} after the partition healed");
    let mut before_isolation = base.clone();
    before_isolation.extend(split_users);
    resolve_all(&lab, 5, &before_isolation, "after the partition");
    resolve_all(&lab, 2, &before_isolation, "after the partition");

    // A phone on host 3 registers with host 1's registrar, host 2's as its
    // second choice.
    let sip_at = |n: usize| SocketAddr::from((Lab::addr(n), 5060));
    let roamer = Roamer::start(&lab, vec![sip_at(REGISTRAR), sip_at(2)]);
    wait("the roamer registered", Duration::from_secs(10), || {
        roamer.registrar().0 == Some(sip_at(REGISTRAR))
    });
    let roamer_aor = vec!["roamer".to_string()];
    resolve_all(&lab, 4, &roamer_aor, "the roamer at its first registrar");

    // The registrar's host (store = "ring") and the hybrid host are cut
    // off. Until the registrar notices, its REGISTERs may still get 200:
    // those writes must not be lost.
    lab.cut(REGISTRAR);
    lab.cut(HYBRID);
    let cut = Instant::now();
    let stop = AtomicBool::new(false);
    let late = users("late", 40);
    let (taken, unhealthy_after) = std::thread::scope(|s| {
        let registering = s.spawn(|| {
            let mut taken = Vec::new();
            for user in &late {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                if sipp(
                    &lab,
                    REGISTRAR,
                    "register-user.xml",
                    std::slice::from_ref(user),
                )
                .is_ok()
                {
                    taken.push(user.clone());
                }
                std::thread::sleep(Duration::from_millis(500));
            }
            taken
        });
        let after = wait("the registrar unhealthy", Duration::from_secs(30), || {
            get(&lab, host(REGISTRAR), "/health").0 == 503
        });
        stop.store(true, Ordering::Relaxed);
        (registering.join().unwrap(), after)
    });
    eprintln!(
        "registrar unhealthy {unhealthy_after:?} after its cut; {} REGISTER(s) taken before",
        taken.len()
    );
    let (code, body) = get(&lab, host(REGISTRAR), "/health");
    assert!(
        code == 503 && body.starts_with("isolated: "),
        "{code} {body}"
    );
    assert_eq!(
        status(&lab, host(REGISTRAR))["health"]["status"],
        "isolated"
    );
    sipp(
        &lab,
        REGISTRAR,
        "register-refused.xml",
        &users("refused", 1),
    )
    .expect("REGISTER at the isolated registrar gets 503 with Retry-After: 30");
    let refused_after = cut.elapsed();
    eprintln!("REGISTER refused {refused_after:?} after the cut");
    assert!(
        refused_after <= Duration::from_secs(30),
        "{refused_after:?}"
    );
    let (_, metrics) = get(&lab, host(REGISTRAR), "/metrics");
    assert!(metrics.contains("\nlsp_ring_isolated 1\n"), "{metrics}");
    assert!(metrics.contains("\nlsp_serving 0\n"), "{metrics}");

    // The roamer's refresh gets that 503 too: it moves to host 2 and
    // registers there, so it is still found once the binding it made
    // through host 1 has lapsed.
    let took = wait("the roamer at host 2", Duration::from_secs(15), || {
        roamer.registrar() == (Some(sip_at(2)), 1)
    });
    eprintln!("roamer moved {took:?} after the registrar turned unhealthy");
    std::thread::sleep(ROAMER_LIFETIME + Duration::from_secs(1));
    resolve_all(&lab, 4, &roamer_aor, "the roamer after failing over");

    // The hybrid host keeps registering from its local store, degraded.
    wait("the hybrid host isolated", Duration::from_secs(30), || {
        status(&lab, host(HYBRID))["health"]["ring"] == "isolated"
    });
    let (code, body) = get(&lab, host(HYBRID), "/health");
    assert!(
        code == 200 && body.starts_with("degraded: "),
        "{code} {body}"
    );
    let local = users("local", 1);
    sipp(&lab, HYBRID, "register-user.xml", &local).expect("hybrid REGISTER gets 200");
    resolve_all(&lab, HYBRID, &local, "at the isolated hybrid host");

    // The three hosts left have every user.
    wait("ring of three", Duration::from_secs(30), || {
        one_ring(&lab, &except(&[REGISTRAR, HYBRID]))
    });
    resolve_all(&lab, 3, &before_isolation, "with the registrar cut off");

    // The links come back: both hosts turn healthy and merge, the writes
    // taken before the cut was noticed are found, and REGISTER works again.
    lab.mend(REGISTRAR);
    lab.mend(HYBRID);
    let took = wait("the registrar healthy", Duration::from_secs(60), || {
        get(&lab, host(REGISTRAR), "/health") == (200, "healthy: peers answer\n".into())
    });
    eprintln!("registrar healthy {took:?} after its link came back");
    wait("one ring after isolation", Duration::from_secs(90), || {
        one_ring(&lab, &all)
    });
    // The roamer stays where it works: its refreshes at host 2 are
    // answered within its 1 s attempt while the ring re-forms, so it made
    // its one move and no other.
    std::thread::sleep(ROAMER_LIFETIME);
    assert_eq!(roamer.registrar(), (Some(sip_at(2)), 1));
    assert_eq!(status(&lab, host(HYBRID))["health"]["status"], "healthy");
    // What the hybrid host took alone reaches the ring: found on host 2.
    wait(
        "the hybrid host's registration on the ring",
        Duration::from_secs(20),
        || sipp(&lab, 2, "invite-user.xml", &local).is_ok(),
    );
    let mut everyone = before_isolation.clone();
    everyone.extend(taken);
    resolve_all(&lab, 2, &everyone, "after the registrar's link came back");
    sipp(&lab, REGISTRAR, "register-user.xml", &users("again", 1)).expect("REGISTER works again");
    resolve_all(&lab, 4, &users("again", 1), "after recovery");
    resolve_all(&lab, 5, &roamer_aor, "the roamer after recovery");
}
