//! A dialogue actor's side of a watch: revisions of a hooked project are only ever stored while
//! the dialogue's watch (see `store/webhooks/outbox.rs`) is in force, so the scheduler cannot
//! forget a dialogue that still has revisions to announce. The actor renews the watch, before
//! storing a batch, once less than [`RENEW_BEFORE`] is left of it; a batch stored in that time
//! lands (or fails: store calls are bounded by the database timeout) well before it lapses. The
//! scheduler forgets a watch only [`CLOCK_MARGIN`] after it lapsed, for clocks that disagree.

use std::time::Duration;

/// How long a renewal keeps a watch in force.
pub const SPAN: Duration = Duration::from_secs(60);
/// Renew when less than this is left.
pub const RENEW_BEFORE: Duration = Duration::from_secs(30);
/// How long after a watch lapsed (by its writer's clock) the scheduler may forget it.
pub const CLOCK_MARGIN: Duration = Duration::from_secs(10);

/// Until when this actor's dialogue is watched, as far as it knows.
#[derive(Debug, Clone, Copy, Default)]
pub struct WatchLease {
    until: i64,
}

impl WatchLease {
    /// The `until` to store before a batch at `now` (ms), when the watch needs renewing.
    pub fn renewal(&self, now: i64) -> Option<i64> {
        (now + millis(RENEW_BEFORE) >= self.until).then(|| now + millis(SPAN))
    }

    /// The watch was stored until `until`.
    pub fn renewed(&mut self, until: i64) {
        self.until = self.until.max(until);
    }
}

/// Whether a watch that lasts until `until` may be forgotten at `now` (both ms).
pub fn lapsed(until: i64, now: i64) -> bool {
    until + millis(CLOCK_MARGIN) < now
}

fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_watch_is_renewed_only_when_it_runs_low() {
        let mut lease = WatchLease::default();
        let until = lease.renewal(1_000).expect("a first batch takes a watch");
        assert_eq!(until, 61_000);
        lease.renewed(until);
        assert_eq!(lease.renewal(20_000), None, "40 s left");
        assert_eq!(lease.renewal(31_000), Some(91_000), "30 s left");
    }

    #[test]
    fn a_watch_is_forgotten_only_after_the_margin() {
        assert!(!lapsed(60_000, 65_000));
        assert!(!lapsed(60_000, 70_000));
        assert!(lapsed(60_000, 70_001));
    }
}
