//! `lsp-node check` refuses every configuration that `lsp-node run` refuses
//! at start-up, with the same field named: both are fed the same bad
//! enrollment, keys, addresses and limits.
#![allow(clippy::unwrap_used)]

mod support;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use support::*;

/// A bad input: what to put in a fresh folder, and the field both
/// commands must name.
struct Case {
    what: &'static str,
    config: String,
    prepare: fn(&Path),
    field: &'static str,
}

fn mode(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

#[test]
fn check_refuses_what_run_refuses() {
    let closed = format!(
        "[admission]\nmode = \"closed\"\nring_key = \"{}\"\nenrollment_file = \"n.enr\"\n",
        "ab".repeat(32)
    );
    let anchored_sip = |key: &str| {
        format!(
            "[policy]\nmode = \"anchors\"\n[[policy.anchors]]\ndomain = \"example.com\"\n\
             key = \"{}\"\n[sip]\nudp = [\"127.0.0.1:0\"]\ndomains = [\"example.com\"]\n\
             domain_key_file = \"{key}\"\nallow_unauthenticated = true\n",
            "cd".repeat(32)
        )
    };
    let open = "[policy]\nmode = \"open\"\n";
    let cases = [
        Case {
            what: "an enrollment file that holds no enrollment",
            config: format!("{open}{closed}"),
            prepare: |d| {
                keygen(&d.join("n.key"));
                std::fs::write(d.join("n.enr"), "created ring key ring.key\n").unwrap();
            },
            field: "admission.enrollment_file",
        },
        Case {
            what: "a closed-ring member with no key yet",
            config: format!("{open}{closed}"),
            prepare: |d| std::fs::write(d.join("n.enr"), "").unwrap(),
            field: "identity_file",
        },
        Case {
            what: "a key file others can read",
            config: open.to_owned(),
            prepare: |d| {
                keygen(&d.join("n.key"));
                mode(&d.join("n.key"), 0o644);
            },
            field: "identity_file",
        },
        Case {
            what: "a key file that holds no key",
            config: open.to_owned(),
            prepare: |d| {
                std::fs::write(d.join("n.key"), "not a key\n").unwrap();
                mode(&d.join("n.key"), 0o600);
            },
            field: "identity_file",
        },
        Case {
            what: "a member's key without the open ring's work",
            config: format!("{open}[admission]\nmode = \"open\"\nwork_bits = 32\n"),
            prepare: |d| {
                keygen(&d.join("n.key"));
            },
            field: "identity_file",
        },
        Case {
            what: "a bootstrap address with a port past 65535",
            config: format!(
                "bootstrap = [\"{}@127.0.0.1:65536\"]\n{open}",
                "ab".repeat(32)
            ),
            prepare: |_| {},
            field: "bootstrap[0]",
        },
        Case {
            what: "a store limit of 0",
            config: format!("{open}[storage]\nmax_records = 0\n"),
            prepare: |_| {},
            field: "storage.max_records",
        },
        Case {
            what: "a domain key the anchors do not name",
            config: anchored_sip("d.key"),
            prepare: |d| {
                keygen(&d.join("d.key"));
            },
            field: "sip.domain_key_file",
        },
        Case {
            what: "a domain key that would be created, so not anchored",
            config: anchored_sip("missing.key"),
            prepare: |_| {},
            field: "sip.domain_key_file",
        },
        Case {
            what: "a local store others can read",
            config: format!(
                "{open}[sip]\nudp = [\"127.0.0.1:0\"]\nregistrar = false\nstore = \"local\"\n\
                 local_db = \"reg.db\"\n"
            ),
            prepare: |d| {
                std::fs::write(d.join("reg.db"), "").unwrap();
                mode(&d.join("reg.db"), 0o644);
            },
            field: "sip.local_db",
        },
    ];
    for case in cases {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("n.toml");
        let text = format!(
            "identity_file = \"n.key\"\nlisten = \"127.0.0.1:0\"\n{}",
            case.config
        );
        write_private(&config, &text);
        (case.prepare)(dir.path());
        for command in ["check", "run"] {
            let out = lsp_node(command, &config);
            let err = String::from_utf8_lossy(&out.stderr);
            assert!(!out.status.success(), "{command} took {}", case.what);
            assert!(err.contains(case.field), "{command}, {}: {err}", case.what);
        }
    }
}

/// `check` reads; it creates no key file and no local store.
#[test]
fn check_creates_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("n.toml");
    write_private(
        &config,
        "identity_file = \"n.key\"\nlisten = \"127.0.0.1:0\"\n[policy]\nmode = \"open\"\n\
         [sip]\nudp = [\"127.0.0.1:0\"]\nregistrar = false\nstore = \"local\"\nlocal_db = \"reg.db\"\n",
    );
    let out = lsp_node("check", &config);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!dir.path().join("n.key").exists());
    assert!(!dir.path().join("reg.db").exists());
}
