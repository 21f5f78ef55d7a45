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

const CASES: &[(&str, &str)] = &[
    (
        "register-multi-contact",
        "REGISTER sip:example.com SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.4:5060;branch=z9hG4bK776asdhds\r\nMax-Forwards: 70\r\nTo: Alice <sip:alice@example.com>\r\nFrom: Alice <sip:alice@example.com>;tag=1928301774\r\nCall-ID: a84b4c76e66710@pc33\r\nCSeq: 314159 REGISTER\r\nContact: <sip:alice@192.0.2.4:5060>;q=0.7;expires=3600, \"Mobile\" <sip:alice@198.51.100.9;transport=tcp>;q=0.3\r\nContact: <sip:alice@[2001:db8::9]:5070>;+sip.instance=\"<urn:uuid:00000000-0000-1000-8000-000A95A0E128>\";reg-id=1\r\nPath: <sip:edge.example.com;lr>\r\nExpires: 7200\r\nContent-Length: 0\r\n\r\n",
    ),
    (
        "register-star",
        "REGISTER sip:example.com SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.4:5060;branch=z9hG4bK776asdhdt\r\nMax-Forwards: 70\r\nTo: <sip:alice@example.com>\r\nFrom: <sip:alice@example.com>;tag=19283\r\nCall-ID: a84b4c76e66710@pc33\r\nCSeq: 314160 REGISTER\r\nContact: *\r\nExpires: 0\r\nContent-Length: 0\r\n\r\n",
    ),
    (
        "register-compact",
        "REGISTER sip:example.com SIP/2.0\r\nv: SIP/2.0/UDP 192.0.2.4:5060;branch=z9hG4bK776asdhdu\r\nmax-forwards: 70\r\nt: <sip:alice@example.com>\r\nf: <sip:alice@example.com>;tag=19284\r\ni: a84b4c76e66711@pc33\r\ncseq: 1 REGISTER\r\nm: <sip:alice@192.0.2.4:5060>;expires=60\r\nl: 0\r\n\r\n",
    ),
    (
        "register-folded",
        "REGISTER sip:example.com SIP/2.0\r\nVia  :   SIP/2.0/UDP 192.0.2.4:5060\r\n  ;branch=z9hG4bK776asdhdv\r\nMax-Forwards: 70\r\nTO: \"Al \\\"the\\\" ice\" <sip:%61lice@EXAMPLE.com>\r\nfrom: <sip:alice@example.com>;tag=19285\r\nCall-ID: x@pc33\r\nCSeq: 2 REGISTER\r\nContact:\r\n <sip:alice@192.0.2.4>\r\nContent-Length: 0\r\n\r\n",
    ),
    (
        "invite-sdp",
        "INVITE sip:bob@example.com SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.4:5060;branch=z9hG4bK1\r\nMax-Forwards: 70\r\nTo: <sip:bob@example.com>\r\nFrom: <sip:alice@example.com>;tag=1\r\nCall-ID: inv1@pc33\r\nCSeq: 1 INVITE\r\nContact: <sip:alice@192.0.2.4>\r\nContent-Type: application/sdp\r\nContent-Length: 4\r\n\r\nv=0\n",
    ),
    (
        "bad-extra-separators",
        "INVITE sip:bob@example.com SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.4;;;branch=z9hG4bK2\r\nMax-Forwards: 70\r\nTo: <sip:bob@example.com>;;,;\r\nFrom: <sip:alice@example.com>;;tag=2\r\nCall-ID: bad1@pc33\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n",
    ),
    (
        "bad-content-length-large",
        "OPTIONS sip:bob@example.com SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.4;branch=z9hG4bK3\r\nMax-Forwards: 70\r\nTo: <sip:bob@example.com>\r\nFrom: <sip:alice@example.com>;tag=3\r\nCall-ID: bad2@pc33\r\nCSeq: 1 OPTIONS\r\nContent-Length: 9999\r\n\r\nshort",
    ),
    (
        "bad-negative-content-length",
        "OPTIONS sip:bob@example.com SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.4;branch=z9hG4bK4\r\nMax-Forwards: 70\r\nTo: <sip:bob@example.com>\r\nFrom: <sip:alice@example.com>;tag=4\r\nCall-ID: bad3@pc33\r\nCSeq: 1 OPTIONS\r\nContent-Length: -999\r\n\r\n",
    ),
    (
        "bad-overlarge-scalars",
        "REGISTER sip:example.com SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.4;branch=z9hG4bK5\r\nMax-Forwards: 300\r\nTo: <sip:bob@example.com>\r\nFrom: <sip:bob@example.com>;tag=5\r\nCall-ID: bad4@pc33\r\nCSeq: 36893488147419103232 REGISTER\r\nContact: <sip:bob@192.0.2.4>;expires=280297596632815\r\nExpires: 10000000000000000000000\r\nContent-Length: 0\r\n\r\n",
    ),
    (
        "bad-unterminated-quote",
        "INVITE sip:bob@example.com SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.4;branch=z9hG4bK6\r\nMax-Forwards: 70\r\nTo: <sip:bob@example.com>\r\nFrom: \"Alice <sip:alice@example.com>;tag=6\r\nCall-ID: bad5@pc33\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n",
    ),
    (
        "bad-ltgt-request-uri",
        "INVITE <sip:bob@example.com> SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.4;branch=z9hG4bK7\r\nMax-Forwards: 70\r\nTo: <sip:bob@example.com>\r\nFrom: <sip:alice@example.com>;tag=7\r\nCall-ID: bad6@pc33\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n",
    ),
    (
        "bad-lws-in-request-uri",
        "INVITE sip:bob@exam ple.com SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.4;branch=z9hG4bK8\r\nMax-Forwards: 70\r\nTo: <sip:bob@example.com>\r\nFrom: <sip:alice@example.com>;tag=8\r\nCall-ID: bad7@pc33\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n",
    ),
    (
        "bad-multiple-sp",
        "INVITE  sip:bob@example.com  SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.4;branch=z9hG4bK9\r\nMax-Forwards: 70\r\nTo: <sip:bob@example.com>\r\nFrom: <sip:alice@example.com>;tag=9\r\nCall-ID: bad8@pc33\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n",
    ),
    (
        "bad-trailing-sp",
        "OPTIONS sip:bob@example.com SIP/2.0 \r\nVia: SIP/2.0/UDP 192.0.2.4;branch=z9hG4bKa\r\nMax-Forwards: 70\r\nTo: <sip:bob@example.com>\r\nFrom: <sip:alice@example.com>;tag=a\r\nCall-ID: bad9@pc33\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n",
    ),
    (
        "bad-escaped-headers-ruri",
        "INVITE sip:bob@example.com?Route=%3Csip:evil.example%3E SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.4;branch=z9hG4bKb\r\nMax-Forwards: 70\r\nTo: <sip:bob@example.com>\r\nFrom: <sip:alice@example.com>;tag=b\r\nCall-ID: bada@pc33\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n",
    ),
    (
        "bad-date-zone",
        "OPTIONS sip:bob@example.com SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.4;branch=z9hG4bKc\r\nMax-Forwards: 70\r\nTo: <sip:bob@example.com>\r\nFrom: <sip:alice@example.com>;tag=c\r\nCall-ID: badb@pc33\r\nCSeq: 1 OPTIONS\r\nDate: Fri, 01 Jan 2010 16:00:00 EST\r\nContent-Length: 0\r\n\r\n",
    ),
    (
        "bad-name-addr-unenclosed",
        "REGISTER sip:example.com SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.4;branch=z9hG4bKd\r\nMax-Forwards: 70\r\nTo: <sip:bob@example.com>\r\nFrom: <sip:bob@example.com>;tag=d\r\nCall-ID: badc@pc33\r\nCSeq: 1 REGISTER\r\nContact: sip:bob@192.0.2.4?Route=%3Csip:evil%3E\r\nContent-Length: 0\r\n\r\n",
    ),
    (
        "bad-space-in-addr-spec",
        "OPTIONS sip:bob@example.com SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.4;branch=z9hG4bKe\r\nMax-Forwards: 70\r\nTo: sip:bob @example.com\r\nFrom: <sip:alice@example.com>;tag=e\r\nCall-ID: badd@pc33\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n",
    ),
    (
        "bad-display-name-chars",
        "OPTIONS sip:bob@example.com SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.4;branch=z9hG4bKf\r\nMax-Forwards: 70\r\nTo: <sip:bob@example.com>\r\nFrom: Alice@Home <sip:alice@example.com>;tag=f\r\nCall-ID: bade@pc33\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n",
    ),
    (
        "bad-version",
        "OPTIONS sip:bob@example.com SIP/7.0\r\nVia: SIP/7.0/UDP 192.0.2.4;branch=z9hG4bKg\r\nMax-Forwards: 70\r\nTo: <sip:bob@example.com>\r\nFrom: <sip:alice@example.com>;tag=g\r\nCall-ID: badf@pc33\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n",
    ),
    (
        "bad-cseq-mismatch",
        "INVITE sip:bob@example.com SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.4;branch=z9hG4bKh\r\nMax-Forwards: 70\r\nTo: <sip:bob@example.com>\r\nFrom: <sip:alice@example.com>;tag=h\r\nCall-ID: badg@pc33\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n",
    ),
    (
        "bad-unknown-method-mismatch",
        "NEWMETHOD sip:bob@example.com SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.4;branch=z9hG4bKi\r\nMax-Forwards: 70\r\nTo: <sip:bob@example.com>\r\nFrom: <sip:alice@example.com>;tag=i\r\nCall-ID: badh@pc33\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n",
    ),
    (
        "bad-big-response-code",
        "SIP/2.0 4294967301 better not break the receiver\r\nVia: SIP/2.0/UDP 192.0.2.4;branch=z9hG4bKj\r\nTo: <sip:bob@example.com>;tag=x\r\nFrom: <sip:alice@example.com>;tag=j\r\nCall-ID: badi@pc33\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n",
    ),
];

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
