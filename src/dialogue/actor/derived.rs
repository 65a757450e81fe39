//! The actor's derived records, written in the background and never on the way to an answer
//! (except a REST write's that changed what listings show): the stored head, one write at a time
//! through the store's shared head writes, and snapshots.

use std::time::Instant;

use actix::prelude::*;

use super::DialogueActor;
use crate::store::Snapshot;

impl DialogueActor {
    /// Writes the stored head in the background when it is due (one write at a time, always
    /// the newest durable state, in the store's shared head writes). It is due at once while a
    /// REST answer waits for it: that answer was held against the head stored when it was
    /// made, which a write finishing meanwhile may have brought to the same listing.
    pub(super) fn write_head(&mut self, ctx: &mut Context<Self>, finishing: bool) {
        let Some(state) = self.state.as_mut() else { return };
        let listing = state.listing();
        self.checkpoints.sized(state.durable.size);
        let awaited = !self.held.is_empty();
        if !self.checkpoints.head_due(&listing, Instant::now(), finishing || awaited) {
            return;
        }
        let record = state.record_with_content();
        let number = listing.number;
        self.checkpoints.head_write_started(listing);
        let store = self.deps.store.clone();
        let write = async move { store.write_head(record).await };
        ctx.spawn(write.into_actor(self).map(move |result, actor, ctx| {
            if let Err(error) = &result {
                // The next load repairs the head from the revisions.
                tracing::warn!(dialogue_id = %actor.dialogue_id, error = %error, "writing the dialogue head failed");
            }
            actor.checkpoints.head_write_finished(result.is_ok());
            actor.release_answers(number);
            actor.write_head(ctx, false);
        }));
    }

    /// Sends the held answers of writes up to revision `number`: the head is stored (or could
    /// not be; the revisions are stored either way).
    pub(super) fn release_answers(&mut self, number: i64) {
        for (sender, outcome) in self.held.release(number) {
            let _ = sender.send(Ok(outcome));
        }
    }

    /// Stores a snapshot of the durable state, in the background.
    pub(super) fn store_snapshot(&mut self) {
        let Some(state) = self.state.as_mut() else { return };
        let record = state.identity.record(&state.durable, None, false);
        let snapshot = Snapshot::new(&record, state.durable.number, state.content_json().text());
        let store = self.deps.store.clone();
        actix::spawn(async move {
            if let Err(error) = store.insert_snapshot(&snapshot).await {
                tracing::warn!(snapshot = %snapshot.id, error = %error, "storing a snapshot failed");
            }
        });
    }
}
