//! The enrollment file: what `lsp-node enroll` prints, saved as it is
//! (`lsp-node enroll ... > enrollment.txt`), is what `admission.enrollment_file`
//! reads. Lines of `name value`:
//!
//! ```text
//! ring-key 3b6a27bc...      the ring's enrollment public key (optional)
//! expires-ms 1797000000000  the expiry in Unix milliseconds (optional)
//! enrollment 9f86d081...    the 104-byte enrollment in hex (required)
//! ```
//!
//! A file holding the enrollment's hex alone is read too. Blank lines and
//! lines starting with `#` are passed over; any other line is an error.

use lsp_core::{Enrollment, EnrollmentError, NodeId, PublicKey, UnixTime};

/// An enrollment file, read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnrollmentFile {
    /// The enrollment.
    pub enrollment: Enrollment,
    /// The ring key the file says signed it, when it says.
    pub ring_key: Option<PublicKey>,
}

/// Why an enrollment file cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnrollmentFileError {
    /// A line that is none of the three.
    #[error("line {line} is not `ring-key HEX`, `expires-ms N` or `enrollment HEX`: {text:?}")]
    Line {
        /// 1-based.
        line: usize,
        /// The line, cut to 80 characters.
        text: String,
    },
    /// No `enrollment` line.
    #[error("no `enrollment` line")]
    Missing,
    /// The enrollment was signed under another ring key.
    #[error("enrolled by ring key {file}, and admission.ring_key is {config}")]
    OtherRing {
        /// The file's `ring-key`.
        file: PublicKey,
        /// The configuration's.
        config: PublicKey,
    },
    /// `expires-ms` disagrees with the enrollment it stands beside.
    #[error("expires-ms {file} is not the enrollment's expiry ({enrollment})")]
    Expiry {
        /// The file's `expires-ms`.
        file: u64,
        /// The enrollment's.
        enrollment: u64,
    },
    /// The enrollment itself is malformed, for another node, forged or
    /// expired.
    #[error(transparent)]
    Enrollment(#[from] EnrollmentError),
}

impl EnrollmentFile {
    /// What `lsp-node enroll` prints.
    pub fn render(ring_key: PublicKey, enrollment: &Enrollment) -> String {
        format!(
            "ring-key {ring_key}\nexpires-ms {}\nenrollment {}\n",
            enrollment.expires.0,
            enrollment.to_hex()
        )
    }

    /// Reads the file's text.
    pub fn parse(text: &str) -> Result<Self, EnrollmentFileError> {
        let mut enrollment = None;
        let mut ring_key = None;
        let mut expires = None;
        for (i, raw) in text.lines().enumerate() {
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let bad = || EnrollmentFileError::Line {
                line: i + 1,
                text: line.chars().take(80).collect(),
            };
            match line.split_once(char::is_whitespace) {
                Some(("enrollment", v)) => enrollment = Some(Enrollment::from_hex(v)?),
                Some(("ring-key", v)) => {
                    ring_key = Some(PublicKey::from_hex(v.trim()).map_err(|_| bad())?)
                }
                Some(("expires-ms", v)) => {
                    expires = Some(v.trim().parse::<u64>().map_err(|_| bad())?)
                }
                None if line.bytes().all(|b| b.is_ascii_hexdigit()) => {
                    enrollment = Some(Enrollment::from_hex(line)?)
                }
                _ => return Err(bad()),
            }
        }
        let enrollment = enrollment.ok_or(EnrollmentFileError::Missing)?;
        if let Some(file) = expires
            && file != enrollment.expires.0
        {
            return Err(EnrollmentFileError::Expiry {
                file,
                enrollment: enrollment.expires.0,
            });
        }
        Ok(Self {
            enrollment,
            ring_key,
        })
    }

    /// Whether the ring with key `ring` admits `node` by this file at `now`.
    pub fn check(
        &self,
        ring: &PublicKey,
        node: &NodeId,
        now: UnixTime,
    ) -> Result<(), EnrollmentFileError> {
        if let Some(file) = self.ring_key
            && file != *ring
        {
            return Err(EnrollmentFileError::OtherRing {
                file,
                config: *ring,
            });
        }
        Ok(self.enrollment.check(ring, node, now)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lsp_core::Identity;
    use std::time::Duration;

    fn issued() -> (Identity, Identity, Enrollment) {
        let ring = Identity::generate().expect("ring key");
        let node = Identity::generate().expect("node key");
        let until = UnixTime::now() + Duration::from_secs(3_600);
        let e = Enrollment::issue(&ring, node.node_id(), until);
        (ring, node, e)
    }

    #[test]
    fn what_enroll_prints_is_read_back_and_holds() {
        let (ring, node, e) = issued();
        let text = EnrollmentFile::render(ring.public_key(), &e);
        let file = EnrollmentFile::parse(&text).expect("parsed");
        assert_eq!(file.enrollment, e);
        assert_eq!(file.ring_key, Some(ring.public_key()));
        file.check(&ring.public_key(), &node.node_id(), UnixTime::now())
            .expect("admitted");
        let bare = EnrollmentFile::parse(&format!("{}\n", e.to_hex())).expect("bare hex");
        assert_eq!((bare.enrollment, bare.ring_key), (e, None));
    }

    #[test]
    fn a_stray_line_another_ring_or_a_wrong_expiry_is_refused() {
        let (ring, node, e) = issued();
        let text = EnrollmentFile::render(ring.public_key(), &e);
        let stray = format!("created ring key ring.key\n{text}");
        assert!(matches!(
            EnrollmentFile::parse(&stray),
            Err(EnrollmentFileError::Line { line: 1, .. })
        ));
        let other = Identity::generate().expect("key").public_key();
        let file = EnrollmentFile::parse(&text).expect("parsed");
        assert!(matches!(
            file.check(&other, &node.node_id(), UnixTime::now()),
            Err(EnrollmentFileError::OtherRing { .. })
        ));
        let wrong = text.replace(
            &format!("expires-ms {}", e.expires.0),
            &format!("expires-ms {}", e.expires.0 + 1),
        );
        assert!(matches!(
            EnrollmentFile::parse(&wrong),
            Err(EnrollmentFileError::Expiry { .. })
        ));
        assert_eq!(
            EnrollmentFile::parse("# nothing\n"),
            Err(EnrollmentFileError::Missing)
        );
    }
}
