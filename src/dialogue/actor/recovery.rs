//! Recovery: reloading the dialogue after a lost race or a store failure (and telling the
//! sessions what they missed, or making them start over), and revisions other processes stored.

use std::sync::Arc;

use actix::prelude::*;

use super::{DialogueActor, Loaded, MAX_ATTEMPTS, RETRY_JITTER};
use crate::dialogue::loader::{LoadFailure, LoadedState};
use crate::dialogue::revision::Revision;
use crate::dialogue::write_queue::PendingWrite;
use crate::error::ApiError;
use crate::live::protocol::close;
use crate::patch::{self, Bounds};
use crate::store::RevisionRecord;

impl DialogueActor {
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
                Ok(Some(state)) => actor.reloaded(state, done, retry, ctx),
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
        state: LoadedState,
        done: Vec<PendingWrite>,
        retry: Vec<PendingWrite>,
        ctx: &mut Context<Self>,
    ) {
        let stored = state.head.revision_number;
        self.install(state);
        if stored < self.subscribers.announced() {
            // The sessions were sent revisions the database no longer has: their numbers will
            // be issued again, so the sessions must start over.
            tracing::error!(
                dialogue_id = %self.dialogue_id,
                announced = self.subscribers.announced(),
                stored,
                "acknowledged revisions are missing from the database; resynchronizing sessions"
            );
            self.subscribers.close_all(close::RESYNC);
            self.subscribers.restart_at(stored);
        }
        if let Some(head) = self.durable.clone() {
            for write in done {
                self.announce(write, &head, false);
            }
        }
        let announced = self.subscribers.announced();
        match self.log.catch_up(announced, stored) {
            Some(missed) => {
                for revision in &missed {
                    self.subscribers.announce(revision, None);
                }
            }
            None => {
                // More happened than the log holds: sessions catch up from a new welcome.
                self.subscribers.close_all(close::TOO_SLOW);
                self.subscribers.restart_at(stored);
            }
        }
        for write in retry {
            if write.attempts + 1 >= MAX_ATTEMPTS {
                self.answer_error(write.reply, ApiError::conflict("The dialogue is being changed by others; retry"));
            } else {
                self.accept(write.request, write.attempts + 1, write.reply);
            }
        }
        self.write_head(ctx, false);
        self.flush(ctx);
    }

    /// Applies a revision another process stored, when it is the next one and nothing of ours
    /// is queued; otherwise the queued write's conflict, or a reload, brings it in.
    pub(super) fn apply_external(&mut self, record: RevisionRecord, ctx: &mut Context<Self>) {
        let Some(durable) = self.durable.as_ref() else { return };
        if record.number <= durable.revision_number || self.queue.holds(&record.id) {
            return; // already known, or our own batch reported before its completion reached us
        }
        if !self.queue.is_quiet() {
            // Our queued writes may collide with it and reload; if they do not (it came after
            // them), reload once our batch is stored.
            self.queue.mark_behind();
            return;
        }
        if record.number != durable.revision_number + 1 {
            let retry = self.queue.start_reload().unwrap_or_default();
            self.reload(Vec::new(), retry, ctx);
            return;
        }
        let revision = match Revision::from_record(record) {
            Ok(revision) => Arc::new(revision),
            Err(error) => {
                tracing::warn!(dialogue_id = %self.dialogue_id, error = %error, "unreadable revision from the feed");
                let retry = self.queue.start_reload().unwrap_or_default();
                self.reload(Vec::new(), retry, ctx);
                return;
            }
        };
        // Nothing is queued, so the speculative head is the durable one: let it go, and apply
        // the revision in place (no copy when no one else holds the content).
        self.speculative = None;
        let Some(mut head) = self.durable.take() else { return };
        let content = Arc::make_mut(&mut head.content);
        match patch::apply(content, head.content_size, &revision.patch, Bounds::NONE) {
            Ok(applied) => head.content_size = applied.size,
            Err(error) => {
                tracing::warn!(dialogue_id = %self.dialogue_id, error = %error, "a revision from the feed does not apply");
                self.speculative = Some(head.clone());
                self.durable = Some(head);
                let retry = self.queue.start_reload().unwrap_or_default();
                self.reload(Vec::new(), retry, ctx);
                return;
            }
        }
        head.revision_number = revision.number();
        head.revision_id = Some(revision.record.id.clone());
        self.durable = Some(head.clone());
        self.speculative = Some(head);
        self.log.push(revision.clone());
        self.subscribers.announce(&revision, None);
        // Another process wrote it: its head and snapshots are that process's to write.
        self.checkpoints.written_elsewhere(revision.number());
    }
}
