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

use serde::Deserialize;

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

/// An encoded `SignedRecord` read in place: its text is borrowed.
#[derive(Debug, Deserialize)]
pub(crate) struct RecordView<'a> {
    /// The AOR was checked when stored; a reader has no use for it.
    #[serde(borrow)]
    _aor: &'a [u8],
    pub version: u64,
    #[serde(borrow)]
    pub bindings: Vec<BindingView<'a>>,
    /// The raw publisher key and signature: fixed-size, not decoded.
    #[serde(skip)]
    tail: &'a [u8],
}

impl RecordView<'_> {
    pub fn publisher(&self) -> PublicKey {
        let mut key = [0u8; 32];
        key.copy_from_slice(&self.tail[..32]);
        PublicKey(key)
    }
}

/// The publisher of an encoded `SignedRecord`, read off its fixed tail
/// without decoding the rest.
pub(crate) fn publisher_of(bytes: &[u8]) -> Option<PublicKey> {
    let tail = bytes.get(bytes.len().checked_sub(TAIL)?..)?;
    Some(PublicKey(tail.get(..32)?.try_into().ok()?))
}

/// Reads an encoded `SignedRecord` in place.
pub(crate) fn view(bytes: &[u8]) -> Result<RecordView<'_>, postcard::Error> {
    let (mut view, tail) = postcard::take_from_bytes::<RecordView<'_>>(bytes)?;
    if tail.len() != TAIL {
        return Err(postcard::Error::DeserializeUnexpectedEnd);
    }
    view.tail = tail;
    Ok(view)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Aor, Identity, Record};

    #[test]
    fn views_match_the_owned_decoding_and_damage_is_an_error() {
        let id = Identity::from_secret_bytes([3; 32]);
        let mut rec = Record::new(Aor::parse("sip:alice@example.com").unwrap(), 42);
        let mut b = Binding::new("sip:alice@10.0.0.1", UnixTime(5000), "cid-1", 7);
        b.path = vec!["<sip:p1>".into(), "\"Pé\" <sip:p2>".into()];
        b.instance = Some("<urn:uuid:x>".into());
        b.reg_id = Some(1);
        rec.bindings = vec![b, Binding::new("sip:a@10.0.0.2", UnixTime(6000), "c", 1)];
        let signed = rec.sign(&id).expect("sign");
        let bytes = signed.to_bytes().expect("encode");

        let read = view(&bytes).unwrap();
        assert_eq!((read.version, read.publisher()), (42, id.public_key()));
        let seen: Vec<Binding> = read.bindings.iter().map(BindingView::to_binding).collect();
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
            assert!(view(&bytes[..len]).is_err(), "prefix {len}");
        }
        // Every single-byte change either still reads or is an error.
        for at in 0..bytes.len() {
            for value in [0x00, 0x01, 0x7f, 0x80, 0xff] {
                let mut bad = bytes.clone();
                bad[at] = value;
                let _ = view(&bad);
            }
        }
        // Text that is not UTF-8 ("é" is 0xc3 0xa9) is an error.
        let at = bytes.windows(2).position(|w| w == [0xc3, 0xa9]).unwrap();
        let mut bad = bytes.clone();
        bad[at + 1] = 0x41;
        assert!(view(&bad).is_err());
    }
}
