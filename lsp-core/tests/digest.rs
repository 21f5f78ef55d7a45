//! Replica digests under replacement: two stores that take their digests
//! while a write is on its way to one of them still agree on what had
//! settled.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use lsp_core::store::{RecordStore, StoreLimits};
use lsp_core::{Aor, Binding, Identity, OpenPolicy, Record, SignedRecord, UnixTime};

const T0: UnixTime = UnixTime(1_700_000_000_000);
const SETTLE: Duration = Duration::from_secs(10);

fn version(at: UnixTime, contact: &str) -> SignedRecord {
    let aor = Aor::parse("sip:a@x.org").unwrap();
    let mut r = Record::new(aor, at.as_millis());
    let expires = UnixTime(T0.as_millis() + 3_600_000);
    r.bindings.push(Binding::new(contact, expires, "c", 1));
    r.sign(&Identity::from_secret_bytes([3; 32])).unwrap()
}

fn put(store: &RecordStore, r: &SignedRecord, now: UnixTime) {
    store.publish(r, &OpenPolicy, now, |_| Ok(())).unwrap();
}

fn digest(store: &RecordStore, at: UnixTime) -> [u8; 32] {
    let settled_before = at.as_millis() - SETTLE.as_millis() as u64;
    store.digest_settled(at, settled_before, |_| true)
}

fn ms(n: u64) -> UnixTime {
    UnixTime(T0.as_millis() + n)
}

#[test]
fn replicas_agree_while_a_replacement_is_on_its_way() {
    let replica = || RecordStore::with_shards(StoreLimits::default(), 1).remember_replaced(SETTLE);
    let (x, y) = (replica(), replica());
    let old = version(UnixTime(T0.as_millis() - 60_000), "sip:a@old");
    put(&x, &old, ms(0));
    put(&y, &old, ms(0));
    let settled = digest(&x, ms(1));
    assert_eq!(settled, digest(&y, ms(1)));

    // x has the re-registration, y not yet: both count the old record.
    let new = version(ms(0), "sip:a@new");
    put(&x, &new, ms(0));
    assert_eq!(digest(&x, ms(1)), settled);
    assert_eq!(digest(&y, ms(1)), settled);
    // Another before the first settles: x still counts the old one.
    let newer = version(ms(2_000), "sip:a@newer");
    put(&x, &newer, ms(2_000));
    put(&y, &new, ms(2_000));
    assert_eq!(digest(&x, ms(2_001)), settled);
    assert_eq!(digest(&y, ms(2_001)), settled);

    // Once the writes have settled, both count the newest.
    put(&y, &newer, ms(2_001));
    let later = ms(12_001);
    assert_eq!(digest(&x, later), digest(&y, later));
    assert_ne!(digest(&x, later), settled);
}

#[test]
fn without_it_the_replica_that_has_the_write_differs() {
    let (x, y) = (
        RecordStore::with_shards(StoreLimits::default(), 1),
        RecordStore::with_shards(StoreLimits::default(), 1),
    );
    let old = version(UnixTime(T0.as_millis() - 60_000), "sip:a@old");
    put(&x, &old, ms(0));
    put(&y, &old, ms(0));
    put(&x, &version(ms(0), "sip:a@new"), ms(0));
    assert_ne!(digest(&x, ms(1)), digest(&y, ms(1)));
}
