//! `Checkpoints`: when a dialogue's derived records are written, its stored head and its
//! snapshots. Both can be rebuilt from the revisions, so neither is on the way to an answer;
//! how stale they may get bounds how much a cold load must replay. The stored head is written
//! once it lags `head_max_lag` revisions behind (or on the actor's idle stop), one write at a
//! time; a snapshot is taken every `snapshot_interval` revisions.

/// When to write the head and take snapshots.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CheckpointPolicy {
    /// A snapshot every this many revisions.
    pub snapshot_interval: i64,
    /// Write the head once it lags this many revisions behind.
    pub head_max_lag: i64,
}

/// What has been written, and what is under way.
#[derive(Debug, Clone)]
pub struct Checkpoints {
    policy: CheckpointPolicy,
    /// The revision the newest snapshot is at.
    last_snapshot: i64,
    /// The revision the stored head is known to be at.
    head_stored: i64,
    /// A head write under way, to this revision.
    head_writing: Option<i64>,
}

impl Checkpoints {
    /// After a load: the newest snapshot and the stored head are at these revisions.
    pub fn new(policy: CheckpointPolicy, last_snapshot: i64, head_stored: i64) -> Self {
        Self { policy, last_snapshot, head_stored, head_writing: None }
    }

    /// Whether revision `number` (now stored) calls for a snapshot; if so, it is counted taken.
    pub fn snapshot_due(&mut self, number: i64) -> bool {
        let due = number - self.last_snapshot >= self.policy.snapshot_interval.max(1);
        if due {
            self.last_snapshot = number;
        }
        due
    }

    /// Whether the head should be written now that revision `durable` is stored; `finishing`
    /// (the actor is about to stop) writes any lag at all.
    pub fn head_due(&self, durable: i64, finishing: bool) -> bool {
        let lag = durable - self.head_stored;
        self.head_writing.is_none() && lag > 0 && (finishing || lag >= self.policy.head_max_lag.max(1))
    }

    /// A head write to revision `number` started.
    pub fn head_write_started(&mut self, number: i64) {
        self.head_writing = Some(number);
    }

    /// The head write under way finished (`stored`: it succeeded).
    pub fn head_write_finished(&mut self, stored: bool) {
        if let Some(number) = self.head_writing.take()
            && stored
        {
            self.head_stored = self.head_stored.max(number);
        }
    }

    /// Revision `number` was stored by another process, which writes the head and snapshots
    /// for it.
    pub fn written_elsewhere(&mut self, number: i64) {
        self.head_stored = self.head_stored.max(number);
        self.last_snapshot = self.last_snapshot.max(number - number % self.policy.snapshot_interval.max(1));
    }

    /// Whether the stored head is at `durable` and nothing is being written.
    pub fn head_clean(&self, durable: i64) -> bool {
        self.head_writing.is_none() && self.head_stored >= durable
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const POLICY: CheckpointPolicy = CheckpointPolicy { snapshot_interval: 100, head_max_lag: 10 };

    #[test]
    fn snapshots_every_interval() {
        let mut checkpoints = Checkpoints::new(POLICY, 0, 0);
        let taken: Vec<i64> = (1..=350).filter(|n| checkpoints.snapshot_due(*n)).collect();
        assert_eq!(taken, [100, 200, 300]);
        // Batches may jump over a multiple: the snapshot is taken at the first number past it.
        let mut jumpy = Checkpoints::new(POLICY, 0, 0);
        let taken: Vec<i64> = [40, 99, 130, 180, 240].into_iter().filter(|n| jumpy.snapshot_due(*n)).collect();
        assert_eq!(taken, [130, 240]);
    }

    #[test]
    fn the_head_lags_at_most_the_bound() {
        let mut checkpoints = Checkpoints::new(POLICY, 0, 0);
        for durable in 1..=205 {
            if checkpoints.head_due(durable, false) {
                checkpoints.head_write_started(durable);
                checkpoints.head_write_finished(true);
            }
            assert!(durable - checkpoints.head_stored < POLICY.head_max_lag, "lag at {durable}");
        }
        assert!(!checkpoints.head_clean(205));
        assert!(!checkpoints.head_due(205, false));
        assert!(checkpoints.head_due(205, true), "stopping writes any lag");
    }

    #[test]
    fn one_head_write_at_a_time_and_a_failed_one_is_redone() {
        let mut checkpoints = Checkpoints::new(POLICY, 0, 0);
        assert!(checkpoints.head_due(10, false));
        checkpoints.head_write_started(10);
        assert!(!checkpoints.head_due(25, false), "one at a time");
        checkpoints.head_write_finished(false);
        assert!(checkpoints.head_due(25, false), "the failed write is redone, with the newest head");
        checkpoints.head_write_started(25);
        checkpoints.head_write_finished(true);
        assert!(checkpoints.head_clean(25));
    }
}
