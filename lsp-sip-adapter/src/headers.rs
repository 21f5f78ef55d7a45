//! The header fields of one request, looked up by name: case-insensitive,
//! with compact forms (RFC 3261 section 7.3.3) taken as their long names.

/// Compact forms and the long names they stand for.
const COMPACT: &[(u8, &str)] = &[
    (b'a', "accept-contact"),
    (b'b', "referred-by"),
    (b'c', "content-type"),
    (b'd', "request-disposition"),
    (b'e', "content-encoding"),
    (b'f', "from"),
    (b'i', "call-id"),
    (b'j', "reject-contact"),
    (b'k', "supported"),
    (b'l', "content-length"),
    (b'm', "contact"),
    (b'o', "event"),
    (b'r', "refer-to"),
    (b's', "subject"),
    (b't', "to"),
    (b'u', "allow-events"),
    (b'v', "via"),
    (b'x', "session-expires"),
    (b'y', "identity"),
];

/// The long name of a compact form.
fn long_form(name: &str) -> Option<&'static str> {
    let [one] = name.as_bytes() else {
        return None;
    };
    COMPACT
        .iter()
        .find(|(c, _)| c.eq_ignore_ascii_case(one))
        .map(|(_, long)| *long)
}

/// Header fields in the order they came, each value one logical line.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Headers {
    fields: Vec<(Box<str>, String)>,
}

impl Headers {
    /// No fields.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends a field; `name` may be a compact form, in any case.
    pub fn insert(&mut self, name: &str, value: String) {
        let name = long_form(name).map_or_else(|| name.to_ascii_lowercase(), str::to_owned);
        self.fields.push((name.into(), value));
    }

    /// The values of the fields named `name` (any case, long or compact
    /// form), in order.
    pub fn get<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        let wanted = long_form(name).unwrap_or(name);
        self.fields
            .iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(wanted))
            .map(|(_, v)| v.as_str())
    }

    /// The first value named `name`.
    pub fn first(&self, name: &str) -> Option<&str> {
        let wanted = long_form(name).unwrap_or(name);
        self.fields
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(wanted))
            .map(|(_, v)| v.as_str())
    }

    /// How many fields there are.
    pub fn len(&self) -> usize {
        self.fields.len()
    }

    /// Whether there is none.
    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }

    /// Every field as (lowercase long name, value), in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.fields.iter().map(|(n, v)| (&**n, v.as_str()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compact_and_long_forms_in_any_case_are_one_name() {
        let mut h = Headers::new();
        h.insert("v", "SIP/2.0/UDP a".into());
        h.insert("VIA", "SIP/2.0/UDP b".into());
        h.insert("Call-ID", "x".into());
        h.insert("X-Custom", "y".into());
        assert_eq!(
            h.get("Via").collect::<Vec<_>>(),
            ["SIP/2.0/UDP a", "SIP/2.0/UDP b"]
        );
        assert_eq!(h.get("v").count(), 2);
        assert_eq!(h.first("i"), Some("x"));
        assert_eq!(h.first("x-custom"), Some("y"));
        assert_eq!(h.first("Contact"), None);
        assert_eq!(h.len(), 4);
    }
}
