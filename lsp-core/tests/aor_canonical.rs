//! AOR canonicalization: RFC 3261 section 19.1.4's examples and properties.
#![allow(clippy::unwrap_used)]

use lsp_core::{Aor, ResourceId};
use proptest::prelude::*;

fn rid(s: &str) -> ResourceId {
    Aor::parse(s)
        .unwrap_or_else(|e| panic!("{s}: {e}"))
        .resource_id()
}

/// Section 19.1.4's equivalent pairs.
const EQUAL: &[(&str, &str)] = &[
    (
        "sip:%61lice@atlanta.com;transport=TCP",
        "sip:alice@AtLanTa.CoM;Transport=tcp",
    ),
    ("sip:carol@chicago.com", "sip:carol@chicago.com;newparam=5"),
    ("sip:carol@chicago.com", "sip:carol@chicago.com;security=on"),
    (
        "sip:carol@chicago.com;newparam=5",
        "sip:carol@chicago.com;security=on",
    ),
    (
        "sip:biloxi.com;transport=tcp;method=REGISTER?to=sip:bob%40biloxi.com",
        "sip:biloxi.com;method=REGISTER;transport=tcp?to=sip:bob%40biloxi.com",
    ),
    (
        "sip:alice@atlanta.com?subject=project%20x&priority=urgent",
        "sip:alice@atlanta.com?priority=urgent&subject=project%20x",
    ),
];

/// Section 19.1.4's non-equivalent pairs that remain distinct as AORs. Its
/// transport-parameter and header pairs are equal as AORs: a registrar drops
/// every URI parameter (section 10.3) and headers never name a resource.
const UNEQUAL: &[(&str, &str)] = &[
    (
        "SIP:ALICE@AtLanTa.CoM;Transport=udp",
        "sip:alice@AtLanTa.CoM;Transport=UDP",
    ),
    ("sip:bob@biloxi.com", "sip:bob@biloxi.com:5060"),
    (
        "sip:bob@biloxi.com",
        "sip:bob@biloxi.com:6000;transport=tcp",
    ),
    ("sip:bob@phone21.boxesbybob.com", "sip:bob@192.0.2.4"),
    ("sip:bob@biloxi.com", "sips:bob@biloxi.com"),
];

#[test]
fn rfc3261_examples_that_are_equal() {
    for (a, b) in EQUAL {
        assert_eq!(rid(a), rid(b), "{a} vs {b}");
    }
}

#[test]
fn rfc3261_examples_that_differ() {
    for (a, b) in UNEQUAL {
        assert_ne!(rid(a), rid(b), "{a} vs {b}");
    }
}

#[test]
fn parameters_and_headers_do_not_name_a_resource() {
    assert_eq!(
        rid("sip:bob@biloxi.com"),
        rid("sip:bob@biloxi.com;transport=udp")
    );
    assert_eq!(
        rid("sip:carol@chicago.com"),
        rid("sip:carol@chicago.com?Subject=next%20meeting")
    );
}

fn user() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9][a-zA-Z0-9._~*'()!+=$,-]{0,15}"
}

fn host() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z][a-z0-9-]{0,8}[a-z0-9](\\.[a-z][a-z0-9]{0,8}){1,3}",
        (any::<[u8; 4]>()).prop_map(|o| format!("{}.{}.{}.{}", o[0], o[1], o[2], o[3])),
    ]
}

/// The same AOR written differently: escapes, letter case, parameters, headers.
fn respell(
    user: &str,
    host: &str,
    port: Option<u16>,
    escapes: &[bool],
    host_upper: &[bool],
    tail: &str,
) -> String {
    let mut out = String::from(if escapes.first() == Some(&true) {
        "SIP:"
    } else {
        "sip:"
    });
    for (i, c) in user.chars().enumerate() {
        let unreserved = c.is_ascii_alphanumeric() || "-_.!~*'()".contains(c);
        if unreserved && escapes.get(i + 1) == Some(&true) {
            let hex = format!("%{:02X}", c as u8);
            out.push_str(&if i % 2 == 0 { hex.to_lowercase() } else { hex });
        } else {
            out.push(c);
        }
    }
    out.push('@');
    for (i, c) in host.chars().enumerate() {
        out.push(if host_upper.get(i) == Some(&true) {
            c.to_ascii_uppercase()
        } else {
            c
        });
    }
    if let Some(p) = port {
        out.push_str(&format!(":{p}"));
    }
    out.push_str(tail);
    out
}

proptest! {
    #[test]
    fn respellings_share_one_resource_id(
        user in user(),
        host in host(),
        port in proptest::option::of(any::<u16>()),
        escapes in proptest::collection::vec(any::<bool>(), 17),
        host_upper in proptest::collection::vec(any::<bool>(), 40),
        tail in "(;[a-z]{1,6}(=[a-zA-Z0-9]{1,6})?){0,3}(\\?[a-z]{1,5}=[a-z0-9%]{0,6})?",
    ) {
        let plain = respell(&user, &host, port, &[], &[], "");
        let fancy = respell(&user, &host, port, &escapes, &host_upper, &tail);
        let a = Aor::parse(&plain).unwrap();
        let b = Aor::parse(&fancy).unwrap();
        prop_assert_eq!(a.as_str(), b.as_str());
        prop_assert_eq!(a.resource_id(), b.resource_id());
        // The canonical form is a fixed point.
        prop_assert_eq!(Aor::parse_canonical(a.as_str()).unwrap(), a);
    }

    #[test]
    fn user_case_port_and_scheme_are_significant(
        user in "[a-z]{1,12}",
        host in host(),
        port in any::<u16>(),
        flip in any::<prop::sample::Index>(),
    ) {
        let base = rid(&format!("sip:{user}@{host}"));
        let i = flip.index(user.len());
        let mut upper = user.clone().into_bytes();
        upper[i] = upper[i].to_ascii_uppercase();
        let upper = String::from_utf8(upper).unwrap();
        prop_assert_ne!(base, rid(&format!("sip:{upper}@{host}")));
        prop_assert_ne!(base, rid(&format!("sip:{user}@{host}:{port}")));
        prop_assert_ne!(base, rid(&format!("sips:{user}@{host}")));
        prop_assert_ne!(base, rid(&format!("sip:{user}x@{host}")));
    }

    #[test]
    fn reserved_escapes_stay_distinct(user in "[a-z]{1,8}", c in "[;/?:@&=+$,]") {
        let escaped = format!("sip:{user}%{:02x}@example.com", c.as_bytes()[0]);
        let a = Aor::parse(&escaped).unwrap();
        // Kept escaped (upper-cased), never turned into the reserved character.
        let kept = format!("%{:02X}", c.as_bytes()[0]);
        prop_assert!(a.as_str().contains(&kept), "{} lost {}", a, kept);
        if c != "@" && c != ":" {
            let plain = format!("sip:{user}{c}@example.com");
            if let Ok(p) = Aor::parse(&plain) {
                prop_assert_ne!(p.resource_id(), a.resource_id());
            }
        }
    }

    #[test]
    fn arbitrary_text_never_panics(s in "\\PC{0,80}", bytes in proptest::collection::vec(any::<u8>(), 0..80)) {
        let _ = Aor::parse(&s);
        let _ = Aor::parse(&String::from_utf8_lossy(&bytes));
        let _ = Aor::parse(&format!("sip:{s}"));
        if let Ok(a) = Aor::parse(&format!("sip:{s}")) {
            prop_assert_eq!(Aor::parse(a.as_str()).unwrap(), a);
        }
    }
}
