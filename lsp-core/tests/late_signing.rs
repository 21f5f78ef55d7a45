//! `publish_as` on the embedded store: a record is kept unsigned until it is
//! handed out, and then carries the signature it would have had at once.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Duration;

use lsp_core::{
    Aor, Binding, Error, Identity, LocalConfig, LocalLocationService, ManualClock, Record,
    Signature, SignedRecord, UnixTime,
};

const T0: UnixTime = UnixTime(1_700_000_000_000);

fn record(aor: &str, version: u64, contact: &str) -> Record {
    let mut r = Record::new(Aor::parse(aor).unwrap(), version);
    r.bindings.push(Binding::new(
        contact,
        T0 + Duration::from_secs(3600),
        "c@ua",
        1,
    ));
    r
}

fn service() -> LocalLocationService {
    LocalLocationService::new(LocalConfig::default().clock(Arc::new(ManualClock::new(T0))))
}

#[test]
fn a_record_kept_unsigned_is_fetched_with_the_signature_it_would_have_had_at_once() {
    let s = service();
    let signer = Arc::new(Identity::from_secret_bytes([3; 32]));
    let rec = record("sip:alice@example.com", 1, "sip:alice@10.0.0.1");
    s.publish_as_sync(&signer, rec.clone()).unwrap();

    let bindings = s.query_sync(&rec.aor).unwrap();
    assert_eq!(bindings, rec.bindings);
    let fetched = s.fetch_sync(&rec.aor).unwrap();
    assert_eq!(fetched, [rec.clone().sign(&signer).unwrap()]);
    fetched[0].verify().unwrap();

    // Versions still only go forward, unsigned or not.
    let older = record("sip:alice@example.com", 1, "sip:alice@10.0.0.2");
    assert!(matches!(
        s.publish_as_sync(&signer, older),
        Err(Error::Replay { .. })
    ));
    // The same record once more changes nothing.
    assert!(s.publish_as_sync(&signer, rec).unwrap().unchanged);
}

#[test]
fn a_record_from_outside_with_an_empty_signature_slot_is_refused() {
    let s = service();
    let signer = Arc::new(Identity::from_secret_bytes([3; 32]));
    s.publish_as_sync(&signer, record("sip:alice@example.com", 1, "sip:a@1"))
        .unwrap();
    // Someone else sends a record in the signer's name with the slot that
    // late-signed records have: it must not be taken, nor signed on fetch.
    let forged = SignedRecord {
        record: record("sip:alice@example.com", 2, "sip:evil@6.6.6.6"),
        publisher: signer.public_key(),
        signature: Signature([0; 64]),
    };
    assert_eq!(s.publish_sync(&forged), Err(Error::BadSignature));
    let held = s.fetch_sync(&forged.record.aor).unwrap();
    assert_eq!(held.len(), 1);
    assert_eq!(held[0].record.version, 1);
}

#[test]
fn signers_beyond_the_late_signing_bound_are_signed_at_once_and_all_verify() {
    let s = service();
    let signers: Vec<Arc<Identity>> = (1..=12u8)
        .map(|n| Arc::new(Identity::from_secret_bytes([n; 32])))
        .collect();
    for (i, signer) in signers.iter().enumerate() {
        let contact = format!("sip:ua{i}@10.0.0.1");
        s.publish_as_sync(signer, record("sip:shared@example.com", 1, &contact))
            .unwrap();
    }
    let fetched = s
        .fetch_sync(&Aor::parse("sip:shared@example.com").unwrap())
        .unwrap();
    assert_eq!(fetched.len(), signers.len());
    for r in &fetched {
        r.verify().unwrap();
    }
}

#[cfg(feature = "disk")]
#[test]
fn a_store_on_disk_signs_at_once_so_that_its_file_verifies_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("lsp.redb");
    let config = || LocalConfig::default().clock(Arc::new(ManualClock::new(T0)));
    let signer = Arc::new(Identity::from_secret_bytes([4; 32]));
    let rec = record("sip:bob@example.com", 7, "sip:bob@10.0.0.9");
    {
        let s = LocalLocationService::open(&path, config()).unwrap();
        s.publish_as_sync(&signer, rec.clone()).unwrap();
    }
    let s = LocalLocationService::open(&path, config()).unwrap();
    let fetched = s.fetch_sync(&rec.aor).unwrap();
    assert_eq!(fetched, [rec.sign(&signer).unwrap()]);
}
