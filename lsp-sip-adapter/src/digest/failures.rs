//! Failed digest responses, per user and source: after [`FREE_FAILURES`]
//! in a row, a source waits before its next try for that user, a pause
//! that doubles from one second up to five minutes, and is refused
//! unchecked meanwhile; a success starts it afresh. Online password
//! guessing then runs at a few tries an hour instead of at line rate.
//! Keyed by source as well as user, so that a guesser cannot lock the user
//! out everywhere else.

use std::collections::HashMap;
use std::net::IpAddr;

/// Failures in a row that cost nothing: typing mistakes.
const FREE_FAILURES: u32 = 5;
/// The longest pause, in milliseconds.
const MAX_PAUSE_MS: u64 = 5 * 60 * 1000;

#[derive(Debug, Clone, Copy)]
struct Entry {
    failures: u32,
    /// No try before this (ms).
    until: u64,
}

#[derive(Debug)]
pub(super) struct Failures {
    by: HashMap<(String, Option<IpAddr>), Entry>,
    max: usize,
}

impl Failures {
    pub(super) fn new(max: usize) -> Self {
        Self {
            by: HashMap::new(),
            max,
        }
    }

    /// Whether `source` may try a response for `user` at `now_ms`.
    pub(super) fn may_try(&self, user: &str, source: Option<IpAddr>, now_ms: u64) -> bool {
        self.by
            .get(&(user.to_owned(), source))
            .is_none_or(|e| now_ms >= e.until)
    }

    pub(super) fn failed(&mut self, user: &str, source: Option<IpAddr>, now_ms: u64) {
        let key = (user.to_owned(), source);
        if !self.by.contains_key(&key) && self.by.len() >= self.max {
            self.by
                .retain(|_, e| e.until > now_ms || e.failures < FREE_FAILURES);
            if self.by.len() >= self.max
                && let Some(any) = self.by.keys().next().cloned()
            {
                self.by.remove(&any);
            }
        }
        let e = self.by.entry(key).or_insert(Entry {
            failures: 0,
            until: 0,
        });
        e.failures = e.failures.saturating_add(1);
        if e.failures > FREE_FAILURES {
            let doublings = (e.failures - FREE_FAILURES - 1).min(20);
            e.until = now_ms + (1000u64 << doublings).min(MAX_PAUSE_MS);
        }
    }

    pub(super) fn succeeded(&mut self, user: &str, source: Option<IpAddr>) {
        self.by.remove(&(user.to_owned(), source));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_guesser_waits_ever_longer_and_only_where_it_guesses() {
        let mut f = Failures::new(8);
        let (guesser, phone) = (
            Some("192.0.2.66".parse().unwrap()),
            Some("192.0.2.7".parse().unwrap()),
        );
        for _ in 0..FREE_FAILURES {
            assert!(f.may_try("alice", guesser, 0));
            f.failed("alice", guesser, 0);
        }
        assert!(f.may_try("alice", guesser, 0), "mistakes are free");
        f.failed("alice", guesser, 0);
        assert!(!f.may_try("alice", guesser, 999));
        assert!(f.may_try("alice", guesser, 1_000), "one second");
        f.failed("alice", guesser, 1_000);
        assert!(!f.may_try("alice", guesser, 2_999));
        assert!(f.may_try("alice", guesser, 3_000), "then two");
        assert!(
            f.may_try("alice", phone, 1_500),
            "alice's phone is not held up"
        );
        for _ in 0..40 {
            f.failed("alice", guesser, 10_000);
        }
        assert!(!f.may_try("alice", guesser, 10_000 + MAX_PAUSE_MS - 1));
        assert!(
            f.may_try("alice", guesser, 10_000 + MAX_PAUSE_MS),
            "at most five minutes"
        );
        f.succeeded("alice", guesser);
        assert!(f.may_try("alice", guesser, 10_000));
    }
}
