//! The embedded Location Service: expiry, ordering, replay, policies, limits,
//! concurrency and on-disk restart.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Duration;

use futures::executor::block_on;
use lsp_core::store::StoreLimits;
use lsp_core::{
    AccessRefusal, Aor, Binding, DomainTrustAnchors, Error, FirstComeFirstServed, Identity,
    LocalConfig, LocalLocationService, LocationService, ManualClock, OpenPolicy, QValue, Record,
    SignedRecord, StoreLimit, UnixTime,
};

const T0: UnixTime = UnixTime(1_700_000_000_000);

fn aor(s: &str) -> Aor {
    Aor::parse(s).unwrap()
}

fn key(n: u8) -> Identity {
    Identity::from_secret_bytes([n; 32])
}

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

fn binding(contact: &str, expires_at: UnixTime, q: u16) -> Binding {
    let mut b = Binding::new(contact, expires_at, "call@ua", 1);
    b.q = QValue::from_thousandths(q).unwrap();
    b
}

fn signed(who: &Identity, aor_text: &str, version: u64, bindings: Vec<Binding>) -> SignedRecord {
    Record {
        aor: aor(aor_text),
        version,
        bindings,
    }
    .sign(who)
    .expect("sign")
}

/// Signed without [`Record::sign`]'s own check of the bindings, as a
/// hostile publisher would: what the store's door must refuse.
fn signed_unchecked(who: &Identity, aor_text: &str, bindings: Vec<Binding>) -> SignedRecord {
    let record = Record {
        aor: aor(aor_text),
        version: 1,
        bindings,
    };
    let publisher = who.public_key();
    let signature = who.sign(&lsp_core::signing_bytes(&publisher, &record).unwrap());
    SignedRecord {
        record,
        publisher,
        signature,
    }
}

fn service(config: LocalConfig) -> (Arc<ManualClock>, LocalLocationService) {
    let clock = Arc::new(ManualClock::new(T0));
    (
        clock.clone(),
        LocalLocationService::new(config.clock(clock)),
    )
}

fn contacts(s: &LocalLocationService, a: &str) -> Result<Vec<String>, Error> {
    Ok(s.query_sync(&aor(a))?
        .into_iter()
        .map(|b| b.contact)
        .collect())
}

#[test]
fn expiry_is_exact_and_lapsed_state_is_reclaimed() {
    let (clock, s) = service(LocalConfig::default());
    let rec = signed(
        &key(1),
        "sip:alice@example.com",
        1,
        vec![
            binding("sip:a@1", T0 + secs(10), 1000),
            binding("sip:a@2", T0 + secs(20), 1000),
        ],
    );
    s.publish_sync(&rec).unwrap();
    assert_eq!(
        contacts(&s, "sip:alice@example.com").unwrap(),
        ["sip:a@2", "sip:a@1"]
    );

    clock.set(UnixTime(T0.0 + 9_999));
    assert_eq!(contacts(&s, "sip:alice@example.com").unwrap().len(), 2);
    clock.set(T0 + secs(10));
    assert_eq!(contacts(&s, "sip:alice@example.com").unwrap(), ["sip:a@2"]);
    clock.set(T0 + secs(20));
    // Lapsed everywhere: gone, even before the sweep reclaims it.
    assert_eq!(
        contacts(&s, "sip:alice@example.com"),
        Err(Error::NotFound(aor("sip:alice@example.com")))
    );
    assert_eq!(s.stats().records, 1);
    assert_eq!(s.purge_expired(), 1);
    assert_eq!(
        (s.stats().aors, s.stats().records, s.stats().bytes),
        (0, 0, 0)
    );
}

#[test]
fn writes_sweep_lapsed_entries_in_the_background() {
    let (clock, s) = service(LocalConfig::default());
    for i in 0..500 {
        let a = format!("sip:u{i}@example.com");
        s.publish_sync(&signed(
            &key(1),
            &a,
            1,
            vec![binding("sip:x@1", T0 + secs(5), 1000)],
        ))
        .unwrap();
    }
    assert_eq!(s.stats().aors, 500);
    clock.advance(secs(6));
    // One shard per second of writes: a minute of writes sweeps them all.
    for i in 0..70 {
        clock.advance(secs(1));
        let a = format!("sip:new{i}@example.com");
        s.publish_sync(&signed(
            &key(1),
            &a,
            1,
            vec![binding("sip:x@1", T0 + secs(3600), 1000)],
        ))
        .unwrap();
    }
    assert_eq!(s.stats().aors, 70);
    assert_eq!(s.stats().records, 70);
}

#[test]
fn known_aor_without_live_binding_is_empty_not_missing() {
    let (_, s) = service(LocalConfig::default());
    let who = key(1);
    s.publish_sync(&signed(
        &who,
        "sip:bob@example.com",
        1,
        vec![binding("sip:b@1", T0 + secs(60), 500)],
    ))
    .unwrap();
    // Removing all bindings leaves a replay guard: known, but nothing live.
    s.publish_sync(&signed(&who, "sip:bob@example.com", 2, vec![]))
        .unwrap();
    assert_eq!(s.query_sync(&aor("sip:bob@example.com")).unwrap(), vec![]);
    assert_eq!(
        s.query_sync(&aor("sip:nobody@example.com")),
        Err(Error::NotFound(aor("sip:nobody@example.com")))
    );
}

#[test]
fn query_many_answers_each_aor_as_query_does() {
    let (clock, s) = service(LocalConfig::default());
    // Lapsed and unknown AORs mixed in.
    let mut asked = Vec::new();
    for i in 0..40u64 {
        let text = format!("sip:user{i}@example.com");
        if i % 5 != 4 {
            let lapses = T0 + secs(if i % 3 == 0 { 5 } else { 60 });
            let contact = format!("sip:u{i}@10.0.0.{i}");
            s.publish_sync(&signed(
                &key(1),
                &text,
                1,
                vec![binding(&contact, lapses, 1000)],
            ))
            .unwrap();
        }
        asked.push(aor(&text));
    }
    clock.set(T0 + secs(5));
    let one_by_one: Vec<_> = asked.iter().map(|a| s.query_sync(a)).collect();
    assert_eq!(s.query_many_sync(&asked), one_by_one);
    assert_eq!(block_on(s.query_many(&asked)), one_by_one);
    // Answers into one reused Vec: none carries over the last.
    let mut out = Vec::new();
    let mut borrowed = Vec::new();
    for a in &asked {
        borrowed.push(s.query_into(a, &mut out).map(|()| out.clone()));
    }
    assert_eq!(borrowed, one_by_one);
    let found = one_by_one
        .iter()
        .filter(|r| matches!(r, Ok(b) if !b.is_empty()));
    let missing = one_by_one
        .iter()
        .filter(|r| matches!(r, Err(Error::NotFound(_))));
    // 8 never published, 11 lapsed: both are unknown.
    assert_eq!((found.count(), missing.count()), (21, 19));
    assert!(s.query_many_sync(&[]).is_empty());
}

#[test]
fn contacts_come_highest_q_first_across_publishers() {
    let (_, s) = service(LocalConfig::default());
    s.publish_sync(&signed(
        &key(1),
        "sip:carol@example.com",
        1,
        vec![
            binding("sip:low@1", T0 + secs(60), 100),
            binding("sip:top@1", T0 + secs(60), 1000),
        ],
    ))
    .unwrap();
    s.publish_sync(&signed(
        &key(2),
        "sip:carol@example.com",
        1,
        vec![binding("sip:mid@2", T0 + secs(60), 500)],
    ))
    .unwrap();
    assert_eq!(
        contacts(&s, "sip:carol@example.com").unwrap(),
        ["sip:top@1", "sip:mid@2", "sip:low@1"]
    );
    assert_eq!(
        s.fetch_sync(&aor("sip:carol@example.com")).unwrap().len(),
        2
    );

    let carol = aor("sip:carol@example.com");
    let mut held = Vec::new();
    s.query_into(&carol, &mut held).unwrap();
    assert_eq!(held, s.query_sync(&carol).unwrap());
    let order: Vec<_> = held.iter().map(|b| b.contact.as_str()).collect();
    assert_eq!(order, ["sip:top@1", "sip:mid@2", "sip:low@1"]);
    // Holding an answer locks nothing: the same AOR can be written meanwhile.
    s.publish_sync(&signed(&key(2), "sip:carol@example.com", 2, vec![]))
        .unwrap();
    assert_eq!(held.len(), 3);
    assert_eq!(held[1].q, QValue::from_thousandths(500).unwrap());
    s.query_into(&carol, &mut held).unwrap();
    assert_eq!(held.len(), 2);
}

#[test]
fn equal_q_is_ordered_by_latest_expiry_then_contact() {
    let (_, s) = service(LocalConfig::default());
    s.publish_sync(&signed(
        &key(1),
        "sip:dave@example.com",
        1,
        vec![
            binding("sip:b@1", T0 + secs(60), 500),
            binding("sip:c@1", T0 + secs(90), 500),
            binding("sip:a@1", T0 + secs(60), 500),
            binding("sip:z@1", T0 + secs(30), 1000),
        ],
    ))
    .unwrap();
    let order = ["sip:z@1", "sip:c@1", "sip:a@1", "sip:b@1"];
    assert_eq!(contacts(&s, "sip:dave@example.com").unwrap(), order);
    let mut held = Vec::new();
    s.query_into(&aor("sip:dave@example.com"), &mut held)
        .unwrap();
    assert_eq!(
        held.iter().map(|b| b.contact.as_str()).collect::<Vec<_>>(),
        order
    );
}

#[test]
fn replays_and_forgeries_are_rejected_and_lose_nothing() {
    let (_, s) = service(LocalConfig::default());
    let who = key(1);
    let v5 = signed(
        &who,
        "sip:dave@example.com",
        5,
        vec![binding("sip:new@1", T0 + secs(60), 1000)],
    );
    let v4 = signed(
        &who,
        "sip:dave@example.com",
        4,
        vec![binding("sip:old@1", T0 + secs(90), 1000)],
    );
    s.publish_sync(&v5).unwrap();
    assert_eq!(
        s.publish_sync(&v4),
        Err(Error::Replay {
            stored: 5,
            offered: 4
        })
    );
    // The same record again is accepted as a no-op.
    assert!(s.publish_sync(&v5).unwrap().unchanged);
    // Same version, other content: a conflict, refused.
    let v5b = signed(&who, "sip:dave@example.com", 5, vec![]);
    assert_eq!(
        s.publish_sync(&v5b),
        Err(Error::Replay {
            stored: 5,
            offered: 5
        })
    );

    let mut forged = v5.clone();
    forged.record.version = 6;
    forged.record.bindings[0].contact = "sip:evil@6.6.6.6".into();
    assert_eq!(s.publish_sync(&forged), Err(Error::BadSignature));
    assert_eq!(contacts(&s, "sip:dave@example.com").unwrap(), ["sip:new@1"]);
}

#[test]
fn a_removal_keeps_older_versions_out_until_they_would_have_lapsed() {
    let (clock, s) = service(LocalConfig::default());
    let who = key(1);
    let v1 = signed(
        &who,
        "sip:erin@example.com",
        1,
        vec![binding("sip:e@1", T0 + secs(100), 1000)],
    );
    s.publish_sync(&v1).unwrap();
    s.publish_sync(&signed(&who, "sip:erin@example.com", 2, vec![]))
        .unwrap();
    clock.advance(secs(50));
    assert_eq!(
        s.publish_sync(&v1),
        Err(Error::Replay {
            stored: 2,
            offered: 1
        })
    );
    clock.advance(secs(60));
    // v1's binding has lapsed by now, so replaying it can show nothing.
    s.publish_sync(&v1).unwrap();
    assert_eq!(
        contacts(&s, "sip:erin@example.com"),
        Err(Error::NotFound(aor("sip:erin@example.com")))
    );
}

#[test]
fn first_come_first_served_owns_an_aor_while_its_record_lives() {
    let (clock, s) = service(LocalConfig::default().policy(FirstComeFirstServed));
    let (alice, mallory) = (key(1), key(2));
    s.publish_sync(&signed(
        &alice,
        "sip:alice@p2p.example",
        1,
        vec![binding("sip:a@1", T0 + secs(30), 1000)],
    ))
    .unwrap();
    let grab = signed(
        &mallory,
        "sip:alice@p2p.example",
        9,
        vec![binding("sip:m@1", T0 + secs(90), 1000)],
    );
    assert!(matches!(s.publish_sync(&grab), Err(Error::Unauthorized(_))));
    // The owner refreshes freely.
    s.publish_sync(&signed(
        &alice,
        "sip:alice@p2p.example",
        2,
        vec![binding("sip:a@2", T0 + secs(30), 1000)],
    ))
    .unwrap();
    clock.advance(secs(31));
    // Once alice's record lapses, the name is free again.
    s.publish_sync(&grab).unwrap();
    assert_eq!(contacts(&s, "sip:alice@p2p.example").unwrap(), ["sip:m@1"]);
}

#[test]
fn domain_trust_anchors_admit_only_the_domains_registrars() {
    let (registrar, other) = (key(1), key(2));
    let policy = DomainTrustAnchors::new().trust("Example.COM", registrar.public_key());
    let (_, s) = service(LocalConfig::default().policy(policy));
    let b = || vec![binding("sip:x@1", T0 + secs(30), 1000)];
    s.publish_sync(&signed(&registrar, "sip:alice@example.com", 1, b()))
        .unwrap();
    let err = s
        .publish_sync(&signed(&other, "sip:alice@example.com", 1, b()))
        .unwrap_err();
    assert!(
        err == Error::Unauthorized(AccessRefusal::NotAnAnchor {
            domain: "example.com".into()
        }),
        "{err}"
    );
    let err = s
        .publish_sync(&signed(&registrar, "sip:alice@elsewhere.org", 1, b()))
        .unwrap_err();
    assert!(
        err == Error::Unauthorized(AccessRefusal::NoAnchor {
            domain: "elsewhere.org".into()
        }),
        "{err}"
    );
}

#[test]
fn anchored_domains_with_a_fallback_for_other_hosts() {
    let (registrar, ua, mallory) = (key(1), key(2), key(3));
    let policy = DomainTrustAnchors::new()
        .trust("example.com", registrar.public_key())
        .otherwise(FirstComeFirstServed);
    let (_, s) = service(LocalConfig::default().policy(policy));
    let b = || vec![binding("sip:x@1", T0 + secs(30), 1000)];
    // The anchored domain stays the registrar's, even for a first writer.
    let err = s
        .publish_sync(&signed(&ua, "sip:alice@example.com", 1, b()))
        .unwrap_err();
    assert!(matches!(
        &err,
        Error::Unauthorized(AccessRefusal::NotAnAnchor { .. })
    ));
    // Any other host is first come, first served.
    s.publish_sync(&signed(&ua, "sip:carol@p2p.example", 1, b()))
        .unwrap();
    let err = s
        .publish_sync(&signed(&mallory, "sip:carol@p2p.example", 2, b()))
        .unwrap_err();
    assert_eq!(err, Error::Unauthorized(AccessRefusal::OwnedByAnotherKey));
}

#[test]
fn open_policy_admits_anyone() {
    let (_, s) = service(LocalConfig::default().policy(OpenPolicy));
    for n in 1..5 {
        let rec = signed(
            &key(n),
            "sip:shared@example.com",
            1,
            vec![binding(&format!("sip:{n}@h"), T0 + secs(9), 1000)],
        );
        s.publish_sync(&rec).unwrap();
    }
    assert_eq!(contacts(&s, "sip:shared@example.com").unwrap().len(), 4);
}

#[test]
fn limits_are_typed_errors() {
    let mut limits = StoreLimits::default();
    limits.max_records = 2;
    limits.max_bindings = 3;
    limits.max_ttl = secs(3600);
    limits.max_record_bytes = 600;
    let (_, s) = service(LocalConfig::default().limits(limits));
    let b = |c: &str| binding(c, T0 + secs(60), 1000);
    s.publish_sync(&signed(&key(1), "sip:a@example.com", 1, vec![b("sip:1")]))
        .unwrap();
    s.publish_sync(&signed(&key(1), "sip:b@example.com", 1, vec![b("sip:1")]))
        .unwrap();
    assert_eq!(
        s.publish_sync(&signed(&key(1), "sip:c@example.com", 1, vec![b("sip:1")])),
        Err(Error::StoreFull(StoreLimit::Records { limit: 2 }))
    );
    // Updating an existing record does not need room.
    s.publish_sync(&signed(&key(1), "sip:a@example.com", 2, vec![b("sip:2")]))
        .unwrap();
    let four = vec![b("sip:1"), b("sip:2"), b("sip:3"), b("sip:4")];
    assert_eq!(
        s.publish_sync(&signed(&key(1), "sip:a@example.com", 3, four)),
        Err(Error::StoreFull(StoreLimit::BindingsPerRecord { limit: 3 }))
    );
    let far = vec![binding("sip:1", T0 + secs(3601), 1000)];
    assert!(matches!(
        s.publish_sync(&signed(&key(1), "sip:a@example.com", 3, far)),
        Err(Error::InvalidBinding(_))
    ));
    let big = vec![b(&format!("sip:{}", "x".repeat(600)))];
    assert!(matches!(
        s.publish_sync(&signed(&key(1), "sip:a@example.com", 3, big)),
        Err(Error::RecordTooLarge { limit: 600, .. })
    ));
    assert_eq!(contacts(&s, "sip:a@example.com").unwrap(), ["sip:2"]);

    let mut limits = StoreLimits::default();
    limits.max_bytes = 300;
    let (_, s) = service(LocalConfig::default().limits(limits));
    s.publish_sync(&signed(&key(1), "sip:a@example.com", 1, vec![b("sip:1")]))
        .unwrap();
    assert_eq!(
        s.publish_sync(&signed(&key(1), "sip:b@example.com", 1, vec![b("sip:1")])),
        Err(Error::StoreFull(StoreLimit::Bytes { limit: 300 }))
    );
}

#[test]
fn bindings_that_would_break_a_sip_message_are_refused() {
    let (_, s) = service(LocalConfig::default());
    let live = T0 + secs(60);
    let with = |f: &dyn Fn(&mut Binding)| {
        let mut b = binding("sip:alice@192.0.2.4", live, 1000);
        f(&mut b);
        vec![b]
    };
    let attacks: Vec<(&str, Vec<Binding>)> = vec![
        (
            "CRLF in Contact",
            with(&|b| b.contact = "sip:a@x\r\nVia: evil".into()),
        ),
        (
            "LF in Contact",
            with(&|b| b.contact = "sip:a@x\nX: y".into()),
        ),
        ("> in Contact", with(&|b| b.contact = "sip:a@x>;q=1".into())),
        (
            "space in Contact",
            with(&|b| b.contact = "sip:a@x y".into()),
        ),
        ("empty Contact", with(&|b| b.contact = String::new())),
        (
            "Contact not a URI",
            with(&|b| b.contact = "not-a-uri".into()),
        ),
        (
            "Contact without scheme",
            with(&|b| b.contact = ":a@x".into()),
        ),
        (
            "Contact with a digit first",
            with(&|b| b.contact = "1sip:a@x".into()),
        ),
        (
            "Contact of a scheme alone",
            with(&|b| b.contact = "sip:".into()),
        ),
        (
            "quote in instance",
            with(&|b| b.instance = Some("<urn:x>\";evil".into())),
        ),
        (
            "unbalanced instance",
            with(&|b| b.instance = Some("<urn:x".into())),
        ),
        (
            "CR in Path",
            with(&|b| b.path = vec!["<sip:p@x>\rX: y".into()]),
        ),
        (
            "unbalanced Path",
            with(&|b| b.path = vec!["<sip:p@x".into()]),
        ),
        ("space in Call-ID", with(&|b| b.call_id = "a b".into())),
    ];
    for (i, (what, bindings)) in attacks.into_iter().enumerate() {
        let aor_text = format!("sip:user{i}@example.com");
        let record = Record {
            aor: aor(&aor_text),
            version: 1,
            bindings: bindings.clone(),
        };
        assert!(
            matches!(record.sign(&key(1)), Err(Error::InvalidBinding(_))),
            "{what} was signed"
        );
        assert!(
            matches!(
                s.publish_sync(&signed_unchecked(&key(1), &aor_text, bindings)),
                Err(Error::InvalidBinding(_))
            ),
            "{what} was stored"
        );
        assert!(contacts(&s, &aor_text).is_err(), "{what}");
    }
    let fine = with(&|b| {
        b.instance = Some("<urn:uuid:00000000-0000-1000-8000-000A95A0E128>".into());
        b.path = vec!["\"Edge \\\"1\\\"\" <sip:edge@192.0.2.1;lr>".into()];
    });
    s.publish_sync(&signed(&key(1), "sip:ok@example.com", 1, fine))
        .unwrap();
}

#[test]
fn refresh_and_remove_one_binding_through_the_trait() {
    let (clock, s) = service(LocalConfig::default().policy(FirstComeFirstServed));
    let me = key(3);
    let a = aor("sip:frank@example.com");
    block_on(async {
        s.refresh_binding(&me, &a, binding("sip:f@desk", T0 + secs(60), 1000))
            .await
            .unwrap();
        s.refresh_binding(&me, &a, binding("sip:f@mobile", T0 + secs(60), 500))
            .await
            .unwrap();
        clock.advance(secs(50));
        // Refreshing one flow replaces it and leaves the other alone.
        s.refresh_binding(&me, &a, binding("sip:f@desk", T0 + secs(110), 1000))
            .await
            .unwrap();
        clock.advance(secs(20));
        assert_eq!(contacts(&s, a.as_str()).unwrap(), ["sip:f@desk"]);
        s.remove_binding(&me, &a, "sip:f@desk").await.unwrap();
        assert_eq!(s.query(&a).await.unwrap(), vec![]);
        // The lapsed mobile binding was pruned from the record, not carried on.
        assert!(s.fetch_sync(&a).unwrap()[0].record.bindings.is_empty());
        let l = s.lookup(a.resource_id()).await.unwrap();
        assert_eq!((l.peers.len(), l.hops), (1, 0));
    });
}

#[test]
fn concurrent_writers_and_readers() {
    let (_, s) = service(LocalConfig::default());
    let s = Arc::new(s);
    let threads: Vec<_> = (0..4u8)
        .map(|t| {
            let s = s.clone();
            std::thread::spawn(move || {
                let who = key(t + 1);
                for i in 0..300 {
                    let a = format!("sip:t{t}u{i}@example.com");
                    s.publish_sync(&signed(
                        &who,
                        &a,
                        1,
                        vec![binding("sip:c@1", T0 + secs(60), 1000)],
                    ))
                    .unwrap();
                    assert_eq!(contacts(&s, &a).unwrap(), ["sip:c@1"]);
                    // Everyone also writes one shared AOR, version by version.
                    let shared = signed(
                        &who,
                        "sip:hot@example.com",
                        i + 1,
                        vec![binding("sip:h@1", T0 + secs(60), 1000)],
                    );
                    s.publish_sync(&shared).unwrap();
                }
            })
        })
        .collect();
    // Queries that repeat AORs and span shards, read while the writers write.
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let readers: Vec<_> = (0..2)
        .map(|_| {
            let (s, done) = (s.clone(), done.clone());
            std::thread::spawn(move || {
                let hot = aor("sip:hot@example.com");
                let mut asked = vec![hot.clone(), hot.clone()];
                asked.extend((0..30).map(|i| aor(&format!("sip:t{}u{i}@example.com", i % 4))));
                asked.push(hot);
                let mut bursts = 0;
                while !done.load(std::sync::atomic::Ordering::Relaxed) || bursts == 0 {
                    for answer in s.query_many_sync(&asked) {
                        match answer {
                            Ok(b) => assert!(b.iter().all(|b| b.contact.ends_with("@1"))),
                            Err(e) => assert!(matches!(e, Error::NotFound(_)), "{e}"),
                        }
                    }
                    bursts += 1;
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    done.store(true, std::sync::atomic::Ordering::Relaxed);
    for r in readers {
        r.join().unwrap();
    }
    assert_eq!(s.stats().aors, 1201);
    assert_eq!(s.stats().records, 1204);
    assert_eq!(s.fetch_sync(&aor("sip:hot@example.com")).unwrap().len(), 4);
}

#[cfg(feature = "disk")]
#[test]
fn a_restarted_service_keeps_live_records_and_drops_lapsed_ones() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("lsp.redb");
    let clock = Arc::new(ManualClock::new(T0));
    let config = || {
        LocalConfig::default()
            .policy(FirstComeFirstServed)
            .clock(clock.clone())
    };
    {
        let s = LocalLocationService::open(&path, config()).unwrap();
        let who = key(1);
        s.publish_sync(&signed(
            &who,
            "sip:long@example.com",
            1,
            vec![binding("sip:l@1", T0 + secs(3600), 1000)],
        ))
        .unwrap();
        s.publish_sync(&signed(
            &who,
            "sip:short@example.com",
            1,
            vec![binding("sip:s@1", T0 + secs(10), 1000)],
        ))
        .unwrap();
        s.publish_sync(&signed(
            &who,
            "sip:gone@example.com",
            1,
            vec![binding("sip:g@1", T0 + secs(3600), 1000)],
        ))
        .unwrap();
        // A removal reaches the disk too; its replay guard survives.
        s.publish_sync(&signed(&who, "sip:gone@example.com", 2, vec![]))
            .unwrap();
    }
    clock.advance(secs(60));
    let s = LocalLocationService::open(&path, config()).unwrap();
    assert_eq!(contacts(&s, "sip:long@example.com").unwrap(), ["sip:l@1"]);
    assert_eq!(
        contacts(&s, "sip:short@example.com"),
        Err(Error::NotFound(aor("sip:short@example.com")))
    );
    assert_eq!(
        contacts(&s, "sip:gone@example.com").unwrap(),
        Vec::<String>::new()
    );
    let replay = signed(
        &key(1),
        "sip:gone@example.com",
        1,
        vec![binding("sip:g@1", T0 + secs(3600), 1000)],
    );
    assert_eq!(
        s.publish_sync(&replay),
        Err(Error::Replay {
            stored: 2,
            offered: 1
        })
    );
    assert_eq!(s.stats().aors, 2);
    // Ownership survives the restart as well.
    let grab = signed(&key(9), "sip:long@example.com", 5, vec![]);
    assert!(matches!(s.publish_sync(&grab), Err(Error::Unauthorized(_))));
    drop(s);
    // The lapsed entry was also dropped from the file.
    clock.advance(secs(1));
    let s = LocalLocationService::open(&path, config()).unwrap();
    assert_eq!(s.stats().aors, 2);
}

#[test]
fn live_bindings_merges_and_orders_like_a_query() {
    let r1 = Record {
        aor: aor("sip:a@x.org"),
        version: 1,
        bindings: vec![
            binding("sip:low@h", T0 + secs(60), 100),
            binding("sip:gone@h", T0 + secs(1), 900),
        ],
    };
    let mut r2 = r1.clone();
    r2.bindings = vec![binding("sip:high@h", T0 + secs(30), 900)];
    let got: Vec<String> = lsp_core::live_bindings([&r1, &r2], T0 + secs(2))
        .into_iter()
        .map(|b| b.contact)
        .collect();
    assert_eq!(got, ["sip:high@h", "sip:low@h"]);
}
