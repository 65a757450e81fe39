//! `WriteQueue`: the writes a dialogue's actor has accepted and not stored yet, and the write
//! path as a state machine with named phases.
//!
//! ```text
//!            take_batch                 settle: stored
//!   Idle ─────────────────► Storing ───────────────────► Idle (commit; take the next batch)
//!    ▲                         │
//!    │ reloaded                │ settle: failed (lost a race, or the store failed)
//!    │                         ▼
//!    └──────────────────── Reloading ◄── start_reload (the change feed asked for it)
//! ```
//!
//! Writes queue while a batch is being stored (group commit); when it is stored, everything
//! queued leaves as the next batch. When a batch fails, `settle` sorts its writes out: those
//! stored before the failure are done, those that lost their numbers to another process are
//! retried on the reloaded state with everything queued behind them, and after any other
//! failure the rest fail (their outcome is unknown) while the queue is retried.

use std::sync::Arc;

use tokio::sync::oneshot;

use super::messages::{WriteOutcome, WriteRequest};
use super::revision::Revision;
use crate::error::ApiError;
use crate::store::StoreError;

/// Where the answer to a write goes.
#[derive(Debug)]
pub enum Reply {
    /// A REST request waiting on a channel.
    Rest(oneshot::Sender<Result<WriteOutcome, ApiError>>),
    /// A live session: `ack` or `error` in its queue.
    Session {
        /// The session.
        session_id: String,
        /// The client's `ref`.
        reference: String,
    },
    /// Another process that handed this write over: it hears of the revisions through the
    /// change feed, and of a refusal through a handoff back.
    Handoff {
        /// The handoff's id.
        id: String,
        /// The process it came from.
        from: String,
    },
}

/// A write accepted in memory: its request (kept for a retry), its revisions (made, not
/// stored), and where its answer goes.
#[derive(Debug)]
pub struct PendingWrite {
    /// What was asked.
    pub request: WriteRequest,
    /// How many times it was applied again after losing a race.
    pub attempts: u32,
    /// The revisions it made, numbered.
    pub revisions: Vec<Arc<Revision>>,
    /// Where the answer goes.
    pub reply: Reply,
}

/// A batch being stored.
#[derive(Debug)]
pub struct Batch {
    /// Its writes, in order.
    pub writes: Vec<PendingWrite>,
}

impl Batch {
    /// Whether it must land whole or not at all (a write of several revisions is in it).
    pub fn is_atomic(&self) -> bool {
        self.writes.iter().any(|w| w.revisions.len() > 1)
    }

    /// Its revisions, in order.
    pub fn revisions(&self) -> impl Iterator<Item = &Arc<Revision>> {
        self.writes.iter().flat_map(|w| w.revisions.iter())
    }
}

/// Where the write path is.
#[derive(Debug)]
pub enum Phase {
    /// Nothing is being stored.
    Idle,
    /// A batch is being stored.
    Storing(Batch),
    /// The dialogue is being reloaded from the store; writes wait.
    Reloading,
}

/// How a batch ended.
#[derive(Debug)]
pub enum Settled {
    /// Every write is stored: commit the batch.
    Stored(Batch),
    /// It failed: reload, answer `done` (stored before the failure), answer `failed` with the
    /// store's error, and apply `retry` again on the reloaded state.
    Failed {
        /// Stored before the failure.
        done: Vec<PendingWrite>,
        /// Not stored, with an unknown outcome: they fail.
        failed: Vec<PendingWrite>,
        /// To apply again after the reload, in order.
        retry: Vec<PendingWrite>,
        /// The store's error (a duplicate number: another process wrote first).
        error: StoreError,
    },
}

/// The queue and its phase.
#[derive(Debug)]
pub struct WriteQueue {
    pending: Vec<PendingWrite>,
    phase: Phase,
    /// Another process stored revisions while a batch of ours was in flight: reload after it.
    behind: bool,
    /// What `pending` weighs, kept as writes come and go rather than summed on every accept.
    queued: Weight,
    /// The text bytes of the batch in flight.
    storing_text_bytes: usize,
}

impl Default for WriteQueue {
    fn default() -> Self {
        Self {
            pending: Vec::new(),
            phase: Phase::Idle,
            behind: false,
            queued: Weight::default(),
            storing_text_bytes: 0,
        }
    }
}

/// What writes weigh: their revisions (a write that changed nothing counts as one) and the text
/// of those revisions, as [`Revision::text_bytes`] weighs it.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Weight {
    revisions: usize,
    text_bytes: usize,
}

impl Weight {
    fn of(write: &PendingWrite) -> Self {
        Self {
            revisions: write.revisions.len().max(1),
            text_bytes: write.revisions.iter().map(|r| r.text_bytes()).sum(),
        }
    }
}

impl WriteQueue {
    /// Nothing queued and nothing being stored or reloaded.
    pub fn is_quiet(&self) -> bool {
        matches!(self.phase, Phase::Idle) && self.pending.is_empty()
    }

    /// Whether nothing is being stored or reloaded (writes may still be queued).
    pub fn is_idle(&self) -> bool {
        matches!(self.phase, Phase::Idle)
    }

    /// Revisions queued (not yet in a batch), counting a write that changed nothing as one.
    pub fn queued_revisions(&self) -> usize {
        self.queued.revisions
    }

    /// The text of every revision accepted and not stored yet (the batch in flight and the
    /// queue), as [`Revision::text_bytes`] weighs it.
    pub fn unstored_text_bytes(&self) -> usize {
        self.queued.text_bytes.saturating_add(self.storing_text_bytes)
    }

    /// Queues an accepted write.
    pub fn push(&mut self, write: PendingWrite) {
        let weight = Weight::of(&write);
        self.queued.revisions += weight.revisions;
        self.queued.text_bytes += weight.text_bytes;
        self.pending.push(write);
    }

    /// Takes every queued write out of the queue, and its weight with it.
    fn take_queued(&mut self) -> Vec<PendingWrite> {
        self.queued = Weight::default();
        std::mem::take(&mut self.pending)
    }

    /// Every accepted write not stored yet, oldest first: the batch in flight, then the queue.
    pub fn unstored(&self) -> impl Iterator<Item = &PendingWrite> {
        let storing = match &self.phase {
            Phase::Storing(batch) => Some(batch.writes.iter()),
            _ => None,
        };
        storing.into_iter().flatten().chain(self.pending.iter())
    }

    /// Whether a revision with this id is ours and not stored yet.
    pub fn holds(&self, revision_id: &str) -> bool {
        self.unstored().any(|w| w.revisions.iter().any(|r| r.record.id == revision_id))
    }

    /// `Idle` with writes queued: they all leave as one batch, and the phase is `Storing`.
    pub fn take_batch(&mut self) -> Option<&Batch> {
        if !matches!(self.phase, Phase::Idle) || self.pending.is_empty() {
            return None;
        }
        self.storing_text_bytes = self.queued.text_bytes;
        self.phase = Phase::Storing(Batch { writes: self.take_queued() });
        match &self.phase {
            Phase::Storing(batch) => Some(batch),
            _ => None,
        }
    }

    /// The store answered the batch in flight. On failure, `stored` revisions from its start
    /// were stored anyway, and the phase is `Reloading`.
    pub fn settle(&mut self, result: Result<(), (usize, StoreError)>) -> Option<Settled> {
        let Phase::Storing(batch) = std::mem::replace(&mut self.phase, Phase::Idle) else { return None };
        self.storing_text_bytes = 0;
        let (stored, error) = match result {
            Ok(()) => return Some(Settled::Stored(batch)),
            Err(failure) => failure,
        };
        self.phase = Phase::Reloading;
        let mut writes = batch.writes.into_iter().peekable();
        let mut done = Vec::new();
        let mut counted = 0;
        while let Some(write) = writes.next_if(|w| counted + w.revisions.len() <= stored) {
            counted += write.revisions.len();
            done.push(write);
        }
        let rest: Vec<PendingWrite> = writes.collect();
        let queued = self.take_queued();
        let (failed, retry) = match error {
            // Another process took these numbers: apply them again after it, with the queue.
            StoreError::Duplicate { .. } => (Vec::new(), rest.into_iter().chain(queued).collect()),
            // Unknown outcome: they fail; what is queued is applied again on what is stored.
            _ => (rest, queued),
        };
        Some(Settled::Failed { done, failed, retry, error })
    }

    /// Starts a reload that no failed batch asked for (the change feed did): everything queued
    /// will be applied again on the reloaded state. `None` while a batch is in flight: the
    /// reload then happens after it (see [`Self::mark_behind`]).
    pub fn start_reload(&mut self) -> Option<Vec<PendingWrite>> {
        if !matches!(self.phase, Phase::Idle) {
            return None;
        }
        self.phase = Phase::Reloading;
        Some(self.take_queued())
    }

    /// Takes the writes queued behind the batch in flight (to apply them again on a state that
    /// moved under them).
    pub fn take_pending(&mut self) -> Vec<PendingWrite> {
        self.take_queued()
    }

    /// The reload is done: back to `Idle`.
    pub fn reloaded(&mut self) {
        self.phase = Phase::Idle;
    }

    /// Remembers that the stored state moved while a batch was in flight.
    pub fn mark_behind(&mut self) {
        self.behind = true;
    }

    /// Whether the stored state moved during the last batch (without forgetting it).
    pub fn is_behind(&self) -> bool {
        self.behind
    }

    /// Whether the stored state moved during the last batch (and forgets it).
    pub fn take_behind(&mut self) -> bool {
        std::mem::take(&mut self.behind)
    }

    /// Takes every write, stored or not (the actor is stopping).
    pub fn drain(&mut self) -> Vec<PendingWrite> {
        let mut writes = match std::mem::replace(&mut self.phase, Phase::Idle) {
            Phase::Storing(batch) => batch.writes,
            _ => Vec::new(),
        };
        self.storing_text_bytes = 0;
        writes.append(&mut self.take_queued());
        writes
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    fn revision(number: i64) -> Arc<Revision> {
        crate::dialogue::revision::fixture(number, "[]")
    }

    /// A write of the given revision numbers, answered on a session `ref` named after them.
    fn write(numbers: &[i64]) -> PendingWrite {
        PendingWrite {
            request: WriteRequest {
                project_id: "p".into(),
                changes: Vec::new(),
                user_id: "u".into(),
                if_match: None,
                may_archive: false,
                base_revision: None,
                handoff: None,
            },
            attempts: 0,
            revisions: numbers.iter().map(|n| revision(*n)).collect(),
            reply: Reply::Session { session_id: "s".into(), reference: format!("{numbers:?}") },
        }
    }

    fn references(writes: &[PendingWrite]) -> Vec<String> {
        writes
            .iter()
            .map(|w| match &w.reply {
                Reply::Session { reference, .. } => reference.clone(),
                Reply::Rest(_) | Reply::Handoff { .. } => "elsewhere".into(),
            })
            .collect()
    }

    #[test]
    fn writes_queued_during_a_batch_leave_together_as_the_next() {
        let mut queue = WriteQueue::default();
        queue.push(write(&[1]));
        assert_eq!(queue.take_batch().map(|b| b.writes.len()), Some(1));
        assert!(queue.take_batch().is_none(), "one batch at a time");
        for n in 2..=4 {
            queue.push(write(&[n]));
        }
        assert!(queue.holds("r1") && queue.holds("r4") && !queue.holds("r5"));
        let Some(Settled::Stored(first)) = queue.settle(Ok(())) else { panic!("stored") };
        assert_eq!(first.writes.len(), 1);
        let next = queue.take_batch().unwrap();
        assert_eq!(next.revisions().map(|r| r.number()).collect::<Vec<_>>(), [2, 3, 4]);
        assert!(!next.is_atomic());
        let Some(Settled::Stored(_)) = queue.settle(Ok(())) else { panic!("stored") };
        assert!(queue.is_quiet());
    }

    /// Revisions are counted while they wait for a batch; text is weighed until it is stored.
    #[test]
    fn the_queue_counts_what_waits_and_weighs_everything_unstored() {
        let mut queue = WriteQueue::default();
        let weight = revision(1).text_bytes();
        queue.push(write(&[1, 2]));
        assert_eq!((queue.queued_revisions(), queue.unstored_text_bytes()), (2, 2 * weight));
        queue.take_batch();
        queue.push(write(&[3]));
        assert_eq!((queue.queued_revisions(), queue.unstored_text_bytes()), (1, 3 * weight));
        queue.settle(Ok(()));
        assert_eq!((queue.queued_revisions(), queue.unstored_text_bytes()), (1, weight));
        queue.take_batch();
        queue.push(write(&[4]));
        // A failed batch: everything leaves the queue, to be answered or applied again.
        queue.settle(Err((0, StoreError::Duplicate { what: "revision".into() })));
        assert_eq!((queue.queued_revisions(), queue.unstored_text_bytes()), (0, 0));
        queue.reloaded();
        queue.push(write(&[5]));
        assert_eq!(queue.drain().len(), 1);
        assert_eq!((queue.queued_revisions(), queue.unstored_text_bytes()), (0, 0));
    }

    #[test]
    fn a_duplicate_number_retries_the_rest_and_the_queue_after_a_reload() {
        let mut queue = WriteQueue::default();
        for n in 1..=3 {
            queue.push(write(&[n]));
        }
        queue.take_batch();
        queue.push(write(&[4]));
        // Revision 2 was taken by another process: 1 is stored, 2 and 3 must be applied again,
        // and so must 4, which was queued behind them.
        let duplicate = StoreError::Duplicate { what: "revision".into() };
        let Some(Settled::Failed { done, failed, retry, error }) = queue.settle(Err((1, duplicate))) else {
            panic!("failed")
        };
        assert!(matches!(error, StoreError::Duplicate { .. }));
        assert_eq!(references(&done), ["[1]"]);
        assert!(failed.is_empty());
        assert_eq!(references(&retry), ["[2]", "[3]", "[4]"]);
        assert!(!queue.is_idle(), "reloading");
        assert!(queue.take_batch().is_none(), "nothing is stored while reloading");
        queue.reloaded();
        assert!(queue.is_quiet());
    }

    #[test]
    fn an_unknown_outcome_fails_the_rest_of_the_batch_only() {
        let mut queue = WriteQueue::default();
        queue.push(write(&[1, 2]));
        queue.push(write(&[3]));
        let batch = queue.take_batch().unwrap();
        assert!(batch.is_atomic(), "a write of two revisions lands whole");
        queue.push(write(&[4]));
        let unavailable = StoreError::Unavailable("timed out".into());
        let Some(Settled::Failed { done, failed, retry, .. }) = queue.settle(Err((0, unavailable))) else {
            panic!("failed")
        };
        assert!(done.is_empty());
        assert_eq!(references(&failed), ["[1, 2]", "[3]"]);
        assert_eq!(references(&retry), ["[4]"], "what was queued is not lost");
    }

    #[test]
    fn a_partial_store_counts_whole_writes_only() {
        let mut queue = WriteQueue::default();
        queue.push(write(&[1]));
        queue.push(write(&[2, 3]));
        queue.take_batch();
        let Some(Settled::Failed { done, retry, .. }) =
            queue.settle(Err((2, StoreError::Duplicate { what: "revision".into() })))
        else {
            panic!("failed")
        };
        assert_eq!(references(&done), ["[1]"], "a write is done only when all its revisions are");
        assert_eq!(references(&retry), ["[2, 3]"]);
    }

    #[test]
    fn a_reload_asked_by_the_feed_waits_for_the_batch_in_flight() {
        let mut queue = WriteQueue::default();
        queue.push(write(&[1]));
        queue.take_batch();
        assert!(queue.start_reload().is_none());
        queue.mark_behind();
        let Some(Settled::Stored(_)) = queue.settle(Ok(())) else { panic!("stored") };
        assert!(queue.take_behind());
        assert!(!queue.take_behind(), "asked once");
        queue.push(write(&[2]));
        assert_eq!(queue.start_reload().map(|retry| retry.len()), Some(1));
        assert_eq!(queue.drain().len(), 0);
    }
}
