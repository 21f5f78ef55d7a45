//! RFC 4475 section 3.1.2: every invalid message gets a 4xx, or is
//! dropped, and nothing panics. The messages are written for this project,
//! one per subsection, with the fault that subsection describes; the first
//! five are valid REGISTERs and INVITEs that must parse.

use std::net::SocketAddr;
use std::sync::Arc;

use futures::executor::block_on;
use lsp_core::{Identity, LocalConfig, LocalLocationService};
use lsp_sip_adapter::message::{self, Inbound, MAX_MESSAGE_LEN};
use lsp_sip_adapter::service::{SipConfig, SipService};
use proptest::prelude::*;

include!("data/cases.rs");

fn service() -> SipService {
    let store = Arc::new(LocalLocationService::new(LocalConfig::default()));
    let config = SipConfig::new(Arc::new(Identity::from_secret_bytes([3; 32])))
        .serve_domain("example.com")
        .allow_unauthenticated();
    SipService::new(store, config).expect("config")
}

/// The status code a server answers `bytes` with; `None` if dropped.
fn answer(sip: &SipService, bytes: &[u8]) -> Option<u16> {
    let source: SocketAddr = "192.0.2.4:5060".parse().expect("addr");
    match message::parse(bytes) {
        Ok(Inbound::Request(r)) => block_on(sip.handle(&r, source)).map(|r| r.code),
        Ok(_) => None,
        Err(m) => m.response(source).map(|r| r.code),
    }
}

#[test]
fn valid_messages_parse() {
    for (name, text) in CASES.iter().filter(|(n, _)| !n.starts_with("bad-")) {
        match message::parse(text.as_bytes()) {
            Ok(Inbound::Request(r)) => {
                if *name == "invite-sdp" {
                    assert_eq!(&r.body[..], b"v=0\n");
                }
            }
            other => panic!("{name}: {other:?}"),
        }
    }
}

#[test]
fn every_invalid_message_gets_a_4xx_or_is_dropped() {
    let sip = service();
    for (name, text) in CASES.iter().filter(|(n, _)| n.starts_with("bad-")) {
        let code = answer(&sip, text.as_bytes());
        match (*name, code) {
            // RFC 4475 3.1.2.16 asks for 505 Version Not Supported.
            ("bad-version", Some(505)) => {}
            // Responses (3.1.2.19) are dropped: a server sent no request.
            ("bad-big-response-code", None) => {}
            (_, Some(c)) if (400..500).contains(&c) => {}
            _ => panic!("{name}: answered {code:?}"),
        }
    }
}

#[test]
fn folded_and_compact_headers_register() {
    let sip = service();
    for name in [
        "register-compact",
        "register-folded",
        "register-multi-contact",
    ] {
        let (_, text) = CASES.iter().find(|(n, _)| *n == name).expect("case");
        assert_eq!(answer(&sip, text.as_bytes()), Some(200), "{name}");
    }
    let (_, text) = CASES
        .iter()
        .find(|(n, _)| *n == "register-multi-contact")
        .expect("case");
    let Ok(Inbound::Request(r)) = message::parse(text.as_bytes()) else {
        panic!("parses");
    };
    let source: SocketAddr = "192.0.2.4:5060".parse().expect("addr");
    let ok = block_on(service().handle(&r, source)).expect("answered");
    assert_eq!(ok.header_values("Contact").count(), 3);
}

#[test]
fn oversized_and_headless_messages_are_refused() {
    let (_, invite) = CASES
        .iter()
        .find(|(n, _)| *n == "invite-sdp")
        .expect("case");
    let big = invite.replace(
        "Content-Length: 4\r\n\r\nv=0\n",
        &format!(
            "Content-Length: {}\r\n\r\n{}",
            MAX_MESSAGE_LEN,
            "x".repeat(MAX_MESSAGE_LEN)
        ),
    );
    assert!(matches!(message::parse(big.as_bytes()), Err(m) if m.code == 513));
    assert!(matches!(message::stream_frame_len(big.as_bytes()), Err(m) if m.code == 513));
    let sip = service();
    assert_eq!(
        answer(&sip, b"INVITE sip:a@example.com SIP/2.0\r\n\r\n"),
        None
    );
    assert_eq!(answer(&sip, b"\xff\xfe garbage\r\n\r\n"), None);
    assert_eq!(answer(&sip, b"\r\n\r\n"), None, "a keep-alive");
}

#[test]
fn stream_framing_waits_for_the_body() {
    let (_, invite) = CASES
        .iter()
        .find(|(n, _)| *n == "invite-sdp")
        .expect("case");
    let bytes = invite.as_bytes();
    assert_eq!(
        message::stream_frame_len(&bytes[..bytes.len() - 2]).ok(),
        Some(None)
    );
    assert_eq!(
        message::stream_frame_len(bytes).ok(),
        Some(Some(bytes.len()))
    );
    let two = [bytes, bytes].concat();
    assert_eq!(
        message::stream_frame_len(&two).ok(),
        Some(Some(bytes.len()))
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Any corruption of a valid message is answered or dropped, never a panic.
    #[test]
    fn corrupted_messages_never_panic(case in 0..CASES.len(), edits in prop::collection::vec((any::<usize>(), any::<u8>()), 1..8), cut in any::<usize>()) {
        let mut bytes = CASES[case].1.as_bytes().to_vec();
        for (at, byte) in edits {
            let at = at % bytes.len();
            bytes[at] = byte;
        }
        bytes.truncate(cut % (bytes.len() + 1));
        let sip = service();
        if let Some(code) = answer(&sip, &bytes) {
            prop_assert!((200..600).contains(&code));
        }
        let _ = message::stream_frame_len(&bytes);
    }
}

/// Each answer is reported once, with its request's method (an invented
/// method is `other`, so that a metrics label takes few values) and code.
#[test]
fn an_observer_hears_each_answer_with_a_bounded_method() {
    use lsp_sip_adapter::{AnswerObserver, MethodKind};
    use std::sync::Mutex;
    use std::time::Duration;

    #[derive(Default)]
    struct Heard(Mutex<Vec<(MethodKind, u16)>>);
    impl AnswerObserver for Heard {
        fn answered(&self, method: MethodKind, code: u16, elapsed: Duration) {
            assert!(elapsed < Duration::from_secs(5));
            self.0.lock().expect("lock").push((method, code));
        }
    }
    let heard = Arc::new(Heard::default());
    let sip = service().with_observer(heard.clone());
    let case = |name: &str| CASES.iter().find(|(n, _)| *n == name).expect("case").1;
    assert_eq!(answer(&sip, case("register-compact").as_bytes()), Some(200));
    let invite = case("invite-sdp").as_bytes();
    let code = answer(&sip, invite).expect("answered");
    let odd = "FOO sip:alice@example.com SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.4;branch=z9hG4bKx\r\n\
               Max-Forwards: 70\r\nFrom: <sip:b@example.com>;tag=1\r\nTo: <sip:alice@example.com>\r\n\
               Call-ID: foo1\r\nCSeq: 1 FOO\r\nContent-Length: 0\r\n\r\n";
    let odd_code = answer(&sip, odd.as_bytes()).expect("answered");
    let heard = heard.0.lock().expect("lock").clone();
    assert_eq!(
        heard,
        vec![
            (MethodKind::Register, 200),
            (MethodKind::Invite, code),
            (MethodKind::Other, odd_code),
        ]
    );
}
