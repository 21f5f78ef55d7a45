//! Runs sipp (Debian package `sip-tester`) on a scenario and fails the test
//! with sipp's logs when the scenario fails.

use std::net::{SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::Command;

/// The path of one of the SIP adapter's sipp scenarios
/// (`lsp-sip-adapter/tests/sipp/NAME`).
pub fn scenario(name: &str) -> PathBuf {
    [
        env!("CARGO_MANIFEST_DIR"),
        "..",
        "..",
        "lsp-sip-adapter",
        "tests",
        "sipp",
        name,
    ]
    .iter()
    .collect()
}

fn free_port() -> u16 {
    let s = UdpSocket::bind("127.0.0.1:0").expect("bind");
    let port = s.local_addr().expect("addr").port();
    drop(s);
    port
}

/// Runs `scenario` as `user` over `transport` ("u1" or "t1") and asserts
/// that sipp reports success.
pub async fn sipp(
    scenario: &Path,
    user: &str,
    password: &str,
    target: SocketAddr,
    transport: &str,
) {
    let path = scenario.to_owned();
    let scenario = path.display().to_string();
    let port = free_port().to_string();
    let target = target.to_string();
    let user = user.to_owned();
    let args = vec![
        target,
        "-sf".into(),
        path.to_string_lossy().into_owned(),
        "-m".into(),
        "1".into(),
        "-s".into(),
        user.clone(),
        "-au".into(),
        user,
        "-ap".into(),
        password.into(),
        // The digest uri must be the Request-URI; sipp's default is its peer.
        "-auth_uri".into(),
        "example.com".into(),
        "-i".into(),
        "127.0.0.1".into(),
        "-p".into(),
        port,
        "-t".into(),
        transport.into(),
        "-timeout".into(),
        "15s".into(),
        "-timeout_error".into(),
        "-nostdin".into(),
        "-trace_err".into(),
        "-trace_msg".into(),
    ];
    run(args, &format!("{scenario} over {transport}")).await;
}

/// Runs one `sipp` command line of the operations guide as it is written
/// there: its `HOST:PORT` becomes `target`, a scenario path is taken from
/// the workspace root, and only this machine's local address and a free
/// port are added. Asserts that sipp reports success.
pub async fn sipp_command_line(line: &str, target: SocketAddr) {
    let root: PathBuf = [env!("CARGO_MANIFEST_DIR"), "..", ".."].iter().collect();
    let mut words = line.split_whitespace();
    assert_eq!(words.next(), Some("sipp"), "{line}");
    words.next().expect("a HOST:PORT");
    let mut args = vec![target.to_string()];
    let mut scenario_next = false;
    for w in words {
        args.push(match scenario_next {
            true => root.join(w).to_string_lossy().into_owned(),
            false => w.to_owned(),
        });
        scenario_next = w == "-sf";
    }
    args.extend(
        ["-i", "127.0.0.1", "-p", &free_port().to_string()]
            .iter()
            .chain(&[
                "-timeout",
                "15s",
                "-timeout_error",
                "-nostdin",
                "-trace_err",
            ])
            .map(|a| a.to_string()),
    );
    run(args, line).await;
}

/// Runs sipp with `args` in a fresh folder; panics with its logs unless it
/// reports success.
async fn run(args: Vec<String>, what: &str) {
    let dir = tempfile_dir();
    let out = tokio::task::spawn_blocking({
        let dir = dir.clone();
        move || {
            Command::new("sipp")
                .args(&args)
                .current_dir(&dir)
                .output()
                .expect("sipp runs (install the Debian package sip-tester)")
        }
    })
    .await
    .expect("join");
    if !out.status.success() {
        let mut logs = String::new();
        for e in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            logs += &format!("--- {}\n", e.path().display());
            logs += &std::fs::read_to_string(e.path()).unwrap_or_default();
        }
        panic!(
            "sipp {what} failed: {:?}\n{}\n{}\n{logs}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

fn tempfile_dir() -> PathBuf {
    let dir =
        std::env::temp_dir().join(format!("lsp-sipp-{}-{}", std::process::id(), rand_suffix()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

fn rand_suffix() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}
