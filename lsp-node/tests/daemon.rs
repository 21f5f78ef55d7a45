//! Four `lsp-node` processes from TOML configs on loopback: alice registers
//! with sipp at one node's registrar, another node's redirect server answers
//! an INVITE with 302, a node holding her record gets SIGTERM, and the data
//! and the status endpoints show the ring without it.
#![allow(clippy::unwrap_used)]

mod support;

use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
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
    let out = lsp_node("check", &path);
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

/// The example holds a SIP password: copied private, with its domain key
/// made and anchored as its comments say, it is valid; readable by others
/// it is refused, naming the fix. As it stands its anchor is a placeholder
/// that no key file matches, and `check` says so.
#[test]
fn the_example_config_is_valid_once_private() {
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/node.example.toml");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("node.toml");
    let text = std::fs::read_to_string(example).unwrap();
    let placeholder = "4728c9b06eb32cc7a90dae268b18061d6f08d4303ceac81423c959ce6b25f280";
    assert!(text.contains(placeholder));
    write_private(&path, &text);
    let out = lsp_node("check", &path);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("policy.anchors"),
        "{err}"
    );
    let anchor = keygen(&dir.path().join("example.com.key"));
    let text = text.replace(placeholder, &anchor);
    write_private(&path, &text);
    let out = lsp_node("check", &path);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::write(&path, &text).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = lsp_node("check", &path);
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
    let open = "[admission]\nmode = \"work\"\nwork_bits = 8\n";
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
