//! Bindings, records and their signatures.
//!
//! A [`Record`] holds the bindings of one AOR from one publisher. The
//! publisher signs it; the bytes signed are [`SIGNING_TAG`] followed by the
//! postcard encoding of `(publisher, record)`. Field order below is part of
//! the wire format: do not reorder.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::{Aor, DecodeError, Error, Identity, PublicKey, Signature};

/// Domain separation for record signatures, so that no other message signed
/// with the same key can pass as a record.
pub const SIGNING_TAG: &[u8] = b"lsp-record-v1\0";

/// Largest encoded [`SignedRecord`] that any decoder accepts.
pub const MAX_RECORD_BYTES: usize = 64 * 1024;

/// Milliseconds since the Unix epoch.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub struct UnixTime(pub u64);

impl UnixTime {
    /// The system clock's reading (a clock set before 1970 reads 0).
    pub fn now() -> Self {
        let since = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
        Self(since.map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX)))
    }

    /// Whole seconds since the epoch.
    pub fn from_secs(secs: u64) -> Self {
        Self(secs.saturating_mul(1000))
    }

    /// Milliseconds since the epoch.
    pub fn as_millis(self) -> u64 {
        self.0
    }

    /// How long from `earlier` to `self`; zero if `self` is not later.
    pub fn since(self, earlier: UnixTime) -> Duration {
        Duration::from_millis(self.0.saturating_sub(earlier.0))
    }
}

impl std::ops::Add<Duration> for UnixTime {
    type Output = UnixTime;
    /// Saturates instead of overflowing.
    fn add(self, d: Duration) -> UnixTime {
        let ms = u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        UnixTime(self.0.saturating_add(ms))
    }
}

/// A SIP q-value in thousandths, 0 to 1000 (`q=0.5` is 500).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct QValue(u16);

impl QValue {
    /// `q=1.0`, the highest preference.
    pub const MAX: QValue = QValue(1000);

    /// A q-value from thousandths; over 1000 is an error.
    pub fn from_thousandths(v: u16) -> Result<Self, Error> {
        if v > 1000 {
            return Err(Error::InvalidBinding(format!("q-value {v}/1000 exceeds 1")));
        }
        Ok(Self(v))
    }

    /// Parses the SIP text form: `0`, `1`, `0.5`, `1.000` (at most 3 decimals).
    pub fn parse(s: &str) -> Result<Self, Error> {
        let bad = || Error::InvalidBinding(format!("malformed q-value {s:?}"));
        let (int, frac) = s.split_once('.').unwrap_or((s, ""));
        if frac.len() > 3 || !frac.bytes().all(|c| c.is_ascii_digit()) {
            return Err(bad());
        }
        let whole: u16 = match int {
            "0" => 0,
            "1" => 1000,
            _ => return Err(bad()),
        };
        let mut thousandths = 0u16;
        for (i, c) in frac.bytes().enumerate() {
            thousandths += u16::from(c - b'0') * [100, 10, 1][i];
        }
        Self::from_thousandths(whole + thousandths)
    }

    /// The value in thousandths.
    pub fn thousandths(self) -> u16 {
        self.0
    }
}

impl Default for QValue {
    fn default() -> Self {
        Self::MAX
    }
}

impl fmt::Display for QValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = format!("{}.{:03}", self.0 / 1000, self.0 % 1000);
        let text = text.trim_end_matches('0');
        f.write_str(text.strip_suffix('.').unwrap_or(text))
    }
}

impl<'de> Deserialize<'de> for QValue {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        QValue::from_thousandths(u16::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

/// One Contact of an AOR, as a registrar stores it (RFC 3261 section 10.3,
/// RFC 5626 outbound, RFC 3327 Path).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Binding {
    /// The Contact URI.
    pub contact: String,
    /// When the binding lapses. It is live while `now < expires_at`.
    pub expires_at: UnixTime,
    /// Preference among the AOR's contacts.
    pub q: QValue,
    /// `+sip.instance`, the UA's instance URN.
    pub instance: Option<String>,
    /// `reg-id` (RFC 5626).
    pub reg_id: Option<u32>,
    /// Call-ID of the REGISTER that made or refreshed the binding.
    pub call_id: String,
    /// CSeq of that REGISTER; orders requests with the same Call-ID.
    pub cseq: u32,
    /// Path header values (RFC 3327), first hop first.
    pub path: Vec<String>,
}

impl Binding {
    /// A binding with `q=1`, no instance, no path; set the rest as fields.
    pub fn new(
        contact: impl Into<String>,
        expires_at: UnixTime,
        call_id: impl Into<String>,
        cseq: u32,
    ) -> Self {
        Self {
            contact: contact.into(),
            expires_at,
            q: QValue::MAX,
            instance: None,
            reg_id: None,
            call_id: call_id.into(),
            cseq,
            path: Vec::new(),
        }
    }

    /// Whether the binding is live at `now`.
    pub fn is_live(&self, now: UnixTime) -> bool {
        now < self.expires_at
    }

    /// Time left at `now`.
    pub fn remaining(&self, now: UnixTime) -> Duration {
        self.expires_at.since(now)
    }

    /// Checks that the Contact is an absolute URI (`scheme:rest`, RFC 3261
    /// section 25.1 and RFC 3986 section 3.1: a scheme that starts with a
    /// letter, then letters, digits, `+`, `-` or `.`) and that every text
    /// field can be written into a SIP header as it is: a Contact of
    /// printable ASCII with no space, quote or angle bracket; an instance
    /// and Path values with no control character and balanced quotes and
    /// angle brackets; a Call-ID of printable ASCII with no space. Signing
    /// and stores refuse a record that fails this, and a server never
    /// prints such a binding.
    pub fn check_well_formed(&self) -> Result<(), Error> {
        let bad = |what: &str| {
            Err(Error::InvalidBinding(format!(
                "{what} cannot go into a SIP header"
            )))
        };
        let uri_byte = |b: u8| b.is_ascii_graphic() && !matches!(b, b'<' | b'>' | b'"');
        if !self.contact.bytes().all(uri_byte) {
            return bad("Contact URI");
        }
        if !is_absolute_uri(&self.contact) {
            return Err(Error::InvalidBinding(format!(
                "Contact {:?} is not an absolute URI (scheme:rest, such as sip:alice@192.0.2.4)",
                self.contact.chars().take(64).collect::<String>()
            )));
        }
        if self.call_id.is_empty() || !self.call_id.bytes().all(|b| b.is_ascii_graphic()) {
            return bad("Call-ID");
        }
        if let Some(i) = &self.instance
            && (!i
                .bytes()
                .all(|b| b.is_ascii_graphic() && b != b'"' && b != b'\\')
                || !balanced(i))
        {
            return bad("+sip.instance");
        }
        if self
            .path
            .iter()
            .any(|p| p.chars().any(char::is_control) || !balanced(p))
        {
            return bad("Path");
        }
        Ok(())
    }

    /// Whether `other` updates this binding rather than adding one: the same
    /// instance and reg-id (RFC 5626), or the same Contact otherwise.
    pub fn same_flow(&self, other: &Binding) -> bool {
        match (&self.instance, &other.instance) {
            (Some(a), Some(b)) if self.reg_id.is_some() || other.reg_id.is_some() => {
                a == b && self.reg_id == other.reg_id
            }
            _ => self.contact == other.contact,
        }
    }
}

/// Whether `<` and `>` pair up outside quoted strings, and quotes close.
fn balanced(text: &str) -> bool {
    let (mut depth, mut quoted, mut escaped) = (0u32, false, false);
    for c in text.chars() {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            '<' if !quoted => {
                if depth > 0 {
                    return false;
                }
                depth = 1;
            }
            '>' if !quoted => {
                if depth == 0 {
                    return false;
                }
                depth = 0;
            }
            _ => {}
        }
    }
    depth == 0 && !quoted
}

/// The bindings of one AOR from one publisher.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    /// The address of record.
    pub aor: Aor,
    /// Grows with every change by the same publisher; stores refuse an older one.
    pub version: u64,
    /// The bindings. An empty list removes the publisher's bindings.
    pub bindings: Vec<Binding>,
}

impl Record {
    /// An empty record (one that removes all bindings when published).
    pub fn new(aor: Aor, version: u64) -> Self {
        Self {
            aor,
            version,
            bindings: Vec::new(),
        }
    }

    /// A version above `previous` that also grows across restarts: the wall
    /// clock in milliseconds, or `previous + 1` if that is larger.
    pub fn next_version(previous: Option<u64>) -> u64 {
        let clock = UnixTime::now().as_millis();
        previous.map_or(clock, |p| clock.max(p.saturating_add(1)))
    }

    /// The latest expiry among the bindings, or `None` with no binding.
    pub fn last_expiry(&self) -> Option<UnixTime> {
        self.bindings.iter().map(|b| b.expires_at).max()
    }

    /// Signs the record as `identity`. Fails with
    /// [`Error::InvalidBinding`] for a binding that no store would take
    /// ([`Binding::check_well_formed`]), so that it is refused where it is
    /// made, and with [`Error::Encode`] if the record cannot be encoded.
    pub fn sign(self, identity: &Identity) -> Result<SignedRecord, Error> {
        self.bindings
            .iter()
            .try_for_each(Binding::check_well_formed)?;
        let publisher = identity.public_key();
        let signature = identity.sign(&signing_bytes(&publisher, &self)?);
        Ok(SignedRecord {
            record: self,
            publisher,
            signature,
        })
    }
}

impl Record {
    /// Signs with `identity` into a record known, by construction, to carry
    /// a valid signature: a store in this process may take it without
    /// checking the signature again (the access policy still applies).
    pub fn sign_own(self, identity: &Identity) -> Result<OwnRecord, Error> {
        self.sign(identity).map(OwnRecord)
    }
}

/// A record signed in this process by [`Record::sign_own`]. Only signing
/// makes one, so its signature verifies; stores skip that check for it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OwnRecord(SignedRecord);

impl OwnRecord {
    /// The signed record.
    pub fn signed(&self) -> &SignedRecord {
        &self.0
    }

    /// The signed record, to send or store elsewhere.
    pub fn into_signed(self) -> SignedRecord {
        self.0
    }
}

/// `scheme:rest` with a scheme of a letter, then letters, digits, `+`,
/// `-` or `.`, and something after the colon.
fn is_absolute_uri(text: &str) -> bool {
    let Some((scheme, rest)) = text.split_once(':') else {
        return false;
    };
    let mut bytes = scheme.bytes();
    bytes.next().is_some_and(|b| b.is_ascii_alphabetic())
        && bytes.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'))
        && !rest.is_empty()
}

/// Orders contacts as every query answers them: highest q first, then the
/// latest expiry, then by Contact text.
pub fn sort_contacts(bindings: &mut [Binding]) {
    if bindings.len() > 1 {
        bindings.sort_by(|a, b| {
            contact_order(
                (a.q, a.expires_at, &a.contact),
                (b.q, b.expires_at, &b.contact),
            )
        });
    }
}

/// The order of [`sort_contacts`], on a binding's q, expiry and Contact.
pub(crate) fn contact_order(
    a: (QValue, UnixTime, &str),
    b: (QValue, UnixTime, &str),
) -> std::cmp::Ordering {
    (b.0, b.1, a.2).cmp(&(a.0, a.1, b.2))
}

/// The live bindings of `records`, merged and ordered by [`sort_contacts`].
/// A reader uses it on records it fetched and verified itself.
pub fn live_bindings<'a>(
    records: impl IntoIterator<Item = &'a Record>,
    now: UnixTime,
) -> Vec<Binding> {
    let mut out: Vec<Binding> = records
        .into_iter()
        .flat_map(|r| r.bindings.iter().filter(|b| b.is_live(now)).cloned())
        .collect();
    sort_contacts(&mut out);
    out
}

/// The signature slot of a record that a store in this process keeps before
/// signing it (see `LocationService::publish_as`). No signature by a key of
/// prime order is all zero: it would need `R` of small order.
pub(crate) const UNSIGNED: Signature = Signature([0; 64]);

/// The bytes a record's signature covers.
pub fn signing_bytes(publisher: &PublicKey, record: &Record) -> Result<Vec<u8>, Error> {
    postcard::to_extend(&(publisher, record), SIGNING_TAG.to_vec()).map_err(Error::Encode)
}

/// A record with its publisher's key and signature.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedRecord {
    /// What was signed.
    pub record: Record,
    /// Who signed it.
    pub publisher: PublicKey,
    /// The ed25519 signature over [`signing_bytes`].
    pub signature: Signature,
}

impl SignedRecord {
    /// Checks the signature against the record's own publisher key.
    pub fn verify(&self) -> Result<(), Error> {
        self.publisher.verify(
            &signing_bytes(&self.publisher, &self.record)?,
            &self.signature,
        )
    }

    /// Checks that `expected` signed the record.
    pub fn verify_from(&self, expected: &PublicKey) -> Result<(), Error> {
        if self.publisher != *expected {
            return Err(Error::WrongKey {
                expected: *expected,
                found: self.publisher,
            });
        }
        self.verify()
    }

    /// The wire encoding: postcard of `(record, publisher, signature)`.
    pub fn to_bytes(&self) -> Result<Vec<u8>, Error> {
        postcard::to_allocvec(self).map_err(Error::Encode)
    }

    /// Decodes [`SignedRecord::to_bytes`] output. It does not check the
    /// signature: call [`SignedRecord::verify`].
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, Error> {
        if bytes.len() > MAX_RECORD_BYTES {
            return Err(Error::RecordTooLarge {
                size: bytes.len(),
                limit: MAX_RECORD_BYTES,
            });
        }
        match postcard::take_from_bytes::<Self>(bytes) {
            Ok((rec, [])) => Ok(rec),
            Ok((_, rest)) => Err(DecodeError::TrailingBytes(rest.len()).into()),
            Err(e) => Err(DecodeError::Postcard(e).into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn q_values() {
        for (text, v) in [
            ("0", 0),
            ("1", 1000),
            ("0.5", 500),
            ("0.05", 50),
            ("1.000", 1000),
            ("0.123", 123),
        ] {
            assert_eq!(QValue::parse(text).unwrap().thousandths(), v, "{text}");
        }
        for bad in ["", "2", "1.001", "0.1234", ".5", "0,5", "-0", "0.x"] {
            assert!(QValue::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(QValue::parse("0.50").unwrap().to_string(), "0.5");
        assert_eq!(QValue::MAX.to_string(), "1");
        assert_eq!(QValue::from_thousandths(0).unwrap().to_string(), "0");
        assert!(postcard::from_bytes::<QValue>(&postcard::to_allocvec(&1001u16).unwrap()).is_err());
    }

    #[test]
    fn same_flow() {
        let mut a = Binding::new("sip:a@1.2.3.4", UnixTime(10), "c", 1);
        let mut b = Binding::new("sip:a@5.6.7.8", UnixTime(10), "c", 2);
        assert!(!a.same_flow(&b));
        a.instance = Some("<urn:uuid:1>".into());
        b.instance = Some("<urn:uuid:1>".into());
        a.reg_id = Some(1);
        b.reg_id = Some(1);
        assert!(a.same_flow(&b));
        b.reg_id = Some(2);
        assert!(!a.same_flow(&b));
    }

    #[test]
    fn next_version_grows() {
        let v = Record::next_version(None);
        assert!(Record::next_version(Some(v)) > v);
        assert_eq!(Record::next_version(Some(u64::MAX - 1)), u64::MAX);
    }
}
