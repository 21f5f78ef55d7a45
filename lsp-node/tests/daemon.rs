//! Four `lsp-node` processes from TOML configs on loopback: alice registers
//! with sipp at one node's registrar, another node's redirect server answers
//! an INVITE with 302, a node holding her record gets SIGTERM, and the data
//! and the status endpoints show the ring without it.
#![allow(clippy::unwrap_used)]

mod support;

use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use support::*;

/// A scenario of the adapter's sipp tests, over UDP, password "secret".
async fn sipp(name: &str, user: &str, target: SocketAddr) {
    let path = lsp_test_support::scenario(name);
    lsp_test_support::sipp(&path, user, "secret", target, "u1").await;
}

fn records(d: &Daemon) -> u64 {
    d.status()["store"]["records"].as_u64().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn register_redirect_and_survive_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let anchor = keygen(&dir.path().join("domain.key"));
    let registrar_sip = "[sip]\nudp = [\"127.0.0.1:0\"]\ndomains = [\"example.com\"]\n\
        domain_key_file = \"domain.key\"\n# sipp answers MD5 only.\ndigest_algorithms = [\"MD5\"]\n\
        [[sip.users]]\nusername = \"alice\"\npassword = \"secret\"\n";
    let redirect_sip =
        "[sip]\nudp = [\"127.0.0.1:0\"]\ndomains = [\"example.com\"]\nregistrar = false\n";
    let a = Daemon::start(&write_config(dir.path(), "a", None, registrar_sip, &anchor));
    let boot = a.bootstrap();
    let b = Daemon::start(&write_config(
        dir.path(),
        "b",
        Some(&boot),
        redirect_sip,
        &anchor,
    ));
    let mut c = Daemon::start(&write_config(dir.path(), "c", Some(&boot), "", &anchor));
    let mut d = Daemon::start(&write_config(dir.path(), "d", Some(&boot), "", &anchor));

    // Keys were created on first run, readable by the owner only.
    for name in ["a.key", "b.key", "c.key", "d.key", "domain.key"] {
        let mode = std::fs::metadata(dir.path().join(name))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "{name}");
    }
    wait_until("four nodes in one ring", || settled(&[&a, &b, &c, &d]));

    // alice registers at a; b's redirect server sends callers to her.
    sipp("register.xml", "alice", a.sip_udp.unwrap()).await;
    let redirect = b.sip_udp.unwrap();
    sipp("invite-302.xml", "caller", redirect).await;
    sipp("invite-404.xml", "caller", redirect).await;

    // A redirect server that holds no range: a client of the ring, through
    // a and b, with no QUIC listener.
    let e_config = write_config(dir.path(), "e", Some(&boot), redirect_sip, &anchor);
    let text = std::fs::read_to_string(&e_config).unwrap();
    let text = text
        .replacen(
            "listen = \"127.0.0.1:0\"\n",
            "listen = \"0.0.0.0:0\"\nrole = \"client\"\n",
            1,
        )
        .replace(
            &format!("bootstrap = [\"{boot}\"]"),
            &format!("bootstrap = [\"{boot}\", \"{}\"]", b.bootstrap()),
        );
    std::fs::write(&e_config, text).unwrap();
    let e = Daemon::start(&e_config);
    assert!(
        e.seen
            .iter()
            .any(|l| l == "attached to the ring as a client"),
        "{:?}",
        e.seen
    );
    sipp("invite-302.xml", "caller", e.sip_udp.unwrap()).await;
    assert_eq!(e.status()["state"], "Client");
    assert_eq!(records(&e), 0);
    assert_eq!(http_get(e.status, "/health").0, 200);
    for n in [&a, &b, &c, &d] {
        let s = n.status();
        let seen = [ids(&s, "successors"), ids(&s, "fingers")].concat();
        assert!(!seen.contains(&e.node_id), "{seen:?}");
        assert_ne!(s["predecessor"]["id"].as_str(), Some(e.node_id.as_str()));
    }

    // Stop a node that holds alice's record (k = 3 of 4, so c or d does).
    wait_until("alice's record on three nodes", || {
        [&a, &b, &c, &d].iter().map(|n| records(n)).sum::<u64>() >= 3
    });
    let (victim, rest) = if records(&c) > 0 {
        (&mut c, [&a, &b, &d])
    } else {
        (&mut d, [&a, &b, &c])
    };
    let gone = victim.node_id.clone();
    let before = rest[0].status();
    let status = victim.terminate();
    assert!(status.success(), "exit after SIGTERM: {status:?}");
    assert!(
        victim.seen.iter().any(|l| l == "left the ring"),
        "{:?}",
        victim.seen
    );

    // The status endpoints report the smaller ring.
    wait_until("three nodes in one ring", || settled(&rest));
    wait_until("the stopped node gone from every view", || {
        rest.iter().all(|n| {
            let s = n.status();
            !ids(&s, "successors").contains(&gone)
                && !ids(&s, "fingers").contains(&gone)
                && s["predecessor"]["id"].as_str() != Some(gone.as_str())
        })
    });
    assert_ne!(before["successors"], rest[0].status()["successors"]);
    // Every remaining node holds alice again, and b still redirects to her.
    wait_until("alice's record on all three", || {
        rest.iter().all(|n| records(n) >= 1)
    });
    sipp("invite-302.xml", "caller", redirect).await;

    // The other pages. a started the ring, but has had peers since: it is
    // healthy, not alone.
    let (code, health) = http_get(a.status, "/health");
    assert_eq!((code, health.as_str()), (200, "healthy: peers answer\n"));
    assert_eq!(a.status()["health"]["status"], "healthy");
    let (code, metrics) = http_get(a.status, "/metrics");
    assert_eq!(code, 200);
    assert!(metrics.contains("\nlsp_serving 1\n"), "{metrics}");
    assert!(metrics.contains("\nlsp_ring_isolated 0\n"), "{metrics}");
    assert!(
        metrics.contains("# TYPE lsp_estimated_size gauge"),
        "{metrics}"
    );
    assert!(metrics.contains("lsp_store_records "), "{metrics}");
    let (code, page) = http_get(a.status, "/");
    assert_eq!(code, 200);
    assert!(page.contains("<svg") && page.contains(&a.node_id), "{page}");
}

fn check(dir: &Path, text: &str) -> (bool, String) {
    let path = dir.join("bad.toml");
    write_private(&path, text);
    let out = Command::new(BIN)
        .args(["check", "--config"])
        .arg(&path)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn config_errors_name_the_field() {
    let dir = tempfile::tempdir().unwrap();
    let base = "identity_file = \"n.key\"\nlisten = \"127.0.0.1:0\"\n";
    let cases = [
        (
            "bootstrap = [\"nope\"]\n[policy]\nmode = \"open\"\n",
            "bootstrap[0]",
        ),
        ("[policy]\nmode = \"firstcome\"\n", "mode"),
        (
            "role = \"client\"\n[policy]\nmode = \"open\"\n",
            "bootstrap",
        ),
        (
            "replication = 0\n[policy]\nmode = \"open\"\n",
            "replication",
        ),
        (
            "[policy]\nmode = \"open\"\n[status]\nlisten = \"0.0.0.0:80\"\n",
            "status.listen",
        ),
        (
            "[policy]\nmode = \"anchors\"\n[[policy.anchors]]\ndomain = \"example.com\"\nkey = \"12\"\n",
            "policy.anchors[0].key",
        ),
        (
            "[policy]\nmode = \"open\"\n[sip]\nudp = [\"127.0.0.1:0\"]\ndomains = [\"example.com\"]\n\
             domain_key_file = \"d.key\"\n",
            "sip.users",
        ),
        (
            "[policy]\nmode = \"open\"\n[timers]\nstabilize_ms = 0\n",
            "timers.stabilize_ms",
        ),
        (
            "[policy]\nmode = \"open\"\nlisten_port = 3\n",
            "listen_port",
        ),
        (
            "[policy]\nmode = \"open\"\n[admission]\nmode = \"closed\"\n",
            "admission.ring_key",
        ),
        (
            "[policy]\nmode = \"open\"\n[admission]\nmode = \"closed\"\nring_key = \"{}\"\n",
            "admission.enrollment_file",
        ),
    ];
    for (extra, field) in cases {
        let extra = extra.replace("{}", &"ab".repeat(32));
        let (ok, err) = check(dir.path(), &format!("{base}{extra}"));
        assert!(!ok, "{extra} was accepted");
        assert!(err.contains(field), "{extra}: {err}");
    }
    let (ok, err) = check(dir.path(), &format!("{base}[policy]\nmode = \"open\"\n"));
    assert!(ok, "{err}");
}

/// The example holds a SIP password: copied private it is valid; readable
/// by others it is refused, naming the fix.
#[test]
fn the_example_config_is_valid_once_private() {
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/node.example.toml");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("node.toml");
    let text = std::fs::read_to_string(example).unwrap();
    let check = |path: &Path| {
        Command::new(BIN)
            .args(["check", "--config"])
            .arg(path)
            .output()
            .unwrap()
    };
    write_private(&path, &text);
    let out = check(&path);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::write(&path, &text).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = check(&path);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("chmod 600"), "{err}");
}

#[test]
fn a_key_others_can_read_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("n.key");
    keygen(&key);
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let config = dir.path().join("n.toml");
    std::fs::write(
        &config,
        "identity_file = \"n.key\"\nlisten = \"127.0.0.1:0\"\n[policy]\nmode = \"open\"\n",
    )
    .unwrap();
    let err = refused_to_run(&config);
    assert!(
        err.contains("identity_file") && err.contains("chmod 600"),
        "{err}"
    );
}

/// An open ring: the first member mints a key with proof of work on its
/// first run; a node whose key lacks it refuses to start as a member and
/// says how to fix it, and runs fine as a client.
#[test]
fn an_open_ring_wants_work_from_members_and_none_from_clients() {
    let dir = tempfile::tempdir().unwrap();
    let anchor = keygen(&dir.path().join("domain.key"));
    let open = "[admission]\nmode = \"open\"\nwork_bits = 8\n";
    let with_admission = |name: &str, boot: Option<&str>, role: &str| {
        config_with_role(dir.path(), name, boot, role, open, &anchor)
    };
    let a = Daemon::start(&with_admission("a", None, ""));
    assert!(
        a.seen
            .iter()
            .any(|l| l.starts_with("minting a Node-ID with 8 bits")),
        "{:?}",
        a.seen
    );

    // A key without the work (one key in 256 has 8 bits by chance).
    let key = dir.path().join("b.key");
    let out = Command::new(BIN).arg("keygen").arg(&key).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("work-bits "), "{text}");
    let bits: u32 = text
        .lines()
        .find_map(|l| l.strip_prefix("work-bits "))
        .and_then(|b| b.parse().ok())
        .unwrap();
    if bits >= 8 {
        return; // This run drew a key with the work: nothing to refuse.
    }
    let member = with_admission("b", Some(&a.bootstrap()), "");
    let err = refused_to_run(&member);
    assert!(
        err.contains("identity_file") && err.contains("keygen --work 8"),
        "{err}"
    );

    let client = with_admission("b", Some(&a.bootstrap()), "role = \"client\"");
    start_client(&client);
}

/// Runs the daemon with `config`, which must fail; gives its message.
fn refused_to_run(config: &Path) -> String {
    let out = Command::new(BIN)
        .args(["run", "--config"])
        .arg(config)
        .output()
        .unwrap();
    assert!(!out.status.success());
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A test config with a `role` line and an `[admission]` section.
fn config_with_role(
    dir: &Path,
    name: &str,
    boot: Option<&str>,
    role: &str,
    admission: &str,
    anchor: &str,
) -> PathBuf {
    let path = write_config(dir, name, boot, admission, anchor);
    let text = std::fs::read_to_string(&path).unwrap();
    let text = text.replacen(
        "replication = 3\n",
        &format!("replication = 3\n{role}\n"),
        1,
    );
    std::fs::write(&path, text).unwrap();
    path
}

/// Starts a daemon with `role = "client"` and checks that it attached.
fn start_client(config: &Path) -> Daemon {
    let c = Daemon::start(config);
    assert!(
        c.seen
            .iter()
            .any(|l| l == "attached to the ring as a client"),
        "{:?}",
        c.seen
    );
    assert_eq!(c.status()["state"], "Client");
    c
}

/// `lsp-node enroll` output for `node` under the ring key at `ring`,
/// written where a node's `enrollment_file` points.
fn enroll(ring: &Path, node_key: &Path, days: &str, into: &Path) {
    let out = Command::new(BIN)
        .arg("keygen")
        .arg(node_key)
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    let id = text
        .lines()
        .find_map(|l| l.strip_prefix("node-id "))
        .unwrap();
    let out = Command::new(BIN)
        .args(["enroll", "--ring-key"])
        .arg(ring)
        .args(["--node", id, "--days", days])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let line = text.lines().find(|l| l.starts_with("enrollment ")).unwrap();
    std::fs::write(into, line).unwrap();
}

/// A closed ring: members enrolled with `lsp-node enroll` form the ring; a
/// node enrolled by another key, or whose enrollment has run out, refuses
/// to start as a member and names the fix; a client needs no enrollment.
#[test]
fn a_closed_ring_takes_enrolled_members_and_clients() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let anchor = keygen(&d.join("domain.key"));
    let ring = keygen(&d.join("ring.key"));
    let rogue = d.join("rogue.key");
    keygen(&rogue);
    let with_admission = |name: &str, boot: Option<&str>, role: &str, enrollment: &str| {
        let admission =
            format!("[admission]\nmode = \"closed\"\nring_key = \"{ring}\"\n{enrollment}");
        config_with_role(d, name, boot, role, &admission, &anchor)
    };
    for name in ["a", "b"] {
        enroll(
            &d.join("ring.key"),
            &d.join(format!("{name}.key")),
            "30",
            &d.join(format!("{name}.enr")),
        );
    }
    let a = Daemon::start(&with_admission(
        "a",
        None,
        "",
        "enrollment_file = \"a.enr\"\n",
    ));
    let b = Daemon::start(&with_admission(
        "b",
        Some(&a.bootstrap()),
        "",
        "enrollment_file = \"b.enr\"\n",
    ));
    wait_until("the enrolled members to form a ring", || settled(&[&a, &b]));

    let refused = |name: &str, ring_key: &Path, days: &str, want: &str| {
        let enr = d.join(format!("{name}.enr"));
        enroll(ring_key, &d.join(format!("{name}.key")), days, &enr);
        let config = with_admission(
            name,
            Some(&a.bootstrap()),
            "",
            &format!("enrollment_file = \"{name}.enr\"\n"),
        );
        let err = refused_to_run(&config);
        assert!(
            err.contains("admission.enrollment_file") && err.contains(want),
            "{err}"
        );
        assert!(err.contains("lsp-node enroll --ring-key"), "{err}");
    };
    refused("c", &rogue, "30", "not signed by this ring");
    refused("e", &d.join("ring.key"), "0", "expired");

    let client = with_admission("c", Some(&a.bootstrap()), "role = \"client\"", "");
    let _c = start_client(&client);
    assert!(settled(&[&a, &b]), "the client is in no member's tables");
}
