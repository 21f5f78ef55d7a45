//! Message boundaries in a TCP stream, looking at each byte about once: the
//! search for a head's end resumes where it stopped, and once a head is
//! read only the body's length is awaited. A sender that trickles its bytes
//! one at a time costs no more scanning than one that sends them together
//! (a rescan of the whole buffer on every read made one byte buy up to
//! 64 KiB of work).

use crate::message::{self, MAX_MESSAGE_LEN, Malformed};

#[derive(Debug, Default)]
pub(super) struct Framer {
    /// Leading CR and LF bytes (keep-alives) before the message.
    skip: usize,
    /// Bytes already searched for the head's end.
    scanned: usize,
    /// The message's whole length, once its head is read.
    total: Option<usize>,
}

impl Framer {
    /// The length of the message at the start of `buf` once `buf` holds
    /// all of it; the caller then takes those bytes off, and the framer
    /// starts on the next message. `buf` only grows between calls.
    pub(super) fn next_len(&mut self, buf: &[u8]) -> Result<Option<usize>, Malformed> {
        if self.total.is_none() {
            if self.scanned == self.skip {
                let run = buf[self.skip..]
                    .iter()
                    .take_while(|b| matches!(b, b'\r' | b'\n'));
                self.skip += run.count();
                self.scanned = self.skip;
            }
            let from = self.scanned.saturating_sub(3).max(self.skip);
            let head_ends = message::find(&buf[from..], b"\r\n\r\n").is_some();
            self.scanned = buf.len();
            if !head_ends && buf.len() <= MAX_MESSAGE_LEN {
                return Ok(None);
            }
            // The head is whole (or the message too large): read it once.
            self.total = message::stream_frame_total(buf)?;
        }
        match self.total {
            Some(total) if buf.len() >= total => {
                *self = Self::default();
                Ok(Some(total))
            }
            _ => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Framer;

    const REQ: &[u8] = b"OPTIONS sip:a@example.com SIP/2.0\r\nVia: SIP/2.0/TCP 192.0.2.1;branch=z9hG4bK1\r\nContent-Length: 4\r\n\r\nbody";

    /// Byte by byte, with keep-alives before it, and as a whole: the same
    /// boundaries as `stream_frame_len`.
    #[test]
    fn a_trickled_message_is_framed_as_a_whole_one() {
        let mut stream = b"\r\n\r\n".to_vec();
        stream.extend_from_slice(REQ);
        stream.extend_from_slice(REQ);
        let first = 4 + REQ.len();
        let mut framer = Framer::default();
        let mut buf = Vec::new();
        let mut found = Vec::new();
        for &b in &stream {
            buf.push(b);
            if let Some(len) = framer.next_len(&buf).expect("well formed") {
                found.push(len);
                buf.drain(..len);
            }
        }
        assert_eq!(found, [first, REQ.len()]);
        assert!(buf.is_empty());
        let mut framer = Framer::default();
        assert_eq!(framer.next_len(&stream).expect("ok"), Some(first));
    }

    #[test]
    fn a_head_that_never_ends_is_refused_at_the_size_bound() {
        let mut framer = Framer::default();
        let mut buf = b"OPTIONS sip:a@example.com SIP/2.0\r\nX: ".to_vec();
        let mut refused = None;
        while buf.len() <= super::MAX_MESSAGE_LEN + 1024 {
            buf.extend_from_slice(&[b'a'; 512]);
            if let Err(m) = framer.next_len(&buf) {
                refused = Some(m.code);
                break;
            }
        }
        assert_eq!(refused, Some(513));
    }
}
