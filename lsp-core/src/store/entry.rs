//! The packed form of one AOR's records inside a store.
//!
//! An entry is one heap block, so a million AORs cost a million allocations
//! and a lookup touches one or two cache lines:
//!
//! ```text
//! keep_until: u64 LE            latest keep_until of the records below
//! repeated:
//!   keep_until: u64 LE          end of this record's replay guard
//!   len:        u32 LE
//!   record:     [u8; len]       SignedRecord wire encoding
//! ```
//!
//! Records are read in place through borrowed views; nothing is decoded into
//! owned values except the bindings a query returns.

use std::fmt;

use serde::de::{DeserializeSeed, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer};

use crate::{Binding, PublicKey, QValue, UnixTime};

const HEAD: usize = 8;
const REC_HEAD: usize = 12;
/// Publisher key and signature, raw at the end of each encoded record.
const TAIL: usize = 32 + 64;

/// One record's slot in an entry.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Slot<'a> {
    pub keep_until: UnixTime,
    pub bytes: &'a [u8],
}

pub(crate) fn keep_until(entry: &[u8]) -> UnixTime {
    UnixTime(read_u64(entry, 0))
}

pub(crate) fn slots(entry: &[u8]) -> impl Iterator<Item = Slot<'_>> {
    let mut at = HEAD;
    std::iter::from_fn(move || {
        let keep_until = UnixTime(read_u64(entry, at));
        let len = u32::from_le_bytes(entry.get(at + 8..at + REC_HEAD)?.try_into().ok()?);
        let start = at + REC_HEAD;
        let bytes = entry.get(start..start + len as usize)?;
        at = start + bytes.len();
        Some(Slot { keep_until, bytes })
    })
}

/// The canonical AOR text the entry's records are for: the postcard string
/// that starts the first record.
pub(crate) fn aor_bytes(entry: &[u8]) -> &[u8] {
    slots(entry)
        .next()
        .and_then(|s| postcard::take_from_bytes::<&[u8]>(s.bytes).ok())
        .map_or(&[], |(aor, _)| aor)
}

/// Packs slots into a new entry.
pub(crate) fn pack<'a>(slots: impl IntoIterator<Item = Slot<'a>>) -> Box<[u8]> {
    let mut out = vec![0u8; HEAD];
    let mut keep = UnixTime(0);
    for s in slots {
        keep = keep.max(s.keep_until);
        out.extend_from_slice(&s.keep_until.0.to_le_bytes());
        // Records are capped far below 4 GiB before they get here.
        out.extend_from_slice(&(s.bytes.len() as u32).to_le_bytes());
        out.extend_from_slice(s.bytes);
    }
    out[..HEAD].copy_from_slice(&keep.0.to_le_bytes());
    out.into_boxed_slice()
}

fn read_u64(b: &[u8], at: usize) -> u64 {
    b.get(at..at + 8)
        .and_then(|s| s.try_into().ok())
        .map_or(0, u64::from_le_bytes)
}

/// A binding borrowed from an encoded record.
#[derive(Debug, Deserialize)]
pub(crate) struct BindingView<'a> {
    pub contact: &'a str,
    pub expires_at: UnixTime,
    pub q: QValue,
    #[serde(borrow)]
    pub instance: Option<&'a str>,
    pub reg_id: Option<u32>,
    pub call_id: &'a str,
    pub cseq: u32,
    #[serde(borrow)]
    pub path: Vec<&'a str>,
}

impl BindingView<'_> {
    /// An owned copy.
    pub fn to_binding(&self) -> Binding {
        Binding {
            contact: self.contact.to_owned(),
            expires_at: self.expires_at,
            q: self.q,
            instance: self.instance.map(str::to_owned),
            reg_id: self.reg_id,
            call_id: self.call_id.to_owned(),
            cseq: self.cseq,
            path: self.path.iter().map(|p| (*p).to_owned()).collect(),
        }
    }

    /// Overwrites `out` with this binding, reusing its allocations.
    pub fn copy_into(&self, out: &mut Binding) {
        fn set(s: &mut String, value: &str) {
            s.clear();
            s.push_str(value);
        }
        set(&mut out.contact, self.contact);
        out.expires_at = self.expires_at;
        out.q = self.q;
        match (&mut out.instance, self.instance) {
            (Some(s), Some(value)) => set(s, value),
            (old, value) => *old = value.map(str::to_owned),
        }
        out.reg_id = self.reg_id;
        set(&mut out.call_id, self.call_id);
        out.cseq = self.cseq;
        out.path.truncate(self.path.len());
        for (i, p) in self.path.iter().enumerate() {
            match out.path.get_mut(i) {
                Some(s) => set(s, p),
                None => out.path.push((*p).to_owned()),
            }
        }
    }
}

/// What a store needs to know of a record without decoding it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Meta<'a> {
    pub version: u64,
    /// The raw publisher key and signature.
    tail: &'a [u8],
}

impl Meta<'_> {
    pub fn publisher(&self) -> PublicKey {
        let mut key = [0u8; 32];
        key.copy_from_slice(&self.tail[..32]);
        PublicKey(key)
    }
}

/// Walks an encoded `SignedRecord`, handing each binding to `f`.
pub(crate) fn scan<'a>(
    bytes: &'a [u8],
    f: &mut dyn FnMut(BindingView<'a>),
) -> Result<Meta<'a>, postcard::Error> {
    let mut de = postcard::Deserializer::from_bytes(bytes);
    let version = RecordSeed { f }.deserialize(&mut de)?;
    // The key and signature are fixed-size raw bytes: no need to decode them.
    let tail = de.finalize()?;
    if tail.len() != TAIL {
        return Err(postcard::Error::DeserializeUnexpectedEnd);
    }
    Ok(Meta { version, tail })
}

/// Deserializes `(aor, version, bindings)` and yields the version.
struct RecordSeed<'f, 'a> {
    f: &'f mut dyn FnMut(BindingView<'a>),
}

impl<'a> DeserializeSeed<'a> for RecordSeed<'_, 'a> {
    type Value = u64;
    fn deserialize<D: Deserializer<'a>>(self, d: D) -> Result<u64, D::Error> {
        d.deserialize_tuple(3, self)
    }
}

impl<'a> Visitor<'a> for RecordSeed<'_, 'a> {
    type Value = u64;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a record")
    }
    fn visit_seq<A: SeqAccess<'a>>(self, mut seq: A) -> Result<u64, A::Error> {
        let missing = || serde::de::Error::custom("truncated record");
        // The AOR was checked when stored; a scan has no use for it.
        let _aor: &'a [u8] = seq.next_element()?.ok_or_else(missing)?;
        let version: u64 = seq.next_element()?.ok_or_else(missing)?;
        seq.next_element_seed(EachBinding { f: self.f })?
            .ok_or_else(missing)?;
        Ok(version)
    }
}

struct EachBinding<'f, 'a> {
    f: &'f mut dyn FnMut(BindingView<'a>),
}

impl<'a> DeserializeSeed<'a> for EachBinding<'_, 'a> {
    type Value = ();
    fn deserialize<D: Deserializer<'a>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'a> Visitor<'a> for EachBinding<'_, 'a> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("bindings")
    }
    fn visit_seq<A: SeqAccess<'a>>(self, mut seq: A) -> Result<(), A::Error> {
        while let Some(b) = seq.next_element::<BindingView<'a>>()? {
            (self.f)(b);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Aor, Identity, Record};

    #[test]
    fn views_match_the_owned_decoding_and_damage_is_an_error() {
        let id = Identity::from_secret_bytes([3; 32]);
        let mut rec = Record::new(Aor::parse("sip:alice@example.com").unwrap(), 42);
        let mut b = Binding::new("sip:alice@10.0.0.1", UnixTime(5000), "cid-é", 7);
        b.path = vec!["<sip:p1>".into(), "<sip:p2>".into()];
        b.instance = Some("<urn:uuid:x>".into());
        b.reg_id = Some(1);
        rec.bindings = vec![b, Binding::new("sip:a@10.0.0.2", UnixTime(6000), "c", 1)];
        let signed = rec.sign(&id).expect("sign");
        let bytes = signed.to_bytes().expect("encode");

        let mut seen = Vec::new();
        let meta = scan(&bytes, &mut |v| seen.push(v.to_binding())).unwrap();
        assert_eq!((meta.version, meta.publisher()), (42, id.public_key()));
        assert_eq!(seen, signed.record.bindings);

        let entry = pack([Slot {
            keep_until: UnixTime(9),
            bytes: &bytes,
        }]);
        assert_eq!(aor_bytes(&entry), b"sip:alice@example.com");
        assert_eq!(keep_until(&entry), UnixTime(9));
        assert_eq!(slots(&entry).count(), 1);
        assert_eq!(slots(&entry[..entry.len() - 1]).count(), 0);

        for len in 0..bytes.len() {
            assert!(scan(&bytes[..len], &mut |_| {}).is_err(), "prefix {len}");
        }
        // Every single-byte change either still reads or is an error.
        for at in 0..bytes.len() {
            for value in [0x00, 0x01, 0x7f, 0x80, 0xff] {
                let mut bad = bytes.clone();
                bad[at] = value;
                let _ = scan(&bad, &mut |_| {});
            }
        }
        // Text that is not UTF-8 ("é" is 0xc3 0xa9) is an error.
        let at = bytes.windows(2).position(|w| w == [0xc3, 0xa9]).unwrap();
        let mut bad = bytes.clone();
        bad[at + 1] = 0x41;
        assert!(scan(&bad, &mut |_| {}).is_err());
    }
}
