//! Kamailio (Debian package `kamailio`) as example.com's proxy, using our
//! redirect server as its location service: a caller's INVITE goes to
//! Kamailio, Kamailio asks us, gets the 302, and relays the INVITE to the
//! Contact it names. The draft's core idea with an existing proxy.

use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use lsp_core::{Aor, Binding, Identity, LocalConfig, LocalLocationService, Record, UnixTime};
use lsp_sip_adapter::server::{SipListen, SipServer};
use lsp_sip_adapter::service::{SipConfig, SipService};
use tokio::net::UdpSocket;
use tokio::time::timeout;

/// A running Kamailio and its directory, both gone when dropped.
struct Kamailio(Child, std::path::PathBuf);

impl Drop for Kamailio {
    fn drop(&mut self) {
        // SIGTERM, so that the main process stops its forked workers too;
        // a SIGKILL would leave them running.
        let _ = Command::new("kill")
            .args(["-TERM", &self.0.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(3);
        while Instant::now() < deadline && matches!(self.0.try_wait(), Ok(None)) {
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
        let _ = std::fs::remove_dir_all(&self.1);
    }
}

/// Relays every INVITE for example.com to `location` and follows its 3xx.
fn kamailio_cfg(location: SocketAddr) -> String {
    format!(
        r#"#!KAMAILIO
debug=1
log_stderror=yes
children=2
disable_tcp=yes
auto_aliases=no
loadmodule "sl.so"
loadmodule "tm.so"
loadmodule "pv.so"
loadmodule "maxfwd.so"
loadmodule "textops.so"
loadmodule "acc.so"
loadmodule "uac_redirect.so"
modparam("tm", "fr_timer", 5000)

request_route {{
    if (!mf_process_maxfwd_header("10")) {{
        sl_send_reply("483", "Too Many Hops");
        exit;
    }}
    if (is_method("ACK")) {{
        t_relay();
        exit;
    }}
    if (is_method("INVITE") && $rd == "example.com") {{
        # Ask the Location Service Protocol's redirect server where the
        # callee is, and follow its answer.
        $du = "sip:{location}";
        t_on_failure("FOLLOW");
        t_relay();
        exit;
    }}
    sl_send_reply("404", "Not Here");
}}

failure_route[FOLLOW] {{
    if (t_check_status("3[0-9][0-9]")) {{
        get_redirects("*");
        t_relay();
    }}
}}
"#
    )
}

async fn redirect_server() -> (SipServer, Arc<LocalLocationService>) {
    let store = Arc::new(LocalLocationService::new(LocalConfig::default()));
    let config = SipConfig::new(Arc::new(Identity::from_secret_bytes([9; 32])))
        .serve_domain("example.com")
        .registrar(false);
    let sip = Arc::new(SipService::new(store.clone(), config).expect("config"));
    let listen = SipListen {
        udp: vec!["127.0.0.1:0".parse().expect("addr")],
        ..SipListen::default()
    };
    (SipServer::bind(sip, &listen).await.expect("bind"), store)
}

fn free_port() -> u16 {
    std::net::UdpSocket::bind("127.0.0.1:0")
        .and_then(|s| s.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

async fn recv(sock: &UdpSocket, within: Duration) -> Option<(String, SocketAddr)> {
    let mut buf = vec![0u8; 65_536];
    let (n, from) = timeout(within, sock.recv_from(&mut buf)).await.ok()?.ok()?;
    Some((String::from_utf8_lossy(&buf[..n]).into_owned(), from))
}

/// A response to `request`: its Via, From, To (with `to_tag`), Call-ID and CSeq.
fn answer(request: &str, status: &str, to_tag: &str) -> String {
    let mut out = format!("SIP/2.0 {status}\r\n");
    for line in request.lines() {
        let name = line.split(':').next().unwrap_or("").to_ascii_lowercase();
        match name.as_str() {
            "via" | "from" | "call-id" | "cseq" => out.push_str(&format!("{line}\r\n")),
            "to" => out.push_str(&format!("{line};tag={to_tag}\r\n")),
            _ => {}
        }
    }
    out.push_str("Content-Length: 0\r\n\r\n");
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kamailio_in_front_relays_to_the_contact_our_redirect_server_names() {
    let (server, store) = redirect_server().await;
    let location = server.udp_addrs()[0];
    let phone = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
    let phone_addr = phone.local_addr().expect("addr");

    // Alice's phone registered with the domain: its binding is in the store.
    let mut record = Record::new(Aor::parse("sip:alice@example.com").expect("aor"), 1);
    record.bindings.push(Binding::new(
        format!("sip:alice@{phone_addr}"),
        UnixTime::now() + Duration::from_secs(600),
        "reg-1",
        1,
    ));
    store
        .publish_sync(
            &record
                .sign(&Identity::from_secret_bytes([9; 32]))
                .expect("sign"),
        )
        .expect("published");

    let dir = tempfile_dir();
    let cfg = dir.join("kamailio.cfg");
    std::fs::write(&cfg, kamailio_cfg(location)).expect("write cfg");
    let port = free_port();
    let proxy: SocketAddr = format!("127.0.0.1:{port}").parse().expect("addr");
    let log = std::fs::File::create(dir.join("kamailio.log")).expect("log");
    let _kamailio = Kamailio(
        Command::new("kamailio")
            .arg("-f")
            .arg(&cfg)
            .args(["-l", &format!("udp:{proxy}"), "-DD", "-E", "-m", "64", "-w"])
            .arg(&dir)
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .stdin(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot run kamailio ({e}); tools/test.sh installs it (apt-get install kamailio)")
            }),
        dir.clone(),
    );

    let caller = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
    let me = caller.local_addr().expect("addr");
    let invite = format!(
        "INVITE sip:alice@example.com SIP/2.0\r\nVia: SIP/2.0/UDP {me};branch=z9hG4bKkam1;rport\r\n\
         Max-Forwards: 70\r\nTo: <sip:alice@example.com>\r\nFrom: <sip:bob@example.net>;tag=bob1\r\n\
         Call-ID: kam-1@test\r\nCSeq: 1 INVITE\r\nContact: <sip:bob@{me}>\r\nContent-Length: 0\r\n\r\n"
    );
    // Kamailio may still be starting: retransmit as a UAC would (Timer A).
    let deadline = Instant::now() + Duration::from_secs(15);
    let relayed = loop {
        assert!(Instant::now() < deadline, "{}", kamailio_log(&dir));
        caller
            .send_to(invite.as_bytes(), proxy)
            .await
            .expect("send");
        if let Some(got) = recv(&phone, Duration::from_millis(500)).await {
            break got;
        }
    };
    let (relayed, from) = relayed;
    assert!(
        relayed.starts_with(&format!("INVITE sip:alice@{phone_addr} SIP/2.0")),
        "Kamailio relays to the Contact we named: {relayed}"
    );
    assert!(relayed.contains("Call-ID: kam-1@test"), "{relayed}");

    // The phone is busy; the caller hears it through Kamailio.
    phone
        .send_to(answer(&relayed, "486 Busy Here", "phone1").as_bytes(), from)
        .await
        .expect("send");
    let mut final_code = None;
    while let Some((text, _)) = recv(&caller, Duration::from_secs(5)).await {
        if text.starts_with("SIP/2.0 1") {
            continue;
        }
        final_code = text.get(8..11).map(str::to_owned);
        break;
    }
    assert_eq!(final_code.as_deref(), Some("486"), "{}", kamailio_log(&dir));
    // Kamailio ACKed our 302, hop by hop: no Timer G retransmissions.
    let stats = server.stats();
    assert_eq!(stats.acked, 1, "{stats:?}");
}

fn kamailio_log(dir: &std::path::Path) -> String {
    std::fs::read_to_string(dir.join("kamailio.log")).unwrap_or_default()
}

fn tempfile_dir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "lsp-kamailio-{}-{}",
        std::process::id(),
        free_port()
    ));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}
