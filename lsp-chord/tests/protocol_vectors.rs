//! The test vectors of `docs/protocol.md`: every hex frame there decodes to
//! the message named beside it, and encoding that message gives the frame.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use lsp_chord::wire::{Message, RefusalCode, Request, Response, StoreOutcome};
use lsp_core::{
    AccessRefusal, Aor, Binding, Identity, NodeId, PeerAddr, QValue, Record, SignedRecord,
    StoreLimit, UnixTime,
};

const DOC: &str = include_str!("../../docs/protocol.md");

fn peer(n: u8, addr: &str) -> PeerAddr {
    PeerAddr {
        id: NodeId([n; 32]),
        addr: addr.parse().unwrap(),
    }
}

/// The record of the vectors: fixed key, fixed fields, so a fixed signature.
fn record() -> SignedRecord {
    let mut b = Binding::new(
        "sip:alice@192.0.2.4:5060",
        UnixTime(1_750_000_000_000) + Duration::from_secs(3600),
        "a84b4c76e66710",
        314_159,
    );
    b.q = QValue::from_thousandths(700).unwrap();
    b.instance = Some("<urn:uuid:00000000-0000-1000-8000-000A95A0E128>".into());
    b.reg_id = Some(1);
    Record {
        aor: Aor::parse("sip:alice@example.com").unwrap(),
        version: 1_750_000_000_000,
        bindings: vec![b],
    }
    .sign(&Identity::from_secret_bytes([1; 32]))
    .expect("sign")
}

fn vectors() -> Vec<(&'static str, Message)> {
    let m = |id, body| Message::Request { id, body };
    let r = |id, body| Message::Response { id, body };
    vec![
        ("ping", m(7, Request::Ping)),
        ("ack", r(7, Response::Ack)),
        (
            "find-successor",
            m(300, Request::FindSuccessor { target: [0xab; 32] }),
        ),
        (
            "successors",
            r(
                300,
                Response::Successors {
                    peers: vec![peer(1, "192.0.2.1:7000"), peer(2, "[2001:db8::2]:7001")],
                },
            ),
        ),
        (
            "neighbours",
            r(
                5,
                Response::Neighbours {
                    predecessor: Some(peer(3, "192.0.2.3:7000")),
                    successors: vec![peer(4, "192.0.2.4:7000")],
                    farther_predecessors: vec![peer(5, "192.0.2.5:7000")],
                },
            ),
        ),
        (
            "fetch",
            m(
                9,
                Request::Fetch {
                    aor: Aor::parse("sip:alice@example.com").unwrap(),
                },
            ),
        ),
        (
            "store",
            m(
                10,
                Request::Store {
                    records: vec![record()],
                },
            ),
        ),
        ("store-here", m(11, Request::StoreHere { records: vec![] })),
        (
            "store-replacing",
            m(
                13,
                Request::StoreReplacing {
                    record: record(),
                    replaces: 1_749_999_999_000,
                },
            ),
        ),
        (
            "stored",
            r(
                10,
                Response::Stored {
                    outcomes: vec![
                        StoreOutcome::Stored,
                        StoreOutcome::Replay {
                            stored: 5,
                            offered: 4,
                        },
                        StoreOutcome::Full(StoreLimit::Records { limit: 1000 }),
                        StoreOutcome::Unauthorized(AccessRefusal::NotAnAnchor {
                            domain: "example.com".into(),
                        }),
                    ],
                },
            ),
        ),
        (
            "digest",
            m(
                12,
                Request::Digest {
                    from: [0x03; 32],
                    digest: [0x5a; 32],
                    at: UnixTime(1_750_000_000_000),
                },
            ),
        ),
        ("digested", r(12, Response::Digested { matched: false })),
        (
            "refused",
            r(
                11,
                Response::Refused {
                    code: RefusalCode::NotInRing,
                    reason: "not in the ring".into(),
                },
            ),
        ),
    ]
}

fn hex(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// `name` -> hex, from lines "vector <name>:" followed by indented hex lines.
fn doc_vectors() -> Vec<(String, Vec<u8>)> {
    let mut out: Vec<(String, Vec<u8>)> = Vec::new();
    let mut current: Option<(String, Vec<u8>)> = None;
    for line in DOC.lines() {
        if let Some(name) = line
            .strip_prefix("vector ")
            .and_then(|l| l.strip_suffix(':'))
        {
            out.extend(current.take());
            current = Some((name.to_string(), Vec::new()));
        } else if let Some((_, bytes)) = current.as_mut() {
            if line.starts_with("    ") && !line.trim().is_empty() {
                for h in line.split_whitespace() {
                    bytes.push(u8::from_str_radix(h, 16).unwrap());
                }
            } else if !line.trim().is_empty() {
                out.extend(current.take());
            }
        }
    }
    out.extend(current);
    out
}

#[test]
fn print_vectors_for_the_document() {
    // `cargo test -p lsp-chord --test protocol_vectors -- --nocapture` prints them.
    for (name, msg) in vectors() {
        println!("vector {name}:");
        for chunk in msg.encode().expect("encode").chunks(16) {
            println!("    {}", hex(chunk));
        }
        println!();
    }
    println!("vector signed-record:");
    for chunk in record().to_bytes().expect("encode").chunks(16) {
        println!("    {}", hex(chunk));
    }
    println!("vector digest-of-signed-record:");
    for chunk in blake3::hash(&record().to_bytes().expect("encode"))
        .as_bytes()
        .chunks(16)
    {
        println!("    {}", hex(chunk));
    }
}

/// The canonical-AOR examples of section 8: "aor <input> -> <canonical>".
#[test]
fn the_document_aor_examples_match_the_parser() {
    let mut n = 0;
    for line in DOC.lines() {
        let Some((input, want)) = line
            .trim()
            .strip_prefix("aor ")
            .and_then(|l| l.split_once(" -> "))
        else {
            continue;
        };
        match (Aor::parse(input), want) {
            (Err(_), "refused") => {}
            (Ok(aor), want) => assert_eq!(aor.as_str(), want, "{input}"),
            (Err(e), want) => panic!("{input}: {e}, expected {want}"),
        }
        n += 1;
    }
    assert!(n >= 12, "{n} examples");
}

#[test]
fn the_document_vectors_match_the_code() {
    let doc = doc_vectors();
    let mut checked = 0;
    for (name, msg) in vectors() {
        let (_, bytes) = doc
            .iter()
            .find(|(n, _)| n == name)
            .unwrap_or_else(|| panic!("vector {name} missing from docs/protocol.md"));
        assert_eq!(&msg.encode().expect("encode"), bytes, "vector {name}");
        assert_eq!(Message::decode(bytes).unwrap(), msg, "vector {name}");
        checked += 1;
    }
    let (_, rec) = doc.iter().find(|(n, _)| n == "signed-record").unwrap();
    let decoded = SignedRecord::from_bytes(rec).unwrap();
    decoded.verify().unwrap();
    assert_eq!(decoded, record());
    let (_, digest) = doc
        .iter()
        .find(|(n, _)| n == "digest-of-signed-record")
        .unwrap();
    assert_eq!(blake3::hash(rec).as_bytes(), &digest[..]);
    let (_, odd) = doc.iter().find(|(n, _)| n == "non-minimal-ping").unwrap();
    assert!(Message::decode(odd).is_err());
    assert_eq!(Message::request_id(odd), Some(7));
    let (_, id) = doc.iter().find(|(n, _)| n == "work-node-id").unwrap();
    let (_, hash) = doc.iter().find(|(n, _)| n == "work-hash").unwrap();
    let mut secret = [0u8; 32];
    secret[0] = 0x67;
    let node = Identity::from_secret_bytes(secret).node_id();
    assert_eq!(&node.0[..], &id[..]);
    let mut h = blake3::Hasher::new();
    h.update(b"lsp-work");
    h.update(&node.0);
    assert_eq!(h.finalize().as_bytes(), &hash[..]);
    assert_eq!(lsp_core::work_bits(&node), 13);
    let (_, enrollment) = doc.iter().find(|(n, _)| n == "enrollment").unwrap();
    let ring = Identity::from_secret_bytes([2; 32]);
    let member = Identity::from_secret_bytes([1; 32]).node_id();
    let issued = lsp_core::Enrollment::issue(&ring, member, UnixTime(1_750_003_600_000));
    assert_eq!(&issued.to_bytes()[..], &enrollment[..]);
    let read = lsp_core::Enrollment::from_bytes(enrollment).unwrap();
    let before = UnixTime(1_750_003_599_999);
    assert_eq!(read.check(&ring.public_key(), &member, before), Ok(()));
    assert!(
        read.check(&ring.public_key(), &member, UnixTime(1_750_003_600_000))
            .is_err()
    );
    assert_eq!(
        checked + 6,
        doc.len(),
        "every vector in the document is checked"
    );
}
