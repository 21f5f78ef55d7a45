//! A ring of three `lsp-node` processes on loopback, each with a SIP front
//! (UDP and TCP, `store = "ring"`) and a status listener, started from
//! configs written to a temporary directory and killed on drop.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use lsp_core::PeerAddr;

/// One running `lsp-node` and what it printed about itself.
#[derive(Debug)]
pub struct Node {
    child: Child,
    /// Its Node-ID and QUIC address.
    pub peer: PeerAddr,
    /// Its status listener.
    pub status: SocketAddr,
    /// Its SIP UDP and TCP listeners.
    pub sip_udp: SocketAddr,
    pub sip_tcp: SocketAddr,
}

impl Node {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Whether the process still runs.
    pub fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Three members, node 0 first; the directory holding their configs,
/// keys and logs is removed on drop.
#[derive(Debug)]
pub struct Ring {
    pub nodes: Vec<Node>,
    dir: PathBuf,
}

impl Drop for Ring {
    fn drop(&mut self) {
        self.nodes.clear();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Ring {
    /// Starts three members of one ring and waits until each knows the
    /// other two as its successors.
    pub fn start(binary: &Path) -> Result<Ring, String> {
        let dir = std::env::temp_dir().join(format!("hostile-load-{}", std::process::id()));
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let mut ring = Ring {
            nodes: Vec::new(),
            dir,
        };
        let anchor = keygen(binary, &ring.dir.join("domain.key"))?;
        for i in 0..3 {
            let bootstrap = ring
                .nodes
                .first()
                .map(|n: &Node| format!("bootstrap = [\"{}\"]\n", n.peer))
                .unwrap_or_default();
            let config = ring.dir.join(format!("{i}.toml"));
            write_private(&config, &config_text(i, &bootstrap, &anchor))?;
            ring.nodes.push(start_node(binary, &config)?);
        }
        let deadline = Instant::now() + Duration::from_secs(60);
        while !ring.settled() {
            if Instant::now() > deadline {
                return Err("the three nodes did not settle into one ring in 60 s".into());
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        Ok(ring)
    }

    /// Every node lists the two others as successors and has a predecessor.
    fn settled(&self) -> bool {
        self.nodes.iter().all(|n| {
            let Some(status) = http_get(n.status, "/status") else {
                return false;
            };
            let Ok(v) = serde_json::from_str::<serde_json::Value>(&status) else {
                return false;
            };
            v["successors"].as_array().is_some_and(|s| s.len() == 2)
                && v["predecessor"]["id"].is_string()
        })
    }

    pub fn pids(&self) -> Vec<u32> {
        self.nodes.iter().map(Node::pid).collect()
    }
}

/// A process's resident set in bytes, or 0 once it is gone.
pub fn rss(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        })
        .map_or(0, |kb| kb * 1024)
}

fn config_text(i: usize, bootstrap: &str, anchor: &str) -> String {
    format!(
        "identity_file = \"{i}.key\"\nlisten = \"127.0.0.1:0\"\n{bootstrap}replication = 3\n\n\
         [timers]\nstabilize_ms = 500\nfix_fingers_ms = 500\n\n\
         [policy]\nmode = \"anchors\"\nunanchored = \"first-come\"\n\
         [[policy.anchors]]\ndomain = \"example.com\"\nkey = \"{anchor}\"\n\n\
         [status]\nlisten = \"127.0.0.1:0\"\n\n\
         [sip]\nudp = [\"127.0.0.1:0\"]\ntcp = [\"127.0.0.1:0\"]\ndomains = [\"example.com\"]\n\
         domain_key_file = \"domain.key\"\nstore = \"ring\"\nallow_unauthenticated = true\n"
    )
}

fn write_private(path: &Path, text: &str) -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, text)
        .and_then(|()| std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)))
        .map_err(|e| format!("{}: {e}", path.display()))
}

/// Makes a key file and returns its public key.
fn keygen(binary: &Path, path: &Path) -> Result<String, String> {
    let out = Command::new(binary)
        .arg("keygen")
        .arg(path)
        .output()
        .map_err(|e| format!("{}: {e}", binary.display()))?;
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("public-key "))
        .map(str::to_owned)
        .ok_or_else(|| format!("keygen printed no public key: {out:?}"))
}

/// Starts one node and reads its announcements up to `ready`.
fn start_node(binary: &Path, config: &Path) -> Result<Node, String> {
    let log = std::fs::File::create(config.with_extension("log")).map_err(|e| e.to_string())?;
    let mut child = Command::new(binary)
        .args(["run", "--config"])
        .arg(config)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(log)
        .spawn()
        .map_err(|e| format!("{}: {e}", binary.display()))?;
    let stdout = child.stdout.take().ok_or("no stdout")?;
    // A thread reads stdout to its end, so that the node never writes to a
    // closed or full pipe; the lines up to `ready` come back here.
    let (tx, lines) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let (mut peer, mut status, mut udp, mut tcp) = (None, None, None, None);
    while let Ok(line) = lines.recv_timeout(Duration::from_secs(30)) {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            ["lsp-node", id, "quic", addr] => peer = format!("{id}@{addr}").parse().ok(),
            ["status", url] => {
                status = url
                    .trim_start_matches("http://")
                    .trim_end_matches('/')
                    .parse()
                    .ok();
            }
            ["sip", "udp", addr] => udp = addr.parse().ok(),
            ["sip", "tcp", addr] => tcp = addr.parse().ok(),
            ["ready"] => break,
            _ => {}
        }
    }
    match (peer, status, udp, tcp) {
        (Some(peer), Some(status), Some(sip_udp), Some(sip_tcp)) => Ok(Node {
            child,
            peer,
            status,
            sip_udp,
            sip_tcp,
        }),
        _ => {
            let _ = child.kill();
            let log = std::fs::read_to_string(config.with_extension("log")).unwrap_or_default();
            Err(format!("{} did not start: {log}", config.display()))
        }
    }
}

/// One HTTP/1.1 GET's body, or `None` on any failure.
pub fn http_get(addr: SocketAddr, path: &str) -> Option<String> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut text = String::new();
    s.read_to_string(&mut text).ok()?;
    let (head, body) = text.split_once("\r\n\r\n")?;
    head.starts_with("HTTP/1.1 200").then(|| body.to_owned())
}
