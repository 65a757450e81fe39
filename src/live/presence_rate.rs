//! How often one live session's selection is told to the others: at most
//! `DIALOGUE_LIVE_PRESENCE_PER_SECOND`, the latest one winning.
//!
//! Every `presence` frame goes to every other session on the dialogue, and a session whose
//! queue fills is closed (4008). Unbounded, one session (a watcher, even) sending presence as
//! fast as it can would fill the queues of every editor of the dialogue. Presence is state, not
//! a stream of events: a selection sent while the budget is spent replaces the one waiting, and
//! the one waiting is told when the budget allows. Nothing is refused, and the last selection
//! always arrives.

use std::num::NonZeroU32;
use std::time::{Duration, Instant};

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use serde_json::Value;

/// One session's presence budget, and the selection waiting for it.
pub struct PresenceRate {
    budget: DefaultDirectRateLimiter,
    interval: Duration,
    waiting: Option<(Value, Instant)>,
}

impl PresenceRate {
    /// A budget of `per_second` selections a second (bursts of as many).
    pub fn new(per_second: u32) -> Self {
        let rate = NonZeroU32::new(per_second).unwrap_or(NonZeroU32::MIN);
        Self {
            budget: RateLimiter::direct(Quota::per_second(rate)),
            interval: Duration::from_secs(1) / rate.get(),
            waiting: None,
        }
    }

    /// The client sent `selection`: returned when it may be told now, else kept (replacing
    /// the one waiting) until [`due`](Self::due).
    pub fn offer(&mut self, selection: Value) -> Option<Value> {
        if self.waiting.is_none() && self.budget.check().is_ok() {
            return Some(selection);
        }
        let due = self.waiting.take().map_or_else(|| Instant::now() + self.interval, |(_, due)| due);
        self.waiting = Some((selection, due));
        None
    }

    /// When the waiting selection is to be told, if one waits.
    pub fn due(&self) -> Option<Instant> {
        self.waiting.as_ref().map(|(_, due)| *due)
    }

    /// The waiting selection, once it may be told (else it keeps waiting, a little later).
    pub fn take_due(&mut self) -> Option<Value> {
        let (selection, _) = self.waiting.take()?;
        if self.budget.check().is_ok() {
            return Some(selection);
        }
        self.waiting = Some((selection, Instant::now() + self.interval));
        None
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn past_the_budget_the_latest_selection_waits_and_replaces_the_one_waiting() {
        let mut rate = PresenceRate::new(2);
        assert_eq!(rate.offer(json!(1)), Some(json!(1)));
        assert_eq!(rate.offer(json!(2)), Some(json!(2)));
        assert_eq!(rate.due(), None);
        assert_eq!(rate.offer(json!(3)), None, "the budget is spent");
        let due = rate.due().expect("a selection waits");
        assert_eq!(rate.offer(json!(4)), None);
        assert_eq!(rate.due(), Some(due), "a newer selection keeps the time it is due");
        // Asked before the budget allows, it keeps waiting, a little later.
        assert_eq!(rate.take_due(), None);
        assert!(rate.due().is_some_and(|later| later >= due));
    }
}
