//! `DialogueActor`: the one writer of a dialogue, a thin shell that routes its messages to the
//! parts that do the work. It owns the dialogue's state: two versions of its content, the
//! durable one (as stored) and the speculative one (with everything accepted since), each
//! changed in place by every patch, so that nothing on the write path copies or serializes the
//! whole dialogue. And:
//!
//! - [`prepare`](super::prepare) turns each write into numbered revisions on the speculative
//!   version, at once, or refuses it;
//! - the [`WriteQueue`] holds them and moves through its phases (idle, storing a batch,
//!   reloading): one batch in flight, everything queued behind it leaving as the next, in the
//!   store's shared commits with every other dialogue's batches;
//! - [`Subscribers`] gets each stored revision to the live sessions, once and in order, after
//!   the store acknowledged it and with the REST answer;
//! - the [`RevisionLog`] keeps the newest revisions for catch-up and rebasing;
//! - [`Checkpoints`] says when to write the stored head and snapshots, in the background;
//! - the [`loader`] (re)loads the state from the store.
//!
//! Readers get a [`Head`]: the durable state with its content serialized once per revision,
//! when first asked for, and shared by every `GET` and `welcome` until it changes.
//!
//! The shell itself is four files: this one (the state and the write path), `handlers` (each
//! message routed to the parts), `recovery` (reloads, and revisions other processes stored) and
//! `derived` (the stored head and snapshots, written in the background).

use crate::metrics::{HOT, Hot};
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use dialogue_protocol::{Peer, RevisionRef, Welcome};

use super::checkpoints::{CheckpointPolicy, Checkpoints, HeldAnswers, Listing};
use super::description::{self, Access, Flags};
use super::head::{Head, Identity, Version};
use super::loader::{self, LoadFailure, LoadedState};
use super::log::RevisionLog;
use super::messages::{ActorStopped, Join, WriteOutcome, WriteRequest};
use super::prepare::{self, prepare};
use super::presence::{self, PresenceRelay};
use super::revision::Revision;
use super::serialized::SerializedContent;
use super::subscribers::Subscribers;
use super::write_queue::{Batch, PendingWrite, Reply, Settled, WriteQueue};
use crate::error::ApiError;
use crate::limits::Limits;
use crate::live::protocol::{self, Frame, close};
use crate::patch::{self, Bounds};
use crate::schema::Schemas;
use crate::store::{ReleaseMark, RevisionRecord, Store, StoreError};
use crate::webhooks::watch::WatchLease;

mod derived;
mod handlers;
mod handoff;
mod recovery;

/// How many times a change is applied again after losing a race with another process.
const MAX_ATTEMPTS: u32 = 20;
/// Upper bound of the random pause before reloading after a lost race, doubled per attempt
/// (up to 32 times), so that two processes racing for one dialogue stop colliding.
const RETRY_JITTER: Duration = Duration::from_millis(2);
/// Seconds a client refused for too many sessions is told to wait.
const SESSIONS_FULL_RETRY_SECS: u64 = 5;
/// The `details` key where live clients put a reference unique to each change (the JavaScript
/// client does), by which a change sent twice is recognized.
const CLIENT_REF: &str = "client_ref";
/// How often an actor checks whether it is idle, or its head has lagged too long.
const CHECK_PERIOD: Duration = Duration::from_secs(5);

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
    /// Publishes the sessions to other processes.
    pub presence: PresenceRelay,
    /// Which projects have webhooks on `dialogue.changed` (their dialogues store under a watch).
    pub hooks: Arc<crate::webhooks::directory::HookDirectory>,
}

/// Whether the dialogue is loaded.
#[derive(Debug, Clone, Copy)]
enum Loaded {
    Loading,
    Ready,
    Missing,
    /// Loading failed: requests get the failure until the actor stops (at its next check), and
    /// the next request after that loads afresh.
    Failed(LoadFailure),
}

/// A loaded dialogue's state.
struct State {
    identity: Identity,
    /// Its newest release.
    release: Option<ReleaseMark>,
    /// As stored.
    durable: Version,
    /// As stored, plus everything accepted since.
    speculative: Version,
    /// The durable state for readers, once asked for, until it changes.
    head: Option<Head>,
    /// The durable content's JSON in pieces, so that a reader after a revision serializes only
    /// what it changed.
    serialized: SerializedContent,
}

impl State {
    /// The durable content's JSON: the readers' copy when there is one, else rendered from the
    /// cached pieces (never a full serialization unless everything changed).
    fn content_json(&mut self) -> Arc<str> {
        match &self.head {
            Some(head) => head.content_json.clone(),
            None => Arc::from(self.serialized.render(&self.durable.content)),
        }
    }

    /// The head record with its content, for writing.
    fn record_with_content(&mut self) -> crate::store::DialogueRecord {
        let mut record = self.identity.record(&self.durable, self.release.as_ref(), false);
        record.content = self.content_json().to_string();
        record
    }

    /// What listings show of the durable state.
    fn listing(&self) -> Listing {
        let record = self.identity.record(&self.durable, self.release.as_ref(), false);
        Listing {
            number: self.durable.number,
            title: record.title.clone(),
            is_archived: record.is_archived,
            has_changes: Flags::of(&record).has_changes,
        }
    }
}

/// The per-dialogue actor.
pub struct DialogueActor {
    dialogue_id: String,
    generation: u64,
    deps: ActorDeps,
    registry: Recipient<ActorStopped>,
    loaded: Loaded,
    state: Option<State>,
    log: RevisionLog,
    queue: WriteQueue,
    subscribers: Subscribers,
    checkpoints: Checkpoints,
    last_release_number: i64,
    last_activity: Instant,
    /// Revisions other processes stored, waiting to be the next ones.
    foreign: BTreeMap<i64, Arc<Revision>>,
    /// Writes that lost a race, waiting for the winner's revisions from the feed.
    waiting: Option<Vec<PendingWrite>>,
    /// Answers to REST writes that changed what listings show, until the head is stored.
    held: HeldAnswers<(RestReply, WriteOutcome)>,
    /// Writes handed to the process winning this dialogue's numbers, and handed from others.
    handoffs: handoff::Handoffs,
    /// Until when the dialogue is watched for webhooks (when its project has hooks).
    watch: WatchLease,
}

/// Where a REST write's answer goes.
type RestReply = tokio::sync::oneshot::Sender<Result<WriteOutcome, ApiError>>;

impl DialogueActor {
    /// An actor for `dialogue_id`; it loads the dialogue when started.
    pub fn new(dialogue_id: String, generation: u64, deps: ActorDeps, registry: Recipient<ActorStopped>) -> Self {
        let nothing = Listing { number: 0, title: String::new(), is_archived: false, has_changes: false };
        let checkpoints = Checkpoints::new(deps.settings.checkpoints, 0, nothing);
        Self {
            subscribers: Subscribers::new(&dialogue_id, 0).with_relay(deps.presence.clone()),
            dialogue_id,
            generation,
            deps,
            registry,
            loaded: Loaded::Loading,
            state: None,
            log: RevisionLog::default(),
            queue: WriteQueue::default(),
            checkpoints,
            last_release_number: 0,
            last_activity: Instant::now(),
            foreign: BTreeMap::new(),
            waiting: None,
            held: HeldAnswers::default(),
            handoffs: handoff::Handoffs::default(),
            watch: WatchLease::default(),
        }
    }

    fn not_found(&self) -> ApiError {
        ApiError::not_found("Dialogue", &self.dialogue_id)
    }

    /// `Ok` when the dialogue is loaded and belongs to `project_id`.
    fn ready(&self, project_id: &str) -> Result<(), ApiError> {
        match (&self.loaded, &self.state) {
            (Loaded::Ready, Some(state)) if state.identity.project_id == project_id => Ok(()),
            (Loaded::Loading, _) => Err(ApiError::Unavailable),
            (Loaded::Failed(failure), _) => Err(failure.error()),
            _ => Err(self.not_found()),
        }
    }

    /// The durable state for readers: its content is serialized on the first call after it
    /// changed, and shared until the next change.
    fn head(&mut self) -> Option<Head> {
        let state = self.state.as_mut()?;
        if state.head.is_none() {
            let record = state.identity.record(&state.durable, state.release.as_ref(), false);
            let content_json = state.content_json();
            state.head = Some(Head { record, content_json });
        }
        state.head.clone()
    }

    /// Makes a freshly loaded state the actor's.
    fn install(&mut self, loaded: LoadedState) {
        let stored = Listing {
            number: loaded.head_stored,
            title: String::new(),
            is_archived: loaded.version.is_archived(),
            has_changes: false,
        };
        let state = State {
            identity: loaded.identity,
            release: loaded.release,
            speculative: loaded.version.clone(),
            durable: loaded.version,
            head: None,
            serialized: SerializedContent::default(),
        };
        // What the stored head shows is only known to be at `head_stored`; when the content
        // moved on, the head is written at the first check.
        let stored = if loaded.head_stored == state.durable.number { state.listing() } else { stored };
        self.checkpoints = Checkpoints::new(self.deps.settings.checkpoints, loaded.last_snapshot, stored);
        self.state = Some(state);
        self.log = loaded.log;
        self.last_release_number = loaded.last_release_number;
        self.loaded = Loaded::Ready;
    }

    fn load_future(&self) -> impl Future<Output = Result<Option<LoadedState>, StoreError>> + 'static {
        let store = self.deps.store.clone();
        let dialogue_id = self.dialogue_id.clone();
        let capacity = self.deps.settings.log_capacity;
        async move { loader::load(&store, &dialogue_id, capacity).await }
    }

    /// Loads the dialogue, and its sessions on other processes, when the actor starts; nothing
    /// else is handled meanwhile (so presence events from the feed apply after the list).
    fn load(&mut self, ctx: &mut Context<Self>) {
        let both = futures_util::future::join(self.load_future(), self.remote_peers_future());
        ctx.wait(both.into_actor(self).map(|(result, remote), actor, ctx| {
            match result {
                Ok(Some(loaded)) => {
                    actor.subscribers.restart_at(loaded.version.number);
                    actor.install(loaded);
                    actor.write_head(ctx, false);
                }
                Ok(None) => actor.loaded = Loaded::Missing,
                Err(error) => {
                    tracing::warn!(dialogue_id = %actor.dialogue_id, error = %error, "loading a dialogue failed");
                    actor.loaded = Loaded::Failed(LoadFailure::of(&error));
                }
            }
            if let Some(remote) = remote {
                actor.subscribers.set_remote(remote);
            }
        }));
    }

    /// The dialogue's sessions on other processes; `None` when the store did not answer (they
    /// are then learnt as they join or move).
    fn remote_peers_future(&self) -> impl Future<Output = Option<Vec<Peer>>> + 'static {
        let store = self.deps.store.clone();
        let dialogue_id = self.dialogue_id.clone();
        async move {
            let records = match store.presence_of(&dialogue_id).await {
                Ok(records) => records,
                Err(error) => {
                    tracing::debug!(%dialogue_id, error = %error, "reading the sessions of other processes failed");
                    return None;
                }
            };
            let others = records.iter().filter(|record| record.process != store.process_id());
            Some(others.filter_map(presence::peer_of).collect())
        }
    }

    /// Reads the sessions of other processes again (the feed may have missed their events).
    fn relist_remote_peers(&mut self, ctx: &mut Context<Self>) {
        ctx.wait(self.remote_peers_future().into_actor(self).map(|remote, actor, _| {
            if let Some(remote) = remote {
                actor.subscribers.set_remote(remote);
            }
        }));
    }

    /// Applies and queues a write, or refuses it at once.
    fn accept(&mut self, request: WriteRequest, attempts: u32, reply: Reply) {
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
        if self.queue.queued_revisions() >= self.deps.settings.max_pending {
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
                crate::metrics::conflict(&error);
                self.answer_error(reply, error);
            }
        }
    }

    /// When a live patch repeats a revision its author made that is still in memory (stored or
    /// not: the same `details.client_ref`, which clients make unique per change, after the
    /// patch's base), the `conflict` that refuses it, with `details.duplicate_of`, that
    /// revision's number. Storing it again would apply the change twice.
    fn repeated(&self, request: &WriteRequest) -> Option<ApiError> {
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
    fn answer_error(&mut self, reply: Reply, error: ApiError) {
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
    fn flush(&mut self, ctx: &mut Context<Self>) {
        self.send_handoffs(ctx);
        let Some(batch) = self.queue.take_batch() else { return };
        let records: Vec<RevisionRecord> = batch.revisions().map(|r| r.record.clone()).collect();
        let atomic = batch.is_atomic();
        let store = self.deps.store.clone();
        let watch = self.watch_renewal(&records);
        let renewed = watch.as_ref().map(|(_, until)| *until);
        let save = async move {
            // Revisions of a hooked project are stored under a watch, or not at all.
            if let Some((project_id, until)) = &watch {
                store.watch_dialogue(&records[0].dialogue_id, project_id, *until).await.map_err(|error| (0, error))?;
            }
            store.insert_revisions(&records, atomic).await
        };
        ctx.spawn(save.into_actor(self).map(move |result, actor, ctx| {
            if let (Some(until), Ok(())) = (renewed, &result) {
                actor.watch.renewed(until);
            }
            actor.stored(result, ctx)
        }));
    }

    /// The watch to store before `records`, when the project has webhooks on changes and the
    /// watch runs low: the project and the new end of the watch.
    fn watch_renewal(&self, records: &[RevisionRecord]) -> Option<(String, i64)> {
        let project_id = &records.first()?.project_id;
        if !self.deps.hooks.watches_changes(project_id) {
            return None;
        }
        Some((project_id.clone(), self.watch.renewal(crate::store::now_millis())?))
    }

    /// The store answered the batch in flight.
    fn stored(&mut self, result: Result<(), (usize, StoreError)>, ctx: &mut Context<Self>) {
        match self.queue.settle(result) {
            None => {}
            Some(Settled::Stored(batch)) => {
                self.commit(batch, ctx);
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
                }
            }
            Some(Settled::Failed { done, failed, retry, error }) => {
                if let StoreError::Duplicate { .. } = error {
                    tracing::debug!(dialogue_id = %self.dialogue_id, "another process stored first");
                    self.lost_race(done, retry, ctx);
                    return;
                }
                tracing::warn!(dialogue_id = %self.dialogue_id, error = %error, "storing revisions failed");
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

    /// Makes a stored batch durable, then writes checkpoints when due.
    fn commit(&mut self, batch: Batch, ctx: &mut Context<Self>) {
        self.commit_writes(batch.writes);
        self.write_head(ctx, false);
    }

    /// Makes stored writes durable (their patches applied to the durable version), answers
    /// them and tells the sessions; takes a snapshot when one is due.
    fn commit_writes(&mut self, writes: Vec<PendingWrite>) {
        let Some(state) = self.state.as_mut() else { return };
        for revision in writes.iter().flat_map(|write| write.revisions.iter()) {
            let durable = &mut state.durable;
            match patch::apply(&mut durable.content, durable.size, &revision.patch, Bounds::NONE) {
                Ok(applied) => {
                    durable.size = applied.size;
                    state.serialized.forget(&revision.patch);
                }
                Err(error) => {
                    // It applied to the speculative version: only a bug gets here. The reload
                    // after this batch rebuilds both versions from the store.
                    tracing::error!(dialogue_id = %self.dialogue_id, error = %error, "a stored revision does not apply");
                    self.queue.mark_behind();
                }
            }
            durable.number = revision.number();
            durable.id = Some(revision.record.id.clone());
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
    fn announce(&mut self, write: PendingWrite, remember: bool) {
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
    fn fail_all(&mut self, error: impl Fn() -> ApiError) {
        for write in self.queue.drain() {
            self.answer_error(write.reply, error());
        }
    }

    fn is_idle(&self) -> bool {
        let durable = self.state.as_ref().map_or(0, |state| state.durable.number);
        self.subscribers.is_empty()
            && self.queue.is_quiet()
            && !self.handoffs.waiting()
            && self.checkpoints.head_clean(durable)
            && self.last_activity.elapsed() >= self.deps.settings.idle_timeout
    }

    /// Records a newer release and tells the sessions.
    fn learn_release(&mut self, release: &crate::store::ReleaseRecord, mark: ReleaseMark) {
        if release.number <= self.last_release_number {
            return;
        }
        self.last_release_number = release.number;
        if let Some(state) = self.state.as_mut() {
            state.release = Some(mark);
            state.head = None;
        }
        let frame = protocol::frame(&dialogue_protocol::ServerFrame::Release {
            release: description::describe_release(release),
        });
        self.subscribers.broadcast(&frame, None);
    }

    /// The `welcome` frame (and catch-up frames) for a joining session.
    fn welcome(&mut self, join: &Join) -> Vec<Frame> {
        let Some(head) = self.head() else { return Vec::new() };
        let number = head.revision_number();
        let catch_up = join.since.filter(|since| *since <= number).and_then(|since| {
            let missing = self.log.catch_up(since, number)?;
            (missing.len() + 2 < join.link.frames.capacity()).then_some(missing)
        });
        let dialogue = catch_up
            .is_none()
            .then(|| description::describe_json(&head, Access { can_view: true, can_edit: join.can_edit }));
        let welcome = Welcome {
            session_id: join.link.session_id.clone(),
            user: join.link.user.clone(),
            can_edit: join.can_edit,
            revision: RevisionRef { number, id: head.revision_id().map(str::to_owned) },
            dialogue: None,
            peers: self.subscribers.peers(),
        };
        let mut frames = vec![protocol::welcome(&welcome, dialogue.as_deref())];
        frames.extend(catch_up.unwrap_or_default().iter().map(|revision| protocol::revision(revision.describe())));
        frames
    }
}

impl Actor for DialogueActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        // Bounded mailbox: senders wait (back-pressure) instead of queueing without limit.
        ctx.set_mailbox_capacity(256);
        Hot::add(&HOT.actor_starts, 1);
        self.load(ctx);
        let period = CHECK_PERIOD.min(self.deps.settings.idle_timeout).min(self.deps.settings.checkpoints.head_max_age);
        ctx.run_interval(period, |actor, ctx| {
            actor.expire_handoffs();
            // Handed-off writes that waited too long are refused even when nothing else moves.
            actor.accept_deferred();
            actor.flush(ctx);
            if matches!(actor.loaded, Loaded::Missing | Loaded::Failed(_)) || actor.is_idle() {
                ctx.stop();
                return;
            }
            // About to be idle: bring the stored head up to date first; otherwise write it
            // if it has lagged too long.
            let finishing = actor.subscribers.is_empty()
                && actor.queue.is_quiet()
                && actor.last_activity.elapsed() >= actor.deps.settings.idle_timeout;
            actor.write_head(ctx, finishing);
        });
    }

    fn stopped(&mut self, _: &mut Self::Context) {
        Hot::add(&HOT.actor_stops, 1);
        let failure = match self.loaded {
            Loaded::Failed(failure) => failure,
            _ => LoadFailure::Unavailable,
        };
        self.fail_all(|| failure.error());
        self.abandon_handoffs();
        self.release_answers(i64::MAX);
        let code = if matches!(self.loaded, Loaded::Missing) { close::DELETED } else { close::GOING_AWAY };
        self.subscribers.close_all(code);
        self.registry.do_send(ActorStopped { dialogue_id: self.dialogue_id.clone(), generation: self.generation });
        tracing::debug!(dialogue_id = %self.dialogue_id, "dialogue actor stopped");
    }
}
