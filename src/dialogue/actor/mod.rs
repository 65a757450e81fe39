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
//! The shell itself is six files: this one (the state, loading, and what readers and joining
//! sessions get), `handlers` (each message routed to the parts), `write_path` (a write from
//! acceptance to its answer: queued, committed, announced), `recovery` (reloads, and revisions
//! other processes stored), `handoff` (writes handed to and taken from the process that owns
//! the dialogue's sessions) and `derived` (the stored head and snapshots, written in the
//! background).

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
use super::messages::{ActorStopped, Join, WriteOutcome};
use super::presence::{self, PresenceRelay};
use super::revision::Revision;
use super::serialized::{ContentJson, SerializedContent};
use super::subscribers::Subscribers;
use super::write_queue::{PendingWrite, WriteQueue};
use crate::error::ApiError;
use crate::limits::Limits;
use crate::live::protocol::{self, Frame, close};
use crate::metrics::{HOT, Hot};
use crate::schema::Schemas;
use crate::store::{ReleaseMark, Store, StoreError};
use crate::webhooks::watch::WatchLease;

mod derived;
mod handlers;
mod handoff;
pub use handoff::HANDOFF_TIMEOUT;
mod recovery;
mod write_path;

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
    /// Links to the other processes: handoffs and pushed revisions (`crate::peers`).
    pub peers: crate::peers::Peers,
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
    fn content_json(&mut self) -> ContentJson {
        match &self.head {
            Some(head) => head.content_json.clone(),
            None => self.serialized.render(&self.durable.content),
        }
    }

    /// The head record with its content, for writing.
    fn record_with_content(&mut self) -> crate::store::DialogueRecord {
        let mut record = self.identity.record(&self.durable, self.release.as_ref(), false);
        record.content = self.content_json().text();
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
    /// Reading revisions this process missed (a push that did not arrive).
    missing: MissingRead,
    /// Answers to REST writes that changed what listings show, until the head is stored.
    held: HeldAnswers<(RestReply, WriteOutcome)>,
    /// Writes handed to the process winning this dialogue's numbers, and handed from others.
    handoffs: handoff::Handoffs,
    /// Until when the dialogue is watched for webhooks (when its project has hooks).
    watch: WatchLease,
}

/// A read of revisions this process missed (`recovery.rs`, `read_missing`).
#[derive(Debug, Default)]
struct MissingRead {
    /// Whether one is in flight.
    reading: bool,
    /// Whether it was asked for again meanwhile (read once more after it).
    again: bool,
    /// Refusals and `unchanged` answers to handed-over writes that came during it: they are
    /// handled after what it finds, which the refusing process stored before them.
    held_answers: Vec<crate::store::HandoffRecord>,
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
            missing: MissingRead::default(),
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
            (Loaded::Loading, _) => Err(ApiError::Busy),
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

    /// The `welcome` frame (and catch-up frames) for a joining session. With `since` served,
    /// the welcome names revision `since` (whose id the log must still hold) and the revisions
    /// after it follow, so that the numbers a session sees rise by one from its first frame.
    fn welcome(&mut self, join: &Join) -> Vec<Frame> {
        let Some(head) = self.head() else { return Vec::new() };
        let newest = RevisionRef { number: head.revision_number(), id: head.revision_id().map(str::to_owned) };
        let catch_up = join.since.filter(|since| *since <= newest.number).and_then(|since| {
            let start = match since {
                0 => None,
                _ if since == newest.number => newest.id.clone(),
                _ => Some(self.log.id_of(since)?.to_owned()),
            };
            let missing = self.log.catch_up(since, newest.number)?;
            (missing.len() + 2 < join.link.frames.capacity())
                .then_some((RevisionRef { number: since, id: start }, missing))
        });
        let dialogue = catch_up
            .is_none()
            .then(|| description::describe_json(&head, Access { can_view: true, can_edit: join.can_edit }));
        let head_revision = newest.number;
        let (revision, missing) = catch_up.unwrap_or((newest, Vec::new()));
        let welcome = Welcome {
            session_id: join.link.session_id.clone(),
            user: join.link.user.clone(),
            can_edit: join.can_edit,
            revision,
            head_revision,
            dialogue: None,
            peers: self.subscribers.peers(),
        };
        let mut frames = vec![protocol::welcome(&welcome, dialogue.as_deref())];
        frames.extend(missing.iter().map(|revision| protocol::revision(&revision.describe())));
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
            actor.expire_handoffs(ctx);
            // Once this process stopped following another, and every batch that could name it
            // has landed, it reads the store once: a push lost with a process that died, with
            // no revision after it to show the gap, would otherwise wait for the next write.
            if actor.handoffs.stopped_following(Instant::now(), actor.push_settle()) {
                actor.read_missing(ctx);
            }
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
