//! A closed ring, made the way `docs/operations.md` tells an operator to:
//! its commands run here as they are written there.
#![allow(clippy::unwrap_used)]

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use support::*;

const GUIDE: &str = include_str!("../../docs/operations.md");

/// The body of the first fenced block of `lang` after `marker` in the
/// operations guide.
fn guide_block(marker: &str, lang: &str) -> String {
    let from = GUIDE.find(marker).expect("the marker is in the guide");
    let fence = format!("```{lang}\n");
    let start = from + GUIDE[from..].find(&fence).expect("a block after it") + fence.len();
    let end = start + GUIDE[start..].find("```").unwrap();
    GUIDE[start..end].to_string()
}

/// Runs the guide's enrollment commands in `dir`, as a shell would, with
/// `lsp-node` on the PATH. `<node-id>` is what the `keygen node.key` line
/// printed, as an operator would paste it. Gives the ring's public key.
fn enroll_as_the_guide_says(dir: &Path) -> String {
    let bin_dir = Path::new(BIN).parent().unwrap();
    let path = format!("{}:{}", bin_dir.display(), std::env::var("PATH").unwrap());
    let (mut node_id, mut ring_key) = (String::new(), String::new());
    for line in guide_block("**A closed ring.**", "sh").lines() {
        let line = line.replace("<node-id>", &node_id);
        let out = Command::new("sh")
            .arg("-c")
            .arg(&line)
            .current_dir(dir)
            .env("PATH", &path)
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{line}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let printed = |name: &str| {
            stdout
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .map(str::to_owned)
        };
        if line.contains("ring.key") && !line.contains("enroll") {
            ring_key = printed("public-key ").unwrap();
        }
        if line.contains("node.key") {
            node_id = printed("node-id ").unwrap();
        }
    }
    ring_key
}

/// A member's config: the test harness's settings, and the guide's
/// `[admission]` block with the ring's key pasted in.
fn member_config(dir: &Path, boot: Option<&str>, ring_key: &str, anchor: &str) -> PathBuf {
    let admission = guide_block("Copy `enrollment.txt` to the node", "toml")
        .replace("<public key of ring.key>", ring_key);
    write_config(dir, "node", boot, &admission, anchor)
}

/// Members enrolled with the guide's commands, pasted as they are, form a
/// ring; a client needs no enrollment and stays out of members' tables.
#[test]
fn the_guides_commands_enroll_members_of_a_closed_ring() {
    let dir = tempfile::tempdir().unwrap();
    let anchor = keygen(&dir.path().join("domain.key"));
    let (a_dir, b_dir) = (dir.path().join("a"), dir.path().join("b"));
    std::fs::create_dir_all(&a_dir).unwrap();
    std::fs::create_dir_all(&b_dir).unwrap();
    let ring = enroll_as_the_guide_says(&a_dir);
    // The operator's one ring key signs every member.
    std::fs::copy(a_dir.join("ring.key"), b_dir.join("ring.key")).unwrap();
    assert_eq!(enroll_as_the_guide_says(&b_dir), ring);

    let a_config = member_config(&a_dir, None, &ring, &anchor);
    let check = lsp_node("check", &a_config);
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stderr)
    );
    let a = Daemon::start(&a_config);
    let b = Daemon::start(&member_config(&b_dir, Some(&a.bootstrap()), &ring, &anchor));
    wait_until("the enrolled members to form a ring", || settled(&[&a, &b]));

    let admission = format!("[admission]\nmode = \"closed\"\nring_key = \"{ring}\"\n");
    let client = config_with_role(
        dir.path(),
        "c",
        Some(&a.bootstrap()),
        "role = \"client\"",
        &admission,
        &anchor,
    );
    let _c = start_client(&client);
    assert!(settled(&[&a, &b]), "the client is in no member's tables");
}

/// An enrollment that every member would refuse stops a member at start-up
/// with the fix, and `check` refuses it first: one signed under another
/// ring key (said by the file, or found by the signature), one for another
/// node, one that has run out. `enroll` refuses to sign one that never
/// holds.
#[test]
fn a_member_with_an_enrollment_the_ring_refuses_does_not_start() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let anchor = keygen(&d.join("domain.key"));
    let ring = keygen(&d.join("ring.key"));
    keygen(&d.join("rogue.key"));
    keygen(&d.join("other.key"));
    let node_id = |key: &str| {
        let out = Command::new(BIN).arg("keygen").arg(d.join(key)).output();
        let text = String::from_utf8(out.unwrap().stdout).unwrap();
        let id = text.lines().find_map(|l| l.strip_prefix("node-id "));
        id.unwrap().to_owned()
    };
    let enroll = |ring_key: &str, node: &str, days: &str| {
        Command::new(BIN)
            .args(["enroll", "--ring-key"])
            .arg(d.join(ring_key))
            .args(["--node", node, "--days", days])
            .output()
            .unwrap()
    };
    let never = enroll("ring.key", &node_id("n.key"), "0");
    let err = String::from_utf8_lossy(&never.stderr);
    assert!(!never.status.success() && err.contains("--days"), "{err}");

    let rogue = String::from_utf8(enroll("rogue.key", &node_id("n.key"), "30").stdout).unwrap();
    let forged = rogue
        .lines()
        .find(|l| l.starts_with("enrollment "))
        .unwrap();
    let other = String::from_utf8(enroll("ring.key", &node_id("other.key"), "30").stdout).unwrap();
    let expired = {
        let text = std::fs::read_to_string(d.join("ring.key")).unwrap();
        let ring_id = lsp_core::Identity::from_secret_hex(text.trim()).unwrap();
        let node = lsp_core::NodeId::from_hex(&node_id("n.key")).unwrap();
        let past = lsp_core::UnixTime(lsp_core::UnixTime::now().0 - 60_000);
        format!(
            "enrollment {}\n",
            lsp_core::Enrollment::issue(&ring_id, node, past).to_hex()
        )
    };
    let cases = [
        (rogue.as_str(), "admission.ring_key is"),
        (forged, "not signed by this ring"),
        (other.as_str(), "for another node"),
        (expired.as_str(), "expired"),
    ];
    let admission = format!(
        "[admission]\nmode = \"closed\"\nring_key = \"{ring}\"\nenrollment_file = \"n.enr\"\n"
    );
    let config = write_config(d, "n", None, &admission, &anchor);
    for (file, want) in cases {
        std::fs::write(d.join("n.enr"), file).unwrap();
        let check = lsp_node("check", &config);
        let checked = String::from_utf8_lossy(&check.stderr);
        assert!(!check.status.success(), "check passed: {want}");
        let err = refused_to_run(&config);
        for err in [&*checked, &*err] {
            assert!(
                err.contains("admission.enrollment_file") && err.contains(want),
                "{err}"
            );
            assert!(err.contains("lsp-node enroll --ring-key"), "{err}");
        }
    }
}
