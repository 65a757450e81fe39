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

use super::change::{Change, ChangeKind, Rules};
use super::description::{self, Access};
use super::rebase::{Effects, rebase_over};
use super::revision::Revision;
use crate::error::ApiError;
use crate::limits::{Limits, MAX_RECORD_BYTES, serialized_len};
use crate::live::protocol::{self, Frame, close};
use crate::patch::{self, Bounds};
use crate::schema::Schemas;
use crate::store::{
    DialogueRecord, ReleaseMark, ReleaseRecord, RevisionRecord, Snapshot, Store, StoreError, new_id, now_millis,
};

/// How many times a change is re-applied after losing a race with another process.
const MAX_ATTEMPTS: u32 = 20;
/// Upper bound of the random pause before re-applying after a lost race, doubled per attempt
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
    /// A snapshot is stored every this many revisions.
    pub snapshot_interval: i64,
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

/// A dialogue's state at one revision.
#[derive(Debug, Clone)]
pub struct Head {
    /// The dialogue.
    pub dialogue_id: String,
    /// Its project.
    pub project_id: String,
    /// The description: `title`, `sequences`, `is_archived`.
    pub content: Arc<Value>,
    /// Its serialized size, kept up to date as changes apply.
    pub content_size: usize,
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
        let content: Value = serde_json::from_str(&record.content)?;
        Ok(Self {
            dialogue_id: record.id,
            project_id: record.project_id,
            content_size: serialized_len(&content),
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

/// Stop now if nothing is waiting to be stored (as an idle actor would): the next request loads
/// the dialogue afresh from the database. Answers whether the actor stopped.
#[derive(Message)]
#[rtype(result = "bool")]
pub struct Evict;

/// Told to the registry when an actor stops, so it forgets it.
#[derive(Message)]
#[rtype(result = "()")]
pub struct ActorStopped {
    /// The dialogue.
    pub dialogue_id: String,
    /// Which incarnation of its actor stopped.
    pub generation: u64,
}

/// A write's revisions, made in memory and not stored yet.
#[derive(Default)]
struct Prepared {
    revisions: Vec<RevisionRecord>,
    patches: Vec<json_patch::Patch>,
    details: Vec<Value>,
}

/// A revision's patch and details as stored text; a revision too large for the database is
/// refused before it is acknowledged.
fn revision_text(patch: &json_patch::Patch, details: &Value) -> Result<(String, String), ApiError> {
    let patch = serde_json::to_string(patch).map_err(ApiError::internal)?;
    let details = details.to_string();
    let size = patch.len() + details.len();
    if size > MAX_RECORD_BYTES {
        return Err(crate::limits::too_large(MAX_RECORD_BYTES, size));
    }
    Ok((patch, details))
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
    /// The newest revision number sent to the sessions (with their welcome, or since): each
    /// number goes out once, in order, and is never issued again on an open session.
    announced: i64,
    /// Why loading failed, for the requests still waiting.
    failure: Option<LoadFailure>,
}

/// Why a dialogue could not be loaded: the database is unreachable (`503`, retried by the next
/// request), or the stored dialogue does not read back (`500`; the cause is in the log).
#[derive(Debug, Clone, Copy)]
enum LoadFailure {
    Unavailable,
    Unreadable,
}

impl LoadFailure {
    fn of(error: &StoreError) -> Self {
        match error {
            StoreError::Unavailable(_) => Self::Unavailable,
            _ => Self::Unreadable,
        }
    }

    fn error(&self) -> ApiError {
        match self {
            Self::Unavailable => ApiError::Unavailable,
            Self::Unreadable => ApiError::internal(anyhow::anyhow!("the dialogue's stored state cannot be loaded")),
        }
    }
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
            announced: 0,
            failure: None,
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
            (Loaded::Loading, _) => Err(self.failure.as_ref().map_or(ApiError::Unavailable, LoadFailure::error)),
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
                actor.announced = state.head.revision_number;
                actor.install(state);
            }
            Ok(None) => actor.loaded = Loaded::Missing,
            Err(error) => {
                tracing::warn!(dialogue_id = %actor.dialogue_id, error = %error, "loading a dialogue failed");
                actor.failure = Some(LoadFailure::of(&error));
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
            self.answer_error(reply, ApiError::Busy);
            return;
        }
        match self.prepare(&request) {
            Ok(Prepared { revisions, patches, details }) => {
                let effects = patches.iter().map(Effects::of).collect();
                self.pending.push(PendingWrite { request, attempts, revisions, patches, effects, details, reply });
            }
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
            self.announce_revision(revision, None);
        }
    }

    /// Sends one revision to every session (`ack` to `origin`, `revision` to the others), once
    /// and in order: a number already sent is never sent again, and a gap makes the sessions
    /// start over. This is the protocol's first guarantee, enforced at the one place frames of
    /// revisions leave the actor.
    fn announce_revision(&mut self, revision: &Arc<Revision>, origin: Option<(&str, &str)>) {
        let number = revision.number();
        if number <= self.announced {
            tracing::debug!(dialogue_id = %self.dialogue_id, number, "revision already announced");
            return;
        }
        if number != self.announced + 1 {
            tracing::error!(dialogue_id = %self.dialogue_id, number, announced = self.announced, "gap in announced revisions");
            self.close_sessions(close::RESYNC);
            self.announced = number;
            return;
        }
        self.announced = number;
        let description = revision.describe();
        self.broadcast(&protocol::revision(&description), origin.map(|(session_id, _)| session_id));
        if let Some((session_id, reference)) = origin {
            self.send_to(session_id, protocol::ack(reference, &description));
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
    /// copied at most once per batch, when it is still shared with the batch in flight). All or
    /// nothing: on an error, the changes already applied are taken back.
    fn prepare(&mut self, request: &WriteRequest) -> Result<Prepared, ApiError> {
        let (base_number, base_id) = {
            let base = self.speculative.as_ref().ok_or(ApiError::Unavailable)?;
            if let Some(if_match) = &request.if_match
                && !base.matches(if_match)
            {
                return Err(ApiError::PreconditionFailed {
                    message: "The dialogue has changed since the given revision".into(),
                    details: serde_json::json!({ "revision_id": base.revision_id, "revision_number": base.revision_number }),
                });
            }
            (base.revision_number, base.revision_id.clone())
        };
        let rebased;
        let changes: &[Change] = match request.base_revision {
            Some(from) if from > base_number => return Err(invalid_base(from, base_number)),
            Some(from) if from < base_number => {
                let conflict = || ApiError::Conflict {
                    message: "The patch collides with changes made since its base revision; catch up and retry".into(),
                    details: json!({ "head_revision": base_number }),
                };
                let since = self.effects_since(from).ok_or_else(conflict)?;
                let mut moved = Vec::with_capacity(request.changes.len());
                for change in &request.changes {
                    let kind = match &change.kind {
                        ChangeKind::Edit { patch, edit_type } => ChangeKind::Edit {
                            patch: rebase_over(patch, &since).map_err(|_| conflict())?,
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
        let limits = self.deps.settings.limits;
        let rules = Rules { schemas: &schemas, limits: &limits, may_archive: request.may_archive };
        let head = self.speculative.as_mut().ok_or(ApiError::Unavailable)?;
        let content = Arc::make_mut(&mut head.content);
        let mut size = head.content_size;
        let mut applied = Vec::new();
        let mut prepared = Prepared::default();
        let mut number = base_number;
        for (index, change) in changes.iter().enumerate() {
            let outcome = change.apply(content, size, rules).and_then(|done| match done {
                Some(done) => revision_text(&done.patch, &change.details).map(|text| Some((done, text))),
                None => Ok(None),
            });
            let (done, (patch_text, details_text)) = match outcome {
                Ok(Some(done)) => done,
                Ok(None) => continue,
                Err(error) => {
                    for earlier in applied.into_iter().rev() {
                        super::change::Applied::revert(earlier, content);
                    }
                    return Err(at_index(error, index, changes));
                }
            };
            size = done.size;
            number += 1;
            let (edit_type, reverted_to) = match &change.kind {
                ChangeKind::Edit { edit_type, .. } => (edit_type.clone(), None),
                ChangeKind::Replace { .. } => (None, None),
                ChangeKind::Revert { revision_id, .. } => (None, Some(revision_id.clone())),
            };
            prepared.revisions.push(RevisionRecord {
                id: new_id(),
                dialogue_id: head.dialogue_id.clone(),
                project_id: head.project_id.clone(),
                number,
                user_id: request.user_id.clone(),
                created: change.created.unwrap_or_else(now_millis),
                kind: change.revision_kind().to_owned(),
                edit_type,
                reverted_to,
                patch: patch_text,
                details: details_text,
            });
            prepared.patches.push(done.patch.clone());
            prepared.details.push(change.details.clone());
            applied.push(done);
        }
        head.content_size = size;
        head.revision_number = number;
        head.revision_id = prepared.revisions.last().map(|r| r.id.clone()).or(base_id);
        Ok(prepared)
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
            self.announce_revision(revision, origin.as_ref().map(|(id, reference)| (id.as_str(), reference.as_str())));
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
        ctx.wait(load.into_actor(self).map(move |result, actor, ctx| match result {
            Ok(Some(state)) => {
                let stored = state.head.revision_number;
                actor.install(state);
                if stored < actor.announced {
                    // Revisions the sessions were sent are not stored (the database lost them):
                    // their numbers will be issued again, so the sessions must start over.
                    tracing::error!(
                        dialogue_id = %actor.dialogue_id,
                        announced = actor.announced,
                        stored,
                        "acknowledged revisions are missing from the database; resynchronizing sessions"
                    );
                    actor.close_sessions(close::RESYNC);
                    actor.announced = stored;
                }
                let head = actor.durable.clone();
                for write in done {
                    if let Some(head) = &head {
                        actor.announce(write, head, false);
                    }
                }
                let announced = actor.announced;
                let missed: Vec<Arc<Revision>> = actor.log.iter().filter(|r| r.number() > announced).cloned().collect();
                if missed.first().map_or(stored > announced, |first| first.number() != announced + 1) {
                    // More happened than the log holds: sessions catch up from a new welcome.
                    actor.close_sessions(close::TOO_SLOW);
                    actor.announced = stored;
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
                let cause = LoadFailure::of(&error);
                for write in done.into_iter().chain(retry) {
                    actor.answer_error(write.reply, cause.error());
                }
                actor.fail_all(|| cause.error());
                ctx.stop();
            }
        }));
    }

    /// Makes a freshly loaded state the actor's.
    fn install(&mut self, state: LoadedState) {
        self.durable = Some(state.head.clone());
        self.speculative = Some(state.head);
        self.log = state.log;
        self.last_snapshot = state.last_snapshot;
        self.last_release_number = state.last_release_number;
        self.loaded = Loaded::Ready;
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

/// Reads the head and, in the same query, the recent log together with any revisions stored
/// after the head (they exist when the head write lagged behind: it is derived data). One read,
/// so the log never runs ahead of the head it is loaded with. A store failure is
/// [`StoreError::Unavailable`] (`503`); a dialogue whose stored state does not read back is
/// [`StoreError::Other`] (`500`, with the cause in the log).
async fn load_state(store: &Store, dialogue_id: &str, log_capacity: usize) -> Result<Option<LoadedState>, StoreError> {
    let corrupt = |what: String| StoreError::Other(anyhow::anyhow!("dialogue {dialogue_id} cannot be loaded: {what}"));
    let Some(record) = store.dialogue_by_id_any_project(dialogue_id).await? else {
        return Ok(None);
    };
    let mut head = Head::from_record(record).map_err(|e| corrupt(format!("its head does not parse: {e}")))?;
    let window = i64::try_from(log_capacity.min(200)).unwrap_or(200);
    let records = store.revisions_between(dialogue_id, (head.revision_number - window).max(0), i64::MAX).await?;
    let mut log = VecDeque::with_capacity(records.len());
    let mut repaired = 0;
    let mut content = None;
    for record in records {
        let revision = Revision::from_record(record).map_err(|e| corrupt(format!("a revision does not parse: {e}")))?;
        let number = revision.number();
        if number > head.revision_number {
            if number != head.revision_number + 1 {
                return Err(corrupt(format!("revision {number} follows {}", head.revision_number)));
            }
            let content = content.get_or_insert_with(|| (*head.content).clone());
            patch::replay(content, &revision.patch)
                .map_err(|e| corrupt(format!("revision {number} does not apply: {e}")))?;
            head.revision_number = number;
            head.revision_id = Some(revision.record.id.clone());
            repaired += 1;
        }
        log.push_back(Arc::new(revision));
    }
    while log.len() > log_capacity {
        log.pop_front();
    }
    if let Some(content) = content {
        head.content_size = serialized_len(&content);
        head.content = Arc::new(content);
        tracing::info!(%dialogue_id, repaired, "head repaired from stored revisions");
        store.advance_dialogue_head(&head.to_record(true)).await?;
    }
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
        let failure = self.failure.take();
        self.fail_all(|| failure.as_ref().map_or(ApiError::Unavailable, LoadFailure::error));
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
                self.reload_and_retry(Vec::new(), Vec::new(), ctx);
                return;
            }
        }
        head.revision_number = revision.number();
        head.revision_id = Some(revision.record.id.clone());
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
        if self.subscribers.len() >= self.deps.settings.max_sessions {
            return Err(ApiError::RateLimited { retry_after: SESSIONS_FULL_RETRY_SECS });
        }
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

impl Handler<Evict> for DialogueActor {
    type Result = bool;

    fn handle(&mut self, _: Evict, ctx: &mut Self::Context) -> bool {
        let quiet = self.in_flight.is_none() && self.pending.is_empty();
        if quiet {
            ctx.stop();
        }
        quiet
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
