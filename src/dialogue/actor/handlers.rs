//! The messages a `DialogueActor` answers, each routed to the parts that do the work.

use std::time::Instant;

use actix::prelude::*;
use tokio::sync::oneshot;

use super::{DialogueActor, Loaded, SESSIONS_FULL_RETRY_SECS};
use crate::dialogue::head::Head;
use crate::dialogue::messages::{
    CreateRelease, Describe, Evict, External, FlushHead, Join, Leave, SessionPatch, SetPresence, Submit, WriteOutcome,
};
use crate::dialogue::presence;
use crate::dialogue::releases::create_release;
use crate::dialogue::write_queue::Reply;
use crate::error::ApiError;
use crate::live::protocol::{self, close};
use crate::store::{ReleaseMark, ReleaseRecord};

impl Handler<Submit> for DialogueActor {
    type Result = ResponseFuture<Result<WriteOutcome, ApiError>>;

    fn handle(&mut self, Submit(request): Submit, ctx: &mut Self::Context) -> Self::Result {
        let (reply, answer) = oneshot::channel();
        self.accept(request, 0, Reply::Rest(reply));
        self.flush(ctx);
        Box::pin(async move { answer.await.unwrap_or(Err(ApiError::Interrupted)) })
    }
}

impl Handler<SessionPatch> for DialogueActor {
    type Result = ();

    fn handle(&mut self, patch: SessionPatch, ctx: &mut Self::Context) {
        if let Some(refusal) = self.repeated(&patch.request) {
            // Sent again (after a reconnect, before the client could learn it was stored):
            // refused, naming the revision it already is, which reaches the session as usual.
            self.subscribers.send_to(&patch.session_id, protocol::error(Some(&patch.reference), &refusal));
            return;
        }
        let reply = Reply::Session { session_id: patch.session_id, reference: patch.reference };
        self.accept(patch.request, 0, reply);
        self.flush(ctx);
    }
}

impl Handler<Describe> for DialogueActor {
    type Result = Result<Head, ApiError>;

    fn handle(&mut self, message: Describe, ctx: &mut Self::Context) -> Self::Result {
        self.last_activity = Instant::now();
        let head = self.ready(&message.project_id).and_then(|()| self.head().ok_or(ApiError::Interrupted));
        if matches!(self.loaded, Loaded::Missing) {
            ctx.stop();
        }
        head
    }
}

impl Handler<CreateRelease> for DialogueActor {
    type Result = AtomicResponse<Self, Result<ReleaseRecord, ApiError>>;

    fn handle(&mut self, message: CreateRelease, _: &mut Self::Context) -> Self::Result {
        self.last_activity = Instant::now();
        let identity = match self.ready(&message.project_id) {
            Ok(()) => self.state.as_ref().map(|state| state.identity.clone()),
            Err(error) => return AtomicResponse::new(Box::pin(fut::ready(Err(error)))),
        };
        let Some(identity) = identity else {
            return AtomicResponse::new(Box::pin(fut::ready(Err(ApiError::Interrupted))));
        };
        let known = self.log.find(&message.revision_id).map(|revision| revision.number());
        let store = self.deps.store.clone();
        let number = self.last_release_number + 1;
        let work = async move { create_release(&store, &identity, message, known, number).await };
        AtomicResponse::new(Box::pin(work.into_actor(self).map(|result, actor, _| {
            let (release, mark) = result?;
            actor.learn_release(&release, mark);
            Ok(release)
        })))
    }
}

impl Handler<Join> for DialogueActor {
    type Result = Result<(), ApiError>;

    fn handle(&mut self, join: Join, _: &mut Self::Context) -> Self::Result {
        self.last_activity = Instant::now();
        self.ready(&join.project_id)?;
        if self.subscribers.len() >= self.deps.settings.max_sessions {
            return Err(ApiError::RateLimited { retry_after: SESSIONS_FULL_RETRY_SECS });
        }
        join.link.frames.send(self.welcome(&join)).map_err(|_| ApiError::Interrupted)?;
        self.subscribers.add(join.link);
        Ok(())
    }
}

impl Handler<Leave> for DialogueActor {
    type Result = ();

    fn handle(&mut self, leave: Leave, _: &mut Self::Context) {
        self.last_activity = Instant::now();
        self.subscribers.remove(&leave.session_id);
    }
}

impl Handler<SetPresence> for DialogueActor {
    type Result = ();

    fn handle(&mut self, presence: SetPresence, _: &mut Self::Context) {
        self.subscribers.select(&presence.session_id, presence.selection);
    }
}

impl Handler<Evict> for DialogueActor {
    type Result = bool;

    fn handle(&mut self, _: Evict, ctx: &mut Self::Context) -> bool {
        // Handoffs waiting (sent or to send, in either direction) keep it too: stopping would
        // leave another process's write unanswered until its timeout.
        let quiet = self.queue.is_quiet() && !self.handoffs.waiting();
        if quiet {
            ctx.stop();
        }
        quiet
    }
}

impl Handler<FlushHead> for DialogueActor {
    type Result = ResponseFuture<bool>;

    fn handle(&mut self, _: FlushHead, _: &mut Self::Context) -> Self::Result {
        let checkpoints = &self.checkpoints;
        let Some(state) = self.state.as_mut().filter(|state| !checkpoints.head_clean(state.durable.number)) else {
            return Box::pin(async { true });
        };
        // Heads only move forward, so this may run beside a background head write.
        let record = state.record_with_content();
        let store = self.deps.store.clone();
        Box::pin(async move { store.write_head(record).await.is_ok() })
    }
}

impl Handler<External> for DialogueActor {
    type Result = ();

    fn handle(&mut self, event: External, ctx: &mut Self::Context) {
        if !matches!(self.loaded, Loaded::Ready) {
            return;
        }
        match event {
            External::Revisions(records) => self.apply_external(records, ctx),
            External::Handoff(handoff) => self.on_handoff(handoff, ctx),
            External::Release(release) => {
                let mark = ReleaseMark {
                    number: release.number,
                    id: release.id.clone(),
                    revision_number: release.revision_number,
                };
                self.learn_release(&release, mark);
            }
            External::Resync => {
                match self.queue.start_reload() {
                    Some(retry) => self.reload(Vec::new(), retry, ctx),
                    None => self.queue.mark_behind(),
                }
                self.relist_remote_peers(ctx);
            }
            External::PeerPresent(record) => {
                if let Some(peer) = presence::peer_of(&record) {
                    self.subscribers.remote_present(peer);
                }
            }
            External::PeerGone(session_id) => self.subscribers.remote_gone(&session_id),
            External::ProcessGone(process_id) => {
                if self.handoffs.follows(&process_id, std::time::Instant::now(), self.push_settle()) {
                    self.read_missing(ctx);
                }
            }
            External::ProjectDeleted(project_id) => {
                if self.state.as_ref().is_some_and(|state| state.identity.project_id == project_id) {
                    self.loaded = Loaded::Missing;
                    self.subscribers.close_all(close::DELETED);
                    let dialogue_id = self.dialogue_id.clone();
                    self.fail_all(|| ApiError::not_found("Dialogue", &dialogue_id));
                    ctx.stop();
                }
            }
        }
    }
}
