//! How three SIP parsing crates handle REGISTERs and hostile messages (RFC
//! 4475 section 3.1.2 kinds, written for this project). Run with
//! `cargo run` here; it prints one line per parser per message.
use bytes::Bytes;
use rsip::headers::ToTypedHeader;

include!("../../../lsp-sip-adapter/tests/data/cases.rs");

fn rsip_check(msg: &str) -> String {
    match rsip::SipMessage::try_from(msg.as_bytes()) {
        Err(e) => format!("ERR {}", e.to_string().chars().take(60).collect::<String>()),
        Ok(m) => {
            let mut out = String::from("ok");
            if let rsip::SipMessage::Request(r) = &m {
                let contacts: Vec<String> = r
                    .headers
                    .iter()
                    .filter_map(|h| match h {
                        rsip::Header::Contact(c) => Some(match c.typed() {
                            Ok(t) => format!("[{} params={}]", t.uri, t.params.len()),
                            Err(e) => format!("[typed err {e}]"),
                        }),
                        _ => None,
                    })
                    .collect();
                if !contacts.is_empty() {
                    out += &format!(" contacts={}", contacts.join(","));
                }
                out += &format!(" cl={:?}", m.body().len());
            }
            out
        }
    }
}

fn rsipstack_check(msg: &str) -> String {
    match rsipstack::sip::parser::parse_message(msg.as_bytes()) {
        Err(e) => format!(
            "ERR {}",
            format!("{e:?}").chars().take(60).collect::<String>()
        ),
        Ok(_m) => "ok".into(),
    }
}

fn ezk_check(msg: &str) -> String {
    use ezk_sip_types::Headers;
    use ezk_sip_types::header::typed::Contact;
    use ezk_sip_types::msg::{Line, MessageLine, PullParser};
    use ezk_sip_types::parse::Parse;
    let src = Bytes::copy_from_slice(msg.as_bytes());
    let mut p = PullParser::new(&src, 0);
    let Some(Ok(first)) = p.next() else {
        return "ERR no start line".into();
    };
    let Ok(first) = std::str::from_utf8(first) else {
        return "ERR utf8".into();
    };
    let line = match MessageLine::parse_str(first) {
        Ok(l) => l,
        Err(e) => return format!("ERR start line {e:?}").chars().take(60).collect(),
    };
    let _ = line;
    let mut headers = Headers::new();
    for l in p.by_ref() {
        let Ok(l) = l else {
            return "ERR incomplete".into();
        };
        let Ok(s) = std::str::from_utf8(l) else {
            return "ERR utf8".into();
        };
        match Line::parse(&src, s) {
            Ok((_, line)) => headers.insert(line.name, line.value),
            Err(e) => return format!("ERR header {e:?}").chars().take(60).collect(),
        }
    }
    match headers.try_get_named::<Vec<Contact>>() {
        Some(Ok(cs)) => format!("ok contacts={}", cs.len()),
        Some(Err(e)) => format!("ok contacts-err {e:?}").chars().take(60).collect(),
        None => "ok".into(),
    }
}

fn main() {
    for (name, msg) in CASES {
        println!(
            "{name}\n  rsip:      {}\n  rsipstack: {}\n  ezk:       {}",
            rsip_check(msg),
            rsipstack_check(msg),
            ezk_check(msg)
        );
    }
}
