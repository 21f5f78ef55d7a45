//! The nonce counts seen, per user, so that a replayed response is
//! refused. Each user holds at most [`PER_USER`] nonces: a new one pushes
//! out that user's oldest, and every nonce of that user issued up to it
//! turns stale (its serial is below the user's floor), so forgetting a
//! count never lets a replay through. One account that runs challenge after
//! challenge then spends only its own share, not the table every user
//! needs.

use std::collections::HashMap;

/// Nonces one user may hold with their counts: a few devices at once.
pub(super) const PER_USER: usize = 16;

/// What a nonce count comes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Count {
    /// Above every count seen with that nonce: taken.
    Fresh,
    /// Not above a count seen with that nonce: a replay.
    Replayed,
    /// The nonce is older than the user's floor: a new challenge.
    Stale,
    /// Every tracked user has a live nonce: refused, nothing forgotten.
    Full,
}

/// One user's nonces.
#[derive(Debug, Default)]
struct User {
    /// Nonces with a serial below this are stale for the user.
    floor: u64,
    /// (serial, issue time in seconds, highest count seen).
    seen: Vec<(u64, u64, u32)>,
}

#[derive(Debug)]
pub(super) struct NonceCounts {
    users: HashMap<String, User>,
    max_users: usize,
}

impl NonceCounts {
    pub(super) fn new(max_users: usize) -> Self {
        Self {
            users: HashMap::new(),
            max_users,
        }
    }

    /// Takes count `nc` of `user`'s nonce `(serial, issued)`; nonces issued
    /// before `horizon` (seconds) have expired and may be forgotten.
    pub(super) fn take(
        &mut self,
        user: &str,
        serial: u64,
        issued: u64,
        nc: u32,
        horizon: u64,
    ) -> Count {
        if !self.users.contains_key(user) && self.users.len() >= self.max_users {
            self.users.retain(|_, u| {
                u.seen.retain(|(_, at, _)| *at >= horizon);
                !u.seen.is_empty()
            });
            if self.users.len() >= self.max_users {
                return Count::Full;
            }
        }
        let u = self.users.entry(user.to_owned()).or_default();
        if serial < u.floor {
            return Count::Stale;
        }
        if let Some(entry) = u.seen.iter_mut().find(|(s, _, _)| *s == serial) {
            if nc <= entry.2 {
                return Count::Replayed;
            }
            entry.2 = nc;
            return Count::Fresh;
        }
        u.seen.retain(|(_, at, _)| *at >= horizon);
        if u.seen.len() >= PER_USER
            && let Some(oldest) = u.seen.iter().map(|(s, _, _)| *s).min()
        {
            u.seen.retain(|(s, _, _)| *s != oldest);
            u.floor = u.floor.max(oldest + 1);
            if serial < u.floor {
                return Count::Stale;
            }
        }
        u.seen.push((serial, issued, nc));
        Count::Fresh
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_user_spends_only_its_own_share_and_nothing_replays() {
        let mut t = NonceCounts::new(2);
        assert_eq!(t.take("bob", 1, 100, 1, 0), Count::Fresh);
        // Mallory runs a thousand challenges with her own account.
        for serial in 10..1_010 {
            assert_eq!(t.take("mallory", serial, 100, 1, 0), Count::Fresh);
        }
        assert_eq!(
            t.take("bob", 1, 100, 2, 0),
            Count::Fresh,
            "bob is untouched"
        );
        assert_eq!(t.take("bob", 1, 100, 2, 0), Count::Replayed);
        // Her forgotten nonces are stale, not fresh again.
        assert_eq!(t.take("mallory", 10, 100, 1, 0), Count::Stale);
        assert_eq!(t.take("mallory", 1_009, 100, 1, 0), Count::Replayed);
        // A third user finds the table full of live users: refused...
        assert_eq!(t.take("carol", 2_000, 100, 1, 0), Count::Full);
        // ...until their nonces expire.
        assert_eq!(t.take("carol", 2_000, 400, 1, 200), Count::Fresh);
    }
}
