//! `DialogueActor`: the one writer of a dialogue. It owns the dialogue's current state and its
//! recent revisions, turns every change into numbered revisions, stores them, and only then
//! answers and tells the dialogue's live sessions.
//!
//! Write path (group commit): a change is validated and applied in memory at once, on top of
//! everything already accepted (the *speculative* head), and queued. While one batch is being
//! stored, later changes queue behind it; when it is stored, everything queued goes to the
//! database as the next batch: one insert (a transaction when the batch holds several
//! revisions) and one head update. Each caller gets its own answer; a change that fails
//! validation fails only its caller and never enters a batch.
//!
//! Live sessions subscribe to the actor. Every stored revision goes, in order, to every session:
//! as `ack` to the one whose patch made it, as `revision` to the others. Frames are serialized
//! once and shared. A session whose bounded queue is full is dropped with close code 4008, so it
//! never slows the others. Revisions stored by other processes arrive through the change feed
//! and are applied and broadcast the same way.
//!
//! Recovery: a duplicate revision number means another process wrote first. The actor reloads
//! from the store and re-applies every change it had not stored yet (a change with a stale
//! `If-Match` then fails with `412`). Any other store failure fails the batch being stored
//! (its outcome in the database is unknown), reloads, and re-applies the writes queued behind
//! it; only when the reload fails too does the actor stop, and the next request starts a fresh
//! one from the store.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use serde_json::{Value, json};
use tokio::sync::{mpsc, oneshot, watch};

use super::change::{Change, ChangeKind};
use super::description::{self, Access};
use super::rebase::{Effects, rebase_over};
use super::revision::Revision;
use crate::error::ApiError;
use crate::live::protocol::{self, Frame, close};
use crate::schema::Schemas;
use crate::store::{
    DialogueRecord, ReleaseMark, ReleaseRecord, RevisionRecord, Snapshot, Store, StoreError, new_id, now_millis,
};

/// How many times a change is re-applied after losing a race with another process.
const MAX_ATTEMPTS: u32 = 20;
/// Upper bound of the random pause before re-applying after a lost race, doubled per attempt
/// (up to 32 times), so that two processes racing for one dialogue stop colliding.
const RETRY_JITTER: Duration = Duration::from_millis(2);
/// How often an actor checks whether it has been idle long enough to stop.
const IDLE_CHECK_PERIOD: Duration = Duration::from_secs(5);

/// Tunables shared by every dialogue actor.
#[derive(Debug, Clone)]
pub struct ActorSettings {
    /// An actor with no live session and no work stops after this long.
    pub idle_timeout: Duration,
    /// A snapshot is stored every this many revisions.
    pub snapshot_interval: i64,
    /// Recent revisions kept in memory (for catch-up and rebasing).
    pub log_capacity: usize,
    /// Changes waiting to be stored, beyond which new ones are refused with `503`.
    pub max_pending: usize,
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

/// A dialogue's state at one revision.
#[derive(Debug, Clone)]
pub struct Head {
    /// The dialogue.
    pub dialogue_id: String,
    /// Its project.
    pub project_id: String,
    /// The description: `title`, `sequences`, `is_archived`.
    pub content: Arc<Value>,
    /// Number of the newest revision in `content` (0 before the first).
    pub revision_number: i64,
    /// Id of that revision.
    pub revision_id: Option<String>,
    /// The newest release.
    pub release: Option<ReleaseMark>,
    /// Creation time of the dialogue.
    pub created: i64,
}

impl Head {
    fn from_record(record: DialogueRecord) -> anyhow::Result<Self> {
        let content = serde_json::from_str(&record.content)?;
        Ok(Self {
            dialogue_id: record.id,
            project_id: record.project_id,
            content: Arc::new(content),
            revision_number: record.revision_number,
            revision_id: record.revision_id,
            release: record.release,
            created: record.created,
        })
    }

    /// The head as a stored record; `content` is serialized only when `with_content`.
    pub fn to_record(&self, with_content: bool) -> DialogueRecord {
        DialogueRecord {
            id: self.dialogue_id.clone(),
            project_id: self.project_id.clone(),
            title: self.content.get("title").and_then(Value::as_str).unwrap_or_default().to_owned(),
            is_archived: self.content.get("is_archived").and_then(Value::as_bool).unwrap_or(false),
            content: if with_content { self.content.to_string() } else { String::new() },
            revision_number: self.revision_number,
            revision_id: self.revision_id.clone(),
            release: self.release.clone(),
            created: self.created,
        }
    }

    /// Whether an `If-Match` entity tag names this state (`*` matches any).
    fn matches(&self, if_match: &str) -> bool {
        let current = self.revision_id.as_deref().unwrap_or_default();
        if_match.split(',').map(str::trim).any(|tag| {
            let tag = tag.strip_prefix("W/").unwrap_or(tag);
            tag == "*" || tag.trim_matches('"') == current
        })
    }
}

/// A request to change the dialogue.
#[derive(Debug, Clone)]
pub struct WriteRequest {
    /// The project in the request's path; must own the dialogue.
    pub project_id: String,
    /// The changes, applied in order, all or nothing.
    pub changes: Vec<Change>,
    /// Who asks.
    pub user_id: String,
    /// The client's `If-Match`, if any.
    pub if_match: Option<String>,
    /// Whether the caller may archive or unarchive the dialogue.
    pub may_archive: bool,
    /// For live patches: the revision the patch was made against; the patch is rebased over
    /// everything accepted since.
    pub base_revision: Option<i64>,
}

/// A stored write: its revisions (none for a change that changed nothing) and the head after it.
#[derive(Debug, Clone)]
pub struct WriteOutcome {
    /// The revisions made, in order.
    pub revisions: Vec<Arc<Revision>>,
    /// The dialogue right after them.
    pub head: Head,
}

/// Submit a write; answered once it is stored.
#[derive(Message)]
#[rtype(result = "Result<WriteOutcome, ApiError>")]
pub struct Submit(pub WriteRequest);

/// Read the current (stored) state.
#[derive(Message)]
#[rtype(result = "Result<Head, ApiError>")]
pub struct Describe {
    /// The project in the request's path.
    pub project_id: String,
}

/// Create a release of a stored revision.
#[derive(Message)]
#[rtype(result = "Result<ReleaseRecord, ApiError>")]
pub struct CreateRelease {
    /// The project in the request's path.
    pub project_id: String,
    /// The revision to release.
    pub revision_id: String,
    /// Who asks.
    pub user_id: String,
}

/// A live session's way to receive frames and to be closed.
#[derive(Clone)]
pub struct SessionLink {
    /// The session's id.
    pub session_id: String,
    /// `{id, first_name, last_name}` of its user.
    pub user: Value,
    /// Bounded queue of frames to send.
    pub frames: mpsc::Sender<Frame>,
    /// Set to a close code to make the session close.
    pub close: watch::Sender<Option<u16>>,
}

/// A live session opens: it gets its `welcome` (and catch-up revisions) first in its queue.
#[derive(Message)]
#[rtype(result = "Result<(), ApiError>")]
pub struct Join {
    /// The project in the request's path.
    pub project_id: String,
    /// The session.
    pub link: SessionLink,
    /// Whether the session may submit patches.
    pub can_edit: bool,
    /// The revision the client already holds, if any.
    pub since: Option<i64>,
}

/// A live session closed.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Leave {
    /// The session.
    pub session_id: String,
}

/// A live session changed its selection.
#[derive(Message)]
#[rtype(result = "()")]
pub struct SetPresence {
    /// The session.
    pub session_id: String,
    /// Any JSON (at most 4 KiB).
    pub selection: Value,
}

/// A live session submits a patch; the answer (`ack` or `error`) arrives in its queue.
#[derive(Message)]
#[rtype(result = "()")]
pub struct SessionPatch {
    /// The session.
    pub session_id: String,
    /// The client's `ref`.
    pub reference: String,
    /// The write.
    pub request: WriteRequest,
}

/// Something another process stored (from the change feed).
#[derive(Message, Clone)]
#[rtype(result = "()")]
pub enum External {
    /// A revision.
    Revision(crate::store::RevisionRecord),
    /// A release.
    Release(ReleaseRecord),
    /// The feed may have missed events: reload and send sessions what they missed.
    Resync,
    /// A project was deleted: its dialogues' sessions close with 4404.
    ProjectDeleted(String),
}

/// Told to the registry when an actor stops, so it forgets it.
#[derive(Message)]
#[rtype(result = "()")]
pub struct ActorStopped {
    /// The dialogue.
    pub dialogue_id: String,
    /// Which incarnation of its actor stopped.
    pub generation: u64,
}

/// Where the answer to a write goes.
enum Reply {
    /// A REST request waiting on a channel.
    Rest(oneshot::Sender<Result<WriteOutcome, ApiError>>),
    /// A live session: `ack` or `error` in its queue.
    Session { session_id: String, reference: String },
}

/// A write accepted in memory and waiting to be stored.
struct PendingWrite {
    request: WriteRequest,
    attempts: u32,
    revisions: Vec<RevisionRecord>,
    patches: Vec<json_patch::Patch>,
    effects: Vec<Effects>,
    details: Vec<Value>,
    reply: Reply,
}

/// A live session as the actor knows it.
struct Subscriber {
    link: SessionLink,
    selection: Value,
}

/// The batch being stored, and the state it leads to.
struct InFlight {
    writes: Vec<PendingWrite>,
    head: Head,
}

/// Whether the dialogue was found.
enum Loaded {
    Loading,
    Ready,
    Missing,
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
    in_flight: Option<InFlight>,
    pending: Vec<PendingWrite>,
    log: VecDeque<Arc<Revision>>,
    last_snapshot: i64,
    last_release_number: i64,
    last_activity: Instant,
    subscribers: Vec<Subscriber>,
    /// Set when another process stored revisions (or the feed asked for a resync) while a
    /// batch of ours was in flight: reload once it is done, so nothing is missed.
    behind: bool,
    /// The durable head has not been written to the store yet.
    head_dirty: bool,
    /// A head write is under way.
    head_writing: bool,
}

impl DialogueActor {
    /// An actor for `dialogue_id`; it loads the dialogue when started.
    pub fn new(dialogue_id: String, generation: u64, deps: ActorDeps, registry: Recipient<ActorStopped>) -> Self {
        Self {
            dialogue_id,
            generation,
            deps,
            registry,
            loaded: Loaded::Loading,
            durable: None,
            speculative: None,
            in_flight: None,
            pending: Vec::new(),
            log: VecDeque::new(),
            last_snapshot: 0,
            last_release_number: 0,
            last_activity: Instant::now(),
            subscribers: Vec::new(),
            behind: false,
            head_dirty: false,
            head_writing: false,
        }
    }

    fn not_found(&self) -> ApiError {
        ApiError::NotFound {
            message: format!("Dialogue {} not found", self.dialogue_id),
            details: serde_json::json!({ "id": self.dialogue_id }),
        }
    }

    /// The loaded state, checking that it belongs to `project_id`.
    fn ready_head(&self, project_id: &str) -> Result<&Head, ApiError> {
        match (&self.loaded, &self.durable) {
            (Loaded::Ready, Some(head)) if head.project_id == project_id => Ok(head),
            (Loaded::Loading, _) => Err(ApiError::Unavailable),
            _ => Err(self.not_found()),
        }
    }

    /// Loads the head, repairs it from revisions stored after it, and fills the recent log.
    fn load(&mut self, ctx: &mut Context<Self>) {
        let store = self.deps.store.clone();
        let dialogue_id = self.dialogue_id.clone();
        let log_capacity = self.deps.settings.log_capacity;
        let load = async move { load_state(&store, &dialogue_id, log_capacity).await };
        ctx.wait(load.into_actor(self).map(|result, actor, ctx| match result {
            Ok(Some(state)) => {
                actor.durable = Some(state.head.clone());
                actor.speculative = Some(state.head);
                actor.log = state.log;
                actor.last_snapshot = state.last_snapshot;
                actor.last_release_number = state.last_release_number;
                actor.loaded = Loaded::Ready;
            }
            Ok(None) => actor.loaded = Loaded::Missing,
            Err(error) => {
                tracing::warn!(dialogue_id = %actor.dialogue_id, error = %error, "loading a dialogue failed");
                actor.fail_all(|| ApiError::Unavailable);
                ctx.stop();
            }
        }));
    }

    /// Validates and applies a write on top of the speculative head, and queues it.
    fn accept(&mut self, request: WriteRequest, attempts: u32, reply: Reply) {
        self.last_activity = Instant::now();
        if let Err(error) = self.ready_head(&request.project_id) {
            self.answer_error(reply, error);
            return;
        }
        let queued: usize = self.pending.iter().map(|w| w.revisions.len().max(1)).sum();
        if queued >= self.deps.settings.max_pending {
            self.answer_error(reply, ApiError::Unavailable);
            return;
        }
        match self.prepare(&request) {
            Ok((revisions, patches, details)) => {
                let effects = patches.iter().map(Effects::of).collect();
                self.pending.push(PendingWrite { request, attempts, revisions, patches, effects, details, reply });
            }
            Err((error, dirty)) => {
                if dirty {
                    self.restore_speculative();
                }
                self.answer_error(reply, error);
            }
        }
    }

    /// Answers a write with an error: on its channel, or as an `error` frame to its session.
    fn answer_error(&mut self, reply: Reply, error: ApiError) {
        match reply {
            Reply::Rest(sender) => {
                let _ = sender.send(Err(error));
            }
            Reply::Session { session_id, reference } => {
                let frame = protocol::error(Some(&reference), &error);
                self.send_to(&session_id, frame);
            }
        }
    }

    /// Queues a frame for one session; a full queue drops the session with 4008.
    fn send_to(&mut self, session_id: &str, frame: Frame) {
        let Some(position) = self.subscribers.iter().position(|s| s.link.session_id == session_id) else { return };
        if let Err(error) = self.subscribers[position].link.frames.try_send(frame) {
            let dropped = self.subscribers.swap_remove(position);
            self.dropped(dropped, error);
        }
    }

    /// Queues a frame for every session but `except`.
    fn broadcast(&mut self, frame: &Frame, except: Option<&str>) {
        let mut index = 0;
        while index < self.subscribers.len() {
            let subscriber = &self.subscribers[index];
            if except == Some(subscriber.link.session_id.as_str()) {
                index += 1;
                continue;
            }
            match subscriber.link.frames.try_send(frame.clone()) {
                Ok(()) => index += 1,
                Err(error) => {
                    let dropped = self.subscribers.swap_remove(index);
                    self.dropped(dropped, error);
                }
            }
        }
    }

    /// A session whose queue is full (too slow: close 4008) or gone; the others hear it left.
    fn dropped(&mut self, subscriber: Subscriber, error: mpsc::error::TrySendError<Frame>) {
        if let mpsc::error::TrySendError::Full(_) = error {
            tracing::info!(dialogue_id = %self.dialogue_id, session_id = %subscriber.link.session_id, "session too far behind; closing");
            let _ = subscriber.link.close.send(Some(close::TOO_SLOW));
        }
        let frame = protocol::left(&subscriber.link.session_id);
        self.broadcast(&frame, None);
    }

    /// Closes every session with `code`.
    fn close_sessions(&mut self, code: u16) {
        for subscriber in self.subscribers.drain(..) {
            let _ = subscriber.link.close.send(Some(code));
        }
    }

    /// Sends sessions revisions they have not seen (stored by others, found on a reload).
    fn broadcast_revisions(&mut self, revisions: &[Arc<Revision>]) {
        for revision in revisions {
            let frame = protocol::revision(&revision.describe());
            self.broadcast(&frame, None);
        }
    }

    /// The effects of the patches accepted after revision `base`, oldest first, from the log
    /// and the queues; `None` when some of them are no longer in memory.
    fn effects_since(&self, base: i64) -> Option<Vec<&Effects>> {
        let newest_logged = self.log.back().map_or(0, |r| r.number());
        let skip =
            self.log.len().saturating_sub(usize::try_from(newest_logged - base).unwrap_or(0).min(self.log.len()));
        let mut patches: Vec<(i64, &Effects)> =
            self.log.iter().skip(skip).filter(|r| r.number() > base).map(|r| (r.number(), &r.effects)).collect();
        let queued = self.in_flight.iter().flat_map(|batch| batch.writes.iter()).chain(self.pending.iter());
        for write in queued {
            for (record, effects) in write.revisions.iter().zip(&write.effects) {
                patches.push((record.number, effects));
            }
        }
        let expected = self.speculative.as_ref()?.revision_number - base;
        let contiguous = patches.iter().enumerate().all(|(i, (number, _))| *number == base + 1 + i as i64);
        (i64::try_from(patches.len()).ok() == Some(expected) && contiguous)
            .then(|| patches.into_iter().map(|(_, p)| p).collect())
    }

    /// Applies every change of a request to the speculative head, in place (its content is
    /// copied at most once per batch, when it is still shared with the batch in flight). On an
    /// error, `true` says the speculative content may be half-changed and must be restored.
    #[allow(clippy::type_complexity)]
    fn prepare(
        &mut self,
        request: &WriteRequest,
    ) -> Result<(Vec<RevisionRecord>, Vec<json_patch::Patch>, Vec<Value>), (ApiError, bool)> {
        let clean = |error: ApiError| (error, false);
        let (base_number, base_id) = {
            let base = self.speculative.as_ref().ok_or((ApiError::Unavailable, false))?;
            if let Some(if_match) = &request.if_match
                && !base.matches(if_match)
            {
                return Err(clean(ApiError::PreconditionFailed {
                    message: "The dialogue has changed since the given revision".into(),
                    details: serde_json::json!({ "revision_id": base.revision_id, "revision_number": base.revision_number }),
                }));
            }
            (base.revision_number, base.revision_id.clone())
        };
        let rebased;
        let changes: &[Change] = match request.base_revision {
            Some(from) if from > base_number => return Err(clean(invalid_base(from, base_number))),
            Some(from) if from < base_number => {
                let conflict = || ApiError::Conflict {
                    message: "The patch collides with changes made since its base revision; catch up and retry".into(),
                    details: json!({ "head_revision": base_number }),
                };
                let since = self.effects_since(from).ok_or_else(|| clean(conflict()))?;
                let mut moved = Vec::with_capacity(request.changes.len());
                for change in &request.changes {
                    let kind = match &change.kind {
                        ChangeKind::Edit { patch, edit_type } => ChangeKind::Edit {
                            patch: rebase_over(patch, &since).map_err(|_| clean(conflict()))?,
                            edit_type: edit_type.clone(),
                        },
                        other => other.clone(),
                    };
                    moved.push(Change { kind, ..change.clone() });
                }
                rebased = moved;
                &rebased
            }
            _ => &request.changes,
        };
        let schemas = self.deps.schemas.clone();
        let head = self.speculative.as_mut().ok_or((ApiError::Unavailable, false))?;
        let content = Arc::make_mut(&mut head.content);
        let mut number = base_number;
        let mut revisions = Vec::new();
        let mut patches = Vec::new();
        let mut details = Vec::new();
        for (index, change) in changes.iter().enumerate() {
            let before_archived = content.get("is_archived").cloned();
            let applied =
                change.apply_in_place(content, &schemas).map_err(|error| (at_index(error, index, changes), true))?;
            let Some(patch) = applied else { continue };
            if before_archived.as_ref() != content.get("is_archived") && !request.may_archive {
                return Err((ApiError::Forbidden("Archiving a dialogue needs project:admin".into()), true));
            }
            number += 1;
            let (edit_type, reverted_to) = match &change.kind {
                ChangeKind::Edit { edit_type, .. } => (edit_type.clone(), None),
                ChangeKind::Replace { .. } => (None, None),
                ChangeKind::Revert { revision_id, .. } => (None, Some(revision_id.clone())),
            };
            revisions.push(RevisionRecord {
                id: new_id(),
                dialogue_id: head.dialogue_id.clone(),
                project_id: head.project_id.clone(),
                number,
                user_id: request.user_id.clone(),
                created: change.created.unwrap_or_else(now_millis),
                kind: change.revision_kind().to_owned(),
                edit_type,
                reverted_to,
                patch: serde_json::to_string(&patch).map_err(|e| (ApiError::internal(e), true))?,
                details: change.details.to_string(),
            });
            patches.push(patch);
            details.push(change.details.clone());
        }
        head.revision_number = number;
        head.revision_id = revisions.last().map(|r| r.id.clone()).or(base_id);
        Ok((revisions, patches, details))
    }

    /// Rebuilds the speculative head from the stored one and every accepted write, after a
    /// failed change may have left it half-changed. Rare: only refused changes get here.
    fn restore_speculative(&mut self) {
        let Some(durable) = self.durable.clone() else { return };
        let mut content = (*durable.content).clone();
        let mut head = durable;
        let accepted = self.in_flight.iter().flat_map(|batch| batch.writes.iter()).chain(self.pending.iter());
        for write in accepted {
            for (record, patch) in write.revisions.iter().zip(&write.patches) {
                if let Err(error) = json_patch::patch(&mut content, patch) {
                    tracing::error!(dialogue_id = %self.dialogue_id, error = %error, "an accepted patch no longer applies");
                }
                head.revision_number = record.number;
                head.revision_id = Some(record.id.clone());
            }
        }
        head.content = Arc::new(content);
        self.speculative = Some(head);
    }

    /// Sends everything queued to the store as one batch, unless a batch is already in flight.
    /// Only the revisions are on the way to the answers; the head is written afterwards.
    fn flush(&mut self, ctx: &mut Context<Self>) {
        if self.in_flight.is_some() || self.pending.is_empty() {
            return;
        }
        let Some(head) = self.speculative.clone() else { return };
        let writes = std::mem::take(&mut self.pending);
        let atomic = writes.iter().any(|w| w.revisions.len() > 1);
        let revisions: Vec<RevisionRecord> = writes.iter().flat_map(|w| w.revisions.iter().cloned()).collect();
        self.in_flight = Some(InFlight { writes, head });
        let store = self.deps.store.clone();
        let save = async move { store.insert_revisions(&revisions, atomic).await };
        ctx.spawn(save.into_actor(self).map(|result, actor, ctx| actor.stored(result, ctx)));
    }

    /// Finishes the batch in flight: answers its callers, or recovers. On failure, the first
    /// `stored` revisions of the batch were stored anyway: their writes are done.
    fn stored(&mut self, result: Result<(), (usize, StoreError)>, ctx: &mut Context<Self>) {
        let Some(batch) = self.in_flight.take() else { return };
        let (stored, error) = match result {
            Ok(()) => {
                self.commit(batch);
                self.write_head(ctx);
                if std::mem::take(&mut self.behind) {
                    let retry = std::mem::take(&mut self.pending);
                    self.reload_and_retry(Vec::new(), retry, ctx);
                } else {
                    self.flush(ctx);
                }
                return;
            }
            Err(failure) => failure,
        };
        let mut writes = batch.writes.into_iter().peekable();
        let mut done = Vec::new();
        let mut counted = 0;
        while let Some(write) = writes.next_if(|w| counted + w.revisions.len() <= stored) {
            counted += write.revisions.len();
            done.push(write);
        }
        let rest: Vec<PendingWrite> = writes.collect();
        let retry = if let StoreError::Duplicate { .. } = error {
            tracing::info!(dialogue_id = %self.dialogue_id, stored, "another writer stored first; reloading");
            let mut retry = rest;
            retry.append(&mut self.pending);
            retry
        } else {
            tracing::warn!(dialogue_id = %self.dialogue_id, error = %error, "storing revisions failed");
            let unavailable = matches!(error, StoreError::Unavailable(_));
            for write in rest {
                let answer = if unavailable {
                    ApiError::Unavailable
                } else {
                    ApiError::internal(anyhow::anyhow!("storing revisions failed"))
                };
                self.answer_error(write.reply, answer);
            }
            // The outcome in the database is unknown: start again from what is stored.
            std::mem::take(&mut self.pending)
        };
        self.reload_and_retry(done, retry, ctx);
    }

    /// Makes a stored batch the durable state and answers its callers.
    fn commit(&mut self, batch: InFlight) {
        for write in batch.writes {
            self.announce(write, &batch.head, true);
        }
        while self.log.len() > self.deps.settings.log_capacity {
            self.log.pop_front();
        }
        let number = batch.head.revision_number;
        if number - self.last_snapshot >= self.deps.settings.snapshot_interval {
            self.store_snapshot(&batch.head);
        }
        self.durable = Some(batch.head);
        self.head_dirty = true;
        self.last_activity = Instant::now();
    }

    /// Answers a stored write and tells the sessions, in order: its sender as `ack`, the others
    /// as `revision`. Every write answers with `head`, the state stored with it.
    fn announce(&mut self, write: PendingWrite, head: &Head, remember: bool) {
        let mut revisions = Vec::with_capacity(write.revisions.len());
        let parts = write.revisions.into_iter().zip(write.patches).zip(write.effects).zip(write.details);
        for (((record, patch), effects), details) in parts {
            let revision = Arc::new(Revision { record, patch, details, effects });
            if remember {
                self.log.push_back(revision.clone());
            }
            revisions.push(revision);
        }
        let origin = match &write.reply {
            Reply::Session { session_id, reference } => Some((session_id.clone(), reference.clone())),
            Reply::Rest(_) => None,
        };
        for revision in &revisions {
            let description = revision.describe();
            self.broadcast(&protocol::revision(&description), origin.as_ref().map(|(id, _)| id.as_str()));
            if let Some((session_id, reference)) = &origin {
                self.send_to(session_id, protocol::ack(reference, &description));
            }
        }
        if let Reply::Rest(sender) = write.reply {
            let _ = sender.send(Ok(WriteOutcome { revisions, head: head.clone() }));
        }
    }

    /// Writes the stored head (title, content, newest revision) in the background, one write at
    /// a time, always the newest: it is derived data (a load repairs it from the revisions), so
    /// no answer waits for it.
    fn write_head(&mut self, ctx: &mut Context<Self>) {
        if self.head_writing || !self.head_dirty {
            return;
        }
        let Some(head) = self.durable.as_ref() else { return };
        let record = head.to_record(true);
        self.head_dirty = false;
        self.head_writing = true;
        let store = self.deps.store.clone();
        let write = async move { store.advance_dialogue_head(&record).await };
        ctx.spawn(write.into_actor(self).map(|result, actor, ctx| {
            actor.head_writing = false;
            if let Err(error) = result {
                // The next load repairs the head from the revisions.
                tracing::warn!(dialogue_id = %actor.dialogue_id, error = %error, "writing the dialogue head failed");
            }
            actor.write_head(ctx);
        }));
    }

    fn store_snapshot(&mut self, head: &Head) {
        let record = head.to_record(false);
        let snapshot = Snapshot::new(&record, head.revision_number, head.content.to_string());
        self.last_snapshot = head.revision_number;
        let store = self.deps.store.clone();
        actix::spawn(async move {
            if let Err(error) = store.insert_snapshot(&snapshot).await {
                tracing::warn!(snapshot = %snapshot.id, error = %error, "storing a snapshot failed");
            }
        });
    }

    /// Reloads from the store, answers `done` (writes found stored), then re-applies `retry` in
    /// order on top of what is stored.
    fn reload_and_retry(&mut self, done: Vec<PendingWrite>, retry: Vec<PendingWrite>, ctx: &mut Context<Self>) {
        let store = self.deps.store.clone();
        let dialogue_id = self.dialogue_id.clone();
        let log_capacity = self.deps.settings.log_capacity;
        self.loaded = Loaded::Loading;
        let attempts = retry.iter().map(|write| write.attempts).max().unwrap_or(0);
        let ceiling = RETRY_JITTER.saturating_mul(1 << attempts.min(5));
        let pause = ceiling.mul_f64(rand::random::<f64>());
        let load = async move {
            tokio::time::sleep(pause).await;
            load_state(&store, &dialogue_id, log_capacity).await
        };
        let known = self.durable.as_ref().map_or(0, |head| head.revision_number);
        ctx.wait(load.into_actor(self).map(move |result, actor, ctx| match result {
            Ok(Some(state)) => {
                actor.durable = Some(state.head.clone());
                actor.speculative = Some(state.head);
                actor.log = state.log;
                actor.last_snapshot = state.last_snapshot;
                actor.last_release_number = state.last_release_number;
                actor.loaded = Loaded::Ready;
                let mut known = known;
                let head = actor.durable.clone();
                for write in done {
                    known += write.revisions.len() as i64;
                    if let Some(head) = &head {
                        actor.announce(write, head, false);
                    }
                }
                let missed: Vec<Arc<Revision>> = actor.log.iter().filter(|r| r.number() > known).cloned().collect();
                if missed.first().is_some_and(|first| first.number() != known + 1) {
                    // More happened than the log holds: sessions must start over from a welcome.
                    actor.close_sessions(close::TOO_SLOW);
                } else {
                    actor.broadcast_revisions(&missed);
                }
                for write in retry {
                    if write.attempts + 1 >= MAX_ATTEMPTS {
                        actor.answer_error(
                            write.reply,
                            ApiError::conflict("The dialogue is being changed by others; retry"),
                        );
                    } else {
                        actor.accept(write.request, write.attempts + 1, write.reply);
                    }
                }
                actor.flush(ctx);
            }
            Ok(None) => {
                actor.loaded = Loaded::Missing;
                for write in done.into_iter().chain(retry) {
                    let error = actor.not_found();
                    actor.answer_error(write.reply, error);
                }
                actor.close_sessions(close::DELETED);
                ctx.stop();
            }
            Err(error) => {
                tracing::warn!(dialogue_id = %actor.dialogue_id, error = %error, "reloading a dialogue failed");
                for write in done.into_iter().chain(retry) {
                    actor.answer_error(write.reply, ApiError::Unavailable);
                }
                actor.fail_all(|| ApiError::Unavailable);
                ctx.stop();
            }
        }));
    }

    /// Answers every queued write with an error.
    fn fail_all(&mut self, error: impl Fn() -> ApiError) {
        let mut writes: Vec<PendingWrite> = self.pending.drain(..).collect();
        if let Some(batch) = self.in_flight.take() {
            writes.extend(batch.writes);
        }
        for write in writes {
            self.answer_error(write.reply, error());
        }
    }

    fn is_idle(&self) -> bool {
        self.subscribers.is_empty()
            && !self.head_writing
            && !self.head_dirty
            && self.in_flight.is_none()
            && self.pending.is_empty()
            && self.last_activity.elapsed() >= self.deps.settings.idle_timeout
    }

    /// A revision of this dialogue by id: from memory when recent, else from the store.
    fn find_revision(&self, revision_id: &str) -> Option<Arc<Revision>> {
        self.log.iter().rev().find(|r| r.record.id == revision_id).cloned()
    }
}

/// `invalid_message`: a live patch claims a base revision the dialogue has not reached.
fn invalid_base(base: i64, newest: i64) -> ApiError {
    ApiError::InvalidMessage(format!("base_revision {base} is ahead of the newest revision {newest}"))
}

/// Marks an error of the `index`-th change of a bulk request with its position.
fn at_index(error: ApiError, index: usize, changes: &[Change]) -> ApiError {
    if changes.len() == 1 {
        return error;
    }
    match error {
        ApiError::Validation(errors) => ApiError::Validation(
            errors
                .into_iter()
                .map(|mut e| {
                    e.message = format!("revision {index}: {}", e.message);
                    e
                })
                .collect(),
        ),
        ApiError::PatchConflict { index: op, op: name, path, reason } => {
            ApiError::PatchConflict { index: op, op: name, path, reason: format!("revision {index}: {reason}") }
        }
        other => other,
    }
}

/// What a load produces.
struct LoadedState {
    head: Head,
    log: VecDeque<Arc<Revision>>,
    last_snapshot: i64,
    last_release_number: i64,
}

/// Reads the head; applies (and writes back) revisions stored after it, which exist when a
/// process died between storing revisions and updating the head.
async fn load_state(store: &Store, dialogue_id: &str, log_capacity: usize) -> anyhow::Result<Option<LoadedState>> {
    let Some(record) = store.dialogue_by_id_any_project(dialogue_id).await? else {
        return Ok(None);
    };
    let mut head = Head::from_record(record)?;
    let behind = store.revisions_between(dialogue_id, head.revision_number, i64::MAX).await?;
    if !behind.is_empty() {
        let mut content = (*head.content).clone();
        for record in &behind {
            if record.number != head.revision_number + 1 {
                anyhow::bail!("dialogue {dialogue_id}: revision {} follows {}", record.number, head.revision_number);
            }
            let revision = Revision::from_record(record.clone())?;
            json_patch::patch(&mut content, &revision.patch)?;
            head.revision_number = record.number;
            head.revision_id = Some(record.id.clone());
        }
        head.content = Arc::new(content);
        tracing::info!(%dialogue_id, repaired = behind.len(), "head repaired from stored revisions");
        store.advance_dialogue_head(&head.to_record(true)).await?;
    }
    let recent = i64::try_from(log_capacity.min(200)).unwrap_or(200);
    let log = store
        .latest_revisions(dialogue_id, recent)
        .await?
        .into_iter()
        .map(|record| Revision::from_record(record).map(Arc::new))
        .collect::<anyhow::Result<VecDeque<_>>>()?;
    let last_snapshot = store.snapshot_at_or_before(dialogue_id, i64::MAX).await?.map_or(0, |s| s.number);
    let latest_release = store.latest_release(dialogue_id).await?;
    if let Some(release) = &latest_release {
        let mark =
            ReleaseMark { number: release.number, id: release.id.clone(), revision_number: release.revision_number };
        if head.release.as_ref().is_none_or(|known| known.number < mark.number) {
            head.release = Some(mark);
        }
    }
    Ok(Some(LoadedState { head, log, last_snapshot, last_release_number: latest_release.map_or(0, |r| r.number) }))
}

impl Actor for DialogueActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        // Bounded mailbox: senders wait (back-pressure) instead of queueing without limit.
        ctx.set_mailbox_capacity(256);
        self.load(ctx);
        ctx.run_interval(IDLE_CHECK_PERIOD.min(self.deps.settings.idle_timeout), |actor, ctx| {
            if actor.is_idle() || matches!(actor.loaded, Loaded::Missing) {
                ctx.stop();
            }
        });
    }

    fn stopped(&mut self, _: &mut Self::Context) {
        self.fail_all(|| ApiError::Unavailable);
        if matches!(self.loaded, Loaded::Missing) {
            self.close_sessions(close::DELETED);
        } else {
            self.close_sessions(close::GOING_AWAY);
        }
        self.registry.do_send(ActorStopped { dialogue_id: self.dialogue_id.clone(), generation: self.generation });
        tracing::debug!(dialogue_id = %self.dialogue_id, "dialogue actor stopped");
    }
}

impl Handler<Submit> for DialogueActor {
    type Result = ResponseFuture<Result<WriteOutcome, ApiError>>;

    fn handle(&mut self, Submit(request): Submit, ctx: &mut Self::Context) -> Self::Result {
        let (reply, answer) = oneshot::channel();
        self.accept(request, 0, Reply::Rest(reply));
        self.flush(ctx);
        Box::pin(async move { answer.await.unwrap_or(Err(ApiError::Unavailable)) })
    }
}

impl Handler<Describe> for DialogueActor {
    type Result = Result<Head, ApiError>;

    fn handle(&mut self, message: Describe, ctx: &mut Self::Context) -> Self::Result {
        self.last_activity = Instant::now();
        let head = self.ready_head(&message.project_id).cloned();
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
        let head = match self.ready_head(&message.project_id) {
            Ok(head) => head.clone(),
            Err(error) => return AtomicResponse::new(Box::pin(fut::ready(Err(error)))),
        };
        let known = self.find_revision(&message.revision_id);
        let store = self.deps.store.clone();
        let number = self.last_release_number + 1;
        let work = async move {
            let revision_number = match known {
                Some(revision) => revision.number(),
                None => {
                    store.revision_by_id(&head.dialogue_id, &message.revision_id).await?.map(|r| r.number).ok_or_else(
                        || {
                            ApiError::invalid(
                                "reference",
                                "/revision_id",
                                format!("No revision {} exists in this dialogue", message.revision_id),
                            )
                        },
                    )?
                }
            };
            let mut release = ReleaseRecord {
                id: new_id(),
                dialogue_id: head.dialogue_id.clone(),
                project_id: head.project_id.clone(),
                number,
                revision_id: message.revision_id.clone(),
                revision_number,
                created: now_millis(),
                user_id: message.user_id.clone(),
            };
            // Another process may have taken the number: learn the newest and take the next.
            let mut attempts = 0;
            loop {
                match store.insert_release(&release).await {
                    Ok(()) => break,
                    Err(StoreError::Duplicate { .. }) if attempts < MAX_ATTEMPTS => {
                        attempts += 1;
                        release.number = store.latest_release(&head.dialogue_id).await?.map_or(0, |r| r.number) + 1;
                    }
                    Err(error) => return Err(error.into()),
                }
            }
            let number = release.number;
            let mark = ReleaseMark { number, id: release.id.clone(), revision_number };
            store.mark_release(&head.dialogue_id, &mark).await?;
            Ok((release, mark))
        };
        AtomicResponse::new(Box::pin(work.into_actor(self).map(|result, actor, _| match result {
            Ok((release, mark)) => {
                actor.learn_release(&release, mark);
                Ok(release)
            }
            Err(error) => Err(error),
        })))
    }
}

impl DialogueActor {
    /// Records a newer release and tells the sessions.
    fn learn_release(&mut self, release: &ReleaseRecord, mark: ReleaseMark) {
        if release.number <= self.last_release_number {
            return;
        }
        self.last_release_number = release.number;
        for head in [self.durable.as_mut(), self.speculative.as_mut()].into_iter().flatten() {
            head.release = Some(mark.clone());
        }
        let frame = protocol::release(&description::describe_release(release));
        self.broadcast(&frame, None);
    }

    /// Applies a revision another process stored, when it is the next one and nothing of ours
    /// is queued; otherwise the queued write's conflict, or a reload, brings it in.
    fn apply_external(&mut self, record: RevisionRecord, ctx: &mut Context<Self>) {
        let Some(durable) = self.durable.as_ref() else { return };
        if record.number <= durable.revision_number {
            return; // ours, or already known
        }
        let mut ours = self.in_flight.iter().flat_map(|b| b.writes.iter()).chain(self.pending.iter());
        if ours.any(|w| w.revisions.iter().any(|r| r.id == record.id)) {
            return; // our own batch, reported by the feed before its completion reached us
        }
        if self.in_flight.is_some() || !self.pending.is_empty() {
            // Our queued writes may collide with it and reload; if they do not (it came after
            // them), reload once our batch is stored.
            self.behind = true;
            return;
        }
        if record.number != durable.revision_number + 1 {
            self.reload_and_retry(Vec::new(), Vec::new(), ctx);
            return;
        }
        let revision = match Revision::from_record(record) {
            Ok(revision) => Arc::new(revision),
            Err(error) => {
                tracing::warn!(dialogue_id = %self.dialogue_id, error = %error, "unreadable revision from the feed");
                self.reload_and_retry(Vec::new(), Vec::new(), ctx);
                return;
            }
        };
        let mut content = (*durable.content).clone();
        if json_patch::patch(&mut content, &revision.patch).is_err() {
            self.reload_and_retry(Vec::new(), Vec::new(), ctx);
            return;
        }
        let head = Head {
            content: Arc::new(content),
            revision_number: revision.number(),
            revision_id: Some(revision.record.id.clone()),
            ..durable.clone()
        };
        self.durable = Some(head.clone());
        self.speculative = Some(head);
        self.log.push_back(revision.clone());
        while self.log.len() > self.deps.settings.log_capacity {
            self.log.pop_front();
        }
        self.broadcast_revisions(&[revision]);
    }

    /// The `welcome` frame (and catch-up frames) for a joining session.
    fn welcome(&self, join: &Join, head: &Head) -> Vec<Frame> {
        let catch_up: Option<Vec<&Arc<Revision>>> = join.since.and_then(|since| {
            if since > head.revision_number {
                return None;
            }
            let missing: Vec<&Arc<Revision>> = self.log.iter().filter(|r| r.number() > since).collect();
            let complete = i64::try_from(missing.len()).ok() == Some(head.revision_number - since);
            let fits = missing.len() + 2 < join.link.frames.capacity();
            (complete && fits).then_some(missing)
        });
        let peers: Vec<Value> = self
            .subscribers
            .iter()
            .map(|s| json!({ "session_id": s.link.session_id, "user": s.link.user, "selection": s.selection }))
            .collect();
        let mut fields = json!({
            "session_id": join.link.session_id,
            "user": join.link.user,
            "can_edit": join.can_edit,
            "revision": { "number": head.revision_number, "id": head.revision_id },
            "peers": peers,
        });
        if catch_up.is_none() {
            let access = Access { can_view: true, can_edit: join.can_edit };
            fields["dialogue"] = description::describe(&head.to_record(false), &head.content, access);
        }
        let mut frames = vec![protocol::welcome(fields)];
        for revision in catch_up.unwrap_or_default() {
            frames.push(protocol::revision(&revision.describe()));
        }
        frames
    }
}

impl Handler<Join> for DialogueActor {
    type Result = Result<(), ApiError>;

    fn handle(&mut self, join: Join, _: &mut Self::Context) -> Self::Result {
        self.last_activity = Instant::now();
        let head = self.ready_head(&join.project_id)?.clone();
        for frame in self.welcome(&join, &head) {
            join.link.frames.try_send(frame).map_err(|_| ApiError::Unavailable)?;
        }
        let joined = protocol::joined(&join.link.session_id, &join.link.user);
        self.broadcast(&joined, None);
        self.subscribers.push(Subscriber { link: join.link, selection: Value::Null });
        Ok(())
    }
}

impl Handler<Leave> for DialogueActor {
    type Result = ();

    fn handle(&mut self, leave: Leave, _: &mut Self::Context) {
        self.last_activity = Instant::now();
        let before = self.subscribers.len();
        self.subscribers.retain(|s| s.link.session_id != leave.session_id);
        if self.subscribers.len() != before {
            let frame = protocol::left(&leave.session_id);
            self.broadcast(&frame, None);
        }
    }
}

impl Handler<SetPresence> for DialogueActor {
    type Result = ();

    fn handle(&mut self, presence: SetPresence, _: &mut Self::Context) {
        let Some(subscriber) = self.subscribers.iter_mut().find(|s| s.link.session_id == presence.session_id) else {
            return;
        };
        subscriber.selection = presence.selection.clone();
        let frame = protocol::presence(&presence.session_id, &presence.selection);
        self.broadcast(&frame, Some(&presence.session_id));
    }
}

impl Handler<SessionPatch> for DialogueActor {
    type Result = ();

    fn handle(&mut self, patch: SessionPatch, ctx: &mut Self::Context) {
        let reply = Reply::Session { session_id: patch.session_id, reference: patch.reference };
        self.accept(patch.request, 0, reply);
        self.flush(ctx);
    }
}

impl Handler<External> for DialogueActor {
    type Result = ();

    fn handle(&mut self, event: External, ctx: &mut Self::Context) {
        if !matches!(self.loaded, Loaded::Ready) {
            return;
        }
        match event {
            External::Revision(record) => self.apply_external(record, ctx),
            External::Release(release) => {
                let mark = ReleaseMark {
                    number: release.number,
                    id: release.id.clone(),
                    revision_number: release.revision_number,
                };
                self.learn_release(&release, mark);
            }
            External::Resync => {
                if self.in_flight.is_none() {
                    let retry = std::mem::take(&mut self.pending);
                    self.reload_and_retry(Vec::new(), retry, ctx);
                } else {
                    self.behind = true;
                }
            }
            External::ProjectDeleted(project_id) => {
                if self.durable.as_ref().is_some_and(|head| head.project_id == project_id) {
                    self.loaded = Loaded::Missing;
                    self.close_sessions(close::DELETED);
                    let dialogue_id = self.dialogue_id.clone();
                    self.fail_all(|| ApiError::not_found("Dialogue", &dialogue_id));
                    ctx.stop();
                }
            }
        }
    }
}
