//! Starts `lsp-node` processes from TOML configs and reads what they print
//! and serve. Shared by the daemon's integration tests.
#![allow(dead_code, clippy::unwrap_used)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::Value;

pub mod netns;

pub const BIN: &str = env!("CARGO_BIN_EXE_lsp-node");

pub struct Daemon {
    pub child: Child,
    pub lines: mpsc::Receiver<String>,
    pub seen: Vec<String>,
    pub node_id: String,
    pub quic: String,
    pub status: SocketAddr,
    pub sip_udp: Option<SocketAddr>,
}

impl Daemon {
    pub fn start(config: &Path) -> Daemon {
        let log = std::fs::File::create(config.with_extension("log")).unwrap();
        let mut child = Command::new(BIN)
            .args(["run", "--config"])
            .arg(config)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let lines = lsp_test_support::stdout_lines(stdout);
        let mut d = Daemon {
            child,
            lines,
            seen: Vec::new(),
            node_id: String::new(),
            quic: String::new(),
            status: "0.0.0.0:0".parse().unwrap(),
            sip_udp: None,
        };
        d.wait_for("ready");
        for line in d.seen.clone() {
            let words: Vec<&str> = line.split_whitespace().collect();
            match words.as_slice() {
                ["lsp-node", id, "quic", addr] => {
                    d.node_id = id.to_string();
                    d.quic = addr.to_string();
                }
                ["status", url] => {
                    d.status = url
                        .trim_start_matches("http://")
                        .trim_end_matches('/')
                        .parse()
                        .unwrap()
                }
                ["sip", "udp", addr] => d.sip_udp = Some(addr.parse().unwrap()),
                _ => {}
            }
        }
        d
    }

    pub fn wait_for(&mut self, wanted: &str) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while !self.seen.iter().any(|l| l == wanted) {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => self.seen.push(line),
                Err(_) => panic!("no {wanted:?} line; saw {:?}", self.seen),
            }
        }
    }

    pub fn bootstrap(&self) -> String {
        format!("{}@{}", self.node_id, self.quic)
    }

    pub fn status(&self) -> Value {
        let (code, body) = http_get(self.status, "/status");
        assert_eq!(code, 200, "{body}");
        serde_json::from_str(&body).unwrap()
    }

    pub fn terminate(&mut self) -> ExitStatus {
        let pid = self.child.id().to_string();
        assert!(
            Command::new("kill")
                .args(["-TERM", &pid])
                .status()
                .unwrap()
                .success()
        );
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                self.seen.extend(self.lines.try_iter());
                return status;
            }
            assert!(Instant::now() < deadline, "no exit after SIGTERM");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One HTTP/1.1 GET; the status code and the body.
pub fn http_get(addr: SocketAddr, path: &str) -> (u16, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    let code = head.split(' ').nth(1).unwrap().parse().unwrap();
    (code, body.to_string())
}

pub fn keygen(path: &Path) -> String {
    let out = Command::new(BIN).arg("keygen").arg(path).output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    let line = text.lines().find(|l| l.starts_with("public-key ")).unwrap();
    line["public-key ".len()..].to_string()
}

pub fn write_config(
    dir: &Path,
    name: &str,
    bootstrap: Option<&str>,
    extra: &str,
    anchor: &str,
) -> PathBuf {
    let bootstrap = bootstrap
        .map(|b| format!("bootstrap = [\"{b}\"]\n"))
        .unwrap_or_default();
    let text = format!(
        "identity_file = \"{name}.key\"\nlisten = \"127.0.0.1:0\"\n{bootstrap}replication = 3\n\n\
         [timers]\nstabilize_ms = 200\nfix_fingers_ms = 200\ncheck_predecessor_ms = 300\nrequest_timeout_ms = 300\n\n\
         [policy]\nmode = \"anchors\"\nunanchored = \"first-come\"\n\
         [[policy.anchors]]\ndomain = \"example.com\"\nkey = \"{anchor}\"\n\n\
         [status]\nlisten = \"127.0.0.1:0\"\n\n{extra}"
    );
    let path = dir.join(format!("{name}.toml"));
    write_private(&path, &text);
    path
}

/// Writes `text` to `path` readable by its owner alone, as a config file
/// holding SIP passwords must be.
pub fn write_private(path: &Path, text: &str) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, text).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).unwrap();
}

pub fn ids(v: &Value, field: &str) -> Vec<String> {
    v[field]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_str().unwrap().to_string())
        .collect()
}

/// Every node's predecessor and whole successor list are its neighbours in
/// Node-ID order (a right first successor alone can sit on a young list).
pub fn settled(nodes: &[&Daemon]) -> bool {
    let mut order: Vec<&str> = nodes.iter().map(|d| d.node_id.as_str()).collect();
    order.sort();
    let n = order.len();
    let listed = lsp_chord::Config::default().successors.min(n - 1);
    nodes.iter().all(|d| {
        let s = d.status();
        let i = order.iter().position(|x| *x == d.node_id).unwrap();
        let want: Vec<&str> = (1..=listed).map(|j| order[(i + j) % n]).collect();
        ids(&s, "successors") == want
            && s["predecessor"]["id"].as_str() == Some(order[(i + n - 1) % n])
    })
}

pub fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Runs the daemon with `config`, which must fail; gives its message.
pub fn refused_to_run(config: &Path) -> String {
    let out = Command::new(BIN)
        .args(["run", "--config"])
        .arg(config)
        .output()
        .unwrap();
    assert!(!out.status.success());
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A test config with a `role` line and an `[admission]` section.
pub fn config_with_role(
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
pub fn start_client(config: &Path) -> Daemon {
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

/// Runs `lsp-node COMMAND --config CONFIG` to its end.
pub fn lsp_node(command: &str, config: &Path) -> std::process::Output {
    Command::new(BIN)
        .args([command, "--config"])
        .arg(config)
        .output()
        .unwrap()
}
