//! Recovery, and revisions other processes stored.
//!
//! Revisions from other processes arrive through the change feed (or pushed over a peer link)
//! and wait in `foreign` until they are the next numbers; they are then applied to the durable
//! version and sent to the sessions. Revisions pushed to this process are left out of its feed,
//! so what a lost push carried is read from the store: when later revisions arrive after a gap,
//! when the pushing process says a push failed (a `missed` handoff) or is gone, and before a
//! write handed over is given up. When a batch of ours lost its numbers to another process (a duplicate), its writes
//! are applied again on top of that process's revisions, rebased like any stale live patch:
//! taken from `foreign` when the feed already brought them (no database round trip), read from
//! the store otherwise (one round trip, sooner than the feed), and from a reload as the last
//! resort. Any other store
//! failure reloads the dialogue, tells the sessions what they missed (or makes them start
//! over), and applies again what was queued. A batch that lost a race also makes this process
//! hand its next writes to the winner for a while (`handoff.rs`).

use std::sync::Arc;
use std::time::Instant;

use actix::prelude::*;

use super::handoff::Claim;
use super::{DialogueActor, Loaded, MAX_ATTEMPTS, RETRY_JITTER};
use crate::dialogue::checkpoints::Listing;
use crate::dialogue::loader::{LoadFailure, LoadedState};
use crate::dialogue::messages::WriteOutcome;
use crate::dialogue::revision::Revision;
use crate::dialogue::write_queue::PendingWrite;
use crate::error::ApiError;
use crate::live::protocol::close;
use crate::store::RevisionRecord;

impl DialogueActor {
    /// Revisions another process stored (from the change feed, or pushed over a peer link),
    /// applied together; a gap before them is read from the store.
    pub(super) fn apply_external(&mut self, records: Vec<RevisionRecord>, ctx: &mut Context<Self>) {
        self.absorb_records(records, ctx);
        // A gap seen with no read in flight starts one (`absorb_foreign` may have already);
        // seen during a read, these may have been stored after it began: read again after it.
        if self.has_gap() {
            self.read_missing(ctx);
        }
    }

    /// Whether revisions of others wait behind a gap that nothing of this process's will
    /// fill: no batch of ours is being stored (its numbers would be the gap), and no lost race
    /// is being read.
    pub(super) fn has_gap(&self) -> bool {
        !self.foreign.is_empty() && !self.foreign_follows() && self.queue.is_idle() && self.waiting.is_none()
    }

    /// Reads the revisions after the durable version from the store, and applies those of
    /// others: revisions pushed to this process that did not arrive, which its feed leaves
    /// out. One read at a time; asked again meanwhile, it reads once more after it.
    pub(super) fn read_missing(&mut self, ctx: &mut Context<Self>) {
        if !matches!(self.loaded, Loaded::Ready) {
            return;
        }
        if self.missing.reading {
            // Unless this comes from the read's own result (see below).
            self.missing.again = true;
            return;
        }
        let Some(read) = self.read_after_durable() else { return };
        self.missing.reading = true;
        ctx.spawn(read.into_actor(self).map(|result, actor, ctx| {
            // Asked again by something that happened during the read; what the read itself
            // finds (a gap it could not fill) asks nothing more.
            let again = std::mem::take(&mut actor.missing.again);
            match result {
                Ok(records) => actor.absorb_records(records, ctx),
                Err(error) => {
                    tracing::warn!(dialogue_id = %actor.dialogue_id, error = %error, "reading missing revisions failed");
                }
            }
            actor.missing.again = false;
            actor.missing.reading = false;
            // Answers to handed-over writes held back by the read come after the revisions it
            // found, in the order the process that refused them would have had them seen.
            for answer in std::mem::take(&mut actor.missing.held_answers) {
                actor.on_handoff(answer, ctx);
            }
            if again {
                actor.read_missing(ctx);
            }
        }));
    }

    /// A read of every revision after the durable version (`None` before the dialogue loaded).
    pub(super) fn read_after_durable(
        &self,
    ) -> Option<impl std::future::Future<Output = crate::store::StoreResult<Vec<RevisionRecord>>> + use<>> {
        let after = self.state.as_ref()?.durable.number;
        let (store, dialogue_id) = (self.deps.store.clone(), self.dialogue_id.clone());
        Some(async move { store.revisions_between(&dialogue_id, after, i64::MAX).await })
    }

    /// Applies revisions another process stored, or keeps them until they are the next ones.
    pub(super) fn absorb_records(&mut self, records: Vec<RevisionRecord>, ctx: &mut Context<Self>) {
        let Some(state) = self.state.as_ref() else { return };
        let durable = state.durable.number;
        let mut new = false;
        for record in records {
            if record.number <= durable || self.queue.holds(&record.id) {
                continue; // already known, or our own batch reported before its completion reached us
            }
            self.remember_foreign(record);
            new = true;
        }
        if !new {
            return;
        }
        if self.queue.is_quiet() {
            self.absorb_foreign(Vec::new(), ctx);
        } else if self.waiting.is_some() && self.foreign_follows() {
            let retry = self.waiting.take().unwrap_or_default();
            self.queue.reloaded();
            self.absorb_foreign(retry, ctx);
        } else if !self.queue.is_idle() {
            // A batch of ours is in flight: it will lose to this revision or come before it;
            // `stored` sorts it out.
        }
    }

    /// Keeps a revision another process stored until it is the next one (one already applied,
    /// as a read that overlapped the feed may return, is not kept: an entry left behind would
    /// hold handed-off writes back).
    fn remember_foreign(&mut self, record: RevisionRecord) {
        if self.state.as_ref().is_some_and(|state| record.number <= state.durable.number) {
            return;
        }
        match Revision::from_record(record) {
            Ok(revision) => {
                self.foreign.insert(revision.number(), Arc::new(revision));
            }
            Err(error) => {
                tracing::warn!(dialogue_id = %self.dialogue_id, error = %error, "unreadable revision from another process");
                self.queue.mark_behind();
            }
        }
    }

    /// Drops the revisions of other processes that the durable version already has.
    pub(super) fn forget_applied_foreign(&mut self) {
        if let Some(state) = self.state.as_ref() {
            self.foreign.retain(|number, _| *number > state.durable.number);
        }
    }

    /// Whether the next revision after the durable one came from another process.
    pub(super) fn foreign_follows(&self) -> bool {
        let next = self.state.as_ref().map_or(0, |state| state.durable.number + 1);
        self.foreign.contains_key(&next)
    }

    /// Applies the foreign revisions that follow the durable version, then applies `retry` (our
    /// writes that lost their numbers) again on top of them. A gap waits for the feed; a
    /// revision that does not apply means the state is unknown, and the dialogue is reloaded.
    pub(super) fn absorb_foreign(&mut self, mut retry: Vec<PendingWrite>, ctx: &mut Context<Self>) {
        // Writes accepted meanwhile are on the old speculative version: they go again too.
        retry.extend(self.queue.take_pending());
        let Some(state) = self.state.as_mut() else { return };
        let quiet = retry.is_empty() && self.queue.is_quiet();
        self.foreign.retain(|number, _| *number > state.durable.number);
        let mut absorbed = Vec::new();
        while let Some(revision) = self.foreign.remove(&(state.durable.number + 1)) {
            match state.durable.advance(&revision) {
                Ok(()) => state.serialized.forget(&revision.patch),
                Err(error) => {
                    tracing::warn!(dialogue_id = %self.dialogue_id, error = %error, "a revision from another process does not apply");
                    self.foreign.clear();
                    self.reload(Vec::new(), retry, ctx);
                    return;
                }
            }
            if quiet {
                // Nothing of ours is on the speculative version: it follows the same way.
                let _ = state.speculative.advance(&revision);
            }
            self.log.push(revision.clone());
            absorbed.push(revision);
        }
        if !absorbed.is_empty() {
            state.head = None;
            if !quiet {
                // Our unstored writes are on the speculative version: start it again from the
                // durable one, and apply them again below.
                state.speculative = state.durable.clone();
            }
            let listing: Listing = state.listing();
            let number = listing.number;
            // Another process wrote these: its head and snapshots are that process's to write.
            self.checkpoints.written_elsewhere(listing);
            self.release_answers(number);
        }
        self.announce_foreign(&absorbed);
        self.retry(retry);
        self.accept_deferred();
        self.flush(ctx);
        if self.has_gap() {
            self.read_missing(ctx);
        }
    }

    /// Sends revisions another process stored to the sessions, in order: as the `ack` of a
    /// write this process handed over, or as a `revision`; a REST write handed over is answered
    /// with its revisions.
    fn announce_foreign(&mut self, revisions: &[Arc<Revision>]) {
        let mut answers = Vec::new();
        for revision in revisions {
            match self.claim(revision) {
                Claim::Ack { session_id, reference } => {
                    self.subscribers.announce(revision, Some((&session_id, &reference)));
                }
                Claim::Answer(sender, revisions) => {
                    self.subscribers.announce(revision, None);
                    answers.push((sender, revisions));
                }
                Claim::None => {
                    self.subscribers.announce(revision, None);
                }
            }
        }
        self.subscribers.deliver();
        for (sender, revisions) in answers {
            if let Some(head) = self.head() {
                let _ = sender.send(Ok(WriteOutcome { revisions, head }));
            }
        }
    }

    /// The process that stored the revision after the durable one (it won a race with this
    /// one) gets this process's writes for a while.
    fn hand_to_winner(&mut self) {
        let next = self.state.as_ref().map_or(0, |state| state.durable.number + 1);
        let winner = self.foreign.get(&next).and_then(|revision| revision.record.process.clone());
        if let Some(winner) = winner.filter(|winner| winner != self.deps.store.process_id()) {
            self.handoffs.winning(&winner, Instant::now());
        }
    }

    /// Applies writes again after they lost a race, in order; one that has lost too often fails.
    /// `attempts` counts the times a write lost its numbers (or met a failed store); writes
    /// merely applied again because others' revisions came first keep their count.
    fn retry(&mut self, retry: Vec<PendingWrite>) {
        for write in retry {
            if write.attempts >= MAX_ATTEMPTS {
                let error = ApiError::conflict("The dialogue is being changed by others; retry");
                crate::metrics::conflict(error.conflict_kind());
                self.answer_error(write.reply, error);
            } else {
                self.accept(write.request, write.attempts, write.reply);
            }
        }
    }

    /// A batch of ours lost its numbers to another process: `done` were stored before the
    /// collision, `retry` must be applied again after the winner's revisions.
    pub(super) fn lost_race(&mut self, done: Vec<PendingWrite>, retry: Vec<PendingWrite>, ctx: &mut Context<Self>) {
        let retry = lost(retry);
        self.commit_writes(done);
        if self.foreign_follows() {
            self.hand_to_winner();
            self.queue.reloaded();
            self.absorb_foreign(retry, ctx);
            return;
        }
        // The feed has not brought the winner's revisions yet: read them (one round trip,
        // sooner than the feed), and reload only if that fails. Writes accepted meanwhile are
        // rebased over `waiting` too, and go again with it.
        self.waiting = Some(retry);
        let Some(after) = self.state.as_ref().map(|state| state.durable.number) else { return };
        let (store, dialogue_id) = (self.deps.store.clone(), self.dialogue_id.clone());
        let read = async move { store.revisions_between(&dialogue_id, after, i64::MAX).await };
        ctx.spawn(read.into_actor(self).map(|result, actor, ctx| {
            if let Ok(records) = result {
                for record in records {
                    actor.remember_foreign(record);
                }
            }
            let Some(mut retry) = actor.waiting.take() else { return };
            if actor.foreign_follows() {
                actor.hand_to_winner();
                actor.queue.reloaded();
                actor.absorb_foreign(retry, ctx);
            } else {
                retry.extend(actor.queue.take_pending());
                actor.reload(Vec::new(), retry, ctx);
            }
        }));
    }

    /// Reloads from the store (the queue is `Reloading`), answers `done` (writes found stored),
    /// sends the sessions what they missed, then applies `retry` again on what is stored.
    pub(super) fn reload(&mut self, done: Vec<PendingWrite>, retry: Vec<PendingWrite>, ctx: &mut Context<Self>) {
        self.loaded = Loaded::Loading;
        let attempts = retry.iter().map(|write| write.attempts).max().unwrap_or(0);
        let ceiling = RETRY_JITTER.saturating_mul(1 << attempts.min(5));
        let pause = ceiling.mul_f64(rand::random::<f64>());
        let load = self.load_future();
        let load = async move {
            tokio::time::sleep(pause).await;
            load.await
        };
        ctx.wait(load.into_actor(self).map(move |result, actor, ctx| {
            actor.queue.reloaded();
            match result {
                Ok(Some(loaded)) => actor.reloaded(loaded, done, retry, ctx),
                Ok(None) => {
                    actor.loaded = Loaded::Missing;
                    for write in done.into_iter().chain(retry) {
                        let error = actor.not_found();
                        actor.answer_error(write.reply, error);
                    }
                    actor.subscribers.close_all(close::DELETED);
                    ctx.stop();
                }
                Err(error) => {
                    tracing::warn!(dialogue_id = %actor.dialogue_id, error = %error, "reloading a dialogue failed");
                    let cause = LoadFailure::of(&error);
                    for write in done.into_iter().chain(retry) {
                        actor.answer_error(write.reply, cause.error());
                    }
                    actor.loaded = Loaded::Failed(cause);
                    actor.subscribers.close_all(close::GOING_AWAY);
                    ctx.stop();
                }
            }
        }));
    }

    fn reloaded(
        &mut self,
        loaded: LoadedState,
        done: Vec<PendingWrite>,
        retry: Vec<PendingWrite>,
        ctx: &mut Context<Self>,
    ) {
        let stored = loaded.version.number;
        self.install(loaded);
        self.foreign.retain(|number, _| *number > stored);
        let announced = self.subscribers.announced();
        if self.subscribers.forget_unstored(stored) {
            tracing::error!(
                dialogue_id = %self.dialogue_id,
                announced,
                stored,
                "acknowledged revisions are missing from the database; sessions resynchronized (4009)"
            );
        }
        for write in done {
            self.announce(write, false);
        }
        self.subscribers.deliver();
        let announced = self.subscribers.announced();
        match self.log.catch_up(announced, stored) {
            Some(missed) => {
                self.announce_foreign(&missed);
            }
            None => {
                // More happened than the log holds: sessions catch up from a new welcome.
                self.subscribers.close_all(close::TOO_SLOW);
                self.subscribers.restart_at(stored);
            }
        }
        self.retry(retry);
        self.accept_deferred();
        self.write_head(ctx, false);
        self.flush(ctx);
    }
}

/// Writes that lost an attempt to be stored: each counts one more.
pub(super) fn lost(mut writes: Vec<PendingWrite>) -> Vec<PendingWrite> {
    for write in &mut writes {
        write.attempts += 1;
    }
    writes
}
