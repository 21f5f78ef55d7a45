//! Reading a SIP response as a client: the status, and the few headers a
//! registering UA acts on. Whatever arrives on the socket may come from
//! anyone, so anything that is not a well-formed response is `None`.

/// A SIP response, as text, with its status code.
#[derive(Debug, Clone)]
pub(crate) struct Reply {
    pub code: u16,
    head: String,
}

/// Compact header forms (RFC 3261 section 7.3.3) the client reads.
const COMPACT: [(&str, &str); 4] = [
    ("v", "Via"),
    ("i", "Call-ID"),
    ("m", "Contact"),
    ("t", "To"),
];

impl Reply {
    /// The response in `datagram`, if it is one.
    pub(crate) fn parse(datagram: &[u8]) -> Option<Reply> {
        let text = std::str::from_utf8(datagram).ok()?;
        let head = text.split("\r\n\r\n").next()?;
        let status = head.lines().next()?;
        let mut words = status.splitn(3, ' ');
        if words.next()? != "SIP/2.0" {
            return None;
        }
        let code: u16 = words.next()?.parse().ok()?;
        if !(100..700).contains(&code) {
            return None;
        }
        Some(Reply {
            code,
            head: head.to_owned(),
        })
    }

    /// The values of header `name` (its full name; compact forms count),
    /// each comma-separated value of a line apart for Via and Contact.
    pub(crate) fn headers<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        let compact = COMPACT
            .iter()
            .find(|(_, full)| full.eq_ignore_ascii_case(name))
            .map(|(c, _)| *c);
        self.head.split("\r\n").skip(1).filter_map(move |line| {
            let (n, v) = line.split_once(':')?;
            let n = n.trim();
            let matches = n.eq_ignore_ascii_case(name) || compact.is_some_and(|c| n == c);
            matches.then(|| v.trim())
        })
    }

    /// The reason phrase of the status line.
    pub(crate) fn reason(&self) -> &str {
        let status = self.head.lines().next().unwrap_or("");
        status.splitn(3, ' ').nth(2).unwrap_or("").trim()
    }

    /// The URIs of every Contact, in order: what is between `<` and `>`,
    /// or a bare URI up to its parameters. A comma inside a quoted
    /// display name or inside `<>` does not split.
    pub(crate) fn contact_uris(&self) -> Vec<String> {
        let mut uris = Vec::new();
        for value in self.headers("Contact") {
            for contact in split_list(value) {
                let contact = contact.trim();
                let uri = match (contact.find('<'), contact.find('>')) {
                    (Some(a), Some(b)) if a < b => &contact[a + 1..b],
                    _ => contact.split(';').next().unwrap_or(""),
                };
                if !uri.is_empty() && uri != "*" {
                    uris.push(uri.to_owned());
                }
            }
        }
        uris
    }

    pub(crate) fn header<'a>(&'a self, name: &'a str) -> Option<&'a str> {
        self.headers(name).next()
    }

    /// The CSeq number, if the CSeq header names `method`.
    pub(crate) fn cseq(&self, method: &str) -> Option<u32> {
        let (n, m) = self.header("CSeq")?.split_once(' ')?;
        (m.trim() == method).then(|| n.trim().parse().ok())?
    }

    /// Seconds of the Retry-After header.
    pub(crate) fn retry_after(&self) -> Option<u64> {
        let v = self.header("Retry-After")?;
        v.split([';', '(', ' ']).next()?.trim().parse().ok()
    }

    /// The lifetime granted to `contact`: its `expires` parameter in the
    /// 200's Contacts, else the Expires header.
    pub(crate) fn granted(&self, contact: &str) -> Option<u64> {
        let wanted = format!("<{contact}>");
        for value in self.headers("Contact") {
            for c in value.split(',') {
                let c = c.trim();
                if c.starts_with(&wanted)
                    && let Some(e) = param(c, "expires")
                {
                    return e.parse().ok();
                }
            }
        }
        self.header("Expires")?.parse().ok()
    }
}

/// The comma-separated items of a header value, commas in quotes or in
/// `<>` kept.
fn split_list(value: &str) -> Vec<&str> {
    let (mut items, mut start, mut quoted, mut angle) = (Vec::new(), 0, false, false);
    for (i, c) in value.char_indices() {
        match c {
            '"' if !angle => quoted = !quoted,
            '<' if !quoted => angle = true,
            '>' if !quoted => angle = false,
            ',' if !quoted && !angle => {
                items.push(&value[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    items.push(&value[start..]);
    items
}

/// A `name=value` or `name="value"` parameter of a header value.
pub(crate) fn param<'a>(value: &'a str, name: &str) -> Option<&'a str> {
    value
        .split([',', ';', ' '])
        .filter_map(|p| p.trim().split_once('='))
        .find(|(n, _)| n.trim().eq_ignore_ascii_case(name))
        .map(|(_, v)| v.trim().trim_matches('"'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_response_is_read_and_anything_else_is_not() {
        let ok = "SIP/2.0 200 OK\r\nv: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKx\r\n\
                  CSeq: 7 REGISTER\r\nContact: <sip:a@10.0.0.1:5070>;expires=120, \
                  <sip:b@10.0.0.2>;expires=30\r\nExpires: 600\r\n\r\n";
        let r = Reply::parse(ok.as_bytes()).expect("a response");
        assert_eq!(r.code, 200);
        assert_eq!(r.cseq("REGISTER"), Some(7));
        assert_eq!(r.cseq("INVITE"), None);
        assert_eq!(
            r.header("Via"),
            Some("SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKx")
        );
        assert_eq!(r.granted("sip:a@10.0.0.1:5070"), Some(120));
        assert_eq!(r.granted("sip:c@10.0.0.3"), Some(600));
        let busy = Reply::parse(b"SIP/2.0 503 Busy\r\nRetry-After: 30 (isolated)\r\n\r\n");
        assert_eq!(busy.and_then(|r| r.retry_after()), Some(30));
        let moved = "SIP/2.0 302 Moved Temporarily\r\nm: \"Bob, at home\" <sip:bob@10.0.0.5;transport=tcp>;q=0.9, \
                     sip:bob@10.0.0.6;q=0.1\r\nContact: <sip:bob@[2001:db8::1]:5070>\r\n\r\n";
        let moved = Reply::parse(moved.as_bytes()).expect("a response");
        assert_eq!(moved.reason(), "Moved Temporarily");
        assert_eq!(
            moved.contact_uris(),
            [
                "sip:bob@10.0.0.5;transport=tcp",
                "sip:bob@10.0.0.6",
                "sip:bob@[2001:db8::1]:5070"
            ]
        );
        for junk in [
            &b"REGISTER sip:x SIP/2.0\r\n\r\n"[..],
            b"SIP/2.0 99 Low\r\n\r\n",
            b"SIP/2.0 abc\r\n\r\n",
            b"\xff\xfe",
            b"",
        ] {
            assert!(Reply::parse(junk).is_none(), "{junk:?}");
        }
    }
}
