//! The write path of the dialogue actor: a write accepted (or refused) at once on the
//! speculative version, queued, committed in the store's shared batches, then announced to the
//! sessions and answered; and what a failed commit does to the writes behind it.

use std::sync::Arc;
use std::time::Instant;

use actix::prelude::*;
use futures_util::future::Either;
use serde_json::Value;

use super::{CLIENT_REF, DialogueActor, State, recovery};
use crate::dialogue::messages::{WriteOutcome, WriteRequest};
use crate::dialogue::prepare::{self, prepare};
use crate::dialogue::revision::Revision;
use crate::dialogue::write_queue::{Batch, PendingWrite, Reply, Settled};
use crate::error::ApiError;
use crate::live::protocol;
use crate::metrics::{HOT, Hot};
use crate::store::{RevisionRecord, StoreError};

/// The most patch and details text that may be accepted and not stored yet, in the batch in
/// flight or waiting for the next (beyond it, writes get `503` busy): a few seconds of the
/// database's work, however large the patches. Without it, 10,000 waiting live patches of 1 MiB
/// each could hold gigabytes while a slow database drained them.
const MAX_PENDING_TEXT_BYTES: usize = 32 * 1024 * 1024;

impl DialogueActor {
    /// Applies and queues a write, or refuses it at once.
    pub(super) fn accept(&mut self, request: WriteRequest, attempts: u32, reply: Reply) {
        self.last_activity = Instant::now();
        if let Err(error) = self.ready(&request.project_id) {
            self.answer_error(reply, error);
            return;
        }
        // While another process is winning this dialogue's numbers, writes go to it (a write
        // handed over is never handed on).
        if request.handoff.is_none()
            && let Some(to) = self.handoffs.target(Instant::now()).map(str::to_owned)
        {
            self.hand_off(request, reply, &to);
            return;
        }
        // Writes that lost a race wait outside the queue for a moment: rare, so summed here.
        let lost_race_bytes: usize =
            self.waiting.iter().flatten().flat_map(|w| w.revisions.iter()).map(|r| r.text_bytes()).sum();
        if self.queue.queued_revisions() >= self.deps.settings.max_pending
            || self.queue.unstored_text_bytes().saturating_add(lost_race_bytes) >= MAX_PENDING_TEXT_BYTES
        {
            self.answer_error(reply, ApiError::Busy);
            return;
        }
        let Self { state, log, queue, deps, waiting, .. } = self;
        let Some(state) = state.as_mut() else { return };
        let newest = state.speculative.number;
        // Unstored, in numbering order: writes that lost a race and wait for the winner's
        // revisions (still on the speculative version), then the batch in flight and the queue.
        let unstored = || waiting.iter().flatten().chain(queue.unstored()).flat_map(|w| w.revisions.iter());
        let effects_since = |base| log.effects_since(base, unstored(), newest);
        let context = prepare::Context {
            schemas: &deps.schemas,
            limits: &deps.settings.limits,
            effects_since: &effects_since,
            process_id: deps.store.process_id(),
        };
        if request.base_revision.is_some_and(|base| base < newest) {
            Hot::add(&HOT.rebases, 1);
        }
        match prepare(&state.identity, &mut state.speculative, &request, &context) {
            Ok(revisions) => self.queue.push(PendingWrite { request, attempts, revisions, reply }),
            Err(error) => {
                crate::metrics::conflict(error.conflict_kind());
                self.answer_error(reply, error);
            }
        }
    }

    /// When a live patch repeats a revision its author made that is still in memory (stored or
    /// not: the same `details.client_ref`, which clients make unique per change, after the
    /// patch's base), the `conflict` that refuses it, with `details.duplicate_of`, that
    /// revision's number. Storing it again would apply the change twice.
    pub(super) fn repeated(&self, request: &WriteRequest) -> Option<ApiError> {
        let reference = request.changes.first().and_then(|change| change.details.get(CLIENT_REF)?.as_str())?;
        let newest = self.state.as_ref()?.speculative.number;
        // A base ahead of the newest revision is refused as such, later.
        let base = request.base_revision.filter(|base| *base <= newest)?;
        let same = |revision: &&Arc<Revision>| {
            revision.record.user_id == request.user_id
                && revision.details.get(CLIENT_REF).and_then(Value::as_str) == Some(reference)
        };
        let unstored = self.waiting.iter().flatten().chain(self.queue.unstored()).flat_map(|w| w.revisions.iter());
        // Only what the client had not seen when it sent the patch can be the one it repeats.
        let original = self.log.after(base).find(same).or_else(|| unstored.filter(|r| r.number() > base).find(same))?;
        Some(ApiError::Conflict {
            message: format!("This change is already revision {} (it was sent twice)", original.number()),
            details: serde_json::json!({ "head_revision": newest, "duplicate_of": original.number() }),
        })
    }

    /// Answers a write with an error: on its channel, or as an `error` frame to its session.
    pub(super) fn answer_error(&mut self, reply: Reply, error: ApiError) {
        match reply {
            Reply::Rest(sender) => {
                let _ = sender.send(Err(error));
            }
            Reply::Session { session_id, reference } => {
                self.subscribers.send_to(&session_id, protocol::error(Some(&reference), &error));
            }
            Reply::Handoff { id, from } => self.answer_handoff(&id, &from, Some(&error)),
        }
    }

    /// Sends everything queued to the store as one batch, unless a batch is in flight.
    pub(super) fn flush(&mut self, ctx: &mut Context<Self>) {
        self.send_handoffs(ctx);
        // The followers the batch will be pushed to are named in its stored records: their
        // feeds leave these out. (With a batch in flight none leaves: no need to look.)
        let marked = if self.queue.is_idle() { self.push_targets() } else { Vec::new() };
        let Some(batch) = self.queue.take_batch() else { return };
        let records: Vec<RevisionRecord> = batch
            .revisions()
            .map(|revision| RevisionRecord { pushed_to: marked.clone(), ..revision.record.clone() })
            .collect();
        let atomic = batch.is_atomic();
        let store = self.deps.store.clone();
        let watch = self.watch_renewal(&records);
        let renewed = watch.as_ref().map(|(_, until)| *until);
        let save = match watch {
            // Handed to the committer now: a spawned future runs only after this handler and
            // the mailbox behind it.
            None => Either::Left(store.insert_revisions_now(records, atomic)),
            // Revisions of a hooked project are stored under a watch, or not at all.
            Some((project_id, until)) => Either::Right(async move {
                store.watch_dialogue(&records[0].dialogue_id, &project_id, until).await.map_err(|error| (0, error))?;
                store.insert_revisions(&records, atomic).await
            }),
        };
        ctx.spawn(save.into_actor(self).map(move |result, actor, ctx| {
            if let (Some(until), Ok(())) = (renewed, &result) {
                actor.watch.renewed(until);
            }
            actor.stored(result, &marked, ctx)
        }));
    }

    /// The watch to store before `records`, when the project has webhooks on changes and the
    /// watch runs low: the project and the new end of the watch.
    pub(super) fn watch_renewal(&self, records: &[RevisionRecord]) -> Option<(String, i64)> {
        let project_id = &records.first()?.project_id;
        if !self.deps.hooks.watches_changes(project_id) {
            return None;
        }
        Some((project_id.clone(), self.watch.renewal(crate::store::now_millis())?))
    }

    /// The store answered the batch in flight, whose records name `marked` as the followers
    /// they are pushed to.
    pub(super) fn stored(
        &mut self,
        result: Result<(), (usize, StoreError)>,
        marked: &[String],
        ctx: &mut Context<Self>,
    ) {
        match self.queue.settle(result) {
            None => {}
            Some(Settled::Stored(batch)) => {
                // When nothing has to happen between the two batches, the next one leaves
                // before this one is announced: the database stores it while this process
                // answers and fans out, instead of after.
                if self.next_batch_may_leave_first() {
                    self.flush(ctx);
                }
                self.commit(batch, marked, ctx);
                if !self.queue.is_idle() {
                    // The next batch is in flight: what this one left to do (a reload marked
                    // meanwhile, foreign revisions) happens when it is answered. Answers to
                    // handed-off writes that this batch made (one that changed nothing) go now.
                    self.send_handoffs(ctx);
                    return;
                }
                if self.queue.take_behind() {
                    let retry = self.queue.start_reload().unwrap_or_default();
                    self.reload(Vec::new(), retry, ctx);
                } else if self.foreign_follows() {
                    self.absorb_foreign(Vec::new(), ctx);
                } else {
                    // Handed-off writes held back by revisions of others that this batch
                    // overtook go now.
                    self.accept_deferred();
                    self.flush(ctx);
                    if self.has_gap() {
                        self.read_missing(ctx);
                    }
                }
            }
            Some(Settled::Failed { done, failed, retry, error }) => {
                // What was stored before the failure is stored: its followers get it as usual.
                self.push_stored(marked, done.iter().flat_map(|write| write.revisions.iter()));
                if let StoreError::Duplicate { .. } = error {
                    tracing::debug!(dialogue_id = %self.dialogue_id, "another process stored first");
                    self.lost_race(done, retry, ctx);
                    return;
                }
                tracing::warn!(dialogue_id = %self.dialogue_id, error = %error, "storing revisions failed");
                let last =
                    failed.iter().chain(&retry).flat_map(|write| write.revisions.iter()).map(|r| r.number()).max();
                if let Some(last) = last.filter(|_| !marked.is_empty()) {
                    self.tell_followers_of_unknown_batch(marked, last);
                }
                let unavailable = matches!(error, StoreError::Unavailable(_));
                for write in failed {
                    let answer = if unavailable {
                        ApiError::Unavailable
                    } else {
                        ApiError::internal(anyhow::anyhow!("storing revisions failed"))
                    };
                    self.answer_error(write.reply, answer);
                }
                self.reload(done, recovery::lost(retry), ctx);
            }
        }
    }

    /// Whether the writes queued behind a stored batch may go to the store before that batch
    /// is committed: no reload is due, no revision of another process waits to be absorbed,
    /// and no handed-off write waits for the stored batch to be applied first.
    fn next_batch_may_leave_first(&self) -> bool {
        !self.queue.is_behind() && self.foreign.is_empty() && !self.handoffs.any_deferred()
    }

    /// Makes a stored batch durable, then writes checkpoints when due.
    pub(super) fn commit(&mut self, batch: Batch, marked: &[String], ctx: &mut Context<Self>) {
        self.push_stored(marked, batch.revisions());
        self.commit_writes(batch.writes);
        self.write_head(ctx, false);
    }

    /// Makes stored writes durable (their patches applied to the durable version), answers
    /// them and tells the sessions; takes a snapshot when one is due.
    pub(super) fn commit_writes(&mut self, writes: Vec<PendingWrite>) {
        let Some(state) = self.state.as_mut() else { return };
        for revision in writes.iter().flat_map(|write| write.revisions.iter()) {
            match state.durable.advance(revision) {
                Ok(()) => state.serialized.forget(&revision.patch),
                Err(error) => {
                    // It applied to the speculative version: only a bug gets here. The reload
                    // after this batch rebuilds both versions from the store.
                    tracing::error!(dialogue_id = %self.dialogue_id, error = %error, "a stored revision does not apply");
                    self.queue.mark_behind();
                    state.durable.number = revision.number();
                    state.durable.id = Some(revision.record.id.clone());
                }
            }
        }
        state.head = None;
        let number = state.durable.number;
        self.checkpoints.sized(state.durable.size);
        if self.checkpoints.snapshot_due(number) {
            self.store_snapshot();
        }
        for write in writes {
            self.announce(write, true);
        }
        self.subscribers.deliver();
        self.last_activity = Instant::now();
    }

    /// Answers a stored write and tells the sessions, in order: its sender as `ack`, the others
    /// as `revision`. A REST write answers with the durable state.
    pub(super) fn announce(&mut self, write: PendingWrite, remember: bool) {
        let origin = match &write.reply {
            Reply::Session { session_id, reference } => Some((session_id.clone(), reference.clone())),
            Reply::Rest(_) | Reply::Handoff { .. } => None,
        };
        for revision in &write.revisions {
            if remember {
                self.log.push(revision.clone());
            }
            self.subscribers
                .announce(revision, origin.as_ref().map(|(id, reference)| (id.as_str(), reference.as_str())));
        }
        if let Reply::Handoff { id, from } = &write.reply
            && write.revisions.is_empty()
        {
            self.answer_handoff(id, from, None);
        }
        if let Reply::Rest(sender) = write.reply
            && let Some(head) = self.head()
        {
            let outcome = WriteOutcome { revisions: write.revisions, head };
            match self.state.as_ref().map(State::listing) {
                Some(listing) if self.checkpoints.listed_differently(&listing) => {
                    self.held.hold(listing.number, (sender, outcome));
                }
                _ => {
                    let _ = sender.send(Ok(outcome));
                }
            }
        }
    }

    /// Answers every unstored write with an error.
    pub(super) fn fail_all(&mut self, error: impl Fn() -> ApiError) {
        for write in self.queue.drain() {
            self.answer_error(write.reply, error());
        }
    }
}
