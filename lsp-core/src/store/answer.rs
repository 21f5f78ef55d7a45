//! Answers that borrow a caller's buffer instead of allocating.
//!
//! A query that returns `Vec<Binding>` allocates the list and two strings
//! per binding, and its caller frees them again: on a hit, about a third of
//! the instructions. A proxy that
//! routes thousands of requests a second can instead keep one [`QueryBuf`]
//! per thread: the store copies the live bindings' text into it under the
//! shard lock, and hands out views once the lock is released, so the caller
//! never runs while the store is locked.

use std::ops::Range;

use super::entry::BindingView;
use crate::record::contact_order;
use crate::{Binding, QValue, UnixTime};

/// Reusable room for the answers of [`RecordStore::query_into`]. Once it has
/// grown to the largest answer, a query allocates nothing. It keeps that
/// size until dropped; the store's limits bound it.
///
/// [`RecordStore::query_into`]: super::RecordStore::query_into
#[derive(Debug, Default, Clone)]
pub struct QueryBuf {
    /// Every string of the answer, back to back, once checked.
    text: String,
    /// The same allocation while an answer is filled in, unchecked: one
    /// UTF-8 check over all of it costs less than one per string.
    raw: Vec<u8>,
    rows: Vec<Row>,
    /// Path values of all rows, as ranges of `text`.
    paths: Vec<Range<usize>>,
}

/// One binding, its strings as ranges of [`QueryBuf::text`].
#[derive(Debug, Clone)]
struct Row {
    contact: Range<usize>,
    expires_at: UnixTime,
    q: QValue,
    instance: Option<Range<usize>>,
    reg_id: Option<u32>,
    call_id: Range<usize>,
    cseq: u32,
    /// Range of [`QueryBuf::paths`].
    path: Range<usize>,
}

impl QueryBuf {
    /// An empty buffer.
    pub fn new() -> Self {
        Self::default()
    }

    pub(crate) fn clear(&mut self) {
        // The text's allocation is in `text` after an answer, and in `raw`
        // after a query that found nothing.
        if self.raw.capacity() == 0 {
            self.raw = std::mem::take(&mut self.text).into_bytes();
        }
        self.raw.clear();
        self.text.clear();
        self.rows.clear();
        self.paths.clear();
    }

    fn put(&mut self, s: &[u8]) -> Range<usize> {
        let start = self.raw.len();
        self.raw.extend_from_slice(s);
        start..self.raw.len()
    }

    /// Checks the text filled in since [`QueryBuf::clear`]. Each string
    /// must be UTF-8 on its own, so each must also start and end on a
    /// character boundary of the whole.
    pub(crate) fn finish(&mut self) -> Result<(), ()> {
        match String::from_utf8(std::mem::take(&mut self.raw)) {
            Ok(text) => self.text = text,
            Err(e) => {
                self.raw = e.into_bytes();
                self.clear();
                return Err(());
            }
        }
        let text = &self.text;
        let whole =
            |r: &Range<usize>| text.is_char_boundary(r.start) && text.is_char_boundary(r.end);
        let rows_whole = self.rows.iter().all(|row| {
            whole(&row.contact) && whole(&row.call_id) && row.instance.as_ref().is_none_or(whole)
        });
        if rows_whole && self.paths.iter().all(whole) {
            Ok(())
        } else {
            self.clear();
            Err(())
        }
    }

    pub(crate) fn push(&mut self, b: &BindingView<'_>) {
        let path_start = self.paths.len();
        for p in &b.path {
            let r = self.put(p);
            self.paths.push(r);
        }
        let row = Row {
            contact: self.put(b.contact),
            expires_at: b.expires_at,
            q: b.q,
            instance: b.instance.map(|i| self.put(i)),
            reg_id: b.reg_id,
            call_id: self.put(b.call_id),
            cseq: b.cseq,
            path: path_start..self.paths.len(),
        };
        self.rows.push(row);
    }

    /// Orders the rows as [`crate::sort_contacts`] orders bindings.
    pub(crate) fn sort(&mut self) {
        if self.rows.len() > 1 {
            let text = &self.text;
            let contact = |r: &Row| text.get(r.contact.clone()).unwrap_or_default();
            self.rows.sort_by(|a, b| {
                contact_order(
                    (a.q, a.expires_at, contact(a)),
                    (b.q, b.expires_at, contact(b)),
                )
            });
        }
    }

    pub(crate) fn contacts(&self) -> Contacts<'_> {
        Contacts { buf: self }
    }

    fn str(&self, r: &Range<usize>) -> &str {
        // Ranges come from `put`, so they always fall on this text's
        // character boundaries.
        self.text.get(r.clone()).unwrap_or_default()
    }
}

/// The live bindings of one AOR, borrowed from a [`QueryBuf`]: highest q
/// first, then latest expiry, as [`RecordStore::query`] orders them.
///
/// [`RecordStore::query`]: super::RecordStore::query
#[derive(Debug, Clone, Copy)]
pub struct Contacts<'b> {
    buf: &'b QueryBuf,
}

impl<'b> Contacts<'b> {
    /// How many bindings.
    pub fn len(&self) -> usize {
        self.buf.rows.len()
    }

    /// Whether there are none (a query that found its AOR never answers so).
    pub fn is_empty(&self) -> bool {
        self.buf.rows.is_empty()
    }

    /// The `i`th binding.
    pub fn get(&self, i: usize) -> Option<BindingRef<'b>> {
        let buf = self.buf;
        buf.rows.get(i).map(|row| BindingRef { buf, row })
    }

    /// The bindings in order.
    pub fn iter(&self) -> ContactsIter<'b> {
        ContactsIter {
            buf: self.buf,
            rows: self.buf.rows.iter(),
        }
    }

    /// Owned copies, as [`RecordStore::query`] returns them.
    ///
    /// [`RecordStore::query`]: super::RecordStore::query
    pub fn to_vec(&self) -> Vec<Binding> {
        self.iter().map(|b| b.to_binding()).collect()
    }
}

impl<'b> IntoIterator for Contacts<'b> {
    type Item = BindingRef<'b>;
    type IntoIter = ContactsIter<'b>;
    fn into_iter(self) -> ContactsIter<'b> {
        self.iter()
    }
}

/// The bindings of a [`Contacts`], in order.
#[derive(Debug, Clone)]
pub struct ContactsIter<'b> {
    buf: &'b QueryBuf,
    rows: std::slice::Iter<'b, Row>,
}

impl<'b> Iterator for ContactsIter<'b> {
    type Item = BindingRef<'b>;
    fn next(&mut self) -> Option<BindingRef<'b>> {
        let buf = self.buf;
        self.rows.next().map(|row| BindingRef { buf, row })
    }
    fn size_hint(&self) -> (usize, Option<usize>) {
        self.rows.size_hint()
    }
}

impl ExactSizeIterator for ContactsIter<'_> {}

/// One binding of a [`Contacts`] answer; the fields of [`Binding`], borrowed.
#[derive(Debug, Clone, Copy)]
pub struct BindingRef<'b> {
    buf: &'b QueryBuf,
    row: &'b Row,
}

impl<'b> BindingRef<'b> {
    /// The Contact URI.
    pub fn contact(&self) -> &'b str {
        self.buf.str(&self.row.contact)
    }

    /// When the binding lapses.
    pub fn expires_at(&self) -> UnixTime {
        self.row.expires_at
    }

    /// Preference among the AOR's contacts.
    pub fn q(&self) -> QValue {
        self.row.q
    }

    /// `+sip.instance`.
    pub fn instance(&self) -> Option<&'b str> {
        let buf = self.buf;
        self.row.instance.as_ref().map(|r| buf.str(r))
    }

    /// `reg-id`.
    pub fn reg_id(&self) -> Option<u32> {
        self.row.reg_id
    }

    /// Call-ID of the REGISTER that made or refreshed the binding.
    pub fn call_id(&self) -> &'b str {
        self.buf.str(&self.row.call_id)
    }

    /// CSeq of that REGISTER.
    pub fn cseq(&self) -> u32 {
        self.row.cseq
    }

    /// Path header values, first hop first.
    pub fn path(&self) -> impl ExactSizeIterator<Item = &'b str> + 'b {
        let buf = self.buf;
        let paths = buf.paths.get(self.row.path.clone()).unwrap_or_default();
        paths.iter().map(move |r| buf.str(r))
    }

    /// An owned copy.
    pub fn to_binding(&self) -> Binding {
        Binding {
            contact: self.contact().to_owned(),
            expires_at: self.expires_at(),
            q: self.q(),
            instance: self.instance().map(str::to_owned),
            reg_id: self.reg_id(),
            call_id: self.call_id().to_owned(),
            cseq: self.cseq(),
            path: self.path().map(str::to_owned).collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{RecordStore, StoreLimits};
    use crate::{Aor, Identity, OpenPolicy, Record};

    #[test]
    fn the_buffer_keeps_its_allocation_across_hits_and_misses() {
        let store = RecordStore::new(StoreLimits::default());
        let aor = Aor::parse("sip:erin@example.com").unwrap();
        let mut rec = Record::new(aor.clone(), 1);
        rec.bindings = vec![Binding::new("sip:erin@10.0.0.5", UnixTime(9000), "c", 1)];
        let signed = rec
            .sign(&Identity::from_secret_bytes([9; 32]))
            .expect("sign");
        store
            .publish(&signed, &OpenPolicy, UnixTime(1000), |_| Ok(()))
            .unwrap();
        let missing = Aor::parse("sip:nobody@example.com").unwrap();

        let mut buf = QueryBuf::new();
        let first = store.query_into(&aor, UnixTime(1000), &mut buf).unwrap();
        assert_eq!(first.get(0).unwrap().contact(), "sip:erin@10.0.0.5");
        let at = buf.text.as_ptr();
        assert!(
            store
                .query_into(&missing, UnixTime(1000), &mut buf)
                .is_err()
        );
        let again = store.query_into(&aor, UnixTime(1000), &mut buf).unwrap();
        assert_eq!(again.len(), 1);
        assert_eq!(buf.text.as_ptr(), at);
    }
}
