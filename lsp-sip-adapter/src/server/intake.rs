//! Which UDP datagrams a receiver reads on when its socket backs up.
//!
//! A UDP socket has one queue for every sender. A flood fills it: an honest
//! datagram then waits behind thousands, or is dropped by the kernel, and
//! parsing the flood takes the CPU that would drain it. So while the socket
//! holds more than a burst, a datagram from a source that sent more than
//! its share of the last 100 ms is dropped before it is parsed, at the cost
//! of one read. A source alone is never dropped (there is nobody to
//! protect), nor one that sends little.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use lsp_core::address_share;

/// How long a count lasts.
const WINDOW: Duration = Duration::from_millis(100);
/// Datagrams read back to back, with more waiting, that mean the socket
/// backs up.
pub(super) const BACKLOG_RUN: usize = 16;
/// Past a quarter of a window's datagrams (and past `HEAVY_MIN`), a source
/// takes more than its share.
const HEAVY_SHARE: u32 = 4;
const HEAVY_MIN: u32 = 32;
/// Sources counted per window; one beyond is never dropped (a flood of
/// spoofed sources is then shed by the transaction layer's budgets).
const MAX_SOURCES: usize = 4096;

/// Counts per source share over the current window.
#[derive(Debug)]
pub(super) struct FairIntake {
    started: Instant,
    counts: HashMap<IpAddr, u32>,
    total: u32,
}

impl FairIntake {
    pub(super) fn new(now: Instant) -> Self {
        Self {
            started: now,
            counts: HashMap::new(),
            total: 0,
        }
    }

    /// Counts a datagram from `source` and says whether to read it on.
    /// `backlog`: the socket held more than a burst when it was read.
    pub(super) fn admit(&mut self, now: Instant, source: IpAddr, backlog: bool) -> bool {
        if now.duration_since(self.started) >= WINDOW {
            self.counts.clear();
            self.total = 0;
            self.started = now;
        }
        let share = address_share(source);
        self.total = self.total.saturating_add(1);
        let count = if self.counts.len() < MAX_SOURCES || self.counts.contains_key(&share) {
            let c = self.counts.entry(share).or_insert(0);
            *c = c.saturating_add(1);
            *c
        } else {
            0
        };
        let heavy = count > HEAVY_MIN && count.saturating_mul(HEAVY_SHARE) > self.total;
        !(backlog && heavy && self.counts.len() > 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(n: u8) -> IpAddr {
        IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, n))
    }

    #[test]
    fn a_flooding_source_is_shed_while_the_socket_backs_up_and_others_are_read() {
        let now = Instant::now();
        let mut intake = FairIntake::new(now);
        let (mut flood_read, mut honest_read) = (0, 0);
        for i in 0..10_000 {
            flood_read += usize::from(intake.admit(now, ip(1), true));
            if i % 100 == 0 {
                honest_read += usize::from(intake.admit(now, ip(2), true));
            }
        }
        assert_eq!(honest_read, 100, "every honest datagram is read");
        assert!(flood_read <= 70, "{flood_read} flood datagrams read");
    }

    #[test]
    fn nothing_is_shed_without_a_backlog_or_with_one_source() {
        let now = Instant::now();
        let mut intake = FairIntake::new(now);
        assert!((0..10_000).all(|_| intake.admit(now, ip(1), false)));
        let mut alone = FairIntake::new(now);
        assert!((0..10_000).all(|_| alone.admit(now, ip(1), true)));
    }

    #[test]
    fn counts_start_again_each_window() {
        let now = Instant::now();
        let mut intake = FairIntake::new(now);
        intake.admit(now, ip(2), true);
        for _ in 0..1_000 {
            intake.admit(now, ip(1), true);
        }
        assert!(!intake.admit(now, ip(1), true));
        let later = now + WINDOW;
        assert!(intake.admit(later, ip(1), true), "a new window");
    }
}
