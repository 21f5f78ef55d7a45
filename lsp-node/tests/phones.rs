//! Real phones against the daemon with its default configuration: baresip
//! (Debian package `baresip-core`) registers with digest authentication,
//! and a caller then gets its Contact in a 302.
#![allow(clippy::unwrap_used)]

mod support;

use std::net::{SocketAddr, UdpSocket};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use support::*;

fn free_udp_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A registrar for example.com with alice's password and nothing else set.
fn default_registrar(dir: &Path) -> Daemon {
    let anchor = keygen(&dir.join("domain.key"));
    let sip = "[sip]\nudp = [\"127.0.0.1:0\"]\ndomains = [\"example.com\"]\n\
               domain_key_file = \"domain.key\"\n\
               [[sip.users]]\nusername = \"alice\"\npassword = \"secret\"\n";
    Daemon::start(&write_config(dir, "registrar", None, sip, &anchor))
}

struct Baresip(Child);

impl Drop for Baresip {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// baresip with no audio device, registering alice through `registrar`.
fn baresip(dir: &Path, registrar: SocketAddr, port: u16) -> Baresip {
    let conf = dir.join("baresip");
    std::fs::create_dir_all(&conf).unwrap();
    std::fs::write(
        conf.join("config"),
        format!(
            "poll_method epoll\nsip_listen 127.0.0.1:{port}\n\
             module_path /usr/lib/baresip/modules\nmodule g711.so\n\
             module_app account.so\naudio_player aufile,/dev/null\naudio_source aufile,/dev/null\n"
        ),
    )
    .unwrap();
    std::fs::write(
        conf.join("accounts"),
        format!(
            "<sip:alice@example.com>;auth_pass=secret;outbound=\"sip:{registrar}\";regint=600\n"
        ),
    )
    .unwrap();
    let log = std::fs::File::create(dir.join("baresip.log")).unwrap();
    let child = Command::new("baresip")
        .arg("-f")
        .arg(&conf)
        .args(["-s", "-t", "60"])
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .unwrap_or_else(|e| {
            panic!(
                "cannot run baresip ({e}); tools/test.sh installs it (apt-get install baresip-core)"
            )
        });
    Baresip(child)
}

/// An INVITE for alice, answered by the redirect server.
fn invite(target: SocketAddr, n: u32) -> Option<String> {
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    let local = sock.local_addr().unwrap();
    let text = format!(
        "INVITE sip:alice@example.com SIP/2.0\r\nVia: SIP/2.0/UDP {local};branch=z9hG4bKcall{n}\r\n\
         Max-Forwards: 70\r\nTo: <sip:alice@example.com>\r\nFrom: <sip:bob@example.net>;tag=b{n}\r\n\
         Call-ID: call{n}@phones\r\nCSeq: 1 INVITE\r\nContact: <sip:bob@{local}>\r\nContent-Length: 0\r\n\r\n"
    );
    sock.send_to(text.as_bytes(), target).unwrap();
    let mut buf = vec![0u8; 65_536];
    let n = sock.recv(&mut buf).ok()?;
    Some(String::from_utf8_lossy(&buf[..n]).into_owned())
}

#[test]
fn baresip_registers_with_the_default_configuration_and_is_found_by_a_302() {
    let dir = tempfile::tempdir().unwrap();
    let registrar = default_registrar(dir.path());
    let sip = registrar.sip_udp.unwrap();
    let port = free_udp_port();
    let _phone = baresip(dir.path(), sip, port);

    let wanted = format!("@127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut last = None;
    for n in 0.. {
        if let Some(answer) = invite(sip, n) {
            if answer.starts_with("SIP/2.0 302")
                && answer
                    .lines()
                    .any(|l| l.starts_with("Contact:") && l.contains(&wanted))
            {
                // The SIP transaction counters are on both status pages.
                let (_, metrics) = http_get(registrar.status, "/metrics");
                assert!(
                    metrics.contains("lsp_sip_refused_full_total 0"),
                    "{metrics}"
                );
                assert!(
                    metrics.contains("# TYPE lsp_sip_state_bytes gauge"),
                    "{metrics}"
                );
                // And the latencies: baresip's REGISTER got its 200, the
                // INVITEs their 302s, the registrar's reads and publishes.
                for line in [
                    "lsp_sip_answer_seconds_count{method=\"REGISTER\",code=\"200\"} ",
                    "lsp_sip_answer_seconds_count{method=\"INVITE\",code=\"302\"} ",
                    "lsp_publish_seconds_count{outcome=\"ok\"} ",
                    "lsp_read_seconds_count{outcome=\"ok\"} ",
                ] {
                    assert!(metrics.contains(line), "{line} in {metrics}");
                }
                let status = registrar.status();
                assert!(status["sip"]["transactions"]["transactions"].as_u64() > Some(0));
                return;
            }
            last = Some(answer);
        }
        if Instant::now() > deadline {
            break;
        }
        std::thread::sleep(Duration::from_millis(300));
    }
    let log = std::fs::read_to_string(dir.path().join("baresip.log")).unwrap_or_default();
    panic!("no 302 to baresip's Contact; last answer {last:?}\nbaresip said:\n{log}");
}
