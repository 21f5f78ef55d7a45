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
        if at + REC_HEAD > entry.len() {
            return None;
        }
        let keep_until = UnixTime(read_u64(entry, at));
        let len = read_u32(entry, at + 8) as usize;
        let start = at + REC_HEAD;
        let bytes = entry.get(start..start + len)?;
        at = start + len;
        Some(Slot { keep_until, bytes })
    })
}

/// The canonical AOR text the entry's records are for.
pub(crate) fn aor_bytes(entry: &[u8]) -> &[u8] {
    slots(entry).next().map_or(&[], |s| leading_str(s.bytes))
}

/// The bytes of `entry` a query reads: all but the publisher key and
/// signature that end its last record (a one-record entry's last 96 bytes).
pub(crate) fn query_part(entry: &[u8]) -> &[u8] {
    &entry[..entry.len().saturating_sub(TAIL)]
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
    let mut a = [0u8; 8];
    if let Some(s) = b.get(at..at + 8) {
        a.copy_from_slice(s);
    }
    u64::from_le_bytes(a)
}

fn read_u32(b: &[u8], at: usize) -> u32 {
    let mut a = [0u8; 4];
    if let Some(s) = b.get(at..at + 4) {
        a.copy_from_slice(s);
    }
    u32::from_le_bytes(a)
}

/// The postcard string at the start of `bytes` (the record's AOR).
fn leading_str(bytes: &[u8]) -> &[u8] {
    let mut len = 0usize;
    for (i, &b) in bytes.iter().enumerate().take(5) {
        len |= usize::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            return bytes.get(i + 1..i + 1 + len).unwrap_or(&[]);
        }
    }
    &[]
}

/// A binding borrowed from an encoded record. Its text is left as bytes:
/// whoever reads it as text checks it, once for a whole answer, and a scan
/// that only needs expiries or versions checks none.
#[derive(Debug, Deserialize)]
pub(crate) struct BindingView<'a> {
    pub contact: &'a [u8],
    pub expires_at: UnixTime,
    pub q: QValue,
    #[serde(borrow)]
    pub instance: Option<&'a [u8]>,
    pub reg_id: Option<u32>,
    pub call_id: &'a [u8],
    pub cseq: u32,
    #[serde(borrow)]
    pub path: Vec<&'a [u8]>,
}

impl BindingView<'_> {
    /// An owned copy, or `None` if some text is not UTF-8.
    pub fn to_binding(&self) -> Option<Binding> {
        let text = |b: &[u8]| String::from_utf8(b.to_vec()).ok();
        Some(Binding {
            contact: text(self.contact)?,
            expires_at: self.expires_at,
            q: self.q,
            instance: match self.instance {
                Some(i) => Some(text(i)?),
                None => None,
            },
            reg_id: self.reg_id,
            call_id: text(self.call_id)?,
            cseq: self.cseq,
            path: self.path.iter().map(|p| text(p)).collect::<Option<_>>()?,
        })
    }

    /// Whether all its text is UTF-8.
    #[cfg(feature = "disk")]
    pub fn is_text(&self) -> bool {
        let ok = |b: &[u8]| std::str::from_utf8(b).is_ok();
        ok(self.contact)
            && self.instance.is_none_or(ok)
            && ok(self.call_id)
            && self.path.iter().all(|p| ok(p))
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
    /// Read only when needed: a query never touches these cache lines.
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
        // Read as bytes: the AOR was checked when stored, and a query has
        // no use for it as text.
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
    use crate::store::QueryBuf;
    use crate::{Aor, Identity, Record};

    #[test]
    fn views_match_the_owned_decoding() {
        let id = Identity::from_secret_bytes([3; 32]);
        let mut rec = Record::new(Aor::parse("sip:alice@example.com").unwrap(), 42);
        let mut b = Binding::new("sip:alice@10.0.0.1", UnixTime(5000), "cid", 7);
        b.path = vec!["<sip:p1>".into(), "<sip:p2>".into()];
        b.instance = Some("<urn:uuid:x>".into());
        b.reg_id = Some(1);
        rec.bindings = vec![
            b,
            Binding::new("sip:alice@10.0.0.2", UnixTime(6000), "c2", 1),
        ];
        let signed = rec.sign(&id).expect("sign");
        let bytes = signed.to_bytes().expect("encode");

        let mut seen = Vec::new();
        let meta = scan(&bytes, &mut |v| seen.push(v.to_binding().unwrap())).unwrap();
        assert_eq!((meta.version, meta.publisher()), (42, id.public_key()));
        assert_eq!(seen, signed.record.bindings);

        let entry = pack([Slot {
            keep_until: UnixTime(9),
            bytes: &bytes,
        }]);
        assert_eq!(aor_bytes(&entry), b"sip:alice@example.com");
        assert_eq!(keep_until(&entry), UnixTime(9));
        assert_eq!(slots(&entry).count(), 1);
        assert!(scan(&bytes[..bytes.len() - 1], &mut |_| {}).is_err());
    }

    #[test]
    fn text_that_is_not_utf8_is_an_error() {
        let mut rec = Record::new(Aor::parse("sip:dave@example.com").unwrap(), 1);
        rec.bindings = vec![Binding::new(
            "sip:dave@10.0.0.4",
            UnixTime(7000),
            "cid-é",
            1,
        )];
        let bytes = rec
            .sign(&Identity::from_secret_bytes([6; 32]))
            .expect("sign")
            .to_bytes()
            .expect("encode");
        // As an owned binding, and through an answer buffer.
        let read = |bytes: &[u8]| {
            let (mut owned, mut buf) = (Vec::new(), QueryBuf::new());
            buf.clear();
            scan(bytes, &mut |v| {
                owned.push(v.to_binding());
                buf.push(&v);
            })
            .unwrap();
            (owned, buf.finish().is_ok())
        };
        let (owned, checked) = read(&bytes);
        assert_eq!(owned[0].as_ref().unwrap().call_id, "cid-é");
        assert!(checked);
        for (at, bad) in [(bytes.len() - 96 - 4, 0xff), (bytes.len() - 96 - 3, 0x41)] {
            // "é" is 0xc3 0xa9, just before the CSeq, the empty Path, the
            // key and the signature: an invalid byte, then a lead byte
            // followed by ASCII.
            let mut damaged = bytes.clone();
            damaged[at] = bad;
            assert_eq!(read(&damaged), (vec![None], false), "byte {at}");
        }
        // A character split between the Contact and the Call-ID: each is
        // invalid alone, though in the buffer they sit side by side.
        let find = |text: &[u8]| bytes.windows(text.len()).position(|w| w == text).unwrap();
        let mut split = bytes.clone();
        split[find(b"10.0.0.4") + 7] = 0xc3;
        split[find(b"cid-")] = 0xa9;
        assert_eq!(read(&split), (vec![None], false));
    }

    #[test]
    fn damaged_records_are_errors_not_panics() {
        let id = Identity::from_secret_bytes([4; 32]);
        let mut rec = Record::new(Aor::parse("sip:bob@example.com").unwrap(), 9);
        let mut b = Binding::new("sip:bob@10.0.0.9", UnixTime(7000), "call", 3);
        b.path = vec!["<sip:edge>".into()];
        rec.bindings = vec![b];
        let bytes = rec.sign(&id).expect("sign").to_bytes().expect("encode");
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
    }
}
