//! SIP message parsing and response building.
//!
//! Header splitting, compact forms, folding and the typed headers come from
//! `ezk-sip-types`. It is lenient where RFC 3261 is strict, so this module
//! adds the checks that RFC 4475 section 3.1.2 exercises: the exact
//! Request-Line shape, full consumption of every header we read, display
//! names, scalar ranges and Content-Length.

use std::fmt::Write as _;
use std::net::SocketAddr;

use bytes::Bytes;
use ezk_sip_types::Method;
use ezk_sip_types::header::HeaderParse;
use ezk_sip_types::header::typed::{CSeq, Contact, Via};
use ezk_sip_types::msg::PullParser;
use ezk_sip_types::parse::Parse;
use ezk_sip_types::print::AppendCtx;
use ezk_sip_types::uri::SipUri;

pub use crate::headers::Headers;

/// Largest message accepted on any transport; larger ones are refused.
pub const MAX_MESSAGE_LEN: usize = 64 * 1024;
/// Most header lines one message may carry.
const MAX_HEADER_LINES: usize = 256;

/// What arrived: a request, or something a server ignores.
#[derive(Debug)]
pub enum Inbound {
    /// A request that passed every check.
    Request(Box<Request>),
    /// A response; a registrar or redirect server sends no request, so it
    /// has nothing to match it with and drops it.
    Response,
    /// Bare CRLFs (RFC 5626 keep-alive).
    KeepAlive,
}

/// A request this server must refuse, with what it needs to say so.
#[derive(Debug, Clone)]
pub struct Malformed {
    /// Status code to answer with (400, 416, 505, 513).
    pub code: u16,
    /// Reason phrase naming the fault.
    pub reason: String,
    /// The headers a response copies; `None` when they are missing, and
    /// then the message is dropped.
    pub echo: Option<Box<Echo>>,
}

impl Malformed {
    fn new(code: u16, reason: impl Into<String>, echo: Option<Echo>) -> Self {
        Self {
            code,
            reason: reason.into(),
            echo: echo.map(Box::new),
        }
    }

    /// The response to send to `source`, or `None` when the message is to
    /// be dropped.
    pub fn response(&self, source: SocketAddr) -> Option<Response> {
        let mut echo = *self.echo.clone()?;
        echo.stamp_source(source);
        Some(Response::new(self.code, self.reason.clone(), echo))
    }
}

/// The headers a response copies from its request (RFC 3261 section 8.2.6.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Echo {
    vias: Vec<String>,
    from: String,
    to: String,
    call_id: String,
    cseq: String,
    /// The source the top Via was stamped with.
    stamped: Option<SocketAddr>,
}

impl Echo {
    /// Adds `received` and `rport` to the top Via (RFC 3261 18.2.1, RFC 3581)
    /// so that the response finds its way back through NAT: `received`
    /// when the sent-by host is not the source's address or `rport` asks
    /// for it, and not otherwise (every byte counts toward an address not
    /// proved).
    pub fn stamp_source(&mut self, source: SocketAddr) {
        if self.stamped == Some(source) {
            return;
        }
        self.stamped = Some(source);
        let Some(top) = self.vias.first_mut() else {
            return;
        };
        let mut out = String::with_capacity(top.len() + 40);
        let (mut has_received, mut has_rport) = (false, false);
        for (i, part) in top.split(';').enumerate() {
            if i > 0 {
                out.push(';');
            }
            let name = part.split('=').next().unwrap_or("").trim();
            if name.eq_ignore_ascii_case("rport") {
                has_rport = true;
                let _ = write!(out, "rport={}", source.port());
            } else {
                if name.eq_ignore_ascii_case("received") {
                    has_received = true;
                }
                out.push_str(part);
            }
        }
        if !has_received && (has_rport || sent_by_host(&out) != Some(source.ip())) {
            let _ = write!(out, ";received={}", source.ip());
        }
        *top = out;
    }
}

/// The host of a Via's sent-by (`SIP/2.0/UDP host[:port];...`) when it is
/// an IP address.
fn sent_by_host(via: &str) -> Option<std::net::IpAddr> {
    let sent_by = via.split(';').next()?.split_whitespace().nth(1)?;
    let host = match sent_by.strip_prefix('[') {
        Some(v6) => v6.split(']').next()?,
        None => sent_by.rsplit_once(':').map_or(sent_by, |(h, _)| h),
    };
    host.parse().ok()
}

/// A parsed and checked SIP request.
#[derive(Debug, Clone)]
pub struct Request {
    /// The method.
    pub method: Method,
    /// The Request-URI.
    pub uri: SipUri,
    /// The Request-URI as it was sent.
    pub uri_text: String,
    /// Every header, by name; compact and long forms are one name.
    pub headers: Headers,
    /// The body, exactly Content-Length bytes.
    pub body: Bytes,
    /// CSeq number.
    pub cseq: u32,
    /// Call-ID.
    pub call_id: String,
    /// The top Via's branch.
    pub branch: Option<String>,
    /// The top Via's sent-by, as text.
    pub sent_by: String,
    /// From tag.
    pub from_tag: Option<String>,
    /// To tag; present on in-dialog requests.
    pub to_tag: Option<String>,
    /// The To URI, without display name or parameters.
    pub to_uri: String,
    /// Max-Forwards, 70 when absent.
    pub max_forwards: u8,
    /// What a response copies.
    pub echo: Echo,
    /// The most bytes a response may take toward an address that has not
    /// shown it receives what is sent there; `None` when unbounded.
    budget: Option<usize>,
}

impl Request {
    /// Bounds the response to `bytes` (see [`Request::response_budget`]).
    pub(crate) fn set_response_budget(&mut self, bytes: Option<usize>) {
        self.budget = bytes;
    }

    /// The most bytes a response may take: a server bounds what a small
    /// request buys toward an address that may be spoofed.
    pub fn response_budget(&self) -> Option<usize> {
        self.budget
    }

    /// Raw values of one header (any case, long or compact name), in order.
    pub fn header_values<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.headers.get(name)
    }

    /// The first value of a header.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.first(name)
    }

    /// Whether a comma-separated option list header (Supported, Require)
    /// names `option`.
    pub fn lists_option(&self, name: &str, option: &str) -> bool {
        self.header_values(name)
            .flat_map(|v| v.split(','))
            .any(|o| o.trim().eq_ignore_ascii_case(option))
    }

    /// Adds `received` and `rport` for `source` to the top Via that
    /// responses copy (see [`Echo::stamp_source`]).
    pub fn stamp_source(&mut self, source: SocketAddr) {
        self.echo.stamp_source(source);
    }

    /// The source [`stamp_source`](Self::stamp_source) was called with.
    pub(crate) fn source(&self) -> Option<SocketAddr> {
        self.echo.stamped
    }

    /// Whether [`stamp_source`](Self::stamp_source) was called with `source`.
    pub fn is_stamped_for(&self, source: SocketAddr) -> bool {
        self.echo.stamped == Some(source)
    }

    /// A response to this request.
    pub fn response(&self, code: u16, reason: impl Into<String>) -> Response {
        Response::new(code, reason, self.echo.clone())
    }
}

/// A response under construction.
#[derive(Debug, Clone)]
pub struct Response {
    /// Status code.
    pub code: u16,
    reason: String,
    echo: Echo,
    to_tag: Option<String>,
    headers: Vec<(&'static str, String)>,
}

impl Response {
    /// A response with the copied headers and nothing else.
    pub fn new(code: u16, reason: impl Into<String>, echo: Echo) -> Self {
        // A reason phrase is one line of text: drop what would break framing.
        let reason: String = reason
            .into()
            .chars()
            .filter(|c| !c.is_control())
            .take(120)
            .collect();
        Self {
            code,
            reason,
            echo,
            to_tag: None,
            headers: Vec::new(),
        }
    }

    /// The reason phrase.
    pub fn reason(&self) -> &str {
        &self.reason
    }

    /// Adds a To tag unless the request's To already has one.
    pub fn with_to_tag(mut self, tag: impl Into<String>) -> Self {
        if !has_param(&self.echo.to, "tag") {
            self.to_tag = Some(tag.into());
        }
        self
    }

    /// Appends a header.
    pub fn with_header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }

    /// If the response is longer than `budget` bytes, drops the headers
    /// that only inform (`Server`, `Accept`, `Supported`, `Date`, and
    /// `Allow` except in a 405, which must carry it), so that an answer
    /// toward an address not proved fits what its request paid.
    pub(crate) fn fit(&mut self, budget: usize) {
        if self.to_bytes().len() <= budget {
            return;
        }
        let code = self.code;
        self.headers.retain(|(name, _)| {
            let informative = matches!(*name, "Server" | "Accept" | "Supported" | "Date")
                || (*name == "Allow" && code != 405);
            !informative
        });
    }

    /// Values of an added header, in order.
    pub fn header_values<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.headers
            .iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The response on the wire.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = String::with_capacity(256);
        let _ = write!(out, "SIP/2.0 {} {}\r\n", self.code, self.reason);
        for via in &self.echo.vias {
            let _ = write!(out, "Via: {via}\r\n");
        }
        let _ = write!(out, "From: {}\r\n", self.echo.from);
        match &self.to_tag {
            Some(tag) => {
                let _ = write!(out, "To: {};tag={tag}\r\n", self.echo.to);
            }
            None => {
                let _ = write!(out, "To: {}\r\n", self.echo.to);
            }
        }
        let _ = write!(out, "Call-ID: {}\r\n", self.echo.call_id);
        let _ = write!(out, "CSeq: {}\r\n", self.echo.cseq);
        for (name, value) in &self.headers {
            let _ = write!(out, "{name}: {value}\r\n");
        }
        out.push_str("Content-Length: 0\r\n\r\n");
        out.into_bytes()
    }
}

/// Where the next message in a stream ends: `Ok(Some(len))` when `buf`
/// holds a whole message, `Ok(None)` when more bytes are needed.
pub fn stream_frame_len(buf: &[u8]) -> Result<Option<usize>, Malformed> {
    Ok(stream_frame_total(buf)?.filter(|total| buf.len() >= *total))
}

/// Where the next message in a stream will end, once `buf` holds its whole
/// head (its body may still be on its way); `Ok(None)` before that.
pub(crate) fn stream_frame_total(buf: &[u8]) -> Result<Option<usize>, Malformed> {
    let skip = buf
        .iter()
        .take_while(|b| matches!(b, b'\r' | b'\n'))
        .count();
    let Some(head) = find(&buf[skip..], b"\r\n\r\n") else {
        if buf.len() > MAX_MESSAGE_LEN {
            return Err(Malformed::new(513, "Message Too Large", None));
        }
        return Ok(None);
    };
    let head_end = skip + head + 4;
    let text = String::from_utf8_lossy(&buf[skip..head_end]);
    let mut content_length = 0usize;
    for line in text.split("\r\n") {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let name = name.trim();
        if name.eq_ignore_ascii_case("content-length") || name.eq_ignore_ascii_case("l") {
            content_length = value.trim().parse().map_err(|_| {
                Malformed::new(400, "Invalid Content-Length", echo_of_head(&buf[skip..]))
            })?;
        }
    }
    let total = head_end.saturating_add(content_length);
    if total > MAX_MESSAGE_LEN + skip {
        return Err(Malformed::new(
            513,
            "Message Too Large",
            echo_of_head(&buf[skip..]),
        ));
    }
    Ok(Some(total))
}

/// The echo headers of a message head, if it parses that far.
fn echo_of_head(buf: &[u8]) -> Option<Echo> {
    match parse(buf) {
        Ok(Inbound::Request(r)) => Some(r.echo),
        Err(m) => m.echo.map(|e| *e),
        _ => None,
    }
}

pub(crate) fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Parses and checks one whole message: a datagram, or a frame cut by
/// [`stream_frame_len`].
pub fn parse(buf: &[u8]) -> Result<Inbound, Malformed> {
    if buf.iter().all(|b| matches!(b, b'\r' | b'\n')) {
        return Ok(Inbound::KeepAlive);
    }
    // RFC 3261 section 7.5: ignore CRLFs before the start line.
    let skip = buf
        .iter()
        .take_while(|b| matches!(b, b'\r' | b'\n'))
        .count();
    let buf = &buf[skip..];
    if buf.len() > MAX_MESSAGE_LEN {
        return Err(Malformed::new(513, "Message Too Large", None));
    }
    let src = Bytes::copy_from_slice(buf);
    let mut lines = PullParser::new(&src, 0);
    let start = match lines.next() {
        Some(Ok(line)) => line,
        _ => return Err(Malformed::new(400, "Incomplete message head", None)),
    };
    let start = std::str::from_utf8(start)
        .map_err(|_| Malformed::new(400, "Start line is not UTF-8", None))?;
    if start.starts_with("SIP/") {
        return Ok(Inbound::Response);
    }

    let mut headers = Headers::new();
    let mut count = 0;
    for line in lines.by_ref() {
        let Ok(line) = line else {
            return Err(Malformed::new(400, "Incomplete message head", None));
        };
        count += 1;
        if count > MAX_HEADER_LINES {
            return Err(Malformed::new(400, "Too many header lines", None));
        }
        let text = std::str::from_utf8(line)
            .map_err(|_| Malformed::new(400, "Header line is not UTF-8", None))?;
        match split_field(text) {
            Some((name, value)) => {
                // Folded lines keep their CRLF; a value is one logical line.
                headers.insert(name, unfold(value));
            }
            None => {
                let echo = echo_from(&headers).ok();
                return Err(Malformed::new(400, "Malformed header line", echo));
            }
        }
    }
    let head_end = lines.head_end();
    let echo = echo_from(&headers)
        .map_err(|missing| Malformed::new(400, format!("Missing {missing} header"), None))?;
    let fail = |code: u16, reason: &str| Malformed::new(code, reason, Some(echo.clone()));

    // Request-Line = Method SP Request-URI SP SIP-Version (RFC 3261 7.1).
    let mut parts = start.split(' ');
    let (Some(method), Some(uri_text), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(fail(400, "Malformed Request-Line"));
    };
    if !version.starts_with("SIP/") {
        return Err(fail(400, "Malformed Request-Line"));
    }
    if version != "SIP/2.0" {
        return Err(fail(505, "Version Not Supported"));
    }
    if method.is_empty() || !method.bytes().all(is_token_byte) {
        return Err(fail(400, "Malformed method"));
    }
    let method = Method::from(method);
    if uri_text.starts_with('<') {
        return Err(fail(400, "Request-URI must not be enclosed in <>"));
    }
    let scheme = uri_text.split(':').next().unwrap_or("");
    if !scheme.eq_ignore_ascii_case("sip") && !scheme.eq_ignore_ascii_case("sips") {
        return Err(fail(416, "Unsupported URI Scheme"));
    }
    let uri = SipUri::parse_str(uri_text).map_err(|_| fail(400, "Malformed Request-URI"))?;
    if !uri.header_params.is_empty() {
        return Err(fail(400, "Request-URI must not carry headers"));
    }

    let cseq_raw = headers.first("CSeq");
    let cseq = cseq_raw
        .and_then(full::<CSeq>)
        .filter(|c| c.cseq < 1 << 31)
        .ok_or_else(|| fail(400, "Malformed CSeq"))?;
    if cseq.method != method {
        return Err(fail(400, "CSeq method does not match the Request-Line"));
    }
    let call_id = echo.call_id.clone();
    if call_id.is_empty() || call_id.contains(char::is_whitespace) {
        return Err(fail(400, "Malformed Call-ID"));
    }

    let mut vias = Vec::new();
    for raw in headers.get("Via") {
        for part in split_commas(raw) {
            vias.push(full::<Via>(part).ok_or_else(|| fail(400, "Malformed Via"))?);
        }
    }
    let top = vias.first().ok_or_else(|| fail(400, "Malformed Via"))?;
    let branch = top.params.get_val("branch").map(|b| b.to_string());
    let sent_by = top.sent_by.default_print_ctx().to_string();

    let from = check_name_addr(&echo.from).map_err(|f| fail(400, &format!("From: {f}")))?;
    let to = check_name_addr(&echo.to).map_err(|f| fail(400, &format!("To: {f}")))?;

    let max_forwards = match headers.first("Max-Forwards") {
        None => 70,
        Some(v) => v
            .trim()
            .parse::<u8>()
            .map_err(|_| fail(400, "Invalid Max-Forwards"))?,
    };
    if let Some(date) = headers.first("Date")
        && httpdate::parse_http_date(date.trim()).is_err()
    {
        return Err(fail(400, "Invalid Date (RFC 1123 in GMT expected)"));
    }

    let available = buf.len() - head_end.min(buf.len());
    let body_len = match headers.first("Content-Length") {
        None => available,
        Some(v) => {
            let n = v
                .trim()
                .parse::<usize>()
                .map_err(|_| fail(400, "Invalid Content-Length"))?;
            if n > available {
                return Err(fail(400, "Content-Length exceeds the message"));
            }
            n
        }
    };
    for raw in headers.get("Contact") {
        if raw.trim() != "*" {
            parse_contacts(raw).map_err(|f| fail(400, &f))?;
        }
    }

    Ok(Inbound::Request(Box::new(Request {
        method,
        uri,
        uri_text: uri_text.to_owned(),
        body: src.slice(head_end..head_end + body_len),
        cseq: cseq.cseq,
        call_id,
        branch,
        sent_by,
        from_tag: from.tag,
        to_tag: to.tag,
        to_uri: to.uri,
        max_forwards,
        echo,
        headers,
        budget: None,
    })))
}

fn unfold(value: &str) -> String {
    if !value.contains(['\r', '\n']) {
        return value.to_owned();
    }
    let mut out = String::with_capacity(value.len());
    for piece in value.split(['\r', '\n']) {
        let piece = piece.trim_start_matches([' ', '\t']);
        if piece.is_empty() {
            continue;
        }
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(piece);
    }
    out
}

fn echo_from(headers: &Headers) -> Result<Echo, &'static str> {
    let one = |name: &str, label: &'static str| {
        headers
            .first(name)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
            .ok_or(label)
    };
    let vias: Vec<String> = headers.get("Via").map(|v| v.trim().to_owned()).collect();
    if vias.is_empty() {
        return Err("Via");
    }
    Ok(Echo {
        vias,
        from: one("From", "From")?,
        to: one("To", "To")?,
        call_id: one("Call-ID", "Call-ID")?,
        cseq: one("CSeq", "CSeq")?,
        stamped: None,
    })
}

/// `field-name HCOLON field-value`: the name must be a token.
fn split_field(line: &str) -> Option<(&str, &str)> {
    let (name, value) = line.split_once(':')?;
    let name = name.trim_end_matches([' ', '\t']);
    if name.is_empty() || !name.bytes().all(is_token_byte) {
        return None;
    }
    Some((name, value.trim_matches([' ', '\t'])))
}

/// Parses a typed header value and insists that nothing is left over.
fn full<H: HeaderParse>(value: &str) -> Option<H> {
    let src = Bytes::copy_from_slice(value.trim().as_bytes());
    let text = std::str::from_utf8(&src).ok()?;
    match H::parse(&src, text) {
        Ok((rest, h)) if rest.trim().is_empty() => Some(h),
        _ => None,
    }
}

fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-.!%*_+`'~".contains(&b)
}

/// Splits a header value at commas outside quotes and angle brackets.
pub(crate) fn split_commas(value: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let (mut quoted, mut escaped, mut angle, mut start) = (false, false, false, 0);
    for (i, c) in value.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            '<' if !quoted => angle = true,
            '>' if !quoted => angle = false,
            ',' if !quoted && !angle => {
                out.push(value[start..i].trim());
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(value[start..].trim());
    out
}

/// A From/To/Contact value, checked by hand where the parser is lenient.
#[derive(Debug, Clone)]
pub(crate) struct NameAddrParts {
    /// The URI, without <>.
    pub uri: String,
    /// Header parameters after the URI, as (name, value) with quotes kept.
    pub params: Vec<(String, Option<String>)>,
    pub tag: Option<String>,
}

/// Checks `[display-name] <uri> *(;param)` or a bare addr-spec with params.
pub(crate) fn check_name_addr(value: &str) -> Result<NameAddrParts, String> {
    let value = value.trim();
    let (uri, rest) = if let Some(open) = find_unquoted(value, '<')? {
        let display = value[..open].trim();
        check_display_name(display)?;
        let close = value[open..]
            .find('>')
            .ok_or("unterminated <")?
            .saturating_add(open);
        (&value[open + 1..close], &value[close + 1..])
    } else {
        // addr-spec: the URI ends at the first ';' and may not carry
        // headers or commas (RFC 3261 section 20).
        let end = value.find(';').unwrap_or(value.len());
        let uri = &value[..end];
        if uri.contains(['?', ',']) {
            return Err("a URI with headers must be enclosed in <>".into());
        }
        (uri, &value[end..])
    };
    if uri.is_empty() || uri.contains(char::is_whitespace) {
        return Err("malformed URI".into());
    }
    let mut params = Vec::new();
    let mut tag = None;
    let rest = rest.trim();
    if !rest.is_empty() {
        let rest = rest.strip_prefix(';').ok_or("junk after the URI")?;
        for param in rest.split(';') {
            let (name, val) = match param.split_once('=') {
                Some((n, v)) => (n.trim(), Some(v.trim())),
                None => (param.trim(), None),
            };
            if name.is_empty() || !name.bytes().all(is_token_byte) {
                return Err("malformed parameter".into());
            }
            if let Some(v) = val {
                let quoted = v.len() >= 2 && v.starts_with('"') && v.ends_with('"');
                if v.is_empty()
                    || (!quoted
                        && !v
                            .bytes()
                            .all(|b| is_token_byte(b) || b == b':' || b == b'[' || b == b']'))
                {
                    return Err("malformed parameter value".into());
                }
            }
            if name.eq_ignore_ascii_case("tag") {
                tag = val.map(str::to_owned);
            }
            params.push((name.to_ascii_lowercase(), val.map(str::to_owned)));
        }
    }
    Ok(NameAddrParts {
        uri: uri.to_owned(),
        params,
        tag,
    })
}

/// The position of `needle` outside a quoted string; an error if a quote
/// is left open.
fn find_unquoted(value: &str, needle: char) -> Result<Option<usize>, String> {
    let (mut quoted, mut escaped) = (false, false);
    let mut found = None;
    for (i, c) in value.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            c if c == needle && !quoted && found.is_none() => found = Some(i),
            _ => {}
        }
    }
    if quoted {
        return Err("unterminated quoted string".into());
    }
    Ok(found)
}

/// display-name = *(token LWS) / quoted-string
fn check_display_name(display: &str) -> Result<(), String> {
    if display.is_empty() {
        return Ok(());
    }
    if display.starts_with('"') {
        return if display.len() >= 2 && display.ends_with('"') {
            Ok(())
        } else {
            Err("junk around the quoted display name".into())
        };
    }
    if display
        .bytes()
        .all(|b| is_token_byte(b) || b == b' ' || b == b'\t')
    {
        Ok(())
    } else {
        Err("display name with non-token characters must be quoted".into())
    }
}

/// The Contacts of one header value; `*` is handled by the caller.
pub(crate) fn parse_contacts(value: &str) -> Result<Vec<NameAddrParts>, String> {
    let mut out = Vec::new();
    for part in split_commas(value) {
        if part == "*" {
            return Err("Contact * mixed with other contacts".into());
        }
        let parts = check_name_addr(part).map_err(|f| format!("Contact: {f}"))?;
        if full::<Contact>(part).is_none() {
            return Err("Contact: malformed".into());
        }
        out.push(parts);
    }
    Ok(out)
}

fn has_param(value: &str, name: &str) -> bool {
    check_name_addr(value)
        .map(|p| p.params.iter().any(|(n, _)| n == name))
        .unwrap_or(false)
}
