//! `DialogueActor`: the one writer of a dialogue, a thin shell that routes its messages to the
//! parts that do the work. It owns the dialogue's state (the durable head, as stored, and the
//! speculative head, with everything accepted since), and:
//!
//! - [`prepare`](super::prepare) turns each write into numbered revisions on the speculative
//!   head, at once, or refuses it;
//! - the [`WriteQueue`] holds them and moves through its phases (idle, storing a batch,
//!   reloading): one batch in flight, everything queued behind it leaving as the next;
//! - [`Subscribers`] gets each stored revision to the live sessions, once and in order, after
//!   the store acknowledged it and before or with the REST answer;
//! - the [`RevisionLog`] keeps the newest revisions for catch-up and rebasing;
//! - [`Checkpoints`] says when to write the stored head and snapshots, in the background;
//! - the [`loader`] (re)loads the state from the store.
//!
//! The shell itself is three files: this one (the state and the write path), `handlers` (each
//! message routed to the parts), and `recovery` (reloads, and revisions other processes stored).
//!
//! Recovery: a duplicate revision number means another process wrote first; the actor reloads
//! and applies again what it had not stored. Any other store failure fails the batch in flight
//! (its outcome is unknown), reloads, and applies again what was queued; when the reload fails
//! too, the actor stops and the next request starts a fresh one from the store.

use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use dialogue_protocol::{RevisionRef, ServerFrame, Welcome};

use super::checkpoints::{CheckpointPolicy, Checkpoints};
use super::description::{self, Access};
use super::head::Head;
use super::loader::{self, LoadFailure, LoadedState};
use super::log::RevisionLog;
use super::messages::{ActorStopped, Join, WriteOutcome, WriteRequest};
use super::prepare::{self, prepare};
use super::subscribers::Subscribers;
use super::write_queue::{PendingWrite, Reply, Settled, WriteQueue};
use crate::error::ApiError;
use crate::limits::Limits;
use crate::live::protocol::{self, Frame, close};
use crate::schema::Schemas;
use crate::store::{ReleaseMark, ReleaseRecord, RevisionRecord, Snapshot, Store, StoreError};

mod handlers;
mod recovery;

/// How many times a change is applied again after losing a race with another process.
const MAX_ATTEMPTS: u32 = 20;
/// Upper bound of the random pause before reloading after a lost race, doubled per attempt
/// (up to 32 times), so that two processes racing for one dialogue stop colliding.
const RETRY_JITTER: Duration = Duration::from_millis(2);
/// Seconds a client refused for too many sessions is told to wait.
const SESSIONS_FULL_RETRY_SECS: u64 = 5;
/// How often an actor checks whether it has been idle long enough to stop.
const IDLE_CHECK_PERIOD: Duration = Duration::from_secs(5);

/// Tunables shared by every dialogue actor.
#[derive(Debug, Clone)]
pub struct ActorSettings {
    /// An actor with no live session and no work stops after this long.
    pub idle_timeout: Duration,
    /// When the head and snapshots are written.
    pub checkpoints: CheckpointPolicy,
    /// Recent revisions kept in memory (for catch-up and rebasing).
    pub log_capacity: usize,
    /// Changes waiting to be stored, beyond which new ones are refused with `503`.
    pub max_pending: usize,
    /// Size and depth limits of writes.
    pub limits: Limits,
    /// Live sessions the dialogue may have on this process.
    pub max_sessions: usize,
}

/// What an actor needs besides its dialogue id.
#[derive(Clone)]
pub struct ActorDeps {
    /// The database boundary.
    pub store: Store,
    /// Validation of descriptions.
    pub schemas: Arc<Schemas>,
    /// Tunables.
    pub settings: ActorSettings,
}

/// Whether the dialogue is loaded.
#[derive(Debug, Clone, Copy)]
enum Loaded {
    Loading,
    Ready,
    Missing,
    /// Loading failed: requests get the failure until the actor stops (at its next idle
    /// check), and the next request after that loads afresh.
    Failed(LoadFailure),
}

/// The per-dialogue actor.
pub struct DialogueActor {
    dialogue_id: String,
    generation: u64,
    deps: ActorDeps,
    registry: Recipient<ActorStopped>,
    loaded: Loaded,
    /// The stored state.
    durable: Option<Head>,
    /// The stored state plus everything accepted since.
    speculative: Option<Head>,
    log: RevisionLog,
    queue: WriteQueue,
    subscribers: Subscribers,
    checkpoints: Checkpoints,
    last_release_number: i64,
    last_activity: Instant,
}

impl DialogueActor {
    /// An actor for `dialogue_id`; it loads the dialogue when started.
    pub fn new(dialogue_id: String, generation: u64, deps: ActorDeps, registry: Recipient<ActorStopped>) -> Self {
        let checkpoints = Checkpoints::new(deps.settings.checkpoints, 0, 0);
        Self {
            subscribers: Subscribers::new(&dialogue_id, 0),
            dialogue_id,
            generation,
            deps,
            registry,
            loaded: Loaded::Loading,
            durable: None,
            speculative: None,
            log: RevisionLog::default(),
            queue: WriteQueue::default(),
            checkpoints,
            last_release_number: 0,
            last_activity: Instant::now(),
        }
    }

    fn not_found(&self) -> ApiError {
        ApiError::not_found("Dialogue", &self.dialogue_id)
    }

    /// The loaded state, checking that it belongs to `project_id`.
    fn ready_head(&self, project_id: &str) -> Result<&Head, ApiError> {
        match (&self.loaded, &self.durable) {
            (Loaded::Ready, Some(head)) if head.project_id == project_id => Ok(head),
            (Loaded::Loading, _) => Err(ApiError::Unavailable),
            (Loaded::Failed(failure), _) => Err(failure.error()),
            _ => Err(self.not_found()),
        }
    }

    /// Makes a freshly loaded state the actor's.
    fn install(&mut self, state: LoadedState) {
        self.checkpoints = Checkpoints::new(self.deps.settings.checkpoints, state.last_snapshot, state.head_stored);
        self.durable = Some(state.head.clone());
        self.speculative = Some(state.head);
        self.log = state.log;
        self.last_release_number = state.last_release_number;
        self.loaded = Loaded::Ready;
    }

    fn load_future(&self) -> impl Future<Output = Result<Option<LoadedState>, StoreError>> + 'static {
        let store = self.deps.store.clone();
        let dialogue_id = self.dialogue_id.clone();
        let capacity = self.deps.settings.log_capacity;
        async move { loader::load(&store, &dialogue_id, capacity).await }
    }

    /// Loads the dialogue when the actor starts; nothing else is handled meanwhile.
    fn load(&mut self, ctx: &mut Context<Self>) {
        ctx.wait(self.load_future().into_actor(self).map(|result, actor, ctx| match result {
            Ok(Some(state)) => {
                actor.subscribers.restart_at(state.head.revision_number);
                actor.install(state);
                actor.write_head(ctx, false);
            }
            Ok(None) => actor.loaded = Loaded::Missing,
            Err(error) => {
                tracing::warn!(dialogue_id = %actor.dialogue_id, error = %error, "loading a dialogue failed");
                actor.loaded = Loaded::Failed(LoadFailure::of(&error));
            }
        }));
    }

    /// Applies and queues a write, or refuses it at once.
    fn accept(&mut self, request: WriteRequest, attempts: u32, reply: Reply) {
        self.last_activity = Instant::now();
        if let Err(error) = self.ready_head(&request.project_id) {
            self.answer_error(reply, error);
            return;
        }
        if self.queue.queued_revisions() >= self.deps.settings.max_pending {
            self.answer_error(reply, ApiError::Busy);
            return;
        }
        let Self { speculative, log, queue, deps, .. } = self;
        let Some(head) = speculative.as_mut() else { return };
        let newest = head.revision_number;
        let effects_since = |base| log.effects_since(base, queue.unstored().flat_map(|w| w.revisions.iter()), newest);
        let context =
            prepare::Context { schemas: &deps.schemas, limits: &deps.settings.limits, effects_since: &effects_since };
        match prepare(head, &request, &context) {
            Ok(revisions) => self.queue.push(PendingWrite { request, attempts, revisions, reply }),
            Err(error) => self.answer_error(reply, error),
        }
    }

    /// Answers a write with an error: on its channel, or as an `error` frame to its session.
    fn answer_error(&mut self, reply: Reply, error: ApiError) {
        match reply {
            Reply::Rest(sender) => {
                let _ = sender.send(Err(error));
            }
            Reply::Session { session_id, reference } => {
                self.subscribers.send_to(&session_id, protocol::error(Some(&reference), &error));
            }
        }
    }

    /// Sends everything queued to the store as one batch, unless a batch is in flight.
    fn flush(&mut self, ctx: &mut Context<Self>) {
        let Some(head) = self.speculative.clone() else { return };
        let Some(batch) = self.queue.take_batch(head) else { return };
        let records: Vec<RevisionRecord> = batch.revisions().map(|r| r.record.clone()).collect();
        let atomic = batch.is_atomic();
        let store = self.deps.store.clone();
        let save = async move { store.insert_revisions(&records, atomic).await };
        ctx.spawn(save.into_actor(self).map(|result, actor, ctx| actor.stored(result, ctx)));
    }

    /// The store answered the batch in flight.
    fn stored(&mut self, result: Result<(), (usize, StoreError)>, ctx: &mut Context<Self>) {
        match self.queue.settle(result) {
            None => {}
            Some(Settled::Stored(batch)) => {
                let head = batch.head.clone();
                for write in batch.writes {
                    self.announce(write, &head, true);
                }
                self.commit(head, ctx);
                if self.queue.take_behind() {
                    let retry = self.queue.start_reload().unwrap_or_default();
                    self.reload(Vec::new(), retry, ctx);
                } else {
                    self.flush(ctx);
                }
            }
            Some(Settled::Failed { done, failed, retry, error }) => {
                if let StoreError::Duplicate { .. } = error {
                    tracing::info!(dialogue_id = %self.dialogue_id, "another writer stored first; reloading");
                } else {
                    tracing::warn!(dialogue_id = %self.dialogue_id, error = %error, "storing revisions failed");
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
                self.reload(done, retry, ctx);
            }
        }
    }

    /// Makes a stored batch's head the durable state, and writes checkpoints when due.
    fn commit(&mut self, head: Head, ctx: &mut Context<Self>) {
        if self.checkpoints.snapshot_due(head.revision_number) {
            self.store_snapshot(&head);
        }
        self.durable = Some(head);
        self.last_activity = Instant::now();
        self.write_head(ctx, false);
    }

    /// Answers a stored write and tells the sessions, in order: its sender as `ack`, the others
    /// as `revision`. Every write answers with `head`, the state stored with it.
    fn announce(&mut self, write: PendingWrite, head: &Head, remember: bool) {
        let origin = match &write.reply {
            Reply::Session { session_id, reference } => Some((session_id.clone(), reference.clone())),
            Reply::Rest(_) => None,
        };
        for revision in &write.revisions {
            if remember {
                self.log.push(revision.clone());
            }
            self.subscribers
                .announce(revision, origin.as_ref().map(|(id, reference)| (id.as_str(), reference.as_str())));
        }
        if let Reply::Rest(sender) = write.reply {
            let _ = sender.send(Ok(WriteOutcome { revisions: write.revisions, head: head.clone() }));
        }
    }

    /// Writes the stored head in the background when it is due (one write at a time, always
    /// the newest durable head): it is derived data, so no answer waits for it.
    fn write_head(&mut self, ctx: &mut Context<Self>, finishing: bool) {
        let Some(head) = self.durable.as_ref() else { return };
        if !self.checkpoints.head_due(head.revision_number, finishing) {
            return;
        }
        let record = head.to_record(true);
        self.checkpoints.head_write_started(head.revision_number);
        let store = self.deps.store.clone();
        let write = async move { store.advance_dialogue_head(&record).await };
        ctx.spawn(write.into_actor(self).map(|result, actor, ctx| {
            if let Err(error) = &result {
                // The next load repairs the head from the revisions.
                tracing::warn!(dialogue_id = %actor.dialogue_id, error = %error, "writing the dialogue head failed");
            }
            actor.checkpoints.head_write_finished(result.is_ok());
            actor.write_head(ctx, false);
        }));
    }

    fn store_snapshot(&mut self, head: &Head) {
        let snapshot = Snapshot::new(&head.to_record(false), head.revision_number, head.content.to_string());
        let store = self.deps.store.clone();
        actix::spawn(async move {
            if let Err(error) = store.insert_snapshot(&snapshot).await {
                tracing::warn!(snapshot = %snapshot.id, error = %error, "storing a snapshot failed");
            }
        });
    }

    /// Answers every unstored write with an error.
    fn fail_all(&mut self, error: impl Fn() -> ApiError) {
        for write in self.queue.drain() {
            self.answer_error(write.reply, error());
        }
    }

    fn is_idle(&self) -> bool {
        let durable = self.durable.as_ref().map_or(0, |head| head.revision_number);
        self.subscribers.is_empty()
            && self.queue.is_quiet()
            && self.checkpoints.head_clean(durable)
            && self.last_activity.elapsed() >= self.deps.settings.idle_timeout
    }

    /// Records a newer release and tells the sessions.
    fn learn_release(&mut self, release: &ReleaseRecord, mark: ReleaseMark) {
        if release.number <= self.last_release_number {
            return;
        }
        self.last_release_number = release.number;
        for head in [self.durable.as_mut(), self.speculative.as_mut()].into_iter().flatten() {
            head.release = Some(mark.clone());
        }
        let frame = protocol::frame(&ServerFrame::Release { release: description::describe_release(release) });
        self.subscribers.broadcast(&frame, None);
    }

    /// The `welcome` frame (and catch-up frames) for a joining session.
    fn welcome(&self, join: &Join, head: &Head) -> Vec<Frame> {
        let catch_up = join.since.filter(|since| *since <= head.revision_number).and_then(|since| {
            let missing = self.log.catch_up(since, head.revision_number)?;
            (missing.len() + 2 < join.link.frames.capacity()).then_some(missing)
        });
        let dialogue = catch_up.is_none().then(|| {
            let access = Access { can_view: true, can_edit: join.can_edit };
            description::describe(&head.to_record(false), &head.content, access)
        });
        let welcome = Welcome {
            session_id: join.link.session_id.clone(),
            user: join.link.user.clone(),
            can_edit: join.can_edit,
            revision: RevisionRef { number: head.revision_number, id: head.revision_id.clone() },
            dialogue,
            peers: self.subscribers.peers(),
        };
        let mut frames = vec![protocol::frame(&ServerFrame::Welcome(Box::new(welcome)))];
        frames.extend(catch_up.unwrap_or_default().iter().map(|revision| protocol::revision(revision.describe())));
        frames
    }
}

impl Actor for DialogueActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        // Bounded mailbox: senders wait (back-pressure) instead of queueing without limit.
        ctx.set_mailbox_capacity(256);
        self.load(ctx);
        ctx.run_interval(IDLE_CHECK_PERIOD.min(self.deps.settings.idle_timeout), |actor, ctx| {
            if matches!(actor.loaded, Loaded::Missing | Loaded::Failed(_)) || actor.is_idle() {
                ctx.stop();
            } else if actor.subscribers.is_empty()
                && actor.queue.is_quiet()
                && actor.last_activity.elapsed() >= actor.deps.settings.idle_timeout
            {
                // About to be idle: bring the stored head up to date first.
                actor.write_head(ctx, true);
            }
        });
    }

    fn stopped(&mut self, _: &mut Self::Context) {
        let failure = match self.loaded {
            Loaded::Failed(failure) => failure,
            _ => LoadFailure::Unavailable,
        };
        self.fail_all(|| failure.error());
        let code = if matches!(self.loaded, Loaded::Missing) { close::DELETED } else { close::GOING_AWAY };
        self.subscribers.close_all(code);
        self.registry.do_send(ActorStopped { dialogue_id: self.dialogue_id.clone(), generation: self.generation });
        tracing::debug!(dialogue_id = %self.dialogue_id, "dialogue actor stopped");
    }
}
