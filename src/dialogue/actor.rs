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
//! Recovery: a duplicate revision number means another process wrote first. The actor reloads
//! from the store and re-applies every change it had not stored yet (a change with a stale
//! `If-Match` then fails with `412`). Any other store failure fails the batch being stored
//! and stops the actor; the next request starts a fresh one from the store.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use serde_json::Value;
use tokio::sync::oneshot;

use super::change::{Change, ChangeKind};
use super::revision::Revision;
use crate::error::ApiError;
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

/// Told to the registry when an actor stops, so it forgets it.
#[derive(Message)]
#[rtype(result = "()")]
pub struct ActorStopped {
    /// The dialogue.
    pub dialogue_id: String,
    /// Which incarnation of its actor stopped.
    pub generation: u64,
}

/// A write accepted in memory and waiting to be stored.
struct PendingWrite {
    request: WriteRequest,
    attempts: u32,
    revisions: Vec<RevisionRecord>,
    patches: Vec<json_patch::Patch>,
    details: Vec<Value>,
    reply: oneshot::Sender<Result<WriteOutcome, ApiError>>,
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
    fn accept(&mut self, request: WriteRequest, attempts: u32, reply: oneshot::Sender<Result<WriteOutcome, ApiError>>) {
        self.last_activity = Instant::now();
        if let Err(error) = self.ready_head(&request.project_id) {
            let _ = reply.send(Err(error));
            return;
        }
        let queued: usize = self.pending.iter().map(|w| w.revisions.len().max(1)).sum();
        if queued >= self.deps.settings.max_pending {
            let _ = reply.send(Err(ApiError::Unavailable));
            return;
        }
        match self.prepare(&request) {
            Ok((head, revisions, patches, details)) => {
                self.speculative = Some(head);
                self.pending.push(PendingWrite { request, attempts, revisions, patches, details, reply });
            }
            Err(error) => {
                let _ = reply.send(Err(error));
            }
        }
    }

    /// Applies every change of a request to a copy of the speculative head.
    #[allow(clippy::type_complexity)]
    fn prepare(
        &self,
        request: &WriteRequest,
    ) -> Result<(Head, Vec<RevisionRecord>, Vec<json_patch::Patch>, Vec<Value>), ApiError> {
        let base = self.speculative.as_ref().ok_or(ApiError::Unavailable)?;
        if let Some(if_match) = &request.if_match
            && !base.matches(if_match)
        {
            return Err(ApiError::PreconditionFailed {
                message: "The dialogue has changed since the given revision".into(),
                details: serde_json::json!({ "revision_id": base.revision_id, "revision_number": base.revision_number }),
            });
        }
        let mut content = (*base.content).clone();
        let mut number = base.revision_number;
        let mut revisions = Vec::new();
        let mut patches = Vec::new();
        let mut details = Vec::new();
        for (index, change) in request.changes.iter().enumerate() {
            let before_archived = content.get("is_archived").cloned();
            let applied =
                change.apply(content, &self.deps.schemas).map_err(|error| at_index(error, index, &request.changes))?;
            content = applied.content;
            let Some(patch) = applied.patch else { continue };
            if before_archived.as_ref() != content.get("is_archived") && !request.may_archive {
                return Err(ApiError::Forbidden("Archiving a dialogue needs project:admin".into()));
            }
            number += 1;
            let (edit_type, reverted_to) = match &change.kind {
                ChangeKind::Edit { edit_type, .. } => (edit_type.clone(), None),
                ChangeKind::Replace { .. } => (None, None),
                ChangeKind::Revert { revision_id, .. } => (None, Some(revision_id.clone())),
            };
            revisions.push(RevisionRecord {
                id: new_id(),
                dialogue_id: base.dialogue_id.clone(),
                project_id: base.project_id.clone(),
                number,
                user_id: request.user_id.clone(),
                created: change.created.unwrap_or_else(now_millis),
                kind: change.revision_kind().to_owned(),
                edit_type,
                reverted_to,
                patch: serde_json::to_string(&patch).map_err(ApiError::internal)?,
                details: change.details.to_string(),
            });
            patches.push(patch);
            details.push(change.details.clone());
        }
        let head = Head {
            content: Arc::new(content),
            revision_number: number,
            revision_id: revisions.last().map(|r| r.id.clone()).or_else(|| base.revision_id.clone()),
            ..base.clone()
        };
        Ok((head, revisions, patches, details))
    }

    /// Sends everything queued to the store as one batch, unless a batch is already in flight.
    fn flush(&mut self, ctx: &mut Context<Self>) {
        if self.in_flight.is_some() || self.pending.is_empty() {
            return;
        }
        let Some(head) = self.speculative.clone() else { return };
        let writes = std::mem::take(&mut self.pending);
        let revisions: Vec<RevisionRecord> = writes.iter().flat_map(|w| w.revisions.iter().cloned()).collect();
        let record = (!revisions.is_empty()).then(|| head.to_record(true));
        self.in_flight = Some(InFlight { writes, head });
        let store = self.deps.store.clone();
        let dialogue_id = self.dialogue_id.clone();
        let save = async move {
            store.insert_revisions(&revisions).await?;
            if let Some(record) = record
                && let Err(error) = store.advance_dialogue_head(&record).await
            {
                // The revisions are stored; the next load repairs the head from them.
                tracing::warn!(%dialogue_id, error = %error, "revisions stored but the head update failed");
            }
            Ok::<(), StoreError>(())
        };
        ctx.spawn(save.into_actor(self).map(|result, actor, ctx| actor.stored(result, ctx)));
    }

    /// Finishes the batch in flight: answers its callers, or recovers.
    fn stored(&mut self, result: Result<(), StoreError>, ctx: &mut Context<Self>) {
        let Some(batch) = self.in_flight.take() else { return };
        match result {
            Ok(()) => {
                self.commit(batch);
                self.flush(ctx);
            }
            Err(StoreError::Duplicate { .. }) => {
                tracing::info!(dialogue_id = %self.dialogue_id, "another writer stored first; reloading");
                let mut retry: Vec<PendingWrite> = batch.writes;
                retry.append(&mut self.pending);
                self.reload_and_retry(retry, ctx);
            }
            Err(error) => {
                tracing::warn!(dialogue_id = %self.dialogue_id, error = %error, "storing revisions failed");
                let api_error = || match &error {
                    StoreError::Unavailable(_) => ApiError::Unavailable,
                    _ => ApiError::internal(anyhow::anyhow!("storing revisions failed")),
                };
                for write in batch.writes {
                    let _ = write.reply.send(Err(api_error()));
                }
                // The outcome in the database is unknown: start again from what is stored.
                let retry = std::mem::take(&mut self.pending);
                self.reload_and_retry(retry, ctx);
            }
        }
    }

    /// Makes a stored batch the durable state and answers its callers.
    fn commit(&mut self, batch: InFlight) {
        for write in batch.writes {
            let mut revisions = Vec::with_capacity(write.revisions.len());
            for ((record, patch), details) in write.revisions.into_iter().zip(write.patches).zip(write.details) {
                let revision = Arc::new(Revision { record, patch, details });
                self.log.push_back(revision.clone());
                revisions.push(revision);
            }
            // Every write of the batch answers with the state after the whole batch: that is the
            // state now stored.
            let _ = write.reply.send(Ok(WriteOutcome { revisions, head: batch.head.clone() }));
        }
        while self.log.len() > self.deps.settings.log_capacity {
            self.log.pop_front();
        }
        let number = batch.head.revision_number;
        if number - self.last_snapshot >= self.deps.settings.snapshot_interval {
            self.store_snapshot(&batch.head);
        }
        self.durable = Some(batch.head);
        self.last_activity = Instant::now();
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

    /// Reloads from the store, then re-applies `retry` in order on top of what is stored.
    fn reload_and_retry(&mut self, retry: Vec<PendingWrite>, ctx: &mut Context<Self>) {
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
                actor.durable = Some(state.head.clone());
                actor.speculative = Some(state.head);
                actor.log = state.log;
                actor.last_snapshot = state.last_snapshot;
                actor.last_release_number = state.last_release_number;
                actor.loaded = Loaded::Ready;
                for write in retry {
                    if write.attempts + 1 >= MAX_ATTEMPTS {
                        let _ =
                            write.reply.send(Err(ApiError::conflict("The dialogue is being changed by others; retry")));
                    } else {
                        actor.accept(write.request, write.attempts + 1, write.reply);
                    }
                }
                actor.flush(ctx);
            }
            Ok(None) => {
                actor.loaded = Loaded::Missing;
                for write in retry {
                    let _ = write.reply.send(Err(actor.not_found()));
                }
                ctx.stop();
            }
            Err(error) => {
                tracing::warn!(dialogue_id = %actor.dialogue_id, error = %error, "reloading a dialogue failed");
                for write in retry {
                    let _ = write.reply.send(Err(ApiError::Unavailable));
                }
                actor.fail_all(|| ApiError::Unavailable);
                ctx.stop();
            }
        }));
    }

    /// Answers every queued write with an error.
    fn fail_all(&mut self, error: impl Fn() -> ApiError) {
        for write in self.pending.drain(..) {
            let _ = write.reply.send(Err(error()));
        }
        if let Some(batch) = self.in_flight.take() {
            for write in batch.writes {
                let _ = write.reply.send(Err(error()));
            }
        }
    }

    fn is_idle(&self) -> bool {
        self.in_flight.is_none()
            && self.pending.is_empty()
            && self.last_activity.elapsed() >= self.deps.settings.idle_timeout
    }

    /// A revision of this dialogue by id: from memory when recent, else from the store.
    fn find_revision(&self, revision_id: &str) -> Option<Arc<Revision>> {
        self.log.iter().rev().find(|r| r.record.id == revision_id).cloned()
    }
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
        self.registry.do_send(ActorStopped { dialogue_id: self.dialogue_id.clone(), generation: self.generation });
        tracing::debug!(dialogue_id = %self.dialogue_id, "dialogue actor stopped");
    }
}

impl Handler<Submit> for DialogueActor {
    type Result = ResponseFuture<Result<WriteOutcome, ApiError>>;

    fn handle(&mut self, Submit(request): Submit, ctx: &mut Self::Context) -> Self::Result {
        let (reply, answer) = oneshot::channel();
        self.accept(request, 0, reply);
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
                actor.last_release_number = release.number;
                for head in [actor.durable.as_mut(), actor.speculative.as_mut()].into_iter().flatten() {
                    head.release = Some(mark.clone());
                }
                Ok(release)
            }
            Err(error) => Err(error),
        })))
    }
}
