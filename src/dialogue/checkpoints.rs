//! `Checkpoints`: when a dialogue's derived records are written, its stored head and its
//! snapshots. Both can be rebuilt from the revisions, so neither is on the way to an answer,
//! and their staleness is bounded instead:
//!
//! - the stored head is written once it lags `head_max_lag` revisions behind, or has lagged for
//!   `head_max_age`, or at once when what listings show of it changed (title, archived, has
//!   changes), and whenever the actor stops; one write at a time, the newest state each time;
//! - a snapshot is taken at every multiple of `snapshot_interval` revisions (the first revision
//!   stored at or past it), by whichever process stored that revision.
//!
//! A checkpoint writes the whole dialogue, so on a large dialogue both intervals stretch with
//! its size (×1 up to 64 KiB, then one more for every 64 KiB, up to ×10): a 1 MiB dialogue is
//! written every 1,000 revisions, not every 100, and never more often than its revisions are
//! worth. A cold load therefore replays at most `head_max_lag` revisions (×10 for the largest
//! dialogues) after the stored head.

use std::time::{Duration, Instant};

/// When to write the head and take snapshots.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CheckpointPolicy {
    /// A snapshot every this many revisions.
    pub snapshot_interval: i64,
    /// Write the head once it lags this many revisions behind.
    pub head_max_lag: i64,
    /// Write the head once it has lagged this long.
    pub head_max_age: Duration,
}

/// What listings show of a head: changing any of it makes the head due at once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listing {
    /// The revision it is at.
    pub number: i64,
    /// The title.
    pub title: String,
    /// Whether it is archived.
    pub is_archived: bool,
    /// Whether it has revisions after its newest release.
    pub has_changes: bool,
}

/// What has been written, and what is under way.
#[derive(Debug, Clone)]
pub struct Checkpoints {
    policy: CheckpointPolicy,
    /// The revision the newest snapshot is at.
    last_snapshot: i64,
    /// What the stored head shows.
    stored: Listing,
    /// A head write under way.
    writing: Option<Listing>,
    /// Since when the stored head lags behind.
    lagging_since: Option<Instant>,
    /// How big the dialogue is now (serialized bytes).
    bytes: usize,
}

/// Each this many bytes of a dialogue stretch its checkpoint intervals once more.
const STRETCH_UNIT: usize = 64 * 1024;
/// The most the intervals stretch.
const MAX_STRETCH: i64 = 10;

impl Checkpoints {
    /// After a load: the newest snapshot is at `last_snapshot`, the stored head shows `stored`.
    pub fn new(policy: CheckpointPolicy, last_snapshot: i64, stored: Listing) -> Self {
        Self { policy, last_snapshot, stored, writing: None, lagging_since: None, bytes: 0 }
    }

    /// The dialogue is `bytes` big now.
    pub fn sized(&mut self, bytes: usize) {
        self.bytes = bytes;
    }

    /// Snapshots are taken on the multiples of this.
    fn snapshot_step(&self) -> i64 {
        self.policy.snapshot_interval.max(1) * self.stretch()
    }

    /// How many times the policy's intervals are stretched at the dialogue's size.
    fn stretch(&self) -> i64 {
        i64::try_from(self.bytes / STRETCH_UNIT).unwrap_or(MAX_STRETCH).clamp(1, MAX_STRETCH)
    }

    /// Whether revision `number` (now stored) calls for a snapshot; if so, it is counted taken.
    pub fn snapshot_due(&mut self, number: i64) -> bool {
        // On the multiples of the (stretched) interval, so that a process that saw another one
        // write these revisions can tell which snapshots that one took.
        let step = self.snapshot_step();
        let due = number / step > self.last_snapshot / step;
        if due {
            self.last_snapshot = number;
        }
        due
    }

    /// Whether the head should be written now that `durable` is stored; `finishing` (the actor
    /// is about to stop) writes any lag at all.
    pub fn head_due(&mut self, durable: &Listing, now: Instant, finishing: bool) -> bool {
        let lag = durable.number - self.stored.number;
        if lag <= 0 {
            self.lagging_since = None;
            return false;
        }
        let since = *self.lagging_since.get_or_insert(now);
        let listed_differently = durable.title != self.stored.title
            || durable.is_archived != self.stored.is_archived
            || durable.has_changes != self.stored.has_changes;
        self.writing.is_none()
            && (finishing
                || listed_differently
                || lag >= self.policy.head_max_lag.max(1) * self.stretch()
                || now.duration_since(since) >= self.policy.head_max_age)
    }

    /// A head write of `listing` started.
    pub fn head_write_started(&mut self, listing: Listing) {
        self.writing = Some(listing);
    }

    /// The head write under way finished (`stored`: it succeeded).
    pub fn head_write_finished(&mut self, stored: bool) {
        if let Some(listing) = self.writing.take()
            && stored
            && listing.number >= self.stored.number
        {
            self.stored = listing;
            self.lagging_since = None;
        }
    }

    /// Revision `number` was stored by another process, which writes the head and snapshots
    /// for it.
    pub fn written_elsewhere(&mut self, listing: Listing) {
        if listing.number > self.stored.number {
            self.stored = listing;
        }
        let step = self.snapshot_step();
        self.last_snapshot = self.last_snapshot.max(self.stored.number - self.stored.number % step);
    }

    /// Whether listings, which read stored heads, show `durable` differently than the stored
    /// head does: a REST write that made it so is answered once its head is stored.
    pub fn listed_differently(&self, durable: &Listing) -> bool {
        durable.title != self.stored.title || durable.is_archived != self.stored.is_archived
    }

    /// Whether the stored head is at `durable` and nothing is being written.
    pub fn head_clean(&self, durable: i64) -> bool {
        self.writing.is_none() && self.stored.number >= durable
    }
}

/// Answers held until the stored head reaches a revision: a REST write that changed what
/// listings show is answered once listings show it (read your writes), or once writing the head
/// failed (the revision is stored either way).
#[derive(Debug)]
pub struct HeldAnswers<T> {
    held: Vec<(i64, T)>,
}

impl<T> Default for HeldAnswers<T> {
    fn default() -> Self {
        Self { held: Vec::new() }
    }
}

impl<T> HeldAnswers<T> {
    /// Whether no answer is held.
    pub fn is_empty(&self) -> bool {
        self.held.is_empty()
    }

    /// Holds `answer` until the stored head is at revision `number`.
    pub fn hold(&mut self, number: i64, answer: T) {
        self.held.push((number, answer));
    }

    /// The answers waiting for revision `number` or older, oldest first.
    pub fn release(&mut self, number: i64) -> Vec<T> {
        let (due, waiting) = std::mem::take(&mut self.held).into_iter().partition(|(at, _)| *at <= number);
        self.held = waiting;
        due.into_iter().map(|(_, answer)| answer).collect()
    }

    /// Every held answer.
    pub fn release_all(&mut self) -> Vec<T> {
        self.release(i64::MAX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const POLICY: CheckpointPolicy =
        CheckpointPolicy { snapshot_interval: 100, head_max_lag: 10, head_max_age: Duration::from_secs(10) };

    fn listing(number: i64) -> Listing {
        Listing { number, title: "T".into(), is_archived: false, has_changes: number > 0 }
    }

    fn write(checkpoints: &mut Checkpoints, at: &Listing) {
        checkpoints.head_write_started(at.clone());
        checkpoints.head_write_finished(true);
    }

    #[test]
    fn snapshots_every_interval() {
        let mut checkpoints = Checkpoints::new(POLICY, 0, listing(0));
        let taken: Vec<i64> = (1..=350).filter(|n| checkpoints.snapshot_due(*n)).collect();
        assert_eq!(taken, [100, 200, 300]);
        // Batches may jump over a multiple: the snapshot is taken at the first number past it.
        let mut jumpy = Checkpoints::new(POLICY, 0, listing(0));
        let taken: Vec<i64> = [40, 99, 130, 180, 240].into_iter().filter(|n| jumpy.snapshot_due(*n)).collect();
        assert_eq!(taken, [130, 240]);
    }

    #[test]
    fn the_head_lags_at_most_the_bound_in_revisions() {
        let mut checkpoints = Checkpoints::new(POLICY, 0, listing(1));
        let now = Instant::now();
        for number in 2..=205 {
            if checkpoints.head_due(&listing(number), now, false) {
                write(&mut checkpoints, &listing(number));
            }
            assert!(number - checkpoints.stored.number < POLICY.head_max_lag, "lag at {number}");
        }
        assert!(!checkpoints.head_clean(205));
        assert!(!checkpoints.head_due(&listing(205), now, false));
        assert!(checkpoints.head_due(&listing(205), now, true), "stopping writes any lag");
    }

    #[test]
    fn the_head_lags_at_most_the_bound_in_time() {
        let mut checkpoints = Checkpoints::new(POLICY, 0, listing(1));
        let start = Instant::now();
        assert!(!checkpoints.head_due(&listing(2), start, false));
        assert!(!checkpoints.head_due(&listing(3), start + Duration::from_secs(9), false));
        assert!(checkpoints.head_due(&listing(3), start + Duration::from_secs(10), false));
    }

    #[test]
    fn what_listings_show_is_written_at_once() {
        let mut checkpoints = Checkpoints::new(POLICY, 0, listing(1));
        let now = Instant::now();
        let renamed = Listing { title: "New".into(), ..listing(2) };
        assert!(checkpoints.head_due(&renamed, now, false));
        let archived = Listing { is_archived: true, ..listing(2) };
        assert!(checkpoints.head_due(&archived, now, false));
        let released = Checkpoints::new(POLICY, 0, Listing { has_changes: false, ..listing(5) });
        let mut released = released;
        assert!(released.head_due(&listing(6), now, false), "the first change after a release shows");
    }

    #[test]
    fn one_head_write_at_a_time_and_a_failed_one_is_redone() {
        let mut checkpoints = Checkpoints::new(POLICY, 0, listing(0));
        let now = Instant::now();
        assert!(checkpoints.head_due(&listing(10), now, false));
        checkpoints.head_write_started(listing(10));
        assert!(!checkpoints.head_due(&listing(25), now, false), "one at a time");
        checkpoints.head_write_finished(false);
        assert!(checkpoints.head_due(&listing(25), now, false), "the failed write is redone, with the newest head");
        write(&mut checkpoints, &listing(25));
        assert!(checkpoints.head_clean(25));
    }

    #[test]
    fn held_answers_go_once_the_head_reaches_them() {
        let mut held = HeldAnswers::default();
        held.hold(3, "a");
        held.hold(5, "b");
        held.hold(4, "c");
        assert!(held.release(2).is_empty());
        assert_eq!(held.release(4), ["a", "c"]);
        assert_eq!(held.release_all(), ["b"]);
        assert!(held.release_all().is_empty());
    }

    #[test]
    fn a_new_title_or_archiving_is_listed_differently() {
        let checkpoints = Checkpoints::new(POLICY, 0, listing(1));
        assert!(!checkpoints.listed_differently(&listing(9)), "a later revision alone lists the same");
        assert!(checkpoints.listed_differently(&Listing { title: "New".into(), ..listing(2) }));
        assert!(checkpoints.listed_differently(&Listing { is_archived: true, ..listing(2) }));
    }
    #[test]
    fn a_large_dialogue_is_checkpointed_less_often() {
        let now = Instant::now();
        let mut small = Checkpoints::new(POLICY, 0, listing(1));
        small.sized(2_000);
        let mut large = Checkpoints::new(POLICY, 0, listing(1));
        large.sized(1 << 20);
        let snapshots = |c: &mut Checkpoints| (1..=2_000).filter(|n| c.snapshot_due(*n)).count();
        assert_eq!(snapshots(&mut small), 20);
        assert_eq!(snapshots(&mut large), 2, "every 1,000 revisions at 1 MiB");
        assert!(small.head_due(&listing(11), now, false));
        assert!(!large.head_due(&listing(11), now, false));
        assert!(large.head_due(&listing(101), now, false), "ten times the lag");
    }
}
