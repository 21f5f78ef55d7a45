//! `RecordStore` on its own: hand-over, answers into a reused buffer,
//! listing and digests of live records.
#![allow(clippy::unwrap_used)]

use lsp_core::UnixTime;
use lsp_core::store::{RecordStore, StoreLimits};
use lsp_core::{
    Aor, Binding, Error, FirstComeFirstServed, Identity, OpenPolicy, Record, SignedRecord,
};

const T0: UnixTime = UnixTime(1_700_000_000_000);

fn secs(s: u64) -> std::time::Duration {
    std::time::Duration::from_secs(s)
}

fn signed(user: &str, key: u8) -> SignedRecord {
    let mut rec = Record::new(Aor::parse(&format!("sip:{user}@example.com")).unwrap(), 1);
    rec.bindings = vec![Binding::new("sip:x@10.0.0.3", UnixTime(9000), "c", 1)];
    rec.sign(&Identity::from_secret_bytes([key; 32])).unwrap()
}

#[test]
fn forget_drops_an_entry_only_when_every_record_was_handed_over() {
    let store = RecordStore::new(StoreLimits::default());
    let now = UnixTime(1000);
    let (a, b) = (signed("carol", 1), signed("carol", 2));
    for r in [&a, &b] {
        store.publish(r, &OpenPolicy, now, |_| Ok(())).unwrap();
    }
    let aor = a.record.aor.clone();
    let a_bytes = a.to_bytes().unwrap();
    assert!(!store.forget(&aor, |bytes| bytes == a_bytes.as_slice()));
    assert_eq!(store.stats().records, 2, "b was not handed over");
    let both = [a_bytes, b.to_bytes().unwrap()];
    assert!(store.forget(&aor, |bytes| both.iter().any(|h| h == bytes)));
    let stats = store.stats();
    assert_eq!((stats.aors, stats.records, stats.bytes), (0, 0, 0));
    let unknown = signed("dave", 1).record.aor;
    assert!(!store.forget(&unknown, |_| true));
    store
        .publish(&a, &FirstComeFirstServed, now, |_| Ok(()))
        .unwrap();
    assert_eq!(store.stats().records, 1, "the AOR can be stored again");
}

#[test]
fn a_reused_vec_keeps_its_strings_across_hits_and_a_miss_empties_it() {
    let store = RecordStore::new(StoreLimits::default());
    let (erin, dave) = (signed("erin", 9), signed("dave", 9));
    for rec in [&erin, &dave] {
        store
            .publish(rec, &OpenPolicy, UnixTime(1000), |_| Ok(()))
            .unwrap();
    }
    let mut out = Vec::new();
    store
        .query_into(&erin.record.aor, UnixTime(1000), &mut out)
        .unwrap();
    assert_eq!(out[0].contact, "sip:x@10.0.0.3");
    let at = out[0].contact.as_ptr() as usize;
    store
        .query_into(&dave.record.aor, UnixTime(1000), &mut out)
        .unwrap();
    assert_eq!(out.len(), 1);
    assert_eq!(
        out[0].contact.as_ptr() as usize,
        at,
        "the string was reused"
    );

    let missing = Aor::parse("sip:nobody@example.com").unwrap();
    let miss = store.query_into(&missing, UnixTime(1000), &mut out);
    assert_eq!(miss, Err(Error::NotFound(missing)));
    assert!(out.is_empty(), "a miss leaves no stale answer behind");
}

#[test]
fn one_buffer_answers_bindings_of_every_shape_as_query_does() {
    let store = RecordStore::new(StoreLimits::default());
    let now = UnixTime(1000);
    let full = |contact: &str, paths: usize| {
        let mut b = Binding::new(contact, UnixTime(9000), "call-full", 2);
        b.instance = Some("<urn:uuid:00000000-0000-0000-0000-000000000001>".into());
        b.reg_id = Some(1);
        b.path = (0..paths)
            .map(|i| format!("<sip:edge{i}.example;lr>"))
            .collect();
        b
    };
    let shapes = [
        vec![
            full("sip:a@10.0.0.1", 2),
            Binding::new("sip:a@10.0.0.2", UnixTime(8000), "c", 1),
        ],
        vec![Binding::new("sip:b@10.0.0.3", UnixTime(9000), "c", 1)],
        vec![
            full("sip:c@10.0.0.4", 1),
            full("sip:c@10.0.0.5", 3),
            full("sip:c@10.0.0.6", 0),
        ],
    ];
    let mut aors = Vec::new();
    for (i, bindings) in shapes.into_iter().enumerate() {
        let mut rec = Record::new(Aor::parse(&format!("sip:shape{i}@example.com")).unwrap(), 1);
        rec.bindings = bindings;
        let rec = rec.sign(&Identity::from_secret_bytes([1; 32])).unwrap();
        store.publish(&rec, &OpenPolicy, now, |_| Ok(())).unwrap();
        aors.push(rec.record.aor);
    }
    let mut out = Vec::new();
    for aor in aors.iter().chain(&aors).rev().chain(&aors) {
        store.query_into(aor, now, &mut out).unwrap();
        assert_eq!(out, store.query(aor, now).unwrap());
    }
}

#[test]
fn a_purge_drops_the_lapsed_entries_and_keeps_the_live_ones() {
    let store = RecordStore::with_shards(StoreLimits::default(), 1);
    let id = Identity::from_secret_bytes([4; 32]);
    for i in 0..2000 {
        let mut rec = Record::new(Aor::parse(&format!("sip:u{i}@example.com")).unwrap(), 1);
        let lapses = UnixTime(if i < 1990 { 2000 } else { 9000 });
        rec.bindings = vec![Binding::new("sip:x@10.0.0.3", lapses, "c", 1)];
        let rec = rec.sign(&id).unwrap();
        store
            .publish(&rec, &OpenPolicy, UnixTime(1000), |_| Ok(()))
            .unwrap();
    }
    let full = format!("{store:?}");
    assert_eq!(store.purge_shard(0, UnixTime(3000), |_| {}), 1990);
    let stats = store.stats();
    assert_eq!((stats.aors, stats.records), (10, 10));
    assert_eq!(
        store
            .query(
                &Aor::parse("sip:u1995@example.com").unwrap(),
                UnixTime(3000)
            )
            .unwrap()
            .len(),
        1
    );
    assert!(full.contains("aors: 2000"), "{full}");
}

#[test]
fn records_checked_in_a_batch_are_stored_without_a_second_check_and_a_forgery_is_not() {
    let store = RecordStore::new(StoreLimits::default());
    let good: Vec<SignedRecord> = (0..6).map(|i| signed(&format!("u{i}"), 3)).collect();
    let mut forged = signed("mallory", 3);
    forged.record.bindings[0].contact = "sip:evil@10.6.6.6".into();
    let mut ahead = lsp_core::CheckedAhead::new(64);
    let mut batch: Vec<&SignedRecord> = good.iter().collect();
    batch.insert(3, &forged);
    // The forgery fails the batch; each is then checked alone.
    assert_eq!(ahead.check(&batch), 6);
    assert_eq!(ahead.len(), 6);
    assert_eq!(
        ahead.check(&good.iter().collect::<Vec<_>>()),
        6,
        "one batch"
    );
    assert_eq!(ahead.len(), 6, "the same records are remembered once");
    for r in &good {
        store
            .publish_checked(r, &mut ahead, &OpenPolicy, UnixTime(1000), |_| Ok(()))
            .unwrap();
    }
    assert!(ahead.is_empty(), "each check vouches for one store");
    assert!(matches!(
        store.publish_checked(&forged, &mut ahead, &OpenPolicy, UnixTime(1000), |_| Ok(())),
        Err(Error::BadSignature)
    ));
    // A record the batch never saw is checked as publish checks it.
    let late = signed("late", 4);
    store
        .publish_checked(&late, &mut ahead, &OpenPolicy, UnixTime(1000), |_| Ok(()))
        .unwrap();
    assert_eq!(store.stats().records, 7);
}

#[test]
fn checked_ahead_holds_at_most_its_cap() {
    let records: Vec<SignedRecord> = (0..10).map(|i| signed(&format!("c{i}"), 5)).collect();
    let mut ahead = lsp_core::CheckedAhead::new(4);
    assert_eq!(ahead.check(&records.iter().collect::<Vec<_>>()), 10);
    assert_eq!(ahead.len(), 4);
    // The newest are kept: the last one is taken, the first one checked.
    let store = RecordStore::new(StoreLimits::default());
    let mut bad_first = records[0].clone();
    bad_first.signature = records[1].signature;
    assert!(
        store
            .publish_checked(&bad_first, &mut ahead, &OpenPolicy, UnixTime(1000), |_| Ok(
                ()
            ))
            .is_err()
    );
    store
        .publish_checked(&records[9], &mut ahead, &OpenPolicy, UnixTime(1000), |_| {
            Ok(())
        })
        .unwrap();
    assert_eq!(ahead.len(), 3);
}

/// One key without authority over its AORs holds at most its share of the
/// store (here 400 / 64 = 6 records), so it cannot fill the store every
/// other publisher needs; a domain's trust anchor is not limited so, and a
/// share comes back as its records lapse.
#[test]
fn one_publisher_holds_at_most_its_share_unless_the_policy_vouches() {
    use lsp_core::{DomainTrustAnchors, StoreLimit};
    let mut limits = StoreLimits::default();
    limits.max_records = 400;
    let store = RecordStore::new(limits);
    let now = UnixTime(1000);
    let mut stored = 0;
    let mut refused = None;
    for n in 0..600 {
        match store.publish(
            &signed(&format!("u{n}"), 66),
            &FirstComeFirstServed,
            now,
            |_| Ok(()),
        ) {
            Ok(_) => stored += 1,
            Err(e) => {
                refused = Some(e);
                break;
            }
        }
    }
    assert_eq!(stored, 6);
    assert_eq!(refused, Some(StoreLimit::PerPublisher { limit: 6 }.into()));
    store
        .publish(&signed("honest", 7), &FirstComeFirstServed, now, |_| Ok(()))
        .expect("another publisher's first record is stored");
    // Its own AORs it may still update.
    let mut newer = signed("u0", 66).record.clone();
    newer.version = 2;
    let newer = newer.sign(&Identity::from_secret_bytes([66; 32])).unwrap();
    store
        .publish(&newer, &FirstComeFirstServed, now, |_| Ok(()))
        .expect("an update");

    let anchor = Identity::from_secret_bytes([5; 32]);
    let domain = DomainTrustAnchors::new().trust("example.com", anchor.public_key());
    for n in 0..50 {
        let r = signed(&format!("d{n}"), 5);
        store
            .publish(&r, &domain, now, |_| Ok(()))
            .expect("the anchor is vouched for");
    }
    // The limited key's records lapse (bindings end at 9000): purged, its
    // share comes back.
    for i in 0..store.shard_count() {
        store.purge_shard(i, UnixTime(100_000), |_| {});
    }
    let later = signed("late", 66);
    let mut late = later.record.clone();
    late.bindings = vec![Binding::new("sip:x@10.0.0.3", UnixTime(200_000), "c", 1)];
    let late = late.sign(&Identity::from_secret_bytes([66; 32])).unwrap();
    store
        .publish(&late, &FirstComeFirstServed, UnixTime(100_000), |_| Ok(()))
        .expect("room again");
}

/// Two records of one publisher: a lives 60 s, b 5 s.
fn a_and_b() -> (SignedRecord, SignedRecord) {
    (lasting("a", 1, 60), lasting("b", 1, 5))
}

/// `user`'s record at `version`, one binding that lives `lives` seconds from T0.
fn lasting(user: &str, version: u64, lives: u64) -> SignedRecord {
    let mut rec = Record::new(Aor::parse(&format!("sip:{user}@x.org")).unwrap(), version);
    let contact = format!("sip:{user}@1.2.3.4");
    rec.bindings = vec![Binding::new(&contact, T0 + secs(lives), "c", 1)];
    rec.sign(&Identity::from_secret_bytes([1; 32])).unwrap()
}

#[test]
fn record_store_lists_live_records_by_resource_id() {
    let store = RecordStore::with_shards(StoreLimits::default(), 1);
    assert_eq!(store.shard_count(), 1);
    let (a, b) = a_and_b();
    for r in [&a, &b] {
        store.publish(r, &OpenPolicy, T0, |_| Ok(())).unwrap();
    }
    let rid_a = a.record.aor.resource_id();
    let only_a = store.records_where(T0, |rid| rid == rid_a);
    assert_eq!(only_a, vec![(rid_a, a.clone())]);
    assert_eq!(store.records_where(T0, |_| true).len(), 2);
    // b lapses after 5 s and is no longer listed.
    assert_eq!(
        store.records_where(T0 + secs(6), |_| true),
        vec![(rid_a, a)]
    );
}

#[test]
fn record_store_digests_agree_only_on_equal_live_records() {
    let one = RecordStore::with_shards(StoreLimits::default(), 1);
    let other = RecordStore::new(StoreLimits::default());
    let (a, b) = a_and_b();
    let all = |_| true;
    assert_eq!(one.digest_where(T0, all), [0; 32]);
    // Same records, stored in another order and another shard layout.
    for r in [&a, &b] {
        one.publish(r, &OpenPolicy, T0, |_| Ok(())).unwrap();
    }
    other.publish(&b, &OpenPolicy, T0, |_| Ok(())).unwrap();
    assert_ne!(one.digest_where(T0, all), other.digest_where(T0, all));
    other.publish(&a, &OpenPolicy, T0, |_| Ok(())).unwrap();
    assert_eq!(one.digest_where(T0, all), other.digest_where(T0, all));
    assert_ne!(one.digest_where(T0, all), [0; 32]);
    // Only the wanted Resource-IDs count.
    let rid_a = a.record.aor.resource_id();
    let fresh = RecordStore::new(StoreLimits::default());
    fresh.publish(&a, &OpenPolicy, T0, |_| Ok(())).unwrap();
    assert_eq!(
        one.digest_where(T0, |rid| rid == rid_a),
        fresh.digest_where(T0, all)
    );
    // A newer version changes the digest.
    let a2 = lasting("a", 2, 60);
    other.publish(&a2, &OpenPolicy, T0, |_| Ok(())).unwrap();
    assert_ne!(one.digest_where(T0, all), other.digest_where(T0, all));
    // Once b's binding lapses, it no longer counts.
    assert_eq!(
        one.digest_where(T0 + secs(6), all),
        fresh.digest_where(T0 + secs(6), all)
    );
}
