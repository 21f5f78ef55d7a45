//! Separate OS processes form a ring over QUIC; a binding stays resolvable
//! after `kill -9` of the node that held it first.
#![allow(clippy::unwrap_used)]

use std::io::Write;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

struct Proc {
    child: Child,
    stdin: ChildStdin,
    lines: mpsc::Receiver<String>,
    id: String,
    addr: String,
}

impl Proc {
    fn start(seed: u8, bootstrap: Option<&Proc>) -> Proc {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_ring-node"));
        cmd.args(["--seed", &seed.to_string(), "--listen", "127.0.0.1:0"]);
        if let Some(b) = bootstrap {
            cmd.args(["--bootstrap", &format!("{}@{}", b.id, b.addr)]);
        }
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let stdin = child.stdin.take().unwrap();
        let stdout = child.stdout.take().unwrap();
        let lines = lsp_test_support::stdout_lines(stdout);
        let first = lines.recv_timeout(Duration::from_secs(10)).unwrap();
        let mut w = first.split_whitespace().skip(1);
        let (id, addr) = (w.next().unwrap().to_string(), w.next().unwrap().to_string());
        Proc {
            child,
            stdin,
            lines,
            id,
            addr,
        }
    }

    fn ask(&mut self, command: &str) -> String {
        writeln!(self.stdin, "{command}").unwrap();
        self.lines.recv_timeout(Duration::from_secs(20)).unwrap()
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn a_ring_of_processes_survives_kill_9() {
    let mut procs = vec![Proc::start(1, None)];
    assert_eq!(procs[0].ask("join"), "joined");
    for seed in 2..=4 {
        let p = Proc::start(seed, Some(&procs[0]));
        procs.push(p);
        assert_eq!(procs.last_mut().unwrap().ask("join"), "joined");
    }
    // Let stabilize run a few rounds (200 ms each).
    std::thread::sleep(Duration::from_secs(3));
    for p in &mut procs {
        let s = p.ask("status");
        assert!(s.starts_with("status successors 3 predecessor true"), "{s}");
    }
    let aor = "sip:alice@example.com";
    assert_eq!(
        procs[1].ask(&format!("publish {aor} sip:alice@192.0.2.10")),
        "published 3"
    );
    let lookup = procs[2].ask(&format!("lookup {aor}"));
    let primary = lookup.split_whitespace().nth(1).unwrap().to_string();
    let victim = procs.iter().position(|p| p.id == primary).unwrap();
    procs[victim].child.kill().unwrap(); // SIGKILL: no goodbye, no hand-off
    procs[victim].child.wait().unwrap();
    let asker = (victim + 1) % procs.len();
    assert_eq!(
        procs[asker].ask(&format!("query {aor}")),
        "contacts sip:alice@192.0.2.10"
    );
    // The ring heals around the dead process.
    std::thread::sleep(Duration::from_secs(4));
    for (i, p) in procs.iter_mut().enumerate() {
        if i != victim {
            let s = p.ask("status");
            assert!(s.starts_with("status successors 2 predecessor true"), "{s}");
        }
    }
}
