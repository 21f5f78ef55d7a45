//! Signed records: encoding round trips, and every tampering is caught.
#![allow(clippy::unwrap_used)]

use lsp_core::store::{RecordStore, StoreLimits};
use lsp_core::{
    Aor, Binding, Error, Identity, OpenPolicy, PublicKey, QValue, Record, SignedRecord, UnixTime,
};
use proptest::prelude::*;

fn binding() -> impl Strategy<Value = Binding> {
    (
        "sip:[a-z]{1,8}@[a-z]{1,8}\\.example(:[0-9]{1,5})?",
        any::<u64>(),
        0u16..=1000,
        proptest::option::of("<urn:uuid:[0-9a-f]{8}>"),
        proptest::option::of(any::<u32>()),
        "[a-zA-Z0-9@.-]{1,24}",
        any::<u32>(),
        proptest::collection::vec("<sip:[a-z]{1,6}\\.example;lr>", 0..3),
    )
        .prop_map(
            |(contact, exp, q, instance, reg_id, call_id, cseq, path)| Binding {
                contact,
                expires_at: UnixTime(exp),
                q: QValue::from_thousandths(q).unwrap(),
                instance,
                reg_id,
                call_id,
                cseq,
                path,
            },
        )
}

fn record() -> impl Strategy<Value = Record> {
    (
        "[a-z]{1,10}",
        "[a-z]{1,10}",
        any::<u64>(),
        proptest::collection::vec(binding(), 0..4),
    )
        .prop_map(|(user, domain, version, bindings)| Record {
            aor: Aor::parse(&format!("sip:{user}@{domain}.com")).unwrap(),
            version,
            bindings,
        })
}

/// Every way to change one field of a record, applied by index.
fn tamper(rec: &mut Record, which: usize) {
    let n = rec.bindings.len();
    match (which, rec.bindings.first_mut()) {
        (0, _) => rec.aor = Aor::parse(&format!("{}x", rec.aor)).unwrap(),
        (1, _) => rec.version ^= 1,
        (2, _) => rec
            .bindings
            .push(Binding::new("sip:x@y.example", UnixTime(1), "c", 1)),
        (3, Some(_)) => {
            rec.bindings.truncate(n - 1);
        }
        (4, Some(b)) => b.contact.push('x'),
        (5, Some(b)) => b.expires_at.0 ^= 1,
        (6, Some(b)) => b.q = QValue::from_thousandths((b.q.thousandths() + 1) % 1001).unwrap(),
        (7, Some(b)) => {
            b.instance = if b.instance.is_some() {
                None
            } else {
                Some("<urn:x>".into())
            }
        }
        (8, Some(b)) => b.reg_id = Some(b.reg_id.map_or(0, |r| r ^ 1)),
        (9, Some(b)) => b.call_id.push('x'),
        (10, Some(b)) => b.cseq ^= 1,
        (11, Some(b)) => b.path.push("<sip:evil.example;lr>".into()),
        _ => rec.version = rec.version.wrapping_add(7),
    }
}

proptest! {
    #[test]
    fn encode_decode_round_trip(rec in record(), seed in any::<[u8; 32]>()) {
        let signed = rec.sign(&Identity::from_secret_bytes(seed)).expect("sign");
        let bytes = signed.to_bytes().unwrap();
        let back = SignedRecord::from_bytes(&bytes).unwrap();
        prop_assert_eq!(&back, &signed);
        back.verify().unwrap();
        back.verify_from(&Identity::from_secret_bytes(seed).public_key()).unwrap();
    }

    #[test]
    fn every_tampered_field_is_rejected(rec in record(), which in 0usize..13, seed in any::<[u8; 32]>()) {
        let mut signed = rec.sign(&Identity::from_secret_bytes(seed)).expect("sign");
        let before = signed.record.clone();
        tamper(&mut signed.record, which);
        prop_assume!(signed.record != before);
        prop_assert_eq!(signed.verify(), Err(Error::BadSignature));
        // It stays rejected after a trip over the wire.
        let back = SignedRecord::from_bytes(&signed.to_bytes().unwrap()).unwrap();
        prop_assert_eq!(back.verify(), Err(Error::BadSignature));
    }

    #[test]
    fn a_flipped_bit_anywhere_never_verifies(rec in record(), pos in any::<prop::sample::Index>(), bit in 0u8..8) {
        let signed = rec.sign(&Identity::from_secret_bytes([5; 32])).expect("sign");
        let mut bytes = signed.to_bytes().unwrap();
        let i = pos.index(bytes.len());
        bytes[i] ^= 1 << bit;
        if let Ok(decoded) = SignedRecord::from_bytes(&bytes) {
            prop_assert!(decoded.verify().is_err());
        }
    }

    #[test]
    fn a_store_answers_with_the_bindings_it_was_given(rec in record(), seed in any::<[u8; 32]>()) {
        // The store reads bindings in place with its own decoder; it must
        // agree with the serde decoding field for field.
        let now = UnixTime(1_700_000_000_000);
        let mut rec = rec;
        for b in &mut rec.bindings {
            b.expires_at = UnixTime(now.0 + 1 + b.expires_at.0 % 86_000_000);
        }
        let store = RecordStore::new(StoreLimits::default());
        store
            .publish(&rec.clone().sign(&Identity::from_secret_bytes(seed)).expect("sign"), &OpenPolicy, now, |_| Ok(()))
            .unwrap();
        let expected = if rec.bindings.is_empty() {
            Err(Error::NotFound(rec.aor.clone()))
        } else {
            Ok(lsp_core::live_bindings([&rec], now))
        };
        let mut out = vec![Binding::new("sip:stale@10.0.0.9", now, "stale", 1)];
        let borrowed = store.query_into(&rec.aor, now, &mut out).map(|()| out);
        prop_assert_eq!(&borrowed, &expected);
        prop_assert_eq!(store.query(&rec.aor, now), expected);
    }

    #[test]
    fn garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        if let Ok(rec) = SignedRecord::from_bytes(&bytes) {
            let _ = rec.verify();
        }
    }
}

#[test]
fn another_signature_or_key_is_rejected() {
    let alice = Identity::from_secret_bytes([1; 32]);
    let mallory = Identity::from_secret_bytes([2; 32]);
    let rec = Record::new(Aor::parse("sip:alice@example.com").unwrap(), 1);
    let signed = rec.clone().sign(&alice).expect("sign");

    // Mallory's key claimed on Alice's signature.
    let mut swapped = signed.clone();
    swapped.publisher = mallory.public_key();
    assert_eq!(swapped.verify(), Err(Error::BadSignature));

    // A record signed by Mallory, checked against Alice.
    let by_mallory = rec.sign(&mallory).expect("sign");
    by_mallory.verify().unwrap();
    assert_eq!(
        by_mallory.verify_from(&alice.public_key()),
        Err(Error::WrongKey {
            expected: alice.public_key(),
            found: mallory.public_key()
        })
    );

    // A corrupted signature.
    let mut bad_sig = signed.clone();
    bad_sig.signature.0[10] ^= 0x40;
    assert_eq!(bad_sig.verify(), Err(Error::BadSignature));

    // 32 bytes that are no curve point.
    let mut bogus = signed;
    bogus.publisher = PublicKey([0xff; 32]);
    assert!(matches!(
        bogus.verify(),
        Err(Error::InvalidKey | Error::BadSignature)
    ));
}

#[test]
fn oversized_and_trailing_input_is_refused() {
    let signed = Record::new(Aor::parse("sip:a@example.com").unwrap(), 1)
        .sign(&Identity::from_secret_bytes([1; 32]))
        .expect("sign");
    let mut bytes = signed.to_bytes().unwrap();
    bytes.push(0);
    assert!(matches!(
        SignedRecord::from_bytes(&bytes),
        Err(Error::Decode(_))
    ));
    let huge = vec![0u8; lsp_core::MAX_RECORD_BYTES + 1];
    assert!(matches!(
        SignedRecord::from_bytes(&huge),
        Err(Error::RecordTooLarge { .. })
    ));
}

#[test]
fn the_encoding_is_stable() {
    // A fixed record and key always give these bytes: the signature format
    // is a wire format. Changing this vector breaks every deployed peer.
    let mut rec = Record::new(Aor::parse("sip:alice@example.com").unwrap(), 7);
    rec.bindings.push(Binding::new(
        "sip:alice@192.0.2.1",
        UnixTime(1_000),
        "c1",
        2,
    ));
    let signed = rec
        .sign(&Identity::from_secret_bytes([0x42; 32]))
        .expect("sign");
    let body_hex: String = lsp_core::signing_bytes(&signed.publisher, &signed.record)
        .unwrap()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let tag_hex: String = lsp_core::SIGNING_TAG
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let pk_hex: String = signed
        .publisher
        .0
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let expected = format!(
        "{tag_hex}{pk_hex}\
         15{aor}07\
         01\
         13{contact}e807\
         e807\
         00\
         00\
         02{cid}\
         02\
         00",
        aor = hex(b"sip:alice@example.com"),
        contact = hex(b"sip:alice@192.0.2.1"),
        cid = hex(b"c1"),
    );
    assert_eq!(body_hex, expected);
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|b| format!("{b:02x}")).collect()
}
